//! `GET /hub/api/` (version), `/info`, `/user` (whoami), `/shutdown`,
//! `/health`, `/metrics` and the deprecated `/authorizations/...` lookups
//! (JupyterHub `apihandlers/hub.py`, `SelfAPIHandler`, `apihandlers/auth.py`).

use super::Authorized;
use super::body::JsonBody;
use super::common::{empty_text, json_response};
use crate::app::App;
use crate::cookies::LOGIN_COOKIE;
use crate::error::{ApiError, ApiResult};
use crate::models::{self, Json};
use axum::Json as AxumJson;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::SignedCookieJar;
use jhub_core::rbac::{Scope, identify_scopes};
use jhub_hub::{Identity, Principal};
use serde_json::{Value, json};
use std::time::Duration;

/// `{"version": ...}`, public, with `Access-Control-Allow-Origin: *`.
pub async fn root(State(app): State<App>) -> impl IntoResponse {
    ([(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")], AxumJson(json!({"version": app.settings.jupyterhub_version})))
}

/// Versions of the hub and its parts. jhub runs no Python: `python` and
/// `sys_executable` describe the Rust process instead (clients read them as
/// opaque strings).
pub async fn info(State(app): State<App>) -> AxumJson<Value> {
    let executable = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
    AxumJson(json!({
        "version": app.settings.jupyterhub_version,
        "python": format!("jhub {} (Rust; no Python interpreter)", app.settings.jhub_version),
        "sys_executable": executable,
        "jhub": {"version": app.settings.jhub_version},
        "spawner": {"class": "jhub.KubeSpawner", "version": "7.1.0"},
        "authenticator": {"class": app.auth.login_service(), "version": app.settings.jhub_version},
    }))
}

/// The model of `principal` as `scopes` (plus the owner's identify scopes) allow.
fn identity_model(app: &App, principal: &Principal, scopes: &jhub_core::rbac::ExpandedScopes) -> Value {
    let visible = scopes.with_identify(principal.owner());
    match principal {
        Principal::User { name, .. } => {
            models::user_model(app, name, &visible, false).unwrap_or_else(|| json!({"kind": "user", "name": name}))
        }
        Principal::Service { name, .. } => {
            models::service_model(app, name, &visible).unwrap_or_else(|| json!({"kind": "service", "name": name}))
        }
    }
}

/// The caller's own model, filtered by the request's scopes, plus
/// `token_id`, `session_id` and `scopes` (the request's expanded scopes,
/// without the identify scopes added only to read the model).
pub async fn whoami(State(app): State<App>, auth: Authorized) -> ApiResult<AxumJson<Value>> {
    let identity = auth.identity()?;
    let mut model = identity_model(&app, &identity.principal, &identity.scopes);
    let mut scopes = identity.scopes.to_strings();
    scopes.sort();
    if let Value::Object(map) = &mut model {
        map.insert(
            "token_id".into(),
            identity.token.as_ref().map(|t| Value::String(format!("a{}", t.id))).unwrap_or(Value::Null),
        );
        map.insert("session_id".into(), identity.session_id.clone().map(Value::String).unwrap_or(Value::Null));
        map.insert("scopes".into(), json!(scopes));
    }
    Ok(AxumJson(model))
}

/// `POST /shutdown`: `{"proxy"?: bool, "servers"?: bool}` → 202, then the
/// hub stops (stopping every server first when `servers` is true).
pub async fn shutdown(State(app): State<App>, auth: Authorized, body: JsonBody<Value>) -> ApiResult<Response> {
    let identity = auth.identity()?;
    let mut stop_servers = false;
    match body.0 {
        None => {}
        Some(Value::Object(map)) => {
            for (key, value) in &map {
                let Some(flag) = value.as_bool() else {
                    return Err(ApiError::bad_request(format!("{key} must be true or false, got {value}")));
                };
                match key.as_str() {
                    "servers" => stop_servers = flag,
                    // jhub never starts the proxy itself (z2jh runs CHP as its own deployment).
                    "proxy" => {
                        if flag {
                            tracing::info!("shutdown: the proxy is not managed by this hub; leaving it running");
                        }
                    }
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "Unexpected field '{other}'; supported fields: proxy, servers"
                        )));
                    }
                }
            }
        }
        Some(_) => return Err(ApiError::bad_request("Body must be a JSON object")),
    }
    tracing::warn!(by = %identity.principal.name(), stop_servers, "shutdown requested through the API");
    let hub = app.hub.clone();
    let shutdown = app.shutdown.clone();
    tokio::spawn(async move {
        if stop_servers {
            let count = hub.stop_all_servers(Duration::from_secs(60)).await;
            tracing::info!(count, "stopped servers before shutdown");
        }
        shutdown.cancel();
    });
    let body = serde_json::to_vec(&json!({"message": "Shutting down Hub"})).unwrap_or_default();
    Ok(json_response(StatusCode::ACCEPTED, body))
}

