//! Running muxguard as another user (`nobody`), for what root cannot meet: permissions that
//! bind. Root only: the callers skip, saying so, when the tests do not run as root.

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// `nobody`: a user other than the one running the tests (root).
pub const NOBODY: u32 = 65534;

/// Whether the tests can become another user; if not, says which test skips.
pub fn can_switch_users(test: &str) -> bool {
    let root = nix::unistd::Uid::effective().is_root();
    if !root {
        eprintln!("skipped {test}: it needs root to run muxguard as another user");
    }
    root
}

/// Makes `command` run as nobody.
pub fn as_nobody(command: &mut Command) {
    // SAFETY: setgid and setuid are async-signal-safe; nothing else runs before exec.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setgid(NOBODY.into())?;
            nix::unistd::setuid(NOBODY.into())?;
            Ok(())
        });
    }
}

/// A directory nobody can reach (a temporary directory is 0700): `dir` inside it, root's and
/// mode 0755, so that nobody may look into it but not change what is in it.
pub struct SharedDir {
    root: TempDir,
    pub dir: PathBuf,
}

impl SharedDir {
    pub fn new() -> SharedDir {
        let root = tempfile::Builder::new()
            .prefix("mg")
            .tempdir_in("/tmp")
            .unwrap();
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let dir = root.path().join("sockets");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        SharedDir { root, dir }
    }

    /// A home of nobody's own, for muxguard's state.
    pub fn home(&self) -> PathBuf {
        let home = self.root.path().join("home");
        fs::create_dir_all(&home).unwrap();
        give_to_nobody(&home);
        home
    }
}

pub fn give_to_nobody(path: &Path) {
    chown(path, Some(NOBODY), Some(NOBODY)).unwrap();
}
