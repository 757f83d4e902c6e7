//! Errors of the tenant client: each says which request failed, what Auth0 answered
//! (status, `message`, `errorCode`) and, where it helps, what to do.

use thiserror::Error;

use super::auth::AuthMethod;

#[derive(Debug, Error)]
pub enum ApiError {
    /// Auth0 answered with an error status.
    #[error("{endpoint} failed: HTTP {status}: {message}{}", code_suffix(.error_code.as_deref()))]
    Status {
        endpoint: String,
        status: u16,
        message: String,
        error_code: Option<String>,
        /// How the client authenticated (for the hint after a 401).
        auth_method: Option<AuthMethod>,
    },
    /// The request did not get an answer (DNS, TLS, connection reset, timeout).
    #[error("{endpoint} failed: {detail}")]
    Transport { endpoint: String, detail: String },
    /// The answer could not be understood.
    #[error("{endpoint} returned an unexpected body: {detail}")]
    Decode { endpoint: String, detail: String },
    /// A users-export job ended `failed` or disappeared.
    #[error("reading connection `{connection}`: the users-export job {job_id} failed: {details}")]
    ExportFailed {
        connection: String,
        job_id: String,
        details: String,
    },
    /// A users-export job did not complete in time.
    #[error(
        "reading connection `{connection}`: the users-export job {job_id} was not done after {}s",
        waited.as_secs()
    )]
    ExportTimedOut {
        connection: String,
        job_id: String,
        waited: std::time::Duration,
    },
    /// The export file could not be downloaded or read.
    #[error(
        "reading connection `{connection}`: downloading its users-export file failed: {detail}"
    )]
    ExportDownload { connection: String, detail: String },
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

    /// Records how the client authenticated, for the hint of a 401.
    #[must_use]
    pub fn with_auth_method(mut self, method: AuthMethod) -> ApiError {
        if let ApiError::Status { auth_method, .. } = &mut self {
            *auth_method = Some(method);
        }
        self
    }

    /// A next step for the person reading the error, when one is known.
    pub fn hint(&self) -> Option<String> {
        match self {
            ApiError::Status { status: 401, message, .. } if message.starts_with("Bad audience") => Some(
                "the token is for another audience: the Management API accepts only https://TENANT.REGION.auth0.com/api/v2/ (the canonical domain); set AUTH0_AUDIENCE to it when AUTH0_DOMAIN is a custom domain".into(),
            ),
            ApiError::Status { status: 401, auth_method, .. } => Some(
                auth_method.map_or_else(
                    || "check the credentials (AUTH0_CLIENT_ID with AUTH0_CLIENT_SECRET or AUTH0_CLIENT_ASSERTION_PRIVATE_KEY, or AUTH0_API_TOKEN)".to_owned(),
                    AuthMethod::unauthorized_hint,
                ),
            ),
            ApiError::Status { status: 403, message, .. } if message.starts_with("Service not found") => Some(
                "no API has this audience: with a custom domain in AUTH0_DOMAIN, set AUTH0_AUDIENCE to https://TENANT.REGION.auth0.com/api/v2/ (the tenant's canonical domain)".into(),
            ),
            ApiError::Status { status: 403, message, .. } if message.contains("scope") => Some(
                "grant the missing scopes to verifyctl's machine-to-machine application (Auth0 dashboard: Applications > APIs > Auth0 Management API > Machine to Machine Applications)".into(),
            ),
            ApiError::Status { status: 403, .. } => Some(
                "authorize verifyctl's application for the Auth0 Management API (a client grant)".into(),
            ),
            ApiError::ExportFailed { .. } => Some(
                "plan again; if it keeps failing, see the job in the Auth0 dashboard (Monitoring > Logs) or contact Auth0 support".into(),
            ),
            ApiError::ExportTimedOut { .. } => Some(
                "Auth0 is slow to export this connection; plan again later (the job may still finish) or read fewer users with --user".into(),
            ),
            ApiError::ExportDownload { .. } => Some(
                "check that this machine can reach Auth0's storage over https (proxies, firewalls); plan again to get a new export".into(),
            ),
            ApiError::Transport { .. } => {
                Some("check AUTH0_DOMAIN and your network; the request may be retried".into())
            }
            _ => None,
        }
    }
}
