//! The table of sockets that `status` (and `clean --dry-run`'s listing) prints for people.

use std::io::{self, Write};

use crate::output::{Style, age, destination};
use crate::socket::report::SocketReport;
use crate::support::text::{escape, path};

/// The table of sockets `status` prints: state, pid, age, destination, path and the reason in
/// words, aligned, coloured on a terminal.
pub fn socket_table(sockets: &[SocketReport]) -> io::Result<()> {
    // A master carried by another (a jump host's) says which: "via ALIAS".
    let carrier = |via: &std::path::Path| {
        let named = sockets
            .iter()
            .find(|other| other.path.as_deref() == Some(via));
        named
            .map(destination)
            .filter(|name| name != "-")
            .unwrap_or_else(|| path(via).into_owned())
    };
    let mut out = super::Report::stdout();
    if sockets.is_empty() {
        writeln!(out, "No control sockets found.")?;
        return out.flush();
    }
    let style = Style::for_stdout();
    let rows: Vec<[String; 4]> = sockets
        .iter()
        .map(|socket| {
            [
                socket.pid.map_or("-".into(), |pid| pid.to_string()),
                age(socket.age_s),
                match &socket.via {
                    Some(via) => format!("{} via {}", destination(socket), carrier(via)),
                    None => destination(socket),
                },
                socket
                    .path
                    .as_deref()
                    .map_or("-".into(), |socket_path| path(socket_path).into_owned()),
            ]
        })
        .collect();
    let headers = ["PID", "AGE", "DESTINATION", "PATH"];
    let widths: Vec<usize> = (0..3)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .chain([headers[column].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let state_width = "unreachable".len();
    let line = |state: String, row: [&str; 4]| {
        let [w0, w1, w2] = [widths[0], widths[1], widths[2]];
        format!(
            "{state}  {:>w0$}  {:>w1$}  {:w2$}  {}",
            row[0], row[1], row[2], row[3]
        )
    };
    let header = line(format!("{:state_width$}", "STATE"), headers);
    writeln!(out, "{}", style.dim(&header))?;
    for (socket, row) in sockets.iter().zip(&rows) {
        let state = style.state(socket.state, state_width);
        let detail = style.dim(&format!("({})", escape(&socket.detail)));
        writeln!(
            out,
            "{}  {detail}",
            line(state, row.each_ref().map(String::as_str))
        )?;
    }
    out.flush()
}
