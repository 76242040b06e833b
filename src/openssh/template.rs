//! ControlPath templates (`~/.ssh/cm-%r@%h:%p`) turned into a directory to scan and a pattern
//! that recognises the socket names ssh makes there, reading the destination back from them.

use std::path::PathBuf;

use crate::openssh::local_user::LocalUser;

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
    /// Returns `None` for templates that cannot be scanned: `none`, an unset `${VAR}`,
    /// per-destination tokens in the directory part, or one longer than any path.
    pub fn parse(template: &str, local: &LocalUser) -> Option<Template> {
        // Matching costs the template's length times the name's: a ControlPath line of
        // megabytes would cost seconds a name, for a socket path that cannot exist.
        if template.eq_ignore_ascii_case("none") || template.len() > libc::PATH_MAX as usize {
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
        let captures = match_pieces(&self.name, name)?;
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
fn expand(template: &str, local: &LocalUser) -> Option<Vec<Piece>> {
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

/// The fewest and most bytes a token can take.
fn token_width(token: char) -> (usize, usize) {
    match token {
        'C' => (40, 40),
        'p' => (1, 5),
        'h' | 'n' | 'r' | 'k' => (1, usize::MAX),
        _ => (0, usize::MAX),
    }
}

/// Whether a byte can stand in a token: `%C` is lowercase hex, `%p` digits, others anything.
fn token_takes(token: char, byte: u8) -> bool {
    match token {
        'C' => byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte),
        'p' => byte.is_ascii_digit(),
        _ => true,
    }
}

/// Matches `text` against the pieces, returning each token's value in order. Of the ways to
/// match, it takes the one where the first token is shortest, then the second, and so on.
///
/// `rest_matches[i][at]` says whether `pieces[i..]` match `text[at..]`. It is filled from the
/// last piece back, and then each token's value is read forwards without ever backtracking.
/// Time and memory are O(pieces x text length): a token of unbounded width only asks whether
/// any later position works, which a running "any from here on" answers at once.
fn match_pieces<'a>(pieces: &[Piece], text: &'a str) -> Option<Vec<(char, &'a str)>> {
    let len = text.len();
    // A quick no for a name too short, before a long template costs its table.
    let shortest: usize = pieces
        .iter()
        .map(|piece| match piece {
            Piece::Literal(literal) => literal.len(),
            Piece::Token(token) => token_width(*token).0,
        })
        .sum();
    if shortest > len {
        return None;
    }
    let bytes = text.as_bytes();
    // How many bytes from each position on a token of this shape could take.
    let run_of = |token: char| {
        let mut run = vec![0; len + 1];
        for at in (0..len).rev() {
            if token_takes(token, bytes[at]) {
                run[at] = run[at + 1] + 1;
            }
        }
        run
    };
    let (hex_run, digit_run) = (run_of('C'), run_of('p'));
    let widest = |token: char, at: usize| {
        let fitting = match token {
            'C' => hex_run[at],
            'p' => digit_run[at],
            _ => len - at,
        };
        token_width(token).1.min(fitting)
    };

    // Each row is true only at character boundaries (the last at `len`, the others at starts
    // that are boundaries), so a value that ends where the next row is true is whole text.
    let mut rest_matches = vec![vec![false; len + 1]; pieces.len() + 1];
    rest_matches[pieces.len()][len] = true;
    for (i, piece) in pieces.iter().enumerate().rev() {
        let (done, todo) = rest_matches.split_at_mut(i + 1);
        let (here, after) = (&mut done[i], &todo[0]);
        let starts = (0..=len).filter(|&at| text.is_char_boundary(at));
        match piece {
            Piece::Literal(literal) => {
                for at in starts {
                    here[at] =
                        bytes[at..].starts_with(literal.as_bytes()) && after[at + literal.len()];
                }
            }
            Piece::Token(token) => {
                let (min, max) = token_width(*token);
                if max == usize::MAX {
                    let mut any_from = vec![false; len + 2];
                    for at in (0..=len).rev() {
                        any_from[at] = after[at] || any_from[at + 1];
                    }
                    for at in starts {
                        here[at] = any_from[(at + min).min(len + 1)];
                    }
                } else {
                    for at in starts {
                        here[at] = (min..=widest(*token, at)).any(|width| after[at + width]);
                    }
                }
            }
        }
    }
    if !rest_matches[0][0] {
        return None;
    }

    let mut captures = Vec::new();
    let mut at = 0;
    for (piece, after) in pieces.iter().zip(&rest_matches[1..]) {
        at = match piece {
            Piece::Literal(literal) => at + literal.len(),
            Piece::Token(token) => {
                let (min, _) = token_width(*token);
                let end = (at + min..=at + widest(*token, at))
                    .find(|&end| after[end])
                    .expect("the rows say a match goes on from here");
                captures.push((*token, &text[at..end]));
                end
            }
        };
    }
    Some(captures)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    fn local() -> LocalUser {
        LocalUser {
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
        let endless = format!("/tmp/s/{}", "%j".repeat(1_000_000));
        assert!(Template::parse(&endless, &local()).is_none());
        let lax = Template::parse("/tmp/s/%h", &local()).unwrap();
        assert!(!lax.is_specific());
    }

    #[test]
    fn twenty_adjacent_tokens_against_long_names_take_no_time() {
        let template = Template::parse(&format!("/s/{}Z", "%h".repeat(20)), &local()).unwrap();
        let near_miss = "a".repeat(250);
        let hit = format!("{}Z", "h".repeat(249));
        for name in [&near_miss, &hit] {
            // The best of a few runs: a busy machine may stall any single one.
            let fastest = (0..5)
                .map(|_| {
                    let started = Instant::now();
                    template.matches(name);
                    started.elapsed()
                })
                .min()
                .unwrap();
            assert!(fastest < Duration::from_millis(10), "{fastest:?}");
        }
        assert!(template.matches(&near_miss).is_none());
        let parts = Template::parse(&format!("/s/{}-%r@%h:%p", "%n".repeat(20)), &local())
            .unwrap()
            .matches(&format!("{}-bob@db:22", "x".repeat(200)))
            .unwrap();
        assert_eq!(
            parts.alias.as_deref(),
            Some("x"),
            "the first token is shortest"
        );
        assert_eq!(parts.destination.as_deref(), Some("bob@db:22"));
    }

    /// The matcher `match_pieces` replaced, kept as the reference for its behaviour: simple,
    /// but exponential in the number of adjacent tokens.
    fn backtracking<'a>(
        pieces: &[Piece],
        text: &'a str,
        captures: &mut Vec<(char, &'a str)>,
    ) -> bool {
        let Some((first, rest)) = pieces.split_first() else {
            return text.is_empty();
        };
        match first {
            Piece::Literal(literal) => text
                .strip_prefix(literal.as_str())
                .is_some_and(|after| backtracking(rest, after, captures)),
            Piece::Token(token) => {
                let (min, max) = token_width(*token);
                for len in min..=max.min(text.len()) {
                    if !text.is_char_boundary(len) {
                        continue;
                    }
                    let (value, after) = text.split_at(len);
                    if !value.bytes().all(|byte| token_takes(*token, byte)) {
                        if matches!(token, 'C' | 'p') {
                            return false;
                        }
                        continue;
                    }
                    captures.push((*token, value));
                    if backtracking(rest, after, captures) {
                        return true;
                    }
                    captures.pop();
                }
                false
            }
        }
    }

    /// Text of the characters that matter to the matcher: hex, digits, separators, and one
    /// that is two bytes long.
    fn name_text(repeat: &str) -> BoxedStrategy<String> {
        proptest::string::string_regex(&format!("[a-c0-9@:.é-]{repeat}"))
            .unwrap()
            .boxed()
    }

    fn piece() -> impl Strategy<Value = Piece> {
        prop_oneof![
            proptest::sample::select(vec!['C', 'p', 'h', 'n', 'r', 'k', 'T'])
                .prop_map(Piece::Token),
            name_text("{1,3}").prop_map(Piece::Literal),
        ]
    }

    /// A name pattern, and a name that is mostly made to match it, or else random.
    fn pattern_and_name() -> impl Strategy<Value = (Vec<Piece>, String)> {
        vec(piece(), 0..7).prop_flat_map(|pieces| {
            let fills: Vec<BoxedStrategy<String>> = pieces
                .iter()
                .map(|piece| match piece {
                    Piece::Literal(text) => Just(text.clone()).boxed(),
                    Piece::Token('C') => "[0-9a-f]{40}".boxed(),
                    Piece::Token('p') => "[0-9]{1,5}".boxed(),
                    Piece::Token(_) => name_text("{0,4}"),
                })
                .collect();
            let made_to_match = fills.prop_map(|parts| parts.concat());
            (
                Just(pieces),
                prop_oneof![3 => made_to_match, 1 => name_text("{0,12}")],
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn matches_as_backtracking_did((pieces, name) in pattern_and_name()) {
            let mut captures = Vec::new();
            let expected = backtracking(&pieces, &name, &mut captures).then_some(captures);
            prop_assert_eq!(match_pieces(&pieces, &name), expected);
        }

        #[test]
        fn any_pattern_against_any_name_is_quick(
            pieces in vec(piece(), 0..40),
            name in ".{0,255}",
        ) {
            let started = Instant::now();
            let _ = match_pieces(&pieces, &name);
            prop_assert!(started.elapsed() < Duration::from_millis(250));
        }
    }
}
