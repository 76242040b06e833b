//! The state file under hostile conditions, end to end through the built binary: links planted
//! where muxguard keeps its state, directories that are not the user's own (root running with
//! another user's HOME, as `sudo -E` does), a HOME that does not exist, and state files grown
//! far past anything muxguard writes. The cache is then used safely or not at all, and never
//! slows a run down.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::{PermissionsExt, chown, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::cli::{Run, run};
use crate::common::users::NOBODY;
use crate::common::{TestEnv, output_within};
use nix::sys::stat::Mode;
use nix::unistd::mkfifo;
use serde_json::Value;

/// A run that writes the state file if it may: `check` remembers what `ssh -G` answered and the
/// control path it resolved. `adjust` changes the environment first.
fn check(env: &TestEnv, adjust: impl FnOnce(&mut Command)) -> Run {
    let mut command = env.muxguard();
    adjust(&mut command);
    command
        .args(["check", "--json", "--"])
        .args(env.ssh_args("alpha"));
    let run = run(command);
    assert_eq!(run.code, 0, "check failed: {}", run.stderr);
    run
}

/// `status` over the environment's config.
fn status(env: &TestEnv) -> Run {
    let mut command = env.muxguard();
    command.arg("status").arg("-F").arg(&env.ssh_config);
    let run = run(command);
    assert_eq!(run.code, 0, "status failed: {}", run.stderr);
    run
}

/// The state directory under XDG_STATE_HOME, made as muxguard makes it (mode 0700).
fn make_state_dir(env: &TestEnv) -> PathBuf {
    let dir = env.state_dir.join("muxguard");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn read_state(dir: &Path) -> Value {
    serde_json::from_slice(&fs::read(dir.join("state.json")).expect("state.json written")).unwrap()
}

/// Lines of stderr about the state file.
fn state_warnings(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|line| line.contains("state.json"))
        .collect()
}

/// A `working` entry as muxguard writes them, seen at `at`.
fn working_entry(pid: u32, at: u64) -> String {
    format!(
        r#"{{"pid":{pid},"at":{at},"booted_at":{at},"boottime_ns":1000000000,"monotonic_ns":1000000000,"network":"0123456789abcdef"}}"#
    )
}

/// A state file of schema 1 with these maps (JSON object bodies, without the braces).
fn state_json(sockets: &str, resolved: &str, working: &str) -> String {
    format!(
        r#"{{"schema":1,"sockets":{{{sockets}}},"resolved":{{{resolved}}},"working":{{{working}}}}}"#
    )
}

#[test]
fn a_lock_that_is_a_symlink_is_not_followed() {
    let env = TestEnv::new();
    let dir = make_state_dir(&env);
    // As a user would link it to /etc/nologin for root to create.
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("nologin");
    symlink(&target, dir.join("state.lock")).unwrap();

    check(&env, |_| {});
    assert!(!target.exists(), "the link was followed: the target exists");
    assert!(
        fs::symlink_metadata(dir.join("state.lock"))
            .unwrap()
            .is_symlink()
    );
}

#[test]
fn a_state_directory_that_is_a_symlink_is_not_used() {
    let env = TestEnv::new();
    let elsewhere = tempfile::tempdir().unwrap();
    symlink(elsewhere.path(), env.state_dir.join("muxguard")).unwrap();

    check(&env, |_| {});
    assert_eq!(names_in(elsewhere.path()), Vec::<String>::new());
}

#[test]
fn a_group_writable_state_directory_is_not_used() {
    let env = TestEnv::new();
    let dir = make_state_dir(&env);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o770)).unwrap();

    check(&env, |_| {});
    assert_eq!(names_in(&dir), Vec::<String>::new());
}

