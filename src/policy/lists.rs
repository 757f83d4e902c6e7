//! User list files: `users_file: partners.csv` (or `.json`) on a connection entry. A list's
//! rows become user entries of that connection, read by the same code as `users:` items
//! (`parse::parse_user`) and checked with them in `assemble.rs`, so a list user obeys every
//! rule a YAML user does (email syntax, texts, metadata keys, onboarding against the mode,
//! duplicates across files and lists). This module owns what is particular to list files:
//! resolving the path against the policy file, the CSV header and cells (RFC 4180 quoting,
//! checked strictly, every problem at `file:row:column`), the JSON array, and reading each
//! file once however many connections name it.
//!
//! A CSV row (or JSON item) is turned into the located tree a YAML entry is ([`Node`]), each
//! cell at its row and column, so every later finding points at the cell.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::checks::suggest;
use super::diag::excerpt;
use super::parse::{self, ParsedPolicies};
use super::yaml::{self, Loc, Node, NodeKind, found_node};
use super::{Diagnostic, Diagnostics, Origin, PolicySource};

/// Why a list file could not be read.
pub(super) enum ReadError {
    /// Nothing at that path: reported at the `users_file` value.
    NotFound,
    /// Anything else, already located in the list file (and its text, for snippets).
    Problem(Diagnostic, Option<Arc<str>>),
}

/// Reads a list file's text (UTF-8, a byte-order mark allowed) by its resolved path.
pub(super) type Reader<'a> = dyn FnMut(&Path) -> Result<String, ReadError> + 'a;

/// The metadata columns: `user_metadata.KEY`, `app_metadata.KEY`.
const METADATA: [&str; 2] = ["user_metadata", "app_metadata"];

/// Where a user entry of a list says which connection it belongs to: nowhere.
const NO_CONNECTION_HINT: &str =
    "a list file's users belong to the connection whose `users_file` names the file: remove it";

/// A list file, read (its byte-order mark removed).
struct ListFile {
    file: Arc<str>,
    text: Arc<str>,
}

/// The user entries of a list file, each naming `connection` first as a YAML entry would,
/// every problem reported.
fn rows_of(
    file: &Arc<str>,
    text: &str,
    connection: &str,
    diagnostics: &mut Diagnostics,
) -> Vec<Node> {
    let is_json = Path::new(&**file)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        json_rows(file, text, diagnostics)
            .into_iter()
            .map(|row| with_connection(row, connection))
            .collect()
    } else {
        csv_rows(file, text, Some(connection), diagnostics)
    }
}

/// Adds the users of every connection's `users_file` to `parsed.users` and returns the list
/// files read (for digests and snippets). `root` is the policy directory when the policies
/// come from one: a list file must be inside it (so that a CI job triggered by changes
/// under it sees list changes too).
pub(super) fn expand(
    parsed: &mut ParsedPolicies,
    root: Option<&Path>,
    read: &mut Reader<'_>,
    diagnostics: &mut Diagnostics,
) -> Vec<PolicySource> {
    let mut read_files: BTreeMap<PathBuf, Option<ListFile>> = BTreeMap::new();
    let mut sources = Vec::new();
    let mut expanded_connections = BTreeSet::new();
    for entry in &parsed.connections {
        let located = &entry.located;
        let (name, users_file) = match &entry.value {
            Some(policy) => (Some(policy.name.as_str()), policy.users_file.as_deref()),
            None => (located.text("name"), located.text("users_file")),
        };
        let (Some(name), Some(users_file)) = (name, users_file) else {
            continue;
        };
        // A connection defined twice is reported by `assemble`; its second list is not read.
        if !expanded_connections.insert(name.to_string()) {
            continue;
        }
        let at = located.field("users_file");
        let Some(path) = resolve(&located.file, users_file, root, &at, diagnostics) else {
            continue;
        };
        // A list named by several connections is read from disk once; its rows are split
        // again for each (cheaper than holding a copy), its problems reported once.
        let first_use = !read_files.contains_key(&path);
        let mut again = Diagnostics::default();
        let rows = if first_use {
            let list = read_list(&path, &at, read, diagnostics);
            let rows = list.as_ref().map(|list| {
                sources.push(PolicySource {
                    file: Arc::clone(&list.file),
                    text: Arc::clone(&list.text),
                });
                rows_of(&list.file, &list.text, name, diagnostics)
            });
            read_files.insert(path.clone(), list);
            rows
        } else {
            match read_files.get(&path) {
                Some(Some(list)) => Some(rows_of(&list.file, &list.text, name, &mut again)),
                _ => None,
            }
        };
        let (Some(rows), Some(Some(list))) = (rows, read_files.get(&path)) else {
            continue;
        };
        let sink = if first_use {
            &mut *diagnostics
        } else {
            &mut again
        };
        // Each row is moved into its entry (it is where later findings point), not copied.
        parsed.users.reserve(rows.len());
        for row in rows {
            parsed.users.push(parse::parse_user(&list.file, row, sink));
        }
    }
    sources
}

