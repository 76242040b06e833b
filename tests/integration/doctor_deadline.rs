//! `muxguard doctor` keeps to its --timeout, which bounds the whole command, however many hosts
//! there are and however slow a `Match exec` makes each `ssh -G`.

use std::fs;
use std::time::Duration;

use crate::common::TestEnv;
use crate::common::cli::muxguard;

const HOSTS: usize = 40;

#[test]
fn a_slow_match_exec_is_cut_off_at_the_timeout_and_every_host_is_reported_not_checked() {
    let env = TestEnv::new();
    // The command writes its pid before it becomes the `sleep`, so that the environment can
    // end the sleeps that outlive the ssh -G muxguard kills.
    let pids = env.root.join("slow.pids");
    let mut text = String::new();
    for i in 0..HOSTS {
        // A setting of its own, so that no host is skipped as one that only inherits.
        text.push_str(&format!(
            "Host h{i}\n  HostName 10.0.0.{i}\n  ServerAliveInterval {}\n",
            i + 10
        ));
    }
    text.push_str(&format!(
        "Match exec \"echo $$ >> {}; exec sleep 5\"\n  ServerAliveCountMax 5\n\
         Host *\n  ControlMaster auto\n  ControlPath {}/%C\n  ControlPersist 10m\n",
        pids.display(),
        env.cm_dir.display()
    ));
    let config = env.root.join("slow_config");
    fs::write(&config, text).unwrap();

    let run = muxguard(
        &env,
        &[
            "doctor",
            "--json",
            "--timeout",
            "1s",
            "-F",
            config.to_str().unwrap(),
        ],
    );
    let started: Vec<i32> = fs::read_to_string(&pids)
        .unwrap_or_default()
        .lines()
        .map(|pid| pid.parse().unwrap())
        .collect();
    for &pid in &started {
        env.track_pid(pid);
    }
    // What ssh -G started for `Match exec` ends with it: nothing outlives the command.
    assert!(!started.is_empty(), "the Match exec commands ran");
    crate::common::wait_until(
        "the Match exec commands to end",
        Duration::from_secs(2),
        || !started.iter().any(|&pid| crate::common::is_running(pid)),
    );

    assert!(
        run.elapsed < Duration::from_millis(3500),
        "took {:?} at --timeout 1s",
        run.elapsed
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json = run.json();
    let not_checked: Vec<&serde_json::Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["code"] == "not-checked")
        .collect();
    for finding in &not_checked {
        assert_eq!(finding["severity"], "warning", "{finding}");
        let message = finding["message"].as_str().unwrap();
        assert!(message.contains("--timeout of 1s"), "{message}");
    }
    // Every alias, and the catch-all host, each with its own finding.
    let hosts: Vec<Option<&str>> = not_checked
        .iter()
        .map(|finding| finding["host"].as_str())
        .collect();
    assert_eq!(hosts.len(), HOSTS + 1, "{}", run.stdout);
    assert!(hosts.contains(&None), "{hosts:?}");
    for i in 0..HOSTS {
        assert!(hosts.contains(&Some(&format!("h{i}"))), "h{i}: {hosts:?}");
    }
    // Timed out is not "ssh rejects the configuration".
    assert!(!run.stdout.contains("ssh-rejects"), "{}", run.stdout);

    // The text says it too, host by host.
    let run = muxguard(
        &env,
        &["doctor", "--timeout", "1s", "-F", config.to_str().unwrap()],
    );
    for pid in fs::read_to_string(&pids).unwrap_or_default().lines() {
        env.track_pid(pid.parse().unwrap());
    }
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("warning  h7  not-checked: the --timeout of 1s ran out"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("warning  every host  not-checked"),
        "{}",
        run.stdout
    );
}
