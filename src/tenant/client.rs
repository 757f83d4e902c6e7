//! The Management API client: where requests are built, authenticated, sent, counted and
//! turned into typed results or [`ApiError`]s.
//!
//! - Authentication ([`super::auth`]): a static `AUTH0_API_TOKEN`, or the
//!   client-credentials grant at `/oauth/token` (form body, a client secret or a private-key
//!   JWT assertion, audience `https://DOMAIN/api/v2/` or `AUTH0_AUDIENCE`), cached until a
//!   minute before it expires and refreshed once on a 401.
//! - Transport: HTTPS only, except for loopback hosts (the emulator).
//! - Each logical request goes through one pipeline ([`ManagementClient::send`]): build it
//!   (token, body), wait for the pacer ([`super::pacing`]), send and count it, then let the
//!   retry rules ([`super::retry`]) decide: done, wait out a 429, refresh the token, or back
//!   off and send again. Idempotent requests (reads, PATCHes) are retried after transient
//!   failures; creates and emails only when Auth0 says it did nothing, and a lost answer is
//!   returned as an outcome-unknown error for the caller (`apply`) to resolve.
//! - Every request is counted per endpoint, for reports and benchmarks.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::{Method, StatusCode, header};
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use super::auth::{AuthMethod, Authenticator, Credentials, TokenNeed};
use super::error::ApiError;
use super::pacing::{Pacer, PacingConfig};
use super::retry::{Attempt, DEFAULT_BACKOFF_BASE, Decision, Replay, RetryState};
use super::types::{
    Action, ActionRequest, ActionVersion, ActionsPage, Binding, BindingRef, BindingsPage,
    ChangePasswordRequest, CheckpointPage, Client, Connection, ConnectionPatch, CreateUserRequest,
    ErrorBody, ImportRecordError, Job, TokenResponse, User, UserPatch, UsersExportRequest,
    VerificationEmailRequest,
};
use super::users::{ProgressHook, UserReads};
use crate::secret::Secret;

/// Where the tenant is: the base URL and the Management API audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantTarget {
    pub base_url: Url,
    pub audience: String,
}

impl TenantTarget {
    /// Accepts `tenant.eu.auth0.com`, `https://tenant.eu.auth0.com` or, for loopback hosts
    /// only, `http://127.0.0.1:PORT`.
    pub fn parse(domain: &str) -> Result<TenantTarget, ApiError> {
        let domain = domain.trim().trim_end_matches('/');
        if domain.is_empty() {
            return Err(ApiError::Config(
                "AUTH0_DOMAIN is empty; set it to your tenant's domain, e.g. acme.eu.auth0.com"
                    .into(),
            ));
        }
        let with_scheme = if domain.contains("://") {
            domain.to_string()
        } else {
            format!("https://{domain}")
        };
        let base_url = Url::parse(&with_scheme).map_err(|e| {
            ApiError::Config(format!("AUTH0_DOMAIN `{domain}` is not a valid host: {e}"))
        })?;
        let host = base_url
            .host_str()
            .ok_or_else(|| ApiError::Config(format!("AUTH0_DOMAIN `{domain}` has no host")))?
            .to_string();
        match base_url.scheme() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            "http" => {
                return Err(ApiError::Config(format!(
                    "refusing plain http to `{host}`: credentials and user data must travel over https (plain http is allowed only for loopback addresses, i.e. the emulator)"
                )));
            }
            other => {
                return Err(ApiError::Config(format!(
                    "unsupported scheme `{other}` in AUTH0_DOMAIN; use https"
                )));
            }
        }
        if base_url.path() != "/" || base_url.query().is_some() {
            return Err(ApiError::Config(format!(
                "AUTH0_DOMAIN `{domain}` must be a bare domain without a path"
            )));
        }
        let authority = match base_url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        Ok(TenantTarget {
            audience: format!("https://{authority}/api/v2/"),
            base_url,
        })
    }
}

impl TenantTarget {
    /// [`TenantTarget::parse`], with the Management API audience from `audience`
    /// (`AUTH0_AUDIENCE`, `--audience`) when given: for a custom domain, `domain` is the
    /// custom domain verifyctl talks to and `audience` names the tenant's canonical domain
    /// (`https://TENANT.REGION.auth0.com/api/v2/`, or just that domain), which is the only
    /// audience the Management API accepts.
    pub fn parse_with_audience(
        domain: &str,
        audience: Option<&str>,
    ) -> Result<TenantTarget, ApiError> {
        let mut target = TenantTarget::parse(domain)?;
        if let Some(audience) = audience.map(str::trim).filter(|a| !a.is_empty()) {
            target.audience = management_audience(audience)?;
        }
        Ok(target)
    }

