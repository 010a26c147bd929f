//! `/groups`, `/groups/{name}`, `/groups/{name}/users`,
//! `/groups/{name}/properties` (JupyterHub `apihandlers/groups.py`;
//! jupyterhub-compat §2.6).

use super::Authorized;
use super::body::{self, JsonBody};
use super::common::{json_response, normalize_username, paginated};
use super::query::{Page, QueryArgs};
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::models::{self, Json};
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use jhub_core::rbac::Listing;
use serde_json::{Map, Value};

fn no_such_group(name: &str) -> ApiError {
    ApiError::not_found(format!("No such group: {name}"))
}

fn require_group(app: &App, name: &str) -> ApiResult<()> {
    if app.hub.read().group(name).is_some() { Ok(()) } else { Err(no_such_group(name)) }
}

/// `_check_group_model`: keys `name` (string), `users`, `roles` (lists).
fn check_group_model(model: &Map<String, Value>) -> ApiResult<()> {
    for (key, value) in model {
        let ok = match key.as_str() {
            "name" => value.is_string(),
            "users" | "roles" => value.is_array(),
            _ => return Err(ApiError::bad_request(format!("Invalid JSON keys: unknown key '{key}'"))),
        };
        if !ok {
            return Err(ApiError::bad_request(format!(
                "group.{key} must be {}, not {}",
                if key == "name" { "a string" } else { "a list" },
                body::type_name(value)
            )));
        }
    }
    Ok(())
}

/// Usernames (normalised) that must all exist.
fn usernames(app: &App, value: Option<&Value>) -> ApiResult<Vec<String>> {
    let Some(value) = value else { return Ok(Vec::new()) };
    let names: Vec<String> = body::string_list(value, "usernames")?.iter().map(|n| normalize_username(n)).collect();
    let state = app.hub.read();
    if let Some(missing) = names.iter().find(|n| state.user(n).is_none()) {
        return Err(ApiError::bad_request(format!("No such user: {missing}")));
    }
    Ok(names)
}

fn group_bytes(app: &App, name: &str, auth: &Authorized) -> ApiResult<Vec<u8>> {
    let identity = auth.identity()?;
    let state = app.hub.read();
    let mut out = Json::with_capacity(256);
    if !models::write_group(&mut out, &state, name, &identity.scopes) {
        return Err(no_such_group(name));
    }
    Ok(out.into_bytes())
}

fn object_body(body: JsonBody<Value>) -> ApiResult<Option<Map<String, Value>>> {
    match body.0 {
        None => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid JSON data: expected an object, not {}",
            body::type_name(&other)
        ))),
    }
}

/// `GET /groups`: by id, paginated like `/users`.
pub async fn list(
    State(app): State<App>,
    auth: Authorized,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let identity = auth.identity()?;
    let args = QueryArgs::from_uri(&uri);
    let page = Page::from_request(&app, &headers, &args)?;
    let state = app.hub.read();
    let listing = identity.scopes.group_listing();
    if matches!(listing, Listing::Refused | Listing::Nothing) {
        return Err(ApiError::forbidden("Only group filters are supported for listing groups"));
    }
    let matched: Vec<&str> =
        state.groups.values().map(|g| g.group.name.as_str()).filter(|name| listing.includes_group(name)).collect();
    let total = matched.len();
    let mut out = Json::with_capacity(page.limit.min(matched.len()) * 200 + 2);
    out.begin_array();
    for name in matched.into_iter().skip(page.offset).take(page.limit) {
        out.optional_item(|out| models::write_group(out, &state, name, &identity.scopes));
    }
    out.end_array();
    drop(state);
    paginated(&page, total, out.into_bytes(), &headers, &uri)
}

