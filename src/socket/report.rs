//! The contract's types: a socket's state and the reason for it, where it was found, why its
//! link was (or was not) proved, what a repair did, and the report that carries them all. The
//! JSON view (output::json) and the reference's tables are made from, or tested against, these.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::platform::Link;
use crate::socket::fsentry::FileInfo;
use crate::support::text::Name;

/// A control socket's state: the contract's closed set (CONTRACT.md), each with its meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Live,
    Stale,
    Hung,
    Unreachable,
    Foreign,
    Orphan,
    Absent,
    Disabled,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Live,
        State::Stale,
        State::Hung,
        State::Unreachable,
        State::Foreign,
        State::Orphan,
        State::Absent,
        State::Disabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Live => "live",
            State::Stale => "stale",
            State::Hung => "hung",
            State::Unreachable => "unreachable",
            State::Foreign => "foreign",
            State::Orphan => "orphan",
            State::Absent => "absent",
            State::Disabled => "disabled",
        }
    }

    /// What the state means, in the words of the reference's table of states and of the man
    /// page (Markdown: the man page drops the code quotes). The one place it is written.
    pub fn meaning(self) -> &'static str {
        match self {
            State::Live => {
                "An OpenSSH master answered (`check`), or an ssh process listens on it and is \
                 running (`status`)."
            }
            State::Stale => "The socket file exists and nothing listens on it.",
            State::Hung => {
                "The master does not answer: its process is stopped, or it gave no mux answer \
                 before the timeout."
            }
            State::Unreachable => {
                "(`--probe`) The master answers, but a round trip through it to the server did \
                 not complete before the timeout: its link is dead."
            }
            State::Foreign => {
                "Not your own OpenSSH control socket: another owner, not a socket, a symlink \
                 (never followed), a listener that does not speak the mux protocol, or one held \
                 by anything but an ssh process of yours (even if it answers as a master). \
                 Reported, never touched."
            }
            State::Orphan => {
                "(`status`, `clean`, `reset --all`) A master still running whose ControlPath no \
                 longer leads to it (deleted or replaced). When it exits it unlinks that path by \
                 name, possibly a newer master's socket."
            }
            State::Absent => "(`check`) Nothing at the destination's ControlPath.",
            State::Disabled => {
                "(`check`) Connection sharing is off (`ControlPath none`, or `ControlMaster no` \
                 with no socket)."
            }
        }
    }

    /// Whether ssh can go ahead with the socket as it is: a master that answered, or none
    /// there (ssh makes one), or sharing off.
    pub fn lets_ssh_go_ahead(self) -> bool {
        matches!(self, State::Live | State::Absent | State::Disabled)
    }

    /// Whether a repair clears it: a stale socket is removed, a dead master ended.
    pub fn is_broken(self) -> bool {
        matches!(self, State::Stale | State::Hung | State::Unreachable)
    }

    /// Whether a master behind it is to be ended to repair it: hung, or its link dead.
    pub fn is_dead_master(self) -> bool {
        matches!(self, State::Hung | State::Unreachable)
    }

    /// Whether a master process is behind it, answering or not.
    pub fn has_master(self) -> bool {
        matches!(
            self,
            State::Live | State::Hung | State::Unreachable | State::Orphan
        )
    }
}

