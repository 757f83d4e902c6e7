//! The storage an export job's `location` points at: a pre-signed, S3-like download URL
//! on the emulator's own address, `/storage/exports/{job_id}/{tenant}.{format}.gz?
//! Expires=<epoch seconds>&Key-Pair-Id=...&Signature=...` (the shape of the link in
//! Auth0's bulk-export docs), valid for 60 seconds on the emulator's clock. Every read
//! of a completed job signs a fresh link.
//!
//! It answers like pre-signed storage, not like the Management API: no bearer token, no
//! rate limit, XML error bodies. A request that also carries an `Authorization` header
//! is refused as S3 refuses two auth mechanisms (400 `InvalidArgument`; S3 echoes the
//! header in `ArgumentValue`, the emulator keeps only its scheme so no token is ever
//! echoed); an expired link gets 403 `AccessDenied` / `Request has expired`; a bad
//! signature 403 `SignatureDoesNotMatch`; a job that is gone 404 `NoSuchKey`.
//! UNCONFIRMED: the content type of the file (`application/gzip` here) and whether the
//! link's host is a CDN (Auth0's is; this one is the emulator itself).

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Emulator;
use super::bulk::{BulkKind, Phase};
use super::exports::gzip_stream;

/// Seconds a download link stays valid (reference §9.3).
pub const LINK_LIFETIME_SECONDS: i64 = 60;

const KEY_PAIR_ID: &str = "K3EMULATORKEYPAIR";

/// The signature of a link: a keyed hash of its path and expiry.
fn signature(secret: &str, path: &str, expires: i64) -> String {
    let digest = Sha256::digest(format!("{secret}\n{path}\n{expires}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn object_path(job_id: &str, file: &str) -> String {
    format!("/storage/exports/{job_id}/{file}")
}

/// A fresh link to a completed export, valid for 60 seconds from `now`.
pub fn signed_location(
    base_url: &str,
    secret: &str,
    job_id: &str,
    file: &str,
    now: OffsetDateTime,
) -> String {
    let expires = now.unix_timestamp() + LINK_LIFETIME_SECONDS;
    let path = object_path(job_id, file);
    let signature = signature(secret, &path, expires);
    format!("{base_url}{path}?Expires={expires}&Key-Pair-Id={KEY_PAIR_ID}&Signature={signature}")
}

/// `http://HOST` of the request (the emulator's own address as the client reached it).
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// `GET /storage/exports/{job_id}/{file}`.
pub async fn download(
    State(emulator): State<Emulator>,
    Path((job_id, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let scheme = value
            .to_str()
            .ok()
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or("");
        return s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
             Signature query string parameter or the Authorization header should be specified",
            &format!(
                "<ArgumentName>Authorization</ArgumentName><ArgumentValue>{} \
                 [redacted]</ArgumentValue>",
                xml_escape(scheme)
            ),
        );
    }
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(expires), Some(given)) = (param("Expires"), param("Signature")) else {
        return s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Query-string authentication requires the Signature, Expires and \
             Key-Pair-Id parameters",
            "",
        );
    };
    let now = emulator.now();
    let (secret, found) = emulator.with_world(|world| {
        let found = world
            .bulk_jobs
            .get(&job_id)
            .and_then(|job| match &job.kind {
                BulkKind::Export(export)
                    if job.phase(now, &world.timings) == Phase::Completed
                        && export.file_name(&world.tenant_name()) == file =>
                {
                    Some(std::sync::Arc::clone(export))
                }
                _ => None,
            });
        (world.storage_secret.clone(), found)
    });
    let path = object_path(&job_id, &file);
    let expires_at = expires.parse::<i64>().ok();
    if expires_at.is_none_or(|e| signature(&secret, &path, e) != given) {
        return s3_error(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. \
             Check your key and signing method.",
            "",
        );
    }
    let expires_at = expires_at.unwrap_or_default();
    if now.unix_timestamp() > expires_at {
        let expiry = OffsetDateTime::from_unix_timestamp(expires_at)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default();
        let server_time = now
            .replace_nanosecond(0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default();
        return s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Request has expired",
            &format!("<Expires>{expiry}</Expires><ServerTime>{server_time}</ServerTime>"),
        );
    }
    let Some(export) = found else {
        return s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
            &format!(
                "<Key>exports/{}/{}</Key>",
                xml_escape(&job_id),
                xml_escape(&file)
            ),
        );
    };
    let mut response = (StatusCode::OK, gzip_stream(export)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/gzip"),
    );
    response
}

/// An S3-style XML error.
fn s3_error(status: StatusCode, code: &str, message: &str, extra: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}\
         </Message>{extra}<RequestId>EMULATOR0000000</RequestId><HostId>emulator</HostId></Error>",
        xml_escape(message)
    );
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    response
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
