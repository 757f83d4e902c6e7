//! The built-in, stateful Auth0 Management API emulator (DESIGN.md §5).
//!
//! [`Emulator`] is a cheap handle on one tenant ([`TenantState`]) and everything around it
//! that is never persisted: tokens, the request log, rate-limit buckets, fault state,
//! bulk jobs, [`Timings`] and the indexes over users and logs. All of it sits behind one
//! `std::sync::Mutex`, never held across an `.await` nor while a whole tenant or export
//! is serialized. This module assembles the axum router and serves it; the endpoints
//! live in `auth.rs` (`/oauth/token`, `/.well-known/jwks.json`), `users.rs`, `jobs.rs`,
//! `connections.rs`, `connection_clients.rs`, `clients.rs`, `dbconnections.rs`, `actions.rs` and
//! `bindings.rs` (Actions and trigger bindings), `exports.rs`, `imports.rs` and
//! `storage.rs` (bulk jobs) and `logs.rs`, each citing `reference/auth0-api.md` (or the
//! Auth0 docs) where behaviour is not obvious, and marking UNCONFIRMED what no source
//! settles.
//!
//! # Scale
//!
//! Tenants of 10,000 to 1,000,000 users are served without scans: users are kept in
//! creation order behind `Arc`s ([`Users`], O(1) by id), and `index.rs` keeps lookups by
//! email and username and, per connection, the users in creation order and in
//! `created_at` order. A search page for `identities.connection:"X"` (alone, sorted by
//! `created_at:1` or unsorted) or without `q` costs O(page), `/users-by-email` and
//! `/users/{id}` O(1), the duplicate checks on create O(users sharing the address), and
//! so does a query pinned to one `email:"x"`. Other queries scan only the connection's
//! users when they are `AND`ed with a connection term, every user otherwise, and the scan
//! runs outside the lock over pointers to the users taken under it. On the indexed paths
//! only the page served is turned into JSON. [`Emulator::snapshot`] copies pointers under
//! the lock, never users, and nothing is serialized under it.
//!
//! # Tenant files
//!
//! `file.rs` reads YAML or JSON straight into [`TenantState`] with no parse budget
//! (tenant files are trusted, and a 1,000,000-user file must load) and streams writes
//! through a temporary file renamed into place. Files are refused, at the offending
//! line and column, for duplicate user ids, connection names, connection ids or client
//! ids and for a non-string `domain`. Writing back keeps every key the file had
//! (including a `settings:` block with default values); a connection is changed only by
//! a PATCH, which, as on Auth0 (reference §7.3), sets `display_name` to the name when the
//! body leaves it out. Comments, anchors and the order of keys inside objects are lost.
//!
//! # Bulk jobs and storage
//!
//! `bulk.rs` runs users-export jobs (`exports.rs`, reference §9.2) in memory: `pending`,
//! `processing` with `percentage_done`/`time_left_seconds`, then `completed`, at the
//! pace of [`Timings`] (instant by default; [`Emulator::set_timings`] slows it, measured
//! on the emulator's [`Clock`], so a fixed test clock moves jobs on when advanced), and
//! deleted 24 hours after creation. A completed export's `location` is a pre-signed,
//! S3-like link on the emulator's own address (`storage.rs`), valid 60 seconds, fresh on
//! every read of the job; it serves the gzip file streamed from a snapshot of the users
//! taken when the job was created, outside the lock, and answers like storage: XML
//! errors, no rate limit, and a request carrying an `Authorization` header is refused.
//! The request log records for every request whether it had an `Authorization` header.
//! UNCONFIRMED choices (default fields, CSV layout, error texts of the CSV limits, the
//! file's content type, the `processing` status itself) are listed in `exports.rs` and
//! `storage.rs`. [`Timings`] come from the tenant file (`settings.timings`, in seconds,
//! so `verifyctl emulator` can be slowed down) and are replaced with
//! [`Emulator::set_timings`] (what tests use); they are not in [`EmulatorConfig`], which
//! other code builds field by field.
//!
//! Users-import jobs (`imports.rs`, reference §9.1) take a multipart upload (at most
//! 512000 bytes of users, at most two jobs in flight, database connections that have
//! an enabled application only), run at the same pace, and apply their records when
//! they complete: per-record schema checks, `DUPLICATED_USER` without `upsert`, upsert
//! replacing metadata wholesale, `email_verified` false unless the record says true,
//! errors at `/jobs/{id}/errors`. An import sends no verification email; with
//! `send_completion_email` (Auth0's default) the outbox gets one
//! [`OutboxKind::ImportCompleted`] message. The applications enabled for a connection
//! (`connection_clients.rs`, reference §7.4) are kept per connection in the tenant file
//! as `enabled_clients:`; a connection whose file says nothing has every application
//! enabled, so existing tenant files import as before.
//!
//! # Tenant logs
//!
//! `logs.rs` records `svr` for every verification email queued and `scpr` for every
//! password-reset email sent, in Auth0's log entry shape, and serves `GET /api/v2/logs`
//! (search with `q`, `page`/`per_page` ≤ 100, `sort`, totals, the 1000-result window;
//! checkpoint `from`/`take` with a `Link` header) and `GET /api/v2/users/{id}/logs`,
//! indexed by user and type. New events become visible after [`Timings::log_lag`]
//! (0 by default). Logs persist in the tenant file (`logs:`) for 30 days and at most
//! 250,000 entries. Descriptions, details and some limits are UNCONFIRMED (see there).

