//! `muxguard check`: the one control socket ssh would use for a command line, asked directly,
//! and repaired with `--fix`.

use std::io::{self, Write};

use crate::cli::CheckArgs;
use crate::engine::examine::examine;
use crate::error::{ExitCode, Result};
use crate::link::probe::ProbeMode;
use crate::openssh::ssh;
use crate::output::{self, Style, json};
use crate::repair::Repair;
use crate::socket::report::{SocketReport, State};
use crate::support::deadline::Deadline;
use crate::support::text;

pub fn run(args: CheckArgs, deadline: Deadline) -> Result<ExitCode> {
    let mode = if args.probe {
        ProbeMode::Always
    } else {
        ProbeMode::from_env()?
    };
    let examined = examine(
        args.path.as_deref(),
        &args.ssh_args,
        mode,
        args.fix,
        deadline,
    )?;
    let (report, repair) = (&examined.report, examined.repair.as_ref());
    output::written(if args.json {
        json::print_socket(json::SocketJson::acted_on(
            report,
            examined.action(),
            repair,
        ))
    } else {
        print_line(
            report,
            repair,
            (!args.fix).then(|| repair_command(&args, report.state)),
        )
    })?;

    Ok(if examined.ready {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}

/// The command that would repair what this one found, for the hint.
fn repair_command(args: &CheckArgs, state: State) -> String {
    // Without the probe, an unreachable master looks live and is left alone.
    let probe = if state == State::Unreachable {
        " --probe"
    } else {
        ""
    };
    match &args.path {
        Some(path) => format!(
            "muxguard check --fix{probe} --path {}",
            ssh::shell_words(&[path])
        ),
        None => format!(
            "muxguard check --fix{probe} -- {}",
            ssh::shell_words(&args.ssh_args)
        ),
    }
}

fn print_line(
    report: &SocketReport,
    repair: Option<&Repair>,
    repair_hint: Option<String>,
) -> io::Result<()> {
    let style = Style::for_stdout();
    let mut line = style.state(report.state, 0);
    if let Some(path) = &report.path {
        line.push_str(&format!("  {}", text::path(path)));
    }
    let destination = output::destination(report);
    if destination != "-" {
        line.push_str(&format!("  {destination}"));
    }
    let detail = output::detail(report, repair);
    let detail = text::escape(&detail);
    line.push_str(&format!("  {}", style.dim(&format!("({detail})"))));
    writeln!(io::stdout().lock(), "{line}")?;
    if let Some(hint) = repair_hint.filter(|_| report.state.is_broken()) {
        output::warn(&format!("repair it with: {hint}"));
    }
    Ok(())
}
