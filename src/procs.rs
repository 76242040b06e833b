//! The process behind a listening socket, as the platform finds its holders.

use std::collections::HashSet;

use crate::platform;
use crate::process::{Owner, Process};

/// The process behind a listening socket: an ssh among its holders if there is one (a master
/// may share its fds with children), else any.
pub fn pick_holder(pids: &[i32]) -> Option<Process> {
    pids.iter()
        .filter_map(|&pid| platform::process(pid))
        .min_by_key(|process| !process.is_ssh())
}

/// The user's own process behind a listening socket.
pub fn holder_of(socket: u64) -> Option<Process> {
    let holders = platform::holders_of(&HashSet::from([socket]), Owner::Own);
    pick_holder(holders.get(&socket)?)
}
