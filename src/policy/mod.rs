//! Policy files to a validated desired state.
//!
//! [`load_dir`] reads every `*.yaml`/`*.yml` file of a directory (sorted by name) and
//! [`load_sources`] turns their texts into one [`DesiredState`]. Every problem of every file
//! is collected (syntax, types, unknown keys, bad values, and cross-file problems such as a
//! duplicate user) before anything is returned, each with its file:line:col. Nothing here
//! touches the network.

pub mod checks;
pub mod diag;
pub mod duration;
pub mod model;
pub mod schema;
pub mod scope;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use time::Duration;

pub use diag::{Diagnostic, Diagnostics, Origin};
pub use model::{Onboarding, SignupMode, VerificationMode};
pub use scope::Scope;

use crate::auth0::Profile;
use model::{ApplicationPolicy, ConnectionPolicy, LoginPolicy, TOP_LEVEL_KEYS, UserPolicy};
use yaml::{Node, NodeKind};

/// Everything the policies ask for, merged across files, in a stable order.
#[derive(Debug, Clone, Default)]
pub struct DesiredState {
    /// Connections by name.
    pub connections: BTreeMap<String, ConnectionSpec>,
    /// Applications in file order.
    pub applications: Vec<ApplicationSpec>,
    /// Listed users sorted by (connection, email).
    pub users: Vec<UserSpec>,
    /// How the login Action behaves (defaults when no file has a `login` block).
    pub login: LoginSpec,
    /// The policy files read, with their contents (for digests and diagnostics).
    pub files: Vec<PolicySource>,
}

/// The login Action's settings, with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginSpec {
    pub deny_message: String,
    pub action_name: String,
    /// Where the `login` block is, when there is one.
    pub origin: Option<Origin>,
}

impl LoginSpec {
    pub const DEFAULT_ACTION_NAME: &'static str = "verifyctl-email-verification";
    pub const DEFAULT_DENY_MESSAGE: &'static str = "Please verify your email address before you log in: open the link in the verification email we sent you.";
}

impl Default for LoginSpec {
    fn default() -> Self {
        LoginSpec {
            deny_message: LoginSpec::DEFAULT_DENY_MESSAGE.to_string(),
            action_name: LoginSpec::DEFAULT_ACTION_NAME.to_string(),
            origin: None,
        }
    }
}

impl DesiredState {
    /// Whether any policy asks for enforcement at login (so the login Action must run).
    pub fn needs_login_action(&self) -> bool {
        self.connections.values().any(|c| c.block_unverified_login)
            || self
                .applications
                .iter()
                .any(|a| a.mode == VerificationMode::Required)
    }

    /// The listed users of one connection.
    pub fn users_of<'a>(&'a self, connection: &'a str) -> impl Iterator<Item = &'a UserSpec> + 'a {
        self.users
            .iter()
            .filter(move |u| u.connection == connection)
    }
}

/// A policy file's name (as the user would write it) and text.
#[derive(Debug, Clone)]
pub struct PolicySource {
    pub file: Arc<str>,
    pub text: Arc<str>,
}

/// A connection's policy, with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionSpec {
    pub name: String,
    pub mode: VerificationMode,
    pub resend: Resend,
    pub verification_client: Option<String>,
    pub signup: SignupMode,
    pub block_unverified_login: bool,
    pub resend_on_login: bool,
    pub origin: Origin,
}

/// The resend policy in effect: at most `max` sends, at least `after` apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resend {
    pub after: Duration,
    pub max: u32,
}

impl Resend {
    /// Without a `resend` block each user gets at most one verification email.
    pub const ONCE: Resend = Resend {
        after: Duration::ZERO,
        max: 1,
    };
}

/// An application named in the policies.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationSpec {
    pub selector: ApplicationSelector,
    pub mode: VerificationMode,
    pub origin: Origin,
}

/// How an application is named.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ApplicationSelector {
    Name(String),
    ClientId(String),
}

impl std::fmt::Display for ApplicationSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplicationSelector::Name(name) => write!(f, "application \"{name}\""),
            ApplicationSelector::ClientId(id) => write!(f, "application with client_id {id}"),
        }
    }
}

