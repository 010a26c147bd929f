//! A Kubernetes API server simulator (pods, PVCs, events, nodes, services, secrets; scheduler and
//! kubelet) for jhub's tests and demo. The real `kube::Client` (including
//! `kube::runtime::watcher` and reflectors) talks to it unchanged over plain HTTP:
//! `kube::Config::new("http://127.0.0.1:PORT".parse()?)`.
//!
//! This crate owns the simulator only. It must not be used by production code paths, and it
//! does not know jhub's own crates: pods and PVCs reach it as JSON, exactly as from any client.
//!
//! ```text
//! let sim = Simulator::start(SimConfig::seed_cluster())?;     // control plane (in-process)
//! let server = sim.serve_local().await?;                      // HTTP on 127.0.0.1:0
//! let client = kube::Client::try_from(kube::Config::new(server.url.parse()?))?;
//! ... sim.request_counts(), sim.cut_watches(), sim.fail_requests(..), sim.events_for(ns, pod) ...
//! ```
//!
//! # What it reproduces, and what it does not
//!
//! | component | reproduced | not reproduced |
//! |---|---|---|
//! | kube-apiserver: resources | core/v1 `pods` (+`/status`, `/log`), `persistentvolumeclaims` (+`/status`), `events`, `services`, `secrets`, cluster-scoped `nodes` (+ `nodes/{node}/proxy/stats/summary`, the kubelet Summary API), `namespaces`, `persistentvolumes`; `storage.k8s.io/v1` `storageclasses`; `snapshot.storage.k8s.io/v1` `volumesnapshots` and `volumesnapshotclasses` (the external-snapshotter CRDs; `snapshot_crds: false` serves none); legacy `/api/v1/watch/...` paths; `/version`, `/api`, `/api/v1`, `/apis`, `/apis/<group>[/v1]` discovery | every other group/version (apps, events.k8s.io, RBAC, other CRDs...), configmaps, service accounts, bindings/eviction/exec/attach/portforward subresources, OpenAPI documents, protobuf and Table output, authentication and authorization (everything is allowed; 403 only by fault injection, e.g. `Fault::rbac_denied` for a service account without a ClusterRole, with the authorizer's message) |
//! | kube-apiserver: verbs | create (incl. `generateName`), get, list, watch, update (PUT, optimistic concurrency on `metadata.resourceVersion` → 409 Conflict), patch (`merge-patch+json`; `strategic-merge-patch+json` is applied as a plain JSON merge patch, so lists are replaced, not merged by key), delete (DeleteOptions body or `gracePeriodSeconds` query, `preconditions` uid/resourceVersion), deletecollection, `dryRun=All` | `json-patch+json` and server-side apply (415), field managers/`managedFields`, `fieldValidation`, strategic-merge directives |
//! | kube-apiserver: versions and watches | one global monotonic `resourceVersion` (string) like etcd; `uid`, `creationTimestamp`, `generation` (pods); list `metadata.resourceVersion`; `resourceVersion`+`resourceVersionMatch=NotOlderThan` (served from the latest state; a version from the future → 504 Timeout); `limit`/`continue` paging; watch from a version replays the retained per-resource history after it, `0`/unset starts with synthetic ADDED events; a version older than the retained window (see `compact_history`) → an `ERROR` event with a 410 `Expired` Status, then the stream ends; `allowWatchBookmarks` → periodic BOOKMARK; `sendInitialEvents=true` → initial ADDED events then a BOOKMARK annotated `k8s.io/initial-events-end`; `timeoutSeconds`; boolean query parameters (`watch`, `allowWatchBookmarks`, `sendInitialEvents`) decoded like apimachinery's `Convert_Slice_string_To_bool`: absent, `0` or `false` in any case → false, any other value (`True` from Python clients such as KubeSpawner, the empty `?watch`) → true; label/field changes turn MODIFIED into ADDED/DELETED for selector watches; slow watchers are closed | `resourceVersionMatch=Exact` for an older version (410), consistent snapshots across `continue` pages (later pages read the current state), per-request random timeouts |
//! | kube-apiserver: selectors | `labelSelector` (`=`, `==`, `!=`, `in`, `notin`, exists, `!key`, `>`/`<`), `fieldSelector` (`=`, `==`, `!=`; `metadata.name`, `metadata.namespace`; pods `spec.nodeName`, `spec.schedulerName`, `spec.restartPolicy`, `spec.serviceAccountName`, `spec.hostNetwork`, `status.phase`, `status.podIP`, `status.nominatedNodeName`; events `involvedObject.{kind,namespace,name,uid,apiVersion,resourceVersion,fieldPath}`, `reason`, `reportingComponent`, `source`, `type`; secrets `type`; nodes `spec.unschedulable`; namespaces `status.phase`); unsupported fields → 400 `field label not supported` | set-based selectors on field selectors |
//! | kube-apiserver: errors | `Status` bodies with the real reasons and wording: 404 NotFound, 409 AlreadyExists / Conflict, 410 Expired, 422 Invalid (with `details.causes`), 400 BadRequest (undecodable bodies such as a malformed quantity, bad selectors), 403 Forbidden (namespace terminating, or injected), 405, 415; injected 5xx/403/429 and latency per verb/resource | rate limiting and priority-and-fairness, request timeouts |
//! | kube-apiserver: admission and defaulting | quantities canonicalised exactly like `resource.Quantity` (`8.0`→`8`, `1.5`→`1500m`, `1.5Gi`→`1536Mi`, `1000`→`1k`; a plain byte count such as `17179869184` stays as written because its format is decimal); missing container requests default to limits; pod defaults: `restartPolicy: Always`, `dnsPolicy`, `schedulerName: default-scheduler`, `terminationGracePeriodSeconds: 30`, `securityContext: {}`, `enableServiceLinks`, `serviceAccountName: default`, `priority: 0`, `preemptionPolicy`, the two DefaultTolerationSeconds tolerations, per container `imagePullPolicy` (Always for `:latest`/untagged), `terminationMessagePath/Policy`, port `protocol: TCP`; `status.phase: Pending` and `status.qosClass` at creation; PVC `volumeMode` and the DefaultStorageClass (skipped when the legacy class annotation is set); service `type`, `sessionAffinity`, `ipFamilies`, port `protocol`/`targetPort`, `clusterIP` from 10.96.0.0/12; secret `stringData` → base64 `data`, `type: Opaque`; namespace `kubernetes.io/metadata.name` label and `Active` phase. Validation: DNS-1123 subdomain/label and DNS-1035 names, labels and annotation keys, containers non-empty with name and image, duplicate names, ports, env names, volume mounts naming volumes, `restartPolicy`, `imagePullPolicy`, requests ≤ limits, extended resources integral with request = limit, PVC `accessModes` and `resources.requests.storage`, service ports and type, secret keys; pod spec updates limited to image/tolerations/activeDeadlineSeconds/terminationGracePeriodSeconds; PVC spec immutable except resources | service-account token volume injection, LimitRanger, ResourceQuota, PodSecurity, mutating/validating webhooks, most other validation rules |
//! | kube-apiserver: lifecycle | pods with a node and a grace period get `deletionTimestamp`/`deletionGracePeriodSeconds` and are removed by the kubelet once stopped; grace 0, unbound or finished pods go at once; pvc-protection keeps a PVC in use Terminating until its pods are gone; owner references to a deleted pod garbage-collect its services/secrets; deleting a namespace deletes its contents | finalizers other than pvc-protection, orphan/foreground propagation policies, event TTL (events are kept until the simulator stops), namespace `Terminating` phase |
//! | kube-scheduler | runs the configured scheduler names (default `default-scheduler`; pods naming any other stay Pending with no event, like a cluster without that scheduler); filters NodeUnschedulable, TaintToleration (NoSchedule/NoExecute), NodeAffinity (`nodeSelector`, required terms with `In`/`NotIn`/`Exists`/`DoesNotExist`/`Gt`/`Lt` and `matchFields` on `metadata.name`), NodeResourcesFit on allocatable minus bound pods' requests for every resource incl. `nvidia.com/gpu` and other extended resources and the pod count; the VolumeBinding PreFilter (missing, terminating or unbound PVC); scoring by preferred node affinity plus LeastAllocated (default) or MostAllocated on cpu/memory, counting request-less containers as 100m/200Mi like kube-scheduler; `Scheduled` ("Successfully assigned ns/pod to node") and `FailedScheduling` events in the real message format (`0/2 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: ...`) written the way events.k8s.io events appear through core/v1 (`eventTime`, `action`, `reportingComponent`, `series` on repeats, null first/lastTimestamp); `PodScheduled` condition; retries on capacity changes and every `unschedulable_retry` | preemption (the message says no victims were found), pod (anti-)affinity, topology spread, node ports, volume limits and zones, scheduling gates, random tie-breaking (ties go to the first node by name) |
//! | kubelet | per pod: `startTime`, `hostIP`, conditions PodReadyToStartContainers/Initialized/ContainersReady/Ready/PodScheduled, container waiting `ContainerCreating`/`PodInitializing` → a unique loopback `podIP` (127.x.y.z from `pod_network`, never 127.0.0.1) → init containers run first → per container `Pulling`, `Pulled` ("Successfully pulled image \"x\" in 61ms (61ms including waiting). Image size: N bytes." or "already present on machine" per `imagePullPolicy`), `Created` ("Created container: notebook"), `Started`; phase Running with `containerStatuses[].ready`, `containerID`, `imageID`; unknown images (no `images` rule) or `fail_image_pulls` → `Failed` ("Failed to pull image \"x\": rpc error: ... not found"), `Failed` "Error: ErrImagePull", `BackOff` "Back-off pulling image \"x\"", waiting `ErrImagePull` → `ImagePullBackOff`, retried with doubling back-off; container exits → `terminated` (Completed/Error/OOMKilled/StartError) and the restart policy: Always restarts, OnFailure restarts non-zero exits, Never finishes; restarts go through `CrashLoopBackOff` with `lastState` and `restartCount`; a pod is Succeeded/Failed when no container will run again; graceful deletion emits `Killing` ("Stopping container x"), SIGTERM to the process group, SIGKILL after the grace period, terminal phase, then the final delete; repeated identical events are aggregated (`count`, `lastTimestamp`) | probes (containers are Ready once started), resource limits enforcement (OOM only by injection), image garbage collection, node status updates/heartbeats, eviction, volumes other than PVC/emptyDir directories, `CreateContainerConfigError` retries beyond back-off, per-container log rotation |
//! | kubelet, process mode | containers whose image rule has a `process` spec run as local process groups: argv = `command`+`args`, or the rule's ENTRYPOINT + (`args` or CMD), `argv[0]` mapped through `programs` (so `args: ["jupyterhub-singleuser"]` runs a local venv's executable), `$(VAR)` expansion, `extra_args`; env from `env` (`value`, `fieldRef` incl. `status.podIP`, `resourceFieldRef`, `secretKeyRef`), `envFrom` secrets, plus the host's `inherit_env` (PATH...) and `env_rewrites`; `JUPYTERHUB_SERVICE_URL`'s `0.0.0.0` host (and `--ip=0.0.0.0`) becomes the pod IP, because every "pod" shares the host's network namespace and must listen on its own loopback address for `http://<podIP>:8888` to reach exactly it; `HOME` and the working directory map through the mounts to a per-PV directory under `data_dir/volumes/` (so files survive pod deletion and re-creation while the PVC lives) or to a per-pod directory otherwise; stdout/stderr to `data_dir/logs/<ns>_<pod>/<container>.log` (also served as `pods/log`) | isolation of any kind (no namespaces, chroot, cgroups, users: `runAsUser`, `securityContext`, capabilities are ignored), image contents, mounts other than the home/working directory mapping, hostPath and device volumes |
//! | PV controller / provisioner | PVCs with a known (or any, when `storage_classes` is empty) storage class bind after `provision` delay: a `pvc-<uid>` PV, `spec.volumeName`, `status.phase: Bound`, capacity and access modes, `Provisioning`/`ProvisioningSucceeded` events; an unknown class → `ProvisioningFailed`; the PV (and its directory) is deleted with the claim | static binding, `WaitForFirstConsumer` |
//! | storage (module `storage`) | StorageClass objects and `allowVolumeExpansion`; the `PersistentVolumeClaimResize` admission rule (403) and no shrinking (422); the external-resizer and kubelet expansion with `Resizing` / `FileSystemResizePending` conditions, online or offline (`online_expansion`); VolumeSnapshots made ready by the snapshot controller (`restoreSize`, `readyToUse`, `status.error`); PVCs provisioned from a snapshot `dataSource` with its content; per-volume used bytes in the kubelet stats | VolumeSnapshotContents, pre-provisioned snapshots, expansion failures and their recovery |
//!
//! Mock mode (the default) starts no processes: pods become Running and nothing listens, unless
//! `mock_http_responder` is set, which answers 200 on every declared container port of the pod IP.

