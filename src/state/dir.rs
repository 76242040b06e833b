//! Where the state lives, and what is trusted there. The state directory is `muxguard` in the
//! base, `$XDG_STATE_HOME` when that is an absolute path, else `$HOME/.local/state`. Root may
//! run with another user's HOME (`sudo -E`), and that user must not be able to steer root's
//! writes, so:
//! - the base (HOME, or the nearest directory of XDG_STATE_HOME that exists) must be a
//!   directory the effective user owns; HOME is never created (it may be reached through a
//!   symlink: where HOME lives is root's choice, not the user's);
//! - below it, what is missing is created, mode 0700: the rest of XDG_STATE_HOME (the XDG base
//!   directory spec asks for that), or `.local` and `state` under HOME, then `muxguard`; each
//!   must be a real directory, not a symlink, that the effective user owns;
//! - the state directory itself must not be group or world writable.
//!
//! Otherwise muxguard works without the cache, quietly: loads are empty, writes do nothing.
//! The directories are walked with a descriptor of each opened (O_NOFOLLOW) relative to the
//! one above, and the files are opened relative to the state directory's, with O_NOFOLLOW, so
//! a symlink swapped in after a check is not followed either.
//!
//! A state file over MAX_STATE_FILE_BYTES is not read: it is replaced by a fresh one, with a warning.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, Flock, FlockArg, OFlag, openat, renameat};
use nix::sys::stat::{Mode, fstat, mkdirat};
use nix::unistd::{UnlinkatFlags, unlinkat};

use super::{STATE_SCHEMA, StateFile, prune};
use crate::output;
use crate::platform::process::my_uid;
use crate::support::environment::XDG_STATE_HOME;
use crate::support::text;

/// A larger state file is not read. The largest that muxguard writes, every map full and every
/// string as long as it plausibly gets (a 107-byte socket path, a 253-byte host name, a 1 KiB
/// command line), is about 1.4 MB: 1000 sockets of 0.7 KB, 256 answers of 2.2 KB and 256
/// masters of 0.3 KB. A typical full one is 0.35 MB.
pub(super) const MAX_STATE_FILE_BYTES: u64 = 2 << 20;
/// How many names are tried for the temporary file before giving up.
const TEMPORARY_NAMES: u32 = 100;
/// The state directory's name in the base, and under HOME the names before it.
const STATE_DIR_NAME: &str = "muxguard";
const UNDER_HOME: [&str; 3] = [".local", "state", STATE_DIR_NAME];

/// A state file too large to read: its size in bytes.
#[derive(Debug)]
pub(super) struct Oversized {
    bytes: u64,
}

/// The state directory, open and found trustworthy (see the module doc).
pub(super) struct StateDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl StateDir {
    /// The state directory, if it exists and may be used.
    pub(super) fn find() -> Option<StateDir> {
        let (base, below) = Self::location()?;
        Self::walk(&base, &below, false)
    }

    /// The state directory, created below the base when missing, if it may be used.
    pub(super) fn find_or_create() -> Option<StateDir> {
        let (base, below) = Self::location()?;
        Self::walk(&base, &below, true)
    }

    /// The base directory, and the names from there down to the state directory.
    fn location() -> Option<(PathBuf, Vec<OsString>)> {
        let xdg_state_home = XDG_STATE_HOME
            .read()
            .map(PathBuf::from)
            .filter(|dir| dir.is_absolute());
        match xdg_state_home {
            Some(state_home) => below_nearest(&state_home),
            None => {
                let home = std::env::var_os("HOME")?;
                Some((PathBuf::from(home), UNDER_HOME.map(OsString::from).into()))
            }
        }
    }

