//! Chains through jump hosts, in the kernel's view: which master carries one that holds no TCP
//! connection of its own. A ProxyJump's `ssh -W` talks to the inner master through two pipes;
//! it is either the jump host's master itself (it became one) or a mux client of it.

use crate::platform;

/// How many masters a chain is followed through at most: a jump host's master may itself be
/// carried by another's.
pub const MAX_CARRIERS: usize = 8;

/// The master, among those `is_master` knows, that carries `pid`'s connection: the process at
/// the other end of `pid`'s pipes (its ProxyCommand) is that master, or holds the other end
/// of a Unix socket of that master's.
pub fn carrier_of(pid: i32, is_master: impl Fn(i32) -> bool) -> Option<i32> {
    platform::pipe_peers(pid).into_iter().find_map(|child| {
        if is_master(child) {
            return Some(child);
        }
        platform::unix_peer_holders(child)
            .into_iter()
            .find(|&holder| holder != pid && is_master(holder))
    })
}
