//! Tenant logs: the events the emulator records, `GET /api/v2/logs` and
//! `GET /api/v2/users/{id}/logs` (Auth0's "Retrieve Logs Using the Management API" and
//! "Log Search Query Syntax" docs).
//!
//! Recorded: `svr` (Success Verification Email Request) whenever a verification email
//! is queued (a verification job that sends, a create or PATCH with `verify_email`), and
//! `scpr` (Success Change Password Request) whenever `/dbconnections/change_password`
//! sends a reset email. Entries have Auth0's shape (`log_id`, `date`, `type`,
//! `description`, `client_id`, `client_name`, `connection`, `connection_id`, `strategy`,
//! `strategy_type`, `user_id`, `user_name`, `ip`, `hostname`, `details`, `tenant_name`).
//! `log_id`s are 56 digits that sort in creation order. UNCONFIRMED: the `description`
//! texts and `details` contents, `ip` (always `127.0.0.1`), and that a verification email
//! a disabled template stops records nothing.
//!
//! Reading: search mode (`q` over the log fields with the user-search syntax, `date`
//! compared at the precision the query gives; `page`, `per_page` ≤ 100, `sort`, default
//! `date:-1`; `fields`/`include_fields`; only the first 1000 results reachable;
//! `include_totals` wraps the page as `{length, limit, logs, start, total}` where, as
//! Auth0 documents for log search, `total` is the page's length) and checkpoint mode
//! (`from` a log id and/or `take` ≤ 100: entries with a larger `log_id`, ascending,
//! every other parameter ignored, a `Link: <...>; rel="next"` header, which repeats the
//! request when nothing is newer). A new entry is visible once [`super::Timings`]'s
//! `log_lag` has passed on the emulator's clock. UNCONFIRMED: `take`'s default (50) and
//! maximum (100), the 1000-result error text (the users one), that an unknown user has
//! an empty log list rather than a 404.
//!
//! Storage: entries persist in the tenant file (`logs:`), so a later run sees what an
//! earlier one did. Retention (a choice): 30 days (Auth0's longest standard retention)
//! and at most [`MAX_LOGS`] entries, oldest dropped first. Lookups by `user_id` and by
//! `type` are indexed, so a per-user query costs O(that user's entries).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::de::{SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use super::auth::Token;
use super::errors::{ApiError, json_response};
use super::request::{self, Projection, QueryParams, project, query_error};
use super::search::{self, Query, Sort, Term};
use super::state::{JsonObject, User, to_object};
use super::{Emulator, World};
use crate::auth0::StrategyKind;
use crate::clock::format_timestamp;

/// The most entries kept (oldest dropped first).
pub const MAX_LOGS: usize = 250_000;

/// How long entries are kept.
pub const LOG_RETENTION: Duration = Duration::days(30);

/// Most entries in one page or checkpoint read.
const MAX_TAKE: i64 = 100;

/// Results reachable by paging one search.
const SEARCH_WINDOW: usize = 1000;

/// One tenant log event. Fields other than these (`description`, `connection`, ...)
/// live in `other`, in Auth0's names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub log_id: String,
    pub date: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(flatten)]
    pub other: JsonObject,
}

impl LogEntry {
    pub fn to_json(&self) -> JsonObject {
        to_object(self)
    }
}

/// The tenant's log, ordered by `log_id`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Logs {
    entries: BTreeMap<Arc<str>, Arc<LogEntry>>,
}

impl Logs {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in `log_id` order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &LogEntry> {
        self.entries.values().map(|e| &**e)
    }

    pub fn get(&self, log_id: &str) -> Option<&LogEntry> {
        self.entries.get(log_id).map(|e| &**e)
    }

    /// Adds (or replaces) an entry.
    pub fn push(&mut self, entry: LogEntry) {
        self.entries
            .insert(Arc::from(entry.log_id.as_str()), Arc::new(entry));
    }

    fn remove(&mut self, log_id: &str) -> Option<Arc<LogEntry>> {
        self.entries.remove(log_id)
    }

    fn first_id(&self) -> Option<Arc<str>> {
        self.entries.keys().next().cloned()
    }
}

impl fmt::Debug for Logs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Logs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for entry in self.iter() {
            seq.serialize_element(entry)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Logs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Logs, D::Error> {
        struct LogsVisitor;

        impl<'de> Visitor<'de> for LogsVisitor {
            type Value = Logs;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of log entries")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Logs, A::Error> {
                let mut logs = Logs::default();
                while let Some(entry) = seq.next_element::<LogEntry>()? {
                    logs.push(entry);
                }
                Ok(logs)
            }
        }

