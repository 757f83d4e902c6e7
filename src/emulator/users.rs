//! `/api/v2/users`, `/api/v2/users/{id}` and `/api/v2/users-by-email` (reference §2–§4):
//! search with the 1000-result window, creation with Auth0's defaults, password policies
//! and the verification-email decision, PATCH with its merge rules, idempotent DELETE.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::Token;
use super::errors::{ApiError, json_response};
use super::logs::LogEvent;
use super::request::{
    self, Expect, Projection, QueryParams, Schema, bool_field, missing_property, project,
    query_error, string_field,
};
use super::search::{self, Sort};
use super::state::{Connection, Identity, JsonObject, OutboxKind, OutboxMessage, User};
use super::{Emulator, World};
use crate::auth0::{RESERVED_APP_METADATA_KEYS, StrategyKind};

/// Results reachable by paging one search (reference §2.2).
const SEARCH_WINDOW: usize = 1000;

const LIST_PARAMS: &[&str] = &[
    "page",
    "per_page",
    "include_totals",
    "sort",
    "connection",
    "fields",
    "include_fields",
    "q",
    "search_engine",
    "primary_order",
];

/// `GET /api/v2/users`.
pub async fn list(
    State(emulator): State<Emulator>,
    token: Token,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    token.require(&["read:users"])?;
    let params = QueryParams::parse(query.as_deref(), LIST_PARAMS)?;
    let search = UserSearch::from_query(&params)?;
    let search = Arc::new(search);
    let (total, page) = match emulator.with_world(|world| search.run(world)) {
        Found::Page(total, page) => (total, page),
        // A scan runs outside the lock, on a blocking thread, over the users as they
        // were when it started.
        Found::Scan(candidates, query) => {
            let scan = Arc::clone(&search);
            tokio::task::spawn_blocking(move || {
                scan.filter_sort_window(candidates.iter(), query.as_ref())
            })
            .await
            .unwrap_or_default()
        }
    };
    Ok(json_response(StatusCode::OK, &search.respond(total, page)))
}

/// What a search found under the lock: the page, or the users a scan must filter.
enum Found {
    Page(usize, Vec<JsonObject>),
    Scan(Vec<Arc<User>>, Option<search::Query>),
}

/// A validated `GET /api/v2/users` request.
struct UserSearch {
    query: search::Query,
    sort: Option<Sort>,
    page: usize,
    per_page: usize,
    include_totals: bool,
    projection: Option<Projection>,
}

impl UserSearch {
    fn from_query(params: &QueryParams) -> Result<UserSearch, ApiError> {
        check_search_engine(params)?;
        params.boolean("primary_order")?;
        let page = params.integer("page", 0, i64::MAX)?.unwrap_or(0);
        let per_page = params.integer("per_page", 0, request::MAX_PER_PAGE)?;
        let page = usize::try_from(page).unwrap_or(usize::MAX);
        let per_page = per_page.map_or(request::DEFAULT_PER_PAGE, |n| n as usize);
        if page.saturating_mul(per_page) >= SEARCH_WINDOW {
            return Err(ApiError::bad_request(
                "You can only page through the first 1000 records. See \
                 https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation",
            )
            .code("invalid_paging"));
        }
        let sort = match params.get("sort") {
            None => None,
            Some(text) => Some(Sort::parse(text).ok_or_else(|| {
                query_error(
                    "sort",
                    r"String does not match pattern ^(([a-zA-Z0-9\-_\.])+(:(-1|1)))$",
                )
            })?),
        };
        // Choice: the reference gives no text for unparseable queries.
        let query = search::parse(params.get("q").unwrap_or_default())
            .map_err(|e| ApiError::invalid_query(format!("Invalid query string: {}", e.0)))?;
        Ok(UserSearch {
            query,
            sort,
            page,
            per_page,
            include_totals: params.boolean("include_totals")?.unwrap_or(false),
            projection: Projection::from_query(params)?,
        })
    }

    /// The first and the number of results this page shows (never past index 999).
    fn window(&self) -> (usize, usize) {
        let start = self.page * self.per_page;
        (start, self.per_page.min(SEARCH_WINDOW - start))
    }

