//! `check SSH_ARGS` remembers what `ssh -G` said, and asks again whenever anything it depends
//! on changed. A logging `ssh` placed first on PATH counts the questions.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::common::TestEnv;
use crate::common::cli::{Run, run};

struct CountingSsh {
    bin: PathBuf,
    log: PathBuf,
}

impl CountingSsh {
    fn new(env: &TestEnv) -> CountingSsh {
        let bin = env.root.join("bin");
        fs::create_dir(&bin).unwrap();
        let log = env.root.join("ssh-G.log");
        let real = which::which("ssh").unwrap();
        let script = bin.join("ssh");
        fs::write(
            &script,
            format!(
                "#!/bin/sh\ncase \" $* \" in *\" -G \"*) echo \"$*\" >> '{}';; esac\nexec '{}' \"$@\"\n",
                log.display(),
                real.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        CountingSsh { bin, log }
    }

    fn questions(&self) -> usize {
        fs::read_to_string(&self.log).map_or(0, |log| log.lines().count())
    }

    fn check(
        &self,
        env: &TestEnv,
        config: &std::path::Path,
        alias: &str,
        vars: &[(&str, &str)],
    ) -> Run {
        let mut command = env.muxguard();
        let path = format!(
            "{}:{}",
            self.bin.display(),
            crate::common::test_path().to_str().unwrap()
        );
        command.env("PATH", path).envs(vars.iter().copied());
        command
            .args(["check", "--json", "-F"])
            .arg(config)
            .arg(alias);
        let run = run(command);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run
    }
}

/// Rewrites a file so that its modification time surely changes.
fn rewrite(path: &std::path::Path, text: &str) {
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs::write(path, text).unwrap();
}

#[test]
fn an_unchanged_config_is_not_asked_twice() {
    let env = TestEnv::new();
    let ssh = CountingSsh::new(&env);
    let master = env.start_master("alpha");
    // What the kernel measures of the link changes from one check to the next.
    let steady = |mut json: serde_json::Value| {
        for measured in ["silent_s", "rtt_ms"] {
            json.as_object_mut().unwrap().remove(measured);
        }
        json
    };
    let first = steady(ssh.check(&env, &env.ssh_config, "alpha", &[]).json());
    assert_eq!(ssh.questions(), 1);
    let second = steady(ssh.check(&env, &env.ssh_config, "alpha", &[]).json());
    assert_eq!(
        ssh.questions(),
        1,
        "the second check used the remembered answer"
    );
    assert_eq!(first, second);
    assert_eq!(second["state"], "live");
    assert_eq!(second["pid"], master.pid);
    assert_eq!(second["alias"], "alpha");

    // Other arguments are another question.
    ssh.check(&env, &env.ssh_config, "beta", &[]);
    assert_eq!(ssh.questions(), 2);
}

#[test]
fn a_changed_config_or_include_is_asked_again() {
    let env = TestEnv::new();
    let ssh = CountingSsh::new(&env);
    let base = fs::read_to_string(&env.ssh_config).unwrap();
    let conf_d = env.root.join("conf.d");
    fs::create_dir(&conf_d).unwrap();
    let config = env.root.join("with_include");
    let write_config = |first_lines: &str| {
        rewrite(
            &config,
            &format!("{first_lines}Include {}/*.conf\n{base}", conf_d.display()),
        );
    };
    write_config("");
    let path_of = |run: Run| run.json()["path"].as_str().unwrap().to_string();

    let original = path_of(ssh.check(&env, &config, "alpha", &[]));
    assert_eq!(original, env.control_path("alpha").to_str().unwrap());
    ssh.check(&env, &config, "alpha", &[]);
    assert_eq!(ssh.questions(), 1);

    // The main file is edited: the ControlPath changes and is seen at once.
    write_config("Host alpha\n  ControlPath /tmp/edited-%C\n");
    let edited = path_of(ssh.check(&env, &config, "alpha", &[]));
    assert_eq!(ssh.questions(), 2);
    assert!(edited.starts_with("/tmp/edited-"), "{edited}");

    // A file appears in an Include glob's directory.
    write_config("");
    ssh.check(&env, &config, "alpha", &[]);
    assert_eq!(ssh.questions(), 3);
    let included = conf_d.join("work.conf");
    rewrite(&included, "Host alpha\n  ControlPath /tmp/included-%C\n");
    let from_include = path_of(ssh.check(&env, &config, "alpha", &[]));
    assert_eq!(ssh.questions(), 4);
    assert!(from_include.starts_with("/tmp/included-"), "{from_include}");

    // The included file is edited.
    rewrite(&included, "Host alpha\n  ControlPath /tmp/reincluded-%C\n");
    let reincluded = path_of(ssh.check(&env, &config, "alpha", &[]));
    assert_eq!(ssh.questions(), 5);
    assert!(reincluded.starts_with("/tmp/reincluded-"), "{reincluded}");
    ssh.check(&env, &config, "alpha", &[]);
    assert_eq!(ssh.questions(), 5);
}

#[test]
fn environment_variables_the_config_uses_are_part_of_the_question() {
    let env = TestEnv::with_extra_config("Host alpha\n  ControlPath ${MG_SOCKETS}/%C\n");
    let ssh = CountingSsh::new(&env);
    let config = &env.ssh_config;
    let one = ssh
        .check(&env, config, "alpha", &[("MG_SOCKETS", "/tmp/one")])
        .json();
    let again = ssh
        .check(&env, config, "alpha", &[("MG_SOCKETS", "/tmp/one")])
        .json();
    assert_eq!(ssh.questions(), 1);
    assert_eq!(one, again);
    let two = ssh
        .check(&env, config, "alpha", &[("MG_SOCKETS", "/tmp/two")])
        .json();
    assert_eq!(ssh.questions(), 2);
    assert!(two["path"].as_str().unwrap().starts_with("/tmp/two/"));
}

#[test]
fn match_exec_is_asked_every_time() {
    let env = TestEnv::with_extra_config("Match exec true\n  ServerAliveInterval 15\n");
    let ssh = CountingSsh::new(&env);
    for expected in 1..=3 {
        ssh.check(&env, &env.ssh_config, "alpha", &[]);
        assert_eq!(ssh.questions(), expected);
    }
}

/// The first check of a new master learns three things for the state file (the `ssh -G`
/// answer, the path it resolved, that the master works) and writes them in one go: one lock,
/// one file replaced. inotify counts the replacements.
#[cfg(target_os = "linux")]
#[test]
fn the_first_check_of_a_new_master_writes_the_state_file_once() {
    use std::ffi::CString;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;

    let env = TestEnv::new();
    let _master = env.start_master("alpha");
    let dir = env.state_dir.join("muxguard");
    std::fs::create_dir_all(&dir).unwrap();
    // SAFETY: inotify_init1 takes flags and returns a new fd or -1.
    let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    assert!(raw >= 0, "inotify");
    // SAFETY: a fresh fd that nothing else owns.
    let inotify = unsafe { OwnedFd::from_raw_fd(raw) };
    let watched = CString::new(dir.as_os_str().as_bytes()).unwrap();
    // Creations and moves too, though only moves to state.json are counted: the kernel folds
    // an event into the one before when the two are alike, and these keep them apart.
    let mask = libc::IN_CREATE | libc::IN_MOVED_FROM | libc::IN_MOVED_TO;
    // SAFETY: a valid inotify fd and a NUL-terminated path.
    let watch = unsafe { libc::inotify_add_watch(inotify.as_raw_fd(), watched.as_ptr(), mask) };
    assert!(watch >= 0, "inotify watch");

    let run = crate::common::cli::check_json(&env, &[], "alpha");
    assert_eq!(run.json()["state"], "live", "{}", run.stderr);

    let mut events = [0u8; 8192];
    // SAFETY: the buffer holds that many bytes.
    let read = unsafe {
        libc::read(
            inotify.as_raw_fd(),
            events.as_mut_ptr().cast(),
            events.len(),
        )
    };
    let mut replaced = 0;
    let mut at = 0;
    while read > 0 && at + 16 <= read as usize {
        // struct inotify_event: wd, mask, cookie, len, then a name of len bytes.
        let kind = u32::from_ne_bytes(events[at + 4..at + 8].try_into().unwrap());
        let len = u32::from_ne_bytes(events[at + 12..at + 16].try_into().unwrap()) as usize;
        let name = &events[at + 16..at + 16 + len];
        let moved_in = kind & libc::IN_MOVED_TO != 0;
        if moved_in && name.split(|&byte| byte == 0).next() == Some(b"state.json") {
            replaced += 1;
        }
        at += 16 + len;
    }
    assert_eq!(
        replaced, 1,
        "state.json replaced {replaced} times by one check"
    );
    // And all three were saved.
    let state = std::fs::read_to_string(dir.join("state.json")).unwrap();
    for part in ["\"sockets\"", "\"resolved\"", "\"working\""] {
        assert!(state.contains(part), "{part} in {state}");
    }
}
