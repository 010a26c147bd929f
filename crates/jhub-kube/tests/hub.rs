//! End to end through the hub: `jhub_hub::Hub` with the Kubernetes spawner,
//! the in-memory proxy and SQLite, against the simulator whose mock HTTP
//! responder answers the hub's readiness check on the pod IP. Spawn → ready
//! (routed to the pod) → hub restart (re-adopted from the new spawner's
//! view) → stop (pod gone, PVC kept, route removed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use jhub_core::Timestamp;
use jhub_core::ports::ManualClock;
use jhub_hub::fakes::MemoryProxy;
use jhub_hub::{Hub, HubSettings, SpawnCommand, SpawnOutcome, StopReason};
use jhub_kube_sim::{Resource, SimConfig};
use jhub_store::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn hub_settings() -> HubSettings {
    let mut settings = HubSettings::new("/", "http://hub:8081/hub/api", "http://127.0.0.1:8081");
    settings.hub_env = hub_env();
    settings.start_timeout = Duration::from_secs(20);
    settings.http_timeout = Duration::from_secs(10);
    settings.poll_interval = Duration::from_millis(100);
    settings.proxy_probe_interval = Duration::from_millis(100);
    settings
}

#[tokio::test]
async fn spawn_ready_restart_and_stop_through_the_hub() {
    let env = Env::start(SimConfig::seed_cluster().with_mock_http_responder(true)).await;
    let dir = std::env::temp_dir().join(format!("jhub-kube-hub-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/hub.sqlite?mode=rwc", dir.display());
    let proxy = Arc::new(MemoryProxy::default());
    let clock = Arc::new(ManualClock::new(Timestamp::from_second(1_800_000_000).unwrap()));

    let spawner = Arc::new(env.spawner(seed_config()).await);
    let hub =
        Hub::start(hub_settings(), Store::connect(&url).await.unwrap(), spawner.clone(), proxy.clone(), clock.clone())
            .await
            .unwrap();
    hub.create_user("alice", false).await.unwrap();
    let mut ticket = hub
        .spawn(SpawnCommand {
            user: "alice".into(),
            server: String::new(),
            user_options: Some(gpu("A100x1")),
            display_name: None,
        })
        .await
        .unwrap();
    match ticket.wait(Duration::from_secs(30)).await {
        Some(SpawnOutcome::Ready { url }) => assert_eq!(url, "/user/alice/"),
        other => panic!("not ready: {other:?}"),
    }
    let pod = env.pod("jupyter-alice").unwrap();
    let target = proxy.targets().get("/user/alice/").cloned().expect("routed");
    assert_eq!(target, format!("http://{}:8888", s(&pod, "/status/podIP")));
    assert_eq!(s(&pod, "/spec/nodeName"), "l1");

    // Hub restart mid-run: the server keeps running and is tracked again.
    hub.shutdown(Duration::from_secs(5)).await;
    drop(hub);
    drop(spawner);
    proxy.restart();
    let spawner = Arc::new(env.spawner(seed_config()).await);
    let hub = Hub::start(hub_settings(), Store::connect(&url).await.unwrap(), spawner.clone(), proxy.clone(), clock)
        .await
        .unwrap();
    assert!(hub.read().user("alice").unwrap().servers[""].ready(), "re-adopted");
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy.targets().get("/user/alice/") != Some(&target) {
        assert!(Instant::now() < deadline, "route not restored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Several poll rounds later it is still running.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(hub.read().user("alice").unwrap().servers[""].ready());

    let mut stop = hub.stop("alice", "", false, StopReason::Requested).await.unwrap();
    assert_eq!(stop.wait(Duration::from_secs(20)).await, Some(Ok(())));
    assert!(env.pod("jupyter-alice").is_none(), "pod gone");
    assert!(env.sim.get(Resource::PersistentVolumeClaims, NS, "claim-alice").is_some(), "PVC kept");
    assert!(!proxy.targets().contains_key("/user/alice/"));
    assert!(!hub.read().user("alice").unwrap().servers[""].active());
    hub.shutdown(Duration::from_secs(5)).await;
    drop(hub);
    drop(spawner);
    let _ = std::fs::remove_dir_all(&dir);
    env.stop().await;
}

#[tokio::test]
async fn a_failed_spawn_reaches_the_hub_with_the_reason_and_leaves_nothing_running() {
    let env = Env::start(SimConfig::seed_cluster().with_mock_http_responder(true)).await;
    let mut cfg = seed_config();
    cfg.image = "registry.example.org/nobody/missing:1".into();
    let spawner = Arc::new(env.spawner(cfg).await);
    let proxy = Arc::new(MemoryProxy::default());
    let clock = Arc::new(ManualClock::new(Timestamp::from_second(1_800_000_000).unwrap()));
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let hub = Hub::start(hub_settings(), store, spawner.clone(), proxy.clone(), clock).await.unwrap();
    hub.create_user("bob", false).await.unwrap();
    let mut ticket = hub
        .spawn(SpawnCommand {
            user: "bob".into(),
            server: String::new(),
            user_options: Some(cpu()),
            display_name: None,
        })
        .await
        .unwrap();
    match ticket.wait(Duration::from_secs(10)).await {
        Some(SpawnOutcome::Failed { message }) => {
            assert!(
                message.starts_with("Spawn failed: could not pull image \"registry.example.org/nobody/missing:1\""),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(env.pod("jupyter-bob").is_none());
    assert!(!proxy.targets().contains_key("/user/bob/"));
    // A bad choice is refused before anything starts, naming the option.
    let refused = hub
        .spawn(SpawnCommand {
            user: "bob".into(),
            server: String::new(),
            user_options: Some(gpu("H100x8")),
            display_name: None,
        })
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("option 'image'"), "{refused}");
    hub.shutdown(Duration::from_secs(5)).await;
    drop(hub);
    drop(spawner);
    env.stop().await;
}
