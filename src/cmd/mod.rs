//! One module per subcommand.

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