    /// The tenant's canonical domain (with a port, for the emulator): the host of the
    /// Management API audience, whatever domain requests go to.
    pub fn canonical_domain(&self) -> &str {
        self.audience
            .trim_start_matches("https://")
            .trim_end_matches("/api/v2/")
    }

    /// The `aud` of a client assertion: the URL (with its trailing slash) of the domain
    /// that receives it, the tenant's or its custom domain (Auth0 docs, "Authenticate with
    /// Private Key JWT").
    pub fn assertion_audience(&self) -> String {
        format!("https://{}/", self.authority())
    }

    fn authority(&self) -> String {
        let host = self.base_url.host_str().unwrap_or_default();
        match self.base_url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }

    /// What names the tenant in reports and saved plans: the host with its port when it
    /// has one (two emulators on one machine are two tenants), and the tenant the token is
    /// for when that differs (a custom domain in front of `TENANT.auth0.com`).
    pub fn identity(&self) -> String {
        let authority = self.authority();
        let canonical = self.canonical_domain();
        if canonical == authority {
            authority
        } else {
            format!("{authority} (tenant {canonical})")
        }
    }
}

/// `AUTH0_AUDIENCE` as the Management API identifier `https://DOMAIN/api/v2/`: a full
/// identifier (the trailing slash may be left out) or a bare domain.
fn management_audience(text: &str) -> Result<String, ApiError> {
    let wrong = |why: &str| {
        ApiError::Config(format!(
            "AUTH0_AUDIENCE `{text}` {why}; set it to the tenant's Management API identifier, https://TENANT.REGION.auth0.com/api/v2/ (the canonical domain, also when AUTH0_DOMAIN is a custom domain), or unset it"
        ))
    };
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("https://{text}")
    };
    let url = Url::parse(&with_scheme).map_err(|_| wrong("is not a URL"))?;
    if url.scheme() != "https" {
        return Err(wrong("must start with https://"));
    }
    let host = url.host_str().ok_or_else(|| wrong("has no domain"))?;
    if url.query().is_some() || !matches!(url.path(), "/" | "/api/v2" | "/api/v2/") {
        return Err(wrong(
            "is not a Management API audience (its path must be /api/v2/)",
        ));
    }
    Ok(match url.port() {
        Some(port) => format!("https://{host}:{port}/api/v2/"),
        None => format!("https://{host}/api/v2/"),
    })
}

pub(super) fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Request counts by endpoint, plus throttling and retry figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallStats {
    /// `"GET /api/v2/users"` → number of HTTP requests sent (retries included).
    pub requests: BTreeMap<String, u64>,
    /// 429 answers that were waited out.
    pub throttled: u64,
    /// Requests repeated after a 5xx or transport failure.
    pub retries: u64,
    /// Export files downloaded from storage (not Management API requests).
    #[serde(skip_serializing_if = "is_zero")]
    pub downloads: u64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl CallStats {
    pub fn total(&self) -> u64 {
        self.requests.values().sum()
    }

    /// What happened between `before` (an earlier copy) and these figures.
    pub fn since(&self, before: &CallStats) -> CallStats {
        let mut requests = self.requests.clone();
        for (endpoint, count) in &before.requests {
            if let Some(value) = requests.get_mut(endpoint) {
                *value = value.saturating_sub(*count);
            }
        }
        requests.retain(|_, count| *count > 0);
        CallStats {
            requests,
            throttled: self.throttled.saturating_sub(before.throttled),
            retries: self.retries.saturating_sub(before.retries),
            downloads: self.downloads.saturating_sub(before.downloads),
        }
    }
}

/// The Management API client. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct ManagementClient {
    http: reqwest::Client,
    target: TenantTarget,
    auth: Authenticator,
    stats: Mutex<CallStats>,
    pacer: Pacer,
    backoff_base: Duration,
    user_reads: UserReads,
    progress: Option<ProgressHook>,
    /// For export downloads: pre-signed storage links, never given the bearer token.
    storage: reqwest::Client,
}

/// What a request carries.
enum Body<'a> {
    None,
    Json(&'a (dyn erased::JsonBody + Sync)),
    Form(Vec<(&'static str, &'a str)>),
    /// A users-import upload (multipart, reference §9.1).
    Import {
        connection_id: &'a str,
        file: &'a [u8],
    },
}

mod erased {
    /// Object-safe `Serialize` for request bodies.
    pub trait JsonBody {
        fn to_json(&self) -> Result<Vec<u8>, serde_json::Error>;
    }
    impl<T: serde::Serialize> JsonBody for T {
        fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
            serde_json::to_vec(self)
        }
    }
}

