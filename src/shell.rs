//! The shell integration: the scripts in shell/, embedded so that sourcing those files and
//! evaluating `muxguard init SHELL` are the same thing, and the variables they read.

use crate::support::environment::Variable;

pub const BASH: &str = include_str!("../shell/muxguard.bash");
pub const ZSH: &str = include_str!("../shell/muxguard.zsh");
pub const FISH: &str = include_str!("../shell/muxguard.fish");

/// Read by the shell hooks, and by `muxguard ssh` for programs that call it directly.
pub const DISABLE: Variable = Variable {
    name: "MUXGUARD_DISABLE",
    meaning: "1 turns the shell hooks and muxguard ssh into plain ssh.",
};

pub const SWEEP_INTERVAL: Variable = Variable {
    name: "MUXGUARD_SWEEP_INTERVAL",
    meaning: "Seconds between the prompt hook's sweeps (default 60; 0 sweeps at every prompt; \
        off never sweeps).",
};

/// Read once, when the shell integration loads.
pub const WRAP_TOOLS: Variable = Variable {
    name: "MUXGUARD_WRAP_TOOLS",
    meaning: "1, when the shell integration loads, wraps scp, sftp and rsync too.",
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Each script reads every variable of the shell integration, as a value (not only in a
    /// comment).
    #[test]
    fn every_script_reads_its_variables() {
        for (shell, script) in [("bash", BASH), ("zsh", ZSH), ("fish", FISH)] {
            let code: String = script
                .lines()
                .filter(|line| !line.trim_start().starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n");
            for variable in [&DISABLE, &SWEEP_INTERVAL, &WRAP_TOOLS] {
                assert!(
                    code.contains(&format!("${{{}-", variable.name))
                        || code.contains(&format!("${}", variable.name)),
                    "the {shell} script does not read {}",
                    variable.name
                );
            }
        }
    }
}
