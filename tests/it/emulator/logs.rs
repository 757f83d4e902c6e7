//! Tenant logs over HTTP: `svr` and `scpr` events recorded for the emails the tenant
//! sends, search (`q`, paging, sort, totals), per-user logs, checkpoint reads with their
//! `Link` header, the configurable lag, retention and persistence in the tenant file.

use std::time::Duration;

use serde_json::{Value, json};
use verifyctl::emulator::{Emulator, Timings, load_tenant_file, save_tenant_file};

use super::{ALICE, ALICE_PATH, PARTNER_DB_ID, PORTAL_CLIENT, Reply, Tenant, config};

fn ids(reply: &Value) -> Vec<String> {
    let logs = reply.get("logs").unwrap_or(reply);
    logs.as_array()
        .unwrap()
        .iter()
        .map(|l| l["log_id"].as_str().unwrap().to_owned())
        .collect()
}

fn types(reply: &Value) -> Vec<String> {
    let logs = reply.get("logs").unwrap_or(reply);
    logs.as_array()
        .unwrap()
        .iter()
        .map(|l| l["type"].as_str().unwrap().to_owned())
        .collect()
}

async fn send_verification(tenant: &Tenant, user_id: &str) -> String {
    let job = tenant
        .post(
            "/api/v2/jobs/verification-email",
            &json!({"user_id": user_id, "client_id": PORTAL_CLIENT}),
        )
        .await;
    assert_eq!(job.status, 201);
    job.body["id"].as_str().unwrap().to_owned()
}

async fn reset_password(tenant: &Tenant, email: &str) {
    let body = json!({"client_id": PORTAL_CLIENT, "email": email, "connection": "partner-db"});
    let request = tenant
        .http
        .post(tenant.url("/dbconnections/change_password"))
        .json(&body);
    assert_eq!(tenant.send(request).await.status, 200);
}

