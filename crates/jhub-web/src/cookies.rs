//! The hub's cookies (jupyterhub-compat §9.1) and XSRF tokens (§3.2).
//!
//! - `jupyterhub-hub-login`: signed (HMAC, the cookie secret) `cookie_id|issued`;
//!   accepted for `cookie_max_age` (14 days), path `{base}hub/`, HttpOnly.
//! - `jupyterhub-session-id`: unsigned random id naming the browser session,
//!   path `{base}`, HttpOnly; tokens issued to the browser carry it, and
//!   logout deletes them.
//! - `_xsrf`: `issued:hmac(secret, binding:issued)` where the binding is
//!   `session_id:cookie_id` once logged in and `:anon-id` before (anon-id =
//!   SHA-256 of client address and User-Agent). A request's token must equal
//!   the cookie and verify against the request's own binding.
//! - `oauthenticator-state`: the signed OAuth login state (jhub-auth payload).

use crate::app::App;
use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::time::Duration;
use subtle::ConstantTimeEq;

pub const LOGIN_COOKIE: &str = "jupyterhub-hub-login";
pub const SESSION_COOKIE: &str = "jupyterhub-session-id";
pub const XSRF_COOKIE: &str = "_xsrf";
pub const STATE_COOKIE: &str = jhub_auth::STATE_COOKIE_NAME;
/// Anonymous XSRF tokens expire after an hour (JupyterHub's Max-Age).
pub const ANON_XSRF_MAX_AGE: Duration = Duration::from_secs(3600);

fn base_cookie<'a>(app: &App, name: &'a str, value: String, path: String, http_only: bool) -> Cookie<'a> {
    let mut cookie = Cookie::new(name, value);
    cookie.set_path(path);
    cookie.set_http_only(http_only);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_secure(app.settings.secure_cookies);
    cookie
}

/// The signed login cookie for a user's `cookie_id`.
pub fn login_cookie(app: &App, cookie_id: &str, now_secs: i64) -> Cookie<'static> {
    let mut cookie =
        base_cookie(app, LOGIN_COOKIE, format!("{cookie_id}|{now_secs}"), app.settings.layout.hub_prefix(), true);
    cookie.set_max_age(cookie::time_duration(30 * 86_400));
    cookie
}

/// Reads a verified login cookie value: the `cookie_id` if it is young enough.
pub fn parse_login_value(app: &App, value: &str, now_secs: i64) -> Option<String> {
    let (cookie_id, issued) = value.rsplit_once('|')?;
    let issued: i64 = issued.parse().ok()?;
    let max_age = i64::try_from(app.settings.cookie_max_age.as_secs()).unwrap_or(i64::MAX);
    if now_secs.saturating_sub(issued) > max_age || cookie_id.is_empty() {
        return None;
    }
    Some(cookie_id.to_string())
}

pub fn session_cookie(app: &App, session_id: &str) -> Cookie<'static> {
    base_cookie(app, SESSION_COOKIE, session_id.to_string(), app.settings.layout.base_url().to_string(), true)
}

pub fn xsrf_cookie(app: &App, token: &str, anonymous: bool) -> Cookie<'static> {
    let mut cookie = base_cookie(app, XSRF_COOKIE, token.to_string(), app.settings.layout.hub_prefix(), false);
    if anonymous {
        cookie.set_max_age(cookie::time_duration(ANON_XSRF_MAX_AGE.as_secs() as i64));
    }
    cookie
}

/// The signed OAuth state cookie (`oauthenticator-state`, 1 day, HttpOnly).
pub fn state_cookie(app: &App, payload: String) -> Cookie<'static> {
    let mut cookie = base_cookie(app, STATE_COOKIE, payload, app.settings.layout.base_url().to_string(), true);
    cookie.set_max_age(cookie::time_duration(86_400));
    cookie
}

