//! Hub core under stress and faults: no lock held across a proxy call
//! (a hanging CHP holds up nobody else), writes serialised per user, the
//! spawn queue past `concurrent_spawn_limit`, and database writes failing
//! at each step of a spawn and a stop.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use async_trait::async_trait;
use jhub_core::Timestamp;
use jhub_core::model::Pending;
use jhub_core::ports::{ManualClock, Proxy, ProxyError, Route};
use jhub_hub::fakes::{FakeSpawner, MemoryProxy};
use jhub_hub::tokens::TokenRequest;
use jhub_hub::{Hub, HubError, HubSettings, SpawnCommand, SpawnOutcome, StopReason};
use jhub_store::Store;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn settings() -> HubSettings {
    let mut s = HubSettings::new("/", "http://127.0.0.1:8081/hub/api", "http://127.0.0.1:8081");
    s.allow_named_servers = true;
    // Keep the background reconciler out of the way of the proxy double.
    s.proxy_probe_interval = Duration::from_secs(3600);
    s.proxy_check_interval = Duration::from_secs(3600);
    s.poll_interval = Duration::from_secs(3600);
    s
}

/// The in-memory proxy, except that adding or deleting a route can be made
/// to hang forever (a CHP that accepted the connection and never answers).
#[derive(Default)]
struct HangingProxy {
    inner: MemoryProxy,
    hang_add: AtomicBool,
    hang_delete: AtomicBool,
    hanging: AtomicUsize,
}

#[async_trait]
impl Proxy for HangingProxy {
    async fn add_route(&self, routespec: &str, target: &str, data: Map<String, Value>) -> Result<(), ProxyError> {
        if self.hang_add.load(Ordering::SeqCst) {
            self.hanging.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
        self.inner.add_route(routespec, target, data).await
    }

    async fn delete_route(&self, routespec: &str) -> Result<(), ProxyError> {
        if self.hang_delete.load(Ordering::SeqCst) {
            self.hanging.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
        self.inner.delete_route(routespec).await
    }

    async fn get_all_routes(&self) -> Result<BTreeMap<String, Route>, ProxyError> {
        self.inner.get_all_routes().await
    }

    fn reconfigure(&self, api_url: Option<&str>, auth_token: Option<&str>) -> Result<(), ProxyError> {
        self.inner.reconfigure(api_url, auth_token)
    }

    async fn get_route(&self, routespec: &str) -> Result<Option<Route>, ProxyError> {
        self.inner.get_route(routespec).await
    }
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp::from_second(1_800_000_000).unwrap()))
}

async fn start(settings: HubSettings, spawner: Arc<FakeSpawner>, proxy: Arc<dyn Proxy>) -> (Hub, Store) {
    crypto();
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let hub = Hub::start(settings, store.clone(), spawner, proxy, clock()).await.unwrap();
    (hub, store)
}

fn command(user: &str) -> SpawnCommand {
    SpawnCommand { user: user.into(), server: String::new(), user_options: Some(json!({})), display_name: None }
}

async fn spawn_ready(hub: &Hub, user: &str) {
    let mut ticket = hub.spawn(command(user)).await.unwrap();
    match ticket.wait(Duration::from_secs(10)).await {
        Some(SpawnOutcome::Ready { .. }) => {}
        other => panic!("spawn of {user} did not become ready: {other:?}"),
    }
}

async fn within<T>(what: &str, limit: Duration, future: impl std::future::Future<Output = T>) -> T {
    let began = Instant::now();
    match tokio::time::timeout(limit, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} took longer than {limit:?} (started {:?} ago)", began.elapsed()),
    }
}

async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn phase_pending(hub: &Hub, user: &str) -> Option<Pending> {
    hub.read().user(user).and_then(|e| e.servers.get("")).and_then(|s| s.pending())
}

