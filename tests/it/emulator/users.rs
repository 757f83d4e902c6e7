//! Users: create, conflicts, PATCH rules, search and paging, by-email, delete.

use serde_json::{Value, json};
use verifyctl::emulator::{Connection, Identity, OutboxKind, TenantState, User};

use super::{ALICE, ALICE_PATH, Tenant, config, fixture};

const NOW: &str = "2026-11-22T10:00:00.000Z";

fn new_carol() -> Value {
    json!({
        "connection": "partner-db",
        "email": "Carol@Partner.example",
        "password": "Str0ng!pass",
        "verify_email": false,
    })
}

#[tokio::test]
async fn create_returns_201_with_auth0_defaults_and_omits_unset_fields() {
    let tenant = Tenant::start().await;
    let reply = tenant.post("/api/v2/users", &new_carol()).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let user = reply.body.as_object().unwrap();
    let user_id = user["user_id"].as_str().unwrap();
    let key = user_id.strip_prefix("auth0|").unwrap();
    assert_eq!(key.len(), 24);
    assert!(
        key.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(user["email"], "carol@partner.example");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["name"], "carol@partner.example");
    assert_eq!(user["nickname"], "carol");
    assert!(
        user["picture"]
            .as_str()
            .unwrap()
            .starts_with("https://s.gravatar.com/avatar/")
    );
    assert_eq!(user["created_at"], NOW);
    assert_eq!(user["updated_at"], NOW);
    assert_eq!(
        user["identities"],
        json!([{"connection": "partner-db", "user_id": key, "provider": "auth0", "isSocial": false}])
    );
    for absent in [
        "password",
        "logins_count",
        "last_login",
        "app_metadata",
        "user_metadata",
        "blocked",
        "verify_email",
        "connection",
    ] {
        assert!(!user.contains_key(absent), "{absent} should be omitted");
    }
    assert!(
        tenant.emulator.outbox().is_empty(),
        "verify_email:false sends nothing"
    );
}

