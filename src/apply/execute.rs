//! Carrying out one action, and keeping every write safe to retry:
//!
//! - Every email send is bracketed by the ledger: intent (`pending`) first, the send, then
//!   the confirmed record. A send Auth0 refused (4xx, or a 5xx that says it did nothing)
//!   rolls the intent back; an unknown outcome (the answer was lost) leaves it, and the next
//!   plan counts it as sent, so no retry or re-run sends a second email.
//! - A create whose answer was lost, or that answers 409 (the user exists), looks the user
//!   up: a user carrying this run's own ledger intent is ours and the onboarding email
//!   continues; anyone else's user is re-planned from the policy carried in the action.
//!   Nothing is ever created twice.
//! - Generated passwords exist only inside the create request and are never logged.

use std::future::Future;
use std::pin::Pin;

use std::collections::HashMap;

use super::imports::{ImportOutcome, Prepared};
use super::{Failure, settings};
use crate::clock::Clock;
use crate::ledger::{LEDGER_KEY, Ledger, SendKind};
use crate::plan::{
    Action, ConnectionContext, CreateEmail, ListedUser, NewUser, Operation, replan_existing_user,
};
use crate::tenant::ManagementClient;
use crate::tenant::types::{
    ChangePasswordRequest, CreateUserRequest, JobIdentity, Profile, User, UserPatch,
    VerificationEmailRequest,
};

use super::password;

type Step<'a> = Pin<Box<dyn Future<Output = Result<String, Failure>> + Send + 'a>>;

pub(super) struct Executor<'a> {
    pub client: &'a ManagementClient,
    pub clock: &'a Clock,
    /// What the import phase did, by target key (imported users only).
    pub imports: &'a HashMap<String, Prepared>,
}

/// A created user's first email, with what sending it needs.
struct Onboarding<'a> {
    user_id: &'a str,
    identity: Option<JobIdentity>,
    new_user: &'a NewUser,
    email: &'a CreateEmail,
    /// The ledger the create or import stored.
    intent: Option<&'a Ledger>,
    at: time::OffsetDateTime,
    confirm: bool,
}

/// The ledger a new user is created with: verifyctl's managed mark, and the send its
/// onboarding email starts (or, when Auth0 sends it with the create itself, the send done).
/// Always set: the mark (with this run's time) also tells a lost create of ours apart.
pub(super) fn onboarding_intent(email: &CreateEmail, now: time::OffsetDateTime) -> Ledger {
    let ledger = match email {
        CreateEmail::None => Ledger::default(),
        CreateEmail::VerificationWithCreate => {
            Ledger::default().with_send(SendKind::VerificationEmail, now, None)
        }
        CreateEmail::VerificationJob { .. } => {
            Ledger::default().with_pending(SendKind::VerificationEmail, now)
        }
        CreateEmail::PasswordReset { .. } => {
            Ledger::default().with_pending(SendKind::PasswordReset, now)
        }
    };
    ledger.marked_managed(now)
}

