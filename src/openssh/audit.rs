//! The connection-sharing mistakes in an ssh configuration, read the way ssh reads it: `ssh -G`
//! for every concrete Host alias, and once for a host that only the catch-all blocks match.
//! What `doctor` reports.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::openssh::hops;
use crate::openssh::local_user::LocalUser;
use crate::openssh::ssh;
use crate::openssh::ssh_config::{self, ConfigScan};
use crate::openssh::template::Template;
use crate::platform;
use crate::platform::process::my_uid;
use crate::support::deadline::Deadline;

/// A name no Host pattern but the catch-all ones should match.
const ANY_HOST: &str = "muxguard-doctor-any-host.invalid";
/// ssh binds `<ControlPath>.<16 characters>` first, and that must fit
/// `platform::MAX_SOCKET_PATH`.
const TEMPORARY_SUFFIX: usize = 17;
/// `ssh -G` runs at once: it is CPU-bound, so a few more than the cores.
const PARALLEL: usize = 8;
/// The code of a host ssh did not answer for before the deadline.
const NOT_CHECKED: &str = "not-checked";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One mistake, as `doctor --json` shows it.
#[derive(Debug, Serialize)]
pub struct Finding {
    /// The Host alias, or null for what every host gets.
    pub host: Option<String>,
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub fixable: bool,
    /// The config line that would fix it, for the text output.
    #[serde(skip)]
    pub suggestion: Option<String>,
    /// For `dir-missing`: what `create_missing_dirs` creates.
    #[serde(skip)]
    missing_dir: Option<PathBuf>,
}

/// What an audit found, and how many Host aliases it checked.
pub struct Audit {
    pub findings: Vec<Finding>,
    pub checked: usize,
}

/// Audits the ssh configuration (`config`, or the user's and the system's). `deadline` bounds
/// it, however many hosts there are: the hosts ssh has not answered for by then are reported
/// `not-checked`.
pub fn audit(config: Option<&Path>, deadline: Deadline) -> Result<Audit> {
    let timeout = deadline.timeout();
    let local = LocalUser::current();
    let scan = ConfigScan::read(config, &local)?;
    let ssh_path = ssh::find_real_ssh()?;
    let aliases = concrete_aliases(&scan);
    let checked = aliases.len();
    // The catch-all first: if time runs out, what every host gets is known. An alias that only
    // inherits it would only repeat its findings, which are said once anyway: ssh -G, at about
    // 6 ms of CPU each, is spared.
    let mut hosts: Vec<Option<String>> = vec![None];
    hosts.extend(
        aliases
            .into_iter()
            .filter(|alias| !only_inherits(&scan, alias))
            .map(Some),
    );

    let answers: Vec<Answer> = std::thread::scope(|scope| {
        let mut answers = Vec::with_capacity(hosts.len());
        for batch in hosts.chunks(PARALLEL) {
            // A batch started now would be killed at once.
            if deadline.has_passed() {
                answers.extend(batch.iter().map(|_| Answer::NotChecked));
                continue;
            }
            let running: Vec<_> = batch
                .iter()
                .map(|host| {
                    let mut ssh_args: Vec<OsString> = Vec::new();
                    if let Some(config) = config {
                        ssh_args.push("-F".into());
                        ssh_args.push(config.into());
                    }
                    ssh_args.push(host.as_deref().unwrap_or(ANY_HOST).into());
                    let ssh_path = &ssh_path;
                    scope.spawn(move || ask_ssh(ssh_path, &ssh_args, deadline))
                })
                .collect();
            answers.extend(
                running
                    .into_iter()
                    .map(|handle| handle.join().expect("ssh -G thread")),
            );
        }
        answers
    });

    let templates = scan.control_path_templates();
    let mut findings = Vec::new();
    let mut catch_all = Vec::new();
    let mut answered = Vec::new();
    for (host, answer) in hosts.iter().zip(answers) {
        let found = match answer {
            Answer::Settings(config) => {
                let settings: HashMap<String, String> = config
                    .lines()
                    .filter_map(|line| line.split_once(' '))
                    .map(|(key, value)| (key.to_string(), value.to_string()))
                    .collect();
                let found = examine(host.as_deref(), &settings, &templates, &local);
                answered.push((host.clone(), settings));
                found
            }
            Answer::Rejected(error) => vec![Finding {
                host: host.clone(),
                code: "ssh-rejects",
                severity: Severity::Error,
                message: format!("ssh cannot use this configuration: {error}"),
                fixable: false,
                suggestion: None,
                missing_dir: None,
            }],
            Answer::NotChecked => vec![Finding {
                host: host.clone(),
                code: NOT_CHECKED,
                severity: Severity::Warning,
                message: format!(
                    "the --timeout of {timeout:?} ran out before ssh -G answered for it (a slow \
                     `Match exec` in your ssh config?): try a longer --timeout"
                ),
                fixable: false,
                suggestion: None,
                missing_dir: None,
            }],
        };
        match host {
            None => catch_all = found,
            Some(_) => findings.extend(found),
        }
    }
    findings.extend(jump_hosts_without_keepalive(&answered));
    // A finding every host shares is said once, for the catch-all. Not for `not-checked`: the
    // catch-all's answer missing says nothing of another host's.
    findings.retain(|finding: &Finding| {
        finding.code == NOT_CHECKED
            || !catch_all
                .iter()
                .any(|general| general.code == finding.code && general.message == finding.message)
    });
    findings.splice(0..0, catch_all);

    Ok(Audit { findings, checked })
}

