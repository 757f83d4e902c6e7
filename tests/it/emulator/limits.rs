//! The Management API rate limit: headers on every response and the 429 body.

use serde_json::json;
use verifyctl::emulator::{EmulatorConfig, RateLimit};

use super::{ALICE_PATH, Tenant, config, fixture};

/// Seconds from now until the epoch second in `header` (the reset is wall-clock time).
fn seconds_until(header: &str) -> i64 {
    let reset: i64 = header.parse().expect("an epoch second");
    reset - time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn without_a_limit_headers_still_say_a_thousand() {
    let tenant = Tenant::start().await;
    let reply = tenant.get(ALICE_PATH).await;
    assert_eq!(reply.header("x-ratelimit-limit"), "1000");
    assert_eq!(reply.header("x-ratelimit-remaining"), "1000");
    assert!((-1..=1).contains(&seconds_until(reply.header("x-ratelimit-reset"))));
}

#[tokio::test]
async fn a_small_bucket_runs_dry_and_answers_the_global_limit_body() {
    // One token per 1000 s: nothing refills while the test runs.
    let limit = RateLimit {
        burst: 2,
        per_second: 0.001,
    };
    let tenant = Tenant::start_with(
        fixture(),
        EmulatorConfig {
            rate_limit: Some(limit),
            ..config()
        },
    )
    .await;
    let first = tenant.get(ALICE_PATH).await;
    let second = tenant.get(ALICE_PATH).await;
    let third = tenant.get(ALICE_PATH).await;
    assert_eq!((first.status, second.status, third.status), (200, 200, 429));
    assert_eq!(first.header("x-ratelimit-limit"), "2");
    assert_eq!(first.header("x-ratelimit-remaining"), "1");
    assert_eq!(second.header("x-ratelimit-remaining"), "0");
    assert_eq!(third.header("x-ratelimit-remaining"), "0");
    assert!((998..=1001).contains(&seconds_until(third.header("x-ratelimit-reset"))));
    assert_eq!(
        third.body,
        json!({"statusCode": 429, "error": "Too Many Requests",
               "message": "Global limit has been reached", "errorCode": "too_many_requests"})
    );
    // Unauthenticated routes are outside the Management API bucket.
    let token = tenant
        .send(
            tenant
                .http
                .post(tenant.url("/oauth/token"))
                .form(&[("grant_type", "x")]),
        )
        .await;
    assert_eq!(token.status, 400);

    tenant.emulator.set_rate_limit(None);
    assert_eq!(tenant.get(ALICE_PATH).await.status, 200);
}

#[tokio::test]
async fn the_tenant_file_limit_applies_unless_the_config_overrides_it() {
    let mut state = fixture();
    state.settings.rate_limit = Some(RateLimit {
        burst: 1,
        per_second: 0.001,
    });
    let from_file = Tenant::start_with(state.clone(), config()).await;
    assert_eq!(from_file.get(ALICE_PATH).await.status, 200);
    assert_eq!(from_file.get(ALICE_PATH).await.status, 429);

    let overridden = Tenant::start_with(
        state,
        EmulatorConfig {
            rate_limit: Some(RateLimit {
                burst: 5,
                per_second: 1.0,
            }),
            ..config()
        },
    )
    .await;
    let reply = overridden.get(ALICE_PATH).await;
    assert_eq!(reply.header("x-ratelimit-limit"), "5");
}
