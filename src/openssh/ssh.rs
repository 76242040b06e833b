//! The real OpenSSH client: finding it, and asking it (`ssh -G`) what a command line resolves to.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::error::{Error, Result};
use crate::openssh::args::SshOptions;
use crate::openssh::hops::Proxy;
use crate::openssh::resolve_cache::{self, Answers, Resolved};
use crate::platform;
use crate::support::deadline::Deadline;
use crate::support::text;
use crate::support::text::Name;

/// The `ssh` on PATH that is not muxguard itself (a user may link muxguard in as `ssh`).
pub fn find_real_ssh() -> Result<PathBuf> {
    let own = std::env::current_exe()
        .and_then(|exe| exe.canonicalize())
        .ok();
    which::which_all("ssh")
        .into_iter()
        .flatten()
        .find(|candidate| candidate.canonicalize().ok() != own)
        .ok_or_else(|| {
            Error::Environment(
                "ssh not found on PATH: install the OpenSSH client (openssh-client)".into(),
            )
        })
}

/// What `ssh -G` answers for these arguments: remembered (in `answers`) while nothing it
/// depends on changed, else asked (and remembered there).
/// A command line with an argument that is not text (ssh takes any bytes) is always asked.
pub fn resolve(
    ssh_args: &[OsString],
    deadline: Deadline,
    answers: &impl Answers,
) -> Result<Resolved> {
    let ssh = find_real_ssh()?;
    let text_args: Option<Vec<String>> = ssh_args
        .iter()
        .map(|arg| arg.to_str().map(str::to_string))
        .collect();
    let remembered = text_args.and_then(|args| {
        let fingerprint = resolve_cache::fingerprint(&ssh, &args)?;
        Some((args, fingerprint))
    });
    if let Some((args, fingerprint)) = &remembered {
        if let Some(answer) = answers.remembered(args, fingerprint) {
            return Ok(answer);
        }
    }
    let mut answer = parse_resolved(&effective_config(&ssh, ssh_args, deadline)?);
    // `ssh -G` prints the host as typed from OpenSSH 9.x on; 8.9's prints none, so it is read
    // from the command line as ssh reads it.
    if answer.alias.is_none() {
        let options = SshOptions::parse(ssh_args);
        answer.alias = options
            .as_ref()
            .and_then(SshOptions::destination_host)
            .map(Name::from);
    }
    if let Some((args, fingerprint)) = &remembered {
        answers.remember(args, fingerprint, &answer);
    }
    Ok(answer)
}

