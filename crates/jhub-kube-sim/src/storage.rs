//! Storage beyond provisioning: StorageClass objects and volume expansion, CSI volume
//! snapshots, restore from a snapshot, and the kubelet's volume stats. Each piece follows the
//! real component's observable behaviour:
//!
//! | piece | real behaviour reproduced | reference |
//! |---|---|---|
//! | `storage.k8s.io/v1` StorageClasses | cluster-scoped objects with `provisioner`, `reclaimPolicy` (default `Delete`), `volumeBindingMode` (default `Immediate`), `allowVolumeExpansion`; seeded from `storage_classes`, `default_storage_class` (annotated `storageclass.kubernetes.io/is-default-class`) and `expandable_storage_classes`; `parameters` and `provisioner` immutable | <https://kubernetes.io/docs/concepts/storage/storage-classes/> |
//! | PVC expansion admission | raising `spec.resources.requests.storage` of a claim whose class lacks `allowVolumeExpansion: true` (or an unbound claim) → 403 Forbidden "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize" (the `PersistentVolumeClaimResize` admission plugin); lowering it → 422 `spec.resources.requests.storage: Forbidden: field can not be less than previous value` | <https://kubernetes.io/docs/concepts/storage/persistent-volumes/#expanding-persistent-volumes-claims> |
//! | external-resizer + kubelet | a grown request sets `status.allocatedResources` and the `Resizing` condition (event `Resizing`), then grows the PV (`spec.capacity`) and asks for a node expansion (event `FileSystemResizeRequired`); a volume mounted by a running pod with online expansion finishes at once (`status.capacity` updated, conditions cleared, event `FileSystemResizeSuccessful`); otherwise the claim keeps `FileSystemResizePending` ("Waiting for user to (re-)start a pod to finish file system resize of volume on node.") until a pod that mounts it starts | <https://kubernetes.io/blog/2018/08/02/dynamically-expand-volume-with-csi-and-kubernetes/>, <https://kubernetes-csi.github.io/docs/volume-expansion.html> |
//! | `snapshot.storage.k8s.io/v1` VolumeSnapshotClass / VolumeSnapshot | CRD paths served only with `snapshot_crds` (404 otherwise, like a cluster without the external-snapshotter); `driver` and `deletionPolicy` required; a snapshot names exactly one of `source.persistentVolumeClaimName` / `source.volumeSnapshotContentName`, its spec is immutable; the class is `volumeSnapshotClassName` or the one annotated `snapshot.storage.kubernetes.io/is-default-class: "true"`; the controller sets `status.boundVolumeSnapshotContentName`, then `creationTime`, `restoreSize` (the claim's capacity) and `readyToUse: true` (events `CreatingSnapshot`, `SnapshotCreated`, `SnapshotReady`); a missing class or claim sets `status.error` and `readyToUse: false` | <https://kubernetes.io/docs/concepts/storage/volume-snapshots/>, <https://kubernetes.io/docs/concepts/storage/volume-snapshot-classes/> |
//! | restore | a claim with `dataSource` (or `dataSourceRef`) `{apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name}` provisions only once that snapshot is ready and its request is at least the snapshot's `restoreSize` (else `ProvisioningFailed`, retried); the new volume starts with the snapshot's content (process mode: the files; both modes: the used bytes) | <https://kubernetes.io/docs/concepts/storage/persistent-volumes/#volume-snapshot-and-restore-volume-from-snapshot-support> |
//! | kubelet stats | `GET /api/v1/nodes/{node}/proxy/stats/summary` (RBAC: `nodes/proxy` `get`) answers the Summary API: `node` and per running pod `podRef` and `volume[]` with `name`, `pvcRef`, `usedBytes`, `capacityBytes`, `availableBytes`; used bytes are what a test set (`set_volume_used_bytes`), else (process mode) the size of the volume's files | <https://kubernetes.io/docs/reference/instrumentation/understand-psi-metrics/>, kubelet `pkg/apis/stats/v1alpha1` |
//!
//! Not reproduced: VolumeSnapshotContent objects (only their name in the snapshot's status),
//! pre-provisioned snapshots, `RecoverVolumeExpansionFailure` (shrinking back after a failed
//! expansion), expansion failures, volume attributes classes, CSI node stage/publish.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::{ApiError, FieldError, SimError};
use crate::quantity::Quantity;
use crate::resource::{Resource, Verb};
use crate::sim::{Core, EventSpec, Simulator, lock, now, pod_claims, ts_seconds};
use crate::store::{EventType, WatchRecord, key_of};

