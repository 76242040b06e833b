//! Proving the link from a master to its server, and knowing when that is worth a round trip.
//!
//! A master whose TCP link died (suspend, new network, a NAT that dropped an idle connection)
//! still answers ALIVE_CHECK at once, while every new session through it hangs. Only a round
//! trip to the server tells; `auto` spends one only when something suggests the link died.

use std::time::{Duration, Instant};

use crate::classify::{self, Reason, SocketReport, State};
use crate::deadline::Deadline;
use crate::durations;
use crate::environment::Variable;
use crate::error::{Error, Result};
use crate::fsentry::FileInfo;
use crate::mux::{MuxClient, MuxError};
use crate::netstate::Snapshot;
use crate::state::{self, StateFile};

/// A master not seen working for this long is probed: idle connections are what NATs and
/// firewalls drop silently.
const LONG_IDLE: Duration = Duration::from_secs(10 * 60);
/// A master this young has just authenticated: its link worked a moment ago.
const YOUNG: Duration = Duration::from_secs(60);
/// More time than this spent suspended counts as a suspend.
const SUSPEND: Duration = Duration::from_secs(1);

pub const PROBE: Variable = Variable {
    name: "MUXGUARD_PROBE",
    meaning: "auto (default), always or never: when check, and so muxguard ssh, proves the link \
        to the server by itself. auto probes only after a suspend, a change of network, a reboot, \
        or 10 minutes without seeing the master work.",
};

/// When `check` proves the link by itself (`MUXGUARD_PROBE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeMode {
    /// Only when something suggests the link died.
    Auto,
    Always,
    Never,
}

impl ProbeMode {
    pub fn from_env() -> Result<ProbeMode> {
        let value = PROBE.read().unwrap_or_default();
        match value.to_str() {
            Some("" | "auto") => Ok(ProbeMode::Auto),
            Some("always") => Ok(ProbeMode::Always),
            Some("never") => Ok(ProbeMode::Never),
            _ => Err(Error::Usage(format!(
                "{} is '{}': use auto, always or never",
                PROBE.name,
                value.to_string_lossy()
            ))),
        }
    }
}

/// Why the link of a live master is in doubt, comparing the moment it was last seen working
/// with now; `None` when nothing suggests it died.
pub fn doubt(
    seen_working: Option<&Snapshot>,
    socket_age: Option<Duration>,
    now: &Snapshot,
) -> Option<String> {
    let Some(then) = seen_working.filter(|then| then.same_boot(now)) else {
        return match socket_age {
            Some(age) if age < YOUNG => None,
            _ => Some("it was never seen working".into()),
        };
    };
    let idle = Duration::from_nanos(now.boottime_ns.saturating_sub(then.boottime_ns));
    let awake = Duration::from_nanos(now.monotonic_ns.saturating_sub(then.monotonic_ns));
    let suspended = idle.saturating_sub(awake);
    if suspended > SUSPEND {
        Some(format!(
            "the machine was suspended for {} since it was last seen working",
            durations::short((suspended.as_secs_f64().round() as u64).max(1))
        ))
    } else if now.network != then.network {
        Some("the network changed since it was last seen working".into())
    } else if idle > LONG_IDLE {
        Some(format!(
            "it was last seen working {} ago",
            durations::short(idle.as_secs_f64().round() as u64)
        ))
    } else {
        None
    }
}

/// Whether a live master's link is worth a round trip now, in `mode`: `Some` with the reason
/// (none when the probe was asked for) and the moment's snapshot. A master seen for the first
/// time while young is recorded as working instead. A master that `asks` (ControlMaster ask)
/// is never probed: it would ask the user to confirm the forwarding.
pub fn decide<'a>(
    mode: ProbeMode,
    asks: bool,
    report: &mut SocketReport,
    state_file: impl FnOnce() -> &'a StateFile,
) -> Option<(Option<String>, Snapshot)> {
    if report.state != State::Live || mode == ProbeMode::Never {
        return None;
    }
    if asks {
        if mode == ProbeMode::Always {
            report
                .detail
                .push_str("; not probed: ControlMaster ask would ask you to confirm");
        }
        return None;
    }
    let now = Snapshot::now();
    if mode == ProbeMode::Always {
        return Some((None, now));
    }
    let (path, pid) = (report.path.as_deref()?, report.pid?);
    let seen_working = state_file().seen_working(path, pid);
    let age = report.file.as_ref().and_then(FileInfo::age);
    match doubt(seen_working, age, &now) {
        Some(why) => Some((Some(why), now)),
        None => {
            if seen_working.is_none() {
                state::record_working(path, pid, now);
            }
            None
        }
    }
}

