//! Where control sockets are: the directories of the ControlPath templates in the ssh config,
//! directories named with `--dir`, Ansible's, and the paths remembered (those earlier `check`
//! runs resolved, and masters' sockets seen in the kernel's table: the engine reads them from
//! the state and hands them in).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::openssh::local_user::LocalUser;
use crate::openssh::ssh_config;
use crate::openssh::template::Template;
use crate::socket::listeners::master_path_of;
use crate::socket::report::{Found, SocketReport};
use crate::support::text::Name;

/// A path that may be a control socket, with what is known of its destination.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub destination: Option<Name>,
    pub alias: Option<Name>,
    pub found: Found,
    /// Report it only if it is a socket: it was found by a pattern that ordinary files match
    /// too, or in a directory that holds nothing else of interest.
    pub sockets_only: bool,
}

impl Candidate {
    /// A path found `how`, of a destination not known yet.
    pub fn new(how: Found) -> Candidate {
        Candidate {
            destination: None,
            alias: None,
            found: how,
            sockets_only: false,
        }
    }

    /// `report` with what discovery knows of the socket: its destination and where it was
    /// found.
    pub fn describe(&self, report: SocketReport) -> SocketReport {
        SocketReport {
            found: Some(self.found),
            ..report.named(self.destination.clone(), self.alias.clone())
        }
    }
}

/// Every candidate, by path.
pub type Candidates = BTreeMap<PathBuf, Candidate>;

/// Looks in every place there is, and adds the `remembered` paths (a name remembered fills in
/// one the place did not give).
pub fn discover(
    config: Option<&Path>,
    extra_dirs: &[PathBuf],
    remembered: impl IntoIterator<Item = (PathBuf, Candidate)>,
) -> Result<Candidates> {
    let local = LocalUser::current();
    let templates: Vec<Template> = ssh_config::control_path_templates(config, &local)?
        .iter()
        .filter_map(|template| Template::parse(template, &local))
        .collect();
    let mut found = BTreeMap::new();

    let mut template_dirs: Vec<&Path> = templates.iter().map(|t| t.dir.as_path()).collect();
    template_dirs.sort();
    template_dirs.dedup();
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
                        destination: parts.destination.map(Name::from),
                        alias: parts.alias.map(Name::from),
                        found: Found::Config,
                        sockets_only: !template.is_specific(),
                    },
                );
            }
        }
    }

    let ansible = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".ansible/cp"));
    let dirs = extra_dirs.iter().map(|dir| (dir, Found::Dir));
    for (dir, how) in dirs.chain(ansible.as_ref().map(|dir| (dir, Found::Ansible))) {
        for (path, _, is_socket) in entries(dir) {
            if is_socket {
                found.entry(path).or_insert(Candidate {
                    sockets_only: true,
                    ..Candidate::new(how)
                });
            }
        }
    }

    for (path, remembered) in remembered {
        let candidate = found
            .entry(path)
            .or_insert(Candidate::new(remembered.found));
        candidate.destination = candidate.destination.take().or(remembered.destination);
        candidate.alias = candidate.alias.take().or(remembered.alias);
    }
    Ok(found)
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
