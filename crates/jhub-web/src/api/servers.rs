//! Single-user servers: `/users/{name}/server`,
//! `/users/{name}/servers/{server_name}` (GET/PUT/POST/PATCH/DELETE) and
//! their `progress` event streams (JupyterHub `UserServerAPIHandler`,
//! `SpawnProgressAPIHandler`; jupyterhub-compat §2.4, §7).
//!
//! POST answers 201 when the spawn finished within `slow_spawn_timeout`,
//! else 202; DELETE answers 204 when stopped within `slow_stop_timeout`,
//! else 202 — both with an empty `text/plain` body. The default server is
//! the empty name, also reachable as `/users/{name}/servers/`.

use super::Authorized;
use super::body::JsonBody;
use super::common::{empty_text, json_response};
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::models::{self, Json};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jhub_core::names::validate_server_name;
use jhub_core::ports::ProgressEvent;
use jhub_core::spawn::Phase;
use jhub_hub::{ProgressSnapshot, ServerEdit, SpawnCommand, SpawnOutcome, StopReason};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::time::Duration;
use unicode_normalization::UnicodeNormalization;

/// `{name}` and the optional `{server_name}` of a server route.
#[derive(Debug, Deserialize)]
pub struct ServerPath {
    name: String,
    #[serde(default)]
    server_name: String,
}

fn log_name(user: &str, server: &str) -> String {
    if server.is_empty() { user.to_string() } else { format!("{user}:{server}") }
}

/// Characters JupyterHub refuses in display names: whitespace other than
/// the space, control and format characters, private-use and noncharacters
/// (Python's unicodedata categories Z*, C* except U+0020).
fn forbidden_display_char(c: char) -> bool {
    if c == ' ' {
        return false;
    }
    let cp = c as u32;
    c.is_whitespace()
        || c.is_control()
        || matches!(cp,
            0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2 | 0x180E
            | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF
            | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F
            | 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD
            | 0xFDD0..=0xFDEF)
        || (cp & 0xFFFE) == 0xFFFE
}

/// JupyterHub 6 `is_valid_display_name` (after NFC normalisation).
pub fn valid_display_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=255).contains(&n)
        && !name.contains("  ")
        && !name.starts_with(' ')
        && !name.ends_with(' ')
        && !name.chars().any(forbidden_display_char)
}

/// `_check_named_server_request`: named servers on, the per-user limit (for
/// new servers), and valid names for servers that do not exist yet.
fn check_named_request(app: &App, user: &str, server: &str, display_name: &str, check_limit: bool) -> ApiResult<()> {
    let settings = app.hub.settings();
    if !settings.allow_named_servers {
        return Err(ApiError::bad_request("Named servers are not enabled."));
    }
    let state = app.hub.read();
    let entry = state.user(user).ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
    let exists = entry.servers.contains_key(server);
    let limit = settings.named_server_limit_per_user;
    if check_limit && limit > 0 && !exists {
        let named = entry.servers.keys().filter(|n| !n.is_empty()).count();
        if named >= limit as usize {
            return Err(ApiError::bad_request(format!(
                "User {user} already has the maximum of {limit} named servers.  One must be deleted before a new server can be created"
            )));
        }
    }
    if !exists {
        if validate_server_name(server).is_err() {
            return Err(ApiError::bad_request(format!("Invalid server_name: {server}")));
        }
        let display: String = display_name.nfc().collect();
        if !valid_display_name(&display) {
            return Err(ApiError::bad_request(format!("Invalid display_name: {display}")));
        }
    }
    Ok(())
}

/// The body of POST/PUT: `{"display_name"?, "user_options"?}`, or (before
/// JupyterHub 6) the whole body as `user_options`.
#[derive(Debug, Default)]
struct ServerRequest {
    display_name: Option<String>,
    /// `None`: reuse the options of the last spawn.
    user_options: Option<Value>,
}

