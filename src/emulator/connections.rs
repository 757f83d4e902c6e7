//! `/api/v2/connections` and `/api/v2/connections/{id}` (reference §7, connections.json):
//! listing with `name`/`strategy` filters and offset or checkpoint paging, reading, and
//! PATCH, which replaces `options` wholesale and resets `display_name` to `name` when
//! the body omits it.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::Emulator;
use super::auth::Token;
use super::errors::{ApiError, json_response};
use super::request::{self, Expect, Paging, Projection, QueryParams, Schema, project};
use super::state::{Connection, JsonObject, to_object};

const READ: &[&str] = &["read:connections"];

const LIST_PARAMS: &[&str] = &[
    "strategy",
    "name",
    "fields",
    "include_fields",
    "page",
    "per_page",
    "include_totals",
    "from",
    "take",
];

/// `GET /api/v2/connections`.
pub async fn list(
    State(emulator): State<Emulator>,
    token: Token,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    token.require(READ)?;
    let params = QueryParams::parse(query.as_deref(), LIST_PARAMS)?;
    let paging = Paging::from_query(&params, 1)?;
    let projection = Projection::from_query(&params)?;
    let strategies = params.all("strategy");
    let name = params.get("name");
    let connections: Vec<Value> = emulator.with_world(|world| {
        world
            .tenant
            .connections
            .iter()
            .filter(|c| name.is_none_or(|n| c.name == n))
            .filter(|c| strategies.is_empty() || strategies.contains(&c.strategy.as_str()))
            .map(|c| Value::Object(project(projection.as_ref(), connection_json(c))))
            .collect()
    });
    Ok(json_response(
        StatusCode::OK,
        &paging.respond(connections, "connections"),
    ))
}

/// `GET /api/v2/connections/{id}`.
pub async fn read(
    State(emulator): State<Emulator>,
    token: Token,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    token.require(READ)?;
    let params = QueryParams::parse(query.as_deref(), &["fields", "include_fields"])?;
    let projection = Projection::from_query(&params)?;
    let connection = emulator
        .with_world(|world| find(&world.tenant.connections, &id).map(connection_json))
        .ok_or_else(ApiError::connection_not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &project(projection.as_ref(), connection),
    ))
}

/// Patchable fields (reference §7.3); `name`, `strategy` and anything else are refused
/// as additional properties.
const PATCH_SCHEMA: &Schema = &[
    ("display_name", Expect::String, false),
    ("options", Expect::Object, true),
    ("enabled_clients", Expect::Array, false),
    ("is_domain_connection", Expect::Boolean, false),
    ("show_as_button", Expect::Boolean, false),
    ("realms", Expect::Array, false),
    ("metadata", Expect::Object, false),
    ("authentication", Expect::Object, false),
    ("connected_accounts", Expect::Object, false),
];

/// `PATCH /api/v2/connections/{id}`. Choice: `update:connections` alone allows changing
/// `options` (enforcement of `update:connections_options` is UNCONFIRMED).
pub async fn update(
    State(emulator): State<Emulator>,
    token: Token,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    token.require(&["update:connections"])?;
    let body = request::json_object(&body)?;
    request::check_payload(&body, PATCH_SCHEMA)?;
    let connection = emulator.with_world(|world| {
        let connection = world
            .tenant
            .connections
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or_else(ApiError::connection_not_found)?;
        apply_patch(connection, body);
        Ok::<_, ApiError>(connection_json(connection))
    })?;
    Ok(json_response(StatusCode::OK, &connection))
}

fn apply_patch(connection: &mut Connection, body: JsonObject) {
    connection.display_name = Some(connection.name.clone());
    for (field, value) in body {
        match (field.as_str(), value) {
            ("options", Value::Object(options)) => connection.options = Some(options),
            ("options", _) => connection.options = None,
            // The deprecated list replaces the enabled applications (reference §7.3).
            ("enabled_clients", Value::Array(ids)) => {
                connection.enabled_clients = Some(
                    ids.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                );
            }
            ("display_name", Value::String(name)) => connection.display_name = Some(name),
            (_, value) => {
                connection.other.insert(field, value);
            }
        }
    }
}

fn find<'a>(connections: &'a [Connection], id: &str) -> Option<&'a Connection> {
    connections.iter().find(|c| c.id == id)
}

/// A connection as the API shows it: as stored, plus the two fields real responses
/// always carry (`realms` defaulting to `[name]`, `is_domain_connection` to false).
fn connection_json(connection: &Connection) -> JsonObject {
    let mut object = to_object(connection);
    // Choice: the deprecated `enabled_clients` is not shown; /connections/{id}/clients is.
    object.remove("enabled_clients");
    object
        .entry("realms")
        .or_insert_with(|| Value::Array(vec![Value::String(connection.name.clone())]));
    object
        .entry("is_domain_connection")
        .or_insert(Value::Bool(false));
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn connection() -> Connection {
        Connection {
            id: "con_ftSSLHb0O7rcUGmF".into(),
            name: "partner-db".into(),
            strategy: "auth0".into(),
            display_name: Some("Partner DB".into()),
            options: json!({"mfa": {"active": true}, "passwordPolicy": "good"})
                .as_object()
                .cloned(),
            enabled_clients: None,
            other: JsonObject::new(),
        }
    }

    #[test]
    fn patch_replaces_options_and_resets_display_name() {
        let mut c = connection();
        let body = json!({"options": {"disable_signup": true}});
        apply_patch(&mut c, body.as_object().cloned().unwrap());
        assert_eq!(
            c.options.map(Value::Object),
            Some(json!({"disable_signup": true}))
        );
        assert_eq!(c.display_name.as_deref(), Some("partner-db"));
    }

    #[test]
    fn json_view_adds_realms_and_domain_flag() {
        let view = connection_json(&connection());
        assert_eq!(view["realms"], json!(["partner-db"]));
        assert_eq!(view["is_domain_connection"], json!(false));
    }
}
