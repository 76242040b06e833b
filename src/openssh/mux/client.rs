//! A blocking mux client in which every read and write is bounded by one deadline.

use std::fmt;
use std::fs::File;
use std::io::IoSlice;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::socket::{ControlMessage, UnixAddr, connect, sendmsg};

use super::wire::{
    BodyReader, MAX_BODY, MSG_ALIVE, MSG_ALIVE_CHECK, MSG_FAILURE, MSG_HELLO, MSG_NEW_STDIO_FWD,
    MSG_OK, MSG_PERMISSION_DENIED, MSG_SESSION_OPENED, MSG_STOP_LISTENING, MSG_TERMINATE,
    MessageBuilder, PROTOCOL_VERSION,
};
use crate::platform;
use crate::support::deadline::Deadline;

/// The master's reply when the server refused a channel open: an answer from the server.
const REFUSED_BY_SERVER: &str = "Session open refused by peer";

#[derive(Debug)]
pub enum MuxError {
    /// Nothing listens on the socket (ECONNREFUSED): the master is gone.
    Refused,
    /// No answer before the deadline.
    Timeout,
    /// The listener's accept queue is full: it has stopped accepting.
    QueueFull,
    /// The peer closed the connection before answering.
    Closed,
    /// The peer answered with something that is not the mux protocol.
    Protocol(String),
    /// The master answered a request with FAILURE or PERMISSION_DENIED.
    Denied(String),
    Io(io::Error),
}

impl fmt::Display for MuxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MuxError::Refused => f.write_str("connection refused"),
            MuxError::Timeout => f.write_str("no answer before the deadline"),
            MuxError::QueueFull => f.write_str("its accept queue is full"),
            MuxError::Closed => f.write_str("it closed the connection without a mux answer"),
            MuxError::Protocol(what) => write!(f, "{what}"),
            MuxError::Denied(reason) => write!(f, "request refused: {reason}"),
            MuxError::Io(error) => write!(f, "{error}"),
        }
    }
}

impl From<io::Error> for MuxError {
    fn from(error: io::Error) -> Self {
        MuxError::Io(error)
    }
}

pub struct MuxClient {
    stream: UnixStream,
    /// What the master sent that is not read yet: its replies are read a buffer at a time,
    /// so that the HELLO and the ALIVE pipelined after it usually take one system call.
    inbox: Vec<u8>,
    /// Where the unread part of `inbox` starts.
    unread: usize,
    deadline: Deadline,
    next_request_id: u32,
}

/// How much is asked of the socket at a time: more than all the replies muxguard waits for.
const READ_CHUNK: usize = 1024;

/// A connection on which the HELLO and an ALIVE_CHECK are sent, the master's answer not read
/// yet: what does not need the answer can be done while the master replies.
pub struct AliveAsked {
    client: MuxClient,
    request_id: u32,
}

impl AliveAsked {
    /// Reads the master's HELLO and its ALIVE: the connection, and the master's pid.
    pub fn answer(mut self) -> Result<(MuxClient, i32), MuxError> {
        self.client.read_hello()?;
        let pid = self.client.read_alive(self.request_id)?;
        Ok((self.client, pid))
    }
}

impl MuxClient {
    /// Connects and exchanges HELLO messages.
    pub fn connect(path: &Path, deadline: Deadline) -> Result<Self, MuxError> {
        let mut client = Self::send_hello(path, deadline, 1, &[])?;
        client.read_hello()?;
        Ok(client)
    }

    /// Connects and asks ALIVE_CHECK in the same write as the HELLO, a round trip less: the
    /// master reads one message each time the socket is readable, and what is left keeps it
    /// readable, so the request is served right after the HELLO.
    pub fn ask_alive(path: &Path, deadline: Deadline) -> Result<AliveAsked, MuxError> {
        const REQUEST_ID: u32 = 1;
        let alive_check = MessageBuilder::new(MSG_ALIVE_CHECK)
            .u32(REQUEST_ID)
            .finish();
        let client = Self::send_hello(path, deadline, REQUEST_ID + 1, &alive_check)?;
        Ok(AliveAsked {
            client,
            request_id: REQUEST_ID,
        })
    }

