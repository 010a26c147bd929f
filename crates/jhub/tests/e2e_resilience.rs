//! Restarts under running servers, with the real pieces: configurable-http-proxy killed and
//! started again (its routes live only in memory; jhub must notice and restore every route
//! within 5 s), and jhub stopped with SIGTERM and started again on the same database (with CHP
//! restarted meanwhile, so only the startup reconciliation can restore the routes), while users'
//! `jupyterhub-singleuser` servers run and browser sessions (cookie jars) use them through CHP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e;

use std::time::{Duration, Instant};

use e2e::{Browser, GPU_PROFILE, Stack, StackConfig, gpu_a100, tool};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The budget: a restarted CHP is noticed and every route restored within 5 s.
const ROUTE_RESTORE_BUDGET: Duration = Duration::from_secs(5);

/// Logs `user` in, signs in to the server at `prefix` and writes `file` there.
async fn use_server(stack: &Stack, browser: &Browser, prefix: &str, file: &str) {
    browser.server_login(prefix).await;
    let (status, body) = browser
        .server_api(
            Method::PUT,
            prefix,
            &format!("contents/{file}"),
            Some(json!({"type": "file", "format": "text", "content": file})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "[{}] PUT {prefix}api/contents/{file}: {body}", stack.name);
}

async fn file_served(browser: &Browser, prefix: &str, file: &str) -> bool {
    let (status, body) = browser.server_api(Method::GET, prefix, &format!("contents/{file}?content=1"), None).await;
    status == StatusCode::OK && body.get("content").and_then(Value::as_str) == Some(file)
}

fn marked(routes: &Value, path: &str) -> bool {
    routes.get(path).and_then(|r| r.get("jupyterhub")) == Some(&json!(true))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chp_restart_restores_every_route_within_5s() {
    let Some(_) = tool("JHUB_CHP") else { return };
    let Some(singleuser) = tool("JHUB_SINGLEUSER") else { return };
    // Named servers on, and a short periodic reconciliation so stale routes go quickly.
    let values = "hub:\n  allowNamedServers: true\n  config:\n    JupyterHub:\n      last_activity_interval: 2\n";
    let mut stack = Stack::start(StackConfig::new("chp-restart", &singleuser).values(values)).await;
    let api = stack.api();

    // alice: default server (GPU A100) and a named server; bob: default server.
    let alice = stack.browser();
    alice.login("alice", "/hub/home").await;
    // A second browser of alice's for the named server: two single-user servers on nested paths
    // (/user/alice/ and /user/alice/gpu1/) each set their own `_xsrf` cookie, and which one a
    // server compares is up to cookie order (jupyter_server's behaviour, not the hub's).
    let alice2 = stack.browser();
    alice2.login("alice", "/hub/home").await;
    let bob = stack.browser();
    bob.login("bob", "/hub/home").await;
    // The seed cluster has two A100s (l1) and two P100s (l2): one of each plus a CPU server.
    let p100 = json!({"profile": GPU_PROFILE, "image": "P100x1"});
    let cpu_l2 = json!({"profile": e2e::CPU_PROFILE, "image": "lab9"});
    for (user, server, options) in [("alice", "", gpu_a100()), ("alice", "gpu1", p100), ("bob", "", cpu_l2)] {
        let (status, body) = api.spawn(user, server, options).await;
        assert!(status.is_success(), "spawn {user}/{server}: {status} {body}");
    }
    for (user, server) in [("alice", ""), ("alice", "gpu1"), ("bob", "")] {
        api.wait_ready(user, server).await;
    }
    use_server(&stack, &alice, "/user/alice/", "a.txt").await;
    use_server(&stack, &alice2, "/user/alice/gpu1/", "g.txt").await;
    use_server(&stack, &bob, "/user/bob/", "b.txt").await;

    // Reconciliation keeps routes without the `jupyterhub` marker and deletes stale marked ones.
    let chp_api = format!("http://127.0.0.1:{}/api/routes", stack.proxy_api_port);
    let client = e2e::plain_client();
    for (path, marker) in [("/user/ghost", true), ("/other-app", false)] {
        let mut body = json!({"target": "http://127.0.0.1:9"});
        if marker {
            body["jupyterhub"] = json!(true);
            body["user"] = json!("ghost");
            body["server_name"] = json!("");
        }
        let r = client
            .post(format!("{chp_api}{path}"))
            .header("Authorization", format!("token {}", stack.proxy_token))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let cleaned = e2e::wait_until("the stale marked route to be deleted", Duration::from_secs(10), || async {
        stack.chp_routes().await.is_some_and(|r| r.get("/user/ghost").is_none())
    })
    .await;
    assert!(cleaned, "periodic reconciliation left a stale jupyterhub route: {:#}", stack.chp_routes().await.unwrap());
    let routes = stack.chp_routes().await.unwrap();
    assert!(routes.get("/other-app").is_some(), "a route without the jupyterhub marker was deleted: {routes:#}");
    for path in ["/", "/user/alice", "/user/alice/gpu1", "/user/bob"] {
        assert!(marked(&routes, path), "{path} missing or unmarked before the restart: {routes:#}");
    }
    assert_eq!(routes["/user/alice/gpu1"]["server_name"], "gpu1");

    // CHP dies (SIGKILL) and comes back empty on the same ports.
    stack.kill_chp().await;
    stack.start_chp().await;
    let started = Instant::now();
    let fresh = stack.chp_routes().await.unwrap_or(Value::Null);
    assert!(fresh.get("/user/alice").is_none(), "a restarted CHP should start empty (default route only): {fresh:#}");
    let mut routes_back = None;
    loop {
        let routes = stack.chp_routes().await.unwrap_or(Value::Null);
        if routes_back.is_none()
            && ["/", "/user/alice", "/user/alice/gpu1", "/user/bob"].iter().all(|p| marked(&routes, p))
        {
            routes_back = Some(started.elapsed());
        }
        if routes_back.is_some()
            && file_served(&alice, "/user/alice/", "a.txt").await
            && file_served(&alice2, "/user/alice/gpu1/", "g.txt").await
            && file_served(&bob, "/user/bob/", "b.txt").await
        {
            break;
        }
        if started.elapsed() > ROUTE_RESTORE_BUDGET {
            stack.fail(&format!(
                "not restored within 5 s of the CHP restart (routes back: {routes_back:?}): {routes:#}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let served_again = started.elapsed();
    eprintln!(
        "CHP restart: routes back after {routes_back:?}, every server serving its browser after {served_again:?}"
    );
    assert!(served_again <= ROUTE_RESTORE_BUDGET);

    // Restored once, not re-POSTed on every probe (a POST resets CHP's last_activity).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = std::fs::read_to_string(stack.dir().join("logs/chp-2.log")).unwrap();
    for path in ["/user/alice ", "/user/alice/gpu1 ", "/user/bob "] {
        let adds = log.lines().filter(|l| l.contains(&format!("Adding route {path}"))).count();
        assert_eq!(adds, 1, "route {path} was added {adds} times after the restart:\n{log}");
    }
    stack.shutdown().await;
}

/// The seed config as it is (auth_state off: the GitLab token lives only in the hub's memory).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_restart_keeps_servers_and_browser_sessions() {
    hub_restart("hub-restart", None).await;
}

/// With `enable_auth_state` and a crypt key, the GitLab token is in the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_restart_keeps_sessions_with_auth_state() {
    let values = "hub:\n  config:\n    Authenticator:\n      enable_auth_state: true\n    CryptKeeper:\n      keys:\n\
                  \x20       - 0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0\n";
    hub_restart("hub-restart-auth-state", Some(values)).await;
}

async fn hub_restart(name: &str, values: Option<&str>) {
    let Some(_) = tool("JHUB_CHP") else { return };
    let Some(singleuser) = tool("JHUB_SINGLEUSER") else { return };
    let mut config = StackConfig::new(name, &singleuser);
    if let Some(v) = values {
        config = config.values(v);
    }
    let mut stack = Stack::start(config).await;
    let api = stack.api();

    let browser = stack.browser();
    browser.login("alice", "/hub/home").await;
    let posted = browser.spawn_form("/hub/spawn", GPU_PROFILE, Some(("image", "A100x1"))).await;
    assert_eq!(posted.status(), StatusCode::FOUND);
    let before = api.wait_ready("alice", "").await;
    use_server(&stack, &browser, "/user/alice/", "before-restart.txt").await;
    let pod_uid = stack.pod("alice").and_then(|p| p.pointer("/metadata/uid").cloned()).expect("pod uid");

    // SIGTERM: jhub exits cleanly and leaves the servers running, as on Kubernetes.
    stack.stop_jhub().await;
    assert_eq!(stack.pod("alice").and_then(|p| p.pointer("/metadata/uid").cloned()), Some(pod_uid.clone()));
    assert!(
        file_served(&browser, "/user/alice/", "before-restart.txt").await,
        "the server stopped serving while jhub was down"
    );

    // CHP also restarts while the hub is down: only the hub's startup reconciliation can
    // bring the user's route back.
    stack.kill_chp().await;
    stack.start_chp().await;
    assert!(stack.chp_routes().await.unwrap().get("/user/alice").is_none());

    let restarted = Instant::now();
    stack.start_jhub().await;
    eprintln!("jhub restarted in {:?}", restarted.elapsed());
    let routed = e2e::wait_until("startup reconciliation to restore alice's route", Duration::from_secs(5), || async {
        stack.chp_routes().await.is_some_and(|r| marked(&r, "/user/alice") && marked(&r, "/"))
    })
    .await;
    assert!(routed, "jhub's startup did not restore the routes: {:#}", stack.chp_routes().await.unwrap());

    // Nothing lost: the same server, ready, same start time and options, same pod.
    let after = api.server("alice", "").await.expect("alice's server after the restart");
    assert_eq!(after["ready"], true, "{after:#}");
    for key in ["started", "user_options", "url", "name"] {
        assert_eq!(after[key], before[key], "{key} changed across the restart");
    }
    assert_eq!(after["user_options"], gpu_a100());
    assert_eq!(
        stack.pod("alice").and_then(|p| p.pointer("/metadata/uid").cloned()),
        Some(pod_uid),
        "the pod was replaced"
    );
    let routes = stack.chp_routes().await.unwrap();
    assert!(marked(&routes, "/user/alice"), "{routes:#}");

    // The browser's server session still works, and so does its hub session: the hub's front
    // door sends it straight back to its running server, no new login.
    assert!(file_served(&browser, "/user/alice/", "before-restart.txt").await, "the server session broke");
    // (If this fails with a trip to /hub/login, the jhub log says why: e.g. "auth refresh needs
    // a new login" when the authenticator cannot re-check a session whose GitLab token was kept
    // only in the previous process's memory.)
    let home = browser.visit("/hub/home").await;
    assert_eq!(home.status, StatusCode::OK, "the hub session did not survive the restart: {:#?}", home.trail());
    assert!(home.passed("/hub/login").is_none(), "sent to log in again after a hub restart: {:#?}", home.trail());
    let front = browser.visit("/").await;
    assert!(front.passed("/hub/login").is_none(), "sent to log in again after a hub restart: {:#?}", front.trail());
    assert!(
        front.url.contains("/user/alice/"),
        "the front door did not lead back to the running server: {:#?}",
        front.trail()
    );
    assert_eq!(front.status, StatusCode::OK, "{:#?}", front.trail());

    // The restarted hub still controls the server: it can stop it.
    api.stop("alice", "").await;
    assert!(stack.pod("alice").is_none());
    stack.shutdown().await;
}