/// All of `ssh -G`'s output: one `keyword value` line per setting, keywords in lower case,
/// values as ssh printed them (a host, a path: bytes, not always UTF-8).
pub fn effective_config<S: AsRef<OsStr>>(
    ssh: &Path,
    ssh_args: &[S],
    deadline: Deadline,
) -> Result<Vec<u8>> {
    let mut command = Command::new(ssh);
    command
        .arg("-G")
        .args(ssh_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setpgid and prctl are async-signal-safe, and nothing else runs between fork
    // and exec.
    unsafe {
        command.pre_exec(|| {
            // A process group of its own, so that a `Match exec` command it runs goes with it
            // when the deadline passes; and if muxguard is ended (its watchdog), ssh -G too.
            if libc::setpgid(0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            platform::die_with_parent()
        });
    }
    let child = command
        .spawn()
        .map_err(|e| Error::Environment(format!("cannot run {}: {e}", ssh.display())))?;
    let shown = shell_words(ssh_args);
    let output = capture(child, deadline)
        .map_err(|e| Error::Environment(format!("ssh -G {shown}: {e}")))?
        .ok_or_else(|| {
            Error::Environment(format!(
                "ssh -G {shown} did not finish in time (a slow `Match exec` in your ssh config?)"
            ))
        })?;
    if !output.success {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty() && !line.starts_with("Pseudo-terminal will not"))
            .unwrap_or("it failed without saying why");
        return Err(Error::Environment(format!(
            "ssh rejected `{shown}`: {reason}"
        )));
    }
    Ok(output.stdout)
}

fn parse_resolved(config: &[u8]) -> Resolved {
    let mut resolved = Resolved::default();
    let (mut user, mut hostname, mut port): (Option<&[u8]>, _, _) = (None, None, None);
    let mut proxy_command = None;
    for line in config.split(|&byte| byte == b'\n') {
        let Some(space) = line.iter().position(|&byte| byte == b' ') else {
            continue;
        };
        let (key, value) = (&line[..space], &line[space + 1..]);
        let text = || String::from_utf8_lossy(value);
        match key {
            b"controlpath" => resolved.control_path = Some(PathBuf::from(OsStr::from_bytes(value))),
            b"controlmaster" => resolved.control_master = text().into_owned(),
            b"host" => resolved.alias = Some(Name::from(value)),
            b"user" => user = Some(value),
            b"hostname" => hostname = Some(value),
            b"port" => port = Some(value),
            b"proxyjump" => resolved.proxy = Some(Proxy::Jump(text().into_owned())),
            b"proxycommand" if value != b"none" => proxy_command = Some(value),
            b"serveraliveinterval" => {
                resolved.server_alive_interval = text().parse().ok().filter(|&s: &u64| s > 0)
            }
            _ => {}
        }
    }
    if let (Some(command), None) = (proxy_command, &resolved.proxy) {
        let token = |token: &[u8]| match token {
            b"h" => hostname,
            b"p" => port,
            b"r" => user,
            b"n" => resolved.alias.as_ref().map(Name::as_bytes),
            _ => None,
        };
        resolved.proxy = expand_tokens(command, token).map(Proxy::Command);
    }
    if let (Some(user), Some(hostname), Some(port)) = (user, hostname, port) {
        let destination = [user, b"@", hostname, b":", port].concat();
        resolved.destination = Some(Name::from(&destination[..]));
    }
    resolved
}

/// A ProxyCommand with its `%h`, `%p`, `%r`, `%n` and `%%` expanded as ssh expands them; `None`
/// for another token (ssh would refuse it) or a result that is not text.
fn expand_tokens<'a>(command: &[u8], value: impl Fn(&[u8]) -> Option<&'a [u8]>) -> Option<String> {
    let mut expanded = Vec::with_capacity(command.len());
    let mut bytes = command.iter();
    while let Some(&byte) = bytes.next() {
        if byte != b'%' {
            expanded.push(byte);
            continue;
        }
        match bytes.next()? {
            b'%' => expanded.push(b'%'),
            &token => expanded.extend_from_slice(value(&[token])?),
        }
    }
    String::from_utf8(expanded).ok()
}

