//! Telling the truth about one control socket: the states of the contract and why.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{UnixAddr, connect};
use nix::unistd::Uid;

use crate::openssh::mux::{AliveAsked, MuxClient, MuxError};
use crate::platform::process::{Owner, Process};
use crate::platform::{self, Listener};
use crate::socket::fsentry::{self, FileInfo, FileKind};
use crate::socket::holder;
use crate::socket::listeners::ListenerTable;
use crate::socket::report::{Reason, SocketReport};
use crate::support::deadline::Deadline;

/// What the first look at a path found.
pub enum Look {
    /// A socket of the user's, to be looked into.
    Socket(FileInfo),
    /// All there is to say without looking further: nothing there, or not the user's socket.
    Settled(Box<SocketReport>),
}

/// The first look, which needs no connection: anything but a socket of the user's own is
/// foreign.
pub fn look(path: &Path) -> Look {
    look_as(path, Owner::Own)
}

/// `look`, accepting the sockets of `owner`.
pub fn look_as(path: &Path, owner: Owner) -> Look {
    let settled = |reason, detail: String| {
        Look::Settled(Box::new(SocketReport::new(
            Some(path.to_path_buf()),
            reason,
            detail,
        )))
    };
    let info = match fsentry::inspect(path) {
        Ok(Some(info)) => info,
        Ok(None) => return settled(Reason::NothingThere, "nothing at this path".into()),
        Err(error) => return settled(Reason::CannotInspect, format!("cannot inspect it: {error}")),
    };
    let (reason, detail) = match info.kind {
        FileKind::Socket if owner.accepts(info.uid) => return Look::Socket(info),
        FileKind::Socket => (
            Reason::OtherOwner,
            format!("a socket owned by {}, not you", user_name(info.uid)),
        ),
        FileKind::Symlink => (
            Reason::Symlink,
            "a symlink, not a socket: not followed".to_string(),
        ),
        kind => (
            Reason::NotASocket,
            format!("{}, not a socket", kind.describe()),
        ),
    };
    Look::Settled(Box::new(SocketReport::for_file(
        path, &info, reason, detail,
    )))
}

fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => format!("{} (uid {uid})", user.name),
        _ => format!("uid {uid}"),
    }
}

/// A listener that no process of the user's holds: another user's, or one in a pid namespace
/// this one cannot see.
const NO_HOLDER: &str = "no process of yours listens on it";

/// Classifies the user's own socket without connecting to a listener: a connection would
/// restart a ControlPersist master's idle countdown. `holders` maps listening socket inodes to
/// the pids holding them.
pub fn classify_passive(
    path: &Path,
    info: &FileInfo,
    listeners: &ListenerTable,
    holders: &HashMap<u64, Vec<i32>>,
) -> SocketReport {
    let Some(listener) = listeners.for_file(path, info) else {
        return confirm_stale(path, info);
    };
    let holder = holders
        .get(&listener.socket)
        .and_then(|pids| holder::pick_holder(listener.socket, pids));
    let mut report = match holder {
        Some(process) => from_holder(path, info, &process, "listening"),
        None => SocketReport::for_file(
            path,
            info,
            Reason::NoSshOfYours,
            format!("listening, but {NO_HOLDER}"),
        ),
    };
    report.listener = Some(listener.socket);
    report
}

/// A socket of the user's that could not be looked into without connecting to it (there is no
/// passive table of listeners: `why`). Nothing was seen to be wrong with it.
pub fn unexamined(path: &Path, info: &FileInfo, why: &str) -> SocketReport {
    SocketReport::for_file(
        path,
        info,
        Reason::NotExamined,
        format!("not looked into: {why}; `muxguard check --path` asks it"),
    )
}

/// A socket with no listener: a refused connect confirms it without touching any master.
fn confirm_stale(path: &Path, info: &FileInfo) -> SocketReport {
    let (reason, detail) = match connect_unaccepted(path) {
        Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => (
            Reason::NoListener,
            "nothing listens on it: its master is gone".to_string(),
        ),
        // Not in the table, yet listening: no ssh of the user's (macOS's table holds only
        // those), or a master that appeared since the table was read (then so next time).
        Ok(()) => (Reason::NoSshOfYours, format!("listening, but {NO_HOLDER}")),
        Err(error) => (
            Reason::CannotConnect,
            format!("nothing listens on it, but connecting fails with: {error}"),
        ),
    };
    SocketReport::for_file(path, info, reason, detail)
}

/// Whether something listens at `path`: a connect without waiting, for a sweep that expects it
/// refused; `Ok` when it was accepted, or would be but for a full queue (`WouldBlock`). A
/// connect that was not accepted leaves a socket as it was, so one serves them all, a
/// thread's: one system call a stale socket, not three. One that connected is closed, and the
/// next gets a new one.
fn connect_unaccepted(path: &Path) -> io::Result<()> {
    thread_local! {
        static UNCONNECTED: RefCell<Option<OwnedFd>> = const { RefCell::new(None) };
    }
    let address = UnixAddr::new(path)?;
    UNCONNECTED.with_borrow_mut(|unconnected| {
        let fd = match unconnected.take() {
            Some(fd) => fd,
            None => platform::stream_socket()?,
        };
        let connected = connect(fd.as_raw_fd(), &address);
        if connected.is_err() {
            *unconnected = Some(fd);
        }
        match connected {
            Ok(()) | Err(Errno::EAGAIN) => Ok(()),
            Err(errno) => Err(errno.into()),
        }
    })
}

