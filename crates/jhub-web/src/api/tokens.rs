//! `/users/{name}/tokens` and `/users/{name}/tokens/{token_id}` (JupyterHub
//! `UserTokenListAPIHandler`, `UserTokenAPIHandler`; jupyterhub-compat §2.5).
//!
//! Creating a token needs `tokens` on the target user, checked here rather
//! than by the route table (like JupyterHub), because an unauthenticated
//! request may authenticate in the body (`{"auth": {"username", "password"}}`).

use super::Authorized;
use super::body::JsonBody;
use super::common::{empty_text, json_response};
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::models::{self, Json};
use crate::throttle;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use jhub_core::rbac::{Resource, Scope};
use jhub_hub::tokens::TokenRequest;
use jhub_hub::{HubError, Principal};
use serde_json::Value;

fn require_user(app: &App, user: &str) -> ApiResult<()> {
    if app.hub.read().user(user).is_some() { Ok(()) } else { Err(ApiError::not_found(format!("No such user: {user}"))) }
}

/// `GET /users/{name}/tokens`: `{"api_tokens": [...]}`, oldest activity first.
pub async fn list(State(app): State<App>, _auth: Authorized, Path(name): Path<String>) -> ApiResult<Response> {
    require_user(&app, &name)?;
    let mut tokens = app.hub.list_tokens(&name).await?;
    tokens.sort_by_key(|t| (t.last_activity.unwrap_or(t.created), t.id));
    let mut out = Json::with_capacity(tokens.len() * 400 + 32);
    out.begin_object();
    out.key("api_tokens").begin_array();
    for token in &tokens {
        out.item();
        models::write_token(&mut out, &app, token, None);
    }
    out.end_array();
    out.end_object();
    Ok(json_response(StatusCode::OK, out.into_bytes()))
}

fn not_found(id: &str, user: &str) -> ApiError {
    ApiError::not_found(format!("No such token {id} for user {user}"))
}

fn find_token(token_id: &str, user: &str) -> ApiResult<i64> {
    jhub_core::token::parse_token_id(token_id).ok_or_else(|| not_found(token_id, user))
}