    /// Opens `base`, then each of `below` in turn, making those missing when `create` says so;
    /// `None` as soon as one is not the effective user's own (see the module doc).
    fn walk(base: &Path, below: &[impl AsRef<OsStr>], create: bool) -> Option<StateDir> {
        let directory = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let mut fd = openat(AT_FDCWD, base, directory, Mode::empty()).ok()?;
        let mut path = base.to_path_buf();
        let owned_by_us = |fd: &OwnedFd| fstat(fd).ok().filter(|stat| stat.st_uid == my_uid());
        let mut stat = owned_by_us(&fd)?;
        for name in below {
            let name = name.as_ref();
            if create {
                match mkdirat(&fd, name, Mode::S_IRWXU) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(_) => return None,
                }
            }
            fd = openat(&fd, name, directory | OFlag::O_NOFOLLOW, Mode::empty()).ok()?;
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
    pub(super) fn read(&self) -> Result<StateFile, Oversized> {
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
        if size > MAX_STATE_FILE_BYTES {
            return Err(Oversized { bytes: size });
        }
        // One read of the size it has: muxguard only ever replaces the file whole (a rename),
        // so the one opened does not change. Whatever else writes into it meanwhile, no more
        // than that size is read, and a file cut short reads as no state.
        let mut bytes = vec![0u8; size as usize];
        if (&file).read_exact(&mut bytes).is_err() {
            return Ok(StateFile::default());
        }
        Ok(serde_json::from_slice::<StateFile>(&bytes)
            .ok()
            .filter(|state| state.schema == STATE_SCHEMA)
            .unwrap_or_default())
    }

    /// Read-modify-write under an exclusive lock; `change` returns whether it changed anything.
    /// A file over the limit is replaced in any case.
    pub(super) fn update(&self, change: impl FnOnce(&mut StateFile) -> bool) -> io::Result<()> {
        let _lock = self.lock()?;
        let (mut state, starting_afresh) = match self.read() {
            Ok(state) => (state, false),
            Err(Oversized { bytes }) => {
                output::warn(&format!(
                    "ignoring {}: {bytes} bytes, over the {} MiB limit; starting afresh",
                    text::path(&self.file_path()),
                    MAX_STATE_FILE_BYTES >> 20
                ));
                (StateFile::default(), true)
            }
        };
        if !change(&mut state) && !starting_afresh {
            return Ok(());
        }
        state.schema = STATE_SCHEMA;
        prune(&mut state);
        let json = serde_json::to_vec_pretty(&state).map_err(io::Error::other)?;
        // Only absurd strings get this far; written, they would be thrown away next time.
        if json.len() as u64 > MAX_STATE_FILE_BYTES {
            return Err(io::Error::other("the state would be over the size limit"));
        }
        self.replace(&json)
    }

    /// A lock file in the state directory, created when missing.
    pub(super) fn lock_file(&self, name: &str) -> io::Result<File> {
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

/// The nearest directory of `state_home` that exists, and the names below it down to the state
/// directory; `None` where what is missing is not plain names (`..`).
fn below_nearest(state_home: &Path) -> Option<(PathBuf, Vec<OsString>)> {
    let base = state_home.ancestors().find(|dir| dir.is_dir())?;
    let mut below = Vec::new();
    for component in state_home.strip_prefix(base).ok()?.components() {
        match component {
            Component::Normal(name) => below.push(name.to_os_string()),
            _ => return None,
        }
    }
    below.push(STATE_DIR_NAME.into());
    Some((base.to_path_buf(), below))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;
    use crate::state::tests::seen_at;
    use crate::state::{Seen, now};

    fn mode_of(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    /// A missing XDG_STATE_HOME is made, mode 0700, below the nearest directory of it that
    /// exists (and is the user's); `..` on the missing part is refused.
    #[test]
    fn a_missing_state_home_is_made() {
        let temporary = tempfile::tempdir().unwrap();
        let state_home = temporary.path().join("no/such/state");
        let (base, below) = below_nearest(&state_home).unwrap();
        assert_eq!(base, temporary.path());
        assert_eq!(
            below,
            ["no", "such", "state", "muxguard"].map(OsString::from)
        );
        assert!(StateDir::walk(&base, &below, false).is_none());
        assert!(!state_home.exists(), "a load creates nothing");
        let dir = StateDir::walk(&base, &below, true).unwrap();
        assert_eq!(dir.path, state_home.join("muxguard"));
        for made in ["no", "no/such", "no/such/state", "no/such/state/muxguard"] {
            assert_eq!(mode_of(&temporary.path().join(made)), 0o700, "{made}");
        }
        assert!(below_nearest(&temporary.path().join("gone/../state")).is_none());
    }

    #[test]
    fn the_state_directory_is_made_below_an_existing_base_only() {
        let temporary = tempfile::tempdir().unwrap();
        let home = temporary.path().join("home");
        assert!(StateDir::walk(&home, &UNDER_HOME, true).is_none());
        assert!(!home.exists());

        fs::create_dir(&home).unwrap();
        assert!(StateDir::walk(&home, &UNDER_HOME, false).is_none());
        assert!(!home.join(".local").exists(), "a load creates nothing");
        let dir = StateDir::walk(&home, &UNDER_HOME, true).unwrap();
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
        assert!(StateDir::walk(home.path(), &UNDER_HOME, true).is_none());
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
        fs::write(
            dir.file_path(),
            vec![b' '; MAX_STATE_FILE_BYTES as usize + 1],
        )
        .unwrap();
        let Err(Oversized { bytes }) = dir.read() else {
            panic!("read a file over the limit");
        };
        assert_eq!(bytes, MAX_STATE_FILE_BYTES + 1);
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
                            destination: Some(format!("u@h{i}:22").into()),
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
