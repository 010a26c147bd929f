//! `SimConfig`: nodes, schedulers, image rules, kubelet mode and delays, storage classes and
//! namespaces. Serde-loadable from YAML or JSON (`SimConfig::from_file`) and buildable in Rust;
//! `SimConfig::seed_cluster()` mirrors the seed article's cluster.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::SimError;
use crate::quantity::Quantity;

/// Everything the simulator is started with.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SimConfig {
    /// Cluster nodes.
    pub nodes: Vec<NodeConfig>,
    /// Namespaces that exist at start (more can be created through the API).
    pub namespaces: Vec<String>,
    /// Scheduler names the simulator runs; pods naming any other `schedulerName` stay Pending
    /// with no events, as on a real cluster.
    pub schedulers: Vec<String>,
    /// How feasible nodes are ranked.
    pub scoring: Scoring,
    /// Known images, first match wins; a pull of an image no rule matches fails (ErrImagePull).
    pub images: Vec<ImageRule>,
    /// Mock (no processes) or process mode (containers with a `process` rule really run).
    pub kubelet: KubeletMode,
    /// Mock mode: answer HTTP 200 on every declared container port of a running pod, so a hub's
    /// readiness check passes without a real server.
    pub mock_http_responder: bool,
    /// Where process mode keeps volumes, per-pod directories and logs; a fresh directory under the
    /// system temp dir when unset.
    pub data_dir: Option<PathBuf>,
    /// Storage classes that provision; empty means every class name provisions.
    pub storage_classes: Vec<String>,
    /// Class given to PVCs that name none (the DefaultStorageClass admission plugin).
    pub default_storage_class: Option<String>,
    /// Classes seeded with `allowVolumeExpansion: true`; every class in `storage_classes` and the
    /// default class exist as `storage.k8s.io/v1` StorageClass objects, these ones expandable.
    pub expandable_storage_classes: Vec<String>,
    /// The simulated CSI driver grows the file system of a mounted volume (online expansion).
    /// When false, growing a volume a running pod mounts waits in `FileSystemResizePending` until
    /// a pod mounts it again (offline expansion).
    pub online_expansion: bool,
    /// Serve `snapshot.storage.k8s.io/v1` (the external-snapshotter CRDs); when false those paths
    /// answer 404 as on a cluster without them.
    pub snapshot_crds: bool,
    /// VolumeSnapshotClasses seeded at start (driver `<name>.csi.sim`, `deletionPolicy: Delete`);
    /// the first is annotated as the default class.
    pub snapshot_classes: Vec<String>,
    /// Pod IPs come from this loopback range (`127.x.0.0/16` style). The default is a random
    /// /16 between 127.16.0.0 and 127.63.0.0 so that two simulators on one machine (parallel
    /// tests, the demo) do not hand out the same pod address.
    pub pod_network: String,
    /// The container path treated as the home directory when the pod's env has no HOME.
    pub home_path: String,
    /// Variables copied from the simulator's own environment into process-mode containers
    /// (a real image brings its own PATH; a local process needs the host's).
    pub inherit_env: Vec<String>,
    /// Substring rewrites applied to env values of process-mode containers, e.g.
    /// `http://hub:8081` → `http://127.0.0.1:8081`, standing in for cluster DNS.
    pub env_rewrites: Vec<EnvRewrite>,
    /// Timings of the simulated control plane and kubelet.
    pub delays: Delays,
    /// Watch events retained per resource; older resourceVersions answer 410 Expired.
    pub watch_history: usize,
    /// Events a slow watch may fall behind before the simulator closes it.
    pub watch_buffer: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            nodes: vec![NodeConfig::new("sim-node-1").cpu("16").memory("64Gi")],
            namespaces: ["default", "kube-system", "kube-public", "jhub"].map(String::from).to_vec(),
            schedulers: vec!["default-scheduler".into()],
            scoring: Scoring::LeastAllocated,
            images: default_images(),
            kubelet: KubeletMode::Mock,
            mock_http_responder: false,
            data_dir: None,
            storage_classes: Vec::new(),
            default_storage_class: Some("standard".into()),
            expandable_storage_classes: Vec::new(),
            online_expansion: true,
            snapshot_crds: true,
            snapshot_classes: Vec::new(),
            pod_network: random_pod_network(),
            home_path: "/home/jovyan".into(),
            inherit_env: ["PATH", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE"].map(String::from).to_vec(),
            env_rewrites: Vec::new(),
            delays: Delays::default(),
            watch_history: 10_000,
            watch_buffer: 16_384,
        }
    }
}

