//! Assembling the desired state: cross-entry checks (duplicates, undefined connections,
//! contradictory settings) over the typed entries of all files, and the defaults that turn a
//! policy entry into a spec.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use time::Duration;

use super::checks::suggest;
use super::diag::excerpt;
use super::model::{
    ACTION_NAME_MAX, ApplicationPolicy, ConnectionPolicy, DENY_MESSAGE_MAX, EmailsPolicy,
    FAMILY_NAME_MAX, GIVEN_NAME_MAX, LoginPolicy, NAME_MAX, UserPolicy,
};
use super::parse::{Entry, Located, ParsedPolicies};
use super::yaml::NodeKind;
use super::{
    ApplicationSelector, ApplicationSpec, ConnectionSpec, DesiredState, Diagnostic, Diagnostics,
    ListedUser, LoginSpec, Onboarding, Origin, PolicySource, Resend, SignupMode, UserSpec,
    VerificationMode, checks, duration,
};
use crate::auth0::Profile;

/// Cross-entry checks and assembly of the desired state. Entries with problems of their own
/// (`broken`) take part in the checks across entries (a duplicate is reported even when one
/// of the two has another problem) but never reach the state.
pub(super) fn assemble(
    parsed: ParsedPolicies,
    files: Vec<PolicySource>,
    diagnostics: &mut Diagnostics,
) -> DesiredState {
    let mut state = DesiredState {
        files,
        ..DesiredState::default()
    };
    state.login = login_spec(parsed.login, diagnostics);
    state.max_emails_per_run = emails_budget(parsed.emails, diagnostics);
    let connections = connections(parsed.connections, diagnostics);
    state.connections = connections.clean;
    let mut seen_applications: BTreeMap<ApplicationSelector, Origin> = BTreeMap::new();
    for entry in parsed.applications {
        let Entry {
            value,
            located,
            broken,
        } = entry;
        let selector = match &value {
            Some(policy) => selector_of(policy.name.as_deref(), policy.client_id.as_deref()),
            None => selector_of(located.text("name"), located.text("client_id")),
        };
        if let Some(selector) = &selector {
            if let Some(first) = seen_applications.get(selector) {
                diagnostics.push(
                    Diagnostic::new(format!("{selector} is defined twice"), located.origin())
                        .with_related("first defined", first.clone())
                        .with_hint("keep one definition"),
                );
                continue;
            }
            seen_applications.insert(selector.clone(), located.origin());
        }
        if let Some(policy) = value
            && let Some(spec) = application_spec(policy, &located, diagnostics)
            && !broken
        {
            state.applications.push(spec);
        }
    }
    let Identities { repeated, rank } = identities(&parsed.users);
    // The rank of each user pushed, to put them in (connection, email) order at the end.
    let mut ranks = Vec::with_capacity(parsed.users.len());
    state.users.reserve(parsed.users.len());
    for (index, entry) in parsed.users.into_iter().enumerate() {
        let Entry {
            value,
            located,
            broken,
        } = entry;
        if let Some((first, connection, email)) = repeated.get(&index) {
            diagnostics.push(
                Diagnostic::new(
                    format!(
                        "user {} is listed twice for connection `{}` (emails are compared case-insensitively)",
                        excerpt(email),
                        excerpt(connection)
                    ),
                    located.field("email"),
                )
                .with_related("first listed", first.clone())
                .with_hint("remove one of the entries"),
            );
            continue;
        }
        if let Some(policy) = value
            && let Some(spec) = user_spec(
                policy,
                &located,
                &state.connections,
                &connections.broken,
                diagnostics,
            )
            && !broken
        {
            state.users.push(spec);
            ranks.push(rank.get(index).copied().unwrap_or(usize::MAX));
        }
    }
    sort_by_rank(&mut state.users, &ranks);
    state
}

