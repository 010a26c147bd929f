//! Label and field selectors as the API server parses and applies them (`labelSelector`,
//! `fieldSelector` query parameters), plus the per-kind table of selectable fields.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::resource::Resource;

/// One label requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelReq {
    /// `key=value`, `key==value`, `key in (a,b)`
    In(String, BTreeSet<String>),
    /// `key!=value`, `key notin (a,b)`
    NotIn(String, BTreeSet<String>),
    /// `key`
    Exists(String),
    /// `!key`
    DoesNotExist(String),
    /// `key>3`
    Gt(String, i64),
    /// `key<3`
    Lt(String, i64),
}

/// A parsed label selector: all requirements must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector(pub Vec<LabelReq>);

impl LabelSelector {
    /// Parses the `labelSelector` syntax; the error text goes into a 400 BadRequest.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            reqs.push(parse_label_req(part)?);
        }
        Ok(Self(reqs))
    }

    /// Whether an object's labels (a JSON map, or absent) satisfy the selector.
    pub fn matches(&self, labels: Option<&Value>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|req| match req {
            LabelReq::In(k, vals) => get(k).is_some_and(|v| vals.contains(v)),
            LabelReq::NotIn(k, vals) => get(k).is_none_or(|v| !vals.contains(v)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::DoesNotExist(k) => get(k).is_none(),
            LabelReq::Gt(k, n) => get(k).and_then(|v| v.parse::<i64>().ok()).is_some_and(|v| v > *n),
            LabelReq::Lt(k, n) => get(k).and_then(|v| v.parse::<i64>().ok()).is_some_and(|v| v < *n),
        })
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_label_req(part: &str) -> Result<LabelReq, String> {
    let err = |why: &str| format!("unable to parse requirement: {why}: {part:?}");
    if let Some(rest) = part.strip_prefix('!') {
        let key = rest.trim();
        validate_label_key(key).map_err(|e| err(&e))?;
        return Ok(LabelReq::DoesNotExist(key.to_string()));
    }
    for (op, is_neq) in [("!=", true), ("==", false), ("=", false)] {
        if let Some(idx) = part.find(op) {
            let key = part[..idx].trim();
            let value = part[idx + op.len()..].trim();
            validate_label_key(key).map_err(|e| err(&e))?;
            validate_label_value(value).map_err(|e| err(&e))?;
            let set = BTreeSet::from([value.to_string()]);
            return Ok(if is_neq { LabelReq::NotIn(key.to_string(), set) } else { LabelReq::In(key.to_string(), set) });
        }
    }
    for (op, gt) in [(">", true), ("<", false)] {
        if let Some(idx) = part.find(op) {
            let key = part[..idx].trim();
            validate_label_key(key).map_err(|e| err(&e))?;
            let n: i64 = part[idx + 1..]
                .trim()
                .parse()
                .map_err(|_| err("for 'Gt', 'Lt' operators, the value must be an integer"))?;
            return Ok(if gt { LabelReq::Gt(key.to_string(), n) } else { LabelReq::Lt(key.to_string(), n) });
        }
    }
    let mut words = part.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or("").trim();
    let rest = words.next().unwrap_or("").trim();
    validate_label_key(key).map_err(|e| err(&e))?;
    if rest.is_empty() {
        return Ok(LabelReq::Exists(key.to_string()));
    }
    let (op, list) = if let Some(l) = rest.strip_prefix("notin") {
        ("notin", l)
    } else if let Some(l) = rest.strip_prefix("in") {
        ("in", l)
    } else {
        return Err(err("found unexpected operator, expected one of: '=', '==', '!=', 'in', 'notin', '>', '<'"));
    };
    let list = list.trim();
    let inner = list
        .strip_prefix('(')
        .and_then(|l| l.strip_suffix(')'))
        .ok_or_else(|| err("expected a parenthesised set of values"))?;
    let mut values = BTreeSet::new();
    for v in inner.split(',') {
        let v = v.trim();
        validate_label_value(v).map_err(|e| err(&e))?;
        values.insert(v.to_string());
    }
    Ok(if op == "in" { LabelReq::In(key.to_string(), values) } else { LabelReq::NotIn(key.to_string(), values) })
}

/// Checks a label key: an optional DNS subdomain prefix and `/`, then a name of at most 63
/// characters of alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
pub fn validate_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && (p.is_empty() || crate::validate::dns1123_subdomain(p).is_err())
    {
        return Err(format!("prefix part of {key:?} must be a DNS-1123 subdomain"));
    }
    if name.is_empty() || name.len() > 63 || !is_label_token(name) {
        return Err(format!(
            "name part of {key:?} must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        ));
    }
    Ok(())
}

/// Checks a label value: empty, or at most 63 characters shaped like a label name.
pub fn validate_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    if value.len() > 63 || !is_label_token(value) {
        return Err(format!(
            "{value:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        ));
    }
    Ok(())
}

fn is_label_token(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_alphanumeric();
    b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_' || *c == b'.')
}

/// One field requirement: `field=value` or `field!=value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldReq {
    /// The field path, e.g. `involvedObject.name`.
    pub field: String,
    /// The value compared with.
    pub value: String,
    /// `!=` instead of `=`.
    pub negate: bool,
}

/// A parsed field selector: all requirements must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector(pub Vec<FieldReq>);

impl FieldSelector {
    /// Parses the `fieldSelector` syntax and checks each field is selectable for the resource
    /// (the API server answers 400 `field label not supported: x` otherwise).
    pub fn parse(text: &str, resource: Resource) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for term in split_unescaped(text, ',') {
            if term.trim().is_empty() {
                continue;
            }
            let (field, value, negate) = split_field_term(&term)
                .ok_or_else(|| format!("invalid selector: '{text}'; can't understand '{term}'"))?;
            let field = field.trim().to_string();
            if !selectable_field(resource, &field) {
                return Err(format!("field label not supported: {field}"));
            }
            reqs.push(FieldReq { field, value: unescape(value.trim()), negate });
        }
        Ok(Self(reqs))
    }

    /// Whether an object satisfies the selector.
    pub fn matches(&self, resource: Resource, obj: &Value) -> bool {
        self.0.iter().all(|req| {
            let actual = field_value(resource, obj, &req.field);
            (actual == req.value) != req.negate
        })
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value required for a field by an `=` term, if any (lets lists use an index).
    pub fn required(&self, field: &str) -> Option<&str> {
        self.0.iter().find(|r| !r.negate && r.field == field).map(|r| r.value.as_str())
    }
}

fn split_unescaped(text: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts
}

fn split_field_term(term: &str) -> Option<(&str, &str, bool)> {
    let bytes = term.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'!' if bytes.get(i + 1) == Some(&b'=') => return Some((&term[..i], &term[i + 2..], true)),
            b'=' if bytes.get(i + 1) == Some(&b'=') => return Some((&term[..i], &term[i + 2..], false)),
            b'=' => return Some((&term[..i], &term[i + 1..], false)),
            _ => i += 1,
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// The fields each kind supports in field selectors (the API server's field label conversion
/// functions for core/v1).
fn selectable_field(resource: Resource, field: &str) -> bool {
    if field == "metadata.name" || field == "metadata.namespace" {
        return true;
    }
    match resource {
        Resource::Pods => matches!(
            field,
            "spec.nodeName"
                | "spec.restartPolicy"
                | "spec.schedulerName"
                | "spec.serviceAccountName"
                | "spec.hostNetwork"
                | "status.phase"
                | "status.podIP"
                | "status.podIPs"
                | "status.nominatedNodeName"
        ),
        Resource::Events => matches!(
            field,
            "involvedObject.kind"
                | "involvedObject.namespace"
                | "involvedObject.name"
                | "involvedObject.uid"
                | "involvedObject.apiVersion"
                | "involvedObject.resourceVersion"
                | "involvedObject.fieldPath"
                | "reason"
                | "reportingComponent"
                | "source"
                | "type"
        ),
        Resource::Secrets => field == "type",
        Resource::Nodes => field == "spec.unschedulable",
        Resource::Namespaces => field == "status.phase",
        Resource::PersistentVolumeClaims
        | Resource::Services
        | Resource::PersistentVolumes
        | Resource::StorageClasses
        | Resource::VolumeSnapshotClasses
        | Resource::VolumeSnapshots => false,
    }
}

/// The string value of a selectable field (absent fields read as "", like the API server).
pub fn field_value(resource: Resource, obj: &Value, field: &str) -> String {
    let path: Vec<&str> = match (resource, field) {
        (Resource::Pods, "spec.hostNetwork") => {
            return obj.pointer("/spec/hostNetwork").and_then(Value::as_bool).unwrap_or(false).to_string();
        }
        (Resource::Pods, "status.podIPs") => vec!["status", "podIP"],
        (Resource::Events, "source") => {
            let reporting = obj.get("reportingComponent").and_then(Value::as_str).unwrap_or("");
            if !reporting.is_empty() {
                return reporting.to_string();
            }
            vec!["source", "component"]
        }
        (Resource::Nodes, "spec.unschedulable") => {
            return obj.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false).to_string();
        }
        _ => field.split('.').collect(),
    };
    let mut cur = obj;
    for p in path {
        match cur.get(p) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selector_operators() {
        let labels = json!({"component": "singleuser-server", "tier": "gpu", "n": "5"});
        let m = |s: &str| LabelSelector::parse(s).map(|sel| sel.matches(Some(&labels)));
        assert_eq!(m("component=singleuser-server"), Ok(true));
        assert_eq!(m("component==singleuser-server"), Ok(true));
        assert_eq!(m("component!=singleuser-server"), Ok(false));
        assert_eq!(m("tier in (cpu, gpu)"), Ok(true));
        assert_eq!(m("tier notin (cpu,gpu)"), Ok(false));
        assert_eq!(m("absent notin (x)"), Ok(true));
        assert_eq!(m("tier"), Ok(true));
        assert_eq!(m("!tier"), Ok(false));
        assert_eq!(m("!missing,tier=gpu"), Ok(true));
        assert_eq!(m("n>4,n<6"), Ok(true));
        assert_eq!(m("hub.jupyter.org/username=alice"), Ok(false));
        assert_eq!(m(""), Ok(true));
        assert!(LabelSelector::parse("a in b").is_err());
        assert!(LabelSelector::parse("bad key=x").is_err());
        assert!(LabelSelector::parse("k=v v").is_err());
    }

    #[test]
    fn field_selectors_check_supported_fields() {
        let ev = json!({"involvedObject": {"kind": "Pod", "name": "jupyter-alice"}, "type": "Normal"});
        let sel = FieldSelector::parse("involvedObject.kind=Pod,involvedObject.name=jupyter-alice", Resource::Events);
        assert_eq!(sel.map(|s| s.matches(Resource::Events, &ev)), Ok(true));
        let sel = FieldSelector::parse("involvedObject.name!=jupyter-alice", Resource::Events);
        assert_eq!(sel.map(|s| s.matches(Resource::Events, &ev)), Ok(false));
        assert_eq!(
            FieldSelector::parse("spec.foo=bar", Resource::Pods),
            Err("field label not supported: spec.foo".to_string())
        );
        let pod = json!({"metadata": {"name": "p"}, "status": {"phase": "Running"}});
        let sel = FieldSelector::parse("spec.nodeName=", Resource::Pods);
        assert_eq!(sel.map(|s| s.matches(Resource::Pods, &pod)), Ok(true));
        let sel = FieldSelector::parse("status.phase==Running,metadata.name=p", Resource::Pods);
        assert_eq!(sel.map(|s| s.matches(Resource::Pods, &pod)), Ok(true));
        let odd = json!({"metadata": {"name": "a,b"}});
        let sel = FieldSelector::parse(r"metadata.name=a\,b", Resource::Secrets);
        assert_eq!(sel.map(|s| s.matches(Resource::Secrets, &odd)), Ok(true));
    }
}
