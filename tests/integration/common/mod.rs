//! The integration-test harness: a private sshd on 127.0.0.1 with its own keys, a generated ssh
//! config that ignores the user's ~/.ssh, real masters, and fixtures for bad input. Everything an
//! environment starts is killed when it is dropped, and nothing else is: processes are named by
//! pid *and* start time, so a recycled pid is never mistaken for one of ours.

pub mod cli;
pub mod netns;
pub mod openssh;
pub mod users;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::net::TcpListener;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::{Pid, Uid, User};
use tempfile::TempDir;

/// How long the harness waits for anything (sshd, a master, a death) before failing the test.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long one `ssh` run may take: past this it is hung, not slow.
const SSH_TIMEOUT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(10);

/// A private sshd, an ssh config pointing at it, and every process started for a test.
pub struct TestEnv {
    pub root: PathBuf,
    /// HOME for muxguard runs (Ansible's socket directory is under it).
    pub home: PathBuf,
    /// XDG_STATE_HOME for muxguard runs.
    pub state_dir: PathBuf,
    /// Where the generated config puts control sockets (mode 0700, as ssh users keep it).
    pub cm_dir: PathBuf,
    pub ssh_config: PathBuf,
    pub port: u16,
    sshd: Child,
    /// Processes to kill on drop; a Mutex so that `&TestEnv` can be shared with threads.
    tracked: Mutex<Vec<Proc>>,
    /// Last, so the directory goes only after the processes using it.
    _temp: TempDir,
}

/// A master started by the environment.
pub struct Master {
    pub pid: i32,
    pub path: PathBuf,
    /// Set for a foreground master: our child, so only we can reap it.
    child: Option<Child>,
    /// For a master in a terminal: `script`, which holds the terminal. The environment ends
    /// and reaps it.
    _terminal: Option<Child>,
}

impl Master {
    /// Sends `signal` (SIGKILL to leave a stale socket, SIGSTOP to leave a hung one). After
    /// SIGKILL it waits until the process is really gone: a zombie still shows in /proc and
    /// still "exists" for kill(pid, 0).
    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid), signal)
            .unwrap_or_else(|e| panic!("signal {signal} to master {}: {e}", self.pid));
        if signal == Signal::SIGKILL {
            self.wait_gone();
        }
    }

    /// SIGKILL, then make sure the process is gone (reaped when it is our child).
    pub fn kill_and_reap(&mut self) {
        self.signal(Signal::SIGKILL);
    }

    fn wait_gone(&self) {
        if self.child.is_some() {
            // ECHILD: already reaped (the environment reaps what it kills).
            match waitpid(Pid::from_raw(self.pid), None) {
                Ok(_) | Err(Errno::ECHILD) => {}
                Err(e) => panic!("reap master {}: {e}", self.pid),
            }
        } else {
            // A daemonized master belongs to init, which may reap it late or never.
            wait_until(&format!("master {} to die", self.pid), PATIENCE, || {
                !is_running(self.pid)
            });
        }
    }
}

impl TestEnv {
    pub fn new() -> TestEnv {
        Self::with_extra_config("")
    }

    /// `extra` goes before the standard Host blocks: ssh keeps the first value it finds, so
    /// these override them.
    pub fn with_extra_config(extra: &str) -> TestEnv {
        let temp = temp_root();
        let root = temp.path().to_path_buf();
        let home = root.join("home");
        let state_dir = root.join("state");
        let cm_dir = root.join("cm");
        let sshd_dir = root.join("sshd");
        for dir in [&home, &state_dir, &cm_dir, &sshd_dir] {
            fs::create_dir_all(dir).unwrap();
        }
        fs::set_permissions(&cm_dir, fs::Permissions::from_mode(0o700)).unwrap();

        let host_key = sshd_dir.join("host_ed25519");
        let client_key = root.join("id_ed25519");
        keygen(&host_key);
        keygen(&client_key);
        let authorized_keys = sshd_dir.join("authorized_keys");
        fs::copy(client_key.with_extension("pub"), &authorized_keys).unwrap();

        let (sshd, port) = start_sshd(&sshd_dir, &host_key, &authorized_keys);

        let host_pub = fs::read_to_string(host_key.with_extension("pub")).unwrap();
        let known_hosts = root.join("known_hosts");
        fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_pub}")).unwrap();

