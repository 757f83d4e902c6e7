//! Policy variables: `${NAME}` in the values of policy files, so that one policy directory
//! serves several tenants (dev, staging, production).
//!
//! **Where values come from**, highest precedence first:
//!
//! 1. `--var NAME=VALUE` (repeatable; a later one wins);
//! 2. `--var-file FILE`, a YAML mapping of names to values (repeatable; a later file wins);
//! 3. the environment: `VERIFYCTL_VAR_NAME` defines `${NAME}`, and `VERIFYCTL_SECRET_VAR_NAME`
//!    defines a **secret** `${NAME}`. No other environment variable is ever read, so nothing
//!    unrelated leaks into a policy.
//!
//! Names are `[A-Za-z_][A-Za-z0-9_]*`, case-sensitive. `$${` is a literal `${`.
//!
//! **Secrets** come only from the environment (`VERIFYCTL_SECRET_VAR_…`), never from a flag
//! (process lists, shell history) or a var file (committed to git). A name defined there
//! stays secret whichever source wins. Plans (text, markdown, JSON, saved) show a secret as
//! `[secret ${NAME}]` ([`crate::mask::SecretMask`]), and a saved plan records only its hash.
//!
//! **Substitution happens on the parsed tree, never on the text**: a policy file is parsed
//! first, then each scalar *value* (keys are never substituted) is resolved. A value with a
//! colon, a quote or a newline therefore cannot change the structure of the file, and every
//! location stays the one in the policy file.
//!
//! - Inside a longer value (`email: "ops@${DOMAIN}"`), each variable is put in as text; a
//!   variable holding a list or a mapping is an error there.
//! - As the entire, unquoted value (`block_unverified_login: ${BLOCK}`), the variable is the
//!   value with its type: a var-file value keeps its YAML type (a list stays a list, e.g.
//!   `user_metadata: {domains: ${PARTNER_DOMAINS}}`); a `--var` or environment value is
//!   read like a plain YAML scalar (`true`/`false`, a whole number, `null`/`~`/empty, else
//!   text), and a value written `[a, b]` is a list (a comma-separated value stays text,
//!   since values contain commas). A quoted (`"${X}"`) or block (`|`) value is always text.
//! - The type rules of the field apply to the resolved value; an error names the variable.
//! - An undefined variable is an error at the `${` (file:line:col), with a did-you-mean
//!   and the three ways to define it.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::checks::suggest;
use super::diag::excerpt;
use super::files::MAX_FILE_BYTES;
use super::yaml::{self, Loc, Node, NodeKind};
use super::{Diagnostic, Diagnostics, Origin, PolicySource};
use crate::secret::Secret;

/// `VERIFYCTL_VAR_NAME` defines `${NAME}`.
pub const ENV_PREFIX: &str = "VERIFYCTL_VAR_";
/// `VERIFYCTL_SECRET_VAR_NAME` defines a secret `${NAME}`.
pub const SECRET_ENV_PREFIX: &str = "VERIFYCTL_SECRET_VAR_";

/// Where a variable's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarSource {
    Flag,
    File(String),
    Environment(String),
}

impl fmt::Display for VarSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VarSource::Flag => f.write_str("--var"),
            VarSource::File(file) => write!(f, "--var-file {file}"),
            VarSource::Environment(name) => write!(f, "the environment ({name})"),
        }
    }
}

#[derive(Debug, Clone)]
enum Value {
    /// From `--var` or the environment.
    Text(String),
    /// From the environment, secret.
    Secret(Secret),
    /// From a var file, with its YAML type.
    Yaml(Node),
}

#[derive(Debug, Clone)]
struct Variable {
    value: Value,
    source: VarSource,
    secret: bool,
}

impl Variable {
    /// The value as text when it is a scalar (for interpolation and fingerprints).
    fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Text(text) => Some(text.clone()),
            Value::Secret(secret) => Some(secret.expose().to_string()),
            Value::Yaml(node) => match &node.kind {
                NodeKind::Str(s) => Some(s.clone()),
                NodeKind::Bool(b) => Some(b.to_string()),
                NodeKind::Int(i) => Some(i.to_string()),
                NodeKind::UInt(u) => Some(u.to_string()),
                NodeKind::Float(x) => Some(x.to_string()),
                NodeKind::Null | NodeKind::Seq(_) | NodeKind::Map(_) => None,
            },
        }
    }

    /// The value as one line of text, to show and to fingerprint.
    fn canonical(&self) -> String {
        if let Some(text) = self.scalar_text() {
            return text;
        }
        match &self.value {
            Value::Yaml(node) => yaml::from_node::<serde_json::Value>(node)
                .map_or_else(|_| String::new(), |v| v.to_string()),
            _ => String::new(),
        }
    }
}

