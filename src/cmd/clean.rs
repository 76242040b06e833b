//! `muxguard clean`: removes stale control sockets, and with `--probe` ends hung and
//! unreachable masters. Never touches a live master, an orphan, or anything not the user's own.

use std::io::{self, Write};

use crate::cli::CleanArgs;
use crate::engine::survey;
use crate::error::{ExitCode, Result};
use crate::output::{self, Style, json};
use crate::repair::{self, Action, Repair};
use crate::socket::report::{SocketReport, State};
use crate::state;
use crate::support::deadline::Deadline;
use crate::support::text;

/// One socket, what was done to it, and the repair where one was tried.
struct Cleaned {
    socket: SocketReport,
    action: Action,
    repair: Option<Repair>,
}

pub fn run(args: CleanArgs, deadline: Deadline) -> Result<ExitCode> {
    // Held to the end: a sweep that finds another still running leaves at once.
    let _sweep = match args.sweep.then(state::hold_sweep) {
        Some(None) => return Ok(ExitCode::Success),
        hold => hold,
    };
    let mut sockets = survey::survey(args.search.config.as_deref(), &args.search.dirs)?;
    if args.probe {
        survey::prove_links(&mut sockets, deadline, |_| None);
    }
    // All at once (with --probe, many hung masters take one grace period, not one each).
    let cleaned: Vec<Cleaned> = repair::in_parallel(sockets, repair::waits, |socket| {
        clean_one(socket, &args, deadline)
    })
    .into_iter()
    .map(|(socket, (action, repair))| Cleaned {
        socket,
        action,
        repair,
    })
    .collect();
    // The repairs tried that could not clear the way, with why.
    let failed: Vec<(&SocketReport, &Repair)> = cleaned
        .iter()
        .filter_map(|c| Some((&c.socket, c.repair.as_ref()?)))
        .filter(|(_, repair)| !repair.cleared())
        .collect();

    output::written(if args.json {
        json::print_sockets(
            cleaned
                .iter()
                .map(|c| json::SocketJson::acted_on(&c.socket, c.action, c.repair.as_ref()))
                .collect(),
        )
    } else if args.quiet {
        Ok(())
    } else {
        print_lines(&cleaned)
    })?;
    for (socket, repair) in &failed {
        let path = socket.path.as_deref().map(text::path).unwrap_or_default();
        output::warn(&format!("could not clean {path}: {}", repair.said));
    }
    Ok(if failed.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}

/// What to do with one socket, done (or, with --dry-run, said), and the repair when one was
/// tried.
fn clean_one(
    socket: &SocketReport,
    args: &CleanArgs,
    deadline: Deadline,
) -> (Action, Option<Repair>) {
    if socket.state != State::Stale && !(args.probe && socket.state.is_dead_master()) {
        return (Action::Kept, None);
    }
    if args.dry_run {
        let planned = match socket.state {
            State::Stale => Action::WouldRemove,
            _ => Action::WouldReset,
        };
        return (planned, None);
    }
    let repair = repair::repair(socket, deadline);
    let action = match repair.action {
        Action::None => Action::Kept,
        action => action,
    };
    (action, Some(repair))
}

/// One line for each socket acted on and each master kept, with why, then the counts.
fn print_lines(cleaned: &[Cleaned]) -> io::Result<()> {
    let style = Style::for_stdout();
    let mut out = output::Report::stdout();
    let count = |action: Action| cleaned.iter().filter(|c| c.action == action).count();
    for Cleaned {
        socket,
        action,
        repair,
    } in cleaned
    {
        let verb = match (action, socket.state) {
            (Action::Removed, _) => "removed",
            (Action::Reset, _) => "reset",
            (Action::WouldRemove, _) => "would remove",
            (Action::WouldReset, _) => "would reset",
            (_, State::Hung | State::Unreachable) => "kept (use --probe to end it)",
            (_, State::Orphan) => "kept (reset --all ends it)",
            (_, State::Live) => "kept (live: clean never touches it)",
            _ => continue,
        };
        let path = socket.path.as_deref().map(text::path).unwrap_or_default();
        let detail = output::detail(socket, repair.as_ref());
        let detail = text::escape(&detail);
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
    writeln!(out, "{summary}")?;
    out.flush()
}
