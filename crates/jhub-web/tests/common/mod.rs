//! A real hub on 127.0.0.1:0 for HTTP tests: SQLite in memory, the fake
//! spawner (real HTTP responders), the in-memory proxy, the shared-password
//! authenticator, and an admin API token.
//!
//! `start()` / `start_with(configure)` are the simple forms; `Options` adds a
//! clock the test controls, a custom spawner, or a crypt key.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use jhub_auth::{CryptKeeper, SharedPasswordAuthenticator, SharedPasswordSettings};
use jhub_core::Timestamp;
use jhub_core::ports::{Clock, Spawner};
use jhub_hub::fakes::{FakeSpawner, MemoryProxy};
use jhub_hub::{Hub, HubSettings};
use jhub_web::{App, Templates, WebSettings};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "demo-password";
/// 32 bytes as hex: a `JUPYTERHUB_CRYPT_KEY`.
pub const CRYPT_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0";

pub struct TestHub {
    pub url: String,
    pub hub: Hub,
    pub app: App,
    pub spawner: Arc<FakeSpawner>,
    pub proxy: Arc<MemoryProxy>,
    pub admin_token: String,
    pub shutdown: CancellationToken,
}

impl TestHub {
    pub fn api(&self, path: &str) -> String {
        format!("{}/hub/api{}", self.url, path)
    }

    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
    }

    /// A request to `/hub/api{path}` with `Authorization: token <token>`.
    pub fn req(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client().request(method, self.api(path)).header("Authorization", format!("token {token}"))
    }

    /// Sends and returns status, headers and the body parsed as JSON
    /// (`Value::Null` for an empty body).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = self.req(method, path, token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, headers, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let (status, _, body) = self.call(reqwest::Method::GET, path, token, None).await;
        (status, body)
    }

    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, _, body) = self.call(method, path, &self.admin_token, body).await;
        (status, body)
    }

    /// A token for `user` (created if missing) with `scopes` (`None`: inherit).
    pub async fn token_for(&self, user: &str, scopes: Option<&[&str]>) -> String {
        if self.hub.read().user(user).is_none() {
            self.hub.create_user(user, false).await.unwrap();
        }
        let request = jhub_hub::tokens::TokenRequest {
            scopes: scopes.map(|s| s.iter().map(|x| x.to_string()).collect()),
            ..Default::default()
        };
        self.hub.create_token(user, request).await.unwrap().secret
    }

    /// Waits (bounded) until `check` holds.
    pub async fn wait_for(&self, what: &str, check: impl Fn(&Hub) -> bool) {
        for _ in 0..500 {
            if check(&self.hub) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {what}");
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.hub.shutdown_token().cancel();
    }
}

/// Builds the spawner port around the fake spawner.
pub type SpawnerWrapper = Box<dyn FnOnce(Arc<FakeSpawner>) -> Arc<dyn Spawner>>;

/// How to build the test hub.
#[derive(Default)]
pub struct Options {
    pub clock: Option<Arc<dyn Clock>>,
    pub spawner: Option<Arc<FakeSpawner>>,
    /// Enable auth state with [`CRYPT_KEY`].
    pub crypt: bool,
    /// Wraps the fake spawner (e.g. to slow down stops).
    pub wrap_spawner: Option<SpawnerWrapper>,
}

/// Starts a hub; `configure` adjusts hub and web settings first.
pub async fn start_with(configure: impl FnOnce(&mut HubSettings, &mut WebSettings)) -> TestHub {
    start_opts(Options::default(), configure).await
}

pub async fn start() -> TestHub {
    start_with(|_, _| {}).await
}

/// Starts a hub with `options`.
pub async fn start_opts(options: Options, configure: impl FnOnce(&mut HubSettings, &mut WebSettings)) -> TestHub {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = jhub_store::Store::connect("sqlite::memory:").await.unwrap();
    let mut settings = HubSettings::new("/", "http://127.0.0.1:8081/hub/api", "http://127.0.0.1:8081");
    settings.admin_users = vec!["admin".into()];
    settings.allow_named_servers = true;
    let mut web = WebSettings::new(settings.layout.clone());
    web.slow_spawn_timeout = Duration::from_secs(10);
    configure(&mut settings, &mut web);
    let spawner = options.spawner.unwrap_or_else(|| Arc::new(FakeSpawner::serving()));
    let proxy = Arc::new(MemoryProxy::default());
    let clock: Arc<dyn Clock> = options.clock.unwrap_or_else(|| Arc::new(SystemClockForTests));
    let port: Arc<dyn Spawner> = match options.wrap_spawner {
        Some(wrap) => wrap(spawner.clone()),
        None => spawner.clone(),
    };
    let hub = Hub::start(settings, store, port, proxy.clone(), clock).await.unwrap();
    let auth = SharedPasswordAuthenticator::new(SharedPasswordSettings::new(PASSWORD.to_string().into())).unwrap();
    let crypt = options.crypt.then(|| CryptKeeper::from_env_value(CRYPT_KEY).unwrap());
    let shutdown = CancellationToken::new();
    let app = App::new(
        hub.clone(),
        Arc::new(auth),
        crypt,
        web,
        b"0123456789abcdef0123456789abcdef",
        Templates::new(vec![]),
        shutdown.clone(),
    );
    let admin_token = hub.create_token("admin", Default::default()).await.unwrap().secret;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = shutdown.clone();
    tokio::spawn(jhub_web::serve(listener, app.clone(), async move { stop.cancelled().await }));
    TestHub { url, hub, app, spawner, proxy, admin_token, shutdown }
}

/// The wall clock (tests that need control use `ManualClock` or [`OffsetClock`]).
pub struct SystemClockForTests;

impl Clock for SystemClockForTests {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// The wall clock shifted into the past by an adjustable amount, for things
/// that must look old to an external tool reading real time (the culler).
#[derive(Default)]
pub struct OffsetClock {
    behind_secs: AtomicI64,
}

impl OffsetClock {
    pub fn set_behind(&self, by: Duration) {
        self.behind_secs.store(by.as_secs() as i64, Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Timestamp {
        let behind = jiff::SignedDuration::from_secs(self.behind_secs.load(Ordering::SeqCst));
        Timestamp::now().checked_sub(behind).unwrap()
    }
}

/// The tool variable `name` (set by `eval "$(scripts/install-tools ...)"`):
/// `None` (after saying so) when `JHUB_SKIP_EXTERNAL=1`, else a panic telling
/// how to install it.
pub fn external_tool(name: &str, install: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(path) if !path.is_empty() && std::path::Path::new(&path).exists() => Some(path),
        other => {
            if std::env::var("JHUB_SKIP_EXTERNAL").as_deref() == Ok("1") {
                eprintln!("SKIPPED: {name} is not set and JHUB_SKIP_EXTERNAL=1");
                return None;
            }
            panic!(
                "{name} is {} — run `eval \"$(scripts/install-tools {install})\"` first \
                 (or set JHUB_SKIP_EXTERNAL=1 to skip tests needing external tools)",
                match other {
                    Ok(path) if !path.is_empty() => format!("{path:?}, which does not exist"),
                    _ => "not set".to_string(),
                }
            )
        }
    }
}

/// The workspace root (for test data and scripts).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}