    /// Finds this page of matches and the total match count, under the lock. The
    /// queries verifyctl sends (`identities.connection:"X"`, sorted by `created_at:1` or
    /// not sorted) and `q`-less listings are served from the indexes in O(page), and a
    /// query pinned to one `email:"x"` from the email index; any other query scans the
    /// users of its connection when it names one with `AND`, else every user: for that
    /// only pointers to the candidates are taken under the lock.
    fn run(&self, world: &World) -> Found {
        let (start, len) = self.window();
        let (scope, rest) = search::connection_scope(&self.query);
        if let (None, Some(email)) = (scope, search::pinned_email(&self.query)) {
            let mut seqs = world.user_index.with_email(email).to_vec();
            seqs.sort_unstable();
            let (total, page) = self.filter_sort_window(world.users_at(&seqs), Some(&self.query));
            return Found::Page(total, page);
        }
        let set = match scope {
            Some(connection) => match world.user_index.connection(connection) {
                Some(set) => set,
                None => return Found::Page(0, Vec::new()),
            },
            None => world.user_index.all(),
        };
        let users = &world.tenant.users;
        let by_created = self
            .sort
            .as_ref()
            .is_some_and(Sort::is_created_at_ascending);
        if rest.is_none() && (self.sort.is_none() || by_created) {
            let page: Vec<JsonObject> = if by_created {
                set.by_created
                    .iter()
                    .skip(start)
                    .take(len)
                    .filter_map(|(_, _, seq)| users.by_seq(*seq))
                    .map(|user| user.to_json())
                    .collect()
            } else {
                set.by_seq
                    .iter()
                    .skip(start)
                    .take(len)
                    .filter_map(|seq| users.by_seq(*seq))
                    .map(|user| user.to_json())
                    .collect()
            };
            return Found::Page(set.len(), page);
        }
        let candidates = set
            .by_seq
            .iter()
            .filter_map(|seq| users.by_seq(*seq))
            .cloned()
            .collect();
        Found::Scan(candidates, rest)
    }

    /// The total and the page of `candidates` (in creation order) that match `query`.
    fn filter_sort_window<'a>(
        &self,
        candidates: impl Iterator<Item = &'a Arc<User>>,
        query: Option<&search::Query>,
    ) -> (usize, Vec<JsonObject>) {
        let (start, len) = self.window();
        let mut matches: Vec<JsonObject> = candidates
            .map(|user| user.to_json())
            .filter(|user| query.is_none_or(|q| q.matches(user)))
            .collect();
        if let Some(sort) = &self.sort {
            sort.apply(&mut matches);
        }
        let total = matches.len();
        (total, request::window(matches, start, len))
    }

    /// The response for one page. `total` is the true match count (UNCONFIRMED what
    /// real tenants report above 1000).
    fn respond(&self, total: usize, users: Vec<JsonObject>) -> Value {
        let (start, _) = self.window();
        let page: Vec<Value> = users
            .into_iter()
            .map(|user| Value::Object(project(self.projection.as_ref(), user)))
            .collect();
        if !self.include_totals {
            return Value::Array(page);
        }
        json!({
            "start": start,
            "limit": self.per_page,
            "length": page.len(),
            "users": page,
            "total": total,
        })
    }
}

/// `search_engine`: v3 or absent. Choice: absent means v3, because a recorded request
/// without `search_engine` searched with `q` (users.json; the recording wins over the
/// brief's "q without v2/v3 is a 400"); v1 (with or without `q`) and v2 get the real
/// 400 texts.
fn check_search_engine(params: &QueryParams) -> Result<(), ApiError> {
    match params.get("search_engine") {
        None | Some("v3") => Ok(()),
        Some("v1") if params.has("q") => Err(ApiError::bad_request(
            "The 'q' parameter is available only if you specify 'search_engine=v2|v3'.",
        )),
        Some("v1") => Err(ApiError::bad_request(
            "You are not allowed to use search_engine=v1.",
        )),
        Some("v2") => Err(ApiError::bad_request(
            "You are not allowed to use search_engine=v2. Use search_engine=v3 instead.",
        )),
        Some(other) => Err(query_error(
            "search_engine",
            &format!("No enum match for: \"{other}\""),
        )),
    }
}

/// `GET /api/v2/users-by-email`: exact, case-sensitive, always a bare array.
pub async fn by_email(
    State(emulator): State<Emulator>,
    token: Token,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    token.require(&["read:users"])?;
    let params = QueryParams::parse(query.as_deref(), &["email", "fields", "include_fields"])?;
    let email = params.get("email").ok_or_else(|| {
        ApiError::invalid_query("Query validation error: 'Missing required property: email'.")
    })?;
    let projection = Projection::from_query(&params)?;
    let users: Vec<Value> = emulator.with_world(|world| {
        world
            .users_at(world.user_index.with_email(email))
            .filter(|user| user.email.as_deref() == Some(email))
            .map(|user| Value::Object(project(projection.as_ref(), user.to_json())))
            .collect()
    });
    Ok(json_response(StatusCode::OK, &users))
}

