//! Mapping the parsed configuration onto each crate's settings, and the
//! small jobs the CLI subcommands share (loading values, the database URL).

use crate::cli::ValuesArgs;
use anyhow::{Context, bail};
use jhub_config::{DbTarget, HubConfig, Loaded};
use jhub_core::cull::CullPolicy;
use jhub_core::names::UrlLayout;
use jhub_core::redirect::Origin;
use jhub_hub::{HubSettings, RoleSpec, ServiceSpec};
use jhub_web::WebSettings;
use secrecy::SecretString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The process environment, as the config crate wants it.
pub fn environment() -> jhub_config::Environment {
    jhub_config::Environment::new(std::env::vars()).with_known_vars(crate::cli::KNOWN_ENV)
}

pub fn sources(files: &[PathBuf]) -> Vec<jhub_config::Source> {
    files.iter().map(|f| jhub_config::Source::File(f.clone())).collect()
}

/// Loads values files or the z2jh mount; errors are rendered for people.
pub fn load_values(values: &ValuesArgs) -> anyhow::Result<Loaded> {
    let env = environment();
    let loaded = match &values.z2jh_mount {
        Some(dir) => jhub_config::load_z2jh_mount(dir, &env),
        None => jhub_config::load(&sources(&values.files), &env),
    };
    match loaded {
        Ok(loaded) => {
            if !loaded.diagnostics.is_empty() {
                eprint!("{}", loaded.render_diagnostics(jhub_config::Format::Human));
            }
            Ok(loaded)
        }
        Err(failure) => bail!("the configuration has errors:\n{}", failure.render(jhub_config::Format::Human)),
    }
}

/// The store URL: `--db-url` wins, else `hub.db`. SQLAlchemy-style URLs
/// users carry over from z2jh are translated to sqlx's forms.
pub fn database_url(config: &HubConfig, flag: Option<&str>) -> anyhow::Result<String> {
    if let Some(url) = flag {
        // The flag speaks sqlx: `sqlite:///abs/path`, `sqlite://rel/path`,
        // `sqlite::memory:`, `postgres://...` (driver suffixes are dropped).
        return Ok(if url.starts_with("sqlite:") { url.to_string() } else { translate_db_url(url) });
    }
    Ok(match &config.hub.db.target {
        DbTarget::Memory => "sqlite::memory:".to_string(),
        DbTarget::Sqlite { path } => {
            if let Some(parent) = path.parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            format!("sqlite://{}", path.display())
        }
        DbTarget::Postgres { url } => {
            let url = translate_db_url(url);
            match &config.hub.db.password {
                Some(password) if !url.contains('@') || !url_has_password(&url) => {
                    inject_password(&url, password.expose())
                }
                _ => url,
            }
        }
    })
}

fn translate_db_url(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("sqlite:///") {
        // SQLAlchemy: three slashes = relative path (four = absolute).
        return format!("sqlite://{rest}");
    }
    for prefix in ["postgresql+psycopg2://", "postgresql+psycopg://", "postgresql+asyncpg://", "postgresql://"] {
        if let Some(rest) = url.strip_prefix(prefix) {
            return format!("postgres://{rest}");
        }
    }
    url.to_string()
}

fn url_has_password(url: &str) -> bool {
    url.split_once("://").and_then(|(_, rest)| rest.split_once('@')).is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

fn inject_password(url: &str, password: &str) -> String {
    let encoded = percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC).to_string();
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((user, host)) => format!("{scheme}://{user}:{encoded}@{host}"),
            None => format!("{scheme}://postgres:{encoded}@{rest}"),
        },
        None => url.to_string(),
    }
}

/// Creates a token for `user` (creating the user if missing).
pub async fn issue_token(url: &str, user: &str, admin: bool, note: &str) -> anyhow::Result<String> {
    jhub_core::names::validate_username(user)?;
    let store = jhub_store::Store::connect(url).await.context("opening the database")?;
    let now = jiff_now();
    let snapshot = store.load_snapshot().await?;
    let existing = snapshot.users.iter().find(|u| u.name == user).cloned();
    let row = match existing {
        Some(row) => {
            if admin && !row.admin {
                store.set_admin(row.id, true).await?;
            }
            row
        }
        None => store.create_user(user, admin, &jhub_core::token::new_token()?, now).await?,
    };
    let secret = jhub_core::token::new_token()?;
    store
        .insert_token(&jhub_store::NewToken {
            owner: jhub_core::model::TokenOwner::User(row.id),
            hashed: jhub_core::token::hash_new(&secret, jhub_core::token::GENERATED_ROUNDS)?,
            prefix: jhub_core::token::prefix(&secret).to_string(),
            client_id: jhub_core::model::ApiToken::HUB_CLIENT.to_string(),
            session_id: None,
            created: now,
            expires_at: None,
            note: Some(note.to_string()),
            scopes: vec!["inherit".to_string()],
        })
        .await?;
    Ok(secret)
}

