//! How a command can fail, and the exit codes that maps to.

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

/// What the exit codes mean, in the words of `--help`, the man page and the README's table (a
/// test holds it to them): for every command, and for the two that give 0 and 1 a sense of
/// their own. `muxguard ssh` exits with ssh's status.
pub struct ExitMeanings {
    /// The commands these meanings are for.
    pub commands: &'static str,
    pub success: &'static str,
    pub failure: &'static str,
    pub usage: &'static str,
}

const USAGE_MEANING: &str = "usage or environment error, said in one line on stderr";

pub const EXIT_CODES: ExitMeanings = ExitMeanings {
    commands: "every command",
    success: "success",
    failure: "something is broken or could not be done",
    usage: USAGE_MEANING,
};

pub const CHECK_EXIT_CODES: ExitMeanings = ExitMeanings {
    commands: "check",
    success: "ssh can go ahead now (live, absent, disabled, or repaired by --fix)",
    failure: "the socket is broken and was not repaired",
    usage: "usage or environment error (bad arguments, ssh -G failed, ssh not found)",
};

pub const DOCTOR_EXIT_CODES: ExitMeanings = ExitMeanings {
    commands: "doctor",
    success: "no problems found",
    failure: "there are findings",
    usage: USAGE_MEANING,
};

pub const WATCH_EXIT_CODES: ExitMeanings = ExitMeanings {
    commands: "watch",
    success: "stopped by SIGTERM or SIGINT, or its --json reader went away",
    failure: "another watcher of yours is running, or the network cannot be watched",
    usage: USAGE_MEANING,
};

impl ExitMeanings {
    pub fn of(&self, code: ExitCode) -> &'static str {
        match code {
            ExitCode::Success => self.success,
            ExitCode::Failure => self.failure,
            ExitCode::Usage => self.usage,
        }
    }

    /// `Exit codes: 0 …, 1 …, 2 ….`
    pub fn sentence(&self) -> String {
        let codes: Vec<String> = ExitCode::ALL
            .iter()
            .map(|&code| format!("{} {}", code as u8, self.of(code)))
            .collect();
        format!("Exit codes: {}.", codes.join(", "))
    }
}

impl ExitCode {
    pub const ALL: [ExitCode; 3] = [ExitCode::Success, ExitCode::Failure, ExitCode::Usage];
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

/// A command's failure, said in one line (the message names what to do where it can).
#[derive(Debug)]
pub enum Error {
    /// Bad arguments, or a bad value of an environment variable: exit 2.
    Usage(String),
    /// What muxguard needs from the machine is missing or refuses: no ssh, `ssh -G` failed, an
    /// ssh config that cannot be read: exit 2.
    Environment(String),
    /// Not available on this platform (no table of listening sockets here): exit 2.
    Unsupported(String),
    /// Something could not be done: exit 1.
    Failed(String),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) | Error::Environment(_) | Error::Unsupported(_) => ExitCode::Usage,
            Error::Failed(_) => ExitCode::Failure,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(message)
            | Error::Environment(message)
            | Error::Unsupported(message)
            | Error::Failed(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
