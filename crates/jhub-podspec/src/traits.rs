//! The KubeSpawner 7.1 / JupyterHub `Spawner` trait table: every setting a
//! `kubespawner_override` or `hub.config.KubeSpawner` / `hub.config.Spawner`
//! can name, its value type, and KubeSpawner's (traitlets') value rules.
//!
//! Owns: trait names and kinds, value checks (`check_value`), JupyterHub's
//! byte-size syntax (`parse_byte_spec`) and did-you-mean suggestions.
//! The table is the one place that decides whether a key is a trait, so the
//! config loader and the profile code report typos the same way.
//!
//! Deliberate differences from traitlets (stricter, never looser):
//! - JSON booleans are refused where a number is expected (traitlets would
//!   take `true` as `1`), and numbers are refused where a boolean is expected;
//! - a byte specification must come out as a non-negative integer that fits
//!   64 bits (traitlets passes `-1G` through and crashes on `infG`);
//! - elements of `cmd` / `args` must be strings, as traitlets also requires.

use serde_json::Value;

/// The value type of a trait, following the traitlets class KubeSpawner uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraitKind {
    /// `Float`: a JSON number (integers are widened); strings such as `"8"` are refused.
    Float,
    /// `Int`: a JSON integer (an integral float such as `1.0` is accepted, like traitlets).
    Int,
    /// `Bool`: `true` / `false`.
    Bool,
    /// `Unicode`: a string, never null.
    Str,
    /// `Unicode(allow_none=True)`: a string or null.
    OptStr,
    /// JupyterHub's `ByteSpecification`: bytes as a number, or a string ending
    /// in `K`/`M`/`G`/`T` (1024-based).
    ByteSpec,
    /// `Dict`: a mapping.
    Dict,
    /// `List`: a sequence; a single string is taken as a one-element list,
    /// as traitlets does.
    List,
    /// `Union([List, Dict])`: a sequence, or a mapping whose values are used
    /// in sorted key order.
    ListOrDict,
    /// `Enum`: one of the listed strings (case-sensitive).
    Enum(&'static [&'static str]),
    /// Anything (callables in KubeSpawner; jhub cannot run Python and ignores them).
    Any,
}

/// One trait: its name as written in config, its kind and a one-line doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraitDef {
    /// The trait name as written in config (`cpu_limit`).
    pub name: &'static str,
    /// Its value type.
    pub kind: TraitKind,
    /// One line saying what it does.
    pub doc: &'static str,
}

impl TraitDef {
    /// Whether `null` is an accepted value (traitlets `allow_none=True`), e.g.
    /// `cpu_limit: null` means "no limit", `uid: null` means "the image's user".
    pub fn nullable(&self) -> bool {
        matches!(self.kind, TraitKind::OptStr | TraitKind::Any) || NULLABLE.contains(&self.name)
    }
}

/// Why a value does not fit a trait. `Display` says what was given, what is
/// accepted, and shows an example.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{trait_name}: {problem}; got {given}. Accepted: {accepted}. Example: {example}")]
pub struct TraitValueError {
    /// The trait (or `byte specification` when parsed without a trait).
    pub trait_name: String,
    /// The offending value, rendered as compact JSON (shortened if long).
    pub given: String,
    /// What went wrong, e.g. `16Gi is not a valid memory specification`.
    pub problem: String,
    /// What the trait accepts.
    pub accepted: String,
    /// A valid example value.
    pub example: String,
}

/// Traits that accept `null` besides `OptStr`/`Any` ones.
const NULLABLE: &[&str] = &[
    "cpu_limit",
    "cpu_guarantee",
    "mem_limit",
    "mem_guarantee",
    "uid",
    "gid",
    "fs_gid",
    "allow_privilege_escalation",
    "automount_service_account_token",
    "k8s_api_verify_ssl",
    "cmd",
];

const PULL_POLICIES: &[&str] = &["IfNotPresent", "Always", "Never"];
const SLUG_SCHEMES: &[&str] = &["safe", "escape"];

macro_rules! traits {
    ($( $name:literal : $kind:expr, $doc:literal; )*) => {
        &[ $( TraitDef { name: $name, kind: $kind, doc: $doc }, )* ]
    };
}

use TraitKind::*;

