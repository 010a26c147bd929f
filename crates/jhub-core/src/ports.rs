//! The ports: small traits behind which adapters do I/O (spawner, proxy,
//! clock). The hub is written against these; `jhub-kube`, `jhub-proxy` and
//! test fakes implement them.

use crate::time::Timestamp;
use async_trait::async_trait;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Where time comes from. Domain code never reads the wall clock itself.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// A clock that tests move by hand.
#[derive(Debug)]
pub struct ManualClock {
    now: std::sync::Mutex<Timestamp>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self { now: std::sync::Mutex::new(start) }
    }

    pub fn set(&self, to: Timestamp) {
        if let Ok(mut guard) = self.now.lock() {
            *guard = to;
        }
    }

    pub fn advance(&self, by: Duration) {
        if let Ok(mut guard) = self.now.lock() {
            let step = jiff::SignedDuration::try_from(by).unwrap_or(jiff::SignedDuration::MAX);
            *guard = guard.checked_add(step).unwrap_or(Timestamp::MAX);
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.now.lock().map(|guard| *guard).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

/// The user a spawn is for, as the spawner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpawnUser {
    pub id: i64,
    pub name: String,
    pub admin: bool,
    pub groups: Vec<String>,
}

/// Everything a spawner needs to start one server.
#[derive(Debug, Clone)]
pub struct SpawnRequest {
    pub user: SpawnUser,
    pub server_name: String,
    /// Validated user options (profile slug and option choices).
    pub user_options: Value,
    /// The server's API token (also its OAuth client secret).
    pub api_token: String,
    /// Hub-wide settings the spawner combines with its own to build the
    /// `JUPYTERHUB_*` environment ([`crate::env::single_user_env`]).
    pub hub_env: crate::env::HubEnvSettings,
    /// State saved by a previous run of this server (e.g. `pvc_name`).
    pub previous_state: Value,
    pub start_timeout: Duration,
}

/// A progress message for the spawn-progress event stream.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProgressEvent {
    pub progress: Option<u8>,
    pub message: String,
    pub html_message: Option<String>,
    /// The Kubernetes event behind the message, passed through like KubeSpawner.
    pub raw_event: Option<Value>,
}

/// Receives progress while a spawn runs.
pub type ProgressSink = Arc<dyn Fn(ProgressEvent) + Send + Sync>;

/// A spawner's answer to a successful start.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    /// `http://<ip>:<port>`: target of the proxy route and of the hub's checks.
    pub url: String,
    /// State to persist (e.g. `{pod_name, namespace, dns_name, pvc_name}`).
    pub state: Value,
    /// Resolved resources, recorded in the server event log.
    pub resources: Value,
}

/// A spawner's view of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollStatus {
    /// Running (or still starting).
    Running,
    /// Gone; the exit code when the spawner knows it.
    Stopped { exit_code: Option<i32> },
}

/// Why a spawn or stop failed, in words a user can act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpawnError {
    #[error("{0}")]
    InvalidOptions(String),
    /// The options name something the user may not use (a profile limited
    /// to other groups); the API answers 403 with this message.
    #[error("{0}")]
    NotPermitted(String),
    #[error("server did not start within {seconds} seconds{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Timeout { seconds: u64, detail: Option<String> },
    #[error("{message}")]
    Failed { message: String },
    #[error("the cluster refused the request: {message}")]
    Backend { message: String },
}

impl SpawnError {
    /// JupyterHub's `reason` label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            SpawnError::InvalidOptions(_) | SpawnError::NotPermitted(_) => "invalid-options",
            SpawnError::Timeout { .. } => "timeout",
            SpawnError::Failed { .. } => "error",
            SpawnError::Backend { .. } => "error",
        }
    }
}

