//! The integration tests, as one binary: each module tests one command or promise against a
//! private sshd and real masters (see common/mod.rs, the harness). `make bench` runs the
//! benchmarks, `bench`, which `cargo test` leaves out.

mod common;

mod ansible;
mod bench;
mod check;
mod clean;
mod completions;
mod config_bounds;
mod dead_flow;
mod doctor;
mod doctor_deadline;
mod elsewhere;
mod harness;
mod help;
mod hops;
mod hostile;
mod init;
mod links;
mod mux;
mod outcomes;
mod probe;
mod readme;
mod reset;
mod reset_many;
mod resolve;
mod shells;
mod state_safety;
mod status;
mod troubleshooting;
mod watch;
mod wrapper;
