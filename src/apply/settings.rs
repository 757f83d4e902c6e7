//! Executes the tenant-level actions: a connection's signup setting (read-modify-write of
//! the whole `options`) and the login Action (create or update, wait for the build, deploy,
//! bind by read-modify-write of the binding list). Each step is safe to repeat: a run that
//! stops half-way leaves a state the next plan recognises and finishes.

use std::time::Duration;

use serde_json::Value;

use super::Failure;
use crate::login_action::{
    ENV_ACTION_CLIENT_ID, ENV_ACTION_CLIENT_SECRET, RUNTIME, SECRET_CLIENT_ID,
    SECRET_CLIENT_SECRET, SECRET_DOMAIN, TRIGGER, TRIGGER_VERSION,
};
use crate::plan::LoginActionDeployment;
use crate::secret::Secret;
use crate::tenant::ManagementClient;
use crate::tenant::types::{
    ActionRequest, ActionSecretValue, ActionTrigger, BindingRef, BindingTarget, ConnectionPatch,
};

/// Longest wait for an Action build (Auth0 builds take seconds, reportedly up to ~45 s).
const BUILD_TIMEOUT: Duration = Duration::from_secs(120);
const FIRST_POLL_DELAY: Duration = Duration::from_millis(250);
const MAX_POLL_DELAY: Duration = Duration::from_secs(3);

/// Sets `options.disable_signup`, sending the connection's current options back whole.
pub(super) async fn set_signup(
    client: &ManagementClient,
    connection_id: &str,
    disable_signup: bool,
) -> Result<String, Failure> {
    let connection = client
        .get_connection(connection_id)
        .await
        .map_err(|e| Failure::api("reading the connection", &e))?;
    let mut options = connection.options.clone().ok_or_else(|| {
        Failure::new(format!(
            "the options of connection `{}` were not returned (read:connections_options missing?); nothing was changed, to avoid wiping them",
            connection.name
        ))
    })?;
    let kept = options.keys().filter(|k| *k != "disable_signup").count();
    options.insert("disable_signup".into(), Value::Bool(disable_signup));
    client
        .update_connection(
            connection_id,
            &ConnectionPatch {
                options,
                display_name: connection.display_name.clone(),
            },
        )
        .await
        .map_err(|e| Failure::api("updating the connection", &e))?;
    Ok(format!(
        "disable_signup set to {disable_signup}; the other {kept} options were sent back unchanged"
    ))
}

/// Creates or updates, builds, deploys and binds the login Action, as far as needed.
pub(super) async fn deploy_login_action(
    client: &ManagementClient,
    deployment: &LoginActionDeployment,
) -> Result<String, Failure> {
    let mut done = Vec::new();
    let needs_request = deployment.action_id.is_none() || deployment.update;
    let action_id = match &deployment.action_id {
        Some(id) if !needs_request => id.clone(),
        existing => {
            let request = ActionRequest {
                name: deployment.name.clone(),
                supported_triggers: vec![ActionTrigger {
                    id: TRIGGER.into(),
                    version: TRIGGER_VERSION.into(),
                }],
                code: deployment.code.clone(),
                runtime: RUNTIME.into(),
                dependencies: Vec::new(),
                secrets: action_secrets(client, &deployment.secret_names)?,
            };
            match existing {
                None => {
                    let action = client
                        .create_action(&request)
                        .await
                        .map_err(|e| Failure::api("creating the Action", &e))?;
                    done.push(format!("created {}", action.id));
                    action.id
                }
                Some(id) => {
                    client
                        .update_action(id, &request)
                        .await
                        .map_err(|e| Failure::api("updating the Action", &e))?;
                    done.push("updated the draft".to_string());
                    id.clone()
                }
            }
        }
    };
    if needs_request || deployment.deploy {
        wait_until_built(client, &action_id).await?;
        let version = client
            .deploy_action(&action_id)
            .await
            .map_err(|e| Failure::api("deploying the Action", &e))?;
        done.push(match version.number {
            Some(number) => format!("deployed version {number}"),
            None => "deployed".to_string(),
        });
    }
    if deployment.bind {
        done.push(bind(client, &action_id, &deployment.name).await?);
    }
    Ok(done.join("; "))
}

