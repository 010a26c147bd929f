//! `/hub/metrics` against the real JupyterHub 6.1.1 (`JHUB_REAL_JUPYTERHUB`
//! from `scripts/install-tools singleuser`, CHP from `JHUB_CHP`): both hubs
//! run on loopback with authentication of Prometheus off, get the same
//! requests, and their `jupyterhub_*` families must agree in name, type,
//! help, label names, histogram bounds and the series that exist (the ones
//! created at start-up, and the request series the same requests make).
//! Plus jhub's own metrics and `authenticate_prometheus`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "../../../tests/support/free_port.rs"]
mod free_port;

use reqwest::Method;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One family of the text format: type, help, and its samples as
/// (sample name, labels without `le`, `le`).
#[derive(Debug, Default)]
struct FamilyText {
    kind: String,
    help: String,
    samples: Vec<(String, BTreeMap<String, String>, Option<String>)>,
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    // Values here never contain `",`; split on it after stripping the braces.
    let mut out = BTreeMap::new();
    let mut rest = text;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].trim_start_matches(',').to_string();
        let after = &rest[eq + 2..];
        let mut end = 0;
        let bytes = after.as_bytes();
        while end < bytes.len() {
            if bytes[end] == b'\\' {
                end += 2;
                continue;
            }
            if bytes[end] == b'"' {
                break;
            }
            end += 1;
        }
        out.insert(name, after[..end.min(after.len())].to_string());
        rest = &after[(end + 1).min(after.len())..];
    }
    out
}

fn parse(text: &str) -> BTreeMap<String, FamilyText> {
    let mut families: BTreeMap<String, FamilyText> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            families.entry(name.to_string()).or_default().help = help.to_string();
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            families.entry(name.to_string()).or_default().kind = kind.to_string();
            current = name.to_string();
        } else if line.starts_with('#') || line.trim().is_empty() {
            continue;
        } else {
            let (series, _value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name.to_string(), parse_labels(labels.trim_end_matches('}'))),
                None => (series.to_string(), BTreeMap::new()),
            };
            let mut labels = labels;
            let le = labels.remove("le");
            assert!(name.starts_with(&current), "sample {name} outside its family {current}");
            families.get_mut(&current).unwrap().samples.push((name, labels, le));
        }
    }
    families.retain(|name, _| name.starts_with("jupyterhub_"));
    families
}

/// What the comparison looks at, per family.
fn shape(f: &FamilyText) -> (String, String, BTreeSet<Vec<String>>, BTreeSet<String>, BTreeSet<String>) {
    let label_names: BTreeSet<Vec<String>> = f.samples.iter().map(|(_, l, _)| l.keys().cloned().collect()).collect();
    let series: BTreeSet<String> = f
        .samples
        .iter()
        .map(|(name, labels, _)| {
            let suffix = name.rsplit('_').next().unwrap_or("");
            format!("{suffix} {labels:?}")
        })
        .collect();
    let les: BTreeSet<String> = f.samples.iter().filter_map(|(_, _, le)| le.clone()).collect();
    (f.kind.clone(), f.help.clone(), label_names, les, series)
}

