//! Reading a connection's users at any size: user search for small connections (page-index
//! paging across pages), a users-export job for larger ones (a handful of requests for any
//! number of users), the same plan either way, fresh links for expired downloads, and no
//! bearer token ever sent to storage.

use serde_json::json;
use verifyctl::emulator::TenantState;
use verifyctl::plan::build_plan;
use verifyctl::tenant::{ExportPolling, ManagementClient, UserReads, read_live_state};

use crate::support::{TestTenant, desired, stdout, verifyctl};

fn tenant_with_users(count: usize) -> TenantState {
    serde_json::from_value(tenant_json(count)).expect("tenant state")
}

fn tenant_json(count: usize) -> serde_json::Value {
    let users: Vec<_> = (0..count)
        .map(|i| {
            let id = format!("{i:024x}");
            json!({
                "user_id": format!("auth0|{id}"),
                "email": format!("user{i:05}@bulk.example"),
                "email_verified": i % 2 == 0,
                "name": format!("User {i}"),
                "identities": [{"connection": "bulk-db", "user_id": id, "provider": "auth0", "isSocial": false}],
                "app_metadata": {"team": format!("t{}", i % 7)},
                "logins_count": i % 3,
                "created_at": "2026-01-01T00:00:00.000Z",
                "updated_at": "2026-01-01T00:00:00.000Z",
            })
        })
        .collect();
    json!({
        "domain": "bulk.test",
        "connections": [{"id": "con_BuLkDb0000000001", "name": "bulk-db", "strategy": "auth0"}],
        "users": users,
    })
}

const TRUSTED: &str = "connections:\n  - name: bulk-db\n    email_verification: trusted\n";
const REQUIRED: &str = "connections:\n  - name: bulk-db\n    email_verification: required\n    resend: { after: 72h, max: 3 }\nusers:\n  - connection: bulk-db\n    email: user00003@bulk.example\n    name: Someone Else\n    app_metadata: { team: blue }\n  - connection: bulk-db\n    email: newcomer@bulk.example\n";

fn fast_polling() -> ExportPolling {
    ExportPolling {
        first: std::time::Duration::from_millis(5),
        ..ExportPolling::default()
    }
}

fn reading(client: ManagementClient, search_up_to: u64) -> ManagementClient {
    client.with_user_reads(UserReads {
        search_up_to,
        polling: fast_polling(),
    })
}

fn connection() -> verifyctl::tenant::Connection {
    verifyctl::tenant::Connection {
        id: "con_BuLkDb0000000001".into(),
        name: "bulk-db".into(),
        strategy: "auth0".into(),
        options: None,
        display_name: None,
    }
}

fn count(tenant: &TestTenant, path_starts: &str) -> usize {
    tenant
        .emulator
        .requests()
        .iter()
        .filter(|r| r.path.starts_with(path_starts))
        .count()
}

#[tokio::test]
async fn small_connections_are_read_through_search_across_pages() {
    let tenant = TestTenant::start(tenant_with_users(450)).await;
    let client = reading(tenant.client(), 500);
    let users = client
        .users_of_connection(&connection())
        .await
        .expect("users");
    assert_eq!(users.len(), 450);
    let mut ids: Vec<_> = users.iter().map(|u| u.user_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 450, "no user read twice");
    assert_eq!(client.stats().requests.get("GET /api/v2/users"), Some(&5));
    assert_eq!(
        count(&tenant, "/api/v2/jobs"),
        0,
        "no export for a small connection"
    );
}

#[tokio::test]
async fn a_connection_past_the_search_limit_is_read_through_an_export_job() {
    let tenant = TestTenant::start(tenant_with_users(1001)).await;
    let client = reading(tenant.client(), 500);
    let users = client
        .users_of_connection(&connection())
        .await
        .expect("no connection is refused for its size");
    assert_eq!(users.len(), 1001);
    let stats = client.stats();
    assert_eq!(
        stats.requests.get("GET /api/v2/users"),
        Some(&1),
        "one search page to size it"
    );
    assert_eq!(
        stats.requests.get("POST /api/v2/jobs/users-exports"),
        Some(&1)
    );
    assert!(stats.total() <= 10, "{stats:?}");
    assert_eq!(stats.downloads, 1);
    // The export asked for exactly the fields the plan reads.
    let exports: Vec<_> = tenant
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v2/jobs/users-exports")
        .collect();
    assert_eq!(exports.len(), 1);
}

