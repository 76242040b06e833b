//! Ansible, a real client that keeps masters of its own (`~/.ansible/cp`), through
//! `muxguard-ssh` as its `ssh_executable`, to two hosts behind a jump host whose master's flow
//! the network dropped a moment ago. `make test` installs ansible-core into target/tools.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::netns::{SERVER_ADDRESS, Veth};
use crate::common::{TestEnv, is_running, output_within};

/// Where `make test` installs ansible-core (a venv of its own).
fn ansible() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/ansible/bin/ansible");
    if path.exists() {
        return Some(path);
    }
    // CI installs it: there, a missing Ansible is a failure, not a skip.
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "{} is missing; `make test-ansible` installs it",
        path.display()
    );
    eprintln!(
        "skipped: ansible-core is not installed ({}; `make test` installs it)",
        path.display()
    );
    None
}

/// The bastion `beta` across the pair; `web1` and `web2` behind it, reached only through it
/// (web2 is the server namespace's own loopback, where its sshd listens too, as a private
/// network behind a bastion is).
fn env_behind_a_bastion() -> TestEnv {
    TestEnv::with_extra_config(&format!(
        "Host beta web1 web2\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n\
         \x20 ServerAliveInterval 0\n\
         Host beta web1\n  HostName {SERVER_ADDRESS}\n\
         Host web2\n  HostName 127.0.0.1\n\
         Host web1 web2\n  ProxyJump beta\n"
    ))
}

struct Play {
    ansible: PathBuf,
    inventory: PathBuf,
    config: PathBuf,
    /// Holds `muxguard-ssh`, ahead of the PATH.
    bin: PathBuf,
}

impl Play {
    /// Two hosts behind the bastion, and the ansible.cfg that docs/shells.md suggests.
    fn new(env: &TestEnv, ansible: PathBuf) -> Play {
        let inventory = env.root.join("inventory");
        std::fs::write(
            &inventory,
            "[behind]\nweb1\nweb2\n[behind:vars]\nansible_python_interpreter=/usr/bin/python3\n",
        )
        .unwrap();
        let (info, suggested) = crate::readme::block("ansible-cfg");
        assert_eq!(info, "ini");
        assert!(
            suggested.contains("ssh_executable = muxguard-ssh"),
            "{suggested}"
        );
        let config = env.root.join("ansible.cfg");
        std::fs::write(&config, suggested).unwrap();
        let bin = env.root.join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_muxguard"), bin.join("muxguard-ssh"))
            .unwrap();
        Play {
            ansible,
            inventory,
            config,
            bin,
        }
    }

    /// `ansible all -m ping` from the client's namespace, with the suggested ansible.cfg, or
    /// with `retries` (Ansible's `reconnection_retries`) instead of its: its output, and how
    /// long it took.
    fn ping(&self, veth: &Veth, env: &TestEnv, retries: Option<u32>) -> (Output, Duration) {
        let mut command = veth.client.command(&self.ansible);
        env.isolate(&mut command);
        let mut path = self.bin.clone().into_os_string();
        path.push(":");
        path.push(crate::common::test_path());
        command
            .env("PATH", path)
            .env("ANSIBLE_CONFIG", &self.config)
            .env(
                "ANSIBLE_SSH_COMMON_ARGS",
                format!("-F {}", env.ssh_config.display()),
            )
            .env("ANSIBLE_HOST_KEY_CHECKING", "False")
            .env("ANSIBLE_NOCOLOR", "1")
            // One host at a time: a second host's check that saw the first one's request
            // go unanswered would catch the dead flow by itself, and leave the companion
            // untested.
            .env("ANSIBLE_FORKS", "1")
            .args(["all", "-m", "ping", "-i"])
            .arg(&self.inventory)
            .stdin(Stdio::null());
        if let Some(retries) = retries {
            command.env("ANSIBLE_SSH_RETRIES", retries.to_string());
        }
        let started = Instant::now();
        let output = output_within(&mut command, Duration::from_secs(60));
        (output, started.elapsed())
    }
}

