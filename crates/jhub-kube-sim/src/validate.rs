//! Admission as the API server does it for the kinds served: defaulting (the subset listed in the
//! crate doc), canonical resource quantities, and validation answering 422 Invalid (or 400 when
//! the body cannot even be decoded, e.g. a malformed quantity). Pure functions over JSON.

use std::collections::BTreeSet;

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, FieldError};
use crate::quantity::{Quantity, canonicalize_json};
use crate::resource::Resource;
use crate::selector::{validate_label_key, validate_label_value};

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

/// Checks an RFC 1123 label (≤ 63 chars).
pub fn dns1123_label(s: &str) -> Result<(), String> {
    if s.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
    if ok { Ok(()) } else { Err(DNS1123_LABEL_MSG.into()) }
}

/// Checks an RFC 1123 subdomain (≤ 253 chars, dot-separated labels).
pub fn dns1123_subdomain(s: &str) -> Result<(), String> {
    if s.len() > 253 {
        return Err("must be no more than 253 characters".into());
    }
    if s.is_empty() || s.split('.').any(|part| dns1123_label(part).is_err()) {
        return Err(DNS1123_SUBDOMAIN_MSG.into());
    }
    Ok(())
}

/// Checks a DNS-1035 label (services).
pub fn dns1035_label(s: &str) -> Result<(), String> {
    dns1123_label(s).map_err(|_| DNS1035_LABEL_MSG.to_string())?;
    if s.as_bytes().first().is_some_and(u8::is_ascii_lowercase) { Ok(()) } else { Err(DNS1035_LABEL_MSG.into()) }
}

/// What admission needs from the cluster.
pub(crate) struct AdmitCtx<'a> {
    pub default_storage_class: Option<&'a str>,
}

/// Defaults, canonicalises and validates a new object. Metadata (name, namespace) is already set.
pub(crate) fn admit_create(res: Resource, obj: &mut Value, ctx: &AdmitCtx<'_>) -> Result<(), ApiError> {
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    let mut errs = validate_metadata(res, obj);
    match res {
        Resource::Pods => {
            default_pod(obj);
            canonicalize_pod(obj, res, &name)?;
            errs.extend(validate_pod(obj));
            if errs.is_empty() {
                set_pod_status_at_create(obj);
            }
        }
        Resource::PersistentVolumeClaims => {
            default_pvc(obj, ctx);
            canonicalize_at(obj, &["spec", "resources", "requests"], res, &name)?;
            canonicalize_at(obj, &["spec", "resources", "limits"], res, &name)?;
            errs.extend(validate_pvc(obj));
            set(obj, "status", json!({"phase": "Pending"}));
        }
        Resource::Services => {
            default_service(obj);
            errs.extend(validate_service(obj));
            set(obj, "status", json!({"loadBalancer": {}}));
        }
        Resource::Secrets => {
            admit_secret(obj, &name)?;
            errs.extend(validate_secret(obj));
        }
        Resource::Nodes => {
            canonicalize_at(obj, &["status", "capacity"], res, &name)?;
            canonicalize_at(obj, &["status", "allocatable"], res, &name)?;
        }
        Resource::Namespaces => {
            let labels = ensure_obj(obj, &["metadata", "labels"]);
            labels.insert("kubernetes.io/metadata.name".into(), Value::String(name.clone()));
            set(obj, "spec", json!({"finalizers": ["kubernetes"]}));
            set(obj, "status", json!({"phase": "Active"}));
        }
        Resource::PersistentVolumes => {
            canonicalize_at(obj, &["spec", "capacity"], res, &name)?;
        }
        Resource::Events => {}
        Resource::StorageClasses | Resource::VolumeSnapshotClasses | Resource::VolumeSnapshots => {
            errs.extend(crate::storage::admit_create(res, obj));
        }
    }
    if errs.is_empty() { Ok(()) } else { Err(ApiError::invalid(res, &name, &errs)) }
}