/// `POST /groups`: `{"groups": [...], "users"?: [...]}`.
pub async fn create_many(State(app): State<App>, auth: Authorized, body: JsonBody<Value>) -> ApiResult<Response> {
    let identity = auth.identity()?;
    const NONE: &str = "Must specify at least one group to create";
    let mut model = object_body(body)?.ok_or_else(|| ApiError::bad_request(NONE))?;
    let names = match model.remove("groups") {
        Some(value) => body::string_list(&value, "groups")?,
        None => Vec::new(),
    };
    if names.is_empty() {
        return Err(ApiError::bad_request(NONE));
    }
    check_group_model(&model)?;
    let members = usernames(&app, model.get("users"))?;
    {
        let state = app.hub.read();
        if let Some(existing) = names.iter().find(|n| state.group(n).is_some()) {
            return Err(ApiError::conflict(format!("Group {existing} already exists")));
        }
    }
    let mut created = Vec::new();
    for name in &names {
        if created.contains(name) {
            continue;
        }
        tracing::info!(group = %name, users = members.len(), "creating group");
        app.hub.create_group(name, &members).await?;
        created.push(name.clone());
    }
    let state = app.hub.read();
    let mut out = Json::with_capacity(created.len() * 200 + 2);
    out.begin_array();
    for name in &created {
        out.optional_item(|out| models::write_group(out, &state, name, &identity.scopes));
    }
    out.end_array();
    drop(state);
    Ok(json_response(StatusCode::CREATED, out.into_bytes()))
}

/// `GET /groups/{name}`.
pub async fn get(State(app): State<App>, auth: Authorized, Path(name): Path<String>) -> ApiResult<Response> {
    Ok(json_response(StatusCode::OK, group_bytes(&app, &name, &auth)?))
}

/// `POST /groups/{name}`: optional `{"users": [...]}`.
pub async fn create_one(
    State(app): State<App>,
    auth: Authorized,
    Path(name): Path<String>,
    body: JsonBody<Value>,
) -> ApiResult<Response> {
    let model = object_body(body)?.unwrap_or_default();
    check_group_model(&model)?;
    if app.hub.read().group(&name).is_some() {
        return Err(ApiError::conflict(format!("Group {name} already exists")));
    }
    let members = usernames(&app, model.get("users"))?;
    tracing::info!(group = %name, users = members.len(), "creating group");
    app.hub.create_group(&name, &members).await?;
    Ok(json_response(StatusCode::CREATED, group_bytes(&app, &name, &auth)?))
}

/// `DELETE /groups/{name}`.
pub async fn delete(State(app): State<App>, _auth: Authorized, Path(name): Path<String>) -> ApiResult<Response> {
    require_group(&app, &name)?;
    tracing::info!(group = %name, "deleting group");
    app.hub.delete_group(&name).await?;
    Ok(super::common::empty_json(StatusCode::NO_CONTENT))
}

fn members_body(body: JsonBody<Value>, missing: &str) -> ApiResult<Map<String, Value>> {
    let model = object_body(body)?.ok_or_else(|| ApiError::bad_request("Invalid JSON data: no body"))?;
    check_group_model(&model)?;
    if !model.contains_key("users") {
        return Err(ApiError::bad_request(missing));
    }
    Ok(model)
}

/// `POST /groups/{name}/users`: add members.
pub async fn add_users(
    State(app): State<App>,
    auth: Authorized,
    Path(name): Path<String>,
    body: JsonBody<Value>,
) -> ApiResult<Response> {
    require_group(&app, &name)?;
    let model = members_body(body, "Must specify users to add")?;
    let members = usernames(&app, model.get("users"))?;
    tracing::info!(group = %name, users = members.len(), "adding users to group");
    app.hub.add_group_members(&name, &members).await?;
    Ok(json_response(StatusCode::OK, group_bytes(&app, &name, &auth)?))
}

/// `DELETE /groups/{name}/users`: remove members.
pub async fn remove_users(
    State(app): State<App>,
    auth: Authorized,
    Path(name): Path<String>,
    body: JsonBody<Value>,
) -> ApiResult<Response> {
    require_group(&app, &name)?;
    let model = members_body(body, "Must specify users to delete")?;
    let members = usernames(&app, model.get("users"))?;
    tracing::info!(group = %name, users = members.len(), "removing users from group");
    app.hub.remove_group_members(&name, &members).await?;
    Ok(json_response(StatusCode::OK, group_bytes(&app, &name, &auth)?))
}

/// `PUT /groups/{name}/properties`: replaces the properties object.
pub async fn set_properties(
    State(app): State<App>,
    auth: Authorized,
    Path(name): Path<String>,
    body: JsonBody<Value>,
) -> ApiResult<Response> {
    require_group(&app, &name)?;
    let properties = match body.0 {
        Some(Value::Object(map)) => Value::Object(map),
        _ => return Err(ApiError::bad_request("Must specify properties")),
    };
    tracing::info!(group = %name, "updating group properties");
    app.hub.set_group_properties(&name, properties).await?;
    Ok(json_response(StatusCode::OK, group_bytes(&app, &name, &auth)?))
}
