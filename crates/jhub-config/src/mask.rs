//! Which configured values are secrets when jhub shows configuration back:
//! `check-config --print` and the source lines quoted in diagnostics
//! (issue 11 item 7). Decided by what a key means (`password`, `apiToken`,
//! `hub.extraEnv` values, `proxy.https.manual.key`, the keys of
//! `JupyterHub.api_tokens`, …) and by what a value looks like (a password
//! inside a URL such as `hub.db.url`). Masking too much costs a little
//! readability; masking too little leaks a credential into a CI log.

use crate::values::{VNode, VValue};
use crate::yaml::Scalar;
use std::collections::BTreeMap;

/// What a masked value is shown as.
pub const MASK: &str = "********";

fn plain(seg: &str) -> bool {
    !seg.starts_with('[')
}

/// A key name that by itself says its value is a secret.
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.trim().trim_matches(['"', '\'']).to_ascii_lowercase();
    let compact: String = lower.chars().filter(|c| *c != '_' && *c != '-').collect();
    compact.ends_with("password")
        || compact.ends_with("passwd")
        || matches!(
            compact.as_str(),
            "secrettoken"
                | "cookiesecret"
                | "apitoken"
                | "authtoken"
                | "accesstoken"
                | "refreshtoken"
                | "clientsecret"
                | "privatekey"
                | "secretkey"
                | "cryptkey"
                | "token"
                | "secret"
        )
}

/// An environment variable name that says its value is a secret.
fn is_secret_env_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL"].iter().any(|w| upper.contains(w))
}

/// Whether the value at `path` (segments as in [`crate::values::dotted`],
/// list indices as `[i]`) is shown masked.
pub fn is_masked_path(path: &[String]) -> bool {
    let dotted = crate::values::dotted(path);
    if crate::check::is_secret_path(&dotted) {
        return true;
    }
    let named: Vec<&str> = path.iter().map(String::as_str).filter(|s| plain(s)).collect();
    if named.last().is_some_and(|last| is_secret_name(last)) {
        return true;
    }
    if dotted == "proxy.https.manual.key" || dotted.starts_with("hub.config.CryptKeeper.keys") {
        return true;
    }
    // Environment of the hub: every value (it is where people put the
    // GitLab secret, database passwords...). `valueFrom` only names a Secret.
    if path.len() >= 3 && path[0] == "hub" && path[1] == "extraEnv" {
        return !path.iter().any(|s| s == "valueFrom") && path.last().is_none_or(|s| s != "name");
    }
    // Users' environment: values of variables whose name says secret.
    if path.len() >= 3 && path[0] == "singleuser" && path[1] == "extraEnv" && !path.iter().any(|s| s == "valueFrom") {
        return is_secret_env_name(&path[2]) && path.last().is_none_or(|s| s != "name");
    }
    // The keys of `JupyterHub.api_tokens` are the tokens themselves.
    is_masked_key_of(&path[..path.len().saturating_sub(1)])
}

/// Whether the keys of the mapping at `parent` are secrets (shown masked).
pub fn is_masked_key_of(parent: &[String]) -> bool {
    let dotted = crate::values::dotted(parent);
    dotted == "hub.config.JupyterHub.api_tokens" || dotted == "hub.config.JupyterHub.service_tokens"
}

