//! `/api/v2/actions/actions`, `/api/v2/actions/actions/{id}` and
//! `/api/v2/actions/actions/{id}/deploy` (reference §10.1–§10.2; actions.json and
//! deploy-cli-node-auth0.json): listing with the camelCase filters, creation (201),
//! reading, PATCH, DELETE (bound actions only with `force=true`) and deploy (200 with
//! the new version, as recorded; the spec says 202). Also the JSON views of actions and
//! versions that `bindings.rs` embeds, and the Actions paging rule.
//!
//! Build status machine (choice, deterministic, no wall clock): create and PATCH leave
//! the draft `pending`; each `GET /actions/actions/{id}` first advances it one step,
//! `pending → building → built`, or `→ failed` for builds started while
//! [`super::Emulator::set_action_builds_fail`] was on. Listing does not advance it. A
//! create with `deploy: true` deploys when its build reaches `built` (a PATCH before
//! then starts a new build that does not deploy). Which builds will
//! fail or deploy is kept in memory only, like the tokens; a tenant file reloaded in
//! the middle of a build finishes it as a plain, successful build.
//!
//! Timestamps have nanosecond precision, as Actions' do. Secret values are write-only:
//! they are checked and dropped, and only `{name, updated_at}` is kept and returned.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::auth::Token;
use super::errors::{ApiError, json_response};
use super::request::{
    self, Expect, QueryParams, Schema, bool_field, json_type, missing_property, query_error,
    string_field,
};
use super::state::{
    Action, ActionDependency, ActionError, ActionSecret, ActionTrigger, ActionVersion, BuildStatus,
    DEFAULT_ACTION_RUNTIME, JsonObject,
};
use super::{Emulator, World};
use crate::clock::format_timestamp_nanos;

pub const READ: &[&str] = &["read:actions"];
/// Creating and deploying (the deploy endpoint wants `create:actions`, reference §10.2).
const CREATE: &[&str] = &["create:actions"];
pub const UPDATE: &[&str] = &["update:actions"];
const DELETE: &[&str] = &["delete:actions"];

/// Every trigger id the API knows (`ActionTriggerTypeEnum` in the spec).
pub const TRIGGER_IDS: &[&str] = &[
    "post-login",
    "credentials-exchange",
    "pre-user-registration",
    "post-user-registration",
    "post-change-password",
    "send-phone-message",
    "custom-phone-provider",
    "custom-email-provider",
    "password-reset-post-challenge",
    "custom-token-exchange",
    "event-stream",
    "password-hash-migration",
    "login-post-identifier",
    "signup-post-identifier",
];

/// Default `per_page` of the Actions lists (reference §11.3).
const DEFAULT_PER_PAGE: i64 = 20;

/// What happens when a started build finishes. In memory only (see the module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PendingBuild {
    /// The build ends `failed`.
    pub fails: bool,
    /// The action is deployed when the build ends `built` (create with `deploy: true`).
    pub deploy: bool,
}

/// The errors of a failed build. Choice: the reference has no recorded failure body.
fn build_errors() -> Vec<ActionError> {
    vec![ActionError {
        id: "build_failed".to_owned(),
        msg: "The action could not be built (emulated build failure).".to_owned(),
        url: None,
    }]
}

pub fn action_not_found() -> ApiError {
    // Recorded without an errorCode (actions.json).
    ApiError::new(StatusCode::NOT_FOUND, "That action does not exist.")
}

/// `page`/`per_page` of the Actions lists and the shape of their answers.
///
/// The recordings show protobuf-style omission of zero values: `page` only when it is
/// not 0, `total` only when the page holds something (`{"bindings":[],"page":1,
/// "per_page":100}` past the end, `{"actions":[],"per_page":50}` for no match), and
/// `per_page` always (choice: the default 20 when the request gave none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActionPaging {
    page: usize,
    per_page: usize,
}

