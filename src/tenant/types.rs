//! Wire types of the Management and Authentication APIs, as far as verifyctl reads or
//! writes them. Field names are Auth0's (reference §2-§8); fields Auth0 omits when unset are
//! `Option`s, and request bodies skip what they do not set.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::auth0::Profile;
use crate::secret::Secret;

/// A user as `GET /api/v2/users`, `/users-by-email`, `POST` and `PATCH` return it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct User {
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Absent on some social profiles; absent means not verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<Identity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_metadata: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_metadata: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logins_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<bool>,
}

impl User {
    pub fn is_verified(&self) -> bool {
        self.email_verified == Some(true)
    }

    /// The current value of a profile field named as [`Profile::fields`] names it.
    pub fn profile_value(&self, field: &str) -> Option<Value> {
        let text = |value: &Option<String>| value.clone().map(Value::String);
        match field.split_once('.') {
            None => match field {
                "name" => text(&self.name),
                "given_name" => text(&self.given_name),
                "family_name" => text(&self.family_name),
                _ => None,
            },
            Some(("user_metadata", key)) => self.user_metadata.as_ref()?.get(key).cloned(),
            Some(("app_metadata", key)) => self.app_metadata.as_ref()?.get(key).cloned(),
            Some(_) => None,
        }
    }

    /// The identity of `connection` (users can have linked identities of other connections).
    pub fn identity_in(&self, connection: &str) -> Option<&Identity> {
        self.identities.iter().find(|i| i.connection == connection)
    }
}

/// One entry of a user's `identities`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Identity {
    pub connection: String,
    pub provider: String,
    /// A string for most providers, an integer for some social ones (reference §2.1).
    pub user_id: Value,
    #[serde(rename = "isSocial", default, skip_serializing_if = "Option::is_none")]
    pub is_social: Option<bool>,
}

impl Identity {
    /// The provider-side id as a string, whatever JSON type it came as.
    pub fn user_id_string(&self) -> String {
        match &self.user_id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// A connection as `GET /api/v2/connections` returns it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Connection {
    pub id: String,
    pub name: String,
    pub strategy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// An application (client), read without secrets (`fields=client_id,name,app_type,global`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Client {
    pub client_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<bool>,
}

/// A job (`POST /api/v2/jobs/verification-email`, `/users-exports`, `GET /api/v2/jobs/{id}`),
/// reference §5, §9.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Job {
    pub id: String,
    /// `pending`, `processing`, `completed` or `failed`.
    pub status: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// An export's download link, once completed (valid 60 s; read the job again for a new one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage_done: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_left_seconds: Option<u64>,
    /// Why a job failed, when Auth0 says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<String>,
    /// An import's counts, once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<ImportSummary>,
}

/// What a completed users-import job did (reference §9.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct ImportSummary {
    #[serde(default)]
    pub inserted: u64,
    #[serde(default)]
    pub updated: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub total: u64,
}

/// One record of a users-import file (reference §9.1; `user_id` without the `auth0|`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportRecord {
    pub email: String,
    pub email_verified: bool,
    pub user_id: String,
    #[serde(flatten)]
    pub profile: Profile,
}

/// A record an import refused, from `GET /api/v2/jobs/{id}/errors` (reference §9.4).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ImportRecordError {
    /// The record as submitted.
    #[serde(default)]
    pub user: Value,
    #[serde(default)]
    pub errors: Vec<ImportError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ImportError {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl Job {
    pub fn is_completed(&self) -> bool {
        self.status == "completed"
    }

    pub fn is_failed(&self) -> bool {
        self.status == "failed"
    }
}

/// One field a users-export job writes (`{"name": "email"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportField {
    pub name: &'static str,
}

/// Body of `POST /api/v2/jobs/users-exports` (reference §9.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsersExportRequest {
    pub connection_id: String,
    /// `json` (gzipped NDJSON, one user a line).
    pub format: &'static str,
    pub fields: Vec<ExportField>,
}

/// Body of `POST /api/v2/users`.
#[derive(Debug, Clone, Serialize)]
pub struct CreateUserRequest {
    pub connection: String,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    pub email_verified: bool,
    pub verify_email: bool,
    #[serde(flatten)]
    pub profile: Profile,
}

