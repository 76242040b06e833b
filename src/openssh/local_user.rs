//! The local user and machine, as ssh substitutes them into a ControlPath (`%u`, `%d`, `%i`,
//! `%l`) and into the paths of its config.

use std::path::PathBuf;

/// The local facts that ssh substitutes into a ControlPath.
#[derive(Debug, Clone)]
pub struct LocalUser {
    /// The home directory from the password database: ssh uses it, not `$HOME`.
    pub home: PathBuf,
    pub user: String,
    pub uid: u32,
    pub hostname: String,
}

impl LocalUser {
    pub fn current() -> LocalUser {
        let uid = nix::unistd::Uid::effective();
        let user = nix::unistd::User::from_uid(uid).ok().flatten();
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|name| name.into_string().ok())
            .unwrap_or_default();
        LocalUser {
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
