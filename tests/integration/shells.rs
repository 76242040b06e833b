//! The shell integration in real interactive bash, zsh and fish, each driven in a pty by tmux,
//! against a real sshd. Each shell writes what the test needs to files.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{TestEnv, copy_executable, test_path, wait_until};
use nix::sys::signal::Signal;

/// "bash-3.2" is bash 3.2, as macOS ships it: `make test` builds it (see `bash_3_2`).
const SHELLS: [&str; 4] = ["bash", "bash-3.2", "zsh", "fish"];

/// The shell language `name` speaks: bash 3.2 is bash.
fn kind(name: &str) -> &'static str {
    match name {
        "bash" | "bash-3.2" => "bash",
        "zsh" => "zsh",
        "fish" => "fish",
        other => panic!("unknown shell {other}"),
    }
}

/// Where `make test` builds bash 3.2 from ../shared/toolchains.
fn bash_3_2() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/toolchains/bash-3.2/bin/bash")
}

/// One interactive shell in a tmux session of its own server.
struct Shell {
    name: &'static str,
    tmux_socket: PathBuf,
    /// Holds a copy of muxguard (so a test may delete it) and, with `logging`, a wrapper that
    /// records every call.
    bin: PathBuf,
}

impl Shell {
    /// Starts `name` interactively with the integration loaded `loads` times.
    fn start(
        env: &TestEnv,
        name: &'static str,
        loads: usize,
        extra_env: &[(&str, &str)],
    ) -> Option<Shell> {
        let shell_path = if name == "bash-3.2" {
            let path = bash_3_2();
            if !path.exists() {
                eprintln!(
                    "skipped: bash 3.2 is not built ({}; `make test` builds it)",
                    path.display()
                );
                return None;
            }
            path
        } else {
            let Ok(path) = which::which(name) else {
                eprintln!("skipped: {name} is not installed");
                return None;
            };
            path
        };
        let dir = env.root.join(format!("shell-{name}"));
        let bin = dir.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let real = bin.join("muxguard-real");
        copy_executable(Path::new(env!("CARGO_BIN_EXE_muxguard")), &real);
        // A wrapper that logs its calls, so tests can see what the shell ran.
        let wrapper = bin.join("muxguard");
        fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{log}'\nexec '{real}' \"$@\"\n",
                log = dir.join("calls.log").display(),
                real = real.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
        // The one-word program that scp -S and sftp -S take, as `make install` links it.
        std::os::unix::fs::symlink(&real, bin.join("muxguard-ssh")).unwrap();

        let load = match kind(name) {
            "fish" => "muxguard init fish | source\n",
            "zsh" => "eval \"$(muxguard init zsh)\"\n",
            _ => "eval \"$(muxguard init bash)\"\n",
        };
        // A prompt theme after muxguard's hook that records the status it sees, as themes
        // that show $? do.
        let last_status = dir.join("last_status");
        let theme = match kind(name) {
            "bash" => format!(
                "PROMPT_COMMAND=\"$PROMPT_COMMAND;echo \\$? > '{}'\"\n",
                last_status.display()
            ),
            "zsh" => format!(
                "function theme_precmd {{ echo $? > '{}' }}\nprecmd_functions+=(theme_precmd)\n",
                last_status.display()
            ),
            _ => format!(
                "function fish_prompt; echo $status > '{}'; echo '$ '; end\n",
                last_status.display()
            ),
        };
        let rc = format!("PS1='$ '\n{}{theme}", load.repeat(loads));
        let command: Vec<String> = match kind(name) {
            "bash" => {
                fs::write(dir.join("bashrc"), &rc).unwrap();
                vec![
                    "--noprofile".into(),
                    "--rcfile".into(),
                    dir.join("bashrc").display().to_string(),
                    "-i".into(),
                ]
            }
            "zsh" => {
                fs::write(dir.join(".zshrc"), &rc).unwrap();
                vec!["-i".into()]
            }
            _ => {
                let init = format!("function fish_greeting; end\n{}{theme}", load.repeat(loads))
                    .replace('\n', "; ");
                vec!["--no-config".into(), "-i".into(), "-C".into(), init]
            }
        };
        let path = format!("{}:{}", bin.display(), test_path().to_str().unwrap());
        let tmux_socket = dir.join("tmux.sock");
        let mut tmux = Command::new("tmux");
        tmux.arg("-S")
            .arg(&tmux_socket)
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "200",
                "-y",
                "50",
                "env",
            ])
            .arg(format!("PATH={path}"))
            .arg(format!("ZDOTDIR={}", dir.display()))
            .arg(format!("XDG_DATA_HOME={}", dir.join("data").display()))
            .arg(format!("XDG_CONFIG_HOME={}", dir.join("config").display()))
            .arg("TERM=xterm");
        env.isolate(&mut tmux);
        for (key, value) in extra_env {
            tmux.arg(format!("{key}={value}"));
        }
        // tmux passes its own environment on: make the shell's what env(1) sets.
        tmux.arg(shell_path).args(command).stdin(Stdio::null());
        assert!(tmux.status().unwrap().success(), "tmux starts {name}");
        let shell = Shell {
            name,
            tmux_socket,
            bin,
        };
        shell.run(&format!("echo ready > '{}'", dir.join("ready").display()));
        wait_until(&format!("{name} to start"), Duration::from_secs(10), || {
            fs::read_to_string(dir.join("ready")).is_ok_and(|text| text.contains("ready"))
        });
        if name == "bash-3.2" {
            let version = dir.join("version");
            shell.run(&format!("echo \"$BASH_VERSION\" > '{}'", version.display()));
            let text = shell.wait_for("version", "\n", Duration::from_secs(5));
            assert!(text.starts_with("3.2."), "bash-3.2 is bash {text}");
        }
        Some(shell)
    }

    fn dir(&self) -> &Path {
        self.bin.parent().unwrap()
    }

    /// Types a line and presses Enter.
    fn run(&self, line: &str) {
        for keys in [vec!["-l", line], vec!["Enter"]] {
            let status = Command::new("tmux")
                .arg("-S")
                .arg(&self.tmux_socket)
                .args(["send-keys", "-t", "0"])
                .args(keys)
                .status()
                .unwrap();
            assert!(status.success());
        }
    }

    /// Presses a key, as tmux names it (`C-c`).
    fn press(&self, key: &str) {
        let status = Command::new("tmux")
            .arg("-S")
            .arg(&self.tmux_socket)
            .args(["send-keys", "-t", "0", key])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// `$?` in this shell.
    fn status_var(&self) -> &'static str {
        if kind(self.name) == "fish" {
            "$status"
        } else {
            "$?"
        }
    }

    /// Waits until `file` (in the shell's directory) holds `marker`, and returns its text.
    fn wait_for(&self, file: &str, marker: &str, timeout: Duration) -> String {
        let path = self.dir().join(file);
        wait_until(
            &format!("{} to write {marker} in {file}", self.name),
            timeout,
            || fs::read_to_string(&path).is_ok_and(|text| text.contains(marker)),
        );
        fs::read_to_string(&path).unwrap()
    }

    fn file(&self, name: &str) -> String {
        self.dir().join(name).display().to_string()
    }

    fn calls(&self) -> String {
        fs::read_to_string(self.dir().join("calls.log")).unwrap_or_default()
    }

    /// How many sweeps the prompt hook has started.
    fn sweeps(&self) -> usize {
        self.calls().matches("clean -q").count()
    }

    /// The line that sets an exported variable in this shell.
    fn export(&self, name: &str, value: &str) -> String {
        if kind(self.name) == "fish" {
            format!("set -gx {name} {value}")
        } else {
            format!("export {name}={value}")
        }
    }

    /// Runs `true` `count` times, then waits until a last command has run and a moment more,
    /// so that whatever those prompts started in the background has had time to show.
    fn settle_after(&self, count: usize) {
        for _ in 0..count {
            self.run("true");
        }
        let marker = format!("settled-{}", self.settled_count());
        self.run(&format!("echo {marker} >> '{}'", self.file("settled")));
        self.wait_for("settled", &marker, Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(500));
    }

    /// How many lines `settle_after` has written: the next marker is new.
    fn settled_count(&self) -> usize {
        fs::read_to_string(self.dir().join("settled")).map_or(0, |text| text.lines().count())
    }

    /// What the terminal shows, scrollback included.
    fn screen(&self) -> String {
        let output = Command::new("tmux")
            .arg("-S")
            .arg(&self.tmux_socket)
            .args(["capture-pane", "-p", "-J", "-S", "-", "-t", "0"])
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.tmux_socket)
            .arg("kill-server")
            .status();
    }
}