/// The API groups served besides core/v1.
pub(crate) const GROUPS: [&str; 2] = ["storage.k8s.io", "snapshot.storage.k8s.io"];

const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";
const DEFAULT_SNAPSHOT_CLASS_ANNOTATION: &str = "snapshot.storage.kubernetes.io/is-default-class";
const RESIZE_FORBIDDEN: &str =
    "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize";
const RESIZE_PENDING_MESSAGE: &str =
    "Waiting for user to (re-)start a pod to finish file system resize of volume on node.";

/// What the storage controllers remember besides objects.
#[derive(Default)]
pub(crate) struct StorageState {
    /// Used bytes per PV name, set by tests (`Simulator::set_volume_used_bytes`) or by a restore.
    used: Mutex<HashMap<String, u64>>,
    /// Used bytes per snapshot uid at the time it was taken.
    snapshot_used: Mutex<HashMap<String, u64>>,
}

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn quantity_nano(v: Option<&Value>) -> Option<i128> {
    v.and_then(|v| Quantity::from_json(v).ok()).map(|q| q.nano())
}

/// Whether the API serves this resource (the snapshot CRDs may be absent).
pub(crate) fn served(core: &Core, res: Resource) -> bool {
    res.group() != "snapshot.storage.k8s.io" || core.cfg.snapshot_crds
}

fn served_groups(core: &Core) -> Vec<&'static str> {
    GROUPS.iter().copied().filter(|g| *g != "snapshot.storage.k8s.io" || core.cfg.snapshot_crds).collect()
}

