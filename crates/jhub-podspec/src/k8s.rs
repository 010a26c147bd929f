//! Top-level field names of the Kubernetes objects KubeSpawner converts
//! dicts into (from the kubernetes client KubeSpawner 7.1 uses,
//! kubernetes_asyncio 36.1): a key may be written in snake_case or
//! camelCase, is sent in camelCase, and any other key is an error
//! (`... did not have an attribute matching ...`). Nested values pass through
//! untouched. `required` fields must be present and non-null.

use serde_json::{Map, Value};

/// One model: `(snake_case, camelCase)` field pairs and the required fields (camelCase).
pub(crate) struct Model {
    pub name: &'static str,
    pub fields: &'static [(&'static str, &'static str)],
    pub required: &'static [&'static str],
}

pub(crate) static POD_SPEC: Model = Model {
    name: "V1PodSpec",
    fields: &[
        ("active_deadline_seconds", "activeDeadlineSeconds"),
        ("affinity", "affinity"),
        ("automount_service_account_token", "automountServiceAccountToken"),
        ("containers", "containers"),
        ("dns_config", "dnsConfig"),
        ("dns_policy", "dnsPolicy"),
        ("enable_service_links", "enableServiceLinks"),
        ("ephemeral_containers", "ephemeralContainers"),
        ("host_aliases", "hostAliases"),
        ("host_ipc", "hostIPC"),
        ("host_network", "hostNetwork"),
        ("host_pid", "hostPID"),
        ("host_users", "hostUsers"),
        ("hostname", "hostname"),
        ("hostname_override", "hostnameOverride"),
        ("image_pull_secrets", "imagePullSecrets"),
        ("init_containers", "initContainers"),
        ("node_name", "nodeName"),
        ("node_selector", "nodeSelector"),
        ("os", "os"),
        ("overhead", "overhead"),
        ("preemption_policy", "preemptionPolicy"),
        ("priority", "priority"),
        ("priority_class_name", "priorityClassName"),
        ("readiness_gates", "readinessGates"),
        ("resource_claims", "resourceClaims"),
        ("resources", "resources"),
        ("restart_policy", "restartPolicy"),
        ("runtime_class_name", "runtimeClassName"),
        ("scheduler_name", "schedulerName"),
        ("scheduling_gates", "schedulingGates"),
        ("scheduling_group", "schedulingGroup"),
        ("security_context", "securityContext"),
        ("service_account", "serviceAccount"),
        ("service_account_name", "serviceAccountName"),
        ("set_hostname_as_fqdn", "setHostnameAsFQDN"),
        ("share_process_namespace", "shareProcessNamespace"),
        ("subdomain", "subdomain"),
        ("termination_grace_period_seconds", "terminationGracePeriodSeconds"),
        ("tolerations", "tolerations"),
        ("topology_spread_constraints", "topologySpreadConstraints"),
        ("volumes", "volumes"),
    ],
    required: &["containers"],
};

pub(crate) static CONTAINER: Model = Model {
    name: "V1Container",
    fields: &[
        ("args", "args"),
        ("command", "command"),
        ("env", "env"),
        ("env_from", "envFrom"),
        ("image", "image"),
        ("image_pull_policy", "imagePullPolicy"),
        ("lifecycle", "lifecycle"),
        ("liveness_probe", "livenessProbe"),
        ("name", "name"),
        ("ports", "ports"),
        ("readiness_probe", "readinessProbe"),
        ("resize_policy", "resizePolicy"),
        ("resources", "resources"),
        ("restart_policy", "restartPolicy"),
        ("restart_policy_rules", "restartPolicyRules"),
        ("security_context", "securityContext"),
        ("startup_probe", "startupProbe"),
        ("stdin", "stdin"),
        ("stdin_once", "stdinOnce"),
        ("termination_message_path", "terminationMessagePath"),
        ("termination_message_policy", "terminationMessagePolicy"),
        ("tty", "tty"),
        ("volume_devices", "volumeDevices"),
        ("volume_mounts", "volumeMounts"),
        ("working_dir", "workingDir"),
    ],
    required: &["name"],
};

pub(crate) static VOLUME: Model = Model {
    name: "V1Volume",
    fields: &[
        ("aws_elastic_block_store", "awsElasticBlockStore"),
        ("azure_disk", "azureDisk"),
        ("azure_file", "azureFile"),
        ("cephfs", "cephfs"),
        ("cinder", "cinder"),
        ("config_map", "configMap"),
        ("csi", "csi"),
        ("downward_api", "downwardAPI"),
        ("empty_dir", "emptyDir"),
        ("ephemeral", "ephemeral"),
        ("fc", "fc"),
        ("flex_volume", "flexVolume"),
        ("flocker", "flocker"),
        ("gce_persistent_disk", "gcePersistentDisk"),
        ("git_repo", "gitRepo"),
        ("glusterfs", "glusterfs"),
        ("host_path", "hostPath"),
        ("image", "image"),
        ("iscsi", "iscsi"),
        ("name", "name"),
        ("nfs", "nfs"),
        ("persistent_volume_claim", "persistentVolumeClaim"),
        ("photon_persistent_disk", "photonPersistentDisk"),
        ("portworx_volume", "portworxVolume"),
        ("projected", "projected"),
        ("quobyte", "quobyte"),
        ("rbd", "rbd"),
        ("scale_io", "scaleIO"),
        ("secret", "secret"),
        ("storageos", "storageos"),
        ("vsphere_volume", "vsphereVolume"),
    ],
    required: &["name"],
};

