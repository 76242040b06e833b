//! The request after the hand-over: once `muxguard ssh` gives the command to ssh through a
//! master it judged healthy, a companion process watches the flow that carries the master to
//! its server until the server acknowledges what is sent, the flow closes, or ssh exits (30 s
//! at most). A flow that died a moment ago shows nothing before the request is sent; after,
//! the kernel shows it retransmitted and unacknowledged. The companion then ends the master
//! (SIGTERM), and ssh, whose master went away before the session opened, connects afresh by
//! itself.
//!
//! It never ends a master once the server has acknowledged anything sent after the hand-over:
//! the request may have arrived, and a command must never run twice.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::{ForkResult, fork};

use crate::platform::{self, Link, ProcessHandle, TcpTiming};
use crate::support::text;

/// How often the companion reads the flow: a few system calls each time.
const EVERY: Duration = Duration::from_millis(100);
/// How long a request may go unacknowledged before the flow counts as dead, at the least: the
/// first retransmission comes after one RTO (200 ms at the very least), and one lost packet
/// on a working link is retransmitted and acknowledged within a few.
const AT_LEAST: Duration = Duration::from_secs(1);
/// How many retransmission timeouts in a row (the kernel's backoff) say the same.
const TIMEOUTS: u8 = 2;
/// How long it watches at most: a request is sent at once, and one lost shows within seconds.
/// An ssh that sends nothing through the master (`-N`) is not watched for its whole life.
const AT_MOST: Duration = Duration::from_secs(30);

/// What the flow says of the request, read after the hand-over.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Nothing yet either way.
    Waiting,
    /// The server acknowledged something sent since the hand-over (perhaps the request: the
    /// master must be left alone from now on), or the flow is closing: nothing to do.
    Through,
    /// Sent and retransmitted, nothing acknowledged, nothing heard: the request never reached
    /// the server. Why, in words.
    Lost(String),
}

/// `acked_before`: what the server had acknowledged at the hand-over. What it sends is no
/// sign either way: data from before the flow died may still come in.
fn judge(acked_before: u64, now: &TcpTiming, waited: Duration) -> Verdict {
    let Some(acked) = now.bytes_acked else {
        return Verdict::Through;
    };
    if acked > acked_before || !now.established {
        return Verdict::Through;
    }
    // Unacknowledged and backed off: retransmitted into a network that loses it, or, with
    // nothing in flight, not sent at all (a window the server keeps shut, a local route or
    // firewall that refuses it). Either way it did not reach the server's sshd.
    if now.backoff >= TIMEOUTS && waited >= AT_LEAST {
        return Verdict::Lost(format!(
            "the server acknowledged nothing sent to it for {:.1}s (retransmitted {} time(s))",
            waited.as_secs_f64(),
            now.retransmits.max(now.backoff)
        ));
    }
    Verdict::Waiting
}

/// The TCP flow of `holder` (a master, or its ProxyCommand) as the kernel shows it, where it
/// counts bytes (Linux).
fn timing_of(holder: i32) -> Option<TcpTiming> {
    match platform::links(&[holder]).remove(&holder)? {
        Link::Tcp(tcp) => tcp.timing,
        Link::ViaProxy => None,
    }
}

/// The live master a session goes through, to be watched after the hand-over.
pub struct Carrier {
    pub path: PathBuf,
    pub pid: i32,
    /// When it started, as `platform::process` tells: with the pid, it names that process.
    pub started: u64,
    /// The process whose TCP flow carries it: the master, or its ProxyCommand (`nc`).
    pub flow: i32,
    /// Whether ssh connects afresh when it ends: it does through a master of the
    /// destination's own (which goes with a jump host's that carries it), not through `-W`.
    pub falls_back: bool,
}

/// Starts the companion for `carrier`, just before this process becomes ssh. Nothing is
/// started where the kernel does not count the flow's bytes (macOS, a ProxyCommand with no TCP
/// connection of its own that can be seen) or the master is not what it was.
pub fn watch(carrier: &Carrier) {
    let Some(timing) = timing_of(carrier.flow) else {
        return;
    };
    let Some(acked_before) = timing.bytes_acked else {
        return;
    };
    let still_the_master =
        |pid| platform::process(pid).is_some_and(|p| p.started == carrier.started);
    let Ok(master) = ProcessHandle::open(carrier.pid, still_the_master) else {
        return;
    };
    // This process, which is about to become ssh: the companion ends when it does.
    let me = std::process::id() as i32;
    let Ok(ssh) = ProcessHandle::open(me, |_| true) else {
        return;
    };
    // SAFETY: muxguard runs no other thread here (the probes' threads were joined), so the
    // child may go on as a normal process.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => {
            // The middle process exits at once: the companion belongs to init, not to ssh.
            let _ = nix::sys::wait::waitpid(child, None);
        }
        Ok(ForkResult::Child) => {
            let detached =
                nix::unistd::setsid().is_ok() && matches!(unsafe { fork() }, Ok(ForkResult::Child));
            if detached {
                companion(carrier, acked_before, &master, &ssh);
            }
            // SAFETY: _exit ends this process without running anything of the parent's.
            unsafe { libc::_exit(0) }
        }
        Err(_) => {}
    }
}

