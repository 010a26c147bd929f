//! The rest of the daily journey with the real pieces: spawn limits (`hub.concurrentSpawnLimit`,
//! `hub.activeServerLimit`: 429, Retry-After, the reason on the spawn page), named servers
//! through the spawn form and CHP (their own OAuth client and route), `/hub/user-redirect`, and
//! activity reports from the stock `jupyterhub-singleuser` reaching the hub.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e;

use std::time::Duration;

use e2e::{CPU_PROFILE, GPU_PROFILE, Stack, StackConfig, gpu_a100, query_params, tool};
use jhub_kube_sim::Delays;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_limits_answer_429_with_the_reason_on_the_spawn_page() {
    let Some(_) = tool("JHUB_CHP") else { return };
    let Some(singleuser) = tool("JHUB_SINGLEUSER5") else { return };
    // One spawn at a time, two servers in all; image pulls slow enough to overlap two spawns.
    // The spawn queue is switched off: this is JupyterHub's plain 429.
    let values = "hub:\n  concurrentSpawnLimit: 1\n  activeServerLimit: 2\n  config:\n    JhubSpawnQueue:\n      enabled: false\n";
    let delays = Delays { pull: Duration::from_millis(2_500), ..Delays::default() };
    let stack = Stack::start(StackConfig::new("limits", &singleuser).delays(delays).values(values)).await;
    let api = stack.api();
    // alice exists once she has logged in (bob, an admin_users entry, exists from the start).
    stack.browser().login("alice", "/hub/home").await;
    let bob = stack.browser();
    bob.login("bob", "/hub/home").await;
    let dave = stack.browser();
    dave.login("dave", "/hub/home").await;

    // alice's spawn is pending (pulling): bob's API spawn and bob's spawn form are refused.
    let (status, body) = api.spawn("alice", "", gpu_a100()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "the first spawn should still be pending: {body}");
    let r = api
        .client
        .post(format!("{}/users/bob/server", api.base))
        .header("Authorization", format!("token {}", api.token))
        .json(&json!({"profile": CPU_PROFILE}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "concurrent spawn limit via the API");
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After on a concurrent-spawn 429");
    assert!((30..=60).contains(&retry), "Retry-After {retry} outside JupyterHub's 30–60 s range");
    let body: Value = r.json().await.unwrap();
    assert!(body["message"].as_str().unwrap_or("").starts_with("Too many users trying to log in right now"), "{body}");

    let form = bob.spawn_form("/hub/spawn", CPU_PROFILE, Some(("image", "lab6"))).await;
    assert_eq!(form.status(), StatusCode::TOO_MANY_REQUESTS, "spawn form under the concurrent limit");
    assert!(form.headers().contains_key("retry-after"), "spawn form 429 without Retry-After");
    let page = form.text().await.unwrap();
    assert!(page.contains("id=\"spawn-error\""), "the spawn page does not show the reason:\n{page}");
    assert!(page.contains("Too many users trying to log in right now"), "{page}");
    assert!(page.contains("kubespawner-profiles-list"), "the form is not shown again with the reason");
    assert!(api.server("bob", "").await.is_none(), "a refused spawn left a server behind");

    // The rest needs no slow pulls.
    stack.kube.set_delays(Delays::default());
    // Once alice is ready, bob may start; then the active-server limit (2) refuses dave.
    api.wait_ready("alice", "").await;
    let form = bob.spawn_form("/hub/spawn", CPU_PROFILE, Some(("image", "lab6"))).await;
    assert_eq!(form.status(), StatusCode::FOUND, "bob's spawn after alice is ready");
    api.wait_ready("bob", "").await;
    let form = dave.spawn_form("/hub/spawn", CPU_PROFILE, Some(("image", "lab9"))).await;
    assert_eq!(form.status(), StatusCode::TOO_MANY_REQUESTS, "spawn form over the active-server limit");
    let page = form.text().await.unwrap();
    assert!(page.contains("Active user limit exceeded"), "the spawn page does not show the reason:\n{page}");
    let (status, body) = api.spawn("dave", "", json!({"profile": CPU_PROFILE})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body["message"].as_str().unwrap_or("").contains("Active user limit exceeded"), "{body}");

    // A stop frees a slot.
    api.stop("alice", "").await;
    let form = dave.spawn_form("/hub/spawn", CPU_PROFILE, Some(("image", "lab9"))).await;
    assert_eq!(form.status(), StatusCode::FOUND, "dave's spawn after a slot was freed");
    api.wait_ready("dave", "").await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_servers_user_redirect_and_activity() {
    let Some(_) = tool("JHUB_CHP") else { return };
    let Some(singleuser) = tool("JHUB_SINGLEUSER5") else { return };
    // Activity reports every second, recorded at one-second resolution; CHP's activity pull
    // stays at its 60 s default so what moves last_activity here is the server's own report.
    let values = "hub:\n  allowNamedServers: true\n  config:\n    JupyterHub:\n      activity_resolution: 1\n\
                  singleuser:\n  extraEnv:\n    JUPYTERHUB_ACTIVITY_INTERVAL: \"1\"\n";
    let stack = Stack::start(StackConfig::new("named", &singleuser).values(values)).await;
    let api = stack.api();
    let alice = stack.browser();
    alice.login("alice", "/hub/home").await;

    // A named server through the spawn form at /hub/spawn/alice/gpu1.
    let posted = alice.spawn_form("/hub/spawn/alice/gpu1", GPU_PROFILE, Some(("image", "A100x1"))).await;
    assert_eq!(posted.status(), StatusCode::FOUND, "named spawn form");
    let location = posted.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(location.starts_with("/hub/spawn-pending/alice/gpu1"), "{location}");
    let server = api.wait_ready("alice", "gpu1").await;
    assert_eq!(server["name"], "gpu1");
    assert_eq!(server["url"], "/user/alice/gpu1/");
    assert_eq!(server["user_options"], gpu_a100());
    assert!(api.server("alice", "").await.is_none(), "the default server was started too");
    let routes = stack.chp_routes().await.unwrap();
    let route = &routes["/user/alice/gpu1"];
    assert_eq!(route["jupyterhub"], true, "{routes:#}");
    assert_eq!(route["user"], "alice");
    assert_eq!(route["server_name"], "gpu1");
    let pods = stack.kube.list(jhub_kube_sim::Resource::Pods, Some(e2e::NAMESPACE));
    let pod =
        pods.iter().find(|p| p.pointer("/metadata/name").and_then(Value::as_str).is_some_and(|n| n.contains("gpu1")));
    let pod = pod.unwrap_or_else(|| panic!("no pod for alice/gpu1: {pods:#?}"));
    assert_eq!(pod.pointer("/spec/nodeName"), Some(&json!("l1")));

    // Its OAuth login uses its own client and callback.
    let dance = alice.server_login("/user/alice/gpu1/").await;
    let authorize = dance.passed("/hub/api/oauth2/authorize").expect("authorize hop");
    let q = query_params(&authorize.url);
    let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    assert_eq!(get("client_id").as_deref(), Some("jupyterhub-user-alice-gpu1"));
    assert_eq!(get("redirect_uri").as_deref(), Some("/user/alice/gpu1/oauth_callback"));
    let (status, body) = alice.server_api(Method::GET, "/user/alice/gpu1/", "status", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The default server: /hub/user-redirect/<path> leads to it, starting it when stopped.
    let posted = alice.spawn_form("/hub/spawn", GPU_PROFILE, Some(("image", "P100x1"))).await;
    assert_eq!(posted.status(), StatusCode::FOUND);
    api.wait_ready("alice", "").await;
    alice.server_login("/user/alice/").await;
    let redirect = alice.visit("/hub/user-redirect/api/status?from=share").await;
    let trail = redirect.trail();
    assert!(redirect.url.contains("/user/alice/api/status"), "{trail:#?}");
    assert!(redirect.url.contains("from=share"), "query lost: {trail:#?}");
    assert_eq!(redirect.status, StatusCode::OK, "{trail:#?}");

    // Activity: using the named server moves its last_activity through the server's own reports.
    let ts = |v: &Value| v.as_str().and_then(|t| jhub_core::time::parse(t).ok());
    let before = ts(&api.server("alice", "gpu1").await.unwrap()["last_activity"]).expect("gpu1 last_activity");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (status, _) = alice.server_api(Method::GET, "/user/alice/gpu1/", "contents", None).await;
    assert_eq!(status, StatusCode::OK);
    let moved =
        e2e::wait_until("gpu1's last_activity to move", Duration::from_secs(15), || {
            let api = api.clone();
            async move {
                api.server("alice", "gpu1").await.and_then(|s| ts(&s["last_activity"])).is_some_and(|t| t > before)
            }
        })
        .await;
    assert!(moved, "the single-user server's activity never reached the hub (still {before})");
    let user = api.user("alice").await;
    assert!(ts(&user["last_activity"]).is_some_and(|t| t > before), "user last_activity did not move: {user:#}");

    // Stopping the named server removes only its route and its OAuth client's access.
    api.stop("alice", "gpu1").await;
    let routes = stack.chp_routes().await.unwrap();
    assert!(routes.get("/user/alice/gpu1").is_none(), "{routes:#}");
    assert_eq!(routes["/user/alice"]["jupyterhub"], true, "{routes:#}");
    stack.shutdown().await;
}