fn query(q: &str) -> String {
    url::form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

#[tokio::test]
async fn sent_emails_are_logged_with_auth0s_entry_shape() {
    let tenant = Tenant::start().await;
    let job_id = send_verification(&tenant, ALICE).await;
    reset_password(&tenant, "alice@partner.example").await;
    reset_password(&tenant, "nobody@partner.example").await;
    let created = tenant
        .post(
            "/api/v2/users",
            &json!({"connection": "partner-db", "email": "carol@partner.example",
                    "password": "Str0ng!pass"}),
        )
        .await;
    assert_eq!(created.status, 201);
    let carol = created.body["user_id"].as_str().unwrap().to_owned();

    let all = tenant.get("/api/v2/logs").await;
    assert_eq!(all.status, 200);
    assert_eq!(
        types(&all.body),
        ["svr", "scpr", "svr"],
        "newest first by default"
    );
    let svr = tenant
        .get(&format!(
            "/api/v2/logs?q={}",
            query(&format!(r#"type:"svr" AND user_id:"{ALICE}""#))
        ))
        .await;
    let entries = svr.body.as_array().unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    let log_id = entry["log_id"].as_str().unwrap();
    assert_eq!(log_id.len(), 56);
    assert!(log_id.chars().all(|c| c.is_ascii_digit()));
    assert_eq!(
        entry,
        &json!({
            "log_id": log_id,
            "date": "2026-11-22T10:00:00.000Z",
            "type": "svr",
            "description": "Verification email has been queued for sending",
            "client_id": PORTAL_CLIENT,
            "client_name": "Partner Portal",
            "connection": "partner-db",
            "connection_id": PARTNER_DB_ID,
            "strategy": "auth0",
            "strategy_type": "database",
            "user_id": ALICE,
            "user_name": "alice@partner.example",
            "ip": "127.0.0.1",
            "hostname": "acme-demo.eu.auth0.com",
            "details": {"email": "alice@partner.example", "job_id": job_id},
            "tenant_name": "acme-demo",
        })
    );
    let resets = tenant
        .get(&format!("/api/v2/logs?q={}", query(r#"type:"scpr""#)))
        .await;
    assert_eq!(
        resets.body.as_array().unwrap().len(),
        1,
        "unknown addresses log nothing"
    );
    assert_eq!(resets.body[0]["user_id"], ALICE);
    let created_log = tenant
        .get(&format!(
            "/api/v2/logs?q={}",
            query(&format!("user_id:\"{carol}\""))
        ))
        .await;
    assert_eq!(
        types(&created_log.body),
        ["svr"],
        "create sends one by default"
    );
    assert!(created_log.body[0]["details"].get("job_id").is_none());
}

#[tokio::test]
async fn log_search_pages_sorts_projects_and_filters_by_date() {
    let tenant = Tenant::start().await;
    for _ in 0..5 {
        send_verification(&tenant, ALICE).await;
        tenant.emulator.clock().advance(time::Duration::hours(1));
    }
    let page = tenant
        .get("/api/v2/logs?per_page=2&page=1&sort=date:1&include_totals=true&fields=date,type")
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.body,
        json!({"length": 2, "limit": 2, "start": 2, "total": 2, "logs": [
            {"date": "2026-11-22T12:00:00.000Z", "type": "svr"},
            {"date": "2026-11-22T13:00:00.000Z", "type": "svr"}]})
    );
    let later = tenant
        .get(&format!(
            "/api/v2/logs?q={}",
            query("date:[2026-11-22T12:00:00 TO *] AND type:svr")
        ))
        .await;
    assert_eq!(later.body.as_array().unwrap().len(), 3);
    let day = tenant
        .get(&format!("/api/v2/logs?q={}", query("date:2026-11-22")))
        .await;
    assert_eq!(day.body.as_array().unwrap().len(), 5);
    let before = tenant
        .get(&format!(
            "/api/v2/logs?q={}",
            query("date:[* TO 2026-11-22}")
        ))
        .await;
    assert_eq!(before.body, json!([]));

    let user = tenant
        .get(&format!("{ALICE_PATH}/logs?per_page=2&include_totals=true"))
        .await;
    assert_eq!(user.status, 200);
    assert_eq!(user.body["length"], 2);
    assert_eq!(user.body["logs"][0]["date"], "2026-11-22T14:00:00.000Z");
    let all_of_alice = tenant.get(&format!("{ALICE_PATH}/logs?sort=date:1")).await;
    assert_eq!(
        all_of_alice.body.as_array().unwrap().len(),
        5,
        "no paging without per_page"
    );
    assert_eq!(all_of_alice.body[0]["date"], "2026-11-22T10:00:00.000Z");
    let nobody = tenant.get("/api/v2/users/auth0%7Cnobody/logs").await;
    assert_eq!(nobody.body, json!([]));

    let too_big = tenant.get("/api/v2/logs?per_page=101").await;
    assert_eq!(too_big.status, 400);
    assert_eq!(
        too_big.body["message"],
        "Query validation error: 'Value 101 is greater than maximum 100' on property per_page (Number of results per page. Defaults to 50)."
    );
    let deep = tenant.get("/api/v2/logs?per_page=100&page=10").await;
    assert_eq!(deep.body["errorCode"], "invalid_paging");
    let narrow = tenant.emulator.issue_token(&["read:users"]);
    let forbidden = tenant
        .send(
            tenant
                .http
                .get(tenant.url("/api/v2/logs"))
                .bearer_auth(&narrow),
        )
        .await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(
        forbidden.body["message"],
        "Insufficient scope, expected any of: read:logs"
    );
    let forbidden = tenant
        .send(
            tenant
                .http
                .get(tenant.url(&format!("{ALICE_PATH}/logs")))
                .bearer_auth(&narrow),
        )
        .await;
    assert_eq!(
        forbidden.body["message"],
        "Insufficient scope, expected any of: read:logs,read:logs_users"
    );
}

fn next_link(reply: &Reply) -> String {
    let link = reply.header("link");
    let start = link.find('<').unwrap() + 1;
    let end = link.find(">; rel=\"next\"").unwrap();
    link[start..end].to_owned()
}

#[tokio::test]
async fn checkpoint_reads_return_newer_entries_in_log_id_order_and_follow_the_link() {
    let tenant = Tenant::start().await;
    for _ in 0..5 {
        send_verification(&tenant, ALICE).await;
    }
    let newest_first = ids(&tenant.get("/api/v2/logs").await.body);
    let mut ascending = newest_first.clone();
    ascending.reverse();
    let first = tenant.get("/api/v2/logs?take=2&q=ignored:x").await;
    assert_eq!(
        first.status, 200,
        "every parameter but from and take is ignored"
    );
    assert_eq!(ids(&first.body), ascending[..2]);
    let mut seen = ids(&first.body);
    let mut link = next_link(&first);
    loop {
        assert!(link.starts_with(&tenant.server.base_url()), "{link}");
        let path = &link[tenant.server.base_url().len()..];
        let reply = tenant.get(path).await;
        let page = ids(&reply.body);
        let next = next_link(&reply);
        if page.is_empty() {
            assert_eq!(next, link, "an empty read links to itself");
            break;
        }
        seen.extend(page);
        link = next;
    }
    assert_eq!(seen, ascending);
    let from_middle = tenant
        .get(&format!("/api/v2/logs?from={}&take=100", ascending[2]))
        .await;
    assert_eq!(ids(&from_middle.body), ascending[3..]);
    let too_many = tenant.get("/api/v2/logs?take=101").await;
    assert_eq!(too_many.status, 400);
}

#[tokio::test]
async fn new_events_appear_after_the_configured_lag() {
    let tenant = Tenant::start().await;
    tenant.emulator.set_timings(Timings {
        log_lag: Duration::from_secs(5),
        ..Timings::instant()
    });
    send_verification(&tenant, ALICE).await;
    assert_eq!(tenant.get("/api/v2/logs").await.body, json!([]));
    assert_eq!(tenant.get("/api/v2/logs?take=10").await.body, json!([]));
    assert_eq!(
        tenant.get(&format!("{ALICE_PATH}/logs")).await.body,
        json!([])
    );
    tenant.emulator.clock().advance(time::Duration::seconds(5));
    assert_eq!(types(&tenant.get("/api/v2/logs").await.body), ["svr"]);
    assert_eq!(ids(&tenant.get("/api/v2/logs?take=10").await.body).len(), 1);
}

#[tokio::test]
async fn logs_persist_in_the_tenant_file_and_expire_after_thirty_days() {
    let tenant = Tenant::start().await;
    send_verification(&tenant, ALICE).await;
    reset_password(&tenant, "alice@partner.example").await;
    let before = ids(&tenant.get("/api/v2/logs?sort=date:1").await.body);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tenant.yaml");
    save_tenant_file(&path, &tenant.emulator.snapshot()).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("logs:"), "{text}");

    // A later run: the clock has moved on an hour.
    let later = config();
    later.clock.advance(time::Duration::hours(1));
    let state = load_tenant_file(&path).unwrap();
    assert_eq!(state.logs.len(), 2);
    let next = Tenant::start_with(state, later).await;
    let after = ids(&next.get("/api/v2/logs?sort=date:1").await.body);
    assert_eq!(after, before, "an earlier run's events are there");
    send_verification(&next, ALICE).await;
    let all = ids(&next.get("/api/v2/logs?take=100").await.body);
    assert_eq!(all.len(), 3);
    assert!(all[2] > all[1], "new ids sort after the loaded ones");

    next.emulator.clock().advance(time::Duration::days(30));
    let token = next.emulator.issue_token(super::ALL_SCOPES);
    let kept = next
        .send(next.http.get(next.url("/api/v2/logs")).bearer_auth(&token))
        .await;
    assert_eq!(
        types(&kept.body),
        ["svr"],
        "only the entry younger than 30 days"
    );
    let reloaded = Emulator::new(next.emulator.snapshot(), config());
    assert_eq!(reloaded.snapshot().logs.len(), 1);
}
