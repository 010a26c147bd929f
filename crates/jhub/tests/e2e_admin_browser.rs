//! The admin page (issue 15) in headless Chromium through the stock configurable-http-proxy:
//! `tests/browser/admin.mjs` (playwright-core) logs in as the seed admin through the GitLab
//! simulator, searches, sorts and pages through 120 seeded users, adds two users with the
//! keyboard, renames one and makes it admin, starts and stops a user's server (the real
//! `jupyterhub-singleuser` in a simulated pod) and reads its profile, node and spawn events,
//! resizes, snapshots and restores the stopped server's volume (Storage section),
//! manages a group (member, properties), deletes the group and a user, and checks the page on a
//! phone-sized viewport. This test seeds the users, reads the script's facts and checks the hub's
//! side through the REST API afterwards.
//!
//! Screenshots: `artifacts/screenshots/admin/` (ignored by git).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use e2e::{Stack, StackConfig, repo_root, tool};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The seed admin of `demo/local.yaml` (GitLab simulator user).
const ADMIN: &str = "bob";
const HTML_NAME: &str = "<b>zed-html";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_page_journey_through_chp() {
    let Some(_) = tool("JHUB_CHP") else { return };
    let Some(singleuser) = tool("JHUB_SINGLEUSER") else { return };
    let Some(chromium) = tool("JHUB_CHROMIUM") else { return };
    let Some(node_modules) = tool("JHUB_NODE_MODULES") else { return };

    // The seed cluster's class (nfs-csi) allows expansion here and the cluster has a default
    // VolumeSnapshotClass, so the Storage section can resize, snapshot and restore.
    let stack = Stack::start(StackConfig::new("admin", &singleuser).kube(|cfg| {
        cfg.expandable_storage_classes = vec!["nfs-csi".into()];
        cfg.snapshot_crds = true;
        cfg.snapshot_classes = vec!["csi-snapclass".into()];
    }))
    .await;
    let api = stack.api();
    let mut names: Vec<String> = (0..120).map(|i| format!("e2e-user-{i:03}")).collect();
    names.push(HTML_NAME.to_string());
    let (status, body) = api.call(Method::POST, "/users", Some(json!({"usernames": names}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let shots = repo_root().join("artifacts/screenshots/admin");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let node_log = std::fs::File::create(stack.dir().join("logs/node-admin.log")).unwrap();
    let mut node = tokio::process::Command::new("node")
        .arg(repo_root().join("tests/browser/admin.mjs"))
        .env("JHUB_E2E_URL", stack.public_url())
        .env("JHUB_E2E_ADMIN", ADMIN)
        .env("JHUB_E2E_SCREENSHOTS", &shots)
        .env("JHUB_E2E_TIMEOUT_MS", "60000")
        .env("JHUB_CHROMIUM", &chromium)
        .env("JHUB_NODE_MODULES", &node_modules)
        .stdout(Stdio::piped())
        .stderr(node_log)
        .kill_on_drop(true)
        .spawn()
        .expect("node (Node.js 20+) must be on PATH");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut steps: HashMap<String, Value> = HashMap::new();
    let mut transcript = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(400);
    loop {
        let line = match tokio::time::timeout_at(deadline.into(), lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => stack.fail(&format!("reading the browser script's output: {e}")),
            Err(_) => stack.fail(&format!("the admin journey took over 400 s; so far: {transcript:#?}")),
        };
        transcript.push(line.clone());
        let event: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| json!({"step": "log", "ok": true, "text": line}));
        let name = event.get("step").and_then(Value::as_str).unwrap_or("").to_string();
        if event.get("ok") != Some(&json!(true)) {
            stack.fail(&format!("browser step {name:?} failed: {event:#}\ntranscript: {transcript:#?}"));
        }
        steps.insert(name, event);
    }
    let status = node.wait().await.unwrap();
    assert!(status.success(), "the browser script exited with {status}; transcript: {transcript:#?}");
    assert!(steps.contains_key("done"), "the browser script ended early: {transcript:#?}");
    assert_eq!(steps["done"]["page_errors"], json!([]), "script errors on the page");

    // Logged in, the nav marks the page; 122 users (bob, the 120, the HTML-named one).
    assert_eq!(steps["login"]["nav"], "Admin");
    assert_eq!(steps["login"]["info"], "Showing 1–50 of 122");
    // Search is server-side (name_filter) and names are text, never markup.
    let found: Vec<String> = serde_json::from_value(steps["search"]["names"].clone()).unwrap();
    assert_eq!(found, (110..120).map(|i| format!("e2e-user-{i}")).collect::<Vec<_>>());
    assert_eq!(steps["search"]["escaped"], json!([HTML_NAME]));
    assert_eq!(steps["search"]["markup"], 0);
    assert_eq!(steps["search"]["shown"], HTML_NAME);
    // Sort both ways; pages of 50.
    assert_eq!(steps["sort"]["desc"], json!(["e2e-user-119", "e2e-user-118", "e2e-user-117"]));
    assert_eq!(steps["sort"]["asc"], json!([HTML_NAME, "bob", "e2e-user-000"]));
    assert_eq!(
        steps["paginate"]["pages"],
        json!(["Showing 1–50 of 122", "Showing 51–100 of 122", "Showing 101–122 of 122"])
    );
    assert_eq!(steps["paginate"]["second_first"], "e2e-user-048");
    assert_eq!(steps["paginate"]["next_disabled_on_last"], true);
    // Keyboard: Tab reached the button, Enter opened the form and submitted it.
    assert_eq!(steps["keyboard-add-users"]["focused"], "add-users-open");
    assert_eq!(steps["keyboard-add-users"]["on_submit"], "add-users-submit");
    assert_eq!(steps["keyboard-add-users"]["status"], "Added zed-one, zed-two");
    // Rename + admin.
    assert_eq!(steps["rename-and-admin"]["admin_cell"], "admin");
    assert_eq!(steps["rename-and-admin"]["title"], "User zed-renamed");
    // The server: started from the page, profile, node and events from the details endpoint.
    let started = &steps["start-server"];
    assert_eq!(started["access"], "/user/e2e-user-007/");
    assert_ne!(started["node"], "—", "{started:#}");
    let events: Vec<String> = serde_json::from_value(started["events"].clone()).unwrap();
    for kind in ["spawn_requested", "started", "ready"] {
        assert!(events.iter().any(|e| e.contains(kind)), "no {kind} event: {events:?}");
    }
    let progress: Vec<String> = serde_json::from_value(started["progress"].clone()).unwrap();
    assert!(progress.first().is_some_and(|p| p.contains("Server requested")), "{progress:?}");
    assert!(progress.len() >= 3, "the spawner's progress messages: {progress:?}");
    // Storage: the stopped server's claim, its class and size; resize, snapshot, restore.
    let storage = &steps["storage"];
    assert_eq!(storage["before"]["Volume"], "claim-e2e-user-007", "{storage:#}");
    assert_eq!(storage["before"]["Capacity"], "100Gi", "{storage:#}");
    assert_eq!(storage["before"]["Storage class"], "nfs-csi", "{storage:#}");
    assert_eq!(storage["resize_enabled"], true, "nfs-csi allows expansion: {storage:#}");
    assert_eq!(storage["restore_enabled_before"], false, "no snapshot yet: {storage:#}");
    assert_eq!(storage["resized"]["Requested"], "120Gi", "{storage:#}");
    assert_eq!(storage["resized"]["Resize pending"], "yes", "offline expansion waits for a start: {storage:#}");
    let snapshots: Vec<String> = serde_json::from_value(storage["snapshots"].clone()).unwrap();
    assert_eq!(snapshots.len(), 1, "{storage:#}");
    assert_eq!(storage["restore_enabled"], true, "{storage:#}");
    assert_eq!(
        storage["restore_status"],
        format!("Restore of e2e-user-007's volume from {} requested", snapshots[0]),
        "{storage:#}"
    );
    let after: Vec<String> = serde_json::from_value(storage["after"].clone()).unwrap();
    assert!(after.contains(&snapshots[0]) && after.len() == 2, "the safety snapshot: {storage:#}");
    // Groups.
    assert_eq!(steps["groups"]["members"], json!(["zed-renamed"]));
    assert_eq!(steps["groups"]["props"], json!([["note", "<i>gpu team</i>"], ["quota", "5"]]));
    assert_eq!(steps["groups"]["markup"], 0, "a property value is text, not markup");
    assert_eq!(steps["groups"]["user_detail_hidden"], true, "the Groups tab shows no user panel");
    assert_eq!(steps["delete"]["groups_left"], json!([]));
    // Phone: no sideways scrolling, buttons big enough to tap.
    let phone = &steps["phone"];
    assert!(phone["overflow"].as_i64().unwrap() <= 0, "{phone:#}");
    assert_eq!(phone["start_visible"], true);
    assert!(phone["start_height"].as_f64().unwrap() >= 30.0, "{phone:#}");

    // The hub's side.
    let renamed = api.user("zed-renamed").await;
    assert_eq!(renamed["admin"], true);
    assert_eq!(api.get("/users/zed-one").await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.get("/users/zed-two").await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.get("/groups/e2e-team").await.0, StatusCode::NOT_FOUND);
    assert!(api.server("e2e-user-007", "").await.is_none(), "the server was stopped");
    // The hub's view of the volume after the page's restore: both snapshots, the restored claim.
    let (status, volume) = api.call(Method::GET, "/jhub/users/e2e-user-007/storage", None).await;
    assert_eq!(status, StatusCode::OK, "{volume}");
    assert_eq!(volume["pvc"], "claim-e2e-user-007", "{volume}");
    assert_eq!(volume["snapshots"].as_array().map(Vec::len), Some(2), "{volume}");

    let mut taken: Vec<String> =
        std::fs::read_dir(&shots).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    taken.sort();
    assert!(taken.len() >= 7, "screenshots: {taken:?}");
    eprintln!("screenshots in {}: {taken:?}", shots.display());
    stack.shutdown().await;
}
