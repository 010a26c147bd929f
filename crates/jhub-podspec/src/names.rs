//! Kubernetes-safe names, exactly as KubeSpawner 7.1 makes them: the `safe`
//! and legacy `escape` slug schemes, label-value slugs, `multi_slug`, the
//! `_expand_user_properties` template fields (`{username}`, `{user_server}`,
//! `{pvc_name}`, ...), and python-slugify profile slugs.
//!
//! Pod and PVC names are stored in the hub's state and user_options carry
//! profile slugs, so every function here must reproduce KubeSpawner's output
//! byte for byte (tests run every vector of `golden/naming-vectors.json`).

use crate::pyfmt::{self, FormatError, Missing};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Length of the hash suffix of hashed slugs.
const HASH_LENGTH: usize = 8;
/// Per-field length limit KubeSpawner uses for `{username}` etc.
pub const FIELD_MAX_LENGTH: usize = 48;
/// Default length budget of `safe_slug` when a name has to be hashed.
const DEFAULT_HASHED_LENGTH: usize = 32;

/// Which validity rules a slug must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlugRules {
    /// Object names (RFC 1035/1123 DNS label): 1–63 of `[a-z0-9-]`, starting
    /// with a letter, ending with a letter or digit.
    ObjectName,
    /// Label values: empty, or ≤ 63 of `[A-Za-z0-9._-]` with alphanumeric ends.
    LabelValue,
}

/// KubeSpawner's `slug_scheme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlugScheme {
    /// The 7.x scheme: valid names unchanged, others cleaned and hashed.
    #[default]
    Safe,
    /// The 6.x scheme: every byte outside `[a-z0-9]` written as `-XX`.
    Escape,
}

/// Whether `s` is a valid object name (DNS label).
pub fn is_valid_object_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_lowercase()
        && bytes.last().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// Whether `s` is a valid label value (the empty string is).
pub fn is_valid_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return true;
    }
    bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// The 6.x `escape` scheme (`escapism.escape` with safe set `[a-z0-9]` and
/// escape character `-`, then lower-cased): `Alice` → `-41lice`.
pub fn escape_slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut buf = [0u8; 4];
    for c in name.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else {
            for byte in c.encode_utf8(&mut buf).bytes() {
                // escapism writes the byte as unpadded upper-case hex; the
                // whole result is lower-cased afterwards.
                out.push_str(&format!("-{byte:x}"));
            }
        }
    }
    out
}

fn short_hash(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    let digest = hex::encode(hasher.finalize());
    digest[..HASH_LENGTH].to_string()
}

/// Lower-case, runs of anything outside `[a-z0-9]` become one `-`, trimmed to
/// `max_length`, never starting with a digit (`x-` prefix), never empty (`x`).
fn extract_safe_name(name: &str, max_length: usize) -> String {
    let lowered = name.to_lowercase();
    let mut cleaned = String::with_capacity(lowered.len());
    let mut in_run = false;
    for c in lowered.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            cleaned.push(c);
            in_run = false;
        } else if !in_run {
            cleaned.push('-');
            in_run = true;
        }
    }
    // Everything left is ASCII, so byte slicing is character slicing.
    let trimmed = cleaned.trim_start_matches('-');
    let mut safe = trimmed[..trimmed.len().min(max_length)].trim_end_matches('-').to_string();
    if safe.as_bytes().first().is_some_and(|b| !b.is_ascii_lowercase()) {
        let keep = max_length.saturating_sub(2).min(safe.len());
        safe = format!("x-{}", &safe[..keep]);
    }
    if safe.is_empty() {
        safe.push('x');
    }
    safe
}

/// `{cleaned name}---{8 hex of sha256(name)}`, at most `max_length`
/// characters (KubeSpawner refuses budgets under 12; jhub raises them to 12).
fn strip_and_hash(name: &str, max_length: usize) -> String {
    let name_length = max_length.max(HASH_LENGTH + 4) - (HASH_LENGTH + 3);
    let hash = short_hash(&[name.as_bytes()]);
    format!("{}---{hash}", extract_safe_name(name, name_length))
}