/// The variables defined for a run (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct Variables {
    defined: BTreeMap<String, Variable>,
}

/// A variable the policies used, as a saved plan records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedVariable {
    pub name: String,
    pub secret: bool,
    /// The value as text; `None` for a secret.
    pub shown: Option<String>,
    /// SHA-256 over the name and the value (a secret is recorded only as this).
    pub fingerprint: String,
    pub source: String,
}

/// Whether `name` is a valid variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn name_hint() -> &'static str {
    "a variable name is letters, digits and `_`, not starting with a digit (e.g. PARTNER_DOMAIN)"
}

impl Variables {
    /// Collects the variables of a run: `--var` flags (`NAME=VALUE`), `--var-file` files
    /// (read here) and the process environment (only the two prefixes are looked at).
    /// Every problem is reported, in one go.
    pub fn collect(
        flags: &[String],
        files: &[PathBuf],
        env: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Result<Variables, Diagnostics> {
        let mut diagnostics = Diagnostics::default();
        let mut vars = Variables::default();
        let mut secret_names = BTreeSet::new();
        let mut from_env: BTreeMap<String, String> = BTreeMap::new();
        let env_origin: Arc<str> = Arc::from("environment");
        let mut env: Vec<(OsString, OsString)> = env.into_iter().collect();
        env.sort();
        for (key, value) in env {
            let Some(key) = key.to_str() else { continue };
            let (name, secret) = if let Some(name) = key.strip_prefix(SECRET_ENV_PREFIX) {
                (name, true)
            } else if let Some(name) = key.strip_prefix(ENV_PREFIX) {
                (name, false)
            } else {
                continue;
            };
            if !is_valid_name(name) {
                diagnostics.push(
                    Diagnostic::new(
                        format!(
                            "environment variable {key} does not name a policy variable: `{}` is not a valid name",
                            excerpt(name)
                        ),
                        Origin::file(&env_origin),
                    )
                    .with_hint(name_hint()),
                );
                continue;
            }
            let Ok(value) = value.into_string() else {
                diagnostics.push(
                    Diagnostic::new(
                        format!("environment variable {key} is not valid UTF-8 text"),
                        Origin::file(&env_origin),
                    )
                    .with_hint("set it to UTF-8 text, or unset it"),
                );
                continue;
            };
            if let Some(other) = from_env.insert(name.to_string(), key.to_string()) {
                diagnostics.push(
                    Diagnostic::new(
                        format!("`{name}` is defined twice in the environment, by {other} and by {key}"),
                        Origin::file(&env_origin),
                    )
                    .with_hint("keep one: VERIFYCTL_SECRET_VAR_… if the value is secret, VERIFYCTL_VAR_… if not"),
                );
                continue;
            }
            let value = if secret {
                secret_names.insert(name.to_string());
                Value::Secret(Secret::new(value))
            } else {
                Value::Text(value)
            };
            vars.define(name, value, VarSource::Environment(key.to_string()));
        }
        for path in files {
            vars.read_file(path, &mut diagnostics);
        }
        let flag_origin: Arc<str> = Arc::from("--var");
        for flag in flags {
            match flag.split_once('=') {
                Some((name, value)) if is_valid_name(name) => {
                    vars.define(name, Value::Text(value.to_string()), VarSource::Flag);
                }
                Some((name, _)) => diagnostics.push(
                    Diagnostic::new(
                        format!("`--var {}`: `{}` is not a valid variable name", excerpt(flag), excerpt(name)),
                        Origin::file(&flag_origin),
                    )
                    .with_hint(name_hint()),
                ),
                None => diagnostics.push(
                    Diagnostic::new(
                        format!("`--var {}` has no `=`", excerpt(flag)),
                        Origin::file(&flag_origin),
                    )
                    .with_hint("write it as `--var NAME=VALUE`, e.g. `--var PARTNER_DOMAIN=partner.example`"),
                ),
            }
        }
        for name in secret_names {
            if let Some(var) = vars.defined.get_mut(&name) {
                var.secret = true;
            }
        }
        if diagnostics.is_empty() {
            Ok(vars)
        } else {
            Err(diagnostics)
        }
    }

    fn define(&mut self, name: &str, value: Value, source: VarSource) {
        self.defined.insert(
            name.to_string(),
            Variable {
                value,
                source,
                secret: false,
            },
        );
    }

    /// Reads one `--var-file`: a YAML mapping of variable names to values.
    fn read_file(&mut self, path: &std::path::Path, diagnostics: &mut Diagnostics) {
        let file: Arc<str> = Arc::from(path.display().to_string());
        let hint = "a var file is a YAML mapping of variable names to values, e.g. `PARTNER_DOMAIN: partner.example`";
        let text = match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() && meta.len() > MAX_FILE_BYTES => {
                diagnostics.push(
                    Diagnostic::new(
                        "this var file is too large to be a var file",
                        Origin::file(&file),
                    )
                    .with_hint(hint),
                );
                return;
            }
            Ok(meta) if !meta.is_file() => {
                diagnostics.push(
                    Diagnostic::new("this var file is not a regular file", Origin::file(&file))
                        .with_hint("pass a YAML file to --var-file"),
                );
                return;
            }
            _ => match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(error) => {
                    let why = match error.kind() {
                        std::io::ErrorKind::NotFound => "it does not exist".to_string(),
                        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                        std::io::ErrorKind::InvalidData => "it is not UTF-8 text".to_string(),
                        kind => kind.to_string(),
                    };
                    diagnostics.push(
                        Diagnostic::new(
                            format!("cannot read this var file: {why}"),
                            Origin::file(&file),
                        )
                        .with_hint("check the path given to --var-file"),
                    );
                    return;
                }
            },
        };
        let text: Arc<str> = Arc::from(text.strip_prefix('\u{feff}').unwrap_or(&text));
        diagnostics.add_source(&file, &text);
        let root = match yaml::parse(&text) {
            Ok(root) => root,
            Err(error) => {
                diagnostics.push(
                    Diagnostic::new(
                        format!("invalid YAML: {}", error.message),
                        Origin::at(&file, error.loc),
                    )
                    .with_hint(error.hint.unwrap_or(hint)),
                );
                return;
            }
        };
        let entries = match root.kind {
            NodeKind::Map(entries) => entries,
            NodeKind::Null => return,
            _ => {
                diagnostics.push(
                    Diagnostic::new(
                        format!("a var file must be a mapping, found {}", root.type_name()),
                        Origin::at(&file, root.loc),
                    )
                    .with_hint(hint),
                );
                return;
            }
        };
        for (key, value) in entries {
            match &key.kind {
                NodeKind::Str(name) if is_valid_name(name) => {
                    self.define(name, Value::Yaml(value), VarSource::File(file.to_string()));
                }
                NodeKind::Str(name) => diagnostics.push(
                    Diagnostic::new(
                        format!("`{}` is not a valid variable name", excerpt(name)),
                        Origin::at(&file, key.loc),
                    )
                    .with_hint(name_hint()),
                ),
                _ => diagnostics.push(
                    Diagnostic::new(
                        format!("a variable name must be text, found {}", key.type_name()),
                        Origin::at(&file, key.loc),
                    )
                    .with_hint(name_hint()),
                ),
            }
        }
    }

    /// Defines `name` as text (for callers and tests that build variables by hand).
    pub fn set(&mut self, name: &str, value: &str) {
        self.define(name, Value::Text(value.to_string()), VarSource::Flag);
    }

    /// The names defined.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.defined.keys().map(String::as_str)
    }
}

