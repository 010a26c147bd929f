//! Pages involved in spawning (jupyterhub-compat §7.5): `/hub/spawn[/user[/server]]`
//! (the profile form, or an immediate spawn), `/hub/spawn-pending/...`
//! (progress page fed by the REST progress stream), `/hub/user/...`
//! (JupyterHub's `UserUrlHandler`: where `/user/...` requests land when the
//! proxy has no route) and `/hub/user-redirect/...`.

use super::form::{self, Fields};
use super::session::{Browser, PreSpawnRefusal, clear_cookies, end_browser, pre_spawn_refresh, with_cookies};
use super::{
    PageUser, base_context, error_page_for, extend_jhdata, found, hub_prefix, own_origin, query_param,
    redirect_to_login, render, request_uri, safe_next, sv, url_concat,
};
use crate::app::App;
use crate::auth::{browser_login, check_xsrf, header_token, presented_xsrf};
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get};
use jhub_core::names::escape_path;
use jhub_core::rbac::{Access, Resource, Scope};
use jhub_core::spawn::Phase;
use jhub_hub::{Identity, SpawnCommand};
use minijinja::Value;
use std::collections::HashMap;
use std::time::Duration;

/// `GET` and `POST` on the spawn paths.
pub fn spawn_routes() -> MethodRouter<App> {
    get(spawn_get).post(spawn_post)
}

/// Every method on `/hub/user/...`.
pub fn user_url_routes() -> MethodRouter<App> {
    any(user_url)
}

/// A server's status as the pages need it.
#[derive(Debug, Clone, PartialEq)]
enum Status {
    /// No such named server.
    Missing,
    Stopped {
        failure: Option<String>,
    },
    Spawning,
    Running,
    Stopping,
}

fn status_of(app: &App, user: &str, server: &str) -> Option<Status> {
    let state = app.hub.read();
    let entry = state.user(user)?;
    let Some(slot) = entry.servers.get(server) else {
        return Some(if server.is_empty() { Status::Stopped { failure: None } } else { Status::Missing });
    };
    Some(match slot.phase {
        Phase::Running => Status::Running,
        Phase::Spawning(_) => Status::Spawning,
        Phase::Stopping => Status::Stopping,
        Phase::Stopped => Status::Stopped { failure: slot.last_failure.as_ref().map(|f| f.message.clone()) },
    })
}

/// `<user>` or `<user>/<server>` as a path suffix.
fn path_suffix(user: &str, server: &str) -> String {
    if server.is_empty() { escape_path(user) } else { format!("{}/{}", escape_path(user), escape_path(server)) }
}

fn spawn_url(app: &App, user: &str, server: &str) -> String {
    format!("{}spawn/{}", hub_prefix(app), path_suffix(user, server))
}

fn pending_url(app: &App, user: &str, server: &str, next: Option<&str>) -> String {
    let url = format!("{}spawn-pending/{}", hub_prefix(app), path_suffix(user, server));
    match next {
        Some(next) => url_concat(&url, &[("next", next)]),
        None => url,
    }
}

/// Scope check of a page on someone's servers: 404 when the caller may
/// not know the user exists, 403 when the scope is missing altogether.
fn check_scope(
    app: &App,
    identity: &Identity,
    scope: Scope,
    user: &str,
    server: &str,
) -> Result<(), (StatusCode, String)> {
    let required = [scope];
    let state = app.hub.read();
    match identity.scopes.authorize(&required, Resource::Server { user, server }, &*state) {
        Access::Allowed { .. } => Ok(()),
        Access::NotFound => Err((StatusCode::NOT_FOUND, jhub_core::rbac::NOT_FOUND_MESSAGE.to_string())),
        denied => Err((StatusCode::FORBIDDEN, denied.denial_message().unwrap_or_default())),
    }
}

/// The user and server a spawn path names (default: the caller's default server).
fn target(path: Option<Path<HashMap<String, String>>>, me: &str) -> (String, String) {
    let params = path.map(|Path(p)| p).unwrap_or_default();
    let user = params.get("user").cloned().unwrap_or_else(|| me.to_string());
    let server = params.get("server").cloned().unwrap_or_default();
    (user, server)
}

