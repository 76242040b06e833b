//! What carries a master that holds no TCP connection of its own: the process at the other end
//! of its pipes (its ProxyCommand, the `ssh -W` a ProxyJump runs), and the processes at the
//! other end of that one's Unix sockets (the jump host's master, when the `ssh -W` is its mux
//! client).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;

use super::netlink::{self, ne_u32};
use super::procs::{holders_of, socket_inodes_of};
use crate::platform::process::Owner;

const TCP_ESTABLISHED: u32 = 1;
const UDIAG_SHOW_PEER: u32 = 0x4;
const UNIX_DIAG_PEER: u16 = 2;
const UNIX_DIAG_MSG_LEN: usize = 16;

/// The user's other processes that hold one of `pid`'s pipes: the ProxyCommand ssh talks to
/// through two of them. (A ControlPersist master is the child of the ssh that started the
/// command, which then exited: the command is no child of the master's.)
pub fn pipe_peers(pid: i32) -> Vec<i32> {
    let pipes: HashSet<u64> = fd_targets(pid)
        .filter_map(|target| inode_of(&target, "pipe:["))
        .collect();
    if pipes.is_empty() {
        return Vec::new();
    }
    let me = crate::platform::process::my_uid();
    let Ok(processes) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    processes
        .flatten()
        .filter(|entry| entry.metadata().is_ok_and(|meta| meta.uid() == me))
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&other| other != pid)
        .filter(|&other| {
            fd_targets(other)
                .filter_map(|target| inode_of(&target, "pipe:["))
                .any(|inode| pipes.contains(&inode))
        })
        .collect()
}

/// Where each of `pid`'s descriptors leads, as /proc shows it (`pipe:[N]`, `socket:[N]`, a path).
fn fd_targets(pid: i32) -> impl Iterator<Item = String> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| {
            fs::read_link(fd.path())
                .ok()?
                .into_os_string()
                .into_string()
                .ok()
        })
}

fn inode_of(target: &str, kind: &str) -> Option<u64> {
    target.strip_prefix(kind)?.strip_suffix(']')?.parse().ok()
}

/// The user's processes that hold the other end of `pid`'s connected Unix sockets.
pub fn unix_peer_holders(pid: i32) -> Vec<i32> {
    let own: HashSet<u64> = socket_inodes_of(pid).collect();
    if own.is_empty() {
        return Vec::new();
    }
    let mut peers = HashMap::new();
    let dumped = netlink::dump_unix_sockets(1 << TCP_ESTABLISHED, UDIAG_SHOW_PEER, |body| {
        if body.len() < UNIX_DIAG_MSG_LEN {
            return;
        }
        let inode = ne_u32(&body[4..8]) as u64;
        if !own.contains(&inode) {
            return;
        }
        let peer = netlink::attributes(&body[UNIX_DIAG_MSG_LEN..])
            .find(|(kind, payload)| *kind == UNIX_DIAG_PEER && payload.len() >= 4)
            .map(|(_, payload)| ne_u32(&payload[..4]) as u64);
        if let Some(peer) = peer {
            peers.insert(peer, inode);
        }
    });
    if dumped.is_err() || peers.is_empty() {
        return Vec::new();
    }
    let wanted: HashSet<u64> = peers.keys().copied().collect();
    let mut holders: Vec<i32> = holders_of(&wanted, Owner::Own)
        .into_values()
        .flatten()
        .filter(|&holder| holder != pid)
        .collect();
    holders.sort_unstable();
    holders.dedup();
    holders
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;

    use super::*;

    /// A child holding the other end of a pipe (as a ProxyCommand does ssh's) and of a socket
    /// pair (as an `ssh -W` holds its connection to the hop's master) is found from this end.
    #[test]
    fn finds_the_other_ends_of_pipes_and_sockets() {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let me = std::process::id() as i32;
        let (mine, theirs) = UnixStream::pair().unwrap();
        let (pipe_out, pipe_in) = nix::unistd::pipe().unwrap();
        let handed = [theirs.as_raw_fd(), pipe_out.as_raw_fd()];
        let mut command = std::process::Command::new("sleep");
        command.arg("5");
        // SAFETY: dup2 is async-signal-safe, and nothing else runs before exec.
        unsafe {
            command.pre_exec(move || {
                for (fd, to) in handed.into_iter().zip([3, 4]) {
                    if libc::dup2(fd, to) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = command.spawn().unwrap();
        drop((theirs, pipe_out));
        let child_pid = child.id() as i32;
        let through_pipes = pipe_peers(me);
        let through_sockets = unix_peer_holders(me);
        child.kill().unwrap();
        child.wait().unwrap();
        drop((mine, pipe_in));
        assert!(through_pipes.contains(&child_pid), "{through_pipes:?}");
        assert!(through_sockets.contains(&child_pid), "{through_sockets:?}");
    }
}
