//! Connection signup: `signup: disabled|enabled` sets `options.disable_signup`. Auth0
//! replaces `options` wholesale on PATCH, so apply re-reads the connection and sends the whole
//! object back with only this key changed; the plan shows that one option's diff.

use serde_json::Value;

use super::users::change;
use super::warnings::WarningSink;
use super::{Action, Operation, PlanError, Target, WarningKind};
use crate::auth0::StrategyKind;
use crate::policy::{ConnectionSpec, SignupMode, VerificationMode};
use crate::tenant::types::Connection;

/// What a connection cannot do: signup is a database-connection setting, and changing it
/// safely needs the current options (read-modify-write).
pub(super) fn check(spec: &ConnectionSpec, connection: &Connection) -> Result<(), PlanError> {
    if spec.signup == SignupMode::Unmanaged {
        return Ok(());
    }
    if StrategyKind::of(&connection.strategy) != StrategyKind::Database {
        return Err(PlanError {
            message: format!(
                "connection `{}` ({}) has no signup form to manage",
                spec.name, connection.strategy
            ),
            origin: spec.origin.to_string(),
            hint: "`signup` applies to database connections; remove it here".into(),
        });
    }
    if connection.options.is_none() {
        return Err(PlanError {
            message: format!(
                "the options of connection `{}` cannot be read, so its signup setting cannot be changed without losing other options",
                spec.name
            ),
            origin: spec.origin.to_string(),
            hint: "grant the `read:connections_options` and `update:connections_options` scopes, or use `signup: unmanaged`".into(),
        });
    }
    Ok(())
}

/// Whether the connection's signup form is closed now.
fn signup_disabled(connection: &Connection) -> bool {
    connection
        .options
        .as_ref()
        .and_then(|options| options.get("disable_signup"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

pub(super) fn plan_signup(
    spec: &ConnectionSpec,
    connection: &Connection,
    actions: &mut Vec<Action>,
    warnings: &mut WarningSink,
) {
    let disabled_now = signup_disabled(connection);
    let wanted = match spec.signup {
        SignupMode::Disabled => Some(true),
        SignupMode::Enabled => Some(false),
        SignupMode::Unmanaged => None,
    };
    if let Some(disable) = wanted.filter(|disable| *disable != disabled_now) {
        actions.push(Action {
            target: Target::Connection {
                name: spec.name.clone(),
            },
            reason: format!(
                "the policy at {} says `signup: {}`, but the signup form is {}",
                spec.origin,
                if disable { "disabled" } else { "enabled" },
                if disabled_now { "closed" } else { "open" }
            ),
            changes: vec![change(
                "options.disable_signup",
                Some(Value::Bool(disabled_now)),
                Some(Value::Bool(disable)),
            )],
            operation: Operation::SetSignup {
                connection_id: connection.id.clone(),
                disable_signup: disable,
            },
        });
    }
    // Unknown options (not readable) say nothing about the form: no warning then.
    let open_after = match wanted {
        Some(disable) => !disable,
        None => connection.options.is_some() && !disabled_now,
    };
    let database = StrategyKind::of(&connection.strategy) == StrategyKind::Database;
    if open_after && database && spec.mode == VerificationMode::Required {
        warnings.note(
            Some(&spec.name),
            WarningKind::SignupSendsEmails,
            format!(
                "connection `{}` requires verification, but its signup form stays open: Auth0 sends its own verification email to everyone who signs up there, outside verifyctl's ledger and resend limits; set `signup: disabled` to provision its users only through verifyctl",
                spec.name
            ),
        );
    }
}
