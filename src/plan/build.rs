//! [`build_plan`]: the diff from (desired, live, now) to a [`Plan`], implementing the mode
//! table of DESIGN.md §2 for every user of every policy connection. Pure: no I/O, no clock.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::ledger::{Ledger, LedgerRead, ResendDecision, SendKind, resend_decision};
use super::{
    Action, ActionKind, CreateEmail, FieldChange, NewUser, Operation, Plan, PlanError, Target,
    WARNING_EXAMPLES, Warning, WarningKind,
};
use crate::auth0::StrategyKind;
use crate::clock::parse_timestamp;
use crate::policy::duration::format_duration;
use crate::policy::{
    ApplicationSelector, ConnectionSpec, DesiredState, Onboarding, Resend, UserSpec,
    VerificationMode,
};
use crate::tenant::LiveState;
use crate::tenant::types::{
    ChangePasswordRequest, Connection, JobIdentity, Profile, User, UserPatch,
    VerificationEmailRequest,
};

/// Computes the plan. Fails, listing every problem, when the policies name connections or
/// applications the tenant does not have.
pub fn build_plan(
    desired: &DesiredState,
    live: &LiveState,
    now: OffsetDateTime,
) -> Result<Plan, Vec<PlanError>> {
    let contexts = resolve(desired, live)?;
    let mut actions = Vec::new();
    let mut warnings = WarningSink::default();
    for context in &contexts {
        let Some(users) = live.users.get(&context.name) else {
            // Users were not read: an `off` connection with nothing listed.
            continue;
        };
        plan_connection(context, desired, users, now, &mut actions, &mut warnings);
    }
    actions.sort_by(|a, b| {
        (
            &a.target.connection,
            &a.target.email,
            &a.target.user_id,
            a.kind,
        )
            .cmp(&(
                &b.target.connection,
                &b.target.email,
                &b.target.user_id,
                b.kind,
            ))
    });
    Ok(Plan {
        actions,
        warnings: warnings.finish(),
    })
}

/// A policy connection joined with its live counterpart: everything the per-user rules
/// need to know about the connection. Also carried inside a create action, so that `apply`
/// can re-plan a user that turns out to exist already (a 409 on create).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionContext {
    pub name: String,
    pub strategy: String,
    pub mode: VerificationMode,
    pub resend_after_seconds: i64,
    pub resend_max: u32,
    /// The `verification_client` as named in the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_client: Option<String>,
    /// Its client id, resolved against the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The connection's minimum password length, when its options set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_min_length: Option<u32>,
}

impl ConnectionContext {
    fn new(spec: &ConnectionSpec, live: &Connection, client_id: Option<String>) -> Self {
        ConnectionContext {
            name: spec.name.clone(),
            strategy: live.strategy.clone(),
            mode: spec.mode,
            resend_after_seconds: spec.resend.after.whole_seconds(),
            resend_max: spec.resend.max,
            verification_client: spec.verification_client.clone(),
            client_id,
            password_min_length: password_min_length(live),
        }
    }

    fn kind(&self) -> StrategyKind {
        StrategyKind::of(&self.strategy)
    }

    fn resend(&self) -> Resend {
        Resend {
            after: time::Duration::seconds(self.resend_after_seconds),
            max: self.resend_max,
        }
    }
}

/// The policy of one listed user, as the per-user rules need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListedUser {
    pub mode: VerificationMode,
    pub mode_overridden: bool,
    pub onboarding: Onboarding,
    /// Where the policy lists the user (file:line:col).
    pub origin: String,
    /// The profile fields the policy owns.
    pub profile: Profile,
}

impl ListedUser {
    fn new(spec: &UserSpec) -> Self {
        ListedUser {
            mode: spec.mode,
            mode_overridden: spec.mode_overridden,
            onboarding: spec.onboarding,
            origin: spec.origin.to_string(),
            profile: spec.profile.clone(),
        }
    }
}

