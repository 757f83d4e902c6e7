//! The per-user rules: the mode table of DESIGN.md §2 (and the README) for every user of a
//! policy connection, listed or not, plus onboarding, profile fields and the send ledger.
//! [`verification_rule`] is that table as code; the rest turns its answers into actions.

use std::collections::HashMap;

use serde_json::Value;
use time::OffsetDateTime;

use super::build::ConnectionContext;
use super::resend::{ResendDecision, resend_decision};
use super::warnings::WarningSink;
use super::{
    Action, ActionKind, CreateEmail, FieldChange, NewUser, Operation, Target, Warning, WarningKind,
};
use crate::auth0::StrategyKind;
use crate::clock::parse_timestamp;
use crate::ledger::{Ledger, LedgerRead, SendKind};
use crate::policy::duration::format_duration;
use crate::policy::{
    DesiredState, ListedUser, Offboarding, Onboarding, UserSpec, VerificationMode,
};
use crate::tenant::types::{
    ChangePasswordRequest, Connection, JobIdentity, Profile, User, UserPatch,
    VerificationEmailRequest,
};
use crate::tenant::{CHECK_WINDOW, LOG_LAG, SendEvidence};

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
    // No log evidence here: an intent on this user counts as sent, and sends are confirmed.
    let run = Run {
        now,
        sends: &SendEvidence::NotRead,
        allow_delete: false,
    };
    existing_user(
        connection,
        Some(listed),
        user,
        &run,
        &mut actions,
        &mut warnings,
    );
    (actions, warnings.finish())
}

pub(super) fn plan_users(
    context: &ConnectionContext,
    connection_id: &str,
    desired: &DesiredState,
    users: &[User],
    run: &Run<'_>,
    actions: &mut Vec<Action>,
    warnings: &mut WarningSink,
) {
    let name = &context.name;
    // Database emails are stored lower-cased, so the key is almost always borrowed.
    let mut by_email: HashMap<std::borrow::Cow<'_, str>, &User> =
        HashMap::with_capacity(users.len());
    let mut primary: Vec<&User> = Vec::new();
    for user in users {
        let is_primary = user
            .identities
            .first()
            .is_none_or(|i| &i.connection == name);
        if !is_primary {
            warnings.user(context, WarningKind::LinkedIdentity, user_label(user));
            continue;
        }
        primary.push(user);
        if let Some(email) = &user.email {
            let key = if email.chars().any(char::is_uppercase) {
                std::borrow::Cow::Owned(email.to_lowercase())
            } else {
                std::borrow::Cow::Borrowed(email.as_str())
            };
            by_email.entry(key).or_insert(user);
        }
    }
    let mut listed_ids = std::collections::HashSet::new();
    let first = actions.len();
    for spec in desired.users_of(name) {
        match by_email.get(spec.email.as_str()) {
            Some(user) => {
                listed_ids.insert(user.user_id.as_str());
                existing_user(context, Some(&spec.policy), user, run, actions, warnings);
            }
            None => create_user(context, spec, run, actions, warnings),
        }
    }
    import_creates(&mut actions[first..], connection_id);
    for user in primary {
        if listed_ids.contains(user.user_id.as_str()) {
            continue;
        }
        match LedgerRead::from_app_metadata(user.app_metadata.as_ref()) {
            LedgerRead::Present(ledger) if ledger.is_managed() => {
                offboard(context, user, &ledger, run, actions, warnings);
            }
            _ => existing_user(context, None, user, run, actions, warnings),
        }
    }
}

/// A user verifyctl manages that no policy lists any more: the connection's `offboarding`
/// decides, and no email is ever sent to it again.
fn offboard(
    context: &ConnectionContext,
    user: &User,
    ledger: &Ledger,
    run: &Run<'_>,
    actions: &mut Vec<Action>,
    warnings: &mut WarningSink,
) {
    let since = ledger
        .managed
        .as_ref()
        .map_or_else(String::new, |m| format!(" since {}", m.since));
    let why = format!(
        "managed by verifyctl{since} and listed by no policy any more; connection `{}` says `offboarding: {}`",
        context.name,
        context.offboarding.as_str()
    );
    let target = target_of(context, user);
    match context.offboarding {
        Offboarding::Keep => {
            warnings.user(context, WarningKind::NoLongerListed, user_label(user));
        }
        // Already blocked (by verifyctl or anyone else): nothing to do.
        Offboarding::Block if user.blocked == Some(true) => {}
        Offboarding::Block => actions.push(Action {
            target,
            reason: format!("{why}: the user is blocked (listing it again unblocks it)"),
            changes: vec![change(
                "blocked",
                Some(Value::Bool(false)),
                Some(Value::Bool(true)),
            )],
            operation: Operation::BlockUser {
                user_id: user.user_id.clone(),
                ledger: ledger.marked_blocked(run.now),
            },
        }),
        Offboarding::Delete if run.allow_delete => actions.push(Action {
            target,
            reason: format!("{why}, and --allow-delete is given: the user is deleted"),
            changes: vec![change(
                "user",
                Some(Value::String(user.user_id.clone())),
                None,
            )],
            operation: Operation::DeleteUser {
                user_id: user.user_id.clone(),
            },
        }),
        Offboarding::Delete => {
            warnings.user(context, WarningKind::DeletionRefused, user_label(user));
        }
    }
}

