//! Promises under hostile input: a timeout that rounds to nothing, a listener that lies about
//! being a master, arguments that are not text, a command line muxguard refuses, stdout closed
//! or full or never read, names made to drive a terminal. Each test fails without its fix.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::cli::{check_json, muxguard, run, status_json};
use crate::common::users::{as_nobody, can_switch_users};
use crate::common::{TestEnv, is_running, make_stale_socket, output_within, wait_until};
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::signal::Signal;

/// A generous bound for what must be quick: far below a hang, far above a slow machine.
const QUICK: Duration = Duration::from_secs(5);

fn one_line(stderr: &str) -> &str {
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr:?}");
    stderr.trim_end()
}

#[test]
fn a_timeout_too_short_to_mean_anything_is_refused_and_the_master_lives() {
    let env = TestEnv::new();
    let master = env.start_master("alpha");
    let path = master.path.to_str().unwrap();
    for timeout in ["0.0000001ms", "0.1ms", "9ms", "0", "-1s"] {
        let mut command = env.muxguard();
        command
            .env("MUXGUARD_TIMEOUT", timeout)
            .args(["check", "--fix", "--path", path]);
        let run = run(command);
        assert_eq!(run.code, 2, "{timeout}: {}{}", run.stdout, run.stderr);
        assert!(
            one_line(&run.stderr).contains("--timeout"),
            "{}",
            run.stderr
        );
        assert!(is_running(master.pid), "{timeout} ended a healthy master");
        let run = muxguard(
            &env,
            &["--timeout", timeout, "check", "--fix", "--path", path],
        );
        assert_eq!(run.code, 2, "--timeout {timeout}: {}", run.stderr);
    }
    // The floor itself is a timeout a healthy master meets.
    let run = muxguard(
        &env,
        &["--timeout", "10ms", "check", "--json", "--path", path],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["state"], "live");
}

/// A listener of the user's own that answers HELLO and ALIVE_CHECK as a master would, naming
/// the pid of a real master: check used to believe it.
fn spawn_lying_master(path: &Path, claimed_pid: u32) -> impl Drop {
    struct Stop(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
            if let Some(thread) = self.1.take() {
                let _ = thread.join();
            }
        }
    }
    let listener = UnixListener::bind(path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = Arc::clone(&stop);
    let thread = std::thread::spawn(move || {
        while !stopping.load(Ordering::SeqCst) {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            // HELLO (12 bytes) and ALIVE_CHECK (12 bytes: length, type, request id).
            let mut request = [0u8; 24];
            if stream.read_exact(&mut request).is_err() {
                continue;
            }
            let request_id = &request[20..24];
            let mut reply = vec![0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 4];
            reply.extend_from_slice(&[0, 0, 0, 12, 0x80, 0, 0, 5]);
            reply.extend_from_slice(request_id);
            reply.extend_from_slice(&claimed_pid.to_be_bytes());
            let _ = stream.write_all(&reply);
        }
    });
    Stop(stop, Some(thread))
}

#[test]
fn a_listener_that_lies_about_being_a_master_is_foreign_to_check_as_to_status() {
    let env = TestEnv::new();
    let real = env.start_master("gamma");
    let path = env.control_path("alpha");
    let _liar = spawn_lying_master(&path, real.pid as u32);

    let run = check_json(&env, &["--fix"], "alpha");
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let json = run.json();
    assert_eq!(json["state"], "foreign", "{json}");
    assert_eq!(json["reason"], "not-ssh", "{json}");
    assert_eq!(json["action"], "none");
    assert!(path.exists(), "a foreign socket is never touched");
    assert!(is_running(real.pid), "the master it named is left alone");

    let run = muxguard(&env, &["check", "--json", "--path", path.to_str().unwrap()]);
    assert_eq!(run.json()["state"], "foreign");
    let status = status_json(&env, &[]);
    assert_eq!(
        crate::common::cli::field_for(&status, &path, "state"),
        "foreign"
    );
    // And the real master is still what it is.
    let run = check_json(&env, &[], "gamma");
    assert_eq!(run.json()["state"], "live");
    assert_eq!(run.json()["pid"], real.pid);
}