mod actions;
mod auth;
mod bindings;
mod bulk;
mod clients;
mod config;
mod connection_clients;
mod connections;
mod dbconnections;
mod errors;
mod exports;
mod faults;
mod file;
mod imports;
mod index;
mod jobs;
mod logs;
mod ratelimit;
mod request;
mod search;
mod state;
mod storage;
mod users;
mod users_store;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{
    EmulatorConfig, Fault, FaultConfig, FaultRule, RateLimit, RouteFilter, Timings, Trigger,
};
pub use file::{TenantFileError, load_tenant_file, save_tenant_file};
pub use state::{
    Action, ActionDependency, ActionError, ActionSecret, ActionTrigger, ActionVersion, Binding,
    BuildStatus, Client, ClientCredential, Connection, DEFAULT_ACTION_RUNTIME, Fields, Identity,
    Job, JobKind, JobStatus, JsonObject, LogEntry, Logs, OutboxKind, OutboxMessage, TenantSettings,
    TenantState, TimingSettings, User, Users,
};

use crate::clock::{Clock, format_timestamp};
use errors::ApiError;
use faults::{ConnectionHandle, CuttableListener, FaultState};
use ratelimit::{ApiLimiter, TokenBucket};

/// The largest request body read (an import upload: a 512000-byte users file plus the
/// other parts and multipart framing fits well within it).
const MAX_REQUEST_BODY_BYTES: usize = 4 << 20;

/// A running emulated tenant. Cloning shares it.
#[derive(Clone)]
pub struct Emulator {
    shared: Arc<Shared>,
}

struct Shared {
    clock: Clock,
    /// Keep request bodies in the request log (tests only; see [`EmulatorConfig`]).
    capture_bodies: bool,
    world: Mutex<World>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let domain = self.with_world(|world| world.tenant.domain.clone());
        f.debug_struct("Emulator")
            .field("domain", &domain)
            .finish_non_exhaustive()
    }
}

/// One request the emulator served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path as received (user ids still percent-encoded).
    pub path: String,
    pub query: Option<String>,
    /// The status the emulator produced (also for dropped connections, which the client
    /// never saw).
    pub status: u16,
    /// True when the connection was dropped after applying the request.
    pub dropped: bool,
    /// The request body, only with [`EmulatorConfig::capture_bodies`].
    pub body: Option<String>,
    /// Whether the request carried an `Authorization` header (its value is never kept).
    pub authorization: bool,
}

