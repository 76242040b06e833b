//! macOS: processes, their descriptors and their listening sockets from libproc.
//!
//! Direct FFI through libc rather than the libproc crate: that crate generates its bindings
//! with bindgen at build time (a libclang build dependency) for the four calls used here; libc
//! has the calls and the BSD process record, and the socket records below follow Apple's
//! <sys/proc_info.h>. Only the user's ssh processes are looked at, so `status` stays as cheap as
//! on Linux: a listener held by anything else is not in the table, and a connect to it that is
//! accepted makes it foreign (see classify).

use std::collections::{HashMap, HashSet};
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::mem::{MaybeUninit, size_of};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::socket::MsgFlags;
use nix::time::ClockId;

use super::{Link, Listener, TcpLink};
use crate::platform::process::{Owner, Process, Status};

/// sun_path holds 104 bytes with the final NUL.
pub const MAX_SOCKET_PATH: usize = 103;

/// macOS has no MSG_NOSIGNAL: sockets are made with SO_NOSIGPIPE instead (unix::stream_socket).
pub const NO_SIGPIPE: MsgFlags = MsgFlags::empty();

/// CLOCK_MONOTONIC counts time asleep on macOS, CLOCK_UPTIME_RAW does not.
pub const CLOCKS: Option<(ClockId, ClockId)> = Some((
    ClockId::CLOCK_MONOTONIC,
    ClockId::from_raw(libc::CLOCK_UPTIME_RAW),
));

const PROC_PIDFDSOCKETINFO: libc::c_int = 3;
/// proc_listpids: every process, or those of one uid.
const PROC_ALL_PIDS: u32 = 1;
const PROC_UID_ONLY: u32 = 4;
const SOCKINFO_TCP: libc::c_int = 2;
const SOCKINFO_UN: libc::c_int = 3;
/// in_sockinfo's insi_vflag for an IPv6 socket.
const INI_IPV6: u8 = 0x2;
const SO_ACCEPTCONN: libc::c_short = 0x2;
/// p_stat values of a process (sys/proc.h).
const SSTOP: u32 = 4;
const SZOMB: u32 = 5;
/// e_tdev of a process without a controlling terminal.
const NODEV: u32 = u32::MAX;

