//! The README and docs/ as a new user follows them: the install lines and each shell's set-up
//! block, taken from the page that has them and run unchanged in a temporary home (and prefix),
//! each followed by a new interactive shell that must have the integration loaded; and the
//! prompt examples, against real stale sockets.
//!
//! oh-my-zsh, zinit, antidote and fisher cannot be fetched here, so each is a small stand-in
//! that does with the plugin what the real one does: which file it sources, which files it
//! copies where, which event it emits.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use tempfile::TempDir;

use crate::common::{copy_executable, without_installed_muxguard};

const README: &str = include_str!("../../README.md");

/// The pages a user reads, by their path in the clone: the README, then docs/*.md.
fn pages() -> &'static [(String, String)] {
    static PAGES: OnceLock<Vec<(String, String)>> = OnceLock::new();
    PAGES.get_or_init(|| {
        let mut pages = vec![("README.md".to_owned(), README.to_owned())];
        let mut docs: Vec<PathBuf> = fs::read_dir(repo().join("docs"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
            .collect();
        docs.sort();
        for path in docs {
            let name = format!("docs/{}", path.file_name().unwrap().to_string_lossy());
            pages.push((name, fs::read_to_string(&path).unwrap()));
        }
        pages
    })
}

/// What follows `<!-- readme-test: NAME -->` in the page that has it. A block may be shown in
/// more than one page (the README's lines again in docs/install.md and docs/shells.md): it must
/// be the same block in each.
fn after_marker(name: &str) -> &'static str {
    let marker = format!("<!-- readme-test: {name} -->");
    let mut found: Vec<(&str, &'static str)> = Vec::new();
    for (page, text) in pages() {
        for (at, _) in text.match_indices(&marker) {
            found.push((page, &text[at + marker.len()..]));
        }
    }
    let (_, first) = *found
        .first()
        .unwrap_or_else(|| panic!("neither README.md nor docs/ has {marker}"));
    for (page, after) in &found[1..] {
        assert_eq!(
            fenced(after, &marker),
            fenced(first, &marker),
            "{page} shows another {marker} block than {}",
            found[0].0
        );
    }
    first
}

/// The fenced block that begins `text`: its info string and its lines.
fn fenced<'a>(text: &'a str, marker: &str) -> (&'a str, String) {
    let mut lines = text.lines().skip_while(|line| line.trim().is_empty());
    let fence = lines.next().unwrap_or_default();
    let info = fence
        .strip_prefix("```")
        .unwrap_or_else(|| panic!("{marker} is not followed by a code block"));
    let body: Vec<&str> = lines.take_while(|line| !line.starts_with("```")).collect();
    (info, body.join("\n") + "\n")
}

