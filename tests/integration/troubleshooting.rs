//! docs/troubleshooting.md against the real OpenSSH: each situation is made for real, ssh must
//! print the message a heading of the page quotes, and muxguard must name the state the page
//! gives for it.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::common::cli::check_json;
use crate::common::openssh::ssh_version;
use crate::common::{
    Listener, TestEnv, is_running, make_stale_socket, output_within, spawn_listener,
};

const TROUBLESHOOTING: &str = include_str!("../../docs/troubleshooting.md");

/// The troubleshooting page's headings: the messages it is keyed by.
fn headings() -> Vec<&'static str> {
    let (_, section) = TROUBLESHOOTING
        .split_once("# Troubleshooting\n")
        .expect("docs/troubleshooting.md is headed Troubleshooting");
    section
        .lines()
        .filter_map(|line| line.strip_prefix("## "))
        .collect()
}

/// Runs ssh with the environment's config and these arguments; its stderr lines.
fn ssh_says(env: &TestEnv, args: &[&str]) -> Vec<String> {
    let output = output_within(env.ssh_command().args(args), Duration::from_secs(15));
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(|line| line.trim_end_matches('\r').to_owned())
        .collect()
}

/// ssh printed `prefix ... suffix` (the middle is a path), and a troubleshooting heading
/// quotes a message of that shape.
fn assert_documented(said: &[String], prefix: &str, suffix: &str) {
    assert!(
        said.iter()
            .any(|line| line.starts_with(prefix) && line.ends_with(suffix)),
        "ssh did not print `{prefix}...{suffix}`; it printed:\n{}",
        said.join("\n")
    );
    let quoted = |heading: &&str| {
        heading.split('`').skip(1).step_by(2).any(|message| {
            message.len() >= prefix.len() + suffix.len()
                && message.starts_with(prefix)
                && message.ends_with(suffix)
        })
    };
    assert!(
        headings().iter().any(quoted),
        "no troubleshooting heading quotes `{prefix}...{suffix}`"
    );
}

fn state_of(env: &TestEnv, args: &[&str], alias: &str) -> String {
    let run = check_json(env, args, alias);
    run.json()["state"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_stale_socket_refuses_and_is_stale() {
    let env = TestEnv::new();
    make_stale_socket(&env.control_path("beta"));
    let said = ssh_says(&env, &["-O", "check", "beta"]);
    assert_documented(&said, "Control socket connect(", "): Connection refused");
    assert_eq!(state_of(&env, &[], "beta"), "stale");
}

#[test]
fn no_socket_is_absent() {
    let env = TestEnv::new();
    let said = ssh_says(&env, &["-O", "check", "beta"]);
    assert_documented(
        &said,
        "Control socket connect(",
        "): No such file or directory",
    );
    assert_eq!(state_of(&env, &[], "beta"), "absent");
}

#[test]
fn a_second_master_finds_the_socket_taken_and_the_first_is_live() {
    let env = TestEnv::new();
    let _master = env.start_master("alpha");
    let said = ssh_says(&env, &["-o", "ControlMaster=yes", "alpha", "true"]);
    assert_documented(
        &said,
        "ControlSocket ",
        " already exists, disabling multiplexing",
    );
    let said = ssh_says(&env, &["-O", "check", "alpha"]);
    assert_documented(&said, "Master running (pid=", ")");
    assert_eq!(state_of(&env, &[], "alpha"), "live");
}

/// A stopped master: OpenSSH before 9.4 waits on it for ever, printing nothing. From 9.4 on,
/// ConnectTimeout bounds the hello: ssh gives up on the master after that long and goes on
/// without it (`-O check` too, which then exits 0), and the master stays, stopped, at its path.
/// With no ConnectTimeout, 9.4 and later wait for ever too. To muxguard it is hung either way.
#[test]
fn a_stopped_master_is_waited_on_and_is_hung() {
    let env = TestEnv::new();
    let master = env.start_master("alpha");
    master.signal(Signal::SIGSTOP);
    // Past this, ssh is waiting for ever.
    let patience = Duration::from_secs(4);
    // ssh with these arguments: what it did, how long it took, the lines of its stderr.
    let run = |args: &[&str]| {
        let started = Instant::now();
        let output = output_within(env.ssh_command().args(args), patience);
        let said: Vec<String> = String::from_utf8_lossy(&output.stderr)
            .lines()
            .map(str::to_owned)
            .collect();
        (output, started.elapsed(), said)
    };
    // At once, so that the waits overlap.
    let commands: [&[&str]; 3] = [
        &["-o", "ConnectTimeout=1", "alpha", "echo ran"],
        &["-o", "ConnectTimeout=1", "-O", "check", "alpha"],
        &["-o", "ConnectTimeout=none", "alpha", "echo ran"],
    ];
    let [session, check, untimed] = std::thread::scope(|scope| {
        commands
            .map(|args| scope.spawn(move || run(args)))
            .map(|thread| thread.join().unwrap())
    });
    let waited_for_ever = |(output, waited, said): &(Output, Duration, Vec<String>)| {
        assert!(
            *waited >= patience,
            "ssh gave up after {waited:?}: {output:?}"
        );
        assert!(output.stdout.is_empty() && said.is_empty(), "{output:?}");
    };
    if ssh_version() >= (9, 4) {
        for (output, waited, said) in [&session, &check] {
            assert!(output.status.success(), "{output:?}");
            assert!(*waited >= Duration::from_secs(1), "{waited:?}");
            assert_documented(said, "muxclient: master hello exchange failed", "");
            assert_documented(
                said,
                "ControlSocket ",
                " already exists, disabling multiplexing",
            );
        }
        assert_eq!(session.0.stdout, b"ran\n", "it ran without the master");
        assert!(
            !check
                .2
                .iter()
                .any(|line| line.starts_with("Master running")),
            "{:?}",
            check.2
        );
    } else {
        waited_for_ever(&session);
        waited_for_ever(&check);
    }
    waited_for_ever(&untimed);
    assert!(is_running(master.pid) && master.path.exists());
    assert_eq!(state_of(&env, &[], "alpha"), "hung");
}

#[test]
fn a_missing_directory_cannot_be_bound() {
    let env = TestEnv::new();
    let path = env.root.join("no-such-dir/%C");
    let option = format!("ControlPath={}", path.display());
    let said = ssh_says(&env, &["-o", &option, "alpha", "echo ran"]);
    assert_documented(
        &said,
        "unix_listener: cannot bind to path ",
        ": No such file or directory",
    );
}

#[test]
fn a_path_over_90_characters_is_too_long() {
    let env = TestEnv::new();
    let dir = env.cm_dir.display().to_string();
    let name = "x".repeat(95 - dir.len());
    let option = format!("ControlPath={dir}/{name}");
    let said = ssh_says(&env, &["-o", &option, "alpha", "true"]);
    assert_documented(
        &said,
        "unix_listener: path \"",
        "\" too long for Unix domain socket",
    );
}

#[test]
fn a_listener_that_is_not_a_master_is_foreign() {
    let env = TestEnv::new();
    let path = env.control_path("beta");
    let _listener = spawn_listener(&path, Listener::HugeLength);
    let said = ssh_says(&env, &["beta", "true"]);
    assert_documented(
        &said,
        "mux_client_read: reserve: ",
        "insufficient buffer space",
    );
    assert_eq!(state_of(&env, &[], "beta"), "foreign");
    assert!(Path::new(&path).exists(), "a foreign socket stays");
}
