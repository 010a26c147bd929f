//! [`KubeStorage`]: the hub's `Storage` port on Kubernetes — users' PVCs
//! grown in place, CSI VolumeSnapshots taken and restored, the PV+PVC
//! objects exported, used bytes read from the kubelets' volume stats.
//!
//! Restore replaces the claim under its own name: a safety snapshot of the
//! current volume first (kind `pre-restore`), then the claim is deleted and
//! created again with the same name, class, modes and labels and
//! `dataSource` = the chosen snapshot. The spawner needs no change (its PVC
//! create answers 409 and keeps the restored claim), the name templates and
//! `delete_forever` keep working, and the replaced data stays reachable
//! through the safety snapshot.
//!
//! RBAC beyond the spawner's ([`STORAGE_RBAC_RULES`], [`STORAGE_CLUSTER_RBAC_RULES`]):
//!
//! | resource | verbs | why |
//! |---|---|---|
//! | `persistentvolumeclaims` | `patch` | resize |
//! | `pods` | `list` | which nodes run users' pods (volume stats) |
//! | `volumesnapshots` (`snapshot.storage.k8s.io`) | `get`, `list`, `create`, `delete` | snapshots, retention, restore |
//! | `storageclasses` (`storage.k8s.io`, cluster) | `get` | whether the class allows expansion |
//! | `volumesnapshotclasses` (`snapshot.storage.k8s.io`, cluster) | `list` | whether snapshots are possible |
//! | `persistentvolumes` (cluster) | `get` | export |
//! | `nodes/proxy` (cluster) | `get` | the kubelet's `stats/summary` (used bytes); optional |

use crate::retry::{self, Budget, Failed};
use async_trait::async_trait;
use jhub_core::Timestamp;
use jhub_core::ports::{Restored, SnapshotKind, Storage, StorageError, StorageInfo, StorageOwner, VolumeSnapshot};
use jhub_core::storage::{ResizeDecision, check_resize, snapshot_name};
use jhub_podspec::SpawnerConfig;
use jhub_podspec::manifest::names_for_spawn;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Namespaced RBAC the storage features add to the spawner's
/// ([`crate::RBAC_RULES`]), as `(apiGroup, resource, verbs)`.
pub const STORAGE_RBAC_RULES: &[(&str, &str, &[&str])] = &[
    ("", "persistentvolumeclaims", &["patch"]),
    ("", "pods", &["list"]),
    ("snapshot.storage.k8s.io", "volumesnapshots", &["create", "delete", "get", "list"]),
];

/// Cluster-scoped RBAC of the storage features (a ClusterRole).
pub const STORAGE_CLUSTER_RBAC_RULES: &[(&str, &str, &[&str])] = &[
    ("storage.k8s.io", "storageclasses", &["get"]),
    ("snapshot.storage.k8s.io", "volumesnapshotclasses", &["list"]),
    ("", "persistentvolumes", &["get"]),
    ("", "nodes/proxy", &["get"]),
];

/// Label on every snapshot jhub takes: its [`SnapshotKind`].
pub const SNAPSHOT_KIND_LABEL: &str = "jhub/snapshot-kind";
/// Annotation on snapshots jhub takes: whose volume it is.
pub const SNAPSHOT_USER_ANNOTATION: &str = "jhub/user";
/// Annotation on snapshots jhub takes: the hub's time when it asked (what
/// the schedule and retention compare, on the hub's clock).
pub const SNAPSHOT_TAKEN_AT_ANNOTATION: &str = "jhub/taken-at";
/// Annotation on a restored claim: the snapshot it was made from.
pub const RESTORED_FROM_ANNOTATION: &str = "jhub/restored-from";
const DEFAULT_SNAPSHOT_CLASS_ANNOTATION: &str = "snapshot.storage.kubernetes.io/is-default-class";

