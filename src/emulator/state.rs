//! The tenant as data: [`TenantState`] and the user, connection, client, job, outbox,
//! Action and trigger-binding types it is made of. This is exactly what the tenant file
//! holds (YAML or JSON, see `file.rs`) and what [`super::Emulator::snapshot`] returns.
//! Users, connections and clients keep every field they were given (unknown ones in a
//! flattened map), absent optional fields are omitted when serializing, and lists keep
//! their creation order. Passwords, tokens and Action secret values never appear here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::config::{RateLimit, Timings};
pub use super::logs::{LogEntry, Logs};
pub use super::users_store::Users;
use crate::auth0::StrategyKind;

/// A JSON object, as used for metadata, connection options and unknown fields.
pub type JsonObject = Map<String, Value>;

/// A user's other fields: a JSON object kept as a sorted list, because a user has only a
/// few of them and a `BTreeMap` node costs over 600 bytes whatever it holds (this keeps a
/// 1M-user tenant hundreds of megabytes smaller). Serialised as an object, keys sorted,
/// like [`JsonObject`]; a repeated key keeps its last value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields(Vec<(String, Value)>);

impl Fields {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).ok().map(|at| &self.0[at].1)
    }

    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        match self.position(&key) {
            Ok(at) => Some(std::mem::replace(&mut self.0[at].1, value)),
            Err(at) => {
                self.0.insert(at, (key, value));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.position(key).ok().map(|at| self.0.remove(at).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }
}

impl std::ops::Index<&str> for Fields {
    type Output = Value;

    /// The value of `key`, `null` when absent (as `serde_json::Value` indexes).
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&Value::Null)
    }
}

impl From<JsonObject> for Fields {
    fn from(object: JsonObject) -> Fields {
        // A JSON object's keys are already sorted and unique.
        Fields(object.into_iter().collect())
    }
}

impl From<Fields> for JsonObject {
    fn from(fields: Fields) -> JsonObject {
        fields.0.into_iter().collect()
    }
}

impl Serialize for Fields {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Fields, D::Error> {
        struct FieldsVisitor;
        impl<'de> serde::de::Visitor<'de> for FieldsVisitor {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Fields, A::Error> {
                let mut fields = Fields::default();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    fields.insert(key, value);
                }
                fields.0.shrink_to_fit();
                Ok(fields)
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

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
    #[serde(deserialize_with = "unique::domain")]
    pub domain: String,
    /// Other host names that serve this tenant (custom domains, `login.example.com`).
    /// Requests through them work with a token for `https://DOMAIN/api/v2/`; they are not
    /// Management API audiences themselves (see auth.rs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_domains: Vec<String>,
    /// Written back whenever the file had it (even with default values).
    #[serde(default, skip_serializing_if = "TenantSettings::is_empty")]
    pub settings: TenantSettings,
    /// Client ids are unique (a file with two clients of one id is refused).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "unique::clients"
    )]
    pub clients: Vec<Client>,
    /// Connection names and ids are unique (a file repeating one is refused).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "unique::connections"
    )]
    pub connections: Vec<Connection>,
    /// Users in creation order, each behind an `Arc` so a snapshot shares them.
    #[serde(default, skip_serializing_if = "Users::is_empty")]
    pub users: Users,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<Job>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<OutboxMessage>,
    /// Tenant log events, by `log_id` (see logs.rs for what is recorded and kept).
    #[serde(default, skip_serializing_if = "Logs::is_empty")]
    pub logs: Logs,
    /// Actions, in creation order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
    /// Trigger bindings by trigger id (`post-login`), each list in execution order.
    /// Triggers with nothing bound are left out.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bindings: BTreeMap<String, Vec<Binding>>,
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
            custom_domains: Vec::new(),
            settings: TenantSettings::default(),
            clients: Vec::new(),
            connections: Vec::new(),
            users: Users::default(),
            jobs: Vec::new(),
            outbox: Vec::new(),
            logs: Logs::default(),
            actions: Vec::new(),
            bindings: BTreeMap::new(),
        }
    }

    pub fn connection_by_name(&self, name: &str) -> Option<&Connection> {
        self.connections.iter().find(|c| c.name == name)
    }

    /// The user with this id, in O(1).
    pub fn user(&self, user_id: &str) -> Option<&User> {
        self.users.get(user_id)
    }

    pub fn client(&self, client_id: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    pub fn action(&self, id: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.id == id)
    }

    pub fn action_by_name(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.name == name)
    }

    /// The bindings of one trigger (empty when nothing is bound).
    pub fn bindings_of(&self, trigger_id: &str) -> &[Binding] {
        self.bindings.get(trigger_id).map_or(&[], Vec::as_slice)
    }

    /// The triggers an action is bound to.
    pub fn triggers_binding(&self, action_id: &str) -> Vec<&str> {
        self.bindings
            .iter()
            .filter(|(_, list)| list.iter().any(|b| b.action_id == action_id))
            .map(|(trigger, _)| trigger.as_str())
            .collect()
    }
}