fn server_request(body: Option<Value>) -> ApiResult<ServerRequest> {
    let Some(body) = body else { return Ok(ServerRequest::default()) };
    let Value::Object(mut map) = body else {
        return Err(ApiError::bad_request("Body must be a JSON object"));
    };
    if map.is_empty() {
        // JupyterHub treats a falsy body like no body.
        return Ok(ServerRequest::default());
    }
    if let Some(display_name) = map.get("display_name")
        && !display_name.is_string()
    {
        return Err(ApiError::bad_request("display_name must be a string"));
    }
    if let Some(options) = map.get("user_options")
        && !(options.is_null() || options.is_object())
    {
        return Err(ApiError::bad_request("user_options must be an object or null"));
    }
    if !map.contains_key("display_name") && !map.contains_key("user_options") {
        return Ok(ServerRequest { display_name: None, user_options: Some(Value::Object(map)) });
    }
    let display_name = match map.remove("display_name") {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let user_options = match map.remove("user_options") {
        Some(Value::Null) | None => None,
        Some(options) => Some(options),
    };
    Ok(ServerRequest { display_name, user_options })
}

fn require_user(app: &App, user: &str) -> ApiResult<()> {
    if app.hub.read().user(user).is_some() { Ok(()) } else { Err(ApiError::bare(StatusCode::NOT_FOUND)) }
}

fn server_model_bytes(
    app: &App,
    user: &str,
    server: &str,
    scopes: &jhub_core::rbac::ExpandedScopes,
) -> ApiResult<Vec<u8>> {
    let state = app.hub.read();
    let slot =
        state.user(user).and_then(|e| e.servers.get(server)).ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
    let with_state = scopes.server_state_visible(user, server, &*state);
    let mut out = Json::with_capacity(512);
    models::write_server(&mut out, app, user, slot, with_state);
    Ok(out.into_bytes())
}

/// `GET .../server(s/{server_name})`: the server model (6.0), also for
/// stopped servers.
pub async fn get(State(app): State<App>, auth: Authorized, Path(path): Path<ServerPath>) -> ApiResult<Response> {
    let identity = auth.identity()?;
    require_user(&app, &path.name)?;
    let body = server_model_bytes(&app, &path.name, &path.server_name, &identity.scopes)?;
    Ok(json_response(StatusCode::OK, body))
}

/// `PUT .../servers/{server_name}`: create a named server without starting it.
pub async fn put(
    State(app): State<App>,
    auth: Authorized,
    Path(path): Path<ServerPath>,
    body: JsonBody<Value>,
) -> ApiResult<Response> {
    let identity = auth.identity()?;
    let (user, server) = (path.name.as_str(), path.server_name.as_str());
    require_user(&app, user)?;
    if server.is_empty() {
        return Err(ApiError::conflict(format!("User {user} already has a default server")));
    }
    if app.hub.read().user(user).is_some_and(|e| e.servers.contains_key(server)) {
        return Err(ApiError::conflict(format!("User {user} already has server {server}")));
    }
    let request = server_request(body.0)?;
    let display_name = request.display_name.filter(|d| !d.is_empty()).unwrap_or_else(|| server.to_string());
    check_named_request(&app, user, server, &display_name, true)?;
    let display_name: String = display_name.nfc().collect();
    let options = request.user_options.filter(|o| o.as_object().is_some_and(|m| !m.is_empty()));
    app.hub.create_server(user, server, &display_name, options).await?;
    let body = server_model_bytes(&app, user, server, &identity.scopes)?;
    Ok(json_response(StatusCode::CREATED, body))
}

/// `POST .../server(s/{server_name})`: start it; 201 ready, 202 pending.
pub async fn post(
    State(app): State<App>,
    _auth: Authorized,
    Path(path): Path<ServerPath>,
    body: JsonBody<Value>,
) -> ApiResult<Response> {
    let (user, server) = (path.name.as_str(), path.server_name.as_str());
    require_user(&app, user)?;
    let request = server_request(body.0)?;
    let display_name = if server.is_empty() {
        None
    } else {
        let display = request.display_name.clone().filter(|d| !d.is_empty()).unwrap_or_else(|| server.to_string());
        check_named_request(&app, user, server, &display, true)?;
        request.display_name.filter(|d| !d.is_empty()).map(|d| d.nfc().collect::<String>())
    };
    if let Some(slot) = app.hub.read().user(user).and_then(|e| e.servers.get(server)) {
        match &slot.phase {
            Phase::Spawning(_) => return Ok(empty_text(StatusCode::ACCEPTED)),
            Phase::Stopping => {
                return Err(ApiError::bad_request(format!("{} is pending stop", log_name(user, server))));
            }
            Phase::Running => {
                return Err(ApiError::bad_request(format!("{} is already running", log_name(user, server))));
            }
            Phase::Stopped => {}
        }
    }
    let command = SpawnCommand {
        user: user.to_string(),
        server: server.to_string(),
        user_options: request.user_options,
        display_name,
    };
    // `refresh_pre_spawn`: ask the authenticator first; a user removed from
    // the allowed GitLab group cannot start anything.
    match crate::pages::session::pre_spawn_refresh(&app, user).await {
        Ok(()) => {}
        Err(crate::pages::session::PreSpawnRefusal::MustLogin { reason, .. }) => {
            return Err(ApiError::forbidden(format!("{user} must log in again before starting a server: {reason}")));
        }
        Err(crate::pages::session::PreSpawnRefusal::Unavailable { message }) => {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message));
        }
    }
    let mut ticket = app.hub.spawn(command).await?;
    // Pending already, or waiting in the spawn queue: nothing to wait for.
    if ticket.already_pending || ticket.queued {
        return Ok(empty_text(StatusCode::ACCEPTED));
    }
    match ticket.wait(app.settings.slow_spawn_timeout).await {
        Some(SpawnOutcome::Ready { .. }) => Ok(empty_text(StatusCode::CREATED)),
        None => Ok(empty_text(StatusCode::ACCEPTED)),
        Some(SpawnOutcome::Failed { message }) => Err(ApiError::internal(message)),
    }
}

