//! `muxguard status`: every control socket found, with its state, without connecting to any
//! master.

use serde::Serialize;

use crate::classify::SocketReport;
use crate::cli::StatusArgs;
use crate::deadline::Deadline;
use crate::error::{ExitCode, Result};
use crate::output::{self, SCHEMA};
use crate::probe;
use crate::survey;

pub fn run(args: StatusArgs, deadline: Deadline) -> Result<ExitCode> {
    let mut sockets = survey::survey(args.search.config.as_deref(), &args.search.dirs)?;
    if args.probe {
        probe::probe_all(&mut sockets, deadline);
    }
    output::written(if args.json {
        #[derive(Serialize)]
        struct StatusJson<'a> {
            schema: u32,
            sockets: &'a [SocketReport],
        }
        output::print_json(&StatusJson {
            schema: SCHEMA,
            sockets: &sockets,
        })
    } else {
        output::socket_table(&sockets)
    })?;
    Ok(ExitCode::Success)
}
