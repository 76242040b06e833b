//! `muxguard watch`: in a network namespace of the test's own, with its own sshd on that
//! namespace's loopback, a change of network ends the master whose server went silent and the
//! hung one, and removes a stale socket while a healthy master is left to expire; trouble the kernel sees on
//! a link ends its master with no change of network, and the watcher's reads keep no master
//! alive; one watcher per user; SIGTERM and SIGINT end it at once.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::common::netns::Namespace;
use crate::common::{
    TestEnv, descendants, is_running, make_stale_socket, master_pid_in, output_within, wait_until,
};

/// `--timeout` of the watchers here: how long a round's probes may take.
const TIMEOUT: Duration = Duration::from_secs(1);
/// How long the watcher lets changes settle before a round (its SETTLE).
const SETTLE: Duration = Duration::from_secs(2);
/// What a loaded machine may add to any moment the tests wait for.
const SLACK: Duration = Duration::from_millis(1500);

/// A running `muxguard watch` and the lines it wrote so far.
struct Watcher {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Watcher {
    /// `muxguard watch ARGS` for `env`, inside `namespace` if given, with MUXGUARD_* `settings`.
    fn start(
        env: &TestEnv,
        namespace: Option<&Namespace>,
        settings: &[(&str, &str)],
        args: &[&str],
    ) -> Watcher {
        let program = env!("CARGO_BIN_EXE_muxguard");
        let mut command = match namespace {
            Some(namespace) => namespace.command(program),
            None => Command::new(program),
        };
        env.isolate(&mut command);
        command
            .envs(settings.iter().copied())
            .arg("--timeout")
            .arg(format!("{}ms", TIMEOUT.as_millis()))
            .arg("watch")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("muxguard watch starts");
        let lines = |from: Box<dyn Read + Send>| {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let filled = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(from).lines() {
                    let Ok(line) = line else { break };
                    filled.lock().unwrap().push(line);
                }
            });
            lines
        };
        let stdout = lines(Box::new(child.stdout.take().unwrap()));
        let stderr = lines(Box::new(child.stderr.take().unwrap()));
        Watcher {
            child,
            stdout,
            stderr,
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The JSON lines so far.
    fn events(&self) -> Vec<Value> {
        let lines = self.stdout.lock().unwrap().clone();
        lines
            .iter()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    /// Waits for the first JSON line that `wanted` accepts.
    fn event(&self, what: &str, within: Duration, wanted: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            if let Some(event) = self.events().into_iter().find(&wanted) {
                return event;
            }
            assert!(
                started.elapsed() < within,
                "no {what} within {within:?}; the watcher said:\n{}\n{}",
                self.stdout.lock().unwrap().join("\n"),
                self.stderr.lock().unwrap().join("\n"),
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for a line on stderr that contains `text`.
    fn said(&self, text: &str, within: Duration) -> String {
        let mut found = None;
        wait_until(&format!("the watcher to say {text:?}"), within, || {
            found = self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .find(|line| line.contains(text))
                .cloned();
            found.is_some()
        });
        found.unwrap()
    }

    /// Sends `signal` and waits (at most `within`) for the watcher to exit.
    fn signal_and_wait(&mut self, signal: Signal, within: Duration) -> ExitStatus {
        kill(Pid::from_raw(self.pid()), signal).unwrap();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // What it wrote last is read to the end.
                std::thread::sleep(Duration::from_millis(50));
                return status;
            }
            assert!(
                started.elapsed() < within,
                "the watcher did not end within {within:?} of {signal}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The socket line of a round of `event` for `path`, among `events`.
fn socket_in<'a>(events: &'a [Value], event: &str, path: &Path) -> Option<&'a Value> {
    events
        .iter()
        .filter(|line| line["event"] == event)
        .map(|line| &line["socket"])
        .find(|socket| socket["path"] == path.to_str().unwrap())
}

/// `ssh -F CONFIG ARGS` inside `namespace`, stdin closed.
fn ssh_inside(namespace: &Namespace, env: &TestEnv, args: &[&str]) -> Command {
    let mut command = namespace.command("ssh");
    command
        .arg("-F")
        .arg(&env.ssh_config)
        .args(args)
        .stdin(Stdio::null());
    command
}

/// A ControlPersist master for `alias` inside `namespace`, not the test's child: its pid.
fn persist_master(namespace: &Namespace, env: &TestEnv, alias: &str, persist: u32) -> i32 {
    let persist = format!("ControlPersist={persist}");
    let made = output_within(
        &mut ssh_inside(namespace, env, &["-o", &persist, alias, "true"]),
        Duration::from_secs(15),
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let pid = master_pid(namespace, env, alias).unwrap_or_else(|| panic!("no master for {alias}"));
    env.track_pid(pid);
    pid
}

/// `ssh -O check` inside `namespace`: the pid of the master for `alias`, if one answers.
fn master_pid(namespace: &Namespace, env: &TestEnv, alias: &str) -> Option<i32> {
    master_pid_in(&output_within(
        &mut ssh_inside(namespace, env, &["-O", "check", alias]),
        Duration::from_secs(15),
    ))
}

/// A master in the foreground of a terminal of its own (`script`), as a user's first `ssh
/// host` is, inside `namespace`: its pid.
fn master_in_a_terminal(namespace: &Namespace, env: &TestEnv, alias: &str) -> i32 {
    let line = format!(
        "ip netns exec {} ssh -F {} -M -N -o ControlPersist=no {alias}",
        namespace.name,
        env.ssh_config.display()
    );
    let mut script = Command::new("script");
    script
        .args(["-qfec", &line, "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    namespace.spawn(&mut script);
    let mut pid = None;
    wait_until(
        "the master in a terminal to answer",
        Duration::from_secs(10),
        || {
            pid = master_pid(namespace, env, alias);
            pid.is_some()
        },
    );
    let pid = pid.unwrap();
    env.track_pid(pid);
    pid
}

/// Stops (SIGSTOP) every server-side process of `sshd`'s connections so far: their masters'
/// links go silent while TCP stays up.
fn silence_the_server(sshd: i32) {
    let sessions = descendants(sshd);
    assert!(!sessions.is_empty(), "no connection to the server");
    for pid in sessions {
        kill(Pid::from_raw(pid), Signal::SIGSTOP).unwrap();
    }
}

/// The test's way in: a namespace with its own sshd on its loopback, or `None` (said) where
/// namespaces cannot be made.
fn namespace_with_sshd(test: &str, env: &TestEnv) -> Option<(Namespace, i32)> {
    if !Namespace::possible(test) {
        return None;
    }
    let namespace = Namespace::new()?;
    let sshd = namespace.start_sshd(env, "127.0.0.1");
    Some((namespace, sshd))
}

#[test]
fn a_network_change_ends_the_master_whose_server_went_silent() {
    let env = TestEnv::with_extra_config("Host alpha gamma\n  ServerAliveInterval 0\n");
    let test = "a_network_change_ends_the_master_whose_server_went_silent";
    let Some((namespace, sshd)) = namespace_with_sshd(test, &env) else {
        return;
    };
    let dead = persist_master(&namespace, &env, "alpha", 60);
    silence_the_server(sshd);
    // A hung master: the master itself stopped.
    let hung = persist_master(&namespace, &env, "beta", 60);
    kill(Pid::from_raw(hung), Signal::SIGSTOP).unwrap();
    // And one suspended in a terminal (Ctrl-Z): its user will resume it.
    let suspended = master_in_a_terminal(&namespace, &env, "nomaster");
    kill(Pid::from_raw(suspended), Signal::SIGSTOP).unwrap();
    let (dead_path, healthy_path) = (env.control_path("alpha"), env.control_path("gamma"));

    let config = env.ssh_config.to_str().unwrap();
    let cm_dir = env.cm_dir.to_str().unwrap();
    let watcher = Watcher::start(
        &env,
        Some(&namespace),
        &[],
        &["--json", "-F", config, "--dir", cm_dir],
    );
    watcher.event("the start", Duration::from_secs(5), |e| {
        e["event"] == "started"
    });
    // Its first read of the links is done at once: the socket comes after it.
    std::thread::sleep(Duration::from_millis(500));
    let stale = env.cm_dir.join("stale-socket");
    make_stale_socket(&stale);
    // Between events nothing happens: the silent server's master sent nothing unanswered.
    std::thread::sleep(Duration::from_secs(1));
    assert!(is_running(dead), "{:?}", watcher.events());

    // A loopback address is no change of network.
    namespace.ip(&["addr", "add", "127.0.0.9/8", "dev", "lo"]);
    std::thread::sleep(SETTLE + TIMEOUT + SLACK);
    assert!(
        !watcher
            .events()
            .iter()
            .any(|e| e["event"] == "network-changed"),
        "{:?}",
        watcher.events()
    );
    assert!(is_running(dead) && is_running(hung));
    // A healthy master, made now so that its ControlPersist (6 s) outlasts the round.
    let healthy = persist_master(&namespace, &env, "gamma", 6);
    // A new interface with an address (a documentation address: no packet goes to it).
    namespace.ip(&["link", "add", "mg0", "type", "veth", "peer", "name", "mg1"]);
    namespace.ip(&["addr", "add", "192.0.2.1/24", "dev", "mg0"]);
    let changed = Instant::now();

    let round = watcher.event("the round", SETTLE + TIMEOUT * 2 + SLACK, |e| {
        e["event"] == "network-changed" && e["why"].is_string()
    });
    let took = changed.elapsed();
    wait_until("the dead and the hung master to be gone", SLACK, || {
        !is_running(dead) && !is_running(hung)
    });
    let bound = SETTLE + TIMEOUT + SLACK;
    assert!(took < bound, "the round ended {took:?} after the change");
    assert_eq!(round["probed"], 2, "{round}");
    assert_eq!(round["answered"], 1, "{round}");
    assert_eq!(round["ended"], 2, "{round}");
    assert_eq!(round["removed"], 1, "{round}");

    let events = watcher.events();
    let ended = socket_in(&events, "network-changed", &dead_path).expect("the dead master");
    assert_eq!(ended["action"], "reset", "{ended}");
    assert_eq!(ended["state"], "unreachable", "{ended}");
    assert_eq!(ended["probe"], "network-changed", "{ended}");
    let stopped = socket_in(&events, "network-changed", &env.control_path("beta")).unwrap();
    assert_eq!(stopped["action"], "reset", "{stopped}");
    assert_eq!(stopped["state"], "hung", "{stopped}");
    let suspended_path = env.control_path("nomaster");
    assert!(socket_in(&events, "network-changed", &suspended_path).is_none());
    assert!(
        is_running(suspended),
        "the master suspended in a terminal was ended"
    );
    let kept = socket_in(&events, "network-changed", &healthy_path).expect("the healthy one");
    assert_eq!(kept["action"], "kept", "{kept}");
    assert_eq!(kept["state"], "live", "{kept}");
    let removed = socket_in(&events, "network-changed", &stale).expect("the stale socket");
    assert_eq!(removed["action"], "removed", "{removed}");
    assert!(!stale.exists());

    // Plain ssh, no muxguard in the way, gets through at once.
    let started = Instant::now();
    let plain = output_within(
        &mut ssh_inside(&namespace, &env, &["alpha", "true"]),
        Duration::from_secs(15),
    );
    assert!(plain.status.success(), "{plain:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{plain:?}");

    // The healthy master was proved once, and its ControlPersist (6 s) runs out all the same.
    let persist = Duration::from_secs(6);
    wait_until("the healthy master to expire", persist + SLACK * 2, || {
        !is_running(healthy)
    });
    assert!(
        changed.elapsed() > persist,
        "it ended before its ControlPersist ran out"
    );
}

#[test]
fn trouble_the_kernel_sees_ends_a_master_and_reads_keep_none_alive() {
    // alpha sends a keepalive every second and would give up on its own only after 1,000.
    let env = TestEnv::with_extra_config(
        "Host alpha\n  ServerAliveInterval 1\n  ServerAliveCountMax 1000\n\
         Host gamma\n  ServerAliveInterval 0\n",
    );
    let test = "trouble_the_kernel_sees_ends_a_master_and_reads_keep_none_alive";
    let Some((namespace, sshd)) = namespace_with_sshd(test, &env) else {
        return;
    };
    // Allowed 2 s of silence, the watcher reads the links every second.
    let watcher = Watcher::start(
        &env,
        Some(&namespace),
        &[("MUXGUARD_PROBE_AFTER", "2s")],
        &["--json", "-F", env.ssh_config.to_str().unwrap()],
    );
    watcher.event("the start", Duration::from_secs(5), |e| {
        e["event"] == "started"
    });
    let troubled = persist_master(&namespace, &env, "alpha", 60);
    silence_the_server(sshd);
    let silenced = Instant::now();
    // Idle, its server silent as any idle master's: no reason to connect to it.
    let idle = persist_master(&namespace, &env, "gamma", 3);

    let round = watcher.event("the round", Duration::from_secs(10), |e| {
        e["event"] == "link-trouble" && e["why"].is_string()
    });
    assert!(
        silenced.elapsed() > Duration::from_secs(2),
        "before the server was silent for 2 s: {round}"
    );
    assert_eq!(round["probed"], 1, "{round}");
    assert_eq!(round["ended"], 1, "{round}");
    let events = watcher.events();
    let ended = socket_in(&events, "link-trouble", &env.control_path("alpha")).unwrap();
    assert_eq!(ended["probe"], "server-silent", "{ended}");
    assert_eq!(ended["state"], "unreachable", "{ended}");
    wait_until("the troubled master to be gone", SLACK, || {
        !is_running(troubled)
    });

    // Read every second, and never connected to (below), the idle master still expires when
    // its ControlPersist (3 s) runs out.
    wait_until(
        "the idle master to expire",
        Duration::from_secs(3) + SLACK * 2,
        || !is_running(idle),
    );
    let gamma = env.control_path("gamma");
    assert!(
        !events
            .iter()
            .any(|e| e["socket"]["path"] == gamma.to_str().unwrap()),
        "the idle master was connected to: {events:?}"
    );
}

#[test]
fn one_watcher_per_user_and_signals_end_it_at_once() {
    let env = TestEnv::new();
    let mut first = Watcher::start(&env, None, &[], &[]);
    let started = first.said("watching", Duration::from_secs(5));
    assert!(
        started.contains(&format!("pid {}", first.pid())),
        "{started}"
    );

    let mut second = env.muxguard();
    second.arg("watch");
    let refused = output_within(&mut second, Duration::from_secs(5));
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.contains("another muxguard watch") && said.contains(&first.pid().to_string()),
        "{said}"
    );

    let status = first.signal_and_wait(Signal::SIGTERM, Duration::from_millis(500));
    assert_eq!(status.code(), Some(0));
    first.said("muxguard: watch stopped by SIGTERM", Duration::from_secs(1));

    // The lock went with it.
    let mut third = Watcher::start(&env, None, &[], &["--json"]);
    third.event("the start", Duration::from_secs(5), |e| {
        e["event"] == "started"
    });
    let status = third.signal_and_wait(Signal::SIGINT, Duration::from_millis(500));
    assert_eq!(status.code(), Some(0));
    let last = third.events().pop().unwrap();
    assert_eq!(last["event"], "stopped", "{last}");
    assert_eq!(last["signal"], "SIGINT", "{last}");
}

/// With XDG_STATE_HOME set to a directory that does not exist yet, the first watcher makes it
/// and holds its lock there: a second one refuses.
#[test]
fn a_missing_state_home_still_keeps_one_watcher() {
    let env = TestEnv::new();
    let state_home = env.root.join("no/state/yet");
    let settings = [("XDG_STATE_HOME", state_home.to_str().unwrap())];
    let mut first = Watcher::start(&env, None, &settings, &[]);
    first.said("watching", Duration::from_secs(5));
    let mut second = env.muxguard();
    second.env("XDG_STATE_HOME", &state_home).arg("watch");
    let refused = output_within(&mut second, Duration::from_secs(5));
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(state_home.join("muxguard/watch.lock").is_file());
    let status = first.signal_and_wait(Signal::SIGTERM, Duration::from_millis(500));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn bad_settings_and_outputs_end_it_in_one_line() {
    let env = TestEnv::new();
    let watch = |settings: &[(&str, &str)], args: &[&str]| {
        let mut command = env.muxguard();
        command
            .envs(settings.iter().copied())
            .arg("watch")
            .args(args);
        command
    };
    let bad = output_within(
        &mut watch(&[("MUXGUARD_PROBE_AFTER", "soon")], &[]),
        Duration::from_secs(5),
    );
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    let said = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(said.contains("MUXGUARD_PROBE_AFTER"), "{said}");

    // Its JSON reader gone, before the first line or after it (`watch --json | head -n 1`),
    // through a pipe or a socket: it ends at once, quietly, not at the next line it would write.
    for read_first in [false, true] {
        let mut gone = watch(&[], &["--json"]);
        gone.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = gone.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        if read_first {
            let mut first = String::new();
            BufReader::new(stdout).read_line(&mut first).unwrap();
            assert!(first.contains("\"started\""), "{first}");
        } else {
            drop(stdout);
        }
        let (status, said) = ended(child);
        assert_eq!(status.code(), Some(0), "read the first line: {read_first}");
        assert_eq!(said, "", "read the first line: {read_first}");
    }
    let (reader, writer) = UnixStream::pair().unwrap();
    let mut gone = watch(&[], &["--json"]);
    gone.stdout(OwnedFd::from(writer)).stderr(Stdio::piped());
    let child = gone.spawn().unwrap();
    drop(gone);
    let mut first = String::new();
    BufReader::new(&reader).read_line(&mut first).unwrap();
    assert!(first.contains("\"started\""), "{first}");
    drop(reader);
    let (status, said) = ended(child);
    assert_eq!(
        status.code(),
        Some(0),
        "a socket's reader went away: {said}"
    );

    // A stdout that cannot be written to (a closed one is /dev/null to a Rust program): one
    // line, exit 1.
    let mut full = watch(&[], &["--json"]);
    let dev_full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    full.stdout(dev_full).stderr(Stdio::piped());
    let (status, said) = ended(full.spawn().unwrap());
    assert_eq!(status.code(), Some(1), "{said}");
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(said.contains("cannot write the output"), "{said}");
}

/// How `child` exited, within 5 s, and what it said on stderr.
fn ended(mut child: Child) -> (ExitStatus, String) {
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!("it kept running");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut said = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut said)
        .unwrap();
    (status, said)
}

/// A config that cannot be read at the start is refused (exit 2); one that breaks while the
/// watcher runs (being edited) is said once, and the watcher goes on.
#[test]
fn a_config_that_breaks_while_watching_is_said_once() {
    let env = TestEnv::new();
    let missing = env.root.join("no-such-config");
    let mut command = env.muxguard();
    command.args(["watch", "-F"]).arg(&missing);
    let refused = output_within(&mut command, Duration::from_secs(5));
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");

    let config = env.ssh_config.to_str().unwrap();
    let mut watcher = Watcher::start(
        &env,
        None,
        &[("MUXGUARD_PROBE_AFTER", "2s")],
        &["--json", "-F", config],
    );
    watcher.event("the start", Duration::from_secs(5), |e| {
        e["event"] == "started"
    });
    let aside = env.root.join("config-aside");
    std::fs::rename(&env.ssh_config, &aside).unwrap();
    let said = watcher.event("the failure", Duration::from_secs(5), |e| {
        e["event"] == "cannot-look"
    });
    assert!(
        said["why"]
            .as_str()
            .unwrap()
            .contains("cannot read ssh config"),
        "{said}"
    );
    // Read every second: three more reads fail the same way, unsaid.
    std::thread::sleep(Duration::from_secs(3));
    let failures = watcher
        .events()
        .iter()
        .filter(|e| e["event"] == "cannot-look")
        .count();
    assert_eq!(failures, 1, "{:?}", watcher.events());
    assert!(watcher.child.try_wait().unwrap().is_none(), "it went on");
    // Mended, then broken again: said again.
    std::fs::rename(&aside, &env.ssh_config).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    std::fs::rename(&env.ssh_config, &aside).unwrap();
    wait_until("the second failure", Duration::from_secs(5), || {
        let events = watcher.events();
        events
            .iter()
            .filter(|e| e["event"] == "cannot-look")
            .count()
            == 2
    });
    std::fs::rename(&aside, &env.ssh_config).unwrap();
    let status = watcher.signal_and_wait(Signal::SIGTERM, Duration::from_millis(500));
    assert_eq!(status.code(), Some(0));
}

/// A master stopped for longer than MUXGUARD_PROBE_AFTER is ended between events: git, Ansible
/// and TRAMP would wait on it for ever. One its user suspended in a terminal is left alone.
#[test]
fn a_master_stopped_too_long_is_ended_but_not_one_suspended_in_a_terminal() {
    let env = TestEnv::new();
    let test = "a_master_stopped_too_long_is_ended_but_not_one_suspended_in_a_terminal";
    let Some((namespace, _)) = namespace_with_sshd(test, &env) else {
        return;
    };
    let hung = persist_master(&namespace, &env, "beta", 60);
    kill(Pid::from_raw(hung), Signal::SIGSTOP).unwrap();
    let suspended = master_in_a_terminal(&namespace, &env, "nomaster");
    kill(Pid::from_raw(suspended), Signal::SIGSTOP).unwrap();

    let config = env.ssh_config.to_str().unwrap();
    let settings = [("MUXGUARD_PROBE_AFTER", "2s")];
    let watcher = Watcher::start(&env, Some(&namespace), &settings, &["--json", "-F", config]);
    let started = Instant::now();
    let round = watcher.event(
        "the round for the stopped master",
        Duration::from_secs(8),
        |e| e["event"] == "hung" && e["ended"] == 1,
    );
    assert!(started.elapsed() >= Duration::from_secs(2), "{round}");
    wait_until("the stopped master to end", SLACK, || !is_running(hung));
    let events = watcher.events();
    let ended = socket_in(&events, "hung", &env.control_path("beta")).expect("the stopped one");
    assert_eq!(ended["action"], "reset", "{ended}");
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        is_running(suspended),
        "the master suspended in a terminal was ended: {:?}",
        watcher.events()
    );
}
