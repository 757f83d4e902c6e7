//! Located diagnostics for policy files: what is wrong, where (file:line:col), and what to
//! do about it, rendered with a source snippet like a compiler would.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use crate::policy::yaml::Loc;

/// A place in a policy file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    /// The file's path as the user named it (e.g. `policies/partners.yaml`).
    pub file: Arc<str>,
    /// Line and column; `None` when the problem concerns the whole file.
    pub loc: Option<Loc>,
}

impl Origin {
    pub fn at(file: &Arc<str>, loc: Loc) -> Origin {
        Origin {
            file: Arc::clone(file),
            loc: Some(loc),
        }
    }

    pub fn file(file: &Arc<str>) -> Origin {
        Origin {
            file: Arc::clone(file),
            loc: None,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.loc {
            Some(loc) => write!(f, "{}:{}:{}", self.file, loc.line, loc.column),
            None => f.write_str(&self.file),
        }
    }
}

/// One problem found in the policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    pub origin: Origin,
    /// Other places that explain the problem ("first defined here").
    pub related: Vec<(String, Origin)>,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>, origin: Origin) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            origin,
            related: Vec::new(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_related(mut self, note: impl Into<String>, origin: Origin) -> Diagnostic {
        self.related.push((note.into(), origin));
        self
    }
}

/// Every problem of every policy file, with the sources needed to show snippets.
///
/// Output stays bounded whatever the input: each file keeps at most
/// [`Diagnostics::MAX_KEPT_PER_FILE`] problems in memory (the rest are only counted), the
/// printers show at most [`Diagnostics::MAX_SHOWN_PER_FILE`] per file and summarise the
/// rest ("… and N more problems in FILE"), and a snippet shows a window of at most
/// [`SNIPPET_WIDTH`] characters around the column, however long the line.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
    sources: BTreeMap<Arc<str>, Arc<str>>,
    /// Problems kept per file, and problems counted but not kept.
    kept: BTreeMap<Arc<str>, usize>,
    dropped: BTreeMap<Arc<str>, usize>,
}

/// The widest source excerpt a snippet shows, in characters.
pub const SNIPPET_WIDTH: usize = 100;

impl Diagnostics {
    /// Problems of one file shown by the printers; the rest are summarised in one line.
    pub const MAX_SHOWN_PER_FILE: usize = 50;
    /// Problems of one file kept in memory; the rest are only counted.
    pub const MAX_KEPT_PER_FILE: usize = 1_000;

    /// Diagnostics without source texts (their snippets are not shown).
    pub fn from_items(items: Vec<Diagnostic>) -> Diagnostics {
        let mut diagnostics = Diagnostics::default();
        diagnostics.extend(items);
        diagnostics
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        let file = &diagnostic.origin.file;
        let kept = self.kept.entry(Arc::clone(file)).or_insert(0);
        if *kept >= Diagnostics::MAX_KEPT_PER_FILE {
            *self.dropped.entry(Arc::clone(file)).or_insert(0) += 1;
            return;
        }
        *kept += 1;
        self.items.push(diagnostic);
    }

    pub fn extend(&mut self, diagnostics: impl IntoIterator<Item = Diagnostic>) {
        for diagnostic in diagnostics {
            self.push(diagnostic);
        }
    }

    /// Adds another set of diagnostics (and their sources) to this one.
    pub fn merge(&mut self, other: Diagnostics) {
        for (file, text) in other.sources {
            self.sources.entry(file).or_insert(text);
        }
        for (file, count) in other.dropped {
            *self.dropped.entry(file).or_insert(0) += count;
        }
        self.extend(other.items);
    }

