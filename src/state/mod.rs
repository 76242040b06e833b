//! What earlier runs learned, kept between runs: the control paths that `check` resolved with
//! the destinations behind them (a `%C` name cannot be read back), and the `ssh -G` answers
//! worth remembering (see resolve_cache).
//!
//! The file is a cache: losing it costs nothing but names in `status`. It is replaced
//! atomically and changed under a lock, so several shells can run muxguard at once.
//!
//! Where it lives, and what is trusted there. The state directory is `muxguard` in the base,
//! `$XDG_STATE_HOME` when that is an absolute path, else `$HOME/.local/state`. Root may run with
//! another user's HOME (`sudo -E`), and that user must not be able to steer root's writes, so:
//! - the base (XDG_STATE_HOME, or HOME) must exist and be a directory the effective user owns;
//!   it is never created (it may be reached through a symlink: where HOME lives is root's
//!   choice, not the user's);
//! - below it, `muxguard` (and under HOME `.local` and `state` before it) is created when
//!   missing, mode 0700, and each must be a real directory, not a symlink, that the effective
//!   user owns;
//! - the state directory itself must not be group or world writable.
//!
//! Otherwise muxguard works without the cache, quietly: loads are empty, writes do nothing.
//! The directories are walked with a descriptor of each opened (O_NOFOLLOW) relative to the
//! one above, and the files are opened relative to the state directory's, with O_NOFOLLOW, so
//! a symlink swapped in after a check is not followed either.
//!
//! A state file over MAX_FILE_BYTES is not read: it is replaced by a fresh one, with a warning.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, Flock, FlockArg, OFlag, openat, renameat};
use nix::sys::stat::{Mode, fstat, mkdirat};
use nix::unistd::{Uid, UnlinkatFlags, unlinkat};
use serde::{Deserialize, Serialize};

use crate::link::netstate::Snapshot;
use crate::openssh::resolve_cache::Resolved;
use crate::output;
use crate::support::environment::Variable;

const SCHEMA: u32 = 1;

pub const XDG_STATE_HOME: Variable = Variable {
    name: "XDG_STATE_HOME",
    meaning: "Where the state file is kept, in muxguard/ (default ~/.local/state; see FILES).",
};
/// Entries not seen for this long are dropped.
const FORGET_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);
const MAX_ENTRIES: usize = 1000;
const MAX_REMEMBERED_ANSWERS: usize = 256;
/// Masters seen working. Only a record of the last few minutes spares a probe (see
/// probe::doubt), so this is ample.
const MAX_WORKING: usize = 256;
/// The answer for a longer command line is not remembered. Such a line carries a remote script,
/// rarely run twice (Ansible's names a new temporary directory for each task), and
/// MAX_REMEMBERED_ANSWERS of them must fit in MAX_FILE_BYTES.
const MAX_ANSWER_KEY_BYTES: usize = 1024;
/// A larger state file is not read. The largest that muxguard writes, every map full and every
/// string as long as it plausibly gets (a 107-byte socket path, a 253-byte host name, a 1 KiB
/// command line), is about 1.4 MB: 1000 sockets of 0.7 KB, 256 answers of 2.2 KB and 256
/// masters of 0.3 KB. A typical full one is 0.35 MB.
const MAX_FILE_BYTES: u64 = 2 << 20;
/// A known entry is rewritten only this often, to keep the hot path free of writes.
const REFRESH_AFTER: Duration = Duration::from_secs(3600);
/// How many names are tried for the temporary file before giving up.
const TEMPORARY_NAMES: u32 = 100;

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
    /// Unix time of the last `check` that resolved this path, or of the first look that saw
    /// a master listen on it.
    pub seen: u64,
    /// Found as a master's socket in the kernel's table, no `check` resolved it: forgotten once
    /// the path is gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_process: bool,
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

