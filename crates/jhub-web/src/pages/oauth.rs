//! The hub as OAuth2 provider for single-user servers and services
//! (jupyterhub-compat §5): `GET|POST /hub/api/oauth2/authorize` (browser,
//! cookie login, optional consent page) and `POST /hub/api/oauth2/token`
//! (server to hub, form body, OAuth JSON errors).
//!
//! Fatal request errors (unknown client, redirect URI mismatch) are 400
//! pages and never redirect; errors about the request's content
//! (`unsupported_response_type`, `invalid_scope`, PKCE) go back to the
//! client's redirect URI as `?error=…&error_description=…&state=…`.

use super::form;
use super::session::Browser;
use super::{PageUser, base_context, error_page_for, found, redirect_to_login, render, request_uri, sv, url_concat};
use crate::app::App;
use crate::auth::{check_xsrf, presented_xsrf};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jhub_core::model::{ApiToken, OAuthClient};
use jhub_core::rbac::{Access, Client, RawScopes, Resource, Scope, oauth_needs_consent};
use jhub_hub::Hub;
use jhub_hub::tokens::OAuthError;
use minijinja::Value;

/// The authorization request's parameters (first value of each).
#[derive(Debug, Default, Clone)]
struct AuthorizeParams {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    state: Option<String>,
    scope: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

impl AuthorizeParams {
    fn from_query(query: Option<&str>) -> Self {
        let mut params = AuthorizeParams::default();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let slot = match key.as_ref() {
                "client_id" => &mut params.client_id,
                "redirect_uri" => &mut params.redirect_uri,
                "response_type" => &mut params.response_type,
                "state" => &mut params.state,
                "scope" => &mut params.scope,
                "code_challenge" => &mut params.code_challenge,
                "code_challenge_method" => &mut params.code_challenge_method,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.into_owned());
            }
        }
        params
    }
}

/// A validated authorization request.
struct Ready {
    client: OAuthClient,
    redirect_uri: String,
    granted: RawScopes,
    needs_consent: bool,
}

/// `redirect_uri?error=…` (the state is echoed, as RFC 6749 §4.1.2.1 says).
fn error_redirect(redirect_uri: &str, error: &str, description: &str, state: Option<&str>) -> Response {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    found(&url_concat(redirect_uri, &pairs))
}

