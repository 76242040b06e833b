//! `muxguard completions SHELL`: generated from the same clap definitions as the parser.

use std::io;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, Shell};
use crate::error::{ExitCode, Result};

pub fn run(args: CompletionsArgs) -> Result<ExitCode> {
    let generator = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(
        generator,
        &mut Cli::command(),
        "muxguard",
        &mut io::stdout(),
    );
    Ok(ExitCode::Success)
}