/// The three ways to define `name`, for hints.
fn how_to_define(name: &str) -> String {
    format!(
        "define it with `--var {name}=VALUE`, in a `--var-file` (`{name}: VALUE`), or in the environment as `{ENV_PREFIX}{name}` (`{SECRET_ENV_PREFIX}{name}` if it is secret)"
    )
}

/// One piece of a scalar value.
enum Piece {
    Text(String),
    /// `${name}`, the `index`-th reference of the scalar.
    Var {
        name: String,
        index: usize,
    },
}

/// A malformed reference, at its `index`-th `${`.
struct Malformed {
    message: String,
    index: usize,
}

/// Splits a scalar into text and references; `None` when it holds neither `${` nor `$${`.
fn split(value: &str) -> Option<Result<Vec<Piece>, Malformed>> {
    if !value.contains("${") {
        return None;
    }
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = value;
    let mut index = 0;
    while let Some(at) = rest.find('$') {
        text.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            text.push_str("${");
            rest = after;
        } else if let Some(body) = tail.strip_prefix("${") {
            let Some(end) = body.find('}') else {
                return Some(Err(Malformed {
                    message: "this `${` has no closing `}`".into(),
                    index,
                }));
            };
            let name = &body[..end];
            if !is_valid_name(name) {
                return Some(Err(Malformed {
                    message: format!("`${{{}}}` is not a valid variable name", excerpt(name)),
                    index,
                }));
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Var {
                name: name.to_string(),
                index,
            });
            index += 1;
            rest = &body[end + 1..];
        } else {
            text.push('$');
            rest = &tail[1..];
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Some(Ok(pieces))
}

/// Where the `index`-th `${` of the scalar starting at `start` is in `text` (the scalar's
/// start when it cannot be found, e.g. behind a YAML escape).
fn locate(text: &str, start: Loc, index: usize) -> Loc {
    let Some(offset) = offset_of(text, start) else {
        return start;
    };
    let mut seen = 0;
    let bytes = text.as_bytes();
    let mut at = offset;
    while at + 1 < bytes.len() {
        if bytes[at] == b'$' && bytes.get(at + 1) == Some(&b'$') && bytes.get(at + 2) == Some(&b'{')
        {
            at += 3;
            continue;
        }
        if bytes[at] == b'$' && bytes[at + 1] == b'{' {
            if seen == index {
                return loc_of(text, at);
            }
            seen += 1;
        }
        at += 1;
    }
    start
}

/// The byte offset of a 1-based line and column (columns count characters).
fn offset_of(text: &str, loc: Loc) -> Option<usize> {
    let line_start = if loc.line <= 1 {
        0
    } else {
        text.match_indices('\n')
            .nth(loc.line as usize - 2)
            .map(|(i, _)| i + 1)?
    };
    let line = &text[line_start..];
    let column = (loc.column.max(1) - 1) as usize;
    match line.char_indices().nth(column) {
        Some((i, _)) => Some(line_start + i),
        None => Some(line_start + line.len()),
    }
}

fn loc_of(text: &str, offset: usize) -> Loc {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Loc {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
    }
}

/// A `--var` or environment value as the entire unquoted value: read like a plain YAML
/// scalar, or a flow list when written `[…]`.
fn typed(text: &str, loc: Loc) -> Result<NodeKind, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('[') && trimmed.ends_with(']') {
        return match yaml::parse(trimmed) {
            Ok(node) => Ok(relocated(node, loc).kind),
            Err(error) => Err(format!(
                "looks like a list (`[…]`) but is not valid YAML: {}",
                error.message
            )),
        };
    }
    Ok(match text {
        "true" => NodeKind::Bool(true),
        "false" => NodeKind::Bool(false),
        "" | "~" | "null" | "Null" | "NULL" => NodeKind::Null,
        _ => {
            let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
            let numeric = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
            match (numeric, text.parse::<u64>(), text.parse::<i64>()) {
                (true, Ok(u), _) => NodeKind::UInt(u),
                (true, _, Ok(i)) => NodeKind::Int(i),
                _ => NodeKind::Str(text.to_string()),
            }
        }
    })
}

