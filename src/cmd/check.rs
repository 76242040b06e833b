//! `muxguard check`: the one control socket ssh would use for a command line, asked directly,
//! and repaired with `--fix`.

use std::io::{self, Write};

use crate::cli::CheckArgs;
use crate::engine::examine::{Examined, examine};
use crate::error::{ExitCode, Result};
use crate::link::probe::ProbeMode;
use crate::openssh::ssh;
use crate::output::{self, Style, json};
use crate::socket::report::State;
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
    output::written(if args.json {
        json::print_check(
            acted_on(&examined),
            examined.hops.iter().map(acted_on).collect(),
        )
    } else {
        print_lines(&examined, &args)
    })?;

    let code = if examined.all_ready() {
        ExitCode::Success
    } else {
        ExitCode::Failure
    };
    examined.end_at_exit();
    Ok(code)
}

fn acted_on(socket: &Examined) -> json::SocketJson<'_> {
    json::SocketJson::acted_on(&socket.report, socket.action(), socket.repair.as_ref())
}

/// The command that would repair what this one found, for the hint.
fn repair_command(args: &CheckArgs, examined: &Examined) -> String {
    // Without the probe, an unreachable master looks live and is left alone.
    let unreachable = examined
        .sockets()
        .any(|socket| socket.report.state == State::Unreachable);
    let probe = if unreachable { " --probe" } else { "" };
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

/// A line for each jump host, first hop first, then the destination's; the repair hint when
/// something is broken and `--fix` was not given.
fn print_lines(examined: &Examined, args: &CheckArgs) -> io::Result<()> {
    let style = Style::for_stdout();
    let mut stdout = io::stdout().lock();
    for hop in &examined.hops {
        writeln!(stdout, "{}", line(&style, hop, "  (jump host)"))?;
    }
    writeln!(stdout, "{}", line(&style, examined, ""))?;
    let broken = examined
        .sockets()
        .any(|socket| socket.report.state.is_broken());
    if broken && !args.fix {
        output::warn(&format!(
            "repair it with: {}",
            repair_command(args, examined)
        ));
    }
    Ok(())
}

fn line(style: &Style, examined: &Examined, role: &str) -> String {
    let (report, repair) = (&examined.report, examined.repair.as_ref());
    let mut line = style.state(report.state, 0);
    if let Some(path) = &report.path {
        line.push_str(&format!("  {}", text::path(path)));
    }
    let destination = output::destination(report);
    if destination != "-" {
        line.push_str(&format!("  {destination}{role}"));
    }
    let detail = output::detail(report, repair);
    let detail = text::escape(&detail);
    line.push_str(&format!("  {}", style.dim(&format!("({detail})"))));
    line
}
