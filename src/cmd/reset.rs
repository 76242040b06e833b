//! `muxguard reset`: ends a master so that the next ssh builds a fresh one.

use std::path::PathBuf;
use std::time::Duration;

use nix::unistd::Uid;

use crate::classify::{Owner, SocketReport, State};
use crate::cli::ResetArgs;
use crate::deadline::Deadline;
use crate::error::{ExitCode, Result};
use crate::master::{self, Ending};
use crate::output::Style;
use crate::repair::{self, NotRepaired};
use crate::ssh;
use crate::state::StateFile;
use crate::survey;

pub fn run(args: ResetArgs, timeout: Duration) -> Result<ExitCode> {
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
            None => match control_path(&args, timeout)? {
                Some(path) => path,
                None => {
                    println!("disabled  connection sharing is off (ControlPath none): no master");
                    return Ok(ExitCode::Success);
                }
            },
        };
        survey::at_path(&path, owner)?
    };

    let style = Style::for_stdout();
    let mut failed = false;
    for mut target in targets {
        let path = target
            .path
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let outcome = match target.state {
            State::Live | State::Hung | State::Unreachable | State::Orphan => {
                master::end(&target, how, owner)
            }
            State::Stale => match repair::repair(&mut target) {
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
        };
        match outcome {
            Ok(done) => println!("{}  {path}  {done}", style.state(target.state, 0)),
            Err(why) => {
                failed = true;
                eprintln!("muxguard: cannot reset {path}: {why}");
            }
        }
    }
    Ok(if failed {
        ExitCode::Failure
    } else {
        ExitCode::Success
    })
}

/// The ControlPath of the ssh command line (with `-F` passed on to ssh); `None` when sharing
/// is off.
fn control_path(args: &ResetArgs, timeout: Duration) -> Result<Option<PathBuf>> {
    let mut ssh_args = Vec::new();
    if let Some(config) = &args.config {
        ssh_args.push("-F".to_string());
        ssh_args.push(config.display().to_string());
    }
    ssh_args.extend(args.ssh_args.iter().cloned());
    let resolved = ssh::resolve(&ssh_args, Deadline::after(timeout), &StateFile::load())?;
    Ok(resolved.control_path)
}
