//! Authentication: private-key JWT client assertions against the emulator (good key,
//! wrong key, expired and replayed assertions), the emulator's access tokens as JWTs with
//! Auth0's claims, the Management API audience for custom domains, and the worded errors
//! for credentials that cannot work.
//!
//! Test keys are generated here, once per test run (RSA 2048, never written outside temp
//! directories); they are test keys by construction.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use verifyctl::clock::Clock;
use verifyctl::emulator::{
    ClientCredential, Emulator, EmulatorConfig, RunningEmulator, TenantState, load_tenant_file,
};
use verifyctl::session::REQUIRED_SCOPES;
use verifyctl::tenant::{AssertionKey, Credentials, ManagementClient, SigningAlg, TenantTarget};

use super::support::{PolicyDir, repo_root, stderr, stdout, verifyctl_async};

const CLIENT_ID: &str = "PkJwtTestClient00000000000000001";
const DOMAIN: &str = "acme-demo.eu.auth0.com";

/// A test key pair: the private key in PKCS#8 PEM, the public key in SPKI PEM.
struct TestKey {
    private_pem: String,
    public_pem: String,
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).unwrap());
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

fn generate() -> TestKey {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::KeyPair as _;
    let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
    TestKey {
        private_pem: pem("PRIVATE KEY", pair.as_der().unwrap().as_ref()),
        public_pem: pem("PUBLIC KEY", pair.public_key().as_der().unwrap().as_ref()),
    }
}

/// The key registered on the test client.
fn good_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(generate)
}

/// A key nobody registered.
fn other_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(generate)
}

/// The example tenant plus a machine-to-machine client whose only credential is the good
/// key's public half (RS256), served on the system clock (assertions carry real time).
struct KeyTenant {
    emulator: Emulator,
    running: RunningEmulator,
}

impl KeyTenant {
    async fn start(edit: impl FnOnce(&mut TenantState)) -> KeyTenant {
        let mut state = load_tenant_file(&repo_root().join("examples/tenant.yaml")).unwrap();
        state.clients.push(
            serde_json::from_value(json!({
                "client_id": CLIENT_ID,
                "name": "verifyctl (private key JWT)",
                "app_type": "non_interactive",
                "grants": REQUIRED_SCOPES,
            }))
            .unwrap(),
        );
        state.clients.last_mut().unwrap().credentials = vec![ClientCredential {
            pem: good_key().public_pem.clone(),
            alg: "RS256".into(),
            kid: None,
        }];
        edit(&mut state);
        let emulator = Emulator::new(
            state,
            EmulatorConfig {
                clock: Clock::System,
                seed: Some(11),
                capture_bodies: true,
                ..EmulatorConfig::default()
            },
        );
        let running = emulator
            .spawn(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        KeyTenant { emulator, running }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url())
    }

    fn client_with(&self, key: &TestKey) -> ManagementClient {
        let key = AssertionKey::from_pem(&key.private_pem, SigningAlg::Rs256, None).unwrap();
        ManagementClient::new(
            TenantTarget::parse(&self.running.base_url()).unwrap(),
            Credentials::PrivateKeyJwt {
                client_id: CLIENT_ID.into(),
                key,
            },
        )
        .unwrap()
    }

    /// POSTs a token request with `assertion`; (status, body).
    async fn token_with(&self, assertion: &str) -> (u16, Value) {
        let host_audience = format!("https://{}/api/v2/", self.running.addr());
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
            ("audience", &host_audience),
        ];
        let reply = reqwest::Client::new()
            .post(self.url("/oauth/token"))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = reply.status().as_u16();
        (status, reply.json().await.unwrap())
    }

    fn assertion(&self, key: &TestKey, issued_at: i64) -> String {
        let key = AssertionKey::from_pem(&key.private_pem, SigningAlg::Rs256, None).unwrap();
        let audience = format!("https://{}/", self.running.addr());
        key.assertion(CLIENT_ID, &audience, issued_at)
            .unwrap()
            .expose()
            .to_owned()
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn a_registered_key_gets_a_token_and_its_scopes() {
    let tenant = KeyTenant::start(|_| {}).await;
    let client = tenant.client_with(good_key());
    let connections = client.list_connections().await.unwrap();
    assert!(connections.iter().any(|c| c.name == "partner-db"));
    let scopes = client.granted_scopes().await.unwrap().unwrap();
    let expected: std::collections::BTreeSet<String> =
        REQUIRED_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(scopes, expected);
    // One token request, authenticated by an assertion and never by a secret.
    let token_requests: Vec<_> = tenant
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.path == "/oauth/token")
        .collect();
    assert_eq!(token_requests.len(), 1);
    let body = token_requests[0].body.as_deref().unwrap();
    assert!(body.contains("client_assertion="), "{body}");
    assert!(body.contains("jwt-bearer"), "{body}");
    assert!(!body.contains("client_secret"), "{body}");
}

