//! The pod and PVC bodies KubeSpawner 7.1 sends (`get_pod_manifest` /
//! `make_pod`, `get_pvc_manifest` / `make_pvc`), the server's names, the
//! state KubeSpawner persists, and the resources for the usage log.
//!
//! Output is the JSON of the create call as KubeSpawner's kubernetes client
//! serialises it: camelCase keys, `null` model fields dropped, plain mappings
//! passed through; CPU as a JSON float (`8.0`), memory as integer bytes.

use crate::config::{Dict, SpawnerConfig};
use crate::k8s::{self, Model};
use crate::names::{UserProperties, label_slug};
use crate::pyfmt::{self, FormatError, Missing, float_repr};
use jhub_core::env::SpawnerEnvSettings;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The KubeSpawner version jhub reproduces (annotations, persisted state).
pub const KUBESPAWNER_VERSION: &str = "7.1.0";

/// Why a manifest could not be built. KubeSpawner fails the spawn in all
/// these cases too; jhub says which setting is at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[allow(missing_docs)] // variant fields are named in the #[error] messages
pub enum ManifestError {
    /// A `{field}` template could not be expanded.
    #[error("expanding {setting}: {source}")]
    Template {
        /// The setting whose template failed.
        setting: String,
        #[source]
        source: FormatError,
    },
    /// A mapping does not describe a valid Kubernetes object.
    #[error("{setting}: {message}")]
    Model { setting: String, message: String },
    /// An `environment` entry Kubernetes would refuse.
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    /// `pod_security_context` / `container_security_context` keys must be camelCase.
    #[error("{setting}'s keys must be Kubernetes camelCase names, got '{key}'")]
    SecurityContextKey { setting: String, key: String },
}

fn template_error(setting: &str) -> impl Fn(FormatError) -> ManifestError + '_ {
    move |source| ManifestError::Template { setting: setting.to_string(), source }
}

fn model_error(setting: &str) -> impl Fn(String) -> ManifestError + '_ {
    move |message| ManifestError::Model { setting: setting.to_string(), message }
}

/// The names of one server's objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerNames {
    /// Name of the pod (`jupyter-{user_server}` by default).
    pub pod_name: String,
    /// Name of the PVC (`claim-{user_server}` by default).
    pub pvc_name: String,
    /// `{pod}.{namespace}.svc.cluster.local` by default; used with internal SSL / services.
    pub dns_name: String,
    /// Namespace of the pod and PVC.
    pub namespace: String,
}

impl ServerNames {
    /// What KubeSpawner's `get_state()` stores: `kubespawner_version`,
    /// `pod_name`, `namespace`, `dns_name`, and `pvc_name` once the PVC is
    /// known to exist (created or found).
    pub fn state(&self, pvc_exists: bool) -> Value {
        let mut state = json!({
            "kubespawner_version": KUBESPAWNER_VERSION,
            "pod_name": self.pod_name,
            "namespace": self.namespace,
            "dns_name": self.dns_name,
        });
        if pvc_exists && let Value::Object(map) = &mut state {
            map.insert("pvc_name".into(), json!(self.pvc_name));
        }
        state
    }
}

/// What a stored state says about its origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateOrigin {
    /// No state: a fresh server.
    Fresh,
    /// Written by KubeSpawner ≥ 7 or jhub (has `kubespawner_version`).
    Current,
    /// Written by KubeSpawner < 7 (escape slug scheme): look for the legacy
    /// PVC name before creating a new one ([`legacy_pvc_name`]).
    Legacy,
}

/// Classifies a stored spawner state.
pub fn state_origin(state: &Value) -> StateOrigin {
    match state.as_object() {
        None => StateOrigin::Fresh,
        Some(map) if map.is_empty() => StateOrigin::Fresh,
        Some(map) if map.contains_key("kubespawner_version") => StateOrigin::Current,
        Some(_) => StateOrigin::Legacy,
    }
}

fn hub_namespace(cfg: &SpawnerConfig) -> &str {
    // KubeSpawner reads the hub's own namespace from its service account;
    // jhub runs in the namespace it spawns into (z2jh sets both the same).
    &cfg.namespace
}

/// Names of a server computed from the templates, as KubeSpawner's
/// `__init__` does: namespace (user namespaces: `user_namespace_template`),
/// pod name, DNS name, PVC name. Use [`names_for_spawn`] when a previous
/// state exists.
pub fn names_for(cfg: &SpawnerConfig, user: &str, user_id: i64, server: &str) -> Result<ServerNames, ManifestError> {
    let base = UserProperties::new(user, user_id, server, cfg.slug_scheme, hub_namespace(cfg), &cfg.namespace);
    let namespace = if cfg.enable_user_namespaces {
        base.expand(&cfg.user_namespace_template).map_err(template_error("user_namespace_template"))?
    } else {
        cfg.namespace.clone()
    };
    let props = UserProperties::new(user, user_id, server, cfg.slug_scheme, hub_namespace(cfg), &namespace);
    let pod_name = props.expand(&cfg.pod_name_template).map_err(template_error("pod_name_template"))?;
    let dns_name = dns_name(cfg, &pod_name, &namespace)?;
    let mut with_pod = props;
    with_pod.pod_name = Some(pod_name.clone());
    let pvc_name = with_pod.expand(&cfg.pvc_name_template).map_err(template_error("pvc_name_template"))?;
    Ok(ServerNames { pod_name, pvc_name, dns_name, namespace })
}