/// The fenced block after `<!-- readme-test: NAME -->`: its info string and its lines.
pub fn block(name: &str) -> (&'static str, String) {
    fenced(after_marker(name), &format!("<!-- readme-test: {name} -->"))
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A user with an empty home, the way a fresh machine has one.
struct NewUser {
    dir: TempDir,
}

impl NewUser {
    fn new() -> NewUser {
        let user = NewUser {
            dir: tempfile::Builder::new()
                .prefix("muxguard-readme-")
                .tempdir()
                .unwrap(),
        };
        fs::create_dir(user.home()).unwrap();
        fs::create_dir(user.bin()).unwrap();
        user
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// First on PATH: where an installed muxguard is.
    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// muxguard installed on PATH, as the install line leaves it.
    fn with_muxguard(self) -> NewUser {
        let installed = self.bin().join("muxguard");
        copy_executable(Path::new(env!("CARGO_BIN_EXE_muxguard")), &installed);
        self
    }

    /// `program`, run from the clone with nothing of the caller's environment but the home,
    /// a plain PATH and, for cargo, the toolchain.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(repo())
            .env_clear()
            .env("HOME", self.home())
            .env(
                "PATH",
                // Where the README's install lines put muxguard, but no muxguard installed
                // before the tests ran.
                format!(
                    "{}:{}",
                    self.bin().display(),
                    without_installed_muxguard(
                        ["/usr/local/bin", "/usr/bin", "/bin"].map(Path::new)
                    )
                    .to_str()
                    .unwrap()
                ),
            )
            .env("TERM", "dumb")
            .env("LANG", "C.UTF-8")
            // Only this user's masters: the other tests' run as the same user (see isolate).
            .env("MUXGUARD_TEST_SCOPE", self.dir.path());
        command
    }

    fn run(&self, mut command: Command, what: &str) -> Output {
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Runs a documented block in the shell its fence names (sh blocks in bash, as a user's
    /// terminal would), after `prelude`.
    fn run_block(&self, name: &str, prelude: &str) -> Output {
        let (info, body) = block(name);
        let shell = match info {
            "sh" => "bash",
            "fish" => "fish",
            other => panic!("block {name}: cannot run a {other:?} block"),
        };
        let mut command = self.command(shell);
        command.arg("-c").arg(format!("{prelude}\n{body}"));
        self.run(command, &format!("the documented block {name}"))
    }

    /// What a new interactive `shell` says about ssh and the prompt hook.
    fn new_shell_says(&self, shell: &str) -> String {
        let probe = match shell {
            "bash" => {
                "type -t ssh; [[ \"${PROMPT_COMMAND[*]}\" == *__muxguard_hook* ]] && echo hook-installed"
            }
            "zsh" => {
                "whence -w ssh; (( ${precmd_functions[(Ie)__muxguard_hook]} )) && echo hook-installed"
            }
            "fish" => {
                "type -t ssh; functions --handlers | string match -qr '^fish_prompt\\s+__muxguard_hook$'; and echo hook-installed"
            }
            _ => unreachable!(),
        };
        let mut command = self.command(shell);
        command.args(["-i", "-c", probe]);
        let output = self.run(command, &format!("a new interactive {shell}"));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn assert_integration_loaded(&self, shell: &str, setup: &str) {
        let said = self.new_shell_says(shell);
        assert!(
            said.contains("function") && said.contains("hook-installed"),
            "{setup}: a new {shell} has no muxguard ssh function or hook:\n{said}"
        );
    }

    fn write(&self, relative: &str, text: &str) {
        let path = self.home().join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
}

fn skip_without(tool: &str) -> bool {
    let missing = which::which(tool).is_err();
    if missing {
        eprintln!("skipped: {tool} is not installed");
    }
    missing
}

/// A directory with cargo, rustc and rustup of the caller's in it, and nothing else: where
/// cargo lives is also where `cargo install` puts an installed muxguard.
fn toolchain_bin() -> &'static Path {
    static DIR: std::sync::OnceLock<TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("muxguard-toolchain-")
            .tempdir()
            .unwrap();
        for tool in ["cargo", "rustc", "rustup"] {
            if let Ok(found) = which::which(tool) {
                std::os::unix::fs::symlink(found, dir.path().join(tool)).unwrap();
            }
        }
        dir
    })
    .path()
}

/// cargo and its toolchain for a command in the new home: they stay the caller's.
fn with_toolchain(command: &mut Command, path_before: &[&Path]) {
    let mut path: Vec<&Path> = path_before.to_vec();
    path.push(toolchain_bin());
    let system = without_installed_muxguard(["/usr/bin", "/bin"].map(Path::new));
    let path = std::env::join_paths(path).unwrap();
    command.env(
        "PATH",
        format!("{}:{}", path.to_str().unwrap(), system.to_str().unwrap()),
    );
    let caller_home = PathBuf::from(std::env::var_os("HOME").expect("HOME is set"));
    for (var, default) in [("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")] {
        let value = std::env::var_os(var).map_or_else(|| caller_home.join(default), PathBuf::from);
        command.env(var, value);
    }
    if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
        command.env("RUSTUP_TOOLCHAIN", toolchain);
    }
}

#[test]
fn the_install_lines_install_and_run_muxguard() {
    let user = NewUser::new();
    let root = user.dir.path().join("cargo-root");
    // The install line as written; only where cargo puts the binary (CARGO_INSTALL_ROOT) and
    // where it builds (the clone's own target/, so nothing is built twice) are set around it.
    let (_, install) = block("install");
    let mut command = user.command("bash");
    command
        .args(["-c", &install])
        .env("CARGO_INSTALL_ROOT", &root)
        .env("CARGO_TARGET_DIR", repo().join("target"));
    with_toolchain(&mut command, &[&root.join("bin")]);
    let output = user.run(command, "the README's install line");
    assert!(root.join("bin/muxguard").is_file());
    // `muxguard status` ran: the table, or that there is nothing (the sockets it finds depend
    // on the account's ssh config, which a new $HOME does not change).
    let status = String::from_utf8_lossy(&output.stdout);
    let first = status.lines().next().unwrap_or_default();
    assert!(
        first == "No control sockets found." || first.starts_with("STATE "),
        "muxguard status printed:\n{status}"
    );

    // make install into ~/.local, then make uninstall with the same PREFIX.
    let (_, make_install) = block("make-install");
    let mut command = user.command("bash");
    command.args(["-c", &make_install]);
    with_toolchain(&mut command, &[]);
    user.run(command, "the make install line of docs/install.md");
    let local = user.home().join(".local");
    let installed = installed_layout();
    for file in &installed {
        assert!(
            local.join(file).exists(),
            "make install did not install {file}"
        );
    }
    assert_eq!(
        fs::read_link(local.join("bin/muxguard-ssh")).unwrap(),
        Path::new("muxguard")
    );
    let help = Command::new(local.join("bin/muxguard-ssh"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("Usage: muxguard ssh"),
        "muxguard-ssh is muxguard under another name"
    );
    // man finds the pages through PATH (~/.local/bin gives ~/.local/share/man).
    if !skip_without("man") {
        let mut man = user.command("man");
        man.env(
            "PATH",
            format!("{}:/usr/bin:/bin", local.join("bin").display()),
        )
        .args(["-w", "muxguard-check"]);
        let output = user.run(man, "man -w muxguard-check");
        assert_eq!(
            Path::new(String::from_utf8_lossy(&output.stdout).trim()),
            local.join("share/man/man1/muxguard-check.1")
        );
    }
    // The installed zsh plugin, with no muxguard on PATH, loads the script beside it.
    if !skip_without("zsh") {
        let mut zsh = user.command("zsh");
        zsh.env("PATH", "/usr/bin:/bin").args([
            "-f",
            "-c",
            &format!(
                "source {}; whence -w ssh",
                local.join("share/muxguard/muxguard.plugin.zsh").display()
            ),
        ]);
        let output = user.run(zsh, "the installed zsh plugin");
        assert!(String::from_utf8_lossy(&output.stdout).contains("ssh: function"));
    }

    let mut command = user.command("bash");
    command.args([
        "-c",
        &make_install.replace("make install", "make uninstall"),
    ]);
    with_toolchain(&mut command, &[]);
    user.run(command, "make uninstall");
    for file in &installed {
        assert!(!local.join(file).exists(), "make uninstall left {file}");
    }
}

/// On a fresh machine two commands of the README do all set-up, in the order a newcomer reads
/// them: the install line, which installs and runs muxguard (run by the test above), then
/// `make test`, the command `.ci/run` runs. tests/test-dist runs the README's archive line.
#[test]
fn the_readme_sets_up_with_the_install_line_then_make_test() {
    let install = README
        .find("<!-- readme-test: install -->")
        .expect("the README itself has the install line");
    let (_, line) = block("install");
    assert!(
        line.trim().ends_with("&& muxguard status"),
        "the install line runs muxguard: {line}"
    );
    let test = README
        .find("```sh\nmake test\n```")
        .expect("the README has `make test` as a block of its own");
    assert!(
        install < test,
        "the README's install line comes before make test"
    );
    assert!(
        README.contains("<!-- readme-test: archive -->"),
        "the README has the archive line tests/test-dist runs"
    );
    let ci = fs::read_to_string(repo().join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|line| line.starts_with("make test ")),
        ".ci/run runs the README's make test"
    );
}

/// Every file `make install` puts under PREFIX, as docs/install.md lists them: the binary and
/// its link, each man page of man/, the three completions, the shell scripts and the docs.
fn installed_layout() -> Vec<String> {
    let mut files: Vec<String> = [
        "bin/muxguard",
        "bin/muxguard-ssh",
        "share/bash-completion/completions/muxguard",
        "share/zsh/site-functions/_muxguard",
        "share/fish/vendor_completions.d/muxguard.fish",
        "share/muxguard/muxguard.bash",
        "share/muxguard/muxguard.zsh",
        "share/muxguard/muxguard.fish",
        "share/muxguard/muxguard.plugin.zsh",
        "share/muxguard/conf.d/muxguard.fish",
        "share/muxguard/launchd/io.github.muxguard.watch.plist",
        "share/systemd/user/muxguard-watch.service",
        "share/doc/muxguard/README.md",
        "share/doc/muxguard/LICENSE",
    ]
    .map(String::from)
    .to_vec();
    // docs/ beside the README, as in the clone, so that the links between them hold.
    let docs = pages().iter().filter(|(page, _)| page.starts_with("docs/"));
    files.extend(docs.map(|(page, _)| format!("share/doc/muxguard/{page}")));
    let mut pages: Vec<String> = fs::read_dir(repo().join("man"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".1"))
        .map(|name| format!("share/man/man1/{name}"))
        .collect();
    pages.sort();
    assert!(
        pages.contains(&"share/man/man1/muxguard.1".to_owned())
            && pages.contains(&"share/man/man1/muxguard-check.1".to_owned()),
        "man/ has the man pages: {pages:?}"
    );
    files.extend(pages);
    files
}

/// install(1) as macOS and the BSDs have it: no `-D`, no `-t`, no long options (GNU's). It
/// logs each call and hands the rest to the system's install.
const BSD_INSTALL: &str = r#"#!/bin/sh
echo "install $*" >> "$(dirname "$0")/calls.log"
for arg in "$@"; do
    case $arg in
        --) break ;;
        --*) echo "install: illegal option -- -" >&2; exit 64 ;;
        -*D*) echo "install: illegal option -- D" >&2; exit 64 ;;
        -*t*) echo "install: illegal option -- t" >&2; exit 64 ;;
    esac
