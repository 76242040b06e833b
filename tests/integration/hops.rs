//! Hosts behind a jump host (ProxyJump, or a ProxyCommand that runs `ssh -W`): the hop's master
//! is checked, and repaired, before the destination's, first hop first.

use std::time::{Duration, Instant};

use crate::common::TestEnv;
use crate::common::cli::{check_json, muxguard};
use crate::common::{is_running, output_within, wait_until};
use nix::sys::signal::Signal;
use serde_json::Value;

/// `inner` has a master of its own behind `beta`; `behind` has none; `twice` goes through
/// `alpha`, then `beta`; `by-command` reaches beta by a ProxyCommand; `loop-a` and `loop-b`
/// jump to each other.
fn env_with_hops() -> TestEnv {
    TestEnv::with_extra_config(
        "Host inner\n  ProxyJump beta\n\
         Host behind\n  ControlPath none\n  ProxyJump beta\n\
         Host twice\n  ControlPath none\n  ProxyJump alpha,beta\n\
         Host by-command\n  ControlPath none\n  ProxyCommand ssh -F /nonexistent/ssh_config -W %h:%p beta\n\
         Host loop-a\n  ProxyJump loop-b\nHost loop-b\n  ProxyJump loop-a\n",
    )
}

fn hops(json: &Value) -> Vec<(String, String)> {
    json["hops"]
        .as_array()
        .unwrap_or_else(|| panic!("no hops in {json}"))
        .iter()
        .map(|hop| {
            (
                hop["alias"].as_str().unwrap_or_default().to_string(),
                hop["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn check_names_each_jump_host_first_hop_first() {
    let env = env_with_hops();
    let bastion = env.start_persist_master("beta");

    let direct = check_json(&env, &[], "alpha").json();
    assert_eq!(direct["hops"], serde_json::json!([]), "{direct}");

    let inner = check_json(&env, &[], "inner").json();
    assert_eq!(inner["state"], "absent", "{inner}");
    assert_eq!(hops(&inner), [("beta".into(), "live".into())], "{inner}");
    assert_eq!(inner["hops"][0]["path"], bastion.path.to_str().unwrap());
    assert_eq!(inner["hops"][0]["pid"], bastion.pid);

    let behind = check_json(&env, &[], "behind").json();
    assert_eq!(behind["state"], "disabled", "{behind}");
    assert_eq!(hops(&behind), [("beta".into(), "live".into())]);

    // ssh runs `ssh -J alpha beta -W ...`: alpha is reached first, then beta through it.
    let twice = check_json(&env, &[], "twice").json();
    assert_eq!(
        hops(&twice),
        [
            ("alpha".into(), "absent".into()),
            ("beta".into(), "live".into())
        ],
        "{twice}"
    );

    // A ProxyCommand's ssh is followed with its own options (here a config that is not
    // there): the hop is not checked, and the check says why.
    let by_command = check_json(&env, &[], "by-command");
    assert_eq!(by_command.code, 0, "{}", by_command.stderr);
    let by_command = by_command.json();
    assert_eq!(hops(&by_command), []);
    let detail = by_command["detail"].as_str().unwrap();
    assert!(
        detail.contains("jump host `-F /nonexistent/ssh_config beta` not checked"),
        "{detail}"
    );

    // The table says which line is the jump host's.
    let table = muxguard(
        &env,
        &["check", "-F", env.ssh_config.to_str().unwrap(), "inner"],
    );
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", table.stdout);
    assert!(
        lines[0].starts_with("live") && lines[0].contains("(jump host)"),
        "{lines:?}"
    );
    assert!(lines[1].starts_with("absent"), "{lines:?}");
}

/// ssh itself would start ssh after ssh for ever; the check stops where the chain comes back.
#[test]
fn jump_hosts_that_loop_are_followed_once_around() {
    let env = env_with_hops();
    let run = check_json(&env, &[], "loop-a");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json = run.json();
    assert_eq!(
        hops(&json),
        [
            ("loop-a".into(), "absent".into()),
            ("loop-b".into(), "absent".into())
        ],
        "{json}"
    );
    let detail = json["detail"].as_str().unwrap();
    assert!(detail.contains("loop back to"), "{detail}");
}

/// A stopped bastion master hangs every ssh behind it: the `ssh -W` that ProxyJump runs is its
/// mux client (OpenSSH before 9.4 waits for ever; later ones for ConnectTimeout, 5 s here).
/// `check` says the hop is hung (exit 1), and `muxguard ssh` ends it and gets through, for a
/// host with no master of its own and for one with a master behind it.
#[test]
fn a_hung_jump_host_is_ended_before_ssh_goes_through_it() {
    let env = env_with_hops();
    for alias in ["behind", "inner"] {
        let bastion = env.start_persist_master("beta");
        bastion.signal(Signal::SIGSTOP);
        let run = check_json(&env, &[], alias);
        assert_eq!(run.code, 1, "the hop is broken: {}", run.stdout);
        assert_eq!(hops(&run.json()), [("beta".into(), "hung".into())]);

        let mut command = env.muxguard();
        command
            .arg("ssh")
            .args(env.ssh_args(alias))
            .args(["echo", "ALIVE"]);
        let started = Instant::now();
        let output = output_within(&mut command, Duration::from_secs(20));
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.stdout, b"ALIVE\n", "{alias}: {stderr}");
        assert!(
            took < Duration::from_secs(4),
            "{alias} took {took:?}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("hung {}", bastion.path.display())),
            "{stderr}"
        );
        wait_until("the hung bastion to end", Duration::from_secs(5), || {
            !is_running(bastion.pid)
        });
    }
}

/// A master behind a jump host holds no TCP connection: `status` follows its `ssh -W` to the
/// jump host's master that carries it, says so in `via` (and "via ALIAS" in the table), and
/// shows that master's connection. So too when the `ssh -W` itself became the jump host's
/// master (there was none when the inner one was made).
#[test]
fn status_shows_which_jump_host_carries_a_master() {
    let env = env_with_hops();
    let bastion = env.start_persist_master("beta");
    let inner = env.start_persist_master("inner");
    let status = crate::common::cli::status_json(&env, &[]);
    let entry = crate::common::cli::listed(&status, &inner.path);
    assert_eq!(entry["via"], bastion.path.to_str().unwrap(), "{entry}");
    assert_eq!(entry["peer"], format!("127.0.0.1:{}", env.port), "{entry}");
    let direct = crate::common::cli::listed(&status, &bastion.path);
    assert_eq!(direct["via"], Value::Null, "{direct}");

    // Named by its alias once a check has resolved it, as every socket is.
    let status = || muxguard(&env, &["status", "-F", env.ssh_config.to_str().unwrap()]);
    let table = status();
    assert!(
        table.stdout.contains("via root@127.0.0.1:"),
        "{}",
        table.stdout
    );
    assert_eq!(check_json(&env, &[], "beta").code, 0);
    let table = status();
    let row = table
        .stdout
        .lines()
        .find(|line| line.contains(inner.path.to_str().unwrap()))
        .expect("a row for the inner master");
    assert!(row.contains("via beta"), "{}", table.stdout);

    // With no bastion master, the inner master's `ssh -W` becomes it.
    let env = env_with_hops();
    let inner = env.start_persist_master("inner");
    let status = crate::common::cli::status_json(&env, &[]);
    let entry = crate::common::cli::listed(&status, &inner.path);
    assert_eq!(
        entry["via"],
        env.control_path("beta").to_str().unwrap(),
        "{entry}"
    );
}