#[test]
fn ssh_gets_every_argument_unchanged_even_when_it_is_not_text() {
    let env = TestEnv::new();
    let mut command = env.muxguard();
    command
        .arg("ssh")
        .args(env.ssh_args("alpha"))
        .arg("-o")
        .arg(OsString::from_vec(b"SetEnv=X=\xff".to_vec()))
        .arg("echo")
        .arg(OsString::from_vec(b"through-\xfe".to_vec()));
    let output = output_within(&mut command, QUICK * 3);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, b"through-\xfe\n");
    // check takes such arguments too, and tells what it found.
    let master = env.start_master("alpha");
    let mut command = env.muxguard();
    command
        .args(["check", "--json", "--"])
        .args(env.ssh_args("alpha"))
        .arg("-o")
        .arg(OsString::from_vec(b"SetEnv=X=\xff".to_vec()));
    let run = run(command);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["state"], "live");
    assert_eq!(run.json()["pid"], master.pid);
}

/// A destination that is not UTF-8 (ssh takes any bytes, and `ssh -G` prints them back) is
/// named with `\xNN` escapes in text output and with U+FFFD in JSON: never a U+FFFD in text,
/// where it would stand for a byte that is not there.
#[test]
fn a_destination_that_is_not_text_is_named_with_escapes() {
    let env = TestEnv::new();
    let host = || OsString::from_vec(b"odd-\xff\xfe".to_vec());
    let mut command = env.muxguard();
    command
        .arg("check")
        .args(&env.ssh_args("alpha")[..2])
        .arg(host());
    let text = run(command);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("odd-\\xff\\xfe"), "{}", text.stdout);
    assert!(!text.stdout.contains('\u{fffd}'), "{}", text.stdout);
    let mut command = env.muxguard();
    command
        .args(["check", "--json"])
        .args(&env.ssh_args("alpha")[..2])
        .arg(host());
    let json = run(command);
    assert_eq!(
        json.json()["alias"],
        "odd-\u{fffd}\u{fffd}",
        "{}",
        json.stdout
    );
}