/// `GET /users/{name}/tokens/{token_id}`.
pub async fn get(
    State(app): State<App>,
    _auth: Authorized,
    Path((name, token_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    require_user(&app, &name)?;
    let id = find_token(&token_id, &name)?;
    let token = app.hub.get_token(&name, id).await.map_err(|err| match err {
        HubError::NotFound(_) => not_found(&token_id, &name),
        other => other.into(),
    })?;
    let mut out = Json::with_capacity(512);
    models::write_token(&mut out, &app, &token, None);
    Ok(json_response(StatusCode::OK, out.into_bytes()))
}

/// `DELETE /users/{name}/tokens/{token_id}`: 204; an OAuth token takes the
/// user's other tokens from the same client with it.
pub async fn delete(
    State(app): State<App>,
    _auth: Authorized,
    Path((name, token_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    require_user(&app, &name)?;
    let id = find_token(&token_id, &name)?;
    app.hub.delete_token(&name, id).await.map_err(|err| match err {
        HubError::NotFound(_) => not_found(&token_id, &name),
        other => other.into(),
    })?;
    tracing::info!(user = %name, token = %token_id, "deleted token");
    Ok(empty_text(StatusCode::NO_CONTENT))
}

fn optional_string_list(body: &serde_json::Map<String, Value>, key: &str) -> ApiResult<Option<Vec<String>>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            Ok(Some(items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()))
        }
        Some(other) => {
            Err(ApiError::bad_request(format!("token {key} must be null or a list of strings, not {other}")))
        }
    }
}

/// `POST /users/{name}/tokens`.
pub async fn create(
    State(app): State<App>,
    auth: Authorized,
    Path(name): Path<String>,
    parts: axum::http::request::Parts,
    body: JsonBody<Value>,
) -> ApiResult<Response> {
    let body = match body.0 {
        None => serde_json::Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(ApiError::bad_request("Body must be a JSON dict or empty")),
    };
    if let Some(unknown) =
        body.keys().find(|k| !matches!(k.as_str(), "note" | "expires_in" | "roles" | "scopes" | "auth"))
    {
        return Err(ApiError::bad_request(format!(
            "Unexpected field '{unknown}'; supported fields: auth, expires_in, note, roles, scopes"
        )));
    }
    // Who asks: the request's credentials, or the authenticator on `auth`.
    let requester: Principal = match &auth.identity {
        Some(identity) => identity.principal.clone(),
        None => {
            let (Some(username), Some(password)) = (
                body.get("auth").and_then(|a| a.get("username")).and_then(Value::as_str),
                body.get("auth").and_then(|a| a.get("password")).and_then(Value::as_str),
            ) else {
                return Err(ApiError::forbidden(jhub_core::rbac::MISSING_CREDENTIALS_MESSAGE));
            };
            let password = secrecy::SecretString::from(password.to_string());
            let (user_key, client) = (throttle::user_key(username), throttle::client_key(&parts));
            let slot = match app.throttle.admit(&user_key, &client, app.hub.now().as_second()).await {
                Ok(slot) => slot,
                Err(refusal) => {
                    tracing::info!(username = %crate::throttle::loggable(username), client = %crate::throttle::loggable(&client), ?refusal, "token request throttled");
                    let mut error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, refusal.message());
                    error.retry_after = Some(refusal.retry_after());
                    return Err(error);
                }
            };
            let checked = app.auth.authenticate_form(username, &password).await;
            drop(slot);
            let outcome = match checked {
                Ok(outcome) => {
                    app.throttle.succeeded(&user_key);
                    outcome
                }
                Err(err) => {
                    if matches!(err, jhub_auth::AuthError::InvalidCredentials) {
                        app.throttle.failed(&user_key, &client, app.hub.now().as_second());
                    }
                    return Err(ApiError::bare(StatusCode::FORBIDDEN));
                }
            };
            app.hub.principal_for(&outcome.name).ok_or_else(|| ApiError::bare(StatusCode::FORBIDDEN))?
        }
    };
    let requester_scopes = match (&auth.identity, &requester) {
        (Some(identity), _) => identity.scopes.clone(),
        (None, Principal::User { id, .. }) => {
            app.hub.user_scopes(*id).ok_or_else(|| ApiError::bare(StatusCode::FORBIDDEN))?
        }
        (None, Principal::Service { .. }) => return Err(ApiError::bare(StatusCode::FORBIDDEN)),
    };
    let kind = match requester {
        Principal::User { .. } => "user",
        Principal::Service { .. } => "service",
    };
    let allowed = {
        let state = app.hub.read();
        state.user(&name).is_some() && requester_scopes.allows(Scope::Tokens, Resource::User(&name), &*state)
    };
    if !allowed {
        let title = if kind == "user" { "User" } else { "Service" };
        return Err(ApiError::forbidden(format!("{title} {name} not found or no permissions to generate tokens")));
    }
    let note = match body.get("note") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()).filter(|s| !s.is_empty()),
        Some(other) => return Err(ApiError::bad_request(format!("token note must be a string, not {other}"))),
    };
    let self_request = matches!(&requester, Principal::User { name: me, .. } if *me == name);
    let note = note.unwrap_or_else(|| {
        if self_request {
            "Requested via api".to_string()
        } else {
            format!("Requested via api by {kind} {}", requester.name())
        }
    });
    let roles = optional_string_list(&body, "roles")?;
    let scopes = optional_string_list(&body, "scopes")?;
    let expires_in = match body.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => match n.as_i64() {
            Some(v) if v >= 1 => Some(v as u64),
            _ => match n.as_u64() {
                Some(v) if v >= 1 => Some(v),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "expires_in must be a positive integer or null, not {n}"
                    )));
                }
            },
        },
        Some(other) => {
            return Err(ApiError::bad_request(format!("token expires_in must be null or integer, not {other}")));
        }
    };
    if let (Some(max), Some(requested)) = (app.hub.settings().token_expires_in_max, expires_in)
        && requested > max.as_secs()
    {
        return Err(ApiError::bad_request(format!("token expires_in: {requested} must not exceed {}", max.as_secs())));
    }
    let scopes = match (roles, scopes) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("Can only assign one of scopes or roles when creating tokens."));
        }
        (Some(roles), None) => {
            let table = app.hub.rbac().roles();
            let mut scopes = Vec::new();
            for role in &roles {
                let role = table.get(role).ok_or_else(|| ApiError::bad_request(format!("No such role: {role}")))?;
                scopes.extend(role.scopes.to_strings());
            }
            Some(scopes)
        }
        (None, scopes) => scopes,
    };
    let issued =
        app.hub.create_token(&name, TokenRequest { note: Some(note), expires_in, scopes, session_id: None }).await?;
    tracing::info!(requester = %requester.name(), user = %name, token = issued.token.id, "issued API token");
    let mut out = Json::with_capacity(768);
    models::write_token(&mut out, &app, &issued.token, Some(&issued.secret));
    Ok(json_response(StatusCode::CREATED, out.into_bytes()))
}