    /// `ask_alive`, and its answer: the connection, and the master's pid.
    pub fn connect_alive(path: &Path, deadline: Deadline) -> Result<(Self, i32), MuxError> {
        Self::ask_alive(path, deadline)?.answer()
    }

    /// Connects, and sends HELLO followed by `pipelined`.
    fn send_hello(
        path: &Path,
        deadline: Deadline,
        next_request_id: u32,
        pipelined: &[u8],
    ) -> Result<Self, MuxError> {
        let stream = connect_nonblocking(path)?;
        let mut client = MuxClient {
            stream,
            inbox: Vec::new(),
            unread: 0,
            deadline,
            next_request_id,
        };
        let mut greeting = MessageBuilder::new(MSG_HELLO)
            .u32(PROTOCOL_VERSION)
            .finish();
        greeting.extend_from_slice(pipelined);
        client.send(&greeting)?;
        Ok(client)
    }

    /// Reads the master's HELLO, and checks that it speaks our version of the protocol.
    fn read_hello(&mut self) -> Result<(), MuxError> {
        let hello = self.receive()?;
        let mut reader = BodyReader::new(&hello);
        let (msg_type, version) = match (reader.u32(), reader.u32()) {
            (Ok(msg_type), Ok(version)) => (msg_type, version),
            _ => return Err(MuxError::Protocol("its greeting is truncated".into())),
        };
        if msg_type != MSG_HELLO {
            return Err(MuxError::Protocol(format!(
                "it greeted with message type {msg_type:#x}, not HELLO"
            )));
        }
        if version != PROTOCOL_VERSION {
            return Err(MuxError::Protocol(format!(
                "it speaks mux protocol version {version}, not {PROTOCOL_VERSION}"
            )));
        }
        Ok(())
    }

    /// ALIVE_CHECK: answered by the master itself, so it proves the process serves the socket
    /// but nothing about the network. Returns the master's pid.
    pub fn alive_check(&mut self) -> Result<i32, MuxError> {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        self.send(
            &MessageBuilder::new(MSG_ALIVE_CHECK)
                .u32(request_id)
                .finish(),
        )?;
        self.read_alive(request_id)
    }

    fn read_alive(&mut self, request_id: u32) -> Result<i32, MuxError> {
        let reply = self.read_reply(request_id, MSG_ALIVE)?;
        let pid = BodyReader::new(&reply)
            .u32()
            .map_err(|_| MuxError::Protocol("its ALIVE reply is truncated".into()))?;
        Ok(pid as i32)
    }

