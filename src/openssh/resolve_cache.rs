//! What `ssh -G` answers about a command line, and when a remembered answer still holds.
//!
//! `ssh -G` costs as much as `ssh -O check` (it is an ssh start-up), and it is on the hot path
//! of every wrapped ssh. Its answer depends on the arguments and on what ssh reads: the ssh
//! binary, the config files (and the directories Include globs list), the environment variables
//! the config or arguments mention, and the local user and host name. A fingerprint of all of
//! them keys the remembered answer. Configs whose answer depends on anything else (`Match exec`,
//! `Match localnetwork`, `canonical`, `final`, host name canonicalisation, criteria this code
//! does not know) get no fingerprint: ssh is asked every time.

use std::ffi::OsString;
use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::openssh::args::SshOptions;
use crate::openssh::hops::Proxy;
use crate::openssh::local_user::LocalUser;
use crate::openssh::ssh_config::{ConfigScan, Directive};
use crate::support::text::Name;

/// What `ssh -G` says about a command line.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved {
    /// `None` when connection sharing is off (`ControlPath none`).
    pub control_path: Option<PathBuf>,
    /// `false`, `true`, `auto`, `ask` or `autoask`.
    pub control_master: String,
    /// The host name as typed (after `Host` canonicalisation), e.g. `myserver`.
    pub alias: Option<Name>,
    /// `user@hostname:port`.
    pub destination: Option<Name>,
    /// ServerAliveInterval in seconds, when set (remembered answers from before it was
    /// read have none).
    #[serde(default)]
    pub server_alive_interval: Option<u64>,
    /// How the destination is reached, when through a jump host or a ProxyCommand.
    #[serde(default)]
    pub proxy: Option<Proxy>,
}

/// Changed with every field added to `Resolved`, so that no answer remembered without it is
/// taken.
const ANSWER_FIELDS: u32 = 2;

/// Where answers are remembered between runs (the state file): `ssh::resolve` asks it first
/// and tells it what ssh answered.
pub trait Answers {
    /// The answer remembered for these arguments, if it was remembered under `fingerprint`.
    fn remembered(&self, ssh_args: &[String], fingerprint: &str) -> Option<Resolved>;
    fn remember(&self, ssh_args: &[String], fingerprint: &str, answer: &Resolved);
}

/// The fingerprint of everything `ssh -G ssh_args` depends on, or `None` when it cannot be
/// known without running ssh.
pub fn fingerprint(ssh: &Path, ssh_args: &[String]) -> Option<String> {
    let local = LocalUser::current();
    let config = config_file_argument(ssh_args)?;
    let scan = match config.as_deref() {
        Some(none) if none == Path::new("none") => ConfigScan::default(),
        config => ConfigScan::read(config, &local).ok()?,
    };
    if scan.directives.iter().any(needs_ssh_every_time) {
        return None;
    }

    let mut hasher = DefaultHasher::new();
    // An answer remembered before `Resolved` held a field would hold it empty.
    (env!("CARGO_PKG_VERSION"), ANSWER_FIELDS).hash(&mut hasher);
    ssh_args.hash(&mut hasher);
    for file in std::iter::once(ssh).chain(scan.inputs.iter().map(PathBuf::as_path)) {
        file.hash(&mut hasher);
        stamp(file).hash(&mut hasher);
    }
    (&local.home, &local.user, local.uid, &local.hostname).hash(&mut hasher);
    let arguments = scan.directives.iter().flat_map(|d| d.arguments.iter());
    let texts = arguments.chain(ssh_args).map(String::as_str);
    for name in environment_references(texts) {
        (name, std::env::var_os(name)).hash(&mut hasher);
    }
    Some(format!("{:016x}", hasher.finish()))
}

/// What identifies a version of a file: it changes when the file is edited or replaced.
fn stamp(path: &Path) -> Option<(u64, u64, u64, i64, i64, i64, i64)> {
    let meta = fs::metadata(path).ok()?;
    Some((
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
    ))
}