/// A listed user, with the connection's policy folded in.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSpec {
    pub connection: String,
    /// Lower-cased, as Auth0 stores database emails.
    pub email: String,
    /// The profile fields the policy owns.
    pub profile: Profile,
    /// The verification mode in effect for this user.
    pub mode: VerificationMode,
    /// True when the user's own `email_verification` overrides the connection's.
    pub mode_overridden: bool,
    pub onboarding: Onboarding,
    pub origin: Origin,
}

/// Reads and validates every policy file in `dir`.
pub fn load_dir(dir: &Path) -> Result<DesiredState, Diagnostics> {
    let dir_name: Arc<str> = Arc::from(dir.display().to_string());
    let mut diagnostics = Diagnostics::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            diagnostics.push(
                Diagnostic::new(format!("cannot read the policy directory: {error}"), Origin::file(&dir_name))
                    .with_hint("pass the directory holding your policy YAML files, e.g. `verifyctl plan policies/`"),
            );
            return Err(diagnostics);
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.is_file()
                && matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml")
                )
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        diagnostics.push(
            Diagnostic::new(
                "no policy files (*.yaml, *.yml) in this directory",
                Origin::file(&dir_name),
            )
            .with_hint(
                "create one, e.g. policies/connections.yaml; `verifyctl schema` prints the format",
            ),
        );
        return Err(diagnostics);
    }
    let mut sources = Vec::new();
    for path in paths {
        let file: Arc<str> = Arc::from(path.display().to_string());
        match std::fs::read_to_string(&path) {
            Ok(text) => sources.push(PolicySource {
                file,
                text: Arc::from(text),
            }),
            Err(error) => diagnostics.push(Diagnostic::new(
                format!("cannot read the file: {error}"),
                Origin::file(&file),
            )),
        }
    }
    let read_errors = diagnostics.items;
    match load_sources(sources) {
        Ok(state) if read_errors.is_empty() => Ok(state),
        Ok(_) => Err(Diagnostics::from_items(read_errors)),
        Err(mut found) => {
            found.items.extend(read_errors);
            found.sort();
            Err(found)
        }
    }
}

/// Validates policy texts (already read) into a desired state. Pure: no I/O.
pub fn load_sources(sources: Vec<PolicySource>) -> Result<DesiredState, Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let mut parsed = ParsedPolicies::default();
    for source in &sources {
        diagnostics.add_source(&source.file, &source.text);
        parse_file(source, &mut parsed, &mut diagnostics);
    }
    let state = assemble(parsed, sources, &mut diagnostics);
    if diagnostics.is_empty() {
        Ok(state)
    } else {
        diagnostics.sort();
        Err(diagnostics)
    }
}

/// Typed entries of all files, each with the node it came from.
#[derive(Default)]
struct ParsedPolicies {
    connections: Vec<(ConnectionPolicy, Located)>,
    login: Vec<(LoginPolicy, Located)>,
    /// Names of connection entries that failed to parse: users naming them are not also
    /// reported as naming an undefined connection.
    broken_connections: std::collections::BTreeSet<String>,
    applications: Vec<(ApplicationPolicy, Located)>,
    users: Vec<(UserPolicy, Located)>,
}

/// An entry's file and YAML node, to locate later findings at the offending field.
struct Located {
    file: Arc<str>,
    node: Node,
}

impl Located {
    fn origin(&self) -> Origin {
        Origin::at(&self.file, self.node.loc)
    }

    /// Where the value of `field` starts (the entry itself when the field is absent).
    fn field(&self, field: &str) -> Origin {
        Origin::at(
            &self.file,
            self.node.get(field).map_or(self.node.loc, |n| n.loc),
        )
    }
}

