//! Harness for the page tests: a real hub on 127.0.0.1 (SQLite in memory,
//! the fake spawner, the in-memory proxy) with either the REAL
//! `GitLabOAuthenticator` against the REAL `jhub-gitlab-sim`, or the
//! shared-password authenticator; a manual clock shared by the hub, the
//! authenticator and the simulator so tests can move time; a browser-like
//! HTTP client (cookie jar, redirects not followed).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use jhub_auth::{
    AccessRules, Authenticator, CryptKeeper, GitLabOAuthenticator, GitLabSettings, SharedPasswordAuthenticator,
    SharedPasswordSettings,
};
use jhub_core::Timestamp;
use jhub_core::ports::ManualClock;
use jhub_gitlab_sim::{GitLabSim, RunningSim, SimConfig, access};
use jhub_hub::fakes::{FakeSpawner, MemoryProxy};
use jhub_hub::{Hub, HubSettings};
use jhub_web::{App, Templates, WebSettings};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "demo-password";
/// The shared-password authenticator's admin password (user `admin`).
pub const ADMIN_PASSWORD: &str = "admin-password-admin-password-0123";
pub const CLIENT_ID: &str = "jhub-test";
pub const CLIENT_SECRET: &str = "jhub-test-secret";
/// 32 bytes as hex: a `JUPYTERHUB_CRYPT_KEY`.
pub const CRYPT_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0";
pub const DENIED: &str =
    "Sorry, you are not currently authorized to use this hub. Please contact the hub administrator.";

pub type GitLabTweak = Box<dyn FnOnce(&mut GitLabSettings) + Send>;
pub type HubTweak = Box<dyn FnOnce(&mut HubSettings, &mut WebSettings) + Send>;

/// How to build the hub.
#[derive(Default)]
pub struct Opts {
    /// GitLab login against the simulator (else the shared password).
    pub gitlab: bool,
    pub enable_auth_state: bool,
    pub gitlab_settings: Option<GitLabTweak>,
    pub configure: Option<HubTweak>,
    pub spawner: Option<Arc<FakeSpawner>>,
    /// `hub.templatePaths`.
    pub templates: Vec<std::path::PathBuf>,
    /// The database (default: SQLite in memory); a file lets a test start a
    /// second hub on what the first one wrote (a restart).
    pub db_url: Option<String>,
}

impl Opts {
    pub fn gitlab() -> Self {
        Opts { gitlab: true, ..Default::default() }
    }

    pub fn configure(mut self, f: impl FnOnce(&mut HubSettings, &mut WebSettings) + Send + 'static) -> Self {
        self.configure = Some(Box::new(f));
        self
    }

    pub fn gitlab_settings(mut self, f: impl FnOnce(&mut GitLabSettings) + Send + 'static) -> Self {
        self.gitlab_settings = Some(Box::new(f));
        self
    }

    pub fn auth_state(mut self) -> Self {
        self.enable_auth_state = true;
        self
    }

    pub fn db_url(mut self, url: &str) -> Self {
        self.db_url = Some(url.to_string());
        self
    }

    pub fn spawner(mut self, spawner: FakeSpawner) -> Self {
        self.spawner = Some(Arc::new(spawner));
        self
    }
}

pub struct TestHub {
    pub url: String,
    pub hub: Hub,
    pub app: App,
    pub spawner: Arc<FakeSpawner>,
    pub clock: Arc<ManualClock>,
    pub sim: Option<RunningSim>,
    pub shutdown: CancellationToken,
}

