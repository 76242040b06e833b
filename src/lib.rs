//! muxguard keeps OpenSSH connection sharing (ControlMaster) healthy: it finds control sockets,
//! tells the truth about each one and repairs the broken ones.
//!
//! The binary is the product; the library exists so that integration tests can drive the mux
//! client against real masters. One folder per concern (CONTRIBUTING.md has the map), from
//! the top: `cmd` (one module per subcommand), `engine`, then `repair`, `link`, `socket`,
//! `openssh`, `state` and `output`, and below them all `platform` and `support`.

pub mod cli;
pub mod cmd;
mod engine;
pub mod error;
mod link;
pub mod openssh;
pub mod output;
mod platform;
#[cfg(test)]
mod readme;
mod repair;
mod shell;
mod socket;
mod state;
pub mod support;