/// Spawn options from the query: `opt-<name>` (6.0), and the unprefixed
/// `profile` / `profile-option-*` of older links. `None` when there are none.
fn query_options(parts: &Parts) -> Option<serde_json::Map<String, serde_json::Value>> {
    let query = parts.uri.query()?;
    let mut fields: Vec<(String, String)> = Vec::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if let Some(name) = key.strip_prefix("opt-") {
            fields.push((name.to_string(), value.into_owned()));
        } else if key == "profile" || key.starts_with("profile-option-") {
            tracing::warn!(field = %key, "spawn option in the query without the opt- prefix (deprecated)");
            fields.push((key.into_owned(), value.into_owned()));
        }
    }
    if fields.is_empty() {
        return None;
    }
    let parsed = jhub_podspec::profiles::options_from_form(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    Some(parsed.user_options)
}

/// The server's saved `user_options` (pre-selects the form).
fn saved_options(app: &App, user: &str, server: &str) -> serde_json::Map<String, serde_json::Value> {
    app.hub
        .read()
        .user(user)
        .and_then(|e| e.servers.get(server))
        .and_then(|s| s.server.user_options.as_object().cloned())
        .unwrap_or_default()
}

fn has_form(app: &App) -> bool {
    app.settings.profile_list.as_ref().is_some_and(|list| !list.is_empty())
}

/// The spawn page with the profile form (KubeSpawner's field names).
struct FormPage<'a> {
    user: &'a PageUser,
    for_user: &'a str,
    server: &'a str,
    next: Option<&'a str>,
    error: Option<String>,
    status: StatusCode,
    retry_after: Option<u64>,
}

fn render_form(app: &App, browser: Browser, page: FormPage<'_>) -> Response {
    let saved = saved_options(app, page.for_user, page.server);
    // Only the profiles the user's groups may use (`allowed_groups`); the
    // spawner refuses the others with 403 whatever the form sends.
    let groups = {
        let state = app.hub.read();
        state.user(page.for_user).map(|e| state.group_names_of(e)).unwrap_or_default()
    };
    let form = app.settings.profile_list.as_ref().map(|list| list.for_groups(&groups).form(&saved));
    let mut fragment_ctx = base_context(app, Some(page.user), Some(&browser.xsrf));
    fragment_ctx.insert("profiles".into(), sv(form.as_ref().map(|f| &f.profiles)));
    // Live GPU capacity next to the options that request GPUs (none when unknown).
    if let Some(report) = app.capacity_for(&groups) {
        let labels: serde_json::Map<String, serde_json::Value> = report
            .options
            .iter()
            .map(|o| {
                let key = crate::api::capacity::key(&o.profile, o.option.as_deref(), o.choice.as_deref());
                (key, serde_json::Value::String(crate::api::capacity::label(o.free)))
            })
            .collect();
        fragment_ctx.insert("capacity".into(), sv(&labels));
        fragment_ctx.insert(
            "capacity_url".into(),
            Value::from(format!("{}hub/api/jhub/capacity", app.settings.layout.base_url())),
        );
    }
    let fragment = match app.templates.render("profiles_form.html", Value::from(fragment_ctx)) {
        Ok(html) => html,
        Err(err) => {
            tracing::error!(error = %err, "profile form failed to render");
            return browser.respond(error_page_for(app, Some(page.user), StatusCode::INTERNAL_SERVER_ERROR, None));
        }
    };
    let mut action_pairs: Vec<(&str, &str)> = Vec::new();
    if let Some(next) = page.next {
        action_pairs.push(("next", next));
    }
    action_pairs.push(("_xsrf", browser.xsrf.as_str()));
    let action = url_concat(&spawn_url(app, page.for_user, page.server), &action_pairs);
    let mut ctx = base_context(app, Some(page.user), Some(&browser.xsrf));
    ctx.insert("page".into(), Value::from("spawn"));
    ctx.insert("for_user".into(), Value::from(page.for_user));
    ctx.insert("server_name".into(), Value::from(page.server));
    ctx.insert("url".into(), Value::from(action));
    ctx.insert("spawner_options_form".into(), Value::from_safe_string(fragment));
    ctx.insert("error_message".into(), Value::from(page.error));
    ctx.insert("retry_after".into(), Value::from(page.retry_after));
    let mut response = render(app, page.status, "spawn.html", ctx);
    if let Some(secs) = page.retry_after
        && let Ok(value) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    browser.respond(response)
}

