//! One thin module per subcommand: it turns the parsed arguments into calls of the engine (or
//! of openssh, for doctor) and prints the result through output. No command calls another's
//! internals.

pub mod check;
pub mod clean;
pub mod completions;
pub mod doctor;
pub mod init;
pub mod man;
pub mod reset;
pub mod ssh;
pub mod status;
pub mod watch;