/// Puts `items` in the order of their (distinct) `ranks`, moving each item at most twice
/// (a user is large: a comparison sort would move each many times).
fn sort_by_rank<T>(items: &mut [T], ranks: &[usize]) {
    // `order[k]`: the item that belongs at position `k`.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_unstable_by_key(|&i| ranks.get(i).copied().unwrap_or(usize::MAX));
    // Follow each cycle of the permutation, swapping its items into place.
    for start in 0..order.len() {
        let mut at = start;
        while order[at] != usize::MAX {
            let from = order[at];
            order[at] = usize::MAX;
            if from == start {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

/// What the users' identities (connection, lower-cased email) say, found by sorting them
/// borrowed (no map of copies of every identity, no sort of the large specs).
struct Identities {
    /// The entries listed again (by index): where their user was first listed, and the
    /// connection and email they share.
    repeated: HashMap<usize, (Origin, String, String)>,
    /// Each entry's rank in the (connection, email) order (`usize::MAX`: no identity).
    rank: Vec<usize>,
}

/// A user entry's identity, for sorting.
struct Identity<'a> {
    /// The first 8 bytes of the connection and of the email, as numbers ([`prefix`]).
    prefixes: (u64, u64),
    connection: &'a str,
    email: Cow<'a, str>,
    index: usize,
}

impl Identity<'_> {
    /// (connection, email, entry) order; the prefixes, compared as numbers first, settle
    /// most comparisons without reading the texts.
    fn order(&self, other: &Identity<'_>) -> std::cmp::Ordering {
        (self.prefixes.0.cmp(&other.prefixes.0))
            .then_with(|| self.connection.cmp(other.connection))
            .then_with(|| self.prefixes.1.cmp(&other.prefixes.1))
            .then_with(|| self.email.cmp(&other.email))
            .then_with(|| self.index.cmp(&other.index))
    }
}

fn identities(users: &[Entry<UserPolicy>]) -> Identities {
    let mut identities: Vec<Identity<'_>> = users
        .iter()
        .enumerate()
        .filter_map(|(index, entry)| {
            let (connection, email) = match &entry.value {
                Some(policy) => (policy.connection.as_str(), policy.email.as_str()),
                None => entry
                    .located
                    .text("connection")
                    .zip(entry.located.text("email"))?,
            };
            let email = lowercase(email);
            Some(Identity {
                prefixes: (prefix(connection), prefix(&email)),
                connection,
                email,
                index,
            })
        })
        .collect();
    identities.sort_unstable_by(Identity::order);
    let mut rank = vec![usize::MAX; users.len()];
    for (r, identity) in identities.iter().enumerate() {
        if let Some(slot) = rank.get_mut(identity.index) {
            *slot = r;
        }
    }
    let mut repeated = HashMap::new();
    for group in identities.chunk_by(|a, b| (a.connection, &a.email) == (b.connection, &b.email)) {
        let [first, again @ ..] = group else {
            continue;
        };
        let at = users[first.index].located.field("email");
        for identity in again {
            repeated.insert(
                identity.index,
                (
                    at.clone(),
                    first.connection.to_string(),
                    first.email.to_string(),
                ),
            );
        }
    }
    Identities { repeated, rank }
}

/// A text's first 8 bytes as a number that orders as the texts do (shorter texts padded
/// with zeros; equal prefixes leave the order to the whole texts).
fn prefix(text: &str) -> u64 {
    let mut bytes = [0u8; 8];
    for (to, from) in bytes.iter_mut().zip(text.bytes()) {
        *to = from;
    }
    u64::from_be_bytes(bytes)
}

/// An email lower-cased, borrowed when it already is.
fn lowercase(email: &str) -> Cow<'_, str> {
    if email
        .bytes()
        .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
    {
        Cow::Owned(email.to_lowercase())
    } else {
        Cow::Borrowed(email)
    }
}

/// The connections of the policies: those without problems, and for the others, what is
/// known of them (so that their users are checked against them, but not reported as naming
/// an undefined connection).
struct Connections {
    clean: BTreeMap<String, ConnectionSpec>,
    broken: BTreeMap<String, Option<ConnectionSpec>>,
}

fn connections(
    entries: Vec<Entry<ConnectionPolicy>>,
    diagnostics: &mut Diagnostics,
) -> Connections {
    let mut found = Connections {
        clean: BTreeMap::new(),
        broken: BTreeMap::new(),
    };
    let mut first_defined: BTreeMap<String, Origin> = BTreeMap::new();
    for entry in entries {
        let Entry {
            value,
            located,
            broken,
        } = entry;
        let name = match &value {
            Some(policy) => Some(policy.name.clone()),
            None => located.text("name").map(str::to_string),
        };
        let spec = value.and_then(|policy| connection_spec(policy, &located, diagnostics));
        let Some(name) = name else {
            continue;
        };
        if let Some(first) = first_defined.get(&name) {
            diagnostics.push(
                Diagnostic::new(
                    format!("connection `{}` is defined twice", excerpt(&name)),
                    located.field("name"),
                )
                .with_related("first defined", first.clone())
                .with_hint("keep one definition; merge their settings"),
            );
            continue;
        }
        first_defined.insert(name.clone(), located.field("name"));
        match spec {
            Some(spec) if !broken => {
                found.clean.insert(name, spec);
            }
            spec => {
                found.broken.insert(name, spec);
            }
        }
    }
    found
}

fn selector_of(name: Option<&str>, client_id: Option<&str>) -> Option<ApplicationSelector> {
    match (name, client_id) {
        (Some(name), None) => Some(ApplicationSelector::Name(name.to_string())),
        (None, Some(id)) => Some(ApplicationSelector::ClientId(id.to_string())),
        _ => None,
    }
}

fn emails_budget(blocks: Vec<Entry<EmailsPolicy>>, diagnostics: &mut Diagnostics) -> Option<u32> {
    let mut blocks = blocks.into_iter();
    let first = blocks.next()?;
    for again in blocks {
        diagnostics.push(
            Diagnostic::new(
                "`emails` is defined in more than one place",
                again.located.origin(),
            )
            .with_related("first defined", first.located.origin())
            .with_hint("keep one `emails` block"),
        );
    }
    let budget = first.value?.max_per_run;
    if budget == 0 {
        diagnostics.push(
            Diagnostic::new(
                "`emails.max_per_run` must be at least 1",
                first.located.field("max_per_run"),
            )
            .with_hint("remove the `emails` block for no limit; use `email_verification: off` to send nothing"),
        );
        return None;
    }
    Some(budget)
}

fn login_spec(blocks: Vec<Entry<LoginPolicy>>, diagnostics: &mut Diagnostics) -> LoginSpec {
    let mut blocks = blocks.into_iter();
    let Some(first) = blocks.next() else {
        return LoginSpec::default();
    };
    for again in blocks {
        diagnostics.push(
            Diagnostic::new(
                "`login` is defined in more than one place",
                again.located.origin(),
            )
            .with_related("first defined", first.located.origin())
            .with_hint("keep one `login` block"),
        );
    }
    let located = first.located;
    let login = first.value.unwrap_or(LoginPolicy {
        deny_message: None,
        action_name: None,
    });
    for (field, value, max) in [
        ("deny_message", &login.deny_message, DENY_MESSAGE_MAX),
        ("action_name", &login.action_name, ACTION_NAME_MAX),
    ] {
        if let Some(value) = value
            && let Err(message) = checks::check_text(&format!("login.{field}"), value, Some(max))
        {
            diagnostics.push(Diagnostic::new(message, located.field(field)));
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
    let mut ok = check_texts(
        located,
        [
            ("name", Some(policy.name.as_str()), None),
            (
                "verification_client",
                policy.verification_client.as_deref(),
                None,
            ),
        ],
        diagnostics,
    );
    let resend = match &policy.resend {
        None => Resend::ONCE,
        Some(resend) => {
            let after = match duration::parse_resend_after(&resend.after) {
                Ok(after) => after,
                Err((message, hint)) => {
                    diagnostics.push(
                        Diagnostic::new(message, resend_field(located, "after")).with_hint(hint),
                    );
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
        offboarding: policy.offboarding.unwrap_or_default(),
        origin: located.origin(),
    })
}

/// Checks text fields (field, value, Auth0's limit) as the schema does; reports each problem
/// at its field and returns whether all were fine.
fn check_texts<'a>(
    located: &Located,
    fields: impl IntoIterator<Item = (&'static str, Option<&'a str>, Option<usize>)>,
    diagnostics: &mut Diagnostics,
) -> bool {
    let mut ok = true;
    for (field, value, max) in fields {
        if let Some(value) = value
            && let Err(message) = checks::check_text(field, value, max)
        {
            let mut diagnostic = Diagnostic::new(message, located.field(field));
            if max.is_some() && !value.trim().is_empty() {
                diagnostic = diagnostic.with_hint(
                    "Auth0 refuses longer profile fields (`name` 300 characters, `given_name` and `family_name` 150)",
                );
            }
            diagnostics.push(diagnostic);
            ok = false;
        }
    }
    ok
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
    diagnostics: &mut Diagnostics,
) -> Option<ApplicationSpec> {
    let texts_ok = check_texts(
        located,
        [
            ("name", policy.name.as_deref(), None),
            ("client_id", policy.client_id.as_deref(), None),
        ],
        diagnostics,
    );
    let selector = match (policy.name, policy.client_id) {
        (Some(name), None) => ApplicationSelector::Name(name),
        (None, Some(id)) => ApplicationSelector::ClientId(id),
        // A selector whose value had its own problem: that one is reported already.
        _ if located.failed("name") || located.failed("client_id") => return None,
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
    if policy.email_verification == VerificationMode::Trusted {
        // `trusted` would read as "these users' addresses are good", which verifyctl can only
        // act on per connection (it marks users verified there); for an application it
        // would silently mean the same as `off`.
        diagnostics.push(
            Diagnostic::new(
                "an application cannot be `trusted`: an application either requires a verified email at login or not",
                located.field("email_verification"),
            )
            .with_hint(
                "use `off` for no requirement at login; to treat its users' addresses as verified, make their connection `trusted`",
            ),
        );
        return None;
    }
    texts_ok.then_some(ApplicationSpec {
        selector,
        mode: policy.email_verification,
        origin: located.origin(),
    })
}

fn user_spec(
    policy: UserPolicy,
    located: &Located,
    connections: &BTreeMap<String, ConnectionSpec>,
    broken_connections: &BTreeMap<String, Option<ConnectionSpec>>,
    diagnostics: &mut Diagnostics,
) -> Option<UserSpec> {
    let mut ok = check_texts(
        located,
        [
            ("name", policy.name.as_deref(), Some(NAME_MAX)),
            (
                "given_name",
                policy.given_name.as_deref(),
                Some(GIVEN_NAME_MAX),
            ),
            (
                "family_name",
                policy.family_name.as_deref(),
                Some(FAMILY_NAME_MAX),
            ),
        ],
        diagnostics,
    );
    if let Err(reason) = checks::check_email(&policy.email) {
        diagnostics.push(Diagnostic::new(
            format!(
                "invalid email address `{}`: {reason}",
                excerpt(&policy.email)
            ),
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
    let connection = match (
        connections.get(&policy.connection),
        broken_connections.get(&policy.connection),
    ) {
        // A connection with problems of its own: its users are checked against what is
        // known of it, but not reported as naming an undefined connection.
        (Some(connection), _) | (None, Some(Some(connection))) => connection,
        (None, Some(None)) => return None,
        (None, None) if policy.connection.trim().is_empty() => {
            diagnostics.push(
                Diagnostic::new("`connection` is empty", located.field("connection"))
                    .with_hint("name a connection defined under `connections:`"),
            );
            return None;
        }
        (None, None) => {
            let known = connections.keys().chain(broken_connections.keys());
            let mut diagnostic = Diagnostic::new(
                format!(
                    "user {} names connection `{}`, which no policy defines",
                    excerpt(&policy.email),
                    excerpt(&policy.connection)
                ),
                located.field("connection"),
            );
            diagnostic = match suggest(&policy.connection, known.map(String::as_str)) {
                Some(suggestion) => diagnostic.with_hint(format!("did you mean `{suggestion}`?")),
                None => diagnostic.with_hint(format!(
                    "add `- name: {}` with its `email_verification` under `connections:`",
                    excerpt(&policy.connection)
                )),
            };
            diagnostics.push(diagnostic);
            return None;
        }
    };
    let mode = policy.email_verification.unwrap_or(connection.mode);
    let onboarding = policy.onboarding.unwrap_or(match mode {
        VerificationMode::Required => Onboarding::VerificationEmail,
        VerificationMode::Trusted | VerificationMode::Off => Onboarding::None,
    });
    if onboarding == Onboarding::VerificationEmail
        && mode != VerificationMode::Required
        && !located.failed("email_verification")
        && !located.failed("onboarding")
    {
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
        email: match lowercase(&policy.email) {
            Cow::Borrowed(_) => policy.email,
            Cow::Owned(email) => email,
        },
        policy: ListedUser {
            mode,
            mode_overridden: policy.email_verification.is_some(),
            onboarding,
            origin: located.origin().to_string(),
            profile: Profile {
                name: policy.name,
                given_name: policy.given_name,
                family_name: policy.family_name,
                user_metadata: policy.user_metadata,
                app_metadata: policy.app_metadata,
            },
        },
    })
}
