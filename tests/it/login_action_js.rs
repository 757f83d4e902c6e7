//! The generated post-login Action really works: its JavaScript runs in an embedded
//! JavaScript engine (QuickJS through rquickjs) against fake `event`/`api` objects and a fake
//! `fetch`, and each case checks whether `api.access.deny` was called and with what.

use serde_json::{Value, json};
use verifyctl::login_action::{LoginRules, ResendRule, render};

const DENY: &str = "Please verify your email first.";
const PORTAL: &str = "PortalClient00000000000000000001";
/// 2026-11-22T10:00:00Z
const NOW_MS: i64 = 1_795_341_600_000;

fn rules() -> LoginRules {
    LoginRules {
        blocked_connections: ["partners".to_string()].into(),
        exempt_connections: ["staff".to_string()].into(),
        required_applications: [(PORTAL.to_string(), "Partner Portal".to_string())].into(),
        resend_on_login: [(
            "partners".to_string(),
            ResendRule {
                after_seconds: 72 * 3600,
                max: 3,
                client_id: Some("BrandClient000000000000000000001".into()),
            },
        )]
        .into(),
        deny_message: DENY.into(),
    }
}

/// Fakes for the Actions runtime; `__fetchResponses` answer in order, each the first call
/// its `match` (a part of "METHOD url") fits.
const HARNESS: &str = r#"
var exports = {};
var __log = [];
var console = { log: function (m) { __log.push(String(m)); } };
var __calls = { deny: [], metadata: [], fetch: [] };
var __cache = {};
var __fetchResponses = [];
function fetch(url, init) {
  __calls.fetch.push({ url: url, method: init.method, headers: init.headers, body: JSON.parse(init.body) });
  // The first response whose `match` is part of "METHOD url" (or has no `match`) answers.
  var call = init.method + " " + url;
  var index = __fetchResponses.findIndex(function (r) { return !r.match || call.indexOf(r.match) >= 0; });
  var next = index >= 0 ? __fetchResponses.splice(index, 1)[0] : { status: 599, body: {} };
  return Promise.resolve({
    ok: next.status >= 200 && next.status < 300,
    status: next.status,
    json: function () { return Promise.resolve(next.body); },
  });
}
var api = {
  access: { deny: function (reason) { __calls.deny.push(reason); } },
  user: { setAppMetadata: function (key, value) { __calls.metadata.push({ key: key, value: value }); } },
  cache: {
    get: function (key) { return key in __cache ? { value: __cache[key] } : undefined; },
    set: function (key, value, options) { __cache[key] = value; return { type: "success" }; },
  },
};
"#;

/// What one login did.
#[derive(Debug)]
struct Outcome {
    denied: Option<String>,
    metadata: Vec<Value>,
    fetches: Vec<Value>,
    log: Vec<String>,
}