fn parse_file(source: &PolicySource, parsed: &mut ParsedPolicies, diagnostics: &mut Diagnostics) {
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

/// Cross-entry checks and assembly of the desired state.
fn assemble(
    parsed: ParsedPolicies,
    files: Vec<PolicySource>,
    diagnostics: &mut Diagnostics,
) -> DesiredState {
    let mut state = DesiredState {
        files,
        ..DesiredState::default()
    };
    state.login = login_spec(parsed.login, diagnostics);
    let mut broken_connections = parsed.broken_connections;
    for (policy, located) in parsed.connections {
        let name = policy.name.clone();
        let Some(spec) = connection_spec(policy, &located, diagnostics) else {
            broken_connections.insert(name);
            continue;
        };
        {
            if let Some(first) = state.connections.get(&spec.name) {
                diagnostics.push(
                    Diagnostic::new(
                        format!("connection `{}` is defined twice", spec.name),
                        located.field("name"),
                    )
                    .with_related("first defined", first.origin.clone())
                    .with_hint("keep one definition; merge their settings"),
                );
            } else {
                state.connections.insert(spec.name.clone(), spec);
            }
        }
    }
    for (policy, located) in parsed.applications {
        if let Some(spec) = application_spec(policy, &located, &state.applications, diagnostics) {
            state.applications.push(spec);
        }
    }
    let mut seen_users: BTreeMap<(String, String), Origin> = BTreeMap::new();
    for (policy, located) in parsed.users {
        let key = (policy.connection.clone(), policy.email.to_lowercase());
        if let Some(first) = seen_users.get(&key) {
            diagnostics.push(
                Diagnostic::new(
                    format!(
                        "user {} is listed twice for connection `{}` (emails are compared case-insensitively)",
                        key.1, key.0
                    ),
                    located.field("email"),
                )
                .with_related("first listed", first.clone())
                .with_hint("remove one of the entries"),
            );
            continue;
        }
        seen_users.insert(key, located.field("email"));
        if let Some(spec) = user_spec(
            policy,
            &located,
            &state.connections,
            &broken_connections,
            diagnostics,
        ) {
            state.users.push(spec);
        }
    }
    state
        .users
        .sort_by(|a, b| (&a.connection, &a.email).cmp(&(&b.connection, &b.email)));
    state
}

fn login_spec(blocks: Vec<(LoginPolicy, Located)>, diagnostics: &mut Diagnostics) -> LoginSpec {
    let mut blocks = blocks.into_iter();
    let Some((login, located)) = blocks.next() else {
        return LoginSpec::default();
    };
    for (_, again) in blocks {
        diagnostics.push(
            Diagnostic::new("`login` is defined in more than one place", again.origin())
                .with_related("first defined", located.origin())
                .with_hint("keep one `login` block"),
        );
    }
    for (field, value) in [
        ("deny_message", &login.deny_message),
        ("action_name", &login.action_name),
    ] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            diagnostics.push(Diagnostic::new(
                format!("`login.{field}` is empty"),
                located.field(field),
            ));
        }
    }
    LoginSpec {
        deny_message: login
            .deny_message
            .unwrap_or_else(|| LoginSpec::DEFAULT_DENY_MESSAGE.to_string()),
        action_name: login
            .action_name
            .unwrap_or_else(|| LoginSpec::DEFAULT_ACTION_NAME.to_string()),
        origin: Some(located.origin()),
    }
}

