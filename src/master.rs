//! Ending master processes. A master is ended by its process, not only by its file: an old
//! master that exits later unlinks its ControlPath by name, taking a newer master's socket
//! with it.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::classify::SocketReport;
use crate::fsentry::{self, Removal};
use crate::procs::{self, Process, ProcessHandle};

/// How long a master gets to exit cleanly (and unlink its own socket) after SIGTERM.
const TERM_GRACE: Duration = Duration::from_millis(300);
/// How long SIGKILL may take to be seen.
const KILL_WAIT: Duration = Duration::from_secs(1);

/// Ends a master that does not answer: SIGTERM (with SIGCONT, so that a stopped master runs
/// its handler and unlinks its socket), then SIGKILL. Then removes the socket if it is still the
/// file that was classified. Returns what was done, or why nothing could be.
pub fn end_unresponsive(report: &SocketReport) -> Result<String, String> {
    let (Some(pid), Some(listener)) = (report.pid, report.listener) else {
        return Err("its master process could not be found".into());
    };
    let is_that_master = |pid: i32| {
        Process::read(pid).is_some_and(|process| process.is_ssh() && process.is_own())
            && procs::holds_socket(pid, listener)
    };
    let handle = ProcessHandle::open(pid, is_that_master)
        .map_err(|error| format!("cannot take hold of pid {pid}: {error}"))?;
    let signal_error = |error| format!("cannot signal pid {pid}: {error}");
    handle.signal(Signal::SIGTERM).map_err(signal_error)?;
    handle.signal(Signal::SIGCONT).map_err(signal_error)?;
    let how = if handle.wait_exit(TERM_GRACE) {
        "ended"
    } else {
        handle.signal(Signal::SIGKILL).map_err(signal_error)?;
        if !handle.wait_exit(KILL_WAIT) {
            return Err(format!("pid {pid} did not exit after SIGKILL"));
        }
        "killed"
    };
    let (Some(path), Some(file)) = (&report.path, &report.file) else {
        return Ok(format!("{how} master pid {}", handle.pid()));
    };
    let removal = match fsentry::remove_if_same(path, file) {
        Ok(Removal::Removed) => "; removed its socket",
        Ok(Removal::AlreadyGone) => "; it removed its socket",
        Ok(Removal::Replaced) => "; a new socket already took its place",
        Err(error) => {
            return Err(format!(
                "{how} master pid {pid}, but cannot remove its socket: {error}"
            ));
        }
    };
    Ok(format!("{how} master pid {}{removal}", handle.pid()))
}
