//! The integration-test harness: a private sshd on 127.0.0.1 with its own keys, a generated
//! ssh config, real masters, and fixtures for bad input. Everything it starts is killed by pid
//! when the environment is dropped.
#![allow(dead_code)] // not every test uses every helper

pub mod cli;

use std::cell::RefCell;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;

pub struct TestEnv {
    _temp: TempDir,
    pub root: PathBuf,
    /// HOME for muxguard runs (Ansible's socket directory is under it).
    pub home: PathBuf,
    /// XDG_STATE_HOME for muxguard runs.
    pub state_dir: PathBuf,
    /// Where the generated config puts control sockets (mode 0700).
    pub cm_dir: PathBuf,
    pub ssh_config: PathBuf,
    pub port: u16,
    sshd: RefCell<Child>,
    tracked: RefCell<Vec<i32>>,
}

/// A master started by the environment.
pub struct Master {
    pub pid: i32,
    pub path: PathBuf,
    child: Option<Child>,
}

impl Master {
    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid), signal).expect("signal the master");
    }

    /// SIGKILL, then make sure the process is gone (a zombie still shows in /proc).
    pub fn kill_and_reap(&mut self) {
        self.signal(Signal::SIGKILL);
        match &mut self.child {
            Some(child) => {
                child.wait().expect("reap the master");
            }
            None => wait_until("the master to die", Duration::from_secs(5), || {
                !is_running(self.pid)
            }),
        }
    }
}

/// True while the process exists and is not a zombie.
pub fn is_running(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        !state.starts_with('Z') && !state.starts_with('X')
    })
}

pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn sshd_binary() -> PathBuf {
    let standard = PathBuf::from("/usr/sbin/sshd");
    if standard.exists() {
        return standard;
    }
    which::which("sshd").expect("sshd not found: apt-get install openssh-server")
}

