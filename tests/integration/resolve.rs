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
        let path = format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap());
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
    let first = ssh.check(&env, &env.ssh_config, "alpha", &[]).json();
    assert_eq!(ssh.questions(), 1);
    let second = ssh.check(&env, &env.ssh_config, "alpha", &[]).json();
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
