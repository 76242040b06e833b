//! The documentation as the tests read it: the README and docs/, whose reference documents the
//! contract's closed sets, held to the code's definitions.

/// Every page a user reads, by its path in the clone: the README and each of docs/.
pub const DOCS: [(&str, &str); 11] = [
    ("README.md", include_str!("../README.md")),
    ("docs/install.md", include_str!("../docs/install.md")),
    ("docs/shells.md", include_str!("../docs/shells.md")),
    ("docs/watch.md", include_str!("../docs/watch.md")),
    ("docs/prompt.md", include_str!("../docs/prompt.md")),
    (
        "docs/troubleshooting.md",
        include_str!("../docs/troubleshooting.md"),
    ),
    ("docs/reference.md", include_str!("../docs/reference.md")),
    ("docs/limits.md", include_str!("../docs/limits.md")),
    (
        "docs/openssh-versions.md",
        include_str!("../docs/openssh-versions.md"),
    ),
    ("docs/testing.md", include_str!("../docs/testing.md")),
    ("docs/benchmarks.md", include_str!("../docs/benchmarks.md")),
];

/// Everything a user reads, as one text: the pages of [`DOCS`], in that order (a test keeps the
/// two lists the same, and every page of docs/ in them).
pub const README: &str = concat!(
    include_str!("../README.md"),
    "\n",
    include_str!("../docs/install.md"),
    "\n",
    include_str!("../docs/shells.md"),
    "\n",
    include_str!("../docs/watch.md"),
    "\n",
    include_str!("../docs/prompt.md"),
    "\n",
    include_str!("../docs/troubleshooting.md"),
    "\n",
    include_str!("../docs/reference.md"),
    "\n",
    include_str!("../docs/limits.md"),
    "\n",
    include_str!("../docs/openssh-versions.md"),
    "\n",
    include_str!("../docs/testing.md"),
    "\n",
    include_str!("../docs/benchmarks.md"),
);

/// The one page that has `heading` as a whole line.
fn page_with(heading: &str) -> &'static str {
    let mut pages = DOCS
        .iter()
        .filter(|(_, text)| text.lines().any(|line| line.trim_end() == heading));
    let (path, text) = pages
        .next()
        .unwrap_or_else(|| panic!("the documentation has no heading {heading}"));
    if let Some((other, _)) = pages.next() {
        panic!("both {path} and {other} have the heading {heading}");
    }
    text
}

/// The text under `heading` (a whole line, such as `### JSON`) in the page that has it, up to
/// the next heading of the same level or above (a `#` line in a code block is no heading).
pub fn section(heading: &str) -> &'static str {
    let page = page_with(heading);
    let level = heading_level(heading);
    let (mut offset, mut start, mut in_code) = (0, None, false);
    for line in page.split_inclusive('\n') {
        let text = line.trim_end();
        in_code ^= text.starts_with("```");
        match start {
            None if text == heading => start = Some(offset + line.len()),
            Some(from) if !in_code && (1..=level).contains(&heading_level(text)) => {
                return &page[from..offset];
            }
            _ => {}
        }
        offset += line.len();
    }
    let from = start.unwrap_or_else(|| panic!("the documentation has no heading {heading}"));
    &page[from..]
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
        .unwrap_or_else(|| panic!("the documentation has a table under {heading}"));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every page of docs/ is in [`DOCS`] and in [`README`], so that none escapes the checks.
    #[test]
    fn every_page_of_docs_is_read() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        let mut pages: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".md"))
            .map(|name| format!("docs/{name}"))
            .collect();
        pages.push("README.md".into());
        pages.sort();
        let mut listed: Vec<String> = DOCS.iter().map(|(path, _)| path.to_string()).collect();
        listed.sort();
        assert_eq!(
            listed, pages,
            "DOCS lists the README and every page of docs/"
        );
        let joined: Vec<&str> = DOCS.iter().map(|(_, text)| *text).collect();
        assert_eq!(
            README,
            joined.join("\n"),
            "README is the pages of DOCS, in order"
        );
    }
}
