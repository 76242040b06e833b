//! The jump host in front of a destination, as the ssh command line that reaches it: what ssh
//! itself runs for a `ProxyJump` (`ssh [-l USER] [-p PORT] [-J EARLIER] [-F CONFIG] HOP -W ...`)
//! or what a `ProxyCommand` of the form `ssh ... -W %h:%p HOP` runs. Only the last hop is made
//! here: the hop's own `ssh -G` names the one before it.

use std::ffi::{OsStr, OsString};

use serde::{Deserialize, Serialize};

use crate::openssh::args::SshOptions;

/// How `ssh -G` says a destination is reached, as it printed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Proxy {
    /// `proxyjump`: `[user@]host[:port]` hops, comma-separated, first hop first.
    Jump(String),
    /// `proxycommand`, its `%` tokens already expanded.
    Command(String),
}

/// The ssh command line ssh runs to reach the last hop before the destination: `None` for a
/// ProxyCommand that is not an ssh `-W` (a `nc`, a cloud CLI) or a spec ssh would refuse.
/// `config` is the `-F` of the destination's command line, which ssh passes on to a ProxyJump's
/// hop (a ProxyCommand says all it passes).
pub fn last_hop(proxy: &Proxy, config: Option<&OsStr>) -> Option<Vec<OsString>> {
    match proxy {
        Proxy::Jump(spec) => jump_command_line(spec, config),
        Proxy::Command(command) => proxy_command_line(command),
    }
}

fn jump_command_line(spec: &str, config: Option<&OsStr>) -> Option<Vec<OsString>> {
    let spec = jump_spec(spec)?;
    let (earlier, last) = match spec.rsplit_once(',') {
        Some((earlier, last)) => (Some(earlier), last),
        None => (None, spec),
    };
    let hop = JumpHost::parse(last)?;
    let mut args: Vec<OsString> = Vec::new();
    if let Some(user) = hop.user {
        args.extend(["-l".into(), user.into()]);
    }
    if let Some(port) = hop.port {
        args.extend(["-p".into(), port.to_string().into()]);
    }
    if let Some(earlier) = earlier {
        args.extend(["-J".into(), earlier.into()]);
    }
    if let Some(config) = config {
        args.extend(["-F".into(), config.to_os_string()]);
    }
    args.push(hop.host.into());
    Some(args)
}

/// The host name of each hop of a ProxyJump spec, first hop first (none for `none`).
pub fn jump_host_names(spec: &str) -> Vec<String> {
    jump_spec(spec)
        .into_iter()
        .flat_map(|spec| spec.split(','))
        .filter_map(JumpHost::parse)
        .map(|hop| hop.host.to_string())
        .collect()
}

/// The hops of a ProxyJump value, its comment cut off; `None` for `none` or nothing.
fn jump_spec(spec: &str) -> Option<&str> {
    let spec = spec.split('#').next()?.trim();
    (!spec.is_empty() && !spec.eq_ignore_ascii_case("none")).then_some(spec)
}

/// One hop of a ProxyJump: `[user@]host[:port]` (an IPv6 address in brackets), or
/// `ssh://[user@]host[:port]`.
#[derive(Debug, PartialEq, Eq)]
struct JumpHost<'a> {
    user: Option<&'a str>,
    host: &'a str,
    port: Option<u16>,
}

impl<'a> JumpHost<'a> {
    fn parse(text: &'a str) -> Option<JumpHost<'a>> {
        let (rest, uri) = match text.strip_prefix("ssh://") {
            Some(rest) => (rest.strip_suffix('/').unwrap_or(rest), true),
            None => (text, false),
        };
        let (user, host_port) = match rest.rsplit_once('@') {
            // A URI's user may carry `;parameters`, which ssh ignores.
            Some((user, host_port)) if uri => (user.split(';').next(), host_port),
            Some((user, host_port)) => (Some(user), host_port),
            None => (None, rest),
        };
        let (host, port) = match host_port.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed.split_once(']')?;
                (host, after.strip_prefix(':'))
            }
            None => match host_port.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            },
        };
        let port = match port {
            Some(port) => Some(port.parse().ok().filter(|&port: &u16| port > 0)?),
            None => None,
        };
        let valid = |name: &str| {
            !name.is_empty()
                && !name.starts_with('-')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:%@".contains(c))
        };
        (valid(host) && user.is_none_or(valid)).then_some(JumpHost { user, host, port })
    }
}

