//! A control socket, and the truth about it: the contract's types (State, Reason, Outcome,
//! SocketReport), what is at a path, which listener is behind it and which process holds that,
//! classification, and where sockets are found. Uses openssh (the mux protocol, templates,
//! the config) and platform; never state or output.

pub mod classify;
pub mod discover;
pub mod fsentry;
pub mod holder;
pub mod listeners;
pub mod report;
