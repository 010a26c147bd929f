//! The state every handler shares: the hub, the authenticator, secrets for
//! cookies and XSRF tokens, templates, and web-level settings.

use crate::templates::Templates;
use axum_extra::extract::cookie::Key;
use jhub_auth::{Authenticator, CryptKeeper};
use jhub_core::names::UrlLayout;
use jhub_core::redirect::Origin;
use jhub_hub::Hub;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Settings only the web layer uses.
#[derive(Debug, Clone)]
pub struct WebSettings {
    pub layout: UrlLayout,
    /// `JupyterHub.public_url` origin, for absolute URLs and redirect checks.
    pub public_origin: Option<Origin>,
    /// `Secure` on cookies (public URL is https).
    pub secure_cookies: bool,
    /// Sent as `X-JupyterHub-Version` and `GET /hub/api` `version`.
    pub jupyterhub_version: String,
    /// jhub's own version (shown in `/hub/api/info`).
    pub jhub_version: String,
    /// How long `POST .../server` waits before answering 202 (JupyterHub 10 s; z2jh 0).
    pub slow_spawn_timeout: Duration,
    /// How long `DELETE .../server` waits before answering 202 (10 s).
    pub slow_stop_timeout: Duration,
    /// Login cookies older than this are refused (14 days).
    pub cookie_max_age: Duration,
    pub template_vars: serde_json::Map<String, serde_json::Value>,
    /// `/hub/metrics` without credentials when false.
    pub authenticate_prometheus: bool,
    pub redirect_to_server: bool,
    pub default_url: Option<String>,
    pub shutdown_on_logout: bool,
    pub api_page_default_limit: usize,
    pub api_page_max_limit: usize,
    /// Refuse OAuth codes without PKCE (`JupyterHub.oauth_require_pkce`).
    pub oauth_require_pkce: bool,
    /// Seconds before the "not running" page follows its launch link (0 = never).
    pub implicit_spawn_seconds: u64,
    /// KubeSpawner's `profile_list` (z2jh `singleuser.profileList`), parsed:
    /// the spawn page renders it as the options form. `None` or an empty
    /// list: `/hub/spawn` starts the server at once.
    pub profile_list: Option<jhub_podspec::profiles::ProfileList>,
    /// `Authenticator.auth_refresh_age` (300 s): a page request refreshes
    /// the user's auth at most this often.
    pub auth_refresh_age: Duration,
    /// `Authenticator.auto_login`: `/hub/login` goes straight to the
    /// provider and `/hub/logout` renders `logout.html`.
    pub auto_login: bool,
    /// `OAuthenticator.logout_redirect_url`: where `/hub/logout` sends the browser.
    pub logout_redirect_url: Option<String>,
    /// `JupyterHub.user_redirect_limit` (4): `/hub/user/...` loop detection.
    pub user_redirect_limit: u32,
    /// `JhubSecurity.stop_servers_on_access_loss` (true): a user a refresh
    /// finds no longer allowed also loses her running servers.
    pub stop_servers_on_access_loss: bool,
    /// `JhubSecurity.token_refresh_wait_seconds` (2 s): how long a
    /// token-authenticated request waits for a due refresh before it goes
    /// on with its current access (the refresh finishes in the background).
    pub token_refresh_wait: Duration,
}

impl WebSettings {
    pub fn new(layout: UrlLayout) -> Self {
        Self {
            layout,
            public_origin: None,
            secure_cookies: false,
            jupyterhub_version: "6.1.1".to_string(),
            jhub_version: env!("CARGO_PKG_VERSION").to_string(),
            slow_spawn_timeout: Duration::from_secs(10),
            slow_stop_timeout: Duration::from_secs(10),
            cookie_max_age: Duration::from_secs(14 * 86_400),
            template_vars: Default::default(),
            authenticate_prometheus: true,
            redirect_to_server: true,
            default_url: None,
            shutdown_on_logout: false,
            api_page_default_limit: 50,
            api_page_max_limit: 200,
            oauth_require_pkce: false,
            implicit_spawn_seconds: 0,
            profile_list: None,
            auth_refresh_age: Duration::from_secs(300),
            auto_login: false,
            logout_redirect_url: None,
            user_redirect_limit: 4,
            stop_servers_on_access_loss: true,
            token_refresh_wait: Duration::from_secs(2),
        }
    }
}

