//! The typed configuration the hub runs with ([`HubConfig`]), built from the
//! merged values with z2jh's precedence rules: `hub.config.<Section>` wins
//! over the `hub.*` / `proxy.*` shortcuts, which win over environment
//! fallbacks, which win over jhub's (= z2jh's) defaults.

use crate::diag::Diagnostic;
use crate::env::Environment;
use crate::values::{Origin, VNode, VValue};
use crate::yaml::Scalar;
use jhub_core::cull::CullPolicy;
use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

/// A secret value with the key that set it and where.
#[derive(Debug, Clone)]
pub struct Secret {
    pub value: SecretString,
    /// The values path (or environment variable) that provided it.
    pub key: String,
    pub origin: Origin,
}

impl Secret {
    pub fn expose(&self) -> &str {
        self.value.expose_secret()
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("<secret from {}>", self.origin))
    }
}

/// A plain setting that also needs its origin (for placeholder checks).
#[derive(Debug, Clone, Serialize)]
pub struct Sourced<T> {
    pub value: T,
    pub key: String,
    pub origin: Origin,
}

/// Everything the hub needs, typed.
#[derive(Debug, Clone, Serialize)]
pub struct HubConfig {
    pub hub: HubSettings,
    pub auth: AuthConfig,
    pub spawner: SpawnerSettings,
    pub proxy: ProxySettings,
    pub cull: CullSettings,
    /// `hub.config.JhubSecurity`: jhub-only hardening settings.
    pub security: SecuritySettings,
    /// `hub.config.JhubStorage`: users' volumes.
    pub storage: StorageSettings,
    /// `debug.enabled`: debug logging.
    pub debug: bool,
    /// The log level the configuration asks for, as a tracing level
    /// (`debug`, `info`, `warn`, `error`): `debug` with `debug.enabled`, else
    /// `hub.config.JupyterHub.log_level` (Python's names or numbers); `None`
    /// when neither is set.
    pub log_level: Option<String>,
    pub release: ReleaseInfo,
}

/// Python `logging` level names and numbers → tracing levels.
fn tracing_level(name: &str) -> Option<&'static str> {
    match name.trim().to_ascii_uppercase().as_str() {
        "DEBUG" | "10" | "NOTSET" | "0" => Some("debug"),
        "INFO" | "20" => Some("info"),
        "WARN" | "WARNING" | "30" => Some("warn"),
        "ERROR" | "40" | "CRITICAL" | "FATAL" | "50" => Some("error"),
        _ => None,
    }
}

/// Helm release facts: from the mounted values' `Release`/`Chart` blocks or
/// the environment (`HELM_RELEASE_NAME`, `POD_NAMESPACE`), else local-run defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseInfo {
    /// `HELM_RELEASE_NAME` / `Release.Name`, else `jhub`.
    pub name: String,
    /// `POD_NAMESPACE` / `Release.Namespace`, else `default`.
    pub namespace: String,
    /// `Chart.Name`, else `jhub`.
    pub chart_name: String,
    /// `Chart.Version`, else jhub's version.
    pub chart_version: String,
}

impl ReleaseInfo {
    /// The same facts in the shape `jhub-podspec` takes.
    pub fn to_podspec(&self) -> jhub_podspec::z2jh::ReleaseInfo {
        jhub_podspec::z2jh::ReleaseInfo {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            chart_name: self.chart_name.clone(),
            chart_version: self.chart_version.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HubSettings {
    /// Normalised to start and end with `/`.
    pub base_url: String,
    /// Where the hub listens (z2jh: `http://:8081`, i.e. all addresses, port 8081).
    pub bind_address: String,
    pub port: u16,
    /// How user servers and the proxy reach the hub (z2jh: `http://hub:8081`).
    pub hub_connect_url: String,
    /// `hub_connect_url` + base_url + `hub/api`.
    pub api_url: String,
    pub public_url: Option<String>,
    pub default_url: Option<String>,
    pub db: DbSettings,
    pub cookie_secret: Option<Secret>,
    /// `CryptKeeper.keys` / `JUPYTERHUB_CRYPT_KEY` (`;`-separated keys).
    pub crypt_keys: Option<Secret>,
    pub allow_named_servers: bool,
    /// 0: unlimited.
    pub named_server_limit_per_user: u64,
    pub concurrent_spawn_limit: u64,
    /// 0: unlimited.
    pub active_server_limit: u64,
    pub redirect_to_server: bool,
    pub shutdown_on_logout: bool,
    pub authenticate_prometheus: bool,
    pub template_paths: Vec<String>,
    pub template_vars: serde_json::Map<String, serde_json::Value>,
    /// `Spawner.consecutive_failure_limit`; 0: never stop the hub.
    pub consecutive_failure_limit: u64,
    pub admin_access: bool,
    /// Role objects (`name`, `scopes`, `users`, `groups`, `services`, `description`).
    pub load_roles: Vec<serde_json::Value>,
    /// `JupyterHub.load_groups` (JupyterHub 5): `{group: [users]}` or
    /// `{group: {users: [...], properties: {...}}}`, as `(name, users, properties)`.
    pub load_groups: Vec<(String, Vec<String>, Option<serde_json::Value>)>,
    pub services: Vec<ServiceSettings>,
    /// 0: no maximum.
    pub token_expires_in_max_seconds: u64,
    pub cookie_max_age_days: f64,
    pub activity_resolution: u64,
    pub last_activity_interval: u64,
    pub custom_scopes: serde_json::Map<String, serde_json::Value>,
    /// `JhubUsage.event_retention_days`: how long the server event log
    /// (usage reports) is kept; 0 keeps it forever.
    pub event_retention_days: f64,
    /// `JhubSpawnQueue.enabled`: past `concurrent_spawn_limit`, spawns wait
    /// in a FIFO (default) instead of being refused with 429.
    pub spawn_queue_enabled: bool,
    /// `JhubSpawnQueue.max_length`: places in the spawn queue; past it, 429.
    pub spawn_queue_max_length: u64,
}

/// `hub.config.JhubStorage` (deploy/README.md, "Storage").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageSettings {
    /// The VolumeSnapshotClass to use; `None`: the cluster's default class.
    pub snapshot_class: Option<String>,
    /// Scheduled snapshots of every user's volume this often; 0 turns them off.
    pub snapshot_every_hours: f64,
    /// Scheduled snapshots kept per volume.
    pub snapshot_keep: u64,
    /// How often used bytes are read from the kubelets; 0 turns it off.
    pub usage_interval_seconds: f64,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self { snapshot_class: None, snapshot_every_hours: 0.0, snapshot_keep: 7, usage_interval_seconds: 120.0 }
    }
}

/// `hub.config.JhubSecurity` (docs/security.md).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecuritySettings {
    /// Stop a user's servers when a refresh finds the user no longer allowed.
    pub stop_servers_on_access_loss: bool,
    /// How long a token-authenticated request waits for a due auth refresh.
    pub token_refresh_wait_seconds: f64,
    /// The whole request head must arrive within this (also the keep-alive idle limit).
    pub header_read_timeout_seconds: f64,
    /// A connection without traffic and without a running handler is closed after this.
    pub idle_timeout_seconds: f64,
    pub max_connections: u64,
    pub max_header_bytes: u64,
    pub max_headers: u64,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        SecuritySettings {
            stop_servers_on_access_loss: true,
            token_refresh_wait_seconds: 2.0,
            header_read_timeout_seconds: 10.0,
            idle_timeout_seconds: 300.0,
            max_connections: 4096,
            max_header_bytes: 65536,
            max_headers: 100,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DbKind {
    SqlitePvc,
    SqliteMemory,
    Postgres,
    Other,
}

/// What the store should open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DbTarget {
    Sqlite {
        path: PathBuf,
    },
    Memory,
    Postgres {
        #[serde(serialize_with = "serialize_url")]
        url: String,
    },
}

/// A database URL with its password masked (`check-config --print --format json`).
fn serialize_url<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::mask::mask_url_passwords(url).unwrap_or_else(|| url.to_string()))
}