fn default_images() -> Vec<ImageRule> {
    [
        "quay.io/jupyterhub/*",
        "quay.io/jupyter/*",
        "jupyter/*",
        "docker.io/jupyter/*",
        "jupyterhub/*",
        "quay.io/zhonger/*",
        "busybox*",
        "docker.io/library/*",
        "python*",
        "registry.k8s.io/*",
    ]
    .into_iter()
    .map(ImageRule::known)
    .collect()
}

impl SimConfig {
    /// The seed article's cluster: two worker nodes `l1` and `l2`, 32 CPUs and 128Gi each
    /// (assumed; the article does not give sizes), `l1` with two A100 GPUs (`gputype: A100`) and
    /// `l2` with two P100 GPUs (`gputype: P100`); the z2jh user scheduler
    /// `jupyterhub-user-scheduler` runs besides the default one; storage class `nfs-csi` is the
    /// default class; namespace `jhub` exists.
    pub fn seed_cluster() -> Self {
        Self {
            nodes: vec![
                NodeConfig::new("l1").cpu("32").memory("128Gi").gpus(2).label("gputype", "A100"),
                NodeConfig::new("l2").cpu("32").memory("128Gi").gpus(2).label("gputype", "P100"),
            ],
            schedulers: vec!["default-scheduler".into(), "jupyterhub-user-scheduler".into()],
            storage_classes: vec!["nfs-csi".into()],
            default_storage_class: Some("nfs-csi".into()),
            ..Self::default()
        }
    }

    /// Reads a YAML (or JSON, which is YAML) file.
    pub fn from_file(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| SimError::ReadConfig { path: path.display().to_string(), source })?;
        Self::from_yaml(&text).map_err(|message| SimError::ParseConfig { path: path.display().to_string(), message })
    }

    /// Parses YAML or JSON text.
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        serde_saphyr::from_str::<Self>(text).map_err(|e| e.to_string())
    }

    /// Adds a node.
    pub fn with_node(mut self, node: NodeConfig) -> Self {
        self.nodes.push(node);
        self
    }

    /// Replaces the nodes.
    pub fn with_nodes(mut self, nodes: Vec<NodeConfig>) -> Self {
        self.nodes = nodes;
        self
    }

    /// Runs one more scheduler name.
    pub fn with_scheduler(mut self, name: &str) -> Self {
        if !self.schedulers.iter().any(|s| s == name) {
            self.schedulers.push(name.into());
        }
        self
    }

    /// Adds a namespace that exists at start.
    pub fn with_namespace(mut self, ns: &str) -> Self {
        if !self.namespaces.iter().any(|s| s == ns) {
            self.namespaces.push(ns.into());
        }
        self
    }

    /// Puts an image rule before the existing ones.
    pub fn with_image_rule(mut self, rule: ImageRule) -> Self {
        self.images.insert(0, rule);
        self
    }

    /// Sets the delays.
    pub fn with_delays(mut self, delays: Delays) -> Self {
        self.delays = delays;
        self
    }

    /// Process mode with this data directory.
    pub fn process_mode(mut self, data_dir: impl Into<PathBuf>) -> Self {
        self.kubelet = KubeletMode::Process;
        self.data_dir = Some(data_dir.into());
        self
    }

    /// Starts a 200-responder on mock pods' ports.
    pub fn with_mock_http_responder(mut self, on: bool) -> Self {
        self.mock_http_responder = on;
        self
    }

    /// Process mode helper: images matching `pattern` run `jupyterhub-singleuser` from this path
    /// (the `args[0]` KubeSpawner sends is replaced by it), with `extra_args` appended.
    pub fn with_singleuser(mut self, pattern: &str, executable: &str, extra_args: &[&str]) -> Self {
        let rule = ImageRule {
            pattern: pattern.into(),
            process: Some(ProcessSpec {
                programs: BTreeMap::from([("jupyterhub-singleuser".to_string(), executable.to_string())]),
                default_args: vec![executable.to_string()],
                extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
                ..ProcessSpec::default()
            }),
            fail_pull: false,
        };
        self.images.insert(0, rule);
        self
    }

    /// Checks the parts that must parse (node quantities, pod network).
    pub fn validate(&self) -> Result<(), SimError> {
        for n in &self.nodes {
            for (what, q) in n.capacity() {
                Quantity::parse(&q)
                    .map_err(|e| SimError::InvalidConfig(format!("node {}: {what} {q:?}: {e}", n.name)))?;
            }
            crate::validate::dns1123_subdomain(&n.name)
                .map_err(|e| SimError::InvalidConfig(format!("node name {:?}: {e}", n.name)))?;
        }
        parse_pod_network(&self.pod_network).map_err(SimError::InvalidConfig)?;
        if self.schedulers.is_empty() {
            tracing::warn!("no scheduler configured: every pod will stay Pending");
        }
        Ok(())
    }
}

