//! `muxguard check` against a real sshd and real masters, broken for real.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use crate::common::cli::{check_json, muxguard};
use crate::common::{Listener, TestEnv, make_stale_socket, spawn_listener};
use nix::sys::signal::Signal;

fn process_exists(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[test]
fn a_live_master_is_live() {
    let env = TestEnv::new();
    let master = env.start_master("alpha");
    let run = check_json(&env, &[], "alpha");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["schema"], 1);
    assert_eq!(json["state"], "live");
    assert_eq!(json["reason"], "answered");
    assert_eq!(json["pid"], master.pid);
    assert_eq!(json["path"], master.path.to_str().unwrap());
    assert_eq!(json["alias"], "alpha");
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::effective())
        .unwrap()
        .unwrap()
        .name;
    assert_eq!(
        json["destination"],
        format!("{user}@127.0.0.1:{}", env.port)
    );
    assert_eq!(json["action"], "none");
    assert!(json["age_s"].as_u64().is_some());

    // The same socket named directly.
    let run = muxguard(
        &env,
        &["check", "--json", "--path", master.path.to_str().unwrap()],
    );
    assert_eq!(run.code, 0);
    assert_eq!(run.json()["state"], "live");
    assert_eq!(run.json()["pid"], master.pid);

    // Human output: one line naming the state and the path.
    let run = muxguard(&env, &["check", "--path", master.path.to_str().unwrap()]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.starts_with("live  "), "{}", run.stdout);
    assert!(run.stdout.contains(master.path.to_str().unwrap()));
    assert_eq!(run.stdout.lines().count(), 1);
}

#[test]
fn a_persistent_master_is_live_and_fix_leaves_it_alone() {
    let env = TestEnv::new();
    let master = env.start_persist_master("beta");
    let run = check_json(&env, &["--fix"], "beta");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["state"], "live");
    assert_eq!(json["action"], "none");
    assert_eq!(json["pid"], master.pid);
    assert!(master.path.exists());
    assert!(process_exists(master.pid));
    assert_eq!(env.ssh("beta", &["echo", "through"]).stdout, b"through\n");
}

#[test]
fn no_socket_is_absent_and_ssh_can_go_ahead() {
    let env = TestEnv::new();
    let run = check_json(&env, &[], "alpha");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["state"], "absent");
    assert_eq!(json["reason"], "nothing-there");
    assert_eq!(json["path"], env.control_path("alpha").to_str().unwrap());
    assert_eq!(json["pid"], serde_json::Value::Null);
}

#[test]
fn sharing_turned_off_is_disabled() {
    let env = TestEnv::new();
    let run = check_json(&env, &[], "nomux");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["state"], "disabled");
    assert_eq!(json["reason"], "control-path-none");
    assert_eq!(json["path"], serde_json::Value::Null);
    assert_eq!(json["action"], "none");

    // ControlMaster no with no socket: disabled; with a master running there, ssh uses it.
    let run = check_json(&env, &[], "nomaster");
    assert_eq!(run.code, 0);
    assert_eq!(run.json()["state"], "disabled");
    assert_eq!(run.json()["reason"], "control-master-no");
    assert_eq!(
        run.json()["path"],
        env.control_path("nomaster").to_str().unwrap()
    );
    let master = env.start_master("nomaster");
    let run = check_json(&env, &[], "nomaster");
    assert_eq!(run.json()["state"], "live");
    assert_eq!(run.json()["pid"], master.pid);
}

#[test]
fn a_killed_master_leaves_a_stale_socket_that_fix_removes() {
    let env = TestEnv::new();
    let mut master = env.start_master("alpha");
    master.kill_and_reap();
    assert!(master.path.exists(), "SIGKILL leaves the socket behind");

    let run = check_json(&env, &[], "alpha");
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.json()["state"], "stale");
    assert_eq!(run.json()["reason"], "no-listener");
    assert_eq!(run.json()["action"], "none");
    assert!(master.path.exists(), "check without --fix changes nothing");

    let run = muxguard(&env, &["check", "--path", master.path.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.starts_with("stale"), "{}", run.stdout);
    assert!(
        run.stderr.contains("check --fix"),
        "a hint says how to repair: {}",
        run.stderr
    );

    let run = check_json(&env, &["--fix"], "alpha");
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json()["state"], "stale");
    assert_eq!(run.json()["action"], "removed");
    assert_eq!(run.json()["outcome"], "removed");
    assert!(!master.path.exists());

    // The next ssh builds a fresh master there.
    let fresh = env.start_persist_master("alpha");
    let json = check_json(&env, &[], "alpha").json();
    assert_eq!(json["state"], "live");
    assert_eq!(json["pid"], fresh.pid);
}

