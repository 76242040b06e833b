//! The user's locks, in the state directory: one background sweep at a time, one watcher at a
//! time. A hold ends when it is dropped or the process ends, however it ends.

use std::fs::File;
use std::io::{Read, Write};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::dir::StateDir;

/// A hold on one of the user's locks.
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
pub fn hold_watch() -> Result<Hold, Held> {
    let hold = hold("watch.lock")?;
    if let Some(lock) = &hold._lock {
        let mut file: &File = lock;
        let _ = file
            .set_len(0)
            .and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()));
    }
    Ok(hold)
}

fn hold(name: &str) -> Result<Hold, Held> {
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
