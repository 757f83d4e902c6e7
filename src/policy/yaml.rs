//! A located YAML tree and a serde `Deserializer` over it.
//!
//! serde-saphyr parses a policy file once into [`Node`]s that remember the line and column
//! of every value (it also rejects syntax errors and duplicate keys, with locations). Typed
//! policy entries are then deserialized *from the tree*, one list item at a time, so one bad
//! entry does not hide the problems of the next one, and every serde error (unknown key,
//! wrong type, missing field) carries the location of the node it is about.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde_saphyr::Spanned;

use super::diag::excerpt;

/// A 1-based line and column in a source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    pub line: u32,
    pub column: u32,
}

impl Loc {
    fn from_saphyr(location: serde_saphyr::Location) -> Loc {
        Loc {
            line: u32::try_from(location.line()).unwrap_or(u32::MAX),
            column: u32::try_from(location.column()).unwrap_or(u32::MAX),
        }
    }
}

/// One YAML value and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub loc: Loc,
}

/// The shape of a YAML value (after YAML 1.2 core-schema scalar resolution).
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The value stored under `key` when this node is a mapping with string keys.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.kind, NodeKind::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A short description of the node's type, for "expected a list, found ..." messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) | NodeKind::UInt(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

/// A syntax error found while building the tree, in verifyctl's words.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub message: String,
    pub loc: Loc,
    /// What to do about it, when there is more to say than "fix the syntax".
    pub hint: Option<&'static str>,
}

/// The limits a policy file is parsed under. A file may hold about as many YAML nodes as it
/// has bytes (no alias-free YAML has more: every node takes at least a character and a
/// separator), so files of any size verifyctl reads load; what stays limited is what aliases
/// (`*name`) can add on top, with serde-saphyr's alias defaults (replayed events, aliases per
/// anchor), so that a "billion laughs" file of a few lines is refused, not expanded.
fn budget_for(source: &str) -> serde_saphyr::Budget {
    let mut budget = serde_saphyr::Budget::default();
    let size = source.len();
    budget.max_nodes = budget.max_nodes.max(size.saturating_add(1_000));
    budget.max_events = budget
        .max_events
        .max(size.saturating_mul(3).saturating_add(1_000));
    budget.max_depth = MAX_DEPTH;
    // Flow collections (`[[[…]]]`) are limited to the same depth while parsing, before any
    // recursion can run deep.
    budget.flow_nesting_limit = MAX_DEPTH;
    budget
}

/// The deepest nesting a policy file may have: far deeper than any policy needs (an entry's
/// fields are at depth 3, its metadata below), and shallow enough that parsing stays well
/// within a 2 MiB thread stack even in a debug build (the parser recurses per level; about
/// 50 levels would exhaust such a stack).
pub const MAX_DEPTH: usize = 32;

/// Parses YAML text into a located tree. An empty document (or one holding only comments)
/// is `Null` at 1:1.
pub fn parse(source: &str) -> Result<Node, SyntaxError> {
    if source.trim().is_empty() || only_comments(source) {
        return Ok(Node {
            kind: NodeKind::Null,
            loc: Loc { line: 1, column: 1 },
        });
    }
    // YAML 1.2 booleans only: `email_verification: off` must stay the string "off"
    // (YAML 1.1 would read it as `false`, the "Norway problem").
    let mut options = serde_saphyr::options! { strict_booleans: true };
    options.budget = Some(budget_for(source));
    match serde_saphyr::from_str_with_options::<Spanned<RawNode>>(source, options) {
        Ok(spanned) => Ok(into_node(spanned)),
        Err(error) => {
            let loc = error
                .location()
                .map_or(Loc { line: 1, column: 1 }, Loc::from_saphyr);
            let (message, hint) = syntax_message(&error);
            Err(SyntaxError { message, loc, hint })
        }
    }
}

fn only_comments(source: &str) -> bool {
    source
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
}

const ALIAS_HINT: &str = "verifyctl limits how far aliases (`*name`) may expand, to refuse \"YAML bombs\"; write the repeated parts out instead";

