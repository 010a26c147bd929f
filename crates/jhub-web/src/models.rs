//! JSON models exactly as JupyterHub shapes them (`apihandlers/base.py`
//! `user_model`, `server_model`, `group_model`, `service_model`,
//! `token_model`; jupyterhub-compat §2.5–§2.11), trimmed to what the
//! caller's scopes allow.
//!
//! Models are written straight into a byte buffer ([`Json`]) from the
//! in-memory state: the user list answers hundreds of models per request,
//! so no intermediate `serde_json::Value` is built. The `Value`-returning
//! functions are conveniences over the same writers for the few callers that
//! need to edit a model (e.g. `GET /user` adds keys).

use crate::app::App;
use jhub_core::Timestamp;
use jhub_core::model::{ApiToken, TokenOwner};
use jhub_core::rbac::{ExpandedScopes, GroupField, ModelField, ServiceField, UserField};
use jhub_hub::state::{ServerEntry, State, UserEntry};
use serde_json::Value;
use std::io::Write as _;

/// A JSON document being written. Keys and values are written in order;
/// commas are handled by [`Json::key`] and [`Json::item`].
#[derive(Debug, Default)]
pub struct Json {
    pub buf: Vec<u8>,
    /// Whether the innermost open object/array has an element yet.
    stack: Vec<bool>,
}

impl Json {
    pub fn with_capacity(capacity: usize) -> Self {
        Self { buf: Vec::with_capacity(capacity), stack: Vec::with_capacity(8) }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn separator(&mut self) {
        if let Some(has_items) = self.stack.last_mut() {
            if *has_items {
                self.buf.push(b',');
            }
            *has_items = true;
        }
    }

    pub fn begin_object(&mut self) {
        self.buf.push(b'{');
        self.stack.push(false);
    }

    pub fn end_object(&mut self) {
        self.buf.push(b'}');
        self.stack.pop();
    }

    pub fn begin_array(&mut self) {
        self.buf.push(b'[');
        self.stack.push(false);
    }

    pub fn end_array(&mut self) {
        self.buf.push(b']');
        self.stack.pop();
    }

    /// Starts a key of the open object; write its value next.
    pub fn key(&mut self, key: &str) -> &mut Self {
        self.separator();
        write_str(&mut self.buf, key);
        self.buf.push(b':');
        self
    }

    /// Starts an element of the open array; write it next.
    pub fn item(&mut self) -> &mut Self {
        self.separator();
        self
    }

    pub fn str(&mut self, value: &str) {
        write_str(&mut self.buf, value);
    }

    pub fn opt_str(&mut self, value: Option<&str>) {
        match value {
            Some(v) => write_str(&mut self.buf, v),
            None => self.null(),
        }
    }

    pub fn bool(&mut self, value: bool) {
        self.buf.extend_from_slice(if value { b"true" } else { b"false" });
    }

    pub fn null(&mut self) {
        self.buf.extend_from_slice(b"null");
    }

    pub fn int(&mut self, value: i64) {
        let _ = write!(self.buf, "{value}");
    }

    pub fn ts(&mut self, value: Option<Timestamp>) {
        match value {
            Some(ts) => {
                self.buf.push(b'"');
                write_isoformat(&mut self.buf, ts);
                self.buf.push(b'"');
            }
            None => self.null(),
        }
    }

    pub fn value(&mut self, value: &Value) {
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.buf, value);
    }

    /// A string list.
    pub fn strs<'a>(&mut self, values: impl IntoIterator<Item = &'a str>) {
        self.begin_array();
        for value in values {
            self.item().str(value);
        }
        self.end_array();
    }

    /// Where the document is now, to undo an element that turned out empty.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint { len: self.buf.len(), has_items: self.stack.last().copied() }
    }

    /// Undoes everything written since `checkpoint` (at the same nesting level).
    pub fn rollback(&mut self, checkpoint: Checkpoint) {
        self.buf.truncate(checkpoint.len);
        if let (Some(top), Some(had)) = (self.stack.last_mut(), checkpoint.has_items) {
            *top = had;
        }
    }

    /// Writes an array element with `write`, dropping it (and its comma)
    /// when `write` reports that it wrote nothing.
    pub fn optional_item(&mut self, write: impl FnOnce(&mut Json) -> bool) {
        let checkpoint = self.checkpoint();
        self.item();
        if !write(self) {
            self.rollback(checkpoint);
        }
    }

    /// Raw, already valid JSON text (the caller guarantees it).
    pub fn raw(&mut self, json: &[u8]) {
        self.buf.extend_from_slice(json);
    }
}

/// See [`Json::checkpoint`].
#[derive(Debug, Clone, Copy)]
pub struct Checkpoint {
    len: usize,
    has_items: Option<bool>,
}