/// `PATCH .../server(s/{server_name})`: rename, `display_name`,
/// `user_options` of a stopped server.
pub async fn patch(
    State(app): State<App>,
    auth: Authorized,
    Path(path): Path<ServerPath>,
    body: JsonBody<Value>,
) -> ApiResult<Response> {
    let identity = auth.identity()?;
    let (user, server) = (path.name.as_str(), path.server_name.as_str());
    require_user(&app, user)?;
    let map = match body.0 {
        None => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(ApiError::bad_request("Body must be a JSON object")),
    };
    if map.is_empty() {
        return Err(ApiError::bad_request("Must specify at least one field to modify."));
    }
    // JupyterHub 6.1.1 answers 500 here (a bug); the intent is this 400.
    let mut unexpected: Vec<&str> =
        map.keys().map(String::as_str).filter(|k| !matches!(*k, "name" | "display_name" | "user_options")).collect();
    if !unexpected.is_empty() {
        unexpected.sort_unstable();
        return Err(ApiError::bad_request(format!(
            "Unexpected fields: {}, supported fields: display_name,name,user_options",
            unexpected.join(",")
        )));
    }
    let new_name = match map.get("name") {
        None => None,
        Some(Value::String(name)) => Some(name.clone()),
        Some(_) => return Err(ApiError::bad_request("name must be a string")),
    };
    let display_name = match map.get("display_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(d)) => Some(d.clone()),
        Some(_) => return Err(ApiError::bad_request("display_name must be a string")),
    };
    let user_options = match map.get("user_options") {
        None => None,
        Some(Value::Object(o)) => Some(Value::Object(o.clone())),
        Some(_) => return Err(ApiError::bad_request("user_options must be a dict")),
    };
    // A rename without a display name also renames the display name.
    let effective_display = display_name.clone().or_else(|| new_name.clone());
    if let Some(new_name) = &new_name {
        check_named_request(&app, user, new_name, effective_display.as_deref().unwrap_or(new_name), server.is_empty())?;
    } else if let Some(display) = effective_display.as_deref().filter(|d| !d.is_empty()) {
        check_named_request(&app, user, server, display, false)?;
        let normalized: String = display.nfc().collect();
        if !valid_display_name(&normalized) {
            return Err(ApiError::bad_request(format!("Invalid display_name: {normalized}")));
        }
    }
    if app.hub.read().user(user).is_some_and(|e| !e.servers.contains_key(server)) {
        return Err(ApiError::not_found(format!("User {user} has no such server {server}")));
    }
    let edit = ServerEdit {
        new_name: new_name.clone(),
        display_name: effective_display.filter(|d| !d.is_empty()).map(|d| d.nfc().collect()),
        user_options,
    };
    let row = app.hub.edit_server(user, server, edit).await?;
    let body = server_model_bytes(&app, user, &row.name, &identity.scopes)?;
    Ok(json_response(StatusCode::OK, body))
}

