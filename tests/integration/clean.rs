//! `muxguard clean` against a real sshd: it removes stale sockets and, with --probe, ends hung
//! and unreachable masters, and never harms a live master or anything not the user's own.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::cli::{entry_for, field_for, muxguard, status_json};
use crate::common::{Listener, TestEnv, is_running, make_stale_socket, spawn_listener};
use nix::sys::signal::Signal;
use serde_json::Value;

fn clean_json(env: &TestEnv, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["clean", "--json", "-F", env.ssh_config.to_str().unwrap()];
    args.extend_from_slice(extra);
    let run = muxguard(env, &args);
    (run.code, run.json())
}

fn action_for(json: &Value, path: &Path) -> String {
    field_for(json, path, "action")
}

#[test]
fn removes_stale_sockets_and_keeps_everything_else() {
    let env = TestEnv::new();
    let live = env.start_persist_master("alpha");
    let mut killed = env.start_master("beta");
    killed.kill_and_reap();
    let stopped = env.start_master("gamma");
    stopped.signal(Signal::SIGSTOP);
    let orphan = env.start_master("nomaster");
    fs::remove_file(&orphan.path).unwrap();

    // --dry-run says and changes nothing.
    let (code, json) = clean_json(&env, &["--dry-run"]);
    assert_eq!(code, 0);
    assert_eq!(action_for(&json, &killed.path), "would-remove");
    // Nothing was done, so nothing came of it.
    assert!(
        entry_for(&json, &killed.path)
            .unwrap()
            .get("outcome")
            .is_none()
    );
    assert_eq!(
        action_for(&json, &stopped.path),
        "kept",
        "hung masters need --probe"
    );
    assert!(killed.path.exists());

    let (code, json) = clean_json(&env, &[]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["schema"], 1);
    assert_eq!(action_for(&json, &killed.path), "removed");
    assert_eq!(field_for(&json, &killed.path, "outcome"), "removed");
    assert_eq!(action_for(&json, &live.path), "kept");
    assert_eq!(action_for(&json, &stopped.path), "kept");
    assert_eq!(action_for(&json, &orphan.path), "kept");
    assert!(!killed.path.exists());
    assert!(live.path.exists() && is_running(live.pid));
    assert!(stopped.path.exists() && is_running(stopped.pid));
    assert!(is_running(orphan.pid), "orphans are left to reset --all");
    assert_eq!(env.ssh("alpha", &["echo", "fine"]).stdout, b"fine\n");

    // The human report: one line per socket acted on or master kept, then the counts.
    make_stale_socket(&killed.path);
    let run = muxguard(&env, &["clean", "-F", env.ssh_config.to_str().unwrap()]);
    assert_eq!(run.code, 0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("removed  stale") && l.contains(killed.path.to_str().unwrap())),
        "{}",
        run.stdout
    );
    assert!(
        lines.iter().any(|l| l.contains("use --probe")),
        "{}",
        run.stdout
    );
    assert!(
        lines.iter().any(|l| l.contains("reset --all")),
        "{}",
        run.stdout
    );
    // Every master kept is named, with why.
    assert!(
        lines.iter().any(
            |l| l.starts_with("kept (live: clean never touches it)  live")
                && l.contains(live.path.to_str().unwrap())
        ),
        "{}",
        run.stdout
    );
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("removed 1 stale socket(s), reset 0 master(s)"),
        "{}",
        run.stdout
    );

    // -q: silent.
    make_stale_socket(&killed.path);
    let run = muxguard(
        &env,
        &["clean", "-q", "-F", env.ssh_config.to_str().unwrap()],
    );
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout, "");
    assert!(!killed.path.exists());
}