/// A CHP that hangs while a spawn adds its route and while a failed stop
/// restores one must not hold up logins, token writes or API reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_proxy_blocks_no_other_writes() {
    let spawner = Arc::new(FakeSpawner::serving());
    let proxy = Arc::new(HangingProxy::default());
    let (hub, _store) = start(settings(), spawner.clone(), proxy.clone()).await;
    hub.create_users(&["alice".into(), "bob".into(), "dave".into()], false).await.unwrap();
    spawn_ready(&hub, "alice").await;

    proxy.hang_add.store(true, Ordering::SeqCst);
    // alice's stop fails at the spawner: the hub restores her route, which hangs.
    *spawner.stop_error.lock().unwrap() = Some("pod will not go".into());
    let _stop = hub.stop("alice", "", false, StopReason::Requested).await.unwrap();
    // bob's spawn reaches the proxy and hangs there.
    let _spawn = hub.spawn(command("bob")).await.unwrap();
    wait_until("both proxy calls to hang", || proxy.hanging.load(Ordering::SeqCst) >= 2).await;

    let limit = Duration::from_millis(100);
    // A login: a new user, her auth state, a fresh cookie id.
    within("creating a user", limit, hub.ensure_user("carol")).await.unwrap();
    within("storing auth state", limit, hub.set_auth_state("carol", Some(b"sealed".to_vec()))).await.unwrap();
    within("rotating the cookie id", limit, hub.rotate_cookie_id("carol")).await.unwrap();
    // The users whose proxy calls hang can still be written to.
    within("writing alice's user info", limit, hub.set_user_info("alice", Some(json!({"x": 1})))).await.unwrap();
    within("writing bob's auth state", limit, hub.set_auth_state("bob", None)).await.unwrap();
    // A token write and its use.
    let request = TokenRequest { note: Some("api".into()), ..Default::default() };
    let issued = within("creating a token", limit, hub.create_token("dave", request)).await.unwrap();
    let identity = within("authenticating the token", limit, hub.authenticate_token(&issued.secret)).await;
    assert!(identity.is_some());
    // Reads.
    assert!(hub.read().user("carol").is_some());
    assert_eq!(phase_pending(&hub, "bob"), Some(Pending::Spawn));
    // Another user's spawn and stop are not held up either.
    proxy.hang_add.store(false, Ordering::SeqCst);
    *spawner.stop_error.lock().unwrap() = None;
    within("another user's spawn", Duration::from_secs(5), spawn_ready(&hub, "dave")).await;
    let mut stop =
        within("another user's stop", limit, hub.stop("dave", "", false, StopReason::Requested)).await.unwrap();
    assert_eq!(stop.wait(Duration::from_secs(5)).await, Some(Ok(())));
}

/// A stop whose route removal hangs holds up nobody else either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_route_removal_blocks_no_other_writes() {
    let spawner = Arc::new(FakeSpawner::serving());
    let proxy = Arc::new(HangingProxy::default());
    let (hub, _store) = start(settings(), spawner.clone(), proxy.clone()).await;
    hub.create_users(&["alice".into(), "bob".into()], false).await.unwrap();
    spawn_ready(&hub, "alice").await;
    proxy.hang_delete.store(true, Ordering::SeqCst);
    let _stop = hub.stop("alice", "", false, StopReason::Requested).await.unwrap();
    wait_until("the route removal to hang", || proxy.hanging.load(Ordering::SeqCst) >= 1).await;
    let limit = Duration::from_millis(100);
    within("creating a user", limit, hub.ensure_user("carol")).await.unwrap();
    within("writing alice's user info", limit, hub.set_user_info("alice", None)).await.unwrap();
    let issued = within("creating a token", limit, hub.create_token("bob", TokenRequest::default())).await.unwrap();
    assert!(within("authenticating", limit, hub.authenticate_token(&issued.secret)).await.is_some());
    within("another user's spawn", Duration::from_secs(5), spawn_ready(&hub, "bob")).await;
}

