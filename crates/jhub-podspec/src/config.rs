//! `SpawnerConfig`: every KubeSpawner / Spawner setting that shapes a user
//! pod, its PVC and the spawn lifecycle, with KubeSpawner 7.1's defaults.
//!
//! Field names are the trait names, so a config can be read and changed by
//! trait name (`kubespawner_override`, `hub.config.KubeSpawner`): see
//! [`SpawnerConfig::set_traits`] and [`SpawnerConfig::apply_override`].
//! Values are stored already validated and normalised (memory in bytes, CPU
//! as floats, a single-string `cmd` as a list).

use crate::names::SlugScheme;
use crate::traits::{self, TraitKind, TraitValueError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A JSON object (a Python dict trait).
pub type Dict = Map<String, Value>;

/// KubeSpawner's settings. `Default` is KubeSpawner 7.1 with nothing
/// configured (e.g. `image = quay.io/jupyterhub/singleuser:latest`,
/// `start_timeout = 60`, `namespace = default`); z2jh's choices come from
/// [`crate::z2jh::spawner_config_from_values`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpawnerConfig {
    // ---- the notebook container
    /// Container image of the notebook server, e.g. quay.io/jupyter/base-notebook:latest.
    pub image: String,
    /// imagePullPolicy: IfNotPresent, Always or Never; null omits it.
    pub image_pull_policy: Option<String>,
    /// Secret names (strings) or `{name: ...}` objects.
    pub image_pull_secrets: Vec<Value>,
    /// `None` = the image's CMD; z2jh sets `["jupyterhub-singleuser"]`.
    pub cmd: Option<Vec<String>>,
    /// Extra arguments appended after cmd.
    pub args: Vec<String>,
    /// 0 means 8888.
    pub port: i64,
    /// Address the server binds to inside the pod. Default 0.0.0.0.
    pub ip: String,
    /// Container workingDir (template expanded).
    pub working_dir: Option<String>,
    /// name → string, or name → EnvVar object (`valueFrom`).
    pub environment: Dict,
    /// URL path the server opens first, e.g. /lab.
    pub default_url: String,
    /// Root directory of the server (JUPYTERHUB_ROOT_DIR).
    pub notebook_dir: String,
    /// Start the single-user server with debug logging.
    pub debug: bool,
    /// Ask the server to ignore per-user config files.
    pub disable_user_config: bool,
    /// Hub environment variables passed to the server (KubeSpawner: none).
    pub env_keep: Vec<Value>,
    /// Extra scopes the server's OAuth client may request.
    pub oauth_client_allowed_scopes: Vec<Value>,
    /// Roles of the server's OAuth client (deprecated in JupyterHub).
    pub oauth_roles: Vec<Value>,
    /// Scopes of the server's API token.
    pub server_token_scopes: Vec<Value>,
    /// Container lifecycle (postStart / preStop), not template-expanded.
    pub lifecycle_hooks: Dict,
    /// Container fields that replace what KubeSpawner built (top level only).
    pub extra_container_config: Dict,

    // ---- resources
    /// CPU limit in cores, a number (e.g. 8); strings are refused.
    pub cpu_limit: Option<f64>,
    /// CPU request in cores, a number (e.g. 0.5); strings are refused.
    pub cpu_guarantee: Option<f64>,
    /// Bytes.
    pub mem_limit: Option<u64>,
    /// Bytes.
    pub mem_guarantee: Option<u64>,
    /// Extra resource limits, e.g. {"nvidia.com/gpu": "1"}.
    pub extra_resource_limits: Dict,
    /// Extra resource requests, e.g. {"nvidia.com/gpu": "1"}.
    pub extra_resource_guarantees: Dict,

    // ---- security
    /// Container runAsUser; null omits it.
    pub uid: Option<i64>,
    /// Container runAsGroup; null omits it.
    pub gid: Option<i64>,
    /// Pod securityContext.fsGroup; null omits it.
    pub fs_gid: Option<i64>,
    /// Pod securityContext.supplementalGroups (integers).
    pub supplemental_gids: Vec<Value>,
    /// Run the notebook container privileged. Default false.
    pub privileged: bool,
    /// Container allowPrivilegeEscalation; null omits the field. Default false.
    pub allow_privilege_escalation: Option<bool>,
    /// Container securityContext fields (camelCase) applied on top of uid/gid/privileged.
    pub container_security_context: Dict,
    /// Pod securityContext fields (camelCase) applied on top of fs_gid/supplemental_gids.
    pub pod_security_context: Dict,
    /// Pod serviceAccountName (template expanded).
    pub service_account: Option<String>,
    /// Pod automountServiceAccountToken; null = only when a service account is set.
    pub automount_service_account_token: Option<bool>,

    // ---- pod spec
    /// nodeSelector labels, e.g. {"gputype": "A100"}.
    pub node_selector: Dict,
    /// List, or mapping taken in sorted key order (same for the fields below).
    pub tolerations: Value,
    /// NodeSelectorTerms the pod's node must match.
    pub node_affinity_required: Value,
    /// PreferredSchedulingTerms for the pod's node affinity.
    pub node_affinity_preferred: Value,
    /// PodAffinityTerms the pod must satisfy.
    pub pod_affinity_required: Value,
    /// WeightedPodAffinityTerms for pod affinity.
    pub pod_affinity_preferred: Value,
    /// PodAffinityTerms for pod anti-affinity.
    pub pod_anti_affinity_required: Value,
    /// WeightedPodAffinityTerms for pod anti-affinity.
    pub pod_anti_affinity_preferred: Value,
    /// Pod volumes (templates expanded).
    pub volumes: Value,
    /// volumeMounts of the notebook container (templates expanded).
    pub volume_mounts: Value,
    /// Init containers run before the notebook container.
    pub init_containers: Value,
    /// Sidecar containers appended after the notebook container.
    pub extra_containers: Value,
    /// Pod schedulerName.
    pub scheduler_name: Option<String>,
    /// Pod priorityClassName.
    pub priority_class_name: String,
    /// Pod spec fields that replace what KubeSpawner built (top level only).
    pub extra_pod_config: Dict,

    // ---- metadata
    /// Extra pod labels (templates expanded).
    pub extra_labels: Dict,
    /// Extra pod annotations (templates expanded).
    pub extra_annotations: Dict,
    /// Labels put on every pod and PVC (z2jh replaces KubeSpawner's default set).
    pub common_labels: Dict,
    /// Value of the `component` label of user pods. Default singleuser-server.
    pub component_label: String,

    // ---- names and namespaces
    /// Namespace user pods are created in.
    pub namespace: String,
    /// Template of the pod name. Default jupyter-{user_server}.
    pub pod_name_template: String,
    /// Template of the PVC name. Default claim-{user_server}.
    pub pvc_name_template: String,
    /// Template of the pod's DNS name. Default {name}.{namespace}.svc.cluster.local.
    pub dns_name_template: String,
    /// Template of the internal-SSL Secret name. Default {pod_name}.
    pub secret_name_template: String,
    /// How user and server names become object names: safe (default) or escape.
    pub slug_scheme: SlugScheme,
    /// Put each user's pods into their own namespace.
    pub enable_user_namespaces: bool,
    /// Template of per-user namespace names. Default {hubnamespace}-{username}.
    pub user_namespace_template: String,
    /// Labels of per-user namespaces.
    pub user_namespace_labels: Dict,
    /// Annotations of per-user namespaces.
    pub user_namespace_annotations: Dict,

    // ---- storage
    /// Create the user's PVC before starting the pod.
    pub storage_pvc_ensure: bool,
    /// Sent verbatim as the PVC request (`null` if unset, like KubeSpawner).
    pub storage_capacity: Option<String>,
    /// PVC storageClassName ("" = no class); null leaves it unset.
    pub storage_class: Option<String>,
    /// PVC accessModes. Default [ReadWriteOnce].
    pub storage_access_modes: Vec<Value>,
    /// PVC selector (templates expanded).
    pub storage_selector: Dict,
    /// Extra PVC labels (templates expanded).
    pub storage_extra_labels: Dict,
    /// Extra PVC annotations (templates expanded).
    pub storage_extra_annotations: Dict,
    /// Delete the PVC when the user or named server is deleted. Default true.
    pub delete_pvc: bool,
    /// Keep using the PVC name stored in the server state. Default true.
    pub remember_pvc_name: bool,
    /// Adopt PVCs named by the pre-7 escape scheme. Default true.
    pub handle_legacy_names: bool,

    // ---- lifecycle
    /// Seconds a spawn may take before it is abandoned. Default 60 (z2jh 300).
    pub start_timeout: i64,
    /// Seconds the hub waits for the started server to answer HTTP. Default 30.
    pub http_timeout: i64,
    /// Seconds between the hub's checks that the server still runs. Default 30.
    pub poll_interval: i64,
    /// Random fraction added to poll_interval. Default 0.1.
    pub poll_jitter: f64,
    /// Failed spawns in a row before the hub gives up (0 = never).
    pub consecutive_failure_limit: i64,
    /// Seconds of grace when deleting a pod. Default 1.
    pub delete_grace_period: i64,
    /// Delete pods whose notebook container terminated. Default true.
    pub delete_stopped_pods: bool,
    /// Report pod events as spawn progress. Default true.
    pub events_enabled: bool,
    /// Create a Service per pod and reach the pod through it.
    pub services_enabled: bool,
    /// Template of the address the hub uses to reach the pod.
    pub pod_connect_ip: String,
    /// Progress message shown while a spawn takes long ({seconds} is replaced).
    pub slow_spawn_message: String,
    /// Seconds before the first slow-spawn message. Default 60.
    pub slow_spawn_message_threshold: i64,
    /// Seconds between slow-spawn messages. Default 5.
    pub slow_spawn_message_frequency: i64,
    /// Seconds per Kubernetes API call. Default 3.
    pub k8s_api_request_timeout: i64,
    /// Seconds to keep retrying a Kubernetes API call. Default 30.
    pub k8s_api_request_retry_timeout: i64,
    /// Kubernetes API URL override.
    pub k8s_api_host: String,
    /// CA bundle for the Kubernetes API.
    pub k8s_api_ssl_ca_cert: String,
    /// Verify the Kubernetes API certificate.
    pub k8s_api_verify_ssl: Option<bool>,
    /// Worker threads for Kubernetes calls (unused by jhub).
    pub k8s_api_threadpool_workers: i64,
    /// IP or host the server uses to reach the hub.
    pub hub_connect_ip: Option<String>,
    /// Port the server uses to reach the hub.
    pub hub_connect_port: i64,
    /// URL the server uses to reach the hub.
    pub hub_connect_url: Option<String>,
    /// Mount path of the internal-SSL certificates.
    pub secret_mount_path: String,
    /// Extra subject alternative names for internal SSL.
    pub ssl_alt_names: Vec<Value>,
    /// Include localhost names in internal-SSL certificates.
    pub ssl_alt_names_include_local: bool,

    // ---- spawn form
    /// List of profiles, or mapping taken in sorted key order.
    pub profile_list: Value,
    /// JupyterHub 5 `Spawner.group_overrides`: `{key: {groups: [...],
    /// spawner_override: {...}}}`, applied before the profile.
    pub group_overrides: Dict,
    /// HTML form replacing the profile form.
    pub options_form: String,
    /// Jinja template replacing the profile form.
    pub profile_form_template: String,
    /// Extra directories searched first for the profile form template.
    pub additional_profile_form_template_paths: Vec<Value>,
}

