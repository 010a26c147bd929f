//! Hub pages (jupyterhub-compat §7.5, §9): login and logout with the
//! authenticator's flows ([`login`]), the browser session and its periodic
//! auth refresh ([`session`]), home and token pages ([`home`]), spawning and
//! the `/hub/user/...` fallbacks ([`spawn`]), the OAuth provider single-user
//! servers log in through ([`oauth`]), plus health, error pages, static
//! files and the redirects for paths outside `/hub/` (here).
//!
//! Every page is rendered from a template of JupyterHub's name with
//! JupyterHub's variable names where they exist (`base_url` is the hub
//! prefix `/hub/`, `prefix` the base URL, `static_url()` a function, `user`,
//! `xsrf`, `xsrf_form_html()`), so admins' customised templates keep working.

// Page helpers return finished responses as their error (a redirect or an
// error page); boxing them would only add noise to every handler.
#![allow(clippy::result_large_err)]

pub mod admin;
mod form;
pub mod home;
pub mod login;
pub mod metrics;
pub mod oauth;
pub mod session;
pub mod spawn;
pub mod usage;

pub use session::{Browser, PageState, PreSpawnRefusal, RefreshVerdict, pre_spawn_refresh, refresh_if_due};

use crate::app::App;
use crate::middleware::HandlerLabel;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use jhub_core::redirect::{Origin, validate_next};
use minijinja::Value;
use std::collections::{BTreeMap, HashMap};

/// The template context every page starts from.
pub type Context = BTreeMap<String, Value>;

/// What pages know about the logged-in user (the `user` template variable).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PageUser {
    pub name: String,
    pub admin: bool,
    /// `user_info.display_name` (GitLab's full name), else the name.
    pub display_name: String,
    /// The default server's URL prefix (`/user/<escaped name>/`).
    pub url: String,
    /// The name as a URL path segment.
    pub escaped_name: String,
    /// Holds `read:usage`: the navigation links the usage page.
    pub may_read_usage: bool,
    /// Holds `admin-ui`: the navigation links the admin page.
    pub may_admin: bool,
}

impl PageUser {
    /// From the hub's memory; `None` if the user vanished.
    pub fn load(app: &App, name: &str) -> Option<PageUser> {
        let mut user = {
            let state = app.hub.read();
            let entry = state.user(name)?;
            let display_name = entry
                .user
                .user_info
                .as_ref()
                .and_then(|info| info.get("display_name").or_else(|| info.get("name")))
                .and_then(|v| v.as_str())
                .filter(|s| !s.trim().is_empty())
                .unwrap_or(name)
                .to_string();
            PageUser {
                name: entry.user.name.clone(),
                admin: entry.user.admin,
                display_name,
                url: app.settings.layout.user_url(name),
                escaped_name: jhub_core::names::escape_path(name),
                may_read_usage: false,
                may_admin: false,
            }
        };
        // After the state lock is released: the scope lookup takes it again.
        user.may_read_usage = usage::may_read_usage(app, name);
        user.may_admin = admin::may_use_admin(app, name);
        Some(user)
    }
}

