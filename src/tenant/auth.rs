//! How verifyctl proves who it is to the tenant, and the Management API tokens it gets.
//!
//! Three methods, read from the environment with the names the Auth0 Terraform provider
//! uses ([`Credentials::from_env`]):
//!
//! - a static token (`AUTH0_API_TOKEN`), sent as is;
//! - the client-credentials grant with a client secret (`AUTH0_CLIENT_ID` +
//!   `AUTH0_CLIENT_SECRET`);
//! - the client-credentials grant with private-key JWT client authentication
//!   (`AUTH0_CLIENT_ID` + `AUTH0_CLIENT_ASSERTION_PRIVATE_KEY`, signed with
//!   `AUTH0_CLIENT_ASSERTION_SIGNING_ALG`, optionally naming the credential's key id in
//!   `VERIFYCTL_CLIENT_ASSERTION_KEY_ID`). Each token request carries a fresh, short-lived
//!   assertion ([`AssertionKey::assertion`]).
//!
//! A key is checked when it is read (it must parse and sign with the chosen algorithm), so
//! a bad key fails before the first request, naming the variable. Keys, secrets and tokens
//! never print: `Debug` shows only the method.
//!
//! [`Authenticator`] holds the credentials, the cached token (refreshed a minute before it
//! expires, or after a 401) and the scopes the tenant granted with it (the token
//! response's `scope`), which [`super::ManagementClient::granted_scopes`] exposes.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use tokio::time::Instant;

use super::client::TenantTarget;
use super::types::TokenResponse;
use crate::secret::Secret;

/// The variables, as the Terraform provider names them (plus verifyctl's key id).
pub const ENV_API_TOKEN: &str = "AUTH0_API_TOKEN";
pub const ENV_CLIENT_ID: &str = "AUTH0_CLIENT_ID";
pub const ENV_CLIENT_SECRET: &str = "AUTH0_CLIENT_SECRET";
pub const ENV_ASSERTION_KEY: &str = "AUTH0_CLIENT_ASSERTION_PRIVATE_KEY";
pub const ENV_ASSERTION_ALG: &str = "AUTH0_CLIENT_ASSERTION_SIGNING_ALG";
pub const ENV_ASSERTION_KEY_ID: &str = "VERIFYCTL_CLIENT_ASSERTION_KEY_ID";

/// The `client_assertion_type` of private-key JWT authentication (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is valid. Auth0 accepts at most 5 minutes between `iat` and
/// `exp` and recommends the shortest lifetime possible (Auth0 docs, "Authenticate with
/// Private Key JWT", get-started/authentication-and-authorization-flow/
/// authenticate-with-private-key-jwt); one minute leaves room for clock skew.
const ASSERTION_LIFETIME_SECONDS: i64 = 60;

/// How verifyctl proves who it is.
#[derive(Clone)]
pub enum Credentials {
    /// A Management API token obtained elsewhere (`AUTH0_API_TOKEN`).
    Token(Secret),
    /// A machine-to-machine application and its secret (`AUTH0_CLIENT_ID` +
    /// `AUTH0_CLIENT_SECRET`).
    ClientCredentials {
        client_id: String,
        client_secret: Secret,
    },
    /// A machine-to-machine application authenticating with a signed assertion
    /// (`AUTH0_CLIENT_ID` + `AUTH0_CLIENT_ASSERTION_PRIVATE_KEY`).
    PrivateKeyJwt {
        client_id: String,
        key: AssertionKey,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Token(_) => f.write_str("Credentials::Token([redacted])"),
            Credentials::ClientCredentials { client_id, .. } => f
                .debug_struct("Credentials::ClientCredentials")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Credentials::PrivateKeyJwt { client_id, key } => f
                .debug_struct("Credentials::PrivateKeyJwt")
                .field("client_id", client_id)
                .field("alg", &key.alg)
                .finish_non_exhaustive(),
        }
    }
}

/// Which method is in use, for hints that name the right variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Token,
    ClientSecret,
    PrivateKeyJwt(SigningAlg),
}

