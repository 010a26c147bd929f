//! Login and logout (jupyterhub-compat §9.3; auth-culler-proxy §1.2–§1.4,
//! §1.13): `/hub/login` (form or "Sign in with …" button), `/hub/oauth_login`
//! (signed `oauthenticator-state` cookie, 302 to the provider),
//! `/hub/oauth_callback` (oauthenticator's checks and messages, then the
//! hub's login cookies), `/hub/logout`.

use super::form;
use super::session::{Browser, clear_cookies, end_browser, store_auth_state, sync_managed_groups, with_cookies};
use super::{
    PageUser, base_context, default_next, error_page, found, hub_prefix, own_origin, query_param, render, safe_next,
    url_concat,
};
use crate::app::App;
use crate::auth::{BrowserLogin, check_xsrf, presented_xsrf};
use crate::cookies::{self, STATE_COOKIE};
use crate::throttle;
use crate::throttle::loggable;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::SignedCookieJar;
use jhub_auth::{AuthError, AuthOutcome, CallbackParams, ErrorClass, LoginKind, StatePayload};
use jhub_hub::StopReason;
use minijinja::Value;
use secrecy::SecretString;

/// The HTTP status of a failed login (only this crate maps classes to codes).
pub(crate) fn auth_status(err: &AuthError) -> StatusCode {
    match err.class() {
        ErrorClass::BadRequest => StatusCode::BAD_REQUEST,
        ErrorClass::Forbidden => StatusCode::FORBIDDEN,
        // JupyterHub answers 500; the provider failed, which 502 says better.
        ErrorClass::Upstream => StatusCode::BAD_GATEWAY,
        ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The OAuth callback URL: derived from the public origin or the request
/// (a configured `oauth_callback_url` wins inside the authenticator).
fn callback_url(app: &App, headers: &HeaderMap) -> Option<String> {
    let origin = own_origin(app, headers)?;
    Some(format!("{}://{}{}oauth_callback", origin.scheme, origin.host, hub_prefix(app)))
}

fn oauth_login_url(app: &App, next: Option<&str>) -> String {
    url_concat(&format!("{}oauth_login", hub_prefix(app)), &[("next", next.unwrap_or(""))])
}

fn render_login(
    app: &App,
    browser: Browser,
    status: StatusCode,
    next: Option<&str>,
    username: &str,
    error: Option<String>,
) -> Response {
    let hub = hub_prefix(app);
    let mut ctx = base_context(app, None, Some(&browser.xsrf));
    let kind = match app.auth.login_kind() {
        LoginKind::Form => "form",
        LoginKind::OAuth => "oauth",
    };
    ctx.insert("login_kind".into(), Value::from(kind));
    ctx.insert("authenticator_login_url".into(), Value::from(oauth_login_url(app, next)));
    ctx.insert("login_action".into(), Value::from(url_concat(&format!("{hub}login"), &[("next", next.unwrap_or(""))])));
    ctx.insert("next".into(), Value::from(next.unwrap_or("")));
    ctx.insert("username".into(), Value::from(username));
    ctx.insert("login_error".into(), Value::from(error));
    ctx.insert("page".into(), Value::from("login"));
    let response = render(app, status, "login.html", ctx);
    browser.respond(response)
}

/// `GET /hub/login`: logged in → refresh the login cookie and go to
/// `next`; `auto_login` → straight to the provider; else the login page.
pub async fn login_get(State(app): State<App>, browser: Browser, parts: Parts) -> Response {
    let next = safe_next(&app, &parts.headers, query_param(&parts.uri, "next").as_deref());
    if let Some(login) = &browser.login {
        let name = login.identity.principal.name().to_string();
        let target = next.unwrap_or_else(|| default_next(&app, &name, &parts.uri));
        let jar = SignedCookieJar::new(app.cookie_key.clone()).add(cookies::login_cookie(
            &app,
            &login.cookie_id,
            app.hub.now().as_second(),
        ));
        return browser.respond((jar, found(&target)).into_response());
    }
    if app.settings.auto_login && app.auth.login_kind() == LoginKind::OAuth {
        return browser.respond(found(&oauth_login_url(&app, next.as_deref())));
    }
    render_login(&app, browser, StatusCode::OK, next.as_deref(), "", None)
}

/// `POST /hub/login`: XSRF-checked form login.
pub async fn login_post(State(app): State<App>, browser: Browser, parts: Parts, body: Bytes) -> Response {
    let next = safe_next(&app, &parts.headers, query_param(&parts.uri, "next").as_deref());
    let fields = match form::parse(&parts.headers, &body) {
        Ok(fields) => fields,
        Err(err) => return error_page(&app, StatusCode::BAD_REQUEST, Some(err.to_string())),
    };
    let username = fields.get("username").unwrap_or("").trim().to_string();
    let presented = fields.get("_xsrf").map(str::to_string).or_else(|| presented_xsrf(&parts));
    if check_xsrf(&app, &parts, browser.login.as_ref(), presented.as_deref()).is_err() {
        let message = "Login form invalid or expired. Try again.".to_string();
        return render_login(&app, browser, StatusCode::FORBIDDEN, next.as_deref(), &username, Some(message));
    }
    if app.auth.login_kind() != LoginKind::Form {
        return error_page(
            &app,
            StatusCode::METHOD_NOT_ALLOWED,
            Some(format!("Sign in with {} instead.", app.auth.login_service())),
        );
    }
    let password = SecretString::from(fields.get("password").unwrap_or("").to_string());
    let (user_key, client) = (throttle::user_key(&username), throttle::client_key(&parts));
    let now = app.hub.now().as_second();
    let slot = match app.throttle.admit(&user_key, &client, now).await {
        Ok(slot) => slot,
        Err(refusal) => {
            tracing::info!(username = %loggable(&username), client = %loggable(&client), ?refusal, "form login throttled");
            let status = StatusCode::TOO_MANY_REQUESTS;
            let mut response = render_login(&app, browser, status, next.as_deref(), &username, Some(refusal.message()));
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, refusal.retry_after().into());
            return response;
        }
    };
    let began = std::time::Instant::now();
    let checked = app.auth.authenticate_form(&username, &password).await;
    app.hub.metrics().observe_login(checked.is_ok(), began.elapsed());
    drop(slot);
    match &checked {
        Ok(_) => app.throttle.succeeded(&user_key),
        Err(AuthError::InvalidCredentials) => app.throttle.failed(&user_key, &client, app.hub.now().as_second()),
        Err(_) => {}
    }
    match checked {
        Ok(outcome) => {
            let previous = browser.login.clone();
            match finish_login(&app, &parts, previous.as_ref(), outcome, next).await {
                Ok(response) => response,
                Err(response) => response,
            }
        }
        Err(err) => {
            tracing::info!(username = %loggable(&username), error = %err, "form login refused");
            let status = auth_status(&err);
            if status == StatusCode::FORBIDDEN {
                render_login(&app, browser, status, next.as_deref(), &username, Some(err.public_message()))
            } else {
                error_page(&app, status, Some(err.public_message()))
            }
        }
    }
}

/// After a successful authentication: the user (created on first login),
/// admin flag, auth_state, user_info, a new browser session, the login,
/// session and `_xsrf` cookies, and a 302 to `next`.
pub(crate) async fn finish_login(
    app: &App,
    parts: &Parts,
    previous: Option<&BrowserLogin>,
    outcome: AuthOutcome,
    next: Option<String>,
) -> Result<Response, Response> {
    let internal = |what: &str, err: String| {
        tracing::error!(user = %outcome.name, error = %err, "login failed at {what}");
        error_page(app, StatusCode::INTERNAL_SERVER_ERROR, Some("Login failed. Please try again.".to_string()))
    };
    let name = outcome.name.clone();
    let user = app.hub.ensure_user(&name).await.map_err(|e| internal("creating the user", e.to_string()))?;
    if let Some(admin) = outcome.admin
        && admin != user.admin
    {
        app.hub.set_admin(&name, admin).await.map_err(|e| internal("setting admin", e.to_string()))?;
    }
    if let Some(state) = outcome.auth_state.clone() {
        sync_managed_groups(app, &name, &state).await.map_err(|e| internal("syncing the user's groups", e))?;
        store_auth_state(app, &name, state).await.map_err(|e| internal("storing auth_state", e))?;
    }
    if let Some(info) = outcome.user_info.clone()
        && user.user_info.as_ref() != Some(&info)
    {
        app.hub.set_user_info(&name, Some(info)).await.map_err(|e| internal("storing user_info", e.to_string()))?;
    }
    // A login always starts a fresh session (no fixation); the browser's
    // previous one ends, with any tokens issued to it.
    if let Some(old) = previous.and_then(|p| p.session_id.as_deref()) {
        let old_user = previous.map(|p| p.identity.principal.name().to_string()).unwrap_or_default();
        end_browser(app, &old_user, Some(old), false).await;
    }
    let session = app.hub.create_session(&name).await.map_err(|e| internal("creating the session", e.to_string()))?;
    let cookie_id = app
        .hub
        .read()
        .user(&name)
        .map(|e| e.user.cookie_id.clone())
        .ok_or_else(|| internal("reading the user", "user vanished".to_string()))?;
    let now = app.hub.now();
    app.pages.mark_refreshed(&name, now);
    let binding = cookies::xsrf_binding(Some(&session), Some(&cookie_id), "");
    let xsrf = cookies::make_xsrf(&app.xsrf_secret, &binding, now.as_second());
    let signed =
        SignedCookieJar::new(app.cookie_key.clone()).add(cookies::login_cookie(app, &cookie_id, now.as_second()));
    let target = next.unwrap_or_else(|| default_next(app, &name, &parts.uri));
    tracing::info!(user = %name, "user logged in");
    let response = (signed, found(&target)).into_response();
    Ok(with_cookies(response, vec![cookies::session_cookie(app, &session), cookies::xsrf_cookie(app, &xsrf, false)]))
}

/// `GET /hub/oauth_login`: state cookie, then 302 to the provider.
pub async fn oauth_login(State(app): State<App>, parts: Parts) -> Response {
    let next = safe_next(&app, &parts.headers, query_param(&parts.uri, "next").as_deref());
    let callback = callback_url(&app, &parts.headers);
    match app.auth.begin_login(next.as_deref(), callback.as_deref()) {
        Ok(start) => {
            let jar = SignedCookieJar::new(app.cookie_key.clone())
                .add(cookies::state_cookie(&app, start.state_payload.encode()));
            (jar, found(&start.redirect_url)).into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot start the OAuth login");
            error_page(&app, auth_status(&err), Some(err.public_message()))
        }
    }
}

/// `GET /hub/oauth_callback`: oauthenticator's checks (in its order, with
/// its messages: `error` param, missing code, state cookie and state
/// parameter), the provider exchange and allow rules (403 with
/// `custom_403_message`), then the hub login.
pub async fn oauth_callback(State(app): State<App>, parts: Parts) -> Response {
    let pairs: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default();
    let params = CallbackParams::from_pairs(pairs);
    let signed = SignedCookieJar::from_headers(&parts.headers, app.cookie_key.clone());
    let state = signed.get(STATE_COOKIE).and_then(|c| StatePayload::decode(c.value()));
    let callback = callback_url(&app, &parts.headers);
    let clear_state = cookies::removal(&app, STATE_COOKIE, app.settings.layout.base_url().to_string());
    match app.auth.complete_login(&params, state.as_ref(), callback.as_deref()).await {
        Ok(outcome) => {
            let next = safe_next(&app, &parts.headers, state.as_ref().and_then(|s| s.next_url.as_deref()));
            let previous = crate::auth::browser_login(&app, &parts);
            let response = match finish_login(&app, &parts, previous.as_ref(), outcome, next).await {
                Ok(response) | Err(response) => response,
            };
            with_cookies(response, vec![clear_state])
        }
        Err(err) => {
            let status = auth_status(&err);
            if status.is_server_error() {
                tracing::error!(error = %err, "OAuth callback failed");
            } else {
                tracing::warn!(error = %err, "OAuth callback refused");
            }
            let response = error_page(&app, status, Some(err.public_message()));
            if err.clears_state_cookie() { with_cookies(response, vec![clear_state]) } else { response }
        }
    }
}

/// `GET /hub/logout`: optional `shutdown_on_logout`, the browser session
/// ends (its OAuth tokens too: the browser is logged out of its servers),
/// the user's cookie id is rotated (every copy of the login cookie is
/// dead), every hub cookie is cleared, then the login page (or
/// `logout_redirect_url`, or `logout.html` with `auto_login`).
pub async fn logout(State(app): State<App>, parts: Parts) -> Response {
    let began = std::time::Instant::now();
    let response = logout_inner(&app, parts).await;
    app.hub.metrics().observe_logout(began.elapsed());
    response
}

async fn logout_inner(app: &App, parts: Parts) -> Response {
    let app = app.clone();
    if let Some(login) = crate::auth::browser_login(&app, &parts) {
        let name = login.identity.principal.name().to_string();
        if app.settings.shutdown_on_logout {
            let active: Vec<String> = app
                .hub
                .read()
                .user(&name)
                .map(|e| e.servers.iter().filter(|(_, s)| s.active()).map(|(n, _)| n.clone()).collect())
                .unwrap_or_default();
            for server in active {
                if let Err(err) = app.hub.stop(&name, &server, false, StopReason::Logout).await {
                    tracing::warn!(user = %name, server = %server, error = %err, "could not stop server at logout");
                }
            }
        }
        // Rotating the cookie id kills every copy of the login cookie (a
        // replayed one too; JupyterHub 6.1.1 keeps accepting it), which
        // also ends the user's other browsers: a login cookie names the
        // user, not the browser.
        end_browser(&app, &name, login.session_id.as_deref(), true).await;
        tracing::info!(user = %name, "user logged out");
    }
    let response = if let Some(url) = &app.settings.logout_redirect_url {
        found(url)
    } else if app.settings.auto_login {
        let user: Option<PageUser> = None;
        let mut ctx = base_context(&app, user.as_ref(), None);
        ctx.insert("page".into(), Value::from("logout"));
        render(&app, StatusCode::OK, "logout.html", ctx)
    } else {
        found(&format!("{}login", hub_prefix(&app)))
    };
    with_cookies(response, clear_cookies(&app))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_classes_map_to_statuses() {
        assert_eq!(auth_status(&AuthError::StateMissingFromCookie), StatusCode::BAD_REQUEST);
        assert_eq!(auth_status(&AuthError::InvalidCredentials), StatusCode::FORBIDDEN);
        assert_eq!(
            auth_status(&AuthError::UserInfoFailed(jhub_auth::GitLabFailure::Unauthorized)),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(auth_status(&AuthError::NoCallbackUrl), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