/// A serialisable value as a template value.
pub(crate) fn sv<T: serde::Serialize>(value: T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

/// `{base}hub/`.
pub(crate) fn hub_prefix(app: &App) -> String {
    app.settings.layout.hub_prefix()
}

/// Form-encodes one query value (`/` becomes `%2F`, as JupyterHub's `url_concat`).
pub(crate) fn enc(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `url?name=value` (or `&name=value` when `url` has a query already).
pub(crate) fn url_concat(url: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return url.to_string();
    }
    let mut out = url.to_string();
    let mut sep = if url.contains('?') { '&' } else { '?' };
    for (name, value) in pairs {
        out.push(sep);
        out.push_str(&enc(name));
        out.push('=');
        out.push_str(&enc(value));
        sep = '&';
    }
    out
}

/// The first value of a query parameter.
pub(crate) fn query_param(uri: &Uri, name: &str) -> Option<String> {
    let query = uri.query()?;
    url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Path and query of the request, as JupyterHub's `request.uri`.
pub(crate) fn request_uri(uri: &Uri) -> String {
    uri.path_and_query().map(|pq| pq.as_str().to_string()).unwrap_or_else(|| uri.path().to_string())
}

/// The scheme the browser used: `X-Forwarded-Proto` (first hop) else http.
fn request_scheme(headers: &HeaderMap) -> String {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| v == "https" || v == "http")
        .unwrap_or_else(|| "http".to_string())
}

/// The hub's own origin: `public_url` when configured, else the request's
/// scheme and `Host` (JupyterHub does the same without `public_url`).
pub(crate) fn own_origin(app: &App, headers: &HeaderMap) -> Option<Origin> {
    if let Some(origin) = &app.settings.public_origin {
        return Some(origin.clone());
    }
    let host = headers.get(header::HOST)?.to_str().ok()?.trim().to_ascii_lowercase();
    if host.is_empty() || host.contains(['/', '\\', '@', ' ']) {
        return None;
    }
    Some(Origin { scheme: request_scheme(headers), host })
}

/// `next` as the hub may follow it (same-origin path), or `None`.
pub(crate) fn safe_next(app: &App, headers: &HeaderMap, raw: Option<&str>) -> Option<String> {
    let raw = raw?;
    let origin = own_origin(app, headers);
    validate_next(raw, origin.as_ref())
}

/// JupyterHub's fallback after login and on `/hub/`: `default_url`, else
/// (with `redirect_to_server`) the default server if active or the spawn
/// page, else home; the request's query (minus `next`, `_xsrf`) is kept.
pub(crate) fn default_next(app: &App, user: &str, uri: &Uri) -> String {
    let hub = hub_prefix(app);
    let target = if let Some(url) = app.settings.default_url.as_ref().filter(|u| !u.is_empty()) {
        url.clone()
    } else if app.settings.redirect_to_server {
        let active = app.hub.read().user(user).and_then(|e| e.servers.get("")).is_some_and(|s| s.active());
        if active { app.settings.layout.user_url(user) } else { format!("{hub}spawn") }
    } else {
        format!("{hub}home")
    };
    let kept: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .filter(|(k, _)| k != "next" && k != "_xsrf")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let pairs: Vec<(&str, &str)> = kept.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    url_concat(&target, &pairs)
}

/// `/hub/login?next=<uri>`.
pub(crate) fn login_redirect_url(app: &App, next: &str) -> String {
    url_concat(&format!("{}login", hub_prefix(app)), &[("next", next)])
}

/// 302 to the login page, coming back to this request afterwards.
pub(crate) fn redirect_to_login(app: &App, uri: &Uri) -> Response {
    found(&login_redirect_url(app, &request_uri(uri)))
}

/// The context every template gets: JupyterHub's names, `jhdata` for the
/// scripts, then the admin's `template_vars` (which win, as upstream).
pub(crate) fn base_context(app: &App, user: Option<&PageUser>, xsrf: Option<&str>) -> Context {
    let hub = hub_prefix(app);
    let base = app.settings.layout.base_url().to_string();
    let mut ctx = Context::new();
    let static_base = format!("{hub}static/");
    ctx.insert(
        "static_url".into(),
        Value::from_function(move |path: String| -> String {
            match crate::templates::static_version(&path) {
                Some(version) => format!("{static_base}{path}?v={version}"),
                None => format!("{static_base}{path}"),
            }
        }),
    );
    ctx.insert("base_url".into(), Value::from(hub.clone()));
    ctx.insert("prefix".into(), Value::from(base.clone()));
    ctx.insert("logo_url".into(), Value::from(format!("{hub}logo")));
    ctx.insert("login_url".into(), Value::from(format!("{hub}login")));
    ctx.insert("logout_url".into(), Value::from(format!("{hub}logout")));
    ctx.insert("home_url".into(), Value::from(format!("{hub}home")));
    ctx.insert("token_url".into(), Value::from(format!("{hub}token")));
    ctx.insert("login_service".into(), Value::from(app.auth.login_service().to_string()));
    ctx.insert("user".into(), user.map(sv).unwrap_or(Value::from(())));
    let token = xsrf.unwrap_or("").to_string();
    ctx.insert("xsrf".into(), Value::from(token.clone()));
    let hidden = format!("<input type=\"hidden\" name=\"_xsrf\" value=\"{}\">", html_escape(&token));
    ctx.insert("xsrf_form_html".into(), Value::from_function(move || Value::from_safe_string(hidden.clone())));
    let jhdata = serde_json::json!({
        "base_url": hub,
        "prefix": base,
        "user": user.map(|u| u.name.clone()),
        "xsrf_token": token,
    });
    ctx.insert("jhdata".into(), sv(&jhdata));
    for (key, value) in &app.settings.template_vars {
        ctx.insert(key.clone(), sv(value));
    }
    ctx
}

/// Adds page-specific `jhdata` entries (for `window.jhdata`).
pub(crate) fn extend_jhdata(ctx: &mut Context, extra: serde_json::Value) {
    let mut merged =
        ctx.get("jhdata").and_then(|v| serde_json::to_value(v).ok()).unwrap_or_else(|| serde_json::json!({}));
    if let (Some(map), serde_json::Value::Object(extra)) = (merged.as_object_mut(), extra) {
        map.extend(extra);
    }
    ctx.insert("jhdata".into(), sv(&merged));
}

/// Escapes text for HTML element content and quoted attributes (only for
/// the few strings built outside templates).
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            other => out.push(other),
        }
    }
    out
}