/// `GET /api/v2/users/{id}` (the id arrives percent-decoded).
pub async fn read(
    State(emulator): State<Emulator>,
    token: Token,
    Path(user_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    token.require(&["read:users", "read:current_user", "read:user_idp_tokens"])?;
    let params = QueryParams::parse(query.as_deref(), &["fields", "include_fields"])?;
    let projection = Projection::from_query(&params)?;
    let user = emulator
        .with_world(|world| world.tenant.user(&user_id).map(User::to_json))
        .ok_or_else(ApiError::user_not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &project(projection.as_ref(), user),
    ))
}

/// `DELETE /api/v2/users/{id}`: 204 whether or not the user existed (reference §4.2).
pub async fn delete(
    State(emulator): State<Emulator>,
    token: Token,
    Path(user_id): Path<String>,
) -> Result<Response, ApiError> {
    token.require(&["delete:users", "delete:current_user"])?;
    emulator.with_world(|world| world.remove_user(&user_id));
    Ok(StatusCode::NO_CONTENT.into_response())
}

const CREATE_SCHEMA: &Schema = &[
    ("connection", Expect::String, false),
    ("email", Expect::String, false),
    ("password", Expect::String, false),
    ("email_verified", Expect::Boolean, false),
    ("verify_email", Expect::Boolean, false),
    ("phone_number", Expect::String, false),
    ("phone_verified", Expect::Boolean, false),
    ("username", Expect::String, false),
    ("user_id", Expect::String, false),
    ("given_name", Expect::String, false),
    ("family_name", Expect::String, false),
    ("name", Expect::String, false),
    ("nickname", Expect::String, false),
    ("picture", Expect::String, false),
    ("blocked", Expect::Boolean, false),
    ("app_metadata", Expect::Object, false),
    ("user_metadata", Expect::Object, false),
];

/// Profile fields stored as given on create and replaced (or unset by `null`) on PATCH.
pub(super) const PROFILE_FIELDS: &[&str] = &[
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "blocked",
    "username",
    "phone_number",
    "phone_verified",
];

/// `POST /api/v2/users`.
pub async fn create(
    State(emulator): State<Emulator>,
    token: Token,
    body: Bytes,
) -> Result<Response, ApiError> {
    token.require(&["create:users"])?;
    let body = request::json_object(&body)?;
    request::check_payload(&body, CREATE_SCHEMA)?;
    check_metadata(&body)?;
    let now = emulator.timestamp();
    let user = emulator.with_world(|world| create_user(world, &body, &now))?;
    Ok(json_response(StatusCode::CREATED, &user.to_json()))
}

fn create_user(world: &mut World, body: &JsonObject, now: &str) -> Result<Arc<User>, ApiError> {
    let connection = creatable_connection(world, body)?;
    let email = string_field(body, "email");
    if let Some(email) = email {
        check_email_format(email)?;
    }
    let email = email.map(str::to_lowercase);
    check_required_credentials(&connection, body, email.as_deref())?;
    let custom_key = string_field(body, "user_id");
    let provider = identity_provider(&connection);
    if custom_key.is_some_and(|key| world.tenant.users.contains(&format!("{provider}|{key}"))) {
        return Err(user_exists());
    }
    if email_taken(world, &connection.name, email.as_deref(), None) {
        return Err(user_exists());
    }
    if username_taken(
        world,
        &connection.name,
        string_field(body, "username"),
        None,
    ) {
        return Err(username_in_use());
    }
    let key = custom_key.map_or_else(|| world.new_user_key(), str::to_owned);
    let user = new_user(body, &connection, email, &key, now);
    let send_verification = user.email.is_some()
        && bool_field(body, "verify_email").unwrap_or(user.email_verified != Some(true));
    if send_verification {
        queue_verification_email(world, &user, &connection.name, None, None, now);
    }
    Ok(world.insert_user(user))
}

