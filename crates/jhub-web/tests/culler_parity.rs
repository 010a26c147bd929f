//! Parity of the internal culler with jupyterhub-idle-culler 2.0.0: one
//! scenario (users, servers, activity timestamps) is built twice; once the
//! real culler, run as an external API client with internal culling off,
//! acts on it, once the internal culler does. Both must stop the same
//! servers, remove the same named servers and delete the same users — and
//! that set is also asserted, so agreeing on "nothing" cannot pass.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use jhub_core::cull::CullPolicy;
use jhub_hub::{RoleSpec, ServiceSpec};
use reqwest::Method;
use serde_json::json;
use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const TIMEOUT: u64 = 3600;
const MAX_AGE: u64 = 9000;
const CULLER_TOKEN: &str = "parity-culler-token-0123456789";

/// user → None (deleted) or Some(server name → active?) for servers that exist.
type Outcome = BTreeMap<String, Option<BTreeMap<String, bool>>>;

const USERS: [&str; 7] = ["ancient", "idle", "gone", "adminidle", "mixed", "active", "admin"];

fn outcome(hub: &common::TestHub) -> Outcome {
    let state = hub.hub.read();
    USERS
        .iter()
        .map(|name| {
            let servers = state
                .user(name)
                .map(|entry| entry.servers.values().map(|s| (s.server.name.clone(), s.active())).collect());
            (name.to_string(), servers)
        })
        .collect()
}

async fn report_activity(hub: &common::TestHub, user: &str, server: &str) {
    let now = jhub_core::time::isoformat(hub.hub.now());
    let body = json!({"last_activity": now, "servers": {server: {"last_activity": now}}});
    let (status, _, _) = hub.call(Method::POST, &format!("/users/{user}/activity"), &hub.admin_token, Some(body)).await;
    assert_eq!(status, 200);
}

async fn admin_ok(hub: &common::TestHub, method: Method, path: &str, body: Option<serde_json::Value>) {
    let (status, value) = hub.admin(method, path, body).await;
    assert!((200..300).contains(&status), "{path}: {status} {value}");
}

/// The scenario, on a hub whose clock can be moved into the past.
async fn build(hub: &common::TestHub, clock: &common::OffsetClock) {
    // 3 h ago: a user whose server stays active (only the max age culls it).
    clock.set_behind(Duration::from_secs(3 * 3600));
    admin_ok(hub, Method::POST, "/users/ancient", None).await;
    admin_ok(hub, Method::POST, "/users/ancient/server", None).await;
    // 2 h ago: idle servers, a user without servers, an admin, a named server.
    clock.set_behind(Duration::from_secs(2 * 3600));
    for user in ["idle", "gone", "mixed"] {
        admin_ok(hub, Method::POST, &format!("/users/{user}"), None).await;
    }
    admin_ok(hub, Method::POST, "/users/adminidle", Some(json!({"admin": true}))).await;
    admin_ok(hub, Method::POST, "/users/idle/server", None).await;
    admin_ok(hub, Method::POST, "/users/adminidle/server", None).await;
    admin_ok(hub, Method::POST, "/users/mixed/servers/gpu", None).await;
    // Now: an active server, and the mixed user's default server.
    clock.set_behind(Duration::ZERO);
    admin_ok(hub, Method::POST, "/users/active", None).await;
    admin_ok(hub, Method::POST, "/users/active/server", None).await;
    admin_ok(hub, Method::POST, "/users/mixed/server", None).await;
    for (user, server) in [("ancient", ""), ("active", ""), ("mixed", "")] {
        report_activity(hub, user, server).await;
    }
}

fn expected() -> Outcome {
    let servers = |pairs: &[(&str, bool)]| Some(pairs.iter().map(|(n, a)| (n.to_string(), *a)).collect());
    BTreeMap::from([
        // Culled by max age, then deleted by max age (users' max age ignores activity).
        ("ancient".to_string(), None),
        // Idle server culled; the user, idle too, deleted in the same pass.
        ("idle".to_string(), None),
        ("gone".to_string(), None),
        // Admin: server culled, user spared (--cull-admin-users=false).
        ("adminidle".to_string(), servers(&[("", false)])),
        // Idle named server removed; the active default server keeps the user.
        ("mixed".to_string(), servers(&[("", true)])),
        ("active".to_string(), servers(&[("", true)])),
        ("admin".to_string(), Some(BTreeMap::new())),
    ])
}