/// Canonicalises and validates an updated object (PUT or PATCH), keeping fields the client may
/// not change and rejecting pod spec changes the API server forbids.
pub(crate) fn admit_update(res: Resource, old: &Value, new: &mut Value, status_only: bool) -> Result<(), ApiError> {
    let name = old.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    // System metadata is owned by the server.
    for field in [
        "uid",
        "creationTimestamp",
        "namespace",
        "name",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        let meta = ensure_obj(new, &["metadata"]);
        match old.pointer(&format!("/metadata/{field}")) {
            Some(v) => {
                meta.insert(field.into(), v.clone());
            }
            None => {
                meta.remove(field);
            }
        }
    }
    for f in ["kind", "apiVersion"] {
        if let Some(v) = old.get(f) {
            set(new, f, v.clone());
        }
    }
    if status_only {
        if !new.get("status").is_none_or(|s| s.is_object() || s.is_null()) {
            return Err(ApiError::invalid(res, &name, &[FieldError::invalid("status", "", "must be an object")]));
        }
        // The status subresource only changes status (and metadata).
        if let Some(spec) = old.get("spec") {
            set(new, "spec", spec.clone());
        }
        return Ok(());
    }
    // The main resource ignores status changes.
    if res != Resource::Namespaces
        && let Some(status) = old.get("status")
    {
        set(new, "status", status.clone());
    }
    let mut errs = validate_metadata(res, new);
    match res {
        Resource::Pods => {
            canonicalize_pod(new, res, &name)?;
            if pod_spec_masked(old) != pod_spec_masked(new) {
                errs.push(FieldError::forbidden(
                    "spec",
                    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
                ));
            }
            errs.extend(validate_pod(new));
            if old.pointer("/spec") != new.pointer("/spec")
                && let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut)
            {
                let g = meta.get("generation").and_then(Value::as_i64).unwrap_or(1);
                meta.insert("generation".into(), json!(g + 1));
            }
        }
        Resource::PersistentVolumeClaims => {
            canonicalize_at(new, &["spec", "resources", "requests"], res, &name)?;
            let mut o = old.get("spec").cloned().unwrap_or(Value::Null);
            let mut n = new.get("spec").cloned().unwrap_or(Value::Null);
            for s in [&mut o, &mut n] {
                if let Some(m) = s.as_object_mut() {
                    m.remove("resources");
                }
            }
            if o != n {
                errs.push(FieldError::forbidden("spec", "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"));
            }
            errs.extend(crate::storage::check_pvc_request_change(old, new));
            errs.extend(validate_pvc(new));
        }
        Resource::Secrets => {
            admit_secret(new, &name)?;
            errs.extend(validate_secret(new));
        }
        Resource::Services => {
            if let Some(ip) = old.pointer("/spec/clusterIP").cloned()
                && let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut)
            {
                spec.insert("clusterIP".into(), ip.clone());
                spec.insert("clusterIPs".into(), json!([ip]));
            }
            default_service(new);
            errs.extend(validate_service(new));
        }
        Resource::Nodes => {
            canonicalize_at(new, &["status", "capacity"], res, &name)?;
            canonicalize_at(new, &["status", "allocatable"], res, &name)?;
        }
        Resource::StorageClasses | Resource::VolumeSnapshotClasses | Resource::VolumeSnapshots => {
            errs.extend(crate::storage::admit_update(res, old, new));
        }
        _ => {}
    }
    if errs.is_empty() { Ok(()) } else { Err(ApiError::invalid(res, &name, &errs)) }
}

fn pod_spec_masked(pod: &Value) -> Value {
    let mut spec = pod.get("spec").cloned().unwrap_or(Value::Null);
    if let Some(m) = spec.as_object_mut() {
        for k in ["activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"] {
            m.remove(k);
        }
        for list in ["containers", "initContainers"] {
            if let Some(cs) = m.get_mut(list).and_then(Value::as_array_mut) {
                for c in cs {
                    if let Some(c) = c.as_object_mut() {
                        c.remove("image");
                    }
                }
            }
        }
    }
    spec
}

