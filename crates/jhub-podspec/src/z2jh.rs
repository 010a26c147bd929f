//! zero-to-jupyterhub values → [`SpawnerConfig`], the way the chart's
//! `jupyterhub_config.py` sets KubeSpawner traits (z2jh main / 4.3+:
//! volumes and mounts as sorted dicts), re-implemented.
//!
//! Input is the FULL merged values document (chart defaults + user files,
//! Helm-merged by the caller). Problems carry the dotted values path
//! (`singleuser.profileList[0].kubespawner_override.mem_limit`) so the
//! config loader can point at the file and line.
//!
//! Order (later wins), as in the chart: `singleuser.*` / `scheduling.*` /
//! storage mappings, then `hub.config.Spawner`, then `hub.config.KubeSpawner`
//! (traitlets gives the KubeSpawner section priority over Spawner).

use crate::config::{Dict, SetTraitError, SpawnerConfig};
use crate::profiles;
use crate::traits;
use serde::Serialize;
use serde_json::{Value, json};

/// The Helm release the values belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseInfo {
    /// `Release.Name`, e.g. `jupyterhub`.
    pub name: String,
    /// `Release.Namespace`: where the hub and (by default) user pods run.
    pub namespace: String,
    /// `Chart.Name`, normally `jupyterhub`.
    pub chart_name: String,
    /// `Chart.Version`, e.g. `4.2.0`. Also replaces `set-by-chartpress` image tags.
    pub chart_version: String,
}

/// How bad a [`ValueProblem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The hub must not start with this (KubeSpawner would fail every affected spawn).
    Error,
    /// Accepted like KubeSpawner accepts it, but almost certainly a mistake.
    Warning,
}

/// One problem in the values, at a dotted path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueProblem {
    /// Dotted path with list indices, e.g. `singleuser.profileList[0].kubespawner_override.mem_limit`.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
    /// Error or warning.
    pub severity: Severity,
}

impl ValueProblem {
    /// An error at `path`.
    pub fn error(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into(), severity: Severity::Error }
    }

    /// A warning at `path`.
    pub fn warning(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into(), severity: Severity::Warning }
    }
}

impl std::fmt::Display for ValueProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}: {}", self.path, self.message)
    }
}

/// Names of chart-made objects that user pods refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartNames {
    /// The hub Service (`hub`), for `hub_connect_url` `http://<hub>:8081`.
    pub hub: String,
    /// The Secret holding `singleuser.extraFiles`.
    pub singleuser: String,
    /// The chart-made registry Secret (`imagePullSecret.create`).
    pub image_pull_secret: String,
    /// The CHP API Service.
    pub proxy_api: String,
    /// The user-scheduler's scheduler name.
    pub user_scheduler: String,
    /// The user pods' PriorityClass (`scheduling.podPriority`).
    pub priority: String,
}

/// The chart's `jupyterhub.fullname`-based names.
pub fn chart_names(values: &Value, release: &ReleaseInfo) -> ChartNames {
    let fullname = match values.get("fullnameOverride") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            let name = match values.get("nameOverride") {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                _ => "jupyterhub".to_string(),
            };
            if release.name.contains(&name) { release.name.clone() } else { format!("{}-{name}", release.name) }
        }
    };
    let prefix = if fullname.is_empty() { String::new() } else { format!("{fullname}-") };
    ChartNames {
        hub: format!("{prefix}hub"),
        singleuser: format!("{prefix}singleuser"),
        image_pull_secret: format!("{prefix}image-pull-secret"),
        proxy_api: format!("{prefix}proxy-api"),
        user_scheduler: if fullname.is_empty() {
            format!("{}-user-scheduler", release.name)
        } else {
            format!("{prefix}user-scheduler")
        },
        priority: if fullname.is_empty() { format!("{}-default-priority", release.name) } else { fullname },
    }
}