/// The `connection` of a create request: it must exist and be a database or
/// passwordless connection (reference §3).
fn creatable_connection(world: &World, body: &JsonObject) -> Result<Connection, ApiError> {
    let name = string_field(body, "connection").ok_or_else(|| missing_property("connection"))?;
    // Choice: errorCode inexistent_connection; the reference gives only the text.
    let connection = world.tenant.connection_by_name(name).ok_or_else(|| {
        ApiError::bad_request("Connection does not exist.").code("inexistent_connection")
    })?;
    if connection.kind().can_create_users() {
        Ok(connection.clone())
    } else {
        Err(ApiError::bad_request(
            "Connection does not support user creation through the API. It must either be a \
         database or passwordless connection.",
        )
        .code("operation_not_supported"))
    }
}

/// What each kind of connection needs to create a user.
fn check_required_credentials(
    connection: &Connection,
    body: &JsonObject,
    email: Option<&str>,
) -> Result<(), ApiError> {
    match connection.strategy.as_str() {
        "auth0" => {
            email.ok_or_else(|| missing_property("email"))?;
            let password =
                string_field(body, "password").ok_or_else(|| missing_property("password"))?;
            check_password(connection, password)?;
            if body.contains_key("username") && !accepts_username(connection) {
                return Err(ApiError::invalid_body(
                    "Cannot set username for connection without requires_username.",
                ));
            }
            Ok(())
        }
        "sms" => string_field(body, "phone_number")
            .map(|_| ())
            .ok_or_else(|| missing_property("phone_number")),
        _ => email.map(|_| ()).ok_or_else(|| missing_property("email")),
    }
}

fn accepts_username(connection: &Connection) -> bool {
    connection.option("requires_username") == Some(&Value::Bool(true))
        || connection.option("attributes.username").is_some()
}

/// The identity provider of users created in `connection` (`auth0` for databases,
/// `email`/`sms` for passwordless).
fn identity_provider(connection: &Connection) -> &str {
    match connection.kind() {
        StrategyKind::Database => "auth0",
        _ => &connection.strategy,
    }
}

/// A new user with the fields Auth0 fills on creation (reference §2.1, GOREC create).
pub(super) fn new_user(
    body: &JsonObject,
    connection: &Connection,
    email: Option<String>,
    key: &str,
    now: &str,
) -> User {
    let provider = identity_provider(connection).to_owned();
    let mut other = JsonObject::new();
    for field in PROFILE_FIELDS {
        if let Some(value) = body.get(*field) {
            other.insert((*field).to_owned(), value.clone());
        }
    }
    let username = string_field(body, "username");
    let phone = string_field(body, "phone_number");
    let identifier = email.as_deref().or(phone).or(username).unwrap_or(key);
    let nickname = email
        .as_deref()
        .and_then(|e| e.split('@').next())
        .or(username)
        .unwrap_or(identifier);
    let defaults = [
        ("name", identifier.to_owned()),
        ("nickname", nickname.to_owned()),
        ("picture", avatar_url(identifier)),
    ];
    for (field, value) in defaults {
        other.entry(field).or_insert(Value::String(value));
    }
    let app_metadata = body
        .get("app_metadata")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
        .cloned();
    User {
        user_id: format!("{provider}|{key}"),
        email_verified: email
            .as_ref()
            .map(|_| bool_field(body, "email_verified").unwrap_or(false)),
        email,
        identities: vec![Identity {
            connection: connection.name.clone(),
            user_id: Some(Value::String(key.to_owned())),
            provider: Some(provider),
            is_social: Some(false),
            other: JsonObject::new(),
        }],
        created_at: Some(now.to_owned()),
        updated_at: Some(now.to_owned()),
        app_metadata,
        user_metadata: body
            .get("user_metadata")
            .and_then(Value::as_object)
            .cloned(),
        other: other.into(),
    }
}

/// A gravatar-style picture URL. The hash is FNV-1a (not Gravatar's MD5): nothing
/// fetches these pictures, they only need to look and behave like Auth0's.
fn avatar_url(identifier: &str) -> String {
    let normalised = identifier.trim().to_lowercase();
    let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for byte in normalised.bytes() {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    let initials: String = normalised
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(2)
        .collect();
    format!(
        "https://s.gravatar.com/avatar/{hash:032x}?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2F{initials}.png"
    )
}

fn user_exists() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "The user already exists.").code("auth0_idp_error")
}

/// Whether `user` has an identity in the connection named `connection`.
pub(super) fn in_connection(user: &User, connection: &str) -> bool {
    user.identities.iter().any(|i| i.connection == connection)
}