/// Tenant-wide switches. A setting left out of the file takes its default and stays
/// out of the file when it is written back; one the file sets is written back as set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// Whether the "Verification Email (link)" template is enabled (default: enabled).
    /// When it is not, verification jobs end `failed` and nothing reaches the outbox.
    /// Read it with [`TenantSettings::verify_email_enabled`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_email_template_enabled: Option<bool>,
    /// The Management API rate limit; none means unlimited (headers are still sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// The pace of bulk jobs and log visibility; none means instant (see [`Timings`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<TimingSettings>,
}

/// [`Timings`] as a tenant file writes them (`settings.timings`), in seconds; anything
/// left out is instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_pending_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_users_per_second: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_users_per_second: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_lag_seconds: Option<f64>,
}

impl From<TimingSettings> for Timings {
    fn from(settings: TimingSettings) -> Timings {
        let seconds = |s: Option<f64>| {
            s.and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
                .unwrap_or_default()
        };
        Timings {
            job_pending: seconds(settings.job_pending_seconds),
            export_users_per_second: settings.export_users_per_second,
            import_users_per_second: settings.import_users_per_second,
            log_lag: seconds(settings.log_lag_seconds),
        }
    }
}

impl TenantSettings {
    /// Whether verification emails can be sent (the template is enabled).
    pub fn verify_email_enabled(&self) -> bool {
        self.verify_email_template_enabled.unwrap_or(true)
    }

    fn is_empty(&self) -> bool {
        *self == TenantSettings::default()
    }
}

/// An Auth0 user, as the Management API returns it. Fields the API omits when unset are
/// `None` here; any other user field (`name`, `nickname`, `picture`, `username`,
/// `logins_count`, `last_login`, `blocked`, ...) lives in `other`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    pub other: Fields,
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The client ids of the applications enabled for this connection
    /// (`/connections/{id}/clients`). `None`, a tenant file that says nothing, means
    /// every application of the tenant: hand-written tenants then behave as the
    /// dashboard's default for a new connection. Written back only once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_clients: Option<Vec<String>>,
    #[serde(flatten)]
    pub other: JsonObject,
}

impl Connection {
    /// The enabled applications' client ids, in order (every client of `clients` when
    /// the connection does not say).
    pub fn enabled_client_ids<'a>(&'a self, clients: &'a [Client]) -> Vec<&'a str> {
        match &self.enabled_clients {
            Some(ids) => ids.iter().map(String::as_str).collect(),
            None => clients.iter().map(|c| c.client_id.as_str()).collect(),
        }
    }

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
    /// Public keys for private-key JWT client authentication (Auth0's client
    /// credentials of type `public_key`). Never returned by the API.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<ClientCredential>,
    #[serde(flatten)]
    pub other: JsonObject,
}

/// A public key registered on a client: assertions signed by its private key with `alg`
/// authenticate the client at `/oauth/token`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCredential {
    /// The public key in PEM (`-----BEGIN PUBLIC KEY-----`), checked when the file is read.
    #[serde(deserialize_with = "unique::public_key_pem")]
    pub pem: String,
    /// `RS256` (the default), `RS384` or `PS256`.
    #[serde(
        default = "default_credential_alg",
        deserialize_with = "unique::assertion_alg"
    )]
    pub alg: String,
    /// The key id an assertion's `kid` header may name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

fn default_credential_alg() -> String {
    "RS256".to_owned()
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
    /// The "import completed" email Auth0 sends the tenant's owners when a users-import
    /// job with `send_completion_email` (the default) finishes.
    ImportCompleted,
}

/// An Action: its draft (what the Management API edits and builds) and, once deployed,
/// the immutable version that runs (reference §10).
///
/// A hand-written tenant file needs only `name` (and `code`): `supported_triggers`
/// defaults to `post-login` v3, `runtime` to `node22`, `status` to `built`; `id`,
/// timestamps and secrets' `updated_at` are filled when the emulator starts. A
/// `deployed_version: {}` deploys the draft as it is (every field the version leaves out
/// is copied from the draft, `number` defaults to 1), and `all_changes_deployed` defaults
/// to whether the version equals the draft.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "ActionDocument")]
pub struct Action {
    /// A UUIDv4; generated at start-up when a tenant file leaves it out.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Unique within the tenant.
    pub name: String,
    pub supported_triggers: Vec<ActionTrigger>,
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<ActionDependency>,
    pub runtime: String,
    /// Secret names only: values are write-only in the API and never kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ActionSecret>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created_at: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub updated_at: String,
    /// The draft's build status.
    pub status: BuildStatus,
    /// Why the last build failed (only with `status: failed`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ActionError>,
    /// True from a deploy until the next change to the draft.
    pub all_changes_deployed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed_version: Option<ActionVersion>,
}