pub mod config;
pub mod error;
pub mod quantity;
pub mod resource;
pub mod selector;
pub mod validate;

mod api;
mod controller;
mod kubelet;
mod process;
mod scheduler;
mod sim;
mod storage;
mod store;

use std::future::Future;

pub use config::{Delays, EnvRewrite, ImageRule, KubeletMode, NodeConfig, ProcessSpec, Scoring, SimConfig, Taint};
pub use error::{ApiError, FieldError, SimError};
pub use resource::{Resource, Verb};
pub use sim::{Fault, FaultAction, LocalServer, RequestCounts, Simulator};

/// Serves the simulated API on `listener` until `shutdown` completes. The caller binds (e.g.
/// `127.0.0.1:0`). On shutdown every open watch is closed so the server can stop at once.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sim: Simulator,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SimError> {
    let app = api::router(sim.clone());
    let core = sim.core.clone();
    let graceful = async move {
        shutdown.await;
        // Open watches would keep the graceful shutdown waiting until their timeouts.
        core.watches.cut.send_modify(|g| *g += 1);
    };
    axum::serve(listener, app).with_graceful_shutdown(graceful).await.map_err(SimError::Serve)
}

/// A kubeconfig (YAML) pointing at `url`, for `kube::Config::infer()`-style setups.
pub fn kubeconfig(url: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: jhub-kube-sim\n  cluster:\n    server: {url}\ncontexts:\n- name: jhub-kube-sim\n  context:\n    cluster: jhub-kube-sim\n    user: jhub-kube-sim\n    namespace: {namespace}\ncurrent-context: jhub-kube-sim\nusers:\n- name: jhub-kube-sim\n  user:\n    token: jhub-kube-sim\n"
    )
}
