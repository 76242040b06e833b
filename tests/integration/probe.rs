//! Dead links: a master that answers locally while its link to the server is gone. The link is
//! made dead for real by stopping the server side of the connection (SIGSTOP).

use std::fs;
use std::time::Duration;

use crate::common::cli::{check_json, muxguard, run, status_json};
use crate::common::{TestEnv, is_running};
use nix::sys::signal::Signal;
use serde_json::Value;

/// What the server logs for one probe.
const PROBE_LOG_LINE: &str = "connect_to 127.0.0.1 port 0: failed.";

fn probes_seen_by_server(env: &TestEnv) -> usize {
    env.sshd_log().matches(PROBE_LOG_LINE).count()
}

#[test]
fn a_healthy_master_answers_the_probe_and_stays_untouched() {
    let env = TestEnv::new();
    let master = env.start_persist_master("alpha");
    let server_before = env.server_pids();
    let log_before = env.sshd_log();

    let run = check_json(&env, &["--probe"], "alpha");
    assert_eq!(run.code, 0, "{}", run.stdout);
    let json = run.json();
    assert_eq!(json["state"], "live");
    assert_eq!(json["reason"], "round-trip");
    assert_eq!(json["pid"], master.pid);
    let round_trip = json["round_trip_ms"].as_f64().expect("a round-trip time");
    assert!(round_trip > 0.0 && round_trip < 1000.0, "{round_trip}");
    assert!(
        json["detail"]
            .as_str()
            .unwrap()
            .contains("the server answered")
    );

    // The server saw one refused forwarding and nothing else: no session, no command, and no
    // process left behind.
    let log_after = env.sshd_log();
    let new_lines: Vec<&str> = log_after[log_before.len()..].lines().collect();
    assert_eq!(
        new_lines,
        [PROBE_LOG_LINE],
        "the server logged {new_lines:?}"
    );
    assert_eq!(env.server_pids(), server_before);
    assert!(is_running(master.pid));
    assert_eq!(env.ssh("alpha", &["echo", "still"]).stdout, b"still\n");

    // --fix on a healthy master does nothing.
    let run = check_json(&env, &["--probe", "--fix"], "alpha");
    assert_eq!(run.code, 0);
    assert_eq!(run.json()["action"], "none");
    assert!(is_running(master.pid));
}

#[test]
fn a_dead_link_is_unreachable_under_probe_and_live_without() {
    let env = TestEnv::new();
    let master = env.start_persist_master("alpha");
    env.signal_server_side(Signal::SIGSTOP);

    // Without the probe the master looks fine, as `ssh -O check` says "Master running".
    let mut command = env.muxguard();
    command
        .env("MUXGUARD_PROBE", "never")
        .args(["check", "--json", "--"])
        .args(env.ssh_args("alpha"));
    let plain = run(command);
    assert_eq!(plain.code, 0);
    assert_eq!(plain.json()["state"], "live");

    let run = check_json(&env, &["--probe", "--timeout", "1s"], "alpha");
    assert_eq!(run.code, 1, "{}", run.stdout);
    let json = run.json();
    assert_eq!(json["state"], "unreachable");
    assert_eq!(json["reason"], "probe-timeout");
    assert_eq!(json["pid"], master.pid);
    assert_eq!(json["round_trip_ms"], Value::Null);
    assert!(
        run.elapsed < Duration::from_millis(1500),
        "took {:?}",
        run.elapsed
    );
    assert!(
        is_running(master.pid),
        "check without --fix changes nothing"
    );

    // The human line says how to repair it, probe included.
    let mut command = env.muxguard();
    command
        .args(["check", "--probe", "--timeout", "300ms", "--"])
        .args(env.ssh_args("alpha"));
    let human = crate::common::cli::run(command);
    assert!(human.stdout.starts_with("unreachable"), "{}", human.stdout);
    assert!(
        human.stderr.contains("check --fix --probe"),
        "{}",
        human.stderr
    );

    let run = check_json(&env, &["--probe", "--fix", "--timeout", "1s"], "alpha");
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json()["state"], "unreachable");
    assert_eq!(run.json()["action"], "reset");
    assert!(
        run.elapsed < Duration::from_millis(1000 + 2500),
        "took {:?}",
        run.elapsed
    );
    crate::common::wait_until("the master to be gone", Duration::from_secs(3), || {
        !is_running(master.pid)
    });
    assert!(!master.path.exists());
}

