//! Command-line definitions. Kept free of logic so that completions and the man page can be
//! generated from the same source.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::{CHECK_EXIT_CODES, DOCTOR_EXIT_CODES, EXIT_CODES, WATCH_EXIT_CODES};
use crate::support::durations;
use crate::support::environment::TIMEOUT;

#[derive(Debug, Parser)]
#[command(
    name = "muxguard",
    version = env!("MUXGUARD_VERSION"),
    about = "Keep OpenSSH connection sharing (ControlMaster) healthy",
    long_about = "Keep OpenSSH connection sharing (ControlMaster) healthy.\n\n\
        muxguard finds control sockets, tells the truth about each one (live, stale, hung, \
        foreign, orphan) and repairs the broken ones, so that `ssh host` never hangs on a dead \
        master or fails on a socket left behind.",
    after_help = format!(
        "Examples:\n  muxguard status                 # every control socket and its state\n  \
        muxguard check --fix myhost     # repair the socket `ssh myhost` would use\n  \
        muxguard clean                  # remove the stale sockets\n  \
        eval \"$(muxguard init zsh)\"     # in ~/.zshrc: ssh repairs before it connects\n\n\
        {}\nMore: muxguard help COMMAND, man muxguard.",
        EXIT_CODES.sentence()
    )
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// How long the command may wait in all, from 10ms to 1h (e.g. 500ms, 2s, 1.5s)
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        env = TIMEOUT.name,
        default_value = "2s",
        value_parser = durations::parse_timeout
    )]
    pub timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Classify the control socket ssh would use for a command line, and optionally repair it
    #[command(
        override_usage = "muxguard check [OPTIONS] (--path SOCKET | SSH_ARGS...)",
        after_help = format!(
            "Examples:\n  muxguard check myhost\n  muxguard check --fix -- -p 2222 user@example.org\n  muxguard check --json --path ~/.ssh/cm/3f2a...\n\n\
             The masters of jump hosts (ProxyJump, -J, ProxyCommand ssh -W) are checked first, \
             first hop first, and repaired with --fix.\n\n{}",
            CHECK_EXIT_CODES.sentence()
        )
    )]
    Check(CheckArgs),
    /// List every control socket found, with its state
    #[command(
        after_help = "Examples:\n  muxguard status\n  muxguard status --json\n  muxguard status --dir /tmp/sockets -F ~/.ssh/work_config\n\n\
            status never connects to a socket that has a listener, so it does not keep idle \
            ControlPersist masters alive."
    )]
    Status(StatusArgs),
    /// Remove stale control sockets; with --probe also end hung and unreachable masters
    #[command(
        after_help = "Examples:\n  muxguard clean\n  muxguard clean --dry-run\n  muxguard clean --probe -q\n\n\
            Without --probe, clean never connects to a socket that has a listener, so running it \
            often does not keep idle ControlPersist masters alive. It never touches a live master, \
            an orphan (see reset --all), or anything that is not your own control socket."
    )]
    Clean(CleanArgs),
    /// End a master so that the next ssh builds a fresh one
    #[command(
        override_usage = "muxguard reset [OPTIONS] (--all | --path SOCKET | SSH_ARGS...)",
        after_help = "Examples:\n  muxguard reset myhost\n  muxguard reset --kill -- -p 2222 user@example.org\n  muxguard reset --all\n\n\
            By default the master stops listening and its socket goes at once, while the sessions \
            already open through it run to their end. A master that does not answer is killed, \
            and so is an orphan (any clean exit would unlink its path by name, which may hold a \
            newer master's socket). A stale socket is removed."
    )]
    Reset(ResetArgs),
    /// Repair the destination's control socket, then run the real ssh with the same arguments
    #[command(
        disable_help_flag = true,
        after_help = "Examples:\n  muxguard ssh myhost\n  GIT_SSH_COMMAND='muxguard ssh' git pull\n  rsync -e 'muxguard ssh' -a src/ myhost:dst/\n  scp -S muxguard-ssh file myhost:\n\n\
            It runs `check --fix` for the destination, then replaces itself with the real ssh \
            (the first ssh on PATH that is not muxguard). A master suspended in a terminal \
            (Ctrl-Z on a foreground ssh) is left for you to resume: ssh goes around it, with \
            -o ControlPath=none. With -G, -V, -Q or -O, ssh opens no session through the master \
            (or addresses it itself): ssh runs at once, nothing is repaired. It fails open: \
            whatever goes wrong inside muxguard (a bad setting, an error, the --timeout run \
            out), ssh still runs, with the same arguments. MUXGUARD_DISABLE=1 makes it plain \
            ssh."
    )]
    Ssh(SshArgs),
    /// Heal masters the moment the network changes or the machine resumes, for every program
    #[command(
        after_help = format!(
            "Examples:\n  systemctl --user enable --now muxguard-watch   # the installed systemd user unit\n  \
            muxguard watch --json\n\n\
            A long-running process for a service manager (see the README). It sleeps until \
            something may have killed the links of your masters: a change of network (an \
            address comes or goes; loopback aside), a resume from suspend, or, where the kernel \
            shows each master's connection (Linux), data the server leaves unacknowledged or \
            unanswered for longer than MUXGUARD_PROBE_AFTER, read every half of that (at most \
            every 30s). Then, after the changes have settled (2s; 5s after a resume), it proves \
            the link of each live master in one --timeout, ends the hung and unreachable ones \
            and removes stale sockets, as clean --probe does. In between it connects to no \
            master, so ControlPersist countdowns run as they should. Each action is one line on \
            stderr; with --json one JSON object a line on stdout instead. One watcher runs per \
            user. SIGTERM and SIGINT end it at once. Here --timeout bounds the probes of each \
            round (and again its repairs), not the watcher's life.\n\n{}",
            WATCH_EXIT_CODES.sentence()
        )
    )]
    Watch(WatchArgs),
    /// Print the shell integration: eval "$(muxguard init zsh)", or muxguard init fish | source
    #[command(
        after_help = "Examples:\n  eval \"$(muxguard init bash)\"   # in ~/.bashrc\n  eval \"$(muxguard init zsh)\"    # in ~/.zshrc\n  muxguard init fish | source     # in ~/.config/fish/config.fish"
    )]
    Init(InitArgs),
    /// Find the connection-sharing mistakes in your ssh configuration
    #[command(
        after_help = format!(
            "Examples:\n  muxguard doctor\n  muxguard doctor --fix\n  muxguard doctor --json -F ~/.ssh/work_config\n\n\
            {} --fix changes only what is safe (it creates a missing ControlPath directory, mode \
            0700) and never edits your ssh config: it prints the lines to change.\n\n\
            --timeout is the budget of the whole command, not of each host: doctor asks ssh -G \
            about the defaults first, then up to 8 hosts at a time, and every host it has no \
            answer for when the time runs out is reported not-checked (a slow `Match exec` in \
            the ssh config is the usual cause). Run it again with a longer --timeout to check \
            them.",
            DOCTOR_EXIT_CODES.sentence()
        )
    )]
    Doctor(DoctorArgs),
    /// Print a completion script for a shell
    #[command(
        after_help = "Examples:\n  muxguard completions bash > ~/.local/share/bash-completion/completions/muxguard\n  muxguard completions zsh > ~/.zfunc/_muxguard\n  muxguard completions fish > ~/.config/fish/completions/muxguard.fish"
    )]
    Completions(CompletionsArgs),
    /// Print the man page (roff) of muxguard or of one subcommand, as `make man` writes them
    #[command(hide = true)]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Create what is missing and safe to create (the ControlPath directory)
    #[arg(long)]
    pub fix: bool,

    /// Print one JSON object instead of lines of text
    #[arg(long)]
    pub json: bool,

    /// ssh config file to check, instead of your own and the system's
    #[arg(short = 'F', value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The subcommand whose page to print (muxguard-SUBCOMMAND(1))
    pub subcommand: Option<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct SshArgs {
    /// The ssh command line, exactly as ssh takes it
    #[arg(
        value_name = "SSH_ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_parser = clap::value_parser!(OsString)
    )]
    pub ssh_args: Vec<OsString>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Repair what is broken: remove a stale socket, end a hung or unreachable master
    #[arg(long)]
    pub fix: bool,

    /// Prove the link: a round trip through the master to the server (default: only when
    /// something suggests the link died, see MUXGUARD_PROBE)
    #[arg(long)]
    pub probe: bool,

    /// Print one JSON object instead of a line of text
    #[arg(long)]
    pub json: bool,

    /// Check this socket instead of resolving one from ssh arguments
    #[arg(long, value_name = "SOCKET", conflicts_with = "ssh_args")]
    pub path: Option<PathBuf>,

    /// The ssh command line, exactly as ssh takes it (resolved with `ssh -G`)
    #[arg(
        value_name = "SSH_ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        required_unless_present = "path",
        value_parser = clap::value_parser!(OsString)
    )]
    pub ssh_args: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON object instead of a table
    #[arg(long)]
    pub json: bool,

    /// Also prove each live master's link with a round trip to its server (this connects to
    /// every live master)
    #[arg(long)]
    pub probe: bool,

    #[command(flatten)]
    pub search: SearchArgs,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Print one JSON object a line on stdout, instead of lines of text on stderr
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub search: SearchArgs,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Also prove every live master's link, and end hung and unreachable masters (this
    /// connects to every live master)
    #[arg(long)]
    pub probe: bool,

    /// Say what would be done, and do nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// Print one JSON object instead of lines of text
    #[arg(long)]
    pub json: bool,

    /// Print nothing but errors
    #[arg(long, short = 'q', conflicts_with = "json")]
    pub quiet: bool,

    /// As the shell hooks run it: when another sweep of yours is still running, do nothing
    #[arg(long)]
    pub sweep: bool,

    #[command(flatten)]
    pub search: SearchArgs,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// End the master now, with its open sessions
    #[arg(long)]
    pub kill: bool,

    /// Print one JSON object instead of lines of text
    #[arg(long)]
    pub json: bool,

    /// Every master found (as status finds them), orphans included
    #[arg(long, conflicts_with_all = ["path", "ssh_args"])]
    pub all: bool,

    /// The master at this socket
    #[arg(long, value_name = "SOCKET", conflicts_with = "ssh_args")]
    pub path: Option<PathBuf>,

    /// ssh config file: passed to `ssh -G` with SSH_ARGS, read for ControlPath templates with
    /// --all
    #[arg(short = 'F', value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// With --all: one more directory to look for control sockets in (repeatable)
    #[arg(long = "dir", value_name = "DIR", requires = "all", value_parser = existing_dir)]
    pub dirs: Vec<PathBuf>,

    /// The ssh command line whose master to end, exactly as ssh takes it
    #[arg(
        value_name = "SSH_ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        required_unless_present_any = ["all", "path"],
        value_parser = clap::value_parser!(OsString)
    )]
    pub ssh_args: Vec<OsString>,
}