fn validate_metadata(res: Resource, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let check = match res {
        Resource::Namespaces => dns1123_label(name),
        Resource::Services => dns1035_label(name),
        _ => dns1123_subdomain(name),
    };
    if name.is_empty() {
        errs.push(FieldError::required("metadata.name", "name or generateName is required"));
    } else if let Err(why) = check {
        errs.push(FieldError::invalid("metadata.name", name, &why));
    }
    if let Some(labels) = obj.pointer("/metadata/labels") {
        match labels.as_object() {
            Some(m) => {
                for (k, v) in m {
                    if let Err(e) = validate_label_key(k) {
                        errs.push(FieldError::invalid("metadata.labels", k, &e));
                    }
                    match v.as_str() {
                        Some(s) => {
                            if let Err(e) = validate_label_value(s) {
                                errs.push(FieldError::invalid(format!("metadata.labels[{k}]"), s, &e));
                            }
                        }
                        None => errs.push(FieldError::invalid(
                            format!("metadata.labels[{k}]"),
                            &v.to_string(),
                            "must be a string",
                        )),
                    }
                }
            }
            None if labels.is_null() => {}
            None => errs.push(FieldError::invalid("metadata.labels", &labels.to_string(), "must be a map")),
        }
    }
    if let Some(ann) = obj.pointer("/metadata/annotations").and_then(Value::as_object) {
        for (k, v) in ann {
            if let Err(e) = validate_label_key(k) {
                errs.push(FieldError::invalid("metadata.annotations", k, &e));
            }
            if !v.is_string() {
                errs.push(FieldError::invalid(
                    format!("metadata.annotations[{k}]"),
                    &v.to_string(),
                    "must be a string",
                ));
            }
        }
    }
    errs
}

fn set(obj: &mut Value, key: &str, v: Value) {
    if let Some(m) = obj.as_object_mut() {
        m.insert(key.into(), v);
    }
}

/// The object at `path`, created as `{}` where missing (or replacing a non-object).
fn ensure_obj<'a>(obj: &'a mut Value, path: &[&str]) -> &'a mut Map<String, Value> {
    match obj {
        Value::Object(m) => match path.split_first() {
            None => m,
            Some((first, rest)) => ensure_obj(m.entry(first.to_string()).or_insert_with(|| json!({})), rest),
        },
        other => {
            *other = json!({});
            ensure_obj(other, path)
        }
    }
}

fn default_if_missing(m: &mut Map<String, Value>, key: &str, v: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.into(), v);
    }
}

fn default_pod(pod: &mut Value) {
    let spec = ensure_obj(pod, &["spec"]);
    default_if_missing(spec, "restartPolicy", json!("Always"));
    default_if_missing(spec, "dnsPolicy", json!("ClusterFirst"));
    default_if_missing(spec, "schedulerName", json!("default-scheduler"));
    default_if_missing(spec, "terminationGracePeriodSeconds", json!(30));
    default_if_missing(spec, "securityContext", json!({}));
    default_if_missing(spec, "enableServiceLinks", json!(true));
    default_if_missing(spec, "serviceAccountName", json!("default"));
    let sa = spec.get("serviceAccountName").cloned().unwrap_or(json!("default"));
    spec.insert("serviceAccount".into(), sa);
    default_if_missing(spec, "priority", json!(0));
    default_if_missing(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    // DefaultTolerationSeconds admission.
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    if !tolerations.is_array() {
        *tolerations = json!([]);
    }
    if let Some(list) = tolerations.as_array_mut() {
        for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
            let present = list.iter().any(|t| {
                t.get("key").and_then(Value::as_str) == Some(key)
                    && t.get("effect").and_then(Value::as_str).is_none_or(|e| e == "NoExecute")
            });
            if !present {
                list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs.iter_mut() {
                let Some(c) = c.as_object_mut() else { continue };
                let image = c.get("image").and_then(Value::as_str).unwrap_or("").to_string();
                default_if_missing(c, "imagePullPolicy", json!(default_pull_policy(&image)));
                default_if_missing(c, "terminationMessagePath", json!("/dev/termination-log"));
                default_if_missing(c, "terminationMessagePolicy", json!("File"));
                default_if_missing(c, "resources", json!({}));
                if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        default_if_missing(p, "protocol", json!("TCP"));
                    }
                }
                // A missing request defaults to the limit of the same resource.
                if let Some(res) = c.get_mut("resources").and_then(Value::as_object_mut)
                    && let Some(limits) = res.get("limits").and_then(Value::as_object).cloned()
                    && !limits.is_empty()
                {
                    let requests = res.entry("requests").or_insert_with(|| json!({}));
                    if !requests.is_object() {
                        *requests = json!({});
                    }
                    if let Some(req) = requests.as_object_mut() {
                        for (k, v) in limits {
                            req.entry(k).or_insert(v);
                        }
                    }
                }
            }
        }
    }
}

