//! Errors as JupyterHub answers them: API errors are JSON
//! `{"status": N, "message": ...}` (message `null` when there is none),
//! with extra headers kept (e.g. `Retry-After` on 429). Hub errors map to
//! statuses here and nowhere else.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jhub_hub::HubError;

/// An error answered from an `/hub/api` route.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: Option<String>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: Some(message.into()), retry_after: None }
    }

    pub fn bare(status: StatusCode) -> Self {
        Self { status, message: None, retry_after: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// `Missing or invalid credentials.` (JupyterHub answers 403, never 401).
    pub fn missing_credentials() -> Self {
        Self::forbidden(jhub_core::rbac::MISSING_CREDENTIALS_MESSAGE)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl From<HubError> for ApiError {
    fn from(err: HubError) -> Self {
        match err {
            HubError::NotFound(m) => ApiError::not_found(m),
            HubError::Conflict(m) => ApiError::conflict(m),
            HubError::Invalid(m) => ApiError::bad_request(m),
            HubError::Denied(m) => ApiError::forbidden(m),
            HubError::Throttled { message, retry_after } => {
                ApiError { status: StatusCode::TOO_MANY_REQUESTS, message: Some(message), retry_after }
            }
            HubError::Store(err) => {
                tracing::error!(error = %err, "store failure");
                ApiError::internal("Internal Server Error")
            }
            HubError::Backend(m) => {
                tracing::error!(error = %m, "backend failure");
                ApiError::internal(m)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"status": self.status.as_u16(), "message": self.message});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
