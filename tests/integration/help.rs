//! Every command's --help shows how it is used, with examples.

use std::process::Command;

const COMMANDS: [&str; 8] = [
    "check",
    "status",
    "clean",
    "reset",
    "ssh",
    "doctor",
    "init",
    "completions",
];

fn help(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_muxguard"))
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "muxguard {args:?} failed");
    assert!(
        output.stderr.is_empty(),
        "muxguard {args:?} wrote to stderr"
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn every_command_has_examples_in_its_help() {
    let top = help(&["--help"]);
    assert!(top.contains("Examples:"), "{top}");
    for command in COMMANDS {
        assert!(
            top.contains(&format!("  {command} ")),
            "{command} is not listed:\n{top}"
        );
        let text = help(&[command, "--help"]);
        assert!(
            text.contains(&format!("Usage: muxguard {command}")),
            "muxguard {command} --help:\n{text}"
        );
        let examples = text
            .split_once("Examples:\n")
            .unwrap_or_else(|| panic!("muxguard {command} --help has no examples:\n{text}"))
            .1;
        assert!(
            examples
                .lines()
                .next()
                .is_some_and(|line| line.contains("muxguard")),
            "muxguard {command} --help:\n{text}"
        );
    }
}

/// ssh takes no --help, so `muxguard ssh --help` is about muxguard, while anything after the
/// destination (a remote command's --help) still goes to ssh.
#[test]
fn muxguard_ssh_help_is_muxguard_s() {
    let text = help(&["ssh", "--help"]);
    assert!(text.contains("Usage: muxguard ssh"), "{text}");
    assert!(text.contains("scp -S muxguard-ssh"), "{text}");

    // Not first: ssh's. `ssh -V` prints its version and stops there.
    let output = Command::new(env!("CARGO_BIN_EXE_muxguard"))
        .args(["ssh", "-V", "--help"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("OpenSSH"), "{stderr}");
    assert!(
        output.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
