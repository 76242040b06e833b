//! Parses, dispatches, and maps errors to exit codes; nothing else.

use clap::Parser;

use muxguard::cli::{self, Cli, Command};
use muxguard::cmd;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse_from(cli::arguments());
    let result = match cli.command {
        Command::Check(args) => cmd::check::run(args, cli.timeout),
        Command::Status(args) => cmd::status::run(args, cli.timeout),
        Command::Clean(args) => cmd::clean::run(args, cli.timeout),
        Command::Reset(args) => cmd::reset::run(args, cli.timeout),
        Command::Ssh(args) => cmd::ssh::run(args, cli.timeout),
        Command::Doctor(args) => cmd::doctor::run(args, cli.timeout),
        Command::Init(args) => cmd::init::run(args),
        Command::Completions(args) => cmd::completions::run(args),
        Command::Man(args) => cmd::man::run(args),
    };
    match result {
        Ok(code) => code.into(),
        Err(error) => {
            eprintln!("muxguard: {error}");
            error.exit_code().into()
        }
    }
}
