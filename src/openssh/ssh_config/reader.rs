//! One reading of the ssh config files: the files, the Includes with their globs, and the
//! limits that keep a pathological config from costing more than ssh itself would.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{ConfigScan, Directive, split_directive, wildcard_match};
use crate::error::{Error, Result};
use crate::openssh::local_user::LocalUser;

/// ssh's limit on Include nesting (OpenSSH readconf.c, READCONF_MAX_DEPTH): the config file
/// itself is depth 0, and when a file at depth 16 includes a file that exists, ssh refuses the
/// whole config ("Too many recursive configuration includes").
const MAX_INCLUDE_DEPTH: usize = 16;
/// Files and directories one reading may open, counting each time an Include opens one again.
/// Real configs open a few dozen; Includes that fan out (each file including the next twice,
/// 16 deep) would open tens of thousands, and ssh would be as slow as muxguard.
const MAX_FILES_OPENED: usize = 1000;
/// Bytes one file may hold. Even generated configs with thousands of Host blocks stay under
/// 1 MiB: more is a log or an image named by mistake, and would cost time and memory.
const MAX_CONFIG_FILE_BYTES: u64 = 4 << 20;
/// Bytes one reading may read in all, whatever the Includes.
const MAX_TOTAL_BYTES: u64 = 16 << 20;

impl ConfigScan {
    /// Reads the given config file, or the user's and the system's config when `config` is
    /// `None` (as ssh does), following every Include whatever block it is in. A config ssh
    /// refuses for its Includes, or one past muxguard's limits, is a usage error.
    pub fn read(config: Option<&Path>, local: &LocalUser) -> Result<ConfigScan> {
        let user_dir = local.home.join(".ssh");
        let mut reader = Reader::new(local);
        match config {
            Some(file) => {
                reader.top = file.to_path_buf();
                let text = reader.read_text(file)?.map_err(|e| {
                    Error::Environment(format!("cannot read ssh config {}: {e}", file.display()))
                })?;
                reader.scan.inputs.push(file.to_path_buf());
                reader.collect(&text, &user_dir, 0)?;
            }
            None => {
                for (file, include_base) in [
                    (user_dir.join("config"), user_dir.clone()),
                    (
                        PathBuf::from("/etc/ssh/ssh_config"),
                        PathBuf::from("/etc/ssh"),
                    ),
                ] {
                    reader.top = file.clone();
                    reader.read_file(&file, &include_base, 0)?;
                }
            }
        }
        Ok(reader.scan)
    }
}

/// One reading of the config files: what it found, and how much of the limits it has used.
struct Reader<'a> {
    scan: ConfigScan,
    local: &'a LocalUser,
    /// The config file being read, which errors name.
    top: PathBuf,
    files_opened: usize,
    bytes_read: u64,
}

