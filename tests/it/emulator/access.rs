//! Tokens at /oauth/token, bearer checks and scope checks.

use serde_json::json;
use time::macros::datetime;
use verifyctl::clock::Clock;
use verifyctl::emulator::EmulatorConfig;

use super::{ALICE_PATH, DOMAIN, PORTAL_CLIENT, Tenant, config, fixture};

fn audience() -> String {
    format!("https://{DOMAIN}/api/v2/")
}

#[tokio::test]
async fn form_token_request_gets_a_bearer_token_that_works() {
    let tenant = Tenant::start().await;
    tenant
        .emulator
        .add_client_credentials("m2m-id", "m2m-secret", &["read:users", "update:users"]);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "m2m-id"),
        ("client_secret", "m2m-secret"),
        ("audience", &audience()),
    ];
    let reply = tenant
        .send(tenant.http.post(tenant.url("/oauth/token")).form(&form))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        "application/json; charset=utf-8"
    );
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 86400);
    assert_eq!(reply.body["scope"], "read:users update:users");
    let token = reply.body["access_token"].as_str().unwrap();
    let user = tenant
        .send(tenant.http.get(tenant.url(ALICE_PATH)).bearer_auth(token))
        .await;
    assert_eq!(user.status, 200);
}

#[tokio::test]
async fn json_token_request_with_null_organization_and_host_audience() {
    let tenant = Tenant::start().await;
    // auth0-python builds the audience from the address it was given and sends JSON.
    let host_audience = format!("https://{}/api/v2/", tenant.server.addr());
    let body = json!({
        "client_id": PORTAL_CLIENT,
        "client_secret": "portal-secret",
        "audience": host_audience,
        "grant_type": "client_credentials",
        "organization": null,
    });
    let reply = tenant
        .send(tenant.http.post(tenant.url("/oauth/token")).json(&body))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["scope"], "read:users");
}

#[tokio::test]
async fn wrong_secret_is_unauthorized_and_wrong_audience_is_forbidden() {
    let tenant = Tenant::start().await;
    let request = |secret: &str, audience: &str| {
        let form = [
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", PORTAL_CLIENT.to_owned()),
            ("client_secret", secret.to_owned()),
            ("audience", audience.to_owned()),
        ];
        tenant.http.post(tenant.url("/oauth/token")).form(&form)
    };
    let bad_secret = tenant.send(request("nope", &audience())).await;
    assert_eq!(bad_secret.status, 401);
    assert_eq!(
        bad_secret.body,
        json!({"error": "access_denied", "error_description": "Unauthorized"})
    );
    let other_api = "https://api.example.com/";
    let bad_audience = tenant.send(request("portal-secret", other_api)).await;
    assert_eq!(bad_audience.status, 403);
    assert_eq!(bad_audience.body["error"], "access_denied");
    let description = bad_audience.body["error_description"].as_str().unwrap();
    assert!(description.starts_with(
        "Client is not authorized to access \"https://api.example.com/\". You might probably want to create a \"client-grant\""
    ));
}

#[tokio::test]
async fn a_client_without_grants_cannot_get_a_token() {
    let tenant = Tenant::start().await;
    tenant
        .emulator
        .add_client_credentials("no-grants", "secret", &[]);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "no-grants"),
        ("client_secret", "secret"),
        ("audience", &audience()),
    ];
    let reply = tenant
        .send(tenant.http.post(tenant.url("/oauth/token")).form(&form))
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body["error"], "access_denied");
}

#[tokio::test]
async fn missing_invalid_and_expired_tokens_get_401_with_attributes() {
    let clock = Clock::fixed(datetime!(2026-11-22 10:00 UTC));
    let tenant = Tenant::start_with(
        fixture(),
        EmulatorConfig {
            clock: clock.clone(),
            ..config()
        },
    )
    .await;
    let missing = tenant.send(tenant.http.get(tenant.url(ALICE_PATH))).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.body,
        json!({"statusCode": 401, "error": "Unauthorized", "message": "Missing authentication",
               "attributes": {"error": "Missing authentication"}})
    );
    let invalid = tenant
        .send(
            tenant
                .http
                .get(tenant.url(ALICE_PATH))
                .bearer_auth("forged"),
        )
        .await;
    assert_eq!(invalid.body["message"], "Invalid token.");
    assert_eq!(invalid.body["attributes"]["error"], "Invalid token.");

    clock.advance(time::Duration::hours(25));
    let expired = tenant.get(ALICE_PATH).await;
    assert_eq!(expired.status, 401);
    assert_eq!(
        expired.body["message"],
        "Expired token received for JSON Web Token validation"
    );
}

#[tokio::test]
async fn a_token_without_the_scope_gets_403_insufficient_scope() {
    let tenant = Tenant::start().await;
    let token = tenant.emulator.issue_token(&["read:connections"]);
    let reply = tenant
        .send(tenant.http.get(tenant.url(ALICE_PATH)).bearer_auth(token))
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.body,
        json!({"statusCode": 403, "error": "Forbidden",
               "message": "Insufficient scope, expected any of: read:users,read:current_user,read:user_idp_tokens",
               "errorCode": "insufficient_scope"})
    );
}

#[tokio::test]
async fn unknown_routes_get_an_auth0_404_and_every_request_is_logged() {
    let tenant = Tenant::start().await;
    let reply = tenant.get("/api/v2/tickets?x=1").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.body["message"], "Not Found");
    let log = tenant.emulator.requests();
    let last = log.last().unwrap();
    assert_eq!(
        (
            last.method.as_str(),
            last.path.as_str(),
            last.query.as_deref(),
            last.status
        ),
        ("GET", "/api/v2/tickets", Some("x=1"), 404)
    );
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let tenant = Tenant::start().await;
    let url = tenant.url(ALICE_PATH);
    assert_eq!(tenant.get(ALICE_PATH).await.status, 200);
    tenant.server.shutdown().await;
    let after = reqwest::Client::new().get(url).send().await;
    assert!(after.is_err(), "nothing listens any more: {after:?}");
}
