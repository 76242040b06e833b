//! What is at a path, seen without following symlinks, and removal that cannot take a file
//! that replaced the one we classified.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::platform;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Socket,
    Symlink,
    Regular,
    Directory,
    Other,
}

impl FileKind {
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::Socket => "a socket",
            FileKind::Symlink => "a symlink",
            FileKind::Regular => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Other => "a special file",
        }
    }
}

/// The identity and kind of a directory entry, from `lstat`.
#[derive(Debug, Clone, Copy)]
pub struct FileInfo {
    pub kind: FileKind,
    pub uid: u32,
    pub dev: u64,
    pub ino: u64,
    /// Modification time in (seconds, nanoseconds): with the inode it tells a file from a later
    /// one that reused its inode number. Unlike ctime, rename() leaves it alone.
    pub modified: (i64, i64),
    /// When the file was made: birth time where the filesystem keeps it, else mtime (a socket
    /// file is never written, so its mtime is its bind time).
    pub made: Option<SystemTime>,
}

impl FileInfo {
    pub fn same_file(&self, other: &FileInfo) -> bool {
        self.dev == other.dev
            && self.ino == other.ino
            && self.modified == other.modified
            && self.made == other.made
    }

    pub fn age(&self) -> Option<Duration> {
        self.made
            .and_then(|made| SystemTime::now().duration_since(made).ok())
    }
}

/// `lstat` that returns `None` when nothing is there.
pub fn inspect(path: &Path) -> io::Result<Option<FileInfo>> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(None),
        Err(e) => return Err(e),
    };
    let file_type = meta.file_type();
    let kind = if file_type.is_socket() {
        FileKind::Socket
    } else if file_type.is_symlink() {
        FileKind::Symlink
    } else if file_type.is_file() {
        FileKind::Regular
    } else if file_type.is_dir() {
        FileKind::Directory
    } else {
        FileKind::Other
    };
    Ok(Some(FileInfo {
        kind,
        uid: meta.uid(),
        dev: meta.dev(),
        ino: meta.ino(),
        modified: (meta.mtime(), meta.mtime_nsec()),
        made: meta.created().or_else(|_| meta.modified()).ok(),
    }))
}

#[derive(Debug, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// The file was gone before we got to it.
    AlreadyGone,
    /// Another file had taken its place; it was left there.
    Replaced,
}

/// Removes the file at `path` only if it is still `expected`.
///
/// The file is first moved aside atomically, to a name of this process's own that nothing else
/// had, and checked there: a socket that a new master linked into place between our check and
/// the removal is put back instead of deleted. Nothing is left under the aside name.
pub fn remove_if_same(path: &Path, expected: &FileInfo) -> io::Result<Removal> {
    match inspect(path)? {
        None => return Ok(Removal::AlreadyGone),
        Some(now) if !now.same_file(expected) => return Ok(Removal::Replaced),
        Some(_) => {}
    }
    match Aside::take(path)? {
        Some(aside) => aside.settle(expected),
        None => Ok(Removal::AlreadyGone),
    }
}

/// How many aside names are tried before giving up.
const ASIDE_NAMES: u32 = 100;

/// A file moved off `path` to `name`, next to it (a rename cannot leave the filesystem).
struct Aside<'a> {
    path: &'a Path,
    name: PathBuf,
}

