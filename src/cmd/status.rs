//! `muxguard status`: every control socket found, with its state, without connecting to any
//! master.

use std::collections::HashSet;
use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use crate::classify::{self, SocketReport, State};
use crate::cli::StatusArgs;
use crate::discover;
use crate::error::{Error, ExitCode, Result};
use crate::fsentry::FileKind;
use crate::listeners::{ListenerTable, master_path_of};
use crate::netstate::Snapshot;
use crate::output::{self, SCHEMA, Style};
use crate::probe;
use crate::procs;

/// A master binds `<ControlPath>.<16 characters>` and links the ControlPath a moment later; a
/// young file of that shape may be a master being born.
const BIRTH_GRACE: Duration = Duration::from_secs(10);

pub fn run(args: StatusArgs, timeout: Duration) -> Result<ExitCode> {
    let mut sockets = survey(&args)?;
    if args.probe {
        probe_live_masters(&mut sockets, timeout);
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

/// Finds and classifies every socket, passively.
pub fn survey(args: &StatusArgs) -> Result<Vec<SocketReport>> {
    let candidates = discover::candidates(args.config.as_deref(), &args.dirs)?;
    let listeners = ListenerTable::load().map_err(|e| {
        Error::Failed(format!(
            "cannot read the kernel's table of listening sockets: {e}"
        ))
    })?;

    let mut reports = Vec::new();
    let mut own_sockets = Vec::new();
    for (path, candidate) in candidates.clone() {
        match classify::look(&path) {
            Err(report) if report.state == State::Absent => {}
            // Found by a loose pattern: only a socket is worth reporting.
            Err(report)
                if candidate.sockets_only
                    && report.file.is_none_or(|file| file.kind != FileKind::Socket) => {}
            Err(report) => reports.push((*report, candidate)),
            Ok(info) => {
                let listener = listeners.for_file(&path, &info);
                if master_path_of(&path).is_some()
                    && (listener.is_some() || info.age().is_none_or(|age| age < BIRTH_GRACE))
                {
                    continue; // a master being born
                }
                own_sockets.push((path, info, candidate));
            }
        }
    }

    // One scan of /proc for every listener we need a process for.
    let wanted: HashSet<u64> = listeners
        .all()
        .iter()
        .filter(|listener| {
            listener.file.is_none()
                || listener
                    .bound_path
                    .as_deref()
                    .is_some_and(|bound| master_path_of(bound).is_some())
                || own_sockets
                    .iter()
                    .any(|(_, info, _)| listener.file == Some((info.dev, info.ino)))
        })
        .map(|listener| listener.socket_ino)
        .collect();
    let holders = procs::holders_of(&wanted);

    for (path, info, candidate) in own_sockets {
        let report = classify::classify_passive(&path, &info, &listeners, &holders);
        reports.push((report, candidate));
    }
    let mut sockets: Vec<SocketReport> = reports
        .into_iter()
        .map(|(mut report, candidate)| {
            report.destination = candidate.destination;
            report.alias = candidate.alias;
            report
        })
        .collect();
    for mut orphan in classify::orphans(&listeners, &holders) {
        if let Some(known) = orphan.path.as_ref().and_then(|path| candidates.get(path)) {
            orphan.destination = known.destination.clone();
            orphan.alias = known.alias.clone();
        }
        sockets.push(orphan);
    }
    sockets.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(sockets)
}

/// Asks every live master and proves its link, all at once, so that the whole takes about one
/// timeout however many links are dead.
fn probe_live_masters(sockets: &mut [SocketReport], timeout: Duration) {
    let now = Snapshot::now();
    std::thread::scope(|scope| {
        for report in sockets
            .iter_mut()
            .filter(|report| report.state == State::Live)
        {
            let now = now.clone();
            scope.spawn(move || {
                let Some(path) = report.path.clone() else {
                    return;
                };
                let (mut fresh, client) = classify::classify_active(&path, timeout);
                fresh.destination = report.destination.take();
                fresh.alias = report.alias.take();
                if let Some(mut client) = client {
                    probe::probe(&mut client, &mut fresh, timeout, now, None);
                }
                *report = fresh;
            });
        }
    });
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
                    .as_ref()
                    .map_or("-".into(), |path| path.display().to_string()),
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
            .map(|detail| format!("  {}", style.dim(&format!("({detail})"))))
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