/// Folds verifyctl's managed mark (without the note that verifyctl blocked the user, once
/// the user is listed again) into every PATCH just planned for a listed user, or returns a
/// PATCH of its own when none of them writes to the user.
fn mark_listed_user(
    user: &User,
    target: &Target,
    listed: &ListedUser,
    ledger: &Ledger,
    run: &Run<'_>,
    actions: &mut [Action],
) -> Option<Action> {
    if ledger.is_managed() && !ledger.blocked_by_verifyctl() {
        return None;
    }
    let mark = |l: &Ledger| l.marked_managed(run.now).marked_unblocked(run.now);
    let announce = !ledger.is_managed();
    let mut folded = false;
    for action in actions.iter_mut() {
        let carried = match &mut action.operation {
            Operation::SendVerificationEmail { ledger: l, .. }
            | Operation::SendPasswordReset { ledger: l, .. }
            | Operation::RecordInterruptedSend { ledger: l, .. }
            | Operation::UnblockUser { ledger: l, .. } => {
                *l = mark(l);
                true
            }
            Operation::MarkEmailVerified { ledger: l, .. } => {
                *l = Some(mark(ledger));
                true
            }
            Operation::UpdateProfile { patch, .. } => {
                patch
                    .profile
                    .app_metadata
                    .get_or_insert_default()
                    .extend(mark(ledger).app_metadata_patch());
                true
            }
            _ => false,
        };
        if carried && announce && !folded {
            action.reason.push_str(
                "; the same PATCH marks the user as managed by verifyctl (first reconciled while listed)",
            );
            action.changes.push(managed_change());
        }
        folded |= carried;
    }
    if folded {
        return None;
    }
    let reason = if announce {
        format!(
            "listed at {} and not yet marked as managed: verifyctl marks the users it manages, so that it can offboard them once no policy lists them",
            listed.origin
        )
    } else {
        format!(
            "listed at {}; the ledger still says verifyctl blocked the user, who is no longer blocked: the note is cleared",
            listed.origin
        )
    };
    Some(Action {
        target: target.clone(),
        reason,
        changes: if announce {
            vec![managed_change()]
        } else {
            vec![change(
                "app_metadata.verifyctl.managed.blocked_at",
                ledger
                    .managed
                    .as_ref()
                    .and_then(|m| m.blocked_at.clone())
                    .map(Value::String),
                None,
            )]
        },
        operation: Operation::MarkManaged {
            user_id: user.user_id.clone(),
            ledger: mark(ledger),
        },
    })
}

/// Whether a PATCH of its own, only to mark a listed user as managed, changes what verifyctl
/// will ever do. In an `off` connection that keeps users who leave, it does not: an unlisted
/// user there gets no email and no write either way, so the mark waits for a PATCH the user
/// gets anyway, or for the connection's policy to change (then the next plan marks them).
/// This keeps a policy `verifyctl export` wrote (every connection `off`) a plan of no changes.
fn standalone_mark_matters(context: &ConnectionContext) -> bool {
    context.mode != VerificationMode::Off || context.offboarding != Offboarding::Keep
}

fn managed_change() -> FieldChange {
    change(
        "app_metadata.verifyctl.managed",
        None,
        Some(Value::Bool(true)),
    )
}

/// More creates than this in one database connection go through users-import jobs.
pub const IMPORT_ABOVE: usize = 10;

/// The most bytes of one users-import file (reference §9.1).
pub const IMPORT_FILE_BYTES: usize = 512_000;

