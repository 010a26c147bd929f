//! How many servers of each profile option fit on the cluster right now.
//!
//! Pure: the nodes (allocatable, labels, taints) and the bound pods' requests
//! come in as JSON (`jhub-kube` keeps them from watches), the option's pod is
//! the manifest [`crate::manifest::build_pod`] produces for it, and the
//! answer is plain numbers ([`jhub_core::capacity`]).
//!
//! The count for an option is the sum over nodes the pod may run on of how
//! many copies of the pod fit into what is left there:
//! `min over requested resources r of floor((allocatable[r] - used[r]) / request[r])`,
//! and at most the node's free pod slots (`allocatable.pods`). This follows
//! kube-scheduler's filters for a pod that is alone in the queue:
//!
//! - NodeUnschedulable (a cordoned node counts only for a pod tolerating
//!   `node.kubernetes.io/unschedulable:NoSchedule`), TaintToleration
//!   (`NoSchedule` and `NoExecute` taints must be tolerated), NodeAffinity
//!   (`nodeSelector` and required node affinity terms, `matchExpressions`
//!   `In`/`NotIn`/`Exists`/`DoesNotExist`/`Gt`/`Lt` and `matchFields` on
//!   `metadata.name`), NodeResourcesFit (every requested resource, extended
//!   ones included; a resource the node does not have fits zero times);
//! - a pod's request is the larger of its containers' sum and each init
//!   container, plus `overhead`; a resource given only as a limit is
//!   requested at the limit (the API server's defaulting);
//! - used = the requests of the pods bound to the node that have not
//!   finished (phase not Succeeded/Failed), whatever their namespace.
//!
//! Simplifications, stated: pods waiting in the queue, preemption, pod
//! (anti-)affinity, topology spread, volume limits and zones, host ports,
//! scheduling gates and sidecar (restartable init) containers' different
//! accounting are not modelled. Copies of one option on one node are counted
//! as if nobody else scheduled meanwhile; different options share the same
//! free resources, so their numbers are each "if only this option were
//! started", not additive.

use crate::config::SpawnerConfig;
use crate::manifest::{PodContext, build_pod, names_for};
use crate::profiles::{ProfileList, UserOptions, apply_group_overrides, resolve_for};
use jhub_core::capacity::{CapacityReport, NodeFree, OptionCapacity};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Amounts per resource name, in thousandths (`1` CPU = 1000, `1Gi` =
/// 1073741824000, one GPU = 1000).
pub type Amounts = BTreeMap<String, i128>;

/// A Kubernetes quantity (`"2"`, `"500m"`, `"16Gi"`, `"1e3"`, or a JSON
/// number) in thousandths, rounded up like the API server rounds requests
/// below its precision. `None` for anything else.
pub fn quantity_milli(value: &Value) -> Option<i128> {
    match value {
        Value::String(text) => parse_milli(text.trim()),
        Value::Number(n) => parse_milli(&n.to_string()),
        _ => None,
    }
}

fn parse_milli(text: &str) -> Option<i128> {
    // (suffix, numerator, denominator) of the multiplier.
    const SUFFIXES: [(&str, i128, i128); 16] = [
        ("Ki", 1 << 10, 1),
        ("Mi", 1 << 20, 1),
        ("Gi", 1 << 30, 1),
        ("Ti", 1 << 40, 1),
        ("Pi", 1 << 50, 1),
        ("Ei", 1 << 60, 1),
        ("n", 1, 1_000_000_000),
        ("u", 1, 1_000_000),
        ("m", 1, 1_000),
        ("k", 1_000, 1),
        ("M", 1_000_000, 1),
        ("G", 1_000_000_000, 1),
        ("T", 1_000_000_000_000, 1),
        ("P", 1_000_000_000_000_000, 1),
        ("E", 1_000_000_000_000_000_000, 1),
        ("", 1, 1),
    ];
    let (number, num, den) = if let Some((mantissa, exponent)) = text.split_once(['e', 'E']) {
        let exp: u32 = exponent.parse().ok().filter(|e| *e <= 18)?;
        (mantissa, 10i128.pow(exp), 1)
    } else {
        SUFFIXES.iter().find_map(|(suffix, num, den)| text.strip_suffix(suffix).map(|n| (n, *num, *den)))?
    };
    let (negative, digits) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number.strip_prefix('+').unwrap_or(number)),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 18
    {
        return None;
    }
    let mantissa: i128 = format!("{whole}{frac}").parse().ok()?;
    let scale = 10i128.checked_pow(u32::try_from(frac.len()).ok()?)?;
    let top = mantissa.checked_mul(num)?.checked_mul(1000)?;
    let bottom = scale.checked_mul(den)?;
    let milli = (top + bottom - 1) / bottom; // round up
    Some(if negative { -milli } else { milli })
}

