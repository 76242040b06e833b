//! What is at a path, seen without following symlinks, and removal that cannot take a file
//! that replaced the one we classified.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

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
/// The file is first renamed aside atomically and checked there, so a socket that a new master
/// links into place between our check and the removal is put back instead of deleted.
pub fn remove_if_same(path: &Path, expected: &FileInfo) -> io::Result<Removal> {
    match inspect(path)? {
        None => return Ok(Removal::AlreadyGone),
        Some(now) if !now.same_file(expected) => return Ok(Removal::Replaced),
        Some(_) => {}
    }
    let aside = aside_name(path);
    match fs::rename(path, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Removal::AlreadyGone),
        Err(e) => return Err(e),
    }
    match inspect(&aside)? {
        Some(moved) if moved.same_file(expected) => {
            fs::remove_file(&aside)?;
            Ok(Removal::Removed)
        }
        Some(_) => {
            // link() never replaces: if yet another file took the path meanwhile, that one wins
            // and the displaced one stays aside for a human to find.
            fs::hard_link(&aside, path)?;
            fs::remove_file(&aside)?;
            Ok(Removal::Replaced)
        }
        None => Ok(Removal::AlreadyGone),
    }
}

fn aside_name(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.muxguard-{}", std::process::id()))
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