/// A JSON string with JSON escaping.
pub fn write_str(buf: &mut Vec<u8>, value: &str) {
    let _ = serde_json::to_writer(&mut *buf, value);
}

/// Python's `isoformat() + "Z"` without allocating (microseconds dropped
/// when zero), for years 1–9999.
pub fn write_isoformat(buf: &mut Vec<u8>, ts: Timestamp) {
    // Euclidean split: before 1970 jiff's sub-second part is negative.
    let all_micros = ts.as_microsecond();
    let secs = all_micros.div_euclid(1_000_000);
    let micros = all_micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(1..=9999).contains(&year) {
        // Outside Python's datetime range; JupyterHub could not hold it either.
        buf.extend_from_slice(ts.to_string().as_bytes());
        return;
    }
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let _ = write!(buf, "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}");
    if micros != 0 {
        let _ = write!(buf, ".{micros:06}");
    }
    buf.push(b'Z');
}

/// Whether `name` needs no percent-escaping in a URL path (the common case).
fn path_safe(name: &str) -> bool {
    name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'~' | b'@'))
}

fn push_escaped(out: &mut String, segment: &str) {
    if path_safe(segment) {
        out.push_str(segment);
    } else {
        out.push_str(&jhub_core::names::escape_path(segment));
    }
}

/// `/user/<name>/` (and `<server>/`) under the base URL.
pub fn server_url(app: &App, user: &str, server: &str) -> String {
    let mut url = String::with_capacity(app.settings.layout.base_url().len() + user.len() + server.len() + 8);
    url.push_str(app.settings.layout.base_url());
    url.push_str("user/");
    push_escaped(&mut url, user);
    url.push('/');
    if !server.is_empty() {
        push_escaped(&mut url, server);
        url.push('/');
    }
    url
}

fn public_prefix(app: &App) -> Option<String> {
    app.settings.public_origin.as_ref().map(|o| format!("{}://{}", o.scheme, o.host))
}

/// Writes the server model of one server.
pub fn write_server(out: &mut Json, app: &App, user: &str, slot: &ServerEntry, with_state: bool) {
    let server = &slot.server;
    let name = server.name.as_str();
    let url = server_url(app, user, name);
    let progress_url = app.settings.layout.progress_url(user, name);
    out.begin_object();
    out.key("name").str(name);
    out.key("display_name").str(&server.display_name);
    out.key("full_name");
    {
        let buf = &mut out.buf;
        let mut full = String::with_capacity(user.len() + name.len() + 1);
        full.push_str(user);
        full.push('/');
        full.push_str(name);
        write_str(buf, &full);
    }
    out.key("last_activity").ts(server.last_activity);
    out.key("started").ts(server.started);
    out.key("pending").opt_str(slot.pending().map(|p| p.as_str()));
    out.key("ready").bool(slot.ready());
    out.key("stopped").bool(!slot.active());
    out.key("url").str(&url);
    out.key("user_options");
    object_or_empty(out, &server.user_options);
    out.key("progress_url").str(&progress_url);
    match public_prefix(app) {
        Some(public) => {
            out.key("full_url").str(&format!("{public}{url}"));
            out.key("full_progress_url").str(&format!("{public}{progress_url}"));
        }
        None => {
            out.key("full_url").null();
            out.key("full_progress_url").null();
        }
    }
    if with_state {
        out.key("state");
        object_or_empty(out, &server.state);
    }
    out.end_object();
}

/// Spawner state and user options are dicts in JupyterHub; a missing one is `{}`.
fn object_or_empty(out: &mut Json, value: &Value) {
    match value {
        Value::Null => out.raw(b"{}"),
        other => out.value(other),
    }
}

/// Role names of a user, sorted: her roles plus the default `user` role and
/// `admin` for admins (JupyterHub assigns those as real roles).
fn user_roles<'s>(state: &'s State, entry: &'s UserEntry) -> Vec<&'s str> {
    let mut names: Vec<&str> =
        entry.roles.iter().filter_map(|id| state.roles.get(id)).map(|r| r.role.name.as_str()).collect();
    names.push("user");
    if entry.user.admin {
        names.push("admin");
    }
    names.sort_unstable();
    names.dedup();
    names
}

fn user_groups<'s>(state: &'s State, entry: &'s UserEntry) -> Vec<&'s str> {
    let mut names: Vec<&str> =
        entry.groups.iter().filter_map(|id| state.groups.get(id)).map(|g| g.group.name.as_str()).collect();
    names.sort_unstable();
    names
}