/// A serde-saphyr error in verifyctl's words: what is wrong with the YAML, and a hint. The
/// parser's own description of a syntax error is kept only where no better one is known.
fn syntax_message(error: &serde_saphyr::Error) -> (String, Option<&'static str>) {
    use serde_saphyr::Error as E;
    use serde_saphyr::budget::BudgetBreach as B;
    let mut error = error;
    while let E::WithSnippet { error: inner, .. } | E::AliasError { error: inner, .. } = error {
        error = inner;
    }
    let owned = |s: &str| s.to_string();
    match error {
        E::DuplicateMappingKey { key, .. } => (
            match key {
                Some(key) => format!("the key `{}` appears twice in this mapping", excerpt(key)),
                None => owned("a key appears twice in this mapping"),
            },
            Some("YAML keys must be unique: remove one, or merge the two"),
        ),
        E::MultipleDocuments { .. }
        | E::Budget {
            breach: B::Documents { .. },
            ..
        } => (
            owned("this file holds more than one YAML document (a `---` line starts another)"),
            Some(
                "a policy file is one document: remove the `---` line, or split the file in two (all files of the directory are merged)",
            ),
        ),
        E::Budget {
            breach: B::Depth { .. },
            ..
        } => depth_message(),
        E::Budget {
            breach: B::ScalarBytes { .. },
            ..
        } => (
            owned("the texts of this file add up to more than 64 MiB once aliases are expanded"),
            Some(ALIAS_HINT),
        ),
        E::Budget {
            breach: B::MergeKeys { .. },
            ..
        } => (
            owned("this file has more than 10,000 merge keys (`<<`)"),
            Some("write the entries out, or split the file"),
        ),
        E::Budget { .. }
        | E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. }
        | E::AliasReplayCounterOverflow { .. } => (
            owned("aliases (`*name`) in this file expand to more values than verifyctl accepts"),
            Some(ALIAS_HINT),
        ),
        E::UnknownAnchor { .. } => (
            owned("this alias names an anchor (`&name`) that is not defined before it"),
            Some("define the anchor first, or check its spelling"),
        ),
        E::Eof { .. } => (owned("the file ends in the middle of a value"), None),
        E::InvalidUtf8Input => (
            owned("the file is not valid UTF-8"),
            Some("save it as UTF-8"),
        ),
        E::MergeValueNotMapOrSeqOfMaps { .. } => (
            owned("a merge key (`<<`) must be followed by a mapping or a list of mappings"),
            None,
        ),
        E::InvalidBinaryBase64 { .. } | E::BinaryNotUtf8 { .. } => (
            owned("this `!!binary` value is not base64-encoded text"),
            Some("policy files hold no binary data: remove the `!!binary` tag"),
        ),
        E::ExternalMessage { msg, .. } => parser_message(msg),
        _ => (owned("this is not valid YAML"), None),
    }
}

fn depth_message() -> (String, Option<&'static str>) {
    (
        format!("values are nested more than {MAX_DEPTH} levels deep"),
        Some("policy files need only a few levels; check the indentation and the brackets"),
    )
}

/// The YAML parser's syntax errors, reworded where we know better words.
fn parser_message(message: &str) -> (String, Option<&'static str>) {
    let known: [(&str, &str, Option<&'static str>); 9] = [
        (
            "unclosed bracket '['",
            "this `[` is never closed",
            Some("close the list with `]`"),
        ),
        (
            "unclosed bracket '{'",
            "this `{` is never closed",
            Some("close the mapping with `}`"),
        ),
        (
            "mapping values are not allowed",
            "a `key: value` pair is not allowed here",
            Some("check the indentation; quote a value that contains `: `"),
        ),
        (
            "tabs disallowed",
            "a tab is used for indentation",
            Some("YAML indents with spaces only"),
        ),
        (
            "did not find expected key",
            "expected a key here; the indentation does not line up",
            Some("align the keys of one mapping at the same column"),
        ),
        (
            "did not find expected ',' or ']'",
            "expected `,` or `]` in this list",
            None,
        ),
        (
            "did not find expected ',' or '}'",
            "expected `,` or `}` in this mapping",
            None,
        ),
        (
            "hexadecimal number",
            "an invalid escape in a double-quoted text",
            Some("write a backslash as `\\\\`, or use single quotes"),
        ),
        (
            "unexpected end of stream",
            "the file ends inside a quoted text or a collection",
            Some("close the quote or the bracket"),
        ),
    ];
    if message.contains("recursion limit exceeded") {
        return depth_message();
    }
    for (pattern, ours, hint) in known {
        if message.contains(pattern) {
            return (ours.to_string(), hint);
        }
    }
    if message.starts_with("unexpected character") {
        return (
            "a character YAML does not allow here".into(),
            Some("remove it, or put the value in quotes"),
        );
    }
    (format!("invalid YAML syntax ({})", excerpt(message)), None)
}

/// The tree as serde-saphyr hands it over, before flattening the `Spanned` wrappers.
enum RawNode {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<RawNode>>),
    Map(Vec<(Spanned<RawNode>, Spanned<RawNode>)>),
}