/// `Always` for `:latest` or untagged images, else `IfNotPresent`.
pub(crate) fn default_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn canonicalize_pod(pod: &mut Value, res: Resource, name: &str) -> Result<(), ApiError> {
    for list in ["containers", "initContainers"] {
        let n = pod.pointer(&format!("/spec/{list}")).and_then(Value::as_array).map_or(0, Vec::len);
        for i in 0..n {
            for which in ["requests", "limits"] {
                let path = format!("/spec/{list}/{i}/resources/{which}");
                if let Some(m) = pod.pointer_mut(&path).and_then(Value::as_object_mut) {
                    for (_, v) in m.iter_mut() {
                        canonicalize_json(v).map_err(|e| decode_error(res, name, &e.to_string()))?;
                    }
                }
            }
        }
    }
    if let Some(vols) = pod.pointer_mut("/spec/volumes").and_then(Value::as_array_mut) {
        for v in vols {
            if let Some(q) = v.pointer_mut("/emptyDir/sizeLimit") {
                canonicalize_json(q).map_err(|e| decode_error(res, name, &e.to_string()))?;
            }
        }
    }
    if let Some(m) = pod.pointer_mut("/spec/overhead").and_then(Value::as_object_mut) {
        for (_, v) in m.iter_mut() {
            canonicalize_json(v).map_err(|e| decode_error(res, name, &e.to_string()))?;
        }
    }
    Ok(())
}

fn canonicalize_at(obj: &mut Value, path: &[&str], res: Resource, name: &str) -> Result<(), ApiError> {
    let pointer = format!("/{}", path.join("/"));
    if let Some(m) = obj.pointer_mut(&pointer).and_then(Value::as_object_mut) {
        for (_, v) in m.iter_mut() {
            if v.is_null() {
                continue;
            }
            canonicalize_json(v).map_err(|e| decode_error(res, name, &e.to_string()))?;
        }
    }
    Ok(())
}

/// The 400 the API server gives when the body does not decode into the kind.
fn decode_error(res: Resource, _name: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!("{} in version \"v1\" cannot be handled as a {}: {why}", res.kind(), res.kind()))
}

fn is_env_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && !b[0].is_ascii_digit()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-' || *c == b'.')
}