/// The secrets the code reads, with values from the environment (never logged).
fn action_secrets(
    client: &ManagementClient,
    names: &[String],
) -> Result<Vec<ActionSecretValue>, Failure> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let read = |variable: &str| {
        std::env::var(variable)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Failure {
                message: format!(
                    "the login Action re-sends verification emails and needs Management API credentials, but {variable} is not set; nothing was changed"
                ),
                hint: Some(format!(
                    "create a machine-to-machine application with the update:users scope and set {ENV_ACTION_CLIENT_ID} and {ENV_ACTION_CLIENT_SECRET}"
                )),
            })
    };
    let client_id = read(ENV_ACTION_CLIENT_ID)?;
    let client_secret = read(ENV_ACTION_CLIENT_SECRET)?;
    // The canonical domain (from the audience), not a custom domain verifyctl may talk
    // to: the Action asks it for a Management API token.
    let domain = client.target().canonical_domain().to_string();
    let value_of = |name: &str| match name {
        SECRET_CLIENT_ID => Ok(client_id.clone()),
        SECRET_CLIENT_SECRET => Ok(client_secret.clone()),
        SECRET_DOMAIN => Ok(domain.clone()),
        other => Err(Failure::new(format!("unknown Action secret `{other}`"))),
    };
    names
        .iter()
        .map(|name| {
            Ok(ActionSecretValue {
                name: name.clone(),
                value: Secret::new(value_of(name)?),
            })
        })
        .collect()
}

/// Polls the Action until its draft is built; fails on `failed` or after [`BUILD_TIMEOUT`].
async fn wait_until_built(client: &ManagementClient, action_id: &str) -> Result<(), Failure> {
    let started = tokio::time::Instant::now();
    let mut delay = FIRST_POLL_DELAY;
    loop {
        let action = client
            .get_action(action_id)
            .await
            .map_err(|e| Failure::api("waiting for the Action to build", &e))?;
        match action.status.as_deref() {
            Some("built") => return Ok(()),
            Some("failed") => {
                let errors: Vec<String> = action
                    .errors
                    .iter()
                    .map(|e| format!("{}: {}", e.id, e.msg))
                    .collect();
                return Err(Failure {
                    message: format!(
                        "Auth0 failed to build the Action{}",
                        if errors.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", errors.join("; "))
                        }
                    ),
                    hint: Some(
                        "see the Action in the Auth0 dashboard (Actions > Library); the deployed version, if any, still runs".into(),
                    ),
                });
            }
            _ => {}
        }
        if started.elapsed() >= BUILD_TIMEOUT {
            return Err(Failure {
                message: format!(
                    "the Action was still `{}` after {}s; it was not deployed",
                    action.status.as_deref().unwrap_or("unknown"),
                    BUILD_TIMEOUT.as_secs()
                ),
                hint: Some("run apply again later: it continues from the built draft".into()),
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_POLL_DELAY);
    }
}

/// Appends the Action to the post-login bindings, keeping every other binding and its
/// position (the whole list is sent back, existing entries by binding id).
async fn bind(client: &ManagementClient, action_id: &str, name: &str) -> Result<String, Failure> {
    let bindings = client
        .list_bindings(TRIGGER)
        .await
        .map_err(|e| Failure::api("reading the post-login bindings", &e))?;
    if bindings.iter().any(|b| b.action.id == action_id) {
        return Ok("already bound to post-login".into());
    }
    let mut list: Vec<BindingRef> = bindings
        .iter()
        .map(|b| BindingRef {
            reference: BindingTarget::BindingId(b.id.clone()),
            display_name: b.display_name.clone(),
        })
        .collect();
    list.push(BindingRef {
        reference: BindingTarget::ActionId(action_id.to_string()),
        display_name: Some(name.to_string()),
    });
    client
        .update_bindings(TRIGGER, &list)
        .await
        .map_err(|e| Failure::api("binding the Action to post-login", &e))?;
    Ok(format!(
        "bound to post-login after {} other binding{}",
        bindings.len(),
        if bindings.len() == 1 { "" } else { "s" }
    ))
}

/// Removes verifyctl's Action from the post-login bindings, keeping the others in order.
pub(super) async fn unbind_login_action(
    client: &ManagementClient,
    action_id: &str,
) -> Result<String, Failure> {
    let bindings = client
        .list_bindings(TRIGGER)
        .await
        .map_err(|e| Failure::api("reading the post-login bindings", &e))?;
    let kept: Vec<BindingRef> = bindings
        .iter()
        .filter(|b| b.action.id != action_id)
        .map(|b| BindingRef {
            reference: BindingTarget::BindingId(b.id.clone()),
            display_name: b.display_name.clone(),
        })
        .collect();
    if kept.len() == bindings.len() {
        return Ok("already unbound".into());
    }
    client
        .update_bindings(TRIGGER, &kept)
        .await
        .map_err(|e| Failure::api("unbinding the Action", &e))?;
    Ok(format!(
        "unbound; {} other binding{} kept",
        kept.len(),
        if kept.len() == 1 { "" } else { "s" }
    ))
}