/// `GET|HEAD /health`: 200, empty.
pub async fn health() -> Response {
    empty_text(StatusCode::OK)
}

/// `GET /metrics`: Prometheus text; needs `read:metrics` unless
/// `authenticate_prometheus` is off.
pub async fn metrics(State(app): State<App>, auth: Authorized) -> ApiResult<Response> {
    if !crate::pages::metrics::may_read_metrics(&app, auth.identity.as_ref()) {
        if auth.identity.is_none() {
            return Err(ApiError::missing_credentials());
        }
        return Err(ApiError::forbidden(jhub_core::rbac::forbidden_message(&[Scope::ReadMetrics])));
    }
    Ok(crate::pages::metrics::metrics_response(&app))
}

fn require_token_auth(auth: &Authorized) -> ApiResult<&Identity> {
    let identity = auth.identity()?;
    if identity.token.is_none() {
        // `@token_authenticated`: a browser cookie is not enough.
        return Err(ApiError::bare(StatusCode::FORBIDDEN));
    }
    Ok(identity)
}

/// `GET /authorizations/token/{token}` (deprecated, still served by 6.x):
/// the owner of a token, for any token-authenticated caller.
pub async fn token_owner(
    State(app): State<App>,
    auth: Authorized,
    Path(token): Path<String>,
) -> ApiResult<AxumJson<Value>> {
    let caller = require_token_auth(&auth)?;
    tracing::warn!("/authorizations/token/:token is deprecated since JupyterHub 2.0; use /hub/api/user");
    let owner = app.hub.authenticate_token(&token).await.ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
    let mut scopes = (*caller.scopes).clone();
    scopes.union_with(&identify_scopes(owner.principal.owner()));
    Ok(AxumJson(identity_model(&app, &owner.principal, &scopes)))
}

/// `POST /authorizations/token`: removed in JupyterHub 2.0, always 404.
pub async fn token_post_removed() -> ApiError {
    ApiError::not_found(
        "Deprecated endpoint /hub/api/authorizations/token is removed in JupyterHub 2.0. \
         Use /hub/api/users/:user/tokens instead.",
    )
}

/// `GET /authorizations/cookie/{cookie_name}/{cookie_value}` (deprecated):
/// the user behind a hub login cookie.
pub async fn cookie_owner(
    State(app): State<App>,
    auth: Authorized,
    Path((cookie_name, cookie_value)): Path<(String, String)>,
) -> ApiResult<Response> {
    let caller = require_token_auth(&auth)?;
    if cookie_name != LOGIN_COOKIE {
        return Err(ApiError::bare(StatusCode::NOT_FOUND));
    }
    let mut headers = HeaderMap::new();
    let Ok(value) = HeaderValue::from_str(&format!("{LOGIN_COOKIE}={cookie_value}")) else {
        return Err(ApiError::bare(StatusCode::NOT_FOUND));
    };
    headers.insert(header::COOKIE, value);
    let jar = SignedCookieJar::from_headers(&headers, app.cookie_key.clone());
    let cookie_id = jar
        .get(LOGIN_COOKIE)
        .and_then(|c| crate::cookies::parse_login_value(&app, c.value(), app.hub.now().as_second()))
        .ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
    let user = app.hub.authenticate_cookie(&cookie_id, None).ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
    let state = app.hub.read();
    let entry = state.user(user.principal.name()).ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
    let mut out = Json::with_capacity(512);
    if !models::write_user(&mut out, &app, &state, entry, &caller.scopes, false, None) {
        return Err(ApiError::bare(StatusCode::NOT_FOUND));
    }
    drop(state);
    Ok(json_response(StatusCode::OK, out.into_bytes()))
}
