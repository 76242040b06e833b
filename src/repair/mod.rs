//! Repairing one broken socket so that the next ssh builds a fresh master (removing a stale
//! file, ending a master by its process: `master`), shared by `check --fix`, `clean`, `reset`
//! and `watch`. Uses socket, openssh's mux client and platform.

pub mod master;

use std::sync::{Mutex, PoisonError};

use serde::Serialize;

use crate::platform::process::Owner;
use crate::socket::fsentry::{self, Removal};
use crate::socket::report::{Outcome, SocketReport, State};
use crate::support::deadline::Deadline;
use master::Ending;

/// What was done to a socket, as the JSON says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// `check`: nothing needed doing, or nothing could be done.
    None,
    /// `clean`: left as it is.
    Kept,
    Removed,
    Reset,
    WouldRemove,
    WouldReset,
}

/// What a repair did to one socket, or why it did nothing.
#[derive(Debug, Clone)]
pub struct Repair {
    /// What was done, as the JSON says it.
    pub action: Action,
    pub outcome: Outcome,
    /// The outcome in words, for people.
    pub said: String,
}

impl Repair {
    fn done(action: Action, outcome: Outcome, said: impl Into<String>) -> Self {
        Repair {
            action,
            outcome,
            said: said.into(),
        }
    }

    fn refused(outcome: Outcome, why: impl Into<String>) -> Self {
        Repair::done(Action::None, outcome, why)
    }

    /// Whether the path is clear for the next ssh: the broken socket is gone (or another
    /// master's took its place).
    pub fn cleared(&self) -> bool {
        !matches!(self.outcome, Outcome::NotTouched | Outcome::Failed)
    }
}

/// Removes a stale socket, or ends a hung or unreachable master (waiting no later than
/// `deadline` for it to go by itself) and removes its socket.
pub fn repair(report: &SocketReport, deadline: Deadline) -> Repair {
    match (report.state, &report.path, &report.file) {
        (State::Stale, Some(path), Some(file)) => match fsentry::remove_if_same(path, file) {
            Ok(Removal::Removed) => Repair::done(Action::Removed, Outcome::Removed, "removed"),
            Ok(Removal::AlreadyGone) => Repair::done(
                Action::None,
                Outcome::AlreadyGone,
                "someone else removed it",
            ),
            Ok(Removal::Replaced) => Repair::done(
                Action::None,
                Outcome::ReplacedLeftAlone,
                "a new socket took its place; left alone",
            ),
            Err(error) => Repair::refused(Outcome::Failed, format!("cannot remove it: {error}")),
        },
        (State::Hung | State::Unreachable, _, _) => {
            end_master(report, Ending::Terminate, Owner::Own, deadline)
        }
        (State::Foreign, _, _) => Repair::refused(
            Outcome::NotTouched,
            "not touched: it is not your own control socket",
        ),
        _ => Repair::refused(Outcome::Failed, "nothing to repair"),
    }
}

/// Ends the master behind `report` (see `master::end`).
pub fn end_master(report: &SocketReport, how: Ending, owner: Owner, deadline: Deadline) -> Repair {
    match master::end(report, how, owner, deadline) {
        Ok((outcome @ (Outcome::AlreadyGone | Outcome::ReplacedLeftAlone), said)) => {
            Repair::done(Action::None, outcome, said)
        }
        Ok((Outcome::Removed, said)) => Repair::done(Action::Removed, Outcome::Removed, said),
        Ok((outcome, said)) => Repair::done(Action::Reset, outcome, said),
        Err(why) => Repair::refused(Outcome::Failed, why),
    }
}

/// Whether repairing `socket` may wait: a master to end, not a stale socket to remove.
pub fn waits(socket: &SocketReport) -> bool {
    socket.state.has_master()
}

/// How many items `in_parallel` works on together: enough for many hung masters to end in one
/// grace period, few enough that 10,000 stale sockets do not cost 10,000 threads.
const WORKERS: usize = 64;

/// Does `act` to every item and returns the items with what it said, in their order. The items
/// `waits` says may wait (a master to end) are done up to WORKERS at once: many masters that do
/// not end by themselves take one grace period together, not one each. The others (a stale
/// socket to remove) are done here first, at no thread's cost.
pub fn in_parallel<T: Send, R: Send>(
    items: Vec<T>,
    waits: impl Fn(&T) -> bool,
    act: impl Fn(&mut T) -> R + Sync,
) -> Vec<(T, R)> {
    let count = items.len();
    let mut done = Vec::with_capacity(count);
    let mut waiting = Vec::new();
    for (index, mut item) in items.into_iter().enumerate() {
        if waits(&item) {
            waiting.push((index, item));
        } else {
            let said = act(&mut item);
            done.push((index, item, said));
        }
    }
    let workers = WORKERS.min(waiting.len());
    let queue = Mutex::new(waiting.into_iter());
    let done = Mutex::new(done);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    // The queue's lock is let go before the work begins.
                    let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
                    let Some((index, mut item)) = next else { break };
                    let said = act(&mut item);
                    done.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((index, item, said));
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(PoisonError::into_inner);
    done.sort_unstable_by_key(|(index, _, _)| *index);
    done.into_iter()
        .map(|(_, item, said)| (item, said))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;
    use std::time::Duration;

    use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, bind, socket};

    use super::*;
    use crate::socket::classify;
    use crate::socket::listeners::ListenerTable;
    use crate::socket::report::Reason;

    /// A socket file with nothing listening on it, as a master that died leaves behind. Bound
    /// but never listening, so that no child process forked meanwhile can keep it answering.
    fn stale_socket(path: &Path) {
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::empty(),
            None,
        )
        .unwrap();
        bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &UnixAddr::new(path).unwrap(),
        )
        .unwrap();
    }

    /// The stale socket at `path`, classified as every command does.
    fn classified(path: &Path) -> SocketReport {
        let classify::Look::Socket(info) = classify::look(path) else {
            panic!("{} is no socket of ours", path.display());
        };
        let report = classify::classify_passive(
            path,
            &info,
            &ListenerTable::load().unwrap(),
            &HashMap::new(),
        );
        assert_eq!(report.reason, Reason::NoListener, "{report:?}");
        report
    }

    fn soon() -> Deadline {
        Deadline::after(Duration::from_secs(1))
    }

    #[test]
    fn a_stale_socket_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stale");
        stale_socket(&path);
        let repair = repair(&classified(&path), soon());
        assert_eq!(repair.outcome, Outcome::Removed);
        assert_eq!(repair.action, Action::Removed);
        assert!(repair.cleared());
        assert!(!path.exists());
    }

    /// Another cleaner (a second shell's hook, a script) removed it between the look and the
    /// repair: the way is clear, and nothing was done.
    #[test]
    fn a_socket_removed_meanwhile_is_already_gone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stale");
        stale_socket(&path);
        let report = classified(&path);
        std::fs::remove_file(&path).unwrap();
        let repair = repair(&report, soon());
        assert_eq!(repair.outcome, Outcome::AlreadyGone);
        assert_eq!(repair.action, Action::None);
        assert!(repair.cleared());
    }

    /// A new master bound the path between the look and the repair: its socket is not the file
    /// that was classified, and stays.
    #[test]
    fn a_socket_replaced_meanwhile_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stale");
        stale_socket(&path);
        let report = classified(&path);
        std::fs::remove_file(&path).unwrap();
        let newer = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let repair = repair(&report, soon());
        assert_eq!(repair.outcome, Outcome::ReplacedLeftAlone);
        assert_eq!(repair.action, Action::None);
        assert!(repair.cleared());
        assert!(path.exists());
        drop(newer);
    }
}
