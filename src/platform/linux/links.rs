//! Each master's TCP connection to its server, from the kernel, with `struct tcp_info` (how long
//! the server has been silent, retransmits, round trip): asked of the master's own socket
//! through a copy of its descriptor (pidfd_getfd), or else found by its inode (`/proc/PID/fd`)
//! in sock_diag dumps of the TCP sockets, IPv4's, then IPv6's where that one did not hold it.

use std::collections::{HashMap, HashSet};
use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::sys::socket::SockProtocol;

use super::netlink::{self, ne_u32};
use super::procs::{Descriptors, Held};
use crate::platform::{Link, TcpLink, TcpTiming};

const INET_DIAG_INFO: u16 = 2;
const TCP_ESTABLISHED: u8 = 1;
const TCP_LISTEN: u32 = 10;
/// Every TCP state but LISTEN (a port forward's): a master's link may be closing.
const STATES: u32 = 0xfff & !(1 << TCP_LISTEN);
const INET_DIAG_MSG_LEN: usize = 72;

/// What the kernel says of each master's link, by pid. A master whose descriptors cannot be
/// read (another user's) is left out; one that holds no TCP socket talks to its server through
/// a ProxyCommand or ProxyJump.
///
/// The master's own socket is asked first (a copy of its descriptor through a pidfd, then
/// TCP_INFO): a few system calls. Where that is not allowed (a kernel before 5.6, or ptrace
/// restricted by Yama, as Ubuntu has it), sock_diag dumps of the TCP sockets find it among all
/// (`from_the_tables`).
pub fn links(pids: &[i32]) -> HashMap<i32, Link> {
    let mut links = HashMap::new();
    // Each master's sockets, in the order of its descriptors: ssh connects to the server
    // before it opens anything else (forwarded connections, clients of the mux socket).
    let mut unasked: Vec<(i32, Vec<u64>)> = Vec::new();
    for &pid in pids {
        match own_connection(pid) {
            Ok(link) => {
                links.insert(pid, link);
            }
            Err(_) => {
                if let Some(sockets) = sockets_of(pid) {
                    unasked.push((pid, sockets));
                }
            }
        }
    }
    if !unasked.is_empty() {
        links.extend(from_the_tables(&unasked));
    }
    links
}

/// The links of masters whose descriptors could not be copied, found by their sockets' inodes
/// in the kernel's TCP tables. Each read makes the kernel walk every bucket of its connection
/// table (about a millisecond where it has 262,144), so the IPv6 table is read only when the
/// IPv4 one did not hold some master's first socket (its connection to the server: ssh makes
/// it first).
/// Empty when a table cannot be read: then no link is said to go through a proxy.
fn from_the_tables(unasked: &[(i32, Vec<u64>)]) -> HashMap<i32, Link> {
    let wanted: HashSet<u64> = unasked
        .iter()
        .flat_map(|(_, inodes)| inodes.iter().copied())
        .collect();
    let mut connections = HashMap::new();
    for family in [libc::AF_INET, libc::AF_INET6] {
        if tcp_sockets(family as u8, &wanted, &mut connections).is_err() {
            return HashMap::new();
        }
        let all_found = unasked.iter().all(|(_, inodes)| {
            inodes
                .first()
                .is_some_and(|first| connections.contains_key(first))
        });
        if all_found {
            break;
        }
    }
    unasked
        .iter()
        .map(|(pid, inodes)| {
            let link = inodes
                .iter()
                .find_map(|inode| connections.get(inode).cloned())
                .map_or(Link::ViaProxy, Link::Tcp);
            (*pid, link)
        })
        .collect()
}

/// The descriptor ssh's connection to its server nearly always has, asked before the list of
/// them all is read: OpenSSH keeps 0 to 2 open (on /dev/null if it was started without them)
/// and connects before it opens anything else.
const LIKELY_CONNECTION: i32 = 3;

/// The inodes of the sockets `pid` holds, by descriptor number; `None` when they cannot be
/// read.
fn sockets_of(pid: i32) -> Option<Vec<u64>> {
    Some(
        socket_descriptors(pid)?
            .into_iter()
            .map(|(_, inode)| inode)
            .collect(),
    )
}

/// The descriptors `pid` holds that are sockets, in order, each with its inode; `None` when
/// they cannot be read.
fn socket_descriptors(pid: i32) -> Option<Vec<(i32, u64)>> {
    let sockets = Descriptors::of(pid)?
        .filter_map(|(fd, target)| Some((fd, Held::Socket.inode_in(&target)?)));
    Some(sockets.collect())
}

