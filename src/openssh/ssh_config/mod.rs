//! Reading ssh config files the way ssh does, far enough to collect every ControlPath template
//! (Include directives with globs are followed).

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::openssh::local_user::LocalUser;

mod reader;

/// Everything read from the ssh config files: each directive, and every file and directory
/// consulted, so that an answer derived from them can tell when it no longer holds.
#[derive(Debug, Default)]
pub struct ConfigScan {
    pub directives: Vec<Directive>,
    /// Files read (or looked for) and directories an Include glob listed.
    pub inputs: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// Lowercased, as ssh compares keywords.
    pub keyword: String,
    pub arguments: Vec<String>,
}

impl ConfigScan {
    /// Every ControlPath value, in order, each once.
    pub fn control_path_templates(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.directives
            .iter()
            .filter(|directive| directive.keyword == "controlpath")
            .filter_map(|directive| directive.arguments.first())
            .filter(|template| seen.insert(template.as_str()))
            .cloned()
            .collect()
    }
}

pub fn control_path_templates(config: Option<&Path>, local: &LocalUser) -> Result<Vec<String>> {
    Ok(ConfigScan::read(config, local)?.control_path_templates())
}

/// Splits `Keyword args`, `Keyword=args` or `Keyword = "quoted arg"` into the keyword and its
/// arguments; `None` for blank lines and comments.
fn split_directive(line: &str) -> Option<(&str, Vec<String>)> {
    let line = line.trim_start();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let (keyword, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest);
    Some((keyword, split_arguments(rest)))
}

fn split_arguments(text: &str) -> Vec<String> {
    let mut arguments = Vec::new();
    let mut chars = text.trim().chars().peekable();
    while chars.peek().is_some() {
        let mut argument = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            argument.extend(chars.by_ref().take_while(|&c| c != '"'));
        } else {
            argument.extend(chars.by_ref().take_while(|c| !c.is_whitespace()));
        }
        if argument.starts_with('#') {
            break; // a trailing comment
        }
        arguments.push(argument);
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
    }
    arguments
}

/// `*` and `?` as ssh matches them. Only the last `*` is ever retried, so the time is at most
/// the pattern's length times the text's, never exponential.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            backtrack = Some((p, t));
            p += 1;
        } else if let Some((star, matched)) = backtrack {
            p = star + 1;
            t = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn directives() {
        assert_eq!(
            split_directive("  ControlPath=~/.ssh/cm-%C"),
            Some(("ControlPath", vec!["~/.ssh/cm-%C".to_string()]))
        );
        assert_eq!(
            split_directive("controlpath \"/tmp/with space/%C\" # note"),
            Some(("controlpath", vec!["/tmp/with space/%C".to_string()]))
        );
        assert_eq!(
            split_directive("Include a.conf   b/*.conf"),
            Some((
                "Include",
                vec!["a.conf".to_string(), "b/*.conf".to_string()]
            ))
        );
        assert_eq!(split_directive("   # comment"), None);
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.conf", "work.conf"));
        assert!(wildcard_match("w?rk*", "work.conf"));
        assert!(!wildcard_match("*.conf", "work.conf.bak"));
        assert!(wildcard_match("*", ""));
    }

    #[test]
    fn wildcards_take_quadratic_time_at_worst() {
        let pattern = format!("{}*b", "*a".repeat(100));
        let text = "a".repeat(10_000);
        let started = Instant::now();
        assert!(!wildcard_match(&pattern, &text));
        assert!(
            started.elapsed() < Duration::from_millis(250),
            "{:?}",
            started.elapsed()
        );
    }

    /// What `*` and `?` mean, said as plainly as possible: exponential, so for small inputs.
    fn wildcard_definition(pattern: &[char], text: &[char]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some(('*', rest)) => {
                (0..=text.len()).any(|skip| wildcard_definition(rest, &text[skip..]))
            }
            Some((&wanted, rest)) => text.split_first().is_some_and(|(&found, text)| {
                (wanted == '?' || wanted == found) && wildcard_definition(rest, text)
            }),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn wildcards_match_as_defined(pattern in "[ab*?é]{0,8}", text in "[abé]{0,10}") {
            let chars = |text: &str| text.chars().collect::<Vec<char>>();
            prop_assert_eq!(
                wildcard_match(&pattern, &text),
                wildcard_definition(&chars(&pattern), &chars(&text))
            );
        }

        #[test]
        fn any_wildcard_is_quick(pattern in "[a*?]{0,100}", text in "a{0,1000}") {
            let started = Instant::now();
            wildcard_match(&pattern, &text);
            prop_assert!(started.elapsed() < Duration::from_millis(250));
        }

        #[test]
        fn any_line_splits_at_once(line in "\\PC{0,300}") {
            let started = Instant::now();
            split_directive(&line);
            split_arguments(&line);
            prop_assert!(started.elapsed() < Duration::from_millis(250));
        }

    }
}
