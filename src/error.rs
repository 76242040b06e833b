//! The two ways a command can fail, and the exit codes they map to.

use std::fmt;

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
