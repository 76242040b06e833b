//! What any unix can do the same way: a process handle that checks the start time right before
//! each signal, the network from getifaddrs and its changes from a routing socket, socket flags
//! set with fcntl. macOS and the BSDs
//! use these; Linux has better means, and uses them instead unless muxguard is built with the
//! `portable` feature, which is how these are tested on Linux.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::sys::signal::Signal;
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, recv, socket};

use crate::platform::process::Status;
use crate::support::deadline::Deadline;

/// A handle on one process by its pid and start time: each signal goes only after the process
/// at that pid is seen to have the same start time, so a pid reused by a new process is never
/// hit (short of a reuse within the microseconds between the check and the signal).
pub struct ProcessHandle {
    pid: i32,
    started: u64,
}

impl ProcessHandle {
    /// Takes note of `pid`'s start time, then checks with `still_ours` that it is the process
    /// we mean; the start time then stands for it.
    pub fn open(pid: i32, still_ours: impl Fn(i32) -> bool) -> io::Result<ProcessHandle> {
        let process =
            super::process(pid).ok_or_else(|| io::Error::other(format!("pid {pid} is gone")))?;
        if !still_ours(pid) || super::process(pid).is_none_or(|now| now.started != process.started)
        {
            return Err(io::Error::other(format!(
                "pid {pid} is no longer the master it was"
            )));
        }
        Ok(ProcessHandle {
            pid,
            started: process.started,
        })
    }

    /// Whether the process is still there and has not exited.
    fn alive(&self) -> bool {
        super::process(self.pid)
            .is_some_and(|now| now.started == self.started && now.status != Status::Zombie)
    }

    /// It holds no descriptor.
    pub fn descriptor(&self) -> Option<i32> {
        None
    }

    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        if !self.alive() {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), signal)
            .map_err(io::Error::from)
    }

    /// Waits until the process has exited. Returns false if it still runs after `timeout`.
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        Deadline::after(timeout).poll_until(Duration::from_millis(5), || !self.alive())
    }
}

