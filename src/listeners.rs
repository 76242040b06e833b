//! Which Unix sockets are listening, read from the kernel without connecting to any of them:
//! a connection would restart a ControlPersist master's idle countdown.
//!
//! The kernel's sock_diag interface gives each listener's file identity (device and inode),
//! which is exact even after the master's bound name was unlinked and its ControlPath linked in
//! its place. Where sock_diag is unavailable, `/proc/net/unix` gives the bound names only.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::socket::SockProtocol;

use crate::fsentry::FileInfo;
use crate::netlink::{self, ne_u32};

#[derive(Debug, Clone)]
pub struct Listener {
    /// The socket's own inode, as `/proc/PID/fd` shows it (`socket:[N]`).
    pub socket_ino: u64,
    /// The path it was bound to: for an OpenSSH master, `<ControlPath>.<16 random characters>`.
    pub bound_path: Option<PathBuf>,
    /// Device and inode of the file made by bind(), when the kernel tells.
    pub file: Option<(u64, u64)>,
}

pub struct ListenerTable {
    listeners: Vec<Listener>,
    by_file: HashMap<(u64, u64), usize>,
}

impl ListenerTable {
    pub fn load() -> io::Result<Self> {
        let listeners = match sock_diag_listeners() {
            Ok(listeners) => listeners,
            Err(_) => proc_net_unix_listeners(&fs::read_to_string("/proc/net/unix")?),
        };
        Ok(Self::from_listeners(listeners))
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
        table
            .for_file(path, info)
            .map(|listener| listener.socket_ino)
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

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const TCP_LISTEN: u32 = 10;
const UDIAG_SHOW_NAME: u32 = 0x1;
const UDIAG_SHOW_VFS: u32 = 0x2;
const UNIX_DIAG_NAME: u16 = 0;
const UNIX_DIAG_VFS: u16 = 1;
const UNIX_DIAG_MSG_LEN: usize = 16;

fn sock_diag_listeners() -> io::Result<Vec<Listener>> {
    // struct unix_diag_req
    let mut request = Vec::with_capacity(24);
    request.push(libc::AF_UNIX as u8);
    request.push(0); // protocol
    request.extend_from_slice(&0u16.to_ne_bytes()); // padding
    request.extend_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
    request.extend_from_slice(&0u32.to_ne_bytes()); // any inode
    request.extend_from_slice(&(UDIAG_SHOW_NAME | UDIAG_SHOW_VFS).to_ne_bytes());
    request.extend_from_slice(&[0xff; 8]); // no cookie
    let mut listeners = Vec::new();
    netlink::dump(
        SockProtocol::NetlinkSockDiag,
        SOCK_DIAG_BY_FAMILY,
        &request,
        |body| listeners.extend(parse_unix_diag_msg(body)),
    )?;
    Ok(listeners)
}

fn parse_unix_diag_msg(body: &[u8]) -> Option<Listener> {
    if body.len() < UNIX_DIAG_MSG_LEN || body[1] != libc::SOCK_STREAM as u8 {
        return None;
    }
    let mut listener = Listener {
        socket_ino: ne_u32(&body[4..8]) as u64,
        bound_path: None,
        file: None,
    };
    for (kind, payload) in netlink::attributes(&body[UNIX_DIAG_MSG_LEN..]) {
        match kind {
            // Abstract names start with a NUL byte and are no file.
            UNIX_DIAG_NAME if payload.first().is_some_and(|&b| b != 0) => {
                let name = payload.split(|&b| b == 0).next().unwrap_or_default();
                listener.bound_path = Some(PathBuf::from(OsStr::from_bytes(name)));
            }
            UNIX_DIAG_VFS if payload.len() >= 8 => {
                let ino = ne_u32(&payload[0..4]) as u64;
                let kernel_dev = ne_u32(&payload[4..8]);
                // The kernel's internal dev_t is major << 20 | minor; stat() encodes it
                // differently.
                let dev = libc::makedev(kernel_dev >> 20, kernel_dev & 0xf_ffff);
                listener.file = Some((dev, ino));
            }
            _ => {}
        }
    }
    Some(listener)
}

/// Parses `/proc/net/unix`: listening stream sockets, by bound name only.
fn proc_net_unix_listeners(table: &str) -> Vec<Listener> {
    const SO_ACCEPTCON: u32 = 0x0001_0000;
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = u32::from_str_radix(fields.get(3)?, 16).ok()?;
            let socket_type = u32::from_str_radix(fields.get(4)?, 16).ok()?;
            if flags & SO_ACCEPTCON == 0 || socket_type != libc::SOCK_STREAM as u32 {
                return None;
            }
            let path = fields.get(7).filter(|path| path.starts_with('/'));
            Some(Listener {
                socket_ino: fields.get(6)?.parse().ok()?,
                bound_path: path.map(PathBuf::from),
                file: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsentry::inspect;
    use std::os::unix::net::UnixListener;

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
    fn parses_proc_net_unix_and_matches_by_name() {
        let table = "Num       RefCount Protocol Flags    Type St Inode Path\n\
            0000000000000000: 00000002 00000000 00010000 0001 01 4242 /tmp/cm/x.AbCdEfGhIjKlMnOp\n\
            0000000000000000: 00000002 00000000 00000000 0001 03 4243 /tmp/cm/connected\n\
            0000000000000000: 00000002 00000000 00010000 0001 01 4244 @abstract\n";
        let listeners = proc_net_unix_listeners(table);
        assert_eq!(listeners.len(), 2);
        let table = ListenerTable::from_listeners(listeners);
        let info = FileInfo {
            kind: crate::fsentry::FileKind::Socket,
            uid: 0,
            dev: 1,
            ino: 2,
            modified: (0, 0),
            made: None,
        };
        let found = table.for_file(Path::new("/tmp/cm/x"), &info).unwrap();
        assert_eq!(found.socket_ino, 4242);
        assert!(table.for_file(Path::new("/tmp/cm/y"), &info).is_none());
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