/// Starts, stops and watches single-user servers.
#[async_trait]
pub trait Spawner: Send + Sync + 'static {
    /// Checks and normalises user options before a spawn is accepted, so a
    /// bad choice is a 400 naming the option rather than a failed spawn.
    fn validate_options(&self, user: &SpawnUser, server_name: &str, options: &Value) -> Result<Value, SpawnError>;

    /// Starts the server and returns where it listens. Bounded by
    /// `request.start_timeout`; on failure nothing is left running.
    async fn start(&self, request: SpawnRequest, progress: ProgressSink) -> Result<Started, SpawnError>;

    /// Stops the server; returns once it is gone. `now` skips the grace period.
    async fn stop(&self, user: &str, server_name: &str, state: &Value, now: bool) -> Result<(), SpawnError>;

    /// Whether the server still runs. Must be cheap (answered from a local
    /// view, not an API round trip): the hub calls it for every server.
    async fn poll(&self, user: &str, server_name: &str, state: &Value) -> Result<PollStatus, SpawnError>;

    /// When the running server's pod started (Kubernetes `status.startTime`),
    /// if the spawner knows: a restarted hub takes it as the truth for usage.
    /// Cheap like `poll` (a local view).
    async fn started_at(&self, _user: &str, _server_name: &str, _state: &Value) -> Option<crate::Timestamp> {
        None
    }

    /// Deletes what outlives a stop (e.g. the PVC) when a user or a named
    /// server is removed for good.
    async fn delete_forever(&self, _user: &str, _server_name: &str, _state: &Value) -> Result<(), SpawnError> {
        Ok(())
    }
}

/// One route in the proxy's table.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Route spec with trailing slash, e.g. `/user/alice/`.
    pub routespec: String,
    pub target: String,
    /// Route data without the `jupyterhub` marker (includes CHP's `last_activity`).
    pub data: serde_json::Map<String, Value>,
}

/// Why the proxy could not do something.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProxyError {
    #[error("proxy unreachable at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("proxy refused {method} {path}: HTTP {status} {body}")]
    Refused { method: String, path: String, status: u16, body: String },
    #[error("proxy answered with something unreadable: {0}")]
    BadResponse(String),
}

/// The routing proxy (configurable-http-proxy or compatible).
#[async_trait]
pub trait Proxy: Send + Sync + 'static {
    /// Adds or replaces a route, marking it as the hub's.
    async fn add_route(
        &self,
        routespec: &str,
        target: &str,
        data: serde_json::Map<String, Value>,
    ) -> Result<(), ProxyError>;
    /// Deletes a route; a missing route is not an error.
    async fn delete_route(&self, routespec: &str) -> Result<(), ProxyError>;
    /// The hub's routes (those carrying the `jupyterhub` marker), keyed by routespec.
    async fn get_all_routes(&self) -> Result<BTreeMap<String, Route>, ProxyError>;
    /// One route, if present and the hub's. Cheap on CHP (`GET /api/routes/<path>`);
    /// the hub probes with it every second to notice a restarted proxy.
    async fn get_route(&self, routespec: &str) -> Result<Option<Route>, ProxyError> {
        Ok(self.get_all_routes().await?.remove(routespec))
    }
    /// Points the client at another proxy API and/or token
    /// (`PATCH /hub/api/proxy`). Proxies without a REST API refuse.
    fn reconfigure(&self, _api_url: Option<&str>, _auth_token: Option<&str>) -> Result<(), ProxyError> {
        Err(ProxyError::BadResponse("this proxy cannot be re-pointed at run time".into()))
    }
}

/// Live cluster capacity per profile option (read-only; `jhub-kube` watches
/// nodes and pods for it). `None` means unknown: no permission to read
/// nodes, the first lists not done yet, or a spawner without nodes. Callers
/// then show no numbers; it is never an error to users.
pub trait Capacity: Send + Sync + 'static {
    /// The options of the profiles a user in `groups` may use (after the
    /// groups' `group_overrides`), each with how many servers fit now.
    fn for_groups(&self, groups: &[String]) -> Option<Arc<crate::capacity::CapacityReport>>;
}

/// Whose volume a storage call is about: the user and the stored state of
/// their default server (where the spawner records `pvc_name`).
#[derive(Debug, Clone, PartialEq)]
pub struct StorageOwner {
    pub user: String,
    pub user_id: i64,
    /// The default server's saved spawner state (`Value::Null` when none).
    pub state: Value,
}

/// Why a snapshot was taken; recorded on the snapshot (a label) so that
/// retention only ever deletes scheduled ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotKind {
    /// Taken by the schedule; subject to retention.
    Scheduled,
    /// Asked for by an admin; kept until deleted by hand.
    Manual,
    /// Taken automatically before a restore replaced the volume.
    PreRestore,
}

