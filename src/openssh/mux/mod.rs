//! The OpenSSH mux protocol, spoken natively so that no `ssh -O` process is forked.

mod client;
mod wire;

pub use client::{MuxClient, MuxError};
