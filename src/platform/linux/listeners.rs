//! The listening Unix sockets, from the kernel: sock_diag gives each one's file identity
//! (device and inode), which is exact even after a master's bound name was unlinked and its
//! ControlPath linked in its place; where sock_diag is unavailable, `/proc/net/unix` gives the
//! bound names only.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::netlink::{self, ne_u32};
use crate::platform::Listener;

/// Every listening Unix stream socket; the socket's id is its inode, as `/proc/PID/fd` shows it
/// (`socket:[N]`).
pub fn listeners() -> io::Result<Vec<Listener>> {
    match sock_diag_listeners() {
        Ok(listeners) => Ok(listeners),
        Err(_) => Ok(proc_net_unix_listeners(&fs::read_to_string(
            "/proc/net/unix",
        )?)),
    }
}

const TCP_LISTEN: u32 = 10;
const UDIAG_SHOW_NAME: u32 = 0x1;
const UDIAG_SHOW_VFS: u32 = 0x2;
const UNIX_DIAG_NAME: u16 = 0;
const UNIX_DIAG_VFS: u16 = 1;
const UNIX_DIAG_MSG_LEN: usize = 16;

fn sock_diag_listeners() -> io::Result<Vec<Listener>> {
    let mut listeners = Vec::new();
    netlink::dump_unix_sockets(1 << TCP_LISTEN, UDIAG_SHOW_NAME | UDIAG_SHOW_VFS, |body| {
        listeners.extend(parse_unix_diag_msg(body))
    })?;
    Ok(listeners)
}

fn parse_unix_diag_msg(body: &[u8]) -> Option<Listener> {
    if body.len() < UNIX_DIAG_MSG_LEN || body[1] != libc::SOCK_STREAM as u8 {
        return None;
    }
    let mut listener = Listener {
        socket: ne_u32(&body[4..8]) as u64,
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
                socket: fields.get(6)?.parse().ok()?,
                bound_path: path.map(PathBuf::from),
                file: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_unix() {
        let table = "Num       RefCount Protocol Flags    Type St Inode Path\n\
            0000000000000000: 00000002 00000000 00010000 0001 01 4242 /tmp/cm/x.AbCdEfGhIjKlMnOp\n\
            0000000000000000: 00000002 00000000 00000000 0001 03 4243 /tmp/cm/connected\n\
            0000000000000000: 00000002 00000000 00010000 0001 01 4244 @abstract\n";
        let listeners = proc_net_unix_listeners(table);
        assert_eq!(listeners.len(), 2);
        assert_eq!(listeners[0].socket, 4242);
        assert_eq!(
            listeners[0].bound_path.as_deref(),
            Some(std::path::Path::new("/tmp/cm/x.AbCdEfGhIjKlMnOp"))
        );
        assert_eq!(listeners[1].bound_path, None);
    }
}
