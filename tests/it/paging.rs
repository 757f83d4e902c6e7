//! Reading users: page-index paging across several pages, and a clear refusal (never a
//! silent truncation) when a connection is past user search's 1000-result limit.

use serde_json::json;
use verifyctl::emulator::TenantState;
use verifyctl::tenant::ApiError;

use crate::support::{TestTenant, desired};

fn tenant_with_users(count: usize) -> TenantState {
    let users: Vec<_> = (0..count)
        .map(|i| {
            let id = format!("{i:024x}");
            json!({
                "user_id": format!("auth0|{id}"),
                "email": format!("user{i:05}@bulk.example"),
                "email_verified": i % 2 == 0,
                "identities": [{"connection": "bulk-db", "user_id": id, "provider": "auth0", "isSocial": false}],
                "created_at": "2026-01-01T00:00:00.000Z",
                "updated_at": "2026-01-01T00:00:00.000Z",
            })
        })
        .collect();
    serde_json::from_value(json!({
        "domain": "bulk.test",
        "connections": [{"id": "con_BuLkDb0000000001", "name": "bulk-db", "strategy": "auth0"}],
        "users": users,
    }))
    .expect("tenant state")
}

const TRUSTED: &str = "connections:\n  - name: bulk-db\n    email_verification: trusted\n";

#[tokio::test]
async fn reads_every_user_across_pages() {
    let tenant = TestTenant::start(tenant_with_users(950)).await;
    let client = tenant.client();
    let users = client.users_of_connection("bulk-db").await.expect("users");
    assert_eq!(users.len(), 950);
    let mut ids: Vec<_> = users.iter().map(|u| u.user_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 950, "no user read twice");
    assert_eq!(client.stats().requests.get("GET /api/v2/users"), Some(&10));

    let plan = tenant.plan(&desired(TRUSTED)).await;
    assert_eq!(
        plan.actions.len(),
        475,
        "every unverified user is marked verified"
    );
}

#[tokio::test]
async fn refuses_a_connection_past_the_search_limit() {
    let tenant = TestTenant::start(tenant_with_users(1001)).await;
    let error = tenant
        .client()
        .users_of_connection("bulk-db")
        .await
        .expect_err("must refuse");
    assert!(
        matches!(&error, ApiError::TooManyUsers { connection, total: 1001, limit: 1000 } if connection == "bulk-db"),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("`bulk-db` has 1001 users"), "{message}");
    assert!(message.contains("at most 1000"), "{message}");
    // It stops at the first page: no request runs into the search window error.
    let searches = tenant
        .emulator
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v2/users")
        .count();
    assert_eq!(searches, 1);
}