done
exec /usr/bin/install "$@"
"#;

/// `make install` and `make uninstall` with PREFIX and DESTDIR, where `install` is macOS's: the
/// same layout, with the same modes, and nothing left after the uninstall.
#[test]
fn make_install_and_uninstall_work_with_a_bsd_install() {
    use std::os::unix::fs::PermissionsExt;

    let user = NewUser::new();
    let fake = user.dir.path().join("bsd-install");
    fs::create_dir(&fake).unwrap();
    fs::write(fake.join("install"), BSD_INSTALL).unwrap();
    fs::set_permissions(fake.join("install"), fs::Permissions::from_mode(0o755)).unwrap();
    // The stand-in refuses what macOS's install refuses, and does the rest.
    let mut refused = user.command("install");
    with_toolchain(&mut refused, &[&fake]);
    let scratch = user.dir.path().join("scratch");
    let output = refused
        .arg("-Dm644")
        .arg(repo().join("README.md"))
        .arg(&scratch)
        .output()
        .unwrap();
    assert!(!output.status.success() && !scratch.exists());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "install: illegal option -- D\n"
    );

    let destdir = user.dir.path().join("destdir");
    let prefix = "/opt/muxguard";
    let root = destdir.join(prefix.trim_start_matches('/'));
    let make = |target: &str| {
        let mut command = user.command("make");
        command
            .arg(target)
            .arg(format!("PREFIX={prefix}"))
            .arg(format!("DESTDIR={}", destdir.display()));
        // Builds (or finds up to date) the release binary in the clone's own target/, as the
        // README's make install line does.
        with_toolchain(&mut command, &[&fake]);
        user.run(command, &format!("make {target} with a BSD install"));
    };

    make("install");
    let calls = fs::read_to_string(fake.join("calls.log")).unwrap();
    assert!(
        calls.contains("target/release/muxguard"),
        "make install used the install on PATH:\n{calls}"
    );
    for file in installed_layout() {
        let path = root.join(&file);
        let mode = match fs::symlink_metadata(&path) {
            Ok(meta) => meta.permissions().mode() & 0o777,
            Err(e) => panic!("make install did not install {file}: {e}"),
        };
        match file.as_str() {
            "bin/muxguard-ssh" => assert_eq!(
                fs::read_link(&path).unwrap(),
                Path::new("muxguard"),
                "{file} is a link to muxguard beside it"
            ),
            "bin/muxguard" => assert_eq!(mode, 0o755, "{file}: mode {mode:o}"),
            _ => assert_eq!(mode, 0o644, "{file}: mode {mode:o}"),
        }
    }
    // The service files run the muxguard of the prefix.
    let unit = fs::read_to_string(root.join("share/systemd/user/muxguard-watch.service")).unwrap();
    assert!(
        unit.contains(&format!("\nExecStart={prefix}/bin/muxguard watch\n")),
        "{unit}"
    );
    let agent =
        fs::read_to_string(root.join("share/muxguard/launchd/io.github.muxguard.watch.plist"))
            .unwrap();
    assert!(
        agent.contains(&format!("exec \"{prefix}/bin/muxguard\" watch")),
        "{agent}"
    );
    let help = Command::new(root.join("bin/muxguard-ssh"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage: muxguard ssh"));
    // Nothing but the layout (and its directories) is there.
    let mut found = Vec::new();
    files_under(&root, &root, &mut found);
    found.sort();
    let mut expected = installed_layout();
    expected.sort();
    assert_eq!(
        found, expected,
        "what make install put under DESTDIR/PREFIX"
    );

    make("uninstall");
    let mut left = Vec::new();
    files_under(&root, &root, &mut left);
    assert!(left.is_empty(), "make uninstall left {left:?}");
}

/// The files (not directories) under `dir`, relative to `base`.
fn files_under(base: &Path, dir: &Path, found: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            files_under(base, &path, found);
        } else {
            let relative = path.strip_prefix(base).unwrap();
            found.push(relative.display().to_string());
        }
    }
}

