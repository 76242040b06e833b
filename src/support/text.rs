//! Text from outside (file names, process names, what a listener said, ssh's answers) as it
//! may reach a terminal: every line muxguard shows a person goes through here.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

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
}