/// Sorted by name (checked by a test), so `lookup` can binary-search.
static TRAITS: &[TraitDef] = traits! {
    "additional_profile_form_template_paths": List, "Extra directories searched first for the profile form template.";
    "after_pod_created_hook": Any, "Python hook run after the pod exists (not supported by jhub; ignored).";
    "allow_privilege_escalation": Bool, "Container allowPrivilegeEscalation; null omits the field. Default false.";
    "apply_user_options": Any, "Python hook or dict applying user_options (not supported by jhub; ignored).";
    "args": List, "Extra arguments appended after cmd.";
    "auth_state_hook": Any, "Python hook receiving auth_state (not supported by jhub; ignored).";
    "automount_service_account_token": Bool, "Pod automountServiceAccountToken; null = only when a service account is set.";
    "cmd": List, "Container args that start the server (string or list); null = the image's CMD.";
    "common_labels": Dict, "Labels put on every pod and PVC (z2jh replaces KubeSpawner's default set).";
    "component_label": Str, "Value of the `component` label of user pods. Default singleuser-server.";
    "consecutive_failure_limit": Int, "Failed spawns in a row before the hub gives up (0 = never).";
    "container_security_context": Dict, "Container securityContext fields (camelCase) applied on top of uid/gid/privileged.";
    "cpu_guarantee": Float, "CPU request in cores, a number (e.g. 0.5); strings are refused.";
    "cpu_limit": Float, "CPU limit in cores, a number (e.g. 8); strings are refused.";
    "debug": Bool, "Start the single-user server with debug logging.";
    "default_url": Str, "URL path the server opens first, e.g. /lab.";
    "delete_grace_period": Int, "Seconds of grace when deleting a pod. Default 1.";
    "delete_pvc": Bool, "Delete the PVC when the user or named server is deleted. Default true.";
    "delete_stopped_pods": Bool, "Delete pods whose notebook container terminated. Default true.";
    "disable_user_config": Bool, "Ask the server to ignore per-user config files.";
    "dns_name_template": Str, "Template of the pod's DNS name. Default {name}.{namespace}.svc.cluster.local.";
    "enable_user_namespaces": Bool, "Put each user's pods into their own namespace.";
    "env_keep": List, "Hub environment variables passed to the server (KubeSpawner: none).";
    "environment": Dict, "Extra environment variables: name -> string, or name -> EnvVar object (valueFrom).";
    "events_enabled": Bool, "Report pod events as spawn progress. Default true.";
    "extra_annotations": Dict, "Extra pod annotations (templates expanded).";
    "extra_container_config": Dict, "Container fields that replace what KubeSpawner built (top level only).";
    "extra_containers": ListOrDict, "Sidecar containers appended after the notebook container.";
    "extra_labels": Dict, "Extra pod labels (templates expanded).";
    "extra_pod_config": Dict, "Pod spec fields that replace what KubeSpawner built (top level only).";
    "extra_resource_guarantees": Dict, "Extra resource requests, e.g. {\"nvidia.com/gpu\": \"1\"}.";
    "extra_resource_limits": Dict, "Extra resource limits, e.g. {\"nvidia.com/gpu\": \"1\"}.";
    "fs_gid": Int, "Pod securityContext.fsGroup; null omits it.";
    "get_pod_url": Any, "Python hook computing the pod URL (not supported by jhub; ignored).";
    "gid": Int, "Container runAsGroup; null omits it.";
    "group_overrides": Dict, "Per-group overrides (JupyterHub 5): {key: {groups: [...], spawner_override: {...}}}, applied before the profile.";
    "handle_legacy_names": Bool, "Adopt PVCs named by the pre-7 escape scheme. Default true.";
    "http_timeout": Int, "Seconds the hub waits for the started server to answer HTTP. Default 30.";
    "hub_connect_ip": OptStr, "IP or host the server uses to reach the hub.";
    "hub_connect_port": Int, "Port the server uses to reach the hub.";
    "hub_connect_url": OptStr, "URL the server uses to reach the hub.";
    "image": Str, "Container image of the notebook server, e.g. quay.io/jupyter/base-notebook:latest.";
    "image_pull_policy": OptStr, "imagePullPolicy: IfNotPresent, Always or Never; null omits it.";
    "image_pull_secrets": List, "Names of Secrets used to pull images (or {name: ...} objects).";
    "init_containers": ListOrDict, "Init containers run before the notebook container.";
    "ip": Str, "Address the server binds to inside the pod. Default 0.0.0.0.";
    "k8s_api_host": Str, "Kubernetes API URL override.";
    "k8s_api_request_retry_timeout": Int, "Seconds to keep retrying a Kubernetes API call. Default 30.";
    "k8s_api_request_timeout": Int, "Seconds per Kubernetes API call. Default 3.";
    "k8s_api_ssl_ca_cert": Str, "CA bundle for the Kubernetes API.";
    "k8s_api_threadpool_workers": Int, "Worker threads for Kubernetes calls (unused by jhub).";
    "k8s_api_verify_ssl": Bool, "Verify the Kubernetes API certificate.";
    "lifecycle_hooks": Dict, "Container lifecycle (postStart / preStop), not template-expanded.";
    "mem_guarantee": ByteSpec, "Memory request: bytes, or a number with K/M/G/T (1024-based), e.g. 1G.";
    "mem_limit": ByteSpec, "Memory limit: bytes, or a number with K/M/G/T (1024-based), e.g. 16G.";
    "modify_pod_hook": Any, "Python hook rewriting the pod (not supported by jhub; ignored).";
    "namespace": Str, "Namespace user pods are created in.";
    "node_affinity_preferred": ListOrDict, "PreferredSchedulingTerms for the pod's node affinity.";
    "node_affinity_required": ListOrDict, "NodeSelectorTerms the pod's node must match.";
    "node_selector": Dict, "nodeSelector labels, e.g. {\"gputype\": \"A100\"}.";
    "notebook_dir": Str, "Root directory of the server (JUPYTERHUB_ROOT_DIR).";
    "oauth_client_allowed_scopes": List, "Extra scopes the server's OAuth client may request.";
    "oauth_roles": List, "Roles of the server's OAuth client (deprecated in JupyterHub).";
    "options_form": Str, "HTML form replacing the profile form.";
    "options_from_form": Any, "Python hook parsing the spawn form (not supported by jhub; ignored).";
    "pod_affinity_preferred": ListOrDict, "WeightedPodAffinityTerms for pod affinity.";
    "pod_affinity_required": ListOrDict, "PodAffinityTerms the pod must satisfy.";
    "pod_anti_affinity_preferred": ListOrDict, "WeightedPodAffinityTerms for pod anti-affinity.";
    "pod_anti_affinity_required": ListOrDict, "PodAffinityTerms for pod anti-affinity.";
    "pod_connect_ip": Str, "Template of the address the hub uses to reach the pod.";
    "pod_name_template": Str, "Template of the pod name. Default jupyter-{user_server}.";
    "pod_security_context": Dict, "Pod securityContext fields (camelCase) applied on top of fs_gid/supplemental_gids.";
    "poll_interval": Int, "Seconds between the hub's checks that the server still runs. Default 30.";
    "poll_jitter": Float, "Random fraction added to poll_interval. Default 0.1.";
    "port": Int, "Port the server listens on (0 = 8888).";
    "post_stop_hook": Any, "Python hook run after stop (not supported by jhub; ignored).";
    "pre_spawn_hook": Any, "Python hook run before spawn (not supported by jhub; ignored).";
    "priority_class_name": Str, "Pod priorityClassName.";
    "privileged": Bool, "Run the notebook container privileged. Default false.";
    "profile_form_template": Str, "Jinja template replacing the profile form.";
    "profile_list": ListOrDict, "Profiles offered on the spawn page.";
    "progress_ready_hook": Any, "Python hook run when the server is ready (not supported by jhub; ignored).";
    "pvc_name_template": Str, "Template of the PVC name. Default claim-{user_server}.";
    "remember_pvc_name": Bool, "Keep using the PVC name stored in the server state. Default true.";
    "scheduler_name": OptStr, "Pod schedulerName.";
    "secret_mount_path": Str, "Mount path of the internal-SSL certificates.";
    "secret_name_template": Str, "Template of the internal-SSL Secret name. Default {pod_name}.";
    "server_token_scopes": List, "Scopes of the server's API token.";
    "service_account": OptStr, "Pod serviceAccountName (template expanded).";
    "services_enabled": Bool, "Create a Service per pod and reach the pod through it.";
    "slow_spawn_message": Str, "Progress message shown while a spawn takes long ({seconds} is replaced).";
    "slow_spawn_message_frequency": Int, "Seconds between slow-spawn messages. Default 5.";
    "slow_spawn_message_threshold": Int, "Seconds before the first slow-spawn message. Default 60.";
    "slug_scheme": Enum(SLUG_SCHEMES), "How user and server names become object names: safe (default) or escape.";
    "ssl_alt_names": List, "Extra subject alternative names for internal SSL.";
    "ssl_alt_names_include_local": Bool, "Include localhost names in internal-SSL certificates.";
    "start_timeout": Int, "Seconds a spawn may take before it is abandoned. Default 60 (z2jh 300).";
    "storage_access_modes": List, "PVC accessModes. Default [ReadWriteOnce].";
    "storage_capacity": OptStr, "PVC storage request, sent verbatim, e.g. 10Gi.";
    "storage_class": OptStr, "PVC storageClassName (\"\" = no class); null leaves it unset.";
    "storage_extra_annotations": Dict, "Extra PVC annotations (templates expanded).";
    "storage_extra_labels": Dict, "Extra PVC labels (templates expanded).";
    "storage_pvc_ensure": Bool, "Create the user's PVC before starting the pod.";
    "storage_selector": Dict, "PVC selector (templates expanded).";
    "supplemental_gids": List, "Pod securityContext.supplementalGroups (integers).";
    "tolerations": ListOrDict, "Pod tolerations.";
    "uid": Int, "Container runAsUser; null omits it.";
    "user_namespace_annotations": Dict, "Annotations of per-user namespaces.";
    "user_namespace_labels": Dict, "Labels of per-user namespaces.";
    "user_namespace_template": Str, "Template of per-user namespace names. Default {hubnamespace}-{username}.";
    "volume_mounts": ListOrDict, "volumeMounts of the notebook container (templates expanded).";
    "volumes": ListOrDict, "Pod volumes (templates expanded).";
    "working_dir": OptStr, "Container workingDir (template expanded).";
};