#[test]
fn root_leaves_another_users_state_alone() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: only root can give a directory to another user");
        return;
    }
    let env = TestEnv::new();
    let elsewhere = tempfile::tempdir().unwrap();

    // Their state directory under XDG_STATE_HOME, with the lock linked to a file of root's.
    let theirs = make_state_dir(&env);
    let target = elsewhere.path().join("through-xdg");
    symlink(&target, theirs.join("state.lock")).unwrap();
    chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    check(&env, |_| {});
    assert!(!target.exists(), "root followed their link");
    assert_eq!(names_in(&theirs), ["state.lock"]);

    // Their whole HOME (`sudo -E`), the state directory in it, and the same link.
    let home = env.root.join("their-home");
    let state_dir = home.join(".local/state/muxguard");
    fs::create_dir_all(&state_dir).unwrap();
    let target = elsewhere.path().join("through-home");
    symlink(&target, state_dir.join("state.lock")).unwrap();
    for dir in [
        &home,
        &home.join(".local"),
        &home.join(".local/state"),
        &state_dir,
    ] {
        chown(dir, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    check(&env, |command| {
        command.env("HOME", &home).env_remove("XDG_STATE_HOME");
    });
    assert!(!target.exists(), "root followed their link");
    assert_eq!(names_in(&state_dir), ["state.lock"]);
}

#[test]
fn a_home_that_does_not_exist_is_not_created() {
    let env = TestEnv::new();
    let missing = env.root.join("nonexistent");
    check(&env, |command| {
        command
            .env("HOME", missing.join("x"))
            .env_remove("XDG_STATE_HOME");
    });
    assert!(!missing.exists(), "HOME was created");
}

/// A missing XDG_STATE_HOME is created, mode 0700, as the XDG base directory spec asks, and the
/// state is kept there; but not below a directory of another user's.
#[test]
fn a_state_home_that_does_not_exist_is_created() {
    let env = TestEnv::new();
    let state_home = env.root.join("nonexistent/state");
    check(&env, |command| {
        command.env("XDG_STATE_HOME", &state_home);
    });
    for made in [
        "nonexistent",
        "nonexistent/state",
        "nonexistent/state/muxguard",
    ] {
        let mode = fs::metadata(env.root.join(made))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o700, "{made}");
    }
    let state = read_state(&state_home.join("muxguard"));
    assert!(
        state["sockets"].as_object().is_some_and(
            |sockets| sockets.contains_key(env.control_path("alpha").to_str().unwrap())
        ),
        "{state}"
    );

    let theirs = env.root.join("theirs");
    fs::create_dir(&theirs).unwrap();
    chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    check(&env, |command| {
        command.env("XDG_STATE_HOME", theirs.join("state"));
    });
    assert!(
        names_in(&theirs).is_empty(),
        "made below another user's directory"
    );
}

