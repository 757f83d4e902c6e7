//! Fault injection: seeded 5xx, 429 bursts, latency and drop-after-apply.

use std::time::Duration;

use serde_json::json;
use verifyctl::emulator::{EmulatorConfig, Fault, FaultConfig, RouteFilter, Trigger};

use super::{ALICE_PATH, Tenant, config, fixture};

fn flaky_reads() -> FaultConfig {
    FaultConfig::none().with(
        RouteFilter::route("GET", "/api/v2/users/{id}"),
        Fault::ServerError {
            status: 503,
            when: Trigger::Probability(0.5),
        },
    )
}

async fn statuses(seed: u64) -> Vec<u16> {
    let tenant = Tenant::start_with(
        fixture(),
        EmulatorConfig {
            seed: Some(seed),
            faults: flaky_reads(),
            ..config()
        },
    )
    .await;
    let mut statuses = Vec::new();
    for _ in 0..24 {
        statuses.push(tenant.get(ALICE_PATH).await.status);
    }
    // Other routes are not affected.
    assert_eq!(tenant.get("/api/v2/connections").await.status, 200);
    statuses
}

#[tokio::test]
async fn the_same_seed_reproduces_the_same_server_errors() {
    let first = statuses(42).await;
    assert_eq!(first, statuses(42).await);
    assert!(first.contains(&200) && first.contains(&503), "{first:?}");
}

#[tokio::test]
async fn server_errors_use_the_management_api_body() {
    let tenant = Tenant::start().await;
    tenant.emulator.set_faults(FaultConfig::none().with(
        RouteFilter::All,
        Fault::ServerError {
            status: 502,
            when: Trigger::Next(1),
        },
    ));
    let reply = tenant.get(ALICE_PATH).await;
    assert_eq!(reply.status, 502);
    assert_eq!(
        reply.body,
        json!({"statusCode": 502, "error": "Bad Gateway", "message": "Bad Gateway"})
    );
    assert_eq!(tenant.get(ALICE_PATH).await.status, 200);
}

#[tokio::test]
async fn a_burst_of_429s_then_normal_service() {
    let tenant = Tenant::start().await;
    tenant.emulator.set_faults(FaultConfig::none().with(
        RouteFilter::All,
        Fault::TooManyRequests {
            when: Trigger::Next(3),
        },
    ));
    for _ in 0..3 {
        let reply = tenant.get(ALICE_PATH).await;
        assert_eq!(reply.status, 429);
        assert_eq!(reply.body["errorCode"], "too_many_requests");
        assert_eq!(reply.header("x-ratelimit-remaining"), "0");
        assert!(!reply.header("x-ratelimit-reset").is_empty());
    }
    assert_eq!(tenant.get(ALICE_PATH).await.status, 200);
}

#[tokio::test]
async fn drop_after_apply_keeps_the_write_but_loses_the_answer() {
    let tenant = Tenant::start().await;
    tenant.emulator.set_faults(FaultConfig::none().with(
        RouteFilter::route("POST", "/api/v2/users"),
        Fault::DropAfterApply {
            when: Trigger::Next(1),
        },
    ));
    let body = json!({"connection": "partner-db", "email": "lost@partner.example",
                      "password": "Str0ng!pass", "verify_email": false});
    let result = tenant
        .http
        .post(tenant.url("/api/v2/users"))
        .bearer_auth(&tenant.token)
        .json(&body)
        .send()
        .await;
    assert!(
        result.is_err(),
        "the client sees a transport error: {result:?}"
    );

    let found = tenant
        .get("/api/v2/users-by-email?email=lost%40partner.example")
        .await;
    assert_eq!(
        found.body.as_array().unwrap().len(),
        1,
        "the write happened"
    );
    let retry = tenant.post("/api/v2/users", &body).await;
    assert_eq!(retry.status, 409, "a retry sees the applied write");

    let log = tenant.emulator.requests();
    let dropped: Vec<_> = log.iter().filter(|r| r.dropped).collect();
    assert_eq!(dropped.len(), 1);
    assert_eq!(
        (dropped[0].method.as_str(), dropped[0].status),
        ("POST", 201)
    );
}

#[tokio::test(start_paused = true)]
async fn latency_delays_without_failing() {
    let tenant = Tenant::start().await;
    tenant.emulator.set_faults(FaultConfig::none().with(
        RouteFilter::route("*", "/oauth/token"),
        Fault::Latency {
            min: Duration::from_secs(2),
            max: Duration::from_secs(5),
        },
    ));
    let started = tokio::time::Instant::now();
    let form = [("grant_type", "client_credentials"), ("client_id", "x")];
    let reply = tenant
        .send(tenant.http.post(tenant.url("/oauth/token")).form(&form))
        .await;
    assert_eq!(reply.status, 401);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "paused time moved on"
    );
}