/// Every known trait, sorted by name.
pub fn all() -> &'static [TraitDef] {
    TRAITS
}

/// The trait called `name`, if there is one (exact, case-sensitive).
pub fn lookup(name: &str) -> Option<&'static TraitDef> {
    TRAITS.binary_search_by(|def| def.name.cmp(name)).ok().map(|idx| &TRAITS[idx])
}

/// A deprecated KubeSpawner trait name and the trait it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeprecatedTrait {
    /// The old name (`image_spec`).
    pub name: &'static str,
    /// The trait it maps to (`image`).
    pub use_instead: &'static str,
    /// The KubeSpawner version that deprecated it.
    pub since: &'static str,
    /// KubeSpawner 7.1 does not actually honour this name (see [`deprecated`]).
    pub upstream_ignores: bool,
}

const fn dep(name: &'static str, use_instead: &'static str, since: &'static str) -> DeprecatedTrait {
    DeprecatedTrait { name, use_instead, since, upstream_ignores: false }
}

/// KubeSpawner 7.1's `_deprecated_traits`: `image_spec` (0.10) and the 0.9
/// bulk renames (`singleuser_<x>` → `<x>`, `user_storage_<x>` →
/// `storage_<x>`), sorted by name. KubeSpawner moves them to their new name
/// in `c.KubeSpawner` config (the new name wins when both are set) and
/// forwards them as properties when a `kubespawner_override` sets them.
///
/// Two deliberate differences ("compatible, not bug-compatible"):
/// - `singleuser_image_spec` maps straight to `image` (KubeSpawner turns it
///   into `image_spec`, which config then drops as unrecognised);
/// - `singleuser_allow_privilege_escalation` and `singleuser_lifecycle_hooks`
///   are honoured: KubeSpawner 7.1's list lacks the comma between them
///   (`"…escalation" "singleuser_lifecycle_hooks"` is one string), so it
///   ignores both; jhub maps them and its warning says so.
const DEPRECATED: &[DeprecatedTrait] = &[
    dep("image_spec", "image", "0.10"),
    DeprecatedTrait {
        name: "singleuser_allow_privilege_escalation",
        use_instead: "allow_privilege_escalation",
        since: "0.9",
        upstream_ignores: true,
    },
    dep("singleuser_extra_annotations", "extra_annotations", "0.9"),
    dep("singleuser_extra_container_config", "extra_container_config", "0.9"),
    dep("singleuser_extra_containers", "extra_containers", "0.9"),
    dep("singleuser_extra_labels", "extra_labels", "0.9"),
    dep("singleuser_extra_pod_config", "extra_pod_config", "0.9"),
    dep("singleuser_fs_gid", "fs_gid", "0.9"),
    dep("singleuser_image_pull_policy", "image_pull_policy", "0.9"),
    dep("singleuser_image_pull_secrets", "image_pull_secrets", "0.9"),
    dep("singleuser_image_spec", "image", "0.9"),
    dep("singleuser_init_containers", "init_containers", "0.9"),
    DeprecatedTrait {
        name: "singleuser_lifecycle_hooks",
        use_instead: "lifecycle_hooks",
        since: "0.9",
        upstream_ignores: true,
    },
    dep("singleuser_node_selector", "node_selector", "0.9"),
    dep("singleuser_privileged", "privileged", "0.9"),
    dep("singleuser_service_account", "service_account", "0.9"),
    dep("singleuser_supplemental_gids", "supplemental_gids", "0.9"),
    dep("singleuser_uid", "uid", "0.9"),
    dep("singleuser_working_dir", "working_dir", "0.9"),
    dep("user_storage_access_modes", "storage_access_modes", "0.9"),
    dep("user_storage_capacity", "storage_capacity", "0.9"),
    dep("user_storage_class", "storage_class", "0.9"),
    dep("user_storage_extra_labels", "storage_extra_labels", "0.9"),
    dep("user_storage_pvc_ensure", "storage_pvc_ensure", "0.9"),
];

