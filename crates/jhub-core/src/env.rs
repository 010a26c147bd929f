//! The environment a single-user server needs, as JupyterHub's
//! `Spawner.get_env` builds it (the hub-computed part; spawners add their own,
//! e.g. KubeSpawner's `JUPYTER_IMAGE` and resource variables, and the admin's
//! `environment` goes on top).
//!
//! Contract (jupyterhub-compat §6.1): `JUPYTERHUB_SERVICE_URL` missing makes
//! the server exit; empty `JUPYTERHUB_OAUTH_ACCESS_SCOPES` locks everyone
//! out; the hub prefix is derived from `JUPYTERHUB_BASE_URL`.

use crate::names::{UrlLayout, escape_path, python_json_list, server_oauth_client_id};
use std::collections::BTreeMap;

/// Hub-wide settings that shape every server's environment.
#[derive(Debug, Clone, PartialEq)]
pub struct HubEnvSettings {
    pub layout: UrlLayout,
    /// `http://hub:8081/hub/api` in z2jh.
    pub api_url: String,
    /// Public host for subdomain setups, else empty.
    pub public_host: String,
    /// `JupyterHub.public_url`, else empty.
    pub public_url: String,
    pub admin_access: bool,
    pub cookie_host_prefix_enabled: bool,
    /// JSON of `JupyterHub.cookie_options`, only exported when non-empty.
    pub cookie_options_json: Option<String>,
}

/// Per-spawner settings that add optional variables.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpawnerEnvSettings {
    /// Bind address and port inside the server: `http://0.0.0.0:8888` for
    /// Kubernetes pods, `http://127.0.0.1:<port>` for local processes.
    pub bind_url: String,
    /// `Spawner.default_url` (already formatted), e.g. `/lab`.
    pub default_url: Option<String>,
    /// `Spawner.notebook_dir` (already formatted).
    pub notebook_dir: Option<String>,
    pub debug: bool,
    pub disable_user_config: bool,
    /// `Spawner.oauth_client_allowed_scopes`.
    pub oauth_client_allowed_scopes: Vec<String>,
}

/// The access scopes a server accepts: its own server and its user.
pub fn oauth_access_scopes(user: &str, server: &str) -> Vec<String> {
    vec![format!("access:servers!server={user}/{server}"), format!("access:servers!user={user}")]
}

