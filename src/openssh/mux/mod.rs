//! The OpenSSH mux protocol, spoken natively so that no `ssh -O` process is forked: the
//! framing (`wire`) and a client bounded by one deadline (`client`). Uses support and platform.

mod client;
mod wire;

pub use client::{AliveAsked, MuxClient, MuxError};