/// Creates the missing ControlPath directories of `findings` (mode 0700), drops the findings
/// that fixed, and returns the directories it created.
pub fn create_missing_dirs(findings: &mut Vec<Finding>) -> Vec<PathBuf> {
    let mut created = Vec::new();
    for finding in findings.iter_mut().filter(|f| f.missing_dir.is_some()) {
        let dir = finding.missing_dir.take().expect("filtered");
        if !dir.exists()
            && fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .is_ok()
        {
            created.push(dir);
        }
    }
    findings.retain(|finding| finding.code != "dir-missing" || finding.missing_dir.is_some());
    created
}

/// What `ssh -G` said for one host.
enum Answer {
    Settings(String),
    /// ssh itself refuses this host's configuration (an unknown token, a bad value).
    Rejected(Error),
    /// The deadline came first, before or while its `ssh -G` ran.
    NotChecked,
}

fn ask_ssh(ssh: &Path, ssh_args: &[OsString], deadline: Deadline) -> Answer {
    match ssh::effective_config(ssh, ssh_args, deadline) {
        Ok(settings) => Answer::Settings(String::from_utf8_lossy(&settings).into_owned()),
        // ssh -G cut off at the deadline is an error like a refusal: the clock tells them apart.
        Err(_) if deadline.has_passed() => Answer::NotChecked,
        Err(error) => Answer::Rejected(error),
    }
}

/// The Host aliases a user can type: patterns without wildcards or negation.
fn concrete_aliases(scan: &ConfigScan) -> Vec<String> {
    let mut aliases: Vec<String> = Vec::new();
    for directive in scan.directives.iter().filter(|d| d.keyword == "host") {
        for pattern in &directive.arguments {
            let concrete = !pattern.contains(['*', '?', '!']);
            if concrete && !aliases.contains(pattern) {
                aliases.push(pattern.clone());
            }
        }
    }
    aliases
}

/// Settings doctor looks at, and those whose values end up in a ControlPath.
const SHARING_KEYWORDS: [&str; 4] = [
    "controlmaster",
    "controlpath",
    "controlpersist",
    "serveraliveinterval",
];
/// Tokens whose expansion differs in length from host to host (%C is always 40 characters).
const VARIABLE_TOKENS: [&str; 6] = ["%h", "%p", "%r", "%n", "%k", "%j"];

