//! Masters whose ControlPath was given on ssh's command line (Emacs TRAMP, git-annex, scripts),
//! in directories no config names: found from the kernel's table of listeners, classified,
//! probed, cleaned and reset like any other, and remembered once gone.

use std::fs;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::cli::{acting_json, entry_for, in_state, listed, muxguard, status_json};
use crate::common::{TestEnv, is_running, output_within, wait_until};
use nix::sys::signal::Signal;
use serde_json::Value;

/// A ControlPersist master for `alias` with these options before it (a ControlPath of its own),
/// as TRAMP and git-annex start them.
fn master_with(env: &TestEnv, options: &[String], alias: &str) {
    let mut command = env.ssh_command();
    command
        .args(options)
        .args(["-o", "ControlPersist=60", alias, "true"]);
    let made = output_within(&mut command, Duration::from_secs(15));
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
}

/// The single socket in `dir` (the master's ControlPath, once it linked it).
fn socket_in(dir: &Path) -> PathBuf {
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    names.pop().unwrap()
}

#[test]
fn masters_with_a_control_path_of_their_own_are_found_and_dealt_with() {
    let env = TestEnv::new();
    let tramp = env.root.join("tramp");
    let annex = env.root.join("repo/.git/annex/ssh");
    let runtime = env.root.join("run");
    for dir in [&tramp, &annex, &runtime] {
        fs::create_dir_all(dir).unwrap();
    }
    let path_option = |path: String| vec!["-o".to_string(), format!("ControlPath={path}")];
    master_with(
        &env,
        &path_option(format!("{}/tramp.%C", tramp.display())),
        "alpha",
    );
    master_with(
        &env,
        &[
            "-S".to_string(),
            annex.join("127.0.0.1").display().to_string(),
        ],
        "beta",
    );
    // ssh expands the variable itself.
    let mut in_runtime = env.ssh_command();
    in_runtime
        .env("XDG_RUNTIME_DIR", &runtime)
        .args([
            "-o",
            "ControlPath=${XDG_RUNTIME_DIR}/ssh-%C",
            "-o",
            "ControlPersist=60",
        ])
        .args(["gamma", "true"]);
    assert!(
        output_within(&mut in_runtime, Duration::from_secs(15))
            .status
            .success()
    );
    let sockets = [socket_in(&tramp), socket_in(&annex), socket_in(&runtime)];

    // A listener of a process that is not ssh, named as a master names its socket: not listed.
    let bound = tramp.join("impostor.AbCdEfGhIjKlMnOp");
    let _impostor = UnixListener::bind(&bound).unwrap();
    fs::hard_link(&bound, tramp.join("impostor")).unwrap();

    let status = status_json(&env, &[]);
    let mut pids = Vec::new();
    for socket in &sockets {
        let found = listed(&status, socket);
        assert_eq!(found["state"], "live", "{found}");
        assert_eq!(found["found"], "process", "{found}");
        let pid = found["pid"].as_i64().expect("its master's pid") as i32;
        env.track_pid(pid);
        pids.push(pid);
    }
    assert!(
        entry_for(&status, &tramp.join("impostor")).is_none(),
        "{status}"
    );
    assert!(entry_for(&status, &bound).is_none(), "{status}");

    // Hung: clean --probe ends it and removes its socket.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pids[0]), Signal::SIGSTOP).unwrap();
    let run = muxguard(&env, &["clean", "--probe", "--json", "--timeout", "1s"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let cleaned = listed(&run.json(), &sockets[0]).clone();
    assert_eq!(cleaned["state"], "hung", "{cleaned}");
    assert_eq!(cleaned["action"], "reset", "{cleaned}");
    wait_until("the hung master to go", Duration::from_secs(3), || {
        !is_running(pids[0])
    });
    assert!(!sockets[0].exists());

    // Killed: its socket is left behind, with no listener to show it; remembered, it is found
    // and removed by a plain clean.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pids[1]), Signal::SIGKILL).unwrap();
    wait_until("the killed master to go", Duration::from_secs(3), || {
        !is_running(pids[1])
    });
    let stale = listed(&status_json(&env, &[]), &sockets[1]).clone();
    assert_eq!(stale["state"], "stale", "{stale}");
    assert_eq!(stale["found"], "process", "{stale}");
    let run = muxguard(&env, &["clean", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(listed(&run.json(), &sockets[1])["action"], "removed");
    assert!(!sockets[1].exists());

    // reset --all ends the last one.
    let run = muxguard(&env, &["reset", "--all"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    wait_until("the last master to go", Duration::from_secs(3), || {
        !is_running(pids[2])
    });
    assert!(!sockets[2].exists());

    // Gone, their paths are forgotten when the next master found this way is remembered.
    let later = env.root.join("later");
    fs::create_dir(&later).unwrap();
    let again_path = format!("{}/again.%C", later.display());
    master_with(&env, &path_option(again_path), "alpha");
    let again = socket_in(&later);
    let status = status_json(&env, &[]);
    env.track_pid(listed(&status, &again)["pid"].as_i64().unwrap() as i32);
    let state: Value =
        serde_json::from_slice(&fs::read(env.state_dir.join("muxguard/state.json")).unwrap())
            .unwrap();
    let remembered = &state["sockets"];
    assert_eq!(
        remembered[again.to_str().unwrap()]["by_process"],
        true,
        "{state}"
    );
    for socket in &sockets {
        let key = socket.to_str().unwrap();
        assert!(
            remembered.get(key).is_none(),
            "{key} is still remembered: {state}"
        );
    }
}

/// Emacs TRAMP's default `-o ControlPath=tramp.%C` is relative: ssh binds it in its working
/// directory. Read from anywhere else the bare name leads nowhere, and the live master passed
/// for an orphan that `reset --all` killed, leaving its socket behind. Resolved against the
/// master's working directory, it is a live master like any other, wherever muxguard runs.
#[test]
fn a_relative_control_path_is_read_where_its_master_works() {
    let env = TestEnv::new();
    let workdir = env.root.join("where-tramp-ran");
    fs::create_dir_all(&workdir).unwrap();
    let mut command = env.ssh_command();
    command
        .current_dir(&workdir)
        .args(["-o", "ControlPath=tramp.%C", "-o", "ControlPersist=60"])
        .args(["alpha", "true"]);
    let made = output_within(&mut command, Duration::from_secs(15));
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let socket = socket_in(&workdir);

    // Run from the test's directory, not the master's.
    assert_ne!(std::env::current_dir().unwrap(), workdir);
    let status = status_json(&env, &[]);
    let entry = listed(&status, &socket);
    assert_eq!(entry["state"], "live", "{entry}");
    let pid = entry["pid"].as_i64().unwrap() as i32;
    env.track_pid(pid);
    let orphans = in_state(&status, "orphan");
    assert!(orphans.is_empty(), "{orphans:?}");

    let reset = acting_json(&env, "reset", &["--all"]);
    let entry = listed(&reset, &socket);
    assert_eq!(entry["state"], "live", "{entry}");
    assert_ne!(entry["outcome"], "killed", "{entry}");
    wait_until("the master to exit", Duration::from_secs(5), || {
        !is_running(pid)
    });
    assert!(!socket.exists(), "its socket went with it");

    // Stopped, it is hung, and `clean --probe` ends it, as it would any other.
    let made = output_within(&mut command, Duration::from_secs(15));
    assert!(made.status.success());
    let socket = socket_in(&workdir);
    let entry = status_json(&env, &[]);
    let pid = listed(&entry, &socket)["pid"].as_i64().unwrap() as i32;
    env.track_pid(pid);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGSTOP).unwrap();
    let cleaned = acting_json(&env, "clean", &["--probe"]);
    let entry = listed(&cleaned, &socket);
    assert_eq!(
        (&entry["state"], &entry["action"]),
        (&"hung".into(), &"reset".into()),
        "{entry}"
    );
    wait_until("the stopped master to end", Duration::from_secs(5), || {
        !is_running(pid)
    });
}
