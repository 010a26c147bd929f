//! The z2jh key table (derived from the chart's JSON schema into
//! `data/z2jh-keys.tsv` by `tools/derive_z2jh_keys.py`) and jhub's verdict on
//! every key: read by the hub, handed to the spawner, used only by the Helm
//! chart, or valid z2jh that jhub ignores.

use std::collections::HashMap;
use std::sync::OnceLock;

const TABLE: &str = include_str!("../data/z2jh-keys.tsv");

/// How the schema constrains an object's children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `additionalProperties: false`: only declared children (helm rejects others).
    Closed,
    /// Free-form children.
    Open,
    /// Children must match this regex (`patternProperties`).
    Pattern(&'static str),
    /// Not an object with declared children.
    Leaf,
}

/// One key of the chart schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaKey {
    /// Dotted path, `*` for pattern children.
    pub path: &'static str,
    /// `string|null`, `integer`, `any`, `enum:a,b` ...
    pub types: &'static str,
    pub shape: Shape,
}

/// What jhub does with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The hub reads it: `field` is the [`crate::HubConfig`] field it feeds.
    Supported { field: &'static str, meaning: &'static str },
    /// Describes user pods: handed to `jhub-podspec` (KubeSpawner semantics).
    Spawner,
    /// Shapes Kubernetes objects of the Helm chart only; the hub never reads
    /// it, so nothing is reported.
    Chart,
    /// Valid z2jh that jhub does not support: reported once as a warning.
    Ignored { reason: &'static str },
}

impl Class {
    pub fn label(&self) -> &'static str {
        match self {
            Class::Supported { .. } => "supported",
            Class::Spawner => "spawner",
            Class::Chart => "chart",
            Class::Ignored { .. } => "ignored",
        }
    }
}

use Class::{Chart, Spawner};

const fn sup(field: &'static str, meaning: &'static str) -> Class {
    Class::Supported { field, meaning }
}
const fn ign(reason: &'static str) -> Class {
    Class::Ignored { reason }
}

