//! The hub against real SQLite, the fake spawner (real HTTP responders) and
//! the in-memory proxy: lifecycle, limits, restart adoption, proxy restore,
//! culling, tokens and the OAuth code exchange.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jhub_core::Timestamp;
use jhub_core::cull::CullPolicy;
use jhub_core::model::ServerEventKind;
use jhub_core::ports::{Clock, ManualClock};
use jhub_hub::fakes::{FakeSpawner, MemoryProxy};
use jhub_hub::tokens::{OAuthError, TokenRequest};
use jhub_hub::{Hub, HubError, HubSettings, SpawnCommand, SpawnOutcome, StopReason};
use jhub_store::Store;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn settings() -> HubSettings {
    let mut s = HubSettings::new("/", "http://127.0.0.1:8081/hub/api", "http://127.0.0.1:8081");
    s.allow_named_servers = true;
    s.proxy_probe_interval = Duration::from_millis(50);
    s.poll_interval = Duration::from_millis(100);
    s
}

struct Fixture {
    hub: Hub,
    spawner: Arc<FakeSpawner>,
    proxy: Arc<MemoryProxy>,
    clock: Arc<ManualClock>,
    store: Store,
}

fn start_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp::from_second(1_800_000_000).unwrap()))
}

async fn fixture_with(
    settings: HubSettings,
    store: Store,
    spawner: Arc<FakeSpawner>,
    proxy: Arc<MemoryProxy>,
    clock: Arc<ManualClock>,
) -> Fixture {
    crypto();
    let hub = Hub::start(settings, store.clone(), spawner.clone(), proxy.clone(), clock.clone()).await.unwrap();
    Fixture { hub, spawner, proxy, clock, store }
}

async fn fixture(settings: HubSettings) -> Fixture {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    fixture_with(settings, store, Arc::new(FakeSpawner::serving()), Arc::new(MemoryProxy::default()), start_clock())
        .await
}

async fn spawn_ready(hub: &Hub, user: &str, server: &str) {
    let mut ticket = hub
        .spawn(SpawnCommand {
            user: user.into(),
            server: server.into(),
            user_options: Some(json!({})),
            display_name: None,
        })
        .await
        .unwrap();
    match ticket.wait(Duration::from_secs(10)).await {
        Some(SpawnOutcome::Ready { .. }) => {}
        other => panic!("spawn of {user}/{server} did not become ready: {other:?}"),
    }
}

#[tokio::test]
async fn spawn_routes_and_stop_unroutes() {
    let f = fixture(settings()).await;
    f.hub.create_user("alice", false).await.unwrap();
    spawn_ready(&f.hub, "alice", "").await;
    {
        let state = f.hub.read();
        let slot = &state.user("alice").unwrap().servers[""];
        assert!(slot.ready());
        assert!(state.ready_users.contains(&slot.server.user_id));
    }
    let routes = f.proxy.targets();
    let target = routes.get("/user/alice/").expect("route added");
    assert!(target.starts_with("http://127.0.0.1:"));
    assert!(f.hub.oauth_client("jupyterhub-user-alice").is_some(), "server OAuth client registered");

    let mut ticket = f.hub.stop("alice", "", false, StopReason::Requested).await.unwrap();
    assert_eq!(ticket.wait(Duration::from_secs(10)).await, Some(Ok(())));
    assert!(!f.proxy.targets().contains_key("/user/alice/"));
    assert!(f.hub.oauth_client("jupyterhub-user-alice").is_none(), "client revoked at stop");
    assert!(!f.spawner.is_running("alice", ""));
    {
        let state = f.hub.read();
        let slot = &state.user("alice").unwrap().servers[""];
        assert!(!slot.active());
        assert!(slot.server.url.is_none() && slot.server.started.is_none());
    }
    let events = f.store.events_between(Timestamp::MIN, Timestamp::MAX, 100, None).await.unwrap();
    let kinds: Vec<ServerEventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            ServerEventKind::SpawnRequested,
            ServerEventKind::Started,
            ServerEventKind::Ready,
            ServerEventKind::StopRequested,
            ServerEventKind::Stopped
        ]
    );
}