impl AuthMethod {
    /// What to check after a 401.
    pub fn unauthorized_hint(self) -> String {
        match self {
            AuthMethod::Token => format!(
                "{ENV_API_TOKEN} was refused: it may have expired (tokens last 24 hours by default) or be for another tenant; get a new one, or use {ENV_CLIENT_ID} with {ENV_CLIENT_SECRET} or {ENV_ASSERTION_KEY}"
            ),
            AuthMethod::ClientSecret => format!(
                "check {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET} (the application's secret may have been rotated)"
            ),
            AuthMethod::PrivateKeyJwt(alg) => format!(
                "check {ENV_CLIENT_ID}, that the public key of {ENV_ASSERTION_KEY} is registered on that application (Auth0 dashboard: Applications > Credentials) for {alg} ({ENV_ASSERTION_ALG}), and that this machine's clock is right (assertions live {ASSERTION_LIFETIME_SECONDS} s)"
            ),
        }
    }
}

/// The algorithms Auth0 accepts for client assertions (the Terraform provider's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    Rs256,
    Rs384,
    Ps256,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 3] = [SigningAlg::Rs256, SigningAlg::Rs384, SigningAlg::Ps256];

    pub fn name(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Rs384 => "RS384",
            SigningAlg::Ps256 => "PS256",
        }
    }

    /// Case-insensitive, surrounding spaces ignored.
    pub fn parse(text: &str) -> Option<SigningAlg> {
        let text = text.trim();
        SigningAlg::ALL
            .into_iter()
            .find(|alg| alg.name().eq_ignore_ascii_case(text))
    }

    fn jwt(self) -> Algorithm {
        match self {
            SigningAlg::Rs256 => Algorithm::RS256,
            SigningAlg::Rs384 => Algorithm::RS384,
            SigningAlg::Ps256 => Algorithm::PS256,
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Credentials that cannot work, found before any request: what is wrong, with which
/// variable, and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct AuthConfigError {
    pub message: String,
    pub hint: String,
}

impl AuthConfigError {
    fn new(message: impl Into<String>, hint: impl Into<String>) -> AuthConfigError {
        AuthConfigError {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// A private key that signs client assertions. Never printed.
#[derive(Clone)]
pub struct AssertionKey {
    key: EncodingKey,
    alg: SigningAlg,
    key_id: Option<String>,
}

impl fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionKey")
            .field("alg", &self.alg)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
}

impl AssertionKey {
    /// Reads `value`, PEM text or the path of a PEM file (as `AUTH0_CLIENT_ASSERTION_PRIVATE_KEY`
    /// holds it), and checks that it signs with `alg`.
    pub fn load(
        value: &str,
        alg: SigningAlg,
        key_id: Option<String>,
    ) -> Result<AssertionKey, AuthConfigError> {
        let pem = if value.contains("-----BEGIN") {
            value.to_owned()
        } else {
            let path = Path::new(value.trim());
            let shown = if value.len() <= 256 && !value.contains('\n') {
                format!("`{}`", path.display())
            } else {
                "(a long value, not shown)".to_owned()
            };
            std::fs::read_to_string(path).map_err(|error| {
                AuthConfigError::new(
                    format!(
                        "{ENV_ASSERTION_KEY} is neither PEM text (-----BEGIN PRIVATE KEY-----) nor a readable file: {shown}: {error}"
                    ),
                    format!(
                        "set {ENV_ASSERTION_KEY} to the application's private key in PEM, or to the path of a .pem file holding it"
                    ),
                )
            })?
        };
        AssertionKey::from_pem(&pem, alg, key_id)
    }

    /// A key from PEM text (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`).
    pub fn from_pem(
        pem: &str,
        alg: SigningAlg,
        key_id: Option<String>,
    ) -> Result<AssertionKey, AuthConfigError> {
        let fix = format!(
            "{ENV_ASSERTION_KEY} must hold an unencrypted RSA private key of at least 2048 bits in PEM (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----), the private half of the credential registered on the application; e.g. `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`"
        );
        if pem.contains("ENCRYPTED") {
            return Err(AuthConfigError::new(
                format!(
                    "{ENV_ASSERTION_KEY} is an encrypted private key; verifyctl cannot ask for its passphrase"
                ),
                format!(
                    "decrypt it first (`openssl pkey -in key.pem -out plain.pem`) and keep the plain key in a secret store; {fix}"
                ),
            ));
        }
        if pem.contains("PUBLIC KEY") || pem.contains("CERTIFICATE") {
            return Err(AuthConfigError::new(
                format!("{ENV_ASSERTION_KEY} holds a public key or certificate, not a private key"),
                format!(
                    "the public key is what you register on the application in Auth0; verifyctl signs with the private key. {fix}"
                ),
            ));
        }
        let key = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|error| {
            AuthConfigError::new(
                format!(
                    "{ENV_ASSERTION_KEY} is not a PEM RSA private key ({})",
                    describe_key_error(&error)
                ),
                fix.clone(),
            )
        })?;
        let key = AssertionKey { key, alg, key_id };
        // Sign once now: a key the crypto library rejects (damaged, too small) fails here,
        // before any request, rather than at the first token request.
        key.assertion("verifyctl-key-check", "https://key.check/", 0)
            .map_err(|reason| {
                AuthConfigError::new(
                    format!("{ENV_ASSERTION_KEY} cannot sign with {alg}: {reason}"),
                    fix,
                )
            })?;
        Ok(key)
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// A signed assertion for `client_id`, for the tenant at `audience` (`https://DOMAIN/`),
    /// issued at `now` (seconds since the epoch) and valid for a minute, with a fresh `jti`.
    ///
    /// `aud` is the tenant's URL with its trailing slash: Auth0 documents it as "the URL of
    /// the Auth0 tenant or custom domain that receives the assertion", e.g.
    /// `https://{yourTenant}.auth0.com/` (Auth0 docs, "Authenticate with Private Key JWT",
    /// get-started/authentication-and-authorization-flow/authenticate-with-private-key-jwt),
    /// not the token endpoint's URL.
    pub fn assertion(&self, client_id: &str, audience: &str, now: i64) -> Result<Secret, String> {
        let mut header = Header::new(self.alg.jwt());
        header.kid.clone_from(&self.key_id);
        let claims = AssertionClaims {
            iss: client_id,
            sub: client_id,
            aud: audience,
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECONDS,
            jti: random_jti(),
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(Secret::new)
            .map_err(|error| describe_key_error(&error))
    }
}

/// The crypto library's words, without anything of the key.
fn describe_key_error(error: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::InvalidKeyFormat => "the PEM block is not an RSA private key".to_owned(),
        ErrorKind::InvalidRsaKey(_) | ErrorKind::RsaFailedSigning | ErrorKind::Signing(_) => {
            "the key was rejected: damaged, or smaller than 2048 bits".to_owned()
        }
        _ => "the text is not valid PEM".to_owned(),
    }
}

/// 128 random bits in hex (the operating system's generator).
fn random_jti() -> String {
    use rand::TryRng;
    let mut bytes = [0u8; 16];
    if rand::rngs::SysRng.try_fill_bytes(&mut bytes).is_err() {
        // Uniqueness is what matters for a jti; fall back to the clock and a counter.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return format!("{nanos:x}-{count:x}");
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Credentials {
    /// The credentials the environment gives, checked: `lookup` returns a variable's value
    /// (empty counts as unset). `client_id` is `AUTH0_CLIENT_ID` (or `--client-id`).
    /// `AUTH0_API_TOKEN` wins over the others; giving both a client secret and a private
    /// key is an error (which one was meant is not ours to guess).
    pub fn from_env(
        client_id: Option<&str>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Credentials, AuthConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        if let Some(token) = get(ENV_API_TOKEN) {
            return Ok(Credentials::Token(Secret::new(token.trim())));
        }
        let secret = get(ENV_CLIENT_SECRET);
        let key = get(ENV_ASSERTION_KEY);
        let client_id = client_id.map(str::trim).filter(|id| !id.is_empty());
        let Some(client_id) = client_id else {
            let given = match (&secret, &key) {
                (Some(_), _) => format!("{ENV_CLIENT_SECRET} is set but {ENV_CLIENT_ID} is not"),
                (None, Some(_)) => format!("{ENV_ASSERTION_KEY} is set but {ENV_CLIENT_ID} is not"),
                (None, None) => "no credentials given".to_owned(),
            };
            return Err(AuthConfigError::new(
                given,
                format!(
                    "set {ENV_CLIENT_ID} of a machine-to-machine application authorized for the Management API with {ENV_CLIENT_SECRET} or {ENV_ASSERTION_KEY} (private-key JWT), or set {ENV_API_TOKEN}"
                ),
            ));
        };
        match (secret, key) {
            (Some(_), Some(_)) => Err(AuthConfigError::new(
                format!("both {ENV_CLIENT_SECRET} and {ENV_ASSERTION_KEY} are set"),
                format!(
                    "unset one: {ENV_ASSERTION_KEY} for private-key JWT authentication, or {ENV_CLIENT_SECRET} for a client secret (the application accepts only the method it is configured for)"
                ),
            )),
            (Some(secret), None) => Ok(Credentials::ClientCredentials {
                client_id: client_id.to_owned(),
                client_secret: Secret::new(secret),
            }),
            (None, Some(key)) => {
                let alg = match get(ENV_ASSERTION_ALG) {
                    None => SigningAlg::Rs256,
                    Some(text) => SigningAlg::parse(&text).ok_or_else(|| {
                        AuthConfigError::new(
                            format!("{ENV_ASSERTION_ALG} `{}` is not supported", text.trim()),
                            "use RS256 (the default), RS384 or PS256: the algorithm of the credential registered on the application",
                        )
                    })?,
                };
                let key_id = get(ENV_ASSERTION_KEY_ID).map(|id| id.trim().to_owned());
                Ok(Credentials::PrivateKeyJwt {
                    client_id: client_id.to_owned(),
                    key: AssertionKey::load(&key, alg, key_id)?,
                })
            }
            (None, None) => Err(AuthConfigError::new(
                format!(
                    "{ENV_CLIENT_ID} is set but neither {ENV_CLIENT_SECRET} nor {ENV_ASSERTION_KEY} is"
                ),
                format!(
                    "set {ENV_CLIENT_SECRET} (a client secret) or {ENV_ASSERTION_KEY} (private-key JWT: a PEM private key or its path), or {ENV_API_TOKEN}"
                ),
            )),
        }
    }

    pub fn method(&self) -> AuthMethod {
        match self {
            Credentials::Token(_) => AuthMethod::Token,
            Credentials::ClientCredentials { .. } => AuthMethod::ClientSecret,
            Credentials::PrivateKeyJwt { key, .. } => AuthMethod::PrivateKeyJwt(key.alg),
        }
    }
}

/// The body of a client-credentials token request, secrets included (never logged).
pub(super) struct TokenForm(Vec<(&'static str, String)>);

impl TokenForm {
    pub(super) fn fields(&self) -> Vec<(&'static str, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
}

pub(super) struct CachedToken {
    token: Secret,
    refresh_at: Instant,
}

/// Credentials, the cached token and the scopes it was granted.
pub(super) struct Authenticator {
    credentials: Credentials,
    cache: tokio::sync::Mutex<Option<CachedToken>>,
    granted: std::sync::Mutex<Option<BTreeSet<String>>>,
}

/// What [`Authenticator::begin`] found.
pub(super) enum TokenNeed<'a> {
    /// A token to use now.
    Ready(Secret),
    /// Ask `/oauth/token` with this form, then hand the answer to [`Authenticator::accept`]
    /// with the guard (which keeps concurrent requests from asking too).
    Request(TokenForm, tokio::sync::MutexGuard<'a, Option<CachedToken>>),
}

impl Authenticator {
    pub(super) fn new(credentials: Credentials) -> Authenticator {
        let granted = match &credentials {
            Credentials::Token(token) => scopes_of_jwt(token.expose()),
            _ => None,
        };
        Authenticator {
            credentials,
            cache: tokio::sync::Mutex::new(None),
            granted: std::sync::Mutex::new(granted),
        }
    }

    pub(super) fn method(&self) -> AuthMethod {
        self.credentials.method()
    }

    /// True when a refused token can be replaced by asking again.
    pub(super) fn refreshable(&self) -> bool {
        !matches!(self.credentials, Credentials::Token(_))
    }

    /// Forgets the cached token (after a 401).
    pub(super) async fn forget(&self) {
        *self.cache.lock().await = None;
    }

    /// The scopes of the current token, when known.
    pub(super) fn granted_scopes(&self) -> Option<BTreeSet<String>> {
        self.granted.lock().ok().and_then(|g| g.clone())
    }

    /// A cached or static token, or the form to ask for one.
    pub(super) async fn begin(&self, target: &TenantTarget) -> Result<TokenNeed<'_>, String> {
        if let Credentials::Token(token) = &self.credentials {
            return Ok(TokenNeed::Ready(token.clone()));
        }
        let cached = self.cache.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok(TokenNeed::Ready(token.token.clone()));
        }
        let (client_id, authentication) = match &self.credentials {
            Credentials::Token(token) => return Ok(TokenNeed::Ready(token.clone())),
            Credentials::ClientCredentials {
                client_id,
                client_secret,
            } => (
                client_id,
                vec![("client_secret", client_secret.expose().to_owned())],
            ),
            Credentials::PrivateKeyJwt { client_id, key } => {
                // A fresh assertion for every token request: each is single-use (`jti`).
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let assertion = key.assertion(client_id, &target.assertion_audience(), now)?;
                (
                    client_id,
                    vec![
                        ("client_assertion_type", CLIENT_ASSERTION_TYPE.to_owned()),
                        ("client_assertion", assertion.expose().to_owned()),
                    ],
                )
            }
        };
        let mut fields = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", client_id.clone()),
        ];
        fields.extend(authentication);
        fields.push(("audience", target.audience.clone()));
        Ok(TokenNeed::Request(TokenForm(fields), cached))
    }

    /// Caches the token of a successful token response and records its scopes.
    pub(super) fn accept(
        &self,
        mut guard: tokio::sync::MutexGuard<'_, Option<CachedToken>>,
        response: TokenResponse,
    ) -> Secret {
        // Refresh a minute early (or at half-life for very short tokens).
        let lifetime = Duration::from_secs(response.expires_in);
        let margin = Duration::from_secs(60).min(lifetime / 2);
        let token = Secret::new(response.access_token);
        let scopes = response
            .scope
            .as_deref()
            .map(parse_scopes)
            .or_else(|| scopes_of_jwt(token.expose()));
        if let Ok(mut granted) = self.granted.lock() {
            *granted = scopes;
        }
        *guard = Some(CachedToken {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime - margin,
        });
        token
    }
}

/// The scopes of a space-separated `scope` value (a token response's, or a JWT's claim).
pub fn parse_scopes(text: &str) -> BTreeSet<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// The `scope` claim of a JWT access token, read without checking its signature (only
/// to tell the user what the token allows; the tenant decides what it accepts).
fn scopes_of_jwt(token: &str) -> Option<BTreeSet<String>> {
    #[derive(serde::Deserialize)]
    struct Claims {
        scope: Option<String>,
    }
    let claims: Claims = jsonwebtoken::dangerous::insecure_decode_claims(token).ok()?;
    claims.scope.as_deref().map(parse_scopes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn scopes_are_split_on_whitespace() {
        let scopes = parse_scopes(" read:users  update:users\tread:users ");
        assert_eq!(
            scopes.into_iter().collect::<Vec<_>>(),
            ["read:users", "update:users"]
        );
        assert!(parse_scopes("").is_empty());
    }

    #[test]
    fn token_response_scope_is_recorded() {
        let response: TokenResponse = serde_json::from_str(
            r#"{"access_token":"abc","expires_in":86400,"scope":"read:users create:users","token_type":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!(response.scope.as_deref(), Some("read:users create:users"));
        let without: TokenResponse =
            serde_json::from_str(r#"{"access_token":"abc","expires_in":10}"#).unwrap();
        assert_eq!(without.scope, None);
    }

    #[test]
    fn a_static_jwt_token_tells_its_scopes() {
        // header {"alg":"none"}, payload {"scope":"read:users read:logs"}; unsigned.
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJzY29wZSI6InJlYWQ6dXNlcnMgcmVhZDpsb2dzIn0.c2ln";
        let scopes = scopes_of_jwt(token).unwrap();
        assert!(scopes.contains("read:logs") && scopes.len() == 2);
        assert_eq!(scopes_of_jwt("opaque-token"), None);
    }

    #[test]
    fn algorithms_parse_case_insensitively() {
        assert_eq!(SigningAlg::parse(" rs384 "), Some(SigningAlg::Rs384));
        assert_eq!(SigningAlg::parse("PS256"), Some(SigningAlg::Ps256));
        assert_eq!(SigningAlg::parse("HS256"), None);
    }

    #[test]
    fn the_token_wins_and_secrets_need_a_client_id() {
        let token = Credentials::from_env(Some("id"), env(&[(ENV_API_TOKEN, "t")])).unwrap();
        assert_eq!(token.method(), AuthMethod::Token);
        let secret = Credentials::from_env(Some("id"), env(&[(ENV_CLIENT_SECRET, "s")])).unwrap();
        assert_eq!(secret.method(), AuthMethod::ClientSecret);
        let error = Credentials::from_env(None, env(&[(ENV_CLIENT_SECRET, "s")])).unwrap_err();
        assert!(error.message.contains("AUTH0_CLIENT_ID is not"), "{error}");
        let none = Credentials::from_env(Some("id"), env(&[])).unwrap_err();
        assert!(none.hint.contains(ENV_ASSERTION_KEY), "{}", none.hint);
    }

    #[test]
    fn secret_and_key_together_are_refused_before_the_key_is_read() {
        let error = Credentials::from_env(
            Some("id"),
            env(&[
                (ENV_CLIENT_SECRET, "s"),
                (ENV_ASSERTION_KEY, "/no/such.pem"),
            ]),
        )
        .unwrap_err();
        assert!(error.message.contains("both"), "{error}");
        assert!(error.hint.contains("unset one"), "{}", error.hint);
    }

    #[test]
    fn bad_keys_and_algorithms_are_worded_without_the_key() {
        let unsupported = Credentials::from_env(
            Some("id"),
            env(&[(ENV_ASSERTION_KEY, "k"), (ENV_ASSERTION_ALG, "HS256")]),
        )
        .unwrap_err();
        assert!(unsupported.message.contains("`HS256` is not supported"));
        assert!(unsupported.hint.contains("RS256"));
        let body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC-not-a-real-key";
        let garbage = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
        let error = AssertionKey::from_pem(&garbage, SigningAlg::Rs256, None).unwrap_err();
        assert!(error.message.contains(ENV_ASSERTION_KEY), "{error}");
        assert!(!error.message.contains(body) && !error.hint.contains(body));
        let public = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        let error = AssertionKey::from_pem(public, SigningAlg::Rs256, None).unwrap_err();
        assert!(error.message.contains("public key"), "{error}");
        let missing = AssertionKey::load("/no/such/key.pem", SigningAlg::Rs256, None).unwrap_err();
        assert!(missing.message.contains("/no/such/key.pem"), "{missing}");
        let long = "x".repeat(1000);
        let hidden = AssertionKey::load(&long, SigningAlg::Rs256, None).unwrap_err();
        assert!(!hidden.message.contains(&long));
    }
}