#[tokio::test]
async fn export_and_search_give_the_same_plan() {
    let tenant = TestTenant::start(tenant_with_users(950)).await;
    for policy in [TRUSTED, REQUIRED] {
        let desired = desired(policy);
        let by_search = read_live_state(&reading(tenant.client(), 999), &desired)
            .await
            .expect("search");
        let by_export = read_live_state(&reading(tenant.client(), 0), &desired)
            .await
            .expect("export");
        assert_eq!(
            by_search.users, by_export.users,
            "the same users, field for field"
        );
        let now = tenant.clock.now();
        let search_plan = build_plan(&desired, &by_search, now).expect("plan");
        let export_plan = build_plan(&desired, &by_export, now).expect("plan");
        assert!(!search_plan.actions.is_empty());
        assert_eq!(search_plan, export_plan);
    }
}

#[tokio::test]
async fn an_expired_download_link_is_fetched_again_and_storage_never_sees_the_token() {
    let tenant = TestTenant::start(tenant_with_users(600)).await;
    let client = reading(tenant.client(), 0);
    let job = client
        .start_users_export(&verifyctl::tenant::types::UsersExportRequest {
            connection_id: "con_BuLkDb0000000001".into(),
            format: "json",
            fields: vec![verifyctl::tenant::types::ExportField { name: "user_id" }],
        })
        .await
        .expect("job");
    let job = client.get_job(&job.id).await.expect("job");
    assert!(job.is_completed(), "{job:?}");
    // The link is valid for 60 s; a slow client comes back later.
    tenant.clock.advance(time::Duration::seconds(61));
    let users = client
        .download_export("bulk-db", job)
        .await
        .expect("a fresh link is fetched");
    assert_eq!(users.len(), 600);
    let storage: Vec<_> = tenant
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/storage/"))
        .collect();
    assert_eq!(
        storage.iter().map(|r| r.status).collect::<Vec<_>>(),
        [403, 200],
        "the expired link is refused, the fresh one served"
    );
    assert!(
        storage.iter().all(|r| !r.authorization),
        "the Management API token never travels to storage"
    );
    assert_eq!(client.stats().downloads, 2);
}

#[test]
fn a_large_connection_is_planned_through_an_export_in_a_handful_of_requests() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tenant = dir.path().join("tenant.json");
    std::fs::write(&tenant, tenant_json(5_000).to_string()).expect("tenant file");
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).expect("policies dir");
    std::fs::write(policies.join("p.yaml"), TRUSTED).expect("policy");
    let output = verifyctl(
        &[
            "plan",
            policies.to_str().expect("utf-8"),
            "--tenant-file",
            tenant.to_str().expect("utf-8"),
            "--format",
            "json",
        ],
        &[("VERIFYCTL_NOW", crate::support::NOW_TEXT.to_string())],
        None,
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        crate::support::stderr(&output)
    );
    let plan: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON plan");
    assert_eq!(plan["summary"]["by_kind"]["mark_email_verified"], 2_500);
    let requests = plan["requests"].as_u64().expect("requests");
    assert!(
        requests <= 10,
        "reading 5,000 users took {requests} Management API requests"
    );
}

#[tokio::test]
async fn a_failed_export_job_is_a_clear_error() {
    let tenant = TestTenant::start(tenant_with_users(700)).await;
    tenant.emulator.set_exports_fail(true);
    let error = reading(tenant.client(), 500)
        .users_of_connection(&connection())
        .await
        .expect_err("the export failed");
    let message = error.to_string();
    assert!(
        message.starts_with("reading connection `bulk-db`: the users-export job job_")
            && message.contains("failed: The export could not be completed"),
        "{message}"
    );
    assert!(
        error.hint().is_some_and(|h| h.contains("plan again")),
        "{:?}",
        error.hint()
    );
}
