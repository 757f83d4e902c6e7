//! The live tenant: the Management API [`client`] and [`read_live_state`], which reads just
//! what a plan needs for a given desired state, counting every request.

pub mod auth;
pub mod client;
pub mod error;
mod logs;
pub mod pacing;
mod retry;
pub mod types;
mod users;

use std::collections::{BTreeMap, HashSet};

pub use auth::{AssertionKey, AuthConfigError, AuthMethod, Credentials, SigningAlg};
pub use client::{CallStats, ManagementClient, TenantTarget};
pub use error::ApiError;
pub use logs::{CHECK_WINDOW, LOG_LAG, LoggedSend, SendEvidence};
pub use pacing::PacingConfig;
pub use types::{Action, Binding, Client, Connection, User};
pub use users::{
    ExportPolling, ExportProgress, ProgressHook, USER_FIELDS, USER_SEARCH_LIMIT, UserReads,
};

use crate::ledger::LEDGER_KEY;
use crate::policy::{DesiredState, Scope, VerificationMode};

/// What the plan compares the policies with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveState {
    /// Every connection of the tenant, by name.
    pub connections: BTreeMap<String, Connection>,
    /// The tenant's applications; empty when no policy names one (not read then).
    pub clients: Vec<Client>,
    /// Users of each connection whose users were read, by connection name.
    pub users: BTreeMap<String, Vec<User>>,
    /// The login Action's state in the tenant.
    pub login: LiveLogin,
    /// What the tenant's logs say about the emails verifyctl started recently.
    pub sends: SendEvidence,
}

/// verifyctl's post-login Action as the tenant has it.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum LiveLogin {
    /// Read: the action of the configured name (if any) and the trigger's bindings.
    Read {
        action: Option<Box<Action>>,
        bindings: Vec<Binding>,
    },
    /// Not read: no policy needs the Action and the credentials may not read Actions.
    #[default]
    Unknown,
    /// Not read: the plan is restricted to some connections or users.
    NotInScope,
}

impl LiveState {
    /// True when the users of `connection` were read.
    pub fn has_users_of(&self, connection: &str) -> bool {
        self.users.contains_key(connection)
    }
}

/// Reads the live state the desired state depends on:
/// - all connections (one request per 100 connections);
/// - applications, only when a policy names one;
/// - the users of every policy connection that exists, except `off` connections without
///   listed users and with `offboarding: keep` (nothing can change for them), keeping only those the plan may act on
///   or warn about ([`may_need_planning`]).
pub async fn read_live_state(
    client: &ManagementClient,
    desired: &DesiredState,
) -> Result<LiveState, ApiError> {
    read_live_state_in(client, desired, &Scope::default()).await
}

/// [`read_live_state`] for a targeted plan: `desired` is already restricted to `scope`;
/// with users in scope, only they are read (users-by-email, one request each) and the login
/// Action is not read at all.
pub async fn read_live_state_in(
    client: &ManagementClient,
    desired: &DesiredState,
    scope: &Scope,
) -> Result<LiveState, ApiError> {
    let now = time::OffsetDateTime::now_utc();
    read_live_state_keeping(client, desired, scope, &HashSet::new(), now).await
}

/// [`read_live_state_in`] that also keeps the users with these ids whatever their state
/// (a saved plan's targets, which must be seen to tell whether they moved), at `now` (which
/// decides whose recent send intents are looked up in the logs).
pub async fn read_live_state_keeping(
    client: &ManagementClient,
    desired: &DesiredState,
    scope: &Scope,
    keep_ids: &HashSet<String>,
    now: time::OffsetDateTime,
) -> Result<LiveState, ApiError> {
    let connections: BTreeMap<String, Connection> = client
        .list_connections()
        .await?
        .into_iter()
        .map(|c| (c.name.clone(), c))
        .collect();
    let needs_clients = !desired.applications.is_empty()
        || desired
            .connections
            .values()
            .any(|c| c.verification_client.is_some());
    let clients = if needs_clients {
        client.list_clients().await?
    } else {
        Vec::new()
    };
    let login = if scope.is_full() {
        read_login(client, desired).await?
    } else {
        LiveLogin::NotInScope
    };
    let mut users = BTreeMap::new();
    for (name, spec) in &desired.connections {
        let Some(connection) = connections.get(name) else {
            continue;
        };
        let has_listed_users = desired.users_of(name).next().is_some();
        // Nothing can change for them, unless managed users who left are blocked or deleted.
        if spec.mode == VerificationMode::Off
            && !has_listed_users
            && spec.offboarding == crate::policy::Offboarding::Keep
        {
            continue;
        }
        let list = if scope.by_user() {
            users_by_emails(client, name, &scope.users).await?
        } else {
            let listed: HashSet<&str> = desired.users_of(name).map(|u| u.email.as_str()).collect();
            let keep = |user: &User| {
                keep_ids.contains(&user.user_id) || may_need_planning(user, name, &listed)
            };
            client.users_of_connection_where(connection, &keep).await?
        };
        users.insert(name.clone(), list);
    }
    let sends = if users.is_empty() {
        SendEvidence::NotRead
    } else {
        client.send_evidence(users.values().flatten(), now).await
    };
    Ok(LiveState {
        connections,
        clients,
        users,
        login,
        sends,
    })
}

