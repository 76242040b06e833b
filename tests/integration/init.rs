//! `muxguard init` prints the scripts in shell/, and each parses (and lints) in its shell.

use std::path::Path;
use std::process::Command;

fn init(shell: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_muxguard"))
        .args(["init", shell])
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

fn repo(file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(file)
}

#[test]
fn init_prints_the_scripts_in_shell() {
    for (shell, file) in [
        ("bash", "shell/muxguard.bash"),
        ("zsh", "shell/muxguard.zsh"),
        ("fish", "shell/muxguard.fish"),
    ] {
        assert_eq!(
            init(shell),
            std::fs::read_to_string(repo(file)).unwrap(),
            "{shell}"
        );
    }
    let run = Command::new(env!("CARGO_BIN_EXE_muxguard"))
        .args(["init", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
}

/// A checker for each script; a missing one is said, not passed over in silence. CI installs
/// them all.
#[test]
fn the_scripts_parse_and_lint_clean() {
    let checks: [(&str, &[&str], &str); 5] = [
        ("bash", &["-n"], "shell/muxguard.bash"),
        (
            "shellcheck",
            &["--shell=bash", "--severity=style"],
            "shell/muxguard.bash",
        ),
        ("zsh", &["-n"], "shell/muxguard.zsh"),
        ("zsh", &["-n"], "muxguard.plugin.zsh"),
        ("fish", &["--no-execute"], "shell/muxguard.fish"),
    ];
    for (tool, args, file) in checks {
        let Ok(path) = which::which(tool) else {
            eprintln!("skipped: {tool} is not installed");
            continue;
        };
        let output = Command::new(path)
            .args(args)
            .arg(repo(file))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{tool} {file}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn the_zsh_plugin_loads_the_integration() {
    let Ok(zsh) = which::which("zsh") else {
        eprintln!("skipped: zsh is not installed");
        return;
    };
    let bin = Path::new(env!("CARGO_BIN_EXE_muxguard")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        crate::common::test_path().to_str().unwrap()
    );
    let output = Command::new(zsh)
        .args([
            "-f",
            "-c",
            "source \"$1\"; whence -w ssh __muxguard_hook",
            "zsh",
        ])
        .arg(repo("muxguard.plugin.zsh"))
        .env("PATH", path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("ssh: function") && text.contains("__muxguard_hook: function"),
        "{text}"
    );
}
