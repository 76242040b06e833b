//! What `watch` does: it sleeps in the kernel until something may have killed the links of the
//! user's masters (a change of network, a resume from suspend, trouble the kernel sees on a
//! link), then proves the links of the masters that may have been hit, ends the dead and the
//! hung ones, and removes stale sockets. Between those moments it connects to no live master:
//! each connection would restart a ControlPersist countdown.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};

use crate::engine::survey;
use crate::error::{Error, Result};
use crate::link::netstate::{self, Clocks};
use crate::link::probe;
use crate::platform::{self, Link};
use crate::repair::{self, Action, Repair};
use crate::socket::report::{ProbeDecision, SocketReport, State};
use crate::support::deadline::Deadline;
use crate::support::durations;
use crate::support::environment::PROBE_AFTER;
use crate::support::watchdog;

/// Addresses come and go in bursts while a network is joined: a round starts once the changes
/// have been quiet this long...
const SETTLE: Duration = Duration::from_secs(2);
/// ...and after a resume, once the network had time to come back.
const RESUME_SETTLE: Duration = Duration::from_secs(5);
/// However long the burst lasts, a round starts this long after its first change.
const SETTLE_LIMIT: Duration = Duration::from_secs(15);
/// How often the clocks are compared to notice a resume: a wake-up costs microseconds.
const CLOCK_CHECK: Duration = Duration::from_secs(5);
/// How often, at most, the kernel's view of every master's link is read.
const READ_EVERY: Duration = Duration::from_secs(30);
/// How often, at least: a shorter MUXGUARD_PROBE_AFTER reads more often, half of it.
const READ_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// What the watcher looks at, and how long each round may take.
pub struct WatchSettings {
    pub config: Option<PathBuf>,
    pub dirs: Vec<PathBuf>,
    /// For the probes of a round, and again for the repairs.
    pub timeout: Duration,
    /// How long a server may leave what a master sent it unanswered (MUXGUARD_PROBE_AFTER).
    pub silence: Duration,
    /// Where the rounds are read (`watch --json`'s stdout): the watch ends the moment its
    /// reader goes away (`muxguard watch --json | head -n 1`), not at the next line it writes.
    pub reader: Option<OwnedFd>,
}

/// What started a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    NetworkChanged,
    Resumed,
    /// The kernel shows trouble on the links of some masters.
    LinkTrouble,
    /// Stale sockets were found where the links were read; nothing was probed.
    Stale,
    /// Masters were seen stopped for longer than MUXGUARD_PROBE_AFTER, in no terminal.
    Hung,
}

impl Trigger {
    /// The event as the JSON names it.
    pub fn code(self) -> &'static str {
        match self {
            Trigger::NetworkChanged => "network-changed",
            Trigger::Resumed => "resumed",
            Trigger::LinkTrouble => "link-trouble",
            Trigger::Stale => "stale",
            Trigger::Hung => "hung",
        }
    }
}

/// One round: what started it, and every socket it probed or acted on.
pub struct Round {
    pub trigger: Trigger,
    /// The trigger in words.
    pub why: String,
    /// How many live masters' links were proved, and how many of those answered.
    pub probed: usize,
    pub answered: usize,
    pub sockets: Vec<Healed>,
}

/// A socket probed or acted on in a round.
pub struct Healed {
    pub socket: SocketReport,
    pub action: Action,
    pub repair: Option<Repair>,
}

impl Round {
    /// How many sockets the round left with `action`.
    pub fn count(&self, action: Action) -> usize {
        self.sockets.iter().filter(|h| h.action == action).count()
    }

    /// The repairs that could not clear the way.
    pub fn failed(&self) -> usize {
        let failed = |h: &&Healed| h.repair.as_ref().is_some_and(|r| !r.cleared());
        self.sockets.iter().filter(failed).count()
    }
}

/// A burst of changes being waited out.
#[derive(Debug, Clone, Copy)]
struct Settling {
    since: Instant,
    until: Instant,
    /// Time spent suspended, when a resume is among the changes.
    suspended: Option<Duration>,
}

impl Settling {
    /// The burst under way (if any) with a change noted now: the round waits until changes
    /// have been quiet for `quiet`, within the limit.
    fn noted(under_way: Option<Settling>, quiet: Duration, suspended: Option<Duration>) -> Self {
        let now = Instant::now();
        let mut settling = under_way.unwrap_or(Settling {
            since: now,
            until: now,
            suspended: None,
        });
        settling.until = settling
            .until
            .max(now + quiet)
            .min(settling.since + SETTLE_LIMIT);
        settling.suspended = match (settling.suspended, suspended) {
            (Some(before), Some(now)) => Some(before + now),
            (before, now) => before.or(now),
        };
        settling
    }
}

