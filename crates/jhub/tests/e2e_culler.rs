//! The internal culler against the Kubernetes simulator with real
//! JupyterLab servers: an idle server's pod is deleted after `cull.timeout`;
//! a server in use (requests reach it, and the stock
//! `jupyterhub-singleuser` reports that activity to the hub) is kept; and
//! `cull.maxAge` stops even the server in use.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e;

use e2e::{CPU_PROFILE, Stack, StackConfig, tool};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_pods_are_culled_active_ones_kept_until_max_age() {
    let Some(_) = tool("JHUB_CHP") else { return };
    let Some(singleuser) = tool("JHUB_SINGLEUSER5") else { return };
    // Idle after 8 s, checked every second, and nothing older than 30 s; the
    // servers report activity every second, recorded at one-second resolution.
    let values = "cull:\n  enabled: true\n  timeout: 8\n  every: 1\n  maxAge: 30\n  users: false\n\
                  hub:\n  config:\n    JupyterHub:\n      activity_resolution: 1\n\
                  singleuser:\n  extraEnv:\n    JUPYTERHUB_ACTIVITY_INTERVAL: \"1\"\n";
    let stack = Stack::start(StackConfig::new("culler", &singleuser).values(values)).await;
    let api = stack.api();
    for user in ["alice", "dave"] {
        let (status, body) = api.call(Method::POST, &format!("/users/{user}"), None).await;
        assert!(status == StatusCode::CREATED || status == StatusCode::CONFLICT, "{user}: {status} {body}");
    }
    let started = Instant::now();
    for user in ["alice", "dave"] {
        let (status, body) = api.spawn(user, "", json!({"profile": CPU_PROFILE})).await;
        assert!(status.is_success(), "{user}: {status} {body}");
        api.wait_ready(user, "").await;
    }
    assert!(stack.pod("alice").is_some() && stack.pod("dave").is_some());
    // alice works in her server: requests through CHP with her own token.
    let (status, token) = api.call(Method::POST, "/users/alice/tokens", Some(json!({"note": "culler test"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    let token = token["token"].as_str().unwrap().to_string();
    let client = e2e::plain_client();
    let contents = format!("{}/user/alice/api/contents", stack.public_url());
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let work = async {
        loop {
            let response = client.get(&contents).header("Authorization", format!("token {token}")).send().await;
            // Until the culler stops her server (then the hub answers instead).
            if response.is_ok_and(|r| r.status() == 200) {
                answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    let watch = async {
        // dave's idle server goes after the timeout; alice's stays.
        let culled = e2e::wait_until("dave's idle pod to be culled", Duration::from_secs(40), || async {
            stack.pod("dave").is_none() && api.server("dave", "").await.is_none()
        })
        .await;
        assert!(culled, "dave's idle server was not culled");
        let idle_after = started.elapsed();
        assert!(stack.pod("alice").is_some(), "alice's active server was culled with dave's (after {idle_after:?})");
        assert!(api.server("alice", "").await.is_some());
        // Past maxAge (30 s from alice's start), alice's pod goes despite her activity.
        let culled = e2e::wait_until("alice's pod to reach maxAge", Duration::from_secs(60), || async {
            stack.pod("alice").is_none() && api.server("alice", "").await.is_none()
        })
        .await;
        assert!(culled, "maxAge did not stop the active server");
        let max_age_after = started.elapsed();
        assert!(max_age_after >= Duration::from_secs(30), "culled before maxAge: {max_age_after:?}");
        (idle_after, max_age_after)
    };
    let (idle_after, max_age_after) = tokio::select! {
        _ = work => unreachable!("the work loop never ends"),
        times = watch => times,
    };
    eprintln!("idle server culled after {idle_after:?}, active server culled at maxAge after {max_age_after:?}");
    let answered = answered.load(std::sync::atomic::Ordering::Relaxed);
    assert!(answered >= 20, "alice's server answered only {answered} requests: she was not really active");
    // Culling keeps the users and their home volumes.
    assert_eq!(api.get("/users/dave").await.0, StatusCode::OK);
    assert!(stack.home_dir("dave").is_some(), "dave's PVC is kept");
    stack.shutdown().await;
}