/// `scheme://user:password@host` → `scheme://user:********@host`, wherever
/// such a URL appears in `text`. `None` when nothing was masked.
pub fn mask_url_passwords(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or whitespace/quote.
        let end =
            tail.find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'') || c.is_whitespace()).unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@').and_then(|at| authority[..at].find(':').map(|colon| (colon, at))) {
            Some((colon, at)) if at > colon + 1 => {
                out.push_str(&authority[..=colon]);
                out.push_str(MASK);
                out.push_str(&authority[at..]);
                changed = true;
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// A quoted source line made safe to show: the value part masked when the
/// line holds a secret (`known_secret`: the loaded values say so) or its key
/// is a secret by name; URL passwords masked anywhere.
/// `secret_key`: the key itself is a secret (`api_tokens`).
pub fn mask_source_line(line: &str, known_secret: bool, secret_key: bool) -> String {
    let line = mask_url_passwords(line).unwrap_or_else(|| line.to_string());
    let body = line.trim_start();
    let indent = &line[..line.len() - body.len()];
    let (item, body) = match body.strip_prefix("- ") {
        Some(rest) => ("- ", rest.trim_start()),
        None => ("", body),
    };
    let key_end = body.find(": ").or_else(|| body.strip_suffix(':').map(str::len));
    match key_end {
        Some(end) => {
            let key = &body[..end];
            let value = body[end + 1..].trim();
            let block = value.is_empty() || value.starts_with('|') || value.starts_with('>');
            // An empty value or a placeholder from an example is no secret,
            // and the diagnostic is often about exactly that.
            let unquoted = value.split(" #").next().unwrap_or("").trim().trim_matches(['"', '\'']);
            if !secret_key && (unquoted.is_empty() || crate::check::is_placeholder(unquoted)) {
                return line.clone();
            }
            if secret_key && !value.starts_with('{') {
                format!("{indent}{item}{MASK}: {MASK}")
            } else if (known_secret || secret_key || is_secret_name(key)) && !block {
                format!("{indent}{item}{key}: {MASK}")
            } else {
                line.clone()
            }
        }
        // A list item or a block-scalar content line of a secret.
        None if known_secret && !body.is_empty() => format!("{indent}{item}{MASK}"),
        None => line.clone(),
    }
}

/// Lines (1-based) of `tree`'s file that hold secret values, for masking
/// quoted snippets; `true` when the line's key is a secret too.
pub(crate) fn secret_lines(tree: &VNode, out: &mut BTreeMap<(String, usize), bool>) {
    fn walk(node: &VNode, path: &mut Vec<String>, out: &mut BTreeMap<(String, usize), bool>) {
        match &node.value {
            VValue::Map(entries) => {
                for (key, child) in entries {
                    path.push(key.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
            VValue::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(format!("[{i}]"));
                    walk(item, path, out);
                    path.pop();
                }
            }
            VValue::Scalar(scalar) => {
                let masked =
                    is_masked_path(path) || matches!(scalar, Scalar::Str(s) if mask_url_passwords(s).is_some());
                if masked
                    && !node.is_null()
                    && let Some(at) = node.value_location()
                {
                    // A block scalar spans the lines after its indicator.
                    let extra = match scalar {
                        Scalar::Str(s) => s.trim_end_matches('\n').matches('\n').count() + 1,
                        _ => 0,
                    };
                    let secret_key = is_masked_key_of(&path[..path.len().saturating_sub(1)]);
                    for line in at.line..=at.line + extra {
                        *out.entry((at.file.clone(), line)).or_default() |= secret_key && line == at.line;
                    }
                }
            }
        }
    }
    walk(tree, &mut Vec::new(), out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(str::to_string).collect()
    }

    #[test]
    fn secrets_by_key_meaning() {
        for path in [
            "proxy.secretToken",
            "hub.config.JupyterHub.services.[0].api_token",
            "proxy.https.manual.key",
            "hub.extraEnv.GITLAB_CLIENT_SECRET",
            "hub.extraEnv.ANYTHING",
            "imagePullSecret.password",
            "singleuser.imagePullSecret.password",
            "hub.config.JupyterHub.api_tokens.abcdef",
            "singleuser.extraEnv.MY_API_TOKEN",
        ] {
            assert!(is_masked_path(&p(path)), "{path}");
        }
        for path in [
            "proxy.https.manual.cert",
            "hub.extraEnv.valueFrom",
            "singleuser.extraEnv.JUPYTERHUB_SINGLEUSER_APP",
            "hub.existingSecret",
            "singleuser.image.name",
            "scheduling.userPods.tolerations.[0].key",
        ] {
            assert!(!is_masked_path(&p(path)), "{path}");
        }
        assert!(!is_masked_path(&p("hub.extraEnv.X.valueFrom.secretKeyRef.name")));
    }

    #[test]
    fn url_passwords_by_value_shape() {
        assert_eq!(
            mask_url_passwords("postgresql://jhub:s3cr3t@db:5432/jhub").as_deref(),
            Some("postgresql://jhub:********@db:5432/jhub")
        );
        assert_eq!(
            mask_url_passwords("url: \"postgres://u:p@h/db\" # x").as_deref(),
            Some("url: \"postgres://u:********@h/db\" # x")
        );
        assert_eq!(mask_url_passwords("https://gitlab.example.org/api"), None);
        assert_eq!(mask_url_passwords("postgres://user@h/db"), None);
    }

    #[test]
    fn source_lines() {
        assert_eq!(mask_source_line("  password: hunter2", false, false), "  password: ********");
        assert_eq!(mask_source_line("    GITLAB: abc", true, false), "    GITLAB: ********");
        assert_eq!(mask_source_line("    abc123def: alice", true, true), "    ********: ********");
        assert_eq!(mask_source_line("  - s3cr3t", true, false), "  - ********");
        assert_eq!(mask_source_line("  key: |", true, false), "  key: |");
        assert_eq!(mask_source_line("  secretToken: \"\"", true, false), "  secretToken: \"\"");
        assert_eq!(
            mask_source_line("  secretToken: \"<GENERATE SECRET TOKEN BY YOURSELF>\"", true, false),
            "  secretToken: \"<GENERATE SECRET TOKEN BY YOURSELF>\""
        );
        assert_eq!(mask_source_line("  cpu_gurantee: 1", false, false), "  cpu_gurantee: 1");
        assert_eq!(mask_source_line("    url: postgres://a:b@c/d", false, false), "    url: postgres://a:********@c/d");
    }
}
