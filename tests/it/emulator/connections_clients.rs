//! Connections (filters, both paging modes, PATCH replacing options) and clients.

use serde_json::{Value, json};

use super::{PARTNER_DB_ID, PORTAL_CLIENT, Tenant};

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn connections_filter_by_name_and_strategy_with_offset_paging() {
    let tenant = Tenant::start().await;
    let by_name = tenant
        .get("/api/v2/connections?include_totals=true&name=partner-db&per_page=50")
        .await;
    assert_eq!(by_name.status, 200);
    assert_eq!(by_name.body["total"], 1);
    assert_eq!(by_name.body["start"], 0);
    assert_eq!(by_name.body["limit"], 50);
    assert_eq!(by_name.body["connections"][0]["id"], PARTNER_DB_ID);
    assert_eq!(
        by_name.body["connections"][0]["realms"],
        json!(["partner-db"])
    );
    let strategies = tenant
        .get("/api/v2/connections?strategy=auth0&strategy=samlp")
        .await;
    assert_eq!(
        names(&strategies.body),
        ["partner-db", "employees-db", "corp-saml"]
    );
    let second_page = tenant.get("/api/v2/connections?per_page=2&page=1").await;
    assert_eq!(names(&second_page.body), ["google-oauth2", "corp-saml"]);
}

#[tokio::test]
async fn checkpoint_paging_follows_next_even_with_include_totals() {
    let tenant = Tenant::start().await;
    let mut seen = Vec::new();
    let mut query = "include_totals=true&take=3".to_owned();
    loop {
        let reply = tenant.get(&format!("/api/v2/connections?{query}")).await;
        assert!(reply.body.get("total").is_none());
        seen.extend(
            names(&reply.body["connections"])
                .iter()
                .map(ToString::to_string),
        );
        match reply.body.get("next").and_then(Value::as_str) {
            Some(next) => query = format!("include_totals=true&take=3&from={next}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["partner-db", "employees-db", "google-oauth2", "corp-saml"]
    );
}

#[tokio::test]
async fn read_connection_with_fields_and_404() {
    let tenant = Tenant::start().await;
    let reply = tenant
        .get(&format!(
            "/api/v2/connections/{PARTNER_DB_ID}?fields=id,name"
        ))
        .await;
    assert_eq!(
        reply.body,
        json!({"id": PARTNER_DB_ID, "name": "partner-db"})
    );
    let missing = tenant.get("/api/v2/connections/con_xxxxxxxxxxxxxxxx").await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body,
        json!({"statusCode": 404, "error": "Not Found",
               "message": "The connection does not exist", "errorCode": "inexistent_connection"})
    );
}

#[tokio::test]
async fn patch_replaces_options_wholesale_and_resets_display_name() {
    let tenant = Tenant::start().await;
    let path = format!("/api/v2/connections/{PARTNER_DB_ID}");
    let patch = json!({"options": {"passwordPolicy": "good", "disable_signup": true}});
    let reply = tenant.patch(&path, &patch).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.body["options"],
        json!({"passwordPolicy": "good", "disable_signup": true}),
        "mfa and brute_force_protection are gone"
    );
    assert_eq!(reply.body["display_name"], "partner-db");
    assert_eq!(reply.body["strategy"], "auth0");
    assert_eq!(tenant.get(&path).await.body, reply.body);

    let rename = tenant.patch(&path, &json!({"name": "other"})).await;
    assert_eq!(rename.status, 400);
    assert_eq!(
        rename.body["message"],
        "Payload validation error: 'Additional properties not allowed: name'."
    );
    let token = tenant.emulator.issue_token(&["read:connections"]);
    let forbidden = tenant
        .send(
            tenant
                .http
                .patch(tenant.url(&path))
                .bearer_auth(token)
                .json(&patch),
        )
        .await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(
        forbidden.body["message"],
        "Insufficient scope, expected any of: update:connections"
    );
}

#[tokio::test]
async fn clients_hide_secrets_without_read_client_keys_and_never_show_grants() {
    let tenant = Tenant::start().await;
    let list = tenant.get("/api/v2/clients").await;
    assert_eq!(list.status, 200);
    let portal = &list.body[0];
    assert_eq!(portal["client_id"], PORTAL_CLIENT);
    assert_eq!(portal["client_secret"], "portal-secret");
    assert_eq!(portal["global"], false);
    assert!(portal.get("grants").is_none());

    let reader = tenant.emulator.issue_token(&["read:clients"]);
    let read = |path: &str, token: &str| {
        tenant
            .http
            .get(tenant.url(path))
            .bearer_auth(token.to_owned())
    };
    let plain = tenant
        .send(read(&format!("/api/v2/clients/{PORTAL_CLIENT}"), &reader))
        .await;
    assert!(plain.body.get("client_secret").is_none());
    assert_eq!(
        plain.body["callbacks"][0],
        "https://portal.partner.example/callback"
    );

    let summary_token = tenant.emulator.issue_token(&["read:client_summary"]);
    let summary = tenant
        .send(read(
            &format!("/api/v2/clients/{PORTAL_CLIENT}"),
            &summary_token,
        ))
        .await;
    assert_eq!(
        summary.body,
        json!({"client_id": PORTAL_CLIENT, "name": "Partner Portal", "app_type": "regular_web"})
    );
    let missing = tenant
        .get("/api/v2/clients/this-client-does-not-exist")
        .await;
    assert_eq!(
        missing.body,
        json!({"statusCode": 404, "error": "Not Found",
               "message": "The client does not exist", "errorCode": "inexistent_client"})
    );
}

#[tokio::test]
async fn clients_filter_and_page() {
    let tenant = Tenant::start().await;
    let global = tenant.get("/api/v2/clients?is_global=true").await;
    assert_eq!(names(&global.body), ["All Applications"]);
    let typed = tenant
        .get("/api/v2/clients?app_type=non_interactive,spa&include_totals=true&page=0&per_page=10")
        .await;
    assert_eq!(typed.body["total"], 1);
    assert_eq!(names(&typed.body["clients"]), ["verifyctl"]);
    let third_party = tenant.get("/api/v2/clients?is_first_party=false").await;
    assert_eq!(names(&third_party.body), ["verifyctl"]);
    let checkpoint = tenant.get("/api/v2/clients?take=2").await;
    assert_eq!(checkpoint.body["next"], "2");
    assert_eq!(checkpoint.body["clients"].as_array().unwrap().len(), 2);
}