/// One entry of `supported_triggers`: `{"id":"post-login","version":"v3"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionTrigger {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl ActionTrigger {
    /// The trigger verifyctl's Action runs on.
    pub fn post_login() -> ActionTrigger {
        ActionTrigger {
            id: "post-login".to_owned(),
            version: Some("v3".to_owned()),
        }
    }
}

/// An npm dependency of an Action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionDependency {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_url: Option<String>,
}

/// A secret as the API returns it: its name and when its value was last set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSecret {
    pub name: String,
    /// Filled at start-up when a tenant file leaves it out.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub updated_at: String,
}

/// One build error (`{id, msg, url?}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionError {
    pub id: String,
    pub msg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Build status of an Action's draft (the subset of Auth0's statuses the emulator uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildStatus {
    Pending,
    Building,
    Built,
    Failed,
}

/// A deployed, immutable version of an Action: the draft as it was when deployed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActionVersion {
    /// A UUIDv4; generated at start-up when a tenant file leaves it out.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// 1 for the first deploy, then 2, 3, ...
    pub number: u32,
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<ActionDependency>,
    pub runtime: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ActionSecret>,
    pub supported_triggers: Vec<ActionTrigger>,
    /// When it was deployed (also its build time); the action's `updated_at` when a
    /// tenant file leaves it out.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created_at: String,
}

impl ActionVersion {
    /// Whether this version runs exactly the draft of `action`.
    pub fn matches_draft(&self, action: &Action) -> bool {
        self.code == action.code
            && self.dependencies == action.dependencies
            && self.runtime == action.runtime
            && self.supported_triggers == action.supported_triggers
            && secret_names(&self.secrets) == secret_names(&action.secrets)
    }

    /// A new version holding `action`'s draft.
    pub fn of_draft(action: &Action, id: String, number: u32, created_at: String) -> Self {
        ActionVersion {
            id,
            number,
            code: action.code.clone(),
            dependencies: action.dependencies.clone(),
            runtime: action.runtime.clone(),
            secrets: action.secrets.clone(),
            supported_triggers: action.supported_triggers.clone(),
            created_at,
        }
    }
}

fn secret_names(secrets: &[ActionSecret]) -> Vec<&str> {
    secrets.iter().map(|s| s.name.as_str()).collect()
}

/// The runtime Auth0 gives new Actions (actions.json: `node22` when none is sent).
pub const DEFAULT_ACTION_RUNTIME: &str = "node22";

/// An [`Action`] as written in a tenant file, with its defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionDocument {
    #[serde(default)]
    id: String,
    name: String,
    #[serde(default = "default_triggers")]
    supported_triggers: Vec<ActionTrigger>,
    #[serde(default)]
    code: String,
    #[serde(default)]
    dependencies: Vec<ActionDependency>,
    #[serde(default = "default_runtime")]
    runtime: String,
    #[serde(default)]
    secrets: Vec<ActionSecret>,
    #[serde(default)]
    created_at: String,
    #[serde(default)]
    updated_at: String,
    #[serde(default = "built")]
    status: BuildStatus,
    #[serde(default)]
    errors: Vec<ActionError>,
    #[serde(default)]
    all_changes_deployed: Option<bool>,
    #[serde(default)]
    deployed_version: Option<VersionDocument>,
}

/// An [`ActionVersion`] as written in a tenant file: anything left out is the draft's.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionDocument {
    #[serde(default)]
    id: String,
    #[serde(default)]
    number: Option<u32>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    dependencies: Option<Vec<ActionDependency>>,
    #[serde(default)]
    runtime: Option<String>,
    #[serde(default)]
    secrets: Option<Vec<ActionSecret>>,
    #[serde(default)]
    supported_triggers: Option<Vec<ActionTrigger>>,
    #[serde(default)]
    created_at: String,
}

fn default_triggers() -> Vec<ActionTrigger> {
    vec![ActionTrigger::post_login()]
}

fn default_runtime() -> String {
    DEFAULT_ACTION_RUNTIME.to_owned()
}

fn built() -> BuildStatus {
    BuildStatus::Built
}