/// Why a socket has its state: a closed set of codes that scripts can match on (`detail` says the
/// same for people). Each reason belongs to exactly one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// live: the master answered the mux protocol's alive check.
    Answered,
    /// live: an ssh process of yours listens on it, running (seen without connecting).
    Listening,
    /// live: a round trip through the master to its server completed.
    RoundTrip,
    /// live: not looked into, on a system without a passive table of listeners.
    NotExamined,
    /// stale: nothing listens on it (a connect is refused).
    NoListener,
    /// hung: the master process is stopped.
    MasterStopped,
    /// hung: the listener accepted but gave no mux answer before the deadline.
    NoMuxAnswer,
    /// hung: the listener's accept queue is full.
    AcceptQueueFull,
    /// unreachable: the master answered, but no round trip to the server completed in time.
    ProbeTimeout,
    /// foreign: a socket of another user's.
    OtherOwner,
    /// foreign: a symlink (never followed).
    Symlink,
    /// foreign: a regular file, a directory or another kind of file.
    NotASocket,
    /// foreign: the path cannot be inspected.
    CannotInspect,
    /// foreign: a process that is not ssh listens on it.
    NotSsh,
    /// foreign: something listens on it, but no process of yours.
    NoSshOfYours,
    /// foreign: the listener does not speak the mux protocol (or not as a master does).
    NotMux,
    /// foreign: connecting to it fails in some other way.
    CannotConnect,
    /// orphan: the master runs on, but its socket file was deleted.
    SocketDeleted,
    /// orphan: the master runs on, but another file took its socket's place.
    SocketReplaced,
    /// absent: nothing at the path.
    NothingThere,
    /// disabled: ControlPath none.
    ControlPathNone,
    /// disabled: ControlMaster no, and no master runs.
    ControlMasterNo,
}

impl Reason {
    /// The state this reason is a reason for.
    pub fn state(self) -> State {
        match self {
            Reason::Answered | Reason::Listening | Reason::RoundTrip | Reason::NotExamined => {
                State::Live
            }
            Reason::NoListener => State::Stale,
            Reason::MasterStopped | Reason::NoMuxAnswer | Reason::AcceptQueueFull => State::Hung,
            Reason::ProbeTimeout => State::Unreachable,
            Reason::OtherOwner
            | Reason::Symlink
            | Reason::NotASocket
            | Reason::CannotInspect
            | Reason::NotSsh
            | Reason::NoSshOfYours
            | Reason::NotMux
            | Reason::CannotConnect => State::Foreign,
            Reason::SocketDeleted | Reason::SocketReplaced => State::Orphan,
            Reason::NothingThere => State::Absent,
            Reason::ControlPathNone | Reason::ControlMasterNo => State::Disabled,
        }
    }
}

/// What a repair did to a socket, or why it did nothing: a closed set of codes, beside
/// `action` in the JSON of `check --fix` and `clean`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The stale socket file was removed.
    Removed,
    /// It was gone before the repair got to it.
    AlreadyGone,
    /// A new socket had taken its place: that one was left alone.
    ReplacedLeftAlone,
    /// The master stopped listening and removed its socket; it exits when its sessions end.
    StoppedListening,
    /// The master exited when asked (TERMINATE, or SIGTERM).
    Ended,
    /// The master was killed (SIGKILL).
    Killed,
    /// Not the user's own control socket: never touched.
    NotTouched,
    /// The repair was tried and could not be done (`detail` says why).
    Failed,
}

/// Why a live master's link was proved with a round trip, or why that was not needed: a closed
/// set of codes, beside `reason` where a decision was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeDecision {
    /// Asked for: `--probe`, or `MUXGUARD_PROBE=always`.
    Asked,
    /// The kernel shows data to the server unacknowledged and retransmitted, or the
    /// connection closing.
    LinkTrouble,
    /// The machine was suspended since the master was last seen working.
    Suspended,
    /// The machine's network changed since then.
    NetworkChanged,
    /// The server has been silent for longer than `MUXGUARD_PROBE_AFTER`.
    ServerSilent,
    /// Where the kernel tells nothing (a ProxyCommand): not seen working for 10 minutes.
    LongIdle,
    /// Where the kernel tells nothing: never seen working, and not young.
    NeverSeenWorking,
    /// Not probed: the kernel shows the server spoke recently, and nothing else is in doubt.
    ServerHeard,
    /// Not probed: seen working lately (where the kernel tells nothing).
    SeenWorking,
    /// Not probed: made a moment ago (where the kernel tells nothing).
    Young,
    /// Not probed: with ControlMaster ask, the master would ask the user to confirm.
    WouldAsk,
}

