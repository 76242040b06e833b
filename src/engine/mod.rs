//! The three ways muxguard looks at sockets, built from the rooms below: every socket at once
//! (`survey`, for status, clean and reset), one destination (`examine`, for check and
//! muxguard ssh), and the watcher that heals masters on events (`watcher`). The commands call
//! these; these call socket, link, repair, openssh and state.

pub mod examine;
pub mod survey;
pub mod watcher;