/// The chart's common labels for user pods and PVCs (replacing KubeSpawner's).
pub fn common_labels(values: &Value, release: &ReleaseInfo) -> Dict {
    let app = match values.get("nameOverride") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => release.chart_name.clone(),
    };
    let mut labels = Dict::new();
    labels.insert("app.kubernetes.io/name".into(), json!(app));
    labels.insert("app".into(), json!(app));
    if !release.name.is_empty() {
        labels.insert("app.kubernetes.io/instance".into(), json!(release.name));
        labels.insert("release".into(), json!(release.name));
    }
    if !release.chart_name.is_empty() && !release.chart_version.is_empty() {
        let chart = format!("{}-{}", release.chart_name, release.chart_version.replace('+', "_"));
        labels.insert("helm.sh/chart".into(), json!(chart));
        labels.insert("chart".into(), json!(chart));
    }
    labels.insert("app.kubernetes.io/managed-by".into(), json!("kubespawner"));
    labels
}

/// `a.b.c` lookup; `None` when a level is missing or not a mapping.
fn lookup<'a>(values: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(values, |node, part| node.as_object()?.get(part))
}

/// Like [`lookup`], with `null` treated as missing (the chart's `set_config_if_not_none`).
fn present<'a>(values: &'a Value, dotted: &str) -> Option<&'a Value> {
    lookup(values, dotted).filter(|v| !v.is_null())
}

fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// A trait assignment with the values path it came from.
struct Assignment {
    value: Value,
    path: String,
}

/// Ordered trait → assignment (later assignments replace earlier ones).
#[derive(Default)]
struct Section {
    items: Vec<(String, Assignment)>,
}