impl ProbeDecision {
    /// Whether it calls for a round trip.
    pub fn probes(self) -> bool {
        !matches!(
            self,
            ProbeDecision::ServerHeard
                | ProbeDecision::SeenWorking
                | ProbeDecision::Young
                | ProbeDecision::WouldAsk
        )
    }
}

/// Where discovery found a socket: a closed set of codes, `found` in the JSON of `status`,
/// `clean` and `reset --all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Found {
    /// A ControlPath of the ssh config names it.
    Config,
    /// In Ansible's `~/.ansible/cp`.
    Ansible,
    /// In a directory named with `--dir`.
    Dir,
    /// A path an earlier `check` resolved.
    Resolved,
    /// An ssh process of the user's listens on it (or did, and it is remembered): a
    /// ControlPath given on ssh's command line (Emacs TRAMP, git-annex, scripts).
    Process,
}

/// What classification found about one socket: its state and why, the evidence for it, and
/// what a repair needs to act safely. The JSON view is made from it by `output::json`.
#[derive(Debug, Clone)]
pub struct SocketReport {
    pub path: Option<PathBuf>,
    pub state: State,
    /// Why it has its state.
    pub reason: Reason,
    /// The master process (or the listener's, when it is not a master).
    pub pid: Option<i32>,
    pub destination: Option<Name>,
    pub alias: Option<Name>,
    /// Where discovery found it.
    pub found: Option<Found>,
    pub age_s: Option<u64>,
    /// The reason in words, for people.
    pub detail: String,
    /// Milliseconds a round trip through the master to the server took, when it was probed.
    pub round_trip_ms: Option<f64>,
    /// Why its link was proved, or not, where that was decided.
    pub probe: Option<ProbeDecision>,
    /// What the kernel says of a live master's connection to its server, where it was asked.
    pub link: Option<Link>,
    /// The file that was classified, so that a repair can make sure it acts on that same file.
    pub file: Option<FileInfo>,
    /// The listening socket's inode, to find and verify the master process.
    pub listener: Option<u64>,
}

impl SocketReport {
    pub fn new(path: Option<PathBuf>, reason: Reason, detail: impl Into<String>) -> Self {
        SocketReport {
            path,
            state: reason.state(),
            reason,
            pid: None,
            destination: None,
            alias: None,
            found: None,
            age_s: None,
            detail: detail.into(),
            round_trip_ms: None,
            probe: None,
            link: None,
            file: None,
            listener: None,
        }
    }

    pub(super) fn for_file(
        path: &Path,
        info: &FileInfo,
        reason: Reason,
        detail: impl Into<String>,
    ) -> Self {
        SocketReport {
            age_s: info.age().map(|age| age.as_secs()),
            file: Some(*info),
            ..SocketReport::new(Some(path.to_path_buf()), reason, detail)
        }
    }

    /// The same socket, with the destination and the name the user knows it by: attached
    /// where they are learnt (discovery, `ssh -G`), and kept through every later look.
    pub fn named(self, destination: Option<Name>, alias: Option<Name>) -> Self {
        SocketReport {
            destination,
            alias,
            ..self
        }
    }

    /// Takes what a fresh look at the same socket found, keeping its names and where it was
    /// found, and what the kernel said of its master's link if it is the same master.
    pub fn relook(&mut self, fresh: SocketReport) {
        let (destination, alias) = (self.destination.take(), self.alias.take());
        let link = self.link.take().filter(|_| fresh.pid == self.pid);
        let found = self.found;
        *self = fresh.named(destination, alias);
        self.link = link;
        self.found = found;
    }

