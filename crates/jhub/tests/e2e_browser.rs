//! The seed user's day in headless Chromium, through the stock configurable-http-proxy, with
//! the stock `jupyterhub-singleuser` + JupyterLab as the user's server: `tests/browser/journey.mjs`
//! (playwright-core) logs in through the GitLab simulator, picks `GPU 分区` / A100 on the spawn
//! page, follows the live progress bar, creates and runs a notebook in JupyterLab, stops and
//! restarts the server (the notebook survives on the PVC) and logs out (the server stops
//! serving that browser). Halfway, with the lab open, this test kills CHP and starts it again:
//! the routes must be back within 5 s, the open lab (contents API, kernel websocket) must keep
//! working and the hub must send the browser back to its running server. (Restarting jhub under
//! a browser session is `e2e_resilience.rs`.)
//!
//! Screenshots of every step: `artifacts/screenshots/journey/` (ignored by git).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use e2e::{GPU_PROFILE, Stack, StackConfig, gpu_a100, repo_root, tool, visible_delays};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const USER: &str = "alice";

/// The restart budget the issue sets: a CHP restart is noticed and every route restored within 5 s.
const ROUTE_RESTORE_BUDGET: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_journey_through_chp() {
    let Some(_) = tool("JHUB_CHP") else { return };
    let Some(singleuser) = tool("JHUB_SINGLEUSER") else { return };
    let Some(chromium) = tool("JHUB_CHROMIUM") else { return };
    let Some(node_modules) = tool("JHUB_NODE_MODULES") else { return };

    let mut stack = Stack::start(StackConfig::new("browser", &singleuser).delays(visible_delays())).await;
    let shots = repo_root().join("artifacts/screenshots/journey");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();

    let node_log = std::fs::File::create(stack.dir().join("logs/node-journey.log")).unwrap();
    let mut node = tokio::process::Command::new("node")
        .arg(repo_root().join("tests/browser/journey.mjs"))
        .env("JHUB_E2E_URL", stack.public_url())
        .env("JHUB_E2E_USER", USER)
        .env("JHUB_E2E_PROFILE", "GPU 分区")
        .env("JHUB_E2E_OPTION", "A100x1")
        .env("JHUB_E2E_SCREENSHOTS", &shots)
        .env("JHUB_E2E_PAUSE_AFTER", "spawn-form,run-notebook")
        .env("JHUB_E2E_CAPACITY_EXPECT", "A100x1=1 free")
        .env("JHUB_E2E_TIMEOUT_MS", "60000")
        .env("JHUB_CHROMIUM", &chromium)
        .env("JHUB_NODE_MODULES", &node_modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(node_log)
        .kill_on_drop(true)
        .spawn()
        .expect("node (Node.js 20+) must be on PATH");
    let mut stdin = node.stdin.take().unwrap();
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();

    let mut steps: HashMap<String, Value> = HashMap::new();
    let mut transcript = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let line = match tokio::time::timeout_at(deadline.into(), lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => stack.fail(&format!("reading the browser script's output: {e}")),
            Err(_) => stack.fail(&format!("the browser journey took over 300 s; so far: {transcript:#?}")),
        };
        transcript.push(line.clone());
        let event: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| json!({"step": "log", "ok": true, "text": line}));
        let name = event.get("step").and_then(Value::as_str).unwrap_or("").to_string();
        if event.get("ok") != Some(&json!(true)) {
            stack.fail(&format!("browser step {name:?} failed: {event:#}\ntranscript: {transcript:#?}"));
        }
        if name == "pause" && event["after"] == "spawn-form" {
            // The spawn page is open showing live GPU capacity: a pod of another namespace takes
            // one A100; the page must follow (step `capacity-live`).
            stack
                .kube
                .create(
                    jhub_kube_sim::Resource::Pods,
                    "default",
                    json!({"metadata": {"name": "gpu-training"}, "spec": {
                        "nodeSelector": {"gputype": "A100"},
                        "containers": [{"name": "train", "image": "busybox",
                                        "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}),
                )
                .unwrap();
            stdin.write_all(b"continue\n").await.unwrap();
            stdin.flush().await.unwrap();
        } else if name == "pause" {
            // The lab is open in the browser with a running kernel: restart CHP under it.
            check_server_state(&stack).await;
            let restored = restart_chp(&mut stack).await;
            eprintln!("CHP restarted: routes and the user's server back after {restored:?}");
            stdin.write_all(b"continue\n").await.unwrap();
            stdin.flush().await.unwrap();
        }
        steps.insert(name, event);
    }
    let status = node.wait().await.unwrap();
    assert!(status.success(), "the browser script exited with {status}; transcript: {transcript:#?}");
    assert!(steps.contains_key("done"), "the browser script ended early: {transcript:#?}");

    // The spawn page showed both seed profiles with their Chinese names, descriptions and options.
    let profiles = steps["spawn-form"]["profiles"].as_array().expect("profiles").clone();
    let by_slug = |slug: &str| profiles.iter().find(|p| p["slug"] == slug).cloned().unwrap_or(Value::Null);
    let cpu = by_slug("cpu-fen-qu");
    let gpu = by_slug(GPU_PROFILE);
    assert_eq!(cpu["name"], "CPU 分区", "{profiles:#?}");
    assert_eq!(cpu["description"], "包含 Conda、Python 环境（8核16G）");
    assert_eq!(cpu["checked"], true, "the seed marks CPU 分区 as the default");
    assert_eq!(cpu["options"][0]["label"], "主机");
    assert_eq!(
        cpu["options"][0]["choices"],
        json!([{"key": "lab6", "name": "l1", "capacity": null}, {"key": "lab9", "name": "l2", "capacity": null}])
    );
    assert_eq!(gpu["name"], "GPU 分区");
    assert_eq!(gpu["description"], "包含 Conda、Python、CUDA 环境（8核16G）");
    assert_eq!(gpu["options"][0]["label"], "资源配置");
    assert_eq!(
        gpu["options"][0]["choices"],
        json!([
            {"key": "A100x1", "name": "A100 (Python 3.11, CUDA 12) GPU x1",
             "capacity": "A100 (Python 3.11, CUDA 12) GPU x1 — 2 free"},
            {"key": "P100x1", "name": "P100 (Python 3.11, CUDA 12) GPU x1",
             "capacity": "P100 (Python 3.11, CUDA 12) GPU x1 — 2 free"}
        ])
    );
    // CPU choices request no GPU: no capacity label.
    assert_eq!(cpu["options"][0]["choices"][0]["capacity"], Value::Null);
    // Live: the open page followed the cluster (one A100 taken by another namespace's pod).
    assert_eq!(steps["capacity-live"]["text"], "A100 (Python 3.11, CUDA 12) GPU x1 — 1 free");
    assert!(steps["capacity-live"]["screenshot"].is_string());
    assert_eq!(steps["choose-profile"]["chosen"], "A100 (Python 3.11, CUDA 12) GPU x1");

    // The progress bar moved through several values, fed by the pod's Kubernetes events.
    for key in ["progress", "start-again"] {
        let step = &steps[key];
        let values: Vec<i64> = step["progress"].as_array().unwrap().iter().filter_map(Value::as_i64).collect();
        let between = values.iter().filter(|v| **v > 0 && **v < 100).count();
        assert!(between >= 3, "{key}: the progress bar did not advance visibly: {values:?}");
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "{key}: progress went backwards: {values:?}");
        let events: Vec<&str> = step["events"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert!(
            events.iter().any(|e| e.contains("Successfully assigned jupyterhub/jupyter-alice to l1")),
            "{key}: no scheduling event on the page: {events:#?}"
        );
        assert!(
            events.iter().any(|e| e.contains("quay.io/zhonger/gpu-notebook:v3")),
            "{key}: no image event for the GPU image on the page: {events:#?}"
        );
        assert!(step["screenshot"].is_string(), "{key}: no screenshot of the progress bar mid-way");
    }

    // Stopped: the user's URL gives the not-running page (424) with a link to start again.
    assert_eq!(steps["not-running"]["status"], 424);
    assert_eq!(steps["not-running"]["heading"], "Server not running");
    // The notebook written before the stop is still there after the start.
    let sources = steps["file-persisted"]["sources"].as_array().unwrap();
    assert!(sources.iter().any(|s| s == "print(6 * 7)"), "{sources:?}");
    assert_eq!(steps["file-persisted"]["output"], "42");
    // After logout, the single-user server does not serve that browser.
    assert_ne!(steps["server-refuses-browser"]["api"]["status"], 200);
    assert!(
        steps["server-refuses-browser"]["landed"].as_str().unwrap_or("").starts_with("/hub/login"),
        "{:#}",
        steps["server-refuses-browser"]
    );

    // The hub's side: the server still runs (logout does not stop it) with the chosen options,
    // and the notebook is on the user's volume.
    let server = stack.api().server(USER, "").await.expect("server still running after logout");
    assert_eq!(server["ready"], true);
    assert_eq!(server["user_options"], gpu_a100());
    let notebook = stack.home_dir(USER).expect("PVC bound").join("e2e-journey.ipynb");
    let text = std::fs::read_to_string(&notebook).expect("notebook on the PVC");
    assert!(text.contains("print(6 * 7)"), "{text}");

    let mut shots_taken: Vec<String> =
        std::fs::read_dir(&shots).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    shots_taken.sort();
    assert!(shots_taken.len() >= 15, "screenshots: {shots_taken:?}");
    eprintln!("screenshots in {}: {shots_taken:?}", shots.display());
    stack.shutdown().await;
}

/// While the lab is open: the server is ready with the GPU options, on the A100 node.
async fn check_server_state(stack: &Stack) {
    let server = stack.api().server(USER, "").await.expect("server");
    assert_eq!(server["ready"], true, "{server:#}");
    assert_eq!(server["user_options"], gpu_a100(), "{server:#}");
    let pod = stack.pod(USER).expect("pod");
    assert_eq!(pod.pointer("/spec/nodeName"), Some(&json!("l1")));
    assert_eq!(pod.pointer("/spec/containers/0/resources/limits/nvidia.com~1gpu"), Some(&json!("1")));
}

/// Kills CHP and starts it again on the same ports; returns how long after the new CHP answered
/// its API the hub's routes were back and the user's server answered through it.
async fn restart_chp(stack: &mut Stack) -> Duration {
    let before = stack.chp_routes().await.expect("routes");
    assert!(before.get("/user/alice").is_some(), "{before:#}");
    stack.kill_chp().await;
    stack.start_chp().await;
    let started = Instant::now();
    let client = e2e::plain_client();
    let status_url = format!("{}/user/alice/api/status", stack.public_url());
    loop {
        let routes = stack.chp_routes().await.unwrap_or(Value::Null);
        let routed = routes.get("/user/alice").is_some() && routes.get("/").and_then(|r| r.get("jupyterhub")).is_some();
        // Unauthenticated: the single-user server itself answers 403 (not CHP's 404/503).
        let answered = routed
            && matches!(client.get(&status_url).send().await, Ok(r) if r.status() == StatusCode::FORBIDDEN
                && r.headers().contains_key("x-jupyterhub-version"));
        if answered {
            let took = started.elapsed();
            assert!(took <= ROUTE_RESTORE_BUDGET, "routes came back after {took:?} (budget 5 s)");
            return took;
        }
        if started.elapsed() > ROUTE_RESTORE_BUDGET {
            stack.fail(&format!("routes not restored within 5 s of the CHP restart: {routes:#}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
