//! Hub pages: health, redirects outside `/hub/`, error pages (login, home,
//! spawn, token and OAuth pages live in submodules).

use crate::app::App;
use crate::middleware::HandlerLabel;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use std::collections::HashMap;

/// Renders the error page (`error.html`) with a status.
pub fn error_page(app: &App, status: StatusCode, message: Option<String>) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error").to_string();
    let context = minijinja::context! {
        status_code => status.as_u16(),
        status_message => message.clone().unwrap_or_else(|| reason.clone()),
        message => message,
        base_url => app.settings.layout.base_url(),
        static_url => format!("{}hub/static/", app.settings.layout.base_url()),
    };
    match app.templates.render("error.html", context) {
        Ok(body) => (status, Html(body)).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "error page failed to render");
            (status, reason).into_response()
        }
    }
}

async fn health() -> impl IntoResponse {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "")
}

/// CHP's `--error-target`: `GET /hub/error/<code>?url=...`.
async fn proxy_error(
    State(app): State<App>,
    Path(code): Path<u16>,
    Query(_q): Query<HashMap<String, String>>,
) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let message = if code == 503 {
        Some("Your server appears to be down. Try restarting it from the hub".to_string())
    } else {
        None
    };
    let mut response = error_page(&app, status, message);
    response.extensions_mut().insert(HandlerLabel("jupyterhub.handlers.pages.ProxyErrorHandler"));
    response
}

/// Page routes below `{base}hub/`.
pub fn router() -> Router<App> {
    Router::new().route("/health", get(health).head(health)).route("/error/{code}", get(proxy_error))
}

/// Anything outside `{base}hub/`: JupyterHub's `PrefixRedirectHandler`
/// (302 to `/hub` + the same path) and `AddSlashHandler` for
/// `{base}user/<name>`.
pub async fn outside_hub(State(app): State<App>, uri: Uri) -> Response {
    let base = app.settings.layout.base_url();
    let path = uri.path();
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let Some(rest) = path.strip_prefix(base) else {
        return error_page(&app, StatusCode::NOT_FOUND, None);
    };
    let segments: Vec<&str> = rest.split('/').collect();
    if segments.len() == 2 && (segments[0] == "user" || segments[0] == "services") && !segments[1].is_empty() {
        return Redirect::permanent(&format!("{path}/{query}")).into_response();
    }
    if rest == "hub" {
        return Redirect::permanent(&format!("{base}hub/{query}")).into_response();
    }
    found(&format!("{base}hub/{rest}{query}"))
}

/// `302 Found` (axum's `Redirect::to` is 303; JupyterHub answers 302).
pub fn found(location: &str) -> Response {
    match header::HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}
