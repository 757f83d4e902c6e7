//! Executes a [`Plan`] through the Management API client, one action at a time, and reports
//! each action's outcome. A failed action is reported and the run continues.
//!
//! Safety rules kept here:
//! - Every email send is bracketed by the ledger: intent (`pending`) first, the send, then
//!   the confirmed record. A send Auth0 definitely refused (4xx) rolls the intent back; an
//!   unknown outcome (timeout, 5xx) leaves it, and the next plan counts it as sent.
//! - A create that answers 409 (the user exists, e.g. because an earlier run's response was
//!   lost) looks the user up and re-plans it from the policy carried in the action, instead
//!   of failing or creating a duplicate.
//! - Generated passwords exist only inside [`run_create`]'s request and are never logged.

pub mod password;
mod settings;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::clock::Clock;
use crate::plan::ledger::{Ledger, SendKind};
use crate::plan::{
    Action, ActionKind, ConnectionContext, CreateEmail, ListedUser, NewUser, Operation, Plan,
    Target, replan_existing_user,
};
use crate::tenant::types::{
    ChangePasswordRequest, CreateUserRequest, JobIdentity, Profile, User, UserPatch,
    VerificationEmailRequest,
};
use crate::tenant::{ApiError, CallStats, ManagementClient};

/// How one action ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionOutcome {
    pub kind: ActionKind,
    pub target: Target,
    pub status: OutcomeStatus,
    /// What happened, in words (the Auth0 error for failures).
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    Succeeded,
    Failed,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    pub outcomes: Vec<ActionOutcome>,
    /// Requests made during apply (reads for 409 recovery included).
    pub requests: CallStats,
    #[serde(serialize_with = "as_seconds")]
    pub elapsed: Duration,
}

fn as_seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

impl ApplyReport {
    pub fn failed(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.status == OutcomeStatus::Failed)
            .count()
    }

    pub fn succeeded(&self) -> usize {
        self.outcomes.len() - self.failed()
    }
}

/// Applies every action of `plan` in order. `on_outcome(done, total, outcome)` is called
/// after each action (for progress output).
pub async fn apply_plan(
    client: &ManagementClient,
    plan: &Plan,
    clock: &Clock,
    on_outcome: &mut (dyn FnMut(usize, usize, &ActionOutcome) + Send),
) -> ApplyReport {
    let started = Instant::now();
    let before = client.stats();
    let mut outcomes = Vec::with_capacity(plan.actions.len());
    let total = plan.actions.len();
    for action in &plan.actions {
        let executor = Executor { client, clock };
        let outcome = match executor.run(action).await {
            Ok(detail) => ActionOutcome {
                kind: action.kind,
                target: action.target.clone(),
                status: OutcomeStatus::Succeeded,
                detail,
                hint: None,
            },
            Err(failure) => ActionOutcome {
                kind: action.kind,
                target: action.target.clone(),
                status: OutcomeStatus::Failed,
                detail: failure.message,
                hint: failure.hint,
            },
        };
        outcomes.push(outcome);
        if let Some(outcome) = outcomes.last() {
            on_outcome(outcomes.len(), total, outcome);
        }
    }
    ApplyReport {
        outcomes,
        requests: difference(&client.stats(), &before),
        elapsed: started.elapsed(),
    }
}

fn difference(after: &CallStats, before: &CallStats) -> CallStats {
    let mut requests = after.requests.clone();
    for (endpoint, count) in &before.requests {
        if let Some(value) = requests.get_mut(endpoint) {
            *value = value.saturating_sub(*count);
        }
    }
    requests.retain(|_, count| *count > 0);
    CallStats {
        requests,
        throttled: after.throttled - before.throttled.min(after.throttled),
        retries: after.retries - before.retries.min(after.retries),
    }
}

/// Why an action failed.
#[derive(Debug)]
struct Failure {
    message: String,
    hint: Option<String>,
}