/// Whether a user of `connection` among `candidates`, other than `except`, clashes with a
/// new value.
fn taken(
    world: &World,
    candidates: &[u64],
    connection: &str,
    except: Option<&str>,
    clashes: impl Fn(&User) -> bool,
) -> bool {
    world.users_at(candidates).any(|user| {
        Some(user.user_id.as_str()) != except && in_connection(user, connection) && clashes(user)
    })
}

/// Whether another user of the connection has this email (case-insensitively).
fn email_taken(world: &World, connection: &str, email: Option<&str>, except: Option<&str>) -> bool {
    email.is_some_and(|email| {
        let candidates = world.user_index.with_email(email);
        taken(world, candidates, connection, except, |user| {
            user.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        })
    })
}

fn username_taken(
    world: &World,
    connection: &str,
    username: Option<&str>,
    except: Option<&str>,
) -> bool {
    username.is_some_and(|username| {
        let candidates = world.user_index.with_username(username);
        taken(world, candidates, connection, except, |user| {
            user.other.get("username").and_then(Value::as_str) == Some(username)
        })
    })
}

/// Status UNCONFIRMED in the reference; 409 like a duplicate email.
fn username_in_use() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "The username provided is in use already.",
    )
    .code("auth0_idp_error")
}

fn check_email_format(email: &str) -> Result<(), ApiError> {
    if is_email(email) {
        return Ok(());
    }
    Err(ApiError::invalid_body(format!(
        "Payload validation error: 'Object didn't pass validation for format email: {email}' \
         on property email (The user's email)."
    )))
}

/// A pragmatic address check: one `@`, a non-empty local part, a dotted domain.
pub(super) fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let labels_ok = domain.split('.').count() >= 2 && domain.split('.').all(|l| !l.is_empty());
    !local.is_empty()
        && !domain.contains('@')
        && labels_ok
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Reserved `app_metadata` keys and keys containing `.` or `$` at any depth are refused
/// (reference §12.17). Choice: the wording is ours; the reference has none.
fn check_metadata(body: &JsonObject) -> Result<(), ApiError> {
    for field in ["app_metadata", "user_metadata"] {
        let Some(Value::Object(metadata)) = body.get(field) else {
            continue;
        };
        let reserved = metadata
            .keys()
            .find(|k| RESERVED_APP_METADATA_KEYS.contains(&k.as_str()));
        if let (true, Some(key)) = (field == "app_metadata", reserved) {
            return Err(ApiError::invalid_body(format!(
                "Payload validation error: 'Reserved key \"{key}\" is not allowed' on \
                 property app_metadata."
            )));
        }
        if let Some(key) = key_with_dot_or_dollar(metadata) {
            return Err(ApiError::invalid_body(format!(
                "Payload validation error: 'Metadata keys must not contain \".\" or \"$\": \
                 \"{key}\"' on property {field}."
            )));
        }
    }
    Ok(())
}

fn key_with_dot_or_dollar(object: &JsonObject) -> Option<String> {
    object.iter().find_map(|(key, value)| {
        if key.contains(['.', '$']) {
            return Some(key.clone());
        }
        match value {
            Value::Object(inner) => key_with_dot_or_dollar(inner),
            _ => None,
        }
    })
}

/// Checks a password against the connection's policy; Auth0's Management API gives no
/// per-rule detail (reference §3).
fn check_password(connection: &Connection, password: &str) -> Result<(), ApiError> {
    let policy = connection
        .option("passwordPolicy")
        .and_then(Value::as_str)
        .unwrap_or("none");
    let min_length = [
        "password_complexity_options.min_length",
        "password_options.complexity.min_length",
    ]
    .iter()
    .find_map(|path| connection.option(path).and_then(Value::as_u64))
    .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    if meets_policy(policy, min_length, password) {
        Ok(())
    } else {
        // Choice: no errorCode, as in the one public capture (auth0/auth0-java#283).
        Err(ApiError::bad_request(
            "PasswordStrengthError: Password is too weak",
        ))
    }
}