#[derive(Debug, Clone, Serialize)]
pub struct DbSettings {
    pub kind: DbKind,
    pub target: DbTarget,
    pub password: Option<Secret>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceSettings {
    pub name: String,
    pub api_token: Option<Secret>,
    pub admin: bool,
    pub url: Option<String>,
    pub oauth_redirect_uri: Option<String>,
    pub oauth_no_confirm: bool,
    pub display: bool,
    /// The full service object as configured (minus secrets), for fields not modelled here.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuthConfig {
    pub authenticator: Authenticator,
    pub admin_users: BTreeSet<String>,
    pub allowed_users: BTreeSet<String>,
    pub blocked_users: BTreeSet<String>,
    pub allow_all: bool,
    pub allow_existing_users: bool,
    pub enable_auth_state: bool,
    pub auto_login: bool,
    pub username_pattern: Option<String>,
    pub username_map: BTreeMap<String, String>,
    pub delete_invalid_users: bool,
    pub manage_groups: bool,
    /// `None`: the authenticator's default.
    pub refresh_pre_spawn: Option<bool>,
    pub auth_refresh_age: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "class", rename_all = "kebab-case")]
pub enum Authenticator {
    Gitlab(Box<GitLabSettings>),
    /// Any username; the password must match when one is set.
    Dummy {
        password: Option<Secret>,
    },
    SharedPassword {
        user_password: Option<Secret>,
        admin_password: Option<Secret>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct GitLabSettings {
    /// Without a trailing slash, with a scheme.
    pub gitlab_url: String,
    pub api_version: String,
    pub client_id: Option<Sourced<String>>,
    pub client_secret: Option<Secret>,
    pub oauth_callback_url: Option<String>,
    pub login_service: String,
    pub scope: Vec<String>,
    pub allowed_gitlab_groups: BTreeSet<String>,
    pub allowed_project_ids: BTreeSet<i64>,
    pub allowed_groups: BTreeSet<String>,
    pub admin_groups: BTreeSet<String>,
    pub auth_state_groups_key: Option<String>,
    pub custom_403_message: Option<String>,
    pub validate_server_cert: bool,
    pub logout_redirect_url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SpawnerSettings {
    /// Where user pods go (`hub.config.KubeSpawner.namespace`, else `POD_NAMESPACE`, else `default`).
    pub namespace: String,
    pub release_name: String,
    /// Seconds; `singleuser.startTimeout` (z2jh 300) unless KubeSpawner config overrides it.
    pub start_timeout: u64,
    pub http_timeout: u64,
    /// KubeSpawner's settings from `singleuser.*`, `scheduling.*`, `imagePullSecret(s)` and
    /// `hub.config.Spawner`/`KubeSpawner`, built by `jhub_podspec::z2jh` (KubeSpawner 7.1 rules).
    pub pod: jhub_podspec::SpawnerConfig,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProxySettings {
    /// CHP's REST API (z2jh: `http://proxy-api:8001`).
    pub api_url: String,
    pub auth_token: Option<Secret>,
    pub service_type: String,
    pub node_port_http: Option<i64>,
    pub node_port_https: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CullSettings {
    pub enabled: bool,
    #[serde(serialize_with = "serialize_policy")]
    pub policy: CullPolicy,
}

fn serialize_policy<S: Serializer>(p: &CullPolicy, s: S) -> Result<S::Ok, S::Error> {
    serde_json::json!({
        "timeout": p.timeout.as_secs(),
        "every": p.every.as_secs(),
        "max_age": p.max_age.as_secs(),
        "cull_users": p.cull_users,
        "cull_admin_users": p.cull_admin_users,
        "remove_named_servers": p.remove_named_servers,
        "cull_default_servers": p.cull_default_servers,
        "cull_named_servers": p.cull_named_servers,
        "concurrency": p.concurrency,
    })
    .serialize(s)
}

// ---------------------------------------------------------------------------

/// Reads typed values out of the merged tree, reporting type problems.
struct Reader<'a> {
    root: &'a VNode,
    diags: &'a mut Vec<Diagnostic>,
}

fn present(node: Option<&VNode>) -> Option<&VNode> {
    node.filter(|n| !n.is_null())
}

impl<'a> Reader<'a> {
    /// First of `paths` that is set (not null).
    fn pick(&self, paths: &[&str]) -> Option<(String, &'a VNode)> {
        let root: &'a VNode = self.root;
        paths.iter().find_map(|p| present(root.get(p)).map(|n| (p.to_string(), n)))
    }

    fn bad(&mut self, path: &str, node: &VNode, want: &str) {
        // The schema and trait checks may already have reported this key.
        if self.diags.iter().any(|d| d.severity == crate::diag::Severity::Error && d.key.as_deref() == Some(path)) {
            return;
        }
        self.diags
            .push(Diagnostic::error("type", format!("`{path}` must be {want}")).key(path).at(node.value_location()));
    }

    fn bool(&mut self, paths: &[&str], default: bool) -> bool {
        match self.pick(paths) {
            None => default,
            Some((path, node)) => match node.value {
                VValue::Scalar(Scalar::Bool(b)) => b,
                _ => {
                    self.bad(&path, node, "true or false");
                    default
                }
            },
        }
    }

    fn opt_bool(&mut self, paths: &[&str]) -> Option<bool> {
        match self.pick(paths) {
            None => None,
            Some((path, node)) => match node.value {
                VValue::Scalar(Scalar::Bool(b)) => Some(b),
                _ => {
                    self.bad(&path, node, "true or false");
                    None
                }
            },
        }
    }

    fn uint(&mut self, paths: &[&str], default: u64) -> u64 {
        match self.pick(paths) {
            None => default,
            Some((path, node)) => match node.value {
                VValue::Scalar(Scalar::Int(i)) if i >= 0 => i as u64,
                _ => {
                    self.bad(&path, node, "a whole number >= 0");
                    default
                }
            },
        }
    }

    fn float(&mut self, paths: &[&str], default: f64) -> f64 {
        match self.pick(paths) {
            None => default,
            Some((path, node)) => match node.value {
                VValue::Scalar(Scalar::Int(i)) => i as f64,
                VValue::Scalar(Scalar::Float(f)) => f,
                _ => {
                    self.bad(&path, node, "a number");
                    default
                }
            },
        }
    }

    fn string(&mut self, paths: &[&str]) -> Option<String> {
        let (path, node) = self.pick(paths)?;
        match &node.value {
            VValue::Scalar(Scalar::Str(s)) => Some(s.clone()),
            VValue::Scalar(Scalar::Int(i)) => Some(i.to_string()),
            _ => {
                self.bad(&path, node, "a string");
                None
            }
        }
    }

    fn sourced(&mut self, paths: &[&str]) -> Option<Sourced<String>> {
        let (path, node) = self.pick(paths)?;
        let origin = node.origin.clone();
        let value = self.string(&[path.as_str()])?;
        Some(Sourced { value, key: path, origin })
    }

    fn secret(&mut self, paths: &[&str]) -> Option<Secret> {
        let (path, node) = self.pick(paths)?;
        let origin = node.origin.clone();
        let value = match &node.value {
            VValue::Seq(items) => {
                // CryptKeeper.keys may be a list; JupyterHub joins them with `;`.
                let parts: Vec<String> = items.iter().filter_map(|n| n.as_str().map(str::to_string)).collect();
                parts.join(";")
            }
            _ => self.string(&[path.as_str()])?,
        };
        Some(Secret { value: SecretString::from(value), key: path, origin })
    }

    fn strings(&mut self, paths: &[&str]) -> Vec<String> {
        let Some((path, node)) = self.pick(paths) else { return Vec::new() };
        match &node.value {
            VValue::Seq(items) => items
                .iter()
                .filter_map(|n| match &n.value {
                    VValue::Scalar(Scalar::Str(s)) => Some(s.clone()),
                    VValue::Scalar(Scalar::Int(i)) => Some(i.to_string()),
                    _ => {
                        self.bad(&path, n, "a list of strings");
                        None
                    }
                })
                .collect(),
            VValue::Scalar(Scalar::Str(s)) => vec![s.clone()],
            _ => {
                self.bad(&path, node, "a list of strings");
                Vec::new()
            }
        }
    }

    fn json(&mut self, paths: &[&str]) -> Option<serde_json::Value> {
        self.pick(paths).map(|(_, n)| n.to_json())
    }
}

/// Authenticator sections in traitlets precedence order (most specific first).
fn auth_paths(sections: &[&str], trait_name: &str) -> Vec<String> {
    sections.iter().map(|s| format!("hub.config.{s}.{trait_name}")).collect()
}

struct AuthReader<'r, 'a> {
    r: &'r mut Reader<'a>,
    sections: Vec<&'static str>,
}

impl AuthReader<'_, '_> {
    /// Call `f` with the trait's paths in every applicable section, most specific first.
    fn with<T>(&mut self, name: &str, f: impl FnOnce(&mut Reader<'_>, &[&str]) -> T) -> T {
        let owned = auth_paths(&self.sections, name);
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        f(self.r, &refs)
    }
}

fn normalise_base_url(s: &str) -> String {
    let trimmed = s.trim_matches('/');
    if trimmed.is_empty() { "/".to_string() } else { format!("/{trimmed}/") }
}

fn parse_bind_url(url: &str) -> Option<(String, u16)> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hostport = rest.split('/').next()?;
    let (host, port) = hostport.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host.trim_matches(['[', ']']);
    Some((if host.is_empty() { "0.0.0.0".into() } else { host.to_string() }, port))
}

/// Build the typed config. Problems go to `diags`.
pub(crate) fn build(root: &VNode, env: &Environment, diags: &mut Vec<Diagnostic>) -> HubConfig {
    let mut r = Reader { root, diags };

    // Release and resource names (the chart's naming rules live in jhub-podspec).
    let text_at = |path: &str| root.get(path).and_then(VNode::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let release = ReleaseInfo {
        name: env
            .non_empty("HELM_RELEASE_NAME")
            .map(str::to_string)
            .or_else(|| text_at("Release.Name"))
            .unwrap_or_else(|| "jhub".into()),
        namespace: env
            .non_empty("POD_NAMESPACE")
            .map(str::to_string)
            .or_else(|| text_at("Release.Namespace"))
            .unwrap_or_else(|| "default".into()),
        chart_name: text_at("Chart.Name").unwrap_or_else(|| "jhub".into()),
        chart_version: text_at("Chart.Version").unwrap_or_else(|| env!("CARGO_PKG_VERSION").into()),
    };
    let merged_json = root.to_json();
    let names = jhub_podspec::z2jh::chart_names(&merged_json, &release.to_podspec());

    // Hub.
    let base_url =
        normalise_base_url(&r.string(&["hub.config.JupyterHub.base_url", "hub.baseUrl"]).unwrap_or_else(|| "/".into()));
    let (mut bind_address, mut port) = ("0.0.0.0".to_string(), 8081u16);
    if let Some(url) = r.string(&["hub.config.JupyterHub.hub_bind_url"]) {
        match parse_bind_url(&url) {
            Some((h, p)) => (bind_address, port) = (h, p),
            None => r.diags.push(
                Diagnostic::error("hub-bind-url", format!("hub_bind_url `{url}` has no host:port"))
                    .key("hub.config.JupyterHub.hub_bind_url")
                    .at(root.get("hub.config.JupyterHub.hub_bind_url").and_then(VNode::value_location)),
            ),
        }
    }
    if let Some(ip) = r.string(&["hub.config.JupyterHub.hub_ip"]) {
        bind_address = if ip.is_empty() { "0.0.0.0".into() } else { ip };
    }
    let hub_port = r.uint(&["hub.config.JupyterHub.hub_port"], u64::from(port));
    port = u16::try_from(hub_port).unwrap_or(port);
    let hub_service_port = env.non_empty("HUB_SERVICE_PORT").and_then(|p| p.parse::<u16>().ok()).unwrap_or(port);
    let hub_connect_url = r
        .string(&["hub.config.JupyterHub.hub_connect_url"])
        .unwrap_or_else(|| format!("http://{}:{hub_service_port}", names.hub));
    let api_url = format!("{}{}hub/api", hub_connect_url.trim_end_matches('/'), base_url);

    let db = build_db(&mut r, env);
    let cookie_secret = r.secret(&["hub.config.JupyterHub.cookie_secret", "hub.cookieSecret"]);
    let crypt_keys = r.secret(&["hub.config.CryptKeeper.keys"]).or_else(|| {
        env.non_empty("JUPYTERHUB_CRYPT_KEY").map(|v| Secret {
            value: SecretString::from(v.to_string()),
            key: "JUPYTERHUB_CRYPT_KEY".into(),
            origin: Origin::Env { var: "JUPYTERHUB_CRYPT_KEY".into() },
        })
    });

    let template_vars = match r.json(&["hub.config.JupyterHub.template_vars", "hub.templateVars"]) {
        Some(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let custom_scopes = match r.json(&["hub.config.JupyterHub.custom_scopes"]) {
        Some(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let load_roles = build_roles(root);
    let load_groups = build_load_groups(&mut r);
    let services = build_services(root);

    const RETENTION: &str = "hub.config.JhubUsage.event_retention_days";
    let event_retention_days = match r.float(&[RETENTION], 0.0) {
        days if days.is_finite() && days >= 0.0 => days,
        _ => {
            if let Some((path, node)) = r.pick(&[RETENTION]) {
                r.bad(&path, node, "a number of days, 0 or more (0 keeps the event log forever)");
            }
            0.0
        }
    };
    let hub = HubSettings {
        base_url: base_url.clone(),
        bind_address,
        port,
        hub_connect_url,
        api_url,
        public_url: r.string(&["hub.config.JupyterHub.public_url"]),
        default_url: r.string(&["hub.config.JupyterHub.default_url"]),
        db,
        cookie_secret,
        crypt_keys,
        allow_named_servers: r.bool(&["hub.config.JupyterHub.allow_named_servers", "hub.allowNamedServers"], false),
        named_server_limit_per_user: r
            .uint(&["hub.config.JupyterHub.named_server_limit_per_user", "hub.namedServerLimitPerUser"], 0),
        concurrent_spawn_limit: r
            .uint(&["hub.config.JupyterHub.concurrent_spawn_limit", "hub.concurrentSpawnLimit"], 100),
        active_server_limit: r.uint(&["hub.config.JupyterHub.active_server_limit", "hub.activeServerLimit"], 0),
        redirect_to_server: r.bool(&["hub.config.JupyterHub.redirect_to_server", "hub.redirectToServer"], true),
        shutdown_on_logout: r.bool(&["hub.config.JupyterHub.shutdown_on_logout", "hub.shutdownOnLogout"], false),
        authenticate_prometheus: r
            .bool(&["hub.config.JupyterHub.authenticate_prometheus", "hub.authenticatePrometheus"], true),
        template_paths: r.strings(&["hub.config.JupyterHub.template_paths", "hub.templatePaths"]),
        template_vars,
        consecutive_failure_limit: r.uint(
            &[
                "hub.config.KubeSpawner.consecutive_failure_limit",
                "hub.config.Spawner.consecutive_failure_limit",
                "hub.consecutiveFailureLimit",
            ],
            0,
        ),
        admin_access: r.bool(&["hub.config.JupyterHub.admin_access"], false),
        load_roles,
        load_groups,
        services,
        token_expires_in_max_seconds: r.uint(&["hub.config.JupyterHub.token_expires_in_max_seconds"], 0),
        cookie_max_age_days: r.float(&["hub.config.JupyterHub.cookie_max_age_days"], 14.0),
        activity_resolution: r.uint(&["hub.config.JupyterHub.activity_resolution"], 30),
        // z2jh fixes 60 (JupyterHub's own default is 300).
        last_activity_interval: r.uint(&["hub.config.JupyterHub.last_activity_interval"], 60),
        custom_scopes,
        event_retention_days,
        spawn_queue_enabled: r.bool(&["hub.config.JhubSpawnQueue.enabled"], true),
        spawn_queue_max_length: r.uint(&["hub.config.JhubSpawnQueue.max_length"], 1000),
    };

    let auth = build_auth(&mut r, env);

    // Proxy.
    let auth_token = r
        .secret(&[
            "hub.config.ConfigurableHTTPProxy.auth_token",
            "hub.config.Proxy.auth_token",
            "hub.config.JupyterHub.proxy_auth_token",
            "proxy.secretToken",
        ])
        .or_else(|| {
            env.non_empty("CONFIGPROXY_AUTH_TOKEN").map(|v| Secret {
                value: SecretString::from(v.to_string()),
                key: "CONFIGPROXY_AUTH_TOKEN".into(),
                origin: Origin::Env { var: "CONFIGPROXY_AUTH_TOKEN".into() },
            })
        });
    let proxy = ProxySettings {
        api_url: r
            .string(&["hub.config.ConfigurableHTTPProxy.api_url"])
            .unwrap_or_else(|| format!("http://{}:8001", names.proxy_api)),
        auth_token,
        service_type: r.string(&["proxy.service.type"]).unwrap_or_else(|| "LoadBalancer".into()),
        node_port_http: r.pick(&["proxy.service.nodePorts.http"]).and_then(|(_, n)| match n.value {
            VValue::Scalar(Scalar::Int(i)) => Some(i),
            _ => None,
        }),
        node_port_https: r.pick(&["proxy.service.nodePorts.https"]).and_then(|(_, n)| match n.value {
            VValue::Scalar(Scalar::Int(i)) => Some(i),
            _ => None,
        }),
    };

    // Spawner: KubeSpawner semantics belong to jhub-podspec; map its problems back to file:line.
    let pod = match jhub_podspec::z2jh::spawner_config_with_warnings(&merged_json, &release.to_podspec()) {
        Ok((pod, warnings)) => {
            spawner_problems(root, &warnings, r.diags);
            pod
        }
        Err(problems) => {
            spawner_problems(root, &problems, r.diags);
            jhub_podspec::SpawnerConfig::default()
        }
    };
    let spawner = SpawnerSettings {
        namespace: pod.namespace.clone(),
        release_name: release.name.clone(),
        start_timeout: u64::try_from(pod.start_timeout).unwrap_or(0),
        http_timeout: u64::try_from(pod.http_timeout).unwrap_or(0),
        pod,
    };

    let cull = build_cull(&mut r);
    let level_node = root.get("hub.config.JupyterHub.log_level");
    let level_text = match level_node.map(|n| &n.value) {
        Some(VValue::Scalar(Scalar::Int(n))) => Some(n.to_string()),
        Some(_) => r.string(&["hub.config.JupyterHub.log_level"]),
        None => None,
    };
    let configured_level = level_text.as_deref().and_then(tracing_level);
    if let (Some(text), None) = (&level_text, configured_level) {
        r.diags.push(
            Diagnostic::error(
                "log-level",
                format!("log_level `{text}` is not a level (DEBUG, INFO, WARN, ERROR, CRITICAL or 10..50)"),
            )
            .key("hub.config.JupyterHub.log_level")
            .at(level_node.and_then(VNode::value_location)),
        );
    }
    let debug = r.bool(&["debug.enabled"], false) || configured_level == Some("debug");
    let log_level = if debug { Some("debug".to_string()) } else { configured_level.map(str::to_string) };

    let security = build_security(&mut r);
    let storage = build_storage(&mut r);
    HubConfig { hub, auth, spawner, proxy, cull, security, storage, debug, log_level, release }
}

fn build_storage(r: &mut Reader<'_>) -> StorageSettings {
    let d = StorageSettings::default();
    let key = |name: &str| format!("hub.config.JhubStorage.{name}");
    let non_negative = |r: &mut Reader<'_>, name: &str, default: f64, max: f64, what: &str| {
        let path = key(name);
        let value = r.float(&[&path], default);
        if value.is_finite() && (0.0..=max).contains(&value) {
            value
        } else {
            if let Some(node) = r.root.get(&path) {
                r.bad(&path, node, what);
            }
            default
        }
    };
    let snapshot_every_hours = non_negative(
        r,
        "snapshot_every_hours",
        d.snapshot_every_hours,
        24.0 * 366.0,
        "a number of hours, 0 (no scheduled snapshots) up to a year",
    );
    let usage_interval_seconds = non_negative(
        r,
        "usage_interval_seconds",
        d.usage_interval_seconds,
        86_400.0,
        "a number of seconds, 0 (do not read used bytes) up to 86400",
    );
    StorageSettings {
        snapshot_class: r.string(&[&key("snapshot_class")]).filter(|s| !s.trim().is_empty()),
        snapshot_every_hours,
        snapshot_keep: r.uint(&[&key("snapshot_keep")], d.snapshot_keep),
        usage_interval_seconds,
    }
}

fn build_security(r: &mut Reader<'_>) -> SecuritySettings {
    let d = SecuritySettings::default();
    let key = |name: &str| format!("hub.config.JhubSecurity.{name}");
    let positive = |r: &mut Reader<'_>, name: &str, default: f64| {
        let path = key(name);
        let value = r.float(&[&path], default);
        // At most a day: larger values would overflow the timers' clocks.
        if value > 0.0 && value <= 86_400.0 {
            value
        } else {
            if let Some(node) = r.root.get(&path) {
                r.bad(&path, node, "a number of seconds > 0 and at most 86400");
            }
            default
        }
    };
    SecuritySettings {
        stop_servers_on_access_loss: r.bool(&[&key("stop_servers_on_access_loss")], d.stop_servers_on_access_loss),
        token_refresh_wait_seconds: positive(r, "token_refresh_wait_seconds", d.token_refresh_wait_seconds),
        header_read_timeout_seconds: positive(r, "header_read_timeout_seconds", d.header_read_timeout_seconds),
        idle_timeout_seconds: positive(r, "idle_timeout_seconds", d.idle_timeout_seconds),
        max_connections: r.uint(&[&key("max_connections")], d.max_connections).max(1),
        max_header_bytes: r.uint(&[&key("max_header_bytes")], d.max_header_bytes),
        max_headers: r.uint(&[&key("max_headers")], d.max_headers).max(1),
    }
}

fn build_db(r: &mut Reader<'_>, env: &Environment) -> DbSettings {
    let kind_text = r.string(&["hub.db.type"]).unwrap_or_else(|| "sqlite-pvc".into());
    let url = r.string(&["hub.config.JupyterHub.db_url", "hub.db.url"]);
    let password = r.secret(&["hub.db.password"]);
    let data_dir = PathBuf::from(env.non_empty("JHUB_DATA_DIR").unwrap_or("/srv/jupyterhub"));
    let at = r.root.get("hub.db.type").and_then(VNode::value_location);
    let (kind, target) = match kind_text.as_str() {
        "sqlite-pvc" => (DbKind::SqlitePvc, DbTarget::Sqlite { path: data_dir.join("jhub.sqlite") }),
        "sqlite-memory" => (DbKind::SqliteMemory, DbTarget::Memory),
        "postgres" | "other" => {
            let kind = if kind_text == "postgres" { DbKind::Postgres } else { DbKind::Other };
            match url.as_deref().map(db_target) {
                Some(Ok(t)) => (kind, t),
                Some(Err(msg)) => {
                    r.diags.push(
                        Diagnostic::error("db", msg)
                            .key("hub.db.url")
                            .at(r.root.get("hub.db.url").and_then(VNode::value_location)),
                    );
                    (kind, DbTarget::Memory)
                }
                None => {
                    r.diags.push(
                        Diagnostic::error("db", format!("hub.db.type is `{kind_text}` but hub.db.url is not set"))
                            .key("hub.db.url")
                            .at(at)
                            .help("set hub.db.url, e.g. postgresql://jhub@db.example.org:5432/jhub"),
                    );
                    (kind, DbTarget::Memory)
                }
            }
        }
        "mysql" => {
            r.diags.push(
                Diagnostic::error("db", "hub.db.type `mysql` is not supported by jhub")
                    .key("hub.db.type")
                    .at(at)
                    .help("use postgres (or sqlite-pvc for small hubs); the data can be moved with JupyterHub's own tools before switching"),
            );
            (DbKind::Other, DbTarget::Memory)
        }
        other => {
            if r.diags.iter().any(|d| d.key.as_deref() == Some("hub.db.type")) {
                return DbSettings { kind: DbKind::SqlitePvc, target: DbTarget::Memory, password };
            }
            r.diags.push(
                Diagnostic::error(
                    "db",
                    format!("hub.db.type `{other}` is not one of sqlite-pvc, sqlite-memory, postgres, other"),
                )
                .key("hub.db.type")
                .at(at),
            );
            (DbKind::SqlitePvc, DbTarget::Sqlite { path: data_dir.join("jhub.sqlite") })
        }
    };
    DbSettings { kind, target, password }
}

/// SQLAlchemy-style URL → what the store opens.
fn db_target(url: &str) -> Result<DbTarget, String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| format!("hub.db.url `{url}` is not a URL"))?;
    let base_scheme = scheme.split('+').next().unwrap_or(scheme);
    match base_scheme {
        "postgresql" | "postgres" => Ok(DbTarget::Postgres { url: format!("postgresql://{rest}") }),
        "sqlite" => {
            let path = rest.strip_prefix('/').unwrap_or(rest);
            if path.is_empty() || path == ":memory:" {
                Ok(DbTarget::Memory)
            } else {
                Ok(DbTarget::Sqlite { path: PathBuf::from(path) })
            }
        }
        "mysql" | "mariadb" => {
            Err(format!("hub.db.url `{base_scheme}://…`: MySQL/MariaDB is not supported by jhub; use PostgreSQL"))
        }
        other => Err(format!("hub.db.url scheme `{other}` is not supported; use postgresql:// or sqlite://")),
    }
}

fn build_roles(root: &VNode) -> Vec<serde_json::Value> {
    let mut roles = Vec::new();
    if let Some(entries) = root.get("hub.loadRoles").and_then(VNode::as_map) {
        for (key, node) in entries {
            let mut role = node.to_json();
            if let serde_json::Value::Object(m) = &mut role {
                m.entry("name").or_insert_with(|| serde_json::Value::String(key.clone()));
            }
            roles.push(role);
        }
    }
    if let Some(list) = root.get("hub.config.JupyterHub.load_roles").and_then(VNode::as_seq) {
        roles.extend(list.iter().map(VNode::to_json));
    }
    roles
}

fn build_load_groups(r: &mut Reader<'_>) -> Vec<(String, Vec<String>, Option<serde_json::Value>)> {
    let path = "hub.config.JupyterHub.load_groups";
    let Some(serde_json::Value::Object(groups)) = r.json(&[path]) else { return Vec::new() };
    let names = |v: Option<&serde_json::Value>| -> Vec<String> {
        v.and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|u| u.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    groups
        .into_iter()
        .map(|(name, spec)| match spec {
            serde_json::Value::Array(_) => (name, names(Some(&spec)), None),
            serde_json::Value::Object(ref m) => (name, names(m.get("users")), m.get("properties").cloned()),
            _ => (name, Vec::new(), None),
        })
        .collect()
}

fn build_services(root: &VNode) -> Vec<ServiceSettings> {
    let mut out = Vec::new();
    let Some(entries) = root.get("hub.services").and_then(VNode::as_map) else { return out };
    for (key, node) in entries {
        let token = ["apiToken", "api_token"].iter().find_map(|k| {
            let n = present(node.child(k))?;
            Some(Secret {
                value: SecretString::from(n.as_str().unwrap_or_default().to_string()),
                key: format!("hub.services.{key}.{k}"),
                origin: n.origin.clone(),
            })
        });
        let mut extra = match node.to_json() {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        extra.remove("apiToken");
        extra.remove("api_token");
        let s = |k: &str| extra.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let b = |k: &str, d: bool| extra.get(k).and_then(serde_json::Value::as_bool).unwrap_or(d);
        out.push(ServiceSettings {
            name: s("name").unwrap_or_else(|| key.clone()),
            api_token: token,
            admin: b("admin", false),
            url: s("url"),
            oauth_redirect_uri: s("oauth_redirect_uri"),
            oauth_no_confirm: b("oauth_no_confirm", false),
            display: b("display", true),
            extra,
        });
    }
    out
}

fn authenticator_sections(class: &str) -> Option<(&'static str, Vec<&'static str>)> {
    let c = class.trim();
    let lower = c.to_ascii_lowercase();
    match lower.as_str() {
        "gitlab"
        | "oauthenticator.gitlab.gitlaboauthenticator"
        | "oauthenticator.gitlaboauthenticator"
        | "gitlaboauthenticator" => Some(("gitlab", vec!["GitLabOAuthenticator", "OAuthenticator", "Authenticator"])),
        "dummy" | "jupyterhub.auth.dummyauthenticator" | "dummyauthenticator" => {
            Some(("dummy", vec!["DummyAuthenticator", "Authenticator"]))
        }
        "shared-password"
        | "sharedpassword"
        | "jupyterhub.authenticators.shared.sharedpasswordauthenticator"
        | "sharedpasswordauthenticator" => {
            Some(("shared-password", vec!["SharedPasswordAuthenticator", "Authenticator"]))
        }
        _ => None,
    }
}

fn build_auth(r: &mut Reader<'_>, env: &Environment) -> AuthConfig {
    let class_node = r.pick(&["hub.config.JupyterHub.authenticator_class"]).map(|(_, n)| n.clone());
    let class = r.string(&["hub.config.JupyterHub.authenticator_class"]).unwrap_or_else(|| "dummy".into());
    let (kind, sections) = match authenticator_sections(&class) {
        Some(found) => found,
        None => {
            r.diags.push(
                Diagnostic::error("authenticator", format!("authenticator_class `{class}` is not supported by jhub"))
                    .key("hub.config.JupyterHub.authenticator_class")
                    .at(class_node.as_ref().and_then(VNode::value_location))
                    .note("jhub implements GitLab OAuth (`gitlab`), `dummy` and `shared-password`")
                    .help("set hub.config.JupyterHub.authenticator_class to `gitlab` (oauthenticator.gitlab.GitLabOAuthenticator)"),
            );
            ("dummy", vec!["DummyAuthenticator", "Authenticator"])
        }
    };
    let mut a = AuthReader { r, sections };
    let set = |v: Vec<String>| v.into_iter().collect::<BTreeSet<String>>();
    let admin_users = set(a.with("admin_users", |r, p| r.strings(p)));
    // The deprecated aliases are read, not just warned about: an ignored
    // `blacklist` admits who it blocked (the fail-open class of
    // CVE-2020-26250, where `whitelist` was dropped).
    let mut allowed_users = set(a.with("allowed_users", |r, p| r.strings(p)));
    allowed_users.extend(a.with("whitelist", |r, p| r.strings(p)));
    let mut blocked_users = set(a.with("blocked_users", |r, p| r.strings(p)));
    blocked_users.extend(a.with("blacklist", |r, p| r.strings(p)));
    let allow_all = a.with("allow_all", |r, p| r.bool(p, false));
    let allow_existing_users = a.with("allow_existing_users", |r, p| r.bool(p, false));
    let enable_auth_state = a.with("enable_auth_state", |r, p| r.bool(p, false));
    let auto_login = a.with("auto_login", |r, p| r.bool(p, false));
    let username_pattern = a.with("username_pattern", |r, p| r.string(p));
    let username_map = match a.with("username_map", |r, p| r.json(p)) {
        Some(serde_json::Value::Object(m)) => {
            m.into_iter().filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string()))).collect()
        }
        _ => BTreeMap::new(),
    };
    let delete_invalid_users = a.with("delete_invalid_users", |r, p| r.bool(p, false));
    let manage_groups = a.with("manage_groups", |r, p| r.bool(p, false));
    let refresh_pre_spawn = a.with("refresh_pre_spawn", |r, p| r.opt_bool(p));
    let auth_refresh_age = a.with("auth_refresh_age", |r, p| r.uint(p, 300));

    let authenticator = match kind {
        "gitlab" => {
            let gitlab_url_cfg = a.with("gitlab_url", |r, p| r.string(p));
            let gitlab_url = gitlab_url_cfg
                .or_else(|| env.non_empty("GITLAB_URL").map(str::to_string))
                .or_else(|| env.non_empty("GITLAB_HOST").map(str::to_string))
                .unwrap_or_else(|| "https://gitlab.com".into());
            let gitlab_url = if gitlab_url.contains("://") { gitlab_url } else { format!("https://{gitlab_url}") };
            let client_id = a.with("client_id", |r, p| r.sourced(p)).or_else(|| {
                ["GITLAB_CLIENT_ID", "OAUTH_CLIENT_ID"].iter().find_map(|v| {
                    env.non_empty(v).map(|val| Sourced {
                        value: val.to_string(),
                        key: v.to_string(),
                        origin: Origin::Env { var: v.to_string() },
                    })
                })
            });
            let client_secret = a.with("client_secret", |r, p| r.secret(p)).or_else(|| {
                ["GITLAB_CLIENT_SECRET", "OAUTH_CLIENT_SECRET"].iter().find_map(|v| {
                    env.non_empty(v).map(|val| Secret {
                        value: SecretString::from(val.to_string()),
                        key: v.to_string(),
                        origin: Origin::Env { var: v.to_string() },
                    })
                })
            });
            let oauth_callback_url = a
                .with("oauth_callback_url", |r, p| r.string(p))
                .or_else(|| env.non_empty("OAUTH_CALLBACK_URL").map(str::to_string));
            let mut groups = a.with("allowed_gitlab_groups", |r, p| r.strings(p));
            groups.extend(a.with("gitlab_group_whitelist", |r, p| r.strings(p)));
            let mut projects = a.with("allowed_project_ids", |r, p| r.json(p));
            if projects.is_none() {
                projects = a.with("gitlab_project_id_whitelist", |r, p| r.json(p));
            }
            let allowed_project_ids = projects
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
                .collect();
            Authenticator::Gitlab(Box::new(GitLabSettings {
                gitlab_url: gitlab_url.trim_end_matches('/').to_string(),
                api_version: a
                    .with("gitlab_api_version", |r, p| r.string(p))
                    .or_else(|| env.non_empty("GITLAB_API_VERSION").map(str::to_string))
                    .unwrap_or_else(|| "4".into()),
                client_id,
                client_secret,
                oauth_callback_url,
                login_service: a
                    .with("login_service", |r, p| r.string(p))
                    .or_else(|| env.non_empty("LOGIN_SERVICE").map(str::to_string))
                    .unwrap_or_else(|| "GitLab".into()),
                scope: a.with("scope", |r, p| r.strings(p)),
                allowed_gitlab_groups: groups.into_iter().collect(),
                allowed_project_ids,
                allowed_groups: set(a.with("allowed_groups", |r, p| r.strings(p))),
                admin_groups: set(a.with("admin_groups", |r, p| r.strings(p))),
                auth_state_groups_key: a.with("auth_state_groups_key", |r, p| r.string(p)),
                custom_403_message: a.with("custom_403_message", |r, p| r.string(p)),
                validate_server_cert: a
                    .with("validate_server_cert", |r, p| r.bool(p, env.get("OAUTH_TLS_VERIFY") != Some("0"))),
                logout_redirect_url: a.with("logout_redirect_url", |r, p| r.string(p)),
            }))
        }
        "shared-password" => Authenticator::SharedPassword {
            user_password: a.r.secret(&["hub.config.SharedPasswordAuthenticator.user_password"]),
            admin_password: a.r.secret(&["hub.config.SharedPasswordAuthenticator.admin_password"]),
        },
        _ => Authenticator::Dummy { password: a.r.secret(&["hub.config.DummyAuthenticator.password"]) },
    };

    AuthConfig {
        authenticator,
        admin_users,
        allowed_users,
        blocked_users,
        allow_all,
        allow_existing_users,
        enable_auth_state,
        auto_login,
        username_pattern,
        username_map,
        delete_invalid_users,
        manage_groups,
        refresh_pre_spawn,
        auth_refresh_age,
    }
}

fn build_cull(r: &mut Reader<'_>) -> CullSettings {
    let enabled = r.bool(&["cull.enabled"], true);
    // z2jh passes each flag only when the value is truthy; otherwise the
    // culler's own default applies (timeout 600, every timeout/2, concurrency 10).
    let timeout = match r.uint(&["cull.timeout"], 0) {
        0 => 600,
        t => t,
    };
    let every = match r.uint(&["cull.every"], 0) {
        0 => timeout / 2,
        e => e,
    };
    let concurrency = match r.uint(&["cull.concurrency"], 0) {
        0 => 10,
        c => c,
    };
    let policy = CullPolicy {
        timeout: Duration::from_secs(timeout),
        every: Duration::from_secs(every.max(1)),
        max_age: Duration::from_secs(r.uint(&["cull.maxAge"], 0)),
        cull_users: r.bool(&["cull.users"], false),
        cull_admin_users: r.bool(&["cull.adminUsers"], true),
        remove_named_servers: r.bool(&["cull.removeNamedServers"], false),
        cull_default_servers: true,
        cull_named_servers: true,
        concurrency: usize::try_from(concurrency).unwrap_or(10),
    };
    CullSettings { enabled, policy }
}

/// Turn `jhub-podspec` problems into diagnostics at the line of the value,
/// unless this crate's own checks already reported that key (their messages
/// carry more context, e.g. the consequence of a misspelt guarantee).
fn spawner_problems(root: &VNode, problems: &[jhub_podspec::z2jh::ValueProblem], diags: &mut Vec<Diagnostic>) {
    for p in problems {
        let already = diags.iter().any(|d| {
            d.key.as_deref().is_some_and(|k| {
                k == p.path || p.path.starts_with(&format!("{k}.")) || p.path.starts_with(&format!("{k}["))
            })
        });
        if already {
            continue;
        }
        let severity = match p.severity {
            jhub_podspec::z2jh::Severity::Error => crate::diag::Severity::Error,
            jhub_podspec::z2jh::Severity::Warning => crate::diag::Severity::Warning,
        };
        diags.push(
            Diagnostic::new(severity, "spawner", format!("`{}`: {}", p.path, p.message))
                .key(&p.path)
                .at(crate::values::locate(root, &p.path)),
        );
    }
}

/// Semantic warnings that need the whole config (each once).
pub(crate) fn semantic_checks(root: &VNode, cfg: &HubConfig, diags: &mut Vec<Diagnostic>) {
    let user_loc = |path: &str| root.get(path).filter(|n| !n.origin.is_default()).and_then(VNode::value_location);
    if cfg.cull.enabled {
        let p = &cfg.cull.policy;
        if p.every > p.timeout {
            diags.push(
                Diagnostic::warning(
                    "cull-every",
                    format!(
                        "cull.every ({}s) is longer than cull.timeout ({}s)",
                        p.every.as_secs(),
                        p.timeout.as_secs()
                    ),
                )
                .key("cull.every")
                .at(user_loc("cull.every").or_else(|| user_loc("cull.timeout")))
                .note("idle servers can run up to timeout + every before they are stopped")
                .help("use an interval of at most half the timeout"),
            );
        }
        if p.timeout < Duration::from_secs(300) {
            diags.push(
                Diagnostic::warning("cull-timeout", format!("cull.timeout is {}s, shorter than 5 minutes", p.timeout.as_secs()))
                    .key("cull.timeout")
                    .at(user_loc("cull.timeout"))
                    .note("user servers report activity every 5 minutes and the proxy every 60 s, so busy servers may be culled")
                    .help("use at least 300 (600 or more is usual)"),
            );
        }
    }
    if let Authenticator::Gitlab(g) = &cfg.auth.authenticator {
        let any_allow = cfg.auth.allow_all
            || cfg.auth.allow_existing_users
            || !cfg.auth.allowed_users.is_empty()
            || !g.allowed_gitlab_groups.is_empty()
            || !g.allowed_project_ids.is_empty()
            || (cfg.auth.manage_groups && (!g.allowed_groups.is_empty() || !g.admin_groups.is_empty()));
        if !any_allow {
            diags.push(
                Diagnostic::warning(
                    "allow-config",
                    "GitLab login is configured without any allow rule: only admin_users can log in",
                )
                .key("hub.config.GitLabOAuthenticator")
                .at(root.get("hub.config.GitLabOAuthenticator").and_then(|n| n.origin.location()))
                .help(
                    "set allowed_gitlab_groups, allowed_project_ids, allowed_users, manage_groups with allowed_groups, \
                     or allow_all: true",
                ),
            );
        }
        if (!g.allowed_groups.is_empty() || !g.admin_groups.is_empty() || g.auth_state_groups_key.is_some())
            && !cfg.auth.manage_groups
        {
            let at = ["allowed_groups", "admin_groups", "auth_state_groups_key"].iter().find_map(|t| {
                ["GitLabOAuthenticator", "OAuthenticator"]
                    .iter()
                    .find_map(|s| root.get(&format!("hub.config.{s}.{t}")))
                    .and_then(|n| n.origin.location())
            });
            diags.push(
                Diagnostic::error(
                    "allow-config",
                    "allowed_groups/admin_groups/auth_state_groups_key need manage_groups: true",
                )
                .key("hub.config.GitLabOAuthenticator.allowed_groups")
                .at(at)
                .note(
                    "these name hub groups; with manage_groups jhub makes each user's GitLab groups (full paths, \
                     e.g. `lab/gpu`) their hub groups at every login and refresh (OAuthenticator refuses to start \
                     without manage_groups too)",
                )
                .help("set Authenticator.manage_groups: true, or use allowed_gitlab_groups"),
            );
        }
    }
}
