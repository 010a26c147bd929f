//! `GET /hub/api/jhub/capacity` (jhub's own; any authenticated caller): for
//! each option of the profiles the caller may use that requests an extended
//! resource (GPUs), how many servers fit on the cluster now, what one
//! requests and the nodes it may run on. `{"available": false, "options": []}`
//! when the hub cannot tell (no permission to watch nodes, still loading,
//! no Kubernetes spawner): never an error.
//!
//! Read from the in-memory capacity view; the spawn page polls it.

use super::Authorized;
use crate::app::App;
use crate::error::ApiResult;
use axum::Json;
use axum::extract::State;
use jhub_hub::Principal;
use serde_json::{Value, json};

/// The handler label in `jupyterhub_request_duration_seconds`.
pub const HANDLER: &str = "jhub.apihandlers.capacity.CapacityAPIHandler";

/// Text shown next to an option: `3 free` / `none free, you will wait`.
pub fn label(free: u64) -> String {
    if free == 0 { "none free, you will wait".to_string() } else { format!("{free} free") }
}

/// The key the spawn page marks an option with: `profile|option|choice`
/// (`profile||` for a profile without options).
pub fn key(profile: &str, option: Option<&str>, choice: Option<&str>) -> String {
    format!("{profile}|{}|{}", option.unwrap_or(""), choice.unwrap_or(""))
}

pub async fn capacity(State(app): State<App>, auth: Authorized) -> ApiResult<Json<Value>> {
    let identity = auth.identity()?;
    let groups = match &identity.principal {
        Principal::User { name, .. } => app.groups_of(name),
        Principal::Service { .. } => Vec::new(),
    };
    Ok(Json(match app.capacity_for(&groups) {
        None => json!({"available": false, "options": []}),
        Some(report) => {
            let options: Vec<Value> = report
                .options
                .iter()
                .map(|o| {
                    let mut v = json!(o);
                    v["key"] = json!(key(&o.profile, o.option.as_deref(), o.choice.as_deref()));
                    v["label"] = json!(label(o.free));
                    v
                })
                .collect();
            json!({"available": true, "options": options})
        }
    }))
}