/// Turns the creates among `actions` into imports when there are more than
/// [`IMPORT_ABOVE`] of them (database connections only), saying in each reason what the
/// shared import costs.
fn import_creates(actions: &mut [Action], connection_id: &str) {
    let creates: Vec<usize> = (0..actions.len())
        .filter(|&i| {
            matches!(&actions[i].operation, Operation::CreateUser { user, .. } if user.password_length.is_some())
        })
        .collect();
    if creates.len() <= IMPORT_ABOVE {
        return;
    }
    // Estimated like apply packs them: records in order, files filled to the limit.
    let mut files = 1usize;
    let mut size = 2usize;
    for &i in &creates {
        if let Operation::CreateUser { user, .. } = &actions[i].operation {
            let record = estimated_record_bytes(user);
            if size + record + 1 > IMPORT_FILE_BYTES {
                files += 1;
                size = 2;
            }
            size += record + 1;
        }
    }
    let count = creates.len();
    let note = format!(
        "created with the connection's {} other new users through users-import jobs ({files} file{}, about {} requests for all {count}); imported users get no password until they set one",
        count - 1,
        if files == 1 { "" } else { "s" },
        files * 3
    );
    for i in creates {
        let action = &mut actions[i];
        let placeholder = Operation::DeleteUser {
            user_id: String::new(),
        };
        let Operation::CreateUser {
            mut user,
            onboarding_email,
            connection_policy,
            user_policy,
            confirm,
        } = std::mem::replace(&mut action.operation, placeholder)
        else {
            continue;
        };
        // The record carries no password (the user sets one); `password_length` stays for a
        // create of the user on its own, when the import as a whole is refused.
        user.verify_email = false;
        // An import sends no email: the verification email is always a job.
        let onboarding_email = match onboarding_email {
            CreateEmail::VerificationWithCreate => CreateEmail::VerificationJob { client_id: None },
            other => other,
        };
        action.changes.retain(|c| c.field != "password");
        action.reason = format!(
            "{}; {note}",
            action.reason.replace(
                ": Auth0 sends the verification email on create",
                ": a verification email follows"
            )
        );
        action.operation = Operation::ImportUser {
            connection_id: connection_id.to_string(),
            user,
            onboarding_email,
            connection_policy,
            user_policy,
            confirm,
        };
    }
}

/// About how many bytes a user's import record takes (the id apply generates included).
fn estimated_record_bytes(user: &NewUser) -> usize {
    let profile = serde_json::to_string(&user.profile).map_or(0, |p| p.len());
    // {"email":"…","email_verified":false,"user_id":"24 hex","app_metadata":{"verifyctl":…}}
    user.email.len() + profile + 220
}

/// What a planning run knows beyond the policy and the user: the time, and what the
/// tenant's logs say about the emails verifyctl started.
pub(super) struct Run<'a> {
    pub now: OffsetDateTime,
    pub sends: &'a SendEvidence,
    /// `--allow-delete`: `offboarding: delete` may delete users in this run.
    pub allow_delete: bool,
}

impl Run<'_> {
    /// Whether apply must confirm each send in the ledger (the logs cannot confirm it).
    fn confirm_sends(&self) -> bool {
        !self.sends.readable()
    }
}

fn user_label(user: &User) -> String {
    user.email.clone().unwrap_or_else(|| user.user_id.clone())
}

fn target_of(context: &ConnectionContext, user: &User) -> Target {
    Target::user(
        &context.name,
        user.email.as_ref().map(|e| e.to_lowercase()),
        Some(user.user_id.clone()),
    )
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
pub(super) fn password_min_length(connection: &Connection) -> Option<u32> {
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
    run: &Run<'_>,
    actions: &mut Vec<Action>,
    warnings: &mut WarningSink,
) {
    let listed = &spec.policy;
    // Listed users are identified by email, so SMS connections cannot take them.
    let kind = context.kind();
    if !kind.can_create_users() || kind == StrategyKind::PasswordlessSms {
        warnings.user(
            context,
            WarningKind::CannotCreateInConnection,
            spec.email.clone(),
        );
        return;
    }
    let mut onboarding = listed.onboarding;
    if onboarding == Onboarding::PasswordReset && context.kind() != StrategyKind::Database {
        warnings.user(
            context,
            WarningKind::CannotCreateInConnection,
            spec.email.clone(),
        );
        onboarding = Onboarding::None;
    }
    let client_id = context.client_id.clone();
    let (email_verified, verify_email, onboarding_email) = match (listed.mode, onboarding) {
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
        listed
            .profile
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
        target: Target::user(&context.name, Some(spec.email.clone()), None),
        reason: format!(
            "listed at {} but not in the tenant; email_verification {}, onboarding {}: {email_note}",
            listed.origin,
            listed.mode.as_str(),
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
                profile: listed.profile.clone(),
            },
            onboarding_email,
            connection_policy: Box::new(context.clone()),
            user_policy: Box::new(listed.clone()),
            confirm: run.confirm_sends(),
        },
    });
}

