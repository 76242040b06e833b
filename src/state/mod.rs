//! What earlier runs learned, kept between runs: the control paths that `check` resolved with
//! the destinations behind them (a `%C` name cannot be read back), the `ssh -G` answers worth
//! remembering (see openssh::resolve_cache), when each master was last seen working, and the
//! sockets of masters found from the kernel's table. `dir` says where it lives and what is
//! trusted there; `lock` holds the user's locks beside it. Uses openssh's and link's types.
//!
//! The file is a cache: losing it costs nothing but names in `status`. It is replaced
//! atomically and changed under a lock, so several shells can run muxguard at once. A command
//! gathers what it learns in one `Record` and saves it in one write at its end.

use std::cell::{OnceCell, RefCell};
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::link::netstate::Snapshot;
use crate::openssh::resolve_cache::{Answers, Resolved};
use crate::support::text::Name;

mod dir;
mod lock;

use dir::{Oversized, StateDir};
pub use lock::{hold_sweep, hold_watch};

/// The state file's format: a file of another schema is read as empty.
const STATE_SCHEMA: u32 = 1;
/// Entries not seen for this long are dropped.
const FORGET_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);
const MAX_ENTRIES: usize = 1000;
const MAX_REMEMBERED_ANSWERS: usize = 256;
/// Masters seen working. Only a record of the last few minutes spares a probe (see
/// link::probe::doubt), so this is ample.
const MAX_WORKING: usize = 256;
/// The answer for a longer command line is not remembered. Such a line carries a remote script,
/// rarely run twice (Ansible's names a new temporary directory for each task), and
/// MAX_REMEMBERED_ANSWERS of them must fit in the state file's size limit.
const MAX_ANSWER_KEY_BYTES: usize = 1024;
/// A known entry is rewritten only this often, to keep the hot path free of writes.
const REFRESH_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StateFile {
    #[serde(default)]
    schema: u32,
    #[serde(default)]
    pub sockets: BTreeMap<PathBuf, Seen>,
    /// What `ssh -G` answered, by command line (a JSON array of the arguments).
    #[serde(default)]
    resolved: BTreeMap<String, RememberedAnswer>,
    /// When each master was last seen working: a round trip to its server completed, or it was
    /// first seen young (it had just authenticated).
    #[serde(default)]
    working: BTreeMap<PathBuf, SeenWorking>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenWorking {
    pub pid: i32,
    /// Unix time, for forgetting old entries.
    pub at: u64,
    #[serde(flatten)]
    pub snapshot: Snapshot,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RememberedAnswer {
    /// Of everything the answer depends on: see resolve_cache.
    fingerprint: String,
    saved: u64,
    #[serde(flatten)]
    answer: Resolved,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub destination: Option<Name>,
    pub alias: Option<Name>,
    /// Unix time of the last `check` that resolved this path, or of the first look that saw
    /// a master listen on it.
    pub seen: u64,
    /// Found as a master's socket in the kernel's table, no `check` resolved it: forgotten once
    /// the path is gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_process: bool,
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

impl StateFile {
    /// The saved state; empty when there is none or it cannot be read.
    fn load() -> StateFile {
        let Some(dir) = StateDir::find() else {
            return StateFile::default();
        };
        dir.read().unwrap_or_else(|Oversized { .. }| {
            // Replaced now (with the warning), so that the next run does not meet it again.
            let _ = dir.update(|_| false);
            StateFile::default()
        })
    }

    /// When the master `pid` at `path` was last seen working, if it was.
    pub fn seen_working(&self, path: &Path, pid: i32) -> Option<&Snapshot> {
        self.working
            .get(path)
            .filter(|seen| seen.pid == pid)
            .map(|seen| &seen.snapshot)
    }

    /// The remembered `ssh -G` answer for these arguments, if its fingerprint still matches.
    pub fn remembered_answer(&self, ssh_args: &[String], fingerprint: &str) -> Option<Resolved> {
        self.resolved
            .get(&answer_key(ssh_args))
            .filter(|remembered| remembered.fingerprint == fingerprint)
            .map(|remembered| remembered.answer.clone())
    }
}

fn answer_key(ssh_args: &[String]) -> String {
    serde_json::to_string(ssh_args).unwrap_or_default()
}

/// A change to the state: returns whether it changed anything.
type Change = Box<dyn FnOnce(&mut StateFile) -> bool>;

/// What one command learns for the state file, saved by `save` in one write (one lock, one
/// file replaced) rather than one write each: the first check of a new master learns three
/// things. The state as it was is read when first asked for, and at most once. Best effort,
/// like every state write: a failure to write is not the user's problem.
#[derive(Default)]
pub struct Record {
    known: OnceCell<StateFile>,
    changes: RefCell<Vec<Change>>,
}

impl Record {
    pub fn new() -> Record {
        Record::default()
    }

    /// The state as it was when this command first asked.
    pub fn known(&self) -> &StateFile {
        self.known.get_or_init(StateFile::load)
    }

    fn change(&self, change: impl FnOnce(&mut StateFile) -> bool + 'static) {
        self.changes.borrow_mut().push(Box::new(change));
    }

    /// Writes every change, if there is any and a state directory to use.
    pub fn save(self) {
        let changes = self.changes.into_inner();
        if changes.is_empty() {
            return;
        }
        if let Some(dir) = StateDir::find_or_create() {
            let _ = dir.update(move |state| {
                changes
                    .into_iter()
                    .fold(false, |changed, change| change(state) | changed)
            });
        }
    }

    /// Records that the master `pid` at `path` was seen working at `snapshot`.
    pub fn record_working(&self, path: &Path, pid: i32, snapshot: Snapshot) {
        let seen = SeenWorking {
            pid,
            at: now(),
            snapshot,
        };
        let path = path.to_path_buf();
        self.change(move |state| {
            state.working.insert(path, seen);
            true
        });
    }

    /// Remembers the sockets of masters found in the kernel's table (`found`, their
    /// ControlPaths given on ssh's command line), so that once a master is gone its stale
    /// socket is still found; forgets those remembered so whose path is gone. When the state
    /// has them all already, nothing is written.
    pub fn remember_masters(&self, found: Vec<PathBuf>) {
        let new = |state: &StateFile, path: &PathBuf| !state.sockets.contains_key(path);
        if !found.iter().any(|path| new(self.known(), path)) {
            return;
        }
        self.change(move |state| {
            let before = state.sockets.len();
            state
                .sockets
                .retain(|path, seen| !seen.by_process || path.symlink_metadata().is_ok());
            let mut changed = state.sockets.len() != before;
            for path in found {
                if new(state, &path) {
                    let seen = Seen {
                        destination: None,
                        alias: None,
                        seen: now(),
                        by_process: true,
                    };
                    state.sockets.insert(path, seen);
                    changed = true;
                }
            }
            changed
        });
    }

    /// Records that `check` resolved `path` for this destination, unless the state has it
    /// already.
    /// A name that is not UTF-8 is not kept: the file would hold U+FFFD in its place.
    pub fn record_resolved(&self, path: &Path, destination: Option<&Name>, alias: Option<&Name>) {
        let kept = |name: Option<&Name>| name.filter(|name| name.is_text()).cloned();
        let seen = Seen {
            destination: kept(destination),
            alias: kept(alias),
            seen: now(),
            by_process: false,
        };
        let path = path.to_path_buf();
        let up_to_date = |state: &StateFile, path: &Path, seen: &Seen| {
            state.sockets.get(path).is_some_and(|known| {
                known.destination == seen.destination
                    && known.alias == seen.alias
                    && seen.seen.saturating_sub(known.seen) < REFRESH_AFTER.as_secs()
            })
        };
        // The common case is that nothing needs writing.
        if up_to_date(self.known(), &path, &seen) {
            return;
        }
        self.change(move |state| {
            if up_to_date(state, &path, &seen) {
                return false;
            }
            state.sockets.insert(path, seen);
            true
        });
    }
}

impl Answers for Record {
    fn remembered(&self, ssh_args: &[String], fingerprint: &str) -> Option<Resolved> {
        self.known().remembered_answer(ssh_args, fingerprint)
    }

    fn remember(&self, ssh_args: &[String], fingerprint: &str, answer: &Resolved) {
        let key = answer_key(ssh_args);
        if key.len() > MAX_ANSWER_KEY_BYTES {
            return;
        }
        let remembered = RememberedAnswer {
            fingerprint: fingerprint.to_string(),
            saved: now(),
            answer: answer.clone(),
        };
        self.change(move |state| {
            state.resolved.insert(key, remembered);
            true
        });
    }
}

/// Drops what was not seen for FORGET_AFTER, and the oldest entries of each map over its cap.
fn prune(state: &mut StateFile) {
    let cutoff = now().saturating_sub(FORGET_AFTER.as_secs());
    keep_newest(&mut state.sockets, MAX_ENTRIES, cutoff, |seen| seen.seen);
    keep_newest(
        &mut state.resolved,
        MAX_REMEMBERED_ANSWERS,
        cutoff,
        |remembered| remembered.saved,
    );
    keep_newest(&mut state.working, MAX_WORKING, cutoff, |seen| seen.at);
}

/// Keeps the entries of `map` seen at or after `cutoff`, at most `cap` of them, the newest.
fn keep_newest<K: Ord, V>(
    map: &mut BTreeMap<K, V>,
    cap: usize,
    cutoff: u64,
    seen: impl Fn(&V) -> u64,
) {
    let mut entries: Vec<(K, V)> = std::mem::take(map)
        .into_iter()
        .filter(|(_, value)| seen(value) >= cutoff)
        .collect();
    if entries.len() > cap {
        entries.sort_unstable_by_key(|(_, value)| Reverse(seen(value)));
        entries.truncate(cap);
    }
    *map = entries.into_iter().collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket entry last seen at `seen` (also for dir's tests).
    pub(super) fn seen_at(seen: u64) -> Seen {
        Seen {
            destination: None,
            alias: None,
            seen,
            by_process: false,
        }
    }

    fn working_at(at: u64) -> SeenWorking {
        let snapshot = Snapshot {
            booted_at: 0,
            boottime_ns: 0,
            monotonic_ns: 0,
            network: String::new(),
        };
        SeenWorking {
            pid: 1,
            at,
            snapshot,
        }
    }

    fn answer_at(saved: u64) -> RememberedAnswer {
        RememberedAnswer {
            fingerprint: String::new(),
            saved,
            answer: Resolved::default(),
        }
    }

    #[test]
    fn prune_keeps_the_newest() {
        let mut state = StateFile::default();
        let now = now();
        for i in 0..(MAX_ENTRIES as u64 + 5) {
            state
                .sockets
                .insert(PathBuf::from(format!("/s/{i}")), seen_at(now - i));
        }
        state
            .sockets
            .insert(PathBuf::from("/s/ancient"), seen_at(0));
        prune(&mut state);
        assert_eq!(state.sockets.len(), MAX_ENTRIES);
        assert!(state.sockets.contains_key(Path::new("/s/0")));
        assert!(!state.sockets.contains_key(Path::new("/s/ancient")));
    }

    #[test]
    fn prune_holds_every_map_to_its_cap() {
        let mut state = StateFile::default();
        let now = now();
        for i in 0..(MAX_REMEMBERED_ANSWERS as u64 * 4) {
            state
                .resolved
                .insert(format!("[\"h{i}\"]"), answer_at(now - i));
            let path = PathBuf::from(format!("/w/{i}"));
            state.working.insert(path, working_at(now - i));
        }
        let ancient = PathBuf::from("/w/ancient");
        state.working.insert(ancient.clone(), working_at(0));
        // All seen in the same second: still no more than the cap.
        for i in 0..(MAX_ENTRIES * 3) {
            state
                .sockets
                .insert(PathBuf::from(format!("/s/{i}")), seen_at(now));
        }
        prune(&mut state);
        assert_eq!(state.resolved.len(), MAX_REMEMBERED_ANSWERS);
        assert!(state.resolved.contains_key("[\"h0\"]"));
        assert_eq!(state.working.len(), MAX_WORKING);
        assert!(state.working.contains_key(Path::new("/w/0")));
        assert!(!state.working.contains_key(&ancient));
        assert_eq!(state.sockets.len(), MAX_ENTRIES);
    }
}
