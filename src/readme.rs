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

    fn repo() -> &'static std::path::Path {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    /// CONTRIBUTING.md's map names every folder of src/, so a newcomer finds each room there.
    #[test]
    fn the_architecture_map_names_every_folder() {
        let contributing = std::fs::read_to_string(repo().join("CONTRIBUTING.md")).unwrap();
        let map = contributing
            .split_once("## Architecture")
            .expect("CONTRIBUTING.md has an Architecture section")
            .1;
        for entry in std::fs::read_dir(repo().join("src")).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                let name = entry.file_name().into_string().unwrap();
                let named = format!("- `src/{name}/`");
                assert!(
                    map.contains(&named),
                    "CONTRIBUTING.md's map does not name src/{name}/"
                );
            }
        }
    }

    /// The README stays a front page: short, with an example before the first screen ends.
    #[test]
    fn the_readme_is_short_and_shows_muxguard_early() {
        let readme = DOCS[0].1;
        assert!(
            readme.lines().count() < 200,
            "README.md is 200 lines or more"
        );
        let first_block = readme.lines().position(|line| line.starts_with("```"));
        assert!(
            first_block.is_some_and(|line| line < 60),
            "no example in the first 60 lines"
        );
    }

    /// The tree shows its rooms: few files at the top of src/, none too long to read.
    #[test]
    fn the_source_tree_keeps_its_shape() {
        fn files(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    files(&path, found);
                } else if path.extension().is_some_and(|ext| ext == "rs") {
                    found.push(path);
                }
            }
        }
        let src = repo().join("src");
        let mut all = Vec::new();
        files(&src, &mut all);
        let top = all
            .iter()
            .filter(|path| path.parent() == Some(&src))
            .count();
        assert!(top <= 8, "{top} .rs files at the top of src/");
        for path in all {
            let lines = std::fs::read_to_string(&path).unwrap().lines().count();
            assert!(lines <= 600, "{} has {lines} lines", path.display());
        }
    }
}