/// What the mode table says about an existing user's verification state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VerificationStep {
    /// Nothing to do: verified, `off`, or settled by onboarding.
    Nothing,
    /// `trusted`: set `email_verified: true`, sending nothing.
    MarkVerified,
    /// `required`: a verification email, within the resend policy and the ledger.
    SendVerificationEmail,
    /// Cannot be done; say why.
    Warn(WarningKind),
}

/// What verifyctl knows about an existing user, as the rules need it.
#[derive(Debug, Clone, Copy)]
struct UserFacts {
    verified: bool,
    has_email: bool,
    blocked: bool,
    /// The API can set `email_verified` in this connection (database, passwordless email).
    verification_settable: bool,
    /// The ledger is readable (otherwise nothing is sent to the user).
    sends_allowed: bool,
}

/// The mode table (DESIGN.md §2; the README's *Policy files* table) for an existing user, row by
/// row. `onboarding` is the listed user's (`None` for users no policy lists).
fn verification_rule(
    mode: VerificationMode,
    onboarding: Option<Onboarding>,
    user: UserFacts,
) -> VerificationStep {
    use VerificationMode::{Off, Required, Trusted};
    use VerificationStep::{MarkVerified, Nothing, SendVerificationEmail, Warn};
    match mode {
        // Verification is a fact: never undone, nothing left to do.
        _ if user.verified => Nothing,
        // `off`: verifyctl never touches email_verified.
        Off => Nothing,
        _ if !user.has_email => Warn(WarningKind::NoEmail),
        // `trusted`: mark verified without an email, where the API can set it.
        Trusted if user.verification_settable => MarkVerified,
        Trusted => Warn(WarningKind::ProviderControlsVerification),
        // `required` with password-reset onboarding: the reset email settles it (below);
        // with `onboarding: none`: nothing is sent.
        Required
            if matches!(
                onboarding,
                Some(Onboarding::PasswordReset | Onboarding::None)
            ) =>
        {
            Nothing
        }
        // Social and enterprise providers assert email_verified themselves and overwrite it
        // at each login (reference §12.7), so a verification email cannot settle it.
        Required if !user.verification_settable => Warn(WarningKind::ProviderControlsVerification),
        Required if user.blocked => Warn(WarningKind::BlockedUsers),
        // An unreadable ledger was warned about; nothing is sent until it is fixed.
        Required if !user.sends_allowed => Nothing,
        Required => SendVerificationEmail,
    }
}

