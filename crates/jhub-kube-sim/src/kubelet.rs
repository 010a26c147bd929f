//! The simulated kubelet: one worker task per bound pod walks it through sandbox creation
//! (a unique loopback pod IP), image pulls (with ErrImagePull / ImagePullBackOff for unknown
//! images), init containers, container start, restarts per restartPolicy, OOM kills and graceful
//! termination, writing pod status and kubelet events as it goes. In process mode containers
//! whose image rule has a `process` spec run as local process groups bound to the pod IP.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{ImageRule, glob_match, parse_pod_network};
use crate::controller::set_condition;
use crate::process::{Launch, argv, expand, map_path, signal_group, spawn};
use crate::resource::Resource;
use crate::sim::{Core, EventSpec, lock, now, ts_seconds};
use crate::store::Key;

/// Messages to a pod worker.
#[derive(Debug)]
pub(crate) enum PodCommand {
    /// Graceful deletion was requested.
    Terminate(Duration),
    /// The pod object is gone (force deletion): kill everything now.
    Gone,
    /// Kill the first running container as the OOM killer would.
    OomKill,
    /// A container process exited.
    Exited { idx: usize, attempt: u32, code: i32 },
}

struct IpPool {
    base: u32,
    size: u32,
    next: u32,
    used: HashSet<u32>,
}

impl IpPool {
    fn alloc(&mut self) -> Option<Ipv4Addr> {
        for _ in 0..self.size {
            let off = self.next % self.size;
            self.next = self.next.wrapping_add(1);
            let ip = self.base + off;
            let last = ip & 0xff;
            if off < 2 || last == 0 || last == 255 || self.used.contains(&ip) {
                continue;
            }
            self.used.insert(ip);
            return Some(Ipv4Addr::from(ip));
        }
        None
    }
    fn release(&mut self, ip: Ipv4Addr) {
        self.used.remove(&u32::from(ip));
    }
}

/// The node agents of all simulated nodes (one process-wide kubelet that knows each pod's node).
pub(crate) struct Kubelet {
    pods: Mutex<HashMap<String, mpsc::UnboundedSender<PodCommand>>>,
    ips: Mutex<IpPool>,
    images: Mutex<HashSet<(String, String)>>,
    groups: Mutex<HashSet<u32>>,
}

/// Where a container's log goes.
pub(crate) fn log_path(data_dir: &Path, ns: &str, pod: &str, container: &str) -> PathBuf {
    data_dir.join("logs").join(format!("{ns}_{pod}")).join(format!("{container}.log"))
}

/// The directory backing a provisioned volume.
pub(crate) fn volume_dir(data_dir: &Path, pv: &str) -> PathBuf {
    data_dir.join("volumes").join(pv)
}

impl Kubelet {
    pub(crate) fn new(pod_network: &str) -> Result<Self, String> {
        let (base, size) = parse_pod_network(pod_network)?;
        Ok(Self {
            pods: Mutex::new(HashMap::new()),
            ips: Mutex::new(IpPool { base, size, next: 2, used: HashSet::new() }),
            images: Mutex::new(HashSet::new()),
            groups: Mutex::new(HashSet::new()),
        })
    }

    /// Starts a worker for a bound pod if none runs yet and its node exists.
    pub(crate) fn ensure_started(&self, core: &Arc<Core>, pod: &Value) {
        let uid = str_at(pod, "/metadata/uid").to_string();
        let node = str_at(pod, "/spec/nodeName").to_string();
        if core.shutdown.is_cancelled() || pod.pointer("/metadata/deletionTimestamp").is_some() {
            return;
        }
        let Some(node_obj) = core.store.get(Resource::Nodes, "", &node) else {
            // No such node: like a real cluster, the pod stays Pending.
            return;
        };
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut pods = lock(&self.pods);
            if pods.contains_key(&uid) {
                return;
            }
            pods.insert(uid.clone(), tx.clone());
        }
        let host_ip = node_obj
            .pointer("/status/addresses")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|x| str_at(x, "/type") == "InternalIP"))
            .map(|x| str_at(x, "/address").to_string())
            .unwrap_or_default();
        let worker = PodWorker::new(core.clone(), pod.clone(), node, host_ip, rx, tx);
        core.tasks.spawn(worker.run());
    }

    fn send(&self, uid: &str, cmd: PodCommand) -> bool {
        lock(&self.pods).get(uid).is_some_and(|tx| tx.send(cmd).is_ok())
    }

    pub(crate) fn terminate(&self, uid: &str, grace: Duration) {
        self.send(uid, PodCommand::Terminate(grace));
    }

    pub(crate) fn forget(&self, uid: &str) {
        self.send(uid, PodCommand::Gone);
    }

    pub(crate) fn oom_kill(&self, uid: &str) -> bool {
        self.send(uid, PodCommand::OomKill)
    }

    /// Signals every container process group (shutdown): SIGTERM first, SIGKILL with `kill`.
    pub(crate) fn signal_all(&self, kill: bool) {
        let groups: Vec<u32> = lock(&self.groups).iter().copied().collect();
        for g in groups {
            signal_group(g, kill);
        }
        if kill {
            for tx in lock(&self.pods).values() {
                let _ = tx.send(PodCommand::Gone);
            }
        }
    }

    /// Whether any container process is still alive.
    pub(crate) fn has_processes(&self) -> bool {
        !lock(&self.groups).is_empty()
    }

    fn image_present(&self, node: &str, image: &str) -> bool {
        lock(&self.images).contains(&(node.to_string(), image.to_string()))
    }

    fn mark_present(&self, node: &str, image: &str) {
        lock(&self.images).insert((node.to_string(), image.to_string()));
    }
}