/// The hop of `ssh [options] -W host:port HOP` (or `exec ssh ...`): its options but `-W`, and
/// the hop. Anything the shell would do more than run one command is not followed.
fn proxy_command_line(command: &str) -> Option<Vec<OsString>> {
    let mut words = shell_words(command)?;
    if words.first().is_some_and(|word| word == "exec") {
        words.remove(0);
    }
    let program = words.first()?;
    if program.rsplit('/').next() != Some("ssh") {
        return None;
    }
    let args: Vec<OsString> = words[1..].iter().map(OsString::from).collect();
    let options = SshOptions::parse(&args)?;
    if !options.has(b'W') || options.command_follows {
        return None;
    }
    let mut hop = Vec::new();
    for (letter, value) in options.options.iter().filter(|(letter, _)| *letter != b'W') {
        hop.push(OsString::from(format!("-{}", *letter as char)));
        hop.extend(value.clone());
    }
    hop.push(options.destination?);
    Some(hop)
}

/// The words of a command as `sh -c` splits it, where that is plain: quotes and backslashes,
/// nothing the shell would expand, redirect or chain (`None` then).
fn shell_words(command: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => words.extend(word.take()),
            '\'' => {
                let quoted = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => quoted.push(c),
                    }
                }
            }
            '"' => {
                let quoted = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => quoted.push(chars.next()?),
                        '$' | '`' => return None,
                        c => quoted.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).push(chars.next()?),
            '$' | '`' | ';' | '|' | '&' | '<' | '>' | '(' | ')' | '*' | '?' | '~' => return None,
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jump(spec: &str, config: Option<&str>) -> Option<String> {
        let args = last_hop(&Proxy::Jump(spec.into()), config.map(OsStr::new))?;
        Some(args.join(OsStr::new(" ")).into_string().unwrap())
    }

    fn command(text: &str) -> Option<String> {
        let args = last_hop(&Proxy::Command(text.into()), None)?;
        Some(args.join(OsStr::new(" ")).into_string().unwrap())
    }

    /// As ssh.c builds the hop's command line: the last hop, reached through the earlier ones.
    #[test]
    fn a_proxy_jump_is_the_ssh_that_ssh_runs() {
        assert_eq!(jump("bastion", None).as_deref(), Some("bastion"));
        assert_eq!(
            jump("bob@bastion:2222", Some("/c")).as_deref(),
            Some("-l bob -p 2222 -F /c bastion")
        );
        assert_eq!(
            jump("a,b@c:22,ops@edge", None).as_deref(),
            Some("-l ops -J a,b@c:22 edge")
        );
        assert_eq!(
            jump("[127.0.0.1]:2200", None).as_deref(),
            Some("-p 2200 127.0.0.1")
        );
        assert_eq!(jump("[::1]", None).as_deref(), Some("::1"));
        assert_eq!(
            jump("ssh://bob;x=1@bastion:2022/", None).as_deref(),
            Some("-l bob -p 2022 bastion")
        );
        assert_eq!(jump("none", None), None);
        assert_eq!(jump("", None), None);
        for refused in ["-oProxyCommand=x", "host:0", "host:port", "[::1", "a b"] {
            assert_eq!(jump(refused, None), None, "{refused}");
        }
    }

    #[test]
    fn names_every_hop() {
        assert_eq!(
            jump_host_names("a,ops@b:22,[10.0.0.1]"),
            ["a", "b", "10.0.0.1"]
        );
        assert!(jump_host_names("none").is_empty());
    }

    #[test]
    fn a_proxy_command_is_followed_only_when_it_is_an_ssh_w() {
        assert_eq!(
            command("ssh -W 10.0.0.5:22 bastion").as_deref(),
            Some("bastion")
        );
        assert_eq!(
            command("exec /usr/bin/ssh -q -F '/my cfg' -W '[10.0.0.5]:22' ops@bastion").as_deref(),
            Some("-q -F /my cfg ops@bastion")
        );
        assert_eq!(
            command("ssh bastion -W 10.0.0.5:22 -o \"ControlPath=none\"").as_deref(),
            Some("-o ControlPath=none bastion")
        );
        for not_followed in [
            "nc 10.0.0.5 22",
            "ssh bastion nc 10.0.0.5 22",
            "ssh -W h:22 bastion; echo",
            "ssh -W h:22 $BASTION",
            "aws ssm start-session --target i-1",
            "ssh -W h:22 'bastion",
            "ssh -W h:22",
        ] {
            assert_eq!(command(not_followed), None, "{not_followed}");
        }
    }
}