/// Verdicts by schema path; a path without its own entry takes its nearest
/// ancestor's. Every top-level key has an entry, so every key is classified.
pub const RULES: &[(&str, Class)] = &[
    ("enabled", Chart),
    ("fullnameOverride", Chart),
    ("nameOverride", Chart),
    ("imagePullSecret", Spawner),
    ("imagePullSecrets", Spawner),
    ("custom", Chart),
    ("global", Chart),
    ("ingress", Chart),
    ("httpRoute", Chart),
    ("httpRoute.gateway", ign("removed from z2jh (use httpRoute.parentRefs); the chart refuses to install with it")),
    ("prePuller", Chart),
    ("rbac", Chart),
    ("rbac.enabled", ign("removed from z2jh (use rbac.create); the chart refuses to install with it")),
    ("debug", Chart),
    ("debug.enabled", sup("debug", "Debug logging of the hub (and CHP, through the chart).")),
    ("cull", Chart),
    ("cull.enabled", sup("cull.enabled", "Run the idle culler inside the hub.")),
    ("cull.users", sup("cull.policy.cull_users", "Also delete users idle for `timeout` once their servers are gone.")),
    ("cull.adminUsers", sup("cull.policy.cull_admin_users", "With `users`: admins may be culled too.")),
    (
        "cull.removeNamedServers",
        sup("cull.policy.remove_named_servers", "Delete named servers instead of only stopping them."),
    ),
    (
        "cull.timeout",
        sup("cull.policy.timeout", "Seconds of inactivity after which a server is stopped (0: culler default 600)."),
    ),
    ("cull.every", sup("cull.policy.every", "Seconds between cull sweeps (0 or unset: timeout / 2, like the culler).")),
    ("cull.concurrency", sup("cull.policy.concurrency", "Stops running at once per sweep (0: culler default 10).")),
    (
        "cull.maxAge",
        sup("cull.policy.max_age", "Stop servers older than this many seconds regardless of activity (0: off)."),
    ),
    ("scheduling", Chart),
    ("scheduling.userScheduler.enabled", Spawner),
    ("scheduling.podPriority.enabled", Spawner),
    ("scheduling.userPods", Spawner),
    ("singleuser", Spawner),
    ("singleuser.networkPolicy", Chart),
    ("proxy", Chart),
    (
        "proxy.secretToken",
        sup(
            "proxy.auth_token",
            "Token for CHP's REST API (precedence: hub.config.ConfigurableHTTPProxy.auth_token, this, CONFIGPROXY_AUTH_TOKEN).",
        ),
    ),
    ("hub", Chart),
    (
        "hub.config",
        sup(
            "(passthrough)",
            "Traitlets sections (JupyterHub, Authenticator, GitLabOAuthenticator, KubeSpawner, ...); see the hub.config tables.",
        ),
    ),
    (
        "hub.config.JupyterHub.subdomain_host",
        ign("jhub serves user servers on paths of one host; subdomain hosting is not supported"),
    ),
    ("hub.baseUrl", sup("hub.base_url", "URL prefix of the hub and user servers.")),
    (
        "hub.cookieSecret",
        sup("hub.cookie_secret", "Key signing login cookies (hub.config.JupyterHub.cookie_secret wins)."),
    ),
    ("hub.db.type", sup("hub.db.kind", "sqlite-pvc, sqlite-memory, postgres or other (mysql is not supported).")),
    (
        "hub.db.url",
        sup(
            "hub.db.target",
            "Database URL for postgres/other (postgresql:// or sqlite://; SQLAlchemy driver suffixes are dropped).",
        ),
    ),
    ("hub.db.password", sup("hub.db.password", "Database password (like PGPASSWORD).")),
    ("hub.db.upgrade", ign("jhub applies its schema migrations on every start")),
    ("hub.extraConfig", ign("Python snippets for the Python hub; jhub cannot run Python configuration")),
    ("hub.fsGid", ign("removed from z2jh; the chart refuses to install with it")),
    (
        "hub.existingSecret",
        sup("(mount)", "A Secret of your own; load_z2jh_mount reads its values.yaml and keys first."),
    ),
    ("hub.activeServerLimit", sup("hub.active_server_limit", "Most servers active at once (0/unset: no limit).")),
    ("hub.allowNamedServers", sup("hub.allow_named_servers", "Let users run named servers besides their default one.")),
    ("hub.authenticatePrometheus", sup("hub.authenticate_prometheus", "Require a token for /hub/metrics.")),
    (
        "hub.concurrentSpawnLimit",
        sup(
            "hub.concurrent_spawn_limit",
            "Most spawns in flight at once; more wait in the spawn queue (hub.config.JhubSpawnQueue) or, past it, get 429.",
        ),
    ),
    (
        "hub.consecutiveFailureLimit",
        sup("hub.consecutive_failure_limit", "Spawn failures in a row after which the hub stops (0: never)."),
    ),
    (
        "hub.namedServerLimitPerUser",
        sup("hub.named_server_limit_per_user", "Most named servers per user (0/unset: no limit)."),
    ),
    ("hub.redirectToServer", sup("hub.redirect_to_server", "Send users to their server after login.")),
    ("hub.shutdownOnLogout", sup("hub.shutdown_on_logout", "Stop the user's servers when they log out.")),
    ("hub.templatePaths", sup("hub.template_paths", "Directories searched first for page templates.")),
    ("hub.templateVars", sup("hub.template_vars", "Extra variables for page templates.")),
    ("hub.loadRoles", sup("hub.load_roles", "RBAC roles by name (the key is the default name).")),
    (
        "hub.services",
        sup("hub.services", "Services by name with API tokens (apiToken/api_token), admin, url, oauth settings."),
    ),
];

fn parse_table() -> Vec<SchemaKey> {
    TABLE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let mut cols = l.split('\t');
            let path = cols.next()?;
            let types = cols.next()?;
            let shape = cols.next()?;
            let shape = match shape {
                "closed" => Shape::Closed,
                "open" => Shape::Open,
                "leaf" => Shape::Leaf,
                other => Shape::Pattern(other.strip_prefix("pattern=")?),
            };
            Some(SchemaKey { path, types, shape })
        })
        .collect()
}

