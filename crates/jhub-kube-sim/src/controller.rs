//! The in-process control loops: a dispatcher fed by every store change (like controllers fed
//! by watches) that starts and stops kubelet pod workers, provisions PVCs, garbage-collects
//! objects owned by deleted pods and releases pvc-protection; and the scheduler loop, which
//! binds Pending pods with `scheduler::decide` and records Scheduled / FailedScheduling events.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::resource::Resource;
use crate::scheduler::{Decision, NodeView, decide};
use crate::sim::{Core, EventSpec, now, pod_claims, ts_seconds};
use crate::store::{EventType, WatchRecord, key_of};

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

/// Reacts to every change in the store.
pub(crate) async fn run(core: Arc<Core>, mut rx: mpsc::UnboundedReceiver<Arc<WatchRecord>>) {
    loop {
        tokio::select! {
            _ = core.shutdown.cancelled() => break,
            rec = rx.recv() => match rec {
                Some(rec) => handle(&core, &rec),
                None => break,
            },
        }
    }
}

fn handle(core: &Arc<Core>, rec: &WatchRecord) {
    crate::storage::handle(core, rec);
    let obj = &rec.object;
    match (rec.resource, rec.etype) {
        (Resource::Pods, EventType::Added) => {
            if s(obj, "/spec/nodeName").is_empty() {
                core.sched.wake.notify_one();
            } else {
                core.kubelet.ensure_started(core, obj);
            }
        }
        (Resource::Pods, EventType::Modified) => {
            let prev = rec.prev.as_deref().unwrap_or(&Value::Null);
            if !s(obj, "/spec/nodeName").is_empty() && s(prev, "/spec/nodeName").is_empty() {
                core.kubelet.ensure_started(core, obj);
            }
            let deleting = obj.pointer("/metadata/deletionTimestamp").is_some();
            if deleting && prev.pointer("/metadata/deletionTimestamp").is_none() {
                let grace = obj.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30);
                core.kubelet.terminate(s(obj, "/metadata/uid"), Duration::from_secs(u64::try_from(grace).unwrap_or(0)));
            }
            let terminal = |v: &Value| matches!(s(v, "/status/phase"), "Succeeded" | "Failed");
            if terminal(obj) && !terminal(prev) {
                core.bump_capacity();
                release_pvcs(core, obj);
            }
        }
        (Resource::Pods, EventType::Deleted) => {
            core.kubelet.forget(s(obj, "/metadata/uid"));
            core.bump_capacity();
            collect_owned(core, obj);
            release_pvcs(core, obj);
        }
        (Resource::Nodes, _) => core.bump_capacity(),
        (Resource::PersistentVolumeClaims, EventType::Added) => {
            let core2 = core.clone();
            let pvc = (**obj).clone();
            core.tasks.spawn(async move { provision(core2, pvc).await });
        }
        (Resource::PersistentVolumeClaims, EventType::Modified)
            if s(obj, "/status/phase") == "Bound"
                && rec.prev.as_deref().is_some_and(|p| s(p, "/status/phase") != "Bound") =>
        {
            core.bump_capacity();
        }
        (Resource::PersistentVolumeClaims, EventType::Deleted) => {
            let pv = s(obj, "/spec/volumeName").to_string();
            if !pv.is_empty() {
                core.store.remove(Resource::PersistentVolumes, &(String::new(), pv.clone()));
                if core.process_mode() {
                    let dir = crate::kubelet::volume_dir(&core.data_dir, &pv);
                    core.tasks.spawn(async move {
                        let _ = tokio::fs::remove_dir_all(dir).await;
                    });
                }
            }
            core.bump_capacity();
        }
        _ => {}
    }
}

/// Deletes services and secrets whose ownerReferences name the deleted pod (the garbage collector).
fn collect_owned(core: &Core, pod: &Value) {
    let uid = s(pod, "/metadata/uid");
    let ns = s(pod, "/metadata/namespace");
    for res in [Resource::Services, Resource::Secrets, Resource::PersistentVolumeClaims] {
        for o in core.store.all(res, Some(ns)) {
            let owned = o
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| refs.iter().any(|r| s(r, "/uid") == uid));
            if owned {
                core.store.remove(res, &key_of(&o));
            }
        }
    }
}

