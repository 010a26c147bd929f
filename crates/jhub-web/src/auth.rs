//! Who is calling, as JupyterHub decides it (jupyterhub-compat §3.1–§3.2):
//! an `Authorization: token|bearer <t>` header first, then the signed login
//! cookie; never a `?token=` parameter. Cookie-authenticated requests are
//! subject to the XSRF rules; token-authenticated ones never are.

use crate::app::App;
use crate::cookies::{self, LOGIN_COOKIE, SESSION_COOKIE, XSRF_COOKIE};
use crate::error::ApiError;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum_extra::extract::cookie::{CookieJar, SignedCookieJar};
use jhub_hub::Identity;
use std::net::SocketAddr;

/// The token in an `Authorization` header: scheme `token` or `bearer`
/// (any case), whitespace, one token, nothing else.
pub fn header_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(char::is_whitespace)?;
    if !(scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer")) {
        return None;
    }
    let token = rest.trim();
    if token.is_empty() || token.contains(char::is_whitespace) { None } else { Some(token) }
}

/// How a request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Token,
    Cookie,
}

/// The cookie-based identity of a browser (pages use this directly).
#[derive(Debug, Clone)]
pub struct BrowserLogin {
    pub identity: Identity,
    pub cookie_id: String,
    pub session_id: Option<String>,
}

/// Reads the login cookie (and session cookie) of a request.
pub fn browser_login(app: &App, parts: &Parts) -> Option<BrowserLogin> {
    let signed = SignedCookieJar::from_headers(&parts.headers, app.cookie_key.clone());
    let now = app.hub.now().as_second();
    let plain = CookieJar::from_headers(&parts.headers);
    let cookie_id = match signed.get(LOGIN_COOKIE) {
        Some(value) => cookies::parse_login_value(app, value.value(), now)?,
        // A browser logged in to JupyterHub before the switch keeps its session.
        None => {
            let raw = plain.get(LOGIN_COOKIE)?.value().to_string();
            let max_age = i64::try_from(app.settings.cookie_max_age.as_secs()).unwrap_or(i64::MAX);
            crate::jupyterhub_cookie::verify(&app.jupyterhub_cookie_secret, LOGIN_COOKIE, &raw, now, max_age)?
        }
    };
    let session_id = plain.get(SESSION_COOKIE).map(|c| c.value().to_string()).filter(|v| !v.is_empty());
    let identity = app.hub.authenticate_cookie(&cookie_id, session_id.as_deref())?;
    Some(BrowserLogin { identity, cookie_id, session_id })
}

/// The client address as the hub sees it (for anonymous XSRF ids).
pub fn peer_ip(parts: &Parts) -> Option<String> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ci| ci.0.ip().to_string())
}

/// The XSRF binding of a request (logged-in or anonymous).
pub fn xsrf_binding(parts: &Parts, login: Option<&BrowserLogin>) -> String {
    let anon = cookies::anonymous_id(&parts.headers, peer_ip(parts).as_deref());
    match login {
        Some(login) => cookies::xsrf_binding(login.session_id.as_deref(), Some(&login.cookie_id), &anon),
        None => cookies::xsrf_binding(None, None, &anon),
    }
}

/// A token for this browser to send back: the current `_xsrf` cookie when it
/// still verifies, else a fresh one (the caller sets the cookie).
pub fn xsrf_token_for(app: &App, parts: &Parts, login: Option<&BrowserLogin>) -> (String, bool) {
    let binding = xsrf_binding(parts, login);
    let now = app.hub.now().as_second();
    let jar = CookieJar::from_headers(&parts.headers);
    if let Some(existing) = jar.get(XSRF_COOKIE)
        && cookies::verify_xsrf(&app.xsrf_secret, existing.value(), &binding, now)
    {
        return (existing.value().to_string(), false);
    }
    (cookies::make_xsrf(&app.xsrf_secret, &binding, now), true)
}

fn sec_fetch<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// JupyterHub ≥ 4.1: when a cookie-authenticated request needs an XSRF check.
/// `api` handlers check GET as well when the browser says it is a script
/// request (`Sec-Fetch-Mode: cors|same-origin`); pages check only non-GET.
pub fn xsrf_required(method: &Method, headers: &HeaderMap, api: bool) -> bool {
    let mode = sec_fetch(headers, "sec-fetch-mode");
    if mode == Some("websocket") {
        return false;
    }
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        return true;
    }
    if !api {
        return false;
    }
    match mode {
        None | Some("navigate") => false,
        Some("no-cors") => sec_fetch(headers, "sec-fetch-site") != Some("same-origin"),
        Some(_) => true,
    }
}

