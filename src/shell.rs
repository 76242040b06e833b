//! The shell integration: the scripts in shell/, embedded so that sourcing those files and
//! evaluating `muxguard init SHELL` are the same thing, and the variables they read.

#[cfg(test)]
use crate::support::environment::{DISABLE, SWEEP_INTERVAL, WRAP_TOOLS};

pub const BASH: &str = include_str!("../shell/muxguard.bash");
pub const ZSH: &str = include_str!("../shell/muxguard.zsh");
pub const FISH: &str = include_str!("../shell/muxguard.fish");

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
