//! The native mux client against real OpenSSH masters.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{TestEnv, is_running, wait_until};
use muxguard::deadline::Deadline;
use muxguard::mux::{MuxClient, MuxError};

fn connect(path: &std::path::Path) -> MuxClient {
    MuxClient::connect(path, Deadline::after(Duration::from_secs(2))).expect("the master answers")
}

#[test]
fn alive_check_returns_the_masters_pid() {
    let env = TestEnv::new();
    let master = env.start_persist_master("alpha");
    // Pipelined with the HELLO, then again on the same connection.
    let deadline = Deadline::after(Duration::from_secs(2));
    let (mut client, pid) = MuxClient::connect_alive(&master.path, deadline).unwrap();
    assert_eq!(pid, master.pid);
    assert_eq!(client.alive_check().unwrap(), master.pid);
    assert_eq!(connect(&master.path).alive_check().unwrap(), master.pid);
}

#[test]
fn terminate_ends_the_master_and_its_socket() {
    let env = TestEnv::new();
    let master = env.start_persist_master("alpha");
    connect(&master.path).terminate().unwrap();
    wait_until("the master to exit", Duration::from_secs(5), || {
        !is_running(master.pid)
    });
    assert!(!master.path.exists());
}

#[test]
fn stop_listening_keeps_open_sessions_running() {
    let env = TestEnv::new();
    let master = env.start_persist_master("alpha");
    // A session through the master that outlives the request.
    let session = Command::new("ssh")
        .arg("-F")
        .arg(&env.ssh_config)
        .args(["alpha", "sleep 1; echo finished"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    env.track_pid(session.id() as i32);
    wait_until("the session to start", Duration::from_secs(5), || {
        env.server_pids().len() >= 2
    });

    connect(&master.path).stop_listening().unwrap();
    wait_until("the socket to go", Duration::from_secs(5), || {
        !master.path.exists()
    });
    assert!(
        is_running(master.pid),
        "the master still serves its session"
    );

    let output = session.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(output.stdout, b"finished\n");
    wait_until(
        "the master to exit after its last session",
        Duration::from_secs(5),
        || !is_running(master.pid),
    );
}

#[test]
fn a_stale_socket_refuses_and_a_missing_one_is_an_io_error() {
    let env = TestEnv::new();
    let stale = env.cm_dir.join("stale");
    crate::common::make_stale_socket(&stale);
    let deadline = Deadline::after(Duration::from_secs(1));
    let result = MuxClient::connect(&stale, deadline).map(drop);
    assert!(matches!(result, Err(MuxError::Refused)), "{result:?}");
    let missing = env.cm_dir.join("missing");
    let result = MuxClient::connect(&missing, deadline).map(drop);
    assert!(matches!(result, Err(MuxError::Io(_))), "{result:?}");
}
