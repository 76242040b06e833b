//! Repairing one broken socket so that the next ssh builds a fresh master: shared by
//! `check --fix` and `clean`.

use serde::Serialize;

use crate::classify::{Owner, SocketReport, State};
use crate::fsentry::{self, Removal};
use crate::master::{self, Ending};

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

/// Removes a stale socket, or ends a hung or unreachable master and removes its socket. Says
/// what happened in the report's detail. `Ok` with the action when the path is clear for the
/// next ssh.
pub fn repair(report: &mut SocketReport) -> Result<Action, NotRepaired> {
    let outcome = match (report.state, &report.path, &report.file) {
        (State::Stale, Some(path), Some(file)) => match fsentry::remove_if_same(path, file) {
            Ok(Removal::Removed) => Ok((Action::Removed, "removed".to_string())),
            Ok(Removal::AlreadyGone) => Ok((Action::None, "someone else removed it".into())),
            Ok(Removal::Replaced) => Ok((
                Action::None,
                "a new socket took its place; left alone".into(),
            )),
            Err(error) => Err(format!("cannot remove it: {error}")),
        },
        (State::Hung | State::Unreachable, _, _) => {
            master::end(report, Ending::Terminate, Owner::Own).map(|done| (Action::Reset, done))
        }
        (State::Foreign, _, _) => Err("not touched: it is not your own control socket".into()),
        _ => Err("nothing to repair".into()),
    };
    let detail = report.detail.take().unwrap_or_default();
    let (result, said) = match outcome {
        Ok((action, done)) => (Ok(action), done),
        Err(why) => (Err(NotRepaired), why),
    };
    report.detail = Some(format!("{detail}; {said}"));
    result
}
