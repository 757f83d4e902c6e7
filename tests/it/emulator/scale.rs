//! A tenant of a few thousand users served from the emulator's indexes: connection
//! searches in `created_at` order and in creation order, narrowed searches, lookups by
//! id and email, and the duplicate check, all staying right as users are created,
//! changed and deleted.

use serde_json::{Value, json};
use verifyctl::emulator::{Identity, TenantState, User};

use super::{Tenant, config, fixture};

const PARTNERS: usize = 3000;

/// `PARTNERS` partner-db users whose `created_at` runs backwards against creation order
/// (so sorting is visible), every third one verified, and 40 employees-db users.
fn large_tenant() -> TenantState {
    let mut state = fixture();
    let user = |i: usize, connection: &str, created: usize| User {
        user_id: format!("auth0|{i:024x}"),
        email: Some(format!("user{i}@{connection}.example")),
        email_verified: Some(i.is_multiple_of(3)),
        identities: vec![Identity {
            connection: connection.to_owned(),
            user_id: Some(json!(format!("{i:024x}"))),
            provider: Some("auth0".into()),
            is_social: Some(false),
            ..Identity::default()
        }],
        created_at: Some(format!(
            "2026-01-01T{:02}:{:02}:{:02}.000Z",
            created / 3600,
            created / 60 % 60,
            created % 60
        )),
        ..User::default()
    };
    state
        .users
        .extend((0..PARTNERS).map(|i| user(i, "partner-db", PARTNERS - i)));
    state
        .users
        .extend((PARTNERS..PARTNERS + 40).map(|i| user(i, "employees-db", i)));
    state
}

fn emails(reply: &Value) -> Vec<String> {
    let users = reply.get("users").unwrap_or(reply);
    users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect()
}

const PARTNER_QUERY: &str = "q=identities.connection%3A%22partner-db%22&search_engine=v3";

#[tokio::test]
async fn a_large_connection_pages_in_created_at_order_with_the_true_total() {
    let tenant = Tenant::start_with(large_tenant(), config()).await;
    let mut seen = Vec::new();
    for page in 0..10 {
        let reply = tenant
            .get(&format!(
                "/api/v2/users?{PARTNER_QUERY}&include_totals=true&per_page=100&page={page}&sort=created_at%3A1"
            ))
            .await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.body["total"],
            PARTNERS + 1,
            "alice is in partner-db too"
        );
        assert_eq!(reply.body["length"], 100);
        seen.extend(emails(&reply.body));
    }
    // created_at runs backwards: the last created partner comes first; alice (created
    // in October) comes after all of them and is beyond the window.
    let expected: Vec<String> = (0..1000)
        .map(|k| format!("user{}@partner-db.example", PARTNERS - 1 - k))
        .collect();
    assert_eq!(seen, expected);
    let descending = tenant
        .get(&format!(
            "/api/v2/users?{PARTNER_QUERY}&per_page=2&sort=created_at%3A-1"
        ))
        .await;
    assert_eq!(
        emails(&descending.body),
        ["alice@partner.example", "user0@partner-db.example"]
    );
    let unsorted = tenant
        .get(&format!("/api/v2/users?{PARTNER_QUERY}&per_page=3&page=1"))
        .await;
    assert_eq!(
        emails(&unsorted.body),
        [
            "user2@partner-db.example",
            "user3@partner-db.example",
            "user4@partner-db.example"
        ],
        "creation order without sort (alice was created first)"
    );
}