#[tokio::test]
async fn create_sends_the_verification_email_by_default_and_verify_email_wins() {
    let tenant = Tenant::start().await;
    let create = |email: &str, extra: Value| {
        let mut body =
            json!({"connection": "partner-db", "email": email, "password": "Str0ng!pass"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let default = create("d@partner.example", json!({}));
    let verified = create("v@partner.example", json!({"email_verified": true}));
    let both = create(
        "b@partner.example",
        json!({"email_verified": true, "verify_email": true}),
    );
    for body in [default, verified, both] {
        assert_eq!(tenant.post("/api/v2/users", &body).await.status, 201);
    }
    let outbox = tenant.emulator.outbox();
    let sent: Vec<_> = outbox.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(sent, ["d@partner.example", "b@partner.example"]);
    let first = &outbox[0];
    assert_eq!(first.kind, OutboxKind::VerificationEmail);
    assert_eq!(first.connection.as_deref(), Some("partner-db"));
    assert_eq!(
        (first.job_id.as_deref(), first.client_id.as_deref()),
        (None, None)
    );
    assert_eq!(first.at, NOW);
}

#[tokio::test]
async fn duplicate_email_on_the_same_connection_is_409_case_insensitively() {
    let tenant = Tenant::start().await;
    assert_eq!(tenant.post("/api/v2/users", &new_carol()).await.status, 201);
    let mut again = new_carol();
    again["email"] = json!("CAROL@PARTNER.EXAMPLE");
    let conflict = tenant.post("/api/v2/users", &again).await;
    assert_eq!(conflict.status, 409);
    assert_eq!(
        conflict.body,
        json!({"statusCode": 409, "error": "Conflict", "message": "The user already exists.",
               "errorCode": "auth0_idp_error"})
    );
    let mut elsewhere = again;
    elsewhere["connection"] = json!("employees-db");
    assert_eq!(tenant.post("/api/v2/users", &elsewhere).await.status, 201);
}

#[tokio::test]
async fn create_validates_connection_email_password_and_metadata() {
    let tenant = Tenant::start().await;
    let attempt = |changes: Value| {
        let mut body = new_carol();
        for (key, value) in changes.as_object().unwrap() {
            if value.is_null() {
                body.as_object_mut().unwrap().remove(key);
            } else {
                body[key] = value.clone();
            }
        }
        body
    };
    let cases = [
        (
            json!({"password": "weakpass"}),
            "PasswordStrengthError: Password is too weak",
        ),
        (
            json!({"connection": "google-oauth2"}),
            "Connection does not support user creation through the API. It must either be a database or passwordless connection.",
        ),
        (json!({"connection": "nope"}), "Connection does not exist."),
        (
            json!({"password": null}),
            "Payload validation error: 'Missing required property: password'.",
        ),
        (
            json!({"logins_count": 3}),
            "Payload validation error: 'Additional properties not allowed: logins_count'.",
        ),
        (
            json!({"email_verified": "yes"}),
            "Payload validation error: 'Expected type boolean but found type string' on property email_verified.",
        ),
        (
            json!({"username": "carol"}),
            "Cannot set username for connection without requires_username.",
        ),
    ];
    for (changes, message) in cases {
        let reply = tenant
            .post("/api/v2/users", &attempt(changes.clone()))
            .await;
        assert_eq!(reply.status, 400, "{changes}");
        assert_eq!(reply.body["message"], message, "{changes}");
    }
    let bad_email = tenant
        .post("/api/v2/users", &attempt(json!({"email": "not-an-email"})))
        .await;
    assert_eq!(bad_email.status, 400);
    assert!(bad_email.body["message"].as_str().unwrap().starts_with(
        "Payload validation error: 'Object didn't pass validation for format email: not-an-email'"
    ));
    for metadata in [
        json!({"app_metadata": {"email": "x"}}),
        json!({"user_metadata": {"a.b": 1}}),
    ] {
        let reply = tenant.post("/api/v2/users", &attempt(metadata)).await;
        assert_eq!(reply.status, 400);
        assert_eq!(reply.body["errorCode"], "invalid_body");
    }
    assert_eq!(
        tenant.emulator.snapshot().users.len(),
        2,
        "nothing was created"
    );
}

#[tokio::test]
async fn custom_user_id_and_username_where_the_connection_requires_one() {
    let tenant = Tenant::start().await;
    let body = json!({
        "connection": "employees-db", "email": "dave@corp.example", "password": "abcdef",
        "user_id": "testaccuser", "username": "dave", "app_metadata": {}, "user_metadata": {},
    });
    let reply = tenant.post("/api/v2/users", &body).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(reply.body["user_id"], "auth0|testaccuser");
    assert_eq!(reply.body["identities"][0]["user_id"], "testaccuser");
    assert_eq!(reply.body["username"], "dave");
    assert!(
        reply.body.get("app_metadata").is_none(),
        "empty app_metadata is omitted"
    );
    assert_eq!(reply.body["user_metadata"], json!({}));
    assert_eq!(tenant.post("/api/v2/users", &body).await.status, 409);
}

#[tokio::test]
async fn patch_merges_metadata_deletes_nulls_and_clears_with_empty_objects() {
    let tenant = Tenant::start().await;
    let set =
        json!({"user_metadata": {"baz": "qux", "foo": "bar"}, "app_metadata": {"baz": "qux"}});
    let reply = tenant.patch(ALICE_PATH, &set).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body["app_metadata"],
        json!({"tier": "gold", "baz": "qux"})
    );
    assert_eq!(reply.body["updated_at"], NOW);
    assert_eq!(reply.body["created_at"], "2026-10-01T09:00:00.000Z");

    let delete =
        json!({"user_metadata": {"baz": null, "foo": "bars"}, "app_metadata": {"baz": null}});
    let reply = tenant.patch(ALICE_PATH, &delete).await;
    assert_eq!(reply.body["user_metadata"], json!({"foo": "bars"}));
    assert_eq!(reply.body["app_metadata"], json!({"tier": "gold"}));

    let clear = json!({"user_metadata": {}, "app_metadata": {}});
    let reply = tenant.patch(ALICE_PATH, &clear).await;
    assert_eq!(reply.body["user_metadata"], json!({}));
    assert!(reply.body.get("app_metadata").is_none());
}

#[tokio::test]
async fn patch_root_fields_replace_and_null_unsets_them() {
    let tenant = Tenant::start().await;
    let reply = tenant
        .patch(
            ALICE_PATH,
            &json!({"given_name": "Alice", "name": "Alice Doe"}),
        )
        .await;
    assert_eq!(
        (reply.body["given_name"].clone(), reply.body["name"].clone()),
        (json!("Alice"), json!("Alice Doe"))
    );
    let reply = tenant.patch(ALICE_PATH, &json!({"given_name": null})).await;
    assert!(reply.body.get("given_name").is_none());
    assert_eq!(reply.body["logins_count"], 3, "untouched fields stay");
}

#[tokio::test]
async fn patch_refuses_email_verified_with_password_or_username_and_for_enterprise_users() {
    let tenant = Tenant::start().await;
    let both = json!({"email_verified": true, "password": "An0ther!pass"});
    let reply = tenant.patch(ALICE_PATH, &both).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.body["message"],
        "Cannot update password and email_verified simultaneously."
    );
    let reply = tenant
        .patch(
            ALICE_PATH,
            &json!({"email_verified": true, "username": "alice"}),
        )
        .await;
    assert_eq!(
        reply.body["message"],
        "Cannot update username and email_verified simultaneously."
    );
    let bob = tenant
        .get("/api/v2/users-by-email?email=bob@corp.example")
        .await;
    let bob_id = bob.body[0]["user_id"].as_str().unwrap().to_owned();
    assert!(bob_id.starts_with("samlp|"));
    let path = format!("/api/v2/users/{}", bob_id.replace('|', "%7C"));
    let reply = tenant.patch(&path, &json!({"email_verified": true})).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.body["message"],
        "Email verification is not supported for enterprise users."
    );
}

