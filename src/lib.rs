//! muxguard keeps OpenSSH connection sharing (ControlMaster) healthy: it finds control sockets,
//! tells the truth about each one and repairs the broken ones.
//!
//! The binary is the product; the library exists so that integration tests can drive the mux
//! client against real masters. Public are what the binary's main and those tests use; every
//! other module is the crate's own.

mod classify;
pub mod cli;
pub mod cmd;
pub mod deadline;
mod discover;
mod durations;
mod environment;
pub mod error;
mod examine;
mod fsentry;
mod hooks;
mod listeners;
mod master;
pub mod mux;
mod netstate;
pub mod output;
mod platform;
mod probe;
mod process;
mod procs;
#[cfg(test)]
mod readme;
mod repair;
mod resolve_cache;
mod ssh;
mod sshargs;
mod sshconfig;
mod state;
mod survey;
mod template;
pub mod watchdog;
mod watcher;