/// Body of `PATCH /api/v2/users/{id}`; only set fields are sent. Metadata objects are
/// shallow-merged by Auth0 (a `null` value deletes a key).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UserPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Offboarding: `true` blocks a user who left the policies, `false` unblocks one listed
    /// again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<bool>,
    #[serde(flatten)]
    pub profile: Profile,
}

/// Body of `POST /api/v2/jobs/verification-email`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VerificationEmailRequest {
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<JobIdentity>,
}

/// The `identity` of a verification-email job (needed for social and linked identities).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JobIdentity {
    pub user_id: String,
    pub provider: String,
}

/// Body of `POST /dbconnections/change_password` (Authentication API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChangePasswordRequest {
    pub email: String,
    pub connection: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// Response of `POST /oauth/token`.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub expires_in: u64,
    /// The granted scopes, space-separated (Auth0 always sends it for client credentials).
    #[serde(default)]
    pub scope: Option<String>,
}

/// `GET /api/v2/users?include_totals=true` page.
#[derive(Debug, Deserialize)]
pub(crate) struct UsersPage {
    pub users: Vec<User>,
    pub total: u64,
}

/// A checkpoint-paginated list page (`take` + `from`, reference §11.3).
#[derive(Deserialize)]
pub(crate) struct CheckpointPage<T> {
    #[serde(alias = "connections", alias = "clients")]
    pub items: Vec<T>,
    #[serde(default)]
    pub next: Option<String>,
}

/// The Management API error body (reference §0.1).
#[derive(Deserialize, Default)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, rename = "errorCode")]
    pub error_code: Option<String>,
    /// OAuth-style bodies (`/oauth/token`, `/dbconnections/*`).
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

/// An Action as `GET /api/v2/actions/actions` returns it (reference §10.1).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Action {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// `pending`, `building`, `packaged`, `built`, `retrying` or `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default)]
    pub supported_triggers: Vec<ActionTrigger>,
    /// Names only; Auth0 never returns secret values.
    #[serde(default)]
    pub secrets: Vec<ActionSecretName>,
    /// The version that runs at login, once deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_version: Option<ActionVersion>,
    /// Build errors of a `failed` draft.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ActionError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ActionTrigger {
    pub id: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ActionSecretName {
    pub name: String,
}

/// An Action version (the deployed one, or what deploy returns).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ActionVersion {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ActionError {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub msg: String,
}

/// Body of `POST /api/v2/actions/actions` and `PATCH /api/v2/actions/actions/{id}`.
#[derive(Debug, Clone, Serialize)]
pub struct ActionRequest {
    pub name: String,
    pub supported_triggers: Vec<ActionTrigger>,
    pub code: String,
    pub runtime: String,
    pub dependencies: Vec<Value>,
    pub secrets: Vec<ActionSecretValue>,
}

/// A secret sent to Auth0 (write-only there).
#[derive(Debug, Clone, Serialize)]
pub struct ActionSecretValue {
    pub name: String,
    pub value: crate::secret::Secret,
}

/// One binding of a trigger (reference §10.3).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Binding {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub action: BoundAction,
}

/// The action inside a binding (Auth0 embeds the whole action; verifyctl needs these).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct BoundAction {
    pub id: String,
    pub name: String,
}

/// One entry of `PATCH /api/v2/actions/triggers/{trigger}/bindings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BindingRef {
    #[serde(rename = "ref")]
    pub reference: BindingTarget,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// What a binding entry points at: an existing binding (kept as is) or an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum BindingTarget {
    BindingId(String),
    ActionId(String),
}

#[derive(Deserialize)]
pub(crate) struct ActionsPage {
    #[serde(default)]
    pub actions: Vec<Action>,
}

#[derive(Deserialize)]
pub(crate) struct BindingsPage {
    #[serde(default)]
    pub bindings: Vec<Binding>,
    #[serde(default)]
    pub total: Option<u64>,
}

/// Body of `PATCH /api/v2/connections/{id}` as verifyctl sends it: the **whole** `options`
/// object (Auth0 replaces it) and the `display_name` (Auth0 resets it to the name when
/// omitted), reference §7.3.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionPatch {
    pub options: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}