#[test]
fn the_plain_shell_lines_load_the_integration() {
    for shell in ["bash", "zsh", "fish"] {
        if skip_without(shell) {
            continue;
        }
        let user = NewUser::new().with_muxguard();
        user.run_block(shell, "");
        user.assert_integration_loaded(shell, shell);
    }
}

#[test]
fn the_oh_my_zsh_line_loads_the_plugin() {
    if skip_without("zsh") {
        return;
    }
    let user = NewUser::new().with_muxguard();
    // Stand-in for an oh-my-zsh install: its .zshrc template, and its plugin loading (each
    // plugin's directory goes on fpath, compinit runs, then each
    // $ZSH_CUSTOM/plugins/NAME/NAME.plugin.zsh is sourced).
    fs::create_dir_all(user.home().join(".oh-my-zsh/custom/plugins")).unwrap();
    user.write(
        ".oh-my-zsh/oh-my-zsh.sh",
        "ZSH_CUSTOM=${ZSH_CUSTOM:-$ZSH/custom}\n\
         for plugin ($plugins) fpath=($ZSH_CUSTOM/plugins/$plugin $fpath)\n\
         autoload -Uz compinit && compinit -u -d $HOME/.zcompdump\n\
         for plugin ($plugins) source $ZSH_CUSTOM/plugins/$plugin/$plugin.plugin.zsh\n",
    );
    user.write(
        ".zshrc",
        "export ZSH=$HOME/.oh-my-zsh\nplugins=(muxguard)\nsource $ZSH/oh-my-zsh.sh\n",
    );
    user.run_block("oh-my-zsh", "");
    // Safe to run twice (a second `ln -s` would put a link inside the clone).
    user.run_block("oh-my-zsh", "");
    assert!(!repo().join(repo().file_name().unwrap()).is_symlink());
    user.assert_integration_loaded("zsh", "oh-my-zsh");
    // compinit ran before the plugin: it registers muxguard's completion itself.
    let mut zsh = user.command("zsh");
    zsh.args(["-i", "-c", "print -r -- ${_comps[muxguard]-none}"]);
    let output = user.run(zsh, "a new interactive zsh");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "_muxguard");
}