#[test]
fn an_abandoned_probe_leaves_the_master_serving() {
    let env = TestEnv::new();
    let master = env.start_persist_master("alpha");
    env.signal_server_side(Signal::SIGSTOP);
    let run = check_json(&env, &["--probe", "--timeout", "300ms"], "alpha");
    assert_eq!(run.json()["state"], "unreachable");
    // The link comes back: the server answers the abandoned request late.
    env.signal_server_side(Signal::SIGCONT);
    assert_eq!(env.ssh("alpha", &["echo", "back"]).stdout, b"back\n");
    assert!(is_running(master.pid));
    let run = check_json(&env, &["--probe"], "alpha");
    assert_eq!(run.json()["state"], "live");
    assert_eq!(run.json()["pid"], master.pid);
}

#[test]
fn status_probe_tells_dead_links_from_live_ones_in_one_timeout() {
    let healthy = TestEnv::new();
    let dead = TestEnv::new();
    let good = healthy.start_persist_master("alpha");
    let bad = dead.start_persist_master("beta");
    dead.signal_server_side(Signal::SIGSTOP);

    let passive = status_json(&healthy, &["--dir", dead.cm_dir.to_str().unwrap()]);
    for socket in passive["sockets"].as_array().unwrap() {
        assert_eq!(
            socket["state"], "live",
            "without --probe status does not connect"
        );
    }

    let args = [
        "status",
        "--json",
        "--probe",
        "--timeout",
        "1s",
        "-F",
        healthy.ssh_config.to_str().unwrap(),
        "--dir",
        dead.cm_dir.to_str().unwrap(),
    ];
    let run = muxguard(&healthy, &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status = run.json();
    let state = |path: &std::path::Path| {
        crate::common::cli::entry_for(&status, path).expect("listed")["state"].clone()
    };
    assert_eq!(state(&good.path), "live");
    assert_eq!(state(&bad.path), "unreachable");
    assert!(
        run.elapsed < Duration::from_millis(1500),
        "took {:?}",
        run.elapsed
    );
}

/// The state file, as JSON, for tests that change what it remembers.
pub fn edit_state(env: &TestEnv, edit: impl FnOnce(&mut Value)) {
    let path = env.state_dir.join("muxguard/state.json");
    let mut state: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    edit(&mut state);
    fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
}

/// Makes the record of `key` older by these many seconds of BOOTTIME and MONOTONIC. Returns
/// false, changing nothing, when the machine has not been up that long.
pub fn shift_clocks(state: &mut Value, key: &str, boottime_s: u64, monotonic_s: u64) -> bool {
    let record = &mut state["working"][key];
    let shifts = [("boottime_ns", boottime_s), ("monotonic_ns", monotonic_s)];
    let fits = shifts
        .iter()
        .all(|(clock, seconds)| record[*clock].as_u64().unwrap() > seconds * 1_000_000_000);
    if fits {
        for (clock, seconds) in shifts {
            let value = record[clock].as_u64().unwrap();
            record[clock] = (value - seconds * 1_000_000_000).into();
        }
    }
    fits
}

fn auto_check(env: &TestEnv, mode: Option<&str>) -> Value {
    let mut command = env.muxguard();
    if let Some(mode) = mode {
        command.env("MUXGUARD_PROBE", mode);
    }
    command
        .args(["check", "--json", "--"])
        .args(env.ssh_args("alpha"));
    let run = run(command);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    run.json()
}

#[test]
fn auto_probes_only_when_the_recorded_network_or_clocks_differ() {
    let env = TestEnv::new();
    let master = env.start_persist_master("alpha");
    let key = master.path.to_str().unwrap().to_string();

    // First sight of a young master: recorded as working, no round trip.
    let json = auto_check(&env, None);
    assert_eq!(json["state"], "live");
    assert_eq!(json["round_trip_ms"], Value::Null);
    assert_eq!(probes_seen_by_server(&env), 0);
    edit_state(&env, |state| {
        assert_eq!(state["working"][&key]["pid"], master.pid)
    });

    // Nothing changed: still no round trip.
    auto_check(&env, None);
    assert_eq!(probes_seen_by_server(&env), 0);

    // The network changed since: probe, once; the probe records the new network.
    edit_state(&env, |state| {
        state["working"][&key]["network"] = "elsewhere".into()
    });
    let json = auto_check(&env, None);
    assert!(json["round_trip_ms"].is_number(), "{json}");
    assert!(
        json["detail"].as_str().unwrap().contains("network changed"),
        "{json}"
    );
    assert_eq!(probes_seen_by_server(&env), 1);
    auto_check(&env, None);
    assert_eq!(probes_seen_by_server(&env), 1);

    // A suspend since: BOOTTIME went on for a minute more than MONOTONIC.
    edit_state(&env, |state| {
        assert!(shift_clocks(state, &key, 60, 0), "up for a minute")
    });
    let before = probes_seen_by_server(&env);
    let json = auto_check(&env, None);
    assert!(
        json["detail"]
            .as_str()
            .unwrap()
            .contains("suspended for 1m"),
        "{json}"
    );
    assert_eq!(probes_seen_by_server(&env), before + 1);

    // Long unseen, awake all along: the record is 11 minutes old on both clocks. The kernel
    // shows the server spoke a moment ago, which says more than any record: no round trip.
    // (Where the kernel shows no connection, the 10 minutes count: see links.rs.)
    let mut shifted = false;
    edit_state(&env, |state| {
        shifted = shift_clocks(state, &key, 11 * 60, 11 * 60)
    });
    if shifted {
        let before = probes_seen_by_server(&env);
        let json = auto_check(&env, None);
        assert_eq!(json["probe"], "server-heard", "{json}");
        assert_eq!(probes_seen_by_server(&env), before);
    } else {
        eprintln!("long-idle part skipped: the machine has been up less than 11 minutes");
    }

    // never: not even with a changed network; always: every time.
    edit_state(&env, |state| {
        state["working"][&key]["network"] = "elsewhere".into()
    });
    let before = probes_seen_by_server(&env);
    assert_eq!(
        auto_check(&env, Some("never"))["round_trip_ms"],
        Value::Null
    );
    assert_eq!(probes_seen_by_server(&env), before);
    auto_check(&env, Some("always"));
    auto_check(&env, Some("always"));
    assert_eq!(probes_seen_by_server(&env), before + 2);
}

#[test]
fn auto_finds_a_dead_link_after_the_network_changed() {
    let env = TestEnv::new();
    let master = env.start_persist_master("alpha");
    let key = master.path.to_str().unwrap().to_string();
    auto_check(&env, None);
    env.signal_server_side(Signal::SIGSTOP);
    // Still the same network: auto trusts the master (no round trip, no wait).
    assert_eq!(auto_check(&env, None)["state"], "live");
    edit_state(&env, |state| {
        state["working"][&key]["network"] = "elsewhere".into()
    });
    let mut command = env.muxguard();
    command
        .args(["check", "--json", "--fix", "--timeout", "500ms", "--"])
        .args(env.ssh_args("alpha"));
    let run = run(command);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json()["state"], "unreachable");
    assert_eq!(run.json()["action"], "reset");
}

