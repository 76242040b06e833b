//! The process behind a listening socket, as the platform finds its holders.

use std::collections::HashSet;

use crate::platform;
use crate::platform::process::{Owner, Process};

/// The process behind `socket`, among the `pids` that held it: an ssh if there is one (a master
/// may share its fds with children), else any. An ssh must still hold it once its name is
/// read: a child that the holder forked to run ssh holds the socket until its exec closes it,
/// and named after that exec it would pass for the ssh behind the socket.
pub fn pick_holder(socket: u64, pids: &[i32]) -> Option<Process> {
    pids.iter()
        .filter_map(|&pid| platform::process(pid))
        .filter(|process| !process.is_ssh() || platform::holds_socket(process.pid, socket))
        .min_by_key(|process| !process.is_ssh())
}

/// The user's own process behind a listening socket.
pub fn holder_of(socket: u64) -> Option<Process> {
    let holders = platform::holders_of(&HashSet::from([socket]), Owner::Own);
    pick_holder(socket, holders.get(&socket)?)
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;
    use std::process::{Command, Stdio};

    use super::*;

    /// An ssh named among a socket's holders that no longer holds it (a child of the holder,
    /// past the exec that closed it) does not speak for it; the holder that still does, does.
    #[test]
    fn an_ssh_that_no_longer_holds_the_socket_is_not_its_holder() {
        let me = std::process::id() as i32;
        // Where the platform reads no process facts (the BSDs), there is no holder to pick.
        if platform::process(me).is_none() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join("sock")).unwrap();
        let socket = nix::sys::stat::fstat(&listener).unwrap().st_ino;
        let ssh = dir.path().join("ssh");
        // Named by the link it is run through: no copy, so no file open for writing that a
        // child another test forks could hold (ETXTBSY).
        std::os::unix::fs::symlink("/bin/sleep", &ssh).unwrap();
        let mut other = Command::new(&ssh)
            .arg("10")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let other_pid = other.id() as i32;
        // Its name is ssh once it has exec'd.
        while !platform::process(other_pid).is_some_and(|p| p.is_ssh()) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let picked = pick_holder(socket, &[other_pid, me]).map(|process| process.pid);
        let _ = other.kill();
        let _ = other.wait();
        assert_eq!(picked, Some(me));
    }
}
