//! One module per subcommand.

pub mod check;
pub mod clean;
pub mod completions;
pub mod reset;
pub mod status;
