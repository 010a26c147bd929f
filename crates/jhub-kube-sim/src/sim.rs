//! `Simulator`: the handle tests and the demo hold. It owns the store, the control-plane tasks
//! (controller, scheduler, provisioner, kubelet), fault injection and request counters, and
//! implements the API semantics the HTTP layer (`api.rs`) calls: create/get/update/patch/delete
//! with the API server's metadata handling, graceful pod deletion, PVC protection and namespace
//! cascade.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Delays, KubeletMode, NodeConfig, SimConfig, glob_match};
use crate::error::{ApiError, SimError};
use crate::kubelet::Kubelet;
use crate::resource::{Resource, Verb};
use crate::store::{Key, Store, key_of};
use crate::validate::{AdmitCtx, admit_create, admit_update};

/// An API fault to inject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Only requests with this verb (any verb when `None`).
    pub verb: Option<Verb>,
    /// Only requests for this resource (any when `None`).
    pub resource: Option<Resource>,
    /// What happens.
    pub action: FaultAction,
    /// How many matching requests it affects (`None` = until cleared).
    pub times: Option<u32>,
}

/// What an injected fault does to a matching request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with this Status instead of serving the request.
    Error {
        /// HTTP code, e.g. 500, 503, 403, 429.
        code: u16,
        /// Status reason, e.g. `InternalError`, `ServiceUnavailable`, `Forbidden`.
        reason: String,
        /// Status message.
        message: String,
    },
    /// Serve the request after this delay.
    Delay(Duration),
}

impl Fault {
    /// `times` requests matching verb/resource fail with `code` and the usual reason for it.
    pub fn error(verb: Option<Verb>, resource: Option<Resource>, code: u16, times: Option<u32>) -> Self {
        let reason = match code {
            403 => "Forbidden",
            404 => "NotFound",
            409 => "Conflict",
            429 => "TooManyRequests",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "InternalError",
        };
        let message = match code {
            403 => "injected fault: forbidden".to_string(),
            429 => "injected fault: too many requests, please try again later".to_string(),
            _ => format!("injected fault: HTTP {code}"),
        };
        Self { verb, resource, action: FaultAction::Error { code, reason: reason.into(), message }, times }
    }

    /// Every request with `verb` on the cluster-scoped `resource` is refused the way
    /// kube-apiserver's RBAC authorizer refuses a service account without a ClusterRole for it:
    /// 403 `Forbidden`, message `nodes is forbidden: User "system:serviceaccount:jhub:hub"
    /// cannot list resource "nodes" in API group "" at the cluster scope`. The simulator has no
    /// authorizer of its own; this stands in for a deployment without the grant.
    pub fn rbac_denied(verb: Verb, resource: Resource, user: &str) -> Self {
        let message = format!(
            "{} is forbidden: User \"{user}\" cannot {} resource \"{}\" in API group \"\" at the cluster scope",
            resource.plural(),
            verb.as_str(),
            resource.plural()
        );
        Self {
            verb: Some(verb),
            resource: Some(resource),
            action: FaultAction::Error { code: 403, reason: "Forbidden".into(), message },
            times: None,
        }
    }

    /// `times` requests matching verb/resource are answered `delay` late.
    pub fn delay(verb: Option<Verb>, resource: Option<Resource>, delay: Duration, times: Option<u32>) -> Self {
        Self { verb, resource, action: FaultAction::Delay(delay), times }
    }
}

/// API request counts per verb and resource (subresources as `pods/status`, `pods/log`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts(pub BTreeMap<(Verb, String), u64>);