#[test]
fn the_zinit_line_loads_the_plugin() {
    if skip_without("zsh") {
        return;
    }
    let user = NewUser::new().with_muxguard();
    // Stand-in for zinit's `light`: it sources the directory's *.plugin.zsh.
    user.write(
        ".zshrc",
        "function zinit { [[ $1 == light ]] && for f ($2/*.plugin.zsh([1])) source $f }\n",
    );
    user.run_block("zinit", "");
    user.assert_integration_loaded("zsh", "zinit");
}

#[test]
fn the_antidote_line_loads_the_plugin() {
    if skip_without("zsh") {
        return;
    }
    let user = NewUser::new().with_muxguard();
    // Stand-in for antidote: `antidote load` puts each listed directory on fpath and sources
    // its *.plugin.zsh.
    user.write(
        ".zshrc",
        "function antidote {\n\
         \x20 local dir\n\
         \x20 for dir (${(f)\"$(<~/.zsh_plugins.txt)\"}); do\n\
         \x20   fpath+=($dir); for f ($dir/*.plugin.zsh([1])) source $f\n\
         \x20 done\n\
         }\n\
         antidote load\n",
    );
    user.run_block("antidote", "");
    user.assert_integration_loaded("zsh", "antidote");
}

#[test]
fn the_fisher_line_installs_and_removes_the_plugin() {
    if skip_without("fish") {
        return;
    }
    let user = NewUser::new().with_muxguard();
    // Stand-in for fisher: `install DIR` copies DIR's conf.d, functions and completions files
    // into ~/.config/fish (following links); `remove` emits NAME_uninstall for each conf.d
    // file, then deletes them.
    let fisher = "function fisher\n\
         \x20 set -l conf ~/.config/fish\n\
         \x20 switch $argv[1]\n\
         \x20   case install\n\
         \x20     for sub in conf.d functions completions\n\
         \x20       mkdir -p $conf/$sub\n\
         \x20       for file in $argv[2]/$sub/*\n\
         \x20         cp -L $file $conf/$sub/\n\
         \x20       end\n\
         \x20     end\n\
         \x20   case remove\n\
         \x20     for file in $argv[2]/conf.d/*.fish\n\
         \x20       emit (path change-extension '' (path basename $file))_uninstall\n\
         \x20       rm $conf/conf.d/(path basename $file)\n\
         \x20     end\n\
         \x20 end\n\
         end";
    user.run_block("fisher", fisher);
    assert!(
        user.home()
            .join(".config/fish/conf.d/muxguard.fish")
            .is_file()
    );
    user.assert_integration_loaded("fish", "fisher");

    // Removed: the running shell lets go of ssh and the hook too.
    let (_, install) = block("fisher");
    let remove = install.replace("fisher install", "fisher remove");
    let mut command = user.command("fish");
    command.args([
        "-i",
        "-c",
        &format!(
            "{fisher}\n{remove}\ntype -t ssh; functions -q __muxguard_hook; and echo hook; or true"
        ),
    ]);
    let output = user.run(command, "fisher remove");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "file");
}

