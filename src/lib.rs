//! muxguard keeps OpenSSH connection sharing (ControlMaster) healthy: it finds control sockets,
//! tells the truth about each one and repairs the broken ones.
//!
//! The binary is the product; the library exists so that integration tests can drive the mux
//! client against real masters.

pub mod classify;
pub mod cli;
pub mod cmd;
pub mod deadline;
pub mod discover;
pub mod error;
pub mod fsentry;
pub mod listeners;
pub mod master;
pub mod mux;
pub mod netstate;
pub mod output;
pub mod platform;
pub mod probe;
pub mod process;
pub mod procs;
pub mod repair;
pub mod resolve_cache;
pub mod ssh;
pub mod sshargs;
pub mod sshconfig;
pub mod state;
pub mod survey;
pub mod template;
pub mod watchdog;