fn existing_user(
    context: &ConnectionContext,
    listed: Option<&ListedUser>,
    user: &User,
    run: &Run<'_>,
    actions: &mut Vec<Action>,
    warnings: &mut WarningSink,
) {
    let target = target_of(context, user);
    let ledger_read = LedgerRead::from_app_metadata(user.app_metadata.as_ref());
    if let LedgerRead::Unreadable(_) = ledger_read {
        warnings.user(context, WarningKind::UnreadableLedger, user_label(user));
    }
    // A user verifyctl blocked when it left the policies, listed again: unblocked first,
    // then planned as the unblocked user it is about to be.
    let unblock = listed.is_some()
        && user.blocked == Some(true)
        && ledger_read
            .ledger()
            .is_some_and(Ledger::blocked_by_verifyctl);
    let facts = UserFacts {
        verified: user.is_verified(),
        has_email: user.email.is_some(),
        blocked: user.blocked == Some(true) && !unblock,
        verification_settable: context.kind().can_set_email_verified(),
        sends_allowed: !matches!(ledger_read, LedgerRead::Unreadable(_)),
    };
    let read_ledger = ledger_read.ledger().cloned().unwrap_or_default();
    let pending = read_ledger
        .pending
        .as_ref()
        .map(|p| (p.clone(), pending_state(p, &user.user_id, run)));
    // An intent the logs show never went out is not a send: plan from the ledger without it.
    let (ledger, note) = match &pending {
        Some((p, PendingState::NeverSent)) => (
            read_ledger.without_pending(),
            Some(format!(
                "the tenant's logs show that the {} verifyctl started at {} never went out",
                p.kind.describe(),
                p.started_at
            )),
        ),
        _ => (read_ledger, None),
    };
    let mode = listed.map_or(context.mode, |spec| spec.mode);
    let onboarding = listed.map(|spec| spec.onboarding);
    let before = actions.len();

    if let Some(spec) = listed {
        if unblock {
            actions.push(Action {
                target: target.clone(),
                reason: format!(
                    "listed again at {}; verifyctl blocked the user when no policy listed it: the user is unblocked",
                    spec.origin
                ),
                changes: vec![change(
                    "blocked",
                    Some(Value::Bool(true)),
                    Some(Value::Bool(false)),
                )],
                operation: Operation::UnblockUser {
                    user_id: user.user_id.clone(),
                    ledger: ledger.marked_managed(run.now).marked_unblocked(run.now),
                },
            });
        }
        profile_update(context, spec, user, &target, actions, warnings);
    }

    let sends = Sends {
        context,
        user,
        target: &target,
        ledger: &ledger,
        run,
        note: note.as_deref(),
    };
    let step = verification_rule(mode, onboarding, facts);
    match step {
        VerificationStep::Nothing => {}
        VerificationStep::Warn(kind) => warnings.user(context, kind, user_label(user)),
        VerificationStep::MarkVerified => {
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
        }
        VerificationStep::SendVerificationEmail => {
            sends.verification_email(actions);
        }
    }

    if onboarding == Some(Onboarding::PasswordReset) && facts.sends_allowed {
        if context.kind() == StrategyKind::Database {
            let marked = step == VerificationStep::MarkVerified;
            sends.password_reset_onboarding(mode, marked, actions);
        } else {
            warnings.user(
                context,
                WarningKind::CannotCreateInConnection,
                user_label(user),
            );
        }
    }

    let planned_send = actions[before..].iter().any(|a| {
        matches!(
            a.kind(),
            ActionKind::SendVerificationEmail | ActionKind::SendPasswordReset
        )
    });
    match &pending {
        Some((pending, PendingState::Unchecked)) => {
            warnings.user(context, WarningKind::InterruptedSend, user_label(user));
            if !planned_send {
                actions.push(record_interrupted_send(&target, user, &ledger, pending));
            }
        }
        Some((_, PendingState::NotLoggedYet)) => {
            warnings.user(context, WarningKind::SendNotLoggedYet, user_label(user));
        }
        Some((_, PendingState::NeverSent)) if !planned_send => {
            warnings.user(context, WarningKind::SendNeverWentOut, user_label(user));
        }
        _ => {}
    }

    // Last, so that the mark rides on every PATCH planned above.
    if let (Some(spec), false) = (listed, matches!(ledger_read, LedgerRead::Unreadable(_)))
        && let Some(mark) =
            mark_listed_user(user, &target, spec, &ledger, run, &mut actions[before..])
        && (ledger.is_managed() || standalone_mark_matters(context))
    {
        actions.push(mark);
    }
}

/// What became of a send verifyctl started (the intent in the ledger), by the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PendingState {
    /// It went out, or is too old to check (counted as sent).
    Sent,
    /// Younger than the logs' lag and not in them yet: counted as sent until a later plan
    /// can tell.
    NotLoggedYet,
    /// The logs reach back to it and show no such email: it never went out.
    NeverSent,
    /// The logs cannot be read: an interrupted send may or may not have gone out.
    Unchecked,
}

pub(super) fn pending_state(
    pending: &crate::ledger::PendingSend,
    user_id: &str,
    run: &Run<'_>,
) -> PendingState {
    let Ok(started) = parse_timestamp(&pending.started_at) else {
        return PendingState::Sent;
    };
    if run.now - started > CHECK_WINDOW {
        return PendingState::Sent;
    }
    let (reach, sent) = match run.sends {
        SendEvidence::NotRead => return PendingState::Sent,
        SendEvidence::Unreadable { .. } => return PendingState::Unchecked,
        SendEvidence::Read { reach, sent } => (reach, sent),
    };
    let skew = time::Duration::minutes(1);
    let logged = sent.get(user_id).is_some_and(|sends| {
        sends.iter().any(|s| {
            s.kind == pending.kind && parse_timestamp(&s.date).is_ok_and(|at| at + skew >= started)
        })
    });
    if logged {
        return PendingState::Sent;
    }
    if run.now - started < LOG_LAG {
        return PendingState::NotLoggedYet;
    }
    // Logs whose oldest event is younger than the intent (retention passed it) cannot say
    // it did not happen; logs with no event at all would hold the send if it had happened.
    let reaches_back = reach
        .as_deref()
        .is_none_or(|oldest| parse_timestamp(oldest).is_ok_and(|oldest| oldest <= started));
    if reaches_back {
        PendingState::NeverSent
    } else {
        PendingState::Sent
    }
}

