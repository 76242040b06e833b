//! The environment variables of the interface. Each is defined once, beside the code that reads
//! it, and read through that definition; the man page lists them from there, and tests hold
//! the README, `--help` and the shell scripts to the same set.

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