impl ActionPaging {
    pub fn from_query(params: &QueryParams) -> Result<ActionPaging, ApiError> {
        let page = params.integer("page", 0, i64::MAX)?.unwrap_or(0);
        let per_page = params
            .integer("per_page", 1, request::MAX_PER_PAGE)?
            .unwrap_or(DEFAULT_PER_PAGE);
        Ok(ActionPaging {
            page: usize::try_from(page).unwrap_or(usize::MAX),
            per_page: usize::try_from(per_page).unwrap_or(1),
        })
    }

    pub fn respond(self, items: Vec<Value>, key: &str) -> Value {
        let total = items.len();
        let slice = request::window(
            items,
            self.page.saturating_mul(self.per_page),
            self.per_page,
        );
        let mut body = JsonObject::new();
        let has_items = !slice.is_empty();
        body.insert(key.to_owned(), Value::Array(slice));
        if has_items {
            body.insert("total".to_owned(), json!(total));
        }
        if self.page != 0 {
            body.insert("page".to_owned(), json!(self.page));
        }
        body.insert("per_page".to_owned(), json!(self.per_page));
        Value::Object(body)
    }
}

/// A `triggerId` query value, or its validation error.
pub fn check_trigger_id(id: &str) -> Result<(), ApiError> {
    if TRIGGER_IDS.contains(&id) {
        Ok(())
    } else {
        Err(query_error(
            "triggerId",
            &format!("No enum match for: \"{id}\""),
        ))
    }
}

const LIST_PARAMS: &[&str] = &[
    "triggerId",
    "actionName",
    "deployed",
    "installed",
    "page",
    "per_page",
];

/// `GET /api/v2/actions/actions`. Choice: `installed=true` matches nothing, because
/// Marketplace integrations are not emulated.
pub async fn list(
    State(emulator): State<Emulator>,
    token: Token,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    token.require(READ)?;
    let params = QueryParams::parse(query.as_deref(), LIST_PARAMS)?;
    let trigger = params.get("triggerId");
    if let Some(trigger) = trigger {
        check_trigger_id(trigger)?;
    }
    let name = params.get("actionName");
    let deployed = params.boolean("deployed")?;
    let installed = params.boolean("installed")?;
    let paging = ActionPaging::from_query(&params)?;
    let actions: Vec<Value> = emulator.with_world(|world| {
        world
            .tenant
            .actions
            .iter()
            .filter(|a| trigger.is_none_or(|t| a.supported_triggers.iter().any(|s| s.id == t)))
            .filter(|a| name.is_none_or(|n| a.name == n))
            .filter(|a| deployed.is_none_or(|d| a.deployed_version.is_some() == d))
            .filter(|_| installed != Some(true))
            .map(action_json)
            .collect()
    });
    Ok(json_response(
        StatusCode::OK,
        &paging.respond(actions, "actions"),
    ))
}

const CREATE_SCHEMA: &Schema = &[
    ("name", Expect::String, false),
    ("supported_triggers", Expect::Array, false),
    ("code", Expect::String, false),
    ("runtime", Expect::String, false),
    ("dependencies", Expect::Array, false),
    ("secrets", Expect::Array, false),
    ("modules", Expect::Array, false),
    ("deploy", Expect::Boolean, false),
];

const UPDATE_SCHEMA: &Schema = &[
    ("name", Expect::String, false),
    ("supported_triggers", Expect::Array, false),
    ("code", Expect::String, false),
    ("runtime", Expect::String, false),
    ("dependencies", Expect::Array, false),
    ("secrets", Expect::Array, false),
    ("modules", Expect::Array, false),
];

/// `POST /api/v2/actions/actions`.
pub async fn create(
    State(emulator): State<Emulator>,
    token: Token,
    body: Bytes,
) -> Result<Response, ApiError> {
    token.require(CREATE)?;
    let body = request::json_object(&body)?;
    request::check_payload(&body, CREATE_SCHEMA)?;
    for required in ["name", "supported_triggers"] {
        if !body.contains_key(required) {
            return Err(missing_property(required));
        }
    }
    let change = DraftChange::parse(&body)?;
    let deploy = bool_field(&body, "deploy").unwrap_or(false);
    let now = format_timestamp_nanos(emulator.now());
    let action = emulator.with_world(|world| world.create_action(change, deploy, &now))?;
    Ok(json_response(StatusCode::CREATED, &action_json(&action)))
}

