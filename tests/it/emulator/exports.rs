//! Users-export jobs over HTTP: the echoed job, pending/processing/completed on the
//! emulator's clock, gzip NDJSON and CSV files with field projection and escaping, the
//! pre-signed storage link (expiry, fresh links, refused bearer tokens), and the errors.

use std::io::Read;
use std::time::Duration;

use serde_json::{Value, json};
use verifyctl::emulator::{Identity, RateLimit, TenantState, Timings, User};

use super::{PARTNER_DB_ID, Reply, Tenant, config, fixture};

/// The fixture plus `count` partner-db users, one with values a spreadsheet would run.
fn tenant_with(count: usize) -> TenantState {
    let mut state = fixture();
    state.users.extend((0..count).map(|i| {
        User {
            user_id: format!("auth0|{i:024x}"),
            email: Some(format!("user{i}@partner-db.example")),
            email_verified: Some(false),
            identities: vec![Identity {
                connection: "partner-db".into(),
                user_id: Some(json!(format!("{i:024x}"))),
                provider: Some("auth0".into()),
                is_social: Some(false),
                ..Identity::default()
            }],
            created_at: Some("2026-01-01T00:00:00.000Z".into()),
            user_metadata: json!({"country": "FR"}).as_object().cloned(),
            other: match i {
                0 => json!({"name": "=HYPERLINK(\"x\")", "logins_count": 2}),
                _ => json!({"name": format!("User {i}")}),
            }
            .as_object()
            .cloned()
            .unwrap()
            .into(),
            ..User::default()
        }
    }));
    state
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .expect("a gzip file");
    text
}

/// Downloads a link as a browser would: no Authorization header.
async fn download(tenant: &Tenant, location: &str) -> (u16, String, Vec<u8>) {
    let response = tenant.http.get(location).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        status,
        content_type,
        response.bytes().await.unwrap().to_vec(),
    )
}

async fn completed(tenant: &Tenant, job_id: &str) -> Reply {
    let job = tenant.get(&format!("/api/v2/jobs/{job_id}")).await;
    assert_eq!(job.status, 200);
    assert_eq!(job.body["status"], "completed", "{}", job.body);
    job
}

#[tokio::test]
async fn a_json_export_echoes_the_job_and_serves_gzip_ndjson_from_storage() {
    let tenant = Tenant::start_with(tenant_with(30), config()).await;
    let request = json!({"connection_id": PARTNER_DB_ID, "format": "json", "limit": 5,
        "fields": [{"name": "email"}, {"name": "identities[0].connection", "export_as": "provider"},
                   {"name": "user_metadata"}, {"name": "logins_count"}]});
    let created = tenant.post("/api/v2/jobs/users-exports", &request).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("job_") && id.len() == 20, "{id}");
    assert_eq!(
        created.body,
        json!({"type": "users_export", "status": "pending", "connection_id": PARTNER_DB_ID,
               "format": "json", "limit": 5, "fields": request["fields"],
               "connection": "partner-db", "created_at": "2026-11-22T10:00:00.000Z", "id": id})
    );
    let job = completed(&tenant, &id).await;
    let location = job.body["location"].as_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!(
            "{}/storage/exports/{id}/acme-demo.json.gz?Expires=",
            tenant.server.base_url()
        )),
        "{location}"
    );
    assert!(location.contains("&Signature="), "{location}");
    let (status, content_type, bytes) = download(&tenant, &location).await;
    assert_eq!((status, content_type.as_str()), (200, "application/gzip"));
    let lines: Vec<Value> = gunzip(&bytes)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "limit");
    assert_eq!(
        lines[0],
        json!({"email": "alice@partner.example", "provider": "partner-db", "logins_count": 3}),
        "alice first (creation order); user_metadata, which she lacks, is left out"
    );
    assert_eq!(
        lines[1],
        json!({"email": "user0@partner-db.example", "provider": "partner-db",
               "user_metadata": {"country": "FR"}, "logins_count": 2})
    );
    let storage_requests: Vec<_> = tenant
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/storage/"))
        .collect();
    assert_eq!(storage_requests.len(), 1);
    assert!(
        !storage_requests[0].authorization,
        "no bearer token reached storage"
    );
    assert_eq!(storage_requests[0].status, 200);
}