fn dict(pairs: &[(&str, &str)]) -> Dict {
    pairs.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect()
}

impl Default for SpawnerConfig {
    fn default() -> Self {
        let empty_list = || Value::Array(Vec::new());
        Self {
            image: "quay.io/jupyterhub/singleuser:latest".into(),
            image_pull_policy: None,
            image_pull_secrets: Vec::new(),
            cmd: None,
            args: Vec::new(),
            port: 0,
            ip: "0.0.0.0".into(),
            working_dir: None,
            environment: Dict::new(),
            default_url: String::new(),
            notebook_dir: String::new(),
            debug: false,
            disable_user_config: false,
            env_keep: Vec::new(),
            oauth_client_allowed_scopes: Vec::new(),
            oauth_roles: Vec::new(),
            server_token_scopes: Vec::new(),
            lifecycle_hooks: Dict::new(),
            extra_container_config: Dict::new(),
            cpu_limit: None,
            cpu_guarantee: None,
            mem_limit: None,
            mem_guarantee: None,
            extra_resource_limits: Dict::new(),
            extra_resource_guarantees: Dict::new(),
            uid: None,
            gid: None,
            fs_gid: None,
            supplemental_gids: Vec::new(),
            privileged: false,
            allow_privilege_escalation: Some(false),
            container_security_context: Dict::new(),
            pod_security_context: Dict::new(),
            service_account: None,
            automount_service_account_token: None,
            node_selector: Dict::new(),
            tolerations: empty_list(),
            node_affinity_required: empty_list(),
            node_affinity_preferred: empty_list(),
            pod_affinity_required: empty_list(),
            pod_affinity_preferred: empty_list(),
            pod_anti_affinity_required: empty_list(),
            pod_anti_affinity_preferred: empty_list(),
            volumes: empty_list(),
            volume_mounts: empty_list(),
            init_containers: empty_list(),
            extra_containers: empty_list(),
            scheduler_name: None,
            priority_class_name: String::new(),
            extra_pod_config: Dict::new(),
            extra_labels: Dict::new(),
            extra_annotations: Dict::new(),
            common_labels: dict(&[
                ("app.kubernetes.io/name", "jupyterhub"),
                ("app.kubernetes.io/managed-by", "kubespawner"),
                ("app", "jupyterhub"),
                ("heritage", "jupyterhub"),
            ]),
            component_label: "singleuser-server".into(),
            namespace: "default".into(),
            pod_name_template: "jupyter-{user_server}".into(),
            pvc_name_template: "claim-{user_server}".into(),
            dns_name_template: "{name}.{namespace}.svc.cluster.local".into(),
            secret_name_template: "{pod_name}".into(),
            slug_scheme: SlugScheme::Safe,
            enable_user_namespaces: false,
            user_namespace_template: "{hubnamespace}-{username}".into(),
            user_namespace_labels: Dict::new(),
            user_namespace_annotations: Dict::new(),
            storage_pvc_ensure: false,
            storage_capacity: None,
            storage_class: None,
            storage_access_modes: vec![Value::String("ReadWriteOnce".into())],
            storage_selector: Dict::new(),
            storage_extra_labels: Dict::new(),
            storage_extra_annotations: Dict::new(),
            delete_pvc: true,
            remember_pvc_name: true,
            handle_legacy_names: true,
            start_timeout: 60,
            http_timeout: 30,
            poll_interval: 30,
            poll_jitter: 0.1,
            consecutive_failure_limit: 0,
            delete_grace_period: 1,
            delete_stopped_pods: true,
            events_enabled: true,
            services_enabled: false,
            pod_connect_ip: String::new(),
            slow_spawn_message: "Server launch is taking longer than expected. Please be patient! \
                                 Current time spent waiting: {seconds} seconds."
                .into(),
            slow_spawn_message_threshold: 60,
            slow_spawn_message_frequency: 5,
            k8s_api_request_timeout: 3,
            k8s_api_request_retry_timeout: 30,
            k8s_api_host: String::new(),
            k8s_api_ssl_ca_cert: String::new(),
            k8s_api_verify_ssl: None,
            k8s_api_threadpool_workers: 0,
            hub_connect_ip: Some(String::new()),
            hub_connect_port: 0,
            hub_connect_url: None,
            secret_mount_path: "/etc/jupyterhub/ssl/".into(),
            ssl_alt_names: Vec::new(),
            ssl_alt_names_include_local: false,
            profile_list: empty_list(),
            group_overrides: Dict::new(),
            options_form: String::new(),
            profile_form_template: String::new(),
            additional_profile_form_template_paths: Vec::new(),
        }
    }
}