fn connection_spec(
    policy: ConnectionPolicy,
    located: &Located,
    diagnostics: &mut Diagnostics,
) -> Option<ConnectionSpec> {
    let mut ok = true;
    if policy.name.trim().is_empty() {
        diagnostics.push(Diagnostic::new(
            "connection `name` is empty",
            located.field("name"),
        ));
        ok = false;
    }
    let resend = match &policy.resend {
        None => Resend::ONCE,
        Some(resend) => {
            let after = match duration::parse_duration(&resend.after) {
                Ok(after) => after,
                Err(message) => {
                    diagnostics.push(Diagnostic::new(
                        format!("invalid `resend.after`: {message}"),
                        resend_field(located, "after"),
                    ));
                    ok = false;
                    Duration::ZERO
                }
            };
            if resend.max == 0 {
                diagnostics.push(
                    Diagnostic::new(
                        "`resend.max` must be at least 1",
                        resend_field(located, "max"),
                    )
                    .with_hint("use `email_verification: off` to send no verification email"),
                );
                ok = false;
            }
            if policy.email_verification != VerificationMode::Required {
                diagnostics.push(
                    Diagnostic::new(
                        format!(
                            "`resend` only applies to `email_verification: required`, this connection is `{}`",
                            policy.email_verification.as_str()
                        ),
                        located.field("resend"),
                    )
                    .with_hint("remove `resend` or make the connection `required`"),
                );
                ok = false;
            }
            Resend {
                after,
                max: resend.max,
            }
        }
    };
    for (set, field) in [
        (policy.block_unverified_login, "block_unverified_login"),
        (policy.resend_on_login, "resend_on_login"),
    ] {
        if set && policy.email_verification != VerificationMode::Required {
            diagnostics.push(
                Diagnostic::new(
                    format!(
                        "`{field}` needs `email_verification: required`, this connection is `{}`",
                        policy.email_verification.as_str()
                    ),
                    located.field(field),
                )
                .with_hint("users of trusted and off connections are never stopped at login"),
            );
            ok = false;
        }
    }
    ok.then(|| ConnectionSpec {
        name: policy.name,
        mode: policy.email_verification,
        resend,
        verification_client: policy.verification_client,
        signup: policy.signup.unwrap_or(SignupMode::Unmanaged),
        block_unverified_login: policy.block_unverified_login,
        resend_on_login: policy.resend_on_login,
        origin: located.origin(),
    })
}

fn resend_field(located: &Located, field: &str) -> Origin {
    let node = located
        .node
        .get("resend")
        .and_then(|resend| resend.get(field))
        .or_else(|| located.node.get("resend"))
        .unwrap_or(&located.node);
    Origin::at(&located.file, node.loc)
}

fn application_spec(
    policy: ApplicationPolicy,
    located: &Located,
    earlier: &[ApplicationSpec],
    diagnostics: &mut Diagnostics,
) -> Option<ApplicationSpec> {
    let selector = match (policy.name, policy.client_id) {
        (Some(name), None) => ApplicationSelector::Name(name),
        (None, Some(id)) => ApplicationSelector::ClientId(id),
        (Some(_), Some(_)) => {
            diagnostics.push(
                Diagnostic::new(
                    "an application has both `name` and `client_id`",
                    located.field("client_id"),
                )
                .with_hint("name it by one of them"),
            );
            return None;
        }
        (None, None) => {
            diagnostics.push(
                Diagnostic::new(
                    "an application needs `name` or `client_id`",
                    located.origin(),
                )
                .with_hint("add `name: <application name>`"),
            );
            return None;
        }
    };
    if let Some(first) = earlier.iter().find(|a| a.selector == selector) {
        diagnostics.push(
            Diagnostic::new(format!("{selector} is defined twice"), located.origin())
                .with_related("first defined", first.origin.clone()),
        );
        return None;
    }
    Some(ApplicationSpec {
        selector,
        mode: policy.email_verification,
        origin: located.origin(),
    })
}