#[tokio::test]
async fn narrowed_and_unscoped_queries_count_the_same_users() {
    let tenant = Tenant::start_with(large_tenant(), config()).await;
    let verified = tenant
        .get("/api/v2/users?q=identities.connection%3A%22partner-db%22%20AND%20email_verified%3Atrue&include_totals=true&per_page=5&sort=email%3A1")
        .await;
    assert_eq!(verified.status, 200);
    assert_eq!(verified.body["total"], PARTNERS / 3);
    assert_eq!(
        emails(&verified.body),
        [
            "user0@partner-db.example",
            "user1002@partner-db.example",
            "user1005@partner-db.example",
            "user1008@partner-db.example",
            "user1011@partner-db.example"
        ]
    );
    let either = tenant
        .get("/api/v2/users?q=identities.connection%3A%22employees-db%22%20OR%20email%3A%22alice%40partner.example%22&include_totals=true")
        .await;
    assert_eq!(either.body["total"], 41);
    let by_email = tenant
        .get("/api/v2/users?q=email%3A%22USER42%40partner-db.example%22&include_totals=true")
        .await;
    assert_eq!(
        by_email.body["total"], 1,
        "case-insensitive, from the email index"
    );
    assert_eq!(emails(&by_email.body), ["user42@partner-db.example"]);
    let narrowed = tenant
        .get("/api/v2/users?q=email%3A%22user43%40partner-db.example%22%20AND%20email_verified%3Atrue&include_totals=true")
        .await;
    assert_eq!(narrowed.body["total"], 0, "user43 is not verified");
    let everyone = tenant
        .get("/api/v2/users?include_totals=true&per_page=1")
        .await;
    assert_eq!(everyone.body["total"], PARTNERS + 40 + 2);
    let nobody = tenant
        .get("/api/v2/users?q=identities.connection%3A%22no-such%22&include_totals=true")
        .await;
    assert_eq!(nobody.body["total"], 0);
    assert_eq!(nobody.body["users"], json!([]));
}

#[tokio::test]
async fn lookups_and_the_duplicate_check_follow_creates_changes_and_deletes() {
    let tenant = Tenant::start_with(large_tenant(), config()).await;
    let id = format!("auth0|{:024x}", 1234);
    let path = format!("/api/v2/users/{}", id.replace('|', "%7C"));
    let by_id = tenant.get(&path).await;
    assert_eq!(by_id.body["email"], "user1234@partner-db.example");
    let by_email = tenant
        .get("/api/v2/users-by-email?email=user1234%40partner-db.example")
        .await;
    assert_eq!(emails(&by_email.body), ["user1234@partner-db.example"]);

    let duplicate = json!({"connection": "partner-db", "email": "USER1234@partner-db.example",
                           "password": "Str0ng!pass"});
    assert_eq!(tenant.post("/api/v2/users", &duplicate).await.status, 409);
    let elsewhere = json!({"connection": "employees-db", "email": "user1234@partner-db.example",
                           "password": "Str0ng!pass"});
    assert_eq!(
        tenant.post("/api/v2/users", &elsewhere).await.status,
        201,
        "the same address in another connection is another account"
    );
    let both = tenant
        .get("/api/v2/users-by-email?email=user1234%40partner-db.example")
        .await;
    assert_eq!(both.body.as_array().unwrap().len(), 2);

    let moved = tenant
        .patch(&path, &json!({"email": "moved@partner-db.example"}))
        .await;
    assert_eq!(moved.status, 200);
    let old = tenant
        .get("/api/v2/users-by-email?email=user1234%40partner-db.example")
        .await;
    assert_eq!(
        old.body.as_array().unwrap().len(),
        1,
        "only the employees-db one"
    );
    let new = tenant
        .get("/api/v2/users-by-email?email=moved%40partner-db.example")
        .await;
    assert_eq!(new.body[0]["user_id"], id.as_str());
    let reused = json!({"connection": "partner-db", "email": "user1234@partner-db.example",
                        "password": "Str0ng!pass"});
    assert_eq!(
        tenant.post("/api/v2/users", &reused).await.status,
        201,
        "the old address is free again"
    );

    assert_eq!(tenant.delete(&path).await.status, 204);
    assert_eq!(tenant.get(&path).await.status, 404);
    let total = tenant
        .get(&format!(
            "/api/v2/users?{PARTNER_QUERY}&include_totals=true&per_page=1"
        ))
        .await;
    assert_eq!(
        total.body["total"],
        PARTNERS + 1,
        "one deleted, one created"
    );
    let snapshot = tenant.emulator.snapshot();
    assert_eq!(snapshot.users.len(), PARTNERS + 40 + 2 + 1);
    assert!(snapshot.users.get(&id).is_none());
}
