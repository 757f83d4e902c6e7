//! One planned change: [`Action`] (target, reason, field changes and the [`Operation`] apply
//! sends), its [`ActionKind`] (derived from the operation, never stored beside it) and the
//! words and symbol every printer shows for it ([`Headline`]).
//!
//! Everything printers say about a kind of action is decided here, once: its JSON name,
//! its summary phrase ("2 users to create"), its column title in the markdown table, and
//! (in `operation.rs`) its headline and API calls.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::operation::Operation;

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
    UnblockUser,
    UpdateProfile,
    MarkEmailVerified,
    MarkManaged,
    SendPasswordReset,
    SendVerificationEmail,
    RecordInterruptedSend,
    BlockUser,
    DeleteUser,
    DeployLoginAction,
    UnbindLoginAction,
}

/// What the printers say about one kind of action.
struct KindWords {
    /// The JSON name (`create_user`), as serde writes it.
    name: &'static str,
    /// Summary phrase: one thing, many things, what is done to them.
    one: &'static str,
    many: &'static str,
    done: &'static str,
    /// The markdown summary table's column title.
    column: &'static str,
}

impl ActionKind {
    /// Every kind, in the order actions of one user are listed and executed.
    pub const ALL: [ActionKind; 13] = [
        ActionKind::SetSignup,
        ActionKind::CreateUser,
        ActionKind::UnblockUser,
        ActionKind::UpdateProfile,
        ActionKind::MarkEmailVerified,
        ActionKind::MarkManaged,
        ActionKind::SendPasswordReset,
        ActionKind::SendVerificationEmail,
        ActionKind::RecordInterruptedSend,
        ActionKind::BlockUser,
        ActionKind::DeleteUser,
        ActionKind::DeployLoginAction,
        ActionKind::UnbindLoginAction,
    ];

    fn words(self) -> KindWords {
        let (name, one, many, done, column) = match self {
            ActionKind::SetSignup => (
                "set_signup",
                "signup setting",
                "signup settings",
                "to change",
                "signup",
            ),
            ActionKind::CreateUser => ("create_user", "user", "users", "to create", "create user"),
            ActionKind::UpdateProfile => (
                "update_profile",
                "profile",
                "profiles",
                "to update",
                "update profile",
            ),
            ActionKind::MarkEmailVerified => (
                "mark_email_verified",
                "email",
                "emails",
                "to mark verified",
                "mark verified",
            ),
            ActionKind::UnblockUser => (
                "unblock_user",
                "user",
                "users",
                "to unblock",
                "unblock user",
            ),
            ActionKind::MarkManaged => (
                "mark_managed",
                "user",
                "users",
                "to mark as managed",
                "mark managed",
            ),
            ActionKind::BlockUser => ("block_user", "user", "users", "to block", "block user"),
            ActionKind::DeleteUser => ("delete_user", "user", "users", "to delete", "delete user"),
            ActionKind::SendPasswordReset => (
                "send_password_reset",
                "password-reset email",
                "password-reset emails",
                "to send",
                "password-reset email",
            ),
            ActionKind::SendVerificationEmail => (
                "send_verification_email",
                "verification email",
                "verification emails",
                "to send",
                "verification email",
            ),
            ActionKind::RecordInterruptedSend => (
                "record_interrupted_send",
                "interrupted send",
                "interrupted sends",
                "to record",
                "record interrupted send",
            ),
            ActionKind::DeployLoginAction => (
                "deploy_login_action",
                "login Action",
                "login Actions",
                "to deploy",
                "deploy Action",
            ),
            ActionKind::UnbindLoginAction => (
                "unbind_login_action",
                "login Action",
                "login Actions",
                "to unbind",
                "unbind Action",
            ),
        };
        KindWords {
            name,
            one,
            many,
            done,
            column,
        }
    }

    /// The JSON name, e.g. `create_user`.
    pub fn as_str(self) -> &'static str {
        self.words().name
    }

    /// A phrase for summaries: "2 users to create", "1 verification email to send".
    pub fn count_phrase(self, count: usize) -> String {
        let words = self.words();
        let noun = if count == 1 { words.one } else { words.many };
        format!("{count} {noun} {}", words.done)
    }

    /// The column title in a table of counts per kind.
    pub fn column_title(self) -> &'static str {
        self.words().column
    }
}

/// One change to the tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Action {
    pub target: Target,
    /// Why the change is needed, in words.
    pub reason: String,
    /// Field-level before/after values (absent = the field does not exist).
    pub changes: Vec<FieldChange>,
    /// Exactly what `apply` will send.
    pub operation: Operation,
}

impl Action {
    /// The kind of change, decided by what is sent.
    pub fn kind(&self) -> ActionKind {
        self.operation.kind()
    }

    /// The API calls this action makes, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.operation.calls()
    }

    /// The symbol and words every printer shows for this action.
    pub fn headline(&self) -> Headline {
        self.operation.headline()
    }
}

/// How a change is marked, as in Terraform: `+` creates, `~` changes, `-` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSymbol {
    Create,
    Update,
    Remove,
}

impl ChangeSymbol {
    pub fn as_char(self) -> char {
        match self {
            ChangeSymbol::Create => '+',
            ChangeSymbol::Update => '~',
            ChangeSymbol::Remove => '-',
        }
    }
}

/// What an action does, in words: `send verification email` `to` TARGET, `bind` TARGET `to
/// post-login`. Printers show it with the target ([`Headline::with_target`]) or beside it
/// ([`Headline::short`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headline {
    pub symbol: ChangeSymbol,
    pub verb: &'static str,
    /// Between the verb and the target (`to`, `of`, `for`, `on`).
    pub preposition: Option<&'static str>,
    /// After the target (`to post-login`).
    pub suffix: Option<&'static str>,
}

impl Headline {
    pub(super) const fn new(symbol: ChangeSymbol, verb: &'static str) -> Headline {
        Headline {
            symbol,
            verb,
            preposition: None,
            suffix: None,
        }
    }

    pub(super) const fn before_target(self, preposition: &'static str) -> Headline {
        Headline {
            preposition: Some(preposition),
            ..self
        }
    }

    pub(super) const fn after_target(self, suffix: &'static str) -> Headline {
        Headline {
            suffix: Some(suffix),
            ..self
        }
    }

    /// `send verification email to a@x.example (auth0|1)`.
    pub fn with_target(&self, target: &impl std::fmt::Display) -> String {
        let mut text = self.verb.to_string();
        if let Some(preposition) = self.preposition {
            text.push(' ');
            text.push_str(preposition);
        }
        text.push_str(&format!(" {target}"));
        if let Some(suffix) = self.suffix {
            text.push(' ');
            text.push_str(suffix);
        }
        text
    }

    /// `send verification email`, `bind to post-login` (for a target shown beside it).
    pub fn short(&self) -> String {
        match self.suffix {
            Some(suffix) => format!("{} {suffix}", self.verb),
            None => self.verb.to_string(),
        }
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
    actions.sort_by(|a, b| (a.target.sort_key(), a.kind()).cmp(&(b.target.sort_key(), b.kind())));
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