impl Failure {
    fn api(context: &str, error: &ApiError) -> Failure {
        Failure {
            message: format!("{context}: {error}"),
            hint: error.hint(),
        }
    }

    fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            hint: None,
        }
    }
}

type Step<'a> = Pin<Box<dyn Future<Output = Result<String, Failure>> + Send + 'a>>;

struct Executor<'a> {
    client: &'a ManagementClient,
    clock: &'a Clock,
}

impl<'a> Executor<'a> {
    fn run(&'a self, action: &'a Action) -> Step<'a> {
        Box::pin(async move {
            match &action.operation {
                Operation::CreateUser {
                    user,
                    onboarding_email,
                    connection_policy,
                    user_policy,
                } => {
                    self.run_create(user, onboarding_email, connection_policy, user_policy)
                        .await
                }
                Operation::UpdateProfile { user_id, patch } => {
                    self.patch(user_id, patch, "updating the profile").await?;
                    Ok(format!("updated {}", changed_fields(patch)))
                }
                Operation::MarkEmailVerified { user_id } => {
                    let patch = UserPatch {
                        email_verified: Some(true),
                        ..UserPatch::default()
                    };
                    self.patch(user_id, &patch, "marking the email verified")
                        .await?;
                    Ok("email_verified set to true (no email sent)".into())
                }
                Operation::SendVerificationEmail {
                    user_id,
                    request,
                    ledger,
                } => {
                    self.send_with_ledger(user_id, ledger, Email::Verification(request))
                        .await
                }
                Operation::SendPasswordReset {
                    user_id,
                    request,
                    ledger,
                } => {
                    self.send_with_ledger(user_id, ledger, Email::PasswordReset(request))
                        .await
                }
                Operation::SetSignup {
                    connection_id,
                    disable_signup,
                } => settings::set_signup(self.client, connection_id, *disable_signup).await,
                Operation::DeployLoginAction(deployment) => {
                    settings::deploy_login_action(self.client, deployment).await
                }
                Operation::UnbindLoginAction { action_id } => {
                    settings::unbind_login_action(self.client, action_id).await
                }
                Operation::RecordInterruptedSend { user_id, ledger } => {
                    self.write_ledger(user_id, ledger, "recording the interrupted send")
                        .await?;
                    Ok("ledger updated: the interrupted send is recorded as sent".into())
                }
            }
        })
    }

    async fn patch(&self, user_id: &str, patch: &UserPatch, doing: &str) -> Result<User, Failure> {
        self.client
            .update_user(user_id, patch)
            .await
            .map_err(|e| Failure::api(doing, &e))
    }

    async fn write_ledger(
        &self,
        user_id: &str,
        ledger: &Ledger,
        doing: &str,
    ) -> Result<User, Failure> {
        let patch = UserPatch {
            email_verified: None,
            profile: Profile {
                app_metadata: Some(ledger.app_metadata_patch()),
                ..Profile::default()
            },
        };
        self.patch(user_id, &patch, doing).await
    }

    async fn run_create(
        &self,
        new_user: &NewUser,
        onboarding_email: &CreateEmail,
        connection_policy: &ConnectionContext,
        user_policy: &ListedUser,
    ) -> Result<String, Failure> {
        let now = self.clock.now();
        let ledger = match onboarding_email {
            CreateEmail::None => None,
            CreateEmail::VerificationWithCreate => {
                Some(Ledger::default().with_send(SendKind::VerificationEmail, now, None))
            }
            CreateEmail::VerificationJob { .. } => {
                Some(Ledger::default().with_pending(SendKind::VerificationEmail, now))
            }
            CreateEmail::PasswordReset { .. } => {
                Some(Ledger::default().with_pending(SendKind::PasswordReset, now))
            }
        };
        let request = create_request(new_user, ledger.as_ref())?;
        let created = match self.client.create_user(&request).await {
            Ok(user) => user,
            Err(error) if error.is_user_exists() => {
                return self
                    .recover_existing(new_user, connection_policy, user_policy)
                    .await;
            }
            Err(error) => return Err(Failure::api("creating the user", &error)),
        };
        let mut detail = format!("created {}", created.user_id);
        let follow_up = match onboarding_email {
            CreateEmail::None => None,
            CreateEmail::VerificationWithCreate => {
                detail.push_str("; Auth0 sends the verification email");
                None
            }
            CreateEmail::VerificationJob { client_id } => {
                Some(OwnedEmail::Verification(VerificationEmailRequest {
                    user_id: created.user_id.clone(),
                    client_id: client_id.clone(),
                    identity: created.identity_in(&new_user.connection).map(|identity| {
                        JobIdentity {
                            user_id: identity.user_id_string(),
                            provider: identity.provider.clone(),
                        }
                    }),
                }))
            }
            CreateEmail::PasswordReset { client_id } => {
                Some(OwnedEmail::PasswordReset(ChangePasswordRequest {
                    email: new_user.email.clone(),
                    connection: new_user.connection.clone(),
                    client_id: client_id.clone(),
                }))
            }
        };
        if let (Some(email), Some(intent)) = (follow_up, &ledger) {
            // The create call already stored the intent; send, then confirm.
            let sent = self
                .send_after_intent(
                    &created.user_id,
                    &Ledger::default(),
                    intent,
                    email.borrow(),
                    now,
                )
                .await
                .map_err(|failure| Failure {
                    message: format!("created {}, but {}", created.user_id, failure.message),
                    hint: failure.hint,
                })?;
            detail.push_str("; ");
            detail.push_str(&sent);
        }
        Ok(detail)
    }

    /// The user exists already: find it and bring it to the policy from there.
    async fn recover_existing(
        &self,
        new_user: &NewUser,
        connection_policy: &ConnectionContext,
        user_policy: &ListedUser,
    ) -> Result<String, Failure> {
        let candidates = self
            .client
            .users_by_email(&new_user.email)
            .await
            .map_err(|e| Failure::api("looking up the existing user after a 409", &e))?;
        let existing = candidates
            .into_iter()
            .find(|u| u.identity_in(&new_user.connection).is_some())
            .ok_or_else(|| {
                Failure::new(format!(
                    "Auth0 says {} already exists in `{}`, but users-by-email does not find it; run plan again",
                    new_user.email, new_user.connection
                ))
            })?;
        let (actions, _warnings) =
            replan_existing_user(connection_policy, user_policy, &existing, self.clock.now());
        let mut done = vec![format!(
            "already existed as {} (not created again)",
            existing.user_id
        )];
        for action in &actions {
            match self.run(action).await {
                Ok(detail) => done.push(format!("{}: {detail}", action.kind.as_str())),
                Err(failure) => {
                    return Err(Failure {
                        message: format!(
                            "{}; {}: {}",
                            done.join("; "),
                            action.kind.as_str(),
                            failure.message
                        ),
                        hint: failure.hint,
                    });
                }
            }
        }
        Ok(done.join("; "))
    }

    async fn send_with_ledger(
        &self,
        user_id: &str,
        ledger: &Ledger,
        email: Email<'_>,
    ) -> Result<String, Failure> {
        let now = self.clock.now();
        let intent = ledger.with_pending(email.kind(), now);
        self.write_ledger(user_id, &intent, "recording the send intent")
            .await
            .map_err(|f| Failure {
                message: format!("nothing was sent: {}", f.message),
                hint: f.hint,
            })?;
        self.send_after_intent(user_id, ledger, &intent, email, now)
            .await
    }

    /// Sends the email whose intent is already stored, then confirms it in the ledger (or
    /// rolls back to `before` when Auth0 definitely refused).
    async fn send_after_intent(
        &self,
        user_id: &str,
        before: &Ledger,
        intent: &Ledger,
        email: Email<'_>,
        at: time::OffsetDateTime,
    ) -> Result<String, Failure> {
        let kind = email.kind();
        let sent = match email {
            Email::Verification(request) => self
                .client
                .send_verification_email(request)
                .await
                .map(|job| Some(job.id)),
            Email::PasswordReset(request) => self
                .client
                .send_password_reset(request)
                .await
                .map(|()| None),
        };
        match sent {
            Ok(job_id) => {
                let what = match &job_id {
                    Some(id) => format!("{} requested (job {id})", kind.describe()),
                    None => format!("{} requested", kind.describe()),
                };
                self.write_ledger(
                    user_id,
                    &intent.confirm_send(kind, at, job_id),
                    "confirming the send",
                )
                .await
                .map_err(|f| Failure {
                    message: format!(
                        "{what}, but {}; the next plan records it as an interrupted send",
                        f.message
                    ),
                    hint: f.hint,
                })?;
                Ok(what)
            }
            Err(error) if matches!(error.status(), Some(400..=499)) => {
                let rollback = self
                    .write_ledger(user_id, before, "rolling back the send intent")
                    .await;
                let mut failure = Failure::api(&format!("sending the {}", kind.describe()), &error);
                if let Err(rollback) = rollback {
                    failure.message.push_str(&format!(
                        "; the intent could not be rolled back ({}) so the next plan counts it as sent",
                        rollback.message
                    ));
                }
                Err(failure)
            }
            Err(error) => {
                let mut failure = Failure::api(&format!("sending the {}", kind.describe()), &error);
                failure.message.push_str(
                    "; it may have been sent, so the ledger keeps it as pending and no second email goes out",
                );
                Err(failure)
            }
        }
    }
}