#[test]
fn a_stopped_master_is_hung_within_the_timeout_and_fix_ends_it() {
    let env = TestEnv::new();
    let master = env.start_persist_master("alpha");
    master.signal(Signal::SIGSTOP);

    let run = check_json(&env, &["--timeout", "500ms"], "alpha");
    assert_eq!(run.code, 1, "{}", run.stdout);
    let json = run.json();
    assert_eq!(json["state"], "hung");
    assert_eq!(json["reason"], "master-stopped");
    assert_eq!(json["pid"], master.pid);
    assert!(
        run.elapsed < Duration::from_millis(500 + 1000),
        "took {:?}",
        run.elapsed
    );
    assert!(
        process_exists(master.pid),
        "check without --fix changes nothing"
    );

    let run = check_json(&env, &["--timeout", "500ms", "--fix"], "alpha");
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json()["action"], "reset");
    assert!(
        run.elapsed < Duration::from_millis(500 + 2000),
        "took {:?}",
        run.elapsed
    );
    crate::common::wait_until("the hung master to be gone", Duration::from_secs(3), || {
        !process_exists(master.pid)
    });
    assert!(!master.path.exists(), "its socket is gone");
    assert_eq!(env.ssh("alpha", &["echo", "fresh"]).stdout, b"fresh\n");
}

/// A stopped master cannot answer until it is resumed, and /proc says it is stopped: check
/// does not wait out a long timeout for it, as it does for a master that runs but is silent.
#[test]
fn a_stopped_master_is_hung_without_waiting_out_the_timeout() {
    let env = TestEnv::new();
    let master = env.start_persist_master("alpha");
    master.signal(Signal::SIGSTOP);
    let run = check_json(&env, &["--timeout", "10s"], "alpha");
    assert_eq!(run.json()["state"], "hung", "{}", run.stdout);
    assert!(
        run.elapsed < Duration::from_secs(5),
        "took {:?}",
        run.elapsed
    );

    // A listener that runs (this test holds it) but says nothing is waited for to the end.
    let silent = env.cm_dir.join("silent");
    let _listener = spawn_listener(&silent, Listener::Silent);
    let run = muxguard(
        &env,
        &[
            "check",
            "--json",
            "--timeout",
            "1s",
            "--path",
            silent.to_str().unwrap(),
        ],
    );
    assert_eq!(run.json()["state"], "foreign", "{}", run.stdout);
    assert!(
        run.elapsed >= Duration::from_secs(1),
        "took {:?}",
        run.elapsed
    );
}

#[test]
fn a_stopped_foreground_master_is_killed_by_fix_and_its_socket_removed() {
    let env = TestEnv::new();
    let master = env.start_master("gamma");
    master.signal(Signal::SIGSTOP);
    let run = check_json(&env, &["--timeout", "300ms", "--fix"], "gamma");
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json()["state"], "hung");
    assert_eq!(run.json()["action"], "reset");
    assert_eq!(run.json()["outcome"], "ended");
    assert!(!master.path.exists());
}