/// Writes the user model of `entry`; returns false (writing nothing) when
/// the caller may see nothing of the user. `auth_state` is the decrypted
/// state for single-user GETs; listings show `null`.
pub fn write_user(
    out: &mut Json,
    app: &App,
    state: &State,
    entry: &UserEntry,
    scopes: &ExpandedScopes,
    include_stopped: bool,
    auth_state: Option<&Value>,
) -> bool {
    let name = entry.user.name.as_str();
    let fields = scopes.user_fields(name, state);
    if fields.is_empty() {
        return false;
    }
    out.begin_object();
    for field in fields.iter() {
        match field {
            UserField::Servers | UserField::AuthState => continue,
            _ => {}
        }
        out.key(field.key());
        match field {
            UserField::Kind => out.str("user"),
            UserField::Name => out.str(name),
            UserField::Admin => out.bool(entry.user.admin),
            UserField::UserInfo => match &entry.user.user_info {
                Some(info) => out.value(info),
                None => out.null(),
            },
            UserField::Roles => out.strs(user_roles(state, entry)),
            UserField::Groups => out.strs(user_groups(state, entry)),
            UserField::Server => match entry.servers.get("") {
                Some(slot) if slot.ready() => out.str(&server_url(app, name, "")),
                _ => out.null(),
            },
            UserField::Pending => out.opt_str(entry.servers.get("").and_then(|s| s.pending()).map(|p| p.as_str())),
            UserField::Created => out.ts(Some(entry.user.created)),
            UserField::LastActivity => out.ts(entry.user.last_activity),
            UserField::Servers | UserField::AuthState => {}
        }
    }
    let mut servers_open = false;
    if fields.contains(UserField::Servers) {
        out.key("servers").begin_object();
        servers_open = true;
    }
    for slot in entry.servers.values() {
        if !(include_stopped || slot.active()) || !scopes.server_visible(name, &slot.server.name, state) {
            continue;
        }
        if !servers_open {
            out.key("servers").begin_object();
            servers_open = true;
        }
        let with_state = scopes.server_state_visible(name, &slot.server.name, state);
        out.key(&slot.server.name);
        write_server(out, app, name, slot, with_state);
    }
    if servers_open {
        out.end_object();
    }
    if fields.contains(UserField::AuthState) {
        out.key("auth_state");
        match auth_state {
            Some(v) => out.value(v),
            None => out.null(),
        }
    }
    out.end_object();
    true
}

fn to_value(out: Json) -> Value {
    serde_json::from_slice(&out.buf).unwrap_or(Value::Null)
}

/// The server model of one server, as a value.
pub fn server_model(app: &App, user: &str, slot: &ServerEntry, with_state: bool) -> Value {
    let mut out = Json::with_capacity(512);
    write_server(&mut out, app, user, slot, with_state);
    to_value(out)
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
    let mut out = Json::with_capacity(512);
    write_user(&mut out, app, state, entry, scopes, include_stopped, auth_state.as_ref()).then(|| to_value(out))
}

/// The user model by name.
pub fn user_model(app: &App, name: &str, scopes: &ExpandedScopes, include_stopped: bool) -> Option<Value> {
    let state = app.hub.read();
    let entry = state.user(name)?;
    user_model_of(app, &state, entry, scopes, include_stopped, None)
}

/// Writes the group model; false when nothing of it is visible.
pub fn write_group(out: &mut Json, state: &State, name: &str, scopes: &ExpandedScopes) -> bool {
    let Some(group) = state.group(name) else { return false };
    let fields = scopes.group_fields(name);
    if fields.is_empty() {
        return false;
    }
    out.begin_object();
    for field in fields.iter() {
        out.key(field.key());
        match field {
            GroupField::Kind => out.str("group"),
            GroupField::Name => out.str(name),
            GroupField::Users => {
                let mut users: Vec<&str> =
                    group.members.iter().filter_map(|id| state.users.get(id)).map(|u| u.user.name.as_str()).collect();
                users.sort_unstable();
                out.strs(users);
            }
            GroupField::Properties => object_or_empty(out, &group.group.properties),
            GroupField::Roles => {
                let mut roles: Vec<&str> =
                    group.roles.iter().filter_map(|id| state.roles.get(id)).map(|r| r.role.name.as_str()).collect();
                roles.sort_unstable();
                out.strs(roles);
            }
        }
    }
    out.end_object();
    true
}

/// The group model, trimmed.
pub fn group_model(state: &State, name: &str, scopes: &ExpandedScopes) -> Option<Value> {
    let mut out = Json::with_capacity(256);
    write_group(&mut out, state, name, scopes).then(|| to_value(out))
}