#[tokio::test]
async fn refusals_and_failures() {
    let f = fixture(settings()).await;
    f.hub.create_user("bob", false).await.unwrap();
    let err = f
        .hub
        .spawn(SpawnCommand {
            user: "bob".into(),
            server: "".into(),
            user_options: Some(json!({"invalid": 1})),
            display_name: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::Invalid(ref m) if m.contains("invalid")), "{err:?}");
    let err = f
        .hub
        .spawn(SpawnCommand { user: "bob".into(), server: "Bad Name".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::Invalid(_)));
    let err = f.hub.spawn(SpawnCommand { user: "nobody".into(), ..Default::default() }).await.unwrap_err();
    assert!(matches!(err, HubError::NotFound(_)));

    *f.spawner.fail_with.lock().unwrap() = Some("image not found".into());
    let mut ticket = f.hub.spawn(SpawnCommand { user: "bob".into(), ..Default::default() }).await.unwrap();
    match ticket.wait(Duration::from_secs(10)).await {
        Some(SpawnOutcome::Failed { message }) => assert_eq!(message, "Spawn failed: image not found (step: starting)"),
        other => panic!("expected failure, got {other:?}"),
    }
    assert!(!f.proxy.targets().contains_key("/user/bob/"));
    assert!(f.hub.oauth_client("jupyterhub-user-bob").is_none());
    let state = f.hub.read();
    let slot = &state.user("bob").unwrap().servers[""];
    assert!(!slot.active());
    assert_eq!(slot.last_failure.as_ref().unwrap().message, "image not found");
}

#[tokio::test]
async fn concurrent_spawn_limit_throttles_like_jupyterhub() {
    let mut s = settings();
    s.concurrent_spawn_limit = 1;
    // JhubSpawnQueue.enabled: false — JupyterHub's plain 429.
    s.spawn_queue_enabled = false;
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let spawner = Arc::new(FakeSpawner::serving_after(Duration::from_millis(500)));
    let f = fixture_with(s, store, spawner, Arc::new(MemoryProxy::default()), start_clock()).await;
    f.hub.create_users(&["a".into(), "b".into()], false).await.unwrap();
    let mut first = f.hub.spawn(SpawnCommand { user: "a".into(), ..Default::default() }).await.unwrap();
    let err = f.hub.spawn(SpawnCommand { user: "b".into(), ..Default::default() }).await.unwrap_err();
    match err {
        HubError::Throttled { message, retry_after: Some(secs) } => {
            assert!((30..=60).contains(&secs), "{secs}");
            assert!(message.starts_with("Too many users trying to log in right now. Try again in "), "{message}");
        }
        other => panic!("expected throttle, got {other:?}"),
    }
    // A second request for the same pending server joins it.
    let again = f.hub.spawn(SpawnCommand { user: "a".into(), ..Default::default() }).await.unwrap();
    assert!(again.already_pending);
    assert!(matches!(first.wait(Duration::from_secs(10)).await, Some(SpawnOutcome::Ready { .. })));
}

