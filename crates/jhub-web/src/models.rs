//! JSON models exactly as JupyterHub shapes them (`apihandlers/base.py`
//! `user_model`, `server_model`, `group_model`, `service_model`,
//! `token_model`; jupyterhub-compat §2.5–§2.11), trimmed to what the
//! caller's scopes allow.

use crate::app::App;
use jhub_core::model::{ApiToken, TokenOwner};
use jhub_core::rbac::{ExpandedScopes, GroupField, ModelField, ServiceField, UserField};
use jhub_core::time::isoformat;
use jhub_hub::state::{ServerEntry, State, UserEntry};
use serde_json::{Map, Value, json};

fn ts(value: Option<jhub_core::Timestamp>) -> Value {
    value.map(|t| Value::String(isoformat(t))).unwrap_or(Value::Null)
}

/// The server model of one server.
pub fn server_model(app: &App, user: &str, slot: &ServerEntry, with_state: bool) -> Value {
    let layout = &app.settings.layout;
    let name = &slot.server.name;
    let url = layout.server_url(user, name);
    let progress_url = layout.progress_url(user, name);
    let public = app.settings.public_origin.as_ref().map(|o| format!("{}://{}", o.scheme, o.host));
    let mut model = Map::new();
    model.insert("name".into(), json!(name));
    model.insert("display_name".into(), json!(slot.server.display_name));
    model.insert("full_name".into(), json!(format!("{user}/{name}")));
    model.insert("last_activity".into(), ts(slot.server.last_activity));
    model.insert("started".into(), ts(slot.server.started));
    model.insert("pending".into(), slot.pending().map(|p| json!(p.as_str())).unwrap_or(Value::Null));
    model.insert("ready".into(), json!(slot.ready()));
    model.insert("stopped".into(), json!(!slot.active()));
    model.insert("url".into(), json!(url));
    model.insert("user_options".into(), slot.server.user_options.clone());
    model.insert("progress_url".into(), json!(progress_url));
    model.insert("full_url".into(), public.as_ref().map(|p| json!(format!("{p}{url}"))).unwrap_or(Value::Null));
    model.insert(
        "full_progress_url".into(),
        public.as_ref().map(|p| json!(format!("{p}{progress_url}"))).unwrap_or(Value::Null),
    );
    if with_state {
        model.insert("state".into(), slot.server.state.clone());
    }
    Value::Object(model)
}

/// The user model of `entry`, or `None` when the caller may see nothing of it.
pub fn user_model_of(
    app: &App,
    state: &State,
    entry: &UserEntry,
    scopes: &ExpandedScopes,
    include_stopped: bool,
    auth_state: Option<Value>,
) -> Option<Value> {
    let name = entry.user.name.as_str();
    let fields = scopes.user_fields(name, state);
    if fields.is_empty() {
        return None;
    }
    let mut model = Map::new();
    for field in fields.iter() {
        let value = match field {
            UserField::Kind => json!("user"),
            UserField::Name => json!(name),
            UserField::Admin => json!(entry.user.admin),
            UserField::UserInfo => entry.user.user_info.clone().unwrap_or(Value::Null),
            UserField::Roles => json!(state.role_names_of(entry)),
            UserField::Groups => json!(state.group_names_of(entry)),
            UserField::Server => match entry.servers.get("") {
                Some(slot) if slot.ready() => json!(app.settings.layout.user_url(name)),
                _ => Value::Null,
            },
            UserField::Pending => {
                entry.servers.get("").and_then(|s| s.pending()).map(|p| json!(p.as_str())).unwrap_or(Value::Null)
            }
            UserField::Created => ts(Some(entry.user.created)),
            UserField::LastActivity => ts(entry.user.last_activity),
            UserField::Servers | UserField::AuthState => continue,
        };
        model.insert(field.key().into(), value);
    }
    let visible: Vec<&ServerEntry> = entry
        .servers
        .values()
        .filter(|slot| include_stopped || slot.active())
        .filter(|slot| scopes.server_visible(name, &slot.server.name, state))
        .collect();
    if fields.contains(UserField::Servers) || !visible.is_empty() {
        let mut servers = Map::new();
        for slot in visible {
            let with_state = scopes.server_state_visible(name, &slot.server.name, state);
            servers.insert(slot.server.name.clone(), server_model(app, name, slot, with_state));
        }
        model.insert("servers".into(), Value::Object(servers));
    }
    if fields.contains(UserField::AuthState) {
        model.insert("auth_state".into(), auth_state.unwrap_or(Value::Null));
    }
    Some(Value::Object(model))
}

