//! The merged values tree: every value remembers where it came from (a file
//! and line, jhub's defaults, or an environment variable), and several trees
//! merge the way Helm merges `-f` files: maps merge key by key, lists and
//! scalars replace, and a `null` deletes the key.

use crate::diag::Location;
use crate::yaml::{Node, Pos, Scalar, Yaml};
use serde::Serialize;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Origin {
    /// jhub's defaults (`deploy/helm/jhub/values.yaml`), at this line.
    Default { line: usize },
    /// A values file (or a mounted Secret file), at the key's position.
    File { file: String, line: usize, col: usize },
    /// An environment variable.
    Env { var: String },
}

impl Origin {
    /// The place to point a diagnostic at (defaults and env have no user-visible line).
    pub fn location(&self) -> Option<Location> {
        match self {
            Origin::File { file, line, col } => Some(Location { file: file.clone(), line: *line, col: *col }),
            _ => None,
        }
    }
    pub fn is_default(&self) -> bool {
        matches!(self, Origin::Default { .. })
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default { .. } => write!(f, "default"),
            Origin::File { file, line, .. } => write!(f, "{file}:{line}"),
            Origin::Env { var } => write!(f, "env {var}"),
        }
    }
}

/// A value with its origin. For map entries the origin is where the key was
/// written; `at` is where the value itself starts (same file).
#[derive(Debug, Clone, PartialEq)]
pub struct VNode {
    pub value: VValue,
    pub origin: Origin,
    pub at: Option<Pos>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum VValue {
    Scalar(Scalar),
    Seq(Vec<VNode>),
    Map(Vec<(String, VNode)>),
}

/// Which file a tree is built from (the display name used in diagnostics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    Default,
    File(String),
}

impl SourceKind {
    fn origin(&self, pos: Pos) -> Origin {
        match self {
            SourceKind::Default => Origin::Default { line: pos.line },
            SourceKind::File(file) => Origin::File { file: file.clone(), line: pos.line, col: pos.col },
        }
    }
}

impl VNode {
    /// Convert a parsed YAML node; `key_pos` is where its key was written, if any.
    pub fn from_yaml(node: &Node, source: &SourceKind, key_pos: Option<Pos>) -> VNode {
        let value = match &node.yaml {
            Yaml::Scalar(s) => VValue::Scalar(s.clone()),
            Yaml::Seq(items) => VValue::Seq(items.iter().map(|n| VNode::from_yaml(n, source, None)).collect()),
            Yaml::Map(entries) => VValue::Map(
                entries.iter().map(|e| (e.key.clone(), VNode::from_yaml(&e.value, source, Some(e.key_pos)))).collect(),
            ),
        };
        VNode { value, origin: source.origin(key_pos.unwrap_or(node.pos)), at: Some(node.pos) }
    }

    pub fn empty_map(origin: Origin) -> VNode {
        VNode { value: VValue::Map(Vec::new()), origin, at: None }
    }

    /// Where the value itself is, for diagnostics about the value.
    pub fn value_location(&self) -> Option<Location> {
        match (&self.origin, self.at) {
            (Origin::File { file, .. }, Some(pos)) => {
                Some(Location { file: file.clone(), line: pos.line, col: pos.col })
            }
            _ => self.origin.location(),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, VValue::Scalar(Scalar::Null))
    }