/// A cookie that deletes `name` at `path`.
pub fn removal(app: &App, name: &'static str, path: String) -> Cookie<'static> {
    let mut cookie = base_cookie(app, name, String::new(), path, true);
    cookie.make_removal();
    cookie
}

/// What an XSRF token is bound to.
pub fn xsrf_binding(session_id: Option<&str>, cookie_id: Option<&str>, anon_id: &str) -> String {
    match cookie_id {
        Some(cookie_id) => format!("{}:{cookie_id}", session_id.unwrap_or("")),
        None => format!(":{anon_id}"),
    }
}

/// JupyterHub's anonymous id: a hash of the client address and User-Agent.
pub fn anonymous_id(headers: &HeaderMap, peer_ip: Option<&str>) -> String {
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .or_else(|| headers.get("x-real-ip").and_then(|v| v.to_str().ok()));
    let ip = forwarded.or(peer_ip).unwrap_or("");
    let agent = headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("");
    let digest = Sha256::digest(format!("{ip}{agent}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// HMAC-SHA256; HMAC accepts keys of any length, so this never yields `None`
/// in practice (and a `None` signature never verifies).
fn mac(secret: &[u8], message: &str) -> Option<Vec<u8>> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).ok()?;
    mac.update(message.as_bytes());
    Some(mac.finalize().into_bytes().to_vec())
}

/// A fresh XSRF token for `binding`.
pub fn make_xsrf(secret: &[u8], binding: &str, now_secs: i64) -> String {
    let signature = mac(secret, &format!("{binding}:{now_secs}")).map(hex::encode).unwrap_or_default();
    format!("{now_secs}:{signature}")
}

/// Whether `token` was made for `binding` (and, for anonymous bindings, is
/// not older than an hour).
pub fn verify_xsrf(secret: &[u8], token: &str, binding: &str, now_secs: i64) -> bool {
    let Some((issued, signature)) = token.split_once(':') else { return false };
    let Ok(issued_secs) = issued.parse::<i64>() else { return false };
    if binding.starts_with(':') && now_secs.saturating_sub(issued_secs) > ANON_XSRF_MAX_AGE.as_secs() as i64 {
        return false;
    }
    let Some(expected) = mac(secret, &format!("{binding}:{issued}")).map(hex::encode) else { return false };
    !signature.is_empty() && bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
}

mod cookie {
    pub fn time_duration(secs: i64) -> ::cookie::time::Duration {
        ::cookie::time::Duration::seconds(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xsrf_tokens_are_bound_to_their_session() {
        let secret = b"s3cret";
        let token = make_xsrf(secret, "sess:cookie", 1000);
        assert!(verify_xsrf(secret, &token, "sess:cookie", 1000));
        assert!(!verify_xsrf(secret, &token, "other:cookie", 1000));
        assert!(!verify_xsrf(b"other", &token, "sess:cookie", 1000));
        assert!(!verify_xsrf(secret, "garbage", "sess:cookie", 1000));
        // Logged-in tokens live with the session; anonymous ones for an hour.
        assert!(verify_xsrf(secret, &token, "sess:cookie", 1000 + 86_400 * 30));
        let anon = make_xsrf(secret, ":abc", 1000);
        assert!(verify_xsrf(secret, &anon, ":abc", 1000 + 3600));
        assert!(!verify_xsrf(secret, &anon, ":abc", 1000 + 3601));
    }

    #[test]
    fn anonymous_id_uses_forwarded_address_and_agent() {
        let mut headers = HeaderMap::new();
        headers.insert("user-agent", "ua".parse().unwrap());
        let direct = anonymous_id(&headers, Some("10.0.0.1"));
        headers.insert("x-forwarded-for", "192.0.2.7, 10.0.0.1".parse().unwrap());
        let forwarded = anonymous_id(&headers, Some("10.0.0.1"));
        assert_ne!(direct, forwarded);
        assert_eq!(forwarded, anonymous_id(&headers, None));
    }
}