fn into_node(spanned: Spanned<RawNode>) -> Node {
    let loc = Loc::from_saphyr(spanned.referenced);
    let kind = match spanned.value {
        RawNode::Null => NodeKind::Null,
        RawNode::Bool(b) => NodeKind::Bool(b),
        RawNode::Int(i) => NodeKind::Int(i),
        RawNode::UInt(u) => NodeKind::UInt(u),
        RawNode::Float(f) => NodeKind::Float(f),
        RawNode::Str(s) => NodeKind::Str(s),
        RawNode::Seq(items) => NodeKind::Seq(items.into_iter().map(into_node).collect()),
        RawNode::Map(entries) => NodeKind::Map(
            entries
                .into_iter()
                .map(|(k, v)| (into_node(k), into_node(v)))
                .collect(),
        ),
    };
    Node { kind, loc }
}

impl<'de> de::Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RawVisitor;
        impl<'de> Visitor<'de> for RawVisitor {
            type Value = RawNode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<RawNode, E> {
                Ok(RawNode::Null)
            }
            fn visit_none<E>(self) -> Result<RawNode, E> {
                Ok(RawNode::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawNode, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_bool<E>(self, v: bool) -> Result<RawNode, E> {
                Ok(RawNode::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawNode, E> {
                Ok(RawNode::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RawNode, E> {
                Ok(RawNode::UInt(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<RawNode, E> {
                Ok(RawNode::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawNode, E> {
                Ok(RawNode::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<RawNode, E> {
                Ok(RawNode::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNode, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(RawNode::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNode, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key()? {
                    let value = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(RawNode::Map(entries))
            }
        }
        deserializer.deserialize_any(RawVisitor)
    }
}

/// What is wrong with a value, in verifyctl's words (serde's error constructors are
/// overridden, so no serde or Rust type name reaches the user).
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// A value of the wrong kind, e.g. a list where a mapping belongs.
    WrongType {
        found: String,
        expected: String,
    },
    /// A word that is not one of the accepted ones.
    UnknownValue {
        value: String,
        expected: &'static [&'static str],
    },
    /// A key the mapping does not have.
    UnknownField {
        field: String,
        expected: &'static [&'static str],
    },
    /// A required key is missing.
    MissingField(&'static str),
    Other(String),
}

/// A serde error that knows where it happened once a node claims it, and under which keys.
#[derive(Debug, Clone, PartialEq)]
pub struct LocatedError {
    pub problem: Problem,
    pub loc: Option<Loc>,
    /// The mapping entries the error is under, innermost first: (index of the entry in its
    /// mapping, its key).
    pub under: Vec<(usize, String)>,
    /// Whether the error is about a key (unknown, or not text) rather than a value: its
    /// path then ends at the mapping the key is in.
    pub in_key: bool,
}

impl LocatedError {
    fn new(problem: Problem) -> LocatedError {
        LocatedError {
            problem,
            loc: None,
            under: Vec::new(),
            in_key: false,
        }
    }

    /// The innermost node that sees an unlocated error claims it.
    fn at(mut self, loc: Loc) -> Self {
        self.loc.get_or_insert(loc);
        self
    }

    /// The keys from the outermost mapping down to the value, joined with `.`
    /// (`resend.after`); for a key's problem, down to the mapping it is in.
    pub fn path(&self) -> String {
        let skip = usize::from(self.in_key);
        let keys: Vec<&str> = self
            .under
            .iter()
            .skip(skip)
            .rev()
            .map(|(_, k)| k.as_str())
            .collect();
        keys.join(".")
    }

    /// The entry indices from the outermost mapping down.
    pub fn index_path(&self) -> Vec<usize> {
        self.under.iter().rev().map(|(i, _)| *i).collect()
    }

    /// The problem as a sentence; `what` names the value when the path is empty.
    pub fn message(&self, what: &str) -> String {
        let path = self.path();
        let subject = if path.is_empty() {
            what.to_string()
        } else {
            format!("`{path}`")
        };
        match &self.problem {
            Problem::WrongType { found, expected } if self.in_key => {
                format!("the keys of {subject} must be {expected}, found {found}")
            }
            Problem::WrongType { found, expected } => {
                format!("{subject} must be {expected}, found {found}")
            }
            Problem::UnknownValue { value, expected } => format!(
                "unknown value `{}` for {subject}, expected {}",
                excerpt(value),
                one_of(expected)
            ),
            Problem::UnknownField { field, expected } => format!(
                "unknown field `{}` in {subject}, expected {}",
                excerpt(field),
                one_of(expected)
            ),
            Problem::MissingField(field) => format!("{subject} needs `{field}`"),
            Problem::Other(message) => format!("{subject}: {message}"),
        }
    }
}

/// `` `a` ``, `` `a` or `b` ``, `` one of `a`, `b`, `c` ``.
pub fn one_of(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    match quoted.as_slice() {
        [] => "nothing".into(),
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        _ => format!("one of {}", quoted.join(", ")),
    }
}

impl fmt::Display for LocatedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message("the value"))
    }
}

impl std::error::Error for LocatedError {}

impl de::Error for LocatedError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        LocatedError::new(Problem::Other(msg.to_string()))
    }

    fn invalid_type(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        LocatedError::new(Problem::WrongType {
            found: describe_found(&unexpected),
            expected: describe_expected(&expected.to_string()),
        })
    }

    fn invalid_value(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        Self::invalid_type(unexpected, expected)
    }

    fn invalid_length(len: usize, _expected: &dyn de::Expected) -> Self {
        LocatedError::new(Problem::Other(format!("{len} items is the wrong number")))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        LocatedError::new(Problem::UnknownValue {
            value: variant.to_string(),
            expected,
        })
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        LocatedError::new(Problem::UnknownField {
            field: field.to_string(),
            expected,
        })
    }

    fn missing_field(field: &'static str) -> Self {
        LocatedError::new(Problem::MissingField(field))
    }

    fn duplicate_field(field: &'static str) -> Self {
        LocatedError::new(Problem::Other(format!("`{field}` is given twice")))
    }
}

/// A found value as a message names it.
fn describe_found(unexpected: &de::Unexpected<'_>) -> String {
    match unexpected {
        de::Unexpected::Bool(b) => format!("`{b}`"),
        de::Unexpected::Unsigned(n) => format!("the number {n}"),
        de::Unexpected::Signed(n) => format!("the number {n}"),
        de::Unexpected::Float(n) => format!("the number {n}"),
        de::Unexpected::Str(s) => format!("the text `{}`", excerpt(s)),
        de::Unexpected::Unit | de::Unexpected::Option => "nothing (null)".into(),
        de::Unexpected::Seq => "a list".into(),
        de::Unexpected::Map => "a mapping".into(),
        other => format!("{other}"),
    }
}

/// What serde's visitors expect ("u32", "struct ResendPolicy", "a sequence") in a policy
/// author's words.
fn describe_expected(expected: &str) -> String {
    match expected {
        "u32" => "a whole number from 0 to 4294967295".into(),
        "u8" | "u16" | "u64" | "u128" | "usize" => "a whole number, 0 or more".into(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" => "`true` or `false`".into(),
        "a string" | "a borrowed string" | "a char" => "text".into(),
        "a sequence" => "a list".into(),
        "a map" | "map" => "a mapping".into(),
        "any valid JSON value" => "a value".into(),
        other if other.starts_with("struct ") => "a mapping".into(),
        other if other.starts_with("enum ") => "a word".into(),
        _ => "something else".into(),
    }
}

/// Deserializes a typed value from a node, locating any error.
pub fn from_node<'a, T: de::Deserialize<'a>>(node: &'a Node) -> Result<T, LocatedError> {
    T::deserialize(NodeDeserializer(node)).map_err(|e| e.at(node.loc))
}

impl Node {
    /// Removes the mapping entry at `path` (entry indices, outermost first); returns its key.
    pub fn remove_entry(&mut self, path: &[usize]) -> Option<Node> {
        let (&last, parents) = path.split_last()?;
        let mut node = self;
        for &index in parents {
            node = match &mut node.kind {
                NodeKind::Map(entries) => &mut entries.get_mut(index)?.1,
                _ => return None,
            };
        }
        match &mut node.kind {
            NodeKind::Map(entries) if last < entries.len() => Some(entries.remove(last).0),
            _ => None,
        }
    }
}

/// Borrowing deserializer over one [`Node`]. Strict where serde would be lenient: a struct
/// or a map is read only from a mapping (never a list "in field order"), an enum only from
/// one of its words.
#[derive(Clone, Copy)]
pub struct NodeDeserializer<'a>(pub &'a Node);

impl NodeDeserializer<'_> {
    fn wrong_type(self, expected: &str) -> LocatedError {
        LocatedError::new(Problem::WrongType {
            found: found_node(self.0),
            expected: expected.to_string(),
        })
        .at(self.0.loc)
    }
}

/// A node as a message names it ("a list", "the text `x`").
pub fn found_node(node: &Node) -> String {
    describe_found(&unexpected(node))
}

impl<'de> Deserializer<'de> for NodeDeserializer<'de> {
    type Error = LocatedError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LocatedError> {
        let node = self.0;
        let result = match &node.kind {
            NodeKind::Null => visitor.visit_unit(),
            NodeKind::Bool(b) => visitor.visit_bool(*b),
            NodeKind::Int(i) => visitor.visit_i64(*i),
            NodeKind::UInt(u) => visitor.visit_u64(*u),
            NodeKind::Float(f) => visitor.visit_f64(*f),
            NodeKind::Str(s) => visitor.visit_borrowed_str(s),
            NodeKind::Seq(items) => visitor.visit_seq(NodeSeq {
                items: items.iter(),
            }),
            NodeKind::Map(entries) => visitor.visit_map(NodeMap {
                entries: entries.iter().enumerate(),
                pending: None,
            }),
        };
        result.map_err(|e| e.at(node.loc))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LocatedError> {
        match self.0.kind {
            NodeKind::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
        .map_err(|e| e.at(self.0.loc))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, LocatedError> {
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| e.at(self.0.loc))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, LocatedError> {
        match self.0.kind {
            NodeKind::Map(_) => self.deserialize_any(visitor),
            _ => Err(self.wrong_type("a mapping")),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LocatedError> {
        match self.0.kind {
            NodeKind::Map(_) => self.deserialize_any(visitor),
            _ => Err(self.wrong_type("a mapping")),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LocatedError> {
        match self.0.kind {
            NodeKind::Seq(_) => self.deserialize_any(visitor),
            _ => Err(self.wrong_type("a list")),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, LocatedError> {
        let node = self.0;
        match &node.kind {
            NodeKind::Str(s) => visitor
                .visit_enum(s.as_str().into_deserializer())
                .map_err(|e: LocatedError| e.at(node.loc)),
            _ => Err(self.wrong_type(&one_of(variants))),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, LocatedError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct tuple tuple_struct
    }

    /// Field names are text: serde would also take a number as a field's position.
    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LocatedError> {
        match &self.0.kind {
            NodeKind::Str(s) => visitor
                .visit_borrowed_str(s)
                .map_err(|e: LocatedError| e.at(self.0.loc)),
            _ => Err(self.wrong_type("text")),
        }
    }
}

fn unexpected(node: &Node) -> de::Unexpected<'_> {
    match &node.kind {
        NodeKind::Null => de::Unexpected::Unit,
        NodeKind::Bool(b) => de::Unexpected::Bool(*b),
        NodeKind::Int(i) => de::Unexpected::Signed(*i),
        NodeKind::UInt(u) => de::Unexpected::Unsigned(*u),
        NodeKind::Float(f) => de::Unexpected::Float(*f),
        NodeKind::Str(s) => de::Unexpected::Str(s),
        NodeKind::Seq(_) => de::Unexpected::Seq,
        NodeKind::Map(_) => de::Unexpected::Map,
    }
}

struct NodeSeq<'a> {
    items: std::slice::Iter<'a, Node>,
}

impl<'de> SeqAccess<'de> for NodeSeq<'de> {
    type Error = LocatedError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, LocatedError> {
        match self.items.next() {
            Some(node) => seed
                .deserialize(NodeDeserializer(node))
                .map(Some)
                .map_err(|e| e.at(node.loc)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct NodeMap<'a> {
    entries: std::iter::Enumerate<std::slice::Iter<'a, (Node, Node)>>,
    pending: Option<(usize, &'a Node, &'a Node)>,
}

/// A key as a path segment names it.
fn key_text(key: &Node) -> String {
    match &key.kind {
        NodeKind::Str(s) => excerpt(s),
        _ => found_node(key),
    }
}

impl<'de> MapAccess<'de> for NodeMap<'de> {
    type Error = LocatedError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, LocatedError> {
        match self.entries.next() {
            Some((index, (key, value))) => {
                self.pending = Some((index, key, value));
                seed.deserialize(NodeDeserializer(key))
                    .map(Some)
                    .map_err(|mut e| {
                        e.in_key = e.under.is_empty();
                        e.under.push((index, key_text(key)));
                        e.at(key.loc)
                    })
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, LocatedError> {
        let (index, key, value) = self
            .pending
            .take()
            .ok_or_else(|| LocatedError::new(Problem::Other("a value without a key".into())))?;
        seed.deserialize(NodeDeserializer(value)).map_err(|mut e| {
            e.under.push((index, key_text(key)));
            e.at(value.loc)
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Entry {
        name: String,
        count: Option<u32>,
        mode: Mode,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
        Slow,
    }

    fn entries(source: &str) -> Vec<Result<Entry, LocatedError>> {
        let root = parse(source).unwrap();
        match &root.kind {
            NodeKind::Seq(items) => items.iter().map(from_node).collect(),
            other => panic!("not a list: {other:?}"),
        }
    }

    fn message(result: &Result<Entry, LocatedError>) -> String {
        result.as_ref().unwrap_err().message("an entry")
    }

    #[test]
    fn every_item_is_checked_and_errors_point_at_the_offending_node() {
        let results = entries(
            "- name: a\n  mode: fast\n- name: b\n  cuont: 3\n  mode: slow\n- name: c\n  count: many\n  mode: slow\n- mode: fast\n",
        );
        assert_eq!(
            results[0],
            Ok(Entry {
                name: "a".into(),
                count: None,
                mode: Mode::Fast
            })
        );
        assert_eq!(
            message(&results[1]),
            "unknown field `cuont` in an entry, expected one of `name`, `count`, `mode`"
        );
        let unknown = results[1].as_ref().unwrap_err();
        assert_eq!(unknown.loc, Some(Loc { line: 4, column: 3 }));
        assert_eq!(unknown.index_path(), [1]);
        assert_eq!(
            message(&results[2]),
            "`count` must be a whole number from 0 to 4294967295, found the text `many`"
        );
        let wrong_type = results[2].as_ref().unwrap_err();
        assert_eq!(
            wrong_type.loc,
            Some(Loc {
                line: 7,
                column: 10
            })
        );
        assert_eq!(wrong_type.index_path(), [1]);
        assert_eq!(message(&results[3]), "an entry needs `name`");
        let missing = results[3].as_ref().unwrap_err();
        assert_eq!(missing.loc, Some(Loc { line: 9, column: 3 }));
        assert!(missing.index_path().is_empty());
    }

    #[test]
    fn unknown_words_are_located_at_the_value() {
        let results = entries("- name: a\n  mode: medium\n");
        assert_eq!(
            message(&results[0]),
            "unknown value `medium` for `mode`, expected `fast` or `slow`"
        );
        let error = results[0].as_ref().unwrap_err();
        assert_eq!(error.loc, Some(Loc { line: 2, column: 9 }));
    }

    #[test]
    fn lists_are_never_read_as_mappings_nor_numbers_as_keys() {
        // serde would read a list as a struct "in field order", a number as a field's index,
        // and a one-entry mapping as an enum variant.
        let results = entries(
            "- [a, fast]\n- {0: a, 2: fast}\n- name: a\n  mode: {fast: ~}\n- name: a\n  mode: [fast]\n",
        );
        assert_eq!(
            message(&results[0]),
            "an entry must be a mapping, found a list"
        );
        assert_eq!(
            message(&results[1]),
            "the keys of an entry must be text, found the number 0"
        );
        assert_eq!(
            message(&results[2]),
            "`mode` must be `fast` or `slow`, found a mapping"
        );
        assert_eq!(
            message(&results[3]),
            "`mode` must be `fast` or `slow`, found a list"
        );
    }

    #[test]
    fn removing_an_entry_by_its_path() {
        let mut root = parse("a: 1\nb: {c: 2, d: 3}\n").unwrap();
        let removed = root.remove_entry(&[1, 0]).unwrap();
        assert_eq!(removed.kind, NodeKind::Str("c".into()));
        assert_eq!(
            root.get("b").unwrap().get("d").unwrap().kind,
            NodeKind::UInt(3)
        );
        assert!(root.get("b").unwrap().get("c").is_none());
        assert!(root.remove_entry(&[5]).is_none());
        assert!(root.remove_entry(&[0, 0]).is_none());
    }

    #[test]
    fn syntax_errors_are_in_verifyctl_words_with_locations() {
        let duplicate = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(duplicate.loc, Loc { line: 2, column: 1 });
        assert_eq!(
            duplicate.message,
            "the key `a` appears twice in this mapping"
        );
        let documents = parse("users: []\n---\nusers: []\n").unwrap_err();
        assert_eq!(documents.loc.line, 3);
        assert_eq!(
            documents.message,
            "this file holds more than one YAML document (a `---` line starts another)"
        );
        let broken = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(broken.loc.line, 2);
        let unclosed = parse("é: [1, 2\n").unwrap_err();
        assert_eq!(unclosed.loc, Loc { line: 1, column: 4 });
        assert_eq!(unclosed.message, "this `[` is never closed");
        for deep in [
            format!("a: {}{}\n", "[".repeat(300), "]".repeat(300)),
            (0..100)
                .map(|i| format!("{}- \n", "  ".repeat(i)))
                .collect(),
            (0..100)
                .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
                .collect(),
        ] {
            let error = parse(&deep).unwrap_err();
            assert!(
                error.message.contains("nested more than 32 levels"),
                "{error:?}"
            );
        }
        // 30 levels are fine (and do not overflow a test thread's stack).
        let nested = format!("a: {}{}\n", "[".repeat(30), "]".repeat(30));
        assert!(parse(&nested).is_ok());
        for error in [duplicate, documents, broken, unclosed] {
            for leak in ["Options", "from_str", "budget", "breached", " at line "] {
                assert!(!error.message.contains(leak), "{error:?}");
            }
        }
    }

    #[test]
    fn alias_bombs_are_refused_in_verifyctl_words() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..10 {
            let aliases = vec![format!("*a{}", level - 1); 10].join(", ");
            bomb.push_str(&format!("a{level}: &a{level} [{aliases}]\n"));
        }
        let error = parse(&bomb).unwrap_err();
        assert_eq!(
            error.message,
            "aliases (`*name`) in this file expand to more values than verifyctl accepts"
        );
        assert!(error.hint.unwrap().contains("YAML bombs"));
        // Aliases in moderation are fine.
        let root = parse("base: &b {x: 1}\ncopy: *b\n").unwrap();
        let copy = root.get("copy").unwrap();
        assert_eq!(copy.get("x").unwrap().kind, NodeKind::UInt(1));
    }

    #[test]
    fn large_files_get_a_budget_to_match() {
        // 300,000 nodes: more than serde-saphyr's default budget of 250,000.
        let items = vec!["{a: 1}"; 100_000].join(", ");
        let root = parse(&format!("list: [{items}]\n")).unwrap();
        match &root.get("list").unwrap().kind {
            NodeKind::Seq(items) => assert_eq!(items.len(), 100_000),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn empty_and_comment_only_documents_are_null() {
        assert_eq!(parse("").unwrap().kind, NodeKind::Null);
        assert_eq!(parse("# nothing\n\n").unwrap().kind, NodeKind::Null);
    }

    #[test]
    fn yaml_1_1_booleans_stay_strings() {
        let root = parse("a: off\nb: yes\nc: true\n").unwrap();
        assert_eq!(root.get("a").unwrap().kind, NodeKind::Str("off".into()));
        assert_eq!(root.get("b").unwrap().kind, NodeKind::Str("yes".into()));
        assert_eq!(root.get("c").unwrap().kind, NodeKind::Bool(true));
    }

    #[test]
    fn json_values_deserialize_from_the_tree() {
        let root = parse("team: blue\nlevel: 3\ntags: [a, b]\nnested: {x: null}\n").unwrap();
        let value: serde_json::Value = from_node(&root).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"team": "blue", "level": 3, "tags": ["a", "b"], "nested": {"x": null}})
        );
    }
}