/// The user model by name.
pub fn user_model(app: &App, name: &str, scopes: &ExpandedScopes, include_stopped: bool) -> Option<Value> {
    let state = app.hub.read();
    let entry = state.user(name)?;
    user_model_of(app, &state, entry, scopes, include_stopped, None)
}

/// The group model, trimmed.
pub fn group_model(state: &State, name: &str, scopes: &ExpandedScopes) -> Option<Value> {
    let group = state.group(name)?;
    let fields = scopes.group_fields(name);
    if fields.is_empty() {
        return None;
    }
    let mut model = Map::new();
    for field in fields.iter() {
        let value = match field {
            GroupField::Kind => json!("group"),
            GroupField::Name => json!(name),
            GroupField::Users => {
                let mut users: Vec<&str> =
                    group.members.iter().filter_map(|id| state.users.get(id)).map(|u| u.user.name.as_str()).collect();
                users.sort_unstable();
                json!(users)
            }
            GroupField::Properties => group.group.properties.clone(),
            GroupField::Roles => {
                let roles: Vec<&str> =
                    group.roles.iter().filter_map(|id| state.roles.get(id)).map(|r| r.role.name.as_str()).collect();
                json!(roles)
            }
        };
        model.insert(field.key().into(), value);
    }
    Some(Value::Object(model))
}

/// The service model, trimmed.
pub fn service_model(app: &App, name: &str, scopes: &ExpandedScopes) -> Option<Value> {
    let state = app.hub.read();
    let entry = state.service(name)?;
    let fields = scopes.service_fields(name);
    if fields.is_empty() {
        return None;
    }
    let service = &entry.service;
    let mut model = Map::new();
    for field in fields.iter() {
        let (key, value) = match field {
            ServiceField::Kind => ("kind", json!("service")),
            ServiceField::Name => ("name", json!(name)),
            ServiceField::Admin => ("admin", json!(service.admin)),
            ServiceField::Roles => {
                let roles: Vec<&str> =
                    entry.roles.iter().filter_map(|id| state.roles.get(id)).map(|r| r.role.name.as_str()).collect();
                ("roles", json!(roles))
            }
            ServiceField::Url => ("url", json!(service.url.clone().unwrap_or_default())),
            ServiceField::Prefix => (
                "prefix",
                json!(
                    service
                        .url
                        .as_ref()
                        .map(|_| format!("{}services/{name}/", app.settings.layout.base_url()))
                        .unwrap_or_default()
                ),
            ),
            ServiceField::Command => ("command", json!([])),
            ServiceField::Pid => ("pid", json!(0)),
            ServiceField::Info => ("info", service.info.clone()),
            ServiceField::Display => ("display", json!(service.display)),
        };
        model.insert(key.into(), value);
    }
    Some(Value::Object(model))
}

/// The token model (owner-resolved scopes, `oauth_client` description).
pub fn token_model(app: &App, token: &ApiToken) -> Value {
    let state = app.hub.read();
    let (owner_key, owner_name) = match token.owner {
        TokenOwner::User(id) => ("user", state.users.get(&id).map(|e| e.user.name.clone())),
        TokenOwner::Service(id) => ("service", state.services.get(&id).map(|e| e.service.name.clone())),
    };
    let client = if token.client_id == ApiToken::HUB_CLIENT {
        "JupyterHub".to_string()
    } else {
        state
            .oauth_clients
            .get(&token.client_id)
            .map(|c| c.description.clone())
            .unwrap_or_else(|| token.client_id.clone())
    };
    drop(state);
    let mut model = Map::new();
    model.insert(owner_key.into(), json!(owner_name));
    model.insert("id".into(), json!(jhub_core::token::format_token_id(token.id)));
    model.insert("kind".into(), json!("api_token"));
    model.insert("roles".into(), json!([]));
    model.insert("scopes".into(), json!(app.hub.token_model_scopes(token)));
    model.insert("created".into(), ts(Some(token.created)));
    model.insert("last_activity".into(), ts(token.last_activity));
    model.insert("expires_at".into(), ts(token.expires_at));
    model.insert("note".into(), json!(token.note));
    model.insert("session_id".into(), json!(token.session_id));
    model.insert("oauth_client".into(), json!(client));
    Value::Object(model)
}