/// Everything behind the emulator's lock.
struct World {
    tenant: TenantState,
    /// Lookups over `tenant.users` (see index.rs).
    user_index: index::UserIndex,
    /// Lookups over `tenant.logs` (see logs.rs).
    log_index: logs::LogIndex,
    rng: StdRng,
    tokens: auth::TokenStore,
    /// Jobs whose next read still reports `pending` (see jobs.rs).
    unread_jobs: HashSet<String>,
    /// Action builds in progress, by action id (see actions.rs).
    action_builds: HashMap<String, actions::PendingBuild>,
    /// Builds started while this is on end `failed` ([`Emulator::set_action_builds_fail`]).
    action_builds_fail: bool,
    /// Export jobs created while this is on end `failed` ([`Emulator::set_exports_fail`]).
    exports_fail: bool,
    requests: Vec<RecordedRequest>,
    api_limiter: ApiLimiter,
    /// `/dbconnections/change_password` buckets per source IP and email.
    password_reset_limits: HashMap<(IpAddr, String), TokenBucket>,
    faults: FaultState,
    /// Users-export (and users-import) jobs, by id; in memory only (see bulk.rs).
    bulk_jobs: std::collections::BTreeMap<String, bulk::BulkJob>,
    timings: Timings,
    /// Keys the export download links (see storage.rs).
    storage_secret: String,
}

impl World {
    /// The tenant's name: the first label of its domain (`acme` of `acme.eu.auth0.com`).
    fn tenant_name(&self) -> String {
        let domain = &self.tenant.domain;
        domain.split('.').next().unwrap_or(domain).to_owned()
    }

    fn random_alphanumeric(&mut self, len: usize) -> String {
        (&mut self.rng)
            .sample_iter(rand::distr::Alphanumeric)
            .take(len)
            .map(char::from)
            .collect()
    }

    fn random_hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from_digit(self.rng.random_range(0..16), 16).unwrap_or('0'))
            .collect()
    }

    /// The identity part of a new user id: 24 lowercase hex digits.
    fn new_user_key(&mut self) -> String {
        self.random_hex(24)
    }

    fn new_connection_id(&mut self) -> String {
        format!("con_{}", self.random_alphanumeric(16))
    }

    fn new_job_id(&mut self) -> String {
        format!("job_{}", self.random_alphanumeric(16))
    }

    fn new_client_id(&mut self) -> String {
        self.random_alphanumeric(32)
    }

    /// Gives every user, connection and client of a hand-written tenant file the id it
    /// needs to be addressed. Nothing else is defaulted on load: Auth0's defaults
    /// (`name`, `picture`, ...) are only filled when the API creates a user.
    fn assign_missing_ids(&mut self) {
        for index in 0..self.tenant.connections.len() {
            if self.tenant.connections[index].id.is_empty() {
                self.tenant.connections[index].id = self.new_connection_id();
            }
        }
        for index in 0..self.tenant.clients.len() {
            if self.tenant.clients[index].client_id.is_empty() {
                self.tenant.clients[index].client_id = self.new_client_id();
            }
        }
        let strategies: HashMap<String, String> = self
            .tenant
            .connections
            .iter()
            .map(|c| (c.name.clone(), c.strategy.clone()))
            .collect();
        let mut users = std::mem::take(&mut self.tenant.users);
        if users.iter().any(|u| u.user_id.is_empty()) {
            users.edit_all(|user| {
                if user.user_id.is_empty() {
                    let key = self.new_user_key();
                    assign_user_id(user, key, &strategies);
                }
            });
        }
        self.tenant.users = users;
    }

    /// Adds a new user to the tenant and its indexes.
    fn insert_user(&mut self, user: User) -> Arc<User> {
        let user = Arc::new(user);
        let seq = self.tenant.users.push_arc(Arc::clone(&user));
        self.user_index.insert(seq, &user);
        user
    }

    /// Replaces a user (same id) in the tenant and its indexes.
    fn replace_user(&mut self, user: User) -> Arc<User> {
        let user = Arc::new(user);
        if let Some(old) = self.tenant.users.replace(Arc::clone(&user)) {
            let seq = self.tenant.users.seq(&user.user_id).unwrap_or_default();
            self.user_index.remove(seq, &old);
            self.user_index.insert(seq, &user);
        } else {
            let seq = self.tenant.users.seq(&user.user_id).unwrap_or_default();
            self.user_index.insert(seq, &user);
        }
        user
    }

    /// Removes a user from the tenant and its indexes.
    fn remove_user(&mut self, user_id: &str) -> Option<Arc<User>> {
        let seq = self.tenant.users.seq(user_id)?;
        let user = self.tenant.users.remove(user_id)?;
        self.user_index.remove(seq, &user);
        Some(user)
    }

    /// Users by creation sequence numbers (from the index).
    fn users_at<'a>(&'a self, seqs: &'a [u64]) -> impl Iterator<Item = &'a Arc<User>> + 'a {
        seqs.iter().filter_map(|seq| self.tenant.users.by_seq(*seq))
    }
}