/// Leaves two stale control sockets where `status` always looks: Ansible's directory in the
/// home. (Sockets under the ControlPaths of the caller's own ssh config count too: ssh and
/// muxguard read the config of the account, not of $HOME, so tests compare before and after.)
fn add_stale_sockets(user: &NewUser) -> PathBuf {
    let dir = user.home().join(".ansible/cp");
    fs::create_dir_all(&dir).unwrap();
    for name in ["0123456789", "abcdef0123"] {
        // Bound, then closed: the file stays and nothing listens on it, as a killed master
        // leaves it.
        drop(UnixListener::bind(dir.join(name)).unwrap());
    }
    dir
}

/// "1 hung 2 stale" as counts per state.
fn counts(summary: &str) -> BTreeMap<String, i64> {
    let words: Vec<&str> = summary.split_whitespace().collect();
    assert!(words.len() % 2 == 0, "not `N state ...`: {summary:?}");
    words
        .chunks(2)
        .map(|pair| {
            let count = pair[0]
                .parse()
                .unwrap_or_else(|_| panic!("not `N state ...`: {summary:?}"));
            (pair[1].to_owned(), count)
        })
        .collect()
}

/// Runs a prompt example with and without two more stale sockets: it shows exactly them.
fn assert_shows_two_more_stale(user: &NewUser, summary: impl Fn() -> String) {
    let before = counts(&summary());
    let dir = add_stale_sockets(user);
    let mut after = counts(&summary());
    *after.entry("stale".to_owned()).or_default() -= 2;
    after.retain(|_, count| *count != 0);
    assert_eq!(after, before, "the prompt shows the two stale sockets");
    fs::remove_dir_all(dir).unwrap();
    assert_eq!(counts(&summary()), before);
}

