//! `muxguard init SHELL`: prints the shell integration (see hooks.rs).

use std::io::{self, Write};

use crate::cli::{InitArgs, Shell};
use crate::error::{ExitCode, Result};
use crate::output;
use crate::shell;

pub fn run(args: InitArgs) -> Result<ExitCode> {
    let script = match args.shell {
        Shell::Bash => shell::BASH,
        Shell::Zsh => shell::ZSH,
        Shell::Fish => shell::FISH,
    };
    output::written(io::stdout().lock().write_all(script.as_bytes()))?;
    Ok(ExitCode::Success)
}