/// `provider|id` from the first identity, completing the identity when needed. Auth0
/// names an identity's provider after its connection's strategy.
fn assign_user_id(user: &mut User, key: String, strategies: &HashMap<String, String>) {
    let provider = user
        .identities
        .first()
        .and_then(|i| {
            i.provider
                .clone()
                .or_else(|| strategies.get(&i.connection).cloned())
        })
        .unwrap_or_else(|| "auth0".to_owned());
    let id_part = match user.identities.first_mut() {
        Some(identity) => {
            identity.provider = Some(provider.clone());
            identity.user_id.get_or_insert(Value::String(key));
            identity.user_id_text().unwrap_or_default()
        }
        None => key,
    };
    user.user_id = format!("{provider}|{id_part}");
}

impl Emulator {
    pub fn new(state: TenantState, config: EmulatorConfig) -> Emulator {
        let rate_limit = config.rate_limit.or(state.settings.rate_limit);
        let timings = state
            .settings
            .timings
            .map(Timings::from)
            .unwrap_or_default();
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => rand::make_rng(),
        };
        let mut world = World {
            tenant: state,
            user_index: index::UserIndex::default(),
            log_index: logs::LogIndex::default(),
            rng,
            tokens: auth::TokenStore::default(),
            unread_jobs: HashSet::new(),
            action_builds: HashMap::new(),
            action_builds_fail: false,
            exports_fail: false,
            requests: Vec::new(),
            api_limiter: ApiLimiter::new(rate_limit),
            password_reset_limits: HashMap::new(),
            faults: FaultState::new(config.faults, config.seed),
            bulk_jobs: std::collections::BTreeMap::new(),
            timings,
            storage_secret: String::new(),
        };
        world.storage_secret = world.random_alphanumeric(32);
        world.assign_missing_ids();
        world.user_index = index::UserIndex::build(&world.tenant.users);
        world.log_index = logs::LogIndex::build(&world.tenant.logs);
        world.apply_log_retention(config.clock.now());
        world.complete_actions(&crate::clock::format_timestamp_nanos(config.clock.now()));
        Emulator {
            shared: Arc::new(Shared {
                clock: config.clock,
                capture_bodies: config.capture_bodies,
                world: Mutex::new(world),
            }),
        }
    }

    /// Registers an M2M application that can get tokens at /oauth/token. Ephemeral: kept
    /// in memory only, never in `snapshot()`.
    pub fn add_client_credentials(&self, client_id: &str, client_secret: &str, scopes: &[&str]) {
        let scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self.with_world(|world| {
            world
                .tokens
                .add_credentials(client_id, client_secret, scopes);
        });
    }

    /// Mints a bearer token directly (for AUTH0_API_TOKEN-style use and tests). Ephemeral.
    pub fn issue_token(&self, scopes: &[&str]) -> String {
        let scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        let now = self.now();
        self.with_world(|world| {
            let (domain, audience) = (world.tenant.domain.clone(), world.management_audience());
            world
                .tokens
                .issue(&domain, "verifyctl-emulator", &audience, scopes, now)
        })
    }

    /// Serves the tenant under one more custom domain (a host name, matched with or
    /// without the port), in memory only: requests through it need a token for the
    /// canonical audience. Tenant files list theirs in `custom_domains`.
    pub fn add_custom_domain(&self, host: &str) {
        self.with_world(|world| world.tokens.custom_domains.push(host.to_owned()));
    }

    /// The whole emulated API: `/oauth/token`, `/dbconnections/change_password` and
    /// `/api/v2/*`, with request recording and fault injection around every route.
    pub fn router(&self) -> Router {
        let api = Router::new()
            .route("/users", get(users::list).post(users::create))
            .route(
                "/users/{id}",
                get(users::read).patch(users::update).delete(users::delete),
            )
            .route("/users/{id}/logs", get(logs::user_logs))
            .route("/users-by-email", get(users::by_email))
            .route("/logs", get(logs::list))
            .route(
                "/jobs/verification-email",
                post(jobs::create_verification_email),
            )
            .route("/jobs/users-exports", post(exports::create))
            .route(
                "/jobs/users-imports",
                post(imports::create)
                    .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BODY_BYTES)),
            )
            .route("/jobs/{id}", get(jobs::read))
            .route("/jobs/{id}/errors", get(imports::errors))
            .route("/connections", get(connections::list))
            .route(
                "/connections/{id}",
                get(connections::read).patch(connections::update),
            )
            .route(
                "/connections/{id}/clients",
                get(connection_clients::list).patch(connection_clients::update),
            )
            .route("/clients", get(clients::list))
            .route("/clients/{id}", get(clients::read))
            .route("/actions/actions", get(actions::list).post(actions::create))
            .route(
                "/actions/actions/{id}",
                get(actions::read)
                    .patch(actions::update)
                    .delete(actions::delete),
            )
            .route("/actions/actions/{id}/deploy", post(actions::deploy))
            .route(
                "/actions/triggers/{trigger_id}/bindings",
                get(bindings::list).patch(bindings::update),
            )
            .fallback(not_found)
            .method_not_allowed_fallback(not_found)
            .layer(middleware::from_fn_with_state(self.clone(), settle_jobs))
            .layer(middleware::from_fn_with_state(
                self.clone(),
                ratelimit::limit_api,
            ));
        Router::new()
            .route("/oauth/token", post(auth::token))
            .route("/.well-known/jwks.json", get(auth::jwks))
            .route(
                "/dbconnections/change_password",
                post(dbconnections::change_password),
            )
            .route("/storage/exports/{job_id}/{file}", get(storage::download))
            .nest("/api/v2", api)
            .fallback(not_found)
            .method_not_allowed_fallback(not_found)
            .layer(middleware::from_fn_with_state(self.clone(), faults::inject))
            .layer(middleware::from_fn_with_state(self.clone(), record_request))
            .with_state(self.clone())
    }

    /// Binds `addr` (e.g. 127.0.0.1:0), serves in a background tokio task.
    pub async fn spawn(&self, addr: SocketAddr) -> std::io::Result<RunningEmulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = self
            .router()
            .into_make_service_with_connect_info::<ConnectionHandle>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                // Either an explicit shutdown or the handle being dropped ends serving.
                let _ = stopped.await;
            };
            let served = axum::serve(CuttableListener(listener), app)
                .with_graceful_shutdown(shutdown)
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "emulator server stopped with an error");
            }
        });
        Ok(RunningEmulator {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The full tenant as it is now (what the tenant file is written back from). Under
    /// the lock this copies pointers to the users, not the users.
    pub fn snapshot(&self) -> TenantState {
        let (now, timestamp) = (self.now(), self.timestamp());
        self.with_world(|world| {
            world.settle_jobs(now, &timestamp);
            world.tenant.clone()
        })
    }

    /// Replaces the pace of asynchronous work (bulk jobs, log visibility) from now on;
    /// jobs already created follow the new pace too.
    pub fn set_timings(&self, timings: Timings) {
        self.with_world(|world| world.timings = timings);
    }

    pub fn timings(&self) -> Timings {
        self.with_world(|world| world.timings)
    }

    /// The emulator's clock (tests advance a fixed one to move jobs and links on).
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    pub fn outbox(&self) -> Vec<OutboxMessage> {
        self.with_world(|world| world.tenant.outbox.clone())
    }

    /// Every request served so far (method, path, query, status), in order, for tests
    /// that count API calls or assert that none was made.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.with_world(|world| world.requests.clone())
    }

    /// Replaces the fault rules; `Trigger::Next` counters start over and, with a seed,
    /// so does fault sampling.
    pub fn set_faults(&self, faults: FaultConfig) {
        self.with_world(|world| world.faults.replace(faults));
    }

    /// Makes Action builds started from now on (by a create or PATCH) end `failed`
    /// instead of `built`, until turned off again. Builds already started keep their
    /// outcome.
    /// Makes users-export jobs created from now on end `failed` (with `status_details`)
    /// instead of completing, to see how clients cope.
    pub fn set_exports_fail(&self, fail: bool) {
        self.with_world(|world| world.exports_fail = fail);
    }

    pub fn set_action_builds_fail(&self, fail: bool) {
        self.with_world(|world| world.action_builds_fail = fail);
    }

    /// Replaces the Management API rate limit (a full bucket); `None` removes it.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.with_world(|world| world.api_limiter = ApiLimiter::new(limit));
    }

    /// Runs `f` with the lock held. `f` must not block or await.
    fn with_world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let mut world = self
            .shared
            .world
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut world)
    }

    fn now(&self) -> OffsetDateTime {
        self.shared.clock.now()
    }

    /// Now, formatted the way Auth0 writes timestamps.
    fn timestamp(&self) -> String {
        format_timestamp(self.now())
    }
}