/// Every host answered `pong`.
fn assert_pong(output: &Output, took: Duration) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let answered = stdout.matches(" | SUCCESS => ").count();
    assert!(
        output.status.success() && answered == 2,
        "after {took:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What each test starts from: the server across the namespaces, the bastion's master made by
/// a plain ssh (Ansible's masters, made after it, are carried by it; its pid), and the play.
struct Scene {
    env: TestEnv,
    veth: Veth,
    bastion: i32,
    play: Play,
}

impl Scene {
    fn new(test: &str) -> Option<Scene> {
        let ansible = ansible()?;
        if !Veth::can_drop_flows(test) {
            return None;
        }
        let env = env_behind_a_bastion();
        let veth = Veth::new()?;
        veth.server.start_sshd(&env, SERVER_ADDRESS);
        let bastion = veth.persist_master(&env, "beta");
        let play = Play::new(&env, ansible);
        Some(Scene {
            env,
            veth,
            bastion,
            play,
        })
    }

    fn ping(&self, retries: Option<u32>) -> (Output, Duration) {
        self.play.ping(&self.veth, &self.env, retries)
    }

    /// The bastion's flow dropped, a moment before the next run.
    fn drop_the_bastion(&self) {
        self.veth.drop_flow(self.veth.flow_port_of(self.bastion));
    }
}

/// Plain ssh waits 40 s in each of these runs (Ansible's own timeouts); without the companion
/// they wait for ever.
const IN_SECONDS: Duration = Duration::from_secs(10);

/// Ansible's masters are up, carried by the bastion's, when the bastion's flow is dropped: the
/// next run gets through on its first try, in seconds. The companion ends the bastion's master
/// (and Ansible's masters go with it), and each ssh falls back to a connection of its own.
#[test]
fn ansible_gets_through_a_bastion_dropped_a_moment_ago() {
    let Some(scene) = Scene::new("ansible_gets_through_a_bastion_dropped_a_moment_ago") else {
        return;
    };
    let (output, took) = scene.ping(Some(0));
    assert_pong(&output, took);

    scene.drop_the_bastion();
    let (output, took) = scene.ping(Some(0));
    assert_pong(&output, took);
    assert!(took < IN_SECONDS, "took {took:?}");
    println!("through, from the drop, in {took:?}");
    assert!(!is_running(scene.bastion));
}

/// No master of Ansible's yet, only the bastion's, dropped a moment ago: `-W` through it has
/// no fallback, so each ssh ends within seconds (exit 255, muxguard's line), and Ansible
/// retries, as the ansible.cfg of docs/shells.md tells it to: through on the first run.
#[test]
fn ansible_with_one_retry_gets_through_a_dead_bastion_on_its_first_connection() {
    let test = "ansible_with_one_retry_gets_through_a_dead_bastion_on_its_first_connection";
    let Some(scene) = Scene::new(test) else {
        return;
    };
    scene.drop_the_bastion();
    let (output, took) = scene.ping(None);
    assert_pong(&output, took);
    assert!(took < IN_SECONDS, "took {took:?}");
    println!("through, from the drop, in {took:?}");
    assert!(!is_running(scene.bastion));
}

/// Without a retry the same run ends in seconds instead of waiting 40 s: the first host
/// unreachable with muxguard's line, the second through (the dead master is gone by then); the
/// next run gets through to both.
#[test]
fn ansible_without_retries_is_told_in_seconds_and_the_next_run_gets_through() {
    let test = "ansible_without_retries_is_told_in_seconds_and_the_next_run_gets_through";
    let Some(scene) = Scene::new(test) else {
        return;
    };
    scene.drop_the_bastion();
    let (output, took) = scene.ping(Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(took < IN_SECONDS, "took {took:?}: {stdout}");
    assert_eq!(stdout.matches(" | UNREACHABLE! => ").count(), 1, "{stdout}");
    assert_eq!(stdout.matches(" | SUCCESS => ").count(), 1, "{stdout}");
    assert!(
        stdout.contains(&format!("ended master pid {}", scene.bastion))
            && stdout.contains("ssh cannot go around a jump host's master: run it again"),
        "{stdout}"
    );
    let (output, took) = scene.ping(Some(0));
    assert_pong(&output, took);
}