/// Writes the service model; false when nothing of it is visible.
pub fn write_service(out: &mut Json, app: &App, state: &State, name: &str, scopes: &ExpandedScopes) -> bool {
    let Some(entry) = state.service(name) else { return false };
    let fields = scopes.service_fields(name);
    if fields.is_empty() {
        return false;
    }
    let service = &entry.service;
    out.begin_object();
    for field in fields.iter() {
        out.key(field.key());
        match field {
            ServiceField::Kind => out.str("service"),
            ServiceField::Name => out.str(name),
            ServiceField::Admin => out.bool(service.admin),
            ServiceField::Roles => {
                let mut roles: Vec<&str> = entry
                    .roles
                    .iter()
                    .filter_map(|id| state.roles.get(id))
                    .map(|r| r.role.name.as_str())
                    .chain(service.admin.then_some("admin"))
                    .collect();
                roles.sort_unstable();
                roles.dedup();
                out.strs(roles);
            }
            ServiceField::Url => out.str(service.url.as_deref().unwrap_or("")),
            ServiceField::Prefix => match &service.url {
                Some(_) => out.str(&format!("{}services/{name}/", app.settings.layout.base_url())),
                None => out.str(""),
            },
            // jhub runs no hub-managed services: no command, no process.
            ServiceField::Command => out.raw(b"[]"),
            ServiceField::Pid => out.int(0),
            ServiceField::Info => object_or_empty(out, &service.info),
            ServiceField::Display => out.bool(service.display),
        }
    }
    out.end_object();
    true
}

/// The service model, trimmed.
pub fn service_model(app: &App, name: &str, scopes: &ExpandedScopes) -> Option<Value> {
    let state = app.hub.read();
    let mut out = Json::with_capacity(256);
    write_service(&mut out, app, &state, name, scopes).then(|| to_value(out))
}

/// Writes the token model (owner-resolved scopes, `oauth_client` description).
pub fn write_token(out: &mut Json, app: &App, token: &ApiToken, secret: Option<&str>) {
    let (owner_key, owner_name, client) = {
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
                .map(|c| if c.description.is_empty() { c.identifier.clone() } else { c.description.clone() })
                .unwrap_or_else(|| token.client_id.clone())
        };
        (owner_key, owner_name, client)
    };
    let scopes = app.hub.token_model_scopes(token);
    out.begin_object();
    if let Some(secret) = secret {
        out.key("token").str(secret);
    }
    out.key(owner_key).opt_str(owner_name.as_deref());
    out.key("id").str(&jhub_core::token::format_token_id(token.id));
    out.key("kind").str("api_token");
    out.key("roles").raw(b"[]");
    out.key("scopes").strs(scopes.iter().map(String::as_str));
    out.key("created").ts(Some(token.created));
    out.key("last_activity").ts(token.last_activity);
    out.key("expires_at").ts(token.expires_at);
    out.key("note").opt_str(token.note.as_deref());
    out.key("session_id").opt_str(token.session_id.as_deref());
    out.key("oauth_client").str(&client);
    out.end_object();
}

/// The token model as a value.
pub fn token_model(app: &App, token: &ApiToken) -> Value {
    let mut out = Json::with_capacity(512);
    write_token(&mut out, app, token, None);
    to_value(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python's format from the civil date and time (an independent oracle).
    fn python_isoformat(ts: Timestamp) -> String {
        let dt = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
        let micros = dt.subsec_nanosecond() / 1000;
        let base = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        );
        if micros == 0 { format!("{base}Z") } else { format!("{base}.{micros:06}Z") }
    }

    #[test]
    fn isoformat_matches_python_for_all_years() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..20_000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            // Seconds spread over years 1..9999 (before and after 1970), some whole.
            let secs = (seed >> 11) as i64 % 315_537_897_600 - 62_135_596_800;
            let micros = if i % 3 == 0 { 0 } else { ((seed >> 3) % 1_000_000) as i64 };
            let Ok(ts) = Timestamp::from_microsecond(secs * 1_000_000 + micros) else { continue };
            let mut buf = Vec::new();
            write_isoformat(&mut buf, ts);
            assert_eq!(String::from_utf8(buf).unwrap(), python_isoformat(ts), "{ts}");
        }
        for (text, expect) in [
            ("2026-11-27T02:00:22.369791Z", "2026-11-27T02:00:22.369791Z"),
            ("0684-09-14T22:52:37.2Z", "0684-09-14T22:52:37.200000Z"),
            ("1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.500000Z"),
        ] {
            let mut buf = Vec::new();
            write_isoformat(&mut buf, text.parse().unwrap());
            assert_eq!(String::from_utf8(buf).unwrap(), expect);
        }
    }

    #[test]
    fn writer_produces_valid_json() {
        let mut out = Json::default();
        out.begin_object();
        out.key("a\"b").str("x\ny");
        out.key("list").strs(["1", "2"]);
        out.key("empty").begin_array();
        out.end_array();
        out.key("n").null();
        out.key("t").ts(None);
        out.end_object();
        let value: Value = serde_json::from_slice(&out.buf).unwrap();
        assert_eq!(value, serde_json::json!({"a\"b": "x\ny", "list": ["1", "2"], "empty": [], "n": null, "t": null}));
    }
}
