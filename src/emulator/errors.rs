//! Error responses in Auth0's two shapes, and the JSON response helper every handler uses.
//!
//! Management API (reference §0.1): `{"statusCode","error","message","errorCode"?}`, where
//! `error` is the HTTP reason phrase, `errorCode` is sometimes absent, and 401 bodies add
//! `"attributes":{"error":<message>}`. Authentication API (reference §1):
//! `{"error","error_description"}`. Both are `application/json; charset=utf-8`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

/// The content type of every JSON response (as recorded from real tenants).
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Serializes `body` as a JSON response with Auth0's content type.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "null".to_owned());
    let mut response = (status, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    response
}

/// A Management API error.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub error_code: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            error_code: None,
        }
    }

    pub fn code(mut self, error_code: &'static str) -> ApiError {
        self.error_code = Some(error_code);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// A 400 about the request body (`errorCode: invalid_body`).
    pub fn invalid_body(message: impl Into<String>) -> ApiError {
        ApiError::bad_request(message).code("invalid_body")
    }

    /// A 400 about the query string (`errorCode: invalid_query_string`).
    pub fn invalid_query(message: impl Into<String>) -> ApiError {
        ApiError::bad_request(message).code("invalid_query_string")
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403 for a token without any of `scopes`. The reference quotes a live capture
    /// with a comma after "scope" and the scopes joined by commas.
    pub fn insufficient_scope(scopes: &[&str]) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!("Insufficient scope, expected any of: {}", scopes.join(",")),
        )
        .code("insufficient_scope")
    }

    pub fn user_not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "The user does not exist.").code("inexistent_user")
    }

    pub fn connection_not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "The connection does not exist")
            .code("inexistent_connection")
    }

    pub fn client_not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "The client does not exist").code("inexistent_client")
    }

    /// The global rate-limit body (reference §0.1).
    pub fn too_many_requests() -> ApiError {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Global limit has been reached",
        )
        .code("too_many_requests")
    }

    /// The body for unknown routes and methods.
    pub fn route_not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "Not Found")
    }

    pub fn body(&self) -> Value {
        let mut body = json!({
            "statusCode": self.status.as_u16(),
            "error": self.status.canonical_reason().unwrap_or("Error"),
            "message": self.message,
        });
        if let Some(code) = self.error_code {
            body["errorCode"] = json!(code);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            body["attributes"] = json!({ "error": self.message });
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &self.body())
    }
}

/// An Authentication API (`/oauth/token`, `/dbconnections/*`) error.
#[derive(Clone, Debug, PartialEq)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        json_response(self.status, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_bodies_repeat_the_message_in_attributes() {
        let body = ApiError::unauthorized("Invalid token.").body();
        assert_eq!(
            body,
            json!({"statusCode":401,"error":"Unauthorized","message":"Invalid token.",
                   "attributes":{"error":"Invalid token."}})
        );
    }

    #[test]
    fn error_code_is_omitted_when_unknown() {
        let body = ApiError::new(StatusCode::NOT_FOUND, "Job not found.").body();
        assert_eq!(
            body,
            json!({"statusCode":404,"error":"Not Found","message":"Job not found."})
        );
    }
}