/// What a hung master is known by between reads: its path and pid.
fn hung_key(socket: &SocketReport) -> Option<(PathBuf, i32)> {
    Some((socket.path.clone()?, socket.pid?))
}

/// How often the links are read, for a server allowed `silence`: half of it, within bounds.
fn read_every(silence: Duration) -> Duration {
    (silence / 2).clamp(READ_AT_MOST_EVERY, READ_EVERY)
}

pub struct Watcher {
    settings: WatchSettings,
    changes: OwnedFd,
    clocks: Clocks,
    network: String,
    settling: Option<Settling>,
    next_read: Instant,
    read_every: Duration,
    /// Why the last look failed, when it did: said once.
    failing: Option<String>,
    /// The masters seen stopped (in no terminal) at the reads of the links, by path and pid,
    /// and since when.
    hung_since: HashMap<(PathBuf, i32), Instant>,
    /// The processes that hold the live masters' TCP connections (the masters, the masters
    /// that carry others, ProxyCommands), as the last read saw them: between reads, those
    /// connections alone are looked at every CLOCK_CHECK, so that a flow that died shows
    /// within seconds, not at the next read.
    flow_holders: Vec<i32>,
}

impl Watcher {
    /// Starts listening for changes of network; the first read of the links is at once. A
    /// search that cannot be made (an ssh config ssh would refuse) is refused now.
    pub fn new(settings: WatchSettings) -> Result<Watcher> {
        survey::survey(settings.config.as_deref(), &settings.dirs)?;
        let changes = platform::network_changes()
            .map_err(|error| Error::Failed(format!("cannot watch the network: {error}")))?;
        let read_every = read_every(settings.silence);
        Ok(Watcher {
            settings,
            changes,
            clocks: Clocks::now(),
            network: netstate::network_fingerprint(),
            settling: None,
            next_read: Instant::now(),
            read_every,
            failing: None,
            hung_since: HashMap::new(),
            flow_holders: Vec::new(),
        })
    }

    /// Sleeps until there is something to do, does it, and says what was done; or why it could
    /// not look (`Error::Environment`: an ssh config being edited), once for as long as that lasts.
    /// `None` once the reader of the rounds has gone away.
    pub fn next_round(&mut self) -> Result<Option<Round>> {
        loop {
            let now = Instant::now();
            let mut wake = (now + CLOCK_CHECK).min(self.next_read);
            if let Some(settling) = self.settling {
                wake = wake.min(settling.until);
            }
            let Some(changed) = self
                .sleep_until(wake)
                .map_err(|error| Error::Failed(format!("cannot watch the network: {error}")))?
            else {
                return Ok(None);
            };
            if changed {
                self.settling = Some(Settling::noted(self.settling, SETTLE, None));
            }
            let clocks = Clocks::now();
            let suspended = self.clocks.suspended_until(&clocks);
            self.clocks = clocks;
            if suspended > probe::SUSPEND {
                let settling = Settling::noted(self.settling, RESUME_SETTLE, Some(suspended));
                self.settling = Some(settling);
            }
            if let Some(settling) = self.settling.filter(|s| Instant::now() >= s.until) {
                self.settling = None;
                let network = netstate::network_fingerprint();
                let moved = network != self.network;
                self.network = network;
                let (trigger, why) = match settling.suspended {
                    Some(suspended) => (
                        Trigger::Resumed,
                        format!(
                            "the machine resumed after {:.0}s suspended",
                            suspended.as_secs_f64()
                        ),
                    ),
                    // Changes that leave every address as it was (a loopback address, a link
                    // that blinked) cut no link.
                    None if !moved => continue,
                    None => (Trigger::NetworkChanged, "the network changed".to_string()),
                };
                // The round looks at every master: the next read can wait.
                self.next_read = Instant::now() + self.read_every;
                let round = self.guarded(|watcher| watcher.round(trigger, why));
                match self.quiet_repeats(round.map(Some))? {
                    Some(round) => return Ok(Some(round)),
                    None => continue,
                }
            }
            if Instant::now() >= self.next_read || self.a_flow_in_trouble() {
                self.next_read = Instant::now() + self.read_every;
                let read = self.guarded(Self::read_links);
                if let Some(round) = self.quiet_repeats(read)? {
                    return Ok(Some(round));
                }
            }
        }
    }

