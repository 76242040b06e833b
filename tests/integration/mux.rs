//! The native mux client against real OpenSSH masters.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::openssh::ssh_version;
use crate::common::{TestEnv, first_bytes, is_running, wait_until};
use muxguard::openssh::mux::{MuxClient, MuxError};
use muxguard::support::deadline::Deadline;

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
    // A session through the master that outlives the request: it ends when told to, not
    // after a second that a loaded machine can spend before the master is looked at (the
    // master, ControlPersist and no longer listening, exits with its last session).
    let mut session = Command::new("ssh")
        .arg("-F")
        .arg(&env.ssh_config)
        .args(["alpha", "read go; echo finished"])
        .stdin(Stdio::piped())
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

    let mut go = session.stdin.take().unwrap();
    go.write_all(b"go\n").unwrap();
    drop(go);
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

/// The mux protocol by hand, for what muxguard never sends: one framed message of these fields.
fn message(fields: &[&[u8]]) -> Vec<u8> {
    let body = fields.concat();
    [&(body.len() as u32).to_be_bytes()[..], &body].concat()
}

fn string(text: &[u8]) -> Vec<u8> {
    [&(text.len() as u32).to_be_bytes()[..], text].concat()
}

fn read_message(stream: &mut UnixStream) -> Vec<u8> {
    let mut length = [0; 4];
    stream.read_exact(&mut length).unwrap();
    let mut body = vec![0; u32::from_be_bytes(length) as usize];
    stream.read_exact(&mut body).unwrap();
    body
}

const HELLO: [u8; 4] = 1u32.to_be_bytes();
const VERSION: [u8; 4] = 4u32.to_be_bytes();
const ALIVE_CHECK: [u8; 4] = 0x1000_0004u32.to_be_bytes();
const ALIVE: [u8; 4] = 0x8000_0005u32.to_be_bytes();
const FAILURE: [u8; 4] = 0x8000_0003u32.to_be_bytes();
/// The info request (`ssh -O conninfo`) and its answer, from OpenSSH 10.3 on.
const EXT_INFO: [u8; 4] = 0x2000_0001u32.to_be_bytes();
const EXT_INFO_REPLY: [u8; 4] = 0x9000_0001u32.to_be_bytes();

/// From OpenSSH 10.3 on a master's HELLO carries an extension, `info` (it answers the info
/// request); before, nothing follows the version. The client takes either for a master.
#[test]
fn a_masters_hello_carries_what_its_release_puts_there_and_is_understood() {
    let env = TestEnv::new();
    let master = env.start_persist_master("alpha");
    let expected = if ssh_version() >= (10, 3) {
        message(&[&HELLO, &VERSION, &string(b"info"), &string(b"0")])
    } else {
        message(&[&HELLO, &VERSION])
    };
    assert_eq!(first_bytes(&master.path), expected);
    let deadline = Deadline::after(Duration::from_secs(2));
    let (_, pid) = MuxClient::connect_alive(&master.path, deadline).unwrap();
    assert_eq!(pid, master.pid);
}

/// A request a master does not know is answered FAILURE "unsupported request" and logged at
/// error level, and the connection goes on. Before 10.3 the info request is one: muxguard sends
/// only requests every release knows.
#[test]
fn a_request_a_master_does_not_know_is_refused_logged_and_survived() {
    let env = TestEnv::new();
    let master = env.start_master("alpha");
    let log = env.root.join("master-alpha.log");
    let logged = |line: &str| {
        wait_until(
            &format!("the master to log {line:?}"),
            Duration::from_secs(5),
            || std::fs::read_to_string(&log).is_ok_and(|text| text.contains(line)),
        );
    };
    let mut stream = UnixStream::connect(&master.path).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    read_message(&mut stream);
    stream.write_all(&message(&[&HELLO, &VERSION])).unwrap();
    let unsupported = |id: u32| {
        message(&[&FAILURE, &id.to_be_bytes(), &string(b"unsupported request")])[4..].to_vec()
    };

    let id = 7u32.to_be_bytes();
    let request = message(&[&EXT_INFO, &id, &string(b"connection")]);
    stream.write_all(&request).unwrap();
    let reply = read_message(&mut stream);
    if ssh_version() >= (10, 3) {
        // The id, then status 1 (ok), then what `ssh -O conninfo` prints.
        assert_eq!(
            reply[..12],
            [EXT_INFO_REPLY, id, 1u32.to_be_bytes()].concat()
        );
        let text = String::from_utf8_lossy(&reply[16..]);
        let link = format!(" -> 127.0.0.1:{}", env.port);
        assert!(
            text.contains("tcp 127.0.0.1:") && text.contains(&link),
            "{text}"
        );
    } else {
        assert_eq!(reply, unsupported(7));
        logged("unsupported mux message 0x20000001");
    }

    let nobodys = 0x2000_7fffu32.to_be_bytes();
    stream
        .write_all(&message(&[&nobodys, &8u32.to_be_bytes()]))
        .unwrap();
    assert_eq!(read_message(&mut stream), unsupported(8));
    logged("unsupported mux message 0x20007fff");

    stream
        .write_all(&message(&[&ALIVE_CHECK, &9u32.to_be_bytes()]))
        .unwrap();
    let pid = (master.pid as u32).to_be_bytes();
    assert_eq!(
        read_message(&mut stream),
        [&ALIVE[..], &9u32.to_be_bytes(), &pid].concat()
    );
}

/// A master started as `ControlMaster ask` (-MM), with no display to ask its user on. It
/// answers alive checks, and refuses what it must ask about.
fn start_asking_master(env: &TestEnv) -> (i32, PathBuf) {
    let path = env.control_path("alpha");
    let mut command = env.ssh_command();
    command
        .args(["-MM", "-N", "-o", "ControlPersist=no", "alpha"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("SSH_ASKPASS_REQUIRE")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let pid = command.spawn().unwrap().id() as i32;
    env.track_pid(pid);
    wait_until(
        "the asking master to answer",
        Duration::from_secs(10),
        || {
            let deadline = Deadline::after(Duration::from_secs(1));
            MuxClient::connect_alive(&path, deadline).is_ok_and(|(_, answered)| answered == pid)
        },
    );
    (pid, path)
}

/// A refusal from a real master: the client reports it, and the same connection serves on.
#[test]
fn a_refused_request_is_reported_and_the_connection_serves_on() {
    let env = TestEnv::new();
    let (pid, path) = start_asking_master(&env);
    let mut client = connect(&path);
    match client.terminate() {
        Err(MuxError::Denied(reason)) => assert_eq!(reason, "Permission denied"),
        other => panic!("the master did not refuse: {other:?}"),
    }
    assert_eq!(client.alive_check().unwrap(), pid);
    assert!(is_running(pid));
}