/// Parses `127.A.B.C/len` into a base address and size.
/// A /16 in 127.16.0.0–127.63.255.255 picked at random, so simulators
/// running side by side (parallel tests, a test next to the demo) do not hand
/// out the same pod IPs.
fn random_pod_network() -> String {
    let mut byte = [0u8; 1];
    let second = if getrandom::fill(&mut byte).is_ok() { 16 + byte[0] % 48 } else { 10 };
    format!("127.{second}.0.0/16")
}

pub(crate) fn parse_pod_network(s: &str) -> Result<(u32, u32), String> {
    let (addr, len) = s.split_once('/').unwrap_or((s, "16"));
    let ip: std::net::Ipv4Addr = addr.parse().map_err(|_| format!("pod network {s:?}: not an IPv4 address"))?;
    let len: u32 = len.parse().map_err(|_| format!("pod network {s:?}: bad prefix length"))?;
    if ip.octets()[0] != 127 || !(8..=24).contains(&len) {
        return Err(format!("pod network {s:?}: must be inside 127.0.0.0/8 with a prefix of 8 to 24 bits"));
    }
    let base = u32::from(ip) & (u32::MAX << (32 - len));
    Ok((base, 1u32 << (32 - len)))
}

/// A string rewrite for env values.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EnvRewrite {
    /// Text to find.
    pub from: String,
    /// Replacement.
    pub to: String,
}

/// How the scheduler ranks feasible nodes.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum Scoring {
    /// Spread: prefer the node with the most free cpu/memory (kube-scheduler's default).
    #[default]
    LeastAllocated,
    /// Pack: prefer the fullest node (z2jh's user scheduler).
    MostAllocated,
}

/// Kubelet mode.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum KubeletMode {
    /// Containers are pretend: they "run" until deleted, nothing executes.
    #[default]
    Mock,
    /// Containers whose image rule has a `process` really run as local processes.
    Process,
}

/// A node.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeConfig {
    /// Node name (also its `kubernetes.io/hostname` label).
    pub name: String,
    /// Extra labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Taints.
    #[serde(default)]
    pub taints: Vec<Taint>,
    /// Allocatable cpu (quantity).
    #[serde(default = "default_cpu")]
    pub cpu: String,
    /// Allocatable memory (quantity).
    #[serde(default = "default_memory")]
    pub memory: String,
    /// `nvidia.com/gpu` devices.
    #[serde(default)]
    pub gpus: u32,
    /// Other extended resources, e.g. `example.com/fpga: "2"`.
    #[serde(default)]
    pub extended: BTreeMap<String, String>,
    /// Maximum pods.
    #[serde(default = "default_pods")]
    pub pods: u32,
    /// Cordoned.
    #[serde(default)]
    pub unschedulable: bool,
}

fn default_cpu() -> String {
    "8".into()
}
fn default_memory() -> String {
    "32Gi".into()
}
fn default_pods() -> u32 {
    110
}

