//! [`KubeSpawner`]: the hub's `Spawner` port on Kubernetes, with
//! KubeSpawner 7.1's lifecycle (kubespawner-compat §3).
//!
//! start: options resolved (profile overrides) → names (from the stored
//! state, legacy PVC names for pre-7 state) → manifests from `jhub-podspec`
//! → PVC created (409: it exists, kept) → pod created (409: a pod of an
//! earlier run is deleted and replaced; the very same spawn's pod, found
//! after a retried create, is adopted) → wait, on the shared views, until
//! the pod runs, reporting each new event as progress and failing fast on
//! what cannot recover; on failure the pod is deleted (grace 0) first.
//! stop: delete with the grace period, wait on the view until it is gone.
//! poll: the view only, no API call.

use crate::diagnose::{self, PodState};
use crate::error::KubeSpawnerError;
use crate::progress::{ProgressCounter, SlowSchedule, event_progress, slow_message};
use crate::retry::{self, Budget, Failed};
use crate::view::{EventTrack, ViewCounters, Views, Waiter, WatchSettings, involved_pod};
use async_trait::async_trait;
use jhub_core::env::single_user_env;
use jhub_core::ports::{PollStatus, ProgressSink, SpawnError, SpawnRequest, SpawnUser, Spawner, Started};
use jhub_podspec::SpawnerConfig;
use jhub_podspec::manifest::{
    self, PodContext, ServerNames, StateOrigin, build_pod, build_pvc, names_for, names_for_spawn, resolved_resources,
    spawner_env_settings, state_origin,
};
use jhub_podspec::names::UserProperties;
use jhub_podspec::profiles::{self, UserOptions};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, DynamicObject, PostParams, Preconditions};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Annotation jhub puts on every PVC it creates; `delete_forever` deletes
/// only PVCs that carry it (so claims made by hand, by KubeSpawner before
/// the migration, or shared ones are never removed).
pub const PVC_CREATED_BY_ANNOTATION: &str = "jhub/created-by";
/// Value of [`PVC_CREATED_BY_ANNOTATION`].
pub const PVC_CREATED_BY_VALUE: &str = "jhub";

/// Runtime settings that are not KubeSpawner traits.
#[derive(Debug, Clone)]
pub struct KubeSpawnerSettings {
    /// For the `hub.jupyter.org/jupyterhub-version` annotation.
    pub jupyterhub_version: String,
    /// The list/watch loops of the shared views.
    pub watch: WatchSettings,
    /// Events kept per pod being spawned (older ones are dropped).
    pub events_per_pod: usize,
    /// How long `poll` and `stop` wait for the views' first list before
    /// answering with an error (a start waits within its own timeout).
    pub ready_timeout: Duration,
    /// Fail a spawn at once when the scheduler says no node could ever take
    /// the pod (selector/affinity/taints). Turn off on clusters whose
    /// autoscaler can add nodes of a new kind.
    pub fail_fast_unschedulable: bool,
}

impl Default for KubeSpawnerSettings {
    fn default() -> Self {
        Self {
            jupyterhub_version: "6.1.1".into(),
            watch: WatchSettings::default(),
            events_per_pod: 64,
            ready_timeout: Duration::from_secs(60),
            fail_fast_unschedulable: true,
        }
    }
}

/// What this process knows of a server it started (its names survive
/// until the stop, so a stop after a failed start finds the right pod
/// even when the hub only has the previous run's state).
#[derive(Debug, Clone)]
struct Known {
    names: ServerNames,
}

/// The Kubernetes spawner. Create one per hub inside the Tokio runtime;
/// dropping it stops its watches.
pub struct KubeSpawner {
    base: SpawnerConfig,
    namespace: String,
    settings: KubeSpawnerSettings,
    views: Views,
    pods: Api<Pod>,
    pods_raw: Api<DynamicObject>,
    pvcs: Api<PersistentVolumeClaim>,
    pvcs_raw: Api<DynamicObject>,
    known: Mutex<HashMap<(String, String), Known>>,
    user_ids: Mutex<HashMap<String, i64>>,
}

impl std::fmt::Debug for KubeSpawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeSpawner").field("namespace", &self.namespace).finish_non_exhaustive()
    }
}