        let ssh_config = root.join("ssh_config");
        let cm = cm_dir.display();
        fs::write(
            &ssh_config,
            format!(
                "{extra}\n\
                 Host alpha\n  ControlPath {cm}/%C\n\
                 Host beta\n  ControlPath {cm}/%r@%h:%p\n\
                 Host gamma\n  ControlPath {cm}/gamma-%C\n\
                 Host nomux\n  ControlPath none\n\
                 Host nomaster\n  ControlMaster no\n  ControlPath {cm}/nomaster-%C\n\
                 Host *\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n\
                 \x20 IdentityFile {key}\n  IdentitiesOnly yes\n\
                 \x20 UserKnownHostsFile {known_hosts}\n  GlobalKnownHostsFile /dev/null\n\
                 \x20 StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n\
                 \x20 ControlMaster auto\n  ControlPath {cm}/%C\n  ConnectTimeout 5\n",
                user = current_user(),
                key = client_key.display(),
                known_hosts = known_hosts.display(),
            ),
        )
        .unwrap();

        TestEnv {
            root,
            home,
            state_dir,
            cm_dir,
            ssh_config,
            port,
            sshd,
            tracked: Mutex::new(Vec::new()),
            _temp: temp,
        }
    }

    /// What follows `ssh` (or `muxguard check --`) to reach `alias` through this environment.
    pub fn ssh_args(&self, alias: &str) -> Vec<String> {
        vec![
            "-F".into(),
            self.ssh_config.display().to_string(),
            alias.into(),
        ]
    }

    /// `ssh -F` this environment's config, stdin closed.
    pub fn ssh_command(&self) -> Command {
        let mut command = Command::new("ssh");
        command.arg("-F").arg(&self.ssh_config).stdin(Stdio::null());
        command
    }

    /// The ControlPath ssh itself computes for `alias` (`ssh -G`), tokens expanded. Panics for
    /// `ControlPath none`, which `ssh -G` leaves out altogether.
    pub fn control_path(&self, alias: &str) -> PathBuf {
        let output = output_within(self.ssh_command().arg("-G").arg(alias), SSH_TIMEOUT);
        assert!(
            output.status.success(),
            "ssh -G {alias} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("controlpath "))
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("{alias} has no ControlPath (ssh -G prints none)"))
    }

    /// `ssh -O check`: the pid of the master at the alias's ControlPath, if one answers.
    fn master_pid(&self, alias: &str) -> Option<i32> {
        master_pid_in(&output_within(
            self.ssh_command().args(["-O", "check", alias]),
            SSH_TIMEOUT,
        ))
    }

    /// A master in the foreground, as a child of the test (`ssh -M -N`), answering when this
    /// returns. Its stderr goes to `root/master-ALIAS.log`, quoted if it fails to come up.
    /// It has no terminal (a session of its own), whether or not the test runs in one.
    pub fn start_master(&self, alias: &str) -> Master {
        self.start_master_as(alias, false)
    }

    /// `start_master`, for a master that ignores SIGTERM (ssh keeps a SIGTERM its parent
    /// ignored): it ends only by SIGKILL, the slowest way a master ends.
    pub fn start_stubborn_master(&self, alias: &str) -> Master {
        self.start_master_as(alias, true)
    }

    fn start_master_as(&self, alias: &str, ignoring_sigterm: bool) -> Master {
        let log_path = self.root.join(format!("master-{alias}.log"));
        let mut command = self.ssh_command();
        command
            .args(["-M", "-N", "-o", "ControlPersist=no", alias])
            .stdout(Stdio::null())
            .stderr(File::create(&log_path).unwrap());
        // SAFETY: setsid and signal are async-signal-safe, and nothing else runs between fork
        // and exec. Only the child's disposition changes: the tests run in threads of one
        // process, and a SIGTERM ignored there would reach every child of every test.
        unsafe {
            command.pre_exec(move || {
                if ignoring_sigterm {
                    nix::sys::signal::signal(
                        Signal::SIGTERM,
                        nix::sys::signal::SigHandler::SigIgn,
                    )?;
                }
                nix::unistd::setsid()
                    .map(drop)
                    .map_err(std::io::Error::from)
            });
        }
        let mut child = command.spawn().expect("ssh starts");
        let pid = child.id() as i32;
        self.track_pid(pid);
        wait_until(
            &format!("the {alias} master (pid {pid}) to answer"),
            PATIENCE,
            || {
                if let Some(status) = child.try_wait().unwrap() {
                    let log = fs::read_to_string(&log_path).unwrap_or_default();
                    panic!("the {alias} master exited ({status}):\n{log}");
                }
                self.master_pid(alias) == Some(pid)
            },
        );
        Master {
            pid,
            path: self.control_path(alias),
            child: Some(child),
            _terminal: None,
        }
    }

    /// A master in the foreground of a terminal (`script` gives it a pty of its own), as a
    /// user's first `ssh host` is with ControlMaster auto. Its pid is the ssh's.
    pub fn start_master_in_a_terminal(&self, alias: &str) -> Master {
        let line = format!(
            "ssh -F {} -M -N -o ControlPersist=no {alias}",
            self.ssh_config.display()
        );
        let script = Command::new("script")
            .args(["-qfec", &line, "/dev/null"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("script (util-linux) starts");
        self.track_pid(script.id() as i32);
        let mut pid = None;
        wait_until(
            &format!("the {alias} master in a terminal to answer"),
            PATIENCE,
            || {
                pid = self.master_pid(alias);
                pid.is_some()
            },
        );
        let pid = pid.unwrap();
        self.track_pid(pid);
        Master {
            pid,
            path: self.control_path(alias),
            child: None,
            _terminal: Some(script),
        }
    }

    /// A master the way users get them: ControlPersist, so ssh puts it in the background itself
    /// and it is not our child. Its pid comes from `ssh -O check`.
    pub fn start_persist_master(&self, alias: &str) -> Master {
        let output = output_within(
            self.ssh_command()
                .args(["-o", "ControlPersist=60", alias, "true"]),
            SSH_TIMEOUT,
        );
        assert!(
            output.status.success(),
            "ssh {alias} true failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let pid = self
            .master_pid(alias)
            .unwrap_or_else(|| panic!("no persistent master answers for {alias}"));
        self.track_pid(pid);
        Master {
            pid,
            path: self.control_path(alias),
            child: None,
            _terminal: None,
        }
    }

    /// Runs `ssh alias cmd...` (through whatever master there is), killed after 15 s.
    pub fn ssh(&self, alias: &str, cmd: &[&str]) -> Output {
        output_within(self.ssh_command().arg(alias).args(cmd), SSH_TIMEOUT)
    }

    /// The server side of every connection: all live descendants of the sshd listener.
    pub fn server_pids(&self) -> Vec<i32> {
        descendants(self.sshd.id() as i32)
    }

    /// Stops (SIGSTOP) or resumes (SIGCONT) the server side of every connection: the links of
    /// the masters go dead while the masters themselves still answer.
    pub fn signal_server_side(&self, signal: Signal) {
        let pids = self.server_pids();
        assert!(!pids.is_empty(), "no connection to the server");
        for pid in pids {
            kill(Pid::from_raw(pid), signal).expect("signal a server process");
        }
    }

    /// What the server logged so far (LogLevel INFO).
    pub fn sshd_log(&self) -> String {
        fs::read_to_string(self.root.join("sshd/sshd.log")).unwrap_or_default()
    }

    /// The built muxguard, isolated from the user's own state and settings.
    pub fn muxguard(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_muxguard"));
        self.isolate(&mut command);
        command
    }

    /// Gives a command the environment muxguard runs with in tests: this env's home and state,
    /// no colour, no stdin, a PATH with no installed muxguard, none of the parent's MUXGUARD_*
    /// settings, and only this env's
    /// masters found from the kernel's table (every test runs as the same user).
    pub fn isolate(&self, command: &mut Command) {
        command
            .env("HOME", &self.home)
            .env("XDG_STATE_HOME", &self.state_dir)
            .env("NO_COLOR", "1")
            .env("PATH", test_path())
            .stdin(Stdio::null());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MUXGUARD_") {
                command.env_remove(name);
            }
        }
        command.env("MUXGUARD_TEST_SCOPE", &self.root);
    }

    /// Kills `pid` when the environment is dropped (unless it is gone by then, and its pid
    /// perhaps reused).
    pub fn track_pid(&self, pid: i32) {
        if let Some(process) = Proc::find(pid) {
            self.tracked.lock().unwrap().push(process);
        }
    }
}

