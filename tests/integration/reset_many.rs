//! `muxguard reset --all` and `clean --probe` end many hung masters at once, within about one
//! --timeout, not one after another.

use std::fs;
use std::time::Duration;

use crate::common::TestEnv;
use crate::common::cli::muxguard;
use crate::common::{is_running, wait_until};
use nix::sys::signal::Signal;

const MASTERS: usize = 8;

/// Masters that are stopped and ignore SIGTERM: each takes its whole grace period and then
/// SIGKILL, the slowest way a master ends.
fn start_stubborn_masters(env: &TestEnv) -> Vec<crate::common::Master> {
    let masters: Vec<_> = (1..=MASTERS)
        .map(|i| env.start_stubborn_master(&format!("h{i}")))
        .collect();
    for master in &masters {
        master.signal(Signal::SIGSTOP);
    }
    masters
}

/// Runs muxguard with `args` at --timeout 500ms over fresh stubborn masters: it must end them
/// all, and within about the timeout.
fn end_stubborn_masters(
    env: &TestEnv,
    args: &[&str],
) -> (crate::common::cli::Run, Vec<crate::common::Master>) {
    let masters = start_stubborn_masters(env);
    let config = env.ssh_config.to_str().unwrap();
    let run = muxguard(env, &[args, &["--timeout", "500ms", "-F", config]].concat());
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    assert!(
        run.elapsed < Duration::from_millis(1500),
        "{args:?} took {:?} at --timeout 500ms:\n{}",
        run.elapsed,
        run.stdout
    );
    wait_until("every master to go", Duration::from_secs(2), || {
        masters.iter().all(|master| !is_running(master.pid))
    });
    (run, masters)
}

#[test]
fn many_hung_masters_end_together_within_the_timeout() {
    let env = TestEnv::new();
    // A ControlPath of its own for each alias: under the catch-all's %C they would share one.
    let cm = env.cm_dir.display();
    let own_paths: String = (1..=MASTERS)
        .map(|i| format!("Host h{i}\n  ControlPath {cm}/h{i}-%C\n"))
        .collect();
    let standard = fs::read_to_string(&env.ssh_config).unwrap();
    fs::write(&env.ssh_config, format!("{own_paths}{standard}")).unwrap();

    let (run, masters) = end_stubborn_masters(&env, &["reset", "--all"]);
    for master in &masters {
        assert!(!master.path.exists(), "{}", master.path.display());
    }
    // One line per master, in the order of their paths, whichever ended first.
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), MASTERS, "{}", run.stdout);
    let mut paths: Vec<String> = masters
        .iter()
        .map(|master| master.path.display().to_string())
        .collect();
    paths.sort();
    for (line, path) in lines.iter().zip(&paths) {
        assert!(
            line.starts_with(&format!("hung  {path}  killed master pid")),
            "{line} is not {path}"
        );
    }

    // clean --probe, the same way: each of them killed.
    let (run, masters) = end_stubborn_masters(&env, &["clean", "--probe", "--json"]);
    let json = run.json();
    for master in &masters {
        let entry = crate::common::cli::entry_for(&json, &master.path).expect("listed");
        assert_eq!(entry["action"], "reset", "{entry}");
        assert_eq!(entry["outcome"], "killed", "{entry}");
    }
}
