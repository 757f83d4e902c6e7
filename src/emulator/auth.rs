//! Access to the Management API: `POST /oauth/token` (client credentials, reference §1,
//! authenticated by a client secret or a private-key JWT assertion), the in-memory store
//! of issued tokens, ephemeral client credentials and used assertion ids, the
//! [`Token`] extractor that checks the bearer token, its audience and then per-endpoint
//! scopes (401/403 bodies from reference §0.1), and `GET /.well-known/jwks.json`.
//! Nothing here is persisted.
//!
//! Access tokens are JWTs signed RS256 with the emulator's key (made once per process,
//! published at `/.well-known/jwks.json`), with Auth0's claims for client credentials:
//! `iss` `https://DOMAIN/`, `sub` `CLIENT_ID@clients`, `aud`, `iat`, `exp`, `scope`,
//! `gty` `client-credentials` and `azp`. The API still checks a token against the store
//! (so an expired or unknown token gets Auth0's texts), then its audience.
//!
//! Audiences and host names: the tenant is served under its `domain` and its
//! `custom_domains` (and, for the emulator, whatever loopback address it is reached at).
//! The Management API audience is `https://DOMAIN/api/v2/`; a request through any host
//! that is not a custom domain may also use `https://HOST/api/v2/` (SDKs derive the
//! audience from the address they are given). A custom domain is never an audience, as on
//! Auth0: asking a token for it is a 403 `Service not found: AUDIENCE` (the text Auth0
//! gives for an unknown API, seen in LawJolla/prisma-auth0-example#2), and a token whose
//! audience is not accepted through the host it is sent to is a 401 `Bad audience: AUD`
//! (auth0/node-auth0#787).

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use rand::RngExt;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use super::Emulator;
use super::errors::{ApiError, OAuthError, json_response};
use super::state::ClientCredential;

/// Lifetime of every token (the Management API default, reference §1).
pub const TOKEN_LIFETIME_SECONDS: i64 = 86_400;

/// Issued tokens, the credentials registered with `add_client_credentials`, assertion ids
/// already used, and host names added with `add_custom_domain`.
#[derive(Debug, Default)]
pub struct TokenStore {
    tokens: HashMap<String, IssuedToken>,
    credentials: HashMap<String, Credential>,
    /// `(client_id, jti)` of accepted assertions, until they expire.
    used_assertions: HashMap<(String, String), OffsetDateTime>,
    /// Custom domains served besides the tenant file's (tests).
    pub(super) custom_domains: Vec<String>,
}

#[derive(Debug)]
struct IssuedToken {
    scopes: Vec<String>,
    audience: String,
    expires_at: OffsetDateTime,
}

#[derive(Debug)]
struct Credential {
    secret: String,
    scopes: Vec<String>,
}

/// What an access token says (Auth0's claims for the client-credentials grant).
#[derive(serde::Serialize)]
struct AccessClaims<'a> {
    iss: String,
    sub: String,
    aud: &'a str,
    iat: i64,
    exp: i64,
    scope: String,
    gty: &'static str,
    azp: &'a str,
}

impl TokenStore {
    pub fn add_credentials(&mut self, client_id: &str, secret: &str, scopes: Vec<String>) {
        let credential = Credential {
            secret: secret.to_owned(),
            scopes,
        };
        self.credentials.insert(client_id.to_owned(), credential);
    }

    /// Mints a token for `client_id` carrying `scopes` for `audience`, valid for a day from
    /// `now`: a JWT signed with the emulator's key (an opaque string if the key could not
    /// be made).
    pub fn issue(
        &mut self,
        issuer_domain: &str,
        client_id: &str,
        audience: &str,
        scopes: Vec<String>,
        now: OffsetDateTime,
    ) -> String {
        let expires_at = now + Duration::seconds(TOKEN_LIFETIME_SECONDS);
        let claims = AccessClaims {
            iss: format!("https://{issuer_domain}/"),
            sub: format!("{client_id}@clients"),
            aud: audience,
            iat: now.unix_timestamp(),
            exp: expires_at.unix_timestamp(),
            scope: scopes.join(" "),
            gty: "client-credentials",
            azp: client_id,
        };
        let token = signing_key()
            .and_then(|key| key.sign(&claims))
            .unwrap_or_else(|| {
                rand::rng()
                    .sample_iter(Alphanumeric)
                    .take(48)
                    .map(char::from)
                    .collect()
            });
        let issued = IssuedToken {
            scopes,
            audience: audience.to_owned(),
            expires_at,
        };
        self.tokens.insert(token.clone(), issued);
        token
    }