fn current_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::effective())
        .unwrap()
        .expect("the current user has a passwd entry")
        .name
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "muxguard-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success(), "ssh-keygen failed");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl TestEnv {
    pub fn new() -> TestEnv {
        Self::with_extra_config("")
    }

    /// `extra` is put before the standard Host blocks (ssh takes the first value it finds).
    pub fn with_extra_config(extra: &str) -> TestEnv {
        let temp = tempfile::Builder::new().prefix("mg").tempdir().unwrap();
        // Short: a ControlPath must fit in a Unix socket address.
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
        let host_pub = fs::read_to_string(host_key.with_extension("pub")).unwrap();

        if nix::unistd::Uid::effective().is_root() {
            // sshd refuses to start as root without its privilege-separation directory.
            let _ = fs::create_dir_all("/run/sshd");
        }

        let mut attempts = 0;
        let (sshd, port) = loop {
            attempts += 1;
            let port = free_port();
            let sshd_config = sshd_dir.join("sshd_config");
            fs::write(
                &sshd_config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\n\
                     AuthorizedKeysFile {}\nStrictModes no\nUsePAM no\n\
                     PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                     PermitRootLogin prohibit-password\nLogLevel INFO\nMaxSessions 10\n\
                     Subsystem sftp internal-sftp\n",
                    host_key.display(),
                    sshd_dir.join("sshd.pid").display(),
                    authorized_keys.display(),
                ),
            )
            .unwrap();
            let mut sshd = Command::new(sshd_binary())
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&sshd_config)
                .arg("-E")
                .arg(sshd_dir.join("sshd.log"))
                .stdin(Stdio::null())
                .spawn()
                .expect("sshd starts");
            let started = Instant::now();
            let ready = loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break true;
                }
                if sshd.try_wait().unwrap().is_some() || started.elapsed() > Duration::from_secs(10)
                {
                    break false;
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            if ready {
                break (sshd, port);
            }
            let _ = sshd.kill();
            let _ = sshd.wait();
            let log = fs::read_to_string(sshd_dir.join("sshd.log")).unwrap_or_default();
            assert!(attempts < 3, "sshd did not start:\n{log}");
        };

        fs::write(
            root.join("known_hosts"),
            format!("[127.0.0.1]:{port} {host_pub}"),
        )
        .unwrap();
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
                known_hosts = root.join("known_hosts").display(),
            ),
        )
        .unwrap();

        TestEnv {
            _temp: temp,
            root,
            home,
            state_dir,
            cm_dir,
            ssh_config,
            port,
            sshd: RefCell::new(sshd),
            tracked: RefCell::new(Vec::new()),
        }
    }

    pub fn ssh_args(&self, alias: &str) -> Vec<String> {
        vec![
            "-F".into(),
            self.ssh_config.display().to_string(),
            alias.into(),
        ]
    }

    fn ssh_command(&self) -> Command {
        let mut command = Command::new("ssh");
        command.arg("-F").arg(&self.ssh_config).stdin(Stdio::null());
        command
    }

    pub fn control_path(&self, alias: &str) -> PathBuf {
        let output = self.ssh_command().arg("-G").arg(alias).output().unwrap();
        assert!(output.status.success(), "ssh -G {alias} failed");
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("controlpath "))
            .map(PathBuf::from)
            .expect("a controlpath")
    }

    /// `ssh -O check`: the pid of the master at the alias's ControlPath, if one answers.
    fn master_pid(&self, alias: &str) -> Option<i32> {
        let output = self
            .ssh_command()
            .args(["-O", "check", alias])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let (_, after) = stderr.split_once("(pid=")?;
        after.split(')').next()?.parse().ok()
    }

    /// A master in the foreground, as a child of the test: `ssh -M -N`.
    pub fn start_master(&self, alias: &str) -> Master {
        let child = self
            .ssh_command()
            .args(["-M", "-N", "-o", "ControlPersist=no", alias])
            .stdout(Stdio::null())
            .spawn()
            .expect("ssh starts");
        let pid = child.id() as i32;
        self.track_pid(pid);
        wait_until("the master to answer", Duration::from_secs(10), || {
            self.master_pid(alias) == Some(pid)
        });
        Master {
            pid,
            path: self.control_path(alias),
            child: Some(child),
        }
    }

    /// A master the way users get them: ControlPersist, so it goes to the background itself.
    pub fn start_persist_master(&self, alias: &str) -> Master {
        let status = self
            .ssh_command()
            .args(["-o", "ControlPersist=60", alias, "true"])
            .stdout(Stdio::null())
            .status()
            .expect("ssh runs");
        assert!(status.success(), "ssh {alias} true failed");
        let pid = self
            .master_pid(alias)
            .expect("the persistent master answers");
        self.track_pid(pid);
        Master {
            pid,
            path: self.control_path(alias),
            child: None,
        }
    }

    /// Runs `ssh alias cmd...` through whatever master there is, killed after 15 s.
    pub fn ssh(&self, alias: &str, cmd: &[&str]) -> Output {
        let mut child = self
            .ssh_command()
            .arg(alias)
            .args(cmd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(15) {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child.wait_with_output().unwrap()
    }

    /// The per-connection sshd processes: every descendant of the listener.
    pub fn server_pids(&self) -> Vec<i32> {
        descendants(self.sshd.borrow().id() as i32)
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
    /// no colour, and none of the parent's MUXGUARD_* settings.
    pub fn isolate(&self, command: &mut Command) {
        command
            .env("HOME", &self.home)
            .env("XDG_STATE_HOME", &self.state_dir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MUXGUARD_") {
                command.env_remove(name);
            }
        }
    }

    /// Kills `pid` when the environment is dropped.
    pub fn track_pid(&self, pid: i32) {
        self.tracked.borrow_mut().push(pid);
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let sshd_pid = self.sshd.borrow().id() as i32;
        let mut victims = self.tracked.borrow().clone();
        victims.extend(descendants(sshd_pid));
        for pid in victims {
            // Only processes still ours: a tracked pid that exited may have been reused.
            if is_running(pid) && is_descendant_or_ssh(pid) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        let mut sshd = self.sshd.borrow_mut();
        let _ = sshd.kill();
        let _ = sshd.wait();
    }
}

fn is_descendant_or_ssh(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|comm| matches!(comm.trim(), "ssh" | "sshd"))
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn descendants(ancestor: i32) -> Vec<i32> {
    let pids: Vec<i32> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect();
    let mut found = vec![ancestor];
    let mut index = 0;
    while index < found.len() {
        let parent = found[index];
        for &pid in &pids {
            if parent_of(pid) == Some(parent) && !found.contains(&pid) {
                found.push(pid);
            }
        }
        index += 1;
    }
    found.remove(0);
    found
}

/// A socket file with nothing listening: what SIGKILL leaves behind.
pub fn make_stale_socket(path: &Path) {
    drop(UnixListener::bind(path).expect("bind a socket"));
}

pub enum Listener {
    /// Accepts and never writes.
    Silent,
    /// Writes text that is not the mux protocol.
    Garbage,
    /// Accepts and closes at once.
    CloseImmediately,
    /// Announces a message of almost 4 GiB.
    HugeLength,
    /// A well-framed HELLO with an unknown protocol version.
    WrongHello,
}

/// A listener in a thread of the test process; stopped when dropped.
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

pub fn spawn_listener(path: &Path, behaviour: Listener) -> ListenerGuard {
    let listener = UnixListener::bind(path).expect("bind a listener");
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = Arc::clone(&stop);
    let thread = std::thread::spawn(move || {
        let mut open: Vec<UnixStream> = Vec::new();
        while !stopping.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let reply: &[u8] = match behaviour {
                        Listener::Silent => b"",
                        Listener::Garbage => b"HTTP/1.1 400 Bad Request\r\n\r\n",
                        Listener::CloseImmediately => continue, // dropped: closed
                        Listener::HugeLength => &[0xff, 0xff, 0xff, 0xf0],
                        Listener::WrongHello => &[0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 99],
                    };
                    let _ = stream.write_all(reply);
                    open.push(stream);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    ListenerGuard {
        stop,
        thread: Some(thread),
    }
}

/// Reads what a listener says first, for the harness's own tests.
pub fn first_bytes(path: &Path) -> Vec<u8> {
    let mut stream = UnixStream::connect(path).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    bytes
}
