//! Processes, read from `/proc`, and the sockets they hold.

use crate::platform::process::{Owner, Process, Status};
use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;

pub fn process(pid: i32) -> Option<Process> {
    let uid = fs::metadata(format!("/proc/{pid}")).ok()?.uid();
    let stat = read_small(&format!("/proc/{pid}/stat"))?;
    // The name is in parentheses and may itself contain spaces and parentheses.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    // After the name: state(3) ppid pgrp session tty_nr(7) ... starttime(22).
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let status = match fields.first()?.chars().next()? {
        'T' | 't' => Status::Stopped,
        'Z' | 'X' => Status::Zombie,
        _ => Status::Running,
    };
    let tty: i64 = fields.get(4)?.parse().ok()?;
    Some(Process {
        pid,
        uid,
        comm,
        status,
        has_terminal: tty != 0,
        started: fields.get(19)?.parse().ok()?,
    })
}

/// A small /proc file in two reads: the kernel gives them no size, and std, which asks for one
/// first, then reads in doubling steps from 32 bytes, takes eight system calls for a stat.
fn read_small(path: &str) -> Option<String> {
    let mut file = fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match file.read(&mut chunk).ok()? {
            0 => break,
            read => bytes.extend_from_slice(&chunk[..read]),
        }
    }
    String::from_utf8(bytes).ok()
}

/// The directory a process works in: where a relative name it bound lies.
pub fn working_directory(pid: i32) -> Option<std::path::PathBuf> {
    fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

/// What a descriptor leads to, as /proc names it (`socket:[N]`, `pipe:[N]`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Held {
    Socket,
    Pipe,
}

impl Held {
    fn prefix(self) -> &'static str {
        match self {
            Held::Socket => "socket:[",
            Held::Pipe => "pipe:[",
        }
    }
}

/// For each socket inode, the pids of the processes of `owner` that hold it open.
///
/// With `Owner::Own`, scans only processes owned by the effective user: those are the only
/// ones muxguard may act on, and the scan stays short on a busy machine.
pub fn holders_of(sockets: &HashSet<u64>, owner: Owner) -> HashMap<u64, Vec<i32>> {
    holders_by(sockets, owner, Held::Socket)
}

/// `holders_of`, for the inodes of what `held` names.
pub(super) fn holders_by(
    inodes: &HashSet<u64>,
    owner: Owner,
    held: Held,
) -> HashMap<u64, Vec<i32>> {
    let mut holders: HashMap<u64, Vec<i32>> = HashMap::new();
    if inodes.is_empty() {
        return holders;
    }
    let Ok(entries) = fs::read_dir("/proc") else {
        return holders;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        if !entry.metadata().is_ok_and(|meta| owner.accepts(meta.uid())) {
            continue;
        }
        for inode in inodes_of(pid, held) {
            if inodes.contains(&inode) {
                holders.entry(inode).or_default().push(pid);
            }
        }
    }
    holders
}

pub fn holds_socket(pid: i32, socket: u64) -> bool {
    inodes_of(pid, Held::Socket).any(|inode| inode == socket)
}

/// The inodes of what `held` names among `pid`'s descriptors.
pub(super) fn inodes_of(pid: i32, held: Held) -> impl Iterator<Item = u64> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .filter_map(move |target| {
            target
                .to_str()?
                .strip_prefix(held.prefix())?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
}