/// Thousandths back to a quantity string (`1000` → `"1"`, `500` → `"500m"`).
pub fn format_milli(milli: i128) -> String {
    if milli % 1000 == 0 { (milli / 1000).to_string() } else { format!("{milli}m") }
}

/// Whether a resource name is an extended resource (a GPU, an FPGA...), as
/// opposed to the native `cpu`, `memory`, `ephemeral-storage`, `pods` and
/// `hugepages-*`.
pub fn is_extended(resource: &str) -> bool {
    !matches!(resource, "cpu" | "memory" | "ephemeral-storage" | "storage" | "pods")
        && !resource.starts_with("hugepages-")
}

fn container_requests(container: &Value) -> Amounts {
    let mut out = Amounts::new();
    let resources = &container["resources"];
    // A limit without a request is requested at the limit (API defaulting).
    for part in ["limits", "requests"] {
        if let Some(map) = resources.get(part).and_then(Value::as_object) {
            for (name, value) in map {
                if let Some(milli) = quantity_milli(value) {
                    out.insert(name.clone(), milli);
                }
            }
        }
    }
    out
}

/// What a pod spec requests as the scheduler counts it: per resource the
/// larger of the containers' sum and each init container, plus `overhead`.
pub fn pod_requests(spec: &Value) -> Amounts {
    let mut sum = Amounts::new();
    for container in spec.get("containers").and_then(Value::as_array).into_iter().flatten() {
        for (name, milli) in container_requests(container) {
            *sum.entry(name).or_default() += milli;
        }
    }
    for init in spec.get("initContainers").and_then(Value::as_array).into_iter().flatten() {
        for (name, milli) in container_requests(init) {
            let slot = sum.entry(name).or_default();
            *slot = (*slot).max(milli);
        }
    }
    if let Some(overhead) = spec.get("overhead").and_then(Value::as_object) {
        for (name, value) in overhead {
            if let Some(milli) = quantity_milli(value) {
                *sum.entry(name.clone()).or_default() += milli;
            }
        }
    }
    sum.retain(|_, milli| *milli > 0);
    sum
}

/// A node taint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taint {
    /// Taint key.
    pub key: String,
    /// Taint value (may be empty).
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

/// What the fit needs to know about one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `spec.taints`, plus `node.kubernetes.io/unschedulable:NoSchedule` for
    /// a cordoned node (as the scheduler treats `spec.unschedulable`).
    pub taints: Vec<Taint>,
    /// `status.allocatable`.
    pub allocatable: Amounts,
}

impl NodeInfo {
    /// Reads a core/v1 Node; `None` without a name.
    pub fn from_json(node: &Value) -> Option<Self> {
        let name = node.pointer("/metadata/name").and_then(Value::as_str)?.to_string();
        let labels = node
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
        let mut taints: Vec<Taint> = node
            .pointer("/spec/taints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|t| Taint { key: text(t, "key"), value: text(t, "value"), effect: text(t, "effect") })
            .collect();
        if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
            taints.push(Taint {
                key: "node.kubernetes.io/unschedulable".into(),
                value: String::new(),
                effect: "NoSchedule".into(),
            });
        }
        let allocatable = node
            .pointer("/status/allocatable")
            .and_then(Value::as_object)
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), quantity_milli(v)?))).collect())
            .unwrap_or_default();
        Some(Self { name, labels, taints, allocatable })
    }
}

/// Where a pod may go and what it takes: read from a pod manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Demand {
    /// [`pod_requests`] of the pod.
    pub requests: Amounts,
    node_selector: BTreeMap<String, String>,
    /// `requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`; `None` when absent.
    required_terms: Option<Vec<Value>>,
    tolerations: Vec<Value>,
}

