//! Row shapes as the database returns them and their conversion into the
//! `jhub-core` model: timestamps (BIGINT microseconds), JSON text, enums
//! stored as text. Column lists live here as macros so every query selects
//! the same columns in the same order as the row struct.

use crate::error::StoreError;
use jhub_core::model::{
    ApiToken, BrowserSession, Group, OAuthClient, OAuthCode, Pending, Role, Server, ServerEvent, ServerEventKind,
    Service, TokenOwner, User,
};
use jhub_core::time::{Timestamp, from_micros, to_micros};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

macro_rules! user_cols {
    () => {
        "id, name, admin, created, last_activity, cookie_id, encrypted_auth_state, user_info"
    };
}
macro_rules! group_cols {
    () => {
        "id, name, properties"
    };
}
macro_rules! role_cols {
    () => {
        "id, name, description, scopes"
    };
}
macro_rules! service_cols {
    () => {
        "id, name, admin, url, display, info, oauth_client_id, oauth_no_confirm, from_config"
    };
}
macro_rules! server_cols {
    () => {
        "id, user_id, name, display_name, started, last_activity, state, user_options, url, pending"
    };
}
macro_rules! client_cols {
    () => {
        "identifier, description, secret_hashed, redirect_uri, allowed_scopes"
    };
}
macro_rules! token_cols {
    () => {
        "id, user_id, service_id, hashed, prefix, client_id, session_id, created, expires_at, last_activity, note, scopes"
    };
}
macro_rules! code_cols {
    () => {
        "id, client_id, code_hashed, prefix, user_id, scopes, redirect_uri, session_id, expires_at, code_challenge, \
         code_challenge_method"
    };
}
macro_rules! session_cols {
    () => {
        "id, user_id, created, last_seen"
    };
}
macro_rules! event_cols {
    () => {
        "id, user_id, user_name, server_name, kind, at, detail"
    };
}
pub(crate) use {
    client_cols, code_cols, event_cols, group_cols, role_cols, server_cols, service_cols, session_cols, token_cols,
    user_cols,
};

pub(crate) fn micros(ts: Timestamp) -> i64 {
    to_micros(ts)
}

pub(crate) fn micros_opt(ts: Option<Timestamp>) -> Option<i64> {
    ts.map(to_micros)
}

fn ts_opt(micros: Option<i64>) -> Option<Timestamp> {
    micros.map(from_micros)
}

/// Serializes a value for a JSON text column.
pub(crate) fn json_text<T: Serialize + ?Sized>(what: &'static str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::Encode { what, source })
}

fn parse_json<T: DeserializeOwned>(
    table: &'static str,
    id: &dyn ToString,
    column: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Decode {
        table,
        id: id.to_string(),
        reason: format!("column {column} is not the expected JSON: {e}"),
    })
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) admin: bool,
    pub(crate) created: i64,
    pub(crate) last_activity: Option<i64>,
    pub(crate) cookie_id: String,
    pub(crate) encrypted_auth_state: Option<Vec<u8>>,
    pub(crate) user_info: Option<String>,
}