impl RequestCounts {
    /// Requests with this verb on this resource.
    pub fn get(&self, verb: Verb, resource: Resource) -> u64 {
        self.0.get(&(verb, resource.plural().to_string())).copied().unwrap_or(0)
    }
    /// Requests with this verb on any resource.
    pub fn verb(&self, verb: Verb) -> u64 {
        self.0.iter().filter(|((v, _), _)| *v == verb).map(|(_, n)| n).sum()
    }
    /// All requests to resources (discovery and `/version` are not counted).
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

/// Options of a delete call.
#[derive(Clone, Debug, Default)]
pub(crate) struct DeleteOpts {
    pub grace: Option<i64>,
    pub uid: Option<String>,
    pub rv: Option<String>,
    pub dry_run: bool,
}

pub(crate) struct SchedulerState {
    pub wake: Notify,
    pub capacity_gen: AtomicU64,
}

pub(crate) struct WatchControl {
    pub cut: watch::Sender<u64>,
    pub stall: watch::Sender<bool>,
}

/// Shared state behind every `Simulator` clone.
pub(crate) struct Core {
    pub cfg: SimConfig,
    pub store: Store,
    pub delays: RwLock<Delays>,
    pub skip: Notify,
    faults: Mutex<Vec<Fault>>,
    counters: Mutex<BTreeMap<(Verb, String), u64>>,
    pub watches: WatchControl,
    pub image_failures: Mutex<Vec<String>>,
    pub kubelet: Kubelet,
    pub sched: SchedulerState,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
    seq: AtomicU64,
    service_ip: AtomicU32,
    pub data_dir: PathBuf,
    event_index: Mutex<HashMap<String, (String, String)>>,
    pub storage: crate::storage::StorageState,
}

/// The simulator. Cheap to clone; all clones share one cluster.
#[derive(Clone)]
pub struct Simulator {
    pub(crate) core: Arc<Core>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator").field("nodes", &self.core.cfg.nodes.len()).finish_non_exhaustive()
    }
}

/// Wall-clock now: the one place the simulator reads the clock. The simulator stands in for a
/// cluster, whose object timestamps are wall-clock times; it is not domain code.
#[allow(clippy::disallowed_methods)]
pub(crate) fn now() -> Timestamp {
    Timestamp::now()
}

/// RFC 3339 with seconds, like `metadata.creationTimestamp`.
pub(crate) fn ts_seconds(t: Timestamp) -> String {
    Timestamp::from_second(t.as_second()).map(|s| s.to_string()).unwrap_or_else(|_| t.to_string())
}

/// RFC 3339 with microseconds, like `eventTime`.
pub(crate) fn ts_micros(t: Timestamp) -> String {
    let secs = ts_seconds(t);
    let base = secs.strip_suffix('Z').unwrap_or(&secs);
    format!("{base}.{:06}Z", t.subsec_microsecond())
}

impl Simulator {
    /// Starts the control plane (controller, scheduler, kubelet) for `config`. Must be called
    /// inside a Tokio runtime; HTTP is served separately by [`crate::serve`].
    pub fn start(config: SimConfig) -> Result<Self, SimError> {
        config.validate()?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(SimError::InvalidConfig("Simulator::start must run inside a Tokio runtime".into()));
        }
        let data_dir = match &config.data_dir {
            Some(d) => d.clone(),
            None => std::env::temp_dir().join(format!("jhub-kube-sim-{}-{}", std::process::id(), random_suffix(6))),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let store = Store::new(config.watch_history, config.watch_buffer, tx);
        let kubelet = Kubelet::new(&config.pod_network).map_err(SimError::InvalidConfig)?;
        let core = Arc::new(Core {
            delays: RwLock::new(config.delays.clone()),
            store,
            skip: Notify::new(),
            faults: Mutex::new(Vec::new()),
            counters: Mutex::new(BTreeMap::new()),
            watches: WatchControl { cut: watch::channel(0).0, stall: watch::channel(false).0 },
            image_failures: Mutex::new(Vec::new()),
            kubelet,
            sched: SchedulerState { wake: Notify::new(), capacity_gen: AtomicU64::new(0) },
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            seq: AtomicU64::new(0),
            service_ip: AtomicU32::new(10),
            data_dir,
            event_index: Mutex::new(HashMap::new()),
            storage: crate::storage::StorageState::default(),
            cfg: config,
        });
        let sim = Simulator { core: core.clone() };
        for ns in &core.cfg.namespaces {
            core.api_create(Resource::Namespaces, None, json!({"metadata": {"name": ns}}))
                .map_err(|source| SimError::Seed { what: format!("namespace {ns}"), source })?;
        }
        for (i, node) in core.cfg.nodes.iter().enumerate() {
            core.api_create(Resource::Nodes, None, node_object(node, i))
                .map_err(|source| SimError::Seed { what: format!("node {}", node.name), source })?;
        }
        crate::storage::seed(&core)?;
        core.tasks.spawn(crate::controller::run(core.clone(), rx));
        core.tasks.spawn(crate::controller::scheduler_loop(core.clone()));
        Ok(sim)
    }