        deserializer.deserialize_seq(LogsVisitor)
    }
}

/// Lookups over the log by user and by type (kept beside the tenant, like the user
/// indexes).
#[derive(Debug, Default)]
pub struct LogIndex {
    by_user: HashMap<String, BTreeSet<Arc<str>>>,
    by_type: HashMap<String, BTreeSet<Arc<str>>>,
    /// The counter part of the next `log_id`.
    next_seq: u128,
}

impl LogIndex {
    pub fn build(logs: &Logs) -> LogIndex {
        let mut index = LogIndex::default();
        for (id, entry) in &logs.entries {
            index.insert(id, entry);
            if let Some(seq) = id.get(20..).and_then(|s| s.parse::<u128>().ok()) {
                index.next_seq = index.next_seq.max(seq + 1);
            }
        }
        index.next_seq = index.next_seq.max(logs.len() as u128 + 1);
        index
    }

    fn insert(&mut self, id: &Arc<str>, entry: &LogEntry) {
        if let Some(user) = &entry.user_id {
            self.by_user
                .entry(user.clone())
                .or_default()
                .insert(Arc::clone(id));
        }
        self.by_type
            .entry(entry.kind.clone())
            .or_default()
            .insert(Arc::clone(id));
    }

    fn remove(&mut self, entry: &LogEntry) {
        let drop_from = |map: &mut HashMap<String, BTreeSet<Arc<str>>>, key: &str| {
            if let Some(set) = map.get_mut(key) {
                set.remove(entry.log_id.as_str());
                if set.is_empty() {
                    map.remove(key);
                }
            }
        };
        if let Some(user) = &entry.user_id {
            drop_from(&mut self.by_user, user);
        }
        drop_from(&mut self.by_type, &entry.kind);
    }
}

/// What an event is about, for [`World::record_log`].
pub struct LogEvent<'a> {
    pub kind: &'a str,
    pub description: &'a str,
    pub user: &'a User,
    pub connection: &'a str,
    pub client_id: Option<&'a str>,
    pub details: Value,
}

impl World {
    /// Appends a log event dated `at`, then applies the retention.
    pub(super) fn record_log(&mut self, event: LogEvent<'_>, at: OffsetDateTime) {
        let seq = self.log_index.next_seq;
        self.log_index.next_seq += 1;
        let stamp = format_timestamp(at);
        let digits: String = stamp.chars().filter(char::is_ascii_digit).collect();
        let log_id = format!("900{digits:0>17.17}{seq:036}");
        let client = match event.client_id {
            Some(id) => self.tenant.client(id),
            None => self.tenant.clients.iter().find(|c| c.global),
        };
        let connection = self.tenant.connection_by_name(event.connection);
        let strategy = connection.map(|c| c.strategy.clone()).unwrap_or_default();
        let strategy_type = match connection.map(super::state::Connection::kind) {
            Some(StrategyKind::Database) => "database",
            Some(StrategyKind::Social) => "social",
            Some(StrategyKind::Enterprise) => "enterprise",
            Some(_) => "passwordless",
            None => "",
        };
        let other = json!({
            "description": event.description,
            "client_id": client.map(|c| c.client_id.clone()).or(event.client_id.map(str::to_owned)),
            "client_name": client.map(|c| c.name.clone()).unwrap_or_default(),
            "connection": event.connection,
            "connection_id": connection.map(|c| c.id.clone()).unwrap_or_default(),
            "strategy": strategy,
            "strategy_type": strategy_type,
            "user_name": event.user.email.clone().unwrap_or_default(),
            "ip": "127.0.0.1",
            "hostname": self.tenant.domain,
            "details": event.details,
            "tenant_name": self.tenant_name(),
        });
        let entry = LogEntry {
            log_id: log_id.clone(),
            date: stamp,
            kind: event.kind.to_owned(),
            user_id: Some(event.user.user_id.clone()),
            other: other.as_object().cloned().unwrap_or_default(),
        };
        let id: Arc<str> = Arc::from(log_id.as_str());
        self.log_index.insert(&id, &entry);
        self.tenant.logs.push(entry);
        self.apply_log_retention(at);
    }

    /// Drops entries older than the retention period or beyond [`MAX_LOGS`].
    pub(super) fn apply_log_retention(&mut self, now: OffsetDateTime) {
        let oldest_kept = format_timestamp(now - LOG_RETENTION);
        while let Some(first) = self.tenant.logs.first_id() {
            let too_many = self.tenant.logs.len() > MAX_LOGS;
            let too_old = self
                .tenant
                .logs
                .get(&first)
                .is_some_and(|e| e.date < oldest_kept);
            if !too_many && !too_old {
                break;
            }
            if let Some(entry) = self.tenant.logs.remove(&first) {
                self.log_index.remove(&entry);
            }
        }
    }