impl UserRow {
    pub(crate) fn into_model(self) -> Result<User, StoreError> {
        let user_info = match &self.user_info {
            Some(text) => Some(parse_json::<Value>("users", &self.id, "user_info", text)?),
            None => None,
        };
        Ok(User {
            id: self.id,
            name: self.name,
            admin: self.admin,
            created: from_micros(self.created),
            last_activity: ts_opt(self.last_activity),
            cookie_id: self.cookie_id,
            user_info,
            encrypted_auth_state: self.encrypted_auth_state,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct GroupRow {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) properties: String,
}

impl GroupRow {
    pub(crate) fn into_model(self) -> Result<Group, StoreError> {
        let properties = parse_json("groups", &self.id, "properties", &self.properties)?;
        Ok(Group { id: self.id, name: self.name, properties })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RoleRow {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) scopes: String,
}

impl RoleRow {
    pub(crate) fn into_model(self) -> Result<Role, StoreError> {
        let scopes = parse_json("roles", &self.id, "scopes", &self.scopes)?;
        Ok(Role { id: self.id, name: self.name, description: self.description, scopes })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ServiceRow {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) admin: bool,
    pub(crate) url: Option<String>,
    pub(crate) display: bool,
    pub(crate) info: String,
    pub(crate) oauth_client_id: Option<String>,
    pub(crate) oauth_no_confirm: bool,
    pub(crate) from_config: bool,
}

impl ServiceRow {
    pub(crate) fn into_model(self) -> Result<Service, StoreError> {
        let info = parse_json("services", &self.id, "info", &self.info)?;
        Ok(Service {
            id: self.id,
            name: self.name,
            admin: self.admin,
            url: self.url,
            display: self.display,
            info,
            oauth_client_id: self.oauth_client_id,
            oauth_no_confirm: self.oauth_no_confirm,
            from_config: self.from_config,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ServerRow {
    pub(crate) id: i64,
    pub(crate) user_id: i64,
    pub(crate) name: String,
    pub(crate) display_name: String,
    pub(crate) started: Option<i64>,
    pub(crate) last_activity: Option<i64>,
    pub(crate) state: String,
    pub(crate) user_options: String,
    pub(crate) url: Option<String>,
    pub(crate) pending: Option<String>,
}

impl ServerRow {
    pub(crate) fn into_model(self) -> Result<Server, StoreError> {
        let state = parse_json("servers", &self.id, "state", &self.state)?;
        let user_options = parse_json("servers", &self.id, "user_options", &self.user_options)?;
        let pending = match self.pending.as_deref() {
            None => None,
            Some(text) => Some(Pending::parse(text).ok_or_else(|| StoreError::Decode {
                table: "servers",
                id: self.id.to_string(),
                reason: format!("unknown pending value {text:?}"),
            })?),
        };
        Ok(Server {
            id: self.id,
            user_id: self.user_id,
            name: self.name,
            display_name: self.display_name,
            started: ts_opt(self.started),
            last_activity: ts_opt(self.last_activity),
            state,
            user_options,
            url: self.url,
            pending,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClientRow {
    pub(crate) identifier: String,
    pub(crate) description: String,
    pub(crate) secret_hashed: Option<String>,
    pub(crate) redirect_uri: String,
    pub(crate) allowed_scopes: String,
}

impl ClientRow {
    pub(crate) fn into_model(self) -> Result<OAuthClient, StoreError> {
        let allowed_scopes = parse_json("oauth_clients", &self.identifier, "allowed_scopes", &self.allowed_scopes)?;
        Ok(OAuthClient {
            identifier: self.identifier,
            description: self.description,
            secret_hashed: self.secret_hashed,
            redirect_uri: self.redirect_uri,
            allowed_scopes,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    pub(crate) id: i64,
    pub(crate) user_id: Option<i64>,
    pub(crate) service_id: Option<i64>,
    pub(crate) hashed: String,
    pub(crate) prefix: String,
    pub(crate) client_id: String,
    pub(crate) session_id: Option<String>,
    pub(crate) created: i64,
    pub(crate) expires_at: Option<i64>,
    pub(crate) last_activity: Option<i64>,
    pub(crate) note: Option<String>,
    pub(crate) scopes: String,
}

impl TokenRow {
    pub(crate) fn into_model(self) -> Result<ApiToken, StoreError> {
        let owner = match (self.user_id, self.service_id) {
            (Some(user), None) => TokenOwner::User(user),
            (None, Some(service)) => TokenOwner::Service(service),
            _ => {
                return Err(StoreError::Decode {
                    table: "api_tokens",
                    id: self.id.to_string(),
                    reason: "token must belong to exactly one user or service".to_string(),
                });
            }
        };
        let scopes = parse_json("api_tokens", &self.id, "scopes", &self.scopes)?;
        Ok(ApiToken {
            id: self.id,
            owner,
            hashed: self.hashed,
            prefix: self.prefix,
            client_id: self.client_id,
            session_id: self.session_id,
            created: from_micros(self.created),
            expires_at: ts_opt(self.expires_at),
            last_activity: ts_opt(self.last_activity),
            note: self.note,
            scopes,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CodeRow {
    pub(crate) id: i64,
    pub(crate) client_id: String,
    pub(crate) code_hashed: String,
    pub(crate) prefix: String,
    pub(crate) user_id: i64,
    pub(crate) scopes: String,
    pub(crate) redirect_uri: String,
    pub(crate) session_id: Option<String>,
    pub(crate) expires_at: i64,
    pub(crate) code_challenge: Option<String>,
    pub(crate) code_challenge_method: Option<String>,
}

impl CodeRow {
    pub(crate) fn into_model(self) -> Result<OAuthCode, StoreError> {
        let scopes = parse_json("oauth_codes", &self.id, "scopes", &self.scopes)?;
        Ok(OAuthCode {
            id: self.id,
            client_id: self.client_id,
            code_hashed: self.code_hashed,
            prefix: self.prefix,
            user_id: self.user_id,
            scopes,
            redirect_uri: self.redirect_uri,
            session_id: self.session_id,
            expires_at: from_micros(self.expires_at),
            code_challenge: self.code_challenge,
            code_challenge_method: self.code_challenge_method,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    pub(crate) id: String,
    pub(crate) user_id: i64,
    pub(crate) created: i64,
    pub(crate) last_seen: i64,
}

impl SessionRow {
    pub(crate) fn into_model(self) -> BrowserSession {
        BrowserSession {
            id: self.id,
            user_id: self.user_id,
            created: from_micros(self.created),
            last_seen: from_micros(self.last_seen),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    pub(crate) id: i64,
    pub(crate) user_id: Option<i64>,
    pub(crate) user_name: String,
    pub(crate) server_name: String,
    pub(crate) kind: String,
    pub(crate) at: i64,
    pub(crate) detail: String,
}

impl EventRow {
    pub(crate) fn into_model(self) -> Result<ServerEvent, StoreError> {
        let kind = ServerEventKind::parse(&self.kind).ok_or_else(|| StoreError::Decode {
            table: "server_events",
            id: self.id.to_string(),
            reason: format!("unknown event kind {:?}", self.kind),
        })?;
        let detail = parse_json("server_events", &self.id, "detail", &self.detail)?;
        Ok(ServerEvent {
            id: self.id,
            user_id: self.user_id,
            user_name: self.user_name,
            server_name: self.server_name,
            kind,
            at: from_micros(self.at),
            detail,
        })
    }
}

/// Converts a batch of rows, stopping at the first unreadable one.
pub(crate) fn all<R, T>(rows: Vec<R>, convert: impl Fn(R) -> Result<T, StoreError>) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(convert).collect()
}