#[tokio::test]
async fn the_default_json_export_holds_whole_users_of_every_connection() {
    let tenant = Tenant::start_with(tenant_with(3), config()).await;
    let created = tenant.post("/api/v2/jobs/users-exports", &json!({})).await;
    assert_eq!(created.status, 200);
    assert_eq!(created.body["format"], "json");
    assert!(created.body.get("connection_id").is_none());
    assert!(created.body.get("fields").is_none());
    let job = completed(&tenant, created.body["id"].as_str().unwrap()).await;
    let (_, _, bytes) = download(&tenant, job.body["location"].as_str().unwrap()).await;
    let text = gunzip(&bytes);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "alice, bob (corp-saml) and three partners");
    let alice = tenant.get(super::ALICE_PATH).await.body;
    assert_eq!(lines[0], alice, "a whole user, as the API shows it");
}

#[tokio::test]
async fn a_csv_export_has_a_header_and_escapes_strings() {
    let tenant = Tenant::start_with(tenant_with(2), config()).await;
    let request = json!({"connection_id": PARTNER_DB_ID, "format": "csv",
        "fields": [{"name": "user_id"}, {"name": "name", "export_as": "Full name"},
                   {"name": "user_metadata.country"}, {"name": "logins_count"},
                   {"name": "email_verified"}]});
    let created = tenant.post("/api/v2/jobs/users-exports", &request).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let job = completed(&tenant, created.body["id"].as_str().unwrap()).await;
    let location = job.body["location"].as_str().unwrap();
    assert!(location.contains("/acme-demo.csv.gz?"), "{location}");
    let (status, _, bytes) = download(&tenant, location).await;
    assert_eq!(status, 200);
    let expected = concat!(
        "\"user_id\",\"Full name\",\"user_metadata.country\",\"logins_count\",\"email_verified\"\n",
        "\"auth0|63d17c4a8869daf88ed7db97\",,,3,false\n",
        "\"auth0|000000000000000000000000\",\"'=HYPERLINK(\"\"x\"\")\",\"FR\",2,false\n",
        "\"auth0|000000000000000000000001\",\"User 1\",\"FR\",,false\n",
    );
    assert_eq!(gunzip(&bytes), expected);
}

