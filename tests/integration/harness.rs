//! The harness itself, checked with real OpenSSH only: if these fail, every other integration
//! test means nothing.

use std::io::{ErrorKind, Read};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::common::openssh::openssh;
use crate::common::{
    Listener, TestEnv, first_bytes, is_running, make_stale_socket, output_within, parent_of,
    spawn_listener, wait_until,
};

/// `ssh -O check` straight at a socket: (success, stderr).
fn ssh_check(path: &Path) -> (bool, String) {
    let output = output_within(
        Command::new("ssh")
            .arg("-S")
            .arg(path)
            .args(["-O", "check", "x"]),
        Duration::from_secs(5),
    );
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

fn logins(env: &TestEnv) -> usize {
    env.sshd_log().matches("Accepted publickey").count()
}

/// The OpenSSH under test is what runs, whether a test starts ssh itself or muxguard hands
/// over to it (`make test-openssh` puts a build of its own first on PATH).
#[test]
fn the_openssh_under_test_is_the_one_that_runs() {
    let env = TestEnv::new();
    let name = |output: std::process::Output| {
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        stderr
            .split([',', ' '])
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let by_name = output_within(Command::new("ssh").arg("-V"), Duration::from_secs(5));
    assert_eq!(name(by_name), openssh().name);
    let through_muxguard =
        output_within(env.muxguard().args(["ssh", "-V"]), Duration::from_secs(5));
    assert_eq!(name(through_muxguard), openssh().name);
}

/// The server's sessions run in a home of the harness's own, so that whatever the user's rc
/// files do (a slow `pyenv init` in ~/.bashrc) never runs in a test's session.
#[test]
fn sessions_run_in_a_home_of_their_own() {
    let env = TestEnv::new();
    let output = env.ssh("alpha", &["echo", "$HOME"]);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim_end(),
        env.root.join("sshd/home").to_str().unwrap()
    );
}

#[test]
fn a_foreground_master_answers_and_carries_sessions() {
    let env = TestEnv::new();
    let master = env.start_master("alpha");
    assert_eq!(master.path, env.control_path("alpha"));
    assert!(master.path.starts_with(&env.cm_dir));
    let (ok, stderr) = ssh_check(&master.path);
    assert!(ok, "{stderr}");
    assert!(stderr.contains(&format!("pid={}", master.pid)), "{stderr}");

    let output = env.ssh("alpha", &["echo", "ok"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(output.stdout, b"ok\n");
    assert_eq!(logins(&env), 1, "the session went through the master");
}

#[test]
fn a_killed_master_leaves_a_socket_that_refuses() {
    let env = TestEnv::new();
    let master = env.start_master("beta");
    master.signal(Signal::SIGKILL);
    assert!(!is_running(master.pid), "reaped, not a zombie");
    assert!(
        std::fs::symlink_metadata(&master.path)
            .unwrap()
            .file_type()
            .is_socket()
    );
    let (ok, stderr) = ssh_check(&master.path);
    assert!(!ok);
    assert!(stderr.contains("Connection refused"), "{stderr}");
}

#[test]
fn a_persistent_master_is_found_and_its_connection_is_seen() {
    let env = TestEnv::new();
    assert!(env.server_pids().is_empty(), "no connection yet");
    let mut master = env.start_persist_master("gamma");
    assert!(is_running(master.pid));
    assert_ne!(
        parent_of(master.pid),
        Some(std::process::id() as i32),
        "ssh daemonized it: not our child"
    );
    assert!(ssh_check(&master.path).0);
    assert!(!env.server_pids().is_empty());

    master.kill_and_reap();
    assert!(!is_running(master.pid));
    wait_until("the server side to end", Duration::from_secs(5), || {
        env.server_pids().is_empty()
    });
}

#[test]
fn dropping_the_environment_ends_everything_it_started() {
    let env = TestEnv::new();
    let foreground = env.start_master("alpha");
    let persistent = env.start_persist_master("beta");
    let stopped = env.start_master("gamma");
    stopped.signal(Signal::SIGSTOP);
    // Exits by itself and stays a zombie of ours until someone reaps it. (Any other alias
    // would share alpha's ControlPath: %C hashes the HostName, not the alias; -M overrides
    // nomaster's ControlMaster no.)
    let exited = env.start_master("nomaster");
    let output = env.ssh("nomaster", &["-O", "exit"]);
    assert!(output.status.success(), "{output:?}");
    wait_until("the master to exit", Duration::from_secs(5), || {
        !is_running(exited.pid)
    });
    let zombie = format!("/proc/{}", exited.pid);
    assert!(Path::new(&zombie).exists(), "a zombie until reaped");
    let root = env.root.clone();
    let mut pids = env.server_pids();
    assert!(
        pids.len() >= 3,
        "one server process per connection at least: {pids:?}"
    );
    pids.extend([persistent.pid, stopped.pid]);

    drop(env);
    for pid in pids {
        assert!(!is_running(pid), "pid {pid} survived");
    }
    for child in [foreground.pid, stopped.pid, exited.pid] {
        assert!(
            !Path::new(&format!("/proc/{child}")).exists(),
            "child {child} was not reaped"
        );
    }
    assert!(!root.exists(), "the directory is removed");
}

#[test]
fn extra_config_comes_first() {
    // Only computed by `ssh -G`, never created.
    let env = TestEnv::with_extra_config("Host alpha\n  ControlPath /nonexistent/extra-%C\n");
    let path = env.control_path("alpha");
    assert!(
        path.to_str().unwrap().starts_with("/nonexistent/extra-"),
        "{path:?}"
    );
    assert!(env.control_path("beta").starts_with(&env.cm_dir));
    assert_eq!(
        env.ssh_args("alpha"),
        ["-F", env.ssh_config.to_str().unwrap(), "alpha"]
    );
}

#[test]
fn commands_are_killed_at_their_timeout() {
    let started = Instant::now();
    let output = output_within(Command::new("sleep").arg("10"), Duration::from_millis(200));
    assert!(!output.status.success());
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_stale_socket_is_a_socket_that_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("stale");
    make_stale_socket(&stale);
    assert!(
        std::fs::symlink_metadata(&stale)
            .unwrap()
            .file_type()
            .is_socket()
    );
    assert_eq!(
        UnixStream::connect(&stale).unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
}

#[test]
fn listeners_behave_as_named() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, Listener, &[u8]); 4] = [
        (
            "garbage",
            Listener::Garbage,
            b"HTTP/1.1 400 Bad Request\r\n\r\n",
        ),
        ("huge", Listener::HugeLength, &[0xff, 0xff, 0xff, 0xf0]),
        (
            "hello",
            Listener::WrongHello,
            &[0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 99],
        ),
        ("silent", Listener::Silent, b""),
    ];
    for (name, behaviour, expected) in cases {
        let path = dir.path().join(name);
        let _guard = spawn_listener(&path, behaviour);
        assert_eq!(first_bytes(&path), expected, "{name}");
    }

    let path = dir.path().join("closes");
    let _guard = spawn_listener(&path, Listener::CloseImmediately);
    let mut stream = UnixStream::connect(&path).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(stream.read(&mut [0; 16]).unwrap(), 0, "end of file at once");
}

#[test]
fn a_silent_listener_holds_the_connection_until_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silent");
    let guard = spawn_listener(&path, Listener::Silent);
    let mut stream = UnixStream::connect(&path).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let error = read_through_interruptions(&mut stream).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::WouldBlock, "open and quiet");

    drop(guard);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        read_through_interruptions(&mut stream).unwrap(),
        0,
        "closed by the drop"
    );
    assert!(path.exists(), "the socket file stays");
    assert_eq!(
        UnixStream::connect(&path).unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
}

