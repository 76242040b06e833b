//! Ending master processes. A master is ended by its process, not only by its file: an old
//! master that exits later unlinks its ControlPath by name, taking a newer master's socket
//! with it.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::openssh::mux::MuxClient;
use crate::platform::process::{Owner, Status};
use crate::platform::{self, ProcessHandle};
use crate::socket::fsentry::{self, Removal};
use crate::socket::listeners::ListenerTable;
use crate::socket::report::{Outcome, SocketReport, State};
use crate::support::deadline::Deadline;

/// How long a master gets to do what it was asked (exit, or drop its socket) by itself.
const EXIT_GRACE: Duration = Duration::from_millis(300);
/// How long SIGKILL may take to be seen.
const KILL_WAIT: Duration = Duration::from_secs(1);
/// How long each step gets when the deadline has passed: a signal is acted on at once (unless
/// the process is stuck in an uninterruptible wait), and a master that went by itself, or a
/// kill that worked, should not be taken for one that did not because the time ran out.
const KILL_SEEN: Duration = Duration::from_millis(100);

/// How to end a master that still answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// STOP_LISTENING: the socket goes now; sessions already open run to their end, then the
    /// master exits.
    StopListening,
    /// TERMINATE: the master exits now, with its sessions.
    Terminate,
}

/// Ends the master behind `report` so that the next ssh builds a fresh one, and removes its
/// socket if it is still the file that was classified. A master that answers is asked (`how`);
/// one that does not, or does not do it, gets SIGTERM (with SIGCONT, so that a stopped master
/// runs its handler and unlinks its socket), then SIGKILL. An orphan gets SIGKILL straight away:
/// any clean exit would unlink its path by name, and that path may hold a newer master's socket.
/// Only an ssh process holding the socket's listener is ever signalled. Every wait is cut short
/// at `deadline`: a master that has not done what it was asked by then gets the next signal,
/// and the signals are sent however late it is. Returns what was done and the words for it, or
/// why nothing could be.
pub fn end(
    report: &SocketReport,
    how: Ending,
    owner: Owner,
    deadline: Deadline,
) -> Result<(Outcome, String), String> {
    // Each step gets its grace, cut short by the deadline; once that has passed, still the
    // moment a signalled master takes to exit, so that one that goes by itself is not killed.
    let grace = || {
        if deadline.has_passed() {
            Deadline::after(KILL_SEEN)
        } else {
            deadline.or_sooner(EXIT_GRACE)
        }
    };
    let no_process = || "its master process could not be found".to_string();
    let pid = report.pid.ok_or_else(no_process)?;
    let listener = report
        .listener
        .or_else(|| ListenerTable::socket_of(report.path.as_deref()?, report.file.as_ref()?));
    let Some(listener) = listener else {
        return went_by_itself(report, pid, grace()).ok_or_else(no_process);
    };
    let is_that_master = |pid: i32| {
        platform::process(pid).is_some_and(|process| process.is_ssh() && owner.accepts(process.uid))
            && platform::holds_socket(pid, listener)
    };
    let handle = match ProcessHandle::open(pid, is_that_master) {
        Ok(handle) => handle,
        Err(error) => {
            let why = format!("cannot take hold of pid {pid}: {error}");
            return went_by_itself(report, pid, grace()).ok_or(why);
        }
    };
    let signal_error = |error| format!("cannot signal pid {pid}: {error}");
    let kill = || -> Result<(Outcome, &'static str), String> {
        handle.signal(Signal::SIGKILL).map_err(signal_error)?;
        if handle.wait_exit(KILL_WAIT.min(deadline.remaining()).max(KILL_SEEN)) {
            Ok((Outcome::Killed, "killed"))
        } else {
            Err(format!("pid {pid} did not exit after SIGKILL"))
        }
    };

    if report.state == State::Orphan {
        return kill().map(|(outcome, done)| (outcome, format!("{done} orphan master pid {pid}")));
    }
    let answers = matches!(report.state, State::Live | State::Unreachable);
    let asked = answers && ask(report, how, grace());
    let (outcome, done) = match (asked, how) {
        (true, Ending::StopListening) if socket_gone(report, grace()) => {
            return Ok((
                Outcome::StoppedListening,
                format!(
                    "master pid {pid} stopped listening and removed its socket; it exits when \
                     its open sessions end"
                ),
            ));
        }
        (true, Ending::Terminate) if handle.wait_exit(grace().remaining()) => {
            (Outcome::Ended, "ended")
        }
        _ => {
            handle.signal(Signal::SIGTERM).map_err(signal_error)?;
            handle.signal(Signal::SIGCONT).map_err(signal_error)?;
            if handle.wait_exit(grace().remaining()) {
                (Outcome::Ended, "ended")
            } else {
                kill()?
            }
        }
    };
    let (Some(path), Some(file)) = (&report.path, &report.file) else {
        return Ok((outcome, format!("{done} master pid {pid}")));
    };
    let removal = match fsentry::remove_if_same(path, file) {
        Ok(Removal::Removed) => "; removed its socket",
        Ok(Removal::AlreadyGone) => "; it removed its socket",
        Ok(Removal::Replaced) => "; a new socket already took its place",
        Err(error) => {
            return Err(format!(
                "{done} master pid {pid}, but cannot remove its socket: {error}"
            ));
        }
    };
    Ok((outcome, format!("{done} master pid {pid}{removal}")))
}

/// What is left to do when the master is no longer there to end, or is on its way out (one
/// carried by a jump host's master goes when that one is ended): once it has gone, before
/// `deadline`, its socket is removed if it left it. `None` while it still runs.
fn went_by_itself(
    report: &SocketReport,
    pid: i32,
    deadline: Deadline,
) -> Option<(Outcome, String)> {
    let gone = || platform::process(pid).is_none_or(|process| process.status == Status::Zombie);
    if !deadline.poll_until(Duration::from_millis(5), gone) {
        return None;
    }
    let exited = format!("master pid {pid} exited by itself");
    let (Some(path), Some(file)) = (&report.path, &report.file) else {
        return Some((Outcome::AlreadyGone, exited));
    };
    match fsentry::remove_if_same(path, file) {
        Ok(Removal::Removed) => Some((Outcome::Removed, format!("{exited}; removed its socket"))),
        Ok(Removal::AlreadyGone) => Some((Outcome::AlreadyGone, exited)),
        Ok(Removal::Replaced) => Some((
            Outcome::ReplacedLeftAlone,
            format!("{exited}; a new socket already took its place"),
        )),
        Err(_) => None,
    }
}

/// Sends the master its request; true when it accepted before `deadline`.
fn ask(report: &SocketReport, how: Ending, deadline: Deadline) -> bool {
    let Some(path) = report.path.as_deref() else {
        return false;
    };
    MuxClient::connect(path, deadline)
        .and_then(|mut client| match how {
            Ending::StopListening => client.stop_listening(),
            Ending::Terminate => client.terminate(),
        })
        .is_ok()
}

/// Waits until the classified socket file is no longer at its path, or `deadline` passes.
fn socket_gone(report: &SocketReport, deadline: Deadline) -> bool {
    let (Some(path), Some(file)) = (&report.path, &report.file) else {
        return true;
    };
    deadline.poll_until(Duration::from_millis(2), || {
        !fsentry::inspect(path)
            .ok()
            .flatten()
            .is_some_and(|now| now.same_file(file))
    })
}
