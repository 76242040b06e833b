//! `muxguard status` against a real sshd and real masters, broken for real.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::cli::{check_json, entry_for, field_for, muxguard, status_json};
use crate::common::{Listener, TestEnv, make_stale_socket, spawn_listener};
use nix::sys::signal::Signal;

fn state_of(status: &serde_json::Value, path: &Path) -> String {
    field_for(status, path, "state")
}

#[test]
fn lists_each_state_with_its_master() {
    let env = TestEnv::new();
    let live = env.start_persist_master("alpha");
    let mut killed = env.start_master("beta");
    let stopped = env.start_master("gamma");
    killed.kill_and_reap();
    stopped.signal(Signal::SIGSTOP);

    let status = status_json(&env, &[]);
    assert_eq!(status["schema"], 1);
    let entry = entry_for(&status, &live.path).expect("live master listed");
    assert_eq!(entry["state"], "live");
    assert_eq!(entry["reason"], "listening");
    assert_eq!(entry["pid"], live.pid);
    assert!(entry["age_s"].as_u64().is_some());

    let entry = entry_for(&status, &killed.path).expect("stale socket listed");
    assert_eq!(entry["state"], "stale");
    assert_eq!(entry["reason"], "no-listener");
    assert_eq!(entry["pid"], serde_json::Value::Null);
    // beta's ControlPath is %r@%h:%p: the destination is read back from the name.
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::effective())
        .unwrap()
        .unwrap()
        .name;
    assert_eq!(
        entry["destination"],
        format!("{user}@127.0.0.1:{}", env.port)
    );

    let entry = entry_for(&status, &stopped.path).expect("hung master listed");
    assert_eq!(entry["state"], "hung");
    assert_eq!(entry["reason"], "master-stopped");
    assert_eq!(entry["pid"], stopped.pid);
    assert!(entry["detail"].as_str().unwrap().contains("stopped"));

    assert_eq!(status["sockets"].as_array().unwrap().len(), 3, "{status}");
    assert!(
        killed.path.exists() && stopped.path.exists(),
        "status changes nothing"
    );

    // The table: a header and one line per socket, states in the first column.
    let run = muxguard(&env, &["status", "-F", env.ssh_config.to_str().unwrap()]);
    assert_eq!(run.code, 0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    assert!(lines[0].starts_with("STATE"));
    for (master, state) in [(&live, "live"), (&killed, "stale"), (&stopped, "hung")] {
        let path = master.path.to_str().unwrap();
        assert!(
            lines
                .iter()
                .any(|line| line.starts_with(state) && line.contains(path)),
            "no {state} line for {path}: {}",
            run.stdout
        );
    }
    assert!(
        !run.stdout.contains('\x1b'),
        "no colour when not on a terminal"
    );
}

#[test]
fn hashed_names_get_their_destination_from_earlier_checks() {
    let env = TestEnv::new();
    let master = env.start_master("alpha");
    let before = status_json(&env, &[]);
    assert_eq!(
        entry_for(&before, &master.path).unwrap()["destination"],
        serde_json::Value::Null
    );
    assert_eq!(check_json(&env, &[], "alpha").code, 0);
    let after = status_json(&env, &[]);
    let entry = entry_for(&after, &master.path).unwrap();
    assert_eq!(entry["alias"], "alpha");
    assert!(
        entry["destination"]
            .as_str()
            .unwrap()
            .ends_with(&format!("@127.0.0.1:{}", env.port))
    );
}

#[test]
fn a_path_only_a_check_knew_is_listed() {
    let env = TestEnv::new();
    let elsewhere = env.root.join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let socket = elsewhere.join("by-hand");
    let option = format!("ControlPath={}", socket.display());
    let mut args: Vec<String> = vec!["check".into(), "--".into(), "-o".into(), option];
    args.extend(env.ssh_args("alpha"));
    assert_eq!(muxguard(&env, &args).code, 0);
    make_stale_socket(&socket);
    let status = status_json(&env, &[]);
    assert_eq!(state_of(&status, &socket), "stale");
    assert_eq!(entry_for(&status, &socket).unwrap()["alias"], "alpha");
}

