//! A master's link to its server: whether a round trip is worth it (the kernel's view of the
//! flow, a suspend, a change of network), the round trip itself, the chains of masters through
//! jump hosts, and the watch of a request after the hand-over to ssh. Uses socket, openssh's
//! mux client and platform; what it learns is recorded by the engine, not here.

pub mod chain;
pub mod handover;
pub mod netstate;
pub mod probe;