/// `GET /api/v2/actions/actions/{id}`: advances the build one step, then answers.
pub async fn read(
    State(emulator): State<Emulator>,
    token: Token,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    token.require(READ)?;
    QueryParams::parse(query.as_deref(), &[])?;
    let now = format_timestamp_nanos(emulator.now());
    let action = emulator.with_world(|world| {
        let index = world.action_index(&id)?;
        world.advance_build(index, &now);
        Ok::<_, ApiError>(action_json(&world.tenant.actions[index]))
    })?;
    Ok(json_response(StatusCode::OK, &action))
}

/// `PATCH /api/v2/actions/actions/{id}`: changes the draft and starts a new build; the
/// deployed version keeps running until the next deploy.
pub async fn update(
    State(emulator): State<Emulator>,
    token: Token,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    token.require(UPDATE)?;
    let body = request::json_object(&body)?;
    request::check_payload(&body, UPDATE_SCHEMA)?;
    let change = DraftChange::parse(&body)?;
    let now = format_timestamp_nanos(emulator.now());
    let action = emulator.with_world(|world| world.update_action(&id, change, &now))?;
    Ok(json_response(StatusCode::OK, &action_json(&action)))
}

/// `DELETE /api/v2/actions/actions/{id}`: 204; a bound action only with `force=true`,
/// which removes its bindings too.
pub async fn delete(
    State(emulator): State<Emulator>,
    token: Token,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    token.require(DELETE)?;
    let params = QueryParams::parse(query.as_deref(), &["force"])?;
    let force = params.boolean("force")?.unwrap_or(false);
    emulator.with_world(|world| world.delete_action(&id, force))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/v2/actions/actions/{id}/deploy`: the built draft becomes a new numbered
/// version, which is deployed at once. Any request body is ignored.
pub async fn deploy(
    State(emulator): State<Emulator>,
    token: Token,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    token.require(CREATE)?;
    let now = format_timestamp_nanos(emulator.now());
    let body = emulator.with_world(|world| {
        let index = world.action_index(&id)?;
        if world.tenant.actions[index].status != BuildStatus::Built {
            return Err(ApiError::bad_request(
                "A draft must be in the 'built' state before it can be deployed.",
            ));
        }
        // The embedded action is the one before this deploy (recorded `false`).
        let before = world.tenant.actions[index].clone();
        let version = world.deploy_action(index, &now);
        Ok(deploy_json(&version, &before))
    })?;
    Ok(json_response(StatusCode::OK, &body))
}

/// The draft fields of a create or PATCH body, validated.
#[derive(Debug, Default)]
pub struct DraftChange {
    name: Option<String>,
    supported_triggers: Option<Vec<ActionTrigger>>,
    code: Option<String>,
    runtime: Option<String>,
    dependencies: Option<Vec<ActionDependency>>,
    secrets: Option<Vec<SecretInput>>,
}

/// A secret of a request: its name and whether a value was sent (the value is dropped).
#[derive(Debug)]
struct SecretInput {
    name: String,
    has_value: bool,
}

impl DraftChange {
    /// Parses a body that already passed its schema's type checks.
    fn parse(body: &JsonObject) -> Result<DraftChange, ApiError> {
        if body
            .get("modules")
            .and_then(Value::as_array)
            .is_some_and(|m| !m.is_empty())
        {
            // Choice: Action modules are not emulated; refusing beats ignoring them.
            return Err(ApiError::invalid_body(
                "Action modules are not supported by the verifyctl emulator.",
            ));
        }
        let list = |name: &str| body.get(name).and_then(Value::as_array).map(Vec::as_slice);
        Ok(DraftChange {
            name: string_field(body, "name").map(str::to_owned),
            supported_triggers: list("supported_triggers").map(parse_triggers).transpose()?,
            code: string_field(body, "code").map(str::to_owned),
            runtime: string_field(body, "runtime").map(str::to_owned),
            dependencies: list("dependencies").map(parse_dependencies).transpose()?,
            secrets: list("secrets").map(parse_secrets).transpose()?,
        })
    }
}

/// `Payload validation error: '<detail>' on property <property>.`
fn property_error(property: &str, detail: &str) -> ApiError {
    ApiError::invalid_body(format!(
        "Payload validation error: '{detail}' on property {property}."
    ))
}

/// An array item as an object with only `allowed` keys (unless `open`).
fn item_object<'a>(
    property: &str,
    item: &'a Value,
    allowed: &[&str],
    open: bool,
) -> Result<&'a JsonObject, ApiError> {
    let object = item.as_object().ok_or_else(|| {
        property_error(
            property,
            &format!("Expected type object but found type {}", json_type(item)),
        )
    })?;
    if let Some(key) = object
        .keys()
        .find(|k| !open && !allowed.contains(&k.as_str()))
    {
        return Err(property_error(
            property,
            &format!("Additional properties not allowed: {key}"),
        ));
    }
    Ok(object)
}

/// A string property of an item: `Ok(None)` when absent, an error when not a string.
fn item_string(object: &JsonObject, property: &str, key: &str) -> Result<Option<String>, ApiError> {
    match object.get(key) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(property_error(
            &format!("{property}.{key}"),
            &format!("Expected type string but found type {}", json_type(other)),
        )),
    }
}

fn required_string(object: &JsonObject, property: &str, key: &str) -> Result<String, ApiError> {
    item_string(object, property, key)?
        .ok_or_else(|| property_error(property, &format!("Missing required property: {key}")))
}

/// `ActionTrigger` keys the spec allows; only `id` and `version` are kept.
const TRIGGER_KEYS: &[&str] = &[
    "id",
    "version",
    "status",
    "runtimes",
    "default_runtime",
    "compatible_triggers",
    "binding_policy",
];

fn parse_triggers(items: &[Value]) -> Result<Vec<ActionTrigger>, ApiError> {
    if items.is_empty() {
        return Err(property_error(
            "supported_triggers",
            "Array is too short (0), minimum 1",
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let property = format!("supported_triggers[{index}]");
            let object = item_object(&property, item, TRIGGER_KEYS, false)?;
            let id = required_string(object, &property, "id")?;
            if !TRIGGER_IDS.contains(&id.as_str()) {
                return Err(property_error(
                    &format!("{property}.id"),
                    &format!("No enum match for: \"{id}\""),
                ));
            }
            let version = item_string(object, &property, "version")?;
            Ok(ActionTrigger { id, version })
        })
        .collect()
}

fn parse_dependencies(items: &[Value]) -> Result<Vec<ActionDependency>, ApiError> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let property = format!("dependencies[{index}]");
            let object = item_object(&property, item, &["name", "version", "registry_url"], false)?;
            Ok(ActionDependency {
                name: required_string(object, &property, "name")?,
                version: required_string(object, &property, "version")?,
                registry_url: item_string(object, &property, "registry_url")?,
            })
        })
        .collect()
}

/// Secrets `{name, value}` (the spec allows other keys). The value is checked, then
/// dropped.
fn parse_secrets(items: &[Value]) -> Result<Vec<SecretInput>, ApiError> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let property = format!("secrets[{index}]");
            let object = item_object(&property, item, &[], true)?;
            Ok(SecretInput {
                name: required_string(object, &property, "name")?,
                has_value: item_string(object, &property, "value")?.is_some(),
            })
        })
        .collect()
}

/// Choice: the reference has no text for a duplicate name; 409 like other duplicates.
fn name_taken(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        format!("An action with the name '{name}' already exists."),
    )
}

impl World {
    /// A random (version 4) UUID from the seeded rng.
    pub(super) fn new_uuid(&mut self) -> String {
        let mut bytes: [u8; 16] = rand::RngExt::random(&mut self.rng);
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    fn action_index(&self, id: &str) -> Result<usize, ApiError> {
        self.tenant
            .actions
            .iter()
            .position(|a| a.id == id)
            .ok_or_else(action_not_found)
    }

    fn create_action(
        &mut self,
        change: DraftChange,
        deploy: bool,
        now: &str,
    ) -> Result<Action, ApiError> {
        let name = change.name.clone().unwrap_or_default();
        if self.tenant.action_by_name(&name).is_some() {
            return Err(name_taken(&name));
        }
        let mut action = Action {
            id: self.new_uuid(),
            name,
            supported_triggers: Vec::new(),
            code: String::new(),
            dependencies: Vec::new(),
            runtime: DEFAULT_ACTION_RUNTIME.to_owned(),
            secrets: Vec::new(),
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
            status: BuildStatus::Pending,
            errors: Vec::new(),
            all_changes_deployed: false,
            deployed_version: None,
        };
        apply_change(&mut action, change, now);
        self.start_build(&action.id, deploy);
        self.tenant.actions.push(action.clone());
        Ok(action)
    }

    fn update_action(
        &mut self,
        id: &str,
        change: DraftChange,
        now: &str,
    ) -> Result<Action, ApiError> {
        let index = self.action_index(id)?;
        if let Some(name) = &change.name
            && self
                .tenant
                .actions
                .iter()
                .any(|a| a.id != id && &a.name == name)
        {
            return Err(name_taken(name));
        }
        if let Some(triggers) = &change.supported_triggers {
            let bound = self.tenant.triggers_binding(id);
            if bound.iter().any(|t| !triggers.iter().any(|s| s.id == *t)) {
                // auth0/auth0-cli#462. Choice: errorCode invalid_body.
                return Err(ApiError::invalid_body("can't upgrade to this trigger."));
            }
        }
        let action = &mut self.tenant.actions[index];
        apply_change(action, change, now);
        action.status = BuildStatus::Pending;
        action.errors.clear();
        action.all_changes_deployed = false;
        action.updated_at = now.to_owned();
        let action = action.clone();
        self.start_build(id, false);
        Ok(action)
    }

    fn delete_action(&mut self, id: &str, force: bool) -> Result<(), ApiError> {
        let index = self.action_index(id)?;
        let bound = self.tenant.triggers_binding(id);
        if !bound.is_empty() && !force {
            // Choice: the reference has no text; it says only that a bound action must
            // be unbound first unless `force=true`.
            return Err(ApiError::bad_request(format!(
                "This action is bound to the trigger(s) {}. Remove the bindings first, or \
                 delete it with force=true.",
                bound.join(", ")
            )));
        }
        self.tenant.actions.remove(index);
        for list in self.tenant.bindings.values_mut() {
            list.retain(|b| b.action_id != id);
        }
        self.tenant.bindings.retain(|_, list| !list.is_empty());
        self.action_builds.remove(id);
        Ok(())
    }

    /// Starts a build of the action's draft, replacing any build in progress.
    fn start_build(&mut self, action_id: &str, deploy: bool) {
        let build = PendingBuild {
            fails: self.action_builds_fail,
            deploy,
        };
        self.action_builds.insert(action_id.to_owned(), build);
    }

    /// One step of the build status machine (module doc).
    fn advance_build(&mut self, index: usize, now: &str) {
        let action = &mut self.tenant.actions[index];
        match action.status {
            BuildStatus::Pending => action.status = BuildStatus::Building,
            BuildStatus::Building => {
                let build = self.action_builds.remove(&action.id).unwrap_or_default();
                if build.fails {
                    action.status = BuildStatus::Failed;
                    action.errors = build_errors();
                } else {
                    action.status = BuildStatus::Built;
                    if build.deploy {
                        self.deploy_action(index, now);
                    }
                }
            }
            BuildStatus::Built | BuildStatus::Failed => {}
        }
    }

    /// Makes the built draft the action's next, deployed version.
    fn deploy_action(&mut self, index: usize, now: &str) -> ActionVersion {
        let id = self.new_uuid();
        let action = &mut self.tenant.actions[index];
        let number = action.deployed_version.as_ref().map_or(0, |v| v.number) + 1;
        let version = ActionVersion::of_draft(action, id, number, now.to_owned());
        action.deployed_version = Some(version.clone());
        action.all_changes_deployed = true;
        version
    }

    /// Completes the actions and bindings of a hand-written tenant file (see
    /// [`Action`]): ids, timestamps, secrets' `updated_at`, bindings given by action name
    /// and display names. Bindings to an action the tenant does not have are dropped.
    pub(super) fn complete_actions(&mut self, now: &str) {
        for index in 0..self.tenant.actions.len() {
            if self.tenant.actions[index].id.is_empty() {
                self.tenant.actions[index].id = self.new_uuid();
            }
            let version = self.tenant.actions[index].deployed_version.as_ref();
            if version.is_some_and(|v| v.id.is_empty()) {
                let id = self.new_uuid();
                if let Some(version) = self.tenant.actions[index].deployed_version.as_mut() {
                    version.id = id;
                }
            }
            complete_timestamps(&mut self.tenant.actions[index], now);
        }
        let triggers: Vec<String> = self.tenant.bindings.keys().cloned().collect();
        for trigger in triggers {
            let list = self.tenant.bindings.remove(&trigger).unwrap_or_default();
            let mut completed = Vec::with_capacity(list.len());
            for mut binding in list {
                let action = match (&binding.action_id, &binding.action_name) {
                    (id, _) if !id.is_empty() => self.tenant.action(id),
                    (_, Some(name)) => self.tenant.action_by_name(name),
                    _ => None,
                };
                let Some(action) = action else {
                    tracing::warn!(
                        trigger,
                        action_id = binding.action_id,
                        action_name = binding.action_name,
                        "dropping a binding to an action the tenant file does not have"
                    );
                    continue;
                };
                binding.action_id = action.id.clone();
                binding.action_name = None;
                if binding.display_name.is_empty() {
                    binding.display_name = action.name.clone();
                }
                if binding.id.is_empty() {
                    binding.id = self.new_uuid();
                }
                if binding.created_at.is_empty() {
                    binding.created_at = now.to_owned();
                }
                if binding.updated_at.is_empty() {
                    binding.updated_at = binding.created_at.clone();
                }
                completed.push(binding);
            }
            if !completed.is_empty() {
                self.tenant.bindings.insert(trigger, completed);
            }
        }
    }
}

/// Fills the timestamps a tenant file left out: the action's from `now`, its version's
/// and secrets' from the action's `updated_at`.
fn complete_timestamps(action: &mut Action, now: &str) {
    if action.created_at.is_empty() {
        action.created_at = now.to_owned();
    }
    if action.updated_at.is_empty() {
        action.updated_at = action.created_at.clone();
    }
    let updated_at = action.updated_at.clone();
    let version = action.deployed_version.as_mut();
    let version_secrets = version.map(|version| {
        if version.created_at.is_empty() {
            version.created_at = updated_at.clone();
        }
        &mut version.secrets
    });
    let secrets = action
        .secrets
        .iter_mut()
        .chain(version_secrets.into_iter().flatten());
    for secret in secrets.filter(|s| s.updated_at.is_empty()) {
        secret.updated_at = updated_at.clone();
    }
}

/// Applies the fields a create or PATCH body gave. Secrets sent with a value (or new
/// ones) get `updated_at = now`; a known secret sent by name only keeps its time.
fn apply_change(action: &mut Action, change: DraftChange, now: &str) {
    if let Some(name) = change.name {
        action.name = name;
    }
    if let Some(triggers) = change.supported_triggers {
        action.supported_triggers = triggers;
    }
    if let Some(code) = change.code {
        action.code = code;
    }
    if let Some(runtime) = change.runtime {
        action.runtime = runtime;
    }
    if let Some(dependencies) = change.dependencies {
        action.dependencies = dependencies;
    }
    if let Some(secrets) = change.secrets {
        let old = std::mem::take(&mut action.secrets);
        for secret in secrets {
            let kept = old
                .iter()
                .find(|s| s.name == secret.name)
                .filter(|_| !secret.has_value)
                .map(|s| s.updated_at.clone());
            action.secrets.retain(|s| s.name != secret.name);
            action.secrets.push(ActionSecret {
                name: secret.name,
                updated_at: kept.unwrap_or_else(|| now.to_owned()),
            });
        }
    }
}

/// An action as `GET /actions/actions/{id}` shows it (field order as recorded).
#[derive(Serialize)]
struct ActionView<'a> {
    id: &'a str,
    name: &'a str,
    supported_triggers: &'a [ActionTrigger],
    created_at: &'a str,
    updated_at: &'a str,
    code: &'a str,
    dependencies: &'a [ActionDependency],
    runtime: &'a str,
    status: BuildStatus,
    secrets: &'a [ActionSecret],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [ActionError],
    #[serde(skip_serializing_if = "Option::is_none")]
    current_version: Option<CurrentVersionView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployed_version: Option<VersionView<'a>>,
    all_changes_deployed: bool,
}

/// `current_version`: a summary of the latest version, status in upper case.
#[derive(Serialize)]
struct CurrentVersionView<'a> {
    id: &'a str,
    code: &'a str,
    runtime: &'a str,
    status: &'static str,
    number: u32,
    build_time: &'a str,
    created_at: &'a str,
    updated_at: &'a str,
}

/// A version: `deployed_version` of an action, or the answer of a deploy (then with
/// `deployed: false`, no `built_at`, and the embedded `action`).
#[derive(Serialize)]
struct VersionView<'a> {
    code: &'a str,
    dependencies: &'a [ActionDependency],
    id: &'a str,
    deployed: bool,
    number: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    built_at: Option<&'a str>,
    secrets: &'a [ActionSecret],
    status: BuildStatus,
    created_at: &'a str,
    updated_at: &'a str,
    runtime: &'a str,
    supported_triggers: &'a [ActionTrigger],
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<ActionBaseView<'a>>,
}

/// The action embedded in a deploy answer.
#[derive(Serialize)]
struct ActionBaseView<'a> {
    id: &'a str,
    name: &'a str,
    supported_triggers: &'a [ActionTrigger],
    created_at: &'a str,
    updated_at: &'a str,
    all_changes_deployed: bool,
}

/// The action embedded in a binding: as recorded (trigger-bindings.json), without the
/// draft (`code`, `runtime`, `status`, `secrets`, `dependencies`) and with
/// `all_changes_deployed: false` even for a fully deployed action.
#[derive(Serialize)]
struct BindingActionView<'a> {
    id: &'a str,
    name: &'a str,
    supported_triggers: &'a [ActionTrigger],
    created_at: &'a str,
    updated_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_version: Option<CurrentVersionView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployed_version: Option<VersionView<'a>>,
    all_changes_deployed: bool,
}

/// Choice: a version is built when deployed, so its build time, `built_at` and
/// `updated_at` are its `created_at`.
fn current_version_view(version: &ActionVersion) -> CurrentVersionView<'_> {
    CurrentVersionView {
        id: &version.id,
        code: &version.code,
        runtime: &version.runtime,
        status: "BUILT",
        number: version.number,
        build_time: &version.created_at,
        created_at: &version.created_at,
        updated_at: &version.created_at,
    }
}

fn deployed_version_view(version: &ActionVersion) -> VersionView<'_> {
    VersionView {
        code: &version.code,
        dependencies: &version.dependencies,
        id: &version.id,
        deployed: true,
        number: version.number,
        built_at: Some(&version.created_at),
        secrets: &version.secrets,
        status: BuildStatus::Built,
        created_at: &version.created_at,
        updated_at: &version.created_at,
        runtime: &version.runtime,
        supported_triggers: &version.supported_triggers,
        action: None,
    }
}

fn to_json(view: &impl Serialize) -> Value {
    serde_json::to_value(view).unwrap_or(Value::Null)
}

/// An action as the API shows it.
pub fn action_json(action: &Action) -> Value {
    let version = action.deployed_version.as_ref();
    to_json(&ActionView {
        id: &action.id,
        name: &action.name,
        supported_triggers: &action.supported_triggers,
        created_at: &action.created_at,
        updated_at: &action.updated_at,
        code: &action.code,
        dependencies: &action.dependencies,
        runtime: &action.runtime,
        status: action.status,
        secrets: &action.secrets,
        errors: &action.errors,
        current_version: version.map(current_version_view),
        deployed_version: version.map(deployed_version_view),
        all_changes_deployed: action.all_changes_deployed,
    })
}

/// An action as a binding embeds it.
pub fn binding_action_json(action: &Action) -> Value {
    let version = action.deployed_version.as_ref();
    to_json(&BindingActionView {
        id: &action.id,
        name: &action.name,
        supported_triggers: &action.supported_triggers,
        created_at: &action.created_at,
        updated_at: &action.updated_at,
        current_version: version.map(current_version_view),
        deployed_version: version.map(deployed_version_view),
        all_changes_deployed: false,
    })
}

/// The answer of a deploy: the new version, with the action as it was before.
fn deploy_json(version: &ActionVersion, action: &Action) -> Value {
    to_json(&VersionView {
        deployed: false,
        built_at: None,
        action: Some(ActionBaseView {
            id: &action.id,
            name: &action.name,
            supported_triggers: &action.supported_triggers,
            created_at: &action.created_at,
            updated_at: &action.updated_at,
            all_changes_deployed: action.all_changes_deployed,
        }),
        ..deployed_version_view(version)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn action_timestamps_have_nanoseconds() {
        let at = datetime!(2026-05-29 10:45:58.888_947_671 UTC);
        assert_eq!(format_timestamp_nanos(at), "2026-05-29T10:45:58.888947671Z");
        let whole = datetime!(2026-11-22 10:00 UTC);
        assert_eq!(
            format_timestamp_nanos(whole),
            "2026-11-22T10:00:00.000000000Z"
        );
    }

    #[test]
    fn paging_omits_zero_page_and_empty_total_like_the_recordings() {
        let paging = |page, per_page| ActionPaging { page, per_page };
        let one = || vec![json!({"id": 1})];
        assert_eq!(
            paging(0, 100).respond(one(), "bindings"),
            json!({"bindings": [{"id": 1}], "total": 1, "per_page": 100})
        );
        assert_eq!(
            paging(1, 100).respond(one(), "bindings"),
            json!({"bindings": [], "page": 1, "per_page": 100})
        );
        assert_eq!(
            paging(0, 50).respond(Vec::new(), "actions"),
            json!({"actions": [], "per_page": 50})
        );
    }

    #[test]
    fn secrets_sent_by_name_only_keep_their_time() {
        let mut action: Action = serde_json::from_value(json!({"name": "a"})).unwrap();
        let secrets = |list: &[(&str, bool)]| DraftChange {
            secrets: Some(
                list.iter()
                    .map(|(name, has_value)| SecretInput {
                        name: (*name).to_owned(),
                        has_value: *has_value,
                    })
                    .collect(),
            ),
            ..DraftChange::default()
        };
        apply_change(&mut action, secrets(&[("A", true), ("B", true)]), "t1");
        apply_change(&mut action, secrets(&[("B", false), ("C", false)]), "t2");
        let times: Vec<(&str, &str)> = action
            .secrets
            .iter()
            .map(|s| (s.name.as_str(), s.updated_at.as_str()))
            .collect();
        assert_eq!(times, [("B", "t1"), ("C", "t2")]);
    }
}
