//! `muxguard watch`: heals masters the moment the network changes, the machine resumes or the
//! kernel shows a link in trouble, for the programs that never call muxguard. Says what it did,
//! one line for each thing, on stderr (or one JSON object a line on stdout).

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::time::Duration;

use serde_json::json;

use crate::cli::WatchArgs;
use crate::engine::watcher::{Round, WatchSettings, Watcher};
use crate::error::{Error, ExitCode, Result};
use crate::link::probe;
use crate::output::{self, json};
use crate::repair::Action;
use crate::state;
use crate::support::text;
use crate::support::watchdog;

pub fn run(args: WatchArgs, timeout: Duration) -> Result<ExitCode> {
    let silence = probe::silence_from_env()?;
    // Held until the process ends, however it ends.
    let _hold = match state::hold_watch() {
        Ok(hold) => hold,
        Err(held) => {
            let pid = held
                .by
                .map(|pid| format!(" (pid {pid})"))
                .unwrap_or_default();
            output::warn(&format!(
                "another muxguard watch of yours is running{pid}; only one watches at a time"
            ));
            return Ok(ExitCode::Failure);
        }
    };
    // A copy of stdout's descriptor, for the watcher to notice its reader leave.
    let reader = (args.json)
        .then(|| io::stdout().as_fd().try_clone_to_owned())
        .transpose()
        .map_err(|error| Error::Failed(format!("cannot watch the output: {error}")))?;
    let mut watcher = Watcher::new(WatchSettings {
        config: args.search.config,
        dirs: args.search.dirs,
        timeout,
        silence,
        reader,
    })?;
    let say = Say { json: args.json };
    let (fd, stopped): (_, fn(&str) -> String) = if say.json {
        (libc::STDOUT_FILENO, |signal| {
            format!(
                "{}\n",
                json::event_line("stopped", json!({ "signal": signal }))
            )
        })
    } else {
        (libc::STDERR_FILENO, |signal| {
            format!("muxguard: watch stopped by {signal}\n")
        })
    };
    watchdog::exit_on_stop(fd, stopped);

    let pid = std::process::id();
    let started = say.line(
        || json::event_line("started", json!({ "pid": pid })),
        || format!("watching for network changes, resumes and link trouble (pid {pid})"),
    )?;
    if !started {
        return Ok(ExitCode::Success);
    }
    loop {
        let said = match watcher.next_round() {
            Ok(Some(round)) => say.round(&round)?,
            // Its JSON reader went away between lines: it ends as it would at the next line.
            Ok(None) => false,
            // A search that fails once running (an ssh config being edited): said, and the
            // watcher goes on.
            Err(Error::Environment(why)) => say.line(
                || json::event_line("cannot-look", json!({ "why": why })),
                || format!("cannot look for sockets now: {why}"),
            )?,
            Err(error) => return Err(error),
        };
        if !said {
            return Ok(ExitCode::Success);
        }
    }
}

/// Where the lines go: text on stderr, or JSON on stdout.
struct Say {
    json: bool,
}

impl Say {
    /// One line, made by whichever maker fits. `false` when the JSON's reader went away: the
    /// watcher then ends, as a producer whose pipe closed does.
    fn line(&self, json: impl FnOnce() -> String, text: impl FnOnce() -> String) -> Result<bool> {
        if !self.json {
            output::warn(&text());
            return Ok(true);
        }
        let mut out = io::stdout().lock();
        match writeln!(out, "{}", json()).and_then(|()| out.flush()) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(false),
            Err(error) => Err(Error::Failed(format!("cannot write the output: {error}"))),
        }
    }

    /// A line for each socket acted on (with --json, each probed too), then one for the round.
    fn round(&self, round: &Round) -> Result<bool> {
        let event = round.trigger.code();
        for healed in &round.sockets {
            let socket = &healed.socket;
            let repair = healed.repair.as_ref();
            let failed = repair.is_some_and(|repair| !repair.cleared());
            let verb = match healed.action {
                _ if failed => "could not repair",
                Action::Reset => "ended",
                Action::Removed => "removed",
                // Proved and answering: nothing for the log.
                _ if !self.json => continue,
                _ => "kept",
            };
            let said = self.line(
                || {
                    let view = json::SocketJson::acted_on(socket, healed.action, repair);
                    json::socket_event(event, view)
                },
                || {
                    let path = socket.path.as_deref().map(text::path).unwrap_or_default();
                    let destination = match output::destination(socket) {
                        unnamed if unnamed == "-" => "(destination unknown)".to_string(),
                        named => named,
                    };
                    let detail = output::detail(socket, repair);
                    format!(
                        "{event}: {verb} {} {path} {destination} ({detail})",
                        socket.state.as_str()
                    )
                },
            )?;
            if !said {
                return Ok(false);
            }
        }
        let (ended, removed) = (round.count(Action::Reset), round.count(Action::Removed));
        let failed = round.failed();
        self.line(
            || {
                let counts = json!({
                    "why": round.why,
                    "probed": round.probed,
                    "answered": round.answered,
                    "ended": ended,
                    "removed": removed,
                    "failed": failed,
                });
                json::event_line(event, counts)
            },
            || {
                let mut done = Vec::new();
                if round.probed > 0 {
                    done.push(format!(
                        "proved {} link(s), {} answered",
                        round.probed, round.answered
                    ));
                }
                if ended > 0 {
                    done.push(format!("ended {ended} master(s)"));
                }
                if removed > 0 {
                    done.push(format!("removed {removed} stale socket(s)"));
                }
                if failed > 0 {
                    done.push(format!("{failed} could not be repaired"));
                }
                if done.is_empty() {
                    done.push("no master to prove".into());
                }
                format!("{event}: {}: {}", round.why, done.join(", "))
            },
        )
    }
}
