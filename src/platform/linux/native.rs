//! Linux's own means where every unix has one too (see unix.rs): a pidfd, a netlink address
//! dump, socket flags at creation. Left out of a `portable` build, which uses unix.rs instead.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::poll::PollFlags;
use nix::sys::signal::Signal;
use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType, socket};

use super::netlink;
use crate::support::deadline::Deadline;

/// A handle on one process: a pidfd, so that a signal can only reach that process and its exit
/// can be waited for with poll; on a kernel without pidfds (before 5.3), the start-time check
/// that other unixes get.
pub enum ProcessHandle {
    Pidfd(OwnedFd),
    Checked(crate::platform::unix::ProcessHandle),
}

impl ProcessHandle {
    /// Opens a handle on `pid`, then checks with `still_ours` that it is the process we mean.
    /// Checking after opening is what makes the handle safe: a pid reused before the open
    /// fails the check.
    pub fn open(pid: i32, still_ours: impl Fn(i32) -> bool) -> io::Result<ProcessHandle> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::ENOSYS) {
                return crate::platform::unix::ProcessHandle::open(pid, still_ours)
                    .map(ProcessHandle::Checked);
            }
            return Err(error);
        }
        // SAFETY: the syscall returned a fresh fd that nothing else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        if !still_ours(pid) {
            return Err(io::Error::other(format!(
                "pid {pid} is no longer the master it was"
            )));
        }
        Ok(ProcessHandle::Pidfd(pidfd))
    }

    /// The descriptor the handle holds, if it holds one (to keep it open where others close).
    pub fn descriptor(&self) -> Option<i32> {
        match self {
            ProcessHandle::Pidfd(pidfd) => Some(pidfd.as_raw_fd()),
            ProcessHandle::Checked(_) => None,
        }
    }

    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        let pidfd = match self {
            ProcessHandle::Pidfd(pidfd) => pidfd,
            ProcessHandle::Checked(handle) => return handle.signal(signal),
        };
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

    /// Waits until the process has exited. Returns false if it still runs after `timeout`.
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        match self {
            ProcessHandle::Pidfd(pidfd) => Deadline::after(timeout)
                .wait_for(pidfd, PollFlags::POLLIN)
                .unwrap_or(false),
            ProcessHandle::Checked(handle) => handle.wait_exit(timeout),
        }
    }
}

/// A Unix stream socket that never blocks and is closed on exec, made so in one call.
pub fn stream_socket() -> io::Result<OwnedFd> {
    Ok(socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?)
}

const RTM_GETADDR: u16 = 22;
const IFADDRMSG_LEN: usize = 8;
const IFA_ADDRESS: u16 = 1;
const RT_SCOPE_HOST: u8 = 254;

/// Every address of every interface but the loopback ones (scope host), with its interface and
/// prefix, from one netlink dump; `None` when it cannot be read.
pub fn network_facts() -> Option<Vec<Vec<u8>>> {
    let mut facts: Vec<Vec<u8>> = Vec::new();
    // struct ifaddrmsg, all families.
    let request = [libc::AF_UNSPEC as u8, 0, 0, 0, 0, 0, 0, 0];
    netlink::dump(SockProtocol::NetlinkRoute, RTM_GETADDR, &request, |body| {
        if body.len() < IFADDRMSG_LEN || body[3] == RT_SCOPE_HOST {
            return;
        }
        let address = netlink::attributes(&body[IFADDRMSG_LEN..])
            .find(|(kind, _)| *kind == IFA_ADDRESS)
            .map(|(_, payload)| payload);
        if let Some(address) = address {
            // family, prefix length, interface index, address
            let mut fact = vec![body[0], body[1]];
            fact.extend_from_slice(&body[4..8]);
            fact.extend_from_slice(address);
            facts.push(fact);
        }
    })
    .ok()?;
    Some(facts)
}
