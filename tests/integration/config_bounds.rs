//! Hostile input for the config reader and the ControlPath matcher, end to end through the
//! built binary: configs that include themselves, Includes of endless or blocking files, and
//! templates whose matching used to be exponential. Each ends in milliseconds; the bound
//! asserted is generous, for a loaded machine.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::cli::entry_for;
use crate::common::{make_stale_socket, output_within};
use tempfile::TempDir;

/// Far above what any of these runs takes (milliseconds), far below what they took before
/// (minutes, or forever).
const PROMPTLY: Duration = Duration::from_secs(5);
/// When a run is killed: past `PROMPTLY` it has failed anyway.
const KILL_AFTER: Duration = Duration::from_secs(20);

/// A home and a state directory of their own, so nothing of the user's is read or written.
struct Sandbox {
    temp: TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let temp = tempfile::tempdir().unwrap();
        for dir in ["home", "state", "cm"] {
            fs::create_dir(temp.path().join(dir)).unwrap();
        }
        Sandbox { temp }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.temp.path().join(name)
    }

    /// Writes an ssh config; `{cm}` and `{self}` in it stand for the socket directory and the
    /// file's own path.
    fn config(&self, text: &str) -> PathBuf {
        let file = self.path("ssh_config");
        let text = text
            .replace("{cm}", &self.path("cm").display().to_string())
            .replace("{self}", &file.display().to_string());
        fs::write(&file, text).unwrap();
        file
    }

    /// Runs muxguard with `args`; returns what it did and how long it took.
    fn muxguard(&self, args: &[&str]) -> (Output, Duration) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_muxguard"));
        command
            .args(args)
            .env("HOME", self.path("home"))
            .env("XDG_STATE_HOME", self.path("state"))
            // Only masters of its own: the other tests' run as the same user.
            .env("MUXGUARD_TEST_SCOPE", self.temp.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        let started = Instant::now();
        let output = output_within(&mut command, KILL_AFTER);
        (output, started.elapsed())
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_config_that_includes_itself_is_refused_at_once_as_ssh_refuses_it() {
    let sandbox = Sandbox::new();
    let config = sandbox.config("ControlPath {cm}/%C\nInclude {self} {self} {self}\n");
    for command in ["status", "clean"] {
        let (output, elapsed) = sandbox.muxguard(&[command, "-F", config.to_str().unwrap()]);
        assert!(elapsed < PROMPTLY, "{command} took {elapsed:?}");
        assert_eq!(output.status.code(), Some(2), "{command}: {output:?}");
        let stderr = stderr(&output);
        assert_eq!(stderr.lines().count(), 1, "{command}: {stderr}");
        assert!(
            stderr.contains("too many recursive configuration includes"),
            "{command}: {stderr}"
        );
    }
}

#[test]
fn an_include_of_dev_zero_returns_promptly() {
    let sandbox = Sandbox::new();
    let config = sandbox.config("Include /dev/zero\nControlPath {cm}/%C\n");
    let (output, elapsed) = sandbox.muxguard(&["status", "-F", config.to_str().unwrap()]);
    assert!(elapsed < PROMPTLY, "took {elapsed:?}");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

#[test]
fn an_include_of_a_fifo_nobody_writes_returns_promptly() {
    let sandbox = Sandbox::new();
    let fifo = sandbox.path("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let config = sandbox.config(&format!(
        "Include {}\nControlPath {{cm}}/%C\n",
        fifo.display()
    ));
    let (output, elapsed) = sandbox.muxguard(&["status", "-F", config.to_str().unwrap()]);
    assert!(elapsed < PROMPTLY, "took {elapsed:?}");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

#[test]
fn twenty_adjacent_tokens_against_long_names_match_promptly() {
    let sandbox = Sandbox::new();
    let cm = sandbox.path("cm");
    let config = sandbox.config(&format!("ControlPath {{cm}}/{}Z\n", "%h".repeat(20)));
    // Names that almost match: every way of cutting them into 20 host names is tried and
    // fails at the last character: over 10^28 ways for a backtracking matcher.
    for letter in ["a", "b", "c", "d", "e"] {
        fs::write(cm.join(letter.repeat(250)), "").unwrap();
    }
    // And one that matches, so the template is known to be read at all.
    let socket = cm.join(format!("{}Z", "h".repeat(20)));
    make_stale_socket(&socket);

    let (output, elapsed) = sandbox.muxguard(&[
        "status",
        "--json",
        "--dir",
        cm.to_str().unwrap(),
        "-F",
        config.to_str().unwrap(),
    ]);
    assert!(elapsed < PROMPTLY, "took {elapsed:?}");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let entry = entry_for(&status, &socket).unwrap_or_else(|| panic!("not listed: {status}"));
    assert_eq!(entry["state"], "stale", "{status}");
    assert_eq!(status["sockets"].as_array().unwrap().len(), 1, "{status}");
}