    /// The entries visible at `now` (older than the configured lag), as candidates for
    /// a query: by user or type when the query pins one with a top-level `AND`.
    fn log_candidates<'a>(
        &'a self,
        query: &Query,
        user: Option<&'a str>,
    ) -> Box<dyn Iterator<Item = &'a LogEntry> + 'a> {
        static EMPTY: BTreeSet<Arc<str>> = BTreeSet::new();
        let mut sets: Vec<&BTreeSet<Arc<str>>> = Vec::new();
        let mut pinned = |field: &str, value: &str| {
            let map = match field {
                "user_id" => &self.log_index.by_user,
                _ => &self.log_index.by_type,
            };
            sets.push(map.get(value).unwrap_or(&EMPTY));
        };
        if let Some(user) = user {
            pinned("user_id", user);
        }
        for (field, value) in pinned_terms(query) {
            pinned(field, value);
        }
        let logs = &self.tenant.logs;
        match sets.into_iter().min_by_key(|s| s.len()) {
            Some(set) => Box::new(set.iter().filter_map(|id| logs.get(id))),
            None => Box::new(logs.iter()),
        }
    }
}

/// `user_id:"X"` and `type:"X"` terms that every match must satisfy.
fn pinned_terms(query: &Query) -> Vec<(&'static str, &str)> {
    fn term(q: &Query) -> Option<(&'static str, &str)> {
        match q {
            Query::Term {
                field,
                value: Term::Exact(value),
            } => match field.as_str() {
                "user_id" => Some(("user_id", value.as_str())),
                "type" => Some(("type", value.as_str())),
                _ => None,
            },
            _ => None,
        }
    }
    match query {
        Query::And(parts) => parts.iter().filter_map(term).collect(),
        other => term(other).into_iter().collect(),
    }
}

const LIST_PARAMS: &[&str] = &[
    "q",
    "page",
    "per_page",
    "sort",
    "fields",
    "include_fields",
    "include_totals",
    "from",
    "take",
    "search_engine",
];

/// `GET /api/v2/logs`.
pub async fn list(
    State(emulator): State<Emulator>,
    token: Token,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    token.require(&["read:logs"])?;
    let params = QueryParams::parse(raw.as_deref(), LIST_PARAMS)?;
    if params.has("from") || params.has("take") {
        return checkpoint(&emulator, &params, &headers);
    }
    let search = LogSearch::from_query(&params, true)?;
    let visible_until = visible_until(&emulator);
    let now = emulator.now();
    let matches = emulator.with_world(|world| {
        world.apply_log_retention(now);
        search.run(world, None, &visible_until)
    });
    Ok(json_response(StatusCode::OK, &search.respond(matches)))
}