#[tokio::test]
async fn a_key_nobody_registered_is_refused_with_invalid_client() {
    let tenant = KeyTenant::start(|_| {}).await;
    let error = tenant
        .client_with(other_key())
        .list_connections()
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(401), "{error}");
    assert_eq!(error.error_code(), Some("invalid_client"), "{error}");
    assert!(
        error.to_string().contains("Invalid client assertion"),
        "{error}"
    );
    let hint = error.hint().unwrap();
    assert!(
        hint.contains("AUTH0_CLIENT_ASSERTION_PRIVATE_KEY") && !hint.contains("CLIENT_SECRET"),
        "{hint}"
    );
}

#[tokio::test]
async fn expired_and_replayed_assertions_are_refused() {
    let tenant = KeyTenant::start(|_| {}).await;
    let expired = tenant.assertion(good_key(), now() - 600);
    let (status, body) = tenant.token_with(&expired).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );

    let fresh = tenant.assertion(good_key(), now());
    let (first, body) = tenant.token_with(&fresh).await;
    assert_eq!(first, 200, "{body}");
    let (again, body) = tenant.token_with(&fresh).await;
    assert_eq!(again, 401, "the same jti twice");
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("`jti` has already been used"),
        "{body}"
    );
    let wrong = tenant.assertion(other_key(), now());
    let (status, body) = tenant.token_with(&wrong).await;
    assert_eq!(status, 401);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("signature"),
        "{body}"
    );
}

#[tokio::test]
async fn access_tokens_are_jwts_with_auth0_claims_signed_by_the_published_key() {
    let tenant = KeyTenant::start(|_| {}).await;
    let (status, reply) = tenant
        .token_with(&tenant.assertion(good_key(), now()))
        .await;
    assert_eq!(status, 200, "{reply}");
    let token = reply["access_token"].as_str().unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = reqwest::get(tenant.url("/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let audience = format!("https://{}/api/v2/", tenant.running.addr());
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[&audience]);
    validation.set_issuer(&[format!("https://{DOMAIN}/")]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], format!("{CLIENT_ID}@clients"));
    assert_eq!(claims["azp"], CLIENT_ID);
    assert_eq!(claims["gty"], "client-credentials");
    assert_eq!(claims["scope"], REQUIRED_SCOPES.join(" "));
    assert_eq!(claims["scope"], reply["scope"]);
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(lifetime, reply["expires_in"].as_i64().unwrap());
}

/// Environment for the binary: the tenant through `domain`, the good key from a file.
fn key_env(domain: String, key_file: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("AUTH0_DOMAIN", domain),
        ("AUTH0_CLIENT_ID", CLIENT_ID.to_owned()),
        (
            "AUTH0_CLIENT_ASSERTION_PRIVATE_KEY",
            key_file.display().to_string(),
        ),
        ("VERIFYCTL_MAX_RPS", "10000".to_owned()),
    ]
}