fn dns_name(cfg: &SpawnerConfig, pod_name: &str, namespace: &str) -> Result<String, ManifestError> {
    let lookup = |field: &str| match field {
        "name" => Some(pod_name.to_string()),
        "namespace" => Some(namespace.to_string()),
        _ => None,
    };
    pyfmt::format(&cfg.dns_name_template, &lookup, &|| "name, namespace".into(), Missing::Error)
        .map_err(template_error("dns_name_template"))
}

/// Names for the next spawn of a server with stored `state` (KubeSpawner's
/// `load_state` + `clear_state`): pod and DNS names are recomputed from the
/// current templates; the namespace is kept from the state, and so is the
/// PVC name when `remember_pvc_name` is on, so data is never orphaned by a
/// template change.
pub fn names_for_spawn(
    cfg: &SpawnerConfig,
    user: &str,
    user_id: i64,
    server: &str,
    state: &Value,
) -> Result<ServerNames, ManifestError> {
    let mut names = names_for(cfg, user, user_id, server)?;
    if let Some(Value::String(namespace)) = state.get("namespace") {
        names.namespace = namespace.clone();
        names.dns_name = dns_name(cfg, &names.pod_name, namespace)?;
    }
    if cfg.remember_pvc_name
        && let Some(Value::String(pvc)) = state.get("pvc_name")
    {
        names.pvc_name = pvc.clone();
    }
    Ok(names)
}

/// The PVC name KubeSpawner < 7 would have used (escape scheme), adopted by
/// KubeSpawner 7 when it exists and state is [`StateOrigin::Legacy`]
/// (`handle_legacy_names`).
pub fn legacy_pvc_name(cfg: &SpawnerConfig, user: &str, user_id: i64, server: &str) -> Result<String, ManifestError> {
    let mut legacy = cfg.clone();
    legacy.slug_scheme = crate::names::SlugScheme::Escape;
    Ok(names_for(&legacy, user, user_id, server)?.pvc_name)
}

/// Everything about one spawn that is not configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct PodContext {
    /// The raw user name.
    pub user_name: String,
    /// The hub's user id (`{userid}`).
    pub user_id: i64,
    /// `""` for the default server.
    pub server_name: String,
    /// From [`names_for`] / [`names_for_spawn`] (computed BEFORE profile
    /// overrides, like KubeSpawner: overriding a name template in a profile
    /// does not rename this spawn's objects).
    pub names: ServerNames,
    /// The hub-computed environment (`jhub_core::env::single_user_env`).
    pub hub_env: BTreeMap<String, String>,
    /// For the `hub.jupyter.org/jupyterhub-version` annotation.
    pub jupyterhub_version: String,
}

impl PodContext {
    fn props(&self, cfg: &SpawnerConfig) -> UserProperties {
        UserProperties::new(
            &self.user_name,
            self.user_id,
            &self.server_name,
            cfg.slug_scheme,
            hub_namespace(cfg),
            &self.names.namespace,
        )
        .with_names(&self.names.pod_name, &self.names.pvc_name)
    }
}

/// `bind_url`, `default_url`, `notebook_dir` … for
/// `jhub_core::env::single_user_env`, from the settings (JupyterHub's
/// `format_string`: `{username}` is the raw name, `{base_url}` the server's
/// URL prefix).
pub fn spawner_env_settings(
    cfg: &SpawnerConfig,
    user: &str,
    server_base_url: &str,
) -> Result<SpawnerEnvSettings, ManifestError> {
    let lookup = |field: &str| match field {
        "username" => Some(user.to_string()),
        "base_url" => Some(server_base_url.to_string()),
        _ => None,
    };
    let format = |setting: &str, text: &str| -> Result<Option<String>, ManifestError> {
        if text.is_empty() {
            return Ok(None);
        }
        pyfmt::format(text, &lookup, &|| "username, base_url".into(), Missing::Error)
            .map(Some)
            .map_err(template_error(setting))
    };
    let ip = if cfg.ip.contains(':') { format!("[{}]", cfg.ip) } else { cfg.ip.clone() };
    Ok(SpawnerEnvSettings {
        bind_url: format!("http://{ip}:{}", cfg.effective_port()),
        default_url: format("default_url", &cfg.default_url)?,
        notebook_dir: format("notebook_dir", &cfg.notebook_dir)?,
        debug: cfg.debug,
        disable_user_config: cfg.disable_user_config,
        oauth_client_allowed_scopes: cfg
            .oauth_client_allowed_scopes
            .iter()
            .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
            .collect(),
    })
}

