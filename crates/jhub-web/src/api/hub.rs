//! `GET /hub/api/` (version), `/info`, `/user` (whoami).

use super::Authorized;
use crate::app::App;
use crate::error::ApiResult;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// `{"version": ...}`, public, with `Access-Control-Allow-Origin: *`.
pub async fn root(State(app): State<App>) -> impl IntoResponse {
    ([(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")], Json(json!({"version": app.settings.jupyterhub_version})))
}

/// Versions of the hub and its parts.
pub async fn info(State(app): State<App>) -> Json<Value> {
    Json(json!({
        "version": app.settings.jupyterhub_version,
        "python": null,
        "sys_executable": null,
        "jhub": {"version": app.settings.jhub_version},
        "spawner": {"class": "jhub.KubeSpawner", "version": "7.1.0"},
        "authenticator": {"class": app.auth.login_service(), "version": app.settings.jhub_version},
    }))
}

/// The caller's own model, filtered by the request's scopes, plus
/// `token_id`, `session_id` and `scopes`.
pub async fn whoami(State(app): State<App>, auth: Authorized) -> ApiResult<Json<Value>> {
    let identity = auth.identity()?;
    let scopes = identity.scopes.to_strings();
    let owner = identity.principal.owner();
    let visible = identity.scopes.with_identify(owner);
    let mut model = match &identity.principal {
        jhub_hub::Principal::User { name, .. } => crate::models::user_model(&app, name, &visible, false)
            .unwrap_or_else(|| json!({"kind": "user", "name": name})),
        jhub_hub::Principal::Service { name, .. } => crate::models::service_model(&app, name, &visible)
            .unwrap_or_else(|| json!({"kind": "service", "name": name})),
    };
    if let Value::Object(map) = &mut model {
        map.insert(
            "token_id".into(),
            identity.token.as_ref().map(|t| Value::String(format!("a{}", t.id))).unwrap_or(Value::Null),
        );
        map.insert("session_id".into(), identity.session_id.clone().map(Value::String).unwrap_or(Value::Null));
        map.insert("scopes".into(), json!(scopes));
    }
    Ok(Json(model))
}
