//! What the hub needs to know from configuration, as plain data. The binary
//! maps the parsed z2jh values onto this; tests build it directly.

use jhub_core::cull::CullPolicy;
use jhub_core::env::HubEnvSettings;
use jhub_core::names::UrlLayout;
use std::time::Duration;

/// A service defined in configuration (`hub.services`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub name: String,
    pub admin: bool,
    pub url: Option<String>,
    /// API token from config; hashed with 16384 rounds like JupyterHub does
    /// for supplied tokens.
    pub api_token: Option<String>,
    pub display: bool,
    pub oauth_no_confirm: bool,
    pub oauth_redirect_uri: Option<String>,
    pub info: serde_json::Value,
}

/// A role from configuration (`hub.loadRoles` / `JupyterHub.load_roles`).
#[derive(Debug, Clone, PartialEq)]
pub struct RoleSpec {
    pub name: String,
    pub description: Option<String>,
    pub scopes: Vec<String>,
    pub users: Vec<String>,
    pub groups: Vec<String>,
    pub services: Vec<String>,
}

/// One entry of `JupyterHub.load_groups` (JupyterHub 5).
#[derive(Debug, Clone, Default)]
pub struct GroupSpec {
    pub name: String,
    pub users: Vec<String>,
    pub properties: Option<serde_json::Value>,
}

/// Hub behaviour settings.
#[derive(Debug, Clone)]
pub struct HubSettings {
    pub layout: UrlLayout,
    /// What every server's environment says about the hub.
    pub hub_env: HubEnvSettings,
    /// Target of the proxy's hub route `/` (e.g. `http://hub:8081`).
    pub hub_route_target: String,
    pub allow_named_servers: bool,
    /// 0 = unlimited.
    pub named_server_limit_per_user: u32,
    /// 0 = unlimited (JupyterHub default 100, z2jh 64).
    pub concurrent_spawn_limit: u32,
    /// Past `concurrent_spawn_limit`, spawns wait in a fair FIFO instead of
    /// being refused (`hub.config.JhubSpawnQueue.enabled`, default on).
    pub spawn_queue_enabled: bool,
    /// Places in the spawn queue; past it, 429 as JupyterHub
    /// (`hub.config.JhubSpawnQueue.max_length`).
    pub spawn_queue_max_length: usize,
    /// 0 = unlimited.
    pub active_server_limit: u32,
    /// Bound on `Spawner.start` (z2jh `singleuser.startTimeout`, 300).
    pub start_timeout: Duration,
    /// Bound on waiting for a started server to answer HTTP (30 s).
    pub http_timeout: Duration,
    /// Bound on `Spawner.stop`.
    pub stop_timeout: Duration,
    /// How often coalesced activity is written to the store.
    pub activity_flush_interval: Duration,
    /// Activity closer than this to the stored value is not recorded (30 s).
    pub activity_resolution: Duration,
    /// Full proxy reconciliation and CHP activity pull (z2jh 60 s).
    pub proxy_check_interval: Duration,
    /// How often the proxy is probed for a restart (routes lost).
    pub proxy_probe_interval: Duration,
    /// How often running servers are checked through `Spawner::poll`.
    pub poll_interval: Duration,
    /// Internal culler; `None` = off.
    pub cull: Option<CullPolicy>,
    /// Upper bound on how long a cached token identity is trusted.
    pub token_cache_ttl: Duration,
    /// Lifetime of OAuth access tokens issued to servers' browsers (14 days).
    pub oauth_token_lifetime: Duration,
    /// Lifetime of OAuth authorization codes (300 s).
    pub oauth_code_lifetime: Duration,
    /// `JupyterHub.token_expires_in_max_seconds` (0 = none).
    pub token_expires_in_max: Option<Duration>,
    /// Users created as admins at startup (`Authenticator.admin_users`).
    pub admin_users: Vec<String>,
    /// Also create these users at startup (`Authenticator.allowed_users`).
    pub initial_users: Vec<String>,
    pub roles: Vec<RoleSpec>,
    /// `JupyterHub.load_groups`, applied before the roles.
    pub load_groups: Vec<GroupSpec>,
    pub services: Vec<ServiceSpec>,
    /// `JupyterHub.extra_user_scopes`.
    pub extra_user_scopes: Vec<String>,
    /// `JupyterHub.custom_scopes`.
    pub custom_scopes: Vec<jhub_core::rbac::CustomScopeDef>,
    /// Exit after this many consecutive failed spawns (0 = never; z2jh 5).
    pub consecutive_failure_limit: u32,
    /// `JupyterHub.admin_access`.
    pub admin_access: bool,
    /// How long the server event log (usage) is kept; `None` = forever
    /// (`hub.config.JhubUsage.event_retention_days`).
    pub event_retention: Option<Duration>,
    /// How often expired tokens, codes and old events are purged.
    pub purge_interval: Duration,
}

impl HubSettings {
    /// Defaults for a hub at `base_url` whose API single-user servers reach at `api_url`.
    pub fn new(base_url: &str, api_url: &str, hub_route_target: &str) -> Self {
        let layout = UrlLayout::new(base_url);
        Self {
            hub_env: HubEnvSettings {
                layout: layout.clone(),
                api_url: api_url.to_string(),
                public_host: String::new(),
                public_url: String::new(),
                admin_access: false,
                cookie_host_prefix_enabled: false,
                cookie_options_json: None,
            },
            layout,
            hub_route_target: hub_route_target.to_string(),
            allow_named_servers: false,
            named_server_limit_per_user: 0,
            concurrent_spawn_limit: 100,
            spawn_queue_enabled: true,
            spawn_queue_max_length: 1000,
            active_server_limit: 0,
            start_timeout: Duration::from_secs(60),
            http_timeout: Duration::from_secs(30),
            stop_timeout: Duration::from_secs(60),
            activity_flush_interval: Duration::from_secs(5),
            activity_resolution: Duration::from_secs(30),
            proxy_check_interval: Duration::from_secs(60),
            proxy_probe_interval: Duration::from_secs(1),
            poll_interval: Duration::from_secs(10),
            cull: None,
            token_cache_ttl: Duration::from_secs(60),
            oauth_token_lifetime: Duration::from_secs(14 * 86_400),
            oauth_code_lifetime: Duration::from_secs(300),
            token_expires_in_max: None,
            admin_users: Vec::new(),
            initial_users: Vec::new(),
            roles: Vec::new(),
            load_groups: Vec::new(),
            services: Vec::new(),
            extra_user_scopes: Vec::new(),
            custom_scopes: Vec::new(),
            event_retention: None,
            purge_interval: Duration::from_secs(3600),
            consecutive_failure_limit: 0,
            admin_access: false,
        }
    }
}
