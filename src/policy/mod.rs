//! Policy files to a validated desired state.
//!
//! [`load_dir`] reads every `*.yaml`/`*.yml` file of a directory (sorted by name; `files.rs`)
//! and [`load_sources`] turns their texts into one [`DesiredState`]: each file is parsed into
//! typed entries (`parse.rs`), then the entries of all files are checked against each other
//! and assembled (`assemble.rs`). Every problem of every file is collected (syntax, types,
//! unknown keys, bad values, and cross-file problems such as a duplicate user) before
//! anything is returned, each with its file:line:col. A connection's `users_file` adds the
//! users of a CSV or JSON list (`lists.rs`), checked like the others. Nothing here touches
//! the network.

mod assemble;
pub mod checks;
pub mod diag;
pub mod duration;
mod files;
mod lists;
pub mod model;
mod parse;
pub mod schema;
pub mod scope;
pub mod vars;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::Duration;

pub use diag::{Diagnostic, Diagnostics, Origin};
pub use model::{Offboarding, Onboarding, SignupMode, VerificationMode};
pub use scope::Scope;
pub use vars::{UsedVariable, Variables};

use crate::auth0::Profile;

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
    /// The most emails one run sends (`None`: no limit).
    pub max_emails_per_run: Option<u32>,
    /// What this run may do to users who left the policies, and how many users it marks
    /// as managed (command-line settings, not policy).
    pub lifecycle: LifecycleLimits,
    /// The policy files read, with their contents (for digests and diagnostics).
    pub files: Vec<PolicySource>,
    /// The `${NAME}` variables the policies used (`vars.rs`), by name.
    pub variables: Vec<UsedVariable>,
    /// The values of the secret variables used, to mask them in every output.
    pub secrets: Vec<(String, crate::secret::Secret)>,
}

/// The run's limits on offboarding and marking (`--allow-delete`, `--max-deletes`,
/// `--max-marks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleLimits {
    /// Deletions (`offboarding: delete`) are allowed in this run.
    pub allow_delete: bool,
    /// A plan with more deletions than this is refused as a whole.
    pub max_deletes: u32,
    /// The most users marked as managed by a PATCH of their own in one run (marks that
    /// ride on a PATCH the plan makes anyway are not counted).
    pub max_marks: u32,
}

impl LifecycleLimits {
    pub const DEFAULT_MAX_DELETES: u32 = 10;
    pub const DEFAULT_MAX_MARKS: u32 = 1000;
}

impl Default for LifecycleLimits {
    fn default() -> Self {
        LifecycleLimits {
            allow_delete: false,
            max_deletes: Self::DEFAULT_MAX_DELETES,
            max_marks: Self::DEFAULT_MAX_MARKS,
        }
    }
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
    pub offboarding: Offboarding,
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

/// A listed user: who (connection and email) and what the policy says about them.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSpec {
    pub connection: String,
    /// Lower-cased, as Auth0 stores database emails.
    pub email: String,
    pub policy: ListedUser,
}

/// The policy of one listed user, as the per-user rules need it.
// The connection's policy is folded in (`mode` is the one in effect, `mode_overridden` says
// whether the user's own `email_verification` set it). Create actions carry it, so that
// `apply` can bring a user that turns out to exist (a 409) to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ListedUser {
    pub mode: VerificationMode,
    pub mode_overridden: bool,
    pub onboarding: Onboarding,
    /// Where the policy lists the user (file:line:col).
    pub origin: String,
    /// The profile fields the policy owns.
    pub profile: Profile,
}

/// Reads and validates every policy file in `dir` (a `${NAME}` in them is an error).
pub fn load_dir(dir: &Path) -> Result<DesiredState, Diagnostics> {
    load_dir_with(dir, &Variables::default())
}

/// Reads and validates every policy file under `dir` (and the user lists they name),
/// resolving `${NAME}` from `vars`.
pub fn load_dir_with(dir: &Path, vars: &Variables) -> Result<DesiredState, Diagnostics> {
    let (sources, mut read_problems) = files::read_dir(dir)?;
    match load(sources, Some(dir), &mut files::read_list_file, vars) {
        Ok(state) if read_problems.is_empty() => Ok(state),
        Ok(_) => {
            read_problems.sort();
            Err(read_problems)
        }
        Err(mut found) => {
            found.merge(read_problems);
            found.sort();
            Err(found)
        }
    }
}

/// Validates policy texts (already read) into a desired state. Pure: no I/O. A leading
/// byte-order mark is ignored. A `users_file` names a file that does not exist here: use
/// [`load_sources_with_lists`].
pub fn load_sources(sources: Vec<PolicySource>) -> Result<DesiredState, Diagnostics> {
    load_sources_with(sources, &Variables::default())
}

/// [`load_sources`], resolving `${NAME}` from `vars`.
pub fn load_sources_with(
    sources: Vec<PolicySource>,
    vars: &Variables,
) -> Result<DesiredState, Diagnostics> {
    load(
        sources,
        None,
        &mut |_: &Path| Err(lists::ReadError::NotFound),
        vars,
    )
}