/// The directory of the muxguard cargo built: the only one tests may run.
pub fn built_bin_dir() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_muxguard")).parent().unwrap()
}

/// `dirs` less every directory that holds a muxguard (or muxguard-ssh) other than the one
/// cargo built: a user who installed muxguard (`~/.cargo/bin`, `/usr/local/bin`) and then runs
/// `make test` must have the tests see theirs only where a test puts it on purpose.
pub fn without_installed_muxguard<'a>(
    dirs: impl IntoIterator<Item = &'a Path>,
) -> std::ffi::OsString {
    let installed = |dir: &Path| {
        dir != built_bin_dir()
            && ["muxguard", "muxguard-ssh"]
                .iter()
                .any(|name| dir.join(name).exists())
    };
    let kept: Vec<&Path> = dirs.into_iter().filter(|dir| !installed(dir)).collect();
    std::env::join_paths(kept).unwrap()
}

/// The PATH the tests hand their children: the caller's, with no installed muxguard on it.
pub fn test_path() -> std::ffi::OsString {
    let inherited = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&inherited).collect();
    without_installed_muxguard(dirs.iter().map(PathBuf::as_path))
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let sshd = self.sshd.id() as i32;
        // Frozen, the listener cannot fork a new connection while its children are listed.
        let _ = kill(Pid::from_raw(sshd), Signal::SIGSTOP);
        let tracked = self.tracked.get_mut().unwrap_or_else(|e| e.into_inner());
        // Our own children must be reaped even when they died long ago: a zombie stays in /proc.
        let ours = std::process::id() as i32;
        let children: Vec<i32> = tracked
            .iter()
            .filter(|process| process.parent() == Some(ours))
            .map(|process| process.pid)
            .collect();
        let mut victims: Vec<Proc> = tracked.iter().copied().filter(Proc::is_alive).collect();
        victims.extend(descendants(sshd).into_iter().filter_map(Proc::find));
        for victim in &victims {
            // SIGKILL also ends a stopped process.
            let _ = kill(Pid::from_raw(victim.pid), Signal::SIGKILL);
        }
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
        for pid in children {
            let _ = waitpid(Pid::from_raw(pid), None);
        }
        // The others die asynchronously; a test that checks right after the drop must not race
        // them. No panic here: this may run while a failed test unwinds.
        let started = Instant::now();
        while victims.iter().any(Proc::is_alive) && started.elapsed() < PATIENCE {
            std::thread::sleep(POLL);
        }
    }
}

