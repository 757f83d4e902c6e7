//! Users-import jobs over HTTP (multipart uploads built by hand), their per-record
//! errors, and the enabled applications of a connection that an import requires.

use std::time::Duration;

use serde_json::{Value, json};
use verifyctl::emulator::{OutboxKind, Timings, load_tenant_file, save_tenant_file};

use super::{PARTNER_DB_ID, PORTAL_CLIENT, Reply, Tenant};

const BOUNDARY: &str = "emulator-test-boundary";

/// A multipart body: `(name, value)` text parts, and `users` as a JSON file when given.
fn multipart(users: Option<&[u8]>, parts: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in parts {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some(users) = users {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"users\"; filename=\"users.json\"\r\nContent-Type: application/json\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(users);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload(tenant: &Tenant, body: Vec<u8>) -> Reply {
    let request = tenant
        .http
        .post(tenant.url("/api/v2/jobs/users-imports"))
        .bearer_auth(&tenant.token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body);
    tenant.send(request).await
}

async fn import(tenant: &Tenant, users: &Value, parts: &[(&str, &str)]) -> Reply {
    let file = serde_json::to_vec(users).unwrap();
    upload(tenant, multipart(Some(&file), parts)).await
}

fn into_partner_db<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut parts = vec![("connection_id", PARTNER_DB_ID)];
    parts.extend_from_slice(extra);
    parts
}

#[tokio::test]
async fn an_import_creates_users_unverified_unless_told_and_sends_no_verification_email() {
    let tenant = Tenant::start().await;
    let users = json!([
        {"email": "New.One@partner.example", "given_name": "New", "user_metadata": {"lang": "fr"}},
        {"email": "two@partner.example", "email_verified": true, "user_id": "custom-two",
         "password_hash": "$2b$10$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01"}
    ]);
    let created = import(
        &tenant,
        &users,
        &into_partner_db(&[
            ("external_id", "batch-7"),
            ("send_completion_email", "false"),
        ]),
    )
    .await;
    assert_eq!(created.status, 202, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.body,
        json!({"type": "users_import", "status": "pending", "connection_id": PARTNER_DB_ID,
               "external_id": "batch-7", "connection": "partner-db",
               "created_at": "2026-11-22T10:00:00.000Z", "id": id})
    );
    let job = tenant.get(&format!("/api/v2/jobs/{id}")).await;
    assert_eq!(
        job.body,
        json!({"type": "users_import", "status": "completed", "connection_id": PARTNER_DB_ID,
               "external_id": "batch-7",
               "summary": {"failed": 0, "updated": 0, "inserted": 2, "total": 2},
               "connection": "partner-db", "created_at": "2026-11-22T10:00:00.000Z", "id": id})
    );
    let one = tenant
        .get("/api/v2/users-by-email?email=new.one%40partner.example")
        .await;
    assert_eq!(one.body[0]["email_verified"], false);
    assert_eq!(one.body[0]["given_name"], "New");
    assert_eq!(one.body[0]["user_metadata"], json!({"lang": "fr"}));
    assert_eq!(one.body[0]["identities"][0]["connection"], "partner-db");
    let two = tenant.get("/api/v2/users/auth0%7Ccustom-two").await;
    assert_eq!(two.status, 200);
    assert_eq!(two.body["email_verified"], true);
    assert!(two.body.get("password_hash").is_none(), "no hash is kept");
    assert!(
        tenant.emulator.outbox().is_empty(),
        "an import sends no email here"
    );
    let errors = tenant.get(&format!("/api/v2/jobs/{id}/errors")).await;
    assert_eq!(errors.status, 204);
}

#[tokio::test]
async fn failed_records_are_listed_per_user_and_duplicates_need_upsert() {
    let tenant = Tenant::start().await;
    let users = json!([
        {"email": "alice@partner.example", "name": "Alice again"},
        {"email": "fresh@partner.example"},
        {"email": "FRESH@partner.example"},
        {"name": "no email"},
        {"email": "x@partner.example", "password": "plain"}
    ]);
    let created = import(&tenant, &users, &into_partner_db(&[])).await;
    assert_eq!(created.status, 202);
    let id = created.body["id"].as_str().unwrap();
    let job = tenant.get(&format!("/api/v2/jobs/{id}")).await;
    assert_eq!(
        job.body["summary"],
        json!({"failed": 4, "updated": 0, "inserted": 1, "total": 5})
    );
    let errors = tenant.get(&format!("/api/v2/jobs/{id}/errors")).await;
    assert_eq!(errors.status, 200);
    let errors = errors.body.as_array().unwrap().clone();
    assert_eq!(errors.len(), 4);
    assert_eq!(
        errors[0],
        json!({"user": users[0], "errors": [{"code": "DUPLICATED_USER",
               "message": "The user already exist and upsert parameter is false", "path": ""}]})
    );
    assert_eq!(errors[1]["user"], users[2], "a repeat within the file");
    assert_eq!(errors[1]["errors"][0]["code"], "DUPLICATED_USER");
    assert_eq!(errors[2]["errors"][0]["code"], "OBJECT_REQUIRED");
    assert_eq!(
        errors[3]["errors"][0]["code"],
        "OBJECT_ADDITIONAL_PROPERTIES"
    );
    let completion: Vec<_> = tenant
        .emulator
        .outbox()
        .into_iter()
        .filter(|m| m.kind == OutboxKind::ImportCompleted)
        .collect();
    assert_eq!(
        completion.len(),
        1,
        "send_completion_email defaults to true"
    );
    assert_eq!(completion[0].job_id.as_deref(), Some(id));
    assert!(
        tenant
            .emulator
            .outbox()
            .iter()
            .all(|m| m.kind != OutboxKind::VerificationEmail)
    );
}

#[tokio::test]
async fn upsert_replaces_metadata_wholesale_and_unverifies_nothing_it_does_not_change() {
    let tenant = Tenant::start().await;
    let users = json!([{"email": "alice@partner.example", "app_metadata": {"plan": "pro"},
                        "family_name": "Doe"}]);
    let created = import(&tenant, &users, &into_partner_db(&[("upsert", "true")])).await;
    let id = created.body["id"].as_str().unwrap();
    let job = tenant.get(&format!("/api/v2/jobs/{id}")).await;
    assert_eq!(
        job.body["summary"],
        json!({"failed": 0, "updated": 1, "inserted": 0, "total": 1})
    );
    let alice = tenant.get(super::ALICE_PATH).await.body;
    assert_eq!(
        alice["app_metadata"],
        json!({"plan": "pro"}),
        "tier: gold is gone"
    );
    assert_eq!(alice["family_name"], "Doe");
    assert_eq!(alice["logins_count"], 3, "other fields are kept");
    assert_eq!(alice["email_verified"], false);
}

#[tokio::test]
async fn uploads_are_refused_with_auth0s_messages() {
    let tenant = Tenant::start().await;
    let users = serde_json::to_vec(&json!([{"email": "a@partner.example"}])).unwrap();
    let message = |reply: &Reply| {
        reply.body["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    let no_file = upload(
        &tenant,
        multipart(None, &[("connection_id", PARTNER_DB_ID)]),
    )
    .await;
    assert_eq!(
        no_file.body,
        json!({"statusCode": 400, "error": "Bad Request",
               "message": "Must provide 'users' file as multipart part."})
    );
    let empty = upload(
        &tenant,
        multipart(Some(b""), &[("connection_id", PARTNER_DB_ID)]),
    )
    .await;
    assert_eq!(message(&empty), "Users file must not be empty.");
    let no_connection = upload(&tenant, multipart(Some(&users), &[])).await;
    assert_eq!(
        message(&no_connection),
        "Must provide 'connection_id' as multipart part."
    );
    let pattern = upload(
        &tenant,
        multipart(Some(&users), &[("connection_id", "partner-db")]),
    )
    .await;
    assert_eq!(
        message(&pattern),
        "Payload validation error: 'String does not match pattern ^con_[A-Za-z0-9]{16}$' on property connection_id."
    );
    let unknown = upload(
        &tenant,
        multipart(Some(&users), &[("connection_id", "con_AAAAAAAAAAAAAAAA")]),
    )
    .await;
    assert_eq!(
        (unknown.status, message(&unknown).as_str()),
        (400, "The connection does not exist.")
    );
    let social = upload(
        &tenant,
        multipart(Some(&users), &[("connection_id", "con_Goog1e0000000000")]),
    )
    .await;
    assert_eq!(
        social.body,
        json!({"statusCode": 400, "error": "Bad Request",
               "message": "Connection must be a database connection.",
               "errorCode": "operation_not_supported"})
    );
    let not_multipart = tenant
        .post("/api/v2/jobs/users-imports", &json!({"users": []}))
        .await;
    assert_eq!(
        message(&not_multipart),
        "Payload validation error: 'Invalid multipart payload format'."
    );
    let mut big = b"[".to_vec();
    while big.len() <= 512_000 {
        big.extend_from_slice(br#"{"email":"someone.with.a.long.address@partner.example"},"#);
    }
    big.extend_from_slice(br#"{"email":"last@partner.example"}]"#);
    let too_large = upload(
        &tenant,
        multipart(Some(&big), &[("connection_id", PARTNER_DB_ID)]),
    )
    .await;
    assert_eq!(too_large.status, 413);
    assert_eq!(
        message(&too_large),
        "Payload content length greater than maximum allowed: 512000."
    );
    let upsert = upload(
        &tenant,
        multipart(
            Some(&users),
            &[("connection_id", PARTNER_DB_ID), ("upsert", "yes")],
        ),
    )
    .await;
    assert_eq!(upsert.status, 400);

    // A connection with no enabled application is not enabled.
    let disable = tenant
        .patch(
            &format!("/api/v2/connections/{PARTNER_DB_ID}/clients"),
            &json!([
                {"client_id": PORTAL_CLIENT, "status": false},
                {"client_id": "GlobalC1ientAAAAAAAAAAAAAAAAAAAA", "status": false},
                {"client_id": "M2mC1ientBBBBBBBBBBBBBBBBBBBBBBB", "status": false}
            ]),
        )
        .await;
    assert_eq!(disable.status, 204);
    let disabled = upload(
        &tenant,
        multipart(Some(&users), &[("connection_id", PARTNER_DB_ID)]),
    )
    .await;
    assert_eq!(message(&disabled), "Connection must be enabled.");
    let narrow = tenant.emulator.issue_token(&["read:users"]);
    let forbidden = tenant
        .send(
            tenant
                .http
                .post(tenant.url("/api/v2/jobs/users-imports"))
                .bearer_auth(narrow)
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={BOUNDARY}"),
                )
                .body(multipart(Some(&users), &[("connection_id", PARTNER_DB_ID)])),
        )
        .await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(
        message(&forbidden),
        "Insufficient scope, expected any of: create:users"
    );
}

#[tokio::test]
async fn two_imports_in_flight_are_the_most_and_jobs_expire_after_a_day() {
    let tenant = Tenant::start().await;
    tenant.emulator.set_timings(Timings {
        job_pending: Duration::from_secs(1),
        import_users_per_second: Some(1.0),
        ..Timings::instant()
    });
    let batch = |i: usize| {
        json!([{"email": format!("a{i}@partner.example")},
                                  {"email": format!("b{i}@partner.example")}])
    };
    let first = import(&tenant, &batch(1), &into_partner_db(&[])).await;
    let second = import(&tenant, &batch(2), &into_partner_db(&[])).await;
    assert_eq!((first.status, second.status), (202, 202));
    let third = import(&tenant, &batch(3), &into_partner_db(&[])).await;
    assert_eq!(third.status, 429);
    assert_eq!(
        third.body,
        json!({"statusCode": 429, "error": "Too Many Requests",
               "message": "There are 2 active import users jobs, please wait until some of them are finished and try again"})
    );
    let path = format!("/api/v2/jobs/{}", first.body["id"].as_str().unwrap());
    let clock = tenant.emulator.clock().clone();
    clock.advance(time::Duration::seconds(2));
    let processing = tenant.get(&path).await;
    assert_eq!(processing.body["status"], "processing");
    assert_eq!(processing.body["percentage_done"], 50);
    assert!(processing.body.get("summary").is_none());
    let not_yet = tenant
        .get("/api/v2/users-by-email?email=a1%40partner.example")
        .await;
    assert_eq!(
        not_yet.body,
        json!([]),
        "records land when the job completes"
    );
    clock.advance(time::Duration::seconds(1));
    assert_eq!(tenant.get(&path).await.body["status"], "completed");
    let landed = tenant
        .get("/api/v2/users-by-email?email=a1%40partner.example")
        .await;
    assert_eq!(landed.body.as_array().unwrap().len(), 1);
    assert_eq!(
        import(&tenant, &batch(3), &into_partner_db(&[]))
            .await
            .status,
        202
    );

    clock.advance(time::Duration::hours(24));
    let token = tenant.emulator.issue_token(super::ALL_SCOPES);
    let gone = tenant
        .send(tenant.http.get(tenant.url(&path)).bearer_auth(&token))
        .await;
    assert_eq!(gone.status, 404);
    let errors = tenant
        .send(
            tenant
                .http
                .get(tenant.url(&format!("{path}/errors")))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(
        errors.body,
        json!({"statusCode": 404, "error": "Not Found", "message": "The job does not exist"})
    );
}

fn client_ids(reply: &Reply) -> Vec<String> {
    reply.body["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn enabled_clients_page_by_checkpoint_change_by_delta_and_are_written_back() {
    let tenant = Tenant::start().await;
    let path = format!("/api/v2/connections/{PARTNER_DB_ID}/clients");
    let all = tenant.get(&path).await;
    assert_eq!(all.status, 200);
    assert_eq!(
        client_ids(&all),
        [
            PORTAL_CLIENT,
            "GlobalC1ientAAAAAAAAAAAAAAAAAAAA",
            "M2mC1ientBBBBBBBBBBBBBBBBBBBBBBB"
        ],
        "a tenant file that says nothing enables every application"
    );
    assert!(all.body.get("next").is_none());
    let first = tenant.get(&format!("{path}?take=2")).await;
    assert_eq!(client_ids(&first).len(), 2);
    let next = first.body["next"].as_str().unwrap().to_owned();
    let rest = tenant.get(&format!("{path}?take=2&from={next}")).await;
    assert_eq!(client_ids(&rest), ["M2mC1ientBBBBBBBBBBBBBBBBBBBBBBB"]);
    assert!(rest.body.get("next").is_none());

    let off = tenant
        .patch(
            &path,
            &json!([{"client_id": "M2mC1ientBBBBBBBBBBBBBBBBBBBBBBB", "status": false}]),
        )
        .await;
    assert_eq!(
        (off.status, &off.body),
        (204, &Value::String(String::new()))
    );
    assert_eq!(
        client_ids(&tenant.get(&path).await),
        [PORTAL_CLIENT, "GlobalC1ientAAAAAAAAAAAAAAAAAAAA"],
        "only the listed client changed"
    );
    let again = tenant
        .patch(
            &path,
            &json!([{"client_id": "M2mC1ientBBBBBBBBBBBBBBBBBBBBBBB", "status": true},
                              {"client_id": PORTAL_CLIENT, "status": true}]),
        )
        .await;
    assert_eq!(again.status, 204);
    assert_eq!(client_ids(&tenant.get(&path).await).len(), 3);

    let too_many: Vec<Value> = (0..51)
        .map(|_| json!({"client_id": PORTAL_CLIENT, "status": true}))
        .collect();
    let refused = tenant.patch(&path, &Value::Array(too_many)).await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.body["message"],
        "Payload validation error: 'Array is too long (51), maximum 50'."
    );
    let not_array = tenant
        .patch(&path, &json!({"client_id": PORTAL_CLIENT}))
        .await;
    assert_eq!(not_array.status, 400);
    let missing = tenant
        .patch(&path, &json!([{"client_id": PORTAL_CLIENT}]))
        .await;
    assert_eq!(
        missing.body["message"],
        "Payload validation error: 'Missing required property: status' on property [0]."
    );
    let stranger = tenant
        .patch(
            &path,
            &json!([{"client_id": "NoSuchC1ientCCCCCCCCCCCCCCCCCCCC", "status": true}]),
        )
        .await;
    assert_eq!(
        stranger.body,
        json!({"statusCode": 404, "error": "Not Found", "message": "The client does not exist",
               "errorCode": "inexistent_client"})
    );
    let nowhere = tenant
        .get("/api/v2/connections/con_AAAAAAAAAAAAAAAA/clients")
        .await;
    assert_eq!(nowhere.status, 404);
    assert_eq!(nowhere.body["message"], "The connection does not exist");
    let take = tenant.get(&format!("{path}?take=1001")).await;
    assert_eq!(take.status, 400);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tenant.yaml");
    save_tenant_file(&file, &tenant.emulator.snapshot()).unwrap();
    let back = load_tenant_file(&file).unwrap();
    assert_eq!(
        back.connections[0].enabled_clients.as_ref().map(Vec::len),
        Some(3)
    );
    assert_eq!(
        back.connections[1].enabled_clients, None,
        "untouched: still unsaid"
    );
    let connection = tenant
        .get(&format!("/api/v2/connections/{PARTNER_DB_ID}"))
        .await;
    assert!(connection.body.get("enabled_clients").is_none());
}
