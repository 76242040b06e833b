//! `muxguard ssh`: `check --fix` for the destination, then the real ssh in muxguard's place.
//! It fails open: whatever goes wrong in the check, ssh runs with the same arguments.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::panic::{self, AssertUnwindSafe};
use std::process::Command;

use clap::CommandFactory;

use crate::cli::{Cli, SshArgs};
use crate::engine::examine;
use crate::error::{Error, ExitCode, Result};
use crate::link::handover::{self, Carrier};
use crate::link::probe::ProbeMode;
use crate::openssh::args::SshOptions;
use crate::openssh::ssh;
use crate::output;
use crate::platform::{self, Link};
use crate::repair::Action;
use crate::socket::report::State;
use crate::support::deadline::Deadline;
use crate::support::environment;
use crate::support::text;
use crate::support::watchdog;

pub fn run(args: SshArgs, deadline: Deadline) -> Result<ExitCode> {
    // ssh itself takes no --help, so this one can only be asking about muxguard ssh.
    if args.ssh_args.first().is_some_and(|arg| arg == "--help") {
        return help();
    }
    let real_ssh = ssh::find_real_ssh()?;
    // From here on, whatever stops muxguard (its watchdog included) runs ssh instead.
    watchdog::run_ssh_instead(&real_ssh, &args.ssh_args);
    let disabled = environment::DISABLE
        .read()
        .is_some_and(|value| value == "1");
    // ssh -G, -V, -Q and -O open no session through the master (git runs `-G` to learn what
    // ssh this is; `-O` addresses the master itself): nothing to repair. A command line ssh
    // cannot read is ssh's to refuse.
    let opens_a_session =
        SshOptions::parse(&args.ssh_args).is_some_and(|options| !options.opens_no_session());
    let mut route = Route::ThroughTheMaster;
    let mut carrier = None;
    if !disabled && opens_a_session {
        // A panic in the check must not keep ssh from running.
        if let Ok((chosen, carrying)) =
            panic::catch_unwind(AssertUnwindSafe(|| repair(&args.ssh_args, deadline)))
        {
            route = chosen;
            carrier = carrying;
        }
    }
    watchdog::disarm();
    if let Some(carrier) = carrier.filter(|_| route == Route::ThroughTheMaster) {
        handover::watch(&carrier);
    }
    Err(exec_ssh(&real_ssh, route, &args.ssh_args))
}

/// The master whose TCP flow will carry the session: the destination's own; or, where it has
/// none of its own (a jump host carries it) or there is no live master, the last hop's. Behind
/// a hop ssh has no fallback, but ends instead of hanging.
fn carrier_of(examined: &examine::Examined) -> Option<Carrier> {
    let live = |socket: &examine::Examined| {
        let report = &socket.report;
        report.state == State::Live
            && socket.repair.is_none()
            && report.path.is_some()
            && report.pid.is_some()
    };
    // Read for every live master as it was examined.
    let own_flow = |socket: &examine::Examined| matches!(socket.report.link, Some(Link::Tcp(_)));
    // A master a jump host's carries (`via`) has no flow of its own: its carrier's is it.
    let carrier = |hop: &&examine::Examined| match &examined.report.via {
        Some(via) => hop.report.path.as_ref() == Some(via),
        None => true,
    };
    let chosen = Some(examined)
        .filter(|destination| live(destination) && destination.report.via.is_none())
        .filter(|destination| own_flow(destination))
        .or_else(|| {
            examined
                .hops
                .iter()
                .rev()
                .find(carrier)
                .filter(|hop| live(hop))
        })?;
    let (path, pid) = (chosen.report.path.clone()?, chosen.report.pid?);
    let started = platform::process(pid)?.started;
    Some(Carrier {
        path,
        pid,
        started,
        flow: chosen.report.flow_holder.unwrap_or(pid),
        falls_back: live(examined),
    })
}

/// `muxguard ssh` whose command line muxguard could not read (a bad MUXGUARD_TIMEOUT, say):
/// ssh runs with its arguments all the same.
pub fn run_unchecked(ssh_args: &[OsString]) -> Result<ExitCode> {
    let real_ssh = ssh::find_real_ssh()?;
    watchdog::disarm();
    Err(exec_ssh(&real_ssh, Route::ThroughTheMaster, ssh_args))
}

/// Replaces muxguard with the real ssh; returns only if that failed. Nothing was written to
/// stdout before: rsync, git and scp speak their protocol there.
fn exec_ssh(real_ssh: &std::path::Path, route: Route, ssh_args: &[OsString]) -> Error {
    let mut command = Command::new(real_ssh);
    command.arg0("ssh");
    if route == Route::AroundTheMaster {
        // Before the user's arguments, so that an -S of theirs still wins.
        command.args(["-o", "ControlPath=none"]);
    }
    let error = command.args(ssh_args).exec();
    Error::Failed(format!("cannot run {}: {error}", real_ssh.display()))
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
/// around it instead (a jump host's is left to its user: ssh cannot go around it).
fn repair(ssh_args: &[OsString], deadline: Deadline) -> (Route, Option<Carrier>) {
    let mode = ProbeMode::from_env().unwrap_or_default();
    let Ok(mut examined) = examine::examine(None, ssh_args, mode, false, deadline) else {
        return (Route::ThroughTheMaster, None);
    };
    for hop in &mut examined.hops {
        if let Some(master) = hop.report.suspended_in_a_terminal() {
            output::warn(&format!(
                "hung {}: the jump host's master pid {master} is suspended in a terminal (fg it there)",
                shown_path(hop),
            ));
            continue;
        }
        repair_one(hop, deadline);
    }
    if let Some(master) = examined.report.suspended_in_a_terminal() {
        output::warn(&format!(
            "hung {}: master pid {master} is suspended in a terminal (fg it there); \
             connecting without it",
            shown_path(&examined),
        ));
        return (Route::AroundTheMaster, None);
    }
    repair_one(&mut examined, deadline);
    (Route::ThroughTheMaster, carrier_of(&examined))
}

/// `--fix` for one socket, said in one line when something was done.
fn repair_one(examined: &mut examine::Examined, deadline: Deadline) {
    examined.fix_socket(deadline);
    if matches!(examined.action(), Action::Removed | Action::Reset) {
        let what = output::detail(&examined.report, examined.repair.as_ref());
        let state = examined.report.state.as_str();
        output::warn(&format!("{state} {}: {what}", shown_path(examined)));
    }
}

fn shown_path(examined: &examine::Examined) -> String {
    examined
        .report
        .path
        .as_deref()
        .map(|path| text::path(path).into_owned())
        .unwrap_or_default()
}
