//! The two ways a command can fail, and the exit codes they map to.

use std::ffi::OsString;
use std::fmt;

use clap::CommandFactory;

use crate::cli::Cli;

/// Process exit codes, as the contract defines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Success = 0,
    /// `check`: the socket is broken and was not repaired; others: something could not be done.
    Failure = 1,
    /// Bad arguments or an unusable environment (no ssh, `ssh -G` failed).
    Usage = 2,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

#[derive(Debug)]
pub enum Error {
    /// Usage or environment error: exit 2.
    Usage(String),
    /// Something could not be done: exit 1.
    Failed(String),
}

impl Error {
    /// What clap refused, in one line (clap's own message takes five: the error, the usage and
    /// a tip), naming the help to read.
    pub fn from_clap(error: &clap::Error, args: &[OsString]) -> Error {
        let rendered = error.render().to_string();
        // The first paragraph: the error, and what it lists (the arguments missing).
        let paragraph: Vec<&str> = rendered
            .lines()
            .map(str::trim)
            .skip_while(|line| line.is_empty())
            .take_while(|line| !line.is_empty())
            .collect();
        let message = match error.kind() {
            clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                "a command is needed".to_string()
            }
            _ => paragraph.join(" "),
        };
        let message = message.strip_prefix("error: ").unwrap_or(&message);
        let command = Cli::command();
        // The subcommand the user meant: the first argument that names one.
        let subcommand = args.iter().skip(1).find_map(|arg| {
            command
                .get_subcommands()
                .find(|sub| !sub.is_hide_set() && arg.as_os_str() == sub.get_name())
        });
        let help = match subcommand {
            Some(sub) => format!("muxguard {} --help", sub.get_name()),
            None => "muxguard --help".to_string(),
        };
        Error::Usage(format!("{message}; see '{help}'"))
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) => ExitCode::Usage,
            Error::Failed(_) => ExitCode::Failure,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(message) | Error::Failed(message) => f.write_str(message),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
