//! A real hub on 127.0.0.1:0 for HTTP tests: SQLite in memory, the fake
//! spawner (real HTTP responders), the in-memory proxy, the shared-password
//! authenticator, and an admin API token.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use jhub_auth::{SharedPasswordAuthenticator, SharedPasswordSettings};
use jhub_hub::fakes::{FakeSpawner, MemoryProxy};
use jhub_hub::{Hub, HubSettings};
use jhub_web::{App, Templates, WebSettings};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "demo-password";

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
}

impl Drop for TestHub {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts a hub; `configure` adjusts hub and web settings first.
pub async fn start_with(configure: impl FnOnce(&mut HubSettings, &mut WebSettings)) -> TestHub {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = jhub_store::Store::connect("sqlite::memory:").await.unwrap();
    let mut settings = HubSettings::new("/", "http://127.0.0.1:8081/hub/api", "http://127.0.0.1:8081");
    settings.admin_users = vec!["admin".into()];
    settings.allow_named_servers = true;
    let mut web = WebSettings::new(settings.layout.clone());
    web.slow_spawn_timeout = Duration::from_secs(10);
    configure(&mut settings, &mut web);
    let spawner = Arc::new(FakeSpawner::serving());
    let proxy = Arc::new(MemoryProxy::default());
    let clock = Arc::new(SystemClockForTests);
    let hub = Hub::start(settings, store, spawner.clone(), proxy.clone(), clock).await.unwrap();
    let auth = SharedPasswordAuthenticator::new(SharedPasswordSettings::new(PASSWORD.to_string().into())).unwrap();
    let shutdown = CancellationToken::new();
    let app = App::new(
        hub.clone(),
        Arc::new(auth),
        None,
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

pub async fn start() -> TestHub {
    start_with(|_, _| {}).await
}

/// The wall clock (tests that need control use `ManualClock` directly).
pub struct SystemClockForTests;

impl jhub_core::ports::Clock for SystemClockForTests {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> jhub_core::Timestamp {
        jhub_core::Timestamp::now()
    }
}
