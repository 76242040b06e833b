//! How results are shown: JSON for scripts, aligned text (coloured on a terminal) for people.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde::Serialize;

use crate::platform::Link;
use crate::repair::Repair;
use crate::socket::classify::{SocketReport, State};
use crate::support::durations;
use crate::support::environment::Variable;

pub mod json;

pub use json::SCHEMA;

/// Maps the result of writing the output, for every command in this one place: a reader that
/// went away (`muxguard status | head`, `| true`) is not an error, and the command's exit code
/// stands; any other failure (`>/dev/full`) is one line and exit 1.
pub fn written(result: io::Result<()>) -> crate::error::Result<()> {
    match result {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => Err(
            crate::error::Error::Failed(format!("cannot write the output: {error}")),
        ),
        _ => Ok(()),
    }
}

/// Writes one line to stdout, for commands that print as they go.
pub fn line(text: &str) -> crate::error::Result<()> {
    written(writeln!(io::stdout().lock(), "{text}"))
}

/// Says one line on stderr, prefixed `muxguard: `. A stderr that cannot be written to (closed,
/// full) loses the line rather than failing the command.
pub fn warn(message: &str) {
    // Escaped here, once for every message: names and errors from outside end up in them.
    let _ = writeln!(io::stderr().lock(), "muxguard: {}", escape(message));
}

/// Text from outside (file names, process names, what a listener said) as it may reach a
/// terminal: control characters escaped, so that none of them can move the cursor, change
/// colours or retitle the window.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(escaped, "{}", c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// Bytes that may not be text (a path, an ssh argument): what is text is `escape`d, and every
/// other byte is shown as `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return escape(text);
    }
    let mut shown = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        shown.push_str(&escape(chunk.valid()));
        for byte in chunk.invalid() {
            let _ = write!(shown, "\\x{byte:02x}");
        }
    }
    Cow::Owned(shown)
}

/// A path as text output shows it (JSON shows paths as they are: it escapes by itself).
pub fn path(path: &Path) -> Cow<'_, str> {
    escape_bytes(path.as_os_str().as_bytes())
}

/// Prints one JSON object and a newline.
pub fn print_json(value: &impl Serialize) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    serde_json::to_writer(&mut stdout, value)?;
    writeln!(stdout)
}

pub const NO_COLOR: Variable = Variable {
    name: "NO_COLOR",
    meaning: "Set and not empty: no colour, even on a terminal.",
};

pub struct Style {
    color: bool,
}

impl Style {
    /// Colour only on a terminal, and never when NO_COLOR is set (no-color.org).
    pub fn for_stdout() -> Style {
        let no_color = NO_COLOR.read().is_some_and(|value| !value.is_empty());
        Style {
            color: io::stdout().is_terminal() && !no_color,
        }
    }

    /// The state's name, padded to `width`, coloured by how bad it is.
    pub fn state(&self, state: State, width: usize) -> String {
        let text = format!("{:width$}", state.as_str());
        if !self.color {
            return text;
        }
        let code = match state {
            State::Live => "32",                                      // green
            State::Absent | State::Disabled => "2",                   // dim
            State::Stale => "33",                                     // yellow
            State::Hung | State::Unreachable | State::Orphan => "31", // red
            State::Foreign => "35",                                   // magenta
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    pub fn dim(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[2m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// A socket's age for the table: `42s`, `12m`, `5h`, `3d`, or `-` when unknown.
pub fn age(seconds: Option<u64>) -> String {
    seconds.map_or("-".into(), durations::short)
}

/// Why the socket is in its state, and what a repair did about it, in words.
pub fn detail<'a>(socket: &'a SocketReport, repair: Option<&Repair>) -> Cow<'a, str> {
    match repair {
        Some(repair) => Cow::Owned(format!("{}; {}", socket.detail, repair.said)),
        None => Cow::Borrowed(&socket.detail),
    }
}

/// `alias (user@host:port)`, or whichever of the two is known, escaped for a terminal; for a
/// master nothing named, the server's address it is connected to.
pub fn destination(report: &SocketReport) -> String {
    match (&report.alias, &report.destination, &report.link) {
        (Some(alias), Some(destination), _) => {
            format!("{} ({})", escape(alias), escape(destination))
        }
        (Some(known), None, _) | (None, Some(known), _) => escape(known).into_owned(),
        (None, None, Some(Link::Tcp(tcp))) => tcp.peer.to_string(),
        (None, None, _) => "-".into(),
    }
}

/// The table of sockets `status` prints: state, pid, age, destination, path and the reason in
/// words, aligned, coloured on a terminal.
pub fn socket_table(sockets: &[SocketReport]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    if sockets.is_empty() {
        return writeln!(out, "No control sockets found.");
    }
    let style = Style::for_stdout();
    let rows: Vec<[String; 4]> = sockets
        .iter()
        .map(|socket| {
            [
                socket.pid.map_or("-".into(), |pid| pid.to_string()),
                age(socket.age_s),
                destination(socket),
                socket
                    .path
                    .as_deref()
                    .map_or("-".into(), |socket_path| path(socket_path).into_owned()),
            ]
        })
        .collect();
    let headers = ["PID", "AGE", "DESTINATION", "PATH"];
    let widths: Vec<usize> = (0..3)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .chain([headers[column].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let state_width = "unreachable".len();
    let line = |state: String, row: [&str; 4]| {
        let [w0, w1, w2] = [widths[0], widths[1], widths[2]];
        format!(
            "{state}  {:>w0$}  {:>w1$}  {:w2$}  {}",
            row[0], row[1], row[2], row[3]
        )
    };
    let header = line(format!("{:state_width$}", "STATE"), headers);
    writeln!(out, "{}", style.dim(&header))?;
    for (socket, row) in sockets.iter().zip(&rows) {
        let state = style.state(socket.state, state_width);
        let detail = style.dim(&format!("({})", escape(&socket.detail)));
        writeln!(
            out,
            "{}  {detail}",
            line(state, row.each_ref().map(String::as_str))
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_would_obey() {
        assert_eq!(escape("plain/path-%C"), "plain/path-%C");
        assert_eq!(escape("a\x1b[2Jb\n"), "a\\u{1b}[2Jb\\n");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape_bytes(b"ok\xff\x07"), "ok\\xff\\u{7}");
        assert_eq!(path(Path::new("/tmp/é")), "/tmp/é");
    }

    #[test]
    fn ages() {
        assert_eq!(age(None), "-");
        assert_eq!(age(Some(600)), "10m");
    }
}
