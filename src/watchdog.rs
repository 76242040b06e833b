//! The last line of defence of "never hangs": whatever keeps a command past its budget (a bug,
//! a kernel that stalls on /proc, a stdout that nobody reads), the process ends then: one line
//! on stderr and exit 1, or, for `muxguard ssh`, the real ssh in its place.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long past `--timeout` a command may take to finish what it started when the deadline
/// came (ending a master, printing): the watchdog fires at the timeout plus this.
pub const GRACE: Duration = Duration::from_secs(1);

/// What `muxguard ssh` runs when the watchdog fires: the real ssh and the user's arguments.
static SSH_INSTEAD: Mutex<Option<(PathBuf, Vec<OsString>)>> = Mutex::new(None);

/// Starts the watchdog: the process ends `budget` from now unless it has ended by itself.
pub fn arm(budget: Duration) {
    let fires_at = Instant::now() + budget;
    let spawned = std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            // sleep() may be cut short by a signal: wait until the moment has really come.
            while let Some(left) = fires_at.checked_duration_since(Instant::now()) {
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left);
            }
            expire(budget);
        });
    // Without a thread the command still runs; every wait in it has its own deadline too.
    drop(spawned);
}

/// From now on, the watchdog runs `ssh` with `args` instead of exiting: `muxguard ssh` fails
/// open.
pub fn run_ssh_instead(ssh: PathBuf, args: Vec<OsString>) {
    let mut instead = SSH_INSTEAD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *instead = Some((ssh, args));
}

fn expire(budget: Duration) -> ! {
    let instead = SSH_INSTEAD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take();
    match instead {
        Some((ssh, args)) => {
            say(&format!(
                "muxguard: gave up after {budget:?}; running ssh as it is\n"
            ));
            let error = Command::new(&ssh).arg0("ssh").args(&args).exec();
            say(&format!(
                "muxguard: cannot run {}: {error}\n",
                ssh.display()
            ));
            // SAFETY: _exit ends the process at once, touching no lock another thread holds.
            unsafe { libc::_exit(255) }
        }
        None => {
            say(&format!(
                "muxguard: gave up after {budget:?} (--timeout plus {GRACE:?}); nothing more was done\n"
            ));
            // SAFETY: as above. Not process::exit: it would flush stdout, whose lock the stuck
            // thread may hold.
            unsafe { libc::_exit(1) }
        }
    }
}

/// Writes to stderr without its lock (the stuck thread may hold it) and without blocking (the
/// stuck thread may be blocked on a full stderr): a line that cannot go out now is lost.
fn say(line: &str) {
    let mut stderr = [libc::pollfd {
        fd: libc::STDERR_FILENO,
        events: libc::POLLOUT,
        revents: 0,
    }];
    // SAFETY: one valid pollfd, a zero timeout.
    let ready = unsafe { libc::poll(stderr.as_mut_ptr(), 1, 0) } == 1
        && stderr[0].revents & libc::POLLOUT != 0;
    if ready {
        // SAFETY: a valid buffer of that length; a short or failed write is acceptable here.
        unsafe { libc::write(libc::STDERR_FILENO, line.as_ptr().cast(), line.len()) };
    }
}
