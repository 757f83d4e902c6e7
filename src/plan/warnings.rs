//! Warnings: what the plan cannot or will not do, grouped per (connection, kind) with a few
//! example users and a count, so a tenant of thousands yields a short list.

use std::collections::BTreeMap;

use super::build::ConnectionContext;
use super::{WARNING_EXAMPLES, Warning, WarningKind};

/// Collects warnings per (connection, kind), naming a few users and counting all.
#[derive(Default)]
pub(super) struct WarningSink {
    groups: BTreeMap<(Option<String>, WarningKind), Group>,
}

#[derive(Default)]
struct Group {
    strategy: String,
    users: Vec<String>,
    /// Set for warnings about a thing rather than about users.
    message: Option<String>,
}

impl WarningSink {
    /// A warning about one user of a connection.
    pub(super) fn user(&mut self, context: &ConnectionContext, kind: WarningKind, user: String) {
        let group = self
            .groups
            .entry((Some(context.name.clone()), kind))
            .or_default();
        group.strategy.clone_from(&context.strategy);
        group.users.push(user);
    }

    /// A warning about a connection or the login Action, with its own message.
    pub(super) fn note(&mut self, connection: Option<&str>, kind: WarningKind, message: String) {
        let group = self
            .groups
            .entry((connection.map(str::to_string), kind))
            .or_default();
        group.message = Some(message);
    }

    pub(super) fn finish(self) -> Vec<Warning> {
        self.groups
            .into_iter()
            .map(|((connection, kind), mut group)| {
                group.users.sort();
                group.users.dedup();
                let count = group.users.len();
                group.users.truncate(WARNING_EXAMPLES);
                let message = group.message.unwrap_or_else(|| {
                    user_warning(
                        kind,
                        connection.as_deref().unwrap_or(""),
                        &group.strategy,
                        count,
                    )
                });
                Warning {
                    message,
                    kind,
                    connection,
                    users: group.users,
                    user_count: count,
                }
            })
            .collect()
    }
}

fn user_warning(kind: WarningKind, connection: &str, strategy: &str, count: usize) -> String {
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
        WarningKind::SendNotLoggedYet => format!(
            "{users} of `{connection}` {have} an email verifyctl started minutes ago that the tenant's logs do not show yet; it counts as sent, and the next plan checks again"
        ),
        WarningKind::SendNeverWentOut => format!(
            "{users} of `{connection}` {have} an email verifyctl started that the tenant's logs show never went out, and the policy sends none now"
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
        WarningKind::NoLongerListed => format!(
            "{users} managed by verifyctl {is} no longer listed for `{connection}` (offboarding: keep): they stay as they are, and verifyctl sends them no further email"
        ),
        WarningKind::DeletionRefused => format!(
            "{users} managed by verifyctl {is} no longer listed for `{connection}`, whose policy says `offboarding: delete`; deleting them is refused without --allow-delete (nothing is done to them)"
        ),
        // Not about users: these carry their own message (`WarningSink::note`).
        WarningKind::MarkBudget
        | WarningKind::SignupSendsEmails
        | WarningKind::LoginActionUnchecked
        | WarningKind::ActionSecretsMissing
        | WarningKind::EmailBudget => String::new(),
    }
}
