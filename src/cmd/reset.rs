//! `muxguard reset`: ends a master so that the next ssh builds a fresh one.

use std::ffi::OsString;
use std::path::PathBuf;

use nix::unistd::Uid;

use crate::classify::{SocketReport, State};
use crate::cli::ResetArgs;
use crate::deadline::Deadline;
use crate::error::{ExitCode, Result};
use crate::master::{self, Ending};
use crate::output::{self, Style};
use crate::process::Owner;
use crate::repair::{self, NotRepaired};
use crate::ssh;
use crate::state::StateFile;
use crate::survey;

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
            .filter(|socket| matches!(socket.state, State::Live | State::Hung | State::Orphan))
            .collect()
    } else {
        let path = match &args.path {
            Some(path) => path.clone(),
            None => match control_path(&args, deadline)? {
                Some(path) => path,
                None => {
                    output::line(
                        "disabled  connection sharing is off (ControlPath none): no master",
                    )?;
                    return Ok(ExitCode::Success);
                }
            },
        };
        survey::at_path(&path, owner)?
    };

    // All at once: none of them waits past the deadline.
    let outcomes = repair::each_at_once(targets, |target| reset_one(target, how, owner, deadline));

    // Said in the targets' order, whichever ended first.
    let style = Style::for_stdout();
    let mut failed = false;
    for (target, outcome) in outcomes {
        let path = target.path.as_deref().map(output::path).unwrap_or_default();
        match outcome {
            Ok(done) => output::line(&format!("{}  {path}  {done}", style.state(target.state, 0)))?,
            Err(why) => {
                failed = true;
                output::warn(&format!("cannot reset {path}: {why}"));
            }
        }
    }
    Ok(if failed {
        ExitCode::Failure
    } else {
        ExitCode::Success
    })
}

/// Does what `target`'s state calls for; says what was done, or why nothing could be.
fn reset_one(
    target: &mut SocketReport,
    how: Ending,
    owner: Owner,
    deadline: Deadline,
) -> std::result::Result<String, String> {
    match target.state {
        State::Live | State::Hung | State::Unreachable | State::Orphan => {
            master::end(target, how, owner, deadline).map(|(_, done)| done)
        }
        State::Stale => match repair::repair(target, deadline) {
            Ok(_) => Ok("no master; removed its stale socket".into()),
            Err(NotRepaired) => Err(target.detail.clone().unwrap_or_default()),
        },
        State::Absent => Ok("no master to reset".into()),
        State::Disabled => Ok("connection sharing is off".into()),
        State::Foreign => Err(format!(
            "not touched: {}",
            target
                .detail
                .as_deref()
                .unwrap_or("not your own control socket")
        )),
    }
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
    let resolved = ssh::resolve(&ssh_args, deadline, &StateFile::load())?;
    Ok(resolved.control_path)
}