/// Page CSP: the middleware's API policy (`default-src 'none'`) would
/// block the consent page's stylesheet.
fn page_csp(app: &App, mut response: Response) -> Response {
    let csp = format!("frame-ancestors 'none'; report-uri {}hub/security/csp-report", app.settings.layout.base_url());
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// Steps 2–5 of §5.2 for `user`; `posted` are the consent form's scopes.
async fn validate(
    app: &App,
    user: &PageUser,
    params: &AuthorizeParams,
    posted: Option<Vec<String>>,
) -> Result<Ready, Response> {
    let bad = |message: &str| Err(error_page_for(app, Some(user), StatusCode::BAD_REQUEST, Some(message.to_string())));
    let Some(client_id) = params.client_id.as_deref().filter(|c| !c.is_empty()) else {
        return bad("Missing client_id parameter.");
    };
    let client = match app.hub.oauth_client(client_id) {
        Some(client) if client.identifier != ApiToken::HUB_CLIENT && client.secret_hashed.is_some() => client,
        _ => return bad("Invalid client_id parameter value."),
    };
    let redirect_uri = params.redirect_uri.clone().unwrap_or_else(|| client.redirect_uri.clone());
    if redirect_uri != client.redirect_uri {
        return bad("Mismatching redirect URI.");
    }
    let state = params.state.as_deref();
    match params.response_type.as_deref() {
        Some("code") => {}
        None => {
            return Err(error_redirect(&redirect_uri, "invalid_request", "Missing response_type parameter.", state));
        }
        Some(_) => return Err(error_redirect(&redirect_uri, "unsupported_response_type", "", state)),
    }
    match (&params.code_challenge, params.code_challenge_method.as_deref()) {
        (Some(_), None | Some("S256") | Some("plain")) => {}
        (Some(_), Some(_)) => {
            return Err(error_redirect(&redirect_uri, "invalid_request", "Transform algorithm not supported.", state));
        }
        (None, _) if app.settings.oauth_require_pkce => {
            return Err(error_redirect(&redirect_uri, "invalid_request", "Code challenge required.", state));
        }
        (None, _) => {}
    }
    let rbac_client = Hub::rbac_client(&client);
    // Access: the user must be allowed to use the server or service.
    let (access_ok, own, no_confirm) = {
        // Two statements: `user_scopes` takes the state lock itself.
        let user_id = app.hub.read().user(&user.name).map(|e| e.user.id);
        let Some(scopes) = user_id.and_then(|id| app.hub.user_scopes(id)) else {
            return bad("No such user");
        };
        let state = app.hub.read();
        let (access, own, no_confirm) = match rbac_client {
            Client::Server { user: owner, server } => (
                scopes.authorize(&[Scope::AccessServers], Resource::Server { user: owner, server }, &*state),
                owner == user.name,
                false,
            ),
            Client::Service(service) => (
                scopes.authorize(&[Scope::AccessServices], Resource::Service(service), &*state),
                false,
                state.service(service).is_some_and(|s| s.service.oauth_no_confirm),
            ),
            Client::Hub => (Access::NotFound, false, false),
        };
        (matches!(access, Access::Allowed { .. }), own, no_confirm)
    };
    if !access_ok {
        let message = format!("You do not have permission to access {}", client.description);
        return Err(error_page_for(app, Some(user), StatusCode::FORBIDDEN, Some(message)));
    }
    let rbac = app.hub.rbac();
    let client_allowed = rbac.registry().parse_lossy(client.allowed_scopes.iter()).0;
    let texts: Vec<String> = match posted {
        Some(posted) if posted.is_empty() => vec!["identify".to_string()],
        Some(posted) => posted,
        None => params.scope.as_deref().unwrap_or("").split_whitespace().map(str::to_string).collect(),
    };
    let granted = {
        let state = app.hub.read();
        let Some(entry) = state.user(&user.name) else { return bad("No such user") };
        let roles = state.effective_role_names(entry);
        let user_raw = rbac.user_raw_scopes(entry.user.admin, roles.iter().map(String::as_str));
        let requested = match rbac.oauth_requested_scopes(
            texts.iter().map(String::as_str),
            &client_allowed,
            rbac_client,
            &user.name,
            &*state,
        ) {
            Ok(requested) => requested,
            Err(err) => {
                drop(state);
                return Err(error_redirect(&redirect_uri, "invalid_scope", &err.to_string(), params.state.as_deref()));
            }
        };
        let resolved = rbac.oauth_grant(&requested, &user_raw, rbac_client, &user.name, &*state);
        if !resolved.refused.is_empty() {
            tracing::info!(
                user = %user.name,
                client = %client.identifier,
                refused = ?resolved.refused.to_strings(),
                "OAuth request asks for scopes the user does not hold; not granting them"
            );
        }
        resolved.granted
    };
    let needs_consent = if own || no_confirm {
        false
    } else {
        let already = already_granted(app, &user.name, &client.identifier).await;
        oauth_needs_consent(own, no_confirm, &already, &granted)
    };
    Ok(Ready { client, redirect_uri, granted, needs_consent })
}

/// The raw scopes of the user's live tokens from `client_id`.
async fn already_granted(app: &App, user: &str, client_id: &str) -> RawScopes {
    let tokens = match app.hub.list_tokens(user).await {
        Ok(tokens) => tokens,
        Err(err) => {
            tracing::warn!(user, error = %err, "cannot list tokens for the consent check");
            return RawScopes::new();
        }
    };
    let mut granted = RawScopes::new();
    for token in tokens.iter().filter(|t| t.client_id == client_id) {
        granted.extend_from(&app.hub.rbac().registry().parse_lossy(token.scopes.iter()).0);
    }
    granted
}

/// Issues the code (bound to the browser session and the PKCE challenge)
/// and redirects back to the client.
async fn complete(app: &App, browser: &Browser, user: &PageUser, params: &AuthorizeParams, ready: Ready) -> Response {
    let session = browser.login.as_ref().and_then(|l| l.session_id.clone());
    let challenge = params.code_challenge.clone().filter(|c| !c.is_empty());
    let method = challenge.as_ref().map(|_| params.code_challenge_method.clone().unwrap_or_else(|| "plain".into()));
    match app
        .hub
        .issue_oauth_code(
            &ready.client.identifier,
            &user.name,
            ready.granted.to_strings(),
            &ready.redirect_uri,
            session,
            challenge,
            method,
        )
        .await
    {
        Ok(code) => {
            let mut pairs = vec![("code", code.as_str())];
            if let Some(state) = params.state.as_deref() {
                pairs.push(("state", state));
            }
            found(&url_concat(&ready.redirect_uri, &pairs))
        }
        Err(err) => {
            tracing::error!(user = %user.name, error = %err, "cannot issue an OAuth code");
            error_page_for(app, Some(user), StatusCode::INTERNAL_SERVER_ERROR, None)
        }
    }
}

fn render_consent(app: &App, browser: &Browser, user: &PageUser, parts: &Parts, ready: &Ready) -> Response {
    let rbac = app.hub.rbac();
    let rbac_client = Hub::rbac_client(&ready.client);
    let consent = rbac.oauth_consent(&ready.granted, rbac_client, &user.name);
    let descriptions: Vec<serde_json::Value> = consent
        .descriptions
        .iter()
        .map(|d| serde_json::json!({"scope": d.scope, "description": d.description, "filter": d.filter}))
        .collect();
    let mut ctx = base_context(app, Some(user), Some(&browser.xsrf));
    ctx.insert("page".into(), Value::from("oauth"));
    ctx.insert(
        "oauth_client".into(),
        sv(serde_json::json!({
            "client_id": ready.client.identifier,
            "description": ready.client.description,
            "redirect_uri": ready.redirect_uri,
        })),
    );
    ctx.insert("scope_descriptions".into(), sv(&descriptions));
    ctx.insert("allowed_scopes".into(), sv(consent.scopes.to_strings()));
    ctx.insert("url".into(), Value::from(request_uri(&parts.uri)));
    render(app, StatusCode::OK, "oauth.html", ctx)
}

/// `GET /hub/api/oauth2/authorize`.
pub async fn authorize_get(State(app): State<App>, browser: Browser, parts: Parts) -> Response {
    let Some(user) = browser.user().and_then(|n| PageUser::load(&app, n)) else {
        return page_csp(&app, browser.respond(redirect_to_login(&app, &parts.uri)));
    };
    let params = AuthorizeParams::from_query(parts.uri.query());
    let response = match validate(&app, &user, &params, None).await {
        Err(response) => response,
        Ok(ready) if ready.needs_consent => render_consent(&app, &browser, &user, &parts, &ready),
        Ok(ready) => complete(&app, &browser, &user, &params, ready).await,
    };
    page_csp(&app, browser.respond(response))
}

/// `POST /hub/api/oauth2/authorize`: the consent form (XSRF-checked).
pub async fn authorize_post(State(app): State<App>, browser: Browser, parts: Parts, body: Bytes) -> Response {
    let Some(user) = browser.user().and_then(|n| PageUser::load(&app, n)) else {
        return page_csp(&app, browser.respond(error_page_for(&app, None, StatusCode::FORBIDDEN, None)));
    };
    let fields = match form::parse(&parts.headers, &body) {
        Ok(fields) => fields,
        Err(err) => {
            let response = error_page_for(&app, Some(&user), StatusCode::BAD_REQUEST, Some(err.to_string()));
            return page_csp(&app, browser.respond(response));
        }
    };
    let presented = fields.get("_xsrf").map(str::to_string).or_else(|| presented_xsrf(&parts));
    if let Err(err) = check_xsrf(&app, &parts, browser.login.as_ref(), presented.as_deref()) {
        let response = error_page_for(&app, Some(&user), err.status, err.message);
        return page_csp(&app, browser.respond(response));
    }
    let params = AuthorizeParams::from_query(parts.uri.query());
    let posted: Vec<String> = fields.all("scopes").into_iter().map(str::to_string).collect();
    let response = match validate(&app, &user, &params, Some(posted)).await {
        Err(response) => response,
        Ok(ready) => complete(&app, &browser, &user, &params, ready).await,
    };
    page_csp(&app, browser.respond(response))
}

/// An OAuth JSON error (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, error: &str, description: Option<&str>) -> Response {
    let mut body = serde_json::json!({"error": error});
    if let Some(description) = description {
        body["error_description"] = serde_json::json!(description);
    }
    no_store((status, Json(body)).into_response())
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `POST /hub/api/oauth2/token`: the server exchanges the code (its API
/// token is the client secret, in the body only; no Basic auth).
pub async fn token(State(app): State<App>, parts: Parts, body: Bytes) -> Response {
    let fields = match form::parse(&parts.headers, &body) {
        Ok(fields) => fields,
        Err(err) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", Some(&err.to_string())),
    };
    let get = |name: &str| fields.get(name).filter(|v| !v.is_empty());
    match get("grant_type") {
        Some("authorization_code") => {}
        None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", Some("Request is missing grant type.")),
        Some(_) => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", None),
    }
    let (Some(client_id), Some(client_secret)) = (get("client_id"), get("client_secret")) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", None);
    };
    let Some(code) = get("code") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", Some("Missing code parameter."));
    };
    let verifier = get("code_verifier");
    if app.settings.oauth_require_pkce && verifier.is_none() {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", Some("Code verifier required."));
    }
    let registered = app.hub.oauth_client(client_id).map(|c| c.redirect_uri);
    let Some(redirect_uri) = get("redirect_uri").map(str::to_string).or(registered) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", None);
    };
    match app.hub.exchange_oauth_code(code, client_id, client_secret, &redirect_uri, verifier).await {
        Ok(access) => no_store(
            Json(serde_json::json!({
                "access_token": access.access_token,
                "expires_in": access.expires_in,
                "token_type": "Bearer",
                "scope": access.scope,
            }))
            .into_response(),
        ),
        Err(OAuthError::InvalidRequest(description)) => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_request", Some(&description))
        }
        Err(OAuthError::InvalidClient) => oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", None),
        Err(OAuthError::InvalidGrant) => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", None),
        Err(OAuthError::UnsupportedGrantType) => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", None),
        Err(OAuthError::ServerError(detail)) => {
            tracing::error!(error = %detail, "OAuth token exchange failed");
            oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_params_take_the_first_value() {
        let params = AuthorizeParams::from_query(Some("client_id=a&client_id=b&scope=x+y&state=%2F"));
        assert_eq!(params.client_id.as_deref(), Some("a"));
        assert_eq!(params.scope.as_deref(), Some("x y"));
        assert_eq!(params.state.as_deref(), Some("/"));
        assert!(params.redirect_uri.is_none());
    }

    #[test]
    fn error_redirect_keeps_the_client_query() {
        let response = error_redirect("/user/a/oauth_callback?x=1", "invalid_scope", "no", Some("s"));
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(
            response.headers()[header::LOCATION],
            "/user/a/oauth_callback?x=1&error=invalid_scope&error_description=no&state=s"
        );
    }
}
