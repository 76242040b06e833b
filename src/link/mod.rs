//! A master's link to its server: whether a round trip is worth it (the kernel's view of the
//! flow, a suspend, a change of network), and the round trip itself. Uses socket, openssh's
//! mux client and platform; what it learns is recorded by the engine, not here.

pub mod netstate;
pub mod probe;
