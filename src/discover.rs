//! Where control sockets are: the directories of the ControlPath templates in the ssh config,
//! directories named with `--dir`, Ansible's, and the paths earlier `check` runs resolved.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::listeners::master_path_of;
use crate::sshconfig;
use crate::state::StateFile;
use crate::template::{LocalIdentity, Template};

/// A path that may be a control socket, with what is known of its destination.
#[derive(Debug, Default, Clone)]
pub struct Candidate {
    pub destination: Option<String>,
    pub alias: Option<String>,
    /// Report it only if it is a socket: it was found by a pattern that ordinary files match
    /// too, or in a directory that holds nothing else of interest.
    pub sockets_only: bool,
}

/// Where control sockets were looked for, and what was found.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Every candidate, by path.
    pub candidates: BTreeMap<PathBuf, Candidate>,
    /// Every directory searched.
    pub dirs: Vec<PathBuf>,
}

impl Discovery {
    /// Whether `path` lies where this discovery looked: in a searched directory, or known.
    pub fn covers(&self, path: &Path) -> bool {
        self.candidates.contains_key(path)
            || path
                .parent()
                .is_some_and(|parent| self.dirs.iter().any(|dir| dir == parent))
    }
}

/// Looks in every place there is.
pub fn discover(config: Option<&Path>, extra_dirs: &[PathBuf]) -> Result<Discovery> {
    let local = LocalIdentity::current();
    let templates: Vec<Template> = sshconfig::control_path_templates(config, &local)?
        .iter()
        .filter_map(|template| Template::parse(template, &local))
        .collect();
    let mut found = BTreeMap::new();

    let mut template_dirs: Vec<&Path> = templates.iter().map(|t| t.dir.as_path()).collect();
    template_dirs.sort();
    template_dirs.dedup();
    let mut searched: Vec<PathBuf> = template_dirs.iter().map(|dir| dir.to_path_buf()).collect();
    for dir in template_dirs {
        let in_dir: Vec<&Template> = templates.iter().filter(|t| t.dir == dir).collect();
        for (path, name, _) in entries(dir) {
            // A template is text: a name that is not cannot be one of its sockets.
            let Some(name) = name.to_str() else { continue };
            // A master binds `<ControlPath>.<16 characters>` first: judge such a name by its stem.
            let stem = master_path_of(&path)
                .and_then(|stem| stem.file_name())
                .and_then(|stem| stem.to_str().map(str::to_string));
            let judged = stem.as_deref().unwrap_or(name);
            if let Some((template, parts)) = in_dir
                .iter()
                .find_map(|template| template.matches(judged).map(|parts| (template, parts)))
            {
                found.insert(
                    path,
                    Candidate {
                        destination: parts.destination,
                        alias: parts.alias,
                        sockets_only: !template.is_specific(),
                    },
                );
            }
        }
    }

    let ansible = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".ansible/cp"));
    for dir in extra_dirs.iter().chain(ansible.as_ref()) {
        searched.push(dir.clone());
        for (path, _, is_socket) in entries(dir) {
            if is_socket {
                found.entry(path).or_insert(Candidate {
                    sockets_only: true,
                    ..Candidate::default()
                });
            }
        }
    }

    for (path, seen) in StateFile::load().sockets {
        let candidate = found.entry(path).or_default();
        candidate.destination = candidate.destination.take().or(seen.destination);
        candidate.alias = candidate.alias.take().or(seen.alias);
    }
    Ok(Discovery {
        candidates: found,
        dirs: searched,
    })
}

/// The entries of a directory: path, name, and whether it is a socket (from the directory
/// listing, without a stat per entry). A missing or unreadable directory has none.
fn entries(dir: &Path) -> impl Iterator<Item = (PathBuf, OsString, bool)> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| {
            let is_socket = entry
                .file_type()
                .is_ok_and(|kind| std::os::unix::fs::FileTypeExt::is_socket(&kind));
            (entry.path(), entry.file_name(), is_socket)
        })
}