#[test]
fn a_bad_probe_mode_is_a_usage_error() {
    let env = TestEnv::new();
    let mut command = env.muxguard();
    command
        .env("MUXGUARD_PROBE", "sometimes")
        .args(["check", "--"])
        .args(env.ssh_args("alpha"));
    let refused = run(command);
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("MUXGUARD_PROBE"),
        "{}",
        refused.stderr
    );

    // A silence allowance that is no duration, or out of range: one line, exit 2, and
    // `muxguard ssh` runs ssh all the same.
    for bad in ["soon", "0s", "2d"] {
        let mut command = env.muxguard();
        command
            .env("MUXGUARD_PROBE_AFTER", bad)
            .args(["check", "--"])
            .args(env.ssh_args("alpha"));
        let run = run(command);
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(
            run.stderr.starts_with("muxguard: MUXGUARD_PROBE_AFTER: "),
            "{}",
            run.stderr
        );
    }
    let mut command = env.muxguard();
    command
        .env("MUXGUARD_PROBE_AFTER", "soon")
        .arg("ssh")
        .args(env.ssh_args("alpha"))
        .args(["echo", "ran"]);
    let ran = run(command);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.stdout, "ran\n");
}

#[test]
fn a_master_that_asks_for_confirmation_is_not_probed() {
    let env = TestEnv::with_extra_config("Host asking\n  ControlMaster autoask\n");
    let master = env.start_master("asking");
    let run = check_json(&env, &["--probe"], "asking");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["state"], "live");
    assert_eq!(json["pid"], master.pid);
    assert_eq!(json["round_trip_ms"], Value::Null);
    assert!(
        json["detail"].as_str().unwrap().contains("not probed"),
        "{json}"
    );
    assert_eq!(probes_seen_by_server(&env), 0);
}
