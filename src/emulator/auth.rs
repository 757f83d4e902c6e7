//! Access to the Management API: `POST /oauth/token` (client credentials, reference §1),
//! the in-memory store of issued tokens and ephemeral client credentials, and the
//! [`Token`] extractor that checks the bearer token and then per-endpoint scopes
//! (401/403 bodies from reference §0.1). Nothing here is persisted.

use std::collections::HashMap;

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

/// Lifetime of every token (the Management API default, reference §1).
pub const TOKEN_LIFETIME_SECONDS: i64 = 86_400;

/// Issued tokens and the credentials registered with `add_client_credentials`.
#[derive(Debug, Default)]
pub struct TokenStore {
    tokens: HashMap<String, IssuedToken>,
    credentials: HashMap<String, Credential>,
}

#[derive(Debug)]
struct IssuedToken {
    scopes: Vec<String>,
    expires_at: OffsetDateTime,
}

#[derive(Debug)]
struct Credential {
    secret: String,
    scopes: Vec<String>,
}

impl TokenStore {
    pub fn add_credentials(&mut self, client_id: &str, secret: &str, scopes: Vec<String>) {
        let credential = Credential {
            secret: secret.to_owned(),
            scopes,
        };
        self.credentials.insert(client_id.to_owned(), credential);
    }

    /// Mints an opaque token carrying `scopes`, valid for a day from `now`.
    pub fn issue(&mut self, scopes: Vec<String>, now: OffsetDateTime) -> String {
        let token: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(48)
            .map(char::from)
            .collect();
        let issued = IssuedToken {
            scopes,
            expires_at: now + Duration::seconds(TOKEN_LIFETIME_SECONDS),
        };
        self.tokens.insert(token.clone(), issued);
        token
    }

    fn scopes_of(&self, token: &str, now: OffsetDateTime) -> Result<Vec<String>, ApiError> {
        let issued = self
            .tokens
            .get(token)
            .ok_or_else(|| ApiError::unauthorized("Invalid token."))?;
        if now >= issued.expires_at {
            return Err(ApiError::unauthorized(
                "Expired token received for JSON Web Token validation",
            ));
        }
        Ok(issued.scopes.clone())
    }
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
        let now = emulator.now();
        let scopes = emulator.with_world(|world| world.tokens.scopes_of(token, now))?;
        Ok(Token { scopes })
    }
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

/// `POST /oauth/token`: the client-credentials grant for the Management API.
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
    let client_id = fields.required("client_id")?;
    let secret = fields.get("client_secret").unwrap_or_default();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let now = emulator.now();
    let (token, scopes) = emulator.with_world(|world| {
        let granted = world.granted_scopes(client_id, secret).ok_or_else(|| {
            OAuthError::new(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized")
        })?;
        // Choice: the tenant has no default audience, so `audience` is required.
        let audience = fields.get("audience").ok_or_else(|| {
            OAuthError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                "No audience parameter was provided, and no default audience has been configured",
            )
        })?;
        let accepted = [Some(world.tenant.domain.as_str()), host]
            .into_iter()
            .flatten()
            .any(|domain| audience == format!("https://{domain}/api/v2/"));
        if !accepted || granted.is_empty() {
            return Err(not_authorized_for(audience));
        }
        let scopes = narrow(granted, fields.get("scope"));
        Ok((world.tokens.issue(scopes.clone(), now), scopes))
    })?;
    let body = json!({
        "access_token": token,
        "expires_in": TOKEN_LIFETIME_SECONDS,
        "scope": scopes.join(" "),
        "token_type": "Bearer",
    });
    Ok(json_response(StatusCode::OK, &body))
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
        let token = store.issue(vec!["read:users".into()], now);
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
