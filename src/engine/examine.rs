//! One destination's control socket, asked directly: what `check` reports and what `muxguard
//! ssh` repairs before it connects. It reads like its steps: the destination (`ssh -G`) and
//! the jump hosts in front of it, then for each hop, first hop first, and for the destination:
//! the socket (the file, its listener, the master's answer), the link (a round trip when that
//! is worth it); the record of what was learnt, and the repair when asked for.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Result;
use crate::link::chain;
use crate::link::probe::{self, Decision, ProbeMode};
use crate::openssh::args::SshOptions;
use crate::openssh::hops::{self, Proxy};
use crate::openssh::mux::MuxClient;
use crate::openssh::ssh;
use crate::platform::{self, Link};
use crate::repair::{self, Action, Repair};
use crate::socket::classify;
use crate::socket::report::{Reason, SocketReport, State};
use crate::state::Record;
use crate::support::deadline::Deadline;
use crate::support::text::{self, Name};

/// What a check found, and what `--fix` did about it.
pub struct Examined {
    pub report: SocketReport,
    /// Where a repair was tried.
    pub repair: Option<Repair>,
    /// Whether ssh can go ahead now, as far as this socket goes.
    pub ready: bool,
    /// The jump hosts in front of the destination, first hop first, each examined as a
    /// destination is (and none of them with hops of its own here).
    pub hops: Vec<Examined>,
    /// The connection the master answered on, held open until this is dropped (see
    /// `end_at_exit`).
    _connection: Option<MuxClient>,
}

/// Jump hosts followed in front of one destination at most: OpenSSH sets no bound, and each
/// costs an `ssh -G`.
const MAX_HOPS: usize = 8;

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
    let (destination, hops, unfollowed) = match path {
        Some(path) => (Destination::at(path), Vec::new(), None),
        None => {
            let destination = Destination::resolve(ssh_args, deadline, &record)?;
            let (hops, unfollowed) = jump_hosts(ssh_args, &destination, deadline, &record);
            (destination, hops, unfollowed)
        }
    };
    // Every socket is asked first (an answer takes microseconds), then the links are proved,
    // first hop first: a dead hop's probe may take the whole deadline, and must not leave the
    // destination's master no time to answer (it would pass for hung).
    let asked: Vec<_> = hops
        .iter()
        .chain([&destination])
        .map(|place| (place, place.socket(deadline, &record)))
        .collect();
    let mut sockets: Vec<Examined> = Vec::new();
    for (place, (mut report, client)) in asked {
        judge_by_its_carrier(&mut report, &sockets);
        sockets.push(place.examined(report, client, mode, deadline, &record));
    }
    record.save();
    let mut examined = sockets.pop().expect("the destination is examined");
    examined.hops = sockets;
    if let Some(why) = unfollowed {
        examined.report.detail.push_str(&format!("; {why}"));
    }
    if fix {
        examined.fix(deadline);
    }
    Ok(examined)
}

/// The jump hosts in front of `destination` (whose command line is `ssh_args`), first hop
/// first, each resolved with the command line ssh runs for it; and why the chain was followed
/// no further, where it stopped before a host reached directly.
fn jump_hosts(
    ssh_args: &[OsString],
    destination: &Destination,
    deadline: Deadline,
    record: &Record,
) -> (Vec<Destination>, Option<String>) {
    let mut chain = Vec::new();
    let mut seen: Vec<Vec<OsString>> = Vec::new();
    let mut args = ssh_args.to_vec();
    let mut proxy = destination.proxy.clone();
    let unfollowed = loop {
        let Some(next) = proxy.take() else {
            break None;
        };
        let config: Option<OsString> =
            SshOptions::parse(&args).and_then(|options| options.last(b'F').map(Into::into));
        let Some(hop_args) = hops::last_hop(&next, config.as_deref()) else {
            break None;
        };
        let shown = ssh::shell_words(&hop_args);
        if seen.contains(&hop_args) {
            break Some(format!("its jump hosts loop back to `{shown}`"));
        }
        if chain.len() == MAX_HOPS {
            break Some(format!(
                "more than {MAX_HOPS} jump hosts: none checked past `{shown}`"
            ));
        }
        match Destination::resolve(&hop_args, deadline, record) {
            Ok(hop) => {
                proxy = hop.proxy.clone();
                chain.push(hop);
            }
            Err(error) => break Some(format!("jump host `{shown}` not checked: {error}")),
        }
        seen.push(hop_args.clone());
        args = hop_args;
    };
    chain.reverse();
    (chain, unfollowed)
}