#[tokio::test]
async fn spawns_past_the_limit_wait_in_a_fifo_and_start_in_order() {
    let mut s = settings();
    s.concurrent_spawn_limit = 1;
    let spawner = Arc::new(FakeSpawner::serving_after(Duration::from_millis(300)));
    let (hub, _store) = start(s, spawner.clone(), Arc::new(MemoryProxy::default())).await;
    hub.create_users(&["a".into(), "b".into(), "c".into()], false).await.unwrap();
    let mut first = hub.spawn(command("a")).await.unwrap();
    assert!(!first.queued);
    let mut second = hub.spawn(command("b")).await.unwrap();
    let mut third = hub.spawn(command("c")).await.unwrap();
    assert!(second.queued && third.queued, "past the limit spawns queue instead of 429");
    assert_eq!(hub.spawn_queue_length(), 2);
    assert_eq!(phase_pending(&hub, "b"), Some(Pending::Spawn), "a queued spawn is pending, as JupyterHub shows it");
    // Position shows in the progress stream.
    wait_until("c's place in the progress stream", || {
        let progress = hub.spawn_progress("c", "").unwrap();
        progress.events.iter().any(|e| e.message.starts_with("Waiting in the spawn queue: position 2 of 2"))
    })
    .await;
    // A second named server of the same user does not take another place.
    let err = hub.spawn(SpawnCommand { user: "b".into(), server: "two".into(), ..command("b") }).await.unwrap_err();
    assert!(matches!(err, HubError::Throttled { .. }), "{err:?}");
    assert!(matches!(first.wait(Duration::from_secs(10)).await, Some(SpawnOutcome::Ready { .. })));
    assert!(matches!(second.wait(Duration::from_secs(10)).await, Some(SpawnOutcome::Ready { .. })));
    assert!(spawner.is_running("a", "") && spawner.is_running("b", ""));
    assert!(matches!(third.wait(Duration::from_secs(10)).await, Some(SpawnOutcome::Ready { .. })));
    // With one running spawn's duration known, the estimate shows up.
    assert_eq!(hub.spawn_queue_length(), 0);
    let text = hub.metrics_text();
    assert!(text.contains("jhub_spawn_queue_length 0.0"), "{text}");
    assert!(text.contains("jhub_spawn_queue_wait_seconds_count 2.0"), "{text}");
}

#[tokio::test]
async fn stopping_a_queued_spawn_leaves_the_line() {
    let mut s = settings();
    s.concurrent_spawn_limit = 1;
    let spawner = Arc::new(FakeSpawner::serving_after(Duration::from_millis(500)));
    let (hub, store) = start(s, spawner.clone(), Arc::new(MemoryProxy::default())).await;
    hub.create_users(&["a".into(), "b".into(), "c".into()], false).await.unwrap();
    let mut first = hub.spawn(command("a")).await.unwrap();
    let mut second = hub.spawn(command("b")).await.unwrap();
    let mut third = hub.spawn(command("c")).await.unwrap();
    assert!(second.queued);
    let mut stop = hub.stop("b", "", false, StopReason::Requested).await.unwrap();
    assert_eq!(stop.wait(Duration::from_secs(5)).await, Some(Ok(())));
    assert!(matches!(second.wait(Duration::from_secs(1)).await, Some(SpawnOutcome::Failed { .. })));
    assert_eq!(hub.spawn_queue_length(), 1, "b left the line");
    assert_eq!(phase_pending(&hub, "b"), None);
    assert!(store.client("jupyterhub-user-b").await.unwrap().is_none(), "credentials revoked");
    assert!(matches!(first.wait(Duration::from_secs(10)).await, Some(SpawnOutcome::Ready { .. })));
    assert!(matches!(third.wait(Duration::from_secs(10)).await, Some(SpawnOutcome::Ready { .. })));
    assert!(!spawner.is_running("b", ""), "a cancelled queued spawn never starts");
}

#[tokio::test]
async fn a_full_queue_refuses_like_jupyterhub() {
    let mut s = settings();
    s.concurrent_spawn_limit = 1;
    s.spawn_queue_max_length = 1;
    let spawner = Arc::new(FakeSpawner::serving_after(Duration::from_millis(300)));
    let (hub, _store) = start(s, spawner, Arc::new(MemoryProxy::default())).await;
    hub.create_users(&["a".into(), "b".into(), "c".into()], false).await.unwrap();
    let _first = hub.spawn(command("a")).await.unwrap();
    let second = hub.spawn(command("b")).await.unwrap();
    assert!(second.queued);
    match hub.spawn(command("c")).await.unwrap_err() {
        HubError::Throttled { message, retry_after: Some(secs) } => {
            assert!((30..=60).contains(&secs));
            assert!(message.starts_with("Too many users trying to log in right now."), "{message}");
        }
        other => panic!("expected 429, got {other:?}"),
    }
    // Nothing was written for the refused spawn.
    assert!(hub.read().user("c").unwrap().servers.is_empty());
}

