//! The plan: what `apply` would do, as data.
//!
//! [`build_plan`] is a pure function of the desired state, the live state and "now"; the
//! same inputs always give the same [`Plan`], in a stable order (connection, then user,
//! then action kind). Each [`Action`] names its target, its reason, its field changes and
//! the API calls it makes; its [`Operation`] holds exactly what `apply` sends, except the
//! generated password, which only exists inside `apply`.

mod build;
mod login;
pub mod resend;
mod signup;
#[cfg(test)]
mod tests;
mod users;
mod warnings;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use build::{ConnectionContext, build_plan, build_plan_in};
pub use crate::ledger::{Ledger, SendKind};
pub use login::{login_rules, login_rules_offline};
pub use crate::policy::Scope;
pub use users::{ListedUser, replan_existing_user};

use crate::auth0::Profile;
use crate::tenant::types::{ChangePasswordRequest, UserPatch, VerificationEmailRequest};

/// Everything a plan run found: the actions to take and what the user should know.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub warnings: Vec<Warning>,
    /// Set when the plan covers only part of the policies (`--connection`, `--user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Number of actions of each kind, in kind order.
    pub fn counts(&self) -> Vec<(ActionKind, usize)> {
        ActionKind::ALL
            .iter()
            .map(|kind| {
                (
                    *kind,
                    self.actions.iter().filter(|a| a.kind == *kind).count(),
                )
            })
            .collect()
    }
}

/// What kind of change an action makes.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    SetSignup,
    CreateUser,
    UpdateProfile,
    MarkEmailVerified,
    SendPasswordReset,
    SendVerificationEmail,
    RecordInterruptedSend,
    DeployLoginAction,
    UnbindLoginAction,
}

impl ActionKind {
    /// Every kind, in the order actions of one user are listed and executed.
    pub const ALL: [ActionKind; 9] = [
        ActionKind::SetSignup,
        ActionKind::CreateUser,
        ActionKind::UpdateProfile,
        ActionKind::MarkEmailVerified,
        ActionKind::SendPasswordReset,
        ActionKind::SendVerificationEmail,
        ActionKind::RecordInterruptedSend,
        ActionKind::DeployLoginAction,
        ActionKind::UnbindLoginAction,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::CreateUser => "create_user",
            ActionKind::UpdateProfile => "update_profile",
            ActionKind::MarkEmailVerified => "mark_email_verified",
            ActionKind::SendPasswordReset => "send_password_reset",
            ActionKind::SendVerificationEmail => "send_verification_email",
            ActionKind::RecordInterruptedSend => "record_interrupted_send",
            ActionKind::SetSignup => "set_signup",
            ActionKind::DeployLoginAction => "deploy_login_action",
            ActionKind::UnbindLoginAction => "unbind_login_action",
        }
    }

    /// A phrase for summaries: "2 users to create", "1 verification email to send".
    pub fn count_phrase(self, count: usize) -> String {
        let (one, many, rest) = match self {
            ActionKind::CreateUser => ("user", "users", "to create"),
            ActionKind::UpdateProfile => ("profile", "profiles", "to update"),
            ActionKind::MarkEmailVerified => ("email", "emails", "to mark verified"),
            ActionKind::SendPasswordReset => {
                ("password-reset email", "password-reset emails", "to send")
            }
            ActionKind::SendVerificationEmail => {
                ("verification email", "verification emails", "to send")
            }
            ActionKind::RecordInterruptedSend => {
                ("interrupted send", "interrupted sends", "to record")
            }
            ActionKind::SetSignup => ("signup setting", "signup settings", "to change"),
            ActionKind::DeployLoginAction => ("login Action", "login Actions", "to deploy"),
            ActionKind::UnbindLoginAction => ("login Action", "login Actions", "to unbind"),
        };
        format!("{count} {} {rest}", if count == 1 { one } else { many })
    }
}

/// One change to the tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Action {
    pub kind: ActionKind,
    pub target: Target,
    /// Why the change is needed, in words.
    pub reason: String,
    /// Field-level before/after values (absent = the field does not exist).
    pub changes: Vec<FieldChange>,
    /// Exactly what `apply` will send.
    pub operation: Operation,
}

impl Action {
    /// The API calls this action makes, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.operation.calls()
    }
}

/// What an action changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Target {
    /// A user of a connection (without `user_id` when it does not exist yet).
    User {
        connection: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
    },
    /// A connection's own settings.
    Connection { name: String },
    /// verifyctl's post-login Action.
    LoginAction { name: String },
}

impl Target {
    pub fn user(connection: &str, email: Option<String>, user_id: Option<String>) -> Target {
        Target::User {
            connection: connection.to_string(),
            email,
            user_id,
        }
    }

    /// The connection the action belongs to (none for the login Action).
    pub fn connection(&self) -> Option<&str> {
        match self {
            Target::User { connection, .. } => Some(connection),
            Target::Connection { name } => Some(name),
            Target::LoginAction { .. } => None,
        }
    }

