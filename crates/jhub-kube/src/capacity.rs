//! Live GPU (extended resource) capacity per profile option: a
//! cluster-scoped list/watch of nodes and one of bound, unfinished pods in
//! every namespace (the same loop as the spawner's views, [`crate::view`]),
//! reduced to what `jhub_podspec::capacity` needs, and the
//! `jhub_core::ports::Capacity` port answered from it.
//!
//! Why all namespaces: a GPU used by a pod of another namespace (a training
//! job, another hub) is just as taken; counting only the hub's namespace
//! would promise GPUs the scheduler cannot give. Reading nodes and pods
//! cluster-wide needs a ClusterRole (the chart's
//! `custom.jhub.nodeCapacity.enabled`, see [`CLUSTER_RBAC_RULES`]). Without
//! it the first list is refused with 403: the hub logs that once, stops
//! both loops, and [`NodeCapacity::for_groups`] answers `None` — no numbers,
//! never an error to users.
//!
//! Only pods with a node and a phase other than Succeeded/Failed are listed
//! (field selector `spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed`),
//! and each is kept as its node and summed requests only, so a busy cluster
//! costs a few hundred bytes per running pod.
//!
//! Reports are computed when asked for, at most once per change of the
//! cluster view and set of groups (cached by a generation counter), never
//! per request.

use crate::view::{Counters, Selector, Sink, WatchSettings, list_watch};
use jhub_core::capacity::CapacityReport;
use jhub_podspec::SpawnerConfig;
use jhub_podspec::capacity::{BoundPod, NodeInfo, Target, report, targets, usage};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The cluster-scoped RBAC rules capacity needs, as `(apiGroup, resource,
/// verbs)`: exactly the calls this module makes. The chart's ClusterRole
/// (behind `custom.jhub.nodeCapacity.enabled`) is checked against it.
pub const CLUSTER_RBAC_RULES: &[(&str, &str, &[&str])] =
    &[("", "nodes", &["list", "watch"]), ("", "pods", &["list", "watch"])];

/// The pods that hold resources on a node.
const BOUND_PODS: &str = "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

type Cached = (u64, Arc<CapacityReport>);

struct Inner {
    config: SpawnerConfig,
    nodes: RwLock<BTreeMap<String, NodeInfo>>,
    /// By `namespace/name`.
    pods: RwLock<HashMap<String, BoundPod>>,
    /// Bumped by every change of `nodes` or `pods`.
    generation: AtomicU64,
    forbidden: AtomicBool,
    /// Targets per sorted group list (they only depend on the configuration).
    targets: Mutex<HashMap<Vec<String>, Arc<Vec<Target>>>>,
    reports: Mutex<HashMap<Vec<String>, Cached>>,
}

impl Inner {
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    fn forbid(&self, what: &str, message: &str) -> bool {
        if !self.forbidden.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                view = what,
                reason = %message,
                "GPU capacity is not shown: the hub may not list {what} cluster-wide (enable custom.jhub.nodeCapacity.enabled in the chart)"
            );
        }
        true
    }
}

struct NodeSink(Arc<Inner>);
struct PodSink(Arc<Inner>);

fn node_info(node: &Node) -> Option<NodeInfo> {
    NodeInfo::from_json(&serde_json::to_value(node).ok()?)
}

fn pod_key(pod: &Pod) -> String {
    format!("{}/{}", pod.metadata.namespace.as_deref().unwrap_or(""), pod.metadata.name.as_deref().unwrap_or(""))
}

fn bound_pod(pod: &Pod) -> Option<BoundPod> {
    BoundPod::from_json(&serde_json::to_value(pod).ok()?)
}

impl Sink<Node> for NodeSink {
    fn replace(&self, items: Vec<Node>) {
        *write(&self.0.nodes) = items.iter().filter_map(node_info).map(|n| (n.name.clone(), n)).collect();
        self.0.changed();
    }
    fn apply(&self, node: Node) {
        if let Some(info) = node_info(&node) {
            write(&self.0.nodes).insert(info.name.clone(), info);
            self.0.changed();
        }
    }
    fn remove(&self, node: Node) {
        if let Some(name) = node.metadata.name.as_deref() {
            write(&self.0.nodes).remove(name);
            self.0.changed();
        }
    }
    fn forbidden(&self, message: &str) -> bool {
        self.0.forbid("nodes", message)
    }
}

impl Sink<Pod> for PodSink {
    fn replace(&self, items: Vec<Pod>) {
        *write(&self.0.pods) = items.iter().filter_map(|p| Some((pod_key(p), bound_pod(p)?))).collect();
        self.0.changed();
    }
    fn apply(&self, pod: Pod) {
        let key = pod_key(&pod);
        match bound_pod(&pod) {
            Some(bound) => write(&self.0.pods).insert(key, bound),
            // Finished: it holds nothing any more.
            None => write(&self.0.pods).remove(&key),
        };
        self.0.changed();
    }
    fn remove(&self, pod: Pod) {
        write(&self.0.pods).remove(&pod_key(&pod));
        self.0.changed();
    }
    fn forbidden(&self, message: &str) -> bool {
        self.0.forbid("pods", message)
    }
}

