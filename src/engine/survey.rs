//! Every control socket there is, classified without connecting to any master: what `status`
//! shows and what `clean` and `reset --all` act on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::link::chain;
use crate::link::netstate::Snapshot;
use crate::link::probe;
use crate::platform::process::Owner;
use crate::platform::{self, Link};
use crate::socket::classify::{self, Look};
use crate::socket::discover::{self, Candidate, Candidates};
use crate::socket::fsentry::{FileInfo, FileKind};
use crate::socket::listeners::{ListenerTable, master_path_of};
use crate::socket::report::{Found, ProbeDecision, Reason, SocketReport, State};
use crate::state::Record;
use crate::support::deadline::Deadline;
use crate::support::environment::TEST_SCOPE;

/// A master binds `<ControlPath>.<16 characters>` and links the ControlPath a moment later; a
/// young file of that shape may be a master being born.
const BIRTH_GRACE: Duration = Duration::from_secs(10);

/// Finds and classifies every socket, passively.
pub fn survey(config: Option<&Path>, dirs: &[PathBuf]) -> Result<Vec<SocketReport>> {
    let record = Record::new();
    let candidates = discover::discover(config, dirs, remembered(&record))?;
    let sockets = classify_all(&candidates, load_listeners(), &record);
    record.save();
    sockets
}

/// The paths the state remembers, as discovery takes them.
fn remembered(record: &Record) -> impl Iterator<Item = (PathBuf, Candidate)> + '_ {
    record.known().sockets.iter().map(|(path, seen)| {
        let how = if seen.by_process {
            Found::Process
        } else {
            Found::Resolved
        };
        let candidate = Candidate {
            destination: seen.destination.clone(),
            alias: seen.alias.clone(),
            ..Candidate::new(how)
        };
        (path.clone(), candidate)
    })
}

/// Classifies what discovery found with the kernel's table of listeners, when the platform
/// has one; the masters found from the table are remembered in `record`.
fn classify_all(
    candidates: &Candidates,
    listeners: Result<ListenerTable>,
    record: &Record,
) -> Result<Vec<SocketReport>> {
    // Without a passive table (other unixes), sockets are listed but not looked into: a
    // connection would touch a live master.
    let mut listeners = match listeners {
        Ok(table) => table,
        Err(Error::Unsupported(why)) => return Ok(unexamined(candidates, &why)),
        Err(error) => return Err(error),
    };

    let mut sockets = Vec::new();
    let mut own_sockets = Vec::new();
    for (path, candidate) in candidates {
        match classify::look(path) {
            Look::Settled(report) if report.state == State::Absent => {}
            // Found by a loose pattern: only a socket is worth reporting.
            Look::Settled(report)
                if candidate.sockets_only
                    && report.file.is_none_or(|file| file.kind != FileKind::Socket) => {}
            Look::Settled(report) => sockets.push(candidate.describe(*report)),
            Look::Socket(info) => {
                let listener = listeners.for_file(path, &info);
                if master_path_of(path).is_some()
                    && (listener.is_some() || info.age().is_none_or(|age| age < BIRTH_GRACE))
                {
                    continue; // a master being born
                }
                own_sockets.push((path, info, candidate));
            }
        }
    }

    // One scan of /proc for every listener we need a process for.
    let wanted: HashSet<u64> = listeners
        .all()
        .iter()
        .filter(|listener| {
            listener.file.is_none()
                || listener
                    .bound_path
                    .as_deref()
                    .is_some_and(|bound| master_path_of(bound).is_some())
                || own_sockets
                    .iter()
                    .any(|(_, info, _)| listener.file == Some((info.dev, info.ino)))
        })
        .map(|listener| listener.socket)
        .collect();
    let holders = platform::holders_of(&wanted, Owner::Own);
    listeners.resolve_relative(&holders);

    for (path, info, candidate) in own_sockets {
        let report = classify::classify_passive(path, &info, &listeners, &holders);
        sockets.push(candidate.describe(report));
    }
    // Masters whose ControlPath nothing above names: given on ssh's command line.
    let by_process = Candidate::new(Found::Process);
    let in_scope = scope();
    let masters = masters_elsewhere(&listeners, &holders, candidates, &in_scope);
    for (path, info) in &masters {
        let report = classify::classify_passive(path, info, &listeners, &holders);
        sockets.push(by_process.describe(report));
    }
    record.remember_masters(masters.into_iter().map(|(path, _)| path).collect());
    // Orphans are found from the kernel's table, wherever their path: every master of the
    // user's is seen, its socket file gone or not.
    let orphans = classify::orphans(&listeners, &holders).into_iter();
    for orphan in orphans.filter(|orphan| orphan.path.as_deref().is_some_and(&in_scope)) {
        let candidate = orphan.path.as_ref().and_then(|path| candidates.get(path));
        sockets.push(candidate.unwrap_or(&by_process).describe(orphan));
    }
    sockets.sort_by(|a, b| a.path.cmp(&b.path));
    attach_links(&mut sockets);
    Ok(sockets)
}