/// What a listener's process says about the socket, when it was not asked.
fn from_holder(path: &Path, info: &FileInfo, process: &Process, how: &str) -> SocketReport {
    let (reason, detail) = if !process.is_ssh() {
        (
            Reason::NotSsh,
            format!(
                "{} (pid {}) listens on it, not ssh",
                process.comm, process.pid
            ),
        )
    } else if process.is_stopped() {
        (
            Reason::MasterStopped,
            format!("master pid {} is stopped", process.pid),
        )
    } else {
        (
            Reason::Listening,
            format!("{how}; master pid {}", process.pid),
        )
    };
    SocketReport {
        pid: Some(process.pid),
        ..SocketReport::for_file(path, info, reason, detail)
    }
}

/// How long `classify_active` waits for an answer before it looks whether the master is stopped.
const GLANCE: Duration = Duration::from_millis(100);

/// Classifies by asking the master (HELLO + ALIVE_CHECK), for a caller about to use it, waiting
/// until `deadline` at the most. A live master comes with its connection, for a probe.
pub fn classify_active(path: &Path, deadline: Deadline) -> (SocketReport, Option<MuxClient>) {
    let info = match look(path) {
        Look::Socket(info) => info,
        Look::Settled(report) => return (*report, None),
    };
    // A master answers within a millisecond. One that has not after a glance may be stopped,
    // which /proc tells at once: then there is nothing to wait for. Otherwise (a busy machine,
    // a wedged master) it gets the rest of the time: a running master is called hung only once
    // the deadline has passed.
    let started = Instant::now();
    let asked = MuxClient::ask_alive(path, deadline.or_sooner(GLANCE));
    // While the master replies: the listener behind the file, which its answer is checked
    // against.
    let listener = match asked {
        Ok(_) => ListenerTable::socket_of(path, &info),
        Err(_) => None,
    };
    let mut answer = asked.and_then(AliveAsked::answer);
    if matches!(answer, Err(MuxError::Timeout)) && !deadline.has_passed() {
        let (_, holder) = listener_and_holder(path, &info);
        if !holder.is_some_and(|process| process.is_stopped()) {
            answer = MuxClient::connect_alive(path, deadline);
        }
    }
    let waited = started.elapsed();
    let (client, answer) = match answer {
        Ok((client, pid)) => (Some(client), Ok(pid)),
        Err(error) => (None, Err(error)),
    };
    let report = match answer {
        Ok(pid) => match confirm_own_ssh(path, &info, pid, listener) {
            Ok(()) => SocketReport {
                pid: Some(pid),
                ..SocketReport::for_file(
                    path,
                    &info,
                    Reason::Answered,
                    format!("master pid {pid} answered"),
                )
            },
            Err(report) => return (*report, None),
        },
        Err(MuxError::Refused) => SocketReport::for_file(
            path,
            &info,
            Reason::NoListener,
            "nothing listens on it: its master is gone",
        ),
        Err(MuxError::Io(error)) if error.kind() == io::ErrorKind::NotFound => SocketReport::new(
            Some(path.to_path_buf()),
            Reason::NothingThere,
            "nothing at this path",
        ),
        Err(error @ (MuxError::Timeout | MuxError::QueueFull)) => {
            let reason = match error {
                MuxError::QueueFull => Reason::AcceptQueueFull,
                _ => Reason::NoMuxAnswer,
            };
            unanswered(
                path,
                &info,
                reason,
                &format!("{error} (waited {waited:.1?})"),
            )
        }
        Err(error @ (MuxError::Closed | MuxError::Protocol(_))) => {
            not_a_master(path, &info, &error.to_string())
        }
        Err(MuxError::Denied(reason)) => SocketReport::for_file(
            path,
            &info,
            Reason::NotMux,
            format!("it refused the alive check, which no OpenSSH master does: {reason}"),
        ),
        Err(error @ MuxError::Io(_)) => SocketReport::for_file(
            path,
            &info,
            Reason::CannotConnect,
            format!("cannot talk to it: {error}"),
        ),
    };
    (report, client)
}

/// Whether `listener`, the socket that answered as master `claimed`, is the user's own ssh's,
/// as `status` would find it: anything else that speaks the protocol is foreign. The claim is
/// checked first (one /proc lookup); only when it fails is every process of the user's
/// searched. Where the kernel's table of listeners has none for the file, or cannot be read
/// (`None`), nothing can be checked, as for status.
fn confirm_own_ssh(
    path: &Path,
    info: &FileInfo,
    claimed: i32,
    listener: Option<u64>,
) -> Result<(), Box<SocketReport>> {
    let Some(listener) = listener else {
        return Ok(());
    };
    let is_own_ssh = |process: Process| process.is_ssh() && Owner::Own.accepts(process.uid);
    if platform::process(claimed).is_some_and(is_own_ssh)
        && platform::holds_socket(claimed, listener)
    {
        return Ok(());
    }
    let mut report = match holder::holder_of(listener) {
        Some(holder) => from_holder(path, info, &holder, "listening"),
        None => SocketReport::for_file(
            path,
            info,
            Reason::NoSshOfYours,
            format!("it answers as master pid {claimed}, but {NO_HOLDER}"),
        ),
    };
    report.listener = Some(listener);
    Err(Box::new(report))
}