/// `node` with every location set to `loc` (a var-file value put into a policy file).
fn relocated(node: Node, loc: Loc) -> Node {
    let kind = match node.kind {
        NodeKind::Seq(items) => {
            NodeKind::Seq(items.into_iter().map(|n| relocated(n, loc)).collect())
        }
        NodeKind::Map(entries) => NodeKind::Map(
            entries
                .into_iter()
                .map(|(k, v)| (relocated(k, loc), relocated(v, loc)))
                .collect(),
        ),
        other => other,
    };
    Node { kind, loc }
}

/// Resolves the variables of the policy files of one load, and remembers which were used
/// where (so that later errors about a resolved value can name its variable).
pub(super) struct Resolver<'a> {
    vars: &'a Variables,
    used: BTreeSet<String>,
    /// Values that came (wholly or partly) from variables: where, and which.
    sites: BTreeMap<Origin, Vec<String>>,
}

impl<'a> Resolver<'a> {
    pub fn new(vars: &'a Variables) -> Resolver<'a> {
        Resolver {
            vars,
            used: BTreeSet::new(),
            sites: BTreeMap::new(),
        }
    }

    /// Resolves every variable in the values of `root` (a policy file's tree).
    pub fn substitute(
        &mut self,
        root: &mut Node,
        source: &PolicySource,
        diagnostics: &mut Diagnostics,
    ) {
        match &mut root.kind {
            NodeKind::Map(entries) => {
                for (_, value) in entries {
                    self.substitute(value, source, diagnostics);
                }
            }
            NodeKind::Seq(items) => {
                for item in items {
                    self.substitute(item, source, diagnostics);
                }
            }
            NodeKind::Str(value) => {
                let Some(pieces) = split(value) else { return };
                match pieces {
                    Ok(pieces) => self.resolve(root, pieces, source, diagnostics),
                    Err(malformed) => diagnostics.push(
                        Diagnostic::new(
                            malformed.message,
                            Origin::at(
                                &source.file,
                                locate(&source.text, root.loc, malformed.index),
                            ),
                        )
                        .with_hint("write a variable as `${NAME}`; write `$${` for a literal `${`"),
                    ),
                }
            }
            _ => {}
        }
    }

    /// The variable `name`, or an error at its `${` (the `index`-th of the scalar at `at`).
    fn lookup(
        &mut self,
        name: &str,
        index: usize,
        at: Loc,
        source: &PolicySource,
        diagnostics: &mut Diagnostics,
    ) -> Option<&'a Variable> {
        let vars: &'a Variables = self.vars;
        if let Some(var) = vars.defined.get(name) {
            self.used.insert(name.to_string());
            return Some(var);
        }
        let origin = Origin::at(&source.file, locate(&source.text, at, index));
        let mut hint = String::new();
        if let Some(similar) = suggest(name, vars.names()) {
            hint.push_str(&format!("did you mean `${{{similar}}}`? "));
        }
        hint.push_str(&how_to_define(name));
        diagnostics.push(
            Diagnostic::new(format!("variable `{name}` is not defined"), origin).with_hint(hint),
        );
        None
    }

