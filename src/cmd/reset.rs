//! `muxguard reset`: ends a master so that the next ssh builds a fresh one.

use std::borrow::Cow;
use std::ffi::OsString;
use std::path::PathBuf;

use nix::unistd::Uid;

use crate::cli::ResetArgs;
use crate::engine::survey;
use crate::error::{ExitCode, Result};
use crate::openssh::ssh;
use crate::output::{self, Style, json};
use crate::platform::process::Owner;
use crate::repair::master::Ending;
use crate::repair::{self, Action, Repair};
use crate::socket::report::{Outcome, Reason, SocketReport, State};
use crate::state::Record;
use crate::support::deadline::Deadline;
use crate::support::text;

/// `deadline` bounds the whole command: resolving the destination, then every master at once.
pub fn run(args: ResetArgs, deadline: Deadline) -> Result<ExitCode> {
    let how = if args.kill {
        Ending::Terminate
    } else {
        Ending::StopListening
    };
    // Root acts on other users' masters only at a path it names.
    let owner = if args.path.is_some() && Uid::effective().is_root() {
        Owner::Any
    } else {
        Owner::Own
    };
    let targets: Vec<SocketReport> = if args.all {
        survey::survey(args.config.as_deref(), &args.dirs)?
            .into_iter()
            .filter(|socket| socket.state.has_master())
            .collect()
    } else {
        let path = match &args.path {
            Some(path) => Some(path.clone()),
            None => control_path(&args, deadline)?,
        };
        match path {
            Some(path) => survey::at_path(&path, owner)?,
            None => vec![SocketReport::new(
                None,
                Reason::ControlPathNone,
                "connection sharing is off (ControlPath none)",
            )],
        }
    };

    // All at once: none of them waits past the deadline.
    let reset = repair::in_parallel(targets, repair::waits, |target| {
        reset_one(target, how, owner, deadline)
    });
    let failed = reset
        .iter()
        .any(|(_, repair)| repair.as_ref().is_some_and(|repair| !repair.cleared()));

    // Said in the targets' order, whichever ended first.
    if args.json {
        output::written(json::print_sockets(
            reset
                .iter()
                .map(|(target, repair)| {
                    let action = repair.as_ref().map_or(Action::None, |repair| repair.action);
                    json::SocketJson::acted_on(target, action, repair.as_ref())
                })
                .collect(),
        ))?;
    } else {
        for (target, repair) in &reset {
            say(target, repair.as_ref())?;
        }
    }
    Ok(if failed {
        ExitCode::Failure
    } else {
        ExitCode::Success
    })
}

/// Does what `target`'s state calls for; `None` when there is nothing to do.
fn reset_one(
    target: &SocketReport,
    how: Ending,
    owner: Owner,
    deadline: Deadline,
) -> Option<Repair> {
    match target.state {
        State::Live | State::Hung | State::Unreachable | State::Orphan => {
            Some(repair::end_master(target, how, owner, deadline))
        }
        // Removed if stale; never touched if foreign.
        State::Stale | State::Foreign => Some(repair::repair(target, deadline)),
        State::Absent | State::Disabled => None,
    }
}

/// One line: what was done on stdout, or on stderr why it could not be.
fn say(target: &SocketReport, repair: Option<&Repair>) -> Result<()> {
    let path = target.path.as_deref().map(text::path);
    let done = match repair {
        // Absent, or sharing off: nothing to do.
        None if target.state == State::Disabled => format!("{}: no master", target.detail),
        None => "no master to reset".to_string(),
        Some(repair) if !repair.cleared() => {
            let what = match repair.outcome {
                Outcome::NotTouched => format!("{} ({})", repair.said, target.detail),
                _ => repair.said.clone(),
            };
            let path = path.unwrap_or_default();
            output::warn(&format!("cannot reset {path}: {what}"));
            return Ok(());
        }
        Some(repair) => match (target.state, repair.outcome) {
            (State::Stale, Outcome::Removed) => "no master; removed its stale socket".into(),
            (State::Stale, _) => format!("no master; {}", repair.said),
            _ => repair.said.clone(),
        },
    };
    let state = Style::for_stdout().state(target.state, 0);
    let line = [Some(state), path.map(Cow::into_owned), Some(done)];
    output::line(&line.into_iter().flatten().collect::<Vec<_>>().join("  "))
}

/// The ControlPath of the ssh command line (with `-F` passed on to ssh); `None` when sharing
/// is off.
fn control_path(args: &ResetArgs, deadline: Deadline) -> Result<Option<PathBuf>> {
    let mut ssh_args: Vec<OsString> = Vec::new();
    if let Some(config) = &args.config {
        ssh_args.push("-F".into());
        ssh_args.push(config.into());
    }
    ssh_args.extend(args.ssh_args.iter().cloned());
    let record = Record::new();
    let resolved = ssh::resolve(&ssh_args, deadline, &record)?;
    record.save();
    Ok(resolved.control_path)
}
