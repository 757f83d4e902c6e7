//! What `apply` sends for an action ([`Operation`]), and the facts derived from it: the
//! action's kind, the Management API calls it makes and its headline. Adding a kind of
//! action means a variant here with those three facts, an [`ActionKind`] with its words
//! (`action.rs`), the planner rule that emits it and the executor arm that carries it out.

use serde::{Deserialize, Serialize};

use super::action::{ActionKind, ChangeSymbol, Headline};
use super::build::ConnectionContext;
use crate::auth0::Profile;
use crate::ledger::Ledger;
use crate::policy::ListedUser;
use crate::tenant::types::{ChangePasswordRequest, UserPatch, VerificationEmailRequest};

/// What `apply` sends for an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Operation {
    /// `POST /api/v2/users`, then an optional first email.
    CreateUser {
        user: NewUser,
        /// How the user's first email (if any) is sent.
        onboarding_email: CreateEmail,
        /// The policy, for re-planning if the user turns out to exist (409).
        connection_policy: Box<ConnectionContext>,
        user_policy: Box<ListedUser>,
        /// Confirm a follow-up email in the ledger (only when logs cannot be read).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        confirm: bool,
    },
    /// One record of a `POST /api/v2/jobs/users-imports` file shared with the connection's
    /// other imported users, then an optional first email (a job or a reset: imports send
    /// none). Imported users have no password until they set one.
    ImportUser {
        /// The connection's id (imports name connections by id).
        connection_id: String,
        user: NewUser,
        onboarding_email: CreateEmail,
        connection_policy: Box<ConnectionContext>,
        user_policy: Box<ListedUser>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        confirm: bool,
    },
    /// `PATCH /api/v2/users/{id}` with profile fields only.
    UpdateProfile { user_id: String, patch: UserPatch },
    /// `PATCH /api/v2/users/{id}` `{"email_verified": true}` (with the ledger, when the
    /// managed mark rides on it).
    MarkEmailVerified {
        user_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ledger: Option<Ledger>,
    },
    /// `PATCH /api/v2/users/{id}` storing the ledger with verifyctl's managed mark.
    MarkManaged { user_id: String, ledger: Ledger },
    /// `PATCH /api/v2/users/{id}` `{"blocked": true}` with the ledger saying verifyctl
    /// blocked the user (offboarding: block).
    BlockUser { user_id: String, ledger: Ledger },
    /// `PATCH /api/v2/users/{id}` `{"blocked": false}`: a user verifyctl blocked is listed
    /// again.
    UnblockUser { user_id: String, ledger: Ledger },
    /// `DELETE /api/v2/users/{id}` (offboarding: delete, with `--allow-delete`); a user
    /// already gone counts as deleted.
    DeleteUser { user_id: String },
    /// Ledger intent, `POST /api/v2/jobs/verification-email` (and a ledger confirmation
    /// when the tenant's logs cannot confirm the send).
    SendVerificationEmail {
        user_id: String,
        request: VerificationEmailRequest,
        ledger: Ledger,
        /// Confirm the send in the ledger after it (only when logs cannot be read).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        confirm: bool,
    },
    /// Ledger intent, `POST /dbconnections/change_password` (and a confirmation as above).
    SendPasswordReset {
        user_id: String,
        request: ChangePasswordRequest,
        ledger: Ledger,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        confirm: bool,
    },
    /// `PATCH /api/v2/users/{id}` folding an unconfirmed send into the ledger.
    RecordInterruptedSend { user_id: String, ledger: Ledger },
    /// Read the connection again, set `options.disable_signup`, PATCH the whole `options`.
    SetSignup {
        connection_id: String,
        disable_signup: bool,
    },
    /// Create or update the Action, wait until it is built, deploy it, bind it.
    DeployLoginAction(LoginActionDeployment),
    /// Remove verifyctl's Action from the post-login bindings, keeping every other one.
    UnbindLoginAction { action_id: String },
}