/// Copies a program to run it from elsewhere. By cp, not fs::copy: a child that another test
/// forks while this process holds the copy open for writing keeps it open until its exec, and
/// running the copy in that moment fails with "Text file busy".
pub fn copy_executable(from: &Path, to: &Path) {
    let copied = Command::new("cp").arg(from).arg(to).status().unwrap();
    assert!(copied.success(), "cp {} {}", from.display(), to.display());
}

/// True while the process exists and is not a zombie.
pub fn is_running(pid: i32) -> bool {
    stat(pid).is_some_and(|s| s.is_live())
}

/// The parent of a live process.
pub fn parent_of(pid: i32) -> Option<i32> {
    stat(pid).filter(Stat::is_live).map(|s| s.ppid)
}

/// Polls `done` every 10 ms; panics naming `what` if it is still false after `timeout`.
/// The pid of the master that `ssh -O check` found answering, from what it said.
pub fn master_pid_in(check: &Output) -> Option<i32> {
    if !check.status.success() {
        return None;
    }
    // "Master running (pid=N)" on stderr.
    let stderr = String::from_utf8_lossy(&check.stderr);
    let (_, after) = stderr.split_once("(pid=")?;
    after.split(')').next()?.parse().ok()
}

pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(POLL);
    }
}

/// Runs `command` to completion, killing it after `timeout`. Output goes through files, not
/// pipes: a ControlPersist master that ssh forks keeps the stderr it inherited, and a pipe would
/// then never reach end-of-file.
pub fn output_within(command: &mut Command, timeout: Duration) -> Output {
    let mut stdout = tempfile::tempfile().unwrap();
    let mut stderr = tempfile::tempfile().unwrap();
    let mut child = command
        .stdout(stdout.try_clone().unwrap())
        .stderr(stderr.try_clone().unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?} does not start: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(POLL);
    };
    let read_all = |file: &mut File| {
        let mut bytes = Vec::new();
        file.rewind().unwrap();
        file.read_to_end(&mut bytes).unwrap();
        bytes
    };
    Output {
        status,
        stdout: read_all(&mut stdout),
        stderr: read_all(&mut stderr),
    }
}