#[tokio::test]
async fn restarted_hub_adopts_running_servers_and_restores_routes() {
    crypto();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/hub.sqlite", dir.path().display());
    let spawner = Arc::new(FakeSpawner::serving());
    let proxy = Arc::new(MemoryProxy::default());
    let clock = start_clock();
    let first =
        fixture_with(settings(), Store::connect(&url).await.unwrap(), spawner.clone(), proxy.clone(), clock.clone())
            .await;
    first.hub.create_user("carol", false).await.unwrap();
    spawn_ready(&first.hub, "carol", "").await;
    first.hub.shutdown(Duration::from_secs(5)).await;
    drop(first);
    proxy.restart();

    let second =
        fixture_with(settings(), Store::connect(&url).await.unwrap(), spawner.clone(), proxy.clone(), clock).await;
    assert!(second.hub.read().user("carol").unwrap().servers[""].ready(), "server re-adopted");
    // Routes come back without anyone asking.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !proxy.targets().contains_key("/user/carol/") {
        assert!(std::time::Instant::now() < deadline, "route not restored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And again after a proxy restart, within the probe interval.
    proxy.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !proxy.targets().contains_key("/user/carol/") {
        assert!(std::time::Instant::now() < deadline, "route not restored after proxy restart");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(proxy.targets().contains_key("/"), "hub route restored");
    // A server whose pod died is noticed by polling and cleaned up.
    spawner.kill("carol", "");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while second.hub.read().user("carol").unwrap().servers[""].active() {
        assert!(std::time::Instant::now() < deadline, "vanished server not noticed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!proxy.targets().contains_key("/user/carol/"));
}

#[tokio::test]
async fn culler_stops_idle_and_old_servers_only() {
    let mut s = settings();
    s.cull = Some(CullPolicy {
        timeout: Duration::from_secs(600),
        every: Duration::from_secs(3600),
        max_age: Duration::from_secs(7200),
        cull_users: true,
        ..Default::default()
    });
    let f = fixture(s).await;
    f.hub.create_users(&["idle".into(), "busy".into(), "old".into(), "nobody".into()], false).await.unwrap();
    spawn_ready(&f.hub, "idle", "").await;
    spawn_ready(&f.hub, "old", "").await;
    f.clock.advance(Duration::from_secs(6800));
    spawn_ready(&f.hub, "busy", "").await;
    f.clock.advance(Duration::from_secs(400));
    // busy: started 400 s ago, active now via the proxy's last_activity;
    // old: active now but started 7200 s ago; idle: last activity 7200 s ago.
    let now = jhub_core::time::isoformat(f.clock.now());
    f.proxy.touch("/user/busy/", &now);
    f.proxy.touch("/user/old/", &now);
    let report = f.hub.cull_once().await;
    let mut stopped: Vec<(String, String)> =
        report.stopped.iter().map(|c| (c.user.clone(), c.reason.label().to_string())).collect();
    stopped.sort();
    assert_eq!(stopped, vec![("idle".into(), "idle".into()), ("old".into(), "max_age".into())]);
    assert!(f.hub.read().user("busy").unwrap().servers[""].ready());
    // Users with no server left and idle long enough are deleted (cull.users).
    let deleted: Vec<String> = report.deleted_users.iter().map(|(u, _)| u.clone()).collect();
    assert!(deleted.contains(&"nobody".to_string()), "{deleted:?}");
    assert!(!deleted.contains(&"busy".to_string()));
    let events = f.store.events_between(Timestamp::MIN, Timestamp::MAX, 100, None).await.unwrap();
    let culled: Vec<String> = events
        .iter()
        .filter(|e| e.kind == ServerEventKind::Culled)
        .map(|e| format!("{} {}", e.user_name, e.detail["reason"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(culled.len(), 2, "{culled:?}");
    assert!(culled.iter().any(|c| c.starts_with("idle inactive for 02:00:00")), "{culled:?}");
    assert!(culled.iter().any(|c| c.starts_with("old age 02:00:00")), "{culled:?}");
    // Metrics by reason, and the last sweep's duration.
    let metrics = f.hub.metrics().encode();
    assert!(metrics.contains("jhub_culled_servers_total{reason=\"idle\"} 1"), "{metrics}");
    assert!(metrics.contains("jhub_culled_servers_total{reason=\"max_age\"} 1"), "{metrics}");
    assert!(metrics.contains("jhub_culled_users_total{reason=\"idle\"}"), "{metrics}");
    assert!(metrics.contains("jhub_cull_sweep_duration_seconds"), "{metrics}");
}

/// `hub.consecutiveFailureLimit`: that many failed spawns in a row stop the
/// hub (JupyterHub exits so Kubernetes restarts it); a success in between
/// starts the count again.
#[tokio::test]
async fn consecutive_spawn_failures_stop_the_hub_at_the_limit() {
    let mut s = settings();
    s.consecutive_failure_limit = 2;
    let f = fixture(s).await;
    f.hub.create_users(&["a".into(), "b".into(), "c".into()], false).await.unwrap();
    let fail = |user: &'static str| {
        let hub = f.hub.clone();
        async move {
            let command =
                SpawnCommand { user: user.into(), server: String::new(), user_options: None, display_name: None };
            let mut ticket = hub.spawn(command).await.unwrap();
            match ticket.wait(Duration::from_secs(10)).await {
                Some(SpawnOutcome::Failed { .. }) => {}
                other => panic!("spawn of {user} should fail: {other:?}"),
            }
        }
    };
    *f.spawner.fail_with.lock().unwrap() = Some("no capacity".into());
    fail("a").await;
    assert!(!f.hub.shutdown_token().is_cancelled(), "one failure is below the limit");
    *f.spawner.fail_with.lock().unwrap() = None;
    spawn_ready(&f.hub, "b", "").await;
    *f.spawner.fail_with.lock().unwrap() = Some("no capacity".into());
    fail("a").await;
    assert!(!f.hub.shutdown_token().is_cancelled(), "the success reset the count");
    fail("c").await;
    let stopped = tokio::time::timeout(Duration::from_secs(5), f.hub.shutdown_token().cancelled()).await;
    assert!(stopped.is_ok(), "two failures in a row stop the hub");
}

/// `cull.concurrency`: a sweep stops at most that many servers at once.
#[tokio::test]
async fn cull_concurrency_bounds_the_stops_in_flight() {
    for (concurrency, expected) in [(2, 2), (10, 5)] {
        let mut s = settings();
        s.cull = Some(CullPolicy {
            timeout: Duration::from_secs(600),
            every: Duration::from_secs(3600),
            concurrency,
            ..Default::default()
        });
        let spawner = Arc::new(FakeSpawner::serving().with_stop_delay(Duration::from_millis(300)));
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let f = fixture_with(s, store, spawner, Arc::new(MemoryProxy::default()), start_clock()).await;
        let users: Vec<String> = (0..5).map(|i| format!("u{i}")).collect();
        f.hub.create_users(&users, false).await.unwrap();
        for user in &users {
            spawn_ready(&f.hub, user, "").await;
        }
        f.clock.advance(Duration::from_secs(1200));
        let report = f.hub.cull_once().await;
        assert_eq!(report.stopped.len(), 5, "{report:?}");
        let most = f.spawner.most_stops_in_flight.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(most, expected, "concurrency {concurrency}");
    }
}

/// The culler sees the profile the spawner resolved (here: the default one,
/// since the user chose none), not only what the user sent: in its report,
/// its log line, the `culled` event, and the usage that follows.
#[tokio::test]
async fn culler_and_usage_see_the_resolved_profile() {
    let mut s = settings();
    s.cull =
        Some(CullPolicy { timeout: Duration::from_secs(600), every: Duration::from_secs(3600), ..Default::default() });
    let f = fixture(s).await;
    *f.spawner.resources.lock().unwrap() = json!({"profile": "gpu-a100", "groups": ["lab/gpu"]});
    f.hub.create_users(&["ann".into()], false).await.unwrap();
    let began = f.clock.now();
    spawn_ready(&f.hub, "ann", "").await;
    f.clock.advance(Duration::from_secs(1200));
    let report = f.hub.cull_once().await;
    assert_eq!(report.stopped.len(), 1, "{report:?}");
    assert_eq!(report.stopped[0].profile.as_deref(), Some("gpu-a100"));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while f.hub.read().user("ann").unwrap().servers[""].active() {
        assert!(std::time::Instant::now() < deadline, "not stopped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let events = f.store.events_between(Timestamp::MIN, Timestamp::MAX, 100, None).await.unwrap();
    let profile_of = |kind: ServerEventKind| {
        let event = events.iter().find(|e| e.kind == kind).unwrap_or_else(|| panic!("no {kind:?} event: {events:?}"));
        event.detail["profile"].as_str().map(str::to_string)
    };
    assert_eq!(profile_of(ServerEventKind::Culled).as_deref(), Some("gpu-a100"));
    assert_eq!(profile_of(ServerEventKind::Stopped).as_deref(), Some("gpu-a100"));
    let rows = f.hub.usage_report(began, f.clock.now(), jhub_core::usage::GroupBy::Profile);
    let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["gpu-a100"], "{rows:?}");
}

#[tokio::test]
async fn tokens_authenticate_and_revoke() {
    let f = fixture(settings()).await;
    f.hub.create_user("dave", false).await.unwrap();
    let issued =
        f.hub.create_token("dave", TokenRequest { note: Some("script".into()), ..Default::default() }).await.unwrap();
    let identity = f.hub.authenticate_token(&issued.secret).await.expect("token works");
    assert_eq!(identity.principal.name(), "dave");
    let scopes = identity.scopes.to_strings();
    assert!(scopes.contains(&"read:users!user=dave".to_string()), "{scopes:?}");
    assert!(f.hub.authenticate_token("0000000000000000000000000000000x").await.is_none());
    // Asking for more than the owner holds is refused with JupyterHub's message.
    let err = f
        .hub
        .create_token("dave", TokenRequest { scopes: Some(vec!["admin:users".into()]), ..Default::default() })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Not assigning requested scopes"), "{err}");
    f.hub.delete_token("dave", issued.token.id).await.unwrap();
    assert!(f.hub.authenticate_token(&issued.secret).await.is_none(), "revocation is immediate");
}

#[tokio::test]
async fn oauth_code_exchange_with_pkce() {
    let f = fixture(settings()).await;
    f.hub.create_user("erin", false).await.unwrap();
    spawn_ready(&f.hub, "erin", "").await;
    // The server's API token is its OAuth client secret.
    let secret = f.spawner.api_token("erin", "").unwrap();
    let verifier = "x".repeat(43);
    let challenge = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
    };
    let code = f
        .hub
        .issue_oauth_code(
            "jupyterhub-user-erin",
            "erin",
            vec!["access:servers!server=erin/".into()],
            "/user/erin/oauth_callback",
            Some("sess".into()),
            Some(challenge.clone()),
            Some("S256".into()),
        )
        .await
        .unwrap();
    let cb = "/user/erin/oauth_callback";
    let err = f.hub.exchange_oauth_code(&code, "jupyterhub-user-erin", "wrong", cb, Some(&verifier)).await;
    assert_eq!(err.unwrap_err(), OAuthError::InvalidClient);
    let err = f.hub.exchange_oauth_code(&code, "jupyterhub-user-erin", &secret, cb, None).await;
    assert_eq!(err.unwrap_err(), OAuthError::InvalidRequest("Code verifier required.".into()));
    // That attempt used the code up: codes are single use even on failure.
    let err = f.hub.exchange_oauth_code(&code, "jupyterhub-user-erin", &secret, cb, Some(&verifier)).await;
    assert_eq!(err.unwrap_err(), OAuthError::InvalidGrant);

    let issue = |challenge: Option<String>| {
        let hub = f.hub.clone();
        async move {
            hub.issue_oauth_code(
                "jupyterhub-user-erin",
                "erin",
                vec!["access:servers!server=erin/".into()],
                cb,
                Some("sess".into()),
                challenge,
                Some("S256".into()),
            )
            .await
            .unwrap()
        }
    };
    let code = issue(Some(challenge.clone())).await;
    let err = f.hub.exchange_oauth_code(&code, "jupyterhub-user-erin", &secret, cb, Some("wrong-verifier")).await;
    assert_eq!(err.unwrap_err(), OAuthError::InvalidGrant);
    let code = issue(Some(challenge)).await;
    let access = f.hub.exchange_oauth_code(&code, "jupyterhub-user-erin", &secret, cb, Some(&verifier)).await.unwrap();
    assert_eq!(access.access_token.len(), 30);
    assert_eq!(access.expires_in, 14 * 86_400);
    let identity = f.hub.authenticate_token(&access.access_token).await.unwrap();
    assert_eq!(
        identity.scopes.to_strings(),
        vec!["access:servers!server=erin/", "read:users:groups!user=erin", "read:users:name!user=erin"]
    );
    // Without PKCE (4.x/5.x single-user servers) codes work too.
    let code = issue(None).await;
    assert!(f.hub.exchange_oauth_code(&code, "jupyterhub-user-erin", &secret, cb, None).await.is_ok());
    // Another user presenting the session id revokes nothing; erin's own
    // logout of the browser session revokes its tokens.
    f.hub.create_user("mallory", false).await.unwrap();
    assert_eq!(f.hub.end_session("mallory", "sess").await.unwrap(), 0);
    assert!(f.hub.authenticate_token(&access.access_token).await.is_some());
    f.hub.end_session("erin", "sess").await.unwrap();
    assert!(f.hub.authenticate_token(&access.access_token).await.is_none());
    // Stopping the server revokes the client and whatever it issued.
    let code = issue(None).await;
    let access = f.hub.exchange_oauth_code(&code, "jupyterhub-user-erin", &secret, cb, None).await.unwrap();
    let mut ticket = f.hub.stop("erin", "", false, StopReason::Requested).await.unwrap();
    ticket.wait(Duration::from_secs(10)).await;
    assert!(f.hub.authenticate_token(&access.access_token).await.is_none());
    assert!(f.hub.authenticate_token(&secret).await.is_none(), "server token revoked");
}

#[tokio::test]
async fn restart_with_an_unreachable_cluster_keeps_servers() {
    crypto();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/hub.sqlite", dir.path().display());
    let spawner = Arc::new(FakeSpawner::serving());
    let proxy = Arc::new(MemoryProxy::default());
    let first =
        fixture_with(settings(), Store::connect(&url).await.unwrap(), spawner.clone(), proxy.clone(), start_clock())
            .await;
    first.hub.create_user("frank", false).await.unwrap();
    spawn_ready(&first.hub, "frank", "").await;
    first.hub.shutdown(Duration::from_secs(5)).await;
    drop(first);
    *spawner.poll_error.lock().unwrap() = Some("connection refused".into());
    let mut s = settings();
    s.poll_interval = Duration::from_secs(3600);
    let second = fixture_with(s, Store::connect(&url).await.unwrap(), spawner.clone(), proxy, start_clock()).await;
    let slot = second.hub.read().user("frank").unwrap().servers[""].clone();
    assert!(slot.ready(), "not cleared just because the cluster could not be asked");
    assert!(slot.server.url.is_some());
}

/// A sweep with nothing to cull reads the proxy's routes once and asks the
/// spawner nothing (the decision is made on the in-memory state).
#[tokio::test]
async fn a_quiet_sweep_makes_one_proxy_read_and_no_spawner_calls() {
    let mut s = settings();
    s.cull =
        Some(CullPolicy { timeout: Duration::from_secs(600), every: Duration::from_secs(3600), ..Default::default() });
    s.poll_interval = Duration::from_secs(3600);
    s.proxy_probe_interval = Duration::ZERO;
    s.proxy_check_interval = Duration::from_secs(3600);
    let f = fixture(s).await;
    let names: Vec<String> = (0..20).map(|i| format!("u{i}")).collect();
    f.hub.create_users(&names, false).await.unwrap();
    for name in &names {
        spawn_ready(&f.hub, name, "").await;
    }
    f.clock.advance(Duration::from_secs(60));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let polls = f.spawner.polls.load(std::sync::atomic::Ordering::Relaxed);
    let (starts, stops) = (
        f.spawner.starts.load(std::sync::atomic::Ordering::Relaxed),
        f.spawner.stops.load(std::sync::atomic::Ordering::Relaxed),
    );
    let proxy_calls = f.proxy.calls.load(std::sync::atomic::Ordering::Relaxed);
    let report = f.hub.cull_once().await;
    assert!(report.stopped.is_empty() && report.deleted_users.is_empty());
    assert_eq!(f.proxy.calls.load(std::sync::atomic::Ordering::Relaxed) - proxy_calls, 1, "one routes read");
    assert_eq!(f.spawner.polls.load(std::sync::atomic::Ordering::Relaxed), polls);
    assert_eq!(f.spawner.starts.load(std::sync::atomic::Ordering::Relaxed), starts);
    assert_eq!(f.spawner.stops.load(std::sync::atomic::Ordering::Relaxed), stops);
}

/// `JupyterHub.load_groups` creates groups (names may be GitLab full paths)
/// with their members and properties at start, and only adds members: a
/// restart with a shorter list keeps who joined. Roles naming a group that
/// does not exist yet create it, as JupyterHub does.
#[tokio::test]
async fn load_groups_and_role_groups_exist_from_the_start() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let mut s = settings();
    s.load_groups = vec![
        jhub_hub::GroupSpec { name: "lab/gpu".into(), users: vec!["ann".into(), "bob".into()], properties: None },
        jhub_hub::GroupSpec { name: "lab".into(), users: vec![], properties: Some(json!({"quota": 2})) },
    ];
    s.roles.push(jhub_hub::RoleSpec {
        name: "gpu-readers".into(),
        description: None,
        scopes: vec!["read:users:name".into()],
        users: vec![],
        groups: vec!["lab/ml".into()],
        services: vec![],
    });
    let f = fixture_with(
        s.clone(),
        store.clone(),
        Arc::new(FakeSpawner::serving()),
        Arc::new(MemoryProxy::default()),
        start_clock(),
    )
    .await;
    {
        let state = f.hub.read();
        assert_eq!(state.group_names_of(state.user("ann").unwrap()), ["lab/gpu"]);
        assert_eq!(state.group("lab").unwrap().group.properties, json!({"quota": 2}));
        assert!(state.group("lab/ml").is_some(), "the role's group is created");
    }
    // A user synced into the role's group gets the role (manage_groups path).
    assert!(f.hub.sync_user_groups("ann", &["lab/ml".to_string()]).await.unwrap());
    {
        let state = f.hub.read();
        let ann = state.user("ann").unwrap();
        assert_eq!(state.group_names_of(ann), ["lab/ml"], "sync makes the groups exactly the list");
        assert_eq!(state.effective_role_names(ann), ["gpu-readers"]);
    }
    assert!(!f.hub.sync_user_groups("ann", &["lab/ml".to_string()]).await.unwrap(), "nothing to change");
}

/// `Authenticator.delete_invalid_users`: users failing the authenticator's
/// username validation are deleted at start when set, else only reported.
#[tokio::test]
async fn invalid_users_are_deleted_only_when_configured() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let mut s = settings();
    s.initial_users = vec!["ann".into(), "x-robot".into()];
    let f =
        fixture_with(s, store, Arc::new(FakeSpawner::serving()), Arc::new(MemoryProxy::default()), start_clock()).await;
    let valid = |name: &str| !name.starts_with("x-");
    assert_eq!(f.hub.check_invalid_users(&valid, false).await, ["x-robot"]);
    assert!(f.hub.read().user("x-robot").is_some(), "reported, kept");
    assert_eq!(f.hub.check_invalid_users(&valid, true).await, ["x-robot"]);
    assert!(f.hub.read().user("x-robot").is_none(), "deleted");
    assert!(f.hub.read().user("ann").is_some());
}