/// Runs check and check --fix on something that is not the user's own control socket:
/// foreign, exit 1, and nothing is touched.
fn assert_foreign_and_untouched(
    env: &TestEnv,
    path: &Path,
    code: &str,
    reason: &str,
) -> serde_json::Value {
    let before = fs::symlink_metadata(path).ok();
    let run = muxguard(
        env,
        &[
            "check",
            "--json",
            "--timeout",
            "500ms",
            "--path",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    let json = run.json();
    assert_eq!(json["state"], "foreign", "{json}");
    assert_eq!(json["reason"], code, "{json}");
    let detail = json["detail"].as_str().unwrap_or_default().to_string();
    assert!(
        detail.contains(reason),
        "detail {detail:?} should say {reason:?}"
    );

    let run = muxguard(
        env,
        &[
            "check",
            "--json",
            "--fix",
            "--timeout",
            "500ms",
            "--path",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.json()["action"], "none");
    assert_eq!(run.json()["outcome"], "not-touched");
    let after = fs::symlink_metadata(path).ok();
    assert_eq!(
        before.map(|m| std::os::unix::fs::MetadataExt::ino(&m)),
        after.map(|m| std::os::unix::fs::MetadataExt::ino(&m)),
        "{} was touched",
        path.display()
    );
    json
}

#[test]
fn things_that_are_not_a_socket_are_foreign_and_untouched() {
    let env = TestEnv::new();
    let file = env.cm_dir.join("regular");
    fs::write(&file, "not a socket").unwrap();
    assert_foreign_and_untouched(&env, &file, "not-a-socket", "regular file");

    let dir = env.cm_dir.join("directory");
    fs::create_dir(&dir).unwrap();
    assert_foreign_and_untouched(&env, &dir, "not-a-socket", "directory");

    // A symlink, even to a live master's socket, is not followed.
    let master = env.start_master("alpha");
    let link = env.cm_dir.join("link");
    symlink(&master.path, &link).unwrap();
    assert_foreign_and_untouched(&env, &link, "symlink", "symlink");

    // A symlink to a stale socket: --fix removes neither the link nor its target.
    let stale = env.cm_dir.join("stale-target");
    make_stale_socket(&stale);
    let link = env.cm_dir.join("link-to-stale");
    symlink(&stale, &link).unwrap();
    assert_foreign_and_untouched(&env, &link, "symlink", "symlink");
    assert!(stale.exists());
}

#[test]
fn another_users_socket_is_foreign_and_untouched() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root to give a socket to another user");
        return;
    }
    let env = TestEnv::new();
    let path = env.cm_dir.join("theirs");
    make_stale_socket(&path);
    nix::unistd::chown(&path, Some(65534.into()), Some(65534.into())).unwrap();
    let json = assert_foreign_and_untouched(&env, &path, "other-owner", "not you");
    assert!(json["detail"].as_str().unwrap().contains("65534"));
}

#[test]
fn listeners_that_do_not_speak_the_protocol_are_foreign() {
    let env = TestEnv::new();
    for (name, behaviour, code, reason) in [
        ("garbage", Listener::Garbage, "not-mux", "mux protocol"),
        (
            "closes",
            Listener::CloseImmediately,
            "not-mux",
            "closed the connection",
        ),
        ("huge", Listener::HugeLength, "not-mux", "over the protocol"),
        ("wrong-hello", Listener::WrongHello, "not-mux", "version 99"),
        // Accepts and never answers: not ssh, so not a hung master either.
        ("silent", Listener::Silent, "not-ssh", "not ssh"),
    ] {
        let path = env.cm_dir.join(name);
        let _listener = spawn_listener(&path, behaviour);
        let json = assert_foreign_and_untouched(&env, &path, code, reason);
        assert_eq!(
            json["pid"],
            std::process::id(),
            "{name}: the listener's pid is ours"
        );
    }
}

#[test]
fn a_listener_that_never_answers_costs_only_the_timeout() {
    let env = TestEnv::new();
    let path = env.cm_dir.join("silent");
    let _listener = spawn_listener(&path, Listener::Silent);
    let run = muxguard(
        &env,
        &[
            "check",
            "--timeout",
            "300ms",
            "--path",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.elapsed >= Duration::from_millis(300),
        "it waited for an answer"
    );
    assert!(
        run.elapsed < Duration::from_millis(300 + 1000),
        "took {:?}",
        run.elapsed
    );
}

#[test]
fn bad_input_gets_one_clear_line_and_exit_2() {
    let env = TestEnv::new();
    let config = env.ssh_config.to_str().unwrap();
    let missing = env.root.join("no-such-config");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["check", "--", "-Q", "bogus"], "Unsupported query"),
        (
            vec!["check", "-F", missing.to_str().unwrap(), "alpha"],
            "no-such-config",
        ),
        (
            vec!["check", "--", "-F", config, "-o", "NoSuchOption=1", "alpha"],
            "NoSuchOption",
        ),
        (
            vec!["check", "--timeout", "soon", "--path", "/tmp/x"],
            "soon",
        ),
        (vec!["check"], "SSH_ARGS"),
        (
            vec!["status", "-F", missing.to_str().unwrap()],
            "no-such-config",
        ),
    ];
    for (args, expected) in cases {
        let run = muxguard(&env, &args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?} printed {}", run.stdout);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        assert!(run.stderr.starts_with("muxguard: ") || run.stderr.starts_with("error: "));
    }
    assert_eq!(
        fs::read_dir(&env.cm_dir).unwrap().count(),
        0,
        "nothing was created"
    );
}

#[test]
fn ssh_not_on_path_is_an_environment_error() {
    let env = TestEnv::new();
    let empty = env.root.join("empty-bin");
    fs::create_dir(&empty).unwrap();
    let mut command = env.muxguard();
    command.env("PATH", &empty).args(["check", "--", "alpha"]);
    let run = crate::common::cli::run(command);
    assert_eq!(run.code, 2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("ssh not found"), "{}", run.stderr);
}

#[test]
fn the_state_file_survives_checks_from_many_shells_at_once() {
    let env = TestEnv::new();
    let aliases = ["alpha", "beta", "gamma", "nomaster"];
    let children: Vec<_> = (0..12)
        .map(|i| {
            let mut command = env.muxguard();
            command
                .arg("check")
                .arg("--")
                .args(env.ssh_args(aliases[i % 4]));
            command.stdout(std::process::Stdio::null()).spawn().unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().code().is_some());
    }
    let state: serde_json::Value = serde_json::from_slice(
        &fs::read(env.state_dir.join("muxguard/state.json")).expect("state written"),
    )
    .unwrap();
    for alias in aliases {
        let path = env.control_path(alias);
        let entry = &state["sockets"][path.to_str().unwrap()];
        assert_eq!(entry["alias"], alias, "{state}");
    }
}
