//! `muxguard doctor` on real config files, read by the real `ssh -G`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common::TestEnv;
use crate::common::cli::{Run, muxguard};
use crate::common::openssh::ssh_version;
use serde_json::Value;

/// A config file in the environment, and the socket directory its good settings use.
fn config(env: &TestEnv, name: &str, text: &str) -> PathBuf {
    let path = env.root.join(name);
    fs::write(
        &path,
        text.replace("CM", env.cm_dir.to_str().unwrap())
            .replace("ROOT", env.root.to_str().unwrap()),
    )
    .unwrap();
    path
}

fn doctor(env: &TestEnv, config: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["doctor", "-F", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    muxguard(env, &args)
}

fn findings(run: &Run) -> Vec<(Option<String>, String, String)> {
    let json: Value = run.json();
    assert_eq!(json["schema"], 1);
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["host"].as_str().map(str::to_string),
                f["code"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

const GOOD: &str = "Host web\n  HostName 10.0.0.5\nHost *\n  ControlMaster auto\n  ControlPath CM/%C\n  ControlPersist 10m\n  ServerAliveInterval 30\n";

#[test]
fn a_sound_config_has_no_findings() {
    let env = TestEnv::new();
    let good = config(&env, "good", GOOD);
    let run = doctor(&env, &good, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.starts_with("No problems found"),
        "{}",
        run.stdout
    );
    let run = doctor(&env, &good, &["--json"]);
    assert_eq!(run.code, 0);
    assert!(findings(&run).is_empty());
}

#[test]
fn each_mistake_is_found_for_its_host() {
    let env = TestEnv::new();
    let shared = env.root.join("shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
    let long = format!("ROOT/{}", "d".repeat(80));
    let bad = config(
        &env,
        "bad",
        &format!(
            "Host eager\n  ControlMaster yes\nHost far\n  ControlPath {long}/%C\n\
             Host nodir\n  ControlPath ROOT/nodir/%C\nHost open\n  ControlPath ROOT/shared/%C\n\
             Host guessable\n  ControlPath /tmp/mg-doctor-%h\nHost asking\n  ControlMaster ask\n\
             Host behind1 behind2\n  ProxyJump eager,bastion\nHost bastion\n  User ops\n\
             Host *\n  ControlMaster auto\n  ControlPath CM/%C\n"
        ),
    );
    let run = doctor(&env, &bad, &["--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    if nix::unistd::Uid::effective().is_root() {
        // A directory of someone else's, however closed.
        let theirs = env.root.join("theirs");
        fs::create_dir(&theirs).unwrap();
        fs::set_permissions(&theirs, fs::Permissions::from_mode(0o700)).unwrap();
        nix::unistd::chown(&theirs, Some(65534.into()), Some(65534.into())).unwrap();
        let other = config(
            &env,
            "other",
            &format!("Host them\n  ControlPath ROOT/theirs/%C\n{GOOD}"),
        );
        let run = doctor(&env, &other, &["--json"]);
        assert!(
            findings(&run).contains(&(Some("them".into()), "dir-unsafe".into(), "warning".into())),
            "{}",
            run.stdout
        );
    }
    let found = findings(&run);
    let has = |host: Option<&str>, code: &str, severity: &str| {
        found
            .iter()
            .any(|(h, c, s)| h.as_deref() == host && c == code && s == severity)
    };
    // What every host gets is said once, for the whole config.
    assert!(has(None, "no-persist", "warning"), "{found:?}");
    assert!(has(None, "no-keepalive", "warning"), "{found:?}");
    assert!(
        !has(Some("eager"), "no-persist", "warning"),
        "said once: {found:?}"
    );
    assert!(has(Some("eager"), "master-yes", "warning"), "{found:?}");
    // Every host behind a jump host hangs with it: said for each hop, naming them.
    for hop in ["eager", "bastion"] {
        assert!(has(Some(hop), "hop-no-keepalive", "warning"), "{found:?}");
    }
    assert!(
        run.stdout
            .contains("bastion is the jump host of behind1, behind2"),
        "{}",
        run.stdout
    );
    assert!(has(Some("far"), "path-too-long", "error"), "{found:?}");
    assert!(has(Some("nodir"), "dir-missing", "error"), "{found:?}");
    assert!(has(Some("open"), "dir-unsafe", "warning"), "{found:?}");
    assert!(has(Some("guessable"), "dir-unsafe", "warning"), "{found:?}");
    if std::env::var_os("SSH_ASKPASS").is_none() && !Path::new("/usr/bin/ssh-askpass").exists() {
        assert!(
            has(Some("asking"), "ask-no-askpass", "warning"),
            "{found:?}"
        );
    }
    // The text says what to change.
    let run = doctor(&env, &bad, &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains("in your ssh config: ControlPersist 10m"),
        "{}",
        run.stdout
    );
}

#[test]
fn fix_creates_the_missing_directory_and_never_edits_the_config() {
    let env = TestEnv::new();
    let text = format!("Host nodir\n  ControlPath ROOT/made/by/doctor/%C\n{GOOD}");
    let path = config(&env, "fixable", &text);
    let before = fs::read(&path).unwrap();
    let run = doctor(&env, &path, &["--json"]);
    assert_eq!(
        findings(&run),
        [(Some("nodir".into()), "dir-missing".into(), "error".into())]
    );
    let run = doctor(&env, &path, &["--fix"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let made = env.root.join("made/by/doctor");
    assert!(
        run.stdout.contains(&format!("created {}", made.display())),
        "{}",
        run.stdout
    );
    assert_eq!(
        fs::metadata(&made).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(fs::read(&path).unwrap(), before, "the config is untouched");
    assert_eq!(doctor(&env, &path, &[]).code, 0);
}

#[test]
fn what_ssh_refuses_is_a_finding_and_a_missing_file_a_usage_error() {
    let env = TestEnv::new();
    // %j (the ProxyJump host) is a ControlPath token from OpenSSH 9.6 on; older ssh -G refuses
    // the whole configuration for it. From 9.6, with no ProxyJump it is empty: a sound path.
    let path = config(
        &env,
        "tokens",
        &format!("Host jumpy\n  ControlPath CM/%j-%C\n{GOOD}"),
    );
    let run = doctor(&env, &path, &["--json"]);
    if ssh_version() >= (9, 6) {
        assert_eq!(run.code, 0, "{}", run.stdout);
        assert_eq!(findings(&run), [], "{}", run.stdout);
    } else {
        assert_eq!(run.code, 1, "{}", run.stdout);
        assert_eq!(
            findings(&run),
            [(Some("jumpy".into()), "ssh-rejects".into(), "error".into())],
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains("unknown key %j"), "{}", run.stdout);
    }
    let run = doctor(&env, &env.root.join("no-such-config"), &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no-such-config"), "{}", run.stderr);
}

/// Hosts that only inherit are not asked one by one (their findings would be the catch-all's);
/// a host with a setting of its own still is.
#[test]
fn hosts_that_only_inherit_share_the_catch_alls_answer() {
    let env = TestEnv::new();
    let mut text = String::from("Host special\n  ControlPersist no\n");
    for i in 0..50 {
        text.push_str(&format!("Host h{i}\n  HostName 10.0.0.{i}\n  User u{i}\n"));
    }
    text.push_str(GOOD);
    let path = config(&env, "many", &text);
    let run = doctor(&env, &path, &["--json"]);
    assert_eq!(
        findings(&run),
        [(
            Some("special".into()),
            "no-persist".into(),
            "warning".into()
        )]
    );
    let run = doctor(&env, &path, &[]);
    assert!(run.stdout.contains("special"), "{}", run.stdout);

    // A ControlPath whose length depends on the host: every host is asked.
    let long_user = "u".repeat(90);
    let text = format!(
        "Host plain\n  HostName 10.0.0.1\nHost longuser\n  User {long_user}\n\
         Host *\n  ControlMaster auto\n  ControlPath CM/%r@%h:%p\n  ControlPersist 10m\n  ServerAliveInterval 30\n"
    );
    let path = config(&env, "variable", &text);
    let run = doctor(&env, &path, &["--json"]);
    assert!(
        findings(&run).contains(&(
            Some("longuser".into()),
            "path-too-long".into(),
            "error".into()
        )),
        "{}",
        run.stdout
    );
}