fn ssh_line(env: &TestEnv, alias: &str, remote: &str) -> String {
    format!("ssh -F '{}' {alias} {remote}", env.ssh_config.display())
}

#[test]
fn the_ssh_function_gets_through_a_hung_master() {
    for name in SHELLS {
        let env = TestEnv::new();
        let master = env.start_persist_master("alpha");
        master.signal(Signal::SIGSTOP);
        // Plain ssh waits on the stopped master: for ever before OpenSSH 9.4, from 9.4 on for
        // ConnectTimeout (5 s in the environment's config).
        let mut plain = Command::new("ssh")
            .args(["-F", env.ssh_config.to_str().unwrap(), "alpha", "true"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(1));
        assert!(plain.try_wait().unwrap().is_none(), "plain ssh should hang");
        plain.kill().unwrap();
        plain.wait().unwrap();

        let Some(shell) = Shell::start(&env, name, 1, &[("MUXGUARD_TIMEOUT", "500ms")]) else {
            continue;
        };
        let out = shell.file("out");
        shell.run(&format!(
            "{} > '{out}' 2>&1; echo \"rc={}\" >> '{out}'",
            ssh_line(&env, "alpha", "echo through"),
            shell.status_var()
        ));
        let text = shell.wait_for("out", "rc=", Duration::from_secs(15));
        assert!(text.contains("through"), "{name}: {text}");
        assert!(text.contains("rc=0"), "{name}: {text}");
        assert!(shell.calls().contains("ssh -F"), "{name} used muxguard ssh");
        assert!(
            !crate::common::is_running(master.pid),
            "{name}: the hung master was ended"
        );
    }
}

#[test]
fn the_prompt_hook_sweeps_stale_sockets_and_keeps_the_status() {
    for name in SHELLS {
        let env = TestEnv::new();
        let sweep_now = [("MUXGUARD_SWEEP_INTERVAL", "0")];
        let Some(shell) = Shell::start(&env, name, 1, &sweep_now) else {
            continue;
        };
        // A connection through the function: muxguard learns the ControlPath.
        let out = shell.file("out");
        shell.run(&format!(
            "{} > '{out}'",
            ssh_line(&env, "alpha", "echo first")
        ));
        shell.wait_for("out", "first", Duration::from_secs(15));
        // A master killed: its socket stays behind.
        let mut master = env.start_master("alpha");
        master.kill_and_reap();
        let path = master.path.clone();
        assert!(path.exists());
        // The next prompts sweep it, in the background.
        shell.run("true");
        wait_until(
            &format!("{name}'s hook to remove the stale socket"),
            Duration::from_secs(10),
            || !path.exists(),
        );
        assert!(
            shell.calls().contains("clean -q --sweep"),
            "{name}: {}",
            shell.calls()
        );

        // $? survives the hook: the theme after it sees the command's status.
        shell.run("false");
        wait_until(
            &format!("{name}'s theme to see status 1"),
            Duration::from_secs(5),
            || {
                fs::read_to_string(shell.dir().join("last_status"))
                    .is_ok_and(|text| text.trim() == "1")
            },
        );
        shell.run("true");
        wait_until(
            &format!("{name}'s theme to see status 0"),
            Duration::from_secs(5),
            || {
                fs::read_to_string(shell.dir().join("last_status"))
                    .is_ok_and(|text| text.trim() == "0")
            },
        );

        // `off` stops the sweeps at once, in the running shell.
        shell.run(match name {
            "fish" => "set -gx MUXGUARD_SWEEP_INTERVAL off",
            _ => "export MUXGUARD_SWEEP_INTERVAL=off",
        });
        // Counted once the sweeps that earlier prompts started in the background have shown.
        shell.settle_after(0);
        let before = shell.sweeps();
        shell.settle_after(3);
        assert_eq!(
            shell.sweeps(),
            before,
            "{name}: swept with the interval off"
        );
    }
}

#[test]
fn ssh_still_works_without_the_binary_and_when_disabled() {
    for name in SHELLS {
        let env = TestEnv::new();
        let Some(shell) = Shell::start(&env, name, 1, &[]) else {
            continue;
        };
        // Disabled: plain ssh, and no sweep either.
        let out = shell.file("disabled");
        shell.run(match name {
            "fish" => "set -gx MUXGUARD_DISABLE 1",
            _ => "export MUXGUARD_DISABLE=1",
        });
        let before = shell.calls();
        shell.run(&format!(
            "{} > '{out}'",
            ssh_line(&env, "alpha", "echo plain")
        ));
        shell.wait_for("disabled", "plain", Duration::from_secs(15));
        shell.run("true");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(shell.calls(), before, "{name}: muxguard ran while disabled");

        // The binary is gone: ssh still runs.
        if name == "fish" {
            shell.run("set -e MUXGUARD_DISABLE");
        } else {
            shell.run("unset MUXGUARD_DISABLE");
        }
        fs::remove_file(shell.bin.join("muxguard")).unwrap();
        fs::remove_file(shell.bin.join("muxguard-real")).unwrap();
        let out = shell.file("deleted");
        shell.run(&format!(
            "{} > '{out}' 2>&1; echo \"rc={}\" >> '{out}'",
            ssh_line(&env, "alpha", "echo still"),
            shell.status_var()
        ));
        let text = shell.wait_for("deleted", "rc=", Duration::from_secs(15));
        assert!(
            text.contains("still") && text.contains("rc=0"),
            "{name}: {text}"
        );
    }
}

#[test]
fn loading_twice_installs_one_hook() {
    for name in SHELLS {
        let env = TestEnv::new();
        let Some(shell) = Shell::start(&env, name, 2, &[]) else {
            continue;
        };
        let out = shell.file("hooks");
        let probe = match kind(name) {
            "bash" => format!("echo \"$PROMPT_COMMAND\" > '{out}'; type -t ssh >> '{out}'"),
            "zsh" => format!("print -l $precmd_functions > '{out}'; whence -w ssh >> '{out}'"),
            _ => format!("functions --handlers-type generic > '{out}'; type -t ssh >> '{out}'"),
        };
        shell.run(&probe);
        let text = shell.wait_for("hooks", "function", Duration::from_secs(5));
        assert_eq!(text.matches("__muxguard_hook").count(), 1, "{name}: {text}");
    }
}

#[test]
fn wrapped_scp_and_sftp_get_through_a_hung_master() {
    for name in SHELLS {
        let env = TestEnv::new();
        let wrap = [("MUXGUARD_WRAP_TOOLS", "1"), ("MUXGUARD_TIMEOUT", "500ms")];
        let Some(shell) = Shell::start(&env, name, 1, &wrap) else {
            continue;
        };
        let source = shell.file("payload");
        fs::write(&source, "carried\n").unwrap();
        let config = env.ssh_config.display();
        for (tool, command) in [
            (
                "scp",
                format!(
                    "scp -F '{config}' '{source}' 'alpha:{}'",
                    shell.file("by-scp")
                ),
            ),
            (
                "sftp",
                format!(
                    "echo \"put {source} {}\" | sftp -b - -F '{config}' alpha",
                    shell.file("by-sftp")
                ),
            ),
        ] {
            let master = env.start_persist_master("alpha");
            master.signal(Signal::SIGSTOP);
            let out = shell.file(&format!("{tool}.out"));
            shell.run(&format!(
                "{command} > '{out}' 2>&1; echo \"rc={}\" >> '{out}'",
                shell.status_var()
            ));
            let text = shell.wait_for(&format!("{tool}.out"), "rc=", Duration::from_secs(15));
            assert!(text.contains("rc=0"), "{name} {tool}: {text}");
            let copied = shell.dir().join(format!("by-{tool}"));
            assert_eq!(
                fs::read_to_string(copied).unwrap(),
                "carried\n",
                "{name} {tool}"
            );
            assert!(
                !crate::common::is_running(master.pid),
                "{name} {tool}: the hung master was ended"
            );
        }
    }
}

#[test]
fn ssh_completion_still_applies_to_the_function() {
    for name in SHELLS {
        if name == "bash-3.2" {
            // bash-completion 2 (Debian's) wants bash 4.2 or later.
            eprintln!("skipped: bash-completion does not load in bash 3.2");
            continue;
        }
        let env = TestEnv::new();
        let Some(shell) = Shell::start(&env, name, 1, &[]) else {
            continue;
        };
        let out = shell.file("completion");
        let (probe, expected) = match kind(name) {
            "bash" => {
                let loader = "/usr/share/bash-completion/bash_completion";
                if !Path::new(loader).exists() {
                    eprintln!("skipped: bash-completion is not installed");
                    continue;
                }
                (
                    format!("source {loader}; _completion_loader ssh; complete -p ssh > '{out}'"),
                    "_ssh",
                )
            }
            "zsh" => (
                format!(
                    "autoload -Uz compinit; compinit -u -D; print -r -- $_comps[ssh] > '{out}'"
                ),
                "_ssh",
            ),
            // --no-config leaves fish without its completion path: give it the system's.
            _ => (
                format!(
                    "set -g fish_complete_path $__fish_data_dir/completions; complete -C 'ssh -' > '{out}'"
                ),
                "-4",
            ),
        };
        shell.run(&probe);
        let text = shell.wait_for("completion", expected, Duration::from_secs(10));
        assert!(text.contains(expected), "{name}: {text}");
    }
}

/// A user's `alias ssh='ssh -F …'` keeps working: loading the integration over it is no syntax
/// error, and the alias's options reach the function (fish has no aliases, only functions).
#[test]
fn an_alias_named_ssh_keeps_working() {
    for name in ["bash", "bash-3.2", "zsh"] {
        let env = TestEnv::new();
        let Some(shell) = Shell::start(&env, name, 1, &[]) else {
            continue;
        };
        shell.run(&format!("alias ssh='ssh -F {}'", env.ssh_config.display()));
        let init = format!("eval \"$(muxguard init {})\"", kind(name));
        shell.run(&init);
        let out = shell.file("aliased");
        shell.run(&format!(
            "ssh alpha echo aliased > '{out}' 2>&1; echo \"rc=$?\" >> '{out}'"
        ));
        let text = shell.wait_for("aliased", "rc=", Duration::from_secs(15));
        assert!(
            text.contains("aliased") && text.contains("rc=0"),
            "{name}: {text}"
        );
        assert!(
            shell
                .calls()
                .contains(&format!("ssh -F {} alpha", env.ssh_config.display())),
            "{name}: the alias's options reached muxguard: {}",
            shell.calls()
        );
    }
}

/// With muxguard gone from PATH the hook's sweeps fail in silence: nothing reaches the terminal
/// (fish printed a five-line "Unknown command: muxguard" at every sweep), and fish writes no
/// stamp for a sweep it could not start.
#[test]
fn sweeps_without_the_binary_print_nothing() {
    for name in SHELLS {
        let env = TestEnv::new();
        let sweep_now = [("MUXGUARD_SWEEP_INTERVAL", "0")];
        let Some(shell) = Shell::start(&env, name, 1, &sweep_now) else {
            continue;
        };
        // The prompts so far are done: none checks for muxguard as it goes.
        shell.settle_after(0);
        fs::remove_file(shell.bin.join("muxguard")).unwrap();
        fs::remove_file(shell.bin.join("muxguard-real")).unwrap();
        let stamp = env.state_dir.join("muxguard/sweep-fish");
        let _ = fs::remove_file(&stamp);
        shell.settle_after(3);
        let screen = shell.screen();
        assert!(screen.contains("settled-1"), "{name}: {screen}");
        for noise in ["muxguard", "Unknown command", "not found", "No such file"] {
            assert!(
                !screen.contains(noise),
                "{name} printed {noise:?}:\n{screen}"
            );
        }
        assert!(
            !stamp.exists(),
            "{name}: a stamp for a sweep without muxguard"
        );
    }
}

/// A changed MUXGUARD_SWEEP_INTERVAL applies at once in the running shell: down to 0, the next
/// prompt sweeps (bash and zsh waited out the 60 s they had set before); up to an hour, the next
/// prompts do not sweep.
#[test]
fn a_changed_sweep_interval_applies_at_once() {
    for name in SHELLS {
        let env = TestEnv::new();
        // The default interval, 60 s: the first prompt sweeps, the next ones do not.
        let Some(shell) = Shell::start(&env, name, 1, &[]) else {
            continue;
        };
        shell.settle_after(2);
        let first = shell.sweeps();
        assert_eq!(first, 1, "{name}: {}", shell.calls());

        shell.run(&shell.export("MUXGUARD_SWEEP_INTERVAL", "0"));
        shell.run("");
        shell.run("");
        wait_until(
            &format!("{name} to sweep at once with the interval down to 0"),
            Duration::from_secs(5),
            || shell.sweeps() > first,
        );

        shell.settle_after(0);
        let before = shell.sweeps();
        shell.run(&shell.export("MUXGUARD_SWEEP_INTERVAL", "3600"));
        shell.settle_after(3);
        assert_eq!(
            shell.sweeps(),
            before,
            "{name}: swept with the interval up to an hour: {}",
            shell.calls()
        );
    }
}

/// Through `muxguard ssh` (the ssh function) Ctrl-C, Ctrl-Z and `fg`, and the exit status, are
/// plain ssh's: the companion that watches the request runs in a session of its own, and
/// never stands between the terminal and ssh.
#[test]
fn ctrl_c_ctrl_z_and_the_exit_status_are_plain_sshs() {
    let env = TestEnv::new();
    let _master = env.start_persist_master("alpha");
    let Some(shell) = Shell::start(&env, "bash", 1, &[]) else {
        return;
    };
    let interrupted = |how: &str, name: &str| {
        let out = shell.file(name);
        shell.run(&format!(
            "{how} -F '{}' alpha sleep 30; echo \"rc=$?\" > '{out}'",
            env.ssh_config.display()
        ));
        std::thread::sleep(Duration::from_millis(1500));
        shell.press("C-c");
        shell.wait_for(name, "rc=", Duration::from_secs(10))
    };
    let plain = interrupted("command ssh", "plain");
    let wrapped = interrupted("ssh", "wrapped");
    assert_eq!(wrapped, plain, "Ctrl-C through the function");

    let out = shell.file("resumed");
    // Alone on its line: a list whose first command is stopped is not taken up again by `fg`.
    shell.run(&format!(
        "ssh -F '{}' alpha 'sleep 2; echo done' > '{out}'",
        env.ssh_config.display()
    ));
    std::thread::sleep(Duration::from_millis(800));
    shell.press("C-z");
    std::thread::sleep(Duration::from_secs(3));
    let screen = shell.screen();
    assert!(screen.contains("Stopped"), "Ctrl-Z stops ssh: {screen}");
    shell.run("fg");
    shell.wait_for("resumed", "done", Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(500));
    shell.run(&format!("echo \"rc=$?\" >> '{out}'"));
    let text = shell.wait_for("resumed", "rc=", Duration::from_secs(15));
    assert!(
        text.contains("done") && text.contains("rc=0"),
        "fg resumes it: {text}"
    );

    let out = shell.file("status");
    shell.run(&format!(
        "ssh -F '{}' alpha 'exit 7'; echo \"rc=$?\" > '{out}'",
        env.ssh_config.display()
    ));
    assert!(
        shell
            .wait_for("status", "rc=", Duration::from_secs(10))
            .contains("rc=7")
    );
}