/// A Unix stream socket that never blocks and is closed on exec, made so with fcntl (where
/// socket() takes no such flags); on macOS it also never raises SIGPIPE.
pub fn stream_socket() -> io::Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )?;
    fcntl(&fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    let flags = OFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFL)?);
    fcntl(&fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    #[cfg(target_vendor = "apple")]
    {
        let on: libc::c_int = 1;
        // SAFETY: a valid socket and a c_int option value of the size given.
        let result = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_NOSIGPIPE,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if result != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(fd)
}

/// Every address of every interface but the loopback ones, with its interface and netmask,
/// from getifaddrs; `None` when it cannot be read.
pub fn network_facts() -> Option<Vec<Vec<u8>>> {
    let mut first: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills in a list that freeifaddrs frees below.
    if unsafe { libc::getifaddrs(&mut first) } != 0 {
        return None;
    }
    let mut facts = Vec::new();
    let mut next = first;
    while !next.is_null() {
        // SAFETY: a node of the list getifaddrs returned, valid until freeifaddrs.
        let entry = unsafe { &*next };
        next = entry.ifa_next;
        let loopback = entry.ifa_flags & libc::IFF_LOOPBACK as libc::c_uint != 0;
        if loopback || entry.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string of the list.
        let name = unsafe { std::ffi::CStr::from_ptr(entry.ifa_name) };
        let mut fact = name.to_bytes().to_vec();
        for address in [entry.ifa_addr, entry.ifa_netmask] {
            if let Some(bytes) = address_bytes(address) {
                fact.extend_from_slice(bytes);
            }
        }
        facts.push(fact);
    }
    // SAFETY: the list from getifaddrs, freed once.
    unsafe { libc::freeifaddrs(first) };
    Some(facts)
}

/// A routing socket (PF_ROUTE), which the BSDs and macOS make readable when a link or an
/// address comes, goes or changes: nothing is asked, it is only read.
#[cfg(not(target_os = "linux"))]
pub fn network_changes() -> io::Result<OwnedFd> {
    // SAFETY: socket() with constant arguments; the descriptor is owned at once.
    let raw = unsafe { libc::socket(libc::PF_ROUTE, libc::SOCK_RAW, libc::AF_UNSPEC) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor just returned by socket() and owned by nothing else.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    fcntl(&fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    let flags = OFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFL)?);
    fcntl(&fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(fd)
}

/// Reads every notice waiting on `changes` (from `network_changes`) without blocking, and says
/// whether there was any. A queue that overflowed counts as a change: some notices were lost.
pub fn drain_changes(changes: &OwnedFd) -> io::Result<bool> {
    let mut buffer = [0u8; 8192];
    let mut any = false;
    loop {
        match recv(changes.as_raw_fd(), &mut buffer, MsgFlags::MSG_DONTWAIT) {
            Ok(_) => any = true,
            Err(Errno::EAGAIN) => return Ok(any),
            Err(Errno::EINTR) => {}
            Err(Errno::ENOBUFS) => any = true,
            Err(error) => return Err(error.into()),
        }
    }
}

/// The family and address of an IPv4 or IPv6 sockaddr (other families say nothing of a link).
fn address_bytes<'a>(address: *const libc::sockaddr) -> Option<&'a [u8]> {
    if address.is_null() {
        return None;
    }
    // SAFETY: a sockaddr from getifaddrs; its family says how long it is.
    let family = unsafe { (*address).sa_family } as libc::c_int;
    let length = match family {
        libc::AF_INET => std::mem::size_of::<libc::sockaddr_in>(),
        libc::AF_INET6 => std::mem::size_of::<libc::sockaddr_in6>(),
        _ => return None,
    };
    // SAFETY: as above: that many bytes are there.
    Some(unsafe { std::slice::from_raw_parts(address.cast::<u8>(), length) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn a_handle_signals_its_process_and_sees_it_go() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        let handle = ProcessHandle::open(pid, |_| true).unwrap();
        assert!(
            !handle.wait_exit(Duration::from_millis(20)),
            "it still runs"
        );
        handle.signal(Signal::SIGKILL).unwrap();
        // A zombie counts as gone: it is not reaped until wait() below.
        assert!(handle.wait_exit(Duration::from_secs(5)));
        child.wait().unwrap();
    }

    #[test]
    fn a_process_with_another_start_time_is_never_signalled() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        let real = ProcessHandle::open(pid, |_| true).unwrap();
        // What a handle on an earlier process that had this pid would hold.
        let stale = ProcessHandle {
            pid,
            started: real.started.wrapping_sub(1),
        };
        let refused = stale.signal(Signal::SIGKILL).unwrap_err();
        assert_eq!(refused.raw_os_error(), Some(libc::ESRCH));
        assert!(stale.wait_exit(Duration::ZERO), "to it, that pid is gone");
        assert!(
            !real.wait_exit(Duration::from_millis(20)),
            "the process lives on"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            ProcessHandle::open(pid, |_| true).is_err(),
            "a reaped pid opens nothing"
        );
    }

    #[test]
    fn a_handle_is_refused_when_the_process_is_not_ours() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        assert!(ProcessHandle::open(pid, |_| false).is_err());
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn sockets_are_made_non_blocking_and_closed_on_exec() {
        let fd = stream_socket().unwrap();
        let flags = OFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFL).unwrap());
        assert!(flags.contains(OFlag::O_NONBLOCK));
        let fd_flags = FdFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFD).unwrap());
        assert!(fd_flags.contains(FdFlag::FD_CLOEXEC));
    }

    #[test]
    fn the_network_is_read() {
        let mut first = network_facts().expect("getifaddrs answers");
        let mut second = network_facts().expect("getifaddrs answers");
        first.sort();
        second.sort();
        assert_eq!(first, second, "the same network reads the same");
        // The loopback interface is left out.
        assert!(first.iter().all(|fact| !fact.starts_with(b"lo")));
    }
}