    fn check(&self, token: &str, now: OffsetDateTime) -> Result<&IssuedToken, ApiError> {
        let issued = self
            .tokens
            .get(token)
            .ok_or_else(|| ApiError::unauthorized("Invalid token."))?;
        if now >= issued.expires_at {
            return Err(ApiError::unauthorized(
                "Expired token received for JSON Web Token validation",
            ));
        }
        Ok(issued)
    }

    #[cfg(test)]
    fn scopes_of(&self, token: &str, now: OffsetDateTime) -> Result<Vec<String>, ApiError> {
        self.check(token, now).map(|issued| issued.scopes.clone())
    }

    /// Records a used assertion id; false when it was used before (and has not expired).
    fn first_use(
        &mut self,
        client_id: &str,
        jti: &str,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) -> bool {
        self.used_assertions.retain(|_, until| *until > now);
        self.used_assertions
            .insert((client_id.to_owned(), jti.to_owned()), expires)
            .is_none()
    }
}

/// The emulator's token-signing key: RSA 2048, made once per process.
struct SigningKey {
    encoding: jsonwebtoken::EncodingKey,
    kid: String,
    jwk: Value,
}

impl SigningKey {
    fn generate() -> Option<SigningKey> {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
        use aws_lc_rs::signature::KeyPair as _;
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        use sha2::Digest;

        let pair = KeyPair::generate(KeySize::Rsa2048).ok()?;
        let der = pair.as_der().ok()?;
        let body = STANDARD.encode(der.as_ref());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).ok()?);
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        let encoding = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).ok()?;
        let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let digest = sha2::Sha256::digest(&public.n);
        let kid = URL_SAFE_NO_PAD.encode(&digest[..12]);
        let jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(&public.n),
            "e": URL_SAFE_NO_PAD.encode(&public.e),
        });
        Some(SigningKey { encoding, kid, jwk })
    }

    fn sign(&self, claims: &impl serde::Serialize) -> Option<String> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).ok()
    }
}

fn signing_key() -> Option<&'static SigningKey> {
    static KEY: OnceLock<Option<SigningKey>> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = SigningKey::generate();
        if key.is_none() {
            tracing::warn!("the emulator could not make its signing key; tokens are opaque");
        }
        key
    })
    .as_ref()
}

/// `GET /.well-known/jwks.json`: the public key that signs the emulator's access tokens.
pub async fn jwks() -> Response {
    let keys: Vec<Value> = signing_key()
        .map(|key| key.jwk.clone())
        .into_iter()
        .collect();
    json_response(StatusCode::OK, &json!({ "keys": keys }))
}

/// The scopes of a request's valid bearer token.
#[derive(Clone, Debug)]
pub struct Token {
    scopes: Vec<String>,
}

impl Token {
    pub fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// 403 unless the token has at least one of `any_of`.
    pub fn require(&self, any_of: &[&str]) -> Result<(), ApiError> {
        if any_of.iter().any(|scope| self.has(scope)) {
            Ok(())
        } else {
            Err(ApiError::insufficient_scope(any_of))
        }
    }
}

impl FromRequestParts<Emulator> for Token {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, emulator: &Emulator) -> Result<Token, ApiError> {
        let token = bearer_token(&parts.headers)?;
        let host = host_of(&parts.headers);
        let now = emulator.now();
        let scopes = emulator.with_world(|world| {
            let issued = world.tokens.check(token, now)?;
            if !world.api_accepts(&issued.audience, host) {
                return Err(ApiError::unauthorized(format!(
                    "Bad audience: {}",
                    issued.audience
                )));
            }
            Ok(issued.scopes.clone())
        })?;
        Ok(Token { scopes })
    }
}

fn host_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|v| v.to_str().ok())
}

/// The token of an `Authorization: Bearer <token>` header. Choice: the texts for a
/// missing or malformed header are the real API's hapi-auth wording; the reference only
/// lists texts for bad tokens.
fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("Missing authentication"))?;
    let malformed = || ApiError::unauthorized("Bad HTTP authentication header format");
    let text = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = text.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(malformed());
    }
    Ok(token.trim())
}

/// The fields of an Authentication API body, sent as JSON or as a form.
/// (auth0-python sends JSON with `organization: null`; node and go send forms.)
pub struct AuthApiFields(HashMap<String, String>);