impl Drop for TestHub {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[allow(clippy::disallowed_methods)]
fn wall_now() -> Timestamp {
    Timestamp::now()
}

/// The GitLab world the rule tests use:
/// - alice, mallory: Developers in `jupyter-users` (allowed group; mallory is in `blocked_users`)
/// - dave: Guest in the subgroup `research/ml team` (allowed, path with a space)
/// - erin: Developer (30) on project 42 (allowed project); frank: Reporter (20) there
/// - bob: in no group, but in `admin_users`; carol: in `allowed_users` only
/// - oscar: nowhere.
pub fn world(callback: &str) -> SimConfig {
    SimConfig::new()
        .user(101, "alice")
        .user(102, "bob")
        .user(103, "carol")
        .user(104, "dave")
        .user(105, "erin")
        .user(106, "frank")
        .user(107, "mallory")
        .user(108, "oscar")
        .group(10, "jupyter-users", &[("alice", access::DEVELOPER), ("mallory", access::DEVELOPER)])
        .group(20, "research", &[])
        .group(21, "research/ml team", &[("dave", access::GUEST)])
        .group(30, "other", &[])
        .project(42, "other/notebooks", &[("erin", access::DEVELOPER), ("frank", access::REPORTER)])
        .application(CLIENT_ID, CLIENT_SECRET, &[callback])
}

pub async fn start(opts: Opts) -> TestHub {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let clock = Arc::new(ManualClock::new(wall_now()));
    let store = jhub_store::Store::connect(opts.db_url.as_deref().unwrap_or("sqlite::memory:")).await.unwrap();
    let mut settings = HubSettings::new("/", "http://127.0.0.1:8081/hub/api", "http://127.0.0.1:8081");
    settings.admin_users = vec!["admin".into()];
    settings.allow_named_servers = true;
    let mut web = WebSettings::new(settings.layout.clone());
    web.slow_spawn_timeout = Duration::from_secs(10);
    let Opts { gitlab, enable_auth_state, gitlab_settings, configure, spawner, templates, db_url: _ } = opts;
    if let Some(configure) = configure {
        configure(&mut settings, &mut web);
    }
    let (auth, sim): (Arc<dyn Authenticator>, Option<RunningSim>) = if gitlab {
        let callback = format!("{url}/hub/oauth_callback");
        let sim = GitLabSim::start(world(&callback), clock.clone()).await.unwrap();
        let mut gl = GitLabSettings::new(&sim.url(), CLIENT_ID, SecretString::from(CLIENT_SECRET));
        gl.allowed_gitlab_groups = vec!["jupyter-users".into(), "research/ml team".into()];
        gl.allowed_project_ids = vec![42];
        gl.access = AccessRules {
            admin_users: ["bob".to_string()].into(),
            allowed_users: ["carol".to_string()].into(),
            blocked_users: ["mallory".to_string()].into(),
            allow_all: false,
            allow_existing_users: false,
        };
        gl.enable_auth_state = enable_auth_state;
        if let Some(f) = gitlab_settings {
            f(&mut gl);
        }
        (Arc::new(GitLabOAuthenticator::new(gl, clock.clone()).unwrap()), Some(sim))
    } else {
        let mut shared = SharedPasswordSettings::new(PASSWORD.to_string().into());
        shared.admin_password = Some(ADMIN_PASSWORD.to_string().into());
        shared.access.admin_users.insert("admin".to_string());
        let auth = SharedPasswordAuthenticator::new(shared).unwrap();
        (Arc::new(auth), None)
    };
    let spawner = spawner.unwrap_or_else(|| Arc::new(FakeSpawner::serving()));
    let proxy = Arc::new(MemoryProxy::default());
    let hub = Hub::start(settings, store, spawner.clone(), proxy, clock.clone()).await.unwrap();
    let crypt = enable_auth_state.then(|| CryptKeeper::from_env_value(CRYPT_KEY).unwrap());
    let shutdown = CancellationToken::new();
    let app = App::new(
        hub.clone(),
        auth,
        crypt,
        web,
        b"0123456789abcdef0123456789abcdef",
        Templates::new(templates),
        shutdown.clone(),
    );
    let stop = shutdown.clone();
    tokio::spawn(jhub_web::serve(listener, app.clone(), async move { stop.cancelled().await }));
    TestHub { url, hub, app, spawner, clock, sim, shutdown }
}

impl TestHub {
    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    pub fn sim(&self) -> &GitLabSim {
        self.sim.as_ref().expect("gitlab hub").sim()
    }

