//! `/services` and `/services/{name}` (JupyterHub `apihandlers/services.py`;
//! jupyterhub-compat §2.7): the list is an object keyed by service name;
//! services can be added and removed at run time (external ones only).

use super::Authorized;
use super::body::{self, JsonBody};
use super::common::{empty_json, json_response};
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::models::{self, Json};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use jhub_core::rbac::{ADMIN_SCOPES, Client, RawScope};
use jhub_hub::RuntimeService;
use serde_json::{Map, Value};

/// `GET /services`: `{name: model}` for the services the caller may list.
pub async fn list(State(app): State<App>, auth: Authorized) -> ApiResult<Response> {
    let identity = auth.identity()?;
    let listing = identity.scopes.service_listing();
    let state = app.hub.read();
    let mut out = Json::with_capacity(state.services.len() * 256 + 2);
    out.begin_object();
    for entry in state.services.values() {
        let name = entry.service.name.as_str();
        if !listing.includes_service(name) {
            continue;
        }
        let checkpoint = out.checkpoint();
        out.key(name);
        if !models::write_service(&mut out, &app, &state, name, &identity.scopes) {
            out.rollback(checkpoint);
        }
    }
    out.end_object();
    drop(state);
    Ok(json_response(StatusCode::OK, out.into_bytes()))
}

fn service_bytes(app: &App, name: &str, auth: &Authorized) -> ApiResult<Vec<u8>> {
    let identity = auth.identity()?;
    let state = app.hub.read();
    let mut out = Json::with_capacity(256);
    if !models::write_service(&mut out, app, &state, name, &identity.scopes) {
        return Err(ApiError::not_found(format!("No such service: {name}")));
    }
    Ok(out.into_bytes())
}

/// `GET /services/{name}`.
pub async fn get(State(app): State<App>, auth: Authorized, Path(name): Path<String>) -> ApiResult<Response> {
    Ok(json_response(StatusCode::OK, service_bytes(&app, &name, &auth)?))
}

/// JupyterHub's `_service_model_types`.
fn check_service_model(model: &Map<String, Value>) -> ApiResult<()> {
    for (key, value) in model {
        let (ok, expected) = match key.as_str() {
            "name" | "url" | "api_token" | "cwd" | "user" | "oauth_client_id" | "oauth_redirect_uri" => {
                (value.is_string(), "a string")
            }
            "admin" | "display" | "oauth_no_confirm" => (value.is_boolean(), "a boolean"),
            "oauth_client_allowed_scopes" | "command" => (value.is_array(), "a list"),
            "info" | "environment" => (value.is_object(), "an object"),
            _ => return Err(ApiError::bad_request(format!("Invalid JSON keys: unknown key '{key}'"))),
        };
        if !ok {
            return Err(ApiError::bad_request(format!(
                "service.{key} must be {expected}, not {}",
                body::type_name(value)
            )));
        }
    }
    Ok(())
}

/// `POST /services/{name}`: creates an external service (no `command`).
pub async fn create(
    State(app): State<App>,
    auth: Authorized,
    Path(name): Path<String>,
    body: JsonBody<Value>,
) -> ApiResult<Response> {
    let identity = auth.identity()?;
    if app.hub.read().service(&name).is_some() {
        return Err(ApiError::conflict(format!("Service {name} already exists")));
    }
    let mut model = match body.0 {
        Some(Value::Object(map)) if !map.is_empty() => map,
        _ => return Err(ApiError::bad_request("Invalid service data")),
    };
    model.insert("name".into(), Value::String(name.clone()));
    check_service_model(&model)?;
    if model.get("command").and_then(Value::as_array).is_some_and(|c| !c.is_empty()) {
        return Err(ApiError::bad_request(format!("Can not create managed service {name} at runtime")));
    }
    // Granting admin or OAuth scopes needs the caller to hold them.
    let mut requested: Vec<String> = Vec::new();
    if model.get("admin").and_then(Value::as_bool) == Some(true) {
        requested.extend(ADMIN_SCOPES.iter().map(|s| s.name().to_string()));
    }
    if let Some(scopes) = model.get("oauth_client_allowed_scopes") {
        requested.extend(body::string_list(scopes, "oauth_client_allowed_scopes")?);
    }
    if !requested.is_empty() {
        let raw = app.hub.rbac().parse(requested.iter()).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let raw: jhub_core::rbac::RawScopes = raw.iter().filter(|s| **s != RawScope::MetaInherit).cloned().collect();
        let state = app.hub.read();
        app.hub
            .rbac()
            .check_token_request(&raw, identity.principal.owner(), Client::Hub, &identity.scopes, &*state)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let string = |key: &str| model.get(key).and_then(Value::as_str).map(str::to_string);
    let spec = RuntimeService {
        name: name.clone(),
        admin: model.get("admin").and_then(Value::as_bool).unwrap_or(false),
        url: string("url").filter(|u| !u.is_empty()),
        api_token: string("api_token"),
        display: model.get("display").and_then(Value::as_bool).unwrap_or(true),
        oauth_no_confirm: model.get("oauth_no_confirm").and_then(Value::as_bool).unwrap_or(false),
        info: model.get("info").cloned().unwrap_or_else(|| Value::Object(Map::new())),
        oauth_redirect_uri: string("oauth_redirect_uri"),
    };
    app.hub.create_runtime_service(spec).await.map_err(|err| match err {
        jhub_hub::HubError::Invalid(message) => {
            ApiError::bad_request(format!("Failed to create service {name}: {message}"))
        }
        other => other.into(),
    })?;
    tracing::info!(service = %name, by = %identity.principal.name(), "created service");
    Ok(json_response(StatusCode::CREATED, service_bytes(&app, &name, &auth)?))
}

/// `DELETE /services/{name}`: 200 (JupyterHub answers 200 here, not 204);
/// 405 for services from configuration.
pub async fn delete(State(app): State<App>, _auth: Authorized, Path(name): Path<String>) -> ApiResult<Response> {
    match app.hub.service_from_config(&name) {
        None => return Err(ApiError::not_found(format!("Service {name} does not exist"))),
        Some(true) => {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("Service {name} is not modifiable at runtime"),
            ));
        }
        Some(false) => {}
    }
    app.hub.delete_service(&name).await?;
    tracing::info!(service = %name, "deleted service");
    Ok(empty_json(StatusCode::OK))
}
