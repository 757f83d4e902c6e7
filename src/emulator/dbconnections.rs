//! `POST /dbconnections/change_password` (Authentication API, reference §6.3): sends a
//! password-reset email to a database user. No bearer token. The answer is the same
//! plain sentence whether or not the user exists (the outbox only gets a message for a
//! real user), and each source IP + email pair has its own bucket (burst 10, one more
//! per minute) with `x-ratelimit-*` headers.

use std::net::{IpAddr, Ipv4Addr};

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::connect_info::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::Emulator;
use super::auth::AuthApiFields;
use super::config::RateLimit;
use super::errors::OAuthError;
use super::faults::{ConnectionHandle, peer};
use super::logs::LogEvent;
use super::ratelimit::{self, TokenBucket};
use super::state::{OutboxKind, OutboxMessage};
use crate::auth0::StrategyKind;

/// Per IP and email: burst 10, refilled at one per minute (reference §11.2).
const RESET_LIMIT: RateLimit = RateLimit {
    burst: 10,
    per_second: 1.0 / 60.0,
};

const SENT: &str = "We've just sent you an email to reset your password.";

/// `POST /dbconnections/change_password`.
pub async fn change_password(
    State(emulator): State<Emulator>,
    connection_info: Option<Extension<ConnectInfo<ConnectionHandle>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let fields = AuthApiFields::parse(&headers, &body)?;
    let email = fields.required("email")?;
    let connection = fields.required("connection")?;
    let client_id = fields.get("client_id");
    let ip = peer(connection_info).map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |addr| addr.ip());
    let now = emulator.timestamp();
    let decision = emulator.with_world(|world| {
        let is_database = world
            .tenant
            .connection_by_name(connection)
            .is_some_and(|c| c.kind() == StrategyKind::Database);
        if !is_database {
            // Choice: the wording is ours; the reference only gives the error shape.
            return Err(OAuthError::invalid_request(
                "The connection does not exist or is not a database connection",
            ));
        }
        let decision = world
            .password_reset_limits
            .entry((ip, email.to_lowercase()))
            .or_insert_with(|| TokenBucket::new(RESET_LIMIT))
            .take(Instant::now());
        if decision.allowed {
            queue_password_reset(world, email, connection, client_id, &now);
        }
        Ok(decision)
    })?;
    let mut response = if decision.allowed {
        sent_response()
    } else {
        OAuthError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Rate limit exceeded. Please retry after some time.",
        )
        .into_response()
    };
    ratelimit::set_headers(response.headers_mut(), &emulator, decision);
    Ok(response)
}

/// Appends a password-reset email when the connection has a user with this email.
fn queue_password_reset(
    world: &mut super::World,
    email: &str,
    connection: &str,
    client_id: Option<&str>,
    now: &str,
) {
    let user = world
        .users_at(world.user_index.with_email(email))
        .find(|user| {
            user.identities.iter().any(|i| i.connection == connection)
                && user
                    .email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
        });
    let Some(user) = user.cloned() else {
        return;
    };
    let message = OutboxMessage {
        kind: OutboxKind::PasswordReset,
        to: user.email.clone().unwrap_or_default(),
        user_id: Some(user.user_id.clone()),
        connection: Some(connection.to_owned()),
        client_id: client_id.map(str::to_owned),
        job_id: None,
        at: now.to_owned(),
    };
    world.tenant.outbox.push(message);
    let event = LogEvent {
        kind: "scpr",
        description: "Password change request email has been sent",
        user: &user,
        connection,
        client_id,
        details: serde_json::json!({"email": user.email, "connection": connection}),
    };
    world.record_log(event, super::users::at_time(now));
}

/// The recorded 200: a plain sentence served as `text/html; charset=utf-8`.
fn sent_response() -> Response {
    let mut response = (StatusCode::OK, SENT).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}