/// Every deprecated name, sorted.
pub fn all_deprecated() -> &'static [DeprecatedTrait] {
    DEPRECATED
}

/// The deprecated trait called `name`, if it is one.
pub fn deprecated(name: &str) -> Option<&'static DeprecatedTrait> {
    DEPRECATED.binary_search_by(|d| d.name.cmp(name)).ok().map(|idx| &DEPRECATED[idx])
}

impl std::fmt::Display for DeprecatedTrait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is deprecated since KubeSpawner {}; jhub applies it as `{}` (use that name)",
            self.name, self.since, self.use_instead
        )?;
        if self.upstream_ignores {
            write!(f, "; note: KubeSpawner 7.1 ignores this name because of a missing comma in its deprecation list")?;
        }
        Ok(())
    }
}

/// Whether a pull policy is one Kubernetes accepts (`image_pull_policy` is a
/// free string in KubeSpawner; callers may use this to warn early).
pub fn is_valid_pull_policy(policy: &str) -> bool {
    PULL_POLICIES.contains(&policy)
}

/// The closest trait name to a misspelt one, if it is close enough to be a
/// plausible typo (`cpu_gurantee` → `cpu_guarantee`, `memo_gurantee` → `mem_guarantee`).
pub fn suggest(name: &str) -> Option<&'static str> {
    if lookup(name).is_some() {
        return None;
    }
    if let Some(dep) = deprecated(name) {
        return Some(dep.use_instead);
    }
    let lowered = name.to_lowercase().replace('-', "_");
    if let Some(def) = lookup(&lowered) {
        return Some(def.name);
    }
    let len = lowered.chars().count();
    // Allow about one edit per four characters, at least two: enough for
    // doubled/missing letters and swaps, not enough to map unrelated words.
    let budget = (len / 4).max(2);
    let mut best: Option<(usize, f64, &'static str)> = None;
    for def in TRAITS {
        let distance = strsim::damerau_levenshtein(&lowered, def.name);
        if distance > budget {
            continue;
        }
        let similarity = strsim::jaro_winkler(&lowered, def.name);
        let better = match best {
            None => true,
            Some((d, s, _)) => distance < d || (distance == d && similarity > s),
        };
        if better {
            best = Some((distance, similarity, def.name));
        }
    }
    best.map(|(_, _, name)| name)
}