/// The first connected TCP socket of `pid`, asked through a copy of its descriptor (the likely
/// one first, then, if that is not it, each other socket it holds); `ViaProxy` when it holds
/// none, `Err` when the kernel does not allow the copy.
fn own_connection(pid: i32) -> io::Result<Link> {
    // SAFETY: pidfd_open takes a pid and flags, and returns a new descriptor or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor, and nothing else owns it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    let copy = |fd: i32| -> io::Result<Option<OwnedFd>> {
        // SAFETY: pidfd_getfd takes a pidfd, a descriptor number of that process and flags,
        // and returns a new descriptor of ours (close-on-exec) or -1.
        let copy = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
        if copy >= 0 {
            // SAFETY: as above.
            return Ok(Some(unsafe { OwnedFd::from_raw_fd(copy as i32) }));
        }
        match io::Error::last_os_error() {
            // No such descriptor (or closed meanwhile).
            error if error.raw_os_error() == Some(libc::EBADF) => Ok(None),
            error => Err(error),
        }
    };
    if let Some(link) = copy(LIKELY_CONNECTION)?.as_ref().and_then(tcp_connection) {
        return Ok(Link::Tcp(link));
    }
    let others =
        socket_descriptors(pid).ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))?;
    for (fd, _) in others
        .into_iter()
        .filter(|(fd, _)| *fd != LIKELY_CONNECTION)
    {
        if let Some(link) = copy(fd)?.as_ref().and_then(tcp_connection) {
            return Ok(Link::Tcp(link));
        }
    }
    Ok(Link::ViaProxy)
}

/// The peer and the state of a connected TCP socket; `None` for any other descriptor. Two
/// questions tell: only a connected socket has a peer, and of the connected Internet sockets
/// only TCP's answer TCP_INFO.
fn tcp_connection(socket: &OwnedFd) -> Option<TcpLink> {
    let fd = socket.as_raw_fd();
    // SAFETY: zeroed bytes are a valid sockaddr_storage.
    let mut address: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut length = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `length` bytes of address.
    if unsafe { libc::getpeername(fd, (&raw mut address).cast(), &mut length) } != 0 {
        return None;
    }
    let peer = match address.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: an AF_INET address is a sockaddr_in.
            let v4: libc::sockaddr_in = unsafe { std::ptr::read((&raw const address).cast()) };
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            SocketAddr::new(IpAddr::V4(ip), u16::from_be(v4.sin_port))
        }
        libc::AF_INET6 => {
            // SAFETY: an AF_INET6 address is a sockaddr_in6.
            let v6: libc::sockaddr_in6 = unsafe { std::ptr::read((&raw const address).cast()) };
            let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            let ip = ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4);
            SocketAddr::new(ip, u16::from_be(v6.sin6_port))
        }
        _ => return None,
    };
    let mut info = [0u8; TCP_INFO_READ];
    let mut length = info.len() as libc::socklen_t;
    // SAFETY: the buffer holds `length` bytes, and the kernel writes at most that many.
    let asked = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut length,
        )
    };
    if asked != 0 {
        return None;
    }
    let timing = parse_tcp_info(info[0], &info[..length as usize]);
    Some(TcpLink { peer, timing })
}

/// Adds the TCP sockets of `family` among `wanted` to `found`, by inode.
fn tcp_sockets(
    family: u8,
    wanted: &HashSet<u64>,
    found: &mut HashMap<u64, TcpLink>,
) -> io::Result<()> {
    // struct inet_diag_req_v2, with an empty socket id: every socket in those states.
    let mut request = Vec::with_capacity(56);
    request.push(family);
    request.push(libc::IPPROTO_TCP as u8);
    request.push(1 << (INET_DIAG_INFO - 1)); // ask for tcp_info
    request.push(0);
    request.extend_from_slice(&STATES.to_ne_bytes());
    request.extend_from_slice(&[0; 48]);
    netlink::dump(
        SockProtocol::NetlinkSockDiag,
        netlink::SOCK_DIAG_BY_FAMILY,
        &request,
        |body| {
            if let Some((inode, link)) = parse_inet_diag_msg(body, wanted) {
                found.insert(inode, link);
            }
        },
    )
}

