//! The scheduling decision, as kube-scheduler's default filter plugins make it, with its
//! `FailedScheduling` message in the real format. Pure: nodes with their current usage in, a
//! node name or the message out. The loop that feeds it lives in `controller.rs`.
//!
//! Filters, in kube-scheduler's order: NodeUnschedulable, TaintToleration, NodeAffinity
//! (nodeSelector + required node affinity), NodeResourcesFit (every requested resource, including
//! extended ones such as `nvidia.com/gpu`, plus the pod count). PVC problems are a PreFilter
//! failure. Scoring: preferred node affinity plus LeastAllocated or MostAllocated on cpu/memory.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::config::Scoring;
use crate::quantity::Quantity;

/// A node as the scheduler sees it.
#[derive(Clone, Debug)]
pub(crate) struct NodeView {
    pub name: String,
    pub labels: Map<String, Value>,
    pub taints: Vec<Value>,
    pub unschedulable: bool,
    /// Allocatable per resource, in nano-units.
    pub allocatable: BTreeMap<String, i128>,
    /// Sum of bound pods' requests per resource (including `pods`), in nano-units.
    pub requested: BTreeMap<String, i128>,
    /// cpu and memory of bound pods with kube-scheduler's scoring defaults (100m, 200Mi) for
    /// containers that request nothing, so request-less pods still spread.
    pub nonzero: [i128; 2],
}

const ONE: i128 = 1_000_000_000;

impl NodeView {
    pub(crate) fn from_node(node: &Value) -> Self {
        let allocatable = node
            .pointer("/status/allocatable")
            .and_then(Value::as_object)
            .map(|m| m.iter().filter_map(|(k, v)| Quantity::from_json(v).ok().map(|q| (k.clone(), q.nano()))).collect())
            .unwrap_or_default();
        Self {
            name: node.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string(),
            labels: node.pointer("/metadata/labels").and_then(Value::as_object).cloned().unwrap_or_default(),
            taints: node.pointer("/spec/taints").and_then(Value::as_array).cloned().unwrap_or_default(),
            unschedulable: node.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false),
            allocatable,
            requested: BTreeMap::new(),
            nonzero: [0, 0],
        }
    }

    /// Adds a bound pod's requests to the node's usage.
    pub(crate) fn add(&mut self, pod: &Value) {
        for (k, v) in pod_requests(pod) {
            *self.requested.entry(k).or_insert(0) += v;
        }
        let nz = nonzero_requests(pod);
        self.nonzero[0] += nz[0];
        self.nonzero[1] += nz[1];
    }
}

/// cpu and memory requests with kube-scheduler's non-zero defaults, used only for scoring.
fn nonzero_requests(pod: &Value) -> [i128; 2] {
    const DEFAULTS: [i128; 2] = [100_000_000, 200 * 1024 * 1024 * ONE];
    let mut sum = [0i128; 2];
    for c in pod.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten() {
        for (i, r) in ["cpu", "memory"].iter().enumerate() {
            let q = c
                .pointer(&format!("/resources/requests/{r}"))
                .and_then(|v| Quantity::from_json(v).ok())
                .map(|q| q.nano())
                .filter(|n| *n > 0);
            sum[i] += q.unwrap_or(DEFAULTS[i]);
        }
    }
    sum
}

/// The effective requests of a pod: per resource, the larger of the sum over containers and the
/// largest init container, plus overhead, plus one `pods`.
pub(crate) fn pod_requests(pod: &Value) -> BTreeMap<String, i128> {
    let read = |c: &Value| -> BTreeMap<String, i128> {
        c.pointer("/resources/requests")
            .and_then(Value::as_object)
            .map(|m| m.iter().filter_map(|(k, v)| Quantity::from_json(v).ok().map(|q| (k.clone(), q.nano()))).collect())
            .unwrap_or_default()
    };
    let mut sum: BTreeMap<String, i128> = BTreeMap::new();
    for c in pod.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten() {
        for (k, v) in read(c) {
            *sum.entry(k).or_insert(0) += v;
        }
    }
    for c in pod.pointer("/spec/initContainers").and_then(Value::as_array).into_iter().flatten() {
        for (k, v) in read(c) {
            let e = sum.entry(k).or_insert(0);
            *e = (*e).max(v);
        }
    }
    if let Some(m) = pod.pointer("/spec/overhead").and_then(Value::as_object) {
        for (k, v) in m {
            if let Ok(q) = Quantity::from_json(v) {
                *sum.entry(k.clone()).or_insert(0) += q.nano();
            }
        }
    }
    sum.insert("pods".into(), ONE);
    sum
}