#[tokio::test]
async fn patch_email_verified_is_silent_and_password_changes_are_recorded() {
    let tenant = Tenant::start().await;
    let reply = tenant
        .patch(ALICE_PATH, &json!({"email_verified": true}))
        .await;
    assert_eq!(reply.body["email_verified"], true);
    assert!(tenant.emulator.outbox().is_empty());
    let weak = tenant
        .patch(ALICE_PATH, &json!({"password": "short"}))
        .await;
    assert_eq!(weak.status, 400);
    let reply = tenant
        .patch(ALICE_PATH, &json!({"password": "An0ther!pass"}))
        .await;
    assert_eq!(reply.body["last_password_reset"], NOW);
    let reply = tenant
        .patch(
            ALICE_PATH,
            &json!({"verify_email": true, "client_id": "abc"}),
        )
        .await;
    assert_eq!(reply.status, 200);
    let outbox = tenant.emulator.outbox();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].client_id.as_deref(), Some("abc"));
}

#[tokio::test]
async fn unknown_users_are_404_and_delete_is_idempotent() {
    let tenant = Tenant::start().await;
    let missing = "/api/v2/users/auth0%7Cthis-user-id-does-not-exist";
    let not_found = json!({"statusCode": 404, "error": "Not Found",
                           "message": "The user does not exist.", "errorCode": "inexistent_user"});
    assert_eq!(tenant.get(missing).await.body, not_found);
    assert_eq!(
        tenant.patch(missing, &json!({"name": "x"})).await.body,
        not_found
    );
    assert_eq!(tenant.delete(ALICE_PATH).await.status, 204);
    assert_eq!(tenant.get(ALICE_PATH).await.status, 404);
    assert_eq!(tenant.delete(ALICE_PATH).await.status, 204);
}

#[tokio::test]
async fn users_by_email_is_exact_case_sensitive_and_a_bare_array() {
    let tenant = Tenant::start().await;
    let found = tenant
        .get("/api/v2/users-by-email?email=alice%40partner.example")
        .await;
    assert_eq!(found.status, 200);
    assert_eq!(found.body.as_array().unwrap().len(), 1);
    assert_eq!(found.body[0]["user_id"], ALICE);
    let upper = tenant
        .get("/api/v2/users-by-email?email=Alice%40partner.example")
        .await;
    assert_eq!(upper.body, json!([]));
    let projected = tenant
        .get("/api/v2/users-by-email?email=alice%40partner.example&fields=user_id,email")
        .await;
    assert_eq!(
        projected.body,
        json!([{"user_id": ALICE, "email": "alice@partner.example"}])
    );
}

/// A tenant with `count` partner-db users (user0..) and a few employees.
fn crowded(count: usize) -> TenantState {
    let mut state = fixture();
    let user = |i: usize, connection: &str| User {
        user_id: format!("auth0|{i:024x}"),
        email: Some(format!("user{i}@{connection}.example")),
        email_verified: Some(i.is_multiple_of(2)),
        identities: vec![Identity {
            connection: connection.to_owned(),
            user_id: Some(json!(format!("{i:024x}"))),
            provider: Some("auth0".into()),
            is_social: Some(false),
            ..Identity::default()
        }],
        created_at: Some(format!("2026-01-01T00:00:{:02}.{:03}Z", i / 1000, i % 1000)),
        ..User::default()
    };
    state.users = (0..count).map(|i| user(i, "partner-db")).collect();
    state
        .users
        .extend((count..count + 5).map(|i| user(i, "employees-db")));
    state
}

