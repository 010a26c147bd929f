//! Benchmark: one internal-culler sweep over N running servers with nothing
//! to cull (issue bar: 10,000 servers in < 50 ms, no calls to Kubernetes or
//! the proxy beyond one routes read). Run:
//!
//!   cargo run --release -p jhub-hub --example cull_sweep -- [N]
//!
//! The servers are preloaded into a file SQLite database and re-adopted at
//! start, as after a hub restart; the proxy is the in-memory table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jhub_core::Timestamp;
use jhub_core::cull::CullPolicy;
use jhub_core::model::Pending;
use jhub_core::ports::ManualClock;
use jhub_hub::fakes::{FakeSpawner, MemoryProxy};
use jhub_hub::{Hub, HubSettings};
use jhub_store::{NewUser, Store};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.sqlite", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    let users: Vec<NewUser> = (0..n)
        .map(|i| NewUser { name: format!("user-{i:05}"), admin: false, cookie_id: format!("cookie-{i}") })
        .collect();
    let began = Instant::now();
    let created = store.create_users(&users, now).await.unwrap();
    for user in &created {
        let mut server = store.create_server(user.id, "", "").await.unwrap();
        server.started = Some(now);
        server.last_activity = Some(now);
        server.url = Some("http://127.0.0.1:9".into());
        server.pending = None::<Pending>;
        store.save_server(&server).await.unwrap();
    }
    println!("preloaded {n} users with running servers in {:.1?}", began.elapsed());

    let mut settings = HubSettings::new("/", "http://127.0.0.1:8081/hub/api", "http://127.0.0.1:8081");
    // Activity is recent, so nothing is idle; the sweep runs by hand.
    settings.cull = Some(CullPolicy { every: Duration::from_secs(3600), ..CullPolicy::default() });
    settings.poll_interval = Duration::from_secs(3600);
    settings.proxy_probe_interval = Duration::ZERO;
    settings.proxy_check_interval = Duration::from_secs(3600);
    let spawner = Arc::new(FakeSpawner::assuming_running());
    let proxy = Arc::new(MemoryProxy::default());
    let clock = Arc::new(ManualClock::new(now));
    let began = Instant::now();
    let hub = Hub::start(settings, store, spawner.clone(), proxy.clone(), clock.clone()).await.unwrap();
    println!("hub started and re-adopted {n} servers in {:.1?}", began.elapsed());
    clock.advance(Duration::from_secs(60));
    // Let the initial route reconciliation finish before counting calls.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut samples = Vec::new();
    for _ in 0..10 {
        let polls = spawner.polls.load(Ordering::Relaxed);
        let proxy_calls = proxy.calls.load(Ordering::Relaxed);
        let report = hub.cull_once().await;
        assert!(report.stopped.is_empty(), "nothing should be culled");
        let polls = spawner.polls.load(Ordering::Relaxed) - polls;
        let proxy_calls = proxy.calls.load(Ordering::Relaxed) - proxy_calls;
        assert_eq!((polls, proxy_calls), (0, 1), "one routes read, no spawner calls");
        samples.push(report.took);
    }
    samples.sort();
    println!(
        "cull sweep over {n} running servers, nothing to cull: median {:.2?}, max {:.2?} (bar: < 50 ms); \
         calls per sweep: proxy 1 (routes read), spawner 0",
        samples[samples.len() / 2],
        samples[samples.len() - 1]
    );
}
