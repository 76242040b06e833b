//! Framing and message encoding of the OpenSSH mux protocol (PROTOCOL.mux, mux.c).
//!
//! Every message is a big-endian u32 length followed by a body that starts with a u32 type.

pub const PROTOCOL_VERSION: u32 = 4;
/// The master closes connections that send larger bodies; we refuse to read larger ones.
pub const MAX_BODY: usize = 256 * 1024;

pub const MSG_HELLO: u32 = 0x0000_0001;
pub const MSG_ALIVE_CHECK: u32 = 0x1000_0004;
pub const MSG_TERMINATE: u32 = 0x1000_0005;
pub const MSG_NEW_STDIO_FWD: u32 = 0x1000_0008;
pub const MSG_STOP_LISTENING: u32 = 0x1000_0009;

pub const MSG_OK: u32 = 0x8000_0001;
pub const MSG_PERMISSION_DENIED: u32 = 0x8000_0002;
pub const MSG_FAILURE: u32 = 0x8000_0003;
pub const MSG_ALIVE: u32 = 0x8000_0005;
pub const MSG_SESSION_OPENED: u32 = 0x8000_0006;

/// Builds one framed message.
pub struct MessageBuilder {
    bytes: Vec<u8>,
}

impl MessageBuilder {
    pub fn new(msg_type: u32) -> Self {
        let mut bytes = Vec::with_capacity(32);
        bytes.extend_from_slice(&[0; 4]); // length, filled in by finish()
        bytes.extend_from_slice(&msg_type.to_be_bytes());
        MessageBuilder { bytes }
    }

    pub fn u32(mut self, value: u32) -> Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub fn string(mut self, value: &[u8]) -> Self {
        self = self.u32(value.len() as u32);
        self.bytes.extend_from_slice(value);
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        let body_len = (self.bytes.len() - 4) as u32;
        self.bytes[..4].copy_from_slice(&body_len.to_be_bytes());
        self.bytes
    }
}

/// Reads fields from a message body.
pub struct BodyReader<'a> {
    rest: &'a [u8],
}

/// A body shorter than its fields claim.
#[derive(Debug, PartialEq, Eq)]
pub struct Truncated;

impl<'a> BodyReader<'a> {
    pub fn new(body: &'a [u8]) -> Self {
        BodyReader { rest: body }
    }

    pub fn u32(&mut self) -> Result<u32, Truncated> {
        let (head, rest) = self.rest.split_first_chunk::<4>().ok_or(Truncated)?;
        self.rest = rest;
        Ok(u32::from_be_bytes(*head))
    }

    pub fn string(&mut self) -> Result<&'a [u8], Truncated> {
        let len = self.u32()? as usize;
        if len > self.rest.len() {
            return Err(Truncated);
        }
        let (text, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_framed_messages() {
        let hello = MessageBuilder::new(MSG_HELLO)
            .u32(PROTOCOL_VERSION)
            .finish();
        assert_eq!(hello, [0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 4]);
    }

    #[test]
    fn builds_strings() {
        let message = MessageBuilder::new(MSG_NEW_STDIO_FWD)
            .u32(7)
            .string(b"")
            .string(b"h")
            .finish();
        let expected = [
            0, 0, 0, 17, 0x10, 0, 0, 8, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1, b'h',
        ];
        assert_eq!(message, expected);
    }

    #[test]
    fn reads_fields_and_rejects_truncation() {
        let body = [0, 0, 0, 7, 0, 0, 0, 2, b'h', b'i', 0, 0, 0, 9, b'x'];
        let mut reader = BodyReader::new(&body);
        assert_eq!(reader.u32(), Ok(7));
        assert_eq!(reader.string(), Ok(&b"hi"[..]));
        assert_eq!(reader.string(), Err(Truncated));
    }

    proptest::proptest! {
        /// Whatever a body holds, reading fields from it never panics, never reads past its
        /// end, and a string never claims more bytes than are left.
        #[test]
        fn any_body_reads_without_panic(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            fields in proptest::collection::vec(proptest::prelude::any::<bool>(), 0..16),
        ) {
            let mut reader = BodyReader::new(&body);
            let mut consumed = 0usize;
            for is_string in fields {
                let read = if is_string {
                    reader.string().map(|text| 4 + text.len())
                } else {
                    reader.u32().map(|_| 4)
                };
                match read {
                    Ok(length) => consumed += length,
                    Err(Truncated) => break,
                }
                proptest::prop_assert!(consumed <= body.len());
            }
        }

        /// What the builder writes, the reader reads back.
        #[test]
        fn built_messages_read_back(
            msg_type in proptest::prelude::any::<u32>(),
            number in proptest::prelude::any::<u32>(),
            text in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            let message = MessageBuilder::new(msg_type).u32(number).string(&text).finish();
            let length = u32::from_be_bytes(message[..4].try_into().unwrap()) as usize;
            proptest::prop_assert_eq!(length, message.len() - 4);
            let mut reader = BodyReader::new(&message[4..]);
            proptest::prop_assert_eq!(reader.u32(), Ok(msg_type));
            proptest::prop_assert_eq!(reader.u32(), Ok(number));
            proptest::prop_assert_eq!(reader.string(), Ok(&text[..]));
        }
    }
}