/// Settings of [`KubeStorage`].
#[derive(Debug, Clone)]
pub struct KubeStorageSettings {
    /// The VolumeSnapshotClass to use; `None` uses the cluster's default class.
    pub snapshot_class: Option<String>,
    /// How long a restore waits for the safety snapshot to be ready and the
    /// old claim to be gone.
    pub restore_wait: Duration,
    /// Bound on one API call.
    pub request_timeout: Duration,
}

impl Default for KubeStorageSettings {
    fn default() -> Self {
        Self { snapshot_class: None, restore_wait: Duration::from_secs(300), request_timeout: Duration::from_secs(10) }
    }
}

/// Users' volumes on Kubernetes.
pub struct KubeStorage {
    base: SpawnerConfig,
    namespace: String,
    settings: KubeStorageSettings,
    client: kube::Client,
    pvcs: Api<DynamicObject>,
    pvs: Api<DynamicObject>,
    classes: Api<DynamicObject>,
    pods: Api<Pod>,
    snapshots: Api<DynamicObject>,
    snapshot_classes: Api<DynamicObject>,
    /// Used bytes per PVC from the last `used_bytes` sweep (what `describe` shows).
    used: Mutex<BTreeMap<String, u64>>,
    /// The stats were refused once (logged once, then quiet).
    stats_denied: AtomicBool,
}

impl std::fmt::Debug for KubeStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeStorage").field("namespace", &self.namespace).finish_non_exhaustive()
    }
}

fn snapshot_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("snapshot.storage.k8s.io", "v1", kind), plural)
}

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn opt(v: &Value, p: &str) -> Option<String> {
    v.pointer(p).and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from)
}

fn backend(what: &str, failed: &Failed) -> StorageError {
    StorageError::Backend(format!("{what}: {failed}"))
}

fn to_value(obj: &DynamicObject) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

fn from_value(v: Value, what: &str) -> Result<DynamicObject, StorageError> {
    serde_json::from_value(v).map_err(|e| StorageError::Backend(format!("building {what}: {e}")))
}

/// A snapshot object as the port's [`VolumeSnapshot`].
fn snapshot_of(v: &Value) -> VolumeSnapshot {
    VolumeSnapshot {
        name: s(v, "/metadata/name").to_string(),
        created: opt(v, &format!("/metadata/annotations/{}", SNAPSHOT_TAKEN_AT_ANNOTATION.replace('/', "~1")))
            .or_else(|| opt(v, "/status/creationTime"))
            .or_else(|| opt(v, "/metadata/creationTimestamp")),
        ready_to_use: v.pointer("/status/readyToUse").and_then(Value::as_bool).unwrap_or(false),
        size: opt(v, "/status/restoreSize"),
        kind: v
            .pointer(&format!("/metadata/labels/{}", SNAPSHOT_KIND_LABEL.replace('/', "~1")))
            .and_then(Value::as_str)
            .and_then(SnapshotKind::parse),
        error: opt(v, "/status/error/message"),
    }
}

impl KubeStorage {
    /// Storage for the users of `config` (the spawner's configuration: its
    /// namespace and name templates), using `client`.
    pub fn new(client: kube::Client, config: SpawnerConfig, settings: KubeStorageSettings) -> Self {
        let ns = config.namespace.clone();
        let pvc = ApiResource::erase::<PersistentVolumeClaim>(&());
        let pv = ApiResource::erase::<PersistentVolume>(&());
        let class = ApiResource::erase::<StorageClass>(&());
        Self {
            pvcs: Api::namespaced_with(client.clone(), &ns, &pvc),
            pvs: Api::all_with(client.clone(), &pv),
            classes: Api::all_with(client.clone(), &class),
            pods: Api::namespaced(client.clone(), &ns),
            snapshots: Api::namespaced_with(
                client.clone(),
                &ns,
                &snapshot_resource("VolumeSnapshot", "volumesnapshots"),
            ),
            snapshot_classes: Api::all_with(
                client.clone(),
                &snapshot_resource("VolumeSnapshotClass", "volumesnapshotclasses"),
            ),
            client,
            base: config,
            namespace: ns,
            settings,
            used: Mutex::new(BTreeMap::new()),
            stats_denied: AtomicBool::new(false),
        }
    }