impl Section {
    fn set(&mut self, name: &str, value: Value, path: impl Into<String>) {
        let assignment = Assignment { value, path: path.into() };
        if let Some(slot) = self.items.iter_mut().find(|(k, _)| k == name) {
            slot.1 = assignment;
        } else {
            self.items.push((name.to_string(), assignment));
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.items.iter().find(|(k, _)| k == name).map(|(_, a)| &a.value)
    }
}

const CHARTPRESS_PLACEHOLDER: &str = "set-by-chartpress";

fn image_ref(name: &Value, tag: Option<&Value>, release: &ReleaseInfo) -> Option<String> {
    let name = name.as_str()?;
    let tag = match tag {
        Some(Value::String(t)) if t == CHARTPRESS_PLACEHOLDER => release.chart_version.clone(),
        Some(Value::String(t)) => t.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    Some(if tag.is_empty() { name.to_string() } else { format!("{name}:{tag}") })
}

/// z2jh values → KubeSpawner settings. Warnings (e.g. misspelt override
/// keys KubeSpawner would silently ignore) are dropped; use
/// [`spawner_config_with_warnings`] to get them too.
pub fn spawner_config_from_values(values: &Value, release: &ReleaseInfo) -> Result<SpawnerConfig, Vec<ValueProblem>> {
    spawner_config_with_warnings(values, release).map(|(cfg, _)| cfg)
}

/// Like [`spawner_config_from_values`], also returning warnings. On error,
/// the `Err` holds every problem found (errors first, then warnings).
pub fn spawner_config_with_warnings(
    values: &Value,
    release: &ReleaseInfo,
) -> Result<(SpawnerConfig, Vec<ValueProblem>), Vec<ValueProblem>> {
    let mut problems = Vec::new();
    let names = chart_names(values, release);
    let mut ks = Section::default();
    let mut sp = Section::default();
    let su = |key: &str| present(values, &format!("singleuser.{key}"));
    let su_path = |key: &str| format!("singleuser.{key}");

    ks.set("common_labels", Value::Object(common_labels(values, release)), "singleuser");
    ks.set("namespace", json!(release.namespace), "singleuser");
    if let Some(v) = present(values, "hub.consecutiveFailureLimit") {
        sp.set("consecutive_failure_limit", v.clone(), "hub.consecutiveFailureLimit");
    }

    const DIRECT: &[(&str, &str)] = &[
        ("pod_name_template", "podNameTemplate"),
        ("start_timeout", "startTimeout"),
        ("image_pull_policy", "image.pullPolicy"),
        ("events_enabled", "events"),
        ("extra_labels", "extraLabels"),
        ("extra_annotations", "extraAnnotations"),
        ("uid", "uid"),
        ("fs_gid", "fsGid"),
        ("service_account", "serviceAccountName"),
        ("storage_extra_labels", "storage.extraLabels"),
        ("node_selector", "nodeSelector"),
        ("node_affinity_required", "extraNodeAffinity.required"),
        ("node_affinity_preferred", "extraNodeAffinity.preferred"),
        ("pod_affinity_required", "extraPodAffinity.required"),
        ("pod_affinity_preferred", "extraPodAffinity.preferred"),
        ("pod_anti_affinity_required", "extraPodAntiAffinity.required"),
        ("pod_anti_affinity_preferred", "extraPodAntiAffinity.preferred"),
        ("lifecycle_hooks", "lifecycleHooks"),
        ("init_containers", "initContainers"),
        ("extra_containers", "extraContainers"),
        ("mem_limit", "memory.limit"),
        ("mem_guarantee", "memory.guarantee"),
        ("cpu_limit", "cpu.limit"),
        ("cpu_guarantee", "cpu.guarantee"),
        ("extra_resource_limits", "extraResource.limits"),
        ("extra_resource_guarantees", "extraResource.guarantees"),
        ("environment", "extraEnv"),
        ("profile_list", "profileList"),
        ("extra_pod_config", "extraPodConfig"),
    ];
    for (trait_name, key) in DIRECT {
        if let Some(value) = su(key) {
            if *trait_name == "environment" && value.is_array() {
                problems.push(ValueProblem::error(
                    su_path(key),
                    "must be a mapping of NAME: value (or NAME: {valueFrom: ...}); the list form works for \
                     hub.extraEnv and proxy extraEnv, but for user pods it reaches KubeSpawner's `environment` \
                     dict and every spawn fails (TraitError: expected a dict). Example: `extraEnv: {EDITOR: vim}`",
                ));
                continue;
            }
            ks.set(trait_name, value.clone(), su_path(key));
        }
    }

    if let Some(name) = su("image.name")
        && let Some(image) = image_ref(name, su("image.tag"), release)
    {
        ks.set("image", json!(image), su_path("image.name"));
    }
    // null is meaningful here (omit the field), so it is always assigned.
    ks.set(
        "allow_privilege_escalation",
        lookup(values, "singleuser.allowPrivilegeEscalation").cloned().unwrap_or(Value::Null),
        su_path("allowPrivilegeEscalation"),
    );

    let mut pull_secrets = Vec::new();
    if truthy(lookup(values, "imagePullSecret.automaticReferenceInjection"))
        && truthy(lookup(values, "imagePullSecret.create"))
    {
        pull_secrets.push(json!(names.image_pull_secret));
    }
    for (path, list) in [
        ("imagePullSecrets", present(values, "imagePullSecrets")),
        ("singleuser.image.pullSecrets", su("image.pullSecrets")),
    ] {
        match list {
            None => {}
            Some(Value::Array(items)) => pull_secrets.extend(items.iter().cloned()),
            Some(_) => problems.push(ValueProblem::error(path, "must be a list of Secret names")),
        }
    }
    if !pull_secrets.is_empty() {
        ks.set("image_pull_secrets", Value::Array(pull_secrets), "singleuser.image.pullSecrets");
    }

    if truthy(lookup(values, "scheduling.userScheduler.enabled")) {
        ks.set("scheduler_name", json!(names.user_scheduler), "scheduling.userScheduler.enabled");
    }
    if truthy(lookup(values, "scheduling.podPriority.enabled")) {
        ks.set("priority_class_name", json!(names.priority), "scheduling.podPriority.enabled");
    }

    let purpose_path = "scheduling.userPods.nodeAffinity.matchNodePurpose";
    if let Some(purpose) = present(values, purpose_path).filter(|v| truthy(Some(v))) {
        let term = json!({"matchExpressions": [{"key": "hub.jupyter.org/node-purpose", "operator": "In", "values": ["user"]}]});
        let mut append = |trait_name: &str, item: Value| {
            let mut list = match ks.get(trait_name) {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            };
            list.push(item);
            ks.set(trait_name, Value::Array(list), purpose_path);
        };
        match purpose.as_str() {
            Some("prefer") => append("node_affinity_preferred", json!({"weight": 100, "preference": term})),
            Some("require") => append("node_affinity_required", term),
            Some("ignore") => {}
            _ => problems.push(ValueProblem::error(purpose_path, "must be one of: prefer, require, ignore")),
        }
    }

    let mut tolerations = Vec::new();
    for (path, value) in [
        ("scheduling.userPods.tolerations".to_string(), present(values, "scheduling.userPods.tolerations")),
        (su_path("extraTolerations"), su("extraTolerations")),
    ] {
        match value {
            None => {}
            Some(Value::Array(items)) => tolerations.extend(items.iter().cloned()),
            Some(_) => problems.push(ValueProblem::error(path, "must be a list of tolerations")),
        }
    }
    if !tolerations.is_empty() {
        ks.set("tolerations", Value::Array(tolerations), su_path("extraTolerations"));
    }

    storage(values, &names, &mut ks, &mut problems);

    if let Some(cmd) = lookup(values, "singleuser.cmd") {
        sp.set("cmd", cmd.clone(), su_path("cmd"));
    }
    if let Some(url) = su("defaultUrl") {
        sp.set("default_url", url.clone(), su_path("defaultUrl"));
    }

    if lookup(values, "singleuser.cloudMetadata.blockWithIptables") == Some(&Value::Bool(true)) {
        let tools = su("networkTools.image");
        let image = format!(
            "{}:{}",
            python_str(tools.and_then(|t| t.get("name"))),
            match tools.and_then(|t| t.get("tag")) {
                Some(Value::String(t)) if t == CHARTPRESS_PLACEHOLDER => release.chart_version.clone(),
                other => python_str(other),
            }
        );
        let ip = su("cloudMetadata.ip").cloned().unwrap_or(Value::Null);
        let mut container = json!({
            "name": "block-cloud-metadata",
            "image": image,
            "command": ["iptables", "--append", "OUTPUT", "--protocol", "tcp", "--destination", ip,
                        "--destination-port", "80", "--jump", "DROP"],
            "securityContext": {"privileged": true, "runAsUser": 0, "capabilities": {"add": ["NET_ADMIN"]}},
        });
        if let (Some(resources), Value::Object(map)) = (su("networkTools.resources"), &mut container) {
            map.insert("resources".into(), resources.clone());
        }
        let mut list = match ks.get("init_containers") {
            Some(Value::Array(items)) => items.clone(),
            Some(Value::Object(_)) => {
                problems.push(ValueProblem::error(
                    su_path("initContainers"),
                    "must be a list when cloudMetadata.blockWithIptables is true (the chart appends to it)",
                ));
                Vec::new()
            }
            _ => Vec::new(),
        };
        list.push(container);
        ks.set("init_containers", Value::Array(list), su_path("cloudMetadata.blockWithIptables"));
    }

    if truthy(lookup(values, "debug.enabled")) {
        sp.set("debug", json!(true), "debug.enabled");
    }

    if let Some(config) = present(values, "hub.config") {
        match config.as_object() {
            Some(sections) => {
                for (section, content) in sections {
                    let path = format!("hub.config.{section}");
                    if !section.starts_with(|c: char| c.is_ascii_uppercase()) {
                        problems.push(ValueProblem::error(
                            path,
                            "section names must be configurable class names starting with an upper-case letter \
                             (e.g. KubeSpawner, JupyterHub)",
                        ));
                        continue;
                    }
                    let target = match section.as_str() {
                        "KubeSpawner" => &mut ks,
                        "Spawner" => &mut sp,
                        _ => continue,
                    };
                    let Some(content) = content.as_object() else {
                        if !content.is_null() {
                            problems.push(ValueProblem::error(path, "must be a mapping of setting: value"));
                        }
                        continue;
                    };
                    for (key, value) in content {
                        let key_path = format!("{path}.{key}");
                        // KubeSpawner's `_handle_deprecated_config`: an old
                        // name moves to its new one unless that is set too.
                        // (z2jh always sets `image` from singleuser.image, so
                        // there `image_spec` in hub.config never takes
                        // effect; here only the same section's `image` wins:
                        // what the user wrote is not dropped.)
                        if section == "KubeSpawner"
                            && let Some(dep) = traits::deprecated(key)
                        {
                            if content.contains_key(dep.use_instead) {
                                problems.push(ValueProblem::warning(
                                    key_path,
                                    format!(
                                        "deprecated name of `{}`, which is also set here: ignored in favour of `{}` \
                                         (as KubeSpawner does)",
                                        dep.use_instead, dep.use_instead
                                    ),
                                ));
                            } else {
                                problems.push(ValueProblem::warning(key_path.clone(), dep.to_string()));
                                target.set(dep.use_instead, value.clone(), key_path);
                            }
                            continue;
                        }
                        match traits::lookup(key) {
                            None => problems.push(ValueProblem::warning(
                                key_path,
                                format!(
                                    "not recognized by {section} and ignored{}",
                                    crate::config::suggestion_text(&traits::suggest(key))
                                ),
                            )),
                            Some(def) if def.kind == traits::TraitKind::Any => problems.push(ValueProblem::warning(
                                key_path,
                                "holds Python code in KubeSpawner; jhub cannot run it and ignores it",
                            )),
                            Some(_) => target.set(key, value.clone(), key_path),
                        }
                    }
                }
            }
            None => problems.push(ValueProblem::error("hub.config", "must be a mapping of sections")),
        }
    }

    let mut cfg = SpawnerConfig::default();
    let mut env_path = su_path("extraEnv");
    let mut profiles_path = su_path("profileList");
    for section in [&sp, &ks] {
        for (name, assignment) in &section.items {
            let mut one = Dict::new();
            one.insert(name.clone(), assignment.value.clone());
            if let Err(errors) = cfg.set_traits(&one) {
                for (_, error) in errors {
                    problems.push(ValueProblem::error(assignment.path.clone(), set_error_message(&error)));
                }
            }
            match name.as_str() {
                "environment" => env_path = assignment.path.clone(),
                "profile_list" => profiles_path = assignment.path.clone(),
                _ => {}
            }
        }
    }

    for (name, value) in &cfg.environment {
        if let Err(message) = crate::manifest::check_env_value(value) {
            problems.push(ValueProblem::error(format!("{env_path}.{name}"), message));
        }
    }
    problems.extend(profiles::check_profile_list(&cfg.profile_list, &profiles_path, &cfg));

    if problems.iter().any(|p| p.severity == Severity::Error) {
        problems.sort_by_key(|p| p.severity != Severity::Error);
        Err(problems)
    } else {
        Ok((cfg, problems))
    }
}

/// A trait error without the trait name prefix when the path already says where.
fn set_error_message(error: &SetTraitError) -> String {
    match error {
        SetTraitError::Value(e) => {
            format!(
                "{} ({}); got {}. Accepted: {}. Example: {}",
                e.problem, e.trait_name, e.given, e.accepted, e.example
            )
        }
        other => other.to_string(),
    }
}

/// Python `str()` of a scalar as f-strings render it (`None` for missing).
fn python_str(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "None".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(true)) => "True".into(),
        Some(Value::Bool(false)) => "False".into(),
        Some(other) => other.to_string(),
    }
}