struct Index {
    keys: Vec<SchemaKey>,
    by_path: HashMap<&'static str, usize>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let keys = parse_table();
        let by_path = keys.iter().enumerate().map(|(i, k)| (k.path, i)).collect();
        Index { keys, by_path }
    })
}

/// Every key of the chart schema, in schema order.
pub fn all() -> &'static [SchemaKey] {
    &index().keys
}

/// The schema key for a concrete path (segments), matching `*` patterns.
pub fn lookup<S: AsRef<str>>(path: &[S]) -> Option<&'static SchemaKey> {
    let idx = index();
    let mut current = String::new();
    let mut found = None;
    for seg in path {
        let seg = seg.as_ref();
        let parent = found.map(|i: usize| &idx.keys[i]);
        let exact = if current.is_empty() { seg.to_string() } else { format!("{current}.{seg}") };
        if let Some(&i) = idx.by_path.get(exact.as_str()) {
            current = exact;
            found = Some(i);
            continue;
        }
        let pattern_ok = match parent.map(|p| p.shape) {
            Some(Shape::Pattern(p)) => pattern_matches(p, seg),
            _ => false,
        };
        let star = format!("{current}.*");
        match idx.by_path.get(star.as_str()) {
            Some(&i) if pattern_ok => {
                current = star;
                found = Some(i);
            }
            _ => return None,
        }
    }
    found.map(|i| &idx.keys[i])
}

/// The few patterns the schema uses.
pub fn pattern_matches(pattern: &str, key: &str) -> bool {
    match pattern {
        "^[A-Z].*$" => key.chars().next().is_some_and(|c| c.is_ascii_uppercase()),
        _ => true,
    }
}

/// Declared children of a schema path (for did-you-mean).
pub fn children(path: &str) -> Vec<&'static str> {
    let prefix = if path.is_empty() { String::new() } else { format!("{path}.") };
    all()
        .iter()
        .filter_map(|k| k.path.strip_prefix(prefix.as_str()))
        .filter(|rest| !rest.contains('.') && *rest != "*")
        .collect()
}

/// jhub's verdict for a schema path (nearest classified ancestor).
pub fn classify(path: &str) -> Option<Class> {
    let mut candidate = path;
    loop {
        if let Some((_, class)) = RULES.iter().find(|(p, _)| *p == candidate) {
            return Some(*class);
        }
        candidate = &candidate[..candidate.rfind('.')?];
    }
}

/// The rule path that decided `path`'s class (the path itself or an ancestor).
pub fn deciding_rule(path: &str) -> Option<&'static str> {
    let mut candidate = path;
    loop {
        if let Some((p, _)) = RULES.iter().find(|(p, _)| *p == candidate) {
            return Some(p);
        }
        candidate = &candidate[..candidate.rfind('.')?];
    }
}

/// Closest candidate by edit distance, if close enough to be a plausible typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let d = strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase());
            (d, c)
        })
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 4).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_matches_patterns() {
        assert_eq!(lookup(&["hub", "baseUrl"]).unwrap().types, "string");
        assert_eq!(lookup(&["hub", "config", "GitLabOAuthenticator"]).unwrap().path, "hub.config.*");
        assert!(lookup(&["hub", "config", "gitlab"]).is_none(), "lower-case sections do not match ^[A-Z]");
        assert_eq!(lookup(&["hub", "labels", "a.b/c"]).unwrap().path, "hub.labels.*");
        assert_eq!(lookup(&["hub", "extraFiles", "x", "mountPath"]).unwrap().path, "hub.extraFiles.*.mountPath");
        assert!(lookup(&["hub", "baseURL"]).is_none());
    }

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("baseURL", children("hub")), Some("baseUrl"));
        assert_eq!(did_you_mean("memo_gurantee", ["mem_guarantee", "cpu_guarantee"]), Some("mem_guarantee"));
        assert_eq!(did_you_mean("zzzzzz", ["mem_guarantee"]), None);
    }
}