    pub fn add_source(&mut self, file: &Arc<str>, text: &Arc<str>) {
        self.sources.insert(Arc::clone(file), Arc::clone(text));
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every problem found, including those counted but not kept.
    pub fn len(&self) -> usize {
        self.items.len() + self.dropped.values().sum::<usize>()
    }

    /// Sorts by file, then position, so output is stable whatever order checks ran in.
    pub fn sort(&mut self) {
        self.items
            .sort_by(|a, b| (&a.origin, &a.message).cmp(&(&b.origin, &b.message)));
        // The same finding twice (a list file's row checked for two connections) is one.
        self.items.dedup();
    }

    /// The items to print, in order, each file's run cut at [`Self::MAX_SHOWN_PER_FILE`]:
    /// `Shown(item)` or, once per file after its last shown item, `More(file, count)`.
    fn shown(&self) -> Vec<Shown<'_>> {
        let mut out = Vec::new();
        let mut index = 0;
        let items = &self.items;
        while index < items.len() {
            let file = &items[index].origin.file;
            let run = items[index..]
                .iter()
                .take_while(|d| d.origin.file == *file)
                .count();
            out.extend(
                items[index..index + run.min(Diagnostics::MAX_SHOWN_PER_FILE)]
                    .iter()
                    .map(Shown::Item),
            );
            let more = run.saturating_sub(Diagnostics::MAX_SHOWN_PER_FILE)
                + self.dropped.get(file).copied().unwrap_or(0);
            if more > 0 {
                out.push(Shown::More(file, more));
            }
            index += run;
        }
        // Files whose every problem was dropped (possible only through `merge`).
        for (file, &count) in &self.dropped {
            if !items.iter().any(|d| d.origin.file == *file) {
                out.push(Shown::More(file, count));
            }
        }
        out
    }

    /// Human-readable rendering with source snippets, one block per problem.
    pub fn render_human(&self) -> String {
        let mut out = String::new();
        let mut indexes: BTreeMap<&Arc<str>, LineIndex> = BTreeMap::new();
        for shown in self.shown() {
            match shown {
                Shown::Item(diagnostic) => {
                    self.render_one(&mut out, diagnostic, &mut indexes);
                }
                Shown::More(file, count) => {
                    let _ = writeln!(
                        out,
                        "error: … and {count} more problem{} in {file}\n   = hint: fix the problems above and run `verifyctl validate` again to see the rest",
                        plural(count)
                    );
                }
            }
            out.push('\n');
        }
        let count = self.len();
        let _ = writeln!(
            out,
            "error: found {count} problem{} in the policies; nothing was sent to the tenant",
            plural(count)
        );
        out
    }

    /// GitHub Actions workflow commands, one line per problem, which GitHub shows as
    /// annotations on the pull request's files:
    /// `::error file=PATH,line=L,col=C::MESSAGE (hint: HINT)`. `line`/`col` are left out
    /// when the problem concerns the whole file; related places follow the message as
    /// `note:` lines (escaped newlines, so still one line). Values are escaped as GitHub's
    /// workflow-command parser expects: `%`, `\r` and `\n` in the message, and also `:` and
    /// `,` in properties. Like the human rendering, at most
    /// [`Diagnostics::MAX_SHOWN_PER_FILE`] problems per file, then one summary line.
    pub fn render_github(&self) -> String {
        let mut out = String::new();
        for shown in self.shown() {
            let diagnostic = match shown {
                Shown::Item(diagnostic) => diagnostic,
                Shown::More(file, count) => {
                    let _ = writeln!(
                        out,
                        "::error file={}::{}",
                        escape_property(file),
                        escape_data(&format!(
                            "… and {count} more problem{} in {file} (run `verifyctl validate` to see them)",
                            plural(count)
                        ))
                    );
                    continue;
                }
            };
            let origin = &diagnostic.origin;
            let mut properties = format!("file={}", escape_property(&origin.file));
            if let Some(loc) = origin.loc {
                let _ = write!(properties, ",line={},col={}", loc.line, loc.column);
            }
            let mut message = diagnostic.message.clone();
            if let Some(hint) = &diagnostic.hint {
                let _ = write!(message, " (hint: {hint})");
            }
            for (note, origin) in &diagnostic.related {
                let _ = write!(message, "\nnote: {note} at {origin}");
            }
            let _ = writeln!(out, "::error {properties}::{}", escape_data(&message));
        }
        out
    }

