//! A master whose one TCP flow the network dropped a moment ago (a NAT that forgot it, a VPN
//! that dropped it), while new connections get through: made for real in namespaces of the
//! test's, with iptables.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::TestEnv;
use crate::common::cli::run;
use crate::common::netns::{SERVER_ADDRESS, Veth};
use crate::common::output_within;

/// Across the pair, and with no keepalive of ssh's own: only muxguard can notice.
fn across() -> Vec<String> {
    let mut options = crate::common::netns::across();
    options.extend(["-o".into(), "ServerAliveInterval=0".into()]);
    options
}

fn ssh(veth: &Veth, env: &TestEnv, args: &[&str]) -> Command {
    let mut command = veth.client.command("ssh");
    command
        .arg("-F")
        .arg(&env.ssh_config)
        .args(across())
        .args(args)
        .stdin(Stdio::null());
    command
}

fn muxguard(veth: &Veth, env: &TestEnv, args: &[&str]) -> Command {
    let mut command = veth.client.command(env!("CARGO_BIN_EXE_muxguard"));
    env.isolate(&mut command);
    command.args(args);
    command
}

/// A namespace pair with the server, and a ControlPersist master for alpha across it: the
/// pair, the master's pid and its flow's port.
fn master_across(test: &str, env: &TestEnv) -> Option<(Veth, i32, u16)> {
    if !Veth::can_drop_flows(test) {
        return None;
    }
    let veth = Veth::new()?;
    let sshd = veth.server.start_sshd(env, SERVER_ADDRESS);
    std::fs::write(env.root.join("sshd-across.pid"), sshd.to_string()).unwrap();
    let made = output_within(
        &mut ssh(&veth, env, &["-o", "ControlPersist=60", "alpha", "true"]),
        Duration::from_secs(15),
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mut check = muxguard(&veth, env, &["check", "--json", "--", "-F"]);
    check.arg(&env.ssh_config).args(across()).arg("alpha");
    let json = run(check).json();
    assert_eq!(json["state"], "live", "{json}");
    let master = json["pid"].as_i64().unwrap() as i32;
    env.track_pid(master);
    let port = veth.flow_port_of(master);
    Some((veth, master, port))
}

/// `muxguard ssh alpha` running `command` on the server, from the client's namespace.
fn wrapped(veth: &Veth, env: &TestEnv, command: &str) -> Command {
    let mut wrapped = muxguard(veth, env, &["ssh", "-F"]);
    wrapped
        .arg(&env.ssh_config)
        .args(across())
        .args(["alpha", command]);
    wrapped
}

/// Dropped a moment ago, the flow shows nothing before the request goes out: the check lets
/// ssh through the master, and its request is lost. The companion sees it retransmitted and
/// unacknowledged and ends the master; ssh falls back to a connection of its own. Through in
/// a few seconds, the command run once, the output whole even through `$(...)`.
#[test]
fn a_flow_dropped_a_moment_ago_is_left_for_a_fresh_connection() {
    let env = TestEnv::new();
    let test = "a_flow_dropped_a_moment_ago_is_left_for_a_fresh_connection";
    let Some((veth, master, port)) = master_across(test, &env) else {
        return;
    };
    let runs = env.root.join("runs");
    let command = format!("echo once >> {}; echo ALIVE", runs.display());
    veth.drop_flow(port);

    let started = Instant::now();
    let output = output_within(&mut wrapped(&veth, &env, &command), Duration::from_secs(30));
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.stdout, b"ALIVE\n", "after {took:?}: {stderr}");
    assert!(took < Duration::from_secs(6), "took {took:?}: {stderr}");
    println!("through, from the drop to ssh's end, in {took:?}");
    assert!(
        stderr.contains(&format!("ended master pid {master}")),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), "once\n");
    crate::common::wait_until("the dead master to end", Duration::from_secs(5), || {
        !crate::common::is_running(master)
    });
    assert_no_companion(&veth);
}

