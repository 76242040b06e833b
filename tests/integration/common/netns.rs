//! Network namespaces a test makes itself (`ip netns`, as root): a network of its own to
//! change, cut or watch, where nothing another test does is seen. Deleted, with every process
//! started in them, when dropped.

use std::ffi::OsStr;
use std::fs;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::sys::signal::Signal;

use super::{TestEnv, wait_until};

pub struct Namespace {
    pub name: String,
    /// A Mutex so that a shared namespace can start processes.
    processes: Mutex<Vec<Child>>,
}

impl Namespace {
    /// Whether namespaces can be made here; if not, says that `test` is skipped and why.
    pub fn possible(test: &str) -> bool {
        let possible = nix::unistd::Uid::effective().is_root() && which::which("ip").is_ok();
        if !possible {
            eprintln!("skipped {test}: it needs root and ip (iproute2) to make network namespaces");
        }
        possible
    }

    /// A new namespace, its loopback up. `None` (said) when `ip` refuses.
    pub fn new() -> Option<Namespace> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let namespace = Namespace {
            name: format!("mg{}x{n}", std::process::id()),
            processes: Mutex::new(Vec::new()),
        };
        let made = Command::new("ip")
            .args(["netns", "add", &namespace.name])
            .status()
            .is_ok_and(|status| status.success());
        if !made {
            eprintln!("skipped: `ip netns add` failed");
            return None;
        }
        namespace.ip(&["link", "set", "lo", "up"]);
        Some(namespace)
    }

    /// `ip -n NAMESPACE args`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        let status = Command::new("ip")
            .args(["-n", &self.name])
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "ip -n {} {}", self.name, args.join(" "));
    }

    /// The pids of the processes running in the namespace.
    fn pids(&self) -> Vec<i32> {
        let Ok(output) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        else {
            return Vec::new();
        };
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .filter_map(|pid| pid.parse().ok())
            .collect()
    }

    /// The names of the processes running in the namespace.
    pub fn process_names(&self) -> Vec<String> {
        self.pids()
            .into_iter()
            .filter_map(|pid| fs::read_to_string(format!("/proc/{pid}/comm")).ok())
            .map(|name| name.trim_end().to_string())
            .collect()
    }

    /// `program` run inside the namespace.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Starts `command`, to be ended with the namespace; its pid.
    pub fn spawn(&self, command: &mut Command) -> i32 {
        let child = command.spawn().expect("a command in the namespace starts");
        let pid = child.id() as i32;
        self.processes.lock().unwrap().push(child);
        pid
    }

    /// A second sshd of `env`'s, with its keys and settings (and port), listening on `address`
    /// in this namespace (and, as its config says, on the namespace's own 127.0.0.1): its pid,
    /// once it listens.
    pub fn start_sshd(&self, env: &TestEnv, address: &str) -> i32 {
        let log = env.root.join(format!("sshd-{}.log", self.name));
        let mut sshd = self.command(&super::openssh::openssh().sshd);
        sshd.args(["-D", "-e", "-f"])
            .arg(env.root.join("sshd/sshd_config"))
            .args(["-o", &format!("ListenAddress={address}")])
            .arg("-o")
            .arg(format!(
                "PidFile={}",
                env.root.join(format!("sshd-{}.pid", self.name)).display()
            ))
            .arg("-E")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // `ip netns exec` execs sshd: the pid is sshd's.
        let pid = self.spawn(&mut sshd);
        let listening = format!("Server listening on {address} port {}.", env.port);
        wait_until("the sshd in the namespace", Duration::from_secs(10), || {
            fs::read_to_string(&log).is_ok_and(|text| text.contains(&listening))
        });
        pid
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let processes = self.processes.get_mut().unwrap_or_else(|e| e.into_inner());
        for process in processes {
            let _ = process.kill();
            let _ = process.wait();
        }
        // And whatever those started that outlives them (masters gone to the background, an
        // sshd's sessions): a process in a deleted namespace lives on, and a session whose
        // peer went with the namespace waits for ever.
        for _ in 0..10 {
            let pids = self.pids();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Two network namespaces joined by a veth pair: the client's (10.99.0.1) and the server's
/// (10.99.0.2).
pub struct Veth {
    pub client: Namespace,
    pub server: Namespace,
}

pub const SERVER_ADDRESS: &str = "10.99.0.2";

impl Veth {
    pub fn new() -> Option<Veth> {
        let veth = Veth {
            client: Namespace::new()?,
            server: Namespace::new()?,
        };
        let server = veth.server.name.as_str();
        veth.client.ip(&[
            "link", "add", "vc", "type", "veth", "peer", "name", "vs", "netns", server,
        ]);
        veth.client
            .ip(&["addr", "add", "10.99.0.1/24", "dev", "vc"]);
        veth.server
            .ip(&["addr", "add", "10.99.0.2/24", "dev", "vs"]);
        veth.client.ip(&["link", "set", "vc", "up"]);
        veth.server.ip(&["link", "set", "vs", "up"]);
        Some(veth)
    }

    /// The server's end of the pair goes down: packets from the client are lost.
    pub fn cut(&self) {
        self.server.ip(&["link", "set", "vs", "down"]);
    }
}

/// The options that take a client's ssh across the pair to the server (whose host key no
/// known_hosts file of the test's holds under that address).
pub fn across() -> Vec<String> {
    [
        "-o",
        &format!("HostName={SERVER_ADDRESS}"),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
    ]
    .map(String::from)
    .to_vec()
}

impl Veth {
    /// Whether flows can be dropped here (iptables); if not, says that `test` is skipped.
    pub fn can_drop_flows(test: &str) -> bool {
        let possible = Namespace::possible(test) && which::which("iptables").is_ok();
        if !possible {
            eprintln!("skipped {test}: it needs iptables to drop one flow");
        }
        possible
    }

    /// A ControlPersist master for `alias` (as `env`'s config takes it across), made from the
    /// client's namespace by a plain ssh: its pid, killed with `env`.
    pub fn persist_master(&self, env: &TestEnv, alias: &str) -> i32 {
        let mut make = self.client.command("ssh");
        make.arg("-F")
            .arg(&env.ssh_config)
            .args(["-o", "ControlPersist=60", alias, "true"])
            .stdin(Stdio::null());
        let made = super::output_within(&mut make, Duration::from_secs(15));
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let mut check = self.client.command(env!("CARGO_BIN_EXE_muxguard"));
        env.isolate(&mut check);
        check
            .args(["check", "--json", "-F"])
            .arg(&env.ssh_config)
            .arg(alias);
        let json = super::cli::run(check).json();
        let master = json["pid"].as_i64().expect("a master") as i32;
        env.track_pid(master);
        master
    }

    /// The client's port of `pid`'s established TCP connection to the server.
    pub fn flow_port_of(&self, pid: i32) -> u16 {
        let output = self
            .client
            .command("ss")
            .args(["-Htnp", "state", "established", "dst", SERVER_ADDRESS])
            .output()
            .unwrap();
        let table = String::from_utf8_lossy(&output.stdout);
        let owner = format!("pid={pid},");
        table
            .lines()
            .find(|line| line.contains(&owner))
            .and_then(|line| line.split_whitespace().nth(2))
            .and_then(|local| local.rsplit_once(':'))
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or_else(|| panic!("no connection of pid {pid} in:\n{table}"))
    }

    /// The client's flow from `port` refused on its way out, as a local firewall or a VPN
    /// interface that went down refuses it: the kernel cannot send, and retries.
    pub fn refuse_flow_going_out(&self, port: u16) {
        let status = self
            .client
            .command("iptables")
            .args([
                "-I",
                "OUTPUT",
                "-p",
                "tcp",
                "--sport",
                &port.to_string(),
                "-j",
                "DROP",
            ])
            .status()
            .unwrap();
        assert!(status.success(), "iptables OUTPUT --sport {port}");
    }

    /// Every packet of the client's flow from `port` is lost, both ways, as a NAT that forgot
    /// it or a VPN that dropped it loses them: on arrival, so that each side sends and
    /// retransmits as into a network (a packet dropped on its way out fails the send instead).
    /// New connections get through. Dropped once nothing is in flight on it, as when a
    /// flow idle a moment is lost: what the master sent last (the close of the session that
    /// made it) would otherwise be left unacknowledged, evidence a moment's drop does not give.
    pub fn drop_flow(&self, port: u16) {
        let port = port.to_string();
        let filter = format!("sport = :{port}");
        wait_until(
            "the flow to have nothing in flight",
            Duration::from_secs(5),
            || {
                let shown = self
                    .client
                    .command("ss")
                    .args(["-Htni", "state", "established", &filter])
                    .output()
                    .unwrap();
                let shown = String::from_utf8_lossy(&shown.stdout);
                !shown.trim().is_empty() && !shown.contains("unacked:")
            },
        );
        for (namespace, side) in [(&self.server, "--sport"), (&self.client, "--dport")] {
            let status = namespace
                .command("iptables")
                .args(["-I", "INPUT", "-p", "tcp", side, &port, "-j", "DROP"])
                .status()
                .unwrap();
            assert!(status.success(), "iptables INPUT {side} {port}");
        }
    }
}
