//! `muxguard check`: the one control socket ssh would use for a command line, asked directly,
//! and repaired with `--fix`.

use std::cell::OnceCell;
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use crate::classify::{self, Reason, SocketReport, State};
use crate::cli::CheckArgs;
use crate::deadline::Deadline;
use crate::error::{ExitCode, Result};
use crate::mux::MuxClient;
use crate::output::{self, SCHEMA, Style};
use crate::probe::{self, ProbeMode};
use crate::repair::{self, Action};
use crate::ssh;
use crate::state::{self, StateFile};

/// What a check found, and what `--fix` did about it.
pub struct Examined {
    pub report: SocketReport,
    pub action: Action,
    /// Whether ssh can go ahead now.
    pub ready: bool,
}

/// Classifies the socket at `path`, or the one `ssh_args` resolves to, probes its link when
/// `mode` says so, and repairs it if `fix`.
pub fn examine(
    path: Option<&Path>,
    ssh_args: &[OsString],
    mode: ProbeMode,
    fix: bool,
    deadline: Deadline,
) -> Result<Examined> {
    // What the look learns for the state file is saved in one write at its end.
    let report = state::batched(|| -> Result<SocketReport> {
        // Read only when needed: `check --path` on a master that needs no probe decision
        // skips it.
        let known = OnceCell::new();
        let (mut report, client, control_master) = match path {
            Some(path) => {
                let (report, client) = classify::classify_active(path, deadline);
                (report, client, None)
            }
            None => check_destination(ssh_args, deadline, known.get_or_init(StateFile::load))?,
        };
        if let Some(mut client) = client {
            let asks = matches!(control_master.as_deref(), Some("ask" | "autoask"));
            let state_file = || known.get_or_init(StateFile::load);
            if let Some((why, now)) = probe::decide(mode, asks, &mut report, state_file) {
                probe::probe(&mut client, &mut report, deadline, now, why.as_deref());
            }
        }
        Ok(report)
    })?;
    let ready = matches!(report.state, State::Live | State::Absent | State::Disabled);
    let mut outcome = Examined {
        report,
        action: Action::None,
        ready,
    };
    if fix {
        outcome.fix(deadline);
    }
    Ok(outcome)
}

impl Examined {
    /// Repairs what is broken, so that ssh can go ahead.
    pub fn fix(&mut self, deadline: Deadline) {
        let broken = matches!(
            self.report.state,
            State::Stale | State::Hung | State::Unreachable | State::Foreign
        );
        if broken {
            if let Ok(action) = repair::repair(&mut self.report, deadline) {
                self.action = action;
                self.ready = true;
            }
        }
    }
}

pub fn run(args: CheckArgs, deadline: Deadline) -> Result<ExitCode> {
    let mode = if args.probe {
        ProbeMode::Always
    } else {
        ProbeMode::from_env()?
    };
    let Examined {
        report,
        action,
        ready,
    } = examine(
        args.path.as_deref(),
        &args.ssh_args,
        mode,
        args.fix,
        deadline,
    )?;
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

    Ok(if ready {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}

/// What the destination's ControlPath holds, the master's connection when it answered, and
/// the ControlMaster setting.
type Checked = (SocketReport, Option<MuxClient>, Option<String>);

/// Resolves the command line with `ssh -G` and asks the master at its ControlPath.
fn check_destination(
    ssh_args: &[OsString],
    deadline: Deadline,
    known: &StateFile,
) -> Result<Checked> {
    let resolved = ssh::resolve(ssh_args, deadline, known)?;
    let path = match &resolved.control_path {
        None => {
            let report = SocketReport::new(
                None,
                Reason::ControlPathNone,
                "ControlPath none: connection sharing is off for this destination",
            );
            let report = report.named(resolved.destination, resolved.alias);
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
    let (mut report, client) = classify::classify_active(path, deadline);
    if report.state == State::Absent && resolved.control_master == "false" {
        report.recast(
            Reason::ControlMasterNo,
            "ControlMaster no and no master is running".into(),
        );
    }
    let report = report.named(resolved.destination, resolved.alias);
    Ok((report, client, Some(resolved.control_master)))
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
            ssh::shell_words(&[path])
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
        line.push_str(&format!("  {}", output::path(path)));
    }
    let destination = output::destination(report);
    if destination != "-" {
        line.push_str(&format!("  {destination}"));
    }
    if let Some(detail) = &report.detail {
        let detail = output::escape(detail);
        line.push_str(&format!("  {}", style.dim(&format!("({detail})"))));
    }
    writeln!(io::stdout().lock(), "{line}")?;
    let fixable = matches!(
        report.state,
        State::Stale | State::Hung | State::Unreachable
    );
    if let Some(hint) = repair_hint.filter(|_| fixable) {
        output::warn(&format!("repair it with: {hint}"));
    }
    Ok(())
}
