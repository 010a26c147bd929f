//! `hub.config.<Section>` passthrough: which traitlets sections and traits
//! jhub understands, their types, and what it does with each.

use jhub_podspec::traits::TraitKind::{self, *};

/// What jhub does with a trait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Read into the typed config.
    Supported,
    /// jhub fixes this itself; a configured value is reported and ignored.
    Fixed(&'static str),
    /// Valid, but jhub does not implement it; reported once and ignored.
    Ignored(&'static str),
    /// Old name of another trait; accepted with a warning.
    Deprecated { use_instead: &'static str },
}

#[derive(Debug, Clone, Copy)]
pub struct TraitInfo {
    pub name: &'static str,
    pub kind: TraitKind,
    pub support: Support,
}

const fn s(name: &'static str, kind: TraitKind) -> TraitInfo {
    TraitInfo { name, kind, support: Support::Supported }
}
const fn ign(name: &'static str, kind: TraitKind, reason: &'static str) -> TraitInfo {
    TraitInfo { name, kind, support: Support::Ignored(reason) }
}
const fn fixed(name: &'static str, kind: TraitKind, reason: &'static str) -> TraitInfo {
    TraitInfo { name, kind, support: Support::Fixed(reason) }
}
const fn dep(name: &'static str, kind: TraitKind, use_instead: &'static str) -> TraitInfo {
    TraitInfo { name, kind, support: Support::Deprecated { use_instead } }
}

const PY: &str = "it takes a Python callable, which jhub cannot run";

pub const JUPYTERHUB: &[TraitInfo] = &[
    s("active_server_limit", Int),
    s("activity_resolution", Int),
    s("admin_access", Bool),
    s("allow_named_servers", Bool),
    s("authenticate_prometheus", Bool),
    s("authenticator_class", Str),
    s("base_url", Str),
    s("concurrent_spawn_limit", Int),
    s("cookie_max_age_days", Float),
    s("cookie_secret", Str),
    s("custom_scopes", Dict),
    s("db_url", Str),
    s("default_url", Str),
    s("hub_bind_url", Str),
    s("hub_connect_url", Str),
    s("hub_ip", Str),
    s("hub_port", Int),
    s("last_activity_interval", Int),
    s("load_groups", Dict),
    s("load_roles", List),
    s("log_level", Any),
    s("named_server_limit_per_user", Int),
    s("public_url", Str),
    s("redirect_to_server", Bool),
    s("services", List),
    s("shutdown_on_logout", Bool),
    s("template_paths", List),
    s("template_vars", Dict),
    s("token_expires_in_max_seconds", Int),
    fixed("cleanup_proxy", Bool, "jhub keeps proxy routes of running servers across restarts"),
    fixed("cleanup_servers", Bool, "user pods always survive hub restarts (as in z2jh)"),
    fixed("proxy_class", Any, "jhub always talks to configurable-http-proxy"),
    fixed("spawner_class", Any, "jhub always uses its KubeSpawner-compatible spawner"),
    ign("api_tokens", Dict, "removed in JupyterHub 2; use services with api_token"),
    ign("bind_url", Str, "the public address belongs to configurable-http-proxy, which the chart runs"),
    ign("data_files_path", Str, "jhub ships its own templates and static files"),
    ign("extra_handlers", List, "jhub cannot load Python request handlers"),
    ign("implicit_spawn_seconds", Float, "not implemented"),
    ign("init_spawners_timeout", Int, "jhub checks servers in the background at start"),
    ign("internal_ssl", Bool, "internal TLS between hub, proxy and user servers is not implemented"),
    ign("ip", Str, "the public address belongs to configurable-http-proxy, which the chart runs"),
    ign("jinja_environment_options", Dict, "jhub renders templates with minijinja"),
    ign("logo_file", Str, "not implemented; override the page template instead"),
    ign("oauth_token_expires_in", Int, "not implemented"),
    ign("pid_file", Str, "not needed in a container"),
    ign("port", Int, "the public port belongs to configurable-http-proxy, which the chart runs"),
    dep("proxy_auth_token", Str, "ConfigurableHTTPProxy.auth_token"),
    ign("reset_db", Bool, "not implemented"),
    ign("statsd_host", Str, "statsd is not supported; scrape /hub/metrics"),
    ign("statsd_port", Int, "statsd is not supported; scrape /hub/metrics"),
    ign("statsd_prefix", Str, "statsd is not supported; scrape /hub/metrics"),
    ign("subdomain_host", Str, "jhub serves user servers on paths of one host; subdomain hosting is not supported"),
    ign("tornado_settings", Dict, "jhub is not a tornado application"),
    ign("trusted_alt_names", List, "internal TLS is not implemented"),
    ign("upgrade_db", Bool, "jhub applies its schema migrations on every start"),
    ign("user_redirect_hook", Any, PY),
];

pub const AUTHENTICATOR: &[TraitInfo] = &[
    s("admin_users", List),
    s("allow_all", Bool),
    s("allow_existing_users", Bool),
    s("allowed_users", List),
    s("auth_refresh_age", Int),
    s("auto_login", Bool),
    s("blocked_users", List),
    s("delete_invalid_users", Bool),
    s("enable_auth_state", Bool),
    s("manage_groups", Bool),
    s("refresh_pre_spawn", Bool),
    s("username_map", Dict),
    s("username_pattern", Str),
    ign("auto_login_oauth2_authorize", Bool, "not implemented"),
    ign("manage_roles", Bool, "roles are managed by load_roles only"),
    ign("otp_prompt", Str, "one-time passwords are not supported"),
    ign("post_auth_hook", Any, PY),
    ign("request_otp", Bool, "one-time passwords are not supported"),
    ign("reset_managed_roles_on_startup", Bool, "roles are managed by load_roles only"),
    dep("whitelist", List, "allowed_users"),
    dep("blacklist", List, "blocked_users"),
];

pub const OAUTHENTICATOR: &[TraitInfo] = &[
    s("admin_groups", List),
    s("allowed_groups", List),
    s("auth_state_groups_key", Str),
    s("client_id", Str),
    s("client_secret", Str),
    s("custom_403_message", Str),
    s("login_service", Str),
    s("logout_redirect_url", Str),
    s("oauth_callback_url", Str),
    s("scope", List),
    s("validate_server_cert", Bool),
    ign("allowed_scopes", List, "not implemented"),
    ign("authorize_url", Str, "derived from gitlab_url"),
    ign("enable_pkce", Bool, "jhub always uses PKCE with GitLab"),
    ign("extra_authorize_params", Dict, "not implemented"),
    ign("http_request_kwargs", Dict, "not implemented"),
    ign("modify_auth_state_hook", Any, PY),
    ign("token_params", Dict, "not implemented"),
    ign("token_url", Str, "derived from gitlab_url"),
    ign("user_auth_state_key", Str, "jhub stores GitLab's user as `gitlab_user`, like GitLabOAuthenticator"),
    ign("userdata_url", Str, "derived from gitlab_url"),
    ign("username_claim", Any, "GitLab's `username` is used, like GitLabOAuthenticator"),
];

pub const GITLAB: &[TraitInfo] = &[
    s("allowed_gitlab_groups", List),
    s("allowed_project_ids", List),
    s("gitlab_api_version", Any),
    s("gitlab_url", Str),
    dep("gitlab_group_whitelist", List, "allowed_gitlab_groups"),
    dep("gitlab_project_id_whitelist", List, "allowed_project_ids"),
];

pub const DUMMY: &[TraitInfo] = &[s("password", Str)];

pub const SHARED_PASSWORD: &[TraitInfo] = &[s("admin_password", Str), s("user_password", Str)];

pub const PROXY: &[TraitInfo] = &[
    s("api_url", Str),
    s("auth_token", Str),
    ign("command", List, "jhub does not start configurable-http-proxy; the chart runs it"),
    ign("debug", Bool, "set debug.enabled instead"),
    ign("pid_file", Str, "jhub does not start configurable-http-proxy"),
    fixed("should_start", Bool, "jhub never starts configurable-http-proxy itself; the chart (or you) runs it"),
];

/// jhub-only hardening settings (not JupyterHub traits; a z2jh chart
/// passes `hub.config.JhubSecurity` through and the Python hub ignores it).
pub const JHUB_SECURITY: &[TraitInfo] = &[
    s("stop_servers_on_access_loss", Bool),
    s("token_refresh_wait_seconds", Float),
    s("header_read_timeout_seconds", Float),
    s("idle_timeout_seconds", Float),
    s("max_connections", Int),
    s("max_header_bytes", Int),
    s("max_headers", Int),
];
/// jhub's own settings (not JupyterHub traits): usage accounting.
pub const JHUB_USAGE: &[TraitInfo] = &[s("event_retention_days", Float)];
/// jhub's own settings (not JupyterHub traits): users' volumes (resize,
/// snapshots, used bytes; deploy/README.md "Storage").
pub const JHUB_STORAGE: &[TraitInfo] = &[
    s("snapshot_class", Str),
    s("snapshot_every_hours", Float),
    s("snapshot_keep", Int),
    s("usage_interval_seconds", Float),
];
/// jhub's own settings (not JupyterHub traits): the spawn queue past
/// `concurrent_spawn_limit`.
pub const JHUB_SPAWN_QUEUE: &[TraitInfo] = &[s("enabled", Bool), s("max_length", Int)];

pub const CRYPT_KEEPER: &[TraitInfo] = &[s("keys", List), ign("n_threads", Int, "not needed")];

/// Sections jhub reads, each with the tables that apply (traitlets inheritance:
/// GitLabOAuthenticator also accepts OAuthenticator and Authenticator traits).
pub fn section(name: &str) -> Option<&'static [&'static [TraitInfo]]> {
    Some(match name {
        "JupyterHub" => &[JUPYTERHUB],
        "Authenticator" => &[AUTHENTICATOR],
        "OAuthenticator" => &[OAUTHENTICATOR, AUTHENTICATOR],
        "GitLabOAuthenticator" => &[GITLAB, OAUTHENTICATOR, AUTHENTICATOR],
        "DummyAuthenticator" => &[DUMMY, AUTHENTICATOR],
        "SharedPasswordAuthenticator" => &[SHARED_PASSWORD, AUTHENTICATOR],
        "ConfigurableHTTPProxy" | "Proxy" => &[PROXY],
        "CryptKeeper" => &[CRYPT_KEEPER],
        "JhubSecurity" => &[JHUB_SECURITY],
        "JhubUsage" => &[JHUB_USAGE],
        "JhubStorage" => &[JHUB_STORAGE],
        "JhubSpawnQueue" => &[JHUB_SPAWN_QUEUE],
        _ => return None,
    })
}

/// Sections whose traits are KubeSpawner's (checked with the podspec trait table).
pub fn is_spawner_section(name: &str) -> bool {
    matches!(name, "KubeSpawner" | "Spawner")
}

/// Every section jhub reads (for did-you-mean and docs).
pub const KNOWN_SECTIONS: &[&str] = &[
    "JupyterHub",
    "Authenticator",
    "OAuthenticator",
    "GitLabOAuthenticator",
    "DummyAuthenticator",
    "SharedPasswordAuthenticator",
    "ConfigurableHTTPProxy",
    "Proxy",
    "CryptKeeper",
    "JhubSecurity",
    "KubeSpawner",
    "Spawner",
    "JhubUsage",
    "JhubStorage",
    "JhubSpawnQueue",
];

pub fn find_trait(section_name: &str, trait_name: &str) -> Option<&'static TraitInfo> {
    section(section_name)?.iter().flat_map(|t| t.iter()).find(|t| t.name == trait_name)
}

pub fn trait_names(section_name: &str) -> Vec<&'static str> {
    section(section_name).map(|ts| ts.iter().flat_map(|t| t.iter()).map(|t| t.name).collect()).unwrap_or_default()
}
