//! `muxguard status`: every control socket found, with its state, without connecting to any
//! master.

use std::io::{self, Write};

use serde::Serialize;

use crate::classify::SocketReport;
use crate::cli::StatusArgs;
use crate::deadline::Deadline;
use crate::error::{ExitCode, Result};
use crate::output::{self, SCHEMA, Style};
use crate::probe;
use crate::survey;

pub fn run(args: StatusArgs, deadline: Deadline) -> Result<ExitCode> {
    let mut sockets = survey::survey(args.search.config.as_deref(), &args.search.dirs)?;
    if args.probe {
        probe::probe_all(&mut sockets, deadline);
    }
    output::written(if args.json {
        #[derive(Serialize)]
        struct StatusJson<'a> {
            schema: u32,
            sockets: &'a [SocketReport],
        }
        output::print_json(&StatusJson {
            schema: SCHEMA,
            sockets: &sockets,
        })
    } else {
        print_table(&sockets)
    })?;
    Ok(ExitCode::Success)
}

fn print_table(sockets: &[SocketReport]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    if sockets.is_empty() {
        return writeln!(out, "No control sockets found.");
    }
    let style = Style::for_stdout();
    let rows: Vec<[String; 4]> = sockets
        .iter()
        .map(|socket| {
            [
                socket.pid.map_or("-".into(), |pid| pid.to_string()),
                output::age(socket.age_s),
                output::destination(socket),
                socket
                    .path
                    .as_deref()
                    .map_or("-".into(), |path| output::path(path).into_owned()),
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
    writeln!(
        out,
        "{}",
        style.dim(&format!(
            "{:state_width$}  {:>w0$}  {:>w1$}  {:w2$}  PATH",
            "STATE",
            headers[0],
            headers[1],
            headers[2],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
        ))
    )?;
    for (socket, row) in sockets.iter().zip(&rows) {
        let detail = socket
            .detail
            .as_deref()
            .map(|detail| format!("  {}", style.dim(&format!("({})", output::escape(detail)))))
            .unwrap_or_default();
        writeln!(
            out,
            "{}  {:>w0$}  {:>w1$}  {:w2$}  {}{detail}",
            style.state(socket.state, state_width),
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
        )?;
    }
    Ok(())
}