impl From<ActionDocument> for Action {
    fn from(doc: ActionDocument) -> Action {
        let mut action = Action {
            id: doc.id,
            name: doc.name,
            supported_triggers: doc.supported_triggers,
            code: doc.code,
            dependencies: doc.dependencies,
            runtime: doc.runtime,
            secrets: doc.secrets,
            created_at: doc.created_at,
            updated_at: doc.updated_at,
            status: doc.status,
            errors: doc.errors,
            all_changes_deployed: false,
            deployed_version: None,
        };
        let version = doc.deployed_version.map(|v| ActionVersion {
            id: v.id,
            number: v.number.unwrap_or(1),
            code: v.code.unwrap_or_else(|| action.code.clone()),
            dependencies: v
                .dependencies
                .unwrap_or_else(|| action.dependencies.clone()),
            runtime: v.runtime.unwrap_or_else(|| action.runtime.clone()),
            secrets: v.secrets.unwrap_or_else(|| action.secrets.clone()),
            supported_triggers: v
                .supported_triggers
                .unwrap_or_else(|| action.supported_triggers.clone()),
            created_at: v.created_at,
        });
        action.all_changes_deployed = match &version {
            None => false,
            Some(version) => doc
                .all_changes_deployed
                .unwrap_or_else(|| version.matches_draft(&action)),
        };
        action.deployed_version = version;
        action
    }
}

/// One Action bound to a trigger.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// A UUIDv4; generated at start-up when a tenant file leaves it out.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The bound action's id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action_id: String,
    /// Tenant files only: the bound action's name instead of its id. Resolved to
    /// `action_id` (and cleared) when the emulator starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_name: Option<String>,
    /// Defaults to the action's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub updated_at: String,
}

/// Checks made while a tenant file is read: uniqueness of the ids and names other parts
/// of the tenant refer to, and a textual `domain`. Each error is raised by the parser at
/// the offending entry, so it carries the file's line and column.
mod unique {
    use std::collections::HashSet;
    use std::fmt;

    use serde::Deserializer;
    use serde::de::{self, SeqAccess, Visitor};

    use super::{Client, Connection};

    /// A client credential's `pem` must be an RSA public key in PEM.
    pub fn public_key_pem<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
        let text: String = serde::Deserialize::deserialize(deserializer)?;
        if !text.contains("PUBLIC KEY")
            || jsonwebtoken::DecodingKey::from_rsa_pem(text.as_bytes()).is_err()
        {
            return Err(de::Error::custom(
                "`pem` must be an RSA public key in PEM (-----BEGIN PUBLIC KEY-----), e.g. from `openssl pkey -in private.pem -pubout`",
            ));
        }
        Ok(text)
    }

    /// A client credential's `alg`: one Auth0 accepts for client assertions.
    pub fn assertion_alg<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
        let text: String = serde::Deserialize::deserialize(deserializer)?;
        match text.as_str() {
            "RS256" | "RS384" | "PS256" => Ok(text),
            _ => Err(de::Error::custom(format!(
                "`alg` must be RS256, RS384 or PS256, not `{text}`"
            ))),
        }
    }

    /// `domain` must be a string: `domain: 123` or `domain: true` are refused rather than
    /// read as text.
    pub fn domain<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
        struct DomainVisitor;

        impl Visitor<'_> for DomainVisitor {
            type Value = String;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the tenant's domain as a string (e.g. acme.eu.auth0.com)")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
                Ok(value.to_owned())
            }

            fn visit_string<E: de::Error>(self, value: String) -> Result<String, E> {
                Ok(value)
            }
        }

        deserializer.deserialize_any(DomainVisitor)
    }

    /// A list whose entries each have keys that must be unique across the list.
    fn unique_list<'de, D, T>(
        deserializer: D,
        what: &'static str,
        keys: fn(&T) -> Vec<(&'static str, String)>,
    ) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: de::Deserialize<'de>,
    {
        struct ListVisitor<T> {
            what: &'static str,
            keys: fn(&T) -> Vec<(&'static str, String)>,
        }

        impl<'de, T: de::Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
            type Value = Vec<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a list of {}", self.what)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
                let mut items = Vec::new();
                let mut seen: HashSet<(&'static str, String)> = HashSet::new();
                while let Some(item) = seq.next_element::<T>()? {
                    for (field, value) in (self.keys)(&item) {
                        if value.is_empty() {
                            continue;
                        }
                        if !seen.insert((field, value.clone())) {
                            return Err(de::Error::custom(format!(
                                "two {} have the {field} {value:?}; each must be unique",
                                self.what
                            )));
                        }
                    }
                    items.push(item);
                }
                Ok(items)
            }
        }

        deserializer.deserialize_seq(ListVisitor { what, keys })
    }

    pub fn connections<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Connection>, D::Error> {
        unique_list(deserializer, "connections", |c: &Connection| {
            vec![("name", c.name.clone()), ("id", c.id.clone())]
        })
    }

    pub fn clients<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Client>, D::Error> {
        unique_list(deserializer, "clients", |c: &Client| {
            vec![("client_id", c.client_id.clone())]
        })
    }
}
