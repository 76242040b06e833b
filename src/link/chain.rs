//! Chains through jump hosts, in the kernel's view: what carries a master that holds no TCP
//! connection of its own. A ProxyJump's `ssh -W` talks to the inner master through two pipes;
//! it is the jump host's master itself (it became one), a mux client of it, or a plain ssh
//! with a connection of its own (as `nc` and other ProxyCommands have).

use crate::platform::{self, Link};

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

/// A ProxyCommand with a TCP connection of its own (an `ssh -W` that connected by itself,
/// `nc`): that connection carries the master's.
pub struct ProxyFlow {
    pub pid: i32,
    pub link: Link,
}

/// The ProxyCommand of `pid`'s that holds a TCP connection of its own, if there is one.
pub fn proxy_flow(pid: i32) -> Option<ProxyFlow> {
    platform::pipe_peers(pid).into_iter().find_map(|peer| {
        match platform::links(&[peer]).remove(&peer)? {
            link @ Link::Tcp(_) => Some(ProxyFlow { pid: peer, link }),
            Link::ViaProxy => None,
        }
    })
}

/// What a master carried by no master of the user's goes through, in words for its detail:
/// its ProxyCommand's own connection (`found`), or nothing seen, so that it is judged as
/// before, from its record.
pub fn proxy_words(found: Option<&ProxyFlow>) -> String {
    match found {
        Some(proxy) => {
            let name = platform::process(proxy.pid).map_or_else(String::new, |p| format!(" {}", p.comm));
            format!(
                "; its connection goes through its ProxyCommand's own (pid {}{name})",
                proxy.pid
            )
        }
        None => "; its connection goes through a ProxyCommand that is no master of yours: judged from its record".into(),
    }
}
