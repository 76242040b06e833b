//! OpenSSH as muxguard reads and speaks it: the real client and `ssh -G`, ssh command lines,
//! the jump hosts in front of a destination, ssh config files and their audit, ControlPath
//! templates, the remembered `ssh -G` answers, and the mux protocol (`mux/`). Uses support and
//! platform only.

pub mod args;
pub mod audit;
pub mod hops;
pub mod local_user;
pub mod mux;
pub mod resolve_cache;
pub mod ssh;
pub mod ssh_config;
pub mod template;