impl NodeConfig {
    /// A node with 8 cpu, 32Gi, no GPUs.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
            cpu: default_cpu(),
            memory: default_memory(),
            gpus: 0,
            extended: BTreeMap::new(),
            pods: default_pods(),
            unschedulable: false,
        }
    }
    /// Sets allocatable cpu.
    pub fn cpu(mut self, q: &str) -> Self {
        self.cpu = q.into();
        self
    }
    /// Sets allocatable memory.
    pub fn memory(mut self, q: &str) -> Self {
        self.memory = q.into();
        self
    }
    /// Sets the number of `nvidia.com/gpu`.
    pub fn gpus(mut self, n: u32) -> Self {
        self.gpus = n;
        self
    }
    /// Adds a label.
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.labels.insert(k.into(), v.into());
        self
    }
    /// Adds a taint.
    pub fn taint(mut self, key: &str, value: Option<&str>, effect: &str) -> Self {
        self.taints.push(Taint { key: key.into(), value: value.map(String::from), effect: effect.into() });
        self
    }
    /// Adds an extended resource.
    pub fn extended(mut self, name: &str, q: &str) -> Self {
        self.extended.insert(name.into(), q.into());
        self
    }
    /// Sets the pod limit.
    pub fn max_pods(mut self, n: u32) -> Self {
        self.pods = n;
        self
    }

    /// Capacity (= allocatable) as resource name → quantity.
    pub fn capacity(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("cpu".to_string(), self.cpu.clone());
        m.insert("memory".to_string(), self.memory.clone());
        m.insert("pods".to_string(), self.pods.to_string());
        m.insert("ephemeral-storage".to_string(), "100Gi".to_string());
        if self.gpus > 0 {
            m.insert("nvidia.com/gpu".to_string(), self.gpus.to_string());
        }
        for (k, v) in &self.extended {
            m.insert(k.clone(), v.clone());
        }
        m
    }
}

/// A node taint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Taint {
    /// Key.
    pub key: String,
    /// Value (may be absent).
    #[serde(default)]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

/// What the simulator knows about images matching a pattern.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageRule {
    /// Glob: `*` matches any run of characters, everything else literally.
    pub pattern: String,
    /// In process mode, how containers of these images run; absent = a pretend container.
    #[serde(default)]
    pub process: Option<ProcessSpec>,
    /// Pulls of these images fail (ErrImagePull / ImagePullBackOff) although the rule matches.
    #[serde(default)]
    pub fail_pull: bool,
}

impl ImageRule {
    /// A known image pattern with pretend containers.
    pub fn known(pattern: &str) -> Self {
        Self { pattern: pattern.into(), process: None, fail_pull: false }
    }
    /// A pattern whose containers run this process spec in process mode.
    pub fn process(pattern: &str, spec: ProcessSpec) -> Self {
        Self { pattern: pattern.into(), process: Some(spec), fail_pull: false }
    }
}

/// How a container of a matching image becomes a local command line, mimicking an image's
/// ENTRYPOINT and CMD: with `command` set on the container, argv = command + args; otherwise
/// argv = entrypoint + (args, or `default_args` when the container has none). Then `argv[0]` is
/// looked up in `programs` (so KubeSpawner's `args: ["jupyterhub-singleuser"]` can run a venv's
/// executable) and `extra_args` are appended.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ProcessSpec {
    /// The image ENTRYPOINT (often empty here: `tini -g --` is not needed locally).
    pub entrypoint: Vec<String>,
    /// The image CMD.
    pub default_args: Vec<String>,
    /// Replacements for `argv[0]`.
    pub programs: BTreeMap<String, String>,
    /// Appended to argv.
    pub extra_args: Vec<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
}

/// Timings. Defaults are fast (tests); `Delays::realistic()` is closer to a real cluster.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Delays {
    /// Pod created → scheduling decision.
    #[serde(with = "duration_text")]
    pub schedule: Duration,
    /// PVC created → Bound.
    #[serde(with = "duration_text")]
    pub provision: Duration,
    /// Pod bound → sandbox (pod IP) ready.
    #[serde(with = "duration_text")]
    pub sandbox: Duration,
    /// Pulling → Pulled (or the pull failure).
    #[serde(with = "duration_text")]
    pub pull: Duration,
    /// Pulled → Created → Started.
    #[serde(with = "duration_text")]
    pub start: Duration,
    /// Mock-mode container stop after SIGTERM.
    #[serde(with = "duration_text")]
    pub stop: Duration,
    /// First back-off of image pulls and crash loops; doubles up to `backoff_max`.
    #[serde(with = "duration_text")]
    pub backoff_initial: Duration,
    /// Back-off cap.
    #[serde(with = "duration_text")]
    pub backoff_max: Duration,
    /// How often an unschedulable pod is retried with no cluster change.
    #[serde(with = "duration_text")]
    pub unschedulable_retry: Duration,
    /// Interval between watch BOOKMARK events.
    #[serde(with = "duration_text")]
    pub bookmark_interval: Duration,
}

