//! What the kernel says of a master's TCP connection, and `auto` deciding from it: a server that
//! stops answering is probed once it has been silent for MUXGUARD_PROBE_AFTER, a link that
//! drops packets at once, and a master the server talked to a moment ago not at all.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::cli::{Run, run, status_json};
use crate::common::netns::{Namespace, SERVER_ADDRESS, Veth};
use crate::common::{TestEnv, output_within, wait_until};
use nix::sys::signal::Signal;

/// `check --json` for `alias`, with MUXGUARD_* `settings`.
fn check(env: &TestEnv, settings: &[(&str, &str)], alias: &str) -> Run {
    let mut command = env.muxguard();
    command.envs(settings.iter().copied());
    command
        .args(["check", "--json", "--"])
        .args(env.ssh_args(alias));
    run(command)
}

#[test]
fn status_shows_the_server_of_a_master_nothing_named() {
    let env = TestEnv::new();
    // ControlPath %C: a hash no one can read a destination from, and no check resolved it.
    let master = env.start_persist_master("alpha");
    let status = status_json(&env, &[]);
    let entry = crate::common::cli::listed(&status, &master.path);
    assert_eq!(entry["destination"], serde_json::Value::Null, "{entry}");
    assert_eq!(entry["peer"], format!("127.0.0.1:{}", env.port), "{entry}");
    let silent = entry["silent_s"].as_f64().expect("silent_s");
    assert!((0.0..30.0).contains(&silent), "{entry}");
    assert!(entry["rtt_ms"].as_f64().expect("rtt_ms") >= 0.0, "{entry}");

    // The table shows the peer where the destination would be.
    let mut command = env.muxguard();
    command.arg("status").arg("-F").arg(&env.ssh_config);
    let table = run(command).stdout;
    let row = table
        .lines()
        .find(|line| line.contains(master.path.to_str().unwrap()))
        .expect("a row for the master");
    assert!(row.contains(&format!("127.0.0.1:{}", env.port)), "{table}");
}

/// A server that stops answering while TCP stays up (its session process stopped): with the
/// default allowance the master the server talked to a moment ago is not probed; past
/// MUXGUARD_PROBE_AFTER it is, found dead, and `muxguard ssh` connects afresh. A master with
/// ServerAliveInterval is allowed twice that.
#[test]
fn a_silent_server_is_probed_once_it_has_been_silent_too_long() {
    // Explicit both ways: Debian's ssh makes BatchMode (which the tests use) imply 300 s.
    let env = TestEnv::with_extra_config(
        "Host alpha\n  ServerAliveInterval 0\nHost gamma\n  ServerAliveInterval 300\n",
    );
    let master = env.start_persist_master("alpha");
    let keeping_alive = env.start_persist_master("gamma");
    let json = check(&env, &[], "alpha").json();
    assert_eq!(json["state"], "live", "{json}");
    assert_eq!(json["reason"], "answered", "no round trip: {json}");
    assert_eq!(json["probe"], "server-heard", "{json}");

    env.signal_server_side(Signal::SIGSTOP);
    // Still heard from a moment ago, by the default minute's allowance.
    let json = check(&env, &[], "alpha").json();
    assert_eq!(json["probe"], "server-heard", "{json}");
    assert_eq!(json["state"], "live", "{json}");

    std::thread::sleep(Duration::from_millis(2200));
    let silent = [("MUXGUARD_PROBE_AFTER", "2s"), ("MUXGUARD_TIMEOUT", "1s")];
    let json = check(&env, &silent, "gamma").json();
    assert_eq!(
        json["probe"], "server-heard",
        "ServerAliveInterval 300: {json}"
    );
    assert_eq!(json["pid"], keeping_alive.pid);
    let json = check(&env, &silent, "alpha").json();
    assert_eq!(json["probe"], "server-silent", "{json}");
    assert_eq!(json["state"], "unreachable", "{json}");
    assert_eq!(json["reason"], "probe-timeout", "{json}");
    let silent_s = json["silent_s"].as_f64().expect("silent_s");
    assert!(silent_s >= 2.0, "{json}");

    // What a fresh login costs here, for the bound on muxguard ssh.
    let started = Instant::now();
    let mut fresh = env.ssh_command();
    fresh.args(["-o", "ControlPath=none", "beta", "true"]);
    assert!(
        output_within(&mut fresh, Duration::from_secs(15))
            .status
            .success()
    );
    let login = started.elapsed();

    let mut command = env.muxguard();
    command
        .envs(silent)
        .arg("ssh")
        .args(env.ssh_args("alpha"))
        .arg("true");
    let started = Instant::now();
    let output = output_within(&mut command, Duration::from_secs(20));
    let took = started.elapsed();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bound = Duration::from_secs(1) + login + Duration::from_secs(2);
    assert!(took < bound, "took {took:?}, more than {bound:?}");
    wait_until("the dead master to end", Duration::from_secs(5), || {
        !crate::common::is_running(master.pid)
    });
}