// ----- database writes failing at each step -----

fn limited() -> HubSettings {
    let mut s = settings();
    s.concurrent_spawn_limit = 1;
    s
}

/// After a failure the one spawn slot is free again: another user starts
/// at once instead of queueing.
async fn assert_slot_free(hub: &Hub, user: &str) {
    let mut ticket = hub.spawn(command(user)).await.unwrap();
    assert!(!ticket.queued, "the failed spawn's slot was not released");
    assert!(matches!(ticket.wait(Duration::from_secs(10)).await, Some(SpawnOutcome::Ready { .. })));
}

#[tokio::test]
async fn failing_spawn_write_leaves_nothing_behind() {
    let (hub, store) = start(limited(), Arc::new(FakeSpawner::serving()), Arc::new(MemoryProxy::default())).await;
    hub.create_users(&["a".into(), "b".into()], false).await.unwrap();
    store.fail_writes(&["write spawn"]);
    let err = hub.spawn(command("a")).await.unwrap_err();
    assert!(err.to_string().contains("write spawn"), "the error names the failed write: {err}");
    assert!(hub.read().user("a").unwrap().servers.is_empty(), "nothing shown that was not written");
    let snapshot = store.load_snapshot().await.unwrap();
    assert!(snapshot.servers.is_empty(), "no server row");
    assert!(store.client("jupyterhub-user-a").await.unwrap().is_none(), "no OAuth client");
    store.clear_faults();
    assert_slot_free(&hub, "b").await;
}

#[tokio::test]
async fn failing_start_record_undoes_the_spawn() {
    let spawner = Arc::new(FakeSpawner::serving());
    let (hub, store) = start(limited(), spawner.clone(), Arc::new(MemoryProxy::default())).await;
    hub.create_users(&["a".into(), "b".into()], false).await.unwrap();
    // The first "save server" of a spawn records where it started.
    store.fail_writes(&["save server"]);
    let mut ticket = hub.spawn(command("a")).await.unwrap();
    match ticket.wait(Duration::from_secs(10)).await {
        Some(SpawnOutcome::Failed { message }) => {
            assert!(message.contains("recording_start") && message.contains("save server"), "{message}")
        }
        other => panic!("expected failure, got {other:?}"),
    }
    assert!(!spawner.is_running("a", ""), "the started server was stopped again");
    wait_until("a to be stopped", || phase_pending(&hub, "a").is_none()).await;
    let snapshot = store.load_snapshot().await.unwrap();
    let row = snapshot.servers.iter().find(|s| s.name.is_empty()).unwrap();
    assert!(row.pending.is_none() && row.url.is_none() && row.started.is_none(), "{row:?}");
    assert!(store.client("jupyterhub-user-a").await.unwrap().is_none());
    let metrics = hub.metrics_text();
    assert!(
        metrics.contains(
            r#"jupyterhub_server_spawn_duration_seconds_count{reason="recording_start",status="failure"} 1.0"#
        ),
        "{metrics}"
    );
    store.clear_faults();
    assert_slot_free(&hub, "b").await;
}

#[tokio::test]
async fn failing_ready_record_unroutes_and_stops() {
    let spawner = Arc::new(FakeSpawner::serving());
    let proxy = Arc::new(MemoryProxy::default());
    let (hub, store) = start(limited(), spawner.clone(), proxy.clone()).await;
    hub.create_users(&["a".into(), "b".into()], false).await.unwrap();
    // Let the first "save server" (start recorded) through, fail the second (ready).
    let saves = Arc::new(AtomicUsize::new(0));
    let counter = saves.clone();
    store.set_fault_hook(Some(Arc::new(move |op| op == "save server" && counter.fetch_add(1, Ordering::SeqCst) == 1)));
    let mut ticket = hub.spawn(command("a")).await.unwrap();
    match ticket.wait(Duration::from_secs(10)).await {
        Some(SpawnOutcome::Failed { message }) => assert!(message.contains("marking_ready"), "{message}"),
        other => panic!("expected failure, got {other:?}"),
    }
    assert!(!proxy.targets().contains_key("/user/a/"), "the route added before the failure is gone");
    assert!(!spawner.is_running("a", ""));
    wait_until("a to be stopped", || phase_pending(&hub, "a").is_none()).await;
    assert!(!hub.read().user("a").unwrap().servers[""].active());
    store.clear_faults();
    assert_slot_free(&hub, "b").await;
}