/// The outcome of one scheduling attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Bind(String),
    Unschedulable(String),
}

/// Why one node was filtered out.
struct NodeFailure {
    reasons: Vec<String>,
    /// Preemption could help (resources) vs. not (taints, selectors, cordon).
    resolvable: bool,
}

/// Decides where a pod goes. `prefilter` carries a PreFilter failure (PVC problems).
pub(crate) fn decide(pod: &Value, nodes: &[NodeView], prefilter: Option<String>, scoring: Scoring) -> Decision {
    let total = nodes.len();
    if total == 0 {
        return Decision::Unschedulable("no nodes available to schedule pods".into());
    }
    let never_preempts = pod.pointer("/spec/preemptionPolicy").and_then(Value::as_str) == Some("Never");
    let preemption = |hist: BTreeMap<String, usize>| -> String {
        if never_preempts {
            return "preemption: not eligible due to preemptionPolicy=Never.".into();
        }
        format!("preemption: 0/{total} nodes are available: {}.", histogram(hist))
    };
    if let Some(msg) = prefilter {
        let hist = BTreeMap::from([("Preemption is not helpful for scheduling".to_string(), total)]);
        return Decision::Unschedulable(format!("0/{total} nodes are available: {msg}. {}", preemption(hist)));
    }
    let requests = pod_requests(pod);
    let tolerations = pod.pointer("/spec/tolerations").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut feasible = Vec::new();
    let mut failures = Vec::new();
    for node in nodes {
        match filter(pod, node, &requests, &tolerations) {
            None => feasible.push(node),
            Some(f) => failures.push(f),
        }
    }
    if feasible.is_empty() {
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let mut pre: BTreeMap<String, usize> = BTreeMap::new();
        for f in &failures {
            for r in &f.reasons {
                *reasons.entry(r.clone()).or_insert(0) += 1;
            }
            let p = if f.resolvable {
                "No preemption victims found for incoming pod"
            } else {
                "Preemption is not helpful for scheduling"
            };
            *pre.entry(p.to_string()).or_insert(0) += 1;
        }
        return Decision::Unschedulable(format!(
            "0/{total} nodes are available: {}. {}",
            histogram(reasons),
            preemption(pre)
        ));
    }
    let preferred = pod
        .pointer("/spec/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let affinity: Vec<i64> = feasible
        .iter()
        .map(|n| {
            preferred
                .iter()
                .filter(|t| t.get("preference").is_some_and(|p| term_matches(p, n)))
                .map(|t| t.get("weight").and_then(Value::as_i64).unwrap_or(0))
                .sum()
        })
        .collect();
    let max_aff = affinity.iter().copied().max().unwrap_or(0);
    let pod_nz = nonzero_requests(pod);
    let mut best: Option<(i128, &NodeView)> = None;
    for (node, aff) in feasible.iter().zip(affinity) {
        let aff_score = if max_aff > 0 { i128::from(aff) * 100 / i128::from(max_aff) } else { 0 };
        let mut res_score = 0i128;
        for (i, r) in ["cpu", "memory"].iter().enumerate() {
            let alloc = node.allocatable.get(*r).copied().unwrap_or(0);
            if alloc <= 0 {
                continue;
            }
            let used = node.nonzero[i] + pod_nz[i];
            let frac = (used.clamp(0, alloc) * 100) / alloc;
            res_score += match scoring {
                Scoring::LeastAllocated => 100 - frac,
                Scoring::MostAllocated => frac,
            };
        }
        let score = aff_score + res_score / 2;
        // Ties go to the first node in name order, so tests are deterministic.
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, node));
        }
    }
    match best {
        Some((_, n)) => Decision::Bind(n.name.clone()),
        None => Decision::Unschedulable("no nodes available to schedule pods".into()),
    }
}

