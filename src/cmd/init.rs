//! `muxguard init SHELL`: prints the shell integration (see hooks.rs).

use std::io::{self, Write};

use crate::cli::{InitArgs, Shell};
use crate::error::{ExitCode, Result};
use crate::hooks;
use crate::output;

pub fn run(args: InitArgs) -> Result<ExitCode> {
    let script = match args.shell {
        Shell::Bash => hooks::BASH,
        Shell::Zsh => hooks::ZSH,
        Shell::Fish => hooks::FISH,
    };
    output::written(io::stdout().lock().write_all(script.as_bytes()))?;
    Ok(ExitCode::Success)
}