/// The list file's path: relative to the policy file that names it, inside `root`.
fn resolve(
    policy_file: &str,
    users_file: &str,
    root: Option<&Path>,
    at: &Origin,
    diagnostics: &mut Diagnostics,
) -> Option<PathBuf> {
    let wanted = Path::new(users_file);
    let extension = wanted
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let problem = if users_file.trim().is_empty() {
        Some((
            "`users_file` is empty".to_string(),
            "name a .csv or .json file next to this policy file, e.g. `users_file: partners.csv`",
        ))
    } else if wanted.is_absolute() || users_file.starts_with(['/', '\\']) {
        Some((
            format!("`users_file` `{}` is an absolute path", excerpt(users_file)),
            "write the path relative to this policy file, e.g. `users_file: partners.csv`",
        ))
    } else if !matches!(extension.as_deref(), Some("csv" | "json")) {
        Some((
            format!(
                "`users_file` `{}` is neither a .csv nor a .json file",
                excerpt(users_file)
            ),
            "a user list is a CSV file with a header row (`.csv`) or a JSON array of users (`.json`)",
        ))
    } else {
        None
    };
    if let Some((message, hint)) = problem {
        diagnostics.push(Diagnostic::new(message, at.clone()).with_hint(hint));
        return None;
    }
    let base = Path::new(policy_file).parent().unwrap_or(Path::new(""));
    let path = normalize(&base.join(wanted));
    if let Some(root) = root {
        let root = normalize(root);
        if !path.starts_with(&root) {
            diagnostics.push(
                Diagnostic::new(
                    format!(
                        "`users_file` `{}` is outside the policy directory `{}`",
                        excerpt(users_file),
                        root.display()
                    ),
                    at.clone(),
                )
                .with_hint("keep user lists in the policy directory, so that every change to them is reviewed and planned with the policies"),
            );
            return None;
        }
    }
    Some(path)
}

/// `a/./b/../c` as `a/c`, without touching the file system.
pub(super) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn read_list(
    path: &Path,
    at: &Origin,
    read: &mut Reader<'_>,
    diagnostics: &mut Diagnostics,
) -> Option<ListFile> {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let text = match read(path) {
        Ok(text) => text,
        Err(ReadError::NotFound) => {
            diagnostics.push(
                Diagnostic::new(format!("the user list `{file}` does not exist"), at.clone())
                    .with_hint("the path is relative to this policy file; check its spelling"),
            );
            return None;
        }
        Err(ReadError::Problem(problem, text)) => {
            if let Some(text) = text {
                diagnostics.add_source(&problem.origin.file, &text);
            }
            diagnostics.push(problem);
            return None;
        }
    };
    let text: Arc<str> = match text.strip_prefix('\u{feff}') {
        Some(rest) => Arc::from(rest),
        None => Arc::from(text),
    };
    diagnostics.add_source(&file, &text);
    Some(ListFile { file, text })
}

/// A list entry with the connection it belongs to added, as a YAML entry names it.
fn with_connection(row: Node, connection: &str) -> Node {
    let mut node = row;
    if let NodeKind::Map(entries) = &mut node.kind {
        let key = Node {
            kind: NodeKind::Str("connection".into()),
            loc: node.loc,
        };
        let value = Node {
            kind: NodeKind::Str(connection.to_string()),
            loc: node.loc,
        };
        entries.insert(0, (key, value));
    }
    node
}