/// A successful answer.
struct Answer {
    text: String,
}

/// Whether a request carries the Management API bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    Bearer,
    /// Authentication API calls (`/oauth/token`, `/dbconnections/*`).
    None,
}

/// One logical request, as the pipeline sends it (perhaps several times).
struct Request<'a> {
    method: Method,
    /// How the request is counted and named in errors: `GET /api/v2/users/{id}`.
    endpoint: &'a str,
    segments: &'a [&'a str],
    query: &'a [(&'a str, &'a str)],
    body: Body<'a>,
    auth: Auth,
    replay: Replay,
}

impl ManagementClient {
    pub fn new(
        target: TenantTarget,
        credentials: Credentials,
    ) -> Result<ManagementClient, ApiError> {
        // Loopback traffic (the emulator) never goes through a proxy: the token and the
        // passwords of creates would travel through it, and an unreachable proxy would fail
        // the run. Real tenants use the system's proxy settings, NO_PROXY included.
        let loopback = is_loopback(target.base_url.host_str().unwrap_or_default());
        let builder = || {
            let builder = reqwest::Client::builder()
                .user_agent(concat!("verifyctl/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(10));
            if loopback {
                builder.no_proxy()
            } else {
                builder
            }
        };
        let http = builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ApiError::Config(format!("cannot build the HTTP client: {e}")))?;
        let storage = builder()
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let url = attempt.url();
                let safe = url.scheme() == "https"
                    || (url.scheme() == "http" && is_loopback(url.host_str().unwrap_or_default()));
                if attempt.previous().len() >= 5 || !safe {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .map_err(|e| ApiError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(ManagementClient {
            http,
            target,
            auth: Authenticator::new(credentials),
            stats: Mutex::new(CallStats::default()),
            pacer: Pacer::new(PacingConfig::UNLIMITED),
            backoff_base: DEFAULT_BACKOFF_BASE,
            user_reads: UserReads::default(),
            progress: None,
            storage,
        })
    }

    /// Shortens (or lengthens) the retry backoff; tests use milliseconds.
    pub fn with_backoff_base(mut self, base: Duration) -> ManagementClient {
        self.backoff_base = base;
        self
    }

    /// Paces requests as `config` says (the default client only follows the server's
    /// rate-limit headers).
    pub fn with_pacing(mut self, config: PacingConfig) -> ManagementClient {
        self.pacer = Pacer::new(config);
        self
    }

    /// How connections' users are read (search threshold, export polling).
    pub fn with_user_reads(mut self, reads: UserReads) -> ManagementClient {
        self.user_reads = reads;
        self
    }

    /// Called while long reads wait (export jobs), for progress on stderr.
    pub fn with_progress(mut self, hook: ProgressHook) -> ManagementClient {
        self.progress = Some(hook);
        self
    }

    pub fn target(&self) -> &TenantTarget {
        &self.target
    }

    pub(super) fn user_reads(&self) -> UserReads {
        self.user_reads
    }

    pub(super) fn progress_hook(&self) -> Option<&ProgressHook> {
        self.progress.as_ref()
    }

    pub(super) fn storage_client(&self) -> &reqwest::Client {
        &self.storage
    }

    pub(super) fn note_download(&self) {
        if let Ok(mut stats) = self.stats.lock() {
            stats.downloads += 1;
        }
    }

    /// A copy of the request counters so far.
    pub fn stats(&self) -> CallStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    // ----- reads -----

    /// Every connection of the tenant (checkpoint paging, so more than 1000 work).
    pub async fn list_connections(&self) -> Result<Vec<Connection>, ApiError> {
        self.checkpoint_list(&["api", "v2", "connections"], &[])
            .await
    }

    /// Every application, without secrets.
    pub async fn list_clients(&self) -> Result<Vec<Client>, ApiError> {
        self.checkpoint_list(
            &["api", "v2", "clients"],
            &[
                ("fields", "client_id,name,app_type,global"),
                ("include_fields", "true"),
            ],
        )
        .await
    }

    /// Users with exactly this email, in any connection (immediately consistent, unlike
    /// search). Database emails are stored lower-cased, so the address is lower-cased.
    pub async fn users_by_email(&self, email: &str) -> Result<Vec<User>, ApiError> {
        let email = email.to_lowercase();
        self.get_json(
            "GET /api/v2/users-by-email",
            &["api", "v2", "users-by-email"],
            &[("email", email.as_str())],
        )
        .await
    }

    pub async fn get_user(&self, user_id: &str) -> Result<User, ApiError> {
        self.get_json(
            "GET /api/v2/users/{id}",
            &["api", "v2", "users", user_id],
            &[],
        )
        .await
    }

    /// Starts a users-export job (repeating it only starts another export: safe).
    pub async fn start_users_export(&self, request: &UsersExportRequest) -> Result<Job, ApiError> {
        self.write_json(
            Method::POST,
            "POST /api/v2/jobs/users-exports",
            &["api", "v2", "jobs", "users-exports"],
            Body::Json(request),
            Replay::Safe,
        )
        .await
    }

    /// Starts a users-import job: `file` (a JSON array of records, at most 512,000 bytes)
    /// into the connection, never upserting, without the completion email Auth0 would send
    /// to the tenant's owners. Repeating it after a lost answer is safe: records already
    /// imported come back as `DUPLICATED_USER`.
    pub async fn start_users_import(
        &self,
        connection_id: &str,
        file: Vec<u8>,
    ) -> Result<Job, ApiError> {
        let endpoint = "POST /api/v2/jobs/users-imports";
        let answer = self
            .send(Request {
                method: Method::POST,
                endpoint,
                segments: &["api", "v2", "jobs", "users-imports"],
                query: &[],
                body: Body::Import {
                    connection_id,
                    file: &file,
                },
                auth: Auth::Bearer,
                replay: Replay::IfNotApplied,
            })
            .await?;
        decode(endpoint, &answer)
    }

    /// The records a users-import job refused (none when Auth0 answers 204).
    pub async fn import_errors(&self, job_id: &str) -> Result<Vec<ImportRecordError>, ApiError> {
        let endpoint = "GET /api/v2/jobs/{id}/errors";
        let answer = self
            .send(Request {
                method: Method::GET,
                endpoint,
                segments: &["api", "v2", "jobs", job_id, "errors"],
                query: &[],
                body: Body::None,
                auth: Auth::Bearer,
                replay: Replay::Safe,
            })
            .await?;
        if answer.text.trim().is_empty() {
            return Ok(Vec::new());
        }
        // A systemic failure answers with the job itself rather than a list.
        if let Ok(errors) = serde_json::from_str::<Vec<ImportRecordError>>(&answer.text) {
            return Ok(errors);
        }
        let job: Job = decode(endpoint, &answer)?;
        Err(ApiError::Decode {
            endpoint: endpoint.to_string(),
            detail: format!(
                "the import job {} failed as a whole: {}",
                job.id,
                job.status_details.unwrap_or_else(|| job.status.clone())
            ),
        })
    }

    pub async fn get_job(&self, job_id: &str) -> Result<Job, ApiError> {
        self.get_json("GET /api/v2/jobs/{id}", &["api", "v2", "jobs", job_id], &[])
            .await
    }

    pub async fn get_connection(&self, id: &str) -> Result<Connection, ApiError> {
        self.get_json(
            "GET /api/v2/connections/{id}",
            &["api", "v2", "connections", id],
            &[],
        )
        .await
    }

    /// The action named exactly `name`, if any.
    pub async fn find_action(&self, name: &str) -> Result<Option<Action>, ApiError> {
        let page: ActionsPage = self
            .get_json(
                "GET /api/v2/actions/actions",
                &["api", "v2", "actions", "actions"],
                &[("actionName", name), ("per_page", "50")],
            )
            .await?;
        Ok(page.actions.into_iter().find(|a| a.name == name))
    }

    pub async fn get_action(&self, id: &str) -> Result<Action, ApiError> {
        self.get_json(
            "GET /api/v2/actions/actions/{id}",
            &["api", "v2", "actions", "actions", id],
            &[],
        )
        .await
    }

    /// Every binding of `trigger`, in execution order.
    pub async fn list_bindings(&self, trigger: &str) -> Result<Vec<Binding>, ApiError> {
        let mut bindings = Vec::new();
        for page in 0u64.. {
            let page_text = page.to_string();
            let result: BindingsPage = self
                .get_json(
                    "GET /api/v2/actions/triggers/{trigger}/bindings",
                    &["api", "v2", "actions", "triggers", trigger, "bindings"],
                    &[("page", page_text.as_str()), ("per_page", "50")],
                )
                .await?;
            let received = result.bindings.len();
            bindings.extend(result.bindings);
            let done = received < 50
                || result
                    .total
                    .is_some_and(|total| bindings.len() as u64 >= total);
            if done {
                break;
            }
        }
        Ok(bindings)
    }

    // ----- writes (sent once; see the module doc) -----

    /// PATCH a connection (`options` is replaced wholesale by Auth0: send all of it).
    pub async fn update_connection(
        &self,
        id: &str,
        patch: &ConnectionPatch,
    ) -> Result<Connection, ApiError> {
        self.write_json(
            Method::PATCH,
            "PATCH /api/v2/connections/{id}",
            &["api", "v2", "connections", id],
            Body::Json(patch),
            Replay::Safe,
        )
        .await
    }

    pub async fn create_action(&self, request: &ActionRequest) -> Result<Action, ApiError> {
        self.write_json(
            Method::POST,
            "POST /api/v2/actions/actions",
            &["api", "v2", "actions", "actions"],
            Body::Json(request),
            Replay::IfNotApplied,
        )
        .await
    }

    pub async fn update_action(
        &self,
        id: &str,
        request: &ActionRequest,
    ) -> Result<Action, ApiError> {
        self.write_json(
            Method::PATCH,
            "PATCH /api/v2/actions/actions/{id}",
            &["api", "v2", "actions", "actions", id],
            Body::Json(request),
            Replay::Safe,
        )
        .await
    }

    /// Deploys the built draft (Auth0 answers 200 or 202 with the new version).
    pub async fn deploy_action(&self, id: &str) -> Result<ActionVersion, ApiError> {
        self.write_json(
            Method::POST,
            "POST /api/v2/actions/actions/{id}/deploy",
            &["api", "v2", "actions", "actions", id, "deploy"],
            Body::None,
            Replay::Safe,
        )
        .await
    }

    /// Replaces the whole binding list of `trigger` (reference §10.3).
    pub async fn update_bindings(
        &self,
        trigger: &str,
        bindings: &[BindingRef],
    ) -> Result<Vec<Binding>, ApiError> {
        #[derive(serde::Serialize)]
        struct BindingList<'a> {
            bindings: &'a [BindingRef],
        }
        let page: BindingsPage = self
            .write_json(
                Method::PATCH,
                "PATCH /api/v2/actions/triggers/{trigger}/bindings",
                &["api", "v2", "actions", "triggers", trigger, "bindings"],
                Body::Json(&BindingList { bindings }),
                Replay::Safe,
            )
            .await?;
        Ok(page.bindings)
    }

    pub async fn create_user(&self, request: &CreateUserRequest) -> Result<User, ApiError> {
        self.write_json(
            Method::POST,
            "POST /api/v2/users",
            &["api", "v2", "users"],
            Body::Json(request),
            Replay::IfNotApplied,
        )
        .await
    }

    pub async fn update_user(&self, user_id: &str, patch: &UserPatch) -> Result<User, ApiError> {
        self.write_json(
            Method::PATCH,
            "PATCH /api/v2/users/{id}",
            &["api", "v2", "users", user_id],
            Body::Json(patch),
            Replay::Safe,
        )
        .await
    }

    /// `DELETE /api/v2/users/{id}`. Deleting is idempotent (Auth0 answers 204 for a user
    /// already gone), and a 404 is taken as "already gone" too, so a retry is always safe.
    pub async fn delete_user(&self, user_id: &str) -> Result<(), ApiError> {
        let answer = self
            .send(Request {
                method: Method::DELETE,
                endpoint: "DELETE /api/v2/users/{id}",
                segments: &["api", "v2", "users", user_id],
                query: &[],
                body: Body::None,
                auth: Auth::Bearer,
                replay: Replay::Safe,
            })
            .await;
        match answer {
            Ok(_) => Ok(()),
            Err(error) if error.status() == Some(404) => Ok(()),
            Err(error) => Err(error),
        }
    }

    pub async fn send_verification_email(
        &self,
        request: &VerificationEmailRequest,
    ) -> Result<Job, ApiError> {
        self.write_json(
            Method::POST,
            "POST /api/v2/jobs/verification-email",
            &["api", "v2", "jobs", "verification-email"],
            Body::Json(request),
            Replay::IfNotApplied,
        )
        .await
    }

    /// Asks Auth0 to email a password-reset link (Authentication API; no bearer token). The
    /// answer is a sentence of text, not JSON.
    pub async fn send_password_reset(
        &self,
        request: &ChangePasswordRequest,
    ) -> Result<(), ApiError> {
        self.send(Request {
            method: Method::POST,
            endpoint: "POST /dbconnections/change_password",
            segments: &["dbconnections", "change_password"],
            query: &[],
            body: Body::Json(request),
            auth: Auth::None,
            replay: Replay::IfNotApplied,
        })
        .await
        .map(|_| ())
    }

    // ----- plumbing -----

    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<T, ApiError> {
        let answer = self
            .send(Request {
                method: Method::GET,
                endpoint,
                segments,
                query,
                body: Body::None,
                auth: Auth::Bearer,
                replay: Replay::Safe,
            })
            .await?;
        decode(endpoint, &answer)
    }

    /// An authenticated write with a JSON answer.
    async fn write_json<T: DeserializeOwned>(
        &self,
        method: Method,
        endpoint: &str,
        segments: &[&str],
        body: Body<'_>,
        replay: Replay,
    ) -> Result<T, ApiError> {
        let answer = self
            .send(Request {
                method,
                endpoint,
                segments,
                query: &[],
                body,
                auth: Auth::Bearer,
                replay,
            })
            .await?;
        decode(endpoint, &answer)
    }

    async fn checkpoint_list<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        extra: &[(&str, &str)],
    ) -> Result<Vec<T>, ApiError> {
        let endpoint = format!("GET /{}", segments.join("/"));
        let mut items = Vec::new();
        let mut from: Option<String> = None;
        loop {
            let mut query: Vec<(&str, &str)> = extra.to_vec();
            query.push(("take", "100"));
            if let Some(from) = &from {
                query.push(("from", from.as_str()));
            }
            let page: CheckpointPage<T> = self.get_json(&endpoint, segments, &query).await?;
            let empty = page.items.is_empty();
            items.extend(page.items);
            match page.next {
                Some(next) if !next.is_empty() && !empty => from = Some(next),
                _ => return Ok(items),
            }
        }
    }

    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<Url, ApiError> {
        let mut url = self.target.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| ApiError::Config("the tenant URL cannot take a path".into()))?
            .clear()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Sends one logical request through the pipeline: build (token, body), pace, send and
    /// count, then do what the retry rules decide ([`super::retry`]).
    async fn send(&self, request: Request<'_>) -> Result<Answer, ApiError> {
        let endpoint = request.endpoint;
        let url = self.url(request.segments, request.query)?;
        let payload = match &request.body {
            Body::Json(value) => Some(value.to_json().map_err(|e| ApiError::Decode {
                endpoint: endpoint.to_string(),
                detail: format!("cannot encode the request: {e}"),
            })?),
            _ => None,
        };
        let refreshable = request.auth == Auth::Bearer && self.auth.refreshable();
        let mut retry = RetryState::new(request.replay, refreshable, self.backoff_base);
        let mut attempt = 0u32;
        loop {
            let http = self.build(&request, &url, payload.as_deref()).await?;
            self.pacer.acquire().await;
            self.count(endpoint);
            attempt += 1;
            let started = Instant::now();
            let sent = http.send().await;
            log_request(&request.method, &url, &sent, attempt, started.elapsed());
            let decision = match &sent {
                Err(_) => {
                    self.pacer.unanswered().await;
                    retry.decide(Attempt::NoAnswer)
                }
                Ok(response) => {
                    let accepted = response.status() != StatusCode::TOO_MANY_REQUESTS;
                    self.pacer.observe(response.headers(), accepted).await;
                    retry.decide(Attempt::Answered {
                        status: response.status(),
                        headers: response.headers(),
                    })
                }
            };
            match decision {
                Decision::Done => {
                    return finish(endpoint, sent)
                        .await
                        .map_err(|error| error.with_auth_method(self.auth.method()));
                }
                Decision::WaitOutRateLimit(wait) => {
                    self.note_throttled();
                    tracing::debug!(
                        endpoint,
                        wait_ms = wait.as_millis() as u64,
                        "rate limited; waiting"
                    );
                    self.pacer.back_off(wait).await;
                }
                Decision::RefreshToken => self.auth.forget().await,
                Decision::Retry(wait) => {
                    self.note_retry();
                    tracing::debug!(
                        endpoint,
                        attempt = retry.failures(),
                        "transient failure; retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// The HTTP request for one attempt: the bearer token (fetched or cached) and the body.
    async fn build(
        &self,
        request: &Request<'_>,
        url: &Url,
        payload: Option<&[u8]>,
    ) -> Result<reqwest::RequestBuilder, ApiError> {
        let mut http = self.http.request(request.method.clone(), url.clone());
        if request.auth == Auth::Bearer {
            let token = self.access_token().await?;
            http = http.bearer_auth(token.expose());
        }
        Ok(match (&request.body, payload) {
            (Body::Json(_), Some(bytes)) => http
                .header(header::CONTENT_TYPE, "application/json")
                .body(bytes.to_vec()),
            (Body::Form(fields), _) => http.form(fields),
            (
                Body::Import {
                    connection_id,
                    file,
                },
                _,
            ) => {
                let users = reqwest::multipart::Part::bytes(file.to_vec())
                    .file_name("users.json")
                    .mime_str("application/json")
                    .map_err(|e| {
                        ApiError::Config(format!("cannot build the import upload: {e}"))
                    })?;
                let form = reqwest::multipart::Form::new()
                    .part("users", users)
                    .text("connection_id", (*connection_id).to_string())
                    .text("upsert", "false")
                    .text("send_completion_email", "false");
                http.multipart(form)
            }
            _ => http,
        })
    }

    /// The bearer token: static, cached, or fetched now through the pipeline (the token
    /// logic, assertions included, is in [`super::auth`]).
    async fn access_token(&self) -> Result<Secret, ApiError> {
        let (form, guard) = match self.auth.begin(&self.target).await {
            Ok(TokenNeed::Ready(token)) => return Ok(token),
            Ok(TokenNeed::Request(form, guard)) => (form, guard),
            Err(reason) => {
                return Err(ApiError::Config(format!(
                    "cannot sign the client assertion with {}: {reason}",
                    super::auth::ENV_ASSERTION_KEY
                )));
            }
        };
        let answer = Box::pin(self.send(Request {
            method: Method::POST,
            endpoint: "POST /oauth/token",
            segments: &["oauth", "token"],
            query: &[],
            body: Body::Form(form.fields()),
            auth: Auth::None,
            replay: Replay::Safe,
        }))
        .await?;
        let response: TokenResponse = decode("POST /oauth/token", &answer)?;
        Ok(self.auth.accept(guard, response))
    }

    /// The scopes the tenant granted the current token (its token response's `scope`, or
    /// a static JWT's `scope` claim), getting a token first if there is none yet. `None`
    /// when they cannot be known (an opaque static token).
    pub async fn granted_scopes(&self) -> Result<Option<BTreeSet<String>>, ApiError> {
        self.access_token().await?;
        Ok(self.auth.granted_scopes())
    }

    /// How this client authenticates.
    pub fn auth_method(&self) -> AuthMethod {
        self.auth.method()
    }

    fn count(&self, endpoint: &str) {
        if let Ok(mut stats) = self.stats.lock() {
            *stats.requests.entry(endpoint.to_string()).or_default() += 1;
        }
    }

    fn note_throttled(&self) {
        if let Ok(mut stats) = self.stats.lock() {
            stats.throttled += 1;
        }
    }

    fn note_retry(&self) {
        if let Ok(mut stats) = self.stats.lock() {
            stats.retries += 1;
        }
    }
}

/// One debug line per request: method, path (ids kept), query (email addresses masked),
/// status or failure, attempt and duration. Never a token or a body.
fn log_request(
    method: &Method,
    url: &Url,
    sent: &Result<reqwest::Response, reqwest::Error>,
    attempt: u32,
    took: Duration,
) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let query: Vec<String> = url
        .query_pairs()
        .map(|(key, value)| format!("{key}={}", crate::mask::mask_emails(&value)))
        .collect();
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    let outcome = match sent {
        Ok(response) => response.status().as_u16().to_string(),
        Err(error) if error.is_timeout() => "timed out".to_string(),
        Err(_) => "no answer".to_string(),
    };
    tracing::debug!(
        "{method} {}{query} -> {outcome} (attempt {attempt}, {} ms)",
        url.path(),
        took.as_millis()
    );
}

/// The caller's result of the last attempt: the answer's text on success, else the error.
async fn finish(
    endpoint: &str,
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<Answer, ApiError> {
    let response = sent.map_err(|error| ApiError::Transport {
        endpoint: endpoint.to_string(),
        detail: describe_transport_error(&error),
    })?;
    let status = response.status();
    let text = response.text().await.map_err(|e| ApiError::Transport {
        endpoint: endpoint.to_string(),
        detail: describe_transport_error(&e),
    })?;
    if status.is_success() {
        Ok(Answer { text })
    } else {
        Err(status_error(endpoint, status, &text))
    }
}

fn decode<T: DeserializeOwned>(endpoint: &str, answer: &Answer) -> Result<T, ApiError> {
    serde_json::from_str(&answer.text).map_err(|e| ApiError::Decode {
        endpoint: endpoint.to_string(),
        detail: e.to_string(),
    })
}

fn status_error(endpoint: &str, status: StatusCode, text: &str) -> ApiError {
    let body: ErrorBody = serde_json::from_str(text).unwrap_or_default();
    let message = body
        .message
        .or(body.error_description)
        .or_else(|| (!text.trim().is_empty()).then(|| truncate(text.trim(), 300)))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    let error_code = body.error_code.or_else(|| {
        // OAuth bodies carry their code in `error`; Management bodies carry the reason phrase there.
        body.error
            .filter(|e| Some(e.as_str()) != status.canonical_reason())
    });
    ApiError::Status {
        endpoint: endpoint.to_string(),
        status: status.as_u16(),
        message,
        error_code,
        auth_method: None,
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}…")
    }
}

fn describe_transport_error(error: &reqwest::Error) -> String {
    let mut detail = if error.is_timeout() {
        "the request timed out".to_string()
    } else if error.is_connect() {
        "could not connect".to_string()
    } else {
        "the connection failed".to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    detail
}

/// Escapes a value for a quoted Lucene term.
pub(super) fn lucene_escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_default_to_https_and_derive_the_audience() {
        let target = TenantTarget::parse("acme.eu.auth0.com").unwrap();
        assert_eq!(target.base_url.as_str(), "https://acme.eu.auth0.com/");
        assert_eq!(target.audience, "https://acme.eu.auth0.com/api/v2/");
        let explicit = TenantTarget::parse("https://acme.eu.auth0.com/").unwrap();
        assert_eq!(explicit, target);
    }

    #[test]
    fn the_audience_can_name_the_canonical_domain() {
        let target = TenantTarget::parse_with_audience(
            "login.example.com",
            Some("https://acme.eu.auth0.com/api/v2"),
        )
        .unwrap();
        assert_eq!(target.base_url.as_str(), "https://login.example.com/");
        assert_eq!(target.audience, "https://acme.eu.auth0.com/api/v2/");
        assert_eq!(target.canonical_domain(), "acme.eu.auth0.com");
        assert_eq!(target.assertion_audience(), "https://login.example.com/");
        assert_eq!(
            target.identity(),
            "login.example.com (tenant acme.eu.auth0.com)"
        );
        let bare =
            TenantTarget::parse_with_audience("login.example.com", Some("acme.eu.auth0.com"))
                .unwrap();
        assert_eq!(bare.audience, target.audience);
        let unset = TenantTarget::parse_with_audience("acme.eu.auth0.com", Some(" ")).unwrap();
        assert_eq!(unset.audience, "https://acme.eu.auth0.com/api/v2/");
        for bad in [
            "http://acme.eu.auth0.com/api/v2/",
            "https://acme.eu.auth0.com/userinfo",
        ] {
            let error = TenantTarget::parse_with_audience("acme.eu.auth0.com", Some(bad))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("AUTH0_AUDIENCE") && error.contains("/api/v2/"),
                "{error}"
            );
        }
    }

    #[test]
    fn plain_http_is_only_for_loopback() {
        let local = TenantTarget::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(local.audience, "https://127.0.0.1:8080/api/v2/");
        assert!(TenantTarget::parse("http://localhost:1").is_ok());
        assert!(TenantTarget::parse("http://[::1]:9").is_ok());
        let error = TenantTarget::parse("http://acme.eu.auth0.com").unwrap_err();
        assert!(error.to_string().contains("refusing plain http"), "{error}");
        assert!(TenantTarget::parse("ftp://x").is_err());
        assert!(TenantTarget::parse("").is_err());
        assert!(TenantTarget::parse("acme.eu.auth0.com/api/v2").is_err());
    }

    #[test]
    fn error_bodies_keep_message_and_code() {
        let error = status_error(
            "GET /api/v2/users",
            StatusCode::BAD_REQUEST,
            r#"{"statusCode":400,"error":"Bad Request","message":"You can only page through the first 1000 records.","errorCode":"invalid_paging"}"#,
        );
        assert_eq!(
            error.to_string(),
            "GET /api/v2/users failed: HTTP 400: You can only page through the first 1000 records. (invalid_paging)"
        );
        let oauth = status_error(
            "POST /oauth/token",
            StatusCode::UNAUTHORIZED,
            r#"{"error":"access_denied","error_description":"Unauthorized"}"#,
        );
        assert_eq!(oauth.error_code(), Some("access_denied"));
        let no_code = status_error(
            "GET /api/v2/jobs/{id}",
            StatusCode::NOT_FOUND,
            r#"{"statusCode":404,"error":"Not Found","message":"Job not found."}"#,
        );
        assert_eq!(no_code.error_code(), None);
    }

    #[test]
    fn lucene_values_are_escaped() {
        assert_eq!(lucene_escape(r#"a"b\c"#), r#"a\"b\\c"#);
    }
}