impl AuthApiFields {
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<AuthApiFields, OAuthError> {
        let is_json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            let fields = url::form_urlencoded::parse(body).into_owned().collect();
            return Ok(AuthApiFields(fields));
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|_| OAuthError::invalid_request("Invalid JSON body"))?;
        let Value::Object(object) = value else {
            return Err(OAuthError::invalid_request(
                "The body must be a JSON object",
            ));
        };
        let fields = object
            .into_iter()
            .filter_map(|(key, value)| match value {
                Value::Null => None,
                Value::String(text) => Some((key, text)),
                other => Some((key, other.to_string())),
            })
            .collect();
        Ok(AuthApiFields(fields))
    }

    /// A non-empty field.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A non-empty field, or 400 `invalid_request`.
    pub fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| {
            OAuthError::invalid_request(format!("Missing required parameter: {name}"))
        })
    }
}

/// `POST /oauth/token`: the client-credentials grant for the Management API, the client
/// authenticated by its secret or by a private-key JWT assertion.
pub async fn token(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let fields = AuthApiFields::parse(&headers, &body)?;
    let grant_type = fields.required("grant_type")?;
    if grant_type != "client_credentials" {
        // Choice: only client credentials are emulated; other grants get the OAuth
        // error for grants a server does not support.
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("Unsupported grant type: {grant_type}"),
        ));
    }
    let host = host_of(&headers);
    let now = emulator.now();
    let (token, scopes) = emulator.with_world(|world| {
        let (client_id, granted) = if let Some(assertion) = fields.get("client_assertion") {
            world.authenticate_assertion(&fields, assertion, host, now)?
        } else {
            let client_id = fields.required("client_id")?;
            let secret = fields.get("client_secret").unwrap_or_default();
            let granted = world.granted_scopes(client_id, secret).ok_or_else(|| {
                OAuthError::new(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized")
            })?;
            (client_id.to_owned(), granted)
        };
        // Choice: the tenant has no default audience, so `audience` is required.
        let audience = fields.get("audience").ok_or_else(|| {
            OAuthError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                "No audience parameter was provided, and no default audience has been configured",
            )
        })?;
        if world.is_custom_domain_audience(audience) {
            return Err(OAuthError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                format!("Service not found: {audience}"),
            ));
        }
        let canonical = world.management_audience();
        let accepted = audience == canonical
            || host.is_some_and(|host| audience == format!("https://{host}/api/v2/"));
        if !accepted || granted.is_empty() {
            return Err(not_authorized_for(audience));
        }
        let scopes = narrow(granted, fields.get("scope"));
        let domain = world.tenant.domain.clone();
        let token = world
            .tokens
            .issue(&domain, &client_id, audience, scopes.clone(), now);
        Ok((token, scopes))
    })?;
    let body = json!({
        "access_token": token,
        "expires_in": TOKEN_LIFETIME_SECONDS,
        "scope": scopes.join(" "),
        "token_type": "Bearer",
    });
    Ok(json_response(StatusCode::OK, &body))
}

/// The `client_assertion_type` of private-key JWT authentication (RFC 7523 §2.2).
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The clock skew Auth0 allows for `iat` and `nbf`, and the longest assertion lifetime
/// (Auth0 docs, "Authenticate with Private Key JWT": "A clock skew of up to 10 seconds is
/// allowed for iat and nbf"; "Auth0 supports a maximum of 5 minutes for the lifetime").
const ASSERTION_SKEW_SECONDS: i64 = 10;
const ASSERTION_MAX_LIFETIME_SECONDS: i64 = 300;

/// A refused assertion: 401 `invalid_client`. Auth0 answers a failed private-key JWT
/// authentication with `invalid_client` and logs it as `feccft` "Failed client
/// authentication" with the reason (Auth0 community article "Invalid Client Error With
/// Private Key JWT Authentication When Requesting an Access Token"); the exact
/// `error_description` texts are UNCONFIRMED: "Invalid client assertion: REASON" here.
fn invalid_assertion(reason: impl fmt::Display) -> OAuthError {
    OAuthError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        format!("Invalid client assertion: {reason}"),
    )
}

#[derive(serde::Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    #[serde(default)]
    aud: Option<Value>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
}

impl super::World {
    /// `https://DOMAIN/api/v2/`, the Management API's identifier.
    pub(super) fn management_audience(&self) -> String {
        format!("https://{}/api/v2/", self.tenant.domain)
    }

    /// The custom domains (the tenant file's and those added for tests).
    fn custom_domains(&self) -> impl Iterator<Item = &str> {
        self.tenant
            .custom_domains
            .iter()
            .chain(&self.tokens.custom_domains)
            .map(String::as_str)
    }