/// The companion itself: in a session of its own (no terminal, so Ctrl-C and Ctrl-Z reach ssh
/// alone), holding none of the user's descriptors but stderr, for its one line. The server had
/// acknowledged `acked_before` bytes at the hand-over.
fn companion(carrier: &Carrier, acked_before: u64, master: &ProcessHandle, ssh: &ProcessHandle) {
    let stderr = nix::unistd::dup(std::io::stderr()).ok();
    release_descriptors(stderr.as_ref(), master, ssh);
    let _ = std::env::set_current_dir("/");
    let handed_over = Instant::now();
    while handed_over.elapsed() < AT_MOST {
        if ssh.wait_exit(EVERY) {
            return;
        }
        let Some(timing) = timing_of(carrier.flow) else {
            return;
        };
        match judge(acked_before, &timing, handed_over.elapsed()) {
            Verdict::Waiting => {}
            Verdict::Through => return,
            Verdict::Lost(why) => {
                if master.signal(Signal::SIGTERM).is_ok() {
                    if let Some(stderr) = stderr {
                        let next = match carrier.falls_back {
                            true => "ssh connects afresh",
                            false => "ssh cannot go around a jump host's master: run it again",
                        };
                        // One write, so that what ssh writes meanwhile cannot cut the line.
                        let line = format!(
                            "muxguard: ended master pid {} of {}: {why}; {next}\n",
                            carrier.pid,
                            text::path(&carrier.path)
                        );
                        let _ = std::fs::File::from(stderr).write_all(line.as_bytes());
                    }
                }
                return;
            }
        }
    }
}

/// Standard input and output become /dev/null and every other descriptor is closed, but
/// those the companion needs: a `$(...)` or a pipe sees its end as soon as ssh lets go.
fn release_descriptors(stderr: Option<&OwnedFd>, master: &ProcessHandle, ssh: &ProcessHandle) {
    let keep: Vec<i32> = [
        stderr.map(AsRawFd::as_raw_fd),
        master.descriptor(),
        ssh.descriptor(),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..=2 {
            // SAFETY: dup2 onto the standard descriptors, which this process owns.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
    let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .or_else(|_| std::fs::read_dir("/dev/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open.into_iter().filter(|fd| *fd > 2 && !keep.contains(fd)) {
        // SAFETY: closing a descriptor nothing in this process uses again. The listing's own
        // is among them and already closed: close() says EBADF, harmlessly (an OwnedFd would
        // take that for a double close and abort).
        unsafe { libc::close(fd) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(acked: u64, unacked: u32, backoff: u8) -> TcpTiming {
        TcpTiming {
            established: true,
            retransmits: backoff,
            backoff,
            unacked,
            silent: Duration::from_secs(3),
            since_sent: Duration::from_secs(2),
            rtt: Duration::from_millis(20),
            bytes_acked: Some(acked),
        }
    }

    const START: u64 = 1000;

    #[test]
    fn a_request_retransmitted_and_never_acknowledged_is_lost() {
        let waited = Duration::from_millis(1500);
        let Verdict::Lost(why) = judge(START, &flow(1000, 1, 3), waited) else {
            panic!("not lost");
        };
        assert!(why.contains("1.5s") && why.contains("3 time(s)"), "{why}");
    }

    /// A lost packet on a working link, or a slow one: not yet.
    #[test]
    fn one_retransmission_or_a_short_wait_is_not_enough() {
        let moment = Duration::from_millis(600);
        assert_eq!(judge(START, &flow(1000, 1, 1), moment), Verdict::Waiting);
        assert_eq!(judge(START, &flow(1000, 1, 3), moment), Verdict::Waiting);
        let later = Duration::from_secs(2);
        assert_eq!(judge(START, &flow(1000, 1, 1), later), Verdict::Waiting);
        assert_eq!(judge(START, &flow(1000, 0, 0), later), Verdict::Waiting);
        // Not sent at all, its sending backed off: as lost.
        assert!(matches!(
            judge(START, &flow(1000, 0, 2), later),
            Verdict::Lost(_)
        ));
    }

    /// Once the server acknowledged anything since the hand-over, the request may be running:
    /// the master is never ended then, however the flow does after.
    #[test]
    fn anything_acknowledged_since_is_through() {
        let later = Duration::from_secs(5);
        assert_eq!(judge(START, &flow(1001, 1, 6), later), Verdict::Through);
        let closing = TcpTiming {
            established: false,
            ..flow(1000, 1, 6)
        };
        assert_eq!(judge(START, &closing, later), Verdict::Through);
        let uncounted = TcpTiming {
            bytes_acked: None,
            ..flow(1000, 1, 6)
        };
        assert_eq!(judge(START, &uncounted, later), Verdict::Through);
    }
}