/// One email request, borrowed.
#[derive(Clone, Copy)]
enum Email<'a> {
    Verification(&'a VerificationEmailRequest),
    PasswordReset(&'a ChangePasswordRequest),
}

impl Email<'_> {
    fn kind(&self) -> SendKind {
        match self {
            Email::Verification(_) => SendKind::VerificationEmail,
            Email::PasswordReset(_) => SendKind::PasswordReset,
        }
    }
}

/// One email request, owned (built during a create).
enum OwnedEmail {
    Verification(VerificationEmailRequest),
    PasswordReset(ChangePasswordRequest),
}

impl OwnedEmail {
    fn borrow(&self) -> Email<'_> {
        match self {
            OwnedEmail::Verification(r) => Email::Verification(r),
            OwnedEmail::PasswordReset(r) => Email::PasswordReset(r),
        }
    }
}

fn create_request(
    new_user: &NewUser,
    ledger: Option<&Ledger>,
) -> Result<CreateUserRequest, Failure> {
    let password = match new_user.password_length {
        None => None,
        Some(length) => {
            let local_part = new_user.email.split('@').next().unwrap_or_default();
            let avoid: Vec<&str> = [
                Some(local_part),
                new_user.profile.name.as_deref(),
                new_user.profile.given_name.as_deref(),
                new_user.profile.family_name.as_deref(),
            ]
            .into_iter()
            .flatten()
            .collect();
            Some(
                password::generate_password(length as usize, &avoid)
                    .map_err(|e| Failure::new(format!("generating the password: {e}")))?,
            )
        }
    };
    let mut profile = new_user.profile.clone();
    if let Some(ledger) = ledger {
        profile
            .app_metadata
            .get_or_insert_default()
            .extend(ledger.app_metadata_patch());
    }
    Ok(CreateUserRequest {
        connection: new_user.connection.clone(),
        email: new_user.email.clone(),
        password,
        email_verified: new_user.email_verified,
        verify_email: new_user.verify_email,
        profile,
    })
}

fn changed_fields(patch: &UserPatch) -> String {
    let fields: Vec<String> = patch.profile.fields().into_iter().map(|(f, _)| f).collect();
    fields.join(", ")
}
