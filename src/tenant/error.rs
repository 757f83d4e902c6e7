//! Errors of the tenant client: each says which request failed, what Auth0 answered
//! (status, `message`, `errorCode`) and, where it helps, what to do.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ApiError {
    /// Auth0 answered with an error status.
    #[error("{endpoint} failed: HTTP {status}: {message}{}", code_suffix(.error_code.as_deref()))]
    Status {
        endpoint: String,
        status: u16,
        message: String,
        error_code: Option<String>,
    },
    /// The request did not get an answer (DNS, TLS, connection reset, timeout).
    #[error("{endpoint} failed: {detail}")]
    Transport { endpoint: String, detail: String },
    /// The answer could not be understood.
    #[error("{endpoint} returned an unexpected body: {detail}")]
    Decode { endpoint: String, detail: String },
    /// A connection has more users than user search can return.
    #[error(
        "connection `{connection}` has {total} users; verifyctl reads users through Auth0 user search, which returns at most {limit} results per query, so it cannot see them all (it refuses to work on a partial list)"
    )]
    TooManyUsers {
        connection: String,
        total: u64,
        limit: u64,
    },
    /// The tenant address or credentials are unusable.
    #[error("{0}")]
    Config(String),
}

fn code_suffix(code: Option<&str>) -> String {
    code.map(|c| format!(" ({c})")).unwrap_or_default()
}

impl ApiError {
    /// The HTTP status, when Auth0 answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Auth0's `errorCode` (or OAuth `error`), when present.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            ApiError::Status { error_code, .. } => error_code.as_deref(),
            _ => None,
        }
    }

    /// True when the request may have been applied although no success was seen: the answer
    /// was lost (transport error) or a gateway timed out (504).
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            ApiError::Transport { .. } | ApiError::Status { status: 504, .. }
        )
    }

    /// True for a 409 "The user already exists." on create.
    pub fn is_user_exists(&self) -> bool {
        matches!(self, ApiError::Status { status: 409, error_code, .. } if error_code.as_deref() != Some("custom_domain_conflict"))
    }

    /// A next step for the person reading the error, when one is known.
    pub fn hint(&self) -> Option<String> {
        match self {
            ApiError::Status { status: 401, .. } => Some(
                "check AUTH0_CLIENT_ID/AUTH0_CLIENT_SECRET (or AUTH0_API_TOKEN, which may have expired)".into(),
            ),
            ApiError::Status { status: 403, message, .. } if message.contains("scope") => Some(
                "grant the missing scopes to verifyctl's machine-to-machine application (Auth0 dashboard: Applications > APIs > Auth0 Management API > Machine to Machine Applications)".into(),
            ),
            ApiError::Status { status: 403, .. } => Some(
                "authorize verifyctl's application for the Auth0 Management API (a client grant)".into(),
            ),
            ApiError::TooManyUsers { .. } => Some(
                "split the connection or reconcile it with a tool that uses user export jobs; verifyctl never works on a silently truncated list".into(),
            ),
            ApiError::Transport { .. } => {
                Some("check AUTH0_DOMAIN and your network; the request may be retried".into())
            }
            _ => None,
        }
    }
}
