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
    Answered,
    Listening,
    RoundTrip,
    NotExamined,
    NoListener,
    MasterStopped,
    NoMuxAnswer,
    AcceptQueueFull,
    ProbeTimeout,
    CarrierDead,
    OtherOwner,
    Symlink,
    NotASocket,
    CannotInspect,
    NotSsh,
    NoSshOfYours,
    NotMux,
    CannotConnect,
    SocketDeleted,
    SocketReplaced,
    NothingThere,
    ControlPathNone,
    ControlMasterNo,
}

impl Reason {
    pub const ALL: [Reason; 23] = [
        Reason::Answered,
        Reason::Listening,
        Reason::RoundTrip,
        Reason::NotExamined,
        Reason::NoListener,
        Reason::MasterStopped,
        Reason::NoMuxAnswer,
        Reason::AcceptQueueFull,
        Reason::ProbeTimeout,
        Reason::CarrierDead,
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

    /// What it means: written here, and the reference's table is held to it.
    pub fn meaning(self) -> &'static str {
        match self {
            Reason::Answered => "the master answered the mux protocol's alive check (`check`)",
            Reason::Listening => {
                "a running ssh process of yours listens on it, seen without connecting (`status`, `clean`)"
            }
            Reason::RoundTrip => "probed: a round trip through the master to its server completed",
            Reason::NotExamined => {
                "not looked into: this system has no passive table of listeners (the BSDs)"
            }
            Reason::NoListener => "nothing listens on it: a connect is refused",
            Reason::MasterStopped => "the master process is stopped (SIGSTOP, Ctrl-Z)",
            Reason::NoMuxAnswer => {
                "an ssh of yours listens on it but gave no mux answer before the deadline"
            }
            Reason::AcceptQueueFull => "its listener has stopped accepting connections",
            Reason::ProbeTimeout => {
                "the master answered, but no round trip to its server completed in time"
            }
            Reason::CarrierDead => {
                "the master answered, but the jump host's master that carries its connection is hung or unreachable"
            }
            Reason::OtherOwner => "a socket of another user's",
            Reason::Symlink => "a symlink, never followed",
            Reason::NotASocket => "a regular file, a directory or another kind of file",
            Reason::CannotInspect => {
                "the path cannot be looked at (a name too long, no permission)"
            }
            Reason::NotSsh => "a process that is not ssh listens on it",
            Reason::NoSshOfYours => "something listens on it, but no process of yours",
            Reason::NotMux => "the listener does not speak the mux protocol as a master does",
            Reason::CannotConnect => "connecting to it fails in another way",
            Reason::SocketDeleted => "the master runs on, but its socket file was deleted",
            Reason::SocketReplaced => {
                "the master runs on, but another file took its socket's place"
            }
            Reason::NothingThere => "nothing at the path",
            Reason::ControlPathNone => "`ControlPath none`",
            Reason::ControlMasterNo => "`ControlMaster no`, and no master runs",
        }
    }

    /// The state this reason is a reason for.
    pub fn state(self) -> State {
        match self {
            Reason::Answered | Reason::Listening | Reason::RoundTrip | Reason::NotExamined => {
                State::Live
            }
            Reason::NoListener => State::Stale,
            Reason::MasterStopped | Reason::NoMuxAnswer | Reason::AcceptQueueFull => State::Hung,
            Reason::ProbeTimeout | Reason::CarrierDead => State::Unreachable,
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
    Removed,
    AlreadyGone,
    ReplacedLeftAlone,
    StoppedListening,
    Ended,
    Killed,
    NotTouched,
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Removed,
        Outcome::AlreadyGone,
        Outcome::ReplacedLeftAlone,
        Outcome::StoppedListening,
        Outcome::Ended,
        Outcome::Killed,
        Outcome::NotTouched,
        Outcome::Failed,
    ];

    /// What it means: written here, and the reference's table is held to it.
    pub fn meaning(self) -> &'static str {
        match self {
            Outcome::Removed => "the stale socket file was removed",
            Outcome::AlreadyGone => "it was gone before the repair got to it",
            Outcome::ReplacedLeftAlone => "a new socket had taken its place, and was left alone",
            Outcome::StoppedListening => {
                "the master stopped listening and removed its socket; it exits when its sessions end"
            }
            Outcome::Ended => "the master exited when asked, or at SIGTERM",
            Outcome::Killed => "the master was killed (SIGKILL)",
            Outcome::NotTouched => "not your own control socket: never touched",
            Outcome::Failed => "the repair could not be done (`detail` says why)",
        }
    }
}

/// Why a live master's link was proved with a round trip, or why that was not needed: a closed
/// set of codes, beside `reason` where a decision was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeDecision {
    Asked,
    LinkTrouble,
    Suspended,
    NetworkChanged,
    ServerSilent,
    LongIdle,
    NeverSeenWorking,
    ServerHeard,
    SeenWorking,
    Young,
    WouldAsk,
}

