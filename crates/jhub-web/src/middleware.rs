//! Headers every hub response carries (jupyterhub-compat §1.2) and request
//! metrics with JupyterHub's handler labels.

use crate::app::App;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

/// The metrics label of the handler that answered (set by routes).
#[derive(Debug, Clone, Copy)]
pub struct HandlerLabel(pub &'static str);

/// `X-JupyterHub-Version` (single-user servers refuse hubs without a PEP 440
/// one), CSP, CORS header list; request duration metric.
pub async fn hub_headers(State(app): State<App>, request: Request, next: Next) -> Response {
    let began = Instant::now();
    let method = request.method().clone();
    let is_api = request.uri().path().starts_with(&app.settings.layout.api_prefix());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(version) = HeaderValue::from_str(&app.settings.jupyterhub_version) {
        headers.insert("x-jupyterhub-version", version);
    }
    let csp = if is_api {
        format!(
            "frame-ancestors 'none'; report-uri {}hub/security/csp-report; default-src 'none'",
            app.settings.layout.base_url()
        )
    } else {
        format!("frame-ancestors 'none'; report-uri {}hub/security/csp-report", app.settings.layout.base_url())
    };
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY)
        && let Ok(value) = HeaderValue::from_str(&csp)
    {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers
        .insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("accept, content-type, authorization"));
    let label =
        response.extensions().get::<HandlerLabel>().map(|l| l.0).unwrap_or("jupyterhub.handlers.base.Template404");
    app.hub.metrics().observe_request(method.as_str(), label, response.status().as_u16(), began.elapsed());
    response
}
