//! Linux: the kernel's socket table (sock_diag), /proc, pidfds, CLOCK_BOOTTIME and a netlink
//! address dump.

mod chains;
mod events;
mod links;
mod listeners;
#[cfg(not(feature = "portable"))]
mod native;
mod netlink;
mod procs;

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::sys::socket::MsgFlags;
use nix::time::ClockId;

pub use chains::{pipe_peers, unix_peer_holders};
pub use events::network_changes;
pub use links::links;
pub use listeners::listeners;
#[cfg(not(feature = "portable"))]
pub use native::{ProcessHandle, network_facts, stream_socket};
pub use procs::{holders_of, holds_socket, process, working_directory};

/// sun_path holds 108 bytes with the final NUL.
pub const MAX_SOCKET_PATH: usize = 107;

/// What a write to a peer that went away returns instead of raising SIGPIPE.
pub const NO_SIGPIPE: MsgFlags = MsgFlags::MSG_NOSIGNAL;

/// The clock that counts time suspended (CLOCK_BOOTTIME) and the one that does not
/// (CLOCK_MONOTONIC): between two readings, the first running ahead is time spent suspended.
pub const CLOCKS: Option<(ClockId, ClockId)> =
    Some((ClockId::CLOCK_BOOTTIME, ClockId::CLOCK_MONOTONIC));

/// For a child between fork and exec: it is killed when muxguard ends (its watchdog), instead
/// of running on. Only async-signal-safe calls.
pub fn die_with_parent() -> io::Result<()> {
    // SAFETY: prctl with these arguments only sets a flag of the calling process.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// rename() that fails with `AlreadyExists` rather than replace an entry at `to`
/// (renameat2 RENAME_NOREPLACE; EINVAL where the filesystem does not offer it).
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let from = CString::new(from.as_os_str().as_bytes())?;
    let to = CString::new(to.as_os_str().as_bytes())?;
    // The system call itself: musl (the static build) has no renameat2 wrapper.
    // SAFETY: both are NUL-terminated strings that outlive the call.
    let result = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