/// Completes the deletion of claims held back by pvc-protection once no pod uses them.
fn release_pvcs(core: &Core, pod: &Value) {
    let ns = s(pod, "/metadata/namespace");
    for claim in pod_claims(pod) {
        if let Some(pvc) = core.store.get(Resource::PersistentVolumeClaims, ns, &claim)
            && pvc.pointer("/metadata/deletionTimestamp").is_some()
            && !core.pvc_in_use(ns, &claim)
        {
            core.store.remove(Resource::PersistentVolumeClaims, &key_of(&pvc));
        }
    }
}

/// Dynamic provisioning: a claim with a known storage class gets a PV and is Bound.
async fn provision(core: Arc<Core>, pvc: Value) {
    let class = match pvc.pointer("/spec/storageClassName").and_then(Value::as_str) {
        Some(c) => c.to_string(),
        None => s(&pvc, "/metadata/annotations/volume.beta.kubernetes.io~1storage-class").to_string(),
    };
    if class.is_empty() {
        // Static binding to pre-created PVs is not simulated: such claims stay Pending.
        return;
    }
    let provisioner = format!("{class}.csi.sim");
    if !core.cfg.storage_classes.is_empty() && !core.cfg.storage_classes.contains(&class) {
        core.record_event(EventSpec {
            involved: &pvc,
            field_path: None,
            etype: "Warning",
            reason: "ProvisioningFailed",
            message: &format!("storageclass.storage.k8s.io {class:?} not found"),
            component: "persistentvolume-controller",
            host: None,
            new_style: false,
            action: None,
        });
        return;
    }
    // A claim restored from a snapshot waits for it (the provisioner retries, like the real one).
    let restore = loop {
        match crate::storage::restore_source(&core, &pvc, &class) {
            Ok(found) => break found,
            Err(()) => {
                tokio::select! {
                    _ = tokio::time::sleep(crate::storage::restore_retry(&core)) => {}
                    _ = core.shutdown.cancelled() => return,
                }
                let key = key_of(&pvc);
                match core.store.get(Resource::PersistentVolumeClaims, &key.0, &key.1) {
                    Some(cur) if s(&cur, "/metadata/uid") == s(&pvc, "/metadata/uid") => {}
                    _ => return,
                }
            }
        }
    };
    let claim = format!("{}/{}", s(&pvc, "/metadata/namespace"), s(&pvc, "/metadata/name"));
    core.record_event(EventSpec {
        involved: &pvc,
        field_path: None,
        etype: "Normal",
        reason: "Provisioning",
        message: &format!("External provisioner is provisioning volume for claim {claim:?}"),
        component: &provisioner,
        host: None,
        new_style: false,
        action: None,
    });
    core.sleep(core.delays().provision).await;
    let uid = s(&pvc, "/metadata/uid").to_string();
    let pv_name = format!("pvc-{uid}");
    let key = key_of(&pvc);
    let Some(current) = core.store.get(Resource::PersistentVolumeClaims, &key.0, &key.1) else { return };
    if s(&current, "/metadata/uid") != uid || current.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let dir = crate::kubelet::volume_dir(&core.data_dir, &pv_name);
    if core.process_mode()
        && let Err(e) = tokio::fs::create_dir_all(&dir).await
    {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot create the volume directory");
    }
    let storage = current.pointer("/spec/resources/requests/storage").cloned().unwrap_or(json!("1Gi"));
    let modes = current.pointer("/spec/accessModes").cloned().unwrap_or(json!(["ReadWriteOnce"]));
    let pv = json!({
        "metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": provisioner}},
        "spec": {
            "capacity": {"storage": storage},
            "accessModes": modes,
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": class,
            "volumeMode": "Filesystem",
            "hostPath": {"path": dir.display().to_string()},
            "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": key.0, "name": key.1, "uid": uid,
                         "resourceVersion": s(&current, "/metadata/resourceVersion")},
        },
    });
    if let Err(e) = core.api_create(Resource::PersistentVolumes, None, pv) {
        tracing::warn!(error = %e, "creating the PV failed");
        return;
    }
    let _ = core.store.modify(Resource::PersistentVolumes, &(String::new(), pv_name.clone()), |o| {
        o["status"] = json!({"phase": "Bound", "lastPhaseTransitionTime": ts_seconds(now())});
        Ok(true)
    });
    if let Some(source) = restore {
        crate::storage::fill_restored(&core, &pv_name, source).await;
    }
    let bound = core.store.modify(Resource::PersistentVolumeClaims, &key, |o| {
        if s(o, "/metadata/uid") != uid {
            return Ok(false);
        }
        o["spec"]["volumeName"] = json!(pv_name);
        if let Some(ann) = o.pointer_mut("/metadata").and_then(Value::as_object_mut) {
            let a = ann.entry("annotations").or_insert_with(|| json!({}));
            if let Some(a) = a.as_object_mut() {
                a.insert("pv.kubernetes.io/bind-completed".into(), json!("yes"));
                a.insert("pv.kubernetes.io/bound-by-controller".into(), json!("yes"));
                a.insert("volume.kubernetes.io/storage-provisioner".into(), json!(provisioner));
            }
        }
        o["status"] = json!({"phase": "Bound", "accessModes": modes, "capacity": {"storage": storage}});
        Ok(true)
    });
    if let Ok(pvc) = bound {
        core.record_event(EventSpec {
            involved: &pvc,
            field_path: None,
            etype: "Normal",
            reason: "ProvisioningSucceeded",
            message: &format!("Successfully provisioned volume {pv_name}"),
            component: &provisioner,
            host: None,
            new_style: false,
            action: None,
        });
    }
}