/// What deploying the login Action takes, decided against the tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LoginActionDeployment {
    pub name: String,
    pub code: String,
    /// Secret names to set (values from the environment at apply time).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_names: Vec<String>,
    /// The existing action, or `None` to create one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_id: Option<String>,
    /// The draft differs from the desired code (PATCH it).
    pub update: bool,
    /// The deployed version differs from the desired code (build and deploy).
    pub deploy: bool,
    /// The action is not bound to post-login yet.
    pub bind: bool,
}

/// The user to create (everything but the password, generated at apply time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NewUser {
    pub connection: String,
    pub email: String,
    pub email_verified: bool,
    pub verify_email: bool,
    /// Database connections need a password: apply generates a random one of this length
    /// (never shown or stored). `None` for connections without passwords.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_length: Option<u32>,
    /// The policy's profile fields (owned `app_metadata` keys only; apply adds the ledger).
    #[serde(flatten)]
    pub profile: Profile,
}

/// The first email of a created user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CreateEmail {
    /// No email.
    None,
    /// Auth0 sends the verification email as part of the create call (`verify_email:
    /// true`); the ledger records it in the same call.
    VerificationWithCreate,
    /// A verification-email job after the create, so the email can use an application's
    /// branding (`client_id`); intent recorded in the create call.
    VerificationJob {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// A password-reset email after the create; intent recorded in the create call.
    PasswordReset {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
}

impl Operation {
    /// The kind of change this operation makes.
    pub fn kind(&self) -> ActionKind {
        match self {
            Operation::CreateUser { .. } | Operation::ImportUser { .. } => ActionKind::CreateUser,
            Operation::UpdateProfile { .. } => ActionKind::UpdateProfile,
            Operation::MarkEmailVerified { .. } => ActionKind::MarkEmailVerified,
            Operation::MarkManaged { .. } => ActionKind::MarkManaged,
            Operation::BlockUser { .. } => ActionKind::BlockUser,
            Operation::UnblockUser { .. } => ActionKind::UnblockUser,
            Operation::DeleteUser { .. } => ActionKind::DeleteUser,
            Operation::SendVerificationEmail { .. } => ActionKind::SendVerificationEmail,
            Operation::SendPasswordReset { .. } => ActionKind::SendPasswordReset,
            Operation::RecordInterruptedSend { .. } => ActionKind::RecordInterruptedSend,
            Operation::SetSignup { .. } => ActionKind::SetSignup,
            Operation::DeployLoginAction(_) => ActionKind::DeployLoginAction,
            Operation::UnbindLoginAction { .. } => ActionKind::UnbindLoginAction,
        }
    }

    /// The symbol and words printers show for this operation.
    pub fn headline(&self) -> Headline {
        use ChangeSymbol::{Create, Remove, Update};
        match self {
            Operation::CreateUser { .. } => Headline::new(Create, "create user"),
            Operation::ImportUser { .. } => Headline::new(Create, "import user"),
            Operation::UpdateProfile { .. } => {
                Headline::new(Update, "update profile").before_target("of")
            }
            Operation::MarkEmailVerified { .. } => {
                Headline::new(Update, "mark email verified").before_target("for")
            }
            Operation::MarkManaged { .. } => {
                Headline::new(Update, "mark").after_target("as managed")
            }
            Operation::BlockUser { .. } => Headline::new(Update, "block user"),
            Operation::UnblockUser { .. } => Headline::new(Update, "unblock user"),
            Operation::DeleteUser { .. } => Headline::new(Remove, "delete user"),
            Operation::SendVerificationEmail { .. } => {
                Headline::new(Update, "send verification email").before_target("to")
            }
            Operation::SendPasswordReset { .. } => {
                Headline::new(Update, "send password-reset email").before_target("to")
            }
            Operation::RecordInterruptedSend { .. } => {
                Headline::new(Update, "record interrupted send").before_target("for")
            }
            Operation::SetSignup {
                disable_signup: true,
                ..
            } => Headline::new(Update, "disable signup").before_target("on"),
            Operation::SetSignup { .. } => {
                Headline::new(Update, "enable signup").before_target("on")
            }
            Operation::DeployLoginAction(deployment) if deployment.action_id.is_none() => {
                Headline::new(Create, "create, deploy and bind")
            }
            Operation::DeployLoginAction(deployment) if !deployment.deploy => {
                Headline::new(Update, "bind").after_target("to post-login")
            }
            Operation::DeployLoginAction(_) => Headline::new(Update, "update and deploy"),
            Operation::UnbindLoginAction { .. } => {
                Headline::new(Remove, "unbind").after_target("from post-login")
            }
        }
    }

    /// The API calls this operation makes, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        const CREATE: &str = "POST /api/v2/users";
        const PATCH: &str = "PATCH /api/v2/users/{id}";
        const JOB: &str = "POST /api/v2/jobs/verification-email";
        const RESET: &str = "POST /dbconnections/change_password";
        const IMPORT: &str = "POST /api/v2/jobs/users-imports (one file for up to about 2,000 users, then GET /api/v2/jobs/{id} and /errors)";
        match self {
            Operation::CreateUser {
                onboarding_email,
                confirm,
                ..
            } => {
                let mut calls = match onboarding_email {
                    CreateEmail::None | CreateEmail::VerificationWithCreate => return vec![CREATE],
                    CreateEmail::VerificationJob { .. } => vec![CREATE, JOB],
                    CreateEmail::PasswordReset { .. } => vec![CREATE, RESET],
                };
                if *confirm {
                    calls.push(PATCH);
                }
                calls
            }
            Operation::ImportUser {
                onboarding_email,
                confirm,
                ..
            } => {
                let mut calls = vec![IMPORT];
                match onboarding_email {
                    CreateEmail::None | CreateEmail::VerificationWithCreate => return calls,
                    CreateEmail::VerificationJob { .. } => calls.push(JOB),
                    CreateEmail::PasswordReset { .. } => calls.push(RESET),
                }
                if *confirm {
                    calls.push(PATCH);
                }
                calls
            }
            Operation::UpdateProfile { .. }
            | Operation::MarkEmailVerified { .. }
            | Operation::MarkManaged { .. }
            | Operation::BlockUser { .. }
            | Operation::UnblockUser { .. }
            | Operation::RecordInterruptedSend { .. } => vec![PATCH],
            Operation::DeleteUser { .. } => vec!["DELETE /api/v2/users/{id}"],
            Operation::SendVerificationEmail { confirm, .. } => {
                if *confirm {
                    vec![PATCH, JOB, PATCH]
                } else {
                    vec![PATCH, JOB]
                }
            }
            Operation::SendPasswordReset { confirm, .. } => {
                if *confirm {
                    vec![PATCH, RESET, PATCH]
                } else {
                    vec![PATCH, RESET]
                }
            }
            Operation::SetSignup { .. } => {
                vec![
                    "GET /api/v2/connections/{id}",
                    "PATCH /api/v2/connections/{id}",
                ]
            }
            Operation::DeployLoginAction(deployment) => deployment.calls(),
            Operation::UnbindLoginAction { .. } => vec![
                "GET /api/v2/actions/triggers/post-login/bindings",
                "PATCH /api/v2/actions/triggers/post-login/bindings",
            ],
        }
    }
}

impl LoginActionDeployment {
    /// The calls, in order (polling for the build repeats the GET).
    pub fn calls(&self) -> Vec<&'static str> {
        let mut calls = Vec::new();
        match (&self.action_id, self.update) {
            (None, _) => calls.push("POST /api/v2/actions/actions"),
            (Some(_), true) => calls.push("PATCH /api/v2/actions/actions/{id}"),
            (Some(_), false) => {}
        }
        if self.action_id.is_none() || self.update || self.deploy {
            calls.push("GET /api/v2/actions/actions/{id}");
            calls.push("POST /api/v2/actions/actions/{id}/deploy");
        }
        if self.bind {
            calls.push("GET /api/v2/actions/triggers/post-login/bindings");
            calls.push("PATCH /api/v2/actions/triggers/post-login/bindings");
        }
        calls
    }
}