/// The token a request presents: `_xsrf` query argument, `X-XSRFToken` or
/// `X-CSRFToken` header (form bodies are checked by the page handlers).
pub fn presented_xsrf(parts: &Parts) -> Option<String> {
    if let Some(query) = parts.uri.query() {
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if key == "_xsrf" {
                return Some(value.into_owned());
            }
        }
    }
    ["x-xsrftoken", "x-csrftoken"]
        .iter()
        .find_map(|name| parts.headers.get(*name).and_then(|v| v.to_str().ok()).map(str::to_string))
}

/// Checks `presented` against the `_xsrf` cookie and the request's binding.
pub fn check_xsrf(
    app: &App,
    parts: &Parts,
    login: Option<&BrowserLogin>,
    presented: Option<&str>,
) -> Result<(), ApiError> {
    let method = parts.method.as_str();
    let Some(presented) = presented.filter(|t| !t.is_empty()) else {
        return Err(ApiError::forbidden(format!("'_xsrf' argument missing from {method}")));
    };
    let jar = CookieJar::from_headers(&parts.headers);
    let cookie = jar.get(XSRF_COOKIE).map(|c| c.value().to_string());
    let binding = xsrf_binding(parts, login);
    let now = app.hub.now().as_second();
    let matches =
        cookie.as_deref() == Some(presented) && cookies::verify_xsrf(&app.xsrf_secret, presented, &binding, now);
    if matches { Ok(()) } else { Err(ApiError::forbidden(format!("XSRF cookie does not match {method} argument"))) }
}

/// The caller of an API request; `None` inside means unauthenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    pub identity: Option<Identity>,
    pub via: Option<Via>,
}

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        if let Some(cached) = parts.extensions.get::<Caller>() {
            return Ok(cached.clone());
        }
        let caller = resolve_api_caller(app, parts).await?;
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

async fn resolve_api_caller(app: &App, parts: &Parts) -> Result<Caller, ApiError> {
    if let Some(token) = header_token(&parts.headers)
        && let Some(identity) = app.hub.authenticate_token(token).await
    {
        // Tokens outlive browser sessions (personal ones never expire by
        // default): their requests re-check the user's access too, when due.
        if let jhub_hub::Principal::User { name, .. } = &identity.principal
            && crate::pages::session::token_refresh_if_due(app, name).await
        {
            return Ok(Caller { identity: None, via: None });
        }
        return Ok(Caller { identity: Some(identity), via: Some(Via::Token) });
    }
    let Some(login) = browser_login(app, parts) else {
        return Ok(Caller { identity: None, via: None });
    };
    // A cookie-authenticated POST with a non-JSON body is how a cross-site
    // form would look: treat it as anonymous (JupyterHub does the same).
    if parts.method == Method::POST
        && let Some(content_type) = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
        && !content_type.trim_start().to_ascii_lowercase().starts_with("application/json")
    {
        return Ok(Caller { identity: None, via: None });
    }
    if xsrf_required(&parts.method, &parts.headers, true) {
        check_xsrf(app, parts, Some(&login), presented_xsrf(parts).as_deref())?;
    }
    // Like JupyterHub, API requests keep a stale login when the provider
    // only wants a new one; access revoked outright (removed from the
    // allowed group) ends it here too.
    if let jhub_hub::Principal::User { name, .. } = &login.identity.principal
        && let crate::pages::session::RefreshVerdict::Logout { revoked: true, .. } =
            crate::pages::session::refresh_if_due(app, name).await
    {
        return Ok(Caller { identity: None, via: None });
    }
    Ok(Caller { identity: Some(login.identity), via: Some(Via::Cookie) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_header_forms() {
        let mut headers = HeaderMap::new();
        for (value, expect) in [
            ("token abc", Some("abc")),
            ("Token abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER  abc ", Some("abc")),
            ("Basic abc", None),
            ("token", None),
            ("token a b", None),
        ] {
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            assert_eq!(header_token(&headers), expect, "{value:?}");
        }
    }

    #[test]
    fn xsrf_rules_follow_fetch_metadata() {
        let mut headers = HeaderMap::new();
        assert!(!xsrf_required(&Method::GET, &headers, true), "plain curl GET");
        assert!(xsrf_required(&Method::POST, &headers, true));
        assert!(xsrf_required(&Method::POST, &headers, false), "page POST");
        headers.insert("sec-fetch-mode", "cors".parse().unwrap());
        assert!(xsrf_required(&Method::GET, &headers, true), "fetch() GET on the API");
        assert!(!xsrf_required(&Method::GET, &headers, false), "pages never check GET");
        headers.insert("sec-fetch-mode", "navigate".parse().unwrap());
        assert!(!xsrf_required(&Method::GET, &headers, true));
        headers.insert("sec-fetch-mode", "websocket".parse().unwrap());
        assert!(!xsrf_required(&Method::POST, &headers, true));
        headers.insert("sec-fetch-mode", "no-cors".parse().unwrap());
        headers.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(!xsrf_required(&Method::GET, &headers, true));
        headers.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(xsrf_required(&Method::GET, &headers, true));
    }
}
