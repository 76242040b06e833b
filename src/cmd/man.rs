//! `muxguard man` (hidden): the man page, generated from the same clap definitions as the parser
//! and completed with what clap does not know: states, exit status, environment, files.

use std::io::{self, Write};

use clap::CommandFactory;
use roff::{Roff, bold, roman};

use crate::cli::{Cli, ManArgs};
use crate::error::{
    CHECK_EXIT_CODES, DOCTOR_EXIT_CODES, EXIT_CODES, Error, ExitCode, Result, WATCH_EXIT_CODES,
};
use crate::output;
#[cfg(test)]
use crate::shell;
use crate::socket::report::State;
use crate::support::environment;

pub fn run(args: ManArgs) -> Result<ExitCode> {
    let mut out = io::stdout().lock();
    match args.subcommand {
        None => output::written(render(&mut out))?,
        Some(name) => {
            let command = versioned();
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

/// The command line, with the version alone: the checked-in pages must not change with every
/// commit, which `--version` names.
fn versioned() -> clap::Command {
    Cli::command().version(env!("CARGO_PKG_VERSION"))
}

fn render(out: &mut dyn Write) -> io::Result<()> {
    let man = clap_mangen::Man::new(versioned());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;

    let mut roff = Roff::new();
    roff.control("SH", ["STATES"]);
    for state in State::ALL {
        roff.control("TP", [])
            .text([bold(state.as_str())])
            .text([roman(state.meaning().replace('`', ""))]);
    }
    roff.control("SH", ["EXIT STATUS"]);
    for meanings in [
        EXIT_CODES,
        CHECK_EXIT_CODES,
        DOCTOR_EXIT_CODES,
        WATCH_EXIT_CODES,
    ] {
        roff.control("TP", [])
            .text([bold(meanings.commands)])
            .text([roman(meanings.sentence())]);
    }
    roff.control("TP", [])
        .text([bold("ssh")])
        .text([roman("muxguard ssh exits with ssh's own status.")]);
    roff.control("SH", ["ENVIRONMENT"]);
    for variable in environment::ALL {
        roff.control("TP", [])
            .text([bold(variable.name)])
            .text([roman(variable.meaning)]);
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::readme;

    /// Every `MUXGUARD_…` name in `text`.
    fn muxguard_names(text: &str) -> BTreeSet<String> {
        text.match_indices("MUXGUARD_")
            .map(|(at, _)| {
                text[at..]
                    .chars()
                    .take_while(|&c| c.is_ascii_uppercase() || c == '_')
                    .collect()
            })
            .collect()
    }

    /// What a user reads: the README, every `--help`, the man page, and the shell scripts.
    fn everything_users_read() -> Vec<(String, String)> {
        let mut texts = vec![
            ("the README".to_string(), readme::README.to_string()),
            ("the bash script".into(), shell::BASH.into()),
            ("the zsh script".into(), shell::ZSH.into()),
            ("the fish script".into(), shell::FISH.into()),
        ];
        let mut page = Vec::new();
        render(&mut page).unwrap();
        texts.push(("the man page".into(), String::from_utf8(page).unwrap()));
        let mut command = Cli::command();
        command.build();
        texts.push(("--help".into(), command.render_long_help().to_string()));
        for sub in command.get_subcommands_mut() {
            let help = sub.render_long_help().to_string();
            texts.push((format!("{} --help", sub.get_name()), help));
        }
        texts
    }

    /// The man page lists the variables from their definitions; nothing anyone reads names one
    /// that is not defined (a renamed or removed variable left behind in a text).
    #[test]
    fn only_defined_variables_are_named() {
        let defined: BTreeSet<String> = environment::ALL
            .iter()
            .map(|variable| variable.name.to_string())
            .collect();
        for (what, text) in everything_users_read() {
            for name in muxguard_names(&text) {
                assert!(
                    defined.contains(&name),
                    "{what} names {name}, which is not defined"
                );
            }
        }
    }

    #[test]
    fn the_readme_documents_every_variable() {
        let documented = readme::section("### Options and environment");
        for variable in environment::ALL {
            assert!(
                documented.contains(&format!("`{}", variable.name)),
                "the README's Options and environment do not say what {} does",
                variable.name
            );
        }
    }

    /// The README's table of exit codes is the one `--help` and the man page make.
    #[test]
    fn the_readme_exit_codes_are_the_codes() {
        let all = [
            EXIT_CODES,
            CHECK_EXIT_CODES,
            DOCTOR_EXIT_CODES,
            WATCH_EXIT_CODES,
        ];
        let mut expected = vec![
            ["code"]
                .into_iter()
                .chain(all.iter().map(|meanings| meanings.commands))
                .map(String::from)
                .collect::<Vec<_>>(),
        ];
        for code in ExitCode::ALL {
            let mut row = vec![(code as u8).to_string()];
            row.extend(all.iter().map(|meanings| meanings.of(code).to_string()));
            expected.push(row);
        }
        assert_eq!(readme::table("### Exit codes"), expected);
    }
}