/// `DELETE .../server(s/{server_name})`: stop (and with `{"remove": true}`
/// delete a named server); 204 stopped, 202 still stopping. The body is
/// read as JSON whatever its content type (the idle culler sends none).
pub async fn delete(
    State(app): State<App>,
    _auth: Authorized,
    Path(path): Path<ServerPath>,
    body: JsonBody<Value>,
) -> ApiResult<Response> {
    let (user, server) = (path.name.as_str(), path.server_name.as_str());
    require_user(&app, user)?;
    let remove = match &body.0 {
        None => false,
        Some(Value::Object(map)) => match map.get("remove") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(ApiError::bad_request("remove must be true or false")),
        },
        Some(_) => return Err(ApiError::bad_request("Body must be a JSON object")),
    };
    if !server.is_empty() {
        if !app.hub.settings().allow_named_servers {
            return Err(ApiError::bad_request("Named servers are not enabled."));
        }
        if app.hub.read().user(user).is_some_and(|e| !e.servers.contains_key(server)) {
            return Err(ApiError::not_found(format!("{user} has no server named '{server}'")));
        }
    } else if remove {
        return Err(ApiError::bad_request("Cannot delete the default server"));
    }
    let mut ticket = app.hub.stop(user, server, remove, StopReason::Requested).await?;
    match ticket.wait(app.settings.slow_stop_timeout).await {
        Some(Ok(())) => Ok(empty_text(StatusCode::NO_CONTENT)),
        None => Ok(empty_text(StatusCode::ACCEPTED)),
        Some(Err(message)) => Err(ApiError::internal(format!("Failed to stop {}: {message}", log_name(user, server)))),
    }
}

fn event_json(event: &ProgressEvent) -> Value {
    let mut map = Map::new();
    if let Some(progress) = event.progress {
        map.insert("progress".into(), Value::from(progress));
    }
    map.insert("message".into(), Value::String(event.message.clone()));
    if let Some(html) = &event.html_message {
        map.insert("html_message".into(), Value::String(html.clone()));
    }
    if let Some(raw) = &event.raw_event {
        map.insert("raw_event".into(), raw.clone());
    }
    Value::Object(map)
}

fn ready_event(url: &str) -> Value {
    serde_json::json!({
        "progress": 100,
        "ready": true,
        "message": format!("Server ready at {url}"),
        "html_message": format!("Server ready at <a href=\"{url}\">{url}</a>"),
        "url": url,
    })
}

fn failed_event(message: &str) -> Value {
    serde_json::json!({"progress": 100, "failed": true, "message": message})
}

fn sse(event: &Value) -> bytes::Bytes {
    bytes::Bytes::from(format!("data: {event}\n\n"))
}

/// Keepalive period of the progress stream (JupyterHub: 8 s).
const KEEPALIVE: Duration = Duration::from_secs(8);

/// What the stream starts from.
enum ProgressStart {
    Ready(String),
    Failed(String),
    Pending(tokio::sync::watch::Receiver<ProgressSnapshot>),
}

