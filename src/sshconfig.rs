//! Reading ssh config files the way ssh does, far enough to collect every ControlPath template
//! (Include directives with globs are followed).

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::template::LocalIdentity;

/// ssh's own limit on Include nesting.
const MAX_INCLUDE_DEPTH: usize = 16;

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
    /// Reads the given config file, or the user's and the system's config when `config` is
    /// `None` (as ssh does), following every Include whatever block it is in.
    pub fn read(config: Option<&Path>, local: &LocalIdentity) -> Result<ConfigScan> {
        let user_dir = local.home.join(".ssh");
        let mut scan = ConfigScan::default();
        match config {
            Some(file) => {
                let text = fs::read_to_string(file).map_err(|e| {
                    Error::Usage(format!("cannot read ssh config {}: {e}", file.display()))
                })?;
                scan.inputs.push(file.to_path_buf());
                scan.collect(&text, &user_dir, local, 0);
            }
            None => {
                for (file, include_base) in [
                    (user_dir.join("config"), user_dir.clone()),
                    (
                        PathBuf::from("/etc/ssh/ssh_config"),
                        PathBuf::from("/etc/ssh"),
                    ),
                ] {
                    scan.read_file(&file, &include_base, local, 0);
                }
            }
        }
        Ok(scan)
    }

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

    fn read_file(&mut self, file: &Path, include_base: &Path, local: &LocalIdentity, depth: usize) {
        self.inputs.push(file.to_path_buf());
        if let Ok(text) = fs::read_to_string(file) {
            self.collect(&text, include_base, local, depth);
        }
    }

    fn collect(&mut self, text: &str, include_base: &Path, local: &LocalIdentity, depth: usize) {
        for line in text.lines() {
            let Some((keyword, arguments)) = split_directive(line) else {
                continue;
            };
            let keyword = keyword.to_ascii_lowercase();
            if keyword == "include" && depth < MAX_INCLUDE_DEPTH {
                for pattern in &arguments {
                    let pattern = include_path(pattern, include_base, local);
                    for file in glob(&pattern, &mut self.inputs) {
                        self.read_file(&file, include_base, local, depth + 1);
                    }
                }
            }
            self.directives.push(Directive { keyword, arguments });
        }
    }
}

/// Every ControlPath template in the given config, or in the user's and the system's.
pub fn control_path_templates(config: Option<&Path>, local: &LocalIdentity) -> Result<Vec<String>> {
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

/// Include paths: `~` is the home directory and relative paths are relative to `~/.ssh` for
/// the user's config and `/etc/ssh` for the system's.
fn include_path(pattern: &str, base: &Path, local: &LocalIdentity) -> PathBuf {
    if let Some(rest) = pattern.strip_prefix("~/") {
        local.home.join(rest)
    } else if pattern.starts_with('/') {
        PathBuf::from(pattern)
    } else {
        base.join(pattern)
    }
}

/// Expands `*` and `?` in any path component, sorted like glob(3). Records in `consulted` each
/// directory it lists and each literal path it finds missing.
fn glob(pattern: &Path, consulted: &mut Vec<PathBuf>) -> Vec<PathBuf> {
    let mut matches = vec![PathBuf::from("/")];
    for component in pattern.components().skip(1) {
        let part = component.as_os_str().to_string_lossy();
        let wild = part.contains(['*', '?']);
        let mut next = Vec::new();
        for base in &matches {
            if !wild {
                let candidate = base.join(&*part);
                if candidate.symlink_metadata().is_ok() {
                    next.push(candidate);
                } else {
                    consulted.push(candidate);
                }
                continue;
            }
            consulted.push(base.clone());
            let Ok(entries) = fs::read_dir(base) else {
                continue;
            };
            let mut found: Vec<PathBuf> = entries
                .flatten()
                .filter(|entry| {
                    let name = entry.file_name();
                    let name = name.to_string_lossy();
                    // As in glob(3), a wildcard does not match a leading dot.
                    (part.starts_with('.') || !name.starts_with('.'))
                        && wildcard_match(&part, &name)
                })
                .map(|entry| entry.path())
                .collect();
            found.sort();
            next.extend(found);
        }
        matches = next;
    }
    matches
}

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
    use super::*;

    fn local(home: &Path) -> LocalIdentity {
        LocalIdentity {
            home: home.to_path_buf(),
            user: "ann".into(),
            uid: 1000,
            hostname: "laptop".into(),
        }
    }

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
    fn follows_includes_with_globs_relative_to_dot_ssh() {
        let home = tempfile::tempdir().unwrap();
        let ssh_dir = home.path().join(".ssh");
        fs::create_dir_all(ssh_dir.join("config.d")).unwrap();
        let main = ssh_dir.join("main.conf");
        fs::write(
            &main,
            "Host *\n  ControlPath ~/.ssh/cm-%C\nInclude config.d/*.conf\nInclude missing.conf\n",
        )
        .unwrap();
        fs::write(
            ssh_dir.join("config.d/b.conf"),
            "ControlPath /tmp/b-%r@%h:%p\n",
        )
        .unwrap();
        fs::write(
            ssh_dir.join("config.d/a.conf"),
            "Host a\n ControlPath=/tmp/a-%C\n",
        )
        .unwrap();
        fs::write(
            ssh_dir.join("config.d/.hidden.conf"),
            "ControlPath /tmp/hidden\n",
        )
        .unwrap();
        let templates = control_path_templates(Some(&main), &local(home.path())).unwrap();
        assert_eq!(templates, ["~/.ssh/cm-%C", "/tmp/a-%C", "/tmp/b-%r@%h:%p"]);
    }

    #[test]
    fn include_loops_stop() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("loop.conf");
        fs::write(
            &file,
            format!("ControlPath /tmp/x-%C\nInclude {}\n", file.display()),
        )
        .unwrap();
        let templates = control_path_templates(Some(&file), &local(dir.path())).unwrap();
        assert_eq!(templates, ["/tmp/x-%C"]);
    }

    #[test]
    fn a_missing_config_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let error = control_path_templates(Some(&dir.path().join("nope")), &local(dir.path()));
        assert!(matches!(error, Err(Error::Usage(message)) if message.contains("nope")));
    }
}