/// One read, again when a signal interrupts it: on Linux a read with a timeout fails with EINTR
/// when the process is stopped and continued meanwhile, even with no handler (signal(7)).
fn read_through_interruptions(stream: &mut UnixStream) -> std::io::Result<usize> {
    loop {
        match stream.read(&mut [0; 16]) {
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

/// A child of a test finds no muxguard but the one cargo built, whatever the user installed
/// (`cargo install`, `make install` into /usr/local): the tests that take muxguard off PATH
/// would otherwise run the installed one. Checked by placing a muxguard on the PATH the tests
/// inherit.
#[test]
fn children_see_only_the_muxguard_that_was_built() {
    let env = TestEnv::new();
    let installed = tempfile::tempdir().unwrap();
    crate::common::copy_executable(
        Path::new(env!("CARGO_BIN_EXE_muxguard")),
        &installed.path().join("muxguard"),
    );
    let inherited = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![installed.path().to_path_buf()];
    dirs.extend(std::env::split_paths(&inherited));
    let path = crate::common::without_installed_muxguard(dirs.iter().map(PathBuf::as_path));
    assert!(
        !std::env::split_paths(&path).any(|dir| dir == installed.path()),
        "an installed muxguard stays on the tests' PATH"
    );
    let mut shell = Command::new("sh");
    shell.args(["-c", "command -v muxguard || true"]);
    env.isolate(&mut shell);
    let found = String::from_utf8(shell.output().unwrap().stdout).unwrap();
    let found = found.trim();
    assert!(
        found.is_empty() || Path::new(found).parent() == Some(crate::common::built_bin_dir()),
        "a test's child finds {found}"
    );
}
