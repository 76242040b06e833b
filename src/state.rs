//! What earlier runs learned, kept between runs: the control paths that `check` resolved with
//! the destinations behind them (a `%C` name cannot be read back), and the `ssh -G` answers
//! worth remembering (see resolve_cache).
//!
//! The file is a cache: losing it costs nothing but names in `status`. It is replaced
//! atomically and changed under a lock, so several shells can run muxguard at once.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::netstate::Snapshot;
use crate::ssh::Resolved;

const SCHEMA: u32 = 1;
/// Entries not seen for this long are dropped.
const FORGET_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);
const MAX_ENTRIES: usize = 1000;
const MAX_REMEMBERED_ANSWERS: usize = 256;
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
    pub destination: Option<String>,
    pub alias: Option<String>,
    /// Unix time of the last `check` that resolved this path.
    pub seen: u64,
}

/// `$XDG_STATE_HOME/muxguard`, or `~/.local/state/muxguard`.
fn state_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state"))
        })?;
    Some(base.join("muxguard"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

impl StateFile {
    /// The saved state; empty when there is none or it cannot be read.
    pub fn load() -> StateFile {
        state_dir()
            .and_then(|dir| fs::read(dir.join("state.json")).ok())
            .and_then(|bytes| serde_json::from_slice::<StateFile>(&bytes).ok())
            .filter(|state| state.schema == SCHEMA)
            .unwrap_or_default()
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

/// Remembers what `ssh -G` answered. Best effort, like every state write.
pub fn remember_answer(ssh_args: &[String], fingerprint: &str, answer: &Resolved) {
    let Some(dir) = state_dir() else { return };
    let remembered = RememberedAnswer {
        fingerprint: fingerprint.to_string(),
        saved: now(),
        answer: answer.clone(),
    };
    let _ = update(&dir, |state| {
        state.resolved.insert(answer_key(ssh_args), remembered);
        true
    });
}

/// Records that the master `pid` at `path` was seen working just now.
pub fn record_working(path: &Path, pid: i32, snapshot: Snapshot) {
    let Some(dir) = state_dir() else { return };
    let seen = SeenWorking {
        pid,
        at: now(),
        snapshot,
    };
    let _ = update(&dir, |state| {
        state.working.insert(path.to_path_buf(), seen);
        true
    });
}

/// Records that `check` resolved `path` for this destination, unless `known` (the state as
/// loaded) has it already. Best effort: a failure to write is not the user's problem, so it is
/// ignored.
pub fn record_resolved(
    known: &StateFile,
    path: &Path,
    destination: Option<&str>,
    alias: Option<&str>,
) {
    let Some(dir) = state_dir() else { return };
    let seen = Seen {
        destination: destination.map(str::to_string),
        alias: alias.map(str::to_string),
        seen: now(),
    };
    let up_to_date = |state: &StateFile| {
        state.sockets.get(path).is_some_and(|known| {
            known.destination == seen.destination
                && known.alias == seen.alias
                && seen.seen.saturating_sub(known.seen) < REFRESH_AFTER.as_secs()
        })
    };
    // The common case is that nothing needs writing, and that needs no lock.
    if up_to_date(known) {
        return;
    }
    let _ = update(&dir, |state| {
        if up_to_date(state) {
            return false;
        }
        state.sockets.insert(path.to_path_buf(), seen.clone());
        true
    });
}

/// Read-modify-write under an exclusive lock; `change` returns whether it changed anything.
fn update(dir: &Path, change: impl FnOnce(&mut StateFile) -> bool) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let _lock = lock(&dir.join("state.lock"))?;
    let mut state = StateFile::load();
    if !change(&mut state) {
        return Ok(());
    }
    state.schema = SCHEMA;
    prune(&mut state);
    let json = serde_json::to_vec_pretty(&state).map_err(std::io::Error::other)?;
    let temporary = dir.join(format!(".state.json.{}", std::process::id()));
    let mut file = File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(&json)?;
    drop(file);
    fs::rename(&temporary, dir.join("state.json"))
}

fn prune(state: &mut StateFile) {
    let cutoff = now().saturating_sub(FORGET_AFTER.as_secs());
    state.sockets.retain(|_, seen| seen.seen >= cutoff);
    state
        .resolved
        .retain(|_, remembered| remembered.saved >= cutoff);
    if state.resolved.len() > MAX_REMEMBERED_ANSWERS {
        let oldest = state
            .resolved
            .iter()
            .min_by_key(|(_, remembered)| remembered.saved)
            .map(|(key, _)| key.clone());
        if let Some(oldest) = oldest {
            state.resolved.remove(&oldest);
        }
    }
    if state.sockets.len() > MAX_ENTRIES {
        let mut ages: Vec<u64> = state.sockets.values().map(|seen| seen.seen).collect();
        ages.sort_unstable_by(|a, b| b.cmp(a));
        let keep_from = ages[MAX_ENTRIES - 1];
        state.sockets.retain(|_, seen| seen.seen >= keep_from);
    }
}

/// Takes the lock, waiting a little for another muxguard to finish; gives up rather than
/// make the user wait.
fn lock(path: &Path) -> std::io::Result<Flock<File>> {
    let mut file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)?;
    for _ in 0..50 {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((returned, _)) => file = returned,
        }
        std::thread::sleep(Duration::from_millis(4));
    }
    Err(std::io::Error::other("state file is locked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_the_newest() {
        let mut state = StateFile::default();
        let now = now();
        for i in 0..(MAX_ENTRIES as u64 + 5) {
            let seen = Seen {
                destination: None,
                alias: None,
                seen: now - i,
            };
            state.sockets.insert(PathBuf::from(format!("/s/{i}")), seen);
        }
        let ancient = Seen {
            destination: None,
            alias: None,
            seen: 0,
        };
        state.sockets.insert(PathBuf::from("/s/ancient"), ancient);
        prune(&mut state);
        assert_eq!(state.sockets.len(), MAX_ENTRIES);
        assert!(state.sockets.contains_key(Path::new("/s/0")));
        assert!(!state.sockets.contains_key(Path::new("/s/ancient")));
    }

    #[test]
    fn concurrent_updates_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().to_path_buf();
        // SAFETY: no other unit test reads XDG_STATE_HOME.
        unsafe { std::env::set_var("XDG_STATE_HOME", &dir) };
        let state_dir = dir.join("muxguard");
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let state_dir = state_dir.clone();
                std::thread::spawn(move || {
                    update(&state_dir, |state| {
                        let seen = Seen {
                            destination: Some(format!("u@h{i}:22")),
                            alias: None,
                            seen: now(),
                        };
                        state.sockets.insert(PathBuf::from(format!("/s/{i}")), seen);
                        true
                    })
                    .unwrap();
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(StateFile::load().sockets.len(), 8);
    }
}