fn render(value: &Value) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|_| String::from("<unprintable>"));
    if text.chars().count() > 80 {
        let short: String = text.chars().take(77).collect();
        format!("{short}...")
    } else {
        text
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn accepted(def: &TraitDef) -> (String, String) {
    let (accepted, example): (String, String) = match def.kind {
        Float => ("a number, not a string".into(), format!("{}: 8  (or 0.5)", def.name)),
        Int => ("an integer".into(), format!("{}: 300", def.name)),
        Bool => ("true or false".into(), format!("{}: true", def.name)),
        Str => ("a string".into(), format!("{}: \"...\"", def.name)),
        OptStr => ("a string, or null".into(), format!("{}: \"...\"", def.name)),
        ByteSpec => (
            "a number of bytes, or a number followed by K, M, G or T (1024-based, upper case, no 'i')".into(),
            format!("{}: 16G  (= 17179869184 bytes)", def.name),
        ),
        Dict => ("a mapping".into(), format!("{}: {{key: value}}", def.name)),
        List => ("a list (or a single string)".into(), format!("{}: [item]", def.name)),
        ListOrDict => {
            ("a list, or a mapping whose values are taken in sorted key order".into(), format!("{}: [item]", def.name))
        }
        Enum(values) => (format!("one of: {}", values.join(", ")), format!("{}: {}", def.name, values.join(" | "))),
        Any => ("anything".into(), String::new()),
    };
    if def.nullable() && !matches!(def.kind, OptStr | Any) {
        (format!("{accepted}, or null"), example)
    } else {
        (accepted, example)
    }
}

fn error(def: &TraitDef, value: &Value, problem: String) -> TraitValueError {
    let (accepted, example) = accepted(def);
    TraitValueError { trait_name: def.name.to_string(), given: render(value), problem, accepted, example }
}

/// Checks `value` against the trait's type, with KubeSpawner's rules
/// (see the module doc for where jhub is stricter).
pub fn check_value(def: &TraitDef, value: &Value) -> Result<(), TraitValueError> {
    let wrong_type = || error(def, value, format!("expected {}, not {}", kind_noun(def.kind), type_name(value)));
    if value.is_null() {
        return if def.nullable() { Ok(()) } else { Err(error(def, value, "null is not allowed here".into())) };
    }
    match def.kind {
        Any => Ok(()),
        Float => match value {
            Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => Ok(()),
            _ => Err(wrong_type()),
        },
        Int => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(()),
            Value::Number(n) if n.as_f64().is_some_and(|f| f.is_finite() && f.fract() == 0.0) => Ok(()),
            _ => Err(wrong_type()),
        },
        Bool => {
            if value.is_boolean() {
                Ok(())
            } else {
                Err(wrong_type())
            }
        }
        Str | OptStr => {
            if value.is_string() {
                Ok(())
            } else {
                Err(wrong_type())
            }
        }
        ByteSpec => parse_byte_spec(value).map(|_| ()).map_err(|mut e| {
            e.trait_name = def.name.to_string();
            let (accepted, example) = accepted(def);
            e.accepted = accepted;
            e.example = example;
            e
        }),
        Dict => {
            if value.is_object() {
                Ok(())
            } else {
                Err(wrong_type())
            }
        }
        List => match value {
            Value::String(_) => Ok(()),
            Value::Array(items) => {
                if matches!(def.name, "cmd" | "args")
                    && let Some(bad) = items.iter().find(|item| !item.is_string())
                {
                    return Err(error(def, value, format!("every element must be a string, not {}", type_name(bad))));
                }
                Ok(())
            }
            _ => Err(wrong_type()),
        },
        ListOrDict => {
            if value.is_array() || value.is_object() {
                Ok(())
            } else {
                Err(wrong_type())
            }
        }
        Enum(values) => match value {
            Value::String(s) if values.contains(&s.as_str()) => Ok(()),
            Value::String(s) => Err(error(def, value, format!("{s:?} is not one of the allowed values"))),
            _ => Err(wrong_type()),
        },
    }
}

