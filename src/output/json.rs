//! The JSON view of sockets, made in this one place from what classification found and what a
//! repair did (schema 1: fields are only ever added, never removed or renamed).

use std::borrow::Cow;
use std::io;

use serde::Serialize;

use crate::platform::Link;
use crate::repair::{Action, Repair};
use crate::socket::report::{Found, Outcome, ProbeDecision, Reason, SocketReport, State};
use crate::support::text::Name;

pub const JSON_SCHEMA: u32 = 1;

/// One socket as scripts read it.
#[derive(Serialize)]
pub struct SocketJson<'a> {
    /// JSON holds text: a path that is not (any bytes but `/` and NUL may name a file) shows
    /// U+FFFD for each byte that is not text, rather than failing the whole output.
    path: Option<Cow<'a, str>>,
    state: State,
    reason: Reason,
    pid: Option<i32>,
    destination: Option<&'a Name>,
    alias: Option<&'a Name>,
    /// Where discovery found it (`status`, `clean`, `reset --all`).
    #[serde(skip_serializing_if = "Option::is_none")]
    found: Option<Found>,
    age_s: Option<u64>,
    detail: Cow<'a, str>,
    round_trip_ms: Option<f64>,
    /// The server's address, `"10.0.0.5:22"`, for a live master whose connection the kernel
    /// shows.
    peer: Option<String>,
    /// Seconds since the server last sent anything, and the smoothed round trip, where the
    /// kernel keeps them.
    silent_s: Option<f64>,
    rtt_ms: Option<f64>,
    /// The control path of the master that carries this one (a jump host's), where the kernel
    /// shows it; `peer`, `silent_s` and `rtt_ms` are then that master's connection's.
    via: Option<Cow<'a, str>>,
    /// Why the link was proved, or not, where that was decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    probe: Option<ProbeDecision>,
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
        let tcp = match &socket.link {
            Some(Link::Tcp(tcp)) => Some(tcp),
            _ => None,
        };
        let timing = tcp.and_then(|tcp| tcp.timing.as_ref());
        SocketJson {
            path: socket.path.as_deref().map(|path| path.to_string_lossy()),
            state: socket.state,
            reason: socket.reason,
            pid: socket.pid,
            destination: socket.destination.as_ref(),
            alias: socket.alias.as_ref(),
            found: socket.found,
            age_s: socket.age_s,
            detail: Cow::Borrowed(&socket.detail),
            round_trip_ms: socket.round_trip_ms,
            peer: tcp.map(|tcp| tcp.peer.to_string()),
            silent_s: timing.map(|timing| thousandths(timing.silent.as_secs_f64())),
            rtt_ms: timing.map(|timing| thousandths(timing.rtt.as_secs_f64() * 1e3)),
            via: socket.via.as_deref().map(|path| path.to_string_lossy()),
            probe: socket.probe,
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

/// Rounded to three decimals: what the kernel measures is no finer.
fn thousandths(value: f64) -> f64 {
    (value * 1e3).round() / 1e3
}

/// `check`: the destination's socket, its fields beside the schema number, and the jump hosts'
/// in `hops`, first hop first (empty for a host reached directly).
pub fn print_check(socket: SocketJson, hops: Vec<SocketJson>) -> io::Result<()> {
    #[derive(Serialize)]
    struct Document<'a> {
        schema: u32,
        #[serde(flatten)]
        socket: SocketJson<'a>,
        hops: Vec<SocketJson<'a>>,
    }
    super::print_json(&Document {
        schema: JSON_SCHEMA,
        socket,
        hops,
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
        schema: JSON_SCHEMA,
        sockets,
    })
}

/// `watch --json`: one event, a JSON object on one line. `fields` go beside the schema number
/// and the event's name.
pub fn event_line(event: &str, fields: serde_json::Value) -> String {
    let mut object = serde_json::json!({ "schema": JSON_SCHEMA, "event": event });
    if let (Some(object), serde_json::Value::Object(fields)) = (object.as_object_mut(), fields) {
        object.extend(fields);
    }
    object.to_string()
}

/// `watch --json`: a socket a round probed or acted on.
pub fn socket_event(event: &str, socket: SocketJson) -> String {
    event_line(event, serde_json::json!({ "socket": socket }))
}