/// Starts the server; 302 to the pending page (after waiting up to 1 s,
/// as JupyterHub does), or the refusal (form re-rendered when there is one).
async fn start(
    app: &App,
    browser: Browser,
    user: &PageUser,
    for_user: &str,
    server: &str,
    options: Option<serde_json::Value>,
    next: Option<&str>,
) -> Response {
    match pre_spawn_refresh(app, for_user).await {
        Ok(()) => {}
        Err(PreSpawnRefusal::MustLogin { revoked, .. }) if for_user == user.name => {
            let session = browser.login.as_ref().and_then(|l| l.session_id.clone());
            end_browser(app, for_user, session.as_deref(), revoked).await;
            let login = super::login_redirect_url(app, &spawn_url(app, for_user, server));
            return with_cookies(found(&login), clear_cookies(app));
        }
        Err(PreSpawnRefusal::MustLogin { .. }) => {
            let message = format!("auth has expired for {for_user}, login again");
            return browser.respond(error_page_for(app, Some(user), StatusCode::FORBIDDEN, Some(message)));
        }
        Err(PreSpawnRefusal::Unavailable { message }) => {
            return browser.respond(error_page_for(app, Some(user), StatusCode::SERVICE_UNAVAILABLE, Some(message)));
        }
    }
    let command = SpawnCommand {
        user: for_user.to_string(),
        server: server.to_string(),
        user_options: options,
        display_name: None,
    };
    match app.hub.spawn(command).await {
        Ok(mut ticket) => {
            if !ticket.already_pending {
                let _ = ticket.wait(Duration::from_secs(1)).await;
            }
            browser.respond(found(&pending_url(app, for_user, server, next)))
        }
        Err(err) => {
            let ApiError { status, message, retry_after } = ApiError::from(err);
            let refusal = status.is_client_error() && status != StatusCode::NOT_FOUND;
            if refusal && has_form(app) {
                let page = FormPage { user, for_user, server, next, error: message, status, retry_after };
                return render_form(app, browser, page);
            }
            let mut response = error_page_for(app, Some(user), status, message);
            if let Some(secs) = retry_after
                && let Ok(value) = HeaderValue::from_str(&secs.to_string())
            {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            browser.respond(response)
        }
    }
}

/// Resolves the logged-in caller and the page's target; the error response otherwise.
fn page_target(
    app: &App,
    browser: &Browser,
    path: Option<Path<HashMap<String, String>>>,
) -> Result<(PageUser, String, String), Response> {
    let me = browser.user().unwrap_or_default().to_string();
    let user = PageUser::load(app, &me).ok_or_else(|| error_page_for(app, None, StatusCode::FORBIDDEN, None))?;
    let (for_user, server) = target(path, &me);
    let identity = browser.login.as_ref().map(|l| &l.identity);
    if let Some(identity) = identity
        && let Err((status, message)) = check_scope(app, identity, Scope::Servers, &for_user, &server)
    {
        return Err(error_page_for(app, Some(&user), status, Some(message)));
    }
    if app.hub.read().user(&for_user).is_none() {
        return Err(error_page_for(app, Some(&user), StatusCode::NOT_FOUND, Some(format!("No such user: {for_user}"))));
    }
    Ok((user, for_user, server))
}

/// `GET /hub/spawn[/{user}[/{server}]]`.
pub async fn spawn_get(
    State(app): State<App>,
    browser: Browser,
    parts: Parts,
    path: Option<Path<HashMap<String, String>>>,
) -> Response {
    if browser.login.is_none() {
        return browser.respond(redirect_to_login(&app, &parts.uri));
    }
    let (user, for_user, server) = match page_target(&app, &browser, path) {
        Ok(t) => t,
        Err(response) => return browser.respond(response),
    };
    let next = safe_next(&app, &parts.headers, query_param(&parts.uri, "next").as_deref());
    match status_of(&app, &for_user, &server) {
        Some(Status::Running) => {
            let target = next.unwrap_or_else(|| app.settings.layout.server_url(&for_user, &server));
            return browser.respond(found(&target));
        }
        Some(Status::Spawning) | Some(Status::Stopping) => {
            return browser.respond(found(&pending_url(&app, &for_user, &server, next.as_deref())));
        }
        _ => {}
    }
    if let Some(options) = query_options(&parts) {
        let options = Some(serde_json::Value::Object(options));
        return start(&app, browser, &user, &for_user, &server, options, next.as_deref()).await;
    }
    if has_form(&app) {
        let page = FormPage {
            user: &user,
            for_user: &for_user,
            server: &server,
            next: next.as_deref(),
            error: None,
            status: StatusCode::OK,
            retry_after: None,
        };
        return render_form(&app, browser, page);
    }
    start(&app, browser, &user, &for_user, &server, None, next.as_deref()).await
}

/// `POST /hub/spawn[/{user}[/{server}]]`: the XSRF-checked form → `user_options` → spawn.
pub async fn spawn_post(
    State(app): State<App>,
    browser: Browser,
    parts: Parts,
    path: Option<Path<HashMap<String, String>>>,
    body: Bytes,
) -> Response {
    if browser.login.is_none() {
        return browser.respond(error_page_for(&app, None, StatusCode::FORBIDDEN, None));
    }
    let fields: Fields = match form::parse(&parts.headers, &body) {
        Ok(fields) => fields,
        Err(err) => return browser.respond(error_page_for(&app, None, StatusCode::BAD_REQUEST, Some(err.to_string()))),
    };
    let presented = presented_xsrf(&parts).or_else(|| fields.get("_xsrf").map(str::to_string));
    if let Err(err) = check_xsrf(&app, &parts, browser.login.as_ref(), presented.as_deref()) {
        let user = browser.user().and_then(|n| PageUser::load(&app, n));
        return browser.respond(error_page_for(&app, user.as_ref(), err.status, err.message));
    }
    let (user, for_user, server) = match page_target(&app, &browser, path) {
        Ok(t) => t,
        Err(response) => return browser.respond(response),
    };
    let next = safe_next(&app, &parts.headers, query_param(&parts.uri, "next").as_deref());
    match status_of(&app, &for_user, &server) {
        Some(Status::Spawning) => {
            return browser.respond(found(&pending_url(&app, &for_user, &server, next.as_deref())));
        }
        Some(Status::Running) => {
            let message = format!("{} is already running", server_label(&for_user, &server));
            return browser.respond(error_page_for(&app, Some(&user), StatusCode::BAD_REQUEST, Some(message)));
        }
        Some(Status::Stopping) => {
            let message = format!("{} is pending stop", server_label(&for_user, &server));
            return browser.respond(error_page_for(&app, Some(&user), StatusCode::BAD_REQUEST, Some(message)));
        }
        _ => {}
    }
    let parsed = jhub_podspec::profiles::options_from_form(fields.iter().filter(|(k, _)| *k != "_xsrf"));
    if !parsed.ignored_fields.is_empty() {
        tracing::info!(fields = ?parsed.ignored_fields, "Ignoring unrecognized form data in spawn request");
    }
    let options = Some(serde_json::Value::Object(parsed.user_options));
    start(&app, browser, &user, &for_user, &server, options, next.as_deref()).await
}

fn server_label(user: &str, server: &str) -> String {
    if server.is_empty() { format!("{user}'s server") } else { format!("{user}'s server {server}") }
}

/// `GET /hub/spawn-pending/{user}[/{server}]`.
pub async fn spawn_pending(
    State(app): State<App>,
    browser: Browser,
    parts: Parts,
    path: Option<Path<HashMap<String, String>>>,
) -> Response {
    if browser.login.is_none() {
        return browser.respond(redirect_to_login(&app, &parts.uri));
    }
    let (user, for_user, server) = match page_target(&app, &browser, path) {
        Ok(t) => t,
        Err(response) => return browser.respond(response),
    };
    let next = safe_next(&app, &parts.headers, query_param(&parts.uri, "next").as_deref());
    let status = status_of(&app, &for_user, &server).unwrap_or(Status::Missing);
    let server_url = app.settings.layout.server_url(&for_user, &server);
    let mut ctx = base_context(&app, Some(&user), Some(&browser.xsrf));
    ctx.insert("for_user".into(), Value::from(for_user.clone()));
    ctx.insert("server_name".into(), Value::from(server.clone()));
    ctx.insert("server_url".into(), Value::from(server_url.clone()));
    let relaunch = match &next {
        Some(next) => url_concat(&spawn_url(&app, &for_user, &server), &[("next", next)]),
        None => spawn_url(&app, &for_user, &server),
    };
    ctx.insert("spawn_url".into(), Value::from(relaunch));
    let response = match status {
        Status::Missing => {
            let message = format!("{for_user} has no such server {server}");
            error_page_for(&app, Some(&user), StatusCode::NOT_FOUND, Some(message))
        }
        Status::Running => found(&next.unwrap_or(server_url)),
        Status::Spawning => {
            let progress_url = app.settings.layout.progress_url(&for_user, &server);
            let events: Vec<serde_json::Value> = app
                .hub
                .read()
                .user(&for_user)
                .and_then(|e| e.servers.get(&server))
                .map(|slot| slot.progress.snapshot().events.iter().map(progress_json).collect())
                .unwrap_or_default();
            ctx.insert("page".into(), Value::from("spawn_pending"));
            ctx.insert("progress_url".into(), Value::from(progress_url.clone()));
            let initial = events.iter().filter_map(|e| e["progress"].as_u64()).max().unwrap_or(0).min(100);
            ctx.insert("events".into(), sv(&events));
            ctx.insert("initial_progress".into(), Value::from(initial));
            extend_jhdata(&mut ctx, serde_json::json!({"progress_url": progress_url, "server_url": server_url}));
            render(&app, StatusCode::OK, "spawn_pending.html", ctx)
        }
        Status::Stopping => {
            ctx.insert("page".into(), Value::from("stop_pending"));
            render(&app, StatusCode::OK, "stop_pending.html", ctx)
        }
        Status::Stopped { failure: Some(message) } => {
            ctx.insert("page".into(), Value::from("not_running"));
            ctx.insert("failed".into(), Value::from(true));
            ctx.insert("failed_message".into(), Value::from(message));
            ctx.insert("implicit_spawn_seconds".into(), Value::from(0));
            ctx.insert("error_status_code".into(), Value::from(500));
            render(&app, StatusCode::INTERNAL_SERVER_ERROR, "not_running.html", ctx)
        }
        Status::Stopped { failure: None } => {
            ctx.insert("page".into(), Value::from("not_running"));
            ctx.insert("failed".into(), Value::from(false));
            ctx.insert("implicit_spawn_seconds".into(), Value::from(0));
            render(&app, StatusCode::OK, "not_running.html", ctx)
        }
    };
    browser.respond(response)
}

/// A progress event as the stream sends it (for the page's first paint).
fn progress_json(event: &jhub_core::ports::ProgressEvent) -> serde_json::Value {
    let mut value = serde_json::json!({"message": event.message});
    if let Some(progress) = event.progress {
        value["progress"] = serde_json::json!(progress);
    }
    value
}

/// Whether the client prefers JSON (`Accept`), as JupyterHub's
/// `get_accepted_mimetype` between `application/json` and `text/html`.
fn prefers_json(parts: &Parts) -> bool {
    let Some(accept) = parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else { return false };
    let mut json_q: Option<f32> = None;
    let mut html_q: Option<f32> = None;
    for range in accept.split(',') {
        let mut pieces = range.split(';');
        let media = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = pieces
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "application/json" => json_q = Some(json_q.map_or(q, |old: f32| old.max(q))),
            "text/html" => html_q = Some(html_q.map_or(q, |old: f32| old.max(q))),
            _ => {}
        }
    }
    match (json_q, html_q) {
        (Some(j), Some(h)) => j > h,
        (Some(j), None) => j > 0.0,
        _ => false,
    }
}

