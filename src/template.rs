//! ControlPath templates (`~/.ssh/cm-%r@%h:%p`) turned into a directory to scan and a pattern
//! that recognises the socket names ssh makes there, reading the destination back from them.

use std::path::PathBuf;

/// The local facts that ssh substitutes into a ControlPath.
#[derive(Debug, Clone)]
pub struct LocalIdentity {
    /// The home directory from the password database: ssh uses it, not `$HOME`.
    pub home: PathBuf,
    pub user: String,
    pub uid: u32,
    pub hostname: String,
}

impl LocalIdentity {
    pub fn current() -> LocalIdentity {
        let uid = nix::unistd::Uid::effective();
        let user = nix::unistd::User::from_uid(uid).ok().flatten();
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|name| name.into_string().ok())
            .unwrap_or_default();
        LocalIdentity {
            home: user
                .as_ref()
                .map(|user| user.dir.clone())
                .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from("/")),
            user: user.map(|user| user.name).unwrap_or_default(),
            uid: uid.as_raw(),
            hostname,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    /// A token that varies per destination: `%h`, `%p`, `%r`, `%n`, `%C`, ...
    Token(char),
}

/// A ControlPath template resolved for this user: a fixed directory and a name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub dir: PathBuf,
    name: Vec<Piece>,
}

/// What a socket name tells about its destination.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct NameParts {
    /// `user@host:port`, when the name holds all three.
    pub destination: Option<String>,
    /// The name the user typed (`%n`).
    pub alias: Option<String>,
}

impl Template {
    /// Returns `None` for templates that cannot be scanned: `none`, an unset `${VAR}`, or
    /// per-destination tokens in the directory part.
    pub fn parse(template: &str, local: &LocalIdentity) -> Option<Template> {
        if template.eq_ignore_ascii_case("none") {
            return None;
        }
        let pieces = expand(template, local)?;
        // Split at the last '/', which must lie in literal text.
        let split = pieces.iter().rposition(|piece| match piece {
            Piece::Literal(text) => text.contains('/'),
            Piece::Token(_) => false,
        })?;
        let mut dir = String::new();
        for piece in &pieces[..split] {
            match piece {
                Piece::Literal(text) => dir.push_str(text),
                Piece::Token(_) => return None,
            }
        }
        let Piece::Literal(text) = &pieces[split] else {
            unreachable!("split is at a literal")
        };
        let slash = text.rfind('/')?;
        dir.push_str(&text[..slash]);
        if dir.is_empty() {
            dir.push('/'); // a socket directly under the root directory
        }
        let mut name = Vec::new();
        if slash + 1 < text.len() {
            name.push(Piece::Literal(text[slash + 1..].to_string()));
        }
        name.extend_from_slice(&pieces[split + 1..]);
        if name.is_empty() || !dir.starts_with('/') {
            return None;
        }
        Some(Template {
            dir: PathBuf::from(dir),
            name,
        })
    }

    /// Matches a file name, returning what it tells about the destination.
    pub fn matches(&self, name: &str) -> Option<NameParts> {
        let mut captures = Vec::new();
        if !match_pieces(&self.name, name, &mut captures) {
            return None;
        }
        let find = |token: char| {
            captures
                .iter()
                .find(|(t, _)| *t == token)
                .map(|(_, value)| value.to_string())
        };
        let destination = match (find('r'), find('h'), find('p')) {
            (Some(user), Some(host), Some(port)) => Some(format!("{user}@{host}:{port}")),
            _ => None,
        };
        Some(NameParts {
            destination,
            alias: find('n'),
        })
    }

    /// True when the pattern cannot match ordinary files: it has literal text or a token of a
    /// fixed shape. Only then is a non-socket file with a matching name worth reporting.
    pub fn is_specific(&self) -> bool {
        self.name.iter().any(|piece| match piece {
            Piece::Literal(_) => true,
            Piece::Token(token) => matches!(token, 'C' | 'p'),
        })
    }
}

