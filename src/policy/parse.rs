//! Parsing one policy file: its YAML tree ([`super::yaml`]) to typed entries, each list item
//! deserialized on its own so one bad entry does not hide the next one's problems, each
//! entry remembering its node so later findings point at the offending field.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::model::{ApplicationPolicy, ConnectionPolicy, LoginPolicy, TOP_LEVEL_KEYS, UserPolicy};
use super::yaml::{self, Node, NodeKind};
use super::{Diagnostic, Diagnostics, Origin, PolicySource};

/// Typed entries of all files, each with the node it came from.
#[derive(Default)]
pub(super) struct ParsedPolicies {
    pub connections: Vec<(ConnectionPolicy, Located)>,
    pub login: Vec<(LoginPolicy, Located)>,
    /// Names of connection entries that failed to parse: users naming them are not also
    /// reported as naming an undefined connection.
    pub broken_connections: BTreeSet<String>,
    pub applications: Vec<(ApplicationPolicy, Located)>,
    pub users: Vec<(UserPolicy, Located)>,
}

/// An entry's file and YAML node, to locate later findings at the offending field.
pub(super) struct Located {
    pub file: Arc<str>,
    pub node: Node,
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
}

pub(super) fn parse_file(
    source: &PolicySource,
    parsed: &mut ParsedPolicies,
    diagnostics: &mut Diagnostics,
) {
    let file = &source.file;
    let root = match yaml::parse(&source.text) {
        Ok(root) => root,
        Err(error) => {
            diagnostics.push(
                Diagnostic::new(
                    format!("invalid YAML: {}", error.message),
                    Origin::at(file, error.loc),
                )
                .with_hint("fix the syntax; the rest of this file was not checked"),
            );
            return;
        }
    };
    let entries = match &root.kind {
        NodeKind::Map(entries) => entries,
        NodeKind::Null => return,
        _ => {
            diagnostics.push(
                Diagnostic::new(
                    format!(
                        "a policy file must be a mapping, found {}",
                        root.type_name()
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
    for (key, value) in entries {
        let name = match &key.kind {
            NodeKind::Str(name) => name.as_str(),
            _ => "",
        };
        match name {
            "connections" => {
                let failed = collect_items(file, value, &mut parsed.connections, diagnostics);
                parsed
                    .broken_connections
                    .extend(
                        failed
                            .iter()
                            .filter_map(|node| match &node.get("name")?.kind {
                                NodeKind::Str(name) => Some(name.clone()),
                                _ => None,
                            }),
                    );
            }
            "applications" => {
                collect_items(file, value, &mut parsed.applications, diagnostics);
            }
            "users" => {
                collect_items(file, value, &mut parsed.users, diagnostics);
            }
            "login" => match yaml::from_node::<LoginPolicy>(value) {
                Ok(login) => parsed.login.push((
                    login,
                    Located {
                        file: Arc::clone(file),
                        node: value.clone(),
                    },
                )),
                Err(error) => diagnostics.push(Diagnostic::new(
                    error.message,
                    Origin::at(file, error.loc.unwrap_or(value.loc)),
                )),
            },
            _ => diagnostics.push(Diagnostic::new(
                format!(
                    "unknown top-level key `{}`, expected one of {}",
                    display_key(key),
                    TOP_LEVEL_KEYS.map(|k| format!("`{k}`")).join(", ")
                ),
                Origin::at(file, key.loc),
            )),
        }
    }
}

fn display_key(key: &Node) -> String {
    match &key.kind {
        NodeKind::Str(s) => s.clone(),
        NodeKind::Int(i) => i.to_string(),
        NodeKind::UInt(u) => u.to_string(),
        NodeKind::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// Deserializes each list item on its own; returns the items that failed.
fn collect_items<'n, T: DeserializeOwned>(
    file: &Arc<str>,
    list: &'n Node,
    out: &mut Vec<(T, Located)>,
    diagnostics: &mut Diagnostics,
) -> Vec<&'n Node> {
    let mut failed = Vec::new();
    let items = match &list.kind {
        NodeKind::Seq(items) => items,
        NodeKind::Null => return failed,
        _ => {
            diagnostics.push(Diagnostic::new(
                format!("expected a list, found {}", list.type_name()),
                Origin::at(file, list.loc),
            ));
            return failed;
        }
    };
    for item in items {
        match yaml::from_node::<T>(item) {
            Ok(value) => out.push((
                value,
                Located {
                    file: Arc::clone(file),
                    node: item.clone(),
                },
            )),
            Err(error) => {
                diagnostics.push(Diagnostic::new(
                    error.message,
                    Origin::at(file, error.loc.unwrap_or(item.loc)),
                ));
                failed.push(item);
            }
        }
    }
    failed
}