/// Whether a master's socket found from the kernel's table (not through discovery) counts:
/// read once, for every master.
fn scope() -> impl Fn(&Path) -> bool {
    let scope = TEST_SCOPE.read().map(PathBuf::from);
    move |path| scope.as_ref().is_none_or(|scope| path.starts_with(scope))
}

/// The sockets of the user's masters that no candidate names (their ControlPath was given on
/// ssh's command line: Emacs TRAMP, git-annex, scripts), from the listener table: a listener
/// bound to `<ControlPath>.<16 characters>`, held by an ssh process of the user's, whose
/// ControlPath leads to it. One whose ControlPath leads elsewhere is an orphan (`orphans`).
fn masters_elsewhere(
    listeners: &ListenerTable,
    holders: &HashMap<u64, Vec<i32>>,
    candidates: &BTreeMap<PathBuf, Candidate>,
    in_scope: impl Fn(&Path) -> bool,
) -> Vec<(PathBuf, FileInfo)> {
    let mut found = Vec::new();
    for (listener, path, _) in classify::masters_in(listeners, holders) {
        if candidates.contains_key(path) || !in_scope(path) {
            continue;
        }
        if let Look::Socket(info) = classify::look(path) {
            let known = found.iter().any(|(known, _)| known == path);
            if classify::is_bound_to(listener, &info) && !known {
                found.push((path.to_path_buf(), info));
            }
        }
    }
    found
}

/// What the kernel says of each master's connection to its server (one look for all of them):
/// its peer, for a person to read where nothing named the socket, and how it is doing.
fn attach_links(sockets: &mut [SocketReport]) {
    let is_master = |socket: &SocketReport| socket.state.has_master() && socket.pid.is_some();
    let pids: Vec<i32> = sockets
        .iter()
        .filter(|socket| is_master(socket))
        .filter_map(|socket| socket.pid)
        .collect();
    let links = platform::links(&pids);
    for socket in sockets.iter_mut().filter(|socket| is_master(socket)) {
        socket.link = socket.pid.and_then(|pid| links.get(&pid).cloned());
    }
    attach_carriers(sockets);
}

/// For each master with no connection of its own, the master that carries it (a jump host's,
/// through chains of them): its path in `via`, and its connection as the link that decides.
fn attach_carriers(sockets: &mut [SocketReport]) {
    let by_pid: HashMap<i32, usize> = sockets
        .iter()
        .enumerate()
        .filter(|(_, socket)| socket.state.has_master())
        .filter_map(|(index, socket)| Some((socket.pid?, index)))
        .collect();
    let carried: Vec<usize> = (0..sockets.len())
        .filter(|&index| matches!(sockets[index].link, Some(Link::ViaProxy)))
        .collect();
    for index in carried {
        let Some(master) = sockets[index].pid else {
            continue;
        };
        let mut pid = master;
        let mut carrier = None;
        for _ in 0..chain::MAX_CARRIERS {
            let Some(next) = chain::carrier_of(pid, |candidate| by_pid.contains_key(&candidate))
            else {
                break;
            };
            carrier = Some(by_pid[&next]);
            if !matches!(sockets[by_pid[&next]].link, Some(Link::ViaProxy)) {
                break;
            }
            pid = next;
        }
        match carrier.filter(|&carrier| carrier != index) {
            Some(carrier) => {
                let carrier = sockets[carrier].clone();
                chain::carried_by(&mut sockets[index], &carrier);
            }
            None => chain::carried_by_proxy(&mut sockets[index], master),
        }
    }
}