impl Demand {
    /// From a pod manifest (`{"spec": ...}`) or a bare pod spec.
    pub fn from_pod(pod: &Value) -> Self {
        let spec = pod.get("spec").unwrap_or(pod);
        let node_selector = spec
            .get("nodeSelector")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect()
            })
            .unwrap_or_default();
        let required_terms = spec
            .pointer("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
            .and_then(Value::as_array)
            .cloned();
        let tolerations = spec.get("tolerations").and_then(Value::as_array).cloned().unwrap_or_default();
        Self { requests: pod_requests(spec), node_selector, required_terms, tolerations }
    }

    /// Whether it asks for any extended resource (GPUs...).
    pub fn wants_extended(&self) -> bool {
        self.requests.keys().any(|r| is_extended(r))
    }

    /// Whether the pod may run on `node` at all (selector, affinity, taints).
    pub fn may_run_on(&self, node: &NodeInfo) -> bool {
        self.node_selector.iter().all(|(k, v)| node.labels.get(k) == Some(v))
            && self.required_terms.as_ref().is_none_or(|terms| terms.iter().any(|t| term_matches(t, node)))
            && node
                .taints
                .iter()
                .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
                .all(|taint| self.tolerations.iter().any(|tol| tolerates(tol, taint)))
    }

    /// How many copies fit on `node` given what is `used` there
    /// (`used_pods` pods bound).
    pub fn fits_on(&self, node: &NodeInfo, used: &Amounts, used_pods: u64) -> u64 {
        let mut count = u64::MAX;
        if let Some(slots) = node.allocatable.get("pods") {
            let free = (slots / 1000 - i128::from(used_pods)).max(0);
            count = count.min(u64::try_from(free).unwrap_or(0));
        }
        for (resource, want) in &self.requests {
            let have = node.allocatable.get(resource).copied().unwrap_or(0) - used.get(resource).copied().unwrap_or(0);
            let n = if have <= 0 { 0 } else { have / want };
            count = count.min(u64::try_from(n).unwrap_or(0));
        }
        if count == u64::MAX { 0 } else { count }
    }
}

fn term_matches(term: &Value, node: &NodeInfo) -> bool {
    let exprs = term.get("matchExpressions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let fields = term.get("matchFields").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    // An empty term selects no node.
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs.iter().all(|e| requirement(e, node.labels.get(e["key"].as_str().unwrap_or("")).map(String::as_str)))
        && fields.iter().all(|e| e["key"].as_str() == Some("metadata.name") && requirement(e, Some(&node.name)))
}

fn requirement(expr: &Value, actual: Option<&str>) -> bool {
    let values: Vec<&str> = expr["values"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let number = |s: &str| s.parse::<i64>().ok();
    match expr["operator"].as_str().unwrap_or("") {
        "In" => actual.is_some_and(|a| values.contains(&a)),
        "NotIn" => actual.is_none_or(|a| !values.contains(&a)),
        "Exists" => actual.is_some(),
        "DoesNotExist" => actual.is_none(),
        "Gt" => {
            matches!((actual.and_then(number), values.first().and_then(|v| number(v))), (Some(a), Some(b)) if a > b)
        }
        "Lt" => {
            matches!((actual.and_then(number), values.first().and_then(|v| number(v))), (Some(a), Some(b)) if a < b)
        }
        _ => false,
    }
}

fn tolerates(toleration: &Value, taint: &Taint) -> bool {
    let field = |k: &str| toleration.get(k).and_then(Value::as_str).unwrap_or("");
    let effect_ok = field("effect").is_empty() || field("effect") == taint.effect;
    let key = field("key");
    match field("operator") {
        // An empty key with Exists tolerates everything.
        "Exists" => effect_ok && (key.is_empty() || key == taint.key),
        "" | "Equal" => effect_ok && key == taint.key && field("value") == taint.value,
        _ => false,
    }
}

/// One pod that holds resources on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundPod {
    /// `spec.nodeName`.
    pub node: String,
    /// [`pod_requests`].
    pub requests: Amounts,
}

impl BoundPod {
    /// From a core/v1 Pod: `None` when it is not bound to a node or has
    /// finished (Succeeded/Failed pods hold nothing).
    pub fn from_json(pod: &Value) -> Option<Self> {
        let node = pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty())?;
        if matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed")) {
            return None;
        }
        Some(Self { node: node.to_string(), requests: pod_requests(&pod["spec"]) })
    }
}

/// Use per node: summed requests and the number of pods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeUse {
    /// Summed requests.
    pub requests: Amounts,
    /// Pods bound.
    pub pods: u64,
}

