//! `muxguard check`: the one control socket ssh would use for a command line, asked directly,
//! and repaired with `--fix`.

use std::cell::OnceCell;
use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use crate::classify::{self, SocketReport, State};
use crate::cli::CheckArgs;
use crate::deadline::Deadline;
use crate::error::{ExitCode, Result};
use crate::fsentry::{self, FileInfo, Removal};
use crate::master;
use crate::mux::MuxClient;
use crate::netstate::Snapshot;
use crate::output::{self, SCHEMA, Style};
use crate::probe::{self, ProbeMode};
use crate::ssh;
use crate::state::{self, StateFile};

/// What `--fix` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    None,
    Removed,
    Reset,
}

pub fn run(args: CheckArgs, timeout: Duration) -> Result<ExitCode> {
    let mode = if args.probe {
        ProbeMode::Always
    } else {
        ProbeMode::from_env()?
    };
    // Read only when needed: `check --path` on a master that needs no probe decision skips it.
    let known = OnceCell::new();
    let (mut report, client, control_master) = match &args.path {
        Some(path) => {
            let (report, client) = classify::classify_active(path, timeout);
            (report, client, None)
        }
        None => check_destination(&args.ssh_args, timeout, known.get_or_init(StateFile::load))?,
    };
    if let Some(mut client) = client {
        if let Some((why, now)) = reason_to_probe(mode, &known, &report, control_master.as_deref())
        {
            probe::probe(&mut client, &mut report, timeout, now);
            if let Some(why) = why {
                report.detail = report
                    .detail
                    .map(|detail| format!("{detail} (probed: {why})"));
            }
        }
    }
    let (action, repaired) = if args.fix {
        repair(&mut report)
    } else {
        (Action::None, false)
    };
    output::written(if args.json {
        #[derive(Serialize)]
        struct CheckJson<'a> {
            schema: u32,
            #[serde(flatten)]
            socket: &'a SocketReport,
            action: Action,
        }
        output::print_json(&CheckJson {
            schema: SCHEMA,
            socket: &report,
            action,
        })
    } else {
        print_line(
            &report,
            (!args.fix).then(|| repair_command(&args, report.state)),
        )
    })?;

    let ready = matches!(report.state, State::Live | State::Absent | State::Disabled);
    Ok(if ready || repaired {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}

/// Whether a live master's link is worth a round trip now: `Some` with the reason (none when
/// the probe was asked for) and the moment's snapshot. A master seen for the first time while
/// young is recorded as working instead.
fn reason_to_probe(
    mode: ProbeMode,
    known: &OnceCell<StateFile>,
    report: &SocketReport,
    control_master: Option<&str>,
) -> Option<(Option<String>, Snapshot)> {
    // An `ask` master would pop up a confirmation for the forwarding the probe asks for.
    let asks = matches!(control_master, Some("ask" | "autoask"));
    if report.state != State::Live || asks || mode == ProbeMode::Never {
        return None;
    }
    let now = Snapshot::now();
    if mode == ProbeMode::Always {
        return Some((None, now));
    }
    let (path, pid) = (report.path.as_deref()?, report.pid?);
    let seen_working = known.get_or_init(StateFile::load).seen_working(path, pid);
    let age = report.file.as_ref().and_then(FileInfo::age);
    match probe::doubt(seen_working, age, &now) {
        Some(why) => Some((Some(why), now)),
        None => {
            if seen_working.is_none() {
                state::record_working(path, pid, now);
            }
            None
        }
    }
}

/// What the destination's ControlPath holds, the master's connection when it answered, and
/// the ControlMaster setting.
type Checked = (SocketReport, Option<MuxClient>, Option<String>);

/// Resolves the command line with `ssh -G` and asks the master at its ControlPath.
fn check_destination(ssh_args: &[String], timeout: Duration, known: &StateFile) -> Result<Checked> {
    let resolved = ssh::resolve(ssh_args, Deadline::after(timeout), known)?;
    let path = match &resolved.control_path {
        None => {
            let mut report = SocketReport::new(
                None,
                State::Disabled,
                "ControlPath none: connection sharing is off for this destination",
            );
            report.destination = resolved.destination;
            report.alias = resolved.alias;
            return Ok((report, None, Some(resolved.control_master)));
        }
        Some(path) => path,
    };
    state::record_resolved(
        known,
        path,
        resolved.destination.as_deref(),
        resolved.alias.as_deref(),
    );
    let (mut report, client) = classify::classify_active(path, timeout);
    if report.state == State::Absent && resolved.control_master == "false" {
        report.state = State::Disabled;
        report.detail = Some("ControlMaster no and no master is running".into());
    }
    report.destination = resolved.destination;
    report.alias = resolved.alias;
    Ok((report, client, Some(resolved.control_master)))
}

/// Repairs a stale socket or a hung or unreachable master so that the next ssh builds a fresh
/// master. Foreign things
/// are never touched. Returns the action and whether ssh can now go ahead.
fn repair(report: &mut SocketReport) -> (Action, bool) {
    let outcome = match (report.state, &report.path, &report.file) {
        (State::Stale, Some(path), Some(file)) => match fsentry::remove_if_same(path, file) {
            Ok(Removal::Removed) => Ok((Action::Removed, "removed".to_string())),
            Ok(Removal::AlreadyGone) => Ok((Action::None, "someone else removed it".into())),
            Ok(Removal::Replaced) => Ok((
                Action::None,
                "a new socket took its place; left alone".into(),
            )),
            Err(error) => Err(format!("cannot remove it: {error}")),
        },
        (State::Hung | State::Unreachable, _, _) => {
            master::end(report).map(|done| (Action::Reset, done))
        }
        (State::Foreign, _, _) => Err("not touched: it is not your own control socket".into()),
        _ => return (Action::None, false),
    };
    let detail = report.detail.take().unwrap_or_default();
    match outcome {
        Ok((action, done)) => {
            report.detail = Some(format!("{detail}; {done}"));
            (action, true)
        }
        Err(why) => {
            report.detail = Some(format!("{detail}; {why}"));
            (Action::None, false)
        }
    }
}

/// The command that would repair what this one found, for the hint.
fn repair_command(args: &CheckArgs, state: State) -> String {
    // Without the probe, an unreachable master looks live and is left alone.
    let probe = if state == State::Unreachable {
        " --probe"
    } else {
        ""
    };
    match &args.path {
        Some(path) => format!(
            "muxguard check --fix{probe} --path {}",
            ssh::shell_words(&[path.display().to_string()])
        ),
        None => format!(
            "muxguard check --fix{probe} -- {}",
            ssh::shell_words(&args.ssh_args)
        ),
    }
}

fn print_line(report: &SocketReport, repair_hint: Option<String>) -> io::Result<()> {
    let style = Style::for_stdout();
    let mut line = style.state(report.state, 0);
    if let Some(path) = &report.path {
        line.push_str(&format!("  {}", path.display()));
    }
    let destination = output::destination(report);
    if destination != "-" {
        line.push_str(&format!("  {destination}"));
    }
    if let Some(detail) = &report.detail {
        line.push_str(&format!("  {}", style.dim(&format!("({detail})"))));
    }
    writeln!(io::stdout().lock(), "{line}")?;
    let fixable = matches!(
        report.state,
        State::Stale | State::Hung | State::Unreachable
    );
    if let Some(hint) = repair_hint.filter(|_| fixable) {
        eprintln!("muxguard: repair it with: {hint}");
    }
    Ok(())
}
