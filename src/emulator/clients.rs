//! `/api/v2/clients` and `/api/v2/clients/{id}` (reference §8, clients.json): listing
//! with `app_type`/`is_global`/`is_first_party` filters and offset or checkpoint paging,
//! and reading. What a token sees depends on its scopes: `client_secret` needs
//! `read:client_keys`, `read:client_summary` alone shows only a summary, and `grants`
//! (the emulator's stand-in for client grants) never appear.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::Emulator;
use super::auth::Token;
use super::errors::{ApiError, json_response};
use super::request::{Paging, Projection, QueryParams, project};
use super::state::{Client, JsonObject};

const READ: &[&str] = &[
    "read:clients",
    "read:client_keys",
    "read:client_credentials",
    "read:client_summary",
];

/// Fields readable with only `read:client_summary` (reference §8).
const SUMMARY_FIELDS: &[&str] = &["client_id", "app_type", "name", "description"];

const LIST_PARAMS: &[&str] = &[
    "fields",
    "include_fields",
    "page",
    "per_page",
    "include_totals",
    "from",
    "take",
    "is_global",
    "is_first_party",
    "app_type",
];

/// `GET /api/v2/clients`.
pub async fn list(
    State(emulator): State<Emulator>,
    token: Token,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    token.require(READ)?;
    let params = QueryParams::parse(query.as_deref(), LIST_PARAMS)?;
    let paging = Paging::from_query(&params, 0)?;
    let projection = Projection::from_query(&params)?;
    let filter = ClientFilter::from_query(&params)?;
    let clients: Vec<Value> = emulator.with_world(|world| {
        world
            .tenant
            .clients
            .iter()
            .filter(|c| filter.matches(c))
            .map(|c| Value::Object(project(projection.as_ref(), client_json(c, &token))))
            .collect()
    });
    Ok(json_response(
        StatusCode::OK,
        &paging.respond(clients, "clients"),
    ))
}

/// `GET /api/v2/clients/{id}`.
pub async fn read(
    State(emulator): State<Emulator>,
    token: Token,
    Path(client_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    token.require(READ)?;
    let params = QueryParams::parse(query.as_deref(), &["fields", "include_fields"])?;
    let projection = Projection::from_query(&params)?;
    let client = emulator
        .with_world(|world| {
            world
                .tenant
                .client(&client_id)
                .map(|c| client_json(c, &token))
        })
        .ok_or_else(ApiError::client_not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &project(projection.as_ref(), client),
    ))
}

/// The list filters.
struct ClientFilter {
    app_types: Option<Vec<String>>,
    is_global: Option<bool>,
    is_first_party: Option<bool>,
}

impl ClientFilter {
    fn from_query(params: &QueryParams) -> Result<ClientFilter, ApiError> {
        Ok(ClientFilter {
            app_types: params
                .get("app_type")
                .map(|types| types.split(',').map(|t| t.trim().to_owned()).collect()),
            is_global: params.boolean("is_global")?,
            is_first_party: params.boolean("is_first_party")?,
        })
    }

    fn matches(&self, client: &Client) -> bool {
        let app_type_ok = self
            .app_types
            .as_ref()
            .is_none_or(|types| client.app_type.as_ref().is_some_and(|t| types.contains(t)));
        app_type_ok
            && self.is_global.is_none_or(|g| g == client.global)
            && self
                .is_first_party
                .is_none_or(|wanted| wanted == is_first_party(client))
    }
}

/// Choice: clients are first-party unless the tenant file says otherwise (Auth0's
/// default for applications created in the dashboard).
fn is_first_party(client: &Client) -> bool {
    client
        .other
        .get("is_first_party")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// A client as a token with these scopes may see it.
fn client_json(client: &Client, token: &Token) -> JsonObject {
    let mut object = client.other.clone();
    object.insert("client_id".into(), client.client_id.clone().into());
    object.insert("name".into(), client.name.clone().into());
    if let Some(app_type) = &client.app_type {
        object.insert("app_type".into(), app_type.clone().into());
    }
    object.insert("global".into(), client.global.into());
    match &client.client_secret {
        Some(secret) if token.has("read:client_keys") => {
            object.insert("client_secret".into(), secret.clone().into());
        }
        _ => {}
    }
    let full_view = [
        "read:clients",
        "read:client_keys",
        "read:client_credentials",
    ]
    .iter()
    .any(|scope| token.has(scope));
    if !full_view {
        object.retain(|key, _| SUMMARY_FIELDS.contains(&key.as_str()));
    }
    object
}
