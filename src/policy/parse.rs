//! Parsing one policy file: its YAML tree ([`super::yaml`]) to typed entries. Every entry is
//! checked on its own, and every problem of an entry is reported, not only the first:
//!
//! 1. its shape, against the model: an entry must be a mapping; each key must be a field of
//!    the model (field names come from the serde derive, required fields from the schema
//!    generated from the same types, so neither can drift from the model), nested blocks
//!    such as `resend` likewise;
//! 2. its values, with serde: when a value is wrong, the problem is reported, the key is set
//!    aside and the entry is read again, until it reads or a required field is missing.
//!
//! An entry with problems is kept (marked broken) with whatever could be read, so that the
//! checks across entries (a duplicate connection, a duplicate user) still see it.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use schemars::JsonSchema;
use serde::de::{DeserializeOwned, Deserializer, Visitor};

use super::checks::suggest;
use super::diag::excerpt;
use super::files::MAX_FILE_BYTES;
use super::model::{
    ApplicationPolicy, ConnectionPolicy, EmailsPolicy, LoginPolicy, ResendPolicy, TOP_LEVEL_KEYS,
    UserPolicy,
};
use super::yaml::{self, LocatedError, Node, NodeKind, Problem, found_node, one_of};
use super::{Diagnostic, Diagnostics, Origin, PolicySource};

/// One entry of a policy list (or the `login` block) and what became of it.
pub(super) struct Entry<T> {
    /// The typed entry; `None` when a required field is missing or unusable.
    pub value: Option<T>,
    pub located: Located,
    /// Whether a problem was reported for this entry (then it never reaches the state).
    pub broken: bool,
}

/// Typed entries of all files, in file order.
#[derive(Default)]
pub(super) struct ParsedPolicies {
    pub connections: Vec<Entry<ConnectionPolicy>>,
    pub applications: Vec<Entry<ApplicationPolicy>>,
    pub users: Vec<Entry<UserPolicy>>,
    pub login: Vec<Entry<LoginPolicy>>,
    pub emails: Vec<Entry<EmailsPolicy>>,
}

/// An entry's file and YAML node, to locate later findings at the offending field.
pub(super) struct Located {
    pub file: Arc<str>,
    pub node: Node,
    /// Keys of the entry whose values had a problem (checks that depend on them are skipped,
    /// so that one mistake is reported once).
    pub failed: BTreeSet<String>,
}

impl Located {
    pub fn origin(&self) -> Origin {
        Origin::at(&self.file, self.node.loc)
    }

    /// Where the value of `field` starts (the entry itself when the field is absent).
    pub fn field(&self, field: &str) -> Origin {
        Origin::at(
            &self.file,
            self.node.get(field).map_or(self.node.loc, |n| n.loc),
        )
    }

    /// Whether `field`'s value had a problem.
    pub fn failed(&self, field: &str) -> bool {
        self.failed.contains(field)
    }

    /// The text under `field`, read straight from the YAML (for entries that did not read).
    pub fn text(&self, field: &str) -> Option<&str> {
        match &self.node.get(field)?.kind {
            NodeKind::Str(text) => Some(text),
            _ => None,
        }
    }
}

/// The keys a mapping of the model may have, which of them are required, and the nested
/// blocks that are mappings of the model themselves.
struct Shape {
    fields: &'static [&'static str],
    required: Vec<String>,
    nested: Vec<(&'static str, Shape)>,
}

impl Shape {
    fn of<T: DeserializeOwned + JsonSchema>() -> Shape {
        let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
        let required = schema
            .get("required")
            .and_then(serde_json::Value::as_array)
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Shape {
            fields: struct_fields::<T>(),
            required,
            nested: Vec::new(),
        }
    }

    fn nest(mut self, field: &'static str, shape: Shape) -> Shape {
        self.nested.push((field, shape));
        self
    }
}