/// A listener that accepted but gave no mux answer in time: hung if it is an ssh, foreign if
/// something else listens there.
/// `reason` is why it is hung when the master is not seen to be stopped.
fn unanswered(path: &Path, info: &FileInfo, reason: Reason, why: &str) -> SocketReport {
    let (listener, holder) = listener_and_holder(path, info);
    let mut report = match &holder {
        Some(process) if !process.is_ssh() => from_holder(path, info, process, "listening"),
        Some(process) => {
            let (reason, state) = if process.is_stopped() {
                (Reason::MasterStopped, "is stopped")
            } else {
                (reason, "does not answer")
            };
            SocketReport {
                pid: Some(process.pid),
                ..SocketReport::for_file(
                    path,
                    info,
                    reason,
                    format!("master pid {} {state}: {why}", process.pid),
                )
            }
        }
        // A listener no process of the user's holds is foreign, as status says; without the
        // kernel's table, nothing is known of it but that it does not answer.
        None if listener.is_some() => SocketReport::for_file(
            path,
            info,
            Reason::NoSshOfYours,
            format!("it {why}, and {NO_HOLDER}"),
        ),
        None => SocketReport::for_file(path, info, reason, format!("the listener {why}")),
    };
    report.listener = listener;
    report
}

fn not_a_master(path: &Path, info: &FileInfo, why: &str) -> SocketReport {
    let (listener, holder) = listener_and_holder(path, info);
    let who = holder
        .as_ref()
        .map(|process| format!("{} (pid {})", process.comm, process.pid))
        .unwrap_or_else(|| "the listener".to_string());
    SocketReport {
        pid: holder.map(|process| process.pid),
        listener,
        ..SocketReport::for_file(
            path,
            info,
            Reason::NotMux,
            format!("{who} does not speak the mux protocol: {why}"),
        )
    }
}

/// The listening socket behind a file and the user's own process that holds it.
fn listener_and_holder(path: &Path, info: &FileInfo) -> (Option<u64>, Option<Process>) {
    let listener = ListenerTable::socket_of(path, info);
    (listener, listener.and_then(holder::holder_of))
}

/// The masters in the kernel's table: each listener bound to `<ControlPath>.<16 characters>`
/// (as OpenSSH binds it) and held by an ssh process among `holders`, with its ControlPath and
/// that process.
pub fn masters_in<'a>(
    listeners: &'a ListenerTable,
    holders: &'a HashMap<u64, Vec<i32>>,
) -> impl Iterator<Item = (&'a Listener, &'a Path, Process)> {
    listeners.all().iter().filter_map(|listener| {
        let control_path =
            crate::socket::listeners::master_path_of(listener.bound_path.as_deref()?)?;
        let process = holders
            .get(&listener.socket)
            .and_then(|pids| holder::pick_holder(listener.socket, pids))
            .filter(Process::is_ssh)?;
        Some((listener, control_path, process))
    })
}

/// Whether `info` is the file `listener` was bound to; without file identities from the kernel
/// (no sock_diag), any socket passes.
pub fn is_bound_to(listener: &Listener, info: &FileInfo) -> bool {
    match listener.file {
        Some(file) => (info.dev, info.ino) == file,
        None => info.kind == FileKind::Socket,
    }
}

/// Masters still running whose ControlPath no longer leads to them: the socket file was
/// deleted or replaced. Each holds its sessions, and when it exits it will unlink the path by
/// name, possibly a newer master's socket.
pub fn orphans(listeners: &ListenerTable, holders: &HashMap<u64, Vec<i32>>) -> Vec<SocketReport> {
    let mut found = Vec::new();
    for (listener, control_path, process) in masters_in(listeners, holders) {
        let leads_to_it = |path: &Path| {
            fsentry::inspect(path)
                .ok()
                .flatten()
                .is_some_and(|info| is_bound_to(listener, &info))
        };
        let bound = listener.bound_path.as_deref().unwrap_or(control_path);
        // The bound name still leading to it means a master being born, not an orphan.
        if leads_to_it(control_path) || leads_to_it(bound) {
            continue;
        }
        let (reason, what) = if fsentry::inspect(control_path).ok().flatten().is_some() {
            (Reason::SocketReplaced, "replaced by another")
        } else {
            (Reason::SocketDeleted, "deleted")
        };
        found.push(SocketReport {
            pid: Some(process.pid),
            listener: Some(listener.socket),
            ..SocketReport::new(
                Some(control_path.to_path_buf()),
                reason,
                format!(
                    "master pid {} still runs, but its socket was {what}",
                    process.pid
                ),
            )
        });
    }
    found
}