struct Captured {
    success: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Collects a child's stdout and stderr until it exits or the deadline passes (then it is
/// killed, with its process group). Returns `None` on timeout.
fn capture(mut child: Child, deadline: Deadline) -> io::Result<Option<Captured>> {
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    for fd in [stdout.as_fd(), stderr.as_fd()] {
        fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    }
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        let remaining = deadline.remaining();
        if remaining.is_zero() {
            kill_group(child);
            return Ok(None);
        }
        let millis = remaining.as_micros().div_ceil(1000);
        let mut fds = Vec::with_capacity(2);
        if out_open {
            fds.push(PollFd::new(stdout.as_fd(), PollFlags::POLLIN));
        }
        if err_open {
            fds.push(PollFd::new(stderr.as_fd(), PollFlags::POLLIN));
        }
        match poll(
            &mut fds,
            PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX),
        ) {
            Err(nix::errno::Errno::EINTR) | Ok(0) => continue,
            Err(errno) => return Err(errno.into()),
            Ok(_) => {}
        }
        if out_open {
            out_open = drain(&mut stdout, &mut out)?;
        }
        if err_open {
            err_open = drain(&mut stderr, &mut err)?;
        }
    }
    // Both pipes closed: the child has exited or is about to.
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(Captured {
                success: status.success(),
                stdout: out,
                stderr: err,
            }));
        }
        if deadline.remaining().is_zero() {
            kill_group(child);
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// Ends a child that leads its own process group, with everything it started.
fn kill_group(mut child: Child) {
    let group = nix::unistd::Pid::from_raw(-(child.id() as i32));
    let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

/// Reads what is available; returns false at end of file.
fn drain(pipe: &mut impl Read, into: &mut Vec<u8>) -> io::Result<bool> {
    let mut buffer = [0u8; 8192];
    loop {
        match pipe.read(&mut buffer) {
            Ok(0) => return Ok(false),
            Ok(n) => into.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The arguments as a user would type them, for messages: quoted where a shell needs it, and
/// with control characters and bytes that are not text escaped (see `text::escape_bytes`).
pub fn shell_words<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|arg| {
            let arg = text::escape_bytes(arg.as_ref().as_bytes());
            if !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./@:=,%+".contains(c))
            {
                arg.into_owned()
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ssh_g_output() {
        let resolved = parse_resolved(
            b"host web\nuser bob\nhostname 10.0.0.5\nport 2222\ncontrolmaster auto\n\
             controlpath /home/bob/.ssh/cm-bob@10.0.0.5:2222\ncontrolpersist 600\n",
        );
        assert_eq!(resolved.alias, Some(Name::from("web")));
        assert_eq!(resolved.destination, Some(Name::from("bob@10.0.0.5:2222")));
        assert_eq!(resolved.control_master, "auto");
        assert_eq!(
            resolved.control_path,
            Some(PathBuf::from("/home/bob/.ssh/cm-bob@10.0.0.5:2222"))
        );
        assert_eq!(
            parse_resolved(b"host x\ncontrolmaster false\n").control_path,
            None
        );
    }

    /// ssh takes any bytes for a host, and prints them back as they are: kept, not replaced.
    #[test]
    fn answers_that_are_not_utf8_keep_their_bytes() {
        let resolved = parse_resolved(
            b"host \xff\xfe\nuser root\nhostname \xff\xfe\nport 22\ncontrolpath /tmp/cm-\xff\n",
        );
        assert_eq!(resolved.alias.unwrap().shown(), "\\xff\\xfe");
        assert_eq!(resolved.destination.unwrap().shown(), "root@\\xff\\xfe:22");
        let path = resolved.control_path.unwrap();
        assert_eq!(path.as_os_str().as_bytes(), b"/tmp/cm-\xff");
    }

    #[test]
    fn reads_how_the_destination_is_reached() {
        let jump = parse_resolved(b"host inner\nproxyjump ops@bastion:2222\nproxycommand x\n");
        assert_eq!(jump.proxy, Some(Proxy::Jump("ops@bastion:2222".into())));
        let command = parse_resolved(
            b"host web\nuser bob\nhostname 10.0.0.5\nport 22\n\
             proxycommand ssh -W %h:%p -l %r bastion # %n %%\n",
        );
        assert_eq!(
            command.proxy,
            Some(Proxy::Command(
                "ssh -W 10.0.0.5:22 -l bob bastion # web %".into()
            ))
        );
        assert_eq!(parse_resolved(b"host x\nproxycommand none\n").proxy, None);
        let unknown_token = parse_resolved(b"host x\nhostname h\nproxycommand nc %h %Z\n");
        assert_eq!(unknown_token.proxy, None);
        assert_eq!(
            parse_resolved(b"host x\nproxycommand nc h 22%\n").proxy,
            None
        );
    }

    #[test]
    fn quotes_arguments_for_messages() {
        let args = [
            "-o".to_string(),
            "ProxyCommand=nc %h %p".into(),
            "it's".into(),
        ];
        assert_eq!(shell_words(&args), r"-o 'ProxyCommand=nc %h %p' 'it'\''s'");
    }
}
