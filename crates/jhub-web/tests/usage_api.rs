//! `GET /hub/api/usage` over HTTP with a fake clock: scope, exact numbers,
//! grouping, CSV, and clear errors for bad arguments.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use reqwest::Method;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn usage_report_json_and_csv() {
    let clock = Arc::new(jhub_core::ports::ManualClock::new(jhub_core::time::parse("2026-03-10T08:00:00Z").unwrap()));
    let hub = common::start_opts(common::Options { clock: Some(clock.clone()), ..Default::default() }, |_, _| {}).await;
    *hub.spawner.resources.lock().unwrap() = json!({"extra_resource_limits": {"nvidia.com/gpu": 1}, "cpu_limit": 2.0});
    hub.hub.create_user("gina", false).await.unwrap();
    let (status, _) = hub.admin(Method::POST, "/users/gina/server", Some(json!({"profile": "p100"}))).await;
    assert!(status == 201 || status == 202);
    hub.wait_for("ready", |h| h.read().user("gina").is_some_and(|e| e.any_ready())).await;
    clock.advance(Duration::from_secs(90 * 60));

    let (status, body) = hub.admin(Method::GET, "/usage?start=2026-03-10&end=2026-03-11&group_by=profile", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["group_by"], "profile");
    assert_eq!(body["start"], "2026-03-10T00:00:00Z");
    assert_eq!(
        body["rows"],
        json!([{"profile": "p100", "server_hours": 1.5, "gpu_hours": 1.5, "cpu_core_hours": 3.0, "gib_hours": 0.0, "sessions": 1}])
    );
    // Defaults: this month, by user, up to now.
    let (status, body) = hub.admin(Method::GET, "/usage", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (body["start"].as_str(), body["end"].as_str()),
        (Some("2026-03-01T00:00:00Z"), Some("2026-03-10T09:30:00Z"))
    );
    assert_eq!(body["rows"][0]["user"], "gina");

    let response = hub
        .req(Method::GET, "/usage?start=2026-03-10&end=2026-03-11&group_by=day", &hub.admin_token)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        response.text().await.unwrap(),
        "day,server_hours,gpu_hours,cpu_core_hours,gib_hours,sessions\r\n2026-03-10,1.5,1.5,3,0,1\r\n"
    );

    // Scope: read:usage (admins have it), not plain users.
    let gina = hub.token_for("gina", None).await;
    assert_eq!(hub.get("/usage", &gina).await.0, 403);
    // Bad input: 400 with a message that says what to do.
    for (query, fragment) in [
        ("/usage?group_by=team", "use one of user, group, profile, node, day"),
        ("/usage?start=yesterday", "not an ISO 8601"),
        ("/usage?start=2026-03-02&end=2026-03-01", "must be after start"),
    ] {
        let (status, body) = hub.admin(Method::GET, query, None).await;
        assert_eq!(status, 400, "{query}");
        assert!(body["message"].as_str().unwrap().contains(fragment), "{query}: {body}");
    }
}