    /// Binds `127.0.0.1:0`, serves the API there in a background task and returns its URL.
    pub async fn serve_local(&self) -> Result<LocalServer, SimError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(SimError::Serve)?;
        let addr = listener.local_addr().map_err(SimError::Serve)?;
        let stop = CancellationToken::new();
        let sim = self.clone();
        let token = stop.clone();
        let handle = tokio::spawn(async move { crate::serve(listener, sim, token.cancelled_owned()).await });
        Ok(LocalServer { addr, url: format!("http://{addr}"), stop, handle })
    }

    /// The configuration the simulator runs with.
    pub fn config(&self) -> &SimConfig {
        &self.core.cfg
    }

    /// Where process mode keeps volumes and logs.
    pub fn data_dir(&self) -> &Path {
        &self.core.data_dir
    }

    /// One object, as the API would return it.
    pub fn get(&self, resource: Resource, namespace: &str, name: &str) -> Option<Value> {
        let ns = if resource.namespaced() { namespace } else { "" };
        self.core.store.get(resource, ns, name).map(|o| (*o).clone())
    }

    /// All objects of a resource (in one namespace, or everywhere).
    pub fn list(&self, resource: Resource, namespace: Option<&str>) -> Vec<Value> {
        let ns = if resource.namespaced() { namespace } else { None };
        self.core.store.all(resource, ns).into_iter().map(|o| (*o).clone()).collect()
    }

    /// Events whose involvedObject is the named object, oldest first.
    pub fn events_for(&self, namespace: &str, name: &str) -> Vec<Value> {
        let mut evs: Vec<Value> = self
            .list(Resource::Events, Some(namespace))
            .into_iter()
            .filter(|e| e.pointer("/involvedObject/name").and_then(Value::as_str) == Some(name))
            .collect();
        evs.sort_by_key(|e| {
            e.pointer("/metadata/resourceVersion").and_then(Value::as_str).and_then(|s| s.parse::<u64>().ok())
        });
        evs
    }

    /// Creates an object in-process (same admission as the API; not counted as a request).
    pub fn create(&self, resource: Resource, namespace: &str, object: Value) -> Result<Value, ApiError> {
        let ns = resource.namespaced().then_some(namespace);
        self.core.api_create(resource, ns, object).map(|o| (*o).clone())
    }

    /// Deletes an object in-process with an optional grace period.
    pub fn delete(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        grace_seconds: Option<i64>,
    ) -> Result<Value, ApiError> {
        let ns = resource.namespaced().then_some(namespace);
        let opts = DeleteOpts { grace: grace_seconds, ..DeleteOpts::default() };
        self.core.api_delete(resource, ns, name, &opts).map(|o| (*o).clone())
    }

    /// Adds a node (or replaces its spec and capacity if it exists).
    pub fn add_node(&self, node: NodeConfig) -> Result<(), ApiError> {
        let obj = node_object(&node, self.core.store.all(Resource::Nodes, None).len());
        match self.core.store.get(Resource::Nodes, "", &node.name) {
            None => self.core.api_create(Resource::Nodes, None, obj).map(|_| ()),
            Some(_) => {
                let key = (String::new(), node.name.clone());
                self.core
                    .store
                    .modify(Resource::Nodes, &key, |cur| {
                        for f in ["spec", "status"] {
                            if let (Some(m), Some(v)) = (cur.as_object_mut(), obj.get(f)) {
                                m.insert(f.into(), v.clone());
                            }
                        }
                        Ok(true)
                    })
                    .map(|_| ())
            }
        }
    }

    /// Removes a node (pods bound to it are left as they are).
    pub fn remove_node(&self, name: &str) -> bool {
        self.core.store.remove(Resource::Nodes, &(String::new(), name.to_string())).is_some()
    }

    /// API request counts so far.
    pub fn request_counts(&self) -> RequestCounts {
        RequestCounts(lock(&self.core.counters).clone())
    }

    /// Resets the request counts.
    pub fn reset_request_counts(&self) {
        lock(&self.core.counters).clear();
    }

    /// Injects an API fault.
    pub fn inject_fault(&self, fault: Fault) {
        lock(&self.core.faults).push(fault);
    }

    /// The next `times` requests with `verb` on `resource` fail with `code` (e.g. 500, 503, 403).
    pub fn fail_requests(&self, verb: Option<Verb>, resource: Option<Resource>, code: u16, times: u32) {
        self.inject_fault(Fault::error(verb, resource, code, Some(times)));
    }

    /// The next `times` requests with `verb` on `resource` are answered `delay` late.
    pub fn slow_requests(&self, verb: Option<Verb>, resource: Option<Resource>, delay: Duration, times: u32) {
        self.inject_fault(Fault::delay(verb, resource, delay, Some(times)));
    }

    /// Removes all injected API faults.
    pub fn clear_faults(&self) {
        lock(&self.core.faults).clear();
    }

    /// Closes every open watch stream abruptly (as an API server restart would); clients must
    /// resume from their last resourceVersion.
    pub fn cut_watches(&self) {
        self.core.watches.cut.send_modify(|g| *g += 1);
    }

    /// While `true`, open and new watches stay connected but send nothing, not even bookmarks
    /// (clients must notice through their own timeouts). Events are delivered late on `false`
    /// unless the stream was cut meanwhile.
    pub fn stall_watches(&self, stalled: bool) {
        self.core.watches.stall.send_replace(stalled);
    }

    /// Forgets the retained watch history (like an etcd compaction): a watch resuming from any
    /// older resourceVersion gets a 410 Expired ERROR event and must relist.
    pub fn compact_history(&self) {
        self.core.store.compact();
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.core.store.current_rv()
    }

    /// Pulls of images matching the glob fail (ErrImagePull, then ImagePullBackOff).
    pub fn fail_image_pulls(&self, pattern: &str) {
        lock(&self.core.image_failures).push(pattern.to_string());
    }

    /// Undoes `fail_image_pulls`.
    pub fn clear_image_failures(&self) {
        lock(&self.core.image_failures).clear();
    }

    /// Kills the pod's first running container as the OOM killer would (exit 137, reason
    /// OOMKilled); what follows depends on the restart policy. False if the pod is not running.
    pub fn oom_kill(&self, namespace: &str, pod: &str) -> bool {
        match self.core.store.get(Resource::Pods, namespace, pod) {
            Some(p) => {
                let uid = p.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
                self.core.kubelet.oom_kill(uid)
            }
            None => false,
        }
    }

    /// The current delays.
    pub fn delays(&self) -> Delays {
        read(&self.core.delays).clone()
    }

    /// Replaces the delays for every wait that starts from now on.
    pub fn set_delays(&self, delays: Delays) {
        *write(&self.core.delays) = delays;
    }

    /// Ends every simulated wait in progress now (scheduling, pulls, back-offs, grace periods).
    pub fn skip_delays(&self) {
        self.core.skip.notify_waiters();
    }

    /// The log file of a container in process mode.
    pub fn log_path(&self, namespace: &str, pod: &str, container: &str) -> PathBuf {
        crate::kubelet::log_path(&self.core.data_dir, namespace, pod, container)
    }

    /// The local directory backing a bound PVC (process mode).
    pub fn volume_dir(&self, namespace: &str, claim: &str) -> Option<PathBuf> {
        let pvc = self.core.store.get(Resource::PersistentVolumeClaims, namespace, claim)?;
        let pv = pvc.pointer("/spec/volumeName").and_then(Value::as_str)?;
        Some(crate::kubelet::volume_dir(&self.core.data_dir, pv))
    }

    /// Waits until `check` holds, re-checking after every change in the cluster; false on timeout.
    pub async fn wait_until(&self, timeout: Duration, check: impl Fn(&Simulator) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.core.store.changed.notified();
            if check(self) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return check(self);
            }
        }
    }

    /// Stops the control plane and ends all watches; container processes get SIGTERM and, if
    /// still alive after 3 seconds, SIGKILL.
    pub async fn shutdown(&self) {
        if self.core.kubelet.has_processes() {
            self.core.kubelet.signal_all(false);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
            while self.core.kubelet.has_processes() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        self.core.shutdown.cancel();
        self.core.kubelet.signal_all(true);
        self.core.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.core.tasks.wait()).await;
    }
}