/// The config file named with `-F` (the last one wins, as in ssh), made absolute.
/// `Some(None)` when there is none; `None` for a command line this code cannot read.
fn config_file_argument(ssh_args: &[String]) -> Option<Option<PathBuf>> {
    let ssh_args: Vec<OsString> = ssh_args.iter().map(OsString::from).collect();
    let options = SshOptions::parse(&ssh_args)?;
    let Some(file) = options.last(b'F') else {
        return Some(None);
    };
    let path = PathBuf::from(file);
    if path.is_absolute() || file == "none" {
        return Some(Some(path));
    }
    std::env::current_dir().ok().map(|cwd| Some(cwd.join(path)))
}

fn needs_ssh_every_time(directive: &Directive) -> bool {
    match directive.keyword.as_str() {
        "canonicalizehostname" => directive
            .arguments
            .first()
            .is_none_or(|value| !value.eq_ignore_ascii_case("no")),
        "match" => {
            let mut criteria = directive.arguments.iter();
            while let Some(criterion) = criteria.next() {
                match criterion
                    .trim_start_matches('!')
                    .to_ascii_lowercase()
                    .as_str()
                {
                    "all" => {}
                    "host" | "originalhost" | "user" | "localuser" | "tagged" | "version"
                    | "sessiontype" | "command" => {
                        criteria.next();
                    }
                    // exec, localnetwork, canonical, final, and whatever comes next.
                    _ => return true,
                }
            }
            false
        }
        _ => false,
    }
}

/// The names in every `${NAME}` of the texts.
fn environment_references<'a>(texts: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut names = Vec::new();
    for text in texts {
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else { break };
            names.push(&after[..end]);
            rest = &after[end + 1..];
        }
    }
    names.sort_unstable();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    /// Where ssh's own command line puts `-F` is sshargs' to test; here, what the path becomes.
    #[test]
    fn the_config_file_option_is_made_absolute() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(config_file_argument(&args("host")), Some(None));
        assert_eq!(
            config_file_argument(&args("-F /a/b host")),
            Some(Some(PathBuf::from("/a/b")))
        );
        assert_eq!(
            config_file_argument(&args("-F /a -F rel host")),
            Some(Some(cwd.join("rel")))
        );
        assert_eq!(
            config_file_argument(&args("-F none host")),
            Some(Some("none".into()))
        );
        assert_eq!(config_file_argument(&args("-Z host")), None);
        assert_eq!(config_file_argument(&args("host -F")), None);
    }

    fn directive(line: &str) -> Directive {
        let mut words = line.split_whitespace().map(str::to_string);
        Directive {
            keyword: words.next().unwrap().to_ascii_lowercase(),
            arguments: words.collect(),
        }
    }

    #[test]
    fn configs_that_depend_on_more_than_files() {
        assert!(!needs_ssh_every_time(&directive(
            "Match host web* user ann"
        )));
        assert!(!needs_ssh_every_time(&directive("Match all")));
        assert!(!needs_ssh_every_time(&directive("Match !host exec")));
        assert!(needs_ssh_every_time(&directive(
            "Match exec \"test -f /x\""
        )));
        assert!(needs_ssh_every_time(&directive(
            "Match host x !localnetwork 10.0.0.0/8"
        )));
        assert!(needs_ssh_every_time(&directive("Match canonical host x")));
        assert!(needs_ssh_every_time(&directive("Match somethingnew x")));
        assert!(needs_ssh_every_time(&directive("CanonicalizeHostname yes")));
        assert!(!needs_ssh_every_time(&directive("CanonicalizeHostname no")));
        assert!(!needs_ssh_every_time(&directive("ControlPath /x/%C")));
    }

    #[test]
    fn environment_references_are_found() {
        let texts = ["${XDG_RUNTIME_DIR}/ssh-%C", "${A}${B} ${A}"];
        assert_eq!(
            environment_references(texts.into_iter()),
            ["A", "B", "XDG_RUNTIME_DIR"]
        );
    }
}