/// The wall clock; the only place the binary reads it.
#[allow(clippy::disallowed_methods)]
pub fn jiff_now() -> jhub_core::Timestamp {
    jhub_core::Timestamp::now()
}

/// The real clock for the hub.
pub struct SystemClock;

impl jhub_core::ports::Clock for SystemClock {
    fn now(&self) -> jhub_core::Timestamp {
        jiff_now()
    }
}

fn origin_of(url: &str) -> Option<Origin> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?.to_ascii_lowercase();
    Some(Origin { scheme: scheme.to_ascii_lowercase(), host })
}

/// The hub's settings from the config.
pub fn hub_settings(config: &HubConfig) -> anyhow::Result<HubSettings> {
    let hub = &config.hub;
    let mut settings = HubSettings::new(&hub.base_url, &hub.api_url, &hub.hub_connect_url);
    settings.hub_env.public_url = hub.public_url.clone().unwrap_or_default();
    settings.hub_env.public_host =
        hub.public_url.as_deref().and_then(origin_of).map(|o| format!("{}://{}", o.scheme, o.host)).unwrap_or_default();
    settings.hub_env.admin_access = hub.admin_access;
    settings.admin_access = hub.admin_access;
    settings.allow_named_servers = hub.allow_named_servers;
    settings.named_server_limit_per_user = u32::try_from(hub.named_server_limit_per_user).unwrap_or(u32::MAX);
    settings.concurrent_spawn_limit = u32::try_from(hub.concurrent_spawn_limit).unwrap_or(u32::MAX);
    settings.spawn_queue_enabled = hub.spawn_queue_enabled;
    settings.spawn_queue_max_length = usize::try_from(hub.spawn_queue_max_length).unwrap_or(usize::MAX);
    settings.active_server_limit = u32::try_from(hub.active_server_limit).unwrap_or(u32::MAX);
    settings.start_timeout = Duration::from_secs(config.spawner.start_timeout);
    settings.http_timeout = Duration::from_secs(config.spawner.http_timeout);
    settings.activity_resolution = Duration::from_secs(hub.activity_resolution);
    if hub.last_activity_interval > 0 {
        settings.proxy_check_interval = Duration::from_secs(hub.last_activity_interval);
    }
    settings.cull = config.cull.enabled.then(|| CullPolicy { ..config.cull.policy.clone() });
    settings.token_expires_in_max =
        (hub.token_expires_in_max_seconds > 0).then(|| Duration::from_secs(hub.token_expires_in_max_seconds));
    settings.oauth_token_lifetime = Duration::from_secs_f64((hub.cookie_max_age_days * 86_400.0).max(60.0));
    settings.consecutive_failure_limit = u32::try_from(hub.consecutive_failure_limit).unwrap_or(u32::MAX);
    settings.event_retention = (hub.event_retention_days.is_finite() && hub.event_retention_days > 0.0)
        .then(|| Duration::from_secs_f64((hub.event_retention_days * 86_400.0).min(1e12)));
    let auth = &config.auth;
    settings.admin_users = auth.admin_users.iter().cloned().collect();
    settings.initial_users = auth.allowed_users.iter().cloned().collect();
    for role in &hub.load_roles {
        settings.roles.push(role_spec(role)?);
    }
    for (name, users, properties) in &hub.load_groups {
        settings.load_groups.push(jhub_hub::GroupSpec {
            name: name.clone(),
            users: users.clone(),
            properties: properties.clone(),
        });
    }
    for service in &hub.services {
        settings.services.push(ServiceSpec {
            name: service.name.clone(),
            admin: service.admin,
            url: service.url.clone(),
            api_token: service.api_token.as_ref().map(|s| s.expose().to_string()),
            display: service.display,
            oauth_no_confirm: service.oauth_no_confirm,
            oauth_redirect_uri: service.oauth_redirect_uri.clone(),
            info: service.extra.get("info").cloned().unwrap_or_else(|| serde_json::json!({})),
        });
    }
    for (name, definition) in &hub.custom_scopes {
        settings.custom_scopes.push(jhub_core::rbac::CustomScopeDef {
            name: name.clone(),
            description: definition.get("description").and_then(|d| d.as_str()).map(str::to_string),
            subscopes: definition
                .get("subscopes")
                .and_then(|s| s.as_array())
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
        });
    }
    Ok(settings)
}