/// Substitutes what is fixed for this user and keeps per-destination tokens.
fn expand(template: &str, local: &LocalIdentity) -> Option<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    if let Some(after) = rest.strip_prefix('~') {
        let end = after.find('/').unwrap_or(after.len());
        let (user, tail) = after.split_at(end);
        if user.is_empty() {
            literal.push_str(&local.home.to_string_lossy());
        } else {
            let other = nix::unistd::User::from_name(user).ok().flatten()?;
            literal.push_str(&other.dir.to_string_lossy());
        }
        rest = tail;
    }
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => match chars.next()? {
                '%' => literal.push('%'),
                'd' => literal.push_str(&local.home.to_string_lossy()),
                'u' => literal.push_str(&local.user),
                'i' => literal.push_str(&local.uid.to_string()),
                'l' => literal.push_str(&local.hostname),
                'L' => literal.push_str(local.hostname.split('.').next().unwrap_or_default()),
                token => {
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Token(token));
                }
            },
            '$' if chars.as_str().starts_with('{') => {
                let after = &chars.as_str()[1..];
                let end = after.find('}')?;
                literal.push_str(&std::env::var(&after[..end]).ok()?);
                chars = after[end + 1..].chars();
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Some(pieces)
}

fn match_pieces<'a>(pieces: &[Piece], text: &'a str, captures: &mut Vec<(char, &'a str)>) -> bool {
    let Some((first, rest)) = pieces.split_first() else {
        return text.is_empty();
    };
    match first {
        Piece::Literal(literal) => text
            .strip_prefix(literal.as_str())
            .is_some_and(|after| match_pieces(rest, after, captures)),
        Piece::Token(token) => {
            let (min, max) = match token {
                'C' => (40, 40),
                'p' => (1, 5),
                'h' | 'n' | 'r' | 'k' => (1, text.len()),
                _ => (0, text.len()),
            };
            for len in min..=max.min(text.len()) {
                if !text.is_char_boundary(len) {
                    continue;
                }
                let (value, after) = text.split_at(len);
                let fits = match token {
                    'C' => value
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                    'p' => value.bytes().all(|b| b.is_ascii_digit()),
                    _ => true,
                };
                if !fits {
                    // Fixed-shape tokens cannot grow into a fit.
                    if matches!(token, 'C' | 'p') {
                        return false;
                    }
                    continue;
                }
                captures.push((*token, value));
                if match_pieces(rest, after, captures) {
                    return true;
                }
                captures.pop();
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> LocalIdentity {
        LocalIdentity {
            home: PathBuf::from("/home/ann"),
            user: "ann".into(),
            uid: 1000,
            hostname: "laptop.example.org".into(),
        }
    }

    #[test]
    fn splits_directory_and_reads_destination_back() {
        let template = Template::parse("~/.ssh/cm-%r@%h:%p", &local()).unwrap();
        assert_eq!(template.dir, PathBuf::from("/home/ann/.ssh"));
        let parts = template.matches("cm-bob@db.example.org:2222").unwrap();
        assert_eq!(
            parts.destination.as_deref(),
            Some("bob@db.example.org:2222")
        );
        assert_eq!(parts.alias, None);
        assert!(template.matches("cm-bob@db:22.AbCdEfGhIjKlMnOp").is_none());
        assert!(template.matches("config").is_none());
        assert!(template.is_specific());
    }

    #[test]
    fn hashed_names() {
        let template = Template::parse("%d/.ssh/sockets/%C", &local()).unwrap();
        assert_eq!(template.dir, PathBuf::from("/home/ann/.ssh/sockets"));
        let hash = "c71cf162136333fe2a24579212551ee0c62e36f5";
        assert_eq!(template.matches(hash), Some(NameParts::default()));
        assert!(template.matches(&hash[1..]).is_none());
        assert!(template.matches("known_hosts").is_none());
        assert!(template.is_specific());
    }

    #[test]
    fn local_tokens_and_environment() {
        // SAFETY: this test is the only one that reads MUXGUARD_TEST_SOCKDIR.
        unsafe { std::env::set_var("MUXGUARD_TEST_SOCKDIR", "/run/user/1000") };
        let template = Template::parse("${MUXGUARD_TEST_SOCKDIR}/ssh-%u-%L-%n", &local()).unwrap();
        assert_eq!(template.dir, PathBuf::from("/run/user/1000"));
        let parts = template.matches("ssh-ann-laptop-web").unwrap();
        assert_eq!(parts.alias.as_deref(), Some("web"));
        assert!(Template::parse("${MUXGUARD_TEST_UNSET_VARIABLE}/x-%h", &local()).is_none());
    }

    #[test]
    fn unscannable_templates() {
        assert!(Template::parse("none", &local()).is_none());
        assert!(Template::parse("/tmp/%h/%p", &local()).is_none());
        assert!(Template::parse("relative-%h", &local()).is_none());
        let lax = Template::parse("/tmp/s/%h", &local()).unwrap();
        assert!(!lax.is_specific());
    }
}