    fn render_one<'a>(
        &'a self,
        out: &mut String,
        diagnostic: &Diagnostic,
        indexes: &mut BTreeMap<&'a Arc<str>, LineIndex>,
    ) {
        let _ = writeln!(out, "error: {}", diagnostic.message);
        let _ = writeln!(out, "  --> {}", diagnostic.origin);
        if let Some(loc) = diagnostic.origin.loc
            && let Some((file, text)) = self.sources.get_key_value(&diagnostic.origin.file)
            && let Some((line_text, at)) = indexes
                .entry(file)
                .or_insert_with(|| LineIndex::new(text))
                .locate(text, loc.line, loc.column)
        {
            let (excerpt, caret_pad) = snippet_window(line_text, at);
            let number = loc.line.to_string();
            let gutter = " ".repeat(number.len());
            let _ = writeln!(out, "{gutter} |");
            let _ = writeln!(out, "{number} | {excerpt}");
            let _ = writeln!(out, "{gutter} | {caret_pad}^");
        }
        for (note, origin) in &diagnostic.related {
            let _ = writeln!(out, "   = note: {note} at {origin}");
        }
        if let Some(hint) = &diagnostic.hint {
            let _ = writeln!(out, "   = hint: {hint}");
        }
    }
}

enum Shown<'a> {
    Item(&'a Diagnostic),
    More(&'a Arc<str>, usize),
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// Where each line of a text starts, computed once per file so that finding the line of a
/// problem is a lookup, not a scan from the start of the file. Columns count characters, so
/// finding one means walking its line; a cursor remembers the last position found, and since
/// problems are rendered in order, a file's lines are walked once in all.
#[derive(Debug)]
pub struct LineIndex {
    starts: Vec<usize>,
    /// The last (line, column) found and its byte offset in the text.
    cursor: (u32, usize, usize),
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex {
            starts,
            cursor: (0, 0, 0),
        }
    }

    /// Line `line` (1-based) of `text`, without its line break.
    pub fn line<'t>(&self, text: &'t str, line: u32) -> Option<&'t str> {
        let (start, end) = self.bounds(text, line)?;
        Some(&text[start..end])
    }

    fn bounds(&self, text: &str, line: u32) -> Option<(usize, usize)> {
        let index = usize::try_from(line.checked_sub(1)?).ok()?;
        let start = *self.starts.get(index)?;
        let end = self
            .starts
            .get(index + 1)
            .map_or(text.len(), |next| next - 1);
        let end = if text.get(start..end)?.ends_with('\r') {
            end - 1
        } else {
            end
        };
        Some((start, end))
    }

    /// Line `line` of `text` and the byte offset in it of character `column` (1-based; the
    /// line's end when the line is shorter).
    pub fn locate<'t>(
        &mut self,
        text: &'t str,
        line: u32,
        column: u32,
    ) -> Option<(&'t str, usize)> {
        let (start, end) = self.bounds(text, line)?;
        let target = (column.max(1) - 1) as usize;
        let (from_column, from_byte) = match self.cursor {
            (l, c, b) if l == line && c <= target => (c, b),
            _ => (0, start),
        };
        let mut byte = from_byte;
        let mut column_now = from_column;
        for c in text[from_byte..end].chars() {
            if column_now == target {
                break;
            }
            byte += c.len_utf8();
            column_now += 1;
        }
        self.cursor = (line, column_now, byte);
        Some((&text[start..end], byte - start))
    }
}

/// The part of a line a snippet shows, at most [`SNIPPET_WIDTH`] characters around the
/// character at byte `at`, with `…` where it was cut, and the padding that puts a caret under
/// it. Control characters are shown as `�` so that a policy file cannot drive the terminal.
fn snippet_window(line: &str, at: usize) -> (String, String) {
    let lead = SNIPPET_WIDTH * 2 / 5;
    let (before, after) = line.split_at(at);
    let mut lead_chars: Vec<char> = before.chars().rev().take(lead + 1).collect();
    let cut_at_start = lead_chars.len() > lead;
    lead_chars.truncate(lead);
    lead_chars.reverse();
    let mut excerpt = String::new();
    let mut pad = String::new();
    if cut_at_start {
        excerpt.push('…');
        pad.push(' ');
    }
    for &c in &lead_chars {
        excerpt.push(visible(c));
        pad.push(if c == '\t' { '\t' } else { ' ' });
    }
    let room = SNIPPET_WIDTH - lead_chars.len();
    let mut rest = after.chars();
    for c in rest.by_ref().take(room) {
        excerpt.push(visible(c));
    }
    if rest.next().is_some() {
        excerpt.push('…');
    }
    (excerpt, pad)
}

