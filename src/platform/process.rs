//! What muxguard knows of a process, whatever the operating system that told it, and whose
//! processes it may act on.

use std::sync::OnceLock;

use nix::unistd::Uid;

/// Whose sockets and masters may be acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Only the user's own.
    Own,
    /// Any user's: root, acting on a path it was given explicitly.
    Any,
}

impl Owner {
    pub fn accepts(self, uid: u32) -> bool {
        self == Owner::Any || uid == my_uid()
    }
}

/// This process's effective uid, asked of the kernel once: muxguard never changes it, and a
/// sweep compares it with every socket's owner.
pub fn my_uid() -> u32 {
    static UID: OnceLock<u32> = OnceLock::new();
    *UID.get_or_init(|| Uid::effective().as_raw())
}

/// This process's pid, asked of the kernel once (a sweep names every file it sets aside with
/// it). Not for a forked child, which has another.
pub fn my_pid() -> u32 {
    static PID: OnceLock<u32> = OnceLock::new();
    *PID.get_or_init(std::process::id)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    // Where no process facts are read yet (the BSDs: platform/other.rs), no process is made.
    #[cfg_attr(not(any(target_os = "linux", target_os = "macos")), allow(dead_code))]
    Running,
    /// Stopped by a signal (SIGSTOP, Ctrl-Z) or a tracer: it answers nothing until resumed.
    Stopped,
    /// Exited, not yet reaped.
    Zombie,
}

#[derive(Debug, Clone)]
pub struct Process {
    pub pid: i32,
    pub uid: u32,
    /// The executable's name as the kernel keeps it (`ssh` for every ssh, whatever its title).
    pub comm: String,
    pub status: Status,
    /// Whether it has a controlling terminal (a ControlPersist or `-f` master has none: it left
    /// its session).
    pub has_terminal: bool,
    /// When it started, in the kernel's own unit: with the pid, it names one process, never a
    /// later one that was given the same pid.
    pub started: u64,
}

impl Process {
    pub fn is_ssh(&self) -> bool {
        self.comm == "ssh"
    }

    pub fn is_stopped(&self) -> bool {
        self.status == Status::Stopped
    }

    /// A stopped ssh with a terminal is a session someone suspended there (Ctrl-Z), to be
    /// resumed with `fg`: a master in the foreground of that terminal.
    pub fn is_suspended_in_a_terminal(&self) -> bool {
        self.is_ssh() && self.is_stopped() && self.has_terminal
    }
}