/// Whether an `environment` value is something Kubernetes accepts: a
/// string, `null` (empty), or an EnvVar mapping (`name`/`value`/`valueFrom`).
/// Numbers, booleans and lists reach the API as non-strings and the pod is
/// refused, so jhub reports them up front.
pub fn check_env_value(value: &Value) -> Result<(), String> {
    match value {
        Value::String(_) | Value::Null => Ok(()),
        Value::Object(map) => {
            for key in map.keys() {
                if k8s::ENV_VAR.field(key).is_none() {
                    return Err(format!("an EnvVar mapping may only have name, value and valueFrom, not '{key}'"));
                }
            }
            match map.get("value") {
                None | Some(Value::Null) | Some(Value::String(_)) => Ok(()),
                Some(_) => Err("'value' must be a string (quote numbers and booleans)".into()),
            }
        }
        Value::Number(n) => Err(format!("must be a string; write \"{n}\" (quoted), Kubernetes refuses numbers")),
        Value::Bool(b) => Err(format!("must be a string; write \"{b}\" (quoted), Kubernetes refuses booleans")),
        Value::Array(_) => Err("must be a string or an EnvVar mapping, not a list".into()),
    }
}

fn truthy_f64(value: Option<f64>) -> Option<f64> {
    value.filter(|v| *v != 0.0)
}

fn truthy_u64(value: Option<u64>) -> Option<u64> {
    value.filter(|v| *v != 0)
}

/// KubeSpawner's `_sorted_dict_values`: a mapping's values in sorted key
/// order; a list as is.
fn sorted_values(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            keys.into_iter().filter_map(|k| map.get(k).cloned()).collect()
        }
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

fn convert_all(model: &Model, items: &[Value], setting: &str) -> Result<Vec<Value>, ManifestError> {
    items.iter().map(|item| model.convert(item).map_err(model_error(setting))).collect()
}

fn expand(props: &UserProperties, value: &Value, setting: &str) -> Result<Value, ManifestError> {
    props.expand_value(value).map_err(template_error(setting))
}

fn expand_dict(props: &UserProperties, dict: &Dict, setting: &str) -> Result<Dict, ManifestError> {
    match expand(props, &Value::Object(dict.clone()), setting)? {
        Value::Object(map) => Ok(map),
        _ => Ok(Dict::new()),
    }
}

/// The environment as KubeSpawner's `get_env()` leaves it, before conversion.
fn environment(
    cfg: &SpawnerConfig,
    ctx: &PodContext,
    props: &UserProperties,
) -> Result<Vec<(String, Value)>, ManifestError> {
    let mut env: Vec<(String, Value)> = ctx.hub_env.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let set = |env: &mut Vec<(String, Value)>, key: &str, value: Value| {
        if let Some(slot) = env.iter_mut().find(|(k, _)| k == key) {
            slot.1 = value;
        } else {
            env.push((key.to_string(), value));
        }
    };
    // Spawner.get_env: resource hints (truthy values only), then `environment` raw.
    if let Some(mem) = truthy_u64(cfg.mem_limit) {
        set(&mut env, "MEM_LIMIT", json!(mem.to_string()));
    }
    if let Some(mem) = truthy_u64(cfg.mem_guarantee) {
        set(&mut env, "MEM_GUARANTEE", json!(mem.to_string()));
    }
    if let Some(cpu) = truthy_f64(cfg.cpu_limit) {
        set(&mut env, "CPU_LIMIT", json!(float_repr(cpu)));
    }
    if let Some(cpu) = truthy_f64(cfg.cpu_guarantee) {
        set(&mut env, "CPU_GUARANTEE", json!(float_repr(cpu)));
    }
    for (key, value) in &cfg.environment {
        set(&mut env, key, value.clone());
    }
    // KubeSpawner.get_env: the image, then the admin's values expanded (they win).
    set(&mut env, "JUPYTER_IMAGE_SPEC", json!(cfg.image));
    set(&mut env, "JUPYTER_IMAGE", json!(cfg.image));
    for (key, value) in &cfg.environment {
        if matches!(value, Value::String(_) | Value::Array(_) | Value::Object(_)) {
            let expanded = expand(props, value, &format!("environment.{key}"))?;
            set(&mut env, key, expanded);
        }
    }
    Ok(env)
}