/// Where to look for control sockets, beyond the paths earlier checks resolved.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// ssh config file to read ControlPath templates from, instead of your own and the system's
    #[arg(short = 'F', value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// One more directory to look for control sockets in (repeatable)
    #[arg(long = "dir", value_name = "DIR", value_parser = existing_dir)]
    pub dirs: Vec<PathBuf>,
}

/// The command line as clap should read it. Invoked through a link named `muxguard-ssh`,
/// muxguard is `muxguard ssh`, every argument ssh's: that is one program, for what takes one
/// program rather than a command (`scp -S`, Ansible's ssh_executable).
pub fn arguments() -> Vec<OsString> {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let invoked_as = args.first().and_then(|arg0| Path::new(arg0).file_name());
    if invoked_as == Some(OsStr::new("muxguard-ssh")) {
        args.splice(1..1, [OsString::from("ssh"), OsString::from("--")]);
    }
    args
}

/// For a command line that asks for `muxguard ssh` (as `arguments` returns it), ssh's own
/// arguments, read without clap: they are what `muxguard ssh` runs ssh with when anything
/// else fails, a command line that clap refuses included (`MUXGUARD_TIMEOUT=bogus`).
pub fn ssh_arguments(args: &[OsString]) -> Option<&[OsString]> {
    let mut index = 1;
    // muxguard's only option before a subcommand: --timeout, with its value attached or not.
    loop {
        let arg = args.get(index)?.as_bytes();
        if arg == b"--timeout" {
            index += 2;
        } else if arg.starts_with(b"--timeout=") {
            index += 1;
        } else {
            break;
        }
    }
    if args.get(index)? != "ssh" {
        return None;
    }
    let rest = &args[index + 1..];
    Some(match rest.first() {
        Some(first) if first == "--" => &rest[1..],
        _ => rest,
    })
}

/// A `--dir`: a directory that exists (a mistyped one would look like one with no sockets).
fn existing_dir(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_dir() => Ok(path),
        Ok(_) => Err("not a directory".into()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err("no such directory".into())
        }
        Err(error) => Err(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_arguments_are_found_without_clap() {
        let args =
            |text: &str| -> Vec<OsString> { text.split_whitespace().map(OsString::from).collect() };
        let found = |text: &str| ssh_arguments(&args(text)).map(<[OsString]>::to_vec);
        assert_eq!(found("muxguard ssh -p 22 host"), Some(args("-p 22 host")));
        assert_eq!(found("muxguard ssh -- host ls"), Some(args("host ls")));
        assert_eq!(
            found("muxguard --timeout bogus ssh host"),
            Some(args("host"))
        );
        assert_eq!(found("muxguard --timeout=1s ssh"), Some(vec![]));
        assert_eq!(found("muxguard check host"), None);
        assert_eq!(found("muxguard --timeout"), None);
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