/// A server started by [`Simulator::serve_local`].
#[derive(Debug)]
pub struct LocalServer {
    /// The bound address.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<Result<(), SimError>>,
}

impl LocalServer {
    /// Stops serving and waits for the server task.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.handle.await;
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
pub(crate) fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}
fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

/// Random lowercase characters from the API server's generateName alphabet.
pub(crate) fn random_suffix(n: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut bytes = vec![0u8; n];
    if getrandom::fill(&mut bytes).is_err() {
        let t = now().as_nanosecond();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (t >> (i * 5)) as u8;
        }
    }
    bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect()
}

fn node_object(node: &NodeConfig, index: usize) -> Value {
    let mut labels = serde_json::Map::new();
    labels.insert("kubernetes.io/hostname".into(), json!(node.name));
    labels.insert("kubernetes.io/os".into(), json!("linux"));
    labels.insert("kubernetes.io/arch".into(), json!("amd64"));
    for (k, v) in &node.labels {
        labels.insert(k.clone(), json!(v));
    }
    let taints: Vec<Value> = node
        .taints
        .iter()
        .map(|t| {
            let mut o = json!({"key": t.key, "effect": t.effect});
            if let (Some(v), Some(m)) = (&t.value, o.as_object_mut()) {
                m.insert("value".into(), json!(v));
            }
            o
        })
        .collect();
    let capacity = node.capacity();
    let mut spec = json!({"podCIDR": format!("10.244.{index}.0/24")});
    if !taints.is_empty() {
        spec["taints"] = json!(taints);
    }
    if node.unschedulable {
        spec["unschedulable"] = json!(true);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "labels": labels},
        "spec": spec,
        "status": {
            "capacity": capacity,
            "allocatable": capacity,
            "addresses": [
                {"type": "InternalIP", "address": format!("127.9.{}.{}", index / 250, index % 250 + 1)},
                {"type": "Hostname", "address": node.name}
            ],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
            "nodeInfo": {"kubeletVersion": "v1.33.0-jhub-sim", "containerRuntimeVersion": "containerd://sim", "operatingSystem": "linux", "architecture": "amd64"}
        }
    })
}

