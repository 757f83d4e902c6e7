//! `/api/v2/actions/triggers/{triggerId}/bindings` (reference §10.3,
//! trigger-bindings.json): the ordered list of Actions a trigger runs, read with the
//! Actions paging rule and replaced as a whole by PATCH.
//!
//! PATCH refers to actions by `ref: {type: action_id | action_name | binding_id, value}`.
//! A `binding_id` ref keeps that binding (its id and `created_at`; `updated_at` moves
//! only when its `display_name` changes). Choice: an `action_id` or `action_name` ref
//! always makes a new binding (new id), even for an action that was already bound; the
//! reference only says bindings are preserved by `binding_id` or re-created by action.
//! Secrets sent with a binding are checked and dropped, like action secrets.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};

use super::actions::{self, ActionPaging, TRIGGER_IDS, action_not_found, binding_action_json};
use super::auth::Token;
use super::errors::{ApiError, json_response};
use super::request::{self, Expect, QueryParams, Schema, missing_property};
use super::state::{Action, Binding};
use super::{Emulator, World};
use crate::clock::format_timestamp_nanos;

/// At most 20 Actions per trigger (reference §10.3, limits).
const MAX_BINDINGS: usize = 20;

/// `GET /api/v2/actions/triggers/{triggerId}/bindings`.
pub async fn list(
    State(emulator): State<Emulator>,
    token: Token,
    Path(trigger_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    token.require(actions::READ)?;
    check_trigger(&trigger_id)?;
    let params = QueryParams::parse(query.as_deref(), &["page", "per_page"])?;
    let paging = ActionPaging::from_query(&params)?;
    let bindings = emulator.with_world(|world| bindings_json(world, &trigger_id));
    Ok(json_response(
        StatusCode::OK,
        &paging.respond(bindings, "bindings"),
    ))
}

const PATCH_SCHEMA: &Schema = &[("bindings", Expect::Array, false)];

/// `PATCH /api/v2/actions/triggers/{triggerId}/bindings`: replaces the whole list.
pub async fn update(
    State(emulator): State<Emulator>,
    token: Token,
    Path(trigger_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    token.require(actions::UPDATE)?;
    check_trigger(&trigger_id)?;
    let body = request::json_object(&body)?;
    request::check_payload(&body, PATCH_SCHEMA)?;
    // Choice: the spec does not mark `bindings` required; refusing a body without it is
    // safer than reading it as "unbind everything".
    let items = body
        .get("bindings")
        .and_then(Value::as_array)
        .ok_or_else(|| missing_property("bindings"))?;
    let requests = items
        .iter()
        .enumerate()
        .map(|(index, item)| BindingRequest::parse(index, item))
        .collect::<Result<Vec<_>, _>>()?;
    if requests.len() > MAX_BINDINGS {
        // Choice: the limit is documented, its error is not.
        return Err(ApiError::bad_request(format!(
            "A trigger can have at most {MAX_BINDINGS} bound actions."
        )));
    }
    let now = format_timestamp_nanos(emulator.now());
    let bindings = emulator.with_world(|world| {
        world.replace_bindings(&trigger_id, requests, &now)?;
        Ok::<_, ApiError>(bindings_json(world, &trigger_id))
    })?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "bindings": bindings }),
    ))
}

/// Choice: an unknown trigger id is a 400 path validation error (the spec types the
/// path parameter with the trigger enum), worded like the query and payload errors.
fn check_trigger(trigger_id: &str) -> Result<(), ApiError> {
    if TRIGGER_IDS.contains(&trigger_id) {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "Path validation error: 'No enum match for: \"{trigger_id}\"' on property triggerId."
    ))
    .code("invalid_uri"))
}

/// How a PATCH item names what to bind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RefKind {
    ActionId,
    ActionName,
    BindingId,
}

/// One validated PATCH item.
#[derive(Debug)]
struct BindingRequest {
    kind: RefKind,
    value: String,
    display_name: Option<String>,
}

impl BindingRequest {
    /// Each item must match the spec's only `oneOf` branch (`{ref, display_name?,
    /// secrets?}`); anything else, such as the old `{id_type, id_value}` payload, gets
    /// the validator's `oneOf` message (auth0/node-auth0#740).
    fn parse(index: usize, item: &Value) -> Result<BindingRequest, ApiError> {
        Self::try_parse(item).ok_or_else(|| {
            ApiError::invalid_body(format!(
                "Payload validation error: 'Data does not match any schemas from 'oneOf'' \
                 on property bindings[{index}]."
            ))
        })
    }

    fn try_parse(item: &Value) -> Option<BindingRequest> {
        let object = item.as_object()?;
        let known = ["ref", "display_name", "secrets"];
        if object.keys().any(|k| !known.contains(&k.as_str())) {
            return None;
        }
        let reference = object.get("ref")?.as_object()?;
        // `type` defaults to `action_name` in the spec.
        let kind = match reference.get("type") {
            None => RefKind::ActionName,
            Some(kind) => match kind.as_str()? {
                "action_id" => RefKind::ActionId,
                "action_name" => RefKind::ActionName,
                "binding_id" => RefKind::BindingId,
                _ => return None,
            },
        };
        let value = reference.get("value")?.as_str()?.to_owned();
        let display_name = match object.get("display_name") {
            None => None,
            Some(name) => Some(name.as_str()?.to_owned()),
        };
        if let Some(secrets) = object.get("secrets") {
            secrets.as_array()?.iter().try_for_each(valid_secret)?;
        }
        Some(BindingRequest {
            kind,
            value,
            display_name,
        })
    }
}

