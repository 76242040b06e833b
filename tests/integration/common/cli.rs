//! Running the muxguard binary and reading what it says.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// What one run of muxguard did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

/// Runs muxguard in the test environment with these arguments.
pub fn muxguard<S: AsRef<std::ffi::OsStr>>(env: &super::TestEnv, args: &[S]) -> Run {
    let mut command = env.muxguard();
    command.args(args);
    run(command)
}

/// `check --json`, with the environment's ssh config, for `alias`, plus `extra` options.
pub fn check_json(env: &super::TestEnv, extra: &[&str], alias: &str) -> Run {
    let mut args: Vec<String> = vec!["check".into(), "--json".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push("--".into());
    args.extend(env.ssh_args(alias));
    muxguard(env, &args)
}

/// `status --json` over the environment's ssh config, plus `extra` options.
pub fn status_json(env: &super::TestEnv, extra: &[&str]) -> Value {
    let mut args: Vec<String> = vec!["status".into(), "--json".into(), "-F".into()];
    args.push(env.ssh_config.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    let run = muxguard(env, &args);
    assert_eq!(run.code, 0, "status failed: {}", run.stderr);
    run.json()
}

pub fn run(mut command: Command) -> Run {
    let started = Instant::now();
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("muxguard runs");
    Run {
        code: status.code().expect("muxguard exited normally"),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// `COMMAND --json -F CONFIG` (clean, reset) with `args`, which must succeed: its JSON.
pub fn acting_json(env: &super::TestEnv, command: &str, args: &[&str]) -> Value {
    let mut all = vec![command, "--json", "-F", env.ssh_config.to_str().unwrap()];
    all.extend(args);
    let run = muxguard(env, &all);
    assert_eq!(run.code, 0, "{command} failed: {}", run.stderr);
    run.json()
}

/// The entries of a JSON's `sockets` in `state`.
pub fn in_state<'a>(json: &'a Value, state: &str) -> Vec<&'a Value> {
    json["sockets"]
        .as_array()
        .expect("sockets is an array")
        .iter()
        .filter(|socket| socket["state"] == state)
        .collect()
}

/// The `sockets` entry of a status JSON for `path`, if listed.
pub fn entry_for<'a>(status: &'a Value, path: &std::path::Path) -> Option<&'a Value> {
    status["sockets"]
        .as_array()
        .expect("sockets is an array")
        .iter()
        .find(|socket| socket["path"].as_str() == path.to_str())
}

/// The `sockets` entry for `path`; panics, showing the JSON, when the path is not listed.
pub fn listed<'a>(json: &'a Value, path: &std::path::Path) -> &'a Value {
    entry_for(json, path).unwrap_or_else(|| panic!("{} not listed in {json}", path.display()))
}

/// A field of the `sockets` entry for `path`, as text; panics when the path is not listed.
pub fn field_for(json: &Value, path: &std::path::Path, field: &str) -> String {
    listed(json, path)[field]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