fn role_spec(value: &serde_json::Value) -> anyhow::Result<RoleSpec> {
    let strings = |key: &str| -> Vec<String> {
        value
            .get(key)
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let Some(name) = value.get("name").and_then(|v| v.as_str()) else {
        bail!("a role in hub.loadRoles has no name: {value}");
    };
    Ok(RoleSpec {
        name: name.to_string(),
        description: value.get("description").and_then(|v| v.as_str()).map(str::to_string),
        scopes: strings("scopes"),
        users: strings("users"),
        groups: strings("groups"),
        services: strings("services"),
    })
}

/// The web layer's settings from the config.
pub fn web_settings(config: &HubConfig) -> WebSettings {
    let hub = &config.hub;
    let mut web = WebSettings::new(UrlLayout::new(&hub.base_url));
    web.public_origin = hub.public_url.as_deref().and_then(origin_of);
    web.secure_cookies = web.public_origin.as_ref().is_some_and(|o| o.scheme == "https");
    // z2jh sets slow_spawn_timeout 0: straight to the progress page.
    web.slow_spawn_timeout = Duration::from_secs(0);
    web.cookie_max_age = Duration::from_secs_f64((hub.cookie_max_age_days * 86_400.0).max(60.0));
    web.template_vars = hub.template_vars.clone();
    web.authenticate_prometheus = hub.authenticate_prometheus;
    web.redirect_to_server = hub.redirect_to_server;
    web.default_url = hub.default_url.clone();
    web.shutdown_on_logout = hub.shutdown_on_logout;
    web.auto_login = config.auth.auto_login;
    web.auth_refresh_age = Duration::from_secs(config.auth.auth_refresh_age);
    web.stop_servers_on_access_loss = config.security.stop_servers_on_access_loss;
    web.token_refresh_wait = Duration::from_secs_f64(config.security.token_refresh_wait_seconds);
    if let jhub_config::Authenticator::Gitlab(gitlab) = &config.auth.authenticator {
        web.logout_redirect_url = gitlab.logout_redirect_url.clone();
    }
    web
}

/// The HTTP server edge's limits (`hub.config.JhubSecurity`).
pub fn edge_limits(config: &HubConfig) -> jhub_web::EdgeLimits {
    let s = &config.security;
    jhub_web::EdgeLimits {
        header_read_timeout: Duration::from_secs_f64(s.header_read_timeout_seconds),
        idle_timeout: Duration::from_secs_f64(s.idle_timeout_seconds),
        max_connections: usize::try_from(s.max_connections).unwrap_or(usize::MAX),
        max_header_bytes: usize::try_from(s.max_header_bytes).unwrap_or(usize::MAX),
        max_headers: usize::try_from(s.max_headers).unwrap_or(usize::MAX),
    }
}

/// The spawn form's profiles (`singleuser.profileList`), as the spawner
/// resolves them; `None` when there is no profile list (spawn at once).
pub fn profile_list(config: &HubConfig) -> anyhow::Result<Option<jhub_podspec::profiles::ProfileList>> {
    let list = &config.spawner.pod.profile_list;
    if list.is_null() || list.as_array().is_some_and(Vec::is_empty) {
        return Ok(None);
    }
    match jhub_podspec::profiles::ProfileList::from_config(list) {
        Ok(profiles) if profiles.is_empty() => Ok(None),
        Ok(profiles) => Ok(Some(profiles)),
        Err(problems) => {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            bail!("singleuser.profileList has errors:\n{}", lines.join("\n"))
        }
    }
}

/// The authenticator the config asks for.
pub fn authenticator(config: &HubConfig, dev: bool) -> anyhow::Result<Arc<dyn jhub_auth::Authenticator>> {
    let auth = &config.auth;
    let access = jhub_auth::AccessRules {
        admin_users: auth.admin_users.clone(),
        allowed_users: auth.allowed_users.clone(),
        blocked_users: auth.blocked_users.clone(),
        allow_all: auth.allow_all,
        allow_existing_users: auth.allow_existing_users,
    };
    if !matches!(auth.authenticator, jhub_config::Authenticator::Gitlab(_)) {
        // username_map, username_pattern and delete_invalid_users apply to
        // every authenticator (below). These two need an identity provider
        // to ask: a password login has no groups to manage and nothing to
        // refresh (JupyterHub's password authenticators neither). Say so
        // rather than drop them.
        let gitlab_only =
            [("manage_groups", auth.manage_groups), ("refresh_pre_spawn", auth.refresh_pre_spawn.is_some())];
        for (name, set) in gitlab_only {
            if set {
                tracing::warn!(
                    "Authenticator.{name} is valid, but a password login has no identity provider to ask; \
                     with this authenticator it is ignored"
                );
            }
        }
    }
    let password_settings = |password: &str| {
        let mut settings = jhub_auth::SharedPasswordSettings::new(SecretString::from(password.to_string()));
        settings.access = access.clone();
        settings.username_map = auth.username_map.clone();
        settings.username_pattern = auth.username_pattern.clone();
        settings.delete_invalid_users = auth.delete_invalid_users;
        settings
    };
    match &auth.authenticator {
        jhub_config::Authenticator::Gitlab(gitlab) => {
            let secret = gitlab.client_secret.as_ref().map(|s| s.expose().to_string()).unwrap_or_default();
            let client_id = gitlab.client_id.as_ref().map(|c| c.value.clone()).unwrap_or_default();
            let mut settings =
                jhub_auth::GitLabSettings::new(&gitlab.gitlab_url, &client_id, SecretString::from(secret));
            settings.gitlab_api_version = gitlab.api_version.clone();
            settings.oauth_callback_url = gitlab.oauth_callback_url.clone();
            settings.login_service = gitlab.login_service.clone();
            settings.scope = gitlab.scope.clone();
            settings.allowed_gitlab_groups = gitlab.allowed_gitlab_groups.iter().cloned().collect();
            settings.allowed_project_ids =
                gitlab.allowed_project_ids.iter().filter_map(|id| u64::try_from(*id).ok()).collect();
            settings.access = access.clone();
            settings.enable_auth_state = auth.enable_auth_state;
            settings.validate_server_cert = gitlab.validate_server_cert;
            settings.refresh_pre_spawn = auth.refresh_pre_spawn;
            settings.groups = jhub_auth::GroupRules {
                manage_groups: auth.manage_groups,
                allowed_groups: gitlab.allowed_groups.clone(),
                admin_groups: gitlab.admin_groups.clone(),
            };
            settings.auth_state_groups_key = gitlab.auth_state_groups_key.clone();
            settings.username_map = auth.username_map.clone();
            settings.username_pattern = auth.username_pattern.clone();
            settings.delete_invalid_users = auth.delete_invalid_users;
            if let Some(message) = &gitlab.custom_403_message {
                settings.custom_403_message = message.clone();
            }
            let clock: Arc<dyn jhub_core::ports::Clock> = Arc::new(SystemClock);
            Ok(Arc::new(jhub_auth::GitLabOAuthenticator::new(settings, clock).context("configuring GitLab OAuth")?))
        }
        jhub_config::Authenticator::SharedPassword { user_password, admin_password } => {
            let Some(password) = user_password else {
                bail!("SharedPasswordAuthenticator needs hub.config.SharedPasswordAuthenticator.user_password");
            };
            let mut settings = password_settings(password.expose());
            settings.admin_password = admin_password.as_ref().map(|p| SecretString::from(p.expose().to_string()));
            Ok(Arc::new(jhub_auth::SharedPasswordAuthenticator::new(settings)?))
        }
        jhub_config::Authenticator::Dummy { password } => {
            let password = match password {
                Some(p) => p.expose().to_string(),
                None if dev => {
                    bail!(
                        "the dummy authenticator without a password lets anyone in as anyone; set \
                         hub.config.DummyAuthenticator.password (8+ characters) even in --dev"
                    )
                }
                None => bail!(
                    "hub.config.JupyterHub.authenticator_class is the dummy authenticator (z2jh's default): configure \
                     GitLab (hub.config.GitLabOAuthenticator) or set hub.config.DummyAuthenticator.password"
                ),
            };
            Ok(Arc::new(jhub_auth::SharedPasswordAuthenticator::new(password_settings(&password))?))
        }
    }
}

/// The auth-state encryption keys (`hub.config.CryptKeeper.keys` or `JUPYTERHUB_CRYPT_KEY`).
pub fn crypt_keeper(config: &HubConfig) -> anyhow::Result<Option<jhub_auth::CryptKeeper>> {
    let from_config = config.hub.crypt_keys.as_ref().map(|s| s.expose().to_string());
    let from_env = std::env::var(jhub_auth::CRYPT_KEY_ENV).ok().filter(|v| !v.is_empty());
    match from_config.or(from_env) {
        Some(keys) => Ok(Some(jhub_auth::CryptKeeper::from_env_value(&keys).context("reading the auth-state keys")?)),
        None if config.auth.enable_auth_state => bail!(
            "enable_auth_state is on but no encryption key is configured: set hub.config.CryptKeeper.keys or {} \
             (generate one with `openssl rand -hex 32`)",
            jhub_auth::CRYPT_KEY_ENV
        ),
        None => Ok(None),
    }
}

/// Kubernetes RBAC rules (`jhub_kube::RBAC_RULES`, `CLUSTER_RBAC_RULES`) as JSON
/// (`[{"apiGroups": [""], "resources": ["pods"], "verbs": [...]}, ...]`).
pub fn rules_json(rules: &[(&str, &str, &[&str])]) -> serde_json::Value {
    serde_json::Value::Array(
        rules
            .iter()
            .map(|(group, resource, verbs)| {
                serde_json::json!({"apiGroups": [group], "resources": [resource], "verbs": verbs})
            })
            .collect(),
    )
}

/// Kubernetes RBAC rules the hub needs, as JSON
/// (`[{"apiGroups": [""], "resources": ["pods"], "verbs": [...], "scope": "namespace", "feature": "spawner"}, ...]`):
/// the spawner's and the storage features' in the release namespace, and
/// the storage features' cluster-scoped ones.
pub fn rbac_rules() -> serde_json::Value {
    type Rules = &'static [(&'static str, &'static str, &'static [&'static str])];
    let tables: [(Rules, &str, &str); 3] = [
        (jhub_kube::RBAC_RULES, "namespace", "spawner"),
        (jhub_kube::STORAGE_RBAC_RULES, "namespace", "storage"),
        (jhub_kube::STORAGE_CLUSTER_RBAC_RULES, "cluster", "storage"),
    ];
    serde_json::Value::Array(
        tables
            .iter()
            .flat_map(|(rules, scope, feature)| {
                rules.iter().map(move |(group, resource, verbs)| {
                    serde_json::json!({"apiGroups": [group], "resources": [resource], "verbs": verbs,
                                       "scope": scope, "feature": feature})
                })
            })
            .collect(),
    )
}

/// The Kubernetes spawner from the config: `--kube-url` (the simulator),
/// `--kubeconfig`, else kube's inference (kubeconfig, then in-cluster).
pub async fn kube_spawner(
    config: &HubConfig,
    args: &crate::cli::ServeArgs,
) -> anyhow::Result<(Arc<dyn jhub_core::ports::Spawner>, Option<Arc<dyn jhub_core::ports::Capacity>>)> {
    let how = match (&args.kube_url, &args.kubeconfig) {
        (Some(url), _) => jhub_kube::KubeConnect::Url(url.clone()),
        (None, Some(path)) => jhub_kube::KubeConnect::Kubeconfig(path.clone()),
        (None, None) => jhub_kube::KubeConnect::Infer,
    };
    let client = jhub_kube::connect(&how).await.context("connecting to the Kubernetes API")?;
    let settings = jhub_kube::KubeSpawnerSettings::default();
    let spawner = jhub_kube::KubeSpawner::new(client.clone(), config.spawner.pod.clone(), settings)?;
    spawner.wait_ready().await.context("listing pods and events (check the hub's RBAC and the API server)")?;
    tracing::info!(namespace = spawner.namespace(), "Kubernetes spawner ready");
    // Live GPU capacity only when some profile option requests an extended
    // resource; it needs cluster-wide reads and says so once if refused.
    let capacity: Option<Arc<dyn jhub_core::ports::Capacity>> = if jhub_kube::capacity::has_targets(&config.spawner.pod)
    {
        let view = jhub_kube::NodeCapacity::start(&client, config.spawner.pod.clone(), &Default::default());
        Some(Arc::new(view))
    } else {
        None
    };
    Ok((Arc::new(spawner), capacity))
}

/// `hub.config.JhubStorage` as the hub's storage settings.
pub fn storage_settings(config: &HubConfig) -> jhub_hub::StorageSettings {
    let s = &config.storage;
    let every = |seconds: f64| (seconds > 0.0).then(|| std::time::Duration::from_secs_f64(seconds));
    let snapshot_every = every(s.snapshot_every_hours * 3600.0);
    jhub_hub::StorageSettings {
        snapshot_every,
        snapshot_keep: usize::try_from(s.snapshot_keep).unwrap_or(usize::MAX),
        // Checked often enough that a snapshot is at most a few minutes late.
        schedule_check: snapshot_every
            .map(|e| (e / 12).clamp(std::time::Duration::from_secs(30), std::time::Duration::from_secs(300)))
            .unwrap_or(std::time::Duration::from_secs(300)),
        usage_every: every(s.usage_interval_seconds),
    }
}

/// Users' volumes on Kubernetes (resize, snapshots, export, used bytes),
/// connected like the spawner.
pub async fn kube_storage(
    config: &HubConfig,
    args: &crate::cli::ServeArgs,
) -> anyhow::Result<Arc<dyn jhub_core::ports::Storage>> {
    let how = match (&args.kube_url, &args.kubeconfig) {
        (Some(url), _) => jhub_kube::KubeConnect::Url(url.clone()),
        (None, Some(path)) => jhub_kube::KubeConnect::Kubeconfig(path.clone()),
        (None, None) => jhub_kube::KubeConnect::Infer,
    };
    let client = jhub_kube::connect(&how).await.context("connecting to the Kubernetes API (storage)")?;
    let settings = jhub_kube::KubeStorageSettings {
        snapshot_class: config.storage.snapshot_class.clone(),
        ..jhub_kube::KubeStorageSettings::default()
    };
    Ok(Arc::new(jhub_kube::KubeStorage::new(client, config.spawner.pod.clone(), settings)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_settings_from_jhub_storage() {
        let text = "hub:\n  config:\n    JhubStorage:\n      snapshot_every_hours: 24\n      snapshot_keep: 3\n      usage_interval_seconds: 0\n";
        let source = jhub_config::Source::Text { name: "values.yaml".into(), text: text.into() };
        let loaded = jhub_config::load(&[source], &jhub_config::Environment::empty()).unwrap();
        let s = storage_settings(&loaded.config);
        assert_eq!(s.snapshot_every, Some(Duration::from_secs(86_400)));
        assert_eq!(s.snapshot_keep, 3);
        assert_eq!(s.schedule_check, Duration::from_secs(300));
        assert_eq!(s.usage_every, None, "0 turns the sweep off");
        let source = jhub_config::Source::Text { name: "values.yaml".into(), text: "hub: {}\n".into() };
        let defaults =
            storage_settings(&jhub_config::load(&[source], &jhub_config::Environment::empty()).unwrap().config);
        assert_eq!((defaults.snapshot_every, defaults.usage_every), (None, Some(Duration::from_secs(120))));
    }

    #[test]
    fn database_urls_from_z2jh_forms() {
        assert_eq!(translate_db_url("sqlite:///jupyterhub.sqlite"), "sqlite://jupyterhub.sqlite");
        assert_eq!(translate_db_url("postgresql+psycopg2://hub@db:5432/hub"), "postgres://hub@db:5432/hub");
        assert_eq!(translate_db_url("postgres://x@y/z"), "postgres://x@y/z");
        assert_eq!(inject_password("postgres://hub@db/hub", "p@ss word"), "postgres://hub:p%40ss%20word@db/hub");
        assert!(url_has_password("postgres://a:b@c/d"));
        assert!(!url_has_password("postgres://a@c/d"));
    }

    /// `hub.db.password` goes into a PostgreSQL URL that has none (like
    /// z2jh's `PGPASSWORD`); a password in the URL wins.
    #[test]
    fn db_password_reaches_the_postgres_url() {
        let url_for = |yaml: &str| {
            let sources = [jhub_config::Source::Text { name: "values.yaml".into(), text: yaml.into() }];
            let loaded = jhub_config::load(&sources, &jhub_config::Environment::empty()).unwrap();
            database_url(&loaded.config, None).unwrap()
        };
        let db = "hub:\n  db:\n    type: postgres\n    password: s3cr/t\n    url: ";
        assert_eq!(url_for(&format!("{db}postgresql://hub@db:5432/hub\n")), "postgres://hub:s3cr%2Ft@db:5432/hub");
        assert_eq!(url_for(&format!("{db}postgresql://hub:own@db:5432/hub\n")), "postgres://hub:own@db:5432/hub");
    }
}