/// KubeSpawner's `safe_slug`: a name that satisfies `rules` (and fits
/// `max_length`, and has no `--`) is returned unchanged; anything else is
/// cleaned and hashed within `max_length` (default 32).
pub fn safe_slug(name: &str, rules: SlugRules, max_length: Option<usize>) -> String {
    let budget = max_length.unwrap_or(DEFAULT_HASHED_LENGTH);
    if name.contains("--") {
        return strip_and_hash(name, budget);
    }
    let valid = match rules {
        SlugRules::ObjectName => is_valid_object_name(name),
        SlugRules::LabelValue => is_valid_label(name),
    };
    if valid && max_length.is_none_or(|max| name.chars().count() <= max) {
        name.to_string()
    } else {
        strip_and_hash(name, budget)
    }
}

/// The value of the `hub.jupyter.org/username` / `servername` labels.
pub fn label_slug(name: &str) -> String {
    safe_slug(name, SlugRules::LabelValue, None)
}

/// Several names in one slug with a single hash:
/// `{name1}--{name2}---{8 hex of sha256(name1 0xFF name2)}`, each name cleaned
/// and cut to an equal share of `max_length`.
pub fn multi_slug(names: &[&str], max_length: usize) -> String {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(names.len() * 2);
    for (idx, name) in names.iter().enumerate() {
        if idx > 0 {
            // 0xFF never occurs in UTF-8, so word boundaries cannot collide.
            parts.push(&[0xFF]);
        }
        parts.push(name.as_bytes());
    }
    let hash = short_hash(&parts);
    let count = names.len().max(1);
    let per_name = max_length.saturating_sub(HASH_LENGTH + 1) / count;
    // KubeSpawner raises when fewer than 2 characters per name remain; jhub
    // keeps at least 2 so a slug always comes out.
    let name_max_length = per_name.saturating_sub(2).max(2);
    let slugs: Vec<String> = names.iter().map(|name| extract_safe_name(name, name_max_length)).collect();
    format!("{}---{hash}", slugs.join("--"))
}

/// python-slugify's `slugify(display_name)` with default arguments, as
/// KubeSpawner derives a profile's `slug`: `CPU 分区` → `cpu-fen-qu`,
/// `Café & Crème` → `cafe-creme`, `it's 'quoted'` → `it-s-quoted`.
pub fn profile_slug(display_name: &str) -> String {
    crate::slugify::slugify(display_name)
}

/// The template fields of KubeSpawner's `_expand_user_properties` for one
/// server. Build with [`UserProperties::new`], then add the resolved names
/// with [`UserProperties::with_names`] once they are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProperties {
    /// `{userid}`: the hub's numeric user id.
    pub userid: String,
    /// `{unescaped_username}`: the raw user name.
    pub unescaped_username: String,
    /// `{unescaped_servername}`: the raw server name (`""` for the default server).
    pub unescaped_servername: String,
    /// `{hubnamespace}`: the hub's namespace (`user` when it is `default`).
    pub hubnamespace: String,
    /// `{username}`: the user name slug of the configured scheme.
    pub username: String,
    /// `{servername}`: the server name slug of the configured scheme.
    pub servername: String,
    /// `{user_server}`: user and server slugs joined by `--` (scheme-dependent).
    pub user_server: String,
    /// `{safe_username}`: the `safe`-scheme user slug.
    pub safe_username: String,
    /// `{safe_servername}`: the `safe`-scheme server slug.
    pub safe_servername: String,
    /// `{safe_user_server}`: `safe`-scheme user/server slug (hashed with `multi_slug` when too long).
    pub safe_user_server: String,
    /// `{escaped_username}`: the legacy `escape`-scheme user slug.
    pub escaped_username: String,
    /// `{escaped_servername}`: the legacy `escape`-scheme server slug.
    pub escaped_servername: String,
    /// `{escaped_user_server}`: `{escaped_username}--{escaped_servername}`.
    pub escaped_user_server: String,
    /// `None` until computed; templates then see `pod_name_unavailable!` like KubeSpawner's.
    pub pod_name: Option<String>,
    /// `{pvc_name}`, once known.
    pub pvc_name: Option<String>,
    /// `{namespace}`: the namespace the server's objects live in.
    pub namespace: String,
}