/// `GET|POST|... /hub/user/{name}[/{server}]/...`: the proxy had no route
/// for `/user/...` (server stopped, or route not yet added).
pub async fn user_url(State(app): State<App>, parts: Parts) -> Response {
    let hub = hub_prefix(&app);
    let path = parts.uri.path();
    let Some(rest) = path.strip_prefix(&format!("{hub}user/")) else {
        return error_page_for(&app, None, StatusCode::NOT_FOUND, None);
    };
    let (raw_name, tail) = match rest.find('/') {
        Some(idx) => (&rest[..idx], &rest[idx..]),
        None => (rest, ""),
    };
    let name = percent_encoding::percent_decode_str(raw_name).decode_utf8_lossy().into_owned();
    // Token first (scripts hitting a stopped server), then the cookie.
    let (identity, via_cookie, login) = match header_token(&parts.headers) {
        Some(token) => match app.hub.authenticate_token(token).await {
            Some(identity)
                if matches!(&identity.principal, jhub_hub::Principal::User { name, .. }
                    if super::session::token_refresh_if_due(&app, name).await) =>
            {
                (None, false, None)
            }
            Some(identity) => (Some(identity), false, None),
            None => (None, false, None),
        },
        None => (None, false, None),
    };
    let (identity, via_cookie, login) = match identity {
        Some(identity) => (Some(identity), via_cookie, login),
        None => match browser_login(&app, &parts) {
            Some(login) => {
                let user = login.identity.principal.name().to_string();
                if let super::session::RefreshVerdict::Logout { revoked, .. } =
                    super::session::refresh_if_due(&app, &user).await
                {
                    end_browser(&app, &user, login.session_id.as_deref(), revoked).await;
                    return with_cookies(redirect_to_login(&app, &parts.uri), clear_cookies(&app));
                }
                (Some(login.identity.clone()), true, Some(login))
            }
            None => (None, false, None),
        },
    };
    let Some(identity) = identity else {
        if parts.method == Method::GET || parts.method == Method::HEAD {
            return redirect_to_login(&app, &parts.uri);
        }
        return ApiError::missing_credentials().into_response();
    };
    let safe_method = matches!(parts.method, Method::GET | Method::HEAD);
    if via_cookie
        && crate::auth::xsrf_required(&parts.method, &parts.headers, false)
        && let Err(err) = check_xsrf(&app, &parts, login.as_ref(), presented_xsrf(&parts).as_deref())
    {
        return err.into_response();
    }
    // The server: the first segment after the name if the user has a
    // server of that name, else the default server.
    let first = tail.trim_start_matches('/').split('/').next().unwrap_or("");
    let server = {
        let state = app.hub.read();
        let named = !first.is_empty()
            && app.hub.settings().allow_named_servers
            && state.user(&name).is_some_and(|e| e.servers.contains_key(first));
        if named { first.to_string() } else { String::new() }
    };
    let me = identity.principal.name().to_string();
    let page_user = PageUser::load(&app, &me);
    if check_scope(&app, &identity, Scope::AccessServers, &name, &server).is_err() {
        return error_page_for(&app, page_user.as_ref(), StatusCode::NOT_FOUND, None);
    }
    let Some(status) = status_of(&app, &name, &server) else {
        return error_page_for(&app, page_user.as_ref(), StatusCode::NOT_FOUND, Some(format!("No such user: {name}")));
    };
    let original = request_uri(&parts.uri);
    let user_path = format!("{}{}", app.settings.layout.base_url().trim_end_matches('/'), &path[hub.len() - 1..]);
    let json = !safe_method || prefers_json(&parts) || tail.split('/').any(|segment| segment == "api");
    if safe_method && status == Status::Running {
        return redirect_back(&app, &parts, &user_path, page_user.as_ref()).await;
    }
    if json {
        let spawn_path = spawn_url(&app, &name, &server);
        let full_spawn = match own_origin(&app, &parts.headers) {
            Some(origin) => format!("{}://{}{}", origin.scheme, origin.host, spawn_path),
            None => spawn_path,
        };
        let body = serde_json::json!({
            "message": format!("JupyterHub server no longer running at {user_path}. Restart the server at {full_spawn}")
        });
        return (StatusCode::FAILED_DEPENDENCY, axum::Json(body)).into_response();
    }
    match status {
        Status::Spawning | Status::Stopping | Status::Stopped { failure: Some(_) } => {
            let target = pending_url(&app, &name, &server, Some(&original));
            (StatusCode::SEE_OTHER, [(header::LOCATION, target)]).into_response()
        }
        _ => {
            let launch = url_concat(&spawn_url(&app, &name, &server), &[("next", &original)]);
            let (xsrf, _) = crate::auth::xsrf_token_for(&app, &parts, login.as_ref());
            let mut ctx = base_context(&app, page_user.as_ref(), Some(&xsrf));
            ctx.insert("page".into(), Value::from("not_running"));
            ctx.insert("for_user".into(), Value::from(name.clone()));
            ctx.insert("server_name".into(), Value::from(server.clone()));
            ctx.insert("spawn_url".into(), Value::from(launch));
            ctx.insert("failed".into(), Value::from(false));
            ctx.insert("implicit_spawn_seconds".into(), Value::from(app.settings.implicit_spawn_seconds));
            render(&app, StatusCode::FAILED_DEPENDENCY, "not_running.html", ctx)
        }
    }
}

