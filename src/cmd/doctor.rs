//! `muxguard doctor`: the connection-sharing mistakes in the ssh configuration
//! (`openssh::audit`), shown, and the missing directories created with `--fix`.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;

use crate::cli::DoctorArgs;
use crate::error::{ExitCode, Result};
use crate::openssh::audit::{self, Finding, Severity};
use crate::output::{self, JSON_SCHEMA};
use crate::support::deadline::Deadline;
use crate::support::text;

pub fn run(args: DoctorArgs, deadline: Deadline) -> Result<ExitCode> {
    let audit::Audit {
        mut findings,
        checked,
    } = audit::audit(args.config.as_deref(), deadline)?;
    let created = match args.fix {
        true => audit::create_missing_dirs(&mut findings),
        false => Vec::new(),
    };
    output::written(if args.json {
        #[derive(Serialize)]
        struct DoctorJson<'a> {
            schema: u32,
            findings: &'a [Finding],
        }
        output::print_json(&DoctorJson {
            schema: JSON_SCHEMA,
            findings: &findings,
        })
    } else {
        print_findings(&findings, &created, checked, args.fix)
    })?;
    Ok(if findings.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}

fn print_findings(
    findings: &[Finding],
    created: &[PathBuf],
    hosts: usize,
    fixing: bool,
) -> io::Result<()> {
    let mut out = io::stdout().lock();
    for dir in created {
        writeln!(out, "created {} (mode 0700)", text::path(dir))?;
    }
    for finding in findings {
        // Host names and paths come from the config: escaped, like every name from outside.
        let host = text::escape(finding.host.as_deref().unwrap_or("every host"));
        let severity = match finding.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(
            out,
            "{severity}  {host}  {}: {}",
            finding.code,
            text::escape(&finding.message)
        )?;
        if let Some(line) = &finding.suggestion {
            writeln!(out, "    in your ssh config: {line}")?;
        }
    }
    if findings.is_empty() {
        writeln!(
            out,
            "No problems found ({hosts} host(s) and the defaults checked)."
        )
    } else if fixing {
        writeln!(
            out,
            "{} problem(s) left: doctor never edits your ssh config; change the lines above.",
            findings.len()
        )
    } else {
        writeln!(out, "{} problem(s).", findings.len())
    }
}
