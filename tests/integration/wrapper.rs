//! `muxguard ssh` where programs take an ssh: a one-word link for scp -S, and
//! GIT_SSH_COMMAND. Nothing of muxguard's may reach stdout, where those programs speak.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::common::openssh::ssh_version;
use crate::common::{TestEnv, is_running, make_stale_socket, output_within, wait_until};
use nix::sys::signal::Signal;

/// A `muxguard-ssh` link to the built binary, as `make install` makes.
fn one_word_program(env: &TestEnv) -> PathBuf {
    let link = env.root.join("muxguard-ssh");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_muxguard"), &link).unwrap();
    link
}

/// `muxguard ssh` with this environment's config, as one command line (GIT_SSH_COMMAND,
/// rsync -e).
fn muxguard_ssh_command(env: &TestEnv) -> String {
    format!(
        "{} ssh -F {}",
        env!("CARGO_BIN_EXE_muxguard"),
        env.ssh_config.display()
    )
}

#[test]
fn the_one_word_program_repairs_then_runs_ssh() {
    let env = TestEnv::new();
    make_stale_socket(&env.control_path("alpha"));
    let mut command = Command::new(one_word_program(&env));
    env.isolate(&mut command);
    let output = command
        .args(env.ssh_args("alpha"))
        .args(["echo", "hi"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, b"hi\n", "only ssh's output on stdout");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("muxguard: stale") && stderr.contains("removed"),
        "{stderr}"
    );
}

#[test]
fn scp_through_the_one_word_program() {
    let env = TestEnv::new();
    let master = env.start_persist_master("alpha");
    master.signal(Signal::SIGSTOP);
    let source = env.root.join("payload");
    fs::write(&source, "carried by scp\n").unwrap();
    let target = env.root.join("copied");
    let mut scp = Command::new("scp");
    env.isolate(&mut scp);
    scp.env("MUXGUARD_TIMEOUT", "500ms")
        .arg("-S")
        .arg(one_word_program(&env))
        .args(["-F", env.ssh_config.to_str().unwrap()])
        .arg(&source)
        .arg(format!("alpha:{}", target.display()));
    let output = output_within(&mut scp, Duration::from_secs(15));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(fs::read_to_string(&target).unwrap(), "carried by scp\n");
    assert!(!is_running(master.pid), "the hung master was ended first");
}

/// scp from OpenSSH 10.0 on passes ssh `ControlMaster no`: ssh still uses a master that is
/// there, but leaves a stale socket in place and says so at every copy. Before 10.0, ssh replaced
/// it quietly. Through the one-word program the stale socket is gone first, whatever the release.
#[test]
fn scp_meets_a_stale_socket() {
    let env = TestEnv::new();
    let path = env.control_path("alpha");
    let source = env.root.join("payload");
    fs::write(&source, "carried by scp\n").unwrap();
    let copy = |ssh_program: Option<PathBuf>, target: &str| -> String {
        let target = env.root.join(target);
        let mut scp = Command::new("scp");
        env.isolate(&mut scp);
        if let Some(program) = ssh_program {
            scp.arg("-S").arg(program);
        }
        scp.args(["-F", env.ssh_config.to_str().unwrap()])
            .arg(&source)
            .arg(format!("alpha:{}", target.display()));
        let output = output_within(&mut scp, Duration::from_secs(15));
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stderr}");
        assert_eq!(fs::read_to_string(&target).unwrap(), "carried by scp\n");
        stderr
    };

    make_stale_socket(&path);
    let stderr = copy(None, "plain");
    if ssh_version() >= (10, 0) {
        let refused = format!(
            "Control socket connect({}): Connection refused",
            path.display()
        );
        assert!(stderr.contains(&refused), "{stderr}");
        assert!(path.exists(), "ssh left the stale socket");
    } else {
        assert!(!stderr.contains("Control socket"), "{stderr}");
        // Replaced by ssh's own master, which ended with the copy.
        assert!(!path.exists());
        make_stale_socket(&path);
    }

    let stderr = copy(Some(one_word_program(&env)), "through");
    assert!(!stderr.contains("Control socket"), "{stderr}");
    assert!(!path.exists(), "the stale socket was removed");
}