fn text_node(text: &str, loc: Loc) -> Node {
    Node {
        kind: NodeKind::Str(text.to_string()),
        loc,
    }
}

/// What a header cell means.
#[derive(Clone)]
enum Column {
    /// A field of the user entry (`email`, `name`, …).
    Field(String),
    /// `user_metadata.KEY` or `app_metadata.KEY`.
    Metadata(&'static str, String),
    /// A column with a problem (reported); its cells are ignored.
    Broken,
}

/// The user entries of a CSV list, every problem reported at its row and column; with
/// `connection`, each entry names it first (as [`with_connection`] would add it).
fn csv_rows(
    file: &Arc<str>,
    text: &str,
    connection: Option<&str>,
    diagnostics: &mut Diagnostics,
) -> Vec<Node> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut cursor = Cursor::default();
    let mut record = csv::StringRecord::new();
    let mut columns: Option<Vec<Column>> = None;
    let mut rows = Vec::new();
    let mut cells = Vec::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(error) => {
                // The text is UTF-8 and in memory: the reader has nothing else to fail on.
                let at = error.position().map_or(Loc::default(), |p| {
                    cursor.loc_of(text, usize::try_from(p.byte()).unwrap_or(usize::MAX))
                });
                diagnostics.push(
                    Diagnostic::new("this CSV row cannot be read", Origin::at(file, at))
                        .with_hint("save the list as CSV in UTF-8"),
                );
                break;
            }
        }
        // A record's position is where the previous one ended: before its line break (and
        // any blank lines, which the reader skips).
        let mut start = record
            .position()
            .map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX))
            .min(text.len());
        start += text.as_bytes()[start..]
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        let row_loc = cursor.loc_of(text, start);
        match scan_record(text, start, row_loc, &mut cells) {
            Ok(()) => {}
            Err((message, at, hint)) => {
                diagnostics.push(Diagnostic::new(message, Origin::at(file, at)).with_hint(hint));
                continue;
            }
        }
        if cells.len() != record.len() {
            // Only after a quoting problem the two readings could differ; be safe.
            diagnostics.push(Diagnostic::new(
                "this CSV row's cells cannot be told apart",
                Origin::at(file, row_loc),
            ));
            continue;
        }
        let Some(columns) = &columns else {
            columns = Some(header(file, &record, &cells, row_loc, diagnostics));
            continue;
        };
        if record.len() != columns.len() {
            diagnostics.push(
                Diagnostic::new(
                    format!(
                        "this row has {} cell{}, the header has {} column{}",
                        record.len(),
                        if record.len() == 1 { "" } else { "s" },
                        columns.len(),
                        if columns.len() == 1 { "" } else { "s" }
                    ),
                    Origin::at(file, row_loc),
                )
                .with_hint("every row needs one cell per header column (an empty cell sets nothing); quote cells holding a `,`"),
            );
            continue;
        }
        if let Some(row) = csv_row(
            file,
            &record,
            &cells,
            columns,
            row_loc,
            connection,
            diagnostics,
        ) {
            rows.push(row);
        }
    }
    if columns.is_none() {
        diagnostics.push(
            Diagnostic::new("this user list is empty", Origin::file(file)).with_hint(
                "start it with a header row naming the columns, e.g. `email,name,onboarding`",
            ),
        );
    }
    rows
}