impl Reader<'_> {
    fn new(local: &LocalUser) -> Reader<'_> {
        Reader {
            scan: ConfigScan::default(),
            local,
            top: PathBuf::new(),
            files_opened: 0,
            bytes_read: 0,
        }
    }

    fn refuse(&self, why: &str) -> Error {
        Error::Environment(format!("ssh config {}: {why}", self.top.display()))
    }

    /// Counts one more file or directory opened, refusing past the limit.
    fn open_one_more(&mut self) -> Result<()> {
        self.files_opened += 1;
        if self.files_opened > MAX_FILES_OPENED {
            return Err(self.refuse(&format!(
                "its Includes open more than {MAX_FILES_OPENED} files and directories; muxguard \
                 reads no further (do they include each other?)"
            )));
        }
        Ok(())
    }

    /// Reads a file an Include names (or a default config) at `depth`; a missing or unreadable
    /// one is skipped, as ssh skips it.
    fn read_file(&mut self, file: &Path, include_base: &Path, depth: usize) -> Result<()> {
        if depth > MAX_INCLUDE_DEPTH {
            return Err(self.refuse(&format!(
                "too many recursive configuration includes ({} would be {depth} deep, past \
                 {MAX_INCLUDE_DEPTH}); ssh refuses this config too",
                file.display()
            )));
        }
        self.scan.inputs.push(file.to_path_buf());
        if let Ok(text) = self.read_text(file)? {
            self.collect(&text, include_base, depth)?;
        }
        Ok(())
    }

    /// The text of `file`, or why it cannot be opened. What is not a regular file reads as
    /// empty: a FIFO would block and a device might never end. The error is for a file past
    /// the size limits.
    fn read_text(&mut self, file: &Path) -> Result<io::Result<String>> {
        // Looked at before it is opened, so that no FIFO or device is opened at all; opened
        // without blocking and looked at again, in case it was replaced in between.
        match fs::metadata(file) {
            Err(e) => return Ok(Err(e)),
            Ok(meta) if !meta.is_file() => return Ok(Ok(String::new())),
            Ok(_) => {}
        }
        self.open_one_more()?;
        let opened = File::options()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(file);
        let opened = match opened {
            Ok(opened) if opened.metadata().is_ok_and(|meta| meta.is_file()) => opened,
            Ok(_) => return Ok(Ok(String::new())),
            Err(e) => return Ok(Err(e)),
        };
        let limit = MAX_CONFIG_FILE_BYTES.min(MAX_TOTAL_BYTES - self.bytes_read);
        let mut bytes = Vec::new();
        if let Err(e) = opened.take(limit + 1).read_to_end(&mut bytes) {
            return Ok(Err(e));
        }
        let read = bytes.len() as u64;
        if read > limit {
            return Err(if limit == MAX_CONFIG_FILE_BYTES {
                self.refuse(&format!(
                    "{} is larger than {} MiB; muxguard reads no config file that large",
                    file.display(),
                    MAX_CONFIG_FILE_BYTES >> 20
                ))
            } else {
                self.refuse(&format!(
                    "its Includes read more than {} MiB; muxguard reads no further",
                    MAX_TOTAL_BYTES >> 20
                ))
            });
        }
        self.bytes_read += read;
        // ssh reads bytes: text in another encoding still holds its ASCII keywords.
        Ok(Ok(String::from_utf8_lossy(&bytes).into_owned()))
    }

    fn collect(&mut self, text: &str, include_base: &Path, depth: usize) -> Result<()> {
        for line in text.lines() {
            let Some((keyword, arguments)) = split_directive(line) else {
                continue;
            };
            let keyword = keyword.to_ascii_lowercase();
            if keyword == "include" {
                for pattern in &arguments {
                    let pattern = include_path(pattern, include_base, self.local);
                    for file in self.glob(&pattern)? {
                        self.read_file(&file, include_base, depth + 1)?;
                    }
                }
            }
            self.scan.directives.push(Directive { keyword, arguments });
        }
        Ok(())
    }

    /// Expands `*` and `?` in any path component, sorted like glob(3). Records in the inputs
    /// each directory it lists and each literal path it finds missing.
    fn glob(&mut self, pattern: &Path) -> Result<Vec<PathBuf>> {
        let mut matches = vec![PathBuf::from("/")];
        for component in pattern.components().skip(1) {
            let part = component.as_os_str().to_string_lossy();
            let wild = part.contains(['*', '?']);
            let mut next = Vec::new();
            for base in &matches {
                if !wild {
                    let candidate = base.join(&*part);
                    if candidate.symlink_metadata().is_ok() {
                        next.push(candidate);
                    } else {
                        self.scan.inputs.push(candidate);
                    }
                    continue;
                }
                self.scan.inputs.push(base.clone());
                self.open_one_more()?;
                let Ok(entries) = fs::read_dir(base) else {
                    continue;
                };
                let mut found: Vec<PathBuf> = entries
                    .flatten()
                    .filter(|entry| {
                        let name = entry.file_name();
                        let name = name.to_string_lossy();
                        // As in glob(3), a wildcard does not match a leading dot.
                        (part.starts_with('.') || !name.starts_with('.'))
                            && wildcard_match(&part, &name)
                    })
                    .map(|entry| entry.path())
                    .collect();
                found.sort();
                next.extend(found);
            }
            matches = next;
        }
        Ok(matches)
    }
}