#[test]
fn the_starship_module_shows_broken_sockets() {
    if skip_without("jq") {
        return;
    }
    let (info, toml) = block("starship");
    assert_eq!(info, "toml");
    let command_line = toml
        .split_once("command = '''")
        .and_then(|(_, rest)| rest.split_once("'''"))
        .map(|(command, _)| command)
        .expect("the starship module has a command = '''...'''");
    assert!(
        toml.contains("shell = [\"sh\"]") && toml.contains("when = true"),
        "{toml}"
    );
    let user = NewUser::new().with_muxguard();
    assert_shows_two_more_stale(&user, || {
        let mut command = user.command("sh");
        command.args(["-c", command_line]);
        let output = user.run(command, "the starship module's command");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    });
}

#[test]
fn the_zsh_rprompt_segment_shows_broken_sockets() {
    if skip_without("jq") || skip_without("zsh") {
        return;
    }
    let (_, segment) = block("rprompt");
    let user = NewUser::new().with_muxguard();
    assert_shows_two_more_stale(&user, || {
        let mut command = user.command("zsh");
        command.args([
            "-f",
            "-c",
            &format!("{segment}\nfor hook ($precmd_functions) $hook\nprint -r -- \"$RPROMPT\""),
        ]);
        let output = user.run(command, "the zsh RPROMPT segment");
        let rprompt = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if rprompt.is_empty() {
            return rprompt;
        }
        rprompt
            .strip_prefix("%F{yellow}ssh: ")
            .and_then(|rest| rest.strip_suffix("%f"))
            .unwrap_or_else(|| panic!("RPROMPT is not `%F{{yellow}}ssh: ...%f`: {rprompt:?}"))
            .to_owned()
    });
}

/// The suggested ssh config, with its directory made as docs/shells.md says, gets a clean bill
/// from doctor. (`~` is spelled out: ssh and muxguard take it from the account, not $HOME.)
#[test]
fn the_suggested_ssh_config_passes_doctor() {
    let user = NewUser::new().with_muxguard();
    let (_, config) = block("ssh-config");
    let config = config.replace("~/", &format!("{}/", user.home().display()));
    user.write("suggested_config", &config);
    let doctor = || {
        let mut command = user.command("muxguard");
        command
            .args(["doctor", "-F"])
            .arg(user.home().join("suggested_config"));
        command.output().unwrap()
    };
    let before = doctor();
    assert_eq!(
        before.status.code(),
        Some(1),
        "the directory is not made yet"
    );
    assert!(String::from_utf8_lossy(&before.stdout).contains("dir-missing"));

    let (mkdir, _) = after_marker("ssh-config")
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a sh block follows the suggested config");
    let mut command = user.command("bash");
    command.args(["-c", mkdir]);
    user.run(command, "the mkdir line of docs/shells.md");

    let after = doctor();
    let said = String::from_utf8_lossy(&after.stdout);
    assert_eq!(after.status.code(), Some(0), "{said}");
    assert!(said.contains("No problems found"), "{said}");
}
