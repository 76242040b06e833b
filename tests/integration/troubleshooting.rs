//! The README's troubleshooting section against the real OpenSSH: each situation is made for
//! real, ssh must print the message the README's heading quotes, and muxguard must name the
//! state the README gives for it.

use std::path::Path;
use std::time::Duration;

use crate::common::cli::check_json;
use crate::common::{Listener, TestEnv, make_stale_socket, output_within, spawn_listener};

const README: &str = include_str!("../../README.md");

/// The README's troubleshooting headings: the messages it is keyed by.
fn headings() -> Vec<&'static str> {
    let (_, section) = README
        .split_once("## Troubleshooting\n")
        .expect("the README has a Troubleshooting section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|line| line.strip_prefix("#### "))
        .collect()
}

/// Runs ssh with the environment's config and these arguments; its stderr lines.
fn ssh_says(env: &TestEnv, args: &[&str]) -> Vec<String> {
    let output = output_within(env.ssh_command().args(args), Duration::from_secs(15));
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(|line| line.trim_end_matches('\r').to_owned())
        .collect()
}

/// ssh printed `prefix ... suffix` (the middle is a path), and a README heading quotes a
/// message of that shape.
fn assert_documented(said: &[String], prefix: &str, suffix: &str) {
    assert!(
        said.iter()
            .any(|line| line.starts_with(prefix) && line.ends_with(suffix)),
        "ssh did not print `{prefix}...{suffix}`; it printed:\n{}",
        said.join("\n")
    );
    let quoted = |heading: &&str| {
        heading.split('`').skip(1).step_by(2).any(|message| {
            message.len() >= prefix.len() + suffix.len()
                && message.starts_with(prefix)
                && message.ends_with(suffix)
        })
    };
    assert!(
        headings().iter().any(quoted),
        "no troubleshooting heading quotes `{prefix}...{suffix}`"
    );
}

fn state_of(env: &TestEnv, args: &[&str], alias: &str) -> String {
    let run = check_json(env, args, alias);
    run.json()["state"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_stale_socket_refuses_and_is_stale() {
    let env = TestEnv::new();
    make_stale_socket(&env.control_path("beta"));
    let said = ssh_says(&env, &["-O", "check", "beta"]);
    assert_documented(&said, "Control socket connect(", "): Connection refused");
    assert_eq!(state_of(&env, &[], "beta"), "stale");
}

#[test]
fn no_socket_is_absent() {
    let env = TestEnv::new();
    let said = ssh_says(&env, &["-O", "check", "beta"]);
    assert_documented(
        &said,
        "Control socket connect(",
        "): No such file or directory",
    );
    assert_eq!(state_of(&env, &[], "beta"), "absent");
}

#[test]
fn a_second_master_finds_the_socket_taken_and_the_first_is_live() {
    let env = TestEnv::new();
    let _master = env.start_master("alpha");
    let said = ssh_says(&env, &["-o", "ControlMaster=yes", "alpha", "true"]);
    assert_documented(
        &said,
        "ControlSocket ",
        " already exists, disabling multiplexing",
    );
    let said = ssh_says(&env, &["-O", "check", "alpha"]);
    assert_documented(&said, "Master running (pid=", ")");
    assert_eq!(state_of(&env, &[], "alpha"), "live");
}

#[test]
fn a_missing_directory_cannot_be_bound() {
    let env = TestEnv::new();
    let path = env.root.join("no-such-dir/%C");
    let option = format!("ControlPath={}", path.display());
    let said = ssh_says(&env, &["-o", &option, "alpha", "echo ran"]);
    assert_documented(
        &said,
        "unix_listener: cannot bind to path ",
        ": No such file or directory",
    );
}

#[test]
fn a_path_over_90_characters_is_too_long() {
    let env = TestEnv::new();
    let dir = env.cm_dir.display().to_string();
    let name = "x".repeat(95 - dir.len());
    let option = format!("ControlPath={dir}/{name}");
    let said = ssh_says(&env, &["-o", &option, "alpha", "true"]);
    assert_documented(
        &said,
        "unix_listener: path \"",
        "\" too long for Unix domain socket",
    );
}

#[test]
fn a_listener_that_is_not_a_master_is_foreign() {
    let env = TestEnv::new();
    let path = env.control_path("beta");
    let _listener = spawn_listener(&path, Listener::HugeLength);
    let said = ssh_says(&env, &["beta", "true"]);
    assert_documented(
        &said,
        "mux_client_read: reserve: ",
        "insufficient buffer space",
    );
    assert_eq!(state_of(&env, &[], "beta"), "foreign");
    assert!(Path::new(&path).exists(), "a foreign socket stays");
}
