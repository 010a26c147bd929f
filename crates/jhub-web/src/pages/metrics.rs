//! `/hub/metrics` — the path the chart's `prometheus.io/path` annotation
//! names — and `/hub/security/csp-report`, which browsers post CSP
//! violations to (counted in `jupyterhub_csp_reports_total`).

use crate::app::App;
use crate::auth::Caller;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jhub_core::rbac::Scope;
use jhub_hub::Identity;

/// JupyterHub's content type for the text format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=1.0.0; charset=utf-8";

/// Whether `identity` may read metrics (always, with `authenticate_prometheus` off).
pub fn may_read_metrics(app: &App, identity: Option<&Identity>) -> bool {
    if !app.settings.authenticate_prometheus {
        return true;
    }
    let Some(identity) = identity else { return false };
    let state = app.hub.read();
    identity.scopes.allows(Scope::ReadMetrics, jhub_core::rbac::Resource::None, &*state)
}

/// The metrics text response.
pub fn metrics_response(app: &App) -> Response {
    let mut text = app.hub.metrics_text();
    capacity_metrics(app, &mut text);
    (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE))], text).into_response()
}

fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n").replace('"', "\\\"")
}

/// `jhub_capacity_free_servers{profile,option,choice}`: live GPU capacity of
/// the options open to every user (no group), when the hub knows it; the
/// family is absent otherwise (no permission to watch nodes).
fn capacity_metrics(app: &App, out: &mut String) {
    use std::fmt::Write as _;
    let Some(report) = app.capacity_for(&[]) else { return };
    out.push_str("# HELP jhub_capacity_free_servers Servers of a GPU profile option that fit on the cluster now\n");
    out.push_str("# TYPE jhub_capacity_free_servers gauge\n");
    for o in &report.options {
        let _ = writeln!(
            out,
            "jhub_capacity_free_servers{{choice=\"{}\",option=\"{}\",profile=\"{}\"}} {}",
            escape_label(o.choice.as_deref().unwrap_or("")),
            escape_label(o.option.as_deref().unwrap_or("")),
            escape_label(&o.profile),
            o.free
        );
    }
}

/// `GET /hub/metrics`: token or cookie with `read:metrics`; otherwise the
/// HTML 403 page, as JupyterHub's `MetricsHandler`.
pub async fn metrics_page(State(app): State<App>, caller: Result<Caller, crate::error::ApiError>) -> Response {
    let identity = caller.ok().and_then(|c| c.identity);
    if !may_read_metrics(&app, identity.as_ref()) {
        return super::error_page(&app, StatusCode::FORBIDDEN, None);
    }
    metrics_response(&app)
}

/// `POST /hub/security/csp-report`: logged-in browsers only (as upstream's
/// `@web.authenticated`); the report is logged (truncated) and counted.
pub async fn csp_report(State(app): State<App>, parts: Parts, body: Bytes) -> Response {
    let Some(login) = crate::auth::browser_login(&app, &parts) else {
        return super::error_page(&app, StatusCode::FORBIDDEN, None);
    };
    let text = String::from_utf8_lossy(&body[..body.len().min(2048)]).into_owned();
    tracing::warn!(user = %login.identity.principal.name(), report = %text, "content security policy violation");
    app.hub.metrics().csp_report();
    StatusCode::OK.into_response()
}
