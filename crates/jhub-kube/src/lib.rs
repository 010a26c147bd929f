//! The Kubernetes spawner: KubeSpawner 7.1's pod and PVC lifecycle through
//! kube-rs, answering the hub's `poll()` from shared watch-based views.
//!
//! Owns: [`KubeSpawner`] (the `jhub_core::ports::Spawner` implementation),
//! the shared list/watch views of user pods and their events ([`view`]),
//! the reading of pod status and events into "ready / still starting /
//! failed" ([`diagnose`]), KubeSpawner's progress messages ([`progress`]),
//! and connecting a `kube::Client` ([`connect`]).
//!
//! Must not touch: what a pod or PVC looks like (that is `jhub-podspec`; this
//! crate only adds the [`PVC_CREATED_BY_ANNOTATION`] marker to PVCs it
//! creates), the hub's database or HTTP layer, or any cluster object other
//! than the ones listed in [`RBAC_RULES`].
//!
//! # Wiring (the binary)
//!
//! ```text
//! let client = jhub_kube::connect(&KubeConnect::InCluster).await?;   // or Kubeconfig(path) / Url(..) / Infer
//! let config = jhub_podspec::z2jh::spawner_config_from_values(&values, &release)?; // namespace = release namespace
//! // (no release namespace: config.namespace = jhub_kube::detect_namespace() — POD_NAMESPACE, then the service account's)
//! let spawner = KubeSpawner::new(client, config, KubeSpawnerSettings { jupyterhub_version, ..Default::default() })?;
//! spawner.wait_ready().await?;  // first list of both views; fails early on RBAC or connectivity
//! let hub = jhub_hub::Hub::start(settings, store, Arc::new(spawner), proxy, clock).await?;
//! ```
//!
//! # How a spawn talks to the API server
//!
//! Per spawn: one `create` of the PVC (409 = already there, kept), one
//! `create` of the pod, and at stop one `delete` of the pod. Everything else
//! (waiting for the pod to run, progress, `poll()`, waiting for a stopped pod
//! to disappear) is read from two shared watches per namespace, started once:
//! pods with label `component=<component_label>` and events with field
//! `involvedObject.kind=Pod`. The views resume from the last
//! `resourceVersion` when a watch ends or is cut, relist on `410 Gone`, and
//! re-open a watch that delivers nothing (not even a bookmark) for
//! [`WatchSettings::stall_timeout`].
//!
//! # RBAC
//!
//! The verbs the code uses, per core/v1 resource in the spawn namespace
//! (kept equal to [`RBAC_RULES`]; a test checks the simulator's request
//! counters never go beyond it):
//!
//! | resource | verbs | why |
//! |---|---|---|
//! | `pods` | `list`, `watch` | the shared pod view |
//! | `pods` | `create` | start |
//! | `pods` | `delete` | stop, failed starts, a stale pod from an earlier run, stopped pods found by `poll` |
//! | `pods` | `get` | only when a create answers 409 and the existing pod is not in the view (it lacks the component label) |
//! | `persistentvolumeclaims` | `create` | start, when `storage_pvc_ensure` |
//! | `persistentvolumeclaims` | `get` | a create refused with 403 (quota) is fine if the PVC exists; legacy (pre-7) PVC names; `delete_forever` checks the creator marker |
//! | `persistentvolumeclaims` | `delete` | `delete_forever`, only PVCs jhub created |
//! | `events` | `list`, `watch` | the shared event view (progress messages, failure detection); not used when `events_enabled` is off |
//!
//! Live GPU capacity ([`capacity`]) additionally lists and watches `nodes`
//! and `pods` cluster-wide ([`CLUSTER_RBAC_RULES`], the chart's optional
//! ClusterRole); without them it shows nothing and logs one line.
//!
//! Storage management (`storage`, [`KubeStorage`]) needs more, listed in
//! [`STORAGE_RBAC_RULES`] and [`STORAGE_CLUSTER_RBAC_RULES`]; the chart grants
//! them under `custom.storage.rbac`.
//!
//! z2jh's hub Role grants a superset (`get, watch, list, create, delete` on
//! pods, PVCs, secrets, services; `get, watch, list` on events). User
//! namespaces, internal SSL and `services_enabled` are not supported, so no
//! namespace, secret or service verbs are needed.
//!
//! # Secrets in the pod
//!
//! Like KubeSpawner, the server's API token is in the pod spec in clear text
//! (`JUPYTERHUB_API_TOKEN` / `JPY_API_TOKEN` env values): anyone who can
//! `get` pods in the namespace can read it. It is rotated at every spawn.

pub mod capacity;
pub mod connect;
pub mod diagnose;
pub mod error;
pub mod progress;
mod retry;
pub mod spawner;
pub mod storage;
pub mod view;

pub use capacity::{CLUSTER_RBAC_RULES, NodeCapacity};
pub use connect::{KubeConnect, connect, detect_namespace};
pub use error::KubeSpawnerError;
pub use spawner::{KubeSpawner, KubeSpawnerSettings, PVC_CREATED_BY_ANNOTATION, PVC_CREATED_BY_VALUE};
pub use storage::{KubeStorage, KubeStorageSettings, STORAGE_CLUSTER_RBAC_RULES, STORAGE_RBAC_RULES};
pub use view::{ViewCounters, WatchSettings};

/// The Kubernetes RBAC rules the spawner needs in its namespace, as
/// `(apiGroup, resource, verbs)` (`""` is the core group). Exactly the calls
/// the code makes; the Helm chart's Role is checked against it.
pub const RBAC_RULES: &[(&str, &str, &[&str])] = &[
    ("", "pods", &["create", "delete", "get", "list", "watch"]),
    ("", "persistentvolumeclaims", &["create", "delete", "get"]),
    ("", "events", &["list", "watch"]),
];
