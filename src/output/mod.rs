//! How results are shown: JSON for scripts (`json`), aligned text, coloured on a terminal, for
//! people (`table` and the helpers here), and the one place a failed write becomes an error.
//! Uses socket's and repair's types; text from outside goes through support::text.

use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};

use serde::Serialize;

use crate::platform::Link;
use crate::repair::Repair;
use crate::socket::report::{SocketReport, State};
use crate::support::durations;
use crate::support::environment::NO_COLOR;
use crate::support::text::escape;

pub mod json;
mod table;

pub use table::socket_table;

pub use json::JSON_SCHEMA;

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

/// Prints one JSON object and a newline, in as few writes as it fits in.
pub fn print_json(value: &impl Serialize) -> io::Result<()> {
    let mut stdout = Report::stdout();
    serde_json::to_writer(&mut stdout, value)?;
    writeln!(stdout)?;
    stdout.flush()
}

/// Standard output for a report made all at once: to a file or a pipe, one write for many
/// lines (std writes stdout a line, or a KiB, at a time); to a terminal, line by line as std
/// does. Its caller flushes it, so that a failed write is not lost.
pub enum Report {
    Terminal(io::StdoutLock<'static>),
    Buffered(io::BufWriter<io::StdoutLock<'static>>),
}

/// What a buffered report writes at a time.
const REPORT_BUFFER: usize = 64 * 1024;

impl Report {
    pub fn stdout() -> Report {
        let stdout = io::stdout();
        if stdout.is_terminal() {
            Report::Terminal(stdout.lock())
        } else {
            Report::Buffered(io::BufWriter::with_capacity(REPORT_BUFFER, stdout.lock()))
        }
    }
}

impl Write for Report {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Report::Terminal(out) => out.write(bytes),
            Report::Buffered(out) => out.write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Report::Terminal(out) => out.flush(),
            Report::Buffered(out) => out.flush(),
        }
    }
}

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
            format!("{} ({})", alias.shown(), destination.shown())
        }
        (Some(known), None, _) | (None, Some(known), _) => known.shown().into_owned(),
        (None, None, Some(Link::Tcp(tcp))) => tcp.peer.to_string(),
        (None, None, _) => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(age(None), "-");
        assert_eq!(age(Some(600)), "10m");
    }
}
