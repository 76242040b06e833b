//! Ending master processes. A master is ended by its process, not only by its file: an old
//! master that exits later unlinks its ControlPath by name, taking a newer master's socket
//! with it.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::classify::{SocketReport, State};
use crate::deadline::Deadline;
use crate::fsentry::{self, Removal};
use crate::listeners::ListenerTable;
use crate::mux::MuxClient;
use crate::procs::{self, Process, ProcessHandle};

/// How long a master gets to exit by itself (and unlink its own socket) after TERMINATE or
/// SIGTERM.
const GRACE: Duration = Duration::from_millis(300);
/// How long SIGKILL may take to be seen.
const KILL_WAIT: Duration = Duration::from_secs(1);

/// Ends the master behind `report` and removes its socket if it is still the file that was
/// classified. A master that answers (an unreachable one) is asked to TERMINATE; one that does
/// not, or does not go, gets SIGTERM (with SIGCONT, so that a stopped master runs its handler
/// and unlinks its socket), then SIGKILL. Only the user's own ssh process that holds the
/// socket's listener is ever signalled. Returns what was done, or why nothing could be.
pub fn end(report: &SocketReport) -> Result<String, String> {
    let no_process = || "its master process could not be found".to_string();
    let pid = report.pid.ok_or_else(no_process)?;
    let listener = report
        .listener
        .or_else(|| {
            let table = ListenerTable::load().ok()?;
            let listener = table.for_file(report.path.as_deref()?, report.file.as_ref()?)?;
            Some(listener.socket_ino)
        })
        .ok_or_else(no_process)?;
    let is_that_master = |pid: i32| {
        Process::read(pid).is_some_and(|process| process.is_ssh() && process.is_own())
            && procs::holds_socket(pid, listener)
    };
    let handle = ProcessHandle::open(pid, is_that_master)
        .map_err(|error| format!("cannot take hold of pid {pid}: {error}"))?;

    let asked = report.state == State::Unreachable
        && report.path.as_deref().is_some_and(|path| {
            MuxClient::connect(path, Deadline::after(GRACE))
                .and_then(|mut client| client.terminate())
                .is_ok()
        });
    let how = if asked && handle.wait_exit(GRACE) {
        "ended"
    } else {
        let signal_error = |error| format!("cannot signal pid {pid}: {error}");
        handle.signal(Signal::SIGTERM).map_err(signal_error)?;
        handle.signal(Signal::SIGCONT).map_err(signal_error)?;
        if handle.wait_exit(GRACE) {
            "ended"
        } else {
            handle.signal(Signal::SIGKILL).map_err(signal_error)?;
            if !handle.wait_exit(KILL_WAIT) {
                return Err(format!("pid {pid} did not exit after SIGKILL"));
            }
            "killed"
        }
    };
    let (Some(path), Some(file)) = (&report.path, &report.file) else {
        return Ok(format!("{how} master pid {pid}"));
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
    Ok(format!("{how} master pid {pid}{removal}"))
}
