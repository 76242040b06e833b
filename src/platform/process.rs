//! What muxguard knows of a process, whatever the operating system that told it, and whose
//! processes it may act on.

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
        self == Owner::Any || uid == Uid::effective().as_raw()
    }
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