/// `GET /api/v2/users/{id}/logs`.
pub async fn user_logs(
    State(emulator): State<Emulator>,
    token: Token,
    Path(user_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    token.require(&["read:logs", "read:logs_users"])?;
    let params = QueryParams::parse(
        raw.as_deref(),
        &["page", "per_page", "sort", "include_totals"],
    )?;
    let search = LogSearch::from_query(&params, false)?;
    let visible_until = visible_until(&emulator);
    let now = emulator.now();
    let matches = emulator.with_world(|world| {
        world.apply_log_retention(now);
        search.run(world, Some(&user_id), &visible_until)
    });
    Ok(json_response(StatusCode::OK, &search.respond(matches)))
}

/// Entries dated up to this timestamp are visible (now minus the configured lag).
fn visible_until(emulator: &Emulator) -> String {
    let lag = emulator.timings().log_lag;
    let lag = Duration::try_from(lag).unwrap_or(Duration::MAX);
    format_timestamp(emulator.now() - lag)
}

/// A validated search-mode request.
struct LogSearch {
    query: Query,
    sort: Sort,
    page: usize,
    /// `None`: no paging (user logs without `per_page`).
    per_page: Option<usize>,
    include_totals: bool,
    projection: Option<Projection>,
}

impl LogSearch {
    fn from_query(params: &QueryParams, default_paging: bool) -> Result<LogSearch, ApiError> {
        let page = params.integer("page", 0, i64::MAX)?.unwrap_or(0) as usize;
        let per_page = params
            .integer("per_page", 0, MAX_TAKE)?
            .map(|n| n as usize)
            .or(default_paging.then_some(request::DEFAULT_PER_PAGE));
        if let Some(per_page) = per_page
            && page.saturating_mul(per_page) >= SEARCH_WINDOW
        {
            return Err(ApiError::bad_request(
                "You can only page through the first 1000 records. See \
                 https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation",
            )
            .code("invalid_paging"));
        }
        let sort = match params.get("sort") {
            None => Sort::parse("date:-1").unwrap_or_else(|| unreachable!()),
            Some(text) => Sort::parse(text).ok_or_else(|| {
                query_error(
                    "sort",
                    r"String does not match pattern ^(([a-zA-Z0-9\-_\.])+(:(-1|1)))$",
                )
            })?,
        };
        let query = search::parse(params.get("q").unwrap_or_default())
            .map_err(|e| ApiError::invalid_query(format!("Invalid query string: {}", e.0)))?;
        Ok(LogSearch {
            query,
            sort,
            page,
            per_page,
            include_totals: params.boolean("include_totals")?.unwrap_or(false),
            projection: Projection::from_query(params)?,
        })
    }

    /// The page of matching, visible entries (as JSON), under the lock.
    fn run(&self, world: &World, user: Option<&str>, visible_until: &str) -> Vec<JsonObject> {
        let mut matches: Vec<JsonObject> = world
            .log_candidates(&self.query, user)
            .filter(|entry| entry.date.as_str() <= visible_until)
            .map(LogEntry::to_json)
            .filter(|entry| self.query.matches(entry))
            .collect();
        // Ties (same date) keep log_id order, newest first when sorting descending.
        if self.sort.is_descending() {
            matches.reverse();
        }
        self.sort.apply(&mut matches);
        match self.per_page {
            None => matches,
            Some(per_page) => {
                let start = self.page * per_page;
                request::window(matches, start, per_page.min(SEARCH_WINDOW - start))
            }
        }
    }

    fn respond(&self, page: Vec<JsonObject>) -> Value {
        let page: Vec<Value> = page
            .into_iter()
            .map(|entry| Value::Object(project(self.projection.as_ref(), entry)))
            .collect();
        if !self.include_totals {
            return Value::Array(page);
        }
        let per_page = self.per_page.unwrap_or(page.len());
        json!({
            "length": page.len(),
            "limit": per_page,
            "logs": page,
            "start": self.page * per_page,
            "total": page.len(),
        })
    }
}

/// Checkpoint mode: entries newer than `from`, ascending by `log_id`.
fn checkpoint(
    emulator: &Emulator,
    params: &QueryParams,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let take = params.integer("take", 1, MAX_TAKE)?.unwrap_or(50) as usize;
    let from = params.get("from").map(str::to_owned);
    if from
        .as_deref()
        .is_some_and(|f| f.is_empty() || !f.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        return Err(query_error("from", "Invalid log id"));
    }
    let visible_until = visible_until(emulator);
    let now = emulator.now();
    let page: Vec<Value> = emulator.with_world(|world| {
        world.apply_log_retention(now);
        let logs = &world.tenant.logs;
        let newer: Box<dyn Iterator<Item = &Arc<LogEntry>>> = match &from {
            Some(from) => Box::new(
                logs.entries
                    .range::<str, _>((
                        std::ops::Bound::Excluded(from.as_str()),
                        std::ops::Bound::Unbounded,
                    ))
                    .map(|(_, e)| e),
            ),
            None => Box::new(logs.entries.values()),
        };
        newer
            .take_while(|entry| entry.date.as_str() <= visible_until.as_str())
            .take(take)
            .map(|entry| Value::Object(entry.to_json()))
            .collect()
    });
    let last = page
        .last()
        .and_then(|e| e["log_id"].as_str())
        .map(str::to_owned)
        .or(from);
    let base = super::storage::base_url(headers);
    let next = match &last {
        Some(id) => format!("<{base}/api/v2/logs?from={id}&take={take}>; rel=\"next\""),
        None => format!("<{base}/api/v2/logs?take={take}>; rel=\"next\""),
    };
    let mut response = json_response(StatusCode::OK, &page);
    if let Ok(value) = HeaderValue::from_str(&next) {
        response.headers_mut().insert(header::LINK, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_terms_come_from_top_level_and() {
        let query =
            search::parse(r#"type:"svr" AND user_id:"auth0|1" AND date:[2026 TO *]"#).unwrap();
        assert_eq!(
            pinned_terms(&query),
            [("type", "svr"), ("user_id", "auth0|1")]
        );
        let either = search::parse(r#"type:"svr" OR user_id:"auth0|1""#).unwrap();
        assert!(pinned_terms(&either).is_empty());
    }
}
