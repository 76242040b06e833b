//! The checked-in completion scripts are what the binary prints: `make completions` after
//! changing the command line.

use std::process::Command;

#[test]
fn checked_in_completions_are_current() {
    for (shell, file) in [
        ("bash", "completions/muxguard.bash"),
        ("zsh", "completions/_muxguard"),
        ("fish", "completions/muxguard.fish"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_muxguard"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(output.status.success());
        let printed = String::from_utf8(output.stdout).unwrap();
        assert!(printed.contains("muxguard"), "{shell}: {printed}");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            printed == checked_in,
            "{file} is out of date: run `make completions`"
        );
    }
}

#[test]
fn the_completion_scripts_parse_in_their_shells() {
    for (shell, file, check) in [
        ("bash", "completions/muxguard.bash", vec!["-n"]),
        ("zsh", "completions/_muxguard", vec!["-n"]),
        ("fish", "completions/muxguard.fish", vec!["--no-execute"]),
    ] {
        let Ok(path) = which::which(shell) else {
            eprintln!("skipped: {shell} is not installed");
            continue;
        };
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let status = Command::new(path).args(check).arg(&file).status().unwrap();
        assert!(status.success(), "{shell} cannot parse {}", file.display());
    }
}

#[test]
fn checked_in_man_pages_are_current() {
    let pages = [
        (None, "man/muxguard.1"),
        (Some("check"), "man/muxguard-check.1"),
        (Some("status"), "man/muxguard-status.1"),
        (Some("clean"), "man/muxguard-clean.1"),
        (Some("reset"), "man/muxguard-reset.1"),
        (Some("ssh"), "man/muxguard-ssh.1"),
        (Some("doctor"), "man/muxguard-doctor.1"),
        (Some("init"), "man/muxguard-init.1"),
        (Some("completions"), "man/muxguard-completions.1"),
    ];
    for (subcommand, file) in pages {
        let output = Command::new(env!("CARGO_BIN_EXE_muxguard"))
            .arg("man")
            .args(subcommand)
            .output()
            .unwrap();
        assert!(output.status.success());
        let printed = String::from_utf8(output.stdout).unwrap();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            printed == checked_in,
            "{file} is out of date: run `make man`"
        );
    }
    // The main page carries what clap does not know.
    let main = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man/muxguard.1"),
    )
    .unwrap();
    for section in [
        "STATES",
        "EXIT STATUS",
        "ENVIRONMENT",
        "MUXGUARD_PROBE",
        "unreachable",
    ] {
        assert!(main.contains(section), "the man page lacks {section}");
    }
}
