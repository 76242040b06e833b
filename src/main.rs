//! Parses, dispatches, and maps errors to exit codes; nothing else.

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

use muxguard::cli::{self, Cli, Command};
use muxguard::cmd;
use muxguard::error::{Error, ExitCode, Result};
use muxguard::output;
use muxguard::support::deadline::Deadline;
use muxguard::support::watchdog;

fn main() -> std::process::ExitCode {
    // A bug is one line too, not a backtrace; `muxguard ssh` still runs ssh after it.
    std::panic::set_hook(Box::new(|panic| {
        output::warn(&format!("internal error, please report it: {panic}"));
    }));
    let args = cli::arguments();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => return finish(refused(error, &args)),
    };
    // A watcher runs until it is stopped: each of its rounds has a watchdog of its own.
    if !matches!(cli.command, Command::Watch(_)) {
        watchdog::arm(cli.timeout + watchdog::WATCHDOG_GRACE, "--timeout");
    }
    let deadline = Deadline::after(cli.timeout);
    finish(match cli.command {
        Command::Check(args) => cmd::check::run(args, deadline),
        Command::Status(args) => cmd::status::run(args, deadline),
        Command::Clean(args) => cmd::clean::run(args, deadline),
        Command::Reset(args) => cmd::reset::run(args, deadline),
        Command::Ssh(args) => cmd::ssh::run(args, deadline),
        Command::Doctor(args) => cmd::doctor::run(args, deadline),
        Command::Init(args) => cmd::init::run(args),
        Command::Completions(args) => cmd::completions::run(args),
        Command::Man(args) => cmd::man::run(args),
        Command::Watch(args) => cmd::watch::run(args, cli.timeout),
    })
}

/// A command line clap refused, or help and version that it prints. `muxguard ssh` runs ssh
/// all the same: it fails open.
fn refused(error: clap::Error, args: &[OsString]) -> Result<ExitCode> {
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        output::written(error.print())?;
        return Ok(ExitCode::Success);
    }
    if let Some(ssh_args) = cli::ssh_arguments(args) {
        return cmd::ssh::run_unchecked(ssh_args);
    }
    Err(usage_error(&error, args))
}

/// What clap refused, in one line (clap's own message takes five: the error, the usage and a
/// tip), naming the help to read.
fn usage_error(error: &clap::Error, args: &[OsString]) -> Error {
    let rendered = error.render().to_string();
    // The first paragraph: the error, and what it lists (the arguments missing).
    let paragraph: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .skip_while(|line| line.is_empty())
        .take_while(|line| !line.is_empty())
        .collect();
    let message = match error.kind() {
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => "a command is needed".to_string(),
        _ => paragraph.join(" "),
    };
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    let command = Cli::command();
    // The subcommand the user meant: the first argument that names one.
    let help = match args.iter().skip(1).find_map(|arg| {
        command
            .get_subcommands()
            .find(|sub| !sub.is_hide_set() && arg.as_os_str() == sub.get_name())
    }) {
        Some(sub) => format!("muxguard {} --help", sub.get_name()),
        None => "muxguard --help".to_string(),
    };
    Error::Usage(format!("{message}; see '{help}'"))
}

fn finish(result: Result<ExitCode>) -> std::process::ExitCode {
    match result {
        Ok(code) => code.into(),
        Err(error) => {
            output::warn(&error.to_string());
            error.exit_code().into()
        }
    }
}
