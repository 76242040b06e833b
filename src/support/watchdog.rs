//! The last line of defence of "never hangs": whatever keeps a command past its budget (a bug,
//! a kernel that stalls on /proc, a stdout that nobody reads), the process ends then: one line
//! on stderr and exit 1, or, for `muxguard ssh`, the real ssh in its place.
//!
//! A timer signal (SIGALRM), not a thread: nothing to start, so it costs a command nothing. The
//! handler only does what is safe in one: it writes what was prepared beforehand and calls
//! `_exit` or `execv`.
//!
//! `watch`, which runs until it is told to stop, ends the same way on SIGTERM and SIGINT: at
//! once, whatever it was doing, with one line said.

use std::ffi::{CString, OsString, c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::time::Duration;

/// How long past `--timeout` a command may take to finish what it started when the deadline
/// came (ending a master, printing): the watchdog fires at the timeout plus this.
pub const WATCHDOG_GRACE: Duration = Duration::from_secs(1);

/// What the handler says when a command runs out of time.
static GAVE_UP: AtomicPtr<Vec<u8>> = AtomicPtr::new(ptr::null_mut());
/// What `muxguard ssh` runs instead, once it has said so.
static SSH_INSTEAD: AtomicPtr<Instead> = AtomicPtr::new(ptr::null_mut());
/// The budget the watchdog was armed with, in milliseconds, for what it says.
static BUDGET_MS: AtomicU64 = AtomicU64::new(0);

/// What the handler of SIGTERM and SIGINT says before the process exits 0.
static STOPPED: AtomicPtr<Stopped> = AtomicPtr::new(ptr::null_mut());

struct Stopped {
    fd: c_int,
    by_sigterm: Vec<u8>,
    by_sigint: Vec<u8>,
}

/// The real ssh and the user's arguments, ready for `execv`.
struct Instead {
    ssh: CString,
    /// Owns what `argv` points to.
    _args: Vec<CString>,
    /// NULL-terminated.
    argv: Vec<*const c_char>,
    announce: Vec<u8>,
    cannot: Vec<u8>,
}

/// Starts the watchdog: the process ends `budget` from now unless it has ended by itself.
/// `allowed` says what the budget is, before the grace: "--timeout".
pub fn arm(budget: Duration, allowed: &str) {
    BUDGET_MS.store(budget.as_millis() as u64, Ordering::Release);
    let said = format!(
        "muxguard: gave up after {budget:?} ({allowed} plus {WATCHDOG_GRACE:?}); nothing more was done\n"
    );
    // Armed again only after `disarm` (a watcher's rounds): no handler reads the old line.
    replace(&GAVE_UP, said.into_bytes());
    // SAFETY: the handler does only what a signal handler may (see `expire`).
    unsafe {
        libc::signal(
            libc::SIGALRM,
            expire as extern "C" fn(c_int) as libc::sighandler_t,
        );
    }
    set_timer(budget);
}

/// Stops the watchdog, before an exec: a timer survives execve, and would end the program that
/// replaces muxguard.
pub fn disarm() {
    set_timer(Duration::ZERO);
}

fn set_timer(after: Duration) {
    let timer = libc::itimerval {
        it_interval: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        it_value: libc::timeval {
            tv_sec: after.as_secs() as _,
            tv_usec: after.subsec_micros() as _,
        },
    };
    // SAFETY: a valid itimerval; the old value is not wanted. Without a timer the command
    // still runs: every wait in it has its own deadline too.
    unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, ptr::null_mut()) };
}

/// From now on, the watchdog runs `ssh` with `args` instead of exiting: `muxguard ssh` fails
/// open.
pub fn run_ssh_instead(ssh: &Path, args: &[OsString]) {
    let text = |bytes: &[u8]| CString::new(bytes).ok();
    let Some(ssh_path) = text(ssh.as_os_str().as_bytes()) else {
        return;
    };
    let mut owned = vec![CString::from(c"ssh")];
    for arg in args {
        // An argument with a NUL byte cannot be passed on; ssh would not get it either.
        let Some(arg) = text(arg.as_bytes()) else {
            return;
        };
        owned.push(arg);
    }
    let mut argv: Vec<*const c_char> = owned.iter().map(|arg| arg.as_ptr()).collect();
    argv.push(ptr::null());
    let instead = Instead {
        ssh: ssh_path,
        _args: owned,
        argv,
        announce: format!(
            "muxguard: gave up after {:?}; running ssh as it is\n",
            Duration::from_millis(BUDGET_MS.load(Ordering::Acquire))
        )
        .into_bytes(),
        cannot: format!("muxguard: cannot run {}\n", ssh.display()).into_bytes(),
    };
    // muxguard ssh calls this once, long before its budget ends.
    replace(&SSH_INSTEAD, instead);
}

