//! Headless Chromium through the real pages: the hub with the real
//! `GitLabOAuthenticator` and the real GitLab simulator, driven by
//! `browser_flow.cjs` (playwright-core): login with the GitLab button,
//! the home, token, consent, spawn-form and spawn-pending pages, a 403 for
//! a user outside the allowed groups — at desktop and phone (375×812) size,
//! with screenshots in `artifacts/screenshots/`.
//!
//! Needs Debian `chromium`, Node and playwright-core: `scripts/install-tools browser`
//! prints the `JHUB_CHROMIUM` and `JHUB_NODE_MODULES` to export. Missing tools fail
//! the test unless `JHUB_SKIP_EXTERNAL=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pages_support;

use jhub_hub::fakes::FakeSpawner;
use jhub_hub::settings::ServiceSpec;
use pages_support::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

struct Tools {
    node: PathBuf,
    chromium: PathBuf,
    node_modules: PathBuf,
}

fn tools() -> Option<Tools> {
    let root = repo_root();
    let chromium = std::env::var_os("JHUB_CHROMIUM").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromium".into());
    let node_modules = std::env::var_os("JHUB_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".tools/node/node_modules"));
    let node = std::env::var_os("JHUB_NODE").map(PathBuf::from).unwrap_or_else(|| "node".into());
    let node_ok = std::process::Command::new(&node).arg("--version").output().is_ok_and(|o| o.status.success());
    let missing: Vec<String> = [
        (!chromium.is_file()).then(|| format!("chromium at {}", chromium.display())),
        (!node_modules.join("playwright-core").is_dir())
            .then(|| format!("playwright-core in {}", node_modules.display())),
        (!node_ok).then(|| "node".to_string()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if missing.is_empty() {
        return Some(Tools { node, chromium, node_modules });
    }
    if std::env::var("JHUB_SKIP_EXTERNAL").as_deref() == Ok("1") {
        eprintln!("skipping the browser test (JHUB_SKIP_EXTERNAL=1); missing: {}", missing.join(", "));
        return None;
    }
    panic!(
        "browser test tools missing ({}): run `scripts/install-tools browser` and export what it prints \
         (JHUB_CHROMIUM, JHUB_NODE_MODULES), or set JHUB_SKIP_EXTERNAL=1",
        missing.join(", ")
    );
}

fn seed_profiles() -> jhub_podspec::profiles::ProfileList {
    let list: serde_json::Value = serde_json::json!([
        {"display_name": "CPU 分区", "description": "包含 Conda、Python 环境（8核16G）", "default": true,
         "profile_options": {"image": {"display_name": "主机", "choices": {
             "lab6": {"display_name": "l1"}, "lab9": {"display_name": "l2"}}}}},
        {"display_name": "GPU 分区", "description": "包含 Conda、Python、CUDA 环境（8核16G）",
         "profile_options": {"image": {"display_name": "资源配置", "choices": {
             "A100x1": {"display_name": "A100 (Python 3.11, CUDA 12) GPU x1"},
             "P100x1": {"display_name": "P100 (Python 3.11, CUDA 12) GPU x1"}}}}}
    ]);
    jhub_podspec::profiles::ProfileList::from_config(&list).unwrap()
}

async fn run(tools: &Tools, script: &Path, config: &serde_json::Value) -> (bool, String) {
    let mut command = tokio::process::Command::new(&tools.node);
    command.arg(script).arg(config.to_string()).kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(300), command.output()).await;
    let output = output.expect("the browser flow took more than 5 minutes").unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_logs_in_with_gitlab_and_uses_the_pages() {
    let Some(tools) = tools() else { return };
    let hub =
        start(Opts::gitlab().spawner(FakeSpawner::serving_after(Duration::from_secs(4))).configure(|settings, web| {
            web.profile_list = Some(seed_profiles());
            web.redirect_to_server = false;
            settings.services.push(ServiceSpec {
                name: "notebook-viewer".into(),
                admin: false,
                url: Some("http://127.0.0.1:9".into()),
                api_token: Some("notebook-viewer-token-0123456789".into()),
                display: true,
                oauth_no_confirm: false,
                oauth_redirect_uri: Some("/services/notebook-viewer/oauth_callback".into()),
                info: serde_json::json!({}),
            });
            settings.roles.push(jhub_hub::RoleSpec {
                name: "viewers".into(),
                description: None,
                scopes: vec!["access:services".into()],
                users: vec!["alice".into(), "carol".into()],
                groups: vec![],
                services: vec![],
            });
        }))
        .await;
    let screenshots = repo_root().join("artifacts/screenshots");
    let config = serde_json::json!({
        "hub": hub.url,
        "sim": hub.sim.as_ref().unwrap().url(),
        "chromium": tools.chromium,
        "nodeModules": tools.node_modules,
        "screenshots": screenshots,
    });
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser_flow.cjs");
    let (ok, output) = run(&tools, &script, &config).await;
    println!("{output}");
    assert!(ok, "browser flow failed:\n{output}");
    for check in [
        "ok - desktop: home shows alice",
        "ok - desktop: outsider sees the 403 page",
        "ok - phone: home shows carol",
        "ok - phone spawn form: no horizontal scroll",
        "ok - desktop: landed on the server",
        "ok - phone: landed on the server",
        "ok - phone: progress stream opened with _xsrf",
        "ok - desktop: revoked through the REST API",
        "ok - phone: stop button stopped the server",
        "done",
    ] {
        assert!(output.contains(check), "missing {check:?} in\n{output}");
    }
    assert!(screenshots.join("phone-07-spawn-form.png").is_file());
    // The hub really logged them in and the form's choice reached the spawner.
    let options = hub.hub.read().user("alice").unwrap().servers.get("").unwrap().server.user_options.clone();
    assert_eq!(options, serde_json::json!({"profile": "gpu-fen-qu", "image": "P100x1"}));
    assert!(!hub.spawner.is_running("alice", "") && !hub.spawner.is_running("carol", ""), "stopped from the home page");
}