/// Why a trait could not be set.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[allow(missing_docs)] // variant fields are named in the #[error] messages
pub enum SetTraitError {
    /// The value does not fit the trait's type.
    #[error(transparent)]
    Value(#[from] TraitValueError),
    /// No trait of that name.
    #[error("{name}: not a KubeSpawner setting{}", suggestion_text(.suggestion))]
    Unknown { name: String, suggestion: Option<&'static str> },
    /// The trait exists in KubeSpawner but holds Python code, which jhub cannot run.
    #[error("{name}: holds Python code in KubeSpawner, which jhub cannot run")]
    PythonOnly { name: String },
    /// An override's mapping value names no trait: KubeSpawner fails the
    /// spawn with `AttributeError` here.
    #[error(
        "{name}: not a KubeSpawner setting, and a mapping cannot be stored as a stray attribute (KubeSpawner fails the spawn with AttributeError){}",
        suggestion_text(.suggestion)
    )]
    UnknownDict { name: String, suggestion: Option<&'static str> },
}

pub(crate) fn suggestion_text(suggestion: &Option<&'static str>) -> String {
    suggestion.map(|s| format!("; did you mean '{s}'?")).unwrap_or_default()
}

/// Something an override set that is not a trait. KubeSpawner silently
/// stores it on the spawner object (only a DEBUG log) and it has no effect.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrayAttribute {
    /// The key as written.
    pub name: String,
    /// The value it was given.
    pub value: Value,
    /// The trait the author probably meant.
    pub suggestion: Option<&'static str>,
}

