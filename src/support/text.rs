//! Text from outside (file names, process names, what a listener said, ssh's answers) as it
//! may reach a terminal: every line muxguard shows a person goes through here.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Text as it may reach a terminal: control characters escaped, so that none of them can move the cursor, change
/// colours or retitle the window.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(escaped, "{}", c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// Bytes that may not be text (a path, an ssh argument): what is text is `escape`d, and every
/// other byte is shown as `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return escape(text);
    }
    let mut shown = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        shown.push_str(&escape(chunk.valid()));
        for byte in chunk.invalid() {
            let _ = write!(shown, "\\x{byte:02x}");
        }
    }
    Cow::Owned(shown)
}

/// A path as text output shows it (JSON shows paths as they are: it escapes by itself).
pub fn path(path: &Path) -> Cow<'_, str> {
    escape_bytes(path.as_os_str().as_bytes())
}

/// A name from outside that ssh takes as bytes (a Host alias, `user@host:port`, as `ssh -G`
/// prints them): shown in text with its bytes that are not UTF-8 as `\xNN` (`shown`), and in
/// JSON and the state file with U+FFFD in their place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Name(Vec<u8>);

impl Name {
    /// As text output shows it, escaped for a terminal.
    pub fn shown(&self) -> Cow<'_, str> {
        escape_bytes(&self.0)
    }

    /// As JSON shows it.
    pub fn lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether it is UTF-8, and so kept as it is in the state file.
    pub fn is_text(&self) -> bool {
        std::str::from_utf8(&self.0).is_ok()
    }
}

impl From<&[u8]> for Name {
    fn from(bytes: &[u8]) -> Name {
        Name(bytes.to_vec())
    }
}

impl From<String> for Name {
    fn from(text: String) -> Name {
        Name(text.into_bytes())
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Name {
        Name(text.as_bytes().to_vec())
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.lossy())
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Name, D::Error> {
        String::deserialize(deserializer).map(Name::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_would_obey() {
        assert_eq!(escape("plain/path-%C"), "plain/path-%C");
        assert_eq!(escape("a\x1b[2Jb\n"), "a\\u{1b}[2Jb\\n");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape_bytes(b"ok\xff\x07"), "ok\\xff\\u{7}");
        assert_eq!(path(Path::new("/tmp/é")), "/tmp/é");
    }

    /// A name that is not UTF-8 keeps its bytes: `\xff` in text, U+FFFD in JSON.
    #[test]
    fn names_keep_their_bytes() {
        let name = Name::from(&b"db\xff\x1b"[..]);
        assert_eq!(name.shown(), "db\\xff\\u{1b}");
        assert_eq!(
            serde_json::to_string(&name).unwrap(),
            "\"db\u{fffd}\\u001b\""
        );
        let read: Name = serde_json::from_str("\"web\"").unwrap();
        assert_eq!(read, Name::from("web"));
    }
}