impl<'a> Aside<'a> {
    /// Moves whatever is at `path` aside, never over an existing entry; `None` when nothing
    /// is there any more.
    fn take(path: &'a Path) -> io::Result<Option<Aside<'a>>> {
        for attempt in 0..ASIDE_NAMES {
            let name = aside_name(path, attempt);
            let moved = match platform::rename_noreplace(path, &name) {
                // The filesystem cannot rename without replacing (NFS): the name is checked
                // free instead. It is this process's own, so nothing else races for it.
                Err(error) if error.raw_os_error() == Some(libc::EINVAL) => match inspect(&name)? {
                    Some(_) => Err(io::ErrorKind::AlreadyExists.into()),
                    None => fs::rename(path, &name),
                },
                moved => moved,
            };
            match moved {
                Ok(()) => return Ok(Some(Aside { path, name })),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(error) => return Err(error),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "no free name to move it aside",
        ))
    }

    /// Removes the file if it is `expected`, else puts it back.
    fn settle(self, expected: &FileInfo) -> io::Result<Removal> {
        let removed = match inspect(&self.name) {
            Ok(Some(moved)) if moved.same_file(expected) => fs::remove_file(&self.name),
            Ok(Some(_)) => return self.put_back(),
            Ok(None) => return Ok(Removal::AlreadyGone),
            Err(error) => Err(error),
        };
        match removed {
            Ok(()) => Ok(Removal::Removed),
            Err(error) => {
                // Not stranded where no one looks: back at its path, or gone.
                let _ = self.put_back();
                Err(error)
            }
        }
    }

    /// Puts the file back at its path, and clears the aside name in any case.
    ///
    /// When a third file took the path meanwhile, that one keeps it and this one is removed.
    /// It is OpenSSH's own rule when two masters race for a ControlPath: the socket already at
    /// the path wins (the other's link() fails), and the other master stops sharing while its
    /// sessions go on. Putting this one back over the newcomer would only move the loss to a
    /// master that was told the path is its own.
    fn put_back(self) -> io::Result<Removal> {
        // link() never replaces, on every filesystem.
        let linked = fs::hard_link(&self.name, self.path);
        fs::remove_file(&self.name)?;
        match linked {
            Ok(()) => Ok(Removal::Replaced),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(Removal::Replaced),
            Err(error) => Err(error),
        }
    }
}

/// `.NAME.muxguard-PID`, then `.NAME.muxguard-PID-1` and so on.
fn aside_name(path: &Path, attempt: u32) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".muxguard-{}", crate::platform::process::my_pid()));
    if attempt > 0 {
        name.push(format!("-{attempt}"));
    }
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn removes_only_the_file_it_was_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sock");
        drop(UnixListener::bind(&path).unwrap());
        let first = inspect(&path).unwrap().unwrap();
        assert_eq!(first.kind, FileKind::Socket);

        // A new socket in its place, which may well get the same inode number. (Timestamps can
        // be as coarse as a clock tick; OpenSSH never replaces a socket that fast.)
        fs::remove_file(&path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        drop(UnixListener::bind(&path).unwrap());
        assert_eq!(remove_if_same(&path, &first).unwrap(), Removal::Replaced);
        assert!(path.exists());

        let second = inspect(&path).unwrap().unwrap();
        assert_eq!(remove_if_same(&path, &second).unwrap(), Removal::Removed);
        assert!(inspect(&path).unwrap().is_none());
        assert_eq!(
            remove_if_same(&path, &second).unwrap(),
            Removal::AlreadyGone
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// A socket at `path`, with a modification time of its own: a replacement made within the
    /// same clock tick could pass for the one before.
    fn new_socket(path: &Path) -> FileInfo {
        std::thread::sleep(Duration::from_millis(20));
        drop(UnixListener::bind(path).unwrap());
        inspect(path).unwrap().unwrap()
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_file_that_took_the_place_of_ours_is_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sock");
        let ours = new_socket(&path);
        fs::remove_file(&path).unwrap();
        let newcomer = new_socket(&path);

        // As if the newcomer had come between remove_if_same's check and its rename.
        let aside = Aside::take(&path).unwrap().unwrap();
        assert_eq!(aside.settle(&ours).unwrap(), Removal::Replaced);
        assert!(inspect(&path).unwrap().unwrap().same_file(&newcomer));
        assert_eq!(names_in(dir.path()), ["sock"]);
    }

    #[test]
    fn a_third_file_at_the_path_wins_and_nothing_stays_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sock");
        let ours = new_socket(&path);
        fs::remove_file(&path).unwrap();
        new_socket(&path);

        let aside = Aside::take(&path).unwrap().unwrap();
        // A third master links its socket in while the second one is aside.
        let third = new_socket(&path);
        assert_eq!(aside.settle(&ours).unwrap(), Removal::Replaced);
        assert!(inspect(&path).unwrap().unwrap().same_file(&third));
        assert_eq!(names_in(dir.path()), ["sock"]);
    }

    #[test]
    fn an_entry_at_the_aside_name_survives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sock");
        let socket = new_socket(&path);
        // The first name this process tries, taken already (a file of its own, or anyone's).
        let earlier = aside_name(&path, 0);
        fs::write(&earlier, "precious").unwrap();

        assert_eq!(remove_if_same(&path, &socket).unwrap(), Removal::Removed);
        assert_eq!(fs::read_to_string(&earlier).unwrap(), "precious");
        assert_eq!(names_in(dir.path()).len(), 1, "only the earlier file");
    }

    #[test]
    fn kinds() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(inspect(&file).unwrap().unwrap().kind, FileKind::Regular);
        assert_eq!(inspect(&link).unwrap().unwrap().kind, FileKind::Symlink);
        assert_eq!(
            inspect(dir.path()).unwrap().unwrap().kind,
            FileKind::Directory
        );
        assert!(inspect(&file.join("below-a-file")).unwrap().is_none());
    }
}