#[test]
fn probe_ends_hung_and_unreachable_masters() {
    let env = TestEnv::new();
    let dead_link = TestEnv::new();
    let stopped = env.start_master("gamma");
    stopped.signal(Signal::SIGSTOP);
    let live = env.start_persist_master("alpha");
    let unreachable = dead_link.start_persist_master("beta");
    dead_link.signal_server_side(Signal::SIGSTOP);

    let dir = dead_link.cm_dir.to_str().unwrap();
    let (code, json) = clean_json(
        &env,
        &["--probe", "--dry-run", "--timeout", "1s", "--dir", dir],
    );
    assert_eq!(code, 0);
    assert_eq!(action_for(&json, &stopped.path), "would-reset");
    assert_eq!(action_for(&json, &unreachable.path), "would-reset");
    assert_eq!(action_for(&json, &live.path), "kept");
    assert!(is_running(stopped.pid) && is_running(unreachable.pid));

    let (code, json) = clean_json(&env, &["--probe", "--timeout", "1s", "--dir", dir]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(action_for(&json, &stopped.path), "reset");
    assert_eq!(action_for(&json, &unreachable.path), "reset");
    // A stopped master goes at SIGTERM (with SIGCONT). One whose server is frozen may not
    // finish exiting in the moment left after the probe took the whole timeout: then SIGKILL.
    assert_eq!(field_for(&json, &stopped.path, "outcome"), "ended");
    let unreachable_outcome = field_for(&json, &unreachable.path, "outcome");
    assert!(
        ["ended", "killed"].contains(&unreachable_outcome.as_str()),
        "{unreachable_outcome}"
    );
    assert_eq!(action_for(&json, &live.path), "kept");
    crate::common::wait_until("both masters to be gone", Duration::from_secs(3), || {
        !is_running(stopped.pid) && !is_running(unreachable.pid)
    });
    assert!(!stopped.path.exists() && !unreachable.path.exists());
    assert!(is_running(live.pid) && live.path.exists());
}

#[test]
fn never_removes_what_is_not_a_stale_socket_of_ones_own() {
    let env = TestEnv::new();
    let extra = env.root.join("extra");
    fs::create_dir(&extra).unwrap();
    // A symlink to a stale socket, and the stale socket it points to outside every search.
    let outside = env.root.join("outside");
    fs::create_dir(&outside).unwrap();
    let target = outside.join("target");
    make_stale_socket(&target);
    let link = env.cm_dir.join(format!("gamma-{}", "1".repeat(40)));
    symlink(&target, &link).unwrap();
    // A regular file and a directory with control-socket names.
    let file = env.cm_dir.join(format!("gamma-{}", "2".repeat(40)));
    fs::write(&file, "x").unwrap();
    let dir = env.cm_dir.join(format!("gamma-{}", "3".repeat(40)));
    fs::create_dir(&dir).unwrap();
    // A listener that does not speak the protocol.
    let garbage = extra.join("garbage");
    let _listener = spawn_listener(&garbage, Listener::Garbage);
    // A master being born: its temporary name, young.
    let young = env
        .cm_dir
        .join(format!("{}.AbCdEfGhIjKlMnOp", "4".repeat(40)));
    make_stale_socket(&young);
    // Another user's stale socket.
    let theirs = extra.join("theirs");
    make_stale_socket(&theirs);
    let root = nix::unistd::Uid::effective().is_root();
    if root {
        nix::unistd::chown(&theirs, Some(65534.into()), Some(65534.into())).unwrap();
    }

    let (code, _) = clean_json(&env, &["--probe", "--dir", extra.to_str().unwrap()]);
    assert_eq!(code, 0);
    for path in [&target, &link, &file, &dir, &garbage, &young] {
        assert!(
            fs::symlink_metadata(path).is_ok(),
            "{} was removed",
            path.display()
        );
    }
    if root {
        assert!(theirs.exists(), "another user's socket was removed");
    }
}

/// A connection to a master restarts its ControlPersist countdown: a clean at every prompt
/// must not keep idle masters alive.
#[test]
fn an_idle_master_expires_on_time_while_clean_runs_every_half_second() {
    let env = TestEnv::new();
    let status = Command::new("ssh")
        .args([
            "-F",
            env.ssh_config.to_str().unwrap(),
            "-o",
            "ControlPersist=2",
            "alpha",
            "true",
        ])
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let created = Instant::now();
    let path = env.control_path("alpha");
    let pid = entry_for(&status_json(&env, &[]), &path).unwrap()["pid"]
        .as_i64()
        .unwrap() as i32;
    env.track_pid(pid);
    while path.exists() && created.elapsed() < Duration::from_secs(8) {
        let run = muxguard(
            &env,
            &["clean", "-q", "-F", env.ssh_config.to_str().unwrap()],
        );
        assert_eq!(run.code, 0);
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        !path.exists(),
        "the master was kept alive past its ControlPersist"
    );
    assert!(
        created.elapsed() < Duration::from_secs(4),
        "expired late: {:?}",
        created.elapsed()
    );
    crate::common::wait_until("the master to exit", Duration::from_secs(2), || {
        !is_running(pid)
    });
}

/// Short-lived masters come and go while several cleans run in tight loops: every ssh works,
/// and a long-lived master's socket is never touched.
///
/// One failure is OpenSSH's own, and happens with no clean running at all (with 8.9 in 18 of 20
/// runs whose sessions were slow, never with 9.2 or 10.5): a client that reaches a master just as its
/// ControlPersist runs out has its hello cut off, and OpenSSH 8.9, which ignores SIGPIPE only
/// after that exchange, dies of the signal without a word. Such a run is counted and tried
/// again; anything else fails the test.
#[test]
fn stress_clean_beside_masters_being_made_and_used() {
    let env = TestEnv::new();
    let sentinel = env.start_master("gamma");
    let sentinel_inode =
        std::os::unix::fs::MetadataExt::ino(&fs::metadata(&sentinel.path).unwrap());
    let stop = Arc::new(AtomicBool::new(false));

    let cleaners: Vec<Child> = (0..3)
        .map(|_| {
            let script = format!(
                "while [ ! -e '{stop}' ]; do '{bin}' clean -q -F '{config}' || exit 1; done",
                stop = env.root.join("stop").display(),
                bin = env!("CARGO_BIN_EXE_muxguard"),
                config = env.ssh_config.display(),
            );
            let mut shell = Command::new("sh");
            shell.arg("-c").arg(script);
            env.isolate(&mut shell);
            shell.spawn().unwrap()
        })
        .collect();

    let started = Instant::now();
    let users: Vec<_> = ["alpha", "beta"]
        .into_iter()
        .map(|alias| {
            let config = env.ssh_config.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let (mut runs, mut cut_off_by_expiry) = (0, 0);
                while !stop.load(Ordering::SeqCst) {
                    let output = Command::new("ssh")
                        .args([
                            "-F",
                            config.to_str().unwrap(),
                            "-o",
                            "ControlPersist=1",
                            alias,
                            "echo",
                            "ok",
                        ])
                        .stdin(Stdio::null())
                        .output()
                        .unwrap();
                    if died_at_a_masters_expiry(&output) {
                        cut_off_by_expiry += 1;
                        continue;
                    }
                    assert!(
                        output.status.success(),
                        "ssh {alias} failed, not OpenSSH's race at ControlPersist expiry \
                         ({}): stdout {:?}, stderr {:?}",
                        output.status,
                        String::from_utf8_lossy(&output.stdout),
                        String::from_utf8_lossy(&output.stderr)
                    );
                    assert_eq!(output.stdout, b"ok\n");
                    runs += 1;
                }
                (runs, cut_off_by_expiry)
            })
        })
        .collect();
    while started.elapsed() < Duration::from_secs(6) {
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::SeqCst);
    let (runs, cut_off): (Vec<usize>, Vec<usize>) = users
        .into_iter()
        .map(|user| user.join().expect("every ssh succeeded"))
        .unzip();
    println!("runs {runs:?}, cut off by OpenSSH's race at expiry {cut_off:?}");
    fs::write(env.root.join("stop"), "").unwrap();
    for mut cleaner in cleaners {
        assert!(cleaner.wait().unwrap().success(), "a clean failed");
    }
    assert!(runs.iter().all(|&n| n >= 3), "the loops ran: {runs:?}");

    // The sentinel is untouched, and no master was orphaned by a removed live socket.
    let inode = std::os::unix::fs::MetadataExt::ino(&fs::metadata(&sentinel.path).unwrap());
    assert_eq!(inode, sentinel_inode);
    assert!(is_running(sentinel.pid));
    assert_eq!(
        env.ssh("gamma", &["echo", "sentinel"]).stdout,
        b"sentinel\n"
    );
    let status = status_json(&env, &[]);
    let orphans = crate::common::cli::in_state(&status, "orphan");
    assert!(orphans.is_empty(), "orphans: {orphans:?}");
}

/// OpenSSH 8.9's mux client killed by SIGPIPE before it said anything: a master that closed
/// the connection during the hello (see the test above). Later versions ignore the signal
/// first and fall back to a connection of their own.
fn died_at_a_masters_expiry(output: &std::process::Output) -> bool {
    use std::os::unix::process::ExitStatusExt;
    output.status.signal() == Some(Signal::SIGPIPE as i32)
        && output.stdout.is_empty()
        && output.stderr.is_empty()
}