#[repr(C)]
#[derive(Clone, Copy)]
struct ProcFileInfo {
    fi_openflags: u32,
    fi_status: u32,
    fi_offset: i64,
    fi_type: i32,
    fi_guardflags: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct VinfoStat {
    vst_dev: u32,
    vst_mode: u16,
    vst_nlink: u16,
    vst_ino: u64,
    vst_uid: u32,
    vst_gid: u32,
    vst_times: [i64; 8],
    vst_size: i64,
    vst_blocks: i64,
    vst_blksize: i32,
    vst_flags: u32,
    vst_gen: u32,
    vst_rdev: u32,
    vst_qspare: [i64; 2],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct SockbufInfo {
    sbi_counts: [u32; 5],
    sbi_flags: i16,
    sbi_timeo: i16,
}

/// un_sockinfo: the member of socket_info's protocol union that a Unix socket fills in.
#[repr(C)]
#[derive(Clone, Copy)]
struct UnSockInfo {
    unsi_conn_so: u64,
    unsi_conn_pcb: u64,
    /// A sockaddr_un (sun_len, sun_family, sun_path), in a SOCK_MAXADDRLEN buffer.
    unsi_addr: [u8; 255],
    unsi_caddr: [u8; 255],
}

/// in_sockinfo: the start of the member of socket_info's protocol union that a TCP socket
/// fills in (tcp_sockinfo). An IPv4 address is in the last 4 bytes of its 16.
#[repr(C)]
#[derive(Clone, Copy)]
struct InSockInfo {
    insi_fport: i32,
    insi_lport: i32,
    insi_gencnt: u64,
    insi_flags: u32,
    insi_flow: u32,
    insi_vflag: u8,
    insi_ip_ttl: u8,
    rfu_1: u32,
    insi_faddr: [u8; 16],
    insi_laddr: [u8; 16],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct SocketInfo {
    soi_stat: VinfoStat,
    soi_so: u64,
    soi_pcb: u64,
    soi_type: i32,
    soi_protocol: i32,
    soi_family: i32,
    soi_options: i16,
    soi_linger: i16,
    soi_state: i16,
    soi_qlen: i16,
    soi_incqlen: i16,
    soi_qlimit: i16,
    soi_timeo: i16,
    soi_error: u16,
    soi_oobmark: u32,
    soi_rcv: SockbufInfo,
    soi_snd: SockbufInfo,
    soi_kind: i32,
    rfu_1: u32,
    soi_proto: UnSockInfo,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct SocketFdInfo {
    pfi: ProcFileInfo,
    psi: SocketInfo,
}

/// Room for the kernel's whole socket_fdinfo, whose protocol union has members larger than
/// the Unix one read here: the kernel refuses a buffer smaller than its struct.
#[repr(C)]
union SocketFdInfoBuffer {
    info: SocketFdInfo,
    room: [u64; 256],
}

pub fn process(pid: i32) -> Option<Process> {
    let info = bsd_info(pid)?;
    // SAFETY: pbi_comm is a NUL-terminated name of at most MAXCOMLEN characters.
    let comm = unsafe { CStr::from_ptr(info.pbi_comm.as_ptr()) };
    let status = match info.pbi_status {
        SSTOP => Status::Stopped,
        SZOMB => Status::Zombie,
        _ => Status::Running,
    };
    Some(Process {
        pid,
        uid: info.pbi_uid,
        comm: comm.to_string_lossy().into_owned(),
        status,
        has_terminal: info.e_tdev != NODEV,
        started: info.pbi_start_tvsec * 1_000_000 + info.pbi_start_tvusec,
    })
}

/// The directory a process works in (libproc's vnode path of its current directory).
pub fn working_directory(pid: i32) -> Option<PathBuf> {
    let info: libc::proc_vnodepathinfo = pid_info(pid, libc::PROC_PIDVNODEPATHINFO)?;
    let path = info.pvi_cdir.vip_path.as_flattened();
    // SAFETY: c_char and u8 have the same size and layout.
    let bytes = unsafe { std::slice::from_raw_parts(path.as_ptr().cast::<u8>(), path.len()) };
    let end = bytes.iter().position(|&byte| byte == 0)?;
    (end > 0).then(|| PathBuf::from(OsStr::from_bytes(&bytes[..end])))
}

fn bsd_info(pid: i32) -> Option<libc::proc_bsdinfo> {
    pid_info(pid, libc::PROC_PIDTBSDINFO)
}

/// libproc's `flavor` of facts about `pid`, a plain C struct `T` the kernel fills in whole.
fn pid_info<T>(pid: i32, flavor: libc::c_int) -> Option<T> {
    let mut info = MaybeUninit::<T>::zeroed();
    let size = size_of::<T>() as libc::c_int;
    // SAFETY: the buffer is a T of the size given.
    let written = unsafe { libc::proc_pidinfo(pid, flavor, 0, info.as_mut_ptr().cast(), size) };
    // SAFETY: the kernel filled it in whole, and every T asked for is plain data.
    (written == size).then(|| unsafe { info.assume_init() })
}

/// The pids of `owner`'s processes (everyone's for `Owner::Any`).
fn pids(owner: Owner) -> Vec<i32> {
    let (kind, uid) = match owner {
        Owner::Own => (PROC_UID_ONLY, super::process::my_uid()),
        Owner::Any => (PROC_ALL_PIDS, 0),
    };
    // SAFETY: a null buffer asks for the size needed.
    let needed = unsafe { libc::proc_listpids(kind, uid, std::ptr::null_mut(), 0) };
    if needed <= 0 {
        return Vec::new();
    }
    // Room for processes started since.
    let mut pids = vec![0i32; needed as usize / size_of::<i32>() + 64];
    let size = (pids.len() * size_of::<i32>()) as libc::c_int;
    // SAFETY: the buffer holds `size` bytes.
    let written = unsafe { libc::proc_listpids(kind, uid, pids.as_mut_ptr().cast(), size) };
    pids.truncate(written.max(0) as usize / size_of::<i32>());
    pids.retain(|&pid| pid > 0);
    pids
}

/// The sockets a process holds, in the order of its descriptors; `None` when the process
/// cannot be looked into (gone, or another user's).
fn sockets(pid: i32) -> Option<Vec<SocketInfo>> {
    let info = bsd_info(pid)?;
    let mut fds = vec![
        libc::proc_fdinfo {
            proc_fd: 0,
            proc_fdtype: 0
        };
        info.pbi_nfiles as usize + 16
    ];
    let size = (fds.len() * size_of::<libc::proc_fdinfo>()) as libc::c_int;
    // SAFETY: the buffer holds `size` bytes of proc_fdinfo records.
    let written =
        unsafe { libc::proc_pidinfo(pid, libc::PROC_PIDLISTFDS, 0, fds.as_mut_ptr().cast(), size) };
    fds.truncate(written.max(0) as usize / size_of::<libc::proc_fdinfo>());
    fds.sort_unstable_by_key(|fd| fd.proc_fd);
    let sockets = fds
        .iter()
        .filter(|fd| fd.proc_fdtype == libc::PROX_FDTYPE_SOCKET as u32)
        .filter_map(|fd| socket_info(pid, fd.proc_fd))
        .collect();
    Some(sockets)
}

/// The listening Unix sockets a process holds: (the kernel's handle of the socket, its bound
/// path).
fn listening_sockets(pid: i32) -> Vec<(u64, Option<PathBuf>)> {
    sockets(pid)
        .unwrap_or_default()
        .into_iter()
        .filter(|socket| {
            socket.soi_family == libc::AF_UNIX
                && socket.soi_kind == SOCKINFO_UN
                && socket.soi_options & SO_ACCEPTCONN != 0
        })
        .map(|socket| (socket.soi_so, bound_path(&socket.soi_proto.unsi_addr)))
        .collect()
}

fn socket_info(pid: i32, fd: i32) -> Option<SocketInfo> {
    let mut buffer = MaybeUninit::<SocketFdInfoBuffer>::zeroed();
    let size = size_of::<SocketFdInfoBuffer>() as libc::c_int;
    // SAFETY: the buffer holds `size` bytes, more than the kernel's socket_fdinfo.
    let written = unsafe {
        libc::proc_pidfdinfo(
            pid,
            fd,
            PROC_PIDFDSOCKETINFO,
            buffer.as_mut_ptr().cast(),
            size,
        )
    };
    if written < size_of::<SocketFdInfo>() as libc::c_int {
        return None;
    }
    // SAFETY: the kernel filled in a socket_fdinfo, whose start SocketFdInfo describes.
    Some(unsafe { buffer.assume_init().info.psi })
}

/// The path in a sockaddr_un (sun_len, sun_family, then the path up to a NUL).
fn bound_path(address: &[u8; 255]) -> Option<PathBuf> {
    let path = &address[2..];
    let end = path
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(path.len());
    (end > 0).then(|| PathBuf::from(OsStr::from_bytes(&path[..end])))
}

/// The listening sockets of every ssh of the user's: only an ssh can be a master, and looking
/// at no other process keeps this cheap.
pub fn listeners() -> io::Result<Vec<Listener>> {
    Ok(ssh_processes(Owner::Own)
        .flat_map(listening_sockets)
        .map(|(socket, bound_path)| Listener {
            socket,
            bound_path,
            file: None,
        })
        .collect())
}

fn ssh_processes(owner: Owner) -> impl Iterator<Item = i32> {
    pids(owner)
        .into_iter()
        .filter(|&pid| process(pid).is_some_and(|process| process.is_ssh()))
}

/// For each listening socket, the pids of `owner`'s ssh processes that hold it.
pub fn holders_of(sockets: &HashSet<u64>, owner: Owner) -> HashMap<u64, Vec<i32>> {
    let mut holders: HashMap<u64, Vec<i32>> = HashMap::new();
    if sockets.is_empty() {
        return holders;
    }
    for pid in ssh_processes(owner) {
        for (socket, _) in listening_sockets(pid) {
            if sockets.contains(&socket) {
                holders.entry(socket).or_default().push(pid);
            }
        }
    }
    holders
}

pub fn holds_socket(pid: i32, socket: u64) -> bool {
    listening_sockets(pid)
        .iter()
        .any(|(held, _)| *held == socket)
}

/// Each master's connection to its server: its first TCP socket (ssh connects to the server
/// before it opens anything else). libproc gives the peer, not the timing Linux has.
pub fn links(pids: &[i32]) -> HashMap<i32, Link> {
    pids.iter()
        .filter_map(|&pid| {
            let peer = sockets(pid)?.iter().find_map(tcp_peer);
            let link = peer.map_or(Link::ViaProxy, |peer| {
                Link::Tcp(TcpLink { peer, timing: None })
            });
            Some((pid, link))
        })
        .collect()
}

/// The peer of a TCP socket, from its in_sockinfo.
fn tcp_peer(socket: &SocketInfo) -> Option<SocketAddr> {
    if socket.soi_kind != SOCKINFO_TCP {
        return None;
    }
    // SAFETY: for SOCKINFO_TCP the kernel filled the protocol union with a tcp_sockinfo,
    // which starts with the in_sockinfo read here; the union is larger than it.
    let inet: InSockInfo = unsafe {
        std::ptr::addr_of!(socket.soi_proto)
            .cast::<InSockInfo>()
            .read_unaligned()
    };
    // The port is kept in network order in the low 16 bits of an int.
    let port = u16::from_be(inet.insi_fport as u16);
    let ip = if inet.insi_vflag & INI_IPV6 != 0 {
        let ip = Ipv6Addr::from(inet.insi_faddr);
        ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4)
    } else {
        let [a, b, c, d] = [
            inet.insi_faddr[12],
            inet.insi_faddr[13],
            inet.insi_faddr[14],
            inet.insi_faddr[15],
        ];
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    };
    (port != 0).then(|| SocketAddr::new(ip, port))
}

/// Nothing to do: macOS has no parent-death signal. An `ssh -G` left running when muxguard is
/// ended finishes by itself.
/// No way known here to follow what carries a master: nothing is found.
pub fn pipe_peers(_pid: i32) -> Vec<i32> {
    Vec::new()
}

pub fn unix_peer_holders(_pid: i32) -> Vec<i32> {
    Vec::new()
}

pub fn die_with_parent() -> io::Result<()> {
    Ok(())
}

/// rename() that fails with `AlreadyExists` rather than replace an entry at `to`
/// (renamex_np RENAME_EXCL; ENOTSUP where the filesystem does not offer it).
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let from = CString::new(from.as_os_str().as_bytes())?;
    let to = CString::new(to.as_os_str().as_bytes())?;
    // SAFETY: both are NUL-terminated strings that outlive the call.
    let result = unsafe { libc::renamex_np(from.as_ptr(), to.as_ptr(), libc::RENAME_EXCL) };
    if result == 0 {
        Ok(())
    } else {
        let error = io::Error::last_os_error();
        // Where the filesystem cannot, say so as Linux does (fsentry falls back on EINVAL).
        if error.raw_os_error() == Some(libc::ENOTSUP) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        Err(error)
    }
}