    /// TERMINATE: the master exits with its sessions. Losing the reply counts as success,
    /// since the master may exit before we read it.
    pub fn terminate(&mut self) -> Result<(), MuxError> {
        match self.request(MSG_TERMINATE, MSG_OK) {
            Ok(_) | Err(MuxError::Closed) => Ok(()),
            Err(MuxError::Io(error)) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            Err(MuxError::Io(error)) if error.kind() == io::ErrorKind::ConnectionReset => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// STOP_LISTENING: the master unlinks its socket and exits when its last session ends.
    pub fn stop_listening(&mut self) -> Result<(), MuxError> {
        self.request(MSG_STOP_LISTENING, MSG_OK).map(drop)
    }

    /// Proves that the server can be reached through the master. The master is asked to open a
    /// stdio forwarding to port 0 of the server's own loopback: it answers only once the server
    /// has answered the channel open, and the server can only refuse it (nothing listens on
    /// port 0). No command runs, no session starts, no packet leaves the server. The server logs
    /// the refusal: `connect_to 127.0.0.1 port 0: failed.` (ERROR), and a master whose LogLevel
    /// is INFO prints `channel N: open failed: connect failed: Connection refused` on its stderr.
    ///
    /// `Err(Timeout)` means no answer came from the server before the deadline. The master
    /// survives a probe abandoned at the deadline: it keeps the request until the server answers.
    pub fn probe_server(&mut self, deadline: Deadline) -> Result<(), MuxError> {
        self.deadline = deadline;
        let null = File::options().read(true).write(true).open("/dev/null")?;
        let result = self.request_with_fds(
            MSG_NEW_STDIO_FWD,
            MSG_SESSION_OPENED,
            |message| message.string(b"").string(b"127.0.0.1").u32(0),
            // The master waits for both descriptors with no timeout, frozen for every client:
            // they go right after the request.
            &[null.as_raw_fd(), null.as_raw_fd()],
        );
        match result {
            Ok(_) => Ok(()),
            Err(MuxError::Denied(reason)) if reason == REFUSED_BY_SERVER => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Sends a request that carries only its id; see `request_with_fds`.
    fn request(&mut self, msg_type: u32, reply_type: u32) -> Result<Vec<u8>, MuxError> {
        self.request_with_fds(msg_type, reply_type, |message| message, &[])
    }

    /// Sends a request (its id, then what `fields` adds), then each fd in a message of its own,
    /// checks that the reply has the expected type and echoes the id, and returns the reply's
    /// fields after the id.
    fn request_with_fds(
        &mut self,
        msg_type: u32,
        reply_type: u32,
        fields: impl FnOnce(MessageBuilder) -> MessageBuilder,
        fds: &[RawFd],
    ) -> Result<Vec<u8>, MuxError> {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        self.send(&fields(MessageBuilder::new(msg_type).u32(request_id)).finish())?;
        for &fd in fds {
            self.send_fd(fd)?;
        }
        self.read_reply(request_id, reply_type)
    }

    /// Reads the reply to `request_id`, checks that it has the expected type, and returns its
    /// fields after the id.
    fn read_reply(&mut self, request_id: u32, reply_type: u32) -> Result<Vec<u8>, MuxError> {
        let mut body = self.receive()?;
        let mut reader = BodyReader::new(&body);
        let truncated = |_| MuxError::Protocol("its reply is truncated".into());
        let got_type = reader.u32().map_err(truncated)?;
        let got_id = reader.u32().map_err(truncated)?;
        if got_type == MSG_FAILURE || got_type == MSG_PERMISSION_DENIED {
            let reason = reader.string().unwrap_or(b"(no reason given)");
            return Err(MuxError::Denied(
                String::from_utf8_lossy(reason).into_owned(),
            ));
        }
        if got_type != reply_type {
            return Err(MuxError::Protocol(format!(
                "it replied with message type {got_type:#x}, expected {reply_type:#x}"
            )));
        }
        if got_id != request_id {
            return Err(MuxError::Protocol(format!(
                "it answered request {got_id}, expected {request_id}"
            )));
        }
        body.drain(..8);
        Ok(body)
    }

    fn send(&mut self, message: &[u8]) -> Result<(), MuxError> {
        let mut sent = 0;
        while sent < message.len() {
            match self.stream.write(&message[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(PollFlags::POLLOUT)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Passes a file descriptor: one data byte carrying it, as the master reads them.
    fn send_fd(&mut self, fd: RawFd) -> Result<(), MuxError> {
        let fds = [fd];
        loop {
            let sent = sendmsg::<()>(
                self.stream.as_raw_fd(),
                &[IoSlice::new(&[0])],
                &[ControlMessage::ScmRights(&fds)],
                platform::NO_SIGPIPE,
                None,
            );
            match sent {
                Ok(_) => return Ok(()),
                Err(Errno::EAGAIN) => self.wait(PollFlags::POLLOUT)?,
                Err(Errno::EINTR) => {}
                Err(errno) => return Err(MuxError::Io(errno.into())),
            }
        }
    }

    /// Reads one framed message and returns its body.
    fn receive(&mut self) -> Result<Vec<u8>, MuxError> {
        let mut length = [0u8; 4];
        self.read_exact(&mut length)?;
        let length = u32::from_be_bytes(length) as usize;
        if length > MAX_BODY {
            return Err(MuxError::Protocol(format!(
                "it announced a {length}-byte message, over the protocol's {MAX_BODY}"
            )));
        }
        let mut body = vec![0u8; length];
        self.read_exact(&mut body)?;
        Ok(body)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), MuxError> {
        let mut filled = 0;
        while filled < buf.len() {
            if self.unread == self.inbox.len() {
                self.fill_inbox()?;
            }
            let take = (buf.len() - filled).min(self.inbox.len() - self.unread);
            buf[filled..filled + take]
                .copy_from_slice(&self.inbox[self.unread..self.unread + take]);
            filled += take;
            self.unread += take;
        }
        Ok(())
    }

    /// Replaces the emptied inbox with what the master has sent so far, waiting for it until
    /// the deadline.
    fn fill_inbox(&mut self) -> Result<(), MuxError> {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(MuxError::Closed),
                Ok(n) => {
                    self.inbox.clear();
                    self.inbox.extend_from_slice(&chunk[..n]);
                    self.unread = 0;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(PollFlags::POLLIN)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Err(MuxError::Closed);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn wait(&self, events: PollFlags) -> Result<(), MuxError> {
        if self.deadline.wait_for(&self.stream, events)? {
            Ok(())
        } else {
            Err(MuxError::Timeout)
        }
    }
}

/// Connects without ever blocking: a Unix socket connect blocks when the listener's accept
/// queue is full, which is exactly what a wedged master looks like.
fn connect_nonblocking(path: &Path) -> Result<UnixStream, MuxError> {
    let address = UnixAddr::new(path).map_err(|e| MuxError::Io(e.into()))?;
    let fd: OwnedFd = platform::stream_socket()?;
    match connect(fd.as_raw_fd(), &address) {
        Ok(()) => Ok(UnixStream::from(fd)),
        Err(Errno::ECONNREFUSED) => Err(MuxError::Refused),
        Err(Errno::EAGAIN) => Err(MuxError::QueueFull),
        Err(errno) => Err(MuxError::Io(errno.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::time::{Duration, Instant};

    use proptest::prelude::*;

    /// Runs `client` against a listener that answers the connection with `reply` (after reading
    /// what the client sent first), then keeps it open until the client is done with it.
    fn against<T>(reply: Vec<u8>, client: impl FnOnce(&Path) -> T) -> T {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            let mut request = [0u8; 24];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(&reply);
            stream
                .set_read_timeout(Some(Duration::from_secs(1)))
                .unwrap();
            let _ = stream.read_to_end(&mut Vec::new());
        });
        // What `client` returns holds no connection: its closing lets the listener go.
        let result = client(&path);
        server.join().unwrap();
        result
    }

    /// Whatever a listener says, the client must not panic, must not wait past its deadline,
    /// and must not take it for a master unless it is one.
    fn answer_with(reply: Vec<u8>) -> Result<(bool, Duration), MuxError> {
        against(reply, |path| {
            let started = Instant::now();
            let answer = MuxClient::connect_alive(path, Deadline::after(Duration::from_millis(50)));
            let elapsed = started.elapsed();
            match answer {
                Ok(_) => Ok((true, elapsed)),
                Err(MuxError::Timeout) => Ok((false, elapsed)),
                Err(error) => Err(error),
            }
        })
    }

    fn hello() -> Vec<u8> {
        MessageBuilder::new(MSG_HELLO)
            .u32(PROTOCOL_VERSION)
            .finish()
    }

    fn alive_pid(reply: Vec<u8>) -> Result<i32, MuxError> {
        against(reply, |path| {
            MuxClient::connect_alive(path, Deadline::after(Duration::from_secs(2)))
                .map(|(_, pid)| pid)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any bytes at all: an error or an answer, within the deadline.
        #[test]
        fn any_reply_is_survived(reply in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok((_, elapsed)) = answer_with(reply) {
                prop_assert!(elapsed < Duration::from_millis(100), "{elapsed:?}");
            }
        }

        /// Well-framed messages of any type and content: the same.
        #[test]
        fn any_framed_reply_is_survived(
            first in any::<u32>(),
            second in proptest::collection::vec(any::<u8>(), 0..40),
            announced in prop_oneof![Just(None), any::<u32>().prop_map(Some)],
        ) {
            let mut reply = MessageBuilder::new(MSG_HELLO).u32(first).finish();
            let mut body = second.clone();
            let length = announced.unwrap_or(body.len() as u32);
            reply.extend_from_slice(&length.to_be_bytes());
            reply.append(&mut body);
            if let Ok((_, elapsed)) = answer_with(reply) {
                prop_assert!(elapsed < Duration::from_millis(100), "{elapsed:?}");
            }
        }
    }

    #[test]
    fn a_true_answer_is_an_answer() {
        let mut reply = hello();
        reply.extend(MessageBuilder::new(MSG_ALIVE).u32(1).u32(4242).finish());
        assert!(matches!(answer_with(reply), Ok((true, _))));
    }

    /// The replies are read a buffer at a time: one that comes a byte at a time, and one longer
    /// than a buffer, are each read whole, and nothing of the next is lost.
    #[test]
    fn replies_in_pieces_or_over_a_buffer_are_read_whole() {
        let long_hello = MessageBuilder::new(MSG_HELLO)
            .u32(PROTOCOL_VERSION)
            .string(b"padding@example.org")
            .string(&[b'x'; 3 * READ_CHUNK])
            .finish();
        for (reply_hello, pieces) in [(hello(), 1), (long_hello, 700)] {
            let mut reply = reply_hello;
            reply.extend(MessageBuilder::new(MSG_ALIVE).u32(1).u32(4242).finish());
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("sock");
            let listener = UnixListener::bind(&path).unwrap();
            let server = std::thread::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                for piece in reply.chunks(pieces) {
                    stream.write_all(piece).unwrap();
                    std::thread::sleep(Duration::from_micros(200));
                }
                let _ = stream.read_to_end(&mut Vec::new());
            });
            let answer = MuxClient::connect_alive(&path, Deadline::after(Duration::from_secs(5)));
            assert_eq!(answer.map(|(_, pid)| pid).unwrap(), 4242);
            server.join().unwrap();
        }
    }

    /// A HELLO may carry extensions, name and value pairs (OpenSSH 10.3's masters announce
    /// `info`): a master's, whatever they are.
    #[test]
    fn a_hello_with_extensions_is_a_masters() {
        let mut reply = MessageBuilder::new(MSG_HELLO)
            .u32(PROTOCOL_VERSION)
            .string(b"info")
            .string(b"0")
            .string(b"unheard-of@example.org")
            .string(&[0xff; 300])
            .finish();
        reply.extend(MessageBuilder::new(MSG_ALIVE).u32(1).u32(4242).finish());
        assert_eq!(alive_pid(reply).unwrap(), 4242);
    }

    /// A reply of a type the client does not know is not taken for the answer it waits for.
    #[test]
    fn an_unknown_reply_is_no_answer() {
        let mut reply = hello();
        let unknown = MessageBuilder::new(0x9000_00ff).u32(1).u32(4242).finish();
        reply.extend(unknown);
        match alive_pid(reply) {
            Err(MuxError::Protocol(what)) => assert!(what.contains("0x900000ff"), "{what}"),
            other => panic!("{other:?}"),
        }
    }

    /// A master answers a request it does not know, or will not do, with FAILURE, and serves
    /// the connection on: the client reports the refusal and goes on too.
    #[test]
    fn a_failure_is_a_refusal_and_the_connection_goes_on() {
        let mut reply = hello();
        let failure = MessageBuilder::new(MSG_FAILURE)
            .u32(1)
            .string(b"unsupported request")
            .finish();
        reply.extend(failure);
        reply.extend(MessageBuilder::new(MSG_ALIVE).u32(2).u32(4242).finish());
        let (refused, answered) = against(reply, |path| {
            let mut client =
                MuxClient::connect(path, Deadline::after(Duration::from_secs(2))).unwrap();
            (client.alive_check(), client.alive_check())
        });
        match refused {
            Err(MuxError::Denied(reason)) => assert_eq!(reason, "unsupported request"),
            other => panic!("{other:?}"),
        }
        assert_eq!(answered.unwrap(), 4242);
    }
}
