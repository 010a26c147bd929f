//! `GET /hub/api/jhub/users/{name}/server/details` and
//! `…/servers/{server_name}/details` (scope `read:servers`, jhub's own):
//! what JupyterHub's server model lacks and the admin page shows — the
//! profile, GPUs (count and resource name), CPU and memory requested and the
//! node of the server's current or last run (from `ServerEntry::resources`,
//! what the spawner reported), the progress log of its current or last
//! spawn, and its recent entries in the server event log.

use super::Authorized;
use super::common::json_response;
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use jhub_core::time::isoformat;
use jhub_hub::SpawnOutcome;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The handler label in `jupyterhub_request_duration_seconds`.
pub const HANDLER: &str = "jhub.apihandlers.admin.ServerDetailsAPIHandler";

/// How far back the event log is read, and how much of it is returned.
const EVENTS_SINCE_DAYS: i64 = 30;
const EVENTS_KEEP: usize = 50;
const EVENTS_SCAN: usize = 20_000;

/// A GPU model from the node selector the spawner applied, when it names
/// one (e.g. `nvidia.com/gpu.product: NVIDIA-A100-SXM4-40GB`).
fn gpu_model(resources: &Value) -> Option<String> {
    let selector = resources.get("node_selector").and_then(Value::as_object)?;
    selector
        .iter()
        .find(|(key, _)| {
            let key = key.to_ascii_lowercase();
            key.contains("gpu") && (key.contains("product") || key.contains("model") || key.contains("type"))
        })
        .and_then(|(_, value)| value.as_str().map(str::to_string))
}

/// `GET …/details`.
pub async fn details(
    State(app): State<App>,
    auth: Authorized,
    Path(params): Path<HashMap<String, String>>,
) -> ApiResult<Response> {
    auth.identity()?;
    let user = params.get("name").cloned().unwrap_or_default();
    let server = params.get("server_name").cloned().unwrap_or_default();
    // Everything from memory first; the lock is released before the log is read.
    let (mut body, progress) = {
        let state = app.hub.read();
        let entry = state.user(&user).ok_or_else(|| ApiError::not_found(format!("No such user: {user}")))?;
        let slot = entry
            .servers
            .get(&server)
            .ok_or_else(|| ApiError::not_found(format!("{user} has no server named '{server}'")))?;
        let user_options = slot.server.user_options.clone();
        let resources = slot.resources.clone().unwrap_or(Value::Null);
        let requested = jhub_core::usage::requested(&resources, &user_options);
        let status = match (slot.ready(), slot.pending()) {
            (true, _) => "ready".to_string(),
            (false, Some(pending)) => pending.as_str().to_string(),
            (false, None) => "stopped".to_string(),
        };
        let body = json!({
            "user": user,
            "server": server,
            "status": status,
            "profile": requested.profile,
            "user_options": user_options,
            "node": (!requested.node.is_empty()).then_some(requested.node.clone()),
            "gpus": requested.gpus.iter().map(|(name, count)| json!({"resource": name, "count": count})).collect::<Vec<_>>(),
            "gpu_total": requested.gpu_total(),
            "gpu_model": gpu_model(&resources),
            "cpu": requested.cpu,
            "mem_bytes": requested.mem_bytes,
            "resources": resources,
            "last_failure": slot.last_failure.as_ref().map(|f| json!({"message": f.message, "at": isoformat(f.at)})),
        });
        (body, slot.progress.snapshot())
    };
    let events: Vec<Value> =
        progress.events.iter().map(|e| json!({"progress": e.progress, "message": e.message})).collect();
    let outcome = match &progress.outcome {
        None => Value::Null,
        Some(SpawnOutcome::Ready { .. }) => json!("ready"),
        Some(SpawnOutcome::Failed { .. }) => json!("failed"),
    };
    let since = app
        .hub
        .now()
        .checked_sub(jiff::SignedDuration::from_hours(24 * EVENTS_SINCE_DAYS))
        .unwrap_or(jhub_core::Timestamp::MIN);
    let log = app.hub.recent_server_events(&user, &server, since, EVENTS_KEEP, EVENTS_SCAN).await?;
    let log: Vec<Value> = log
        .iter()
        .map(|e| {
            json!({
                "kind": e.kind.as_str(),
                "at": isoformat(e.at),
                "reason": e.detail.get("reason").cloned().unwrap_or(Value::Null),
                "node": e.detail.get("node").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    if let Value::Object(map) = &mut body {
        map.insert("progress".into(), json!({"events": events, "outcome": outcome}));
        map.insert("events".into(), Value::Array(log));
    }
    let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::internal(format!("details: {e}")))?;
    Ok(json_response(StatusCode::OK, bytes))
}