/// Sums bound pods per node.
pub fn usage<'a>(pods: impl IntoIterator<Item = &'a BoundPod>) -> HashMap<String, NodeUse> {
    let mut out: HashMap<String, NodeUse> = HashMap::new();
    for pod in pods {
        let slot = out.entry(pod.node.clone()).or_default();
        slot.pods += 1;
        for (name, milli) in &pod.requests {
            *slot.requests.entry(name.clone()).or_default() += milli;
        }
    }
    out
}

/// A profile option (or a profile without options) whose pod requests an
/// extended resource: the unit capacity is reported for.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Profile slug.
    pub profile: String,
    /// Option key, `None` for a profile without options.
    pub option: Option<String>,
    /// Choice key, `None` for a profile without options.
    pub choice: Option<String>,
    /// Where its pod may go and what it takes.
    pub demand: Demand,
}

/// The targets of the profiles a user in `groups` may use: each choice of
/// each option (the profile's other options at their defaults), or the
/// profile itself when it has no options, resolved exactly like a spawn
/// (`group_overrides`, the profile's and the choice's overrides) and built
/// into the pod manifest. Only those requesting an extended resource are
/// kept. A choice whose pod cannot be built (it would fail to spawn too) is
/// left out.
pub fn targets(cfg: &SpawnerConfig, groups: &[String]) -> Vec<Target> {
    let Ok((grouped, _)) = apply_group_overrides(cfg, groups) else { return Vec::new() };
    let Ok(list) = ProfileList::from_config(&grouped.profile_list) else { return Vec::new() };
    let list = list.for_groups(groups);
    let Ok(names) = names_for(cfg, "capacity-probe", 0, "") else { return Vec::new() };
    let ctx = PodContext {
        user_name: "capacity-probe".into(),
        user_id: 0,
        server_name: String::new(),
        names,
        hub_env: BTreeMap::new(),
        jupyterhub_version: String::new(),
    };
    let demand_for = |options: UserOptions| -> Option<Demand> {
        let resolved = resolve_for(cfg, &options, groups).ok()?;
        let pod = build_pod(&resolved.config, &ctx).ok()?;
        Some(Demand::from_pod(&pod)).filter(Demand::wants_extended)
    };
    let mut out = Vec::new();
    for profile in &list.profiles {
        let mut options = UserOptions::new();
        options.insert("profile".into(), Value::String(profile.slug.clone()));
        if profile.options.is_empty() {
            if let Some(demand) = demand_for(options) {
                out.push(Target { profile: profile.slug.clone(), option: None, choice: None, demand });
            }
            continue;
        }
        for option in &profile.options {
            for choice in &option.choices {
                let mut chosen = options.clone();
                chosen.insert(option.key.clone(), Value::String(choice.key.clone()));
                if let Some(demand) = demand_for(chosen) {
                    out.push(Target {
                        profile: profile.slug.clone(),
                        option: Some(option.key.clone()),
                        choice: Some(choice.key.clone()),
                        demand,
                    });
                }
            }
        }
    }
    out
}

