//! How results are shown: JSON for scripts, aligned text (coloured on a terminal) for people.

use std::io::{self, IsTerminal, Write};

use serde::Serialize;

use crate::classify::{SocketReport, State};

pub const SCHEMA: u32 = 1;

/// Maps the result of writing the output: a reader that went away (`muxguard status | head`)
/// is not an error.
pub fn written(result: io::Result<()>) -> crate::error::Result<()> {
    match result {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => Err(
            crate::error::Error::Failed(format!("cannot write the output: {error}")),
        ),
        _ => Ok(()),
    }
}

/// Prints one JSON object and a newline.
pub fn print_json(value: &impl Serialize) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    serde_json::to_writer(&mut stdout, value)?;
    writeln!(stdout)
}

pub struct Style {
    color: bool,
}

impl Style {
    /// Colour only on a terminal, and never when NO_COLOR is set (no-color.org).
    pub fn for_stdout() -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
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

/// `42s`, `12m`, `5h`, `3d`.
pub fn age(seconds: Option<u64>) -> String {
    match seconds {
        None => "-".into(),
        Some(s) if s < 60 => format!("{s}s"),
        Some(s) if s < 3600 => format!("{}m", s / 60),
        Some(s) if s < 86400 => format!("{}h", s / 3600),
        Some(s) => format!("{}d", s / 86400),
    }
}

/// `alias (user@host:port)`, or whichever of the two is known.
pub fn destination(report: &SocketReport) -> String {
    match (&report.alias, &report.destination) {
        (Some(alias), Some(destination)) => format!("{alias} ({destination})"),
        (Some(known), None) | (None, Some(known)) => known.clone(),
        (None, None) => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(age(None), "-");
        assert_eq!(age(Some(5)), "5s");
        assert_eq!(age(Some(600)), "10m");
        assert_eq!(age(Some(7200)), "2h");
        assert_eq!(age(Some(3 * 86400 + 5)), "3d");
    }
}
