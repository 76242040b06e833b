//! Proving the link from a master to its server, and knowing when that is worth a round trip.
//!
//! A master whose TCP link died (suspend, new network, a NAT that dropped an idle connection)
//! still answers ALIVE_CHECK at once, while every new session through it hangs. Only a round
//! trip to the server tells; `auto` spends one only when something suggests the link died.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::link::netstate::Snapshot;
use crate::openssh::mux::{MuxClient, MuxError};
use crate::platform::{self, Link, TcpLink, TcpTiming};
use crate::socket::classify;
use crate::socket::fsentry::FileInfo;
use crate::socket::report::{ProbeDecision, Reason, SocketReport, State};
use crate::support::deadline::Deadline;
use crate::support::durations;
use crate::support::environment::{PROBE, PROBE_AFTER};

/// A master not seen working for this long is probed, when the kernel cannot tell how its link
/// is doing: idle connections are what NATs and firewalls drop silently.
const LONG_IDLE: Duration = Duration::from_secs(10 * 60);
/// A master this young has just authenticated: its link worked a moment ago.
const YOUNG: Duration = Duration::from_secs(60);
/// More time than this spent suspended counts as a suspend.
pub const SUSPEND: Duration = Duration::from_secs(1);
/// Data a master sends this long or more after the server last spoke is waiting for an answer,
/// for `watch`: what it sends sooner answers the server.
const ANSWER_DUE: Duration = Duration::from_secs(1);
/// How long a server may be silent before `auto` proves the link, unless told otherwise.
const SILENCE: Duration = Duration::from_secs(60);

/// When `check` proves the link by itself (`MUXGUARD_PROBE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeMode {
    /// Only when something suggests the link died, or the server has been silent longer than
    /// `silence`.
    Auto {
        silence: Duration,
    },
    Always,
    Never,
}

impl Default for ProbeMode {
    fn default() -> Self {
        ProbeMode::Auto { silence: SILENCE }
    }
}