    fn budget(&self) -> Budget {
        Budget { until: Instant::now() + self.settings.request_timeout * 2, per_attempt: self.settings.request_timeout }
    }

    async fn get_pvc(&self, name: &str, user: &str) -> Result<Value, StorageError> {
        match retry::call(self.budget(), || self.pvcs.get_opt(name)).await {
            Ok(Some(obj)) => Ok(to_value(&obj)),
            Ok(None) => Err(StorageError::NotFound(format!(
                "{user} has no volume: PVC {name} does not exist (it is created at the first start of the server)"
            ))),
            Err(f) => Err(backend(&format!("reading PVC {name}"), &f)),
        }
    }

    /// Whether the claim's class allows expansion (false when unreadable).
    async fn expandable(&self, class: Option<&str>) -> bool {
        let Some(class) = class else { return false };
        match retry::call(self.budget(), || self.classes.get_opt(class)).await {
            Ok(Some(obj)) => to_value(&obj).get("allowVolumeExpansion").and_then(Value::as_bool) == Some(true),
            Ok(None) => false,
            Err(f) => {
                tracing::info!(class, error = %f, "cannot read the storage class; treating it as not expandable");
                false
            }
        }
    }

    /// The VolumeSnapshotClass to use, or why there is none.
    async fn snapshot_class(&self) -> Result<String, StorageError> {
        let params = ListParams::default();
        let listed = retry::call(self.budget(), || self.snapshot_classes.list(&params)).await;
        let classes = match listed {
            Ok(list) => list.items.iter().map(to_value).collect::<Vec<_>>(),
            Err(f) if f.error.code() == Some(404) => {
                return Err(StorageError::Refused(
                    "this cluster has no CSI snapshot support (the snapshot.storage.k8s.io API is not installed); \
                     use the export of the PV and PVC objects and back up the volume on the storage side instead"
                        .into(),
                ));
            }
            Err(f) => return Err(backend("listing VolumeSnapshotClasses", &f)),
        };
        let found = match &self.settings.snapshot_class {
            Some(wanted) => classes.iter().find(|c| s(c, "/metadata/name") == wanted),
            None => classes.iter().find(|c| {
                s(c, &format!("/metadata/annotations/{}", DEFAULT_SNAPSHOT_CLASS_ANNOTATION.replace('/', "~1")))
                    == "true"
            }),
        };
        match (found, &self.settings.snapshot_class) {
            (Some(c), _) => Ok(s(c, "/metadata/name").to_string()),
            (None, Some(wanted)) => {
                Err(StorageError::Refused(format!("the VolumeSnapshotClass {wanted:?} (hub.config.JhubStorage) does not exist")))
            }
            (None, None) => Err(StorageError::Refused(
                "no default VolumeSnapshotClass: annotate one with snapshot.storage.kubernetes.io/is-default-class=true \
                 or name one in hub.config.JhubStorage.snapshotClass"
                    .into(),
            )),
        }
    }