/// Whether the plan may do or say anything about `user` of `connection`. The users it drops
/// are verified, listed by no policy, governed by this connection (their primary identity)
/// and untouched by verifyctl (no ledger): no mode does anything to them, so a tenant of a
/// million mostly verified users is held as only the users that need work.
fn may_need_planning(user: &User, connection: &str, listed: &HashSet<&str>) -> bool {
    !user.is_verified()
        || user
            .email
            .as_deref()
            .is_some_and(|email| listed.contains(email.to_lowercase().as_str()))
        || user
            .app_metadata
            .as_ref()
            .is_some_and(|metadata| metadata.contains_key(LEDGER_KEY))
        || user
            .identities
            .first()
            .is_some_and(|identity| identity.connection != connection)
}

/// The users of `connection` with one of `emails`.
async fn users_by_emails(
    client: &ManagementClient,
    connection: &str,
    emails: &std::collections::BTreeSet<String>,
) -> Result<Vec<User>, ApiError> {
    let mut users = Vec::new();
    for email in emails {
        users.extend(
            client
                .users_by_email(email)
                .await?
                .into_iter()
                .filter(|u| u.identity_in(connection).is_some()),
        );
    }
    Ok(users)
}

/// Reads verifyctl's Action and the post-login bindings. When no policy needs the Action,
/// credentials without `read:actions` are not an error: there is then nothing verifyctl could
/// have bound either way, and the plan says it could not check.
async fn read_login(
    client: &ManagementClient,
    desired: &DesiredState,
) -> Result<LiveLogin, ApiError> {
    let read = async {
        let action = client
            .find_action(&desired.login.action_name)
            .await?
            .map(Box::new);
        let bindings = client.list_bindings(crate::login_action::TRIGGER).await?;
        Ok::<_, ApiError>(LiveLogin::Read { action, bindings })
    };
    match read.await {
        Err(error) if error.status() == Some(403) && !desired.needs_login_action() => {
            tracing::debug!(%error, "cannot read Actions; skipping the login Action check");
            Ok(LiveLogin::Unknown)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(fields: serde_json::Value) -> User {
        let mut value = json!({
            "user_id": "auth0|1",
            "email": "a@x.example",
            "email_verified": true,
            "identities": [{"connection": "db", "provider": "auth0", "user_id": "1"}],
        });
        for (key, field) in fields.as_object().unwrap() {
            value[key] = field.clone();
        }
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn only_users_that_need_nothing_are_dropped() {
        let none = HashSet::new();
        assert!(
            !may_need_planning(&user(json!({})), "db", &none),
            "verified, unlisted, untouched"
        );
        assert!(may_need_planning(
            &user(json!({"email_verified": false})),
            "db",
            &none
        ));
        let listed: HashSet<&str> = ["a@x.example"].into();
        assert!(may_need_planning(
            &user(json!({"email": "A@x.example"})),
            "db",
            &listed
        ));
        assert!(may_need_planning(
            &user(json!({"app_metadata": {"verifyctl": {"v": 1}}})),
            "db",
            &none
        ));
        assert!(
            may_need_planning(&user(json!({})), "other-db", &none),
            "a linked identity is warned about"
        );
    }
}