/// A served emulator. Dropping it stops the server too.
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningEmulator {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and waits for in-flight requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Outermost middleware: appends the request to the log, then cuts the connection if
/// fault injection asked for it (so the log also has requests whose answer was lost).
async fn record_request(
    State(emulator): State<Emulator>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let authorization = request
        .headers()
        .contains_key(axum::http::header::AUTHORIZATION);
    let (request, body) = if emulator.shared.capture_bodies {
        let (parts, body) = request.into_parts();
        // Bodies the API accepts are below this; a larger one is answered 413 anyway.
        let bytes = axum::body::to_bytes(body, MAX_REQUEST_BODY_BYTES)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (
            Request::from_parts(parts, axum::body::Body::from(bytes)),
            Some(text),
        )
    } else {
        (request, None)
    };
    let response = next.run(request).await;
    let recorded = RecordedRequest {
        method,
        path,
        query,
        status: response.status().as_u16(),
        dropped: faults::is_dropped(&response),
        body,
        authorization,
    };
    emulator.with_world(|world| world.requests.push(recorded));
    faults::cut_if_dropped(response)
}

/// Before each Management API request: applies the bulk jobs that are due and forgets
/// the expired ones (see bulk.rs).
async fn settle_jobs(State(emulator): State<Emulator>, request: Request, next: Next) -> Response {
    let (now, timestamp) = (emulator.now(), emulator.timestamp());
    emulator.with_world(|world| world.settle_jobs(now, &timestamp));
    next.run(request).await
}

async fn not_found() -> Response {
    ApiError::route_not_found().into_response()
}