fn culler_role() -> (ServiceSpec, RoleSpec) {
    let service = ServiceSpec {
        name: "jupyterhub-idle-culler".into(),
        admin: false,
        url: None,
        api_token: Some(CULLER_TOKEN.into()),
        display: false,
        oauth_no_confirm: false,
        oauth_redirect_uri: None,
        info: json!({}),
    };
    let role = RoleSpec {
        name: "jupyterhub-idle-culler".into(),
        description: None,
        scopes: ["list:users", "read:users:activity", "read:servers", "delete:servers", "admin:users"]
            .map(String::from)
            .to_vec(),
        users: vec![],
        groups: vec![],
        services: vec!["jupyterhub-idle-culler".into()],
    };
    (service, role)
}

async fn with_real_culler(python: &str) -> Outcome {
    let clock = Arc::new(common::OffsetClock::default());
    let options = common::Options { clock: Some(clock.clone()), ..Default::default() };
    let hub = common::start_opts(options, |s, _| {
        let (service, role) = culler_role();
        s.services.push(service);
        s.roles.push(role);
        s.cull = None;
    })
    .await;
    build(&hub, &clock).await;
    let mut child = tokio::process::Command::new(python)
        .args(["-m", "jupyterhub_idle_culler"])
        .arg(format!("--url={}", hub.api("")))
        .arg(format!("--timeout={TIMEOUT}"))
        .arg(format!("--max-age={MAX_AGE}"))
        .args(["--cull-every=1", "--cull-users=true", "--cull-admin-users=false", "--remove-named-servers=true"])
        .env("JUPYTERHUB_API_TOKEN", CULLER_TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let log = Arc::new(std::sync::Mutex::new(String::new()));
    if let Some(stderr) = child.stderr.take() {
        let log = log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                log.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
    }
    // Wait until the culler reached the expected state, then let it run a few
    // more rounds to see that it does nothing else.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while outcome(&hub) != expected() && tokio::time::Instant::now() < deadline {
        assert!(child.try_wait().unwrap().is_none(), "the culler exited:\n{}", log.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    child.kill().await.unwrap();
    let text = log.lock().unwrap().clone();
    assert!(!text.contains("Error processing"), "{text}");
    eprintln!("real culler log:\n{text}");
    outcome(&hub)
}

async fn with_internal_culler() -> Outcome {
    let clock = Arc::new(common::OffsetClock::default());
    let options = common::Options { clock: Some(clock.clone()), ..Default::default() };
    let hub = common::start_opts(options, |s, _| {
        s.cull = Some(CullPolicy {
            timeout: Duration::from_secs(TIMEOUT),
            every: Duration::from_secs(24 * 3600),
            max_age: Duration::from_secs(MAX_AGE),
            cull_users: true,
            cull_admin_users: false,
            remove_named_servers: true,
            ..CullPolicy::default()
        });
    })
    .await;
    build(&hub, &clock).await;
    let report = hub.hub.cull_once().await;
    assert!(report.not_stopped.is_empty(), "{report:?}");
    // A second sweep changes nothing (the real culler ran several rounds too).
    let again = hub.hub.cull_once().await;
    assert!(again.stopped.is_empty() && again.deleted_users.is_empty(), "{again:?}");
    outcome(&hub)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_culler_decides_like_jupyterhub_idle_culler() {
    let Some(python) = common::external_tool("JHUB_IDLE_CULLER", "culler") else { return };
    let internal = with_internal_culler().await;
    assert_eq!(internal, expected(), "internal culler");
    let external = with_real_culler(&python).await;
    assert_eq!(external, expected(), "jupyterhub-idle-culler 2.0.0");
    assert_eq!(internal, external);
}
