//! The records the hub keeps, shared by the store, the hub and the web layer.
//!
//! Field meanings follow JupyterHub's ORM (`jupyterhub/orm.py`): a [`Server`]
//! row is what JupyterHub calls a Spawner row — it exists for the default
//! server once used and for every named server, running or not; `url` is set
//! while a single-user server is running.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A hub user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub admin: bool,
    pub created: Timestamp,
    pub last_activity: Option<Timestamp>,
    /// Random per-user id carried by the signed login cookie; rotating it
    /// logs the user out of every browser.
    pub cookie_id: String,
    /// Display information from the authenticator (JupyterHub 6 `user_info`).
    pub user_info: Option<Value>,
    /// `JUPYTERHUB_CRYPT_KEY`-encrypted auth state (Fernet token bytes).
    pub encrypted_auth_state: Option<Vec<u8>>,
}

/// What a server is busy doing, if anything (JupyterHub's `pending`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pending {
    Spawn,
    Stop,
    Check,
    Rename,
}

impl Pending {
    pub fn as_str(self) -> &'static str {
        match self {
            Pending::Spawn => "spawn",
            Pending::Stop => "stop",
            Pending::Check => "check",
            Pending::Rename => "rename",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "spawn" => Some(Pending::Spawn),
            "stop" => Some(Pending::Stop),
            "check" => Some(Pending::Check),
            "rename" => Some(Pending::Rename),
            _ => None,
        }
    }
}

/// A user's server (default server: `name == ""`).
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub display_name: String,
    /// Set when a spawn starts, cleared when the server stops.
    pub started: Option<Timestamp>,
    pub last_activity: Option<Timestamp>,
    /// Spawner state (KubeSpawner: `pod_name`, `namespace`, `dns_name`, `pvc_name`).
    pub state: Value,
    /// The options of the last spawn request, reused when none are given.
    pub user_options: Value,
    /// Where the hub and the proxy reach the running server (`http://ip:port`).
    pub url: Option<String>,
    /// Persisted so that a restarted hub knows what was in flight.
    pub pending: Option<Pending>,
}

impl Server {
    /// JupyterHub `ready`: running and not busy.
    pub fn ready(&self) -> bool {
        self.url.is_some() && self.pending.is_none()
    }

    /// JupyterHub `active`: ready or pending.
    pub fn active(&self) -> bool {
        self.ready() || self.pending.is_some()
    }
}

/// A group of users.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub properties: Value,
}

/// A named set of scopes.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub scopes: Vec<String>,
}

/// Who holds a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoleHolder {
    User(i64),
    Group(i64),
    Service(i64),
}

/// A JupyterHub service (external API client, possibly an OAuth client).
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub id: i64,
    pub name: String,
    pub admin: bool,
    pub url: Option<String>,
    pub display: bool,
    pub info: Value,
    pub oauth_client_id: Option<String>,
    pub oauth_no_confirm: bool,
    /// Defined in configuration (cannot be deleted through the API).
    pub from_config: bool,
}

/// Who a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenOwner {
    User(i64),
    Service(i64),
}

/// An API token (hub-issued, OAuth-issued, or a server's own token).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    pub id: i64,
    pub owner: TokenOwner,
    /// `sha512:<rounds>:<salt>:<hex>`.
    pub hashed: String,
    /// First four characters of the token, indexed.
    pub prefix: String,
    /// OAuth client that issued it; `jupyterhub` for hub-issued tokens.
    pub client_id: String,
    /// Browser session it was issued to (logout deletes it).
    pub session_id: Option<String>,
    pub created: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_activity: Option<Timestamp>,
    pub note: Option<String>,
    /// Raw scopes as requested (may contain `inherit`, bare `!user` filters).
    pub scopes: Vec<String>,
}

impl ApiToken {
    /// The hub's own OAuth client id, owner of tokens it issues directly.
    pub const HUB_CLIENT: &'static str = "jupyterhub";

    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| at < now)
    }
}

/// An OAuth client of the hub's provider (a user's server or a service).
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthClient {
    pub identifier: String,
    pub description: String,
    /// Hashed client secret; `None` means the client cannot authenticate.
    pub secret_hashed: Option<String>,
    /// Exact redirect URI (relative for servers).
    pub redirect_uri: String,
    pub allowed_scopes: Vec<String>,
}

/// A single-use authorization code.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthCode {
    pub id: i64,
    pub client_id: String,
    /// Hash of the code, in the token format; the code itself is never stored.
    pub code_hashed: String,
    pub prefix: String,
    pub user_id: i64,
    pub scopes: Vec<String>,
    pub redirect_uri: String,
    pub session_id: Option<String>,
    pub expires_at: Timestamp,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// A browser login session (`jupyterhub-session-id`).
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserSession {
    pub id: String,
    pub user_id: i64,
    pub created: Timestamp,
    pub last_seen: Timestamp,
}

/// Kinds of entries in the append-only server event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerEventKind {
    SpawnRequested,
    Started,
    Ready,
    StopRequested,
    Stopped,
    Failed,
    Culled,
    /// A restarted hub found the server still running and kept it.
    Adopted,
    /// An admin grew the user's volume (detail: from, to, pending).
    StorageResized,
    /// A snapshot of the user's volume was taken (detail: snapshot, kind).
    SnapshotTaken,
    /// The user's volume was replaced by one made from a snapshot.
    StorageRestored,
}

impl ServerEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerEventKind::SpawnRequested => "spawn_requested",
            ServerEventKind::Started => "started",
            ServerEventKind::Ready => "ready",
            ServerEventKind::StopRequested => "stop_requested",
            ServerEventKind::Stopped => "stopped",
            ServerEventKind::Failed => "failed",
            ServerEventKind::Culled => "culled",
            ServerEventKind::Adopted => "adopted",
            ServerEventKind::StorageResized => "storage_resized",
            ServerEventKind::SnapshotTaken => "snapshot_taken",
            ServerEventKind::StorageRestored => "storage_restored",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "spawn_requested" => ServerEventKind::SpawnRequested,
            "started" => ServerEventKind::Started,
            "ready" => ServerEventKind::Ready,
            "stop_requested" => ServerEventKind::StopRequested,
            "stopped" => ServerEventKind::Stopped,
            "failed" => ServerEventKind::Failed,
            "culled" => ServerEventKind::Culled,
            "adopted" => ServerEventKind::Adopted,
            "storage_resized" => ServerEventKind::StorageResized,
            "snapshot_taken" => ServerEventKind::SnapshotTaken,
            "storage_restored" => ServerEventKind::StorageRestored,
            _ => return None,
        })
    }
}

/// One entry of the server event log, which usage accounting reads.
/// Names (not only ids) are kept so reports survive user deletion.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerEvent {
    pub id: i64,
    pub user_id: Option<i64>,
    pub user_name: String,
    pub server_name: String,
    pub kind: ServerEventKind,
    pub at: Timestamp,
    /// Kind-specific detail: profile, resolved resources (cpu, memory,
    /// `nvidia.com/gpu`), reason for failures and culls.
    pub detail: Value,
}
