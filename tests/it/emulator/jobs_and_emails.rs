//! Verification-email jobs, password-reset emails and the outbox.

use serde_json::json;
use verifyctl::emulator::{JobStatus, OutboxKind};

use super::{ALICE, ALICE_PATH, PORTAL_CLIENT, Tenant, config, fixture};

#[tokio::test]
async fn verification_job_sends_once_and_reads_pending_then_completed() {
    let tenant = Tenant::start().await;
    let body = json!({
        "user_id": ALICE,
        "client_id": PORTAL_CLIENT,
        "identity": {"user_id": "63d17c4a8869daf88ed7db97", "provider": "auth0",
                     "connection_id": "con_ftSSLHb0O7rcUGmF"},
    });
    let created = tenant.post("/api/v2/jobs/verification-email", &body).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.body,
        json!({"type": "verification_email", "status": "pending",
               "created_at": "2026-11-22T10:00:00.000Z", "id": id})
    );
    assert!(id.starts_with("job_") && id.len() == 20);

    let outbox = tenant.emulator.outbox();
    assert_eq!(outbox.len(), 1);
    let message = &outbox[0];
    assert_eq!(message.kind, OutboxKind::VerificationEmail);
    assert_eq!(message.to, "alice@partner.example");
    assert_eq!(message.user_id.as_deref(), Some(ALICE));
    assert_eq!(message.connection.as_deref(), Some("partner-db"));
    assert_eq!(message.client_id.as_deref(), Some(PORTAL_CLIENT));
    assert_eq!(message.job_id.as_deref(), Some(id.as_str()));

    let path = format!("/api/v2/jobs/{id}");
    assert_eq!(tenant.get(&path).await.body["status"], "pending");
    assert_eq!(tenant.get(&path).await.body["status"], "completed");
    assert_eq!(tenant.get(&path).await.body["status"], "completed");
    assert_eq!(
        tenant.emulator.snapshot().jobs[0].status,
        JobStatus::Completed
    );
}

#[tokio::test]
async fn a_verified_user_gets_a_failed_job_and_no_email() {
    let tenant = Tenant::start().await;
    tenant
        .patch(ALICE_PATH, &json!({"email_verified": true}))
        .await;
    let created = tenant
        .post(
            "/api/v2/jobs/verification-email",
            &json!({"user_id": ALICE}),
        )
        .await;
    assert_eq!(created.body["status"], "pending");
    let path = format!("/api/v2/jobs/{}", created.body["id"].as_str().unwrap());
    tenant.get(&path).await;
    assert_eq!(tenant.get(&path).await.body["status"], "failed");
    assert!(tenant.emulator.outbox().is_empty());
}

#[tokio::test]
async fn a_disabled_template_fails_jobs_and_sends_nothing_on_create() {
    let mut state = fixture();
    state.settings.verify_email_template_enabled = Some(false);
    let tenant = Tenant::start_with(state, config()).await;
    let user = json!({"connection": "partner-db", "email": "e@partner.example", "password": "Str0ng!pass"});
    assert_eq!(tenant.post("/api/v2/users", &user).await.status, 201);
    let created = tenant
        .post(
            "/api/v2/jobs/verification-email",
            &json!({"user_id": ALICE}),
        )
        .await;
    assert_eq!(created.status, 201);
    let path = format!("/api/v2/jobs/{}", created.body["id"].as_str().unwrap());
    tenant.get(&path).await;
    assert_eq!(tenant.get(&path).await.body["status"], "failed");
    assert!(tenant.emulator.outbox().is_empty());
}

#[tokio::test]
async fn verification_job_errors() {
    let tenant = Tenant::start().await;
    let tenant = &tenant;
    let post = |body| async move { tenant.post("/api/v2/jobs/verification-email", &body).await };
    let wrong_identity = post(json!({"user_id": ALICE,
        "identity": {"user_id": "63d17c4a8869daf88ed7db97", "provider": "google-oauth2"}}))
    .await;
    assert_eq!(wrong_identity.status, 400);
    assert_eq!(
        wrong_identity.body["message"],
        "The user exists, but does not contain the given identity."
    );
    let unknown_client = post(json!({"user_id": ALICE, "client_id": "nope"})).await;
    assert_eq!(unknown_client.status, 400);
    assert_eq!(unknown_client.body["message"], "The client does not exist");
    let unknown_user = post(json!({"user_id": "auth0|nobody"})).await;
    assert_eq!(unknown_user.status, 404);
    let no_user = post(json!({})).await;
    assert_eq!(
        no_user.body["message"],
        "Payload validation error: 'Missing required property: user_id'."
    );
    let job = tenant.get("/api/v2/jobs/job_LUdmtO6C0M42uqSz").await;
    assert_eq!(
        job.body,
        json!({"statusCode": 404, "error": "Not Found", "message": "Job not found."})
    );
    assert!(tenant.emulator.snapshot().jobs.is_empty());
}

#[tokio::test]
async fn change_password_answers_the_same_sentence_and_emails_known_users_only() {
    let tenant = Tenant::start().await;
    let request = |email: &str, connection: &str| {
        let body = json!({"client_id": PORTAL_CLIENT, "email": email, "connection": connection});
        tenant
            .http
            .post(tenant.url("/dbconnections/change_password"))
            .json(&body)
    };
    for email in ["alice@partner.example", "nobody@partner.example"] {
        let reply = tenant.send(request(email, "partner-db")).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), "text/html; charset=utf-8");
        assert_eq!(
            reply.body,
            json!("We've just sent you an email to reset your password.")
        );
    }
    let outbox = tenant.emulator.outbox();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].kind, OutboxKind::PasswordReset);
    assert_eq!(outbox[0].to, "alice@partner.example");
    assert_eq!(outbox[0].client_id.as_deref(), Some(PORTAL_CLIENT));
    assert_eq!(outbox[0].user_id.as_deref(), Some(ALICE));

    let social = tenant
        .send(request("alice@partner.example", "google-oauth2"))
        .await;
    assert_eq!(social.status, 400);
    assert_eq!(social.body["error"], "invalid_request");
}

#[tokio::test]
async fn change_password_is_limited_per_ip_and_email() {
    let tenant = Tenant::start().await;
    let body = json!({"email": "alice@partner.example", "connection": "partner-db"});
    let url = tenant.url("/dbconnections/change_password");
    for remaining in (0..10).rev() {
        let reply = tenant.send(tenant.http.post(&url).json(&body)).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("x-ratelimit-limit"), "10");
        assert_eq!(reply.header("x-ratelimit-remaining"), remaining.to_string());
    }
    let limited = tenant.send(tenant.http.post(&url).json(&body)).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["error"], "too_many_requests");
    assert_eq!(tenant.emulator.outbox().len(), 10);
    let other = json!({"email": "nobody@partner.example", "connection": "partner-db"});
    assert_eq!(
        tenant
            .send(tenant.http.post(&url).json(&other))
            .await
            .status,
        200
    );
}