/// Plans one user that exists, under a policy carried in a create action. `apply` uses it
/// when a create answers 409: the user is looked up and brought to the policy from there.
pub fn replan_existing_user(
    connection: &ConnectionContext,
    listed: &ListedUser,
    user: &User,
    now: OffsetDateTime,
) -> (Vec<Action>, Vec<Warning>) {
    let mut actions = Vec::new();
    let mut warnings = WarningSink::default();
    existing_user(
        connection,
        Some(listed),
        user,
        now,
        &mut actions,
        &mut warnings,
    );
    (actions, warnings.finish())
}

fn resolve(
    desired: &DesiredState,
    live: &LiveState,
) -> Result<Vec<ConnectionContext>, Vec<PlanError>> {
    let mut errors = Vec::new();
    let mut contexts = Vec::new();
    for spec in desired.connections.values() {
        let client_id =
            spec.verification_client
                .as_deref()
                .and_then(|name| match client_by_name(live, name) {
                    Ok(id) => Some(id),
                    Err(message) => {
                        errors.push(PlanError {
                            message: format!(
                                "verification_client of connection `{}`: {message}",
                                spec.name
                            ),
                            origin: spec.origin.to_string(),
                            hint:
                                "use the application's exact name as shown in the Auth0 dashboard"
                                    .into(),
                        });
                        None
                    }
                });
        match live.connections.get(&spec.name) {
            Some(connection) => contexts.push(ConnectionContext::new(spec, connection, client_id)),
            None => errors.push(PlanError {
                message: format!("connection `{}` does not exist in the tenant", spec.name),
                origin: spec.origin.to_string(),
                hint: closest_name(&spec.name, live.connections.keys()).map_or_else(
                    || "create it in Auth0 first (verifyctl does not create connections) or fix the name".into(),
                    |near| format!("did you mean `{near}`?"),
                ),
            }),
        }
    }
    for application in &desired.applications {
        let found = match &application.selector {
            ApplicationSelector::Name(name) => client_by_name(live, name).map(|_| ()),
            ApplicationSelector::ClientId(id) => {
                if live.clients.iter().any(|c| &c.client_id == id) {
                    Ok(())
                } else {
                    Err(format!("no application has client_id {id}"))
                }
            }
        };
        if let Err(message) = found {
            errors.push(PlanError {
                message: format!("{}: {message}", application.selector),
                origin: application.origin.to_string(),
                hint: "check the name or client_id in the Auth0 dashboard (Applications)".into(),
            });
        }
    }
    if errors.is_empty() {
        Ok(contexts)
    } else {
        Err(errors)
    }
}