    /// True when `host` (a Host header, perhaps with a port) is a custom domain.
    fn is_custom_host(&self, host: &str) -> bool {
        let bare = host.rsplit_once(':').map_or(host, |(name, _)| name);
        self.custom_domains()
            .any(|domain| domain.eq_ignore_ascii_case(host) || domain.eq_ignore_ascii_case(bare))
    }

    fn is_custom_domain_audience(&self, audience: &str) -> bool {
        audience
            .strip_prefix("https://")
            .and_then(|rest| rest.strip_suffix("/api/v2/"))
            .is_some_and(|host| self.is_custom_host(host))
    }

    /// Whether the Management API takes a token for `audience` through `host`: the
    /// canonical audience always; through a host that is not a custom domain, any audience
    /// the token endpoint issues there (`https://HOST/api/v2/` of a non-custom host).
    fn api_accepts(&self, audience: &str, host: Option<&str>) -> bool {
        if audience == self.management_audience() {
            return true;
        }
        let through_custom = host.is_some_and(|host| self.is_custom_host(host));
        !through_custom && !self.is_custom_domain_audience(audience)
    }

    /// The URLs an assertion's `aud` may name: the tenant's, or a domain it is served under
    /// (Auth0 docs, "Authenticate with Private Key JWT": "The URL of the Auth0 tenant or
    /// custom domain that receives the assertion", with the trailing slash). Whether Auth0
    /// also takes the token endpoint's URL (RFC 7523 allows it) is UNCONFIRMED; the
    /// emulator takes only what the docs name.
    fn assertion_audiences(&self, host: Option<&str>) -> Vec<String> {
        let mut accepted = vec![format!("https://{}/", self.tenant.domain)];
        accepted.extend(self.custom_domains().map(|d| format!("https://{d}/")));
        accepted.extend(host.map(|h| format!("https://{h}/")));
        accepted
    }

    /// Authenticates a client by its private-key JWT assertion; returns the client id and
    /// its granted scopes.
    fn authenticate_assertion(
        &mut self,
        fields: &AuthApiFields,
        assertion: &str,
        host: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(String, Vec<String>), OAuthError> {
        if fields.get("client_assertion_type") != Some(JWT_BEARER) {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {JWT_BEARER}"
            )));
        }
        if fields.get("client_secret").is_some() {
            // Choice (UNCONFIRMED text): one client authentication method per request.
            return Err(OAuthError::invalid_request(
                "Only one client authentication method may be used: client_secret or client_assertion",
            ));
        }
        let header = jsonwebtoken::decode_header(assertion)
            .map_err(|_| invalid_assertion("it is not a signed JWT"))?;
        let unverified: AssertionClaims =
            jsonwebtoken::dangerous::insecure_decode_claims(assertion)
                .map_err(|_| invalid_assertion("its claims are not readable"))?;
        let client_id = fields
            .get("client_id")
            .map(str::to_owned)
            .or(unverified.sub.clone())
            .ok_or_else(|| invalid_assertion("no client_id and no `sub` claim"))?;
        let (credentials, scopes) = self
            .tenant
            .client(&client_id)
            .map(|client| (client.credentials.clone(), client.grants.clone()))
            .unwrap_or_default();
        if credentials.is_empty() {
            return Err(invalid_assertion(
                "the client has no public key registered for private-key JWT authentication",
            ));
        }
        let alg = format!("{:?}", header.alg);
        let candidates: Vec<&ClientCredential> = credentials
            .iter()
            .filter(|c| c.alg.eq_ignore_ascii_case(&alg))
            .filter(|c| match (&header.kid, &c.kid) {
                (Some(wanted), Some(kid)) => wanted == kid,
                _ => true,
            })
            .collect();
        if candidates.is_empty() {
            return Err(invalid_assertion(format!(
                "no credential of the client matches the algorithm {alg}{}",
                header
                    .kid
                    .as_ref()
                    .map(|k| format!(" and key id {k}"))
                    .unwrap_or_default()
            )));
        }
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let verified = candidates.iter().any(|credential| {
            jsonwebtoken::DecodingKey::from_rsa_pem(credential.pem.as_bytes())
                .ok()
                .and_then(|key| {
                    jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation).ok()
                })
                .is_some()
        });
        if !verified {
            return Err(invalid_assertion(
                "the signature does not verify with the client's registered public key",
            ));
        }
        let claims = unverified;
        if claims.iss.as_deref() != Some(&client_id) || claims.sub.as_deref() != Some(&client_id) {
            return Err(invalid_assertion(
                "`iss` and `sub` must both be the client id",
            ));
        }
        let accepted = self.assertion_audiences(host);
        let auds: Vec<&str> = match &claims.aud {
            Some(Value::String(aud)) => vec![aud.as_str()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !auds.iter().any(|aud| accepted.iter().any(|a| a == aud)) {
            return Err(invalid_assertion(format!(
                "`aud` must be the tenant's URL, {}",
                accepted[0]
            )));
        }
        let now_s = now.unix_timestamp();
        let exp = claims
            .exp
            .ok_or_else(|| invalid_assertion("the `exp` claim is missing"))?;
        if now_s >= exp {
            return Err(invalid_assertion("the assertion has expired (`exp`)"));
        }
        let issued = claims.iat.unwrap_or(now_s);
        if issued > now_s + ASSERTION_SKEW_SECONDS
            || claims
                .nbf
                .is_some_and(|nbf| nbf > now_s + ASSERTION_SKEW_SECONDS)
        {
            return Err(invalid_assertion(
                "the assertion is not valid yet (`iat`/`nbf`)",
            ));
        }
        if exp - issued > ASSERTION_MAX_LIFETIME_SECONDS {
            return Err(invalid_assertion(
                "'exp' claim must specify a time that is no more than 5 minutes after 'iat'",
            ));
        }
        let jti = claims
            .jti
            .filter(|jti| !jti.is_empty())
            .ok_or_else(|| invalid_assertion("the `jti` claim is missing"))?;
        let expires = OffsetDateTime::from_unix_timestamp(exp).unwrap_or(now);
        if !self.tokens.first_use(&client_id, &jti, expires, now) {
            return Err(invalid_assertion(
                "the `jti` has already been used; an assertion is single-use",
            ));
        }
        Ok((client_id, scopes))
    }
}