#[test]
fn orphans_are_masters_whose_socket_was_deleted_or_replaced() {
    let env = TestEnv::new();
    let first = env.start_master("alpha");
    fs::remove_file(&first.path).unwrap();
    let status = status_json(&env, &[]);
    let entry = entry_for(&status, &first.path).expect("orphan listed");
    assert_eq!(entry["state"], "orphan");
    assert_eq!(entry["reason"], "socket-deleted");
    assert_eq!(entry["pid"], first.pid);
    assert!(entry["detail"].as_str().unwrap().contains("deleted"));

    // A new master at the same path: the new one is live, the old one still an orphan.
    let second = env.start_master("alpha");
    let status = status_json(&env, &[]);
    let entries: Vec<&serde_json::Value> = status["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|socket| socket["path"] == first.path.to_str().unwrap())
        .collect();
    assert_eq!(entries.len(), 2, "{status}");
    let live = entries
        .iter()
        .find(|e| e["state"] == "live")
        .expect("new master live");
    assert_eq!(live["pid"], second.pid);
    let orphan = entries
        .iter()
        .find(|e| e["state"] == "orphan")
        .expect("old one orphan");
    assert_eq!(orphan["pid"], first.pid);
    assert_eq!(orphan["reason"], "socket-replaced");
    assert!(orphan["detail"].as_str().unwrap().contains("replaced"));
}

#[test]
fn foreign_things_are_reported_never_touched() {
    let env = TestEnv::new();
    let extra = env.root.join("extra");
    fs::create_dir(&extra).unwrap();
    let garbage = extra.join("garbage");
    let _listener = spawn_listener(&garbage, Listener::Garbage);
    // A regular file whose name fits a specific template (gamma-%C) in the ControlPath dir.
    let imposter = env.cm_dir.join(format!("gamma-{}", "a".repeat(40)));
    fs::write(&imposter, "x").unwrap();
    let unrelated = env.cm_dir.join("notes.txt");
    fs::write(&unrelated, "x").unwrap();

    let status = status_json(&env, &["--dir", extra.to_str().unwrap()]);
    let entry = entry_for(&status, &garbage).expect("listener in --dir listed");
    assert_eq!(entry["state"], "foreign");
    assert_eq!(entry["pid"], std::process::id());
    assert_eq!(state_of(&status, &imposter), "foreign");
    assert!(
        entry_for(&status, &unrelated).is_none(),
        "ordinary files are not listed"
    );
    assert!(imposter.exists() && garbage.exists());

    if nix::unistd::Uid::effective().is_root() {
        let theirs = extra.join("theirs");
        make_stale_socket(&theirs);
        nix::unistd::chown(&theirs, Some(65534.into()), Some(65534.into())).unwrap();
        let status = status_json(&env, &["--dir", extra.to_str().unwrap()]);
        assert_eq!(state_of(&status, &theirs), "foreign");
        assert!(theirs.exists());
    }
}

#[test]
fn ansible_control_sockets_are_found() {
    let env = TestEnv::new();
    let ansible = env.home.join(".ansible/cp");
    fs::create_dir_all(&ansible).unwrap();
    let socket = ansible.join("a1b2c3d4e5");
    make_stale_socket(&socket);
    let status = status_json(&env, &[]);
    assert_eq!(state_of(&status, &socket), "stale");
}

#[test]
fn a_master_being_born_is_left_out() {
    let env = TestEnv::new();
    let control_path = env.control_path("alpha");
    let young = Path::new(&format!("{}.AbCdEfGhIjKlMnOp", control_path.display())).to_path_buf();
    make_stale_socket(&young);
    let listening = env
        .cm_dir
        .join(format!("{}.QrStUvWxYz012345", "b".repeat(40)));
    let _listener = spawn_listener(&listening, Listener::Silent);
    let status = status_json(&env, &[]);
    assert!(entry_for(&status, &young).is_none(), "{status}");
    assert!(entry_for(&status, &listening).is_none(), "{status}");
    assert!(young.exists());
}

#[test]
fn nothing_found_is_said_plainly() {
    let env = TestEnv::new();
    let run = muxguard(&env, &["status", "-F", env.ssh_config.to_str().unwrap()]);
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout, "No control sockets found.\n");
    assert_eq!(status_json(&env, &[])["sockets"], serde_json::json!([]));
}