fn user_spec(
    policy: UserPolicy,
    located: &Located,
    connections: &BTreeMap<String, ConnectionSpec>,
    broken_connections: &std::collections::BTreeSet<String>,
    diagnostics: &mut Diagnostics,
) -> Option<UserSpec> {
    let mut ok = true;
    if let Err(reason) = checks::check_email(&policy.email) {
        diagnostics.push(Diagnostic::new(
            format!("invalid email address `{}`: {reason}", policy.email),
            located.field("email"),
        ));
        ok = false;
    }
    for (field, map, is_app) in [
        ("user_metadata", &policy.user_metadata, false),
        ("app_metadata", &policy.app_metadata, true),
    ] {
        if let Some(map) = map {
            for (key, reason) in checks::metadata_key_problems(map, is_app) {
                let origin = located
                    .node
                    .get(field)
                    .and_then(|m| match &m.kind {
                        NodeKind::Map(entries) => entries
                            .iter()
                            .find(|(k, _)| matches!(&k.kind, NodeKind::Str(s) if *s == key))
                            .map(|(k, _)| Origin::at(&located.file, k.loc)),
                        _ => None,
                    })
                    .unwrap_or_else(|| located.field(field));
                diagnostics.push(Diagnostic::new(
                    format!("{field} key `{key}`: {reason}"),
                    origin,
                ));
                ok = false;
            }
        }
    }
    let Some(connection) = connections.get(&policy.connection) else {
        if broken_connections.contains(&policy.connection) {
            // Its definition has its own error; do not pile on.
            return None;
        }
        let known = connections.keys().chain(broken_connections.iter());
        let mut diagnostic = Diagnostic::new(
            format!(
                "user {} names connection `{}`, which no policy defines",
                policy.email, policy.connection
            ),
            located.field("connection"),
        );
        diagnostic = match closest(&policy.connection, known) {
            Some(suggestion) => diagnostic.with_hint(format!("did you mean `{suggestion}`?")),
            None => diagnostic.with_hint(format!(
                "add `- name: {}` with its `email_verification` under `connections:`",
                policy.connection
            )),
        };
        diagnostics.push(diagnostic);
        return None;
    };
    let mode = policy.email_verification.unwrap_or(connection.mode);
    let onboarding = policy.onboarding.unwrap_or(match mode {
        VerificationMode::Required => Onboarding::VerificationEmail,
        VerificationMode::Trusted | VerificationMode::Off => Onboarding::None,
    });
    if onboarding == Onboarding::VerificationEmail && mode != VerificationMode::Required {
        diagnostics.push(
            Diagnostic::new(
                format!(
                    "`onboarding: verification-email` conflicts with `email_verification: {}` for {}",
                    mode.as_str(),
                    policy.email
                ),
                located.field("onboarding"),
            )
            .with_hint("set `email_verification: required` on the user, or choose `password-reset` or `none`"),
        );
        ok = false;
    }
    ok.then(|| UserSpec {
        connection: policy.connection,
        email: policy.email.to_lowercase(),
        profile: Profile {
            name: policy.name,
            given_name: policy.given_name,
            family_name: policy.family_name,
            user_metadata: policy.user_metadata,
            app_metadata: policy.app_metadata,
        },
        mode,
        mode_overridden: policy.email_verification.is_some(),
        onboarding,
        origin: located.origin(),
    })
}