/// The header row's columns, each unknown or repeated one reported.
fn header(
    file: &Arc<str>,
    record: &csv::StringRecord,
    cells: &[Loc],
    row_loc: Loc,
    diagnostics: &mut Diagnostics,
) -> Vec<Column> {
    let fields: Vec<&str> = parse::user_fields()
        .iter()
        .copied()
        .filter(|f| *f != "connection")
        .collect();
    let mut known: Vec<String> = fields
        .iter()
        .filter(|f| !METADATA.contains(f))
        .map(|f| (*f).to_string())
        .collect();
    known.extend(METADATA.iter().map(|m| format!("{m}.KEY")));
    let mut seen: BTreeMap<&str, Loc> = BTreeMap::new();
    let mut columns = Vec::new();
    for (name, &loc) in record.iter().zip(cells) {
        let origin = Origin::at(file, loc);
        if let Some(first) = seen.get(name) {
            diagnostics.push(
                Diagnostic::new(
                    format!("column `{}` appears twice in the header", excerpt(name)),
                    origin,
                )
                .with_related("first here", Origin::at(file, *first))
                .with_hint("keep one of the two columns"),
            );
            columns.push(Column::Broken);
            continue;
        }
        seen.insert(name, loc);
        let metadata = name.split_once('.').and_then(|(prefix, key)| {
            METADATA
                .iter()
                .find(|m| **m == prefix)
                .map(|m| (*m, key.to_string()))
        });
        let column = match metadata {
            Some((field, key)) if key.is_empty() => {
                diagnostics.push(
                    Diagnostic::new(format!("column `{name}` names no key"), origin)
                        .with_hint(format!("name the key after the dot, e.g. `{field}.team`")),
                );
                Column::Broken
            }
            Some((field, key)) => Column::Metadata(field, key),
            None if name == "connection" => {
                diagnostics.push(
                    Diagnostic::new("a user list has no `connection` column", origin)
                        .with_hint(NO_CONNECTION_HINT),
                );
                Column::Broken
            }
            None if fields.contains(&name) && !METADATA.contains(&name) => {
                Column::Field(name.to_string())
            }
            None => {
                let shown = if name.trim().is_empty() {
                    "a column without a name".to_string()
                } else {
                    format!("unknown column `{}`", excerpt(name))
                };
                let mut diagnostic = Diagnostic::new(
                    format!(
                        "{shown}, expected {}",
                        yaml::one_of(&known.iter().map(String::as_str).collect::<Vec<_>>())
                    ),
                    origin,
                );
                let candidates = known.iter().map(String::as_str);
                diagnostic = match suggest(name, candidates) {
                    Some(suggestion) => {
                        diagnostic.with_hint(format!("did you mean `{suggestion}`?"))
                    }
                    None if METADATA.contains(&name) => diagnostic.with_hint(format!(
                        "one column per key: `{name}.KEY`, e.g. `{name}.team`"
                    )),
                    None => diagnostic.with_hint(
                        "metadata columns are named `user_metadata.KEY` or `app_metadata.KEY`",
                    ),
                };
                diagnostics.push(diagnostic);
                Column::Broken
            }
        };
        columns.push(column);
    }
    if !columns
        .iter()
        .any(|c| matches!(c, Column::Field(f) if f == "email"))
        && !seen.contains_key("email")
    {
        diagnostics.push(
            Diagnostic::new(
                "the header has no `email` column",
                Origin::at(file, row_loc),
            )
            .with_hint("the first row names the columns, e.g. `email,name,onboarding`"),
        );
    }
    columns
}