/// `GET .../progress`: `text/event-stream` of the spawn's events.
pub async fn progress(State(app): State<App>, _auth: Authorized, Path(path): Path<ServerPath>) -> ApiResult<Response> {
    let (user, server) = (path.name.as_str(), path.server_name.as_str());
    let start = {
        let state = app.hub.read();
        let entry = state.user(user).ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
        let slot = entry.servers.get(server).ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
        match &slot.phase {
            Phase::Running => ProgressStart::Ready(models::server_url(&app, user, server)),
            Phase::Spawning(_) => ProgressStart::Pending(slot.progress.subscribe()),
            Phase::Stopping | Phase::Stopped => match slot.progress.snapshot().outcome {
                Some(SpawnOutcome::Failed { message }) => ProgressStart::Failed(message),
                _ => return Err(ApiError::bad_request(format!("{} is not starting...", log_name(user, server)))),
            },
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(16);
    let ready_url = models::server_url(&app, user, server);
    let shutdown = app.hub.shutdown_token();
    tokio::spawn(async move {
        if tx.send(Ok(bytes::Bytes::from_static(b"\n\n"))).await.is_err() {
            return;
        }
        let mut rx_progress = match start {
            ProgressStart::Ready(url) => {
                let _ = tx.send(Ok(sse(&ready_event(&url)))).await;
                return;
            }
            ProgressStart::Failed(message) => {
                let _ = tx.send(Ok(sse(&failed_event(&message)))).await;
                return;
            }
            ProgressStart::Pending(rx) => rx,
        };
        let mut sent = 0usize;
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.tick().await;
        loop {
            let snapshot = rx_progress.borrow_and_update().clone();
            for event in snapshot.events.iter().skip(sent) {
                if tx.send(Ok(sse(&event_json(event)))).await.is_err() {
                    return;
                }
            }
            sent = snapshot.events.len();
            if let Some(outcome) = snapshot.outcome {
                let last = match outcome {
                    SpawnOutcome::Ready { .. } => ready_event(&ready_url),
                    SpawnOutcome::Failed { message } => failed_event(&message),
                };
                let _ = tx.send(Ok(sse(&last))).await;
                return;
            }
            tokio::select! {
                changed = rx_progress.changed() => {
                    if changed.is_err() {
                        let _ = tx.send(Ok(sse(&failed_event("Spawn failed")))).await;
                        return;
                    }
                }
                _ = keepalive.tick() => {
                    if tx.send(Ok(bytes::Bytes::from_static(b"\n\n"))).await.is_err() {
                        return;
                    }
                }
                _ = tx.closed() => return,
                _ = shutdown.cancelled() => return,
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        for good in ["GPU", "My server 2", "日本語", "a-b_c.d"] {
            assert!(valid_display_name(good), "{good:?}");
        }
        let long = "x".repeat(256);
        for bad in ["", " lead", "trail ", "two  spaces", "tab\tx", "nl\n", "zw\u{200B}sp", long.as_str()] {
            assert!(!valid_display_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn server_request_back_compat() {
        let r = server_request(Some(serde_json::json!({"profile": "gpu"}))).unwrap();
        assert_eq!(r.user_options, Some(serde_json::json!({"profile": "gpu"})));
        assert_eq!(r.display_name, None);
        let r = server_request(Some(serde_json::json!({"display_name": "X"}))).unwrap();
        assert_eq!((r.display_name.as_deref(), r.user_options), (Some("X"), None));
        let r = server_request(Some(serde_json::json!({"user_options": null}))).unwrap();
        assert_eq!(r.user_options, None);
        let r = server_request(None).unwrap();
        assert_eq!(r.user_options, None);
        assert!(server_request(Some(serde_json::json!([1]))).is_err());
        assert!(server_request(Some(serde_json::json!({"display_name": 1}))).is_err());
        assert!(server_request(Some(serde_json::json!({"user_options": "x"}))).is_err());
    }
}
