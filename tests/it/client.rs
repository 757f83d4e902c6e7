//! The Management API client against the emulator: token caching, static tokens, and
//! errors that carry Auth0's status, message and errorCode with a hint.

use verifyctl::secret::Secret;
use verifyctl::tenant::{ApiError, Credentials, ManagementClient, TenantTarget};

use crate::support::{TEST_CLIENT_ID, TestTenant};

const TENANT: &str = "domain: client.test
connections:
  - {id: con_ClientDb00000001, name: db, strategy: auth0}
users:
  - user_id: auth0|0000000000000000000000c1
    email: mixed.case@client.example
    email_verified: true
    identities: [{connection: db, user_id: \"0000000000000000000000c1\", provider: auth0, isSocial: false}]
";

fn token_requests(tenant: &TestTenant) -> usize {
    tenant
        .emulator
        .requests()
        .iter()
        .filter(|r| r.path == "/oauth/token")
        .count()
}

#[tokio::test]
async fn client_credentials_token_is_fetched_once_and_reused() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    let client = tenant.client();
    for _ in 0..5 {
        client.list_connections().await.expect("connections");
    }
    assert_eq!(token_requests(&tenant), 1);
    assert_eq!(
        client.stats().requests.get("GET /api/v2/connections"),
        Some(&5)
    );
}

#[tokio::test]
async fn a_static_api_token_is_used_as_is() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    let token = tenant.emulator.issue_token(&["read:users"]);
    let client = ManagementClient::new(
        TenantTarget::parse(&tenant.base_url()).expect("target"),
        Credentials::Token(Secret::new(token)),
    )
    .expect("client");
    // users-by-email lower-cases the address (database emails are stored lower-case).
    let users = client
        .users_by_email("MIXED.case@client.example")
        .await
        .expect("lookup");
    assert_eq!(users.len(), 1);
    assert_eq!(token_requests(&tenant), 0);

    let error = client
        .list_connections()
        .await
        .expect_err("no read:connections scope");
    assert_eq!(error.status(), Some(403));
    assert_eq!(error.error_code(), Some("insufficient_scope"));
    assert!(error.to_string().contains("Insufficient scope"), "{error}");
    assert!(
        error
            .hint()
            .unwrap_or_default()
            .contains("grant the missing scopes")
    );
}

#[tokio::test]
async fn wrong_credentials_fail_with_auth0s_answer_and_a_hint() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    let client = ManagementClient::new(
        TenantTarget::parse(&tenant.base_url()).expect("target"),
        Credentials::ClientCredentials {
            client_id: TEST_CLIENT_ID.into(),
            client_secret: Secret::new("wrong"),
        },
    )
    .expect("client");
    let error = client.list_connections().await.expect_err("bad secret");
    assert!(
        matches!(&error, ApiError::Status { status: 401, error_code: Some(code), .. } if code == "access_denied"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "POST /oauth/token failed: HTTP 401: Unauthorized (access_denied)"
    );
    assert!(
        error
            .hint()
            .unwrap_or_default()
            .contains("AUTH0_CLIENT_SECRET")
    );
}

#[tokio::test]
async fn missing_users_are_404_with_the_real_error_code() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    let error = tenant
        .client()
        .get_user("auth0|does-not-exist")
        .await
        .expect_err("absent");
    assert_eq!(
        error.to_string(),
        "GET /api/v2/users/{id} failed: HTTP 404: The user does not exist. (inexistent_user)"
    );
}

#[tokio::test]
async fn verification_jobs_can_be_polled_to_their_final_status() {
    let tenant = TestTenant::from_yaml(
        "domain: jobs.test
connections:
  - {id: con_JobsDb0000000001, name: db, strategy: auth0}
users:
  - user_id: auth0|0000000000000000000000d1
    email: pending@jobs.example
    email_verified: false
    identities: [{connection: db, user_id: \"0000000000000000000000d1\", provider: auth0, isSocial: false}]
",
    )
    .await;
    let client = tenant.client();
    let job = client
        .send_verification_email(&verifyctl::tenant::types::VerificationEmailRequest {
            user_id: "auth0|0000000000000000000000d1".into(),
            client_id: None,
            identity: Some(verifyctl::tenant::types::JobIdentity {
                user_id: "0000000000000000000000d1".into(),
                provider: "auth0".into(),
            }),
        })
        .await
        .expect("job");
    assert_eq!(
        (job.kind.as_str(), job.status.as_str()),
        ("verification_email", "pending")
    );
    assert!(job.id.starts_with("job_"));
    let first = client.get_job(&job.id).await.expect("poll");
    let second = client.get_job(&job.id).await.expect("poll");
    assert_eq!(first.status, "pending");
    assert_eq!(second.status, "completed");
}