/// One data row as a user entry (naming `connection` first, when given); `None` (reported)
/// when it has no email.
fn csv_row(
    file: &Arc<str>,
    record: &csv::StringRecord,
    cells: &[Loc],
    columns: &[Column],
    row_loc: Loc,
    connection: Option<&str>,
    diagnostics: &mut Diagnostics,
) -> Option<Node> {
    // Each mapping is allocated once at its size (a row's tree is kept for its entry).
    let mut fields = 0;
    let mut metadata_keys = [0; 2];
    for (value, column) in record.iter().zip(columns) {
        match column {
            _ if value.is_empty() => {}
            Column::Field(_) => fields += 1,
            Column::Metadata(field, _) => {
                metadata_keys[usize::from(*field == "user_metadata")] += 1;
            }
            Column::Broken => {}
        }
    }
    let blocks = metadata_keys.iter().filter(|n| **n > 0).count();
    let mut entries: Vec<(Node, Node)> =
        Vec::with_capacity(usize::from(connection.is_some()) + fields + blocks);
    if let Some(connection) = connection {
        entries.push((
            text_node("connection", row_loc),
            text_node(connection, row_loc),
        ));
    }
    let has_connection = entries.len();
    // `app_metadata` and `user_metadata` keys, in that order (as a sorted map would give).
    let mut metadata: [(&'static str, Vec<(Node, Node)>); 2] = [
        ("app_metadata", Vec::with_capacity(metadata_keys[0])),
        ("user_metadata", Vec::with_capacity(metadata_keys[1])),
    ];
    let mut has_email = false;
    for ((value, &loc), column) in record.iter().zip(cells).zip(columns) {
        // An empty cell sets nothing, as a missing key does.
        if value.is_empty() {
            continue;
        }
        match column {
            Column::Field(field) => {
                has_email |= field == "email";
                entries.push((text_node(field, loc), text_node(value, loc)));
            }
            Column::Metadata(field, key) => {
                if let Some((_, keys)) = metadata.iter_mut().find(|(f, _)| f == field) {
                    keys.push((text_node(key, loc), text_node(value, loc)));
                }
            }
            Column::Broken => {}
        }
    }
    if !has_email {
        // An empty row (only separators) is no user and no problem.
        if entries.len() == has_connection && metadata.iter().all(|(_, keys)| keys.is_empty()) {
            return None;
        }
        if columns
            .iter()
            .any(|c| matches!(c, Column::Field(f) if f == "email"))
        {
            diagnostics.push(
                Diagnostic::new("this row has no email", Origin::at(file, row_loc))
                    .with_hint("every user needs an address in the `email` column"),
            );
        }
        return None;
    }
    for (field, keys) in metadata {
        let Some(loc) = keys.first().map(|(key, _)| key.loc) else {
            continue;
        };
        entries.push((
            text_node(field, loc),
            Node {
                kind: NodeKind::Map(keys),
                loc,
            },
        ));
    }
    Some(Node {
        kind: NodeKind::Map(entries),
        loc: row_loc,
    })
}

/// Turns byte offsets into line and column, moving forward only (records come in order).
#[derive(Default)]
struct Cursor {
    byte: usize,
    line: u32,
    line_start: usize,
}

impl Cursor {
    fn loc_of(&mut self, text: &str, byte: usize) -> Loc {
        let byte = byte.min(text.len());
        if self.line == 0 {
            self.line = 1;
        }
        if byte < self.byte {
            *self = Cursor::default();
            self.line = 1;
        }
        for (offset, b) in text.as_bytes()[self.byte..byte].iter().enumerate() {
            if *b == b'\n' {
                self.line += 1;
                self.line_start = self.byte + offset + 1;
            }
        }
        self.byte = byte;
        let column = text
            .get(self.line_start..byte)
            .map_or(1, |s| s.chars().count() + 1);
        Loc {
            line: self.line,
            column: u32::try_from(column).unwrap_or(u32::MAX),
        }
    }
}

/// Where each cell of the record starting at `start` begins, checking the quoting as
/// RFC 4180 has it: a cell is either unquoted, without any `"`, or wholly quoted, a `"`
/// inside it doubled. Returns what is wrong, where, and what to do.
fn scan_record(
    text: &str,
    start: usize,
    at: Loc,
    cells: &mut Vec<Loc>,
) -> Result<(), (String, Loc, &'static str)> {
    let mut line = at.line;
    let mut column = at.column;
    cells.clear();
    cells.push(Loc { line, column });
    // Bytes, not characters: every byte the scan looks for is ASCII, and a character's
    // other bytes (UTF-8 continuation bytes) count for no column of their own.
    let bytes = text.as_bytes().get(start..).unwrap_or_default();
    let mut next = 0;
    // Whether the current cell is quoted, and where its quote opened.
    let mut quoted: Option<Loc> = None;
    let mut cell_empty = true;
    let mut after_closing_quote = false;
    while let Some(&c) = bytes.get(next) {
        next += 1;
        if c & 0xC0 == 0x80 {
            continue;
        }
        let here = Loc { line, column };
        if c == b'\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
        if quoted.is_some() {
            if c == b'"' {
                if bytes.get(next) == Some(&b'"') {
                    next += 1;
                    column += 1;
                } else {
                    quoted = None;
                    after_closing_quote = true;
                }
            }
            continue;
        }
        match c {
            b',' => {
                cells.push(Loc { line, column });
                cell_empty = true;
                after_closing_quote = false;
            }
            b'\n' => break,
            b'\r' if bytes.get(next) == Some(&b'\n') => {}
            b'"' if cell_empty && !after_closing_quote => {
                quoted = Some(here);
                cell_empty = false;
            }
            b'"' => {
                return Err((
                    "a `\"` inside a cell that does not start with one".into(),
                    here,
                    "quote the whole cell and double the quotes inside it: `\"say \"\"hi\"\"\"`",
                ));
            }
            _ if after_closing_quote => {
                return Err((
                    "text after the closing `\"` of a quoted cell".into(),
                    here,
                    "put the whole cell inside the quotes, or double a `\"` that is part of the text",
                ));
            }
            _ => cell_empty = false,
        }
    }
    if let Some(opened) = quoted {
        return Err((
            "this `\"` opens a quoted cell that is never closed".into(),
            opened,
            "close the quote; a `\"` inside a quoted cell is written twice (`\"\"`); the rest of the file was read as this one cell",
        ));
    }
    Ok(())
}

/// The user entries of a JSON list: an array of objects, located at line:column.
fn json_rows(file: &Arc<str>, text: &str, diagnostics: &mut Diagnostics) -> Vec<Node> {
    // serde_json knows JSON's syntax best; the located tree comes from the YAML reader
    // (JSON is YAML), which every policy entry is read from.
    if let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        let message = error.to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m);
        let loc = Loc {
            line: u32::try_from(error.line().max(1)).unwrap_or(u32::MAX),
            column: u32::try_from(error.column().max(1)).unwrap_or(u32::MAX),
        };
        diagnostics.push(
            Diagnostic::new(format!("invalid JSON: {message}"), Origin::at(file, loc))
                .with_hint("fix the syntax; the rest of this file was not checked"),
        );
        return Vec::new();
    }
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err(error) => {
            diagnostics.push(
                Diagnostic::new(
                    format!("this JSON cannot be read: {}", error.message),
                    Origin::at(file, error.loc),
                )
                .with_hint("the rest of this file was not checked"),
            );
            return Vec::new();
        }
    };
    if !matches!(root.kind, NodeKind::Seq(_)) {
        diagnostics.push(
            Diagnostic::new(
                format!(
                    "a JSON user list must be an array of users, found {}",
                    found_node(&root)
                ),
                Origin::at(file, root.loc),
            )
            .with_hint(
                r#"write it as `[{"email": "alice@partner.example", "name": "Alice Doe"}, …]`"#,
            ),
        );
        return Vec::new();
    }
    let NodeKind::Seq(items) = root.kind else {
        return Vec::new();
    };
    let mut rows = Vec::with_capacity(items.len());
    for mut item in items {
        if let NodeKind::Map(entries) = &mut item.kind
            && let Some(index) = entries
                .iter()
                .position(|(k, _)| matches!(&k.kind, NodeKind::Str(s) if s == "connection"))
        {
            let (key, _) = entries.remove(index);
            diagnostics.push(
                Diagnostic::new(
                    "a user of a user list has no `connection`",
                    Origin::at(file, key.loc),
                )
                .with_hint(NO_CONNECTION_HINT),
            );
            continue;
        }
        rows.push(item);
    }
    rows
}