/// Whether `alias` surely gets, for every setting doctor looks at, what the catch-all host gets:
/// no Match block and no negated pattern anywhere (either could tell them apart), no ControlPath
/// whose length depends on the host, and no Host block that matches the alias but not the
/// catch-all host and sets a sharing keyword.
fn only_inherits(scan: &ConfigScan, alias: &str) -> bool {
    let mut block_matches_alias_only = false;
    for directive in &scan.directives {
        match directive.keyword.as_str() {
            "match" => return false,
            "host" => {
                if directive
                    .arguments
                    .iter()
                    .any(|pattern| pattern.starts_with('!'))
                {
                    return false;
                }
                let matches = |name: &str| {
                    directive
                        .arguments
                        .iter()
                        .any(|pattern| ssh_config::wildcard_match(pattern, name))
                };
                block_matches_alias_only = matches(alias) && !matches(ANY_HOST);
            }
            "controlpath"
                if directive.arguments.first().is_some_and(|template| {
                    VARIABLE_TOKENS.iter().any(|token| template.contains(token))
                }) =>
            {
                return false;
            }
            keyword if block_matches_alias_only && SHARING_KEYWORDS.contains(&keyword) => {
                return false;
            }
            _ => {}
        }
    }
    true
}

/// The jump hosts that other hosts go through (`ProxyJump`) and that share one connection
/// without ServerAliveInterval: when its link dies, every host behind it hangs. A jump host
/// with no settings of its own has the catch-all's (`None` in `answered`).
fn jump_hosts_without_keepalive(
    answered: &[(Option<String>, HashMap<String, String>)],
) -> Vec<Finding> {
    let settings_of = |hop: &str| {
        let own = answered
            .iter()
            .find(|(host, _)| host.as_deref() == Some(hop));
        own.or_else(|| answered.iter().find(|(host, _)| host.is_none()))
            .map(|(_, settings)| settings)
    };
    let mut behind: Vec<(String, Vec<String>)> = Vec::new();
    for (host, settings) in answered {
        let (Some(host), Some(spec)) = (host, settings.get("proxyjump")) else {
            continue;
        };
        for hop in hops::jump_host_names(spec) {
            match behind.iter_mut().find(|(known, _)| *known == hop) {
                Some((_, hosts)) => hosts.push(host.clone()),
                None => behind.push((hop, vec![host.clone()])),
            }
        }
    }
    behind
        .into_iter()
        .filter(|(hop, _)| {
            settings_of(hop).is_some_and(|settings| {
                let shares = settings.contains_key("controlpath")
                    && settings.get("controlmaster").is_some_and(|m| m != "false");
                shares
                    && settings
                        .get("serveraliveinterval")
                        .is_some_and(|s| s == "0")
            })
        })
        .map(|(hop, hosts)| Finding {
            message: format!(
                "{hop} is the jump host of {} and shares one connection with no \
                 ServerAliveInterval: when its link dies, every host behind it hangs",
                hosts.join(", ")
            ),
            host: Some(hop),
            code: "hop-no-keepalive",
            severity: Severity::Warning,
            fixable: false,
            suggestion: Some("ServerAliveInterval 30".into()),
            missing_dir: None,
        })
        .collect()
}