/// The directory of one environment. A ControlPath must fit in a Unix socket address (107
/// bytes, and ssh appends 17 more while it creates the socket), so a long $TMPDIR is not used.
fn temp_root() -> TempDir {
    let base = std::env::temp_dir();
    let base = if base.as_os_str().len() <= 30 {
        base
    } else {
        PathBuf::from("/tmp")
    };
    tempfile::Builder::new()
        .prefix("mg")
        .tempdir_in(base)
        .expect("create a temporary directory")
}

fn current_user() -> String {
    User::from_uid(Uid::effective())
        .unwrap()
        .expect("the current user has a passwd entry")
        .name
}

fn keygen(path: &Path) {
    let output = output_within(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "muxguard-test", "-f"])
            .arg(path)
            .stdin(Stdio::null()),
        SSH_TIMEOUT,
    );
    assert!(
        output.status.success(),
        "ssh-keygen failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A port nobody listens on right now. Another process may take it before sshd does, hence
/// the retries in `start_sshd`.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts sshd in the foreground on a free loopback port; returns it once it listens.
fn start_sshd(dir: &Path, host_key: &Path, authorized_keys: &Path) -> (Child, u16) {
    if Uid::effective().is_root() {
        // As root, sshd refuses to start without its privilege-separation directory (a build
        // of `make test-openssh` has its own, PREFIX/var/empty).
        let _ = fs::DirBuilder::new().mode(0o755).create("/run/sshd");
    }
    let config = dir.join("sshd_config");
    let log_path = dir.join("sshd.log");
    // The sessions' HOME: an empty directory, so that the login shell reads none of the user's
    // rc files (Debian's bash sources ~/.bashrc for every command sshd runs, and a `pyenv init`
    // there makes each `echo` take seconds, or a minute behind the lock a killed one left).
    let session_home = dir.join("home");
    fs::create_dir_all(&session_home).unwrap();
    let mut log = String::new();
    for _ in 0..3 {
        let port = free_port();
        fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\n\
                 AuthorizedKeysFile {}\nStrictModes no\nUsePAM no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\nLogLevel INFO\nMaxSessions 10\n\
                 Subsystem sftp internal-sftp\nSetEnv HOME={}\n",
                host_key.display(),
                dir.join("sshd.pid").display(),
                authorized_keys.display(),
                session_home.display(),
            ),
        )
        .unwrap();
        // Fresh for each attempt, so "listening" below is this attempt's. stderr goes there
        // too: errors before sshd opens its log (a bad config) would be lost otherwise.
        fs::write(&log_path, "").unwrap();
        let stderr = OpenOptions::new().append(true).open(&log_path).unwrap();
        let mut sshd = Command::new(&openssh::openssh().sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .arg("-E")
            .arg(&log_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("sshd starts");
        // sshd logs this right after listen(), so connections are accepted from then on. Not
        // a probe connection: it could reach another test's sshd that took the port first,
        // and the process sshd forks for it would linger among `server_pids`.
        let listening = format!("Server listening on 127.0.0.1 port {port}.");
        let started = Instant::now();
        while started.elapsed() < PATIENCE && sshd.try_wait().unwrap().is_none() {
            if fs::read_to_string(&log_path).is_ok_and(|log| log.contains(&listening)) {
                return (sshd, port);
            }
            std::thread::sleep(POLL);
        }
        let _ = sshd.kill();
        let _ = sshd.wait();
        log = fs::read_to_string(&log_path).unwrap_or_default();
    }
    panic!("sshd did not start in 3 attempts; its last log:\n{log}");
}

/// The fields of /proc/PID/stat the harness needs.
struct Stat {
    state: char,
    ppid: i32,
    /// Clock ticks after boot: with the pid, names one process for good.
    start: u64,
}

impl Stat {
    fn is_live(&self) -> bool {
        !matches!(self.state, 'Z' | 'X')
    }
}

fn stat(pid: i32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; the fields after its last ')' do not.
    let mut fields = text.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    // Field 22; ppid was field 4.
    let start = fields.nth(17)?.parse().ok()?;
    Some(Stat { state, ppid, start })
}

/// A process we may kill later: a pid alone could by then belong to someone else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Proc {
    pid: i32,
    start: u64,
}