fn validate_pod(pod: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = pod.get("spec").cloned().unwrap_or(Value::Null);
    let volumes: BTreeSet<String> = spec
        .get("volumes")
        .and_then(Value::as_array)
        .map(|vs| vs.iter().filter_map(|v| v.get("name").and_then(Value::as_str)).map(String::from).collect())
        .unwrap_or_default();
    if let Some(vs) = spec.get("volumes").and_then(Value::as_array) {
        let mut seen = BTreeSet::new();
        for (i, v) in vs.iter().enumerate() {
            let vname = v.get("name").and_then(Value::as_str).unwrap_or("");
            if vname.is_empty() {
                errs.push(FieldError::required(format!("spec.volumes[{i}].name"), ""));
            } else if let Err(e) = dns1123_label(vname) {
                errs.push(FieldError::invalid(format!("spec.volumes[{i}].name"), vname, &e));
            } else if !seen.insert(vname) {
                errs.push(FieldError {
                    cause: "FieldValueDuplicate",
                    field: format!("spec.volumes[{i}].name"),
                    detail: format!("Duplicate value: {vname:?}"),
                });
            }
            if let Some(pvc) = v.get("persistentVolumeClaim")
                && pvc.get("claimName").and_then(Value::as_str).is_none_or(str::is_empty)
            {
                errs.push(FieldError::required(format!("spec.volumes[{i}].persistentVolumeClaim.claimName"), ""));
            }
        }
    }
    let containers = spec.get("containers").and_then(Value::as_array);
    if containers.is_none_or(Vec::is_empty) {
        errs.push(FieldError::required("spec.containers", ""));
    }
    let mut names = BTreeSet::new();
    for list in ["initContainers", "containers"] {
        let Some(cs) = spec.get(list).and_then(Value::as_array) else { continue };
        for (i, c) in cs.iter().enumerate() {
            let base = format!("spec.{list}[{i}]");
            let cname = c.get("name").and_then(Value::as_str).unwrap_or("");
            if cname.is_empty() {
                errs.push(FieldError::required(format!("{base}.name"), ""));
            } else if let Err(e) = dns1123_label(cname) {
                errs.push(FieldError::invalid(format!("{base}.name"), cname, &e));
            } else if !names.insert(cname.to_string()) {
                errs.push(FieldError {
                    cause: "FieldValueDuplicate",
                    field: format!("{base}.name"),
                    detail: format!("Duplicate value: {cname:?}"),
                });
            }
            if c.get("image").and_then(Value::as_str).is_none_or(|s| s.trim().is_empty()) {
                errs.push(FieldError::required(format!("{base}.image"), ""));
            }
            if let Some(p) = c.get("imagePullPolicy").and_then(Value::as_str)
                && !["Always", "IfNotPresent", "Never"].contains(&p)
            {
                errs.push(FieldError::not_supported(
                    format!("{base}.imagePullPolicy"),
                    p,
                    &["Always", "IfNotPresent", "Never"],
                ));
            }
            if let Some(ports) = c.get("ports").and_then(Value::as_array) {
                for (j, p) in ports.iter().enumerate() {
                    let port = p.get("containerPort").and_then(Value::as_i64).unwrap_or(0);
                    if !(1..=65535).contains(&port) {
                        errs.push(FieldError::invalid(
                            format!("{base}.ports[{j}].containerPort"),
                            &port.to_string(),
                            "must be between 1 and 65535, inclusive",
                        ));
                    }
                    if let Some(n) = p.get("name").and_then(Value::as_str)
                        && (n.len() > 15 || dns1123_label(n).is_err())
                    {
                        errs.push(FieldError::invalid(
                            format!("{base}.ports[{j}].name"),
                            n,
                            "must be no more than 15 characters and a valid IANA_SVC_NAME",
                        ));
                    }
                }
            }
            if let Some(env) = c.get("env").and_then(Value::as_array) {
                for (j, e) in env.iter().enumerate() {
                    let n = e.get("name").and_then(Value::as_str).unwrap_or("");
                    if n.is_empty() {
                        errs.push(FieldError::required(format!("{base}.env[{j}].name"), ""));
                    } else if !is_env_name(n) {
                        errs.push(FieldError::invalid(format!("{base}.env[{j}].name"), n, "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit"));
                    }
                }
            }
            if let Some(mounts) = c.get("volumeMounts").and_then(Value::as_array) {
                for (j, m) in mounts.iter().enumerate() {
                    let n = m.get("name").and_then(Value::as_str).unwrap_or("");
                    if !volumes.contains(n) {
                        errs.push(FieldError {
                            cause: "FieldValueNotFound",
                            field: format!("{base}.volumeMounts[{j}].name"),
                            detail: format!("Not found: {n:?}"),
                        });
                    }
                    if m.get("mountPath").and_then(Value::as_str).is_none_or(str::is_empty) {
                        errs.push(FieldError::required(format!("{base}.volumeMounts[{j}].mountPath"), ""));
                    }
                }
            }
            errs.extend(validate_resources(c.get("resources"), &format!("{base}.resources")));
        }
    }
    if let Some(rp) = spec.get("restartPolicy").and_then(Value::as_str)
        && !["Always", "OnFailure", "Never"].contains(&rp)
    {
        errs.push(FieldError::not_supported("spec.restartPolicy", rp, &["Always", "OnFailure", "Never"]));
    }
    errs
}