/// A link that really drops packets: the kernel shows data unacknowledged and retransmitted, and
/// `auto` probes at once, long before the server's silence reaches MUXGUARD_PROBE_AFTER.
#[test]
fn a_link_that_drops_packets_is_probed_at_once() {
    if !Namespace::possible("a_link_that_drops_packets_is_probed_at_once") {
        return;
    }
    let env = TestEnv::new();
    let Some(veth) = Veth::new() else { return };
    veth.server.start_sshd(&env, SERVER_ADDRESS);

    // Every ssh and muxguard of the client runs in its namespace, to the server across the pair.
    let across = crate::common::netns::across();
    let ssh = |args: &[&str]| {
        let mut command = veth.client.command("ssh");
        command
            .arg("-F")
            .arg(&env.ssh_config)
            .args(&across)
            .args(args)
            .stdin(Stdio::null());
        command
    };
    let check = || {
        let mut command = veth.client.command(env!("CARGO_BIN_EXE_muxguard"));
        env.isolate(&mut command);
        command
            .env("MUXGUARD_TIMEOUT", "1s")
            .args(["check", "--json", "--", "-F"])
            .arg(&env.ssh_config)
            .args(&across)
            .arg("alpha");
        run(command).json()
    };

    let made = output_within(
        &mut ssh(&["-o", "ControlPersist=60", "alpha", "true"]),
        Duration::from_secs(15),
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let json = check();
    assert_eq!(json["state"], "live", "{json}");
    assert_eq!(json["probe"], "server-heard", "{json}");
    assert_eq!(
        json["peer"],
        format!("{SERVER_ADDRESS}:{}", env.port),
        "{json}"
    );
    let master = json["pid"].as_i64().unwrap() as i32;
    env.track_pid(master);

    veth.cut();
    // A session through the master: its request goes out and is never acknowledged.
    let mut session = ssh(&["alpha", "true"]);
    session.stdout(Stdio::null()).stderr(Stdio::null());
    veth.client.spawn(&mut session);

    let started = Instant::now();
    let json = loop {
        let json = check();
        if json["probe"] != "server-heard" || started.elapsed() > Duration::from_secs(10) {
            break json;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(json["probe"], "link-trouble", "{json}");
    assert_eq!(json["state"], "unreachable", "{json}");
    assert!(
        json["silent_s"].as_f64().unwrap() < 60.0,
        "probed long before the default allowance: {json}"
    );
}

/// A master whose connection a ProxyCommand carries holds no TCP socket of its own. Where the
/// connection cannot be seen behind the ProxyCommand (here a relay between them, as a cloud
/// CLI is): no peer, and `auto` decides as it does where the kernel tells nothing (young, then
/// 10 minutes unseen).
#[test]
fn a_master_behind_an_unseen_proxy_is_decided_from_its_record() {
    let env = TestEnv::new();
    let proxy = format!(
        "ProxyCommand=cat | ssh -F {} -o ControlMaster=no -o ControlPath=none -W %h:%p beta | cat",
        env.ssh_config.display()
    );
    let through_proxy = |extra: &[&str]| {
        let mut args: Vec<String> = vec!["-F".into(), env.ssh_config.display().to_string()];
        args.extend(["-o".to_string(), proxy.clone()]);
        args.extend(extra.iter().map(|arg| arg.to_string()));
        args.push("gamma".into());
        args
    };
    let mut make = env.ssh_command();
    make.args(&through_proxy(&["-o", "ControlPersist=60"])[2..])
        .arg("true");
    let made = output_within(&mut make, Duration::from_secs(15));
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let path = env.control_path("gamma");

    let status = status_json(&env, &[]);
    let entry = crate::common::cli::listed(&status, &path);
    assert_eq!(entry["state"], "live", "{entry}");
    assert_eq!(entry["peer"], serde_json::Value::Null, "{entry}");
    assert_eq!(entry["silent_s"], serde_json::Value::Null, "{entry}");
    // Nothing of its ProxyCommand's is a master or holds the connection: no carrier to name,
    // and the words say so.
    assert_eq!(entry["via"], serde_json::Value::Null, "{entry}");
    let detail = entry["detail"].as_str().unwrap();
    assert!(detail.contains("no master of yours"), "{entry}");
    let pid = entry["pid"].as_i64().unwrap() as i32;
    env.track_pid(pid);

    let check = || {
        let mut command = env.muxguard();
        command
            .args(["check", "--json", "--"])
            .args(through_proxy(&[]));
        run(command).json()
    };
    let json = check();
    assert_eq!(json["probe"], "young", "{json}");
    assert_eq!(json["peer"], serde_json::Value::Null, "{json}");

    let mut shifted = false;
    crate::probe::edit_state(&env, |state| {
        shifted = crate::probe::shift_clocks(state, path.to_str().unwrap(), 11 * 60, 11 * 60)
    });
    if !shifted {
        eprintln!("long-idle part skipped: the machine has been up less than 11 minutes");
        return;
    }
    let json = check();
    assert_eq!(json["probe"], "long-idle", "{json}");
    assert_eq!(json["reason"], "round-trip", "{json}");
}

/// A plain ProxyCommand (an `ssh -W` that connects by itself, `nc`) holds the connection that
/// carries the master's: that one is its link, with its peer and silence, and decides for it.
#[test]
fn a_master_behind_a_plain_proxy_command_is_judged_by_its_connection() {
    let env = TestEnv::new();
    let args = || {
        let mut args = env.ssh_args("alpha");
        let proxy = format!(
            "ProxyCommand=ssh -F {} -o ControlMaster=no -o ControlPath=none -W %h:%p beta",
            env.ssh_config.display()
        );
        // Debian's ssh keeps BatchMode sessions alive every 300 s, which allows 600 s of
        // silence.
        let no_keepalive = "ServerAliveInterval=0".to_string();
        args.splice(2..2, ["-o".to_string(), proxy, "-o".into(), no_keepalive]);
        args
    };
    let mut make = env.ssh_command();
    make.args(&args()[2..])
        .args(["-o", "ControlPersist=60", "true"]);
    let made = output_within(&mut make, Duration::from_secs(15));
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let path = env.control_path("alpha");

    let status = status_json(&env, &[]);
    let entry = crate::common::cli::listed(&status, &path);
    env.track_pid(entry["pid"].as_i64().unwrap() as i32);
    assert_eq!(entry["state"], "live", "{entry}");
    assert_eq!(entry["peer"], format!("127.0.0.1:{}", env.port), "{entry}");
    assert!(entry["silent_s"].is_number(), "{entry}");
    assert_eq!(entry["via"], serde_json::Value::Null, "{entry}");
    let detail = entry["detail"].as_str().unwrap();
    assert!(
        detail.contains("through its ProxyCommand's own (pid"),
        "{entry}"
    );

    // Silent past MUXGUARD_PROBE_AFTER, as the ProxyCommand's connection shows: proved.
    std::thread::sleep(Duration::from_millis(1200));
    let mut command = env.muxguard();
    command
        .env("MUXGUARD_PROBE_AFTER", "1s")
        .args(["check", "--json", "--"])
        .args(args());
    let json = run(command).json();
    assert_eq!(json["probe"], "server-silent", "{json}");
    assert_eq!(json["reason"], "round-trip", "{json}");
    assert_eq!(json["peer"], format!("127.0.0.1:{}", env.port), "{json}");
}
