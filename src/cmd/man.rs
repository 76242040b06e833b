//! `muxguard man` (hidden): the man page, generated from the same clap definitions as the parser
//! and completed with what clap does not know: states, exit status, environment, files.

use std::io::{self, Write};

use clap::CommandFactory;
use roff::{Roff, bold, roman};

use crate::cli::{Cli, ManArgs};
use crate::error::{Error, ExitCode, Result};
use crate::output;

const STATES: [(&str, &str); 8] = [
    (
        "live",
        "An OpenSSH master answered (check), or an ssh process listens on the socket and is running (status).",
    ),
    ("stale", "The socket file exists and nothing listens on it."),
    (
        "hung",
        "The master does not answer: its process is stopped, or it gave no mux answer before the timeout.",
    ),
    (
        "unreachable",
        "The master answers, but a round trip through it to the server did not complete before the timeout: its link is dead (when probed).",
    ),
    (
        "foreign",
        "Not your own OpenSSH control socket: another owner, not a socket, a symlink, or a listener that does not speak the mux protocol. Reported, never touched.",
    ),
    (
        "orphan",
        "(status, clean, reset --all) A master still running whose ControlPath no longer leads to it. When it exits it unlinks that path by name.",
    ),
    (
        "absent",
        "(check) Nothing at the destination's ControlPath.",
    ),
    (
        "disabled",
        "(check) Connection sharing is off: ControlPath none, or ControlMaster no with no socket.",
    ),
];

const ENVIRONMENT: [(&str, &str); 6] = [
    (
        "MUXGUARD_TIMEOUT",
        "How long a command may wait in all, as --timeout (default 2s; from 10ms to 1h). A watchdog ends a command still running a second after it (muxguard ssh then runs ssh).",
    ),
    (
        "MUXGUARD_PROBE",
        "auto (default), always or never: when check, and so muxguard ssh, proves the link to the server by itself. auto probes only after a suspend, a change of network, a reboot, or 10 minutes without seeing the master work.",
    ),
    (
        "MUXGUARD_DISABLE",
        "1 turns the shell hooks and muxguard ssh into plain ssh.",
    ),
    (
        "MUXGUARD_SWEEP_INTERVAL",
        "Seconds between the prompt hook's sweeps (default 60; 0 sweeps at every prompt; off never sweeps).",
    ),
    (
        "MUXGUARD_WRAP_TOOLS",
        "1, when the shell integration loads, wraps scp, sftp and rsync too.",
    ),
    (
        "NO_COLOR",
        "Set and not empty: no colour, even on a terminal.",
    ),
];

pub fn run(args: ManArgs) -> Result<ExitCode> {
    let mut out = io::stdout().lock();
    match args.subcommand {
        None => output::written(render(&mut out))?,
        Some(name) => {
            let command = Cli::command();
            let sub = command
                .get_subcommands()
                .find(|sub| sub.get_name() == name && !sub.is_hide_set())
                .ok_or_else(|| Error::Usage(format!("no subcommand {name}")))?
                .clone()
                .name(format!("muxguard-{name}"));
            output::written(clap_mangen::Man::new(sub).render(&mut out))?;
        }
    }
    Ok(ExitCode::Success)
}

fn render(out: &mut dyn Write) -> io::Result<()> {
    let man = clap_mangen::Man::new(Cli::command());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;

    let mut roff = Roff::new();
    roff.control("SH", ["STATES"]);
    for (state, meaning) in STATES {
        roff.control("TP", [])
            .text([bold(state)])
            .text([roman(meaning)]);
    }
    roff.control("SH", ["EXIT STATUS"]);
    roff.text([roman(
        "check: 0 ssh can go ahead now (live, absent, disabled, or repaired by --fix); 1 the socket is \
         broken and was not repaired; 2 usage or environment error (bad arguments, ssh -G failed, \
         ssh not found), said in one line on stderr. Every other command: 0 success, 1 something \
         could not be done (doctor: there are findings), 2 usage or environment error. \
         muxguard ssh exits with ssh's own status.",
    )]);
    roff.control("SH", ["ENVIRONMENT"]);
    for (name, meaning) in ENVIRONMENT {
        roff.control("TP", [])
            .text([bold(name)])
            .text([roman(meaning)]);
    }
    roff.control("SH", ["FILES"]);
    roff.control("TP", []).text([bold("$XDG_STATE_HOME/muxguard/state.json")]).text([roman(
        "(default ~/.local/state) The paths check resolved, the ssh -G answers it remembers and \
         when each master was last seen working. A cache: deleting it loses nothing but names. \
         At most 2 MiB (a larger one is ignored and replaced), and used only where every \
         directory is yours, no symlink and not group- or world-writable. sweep.lock beside it \
         keeps the prompt hooks' sweeps to one at a time.",
    )]);
    roff.control("TP", []).text([bold("muxguard-ssh")]).text([roman(
        "A link to muxguard under that name is muxguard ssh, for programs that take one program \
         rather than a command: scp -S, Ansible's ssh_executable.",
    )]);
    roff.control("SH", ["EXAMPLES"]);
    for example in [
        "eval \"$(muxguard init zsh)\"",
        "muxguard status",
        "muxguard check --fix --probe myhost",
        "muxguard clean --dry-run",
        "muxguard reset --all",
        "GIT_SSH_COMMAND='muxguard ssh' git pull",
    ] {
        roff.control("TP", []).text([bold(example)]);
    }
    roff.to_writer(out)?;
    man.render_version_section(out)
}
