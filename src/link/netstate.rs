//! What a master's link depends on, as a snapshot to compare later: a suspend, a reboot or a
//! change of network since a master was last seen working is a reason to suspect its link.
//! `check` takes one on the way to every ssh, so it reads only clocks and the addresses.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

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

/// The two clocks of a snapshot, read alone: what `watch` compares on every wake-up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clocks {
    pub boottime_ns: u64,
    pub monotonic_ns: u64,
}

impl Clocks {
    pub fn now() -> Clocks {
        match platform::CLOCKS {
            Some((counting_suspend, not_counting)) => Clocks {
                boottime_ns: nanos(counting_suspend),
                monotonic_ns: nanos(not_counting),
            },
            None => Clocks::default(),
        }
    }

    /// The time spent suspended between this reading and a `later` one: how much further the
    /// clock that counts a suspend went than the one that does not.
    pub fn suspended_until(&self, later: &Clocks) -> Duration {
        let passed = later.boottime_ns.saturating_sub(self.boottime_ns);
        let awake = later.monotonic_ns.saturating_sub(self.monotonic_ns);
        Duration::from_nanos(passed.saturating_sub(awake))
    }
}

fn nanos(clock: ClockId) -> u64 {
    clock_gettime(clock)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

impl Snapshot {
    pub fn now() -> Snapshot {
        let clocks = Clocks::now();
        let wall_s = nanos(ClockId::CLOCK_REALTIME) / 1_000_000_000;
        Snapshot {
            booted_at: wall_s as i64 - (clocks.boottime_ns / 1_000_000_000) as i64,
            boottime_ns: clocks.boottime_ns,
            monotonic_ns: clocks.monotonic_ns,
            network: network_fingerprint(),
        }
    }

    pub fn clocks(&self) -> Clocks {
        Clocks {
            boottime_ns: self.boottime_ns,
            monotonic_ns: self.monotonic_ns,
        }
    }

    pub fn same_boot(&self, other: &Snapshot) -> bool {
        (self.booted_at - other.booted_at).abs() <= BOOT_TIME_SLACK_S
    }
}

/// A fingerprint of every address of every interface, loopback aside: a master's TCP link
/// rarely survives a change of any of them. Empty when the platform cannot tell.
pub fn network_fingerprint() -> String {
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