/// The capacity view. Dropping it stops its watches.
pub struct NodeCapacity {
    inner: Arc<Inner>,
    nodes_ready: watch::Receiver<bool>,
    pods_ready: watch::Receiver<bool>,
    cancel: CancellationToken,
}

impl Drop for NodeCapacity {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl std::fmt::Debug for NodeCapacity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCapacity")
            .field("nodes", &read(&self.inner.nodes).len())
            .field("pods", &read(&self.inner.pods).len())
            .field("forbidden", &self.inner.forbidden.load(Ordering::Acquire))
            .finish()
    }
}

/// Whether any user could see a capacity number: some profile choice (for
/// no groups, or for every group the profiles and `group_overrides` name)
/// requests an extended resource. When not, the binary starts no watches.
pub fn has_targets(config: &SpawnerConfig) -> bool {
    let mut groups: Vec<String> = Vec::new();
    if let Some(profiles) = config.profile_list.as_array() {
        for profile in profiles {
            let named = profile.get("allowed_groups").and_then(serde_json::Value::as_array).into_iter().flatten();
            groups.extend(named.filter_map(|g| g.as_str().map(str::to_string)));
        }
    }
    for entry in config.group_overrides.values() {
        let named = entry.get("groups").and_then(serde_json::Value::as_array).into_iter().flatten();
        groups.extend(named.filter_map(|g| g.as_str().map(str::to_string)));
    }
    !targets(config, &[]).is_empty() || !targets(config, &groups).is_empty()
}

impl NodeCapacity {
    /// Starts the node and pod watches (inside a Tokio runtime). `config` is
    /// the spawner's base configuration (with `profile_list` and `group_overrides`).
    pub fn start(client: &kube::Client, config: SpawnerConfig, settings: &WatchSettings) -> Self {
        let inner = Arc::new(Inner {
            config,
            nodes: RwLock::new(BTreeMap::new()),
            pods: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            forbidden: AtomicBool::new(false),
            targets: Mutex::new(HashMap::new()),
            reports: Mutex::new(HashMap::new()),
        });
        let cancel = CancellationToken::new();
        let (nodes_tx, nodes_ready) = watch::channel(false);
        let (pods_tx, pods_ready) = watch::channel(false);
        tokio::spawn(list_watch(
            Api::<Node>::all(client.clone()),
            Selector::default(),
            settings.clone(),
            Arc::new(NodeSink(inner.clone())),
            Arc::new(Counters::default()),
            nodes_tx,
            cancel.clone(),
            "nodes",
        ));
        tokio::spawn(list_watch(
            Api::<Pod>::all(client.clone()),
            Selector { labels: None, fields: Some(BOUND_PODS.into()) },
            settings.clone(),
            Arc::new(PodSink(inner.clone())),
            Arc::new(Counters::default()),
            pods_tx,
            cancel.clone(),
            "cluster pods",
        ));
        Self { inner, nodes_ready, pods_ready, cancel }
    }

    /// Whether both first lists are done (and allowed).
    pub fn is_ready(&self) -> bool {
        !self.inner.forbidden.load(Ordering::Acquire) && *self.nodes_ready.borrow() && *self.pods_ready.borrow()
    }

    /// Whether the API refused a list with 403 (then no numbers, ever).
    pub fn is_forbidden(&self) -> bool {
        self.inner.forbidden.load(Ordering::Acquire)
    }

    fn targets_for(&self, key: &[String]) -> Arc<Vec<Target>> {
        if let Some(found) = lock(&self.inner.targets).get(key) {
            return found.clone();
        }
        // Computed outside the lock: resolving profiles is the slow part.
        let computed = Arc::new(targets(&self.inner.config, key));
        lock(&self.inner.targets).entry(key.to_vec()).or_insert(computed).clone()
    }
}

impl jhub_core::ports::Capacity for NodeCapacity {
    fn for_groups(&self, groups: &[String]) -> Option<Arc<CapacityReport>> {
        if !self.is_ready() {
            return None;
        }
        let mut key = groups.to_vec();
        key.sort();
        key.dedup();
        let generation = self.inner.generation.load(Ordering::Acquire);
        if let Some((seen, cached)) = lock(&self.inner.reports).get(&key)
            && *seen == generation
        {
            return Some(cached.clone());
        }
        let targets = self.targets_for(&key);
        let nodes: Vec<NodeInfo> = read(&self.inner.nodes).values().cloned().collect();
        let used = usage(read(&self.inner.pods).values());
        let fresh = Arc::new(report(&targets, &nodes, &used));
        lock(&self.inner.reports).insert(key, (generation, fresh.clone()));
        Some(fresh)
    }
}