    /// A stable key naming the target (`user:CONNECTION:EMAIL`, `connection:NAME`,
    /// `login:NAME`): actions with the same key concern the same thing.
    pub fn key(&self) -> String {
        match self {
            Target::User {
                connection,
                email,
                user_id,
            } => format!(
                "user:{connection}:{}",
                email.as_deref().or(user_id.as_deref()).unwrap_or_default()
            ),
            Target::Connection { name } => format!("connection:{name}"),
            Target::LoginAction { name } => format!("login:{name}"),
        }
    }

    /// The user's email, for user targets.
    pub fn email(&self) -> Option<&str> {
        match self {
            Target::User { email, .. } => email.as_deref(),
            _ => None,
        }
    }

    /// Where the action is listed: connection settings first, then the connection's users
    /// by email, the login Action last.
    fn sort_key(&self) -> (u8, &str, u8, Option<&str>, Option<&str>) {
        match self {
            Target::Connection { name } => (0, name, 0, None, None),
            Target::User {
                connection,
                email,
                user_id,
            } => (0, connection, 1, email.as_deref(), user_id.as_deref()),
            Target::LoginAction { name } => (1, name, 0, None, None),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::User {
                email: Some(email),
                user_id: Some(id),
                ..
            } => write!(f, "{email} ({id})"),
            Target::User {
                email: Some(email), ..
            } => f.write_str(email),
            Target::User {
                user_id: Some(id), ..
            } => f.write_str(id),
            Target::User { .. } => f.write_str("(unknown user)"),
            Target::Connection { name } => write!(f, "connection {name}"),
            Target::LoginAction { name } => write!(f, "Action {name}"),
        }
    }
}

/// Orders actions the way plans list and apply them.
pub(crate) fn sort_actions(actions: &mut [Action]) {
    actions.sort_by(|a, b| (a.target.sort_key(), a.kind).cmp(&(b.target.sort_key(), b.kind)));
}

/// One field's value before and after the action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FieldChange {
    /// `name`, `email_verified`, `user_metadata.team`, …
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

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
        connection_policy: ConnectionContext,
        user_policy: ListedUser,
    },
    /// `PATCH /api/v2/users/{id}` with profile fields only.
    UpdateProfile { user_id: String, patch: UserPatch },
    /// `PATCH /api/v2/users/{id}` `{"email_verified": true}`.
    MarkEmailVerified { user_id: String },
    /// Ledger intent, `POST /api/v2/jobs/verification-email`, ledger confirmation.
    SendVerificationEmail {
        user_id: String,
        request: VerificationEmailRequest,
        ledger: Ledger,
    },
    /// Ledger intent, `POST /dbconnections/change_password`, ledger confirmation.
    SendPasswordReset {
        user_id: String,
        request: ChangePasswordRequest,
        ledger: Ledger,
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
    /// The API calls this operation makes, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        const CREATE: &str = "POST /api/v2/users";
        const PATCH: &str = "PATCH /api/v2/users/{id}";
        const JOB: &str = "POST /api/v2/jobs/verification-email";
        const RESET: &str = "POST /dbconnections/change_password";
        match self {
            Operation::CreateUser {
                onboarding_email, ..
            } => match onboarding_email {
                CreateEmail::None | CreateEmail::VerificationWithCreate => vec![CREATE],
                CreateEmail::VerificationJob { .. } => vec![CREATE, JOB, PATCH],
                CreateEmail::PasswordReset { .. } => vec![CREATE, RESET, PATCH],
            },
            Operation::UpdateProfile { .. }
            | Operation::MarkEmailVerified { .. }
            | Operation::RecordInterruptedSend { .. } => vec![PATCH],
            Operation::SendVerificationEmail { .. } => vec![PATCH, JOB, PATCH],
            Operation::SendPasswordReset { .. } => vec![PATCH, RESET, PATCH],
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

/// Something the user should know that is not an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Warning {
    pub kind: WarningKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    pub message: String,
    /// The users concerned (emails, or ids for users without one), at most
    /// [`WARNING_EXAMPLES`]; `user_count` has the full number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    pub user_count: usize,
}

/// How many users a warning names before it only counts them.
pub const WARNING_EXAMPLES: usize = 10;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// The identity provider controls `email_verified`; the API cannot set it.
    ProviderControlsVerification,
    /// Users cannot be created through the API in this kind of connection.
    CannotCreateInConnection,
    /// Profile fields of these users come from their identity provider.
    ProviderControlsProfile,
    /// The connection's users have no email address to verify.
    NoEmail,
    /// A previous apply stopped between recording and confirming a send.
    InterruptedSend,
    /// `app_metadata.verifyctl` exists but cannot be read; nothing is sent to these users.
    UnreadableLedger,
    /// Blocked users are not emailed.
    BlockedUsers,
    /// Users whose primary identity is elsewhere (linked accounts) are left alone.
    LinkedIdentity,
    /// A required connection keeps its signup form open, which emails everyone who signs up.
    SignupSendsEmails,
    /// The credentials cannot read Actions, so a login Action deployed earlier was not
    /// checked for.
    LoginActionUnchecked,
    /// The login Action re-sends emails, but its credentials are not in the environment.
    ActionSecretsMissing,
}

/// A policy that cannot be planned against this tenant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({origin})")]
pub struct PlanError {
    pub message: String,
    /// Where the policy names the missing thing.
    pub origin: String,
    pub hint: String,
}
