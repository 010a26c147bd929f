//! `/hub/api/jhub/users/{name}/storage...`: jhub's own storage endpoints
//! (issue 16), scope `admin:servers` on the user:
//!
//! - `GET .../storage`: the volume (`pvc`, `capacity` from status, `requested`
//!   from spec, `used_bytes`, `storage_class`, `expandable`, `resize_pending`,
//!   `snapshots`, `snapshots_supported`); 404 when the user has no PVC.
//! - `POST .../storage/resize` `{"capacity": "20Gi"}`: grow; 400 for a shrink
//!   or a bad size, 409 when the class cannot expand.
//! - `POST .../storage/snapshots`: a snapshot now (201); 409 without snapshot support.
//! - `POST .../storage/restore` `{"snapshot": name}`: 409 while a server runs.
//! - `GET .../storage/export`: the PV and PVC objects (`?format=yaml` or
//!   `Accept: application/yaml` for YAML).

use super::Authorized;
use super::body::JsonBody;
use super::common::json_response;
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use jhub_core::ports::{StorageInfo, VolumeSnapshot};
use serde::Deserialize;
use serde_json::{Value, json};

/// The handler label in `jupyterhub_request_duration_seconds`.
pub const HANDLER: &str = "jhub.apihandlers.storage.StorageAPIHandler";

#[derive(Debug, Deserialize)]
pub struct UserPath {
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResizeBody {
    pub capacity: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreBody {
    pub snapshot: String,
}

/// A snapshot as the API shows it.
pub fn snapshot_json(s: &VolumeSnapshot) -> Value {
    json!({
        "name": s.name,
        "created": s.created,
        "ready_to_use": s.ready_to_use,
        "size": s.size,
        "kind": s.kind.map(|k| k.as_str()),
        "error": s.error,
    })
}

/// The volume as the API shows it (the contract the admin page reads).
pub fn info_json(info: &StorageInfo) -> Value {
    json!({
        "pvc": info.pvc,
        "capacity": info.capacity,
        "requested": info.requested,
        "used_bytes": info.used_bytes,
        "storage_class": info.storage_class,
        "expandable": info.expandable,
        "resize_pending": info.resize_pending,
        "resize_message": info.resize_pending.then_some("restart the server to finish the resize"),
        "snapshots": info.snapshots.iter().map(snapshot_json).collect::<Vec<_>>(),
        "snapshots_supported": info.snapshots_supported,
    })
}

fn ok(status: StatusCode, body: &Value) -> Response {
    json_response(status, serde_json::to_vec(body).unwrap_or_default())
}

fn who(auth: &Authorized) -> String {
    auth.identity.as_ref().map(|i| i.principal.name().to_string()).unwrap_or_default()
}

pub async fn get(State(app): State<App>, _auth: Authorized, Path(path): Path<UserPath>) -> ApiResult<Response> {
    let info = app.hub.storage_info(&path.name).await?;
    Ok(ok(StatusCode::OK, &info_json(&info)))
}

pub async fn resize(
    State(app): State<App>,
    auth: Authorized,
    Path(path): Path<UserPath>,
    body: JsonBody<Value>,
) -> ApiResult<Response> {
    let value = body.required("give the new size: {\"capacity\": \"20Gi\"}")?;
    let request: ResizeBody = super::body::from_value(value)?;
    let info = app.hub.storage_resize(&path.name, &request.capacity, &who(&auth)).await?;
    Ok(ok(StatusCode::OK, &info_json(&info)))
}

pub async fn snapshot(State(app): State<App>, auth: Authorized, Path(path): Path<UserPath>) -> ApiResult<Response> {
    let snap = app.hub.storage_snapshot(&path.name, &who(&auth)).await?;
    Ok(ok(StatusCode::CREATED, &snapshot_json(&snap)))
}

pub async fn restore(
    State(app): State<App>,
    auth: Authorized,
    Path(path): Path<UserPath>,
    body: JsonBody<Value>,
) -> ApiResult<Response> {
    let value = body.required("name the snapshot: {\"snapshot\": \"<name>\"}")?;
    let request: RestoreBody = super::body::from_value(value)?;
    let restored = app.hub.storage_restore(&path.name, &request.snapshot, &who(&auth)).await?;
    let body = json!({
        "pvc": restored.pvc,
        "snapshot": restored.snapshot,
        "safety_snapshot": restored.safety_snapshot,
        "message": "the volume was replaced; the next start of the server uses it",
    });
    Ok(ok(StatusCode::OK, &body))
}

fn wants_yaml(uri: &Uri, headers: &HeaderMap) -> bool {
    let query = super::query::QueryArgs::from_uri(uri);
    query.get("format") == Some("yaml")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.to_ascii_lowercase().contains("yaml"))
}

pub async fn export(
    State(app): State<App>,
    _auth: Authorized,
    Path(path): Path<UserPath>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let objects = app.hub.storage_export(&path.name).await?;
    if wants_yaml(&uri, &headers) {
        let text = serde_saphyr::to_string(&objects).map_err(|e| ApiError::internal(format!("writing YAML: {e}")))?;
        let mut response = (StatusCode::OK, text).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/yaml; charset=utf-8"));
        return Ok(response);
    }
    Ok(ok(StatusCode::OK, &objects))
}