/// `make_pod`'s env conversion and dependency-aware ordering: variables
/// whose `$(VAR)` references are already placed go first, in key order,
/// round after round; a cycle leaves the rest in key order.
fn env_list(env: Vec<(String, Value)>) -> Result<Vec<Value>, ManifestError> {
    struct Entry {
        key: String,
        deps: Vec<String>,
        var: Value,
    }
    let mut unsorted: Vec<(String, Entry)> = Vec::new();
    for (key, value) in env {
        let env_error = |message: String| ManifestError::Env { name: key.clone(), message };
        check_env_value(&value).map_err(env_error)?;
        let var = match value {
            Value::Object(mut map) => {
                map.entry("name").or_insert_with(|| json!(key));
                k8s::ENV_VAR.convert(&Value::Object(map)).map_err(env_error)?
            }
            Value::Null => json!({"name": key}),
            other => json!({"name": key, "value": other}),
        };
        let name = match var.get("name") {
            Some(Value::String(name)) => name.clone(),
            Some(other) => other.to_string(),
            None => key.clone(),
        };
        let deps = match var.get("value") {
            Some(Value::String(text)) if !text.is_empty() => {
                references(text).into_iter().filter(|d| d != &name).collect()
            }
            _ => Vec::new(),
        };
        let entry = Entry { key, deps, var };
        if let Some(slot) = unsorted.iter_mut().find(|(n, _)| n == &name) {
            slot.1 = entry;
        } else {
            unsorted.push((name, entry));
        }
    }
    let mut sorted: Vec<(String, Value)> = Vec::new();
    loop {
        let placed: Vec<&str> = sorted.iter().map(|(n, _)| n.as_str()).collect();
        let (mut ready, rest): (Vec<_>, Vec<_>) =
            unsorted.into_iter().partition(|(_, e)| e.deps.iter().all(|d| placed.contains(&d.as_str())));
        unsorted = rest;
        if ready.is_empty() {
            let mut remaining = unsorted;
            remaining.sort_by(|a, b| a.1.key.cmp(&b.1.key));
            sorted.extend(remaining.into_iter().map(|(n, e)| (n, e.var)));
            break;
        }
        ready.sort_by(|a, b| a.1.key.cmp(&b.1.key));
        sorted.extend(ready.into_iter().map(|(n, e)| (n, e.var)));
    }
    Ok(sorted.into_iter().map(|(_, v)| v).collect())
}