fn histogram(h: BTreeMap<String, usize>) -> String {
    let mut parts: Vec<String> = h.into_iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    parts.join(", ")
}

fn filter(
    pod: &Value,
    node: &NodeView,
    requests: &BTreeMap<String, i128>,
    tolerations: &[Value],
) -> Option<NodeFailure> {
    let unresolvable = |r: String| Some(NodeFailure { reasons: vec![r], resolvable: false });
    if node.unschedulable {
        let cordon = serde_json::json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"});
        if !tolerations.iter().any(|t| tolerates(t, &cordon)) {
            return unresolvable("node(s) were unschedulable".into());
        }
    }
    for taint in &node.taints {
        let effect = taint.get("effect").and_then(Value::as_str).unwrap_or("");
        if effect != "NoSchedule" && effect != "NoExecute" {
            continue;
        }
        if !tolerations.iter().any(|t| tolerates(t, taint)) {
            let key = taint.get("key").and_then(Value::as_str).unwrap_or("");
            let value = taint.get("value").and_then(Value::as_str).unwrap_or("");
            return unresolvable(format!("node(s) had untolerated taint {{{key}: {value}}}"));
        }
    }
    if !node_affinity_matches(pod, node) {
        return unresolvable("node(s) didn't match Pod's node affinity/selector".into());
    }
    let mut reasons = Vec::new();
    for (r, want) in requests {
        if *want <= 0 {
            continue;
        }
        let alloc = node.allocatable.get(r).copied().unwrap_or(0);
        let used = node.requested.get(r).copied().unwrap_or(0);
        if used + want > alloc {
            reasons.push(if r == "pods" { "Too many pods".to_string() } else { format!("Insufficient {r}") });
        }
    }
    if reasons.is_empty() { None } else { Some(NodeFailure { reasons, resolvable: true }) }
}

/// Kubernetes' `Toleration.ToleratesTaint`.
pub(crate) fn tolerates(toleration: &Value, taint: &Value) -> bool {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (t_effect, taint_effect) = (s(toleration, "effect"), s(taint, "effect"));
    if !t_effect.is_empty() && t_effect != taint_effect {
        return false;
    }
    let t_key = s(toleration, "key");
    if !t_key.is_empty() && t_key != s(taint, "key") {
        return false;
    }
    match s(toleration, "operator").as_str() {
        "Exists" => true,
        "" | "Equal" => !t_key.is_empty() && s(toleration, "value") == s(taint, "value"),
        _ => false,
    }
}

fn node_affinity_matches(pod: &Value, node: &NodeView) -> bool {
    if let Some(sel) = pod.pointer("/spec/nodeSelector").and_then(Value::as_object) {
        for (k, v) in sel {
            if node.labels.get(k) != Some(v) {
                return false;
            }
        }
    }
    match pod
        .pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
        .and_then(Value::as_array)
    {
        None => true,
        Some(terms) => terms.iter().any(|t| term_matches(t, node)),
    }
}

/// A NodeSelectorTerm: all expressions and fields must match; an empty term matches nothing.
fn term_matches(term: &Value, node: &NodeView) -> bool {
    let exprs = term.get("matchExpressions").and_then(Value::as_array);
    let fields = term.get("matchFields").and_then(Value::as_array);
    if exprs.is_none_or(Vec::is_empty) && fields.is_none_or(Vec::is_empty) {
        return false;
    }
    let name_value = Value::String(node.name.clone());
    let label = |k: &str| node.labels.get(k);
    let field = |k: &str| if k == "metadata.name" { Some(&name_value) } else { None };
    exprs.into_iter().flatten().all(|e| requirement_matches(e, &label))
        && fields.into_iter().flatten().all(|e| requirement_matches(e, &field))
}