fn parse_inet_diag_msg(body: &[u8], wanted: &HashSet<u64>) -> Option<(u64, TcpLink)> {
    if body.len() < INET_DIAG_MSG_LEN {
        return None;
    }
    let inode = ne_u32(&body[68..72]) as u64;
    if !wanted.contains(&inode) {
        return None;
    }
    let family = body[0] as i32;
    let state = body[1];
    // struct inet_diag_sockid: ports in network order, then 16 bytes for each address.
    let peer_port = u16::from_be_bytes([body[6], body[7]]);
    let address = &body[24..40];
    let peer_ip = if family == libc::AF_INET {
        IpAddr::V4(Ipv4Addr::new(
            address[0], address[1], address[2], address[3],
        ))
    } else {
        let ip = Ipv6Addr::from(<[u8; 16]>::try_from(address).ok()?);
        // A v4 peer reached through an IPv6 socket reads as ::ffff:a.b.c.d.
        ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4)
    };
    let timing = netlink::attributes(&body[INET_DIAG_MSG_LEN..])
        .find(|(kind, _)| *kind == INET_DIAG_INFO)
        .and_then(|(_, info)| parse_tcp_info(state, info));
    Some((
        inode,
        TcpLink {
            peer: SocketAddr::new(peer_ip, peer_port),
            timing,
        },
    ))
}

/// How much of `struct tcp_info` is read: up to `tcpi_bytes_acked`.
const TCP_INFO_READ: usize = 128;