fn client_by_name(live: &LiveState, name: &str) -> Result<String, String> {
    let matches: Vec<_> = live.clients.iter().filter(|c| c.name == name).collect();
    match matches.as_slice() {
        [one] => Ok(one.client_id.clone()),
        [] => Err(format!("no application is named \"{name}\"")),
        many => Err(format!(
            "{} applications are named \"{name}\" ({}); name it by client_id instead",
            many.len(),
            many.iter()
                .map(|c| c.client_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn closest_name<'a>(wanted: &str, names: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    let wanted = wanted.to_lowercase();
    names
        .filter(|n| {
            let n = n.to_lowercase();
            n.contains(&wanted) || wanted.contains(&n)
        })
        .min()
}

fn plan_connection(
    context: &ConnectionContext,
    desired: &DesiredState,
    users: &[User],
    now: OffsetDateTime,
    actions: &mut Vec<Action>,
    warnings: &mut WarningSink,
) {
    let name = &context.name;
    let mut by_email: HashMap<String, &User> = HashMap::new();
    let mut primary: Vec<&User> = Vec::new();
    for user in users {
        let is_primary = user
            .identities
            .first()
            .is_none_or(|i| &i.connection == name);
        if !is_primary {
            warnings.add(context, WarningKind::LinkedIdentity, user_label(user));
            continue;
        }
        primary.push(user);
        if let Some(email) = &user.email {
            by_email.entry(email.to_lowercase()).or_insert(user);
        }
    }
    let mut listed_ids = std::collections::HashSet::new();
    for spec in desired.users_of(name) {
        let listed = ListedUser::new(spec);
        match by_email.get(&spec.email) {
            Some(user) => {
                listed_ids.insert(user.user_id.as_str());
                existing_user(context, Some(&listed), user, now, actions, warnings);
            }
            None => create_user(context, spec, listed, actions, warnings),
        }
    }
    for user in primary {
        if !listed_ids.contains(user.user_id.as_str()) {
            existing_user(context, None, user, now, actions, warnings);
        }
    }
}

fn user_label(user: &User) -> String {
    user.email.clone().unwrap_or_else(|| user.user_id.clone())
}

fn target_of(context: &ConnectionContext, user: &User) -> Target {
    Target {
        connection: context.name.clone(),
        email: user.email.as_ref().map(|e| e.to_lowercase()),
        user_id: Some(user.user_id.clone()),
    }
}

/// Generated passwords are 40 characters, longer when the connection demands it, and at
/// most 72 (bcrypt uses only the first 72 bytes).
const GENERATED_PASSWORD_LENGTH: u32 = 40;
const MAX_PASSWORD_LENGTH: u32 = 72;

fn password_length(min_length: Option<u32>) -> u32 {
    min_length
        .unwrap_or(0)
        .clamp(GENERATED_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH)
}

/// `options.password_complexity_options.min_length` (classic) or
/// `options.password_options.complexity.min_length` (newer tenants).
fn password_min_length(connection: &Connection) -> Option<u32> {
    let options = connection.options.as_ref()?;
    let classic = options
        .get("password_complexity_options")
        .and_then(|o| o.get("min_length"));
    let newer = options
        .get("password_options")
        .and_then(|o| o.get("complexity"))
        .and_then(|o| o.get("min_length"));
    classic
        .or(newer)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

fn create_user(
    context: &ConnectionContext,
    spec: &UserSpec,
    listed: ListedUser,
    actions: &mut Vec<Action>,
    warnings: &mut WarningSink,
) {
    // Listed users are identified by email, so SMS connections cannot take them.
    let kind = context.kind();
    if !kind.can_create_users() || kind == StrategyKind::PasswordlessSms {
        warnings.add(
            context,
            WarningKind::CannotCreateInConnection,
            spec.email.clone(),
        );
        return;
    }
    let mut onboarding = spec.onboarding;
    if onboarding == Onboarding::PasswordReset && context.kind() != StrategyKind::Database {
        warnings.add(
            context,
            WarningKind::CannotCreateInConnection,
            spec.email.clone(),
        );
        onboarding = Onboarding::None;
    }
    let client_id = context.client_id.clone();
    let (email_verified, verify_email, onboarding_email) = match (spec.mode, onboarding) {
        (VerificationMode::Required, Onboarding::VerificationEmail) => match &client_id {
            None => (false, true, CreateEmail::VerificationWithCreate),
            Some(_) => (false, false, CreateEmail::VerificationJob { client_id }),
        },
        (mode, Onboarding::PasswordReset) => (
            mode == VerificationMode::Trusted,
            false,
            CreateEmail::PasswordReset { client_id },
        ),
        (mode, _) => (mode == VerificationMode::Trusted, false, CreateEmail::None),
    };
    let password_length = (context.kind() == StrategyKind::Database)
        .then(|| password_length(context.password_min_length));
    let mut changes = vec![change(
        "email",
        None,
        Some(Value::String(spec.email.clone())),
    )];
    changes.extend(
        spec.profile
            .fields()
            .into_iter()
            .map(|(field, value)| change(&field, None, Some(value))),
    );
    changes.push(change(
        "email_verified",
        None,
        Some(Value::Bool(email_verified)),
    ));
    if password_length.is_some() {
        changes.push(change(
            "password",
            None,
            Some(Value::String(
                "(random, generated during apply; never shown or stored)".into(),
            )),
        ));
    }
    let email_note = match &onboarding_email {
        CreateEmail::None => "no email is sent".to_string(),
        CreateEmail::VerificationWithCreate => {
            "Auth0 sends the verification email on create".into()
        }
        CreateEmail::VerificationJob { .. } => format!(
            "a verification email branded for \"{}\" follows",
            context.verification_client.as_deref().unwrap_or_default()
        ),
        CreateEmail::PasswordReset { .. } => "a password-reset email follows".into(),
    };
    actions.push(Action {
        kind: ActionKind::CreateUser,
        target: Target {
            connection: context.name.clone(),
            email: Some(spec.email.clone()),
            user_id: None,
        },
        reason: format!(
            "listed at {} but not in the tenant; email_verification {}, onboarding {}: {email_note}",
            spec.origin,
            spec.mode.as_str(),
            onboarding.as_str()
        ),
        changes,
        operation: Operation::CreateUser {
            user: NewUser {
                connection: context.name.clone(),
                email: spec.email.clone(),
                email_verified,
                verify_email,
                password_length,
                profile: spec.profile.clone(),
            },
            onboarding_email,
            connection_policy: context.clone(),
            user_policy: listed,
        },
    });
}

fn existing_user(
    context: &ConnectionContext,
    listed: Option<&ListedUser>,
    user: &User,
    now: OffsetDateTime,
    actions: &mut Vec<Action>,
    warnings: &mut WarningSink,
) {
    let target = target_of(context, user);
    let ledger_read = LedgerRead::from_app_metadata(user.app_metadata.as_ref());
    if let LedgerRead::Unreadable(_) = ledger_read {
        warnings.add(context, WarningKind::UnreadableLedger, user_label(user));
    }
    let sends_allowed = !matches!(ledger_read, LedgerRead::Unreadable(_));
    let ledger = ledger_read.ledger().cloned().unwrap_or_default();
    let mode = listed.map_or(context.mode, |spec| spec.mode);
    let onboarding = listed.map(|spec| spec.onboarding);
    let verified = user.is_verified();
    let blocked = user.blocked == Some(true);
    let before = actions.len();

    if let Some(spec) = listed {
        profile_update(context, spec, user, &target, actions, warnings);
    }

    let mut marked = false;
    if !verified && mode != VerificationMode::Off {
        if user.email.is_none() {
            warnings.add(context, WarningKind::NoEmail, user_label(user));
        } else if mode == VerificationMode::Trusted {
            if context.kind().can_set_email_verified() {
                let why = if listed.is_some_and(|s| s.mode_overridden) {
                    "the user's policy says `email_verification: trusted`".to_string()
                } else {
                    format!("connection `{}` is trusted", context.name)
                };
                actions.push(mark_verified(
                    &target,
                    user,
                    format!("{why}: the address is known to be correct"),
                ));
                marked = true;
            } else {
                warnings.add(
                    context,
                    WarningKind::ProviderControlsVerification,
                    user_label(user),
                );
            }
        } else if matches!(onboarding, None | Some(Onboarding::VerificationEmail)) {
            // Social and enterprise providers assert email_verified themselves and overwrite
            // it at each login (reference §12.7), so a verification email cannot settle it.
            if !context.kind().can_set_email_verified() {
                warnings.add(
                    context,
                    WarningKind::ProviderControlsVerification,
                    user_label(user),
                );
            } else if blocked {
                warnings.add(context, WarningKind::BlockedUsers, user_label(user));
            } else if sends_allowed {
                verification_send(context, user, &target, &ledger, now, actions);
            }
        }
    }

    if onboarding == Some(Onboarding::PasswordReset) && sends_allowed {
        if context.kind() != StrategyKind::Database {
            warnings.add(
                context,
                WarningKind::CannotCreateInConnection,
                user_label(user),
            );
        } else {
            password_reset_onboarding(context, user, &target, &ledger, mode, marked, actions);
        }
    }

    let planned_send = actions[before..].iter().any(|a| {
        matches!(
            a.kind,
            ActionKind::SendVerificationEmail | ActionKind::SendPasswordReset
        )
    });
    if let Some(pending) = &ledger.pending {
        warnings.add(context, WarningKind::InterruptedSend, user_label(user));
        if !planned_send {
            actions.push(Action {
                kind: ActionKind::RecordInterruptedSend,
                target: target.clone(),
                reason: format!(
                    "a {} was started at {} by an apply that did not finish; it may have been delivered, so it is recorded as sent",
                    pending.kind.describe(),
                    pending.started_at
                ),
                changes: vec![change(
                    "app_metadata.verifyctl.pending",
                    Some(serde_json::to_value(pending).unwrap_or(Value::Null)),
                    None,
                )],
                operation: Operation::RecordInterruptedSend {
                    user_id: user.user_id.clone(),
                    ledger: ledger.settle_pending(),
                },
            });
        }
    }
}

fn mark_verified(target: &Target, user: &User, reason: String) -> Action {
    Action {
        kind: ActionKind::MarkEmailVerified,
        target: target.clone(),
        reason,
        changes: vec![change(
            "email_verified",
            Some(Value::Bool(user.email_verified.unwrap_or(false))),
            Some(Value::Bool(true)),
        )],
        operation: Operation::MarkEmailVerified {
            user_id: user.user_id.clone(),
        },
    }
}

fn verification_send(
    context: &ConnectionContext,
    user: &User,
    target: &Target,
    ledger: &Ledger,
    now: OffsetDateTime,
    actions: &mut Vec<Action>,
) {
    let record = ledger.effective(SendKind::VerificationEmail);
    let resend = context.resend();
    let reason = match resend_decision(record.as_ref(), resend, now) {
        ResendDecision::First => format!(
            "unverified in required connection `{}`; verifyctl has not sent a verification email yet",
            context.name
        ),
        ResendDecision::Again { sent, last } => format!(
            "still unverified; {sent} of {} verification emails sent, the last at {last}; the resend interval of {} has passed",
            resend.max,
            format_duration(resend.after)
        ),
        ResendDecision::Wait { .. } | ResendDecision::Exhausted { .. } => return,
    };
    let identity = user.identity_in(&context.name).map(|identity| JobIdentity {
        user_id: identity.user_id_string(),
        provider: identity.provider.clone(),
    });
    let sent = record.as_ref().map_or(0, |r| r.count);
    actions.push(Action {
        kind: ActionKind::SendVerificationEmail,
        target: target.clone(),
        reason,
        changes: vec![change(
            "app_metadata.verifyctl.verification_email.count",
            Some(Value::from(sent)),
            Some(Value::from(sent + 1)),
        )],
        operation: Operation::SendVerificationEmail {
            user_id: user.user_id.clone(),
            request: VerificationEmailRequest {
                user_id: user.user_id.clone(),
                client_id: context.client_id.clone(),
                identity,
            },
            ledger: ledger.clone(),
        },
    });
}

/// Onboarding by password reset: one reset email to a user who never logged in; once they
/// have logged in after it, their mailbox is proven and the address is marked verified.
fn password_reset_onboarding(
    context: &ConnectionContext,
    user: &User,
    target: &Target,
    ledger: &Ledger,
    mode: VerificationMode,
    already_marked: bool,
    actions: &mut Vec<Action>,
) {
    let verified = user.is_verified();
    let logins = user.logins_count.unwrap_or(0);
    let Some(email) = &user.email else { return };
    match ledger.effective(SendKind::PasswordReset) {
        None => {
            if !verified && logins == 0 && user.blocked != Some(true) {
                actions.push(Action {
                    kind: ActionKind::SendPasswordReset,
                    target: target.clone(),
                    reason: "onboarding password-reset: the user has never logged in and verifyctl has not sent a password-reset email yet".into(),
                    changes: vec![change(
                        "app_metadata.verifyctl.password_reset.count",
                        Some(Value::from(0)),
                        Some(Value::from(1)),
                    )],
                    operation: Operation::SendPasswordReset {
                        user_id: user.user_id.clone(),
                        request: ChangePasswordRequest {
                            email: email.to_lowercase(),
                            connection: context.name.clone(),
                            client_id: context.client_id.clone(),
                        },
                        ledger: ledger.clone(),
                    },
                });
            }
        }
        Some(record) => {
            if verified || already_marked || mode == VerificationMode::Off || logins == 0 {
                return;
            }
            let logged_in_after = match (
                user.last_login
                    .as_deref()
                    .and_then(|t| parse_timestamp(t).ok()),
                parse_timestamp(&record.first_sent_at).ok(),
            ) {
                (Some(last_login), Some(sent)) => last_login >= sent,
                // Without both timestamps, a login by a user created with a random password
                // still proves the reset link was used.
                _ => true,
            };
            if logged_in_after {
                actions.push(mark_verified(
                    target,
                    user,
                    format!(
                        "onboarding password-reset: logged in {logins} time{} since the password-reset email of {}, which proves access to the mailbox",
                        if logins == 1 { "" } else { "s" },
                        record.first_sent_at
                    ),
                ));
            }
        }
    }
}

/// Profile fields the policy owns that differ from the tenant.
fn profile_update(
    context: &ConnectionContext,
    listed: &ListedUser,
    user: &User,
    target: &Target,
    actions: &mut Vec<Action>,
    warnings: &mut WarningSink,
) {
    let mut patch = Profile::default();
    let mut changes = Vec::new();
    for (field, wanted) in listed.profile.fields() {
        let current = user.profile_value(&field);
        if current.as_ref() != Some(&wanted) {
            changes.push(change(&field, current, Some(wanted.clone())));
            patch.set(&field, wanted);
        }
    }
    if patch.is_empty() {
        return;
    }
    if !context.kind().can_set_email_verified() {
        warnings.add(
            context,
            WarningKind::ProviderControlsProfile,
            user_label(user),
        );
        return;
    }
    actions.push(Action {
        kind: ActionKind::UpdateProfile,
        target: target.clone(),
        reason: format!(
            "profile fields listed at {} differ from the tenant",
            listed.origin
        ),
        changes,
        operation: Operation::UpdateProfile {
            user_id: user.user_id.clone(),
            patch: UserPatch {
                email_verified: None,
                profile: patch,
            },
        },
    });
}

fn change(field: &str, before: Option<Value>, after: Option<Value>) -> FieldChange {
    FieldChange {
        field: field.to_string(),
        before,
        after,
    }
}

/// Collects warnings per (connection, kind), naming a few users and counting all.
#[derive(Default)]
struct WarningSink {
    groups: BTreeMap<(String, WarningKind), (String, Vec<String>)>,
}

impl WarningSink {
    fn add(&mut self, context: &ConnectionContext, kind: WarningKind, user: String) {
        let entry = self
            .groups
            .entry((context.name.clone(), kind))
            .or_insert_with(|| (context.strategy.clone(), Vec::new()));
        entry.1.push(user);
    }

    fn finish(self) -> Vec<Warning> {
        self.groups
            .into_iter()
            .map(|((connection, kind), (strategy, mut users))| {
                users.sort();
                users.dedup();
                let count = users.len();
                users.truncate(WARNING_EXAMPLES);
                Warning {
                    message: warning_message(kind, &connection, &strategy, count),
                    kind,
                    connection,
                    users,
                    user_count: count,
                }
            })
            .collect()
    }
}

fn warning_message(kind: WarningKind, connection: &str, strategy: &str, count: usize) -> String {
    let (users, is, have) = if count == 1 {
        ("1 user".to_string(), "is", "has")
    } else {
        (format!("{count} users"), "are", "have")
    };
    match kind {
        WarningKind::ProviderControlsVerification => format!(
            "{users} of `{connection}` ({strategy}) {is} unverified, but the identity provider controls email_verified and the Management API cannot settle it; verifyctl leaves them alone"
        ),
        WarningKind::CannotCreateInConnection => format!(
            "{users} listed for `{connection}` ({strategy}) cannot be onboarded as asked: Auth0 creates users only in database and email connections, and sends password resets only for database connections"
        ),
        WarningKind::ProviderControlsProfile => format!(
            "{users} of `{connection}` ({strategy}) differ from their listed profile fields, but the identity provider overwrites those fields at login; verifyctl does not update them"
        ),
        WarningKind::NoEmail => format!(
            "{users} of `{connection}` {have} no email address, so there is nothing to verify"
        ),
        WarningKind::InterruptedSend => format!(
            "{users} of `{connection}` {have} an email that an interrupted apply started sending; it may have been delivered and is counted as sent"
        ),
        WarningKind::UnreadableLedger => format!(
            "{users} of `{connection}` {have} an app_metadata.verifyctl value verifyctl cannot read; nothing is sent to them until it is fixed or removed"
        ),
        WarningKind::BlockedUsers => {
            format!("{users} of `{connection}` {is} blocked; verifyctl sends them no email")
        }
        WarningKind::LinkedIdentity => format!(
            "{users} {have} `{connection}` only as a linked secondary identity; their primary identity's connection governs them"
        ),
    }
}