impl Core {
    pub(crate) fn delays(&self) -> Delays {
        read(&self.delays).clone()
    }

    /// Sleeps for `d` unless `skip_delays` is called or the simulator shuts down.
    pub(crate) async fn sleep(&self, d: Duration) {
        if d.is_zero() {
            tokio::task::yield_now().await;
            return;
        }
        let skipped = self.skip.notified();
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = skipped => {}
            _ = self.shutdown.cancelled() => {}
        }
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// A random RFC 4122 version-4 UUID.
    pub(crate) fn new_uid(&self) -> String {
        let mut b = [0u8; 16];
        if getrandom::fill(&mut b).is_err() {
            let t = now().as_nanosecond() as u128 ^ (u128::from(self.next_seq()) << 64);
            b = t.to_le_bytes();
        }
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    }

    pub(crate) fn bump_capacity(&self) {
        self.sched.capacity_gen.fetch_add(1, Ordering::Relaxed);
        self.sched.wake.notify_one();
    }

    pub(crate) fn image_fails(&self, image: &str) -> bool {
        lock(&self.image_failures).iter().any(|p| glob_match(p, image))
    }

    pub(crate) fn process_mode(&self) -> bool {
        self.cfg.kubelet == KubeletMode::Process
    }

    /// Counts a request; then applies injected faults (delays are awaited here).
    pub(crate) async fn count_and_fault(
        &self,
        verb: Verb,
        resource: &str,
        res: Option<Resource>,
    ) -> Result<(), ApiError> {
        *lock(&self.counters).entry((verb, resource.to_string())).or_insert(0) += 1;
        let mut delay = Duration::ZERO;
        let mut error = None;
        {
            let mut faults = lock(&self.faults);
            for f in faults.iter_mut() {
                let matches = f.verb.is_none_or(|v| v == verb) && f.resource.is_none_or(|r| Some(r) == res);
                if !matches || f.times == Some(0) {
                    continue;
                }
                match &f.action {
                    FaultAction::Delay(d) => delay += *d,
                    FaultAction::Error { code, reason, message } => {
                        if error.is_some() {
                            continue;
                        }
                        error = Some(ApiError::injected(*code, reason, message));
                    }
                }
                if let Some(t) = f.times.as_mut() {
                    *t -= 1;
                }
            }
            faults.retain(|f| f.times != Some(0));
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn check_namespace(&self, ns: &str) -> Result<(), ApiError> {
        match self.store.get(Resource::Namespaces, "", ns) {
            None => Err(ApiError::not_found(Resource::Namespaces, ns)),
            Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => Err(ApiError::forbidden(
                Resource::Namespaces,
                ns,
                &format!("unable to create new content in namespace {ns} because it is being terminated"),
            )),
            Some(_) => Ok(()),
        }
    }

    /// POST: generateName, system metadata, admission, store.
    pub(crate) fn api_create(&self, res: Resource, ns: Option<&str>, mut obj: Value) -> Result<Arc<Value>, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(format!(
                "{} in version \"v1\" cannot be handled as a {}: expected an object",
                res.kind(),
                res.kind()
            )));
        }
        let ns = if res.namespaced() {
            let ns = ns.unwrap_or("");
            let body_ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
            if !body_ns.is_empty() && body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                ));
            }
            self.check_namespace(ns)?;
            ns.to_string()
        } else {
            String::new()
        };
        let t = now();
        let generate = obj.pointer("/metadata/generateName").and_then(Value::as_str).map(String::from);
        let meta = match obj.as_object_mut() {
            Some(m) => {
                m.insert("kind".into(), json!(res.kind()));
                m.insert("apiVersion".into(), json!(res.api_version()));
                let meta = m.entry("metadata").or_insert_with(|| json!({}));
                if !meta.is_object() {
                    *meta = json!({});
                }
                meta
            }
            None => return Err(ApiError::bad_request("expected an object".into())),
        };
        if let Some(meta) = meta.as_object_mut() {
            let has_name = meta.get("name").and_then(Value::as_str).is_some_and(|s| !s.is_empty());
            if !has_name && let Some(prefix) = &generate {
                meta.insert("name".into(), json!(format!("{prefix}{}", random_suffix(5))));
            }
            if res.namespaced() {
                meta.insert("namespace".into(), json!(ns));
            } else {
                meta.remove("namespace");
            }
            meta.insert("uid".into(), json!(self.new_uid()));
            meta.insert("creationTimestamp".into(), json!(ts_seconds(t)));
            for f in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"]
            {
                meta.remove(f);
            }
            if res == Resource::Pods {
                meta.insert("generation".into(), json!(1));
            } else {
                meta.remove("generation");
            }
        }
        let ctx = AdmitCtx { default_storage_class: self.cfg.default_storage_class.as_deref() };
        admit_create(res, &mut obj, &ctx)?;
        if res == Resource::Services {
            let headless = obj.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
            let t = obj.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP");
            if !headless && t != "ExternalName" {
                let n = self.service_ip.fetch_add(1, Ordering::Relaxed);
                let ip = format!("10.96.{}.{}", (n / 254) % 256, n % 254 + 1);
                if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.insert("clusterIP".into(), json!(ip));
                    spec.insert("clusterIPs".into(), json!([ip]));
                }
            }
        }
        self.store.create(res, obj)
    }

    pub(crate) fn api_get(&self, res: Resource, ns: Option<&str>, name: &str) -> Result<Arc<Value>, ApiError> {
        self.store.get(res, ns.unwrap_or(""), name).ok_or_else(|| ApiError::not_found(res, name))
    }

    /// PUT (whole object, optimistic concurrency on metadata.resourceVersion).
    pub(crate) fn api_replace(
        &self,
        res: Resource,
        ns: Option<&str>,
        name: &str,
        mut body: Value,
        status_only: bool,
    ) -> Result<Arc<Value>, ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request(format!(
                "{} in version \"v1\" cannot be handled as a {}: expected an object",
                res.kind(),
                res.kind()
            )));
        }
        let body_name = body.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(name);
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if res == Resource::PersistentVolumeClaims
            && !status_only
            && let Some(cur) = self.store.get(res, ns.unwrap_or(""), name)
        {
            crate::storage::check_expansion_allowed(self, &cur, &body)?;
        }
        let key = (ns.unwrap_or("").to_string(), name.to_string());
        let want_rv = body.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(String::from);
        self.store.modify(res, &key, |cur| {
            let cur_rv = cur.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("");
            if let Some(rv) = &want_rv
                && !rv.is_empty()
                && rv != cur_rv
            {
                return Err(ApiError::stale(res, name));
            }
            admit_update(res, cur, &mut body, status_only)?;
            let changed = strip_rv(&body) != strip_rv(cur);
            *cur = body;
            Ok(changed)
        })
    }

    /// PATCH (merge patch; strategic merge patch is treated as a merge patch).
    pub(crate) fn api_patch(
        &self,
        res: Resource,
        ns: Option<&str>,
        name: &str,
        patch: &Value,
        status_only: bool,
    ) -> Result<Arc<Value>, ApiError> {
        if !patch.is_object() {
            return Err(ApiError::bad_request("a merge patch must be a JSON object".into()));
        }
        if res == Resource::PersistentVolumeClaims
            && !status_only
            && let Some(cur) = self.store.get(res, ns.unwrap_or(""), name)
        {
            let mut next = (*cur).clone();
            merge_patch(&mut next, patch);
            crate::storage::check_expansion_allowed(self, &cur, &next)?;
        }
        let key = (ns.unwrap_or("").to_string(), name.to_string());
        self.store.modify(res, &key, |cur| {
            let cur_rv = cur.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("").to_string();
            if let Some(rv) = patch.pointer("/metadata/resourceVersion").and_then(Value::as_str)
                && rv != cur_rv
            {
                return Err(ApiError::stale(res, name));
            }
            let mut next = cur.clone();
            merge_patch(&mut next, patch);
            admit_update(res, cur, &mut next, status_only)?;
            let changed = strip_rv(&next) != strip_rv(cur);
            *cur = next;
            Ok(changed)
        })
    }

    /// DELETE with the API server's semantics per kind.
    pub(crate) fn api_delete(
        &self,
        res: Resource,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOpts,
    ) -> Result<Arc<Value>, ApiError> {
        let key: Key = (ns.unwrap_or("").to_string(), name.to_string());
        let cur = self.store.get(res, &key.0, name).ok_or_else(|| ApiError::not_found(res, name))?;
        if let Some(uid) = &opts.uid {
            let actual = cur.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
            if uid != actual {
                return Err(ApiError::conflict(
                    res,
                    name,
                    &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"),
                ));
            }
        }
        if let Some(rv) = &opts.rv {
            let actual = cur.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("");
            if rv != actual {
                return Err(ApiError::conflict(
                    res,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"
                    ),
                ));
            }
        }
        if opts.dry_run {
            return Ok(cur);
        }
        match res {
            Resource::Pods => self.delete_pod(&key, &cur, opts.grace),
            Resource::PersistentVolumeClaims => {
                if self.pvc_in_use(&key.0, name) {
                    self.store.modify(res, &key, |o| {
                        if o.pointer("/metadata/deletionTimestamp").is_some() {
                            return Ok(false);
                        }
                        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                            m.insert("deletionTimestamp".into(), json!(ts_seconds(now())));
                            m.insert("deletionGracePeriodSeconds".into(), json!(0));
                            m.insert("finalizers".into(), json!(["kubernetes.io/pvc-protection"]));
                        }
                        Ok(true)
                    })
                } else {
                    self.store.remove(res, &key).ok_or_else(|| ApiError::not_found(res, name))
                }
            }
            Resource::Namespaces => {
                for r in Resource::ALL.into_iter().filter(|r| r.namespaced()) {
                    for o in self.store.all(r, Some(name)) {
                        self.store.remove(r, &key_of(&o));
                    }
                }
                self.store.remove(res, &key).ok_or_else(|| ApiError::not_found(res, name))
            }
            _ => self.store.remove(res, &key).ok_or_else(|| ApiError::not_found(res, name)),
        }
    }

    fn delete_pod(&self, key: &Key, cur: &Value, grace: Option<i64>) -> Result<Arc<Value>, ApiError> {
        let spec_grace = cur.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30);
        let grace = grace.unwrap_or(spec_grace).max(0);
        let bound = cur.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        let terminal = matches!(cur.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"));
        // Unbound or finished pods, and grace 0, go away at once; the kubelet cleans up after.
        if !bound || grace == 0 || terminal {
            return self.store.remove(Resource::Pods, key).ok_or_else(|| ApiError::not_found(Resource::Pods, &key.1));
        }
        self.store.modify(Resource::Pods, key, |o| {
            let existing = o.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64);
            if existing.is_some_and(|g| g <= grace) {
                return Ok(false);
            }
            let deadline = now() + Duration::from_secs(u64::try_from(grace).unwrap_or(0));
            if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                m.insert("deletionTimestamp".into(), json!(ts_seconds(deadline)));
                m.insert("deletionGracePeriodSeconds".into(), json!(grace));
            }
            Ok(true)
        })
    }

    /// Whether a pod that has not finished mounts the claim (pvc-protection).
    pub(crate) fn pvc_in_use(&self, ns: &str, claim: &str) -> bool {
        self.store.all(Resource::Pods, Some(ns)).iter().any(|p| {
            let done = matches!(p.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"));
            !done && pod_claims(p).iter().any(|c| c == claim)
        })
    }

    /// Records a core/v1 Event about `involved`. Kubelet-style events carry first/lastTimestamp
    /// and count; scheduler-style (`new_style`) ones carry eventTime, action and series, like the
    /// events.k8s.io recorder kube-scheduler uses. Repeats of the same event update it.
    pub(crate) fn record_event(&self, ev: EventSpec<'_>) {
        let ns = ev.involved.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default").to_string();
        let inv_name = ev.involved.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        let uid = ev.involved.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("").to_string();
        let agg_key = format!(
            "{ns}\u{0}{uid}\u{0}{}\u{0}{}\u{0}{}\u{0}{}",
            ev.field_path.unwrap_or(""),
            ev.reason,
            ev.message,
            ev.component
        );
        let t = now();
        let existing = lock(&self.event_index).get(&agg_key).cloned();
        if let Some(key) = existing {
            let updated = self.store.modify(Resource::Events, &key, |e| {
                if ev.new_style {
                    let count = e.pointer("/series/count").and_then(Value::as_i64).unwrap_or(1) + 1;
                    e["series"] = json!({"count": count, "lastObservedTime": ts_micros(t)});
                } else {
                    let count = e.get("count").and_then(Value::as_i64).unwrap_or(1) + 1;
                    e["count"] = json!(count);
                    e["lastTimestamp"] = json!(ts_seconds(t));
                }
                Ok(true)
            });
            if updated.is_ok() {
                return;
            }
        }
        let name = format!("{inv_name}.{:x}", t.as_nanosecond() as u64 ^ self.next_seq());
        let mut involved = json!({
            "kind": ev.involved.get("kind").and_then(Value::as_str).unwrap_or("Pod"),
            "namespace": ns,
            "name": inv_name,
            "uid": uid,
            "apiVersion": "v1",
            "resourceVersion": ev.involved.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or(""),
        });
        if let Some(fp) = ev.field_path {
            involved["fieldPath"] = json!(fp);
        }
        let obj = if ev.new_style {
            json!({
                "metadata": {"name": name, "namespace": ns},
                "involvedObject": involved,
                "reason": ev.reason,
                "message": ev.message,
                "source": {},
                "firstTimestamp": null,
                "lastTimestamp": null,
                "eventTime": ts_micros(t),
                "type": ev.etype,
                "action": ev.action.unwrap_or(""),
                "reportingComponent": ev.component,
                "reportingInstance": format!("{}-sim", ev.component),
            })
        } else {
            let mut source = json!({"component": ev.component});
            if let Some(h) = ev.host {
                source["host"] = json!(h);
            }
            json!({
                "metadata": {"name": name, "namespace": ns},
                "involvedObject": involved,
                "reason": ev.reason,
                "message": ev.message,
                "source": source,
                "firstTimestamp": ts_seconds(t),
                "lastTimestamp": ts_seconds(t),
                "count": 1,
                "type": ev.etype,
                "eventTime": null,
                "reportingComponent": ev.component,
                "reportingInstance": ev.host.unwrap_or(""),
            })
        };
        match self.api_create(Resource::Events, Some(&ns), obj) {
            Ok(created) => {
                lock(&self.event_index).insert(agg_key, key_of(&created));
            }
            Err(e) => tracing::debug!(error = %e, "recording event failed"),
        }
    }
}

