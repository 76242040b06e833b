# muxguard: build, test, benchmark, install.
PREFIX ?= /usr/local
DESTDIR ?=
CARGO ?= cargo

.PHONY: all build test test-deps lint bench install uninstall clean completions man

all: build

build:
	$(CARGO) build --release --locked

# Installs what the integration tests need when it is missing (a real sshd and ssh client; the
# shells, tmux and linters for the shell tests), then runs every test.
test: test-deps
	$(CARGO) test --locked

test-deps:
	@missing=""; \
	command -v ssh >/dev/null 2>&1 || missing="$$missing openssh-client"; \
	[ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1 || missing="$$missing openssh-server"; \
	for tool in zsh fish tmux shellcheck git jq rsync; do \
		command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; \
	done; \
	[ -e /usr/share/bash-completion/bash_completion ] || missing="$$missing bash-completion"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "the tests want:$$missing (e.g. sudo apt-get install$$missing); the shell tests skip what is missing"; \
			command -v ssh >/dev/null 2>&1 && { [ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1; } || exit 2; \
		fi; \
	fi

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# Side-by-side timings (hyperfine) and peak memory against OpenSSH's own `ssh -O check`.
bench: test-deps
	@command -v hyperfine >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine time >/dev/null; \
		else echo "make bench needs hyperfine and GNU time (apt-get install hyperfine time)"; exit 2; fi; }
	@[ -x /usr/bin/time ] || { apt-get install -y -qq time >/dev/null 2>&1 || { echo "make bench needs GNU time (apt-get install time)"; exit 2; }; }
	$(CARGO) test --release --locked --test bench -- --ignored --nocapture --test-threads=1

install: build
	install -Dm755 target/release/muxguard $(DESTDIR)$(PREFIX)/bin/muxguard
	ln -sf muxguard $(DESTDIR)$(PREFIX)/bin/muxguard-ssh
	install -Dm644 -t $(DESTDIR)$(PREFIX)/share/man/man1 doc/*.1
	install -Dm644 completions/muxguard.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/muxguard
	install -Dm644 completions/_muxguard $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_muxguard
	install -Dm644 completions/muxguard.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/muxguard.fish
	install -Dm644 -t $(DESTDIR)$(PREFIX)/share/muxguard shell/muxguard.bash shell/muxguard.zsh shell/muxguard.fish muxguard.plugin.zsh

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/muxguard $(DESTDIR)$(PREFIX)/bin/muxguard-ssh
	rm -f $(DESTDIR)$(PREFIX)/share/man/man1/muxguard.1 $(DESTDIR)$(PREFIX)/share/man/man1/muxguard-*.1
	rm -f $(DESTDIR)$(PREFIX)/share/bash-completion/completions/muxguard
	rm -f $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_muxguard
	rm -f $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/muxguard.fish
	rm -rf $(DESTDIR)$(PREFIX)/share/muxguard

clean:
	$(CARGO) clean

SUBCOMMANDS = check status clean reset ssh doctor init completions

# Regenerates the checked-in man pages (a test fails when they are out of date).
man: build
	target/release/muxguard man > doc/muxguard.1
	for sub in $(SUBCOMMANDS); do target/release/muxguard man $$sub > doc/muxguard-$$sub.1; done

# Regenerates the checked-in completion scripts (a test fails when they are out of date).
completions: build
	target/release/muxguard completions bash > completions/muxguard.bash
	target/release/muxguard completions zsh > completions/_muxguard
	target/release/muxguard completions fish > completions/muxguard.fish
