//! Which Unix sockets are listening, as the platform reads them without connecting to any of
//! them (a connection would restart a ControlPersist master's idle countdown), and which one
//! listens behind a socket file.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::platform::{self, Listener};
use crate::socket::fsentry::FileInfo;
use crate::socket::holder;

pub struct ListenerTable {
    listeners: Vec<Listener>,
    by_file: HashMap<(u64, u64), usize>,
}

impl ListenerTable {
    /// `ErrorKind::Unsupported` where the platform has no such table.
    pub fn load() -> io::Result<Self> {
        Ok(Self::from_listeners(platform::listeners()?))
    }
    fn from_listeners(listeners: Vec<Listener>) -> Self {
        let by_file = listeners
            .iter()
            .enumerate()
            .filter_map(|(index, listener)| listener.file.map(|file| (file, index)))
            .collect();
        ListenerTable { listeners, by_file }
    }

    /// The inode of the socket listening on the file at `path`, read fresh from the kernel;
    /// `None` when nothing listens there or the table cannot be read.
    pub fn socket_of(path: &Path, info: &FileInfo) -> Option<u64> {
        let table = Self::load().ok()?;
        table.for_file(path, info).map(|listener| listener.socket)
    }

    /// Names bound relative to the binder's working directory (`-o ControlPath=tramp.%C`, as
    /// Emacs TRAMP runs ssh), made absolute from the working directory of the process holding
    /// each. A relative name whose holder's directory cannot be read is dropped: read from here
    /// it would name another file.
    pub fn resolve_relative(&mut self, holders: &HashMap<u64, Vec<i32>>) {
        for listener in &mut self.listeners {
            let Some(bound) = listener.bound_path.as_deref().filter(|b| b.is_relative()) else {
                continue;
            };
            let directory = holders
                .get(&listener.socket)
                .and_then(|pids| holder::pick_holder(listener.socket, pids))
                .and_then(|process| platform::working_directory(process.pid));
            listener.bound_path = directory.map(|directory| directory.join(bound));
        }
    }

    pub fn all(&self) -> &[Listener] {
        &self.listeners
    }

    /// The listener behind the socket file at `path`, if any.
    pub fn for_file(&self, path: &Path, info: &FileInfo) -> Option<&Listener> {
        if let Some(&index) = self.by_file.get(&(info.dev, info.ino)) {
            return Some(&self.listeners[index]);
        }
        // Without file identities, fall back to names: the path itself, or a master's
        // temporary name for it.
        self.listeners.iter().find(|listener| {
            listener.file.is_none()
                && listener.bound_path.as_deref().is_some_and(|bound| {
                    bound == path || master_path_of(bound).is_some_and(|master| master == path)
                })
        })
    }
}

/// For `<ControlPath>.<16 alphanumerics>`, the name OpenSSH binds before linking the
/// ControlPath, returns the ControlPath.
pub fn master_path_of(bound: &Path) -> Option<&Path> {
    let bytes = bound.as_os_str().as_bytes();
    let suffix_start = bytes.len().checked_sub(17)?;
    let (stem, suffix) = bytes.split_at(suffix_start);
    (suffix[0] == b'.' && suffix[1..].iter().all(u8::is_ascii_alphanumeric) && !stem.is_empty())
        .then(|| Path::new(OsStr::from_bytes(stem)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::fsentry::inspect;
    use std::fs;
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;

    #[test]
    fn finds_a_listener_by_file_identity_after_link_and_unlink() {
        let dir = tempfile::tempdir().unwrap();
        let control_path = dir.path().join("cm");
        let bound = dir.path().join("cm.AbCdEfGhIjKlMnOp");
        let _listener = UnixListener::bind(&bound).unwrap();
        fs::hard_link(&bound, &control_path).unwrap();
        fs::remove_file(&bound).unwrap();

        let info = inspect(&control_path).unwrap().unwrap();
        let table = ListenerTable::load().unwrap();
        let found = table
            .for_file(&control_path, &info)
            .expect("listener found");
        assert_eq!(found.bound_path.as_deref(), Some(bound.as_path()));
        assert_eq!(master_path_of(&bound), Some(control_path.as_path()));
    }

    #[test]
    fn a_closed_socket_has_no_listener() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stale");
        drop(UnixListener::bind(&path).unwrap());
        let info = inspect(&path).unwrap().unwrap();
        assert!(
            ListenerTable::load()
                .unwrap()
                .for_file(&path, &info)
                .is_none()
        );
    }

    #[test]
    fn without_file_identities_listeners_are_matched_by_name() {
        let named = |socket, path: &str| Listener {
            socket,
            bound_path: Some(PathBuf::from(path)),
            file: None,
        };
        let table = ListenerTable::from_listeners(vec![
            named(4242, "/tmp/cm/x.AbCdEfGhIjKlMnOp"),
            named(4243, "/tmp/cm/plain"),
        ]);
        let info = FileInfo {
            kind: crate::socket::fsentry::FileKind::Socket,
            uid: 0,
            dev: 1,
            ino: 2,
            modified: (0, 0),
            made: None,
        };
        let found = |path: &str| table.for_file(Path::new(path), &info).map(|l| l.socket);
        assert_eq!(found("/tmp/cm/x"), Some(4242));
        assert_eq!(found("/tmp/cm/plain"), Some(4243));
        assert_eq!(found("/tmp/cm/y"), None);
    }

    #[test]
    fn temporary_names() {
        assert_eq!(
            master_path_of(Path::new("/a/b.0123456789abcdef")),
            Some(Path::new("/a/b"))
        );
        assert_eq!(master_path_of(Path::new("/a/b.0123456789abcde!")), None);
        assert_eq!(master_path_of(Path::new("/a/b-0123456789abcdef")), None);
        assert_eq!(master_path_of(Path::new(".0123456789abcdef")), None);
    }
}
