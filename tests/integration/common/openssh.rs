//! Which OpenSSH the tests run. By default the system's: the `ssh` on PATH and /usr/sbin/sshd.
//! With `MUXGUARD_TEST_OPENSSH=PREFIX` (what `make test-openssh` sets), a build installed in
//! PREFIX: PREFIX/sbin/sshd is the server, and PREFIX/bin must come first on PATH, so that every
//! process a test starts (ssh, muxguard, the shells, scp, git) finds that build's ssh. The
//! harness checks this before it starts any sshd, so that no test falls back to the system's
//! OpenSSH unseen.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The variable that names the prefix of the OpenSSH build to test.
pub const PREFIX_VARIABLE: &str = "MUXGUARD_TEST_OPENSSH";

/// The OpenSSH under test.
#[derive(Debug)]
pub struct OpenSsh {
    /// The server the harness starts.
    pub sshd: PathBuf,
    /// What `ssh -V` calls itself, e.g. `OpenSSH_8.9p1`.
    pub name: String,
    /// (major, minor) of the ssh client.
    pub version: (u32, u32),
}

/// The OpenSSH under test, found and checked once; every call panics while it is not right.
pub fn openssh() -> &'static OpenSsh {
    static FOUND: OnceLock<OpenSsh> = OnceLock::new();
    FOUND.get_or_init(|| OpenSsh::find().unwrap_or_else(|problem| panic!("{problem}")))
}

/// (major, minor) of the ssh the tests run, for tests whose expectations differ by version.
pub fn ssh_version() -> (u32, u32) {
    openssh().version
}

impl OpenSsh {
    fn find() -> Result<OpenSsh, String> {
        let ssh = which::which("ssh")
            .map_err(|_| "ssh not found on PATH: the tests need the OpenSSH client".to_string())?;
        let sshd = match std::env::var_os(PREFIX_VARIABLE) {
            Some(prefix) => {
                let prefix = PathBuf::from(&prefix);
                let prefix = prefix
                    .canonicalize()
                    .map_err(|e| format!("{PREFIX_VARIABLE}={}: {e}", prefix.display()))?;
                let wanted = prefix.join("bin/ssh");
                if ssh.canonicalize().ok() != wanted.canonicalize().ok() {
                    return Err(format!(
                        "{PREFIX_VARIABLE}={} but the ssh on PATH is {}: put {} first on PATH \
                         (make test-openssh does)",
                        prefix.display(),
                        ssh.display(),
                        prefix.join("bin").display()
                    ));
                }
                prefix.join("sbin/sshd")
            }
            None => system_sshd()?,
        };
        let (name, version) = version_of(&ssh, "-V")?;
        // sshd has no -V before 9.x, but prints its version above the usage it answers with.
        let (sshd_name, sshd_version) = version_of(&sshd, "-V")?;
        if sshd_version != version {
            return Err(format!(
                "{} is {sshd_name} but {} is {name}: the tests need a client and a server of the \
                 same OpenSSH",
                sshd.display(),
                ssh.display()
            ));
        }
        Ok(OpenSsh {
            sshd,
            name,
            version,
        })
    }
}

fn system_sshd() -> Result<PathBuf, String> {
    let standard = PathBuf::from("/usr/sbin/sshd");
    if standard.exists() {
        return Ok(standard);
    }
    which::which("sshd").map_err(|_| {
        "sshd not found: the tests need a real OpenSSH server (apt-get install openssh-server)"
            .to_string()
    })
}

/// The name and (major, minor) of the OpenSSH `program` belongs to, from the first line it
/// prints on stderr when run with `option`: `OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL ...`.
fn version_of(program: &Path, option: &str) -> Result<(String, (u32, u32)), String> {
    let output = Command::new(program)
        .arg(option)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    stderr.lines().find_map(parse_version).ok_or_else(|| {
        format!(
            "{} {option} names no OpenSSH version: {stderr}",
            program.display()
        )
    })
}

/// `OpenSSH_10.5p1, without OpenSSL` -> (`OpenSSH_10.5p1`, (10, 5)).
fn parse_version(line: &str) -> Option<(String, (u32, u32))> {
    let name = line.split([',', ' ']).next()?;
    let number = name.strip_prefix("OpenSSH_")?;
    let (major, rest) = number.split_once('.')?;
    let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((name.to_string(), (major.parse().ok()?, minor.parse().ok()?)))
}

#[test]
fn versions_are_read_from_what_openssh_prints() {
    assert_eq!(
        parse_version("OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 27 Jan 2026"),
        Some(("OpenSSH_9.2p1".into(), (9, 2)))
    );
    assert_eq!(
        parse_version("OpenSSH_10.5p1, without OpenSSL"),
        Some(("OpenSSH_10.5p1".into(), (10, 5)))
    );
    assert_eq!(
        parse_version("OpenSSH_9.2, OpenSSL 3.0.19 27 Jan 2026"),
        Some(("OpenSSH_9.2".into(), (9, 2)))
    );
    assert_eq!(parse_version("unknown option -- V"), None);
}