/// The server is running but the request reached the hub: send the browser
/// back to `/user/...` with `redirects=N`, backing off, until the limit.
async fn redirect_back(app: &App, parts: &Parts, user_path: &str, user: Option<&PageUser>) -> Response {
    let mut redirects: u32 = 0;
    let mut kept: Vec<(String, String)> = Vec::new();
    if let Some(query) = parts.uri.query() {
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if key == "redirects" {
                redirects = value.parse().unwrap_or(0);
            } else {
                kept.push((key.into_owned(), value.into_owned()));
            }
        }
    }
    if redirects >= app.settings.user_redirect_limit {
        return error_page_for(
            app,
            user,
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("Redirect loop detected.".to_string()),
        );
    }
    if redirects > 0 {
        tracing::warn!(path = user_path, redirects, "redirect loop to a running server; backing off");
        tokio::time::sleep(Duration::from_secs((1u64 << redirects.min(4)).min(10))).await;
    }
    let next = (redirects + 1).to_string();
    let mut pairs: Vec<(&str, &str)> = kept.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.push(("redirects", &next));
    found(&url_concat(user_path, &pairs))
}

/// `GET /hub/user-redirect/<path>`: to the caller's own server, through the
/// spawn page so a stopped server is started first.
pub async fn user_redirect(State(app): State<App>, browser: Browser, parts: Parts) -> Response {
    let Some(me) = browser.user().map(str::to_string) else {
        return browser.respond(redirect_to_login(&app, &parts.uri));
    };
    let prefix = format!("{}user-redirect", hub_prefix(&app));
    let tail = parts.uri.path().strip_prefix(&prefix).unwrap_or("").trim_start_matches('/');
    let mut target = format!("{}{}", app.settings.layout.user_url(&me), tail);
    if let Some(query) = parts.uri.query().filter(|q| !q.is_empty()) {
        target.push('?');
        target.push_str(query);
    }
    let spawn = url_concat(&spawn_url(&app, &me, ""), &[("next", &target)]);
    browser.respond(found(&spawn))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, accept: Option<&str>) -> Parts {
        let mut builder = axum::http::Request::builder().uri(uri);
        if let Some(accept) = accept {
            builder = builder.header(header::ACCEPT, accept);
        }
        builder.body(()).map(|r| r.into_parts().0).unwrap_or_else(|_| axum::http::Request::new(()).into_parts().0)
    }

    #[test]
    fn accept_header_decides_json() {
        assert!(prefers_json(&parts("/", Some("application/json"))));
        assert!(!prefers_json(&parts("/", Some("text/html,application/xhtml+xml,*/*;q=0.8"))));
        assert!(!prefers_json(&parts("/", Some("text/html, application/json;q=0.9"))));
        assert!(prefers_json(&parts("/", Some("text/html;q=0.5, application/json"))));
        assert!(!prefers_json(&parts("/", None)));
    }

    #[test]
    fn query_options_take_opt_prefix_and_legacy_names() {
        let p = parts("/hub/spawn?opt-profile=gpu-fen-qu&opt-profile-option-gpu-fen-qu--image=P100x1&next=%2Fx", None);
        let options = query_options(&p).unwrap_or_default();
        assert_eq!(options.get("profile").and_then(|v| v.as_str()), Some("gpu-fen-qu"));
        assert_eq!(options.get("image").and_then(|v| v.as_str()), Some("P100x1"));
        let legacy =
            query_options(&parts("/hub/spawn?profile=cpu&profile-option-cpu--image=lab9", None)).unwrap_or_default();
        assert_eq!(legacy.get("image").and_then(|v| v.as_str()), Some("lab9"));
        assert!(query_options(&parts("/hub/spawn?next=%2Fx&_xsrf=t", None)).is_none());
    }
}
