//! The seed user's journey at API level (no browser) against the stock `jupyterhub-singleuser`
//! of JupyterHub 6.x (with JupyterLab), 5.x and 4.x (jupyter-server only), through the stock
//! configurable-http-proxy: GitLab login → spawn form with `GPU 分区` / A100 → the pod lands on
//! the A100 node → the single-user server's OAuth login through the hub (PKCE S256 from 6.x,
//! none from 5.x/4.x) → its REST API with the browser's cookies and its own XSRF rules → a file
//! written → stop → start → the file is still there (PVC) → logout → the server refuses the
//! browser.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e;

use e2e::{GPU_PROFILE, Stack, StackConfig, gpu_a100, query_params, server_cookie_name, tool};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const USER: &str = "alice";
const PREFIX: &str = "/user/alice/";

async fn journey(singleuser_var: &str, name: &str, expect_pkce: bool) {
    let Some(_) = tool("JHUB_CHP") else { return };
    let Some(singleuser) = tool(singleuser_var) else { return };
    let stack = Stack::start(StackConfig::new(name, &singleuser)).await;
    let api = stack.api();
    let browser = stack.browser();

    // Login through GitLab lands on the page the login was started for.
    let login = browser.login(USER, "/hub/home").await;
    assert_eq!(login.status, StatusCode::OK, "login: {:#?}", login.trail());
    assert!(login.url.ends_with("/hub/home"), "login ended at {}", login.url);
    assert!(login.passed("/oauth/authorize").is_some(), "login did not go through GitLab: {:#?}", login.trail());

    // The spawn form with the seed's GPU profile and the A100 choice.
    let posted = browser.spawn_form("/hub/spawn", GPU_PROFILE, Some(("image", "A100x1"))).await;
    assert_eq!(posted.status(), StatusCode::FOUND, "spawn form POST");
    let pending = posted.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(pending.starts_with("/hub/spawn-pending/alice"), "spawn form redirected to {pending:?}");

    // Progress: hub events, then the Kubernetes events of the pod, then ready.
    let events = api.progress(USER, "").await;
    let messages: Vec<&str> = events.iter().filter_map(|e| e.get("message").and_then(Value::as_str)).collect();
    assert_eq!(events.first().and_then(|e| e.get("progress")), Some(&json!(0)), "first event: {events:#?}");
    assert!(
        messages.iter().any(|m| m.contains("Successfully assigned jupyterhub/jupyter-alice to l1")),
        "no scheduling event for the A100 node in the progress stream: {messages:#?}"
    );
    let last = events.last().unwrap();
    assert_eq!(last.get("ready"), Some(&json!(true)), "spawn did not finish ready: {events:#?}");
    assert_eq!(last.get("url"), Some(&json!(PREFIX)));
    let progress: Vec<i64> = events.iter().filter_map(|e| e.get("progress").and_then(Value::as_i64)).collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "progress went backwards: {progress:?}");

    let server = api.server(USER, "").await.expect("server model");
    assert_eq!(server.get("ready"), Some(&json!(true)), "{server:#}");
    assert_eq!(server.get("user_options"), Some(&gpu_a100()), "{server:#}");
    let pod = stack.pod(USER).expect("pod jupyter-alice");
    assert_eq!(pod.pointer("/spec/nodeName").and_then(Value::as_str), Some("l1"), "A100 pods go to l1");
    assert_eq!(pod.pointer("/spec/schedulerName").and_then(Value::as_str), Some("jupyterhub-user-scheduler"));
    let notebook = pod.pointer("/spec/containers/0").expect("notebook container");
    assert_eq!(notebook.pointer("/image").and_then(Value::as_str), Some("quay.io/zhonger/gpu-notebook:v3"));
    assert_eq!(notebook.pointer("/resources/limits/nvidia.com~1gpu").and_then(Value::as_str), Some("1"));

    // The route the hub added to CHP, with the JupyterHub marker.
    let routes = stack.chp_routes().await.expect("CHP routes");
    let route = routes.get("/user/alice").unwrap_or_else(|| panic!("no CHP route for alice: {routes:#}"));
    assert_eq!(route.get("jupyterhub"), Some(&json!(true)));
    assert_eq!(route.get("user"), Some(&json!(USER)));
    assert_eq!(route.get("server_name"), Some(&json!("")));
    let pod_ip = pod.pointer("/status/podIP").and_then(Value::as_str).expect("pod IP");
    assert_eq!(route.get("target"), Some(&json!(format!("http://{pod_ip}:8888"))));

    // The single-user server's OAuth login through the hub, with or without PKCE.
    let dance = browser.server_login(PREFIX).await;
    let authorize = dance.passed("/hub/api/oauth2/authorize").expect("authorize hop");
    let q = query_params(&authorize.url);
    let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    assert_eq!(get("client_id"), Some("jupyterhub-user-alice"), "{q:?}");
    assert_eq!(get("redirect_uri"), Some("/user/alice/oauth_callback"), "{q:?}");
    assert_eq!(get("response_type"), Some("code"));
    if expect_pkce {
        assert_eq!(get("code_challenge_method"), Some("S256"), "6.x sends PKCE: {q:?}");
        assert!(get("code_challenge").is_some_and(|c| c.len() == 43), "{q:?}");
    } else {
        assert_eq!(get("code_challenge"), None, "{singleuser_var} sends no PKCE: {q:?}");
    }
    let callback = dance.passed("/user/alice/oauth_callback?code=").expect("callback hop");
    assert_eq!(callback.status, StatusCode::FOUND, "{:#?}", dance.trail());
    assert!(browser.cookie(PREFIX, &server_cookie_name(PREFIX)).is_some(), "no server cookie: {:#?}", dance.trail());

    // The server's REST API with the browser's cookies.
    let (status, body) = browser.server_api(Method::GET, PREFIX, "status", None).await;
    assert_eq!(status, StatusCode::OK, "api/status: {body}");
    let file = format!("e2e-{name}.txt");
    let text = format!("written through CHP by the {name} test — 中文 ok\n");
    let (status, body) = browser
        .server_api(
            Method::PUT,
            PREFIX,
            &format!("contents/{file}"),
            Some(json!({"type": "file", "format": "text", "content": text})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "PUT contents (XSRF cookie present: {}): {body}",
        browser.cookie(PREFIX, "_xsrf").is_some()
    );
    // It is on the user's volume (the PVC's directory), not in a per-pod directory.
    let home = stack.home_dir(USER).expect("PVC claim-alice is bound");
    assert_eq!(std::fs::read_to_string(home.join(&file)).expect("file on the PVC"), text);

    // Stop: route gone first, then the pod; the server no longer answers through CHP.
    api.stop(USER, "").await;
    assert!(stack.pod(USER).is_none(), "pod still exists after stop");
    let routes = stack.chp_routes().await.expect("CHP routes");
    assert!(routes.get("/user/alice").is_none(), "route left behind: {routes:#}");
    let (status, _) = browser.server_api(Method::GET, PREFIX, &format!("contents/{file}"), None).await;
    assert_ne!(status, StatusCode::OK, "a stopped server still served the file");

    // Start again (API), log in to the new server, the file is still there.
    let (status, body) = api.spawn(USER, "", gpu_a100()).await;
    assert!(status == StatusCode::CREATED || status == StatusCode::ACCEPTED, "respawn: {status} {body}");
    api.wait_ready(USER, "").await;
    browser.server_login(PREFIX).await;
    let (status, body) = browser.server_api(Method::GET, PREFIX, &format!("contents/{file}?content=1"), None).await;
    assert_eq!(status, StatusCode::OK, "the file after restart: {body}");
    assert_eq!(body.get("content").and_then(Value::as_str), Some(text.as_str()));

    // Logout ends this browser's access to the server too (its OAuth token is revoked).
    let out = browser.visit("/hub/logout").await;
    assert!(out.status.is_success() || out.url.contains("/hub/login"), "logout: {:#?}", out.trail());
    assert!(browser.cookie("/hub/", "jupyterhub-hub-login").is_none(), "login cookie survived logout");
    let (status, _) = browser.server_api(Method::GET, PREFIX, &format!("contents/{file}"), None).await;
    assert_ne!(status, StatusCode::OK, "the single-user server still serves the logged-out browser");
    let again = browser.visit(&format!("{PREFIX}files/{file}")).await;
    assert!(
        again.url.contains("/hub/login"),
        "a page of the server did not send the logged-out browser to the login: {:#?}",
        again.trail()
    );

    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn singleuser_6x_journey_with_pkce() {
    journey("JHUB_SINGLEUSER", "su6", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn singleuser_5x_journey_without_pkce() {
    journey("JHUB_SINGLEUSER5", "su5", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn singleuser_4x_journey_without_pkce() {
    journey("JHUB_SINGLEUSER4", "su4", false).await;
}