fn requirement_matches<'a>(expr: &Value, get: &dyn Fn(&str) -> Option<&'a Value>) -> bool {
    let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
    let values: Vec<&str> = expr
        .get("values")
        .and_then(Value::as_array)
        .map(|v| v.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let actual = get(key).and_then(Value::as_str);
    let num = |s: Option<&str>| s.and_then(|s| s.parse::<i64>().ok());
    match expr.get("operator").and_then(Value::as_str).unwrap_or("") {
        "In" => actual.is_some_and(|a| values.contains(&a)),
        "NotIn" => actual.is_none_or(|a| !values.contains(&a)),
        "Exists" => actual.is_some(),
        "DoesNotExist" => actual.is_none(),
        "Gt" => matches!((num(actual), num(values.first().copied())), (Some(a), Some(b)) if a > b),
        "Lt" => matches!((num(actual), num(values.first().copied())), (Some(a), Some(b)) if a < b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, gpus: u32, gputype: &str) -> NodeView {
        NodeView::from_node(&json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "gputype": gputype}},
            "status": {"allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110", "nvidia.com/gpu": gpus.to_string()}}
        }))
    }

    fn gpu_pod(gputype: &str) -> Value {
        json!({"spec": {"nodeSelector": {"gputype": gputype}, "containers": [{"name": "notebook", "resources": {
            "limits": {"cpu": "8", "memory": "16Gi", "nvidia.com/gpu": "1"},
            "requests": {"cpu": "8", "memory": "1Gi", "nvidia.com/gpu": "1"}}}]}})
    }

    #[test]
    fn selector_and_gpu_capacity() {
        let mut nodes = vec![node("l1", 2, "A100"), node("l2", 2, "P100")];
        let pod = gpu_pod("A100");
        assert_eq!(decide(&pod, &nodes, None, Scoring::LeastAllocated), Decision::Bind("l1".into()));
        nodes[0].add(&pod);
        nodes[0].add(&pod);
        let d = decide(&pod, &nodes, None, Scoring::LeastAllocated);
        assert_eq!(
            d,
            Decision::Unschedulable(
                "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) didn't match Pod's node affinity/selector. \
                 preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, \
                 1 Preemption is not helpful for scheduling."
                    .into()
            )
        );
    }

    #[test]
    fn taints_affinity_and_scoring() {
        let mut tainted = node("gpu", 1, "A100");
        tainted.taints = vec![json!({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"})];
        let plain = json!({"spec": {"containers": [{"name": "c"}]}});
        let d = decide(&plain, std::slice::from_ref(&tainted), None, Scoring::LeastAllocated);
        assert!(
            matches!(d, Decision::Unschedulable(m) if m.contains("1 node(s) had untolerated taint {nvidia.com/gpu: present}"))
        );
        let tolerant = json!({"spec": {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}], "containers": [{"name": "c"}]}});
        assert_eq!(decide(&tolerant, &[tainted], None, Scoring::LeastAllocated), Decision::Bind("gpu".into()));

        let affinity = json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "gputype", "operator": "In", "values": ["P100"]}]}]}}},
            "containers": [{"name": "c"}]}});
        let nodes = vec![node("l1", 2, "A100"), node("l2", 2, "P100")];
        assert_eq!(decide(&affinity, &nodes, None, Scoring::LeastAllocated), Decision::Bind("l2".into()));

        let mut busy = nodes.clone();
        busy[0].add(&gpu_pod("A100"));
        assert_eq!(decide(&plain, &busy, None, Scoring::LeastAllocated), Decision::Bind("l2".into()));
        assert_eq!(decide(&plain, &busy, None, Scoring::MostAllocated), Decision::Bind("l1".into()));

        let d =
            decide(&plain, &nodes, Some("persistentvolumeclaim \"claim-x\" not found".into()), Scoring::LeastAllocated);
        assert_eq!(
            d,
            Decision::Unschedulable(
                "0/2 nodes are available: persistentvolumeclaim \"claim-x\" not found. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.".into()
            )
        );
    }

    #[test]
    fn init_containers_count_by_max() {
        let pod = json!({"spec": {
            "initContainers": [{"resources": {"requests": {"cpu": "4"}}}],
            "containers": [{"resources": {"requests": {"cpu": "1"}}}, {"resources": {"requests": {"cpu": "2"}}}]}});
        assert_eq!(pod_requests(&pod).get("cpu").copied(), Some(4 * ONE));
    }
}
