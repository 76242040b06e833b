//! What carries a master that holds no TCP connection of its own: the process at the other end
//! of its pipes (its ProxyCommand, the `ssh -W` a ProxyJump runs), and the processes at the
//! other end of that one's Unix sockets (the jump host's master, when the `ssh -W` is its mux
//! client).

use std::collections::HashSet;

use super::netlink::{self, ne_u32};
use super::procs::{Held, holders_by, inodes_of};
use crate::platform::process::Owner;

const TCP_ESTABLISHED: u32 = 1;
const UDIAG_SHOW_PEER: u32 = 0x4;
const UNIX_DIAG_PEER: u16 = 2;
const UNIX_DIAG_MSG_LEN: usize = 16;

/// The user's other processes that hold one of `pid`'s pipes: the ProxyCommand ssh talks to
/// through two of them. (A ControlPersist master is the child of the ssh that started the
/// command, which then exited: the command is no child of the master's.)
pub fn pipe_peers(pid: i32) -> Vec<i32> {
    let pipes: HashSet<u64> = inodes_of(pid, Held::Pipe).collect();
    others_holding(&pipes, Held::Pipe, pid)
}

/// The user's processes but `pid` that hold one of `inodes`, in pid order.
fn others_holding(inodes: &HashSet<u64>, held: Held, pid: i32) -> Vec<i32> {
    let mut holders: Vec<i32> = holders_by(inodes, Owner::Own, held)
        .into_values()
        .flatten()
        .filter(|&holder| holder != pid)
        .collect();
    holders.sort_unstable();
    holders.dedup();
    holders
}

/// The user's processes that hold the other end of `pid`'s connected Unix sockets.
pub fn unix_peer_holders(pid: i32) -> Vec<i32> {
    let own: HashSet<u64> = inodes_of(pid, Held::Socket).collect();
    if own.is_empty() {
        return Vec::new();
    }
    let mut peers = HashSet::new();
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
        peers.extend(peer);
    });
    if dumped.is_err() || peers.is_empty() {
        return Vec::new();
    }
    others_holding(&peers, Held::Socket, pid)
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
