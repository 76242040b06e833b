//! The `outcome` of every repair tried, as scripts read it: `reset --json`, `check --fix --json`
//! and `clean --json`, each situation made for real. (`already-gone` and `replaced-left-alone`
//! need another process to win a race in the middle of a repair: unit tests in src/repair.rs
//! make that race happen between the classification and the repair.)

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::common::cli::{Run, muxguard, run};
use crate::common::users::{SharedDir, as_nobody, can_switch_users, give_to_nobody};
use crate::common::{Listener, TestEnv, make_stale_socket, spawn_listener};
use serde_json::Value;

/// `reset --json` with `extra` options for `alias`; its one socket.
fn reset_json(env: &TestEnv, extra: &[&str], alias: &str) -> (Run, Value) {
    let mut args: Vec<String> = vec!["reset".into(), "--json".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push("--".into());
    args.extend(env.ssh_args(alias));
    let run = muxguard(env, &args);
    let json = run.json();
    assert_eq!(json["schema"], 1, "{json}");
    let sockets = json["sockets"].as_array().expect("a list of sockets");
    assert_eq!(sockets.len(), 1, "{json}");
    let socket = sockets[0].clone();
    (run, socket)
}

/// muxguard run by nobody, with a home of nobody's own.
fn as_nobody_run(env: &TestEnv, shared: &SharedDir, args: &[&str]) -> Run {
    let home = shared.home();
    let mut command = env.muxguard();
    command.env("HOME", &home).env("XDG_STATE_HOME", &home);
    command.args(args);
    as_nobody(&mut command);
    run(command)
}

/// A stale socket of nobody's in a directory of root's that nobody may read.
fn stale_socket_of_nobody(shared: &SharedDir, name: &str) -> std::path::PathBuf {
    let path = shared.dir.join(name);
    make_stale_socket(&path);
    give_to_nobody(&path);
    path
}

#[test]
fn reset_says_what_it_did_to_each_master() {
    let env = TestEnv::new();
    let gentle = env.start_persist_master("alpha");
    let (run, socket) = reset_json(&env, &[], "alpha");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(socket["path"], gentle.path.to_str().unwrap());
    assert_eq!(socket["pid"], gentle.pid);
    assert_eq!(socket["state"], "live", "{socket}");
    assert_eq!(socket["action"], "reset", "{socket}");
    assert_eq!(socket["outcome"], "stopped-listening", "{socket}");
    assert!(!gentle.path.exists());

    let killed = env.start_persist_master("beta");
    let (run, socket) = reset_json(&env, &["--kill"], "beta");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(socket["pid"], killed.pid);
    assert_eq!(socket["outcome"], "ended", "{socket}");
    assert!(!killed.path.exists());
}

#[test]
fn reset_says_what_it_did_with_what_is_not_a_master() {
    let env = TestEnv::new();
    let stale = env.control_path("beta");
    make_stale_socket(&stale);
    let (run, socket) = reset_json(&env, &[], "beta");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(socket["reason"], "no-listener", "{socket}");
    assert_eq!(socket["action"], "removed", "{socket}");
    assert_eq!(socket["outcome"], "removed", "{socket}");

    // Nothing to do: no outcome, no action.
    let (run, socket) = reset_json(&env, &[], "alpha");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(socket["reason"], "nothing-there", "{socket}");
    assert_eq!(socket["action"], "none", "{socket}");
    assert!(socket.get("outcome").is_none(), "{socket}");
    let (run, socket) = reset_json(&env, &[], "nomux");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(socket["path"], Value::Null, "{socket}");
    assert_eq!(socket["reason"], "control-path-none", "{socket}");

    // Something foreign is refused, said in the JSON and in one line on stderr.
    let foreign = env.cm_dir.join("garbage");
    let _listener = spawn_listener(&foreign, Listener::Garbage);
    let run = muxguard(
        &env,
        &["reset", "--json", "--path", foreign.to_str().unwrap()],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let socket = &run.json()["sockets"][0];
    assert_eq!(socket["state"], "foreign", "{socket}");
    assert_eq!(socket["action"], "none", "{socket}");
    assert_eq!(socket["outcome"], "not-touched", "{socket}");
    assert!(foreign.exists());
}

/// A stale socket of the user's in a directory the user may not change (a shared directory
/// that root made read-only to others): the repair is tried, fails, and says why.
#[test]
fn a_stale_socket_that_cannot_be_removed_is_a_failed_repair() {
    if !can_switch_users("a_stale_socket_that_cannot_be_removed_is_a_failed_repair") {
        return;
    }
    let env = TestEnv::new();
    let shared = SharedDir::new();
    let stale = stale_socket_of_nobody(&shared, "stale");

    let path = stale.to_str().unwrap();
    let run = as_nobody_run(&env, &shared, &["check", "--fix", "--json", "--path", path]);
    assert_eq!(run.code, 1, "not repaired: {}", run.stderr);
    let json = run.json();
    assert_eq!(json["state"], "stale", "{json}");
    assert_eq!(json["reason"], "no-listener", "{json}");
    assert_eq!(json["action"], "none", "{json}");
    assert_eq!(json["outcome"], "failed", "{json}");
    let detail = json["detail"].as_str().unwrap();
    assert!(detail.contains("cannot remove it"), "{detail}");
    assert!(stale.exists());

    let dir = shared.dir.to_str().unwrap();
    let run = as_nobody_run(
        &env,
        &shared,
        &["clean", "--json", "-F", "/dev/null", "--dir", dir],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let entry = crate::common::cli::listed(&run.json(), &stale).clone();
    assert_eq!(entry["action"], "kept", "{entry}");
    assert_eq!(entry["outcome"], "failed", "{entry}");
    // One line on stderr, with why.
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].starts_with(&format!(
        "muxguard: could not clean {path}: cannot remove it"
    )));
    assert!(stale.exists());
}

/// A stale socket the user may not connect to (mode 0): connecting fails, but not because
/// nothing listens. Neither status nor check calls it stale, and nothing touches it.
#[test]
fn a_socket_that_refuses_a_connection_for_another_reason_is_foreign() {
    if !can_switch_users("a_socket_that_refuses_a_connection_for_another_reason_is_foreign") {
        return;
    }
    let env = TestEnv::new();
    let shared = SharedDir::new();
    let closed = stale_socket_of_nobody(&shared, "closed");
    fs::set_permissions(&closed, fs::Permissions::from_mode(0o000)).unwrap();

    let dir = shared.dir.to_str().unwrap();
    let run = as_nobody_run(
        &env,
        &shared,
        &["status", "--json", "-F", "/dev/null", "--dir", dir],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let entry = crate::common::cli::listed(&run.json(), &closed).clone();
    assert_eq!(entry["state"], "foreign", "{entry}");
    assert_eq!(entry["reason"], "cannot-connect", "{entry}");

    let path = closed.to_str().unwrap();
    let run = as_nobody_run(&env, &shared, &["check", "--fix", "--json", "--path", path]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["reason"], "cannot-connect", "{json}");
    assert_eq!(json["outcome"], "not-touched", "{json}");
    assert!(closed.exists());
}
