//! One destination's control socket, asked directly: what `check` reports and what `muxguard
//! ssh` repairs before it connects. It reads like its steps: the destination (`ssh -G`), the
//! socket (the file, its listener, the master's answer), the link (a round trip when that is
//! worth it), the record of what was learnt, and the repair when asked for.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Result;
use crate::link::probe::{self, Decision, ProbeMode};
use crate::openssh::mux::MuxClient;
use crate::openssh::ssh;
use crate::repair::{self, Action, Repair};
use crate::socket::classify;
use crate::socket::report::{Reason, SocketReport, State};
use crate::state::Record;
use crate::support::deadline::Deadline;
use crate::support::text::Name;

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
    // What the check learns is saved in one write, after the link's step; the state file is
    // read only when a step needs it (`check --path` of a master the kernel vouches for
    // needs none).
    let record = Record::new();
    let destination = match path {
        Some(path) => Destination::at(path),
        None => Destination::resolve(ssh_args, deadline, &record)?,
    };
    let (mut report, client) = destination.socket(deadline, &record);
    if let Some(mut client) = client {
        destination.prove_link(&mut client, &mut report, mode, deadline, &record);
    }
    record.save();

    let ready = report.state.lets_ssh_go_ahead();
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
        // A foreign socket's repair says it was not touched.
        if self.report.state.is_broken() || self.report.state == State::Foreign {
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

/// Where the check looks, and what `ssh -G` says of the master's settings where it was asked.
struct Destination {
    /// `None`: ControlPath none.
    control_path: Option<PathBuf>,
    /// Resolved from a command line (not a path given): recorded for `status` to name.
    resolved: bool,
    control_master: Option<String>,
    alive_interval: Option<Duration>,
    destination: Option<Name>,
    alias: Option<Name>,
}

impl Destination {
    /// The socket at a path given: no settings known.
    fn at(path: &Path) -> Destination {
        Destination {
            control_path: Some(path.to_path_buf()),
            resolved: false,
            control_master: None,
            alive_interval: None,
            destination: None,
            alias: None,
        }
    }

    /// The command line as `ssh -G` resolves it (or as it was remembered in `record`).
    fn resolve(ssh_args: &[OsString], deadline: Deadline, record: &Record) -> Result<Self> {
        let resolved = ssh::resolve(ssh_args, deadline, record)?;
        Ok(Destination {
            control_path: resolved.control_path,
            resolved: true,
            control_master: Some(resolved.control_master),
            alive_interval: resolved.server_alive_interval.map(Duration::from_secs),
            destination: resolved.destination,
            alias: resolved.alias,
        })
    }

    /// The socket: the file at the ControlPath, its listener and the master's answer (its
    /// connection, when it answered). A ControlPath that a command line resolved is recorded
    /// with its destination, for `status` to name it.
    fn socket(&self, deadline: Deadline, record: &Record) -> (SocketReport, Option<MuxClient>) {
        let named =
            |report: SocketReport| report.named(self.destination.clone(), self.alias.clone());
        let Some(path) = &self.control_path else {
            let report = SocketReport::new(
                None,
                Reason::ControlPathNone,
                "ControlPath none: connection sharing is off for this destination",
            );
            return (named(report), None);
        };
        if self.resolved {
            record.record_resolved(path, self.destination.as_ref(), self.alias.as_ref());
        }
        let (mut report, client) = classify::classify_active(path, deadline);
        if report.state == State::Absent && self.control_master.as_deref() == Some("false") {
            report.recast(
                Reason::ControlMasterNo,
                "ControlMaster no and no master is running".into(),
            );
        }
        (named(report), client)
    }

    /// The link of a master that answered: a round trip to its server when `mode` and what is
    /// known of the link call for one; the master is recorded as seen working when the round
    /// trip completes, or when it is vouched for and was never seen working.
    fn prove_link(
        &self,
        client: &mut MuxClient,
        report: &mut SocketReport,
        mode: ProbeMode,
        deadline: Deadline,
        record: &Record,
    ) {
        let asks = matches!(self.control_master.as_deref(), Some("ask" | "autoask"));
        let seen_working = |path: &Path, pid| record.known().seen_working(path, pid);
        let working_at = match probe::decide(mode, asks, self.alive_interval, report, seen_working)
        {
            Decision::Probe { why, now } => {
                probe::probe(client, report, deadline, why.as_deref());
                (report.reason == Reason::RoundTrip).then_some(now)
            }
            Decision::Vouched(now) => Some(now),
            Decision::Spared => None,
        };
        if let (Some(now), Some(path), Some(pid)) = (working_at, &report.path, report.pid) {
            record.record_working(path, pid, now);
        }
    }
}