impl Default for Delays {
    fn default() -> Self {
        let ms = Duration::from_millis;
        Self {
            schedule: ms(10),
            provision: ms(20),
            sandbox: ms(20),
            pull: ms(60),
            start: ms(20),
            stop: ms(20),
            backoff_initial: ms(200),
            backoff_max: ms(2_000),
            unschedulable_retry: ms(2_000),
            bookmark_interval: ms(1_000),
        }
    }
}

impl Delays {
    /// Closer to a real cluster (seconds), for the demo.
    pub fn realistic() -> Self {
        let ms = Duration::from_millis;
        Self {
            schedule: ms(100),
            provision: ms(1_500),
            sandbox: ms(1_000),
            pull: ms(3_000),
            start: ms(500),
            stop: ms(1_000),
            backoff_initial: ms(10_000),
            backoff_max: ms(300_000),
            unschedulable_retry: ms(30_000),
            bookmark_interval: ms(60_000),
        }
    }

    /// Everything immediate (back-offs stay at 1 ms so loops still yield).
    pub fn instant() -> Self {
        let z = Duration::ZERO;
        Self {
            schedule: z,
            provision: z,
            sandbox: z,
            pull: z,
            start: z,
            stop: z,
            backoff_initial: Duration::from_millis(1),
            backoff_max: Duration::from_millis(1),
            unschedulable_retry: Duration::from_millis(500),
            bookmark_interval: Duration::from_millis(500),
        }
    }
}

/// Durations as text: `50ms`, `1.5s`, `2m`, or a bare number of milliseconds.
mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", d.as_millis()))
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Num(f64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let raw = Raw::deserialize(d)?;
        let parsed = match raw {
            Raw::Num(n) => secs(n / 1000.0),
            Raw::Text(t) => parse(&t),
        };
        parsed.ok_or_else(|| serde::de::Error::custom("expected a duration such as 50ms, 1.5s or 2m"))
    }

    fn secs(v: f64) -> Option<Duration> {
        (v.is_finite() && (0.0..1e9).contains(&v)).then(|| Duration::from_secs_f64(v))
    }

    pub(super) fn parse(t: &str) -> Option<Duration> {
        let t = t.trim();
        let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
            (n, 0.001)
        } else if let Some(n) = t.strip_suffix('s') {
            (n, 1.0)
        } else if let Some(n) = t.strip_suffix('m') {
            (n, 60.0)
        } else {
            (t, 0.001)
        };
        secs(num.trim().parse::<f64>().ok()? * mult)
    }
}

/// Whether an image reference matches a glob pattern (`*` = any run of characters).
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(idx) => rest = &rest[idx + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("quay.io/jupyterhub/*", "quay.io/jupyterhub/k8s-network-tools:4.2.0"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("busybox*", "busybox"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(!glob_match("quay.io/jupyterhub/*", "quay.io/nobody/x"));
        assert!(glob_match("exact:v1", "exact:v1"));
    }

    #[test]
    fn yaml_config_round_trip() {
        let text = r#"
nodes:
  - name: gpu-1
    cpu: "16"
    memory: 64Gi
    gpus: 4
    labels: {gputype: A100}
    taints: [{key: nvidia.com/gpu, effect: NoSchedule}]
schedulers: [default-scheduler, jupyterhub-user-scheduler]
kubelet: process
delays: {pull: 1.5s, schedule: 5ms, sandbox: 20}
images:
  - pattern: "quay.io/x/*"
    process: {programs: {jupyterhub-singleuser: /venv/bin/jupyterhub-singleuser}}
"#;
        let cfg = SimConfig::from_yaml(text);
        let cfg = match cfg {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(cfg.nodes[0].gpus, 4);
        assert_eq!(cfg.kubelet, KubeletMode::Process);
        assert_eq!(cfg.delays.pull, Duration::from_millis(1500));
        assert_eq!(cfg.delays.sandbox, Duration::from_millis(20));
        assert_eq!(cfg.delays.schedule, Duration::from_millis(5));
        assert!(cfg.validate().is_ok());
        assert!(SimConfig::from_yaml("nodes: [{name: a, cpuu: 1}]").is_err());
        let bad = SimConfig::default().with_node(NodeConfig::new("x").cpu("lots"));
        assert!(bad.validate().is_err());
    }

    #[test]
    fn pod_network_parsing() {
        assert_eq!(parse_pod_network("127.10.0.0/16").map(|(_, n)| n), Ok(65536));
        assert!(parse_pod_network("10.0.0.0/16").is_err());
        assert!(parse_pod_network("127.0.0.0/30").is_err());
    }
}