#[tokio::test]
async fn failing_stop_request_write_changes_nothing() {
    let spawner = Arc::new(FakeSpawner::serving());
    let proxy = Arc::new(MemoryProxy::default());
    let (hub, store) = start(settings(), spawner.clone(), proxy.clone()).await;
    hub.create_user("a", false).await.unwrap();
    spawn_ready(&hub, "a").await;
    store.fail_writes(&["save server"]);
    let err = hub.stop("a", "", false, StopReason::Requested).await.unwrap_err();
    assert!(matches!(err, HubError::Store(_)), "{err:?}");
    assert!(hub.read().user("a").unwrap().servers[""].ready(), "still running");
    assert!(proxy.targets().contains_key("/user/a/"), "still routed");
    assert!(spawner.is_running("a", ""));
}

#[tokio::test]
async fn failing_stop_record_is_retried_until_the_database_takes_it() {
    let spawner = Arc::new(FakeSpawner::serving());
    let proxy = Arc::new(MemoryProxy::default());
    let (hub, store) = start(settings(), spawner.clone(), proxy.clone()).await;
    hub.create_user("a", false).await.unwrap();
    spawn_ready(&hub, "a").await;
    store.fail_writes(&["write stop"]);
    let mut ticket = hub.stop("a", "", false, StopReason::Requested).await.unwrap();
    assert_eq!(ticket.wait(Duration::from_millis(500)).await, None, "not stopped while the write fails");
    assert!(!spawner.is_running("a", ""));
    // Memory says what the database says: stop pending.
    assert_eq!(phase_pending(&hub, "a"), Some(Pending::Stop));
    let row = store.load_snapshot().await.unwrap().servers.into_iter().next().unwrap();
    assert_eq!(row.pending, Some(Pending::Stop));
    store.clear_faults();
    assert_eq!(ticket.wait(Duration::from_secs(10)).await, Some(Ok(())));
    assert_eq!(phase_pending(&hub, "a"), None);
    assert!(store.client("jupyterhub-user-a").await.unwrap().is_none(), "credentials revoked once written");
    let row = store.load_snapshot().await.unwrap().servers.into_iter().next().unwrap();
    assert!(row.pending.is_none() && row.url.is_none());
}

#[tokio::test]
async fn failed_spawn_duration_is_recorded_with_its_step() {
    let spawner = Arc::new(FakeSpawner::serving_after(Duration::from_millis(200)));
    *spawner.fail_with.lock().unwrap() = Some("image not found".into());
    let (hub, store) = start(settings(), spawner, Arc::new(MemoryProxy::default())).await;
    hub.create_user("a", false).await.unwrap();
    let mut ticket = hub.spawn(command("a")).await.unwrap();
    assert!(matches!(ticket.wait(Duration::from_secs(10)).await, Some(SpawnOutcome::Failed { .. })));
    let text = hub.metrics_text();
    let sum_line = text
        .lines()
        .find(|l| l.starts_with(r#"jupyterhub_server_spawn_duration_seconds_sum{reason="starting",status="failure"}"#))
        .unwrap_or_else(|| panic!("{text}"));
    let sum: f64 = sum_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(sum >= 0.2, "failure duration recorded as {sum}");
    let events = store.events_between(Timestamp::MIN, Timestamp::MAX, 100, None).await.unwrap();
    let failed = events.iter().find(|e| e.kind == jhub_core::model::ServerEventKind::Failed).unwrap();
    assert_eq!(failed.detail["step"], "starting");
}
