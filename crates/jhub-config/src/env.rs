//! The process environment as an explicit value (so tests control it), the
//! `JHUB_VALUES__…` overrides, and the check for misspelt `JHUB_*` variables.
//!
//! Override scheme: `JHUB_VALUES__<key>__<key>…=<YAML>` sets the values path
//! made of the keys, case kept (`JHUB_VALUES__hub__cookieSecret=abc`,
//! `JHUB_VALUES__cull__timeout=600`, `JHUB_VALUES__hub__config__JupyterHub__admin_access=false`).
//! The value is read as YAML, so numbers, booleans, `[a, b]` and `{k: v}`
//! work; an empty value deletes the key. Overrides apply after all files.

use crate::diag::Diagnostic;
use crate::values::{Origin, SourceKind, VNode};
use std::collections::{BTreeMap, BTreeSet};

/// Prefix of values overrides.
pub const VALUES_PREFIX: &str = "JHUB_VALUES__";

/// `JHUB_*` variables this crate reads itself.
pub const OWN_VARS: &[&str] = &["JHUB_DATA_DIR"];

/// Environment variables the loader may consult.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    vars: BTreeMap<String, String>,
    known: BTreeSet<String>,
}

impl Environment {
    /// From `(name, value)` pairs, e.g. `Environment::new(std::env::vars())` in the binary.
    pub fn new<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Environment { vars: vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect(), known: BTreeSet::new() }
    }

    pub fn empty() -> Self {
        Self::default()
    }

    /// Declare `JHUB_*` variables the caller reads itself (CLI flags), so
    /// they are not reported as unknown.
    pub fn with_known_vars(mut self, names: &[&str]) -> Self {
        self.known.extend(names.iter().map(|n| n.to_string()));
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// A set, non-empty variable.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    /// Values overrides as trees, in name order, plus problems.
    pub(crate) fn overrides(&self, diags: &mut Vec<Diagnostic>) -> Vec<VNode> {
        let mut out = Vec::new();
        for (name, raw) in &self.vars {
            let Some(rest) = name.strip_prefix(VALUES_PREFIX) else { continue };
            let path: Vec<&str> = rest.split("__").collect();
            if path.iter().any(|p| p.is_empty()) {
                diags.push(
                    Diagnostic::error("env-override", format!("`{name}` does not name a values path"))
                        .help("write JHUB_VALUES__<key>__<key>, e.g. JHUB_VALUES__hub__cookieSecret"),
                );
                continue;
            }
            let origin = Origin::Env { var: name.clone() };
            let value = match crate::yaml::parse(raw) {
                Ok(parsed) => match parsed.root {
                    Some(node) => {
                        let mut v = VNode::from_yaml(&node, &SourceKind::Default, None);
                        reorigin(&mut v, &origin);
                        v
                    }
                    None => VNode {
                        value: crate::values::VValue::Scalar(crate::yaml::Scalar::Null),
                        origin: origin.clone(),
                        at: None,
                    },
                },
                Err(e) => {
                    diags.push(
                        Diagnostic::error("env-override", format!("`{name}` is not valid YAML: {}", e.message))
                            .help("quote the value, e.g. JHUB_VALUES__hub__baseUrl='\"/jhub/\"'"),
                    );
                    continue;
                }
            };
            let mut tree = VNode::empty_map(origin);
            tree.set_path(&path, value);
            out.push(tree);
        }
        out
    }

    /// Warnings for `JHUB_*` variables nobody reads.
    pub(crate) fn unknown_jhub_vars(&self) -> Vec<Diagnostic> {
        let mut known: Vec<&str> = OWN_VARS.to_vec();
        known.extend(self.known.iter().map(String::as_str));
        self.vars
            .keys()
            .filter(|k| k.starts_with("JHUB_") && !k.starts_with(VALUES_PREFIX) && !known.contains(&k.as_str()))
            .map(|k| {
                let mut d =
                    Diagnostic::warning("unknown-env", format!("environment variable `{k}` is not used by jhub")).help(
                        "values overrides are written JHUB_VALUES__<key>__<key> (e.g. JHUB_VALUES__hub__baseUrl)",
                    );
                if let Some(s) = crate::keys::did_you_mean(k, known.iter().copied()) {
                    d = d.help(format!("did you mean `{s}`?"));
                } else if let Some(rest) = k.strip_prefix("JHUB_VALUES_") {
                    d = d.help(format!(
                        "did you mean `{VALUES_PREFIX}{}`? (two underscores)",
                        rest.trim_start_matches('_')
                    ));
                }
                d
            })
            .collect()
    }
}

fn reorigin(node: &mut VNode, origin: &Origin) {
    node.origin = origin.clone();
    node.at = None;
    match &mut node.value {
        crate::values::VValue::Scalar(_) => {}
        crate::values::VValue::Seq(items) => items.iter_mut().for_each(|n| reorigin(n, origin)),
        crate::values::VValue::Map(entries) => entries.iter_mut().for_each(|(_, n)| reorigin(n, origin)),
    }
}
