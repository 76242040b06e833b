//! Repairing one broken socket so that the next ssh builds a fresh master: shared by
//! `check --fix` and `clean`.

use std::sync::{Mutex, PoisonError};

use serde::Serialize;

use crate::classify::{Outcome, SocketReport, State};
use crate::deadline::Deadline;
use crate::fsentry::{self, Removal};
use crate::master::{self, Ending};
use crate::process::Owner;

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

/// The socket could not be repaired; the report's detail says why.
#[derive(Debug)]
pub struct NotRepaired;

/// Removes a stale socket, or ends a hung or unreachable master (waiting no later than
/// `deadline` for it to go by itself) and removes its socket. Says what happened in the report's
/// detail. `Ok` with the action when the path is clear for the next ssh.
pub fn repair(report: &mut SocketReport, deadline: Deadline) -> Result<Action, NotRepaired> {
    let done = match (report.state, &report.path, &report.file) {
        (State::Stale, Some(path), Some(file)) => match fsentry::remove_if_same(path, file) {
            Ok(Removal::Removed) => Ok((Action::Removed, Outcome::Removed, "removed".into())),
            Ok(Removal::AlreadyGone) => Ok((
                Action::None,
                Outcome::AlreadyGone,
                "someone else removed it".into(),
            )),
            Ok(Removal::Replaced) => Ok((
                Action::None,
                Outcome::ReplacedLeftAlone,
                "a new socket took its place; left alone".into(),
            )),
            Err(error) => Err((Outcome::Failed, format!("cannot remove it: {error}"))),
        },
        (State::Hung | State::Unreachable, _, _) => {
            master::end(report, Ending::Terminate, Owner::Own, deadline)
                .map(|(outcome, done)| (Action::Reset, outcome, done))
                .map_err(|why| (Outcome::Failed, why))
        }
        (State::Foreign, _, _) => Err((
            Outcome::NotTouched,
            "not touched: it is not your own control socket".into(),
        )),
        _ => Err((Outcome::Failed, "nothing to repair".into())),
    };
    let detail = report.detail.take().unwrap_or_default();
    let (result, outcome, said) = match done {
        Ok((action, outcome, said)) => (Ok(action), outcome, said),
        Err((outcome, why)) => (Err(NotRepaired), outcome, why),
    };
    report.outcome = Some(outcome);
    report.detail = Some(format!("{detail}; {said}"));
    result
}

/// How many items `each_at_once` works on together: enough for many hung masters to end in one
/// grace period, few enough that 10,000 stale sockets do not cost 10,000 threads.
const WORKERS: usize = 64;

/// Does `act` to every item, up to WORKERS at once, and returns the items with what it said, in
/// their order: many masters that do not end by themselves take one grace period together, not
/// one each.
pub fn each_at_once<T: Send, R: Send>(
    items: Vec<T>,
    act: impl Fn(&mut T) -> R + Sync,
) -> Vec<(T, R)> {
    let count = items.len();
    let queue = Mutex::new(items.into_iter().enumerate());
    let done = Mutex::new(Vec::with_capacity(count));
    std::thread::scope(|scope| {
        for _ in 0..WORKERS.min(count) {
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