/// The field names, for error messages.
const FIELD_NAMES: &str = "userid, unescaped_username, unescaped_servername, hubnamespace, username, servername, \
     user_server, safe_username, safe_servername, safe_user_server, escaped_username, escaped_servername, \
     escaped_user_server, pod_name, pvc_name, namespace";

impl UserProperties {
    /// Fields for user `user` (id `user_id`), server `server` (`""` = default
    /// server). `hub_namespace` is the namespace the hub runs in (KubeSpawner
    /// reports `default` as `user`); `namespace` the pods' namespace.
    pub fn new(
        user: &str,
        user_id: i64,
        server: &str,
        scheme: SlugScheme,
        hub_namespace: &str,
        namespace: &str,
    ) -> Self {
        let safe_username = safe_slug(user, SlugRules::ObjectName, Some(FIELD_MAX_LENGTH));
        let safe_servername = if server.is_empty() {
            String::new()
        } else {
            safe_slug(server, SlugRules::ObjectName, Some(FIELD_MAX_LENGTH))
        };
        let safe_user_server = if safe_username.len() + safe_servername.len() + 2 > FIELD_MAX_LENGTH {
            multi_slug(&[user, server], FIELD_MAX_LENGTH)
        } else if server.is_empty() {
            safe_username.clone()
        } else {
            format!("{safe_username}--{safe_servername}")
        };
        let escaped_username = escape_slug(user);
        let escaped_servername = escape_slug(server);
        let (username, servername, user_server) = match scheme {
            SlugScheme::Safe => (safe_username.clone(), safe_servername.clone(), safe_user_server.clone()),
            SlugScheme::Escape => {
                let user_server = if escaped_servername.is_empty() {
                    escaped_username.clone()
                } else {
                    format!("{escaped_username}--{escaped_servername}")
                };
                (escaped_username.clone(), escaped_servername.clone(), user_server)
            }
        };
        let hubnamespace = if hub_namespace == "default" { "user".to_string() } else { hub_namespace.to_string() };
        Self {
            userid: user_id.to_string(),
            unescaped_username: user.to_string(),
            unescaped_servername: server.to_string(),
            hubnamespace,
            username,
            servername,
            user_server,
            safe_username,
            safe_servername,
            safe_user_server,
            escaped_user_server: format!("{escaped_username}--{escaped_servername}"),
            escaped_username,
            escaped_servername,
            pod_name: None,
            pvc_name: None,
            namespace: namespace.to_string(),
        }
    }

    /// The same fields with `{pod_name}` and `{pvc_name}` resolved.
    pub fn with_names(mut self, pod_name: &str, pvc_name: &str) -> Self {
        self.pod_name = Some(pod_name.to_string());
        self.pvc_name = Some(pvc_name.to_string());
        self
    }

    fn field(&self, name: &str) -> Option<String> {
        let value = match name {
            "userid" => &self.userid,
            "unescaped_username" => &self.unescaped_username,
            "unescaped_servername" => &self.unescaped_servername,
            "hubnamespace" => &self.hubnamespace,
            "username" => &self.username,
            "servername" => &self.servername,
            "user_server" => &self.user_server,
            "safe_username" => &self.safe_username,
            "safe_servername" => &self.safe_servername,
            "safe_user_server" => &self.safe_user_server,
            "escaped_username" => &self.escaped_username,
            "escaped_servername" => &self.escaped_servername,
            "escaped_user_server" => &self.escaped_user_server,
            "namespace" => &self.namespace,
            "pod_name" => return Some(self.pod_name.clone().unwrap_or_else(|| "pod_name_unavailable!".into())),
            "pvc_name" => return Some(self.pvc_name.clone().unwrap_or_else(|| "pvc_name_unavailable!".into())),
            _ => return None,
        };
        Some(value.clone())
    }

