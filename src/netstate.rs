//! What a master's link depends on, as a snapshot to compare later: a suspend, a reboot or a
//! change of network since a master was last seen working is a reason to suspect its link.
//! `check` takes one on the way to every ssh, so it reads only clocks and one netlink dump.

use std::hash::{DefaultHasher, Hash, Hasher};

use nix::sys::socket::SockProtocol;
use nix::time::{ClockId, clock_gettime};
use serde::{Deserialize, Serialize};

use crate::netlink;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When this boot began, in Unix seconds: clocks from another boot cannot be compared.
    pub booted_at: i64,
    /// CLOCK_BOOTTIME in nanoseconds: it keeps counting while the machine is suspended.
    pub boottime_ns: u64,
    /// CLOCK_MONOTONIC in nanoseconds: it stops while the machine is suspended, so between two
    /// snapshots BOOTTIME advancing more than MONOTONIC is time spent suspended.
    pub monotonic_ns: u64,
    /// A fingerprint of every address of every interface, loopback aside.
    pub network: String,
}

/// Wall-clock adjustments (NTP) move the computed boot time a little; a reboot moves it a lot.
const BOOT_TIME_SLACK_S: i64 = 30;

impl Snapshot {
    pub fn now() -> Snapshot {
        let nanos = |clock| {
            clock_gettime(clock)
                .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
                .unwrap_or(0)
        };
        let boottime_ns = nanos(ClockId::CLOCK_BOOTTIME);
        let wall_s = nanos(ClockId::CLOCK_REALTIME) / 1_000_000_000;
        Snapshot {
            booted_at: wall_s as i64 - (boottime_ns / 1_000_000_000) as i64,
            boottime_ns,
            monotonic_ns: nanos(ClockId::CLOCK_MONOTONIC),
            network: network_fingerprint(),
        }
    }

    pub fn same_boot(&self, other: &Snapshot) -> bool {
        (self.booted_at - other.booted_at).abs() <= BOOT_TIME_SLACK_S
    }
}

const RTM_GETADDR: u16 = 22;
const IFADDRMSG_LEN: usize = 8;
const IFA_ADDRESS: u16 = 1;
const RT_SCOPE_HOST: u8 = 254;

/// Every address of every interface but the loopback ones (scope host), with its interface
/// and prefix: a master's TCP link rarely survives a change of any of them.
fn network_fingerprint() -> String {
    let mut facts: Vec<Vec<u8>> = Vec::new();
    // struct ifaddrmsg, all families.
    let request = [libc::AF_UNSPEC as u8, 0, 0, 0, 0, 0, 0, 0];
    let dumped = netlink::dump(SockProtocol::NetlinkRoute, RTM_GETADDR, &request, |body| {
        if body.len() < IFADDRMSG_LEN || body[3] == RT_SCOPE_HOST {
            return;
        }
        let address = netlink::attributes(&body[IFADDRMSG_LEN..])
            .find(|(kind, _)| *kind == IFA_ADDRESS)
            .map(|(_, payload)| payload);
        if let Some(address) = address {
            // family, prefix length, interface index, address
            let mut fact = vec![body[0], body[1]];
            fact.extend_from_slice(&body[4..8]);
            fact.extend_from_slice(address);
            facts.push(fact);
        }
    });
    if dumped.is_err() {
        return String::new();
    }
    facts.sort();
    let mut hasher = DefaultHasher::new();
    facts.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_of_one_moment_agree() {
        let first = Snapshot::now();
        let second = Snapshot::now();
        assert!(first.same_boot(&second));
        assert_eq!(first.network, second.network);
        assert!(!first.network.is_empty(), "the netlink address dump works");
        assert!(second.boottime_ns >= first.boottime_ns);
        assert!(second.monotonic_ns >= first.monotonic_ns);
        let other_boot = Snapshot {
            booted_at: first.booted_at - 3600,
            ..first.clone()
        };
        assert!(!first.same_boot(&other_boot));
    }
}
