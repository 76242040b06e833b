//! Other unixes (the BSDs): no passive table of listening sockets and no process facts here
//! yet. What depends on them degrades honestly: `status` and `clean` connect to no socket that
//! might be a live master and say that they could not look; `check` and `muxguard ssh` ask the
//! master itself, as everywhere; nothing is ever signalled, since no process can be verified.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use nix::sys::socket::MsgFlags;
use nix::time::ClockId;

use super::{Link, Listener};
use crate::platform::process::{Owner, Process};

/// sun_path holds 104 bytes with the final NUL on the BSDs.
pub const MAX_SOCKET_PATH: usize = 103;

/// Sockets need no flag: Rust ignores SIGPIPE, so a write to a closed peer returns EPIPE.
pub const NO_SIGPIPE: MsgFlags = MsgFlags::empty();

/// No pair of clocks known to tell time suspended: a suspend is not noticed.
pub const CLOCKS: Option<(ClockId, ClockId)> = None;

pub fn listeners() -> io::Result<Vec<Listener>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this system has no passive table of listening sockets that muxguard can read",
    ))
}

pub fn process(_pid: i32) -> Option<Process> {
    None
}

pub fn working_directory(_pid: i32) -> Option<PathBuf> {
    None
}

pub fn holders_of(_sockets: &HashSet<u64>, _owner: Owner) -> HashMap<u64, Vec<i32>> {
    HashMap::new()
}

pub fn holds_socket(_pid: i32, _socket: u64) -> bool {
    false
}

/// No way known here to see a process's connections.
pub fn links(_pids: &[i32]) -> HashMap<i32, Link> {
    HashMap::new()
}

/// No way known here to follow what carries a master: nothing is found.
pub fn pipe_peers(_pid: i32) -> Vec<i32> {
    Vec::new()
}

pub fn unix_peer_holders(_pid: i32) -> Vec<i32> {
    Vec::new()
}

pub fn die_with_parent() -> io::Result<()> {
    Ok(())
}

/// No exclusive rename known here: EINVAL, as from a filesystem that cannot, makes fsentry
/// check the name is free and rename.
pub fn rename_noreplace(_from: &Path, _to: &Path) -> io::Result<()> {
    Err(io::Error::from_raw_os_error(libc::EINVAL))
}