    /// Gives the socket another state, for `reason`, with what is known of it so far.
    pub fn recast(&mut self, reason: Reason, detail: String) {
        self.state = reason.state();
        self.reason = reason;
        self.detail = detail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REASONS: [Reason; 22] = [
        Reason::Answered,
        Reason::Listening,
        Reason::RoundTrip,
        Reason::NotExamined,
        Reason::NoListener,
        Reason::MasterStopped,
        Reason::NoMuxAnswer,
        Reason::AcceptQueueFull,
        Reason::ProbeTimeout,
        Reason::OtherOwner,
        Reason::Symlink,
        Reason::NotASocket,
        Reason::CannotInspect,
        Reason::NotSsh,
        Reason::NoSshOfYours,
        Reason::NotMux,
        Reason::CannotConnect,
        Reason::SocketDeleted,
        Reason::SocketReplaced,
        Reason::NothingThere,
        Reason::ControlPathNone,
        Reason::ControlMasterNo,
    ];

    const OUTCOMES: [Outcome; 8] = [
        Outcome::Removed,
        Outcome::AlreadyGone,
        Outcome::ReplacedLeftAlone,
        Outcome::StoppedListening,
        Outcome::Ended,
        Outcome::Killed,
        Outcome::NotTouched,
        Outcome::Failed,
    ];

    /// A code as JSON shows it.
    fn code(value: impl Serialize) -> String {
        serde_json::to_value(value)
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The rows of the README's table under `heading`, each its first `columns` cells.
    fn readme_table(heading: &str, columns: usize) -> Vec<Vec<String>> {
        crate::readme::table(heading)
            .into_iter()
            .skip(1)
            .map(|row| row[..columns].to_vec())
            .collect()
    }

    /// Every state's meaning is the one the README's table gives (and the man page prints).
    #[test]
    fn the_readme_gives_every_state_its_meaning() {
        let documented: Vec<Vec<String>> = State::ALL
            .iter()
            .map(|&state| vec![state.as_str().to_string(), state.meaning().to_string()])
            .collect();
        let rows: Vec<Vec<String>> = crate::readme::table("### States")
            .into_iter()
            .skip(1)
            .collect();
        assert_eq!(rows, documented);
    }

    /// The README's tables are the documentation of the closed sets: every code is there (a
    /// reason with its state), and nothing else is.
    #[test]
    fn the_readme_lists_every_reason_with_its_state() {
        let documented: Vec<Vec<String>> = REASONS
            .iter()
            .map(|&reason| vec![code(reason), reason.state().as_str().to_string()])
            .collect();
        assert_eq!(readme_table("#### Reasons", 2), documented);
    }

    const PROBE_DECISIONS: [ProbeDecision; 11] = [
        ProbeDecision::Asked,
        ProbeDecision::LinkTrouble,
        ProbeDecision::Suspended,
        ProbeDecision::NetworkChanged,
        ProbeDecision::ServerSilent,
        ProbeDecision::LongIdle,
        ProbeDecision::NeverSeenWorking,
        ProbeDecision::ServerHeard,
        ProbeDecision::SeenWorking,
        ProbeDecision::Young,
        ProbeDecision::WouldAsk,
    ];

    #[test]
    fn the_readme_lists_every_probe_decision_and_whether_it_probes() {
        let documented: Vec<Vec<String>> = PROBE_DECISIONS
            .iter()
            .map(|&decision| {
                let probes = if decision.probes() { "yes" } else { "no" };
                vec![code(decision), probes.to_string()]
            })
            .collect();
        let heading = "### Dead links: `--probe` and `MUXGUARD_PROBE`";
        assert_eq!(readme_table(heading, 2), documented);
    }

    #[test]
    fn the_readme_lists_every_place_a_socket_is_found() {
        let places = [
            Found::Config,
            Found::Ansible,
            Found::Dir,
            Found::Resolved,
            Found::Process,
        ];
        let documented: Vec<Vec<String>> = places.iter().map(|&found| vec![code(found)]).collect();
        let heading = "### `muxguard status [--probe] [--json] [-F FILE] [--dir DIR]...`";
        assert_eq!(readme_table(heading, 1), documented);
    }

    #[test]
    fn the_readme_lists_every_outcome() {
        let documented: Vec<Vec<String>> = OUTCOMES
            .iter()
            .map(|&outcome| vec![code(outcome)])
            .collect();
        assert_eq!(readme_table("#### Outcomes", 1), documented);
    }
}
