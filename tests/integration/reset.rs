//! `muxguard reset` against real masters: it ends a master so that the next ssh builds a fresh
//! one, gently by default, at once with --kill, and always by process.

use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::cli::muxguard;
use crate::common::{Listener, TestEnv, is_running, make_stale_socket, spawn_listener, wait_until};
use nix::sys::signal::Signal;

fn reset(env: &TestEnv, extra: &[&str], alias: &str) -> crate::common::cli::Run {
    let mut args: Vec<String> = vec!["reset".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push("--".into());
    args.extend(env.ssh_args(alias));
    muxguard(env, &args)
}

/// A session through the master that lasts a second and says when it finished.
fn long_session(env: &TestEnv, alias: &str) -> std::process::Child {
    let child = Command::new("ssh")
        .arg("-F")
        .arg(&env.ssh_config)
        .args([alias, "sleep 1; echo finished"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    env.track_pid(child.id() as i32);
    wait_until("the session to start", Duration::from_secs(5), || {
        env.server_pids().len() >= 2
    });
    child
}

#[test]
fn by_default_the_socket_goes_and_open_sessions_run_to_their_end() {
    let env = TestEnv::new();
    let master = env.start_persist_master("alpha");
    let session = long_session(&env, "alpha");

    let run = reset(&env, &[], "alpha");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("stopped listening"), "{}", run.stdout);
    assert!(!master.path.exists(), "the socket goes at once");
    assert!(is_running(master.pid), "the master serves its open session");

    let output = session.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(output.stdout, b"finished\n");
    wait_until(
        "the master to exit after its last session",
        Duration::from_secs(5),
        || !is_running(master.pid),
    );
    // The next ssh builds a fresh master.
    let fresh = env.start_persist_master("alpha");
    assert_ne!(fresh.pid, master.pid);
}

#[test]
fn kill_ends_the_master_and_its_sessions_now() {
    let env = TestEnv::new();
    let master = env.start_persist_master("alpha");
    let session = long_session(&env, "alpha");
    let run = reset(&env, &["--kill"], "alpha");
    assert_eq!(run.code, 0, "{}", run.stderr);
    wait_until("the master to exit", Duration::from_secs(2), || {
        !is_running(master.pid)
    });
    assert!(!master.path.exists());
    let output = session.wait_with_output().unwrap();
    assert_ne!(
        output.stdout, b"finished\n",
        "the session ended with its master"
    );
}

#[test]
fn a_hung_master_is_killed_within_the_timeout_plus_a_second() {
    let env = TestEnv::new();
    let master = env.start_persist_master("alpha");
    master.signal(Signal::SIGSTOP);
    let run = reset(&env, &["--timeout", "1s"], "alpha");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.elapsed < Duration::from_secs(2),
        "took {:?}",
        run.elapsed
    );
    wait_until("the master to die", Duration::from_secs(2), || {
        !is_running(master.pid)
    });
    assert!(!master.path.exists());
}

#[test]
fn reset_all_ends_every_master_and_kills_orphans_without_unlinking_their_path() {
    let env = TestEnv::new();
    let orphan = env.start_master("alpha");
    fs::remove_file(&orphan.path).unwrap();
    // Something now at the orphan's path: any clean exit of the orphan would unlink it by name.
    // A stale socket stands in for a newer master's (reset --all leaves stale sockets alone).
    make_stale_socket(&orphan.path);
    let inode = || std::os::unix::fs::MetadataExt::ino(&fs::metadata(&orphan.path).unwrap());
    let placed = inode();
    let live = env.start_persist_master("beta");
    let hung = env.start_master("gamma");
    hung.signal(Signal::SIGSTOP);

    let run = muxguard(
        &env,
        &["reset", "--all", "-F", env.ssh_config.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("killed orphan master"),
        "{}",
        run.stdout
    );
    wait_until("every master to go", Duration::from_secs(3), || {
        !is_running(orphan.pid) && !is_running(live.pid) && !is_running(hung.pid)
    });
    assert_eq!(
        inode(),
        placed,
        "the file at the orphan's path is untouched"
    );
    assert!(!live.path.exists() && !hung.path.exists());
}

/// Every master of the user's is found from the kernel's table, whatever the config names: an
/// orphan whose ControlPath no config knows is ended too.
#[test]
fn reset_all_finds_every_master_of_yours_whatever_the_config() {
    let env = TestEnv::new();
    let elsewhere = env.start_master("alpha");
    let nowhere = env.root.join("empty_config");
    fs::write(&nowhere, "").unwrap();
    fs::remove_file(&elsewhere.path).unwrap();
    let run = muxguard(&env, &["reset", "--all", "-F", nowhere.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("killed orphan master"),
        "{}",
        run.stdout
    );
    wait_until("the orphan to go", Duration::from_secs(3), || {
        !is_running(elsewhere.pid)
    });
}

#[test]
fn what_is_not_a_master() {
    let env = TestEnv::new();
    // Nothing there, or sharing off: nothing to do.
    let run = reset(&env, &[], "alpha");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("no master"), "{}", run.stdout);
    let run = reset(&env, &[], "nomux");
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("sharing is off"), "{}", run.stdout);

    // A stale socket is removed.
    let stale = env.control_path("beta");
    make_stale_socket(&stale);
    let run = reset(&env, &[], "beta");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!stale.exists());

    // Something foreign is refused and left alone.
    let foreign = env.cm_dir.join("garbage");
    let _listener = spawn_listener(&foreign, Listener::Garbage);
    let run = muxguard(&env, &["reset", "--path", foreign.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("not touched"), "{}", run.stderr);
    assert!(foreign.exists());

    // Usage errors.
    let run = muxguard(&env, &["reset"]);
    assert_eq!(run.code, 2);
    let run = muxguard(&env, &["reset", "--all", "--path", "/tmp/x"]);
    assert_eq!(run.code, 2);
    let mut command = env.muxguard();
    command.args(["reset", "--", "-Q", "bogus"]);
    let run = crate::common::cli::run(command);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("Unsupported query"), "{}", run.stderr);
}