/// When an unschedulable pod was last tried and against which cluster state.
struct Attempt {
    capacity_gen: u64,
    at: Instant,
}

/// Binds Pending pods of the schedulers the simulator runs.
pub(crate) async fn scheduler_loop(core: Arc<Core>) {
    let mut attempts: HashMap<String, Attempt> = HashMap::new();
    loop {
        let retry = core.delays().unschedulable_retry.max(Duration::from_millis(10));
        tokio::select! {
            _ = core.shutdown.cancelled() => break,
            _ = core.sched.wake.notified() => {}
            _ = tokio::time::sleep(retry) => {}
        }
        core.sleep(core.delays().schedule).await;
        if core.shutdown.is_cancelled() {
            break;
        }
        pass(&core, &mut attempts, retry);
    }
}

fn pass(core: &Core, attempts: &mut HashMap<String, Attempt>, retry: Duration) {
    let generation = core.sched.capacity_gen.load(Ordering::Relaxed);
    let mut nodes: Vec<NodeView> =
        core.store.all(Resource::Nodes, None).iter().map(|n| NodeView::from_node(n)).collect();
    let index: HashMap<String, usize> = nodes.iter().enumerate().map(|(i, n)| (n.name.clone(), i)).collect();
    let mut pending = Vec::new();
    for pod in core.store.all(Resource::Pods, None) {
        let node = s(&pod, "/spec/nodeName");
        if node.is_empty() {
            let ours = core.cfg.schedulers.iter().any(|n| n == s(&pod, "/spec/schedulerName"));
            if ours && pod.pointer("/metadata/deletionTimestamp").is_none() {
                pending.push(pod);
            }
        } else if !matches!(s(&pod, "/status/phase"), "Succeeded" | "Failed")
            && let Some(&i) = index.get(node)
        {
            nodes[i].add(&pod);
        }
    }
    pending.sort_by(|a, b| {
        let prio = |p: &Value| p.pointer("/spec/priority").and_then(Value::as_i64).unwrap_or(0);
        prio(b)
            .cmp(&prio(a))
            .then_with(|| s(a, "/metadata/creationTimestamp").cmp(s(b, "/metadata/creationTimestamp")))
            .then_with(|| key_of(a).cmp(&key_of(b)))
    });
    let live: std::collections::HashSet<String> = pending.iter().map(|p| s(p, "/metadata/uid").to_string()).collect();
    attempts.retain(|uid, _| live.contains(uid));
    for pod in pending {
        let uid = s(&pod, "/metadata/uid").to_string();
        if let Some(a) = attempts.get(&uid)
            && a.capacity_gen == generation
            && a.at.elapsed() < retry
        {
            continue;
        }
        let decision = decide(&pod, &nodes, volume_prefilter(core, &pod), core.cfg.scoring);
        let scheduler = s(&pod, "/spec/schedulerName").to_string();
        match decision {
            Decision::Bind(node) => {
                if bind(core, &pod, &node)
                    && let Some(&i) = index.get(&node)
                {
                    nodes[i].add(&pod);
                }
                attempts.remove(&uid);
            }
            Decision::Unschedulable(message) => {
                attempts.insert(uid, Attempt { capacity_gen: generation, at: Instant::now() });
                let updated = core.store.modify(Resource::Pods, &key_of(&pod), |p| {
                    if s(p, "/metadata/uid") != s(&pod, "/metadata/uid") || !s(p, "/spec/nodeName").is_empty() {
                        return Ok(false);
                    }
                    Ok(set_condition(p, "PodScheduled", "False", Some("Unschedulable"), Some(&message)))
                });
                let involved = updated.unwrap_or_else(|_| pod.clone());
                core.record_event(EventSpec {
                    involved: &involved,
                    field_path: None,
                    etype: "Warning",
                    reason: "FailedScheduling",
                    message: &message,
                    component: &scheduler,
                    host: None,
                    new_style: true,
                    action: Some("Scheduling"),
                });
            }
        }
    }
}