/// From now on SIGTERM and SIGINT end the process at once with exit 0, after writing the line
/// `said` gives for the signal's name ("SIGTERM") to `fd`.
pub fn exit_on_stop(fd: c_int, said: impl Fn(&str) -> String) {
    let stopped = Stopped {
        fd,
        by_sigterm: said("SIGTERM").into_bytes(),
        by_sigint: said("SIGINT").into_bytes(),
    };
    // Called once, before the handler is installed.
    replace(&STOPPED, stopped);
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler does only what a signal handler may (see `stop`).
        unsafe { libc::signal(signal, stop as extern "C" fn(c_int) as libc::sighandler_t) };
    }
}

/// Puts `value` where a handler reads it, and frees what was there. Each caller does so only
/// when no handler can be reading the old value.
fn replace<T>(slot: &AtomicPtr<T>, value: T) {
    let previous = slot.swap(Box::into_raw(Box::new(value)), Ordering::AcqRel);
    if !previous.is_null() {
        // SAFETY: made by Box::into_raw here, in an earlier call, and now unreachable: the slot
        // holds the new value, and no handler is reading the old one (see the callers).
        drop(unsafe { Box::from_raw(previous) });
    }
}

/// The handler of SIGTERM and SIGINT: only poll, write and _exit.
extern "C" fn stop(signal: c_int) {
    // SAFETY: set from Box::into_raw and never freed while the handler is installed; read only.
    if let Some(stopped) = unsafe { STOPPED.load(Ordering::Acquire).as_ref() } {
        let line = if signal == libc::SIGINT {
            &stopped.by_sigint
        } else {
            &stopped.by_sigterm
        };
        say_to(stopped.fd, line);
    }
    // SAFETY: _exit ends the process at once, touching no lock another thread holds.
    unsafe { libc::_exit(0) }
}

/// The signal handler: only poll, write, sigprocmask, execv and _exit, all safe in a handler.
extern "C" fn expire(_signal: c_int) {
    let instead = SSH_INSTEAD.load(Ordering::Acquire);
    // SAFETY: set from Box::into_raw and never freed while set; read only.
    if let Some(instead) = unsafe { instead.as_ref() } {
        say(&instead.announce);
        // Blocked while its handler runs, and a blocked signal stays blocked across execv.
        // SAFETY: a valid signal set, built and applied by async-signal-safe calls.
        unsafe {
            let mut alarm: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut alarm);
            libc::sigaddset(&mut alarm, libc::SIGALRM);
            libc::sigprocmask(libc::SIG_UNBLOCK, &alarm, ptr::null_mut());
        }
        // SAFETY: a NUL-terminated path and a NULL-terminated array of NUL-terminated
        // strings, alive for the whole process.
        unsafe { libc::execv(instead.ssh.as_ptr(), instead.argv.as_ptr()) };
        say(&instead.cannot);
        // SAFETY: _exit ends the process at once, touching no lock another thread holds.
        unsafe { libc::_exit(255) }
    }
    // SAFETY: as above.
    if let Some(said) = unsafe { GAVE_UP.load(Ordering::Acquire).as_ref() } {
        say(said);
    }
    // SAFETY: as above. Not process::exit: it would flush stdout, whose lock the stuck code
    // may hold.
    unsafe { libc::_exit(1) }
}

/// Writes to stderr without its lock (the stuck code may hold it) and without blocking (it may
/// be blocked on a full stderr): a line that cannot go out now is lost.
fn say(line: &[u8]) {
    say_to(libc::STDERR_FILENO, line);
}

fn say_to(fd: c_int, line: &[u8]) {
    let mut pollfd = [libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    }];
    // SAFETY: one valid pollfd, a zero timeout.
    let ready = unsafe { libc::poll(pollfd.as_mut_ptr(), 1, 0) } == 1
        && pollfd[0].revents & libc::POLLOUT != 0;
    if ready {
        // SAFETY: a valid buffer of that length; a short or failed write is acceptable here.
        unsafe { libc::write(fd, line.as_ptr().cast(), line.len()) };
    }
}