fn is_standard(resource: &str) -> bool {
    matches!(resource, "cpu" | "memory" | "ephemeral-storage" | "storage") || resource.starts_with("hugepages-")
}

fn validate_resources(res: Option<&Value>, base: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(res) = res else { return errs };
    let get = |which: &str| -> Vec<(String, Quantity, String)> {
        res.get(which)
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        Quantity::from_json(v).ok().map(|q| (k.clone(), q, v.as_str().unwrap_or("").to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let limits = get("limits");
    let requests = get("requests");
    for (which, list) in [("limits", &limits), ("requests", &requests)] {
        for (k, q, text) in list {
            if q.nano() < 0 {
                errs.push(FieldError::invalid(
                    format!("{base}.{which}[{k}]"),
                    text,
                    "must be greater than or equal to 0",
                ));
            }
            if !is_standard(k) && !q.is_integer() {
                errs.push(FieldError::invalid(format!("{base}.{which}[{k}]"), text, "must be an integer"));
            }
        }
    }
    for (k, req, text) in &requests {
        let Some((_, lim, lim_text)) = limits.iter().find(|(lk, _, _)| lk == k) else {
            if !is_standard(k) {
                errs.push(FieldError::forbidden(
                    format!("{base}.limits"),
                    "Limit must be set for non overcommitable resources",
                ));
            }
            continue;
        };
        if is_standard(k) {
            if req.nano() > lim.nano() {
                errs.push(FieldError::invalid(
                    format!("{base}.requests"),
                    text,
                    &format!("must be less than or equal to {k} limit of {lim_text}"),
                ));
            }
        } else if req.nano() != lim.nano() {
            errs.push(FieldError::invalid(
                format!("{base}.requests[{k}]"),
                text,
                &format!("must be equal to {k} limit of {lim_text}"),
            ));
        }
    }
    errs
}

fn set_pod_status_at_create(pod: &mut Value) {
    let qos = qos_class(pod);
    set(pod, "status", json!({"phase": "Pending", "qosClass": qos}));
}

/// Guaranteed / Burstable / BestEffort from cpu and memory requests and limits.
pub(crate) fn qos_class(pod: &Value) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    for list in ["containers", "initContainers"] {
        let Some(cs) = pod.pointer(&format!("/spec/{list}")).and_then(Value::as_array) else { continue };
        for c in cs {
            let q = |which: &str, r: &str| {
                c.pointer(&format!("/resources/{which}/{r}"))
                    .and_then(|v| Quantity::from_json(v).ok())
                    .map(|q| q.nano())
            };
            for r in ["cpu", "memory"] {
                let (req, lim) = (q("requests", r), q("limits", r));
                if req.is_some_and(|v| v != 0) || lim.is_some_and(|v| v != 0) {
                    any = true;
                }
                if lim.is_none() || req != lim {
                    guaranteed = false;
                }
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn default_pvc(pvc: &mut Value, ctx: &AdmitCtx<'_>) {
    let spec = ensure_obj(pvc, &["spec"]);
    default_if_missing(spec, "volumeMode", json!("Filesystem"));
    let unset = spec.get("storageClassName").is_none_or(Value::is_null);
    // The DefaultStorageClass admission plugin leaves claims with the legacy annotation alone.
    if unset
        && pvc.pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class").is_none()
        && let Some(sc) = ctx.default_storage_class
    {
        let spec = ensure_obj(pvc, &["spec"]);
        spec.insert("storageClassName".into(), json!(sc));
    }
}

fn validate_pvc(pvc: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let modes = pvc.pointer("/spec/accessModes").and_then(Value::as_array);
    match modes {
        Some(m) if !m.is_empty() => {
            let supported = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];
            for mode in m {
                let s = mode.as_str().unwrap_or("");
                if !supported.contains(&s) {
                    errs.push(FieldError::not_supported("spec.accessModes", s, &supported));
                }
            }
        }
        _ => errs.push(FieldError::required("spec.accessModes", "at least 1 access mode is required")),
    }
    match pvc.pointer("/spec/resources/requests/storage") {
        None | Some(Value::Null) => errs.push(FieldError::required("spec.resources[storage]", "")),
        Some(v) => {
            if Quantity::from_json(v).is_ok_and(|q| q.nano() <= 0) {
                errs.push(FieldError::invalid(
                    "spec.resources[storage]",
                    v.as_str().unwrap_or(""),
                    "must be greater than zero",
                ));
            }
        }
    }
    errs
}

fn default_service(svc: &mut Value) {
    let spec = ensure_obj(svc, &["spec"]);
    default_if_missing(spec, "type", json!("ClusterIP"));
    default_if_missing(spec, "sessionAffinity", json!("None"));
    default_if_missing(spec, "ipFamilies", json!(["IPv4"]));
    default_if_missing(spec, "ipFamilyPolicy", json!("SingleStack"));
    default_if_missing(spec, "internalTrafficPolicy", json!("Cluster"));
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            default_if_missing(p, "protocol", json!("TCP"));
            if let Some(port) = p.get("port").cloned() {
                default_if_missing(p, "targetPort", port);
            }
        }
    }
}

fn validate_service(svc: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let headless = svc.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
    let ports = svc.pointer("/spec/ports").and_then(Value::as_array);
    if ports.is_none_or(Vec::is_empty) && !headless {
        errs.push(FieldError::required("spec.ports", ""));
    }
    for (i, p) in ports.into_iter().flatten().enumerate() {
        let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
        if !(1..=65535).contains(&port) {
            errs.push(FieldError::invalid(
                format!("spec.ports[{i}].port"),
                &port.to_string(),
                "must be between 1 and 65535, inclusive",
            ));
        }
    }
    let t = svc.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP");
    let types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    if !types.contains(&t) {
        errs.push(FieldError::not_supported("spec.type", t, &types));
    }
    errs
}

fn admit_secret(secret: &mut Value, name: &str) -> Result<(), ApiError> {
    let string_data = secret.as_object_mut().and_then(|m| m.remove("stringData"));
    let data = ensure_obj(secret, &["data"]);
    for (k, v) in data.iter() {
        let s = v.as_str().unwrap_or("");
        if !v.is_string() || base64::engine::general_purpose::STANDARD.decode(s).is_err() {
            return Err(decode_error(Resource::Secrets, name, &format!("illegal base64 data in data[{k}]")));
        }
    }
    if let Some(Value::Object(sd)) = string_data {
        for (k, v) in sd {
            let s = v.as_str().unwrap_or("").to_string();
            data.insert(k, json!(base64::engine::general_purpose::STANDARD.encode(s)));
        }
    }
    if let Some(m) = secret.as_object_mut() {
        default_if_missing(m, "type", json!("Opaque"));
    }
    Ok(())
}

fn validate_secret(secret: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(data) = secret.get("data").and_then(Value::as_object) {
        for k in data.keys() {
            let ok =
                !k.is_empty() && k.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.');
            if !ok {
                errs.push(FieldError::invalid(
                    format!("data[{k}]"),
                    k,
                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                ));
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> AdmitCtx<'static> {
        AdmitCtx { default_storage_class: Some("standard") }
    }

    fn pod(container: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "jupyter-alice", "namespace": "jhub"},
               "spec": {"containers": [container]}})
    }

    #[test]
    fn pod_defaults_and_canonical_quantities() {
        let mut p = pod(json!({"name": "notebook", "image": "quay.io/zhonger/base-notebook:v3",
            "resources": {"limits": {"cpu": 8.0, "memory": 17179869184u64, "nvidia.com/gpu": "1"},
                          "requests": {"memory": 1073741824}}}));
        assert_eq!(admit_create(Resource::Pods, &mut p, &ctx()), Ok(()));
        let res = &p["spec"]["containers"][0]["resources"];
        assert_eq!(res["limits"]["cpu"], json!("8"));
        assert_eq!(res["limits"]["memory"], json!("17179869184"));
        assert_eq!(res["requests"]["cpu"], json!("8"), "missing request defaults to the limit");
        assert_eq!(res["requests"]["memory"], json!("1073741824"));
        assert_eq!(res["requests"]["nvidia.com/gpu"], json!("1"));
        assert_eq!(p["spec"]["restartPolicy"], json!("Always"));
        assert_eq!(p["spec"]["schedulerName"], json!("default-scheduler"));
        assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], json!("IfNotPresent"));
        assert_eq!(p["status"]["phase"], json!("Pending"));
        assert_eq!(p["status"]["qosClass"], json!("Burstable"));
    }

    #[test]
    fn invalid_pods_are_422_with_causes() {
        let mut p = pod(json!({"name": "Bad_Name"}));
        let err = admit_create(Resource::Pods, &mut p, &ctx());
        let err = err.err();
        assert_eq!(err.as_ref().map(|e| e.code), Some(422));
        let msg = err.map(|e| e.message).unwrap_or_default();
        assert!(msg.starts_with("Pod \"jupyter-alice\" is invalid: ["), "{msg}");
        assert!(msg.contains("spec.containers[0].image: Required value"), "{msg}");
        assert!(msg.contains("spec.containers[0].name: Invalid value: \"Bad_Name\""), "{msg}");

        let mut p = pod(json!({"name": "c", "image": "x", "resources": {"limits": {"cpu": "lots"}}}));
        let err = admit_create(Resource::Pods, &mut p, &ctx()).err();
        assert_eq!(err.as_ref().map(|e| e.code), Some(400));
        assert!(err.map(|e| e.message).unwrap_or_default().contains("quantities must match the regular expression"));

        let mut p =
            pod(json!({"name": "c", "image": "x", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "2"}}}));
        assert_eq!(admit_create(Resource::Pods, &mut p, &ctx()).err().map(|e| e.code), Some(422));

        let mut p = json!({"metadata": {"name": "UPPER", "namespace": "x"}, "spec": {}});
        let err = admit_create(Resource::Pods, &mut p, &ctx()).err().map(|e| e.message).unwrap_or_default();
        assert!(err.contains("metadata.name: Invalid value: \"UPPER\""), "{err}");
        assert!(err.contains("spec.containers: Required value"), "{err}");
    }

    #[test]
    fn pvc_needs_storage_and_gets_default_class() {
        let mut pvc = json!({"metadata": {"name": "claim-alice", "namespace": "jhub"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": null}}}});
        let err = admit_create(Resource::PersistentVolumeClaims, &mut pvc, &ctx()).err();
        assert_eq!(
            err.map(|e| e.message),
            Some(
                "PersistentVolumeClaim \"claim-alice\" is invalid: spec.resources[storage]: Required value".to_string()
            )
        );
        let mut pvc = json!({"metadata": {"name": "claim-alice", "namespace": "jhub"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "100Gi"}}}});
        assert_eq!(admit_create(Resource::PersistentVolumeClaims, &mut pvc, &ctx()), Ok(()));
        assert_eq!(pvc["spec"]["storageClassName"], json!("standard"));
        assert_eq!(pvc["status"]["phase"], json!("Pending"));
    }

    #[test]
    fn names_and_secrets() {
        assert!(dns1123_subdomain("jupyter-alice").is_ok());
        assert!(dns1123_subdomain("a.b-c").is_ok());
        assert!(dns1123_subdomain("-a").is_err());
        assert!(dns1035_label("1abc").is_err());
        assert!(dns1123_label(&"a".repeat(64)).is_err());
        let mut s = json!({"metadata": {"name": "s", "namespace": "n"}, "stringData": {"k": "v"}});
        assert_eq!(admit_create(Resource::Secrets, &mut s, &ctx()), Ok(()));
        assert_eq!(s["data"]["k"], json!("dg=="));
        assert_eq!(s["type"], json!("Opaque"));
        assert_eq!(default_pull_policy("busybox"), "Always");
        assert_eq!(default_pull_policy("localhost:5000/x"), "Always");
        assert_eq!(default_pull_policy("localhost:5000/x:v1"), "IfNotPresent");
    }
}