    /// Sleeps until `wake`, or until the network changes (`Some(true)`), or until the reader
    /// of the rounds goes away (`None`): the write end of a pipe whose reader closed polls as
    /// an error, a socket or terminal hung up as a hang-up, whatever events were asked for.
    fn sleep_until(&self, wake: Instant) -> std::io::Result<Option<bool>> {
        let mut fds = vec![PollFd::new(self.changes.as_fd(), PollFlags::POLLIN)];
        let reader = self.settings.reader.as_ref();
        fds.extend(reader.map(|fd| PollFd::new(fd.as_fd(), PollFlags::empty())));
        let woken = Deadline::after(wake.saturating_duration_since(Instant::now()))
            .wait_for_any(&mut fds)?;
        let gone = PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL;
        if fds[1..]
            .iter()
            .any(|fd| fd.revents().is_some_and(|revents| revents.intersects(gone)))
        {
            return Ok(None);
        }
        let readable = fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        Ok(Some(
            woken && readable && platform::drain_changes(&self.changes)?,
        ))
    }

    /// A look's outcome, less a failure to look that was said already: while an ssh config is
    /// being edited, every read fails the same way. A look that works forgets the failure.
    fn quiet_repeats(&mut self, looked: Result<Option<Round>>) -> Result<Option<Round>> {
        match looked {
            Err(Error::Environment(why)) if self.failing.as_ref() == Some(&why) => Ok(None),
            Err(Error::Environment(why)) => {
                self.failing = Some(why.clone());
                Err(Error::Environment(why))
            }
            looked => {
                self.failing = None;
                looked
            }
        }
    }

    /// Does `work` (a look, and the round it may lead to) under a watchdog: whatever keeps it
    /// past its probes' and its repairs' deadlines ends the watcher, for the service manager to
    /// start again.
    fn guarded<T>(&mut self, work: impl FnOnce(&mut Self) -> T) -> T {
        let budget = self.settings.timeout * 2 + watchdog::WATCHDOG_GRACE;
        watchdog::arm(budget, "a round's --timeout twice");
        let done = work(self);
        watchdog::disarm();
        done
    }

    /// Whether the kernel shows trouble on the connection of a master the last read saw
    /// holding one (a few system calls a master, no search): the links are then read now.
    fn a_flow_in_trouble(&self) -> bool {
        let silence = self.settings.silence;
        platform::links(&self.flow_holders)
            .values()
            .any(|link| probe::kernel_doubt(Some(link), silence).is_some())
    }

    /// Reads the kernel's view of every master's link, without connecting to any: a round for
    /// the masters in trouble, or for stale sockets alone, when there are any.
    fn read_links(&mut self) -> Result<Option<Round>> {
        let sockets = survey::survey(self.settings.config.as_deref(), &self.settings.dirs)?;
        self.flow_holders = sockets
            .iter()
            .filter(|socket| socket.state == State::Live)
            .filter(|socket| matches!(socket.link, Some(Link::Tcp(_))))
            .filter_map(|socket| socket.flow_holder.or(socket.pid))
            .collect();
        self.flow_holders.sort_unstable();
        self.flow_holders.dedup();
        let silence = self.settings.silence;
        let in_trouble =
            move |socket: &SocketReport| probe::kernel_doubt(socket.link.as_ref(), silence);
        let troubled = sockets
            .iter()
            .any(|socket| socket.state == State::Live && in_trouble(socket).is_some());
        let stale = sockets.iter().any(|socket| socket.state == State::Stale);
        let long_hung = self.hung_for_long(&sockets);
        if !troubled && !stale && long_hung.is_empty() {
            return Ok(None);
        }
        let (trigger, why) = if troubled {
            let words = "the kernel shows trouble on the link of a master".to_string();
            (Trigger::LinkTrouble, words)
        } else if !long_hung.is_empty() {
            let words = format!(
                "masters were stopped for longer than {} ({})",
                PROBE_AFTER.name,
                durations::short(silence.as_secs())
            );
            (Trigger::Hung, words)
        } else {
            (Trigger::Stale, "stale sockets were found".to_string())
        };
        let end_hung =
            |socket: &SocketReport| hung_key(socket).is_some_and(|key| long_hung.contains(&key));
        self.heal(trigger, why, sockets, end_hung, in_trouble)
            .map(Some)
    }