impl SnapshotKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotKind::Scheduled => "scheduled",
            SnapshotKind::Manual => "manual",
            SnapshotKind::PreRestore => "pre-restore",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "scheduled" => SnapshotKind::Scheduled,
            "manual" => SnapshotKind::Manual,
            "pre-restore" => SnapshotKind::PreRestore,
            _ => return None,
        })
    }
}

/// One snapshot of a user's volume.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeSnapshot {
    pub name: String,
    /// RFC 3339 time it was taken: the hub's clock when jhub took it (what
    /// schedule and retention compare), else the snapshot's
    /// `status.creationTime`, else the object's `creationTimestamp`.
    pub created: Option<String>,
    pub ready_to_use: bool,
    /// `status.restoreSize` once known.
    pub size: Option<String>,
    /// `None` for snapshots jhub did not take.
    pub kind: Option<SnapshotKind>,
    /// The snapshot controller's error message, if any.
    pub error: Option<String>,
}

/// What the admin page and `GET .../storage` show about a user's volume.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageInfo {
    pub pvc: String,
    /// `status.capacity.storage`: what the volume has now.
    pub capacity: Option<String>,
    /// `spec.resources.requests.storage`: what was asked for.
    pub requested: Option<String>,
    /// From the kubelet's volume stats; `None` when not mounted or not allowed.
    pub used_bytes: Option<u64>,
    pub storage_class: Option<String>,
    /// The class has `allowVolumeExpansion: true`.
    pub expandable: bool,
    /// A resize waits for the file system to grow (`FileSystemResizePending`):
    /// restarting the server finishes it.
    pub resize_pending: bool,
    /// Newest first.
    pub snapshots: Vec<VolumeSnapshot>,
    /// The cluster serves `snapshot.storage.k8s.io/v1` and has a usable
    /// VolumeSnapshotClass.
    pub snapshots_supported: bool,
}

/// A finished restore.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    pub pvc: String,
    pub snapshot: String,
    /// The snapshot of the replaced volume, taken first.
    pub safety_snapshot: String,
}

/// Why a storage action failed, in words an admin can act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StorageError {
    /// The user has no volume (or no such snapshot): 404.
    #[error("{0}")]
    NotFound(String),
    /// The request itself is wrong (bad quantity, shrinking): 400.
    #[error("{0}")]
    Invalid(String),
    /// The cluster cannot do it for this volume (class without expansion,
    /// no snapshot support, server running): 409.
    #[error("{0}")]
    Refused(String),
    /// The Kubernetes API failed or refused unexpectedly: 502.
    #[error("the cluster refused the request: {0}")]
    Backend(String),
}

/// Users' volumes: resize, snapshots, restore, export, used bytes.
/// Implemented on Kubernetes by `jhub-kube`; the hub decides when (server
/// stopped, schedule, retention) and records events.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// The PVC name the user's default server uses (no I/O).
    fn pvc_name(&self, owner: &StorageOwner) -> Result<String, StorageError>;
    /// The volume's current state.
    async fn describe(&self, owner: &StorageOwner) -> Result<StorageInfo, StorageError>;
    /// Grows the volume's request to `capacity` (a quantity such as `20Gi`).
    async fn resize(&self, owner: &StorageOwner, capacity: &str) -> Result<StorageInfo, StorageError>;
    /// Takes a snapshot now (returns once it is created, not necessarily ready).
    async fn snapshot(
        &self,
        owner: &StorageOwner,
        kind: SnapshotKind,
        at: Timestamp,
    ) -> Result<VolumeSnapshot, StorageError>;
    /// Deletes one of the user's snapshots.
    async fn delete_snapshot(&self, owner: &StorageOwner, name: &str) -> Result<(), StorageError>;
    /// Replaces the volume with one made from `snapshot`. The caller has
    /// checked that no server uses the volume.
    async fn restore(&self, owner: &StorageOwner, snapshot: &str, at: Timestamp) -> Result<Restored, StorageError>;
    /// The PV and PVC objects, cleaned for re-applying (`kubectl apply`).
    async fn export(&self, owner: &StorageOwner) -> Result<Value, StorageError>;
    /// Used bytes per PVC name from the kubelets' volume stats; empty when
    /// the hub may not read them.
    async fn used_bytes(&self) -> Result<BTreeMap<String, u64>, StorageError>;
}