fn record_interrupted_send(
    target: &Target,
    user: &User,
    ledger: &Ledger,
    pending: &crate::ledger::PendingSend,
) -> Action {
    Action {
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
    }
}

fn mark_verified(target: &Target, user: &User, reason: String) -> Action {
    Action {
        target: target.clone(),
        reason,
        changes: vec![change(
            "email_verified",
            Some(Value::Bool(user.email_verified.unwrap_or(false))),
            Some(Value::Bool(true)),
        )],
        operation: Operation::MarkEmailVerified {
            user_id: user.user_id.clone(),
            ledger: None,
        },
    }
}

/// The emails one existing user may be sent, with what deciding them needs.
struct Sends<'a> {
    context: &'a ConnectionContext,
    user: &'a User,
    target: &'a Target,
    /// The ledger to plan from (an intent the logs refuted already dropped).
    ledger: &'a Ledger,
    run: &'a Run<'a>,
    /// Said first in the reason (why an earlier intent is sent again).
    note: Option<&'a str>,
}

impl Sends<'_> {
    fn verification_email(&self, actions: &mut Vec<Action>) {
        let Sends {
            context,
            user,
            target,
            ledger,
            run,
            note,
        } = *self;
        verification_send(context, user, target, ledger, run, note, actions);
    }

    fn password_reset_onboarding(
        &self,
        mode: VerificationMode,
        already_marked: bool,
        actions: &mut Vec<Action>,
    ) {
        password_reset_onboarding(self, mode, already_marked, actions);
    }
}

fn verification_send(
    context: &ConnectionContext,
    user: &User,
    target: &Target,
    ledger: &Ledger,
    run: &Run<'_>,
    note: Option<&str>,
    actions: &mut Vec<Action>,
) {
    let record = ledger.effective(SendKind::VerificationEmail);
    let resend = context.resend;
    let reason = match resend_decision(record.as_ref(), resend, run.now) {
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
    let reason = match note {
        Some(note) => format!("{note}; {reason}"),
        None => reason,
    };
    let identity = user.identity_in(&context.name).map(|identity| JobIdentity {
        user_id: identity.user_id_string(),
        provider: identity.provider.clone(),
    });
    let sent = record.as_ref().map_or(0, |r| r.count);
    actions.push(Action {
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
            confirm: run.confirm_sends(),
        },
    });
}

/// Onboarding by password reset: one reset email to a user who never logged in; once they
/// have logged in after it, their mailbox is proven and the address is marked verified.
fn password_reset_onboarding(
    sends: &Sends<'_>,
    mode: VerificationMode,
    already_marked: bool,
    actions: &mut Vec<Action>,
) {
    let Sends {
        context,
        user,
        target,
        ledger,
        run,
        note,
    } = *sends;
    let verified = user.is_verified();
    let logins = user.logins_count.unwrap_or(0);
    let Some(email) = &user.email else { return };
    match ledger.effective(SendKind::PasswordReset) {
        None => {
            if !verified && logins == 0 && user.blocked != Some(true) {
                let reason = "onboarding password-reset: the user has never logged in and verifyctl has not sent a password-reset email yet";
                actions.push(Action {
                    target: target.clone(),
                    reason: match note {
                        Some(note) => format!("{note}; {reason}"),
                        None => reason.to_string(),
                    },
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
                        confirm: run.confirm_sends(),
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
        warnings.user(
            context,
            WarningKind::ProviderControlsProfile,
            user_label(user),
        );
        return;
    }
    actions.push(Action {
        target: target.clone(),
        reason: format!(
            "profile fields listed at {} differ from the tenant",
            listed.origin
        ),
        changes,
        operation: Operation::UpdateProfile {
            user_id: user.user_id.clone(),
            patch: UserPatch {
                profile: patch,
                ..UserPatch::default()
            },
        },
    });
}

pub(super) fn change(field: &str, before: Option<Value>, after: Option<Value>) -> FieldChange {
    FieldChange {
        field: field.to_string(),
        before,
        after,
    }
}
