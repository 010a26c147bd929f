//! Live GPU capacity in the web layer: the spawn page's "— N free" / "— none
//! free, you will wait" labels, `GET /hub/api/jhub/capacity`, and what both
//! do when the hub does not know the capacity (no numbers, no error).
//! The capacity view is the fake (`jhub_hub::fakes::FakeCapacity`); the
//! real one is tested against the Kubernetes simulator in `jhub-kube`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pages_support;

use jhub_core::capacity::{CapacityReport, NodeFree, OptionCapacity};
use jhub_hub::fakes::FakeCapacity;
use jhub_podspec::profiles::ProfileList;
use pages_support::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

fn profiles() -> ProfileList {
    ProfileList::from_config(&json!([
        {"display_name": "CPU", "default": true},
        {"display_name": "GPU", "slug": "gpu",
         "profile_options": {"image": {"display_name": "Resources", "choices": {
            "A100x1": {"display_name": "A100 x1", "kubespawner_override": {"node_selector": {"gputype": "A100"}, "extra_resource_limits": {"nvidia.com/gpu": "1"}}},
            "P100x1": {"display_name": "P100 x1", "kubespawner_override": {"node_selector": {"gputype": "P100"}, "extra_resource_limits": {"nvidia.com/gpu": "1"}}}}}}},
        {"display_name": "Whole node", "slug": "whole", "kubespawner_override": {"extra_resource_limits": {"nvidia.com/gpu": "2"}}}
    ]))
    .unwrap()
}

fn option(profile: &str, choice: Option<&str>, free: u64, node: &str) -> OptionCapacity {
    OptionCapacity {
        profile: profile.into(),
        option: choice.map(|_| "image".to_string()),
        choice: choice.map(str::to_string),
        free,
        requests: BTreeMap::from([("nvidia.com/gpu".to_string(), "1".to_string())]),
        nodes: vec![NodeFree { name: node.into(), free }],
    }
}

fn report() -> CapacityReport {
    CapacityReport {
        options: vec![
            option("gpu", Some("A100x1"), 3, "l1"),
            option("gpu", Some("P100x1"), 0, "l2"),
            option("whole", None, 1, "l1"),
        ],
    }
}

async fn hub_with(capacity: Option<Arc<FakeCapacity>>) -> TestHub {
    let hub = start(Opts::default().configure(|_, web| web.profile_list = Some(profiles()))).await;
    if let Some(capacity) = capacity {
        assert!(hub.app.set_capacity(capacity));
    }
    hub
}

#[tokio::test]
async fn spawn_page_shows_free_counts_and_full_options_stay_selectable() {
    let capacity = Arc::new(FakeCapacity::default());
    capacity.set(Some(report()));
    let hub = hub_with(Some(capacity.clone())).await;
    let browser = hub.logged_in("alice").await;
    hub.hub.create_group("gpu-users", &["alice".to_string()]).await.unwrap();
    let html = browser.get(hub.at("/hub/spawn")).send().await.unwrap().text().await.unwrap();
    for expected in [
        "<option value=\"A100x1\" selected data-capacity-key=\"gpu|image|A100x1\" data-label=\"A100 x1\">A100 x1 — 3 free</option>",
        // Full: still an ordinary, enabled choice; the server will wait.
        "<option value=\"P100x1\" data-capacity-key=\"gpu|image|P100x1\" data-label=\"P100 x1\">P100 x1 — none free, you will wait</option>",
        "<span class=\"capacity\" data-capacity-key=\"whole||\">1 free</span>",
        "data-capacity-url=\"/hub/api/jhub/capacity\"",
    ] {
        assert!(html.contains(expected), "missing {expected:?} in\n{html}");
    }
    assert!(!html.contains("disabled"), "no option is disabled");
    assert_eq!(capacity.asked.lock().unwrap().last().unwrap(), &["gpu-users".to_string()], "asked for alice's groups");

    // The API the page polls, with the same cookie.
    let response = browser.get(hub.at("/hub/api/jhub/capacity")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["available"], true);
    assert_eq!(body["options"][0]["key"], "gpu|image|A100x1");
    assert_eq!(body["options"][0]["label"], "3 free");
    assert_eq!(body["options"][0]["free"], 3);
    assert_eq!(body["options"][0]["requests"], json!({"nvidia.com/gpu": "1"}));
    assert_eq!(body["options"][0]["nodes"], json!([{"name": "l1", "free": 3}]));
    assert_eq!(body["options"][1]["label"], "none free, you will wait");
    assert_eq!(body["options"][2]["key"], "whole||");

    // Numbers change with the view.
    let mut fewer = report();
    fewer.options[0].free = 1;
    capacity.set(Some(fewer));
    let html = browser.get(hub.at("/hub/spawn")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("A100 x1 — 1 free"), "{html}");
}

#[tokio::test]
async fn unknown_capacity_shows_no_numbers_and_is_no_error() {
    for capacity in [None, Some(Arc::new(FakeCapacity::default()))] {
        let hub = hub_with(capacity).await;
        let browser = hub.logged_in("alice").await;
        let page = browser.get(hub.at("/hub/spawn")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("<option value=\"A100x1\" selected>A100 x1</option>"), "{html}");
        assert!(!html.contains("free") && !html.contains("data-capacity"), "{html}");
        let response = browser.get(hub.at("/hub/api/jhub/capacity")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.json::<Value>().await.unwrap(), json!({"available": false, "options": []}));
    }
}

#[tokio::test]
async fn the_capacity_api_needs_credentials() {
    let capacity = Arc::new(FakeCapacity::default());
    capacity.set(Some(report()));
    let hub = hub_with(Some(capacity.clone())).await;
    let response = browser().get(hub.at("/hub/api/jhub/capacity")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(capacity.asked.lock().unwrap().is_empty(), "nothing computed for an anonymous caller");
}

#[tokio::test]
async fn metrics_carry_free_servers_per_option_only_when_known() {
    let capacity = Arc::new(FakeCapacity::default());
    let hub = start(Opts::default().configure(|_, web| {
        web.profile_list = Some(profiles());
        web.authenticate_prometheus = false;
    }))
    .await;
    assert!(hub.app.set_capacity(capacity.clone()));
    let text = browser().get(hub.at("/hub/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("jhub_capacity_free_servers"), "unknown: no family");
    capacity.set(Some(report()));
    let text = browser().get(hub.at("/hub/metrics")).send().await.unwrap().text().await.unwrap();
    for line in [
        "# TYPE jhub_capacity_free_servers gauge",
        "jhub_capacity_free_servers{choice=\"A100x1\",option=\"image\",profile=\"gpu\"} 3",
        "jhub_capacity_free_servers{choice=\"P100x1\",option=\"image\",profile=\"gpu\"} 0",
        "jhub_capacity_free_servers{choice=\"\",option=\"\",profile=\"whole\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    assert_eq!(capacity.asked.lock().unwrap().last().unwrap(), &Vec::<String>::new(), "options open to everyone");
}