    /// Runs the GitLab login as `user` (the simulator's `login_as` shortcut
    /// stands in for clicking the user) and returns the callback's answer.
    pub async fn gitlab_login(&self, browser: &reqwest::Client, user: &str, next: &str) -> reqwest::Response {
        let start = browser.get(self.at(&format!("/hub/oauth_login?next={}", enc(next)))).send().await.unwrap();
        assert_eq!(start.status(), 302, "oauth_login");
        let authorize = location(&start);
        assert!(authorize.starts_with(&self.sim.as_ref().unwrap().url()), "{authorize}");
        let approved = browser.get(format!("{authorize}&login_as={user}")).send().await.unwrap();
        assert_eq!(approved.status(), 302, "sim authorize");
        let callback = location(&approved);
        assert!(callback.starts_with(&self.at("/hub/oauth_callback?")), "{callback}");
        browser.get(callback).send().await.unwrap()
    }

    /// Logs in with the shared password; returns the POST's answer.
    pub async fn password_login(&self, browser: &reqwest::Client, user: &str, next: Option<&str>) -> reqwest::Response {
        let login_url = match next {
            Some(next) => self.at(&format!("/hub/login?next={}", enc(next))),
            None => self.at("/hub/login"),
        };
        let page = browser.get(&login_url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let xsrf = xsrf_of(&page.text().await.unwrap());
        let password = if user == "admin" { ADMIN_PASSWORD } else { PASSWORD };
        browser
            .post(&login_url)
            .form(&[("username", user), ("password", password), ("_xsrf", xsrf.as_str())])
            .send()
            .await
            .unwrap()
    }

    /// A logged-in browser (shared password).
    pub async fn logged_in(&self, user: &str) -> reqwest::Client {
        let browser = browser();
        let response = self.password_login(&browser, user, Some("/hub/home")).await;
        assert_eq!(response.status(), 302, "login of {user}");
        browser
    }

    /// The `_xsrf` token a page gives this browser (`window.jhdata.xsrf_token`).
    pub async fn xsrf(&self, browser: &reqwest::Client, path: &str) -> String {
        let page = browser.get(self.at(path)).send().await.unwrap();
        jhdata_of(&page.text().await.unwrap())["xsrf_token"].as_str().unwrap().to_string()
    }

    /// The raw `encrypted_auth_state` column of a user, read through the store.
    pub async fn raw_auth_state(&self, user: &str) -> Option<Vec<u8>> {
        let snapshot = self.hub.store().load_snapshot().await.unwrap();
        snapshot.users.into_iter().find(|u| u.name == user).and_then(|u| u.encrypted_auth_state)
    }

    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }
}

/// A browser: cookie jar, redirects not followed.
pub fn browser() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

pub fn enc(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

pub fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect()
}

/// The Set-Cookie line for `name`, if any.
pub fn set_cookie<'a>(cookies: &'a [String], name: &str) -> Option<&'a String> {
    cookies.iter().find(|c| c.starts_with(&format!("{name}=")))
}

/// The value of the first hidden `_xsrf` input of a page.
pub fn xsrf_of(html: &str) -> String {
    let marker = "name=\"_xsrf\" value=\"";
    let start = html.find(marker).map(|i| i + marker.len()).expect("page has an _xsrf field");
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_string()
}

/// `window.jhdata` of a page.
pub fn jhdata_of(html: &str) -> serde_json::Value {
    let marker = "window.jhdata = ";
    let start = html.find(marker).map(|i| i + marker.len()).expect("page sets window.jhdata");
    let end = html[start..].find(";</script>").unwrap() + start;
    serde_json::from_str(&html[start..end]).unwrap()
}

/// A query parameter of a URL (absolute or path).
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url).or_else(|_| url::Url::parse(&format!("http://x{url}"))).unwrap();
    parsed.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}
