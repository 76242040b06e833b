//! `muxguard ssh`: `check --fix` for the destination, then the real ssh in muxguard's place.
//! It fails open: whatever goes wrong in the check, ssh runs with the same arguments.

use std::os::unix::process::CommandExt;
use std::panic::{self, AssertUnwindSafe};
use std::process::Command;
use std::time::Duration;

use clap::CommandFactory;

use crate::classify::State;
use crate::cli::{Cli, SshArgs};
use crate::cmd::check;
use crate::error::{Error, ExitCode, Result};
use crate::output;
use crate::probe::ProbeMode;
use crate::procs::Process;
use crate::repair::Action;
use crate::ssh;

pub fn run(args: SshArgs, timeout: Duration) -> Result<ExitCode> {
    // ssh itself takes no --help, so this one can only be asking about muxguard ssh.
    if args.ssh_args.first().is_some_and(|arg| arg == "--help") {
        return help();
    }
    let real_ssh = ssh::find_real_ssh()?;
    let disabled = std::env::var_os("MUXGUARD_DISABLE").is_some_and(|value| value == "1");
    let mut route = Route::ThroughTheMaster;
    if !disabled {
        // A panic in the check must not keep ssh from running.
        if let Ok(chosen) =
            panic::catch_unwind(AssertUnwindSafe(|| repair(&args.ssh_args, timeout)))
        {
            route = chosen;
        }
    }
    let mut command = Command::new(&real_ssh);
    command.arg0("ssh");
    if route == Route::AroundTheMaster {
        // Before the user's arguments, so that an -S of theirs still wins.
        command.args(["-o", "ControlPath=none"]);
    }
    // exec only returns on failure. Nothing was written to stdout before it: rsync, git and
    // scp speak their protocol there.
    let error = command.args(&args.ssh_args).exec();
    Err(Error::Failed(format!(
        "cannot run {}: {error}",
        real_ssh.display()
    )))
}

fn help() -> Result<ExitCode> {
    let mut command = Cli::command();
    command.build();
    let ssh = command
        .find_subcommand_mut("ssh")
        .expect("cli.rs defines the ssh subcommand");
    output::written(ssh.print_long_help())?;
    Ok(ExitCode::Success)
}

/// How ssh is to connect after the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// As the user's config says: through the master, or as a new one.
    ThroughTheMaster,
    /// Without connection sharing, leaving the master alone.
    AroundTheMaster,
}

/// `check --fix`, saying on stderr only what it repaired. Errors (arguments ssh -G does not
/// take, a bad MUXGUARD_PROBE) are ssh's to report, so they are dropped here.
///
/// One broken master is not ended: a session suspended in a terminal (Ctrl-Z on a foreground
/// `ssh host` that became the master). Its user means to resume it with `fg`, so this ssh goes
/// around it instead.
fn repair(ssh_args: &[String], timeout: Duration) -> Route {
    let mode = ProbeMode::from_env().unwrap_or(ProbeMode::Auto);
    let Ok(mut outcome) = check::examine(None, ssh_args, mode, false, timeout) else {
        return Route::ThroughTheMaster;
    };
    let path = outcome
        .report
        .path
        .as_deref()
        .map(|path| path.display().to_string())
        .unwrap_or_default();
    let suspended = match (outcome.report.state, outcome.report.pid) {
        (State::Hung, Some(pid)) => Process::read(pid).filter(Process::is_suspended_in_a_terminal),
        _ => None,
    };
    if let Some(master) = suspended {
        eprintln!(
            "muxguard: hung {path}: master pid {} is suspended in a terminal (fg it there); \
             connecting without it",
            master.pid
        );
        return Route::AroundTheMaster;
    }
    outcome.fix();
    if matches!(outcome.action, Action::Removed | Action::Reset) {
        let what = outcome.report.detail.unwrap_or_default();
        eprintln!("muxguard: {} {path}: {what}", outcome.report.state.as_str());
    }
    Route::ThroughTheMaster
}
