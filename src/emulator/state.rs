//! The tenant as data: [`TenantState`] and the user, connection, client, job and outbox
//! types it is made of. This is exactly what the tenant file holds (YAML or JSON, see
//! `file.rs`) and what [`super::Emulator::snapshot`] returns. Users, connections and
//! clients keep every field they were given (unknown ones in a flattened map), absent
//! optional fields are omitted when serializing, and lists keep their creation order.
//! Passwords and tokens never appear here.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::config::RateLimit;
use crate::auth0::StrategyKind;

/// A JSON object, as used for metadata, connection options and unknown fields.
pub type JsonObject = Map<String, Value>;

/// A value's JSON form as an object (empty if it does not serialize to one).
pub(crate) fn to_object(value: &impl Serialize) -> JsonObject {
    match serde_json::to_value(value) {
        Ok(Value::Object(object)) => object,
        _ => JsonObject::new(),
    }
}

/// Everything the emulated tenant holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantState {
    /// The tenant's domain; the Management API audience is `https://DOMAIN/api/v2/`.
    pub domain: String,
    #[serde(default, skip_serializing_if = "TenantSettings::is_default")]
    pub settings: TenantSettings,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<Client>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<Connection>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<User>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<Job>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<OutboxMessage>,
}

/// Choice: an empty tenant on `localhost` (only SDKs that derive the audience from the
/// address they talk to, or that are told `localhost`, can then get tokens).
impl Default for TenantState {
    fn default() -> Self {
        TenantState::new("localhost")
    }
}

impl TenantState {
    /// An empty tenant on `domain`.
    pub fn new(domain: &str) -> TenantState {
        TenantState {
            domain: domain.to_owned(),
            settings: TenantSettings::default(),
            clients: Vec::new(),
            connections: Vec::new(),
            users: Vec::new(),
            jobs: Vec::new(),
            outbox: Vec::new(),
        }
    }

    pub fn connection_by_name(&self, name: &str) -> Option<&Connection> {
        self.connections.iter().find(|c| c.name == name)
    }

    pub fn user(&self, user_id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.user_id == user_id)
    }

    pub fn client(&self, client_id: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }
}

/// Tenant-wide switches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// Whether the "Verification Email (link)" template is enabled. When false,
    /// verification jobs end `failed` and nothing reaches the outbox.
    #[serde(default = "enabled", skip_serializing_if = "is_true")]
    pub verify_email_template_enabled: bool,
    /// The Management API rate limit; none means unlimited (headers are still sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            verify_email_template_enabled: true,
            rate_limit: None,
        }
    }
}

impl TenantSettings {
    fn is_default(&self) -> bool {
        *self == TenantSettings::default()
    }
}

fn enabled() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

/// An Auth0 user, as the Management API returns it. Fields the API omits when unset are
/// `None` here; any other user field (`name`, `nickname`, `picture`, `username`,
/// `logins_count`, `last_login`, `blocked`, ...) lives in `other`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// `provider|id`. May be left out of a hand-written tenant file: the emulator then
    /// derives it from the first identity (or generates one) when it starts.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<Identity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_metadata: Option<JsonObject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_metadata: Option<JsonObject>,
    #[serde(flatten)]
    pub other: JsonObject,
}

impl User {
    /// The connection name of the primary (first) identity.
    pub fn primary_connection(&self) -> Option<&str> {
        self.identities.first().map(|i| i.connection.as_str())
    }

    /// The user as the API shows it: one JSON object with every field that is set.
    pub fn to_json(&self) -> JsonObject {
        to_object(self)
    }
}

/// One entry of `identities[]`. `user_id` is a string or, for some social providers, a
/// number, so it is kept as JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// The connection **name**.
    pub connection: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(rename = "isSocial", default, skip_serializing_if = "Option::is_none")]
    pub is_social: Option<bool>,
    #[serde(flatten)]
    pub other: JsonObject,
}

impl Identity {
    /// The identity's user id as text (numbers are printed as they are).
    pub fn user_id_text(&self) -> Option<String> {
        match self.user_id.as_ref()? {
            Value::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        }
    }
}

/// An Auth0 connection. `options` and every other field (`realms`,
/// `is_domain_connection`, `metadata`, ...) are kept as given.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    /// `con_` + 16 alphanumerics; generated at start-up when a tenant file leaves it out.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    pub name: String,
    pub strategy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<JsonObject>,
    #[serde(flatten)]
    pub other: JsonObject,
}

impl Connection {
    pub fn kind(&self) -> StrategyKind {
        StrategyKind::of(&self.strategy)
    }

    /// A string or object option, looked up by a dotted path (`password_options.complexity`).
    pub fn option(&self, dotted_path: &str) -> Option<&Value> {
        let mut parts = dotted_path.split('.');
        let first = parts.next()?;
        let mut value = self.options.as_ref()?.get(first)?;
        for part in parts {
            value = value.as_object()?.get(part)?;
        }
        Some(value)
    }
}

/// An Auth0 application.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Client {
    /// 32 alphanumerics; generated at start-up when a tenant file leaves it out.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_id: String,
    pub name: String,
    /// `spa`, `native`, `regular_web` or `non_interactive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_type: Option<String>,
    /// True only for the legacy "All Applications" client.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub global: bool,
    /// Lets this client get tokens at `/oauth/token` (with `grants`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Management API scopes granted to this client (its client grant). Never returned by
    /// the API.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<String>,
    #[serde(flatten)]
    pub other: JsonObject,
}

/// A job the emulator created. Only verification-email jobs exist.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: JobKind,
    /// The job's final status. A job reads back `pending` once before this (see jobs.rs).
    pub status: JobStatus,
    pub created_at: String,
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    VerificationEmail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Completed,
    Failed,
}

/// An email the tenant "sent".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxMessage {
    pub kind: OutboxKind,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// The application the email was branded for, when the request named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The verification job that sent it (verification emails sent by jobs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    pub at: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxKind {
    VerificationEmail,
    PasswordReset,
}
