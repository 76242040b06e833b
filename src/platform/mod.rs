//! Everything that differs between operating systems, behind one set of names: above this
//! folder no code asks which system it runs on. Uses support only; `process` holds the types
//! of what it tells of a process.
//!
//! What crosses the seam:
//! - `listeners()`: which Unix socket paths something listens on, read passively (a connection
//!   would restart a ControlPersist master's idle countdown);
//! - `process(pid)`, `holders_of`, `holds_socket`, `working_directory`: owner, name, running or
//!   stopped, start time and terminal of a process, which processes hold a listening socket,
//!   and the directory a relative name it bound lies in;
//! - `ProcessHandle`: signalling one process and no other, even when its pid is reused;
//! - `CLOCKS`: a clock that counts time suspended and one that does not;
//! - `network_facts()`: the machine's addresses, for noticing a change of network;
//! - `network_changes()`, `drain_changes`: a socket the kernel makes readable when a link or an
//!   address changes (Linux's rtnetlink groups, the BSDs' and macOS's routing socket);
//! - `stream_socket()`, `NO_SIGPIPE`: socket set-up;
//! - `links(pids)`: each master's connection to its server (peer, and on Linux how long the
//!   server has been silent and whether data is being retransmitted);
//! - `pipe_peers`, `unix_peer_holders`: what carries a master with no connection of its own
//!   (Linux; elsewhere nothing is found, and such a master is judged as before);
//! - `MAX_SOCKET_PATH`, `die_with_parent`, `rename_noreplace`.
//!
//! Linux (`linux/`) reads sock_diag and /proc and holds processes by pidfd; macOS (`macos.rs`)
//! asks libproc; other unixes (`other.rs`) have no passive listener table and say so. `unix.rs`
//! holds what any unix does the same way; the `portable` feature makes Linux use it too, so
//! that the tests exercise it against the real sshd.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub mod process;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod other;
// On Linux without `portable` the binary uses its own means, but these are built and their
// unit tests run all the same.
#[cfg_attr(all(target_os = "linux", not(feature = "portable")), allow(dead_code))]
mod unix;

#[cfg(target_os = "linux")]
use linux as os;
#[cfg(target_os = "macos")]
use macos as os;
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
use other as os;

pub use os::{
    CLOCKS, MAX_SOCKET_PATH, NO_SIGPIPE, die_with_parent, holders_of, holds_socket, links,
    listeners, pipe_peers, process, rename_noreplace, unix_peer_holders, working_directory,
};

// Linux's own means, or, with the `portable` feature and on every other unix, the portable
// ones: a pidfd or a start-time check, a netlink dump or getifaddrs, socket flags at creation
// or by fcntl.
#[cfg(target_os = "linux")]
pub use os::network_changes;
#[cfg(all(target_os = "linux", not(feature = "portable")))]
pub use os::{ProcessHandle, network_facts, stream_socket};
pub use unix::drain_changes;
#[cfg(not(target_os = "linux"))]
pub use unix::network_changes;
#[cfg(any(not(target_os = "linux"), feature = "portable"))]
pub use unix::{ProcessHandle, network_facts, stream_socket};

/// A listening Unix stream socket.
#[derive(Debug, Clone)]
pub struct Listener {
    /// The socket's identity, as the holders of it are found by: its inode on Linux (as
    /// `/proc/PID/fd` shows it, `socket:[N]`), the kernel's handle of it on macOS.
    pub socket: u64,
    /// The path it was bound to: for an OpenSSH master, `<ControlPath>.<16 random characters>`.
    pub bound_path: Option<PathBuf>,
    /// Device and inode of the file made by bind(), when the kernel tells.
    pub file: Option<(u64, u64)>,
}

/// What the kernel knows of a master's connection to its server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// It holds no TCP socket: a ProxyCommand or ProxyJump carries its connection.
    ViaProxy,
    Tcp(TcpLink),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpLink {
    /// The server's address and port, as connected to.
    pub peer: SocketAddr,
    /// Where the kernel keeps it (Linux's tcp_info).
    pub timing: Option<TcpTiming>,
}

/// How the connection is doing, as the kernel's TCP stack sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpTiming {
    /// In the ESTABLISHED state (not closing).
    pub established: bool,
    /// Retransmissions of the oldest unacknowledged data so far.
    pub retransmits: u8,
    /// Exponential backoff of the retransmission timer.
    pub backoff: u8,
    /// Segments sent and not yet acknowledged.
    pub unacked: u32,
    /// Since data last came from the server (the kernel's clock stops while suspended).
    pub silent: Duration,
    /// Since the master last sent the server data: when more recent than `silent`, the server
    /// has not answered it.
    pub since_sent: Duration,
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Bytes the server acknowledged so far (Linux 4.1 and later; the SYN counts as one).
    pub bytes_acked: Option<u64>,
}