impl ProbeMode {
    pub fn from_env() -> Result<ProbeMode> {
        let value = PROBE.read().unwrap_or_default();
        match value.to_str() {
            Some("" | "auto") => Ok(ProbeMode::Auto {
                silence: silence_from_env()?,
            }),
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
/// with now and reading what the kernel says of its connection (`link`); the words for the
/// report come with the code. The silence a server is allowed is `silence`.
pub fn doubt(
    seen_working: Option<&Snapshot>,
    socket_age: Option<Duration>,
    link: Option<&Link>,
    silence: Duration,
    now: &Snapshot,
) -> (ProbeDecision, String) {
    let timing = timing_of(link);
    if let Some(trouble) = timing.and_then(trouble) {
        return (ProbeDecision::LinkTrouble, trouble);
    }
    let then = seen_working.filter(|then| then.same_boot(now));
    if let Some(then) = then {
        let suspended = then.clocks().suspended_until(&now.clocks());
        if suspended > SUSPEND {
            let words = format!(
                "the machine was suspended for {} since it was last seen working",
                durations::short((suspended.as_secs_f64().round() as u64).max(1))
            );
            return (ProbeDecision::Suspended, words);
        }
        if now.network != then.network {
            let words = "the network changed since it was last seen working".into();
            return (ProbeDecision::NetworkChanged, words);
        }
    }
    // The kernel knows when the server last spoke: better evidence than any record.
    if let Some(timing) = timing {
        let silent = format!("{:.1}s", timing.silent.as_secs_f64());
        return if timing.silent > silence {
            let words = format!("the server has been silent for {silent}");
            (ProbeDecision::ServerSilent, words)
        } else {
            (
                ProbeDecision::ServerHeard,
                format!("the server spoke {silent} ago"),
            )
        };
    }
    let Some(then) = then else {
        return match socket_age {
            Some(age) if age < YOUNG => (ProbeDecision::Young, "it was made a moment ago".into()),
            _ => (
                ProbeDecision::NeverSeenWorking,
                "it was never seen working".into(),
            ),
        };
    };
    let idle = Duration::from_nanos(now.boottime_ns.saturating_sub(then.boottime_ns));
    let ago = durations::short(idle.as_secs_f64().round() as u64);
    if idle > LONG_IDLE {
        (
            ProbeDecision::LongIdle,
            format!("it was last seen working {ago} ago"),
        )
    } else {
        (
            ProbeDecision::SeenWorking,
            format!("it was seen working {ago} ago"),
        )
    }
}

/// What the kernel shows of a live master's link that is worth a round trip by itself, with
/// nothing else to go on (`watch` reads it between events): retransmitted data or a closing
/// connection, or data the master sent that the server has left unanswered for longer than
/// `silence`. A server merely silent toward an idle master is no clue: a master without
/// ServerAliveInterval hears nothing for hours, and probing it would keep it alive.
pub fn kernel_doubt(link: Option<&Link>, silence: Duration) -> Option<(ProbeDecision, String)> {
    let timing = timing_of(link)?;
    if let Some(trouble) = trouble(timing) {
        return Some((ProbeDecision::LinkTrouble, trouble));
    }
    // What the master sent a moment after the server spoke (the reply that closes a channel)
    // asks for no answer; what it sent a while after (a keepalive, a keystroke) does.
    let unanswered = timing.since_sent + ANSWER_DUE < timing.silent;
    (unanswered && timing.silent > silence).then(|| {
        let words = format!(
            "the server has left what was sent to it unanswered for {:.1}s",
            timing.silent.as_secs_f64()
        );
        (ProbeDecision::ServerSilent, words)
    })
}

fn timing_of(link: Option<&Link>) -> Option<&TcpTiming> {
    match link {
        Some(Link::Tcp(TcpLink {
            timing: Some(timing),
            ..
        })) => Some(timing),
        _ => None,
    }
}

/// What in the kernel's view of a connection says it is failing: data sent and being
/// retransmitted, unacknowledged; data the kernel keeps trying to send and cannot (its timer
/// backed off with nothing in flight: a window the server keeps shut, a route or firewall on
/// the way out that refuses it); or a connection the server is closing. `check` and `watch`
/// read it alike.
fn trouble(timing: &TcpTiming) -> Option<String> {
    if !timing.established {
        return Some("its connection to the server is closing".into());
    }
    let retransmitting = timing.retransmits > 0 || timing.backoff > 0;
    let tries = timing.retransmits.max(timing.backoff);
    if timing.unacked > 0 && retransmitting {
        return Some(format!(
            "the server has not acknowledged {} segment(s) sent to it, retransmitted {tries} time(s)",
            timing.unacked,
        ));
    }
    (timing.backoff > 0)
        .then(|| format!("what is to go to the server cannot be sent: tried again {tries} time(s)"))
}

/// What a live master's link calls for, as `decide` found.
pub enum Decision {
    /// A round trip, for this reason (none when it was asked for), taken at this moment.
    Probe { why: Option<String>, now: Snapshot },
    /// No round trip: the kernel or its youth vouches for a master never seen working, to be
    /// recorded as working now, so that a later suspend is noticed.
    Vouched(Snapshot),
    /// No round trip, and nothing to record.
    Spared,
}

/// Whether a live master's link is worth a round trip now, in `mode`, and why (in
/// `report.probe`). A master that `asks` (ControlMaster ask) is never probed: it would ask the
/// user to confirm the forwarding. `alive_interval` is its ServerAliveInterval, when known;
/// `seen_working` tells when the master at a path, with a pid, was last seen working (asked
/// only when the decision needs it).
pub fn decide<'a>(
    mode: ProbeMode,
    asks: bool,
    alive_interval: Option<Duration>,
    report: &mut SocketReport,
    seen_working: impl FnOnce(&Path, i32) -> Option<&'a Snapshot>,
) -> Decision {
    let silence = match mode {
        _ if report.state != State::Live => return Decision::Spared,
        ProbeMode::Never => return Decision::Spared,
        _ if asks => {
            report.probe = Some(ProbeDecision::WouldAsk);
            if mode == ProbeMode::Always {
                report
                    .detail
                    .push_str("; not probed: ControlMaster ask would ask you to confirm");
            }
            return Decision::Spared;
        }
        ProbeMode::Always => {
            report.probe = Some(ProbeDecision::Asked);
            let now = Snapshot::now();
            return Decision::Probe { why: None, now };
        }
        ProbeMode::Auto { silence } => silence,
    };
    // A server that answers every ServerAliveInterval is silent for one interval at times.
    let silence = silence.max(alive_interval.unwrap_or_default() * 2);
    let now = Snapshot::now();
    let (Some(path), Some(pid)) = (report.path.clone(), report.pid) else {
        return Decision::Spared;
    };
    if report.link.is_none() {
        report.link = platform::links(&[pid]).remove(&pid);
    }
    let seen_working = seen_working(&path, pid);
    let age = report.file.as_ref().and_then(FileInfo::age);
    let (decision, why) = doubt(seen_working, age, report.link.as_ref(), silence, &now);
    report.probe = Some(decision);
    match decision.probes() {
        true => Decision::Probe {
            why: Some(why),
            now,
        },
        false if seen_working.is_none() => Decision::Vouched(now),
        false => Decision::Spared,
    }
}

/// Sends a round trip through a live master to its server, bounded by `deadline`. The report
/// stays live with its round-trip time (reason `round-trip`: the master is to be recorded as
/// seen working), or becomes unreachable. `why` says what made it worth it, for the report.
pub fn probe(
    client: &mut MuxClient,
    report: &mut SocketReport,
    deadline: Deadline,
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
/// deadline however many links are dead. `reason` says why a master's link is proved, for its
/// report; a master it gives none for was asked to be (`--probe`).
pub fn probe_all(
    sockets: &mut [SocketReport],
    deadline: Deadline,
    reason: impl Fn(&SocketReport) -> Option<(ProbeDecision, String)> + Sync,
) {
    let reason = &reason;
    std::thread::scope(|scope| {
        for report in sockets
            .iter_mut()
            .filter(|report| report.state == State::Live)
        {
            scope.spawn(move || {
                let Some(path) = report.path.clone() else {
                    return;
                };
                let (decision, why) = reason(report).unzip();
                let (fresh, client) = classify::classify_active(&path, deadline);
                report.relook(fresh);
                if let Some(mut client) = client {
                    report.probe = Some(decision.unwrap_or(ProbeDecision::Asked));
                    probe(&mut client, report, deadline, why.as_deref());
                }
            });
        }
    });
}

/// How long a server may be silent before `auto`, and `watch`, prove the link
/// (MUXGUARD_PROBE_AFTER).
pub fn silence_from_env() -> Result<Duration> {
    match PROBE_AFTER.read() {
        None => Ok(SILENCE),
        Some(value) => durations::parse_silence(&value.to_string_lossy())
            .map_err(|why| Error::Usage(format!("{}: {why}", PROBE_AFTER.name))),
    }
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

    /// `doubt` where the kernel tells nothing of the link, with a minute of silence allowed.
    fn blind(seen: Option<&Snapshot>, age: Option<Duration>, now: &Snapshot) -> ProbeDecision {
        doubt(seen, age, None, Duration::from_secs(60), now).0
    }

    fn tcp(silent_s: u64, unacked: u32, retransmits: u8) -> Link {
        sent(silent_s, silent_s * 1000, unacked, retransmits)
    }

    /// A connection whose master last sent data `since_sent_ms` ago.
    fn sent(silent_s: u64, since_sent_ms: u64, unacked: u32, retransmits: u8) -> Link {
        Link::Tcp(TcpLink {
            peer: "10.0.0.5:22".parse().unwrap(),
            timing: Some(TcpTiming {
                established: true,
                retransmits,
                backoff: retransmits,
                unacked,
                silent: Duration::from_secs(silent_s),
                since_sent: Duration::from_millis(since_sent_ms),
                rtt: Duration::from_millis(20),
                bytes_acked: None,
            }),
        })
    }

    #[test]
    fn nothing_changed_is_no_doubt() {
        let then = snapshot(100, 100, "home");
        let decision = blind(Some(&then), None, &snapshot(160, 160, "home"));
        assert_eq!(decision, ProbeDecision::SeenWorking);
        assert!(!decision.probes());
    }

    #[test]
    fn a_suspend_a_new_network_or_a_long_idle_is_doubt() {
        let then = snapshot(100, 100, "home");
        let (decision, words) = doubt(
            Some(&then),
            None,
            None,
            Duration::from_secs(60),
            &snapshot(1000, 130, "home"),
        );
        assert_eq!(decision, ProbeDecision::Suspended);
        assert!(words.contains("suspended for 14m"), "{words}");
        let moved = blind(Some(&then), None, &snapshot(130, 130, "office"));
        assert_eq!(moved, ProbeDecision::NetworkChanged);
        let idle = blind(Some(&then), None, &snapshot(800, 800, "home"));
        assert_eq!(idle, ProbeDecision::LongIdle);
    }

    #[test]
    fn unknown_masters_are_trusted_only_while_young() {
        let now = snapshot(100, 100, "home");
        assert_eq!(
            blind(None, Some(Duration::from_secs(5)), &now),
            ProbeDecision::Young
        );
        let old = Some(Duration::from_secs(300));
        assert_eq!(blind(None, old, &now), ProbeDecision::NeverSeenWorking);
        assert_eq!(blind(None, None, &now), ProbeDecision::NeverSeenWorking);
        // A record from another boot says nothing about this one.
        let other_boot = Snapshot {
            booted_at: 2_000_000,
            ..snapshot(50, 50, "home")
        };
        assert_eq!(
            blind(Some(&other_boot), old, &now),
            ProbeDecision::NeverSeenWorking
        );
    }

    /// Where the kernel shows the connection, its evidence decides: retransmitted data at once,
    /// silence past the limit, and nothing else, however long ago the master was seen working.
    #[test]
    fn the_kernel_view_of_the_link_decides() {
        let minute = Duration::from_secs(60);
        let then = snapshot(100, 100, "home");
        let now = snapshot(5000, 5000, "home");
        let decide = |link: &Link| doubt(Some(&then), None, Some(link), minute, &now);
        assert_eq!(decide(&tcp(3, 0, 0)).0, ProbeDecision::ServerHeard);
        assert_eq!(decide(&tcp(61, 0, 0)).0, ProbeDecision::ServerSilent);
        let (decision, words) = decide(&tcp(1, 2, 3));
        assert_eq!(decision, ProbeDecision::LinkTrouble);
        assert!(words.contains("2 segment(s)"), "{words}");
        // Unacknowledged data not yet retransmitted is a link at work.
        assert_eq!(decide(&tcp(1, 2, 0)).0, ProbeDecision::ServerHeard);
        // Nothing in flight, but the sending timer backed off: it cannot go out.
        let (decision, words) = decide(&tcp(1, 0, 3));
        assert_eq!(decision, ProbeDecision::LinkTrouble);
        assert!(words.contains("cannot be sent"), "{words}");
        // A suspend is noticed even when the kernel, whose clock stopped, saw data just now.
        let woke = snapshot(5000, 200, "home");
        let after_suspend = doubt(Some(&then), None, Some(&tcp(1, 0, 0)), minute, &woke);
        assert_eq!(after_suspend.0, ProbeDecision::Suspended);
        // Through a proxy, as if the kernel told nothing.
        let proxied = doubt(Some(&then), None, Some(&Link::ViaProxy), minute, &now);
        assert_eq!(proxied.0, ProbeDecision::LongIdle);
    }

    /// Between events only the kernel's evidence counts: trouble, or what the master sent left
    /// unanswered past the allowance; an idle master's silent server is no reason to connect.
    #[test]
    fn the_watcher_doubts_a_link_only_on_the_kernels_evidence() {
        let minute = Duration::from_secs(60);
        let doubt = |link: &Link| kernel_doubt(Some(link), minute).map(|(decision, _)| decision);
        assert_eq!(doubt(&tcp(1, 2, 3)), Some(ProbeDecision::LinkTrouble));
        // Silent for an hour, but nothing was sent: an idle master.
        assert_eq!(doubt(&tcp(3600, 0, 0)), None);
        // A keepalive sent 5 s ago, the server silent for 90 s.
        let (decision, words) = kernel_doubt(Some(&sent(90, 5000, 0, 0)), minute).unwrap();
        assert_eq!(decision, ProbeDecision::ServerSilent);
        assert!(words.contains("90.0s"), "{words}");
        // Unanswered, but not yet for long.
        assert_eq!(doubt(&sent(30, 5000, 0, 0)), None);
        // The master's last word came right after the server's (it closed a channel the
        // server closed): nothing waits for an answer, however long the silence.
        assert_eq!(doubt(&sent(90, 89_990, 0, 0)), None);
        assert_eq!(kernel_doubt(Some(&Link::ViaProxy), minute), None);
        assert_eq!(kernel_doubt(None, minute), None);
    }
}