/// Auth0's documented password policies (password-sheriff). Choice: a connection
/// without `passwordPolicy` is treated as `none`, which is what a null policy means;
/// `min_length` from the complexity options replaces the policy's own minimum length.
fn meets_policy(policy: &str, min_length: Option<usize>, password: &str) -> bool {
    let (default_length, rule): (usize, fn(&str) -> bool) = match policy {
        "low" => (6, |_| true),
        "fair" => (8, |p| {
            let [lower, upper, digit, _] = character_classes(p);
            lower && upper && digit
        }),
        "good" => (8, |p| class_count(p) >= 3),
        "excellent" => (10, |p| class_count(p) >= 3 && longest_run(p) <= 2),
        _ => (1, |_| true),
    };
    password.chars().count() >= min_length.unwrap_or(default_length) && rule(password)
}

/// Whether a password has lower case, upper case, digits and special characters.
fn character_classes(password: &str) -> [bool; 4] {
    let has = |test: fn(&char) -> bool| password.chars().any(|c| test(&c));
    [
        has(char::is_ascii_lowercase),
        has(char::is_ascii_uppercase),
        has(char::is_ascii_digit),
        has(|c| c.is_ascii_punctuation() || *c == ' '),
    ]
}

fn class_count(password: &str) -> usize {
    character_classes(password).iter().filter(|c| **c).count()
}

/// The length of the longest run of one repeated character.
fn longest_run(password: &str) -> usize {
    let chars: Vec<char> = password.chars().collect();
    chars
        .chunk_by(|a, b| a == b)
        .map(<[char]>::len)
        .max()
        .unwrap_or(0)
}

/// Appends a verification email to the outbox when the template is enabled.
pub fn queue_verification_email(
    world: &mut World,
    user: &User,
    connection: &str,
    client_id: Option<&str>,
    job_id: Option<&str>,
    now: &str,
) -> bool {
    let Some(email) = &user.email else {
        return false;
    };
    if !world.tenant.settings.verify_email_enabled() {
        return false;
    }
    world.tenant.outbox.push(OutboxMessage {
        kind: OutboxKind::VerificationEmail,
        to: email.clone(),
        user_id: Some(user.user_id.clone()),
        connection: Some(connection.to_owned()),
        client_id: client_id.map(str::to_owned),
        job_id: job_id.map(str::to_owned),
        at: now.to_owned(),
    });
    let mut details = serde_json::Map::new();
    details.insert("email".into(), Value::String(email.clone()));
    if let Some(job_id) = job_id {
        details.insert("job_id".into(), Value::String(job_id.to_owned()));
    }
    let event = LogEvent {
        kind: "svr",
        description: "Verification email has been queued for sending",
        user,
        connection,
        client_id,
        details: Value::Object(details),
    };
    world.record_log(event, at_time(now));
    true
}

