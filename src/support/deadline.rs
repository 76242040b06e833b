//! One point in time that bounds every wait of a command, so that nothing can make muxguard
//! wait longer than `--timeout`: main makes it when the command starts, and every step of the
//! command waits on it, not on a timeout of its own.

use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    /// The time it gave when it was made, for messages.
    timeout: Duration,
}

impl Deadline {
    pub fn after(timeout: Duration) -> Self {
        Deadline {
            at: Instant::now() + timeout,
            timeout,
        }
    }

    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn has_passed(&self) -> bool {
        self.remaining().is_zero()
    }

    /// The timeout it was made with.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// This deadline, or `within` from now if that comes first.
    pub fn or_sooner(&self, within: Duration) -> Deadline {
        let sooner = Deadline::after(within);
        if sooner.at < self.at { sooner } else { *self }
    }

    /// Asks `done` every `every` until it says so (true), or the deadline passes first (false):
    /// for what no descriptor tells, such as a process gone or a file removed.
    pub fn poll_until(&self, every: Duration, mut done: impl FnMut() -> bool) -> bool {
        loop {
            if done() {
                return true;
            }
            if self.has_passed() {
                return false;
            }
            std::thread::sleep(every.min(self.remaining()));
        }
    }

    /// Waits until `fd` is ready for `events`. Returns `Ok(false)` when the deadline passed first.
    pub fn wait_for(&self, fd: impl AsFd, events: PollFlags) -> io::Result<bool> {
        self.wait_for_any(&mut [PollFd::new(fd.as_fd(), events)])
    }

    /// Waits until one of `fds` is ready (each one's `revents` say which), or reports an error
    /// or hang-up, which poll reports whatever the events asked for. Returns `Ok(false)` when
    /// the deadline passed first.
    pub fn wait_for_any(&self, fds: &mut [PollFd]) -> io::Result<bool> {
        loop {
            let remaining = self.remaining();
            if remaining.is_zero() {
                return Ok(false);
            }
            // Round up so that a sub-millisecond remainder still waits instead of spinning.
            let millis = remaining.as_micros().div_ceil(1000).min(i32::MAX as u128);
            let timeout = PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX);
            match poll(fds, timeout) {
                Ok(0) => continue, // re-check the clock: poll may wake a little early
                Ok(_) => return Ok(true),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(errno) => return Err(errno.into()),
            }
        }
    }
}