/// Remembers what `ssh -G` answered. Best effort, like every state write.
pub fn remember_answer(ssh_args: &[String], fingerprint: &str, answer: &Resolved) {
    let key = answer_key(ssh_args);
    if key.len() > MAX_ANSWER_KEY_BYTES {
        return;
    }
    let remembered = RememberedAnswer {
        fingerprint: fingerprint.to_string(),
        saved: now(),
        answer: answer.clone(),
    };
    update(move |state| {
        state.resolved.insert(key, remembered);
        true
    });
}

/// Records that the master `pid` at `path` was seen working just now.
pub fn record_working(path: &Path, pid: i32, snapshot: Snapshot) {
    let seen = SeenWorking {
        pid,
        at: now(),
        snapshot,
    };
    let path = path.to_path_buf();
    update(move |state| {
        state.working.insert(path, seen);
        true
    });
}

/// Remembers the sockets of masters found in the kernel's table (`found`, their ControlPaths
/// given on ssh's command line), so that once a master is gone its stale socket is still found;
/// forgets those remembered so whose path is gone. `known` is the state as loaded: when it has
/// them all already, nothing is written.
pub fn remember_masters(known: &StateFile, found: Vec<PathBuf>) {
    let new = |state: &StateFile, path: &PathBuf| !state.sockets.contains_key(path);
    if !found.iter().any(|path| new(known, path)) {
        return;
    }
    update(move |state| {
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

/// Records that `check` resolved `path` for this destination, unless `known` (the state as
/// loaded) has it already.
pub fn record_resolved(
    known: &StateFile,
    path: &Path,
    destination: Option<&str>,
    alias: Option<&str>,
) {
    let seen = Seen {
        destination: destination.map(str::to_string),
        alias: alias.map(str::to_string),
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
    // The common case is that nothing needs writing, and that needs no lock.
    if up_to_date(known, &path, &seen) {
        return;
    }
    update(move |state| {
        if up_to_date(state, &path, &seen) {
            return false;
        }
        state.sockets.insert(path, seen);
        true
    });
}

/// A change to the state: returns whether it changed anything.
type Change = Box<dyn FnOnce(&mut StateFile) -> bool>;

thread_local! {
    /// The changes of the `batched` work under way on this thread, if any.
    static BATCH: RefCell<Option<Vec<Change>>> = const { RefCell::new(None) };
}

/// Runs `work`, saving every change it makes to the state in one write at its end (one lock,
/// one file replaced) rather than one write each: the first check of a new master makes three.
pub fn batched<T>(work: impl FnOnce() -> T) -> T {
    let outer = BATCH.with(|batch| batch.borrow_mut().replace(Vec::new()));
    let result = work();
    let changes = BATCH
        .with(|batch| std::mem::replace(&mut *batch.borrow_mut(), outer))
        .unwrap_or_default();
    if !changes.is_empty() {
        update(move |state| {
            changes
                .into_iter()
                .fold(false, |changed, change| change(state) | changed)
        });
    }
    result
}

/// Changes the state file, if there is a state directory to use, or adds the change to the
/// batch under way. Best effort: a failure to write is not the user's problem, so it is ignored.
fn update(change: impl FnOnce(&mut StateFile) -> bool + 'static) {
    let change: Change = Box::new(change);
    let change = BATCH.with(|batch| match batch.borrow_mut().as_mut() {
        Some(pending) => {
            pending.push(change);
            None
        }
        None => Some(change),
    });
    if let (Some(change), Some(dir)) = (change, StateDir::find_or_create()) {
        let _ = dir.update(change);
    }
}

/// A hold on one of the user's locks, released when it is dropped or the process ends, however
/// it ends.
pub struct Hold {
    _lock: Option<Flock<File>>,
}

/// Another process of the user's holds the lock: its pid, where it wrote one.
pub struct Held {
    pub by: Option<i32>,
}

/// Takes the sweep lock, so that at most one background sweep of the user's runs at a time:
/// `None` when another holds it. Where no lock can be taken (no state directory to keep it in),
/// the sweep goes ahead.
pub fn hold_sweep() -> Option<Hold> {
    hold("sweep.lock").ok()
}

/// Takes the watcher's lock, so that one `watch` of the user's runs at a time, and writes the
/// pid in it for a second one to name. Where no lock can be taken, the watcher goes ahead.
pub fn hold_watch() -> std::result::Result<Hold, Held> {
    let hold = hold("watch.lock")?;
    if let Some(lock) = &hold._lock {
        let mut file: &File = lock;
        let _ = file
            .set_len(0)
            .and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()));
    }
    Ok(hold)
}

fn hold(name: &str) -> std::result::Result<Hold, Held> {
    let unguarded = Hold { _lock: None };
    let Some(file) = StateDir::find_or_create().and_then(|dir| dir.lock_file(name).ok()) else {
        return Ok(unguarded);
    };
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Hold { _lock: Some(lock) }),
        Err((file, Errno::EWOULDBLOCK)) => {
            let mut written = String::new();
            let _ = (&file).take(32).read_to_string(&mut written);
            Err(Held {
                by: written.trim().parse().ok(),
            })
        }
        Err(_) => Ok(unguarded),
    }
}

