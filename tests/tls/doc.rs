//! The configuration blocks of `docs/DEPLOY.md`, as the tests run them: each block is marked
//! `<!-- config: <section> <name> -->` before its ```toml fence. A test takes a block, changes
//! only its hosts (to the local endpoints), its file paths (to the test's certificates) and its
//! secrets (through the `RAPPORT_*_FILE` variables the block's comments name), and runs it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One block: its section (`kafka`, `registry`, `clickhouse`, `http`), name and text.
#[derive(Debug, Clone)]
pub struct Block {
    pub section: String,
    pub name: String,
    pub text: String,
}

impl Block {
    pub fn table(&self) -> toml::Table {
        toml::from_str(&self.text)
            .unwrap_or_else(|e| panic!("DEPLOY.md block {} {}: {e}", self.section, self.name))
    }

    /// The `RAPPORT_*_FILE` variables the block's comments name, with the secret file each
    /// points at (`/run/secrets/rapport/kafka-password`).
    pub fn secret_variables(&self) -> Vec<(String, String)> {
        let mut found = Vec::new();
        for word in self.text.split_whitespace() {
            if let Some((name, path)) = word.split_once('=')
                && name.starts_with("RAPPORT_")
                && name.ends_with("_FILE")
            {
                found.push((name.to_owned(), path.to_owned()));
            }
        }
        found
    }
}

pub fn deploy_md() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/DEPLOY.md")
}

/// Every marked block of `docs/DEPLOY.md`, in order.
pub fn blocks() -> Vec<Block> {
    let text = std::fs::read_to_string(deploy_md()).expect("docs/DEPLOY.md readable");
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(marker) = line
            .trim()
            .strip_prefix("<!-- config: ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        else {
            continue;
        };
        let (section, name) = marker
            .split_once(' ')
            .unwrap_or_else(|| panic!("DEPLOY.md marker {marker:?} needs a section and a name"));
        assert_eq!(
            lines.next().map(str::trim),
            Some("```toml"),
            "DEPLOY.md marker {marker:?} must be followed by a ```toml fence"
        );
        let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        blocks.push(Block {
            section: section.to_owned(),
            name: name.to_owned(),
            text: body.join("\n"),
        });
    }
    blocks
}

pub fn block(section: &str, name: &str) -> Block {
    blocks()
        .into_iter()
        .find(|b| b.section == section && b.name == name)
        .unwrap_or_else(|| panic!("docs/DEPLOY.md has no block `config: {section} {name}`"))
}

/// Sets `path` (dotted) in `table` to `value`; the key must already be in the block, so the
/// doc and the test cannot drift apart.
pub fn replace(table: &mut toml::Table, path: &str, value: impl Into<toml::Value>) {
    let mut keys: Vec<&str> = path.split('.').collect();
    let last = keys.pop().expect("a key");
    let mut current = table;
    for key in keys {
        current = current
            .get_mut(key)
            .and_then(toml::Value::as_table_mut)
            .unwrap_or_else(|| panic!("DEPLOY.md block has no [{key}] on the way to {path}"));
    }
    let slot = current
        .get_mut(last)
        .unwrap_or_else(|| panic!("DEPLOY.md block has no {path} to replace"));
    *slot = value.into();
}

/// Every string value in `table` that names a file under `/run/secrets/` (the mounted Secret),
/// replaced by the test's file of the same name from `files`; a name `files` lacks fails the test.
pub fn replace_secret_paths(table: &mut toml::Table, files: &BTreeMap<String, PathBuf>) {
    for (_, value) in table.iter_mut() {
        match value {
            toml::Value::Table(inner) => replace_secret_paths(inner, files),
            toml::Value::String(text) if text.starts_with("/run/secrets/") => {
                let local = local_file(text.as_str(), files);
                *text = local.display().to_string();
            }
            _ => {}
        }
    }
}

/// The test's stand-in for a file of the mounted Secret, found by its file name.
pub fn local_file(doc_path: &str, files: &BTreeMap<String, PathBuf>) -> PathBuf {
    let name = Path::new(doc_path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(doc_path);
    files
        .get(name)
        .unwrap_or_else(|| panic!("no test file stands in for {doc_path} of DEPLOY.md"))
        .clone()
}

/// `host:port` pairs of a comma-separated broker list, each replaced by `with`.
pub fn brokers_replaced(table: &toml::Table, with: &str) -> String {
    let listed = table["kafka"]["brokers"].as_str().expect("kafka.brokers");
    listed
        .split(',')
        .map(|_| with)
        .collect::<Vec<_>>()
        .join(",")
}

/// A URL's scheme and path kept, its host and port replaced by `authority`.
pub fn url_with_authority(url: &str, authority: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    format!("{scheme}://{authority}{path}")
}

/// Merges `from` into `into`, table by table (a later block adds sections and keys).
pub fn merge(into: &mut toml::Table, from: toml::Table) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(existing)), toml::Value::Table(added)) => {
                merge(existing, added)
            }
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}