/// A live master with no connection of its own is as good as what carries it, as the kernel
/// shows it, before its link is proved: a jump host's master examined before it (`earlier`),
/// which `via` names and whose connection stands for its own, and whose death is its own
/// (`carrier-dead`, no probe through it); or its ProxyCommand's own connection. Otherwise it is
/// judged from its record.
fn judge_by_its_carrier(report: &mut SocketReport, earlier: &[Examined]) {
    let (State::Live, Some(pid)) = (report.state, report.pid) else {
        return;
    };
    if report.link.is_none() {
        report.link = platform::links(&[pid]).remove(&pid);
    }
    if !matches!(report.link, Some(Link::ViaProxy)) {
        return;
    }
    let master_of = |candidate: i32| {
        earlier
            .iter()
            .map(|hop| &hop.report)
            .find(|hop| hop.state.has_master() && hop.pid == Some(candidate))
    };
    let carrier = match earlier.is_empty() {
        true => None,
        false => {
            chain::carrier_of(pid, |candidate| master_of(candidate).is_some()).and_then(master_of)
        }
    };
    let Some(carrier) = carrier else {
        chain::carried_by_proxy(report, pid);
        return;
    };
    chain::carried_by(report, carrier);
    if carrier.state.is_dead_master() {
        let shown = carrier
            .path
            .as_deref()
            .map(text::path)
            .unwrap_or_default()
            .into_owned();
        let detail = format!(
            "{}, but the jump host's master that carries it ({shown}) is {}",
            report.detail,
            carrier.state.as_str()
        );
        report.recast(Reason::CarrierDead, detail);
    }
}

impl Examined {
    /// Repairs what is broken, so that ssh can go ahead: the hops first, first hop first.
    pub fn fix(&mut self, deadline: Deadline) {
        for hop in &mut self.hops {
            hop.fix_socket(deadline);
        }
        self.fix_socket(deadline);
    }

    /// Repairs this socket alone, the hops left as they are.
    pub fn fix_socket(&mut self, deadline: Deadline) {
        // A foreign socket's repair says it was not touched.
        if self.report.state.is_broken() || self.report.state == State::Foreign {
            let repair = repair::repair(&self.report, deadline);
            self.ready = repair.cleared();
            self.repair = Some(repair);
        }
    }

    /// Whether ssh can go ahead now: through every hop to the destination.
    pub fn all_ready(&self) -> bool {
        self.ready && self.hops.iter().all(|hop| hop.ready)
    }

    /// The hops, then the destination: every socket this check looked at, in the order ssh
    /// goes through them.
    pub fn sockets(&self) -> impl Iterator<Item = &Examined> {
        self.hops.iter().chain(std::iter::once(self))
    }

    /// Leaves the connections to the masters for the process's exit to close, for a command
    /// that ends once it has told what it found. A close wakes the master, which then takes
    /// this CPU to see its client off before the command is done: a sixth of a check's own
    /// time, which after the exit nobody waits for.
    pub fn end_at_exit(self) {
        std::mem::forget(self);
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
    /// How it is reached, when through a jump host or a ProxyCommand.
    proxy: Option<Proxy>,
}

impl Destination {
    /// Its socket as asked (`report`, and the master's connection when it answered), with its
    /// link proved when that is worth it.
    fn examined(
        &self,
        mut report: SocketReport,
        mut client: Option<MuxClient>,
        mode: ProbeMode,
        deadline: Deadline,
        record: &Record,
    ) -> Examined {
        if let Some(client) = &mut client {
            self.prove_link(client, &mut report, mode, deadline, record);
        }
        let ready = report.state.lets_ssh_go_ahead();
        Examined {
            report,
            repair: None,
            ready,
            hops: Vec::new(),
            _connection: client,
        }
    }

    /// The socket at a path given: no settings known.
    fn at(path: &Path) -> Destination {
        Destination {
            control_path: Some(path.to_path_buf()),
            resolved: false,
            control_master: None,
            alive_interval: None,
            destination: None,
            alias: None,
            proxy: None,
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
            proxy: resolved.proxy,
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
