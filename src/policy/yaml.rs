//! A located YAML tree and a serde `Deserializer` over it.
//!
//! serde-saphyr parses a policy file once into [`Node`]s that remember the line and column
//! of every value (it also rejects syntax errors and duplicate keys, with locations). Typed
//! policy entries are then deserialized *from the tree*, one list item at a time, so one bad
//! entry does not hide the problems of the next one, and every serde error (unknown key,
//! wrong type, missing field) carries the location of the node it is about.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};
use serde_saphyr::Spanned;

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

/// A syntax error found while building the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub message: String,
    pub loc: Loc,
}

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
    let options = serde_saphyr::options! { strict_booleans: true };
    match serde_saphyr::from_str_with_options::<Spanned<RawNode>>(source, options) {
        Ok(spanned) => Ok(into_node(spanned)),
        Err(error) => {
            let loc = error
                .location()
                .map_or(Loc { line: 1, column: 1 }, Loc::from_saphyr);
            let plain = error.without_snippet().to_string();
            Err(SyntaxError {
                message: strip_location_suffix(&plain).to_string(),
                loc,
            })
        }
    }
}

fn only_comments(source: &str) -> bool {
    source
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
}

/// serde-saphyr appends " at line N, column M"; we print locations our own way.
fn strip_location_suffix(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(index) if message[index..].contains(", column ") => &message[..index],
        _ => message,
    }
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

/// A serde error that knows where it happened once a node claims it.
#[derive(Debug, Clone, PartialEq)]
pub struct LocatedError {
    pub message: String,
    pub loc: Option<Loc>,
}

impl fmt::Display for LocatedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LocatedError {}

impl de::Error for LocatedError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        LocatedError {
            message: msg.to_string(),
            loc: None,
        }
    }
}

impl LocatedError {
    /// The innermost node that sees an unlocated error claims it.
    fn at(mut self, loc: Loc) -> Self {
        self.loc.get_or_insert(loc);
        self
    }
}

/// Deserializes a typed value from a node, locating any error.
pub fn from_node<'a, T: de::Deserialize<'a>>(node: &'a Node) -> Result<T, LocatedError> {
    T::deserialize(NodeDeserializer(node)).map_err(|e| e.at(node.loc))
}

/// Borrowing deserializer over one [`Node`].
#[derive(Clone, Copy)]
pub struct NodeDeserializer<'a>(pub &'a Node);

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
                entries: entries.iter(),
                pending_value: None,
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

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, LocatedError> {
        let node = self.0;
        let result = match &node.kind {
            NodeKind::Str(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            NodeKind::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                visitor.visit_enum(NodeEnum { key, value })
            }
            _ => Err(de::Error::invalid_type(unexpected(node), &visitor)),
        };
        result.map_err(|e| e.at(node.loc))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, LocatedError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
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
    entries: std::slice::Iter<'a, (Node, Node)>,
    pending_value: Option<&'a Node>,
}

impl<'de> MapAccess<'de> for NodeMap<'de> {
    type Error = LocatedError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, LocatedError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.pending_value = Some(value);
                seed.deserialize(NodeDeserializer(key))
                    .map(Some)
                    .map_err(|e| e.at(key.loc))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, LocatedError> {
        let value = self
            .pending_value
            .take()
            .ok_or_else(|| <LocatedError as de::Error>::custom("value requested before key"))?;
        seed.deserialize(NodeDeserializer(value))
            .map_err(|e| e.at(value.loc))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

struct NodeEnum<'a> {
    key: &'a Node,
    value: &'a Node,
}

impl<'de> EnumAccess<'de> for NodeEnum<'de> {
    type Error = LocatedError;
    type Variant = NodeVariant<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, NodeVariant<'de>), LocatedError> {
        let variant = seed
            .deserialize(NodeDeserializer(self.key))
            .map_err(|e| e.at(self.key.loc))?;
        Ok((variant, NodeVariant(self.value)))
    }
}

struct NodeVariant<'a>(&'a Node);

impl<'de> VariantAccess<'de> for NodeVariant<'de> {
    type Error = LocatedError;

    fn unit_variant(self) -> Result<(), LocatedError> {
        match self.0.kind {
            NodeKind::Null => Ok(()),
            _ => Err(LocatedError {
                message: format!("expected no value, found {}", self.0.type_name()),
                loc: Some(self.0.loc),
            }),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, LocatedError> {
        seed.deserialize(NodeDeserializer(self.0))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, LocatedError> {
        NodeDeserializer(self.0).deserialize_any(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, LocatedError> {
        NodeDeserializer(self.0).deserialize_any(visitor)
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
        let unknown = results[1].as_ref().unwrap_err();
        assert!(
            unknown.message.contains("unknown field `cuont`"),
            "{unknown:?}"
        );
        assert_eq!(unknown.loc, Some(Loc { line: 4, column: 3 }));
        let wrong_type = results[2].as_ref().unwrap_err();
        assert!(wrong_type.message.contains("invalid type: string \"many\""));
        assert_eq!(
            wrong_type.loc,
            Some(Loc {
                line: 7,
                column: 10
            })
        );
        let missing = results[3].as_ref().unwrap_err();
        assert!(missing.message.contains("missing field `name`"));
        assert_eq!(missing.loc, Some(Loc { line: 9, column: 3 }));
    }

    #[test]
    fn unknown_enum_variants_are_located_at_the_value() {
        let results = entries("- name: a\n  mode: medium\n");
        let error = results[0].as_ref().unwrap_err();
        assert!(
            error.message.contains("unknown variant `medium`"),
            "{error:?}"
        );
        assert_eq!(error.loc, Some(Loc { line: 2, column: 9 }));
    }

    #[test]
    fn syntax_errors_and_duplicate_keys_have_locations() {
        let duplicate = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(duplicate.loc, Loc { line: 2, column: 1 });
        assert!(duplicate.message.contains("duplicate mapping key"));
        assert!(!duplicate.message.contains(" at line "));
        let broken = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(broken.loc.line, 2);
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
