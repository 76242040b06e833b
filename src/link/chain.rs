//! Chains through jump hosts, in the kernel's view: what carries a master that holds no TCP
//! connection of its own. A ProxyJump's `ssh -W` talks to the inner master through two pipes;
//! it is the jump host's master itself (it became one), a mux client of it, or a plain ssh
//! with a connection of its own (as `nc` and other ProxyCommands have).

use crate::platform::{self, Link};
use crate::socket::report::SocketReport;

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

/// `report`'s master is carried by `carrier`'s (a jump host's): `via` names that master, and
/// its connection stands for this one's.
pub fn carried_by(report: &mut SocketReport, carrier: &SocketReport) {
    report.via = carrier.path.clone();
    if let Some(link) = &carrier.link {
        report.link = Some(link.clone());
        report.flow_holder = carrier.flow_holder.or(carrier.pid);
    }
}

/// `report`'s master (`master`) is carried by no master of the user's: by its ProxyCommand's
/// own connection where it holds one (an `ssh -W` that connected by itself, `nc`), which then
/// stands for the master's; otherwise it is judged from its record. The detail says which.
pub fn carried_by_proxy(report: &mut SocketReport, master: i32) {
    let proxy = platform::pipe_peers(master).into_iter().find_map(|peer| {
        match platform::links(&[peer]).remove(&peer)? {
            link @ Link::Tcp(_) => Some((peer, link)),
            Link::ViaProxy => None,
        }
    });
    let Some((proxy, link)) = proxy else {
        report.detail.push_str(
            "; its connection goes through a ProxyCommand that is no master of yours: judged from its record",
        );
        return;
    };
    let name = platform::process(proxy).map_or_else(String::new, |p| format!(" {}", p.comm));
    report.detail.push_str(&format!(
        "; its connection goes through its ProxyCommand's own (pid {proxy}{name})"
    ));
    report.link = Some(link);
    report.flow_holder = Some(proxy);
}
