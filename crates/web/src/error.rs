//! Errors as users see them: a status and a sentence, never a path, a stack or a library's
//! internals (those go to the server log).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub enum AppError {
    NotFound(String),
    BadRequest(String),
    /// A request the HTTP layer refused (a body over the limit, a wrong content type).
    Rejected(StatusCode, String),
    /// The query ran past its time limit.
    TooSlow,
    Internal,
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Rejected(s, _) => *s,
            AppError::TooSlow => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn message(&self) -> String {
        match self {
            AppError::NotFound(m) | AppError::BadRequest(m) | AppError::Rejected(_, m) => m.clone(),
            AppError::TooSlow => "the query took too long; narrow it down".into(),
            AppError::Internal => "something went wrong on the server; it has been logged".into(),
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        for cause in e.chain() {
            if let Some(u) = cause.downcast_ref::<trove_service::UsageError>() {
                return AppError::BadRequest(u.0.clone());
            }
            if let Some(q) = cause.downcast_ref::<trove_index::QueryError>() {
                return AppError::BadRequest(q.to_string());
            }
            if let Some(trove_index::Error::Timeout(_)) = cause.downcast_ref::<trove_index::Error>()
            {
                return AppError::TooSlow;
            }
            if let Some(trove_store::Error::NotFound(m)) =
                cause.downcast_ref::<trove_store::Error>()
            {
                return AppError::NotFound(m.clone());
            }
        }
        tracing::error!("request failed: {e:#}");
        AppError::Internal
    }
}

/// An error of the JSON API: `{"error": {"status": 404, "message": "…"}}`.
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let body = json!({"error": {"status": status.as_u16(), "message": self.0.message()}});
        (status, Json(body)).into_response()
    }
}
