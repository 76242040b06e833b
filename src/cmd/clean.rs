//! `muxguard clean`: removes stale control sockets, and with `--probe` ends hung and
//! unreachable masters. Never touches a live master, an orphan, or anything not the user's own.

use std::io::{self, Write};

use serde::Serialize;

use crate::classify::{SocketReport, State};
use crate::cli::CleanArgs;
use crate::deadline::Deadline;
use crate::error::{ExitCode, Result};
use crate::output::{self, SCHEMA, Style};
use crate::probe;
use crate::repair::{self, Action, NotRepaired};
use crate::state;
use crate::survey;

#[derive(Serialize)]
struct Cleaned {
    #[serde(flatten)]
    socket: SocketReport,
    action: Action,
}

pub fn run(args: CleanArgs, deadline: Deadline) -> Result<ExitCode> {
    // Held to the end: a sweep that finds another still running leaves at once.
    let _sweep = match args.sweep.then(state::hold_sweep) {
        Some(None) => return Ok(ExitCode::Success),
        hold => hold,
    };
    let mut sockets = survey::survey(args.search.config.as_deref(), &args.search.dirs)?;
    if args.probe {
        probe::probe_all(&mut sockets, deadline);
    }
    // All at once (with --probe, many hung masters take one grace period, not one each).
    let mut failed = Vec::new();
    let cleaned: Vec<Cleaned> =
        repair::each_at_once(sockets, |socket| clean_one(socket, &args, deadline))
            .into_iter()
            .map(|(socket, action)| {
                if action.is_err() {
                    failed.push(socket.path.clone());
                }
                Cleaned {
                    socket,
                    action: action.unwrap_or(Action::Kept),
                }
            })
            .collect();

    output::written(if args.json {
        #[derive(Serialize)]
        struct CleanJson<'a> {
            schema: u32,
            sockets: &'a [Cleaned],
        }
        output::print_json(&CleanJson {
            schema: SCHEMA,
            sockets: &cleaned,
        })
    } else if args.quiet {
        Ok(())
    } else {
        print_lines(&cleaned)
    })?;
    for path in failed.iter().flatten() {
        output::warn(&format!("could not clean {}", output::path(path)));
    }
    Ok(if failed.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}

/// What to do with one socket, done (or, with --dry-run, said).
fn clean_one(
    socket: &mut SocketReport,
    args: &CleanArgs,
    deadline: Deadline,
) -> std::result::Result<Action, NotRepaired> {
    let ends_master = matches!(socket.state, State::Hung | State::Unreachable);
    if socket.state != State::Stale && !(args.probe && ends_master) {
        return Ok(Action::Kept);
    }
    if args.dry_run {
        return Ok(match socket.state {
            State::Stale => Action::WouldRemove,
            _ => Action::WouldReset,
        });
    }
    match repair::repair(socket, deadline)? {
        Action::None => Ok(Action::Kept),
        action => Ok(action),
    }
}

/// One line for each socket acted on or worth a word, then the counts.
fn print_lines(cleaned: &[Cleaned]) -> io::Result<()> {
    let style = Style::for_stdout();
    let mut out = io::stdout().lock();
    let count = |action: Action| cleaned.iter().filter(|c| c.action == action).count();
    for Cleaned { socket, action } in cleaned {
        let verb = match (action, socket.state) {
            (Action::Removed, _) => "removed",
            (Action::Reset, _) => "reset",
            (Action::WouldRemove, _) => "would remove",
            (Action::WouldReset, _) => "would reset",
            (_, State::Hung | State::Unreachable) => "kept (use --probe to end it)",
            (_, State::Orphan) => "kept (reset --all ends it)",
            _ => continue,
        };
        let path = socket.path.as_deref().map(output::path).unwrap_or_default();
        let detail = output::escape(socket.detail.as_deref().unwrap_or_default());
        writeln!(
            out,
            "{verb}  {}  {path}  {}",
            style.state(socket.state, 0),
            style.dim(&format!("({detail})"))
        )?;
    }
    let kept = count(Action::Kept);
    let summary = if count(Action::WouldRemove) + count(Action::WouldReset) > 0 {
        format!(
            "would remove {} stale socket(s) and reset {} master(s); {} kept",
            count(Action::WouldRemove),
            count(Action::WouldReset),
            kept
        )
    } else {
        format!(
            "removed {} stale socket(s), reset {} master(s); {} kept",
            count(Action::Removed),
            count(Action::Reset),
            kept
        )
    };
    writeln!(out, "{summary}")
}