fn group_json(group: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

/// `GET /apis`: the APIGroupList.
pub(crate) fn api_groups(core: &Core) -> Value {
    let groups: Vec<Value> = served_groups(core).into_iter().map(group_json).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/<group>` and `/apis/<group>/v1`; `None` for any other path.
pub(crate) fn discovery(core: &Core, path: &str) -> Option<Result<Value, ApiError>> {
    let rest = path.strip_prefix("/apis/")?.trim_end_matches('/');
    let (group, version) = match rest.split_once('/') {
        Some((g, v)) => (g, Some(v)),
        None => (rest, None),
    };
    if !GROUPS.contains(&group) || version.is_some_and(|v| v.contains('/')) {
        return None;
    }
    if !served_groups(core).contains(&group) {
        return Some(Err(ApiError::no_route(path)));
    }
    Some(match version {
        None => {
            let mut g = group_json(group);
            g["kind"] = json!("APIGroup");
            g["apiVersion"] = json!("v1");
            Ok(g)
        }
        Some("v1") => {
            let resources: Vec<Value> = Resource::ALL
                .into_iter()
                .filter(|r| r.group() == group)
                .map(|r| {
                    json!({"name": r.plural(), "singularName": r.singular(), "namespaced": r.namespaced(), "kind": r.kind(),
                           "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]})
                })
                .collect();
            Ok(
                json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{group}/v1"), "resources": resources}),
            )
        }
        Some(_) => Err(ApiError::no_route(path)),
    })
}

/// Seeds StorageClass and VolumeSnapshotClass objects from the configuration.
pub(crate) fn seed(core: &Core) -> Result<(), SimError> {
    let cfg = &core.cfg;
    let mut classes: Vec<String> = cfg.storage_classes.clone();
    classes.extend(cfg.default_storage_class.iter().cloned());
    classes.extend(cfg.expandable_storage_classes.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    for class in classes.into_iter().filter(|c| seen.insert(c.clone())) {
        let mut obj = json!({
            "metadata": {"name": class},
            "provisioner": format!("{class}.csi.sim"),
            "allowVolumeExpansion": cfg.expandable_storage_classes.contains(&class),
        });
        if cfg.default_storage_class.as_deref() == Some(class.as_str()) {
            obj["metadata"]["annotations"] = json!({DEFAULT_CLASS_ANNOTATION: "true"});
        }
        core.api_create(Resource::StorageClasses, None, obj)
            .map_err(|source| SimError::Seed { what: format!("storage class {class}"), source })?;
    }
    if cfg.snapshot_crds {
        for (i, class) in cfg.snapshot_classes.iter().enumerate() {
            let mut obj = json!({
                "metadata": {"name": class},
                "driver": format!("{class}.csi.sim"),
                "deletionPolicy": "Delete",
            });
            if i == 0 {
                obj["metadata"]["annotations"] = json!({DEFAULT_SNAPSHOT_CLASS_ANNOTATION: "true"});
            }
            core.api_create(Resource::VolumeSnapshotClasses, None, obj)
                .map_err(|source| SimError::Seed { what: format!("volume snapshot class {class}"), source })?;
        }
    }
    Ok(())
}

/// Defaults and validation of new storage objects.
pub(crate) fn admit_create(res: Resource, obj: &mut Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match res {
        Resource::StorageClasses => {
            if s(obj, "/provisioner").is_empty() {
                errs.push(FieldError::required("provisioner", ""));
            }
            if let Some(m) = obj.as_object_mut() {
                m.entry("reclaimPolicy").or_insert_with(|| json!("Delete"));
                m.entry("volumeBindingMode").or_insert_with(|| json!("Immediate"));
            }
        }
        Resource::VolumeSnapshotClasses => {
            if s(obj, "/driver").is_empty() {
                errs.push(FieldError::required("driver", ""));
            }
            match s(obj, "/deletionPolicy") {
                "Delete" | "Retain" => {}
                "" => errs.push(FieldError::required("deletionPolicy", "")),
                other => errs.push(FieldError::not_supported("deletionPolicy", other, &["Delete", "Retain"])),
            }
        }
        Resource::VolumeSnapshots => {
            let pvc = !s(obj, "/spec/source/persistentVolumeClaimName").is_empty();
            let content = !s(obj, "/spec/source/volumeSnapshotContentName").is_empty();
            if pvc == content {
                errs.push(FieldError::invalid(
                    "spec.source",
                    "",
                    "Exactly one of persistentVolumeClaimName and volumeSnapshotContentName should be specified",
                ));
            }
            if let Some(m) = obj.as_object_mut() {
                m.insert("status".into(), json!({"readyToUse": false}));
            }
        }
        _ => {}
    }
    errs
}

/// Validation of updates: the fields the real API keeps immutable.
pub(crate) fn admit_update(res: Resource, old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match res {
        Resource::StorageClasses => {
            for f in ["provisioner", "parameters", "reclaimPolicy", "volumeBindingMode"] {
                if old.get(f) != new.get(f) {
                    errs.push(FieldError::forbidden(f, "updates to this field are forbidden"));
                }
            }
        }
        Resource::VolumeSnapshots if old.pointer("/spec/source") != new.pointer("/spec/source") => {
            errs.push(FieldError::invalid("spec.source", "", "Value is immutable"));
        }
        _ => {}
    }
    errs
}

/// A claim's storage request may grow but not shrink.
pub(crate) fn check_pvc_request_change(old: &Value, new: &Value) -> Vec<FieldError> {
    let was = quantity_nano(old.pointer("/spec/resources/requests/storage"));
    let now = quantity_nano(new.pointer("/spec/resources/requests/storage"));
    match (was, now) {
        (Some(w), Some(n)) if n < w => {
            vec![FieldError::forbidden("spec.resources.requests.storage", "field can not be less than previous value")]
        }
        _ => Vec::new(),
    }
}

/// The `PersistentVolumeClaimResize` admission plugin: growing a claim needs a bound claim of
/// a class with `allowVolumeExpansion: true`.
pub(crate) fn check_expansion_allowed(core: &Core, old: &Value, new: &Value) -> Result<(), ApiError> {
    let was = quantity_nano(old.pointer("/spec/resources/requests/storage"));
    let now = quantity_nano(new.pointer("/spec/resources/requests/storage"));
    let grows = matches!((was, now), (Some(w), Some(n)) if n > w);
    if !grows {
        return Ok(());
    }
    let name = s(old, "/metadata/name");
    let class = s(old, "/spec/storageClassName");
    let expandable = !class.is_empty()
        && core
            .store
            .get(Resource::StorageClasses, "", class)
            .is_some_and(|c| c.get("allowVolumeExpansion").and_then(Value::as_bool) == Some(true));
    let bound = s(old, "/status/phase") == "Bound" && !s(old, "/spec/volumeName").is_empty();
    if !bound {
        return Err(ApiError::invalid(
            Resource::PersistentVolumeClaims,
            name,
            &[FieldError::forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
            )],
        ));
    }
    if !expandable {
        return Err(ApiError::forbidden(Resource::PersistentVolumeClaims, name, RESIZE_FORBIDDEN));
    }
    Ok(())
}

fn event(core: &Core, involved: &Value, etype: &str, reason: &str, message: &str, component: &str) {
    core.record_event(EventSpec {
        involved,
        field_path: None,
        etype,
        reason,
        message,
        component,
        host: None,
        new_style: false,
        action: None,
    });
}

fn has_condition(pvc: &Value, kind: &str) -> bool {
    pvc.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| s(c, "/type") == kind && s(c, "/status") == "True"))
}

fn condition(kind: &str, message: Option<&str>) -> Value {
    let mut c = json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": ts_seconds(now())});
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    c
}

/// Reacts to store changes (called by the controller dispatcher for every record).
pub(crate) fn handle(core: &Arc<Core>, rec: &WatchRecord) {
    let obj = &rec.object;
    match (rec.resource, rec.etype) {
        (Resource::PersistentVolumeClaims, EventType::Modified) => {
            let want = quantity_nano(obj.pointer("/spec/resources/requests/storage"));
            let have = quantity_nano(obj.pointer("/status/capacity/storage"));
            let allocated = quantity_nano(obj.pointer("/status/allocatedResources/storage"));
            let bound = s(obj, "/status/phase") == "Bound";
            if let (true, Some(w), Some(h)) = (bound, want, have)
                && w > h
                && allocated != Some(w)
            {
                let core2 = core.clone();
                let key = key_of(obj);
                core.tasks.spawn(async move { expand(core2, key).await });
            }
        }
        (Resource::Pods, EventType::Modified) => {
            let running = |v: &Value| s(v, "/status/phase") == "Running";
            let prev = rec.prev.as_deref().unwrap_or(&Value::Null);
            if running(obj) && !running(prev) {
                let ns = s(obj, "/metadata/namespace");
                for claim in pod_claims(obj) {
                    if let Some(pvc) = core.store.get(Resource::PersistentVolumeClaims, ns, &claim)
                        && has_condition(&pvc, "FileSystemResizePending")
                    {
                        finish_expansion(core, &pvc);
                    }
                }
            }
        }
        (Resource::VolumeSnapshots, EventType::Added) => {
            let core2 = core.clone();
            let snap = (**obj).clone();
            core.tasks.spawn(async move { take_snapshot(core2, snap).await });
        }
        (Resource::VolumeSnapshots, EventType::Deleted) => {
            let uid = s(obj, "/metadata/uid").to_string();
            lock(&core.storage.snapshot_used).remove(&uid);
            if core.process_mode() {
                let dir = snapshot_dir(&core.data_dir, &uid);
                core.tasks.spawn(async move {
                    let _ = tokio::fs::remove_dir_all(dir).await;
                });
            }
        }
        (Resource::PersistentVolumes, EventType::Deleted) => {
            lock(&core.storage.used).remove(s(obj, "/metadata/name"));
        }
        _ => {}
    }
}

/// The external-resizer's controller expansion, then a node expansion when possible.
async fn expand(core: Arc<Core>, key: (String, String)) {
    let Ok(pvc) = core.store.modify(Resource::PersistentVolumeClaims, &key, |o| {
        let want = o.pointer("/spec/resources/requests/storage").cloned().unwrap_or(Value::Null);
        if o.pointer("/status/allocatedResources/storage") == Some(&want) {
            return Ok(false);
        }
        let status = o.get_mut("status").and_then(Value::as_object_mut);
        if let Some(st) = status {
            st.insert("allocatedResources".into(), json!({"storage": want}));
            st.insert("allocatedResourceStatuses".into(), json!({"storage": "ControllerResizeInProgress"}));
            st.insert("conditions".into(), json!([condition("Resizing", None)]));
        }
        Ok(true)
    }) else {
        return;
    };
    let pv = s(&pvc, "/spec/volumeName").to_string();
    let class = s(&pvc, "/spec/storageClassName").to_string();
    let resizer = format!("external-resizer {class}.csi.sim");
    event(&core, &pvc, "Normal", "Resizing", &format!("External resizer is resizing volume {pv}"), &resizer);
    core.sleep(core.delays().provision).await;
    let Some(current) = core.store.get(Resource::PersistentVolumeClaims, &key.0, &key.1) else { return };
    if s(&current, "/metadata/uid") != s(&pvc, "/metadata/uid") {
        return;
    }
    let want = current.pointer("/status/allocatedResources/storage").cloned().unwrap_or(Value::Null);
    let _ = core.store.modify(Resource::PersistentVolumes, &(String::new(), pv.clone()), |o| {
        o["spec"]["capacity"] = json!({"storage": want});
        Ok(true)
    });
    event(
        &core,
        &current,
        "Normal",
        "FileSystemResizeRequired",
        "Require file system resize of volume on node",
        &resizer,
    );
    let mounted_running = core.store.all(Resource::Pods, Some(&key.0)).iter().any(|p| {
        s(p, "/status/phase") == "Running"
            && p.pointer("/metadata/deletionTimestamp").is_none()
            && pod_claims(p).contains(&key.1)
    });
    if mounted_running && core.cfg.online_expansion {
        finish_expansion(&core, &current);
        return;
    }
    let _ = core.store.modify(Resource::PersistentVolumeClaims, &key, |o| {
        if let Some(st) = o.get_mut("status").and_then(Value::as_object_mut) {
            st.insert("allocatedResourceStatuses".into(), json!({"storage": "NodeResizePending"}));
            st.insert("conditions".into(), json!([condition("FileSystemResizePending", Some(RESIZE_PENDING_MESSAGE))]));
        }
        Ok(true)
    });
}

/// The kubelet's node expansion: capacity reaches the request, conditions go.
fn finish_expansion(core: &Core, pvc: &Value) {
    let key = key_of(pvc);
    let pv = s(pvc, "/spec/volumeName").to_string();
    let done = core.store.modify(Resource::PersistentVolumeClaims, &key, |o| {
        let target = o
            .pointer("/status/allocatedResources/storage")
            .or_else(|| o.pointer("/spec/resources/requests/storage"))
            .cloned()
            .unwrap_or(Value::Null);
        if let Some(st) = o.get_mut("status").and_then(Value::as_object_mut) {
            st.insert("capacity".into(), json!({"storage": target}));
            st.remove("conditions");
            st.remove("allocatedResourceStatuses");
        }
        Ok(true)
    });
    if let Ok(pvc) = done {
        event(
            core,
            &pvc,
            "Normal",
            "FileSystemResizeSuccessful",
            &format!("MountVolume.NodeExpandVolume succeeded for volume {pv:?}"),
            "kubelet",
        );
    }
}

fn default_snapshot_class(core: &Core) -> Option<Value> {
    core.store
        .all(Resource::VolumeSnapshotClasses, None)
        .into_iter()
        .find(|c| {
            s(c, &format!("/metadata/annotations/{}", DEFAULT_SNAPSHOT_CLASS_ANNOTATION.replace('/', "~1"))) == "true"
        })
        .map(|c| (*c).clone())
}

fn snapshot_dir(data_dir: &Path, uid: &str) -> PathBuf {
    data_dir.join("snapshots").join(uid)
}

/// The snapshot controller and CSI driver: bind, cut, ready.
async fn take_snapshot(core: Arc<Core>, snap: Value) {
    let key = key_of(&snap);
    let uid = s(&snap, "/metadata/uid").to_string();
    let fail = |message: String| {
        let _ = core.store.modify(Resource::VolumeSnapshots, &key, |o| {
            o["status"] = json!({"readyToUse": false, "error": {"message": message, "time": ts_seconds(now())}});
            Ok(true)
        });
        event(&core, &snap, "Warning", "SnapshotCreationFailed", &message, "snapshot-controller");
    };
    let class_name = s(&snap, "/spec/volumeSnapshotClassName").to_string();
    let class = if class_name.is_empty() {
        match default_snapshot_class(&core) {
            Some(c) => c,
            None => {
                return fail(
                    "Failed to set default snapshot class with error cannot find default snapshot class".into(),
                );
            }
        }
    } else {
        match core.store.get(Resource::VolumeSnapshotClasses, "", &class_name) {
            Some(c) => (*c).clone(),
            None => {
                return fail(format!(
                    "Failed to get snapshot class with error volumesnapshotclass.snapshot.storage.k8s.io {class_name:?} not found"
                ));
            }
        }
    };
    let claim = s(&snap, "/spec/source/persistentVolumeClaimName").to_string();
    if claim.is_empty() {
        return fail("pre-provisioned snapshots are not simulated".into());
    }
    let Some(pvc) = core.store.get(Resource::PersistentVolumeClaims, &key.0, &claim) else {
        return fail(format!(
            "Failed to create snapshot content with error failed to get input parameters to create snapshot {}: \"persistentvolumeclaims {claim:?} not found\"",
            key.1
        ));
    };
    if s(&pvc, "/status/phase") != "Bound" {
        return fail(format!(
            "Failed to create snapshot content with error the PVC {claim} is not yet bound to a PV, will not attempt to take a snapshot"
        ));
    }
    let content = format!("snapcontent-{uid}");
    let _ = core.store.modify(Resource::VolumeSnapshots, &key, |o| {
        o["status"] = json!({"boundVolumeSnapshotContentName": content, "readyToUse": false});
        Ok(true)
    });
    let driver = s(&class, "/driver").to_string();
    let name = format!("{}/{}", key.0, key.1);
    event(
        &core,
        &snap,
        "Normal",
        "CreatingSnapshot",
        &format!("Waiting for a snapshot {name} to be created by the CSI driver."),
        "snapshot-controller",
    );
    // The content is cut now: what the volume holds at this moment.
    let pv = s(&pvc, "/spec/volumeName").to_string();
    let used = used_bytes_of(&core, &pv).await;
    lock(&core.storage.snapshot_used).insert(uid.clone(), used);
    if core.process_mode() {
        let from = crate::kubelet::volume_dir(&core.data_dir, &pv);
        let to = snapshot_dir(&core.data_dir, &uid);
        let copied = tokio::task::spawn_blocking(move || copy_tree(&from, &to)).await;
        if let Ok(Err(e)) | Err(e) = copied.map_err(std::io::Error::other) {
            tracing::warn!(error = %e, "copying the volume into the snapshot failed");
        }
    }
    core.sleep(core.delays().provision).await;
    let size = pvc.pointer("/status/capacity/storage").cloned().unwrap_or(Value::Null);
    let ready = core.store.modify(Resource::VolumeSnapshots, &key, |o| {
        if s(o, "/metadata/uid") != uid {
            return Ok(false);
        }
        o["status"] = json!({
            "boundVolumeSnapshotContentName": content,
            "creationTime": ts_seconds(now()),
            "readyToUse": true,
            "restoreSize": size,
        });
        Ok(true)
    });
    if let Ok(snap) = ready {
        event(
            &core,
            &snap,
            "Normal",
            "SnapshotCreated",
            &format!("Snapshot {name} was successfully created by the CSI driver."),
            &driver,
        );
        event(
            &core,
            &snap,
            "Normal",
            "SnapshotReady",
            &format!("Snapshot {name} is ready to use."),
            "snapshot-controller",
        );
    }
}

/// What a claim restored from a snapshot starts with.
pub(crate) struct RestoreSource {
    used: u64,
    dir: Option<PathBuf>,
}

/// Before provisioning a claim: `Ok(None)` for a claim without a snapshot source, `Ok(Some)` once
/// its snapshot is ready and large enough, `Err(())` (a `ProvisioningFailed` event recorded)
/// while it is not; the provisioner retries.
pub(crate) fn restore_source(core: &Core, pvc: &Value, class: &str) -> Result<Option<RestoreSource>, ()> {
    let source = ["/spec/dataSourceRef", "/spec/dataSource"]
        .iter()
        .find_map(|p| pvc.pointer(p).filter(|v| v.is_object()))
        .cloned();
    let Some(source) = source else { return Ok(None) };
    if s(&source, "/kind") != "VolumeSnapshot" {
        return Ok(None);
    }
    let ns = s(pvc, "/metadata/namespace");
    let name = s(&source, "/name");
    let fail = |message: String| {
        event(
            core,
            pvc,
            "Warning",
            "ProvisioningFailed",
            &format!("failed to provision volume with StorageClass {class:?}: {message}"),
            &format!("{class}.csi.sim"),
        );
        Err(())
    };
    let Some(snap) = core.store.get(Resource::VolumeSnapshots, ns, name) else {
        return fail(format!(
            "error getting handle for DataSource Type VolumeSnapshot by Name {name}: error getting snapshot {name} from api server: volumesnapshots.snapshot.storage.k8s.io {name:?} not found"
        ));
    };
    if snap.pointer("/status/readyToUse").and_then(Value::as_bool) != Some(true) {
        return fail(format!(
            "error getting handle for DataSource Type VolumeSnapshot by Name {name}: snapshot {name} is not Ready"
        ));
    }
    let want = quantity_nano(pvc.pointer("/spec/resources/requests/storage"));
    let size = quantity_nano(snap.pointer("/status/restoreSize"));
    if let (Some(w), Some(sz)) = (want, size)
        && w < sz
    {
        return fail(format!(
            "requested volume size {} is less than the size {} for the source snapshot {name}",
            w / 1_000_000_000,
            sz / 1_000_000_000
        ));
    }
    let uid = s(&snap, "/metadata/uid");
    let used = lock(&core.storage.snapshot_used).get(uid).copied().unwrap_or(0);
    let dir = core.process_mode().then(|| snapshot_dir(&core.data_dir, uid));
    Ok(Some(RestoreSource { used, dir }))
}

/// After the PV exists: give it the snapshot's content.
pub(crate) async fn fill_restored(core: &Core, pv: &str, source: RestoreSource) {
    lock(&core.storage.used).insert(pv.to_string(), source.used);
    if let Some(from) = source.dir {
        let to = crate::kubelet::volume_dir(&core.data_dir, pv);
        let copied = tokio::task::spawn_blocking(move || copy_tree(&from, &to)).await;
        if let Ok(Err(e)) | Err(e) = copied.map_err(std::io::Error::other) {
            tracing::warn!(error = %e, "copying the snapshot into the volume failed");
        }
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    if !from.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

async fn used_bytes_of(core: &Core, pv: &str) -> u64 {
    if let Some(n) = lock(&core.storage.used).get(pv).copied() {
        return n;
    }
    if core.process_mode() {
        let dir = crate::kubelet::volume_dir(&core.data_dir, pv);
        return tokio::task::spawn_blocking(move || tree_size(&dir)).await.unwrap_or(0);
    }
    0
}

/// `/api/v1/nodes/{node}/proxy/stats/summary` → the node name.
pub(crate) fn stats_summary_node(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/api/v1/nodes/")?;
    let node = rest.strip_suffix("/proxy/stats/summary")?;
    (!node.is_empty() && !node.contains('/')).then_some(node)
}

/// The kubelet Summary API through the API server's node proxy.
pub(crate) async fn stats_summary(core: &Arc<Core>, node: &str, is_get: bool) -> Result<Value, ApiError> {
    if !is_get {
        return Err(ApiError::method_not_allowed());
    }
    core.count_and_fault(Verb::Get, "nodes/proxy", Some(Resource::Nodes)).await?;
    if core.store.get(Resource::Nodes, "", node).is_none() {
        return Err(ApiError::not_found(Resource::Nodes, node));
    }
    let t = ts_seconds(now());
    let mut pods = Vec::new();
    for pod in core.store.all(Resource::Pods, None) {
        if s(&pod, "/spec/nodeName") != node || s(&pod, "/status/phase") != "Running" {
            continue;
        }
        let ns = s(&pod, "/metadata/namespace");
        let mut volumes = Vec::new();
        for v in pod.pointer("/spec/volumes").and_then(Value::as_array).into_iter().flatten() {
            let claim = s(v, "/persistentVolumeClaim/claimName");
            if claim.is_empty() {
                continue;
            }
            let Some(pvc) = core.store.get(Resource::PersistentVolumeClaims, ns, claim) else { continue };
            let pv = s(&pvc, "/spec/volumeName");
            if pv.is_empty() {
                continue;
            }
            let used = used_bytes_of(core, pv).await;
            let capacity = quantity_nano(pvc.pointer("/status/capacity/storage"))
                .map(|n| u64::try_from(n / 1_000_000_000).unwrap_or(0))
                .unwrap_or(0);
            volumes.push(json!({
                "time": t,
                "availableBytes": capacity.saturating_sub(used),
                "capacityBytes": capacity,
                "usedBytes": used,
                "inodesFree": 1_000_000,
                "inodes": 1_048_576,
                "inodesUsed": 48_576,
                "name": s(v, "/name"),
                "pvcRef": {"name": claim, "namespace": ns},
            }));
        }
        pods.push(json!({
            "podRef": {"name": s(&pod, "/metadata/name"), "namespace": ns, "uid": s(&pod, "/metadata/uid")},
            "startTime": s(&pod, "/status/startTime"),
            "containers": [],
            "volume": volumes,
        }));
    }
    Ok(json!({"node": {"nodeName": node, "systemContainers": [], "startTime": t}, "pods": pods}))
}

impl Simulator {
    /// Sets the bytes the kubelet reports used on the volume bound to `claim` (and that a
    /// snapshot of it carries). False when the claim is not bound.
    pub fn set_volume_used_bytes(&self, namespace: &str, claim: &str, bytes: u64) -> bool {
        let Some(pvc) = self.core.store.get(Resource::PersistentVolumeClaims, namespace, claim) else { return false };
        let pv = s(&pvc, "/spec/volumeName");
        if pv.is_empty() {
            return false;
        }
        lock(&self.core.storage.used).insert(pv.to_string(), bytes);
        true
    }
}

/// How long the provisioner waits before retrying a claim whose snapshot is not ready.
pub(crate) fn restore_retry(core: &Core) -> Duration {
    core.delays().provision.max(Duration::from_millis(50))
}
