//! One destination's control socket, asked directly: what `check` reports and what `muxguard
//! ssh` repairs before it connects. Classified, its link proved when that is worth it, and
//! repaired on request.

use std::cell::OnceCell;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use crate::error::Result;
use crate::link::probe::{self, ProbeMode};
use crate::openssh::mux::MuxClient;
use crate::openssh::ssh;
use crate::repair::{self, Action, Repair};
use crate::socket::classify::{self, Reason, SocketReport, State};
use crate::state::{self, StateFile};
use crate::support::deadline::Deadline;

/// What a check found, and what `--fix` did about it.
pub struct Examined {
    pub report: SocketReport,
    /// Where a repair was tried.
    pub repair: Option<Repair>,
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
        let (mut report, client, settings) = match path {
            Some(path) => {
                let (report, client) = classify::classify_active(path, deadline);
                (report, client, Settings::default())
            }
            None => check_destination(ssh_args, deadline, known.get_or_init(StateFile::load))?,
        };
        if let Some(mut client) = client {
            let asks = matches!(settings.control_master.as_deref(), Some("ask" | "autoask"));
            let state_file = || known.get_or_init(StateFile::load);
            let decision =
                probe::decide(mode, asks, settings.alive_interval, &mut report, state_file);
            if let Some((why, now)) = decision {
                probe::probe(&mut client, &mut report, deadline, now, why.as_deref());
            }
        }
        Ok(report)
    })?;
    let ready = matches!(report.state, State::Live | State::Absent | State::Disabled);
    let mut examined = Examined {
        report,
        repair: None,
        ready,
    };
    if fix {
        examined.fix(deadline);
    }
    Ok(examined)
}

impl Examined {
    /// Repairs what is broken, so that ssh can go ahead.
    pub fn fix(&mut self, deadline: Deadline) {
        let broken = matches!(
            self.report.state,
            State::Stale | State::Hung | State::Unreachable | State::Foreign
        );
        if broken {
            let repair = repair::repair(&self.report, deadline);
            self.ready = repair.cleared();
            self.repair = Some(repair);
        }
    }

    /// What was done, as the JSON says it.
    pub fn action(&self) -> Action {
        self.repair
            .as_ref()
            .map_or(Action::None, |repair| repair.action)
    }
}

/// What `ssh -G` says of the master's settings, where it was asked.
#[derive(Default)]
struct Settings {
    control_master: Option<String>,
    alive_interval: Option<Duration>,
}

/// What the destination's ControlPath holds, the master's connection when it answered, and
/// its settings.
type Checked = (SocketReport, Option<MuxClient>, Settings);

/// Resolves the command line with `ssh -G` and asks the master at its ControlPath.
fn check_destination(
    ssh_args: &[OsString],
    deadline: Deadline,
    known: &StateFile,
) -> Result<Checked> {
    let resolved = ssh::resolve(ssh_args, deadline, known)?;
    let settings = Settings {
        control_master: Some(resolved.control_master.clone()),
        alive_interval: resolved.server_alive_interval.map(Duration::from_secs),
    };
    let path = match &resolved.control_path {
        None => {
            let report = SocketReport::new(
                None,
                Reason::ControlPathNone,
                "ControlPath none: connection sharing is off for this destination",
            );
            let report = report.named(resolved.destination, resolved.alias);
            return Ok((report, None, settings));
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
    Ok((report, client, settings))
}