/// The VolumeBinding PreFilter: missing, terminating or unbound claims.
fn volume_prefilter(core: &Core, pod: &Value) -> Option<String> {
    let ns = s(pod, "/metadata/namespace");
    let mut unbound = false;
    for claim in pod_claims(pod) {
        match core.store.get(Resource::PersistentVolumeClaims, ns, &claim) {
            None => return Some(format!("persistentvolumeclaim {claim:?} not found")),
            Some(pvc) if pvc.pointer("/metadata/deletionTimestamp").is_some() => {
                return Some(format!("persistentvolumeclaim {claim:?} is being deleted"));
            }
            Some(pvc) if s(&pvc, "/status/phase") != "Bound" => unbound = true,
            Some(_) => {}
        }
    }
    unbound.then(|| "pod has unbound immediate PersistentVolumeClaims".to_string())
}

fn bind(core: &Core, pod: &Value, node: &str) -> bool {
    let uid = s(pod, "/metadata/uid").to_string();
    let bound = core.store.modify(Resource::Pods, &key_of(pod), |p| {
        if s(p, "/metadata/uid") != uid
            || !s(p, "/spec/nodeName").is_empty()
            || p.pointer("/metadata/deletionTimestamp").is_some()
        {
            return Ok(false);
        }
        p["spec"]["nodeName"] = json!(node);
        set_condition(p, "PodScheduled", "True", None, None);
        Ok(true)
    });
    match bound {
        Ok(p) if s(&p, "/spec/nodeName") == node => {
            let ns = s(&p, "/metadata/namespace");
            let name = s(&p, "/metadata/name");
            core.record_event(EventSpec {
                involved: &p,
                field_path: None,
                etype: "Normal",
                reason: "Scheduled",
                message: &format!("Successfully assigned {ns}/{name} to {node}"),
                component: s(&p, "/spec/schedulerName"),
                host: None,
                new_style: true,
                action: Some("Binding"),
            });
            true
        }
        _ => false,
    }
}

/// Sets a pod condition; the transition time changes only when the status does. Returns whether
/// anything changed.
pub(crate) fn set_condition(
    pod: &mut Value,
    ctype: &str,
    status: &str,
    reason: Option<&str>,
    message: Option<&str>,
) -> bool {
    let t = ts_seconds(now());
    let st = match pod.get_mut("status") {
        Some(v) if v.is_object() => v,
        _ => {
            pod["status"] = json!({});
            &mut pod["status"]
        }
    };
    if !st.get("conditions").is_some_and(Value::is_array) {
        st["conditions"] = json!([]);
    }
    let Some(conds) = st.get_mut("conditions").and_then(Value::as_array_mut) else { return false };
    let mut cond = json!({"type": ctype, "status": status, "lastProbeTime": null, "lastTransitionTime": t});
    if let Some(r) = reason {
        cond["reason"] = json!(r);
    }
    if let Some(m) = message {
        cond["message"] = json!(m);
    }
    match conds.iter_mut().find(|c| s(c, "/type") == ctype) {
        Some(existing) => {
            if s(existing, "/status") == status {
                cond["lastTransitionTime"] = existing.get("lastTransitionTime").cloned().unwrap_or(json!(t));
            }
            if *existing == cond {
                return false;
            }
            *existing = cond;
        }
        None => conds.push(cond),
    }
    true
}