impl Proc {
    fn find(pid: i32) -> Option<Proc> {
        let stat = stat(pid).filter(Stat::is_live)?;
        Some(Proc {
            pid,
            start: stat.start,
        })
    }

    /// The same process (by start time), dead or alive, not yet reaped.
    fn stat(&self) -> Option<Stat> {
        stat(self.pid).filter(|s| s.start == self.start)
    }

    fn is_alive(&self) -> bool {
        self.stat().is_some_and(|s| s.is_live())
    }

    fn parent(&self) -> Option<i32> {
        self.stat().map(|s| s.ppid)
    }
}

/// Live descendants of `ancestor`, from one pass over /proc.
pub fn descendants(ancestor: i32) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .filter_map(|pid| {
            let stat = stat(pid).filter(Stat::is_live)?;
            Some((pid, stat.ppid))
        })
        .collect();
    let mut found = vec![ancestor];
    let mut next = 0;
    while let Some(&parent) = found.get(next) {
        found.extend(
            parents
                .iter()
                .filter(|&&(_, ppid)| ppid == parent)
                .map(|&(pid, _)| pid),
        );
        next += 1;
    }
    found.split_off(1)
}

/// A socket file with nothing listening: what SIGKILL leaves behind.
pub fn make_stale_socket(path: &Path) {
    // Bound but never listening: a UnixListener would listen, and a child that another test
    // thread forks in that moment would hold it open and listening until its exec, so a
    // connect could be accepted instead of refused.
    // Never listening, it is harmless in a child that inherits it.
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, bind, socket};
    use std::os::fd::AsRawFd;
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )
    .expect("a socket");
    bind(fd.as_raw_fd(), &UnixAddr::new(path).expect("a socket path")).expect("bind a socket");
}

/// What a fake master does with every connection.
#[derive(Clone, Copy, Debug)]
pub enum Listener {
    /// Accepts and never writes: a hung master.
    Silent,
    /// Writes text that is not the mux protocol.
    Garbage,
    /// Accepts and closes at once.
    CloseImmediately,
    /// Announces a message of almost 4 GiB and sends none of it.
    HugeLength,
    /// A well-framed HELLO with an unknown protocol version.
    WrongHello,
}

impl Listener {
    /// The bytes written on accepting, or None to close at once.
    fn greeting(self) -> Option<&'static [u8]> {
        match self {
            Listener::Silent => Some(b""),
            Listener::Garbage => Some(b"HTTP/1.1 400 Bad Request\r\n\r\n"),
            Listener::CloseImmediately => None,
            Listener::HugeLength => Some(&[0xff, 0xff, 0xff, 0xf0]),
            // Length 8, then type 1 (MUX_MSG_HELLO) and version 99, all big-endian u32.
            Listener::WrongHello => Some(&[0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 99]),
        }
    }
}

/// A fake master in a thread of the test process. Dropping it stops the thread and closes
/// every connection; the socket file stays (stale from then on).
pub struct ListenerGuard {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Listens at `path` and treats every connection as `behaviour` says until the guard drops.
pub fn spawn_listener(path: &Path, behaviour: Listener) -> ListenerGuard {
    let listener = UnixListener::bind(path)
        .unwrap_or_else(|e| panic!("bind a listener at {}: {e}", path.display()));
    // Non-blocking, so the thread sees the stop flag without a wake-up connection.
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = Arc::clone(&stop);
    let thread = std::thread::spawn(move || {
        // Held open until the guard drops.
        let mut open = Vec::new();
        while !stopping.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    if let Some(bytes) = behaviour.greeting() {
                        let _ = stream.write_all(bytes);
                        open.push(stream);
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        // A child that another test thread forks holds copies of these descriptors until its
        // exec, so closing ours would leave the socket listening (a connect accepted, not
        // refused) and the connections open. A shutdown acts on the socket itself.
        for stream in &open {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        let _ = nix::sys::socket::shutdown(
            std::os::fd::AsRawFd::as_raw_fd(&listener),
            nix::sys::socket::Shutdown::Both,
        );
    });
    ListenerGuard {
        stop,
        thread: Some(thread),
    }
}

/// What a listener says first: everything it writes until it closes or is quiet for 300 ms.
pub fn first_bytes(path: &Path) -> Vec<u8> {
    let mut stream = UnixStream::connect(path).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    bytes
}
