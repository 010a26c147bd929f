//! TEMPORARY ADAPTER — stands in for `jhub_podspec::traits` until that crate
//! publishes its KubeSpawner trait table. Same names and shapes as the agreed
//! API (`all`, `lookup`, `check_value`, `parse_byte_spec`, `suggest`,
//! `TraitDef`, `TraitKind`), so switching is a one-line `use` change. Only the
//! type rules this crate needs to validate `kubespawner_override` and
//! `hub.config.KubeSpawner` are modelled.

pub mod traits {
    use serde_json::Value;

    /// How KubeSpawner's traitlets validate a value.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum TraitKind {
        /// traitlets `Float`: numbers only; strings such as `"8"` are rejected.
        Float,
        /// JupyterHub `ByteSpecification`: a number of bytes, or a number
        /// followed by K, M, G or T (1024-based). `16Gi` is rejected.
        ByteSpec,
        Int,
        Bool,
        /// A string.
        Str,
        /// A mapping; an unknown override key with a mapping value fails at spawn.
        Dict,
        List,
        /// A list, or a single string (e.g. `cmd`, `image_pull_secrets`).
        ListOrStr,
        /// A list or a mapping (`volumes`, `profile_list`, ...).
        ListOrDict,
        Enum(&'static [&'static str]),
        /// Anything (callables in Python config; not checkable from YAML).
        Any,
    }

    /// One configurable trait of KubeSpawner (including its `Spawner` base).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct TraitDef {
        pub name: &'static str,
        pub kind: TraitKind,
        pub allow_none: bool,
    }

    const fn t(name: &'static str, kind: TraitKind, allow_none: bool) -> TraitDef {
        TraitDef { name, kind, allow_none }
    }

    use TraitKind::*;

    static TRAITS: &[TraitDef] = &[
        t("additional_profile_form_template_paths", List, false),
        t("after_pod_created_hook", Any, true),
        t("allow_privilege_escalation", Bool, true),
        t("apply_user_options", Any, true),
        t("args", List, false),
        t("auth_state_hook", Any, true),
        t("automount_service_account_token", Bool, true),
        t("cmd", ListOrStr, true),
        t("common_labels", Dict, false),
        t("component_label", Str, false),
        t("consecutive_failure_limit", Int, false),
        t("container_security_context", Dict, true),
        t("cpu_guarantee", Float, true),
        t("cpu_limit", Float, true),
        t("debug", Bool, false),
        t("default_url", Str, false),
        t("delete_grace_period", Int, false),
        t("delete_namespace_on_stop", Bool, false),
        t("delete_pvc", Bool, false),
        t("delete_stopped_pods", Bool, false),
        t("disable_user_config", Bool, false),
        t("dns_name_template", Str, false),
        t("enable_user_namespaces", Bool, false),
        t("env_keep", List, false),
        t("environment", Dict, false),
        t("events_enabled", Bool, false),
        t("extra_annotations", Dict, false),
        t("extra_container_config", Dict, false),
        t("extra_containers", List, false),
        t("extra_labels", Dict, false),
        t("extra_pod_config", Dict, false),
        t("extra_resource_guarantees", Dict, false),
        t("extra_resource_limits", Dict, false),
        t("fs_gid", Int, true),
        t("gid", Int, true),
        t("group_overrides", Dict, false),
        t("http_timeout", Int, false),
        t("image", Str, false),
        t("image_pull_policy", Enum(&["IfNotPresent", "Always", "Never"]), true),
        t("image_pull_secrets", ListOrStr, true),
        t("init_containers", List, false),
        t("ip", Str, false),
        t("k8s_api_host", Str, true),
        t("k8s_api_request_retry_timeout", Int, false),
        t("k8s_api_request_timeout", Int, false),
        t("k8s_api_ssl_ca_cert", Str, true),
        t("k8s_api_threadpool_workers", Int, false),
        t("lifecycle_hooks", Dict, false),
        t("mem_guarantee", ByteSpec, true),
        t("mem_limit", ByteSpec, true),
        t("modify_pod_hook", Any, true),
        t("namespace", Str, false),
        t("node_affinity_preferred", List, false),
        t("node_affinity_required", List, false),
        t("node_selector", Dict, false),
        t("notebook_dir", Str, false),
        t("oauth_client_allowed_scopes", Any, true),
        t("options_form", Any, true),
        t("options_from_form", Any, true),
        t("pod_affinity_preferred", List, false),
        t("pod_affinity_required", List, false),
        t("pod_anti_affinity_preferred", List, false),
        t("pod_anti_affinity_required", List, false),
        t("pod_connect_ip", Str, true),
        t("pod_name_template", Str, false),
        t("pod_security_context", Dict, true),
        t("poll_interval", Int, false),
        t("port", Int, false),
        t("post_stop_hook", Any, true),
        t("pre_spawn_hook", Any, true),
        t("priority_class_name", Str, false),
        t("privileged", Bool, false),
        t("profile_form_template", Str, false),
        t("profile_list", ListOrDict, false),
        t("pvc_name_template", Str, false),
        t("scheduler_name", Str, true),
        t("server_token_scopes", Any, true),
        t("service_account", Str, true),
        t("services_enabled", Bool, false),
        t("slug_scheme", Enum(&["escape", "safe"]), false),
        t("ssl_alt_names", List, false),
        t("ssl_alt_names_include_local", Bool, false),
        t("start_timeout", Int, false),
        t("storage_access_modes", List, false),
        t("storage_capacity", Str, true),
        t("storage_class", Str, true),
        t("storage_extra_annotations", Dict, false),
        t("storage_extra_labels", Dict, false),
        t("storage_pvc_ensure", Bool, false),
        t("storage_selector", Dict, false),
        t("supplemental_gids", List, false),
        t("tolerations", List, false),
        t("uid", Int, true),
        t("user_namespace_annotations", Dict, false),
        t("user_namespace_labels", Dict, false),
        t("user_namespace_template", Str, false),
        t("volume_mounts", ListOrDict, false),
        t("volumes", ListOrDict, false),
        t("working_dir", Str, true),
    ];

    pub fn all() -> &'static [TraitDef] {
        TRAITS
    }

    pub fn lookup(name: &str) -> Option<&'static TraitDef> {
        TRAITS.iter().find(|t| t.name == name)
    }

    /// Closest trait name to a misspelt one.
    pub fn suggest(name: &str) -> Option<&'static str> {
        crate::keys::did_you_mean(name, TRAITS.iter().map(|t| t.name))
    }

    /// JupyterHub's `ByteSpecification` parse: bytes as a number, or a number with K/M/G/T (1024-based).
    pub fn parse_byte_spec(value: &Value) -> Result<u64, String> {
        let invalid = |v: &str| {
            format!("{v} is not a valid memory specification. Must be an int or a string with suffix K, M, G, T")
        };
        match value {
            Value::Number(n) => {
                n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64).ok_or_else(|| invalid(&n.to_string()))
            }
            Value::String(s) => {
                let Some(suffix) = s.chars().last() else { return Err(invalid(s)) };
                let number = &s[..s.len() - suffix.len_utf8()];
                let factor: u64 = match suffix {
                    'K' => 1 << 10,
                    'M' => 1 << 20,
                    'G' => 1 << 30,
                    'T' => 1 << 40,
                    _ => return Err(invalid(s)),
                };
                let n: f64 = number.trim().parse().map_err(|_| invalid(s))?;
                if !n.is_finite() || n < 0.0 {
                    return Err(invalid(s));
                }
                Ok((n * factor as f64) as u64)
            }
            other => Err(invalid(&other.to_string())),
        }
    }

    fn kind_name(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(n) if n.is_f64() => "a float",
            Value::Number(_) => "an int",
            Value::String(_) => "a string",
            Value::Array(_) => "a list",
            Value::Object(_) => "a dict",
        }
    }

    /// Whether KubeSpawner would accept `value` for this trait; the error says what it expected.
    pub fn check_value(def: &TraitDef, value: &Value) -> Result<(), String> {
        if value.is_null() {
            return if def.allow_none || matches!(def.kind, Any) {
                Ok(())
            } else {
                Err(format!("`{}` may not be null", def.name))
            };
        }
        let ok = match def.kind {
            Float => value.is_number(),
            ByteSpec => return parse_byte_spec(value).map(|_| ()),
            Int => value.is_i64() || value.is_u64(),
            Bool => value.is_boolean(),
            Str => value.is_string(),
            Dict => value.is_object(),
            List => value.is_array(),
            ListOrStr => value.is_array() || value.is_string(),
            ListOrDict => value.is_array() || value.is_object(),
            Enum(allowed) => {
                return match value.as_str() {
                    Some(s) if allowed.contains(&s) => Ok(()),
                    _ => Err(format!("`{}` must be one of {}, not {value}", def.name, allowed.join(", "))),
                };
            }
            Any => true,
        };
        if ok {
            return Ok(());
        }
        let expected = match def.kind {
            Float => "a number (strings such as \"8\" are rejected)",
            Int => "an int",
            Bool => "a boolean",
            Str => "a string",
            Dict => "a dict",
            List => "a list",
            ListOrStr => "a list or a string",
            ListOrDict => "a list or a dict",
            ByteSpec | Enum(_) | Any => "another value",
        };
        Err(format!("`{}` expects {expected}, not {} ({value})", def.name, kind_name(value)))
    }
}

#[cfg(test)]
mod tests {
    use super::traits::*;
    use serde_json::json;

    #[test]
    fn byte_specs_follow_jupyterhub() {
        assert_eq!(parse_byte_spec(&json!("16G")), Ok(16 << 30));
        assert_eq!(parse_byte_spec(&json!("1.5K")), Ok(1536));
        assert_eq!(parse_byte_spec(&json!(1024)), Ok(1024));
        for bad in ["16Gi", "16g", "500Mi", "16", ""] {
            assert!(parse_byte_spec(&json!(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn floats_reject_strings() {
        let cpu = lookup("cpu_limit").unwrap();
        assert!(check_value(cpu, &json!(8)).is_ok());
        assert!(check_value(cpu, &json!("8")).is_err());
        assert_eq!(suggest("cpu_gurantee"), Some("cpu_guarantee"));
    }
}