impl ProbeDecision {
    pub const ALL: [ProbeDecision; 11] = [
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

    /// What it means: written here, and the reference's table is held to it.
    pub fn meaning(self) -> &'static str {
        match self {
            ProbeDecision::Asked => {
                "`--probe`, or `MUXGUARD_PROBE=always` (also `status --probe`, `clean --probe`)"
            }
            ProbeDecision::LinkTrouble => {
                "the kernel shows data to the server unacknowledged and retransmitted, data it keeps failing to send (its timer backed off with nothing in flight), or the connection closing"
            }
            ProbeDecision::Suspended => {
                "the machine was suspended since the master was last seen working"
            }
            ProbeDecision::NetworkChanged => "the network changed since then",
            ProbeDecision::ServerSilent => {
                "the server has sent nothing for longer than `MUXGUARD_PROBE_AFTER`"
            }
            ProbeDecision::LongIdle => "(no connection in view) not seen working for 10 minutes",
            ProbeDecision::NeverSeenWorking => {
                "(no connection in view) never seen working, and not young"
            }
            ProbeDecision::ServerHeard => {
                "the kernel shows the server spoke within `MUXGUARD_PROBE_AFTER`, and nothing else is in doubt"
            }
            ProbeDecision::SeenWorking => "(no connection in view) seen working lately",
            ProbeDecision::Young => "(no connection in view) made under a minute ago",
            ProbeDecision::WouldAsk => "`ControlMaster ask`: the master would ask you to confirm",
        }
    }

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
    Config,
    Ansible,
    Dir,
    Resolved,
    Process,
}

impl Found {
    pub const ALL: [Found; 5] = [
        Found::Config,
        Found::Ansible,
        Found::Dir,
        Found::Resolved,
        Found::Process,
    ];

    /// What it means: written here, and the reference's table is held to it.
    pub fn meaning(self) -> &'static str {
        match self {
            Found::Config => "a ControlPath of the ssh config names it",
            Found::Ansible => "`~/.ansible/cp`",
            Found::Dir => "a `--dir DIR`",
            Found::Resolved => "a path an earlier `check` resolved",
            Found::Process => "an ssh process of yours listens on it, or did (remembered)",
        }
    }
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
    /// What the kernel says of a live master's connection to its server, where it was asked:
    /// for a master carried by another (a jump host's), the carrier's.
    pub link: Option<Link>,
    /// The control path of the master that carries this one's connection (its `ssh -W` is a
    /// client of that master, or is that master), where the kernel shows it.
    pub via: Option<PathBuf>,
    /// The process that holds the connection `link` describes, where that is not this master:
    /// the master that carries it (`via`), or its ProxyCommand.
    pub flow_holder: Option<i32>,
    /// The file that was classified, so that a repair can make sure it acts on that same file.
    pub file: Option<FileInfo>,
    /// The listening socket's inode, to find and verify the master process.
    pub listener: Option<u64>,
}

impl SocketReport {
    /// Its master's pid, when that master is hung because its user suspended it in a terminal
    /// (Ctrl-Z on a foreground ssh): theirs to resume with `fg`, never to be ended.
    pub fn suspended_in_a_terminal(&self) -> Option<i32> {
        let pid = self.pid.filter(|_| self.state == State::Hung)?;
        crate::platform::process(pid)
            .filter(|process| process.is_suspended_in_a_terminal())
            .map(|_| pid)
    }

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
            via: None,
            flow_holder: None,
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
    /// found, and what the kernel said of its master's link (and what carries it) if it is the
    /// same master.
    pub fn relook(&mut self, fresh: SocketReport) {
        let (destination, alias) = (self.destination.take(), self.alias.take());
        let same_master = fresh.pid == self.pid;
        let link = self.link.take().filter(|_| same_master);
        let via = self.via.take().filter(|_| same_master);
        let found = self.found;
        *self = fresh.named(destination, alias);
        self.link = link;
        self.via = via;
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

    /// A meaning as the README's table reader gives it: code quotes taken off its ends.
    fn cell(meaning: &str) -> String {
        meaning.trim_matches('`').to_string()
    }

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
            .map(|&state| vec![state.as_str().to_string(), cell(state.meaning())])
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
        let documented: Vec<Vec<String>> = Reason::ALL
            .iter()
            .map(|&reason| {
                let state = reason.state().as_str().to_string();
                vec![code(reason), state, cell(reason.meaning())]
            })
            .collect();
        assert_eq!(readme_table("#### Reasons", 3), documented);
    }

    #[test]
    fn the_readme_lists_every_probe_decision_and_whether_it_probes() {
        let documented: Vec<Vec<String>> = ProbeDecision::ALL
            .iter()
            .map(|&decision| {
                let probes = if decision.probes() { "yes" } else { "no" };
                vec![code(decision), probes.to_string(), cell(decision.meaning())]
            })
            .collect();
        let heading = "### Dead links: `--probe` and `MUXGUARD_PROBE`";
        assert_eq!(readme_table(heading, 3), documented);
    }

    #[test]
    fn the_readme_lists_every_place_a_socket_is_found() {
        let documented: Vec<Vec<String>> = Found::ALL
            .iter()
            .map(|&found| vec![code(found), cell(found.meaning())])
            .collect();
        let heading = "### `muxguard status [--probe] [--json] [-F FILE] [--dir DIR]...`";
        assert_eq!(readme_table(heading, 2), documented);
    }

    #[test]
    fn the_readme_lists_every_outcome() {
        let documented: Vec<Vec<String>> = Outcome::ALL
            .iter()
            .map(|&outcome| vec![code(outcome), cell(outcome.meaning())])
            .collect();
        assert_eq!(readme_table("#### Outcomes", 2), documented);
    }
}