fn emails(reply: &Value) -> Vec<String> {
    reply["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn search_by_connection_pages_through_all_matches() {
    let tenant = Tenant::start_with(crowded(120), config()).await;
    let query = "q=identities.connection%3A%22partner-db%22&search_engine=v3&include_totals=true&per_page=50";
    let mut seen = Vec::new();
    for (page, expected) in [(0, 50), (1, 50), (2, 20)] {
        let reply = tenant
            .get(&format!("/api/v2/users?{query}&page={page}"))
            .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["total"], 120);
        assert_eq!(reply.body["start"], page * 50);
        assert_eq!(reply.body["limit"], 50);
        assert_eq!(reply.body["length"], expected);
        seen.extend(emails(&reply.body));
    }
    let expected: Vec<String> = (0..120)
        .map(|i| format!("user{i}@partner-db.example"))
        .collect();
    assert_eq!(seen, expected, "creation order, no gaps, no repeats");
    let bare = tenant
        .get("/api/v2/users?q=identities.connection%3A%22employees-db%22")
        .await;
    assert_eq!(
        bare.body.as_array().unwrap().len(),
        5,
        "bare array by default"
    );
}

#[tokio::test]
async fn paging_stops_at_the_first_thousand_results() {
    let tenant = Tenant::start_with(crowded(1100), config()).await;
    let last_page = tenant
        .get("/api/v2/users?per_page=100&page=9&include_totals=true")
        .await;
    assert_eq!(last_page.status, 200);
    assert_eq!(last_page.body["length"], 100);
    assert_eq!(
        last_page.body["total"], 1105,
        "the true count, past the window"
    );
    let straddling = tenant.get("/api/v2/users?per_page=30&page=33").await;
    assert_eq!(
        straddling.body.as_array().unwrap().len(),
        10,
        "index 990..999"
    );
    let beyond = tenant.get("/api/v2/users?per_page=100&page=10").await;
    assert_eq!(beyond.status, 400);
    assert_eq!(
        beyond.body,
        json!({"statusCode": 400, "error": "Bad Request",
               "message": "You can only page through the first 1000 records. See https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation",
               "errorCode": "invalid_paging"})
    );
    let too_big = tenant.get("/api/v2/users?per_page=101").await;
    assert_eq!(too_big.status, 400);
    assert_eq!(
        too_big.body["message"],
        "Query validation error: 'Value 101 is greater than maximum 100' on property per_page (Number of results per page. Defaults to 50)."
    );
    assert_eq!(too_big.body["errorCode"], "invalid_query_string");
}

#[tokio::test]
async fn search_filters_sorts_and_projects() {
    let tenant = Tenant::start_with(crowded(10), config()).await;
    let unverified = tenant
        .get("/api/v2/users?q=NOT%20_exists_%3Aemail_verified%20OR%20email_verified%3Afalse&per_page=100&sort=email%3A-1&fields=email&include_fields=true")
        .await;
    let list = unverified.body.as_array().unwrap();
    assert_eq!(list[0], json!({"email": "user9@partner-db.example"}));
    assert_eq!(
        list.len(),
        5 + 2,
        "the odd partner users and the odd employees"
    );
    let engine = tenant
        .get("/api/v2/users?q=email%3Ax&search_engine=v2")
        .await;
    assert_eq!(engine.status, 400);
    assert_eq!(
        engine.body["message"],
        "You are not allowed to use search_engine=v2. Use search_engine=v3 instead."
    );
    let broken = tenant.get("/api/v2/users?q=email%3A%22open").await;
    assert_eq!(broken.status, 400);
}

#[tokio::test]
async fn passwordless_email_users_need_no_password() {
    let mut state = fixture();
    state.connections.push(Connection {
        id: "con_Ema11Pass1ess000".into(),
        name: "email".into(),
        strategy: "email".into(),
        ..Connection::default()
    });
    let tenant = Tenant::start_with(state, config()).await;
    let reply = tenant
        .post(
            "/api/v2/users",
            &json!({"connection": "email", "email": "Pat@Partner.example", "email_verified": true}),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert!(
        reply.body["user_id"]
            .as_str()
            .unwrap()
            .starts_with("email|")
    );
    assert_eq!(reply.body["identities"][0]["provider"], "email");
    assert_eq!(reply.body["email"], "pat@partner.example");
    assert!(tenant.emulator.outbox().is_empty());
}