/// A state file too large to read: its size in bytes.
#[derive(Debug)]
struct Oversized {
    bytes: u64,
}

/// The state directory, open and found trustworthy (see the module doc).
struct StateDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl StateDir {
    /// The state directory, if it exists and may be used.
    fn find() -> Option<StateDir> {
        let (base, below) = Self::location()?;
        Self::walk(&base, below, false)
    }

    /// The state directory, created below the base when missing, if it may be used.
    fn find_or_create() -> Option<StateDir> {
        let (base, below) = Self::location()?;
        Self::walk(&base, below, true)
    }

    /// The base directory, and the names from there down to the state directory.
    fn location() -> Option<(PathBuf, &'static [&'static str])> {
        let xdg_state_home = XDG_STATE_HOME
            .read()
            .map(PathBuf::from)
            .filter(|dir| dir.is_absolute());
        match xdg_state_home {
            Some(base) => Some((base, &["muxguard"])),
            None => {
                let home = std::env::var_os("HOME")?;
                Some((PathBuf::from(home), &[".local", "state", "muxguard"]))
            }
        }
    }

    /// Opens `base`, then each of `below` in turn, making those missing when `create` says so;
    /// `None` as soon as one is not the effective user's own (see the module doc).
    fn walk(base: &Path, below: &[&str], create: bool) -> Option<StateDir> {
        let directory = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let mut fd = openat(AT_FDCWD, base, directory, Mode::empty()).ok()?;
        let mut path = base.to_path_buf();
        let owned_by_us = |fd: &OwnedFd| {
            fstat(fd)
                .ok()
                .filter(|stat| stat.st_uid == Uid::effective().as_raw())
        };
        let mut stat = owned_by_us(&fd)?;
        for name in below {
            if create {
                match mkdirat(&fd, *name, Mode::S_IRWXU) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(_) => return None,
                }
            }
            fd = openat(&fd, *name, directory | OFlag::O_NOFOLLOW, Mode::empty()).ok()?;
            path.push(name);
            stat = owned_by_us(&fd)?;
        }
        if stat.st_mode & (libc::S_IWGRP | libc::S_IWOTH) != 0 {
            return None;
        }
        Some(StateDir { fd, path })
    }

    fn file_path(&self) -> PathBuf {
        self.path.join("state.json")
    }

    /// The saved state: empty when there is none or it cannot be read, `Err` when the file is
    /// over the size limit.
    fn read(&self) -> Result<StateFile, Oversized> {
        // Not blocking: a FIFO in its place would wait for a writer.
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let Ok(fd) = openat(&self.fd, "state.json", flags, Mode::empty()) else {
            return Ok(StateFile::default());
        };
        let file = File::from(fd);
        let size = match file.metadata() {
            Ok(meta) if meta.is_file() => meta.len(),
            _ => return Ok(StateFile::default()),
        };
        if size > MAX_FILE_BYTES {
            return Err(Oversized { bytes: size });
        }
        let mut bytes = Vec::new();
        // At most one byte over the limit, should something else have made it grow since.
        if file
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .is_err()
        {
            return Ok(StateFile::default());
        }
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(Oversized {
                bytes: bytes.len() as u64,
            });
        }
        Ok(serde_json::from_slice::<StateFile>(&bytes)
            .ok()
            .filter(|state| state.schema == SCHEMA)
            .unwrap_or_default())
    }

    /// Read-modify-write under an exclusive lock; `change` returns whether it changed anything.
    /// A file over the limit is replaced in any case.
    fn update(&self, change: impl FnOnce(&mut StateFile) -> bool) -> io::Result<()> {
        let _lock = self.lock()?;
        let (mut state, starting_afresh) = match self.read() {
            Ok(state) => (state, false),
            Err(Oversized { bytes }) => {
                output::warn(&format!(
                    "ignoring {}: {bytes} bytes, over the {} MiB limit; starting afresh",
                    output::path(&self.file_path()),
                    MAX_FILE_BYTES >> 20
                ));
                (StateFile::default(), true)
            }
        };
        if !change(&mut state) && !starting_afresh {
            return Ok(());
        }
        state.schema = SCHEMA;
        prune(&mut state);
        let json = serde_json::to_vec_pretty(&state).map_err(io::Error::other)?;
        // Only absurd strings get this far; written, they would be thrown away next time.
        if json.len() as u64 > MAX_FILE_BYTES {
            return Err(io::Error::other("the state would be over the size limit"));
        }
        self.replace(&json)
    }

    /// A lock file in the state directory, created when missing.
    fn lock_file(&self, name: &str) -> io::Result<File> {
        // Not blocking: opening a FIFO in its place would wait for a reader. Read and written:
        // the watcher's lock holds its pid.
        let flags = OFlag::O_RDWR
            | OFlag::O_CREAT
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_CLOEXEC;
        let file = File::from(openat(
            &self.fd,
            name,
            flags,
            Mode::S_IRUSR | Mode::S_IWUSR,
        )?);
        // A FIFO or a device in its place is no lock of ours.
        if !file.metadata()?.is_file() {
            return Err(io::Error::other(format!("{name} is not a regular file")));
        }
        Ok(file)
    }

    /// Takes the lock, waiting a little for another muxguard to finish; gives up rather than
    /// make the user wait.
    fn lock(&self) -> io::Result<Flock<File>> {
        let mut file = self.lock_file("state.lock")?;
        for _ in 0..50 {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(lock),
                Err((returned, _)) => file = returned,
            }
            std::thread::sleep(Duration::from_millis(4));
        }
        Err(io::Error::other("state file is locked"))
    }

    /// Replaces state.json atomically: writes a new file of this process's own, renamed over it.
    fn replace(&self, json: &[u8]) -> io::Result<()> {
        let (name, mut file) = self.create_temporary()?;
        let written = file.write_all(json).and_then(|()| {
            renameat(&self.fd, name.as_str(), &self.fd, "state.json").map_err(io::Error::from)
        });
        if written.is_err() {
            let _ = unlinkat(&self.fd, name.as_str(), UnlinkatFlags::NoRemoveDir);
        }
        written
    }

    /// A new file under a name no one else uses, never one that was there before.
    fn create_temporary(&self) -> io::Result<(String, File)> {
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        for attempt in 0..TEMPORARY_NAMES {
            let name = format!(".state.json.{}.{attempt}", std::process::id());
            match openat(
                &self.fd,
                name.as_str(),
                flags,
                Mode::S_IRUSR | Mode::S_IWUSR,
            ) {
                Ok(fd) => return Ok((name, File::from(fd))),
                // Left by a process that had this pid before, and ended before it could clean up.
                Err(Errno::EEXIST) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Err(io::Error::other("no free name for a temporary file"))
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
    use std::fs;
    use std::os::unix::fs::{PermissionsExt, symlink};

    const UNDER_HOME: &[&str] = &[".local", "state", "muxguard"];

    fn seen_at(seen: u64) -> Seen {
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

    fn mode_of(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
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

    #[test]
    fn the_state_directory_is_made_below_an_existing_base_only() {
        let temporary = tempfile::tempdir().unwrap();
        let home = temporary.path().join("home");
        assert!(StateDir::walk(&home, UNDER_HOME, true).is_none());
        assert!(!home.exists());

        fs::create_dir(&home).unwrap();
        assert!(StateDir::walk(&home, UNDER_HOME, false).is_none());
        assert!(!home.join(".local").exists(), "a load creates nothing");
        let dir = StateDir::walk(&home, UNDER_HOME, true).unwrap();
        assert_eq!(dir.path, home.join(".local/state/muxguard"));
        for made in [".local", ".local/state", ".local/state/muxguard"] {
            assert_eq!(mode_of(&home.join(made)), 0o700, "{made}");
        }
    }

    #[test]
    fn a_symlink_on_the_way_is_not_followed() {
        let home = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        symlink(elsewhere.path(), home.path().join(".local")).unwrap();
        assert!(StateDir::walk(home.path(), UNDER_HOME, true).is_none());
        assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_state_file_that_is_a_symlink_is_not_read() {
        let base = tempfile::tempdir().unwrap();
        let dir = StateDir::walk(base.path(), &["muxguard"], true).unwrap();
        dir.update(|state| {
            state.sockets.insert(PathBuf::from("/s/1"), seen_at(now()));
            true
        })
        .unwrap();
        let real = base.path().join("real.json");
        fs::rename(dir.file_path(), &real).unwrap();
        symlink(&real, dir.file_path()).unwrap();
        assert!(dir.read().unwrap().sockets.is_empty());
    }

    #[test]
    fn fifos_in_place_of_the_files_block_nothing() {
        let base = tempfile::tempdir().unwrap();
        let dir = StateDir::walk(base.path(), &["muxguard"], true).unwrap();
        for name in ["state.json", "state.lock"] {
            nix::unistd::mkfifo(&dir.path.join(name), Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
        }
        assert!(dir.read().unwrap().sockets.is_empty());
        assert!(dir.update(|_| true).is_err());
    }

    #[test]
    fn a_file_over_the_limit_is_not_read_and_is_replaced() {
        let base = tempfile::tempdir().unwrap();
        let dir = StateDir::walk(base.path(), &["muxguard"], true).unwrap();
        fs::write(dir.file_path(), vec![b' '; MAX_FILE_BYTES as usize + 1]).unwrap();
        let Err(Oversized { bytes }) = dir.read() else {
            panic!("read a file over the limit");
        };
        assert_eq!(bytes, MAX_FILE_BYTES + 1);
        dir.update(|_| false).unwrap();
        assert!(dir.read().is_ok());
        let names: Vec<_> = fs::read_dir(&dir.path)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            names.len(),
            2,
            "state.json and state.lock, no temporary: {names:?}"
        );
    }

    #[test]
    fn concurrent_updates_all_land() {
        let base = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let base = base.path().to_path_buf();
                std::thread::spawn(move || {
                    let dir = StateDir::walk(&base, &["muxguard"], true).unwrap();
                    dir.update(|state| {
                        let seen = Seen {
                            destination: Some(format!("u@h{i}:22")),
                            alias: None,
                            seen: now(),
                            by_process: false,
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
        let dir = StateDir::walk(base.path(), &["muxguard"], false).unwrap();
        assert_eq!(dir.read().unwrap().sockets.len(), 8);
    }
}