/// The 403 for an audience the client has no grant for (auth0/auth0-python#173;
/// the `access_denied` code is UNCONFIRMED in the reference, chosen as the likeliest).
fn not_authorized_for(audience: &str) -> OAuthError {
    OAuthError::new(
        StatusCode::FORBIDDEN,
        "access_denied",
        format!(
            "Client is not authorized to access \"{audience}\". You might probably want to \
             create a \"client-grant\" associated to this API. See: \
             https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants"
        ),
    )
}

/// Choice (UNCONFIRMED whether Auth0 narrows M2M tokens): a `scope` parameter narrows
/// the token to the granted scopes it names; without it the token gets every grant.
fn narrow(granted: Vec<String>, requested: Option<&str>) -> Vec<String> {
    match requested {
        None => granted,
        Some(requested) => {
            let requested: Vec<&str> = requested.split_whitespace().collect();
            granted
                .into_iter()
                .filter(|scope| requested.contains(&scope.as_str()))
                .collect()
        }
    }
}

impl super::World {
    /// The scopes a client may get, if `secret` is its secret: registered credentials
    /// first, then tenant clients that have a `client_secret`.
    fn granted_scopes(&self, client_id: &str, secret: &str) -> Option<Vec<String>> {
        if let Some(credential) = self.tokens.credentials.get(client_id) {
            return (credential.secret == secret).then(|| credential.scopes.clone());
        }
        let client = self.tenant.client(client_id)?;
        (client.client_secret.as_deref() == Some(secret)).then(|| client.grants.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_is_parsed_case_insensitively() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&headers).unwrap(), "abc");
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(bearer_token(&headers).is_err());
    }

    #[test]
    fn scope_parameter_narrows_to_granted_scopes() {
        let granted = vec!["read:users".to_owned(), "update:users".to_owned()];
        assert_eq!(narrow(granted.clone(), None), granted);
        assert_eq!(
            narrow(granted, Some("read:users delete:users")),
            ["read:users"]
        );
    }

    #[test]
    fn tokens_expire_on_the_clock() {
        let mut store = TokenStore::default();
        let now = OffsetDateTime::UNIX_EPOCH;
        let token = store.issue(
            "acme.auth0.com",
            "m2m",
            "https://acme.auth0.com/api/v2/",
            vec!["read:users".into()],
            now,
        );
        assert!(store.scopes_of(&token, now).is_ok());
        let later = now + Duration::seconds(TOKEN_LIFETIME_SECONDS);
        let err = store.scopes_of(&token, later).unwrap_err();
        assert_eq!(
            err.message,
            "Expired token received for JSON Web Token validation"
        );
        assert_eq!(
            store.scopes_of("nope", now).unwrap_err().message,
            "Invalid token."
        );
    }
}