/// [`load_sources`] with the user list files (`users_file`) the policies may name, by path
/// (the policy file's folder joined with `users_file`, e.g. `policies/partners.csv`).
pub fn load_sources_with_lists(
    sources: Vec<PolicySource>,
    lists: Vec<PolicySource>,
) -> Result<DesiredState, Diagnostics> {
    let lists: BTreeMap<std::path::PathBuf, Arc<str>> = lists
        .into_iter()
        .map(|list| (lists::normalize(Path::new(&*list.file)), list.text))
        .collect();
    load(
        sources,
        None,
        &mut |path: &Path| {
            lists
                .get(&lists::normalize(path))
                .map(ToString::to_string)
                .ok_or(lists::ReadError::NotFound)
        },
        &Variables::default(),
    )
}

fn load(
    sources: Vec<PolicySource>,
    root: Option<&Path>,
    read_list: &mut lists::Reader<'_>,
    vars: &Variables,
) -> Result<DesiredState, Diagnostics> {
    let sources: Vec<PolicySource> = sources
        .into_iter()
        .map(|source| match source.text.strip_prefix('\u{feff}') {
            Some(text) => PolicySource {
                text: Arc::from(text),
                file: source.file,
            },
            None => source,
        })
        .collect();
    let mut diagnostics = Diagnostics::default();
    let mut parsed = parse::ParsedPolicies::default();
    let mut resolver = vars::Resolver::new(vars);
    for source in &sources {
        diagnostics.add_source(&source.file, &source.text);
        parse::parse_file(source, &mut resolver, &mut parsed, &mut diagnostics);
    }
    let mut sources = sources;
    sources.extend(lists::expand(
        &mut parsed,
        root,
        read_list,
        &mut diagnostics,
    ));
    let mut state = assemble::assemble(parsed, sources, &mut diagnostics);
    resolver.annotate(&mut diagnostics);
    state.variables = resolver.used();
    state.secrets = resolver.secrets();
    if diagnostics.is_empty() {
        Ok(state)
    } else {
        diagnostics.sort();
        Err(diagnostics)
    }
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
                    u.policy.mode,
                    u.policy.onboarding,
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
    fn users_are_sorted_by_connection_then_email_whatever_their_prefixes() {
        // Connection names sharing their first 8 bytes, emails ordered against them.
        let state = load_sources(vec![source(
            "a.yaml",
            "connections:\n  - name: partner-us\n    email_verification: off\n  - name: partner-eu\n    email_verification: off\nusers:\n  - connection: partner-us\n    email: a@x.example\n  - connection: partner-eu\n    email: zzzzzzzzzz@x.example\n  - connection: partner-eu\n    email: Zzzzzzzzza@x.example\n  - connection: partner-us\n    email: aaaaaaaa@x.example\n  - connection: partner-eu\n    email: zzzzzzzz@x.example\n",
        )])
        .unwrap();
        let users: Vec<(&str, &str)> = state
            .users
            .iter()
            .map(|u| (u.connection.as_str(), u.email.as_str()))
            .collect();
        assert_eq!(
            users,
            [
                ("partner-eu", "zzzzzzzz@x.example"),
                ("partner-eu", "zzzzzzzzza@x.example"),
                ("partner-eu", "zzzzzzzzzz@x.example"),
                ("partner-us", "a@x.example"),
                ("partner-us", "aaaaaaaa@x.example"),
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
        assert_eq!(found.len(), 9, "{found:#?}");
        let expect = [
            "a.yaml:4:11 connection `partner-db` is defined twice",
            "a.yaml:7:25 unknown value `sometimes` for `email_verification`",
            "a.yaml:11:5 a user needs `email`",
            "a.yaml:12:5 unknown field `emial`",
            "b.yaml:3:12 user alice@partner.example is listed twice",
            "b.yaml:4:17 user carol@partner.example names connection `partnr-db`",
            "b.yaml:7:12 invalid email address `not-an-email`",
            "b.yaml:8:1 unknown top-level key `extra`",
            "c.yaml:1:14 invalid YAML: this `[` is never closed",
        ];
        for (line, expected) in found.iter().zip(expect) {
            assert!(
                line.starts_with(expected),
                "{line} should start with {expected}"
            );
        }
        assert_eq!(
            errors.items[3].hint.as_deref(),
            Some("did you mean `email`?")
        );
        let unknown_connection = &errors.items[5];
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
    fn an_application_cannot_be_trusted() {
        let errors = load_sources(vec![source(
            "apps.yaml",
            "applications:\n  - name: Employee Hub\n    email_verification: trusted\n  - name: Portal\n    email_verification: off\n",
        )])
        .unwrap_err();
        assert_eq!(errors.items.len(), 1, "{:?}", errors.items);
        assert_eq!(errors.items[0].origin.to_string(), "apps.yaml:3:25");
        assert!(errors.items[0].message.contains("cannot be `trusted`"));
        assert!(
            errors.items[0]
                .hint
                .as_deref()
                .is_some_and(|h| h.contains("use `off`"))
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
        let state = load_sources(vec![
            source("a.yaml", ""),
            source("b.yaml", "users:\n"),
            source(
                "c.yaml",
                "connections: ~\napplications:\n# - name: Portal\nlogin: ~\n",
            ),
        ])
        .unwrap();
        assert!(state.users.is_empty() && state.connections.is_empty());
        assert_eq!(state.login, LoginSpec::default());
    }
}
