//! [`build_plan`]: the diff from (desired, live, now) to a [`Plan`]. It resolves the names
//! the policies use against the tenant (connections, applications), then asks each part for
//! its actions: connection settings ([`super::signup`]), users ([`super::users`]) and the
//! login Action ([`super::login`]). Pure: no I/O, no clock.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::users::{Run, password_min_length, plan_users};
use super::warnings::WarningSink;
use super::{Action, ActionKind, Plan, PlanError, budget, login, signup, sort_actions};
use crate::auth0::StrategyKind;
use crate::policy::{
    ApplicationSelector, ConnectionSpec, DesiredState, Offboarding, Resend, Scope, VerificationMode,
};
use crate::tenant::LiveState;
use crate::tenant::types::Connection;

/// Computes the plan for all of the policies. Fails, listing every problem, when the
/// policies name connections or applications the tenant does not have, or ask what a
/// connection cannot do.
pub fn build_plan(
    desired: &DesiredState,
    live: &LiveState,
    now: OffsetDateTime,
) -> Result<Plan, Vec<PlanError>> {
    build_plan_in(desired, live, &Scope::default(), now)
}

/// [`build_plan`] for a targeted plan: `desired` is already restricted to `scope` and `live`
/// was read for it ([`crate::tenant::read_live_state_in`]). With users in scope, connection
/// settings are left out; the plan records its scope.
pub fn build_plan_in(
    desired: &DesiredState,
    live: &LiveState,
    scope: &Scope,
    now: OffsetDateTime,
) -> Result<Plan, Vec<PlanError>> {
    let resolved = resolve(desired, live)?;
    let mut actions = Vec::new();
    let mut warnings = WarningSink::default();
    let run = Run {
        now,
        sends: &live.sends,
        allow_delete: desired.lifecycle.allow_delete,
    };
    for context in &resolved.connections {
        let spec = &desired.connections[&context.name];
        let connection = &live.connections[&context.name];
        if !scope.by_user() {
            signup::plan_signup(spec, connection, &mut actions, &mut warnings);
        }
        if let Some(users) = live.users.get(&context.name) {
            plan_users(
                context,
                &connection.id,
                desired,
                users,
                &run,
                &mut actions,
                &mut warnings,
            );
        }
        // No users read: an `off` connection with nothing listed; nothing can change.
    }
    login::plan_login(desired, &resolved, &live.login, &mut actions, &mut warnings);
    sort_actions(&mut actions);
    budget::apply_email_budget(&mut actions, desired.max_emails_per_run, &mut warnings);
    budget::apply_mark_budget(&mut actions, desired.lifecycle.max_marks, &mut warnings);
    check_deletes(desired, &actions)?;
    Ok(Plan {
        actions,
        warnings: warnings.finish(),
        scope: (!scope.is_full()).then(|| scope.clone()),
    })
}

/// The delete guard: a plan that would delete more users than `--max-deletes` allows is
/// refused as a whole, so an emptied or mis-merged policy file cannot wipe a connection.
fn check_deletes(desired: &DesiredState, actions: &[Action]) -> Result<(), Vec<PlanError>> {
    let deletes = actions
        .iter()
        .filter(|a| a.kind() == ActionKind::DeleteUser)
        .count();
    let max = desired.lifecycle.max_deletes;
    if deletes <= usize::try_from(max).unwrap_or(usize::MAX) {
        return Ok(());
    }
    let mut per_connection: Vec<String> = Vec::new();
    let mut origin = String::new();
    for spec in desired.connections.values() {
        let count = actions
            .iter()
            .filter(|a| {
                a.kind() == ActionKind::DeleteUser && a.target.connection() == Some(&spec.name)
            })
            .count();
        if count > 0 {
            per_connection.push(format!("{count} in `{}`", spec.name));
            if origin.is_empty() {
                origin = spec.origin.to_string();
            }
        }
    }
    Err(vec![PlanError {
        message: format!(
            "the plan would delete {deletes} managed users that no policy lists any more ({}), more than --max-deletes allows ({max}); nothing was planned or changed",
            per_connection.join(", ")
        ),
        origin,
        hint: format!(
            "check that no policy file was emptied, lost or mis-merged; if these deletions are intended, run again with `--allow-delete --max-deletes {deletes}`, or use `offboarding: block` (reversible)"
        ),
    }])
}

/// The policies' names, resolved against the tenant.
pub(super) struct Resolved {
    pub connections: Vec<ConnectionContext>,
    /// Each policy application with its client id and name.
    pub applications: Vec<ResolvedApplication>,
}

pub(super) struct ResolvedApplication {
    pub client_id: String,
    pub name: String,
    pub mode: VerificationMode,
}