fn visible(c: char) -> char {
    if c.is_control() && c != '\t' {
        '\u{FFFD}'
    } else {
        c
    }
}

/// A user-supplied value as quoted in a message: at most 60 characters (then `…`), with
/// control characters escaped, so that a message stays one readable line whatever the file
/// holds.
pub fn excerpt(value: &str) -> String {
    const MAX: usize = 60;
    let mut out = String::new();
    for (count, c) in value.chars().enumerate() {
        if count == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Escapes a workflow command's message (GitHub's `escapeData`).
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value (GitHub's `escapeProperty`).
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_human())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_escapes_messages_and_properties() {
        assert_eq!(
            escape_data("100% sure\r\nnext: a,b"),
            "100%25 sure%0D%0Anext: a,b"
        );
        assert_eq!(
            escape_property("dir,x/a:b%\n.yaml"),
            "dir%2Cx/a%3Ab%25%0A.yaml"
        );
    }

    #[test]
    fn github_annotations_one_line_per_problem() {
        let file: Arc<str> = Arc::from("policies/odd, name: 100%.yaml");
        let other: Arc<str> = Arc::from("policies/b.yaml");
        let diagnostics = Diagnostics::from_items(vec![
            Diagnostic::new(
                "user `a@b.example` listed twice",
                Origin::at(&file, Loc { line: 3, column: 7 }),
            )
            .with_related(
                "first listed",
                Origin::at(&other, Loc { line: 2, column: 5 }),
            )
            .with_hint("remove one: 50% of them\nis enough"),
            Diagnostic::new("YAML: did not find expected node", Origin::file(&other)),
        ]);
        assert_eq!(
            diagnostics.render_github(),
            "::error file=policies/odd%2C name%3A 100%25.yaml,line=3,col=7::user `a@b.example` listed twice (hint: remove one: 50%25 of them%0Ais enough)%0Anote: first listed at policies/b.yaml:2:5\n\
             ::error file=policies/b.yaml::YAML: did not find expected node\n"
        );
    }

    #[test]
    fn github_annotations_of_nothing_are_empty() {
        assert_eq!(Diagnostics::default().render_github(), "");
    }

    #[test]
    fn renders_location_snippet_caret_notes_and_hint() {
        let file: Arc<str> = Arc::from("policies/users.yaml");
        let mut diagnostics = Diagnostics::default();
        diagnostics.add_source(
            &file,
            &Arc::from("users:\n  - connection: partner-db\n    email: bob\n"),
        );
        diagnostics.push(
            Diagnostic::new(
                "invalid email address `bob`",
                Origin::at(
                    &file,
                    Loc {
                        line: 3,
                        column: 12,
                    },
                ),
            )
            .with_related("the connection is defined", Origin::file(&file))
            .with_hint("write a full address such as bob@example.com"),
        );
        let rendered = diagnostics.render_human();
        assert_eq!(
            rendered,
            "error: invalid email address `bob`\n  --> policies/users.yaml:3:12\n  |\n3 |     email: bob\n  |            ^\n   = note: the connection is defined at policies/users.yaml\n   = hint: write a full address such as bob@example.com\n\nerror: found 1 problem in the policies; nothing was sent to the tenant\n"
        );
    }

    fn at(file: &Arc<str>, line: u32, column: u32) -> Origin {
        Origin::at(file, Loc { line, column })
    }

    #[test]
    fn line_index_finds_lines_without_their_breaks() {
        let text = "a: 1\r\nb: 2\n\nlast";
        let index = LineIndex::new(text);
        assert_eq!(index.line(text, 1), Some("a: 1"));
        assert_eq!(index.line(text, 2), Some("b: 2"));
        assert_eq!(index.line(text, 3), Some(""));
        assert_eq!(index.line(text, 4), Some("last"));
        assert_eq!(index.line(text, 5), None);
        assert_eq!(index.line(text, 0), None);
        let mut index = LineIndex::new("");
        assert_eq!(index.locate("", 1, 1), Some(("", 0)));
    }

    #[test]
    fn locate_counts_characters_and_stops_at_the_line_end() {
        let text = "é: [1, 2\nx";
        let mut index = LineIndex::new(text);
        assert_eq!(index.locate(text, 1, 4), Some(("é: [1, 2", 4)));
        // Asked in order, the cursor moves on; asked out of order, it starts again.
        assert_eq!(index.locate(text, 1, 5), Some(("é: [1, 2", 5)));
        assert_eq!(index.locate(text, 1, 2), Some(("é: [1, 2", 2)));
        assert_eq!(index.locate(text, 1, 99), Some(("é: [1, 2", 9)));
        assert_eq!(index.locate(text, 2, 1), Some(("x", 0)));
    }

    #[test]
    fn snippets_of_long_lines_show_a_window_around_the_column() {
        let file: Arc<str> = Arc::from("wide.yaml");
        let line = format!("users: [{}0]", "0, ".repeat(20_000));
        let mut diagnostics = Diagnostics::default();
        diagnostics.add_source(&file, &Arc::from(line.as_str()));
        diagnostics.push(Diagnostic::new("here", at(&file, 1, 30_001)));
        let rendered = diagnostics.render_human();
        let lines: Vec<&str> = rendered.lines().collect();
        let excerpt = lines[3].strip_prefix("1 | ").unwrap();
        assert!(
            excerpt.starts_with('…') && excerpt.ends_with('…'),
            "{excerpt}"
        );
        assert_eq!(excerpt.chars().count(), SNIPPET_WIDTH + 2);
        // The caret is under the character at the column.
        let caret = lines[4].strip_prefix("  | ").unwrap();
        let caret_at = caret.chars().count() - 1;
        assert_eq!(
            excerpt.chars().nth(caret_at),
            line.chars().nth(30_000),
            "{excerpt}\n{caret}"
        );
        assert!(rendered.len() < 1_000, "{} bytes", rendered.len());
    }

    #[test]
    fn short_lines_are_shown_whole_and_control_characters_are_neutralised() {
        let file: Arc<str> = Arc::from("a.yaml");
        let mut diagnostics = Diagnostics::default();
        diagnostics.add_source(&file, &Arc::from("a: \u{1b}[31mred\tx\r\n"));
        diagnostics.push(Diagnostic::new("here", at(&file, 1, 13)));
        let rendered = diagnostics.render_human();
        assert!(
            rendered.contains("1 | a: \u{FFFD}[31mred\tx\n"),
            "{rendered:?}"
        );
        assert!(rendered.contains("  |            \t^\n"), "{rendered:?}");
        assert!(!rendered.contains('\u{1b}'));
    }

    #[test]
    fn many_problems_are_summarised_per_file_and_counted() {
        let big: Arc<str> = Arc::from("big.yaml");
        let small: Arc<str> = Arc::from("small.yaml");
        let mut diagnostics = Diagnostics::default();
        diagnostics.add_source(&big, &Arc::from("users: [0]\n"));
        for column in 0..5_000 {
            diagnostics.push(Diagnostic::new("not a mapping", at(&big, 1, column + 1)));
        }
        diagnostics.push(Diagnostic::new("other", at(&small, 1, 1)));
        diagnostics.sort();
        assert_eq!(diagnostics.items.len(), Diagnostics::MAX_KEPT_PER_FILE + 1);
        assert_eq!(diagnostics.len(), 5_001);
        let human = diagnostics.render_human();
        assert_eq!(human.matches("error: not a mapping").count(), 50);
        assert!(
            human.contains("error: … and 4950 more problems in big.yaml\n"),
            "{human}"
        );
        assert!(human.contains("error: other"));
        assert!(human.ends_with(
            "error: found 5001 problems in the policies; nothing was sent to the tenant\n"
        ));
        let github = diagnostics.render_github();
        assert_eq!(github.lines().count(), 52);
        assert!(github.contains("::error file=big.yaml::… and 4950 more problems in big.yaml"));
    }

    #[test]
    fn excerpts_of_values_are_short_and_printable() {
        assert_eq!(excerpt("partner-db"), "partner-db");
        assert_eq!(excerpt("a\nb\u{1b}"), "a\\nb\\u{1b}");
        let long = "x".repeat(500);
        assert_eq!(excerpt(&long), format!("{}…", "x".repeat(60)));
    }
}