/// Shared handler state. Cheap to clone.
#[derive(Clone)]
pub struct App(pub Arc<AppInner>);

pub struct AppInner {
    pub hub: Hub,
    pub auth: Arc<dyn Authenticator>,
    /// Present when auth state is enabled.
    pub crypt: Option<CryptKeeper>,
    pub settings: WebSettings,
    /// Signs the login cookie and the OAuth state cookie.
    pub cookie_key: Key,
    /// Signs XSRF tokens.
    pub xsrf_secret: Vec<u8>,
    /// The cookie secret as JupyterHub used it, to read the login cookies it
    /// signed before a switch to jhub ([`crate::jupyterhub_cookie`]).
    pub jupyterhub_cookie_secret: Vec<u8>,
    pub templates: Templates,
    /// Cancelled by `POST /hub/api/shutdown`.
    pub shutdown: CancellationToken,
    /// Browser-side memory: last auth refresh per user, auth_state kept
    /// in memory when it is not persisted.
    pub pages: crate::pages::PageState,
    /// Backoff and hashing bound for password checks.
    pub throttle: crate::throttle::LoginThrottle,
    /// Live GPU capacity per profile option (set once by the binary when the
    /// spawner can watch nodes; unset: no numbers anywhere).
    pub capacity: std::sync::OnceLock<Arc<dyn jhub_core::ports::Capacity>>,
}

impl std::ops::Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl App {
    /// `cookie_secret` is z2jh's `hub.cookieSecret` (32 bytes, usually hex).
    pub fn new(
        hub: Hub,
        auth: Arc<dyn Authenticator>,
        crypt: Option<CryptKeeper>,
        settings: WebSettings,
        cookie_secret: &[u8],
        templates: Templates,
        shutdown: CancellationToken,
    ) -> Self {
        // `Key::from` needs 64 bytes; stretch whatever length the admin gave.
        let digest = <sha2::Sha512 as sha2::Digest>::digest(cookie_secret);
        let cookie_key = Key::from(digest.as_slice());
        let mut xsrf_secret = cookie_secret.to_vec();
        xsrf_secret.extend_from_slice(b"/xsrf");
        App(Arc::new(AppInner {
            hub,
            auth,
            crypt,
            settings,
            cookie_key,
            xsrf_secret,
            jupyterhub_cookie_secret: cookie_secret.to_vec(),
            templates,
            shutdown,
            pages: Default::default(),
            throttle: Default::default(),
            capacity: std::sync::OnceLock::new(),
        }))
    }

    /// Installs the capacity view (once; a second call is ignored and says so).
    pub fn set_capacity(&self, capacity: Arc<dyn jhub_core::ports::Capacity>) -> bool {
        self.capacity.set(capacity).is_ok()
    }

    /// Capacity of the options a user in `groups` may use; `None` when unknown.
    pub fn capacity_for(&self, groups: &[String]) -> Option<Arc<jhub_core::capacity::CapacityReport>> {
        self.capacity.get().and_then(|c| c.for_groups(groups))
    }

    /// The hub groups of a user (empty for an unknown user).
    pub fn groups_of(&self, user: &str) -> Vec<String> {
        let state = self.hub.read();
        state.user(user).map(|e| state.group_names_of(e)).unwrap_or_default()
    }
}

impl axum::extract::FromRef<App> for Key {
    fn from_ref(app: &App) -> Key {
        app.cookie_key.clone()
    }
}
