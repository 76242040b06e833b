//! Processes, read from `/proc`: who holds a listening socket, whether it is an ssh that is
//! stopped, and signalling it without the risk of hitting a reused pid.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use nix::poll::PollFlags;
use nix::sys::signal::Signal;
use nix::unistd::Uid;

use crate::deadline::Deadline;

/// Whose sockets and masters may be acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Only the user's own.
    Own,
    /// Any user's: root, acting on a path it was given explicitly.
    Any,
}

impl Owner {
    pub fn accepts(self, uid: u32) -> bool {
        self == Owner::Any || uid == Uid::effective().as_raw()
    }
}

#[derive(Debug, Clone)]
pub struct Process {
    pub pid: i32,
    pub uid: u32,
    /// The executable's name as the kernel keeps it (`ssh` for every ssh, whatever its title).
    pub comm: String,
    /// The state letter of /proc/PID/stat: `T` stopped, `t` stopped by a tracer, `Z` zombie.
    pub state: char,
    /// The controlling terminal's device number, 0 for none (a ControlPersist or `-f` master
    /// has none: it left its session).
    pub tty: i64,
}

impl Process {
    pub fn read(pid: i32) -> Option<Process> {
        let uid = fs::metadata(format!("/proc/{pid}")).ok()?.uid();
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The name is in parentheses and may itself contain spaces and parentheses.
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let comm = stat.get(open + 1..close)?.to_string();
        // After the name: state ppid pgrp session tty_nr ...
        let mut fields = stat.get(close + 1..)?.split_whitespace();
        let state = fields.next()?.chars().next()?;
        let tty = fields.nth(3)?.parse().ok()?;
        Some(Process {
            pid,
            uid,
            comm,
            state,
            tty,
        })
    }

    pub fn is_ssh(&self) -> bool {
        self.comm == "ssh"
    }

    pub fn is_stopped(&self) -> bool {
        matches!(self.state, 'T' | 't')
    }

    /// A stopped ssh with a terminal is a session someone suspended there (Ctrl-Z), to be
    /// resumed with `fg`: a master in the foreground of that terminal.
    pub fn is_suspended_in_a_terminal(&self) -> bool {
        self.is_ssh() && self.is_stopped() && self.tty != 0
    }
}

/// For each socket inode, the pids of the processes of `owner` that hold it open.
///
/// With `Owner::Own`, scans only processes owned by the effective user: those are the only
/// ones muxguard may act on, and the scan stays short on a busy machine.
pub fn holders_of(socket_inodes: &HashSet<u64>, owner: Owner) -> HashMap<u64, Vec<i32>> {
    let mut holders: HashMap<u64, Vec<i32>> = HashMap::new();
    if socket_inodes.is_empty() {
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
        for inode in socket_inodes_of(pid) {
            if socket_inodes.contains(&inode) {
                holders.entry(inode).or_default().push(pid);
            }
        }
    }
    holders
}

fn socket_inodes_of(pid: i32) -> impl Iterator<Item = u64> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .filter_map(|target| socket_inode(&target))
}

fn socket_inode(link_target: &std::path::Path) -> Option<u64> {
    link_target
        .to_str()?
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

pub fn holds_socket(pid: i32, socket_ino: u64) -> bool {
    socket_inodes_of(pid).any(|inode| inode == socket_ino)
}

/// The process behind a listening socket: an ssh among its holders if there is one (a master
/// may share its fds with children), else any.
pub fn pick_holder(pids: &[i32]) -> Option<Process> {
    pids.iter()
        .filter_map(|&pid| Process::read(pid))
        .min_by_key(|process| !process.is_ssh())
}

/// The user's own process behind a listening socket, found by scanning /proc.
pub fn holder_of(socket_ino: u64) -> Option<Process> {
    let holders = holders_of(&HashSet::from([socket_ino]), Owner::Own);
    pick_holder(holders.get(&socket_ino)?)
}

/// A handle on one process that stays valid when its pid is reused (a pidfd where the kernel
/// has them).
pub struct ProcessHandle {
    pid: i32,
    pidfd: Option<OwnedFd>,
}

impl ProcessHandle {
    /// Opens a handle on `pid`, then checks with `still_ours` that it is the process we mean.
    /// Checking after opening is what makes the handle safe: a pid reused before the open
    /// fails the check.
    pub fn open(pid: i32, still_ours: impl Fn(i32) -> bool) -> io::Result<ProcessHandle> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let pidfd = if fd >= 0 {
            // SAFETY: the syscall returned a fresh fd that nothing else owns.
            Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
        } else {
            let error = io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::ENOSYS) {
                return Err(error);
            }
            None
        };
        if !still_ours(pid) {
            return Err(io::Error::other(format!(
                "pid {pid} is no longer the master it was"
            )));
        }
        Ok(ProcessHandle { pid, pidfd })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        match &self.pidfd {
            Some(pidfd) => {
                // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
                let result = unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        pidfd.as_raw_fd(),
                        signal as i32,
                        std::ptr::null::<libc::siginfo_t>(),
                        0,
                    )
                };
                if result == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            }
            None => nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), signal)
                .map_err(io::Error::from),
        }
    }

    /// Waits until the process has exited. Returns false if it still runs after `timeout`.
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        let deadline = Deadline::after(timeout);
        match &self.pidfd {
            Some(pidfd) => deadline.wait_for(pidfd, PollFlags::POLLIN).unwrap_or(false),
            None => loop {
                let gone = Process::read(self.pid).is_none_or(|process| process.state == 'Z');
                if gone {
                    return true;
                }
                if deadline.remaining().is_zero() {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(5));
            },
        }
    }
}