/// An entry of a list, for the pure loader's tests.
#[cfg(test)]
pub(super) fn rows_of_csv(text: &str) -> (Vec<Node>, Diagnostics) {
    let mut diagnostics = Diagnostics::default();
    let rows = csv_rows(&Arc::from("l.csv"), text, None, &mut diagnostics);
    (rows, diagnostics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        let (_, diagnostics) = rows_of_csv(text);
        diagnostics
            .items
            .iter()
            .map(|d| format!("{} {}", d.origin, d.message))
            .collect()
    }

    #[test]
    fn cells_are_located_at_their_row_and_column() {
        let (rows, diagnostics) = rows_of_csv(
            "email,name,user_metadata.team\r\na@x.example,\"Doe, A\",blue\n\nb@x.example,,\n",
        );
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].loc, Loc { line: 2, column: 1 });
        assert_eq!(
            rows[0].get("name").unwrap().loc,
            Loc {
                line: 2,
                column: 13
            }
        );
        assert_eq!(
            rows[0].get("name").unwrap().kind,
            NodeKind::Str("Doe, A".into())
        );
        let team = rows[0].get("user_metadata").unwrap().get("team").unwrap();
        assert_eq!(
            team.loc,
            Loc {
                line: 2,
                column: 22
            }
        );
        assert_eq!(rows[1].loc, Loc { line: 4, column: 1 });
        assert!(rows[1].get("name").is_none());
    }

    #[test]
    fn quoting_is_checked_strictly() {
        assert_eq!(
            problems(
                "email,name\na@x.example,Jo \"Jo\" Doe\nb@x.example,\"Bo\"b\nc@x.example,\"open\n"
            ),
            [
                "l.csv:2:16 a `\"` inside a cell that does not start with one",
                "l.csv:3:17 text after the closing `\"` of a quoted cell",
                "l.csv:4:13 this `\"` opens a quoted cell that is never closed",
            ]
        );
        // A quoted cell may hold separators, line breaks and doubled quotes.
        let (rows, diagnostics) =
            rows_of_csv("email,name\na@x.example,\"say \"\"hi\"\",\nthere\"\nb@x.example,B\n");
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(
            rows[0].get("name").unwrap().kind,
            NodeKind::Str("say \"hi\",\nthere".into())
        );
        assert_eq!(rows[1].loc, Loc { line: 4, column: 1 });
    }

    #[test]
    fn header_problems_are_named() {
        assert_eq!(
            problems("emial,name,name,user_metadata.,connection\n"),
            [
                "l.csv:1:1 unknown column `emial`, expected one of `email`, `name`, `given_name`, `family_name`, `email_verification`, `onboarding`, `user_metadata.KEY`, `app_metadata.KEY`",
                "l.csv:1:12 column `name` appears twice in the header",
                "l.csv:1:17 column `user_metadata.` names no key",
                "l.csv:1:32 a user list has no `connection` column",
                "l.csv:1:1 the header has no `email` column",
            ]
        );
        assert_eq!(
            problems("email\na@x.example,extra\n"),
            ["l.csv:2:1 this row has 2 cells, the header has 1 column"]
        );
        assert_eq!(problems(""), ["l.csv this user list is empty"]);
    }

    #[test]
    fn the_csv_columns_are_the_user_fields() {
        let fields: Vec<&str> = parse::user_fields().to_vec();
        assert_eq!(fields[0], "connection");
        for metadata in METADATA {
            assert!(fields.contains(&metadata));
        }
    }

    #[test]
    fn paths_are_normalized_and_kept_inside_the_policy_directory() {
        let mut diagnostics = Diagnostics::default();
        let at = Origin::file(&Arc::from("p/a.yaml"));
        let root = Path::new("p");
        assert_eq!(
            resolve(
                "p/sub/a.yaml",
                "../lists/./x.csv",
                Some(root),
                &at,
                &mut diagnostics
            ),
            Some(PathBuf::from("p/lists/x.csv"))
        );
        assert_eq!(
            resolve("p/a.yaml", "../x.csv", Some(root), &at, &mut diagnostics),
            None
        );
        assert_eq!(
            resolve("p/a.yaml", "/etc/x.csv", Some(root), &at, &mut diagnostics),
            None
        );
        assert_eq!(
            resolve("p/a.yaml", "x.txt", Some(root), &at, &mut diagnostics),
            None
        );
        let messages: Vec<&str> = diagnostics
            .items
            .iter()
            .map(|d| d.message.as_str())
            .collect();
        assert_eq!(
            messages,
            [
                "`users_file` `../x.csv` is outside the policy directory `p`",
                "`users_file` `/etc/x.csv` is an absolute path",
                "`users_file` `x.txt` is neither a .csv nor a .json file",
            ]
        );
    }
}