/// How a start failed, before it becomes the port's `SpawnError`.
#[derive(Debug)]
enum StartError {
    Invalid(String),
    Failed(String),
    Timeout(String),
    Backend(String),
}

/// Whose pod a create is for, to tell an earlier run's pod from a stranger's.
#[derive(Debug, Clone, Copy)]
struct Owner<'a> {
    user: &'a str,
    server: &'a str,
    token: &'a str,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn seconds(value: i64) -> Duration {
    Duration::from_secs(value.max(0).unsigned_abs())
}

fn options_map(options: &Value) -> Result<UserOptions, SpawnError> {
    match options {
        Value::Object(map) => Ok(map.clone()),
        Value::Null => Ok(UserOptions::new()),
        other => Err(SpawnError::InvalidOptions(format!(
            "user_options must be a JSON object, not {}",
            serde_json::to_string(other).unwrap_or_default()
        ))),
    }
}

/// The part of `start_timeout` the spawner uses itself, leaving the hub's
/// own bound (the same value) a margin to receive the spawner's message
/// and the cleanup instead of a bare timeout.
fn own_budget(start_timeout: Duration) -> Duration {
    let margin = (start_timeout / 10).clamp(Duration::from_millis(200), Duration::from_secs(2));
    if start_timeout > margin * 2 { start_timeout - margin } else { start_timeout / 2 }
}

fn annotation<'a>(meta: &'a kube::api::ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref().and_then(|a| a.get(key)).map(String::as_str)
}

/// Whether a pod was started for this user's server (by jhub or KubeSpawner).
fn belongs_to(pod: &Pod, user: &str, server: &str) -> bool {
    annotation(&pod.metadata, "hub.jupyter.org/username") == Some(user)
        && annotation(&pod.metadata, "hub.jupyter.org/servername").unwrap_or("") == server
}

/// Whether the pod carries this spawn's API token (only then is it the
/// same spawn's pod; an earlier run's token was revoked by the hub).
fn carries_token(pod: &Pod, token: &str) -> bool {
    pod.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .filter(|c| c.name == "notebook")
        .any(|c| c.env.iter().flatten().any(|e| e.name == "JUPYTERHUB_API_TOKEN" && e.value.as_deref() == Some(token)))
}

fn event_text<'a>(event: &'a DynamicObject, key: &str) -> &'a str {
    event.data.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Whether an event is about this very pod (not an earlier one of the same name).
fn event_is_for(event: &DynamicObject, uid: &str) -> bool {
    match event.data.get("involvedObject").and_then(|o| o.get("uid")).and_then(Value::as_str) {
        Some(event_uid) if !event_uid.is_empty() => event_uid == uid,
        _ => true,
    }
}