/// Renders `name` with `status`; a template failure is logged and answered
/// with a plain 500 (never a panic, never a half page).
pub(crate) fn render(app: &App, status: StatusCode, name: &str, ctx: Context) -> Response {
    match app.templates.render(name, Value::from(ctx)) {
        Ok(body) => {
            let mut response = (status, Html(body)).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(err) => {
            tracing::error!(error = %err, template = name, "page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "500 : Internal Server Error (template error)").into_response()
        }
    }
}

/// Renders the error page (`error.html`) with a status.
pub fn error_page(app: &App, status: StatusCode, message: Option<String>) -> Response {
    error_page_for(app, None, status, message)
}

/// The error page as a logged-in user sees it (navigation bar included).
/// As upstream, `status_message` is the message itself when there is one
/// (`<h1>403 : Sorry, …</h1>`), else the reason phrase.
pub fn error_page_for(app: &App, user: Option<&PageUser>, status: StatusCode, message: Option<String>) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error").to_string();
    let mut ctx = base_context(app, user, None);
    ctx.insert("status_code".into(), Value::from(status.as_u16()));
    ctx.insert("status_message".into(), Value::from(message.clone().unwrap_or_else(|| reason.clone())));
    ctx.insert("message".into(), Value::from(message));
    ctx.insert("message_html".into(), Value::from(()));
    ctx.insert("exception".into(), Value::from(()));
    ctx.insert("extra_error_html".into(), Value::from(()));
    render(app, status, "error.html", ctx)
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
    error_page(&app, status, message)
}

/// `/hub/static/<file>`: the embedded files; `?v=<hash>` URLs are immutable.
async fn static_file(Path(path): Path<String>, uri: Uri) -> Response {
    let Some((_, mime, bytes)) = crate::templates::STATIC_FILES.iter().find(|(name, _, _)| *name == path) else {
        return (StatusCode::NOT_FOUND, "404 : Not Found").into_response();
    };
    let versioned = query_param(&uri, "v").is_some_and(|v| crate::templates::static_version(&path) == Some(v.as_str()));
    let cache = if versioned { "public, max-age=31536000, immutable" } else { "no-cache" };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, *mime), (header::CACHE_CONTROL, cache), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")],
        *bytes,
    )
        .into_response()
}

/// `/hub/logo` (the single-user server's pages link to it).
async fn logo() -> Response {
    static_file(Path("logo.svg".to_string()), Uri::from_static("/")).await
}

/// Tags a route's responses with JupyterHub's handler class for the request metric.
pub(crate) fn labelled(label: &'static str, route: MethodRouter<App>) -> MethodRouter<App> {
    route.layer(axum::middleware::map_response(move |mut response: Response| async move {
        response.extensions_mut().insert(HandlerLabel(label));
        response
    }))
}