impl std::fmt::Display for StrayAttribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "'{}' is not a KubeSpawner setting and is ignored (KubeSpawner stores it as an unused attribute){}",
            self.name,
            suggestion_text(&self.suggestion)
        )
    }
}

/// Normalises an already checked value to the representation the struct stores.
fn normalise(kind: TraitKind, value: Value) -> Result<Value, TraitValueError> {
    Ok(match (kind, value) {
        (_, Value::Null) => Value::Null,
        (TraitKind::ByteSpec, value) => Value::from(traits::parse_byte_spec(&value)?),
        (TraitKind::Int, Value::Number(n)) if !(n.is_i64() || n.is_u64()) => {
            // Integral floats only (check_value refused the rest).
            Value::from(n.as_f64().unwrap_or_default() as i64)
        }
        (TraitKind::List, Value::String(s)) => Value::Array(vec![Value::String(s)]),
        (_, value) => value,
    })
}

/// Renames deprecated KubeSpawner names in a `kubespawner_override` to the
/// traits they stand for ([`traits::deprecated`]), keeping the order:
/// KubeSpawner sets override keys one after another (`setattr`, the
/// deprecated ones through properties), so when both `image` and
/// `image_spec` are given the later one wins, as here. Returns the
/// deprecated names used, for warnings.
pub fn canonical_override(overrides: &Dict) -> (Dict, Vec<&'static traits::DeprecatedTrait>) {
    let mut out = Dict::new();
    let mut used = Vec::new();
    for (name, value) in overrides {
        match traits::deprecated(name) {
            Some(dep) => {
                used.push(dep);
                out.insert(dep.use_instead.to_string(), value.clone());
            }
            None => {
                out.insert(name.clone(), value.clone());
            }
        }
    }
    (out, used)
}

