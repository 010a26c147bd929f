//! Headers every hub response carries (jupyterhub-compat §1.2), `Secure`
//! cookies for requests that came over https, and request metrics with
//! JupyterHub's handler labels.

use crate::app::App;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
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
    let over_https = came_over_https(request.headers());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if over_https {
        mark_cookies_secure(headers);
    }
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

/// Whether the browser's request came over https: the proxy in front (CHP,
/// an ingress) says so in the first `X-Forwarded-Proto` hop, as tornado's
/// `xheaders` read it for JupyterHub. A client forging the header only makes
/// its own cookies `Secure`.
pub fn came_over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// Adds `Secure` to every `Set-Cookie` that lacks it, so cookies set over
/// TLS never travel in clear even when `public_url` is unset (z2jh installs
/// behind a TLS-terminating proxy often leave it so).
fn mark_cookies_secure(headers: &mut HeaderMap) {
    let lines: Vec<HeaderValue> = headers.get_all(header::SET_COOKIE).iter().cloned().collect();
    if lines.is_empty() {
        return;
    }
    headers.remove(header::SET_COOKIE);
    for line in lines {
        let secured = match line.to_str() {
            Ok(text) if !text.split(';').skip(1).any(|a| a.trim().eq_ignore_ascii_case("secure")) => {
                HeaderValue::from_str(&format!("{text}; Secure")).unwrap_or(line)
            }
            _ => line,
        };
        headers.append(header::SET_COOKIE, secured);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_is_added_once() {
        let mut headers = HeaderMap::new();
        headers.append(header::SET_COOKIE, HeaderValue::from_static("a=1; Path=/; HttpOnly"));
        headers.append(header::SET_COOKIE, HeaderValue::from_static("b=2; Secure; Path=/"));
        mark_cookies_secure(&mut headers);
        let lines: Vec<&str> = headers.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(lines, ["a=1; Path=/; HttpOnly; Secure", "b=2; Secure; Path=/"]);
    }

    #[test]
    fn only_https_as_first_hop_counts() {
        let mut headers = HeaderMap::new();
        assert!(!came_over_https(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("HTTPS, http"));
        assert!(came_over_https(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http, https"));
        assert!(!came_over_https(&headers));
    }
}