/// Sends a round trip through a live master to its server, bounded by `deadline`. The report
/// stays live with its round-trip time (and the master is recorded as seen working), or
/// becomes unreachable. `why` says what made it worth it, for the report.
pub fn probe(
    client: &mut MuxClient,
    report: &mut SocketReport,
    deadline: Deadline,
    now: Snapshot,
    why: Option<&str>,
) {
    let started = Instant::now();
    let answer = client.probe_server(deadline);
    let detail = std::mem::take(&mut report.detail);
    match answer {
        Ok(()) => {
            let round_trip = started.elapsed();
            report.round_trip_ms = Some((round_trip.as_secs_f64() * 1e5).round() / 100.0);
            report.recast(
                Reason::RoundTrip,
                format!(
                    "{detail}; the server answered in {:.1} ms",
                    round_trip.as_secs_f64() * 1e3
                ),
            );
            if let (Some(path), Some(pid)) = (&report.path, report.pid) {
                state::record_working(path, pid, now);
            }
        }
        Err(MuxError::Timeout) => {
            report.recast(
                Reason::ProbeTimeout,
                format!(
                    "{detail}, but no round trip to the server completed in {:.1?}: its link is dead",
                    started.elapsed()
                ),
            );
        }
        // The master would not forward (ControlMaster ask, a refusal of its own): no proof
        // either way, so it stays live.
        Err(error) => {
            report.detail = format!("{detail}; the link could not be probed: {error}");
        }
    }
    if let Some(why) = why {
        report.detail.push_str(&format!(" (probed: {why})"));
    }
}

/// Asks every live master and proves its link, all at once, so that the whole ends by the
/// deadline however many links are dead.
pub fn probe_all(sockets: &mut [SocketReport], deadline: Deadline) {
    let now = Snapshot::now();
    std::thread::scope(|scope| {
        for report in sockets
            .iter_mut()
            .filter(|report| report.state == State::Live)
        {
            let now = now.clone();
            scope.spawn(move || {
                let Some(path) = report.path.clone() else {
                    return;
                };
                let (fresh, client) = classify::classify_active(&path, deadline);
                report.relook(fresh);
                if let Some(mut client) = client {
                    probe(&mut client, report, deadline, now, None);
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn snapshot(boottime_s: u64, monotonic_s: u64, network: &str) -> Snapshot {
        Snapshot {
            booted_at: 1_000_000,
            boottime_ns: boottime_s * SECOND,
            monotonic_ns: monotonic_s * SECOND,
            network: network.into(),
        }
    }

    #[test]
    fn nothing_changed_is_no_doubt() {
        let then = snapshot(100, 100, "home");
        assert_eq!(doubt(Some(&then), None, &snapshot(160, 160, "home")), None);
    }

    #[test]
    fn a_suspend_a_new_network_or_a_long_idle_is_doubt() {
        let then = snapshot(100, 100, "home");
        let suspended = doubt(Some(&then), None, &snapshot(1000, 130, "home")).unwrap();
        assert!(suspended.contains("suspended for 14m"), "{suspended}");
        let moved = doubt(Some(&then), None, &snapshot(130, 130, "office")).unwrap();
        assert!(moved.contains("network changed"), "{moved}");
        let idle = doubt(Some(&then), None, &snapshot(800, 800, "home")).unwrap();
        assert!(idle.contains("11m ago"), "{idle}");
    }

    #[test]
    fn unknown_masters_are_trusted_only_while_young() {
        let now = snapshot(100, 100, "home");
        assert_eq!(doubt(None, Some(Duration::from_secs(5)), &now), None);
        assert!(doubt(None, Some(Duration::from_secs(300)), &now).is_some());
        assert!(doubt(None, None, &now).is_some());
        // A record from another boot says nothing about this one.
        let other_boot = Snapshot {
            booted_at: 2_000_000,
            ..snapshot(50, 50, "home")
        };
        assert!(doubt(Some(&other_boot), Some(Duration::from_secs(300)), &now).is_some());
    }
}
