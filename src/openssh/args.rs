//! Reading an ssh command line the way ssh's own getopt loop does, far enough to know which
//! options it holds: options come before and after the destination, up to the command or `--`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// ssh's options that take an argument (OpenSSH 9.x `ssh -?` usage, plus `-P` tag of 9.4+).
const OPTIONS_WITH_ARGUMENT: &[u8] = b"BbcDEeFIiJLlmOoPpQRSWw";
const OPTIONS_WITHOUT_ARGUMENT: &[u8] = b"1246AaCfGgKkMNnqsTtVvXxYy";

/// The options of an ssh command line, in order, each with its argument if it takes one, and
/// its destination.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SshOptions {
    pub options: Vec<(u8, Option<OsString>)>,
    pub destination: Option<OsString>,
    /// Words follow the destination: a command for the server.
    pub command_follows: bool,
}

impl SshOptions {
    /// `None` for an option ssh does not know, or one whose argument is missing: ssh will
    /// refuse the command line itself.
    pub fn parse(ssh_args: &[OsString]) -> Option<SshOptions> {
        let mut options = Vec::new();
        let mut destination = None;
        let mut command_follows = false;
        let mut args = ssh_args.iter();
        while let Some(arg) = args.next() {
            let bytes = arg.as_bytes();
            if bytes == b"--" {
                // No option follows; the destination may.
                if destination.is_none() {
                    destination = args.next().cloned();
                }
                command_follows = args.next().is_some();
                break;
            }
            let Some(letters) = bytes.strip_prefix(b"-").filter(|rest| !rest.is_empty()) else {
                if destination.is_some() {
                    command_follows = true;
                    break;
                }
                destination = Some(arg.clone());
                continue;
            };
            for (index, &letter) in letters.iter().enumerate() {
                if OPTIONS_WITH_ARGUMENT.contains(&letter) {
                    let attached = &letters[index + 1..];
                    let value = if attached.is_empty() {
                        args.next()?.clone()
                    } else {
                        OsStr::from_bytes(attached).to_os_string()
                    };
                    options.push((letter, Some(value)));
                    break;
                }
                if !OPTIONS_WITHOUT_ARGUMENT.contains(&letter) {
                    return None;
                }
                options.push((letter, None));
            }
        }
        Some(SshOptions {
            options,
            destination,
            command_follows,
        })
    }

    /// The host name ssh takes from the destination (`host_arg` in ssh.c, before any `Host`
    /// or `HostName` applies): `[user@]host`, the user cut at the last `@`, or
    /// `ssh://[user[;params]@]host[:port]`, where an IPv6 address is in brackets.
    /// Bytes, as ssh takes them: a destination need not be text.
    pub fn destination_host(&self) -> Option<&[u8]> {
        let destination = self.destination.as_deref()?.as_bytes();
        let at = |byte: &u8| *byte == b'@';
        let host = match destination.strip_prefix(b"ssh://") {
            Some(uri) => {
                let after_user = uri.splitn(2, at).nth(1).unwrap_or(uri);
                match after_user.strip_prefix(b"[") {
                    Some(bracketed) => {
                        let end = bracketed.iter().position(|&byte| byte == b']')?;
                        &bracketed[..end]
                    }
                    None => after_user
                        .split(|&byte| byte == b':' || byte == b'/')
                        .next()?,
                }
            }
            None => destination.rsplit(at).next()?,
        };
        Some(host).filter(|host| !host.is_empty())
    }

    /// The last value of option `letter` (ssh keeps the last `-F`).
    pub fn last(&self, letter: u8) -> Option<&OsStr> {
        self.options
            .iter()
            .rev()
            .find(|(option, _)| *option == letter)
            .and_then(|(_, value)| value.as_deref())
    }

    pub fn has(&self, letter: u8) -> bool {
        self.options.iter().any(|(option, _)| *option == letter)
    }

    /// ssh opens no session through the master: it prints its configuration (`-G`), its
    /// version (`-V`) or a query's answer (`-Q`), or it addresses the master itself (`-O`).
    pub fn opens_no_session(&self) -> bool {
        [b'G', b'V', b'Q', b'O']
            .iter()
            .any(|&letter| self.has(letter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<OsString> {
        text.split_whitespace().map(OsString::from).collect()
    }

    fn config_file(text: &str) -> Option<Option<OsString>> {
        SshOptions::parse(&args(text)).map(|options| options.last(b'F').map(OsStr::to_os_string))
    }

    #[test]
    fn finds_options_where_ssh_does() {
        assert_eq!(config_file("host"), Some(None));
        assert_eq!(config_file("-F /a/b host"), Some(Some("/a/b".into())));
        assert_eq!(config_file("-vF/a/b -p 22 host"), Some(Some("/a/b".into())));
        // After the destination, options still count; after the command, nothing does.
        assert_eq!(
            config_file("host -F /a/b ls -F /c"),
            Some(Some("/a/b".into()))
        );
        assert_eq!(config_file("-F /a -F rel host"), Some(Some("rel".into())));
        assert_eq!(config_file("-o ControlPath=/x -- -F y"), Some(None));
        assert_eq!(config_file("-Z host"), None);
        assert_eq!(config_file("host -F"), None);
    }

    #[test]
    fn finds_the_host_of_the_destination_as_ssh_does() {
        let host = |text| {
            let options = SshOptions::parse(&args(text)).unwrap();
            options.destination_host().map(|host| host.to_vec())
        };
        assert_eq!(host("-p 22 web ls -l"), Some(b"web".to_vec()));
        assert_eq!(host("-l bob web"), Some(b"web".to_vec()));
        assert_eq!(host("bob@web"), Some(b"web".to_vec()));
        assert_eq!(host("a@b@web"), Some(b"web".to_vec()));
        assert_eq!(host("-F /c ssh://bob@web:2222"), Some(b"web".to_vec()));
        assert_eq!(host("ssh://bob;x=1@web"), Some(b"web".to_vec()));
        assert_eq!(host("ssh://[::1]:22"), Some(b"::1".to_vec()));
        assert_eq!(host("ssh://web"), Some(b"web".to_vec()));
        assert_eq!(host("-o ControlPath=/x -- web"), Some(b"web".to_vec()));
        assert_eq!(host("web -- -V"), Some(b"web".to_vec()));
        assert_eq!(host("-V"), None);
    }

    #[test]
    fn commands_that_open_no_session() {
        let opens_none = |text| SshOptions::parse(&args(text)).unwrap().opens_no_session();
        assert!(opens_none("-G host"));
        assert!(opens_none("host -G"));
        assert!(opens_none("-V"));
        assert!(opens_none("-Q cipher"));
        assert!(opens_none("-O check host"));
        assert!(opens_none("-qO exit host"));
        assert!(!opens_none("host"));
        assert!(!opens_none("-o ControlMaster=auto host"));
        assert!(!opens_none("host ssh -G other"));
        assert!(!opens_none("-p 22 -- host -V"));
    }

    #[test]
    fn takes_any_bytes() {
        use std::os::unix::ffi::OsStringExt;
        let odd = vec![
            OsString::from("-o"),
            OsString::from_vec(b"SetEnv=X=\xff".to_vec()),
            OsString::from_vec(b"h\xffst".to_vec()),
        ];
        let options = SshOptions::parse(&odd).unwrap();
        assert_eq!(
            options.last(b'o').unwrap().as_bytes(),
            b"SetEnv=X=\xff".as_slice()
        );
        assert_eq!(options.destination_host(), Some(b"h\xffst".as_slice()));
    }
}