impl KubeSpawner {
    /// A spawner for `config` (from `jhub_podspec::z2jh` or the KubeSpawner
    /// traits), using `client`, in `config.namespace`. Starts the shared
    /// views; must run inside a Tokio runtime.
    pub fn new(
        client: kube::Client,
        config: SpawnerConfig,
        settings: KubeSpawnerSettings,
    ) -> Result<Self, KubeSpawnerError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(KubeSpawnerError::NoRuntime);
        }
        if config.enable_user_namespaces {
            return Err(KubeSpawnerError::Unsupported {
                setting: "enable_user_namespaces",
                why: "the spawner watches one namespace; run the hub with a single user namespace",
            });
        }
        if config.namespace.trim().is_empty() {
            return Err(KubeSpawnerError::Unsupported {
                setting: "namespace",
                why: "it must name the namespace to spawn in (z2jh: the release namespace, else POD_NAMESPACE)",
            });
        }
        if config.services_enabled {
            tracing::warn!("services_enabled is not supported: the hub reaches pods by IP");
        }
        let namespace = config.namespace.clone();
        let views = Views::start(
            &client,
            &namespace,
            &config.component_label,
            config.events_enabled,
            settings.events_per_pod,
            &settings.watch,
        );
        let pod_resource = kube::api::ApiResource::erase::<Pod>(&());
        let pvc_resource = kube::api::ApiResource::erase::<PersistentVolumeClaim>(&());
        Ok(Self {
            pods: Api::namespaced(client.clone(), &namespace),
            pods_raw: Api::namespaced_with(client.clone(), &namespace, &pod_resource),
            pvcs: Api::namespaced(client.clone(), &namespace),
            pvcs_raw: Api::namespaced_with(client, &namespace, &pvc_resource),
            base: config,
            namespace,
            settings,
            views,
            known: Mutex::new(HashMap::new()),
            user_ids: Mutex::new(HashMap::new()),
        })
    }

    /// Waits for the views' first list (`settings.ready_timeout`). Call it at
    /// startup before the hub re-adopts servers, to fail early on missing
    /// RBAC or an unreachable API server.
    pub async fn wait_ready(&self) -> Result<(), KubeSpawnerError> {
        self.views
            .wait_ready(self.settings.ready_timeout, true)
            .await
            .map_err(|what| KubeSpawnerError::ViewNotReady { what, seconds: self.settings.ready_timeout.as_secs() })
    }

    /// The namespace pods and PVCs live in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The base configuration (before profile overrides).
    pub fn config(&self) -> &SpawnerConfig {
        &self.base
    }

    /// Counters of the pod view's list/watch loop.
    pub fn pod_view_counters(&self) -> ViewCounters {
        self.views.pod_counters.snapshot()
    }

    /// Counters of the event view's list/watch loop (zeros with `events_enabled` off).
    pub fn event_view_counters(&self) -> ViewCounters {
        self.views.event_counters.snapshot()
    }

    /// Pods in the view (user pods of the namespace).
    pub fn pods_in_view(&self) -> usize {
        self.views.pods.len()
    }

    /// Events currently held (only those of pods being started or stopped).
    pub fn events_held(&self) -> usize {
        self.views.events.as_ref().map_or(0, |e| e.held())
    }

    fn budget(&self, deadline: Instant) -> Budget {
        let retry = seconds(self.base.k8s_api_request_retry_timeout).max(Duration::from_secs(1));
        Budget {
            until: deadline.min(Instant::now() + retry),
            per_attempt: seconds(self.base.k8s_api_request_timeout).max(Duration::from_secs(1)),
        }
    }

    fn remember(&self, user: &SpawnUser, server: &str, names: &ServerNames) {
        lock(&self.user_ids).insert(user.name.clone(), user.id);
        lock(&self.known).insert((user.name.clone(), server.to_string()), Known { names: names.clone() });
    }

    fn known(&self, user: &str, server: &str) -> Option<Known> {
        lock(&self.known).get(&(user.to_string(), server.to_string())).cloned()
    }

    /// Names from the templates, for a server this process has no state of.
    fn template_names(&self, user: &str, server: &str) -> Result<ServerNames, SpawnError> {
        let id = lock(&self.user_ids).get(user).copied();
        let uses_id =
            [&self.base.pod_name_template, &self.base.pvc_name_template].iter().any(|t| t.contains("{userid}"));
        let id = match id {
            Some(id) => id,
            None if uses_id => {
                return Err(SpawnError::Failed {
                    message: format!(
                        "cannot tell the names of {user}'s Kubernetes objects: the name templates use {{userid}} and no state was saved"
                    ),
                });
            }
            None => 0,
        };
        names_for(&self.base, user, id, server).map_err(|e| SpawnError::Failed { message: e.to_string() })
    }

    fn name_for(&self, user: &str, server: &str, state: &Value, key: &str) -> Result<String, SpawnError> {
        if let Some(known) = self.known(user, server) {
            return Ok(if key == "pvc_name" { known.names.pvc_name } else { known.names.pod_name });
        }
        if let Some(name) = state.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()) {
            return Ok(name.to_string());
        }
        let names = self.template_names(user, server)?;
        Ok(if key == "pvc_name" { names.pvc_name } else { names.pod_name })
    }

    async fn views_ready(&self, deadline: Instant) -> Result<(), StartError> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.views.wait_ready(left, true).await.map_err(|what| {
            StartError::Timeout(format!("the {what} view of namespace {} did not load", self.namespace))
        })
    }

    /// Waits until the view has no pod `name` (or none with `uid`); false at the deadline.
    async fn wait_gone(&self, name: &str, uid: Option<&str>, waiter: &Waiter, deadline: Instant) -> bool {
        loop {
            let notified = waiter.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let present =
                self.views.pods.get(name).is_some_and(|p| uid.is_none_or(|u| p.metadata.uid.as_deref() == Some(u)));
            if !present {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    async fn delete_pod(&self, name: &str, grace: u32, uid: Option<&str>, budget: Budget) -> Result<(), Failed> {
        let mut params = DeleteParams { grace_period_seconds: Some(grace), ..DeleteParams::default() };
        if let Some(uid) = uid {
            params.preconditions = Some(Preconditions { uid: Some(uid.to_string()), resource_version: None });
        }
        let params = &params;
        match retry::call(budget, || self.pods.delete(name, params)).await {
            Ok(_) => Ok(()),
            Err(failed) if failed.error.code() == Some(404) => Ok(()),
            // The uid precondition failed: that pod is already gone and a new one has the name.
            Err(failed) if failed.error.code() == Some(409) && uid.is_some() => Ok(()),
            Err(failed) => Err(failed),
        }
    }

    /// Pre-7 state: adopt the escape-scheme PVC name if only that one exists.
    async fn legacy_pvc_name(
        &self,
        user: &SpawnUser,
        server: &str,
        current: &str,
        deadline: Instant,
    ) -> Result<Option<String>, StartError> {
        let legacy = manifest::legacy_pvc_name(&self.base, &user.name, user.id, server)
            .map_err(|e| StartError::Failed(e.to_string()))?;
        if legacy == current {
            return Ok(None);
        }
        let exists = |name: String| async move {
            retry::call(self.budget(deadline), || self.pvcs.get_opt(&name))
                .await
                .map(|found| found.is_some())
                .map_err(|f| StartError::Backend(format!("looking for PVC {name}: {f}")))
        };
        if exists(current.to_string()).await? {
            return Ok(None);
        }
        if exists(legacy.clone()).await? {
            tracing::info!(user = %user.name, pvc = %legacy, "adopting the PVC of a KubeSpawner < 7 state");
            return Ok(Some(legacy));
        }
        Ok(None)
    }

    async fn ensure_pvc(&self, body: Value, name: &str, deadline: Instant) -> Result<(), StartError> {
        let object: DynamicObject =
            serde_json::from_value(body).map_err(|e| StartError::Failed(format!("PVC manifest {name}: {e}")))?;
        let params = PostParams::default();
        let (object, params) = (&object, &params);
        match retry::call(self.budget(deadline), || self.pvcs_raw.create(params, object)).await {
            Ok(_) => {
                tracing::info!(pvc = %name, namespace = %self.namespace, "created PVC");
                Ok(())
            }
            Err(failed) if failed.error.code() == Some(409) => Ok(()),
            // Quota admission runs before the existence check: 403 may mean "exists, over quota".
            Err(failed) if failed.error.code() == Some(403) => {
                match retry::call(self.budget(deadline), || self.pvcs.get_opt(name)).await {
                    Ok(Some(_)) => Ok(()),
                    _ => Err(StartError::Backend(format!("creating PVC {name}: {failed}"))),
                }
            }
            Err(failed) => Err(StartError::Backend(format!("creating PVC {name}: {failed}"))),
        }
    }

    /// Creates the pod; returns its uid.
    async fn create_pod(
        &self,
        body: Value,
        name: &str,
        owner: Owner<'_>,
        waiter: &Waiter,
        deadline: Instant,
    ) -> Result<String, StartError> {
        let Owner { user, server, token } = owner;
        let object: DynamicObject =
            serde_json::from_value(body).map_err(|e| StartError::Failed(format!("pod manifest {name}: {e}")))?;
        let params = PostParams::default();
        let (object, params) = (&object, &params);
        for _round in 0..3 {
            let failure = match retry::call(self.budget(deadline), || self.pods_raw.create(params, object)).await {
                Ok(created) => {
                    return created.metadata.uid.ok_or_else(|| {
                        StartError::Backend(format!("the API server returned pod {name} without a uid"))
                    });
                }
                Err(failed) if failed.error.code() == Some(409) => failed,
                Err(failed) => return Err(StartError::Backend(format!("creating pod {name}: {failed}"))),
            };
            let existing = match self.views.pods.get(name) {
                Some(pod) => Some(pod),
                // Not in the view: it lacks the component label; read it once.
                None => retry::call(self.budget(deadline), || self.pods.get_opt(name))
                    .await
                    .map_err(|f| StartError::Backend(format!("reading the existing pod {name}: {f}")))?
                    .map(Arc::new),
            };
            let Some(existing) = existing else { continue };
            if !belongs_to(&existing, user, server) {
                return Err(StartError::Failed(format!(
                    "a pod named {name} already exists in namespace {} and was not started for this server ({}); \
                     jhub will not replace it ({failure})",
                    self.namespace,
                    if server.is_empty() { user.to_string() } else { format!("{user}/{server}") }
                )));
            }
            let uid = existing.metadata.uid.clone().unwrap_or_default();
            if existing.metadata.deletion_timestamp.is_none() && carries_token(&existing, token) {
                tracing::info!(pod = %name, "the pod of this very spawn already exists (a retried create); adopting it");
                return Ok(uid);
            }
            tracing::info!(pod = %name, "found the pod of an earlier run; deleting it before starting anew");
            self.delete_pod(name, 0, Some(&uid), self.budget(deadline))
                .await
                .map_err(|f| StartError::Backend(format!("deleting the earlier pod {name}: {f}")))?;
            if !self.wait_gone(name, Some(&uid), waiter, deadline).await {
                return Err(StartError::Timeout(format!("the earlier pod {name} was deleted but did not go away")));
            }
        }
        Err(StartError::Failed(format!("pod {name} kept reappearing while jhub replaced it")))
    }

    /// Waits until the pod runs; reports events as progress.
    #[allow(clippy::too_many_arguments)]
    async fn wait_running(
        &self,
        cfg: &SpawnerConfig,
        name: &str,
        uid: &str,
        waiter: &Waiter,
        events: Option<&EventTrack>,
        progress: &ProgressSink,
        began: Instant,
        deadline: Instant,
    ) -> Result<(String, String), StartError> {
        let fail_unschedulable = self.settings.fail_fast_unschedulable;
        let mut counter = ProgressCounter::default();
        let mut reported: HashSet<String> = HashSet::new();
        let mut slow =
            SlowSchedule::new(seconds(cfg.slow_spawn_message_threshold), seconds(cfg.slow_spawn_message_frequency));
        let mut detail = format!("pod {name} was created but the watch has not shown it yet");
        let mut seen = false;
        loop {
            let notified = waiter.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            for event in events.map(EventTrack::snapshot).unwrap_or_default() {
                if involved_pod(&event) != Some(name) || !event_is_for(&event, uid) {
                    continue;
                }
                let key = event.metadata.uid.clone().or_else(|| event.metadata.name.clone()).unwrap_or_default();
                if !reported.insert(key) {
                    continue;
                }
                let raw = serde_json::to_value(&*event).unwrap_or(Value::Null);
                progress(event_progress(&mut counter, raw));
                let reason = event_text(&event, "reason");
                if let Some(message) =
                    diagnose::failing_event(reason, event_text(&event, "message"), fail_unschedulable)
                {
                    return Err(StartError::Failed(message));
                }
            }
            match self.views.pods.get(name) {
                Some(pod) if pod.metadata.uid.as_deref() == Some(uid) => {
                    seen = true;
                    match diagnose::assess(&pod, fail_unschedulable) {
                        PodState::Ready { ip } => {
                            // The node goes into the usage record (GPU-hours by node).
                            let node = pod.spec.as_ref().and_then(|spec| spec.node_name.clone()).unwrap_or_default();
                            return Ok((ip, node));
                        }
                        PodState::Failed { message } => return Err(StartError::Failed(message)),
                        PodState::Starting { detail: now } => detail = now,
                    }
                }
                _ if seen => {
                    return Err(StartError::Failed(format!("pod {name} was deleted while the server was starting")));
                }
                _ => {}
            }
            let elapsed = began.elapsed();
            if slow.due(elapsed) {
                progress(slow_message(&cfg.slow_spawn_message, elapsed));
            }
            if Instant::now() >= deadline {
                return Err(StartError::Timeout(detail));
            }
            let wake = (began + slow.next_due()).min(deadline);
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    fn pod_url(&self, cfg: &SpawnerConfig, ip: &str, user: &SpawnUser, server: &str, names: &ServerNames) -> String {
        let mut host = ip.to_string();
        if !cfg.pod_connect_ip.is_empty() {
            let props =
                UserProperties::new(&user.name, user.id, server, cfg.slug_scheme, &self.namespace, &names.namespace)
                    .with_names(&names.pod_name, &names.pvc_name);
            match props.expand(&cfg.pod_connect_ip) {
                Ok(expanded) => host = expanded,
                Err(err) => tracing::warn!(error = %err, "pod_connect_ip could not be expanded; using the pod IP"),
            }
        }
        if host.contains(':') && !host.starts_with('[') {
            host = format!("[{host}]");
        }
        format!("http://{host}:{}", cfg.effective_port())
    }

    async fn start_inner(&self, request: &SpawnRequest, progress: &ProgressSink) -> Result<Started, StartError> {
        let began = Instant::now();
        let deadline = began + own_budget(request.start_timeout);
        let user = &request.user;
        let server = request.server_name.as_str();
        let options = options_map(&request.user_options).map_err(|e| StartError::Invalid(e.to_string()))?;
        // Group membership may have changed since the options were
        // validated: resolve again with the groups of this spawn.
        let resolved = profiles::resolve_for(&self.base, &options, &user.groups)
            .map_err(|e| StartError::Invalid(e.to_string()))?;
        for stray in &resolved.stray_attributes {
            tracing::info!(user = %user.name, setting = %stray.name, suggestion = ?stray.suggestion,
                "profile override is not a KubeSpawner setting and has no effect");
        }
        for dep in &resolved.deprecated_names {
            tracing::warn!(user = %user.name, setting = dep.name, use_instead = dep.use_instead,
                "profile override uses a deprecated KubeSpawner name; applied under its new name");
        }
        // The resolved profile travels with the resources into the server
        // event log (Started/Ready), where usage accounting reads it.
        let profile = resolved.selection.as_ref().map(|s| s.slug.clone());
        let cfg = resolved.config;
        let failed = |e: manifest::ManifestError| StartError::Failed(e.to_string());
        // Names come from the base config (a profile cannot rename objects), like KubeSpawner.
        let mut names =
            names_for_spawn(&self.base, &user.name, user.id, server, &request.previous_state).map_err(failed)?;
        if names.namespace != self.namespace {
            tracing::warn!(user = %user.name, stored = %names.namespace, namespace = %self.namespace,
                "the stored state names another namespace; spawning in the configured one");
            let fresh = names_for(&self.base, &user.name, user.id, server).map_err(failed)?;
            names.namespace = fresh.namespace;
            names.dns_name = fresh.dns_name;
        }
        self.remember(user, server, &names);
        self.views_ready(deadline).await?;
        if cfg.storage_pvc_ensure
            && cfg.handle_legacy_names
            && state_origin(&request.previous_state) == StateOrigin::Legacy
            && request.previous_state.get("pvc_name").is_none()
            && let Some(legacy) = self.legacy_pvc_name(user, server, &names.pvc_name, deadline).await?
        {
            names.pvc_name = legacy;
            self.remember(user, server, &names);
        }
        let prefix = request.hub_env.layout.server_url(&user.name, server);
        let env_settings = spawner_env_settings(&cfg, &user.name, &prefix).map_err(failed)?;
        let hub_env = single_user_env(&request.hub_env, &env_settings, &user.name, server, &request.api_token);
        let ctx = PodContext {
            user_name: user.name.clone(),
            user_id: user.id,
            server_name: server.to_string(),
            names: names.clone(),
            hub_env,
            jupyterhub_version: self.settings.jupyterhub_version.clone(),
        };
        let pod_body = build_pod(&cfg, &ctx).map_err(failed)?;
        let pvc_body = if cfg.storage_pvc_ensure {
            let mut body = build_pvc(&cfg, &ctx).map_err(failed)?;
            if let Some(annotations) = body.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
                annotations.insert(PVC_CREATED_BY_ANNOTATION.into(), json!(PVC_CREATED_BY_VALUE));
            }
            Some(body)
        } else {
            None
        };
        let waiter = self.views.interest.register(&names.pod_name);
        // Before the pod exists, so that no event of it is missed.
        let events = self.views.events.as_ref().map(|store| store.track(&names.pod_name));
        if let Some(body) = pvc_body {
            self.ensure_pvc(body, &names.pvc_name, deadline).await?;
        }
        let owner = Owner { user: &user.name, server, token: &request.api_token };
        let uid = self.create_pod(pod_body, &names.pod_name, owner, &waiter, deadline).await?;
        let waited =
            self.wait_running(&cfg, &names.pod_name, &uid, &waiter, events.as_ref(), progress, began, deadline).await;
        match waited {
            Ok((ip, node)) => {
                tracing::info!(user = %user.name, server, pod = %names.pod_name, %ip, %node,
                    seconds = began.elapsed().as_secs_f64(), "pod running");
                let mut resources = resolved_resources(&cfg);
                if let Some(map) = resources.as_object_mut() {
                    map.insert("node".into(), json!(node));
                }
                Ok(Started {
                    url: self.pod_url(&cfg, &ip, user, server, &names),
                    state: names.state(cfg.storage_pvc_ensure),
                    resources: with_profile(resources, profile.as_deref(), &user.groups),
                })
            }
            Err(err) => {
                // Nothing may be left running; grace 0 removes the object at once.
                let cleanup =
                    Budget { until: Instant::now() + Duration::from_secs(5), per_attempt: Duration::from_secs(3) };
                if let Err(e) = self.delete_pod(&names.pod_name, 0, Some(&uid), cleanup).await {
                    tracing::warn!(pod = %names.pod_name, error = %e, "could not delete the pod of a failed spawn");
                }
                Err(err)
            }
        }
    }
}

/// Adds the resolved profile slug (`null` without a profile list) and the
/// groups the spawn was resolved for to the recorded resources.
fn with_profile(mut resources: Value, profile: Option<&str>, groups: &[String]) -> Value {
    if let Some(map) = resources.as_object_mut() {
        map.insert("profile".into(), profile.map_or(Value::Null, |p| Value::String(p.to_string())));
        map.insert("groups".into(), Value::from(groups.to_vec()));
    }
    resources
}

#[async_trait]
impl Spawner for KubeSpawner {
    fn validate_options(&self, user: &SpawnUser, _server_name: &str, options: &Value) -> Result<Value, SpawnError> {
        let map = options_map(options)?;
        profiles::resolve_for(&self.base, &map, &user.groups).map_err(|e| match e {
            profiles::UserOptionsError::ProfileNotAllowed { .. } | profiles::UserOptionsError::NoProfileAllowed => {
                SpawnError::NotPermitted(e.to_string())
            }
            other => SpawnError::InvalidOptions(other.to_string()),
        })?;
        Ok(Value::Object(map))
    }

    async fn start(&self, request: SpawnRequest, progress: ProgressSink) -> Result<Started, SpawnError> {
        let result = self.start_inner(&request, &progress).await;
        result.map_err(|err| {
            tracing::warn!(user = %request.user.name, server = %request.server_name, error = ?err, "spawn failed");
            match err {
                StartError::Invalid(message) => SpawnError::InvalidOptions(message),
                StartError::Failed(message) => SpawnError::Failed { message },
                StartError::Timeout(detail) => {
                    SpawnError::Timeout { seconds: request.start_timeout.as_secs(), detail: Some(detail) }
                }
                StartError::Backend(message) => SpawnError::Backend { message },
            }
        })
    }

    async fn stop(&self, user: &str, server_name: &str, state: &Value, now: bool) -> Result<(), SpawnError> {
        let name = self.name_for(user, server_name, state, "pod_name")?;
        let grace = if now { 0 } else { u32::try_from(self.base.delete_grace_period.max(0)).unwrap_or(u32::MAX) };
        let deadline = Instant::now() + seconds(self.base.start_timeout).max(Duration::from_secs(10));
        let waiter = self.views.interest.register(&name);
        self.views.wait_ready(self.settings.ready_timeout, false).await.map_err(|what| SpawnError::Backend {
            message: format!("the {what} view of namespace {} is not loaded", self.namespace),
        })?;
        self.delete_pod(&name, grace, None, self.budget(deadline))
            .await
            .map_err(|f| SpawnError::Backend { message: format!("deleting pod {name}: {f}") })?;
        if !self.wait_gone(&name, None, &waiter, deadline).await {
            return Err(SpawnError::Failed {
                message: format!(
                    "pod {name} still exists {} seconds after it was deleted",
                    deadline.saturating_duration_since(Instant::now()).as_secs()
                ),
            });
        }
        lock(&self.known).remove(&(user.to_string(), server_name.to_string()));
        Ok(())
    }

    async fn started_at(&self, user: &str, server_name: &str, state: &Value) -> Option<jhub_core::Timestamp> {
        let name = self.name_for(user, server_name, state, "pod_name").ok()?;
        let pod = self.views.pods.get(&name)?;
        pod.status.as_ref()?.start_time.as_ref().map(|t| t.0)
    }

    async fn poll(&self, user: &str, server_name: &str, state: &Value) -> Result<PollStatus, SpawnError> {
        let name = self.name_for(user, server_name, state, "pod_name")?;
        if !self.views.is_ready() {
            // Answering "gone" from an empty view would make the hub drop running servers.
            self.views.wait_ready(self.settings.ready_timeout, false).await.map_err(|what| SpawnError::Backend {
                message: format!("the {what} view of namespace {} is not loaded yet", self.namespace),
            })?;
        }
        let pod = self.views.pods.get(&name);
        let (status, delete) = diagnose::poll_status(pod.as_deref());
        if delete && self.base.delete_stopped_pods {
            let api = self.pods.clone();
            let uid = pod.and_then(|p| p.metadata.uid.clone());
            tokio::spawn(async move {
                let params = DeleteParams {
                    grace_period_seconds: Some(0),
                    preconditions: Some(Preconditions { uid, resource_version: None }),
                    ..DeleteParams::default()
                };
                if let Err(err) = api.delete(&name, &params).await {
                    tracing::debug!(pod = %name, error = %err, "deleting a stopped pod");
                }
            });
        }
        Ok(status)
    }

    async fn delete_forever(&self, user: &str, server_name: &str, state: &Value) -> Result<(), SpawnError> {
        if !self.base.delete_pvc {
            return Ok(());
        }
        if !server_name.is_empty() && !self.base.pvc_name_template.contains("{user_server}") {
            // The PVC is shared by the user's servers (KubeSpawner's rule).
            return Ok(());
        }
        let name = self.name_for(user, server_name, state, "pvc_name")?;
        let deadline = Instant::now() + seconds(self.base.k8s_api_request_retry_timeout).max(Duration::from_secs(1));
        let found = retry::call(self.budget(deadline), || self.pvcs.get_opt(&name))
            .await
            .map_err(|f| SpawnError::Backend { message: format!("reading PVC {name}: {f}") })?;
        let Some(found) = found else { return Ok(()) };
        if annotation(&found.metadata, PVC_CREATED_BY_ANNOTATION) != Some(PVC_CREATED_BY_VALUE) {
            tracing::info!(pvc = %name, "keeping the PVC: jhub did not create it");
            return Ok(());
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions { uid: found.metadata.uid.clone(), resource_version: None }),
            ..DeleteParams::default()
        };
        let params = &params;
        match retry::call(self.budget(deadline), || self.pvcs.delete(&name, params)).await {
            Ok(_) => {
                tracing::info!(pvc = %name, "deleted PVC for good");
                lock(&self.known).remove(&(user.to_string(), server_name.to_string()));
                Ok(())
            }
            Err(f) if matches!(f.error.code(), Some(404 | 409)) => Ok(()),
            Err(f) => Err(SpawnError::Backend { message: format!("deleting PVC {name}: {f}") }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn own_budget_leaves_the_hub_a_margin() {
        assert_eq!(own_budget(Duration::from_secs(300)), Duration::from_secs(298));
        assert_eq!(own_budget(Duration::from_secs(3)), Duration::from_millis(2700));
        assert_eq!(own_budget(Duration::from_millis(300)), Duration::from_millis(150));
    }

    #[test]
    fn ownership_and_token_checks() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "jupyter-alice", "annotations": {"hub.jupyter.org/username": "alice"}},
            "spec": {"containers": [{"name": "notebook", "image": "x",
                "env": [{"name": "JUPYTERHUB_API_TOKEN", "value": "t1"}]}]}
        }))
        .unwrap();
        assert!(belongs_to(&pod, "alice", ""));
        assert!(!belongs_to(&pod, "alice", "gpu"));
        assert!(!belongs_to(&pod, "bob", ""));
        assert!(carries_token(&pod, "t1"));
        assert!(!carries_token(&pod, "t2"));
    }
}
