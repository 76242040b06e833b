//! Names the commit muxguard is built from, for `--version`: the clone's HEAD where the sources
//! are a git clone, or MUXGUARD_COMMIT (a release build from an exported tree); nothing
//! elsewhere (a crate from crates.io).

use std::path::Path;
use std::process::Command;

fn main() {
    // Again when HEAD moves, or the branch it names does.
    for watched in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if Path::new(watched).exists() {
            println!("cargo:rerun-if-changed={watched}");
        }
    }
    println!("cargo:rerun-if-env-changed=MUXGUARD_COMMIT");
    // Only this clone's own history: a crate unpacked under a home that is itself a git
    // repository must not take that one's commit.
    let commit = std::env::var("MUXGUARD_COMMIT").ok().or_else(|| {
        if !Path::new(".git").exists() {
            return None;
        }
        let output = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()?;
        let commit = String::from_utf8(output.stdout).ok()?;
        (output.status.success() && !commit.trim().is_empty()).then(|| commit.trim().to_string())
    });
    let version = env!("CARGO_PKG_VERSION");
    let long = match commit {
        Some(commit) => format!("{version} (commit {commit})"),
        None => version.to_string(),
    };
    println!("cargo:rustc-env=MUXGUARD_VERSION={long}");
}