/// Everything wrong with one host's effective settings.
fn examine(
    host: Option<&str>,
    settings: &HashMap<String, String>,
    templates: &[String],
    local: &LocalUser,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut add = |code, severity, message: String, suggestion: Option<&str>, missing_dir| {
        findings.push(Finding {
            host: host.map(str::to_string),
            code,
            severity,
            message,
            fixable: code == "dir-missing",
            suggestion: suggestion.map(str::to_string),
            missing_dir,
        });
    };
    let setting = |key: &str| settings.get(key).map(String::as_str);
    let master = setting("controlmaster").unwrap_or("false");
    let Some(path) = settings.get("controlpath").map(PathBuf::from) else {
        return findings; // sharing is off
    };
    let makes_masters = master != "false";

    let length = path.as_os_str().len();
    if length + TEMPORARY_SUFFIX > platform::MAX_SOCKET_PATH {
        add(
            "path-too-long",
            Severity::Error,
            format!(
                "ControlPath {} is {length} characters: with the {TEMPORARY_SUFFIX} ssh adds while \
                 creating it, it does not fit a Unix socket path ({} bytes), and ssh \
                 fails with \"too long for Unix domain socket\". Use a short directory and %C",
                path.display(),
                platform::MAX_SOCKET_PATH
            ),
            Some("ControlPath ~/.ssh/cm/%C"),
            None,
        );
    }

    let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    match fs::metadata(&dir) {
        Err(_) => add(
            "dir-missing",
            Severity::Error,
            format!(
                "the ControlPath directory {} does not exist: ssh fails after authenticating, with \
                 \"unix_listener: cannot bind to path\". `muxguard doctor --fix` creates it (mode 0700)",
                dir.display()
            ),
            None,
            Some(dir.clone()),
        ),
        Ok(meta) => {
            let mode = meta.permissions().mode();
            let shared = mode & 0o022 != 0;
            let sticky = mode & 0o1000 != 0;
            let owner_ok = meta.uid() == my_uid() || meta.uid() == 0;
            let guessable = templates.iter().any(|template| {
                Template::parse(template, local).is_some_and(|t| t.dir == dir)
                    && !["%C", "%r", "%u"]
                        .iter()
                        .any(|token| template.contains(token))
            });
            if !owner_ok || (shared && !sticky) {
                add(
                    "dir-unsafe",
                    Severity::Warning,
                    format!(
                        "the ControlPath directory {} is {}: another user could put a socket of \
                         theirs where ssh looks for yours. Use a directory of your own, mode 0700",
                        dir.display(),
                        if owner_ok {
                            "group- or world-writable"
                        } else {
                            "someone else's"
                        }
                    ),
                    Some("ControlPath ~/.ssh/cm/%C"),
                    None,
                );
            } else if shared && guessable {
                add(
                    "dir-unsafe",
                    Severity::Warning,
                    format!(
                        "the ControlPath is in the shared directory {} with a name without %C, %r or \
                         %u: another user can take the name first",
                        dir.display()
                    ),
                    Some("ControlPath ~/.ssh/cm/%C"),
                    None,
                );
            }
        }
    }

    if master == "true" {
        add(
            "master-yes",
            Severity::Warning,
            "ControlMaster yes: every ssh tries to be the master, and once one is, the others \
             print \"ControlSocket ... already exists, disabling multiplexing\" and connect \
             without sharing. `auto` uses a master when there is one"
                .into(),
            Some("ControlMaster auto"),
            None,
        );
    }
    if makes_masters && setting("controlpersist") == Some("no") {
        add(
            "no-persist",
            Severity::Warning,
            "ControlMaster without ControlPersist: the first ssh to the host is the master, and \
             every other session through it ends when that one does (or waits for it)"
                .into(),
            Some("ControlPersist 10m"),
            None,
        );
    }
    if setting("serveraliveinterval") == Some("0") {
        add(
            "no-keepalive",
            Severity::Warning,
            "no ServerAliveInterval: a master whose link died (suspend, new network) goes on \
             answering while every new session through it hangs until TCP gives up"
                .into(),
            Some("ServerAliveInterval 30"),
            None,
        );
    }
    let asks = matches!(master, "ask" | "autoask");
    let askpass = std::env::var_os("SSH_ASKPASS").is_some()
        || [
            "/usr/bin/ssh-askpass",
            "/usr/lib/ssh/ssh-askpass",
            "/usr/libexec/openssh/ssh-askpass",
        ]
        .iter()
        .any(|path| Path::new(path).exists());
    if asks && !askpass {
        add(
            "ask-no-askpass",
            Severity::Warning,
            format!(
                "ControlMaster {master} asks for confirmation through ssh-askpass, and there is \
                 none: every session through the master is refused"
            ),
            Some("ControlMaster auto"),
            None,
        );
    }
    findings
}