    /// The snapshots of claim `pvc`, newest first; `None` without the snapshot API.
    async fn snapshots_of(&self, pvc: &str) -> Result<Option<Vec<VolumeSnapshot>>, StorageError> {
        let params = ListParams::default();
        let listed = retry::call(self.budget(), || self.snapshots.list(&params)).await;
        let items = match listed {
            Ok(list) => list.items,
            Err(f) if f.error.code() == Some(404) => return Ok(None),
            Err(f) if f.error.code() == Some(403) => {
                tracing::info!(error = %f, "cannot list VolumeSnapshots (RBAC); snapshots are not shown");
                return Ok(None);
            }
            Err(f) => return Err(backend("listing VolumeSnapshots", &f)),
        };
        let mut found: Vec<VolumeSnapshot> = items
            .iter()
            .map(to_value)
            .filter(|v| s(v, "/spec/source/persistentVolumeClaimName") == pvc)
            .map(|v| snapshot_of(&v))
            .collect();
        found.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.name.cmp(&a.name)));
        Ok(Some(found))
    }

    async fn create_snapshot(
        &self,
        owner: &StorageOwner,
        pvc: &str,
        kind: SnapshotKind,
        at: Timestamp,
        class: &str,
    ) -> Result<VolumeSnapshot, StorageError> {
        let name = snapshot_name(pvc, kind, at);
        let body = json!({
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshot",
            "metadata": {
                "name": name,
                "labels": {SNAPSHOT_KIND_LABEL: kind.as_str(), "app.kubernetes.io/managed-by": "jhub"},
                "annotations": {
                    SNAPSHOT_USER_ANNOTATION: owner.user,
                    SNAPSHOT_TAKEN_AT_ANNOTATION: jhub_core::time::isoformat(at),
                },
            },
            "spec": {"volumeSnapshotClassName": class, "source": {"persistentVolumeClaimName": pvc}},
        });
        let obj = from_value(body, "the VolumeSnapshot")?;
        let params = PostParams::default();
        match retry::call(self.budget(), || self.snapshots.create(&params, &obj)).await {
            Ok(created) => {
                tracing::info!(user = %owner.user, snapshot = %name, kind = kind.as_str(), "created volume snapshot");
                Ok(snapshot_of(&to_value(&created)))
            }
            Err(f) if f.error.code() == Some(409) => {
                Err(StorageError::Refused(format!("a snapshot named {name} already exists; try again in a second")))
            }
            Err(f) => Err(backend(&format!("creating VolumeSnapshot {name}"), &f)),
        }
    }

    /// Polls until the snapshot is ready; its error, or a timeout, fails.
    async fn wait_ready(&self, name: &str, deadline: Instant) -> Result<Value, StorageError> {
        loop {
            match retry::call(self.budget(), || self.snapshots.get_opt(name)).await {
                Ok(Some(obj)) => {
                    let v = to_value(&obj);
                    if v.pointer("/status/readyToUse").and_then(Value::as_bool) == Some(true) {
                        return Ok(v);
                    }
                    if let Some(err) = opt(&v, "/status/error/message") {
                        return Err(StorageError::Backend(format!("snapshot {name} failed: {err}")));
                    }
                }
                Ok(None) => return Err(StorageError::Backend(format!("snapshot {name} disappeared"))),
                Err(f) => return Err(backend(&format!("reading VolumeSnapshot {name}"), &f)),
            }
            if Instant::now() >= deadline {
                return Err(StorageError::Backend(format!("snapshot {name} was not ready in time")));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn wait_pvc_gone(&self, name: &str, uid: &str, deadline: Instant) -> Result<(), StorageError> {
        loop {
            match retry::call(self.budget(), || self.pvcs.get_opt(name)).await {
                Ok(None) => return Ok(()),
                Ok(Some(obj)) if obj.metadata.uid.as_deref() != Some(uid) => return Ok(()),
                Ok(Some(_)) => {}
                Err(f) => return Err(backend(&format!("reading PVC {name}"), &f)),
            }
            if Instant::now() >= deadline {
                return Err(StorageError::Backend(format!(
                    "PVC {name} was not deleted in time (is a pod still using it?)"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn info(
        &self,
        pvc: &Value,
        expandable: bool,
        snapshots: Option<Vec<VolumeSnapshot>>,
        supported: bool,
    ) -> StorageInfo {
        let name = s(pvc, "/metadata/name").to_string();
        let resize_pending = pvc.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|cs| {
            cs.iter().any(|c| s(c, "/type") == "FileSystemResizePending" && s(c, "/status") == "True")
        });
        StorageInfo {
            used_bytes: self.used.lock().unwrap_or_else(|p| p.into_inner()).get(&name).copied(),
            pvc: name,
            capacity: opt(pvc, "/status/capacity/storage"),
            requested: opt(pvc, "/spec/resources/requests/storage"),
            storage_class: opt(pvc, "/spec/storageClassName"),
            expandable,
            resize_pending,
            snapshots: snapshots.unwrap_or_default(),
            snapshots_supported: supported,
        }
    }

    async fn describe_pvc(&self, pvc: &Value) -> Result<StorageInfo, StorageError> {
        let class = opt(pvc, "/spec/storageClassName");
        let expandable = self.expandable(class.as_deref()).await;
        let snapshots = self.snapshots_of(s(pvc, "/metadata/name")).await?;
        let supported = snapshots.is_some() && self.snapshot_class().await.is_ok();
        Ok(self.info(pvc, expandable, snapshots, supported))
    }

    /// The kubelet's volume stats of one node, as PVC name → used bytes.
    async fn node_stats(&self, node: &str) -> Result<BTreeMap<String, u64>, StatsError> {
        let request = http::Request::get(format!("/api/v1/nodes/{node}/proxy/stats/summary"))
            .body(Vec::new())
            .map_err(|e| StatsError::Other(e.to_string()))?;
        let text = match tokio::time::timeout(self.settings.request_timeout, self.client.request_text(request)).await {
            Err(_) => return Err(StatsError::Other(format!("no answer from node {node}'s stats in time"))),
            Ok(Err(kube::Error::Api(status))) if status.code == 403 => return Err(StatsError::Forbidden),
            Ok(Err(e)) => return Err(StatsError::Other(e.to_string())),
            Ok(Ok(text)) => text,
        };
        let summary: Value = serde_json::from_str(&text).map_err(|e| StatsError::Other(e.to_string()))?;
        let mut used = BTreeMap::new();
        for pod in summary.get("pods").and_then(Value::as_array).into_iter().flatten() {
            for vol in pod.get("volume").and_then(Value::as_array).into_iter().flatten() {
                if s(vol, "/pvcRef/namespace") != self.namespace {
                    continue;
                }
                if let (Some(name), Some(bytes)) =
                    (opt(vol, "/pvcRef/name"), vol.get("usedBytes").and_then(Value::as_u64))
                {
                    used.insert(name, bytes);
                }
            }
        }
        Ok(used)
    }
}

/// Why a node's volume stats could not be read.
#[derive(Debug)]
enum StatsError {
    /// RBAC: no `get nodes/proxy`.
    Forbidden,
    Other(String),
}

#[async_trait]
impl Storage for KubeStorage {
    fn pvc_name(&self, owner: &StorageOwner) -> Result<String, StorageError> {
        names_for_spawn(&self.base, &owner.user, owner.user_id, "", &owner.state)
            .map(|n| n.pvc_name)
            .map_err(|e| StorageError::Backend(format!("naming {}'s PVC: {e}", owner.user)))
    }

    async fn describe(&self, owner: &StorageOwner) -> Result<StorageInfo, StorageError> {
        let name = self.pvc_name(owner)?;
        let pvc = self.get_pvc(&name, &owner.user).await?;
        self.describe_pvc(&pvc).await
    }

    async fn resize(&self, owner: &StorageOwner, capacity: &str) -> Result<StorageInfo, StorageError> {
        let name = self.pvc_name(owner)?;
        let pvc = self.get_pvc(&name, &owner.user).await?;
        let class = opt(&pvc, "/spec/storageClassName");
        let expandable = self.expandable(class.as_deref()).await;
        let current = opt(&pvc, "/spec/resources/requests/storage").unwrap_or_default();
        let capacity = capacity.trim();
        if check_resize(&current, capacity, class.as_deref(), expandable)? == ResizeDecision::Grow {
            let patch = json!({"spec": {"resources": {"requests": {"storage": capacity}}}});
            let params = PatchParams::default();
            let patch = Patch::Merge(&patch);
            match retry::call(self.budget(), || self.pvcs.patch(&name, &params, &patch)).await {
                Ok(_) => {
                    tracing::info!(user = %owner.user, pvc = %name, from = %current, to = %capacity, "resized PVC")
                }
                Err(f) => {
                    let message = match &f.error {
                        retry::CallError::Status { message, .. } => message.clone(),
                        other => other.to_string(),
                    };
                    return Err(match f.error.code() {
                        Some(403) => {
                            StorageError::Refused(format!("the cluster refused to grow PVC {name}: {message}"))
                        }
                        Some(422) => {
                            StorageError::Invalid(format!("the cluster refused to grow PVC {name}: {message}"))
                        }
                        _ => backend(&format!("resizing PVC {name}"), &f),
                    });
                }
            }
        }
        self.describe(owner).await
    }

    async fn snapshot(
        &self,
        owner: &StorageOwner,
        kind: SnapshotKind,
        at: Timestamp,
    ) -> Result<VolumeSnapshot, StorageError> {
        let name = self.pvc_name(owner)?;
        self.get_pvc(&name, &owner.user).await?;
        let class = self.snapshot_class().await?;
        self.create_snapshot(owner, &name, kind, at, &class).await
    }

    async fn delete_snapshot(&self, owner: &StorageOwner, snapshot: &str) -> Result<(), StorageError> {
        let pvc = self.pvc_name(owner)?;
        let found = retry::call(self.budget(), || self.snapshots.get_opt(snapshot))
            .await
            .map_err(|f| backend(&format!("reading VolumeSnapshot {snapshot}"), &f))?;
        let Some(found) = found.map(|o| to_value(&o)) else { return Ok(()) };
        if s(&found, "/spec/source/persistentVolumeClaimName") != pvc {
            return Err(StorageError::Invalid(format!("snapshot {snapshot} is not of {}'s volume", owner.user)));
        }
        let params = DeleteParams::default();
        match retry::call(self.budget(), || self.snapshots.delete(snapshot, &params)).await {
            Ok(_) => {
                tracing::info!(user = %owner.user, snapshot, "deleted volume snapshot");
                Ok(())
            }
            Err(f) if f.error.code() == Some(404) => Ok(()),
            Err(f) => Err(backend(&format!("deleting VolumeSnapshot {snapshot}"), &f)),
        }
    }

    async fn restore(&self, owner: &StorageOwner, snapshot: &str, at: Timestamp) -> Result<Restored, StorageError> {
        let name = self.pvc_name(owner)?;
        let chosen = retry::call(self.budget(), || self.snapshots.get_opt(snapshot)).await;
        let chosen = match chosen {
            Ok(Some(obj)) => to_value(&obj),
            Ok(None) => return Err(StorageError::NotFound(format!("no snapshot named {snapshot}"))),
            Err(f) if f.error.code() == Some(404) => {
                return Err(StorageError::Refused("this cluster has no CSI snapshot support".into()));
            }
            Err(f) => return Err(backend(&format!("reading VolumeSnapshot {snapshot}"), &f)),
        };
        if s(&chosen, "/spec/source/persistentVolumeClaimName") != name {
            return Err(StorageError::Invalid(format!(
                "snapshot {snapshot} is not of {}'s volume ({name}); restore only puts a volume's own snapshot back",
                owner.user
            )));
        }
        if chosen.pointer("/status/readyToUse").and_then(Value::as_bool) != Some(true) {
            return Err(StorageError::Refused(format!("snapshot {snapshot} is not ready to use yet")));
        }
        let current = self.get_pvc(&name, &owner.user).await?;
        let class = self.snapshot_class().await?;
        let deadline = Instant::now() + self.settings.restore_wait;
        // The data being replaced stays reachable: snapshot it first.
        let safety = self.create_snapshot(owner, &name, SnapshotKind::PreRestore, at, &class).await?;
        self.wait_ready(&safety.name, deadline).await?;
        let uid = s(&current, "/metadata/uid").to_string();
        let params = DeleteParams::default();
        match retry::call(self.budget(), || self.pvcs.delete(&name, &params)).await {
            Ok(_) => {}
            Err(f) if f.error.code() == Some(404) => {}
            Err(f) => return Err(backend(&format!("deleting PVC {name} (safety snapshot {} kept)", safety.name), &f)),
        }
        self.wait_pvc_gone(&name, &uid, deadline).await.map_err(|e| match e {
            StorageError::Backend(m) => {
                StorageError::Backend(format!("{m}; the old volume is kept as snapshot {}", safety.name))
            }
            other => other,
        })?;
        let body = restored_claim(&current, snapshot, &chosen);
        let obj = from_value(body, "the restored PVC")?;
        let post = PostParams::default();
        match retry::call(self.budget(), || self.pvcs.create(&post, &obj)).await {
            Ok(_) => {}
            Err(f) => {
                tracing::error!(user = %owner.user, pvc = %name, safety = %safety.name, error = %f,
                    "the old PVC is deleted but the restored one could not be created");
                return Err(StorageError::Backend(format!(
                    "creating PVC {name} from snapshot {snapshot}: {f}; the old volume is kept as snapshot {} \
                     — retry the restore before starting the server",
                    safety.name
                )));
            }
        }
        tracing::info!(user = %owner.user, pvc = %name, snapshot, safety = %safety.name, "restored PVC from snapshot");
        Ok(Restored { pvc: name, snapshot: snapshot.to_string(), safety_snapshot: safety.name })
    }

    async fn export(&self, owner: &StorageOwner) -> Result<Value, StorageError> {
        let name = self.pvc_name(owner)?;
        let pvc = self.get_pvc(&name, &owner.user).await?;
        let mut items = Vec::new();
        let volume = s(&pvc, "/spec/volumeName").to_string();
        if !volume.is_empty() {
            match retry::call(self.budget(), || self.pvs.get_opt(&volume)).await {
                Ok(Some(pv)) => items.push(clean_pv(to_value(&pv))),
                Ok(None) => {}
                Err(f) => return Err(backend(&format!("reading PV {volume}"), &f)),
            }
        }
        items.push(clean_object(pvc));
        Ok(json!({"apiVersion": "v1", "kind": "List", "items": items}))
    }

    async fn used_bytes(&self) -> Result<BTreeMap<String, u64>, StorageError> {
        let selector = format!("component={}", self.base.component_label);
        let params = ListParams::default().labels(&selector);
        let pods = retry::call(self.budget(), || self.pods.list(&params))
            .await
            .map_err(|f| backend("listing user pods", &f))?;
        let nodes: BTreeSet<String> = pods.items.iter().filter_map(|p| p.spec.as_ref()?.node_name.clone()).collect();
        let mut all = BTreeMap::new();
        for node in nodes {
            match self.node_stats(&node).await {
                Ok(found) => all.extend(found),
                Err(StatsError::Forbidden) => {
                    if !self.stats_denied.swap(true, Ordering::Relaxed) {
                        tracing::info!(
                            "the kubelet's volume stats are not readable (RBAC: get nodes/proxy); used bytes are not shown"
                        );
                    }
                    break;
                }
                Err(StatsError::Other(e)) => tracing::debug!(node, error = %e, "reading volume stats failed"),
            }
        }
        *self.used.lock().unwrap_or_else(|p| p.into_inner()) = all.clone();
        Ok(all)
    }
}

/// Server-set fields removed so the object can be applied again.
fn clean_object(mut v: Value) -> Value {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in
            ["uid", "resourceVersion", "creationTimestamp", "managedFields", "selfLink", "generation", "finalizers"]
        {
            meta.remove(f);
        }
    }
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
    }
    v
}

/// A PV for re-binding: no claim uid/version, kept on claim deletion.
fn clean_pv(v: Value) -> Value {
    let mut v = clean_object(v);
    if let Some(claim) = v.pointer_mut("/spec/claimRef").and_then(Value::as_object_mut) {
        claim.remove("uid");
        claim.remove("resourceVersion");
    }
    if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("persistentVolumeReclaimPolicy".into(), json!("Retain"));
    }
    v
}

/// The claim that replaces `current`: same name, labels, class, modes;
/// at least the snapshot's size; made from `snapshot`.
fn restored_claim(current: &Value, snapshot: &str, chosen: &Value) -> Value {
    let mut labels = current.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({}));
    if !labels.is_object() {
        labels = json!({});
    }
    let mut annotations = serde_json::Map::new();
    if let Some(old) = current.pointer("/metadata/annotations").and_then(Value::as_object) {
        for (k, v) in old {
            // Binding annotations belong to the old volume.
            if !(k.starts_with("pv.kubernetes.io/")
                || k.starts_with("volume.kubernetes.io/")
                || k.starts_with("volume.beta.kubernetes.io/storage-provisioner"))
            {
                annotations.insert(k.clone(), v.clone());
            }
        }
    }
    annotations.insert(RESTORED_FROM_ANNOTATION.into(), json!(snapshot));
    let requested = opt(current, "/spec/resources/requests/storage");
    let size = opt(chosen, "/status/restoreSize");
    let bytes = |q: &Option<String>| q.as_deref().and_then(|t| jhub_core::storage::capacity_bytes(t).ok());
    let storage = match (bytes(&requested), bytes(&size)) {
        (Some(r), Some(z)) if z > r => size,
        _ => requested.or(size),
    };
    let mut spec = json!({
        "accessModes": current.pointer("/spec/accessModes").cloned().unwrap_or_else(|| json!(["ReadWriteOnce"])),
        "resources": {"requests": {"storage": storage}},
        "dataSource": {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": snapshot},
    });
    for f in ["storageClassName", "volumeMode", "selector"] {
        if let Some(v) = current.pointer(&format!("/spec/{f}")).filter(|v| !v.is_null()) {
            spec[f] = v.clone();
        }
    }
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": s(current, "/metadata/name"), "labels": labels, "annotations": annotations},
        "spec": spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restored_claim_keeps_identity_and_grows_to_the_snapshot() {
        let current = json!({
            "metadata": {"name": "claim-alice", "uid": "u1", "labels": {"app": "jupyterhub"},
                         "annotations": {"hub.jupyter.org/username": "alice", "pv.kubernetes.io/bind-completed": "yes"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast", "volumeMode": "Filesystem",
                     "resources": {"requests": {"storage": "10Gi"}}, "volumeName": "pvc-u1"},
        });
        let snap = json!({"status": {"restoreSize": "20Gi", "readyToUse": true}});
        let claim = restored_claim(&current, "claim-alice-manual-1", &snap);
        assert_eq!(claim["metadata"]["name"], "claim-alice");
        assert_eq!(claim["metadata"]["labels"]["app"], "jupyterhub");
        assert_eq!(claim["metadata"]["annotations"]["hub.jupyter.org/username"], "alice");
        assert!(claim["metadata"]["annotations"].get("pv.kubernetes.io/bind-completed").is_none());
        assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "20Gi");
        assert_eq!(claim["spec"]["storageClassName"], "fast");
        assert_eq!(claim["spec"]["dataSource"]["name"], "claim-alice-manual-1");
        assert!(claim["spec"].get("volumeName").is_none());
    }

    #[test]
    fn export_strips_server_fields_and_retains_the_pv() {
        let pv = clean_pv(json!({
            "metadata": {"name": "pvc-u1", "uid": "x", "resourceVersion": "5"},
            "spec": {"persistentVolumeReclaimPolicy": "Delete", "claimRef": {"name": "claim-alice", "uid": "u1"}},
            "status": {"phase": "Bound"},
        }));
        assert!(pv.get("status").is_none());
        assert!(pv["metadata"].get("uid").is_none());
        assert!(pv["spec"]["claimRef"].get("uid").is_none());
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    }
}
