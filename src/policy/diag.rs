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
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
    sources: BTreeMap<Arc<str>, Arc<str>>,
}

impl Diagnostics {
    /// Diagnostics without source texts (their snippets are not shown).
    pub fn from_items(items: Vec<Diagnostic>) -> Diagnostics {
        Diagnostics {
            items,
            sources: BTreeMap::new(),
        }
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn add_source(&mut self, file: &Arc<str>, text: &Arc<str>) {
        self.sources.insert(Arc::clone(file), Arc::clone(text));
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Sorts by file, then position, so output is stable whatever order checks ran in.
    pub fn sort(&mut self) {
        self.items
            .sort_by(|a, b| (&a.origin, &a.message).cmp(&(&b.origin, &b.message)));
    }

    /// Human-readable rendering with source snippets, one block per problem.
    pub fn render_human(&self) -> String {
        let mut out = String::new();
        for diagnostic in &self.items {
            self.render_one(&mut out, diagnostic);
            out.push('\n');
        }
        let count = self.items.len();
        let _ = writeln!(
            out,
            "error: found {count} problem{} in the policies; nothing was sent to the tenant",
            if count == 1 { "" } else { "s" }
        );
        out
    }

    /// GitHub Actions workflow commands, one line per problem, which GitHub shows as
    /// annotations on the pull request's files:
    /// `::error file=PATH,line=L,col=C::MESSAGE (hint: HINT)`. `line`/`col` are left out
    /// when the problem concerns the whole file; related places follow the message as
    /// `note:` lines (escaped newlines, so still one line). Values are escaped as GitHub's
    /// workflow-command parser expects: `%`, `\r` and `\n` in the message, and also `:` and
    /// `,` in properties.
    pub fn render_github(&self) -> String {
        let mut out = String::new();
        for diagnostic in &self.items {
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

    fn render_one(&self, out: &mut String, diagnostic: &Diagnostic) {
        let _ = writeln!(out, "error: {}", diagnostic.message);
        let _ = writeln!(out, "  --> {}", diagnostic.origin);
        if let Some(loc) = diagnostic.origin.loc
            && let Some(line_text) = self.line_of(&diagnostic.origin.file, loc.line)
        {
            let number = loc.line.to_string();
            let gutter = " ".repeat(number.len());
            let caret_pad: String = line_text
                .chars()
                .take(loc.column.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = writeln!(out, "{gutter} |");
            let _ = writeln!(out, "{number} | {line_text}");
            let _ = writeln!(out, "{gutter} | {caret_pad}^");
        }
        for (note, origin) in &diagnostic.related {
            let _ = writeln!(out, "   = note: {note} at {origin}");
        }
        if let Some(hint) = &diagnostic.hint {
            let _ = writeln!(out, "   = hint: {hint}");
        }
    }

    fn line_of(&self, file: &Arc<str>, line: u32) -> Option<&str> {
        let text = self.sources.get(file)?;
        text.lines().nth(line.checked_sub(1)? as usize)
    }
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
}