    pub fn as_map(&self) -> Option<&[(String, VNode)]> {
        match &self.value {
            VValue::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[VNode]> {
        match &self.value {
            VValue::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.value {
            VValue::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            VValue::Scalar(Scalar::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// Child by key.
    pub fn child(&self, key: &str) -> Option<&VNode> {
        self.as_map()?.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Descendant by dotted path (`hub.config.JupyterHub`); keys with dots
    /// cannot be reached this way, use [`VNode::get_path`].
    pub fn get(&self, dotted: &str) -> Option<&VNode> {
        dotted.split('.').try_fold(self, |node, key| node.child(key))
    }

    pub fn get_path<S: AsRef<str>>(&self, path: &[S]) -> Option<&VNode> {
        path.iter().try_fold(self, |node, key| node.child(key.as_ref()))
    }

    /// Descendant by path segments, where `[i]` selects a list item.
    pub fn get_segments<S: AsRef<str>>(&self, path: &[S]) -> Option<&VNode> {
        path.iter().try_fold(self, |node, seg| {
            let seg = seg.as_ref();
            match seg.strip_prefix('[').and_then(|s| s.strip_suffix(']')).and_then(|i| i.parse::<usize>().ok()) {
                Some(i) => node.as_seq()?.get(i),
                None => node.child(seg),
            }
        })
    }

    /// Set a value at `path`, creating maps on the way (a non-map in the way is replaced).
    pub fn set_path<S: AsRef<str>>(&mut self, path: &[S], value: VNode) {
        let Some((first, rest)) = path.split_first() else {
            *self = value;
            return;
        };
        if !matches!(self.value, VValue::Map(_)) {
            self.value = VValue::Map(Vec::new());
        }
        let origin = value.origin.clone();
        if let VValue::Map(entries) = &mut self.value {
            let idx = match entries.iter().position(|(k, _)| k == first.as_ref()) {
                Some(i) => i,
                None => {
                    entries.push((first.as_ref().to_string(), VNode::empty_map(origin)));
                    entries.len() - 1
                }
            };
            entries[idx].1.set_path(rest, value);
        }
    }

    /// Helm merge of `overlay` onto `self`.
    pub fn merge(&mut self, overlay: VNode) {
        match (&mut self.value, overlay.value) {
            (VValue::Map(base), VValue::Map(over)) => {
                for (key, value) in over {
                    let existing = base.iter().position(|(k, _)| *k == key);
                    if value.is_null() {
                        if let Some(i) = existing {
                            base.remove(i);
                        }
                        continue;
                    }
                    match existing {
                        Some(i) => base[i].1.merge(value),
                        None => base.push((key, value)),
                    }
                }
                if !overlay.origin.is_default() {
                    self.origin = overlay.origin;
                    self.at = overlay.at;
                }
            }
            (_, value) => {
                *self = VNode { value, origin: overlay.origin, at: overlay.at };
            }
        }
    }

    /// Drop null-valued map entries coming from user sources (Helm deletes them).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            VValue::Scalar(s) => crate::yaml::scalar_to_json(s),
            VValue::Seq(items) => serde_json::Value::Array(items.iter().map(VNode::to_json).collect()),
            VValue::Map(entries) => {
                serde_json::Value::Object(entries.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    /// Visit every node with its path (keys; list items as `[i]`).
    pub fn walk<'a>(&'a self, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &'a VNode)) {
        f(path, self);
        match &self.value {
            VValue::Scalar(_) => {}
            VValue::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(format!("[{i}]"));
                    item.walk(path, f);
                    path.pop();
                }
            }
            VValue::Map(entries) => {
                for (k, v) in entries {
                    path.push(k.clone());
                    v.walk(path, f);
                    path.pop();
                }
            }
        }
    }
}

/// Where the value at a dotted path (`singleuser.profileList[0].kubespawner_override.mem_limit`)
/// was written: the deepest node on the path that came from a file. Map keys
/// may contain dots (`hub.jupyter.org/x`); the longest matching key wins.
pub fn locate(root: &VNode, path: &str) -> Option<Location> {
    let mut node = root;
    let mut rest = path;
    let mut best = root.origin.location();
    while !rest.is_empty() {
        let next = match &node.value {
            VValue::Seq(items) => {
                let index = rest.strip_prefix('[').and_then(|inner| {
                    let end = inner.find(']')?;
                    Some((inner[..end].parse::<usize>().ok()?, &inner[end + 1..]))
                });
                match index {
                    Some((idx, after)) => {
                        rest = after.strip_prefix('.').unwrap_or(after);
                        items.get(idx)
                    }
                    None => None,
                }
            }
            VValue::Map(entries) => {
                let found = entries
                    .iter()
                    .filter(|(k, _)| {
                        rest.starts_with(k.as_str())
                            && matches!(rest.as_bytes().get(k.len()), None | Some(b'.') | Some(b'['))
                    })
                    .max_by_key(|(k, _)| k.len());
                match found {
                    Some((k, v)) => {
                        rest = rest[k.len()..].strip_prefix('.').unwrap_or(&rest[k.len()..]);
                        Some(v)
                    }
                    None => None,
                }
            }
            VValue::Scalar(_) => None,
        };
        let Some(next) = next else { break };
        node = next;
        if let Some(loc) = node.origin.location() {
            best = Some(loc);
        }
    }
    best
}

/// `a.b[0].c` from path segments.
pub fn dotted(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if seg.starts_with('[') {
            out.push_str(seg);
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str, file: &str) -> VNode {
        let parsed = crate::yaml::parse(text).unwrap();
        VNode::from_yaml(&parsed.root.unwrap(), &SourceKind::File(file.into()), None)
    }

    #[test]
    fn helm_merge_rules_and_provenance() {
        let mut base = tree("a:\n  x: 1\n  y: [1, 2]\n  z: keep\nb: 2\n", "one.yaml");
        base.merge(tree("a:\n  x: 10\n  y: [3]\n  z: null\nc: 3\n", "two.yaml"));
        assert_eq!(base.to_json(), serde_json::json!({"a": {"x": 10, "y": [3]}, "b": 2, "c": 3}));
        assert_eq!(base.get("a.x").unwrap().origin.to_string(), "two.yaml:2");
        assert_eq!(base.get("b").unwrap().origin.to_string(), "one.yaml:5");
        assert_eq!(base.get("a.y").unwrap().origin.to_string(), "two.yaml:3");
    }

    #[test]
    fn locate_follows_lists_and_dotted_keys() {
        let t = tree("a:\n  - x: 1\n    y:\n      k.with/dots: 2\n", "f.yaml");
        assert_eq!(locate(&t, "a[0].y.k.with/dots").unwrap().line, 4);
        assert_eq!(locate(&t, "a[0].x").unwrap().line, 2);
        assert_eq!(locate(&t, "a[0].missing").unwrap().line, 2, "deepest known node");
        assert_eq!(locate(&t, "a[7]").unwrap().line, 1);
    }

    #[test]
    fn set_path_creates_maps() {
        let mut t = tree("a: 1\n", "f");
        t.set_path(
            &["b", "c"],
            VNode { value: VValue::Scalar(Scalar::Int(2)), origin: Origin::Env { var: "X".into() }, at: None },
        );
        assert_eq!(t.to_json(), serde_json::json!({"a": 1, "b": {"c": 2}}));
        assert_eq!(t.get("b.c").unwrap().origin.to_string(), "env X");
    }
}