    /// The masters seen stopped, in no terminal, at every read for longer than
    /// MUXGUARD_PROBE_AFTER: git, Ansible and TRAMP would wait on them for ever. One its user
    /// suspended in a terminal (Ctrl-Z) is theirs to resume.
    fn hung_for_long(&mut self, sockets: &[SocketReport]) -> Vec<(PathBuf, i32)> {
        let now = Instant::now();
        let hung: Vec<(PathBuf, i32)> = sockets
            .iter()
            .filter(|socket| {
                socket.state == State::Hung && socket.suspended_in_a_terminal().is_none()
            })
            .filter_map(hung_key)
            .collect();
        self.hung_since.retain(|key, _| hung.contains(key));
        hung.into_iter()
            .filter(|key| {
                let since = *self.hung_since.entry(key.clone()).or_insert(now);
                now.duration_since(since) >= self.settings.silence
            })
            .collect()
    }

    /// A round for an event that may have hit every master: each live one is proved, and the
    /// stopped ones are ended too.
    fn round(&mut self, trigger: Trigger, why: String) -> Result<Round> {
        let sockets = survey::survey(self.settings.config.as_deref(), &self.settings.dirs)?;
        let decision = match trigger {
            Trigger::Resumed => ProbeDecision::Suspended,
            _ => ProbeDecision::NetworkChanged,
        };
        let words = why.clone();
        self.heal(
            trigger,
            why,
            sockets,
            |_| true,
            move |_| Some((decision, words.clone())),
        )
    }

    /// Proves the links `reason` gives a reason for, under one deadline; then ends the hung and
    /// unreachable masters and removes the stale sockets, all at once, under another. A master
    /// seen stopped without a connection is ended only if `end_hung` says so, and never one
    /// suspended in a terminal (Ctrl-Z on a foreground ssh: its user resumes it).
    fn heal(
        &self,
        trigger: Trigger,
        why: String,
        sockets: Vec<SocketReport>,
        end_hung: impl Fn(&SocketReport) -> bool,
        reason: impl Fn(&SocketReport) -> Option<(ProbeDecision, String)> + Sync,
    ) -> Result<Round> {
        let timeout = self.settings.timeout;
        // Only the live masters given a reason are connected to; the others stay as seen.
        let (mut chosen, rest): (Vec<_>, Vec<_>) = sockets
            .into_iter()
            .partition(|socket| socket.state == State::Live && reason(socket).is_some());

        survey::prove_links(&mut chosen, Deadline::after(timeout), reason);
        let probed = chosen.len();
        let answered = chosen.iter().filter(|s| s.state == State::Live).count();
        let also = |socket: &SocketReport| match socket.state {
            State::Stale => true,
            State::Hung => end_hung(socket) && socket.suspended_in_a_terminal().is_none(),
            _ => false,
        };
        let candidates: Vec<SocketReport> = chosen
            .into_iter()
            .chain(rest.into_iter().filter(also))
            .collect();
        let deadline = Deadline::after(timeout);
        let sockets = repair::in_parallel(candidates, repair::waits, |socket| {
            socket
                .state
                .is_broken()
                .then(|| repair::repair(socket, deadline))
        })
        .into_iter()
        .map(|(socket, repair)| Healed {
            action: match &repair {
                Some(repair) if repair.action != Action::None => repair.action,
                _ => Action::Kept,
            },
            socket,
            repair,
        })
        .collect();
        Ok(Round {
            trigger,
            why,
            probed,
            answered,
            sockets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst of changes is waited out until it has been quiet, but never past the limit; a
    /// resume within it makes the round a resume's.
    #[test]
    fn bursts_of_changes_settle_within_the_limit() {
        let first = Settling::noted(None, SETTLE, None);
        assert!(first.until - first.since >= SETTLE);
        assert_eq!(first.suspended, None);
        let long_under_way = Settling {
            since: first.since - SETTLE_LIMIT,
            ..first
        };
        let resumed = Settling::noted(Some(long_under_way), SETTLE, Some(Duration::from_secs(40)));
        let again = Settling::noted(Some(resumed), RESUME_SETTLE, Some(Duration::from_secs(2)));
        assert!(again.until <= again.since + SETTLE_LIMIT, "{again:?}");
        assert_eq!(again.suspended, Some(Duration::from_secs(42)));
        // Quiet changes push the round later, up to the limit.
        let pushed = Settling::noted(Some(first), RESUME_SETTLE, None);
        assert!(pushed.until > first.until);
    }

    #[test]
    fn the_links_are_read_at_half_the_allowed_silence_within_bounds() {
        assert_eq!(read_every(Duration::from_secs(60)), READ_EVERY);
        assert_eq!(read_every(Duration::from_secs(600)), READ_EVERY);
        assert_eq!(read_every(Duration::from_secs(10)), Duration::from_secs(5));
        assert_eq!(read_every(Duration::from_secs(1)), READ_AT_MOST_EVERY);
    }
}
