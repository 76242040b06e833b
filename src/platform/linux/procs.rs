//! Processes, read from `/proc`, and the sockets they hold.

use crate::platform::process::{Owner, Process, Status};
use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
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

/// A small /proc file of one line, in one read: the kernel gives them no size, and std, which
/// asks for one first, then reads in doubling steps from 32 bytes, takes eight system calls for
/// a stat. The kernel makes the whole line before the first read, so a read that comes back
/// short with the line's end is all of it.
fn read_small(path: &str) -> Option<String> {
    let mut file = fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match file.read(&mut chunk).ok()? {
            0 => break,
            read => {
                bytes.extend_from_slice(&chunk[..read]);
                if read < chunk.len() && bytes.ends_with(b"\n") {
                    break;
                }
            }
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
    fn prefix(self) -> &'static [u8] {
        match self {
            Held::Socket => b"socket:[",
            Held::Pipe => b"pipe:[",
        }
    }

    /// The inode in a link's target that names one of these (`socket:[1234]`).
    pub(super) fn inode_in(self, target: &[u8]) -> Option<u64> {
        let digits = target.strip_prefix(self.prefix())?.strip_suffix(b"]")?;
        std::str::from_utf8(digits).ok()?.parse().ok()
    }
}

/// The descriptors of a process, by number, each with its link's target (`/dev/null`,
/// `socket:[1234]`), read lazily from `/proc/PID/fd`. One descriptor serves the directory:
/// its entries come from getdents64 itself (opendir adds an fstat) and each link is read
/// relative to it (readlinkat), without walking `/proc/PID/fd` again for each.
pub(super) struct Descriptors {
    dir: OwnedFd,
    entries: Vec<u8>,
    /// How much of `entries` the last getdents64 filled, and how far it has been read.
    filled: usize,
    read: usize,
}

/// Room for the entries of a typical process in one getdents64: 32 bytes an entry.
const ENTRIES_BUFFER: usize = 4096;
/// The longest link target looked at: a socket's or a pipe's is 20-odd bytes.
const TARGET_BUFFER: usize = 64;

impl Descriptors {
    /// `None` when the process is gone or its descriptors cannot be read (another user's).
    pub(super) fn of(pid: i32) -> Option<Descriptors> {
        let path = CString::new(format!("/proc/{pid}/fd")).ok()?;
        // SAFETY: a NUL-terminated path; the kernel returns a new descriptor or -1.
        let fd = unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return None;
        }
        Some(Descriptors {
            // SAFETY: the kernel just returned it, and nothing else owns it.
            dir: unsafe { OwnedFd::from_raw_fd(fd) },
            entries: vec![0; ENTRIES_BUFFER],
            filled: 0,
            read: 0,
        })
    }

    /// The next entry's name, reading more entries when those read are used up; `None` at the
    /// end (or on an error, which ends the listing as the end would).
    fn next_name(&mut self) -> Option<(usize, usize)> {
        if self.read == self.filled {
            // SAFETY: the kernel writes at most the buffer's length of entries into it.
            let filled = unsafe {
                libc::syscall(
                    libc::SYS_getdents64,
                    self.dir.as_raw_fd(),
                    self.entries.as_mut_ptr(),
                    self.entries.len(),
                )
            };
            if filled <= 0 {
                return None;
            }
            self.filled = filled as usize;
            self.read = 0;
        }
        // struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
        let entry = &self.entries[self.read..self.filled];
        let length = u16::from_ne_bytes([*entry.get(16)?, *entry.get(17)?]) as usize;
        let name = entry.get(19..length)?;
        let name_length = name.iter().position(|&byte| byte == 0)?;
        let start = self.read + 19;
        self.read += length;
        Some((start, name_length))
    }
}

impl Iterator for Descriptors {
    type Item = (i32, Vec<u8>);

    fn next(&mut self) -> Option<(i32, Vec<u8>)> {
        loop {
            let (start, length) = self.next_name()?;
            let name = &self.entries[start..start + length + 1];
            // `.` and `..`, and any descriptor closed since the listing, are passed over.
            let Some(fd) = std::str::from_utf8(&name[..length])
                .ok()
                .and_then(|digits| digits.parse().ok())
            else {
                continue;
            };
            let mut target = [0u8; TARGET_BUFFER];
            // SAFETY: `name` is NUL-terminated (the kernel's d_name), and the kernel writes at
            // most the buffer's length into `target`.
            let written = unsafe {
                libc::readlinkat(
                    self.dir.as_raw_fd(),
                    name.as_ptr().cast(),
                    target.as_mut_ptr().cast(),
                    target.len(),
                )
            };
            if written >= 0 {
                return Some((fd, target[..written as usize].to_vec()));
            }
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
    Descriptors::of(pid)
        .into_iter()
        .flatten()
        .filter_map(move |(_, target)| held.inode_in(&target))
}