/// KubeSpawner's `recursive_update`: mappings merge key by key, `null`
/// deletes a key, anything else replaces. (Where KubeSpawner would crash
/// because the existing value is not a mapping, the mapping replaces it.)
pub fn recursive_update(target: &mut Dict, changes: &Dict) {
    for (key, value) in changes {
        match value {
            Value::Object(inner) => {
                let slot = target.entry(key.clone()).or_insert_with(|| Value::Object(Dict::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Dict::new());
                }
                if let Value::Object(existing) = slot {
                    recursive_update(existing, inner);
                }
            }
            Value::Null => {
                target.shift_remove(key);
            }
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
}

impl SpawnerConfig {
    /// All settings as `{trait name: value}`.
    pub fn to_traits(&self) -> Dict {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Dict::new(),
        }
    }

    /// The current value of one trait, if it is a known, stored trait.
    pub fn trait_value(&self, name: &str) -> Option<Value> {
        self.to_traits().remove(name)
    }

    fn from_traits(map: Dict) -> Result<Self, TraitValueError> {
        serde_json::from_value(Value::Object(map)).map_err(|e| TraitValueError {
            trait_name: "configuration".into(),
            given: String::new(),
            problem: e.to_string(),
            accepted: "values of the documented types".into(),
            example: String::new(),
        })
    }

    /// KubeSpawner's defaults with traitlets config applied: `config` is
    /// `{"KubeSpawner": {...}, "Spawner": {...}}` (other sections ignored;
    /// KubeSpawner wins over Spawner like in traitlets), or a bare mapping
    /// taken as the KubeSpawner section. Unknown keys are errors here.
    pub fn from_kubespawner_traits(config: &Value) -> Result<Self, Vec<(String, SetTraitError)>> {
        let Some(map) = config.as_object() else {
            let problem = SetTraitError::Unknown { name: "<config>".into(), suggestion: None };
            return Err(vec![("<config>".into(), problem)]);
        };
        let sectioned = map.keys().any(|k| k.starts_with(|c: char| c.is_ascii_uppercase()));
        let mut sections: Vec<(&str, Dict)> = Vec::new();
        if sectioned {
            for name in ["Spawner", "KubeSpawner"] {
                if let Some(Value::Object(section)) = map.get(name) {
                    sections.push((name, section.clone()));
                }
            }
        } else {
            sections.push(("KubeSpawner", map.clone()));
        }
        let mut cfg = SpawnerConfig::default();
        let mut problems = Vec::new();
        for (section, values) in sections {
            if let Err(errors) = cfg.set_traits(&values) {
                problems.extend(errors.into_iter().map(|(key, e)| (format!("{section}.{key}"), e)));
            }
        }
        if problems.is_empty() { Ok(cfg) } else { Err(problems) }
    }

    /// Sets traits like traitlets config does (each value replaces the old
    /// one). Keys of `Any` traits (Python hooks) are refused. All valid keys
    /// are applied even when others fail; the failures are returned.
    pub fn set_traits(&mut self, values: &Dict) -> Result<(), Vec<(String, SetTraitError)>> {
        let mut map = self.to_traits();
        let mut problems = Vec::new();
        for (name, value) in values {
            match Self::checked(name, value.clone()) {
                Ok(normalised) => {
                    map.insert(name.clone(), normalised);
                }
                Err(e) => problems.push((name.clone(), e)),
            }
        }
        self.commit(map, &mut problems);
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }

    fn checked(name: &str, value: Value) -> Result<Value, SetTraitError> {
        let Some(def) = traits::lookup(name) else {
            return Err(SetTraitError::Unknown { name: name.into(), suggestion: traits::suggest(name) });
        };
        if def.kind == TraitKind::Any {
            return Err(SetTraitError::PythonOnly { name: name.into() });
        }
        traits::check_value(def, &value)?;
        Ok(normalise(def.kind, value)?)
    }

    fn commit(&mut self, map: Dict, problems: &mut Vec<(String, SetTraitError)>) {
        match Self::from_traits(map) {
            Ok(cfg) => *self = cfg,
            Err(e) => problems.push(("<config>".into(), e.into())),
        }
    }

    /// Applies one `kubespawner_override` mapping with KubeSpawner's rules:
    /// a mapping into a trait that currently holds a mapping is merged
    /// recursively ([`recursive_update`]); anything else replaces the value
    /// and is type-checked; an unknown key with a scalar or list value is
    /// returned as a [`StrayAttribute`] (no effect, like KubeSpawner); an
    /// unknown key with a mapping value is an error. On error nothing of this
    /// override is applied.
    pub fn apply_override(&mut self, overrides: &Dict) -> Result<Vec<StrayAttribute>, Vec<(String, SetTraitError)>> {
        let (overrides, _) = canonical_override(overrides);
        let overrides = &overrides;
        let mut map = self.to_traits();
        let mut strays = Vec::new();
        let mut problems = Vec::new();
        for (name, value) in overrides {
            let Some(def) = traits::lookup(name) else {
                let suggestion = traits::suggest(name);
                if value.is_object() {
                    problems.push((name.clone(), SetTraitError::UnknownDict { name: name.clone(), suggestion }));
                } else {
                    strays.push(StrayAttribute { name: name.clone(), value: value.clone(), suggestion });
                }
                continue;
            };
            if def.kind == TraitKind::Any {
                problems.push((name.clone(), SetTraitError::PythonOnly { name: name.clone() }));
                continue;
            }
            if let (Value::Object(changes), Some(Value::Object(current))) = (value, map.get_mut(name)) {
                recursive_update(current, changes);
                continue;
            }
            match Self::checked(name, value.clone()) {
                Ok(normalised) => {
                    map.insert(name.clone(), normalised);
                }
                Err(e) => problems.push((name.clone(), e)),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        self.commit(map, &mut problems);
        if problems.is_empty() { Ok(strays) } else { Err(problems) }
    }

    /// The port the server listens on (KubeSpawner turns 0 into 8888).
    pub fn effective_port(&self) -> i64 {
        if self.port == 0 { 8888 } else { self.port }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_trait_is_a_field_and_back() {
        let stored = SpawnerConfig::default().to_traits();
        for def in traits::all() {
            let expected = def.kind != TraitKind::Any;
            assert_eq!(stored.contains_key(def.name), expected, "{}", def.name);
        }
        for key in stored.keys() {
            assert!(traits::lookup(key).is_some(), "field {key} has no trait");
        }
    }

    #[test]
    fn traitlets_config_replaces_and_normalises() {
        let cfg = SpawnerConfig::from_kubespawner_traits(&json!({
            "Spawner": {"cmd": "jupyterhub-singleuser", "mem_limit": "1G", "start_timeout": 10},
            "KubeSpawner": {"start_timeout": 300.0, "cpu_limit": 2, "node_selector": {"a": "b"}},
            "JupyterHub": {"admin_access": true}
        }))
        .unwrap();
        assert_eq!(cfg.cmd, Some(vec!["jupyterhub-singleuser".to_string()]));
        assert_eq!(cfg.mem_limit, Some(1_073_741_824));
        assert_eq!(cfg.start_timeout, 300);
        assert_eq!(cfg.cpu_limit, Some(2.0));
        assert_eq!(cfg.node_selector, dict(&[("a", "b")]));
        let errors =
            SpawnerConfig::from_kubespawner_traits(&json!({"cpu_gurantee": 1, "mem_limit": "1Gi"})).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(errors[0].1.to_string().contains("did you mean 'cpu_guarantee'"), "{}", errors[0].1);
        assert!(errors[1].1.to_string().contains("1Gi is not a valid memory specification"), "{}", errors[1].1);
    }

    #[test]
    fn overrides_merge_dicts_and_keep_strays() {
        let mut cfg = SpawnerConfig::default();
        cfg.set_traits(
            json!({"node_selector": {"a": "1", "b": "2"}, "volumes": {"x": {"name": "x"}}}).as_object().unwrap(),
        )
        .unwrap();
        let strays = cfg
            .apply_override(
                json!({
                    "node_selector": {"b": null, "c": "3"},
                    "volumes": {"y": {"name": "y"}},
                    "cpu_gurantee": 1,
                    "mem_limit": "16G",
                    "cpu_limit": 8
                })
                .as_object()
                .unwrap(),
            )
            .unwrap();
        assert_eq!(cfg.node_selector, dict(&[("a", "1"), ("c", "3")]));
        assert_eq!(cfg.volumes, json!({"x": {"name": "x"}, "y": {"name": "y"}}));
        assert_eq!(cfg.mem_limit, Some(17_179_869_184));
        assert_eq!(cfg.cpu_limit, Some(8.0));
        assert_eq!(strays.len(), 1);
        assert_eq!(strays[0].suggestion, Some("cpu_guarantee"));
        // A list replaces a mapping; a mapping replaces a list.
        cfg.apply_override(
            json!({"volumes": [{"name": "z"}], "tolerations": {"k": {"key": "a"}}}).as_object().unwrap(),
        )
        .unwrap();
        assert_eq!(cfg.volumes, json!([{"name": "z"}]));
        assert_eq!(cfg.tolerations, json!({"k": {"key": "a"}}));
    }

    #[test]
    fn bad_overrides_fail_without_partial_effect() {
        let mut cfg = SpawnerConfig::default();
        let before = cfg.clone();
        let errors = cfg
            .apply_override(json!({"image": "x", "node_selectr": {"a": "b"}, "cpu_limit": "8"}).as_object().unwrap())
            .unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(matches!(&errors[0].1, SetTraitError::UnknownDict { suggestion: Some("node_selector"), .. }));
        assert!(errors[1].1.to_string().contains("cpu_limit"));
        assert_eq!(cfg, before);
        assert!(cfg.apply_override(json!({"node_selector": null}).as_object().unwrap()).is_err());
        assert!(cfg.apply_override(json!({"modify_pod_hook": "x"}).as_object().unwrap()).is_err());
        cfg.apply_override(json!({"cpu_limit": null, "uid": null}).as_object().unwrap()).unwrap();
        assert_eq!(cfg.cpu_limit, None);
    }
}