/// An emulator timestamp back as an instant (they are always well formed).
pub(super) fn at_time(timestamp: &str) -> time::OffsetDateTime {
    crate::clock::parse_timestamp(timestamp).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Non-metadata fields can be unset with `null` (reference §4.1).
const UPDATE_SCHEMA: &Schema = &[
    ("blocked", Expect::Boolean, true),
    ("email_verified", Expect::Boolean, false),
    ("email", Expect::String, true),
    ("phone_number", Expect::String, true),
    ("phone_verified", Expect::Boolean, true),
    ("user_metadata", Expect::Object, true),
    ("app_metadata", Expect::Object, true),
    ("given_name", Expect::String, true),
    ("family_name", Expect::String, true),
    ("name", Expect::String, true),
    ("nickname", Expect::String, true),
    ("picture", Expect::String, true),
    ("verify_email", Expect::Boolean, false),
    ("verify_phone_number", Expect::Boolean, false),
    ("password", Expect::String, false),
    ("connection", Expect::String, false),
    ("client_id", Expect::String, false),
    ("username", Expect::String, true),
];

/// `PATCH /api/v2/users/{id}`.
pub async fn update(
    State(emulator): State<Emulator>,
    token: Token,
    Path(user_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    token.require(&["update:users", "update:users_app_metadata"])?;
    let body = request::json_object(&body)?;
    if !token.has("update:users") && body.keys().any(|k| k != "app_metadata") {
        return Err(ApiError::insufficient_scope(&["update:users"]));
    }
    request::check_payload(&body, UPDATE_SCHEMA)?;
    check_metadata(&body)?;
    reject_simultaneous_changes(&body)?;
    let now = emulator.timestamp();
    let user = emulator.with_world(|world| update_user(world, &user_id, &body, &now))?;
    Ok(json_response(StatusCode::OK, &user.to_json()))
}

/// Field pairs one PATCH may not change together (reference §4.1, exact texts).
fn reject_simultaneous_changes(body: &JsonObject) -> Result<(), ApiError> {
    const PAIRS: &[(&str, &str)] = &[
        ("password", "email"),
        ("password", "email_verified"),
        ("username", "email"),
        ("username", "email_verified"),
        ("username", "password"),
    ];
    for (first, second) in PAIRS {
        if body.contains_key(*first) && body.contains_key(*second) {
            // Choice: errorCode invalid_body, as for the other payload errors.
            return Err(ApiError::invalid_body(format!(
                "Cannot update {first} and {second} simultaneously."
            )));
        }
    }
    Ok(())
}

fn update_user(
    world: &mut World,
    user_id: &str,
    body: &JsonObject,
    now: &str,
) -> Result<Arc<User>, ApiError> {
    let existing = world
        .tenant
        .users
        .get_arc(user_id)
        .cloned()
        .ok_or_else(ApiError::user_not_found)?;
    let connection = target_connection(world, &existing, body)?;
    let kind = connection.as_ref().map(Connection::kind);
    let is_database = kind == Some(StrategyKind::Database);
    let connection_name = connection
        .as_ref()
        .map(|c| c.name.clone())
        .unwrap_or_default();
    // Reference §12.6: not for enterprise or passwordless-SMS users (choice: one text
    // and errorCode operation_not_supported for both).
    let settable =
        kind.is_none_or(StrategyKind::can_set_email_verified) || kind == Some(StrategyKind::Social);
    if body.contains_key("email_verified") && !settable {
        return Err(ApiError::bad_request(
            "Email verification is not supported for enterprise users.",
        )
        .code("operation_not_supported"));
    }
    let new_email = match body.get("email") {
        Some(_) if !is_database => {
            return Err(ApiError::bad_request(
                "Cannot update email for non-database user.",
            ));
        }
        Some(Value::String(email)) => {
            check_email_format(email)?;
            Some(email.to_lowercase())
        }
        _ => None,
    };
    if email_taken(world, &connection_name, new_email.as_deref(), Some(user_id)) {
        // Choice: a PATCH to a taken email is refused with this 400 text.
        return Err(ApiError::bad_request(
            "The specified new email already exists",
        ));
    }
    if let Some(password) = string_field(body, "password") {
        match &connection {
            Some(connection) if is_database => check_password(connection, password)?,
            _ => {
                return Err(ApiError::bad_request(
                    "Connection is not supported for this operation.",
                ));
            }
        }
    }
    if username_taken(
        world,
        &connection_name,
        string_field(body, "username"),
        Some(user_id),
    ) {
        return Err(username_in_use());
    }
    let mut user = User::clone(&existing);
    drop(existing);
    apply_patch(&mut user, body, new_email, now);
    let user = world.replace_user(user);
    if bool_field(body, "verify_email") == Some(true) {
        let client_id = string_field(body, "client_id");
        queue_verification_email(world, &user, &connection_name, client_id, None, now);
    }
    Ok(user)
}

/// The connection a PATCH applies to: `connection` from the body (one of the user's
/// identities), else the primary identity's.
fn target_connection(
    world: &World,
    user: &User,
    body: &JsonObject,
) -> Result<Option<Connection>, ApiError> {
    let Some(name) = string_field(body, "connection") else {
        let primary = user.primary_connection();
        return Ok(primary
            .and_then(|name| world.tenant.connection_by_name(name))
            .cloned());
    };
    let connection = world
        .tenant
        .connection_by_name(name)
        .ok_or_else(|| ApiError::bad_request("Connection does not exist."))?;
    if !in_connection(user, name) {
        return Err(ApiError::bad_request(
            "Connection is not supported for this operation.",
        ));
    }
    Ok(Some(connection.clone()))
}

/// Applies a validated PATCH body: root fields replace (null unsets), metadata merges.
fn apply_patch(user: &mut User, body: &JsonObject, new_email: Option<String>, now: &str) {
    if let Some(patch) = body.get("app_metadata") {
        user.app_metadata = merge_metadata(user.app_metadata.take(), patch, false);
    }
    if let Some(patch) = body.get("user_metadata") {
        user.user_metadata = merge_metadata(user.user_metadata.take(), patch, true);
    }
    if body.get("email") == Some(&Value::Null) {
        user.email = None;
    }
    if let Some(email) = new_email {
        user.email = Some(email);
        // Choice: a new address is unverified unless the same PATCH says otherwise
        // (as bulk import does, reference §12.8).
        if !body.contains_key("email_verified") {
            user.email_verified = Some(false);
        }
    }
    if let Some(verified) = bool_field(body, "email_verified") {
        user.email_verified = Some(verified);
    }
    for field in PROFILE_FIELDS {
        match body.get(*field) {
            None => {}
            Some(Value::Null) => {
                user.other.remove(field);
            }
            Some(value) => {
                user.other.insert((*field).to_owned(), value.clone());
            }
        }
    }
    if body.contains_key("password") {
        user.other.insert(
            "last_password_reset".to_owned(),
            Value::String(now.to_owned()),
        );
    }
    user.updated_at = Some(now.to_owned());
}

/// PATCH metadata (users.json): a shallow merge where `null` deletes a key, and `{}`
/// (or `null`) clears everything. An empty `app_metadata` disappears from the user, an
/// empty `user_metadata` stays `{}` (`keep_empty`).
fn merge_metadata(
    existing: Option<JsonObject>,
    patch: &Value,
    keep_empty: bool,
) -> Option<JsonObject> {
    let merged = match patch {
        Value::Object(changes) if !changes.is_empty() => {
            let mut merged = existing.unwrap_or_default();
            for (key, value) in changes {
                if value.is_null() {
                    merged.remove(key);
                } else {
                    merged.insert(key.clone(), value.clone());
                }
            }
            merged
        }
        _ => JsonObject::new(),
    };
    (keep_empty || !merged.is_empty()).then_some(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> JsonObject {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn password_policies_follow_auth0s_rules() {
        assert!(meets_policy("none", None, "a"));
        assert!(!meets_policy("none", None, ""));
        assert!(meets_policy("low", None, "abcdef"));
        assert!(!meets_policy("low", None, "abcde"));
        assert!(meets_policy("fair", None, "abcDEF12"));
        assert!(!meets_policy("fair", None, "abcdef1!"));
        assert!(meets_policy("good", None, "abcdef1!"));
        assert!(!meets_policy("good", None, "abcdefgh1"));
        assert!(!meets_policy("good", None, "aB1!"));
        assert!(meets_policy("excellent", None, "abcDEF12!x"));
        assert!(!meets_policy("excellent", None, "aaaDEF12!x"));
        assert!(!meets_policy("excellent", None, "abcDEF12!"));
    }

    #[test]
    fn min_length_option_replaces_the_policy_length() {
        assert!(meets_policy("good", Some(6), "aB1!xy"));
        assert!(!meets_policy("low", Some(12), "abcdefghijk"));
    }

    #[test]
    fn metadata_merges_shallowly_and_null_deletes() {
        let existing = object(json!({"keep": 1, "drop": 2, "nested": {"a": 1}}));
        let patch = json!({"drop": null, "nested": {"b": 2}, "new": true});
        let merged = merge_metadata(Some(existing), &patch, false).unwrap();
        assert_eq!(
            Value::Object(merged),
            json!({"keep": 1, "nested": {"b": 2}, "new": true})
        );
    }

    #[test]
    fn empty_patch_clears_app_metadata_but_keeps_user_metadata_object() {
        let existing = object(json!({"a": 1}));
        assert_eq!(
            merge_metadata(Some(existing.clone()), &json!({}), false),
            None
        );
        assert_eq!(
            merge_metadata(Some(existing), &json!({}), true),
            Some(JsonObject::new())
        );
    }

    #[test]
    fn reserved_and_dotted_metadata_keys_are_refused() {
        let reserved = object(json!({"app_metadata": {"email": "x"}}));
        assert!(check_metadata(&reserved).is_err());
        let dotted = object(json!({"user_metadata": {"ok": {"a.b": 1}}}));
        assert!(check_metadata(&dotted).is_err());
        let fine = object(json!({"user_metadata": {"a": {"b": 1}}}));
        assert!(check_metadata(&fine).is_ok());
    }

    #[test]
    fn email_format() {
        assert!(is_email("alice@partner.example"));
        for bad in ["alice", "@x.com", "a@b", "a b@c.d", "a@b..c", "a@b@c.d"] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn avatar_urls_are_stable_and_gravatar_shaped() {
        let url = avatar_url("Alice@Partner.example");
        assert_eq!(url, avatar_url("alice@partner.example"));
        assert!(url.starts_with("https://s.gravatar.com/avatar/"));
        assert!(url.ends_with("%2Fal.png"));
    }
}