/// Proves the links of the live masters among `sockets`, all at once within `deadline` (see
/// `probe::probe_all`: `reason` says why each is proved), and records those that answered as
/// seen working.
pub fn prove_links(
    sockets: &mut [SocketReport],
    deadline: Deadline,
    reason: impl Fn(&SocketReport) -> Option<(ProbeDecision, String)> + Sync,
) {
    let now = Snapshot::now();
    probe::probe_all(sockets, deadline, reason);
    let record = Record::new();
    for socket in sockets.iter().filter(|s| s.reason == Reason::RoundTrip) {
        if let (Some(path), Some(pid)) = (&socket.path, socket.pid) {
            record.record_working(path, pid, now.clone());
        }
    }
    record.save();
}

/// The socket at one path, classified without connecting, and the orphan masters that were
/// started with that path: what `reset` acts on.
pub fn at_path(path: &Path, owner: Owner) -> Result<Vec<SocketReport>> {
    let mut listeners = load_listeners()?;
    let wanted: HashSet<u64> = listeners
        .all()
        .iter()
        .map(|listener| listener.socket)
        .collect();
    let holders = platform::holders_of(&wanted, owner);
    listeners.resolve_relative(&holders);
    let mut reports = vec![match classify::look_as(path, owner) {
        Look::Socket(info) => classify::classify_passive(path, &info, &listeners, &holders),
        Look::Settled(report) => *report,
    }];
    reports.extend(
        classify::orphans(&listeners, &holders)
            .into_iter()
            .filter(|orphan| orphan.path.as_deref() == Some(path)),
    );
    Ok(reports)
}

/// The table of listening sockets; `Error::Unsupported` where the platform has none.
fn load_listeners() -> Result<ListenerTable> {
    ListenerTable::load().map_err(|e| match e.kind() {
        std::io::ErrorKind::Unsupported => Error::Unsupported(e.to_string()),
        _ => Error::Failed(format!(
            "cannot read the kernel's table of listening sockets: {e}"
        )),
    })
}

/// Every candidate that is a socket of the user's, not looked into (`why` there is no table):
/// reported `live` with a detail that says so, since nothing was seen to be wrong with it.
fn unexamined(candidates: &Candidates, why: &str) -> Vec<SocketReport> {
    candidates
        .iter()
        .filter_map(|(path, candidate)| {
            let Look::Socket(info) = classify::look(path) else {
                return None;
            };
            Some(candidate.describe(classify::unexamined(path, &info, why)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;

    /// Where the platform has no table of listeners (the BSDs), every socket of the user's is
    /// listed, live or stale, and none is connected to: each is `not-examined`.
    #[test]
    fn without_a_table_of_listeners_sockets_are_listed_not_examined() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live");
        let _listening = UnixListener::bind(&live).unwrap();
        let stale = dir.path().join("stale");
        drop(UnixListener::bind(&stale).unwrap());
        let dirs = [dir.path().to_path_buf()];
        let candidates = discover::discover(Some(Path::new("/dev/null")), &dirs, []).unwrap();
        let no_table = Err(Error::Unsupported(
            "no table of listening sockets here".into(),
        ));
        let sockets = classify_all(&candidates, no_table, &Record::new()).unwrap();
        let paths: Vec<_> = sockets.iter().filter_map(|s| s.path.clone()).collect();
        assert_eq!(paths, [live, stale]);
        for socket in &sockets {
            assert_eq!(socket.reason, Reason::NotExamined, "{socket:?}");
            assert_eq!(socket.state, State::Live);
            assert!(socket.detail.contains("no table of listening sockets here"));
        }
    }
}