    fn resolve(
        &mut self,
        node: &mut Node,
        pieces: Vec<Piece>,
        source: &PolicySource,
        diagnostics: &mut Diagnostics,
    ) {
        let file = &source.file;
        let quoted = offset_of(&source.text, node.loc)
            .and_then(|at| source.text[at..].chars().next())
            .is_some_and(|c| matches!(c, '"' | '\'' | '|' | '>'));
        let mut names = Vec::new();
        let mut failed = false;
        if let [Piece::Var { name, index }] = pieces.as_slice() {
            let Some(var) = self.lookup(name, *index, node.loc, source, diagnostics) else {
                return;
            };
            let kind = match (&var.value, quoted) {
                (Value::Yaml(value), false) => Ok(relocated(value.clone(), node.loc).kind),
                (Value::Text(text), false) => typed(text, node.loc),
                (Value::Secret(secret), false) => typed(secret.expose(), node.loc)
                    .map_err(|_| "is secret and looks like a list, but is not valid YAML".to_string()),
                (_, true) => var.scalar_text().map(NodeKind::Str).ok_or_else(|| {
                    "is a list or a mapping (or null), but this value is quoted, so it must be text".to_string()
                }),
            };
            match kind {
                Ok(kind) => node.kind = kind,
                Err(why) => {
                    diagnostics.push(
                        Diagnostic::new(
                            format!("variable `{name}` (from {}) {why}", var.source),
                            Origin::at(file, node.loc),
                        )
                        .with_hint("fix the variable's value, or the policy value that uses it"),
                    );
                    return;
                }
            }
            self.sites
                .insert(Origin::at(file, node.loc), vec![name.clone()]);
            return;
        }
        let mut out = String::new();
        for piece in &pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Var { name, index } => {
                    let Some(var) = self.lookup(name, *index, node.loc, source, diagnostics) else {
                        failed = true;
                        continue;
                    };
                    names.push(name.clone());
                    if let Some(text) = var.scalar_text() {
                        out.push_str(&text);
                    } else {
                        failed = true;
                        diagnostics.push(
                                Diagnostic::new(
                                    format!(
                                        "variable `{name}` (from {}) is a list, a mapping or null, so it cannot be part of a longer text",
                                        var.source
                                    ),
                                    Origin::at(file, locate(&source.text, node.loc, *index)),
                                )
                                .with_hint(format!("a list can only be the entire value: `key: ${{{name}}}`")),
                            );
                    }
                }
            }
        }
        if !failed {
            node.kind = NodeKind::Str(out);
            if !names.is_empty() {
                self.sites.insert(Origin::at(file, node.loc), names);
            }
        }
    }

    /// Names the variables behind resolved values in the diagnostics about them, and masks
    /// secret values in every message.
    pub fn annotate(&self, diagnostics: &mut Diagnostics) {
        let secrets: Vec<String> = self
            .vars
            .defined
            .values()
            .filter(|var| var.secret)
            .filter_map(Variable::scalar_text)
            .filter(|value| !value.is_empty())
            .collect();
        for diagnostic in &mut diagnostics.items {
            if let Some(names) = self.sites.get(&diagnostic.origin) {
                let list: Vec<String> = names
                    .iter()
                    .map(|name| {
                        let source = self
                            .vars
                            .defined
                            .get(name)
                            .map(|v| v.source.to_string())
                            .unwrap_or_default();
                        format!("`${{{name}}}` from {source}")
                    })
                    .collect();
                diagnostic
                    .message
                    .push_str(&format!(" (the value comes from {})", list.join(", ")));
            }
            for secret in &secrets {
                diagnostic.message = diagnostic.message.replace(secret.as_str(), "[secret]");
                if let Some(hint) = &mut diagnostic.hint {
                    *hint = hint.replace(secret.as_str(), "[secret]");
                }
            }
        }
    }

    /// The variables the policies used, by name.
    pub fn used(&self) -> Vec<UsedVariable> {
        self.used
            .iter()
            .filter_map(|name| {
                let var = self.vars.defined.get(name)?;
                let canonical = var.canonical();
                let mut hash = Sha256::new();
                hash.update(b"verifyctl variable\0");
                hash.update(name.as_bytes());
                hash.update([0]);
                hash.update(canonical.as_bytes());
                let fingerprint: String =
                    hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
                Some(UsedVariable {
                    name: name.clone(),
                    secret: var.secret,
                    shown: (!var.secret).then_some(canonical),
                    fingerprint,
                    source: var.source.to_string(),
                })
            })
            .collect()
    }

    /// The secret variables the policies used, with their values (for masking outputs).
    pub fn secrets(&self) -> Vec<(String, Secret)> {
        self.used
            .iter()
            .filter_map(|name| {
                let var = self.vars.defined.get(name)?;
                if !var.secret {
                    return None;
                }
                Some((name.clone(), Secret::new(var.scalar_text()?)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_valid_name("PARTNER_DOMAIN"));
        assert!(is_valid_name("_x1"));
        assert!(!is_valid_name("1x"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("a-b"));
    }

    #[test]
    fn splitting_and_escapes() {
        let pieces = split("a$${b}$x${C}d").unwrap().ok().unwrap();
        let shown: Vec<String> = pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => format!("T{t}"),
                Piece::Var { name, index } => format!("V{name}{index}"),
            })
            .collect();
        assert_eq!(shown, ["Ta${b}$x", "VC0", "Td"]);
        assert!(split("no vars $ here").is_none());
        assert!(split("${open").unwrap().is_err());
        assert!(split("${a-b}").unwrap().is_err());
    }

    #[test]
    fn locating_the_nth_reference() {
        let text = "a:\n  b: \"x $${y} ${P} ${Q}\"\n";
        let start = Loc { line: 2, column: 6 };
        assert_eq!(
            locate(text, start, 0),
            Loc {
                line: 2,
                column: 15
            }
        );
        assert_eq!(
            locate(text, start, 1),
            Loc {
                line: 2,
                column: 20
            }
        );
    }

    #[test]
    fn typed_values() {
        let at = Loc::default();
        assert_eq!(typed("true", at).unwrap(), NodeKind::Bool(true));
        assert_eq!(typed("12", at).unwrap(), NodeKind::UInt(12));
        assert_eq!(typed("-3", at).unwrap(), NodeKind::Int(-3));
        assert_eq!(typed("", at).unwrap(), NodeKind::Null);
        assert_eq!(typed("a, b", at).unwrap(), NodeKind::Str("a, b".into()));
        assert_eq!(typed("x: y", at).unwrap(), NodeKind::Str("x: y".into()));
        assert!(matches!(typed("[a, b]", at).unwrap(), NodeKind::Seq(items) if items.len() == 2));
        assert!(typed("[a, [b]", at).is_err());
        assert_eq!(typed("[a, b", at).unwrap(), NodeKind::Str("[a, b".into()));
    }
}