fn storage(values: &Value, names: &ChartNames, ks: &mut Section, problems: &mut Vec<ValueProblem>) {
    let su = |key: &str| present(values, &format!("singleuser.{key}"));
    let mut volumes = Dict::new();
    let mut mounts = Dict::new();
    let home_mount = su("storage.homeMountPath").cloned().unwrap_or(Value::Null);
    match su("storage.type").and_then(Value::as_str) {
        Some("dynamic") => {
            if let Some(template) = su("storage.dynamic.pvcNameTemplate").filter(|v| truthy(Some(v))) {
                ks.set("pvc_name_template", template.clone(), "singleuser.storage.dynamic.pvcNameTemplate");
            }
            let volume = match su("storage.dynamic.volumeNameTemplate") {
                Some(Value::String(name)) => name.clone(),
                _ => {
                    problems.push(ValueProblem::error(
                        "singleuser.storage.dynamic.volumeNameTemplate",
                        "must be a string such as volume-{user_server} with storage.type dynamic",
                    ));
                    return;
                }
            };
            ks.set("storage_pvc_ensure", json!(true), "singleuser.storage.type");
            for (trait_name, key) in [
                ("storage_class", "storage.dynamic.storageClass"),
                ("storage_access_modes", "storage.dynamic.storageAccessModes"),
                ("storage_capacity", "storage.capacity"),
            ] {
                if let Some(value) = su(key) {
                    ks.set(trait_name, value.clone(), format!("singleuser.{key}"));
                }
            }
            volumes
                .insert(volume.clone(), json!({"name": volume, "persistentVolumeClaim": {"claimName": "{pvc_name}"}}));
            mounts.insert(
                volume.clone(),
                json!({"mountPath": home_mount, "name": volume,
                       "subPath": su("storage.dynamic.subPath").cloned().unwrap_or(Value::Null)}),
            );
        }
        Some("static") => {
            volumes.insert(
                "home".into(),
                json!({"name": "home", "persistentVolumeClaim": {"claimName": su("storage.static.pvcName").cloned().unwrap_or(Value::Null)}}),
            );
            mounts.insert(
                "home".into(),
                json!({"mountPath": home_mount, "name": "home",
                       "subPath": su("storage.static.subPath").cloned().unwrap_or(Value::Null)}),
            );
        }
        Some("none") => {}
        _ => problems.push(ValueProblem::error("singleuser.storage.type", "must be one of: dynamic, static, none")),
    }

    match su("extraFiles") {
        Some(Value::Object(files)) if !files.is_empty() => {
            let mut items = Vec::new();
            for (idx, (key, details)) in files.iter().enumerate() {
                let path = format!("singleuser.extraFiles.{key}");
                let Some(details) = details.as_object() else {
                    problems.push(ValueProblem::error(
                        path,
                        "must be a mapping with mountPath and data/stringData/binaryData",
                    ));
                    continue;
                };
                let content_keys =
                    ["data", "stringData", "binaryData"].iter().filter(|k| details.contains_key(**k)).count();
                if content_keys != 1 {
                    problems.push(ValueProblem::error(
                        path.clone(),
                        "needs exactly one of data, stringData or binaryData (the chart refuses anything else)",
                    ));
                }
                let mut item = json!({"key": key, "path": key});
                if let (Some(mode), Value::Object(map)) = (details.get("mode"), &mut item) {
                    map.insert("mode".into(), mode.clone());
                }
                items.push(item);
                match details.get("mountPath") {
                    Some(Value::String(mount_path)) => {
                        mounts.insert(
                            format!("{idx}-files"),
                            json!({"mountPath": mount_path, "subPath": key, "name": "files"}),
                        );
                    }
                    _ => problems.push(ValueProblem::error(
                        format!("{path}.mountPath"),
                        "is required (an absolute path in the user pod)",
                    )),
                }
            }
            volumes.insert(
                "files".into(),
                json!({"name": "files", "secret": {"secretName": names.singleuser, "items": items}}),
            );
        }
        None | Some(Value::Object(_)) => {}
        Some(_) => problems.push(ValueProblem::error(
            "singleuser.extraFiles",
            "must be a mapping of file name → {mountPath, data|stringData|binaryData}",
        )),
    }

    match su("storage.extraVolumes") {
        None => {}
        Some(Value::Object(map)) => volumes.extend(map.clone()),
        Some(Value::Array(list)) => {
            for (idx, volume) in list.iter().enumerate() {
                match volume.get("name").and_then(Value::as_str) {
                    Some(name) => {
                        volumes.insert(name.to_string(), volume.clone());
                    }
                    None => problems
                        .push(ValueProblem::error(format!("singleuser.storage.extraVolumes[{idx}]"), "needs a name")),
                }
            }
        }
        Some(_) => problems
            .push(ValueProblem::error("singleuser.storage.extraVolumes", "must be a list or a mapping of volumes")),
    }
    match su("storage.extraVolumeMounts") {
        None => {}
        Some(Value::Object(map)) => mounts.extend(map.clone()),
        Some(Value::Array(list)) => {
            for (idx, mount) in list.iter().enumerate() {
                match mount.get("name").and_then(Value::as_str) {
                    Some(name) => {
                        mounts.insert(format!("{idx}-{name}"), mount.clone());
                    }
                    None => problems.push(ValueProblem::error(
                        format!("singleuser.storage.extraVolumeMounts[{idx}]"),
                        "needs a name",
                    )),
                }
            }
        }
        Some(_) => problems.push(ValueProblem::error(
            "singleuser.storage.extraVolumeMounts",
            "must be a list or a mapping of volume mounts",
        )),
    }
    ks.set("volumes", Value::Object(volumes), "singleuser.storage.extraVolumes");
    ks.set("volume_mounts", Value::Object(mounts), "singleuser.storage.extraVolumeMounts");
}