/// The fields of `struct tcp_info` (linux/tcp.h) that tell how the link is doing; they have
/// been at these offsets since Linux 2.6, the byte counts since 4.1.
fn parse_tcp_info(state: u8, info: &[u8]) -> Option<TcpTiming> {
    if info.len() < 72 {
        return None;
    }
    let millis = |at: usize| Duration::from_millis(ne_u32(&info[at..at + 4]) as u64);
    let counter = |at: usize| {
        let bytes = info.get(at..at + 8)?;
        Some(u64::from_ne_bytes(bytes.try_into().ok()?))
    };
    Some(TcpTiming {
        established: state == TCP_ESTABLISHED,
        retransmits: info[2],
        backoff: info[4],
        unacked: ne_u32(&info[24..28]),
        silent: millis(52),
        since_sent: millis(44),
        rtt: Duration::from_micros(ne_u32(&info[68..72]) as u64),
        bytes_acked: counter(120),
    })
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;

    #[test]
    fn finds_this_process_connection_and_its_peer() {
        for address in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(listener) = TcpListener::bind(address) else {
                continue; // no IPv6 on this machine
            };
            let peer = listener.local_addr().unwrap();
            let client = TcpStream::connect(peer).unwrap();
            let (_accepted, _) = listener.accept().unwrap();
            let local = client.local_addr().unwrap();

            let found = this_process_connections(peer);
            let link = found
                .values()
                .find(|link| link.peer == peer)
                .unwrap_or_else(|| panic!("no connection to {peer} in {found:?}"));
            let timing = link.timing.as_ref().expect("tcp_info");
            assert!(timing.established);
            assert_eq!(timing.unacked, 0);
            assert!(timing.silent < Duration::from_secs(5), "{timing:?}");
            // The accepted end is found too, its peer the client.
            assert!(found.values().any(|link| link.peer == local), "{found:?}");
        }
    }

    /// This process's TCP connections of `peer`'s family, from the dump.
    fn this_process_connections(peer: SocketAddr) -> HashMap<u64, TcpLink> {
        let mut found = HashMap::new();
        let wanted = sockets_of(std::process::id() as i32)
            .unwrap()
            .into_iter()
            .collect();
        let family = if peer.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        tcp_sockets(family as u8, &wanted, &mut found).unwrap();
        found
    }

    /// Data sent a moment ago to a peer that has said nothing for longer: `since_sent` and
    /// `silent` are the kernel's two clocks, not one read twice.
    #[test]
    fn data_left_unanswered_shows() {
        use std::io::Write;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(peer).unwrap();
        let (_accepted, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(400));
        client.write_all(b"unanswered").unwrap();
        let found = this_process_connections(peer);
        let link = found.values().find(|link| link.peer == peer).unwrap();
        let timing = link.timing.as_ref().expect("tcp_info");
        assert!(timing.since_sent < Duration::from_millis(200), "{timing:?}");
        assert!(timing.silent >= Duration::from_millis(350), "{timing:?}");
    }

    /// Through a copy of the descriptor: the first connected TCP socket of the process, by
    /// descriptor number (the one to the server, for ssh), with its state.
    #[test]
    fn asks_the_socket_itself() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        let _client = TcpStream::connect(server).unwrap();
        let (_accepted, _) = listener.accept().unwrap();
        let me = std::process::id() as i32;
        let Link::Tcp(link) = own_connection(me).unwrap() else {
            panic!("no connection found");
        };
        // Other tests of this process may hold connections too; ours is one of the first.
        if link.peer == server {
            let timing = link.timing.expect("tcp_info");
            assert!(timing.established);
            assert!(timing.silent < Duration::from_secs(5));
        }
        assert!(matches!(links(&[me]).get(&me), Some(Link::Tcp(_))));
    }

    /// A connection on a descriptor other than the likely one is found among the others: one
    /// past it (behind a file on 3), and one on stdin.
    #[test]
    fn a_connection_elsewhere_is_found_among_the_sockets() {
        for redirections in ["3</dev/null 5<>", "<>"] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let server = listener.local_addr().unwrap();
            let script = format!(
                "exec {redirections}/dev/tcp/127.0.0.1/{}; exec sleep 5",
                server.port()
            );
            let mut child = std::process::Command::new("bash")
                .args(["-c", &script])
                .spawn()
                .unwrap();
            let (_accepted, _) = listener.accept().unwrap();
            let found = own_connection(child.id() as i32);
            child.kill().unwrap();
            child.wait().unwrap();
            match found {
                Ok(Link::Tcp(link)) => assert_eq!(link.peer, server, "{redirections}"),
                other => panic!("{redirections}: {other:?}"),
            }
        }
    }

    /// A connected UDP socket has a peer too, and a listener answers TCP_INFO: neither is a
    /// connection to a server.
    #[test]
    fn a_udp_socket_or_a_listener_is_no_connection() {
        use std::os::fd::AsFd;
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.connect("127.0.0.1:9").unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        for socket in [udp.as_fd(), listener.as_fd()] {
            assert!(tcp_connection(&socket.try_clone_to_owned().unwrap()).is_none());
        }
    }

    /// From the tables, a master's connection is its first socket's, whichever family: the
    /// IPv4 table alone does not settle a master whose first socket is IPv6 but holds an IPv4
    /// connection after it (a forwarded one).
    #[test]
    fn from_the_tables_the_first_socket_is_the_connection() {
        let Ok(v6) = TcpListener::bind("[::1]:0") else {
            return; // no IPv6 on this machine
        };
        let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let at = |listener: &TcpListener| {
            let address = listener.local_addr().unwrap();
            format!("/dev/tcp/{}/{}", address.ip(), address.port())
        };
        for (first, second) in [(&v6, &v4), (&v4, &v6)] {
            let script = format!("exec 3<>{} 4<>{}; exec sleep 5", at(first), at(second));
            let mut child = std::process::Command::new("bash")
                .args(["-c", &script])
                .spawn()
                .unwrap();
            let pid = child.id() as i32;
            let (_first, _) = first.accept().unwrap();
            let (_second, _) = second.accept().unwrap();
            let found = from_the_tables(&[(pid, sockets_of(pid).unwrap())]);
            child.kill().unwrap();
            child.wait().unwrap();
            match found.get(&pid) {
                Some(Link::Tcp(link)) => assert_eq!(link.peer, first.local_addr().unwrap()),
                other => panic!("{other:?}"),
            }
        }
    }

    /// What the peer acknowledged, counted in bytes.
    #[test]
    fn counts_the_bytes_acknowledged() {
        use std::io::{Read, Write};
        use std::os::fd::AsFd;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut accepted, _) = listener.accept().unwrap();
        client.write_all(b"0123456789").unwrap();
        accepted.read_exact(&mut [0; 10]).unwrap();
        accepted.write_all(b"abcde").unwrap();
        client.read_exact(&mut [0; 5]).unwrap();
        let socket = client.as_fd().try_clone_to_owned().unwrap();
        let timing = tcp_connection(&socket).unwrap().timing.unwrap();
        // Acknowledged at the latest with the reply; the kernel counts the SYN too.
        assert_eq!(timing.bytes_acked, Some(11), "{timing:?}");
    }

    #[test]
    fn a_process_without_tcp_sockets_goes_through_a_proxy() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let links = links(&[child.id() as i32]);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            matches!(links.get(&(child.id() as i32)), Some(Link::ViaProxy)),
            "{links:?}"
        );
    }
}
