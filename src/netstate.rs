//! What a master's link depends on, as a snapshot to compare later: a suspend, a reboot or a
//! change of network since a master was last seen working is a reason to suspect its link.
//! `check` takes one on the way to every ssh, so it reads only clocks and the addresses.

use std::hash::{DefaultHasher, Hash, Hasher};

use nix::time::{ClockId, clock_gettime};
use serde::{Deserialize, Serialize};

use crate::platform;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When this boot began, in Unix seconds: clocks from another boot cannot be compared.
    pub booted_at: i64,
    /// Nanoseconds of a clock that keeps counting while the machine is suspended (Linux's
    /// CLOCK_BOOTTIME, macOS's CLOCK_MONOTONIC); 0 where there is none.
    pub boottime_ns: u64,
    /// Nanoseconds of one that stops while it is suspended (CLOCK_MONOTONIC, CLOCK_UPTIME_RAW),
    /// so between two snapshots the first advancing more is time spent suspended.
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
        let (boottime_ns, monotonic_ns) = match platform::CLOCKS {
            Some((counting_suspend, not_counting)) => {
                (nanos(counting_suspend), nanos(not_counting))
            }
            None => (0, 0),
        };
        let wall_s = nanos(ClockId::CLOCK_REALTIME) / 1_000_000_000;
        Snapshot {
            booted_at: wall_s as i64 - (boottime_ns / 1_000_000_000) as i64,
            boottime_ns,
            monotonic_ns,
            network: network_fingerprint(),
        }
    }

    pub fn same_boot(&self, other: &Snapshot) -> bool {
        (self.booted_at - other.booted_at).abs() <= BOOT_TIME_SLACK_S
    }
}

/// A fingerprint of every address of every interface, loopback aside: a master's TCP link
/// rarely survives a change of any of them. Empty when the platform cannot tell.
fn network_fingerprint() -> String {
    let Some(mut facts) = platform::network_facts() else {
        return String::new();
    };
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
        assert!(!first.network.is_empty(), "the address dump works");
        assert!(second.boottime_ns >= first.boottime_ns);
        assert!(second.monotonic_ns >= first.monotonic_ns);
        let other_boot = Snapshot {
            booted_at: first.booted_at - 3600,
            ..first.clone()
        };
        assert!(!first.same_boot(&other_boot));
    }
}