/// A binding secret: an object whose `name` and `value`, when present, are strings.
fn valid_secret(secret: &Value) -> Option<()> {
    let object = secret.as_object()?;
    let string_or_absent = |key: &str| object.get(key).is_none_or(Value::is_string);
    (string_or_absent("name") && string_or_absent("value")).then_some(())
}

impl World {
    /// Replaces the trigger's bindings with the requested ones, in order.
    fn replace_bindings(
        &mut self,
        trigger_id: &str,
        requests: Vec<BindingRequest>,
        now: &str,
    ) -> Result<(), ApiError> {
        let current = self.tenant.bindings_of(trigger_id).to_vec();
        let mut next: Vec<Binding> = Vec::with_capacity(requests.len());
        for request in requests {
            let binding = match request.kind {
                RefKind::BindingId => {
                    // Choice: 404 with our own text for an unknown binding id.
                    let mut binding = current
                        .iter()
                        .find(|b| b.id == request.value)
                        .cloned()
                        .ok_or_else(|| {
                            ApiError::new(StatusCode::NOT_FOUND, "That binding does not exist.")
                        })?;
                    if let Some(name) = request.display_name
                        && name != binding.display_name
                    {
                        binding.display_name = name;
                        binding.updated_at = now.to_owned();
                    }
                    binding
                }
                RefKind::ActionId | RefKind::ActionName => {
                    let action = self.bindable_action(trigger_id, &request)?.clone();
                    Binding {
                        id: self.new_uuid(),
                        action_id: action.id.clone(),
                        action_name: None,
                        display_name: request.display_name.unwrap_or(action.name),
                        created_at: now.to_owned(),
                        updated_at: now.to_owned(),
                    }
                }
            };
            if next.iter().any(|b| b.action_id == binding.action_id) {
                // Choice: the reference does not say whether one action may run twice
                // in a flow; the dashboard does not allow it, so neither does this.
                return Err(ApiError::bad_request(
                    "An action can be bound to a trigger only once.",
                ));
            }
            next.push(binding);
        }
        if next.is_empty() {
            self.tenant.bindings.remove(trigger_id);
        } else {
            self.tenant.bindings.insert(trigger_id.to_owned(), next);
        }
        Ok(())
    }

    /// The action an `action_id`/`action_name` ref names, if it may be bound here.
    fn bindable_action(
        &self,
        trigger_id: &str,
        request: &BindingRequest,
    ) -> Result<&Action, ApiError> {
        let action = match request.kind {
            RefKind::ActionName => self.tenant.action_by_name(&request.value),
            _ => self.tenant.action(&request.value),
        };
        // Choice: an unknown action gets the 404 of GET /actions/actions/{id}.
        let action = action.ok_or_else(action_not_found)?;
        // Exact text and status UNCONFIRMED (reference §14); 400 as the brief says.
        let version = action.deployed_version.as_ref().ok_or_else(|| {
            ApiError::bad_request(
                "Trying to create a binding for an action that has not been deployed yet",
            )
        })?;
        // What runs is the deployed version, so its triggers decide.
        if !version
            .supported_triggers
            .iter()
            .any(|t| t.id == trigger_id)
        {
            return Err(ApiError::bad_request(
                "Trying to create a binding between an incompatible action and trigger.",
            ));
        }
        Ok(action)
    }
}

/// A binding as the API shows it.
#[derive(Serialize)]
struct BindingView<'a> {
    id: &'a str,
    trigger_id: &'a str,
    action: Value,
    created_at: &'a str,
    updated_at: &'a str,
    display_name: &'a str,
}

/// The trigger's bindings in execution order.
fn bindings_json(world: &World, trigger_id: &str) -> Vec<Value> {
    world
        .tenant
        .bindings_of(trigger_id)
        .iter()
        .filter_map(|binding| {
            let action = world.tenant.action(&binding.action_id)?;
            let view = BindingView {
                id: &binding.id,
                trigger_id,
                action: binding_action_json(action),
                created_at: &binding.created_at,
                updated_at: &binding.updated_at,
                display_name: &binding.display_name,
            };
            serde_json::to_value(view).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(item: Value) -> Result<BindingRequest, ApiError> {
        BindingRequest::parse(0, &item)
    }

    #[test]
    fn refs_default_to_action_names() {
        let request = parse(json!({"ref": {"value": "geo"}})).unwrap();
        assert_eq!(request.kind, RefKind::ActionName);
        assert_eq!(request.value, "geo");
    }

    #[test]
    fn the_old_payload_and_bad_refs_do_not_match_the_one_of() {
        for item in [
            json!({"id_type": "action_id", "id_value": "x"}),
            json!({"ref": {"type": "action_uuid", "value": "x"}}),
            json!({"ref": {"type": "action_id"}}),
            json!({"ref": {"type": "action_id", "value": "x"}, "display_name": 3}),
            json!({"ref": {"type": "action_id", "value": "x"}, "secrets": [{"name": 1}]}),
            json!("x"),
        ] {
            let error = parse(item.clone()).unwrap_err();
            assert_eq!(
                error.message,
                "Payload validation error: 'Data does not match any schemas from 'oneOf'' \
                 on property bindings[0].",
                "{item}"
            );
        }
    }

    #[test]
    fn unknown_triggers_are_path_errors() {
        assert!(check_trigger("post-login").is_ok());
        let error = check_trigger("post-logon").unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.error_code, Some("invalid_uri"));
    }
}
