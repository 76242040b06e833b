//! Netlink dumps: ask the kernel for a table (listening sockets, addresses) in one request,
//! with no connection to anything.

use std::io;
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, recv, send, socket,
};

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const HEADER_LEN: usize = 16;

/// The message type of a sock_diag request.
pub const SOCK_DIAG_BY_FAMILY: u16 = 20;

/// Dumps the Unix stream sockets in the TCP-numbered `states` (a bit each) through sock_diag,
/// with the attributes `show` asks for (UDIAG_SHOW_*), and calls `each` with every answer.
pub fn dump_unix_sockets(states: u32, show: u32, each: impl FnMut(&[u8])) -> io::Result<()> {
    // struct unix_diag_req
    let mut request = Vec::with_capacity(24);
    request.push(libc::AF_UNIX as u8);
    request.push(0); // protocol
    request.extend_from_slice(&0u16.to_ne_bytes()); // padding
    request.extend_from_slice(&states.to_ne_bytes());
    request.extend_from_slice(&0u32.to_ne_bytes()); // any inode
    request.extend_from_slice(&show.to_ne_bytes());
    request.extend_from_slice(&[0xff; 8]); // no cookie
    dump(
        SockProtocol::NetlinkSockDiag,
        SOCK_DIAG_BY_FAMILY,
        &request,
        each,
    )
}

/// Sends one dump request of `msg_type` with `request` as its body, and calls `each` with the
/// body of every message of the answer.
pub fn dump(
    protocol: SockProtocol,
    msg_type: u16,
    request: &[u8],
    mut each: impl FnMut(&[u8]),
) -> io::Result<()> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        protocol,
    )?;
    let mut message = Vec::with_capacity(HEADER_LEN + request.len());
    message.extend_from_slice(&((HEADER_LEN + request.len()) as u32).to_ne_bytes());
    message.extend_from_slice(&msg_type.to_ne_bytes());
    message.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    message.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    message.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
    message.extend_from_slice(request);
    send(fd.as_raw_fd(), &message, MsgFlags::empty())?;

    // Big enough for any one message; the kernel sizes its dump batches to what we read with.
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let received = recv(fd.as_raw_fd(), &mut buffer, MsgFlags::empty())?;
        let mut messages = &buffer[..received];
        while messages.len() >= HEADER_LEN {
            let length = ne_u32(&messages[0..4]) as usize;
            let kind = u16::from_ne_bytes([messages[4], messages[5]]);
            if length < HEADER_LEN || length > messages.len() {
                return Err(io::Error::other("malformed netlink answer"));
            }
            match kind {
                NLMSG_DONE => return Ok(()),
                NLMSG_ERROR => {
                    let errno = i32::from_ne_bytes(messages[16..20].try_into().unwrap_or([0; 4]));
                    return Err(io::Error::from_raw_os_error(-errno));
                }
                _ => each(&messages[HEADER_LEN..length]),
            }
            messages = &messages[align4(length).min(messages.len())..];
        }
    }
}

/// The attributes (type, payload) that follow a message's fixed part.
pub fn attributes(mut rest: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if rest.len() < 4 {
            return None;
        }
        let length = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]);
        if length < 4 || length > rest.len() {
            return None;
        }
        let payload = &rest[4..length];
        rest = &rest[align4(length).min(rest.len())..];
        Some((kind, payload))
    })
}

pub fn ne_u32(bytes: &[u8]) -> u32 {
    u32::from_ne_bytes(bytes[..4].try_into().unwrap_or([0; 4]))
}

fn align4(length: usize) -> usize {
    (length + 3) & !3
}