struct Shapes {
    connection: Shape,
    application: Shape,
    user: Shape,
    login: Shape,
    emails: Shape,
}

fn shapes() -> &'static Shapes {
    static SHAPES: OnceLock<Shapes> = OnceLock::new();
    SHAPES.get_or_init(|| Shapes {
        connection: Shape::of::<ConnectionPolicy>().nest("resend", Shape::of::<ResendPolicy>()),
        application: Shape::of::<ApplicationPolicy>(),
        user: Shape::of::<UserPolicy>(),
        login: Shape::of::<LoginPolicy>(),
        emails: Shape::of::<EmailsPolicy>(),
    })
}

/// The field names serde's derive gives a struct, in declaration order: a deserializer that
/// only records what `deserialize_struct` is told.
fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);
    #[derive(Debug)]
    struct Done;
    impl std::fmt::Display for Done {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("probe")
        }
    }
    impl std::error::Error for Done {}
    impl serde::de::Error for Done {
        fn custom<M: std::fmt::Display>(_: M) -> Done {
            Done
        }
    }
    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = Done;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Done> {
            Err(Done)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Done> {
            *self.0 = fields;
            Err(Done)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// What each kind of entry is called in messages, and what one looks like.
struct Kind {
    what: &'static str,
    example: &'static str,
}

const CONNECTION: Kind = Kind {
    what: "a connection",
    example: "`- name: partner-db` with `email_verification: required`",
};
const APPLICATION: Kind = Kind {
    what: "an application",
    example: "`- name: Partner Portal` with `email_verification: required`",
};
const USER: Kind = Kind {
    what: "a user",
    example: "`- connection: partner-db` with `email: alice@partner.example`",
};
const EMAILS: Kind = Kind {
    what: "`emails`",
    example: "`max_per_run: 5000` under `emails:`",
};
const LOGIN: Kind = Kind {
    what: "`login`",
    example: "`deny_message: …` and `action_name: …` under `login:`",
};

pub(super) fn parse_file(
    source: &PolicySource,
    resolver: &mut super::vars::Resolver<'_>,
    parsed: &mut ParsedPolicies,
    diagnostics: &mut Diagnostics,
) {
    let file = &source.file;
    if source.text.len() as u64 > MAX_FILE_BYTES {
        diagnostics.push(
            Diagnostic::new(
                format!(
                    "this file is over {} MiB, the largest policy file verifyctl reads",
                    MAX_FILE_BYTES / (1024 * 1024)
                ),
                Origin::file(file),
            )
            .with_hint("split the policies into several files"),
        );
        return;
    }
    let mut root = match yaml::parse(&source.text) {
        Ok(root) => root,
        Err(error) => {
            let hint = match error.hint {
                Some(hint) => format!("{hint}; the rest of this file was not checked"),
                None => "fix the syntax; the rest of this file was not checked".into(),
            };
            diagnostics.push(
                Diagnostic::new(
                    format!("invalid YAML: {}", error.message),
                    Origin::at(file, error.loc),
                )
                .with_hint(hint),
            );
            return;
        }
    };
    // `${NAME}` variables, resolved on the tree (never on the text).
    resolver.substitute(&mut root, source, diagnostics);
    // The entries are moved out of the tree into their `Located` (no copy of each).
    let entries = match root.kind {
        NodeKind::Map(entries) => entries,
        NodeKind::Null => return,
        _ => {
            diagnostics.push(
                Diagnostic::new(
                    format!(
                        "a policy file must be a mapping, found {}",
                        found_node(&root)
                    ),
                    Origin::at(file, root.loc),
                )
                .with_hint(
                    "start the file with `connections:`, `applications:`, `users:` or `login:`",
                ),
            );
            return;
        }
    };
    let shapes = shapes();
    for (key, value) in entries {
        let name = match &key.kind {
            NodeKind::Str(name) => name.as_str(),
            _ => "",
        };
        match name {
            "connections" => {
                for item in list(file, name, value, diagnostics) {
                    let entry =
                        parse_entry(file, item, &CONNECTION, &shapes.connection, diagnostics);
                    parsed.connections.push(entry);
                }
            }
            "applications" => {
                for item in list(file, name, value, diagnostics) {
                    let entry =
                        parse_entry(file, item, &APPLICATION, &shapes.application, diagnostics);
                    parsed.applications.push(entry);
                }
            }
            "users" => {
                for item in list(file, name, value, diagnostics) {
                    parsed
                        .users
                        .push(parse_entry(file, item, &USER, &shapes.user, diagnostics));
                }
            }
            // `login:` with nothing under it is no `login` block, like an empty list.
            "login" | "emails" if matches!(value.kind, NodeKind::Null) => {}
            "login" => {
                let entry = parse_entry(file, value, &LOGIN, &shapes.login, diagnostics);
                parsed.login.push(entry);
            }
            "emails" => {
                let entry = parse_entry(file, value, &EMAILS, &shapes.emails, diagnostics);
                parsed.emails.push(entry);
            }
            _ => {
                let shown = match &key.kind {
                    NodeKind::Str(s) => format!("`{}`", excerpt(s)),
                    _ => found_node(&key),
                };
                let mut diagnostic = Diagnostic::new(
                    format!(
                        "unknown top-level key {shown}, expected {}",
                        one_of(&TOP_LEVEL_KEYS)
                    ),
                    Origin::at(file, key.loc),
                );
                if let Some(suggestion) = suggest(name, TOP_LEVEL_KEYS.iter().copied()) {
                    diagnostic = diagnostic.with_hint(format!("did you mean `{suggestion}`?"));
                }
                diagnostics.push(diagnostic);
            }
        }
    }
}

/// Reads one user entry of a user list file (`lists.rs`), exactly as a `users:` item is read.
pub(super) fn parse_user(
    file: &Arc<str>,
    node: Node,
    diagnostics: &mut Diagnostics,
) -> Entry<UserPolicy> {
    parse_entry(file, node, &USER, &shapes().user, diagnostics)
}

/// The fields a user entry may have, in declaration order.
pub(super) fn user_fields() -> &'static [&'static str] {
    shapes().user.fields
}

/// The items of a top-level list; nothing for `users:` left empty (null).
fn list(file: &Arc<str>, name: &str, value: Node, diagnostics: &mut Diagnostics) -> Vec<Node> {
    match value.kind {
        NodeKind::Seq(items) => items,
        NodeKind::Null => Vec::new(),
        _ => {
            diagnostics.push(
                Diagnostic::new(
                    format!("`{name}` must be a list, found {}", found_node(&value)),
                    Origin::at(file, value.loc),
                )
                .with_hint(format!(
                    "write each entry on its own line starting with `- ` under `{name}:`"
                )),
            );
            Vec::new()
        }
    }
}

/// Reads one entry, reporting every problem in it (see the module comment).
fn parse_entry<T: DeserializeOwned>(
    file: &Arc<str>,
    node: Node,
    kind: &Kind,
    shape: &Shape,
    diagnostics: &mut Diagnostics,
) -> Entry<T> {
    let mut located = Located {
        file: Arc::clone(file),
        node,
        failed: BTreeSet::new(),
    };
    let node = &located.node;
    if !matches!(node.kind, NodeKind::Map(_)) {
        diagnostics.push(
            Diagnostic::new(
                format!(
                    "{} must be a mapping, found {}",
                    kind.what,
                    found_node(node)
                ),
                Origin::at(file, node.loc),
            )
            .with_hint(format!("write it as {}", kind.example)),
        );
        return Entry {
            value: None,
            located,
            broken: true,
        };
    }
    let before = diagnostics.len();
    let mut removals = Vec::new();
    check_shape(
        file,
        kind,
        shape,
        node,
        &mut Vec::new(),
        &mut removals,
        &mut located.failed,
        diagnostics,
    );
    // Deepest and last first, so that the indices of the others stay valid.
    removals.sort_unstable_by(|a, b| b.cmp(a));
    // A copy of the entry with the keys set aside removed, made only when one is.
    let mut readable: Option<Node> = None;
    if !removals.is_empty() {
        let mut copy = node.clone();
        for path in &removals {
            copy.remove_entry(path);
        }
        readable = Some(copy);
    }
    let mut value = None;
    // Each round sets one key aside; an entry has only so many keys of the model.
    let rounds = shape.fields.len()
        + shape
            .nested
            .iter()
            .map(|(_, s)| s.fields.len())
            .sum::<usize>()
        + 2;
    for _ in 0..rounds {
        let target = readable.as_ref().unwrap_or(node);
        match yaml::from_node::<T>(target) {
            Ok(read) => {
                value = Some(read);
                break;
            }
            Err(error) => {
                let path = error.index_path();
                if !matches!(error.problem, Problem::MissingField(_)) {
                    diagnostics.push(value_diagnostic(file, kind, &error, node));
                }
                let Some(&top) = path.first() else {
                    // A required field is missing (reported by the shape check) or was set
                    // aside: the entry does not read.
                    break;
                };
                let key = readable_key(target, top);
                // Set aside the key under the entry, or under a nested block of the model.
                let nested = key
                    .as_ref()
                    .is_some_and(|key| shape.nested.iter().any(|(f, _)| f == key));
                if let Some(key) = key {
                    located.failed.insert(key);
                }
                let depth = if nested && !matches!(error.problem, Problem::MissingField(_)) {
                    2
                } else {
                    1
                };
                let cut: Vec<usize> = path.into_iter().take(depth).collect();
                if readable
                    .get_or_insert_with(|| node.clone())
                    .remove_entry(&cut)
                    .is_none()
                {
                    break;
                }
            }
        }
    }
    Entry {
        value,
        broken: diagnostics.len() > before,
        located,
    }
}

fn readable_key(node: &Node, index: usize) -> Option<String> {
    match &node.kind {
        NodeKind::Map(entries) => match &entries.get(index)?.0.kind {
            NodeKind::Str(key) => Some(key.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Unknown keys, keys that are not text, and missing required fields of `node` (and of its
/// nested blocks), reported; the paths of the keys to set aside are added to `removals`.
#[allow(clippy::too_many_arguments)]
fn check_shape(
    file: &Arc<str>,
    kind: &Kind,
    shape: &Shape,
    node: &Node,
    path: &mut Vec<(usize, String)>,
    removals: &mut Vec<Vec<usize>>,
    failed: &mut BTreeSet<String>,
    diagnostics: &mut Diagnostics,
) {
    let NodeKind::Map(entries) = &node.kind else {
        return;
    };
    let within = if path.is_empty() {
        String::new()
    } else {
        let keys: Vec<&str> = path.iter().map(|(_, k)| k.as_str()).collect();
        format!(" in `{}`", keys.join("."))
    };
    for (index, (key, value)) in entries.iter().enumerate() {
        // The path of this key, made only when it is set aside.
        let removal = || {
            let mut removal: Vec<usize> = path.iter().map(|(i, _)| *i).collect();
            removal.push(index);
            removal
        };
        let NodeKind::Str(name) = &key.kind else {
            diagnostics.push(Diagnostic::new(
                format!("keys{within} must be text, found {}", found_node(key)),
                Origin::at(file, key.loc),
            ));
            removals.push(removal());
            continue;
        };
        if !shape.fields.contains(&name.as_str()) {
            let mut diagnostic = Diagnostic::new(
                format!(
                    "unknown field `{}`{within}, expected {}",
                    excerpt(name),
                    one_of(shape.fields)
                ),
                Origin::at(file, key.loc),
            );
            if let Some(suggestion) = suggest(name, shape.fields.iter().copied()) {
                diagnostic = diagnostic.with_hint(format!("did you mean `{suggestion}`?"));
            }
            diagnostics.push(diagnostic);
            removals.push(removal());
            if let Some((_, top)) = path.first() {
                failed.insert(top.clone());
            }
            continue;
        }
        if let Some((_, nested)) = shape.nested.iter().find(|(f, _)| f == name) {
            path.push((index, name.clone()));
            check_shape(
                file,
                kind,
                nested,
                value,
                path,
                removals,
                failed,
                diagnostics,
            );
            path.pop();
        }
    }
    for field in &shape.required {
        if node.get(field).is_none() {
            let message = if path.is_empty() {
                format!("{} needs `{field}`", kind.what)
            } else {
                let keys: Vec<&str> = path.iter().map(|(_, k)| k.as_str()).collect();
                format!("`{}` needs `{field}`", keys.join("."))
            };
            diagnostics.push(
                Diagnostic::new(message, Origin::at(file, node.loc))
                    .with_hint(format!("add `{field}: …`")),
            );
            if let Some((_, top)) = path.first() {
                failed.insert(top.clone());
            }
        }
    }
}

/// A value's problem, located at the value, with a hint where one helps.
fn value_diagnostic(
    file: &Arc<str>,
    kind: &Kind,
    error: &LocatedError,
    entry: &Node,
) -> Diagnostic {
    let origin = Origin::at(file, error.loc.unwrap_or(entry.loc));
    let mut diagnostic = Diagnostic::new(error.message(kind.what), origin);
    match &error.problem {
        Problem::UnknownValue { value, expected } => {
            if let Some(suggestion) = suggest(value, expected.iter().copied()) {
                diagnostic = diagnostic.with_hint(format!("did you mean `{suggestion}`?"));
            }
        }
        Problem::WrongType { expected, found } if expected == "text" && !found.starts_with('a') => {
            let what = if error.in_key { "key" } else { "value" };
            diagnostic = diagnostic.with_hint(format!("put the {what} in quotes to make it text"));
        }
        _ => {}
    }
    diagnostic
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_come_from_the_serde_derive() {
        assert_eq!(struct_fields::<ResendPolicy>(), ["after", "max"].as_slice());
        assert_eq!(struct_fields::<UserPolicy>()[..2], ["connection", "email"]);
    }

    #[test]
    fn every_nested_block_of_the_model_is_checked_like_an_entry() {
        // A mapping-valued field of an entry type must be registered with `Shape::nest`
        // (metadata maps are free-form and not part of the model).
        let schema: serde_json::Value =
            serde_json::from_str(&super::super::schema::policy_schema_json()).unwrap();
        let defs = schema["$defs"].as_object().unwrap();
        let shapes = shapes();
        for (name, shape) in [
            ("ConnectionPolicy", &shapes.connection),
            ("ApplicationPolicy", &shapes.application),
            ("UserPolicy", &shapes.user),
            ("LoginPolicy", &shapes.login),
            ("EmailsPolicy", &shapes.emails),
        ] {
            let properties = defs[name]["properties"].as_object().unwrap();
            let mut fields: Vec<&str> = properties.keys().map(String::as_str).collect();
            let mut declared = shape.fields.to_vec();
            fields.sort_unstable();
            declared.sort_unstable();
            assert_eq!(fields, declared, "{name}");
            for (field, property) in properties {
                let text = property.to_string();
                let refers_to_object = defs.iter().any(|(def, body)| {
                    body.get("properties").is_some() && text.contains(&format!("#/$defs/{def}\""))
                });
                assert_eq!(
                    refers_to_object,
                    shape.nested.iter().any(|(f, _)| f == field),
                    "{name}.{field}"
                );
            }
        }
        assert_eq!(shapes.user.required, ["connection", "email"]);
        assert_eq!(shapes.connection.nested[0].1.required, ["after", "max"]);
    }
}