async fn wait_up(client: &reqwest::Client, url: &str, log: &std::path::Path) {
    for _ in 0..300 {
        if let Ok(response) = client.get(url).send().await
            && response.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("real JupyterHub did not come up:\n{}", std::fs::read_to_string(log).unwrap_or_default());
}

/// The same requests to a hub at `base` (`http://host:port`), then its metrics text.
async fn exercise(client: &reqwest::Client, base: &str) -> String {
    for path in ["/hub/api/", "/hub/api/", "/hub/login", "/hub/api/no-such-thing", "/hub/metrics"] {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        let _ = response.bytes().await;
    }
    let response = client.get(format!("{base}/hub/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("text/plain; version=1.0.0; charset=utf-8")
    );
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_real_jupyterhub() {
    let Some(jupyterhub) = common::external_tool("JHUB_REAL_JUPYTERHUB", "singleuser chp") else { return };
    let Some(chp) = common::external_tool("JHUB_CHP", "chp") else { return };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (public, hub_port, api) = (free_port::free_port(), free_port::free_port(), free_port::free_port());
    let config = format!(
        "c = get_config()\n\
         c.JupyterHub.ip = '127.0.0.1'\n\
         c.JupyterHub.port = {public}\n\
         c.JupyterHub.hub_ip = '127.0.0.1'\n\
         c.JupyterHub.hub_port = {hub_port}\n\
         c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{api}'\n\
         c.ConfigurableHTTPProxy.command = [{chp:?}]\n\
         c.JupyterHub.authenticator_class = 'dummy'\n\
         c.JupyterHub.authenticate_prometheus = False\n\
         c.JupyterHub.db_url = 'sqlite:///jh.sqlite'\n\
         c.JupyterHub.cookie_secret_file = 'cookie_secret'\n"
    );
    std::fs::write(dir.path().join("jupyterhub_config.py"), config).unwrap();
    let log_path = dir.path().join("hub.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = tokio::process::Command::new(&jupyterhub)
        .args(["-f", "jupyterhub_config.py"])
        .current_dir(dir.path())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let real_base = format!("http://127.0.0.1:{hub_port}");
    wait_up(&client, &format!("{real_base}/hub/api/"), &log_path).await;
    let real = exercise(&client, &real_base).await;
    // SIGTERM, not SIGKILL: JupyterHub then stops the CHP it started (a
    // killed JupyterHub leaves its proxy running after the test).
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    }
    if tokio::time::timeout(std::time::Duration::from_secs(15), child.wait()).await.is_err() {
        let _ = child.start_kill();
    }

    let hub = common::start_with(|_, web| web.authenticate_prometheus = false).await;
    let ours = exercise(&client, &hub.url).await;

    let (real_families, our_families) = (parse(&real), parse(&ours));
    let real_names: BTreeSet<&String> = real_families.keys().collect();
    let our_names: BTreeSet<&String> = our_families.keys().collect();
    assert_eq!(
        our_names, real_names,
        "jupyterhub_* families differ\n--- real JupyterHub 6.1.1:\n{real}\n--- jhub:\n{ours}"
    );
    for (name, real_family) in &real_families {
        let (real_shape, our_shape) = (shape(real_family), shape(&our_families[name]));
        assert_eq!(our_shape, real_shape, "family {name} differs (kind, help, label names, le, series)");
    }
    // A few values the comparison does not look at.
    assert!(ours.contains("jupyterhub_total_users 1.0\n"), "the admin user:\n{ours}");
    assert!(ours.contains("jupyterhub_hub_startup_duration_seconds_count 1.0\n"), "{ours}");
    assert!(ours.contains("jupyterhub_init_spawners_duration_seconds_count 1.0\n"), "{ours}");
}

#[tokio::test]
async fn metrics_need_read_metrics_unless_configured_off() {
    let hub = common::start_with(|s, _| {
        s.initial_users.push("prometheus".into());
        s.roles.push(jhub_hub::RoleSpec {
            name: "scraper".into(),
            description: None,
            scopes: vec!["read:metrics".into()],
            users: vec!["prometheus".into()],
            groups: vec![],
            services: vec![],
        });
    })
    .await;
    let client = hub.client();
    // Anonymous: the HTML 403 page on /hub/metrics, JSON on the API path.
    let response = client.get(format!("{}/hub/metrics", hub.url)).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(hub.get("/metrics", "").await.0, 403);
    // A user without read:metrics is refused; the admin (and a token with the scope) may read.
    let alice = hub.token_for("alice", None).await;
    let response =
        client.get(format!("{}/hub/metrics", hub.url)).header("Authorization", format!("token {alice}")).send().await;
    assert_eq!(response.unwrap().status(), 403);
    let scraper = hub.token_for("prometheus", Some(&["read:metrics"])).await;
    for path in ["/hub/metrics", "/hub/api/metrics"] {
        let response =
            client.get(format!("{}{path}", hub.url)).header("Authorization", format!("token {scraper}")).send().await;
        let response = response.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.text().await.unwrap().contains("# TYPE jupyterhub_running_servers gauge"));
    }
    let open = common::start_with(|_, web| web.authenticate_prometheus = false).await;
    let response = client.get(format!("{}/hub/metrics", open.url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn gpu_gauge_running_servers_and_active_users_follow_the_hub() {
    let clock = std::sync::Arc::new(jhub_core::ports::ManualClock::new(
        jhub_core::time::parse("2026-03-01T00:00:00Z").unwrap(),
    ));
    let options = common::Options { clock: Some(clock.clone()), ..Default::default() };
    let hub = common::start_opts(options, |_, _| {}).await;
    *hub.spawner.resources.lock().unwrap() = json!({
        "cpu_guarantee": 4.0,
        "extra_resource_limits": {"nvidia.com/gpu": "2"},
        "node": "gpu-a100-1",
    });
    hub.hub.create_user("gina", false).await.unwrap();
    let (status, body) = hub.admin(Method::POST, "/users/gina/server", Some(json!({"profile": "a100"}))).await;
    assert!(status == 201 || status == 202, "{status} {body}");
    hub.wait_for("gina ready", |h| h.read().user("gina").is_some_and(|e| e.any_ready())).await;
    let text = hub.hub.metrics_text();
    assert!(text.contains("jupyterhub_running_servers 1.0\n"), "{text}");
    assert!(
        text.contains("jhub_gpus_allocated{node=\"gpu-a100-1\",profile=\"a100\",resource=\"nvidia.com/gpu\"} 2.0\n"),
        "{text}"
    );
    // Active users: gina was active now; 8 days later only the 30d window holds them.
    hub.hub.update_active_users();
    let text = hub.hub.metrics_text();
    // gina and the admin (whose token the harness just used).
    assert!(text.contains("jupyterhub_active_users{period=\"24h\"} 2.0\n"), "{text}");
    hub.hub.flush_activity().await;
    clock.advance(Duration::from_secs(8 * 86_400));
    hub.hub.update_active_users();
    let text = hub.hub.metrics_text();
    assert!(text.contains("jupyterhub_active_users{period=\"24h\"} 0.0\n"), "{text}");
    assert!(text.contains("jupyterhub_active_users{period=\"7d\"} 0.0\n"), "{text}");
    assert!(text.contains("jupyterhub_active_users{period=\"30d\"} 2.0\n"), "{text}");
    // Stopped: the GPU series disappears.
    let (status, _) = hub.admin(Method::DELETE, "/users/gina/server", None).await;
    assert!(status == 204 || status == 202);
    hub.wait_for("gina stopped", |h| h.read().user("gina").is_some_and(|e| !e.any_active())).await;
    let text = hub.hub.metrics_text();
    assert!(text.contains("jupyterhub_running_servers 0.0\n"), "{text}");
    assert!(!text.contains("jhub_gpus_allocated{"), "{text}");
    assert!(text.contains("jupyterhub_server_stop_seconds_count{status=\"success\"} 1.0\n"), "{text}");
    // The hub's own route and gina's (and any re-add by the reconciler).
    assert!(!text.contains("jupyterhub_proxy_add_duration_seconds_count{status=\"success\"} 0.0\n"), "{text}");
    assert!(!text.contains("jupyterhub_proxy_delete_duration_seconds_count{status=\"success\"} 0.0\n"), "{text}");
    assert!(!text.contains("jupyterhub_proxy_poll_duration_seconds_count 0.0\n"), "{text}");
}