fn key_file(dir: &tempfile::TempDir, key: &TestKey) -> std::path::PathBuf {
    let path = dir.path().join("verifyctl-test-key.pem");
    std::fs::write(&path, &key.private_pem).unwrap();
    path
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn a_plan_through_a_custom_domain_asks_a_token_for_the_canonical_audience() {
    // `localhost` stands for the custom domain (login.example.com), 127.0.0.1 for the
    // tenant's own address; the tenant's canonical domain is the file's `domain`.
    let tenant = KeyTenant::start(|state| state.custom_domains = vec!["localhost".into()]).await;
    let port = tenant.running.addr().port();
    let custom = format!("http://localhost:{port}");
    let dir = tempfile::tempdir().unwrap();
    let key_path = key_file(&dir, good_key());
    let policies = repo_root().join("policies").display().to_string();

    let mut env = key_env(custom.clone(), &key_path);
    env.push(("AUTH0_AUDIENCE", format!("https://{DOMAIN}/api/v2/")));
    let output = verifyctl_async(args(&["plan", &policies]), env).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("partner-db"),
        "{}",
        stdout(&output)
    );
    assert!(!stderr(&output).contains("BEGIN PRIVATE KEY"));
    let requests = tenant.emulator.requests();
    assert!(requests.iter().any(|r| r.path == "/api/v2/connections"));
    let token_body = requests
        .iter()
        .find(|r| r.path == "/oauth/token")
        .and_then(|r| r.body.clone())
        .unwrap();
    assert!(
        token_body.contains(&format!("audience=https%3A%2F%2F{DOMAIN}%2Fapi%2Fv2%2F")),
        "{token_body}"
    );

    // Without the override the audience is the custom domain's, which is no API.
    let output = verifyctl_async(
        args(&["plan", &policies]),
        key_env(custom.clone(), &key_path),
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(error.contains("Service not found"), "{error}");
    assert!(error.contains("AUTH0_AUDIENCE"), "{error}");
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused_through_the_custom_domain() {
    let tenant = KeyTenant::start(|state| state.custom_domains = vec!["localhost".into()]).await;
    let port = tenant.running.addr().port();
    // A token for the loopback address's audience works there...
    let (status, reply) = tenant
        .token_with(&tenant.assertion(good_key(), now()))
        .await;
    assert_eq!(status, 200, "{reply}");
    let token = reply["access_token"].as_str().unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let direct = http
        .get(tenant.url("/api/v2/connections"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 200);
    // ...but not through the custom domain, which takes only the canonical audience.
    let through_custom = http
        .get(format!("http://localhost:{port}/api/v2/connections"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(through_custom.status(), 401);
    let body: Value = through_custom.json().await.unwrap();
    let message = format!("Bad audience: https://127.0.0.1:{port}/api/v2/");
    assert_eq!(
        body,
        json!({"statusCode": 401, "error": "Unauthorized", "message": message,
               "attributes": {"error": message}})
    );
}

#[tokio::test]
async fn the_login_action_gets_the_canonical_domain_through_a_custom_domain() {
    let tenant = KeyTenant::start(|state| state.custom_domains = vec!["localhost".into()]).await;
    let port = tenant.running.addr().port();
    let dir = tempfile::tempdir().unwrap();
    let key_path = key_file(&dir, good_key());
    let policies = PolicyDir::new(&[(
        "p.yaml",
        "connections:\n  - name: partner-db\n    email_verification: required\n    block_unverified_login: true\n    resend_on_login: true\n",
    )]);
    let policy_dir = policies.path().display().to_string();
    let mut env = key_env(format!("http://localhost:{port}"), &key_path);
    env.push(("AUTH0_AUDIENCE", DOMAIN.to_owned()));
    env.push(("VERIFYCTL_ACTION_CLIENT_ID", "ActionClient".to_owned()));
    env.push(("VERIFYCTL_ACTION_CLIENT_SECRET", "action-secret".to_owned()));
    let output = verifyctl_async(args(&["apply", &policy_dir, "--auto-approve"]), env).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let action_body = tenant
        .emulator
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == "/api/v2/actions/actions")
        .and_then(|r| r.body)
        .unwrap();
    let action: Value = serde_json::from_str(&action_body).unwrap();
    let domain_secret = action["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "VERIFYCTL_DOMAIN")
        .unwrap();
    assert_eq!(domain_secret["value"], DOMAIN);
}

#[tokio::test]
async fn credentials_that_cannot_work_are_worded_errors_before_any_request() {
    let tenant = KeyTenant::start(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let key_path = key_file(&dir, good_key());
    let policies = repo_root().join("policies").display().to_string();
    let run = |extra: Vec<(&'static str, String)>| {
        let mut env = key_env(tenant.running.base_url(), &key_path);
        env.extend(extra);
        verifyctl_async(args(&["plan", &policies]), env)
    };

    let both = run(vec![("AUTH0_CLIENT_SECRET", "s3cret".into())]).await;
    assert_eq!(both.status.code(), Some(1));
    let text = stderr(&both);
    assert!(
        text.contains("both AUTH0_CLIENT_SECRET and AUTH0_CLIENT_ASSERTION_PRIVATE_KEY"),
        "{text}"
    );
    assert!(text.contains("unset one"), "{text}");

    let alg = run(vec![("AUTH0_CLIENT_ASSERTION_SIGNING_ALG", "HS256".into())]).await;
    let text = stderr(&alg);
    assert_eq!(alg.status.code(), Some(1));
    assert!(
        text.contains("AUTH0_CLIENT_ASSERTION_SIGNING_ALG `HS256` is not supported"),
        "{text}"
    );
    assert!(text.contains("RS384") && text.contains("PS256"), "{text}");

    // The PEM frame is intact, the DER inside is not.
    let damaged: String = good_key()
        .private_pem
        .lines()
        .map(|line| {
            if line.starts_with("-----") {
                format!("{line}\n")
            } else {
                format!("{}\n", line.replace('A', "B").replace('M', "N"))
            }
        })
        .collect();
    let bad = run(vec![(
        "AUTH0_CLIENT_ASSERTION_PRIVATE_KEY",
        damaged.clone(),
    )])
    .await;
    let text = stderr(&bad);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text.contains("AUTH0_CLIENT_ASSERTION_PRIVATE_KEY"),
        "{text}"
    );
    assert!(text.contains("PEM"), "{text}");
    let body_line = damaged.lines().nth(2).unwrap();
    assert!(!text.contains(body_line), "the key never prints: {text}");

    let public = run(vec![(
        "AUTH0_CLIENT_ASSERTION_PRIVATE_KEY",
        good_key().public_pem.clone(),
    )])
    .await;
    assert!(
        stderr(&public).contains("public key"),
        "{}",
        stderr(&public)
    );

    assert!(
        tenant.emulator.requests().is_empty(),
        "no request is sent with unusable credentials"
    );
}

#[tokio::test]
async fn assertions_must_name_the_client_the_tenant_and_a_short_lifetime() {
    let tenant = KeyTenant::start(|_| {}).await;
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(good_key().private_pem.as_bytes()).unwrap();
    let own_aud = format!("https://{}/", tenant.running.addr());
    let sign = |claims: Value, alg: jsonwebtoken::Algorithm| {
        jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, &key).unwrap()
    };
    let t = now();
    let claims = |iss: &str, aud: &str, exp: i64, jti: &str| json!({"iss": iss, "sub": CLIENT_ID, "aud": aud, "iat": t, "exp": exp, "jti": jti});
    let cases = [
        (
            sign(
                claims("someone-else", &own_aud, t + 60, "a"),
                jsonwebtoken::Algorithm::RS256,
            ),
            "`iss` and `sub`",
        ),
        (
            sign(
                claims(CLIENT_ID, "https://other.auth0.com/", t + 60, "b"),
                jsonwebtoken::Algorithm::RS256,
            ),
            "`aud` must be",
        ),
        (
            sign(
                claims(CLIENT_ID, &own_aud, t + 3600, "c"),
                jsonwebtoken::Algorithm::RS256,
            ),
            "no more than 5 minutes after 'iat'",
        ),
        (
            sign(
                claims(CLIENT_ID, &own_aud, t + 60, "d"),
                jsonwebtoken::Algorithm::PS256,
            ),
            "matches the algorithm PS256",
        ),
    ];
    for (assertion, expected) in cases {
        let (status, body) = tenant.token_with(&assertion).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "invalid_client");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(expected), "{expected}: {description}");
    }
    // The same key, claims right: accepted.
    let (status, body) = tenant
        .token_with(&sign(
            claims(CLIENT_ID, &own_aud, t + 60, "f"),
            jsonwebtoken::Algorithm::RS256,
        ))
        .await;
    assert_eq!(status, 200, "{body}");
}
