//! Checks before the first write: everything an apply can know before it changes the tenant
//! fails the run there, with one error listing every problem, instead of after the first
//! users were created and emails sent.
//!
//! - the login Action's secrets, when the Action re-sends emails: both variables are set;
//! - the token's scopes (when the token response named them): every call the plan's actions
//!   make is allowed, per [`crate::auth0::scopes_for_call`].
//!
//! The tenant's state (connections, the Action, users) needs no check here: a fresh plan was
//! read from it moments ago, and a saved plan is refused when anything it relies on moved.
//! What cannot be known in advance (a rate limit, a refused record) is reported per action.

use std::collections::{BTreeMap, BTreeSet};

use crate::auth0::scopes_for_call;
use crate::login_action::{ENV_ACTION_CLIENT_ID, ENV_ACTION_CLIENT_SECRET};
use crate::plan::{Operation, Plan};

/// One problem found before the first write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub hint: String,
}

/// Checks `plan` against the environment (`env` reads a variable) and the token's granted
/// scopes (`None` when the token did not say, as for a static `AUTH0_TOKEN`).
pub fn check(
    plan: &Plan,
    granted: Option<&BTreeSet<String>>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(), Vec<Problem>> {
    let mut problems = Vec::new();
    action_secrets(plan, &env, &mut problems);
    if let Some(granted) = granted {
        scopes(plan, granted, &mut problems);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The Action secrets' variables that `env` lacks, when the plan deploys a login Action
/// that re-sends emails (none otherwise). Plan warns with it; apply refuses with it.
pub fn missing_action_secrets(
    plan: &Plan,
    env: impl Fn(&str) -> Option<String>,
) -> Vec<&'static str> {
    let needs_secrets = plan.actions.iter().any(|action| {
        matches!(&action.operation, Operation::DeployLoginAction(d) if !d.secret_names.is_empty())
    });
    if !needs_secrets {
        return Vec::new();
    }
    [ENV_ACTION_CLIENT_ID, ENV_ACTION_CLIENT_SECRET]
        .into_iter()
        .filter(|name| env(name).is_none_or(|value| value.is_empty()))
        .collect()
}

fn action_secrets(plan: &Plan, env: &impl Fn(&str) -> Option<String>, problems: &mut Vec<Problem>) {
    let missing = missing_action_secrets(plan, env);
    if missing.is_empty() {
        return;
    }
    problems.push(Problem {
        message: format!(
            "the login Action re-sends verification emails with its own Management API credentials, but {} {} not set",
            missing.join(" and "),
            if missing.len() == 1 { "is" } else { "are" }
        ),
        hint: format!(
            "create a machine-to-machine application with only the update:users scope and set {ENV_ACTION_CLIENT_ID} and {ENV_ACTION_CLIENT_SECRET} (in CI, from secrets); or remove `resend_on_login`"
        ),
    });
}

fn scopes(plan: &Plan, granted: &BTreeSet<String>, problems: &mut Vec<Problem>) {
    // Missing scope (the first of its any-of list) → the action kinds that need it, counted.
    let mut missing: BTreeMap<&'static str, BTreeMap<&'static str, usize>> = BTreeMap::new();
    for action in &plan.actions {
        let mut needs: BTreeSet<&'static str> = BTreeSet::new();
        for call in action.operation.calls() {
            let any_of = scopes_for_call(call);
            if !any_of.is_empty() && !any_of.iter().any(|scope| granted.contains(*scope)) {
                needs.insert(any_of[0]);
            }
        }
        for scope in needs {
            *missing
                .entry(scope)
                .or_default()
                .entry(action.kind().as_str())
                .or_default() += 1;
        }
    }
    if missing.is_empty() {
        return;
    }
    let detail: Vec<String> = missing
        .iter()
        .map(|(scope, kinds)| {
            let kinds: Vec<String> = kinds
                .iter()
                .map(|(kind, count)| format!("{count} {kind}"))
                .collect();
            format!("{scope} (for {})", kinds.join(", "))
        })
        .collect();
    let names: Vec<&str> = missing.keys().copied().collect();
    problems.push(Problem {
        message: format!(
            "the token lacks scopes this plan needs: {}",
            detail.join("; ")
        ),
        hint: format!(
            "grant {} to verifyctl's application (Dashboard > Applications > APIs > Auth0 Management API > Machine to Machine Applications), then apply again",
            names.join(", ")
        ),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, LoginActionDeployment, Target};

    fn plan(operations: Vec<Operation>) -> Plan {
        Plan {
            actions: operations
                .into_iter()
                .map(|operation| Action {
                    target: Target::Connection { name: "db".into() },
                    reason: "test".into(),
                    changes: Vec::new(),
                    operation,
                })
                .collect(),
            ..Plan::default()
        }
    }

    fn deploy(secret_names: Vec<String>) -> Operation {
        Operation::DeployLoginAction(LoginActionDeployment {
            name: "verifyctl-email-verification".into(),
            code: "exports.onExecutePostLogin = async () => {};".into(),
            secret_names,
            action_id: None,
            update: false,
            deploy: true,
            bind: true,
        })
    }

    fn scopes(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn missing_action_secrets_fail_before_the_first_write() {
        let plan = plan(vec![deploy(vec!["VERIFYCTL_CLIENT_ID".into()])]);
        let problems = check(&plan, None, |_| None).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].message.contains(
                "VERIFYCTL_ACTION_CLIENT_ID and VERIFYCTL_ACTION_CLIENT_SECRET are not set"
            ),
            "{problems:?}"
        );
        let one_set = |name: &str| (name == ENV_ACTION_CLIENT_ID).then(|| "id".to_string());
        let problems = check(&plan, None, one_set).unwrap_err();
        assert!(
            problems[0]
                .message
                .contains("VERIFYCTL_ACTION_CLIENT_SECRET is not set")
        );
        assert!(check(&plan, None, |_| Some("set".into())).is_ok());
        // An Action that sends nothing needs no secrets.
        assert!(check(&self::plan(vec![deploy(Vec::new())]), None, |_| None).is_ok());
    }

    #[test]
    fn a_token_without_the_scopes_the_plan_needs_is_refused_naming_them() {
        let plan = plan(vec![
            deploy(Vec::new()),
            Operation::MarkEmailVerified {
                user_id: "auth0|1".into(),
                ledger: None,
            },
            Operation::MarkEmailVerified {
                user_id: "auth0|2".into(),
                ledger: None,
            },
        ]);
        let granted = scopes(&["read:users", "update:users", "read:actions"]);
        let problems = check(&plan, Some(&granted), |_| None).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(
            problems[0].message,
            "the token lacks scopes this plan needs: create:actions (for 1 deploy_login_action); update:actions (for 1 deploy_login_action)"
        );
        assert!(
            problems[0]
                .hint
                .starts_with("grant create:actions, update:actions ")
        );
        let all = scopes(&[
            "update:users",
            "read:actions",
            "create:actions",
            "update:actions",
        ]);
        assert!(check(&plan, Some(&all), |_| None).is_ok());
        // A token that names no scopes (a static token) is not second-guessed.
        assert!(check(&plan, None, |_| None).is_ok());
    }

    #[test]
    fn an_app_metadata_scope_is_enough_for_user_patches() {
        let plan = plan(vec![Operation::MarkEmailVerified {
            user_id: "auth0|1".into(),
            ledger: None,
        }]);
        let granted = scopes(&["update:users_app_metadata"]);
        assert!(check(&plan, Some(&granted), |_| None).is_ok());
    }
}