/// The `$(NAME)` references in an env value (`\$\(([^\)]+)\)`).
fn references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("$(") {
        let after = &rest[start + 2..];
        match after.find(')') {
            Some(0) => rest = &after[1..],
            Some(end) => {
                out.push(after[..end].to_string());
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out
}

fn security_context(
    base: Map<String, Value>,
    extra: &Dict,
    setting: &str,
) -> Result<Map<String, Value>, ManifestError> {
    let mut ctx = base;
    for (key, value) in extra {
        if key.contains('_') {
            return Err(ManifestError::SecurityContextKey { setting: setting.into(), key: key.clone() });
        }
        ctx.insert(key.clone(), value.clone());
    }
    Ok(ctx)
}

fn labels(cfg: &SpawnerConfig, ctx: &PodContext, extra: &Dict) -> Dict {
    let mut labels = Dict::new();
    labels.insert("hub.jupyter.org/username".into(), json!(label_slug(&ctx.user_name)));
    labels.extend(extra.clone());
    labels.extend(cfg.common_labels.clone());
    labels
}

fn annotations(ctx: &PodContext, extra: &Dict) -> Dict {
    let mut annotations = Dict::new();
    annotations.insert("hub.jupyter.org/username".into(), json!(ctx.user_name));
    if !ctx.server_name.is_empty() {
        annotations.insert("hub.jupyter.org/servername".into(), json!(ctx.server_name));
    }
    annotations.insert("hub.jupyter.org/kubespawner-version".into(), json!(KUBESPAWNER_VERSION));
    annotations.insert("hub.jupyter.org/jupyterhub-version".into(), json!(ctx.jupyterhub_version));
    annotations.extend(extra.clone());
    annotations
}

fn affinity(
    required: &[Value],
    preferred: &[Value],
    term: &Model,
    weighted: &Model,
    setting: &str,
) -> Result<Option<Value>, ManifestError> {
    if required.is_empty() && preferred.is_empty() {
        return Ok(None);
    }
    let mut out = Map::new();
    if !preferred.is_empty() {
        out.insert(
            "preferredDuringSchedulingIgnoredDuringExecution".into(),
            Value::Array(convert_all(weighted, preferred, setting)?),
        );
    }
    if !required.is_empty() {
        out.insert(
            "requiredDuringSchedulingIgnoredDuringExecution".into(),
            Value::Array(convert_all(term, required, setting)?),
        );
    }
    Ok(Some(Value::Object(out)))
}

/// The pod body KubeSpawner would send for `cfg` (profile overrides already
/// applied, see [`crate::profiles::resolve`]) and `ctx`.
pub fn build_pod(cfg: &SpawnerConfig, ctx: &PodContext) -> Result<Value, ManifestError> {
    let props = ctx.props(cfg);

    // Security contexts: dedicated traits first, the *_security_context dicts win.
    let mut psc = Map::new();
    if let Some(fs_gid) = cfg.fs_gid {
        psc.insert("fsGroup".into(), json!(fs_gid));
    }
    if !cfg.supplemental_gids.is_empty() {
        psc.insert("supplementalGroups".into(), Value::Array(cfg.supplemental_gids.clone()));
    }
    let psc = security_context(psc, &cfg.pod_security_context, "pod_security_context")?;
    let mut csc = Map::new();
    if let Some(uid) = cfg.uid {
        csc.insert("runAsUser".into(), json!(uid));
    }
    if let Some(gid) = cfg.gid {
        csc.insert("runAsGroup".into(), json!(gid));
    }
    if cfg.privileged {
        csc.insert("privileged".into(), json!(true));
    }
    if let Some(escalation) = cfg.allow_privilege_escalation {
        csc.insert("allowPrivilegeEscalation".into(), json!(escalation));
    }
    let csc = security_context(csc, &cfg.container_security_context, "container_security_context")?;

    let env = env_list(environment(cfg, ctx, &props)?)?;

    let mut requests = Map::new();
    if let Some(cpu) = truthy_f64(cfg.cpu_guarantee) {
        requests.insert("cpu".into(), json!(cpu));
    }
    if let Some(mem) = truthy_u64(cfg.mem_guarantee) {
        requests.insert("memory".into(), json!(mem));
    }
    requests.extend(cfg.extra_resource_guarantees.clone());
    let mut limits = Map::new();
    if let Some(cpu) = truthy_f64(cfg.cpu_limit) {
        limits.insert("cpu".into(), json!(cpu));
    }
    if let Some(mem) = truthy_u64(cfg.mem_limit) {
        limits.insert("memory".into(), json!(mem));
    }
    limits.extend(cfg.extra_resource_limits.clone());

    let volume_mounts = expand(&props, &Value::Array(sorted_values(&cfg.volume_mounts)), "volume_mounts")?;
    let volume_mounts =
        convert_all(&k8s::VOLUME_MOUNT, volume_mounts.as_array().map_or(&[], Vec::as_slice), "volume_mounts")?;

    let mut container = Map::new();
    container.insert("name".into(), json!("notebook"));
    container.insert("image".into(), json!(cfg.image));
    if let Some(dir) = &cfg.working_dir {
        // KubeSpawner expands working_dir once, from the base config; jhub
        // also expands a profile's working_dir instead of sending `{username}` literally.
        container.insert("workingDir".into(), json!(props.expand(dir).map_err(template_error("working_dir"))?));
    }
    container.insert("ports".into(), json!([{"name": "notebook-port", "containerPort": cfg.effective_port()}]));
    container.insert("env".into(), Value::Array(env));
    if let Some(cmd) = cfg.cmd.as_ref().filter(|c| !c.is_empty()) {
        let args: Vec<&String> = cmd.iter().chain(cfg.args.iter()).collect();
        container.insert("args".into(), json!(args));
    }
    if let Some(policy) = &cfg.image_pull_policy {
        container.insert("imagePullPolicy".into(), json!(policy));
    }
    let lifecycle = if cfg.lifecycle_hooks.is_empty() {
        json!({})
    } else {
        k8s::LIFECYCLE.convert(&Value::Object(cfg.lifecycle_hooks.clone())).map_err(model_error("lifecycle_hooks"))?
    };
    container.insert("lifecycle".into(), lifecycle);
    container.insert("resources".into(), json!({"requests": requests, "limits": limits}));
    container.insert("volumeMounts".into(), Value::Array(volume_mounts));
    if !csc.is_empty() {
        container.insert("securityContext".into(), Value::Object(csc));
    }
    if !cfg.extra_container_config.is_empty() {
        k8s::CONTAINER
            .update(&mut container, &cfg.extra_container_config)
            .map_err(model_error("extra_container_config"))?;
    }

    let mut spec = Map::new();
    let mut containers = vec![Value::Object(container)];
    let extra_containers = expand(&props, &Value::Array(sorted_values(&cfg.extra_containers)), "extra_containers")?;
    containers.extend(convert_all(
        &k8s::CONTAINER,
        extra_containers.as_array().map_or(&[], Vec::as_slice),
        "extra_containers",
    )?);
    spec.insert("containers".into(), Value::Array(containers));
    spec.insert("restartPolicy".into(), json!("OnFailure"));
    let pull_secrets = cfg
        .image_pull_secrets
        .iter()
        .map(|secret| match secret {
            Value::String(name) => Ok(json!({"name": name})),
            other => k8s::LOCAL_OBJECT_REFERENCE.convert(other).map_err(model_error("image_pull_secrets")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    spec.insert("imagePullSecrets".into(), Value::Array(pull_secrets));
    if !cfg.node_selector.is_empty() {
        spec.insert("nodeSelector".into(), Value::Object(cfg.node_selector.clone()));
    }
    if !psc.is_empty() {
        spec.insert("securityContext".into(), Value::Object(psc));
    }
    let service_account = match &cfg.service_account {
        Some(account) => Some(props.expand(account).map_err(template_error("service_account"))?),
        None => None,
    };
    if let Some(account) = &service_account {
        spec.insert("serviceAccountName".into(), json!(account));
    }
    match cfg.automount_service_account_token {
        // No token unless a service account was asked for: pods must not
        // get API access by accident.
        None if service_account.is_none() => {
            spec.insert("automountServiceAccountToken".into(), json!(false));
        }
        None => {}
        Some(mount) => {
            spec.insert("automountServiceAccountToken".into(), json!(mount));
        }
    }
    let tolerations = sorted_values(&cfg.tolerations);
    if !tolerations.is_empty() {
        spec.insert("tolerations".into(), Value::Array(convert_all(&k8s::TOLERATION, &tolerations, "tolerations")?));
    }
    let init = expand(&props, &Value::Array(sorted_values(&cfg.init_containers)), "init_containers")?;
    if let Some(init) = init.as_array().filter(|items| !items.is_empty()) {
        spec.insert("initContainers".into(), Value::Array(convert_all(&k8s::CONTAINER, init, "init_containers")?));
    }
    let volumes = expand(&props, &Value::Array(sorted_values(&cfg.volumes)), "volumes")?;
    spec.insert(
        "volumes".into(),
        Value::Array(convert_all(&k8s::VOLUME, volumes.as_array().map_or(&[], Vec::as_slice), "volumes")?),
    );
    if let Some(name) = cfg.scheduler_name.as_ref().filter(|n| !n.is_empty()) {
        spec.insert("schedulerName".into(), json!(name));
    }
    let mut affinity_spec = Map::new();
    let node = affinity(
        &sorted_values(&cfg.node_affinity_required),
        &sorted_values(&cfg.node_affinity_preferred),
        &k8s::NODE_SELECTOR_TERM,
        &k8s::PREFERRED_SCHEDULING_TERM,
        "node_affinity",
    )?;
    if let Some(Value::Object(mut node)) = node {
        // Required node terms are wrapped in a NodeSelector.
        if let Some(terms) = node.remove("requiredDuringSchedulingIgnoredDuringExecution") {
            node.insert("requiredDuringSchedulingIgnoredDuringExecution".into(), json!({"nodeSelectorTerms": terms}));
        }
        affinity_spec.insert("nodeAffinity".into(), Value::Object(node));
    }
    for (key, required, preferred, setting) in [
        ("podAffinity", &cfg.pod_affinity_required, &cfg.pod_affinity_preferred, "pod_affinity"),
        ("podAntiAffinity", &cfg.pod_anti_affinity_required, &cfg.pod_anti_affinity_preferred, "pod_anti_affinity"),
    ] {
        let built = affinity(
            &sorted_values(required),
            &sorted_values(preferred),
            &k8s::POD_AFFINITY_TERM,
            &k8s::WEIGHTED_POD_AFFINITY_TERM,
            setting,
        )?;
        if let Some(built) = built {
            affinity_spec.insert(key.into(), built);
        }
    }
    if !affinity_spec.is_empty() {
        spec.insert("affinity".into(), Value::Object(affinity_spec));
    }
    if !cfg.priority_class_name.is_empty() {
        spec.insert("priorityClassName".into(), json!(cfg.priority_class_name));
    }
    if !cfg.extra_pod_config.is_empty() {
        let extra = expand_dict(&props, &cfg.extra_pod_config, "extra_pod_config")?;
        k8s::POD_SPEC.update(&mut spec, &extra).map_err(model_error("extra_pod_config"))?;
    }

    let mut pod_labels = labels(cfg, ctx, &expand_dict(&props, &cfg.extra_labels, "extra_labels")?);
    pod_labels.insert("app.kubernetes.io/component".into(), json!(cfg.component_label));
    pod_labels.insert("component".into(), json!(cfg.component_label));
    pod_labels.insert("hub.jupyter.org/servername".into(), json!(label_slug(&ctx.server_name)));
    let pod_annotations = annotations(ctx, &expand_dict(&props, &cfg.extra_annotations, "extra_annotations")?);

    Ok(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": ctx.names.pod_name, "labels": pod_labels, "annotations": pod_annotations},
        "spec": spec,
    }))
}

/// The PVC body KubeSpawner would send (it only creates it when
/// `storage_pvc_ensure` is set).
pub fn build_pvc(cfg: &SpawnerConfig, ctx: &PodContext) -> Result<Value, ManifestError> {
    let props = ctx.props(cfg);
    let mut pvc_labels = labels(cfg, ctx, &expand_dict(&props, &cfg.storage_extra_labels, "storage_extra_labels")?);
    pvc_labels.insert("app.kubernetes.io/component".into(), json!(cfg.component_label));
    // Deliberately not the pod's component: KubeSpawner labels PVCs
    // `singleuser-storage`, and existing selectors rely on it.
    pvc_labels.insert("component".into(), json!("singleuser-storage"));
    let mut pvc_annotations =
        annotations(ctx, &expand_dict(&props, &cfg.storage_extra_annotations, "storage_extra_annotations")?);
    let mut spec = Map::new();
    spec.insert("accessModes".into(), Value::Array(cfg.storage_access_modes.clone()));
    spec.insert("resources".into(), json!({"requests": {"storage": cfg.storage_capacity}}));
    if let Some(class) = &cfg.storage_class {
        pvc_annotations.insert("volume.beta.kubernetes.io/storage-class".into(), json!(class));
        spec.insert("storageClassName".into(), json!(class));
    }
    let selector = expand_dict(&props, &cfg.storage_selector, "storage_selector")?;
    if !selector.is_empty() {
        spec.insert("selector".into(), Value::Object(selector));
    }
    Ok(json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": ctx.names.pvc_name, "labels": pvc_labels, "annotations": pvc_annotations},
        "spec": spec,
    }))
}

/// What a spawn asked for, for the hub's usage event log: CPU and memory
/// guarantee/limit (cores, bytes; `null` when unset), extra limits and
/// guarantees (e.g. `nvidia.com/gpu`), image and node selector.
pub fn resolved_resources(cfg: &SpawnerConfig) -> Value {
    json!({
        "cpu_guarantee": truthy_f64(cfg.cpu_guarantee),
        "cpu_limit": truthy_f64(cfg.cpu_limit),
        "mem_guarantee": truthy_u64(cfg.mem_guarantee),
        "mem_limit": truthy_u64(cfg.mem_limit),
        "extra_resource_guarantees": cfg.extra_resource_guarantees,
        "extra_resource_limits": cfg.extra_resource_limits,
        "image": cfg.image,
        "node_selector": cfg.node_selector,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(cfg: &SpawnerConfig, env: &[(&str, &str)]) -> PodContext {
        PodContext {
            user_name: "alice".into(),
            user_id: 1,
            server_name: String::new(),
            names: names_for(cfg, "alice", 1, "").unwrap(),
            hub_env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            jupyterhub_version: "5.5.0".into(),
        }
    }

    fn env_names(pod: &Value) -> Vec<String> {
        pod["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn env_order_follows_references() {
        let mut cfg = SpawnerConfig::default();
        cfg.set_traits(
            json!({"environment": {
                "A": "$(Z)/a", "Z": "z", "B": {"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                "C": "$(D)", "D": "$(C)", "SELF": "$(SELF)", "USER_DIR": "/home/{username}"
            }})
            .as_object()
            .unwrap(),
        )
        .unwrap();
        let pod = build_pod(&cfg, &ctx(&cfg, &[("JUPYTERHUB_USER", "alice")])).unwrap();
        assert_eq!(
            env_names(&pod),
            ["B", "JUPYTERHUB_USER", "JUPYTER_IMAGE", "JUPYTER_IMAGE_SPEC", "SELF", "USER_DIR", "Z", "A", "C", "D"]
        );
        let env = &pod["spec"]["containers"][0]["env"];
        assert_eq!(env[0], json!({"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}));
        assert_eq!(env[5], json!({"name": "USER_DIR", "value": "/home/alice"}));
    }

    #[test]
    fn bad_env_values_are_refused() {
        let mut cfg = SpawnerConfig::default();
        cfg.set_traits(json!({"environment": {"N": 1}}).as_object().unwrap()).unwrap();
        let err = build_pod(&cfg, &ctx(&cfg, &[])).unwrap_err();
        assert!(matches!(err, ManifestError::Env { ref name, .. } if name == "N"), "{err}");
        cfg.set_traits(json!({"environment": {"N": "{nope}"}}).as_object().unwrap()).unwrap();
        assert!(matches!(build_pod(&cfg, &ctx(&cfg, &[])), Err(ManifestError::Template { .. })));
    }

    #[test]
    fn resources_and_security() {
        let mut cfg = SpawnerConfig::default();
        cfg.set_traits(
            json!({"cpu_limit": 8, "cpu_guarantee": 0, "mem_limit": "16G", "extra_resource_limits": {"nvidia.com/gpu": "1"},
                   "uid": 1000, "privileged": true, "container_security_context": {"runAsNonRoot": true},
                   "pod_security_context": {"fsGroupChangePolicy": "OnRootMismatch"}, "fs_gid": 100,
                   "service_account": "sa-{username}"})
            .as_object()
            .unwrap(),
        )
        .unwrap();
        let pod = build_pod(&cfg, &ctx(&cfg, &[])).unwrap();
        let container = &pod["spec"]["containers"][0];
        assert_eq!(
            container["resources"],
            json!({"limits": {"cpu": 8.0, "memory": 17179869184u64, "nvidia.com/gpu": "1"}, "requests": {}})
        );
        assert_eq!(serde_json::to_string(&container["resources"]["limits"]["cpu"]).unwrap(), "8.0");
        assert_eq!(
            container["securityContext"],
            json!({"runAsUser": 1000, "privileged": true, "allowPrivilegeEscalation": false, "runAsNonRoot": true})
        );
        assert_eq!(pod["spec"]["securityContext"], json!({"fsGroup": 100, "fsGroupChangePolicy": "OnRootMismatch"}));
        assert_eq!(pod["spec"]["serviceAccountName"], "sa-alice");
        assert!(pod["spec"].get("automountServiceAccountToken").is_none());
        let env = env_names(&pod);
        assert!(env.contains(&"CPU_LIMIT".to_string()) && !env.contains(&"CPU_GUARANTEE".to_string()));
        cfg.set_traits(json!({"pod_security_context": {"run_as_user": 1}}).as_object().unwrap()).unwrap();
        assert!(matches!(build_pod(&cfg, &ctx(&cfg, &[])), Err(ManifestError::SecurityContextKey { .. })));
    }

    #[test]
    fn extra_configs_replace_top_level_fields() {
        let mut cfg = SpawnerConfig::default();
        cfg.set_traits(
            json!({"extra_pod_config": {"dns_policy": "None", "tolerations": [{"key": "x"}], "hostname": "{username}"},
                   "extra_container_config": {"env": [], "securityContext": null},
                   "tolerations": [{"key": "a"}], "volumes": {"b": {"name": "b", "emptyDir": {}}, "a": {"name": "a", "empty_dir": {}}}})
            .as_object()
            .unwrap(),
        )
        .unwrap();
        let pod = build_pod(&cfg, &ctx(&cfg, &[("X", "1")])).unwrap();
        assert_eq!(pod["spec"]["dnsPolicy"], "None");
        assert_eq!(pod["spec"]["hostname"], "alice");
        assert_eq!(pod["spec"]["tolerations"], json!([{"key": "x"}]));
        assert_eq!(pod["spec"]["containers"][0]["env"], json!([]));
        assert!(pod["spec"]["containers"][0].get("securityContext").is_none());
        assert_eq!(pod["spec"]["volumes"], json!([{"name": "a", "emptyDir": {}}, {"name": "b", "emptyDir": {}}]));
        cfg.set_traits(json!({"extra_pod_config": {"bogus": 1}}).as_object().unwrap()).unwrap();
        let err = build_pod(&cfg, &ctx(&cfg, &[])).unwrap_err();
        assert!(err.to_string().contains("V1PodSpec has no field 'bogus'"), "{err}");
        cfg.set_traits(json!({"extra_pod_config": {}, "volume_mounts": [{"name": "a"}]}).as_object().unwrap()).unwrap();
        let err = build_pod(&cfg, &ctx(&cfg, &[])).unwrap_err();
        assert!(err.to_string().contains("mountPath"), "{err}");
    }

    #[test]
    fn names_and_state() {
        let mut cfg = SpawnerConfig { namespace: "jupyterhub".into(), ..Default::default() };
        let names = names_for(&cfg, "Alice", 1, "").unwrap();
        assert_eq!(names.pod_name, "jupyter-alice---3bc51062");
        assert_eq!(names.dns_name, "jupyter-alice---3bc51062.jupyterhub.svc.cluster.local");
        assert_eq!(legacy_pvc_name(&cfg, "Alice", 1, "").unwrap(), "claim--41lice");
        let state = names.state(true);
        assert_eq!(state["kubespawner_version"], "7.1.0");
        assert_eq!(state["pvc_name"], "claim-alice---3bc51062");
        assert!(names.state(false).get("pvc_name").is_none());
        assert_eq!(state_origin(&state), StateOrigin::Current);
        assert_eq!(state_origin(&json!({"pod_name": "jupyter--41lice"})), StateOrigin::Legacy);
        assert_eq!(state_origin(&json!({})), StateOrigin::Fresh);
        // A remembered PVC name survives a template change; the namespace is kept.
        cfg.pvc_name_template = "home-{username}".into();
        let again =
            names_for_spawn(&cfg, "Alice", 1, "", &json!({"pvc_name": "claim--41lice", "namespace": "old"})).unwrap();
        assert_eq!(again.pvc_name, "claim--41lice");
        assert_eq!(again.namespace, "old");
        assert_eq!(again.dns_name, "jupyter-alice---3bc51062.old.svc.cluster.local");
        cfg.enable_user_namespaces = true;
        assert_eq!(names_for(&cfg, "bob", 2, "").unwrap().namespace, "jupyterhub-bob");
    }

    #[test]
    fn env_settings_format_default_url() {
        let mut cfg = SpawnerConfig { default_url: "/lab/tree/{username}".into(), ..Default::default() };
        let settings = spawner_env_settings(&cfg, "Zhong.Ger@Lab", "/user/Zhong.Ger@Lab/").unwrap();
        assert_eq!(settings.default_url.as_deref(), Some("/lab/tree/Zhong.Ger@Lab"));
        assert_eq!(settings.bind_url, "http://0.0.0.0:8888");
        cfg.ip = "::".into();
        assert_eq!(spawner_env_settings(&cfg, "a", "/").unwrap().bind_url, "http://[::]:8888");
    }
}