fn kind_noun(kind: TraitKind) -> &'static str {
    match kind {
        Float => "a number",
        Int => "an integer",
        Bool => "a boolean",
        Str | OptStr => "a string",
        ByteSpec => "a byte specification",
        Dict => "a mapping",
        List => "a list",
        ListOrDict => "a list or a mapping",
        Enum(_) => "one of the allowed strings",
        Any => "anything",
    }
}

const UNIT_K: u64 = 1024;

/// JupyterHub's `ByteSpecification`: an integer or float is a byte count
/// (floats truncated); a string is a number (Python float syntax, surrounding
/// spaces allowed) followed by exactly one of `K`, `M`, `G`, `T`, each a
/// power of 1024. `"16G"` → 17179869184, `"1.5G"` → 1610612736. Kubernetes
/// spellings (`16Gi`, `500Mi`), lower-case units (`16g`) and unit-less strings
/// are refused, exactly like JupyterHub.
pub fn parse_byte_spec(value: &Value) -> Result<u64, TraitValueError> {
    let fail = |problem: String| TraitValueError {
        trait_name: "byte specification".into(),
        given: render(value),
        problem,
        accepted: "a number of bytes, or a number followed by K, M, G or T (1024-based, upper case, no 'i')".into(),
        example: "16G (= 17179869184 bytes), 512M, 1.5G".into(),
    };
    let bytes = match value {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                return Ok(u);
            }
            n.as_f64().ok_or_else(|| fail("not a number".into()))?.trunc()
        }
        Value::String(text) => {
            let invalid = || fail(format!("{text} is not a valid memory specification"));
            let unit = text.chars().last().ok_or_else(invalid)?;
            let multiplier = match unit {
                'K' => UNIT_K,
                'M' => UNIT_K.pow(2),
                'G' => UNIT_K.pow(3),
                'T' => UNIT_K.pow(4),
                _ => return Err(invalid()),
            };
            let number = python_float(&text[..text.len() - unit.len_utf8()]).ok_or_else(invalid)?;
            (number * multiplier as f64).trunc()
        }
        other => return Err(fail(format!("expected a number or a string, not {}", type_name(other)))),
    };
    if !bytes.is_finite() || bytes < 0.0 || bytes >= u64::MAX as f64 {
        return Err(fail("the size must be a finite, non-negative number of bytes".into()));
    }
    // Truncation is intended: Python's int() of the float product.
    Ok(bytes as u64)
}