#[test]
fn fifos_in_place_of_the_state_files_hold_nothing_up() {
    let env = TestEnv::new();
    let dir = make_state_dir(&env);
    for name in ["state.json", "state.lock"] {
        mkfifo(&dir.join(name), Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
    }
    let reads = [
        "status".into(),
        "-F".into(),
        env.ssh_config.display().to_string(),
    ];
    let mut writes = vec!["check".to_string(), "--".into()];
    writes.extend(env.ssh_args("alpha"));
    for args in [&reads[..], &writes[..]] {
        let mut command = env.muxguard();
        command.args(args);
        let started = Instant::now();
        let output = output_within(&mut command, Duration::from_secs(10));
        assert!(
            output.status.success(),
            "{args:?} ended with {} after {:?}",
            output.status,
            started.elapsed()
        );
    }
}

#[test]
fn an_oversized_state_file_is_ignored_said_once_and_replaced() {
    let env = TestEnv::new();
    let dir = make_state_dir(&env);
    // 33 MB of sockets that do not exist, as in the report.
    let now = unix_now();
    let mut sockets = String::new();
    for i in 0..400_000 {
        let separator = if i == 0 { "" } else { "," };
        write!(
            sockets,
            r#"{separator}"/nonexistent/cm/socket-{i:06}":{{"destination":"user@host{i}:22","alias":"host{i}","seen":{now}}}"#
        )
        .unwrap();
    }
    let oversized = state_json(&sockets, "", "");
    assert!(oversized.len() > 33_000_000, "{} bytes", oversized.len());
    fs::write(dir.join("state.json"), &oversized).unwrap();

    let first = status(&env);
    eprintln!("status over a 33 MB state file took {:?}", first.elapsed);
    assert!(
        first.elapsed < Duration::from_secs(2),
        "took {:?}",
        first.elapsed
    );
    let warnings = state_warnings(&first);
    assert_eq!(warnings.len(), 1, "{}", first.stderr);
    assert!(
        warnings[0].contains(&format!("{} bytes", oversized.len()))
            && warnings[0].contains("MiB limit; starting afresh"),
        "{}",
        warnings[0]
    );
    let rebuilt = fs::metadata(dir.join("state.json")).unwrap().len();
    assert!(rebuilt < 1 << 20, "still {rebuilt} bytes");

    let second = status(&env);
    assert_eq!(state_warnings(&second), Vec::<&str>::new());
}

#[test]
fn a_working_map_of_100k_entries_is_gone_after_the_next_write() {
    let env = TestEnv::new();
    let dir = make_state_dir(&env);
    let now = unix_now();
    let working: Vec<String> = (0..100_000)
        .map(|i| format!(r#""/nonexistent/cm/{i}":{}"#, working_entry(i, now)))
        .collect();
    fs::write(
        dir.join("state.json"),
        state_json("", "", &working.join(",")),
    )
    .unwrap();

    check(&env, |_| {});
    let state = read_state(&dir);
    let kept = state["working"].as_object().unwrap().len();
    assert!(kept <= 1000, "{kept} entries kept");
    assert!(fs::metadata(dir.join("state.json")).unwrap().len() < 1 << 20);
}

#[test]
fn the_answer_for_a_long_remote_command_is_not_remembered() {
    let env = TestEnv::new();
    let long_script = format!("echo {}", "x".repeat(2000));
    for script in ["echo short", &long_script] {
        let mut command = env.muxguard();
        command
            .args(["check", "--json", "--"])
            .args(env.ssh_args("alpha"))
            .arg(script);
        let run = run(command);
        assert_eq!(run.code, 0, "check failed: {}", run.stderr);
    }
    let state = read_state(&env.state_dir.join("muxguard"));
    let keys: Vec<&String> = state["resolved"].as_object().unwrap().keys().collect();
    assert!(
        keys.iter().any(|key| key.contains("echo short")),
        "{keys:?}"
    );
    assert!(
        keys.iter().all(|key| !key.contains(&long_script)),
        "{} answers, one of them for the long command",
        keys.len()
    );
}

#[test]
fn every_map_is_cut_to_its_cap_on_the_next_write() {
    let env = TestEnv::new();
    let dir = make_state_dir(&env);
    let now = unix_now();
    // Under the size limit, so the file is read: 3000 masters and 1000 answers, all recent.
    let working: Vec<String> = (0..3000)
        .map(|i| {
            format!(
                r#""/nonexistent/cm/{i}":{}"#,
                working_entry(i, now - u64::from(i))
            )
        })
        .collect();
    let resolved: Vec<String> = (0..1000)
        .map(|i| {
            format!(
                r#""[\"host{i}\"]":{{"fingerprint":"0123456789abcdef","saved":{},"control_path":null,"control_master":"false","alias":"host{i}","destination":null}}"#,
                now - i
            )
        })
        .collect();
    let written = state_json("", &resolved.join(","), &working.join(","));
    assert!(written.len() < 1 << 20, "{} bytes", written.len());
    fs::write(dir.join("state.json"), written).unwrap();

    let run = check(&env, |_| {});
    assert_eq!(state_warnings(&run), Vec::<&str>::new());
    let state = read_state(&dir);
    let working = state["working"].as_object().unwrap();
    let resolved = state["resolved"].as_object().unwrap();
    assert!(working.len() <= 1000, "{} masters kept", working.len());
    assert!(resolved.len() <= 256, "{} answers kept", resolved.len());
    // The newest of each are the ones kept.
    assert!(working.contains_key("/nonexistent/cm/0"));
    assert!(resolved.contains_key(r#"["host0"]"#));
}