/// Runs the generated Action for `event` with `fetch` answering `responses` in order.
fn login(rules: &LoginRules, event: Value, responses: Value, cached_token: bool) -> Outcome {
    let code = render(rules);
    let runtime = rquickjs::Runtime::new().expect("runtime");
    let context = rquickjs::Context::full(&runtime).expect("context");
    let result: String = context.with(|ctx| {
        ctx.eval::<(), _>(HARNESS).expect("harness");
        ctx.eval::<(), _>(code.as_str())
            .expect("the generated code evaluates");
        let setup = format!(
            "Date.now = function () {{ return {NOW_MS}; }};\n\
             __fetchResponses = {responses};\n\
             if ({cached_token}) {{ __cache['verifyctl-management-token'] = 'cached-token'; }}\n\
             var __done = false; var __error = null;\n\
             exports.onExecutePostLogin({event}, api).then(\n\
               function () {{ __done = true; }},\n\
               function (e) {{ __error = String(e); }});"
        );
        ctx.eval::<(), _>(setup.as_str()).expect("login starts");
        String::new()
    });
    assert!(result.is_empty());
    while runtime.is_job_pending() {
        runtime.execute_pending_job().expect("job runs");
    }
    let report: String = context.with(|ctx| {
        ctx.eval("JSON.stringify({ done: __done, error: __error, calls: __calls, log: __log })")
            .expect("report")
    });
    let report: Value = serde_json::from_str(&report).expect("report JSON");
    assert_eq!(report["error"], Value::Null, "the handler threw: {report}");
    assert_eq!(report["done"], true, "the handler did not finish: {report}");
    let denies = report["calls"]["deny"]
        .as_array()
        .expect("deny list")
        .clone();
    assert!(denies.len() <= 1, "deny called twice");
    Outcome {
        denied: denies.first().and_then(Value::as_str).map(str::to_string),
        metadata: report["calls"]["metadata"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        fetches: report["calls"]["fetch"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        log: report["log"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn event(connection: &str, client_id: &str, user: Value) -> Value {
    json!({
        "user": user,
        "connection": {"id": "con_x", "name": connection, "strategy": "auth0"},
        "client": {"client_id": client_id, "name": "Some App"},
        "secrets": {"VERIFYCTL_DOMAIN": "acme.eu.auth0.com", "VERIFYCTL_CLIENT_ID": "action-client", "VERIFYCTL_CLIENT_SECRET": "action-secret"},
        "stats": {"logins_count": 3},
    })
}

fn user(verified: bool, app_metadata: Value) -> Value {
    json!({
        "user_id": "auth0|0000000000000000000000a1",
        "email": "alice@partner.example",
        "email_verified": verified,
        "identities": [{"connection": "partners", "provider": "auth0", "user_id": "0000000000000000000000a1", "isSocial": false}],
        "app_metadata": app_metadata,
    })
}

fn token_and_job() -> Value {
    json!([
        {"match": "POST https://acme.eu.auth0.com/oauth/token", "status": 200, "body": {"access_token": "fresh-token", "expires_in": 86400, "token_type": "Bearer"}},
        {"match": "PATCH https://acme.eu.auth0.com/api/v2/users/", "status": 200, "body": {"user_id": "auth0|0000000000000000000000a1"}},
        {"match": "PATCH https://acme.eu.auth0.com/api/v2/users/", "status": 200, "body": {"user_id": "auth0|0000000000000000000000a1"}},
        {"match": "POST https://acme.eu.auth0.com/api/v2/jobs/verification-email", "status": 201, "body": {"id": "job_ABCDEFGHIJKLMNOP", "type": "verification_email", "status": "pending"}},
    ])
}

/// The calls to the Management API's user endpoint (the ledger writes), in order.
fn ledger_writes(outcome: &Outcome) -> Vec<&Value> {
    outcome
        .fetches
        .iter()
        .filter(|f| f["method"] == "PATCH")
        .collect()
}

#[test]
fn a_verified_user_passes() {
    let outcome = login(
        &rules(),
        event("partners", "other", user(true, json!({}))),
        json!([]),
        false,
    );
    assert_eq!(outcome.denied, None);
    assert!(outcome.fetches.is_empty());
}

#[test]
fn an_unverified_user_on_a_blocking_connection_is_denied_with_the_message() {
    let quiet = LoginRules {
        resend_on_login: Default::default(),
        ..rules()
    };
    let outcome = login(
        &quiet,
        event("partners", "other", user(false, json!({}))),
        json!([]),
        false,
    );
    assert_eq!(outcome.denied.as_deref(), Some(DENY));
    assert!(outcome.fetches.is_empty(), "no re-send configured");
    assert!(outcome.metadata.is_empty());
}

#[test]
fn an_unverified_user_on_a_trusted_connection_passes_even_into_a_required_application() {
    let outcome = login(
        &rules(),
        event("staff", PORTAL, user(false, json!({}))),
        json!([]),
        false,
    );
    assert_eq!(outcome.denied, None);
}

#[test]
fn an_unverified_user_logging_in_to_a_required_application_through_an_unrestricted_connection_is_denied()
 {
    let outcome = login(
        &rules(),
        event(
            "Username-Password-Authentication",
            PORTAL,
            user(false, json!({})),
        ),
        json!([]),
        false,
    );
    assert_eq!(outcome.denied.as_deref(), Some(DENY));
    assert!(
        outcome.fetches.is_empty(),
        "that connection does not re-send"
    );
    // The same user going to another application passes.
    let other = login(
        &rules(),
        event(
            "Username-Password-Authentication",
            "other",
            user(false, json!({})),
        ),
        json!([]),
        false,
    );
    assert_eq!(other.denied, None);
}

#[test]
fn a_user_without_an_email_passes() {
    let outcome = login(
        &rules(),
        event(
            "partners",
            PORTAL,
            json!({"user_id": "sms|123", "email_verified": false}),
        ),
        json!([]),
        false,
    );
    assert_eq!(outcome.denied, None);
}

#[test]
fn an_unthrottled_denied_login_resends_and_records_it_in_the_ledger() {
    let outcome = login(
        &rules(),
        event("partners", "other", user(false, json!({}))),
        token_and_job(),
        false,
    );
    assert_eq!(outcome.denied.as_deref(), Some(DENY));
    assert_eq!(outcome.fetches.len(), 3, "token, ledger intent, email");
    let token = &outcome.fetches[0];
    assert_eq!(token["url"], "https://acme.eu.auth0.com/oauth/token");
    assert_eq!(token["body"]["grant_type"], "client_credentials");
    assert_eq!(token["body"]["client_id"], "action-client");
    assert_eq!(
        token["body"]["audience"],
        "https://acme.eu.auth0.com/api/v2/"
    );
    // The intent is written with the Management API before the email is requested.
    let intent = &outcome.fetches[1];
    assert_eq!(intent["method"], "PATCH");
    assert_eq!(
        intent["url"],
        "https://acme.eu.auth0.com/api/v2/users/auth0%7C0000000000000000000000a1"
    );
    assert_eq!(intent["headers"]["authorization"], "Bearer fresh-token");
    assert_eq!(
        intent["body"],
        json!({"app_metadata": {"verifyctl": {"v": 1, "pending": {
            "kind": "verification_email", "started_at": "2026-11-22T10:00:00.000Z",
        }}}})
    );
    let job = &outcome.fetches[2];
    assert_eq!(
        job["url"],
        "https://acme.eu.auth0.com/api/v2/jobs/verification-email"
    );
    assert_eq!(job["headers"]["authorization"], "Bearer fresh-token");
    assert_eq!(
        job["body"],
        json!({
            "user_id": "auth0|0000000000000000000000a1",
            "client_id": "BrandClient000000000000000000001",
            "identity": {"user_id": "0000000000000000000000a1", "provider": "auth0"},
        })
    );
    assert_eq!(
        outcome.metadata,
        [
            json!({"key": "verifyctl", "value": {"v": 1, "verification_email": {
                "count": 1,
                "first_sent_at": "2026-11-22T10:00:00.000Z",
                "last_sent_at": "2026-11-22T10:00:00.000Z",
                "last_job_id": "job_ABCDEFGHIJKLMNOP",
            }}})
        ]
    );
}

#[test]
fn a_resend_within_the_interval_is_throttled_by_the_ledger() {
    let recent = json!({"verifyctl": {"v": 1, "verification_email": {"count": 1, "first_sent_at": "2026-11-21T10:00:00.000Z", "last_sent_at": "2026-11-21T10:00:00.000Z"}}});
    let outcome = login(
        &rules(),
        event("partners", "other", user(false, recent)),
        token_and_job(),
        false,
    );
    assert_eq!(outcome.denied.as_deref(), Some(DENY));
    assert!(
        outcome.fetches.is_empty(),
        "sent 24h ago, the interval is 72h"
    );
    assert!(outcome.metadata.is_empty());
}

#[test]
fn a_resend_after_the_interval_counts_on_and_the_maximum_stops_it() {
    let due = json!({"verifyctl": {"v": 1, "verification_email": {"count": 2, "first_sent_at": "2026-11-01T10:00:00.000Z", "last_sent_at": "2026-11-10T10:00:00.000Z"}}, "tier": "gold"});
    let outcome = login(
        &rules(),
        event("partners", "other", user(false, due)),
        token_and_job(),
        true,
    );
    assert_eq!(
        outcome.fetches.len(),
        2,
        "the cached token is reused: intent and email only"
    );
    assert!(
        outcome
            .fetches
            .iter()
            .all(|f| f["headers"]["authorization"] == "Bearer cached-token")
    );
    // The intent keeps the user's other keys untouched (Auth0 merges `app_metadata` by key).
    let intent = &ledger_writes(&outcome)[0]["body"]["app_metadata"];
    assert_eq!(
        intent.as_object().map(serde_json::Map::len),
        Some(1),
        "{intent}"
    );
    assert_eq!(intent["verifyctl"]["verification_email"]["count"], 2);
    let ledger = &outcome.metadata[0]["value"]["verification_email"];
    assert_eq!(ledger["count"], 3);
    assert_eq!(ledger["first_sent_at"], "2026-11-01T10:00:00.000Z");

    let exhausted = json!({"verifyctl": {"v": 1, "verification_email": {"count": 3, "first_sent_at": "2026-10-01T10:00:00.000Z", "last_sent_at": "2026-10-10T10:00:00.000Z"}}});
    let outcome = login(
        &rules(),
        event("partners", "other", user(false, exhausted)),
        token_and_job(),
        false,
    );
    assert_eq!(outcome.denied.as_deref(), Some(DENY));
    assert!(outcome.fetches.is_empty(), "three sends is the maximum");
}

#[test]
fn an_interrupted_send_from_apply_counts_as_sent() {
    let pending = json!({"verifyctl": {"v": 1, "pending": {"kind": "verification_email", "started_at": "2026-11-22T09:00:00.000Z"}}});
    let outcome = login(
        &rules(),
        event("partners", "other", user(false, pending)),
        token_and_job(),
        false,
    );
    assert!(
        outcome.fetches.is_empty(),
        "an hour ago counts as a send within 72h"
    );
}

#[test]
fn a_refused_resend_still_denies_and_puts_the_ledger_back() {
    let failing = json!([
        {"match": "/oauth/token", "status": 200, "body": {"access_token": "t", "expires_in": 86400}},
        {"match": "PATCH", "status": 200, "body": {}},
        {"match": "PATCH", "status": 200, "body": {}},
        {"match": "verification-email", "status": 429, "body": {"statusCode": 429}},
    ]);
    let outcome = login(
        &rules(),
        event("partners", "other", user(false, json!({}))),
        failing,
        false,
    );
    assert_eq!(outcome.denied.as_deref(), Some(DENY));
    assert!(outcome.metadata.is_empty());
    assert!(
        outcome.log.iter().any(|l| l.contains("HTTP 429")),
        "{:?}",
        outcome.log
    );
    // Auth0 answered that it sent nothing: the intent is rolled back to the ledger as read.
    let writes = ledger_writes(&outcome);
    assert_eq!(writes.len(), 2, "intent, then rollback");
    assert!(writes[0]["body"]["app_metadata"]["verifyctl"]["pending"].is_object());
    assert_eq!(
        writes[1]["body"],
        json!({"app_metadata": {"verifyctl": {"v": 1}}})
    );
}

#[test]
fn when_the_intent_cannot_be_recorded_no_email_is_sent() {
    let responses = json!([
        {"match": "/oauth/token", "status": 200, "body": {"access_token": "t", "expires_in": 86400}},
        {"match": "PATCH", "status": 403, "body": {"statusCode": 403, "error": "Forbidden", "message": "Insufficient scope, expected any of: update:users"}},
        {"match": "verification-email", "status": 201, "body": {"id": "job_X"}},
    ]);
    let outcome = login(
        &rules(),
        event("partners", "other", user(false, json!({}))),
        responses,
        false,
    );
    assert_eq!(outcome.denied.as_deref(), Some(DENY));
    assert!(
        !outcome.fetches.iter().any(|f| f["url"]
            .as_str()
            .is_some_and(|u| u.contains("verification-email"))),
        "an unrecorded send could repeat at every login"
    );
    assert!(
        outcome.log.iter().any(|l| l.contains("HTTP 403")),
        "{:?}",
        outcome.log
    );
}

/// Auth0's post-login API object reference says `api.access.deny` "will not cancel other
/// user-related side effects (such as metadata changes) requested by this Action"
/// (auth0.com/docs/customize/actions/explore-triggers/signup-and-login-triggers/login-trigger/post-login-api-object;
/// the reference's §10.4 agrees), yet nothing says when a denied flow's updates are stored, so
/// the Action does not rely on it:
/// with every `setAppMetadata` dropped, the ledger the Action wrote through the Management
/// API still throttles the next login.
#[test]
fn the_throttle_holds_when_metadata_updates_on_deny_are_dropped() {
    let first = login(
        &rules(),
        event("partners", "other", user(false, json!({"tier": "gold"}))),
        token_and_job(),
        false,
    );
    assert_eq!(first.denied.as_deref(), Some(DENY));
    assert!(first.fetches.iter().any(|f| {
        f["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/jobs/verification-email"))
    }));
    // The tenant now holds what the Management API write left (Auth0 merges app_metadata
    // by top-level key); the flow's setAppMetadata is thrown away.
    let written = ledger_writes(&first)
        .last()
        .map(|w| w["body"]["app_metadata"]["verifyctl"].clone())
        .expect("a ledger write");
    let stored = json!({"tier": "gold", "verifyctl": written});
    let second = login(
        &rules(),
        event("partners", "other", user(false, stored)),
        token_and_job(),
        true,
    );
    assert_eq!(second.denied.as_deref(), Some(DENY));
    assert!(
        second.fetches.is_empty(),
        "a second denied login a moment later sends nothing: {:?}",
        second.fetches
    );
}

#[test]
fn an_unreadable_ledger_gets_no_email() {
    let odd = json!({"verifyctl": "sent yesterday"});
    let outcome = login(
        &rules(),
        event("partners", "other", user(false, odd)),
        token_and_job(),
        false,
    );
    assert_eq!(outcome.denied.as_deref(), Some(DENY));
    assert!(outcome.fetches.is_empty());
}
