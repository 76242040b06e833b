//! The environment variables of the interface, every one of them defined in this one table
//! (`ALL`) and read through its definition: the man page lists them from here, and tests hold
//! the docs, `--help` and the shell scripts to the same set.

use std::ffi::OsString;

/// One environment variable: its name, and what it does in a sentence for the man page.
#[derive(Debug)]
pub struct Variable {
    pub name: &'static str,
    pub meaning: &'static str,
}

impl Variable {
    /// Its value, when set.
    pub fn read(&self) -> Option<OsString> {
        std::env::var_os(self.name)
    }
}

/// Every variable that muxguard or its shell integration reads and users may set.
pub const ALL: [&Variable; 8] = [
    &TIMEOUT,
    &PROBE,
    &PROBE_AFTER,
    &DISABLE,
    &SWEEP_INTERVAL,
    &WRAP_TOOLS,
    &NO_COLOR,
    &XDG_STATE_HOME,
];

/// Read by clap, for `--timeout` (cli.rs).
pub const TIMEOUT: Variable = Variable {
    name: "MUXGUARD_TIMEOUT",
    meaning: "How long a command may wait in all, as --timeout (default 2s; from 10ms to 1h). A \
        watchdog ends a command still running a second after it (muxguard ssh then runs ssh).",
};

/// Read by link::probe.
pub const PROBE: Variable = Variable {
    name: "MUXGUARD_PROBE",
    meaning: "auto (default), always or never: when check, and so muxguard ssh, proves the link \
        to the server by itself. auto probes when the kernel shows the link in trouble \
        (retransmits) or the server silent for longer than MUXGUARD_PROBE_AFTER, after a \
        suspend, a change of network or a reboot, and, where the kernel tells nothing (a \
        ProxyCommand), after 10 minutes without seeing the master work.",
};

pub const PROBE_AFTER: Variable = Variable {
    name: "MUXGUARD_PROBE_AFTER",
    meaning: "How long the server may be silent before auto proves the link (default 60s; with \
        ServerAliveInterval, at least twice that interval); for watch, how long what a master \
        sent may go unanswered (it reads the links every half of this, at most every 30s).",
};

/// Read by the shell hooks, and by `muxguard ssh` for programs that call it directly.
pub const DISABLE: Variable = Variable {
    name: "MUXGUARD_DISABLE",
    meaning: "1 turns the shell hooks and muxguard ssh into plain ssh.",
};

/// Read by the prompt hooks.
pub const SWEEP_INTERVAL: Variable = Variable {
    name: "MUXGUARD_SWEEP_INTERVAL",
    meaning: "Seconds between the prompt hook's sweeps (default 60; 0 sweeps at every prompt; \
        off never sweeps).",
};

/// Read by the shell integration, once, when it loads.
pub const WRAP_TOOLS: Variable = Variable {
    name: "MUXGUARD_WRAP_TOOLS",
    meaning: "1, when the shell integration loads, wraps scp, sftp and rsync too.",
};

pub const NO_COLOR: Variable = Variable {
    name: "NO_COLOR",
    meaning: "Set and not empty: no colour, even on a terminal.",
};

/// Read by state::dir.
pub const XDG_STATE_HOME: Variable = Variable {
    name: "XDG_STATE_HOME",
    meaning: "Where the state file is kept, in muxguard/ (default ~/.local/state; see FILES).",
};

/// For the tests only, which run many environments side by side as one user: the masters found
/// from the kernel's table (and orphans) are those under this directory, so that a test's
/// `reset --all` does not end another test's masters. Unset, as for users: every master.
pub const TEST_SCOPE: Variable = Variable {
    name: "MUXGUARD_TEST_SCOPE",
    meaning: "(tests) only masters under this directory are found from the kernel's table",
};