#[tokio::test]
async fn a_slow_export_is_pending_then_processing_then_completed_on_the_clock() {
    let tenant = Tenant::start_with(tenant_with(999), config()).await;
    tenant.emulator.set_timings(Timings {
        job_pending: Duration::from_secs(2),
        export_users_per_second: Some(100.0),
        ..Timings::instant()
    });
    let created = tenant
        .post(
            "/api/v2/jobs/users-exports",
            &json!({"connection_id": PARTNER_DB_ID}),
        )
        .await;
    let path = format!("/api/v2/jobs/{}", created.body["id"].as_str().unwrap());
    let clock = tenant.emulator.clock().clone();
    let pending = tenant.get(&path).await;
    assert_eq!(pending.body["status"], "pending");
    assert!(pending.body.get("location").is_none());
    clock.advance(time::Duration::seconds(4));
    let processing = tenant.get(&path).await;
    assert_eq!(processing.body["status"], "processing");
    assert_eq!(processing.body["percentage_done"], 20, "200 of 1000 users");
    assert_eq!(processing.body["time_left_seconds"], 8);
    assert!(processing.body.get("location").is_none());
    clock.advance(time::Duration::seconds(8));
    let done = tenant.get(&path).await;
    assert_eq!(done.body["status"], "completed");
    assert!(done.body.get("percentage_done").is_none());
    let (status, _, bytes) = download(&tenant, done.body["location"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(gunzip(&bytes).lines().count(), 1000);
}

#[tokio::test]
async fn links_expire_after_60_seconds_refuse_bearer_tokens_and_jobs_expire_after_a_day() {
    let tenant = Tenant::start_with(tenant_with(2), config()).await;
    let created = tenant.post("/api/v2/jobs/users-exports", &json!({})).await;
    let id = created.body["id"].as_str().unwrap();
    let path = format!("/api/v2/jobs/{id}");
    let first = completed(&tenant, id).await.body["location"]
        .as_str()
        .unwrap()
        .to_owned();

    let with_token = tenant
        .http
        .get(&first)
        .bearer_auth(&tenant.token)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status().as_u16(), 400);
    assert_eq!(
        with_token.headers()["content-type"].to_str().unwrap(),
        "application/xml"
    );
    let text = with_token.text().await.unwrap();
    assert!(text.contains("<Code>InvalidArgument</Code>"), "{text}");
    assert!(
        text.contains("<Message>Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified</Message>"),
        "{text}"
    );
    assert!(
        !text.contains(&tenant.token),
        "the token is not echoed: {text}"
    );
    let flags: Vec<bool> = tenant
        .emulator
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/storage/"))
        .map(|r| r.authorization)
        .collect();
    assert_eq!(
        flags,
        [true],
        "the request log tells a bearer token reached storage"
    );

    let tampered = first.replace("Signature=", "Signature=0");
    let (status, _, body) = download(&tenant, &tampered).await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("<Code>SignatureDoesNotMatch</Code>"));

    tenant.emulator.clock().advance(time::Duration::seconds(61));
    let (status, content_type, body) = download(&tenant, &first).await;
    assert_eq!((status, content_type.as_str()), (403, "application/xml"));
    let body = String::from_utf8(body).unwrap();
    assert!(
        body.contains("<Code>AccessDenied</Code><Message>Request has expired</Message><Expires>2026-11-22T10:01:00Z</Expires><ServerTime>2026-11-22T10:01:01Z</ServerTime>"),
        "{body}"
    );
    let fresh = tenant.get(&path).await.body["location"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(fresh, first, "re-reading the job signs a fresh link");
    assert_eq!(download(&tenant, &fresh).await.0, 200);

    tenant.emulator.clock().advance(time::Duration::hours(24));
    // A day later the token has expired too.
    let token = tenant.emulator.issue_token(super::ALL_SCOPES);
    let gone = tenant
        .send(tenant.http.get(tenant.url(&path)).bearer_auth(token))
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(
        gone.body,
        json!({"statusCode": 404, "error": "Not Found", "message": "Job not found."})
    );
}

#[tokio::test]
async fn downloads_are_storage_not_rate_limited_api_requests() {
    let tenant = Tenant::start_with(tenant_with(2), config()).await;
    let created = tenant.post("/api/v2/jobs/users-exports", &json!({})).await;
    let location = completed(&tenant, created.body["id"].as_str().unwrap())
        .await
        .body["location"]
        .as_str()
        .unwrap()
        .to_owned();
    tenant.emulator.set_rate_limit(Some(RateLimit {
        burst: 1,
        per_second: 0.001,
    }));
    for _ in 0..5 {
        let response = tenant.http.get(&location).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert!(response.headers().get("x-ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn export_requests_are_validated_with_auth0s_errors() {
    let tenant = Tenant::start_with(tenant_with(1), config()).await;
    let post = |body: Value| {
        let tenant = &tenant;
        async move { tenant.post("/api/v2/jobs/users-exports", &body).await }
    };
    let unknown = post(json!({"connection_id": "con_AAAAAAAAAAAAAAAA"})).await;
    assert_eq!(unknown.status, 400);
    assert_eq!(
        unknown.body,
        json!({"statusCode": 400, "error": "Bad Request",
               "message": "The connection does not exist.", "errorCode": "inexistent_connection"})
    );
    let malformed = post(json!({"connection_id": "partner-db"})).await;
    assert_eq!(
        malformed.body["message"],
        "Payload validation error: 'String does not match pattern ^con_[A-Za-z0-9]{16}$' on property connection_id."
    );
    let format = post(json!({"format": "ndjson"})).await;
    assert_eq!(format.status, 400);
    assert!(
        format.body["message"]
            .as_str()
            .unwrap()
            .contains("No enum match for: \"ndjson\"")
    );
    let limit = post(json!({"limit": 0})).await;
    assert_eq!(limit.status, 400);
    let field = post(json!({"fields": [{"export_as": "x"}]})).await;
    assert_eq!(
        field.body["message"],
        "Payload validation error: 'Missing required property: name' on property fields[0]."
    );
    let too_many: Vec<Value> = (0..31)
        .map(|i| json!({"name": format!("app_metadata.f{i}")}))
        .collect();
    let wide = post(json!({"format": "csv", "fields": too_many})).await;
    assert_eq!(wide.status, 400);
    assert!(
        wide.body["message"]
            .as_str()
            .unwrap()
            .contains("maximum 30"),
        "{}",
        wide.body
    );
    let thirty: Vec<Value> = (0..30)
        .map(|i| json!({"name": format!("app_metadata.f{i}")}))
        .collect();
    assert_eq!(
        post(json!({"format": "csv", "fields": thirty}))
            .await
            .status,
        200
    );
    let whole = post(json!({"format": "csv", "fields": [{"name": "app_metadata"}]})).await;
    assert_eq!(whole.status, 400);
    assert!(
        whole.body["message"]
            .as_str()
            .unwrap()
            .starts_with("app_metadata cannot be exported as a whole")
    );
    assert_eq!(
        post(json!({"format": "json", "fields": [{"name": "app_metadata"}]}))
            .await
            .status,
        200,
        "JSON can hold whole metadata objects"
    );
    let narrow = tenant.emulator.issue_token(&["read:clients"]);
    let forbidden = tenant
        .send(
            tenant
                .http
                .post(tenant.url("/api/v2/jobs/users-exports"))
                .bearer_auth(narrow)
                .json(&json!({})),
        )
        .await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(
        forbidden.body,
        json!({"statusCode": 403, "error": "Forbidden",
               "message": "Insufficient scope, expected any of: read:users",
               "errorCode": "insufficient_scope"})
    );
}

#[tokio::test]
async fn a_tenant_file_can_slow_jobs_and_logs_down() {
    let yaml = format!(
        "{}settings:\n  timings:\n    job_pending_seconds: 1.5\n    export_users_per_second: 10\n    log_lag_seconds: 2\n",
        super::FIXTURE
    );
    let state: TenantState = serde_saphyr::from_str(&yaml).unwrap();
    let tenant = Tenant::start_with(state, config()).await;
    assert_eq!(
        tenant.emulator.timings(),
        Timings {
            job_pending: Duration::from_millis(1500),
            export_users_per_second: Some(10.0),
            import_users_per_second: None,
            log_lag: Duration::from_secs(2),
        }
    );
    let created = tenant.post("/api/v2/jobs/users-exports", &json!({})).await;
    let path = format!("/api/v2/jobs/{}", created.body["id"].as_str().unwrap());
    assert_eq!(tenant.get(&path).await.body["status"], "pending");
    // Two users at 10 a second: 0.2 s of processing after 1.5 s pending.
    tenant
        .emulator
        .clock()
        .advance(time::Duration::milliseconds(1600));
    assert_eq!(tenant.get(&path).await.body["status"], "processing");
    tenant.emulator.set_timings(Timings::instant());
    assert_eq!(tenant.get(&path).await.body["status"], "completed");
}