/// Builds the hub-computed environment for one server.
pub fn single_user_env(
    hub: &HubEnvSettings,
    spawner: &SpawnerEnvSettings,
    user: &str,
    server: &str,
    api_token: &str,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let mut set = |key: &str, value: String| {
        env.insert(key.to_string(), value);
    };
    let prefix = hub.layout.server_url(user, server);
    let api_url = hub.api_url.trim_end_matches('/').to_string();
    let scopes = python_json_list(&oauth_access_scopes(user, server));
    set("JUPYTERHUB_API_TOKEN", api_token.to_string());
    set("JPY_API_TOKEN", api_token.to_string());
    set("JUPYTERHUB_CLIENT_ID", server_oauth_client_id(user, server));
    set("JUPYTERHUB_HOST", hub.public_host.clone());
    set("JUPYTERHUB_OAUTH_CALLBACK_URL", hub.layout.oauth_callback_url(user, server));
    set("JUPYTERHUB_OAUTH_SCOPES", scopes.clone());
    set("JUPYTERHUB_OAUTH_ACCESS_SCOPES", scopes);
    set("JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES", python_json_list(&spawner.oauth_client_allowed_scopes));
    set("JUPYTERHUB_USER", user.to_string());
    set("JUPYTERHUB_SERVER_NAME", server.to_string());
    set("JUPYTERHUB_API_URL", api_url.clone());
    set("JUPYTERHUB_ACTIVITY_URL", format!("{api_url}/users/{}/activity", escape_path(user)));
    set("JUPYTERHUB_BASE_URL", hub.layout.base_url().to_string());
    set("JUPYTERHUB_SERVICE_PREFIX", prefix.clone());
    set("JUPYTERHUB_SERVICE_URL", format!("{}{prefix}", spawner.bind_url.trim_end_matches('/')));
    set("JUPYTERHUB_COOKIE_HOST_PREFIX_ENABLED", if hub.cookie_host_prefix_enabled { "1" } else { "0" }.into());
    let public_url = hub.public_url.trim_end_matches('/');
    if public_url.is_empty() {
        set("JUPYTERHUB_PUBLIC_URL", String::new());
        set("JUPYTERHUB_PUBLIC_HUB_URL", String::new());
    } else {
        set("JUPYTERHUB_PUBLIC_URL", format!("{public_url}{prefix}"));
        set("JUPYTERHUB_PUBLIC_HUB_URL", format!("{public_url}{}", hub.layout.hub_prefix()));
    }
    if let Some(options) = &hub.cookie_options_json {
        set("JUPYTERHUB_COOKIE_OPTIONS", options.clone());
    }
    if hub.admin_access {
        set("JUPYTERHUB_ADMIN_ACCESS", "1".into());
    }
    if let Some(url) = &spawner.default_url {
        set("JUPYTERHUB_DEFAULT_URL", url.clone());
    }
    if let Some(dir) = &spawner.notebook_dir {
        set("JUPYTERHUB_ROOT_DIR", dir.clone());
    }
    if spawner.debug {
        set("JUPYTERHUB_DEBUG", "1".into());
    }
    if spawner.disable_user_config {
        set("JUPYTERHUB_DISABLE_USER_CONFIG", "1".into());
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn z2jh_hub() -> HubEnvSettings {
        HubEnvSettings {
            layout: UrlLayout::default(),
            api_url: "http://hub:8081/hub/api".into(),
            public_host: String::new(),
            public_url: String::new(),
            admin_access: true,
            cookie_host_prefix_enabled: false,
            cookie_options_json: None,
        }
    }

    #[test]
    fn matches_kubespawner_golden_for_alice() {
        let spawner = SpawnerEnvSettings { bind_url: "http://0.0.0.0:8888".into(), ..Default::default() };
        let env = single_user_env(&z2jh_hub(), &spawner, "alice", "", "golden-api-token");
        let expect = [
            ("JPY_API_TOKEN", "golden-api-token"),
            ("JUPYTERHUB_ACTIVITY_URL", "http://hub:8081/hub/api/users/alice/activity"),
            ("JUPYTERHUB_ADMIN_ACCESS", "1"),
            ("JUPYTERHUB_API_TOKEN", "golden-api-token"),
            ("JUPYTERHUB_API_URL", "http://hub:8081/hub/api"),
            ("JUPYTERHUB_BASE_URL", "/"),
            ("JUPYTERHUB_CLIENT_ID", "jupyterhub-user-alice"),
            ("JUPYTERHUB_COOKIE_HOST_PREFIX_ENABLED", "0"),
            ("JUPYTERHUB_HOST", ""),
            ("JUPYTERHUB_OAUTH_ACCESS_SCOPES", r#"["access:servers!server=alice/", "access:servers!user=alice"]"#),
            ("JUPYTERHUB_OAUTH_CALLBACK_URL", "/user/alice/oauth_callback"),
            ("JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES", "[]"),
            ("JUPYTERHUB_OAUTH_SCOPES", r#"["access:servers!server=alice/", "access:servers!user=alice"]"#),
            ("JUPYTERHUB_PUBLIC_HUB_URL", ""),
            ("JUPYTERHUB_PUBLIC_URL", ""),
            ("JUPYTERHUB_SERVER_NAME", ""),
            ("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/"),
            ("JUPYTERHUB_SERVICE_URL", "http://0.0.0.0:8888/user/alice/"),
            ("JUPYTERHUB_USER", "alice"),
        ];
        let expect: BTreeMap<String, String> = expect.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(env, expect);
    }

    #[test]
    fn named_server_with_odd_names() {
        let spawner = SpawnerEnvSettings { bind_url: "http://0.0.0.0:8888".into(), ..Default::default() };
        let env = single_user_env(&z2jh_hub(), &spawner, "Zhong.Ger@Lab", "GPU test", "t");
        assert_eq!(env["JUPYTERHUB_CLIENT_ID"], "jupyterhub-user-Zhong.Ger%40Lab-GPU%20test");
        assert_eq!(env["JUPYTERHUB_SERVICE_PREFIX"], "/user/Zhong.Ger@Lab/GPU%20test/");
        assert_eq!(env["JUPYTERHUB_ACTIVITY_URL"], "http://hub:8081/hub/api/users/Zhong.Ger@Lab/activity");
        assert_eq!(
            env["JUPYTERHUB_OAUTH_ACCESS_SCOPES"],
            r#"["access:servers!server=Zhong.Ger@Lab/GPU test", "access:servers!user=Zhong.Ger@Lab"]"#
        );
    }

    #[test]
    fn optional_variables() {
        let mut hub = z2jh_hub();
        hub.public_url = "https://hub.example.org/".into();
        hub.admin_access = false;
        let spawner = SpawnerEnvSettings {
            bind_url: "http://127.0.0.1:5000".into(),
            default_url: Some("/lab".into()),
            debug: true,
            ..Default::default()
        };
        let env = single_user_env(&hub, &spawner, "bob", "gpu1", "t");
        assert_eq!(env["JUPYTERHUB_PUBLIC_URL"], "https://hub.example.org/user/bob/gpu1/");
        assert_eq!(env["JUPYTERHUB_PUBLIC_HUB_URL"], "https://hub.example.org/hub/");
        assert_eq!(env["JUPYTERHUB_DEFAULT_URL"], "/lab");
        assert_eq!(env["JUPYTERHUB_DEBUG"], "1");
        assert_eq!(env["JUPYTERHUB_SERVICE_URL"], "http://127.0.0.1:5000/user/bob/gpu1/");
        assert!(!env.contains_key("JUPYTERHUB_ADMIN_ACCESS"));
    }
}
