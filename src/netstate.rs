//! What a master's link depends on, as a snapshot to compare later: a suspend, a reboot or a
//! change of network since a master was last seen working is a reason to suspect its link.

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;

use nix::ifaddrs::getifaddrs;
use nix::net::if_::InterfaceFlags;
use nix::time::{ClockId, clock_gettime};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Identifies this boot: clocks from another boot cannot be compared.
    pub boot_id: String,
    /// CLOCK_BOOTTIME in nanoseconds: it keeps counting while the machine is suspended.
    pub boottime_ns: u64,
    /// CLOCK_MONOTONIC in nanoseconds: it stops while the machine is suspended, so between two
    /// snapshots BOOTTIME advancing more than MONOTONIC is time spent suspended.
    pub monotonic_ns: u64,
    /// A fingerprint of the default routes and the addresses of the interfaces that are up.
    pub network: String,
}

impl Snapshot {
    pub fn now() -> Snapshot {
        let nanos = |clock| {
            clock_gettime(clock)
                .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
                .unwrap_or(0)
        };
        Snapshot {
            boot_id: fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .map(|id| id.trim().to_string())
                .unwrap_or_default(),
            boottime_ns: nanos(ClockId::CLOCK_BOOTTIME),
            monotonic_ns: nanos(ClockId::CLOCK_MONOTONIC),
            network: network_fingerprint(),
        }
    }
}

/// Default routes plus every address of every interface that is up, loopback aside.
fn network_fingerprint() -> String {
    let mut facts: Vec<String> = Vec::new();
    if let Ok(addresses) = getifaddrs() {
        for interface in addresses {
            if !interface.flags.contains(InterfaceFlags::IFF_UP)
                || interface.flags.contains(InterfaceFlags::IFF_LOOPBACK)
            {
                continue;
            }
            let address = interface.address.as_ref().and_then(|address| {
                address
                    .as_sockaddr_in()
                    .map(|v4| IpAddr::V4(v4.ip()))
                    .or_else(|| address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
            });
            if let Some(address) = address {
                facts.push(format!("{} {address}", interface.interface_name));
            }
        }
    }
    facts.extend(default_routes());
    facts.sort();
    let mut hasher = DefaultHasher::new();
    facts.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// `/proc/net/route` and `/proc/net/ipv6_route` lines for the default destination.
fn default_routes() -> Vec<String> {
    let mut routes = Vec::new();
    if let Ok(table) = fs::read_to_string("/proc/net/route") {
        for line in table.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() > 7 && fields[1] == "00000000" && fields[7] == "00000000" {
                routes.push(format!("v4 {} via {}", fields[0], fields[2]));
            }
        }
    }
    if let Ok(table) = fs::read_to_string("/proc/net/ipv6_route") {
        for line in table.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() > 9 && fields[0].bytes().all(|b| b == b'0') && fields[1] == "00" {
                routes.push(format!("v6 {} via {}", fields[9], fields[4]));
            }
        }
    }
    routes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_of_one_moment_agree() {
        let first = Snapshot::now();
        let second = Snapshot::now();
        assert_eq!(first.boot_id, second.boot_id);
        assert_eq!(first.network, second.network);
        assert!(second.boottime_ns >= first.boottime_ns);
        assert!(second.monotonic_ns >= first.monotonic_ns);
        assert!(!first.boot_id.is_empty());
    }
}