/// A policy connection joined with its live counterpart: everything the per-user rules
/// need to know about the connection. Also carried inside a create action, so that `apply`
/// can re-plan a user that turns out to exist already (a 409 on create).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConnectionContext {
    pub name: String,
    pub strategy: String,
    pub mode: VerificationMode,
    /// Stored in saved plans as `resend_after_seconds` and `resend_max`.
    #[serde(flatten, with = "resend_fields")]
    #[schemars(with = "resend_fields::ResendFields")]
    pub resend: Resend,
    /// The `verification_client` as named in the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_client: Option<String>,
    /// Its client id, resolved against the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The connection's minimum password length, when its options set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_min_length: Option<u32>,
    /// What happens to managed users no policy lists any more.
    #[serde(default, skip_serializing_if = "is_keep")]
    pub offboarding: Offboarding,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if takes a reference
fn is_keep(offboarding: &Offboarding) -> bool {
    *offboarding == Offboarding::Keep
}

impl ConnectionContext {
    fn new(spec: &ConnectionSpec, live: &Connection, client_id: Option<String>) -> Self {
        ConnectionContext {
            name: spec.name.clone(),
            strategy: live.strategy.clone(),
            mode: spec.mode,
            resend: spec.resend,
            verification_client: spec.verification_client.clone(),
            client_id,
            password_min_length: password_min_length(live),
            offboarding: spec.offboarding,
        }
    }

    pub(super) fn kind(&self) -> StrategyKind {
        StrategyKind::of(&self.strategy)
    }
}

/// The resend policy as saved plans store it: whole seconds and a count.
mod resend_fields {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::policy::Resend;

    #[derive(Serialize, Deserialize, schemars::JsonSchema)]
    pub(super) struct ResendFields {
        resend_after_seconds: i64,
        resend_max: u32,
    }

    pub(super) fn serialize<S: Serializer>(
        resend: &Resend,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        ResendFields {
            resend_after_seconds: resend.after.whole_seconds(),
            resend_max: resend.max,
        }
        .serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Resend, D::Error> {
        let fields = ResendFields::deserialize(deserializer)?;
        Ok(Resend {
            after: time::Duration::seconds(fields.resend_after_seconds),
            max: fields.resend_max,
        })
    }
}

/// Resolves every name the policies use; collects every problem before failing.
pub(super) fn resolve(
    desired: &DesiredState,
    live: &LiveState,
) -> Result<Resolved, Vec<PlanError>> {
    let mut errors = Vec::new();
    let mut connections = Vec::new();
    for spec in desired.connections.values() {
        let client_id = spec.verification_client.as_deref().and_then(|name| {
            client_by_name(live, name)
                .map_err(|message| {
                    errors.push(PlanError {
                        message: format!(
                            "verification_client of connection `{}`: {message}",
                            spec.name
                        ),
                        origin: spec.origin.to_string(),
                        hint: "use the application's exact name as shown in the Auth0 dashboard; if several applications share it, rename all but one there (`verification_client` takes a name)"
                            .into(),
                    });
                })
                .ok()
                .map(|(id, _)| id)
        });
        let Some(connection) = live.connections.get(&spec.name) else {
            errors.push(PlanError {
                message: format!("connection `{}` does not exist in the tenant", spec.name),
                origin: spec.origin.to_string(),
                hint: closest_name(&spec.name, live.connections.keys()).map_or_else(
                    || "create it in Auth0 first (verifyctl does not create connections) or fix the name".into(),
                    |near| format!("did you mean `{near}`?"),
                ),
            });
            continue;
        };
        if let Err(error) = signup::check(spec, connection) {
            errors.push(error);
        }
        connections.push(ConnectionContext::new(spec, connection, client_id));
    }
    let mut applications = Vec::new();
    for application in &desired.applications {
        let found = match &application.selector {
            ApplicationSelector::Name(name) => client_by_name(live, name),
            ApplicationSelector::ClientId(id) => live
                .clients
                .iter()
                .find(|c| &c.client_id == id)
                .map(|c| (c.client_id.clone(), c.name.clone()))
                .ok_or_else(|| format!("no application has client_id {id}")),
        };
        match found {
            Ok((client_id, name)) => applications.push(ResolvedApplication {
                client_id,
                name,
                mode: application.mode,
            }),
            Err(message) => errors.push(PlanError {
                message: format!("{}: {message}", application.selector),
                origin: application.origin.to_string(),
                hint: "check the name or client_id in the Auth0 dashboard (Applications); an application whose name is shared is named by `client_id:` instead".into(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(Resolved {
            connections,
            applications,
        })
    } else {
        Err(errors)
    }
}

/// (client id, name) of the one application named `name`.
fn client_by_name(live: &LiveState, name: &str) -> Result<(String, String), String> {
    let matches: Vec<_> = live.clients.iter().filter(|c| c.name == name).collect();
    match matches.as_slice() {
        [one] => Ok((one.client_id.clone(), one.name.clone())),
        [] => Err(format!("no application is named \"{name}\"")),
        many => Err(format!(
            "{} applications are named \"{name}\" ({})",
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
