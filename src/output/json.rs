//! The JSON view of sockets, made in this one place from what classification found and what a
//! repair did (schema 1: fields are only ever added, never removed or renamed).

use std::borrow::Cow;
use std::io;

use serde::Serialize;

use crate::classify::{Outcome, Reason, SocketReport, State};
use crate::repair::{Action, Repair};

pub const SCHEMA: u32 = 1;

/// One socket as scripts read it.
#[derive(Serialize)]
pub struct SocketJson<'a> {
    /// JSON holds text: a path that is not (any bytes but `/` and NUL may name a file) shows
    /// U+FFFD for each byte that is not text, rather than failing the whole output.
    path: Option<Cow<'a, str>>,
    state: State,
    reason: Reason,
    pid: Option<i32>,
    destination: Option<&'a str>,
    alias: Option<&'a str>,
    age_s: Option<u64>,
    detail: Cow<'a, str>,
    round_trip_ms: Option<f64>,
    /// Where a repair was tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<Outcome>,
    /// For the commands that act (check, clean, reset).
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<Action>,
}

impl<'a> SocketJson<'a> {
    /// A socket as `status` shows it.
    pub fn new(socket: &'a SocketReport) -> Self {
        SocketJson {
            path: socket.path.as_deref().map(|path| path.to_string_lossy()),
            state: socket.state,
            reason: socket.reason,
            pid: socket.pid,
            destination: socket.destination.as_deref(),
            alias: socket.alias.as_deref(),
            age_s: socket.age_s,
            detail: Cow::Borrowed(&socket.detail),
            round_trip_ms: socket.round_trip_ms,
            outcome: None,
            action: None,
        }
    }

    /// The socket with what was done to it (`action`), and the outcome of the repair when one
    /// was tried.
    pub fn acted_on(socket: &'a SocketReport, action: Action, repair: Option<&Repair>) -> Self {
        SocketJson {
            detail: super::detail(socket, repair),
            outcome: repair.map(|repair| repair.outcome),
            action: Some(action),
            ..SocketJson::new(socket)
        }
    }
}

/// `check`: one socket, its fields beside the schema number.
pub fn print_socket(socket: SocketJson) -> io::Result<()> {
    #[derive(Serialize)]
    struct Document<'a> {
        schema: u32,
        #[serde(flatten)]
        socket: SocketJson<'a>,
    }
    super::print_json(&Document {
        schema: SCHEMA,
        socket,
    })
}

/// `status`, `clean`, `reset`: a list of sockets.
pub fn print_sockets(sockets: Vec<SocketJson>) -> io::Result<()> {
    #[derive(Serialize)]
    struct Document<'a> {
        schema: u32,
        sockets: Vec<SocketJson<'a>>,
    }
    super::print_json(&Document {
        schema: SCHEMA,
        sockets,
    })
}