impl<'a> Executor<'a> {
    pub fn run(&'a self, action: &'a Action) -> Step<'a> {
        Box::pin(async move {
            match &action.operation {
                Operation::CreateUser {
                    user,
                    onboarding_email,
                    connection_policy,
                    user_policy,
                    confirm,
                } => {
                    self.run_create(
                        user,
                        onboarding_email,
                        connection_policy,
                        user_policy,
                        *confirm,
                    )
                    .await
                }
                Operation::ImportUser {
                    user,
                    onboarding_email,
                    connection_policy,
                    user_policy,
                    confirm,
                    ..
                } => {
                    self.run_import(
                        &action.target.key(),
                        user,
                        onboarding_email,
                        connection_policy,
                        user_policy,
                        *confirm,
                    )
                    .await
                }
                Operation::UpdateProfile { user_id, patch } => {
                    self.patch(user_id, patch, "updating the profile").await?;
                    Ok(format!("updated {}", changed_fields(patch)))
                }
                Operation::MarkEmailVerified { user_id, ledger } => {
                    let patch = UserPatch {
                        email_verified: Some(true),
                        profile: ledger_profile(ledger.as_ref()),
                        ..UserPatch::default()
                    };
                    self.patch(user_id, &patch, "marking the email verified")
                        .await?;
                    Ok(if ledger.is_some() {
                        "email_verified set to true (no email sent); marked as managed".into()
                    } else {
                        "email_verified set to true (no email sent)".into()
                    })
                }
                Operation::MarkManaged { user_id, ledger } => {
                    self.write_ledger(user_id, ledger, "marking the user as managed")
                        .await?;
                    Ok("marked as managed by verifyctl".into())
                }
                Operation::BlockUser { user_id, ledger } => {
                    let patch = UserPatch {
                        blocked: Some(true),
                        profile: ledger_profile(Some(ledger)),
                        ..UserPatch::default()
                    };
                    self.patch(user_id, &patch, "blocking the user").await?;
                    Ok("blocked (listed by no policy)".into())
                }
                Operation::UnblockUser { user_id, ledger } => {
                    let patch = UserPatch {
                        blocked: Some(false),
                        profile: ledger_profile(Some(ledger)),
                        ..UserPatch::default()
                    };
                    self.patch(user_id, &patch, "unblocking the user").await?;
                    Ok("unblocked (listed again)".into())
                }
                Operation::DeleteUser { user_id } => {
                    self.client
                        .delete_user(user_id)
                        .await
                        .map_err(|e| Failure::api("deleting the user", &e))?;
                    Ok("deleted (listed by no policy)".into())
                }
                Operation::SendVerificationEmail {
                    user_id,
                    request,
                    ledger,
                    confirm,
                } => {
                    let email = Email::Verification(request.clone());
                    self.send_with_ledger(user_id, ledger, &email, *confirm)
                        .await
                }
                Operation::SendPasswordReset {
                    user_id,
                    request,
                    ledger,
                    confirm,
                } => {
                    let email = Email::PasswordReset(request.clone());
                    self.send_with_ledger(user_id, ledger, &email, *confirm)
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
            profile: ledger_profile(Some(ledger)),
            ..UserPatch::default()
        };
        self.patch(user_id, &patch, doing).await
    }

    async fn run_create(
        &self,
        new_user: &NewUser,
        onboarding_email: &CreateEmail,
        connection_policy: &ConnectionContext,
        user_policy: &ListedUser,
        confirm: bool,
    ) -> Result<String, Failure> {
        let now = self.clock.now();
        let intent = Some(onboarding_intent(onboarding_email, now));
        let request = create_request(new_user, intent.as_ref())?;
        let mut attempts = 0;
        let (created, detail) = loop {
            attempts += 1;
            match self.client.create_user(&request).await {
                Ok(user) => {
                    let detail = format!("created {}", user.user_id);
                    break (user, detail);
                }
                Err(error) if error.is_user_exists() || error.outcome_unknown() => {
                    // Maybe our own earlier attempt went through: look before retrying.
                    match self.find_user(new_user).await? {
                        Some(user) if carries_intent(&user, intent.as_ref()) => {
                            let detail = format!(
                                "created {} (the answer to the create was lost; found it)",
                                user.user_id
                            );
                            break (user, detail);
                        }
                        Some(user) => {
                            return self
                                .bring_existing_to_policy(user, connection_policy, user_policy)
                                .await;
                        }
                        None if error.outcome_unknown() && attempts < 2 => {} // send it again
                        None => {
                            return Err(Failure::api(
                                "creating the user (and users-by-email does not find it)",
                                &error,
                            ));
                        }
                    }
                }
                Err(error) => return Err(Failure::api("creating the user", &error)),
            }
        };
        let identity = created
            .identity_in(&new_user.connection)
            .map(|identity| JobIdentity {
                user_id: identity.user_id_string(),
                provider: identity.provider.clone(),
            });
        let onboarding = Onboarding {
            user_id: &created.user_id,
            identity,
            new_user,
            email: onboarding_email,
            intent: intent.as_ref(),
            at: now,
            confirm,
        };
        self.onboard(&onboarding, detail).await
    }

    /// For an imported user whose chain is cut by an interruption: the import already
    /// created it, so the outcome says so (its first email is left to the next run, which
    /// finds the intent the logs do not show and sends it).
    pub fn imported_before_interruption(&self, action: &Action) -> Option<super::ActionOutcome> {
        let Operation::ImportUser { .. } = &action.operation else {
            return None;
        };
        let prepared = self.imports.get(&action.target.key())?;
        let ImportOutcome::Inserted { job_id } = &prepared.outcome else {
            return None;
        };
        Some(super::ActionOutcome {
            kind: action.kind(),
            target: action.target.clone(),
            status: super::OutcomeStatus::Succeeded,
            detail: format!(
                "created {} by import job {job_id}; the run was interrupted before its first email, which the next run sends",
                prepared.user_id()
            ),
            hint: None,
        })
    }

    /// An imported user: what its import did, then its first email.
    async fn run_import(
        &self,
        target_key: &str,
        new_user: &NewUser,
        onboarding_email: &CreateEmail,
        connection_policy: &ConnectionContext,
        user_policy: &ListedUser,
        confirm: bool,
    ) -> Result<String, Failure> {
        let Some(prepared) = self.imports.get(target_key) else {
            return Err(Failure::new(
                "the user was not part of any import file (the run was interrupted first)",
            ));
        };
        let (user_id, identity, detail) = match &prepared.outcome {
            ImportOutcome::Inserted { job_id } => (
                prepared.user_id(),
                Some(JobIdentity {
                    user_id: prepared.key.clone(),
                    provider: "auth0".into(),
                }),
                format!("created {} by import job {job_id}", prepared.user_id()),
            ),
            ImportOutcome::NotImported { message } => {
                let created = self
                    .run_create(
                        new_user,
                        onboarding_email,
                        connection_policy,
                        user_policy,
                        confirm,
                    )
                    .await?;
                return Ok(format!(
                    "{created} (on its own: the import was refused: {message})"
                ));
            }
            ImportOutcome::Refused { code, message } if code != "DUPLICATED_USER" => {
                return Err(Failure {
                    message: format!("the import refused the user: {code}: {message}"),
                    hint: Some("fix the user's entry in the policy and apply again".into()),
                });
            }
            refused_or_unknown => match self.find_user(new_user).await? {
                // An earlier run's import of this very record: carry on from it.
                Some(user) if carries_intent(&user, prepared.intent.as_ref()) => {
                    let identity =
                        user.identity_in(&new_user.connection)
                            .map(|identity| JobIdentity {
                                user_id: identity.user_id_string(),
                                provider: identity.provider.clone(),
                            });
                    let detail =
                        format!("created {} by import (found it afterwards)", user.user_id);
                    (user.user_id, identity, detail)
                }
                Some(user) => {
                    return self
                        .bring_existing_to_policy(user, connection_policy, user_policy)
                        .await;
                }
                None => {
                    let why = match refused_or_unknown {
                        ImportOutcome::Unknown { message }
                        | ImportOutcome::Refused { message, .. }
                        | ImportOutcome::NotImported { message } => message.clone(),
                        ImportOutcome::Inserted { .. } => String::new(),
                    };
                    return Err(Failure {
                        message: format!("the user was not imported: {why}"),
                        hint: Some("apply again: the user is created then".into()),
                    });
                }
            },
        };
        let onboarding = Onboarding {
            user_id: &user_id,
            identity,
            new_user,
            email: onboarding_email,
            intent: prepared.intent.as_ref(),
            at: prepared.at,
            confirm,
        };
        self.onboard(&onboarding, detail).await
    }

    /// The first email of a user just created (whose create or import stored the intent):
    /// send it, then confirm it when the logs cannot.
    async fn onboard(
        &self,
        onboarding: &Onboarding<'_>,
        mut detail: String,
    ) -> Result<String, Failure> {
        let user_id = onboarding.user_id;
        let follow_up = match onboarding.email {
            CreateEmail::None => None,
            CreateEmail::VerificationWithCreate => {
                detail.push_str("; Auth0 sends the verification email");
                None
            }
            CreateEmail::VerificationJob { client_id } => {
                Some(Email::Verification(VerificationEmailRequest {
                    user_id: user_id.to_string(),
                    client_id: client_id.clone(),
                    identity: onboarding.identity.clone(),
                }))
            }
            CreateEmail::PasswordReset { client_id } => {
                Some(Email::PasswordReset(ChangePasswordRequest {
                    email: onboarding.new_user.email.clone(),
                    connection: onboarding.new_user.connection.clone(),
                    client_id: client_id.clone(),
                }))
            }
        };
        if let (Some(email), Some(intent)) = (follow_up, onboarding.intent) {
            let sent = self
                .send_after_intent(
                    user_id,
                    // A refused email rolls back to the mark alone.
                    &intent.without_pending(),
                    intent,
                    &email,
                    onboarding.at,
                    onboarding.confirm,
                )
                .await
                .map_err(|failure| Failure {
                    message: format!("created {user_id}, but {}", failure.message),
                    hint: failure.hint,
                })?;
            detail.push_str("; ");
            detail.push_str(&sent);
        }
        Ok(detail)
    }

    /// The user of `new_user`'s connection with its email, if any (immediately consistent).
    async fn find_user(&self, new_user: &NewUser) -> Result<Option<User>, Failure> {
        let candidates = self
            .client
            .users_by_email(&new_user.email)
            .await
            .map_err(|e| Failure::api("looking up the user after an unclear create", &e))?;
        Ok(candidates
            .into_iter()
            .find(|u| u.identity_in(&new_user.connection).is_some()))
    }

    /// Someone else's user already exists: bring it to the policy from its current state.
    async fn bring_existing_to_policy(
        &self,
        existing: User,
        connection_policy: &ConnectionContext,
        user_policy: &ListedUser,
    ) -> Result<String, Failure> {
        let (actions, _warnings) =
            replan_existing_user(connection_policy, user_policy, &existing, self.clock.now());
        let mut done = vec![format!(
            "already existed as {} (not created again)",
            existing.user_id
        )];
        for action in &actions {
            match self.run(action).await {
                Ok(detail) => done.push(format!("{}: {detail}", action.kind().as_str())),
                Err(failure) => {
                    return Err(Failure {
                        message: format!(
                            "{}; {}: {}",
                            done.join("; "),
                            action.kind().as_str(),
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
        email: &Email,
        confirm: bool,
    ) -> Result<String, Failure> {
        let now = self.clock.now();
        let intent = ledger.with_pending(email.kind(), now);
        self.write_ledger(user_id, &intent, "recording the send intent")
            .await
            .map_err(|f| Failure {
                message: format!("nothing was sent: {}", f.message),
                hint: f.hint,
            })?;
        self.send_after_intent(user_id, ledger, &intent, email, now, confirm)
            .await
    }

    /// Sends the email whose intent is already stored. With `confirm` (the tenant's logs
    /// cannot be read), the send is then confirmed in the ledger; otherwise the intent stays,
    /// and the next plan confirms it from the logs (the `svr`/`scpr` event) at no write. When
    /// Auth0 definitely refused, the ledger is rolled back to `before`.
    async fn send_after_intent(
        &self,
        user_id: &str,
        before: &Ledger,
        intent: &Ledger,
        email: &Email,
        at: time::OffsetDateTime,
        confirm: bool,
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
                if !confirm {
                    return Ok(what);
                }
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
            Err(error) if !error.outcome_unknown() => {
                // Auth0 answered that it did not send: undo the intent.
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
                    "; the answer was lost, so it may have been sent: the ledger keeps it as pending and no second email goes out",
                );
                Err(failure)
            }
        }
    }
}

/// One email to send.
enum Email {
    Verification(VerificationEmailRequest),
    PasswordReset(ChangePasswordRequest),
}

impl Email {
    fn kind(&self) -> SendKind {
        match self {
            Email::Verification(_) => SendKind::VerificationEmail,
            Email::PasswordReset(_) => SendKind::PasswordReset,
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

/// The profile part of a PATCH that stores `ledger` (nothing without one).
fn ledger_profile(ledger: Option<&Ledger>) -> Profile {
    Profile {
        app_metadata: ledger.map(Ledger::app_metadata_patch),
        ..Profile::default()
    }
}

fn changed_fields(patch: &UserPatch) -> String {
    let fields: Vec<String> = patch.profile.fields().into_iter().map(|(f, _)| f).collect();
    fields.join(", ")
}

/// Whether `user` carries exactly the ledger this run wrote into its create request, i.e.
/// the lost create was ours.
fn carries_intent(user: &User, intent: Option<&Ledger>) -> bool {
    let stored = user.app_metadata.as_ref().and_then(|m| m.get(LEDGER_KEY));
    match (stored, intent) {
        (Some(stored), Some(intent)) => serde_json::to_value(intent).is_ok_and(|v| &v == stored),
        // Without a ledger there is no way to tell our create from someone else's.
        _ => false,
    }
}