/// What to record.
pub(crate) struct EventSpec<'a> {
    pub involved: &'a Value,
    pub field_path: Option<&'a str>,
    pub etype: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
    pub component: &'a str,
    pub host: Option<&'a str>,
    pub new_style: bool,
    pub action: Option<&'a str>,
}

/// Claim names a pod mounts.
pub(crate) fn pod_claims(pod: &Value) -> Vec<String> {
    pod.pointer("/spec/volumes")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter_map(|v| v.pointer("/persistentVolumeClaim/claimName").and_then(Value::as_str))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn strip_rv(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    v
}

/// RFC 7386 JSON merge patch.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            if let Some(t) = target.as_object_mut() {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_semantics() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]});
        merge_patch(&mut t, &json!({"a": null, "b": {"c": 5}, "l": [9], "n": "x"}));
        assert_eq!(t, json!({"b": {"c": 5, "d": 3}, "l": [9], "n": "x"}));
    }

    #[test]
    fn timestamps() {
        let t = Timestamp::from_microsecond(1_750_048_920_123_456).unwrap_or(Timestamp::UNIX_EPOCH);
        assert_eq!(ts_seconds(t), "2025-06-16T04:42:00Z");
        assert_eq!(ts_micros(t), "2025-06-16T04:42:00.123456Z");
    }
}