/// A mistyped --dir would look like a directory with no sockets: it is an error, for every
/// command that searches.
#[test]
fn a_dir_that_is_not_a_directory_is_a_usage_error() {
    let env = TestEnv::new();
    let missing = env.root.join("no-such-dir");
    let file = env.ssh_config.to_str().unwrap();
    for (command, dir, says) in [
        ("status", missing.to_str().unwrap(), "no such directory"),
        ("clean", missing.to_str().unwrap(), "no such directory"),
        ("status", file, "not a directory"),
    ] {
        let run = muxguard(&env, &[command, "--dir", dir]);
        assert_eq!(run.code, 2, "{command} --dir {dir}: {}", run.stderr);
        assert!(
            run.stderr.lines().next().unwrap_or_default().contains(says),
            "{}",
            run.stderr
        );
        assert!(run.stdout.is_empty());
    }
    let run = muxguard(
        &env,
        &["reset", "--all", "--dir", missing.to_str().unwrap()],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn include_directives_are_followed() {
    let env = TestEnv::new();
    let included_dir = env.root.join("included");
    fs::create_dir(&included_dir).unwrap();
    let conf_d = env.root.join("conf.d");
    fs::create_dir(&conf_d).unwrap();
    fs::write(
        conf_d.join("work.conf"),
        format!(
            "Host work\n  ControlPath {}/work-%C\n",
            included_dir.display()
        ),
    )
    .unwrap();
    let config = env.root.join("main_config");
    fs::write(&config, format!("Include {}/*.conf\n", conf_d.display())).unwrap();
    let socket = included_dir.join(format!("work-{}", "c".repeat(40)));
    make_stale_socket(&socket);
    let run = muxguard(&env, &["status", "--json", "-F", config.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(state_of(&run.json(), &socket), "stale");
}

/// A connection to a master restarts its ControlPersist countdown, so a status that connected
/// would keep idle masters alive for ever when a prompt calls it often.
#[test]
fn status_never_keeps_an_idle_master_alive() {
    let env = TestEnv::new();
    let mut command = Command::new("ssh");
    command
        .args([
            "-F",
            env.ssh_config.to_str().unwrap(),
            "-o",
            "ControlPersist=2",
            "alpha",
            "true",
        ])
        .stdin(Stdio::null());
    assert!(command.status().unwrap().success());
    let path = env.control_path("alpha");
    let pid = check_json(&env, &[], "alpha").json()["pid"]
        .as_i64()
        .unwrap() as i32;
    env.track_pid(pid);

    let started = Instant::now();
    let mut saw_live = false;
    while path.exists() && started.elapsed() < Duration::from_secs(6) {
        let status = status_json(&env, &[]);
        if let Some(entry) = entry_for(&status, &path) {
            saw_live |= entry["state"] == "live";
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(saw_live, "the master was seen live");
    assert!(
        !path.exists(),
        "the idle master should have expired after 2 s, status kept it alive"
    );
}

/// Colour on a terminal (a pty made by script(1)), none with NO_COLOR, none in a pipe.
#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let env = TestEnv::new();
    make_stale_socket(&env.cm_dir.join("f".repeat(40)));
    let on_terminal = |no_color: Option<&str>| {
        let command = format!(
            "{} status -F {}",
            env!("CARGO_BIN_EXE_muxguard"),
            env.ssh_config.display()
        );
        let mut script = Command::new("script");
        script
            .args(["-qec", &command, "/dev/null"])
            .env("HOME", &env.home)
            .env("XDG_STATE_HOME", &env.state_dir)
            .env("MUXGUARD_TEST_SCOPE", &env.root)
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        if let Some(value) = no_color {
            script.env("NO_COLOR", value);
        }
        let output = script.output().expect("script(1) runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let coloured = on_terminal(None);
    assert!(coloured.contains("\x1b[33mstale"), "{coloured:?}");
    let plain = on_terminal(Some("1"));
    assert!(
        plain.contains("stale") && !plain.contains('\x1b'),
        "{plain:?}"
    );
}

/// Whatever the sockets do, status answers at once: it never waits on a listener.
#[test]
fn status_never_waits_on_a_listener() {
    let env = TestEnv::new();
    let stopped = env.start_master("alpha");
    stopped.signal(Signal::SIGSTOP);
    let extra = env.root.join("extra");
    fs::create_dir(&extra).unwrap();
    let _silent = spawn_listener(&extra.join("silent"), Listener::Silent);
    let run = muxguard(
        &env,
        &[
            "status",
            "--timeout",
            "5s",
            "-F",
            env.ssh_config.to_str().unwrap(),
            "--dir",
            extra.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.elapsed < Duration::from_secs(2),
        "took {:?}",
        run.elapsed
    );
    assert!(run.stdout.contains("hung"), "{}", run.stdout);
}
