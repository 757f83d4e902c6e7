//! The login Action in the plan: the rules the policies ask for at login, the code they
//! generate, and what it takes to get that code running and bound to post-login (create or
//! update, build, deploy, bind), diffed against the deployed version. When no policy needs
//! enforcement any more, verifyctl's Action (and only it) is unbound.

use serde_json::Value;

use super::build::{Resolved, ResolvedApplication, resolve};
use super::users::change;
use super::warnings::WarningSink;
use super::{Action, LoginActionDeployment, Operation, PlanError, Target, WarningKind};
use crate::login_action::{self, LoginRules, ResendRule};
use crate::policy::{ApplicationSelector, DesiredState, VerificationMode};
use crate::tenant::{Action as LiveAction, LiveLogin, LiveState};

/// The login rules the policies ask for, resolving application names against the tenant
/// (for `verifyctl action render`).
pub fn login_rules(desired: &DesiredState, live: &LiveState) -> Result<LoginRules, Vec<PlanError>> {
    Ok(rules(desired, &resolve(desired, live)?))
}

/// The login rules without a tenant, when nothing needs resolving: no application named by
/// name and no `verification_client` used by a re-sending connection.
pub fn login_rules_offline(desired: &DesiredState) -> Option<LoginRules> {
    let needs_names = desired
        .applications
        .iter()
        .any(|a| matches!(a.selector, ApplicationSelector::Name(_)))
        || desired
            .connections
            .values()
            .any(|c| c.resend_on_login && c.verification_client.is_some());
    if needs_names {
        return None;
    }
    let resolved = Resolved {
        connections: Vec::new(),
        applications: desired
            .applications
            .iter()
            .filter_map(|a| match &a.selector {
                ApplicationSelector::ClientId(id) => Some(ResolvedApplication {
                    client_id: id.clone(),
                    name: id.clone(),
                    mode: a.mode,
                }),
                ApplicationSelector::Name(_) => None,
            })
            .collect(),
    };
    let mut rules = rules(desired, &resolved);
    for spec in desired.connections.values().filter(|c| c.resend_on_login) {
        rules.resend_on_login.insert(
            spec.name.clone(),
            ResendRule {
                after_seconds: spec.resend.after.whole_seconds(),
                max: spec.resend.max,
                client_id: None,
            },
        );
    }
    Some(rules)
}

pub(super) fn rules(desired: &DesiredState, resolved: &Resolved) -> LoginRules {
    let mut rules = LoginRules {
        deny_message: desired.login.deny_message.clone(),
        ..LoginRules::default()
    };
    for spec in desired.connections.values() {
        if spec.mode != VerificationMode::Required {
            rules.exempt_connections.insert(spec.name.clone());
        }
        if spec.block_unverified_login {
            rules.blocked_connections.insert(spec.name.clone());
        }
    }
    for context in &resolved.connections {
        let spec = &desired.connections[&context.name];
        if spec.resend_on_login {
            rules.resend_on_login.insert(
                context.name.clone(),
                ResendRule {
                    after_seconds: spec.resend.after.whole_seconds(),
                    max: spec.resend.max,
                    client_id: context.client_id.clone(),
                },
            );
        }
    }
    for application in &resolved.applications {
        if application.mode == VerificationMode::Required {
            rules
                .required_applications
                .insert(application.client_id.clone(), application.name.clone());
        }
    }
    rules
}