pub(crate) static VOLUME_MOUNT: Model = Model {
    name: "V1VolumeMount",
    fields: &[
        ("mount_path", "mountPath"),
        ("mount_propagation", "mountPropagation"),
        ("name", "name"),
        ("read_only", "readOnly"),
        ("recursive_read_only", "recursiveReadOnly"),
        ("sub_path", "subPath"),
        ("sub_path_expr", "subPathExpr"),
    ],
    required: &["mountPath", "name"],
};

pub(crate) static TOLERATION: Model = Model {
    name: "V1Toleration",
    fields: &[
        ("effect", "effect"),
        ("key", "key"),
        ("operator", "operator"),
        ("toleration_seconds", "tolerationSeconds"),
        ("value", "value"),
    ],
    required: &[],
};

pub(crate) static NODE_SELECTOR_TERM: Model = Model {
    name: "V1NodeSelectorTerm",
    fields: &[("match_expressions", "matchExpressions"), ("match_fields", "matchFields")],
    required: &[],
};

pub(crate) static PREFERRED_SCHEDULING_TERM: Model = Model {
    name: "V1PreferredSchedulingTerm",
    fields: &[("preference", "preference"), ("weight", "weight")],
    required: &["preference", "weight"],
};

pub(crate) static WEIGHTED_POD_AFFINITY_TERM: Model = Model {
    name: "V1WeightedPodAffinityTerm",
    fields: &[("pod_affinity_term", "podAffinityTerm"), ("weight", "weight")],
    required: &["podAffinityTerm", "weight"],
};

pub(crate) static POD_AFFINITY_TERM: Model = Model {
    name: "V1PodAffinityTerm",
    fields: &[
        ("label_selector", "labelSelector"),
        ("match_label_keys", "matchLabelKeys"),
        ("mismatch_label_keys", "mismatchLabelKeys"),
        ("namespace_selector", "namespaceSelector"),
        ("namespaces", "namespaces"),
        ("topology_key", "topologyKey"),
    ],
    required: &["topologyKey"],
};

pub(crate) static ENV_VAR: Model = Model {
    name: "V1EnvVar",
    fields: &[("name", "name"), ("value", "value"), ("value_from", "valueFrom")],
    required: &["name"],
};

pub(crate) static LOCAL_OBJECT_REFERENCE: Model =
    Model { name: "V1LocalObjectReference", fields: &[("name", "name")], required: &[] };

pub(crate) static LIFECYCLE: Model = Model {
    name: "V1Lifecycle",
    fields: &[("post_start", "postStart"), ("pre_stop", "preStop"), ("stop_signal", "stopSignal")],
    required: &[],
};

impl Model {
    /// The camelCase name of a field written either way.
    pub fn field(&self, key: &str) -> Option<&'static str> {
        self.fields.iter().find(|(snake, camel)| *snake == key || *camel == key).map(|(_, camel)| *camel)
    }

    fn field_list(&self) -> String {
        self.fields.iter().map(|(_, camel)| *camel).collect::<Vec<_>>().join(", ")
    }

    /// KubeSpawner's `get_k8s_model` followed by serialisation: top-level
    /// keys normalised to camelCase, `null` fields dropped, required fields checked.
    pub fn convert(&self, value: &Value) -> Result<Value, String> {
        let Some(map) = value.as_object() else {
            return Err(format!("expected a mapping for a {}, got {}", self.name, short(value)));
        };
        let mut out = Map::new();
        for (key, item) in map {
            let Some(camel) = self.field(key) else {
                return Err(format!("{} has no field '{key}' (fields: {})", self.name, self.field_list()));
            };
            if !item.is_null() {
                out.insert(camel.to_string(), item.clone());
            }
        }
        for required in self.required {
            if !out.contains_key(*required) {
                return Err(format!("a {} needs '{required}', in {}", self.name, short(value)));
            }
        }
        Ok(Value::Object(out))
    }

    /// KubeSpawner's `update_k8s_model`: each key of `changes` replaces the
    /// whole field of `target` (`null` removes it).
    pub fn update(&self, target: &mut Map<String, Value>, changes: &Map<String, Value>) -> Result<(), String> {
        for (key, item) in changes {
            let Some(camel) = self.field(key) else {
                return Err(format!("{} has no field '{key}' (fields: {})", self.name, self.field_list()));
            };
            if item.is_null() {
                if self.required.contains(&camel) {
                    return Err(format!("'{camel}' of a {} cannot be removed", self.name));
                }
                target.shift_remove(camel);
            } else {
                target.insert(camel.to_string(), item.clone());
            }
        }
        Ok(())
    }
}

fn short(value: &Value) -> String {
    let text = serde_json::to_string(value).unwrap_or_default();
    if text.chars().count() > 100 { format!("{}...", text.chars().take(97).collect::<String>()) } else { text }
}
