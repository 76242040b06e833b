//! `muxguard completions SHELL`: generated from the same clap definitions as the parser.

use std::io::{self, Write};

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, Shell};
use crate::error::{ExitCode, Result};
use crate::output;

pub fn run(args: CompletionsArgs) -> Result<ExitCode> {
    let generator = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    // Into memory first: clap_complete panics when it cannot write (`>/dev/full`).
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut Cli::command(), "muxguard", &mut script);
    output::written(io::stdout().lock().write_all(&script))?;
    Ok(ExitCode::Success)
}