pub(super) fn plan_login(
    desired: &DesiredState,
    resolved: &Resolved,
    live: &LiveLogin,
    actions: &mut Vec<Action>,
    warnings: &mut WarningSink,
) {
    let name = &desired.login.action_name;
    let rules = rules(desired, resolved);
    let (action, bindings) = match live {
        LiveLogin::Read { action, bindings } => (action.as_deref(), bindings),
        LiveLogin::NotInScope => return,
        LiveLogin::Unknown => {
            warnings.note(
                None,
                WarningKind::LoginActionUnchecked,
                format!(
                    "the credentials cannot read Actions (read:actions), so verifyctl could not check whether an Action `{name}` it deployed earlier is still bound; no policy needs one now"
                ),
            );
            return;
        }
    };
    let bound = bindings
        .iter()
        .find(|b| action.is_some_and(|a| a.id == b.action.id) || &b.action.name == name);
    let target = Target::LoginAction { name: name.clone() };
    if !rules.enforces_anything() {
        if let Some(binding) = bound {
            actions.push(Action {
                target,
                reason: "no policy blocks unverified logins any more; the Action stays in the tenant, unbound, and every other binding is kept".into(),
                changes: vec![change(
                    "post-login binding",
                    Some(Value::String(binding.display_name.clone().unwrap_or_else(|| name.clone()))),
                    None,
                )],
                operation: Operation::UnbindLoginAction {
                    action_id: binding.action.id.clone(),
                },
            });
        }
        return;
    }
    let code = login_action::render(&rules);
    let secret_names = rules.secret_names();
    let deployment = deployment(name, &code, secret_names, action, bound.is_some());
    if !(deployment.update || deployment.deploy || deployment.bind) {
        return;
    }
    let deployed_code = action
        .and_then(|a| a.deployed_version.as_ref())
        .map(|v| v.code.clone());
    let mut changes = Vec::new();
    if deployed_code.as_deref() != Some(code.as_str()) {
        changes.push(change(
            "code",
            deployed_code.map(Value::String),
            Some(Value::String(code.clone())),
        ));
    }
    let live_secrets = action.map(secret_names_of).unwrap_or_default();
    if live_secrets != deployment.secret_names {
        changes.push(change(
            "secrets",
            action.map(|_| Value::from(live_secrets.clone())),
            Some(Value::from(deployment.secret_names.clone())),
        ));
    }
    if deployment.bind {
        changes.push(change(
            "post-login binding",
            None,
            Some(Value::String(format!(
                "{name} (after the {} existing binding{})",
                bindings.len(),
                if bindings.len() == 1 { "" } else { "s" }
            ))),
        ));
    }
    let reason = match action {
        None => format!(
            "verification is enforced at login ({}) and the tenant has no Action named `{name}`",
            enforcement_summary(&rules)
        ),
        Some(_) if deployment.deploy => format!(
            "the code deployed in the tenant differs from the code the policies generate ({})",
            enforcement_summary(&rules)
        ),
        Some(_) => "the Action is deployed but not bound to the post-login trigger".into(),
    };
    let reason = if deployment.secret_names.is_empty() {
        reason
    } else {
        format!(
            "{reason}; its secrets {} are set from {} and {} at apply time",
            deployment.secret_names.join(", "),
            login_action::ENV_ACTION_CLIENT_ID,
            login_action::ENV_ACTION_CLIENT_SECRET
        )
    };
    actions.push(Action {
        target,
        reason,
        changes,
        operation: Operation::DeployLoginAction(deployment),
    });
}

fn deployment(
    name: &str,
    code: &str,
    secret_names: Vec<String>,
    action: Option<&LiveAction>,
    bound: bool,
) -> LoginActionDeployment {
    let Some(action) = action else {
        return LoginActionDeployment {
            name: name.to_string(),
            code: code.to_string(),
            secret_names,
            action_id: None,
            update: true,
            deploy: true,
            bind: true,
        };
    };
    let runtime_ok = action.runtime.as_deref() == Some(login_action::RUNTIME);
    let trigger_ok = action
        .supported_triggers
        .iter()
        .any(|t| t.id == login_action::TRIGGER && t.version == login_action::TRIGGER_VERSION);
    // A draft whose build failed stays failed until it is submitted again.
    let build_failed = action.status.as_deref() == Some("failed");
    let update = action.code != code
        || secret_names_of(action) != secret_names
        || !runtime_ok
        || !trigger_ok
        || build_failed;
    let deployed = action
        .deployed_version
        .as_ref()
        .is_some_and(|v| v.code == code);
    LoginActionDeployment {
        name: name.to_string(),
        code: code.to_string(),
        secret_names,
        action_id: Some(action.id.clone()),
        update,
        deploy: update || !deployed,
        bind: !bound,
    }
}

fn secret_names_of(action: &LiveAction) -> Vec<String> {
    let mut names: Vec<String> = action.secrets.iter().map(|s| s.name.clone()).collect();
    names.sort();
    names
}

fn enforcement_summary(rules: &LoginRules) -> String {
    let mut parts = Vec::new();
    if !rules.blocked_connections.is_empty() {
        parts.push(format!(
            "blocking connections: {}",
            rules
                .blocked_connections
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !rules.required_applications.is_empty() {
        parts.push(format!(
            "required applications: {}",
            rules
                .required_applications
                .values()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    parts.join("; ")
}
