//! `GET` and `PATCH /api/v2/connections/{id}/clients` (reference §7.4): the applications
//! enabled for a connection. GET pages by checkpoint (`take` 1..1000, default 50; `from`
//! is the decimal offset of the next item) and answers `{clients:[{client_id}], next?}`.
//! PATCH takes a JSON array of 1 to 50 `{client_id, status}` and changes only the clients
//! it names (204). A connection whose tenant file says nothing has every application
//! enabled (see [`super::Connection::enabled_clients`]); the first PATCH writes the list.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Emulator;
use super::auth::Token;
use super::errors::{ApiError, json_response};
use super::request::{QueryParams, json_type, query_error};

/// Most items in one PATCH (reference §7.4).
const MAX_PATCH_ITEMS: usize = 50;

/// `GET /api/v2/connections/{id}/clients`.
pub async fn list(
    State(emulator): State<Emulator>,
    token: Token,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    token.require(&["read:connections"])?;
    let params = QueryParams::parse(query.as_deref(), &["take", "from"])?;
    let take = params.integer("take", 1, 1000)?.unwrap_or(50) as usize;
    let from = match params.get("from") {
        None => 0,
        Some(token) => token
            .parse::<usize>()
            .map_err(|_| query_error("from", "Invalid checkpoint token"))?,
    };
    let (page, total) = emulator.with_world(|world| {
        let connection = world
            .tenant
            .connections
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(ApiError::connection_not_found)?;
        let ids = connection.enabled_client_ids(&world.tenant.clients);
        let page: Vec<Value> = ids
            .iter()
            .skip(from)
            .take(take)
            .map(|id| json!({"client_id": id}))
            .collect();
        Ok::<_, ApiError>((page, ids.len()))
    })?;
    let mut body = json!({"clients": page});
    if from.saturating_add(take) < total {
        body["next"] = json!((from + take).to_string());
    }
    Ok(json_response(StatusCode::OK, &body))
}

/// `PATCH /api/v2/connections/{id}/clients`.
pub async fn update(
    State(emulator): State<Emulator>,
    token: Token,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    token.require(&["update:connections"])?;
    let changes = parse_changes(&body)?;
    emulator.with_world(|world| {
        let index = world
            .tenant
            .connections
            .iter()
            .position(|c| c.id == id)
            .ok_or_else(ApiError::connection_not_found)?;
        if changes
            .iter()
            .any(|(client_id, _)| world.tenant.client(client_id).is_none())
        {
            return Err(ApiError::client_not_found());
        }
        let clients = &world.tenant.clients;
        let connection = &world.tenant.connections[index];
        let mut enabled: Vec<String> = connection
            .enabled_client_ids(clients)
            .into_iter()
            .map(str::to_owned)
            .collect();
        for (client_id, status) in changes {
            let present = enabled.contains(&client_id);
            match (status, present) {
                (true, false) => enabled.push(client_id),
                (false, true) => enabled.retain(|c| *c != client_id),
                _ => {}
            }
        }
        world.tenant.connections[index].enabled_clients = Some(enabled);
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The body: an array of 1..=50 `{client_id: string, status: boolean}` and nothing else.
fn parse_changes(body: &[u8]) -> Result<Vec<(String, bool)>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::bad_request("Invalid request payload JSON format"))?;
    let Value::Array(items) = value else {
        return Err(ApiError::invalid_body(format!(
            "Payload validation error: 'Expected type array but found type {}'.",
            json_type(&value)
        )));
    };
    if items.is_empty() {
        return Err(ApiError::invalid_body(
            "Payload validation error: 'Array is too short (0), minimum 1'.",
        ));
    }
    if items.len() > MAX_PATCH_ITEMS {
        return Err(ApiError::invalid_body(format!(
            "Payload validation error: 'Array is too long ({}), maximum {MAX_PATCH_ITEMS}'.",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let at = format!("[{index}]");
            let Value::Object(item) = item else {
                return Err(ApiError::invalid_body(format!(
                    "Payload validation error: 'Expected type object but found type {}' on \
                     property {at}.",
                    json_type(item)
                )));
            };
            if let Some(key) = item
                .keys()
                .find(|k| !matches!(k.as_str(), "client_id" | "status"))
            {
                return Err(ApiError::invalid_body(format!(
                    "Payload validation error: 'Additional properties not allowed: {key}' on \
                     property {at}."
                )));
            }
            let client_id = match item.get("client_id") {
                Some(Value::String(id)) => id.clone(),
                Some(other) => {
                    return Err(ApiError::invalid_body(format!(
                        "Payload validation error: 'Expected type string but found type {}' on \
                         property {at}.client_id.",
                        json_type(other)
                    )));
                }
                None => {
                    return Err(ApiError::invalid_body(format!(
                        "Payload validation error: 'Missing required property: client_id' on \
                         property {at}."
                    )));
                }
            };
            let status = match item.get("status") {
                Some(Value::Bool(status)) => *status,
                Some(other) => {
                    return Err(ApiError::invalid_body(format!(
                        "Payload validation error: 'Expected type boolean but found type {}' \
                         on property {at}.status.",
                        json_type(other)
                    )));
                }
                None => {
                    return Err(ApiError::invalid_body(format!(
                        "Payload validation error: 'Missing required property: status' on \
                         property {at}."
                    )));
                }
            };
            Ok((client_id, status))
        })
        .collect()
}