/// The defined name closest to a misspelt one, if any is close enough to suggest.
fn closest<'a>(wanted: &str, names: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    names
        .map(|name| (edit_distance(wanted, name), name))
        .filter(|(distance, name)| *distance <= 2.max(name.len() / 4))
        .min()
        .map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(file: &str, text: &str) -> PolicySource {
        PolicySource {
            file: Arc::from(file),
            text: Arc::from(text),
        }
    }

    #[test]
    fn merges_files_and_applies_defaults() {
        let state = load_sources(vec![
            source(
                "a.yaml",
                "connections:\n  - name: partner-db\n    email_verification: required\n    resend: { after: 72h, max: 3 }\n  - name: staff\n    email_verification: trusted\n",
            ),
            source(
                "b.yaml",
                "users:\n  - connection: staff\n    email: Bob@Corp.Example\n  - connection: partner-db\n    email: alice@partner.example\n    onboarding: password-reset\n",
            ),
        ])
        .unwrap();
        assert_eq!(
            state.connections["partner-db"].resend,
            Resend {
                after: Duration::hours(72),
                max: 3
            }
        );
        assert_eq!(state.connections["staff"].resend, Resend::ONCE);
        let users: Vec<_> = state
            .users
            .iter()
            .map(|u| {
                (
                    u.connection.as_str(),
                    u.email.as_str(),
                    u.mode,
                    u.onboarding,
                )
            })
            .collect();
        assert_eq!(
            users,
            [
                (
                    "partner-db",
                    "alice@partner.example",
                    VerificationMode::Required,
                    Onboarding::PasswordReset
                ),
                (
                    "staff",
                    "bob@corp.example",
                    VerificationMode::Trusted,
                    Onboarding::None
                ),
            ]
        );
    }

    #[test]
    fn reports_every_problem_of_every_file_with_locations() {
        let errors = load_sources(vec![
            source(
                "a.yaml",
                "connections:\n  - name: partner-db\n    email_verification: required\n  - name: partner-db\n    email_verification: off\n  - name: x\n    email_verification: sometimes\nusers:\n  - connection: partner-db\n    email: alice@partner.example\n  - connection: partner-db\n    emial: bob@partner.example\n",
            ),
            source(
                "b.yaml",
                "users:\n  - connection: partner-db\n    email: ALICE@partner.example\n  - connection: partnr-db\n    email: carol@partner.example\n  - connection: partner-db\n    email: not-an-email\nextra: 1\n",
            ),
            source("c.yaml", "connections: [\n"),
        ])
        .unwrap_err();
        let found: Vec<String> = errors
            .items
            .iter()
            .map(|d| format!("{} {}", d.origin, d.message))
            .collect();
        assert_eq!(found.len(), 8, "{found:#?}");
        let expect = [
            "a.yaml:4:11 connection `partner-db` is defined twice",
            "a.yaml:7:25 unknown variant `sometimes`",
            "a.yaml:12:5 unknown field `emial`",
            "b.yaml:3:12 user alice@partner.example is listed twice",
            "b.yaml:4:17 user carol@partner.example names connection `partnr-db`",
            "b.yaml:7:12 invalid email address `not-an-email`",
            "b.yaml:8:1 unknown top-level key `extra`",
            "c.yaml:1:14 invalid YAML: unclosed bracket",
        ];
        for (line, expected) in found.iter().zip(expect) {
            assert!(
                line.starts_with(expected),
                "{line} should start with {expected}"
            );
        }
        let unknown_connection = &errors.items[4];
        assert_eq!(
            unknown_connection.hint.as_deref(),
            Some("did you mean `partner-db`?")
        );
    }

    #[test]
    fn rejects_contradictory_user_settings_and_reserved_metadata() {
        let errors = load_sources(vec![source(
            "p.yaml",
            "connections:\n  - name: staff\n    email_verification: trusted\n    resend: { after: 1d, max: 0 }\nusers:\n  - connection: staff\n    email: a@corp.example\n    onboarding: verification-email\n    app_metadata: { verifyctl: {}, team: x }\n",
        )])
        .unwrap_err();
        let messages: Vec<_> = errors.items.iter().map(|d| d.message.as_str()).collect();
        assert!(
            messages
                .iter()
                .any(|m| m.contains("`resend.max` must be at least 1")),
            "{messages:?}"
        );
        assert!(messages.iter().any(|m| m.contains("`resend` only applies")));
        assert!(
            messages
                .iter()
                .any(|m| m.contains("app_metadata key `verifyctl`"))
        );
        // The connection's own errors are enough: its users are not also reported as
        // naming an undefined connection.
        assert!(
            !messages.iter().any(|m| m.contains("names connection")),
            "{messages:?}"
        );
    }

    #[test]
    fn onboarding_conflict_is_reported_at_the_onboarding_key() {
        let errors = load_sources(vec![source(
            "p.yaml",
            "connections:\n  - name: staff\n    email_verification: trusted\nusers:\n  - connection: staff\n    email: a@corp.example\n    onboarding: verification-email\n",
        )])
        .unwrap_err();
        assert_eq!(errors.items.len(), 1);
        assert_eq!(errors.items[0].origin.to_string(), "p.yaml:7:17");
        assert!(
            errors.items[0]
                .message
                .contains("conflicts with `email_verification: trusted`")
        );
    }

    #[test]
    fn applications_need_exactly_one_selector() {
        let errors = load_sources(vec![source(
            "apps.yaml",
            "applications:\n  - email_verification: required\n  - name: Portal\n    client_id: abc\n    email_verification: required\n  - name: Portal\n    email_verification: off\n  - name: Portal\n    email_verification: required\n",
        )])
        .unwrap_err();
        let messages: Vec<_> = errors.items.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "an application needs `name` or `client_id`",
                "an application has both `name` and `client_id`",
                "application \"Portal\" is defined twice",
            ]
        );
    }

    #[test]
    fn empty_files_are_fine_and_top_level_lists_may_be_null() {
        let state = load_sources(vec![source("a.yaml", ""), source("b.yaml", "users:\n")]).unwrap();
        assert!(state.users.is_empty() && state.connections.is_empty());
    }
}