#[test]
fn ssh_runs_even_when_muxguard_refuses_its_own_settings() {
    let env = TestEnv::new();
    for (name, value) in [("MUXGUARD_TIMEOUT", "bogus"), ("MUXGUARD_PROBE", "bogus")] {
        let mut command = env.muxguard();
        command
            .env(name, value)
            .arg("ssh")
            .args(env.ssh_args("alpha"))
            .args(["echo", "ran"]);
        let output = output_within(&mut command, QUICK * 3);
        assert!(
            output.status.success(),
            "{name}={value}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.stdout, b"ran\n", "{name}={value}");
    }
    // Through the one-word link as well, with a bad --timeout of muxguard's own.
    let link = env.root.join("muxguard-ssh");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_muxguard"), &link).unwrap();
    let mut command = Command::new(&link);
    env.isolate(&mut command);
    command
        .env("MUXGUARD_TIMEOUT", "5h")
        .args(env.ssh_args("alpha"))
        .args(["echo", "ran"]);
    let output = output_within(&mut command, QUICK * 3);
    assert_eq!(output.stdout, b"ran\n");
}

#[test]
fn ssh_options_that_open_no_session_never_touch_the_master() {
    let env = TestEnv::new();
    let master = env.start_persist_master("alpha");
    master.signal(Signal::SIGSTOP);

    // git runs this to learn what ssh it has, with stderr thrown away.
    let mut command = env.muxguard();
    command
        .env("MUXGUARD_TIMEOUT", "500ms")
        .arg("ssh")
        .args(env.ssh_args("alpha"))
        .arg("-G");
    let output = output_within(&mut command, QUICK);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("controlpath "));
    let mut command = env.muxguard();
    command.args(["ssh", "-V"]);
    let output = output_within(&mut command, QUICK);
    assert!(String::from_utf8_lossy(&output.stderr).contains("OpenSSH"));
    assert!(is_running(master.pid), "-G ended a stopped master");

    // -O addresses the master itself: ssh gets it as it is (and waits on the stopped master
    // until it is killed here), muxguard ends nothing.
    let link = env.root.join("muxguard-ssh");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_muxguard"), &link).unwrap();
    let mut command = Command::new(&link);
    env.isolate(&mut command);
    command
        .env("MUXGUARD_TIMEOUT", "200ms")
        .args(env.ssh_args("alpha"))
        .args(["-O", "check"]);
    let output = output_within(&mut command, Duration::from_secs(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("No such file"), "{stderr}");
    assert!(is_running(master.pid), "-O check ended a stopped master");
    assert!(master.path.exists());
    master.signal(Signal::SIGCONT);
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    let env = TestEnv::new();
    let cases: &[&[&str]] = &[
        &[],
        &["frobnicate"],
        &["status", "--bogus"],
        &["check"],
        &["check", "--path"],
        &["reset"],
        &["completions"],
        &["completions", "tcsh"],
        &["clean", "--json", "--quiet"],
        &["--timeout", "fast", "status"],
        &["status", "--dir", "/nonexistent/muxguard"],
    ];
    for args in cases {
        let run = muxguard(&env, args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        let line = one_line(&run.stderr);
        assert!(line.starts_with("muxguard: "), "{line}");
        assert!(line.contains("--help'"), "{args:?} names the help: {line}");
    }
    let run = muxguard(&env, &["status", "--bogus"]);
    assert!(
        run.stderr.contains("'muxguard status --help'"),
        "{}",
        run.stderr
    );
    // Asking for help is not an error.
    let run = muxguard(&env, &["--help"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("Usage"));
}

/// A pipe whose reading end is already closed: `muxguard ... | head -0`.
fn closed_pipe() -> OwnedFd {
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    write
}

/// Every subcommand that prints, with the arguments that make it print.
fn printing_commands(env: &TestEnv, stale: &Path) -> Vec<Vec<String>> {
    let config = env.ssh_config.display().to_string();
    let stale = stale.display().to_string();
    let mut alpha = vec!["--".to_string()];
    alpha.extend(env.ssh_args("alpha"));
    [
        vec!["status", "-F", &config],
        vec!["status", "--json", "-F", &config],
        vec!["clean", "--dry-run", "-F", &config],
        vec!["clean", "--json", "--dry-run", "-F", &config],
        vec!["check", "--path", &stale],
        vec!["check", "--json", "--path", &stale],
        vec!["reset", "--path", &stale],
        vec!["doctor", "-F", &config],
        vec!["doctor", "--json", "-F", &config],
        vec!["init", "bash"],
        vec!["init", "fish"],
        vec!["completions", "bash"],
        vec!["completions", "zsh"],
        vec!["man"],
        vec!["--help"],
        vec!["check", "--help"],
        vec!["--version"],
    ]
    .into_iter()
    .map(|args| args.into_iter().map(str::to_string).collect())
    .chain([[vec!["check".to_string()], alpha].concat()])
    .collect()
}

#[test]
fn a_closed_or_full_stdout_is_never_a_panic() {
    let env = TestEnv::new();
    let stale = env.cm_dir.join("stale-sock");
    for args in printing_commands(&env, &stale) {
        make_stale_socket(&stale);
        for (how, stdout) in [
            ("closed", Stdio::from(closed_pipe())),
            ("full", Stdio::from(File::create("/dev/full").unwrap())),
        ] {
            let mut command = env.muxguard();
            command.args(&args).stdout(stdout);
            let run = run(command);
            assert_ne!(
                run.code, 101,
                "{args:?} with a {how} stdout panicked: {}",
                run.stderr
            );
            assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
            match how {
                // The reader went away: nothing to say, and the command's own status stands.
                "closed" => assert!(run.stderr.lines().count() <= 1, "{args:?}: {}", run.stderr),
                _ => {
                    assert_eq!(run.code, 1, "{args:?} with a full stdout: {}", run.stderr);
                    assert!(
                        run.stderr.contains("cannot write the output"),
                        "{args:?}: {}",
                        run.stderr
                    );
                }
            }
        }
        let _ = std::fs::remove_file(&stale);
    }
    // `| true`, the reader gone at any moment, through a real shell pipeline.
    for args in printing_commands(&env, &stale) {
        let mut command = Command::new("sh");
        env.isolate(&mut command);
        command
            .arg("-c")
            .arg(r#""$0" "$@" | true"#)
            .arg(env!("CARGO_BIN_EXE_muxguard"))
            .args(&args);
        let run = run(command);
        assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn names_made_to_drive_a_terminal_are_escaped_in_text_output() {
    let env = TestEnv::new();
    let hostile = env.cm_dir.join("evil\x1b]0;pwned\x07\x1b[2J");
    make_stale_socket(&hostile);
    let odd_bytes = env
        .cm_dir
        .join(OsString::from_vec(b"bytes-\xff\x9b31m".to_vec()));
    make_stale_socket(&odd_bytes);
    let dir = env.cm_dir.display().to_string();
    for args in [
        vec!["status", "--dir", &dir],
        vec!["clean", "--dry-run", "--dir", &dir],
        vec!["check", "--path", hostile.to_str().unwrap()],
    ] {
        let run = muxguard(&env, &args);
        let everything = format!("{}{}", run.stdout, run.stderr);
        assert!(!everything.contains('\x1b'), "{args:?}: {everything:?}");
        assert!(!everything.contains('\x07'), "{args:?}: {everything:?}");
        assert!(
            everything.contains("evil\\u{1b}]0;pwned"),
            "{args:?}: {everything:?}"
        );
    }
    let run = muxguard(&env, &["status", "--dir", &dir]);
    assert!(run.stdout.contains("bytes-\\xff\\x9b31m"), "{}", run.stdout);
    // JSON keeps the name as it is (JSON escapes by itself).
    let run = muxguard(&env, &["status", "--json", "--dir", &dir]);
    let json = run.json();
    assert!(
        json["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|socket| socket["path"].as_str() == hostile.to_str())
    );
}

/// Runs `command` with the stdio it was given until it exits (20 s at the most): its status and
/// how long it took.
fn run_to_the_end(env: &TestEnv, command: &mut Command) -> (std::process::ExitStatus, Duration) {
    let started = Instant::now();
    let mut child = command.spawn().unwrap();
    env.track_pid(child.id() as i32);
    let mut status = None;
    wait_until("muxguard to end", Duration::from_secs(20), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    (status.unwrap(), started.elapsed())
}

/// A pipe whose reader never reads: a write to it blocks once its buffer is full.
fn unread_pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe().unwrap()
}

#[test]
fn the_watchdog_ends_a_command_that_outlives_its_budget() {
    let env = TestEnv::new();
    // Output that fills a pipe's buffer many times over, to a reader that never reads.
    let dir = env.root.join("many");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..1200 {
        make_stale_socket(&dir.join(format!("socket-with-a-rather-long-name-{i:04}")));
    }
    let (reader, writer) = unread_pipe();
    let stderr = tempfile::NamedTempFile::new().unwrap();
    let mut command = env.muxguard();
    command
        .args(["--timeout", "1s", "status", "--dir", dir.to_str().unwrap()])
        .stdout(Stdio::from(writer))
        .stderr(stderr.reopen().unwrap());
    let (status, elapsed) = run_to_the_end(&env, &mut command);
    drop(reader);
    let stderr = std::fs::read_to_string(stderr.path()).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(one_line(&stderr).contains("gave up after 2s"), "{stderr}");
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(6),
        "ended after {elapsed:?}"
    );
}

/// The watchdog's timer ends with muxguard: ssh, which replaces it, runs past muxguard's budget.
#[test]
fn the_watchdog_does_not_outlive_muxguard_ssh() {
    let env = TestEnv::new();
    let mut command = env.muxguard();
    command
        .args(["--timeout", "100ms", "ssh"])
        .args(env.ssh_args("alpha"))
        .args(["sleep 1.5; echo lasted"]);
    let run = run(command);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "lasted\n");
}

#[test]
fn the_watchdog_runs_ssh_when_muxguard_ssh_is_stuck() {
    let env = TestEnv::new();
    let mut master = env.start_master("alpha");
    master.kill_and_reap();
    // A stderr whose buffer is full: muxguard's word about the stale socket it removed blocks.
    let (reader, writer) = unread_pipe();
    fcntl(&writer, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
    let mut filler = File::from(writer.try_clone().unwrap());
    while filler.write(&[b'.'; 4096]).is_ok() {}
    fcntl(&writer, FcntlArg::F_SETFL(OFlag::empty())).unwrap();

    let stdout = tempfile::NamedTempFile::new().unwrap();
    let mut command = env.muxguard();
    command
        .args(["--timeout", "1s", "ssh"])
        .args(env.ssh_args("alpha"))
        .args(["echo", "through"])
        .stdout(stdout.reopen().unwrap())
        .stderr(Stdio::from(writer));
    let (status, elapsed) = run_to_the_end(&env, &mut command);
    drop(reader);
    assert!(status.success(), "ssh ran and succeeded");
    assert_eq!(std::fs::read(stdout.path()).unwrap(), b"through\n");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[test]
fn a_sweep_that_finds_another_running_leaves_at_once() {
    use nix::fcntl::{Flock, FlockArg};
    let env = TestEnv::new();
    let stale = env.cm_dir.join("stale-sock");
    make_stale_socket(&stale);
    let dir = env.cm_dir.display().to_string();
    // Another sweep of the user's is running: it holds the lock.
    let lock_dir = env.state_dir.join("muxguard");
    std::fs::create_dir_all(&lock_dir).unwrap();
    let lock_file = File::create(lock_dir.join("sweep.lock")).unwrap();
    let held = Flock::lock(lock_file, FlockArg::LockExclusiveNonblock).unwrap();

    let run = muxguard(&env, &["clean", "-q", "--sweep", "--dir", &dir]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert!(stale.exists(), "the second sweep did nothing");
    assert!(run.elapsed < QUICK);
    // A clean the user runs is no sweep: it goes ahead.
    let run = muxguard(&env, &["clean", "-q", "--dir", &dir]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!stale.exists());

    make_stale_socket(&stale);
    drop(held);
    let run = muxguard(&env, &["clean", "-q", "--sweep", "--dir", &dir]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !stale.exists(),
        "with no other sweep running, the sweep sweeps"
    );
}

#[test]
fn a_path_that_cannot_be_inspected_is_foreign() {
    let env = TestEnv::new();
    // A name longer than any file system takes: lstat fails with ENAMETOOLONG.
    let path = env.cm_dir.join("n".repeat(300));
    let run = muxguard(&env, &["check", "--json", "--path", path.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.json()["state"], "foreign");
    assert_eq!(run.json()["reason"], "cannot-inspect");
}

/// A running master that answers no one: a client asked it for a stdio forwarding and never
/// sent the descriptors, and the master waits for them, frozen for every other client.
#[test]
fn a_running_master_that_gives_no_answer_is_hung() {
    let env = TestEnv::new();
    let master = env.start_master("alpha");
    let mut freezer = std::os::unix::net::UnixStream::connect(&master.path).unwrap();
    let mut request = vec![0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 4];
    // NEW_STDIO_FWD: type, request id, reserved "", host "127.0.0.1", port 0.
    let mut body = vec![0x10, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9];
    body.extend_from_slice(b"127.0.0.1");
    body.extend_from_slice(&[0, 0, 0, 0]);
    request.extend_from_slice(&(body.len() as u32).to_be_bytes());
    request.extend_from_slice(&body);
    freezer.write_all(&request).unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let path = master.path.to_str().unwrap();
    let run = muxguard(
        &env,
        &["check", "--json", "--timeout", "500ms", "--path", path],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    let json = run.json();
    assert_eq!(json["state"], "hung", "{json}");
    assert_eq!(json["reason"], "no-mux-answer", "{json}");
    assert_eq!(json["pid"], master.pid);
    assert!(
        run.elapsed >= Duration::from_millis(500),
        "{:?}",
        run.elapsed
    );
    assert!(is_running(master.pid), "check without --fix ends nothing");

    // Connections the frozen master never accepts fill its accept queue; then even a connect
    // is refused for now (EAGAIN), which says as much as no answer.
    let mut queued = Vec::new();
    let full = (0..1000).any(|_| {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};
        use std::os::fd::AsRawFd;
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::empty(),
            None,
        )
        .unwrap();
        fcntl(&fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
        let refused = connect(fd.as_raw_fd(), &UnixAddr::new(&master.path).unwrap()).is_err();
        queued.push(fd);
        refused
    });
    assert!(full, "the accept queue filled up");
    let run = muxguard(
        &env,
        &["check", "--json", "--timeout", "500ms", "--path", path],
    );
    let json = run.json();
    assert_eq!(json["state"], "hung", "{json}");
    assert_eq!(json["reason"], "accept-queue-full", "{json}");
    drop(queued);
    drop(freezer);
}

/// A listener on a socket file of the user's, held by a process of another user's (here
/// `nobody`): no ssh of the user's listens there, and check says so as status does.
#[test]
fn a_listener_of_another_user_on_your_socket_is_foreign() {
    if !can_switch_users("a_listener_of_another_user_on_your_socket_is_foreign") {
        return;
    }
    let env = TestEnv::new();
    let path = env.cm_dir.join("held-by-nobody");
    let listener = UnixListener::bind(&path).unwrap();
    // Handed to the child alone, which becomes nobody and holds it while it sleeps: the
    // listener itself stays close-on-exec, so that no process another test starts meanwhile
    // keeps it too.
    let listening_fd = listener.as_raw_fd();
    let mut command = Command::new("sleep");
    command.arg("30");
    // SAFETY: dup2 is async-signal-safe; nothing else runs before exec.
    unsafe {
        command.pre_exec(move || {
            // Kept across exec: dup2 onto another number clears close-on-exec, and onto the
            // same number does nothing, so then the flag is cleared by itself.
            let kept = if listening_fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(listening_fd, 3)
            };
            if kept == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    as_nobody(&mut command);
    let mut child = command.spawn().unwrap();
    env.track_pid(child.id() as i32);
    drop(listener);

    let status = status_json(&env, &["--dir", env.cm_dir.to_str().unwrap()]);
    assert_eq!(
        crate::common::cli::field_for(&status, &path, "state"),
        "foreign"
    );
    assert_eq!(
        crate::common::cli::field_for(&status, &path, "reason"),
        "no-ssh-of-yours"
    );
    let run = muxguard(
        &env,
        &[
            "check",
            "--json",
            "--timeout",
            "300ms",
            "--path",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(run.json()["state"], "foreign", "{}", run.stdout);
    assert_eq!(run.json()["reason"], "no-ssh-of-yours");
    assert!(path.exists(), "never touched");
    child.kill().unwrap();
    child.wait().unwrap();
}
