//! Usage accounting through the hub with a fake clock: what each event
//! records, exact hours across hub restarts (adoption neither loses nor
//! double-counts), a server that died while the hub was down, and the
//! retention purge of the event log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jhub_core::Timestamp;
use jhub_core::model::ServerEventKind;
use jhub_core::ports::ManualClock;
use jhub_core::usage::GroupBy;
use jhub_hub::fakes::{FakeSpawner, MemoryProxy};
use jhub_hub::{Hub, HubSettings, SpawnCommand, SpawnOutcome, StopReason};
use jhub_store::{NewServerEvent, Store};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

fn settings() -> HubSettings {
    let mut s = HubSettings::new("/", "http://127.0.0.1:8081/hub/api", "http://127.0.0.1:8081");
    s.allow_named_servers = true;
    s.proxy_probe_interval = Duration::from_millis(50);
    s.poll_interval = Duration::from_millis(100);
    s
}

fn t0() -> Timestamp {
    jhub_core::time::parse("2026-03-10T08:00:00Z").unwrap()
}

fn at(offset: Duration) -> Timestamp {
    t0().checked_add(jiff::SignedDuration::try_from(offset).unwrap()).unwrap()
}

async fn start(url: &str, spawner: &Arc<FakeSpawner>, clock: &Arc<ManualClock>, settings: HubSettings) -> Hub {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = Store::connect(url).await.unwrap();
    Hub::start(settings, store, spawner.clone(), Arc::new(MemoryProxy::default()), clock.clone()).await.unwrap()
}

async fn spawn_ready(hub: &Hub, user: &str, options: serde_json::Value) {
    let mut ticket = hub
        .spawn(SpawnCommand {
            user: user.into(),
            server: String::new(),
            user_options: Some(options),
            display_name: None,
        })
        .await
        .unwrap();
    assert!(matches!(ticket.wait(Duration::from_secs(10)).await, Some(SpawnOutcome::Ready { .. })));
}