/// No muxguard is left in the client's namespace once ssh is done: the companion goes with it.
fn assert_no_companion(veth: &Veth) {
    crate::common::wait_until("the companion to go", Duration::from_secs(2), || {
        !veth
            .client
            .process_names()
            .iter()
            .any(|name| name == "muxguard")
    });
}

/// The same through `out=$(timeout 30 muxguard ssh ...)`: the companion holds no descriptor
/// of the command substitution's, so it returns with ssh.
#[test]
fn a_command_substitution_returns_with_the_output() {
    let env = TestEnv::new();
    let test = "a_command_substitution_returns_with_the_output";
    let Some((veth, _, port)) = master_across(test, &env) else {
        return;
    };
    veth.drop_flow(port);
    let line = format!(
        "out=$(timeout 30 {} ssh -F {} {} alpha 'echo ALIVE'); echo \"got $out\"",
        env!("CARGO_BIN_EXE_muxguard"),
        env.ssh_config.display(),
        across().join(" "),
    );
    let mut shell = veth.client.command("sh");
    env.isolate(&mut shell);
    shell.args(["-c", &line]);
    let started = Instant::now();
    let output = output_within(&mut shell, Duration::from_secs(40));
    let took = started.elapsed();
    assert_eq!(
        output.stdout,
        b"got ALIVE\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

/// A server that is wedged but acknowledges (its session processes stopped, its kernel still
/// answering TCP): the request was acknowledged, so the master is never ended, and once the
/// server goes on the command runs, once. ServerAliveInterval's business, not muxguard's.
#[test]
fn a_request_the_server_acknowledged_is_never_taken_back() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let env = TestEnv::new();
    let test = "a_request_the_server_acknowledged_is_never_taken_back";
    let Some((veth, master, _)) = master_across(test, &env) else {
        return;
    };
    let sshd: i32 = std::fs::read_to_string(env.root.join("sshd-across.pid"))
        .unwrap()
        .parse()
        .unwrap();
    let server_side = crate::common::descendants(sshd);
    assert!(!server_side.is_empty());
    let signal_all = |signal| {
        for &pid in &server_side {
            kill(Pid::from_raw(pid), signal).unwrap();
        }
    };
    signal_all(Signal::SIGSTOP);
    let runs = env.root.join("runs");
    let command = format!("echo once >> {}; echo ALIVE", runs.display());
    let mut session = wrapped(&veth, &env, &command);
    session.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = session.spawn().unwrap();
    env.track_pid(child.id() as i32);
    // Past every threshold of the companion's.
    std::thread::sleep(Duration::from_secs(3));
    assert!(crate::common::is_running(master), "the master was ended");
    signal_all(Signal::SIGCONT);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.stdout, b"ALIVE\n", "{stderr}");
    assert!(!stderr.contains("ended master"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), "once\n");
    assert!(crate::common::is_running(master));

    // And a healthy master carries command after command, never ended.
    for _ in 0..20 {
        let output = output_within(&mut wrapped(&veth, &env, "true"), Duration::from_secs(10));
        assert!(output.status.success());
        assert!(
            output.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(crate::common::is_running(master));
    assert_no_companion(&veth);
}

/// `behind` has no master of its own and is reached through beta's; `inner` has one, carried
/// by beta's; all are across the pair.
fn env_behind_a_bastion() -> TestEnv {
    TestEnv::with_extra_config(&format!(
        "Host beta behind inner\n  HostName {SERVER_ADDRESS}\n  StrictHostKeyChecking no\n\
         \x20 UserKnownHostsFile /dev/null\n  ServerAliveInterval 0\n\
         Host behind\n  ControlPath none\n  ProxyJump beta\nHost inner\n  ProxyJump beta\n"
    ))
}

/// The bastion's master across the pair, made and then its flow dropped: the pair and the
/// master's pid.
fn dead_bastion(test: &str, env: &TestEnv) -> Option<(Veth, i32)> {
    if !Veth::can_drop_flows(test) {
        return None;
    }
    let veth = Veth::new()?;
    veth.server.start_sshd(env, SERVER_ADDRESS);
    let master = veth.persist_master(env, "beta");
    veth.drop_flow(veth.flow_port_of(master));
    Some((veth, master))
}

fn through_the_bastion(veth: &Veth, env: &TestEnv, settings: &[(&str, &str)]) -> Command {
    let mut command = muxguard(veth, env, &["ssh", "-F"]);
    command
        .envs(settings.iter().copied())
        .arg(&env.ssh_config)
        .args(["behind", "echo", "ALIVE"]);
    command
}

/// Silent for MUXGUARD_PROBE_AFTER, the bastion's master is probed as the hop is checked,
/// found dead and ended: ssh's `-W` connects afresh and gets through.
#[test]
fn a_bastion_silent_too_long_is_ended_before_ssh_goes_through_it() {
    let env = env_behind_a_bastion();
    let test = "a_bastion_silent_too_long_is_ended_before_ssh_goes_through_it";
    let Some((veth, master)) = dead_bastion(test, &env) else {
        return;
    };
    std::thread::sleep(Duration::from_millis(2200));
    let settings = [("MUXGUARD_PROBE_AFTER", "2s")];
    let started = Instant::now();
    let output = output_within(
        &mut through_the_bastion(&veth, &env, &settings),
        Duration::from_secs(30),
    );
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.stdout, b"ALIVE\n", "after {took:?}: {stderr}");
    assert!(took < Duration::from_secs(8), "took {took:?}: {stderr}");
    assert!(stderr.contains("unreachable"), "{stderr}");
    crate::common::wait_until("the dead bastion to end", Duration::from_secs(5), || {
        !crate::common::is_running(master)
    });
}

/// Dropped a moment ago, under the default settings: nothing shows before the hand-over, and
/// `-W` through the bastion has no fallback; the companion ends the bastion's master, and ssh
/// ends within seconds, with muxguard's line, instead of hanging. The next ssh gets through.
#[test]
fn behind_a_bastion_dropped_a_moment_ago_ssh_ends_instead_of_hanging() {
    let env = env_behind_a_bastion();
    let test = "behind_a_bastion_dropped_a_moment_ago_ssh_ends_instead_of_hanging";
    let Some((veth, master)) = dead_bastion(test, &env) else {
        return;
    };
    let started = Instant::now();
    let output = output_within(
        &mut through_the_bastion(&veth, &env, &[]),
        Duration::from_secs(30),
    );
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(took < Duration::from_secs(8), "took {took:?}: {stderr}");
    assert!(
        stderr.contains(&format!("ended master pid {master}"))
            && stderr.contains("ssh cannot go around a jump host's master: run it again"),
        "{stderr}"
    );
    let again = output_within(
        &mut through_the_bastion(&veth, &env, &[]),
        Duration::from_secs(30),
    );
    assert_eq!(
        again.stdout,
        b"ALIVE\n",
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// The bastion's master and an inner one it carries, across the pair, the bastion's flow then
/// dropped: the pair and the two masters' pids.
fn bastion_and_inner_dropped(test: &str, env: &TestEnv) -> Option<(Veth, [i32; 2])> {
    if !Veth::can_drop_flows(test) {
        return None;
    }
    let veth = Veth::new()?;
    veth.server.start_sshd(env, SERVER_ADDRESS);
    let masters = ["beta", "inner"].map(|alias| veth.persist_master(env, alias));
    veth.drop_flow(veth.flow_port_of(masters[0]));
    Some((veth, masters))
}

/// A plain ssh through `alias`'s master, left hanging on a dead flow: what makes its trouble
/// show in the kernel (data sent and retransmitted).
fn hang_a_session(veth: &Veth, env: &TestEnv, alias: &str) {
    let mut hung = veth.client.command("ssh");
    hung.arg("-F")
        .arg(&env.ssh_config)
        .args([alias, "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    veth.client.spawn(&mut hung);
}

/// A master of its own behind the bastion holds no TCP flow: the bastion's carries it. That
/// flow dropped a moment ago, the companion watches it, ends the bastion's master, the inner
/// master goes with it, and ssh connects afresh: through, the command run once, both old
/// masters gone.
#[test]
fn a_master_carried_by_a_bastion_dropped_a_moment_ago_is_left_for_a_fresh_one() {
    let env = env_behind_a_bastion();
    let test = "a_master_carried_by_a_bastion_dropped_a_moment_ago_is_left_for_a_fresh_one";
    let Some((veth, masters)) = bastion_and_inner_dropped(test, &env) else {
        return;
    };

    let runs = env.root.join("runs");
    let mut command = muxguard(&veth, &env, &["ssh", "-F"]);
    command.arg(&env.ssh_config).args([
        "inner",
        &format!("echo once >> {}; echo ALIVE", runs.display()),
    ]);
    let started = Instant::now();
    let output = output_within(&mut command, Duration::from_secs(30));
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.stdout, b"ALIVE\n", "after {took:?}: {stderr}");
    assert!(took < Duration::from_secs(8), "took {took:?}: {stderr}");
    assert!(
        stderr.contains(&format!("ended master pid {}", masters[0]))
            && stderr.contains("; ssh connects afresh"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), "once\n");
    crate::common::wait_until("both old masters to end", Duration::from_secs(5), || {
        masters.iter().all(|&pid| !crate::common::is_running(pid))
    });
}

/// A flow refused on its way out (a local firewall, a VPN interface gone) leaves nothing in
/// flight: the kernel holds the data and retries with a growing backoff. After a first ssh
/// hung on it, `check` calls that trouble, as `watch` does, so a second attempt never waits
/// where the first did.
#[test]
fn a_flow_that_cannot_send_is_trouble_for_check() {
    let env = TestEnv::new();
    let test = "a_flow_that_cannot_send_is_trouble_for_check";
    let Some((veth, _, port)) = master_across(test, &env) else {
        return;
    };
    veth.refuse_flow_going_out(port);
    let mut hung = ssh(&veth, &env, &["alpha", "true"]);
    hung.stdout(Stdio::null()).stderr(Stdio::null());
    veth.client.spawn(&mut hung);
    let check = || {
        let mut check = muxguard(&veth, &env, &["check", "--json", "--", "-F"]);
        check.arg(&env.ssh_config).args(across()).arg("alpha");
        run(check).json()
    };
    let started = Instant::now();
    let json = loop {
        let json = check();
        if json["probe"] != "server-heard" || started.elapsed() > Duration::from_secs(8) {
            break json;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(json["probe"], "link-trouble", "{json}");
    assert_eq!(json["state"], "unreachable", "{json}");
}

/// Once the bastion's flow shows its trouble (a first ssh hung on it), `check inner` is not
/// live: its reason names the jump host's master that carries it, and `--fix` ends both.
#[test]
fn a_master_carried_by_a_dead_bastion_is_unreachable_and_fixed_with_it() {
    let env = env_behind_a_bastion();
    let test = "a_master_carried_by_a_dead_bastion_is_unreachable_and_fixed_with_it";
    let Some((veth, masters)) = bastion_and_inner_dropped(test, &env) else {
        return;
    };
    hang_a_session(&veth, &env, "inner");
    let check = |fix: bool| {
        let mut check = muxguard(&veth, &env, &["check", "--json"]);
        if fix {
            check.arg("--fix");
        }
        check.arg("-F").arg(&env.ssh_config).arg("inner");
        run(check)
    };
    let started = Instant::now();
    let json = loop {
        let json = check(false).json();
        if json["state"] != "live" || started.elapsed() > Duration::from_secs(10) {
            break json;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(json["state"], "unreachable", "{json}");
    assert_eq!(json["reason"], "carrier-dead", "{json}");
    assert_eq!(
        json["via"],
        env.control_path("beta").to_str().unwrap(),
        "{json}"
    );
    assert_eq!(json["hops"][0]["state"], "unreachable", "{json}");

    let fixed = check(true);
    assert_eq!(fixed.code, 0, "{}", fixed.stdout);
    crate::common::wait_until("both masters to end", Duration::from_secs(5), || {
        masters.iter().all(|&pid| !crate::common::is_running(pid))
    });
}

/// `watch` follows the chain too: the bastion's flow in trouble (a session hung on it) is
/// trouble for the inner master it carries, and one round ends both.
#[test]
fn watch_heals_every_master_a_dead_bastion_carries() {
    let env = env_behind_a_bastion();
    let test = "watch_heals_every_master_a_dead_bastion_carries";
    let Some((veth, masters)) = bastion_and_inner_dropped(test, &env) else {
        return;
    };
    hang_a_session(&veth, &env, "inner");

    let log = env.root.join("watch.jsonl");
    let mut watch = muxguard(&veth, &env, &["--timeout", "1s", "watch", "--json", "-F"]);
    watch
        .arg(&env.ssh_config)
        .env("MUXGUARD_PROBE_AFTER", "2s")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null());
    veth.client.spawn(&mut watch);
    // The round's last line comes after its repairs.
    let round_said = || std::fs::read_to_string(&log).is_ok_and(|text| text.contains("\"ended\":"));
    crate::common::wait_until("watch's round", Duration::from_secs(15), round_said);
    assert!(masters.iter().all(|&pid| !crate::common::is_running(pid)));
    // The inner master was judged by its carrier's flow, not left to go with it.
    let events = std::fs::read_to_string(&log).unwrap();
    let inner = env.control_path("inner");
    let judged = events
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .any(|event| {
            event["event"] == "link-trouble"
                && event["socket"]["path"] == inner.to_str().unwrap()
                && event["socket"]["via"] == env.control_path("beta").to_str().unwrap()
        });
    assert!(judged, "{events}");
}

/// A master carried by a plain ProxyCommand (an `ssh -W` with a connection of its own) whose
/// connection was dropped a moment ago: the companion watches the ProxyCommand's connection,
/// ends the master, and ssh connects afresh through a new ProxyCommand. The command runs once.
#[test]
fn a_plain_proxy_command_dropped_a_moment_ago_is_left_for_a_fresh_connection() {
    let env = env_behind_a_bastion();
    let test = "a_plain_proxy_command_dropped_a_moment_ago_is_left_for_a_fresh_connection";
    if !Veth::can_drop_flows(test) {
        return;
    }
    let Some(veth) = Veth::new() else { return };
    veth.server.start_sshd(&env, SERVER_ADDRESS);
    let config = env.ssh_config.display().to_string();
    let through_proxy = |extra: &[&str]| {
        let mut args = vec!["-F".to_string(), config.clone()];
        args.extend(across());
        let proxy = format!("ProxyCommand=ssh -F {config} -o ControlPath=none -W %h:%p beta");
        args.extend(["-o".to_string(), proxy]);
        args.extend(extra.iter().map(|arg| arg.to_string()));
        args
    };
    let mut make = veth.client.command("ssh");
    make.args(through_proxy(&["-o", "ControlPersist=60", "alpha", "true"]))
        .stdin(Stdio::null());
    let made = output_within(&mut make, Duration::from_secs(15));
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let found = veth
        .client
        .command("pgrep")
        .args(["-f", &format!("{config} -o ControlPath=none -W")])
        .output()
        .unwrap();
    let proxy: i32 = String::from_utf8_lossy(&found.stdout)
        .trim()
        .parse()
        .expect("one ProxyCommand");
    let mut check = muxguard(&veth, &env, &["check", "--json", "--"]);
    check.args(through_proxy(&["alpha"]));
    let json = run(check).json();
    let master = json["pid"].as_i64().expect("a master") as i32;
    env.track_pid(master);
    env.track_pid(proxy);
    veth.drop_flow(veth.flow_port_of(proxy));

    let runs = env.root.join("runs");
    let mut wrapped = muxguard(&veth, &env, &["ssh", "--"]);
    wrapped
        .args(through_proxy(&["alpha"]))
        .arg(format!("echo once >> {}; echo ALIVE", runs.display()));
    let started = Instant::now();
    let output = output_within(&mut wrapped, Duration::from_secs(30));
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.stdout, b"ALIVE\n", "after {took:?}: {stderr}");
    assert!(took < Duration::from_secs(6), "took {took:?}: {stderr}");
    assert!(
        stderr.contains(&format!("ended master pid {master}"))
            && stderr.contains("; ssh connects afresh"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), "once\n");
}

/// Emacs TRAMP's relative ControlPath (`tramp.%C`, bound in the master's working directory),
/// its master's flow dropped, and TRAMP's next command waiting on it: `watch`, started
/// elsewhere, reads the master under its absolute path, ends it, and the waiting ssh connects
/// afresh by itself. TRAMP waited 40 s here before.
#[test]
fn watch_heals_a_tramp_master_whose_flow_was_dropped() {
    let env = TestEnv::new();
    let test = "watch_heals_a_tramp_master_whose_flow_was_dropped";
    if !Veth::can_drop_flows(test) {
        return;
    }
    let Some(veth) = Veth::new() else { return };
    veth.server.start_sshd(&env, SERVER_ADDRESS);
    let workdir = env.root.join("where-tramp-runs");
    std::fs::create_dir(&workdir).unwrap();
    let tramp = |args: &[&str]| {
        let mut command = ssh(&veth, &env, &["-o", "ControlPath=tramp.%C"]);
        command.current_dir(&workdir).args(args);
        command
    };
    let made = output_within(
        &mut tramp(&["-o", "ControlPersist=60", "alpha", "true"]),
        Duration::from_secs(15),
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let socket = std::fs::read_dir(&workdir)
        .unwrap()
        .next()
        .expect("the master's socket")
        .unwrap()
        .path();
    let mut check = muxguard(&veth, &env, &["check", "--json", "--path"]);
    check.arg(&socket);
    let master = run(check).json()["pid"].as_i64().expect("a master") as i32;
    env.track_pid(master);

    // Under the default settings, having read the links once: the drop comes between reads.
    let log = env.root.join("watch.jsonl");
    let mut watch = muxguard(&veth, &env, &["--timeout", "1s", "watch", "--json"]);
    watch
        .current_dir(&env.root)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null());
    veth.client.spawn(&mut watch);
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    crate::common::wait_until("watch to start", Duration::from_secs(10), || {
        read().contains("\"started\"")
    });
    std::thread::sleep(Duration::from_millis(500));
    veth.drop_flow(veth.flow_port_of(master));
    let started = Instant::now();
    let output = output_within(
        &mut tramp(&["alpha", "echo", "ALIVE"]),
        Duration::from_secs(30),
    );
    let took = started.elapsed();
    crate::common::wait_until("watch's round", Duration::from_secs(5), || {
        read().contains("\"ended\":")
    });
    let events = read();
    assert_eq!(output.stdout, b"ALIVE\n", "after {took:?}: {events}");
    assert!(took < Duration::from_secs(10), "took {took:?}: {events}");
    println!("through, from the drop, in {took:?}");
    assert!(!crate::common::is_running(master), "{events}");
    assert!(
        events.contains(&format!("\"path\":\"{}\"", socket.display())),
        "{events}"
    );
}
