//! `POST /api/v2/jobs/verification-email` and `GET /api/v2/jobs/{id}` (reference §5,
//! §9.3; jobs-verification-email.json).
//!
//! A job's outcome is decided when it is created: the email goes to the outbox at once
//! when the user has an email, is not verified and the template is enabled, and the job
//! is `completed`; otherwise nothing is sent and the job is `failed` (the recorded job
//! for an already-verified user read back `failed`). Status timeline (choice): the 201
//! and the **first** `GET` report `pending`, every later `GET` the final status, so
//! clients must poll at least once and never wait on a clock. The outbox message names
//! the job's `client_id` only when the request gave one (Auth0 then brands with the
//! global client, which the outbox does not spell out).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::auth::Token;
use super::bulk::{BulkKind, Phase};
use super::errors::{ApiError, json_response};
use super::request::{self, Expect, Schema, missing_property, string_field};
use super::state::{Job, JobKind, JobStatus, JsonObject, User};
use super::storage;
use super::users::queue_verification_email;
use super::{Emulator, World};

const SCHEMA: &Schema = &[
    ("user_id", Expect::String, false),
    ("client_id", Expect::String, false),
    ("identity", Expect::Object, false),
    ("organization_id", Expect::String, false),
];

/// `POST /api/v2/jobs/verification-email`.
pub async fn create_verification_email(
    State(emulator): State<Emulator>,
    token: Token,
    body: Bytes,
) -> Result<Response, ApiError> {
    token.require(&["update:users"])?;
    let body = request::json_object(&body)?;
    request::check_payload(&body, SCHEMA)?;
    let user_id = string_field(&body, "user_id").ok_or_else(|| missing_property("user_id"))?;
    let identity = body
        .get("identity")
        .and_then(Value::as_object)
        .map(IdentityRef::from_body)
        .transpose()?;
    let client_id = string_field(&body, "client_id");
    let now = emulator.timestamp();
    let job = emulator.with_world(|world| {
        if let Some(client_id) = client_id {
            world.tenant.client(client_id).ok_or_else(|| {
                ApiError::bad_request("The client does not exist").code("inexistent_client")
            })?;
        }
        // Choice: an unknown user gets the same 404 as GET /users/{id} (UNCONFIRMED).
        let user = world
            .tenant
            .user(user_id)
            .cloned()
            .ok_or_else(ApiError::user_not_found)?;
        let connection = verified_connection(world, &user, identity.as_ref())?;
        Ok(start_job(world, &user, &connection, client_id, &now))
    })?;
    Ok(json_response(
        StatusCode::CREATED,
        &job_body(&job, JobStatus::Pending),
    ))
}

/// The `identity` of a verification job: `{user_id, provider, connection_id?}`.
struct IdentityRef {
    user_id: String,
    provider: String,
    connection_id: Option<String>,
}

impl IdentityRef {
    fn from_body(identity: &JsonObject) -> Result<IdentityRef, ApiError> {
        let required = |name: &str| {
            string_field(identity, name)
                .map(str::to_owned)
                .ok_or_else(|| missing_property(&format!("identity.{name}")))
        };
        let connection_id = string_field(identity, "connection_id").map(str::to_owned);
        if connection_id
            .as_deref()
            .is_some_and(|id| !is_connection_id(id))
        {
            return Err(ApiError::invalid_body(
                "Payload validation error: 'String does not match pattern \
                 ^con_[A-Za-z0-9]{16}$' on property identity.connection_id.",
            ));
        }
        Ok(IdentityRef {
            user_id: required("user_id")?,
            provider: required("provider")?,
            connection_id,
        })
    }
}

pub fn is_connection_id(id: &str) -> bool {
    id.strip_prefix("con_")
        .is_some_and(|rest| rest.len() == 16 && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// The connection name of the identity being verified: the given identity, which must
/// be one of the user's, or the primary one.
fn verified_connection(
    world: &World,
    user: &User,
    identity: Option<&IdentityRef>,
) -> Result<String, ApiError> {
    let Some(wanted) = identity else {
        return Ok(user.primary_connection().unwrap_or_default().to_owned());
    };
    let connection_name = match &wanted.connection_id {
        None => None,
        Some(id) => world
            .tenant
            .connections
            .iter()
            .find(|c| &c.id == id)
            .map(|c| Some(c.name.as_str()))
            .ok_or_else(missing_identity)?,
    };
    user.identities
        .iter()
        .find(|i| {
            i.user_id_text().as_deref() == Some(wanted.user_id.as_str())
                && i.provider.as_deref() == Some(wanted.provider.as_str())
                && connection_name.is_none_or(|name| name == i.connection)
        })
        .map(|i| i.connection.clone())
        .ok_or_else(missing_identity)
}

fn missing_identity() -> ApiError {
    ApiError::bad_request("The user exists, but does not contain the given identity.")
}

/// Creates the job, sending the email now when it can be sent.
fn start_job(
    world: &mut World,
    user: &User,
    connection: &str,
    client_id: Option<&str>,
    now: &str,
) -> Job {
    let id = world.new_job_id();
    let sent = user.email_verified != Some(true)
        && queue_verification_email(world, user, connection, client_id, Some(&id), now);
    let job = Job {
        id: id.clone(),
        kind: JobKind::VerificationEmail,
        status: if sent {
            JobStatus::Completed
        } else {
            JobStatus::Failed
        },
        created_at: now.to_owned(),
        user_id: user.user_id.clone(),
        client_id: client_id.map(str::to_owned),
    };
    world.tenant.jobs.push(job.clone());
    world.unread_jobs.insert(id);
    job
}

/// The job as the API shows it (only these four fields were recorded).
fn job_body(job: &Job, status: JobStatus) -> Value {
    json!({
        "type": job.kind,
        "status": status,
        "created_at": job.created_at,
        "id": job.id,
    })
}

/// `GET /api/v2/jobs/{id}`: verification-email jobs (see above) and bulk jobs (see
/// bulk.rs; a completed export carries a fresh download link).
pub async fn read(
    State(emulator): State<Emulator>,
    token: Token,
    Path(job_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    token.require(&["create:users", "read:users"])?;
    let now = emulator.now();
    let base_url = storage::base_url(&headers);
    let body = emulator.with_world(|world| {
        if let Some(job) = world.bulk_jobs.get(&job_id) {
            let phase = job.phase(now, &world.timings);
            let location = match (&job.kind, phase) {
                (BulkKind::Export(export), Phase::Completed) => Some(storage::signed_location(
                    &base_url,
                    &world.storage_secret,
                    &job.id,
                    &export.file_name(&world.tenant_name()),
                    now,
                )),
                _ => None,
            };
            return Some(job.body(phase, location));
        }
        let job = world.tenant.jobs.iter().find(|j| j.id == job_id)?;
        let status = if world.unread_jobs.contains(&job_id) {
            JobStatus::Pending
        } else {
            job.status
        };
        let body = job_body(job, status);
        world.unread_jobs.remove(&job_id);
        Some(body)
    });
    let body = body.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "Job not found."))?;
    Ok(json_response(StatusCode::OK, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_follow_the_documented_pattern() {
        assert!(is_connection_id("con_ftSSLHb0O7rcUGmF"));
        assert!(!is_connection_id("con_short"));
        assert!(!is_connection_id("ftSSLHb0O7rcUGmFxxxx"));
    }
}