/// Python's `float(str)` for decimal numbers: surrounding whitespace,
/// optional sign, digits with single `_` between digits, fraction, exponent.
/// `inf`/`nan` are rejected (they can never be a byte count).
fn python_float(text: &str) -> Option<f64> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return None;
    }
    let chars: Vec<char> = trimmed.chars().collect();
    let mut cleaned = String::with_capacity(trimmed.len());
    for (idx, &c) in chars.iter().enumerate() {
        match c {
            '0'..='9' | '.' | '+' | '-' | 'e' | 'E' => cleaned.push(c),
            '_' => {
                let before = idx.checked_sub(1).and_then(|i| chars.get(i)).is_some_and(char::is_ascii_digit);
                let after = chars.get(idx + 1).is_some_and(char::is_ascii_digit);
                if !(before && after) {
                    return None;
                }
            }
            _ => return None,
        }
    }
    let parsed: f64 = cleaned.parse().ok()?;
    parsed.is_finite().then_some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(name: &str) -> &'static TraitDef {
        lookup(name).unwrap()
    }

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in TRAITS.windows(2) {
            assert!(pair[0].name < pair[1].name, "{} before {}", pair[0].name, pair[1].name);
        }
        for name in NULLABLE {
            assert!(lookup(name).is_some(), "{name}");
        }
    }

    #[test]
    fn override_traits_are_known() {
        for name in [
            "image",
            "image_pull_policy",
            "cpu_limit",
            "cpu_guarantee",
            "mem_limit",
            "mem_guarantee",
            "extra_resource_limits",
            "extra_resource_guarantees",
            "node_selector",
            "tolerations",
            "node_affinity_required",
            "pod_anti_affinity_preferred",
            "environment",
            "volumes",
            "volume_mounts",
            "init_containers",
            "extra_containers",
            "extra_pod_config",
            "extra_container_config",
            "extra_labels",
            "extra_annotations",
            "lifecycle_hooks",
            "uid",
            "gid",
            "fs_gid",
            "supplemental_gids",
            "privileged",
            "allow_privilege_escalation",
            "container_security_context",
            "pod_security_context",
            "service_account",
            "automount_service_account_token",
            "scheduler_name",
            "priority_class_name",
            "working_dir",
            "cmd",
            "args",
            "default_url",
            "notebook_dir",
            "start_timeout",
            "http_timeout",
            "storage_capacity",
            "storage_class",
            "storage_access_modes",
            "storage_selector",
            "storage_extra_labels",
            "storage_pvc_ensure",
            "pvc_name_template",
            "pod_name_template",
            "image_pull_secrets",
            "port",
        ] {
            assert!(lookup(name).is_some(), "{name}");
        }
        assert!(lookup("cpu_gurantee").is_none());
        assert!(lookup("Image").is_none());
    }

    #[test]
    fn cpu_is_a_float_and_refuses_strings() {
        assert!(check_value(def("cpu_limit"), &json!(8)).is_ok());
        assert!(check_value(def("cpu_limit"), &json!(0.5)).is_ok());
        assert!(check_value(def("cpu_limit"), &Value::Null).is_ok());
        let err = check_value(def("cpu_limit"), &json!("8")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("cpu_limit") && text.contains("\"8\"") && text.contains("not a string"), "{text}");
        assert!(check_value(def("cpu_guarantee"), &json!(true)).is_err());
    }

    #[test]
    fn byte_specs_follow_jupyterhub() {
        let cases = [
            (json!("16G"), 17_179_869_184u64),
            (json!("1G"), 1_073_741_824),
            (json!("1.5G"), 1_610_612_736),
            (json!(" 16 G"), 17_179_869_184),
            (json!("512M"), 536_870_912),
            (json!("1T"), 1_099_511_627_776),
            (json!("100K"), 102_400),
            (json!("1e3K"), 1_024_000),
            (json!("1_000K"), 1_024_000),
            (json!(1_073_741_824u64), 1_073_741_824),
            (json!(1.7), 1),
        ];
        for (value, bytes) in cases {
            assert_eq!(parse_byte_spec(&value).unwrap(), bytes, "{value}");
        }
        for bad in ["16Gi", "16g", "500Mi", "16", "G", "", "infG", "nanG", "-1G", "1__0K", "_1K", "16GB"] {
            let err = parse_byte_spec(&json!(bad)).unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        let err = check_value(def("mem_limit"), &json!("16Gi")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("mem_limit: 16Gi is not a valid memory specification"), "{text}");
        assert!(text.contains("16G"), "{text}");
        assert!(check_value(def("mem_guarantee"), &Value::Null).is_ok());
        assert!(check_value(def("mem_guarantee"), &json!([1])).is_err());
    }

    #[test]
    fn kinds_are_checked() {
        assert!(check_value(def("uid"), &json!(1000)).is_ok());
        assert!(check_value(def("uid"), &json!(1000.0)).is_ok());
        assert!(check_value(def("uid"), &json!(1.5)).is_err());
        assert!(check_value(def("uid"), &json!("1000")).is_err());
        assert!(check_value(def("start_timeout"), &Value::Null).is_err());
        assert!(check_value(def("privileged"), &json!(true)).is_ok());
        assert!(check_value(def("privileged"), &Value::Null).is_err());
        assert!(check_value(def("allow_privilege_escalation"), &Value::Null).is_ok());
        assert!(check_value(def("image"), &json!("x:1")).is_ok());
        assert!(check_value(def("image"), &Value::Null).is_err());
        assert!(check_value(def("image_pull_policy"), &Value::Null).is_ok());
        assert!(check_value(def("node_selector"), &json!({"a": "b"})).is_ok());
        assert!(check_value(def("node_selector"), &json!(["a"])).is_err());
        assert!(check_value(def("environment"), &json!([{"name": "A", "value": "1"}])).is_err());
        assert!(check_value(def("tolerations"), &json!({"a": {}})).is_ok());
        assert!(check_value(def("tolerations"), &json!([])).is_ok());
        assert!(check_value(def("tolerations"), &json!("x")).is_err());
        assert!(check_value(def("cmd"), &json!("jupyterhub-singleuser")).is_ok());
        assert!(check_value(def("cmd"), &json!(["a", 1])).is_err());
        assert!(check_value(def("cmd"), &Value::Null).is_ok());
        assert!(check_value(def("image_pull_secrets"), &json!("secret")).is_ok());
        assert!(check_value(def("slug_scheme"), &json!("escape")).is_ok());
        let err = check_value(def("slug_scheme"), &json!("SAFE")).unwrap_err();
        assert!(err.to_string().contains("one of: safe, escape"), "{err}");
        assert!(is_valid_pull_policy("Always") && !is_valid_pull_policy("always"));
    }

    #[test]
    fn suggestions_catch_the_seed_typos() {
        assert_eq!(suggest("cpu_gurantee"), Some("cpu_guarantee"));
        assert_eq!(suggest("memo_gurantee"), Some("mem_guarantee"));
        assert_eq!(suggest("mem_gurantee"), Some("mem_guarantee"));
        assert_eq!(suggest("node_selectr"), Some("node_selector"));
        assert_eq!(suggest("Image"), Some("image"));
        assert_eq!(suggest("mem-limit"), Some("mem_limit"));
        assert_eq!(suggest("image"), None);
        assert_eq!(suggest("completely_unrelated_setting"), None);
        assert_eq!(suggest("xyz"), None);
    }

    #[test]
    fn deprecated_names_are_sorted_and_point_at_known_traits() {
        assert!(DEPRECATED.windows(2).all(|w| w[0].name < w[1].name), "sorted for binary search");
        for dep in DEPRECATED {
            assert!(lookup(dep.use_instead).is_some(), "{} → {} must be a trait", dep.name, dep.use_instead);
            assert!(lookup(dep.name).is_none(), "{} must not also be a trait", dep.name);
        }
        assert_eq!(deprecated("image_spec").map(|d| d.use_instead), Some("image"));
        assert_eq!(deprecated("user_storage_capacity").map(|d| d.use_instead), Some("storage_capacity"));
        assert_eq!(suggest("image_spec"), Some("image"));
        assert_eq!(DEPRECATED.len(), 24, "KubeSpawner 7.1: image_spec plus the 23 names of its 0.9 list");
    }
}