fn gpu_spawner() -> Arc<FakeSpawner> {
    let spawner = Arc::new(FakeSpawner::serving());
    *spawner.resources.lock().unwrap() = json!({
        "cpu_guarantee": 4.0, "mem_guarantee": 17_179_869_184u64,
        "extra_resource_limits": {"nvidia.com/gpu": "2"}, "node": "gpu-a100-1"
    });
    spawner
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hours_are_exact_across_hub_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/hub.sqlite", dir.path().display());
    let spawner = gpu_spawner();
    let clock = Arc::new(ManualClock::new(t0()));
    let hub = start(&url, &spawner, &clock, settings()).await;
    hub.create_user("gina", false).await.unwrap();
    spawn_ready(&hub, "gina", json!({"profile": "a100"})).await;
    // What was run is in the log with the start.
    let events = hub.store().events_for_user("gina", Timestamp::MIN, Timestamp::MAX, 100, None).await.unwrap();
    let started = events.iter().find(|e| e.kind == ServerEventKind::Started).unwrap();
    assert_eq!(started.detail["profile"], "a100");
    assert_eq!(started.detail["user_options"], json!({"profile": "a100"}));
    assert_eq!(started.detail["extra_resource_limits"], json!({"nvidia.com/gpu": "2"}));
    assert_eq!(started.detail["node"], "gpu-a100-1");
    assert_eq!(started.detail["cpu_guarantee"], 4.0);

    clock.advance(2 * HOUR);
    hub.shutdown(Duration::from_secs(5)).await;
    drop(hub);
    // The hub is down for an hour; the pod keeps running.
    clock.advance(HOUR);
    let hub = start(&url, &spawner, &clock, settings()).await;
    assert!(hub.read().user("gina").unwrap().servers[""].ready(), "re-adopted");
    let range = (at(Duration::ZERO).checked_sub(jiff::SignedDuration::from_hours(24)).unwrap(), at(24 * HOUR));
    let rows = hub.usage_report(range.0, range.1, GroupBy::User);
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].server_hours, rows[0].gpu_hours, rows[0].sessions), (3.0, 6.0, 1), "running: up to now");
    assert_eq!((rows[0].cpu_core_hours, rows[0].gib_hours), (12.0, 48.0));
    clock.advance(HOUR);
    hub.stop("gina", "", false, StopReason::Requested).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while hub.read().user("gina").unwrap().servers[""].active() {
        assert!(std::time::Instant::now() < deadline, "stop did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    clock.advance(5 * HOUR);
    let rows = hub.usage_report(range.0, range.1, GroupBy::Profile);
    assert_eq!((rows[0].key.as_str(), rows[0].server_hours, rows[0].gpu_hours), ("a100", 4.0, 8.0));
    let rows = hub.usage_report(range.0, range.1, GroupBy::Node);
    assert_eq!((rows[0].key.as_str(), rows[0].gpu_hours), ("gpu-a100-1", 8.0));
    // Range edges clip: 09:00-10:00 holds one hour of the 08:00-12:00 session.
    let rows = hub.usage_report(at(HOUR), at(2 * HOUR), GroupBy::User);
    assert_eq!(rows[0].server_hours, 1.0);
    hub.shutdown(Duration::from_secs(5)).await;
    drop(hub);
    // A third start rebuilds the same numbers from the log alone.
    let hub = start(&url, &spawner, &clock, settings()).await;
    let rows = hub.usage_report(range.0, range.1, GroupBy::User);
    assert_eq!((rows[0].server_hours, rows[0].gpu_hours, rows[0].sessions), (4.0, 8.0, 1));
    let day = hub.usage_report(range.0, range.1, GroupBy::Day);
    assert_eq!((day[0].key.as_str(), day[0].server_hours), ("2026-03-10", 4.0));
    hub.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_gone_while_the_hub_was_down_stops_counting_at_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/hub.sqlite", dir.path().display());
    let spawner = gpu_spawner();
    let clock = Arc::new(ManualClock::new(t0()));
    let hub = start(&url, &spawner, &clock, settings()).await;
    hub.create_user("hank", false).await.unwrap();
    spawn_ready(&hub, "hank", json!({})).await;
    hub.shutdown(Duration::from_secs(5)).await;
    drop(hub);
    spawner.kill("hank", "");
    clock.advance(3 * HOUR);
    let hub = start(&url, &spawner, &clock, settings()).await;
    assert!(!hub.read().user("hank").unwrap().servers[""].active());
    clock.advance(10 * HOUR);
    let rows = hub.usage_report(t0(), at(48 * HOUR), GroupBy::User);
    assert_eq!(rows[0].server_hours, 3.0, "counted until the restarted hub saw it gone, not beyond");
    hub.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_purge_runs_and_deletes_old_events() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let old = |days: i64, kind| NewServerEvent {
        user_id: None,
        user_name: "ivy".into(),
        server_name: String::new(),
        kind,
        at: t0().checked_sub(jiff::SignedDuration::from_hours(24 * days)).unwrap(),
        detail: json!({}),
    };
    store.append_event(&old(40, ServerEventKind::Started)).await.unwrap();
    store.append_event(&old(39, ServerEventKind::Stopped)).await.unwrap();
    store.append_event(&old(2, ServerEventKind::Started)).await.unwrap();
    store.append_event(&old(1, ServerEventKind::Stopped)).await.unwrap();
    let mut s = settings();
    s.event_retention = Some(Duration::from_secs(30 * 86_400));
    s.purge_interval = Duration::from_millis(100);
    let hub = Hub::start(s, store.clone(), Arc::new(FakeSpawner::serving()), Arc::new(MemoryProxy::default()), clock)
        .await
        .unwrap();
    let month = (t0().checked_sub(jiff::SignedDuration::from_hours(24 * 60)).unwrap(), t0());
    assert_eq!(
        hub.usage_report(month.0, month.1, GroupBy::User)[0].server_hours,
        48.0,
        "both sessions, before the purge"
    );
    // The background task purges without being asked.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = store.events_between(Timestamp::MIN, Timestamp::MAX, 100, None).await.unwrap();
        if left.len() == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "old events not purged: {left:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(hub.usage_report(month.0, month.1, GroupBy::User)[0].server_hours, 24.0, "memory follows the log");
    hub.shutdown(Duration::from_secs(5)).await;
}
