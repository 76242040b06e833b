//! `muxguard status`: every control socket found, with its state, without connecting to any
//! master.

use crate::cli::StatusArgs;
use crate::engine::survey;
use crate::error::{ExitCode, Result};
use crate::output::{self, json};
use crate::support::deadline::Deadline;

pub fn run(args: StatusArgs, deadline: Deadline) -> Result<ExitCode> {
    let mut sockets = survey::survey(args.search.config.as_deref(), &args.search.dirs)?;
    if args.probe {
        survey::prove_links(&mut sockets, deadline, |_| None);
    }
    output::written(if args.json {
        json::print_sockets(sockets.iter().map(json::SocketJson::new).collect())
    } else {
        output::socket_table(&sockets)
    })?;
    Ok(ExitCode::Success)
}
