//! The harness itself: if these fail, every other integration test means nothing.

mod common;

use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::process::Command;

use common::{Listener, TestEnv, first_bytes, is_running, make_stale_socket, spawn_listener};

fn ssh_check(path: &std::path::Path) -> (bool, String) {
    let output = Command::new("ssh")
        .arg("-S")
        .arg(path)
        .args(["-O", "check", "x"])
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

#[test]
fn masters_are_real_and_break_for_real() {
    let env = TestEnv::new();
    let mut master = env.start_master("alpha");
    assert!(ssh_check(&master.path).0);
    assert_eq!(env.ssh("alpha", &["echo", "ok"]).stdout, b"ok\n");
    assert!(
        !env.server_pids().is_empty(),
        "the server side of the connection is visible"
    );
    master.kill_and_reap();
    let (ok, stderr) = ssh_check(&master.path);
    assert!(!ok);
    assert!(stderr.contains("Connection refused"), "{stderr}");
}

#[test]
fn dropping_the_environment_ends_everything_it_started() {
    let env = TestEnv::new();
    let foreground = env.start_master("alpha");
    let persistent = env.start_persist_master("beta");
    let mut pids = env.server_pids();
    pids.extend([foreground.pid, persistent.pid]);
    assert!(pids.len() >= 4, "{pids:?}");
    drop(env);
    for pid in pids {
        assert!(!is_running(pid), "pid {pid} survived");
    }
}

#[test]
fn fixtures_behave_as_named() {
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
        std::io::ErrorKind::ConnectionRefused
    );

    let cases: [(&str, Listener, &[u8]); 4] = [
        (
            "garbage",
            Listener::Garbage,
            b"HTTP/1.1 400 Bad Request\r\n\r\n",
        ),
        ("closes", Listener::CloseImmediately, b""),
        ("huge", Listener::HugeLength, &[0xff, 0xff, 0xff, 0xf0]),
        (
            "hello",
            Listener::WrongHello,
            &[0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 99],
        ),
    ];
    for (name, behaviour, expected) in cases {
        let path = dir.path().join(name);
        let _guard = spawn_listener(&path, behaviour);
        assert_eq!(first_bytes(&path), expected, "{name}");
    }
    let silent = dir.path().join("silent");
    let _guard = spawn_listener(&silent, Listener::Silent);
    assert_eq!(first_bytes(&silent), b"");
}