    /// KubeSpawner's `_expand_user_properties`: Python `str.format` with these
    /// fields, then trailing `-` removed unless the template itself ends in `-`
    /// (so `{username}--{servername}` gives `alice` for a default server).
    pub fn expand(&self, template: &str) -> Result<String, FormatError> {
        let rendered = pyfmt::format(template, &|name| self.field(name), &|| FIELD_NAMES.to_string(), Missing::Error)?;
        if template.ends_with('-') { Ok(rendered) } else { Ok(rendered.trim_end_matches('-').to_string()) }
    }

    /// KubeSpawner's `_expand_all`: every string inside `value` (not mapping
    /// keys) expanded with [`UserProperties::expand`].
    pub fn expand_value(&self, value: &Value) -> Result<Value, FormatError> {
        Ok(match value {
            Value::String(text) => Value::String(self.expand(text)?),
            Value::Array(items) => {
                Value::Array(items.iter().map(|item| self.expand_value(item)).collect::<Result<_, _>>()?)
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, item)| Ok((key.clone(), self.expand_value(item)?)))
                    .collect::<Result<_, FormatError>>()?,
            ),
            other => other.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_examples() {
        assert_eq!(safe_slug("alice", SlugRules::ObjectName, Some(48)), "alice");
        assert_eq!(safe_slug("Alice", SlugRules::ObjectName, Some(48)), "alice---3bc51062");
        assert_eq!(safe_slug("user@example.com", SlugRules::ObjectName, Some(48)), "user-example-com---b4c9a289");
        assert_eq!(safe_slug("9user@email.com", SlugRules::ObjectName, Some(48)), "x-9user-email-com---08f58cbd");
        assert_eq!(safe_slug("张三", SlugRules::ObjectName, Some(48)), "x---1d841bc0");
        assert_eq!(label_slug("Alice"), "Alice");
        assert_eq!(label_slug("a.b"), "a.b");
        assert_eq!(label_slug(""), "");
        assert_eq!(escape_slug("Alice"), "-41lice");
        assert_eq!(escape_slug("user@example.com"), "user-40example-2ecom");
        assert_eq!(escape_slug("\u{5}"), "-5");
    }

    #[test]
    fn named_server_pod_name() {
        let props = UserProperties::new("Zhong.Ger@Lab", 1, "GPU test", SlugScheme::Safe, "jupyterhub", "jupyterhub");
        assert_eq!(
            props.expand("jupyter-{user_server}").unwrap(),
            "jupyter-zhong-ger-lab---5419ee3b--gpu-test---a335f9dc"
        );
        assert_eq!(props.expand("{unescaped_username}|{userid}|{namespace}").unwrap(), "Zhong.Ger@Lab|1|jupyterhub");
        assert_eq!(props.expand("{pod_name}").unwrap(), "pod_name_unavailable!");
    }

    #[test]
    fn trailing_dashes() {
        let props = UserProperties::new("alice", 1, "", SlugScheme::Safe, "default", "default");
        assert_eq!(props.expand("{username}--{servername}").unwrap(), "alice");
        assert_eq!(props.expand("{username}-").unwrap(), "alice-");
        assert_eq!(props.expand("{hubnamespace}-{username}").unwrap(), "user-alice");
        assert!(props.expand("{nope}").is_err());
        let value = serde_json::json!({"claim-{username}": ["{pvc_name}", 3, {"a": "x-{servername}"}]});
        let props = props.with_names("jupyter-alice", "claim-alice");
        assert_eq!(
            props.expand_value(&value).unwrap(),
            serde_json::json!({"claim-{username}": ["claim-alice", 3, {"a": "x"}]})
        );
    }

    #[test]
    fn multi_slug_shares_the_budget() {
        let slug = multi_slug(&["Zhong.Ger@Lab", "GPU test"], 48);
        assert!(slug.starts_with("zhong-ger-lab--gpu-test---"), "{slug}");
        assert!(slug.len() <= 48);
        // Degenerate budgets still produce a slug instead of failing.
        assert!(!multi_slug(&["a", "b", "c", "d"], 10).is_empty());
    }
}
