//! The emulator driven over real HTTP on a loopback port, the way verifyctl and the
//! official SDKs talk to it. Fixtures are written here from the facts in the Auth0
//! reference; nothing is read from outside the repository.

mod access;
mod actions;
mod connections_clients;
mod exports;
mod faults;
mod files;
mod imports;
mod jobs_and_emails;
mod limits;
mod logs;
mod scale;
mod users;

use reqwest::header::HeaderMap;
use serde_json::Value;
use time::macros::datetime;
use verifyctl::clock::Clock;
use verifyctl::emulator::{Emulator, EmulatorConfig, RunningEmulator, TenantState};

pub const DOMAIN: &str = "acme-demo.eu.auth0.com";
pub const PARTNER_DB_ID: &str = "con_ftSSLHb0O7rcUGmF";
pub const ALICE: &str = "auth0|63d17c4a8869daf88ed7db97";
pub const ALICE_PATH: &str = "/api/v2/users/auth0%7C63d17c4a8869daf88ed7db97";
pub const PORTAL_CLIENT: &str = "Vp0gMRF8PtMzekil38qWoj4Fjw2VjRZE";

/// Every scope the emulator checks.
pub const ALL_SCOPES: &[&str] = &[
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "read:connections",
    "update:connections",
    "read:clients",
    "read:client_keys",
    "read:actions",
    "create:actions",
    "update:actions",
    "delete:actions",
    "read:logs",
];

/// A small tenant: two database connections, a social and an enterprise one, three
/// applications, a verified-nothing user and a hand-written enterprise user.
pub const FIXTURE: &str = r#"
domain: acme-demo.eu.auth0.com
clients:
  - client_id: Vp0gMRF8PtMzekil38qWoj4Fjw2VjRZE
    name: Partner Portal
    app_type: regular_web
    client_secret: portal-secret
    grants: [read:users]
    callbacks: ["https://portal.partner.example/callback"]
  - client_id: GlobalC1ientAAAAAAAAAAAAAAAAAAAA
    name: All Applications
    global: true
  - client_id: M2mC1ientBBBBBBBBBBBBBBBBBBBBBBB
    name: verifyctl
    app_type: non_interactive
    is_first_party: false
connections:
  - id: con_ftSSLHb0O7rcUGmF
    name: partner-db
    strategy: auth0
    display_name: Partner DB
    options: { passwordPolicy: good, brute_force_protection: true, mfa: { active: true } }
  - id: con_Emp1oyeesDB0000A
    name: employees-db
    strategy: auth0
    options: { passwordPolicy: low, requires_username: true }
  - id: con_Goog1e0000000000
    name: google-oauth2
    strategy: google-oauth2
  - id: con_CorpSam10000000A
    name: corp-saml
    strategy: samlp
    is_domain_connection: true
users:
  - user_id: auth0|63d17c4a8869daf88ed7db97
    email: alice@partner.example
    email_verified: false
    identities:
      - { connection: partner-db, user_id: 63d17c4a8869daf88ed7db97, provider: auth0, isSocial: false }
    created_at: "2026-10-01T09:00:00.000Z"
    updated_at: "2026-10-01T09:00:00.000Z"
    logins_count: 3
    app_metadata: { tier: gold }
  - email: bob@corp.example
    identities: [{ connection: corp-saml }]
"#;

pub fn fixture() -> TenantState {
    serde_saphyr::from_str(FIXTURE).expect("the fixture is a valid tenant")
}

/// A deterministic configuration: fixed clock, seed 7, no limit, no faults.
pub fn config() -> EmulatorConfig {
    EmulatorConfig {
        clock: Clock::fixed(datetime!(2026-11-22 10:00 UTC)),
        seed: Some(7),
        ..EmulatorConfig::default()
    }
}

/// An emulator served on a loopback port, an HTTP client and an all-scopes token.
pub struct Tenant {
    pub emulator: Emulator,
    pub server: RunningEmulator,
    pub http: reqwest::Client,
    pub token: String,
}

/// One HTTP answer, with the body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

impl Tenant {
    pub async fn start() -> Tenant {
        Tenant::start_with(fixture(), config()).await
    }

    pub async fn start_with(state: TenantState, config: EmulatorConfig) -> Tenant {
        let emulator = Emulator::new(state, config);
        let server = emulator
            .spawn("127.0.0.1:0".parse().unwrap())
            .await
            .expect("the emulator binds a loopback port");
        let token = emulator.issue_token(ALL_SCOPES);
        Tenant {
            emulator,
            server,
            http: reqwest::Client::new(),
            token,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the emulator answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a readable body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.http.get(self.url(path)).bearer_auth(&self.token))
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        let request = self.http.post(self.url(path)).bearer_auth(&self.token);
        self.send(request.json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        let request = self.http.patch(self.url(path)).bearer_auth(&self.token);
        self.send(request.json(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.http.delete(self.url(path)).bearer_auth(&self.token))
            .await
    }
}
