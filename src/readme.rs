//! The README as the tests read it: the documentation of the contract's closed sets, held to
//! the code's definitions.

pub const README: &str = include_str!("../README.md");

/// The text under `heading` (a whole line, such as `### JSON`), up to the next heading of the
/// same level or above (a `#` line in a code block is no heading).
pub fn section(heading: &str) -> &'static str {
    let level = heading_level(heading);
    let (mut offset, mut start, mut in_code) = (0, None, false);
    for line in README.split_inclusive('\n') {
        let text = line.trim_end();
        in_code ^= text.starts_with("```");
        match start {
            None if text == heading => start = Some(offset + line.len()),
            Some(from) if !in_code && (1..=level).contains(&heading_level(text)) => {
                return &README[from..offset];
            }
            _ => {}
        }
        offset += line.len();
    }
    let from = start.unwrap_or_else(|| panic!("the README has no heading {heading}"));
    &README[from..]
}

/// How many `#` begin a Markdown heading; 0 for any other line.
fn heading_level(line: &str) -> usize {
    let hashes = line.chars().take_while(|&c| c == '#').count();
    if line[hashes..].starts_with(' ') {
        hashes
    } else {
        0
    }
}

/// The first table under `heading`: its header row, then every row, each cell trimmed and
/// its code quotes taken off.
pub fn table(heading: &str) -> Vec<Vec<String>> {
    let table = section(heading)
        .split("\n\n")
        .map(|block| block.trim_start_matches('\n'))
        .find(|block| block.starts_with('|'))
        .unwrap_or_else(|| panic!("the README has a table under {heading}"));
    table
        .lines()
        .enumerate()
        .filter(|(index, _)| *index != 1)
        .map(|(_, row)| {
            let cells: Vec<&str> = row.split('|').collect();
            cells[1..cells.len() - 1]
                .iter()
                .map(|cell| cell.trim().trim_matches('`').to_string())
                .collect()
        })
        .collect()
}
