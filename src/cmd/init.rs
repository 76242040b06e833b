//! `muxguard init SHELL`: the shell integration, embedded from shell/ so that sourcing those
//! files directly and evaluating this output are the same thing.

use std::io::{self, Write};

use crate::cli::{InitArgs, Shell};
use crate::error::{ExitCode, Result};
use crate::output;

pub const BASH: &str = include_str!("../../shell/muxguard.bash");
pub const ZSH: &str = include_str!("../../shell/muxguard.zsh");
pub const FISH: &str = include_str!("../../shell/muxguard.fish");

pub fn run(args: InitArgs) -> Result<ExitCode> {
    let script = match args.shell {
        Shell::Bash => BASH,
        Shell::Zsh => ZSH,
        Shell::Fish => FISH,
    };
    output::written(io::stdout().lock().write_all(script.as_bytes()))?;
    Ok(ExitCode::Success)
}