/// Page routes, with full paths below `{base}hub/` (merged, not nested, so
/// `{base}hub/` itself is a route and `{base}hub` is left to the redirect).
pub fn router(app: &App) -> Router<App> {
    let hub = hub_prefix(app);
    let p = |rest: &str| format!("{hub}{rest}");
    Router::new()
        .route(&p(""), labelled("jupyterhub.handlers.pages.RootHandler", get(home::root)))
        .route(&p("health"), labelled("jupyterhub.handlers.pages.HealthCheckHandler", get(health).head(health)))
        .route(&p("error/{code}"), labelled("jupyterhub.handlers.pages.ProxyErrorHandler", get(proxy_error)))
        .route(
            &p("static/{*path}"),
            labelled("jupyterhub.handlers.static.CacheControlStaticFilesHandler", get(static_file)),
        )
        .route(&p("logo"), labelled("jupyterhub.handlers.static.LogoHandler", get(logo)))
        .route(
            &p("login"),
            labelled("jupyterhub.handlers.login.LoginHandler", get(login::login_get).post(login::login_post)),
        )
        .route(&p("logout"), labelled("jupyterhub.handlers.login.LogoutHandler", get(login::logout)))
        .route(&p("oauth_login"), labelled("oauthenticator.oauth2.OAuthLoginHandler", get(login::oauth_login)))
        .route(&p("oauth_callback"), labelled("oauthenticator.oauth2.OAuthCallbackHandler", get(login::oauth_callback)))
        .route(&p("home"), labelled("jupyterhub.handlers.pages.HomeHandler", get(home::home)))
        .route(&p("token"), labelled("jupyterhub.handlers.pages.TokenPageHandler", get(home::token_page)))
        .route(&p("spawn"), labelled("jupyterhub.handlers.pages.SpawnHandler", spawn::spawn_routes()))
        .route(&p("spawn/{user}"), labelled("jupyterhub.handlers.pages.SpawnHandler", spawn::spawn_routes()))
        .route(&p("spawn/{user}/{server}"), labelled("jupyterhub.handlers.pages.SpawnHandler", spawn::spawn_routes()))
        .route(
            &p("spawn-pending/{user}"),
            labelled("jupyterhub.handlers.pages.SpawnPendingHandler", get(spawn::spawn_pending)),
        )
        .route(
            &p("spawn-pending/{user}/{server}"),
            labelled("jupyterhub.handlers.pages.SpawnPendingHandler", get(spawn::spawn_pending)),
        )
        .route(&p("user/{user}"), labelled("jupyterhub.handlers.base.UserUrlHandler", spawn::user_url_routes()))
        .route(&p("user/{user}/"), labelled("jupyterhub.handlers.base.UserUrlHandler", spawn::user_url_routes()))
        .route(&p("user/{user}/{*rest}"), labelled("jupyterhub.handlers.base.UserUrlHandler", spawn::user_url_routes()))
        .route(&p("user-redirect"), labelled("jupyterhub.handlers.base.UserRedirectHandler", get(spawn::user_redirect)))
        .route(
            &p("user-redirect/"),
            labelled("jupyterhub.handlers.base.UserRedirectHandler", get(spawn::user_redirect)),
        )
        .route(
            &p("user-redirect/{*rest}"),
            labelled("jupyterhub.handlers.base.UserRedirectHandler", get(spawn::user_redirect)),
        )
        // Operator console (issue 15).
        .route(&p("metrics"), labelled("jupyterhub.handlers.metrics.MetricsHandler", get(metrics::metrics_page)))
        .route(&p("usage"), labelled("jhub.handlers.usage.UsageHandler", get(usage::usage_page)))
        .route(&p("admin"), labelled("jupyterhub.handlers.pages.AdminHandler", get(admin::admin_page)))
        .route(
            &p("security/csp-report"),
            labelled("jupyterhub.handlers.base.CSPReportHandler", axum::routing::post(metrics::csp_report)),
        )
}

/// The OAuth provider's endpoints, at their full `/hub/api/oauth2/...`
/// paths (merged into the top router; they are pages and form posts, not
/// JSON API routes, so they bypass the API table on purpose).
pub fn oauth_provider_router(app: &App) -> Router<App> {
    let api = app.settings.layout.api_prefix();
    Router::new()
        .route(
            &format!("{api}/oauth2/authorize"),
            labelled(
                "jupyterhub.apihandlers.auth.OAuthAuthorizeHandler",
                get(oauth::authorize_get).post(oauth::authorize_post),
            ),
        )
        .route(
            &format!("{api}/oauth2/token"),
            labelled("jupyterhub.apihandlers.auth.OAuthTokenHandler", axum::routing::post(oauth::token)),
        )
}

/// Anything else: JupyterHub's `PrefixRedirectHandler` (302 to `/hub` +
/// the same path) and `AddSlashHandler` for `{base}user/<name>`; unknown
/// pages below `{base}hub/` get the 404 page.
pub async fn outside_hub(State(app): State<App>, uri: Uri) -> Response {
    let base = app.settings.layout.base_url();
    let path = uri.path();
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let Some(rest) = path.strip_prefix(base) else {
        return error_page(&app, StatusCode::NOT_FOUND, None);
    };
    if rest.starts_with("hub/") {
        return error_page(&app, StatusCode::NOT_FOUND, None);
    }
    let segments: Vec<&str> = rest.split('/').collect();
    if segments.len() == 2 && (segments[0] == "user" || segments[0] == "services") && !segments[1].is_empty() {
        return moved_permanently(&format!("{path}/{query}"));
    }
    if rest == "hub" {
        return moved_permanently(&format!("{base}hub/{query}"));
    }
    found(&format!("{base}hub/{rest}{query}"))
}

/// `301 Moved Permanently`, as tornado's add-slash redirects (axum's
/// `Redirect::permanent` is 308).
fn moved_permanently(location: &str) -> Response {
    match header::HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, value)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// `302 Found` (axum's `Redirect::to` is 303; JupyterHub answers 302).
pub fn found(location: &str) -> Response {
    match header::HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_concat_encodes_like_jupyterhub() {
        assert_eq!(url_concat("/hub/login", &[("next", "/hub/")]), "/hub/login?next=%2Fhub%2F");
        assert_eq!(url_concat("/a?x=1", &[("b", "c d")]), "/a?x=1&b=c+d");
        assert_eq!(url_concat("/a", &[]), "/a");
    }

    #[test]
    fn html_escape_covers_attribute_breakers() {
        assert_eq!(html_escape("<a href='x' \"y\">&"), "&lt;a href=&#x27;x&#x27; &quot;y&quot;&gt;&amp;");
    }
}