impl Drop for Kubelet {
    // A simulator dropped without `shutdown` (a test that failed early) must not leave
    // processes behind.
    fn drop(&mut self) {
        let groups = self.groups.get_mut().map(|g| g.drain().collect::<Vec<_>>()).unwrap_or_default();
        for g in groups {
            signal_group(g, true);
        }
    }
}

fn str_at<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

/// Go's `time.Duration` text, truncated to milliseconds (`1.234s`, `50ms`).
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0s".into()
    } else if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        let s = format!("{}.{:03}", ms / 1000, ms % 1000);
        format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
    } else {
        let secs = format!("{}.{:03}", (ms % 60_000) / 1000, ms % 1000);
        format!("{}m{}s", ms / 60_000, secs.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// FNV-1a, for stable fake digests and sizes.
fn fnv(s: &str, seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn fake_digest(s: &str) -> String {
    (0..4).map(|i| format!("{:016x}", fnv(s, i))).collect()
}

/// The fully qualified reference containerd reports (`busybox` → `docker.io/library/busybox:latest`).
fn qualified(image: &str) -> String {
    let (name, tag) = match image.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n.to_string(), format!(":{t}")),
        _ if image.contains('@') => (image.to_string(), String::new()),
        _ => (image.to_string(), ":latest".to_string()),
    };
    let first = name.split('/').next().unwrap_or("");
    let has_registry = name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let name = if has_registry {
        name
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{name}{tag}")
}

#[derive(Clone, Debug)]
enum CState {
    Waiting { reason: String, message: Option<String> },
    Running { started_at: String },
    Terminated { code: i32, reason: String, started_at: String, finished_at: String },
}

struct Ctr {
    name: String,
    image: String,
    spec: Value,
    init: bool,
    rule: Option<ImageRule>,
    state: CState,
    last: Option<CState>,
    restarts: u32,
    container_id: String,
    image_id: String,
    pgid: Option<u32>,
    attempt: u32,
    oom: bool,
    responder: Option<CancellationToken>,
    restart_at: Option<Instant>,
}

impl Ctr {
    fn running(&self) -> bool {
        matches!(self.state, CState::Running { .. })
    }
    fn field_path(&self) -> String {
        let list = if self.init { "initContainers" } else { "containers" };
        format!("spec.{list}{{{}}}", self.name)
    }
    fn status_json(&self) -> Value {
        let state = |st: &CState| match st {
            CState::Waiting { reason, message } => {
                let mut w = json!({"reason": reason});
                if let Some(m) = message {
                    w["message"] = json!(m);
                }
                json!({"waiting": w})
            }
            CState::Running { started_at } => json!({"running": {"startedAt": started_at}}),
            CState::Terminated { code, reason, started_at, finished_at } => {
                let mut t =
                    json!({"exitCode": code, "reason": reason, "startedAt": started_at, "finishedAt": finished_at});
                if !self.container_id.is_empty() {
                    t["containerID"] = json!(self.container_id);
                }
                json!({"terminated": t})
            }
        };
        let ready = if self.init { matches!(&self.state, CState::Terminated { code: 0, .. }) } else { self.running() };
        let mut s = json!({
            "name": self.name,
            "image": self.image,
            "imageID": self.image_id,
            "ready": ready,
            "restartCount": self.restarts,
            "started": self.running(),
            "state": state(&self.state),
            "lastState": self.last.as_ref().map(state).unwrap_or(json!({})),
        });
        if !self.container_id.is_empty() {
            s["containerID"] = json!(self.container_id);
        }
        s
    }
}

enum Flow {
    Continue,
    Terminate(Duration),
    Gone,
}

struct PodWorker {
    core: Arc<Core>,
    key: Key,
    uid: String,
    pod: Value,
    node: String,
    host_ip: String,
    ip: Option<Ipv4Addr>,
    ctrs: Vec<Ctr>,
    rx: mpsc::UnboundedReceiver<PodCommand>,
    tx: mpsc::UnboundedSender<PodCommand>,
    deferred: Vec<PodCommand>,
    phase: &'static str,
    start_time: String,
    pod_dir: PathBuf,
}

impl PodWorker {
    fn new(
        core: Arc<Core>,
        pod: Value,
        node: String,
        host_ip: String,
        rx: mpsc::UnboundedReceiver<PodCommand>,
        tx: mpsc::UnboundedSender<PodCommand>,
    ) -> Self {
        let mut ctrs = Vec::new();
        for (list, init) in [("initContainers", true), ("containers", false)] {
            for c in pod.pointer(&format!("/spec/{list}")).and_then(Value::as_array).into_iter().flatten() {
                let image = str_at(c, "/image").to_string();
                let rule = core.cfg.images.iter().find(|r| glob_match(&r.pattern, &image)).cloned();
                let waiting = if init
                    || pod.pointer("/spec/initContainers").and_then(Value::as_array).is_some_and(|a| !a.is_empty())
                {
                    "PodInitializing"
                } else {
                    "ContainerCreating"
                };
                ctrs.push(Ctr {
                    name: str_at(c, "/name").to_string(),
                    image,
                    spec: c.clone(),
                    init,
                    rule,
                    state: CState::Waiting { reason: waiting.into(), message: None },
                    last: None,
                    restarts: 0,
                    container_id: String::new(),
                    image_id: String::new(),
                    pgid: None,
                    attempt: 0,
                    oom: false,
                    responder: None,
                    restart_at: None,
                });
            }
        }
        let uid = str_at(&pod, "/metadata/uid").to_string();
        let key = (str_at(&pod, "/metadata/namespace").to_string(), str_at(&pod, "/metadata/name").to_string());
        let pod_dir = core.data_dir.join("pods").join(&uid);
        Self {
            core,
            key,
            uid,
            pod,
            node,
            host_ip,
            ip: None,
            ctrs,
            rx,
            tx,
            deferred: Vec::new(),
            phase: "Pending",
            start_time: ts_seconds(now()),
            pod_dir,
        }
    }

    async fn run(mut self) {
        let flow = match self.start().await {
            Flow::Continue => self.monitor().await,
            other => other,
        };
        match flow {
            Flow::Terminate(grace) => self.terminate(grace).await,
            Flow::Gone | Flow::Continue => self.kill_all(),
        }
        self.cleanup().await;
    }

    fn event(&self, ctr: Option<usize>, etype: &str, reason: &str, message: &str) {
        let fp = ctr.and_then(|i| self.ctrs.get(i)).map(Ctr::field_path);
        self.core.record_event(EventSpec {
            involved: &self.pod,
            field_path: fp.as_deref(),
            etype,
            reason,
            message,
            component: "kubelet",
            host: Some(&self.node),
            new_style: false,
            action: None,
        });
    }

    /// Writes the worker's view of the pod status; false if the pod is gone or replaced.
    fn write_status(&mut self) -> bool {
        let uid = self.uid.clone();
        let init_done =
            self.ctrs.iter().filter(|c| c.init).all(|c| matches!(c.state, CState::Terminated { code: 0, .. }));
        let mains: Vec<&Ctr> = self.ctrs.iter().filter(|c| !c.init).collect();
        let all_ready = mains.iter().all(|c| c.running());
        let not_ready: Vec<&str> = mains.iter().filter(|c| !c.running()).map(|c| c.name.as_str()).collect();
        let not_init: Vec<&str> = self
            .ctrs
            .iter()
            .filter(|c| c.init && !matches!(c.state, CState::Terminated { code: 0, .. }))
            .map(|c| c.name.as_str())
            .collect();
        let init_statuses: Vec<Value> = self.ctrs.iter().filter(|c| c.init).map(Ctr::status_json).collect();
        let statuses: Vec<Value> = mains.iter().map(|c| c.status_json()).collect();
        let ip = self.ip.map(|i| i.to_string());
        let phase = self.phase;
        let host_ip = self.host_ip.clone();
        let start_time = self.start_time.clone();
        let result = self.core.store.modify(Resource::Pods, &self.key, |p| {
            if str_at(p, "/metadata/uid") != uid {
                return Ok(false);
            }
            let before = p.get("status").cloned();
            if !p.get("status").is_some_and(Value::is_object) {
                p["status"] = json!({});
            }
            let st = &mut p["status"];
            st["phase"] = json!(phase);
            st["hostIP"] = json!(host_ip);
            st["hostIPs"] = json!([{"ip": host_ip}]);
            st["startTime"] = json!(start_time);
            match &ip {
                Some(ip) => {
                    st["podIP"] = json!(ip);
                    st["podIPs"] = json!([{"ip": ip}]);
                }
                None => {
                    if let Some(m) = st.as_object_mut() {
                        m.remove("podIP");
                        m.remove("podIPs");
                    }
                }
            }
            if !init_statuses.is_empty() {
                st["initContainerStatuses"] = json!(init_statuses);
            }
            st["containerStatuses"] = json!(statuses);
            set_condition(p, "PodReadyToStartContainers", if ip.is_some() { "True" } else { "False" }, None, None);
            if init_done {
                set_condition(p, "Initialized", "True", None, None);
            } else {
                let msg = format!("containers with incomplete status: [{}]", not_init.join(" "));
                set_condition(p, "Initialized", "False", Some("ContainersNotInitialized"), Some(&msg));
            }
            if all_ready && phase == "Running" {
                set_condition(p, "Ready", "True", None, None);
                set_condition(p, "ContainersReady", "True", None, None);
            } else {
                let reason =
                    if matches!(phase, "Succeeded" | "Failed") { "PodCompleted" } else { "ContainersNotReady" };
                let msg = if reason == "PodCompleted" {
                    None
                } else {
                    Some(format!("containers with unready status: [{}]", not_ready.join(" ")))
                };
                set_condition(p, "Ready", "False", Some(reason), msg.as_deref());
                set_condition(p, "ContainersReady", "False", Some(reason), msg.as_deref());
            }
            Ok(p.get("status").cloned() != before)
        });
        match result {
            Ok(p) => {
                if str_at(&p, "/metadata/uid") == self.uid {
                    self.pod = (*p).clone();
                    true
                } else {
                    false
                }
            }
            Err(_) => false,
        }
    }

    /// Waits `d` (skippable) while handling commands.
    async fn wait(&mut self, d: Duration) -> Flow {
        let deadline = Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::select! {
                _ = self.core.sleep(left) => return Flow::Continue,
                cmd = self.rx.recv() => match cmd {
                    Some(PodCommand::Terminate(g)) => return Flow::Terminate(g),
                    None | Some(PodCommand::Gone) => return Flow::Gone,
                    Some(PodCommand::OomKill) => {}
                    Some(other) => self.deferred.push(other),
                },
            }
            if self.core.shutdown.is_cancelled() {
                return Flow::Gone;
            }
        }
    }

    fn backoff(&self, n: u32) -> Duration {
        let d = self.core.delays();
        let factor = 2u32.saturating_pow(n.min(16));
        d.backoff_initial.saturating_mul(factor).min(d.backoff_max)
    }

    async fn start(&mut self) -> Flow {
        if !self.write_status() {
            return Flow::Gone;
        }
        match self.wait(self.core.delays().sandbox).await {
            Flow::Continue => {}
            other => return other,
        }
        let mut attempt = 0;
        loop {
            let ip = lock(&self.core.kubelet.ips).alloc();
            if let Some(ip) = ip {
                self.ip = Some(ip);
                break;
            }
            self.event(
                None,
                "Warning",
                "FailedCreatePodSandBox",
                "Failed to create pod sandbox: failed to assign an IP address: no free addresses in the pod network",
            );
            match self.wait(self.backoff(attempt)).await {
                Flow::Continue => attempt += 1,
                other => return other,
            }
        }
        if !self.write_status() {
            return Flow::Gone;
        }
        for idx in 0..self.ctrs.len() {
            let flow = if self.ctrs[idx].init { self.run_init(idx).await } else { self.start_container(idx).await };
            match flow {
                Flow::Continue => {}
                other => return other,
            }
            if !self.ctrs[idx].init
                && matches!(self.ctrs[idx].state, CState::Terminated { .. })
                && !self.on_exit(idx, 128)
            {
                return Flow::Gone;
            }
            if !self.ctrs[idx].init && self.ctrs.iter().filter(|c| !c.init).all(Ctr::running) {
                self.phase = "Running";
            }
            if !self.write_status() {
                return Flow::Gone;
            }
        }
        Flow::Continue
    }

    /// Makes sure the image is on the node, with the kubelet's events; loops through back-offs
    /// while the pull fails.
    async fn pull(&mut self, idx: usize) -> Flow {
        let image = self.ctrs[idx].image.clone();
        let policy = str_at(&self.ctrs[idx].spec, "/imagePullPolicy").to_string();
        let mut failures = 0u32;
        loop {
            let present = self.core.kubelet.image_present(&self.node, &image);
            if present && policy != "Always" {
                self.event(
                    Some(idx),
                    "Normal",
                    "Pulled",
                    &format!("Container image {image:?} already present on machine"),
                );
                return Flow::Continue;
            }
            if policy == "Never" {
                let msg = format!("Container image {image:?} is not present with pull policy of Never");
                self.event(Some(idx), "Warning", "ErrImageNeverPull", &msg);
                self.ctrs[idx].state = CState::Waiting { reason: "ErrImageNeverPull".into(), message: Some(msg) };
                self.write_status();
                return self.wait(Duration::from_secs(86_400 * 365)).await;
            }
            self.event(Some(idx), "Normal", "Pulling", &format!("Pulling image {image:?}"));
            let started = Instant::now();
            match self.wait(self.core.delays().pull).await {
                Flow::Continue => {}
                other => return other,
            }
            let known = self.ctrs[idx].rule.as_ref().is_some_and(|r| !r.fail_pull);
            if known && !self.core.image_fails(&image) {
                self.core.kubelet.mark_present(&self.node, &image);
                let took = go_duration(started.elapsed());
                let size = 100_000_000 + fnv(&image, 7) % 1_900_000_000;
                self.event(
                    Some(idx),
                    "Normal",
                    "Pulled",
                    &format!("Successfully pulled image {image:?} in {took} ({took} including waiting). Image size: {size} bytes."),
                );
                let repo = qualified(&image);
                let repo = repo.rsplit_once(':').map_or(repo.as_str(), |(r, _)| r).to_string();
                self.ctrs[idx].image_id = format!("{repo}@sha256:{}", fake_digest(&image));
                return Flow::Continue;
            }
            let q = qualified(&image);
            let err = format!(
                "rpc error: code = NotFound desc = failed to pull and unpack image {q:?}: failed to resolve reference {q:?}: {q}: not found"
            );
            self.event(Some(idx), "Warning", "Failed", &format!("Failed to pull image {image:?}: {err}"));
            self.event(Some(idx), "Warning", "Failed", "Error: ErrImagePull");
            self.ctrs[idx].state = CState::Waiting { reason: "ErrImagePull".into(), message: Some(err.clone()) };
            if !self.write_status() {
                return Flow::Gone;
            }
            match self.wait(self.core.delays().start).await {
                Flow::Continue => {}
                other => return other,
            }
            self.event(Some(idx), "Normal", "BackOff", &format!("Back-off pulling image {image:?}"));
            self.event(Some(idx), "Warning", "Failed", "Error: ImagePullBackOff");
            self.ctrs[idx].state = CState::Waiting {
                reason: "ImagePullBackOff".into(),
                message: Some(format!("Back-off pulling image {image:?}: ErrImagePull: {err}")),
            };
            if !self.write_status() {
                return Flow::Gone;
            }
            match self.wait(self.backoff(failures)).await {
                Flow::Continue => failures += 1,
                other => return other,
            }
        }
    }

    async fn run_init(&mut self, idx: usize) -> Flow {
        let mut failures = 0;
        loop {
            match self.start_container(idx).await {
                Flow::Continue => {}
                other => return other,
            }
            let code = if matches!(self.ctrs[idx].state, CState::Terminated { .. }) {
                128
            } else if self.ctrs[idx].pgid.is_some() {
                // Process init container: wait for it to finish.
                loop {
                    if let Some(pos) =
                        self.deferred.iter().position(|c| matches!(c, PodCommand::Exited { idx: i, .. } if *i == idx))
                    {
                        if let PodCommand::Exited { code, .. } = self.deferred.remove(pos) {
                            break code;
                        }
                        continue;
                    }
                    match self.rx.recv().await {
                        Some(PodCommand::Exited { idx: i, code, .. }) if i == idx => break code,
                        Some(PodCommand::Terminate(g)) => return Flow::Terminate(g),
                        None | Some(PodCommand::Gone) => return Flow::Gone,
                        Some(other) => self.deferred.push(other),
                    }
                }
            } else {
                match self.wait(self.core.delays().start).await {
                    Flow::Continue => 0,
                    other => return other,
                }
            };
            self.ctrs[idx].pgid = None;
            if !matches!(self.ctrs[idx].state, CState::Terminated { .. }) {
                self.finish(idx, code, if code == 0 { "Completed" } else { "Error" });
            }
            if code == 0 {
                return Flow::Continue;
            }
            if str_at(&self.pod, "/spec/restartPolicy") == "Never" {
                self.phase = "Failed";
                self.write_status();
                return self.wait(Duration::from_secs(86_400 * 365)).await;
            }
            self.write_status();
            let d = self.backoff(failures);
            self.crash_backoff(idx, d);
            self.write_status();
            match self.wait(d).await {
                Flow::Continue => failures += 1,
                other => return other,
            }
        }
    }

    fn finish(&mut self, idx: usize, code: i32, reason: &str) {
        let c = &mut self.ctrs[idx];
        let started_at = match &c.state {
            CState::Running { started_at } => started_at.clone(),
            _ => ts_seconds(now()),
        };
        if let Some(tok) = c.responder.take() {
            tok.cancel();
        }
        c.state = CState::Terminated { code, reason: reason.into(), started_at, finished_at: ts_seconds(now()) };
    }

    fn crash_backoff(&mut self, idx: usize, d: Duration) {
        let (ns, pod) = (self.key.0.clone(), self.key.1.clone());
        let uid = self.uid.clone();
        let c = &mut self.ctrs[idx];
        c.last = Some(c.state.clone());
        c.restarts += 1;
        let name = c.name.clone();
        c.state = CState::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: Some(format!(
                "back-off {} restarting failed container={name} pod={pod}_{ns}({uid})",
                go_duration(d)
            )),
        };
        self.event(
            Some(idx),
            "Warning",
            "BackOff",
            &format!("Back-off restarting failed container {name} in pod {pod}_{ns}({uid})"),
        );
    }

    /// Pull, create and start one container.
    async fn start_container(&mut self, idx: usize) -> Flow {
        match self.pull(idx).await {
            Flow::Continue => {}
            other => return other,
        }
        let mut id = [0u8; 32];
        if getrandom::fill(&mut id).is_err() {
            id = [7u8; 32];
        }
        self.ctrs[idx].container_id =
            format!("containerd://{}", id.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let name = self.ctrs[idx].name.clone();
        self.event(Some(idx), "Normal", "Created", &format!("Created container: {name}"));
        match self.wait(self.core.delays().start).await {
            Flow::Continue => {}
            other => return other,
        }
        let process =
            self.core.process_mode().then(|| self.ctrs[idx].rule.as_ref().and_then(|r| r.process.clone())).flatten();
        if let Some(spec) = process {
            match self.launch(idx, &spec).await {
                Ok(pgid) => self.ctrs[idx].pgid = Some(pgid),
                Err(msg) => {
                    self.event(Some(idx), "Warning", "Failed", &format!("Error: {msg}"));
                    self.ctrs[idx].container_id.clear();
                    self.finish(idx, 128, "StartError");
                    return Flow::Continue;
                }
            }
        } else if self.core.cfg.mock_http_responder && !self.ctrs[idx].init {
            self.ctrs[idx].responder = self.start_responder(idx).await;
        }
        self.ctrs[idx].state = CState::Running { started_at: ts_seconds(now()) };
        self.event(Some(idx), "Normal", "Started", &format!("Started container {name}"));
        Flow::Continue
    }

    async fn start_responder(&self, idx: usize) -> Option<CancellationToken> {
        let ip = self.ip?;
        let ports: Vec<u16> = self.ctrs[idx]
            .spec
            .pointer("/ports")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p.get("containerPort").and_then(Value::as_u64))
                    .filter_map(|p| u16::try_from(p).ok())
                    .collect()
            })
            .unwrap_or_default();
        if ports.is_empty() {
            return None;
        }
        let token = CancellationToken::new();
        for port in ports {
            match tokio::net::TcpListener::bind((ip, port)).await {
                Ok(listener) => {
                    let app = axum::Router::new().fallback(|| async { "ok\n" });
                    let stop = token.clone();
                    self.core.tasks.spawn(async move {
                        let _ = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await;
                    });
                }
                Err(e) => tracing::warn!(%ip, port, error = %e, "mock responder cannot bind"),
            }
        }
        Some(token)
    }

    /// Resolves env, argv, working directory and HOME, and starts the process.
    async fn launch(&mut self, idx: usize, spec: &crate::config::ProcessSpec) -> Result<u32, String> {
        let env = self.resolve_env(idx)?;
        let c = &self.ctrs[idx];
        let strings = |p: &str| -> Vec<String> {
            c.spec
                .get(p)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
                .unwrap_or_default()
        };
        let mounts = self.mounts(idx);
        let home_in_container = env.get("HOME").cloned().unwrap_or_else(|| self.core.cfg.home_path.clone());
        let home = map_path(&mounts, &home_in_container).unwrap_or_else(|| self.pod_dir.join("home"));
        let cwd = c
            .spec
            .get("workingDir")
            .and_then(Value::as_str)
            .and_then(|w| map_path(&mounts, w))
            .unwrap_or_else(|| home.clone());
        let mut full: BTreeMap<String, String> = BTreeMap::new();
        for k in &self.core.cfg.inherit_env {
            if let Ok(v) = std::env::var(k) {
                full.insert(k.clone(), v);
            }
        }
        full.extend(spec.env.clone());
        full.extend(env);
        full.insert("HOME".into(), home.display().to_string());
        let ip = self.ip.map(|i| i.to_string()).unwrap_or_default();
        if let Some(url) = full.get_mut("JUPYTERHUB_SERVICE_URL") {
            // 0.0.0.0 would bind every local address; each "pod" must listen on its own IP.
            *url = url.replace("0.0.0.0", &ip);
        }
        for v in full.values_mut() {
            for r in &self.core.cfg.env_rewrites {
                *v = v.replace(&r.from, &r.to);
            }
        }
        let mut argv = argv(&strings("command"), &strings("args"), spec, &full);
        for a in argv.iter_mut().skip(1) {
            for prefix in ["--ip=", "--ServerApp.ip=", "--NotebookApp.ip="] {
                if a.strip_prefix(prefix) == Some("0.0.0.0") {
                    *a = format!("{prefix}{ip}");
                }
            }
        }
        tokio::fs::create_dir_all(&home).await.map_err(|e| format!("creating {}: {e}", home.display()))?;
        let launch =
            Launch { argv, env: full, cwd, log: log_path(&self.core.data_dir, &self.key.0, &self.key.1, &c.name) };
        let mut child = spawn(&launch).await?;
        let pgid = child.id().ok_or("process exited before it could be tracked")?;
        lock(&self.core.kubelet.groups).insert(pgid);
        let c = &mut self.ctrs[idx];
        c.attempt += 1;
        let attempt = c.attempt;
        let tx = self.tx.clone();
        let core = self.core.clone();
        self.core.tasks.spawn(async move {
            use std::os::unix::process::ExitStatusExt;
            let code = match child.wait().await {
                Ok(st) => st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(9)),
                Err(_) => 255,
            };
            lock(&core.kubelet.groups).remove(&pgid);
            // The group may outlive its leader; a container's processes die with it.
            signal_group(pgid, true);
            let _ = tx.send(PodCommand::Exited { idx, attempt, code });
        });
        Ok(pgid)
    }

    /// Container mount points backed by local directories.
    fn mounts(&self, idx: usize) -> Vec<(String, PathBuf)> {
        let volumes: HashMap<&str, &Value> = self
            .pod
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .map(|vs| vs.iter().map(|v| (str_at(v, "/name"), v)).collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        for m in self.ctrs[idx].spec.pointer("/volumeMounts").and_then(Value::as_array).into_iter().flatten() {
            let Some(vol) = volumes.get(str_at(m, "/name")) else { continue };
            let base = if let Some(claim) = vol.pointer("/persistentVolumeClaim/claimName").and_then(Value::as_str) {
                self.core.store.get(Resource::PersistentVolumeClaims, &self.key.0, claim).and_then(|pvc| {
                    pvc.pointer("/spec/volumeName")
                        .and_then(Value::as_str)
                        .map(|pv| volume_dir(&self.core.data_dir, pv))
                })
            } else if vol.get("emptyDir").is_some() {
                Some(self.pod_dir.join("volumes").join(str_at(vol, "/name")))
            } else {
                None
            };
            let Some(mut base) = base else { continue };
            let sub = str_at(m, "/subPath");
            if !sub.is_empty() && !sub.split('/').any(|p| p == "..") {
                base = base.join(sub);
            }
            out.push((str_at(m, "/mountPath").to_string(), base));
        }
        out
    }

    /// The container's environment as the kubelet builds it.
    fn resolve_env(&self, idx: usize) -> Result<BTreeMap<String, String>, String> {
        let c = &self.ctrs[idx].spec;
        let mut env = BTreeMap::new();
        for src in c.get("envFrom").and_then(Value::as_array).into_iter().flatten() {
            let prefix = str_at(src, "/prefix");
            if let Some(name) = src.pointer("/secretRef/name").and_then(Value::as_str) {
                match self.core.store.get(Resource::Secrets, &self.key.0, name) {
                    Some(secret) => {
                        for (k, v) in secret.get("data").and_then(Value::as_object).into_iter().flatten() {
                            env.insert(format!("{prefix}{k}"), decode_b64(v));
                        }
                    }
                    None if src.pointer("/secretRef/optional").and_then(Value::as_bool) == Some(true) => {}
                    None => return Err(format!("secret {name:?} not found")),
                }
            }
        }
        for e in c.get("env").and_then(Value::as_array).into_iter().flatten() {
            let name = str_at(e, "/name").to_string();
            if let Some(v) = e.get("value").and_then(Value::as_str) {
                let expanded = expand(v, &env);
                env.insert(name, expanded);
                continue;
            }
            let Some(from) = e.get("valueFrom") else {
                env.insert(name, String::new());
                continue;
            };
            if let Some(path) = from.pointer("/fieldRef/fieldPath").and_then(Value::as_str) {
                let v = match path {
                    "status.podIP" | "status.podIPs" => self.ip.map(|i| i.to_string()).unwrap_or_default(),
                    "status.hostIP" | "status.hostIPs" => self.host_ip.clone(),
                    "spec.nodeName" => self.node.clone(),
                    p if p.starts_with("metadata.labels['") || p.starts_with("metadata.annotations['") => {
                        let (map, rest) = p.split_once("['").unwrap_or(("", ""));
                        let k = rest.trim_end_matches("']");
                        let m = if map.ends_with("labels") { "labels" } else { "annotations" };
                        self.pod
                            .pointer("/metadata")
                            .and_then(|x| x.get(m))
                            .and_then(|x| x.get(k))
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string()
                    }
                    p => str_at(&self.pod, &format!("/{}", p.replace('.', "/"))).to_string(),
                };
                env.insert(name, v);
            } else if let Some(res) = from.pointer("/resourceFieldRef/resource").and_then(Value::as_str) {
                let q = c.pointer(&format!("/resources/{}", res.replace('.', "/")));
                let v = q
                    .and_then(|q| crate::quantity::Quantity::from_json(q).ok())
                    .map(|q| q.units_ceil().to_string())
                    .unwrap_or_default();
                env.insert(name, v);
            } else if let Some(sk) = from.get("secretKeyRef") {
                let sname = str_at(sk, "/name");
                let key = str_at(sk, "/key");
                let optional = sk.get("optional").and_then(Value::as_bool) == Some(true);
                match self.core.store.get(Resource::Secrets, &self.key.0, sname) {
                    Some(s) => match s.get("data").and_then(|d| d.get(key)) {
                        Some(v) => {
                            env.insert(name, decode_b64(v));
                        }
                        None if optional => {}
                        None => return Err(format!("couldn't find key {key} in Secret {}/{sname}", self.key.0)),
                    },
                    None if optional => {}
                    None => return Err(format!("secret {sname:?} not found")),
                }
            } else if let Some(cm) = from.get("configMapKeyRef")
                && cm.get("optional").and_then(Value::as_bool) != Some(true)
            {
                return Err(format!("configmap {:?} not found", str_at(cm, "/name")));
            }
        }
        Ok(env)
    }

    /// After start: container exits, restarts, OOM kills, deletion.
    async fn monitor(&mut self) -> Flow {
        loop {
            let next_restart = self.ctrs.iter().filter_map(|c| c.restart_at).min();
            let cmd = if let Some(c) = (!self.deferred.is_empty()).then(|| self.deferred.remove(0)) {
                Some(c)
            } else {
                tokio::select! {
                    cmd = self.rx.recv() => cmd,
                    _ = sleep_until_opt(next_restart) => {
                        let due: Vec<usize> = (0..self.ctrs.len()).filter(|i| self.ctrs[*i].restart_at.is_some_and(|t| t <= Instant::now())).collect();
                        for idx in due {
                            self.ctrs[idx].restart_at = None;
                            match self.start_container(idx).await {
                                Flow::Continue => {}
                                other => return other,
                            }
                            if matches!(self.ctrs[idx].state, CState::Terminated { .. }) && !self.on_exit(idx, 128) {
                                return Flow::Gone;
                            }
                            if self.ctrs.iter().filter(|c| !c.init).all(Ctr::running) {
                                self.phase = "Running";
                            }
                            if !self.write_status() {
                                return Flow::Gone;
                            }
                        }
                        continue;
                    }
                    _ = self.core.skip.notified(), if next_restart.is_some() => {
                        for c in &mut self.ctrs {
                            if c.restart_at.is_some() {
                                c.restart_at = Some(Instant::now());
                            }
                        }
                        continue;
                    }
                    _ = self.core.shutdown.cancelled() => return Flow::Gone,
                }
            };
            match cmd {
                None | Some(PodCommand::Gone) => return Flow::Gone,
                Some(PodCommand::Terminate(g)) => return Flow::Terminate(g),
                Some(PodCommand::OomKill) => {
                    let Some(idx) = self.ctrs.iter().position(|c| !c.init && c.running()) else { continue };
                    match self.ctrs[idx].pgid {
                        Some(pgid) => {
                            self.ctrs[idx].oom = true;
                            signal_group(pgid, true);
                        }
                        None => {
                            self.ctrs[idx].attempt += 1;
                            let attempt = self.ctrs[idx].attempt;
                            self.ctrs[idx].oom = true;
                            self.deferred.push(PodCommand::Exited { idx, attempt, code: 137 });
                        }
                    }
                }
                Some(PodCommand::Exited { idx, attempt, code }) => {
                    let Some(c) = self.ctrs.get(idx) else { continue };
                    if c.attempt != attempt || c.init {
                        continue;
                    }
                    if !self.on_exit(idx, code) {
                        return Flow::Gone;
                    }
                }
            }
        }
    }

    /// Records a container exit and applies the restart policy; false if the pod is gone.
    fn on_exit(&mut self, idx: usize, code: i32) -> bool {
        let oom = std::mem::take(&mut self.ctrs[idx].oom);
        self.ctrs[idx].pgid = None;
        let started = matches!(self.ctrs[idx].state, CState::Running { .. });
        if started {
            let reason = if oom {
                "OOMKilled"
            } else if code == 0 {
                "Completed"
            } else {
                "Error"
            };
            self.finish(idx, if oom { 137 } else { code }, reason);
        }
        let code = if oom { 137 } else { code };
        let restart = match str_at(&self.pod, "/spec/restartPolicy") {
            "Never" => false,
            "OnFailure" => code != 0,
            _ => true,
        };
        if restart {
            let d = self.backoff(self.ctrs[idx].restarts);
            self.crash_backoff(idx, d);
            self.ctrs[idx].restart_at = Some(Instant::now() + d);
            self.phase = "Running";
        } else {
            let mains: Vec<&Ctr> = self.ctrs.iter().filter(|c| !c.init).collect();
            if mains.iter().all(|c| matches!(c.state, CState::Terminated { .. })) {
                let ok = mains.iter().all(|c| matches!(c.state, CState::Terminated { code: 0, .. }));
                self.phase = if ok { "Succeeded" } else { "Failed" };
            }
        }
        self.write_status()
    }

    async fn terminate(&mut self, grace: Duration) {
        for idx in 0..self.ctrs.len() {
            if self.ctrs[idx].running() {
                let name = self.ctrs[idx].name.clone();
                self.event(Some(idx), "Normal", "Killing", &format!("Stopping container {name}"));
            }
        }
        let procs: Vec<(usize, u32)> =
            self.ctrs.iter().enumerate().filter_map(|(i, c)| c.pgid.map(|p| (i, p))).collect();
        for (_, pgid) in &procs {
            signal_group(*pgid, false);
        }
        let deadline = Instant::now() + grace;
        let mut codes: HashMap<usize, i32> = HashMap::new();
        for cmd in std::mem::take(&mut self.deferred) {
            if let PodCommand::Exited { idx, code, .. } = cmd {
                codes.insert(idx, code);
            }
        }
        let mut killed = false;
        while procs.iter().any(|(i, _)| !codes.contains_key(i)) {
            let left = deadline.saturating_duration_since(Instant::now());
            let hard_deadline = if killed { Duration::from_secs(2) } else { left };
            tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    Some(PodCommand::Exited { idx, code, attempt }) if self.ctrs.get(idx).is_some_and(|c| c.attempt == attempt) => {
                        codes.insert(idx, code);
                    }
                    None | Some(PodCommand::Gone) if !killed => {
                        for (_, pgid) in &procs { signal_group(*pgid, true); }
                        killed = true;
                    }
                    _ => {}
                },
                _ = self.core.sleep(hard_deadline) => {
                    if killed { break; }
                    for (_, pgid) in &procs { signal_group(*pgid, true); }
                    killed = true;
                }
            }
        }
        if procs.len() < self.ctrs.iter().filter(|c| c.running()).count() {
            let stop = self.core.delays().stop.min(grace);
            self.core.sleep(stop).await;
        }
        for idx in 0..self.ctrs.len() {
            if self.ctrs[idx].running() {
                let code = codes.get(&idx).copied().unwrap_or(if self.ctrs[idx].pgid.is_some() { 137 } else { 0 });
                self.ctrs[idx].pgid = None;
                self.finish(idx, code, if code == 0 { "Completed" } else { "Error" });
            }
        }
        let mains_ok =
            self.ctrs.iter().filter(|c| !c.init).all(|c| matches!(c.state, CState::Terminated { code: 0, .. }));
        self.phase = if mains_ok { "Succeeded" } else { "Failed" };
        self.write_status();
        // The kubelet's final delete, once the containers are gone.
        let uid = self.uid.clone();
        if self
            .core
            .store
            .get(Resource::Pods, &self.key.0, &self.key.1)
            .is_some_and(|p| str_at(&p, "/metadata/uid") == uid)
        {
            self.core.store.remove(Resource::Pods, &self.key);
        }
    }

    fn kill_all(&mut self) {
        for c in &mut self.ctrs {
            if let Some(pgid) = c.pgid.take() {
                signal_group(pgid, true);
            }
            if let Some(t) = c.responder.take() {
                t.cancel();
            }
        }
    }

    async fn cleanup(&mut self) {
        self.kill_all();
        for c in &mut self.ctrs {
            if let Some(t) = c.responder.take() {
                t.cancel();
            }
        }
        if let Some(ip) = self.ip.take() {
            lock(&self.core.kubelet.ips).release(ip);
        }
        lock(&self.core.kubelet.pods).remove(&self.uid);
        if self.core.process_mode() {
            let _ = tokio::fs::remove_dir_all(&self.pod_dir).await;
        }
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn decode_b64(v: &Value) -> String {
    use base64::Engine;
    v.as_str()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_go() {
        assert_eq!(go_duration(Duration::from_millis(0)), "0s");
        assert_eq!(go_duration(Duration::from_millis(61)), "61ms");
        assert_eq!(go_duration(Duration::from_millis(1234)), "1.234s");
        assert_eq!(go_duration(Duration::from_millis(2000)), "2s");
        assert_eq!(go_duration(Duration::from_millis(62_500)), "1m2.5s");
    }

    #[test]
    fn qualified_references() {
        assert_eq!(qualified("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(qualified("jupyter/base:v1"), "docker.io/jupyter/base:v1");
        assert_eq!(qualified("quay.io/zhonger/gpu-notebook:v3"), "quay.io/zhonger/gpu-notebook:v3");
        assert_eq!(qualified("localhost:5000/x"), "localhost:5000/x:latest");
    }

    #[test]
    fn ip_pool_skips_network_and_reuses() {
        let mut pool =
            IpPool { base: u32::from(Ipv4Addr::new(127, 10, 0, 0)), size: 256, next: 0, used: HashSet::new() };
        let a = pool.alloc();
        assert_eq!(a, Some(Ipv4Addr::new(127, 10, 0, 2)));
        let b = pool.alloc();
        assert_eq!(b, Some(Ipv4Addr::new(127, 10, 0, 3)));
        if let Some(a) = a {
            pool.release(a);
        }
        let mut n = 0;
        while pool.alloc().is_some() {
            n += 1;
        }
        assert_eq!(n, 252, "2..=254 minus the one still used");
    }
}
