//! `jhub check-config --print`: the effective values as YAML, each value
//! followed by its source (`file:line`, `default` or `env NAME`), secrets masked.

use crate::Loaded;
use crate::mask::{MASK, is_masked_key_of, is_masked_path, mask_url_passwords};
use crate::values::{VNode, VValue};
use crate::yaml::Scalar;
use std::fmt::Write as _;

fn scalar(s: &Scalar) -> String {
    match s {
        Scalar::Str(s) => {
            let plain = !s.is_empty()
                && s.chars().all(|c| c.is_alphanumeric() || "/._-@".contains(c))
                && !matches!(
                    crate::yaml::resolve_plain(s).0,
                    Scalar::Bool(_) | Scalar::Int(_) | Scalar::Float(_) | Scalar::Null
                );
            // A password inside a URL (`hub.db.url`) is masked wherever it is.
            let s = mask_url_passwords(s).unwrap_or_else(|| s.clone());
            if plain { s } else { serde_json::Value::String(s).to_string() }
        }
        other => crate::yaml::scalar_to_json(other).to_string(),
    }
}

fn is_flow(node: &VNode) -> bool {
    match &node.value {
        VValue::Scalar(_) => true,
        VValue::Seq(items) => items.is_empty() || items.iter().all(|i| matches!(i.value, VValue::Scalar(_))),
        VValue::Map(entries) => entries.is_empty(),
    }
}

fn flow(node: &VNode, secret: bool) -> String {
    if secret && !node.is_null() {
        return format!("\"{MASK}\"");
    }
    match &node.value {
        VValue::Scalar(s) => scalar(s),
        VValue::Seq(items) => format!("[{}]", items.iter().map(|i| flow(i, false)).collect::<Vec<_>>().join(", ")),
        VValue::Map(_) => "{}".into(),
    }
}

fn emit(out: &mut String, node: &VNode, path: &mut Vec<String>, indent: usize, first_prefix: Option<&str>) {
    let pad = " ".repeat(indent);
    match &node.value {
        VValue::Map(entries) => {
            for (i, (key, child)) in entries.iter().enumerate() {
                path.push(key.clone());
                let lead = match (i, first_prefix) {
                    (0, Some(p)) => format!("{}{p}", " ".repeat(indent.saturating_sub(p.len()))),
                    _ => pad.clone(),
                };
                let key_text = if is_masked_key_of(&path[..path.len() - 1]) {
                    format!("\"{MASK}\"")
                } else {
                    scalar(&Scalar::Str(key.clone()))
                };
                if is_flow(child) {
                    let secret = is_masked_path(path);
                    let _ = writeln!(out, "{lead}{key_text}: {}  # {}", flow(child, secret), child.origin);
                } else {
                    let _ = writeln!(out, "{lead}{key_text}:");
                    emit(out, child, path, indent + 2, None);
                }
                path.pop();
            }
        }
        VValue::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(format!("[{i}]"));
                if is_flow(item) {
                    let _ = writeln!(out, "{pad}- {}  # {}", flow(item, is_masked_path(path)), item.origin);
                } else {
                    emit(out, item, path, indent + 2, Some("- "));
                }
                path.pop();
            }
        }
        VValue::Scalar(_) => {
            let _ = writeln!(out, "{pad}{}  # {}", flow(node, false), node.origin);
        }
    }
}

/// The effective values with the source of each value.
pub fn print_effective(loaded: &Loaded) -> String {
    let mut out = String::from("# effective values; after each value: where it came from\n");
    emit(&mut out, &loaded.values, &mut Vec::new(), 0, None);
    let env_settings: Vec<(&str, &crate::Secret)> = [
        ("proxy auth token", loaded.config.proxy.auth_token.as_ref()),
        ("crypt keys", loaded.config.hub.crypt_keys.as_ref()),
    ]
    .into_iter()
    .filter_map(|(n, s)| s.filter(|s| matches!(s.origin, crate::Origin::Env { .. })).map(|s| (n, s)))
    .collect();
    if !env_settings.is_empty() {
        out.push_str("# settings taken from the environment (not part of the values):\n");
        for (name, s) in env_settings {
            let _ = writeln!(out, "#   {name}: \"********\"  # {}", s.origin);
        }
    }
    out
}