#[test]
fn git_through_git_ssh_command() {
    let Ok(git) = which::which("git") else {
        eprintln!("skipped: git is not installed");
        return;
    };
    let env = TestEnv::new();
    let repo = env.root.join("repo.git");
    let init = Command::new(&git)
        .args(["init", "-q", "--bare"])
        .arg(&repo)
        .status()
        .unwrap();
    assert!(init.success());
    // A stopped master: plain ssh, and so git, would wait on it for ever.
    let master = env.start_persist_master("alpha");
    master.signal(Signal::SIGSTOP);
    let mut command = Command::new(&git);
    env.isolate(&mut command);
    command
        .env("MUXGUARD_TIMEOUT", "500ms")
        .env("GIT_SSH_COMMAND", muxguard_ssh_command(&env))
        .args(["ls-remote"])
        .arg(format!("alpha:{}", repo.display()));
    let output = output_within(&mut command, Duration::from_secs(15));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!is_running(master.pid), "the hung master was ended first");
}

#[test]
fn arguments_ssh_rejects_reach_ssh_unchanged() {
    let env = TestEnv::new();
    let mut command = env.muxguard();
    let output = command.args(["ssh", "-Q", "bogus-query"]).output().unwrap();
    assert_eq!(output.status.code(), Some(255), "ssh's own exit status");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Unsupported query"),
        "ssh's own message: {stderr}"
    );
    assert!(!stderr.contains("muxguard:"), "{stderr}");
}

/// Ctrl-Z on a foreground `ssh host` that became the master: every new ssh through it would
/// hang, but its user means to resume it with `fg`. muxguard ssh goes around it; an explicit
/// `check --fix` still ends it.
#[test]
fn a_master_suspended_in_a_terminal_is_gone_around_not_ended() {
    let env = TestEnv::new();
    let master = env.start_master_in_a_terminal("alpha");
    master.signal(Signal::SIGSTOP);
    let mut command = env.muxguard();
    command
        .arg("ssh")
        .args(env.ssh_args("alpha"))
        .args(["echo", "around"]);
    let output = output_within(&mut command, Duration::from_secs(15));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.stdout, b"around\n", "{stderr}");
    assert!(
        stderr.contains(&format!(
            "master pid {} is suspended in a terminal",
            master.pid
        )),
        "{stderr}"
    );
    assert!(is_running(master.pid), "the suspended master was ended");
    assert!(master.path.exists(), "its socket was removed");

    // Resumed, it serves again.
    master.signal(Signal::SIGCONT);
    let run = crate::common::cli::check_json(&env, &[], "alpha");
    assert_eq!(run.json()["state"], "live", "{}", run.stdout);

    // Asked for by name, a fix still ends a suspended master.
    master.signal(Signal::SIGSTOP);
    let run = crate::common::cli::check_json(&env, &["--fix"], "alpha");
    assert_eq!(run.json()["action"], "reset", "{}", run.stdout);
    wait_until("the master to end", Duration::from_secs(10), || {
        !is_running(master.pid)
    });
}

/// `rsync -e 'muxguard ssh'`, as docs/shells.md shows it: a real transfer through a stopped
/// master, which muxguard ends first (rsync speaks its protocol on stdout, so muxguard must
/// write nothing there).
#[test]
fn rsync_through_muxguard_ssh() {
    let Ok(rsync) = which::which("rsync") else {
        eprintln!("skipped: rsync is not installed");
        return;
    };
    let env = TestEnv::new();
    let source = env.root.join("src");
    fs::create_dir_all(source.join("sub")).unwrap();
    fs::write(source.join("sub/file"), "carried by rsync\n").unwrap();
    let target = env.root.join("dst");
    let master = env.start_persist_master("alpha");
    master.signal(Signal::SIGSTOP);
    let mut command = Command::new(rsync);
    env.isolate(&mut command);
    command
        .env("MUXGUARD_TIMEOUT", "500ms")
        .arg("-e")
        .arg(muxguard_ssh_command(&env))
        .arg("-a")
        .arg(format!("{}/", source.display()))
        .arg(format!("alpha:{}/", target.display()));
    let output = output_within(&mut command, Duration::from_secs(15));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        fs::read_to_string(target.join("sub/file")).unwrap(),
        "carried by rsync\n"
    );
    assert!(!is_running(master.pid), "the hung master was ended first");
}