/// Every ControlPath template in the given config, or in the user's and the system's.
/// Include paths: `~` is the home directory and relative paths are relative to `~/.ssh` for
/// the user's config and `/etc/ssh` for the system's.
fn include_path(pattern: &str, base: &Path, local: &LocalUser) -> PathBuf {
    if let Some(rest) = pattern.strip_prefix("~/") {
        local.home.join(rest)
    } else if pattern.starts_with('/') {
        PathBuf::from(pattern)
    } else {
        base.join(pattern)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use proptest::prelude::*;

    use super::*;
    use crate::openssh::ssh_config::control_path_templates;

    fn local(home: &Path) -> LocalUser {
        LocalUser {
            home: home.to_path_buf(),
            user: "ann".into(),
            uid: 1000,
            hostname: "laptop".into(),
        }
    }

    #[test]
    fn follows_includes_with_globs_relative_to_dot_ssh() {
        let home = tempfile::tempdir().unwrap();
        let ssh_dir = home.path().join(".ssh");
        fs::create_dir_all(ssh_dir.join("config.d")).unwrap();
        let main = ssh_dir.join("main.conf");
        fs::write(
            &main,
            "Host *\n  ControlPath ~/.ssh/cm-%C\nInclude config.d/*.conf\nInclude missing.conf\n",
        )
        .unwrap();
        fs::write(
            ssh_dir.join("config.d/b.conf"),
            "ControlPath /tmp/b-%r@%h:%p\n",
        )
        .unwrap();
        fs::write(
            ssh_dir.join("config.d/a.conf"),
            "Host a\n ControlPath=/tmp/a-%C\n",
        )
        .unwrap();
        fs::write(
            ssh_dir.join("config.d/.hidden.conf"),
            "ControlPath /tmp/hidden\n",
        )
        .unwrap();
        let templates = control_path_templates(Some(&main), &local(home.path())).unwrap();
        assert_eq!(templates, ["~/.ssh/cm-%C", "/tmp/a-%C", "/tmp/b-%r@%h:%p"]);
    }

    /// Writes `text` to `dir/name` and returns its path.
    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let file = dir.join(name);
        fs::write(&file, text).unwrap();
        file
    }

    fn refusal(result: Result<Vec<String>>) -> String {
        match result {
            Err(Error::Environment(message)) => message,
            other => panic!("not refused: {other:?}"),
        }
    }

    /// Reads `config`, which must be refused within a second, saying `why`.
    fn refused_at_once(config: &Path, home: &Path, why: &str) {
        let started = Instant::now();
        let message = refusal(control_path_templates(Some(config), &local(home)));
        assert!(message.contains(why), "{message}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn includes_go_as_deep_as_ssh_reads_them_and_no_deeper() {
        let dir = tempfile::tempdir().unwrap();
        // depth-0.conf includes depth-1.conf, ..., and depth-16.conf is the deepest ssh reads.
        for depth in 0..MAX_INCLUDE_DEPTH {
            let next = dir.path().join(format!("depth-{}.conf", depth + 1));
            write(
                dir.path(),
                &format!("depth-{depth}.conf"),
                &format!("Include {}\n", next.display()),
            );
        }
        let deepest = dir.path().join("depth-16.conf");
        let top = dir.path().join("depth-0.conf");
        let local = local(dir.path());

        // An Include there of a file that does not exist is no error for ssh.
        fs::write(
            &deepest,
            "ControlPath /tmp/deep-%C\nInclude /nonexistent/*.conf\n",
        )
        .unwrap();
        assert_eq!(
            control_path_templates(Some(&top), &local).unwrap(),
            ["/tmp/deep-%C"]
        );

        // One of a file that does exist is: ssh refuses the whole config.
        let beyond = write(dir.path(), "depth-17.conf", "");
        fs::write(&deepest, format!("Include {}\n", beyond.display())).unwrap();
        let message = refusal(control_path_templates(Some(&top), &local));
        assert!(
            message.contains("too many recursive configuration includes"),
            "{message}"
        );
        assert!(message.contains(&*top.to_string_lossy()), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn a_config_that_includes_itself_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("loop.conf");
        let name = file.display();
        fs::write(
            &file,
            format!("ControlPath /tmp/x-%C\nInclude {name} {name} {name}\n"),
        )
        .unwrap();
        refused_at_once(
            &file,
            dir.path(),
            "too many recursive configuration includes",
        );
    }

    #[test]
    fn includes_that_fan_out_stop_at_the_limit_of_files() {
        let dir = tempfile::tempdir().unwrap();
        // Within ssh's depth, but 2^16 files to read: ssh takes seconds, muxguard stops early.
        for depth in 0..MAX_INCLUDE_DEPTH {
            let next = dir.path().join(format!("fan-{}.conf", depth + 1));
            let next = next.display();
            write(
                dir.path(),
                &format!("fan-{depth}.conf"),
                &format!("Include {next} {next}\n"),
            );
        }
        write(dir.path(), "fan-16.conf", "ControlPath /tmp/fan-%C\n");
        let top = dir.path().join("fan-0.conf");
        let why = format!("more than {MAX_FILES_OPENED} files");
        refused_at_once(&top, dir.path(), &why);
    }

    #[test]
    fn files_past_the_byte_limits_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let local = local(dir.path());
        // Sparse: no disk is spent on the zeros.
        let sized = |name: &str, bytes: u64| {
            let file = dir.path().join(name);
            File::create(&file).unwrap().set_len(bytes).unwrap();
            file
        };
        let largest = sized("largest.conf", MAX_CONFIG_FILE_BYTES);
        let too_large = sized("too-large.conf", MAX_CONFIG_FILE_BYTES + 1);

        let one = write(
            dir.path(),
            "one.conf",
            &format!("Include {}\n", largest.display()),
        );
        assert!(control_path_templates(Some(&one), &local).is_ok());
        let message = refusal(control_path_templates(Some(&too_large), &local));
        assert!(message.contains("larger than 4 MiB"), "{message}");

        let times = MAX_TOTAL_BYTES / MAX_CONFIG_FILE_BYTES + 1;
        let many = write(
            dir.path(),
            "many.conf",
            &format!("Include {}\n", largest.display()).repeat(times as usize),
        );
        let message = refusal(control_path_templates(Some(&many), &local));
        assert!(message.contains("more than 16 MiB"), "{message}");
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let config = write(
            dir.path(),
            "main.conf",
            &format!(
                "Include /dev/zero {} {}\nControlPath /tmp/after-%C\n",
                fifo.display(),
                dir.path().display()
            ),
        );
        let local = local(dir.path());
        assert_eq!(
            control_path_templates(Some(&config), &local).unwrap(),
            ["/tmp/after-%C"]
        );
        // `ssh -F /dev/null`, the usual way to say "no config".
        let none = control_path_templates(Some(Path::new("/dev/null")), &local).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn a_missing_config_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let error = control_path_templates(Some(&dir.path().join("nope")), &local(dir.path()));
        assert!(matches!(error, Err(Error::Environment(message)) if message.contains("nope")));
    }

    /// Config lines of every kind this reader treats differently, Includes of every sort among
    /// them (of the config itself, of globs, of a device), and arbitrary text.
    fn config_line() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(vec![
                "Host *",
                "Match all",
                "  ControlPath /tmp/cm-%C",
                "ControlPath=\"~/.ssh/with space/%r@%h:%p\" # comment",
                "Include self.conf",
                "Include self.conf self.conf other.conf",
                "include \"*.conf\"",
                "Include ~/.ssh/*",
                "Include /dev/zero",
                "Include",
                "  # Include self.conf",
            ])
            .prop_map(str::to_string),
            "\\PC{0,40}",
        ]
    }
    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_bytes_read_as_a_config_at_once(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("config");
            fs::write(&file, bytes).unwrap();
            let started = Instant::now();
            let scan = ConfigScan::read(Some(&file), &local(dir.path()));
            prop_assert!(scan.is_ok());
            prop_assert!(started.elapsed() < Duration::from_millis(250));
        }

        #[test]
        fn any_config_of_includes_is_read_or_refused_at_once(
            main in proptest::collection::vec(config_line(), 0..12),
            other in proptest::collection::vec(config_line(), 0..12),
        ) {
            let home = tempfile::tempdir().unwrap();
            let ssh_dir = home.path().join(".ssh");
            fs::create_dir(&ssh_dir).unwrap();
            let file = write(&ssh_dir, "self.conf", &main.join("\n"));
            write(&ssh_dir, "other.conf", &other.join("\n"));
            let started = Instant::now();
            match ConfigScan::read(Some(&file), &local(home.path())) {
                Ok(_) => {}
                Err(Error::Environment(message)) => prop_assert!(!message.contains('\n'), "{}", message),
                Err(other) => prop_assert!(false, "{:?}", other),
            }
            prop_assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        }
    }
}