/// How many servers of each target fit on `nodes` given their `used` resources.
pub fn report(targets: &[Target], nodes: &[NodeInfo], used: &HashMap<String, NodeUse>) -> CapacityReport {
    let idle = NodeUse::default();
    let options = targets
        .iter()
        .map(|target| {
            let nodes: Vec<NodeFree> = nodes
                .iter()
                .filter(|node| target.demand.may_run_on(node))
                .map(|node| {
                    let use_ = used.get(&node.name).unwrap_or(&idle);
                    NodeFree { name: node.name.clone(), free: target.demand.fits_on(node, &use_.requests, use_.pods) }
                })
                .collect();
            OptionCapacity {
                profile: target.profile.clone(),
                option: target.option.clone(),
                choice: target.choice.clone(),
                free: nodes.iter().map(|n| n.free).sum(),
                requests: target.demand.requests.iter().map(|(k, v)| (k.clone(), format_milli(*v))).collect(),
                nodes,
            }
        })
        .collect();
    CapacityReport { options }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn node(name: &str, labels: Value, allocatable: Value, taints: Value) -> NodeInfo {
        NodeInfo::from_json(&json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"taints": taints},
            "status": {"allocatable": allocatable}
        }))
        .unwrap()
    }

    fn gpu_node(name: &str, gputype: &str, gpus: u32) -> NodeInfo {
        node(
            name,
            json!({"gputype": gputype, "kubernetes.io/hostname": name}),
            json!({"cpu": "32", "memory": "128Gi", "nvidia.com/gpu": gpus.to_string(), "pods": "110"}),
            json!([]),
        )
    }

    fn pod(spec: Value) -> Demand {
        Demand::from_pod(&json!({ "spec": spec }))
    }

    #[test]
    fn quantities_in_thousandths() {
        let q = |s: &str| quantity_milli(&json!(s));
        assert_eq!(q("2"), Some(2000));
        assert_eq!(q("500m"), Some(500));
        assert_eq!(q("0.1"), Some(100));
        assert_eq!(q("1.5Gi"), Some(1_610_612_736_000));
        assert_eq!(q("16G"), Some(16_000_000_000_000));
        assert_eq!(q("1e3"), Some(1_000_000));
        assert_eq!(q("100n"), Some(1), "rounded up");
        assert_eq!(quantity_milli(&json!(4)), Some(4000));
        assert_eq!(quantity_milli(&json!(0.25)), Some(250));
        for bad in ["", "abc", "1x", "1.2.3", "--1", "Gi"] {
            assert_eq!(q(bad), None, "{bad}");
        }
        assert_eq!(format_milli(2000), "2");
        assert_eq!(format_milli(1500), "1500m");
    }

    #[test]
    fn pod_request_is_max_of_containers_sum_and_each_init_plus_overhead() {
        let spec = json!({
            "containers": [
                {"resources": {"requests": {"cpu": "1"}, "limits": {"nvidia.com/gpu": "1", "cpu": "8"}}},
                {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}
            ],
            "initContainers": [{"resources": {"requests": {"cpu": "4", "nvidia.com/gpu": "1"}}}],
            "overhead": {"cpu": "250m"}
        });
        let r = pod_requests(&spec);
        assert_eq!(r["cpu"], 4250, "init container's 4 beats 1.5, plus overhead");
        assert_eq!(r["nvidia.com/gpu"], 1000, "limit-only is requested at the limit; init does not add");
        assert_eq!(r["memory"], 1_073_741_824_000);
    }

    #[test]
    fn count_is_floor_of_free_over_request_summed_over_matching_nodes() {
        let nodes = [gpu_node("l1", "A100", 2), gpu_node("l2", "P100", 2), gpu_node("l3", "A100", 4)];
        let a100 = pod(json!({
            "nodeSelector": {"gputype": "A100"},
            "containers": [{"resources": {"limits": {"nvidia.com/gpu": "1"}, "requests": {"cpu": "1"}}}]
        }));
        let used = usage(&[
            BoundPod { node: "l1".into(), requests: Amounts::from([("nvidia.com/gpu".into(), 1000)]) },
            BoundPod { node: "l2".into(), requests: Amounts::from([("nvidia.com/gpu".into(), 2000)]) },
        ]);
        let t =
            Target { profile: "gpu".into(), option: Some("image".into()), choice: Some("A100x1".into()), demand: a100 };
        let rep = report(std::slice::from_ref(&t), &nodes, &used);
        let o = &rep.options[0];
        assert_eq!(o.free, 1 + 4);
        assert_eq!(o.nodes, vec![NodeFree { name: "l1".into(), free: 1 }, NodeFree { name: "l3".into(), free: 4 }]);
        assert_eq!(o.requests, BTreeMap::from([("cpu".into(), "1".into()), ("nvidia.com/gpu".into(), "1".into())]));
        // Two GPUs per server: floor(1/2) on l1, 2 on l3.
        let two = pod(
            json!({"nodeSelector": {"gputype": "A100"}, "containers": [{"resources": {"limits": {"nvidia.com/gpu": "2"}}}]}),
        );
        let rep = report(&[Target { demand: two, ..t.clone() }], &nodes, &used);
        assert_eq!(rep.options[0].free, 2);
    }

    #[test]
    fn cpu_memory_and_pod_slots_limit_too() {
        let n =
            node("n", json!({}), json!({"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "8", "pods": "3"}), json!([]));
        let d = pod(
            json!({"containers": [{"resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"nvidia.com/gpu": "1"}}}]}),
        );
        assert_eq!(d.fits_on(&n, &Amounts::new(), 0), 3, "pod slots");
        assert_eq!(d.fits_on(&n, &Amounts::new(), 3), 0, "no slot left");
        let used = Amounts::from([("cpu".into(), 2500)]);
        assert_eq!(d.fits_on(&n, &used, 1), 1, "1.5 CPUs left: one more");
        let big = pod(
            json!({"containers": [{"resources": {"requests": {"memory": "5Gi"}, "limits": {"nvidia.com/gpu": "1"}}}]}),
        );
        assert_eq!(big.fits_on(&n, &Amounts::new(), 0), 1);
        let other = pod(json!({"containers": [{"resources": {"limits": {"amd.com/gpu": "1"}}}]}));
        assert_eq!(other.fits_on(&n, &Amounts::new(), 0), 0, "a resource the node lacks fits zero times");
        let over = Amounts::from([("nvidia.com/gpu".into(), 9000)]);
        assert_eq!(d.fits_on(&n, &over, 0), 0, "overcommitted is zero, not negative");
    }

    #[test]
    fn taints_need_tolerations_and_cordoned_nodes_count_only_when_tolerated() {
        let tainted = node(
            "t",
            json!({}),
            json!({"nvidia.com/gpu": "2"}),
            json!([{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]),
        );
        let soft =
            node("s", json!({}), json!({"nvidia.com/gpu": "2"}), json!([{"key": "x", "effect": "PreferNoSchedule"}]));
        let plain = json!({"containers": [{"resources": {"limits": {"nvidia.com/gpu": "1"}}}]});
        assert!(!pod(plain.clone()).may_run_on(&tainted));
        assert!(pod(plain.clone()).may_run_on(&soft), "PreferNoSchedule does not filter");
        let mut equal = plain.clone();
        equal["tolerations"] = json!([{"key": "gpu", "operator": "Equal", "value": "yes", "effect": "NoSchedule"}]);
        assert!(pod(equal).may_run_on(&tainted));
        let mut wrong_value = plain.clone();
        wrong_value["tolerations"] = json!([{"key": "gpu", "value": "no"}]);
        assert!(!pod(wrong_value).may_run_on(&tainted));
        let mut exists_all = plain.clone();
        exists_all["tolerations"] = json!([{"operator": "Exists"}]);
        assert!(pod(exists_all).may_run_on(&tainted));
        let cordoned = NodeInfo::from_json(&json!({
            "metadata": {"name": "c"}, "spec": {"unschedulable": true}, "status": {"allocatable": {"nvidia.com/gpu": "2"}}
        }))
        .unwrap();
        assert!(!pod(plain).may_run_on(&cordoned));
    }

    #[test]
    fn required_node_affinity_terms_are_ored_expressions_anded() {
        let l1 = gpu_node("l1", "A100", 2);
        let l2 = gpu_node("l2", "P100", 2);
        let with = |terms: Value| {
            pod(json!({
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}},
                "containers": [{"resources": {"limits": {"nvidia.com/gpu": "1"}}}]
            }))
        };
        let a100 = with(json!([{"matchExpressions": [{"key": "gputype", "operator": "In", "values": ["A100"]}]}]));
        assert!(a100.may_run_on(&l1) && !a100.may_run_on(&l2));
        let not_a100 =
            with(json!([{"matchExpressions": [{"key": "gputype", "operator": "NotIn", "values": ["A100"]}]}]));
        assert!(!not_a100.may_run_on(&l1) && not_a100.may_run_on(&l2));
        let either = with(json!([
            {"matchExpressions": [{"key": "gputype", "operator": "In", "values": ["A100"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["l2"]}]}
        ]));
        assert!(either.may_run_on(&l1) && either.may_run_on(&l2));
        let both = with(json!([{"matchExpressions": [
            {"key": "gputype", "operator": "Exists"},
            {"key": "zone", "operator": "DoesNotExist"},
            {"key": "gputype", "operator": "In", "values": ["P100"]}
        ]}]));
        assert!(!both.may_run_on(&l1) && both.may_run_on(&l2));
        assert!(!with(json!([{}])).may_run_on(&l1), "an empty term selects nothing");
    }

    #[test]
    fn finished_and_unbound_pods_hold_nothing() {
        let bound = json!({"spec": {"nodeName": "l1", "containers": [{"resources": {"limits": {"nvidia.com/gpu": "1"}}}]}, "status": {"phase": "Running"}});
        assert_eq!(BoundPod::from_json(&bound).unwrap().requests["nvidia.com/gpu"], 1000);
        let mut done = bound.clone();
        done["status"]["phase"] = json!("Succeeded");
        assert_eq!(BoundPod::from_json(&done), None);
        let mut pending = bound;
        pending["spec"]["nodeName"] = json!("");
        assert_eq!(BoundPod::from_json(&pending), None);
    }

    fn seed_config() -> SpawnerConfig {
        SpawnerConfig {
            profile_list: json!([
                {"display_name": "CPU", "default": true, "kubespawner_override": {"cpu_guarantee": 1},
                 "profile_options": {"image": {"display_name": "host", "choices": {
                    "lab6": {"display_name": "l1", "kubespawner_override": {"node_selector": {"kubernetes.io/hostname": "l1"}}}}}}},
                {"display_name": "GPU", "slug": "gpu", "kubespawner_override": {"cpu_guarantee": 1, "mem_guarantee": "1G"},
                 "profile_options": {"image": {"display_name": "resources", "choices": {
                    "A100x1": {"display_name": "A100", "kubespawner_override": {"node_selector": {"gputype": "A100"}, "extra_resource_limits": {"nvidia.com/gpu": "1"}}},
                    "P100x1": {"display_name": "P100", "kubespawner_override": {"node_selector": {"gputype": "P100"}, "extra_resource_limits": {"nvidia.com/gpu": "1"}}}}}}},
                {"display_name": "Big", "slug": "big", "allowed_groups": ["staff"],
                 "kubespawner_override": {"extra_resource_limits": {"nvidia.com/gpu": "2"}}}
            ]),
            ..SpawnerConfig::default()
        }
    }

    #[test]
    fn targets_are_gpu_choices_of_the_profiles_the_groups_may_use() {
        let cfg = seed_config();
        let keys = |ts: &[Target]| -> Vec<(String, Option<String>)> {
            ts.iter().map(|t| (t.profile.clone(), t.choice.clone())).collect()
        };
        let mine = targets(&cfg, &[]);
        assert_eq!(
            keys(&mine),
            [("gpu".to_string(), Some("A100x1".to_string())), ("gpu".to_string(), Some("P100x1".to_string()))],
            "CPU-only choices are not targets; 'big' is for staff only"
        );
        assert_eq!(mine[0].demand.requests["nvidia.com/gpu"], 1000);
        assert_eq!(mine[0].demand.requests["cpu"], 1000, "the profile's own override applies");
        let staff = targets(&cfg, &["staff".to_string()]);
        assert_eq!(staff.len(), 3);
        assert_eq!(staff[2].option, None);
        let nodes = [gpu_node("l1", "A100", 2), gpu_node("l2", "P100", 2)];
        let used = usage(&[BoundPod { node: "l2".into(), requests: Amounts::from([("nvidia.com/gpu".into(), 2000)]) }]);
        let rep = report(&staff, &nodes, &used);
        let free: Vec<u64> = rep.options.iter().map(|o| o.free).collect();
        assert_eq!(free, [2, 0, 1], "A100: 2 free; P100: none; big (2 GPUs, any node): l1 only");
        assert_eq!(rep.find("gpu", Some("image"), Some("P100x1")).unwrap().nodes[0].name, "l2");
    }

    #[test]
    fn group_overrides_change_the_targets() {
        let mut cfg = seed_config();
        cfg.group_overrides = serde_json::from_value(json!({
            "01-two": {"groups": ["heavy"], "spawner_override": {"extra_resource_limits": {"nvidia.com/gpu": "2"}}}
        }))
        .unwrap();
        let heavy = targets(&cfg, &["heavy".to_string()]);
        let a100 = heavy.iter().find(|t| t.choice.as_deref() == Some("A100x1")).unwrap();
        // The group override sets 2 GPUs; the choice's own override sets 1 again on top.
        assert_eq!(a100.demand.requests["nvidia.com/gpu"], 1000);
        // The CPU profile gets GPUs through the group override, so it becomes a target.
        let cpu = heavy.iter().find(|t| t.profile == "cpu").unwrap();
        assert_eq!(cpu.demand.requests["nvidia.com/gpu"], 2000);
        assert!(!targets(&cfg, &[]).iter().any(|t| t.profile == "cpu"), "not for other groups");
    }
}
