//! Routing, headers and the scope check, end to end over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::Value;

#[tokio::test]
async fn root_version_headers_and_whoami() {
    let hub = common::start().await;
    let client = hub.client();
    for path in ["/hub/api", "/hub/api/"] {
        let response = client.get(format!("{}{path}", hub.url)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["x-jupyterhub-version"], "6.1.1");
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["version"], "6.1.1");
    }
    // Unauthenticated: 403 with JupyterHub's message, version header on errors too.
    let response = client.get(hub.api("/user")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(response.headers()["x-jupyterhub-version"], "6.1.1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": 403, "message": "Missing or invalid credentials."}));
    // ?token= is never accepted on the hub.
    let response = client.get(format!("{}?token={}", hub.api("/user"), hub.admin_token)).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let response = client
        .get(hub.api("/user"))
        .header("Authorization", format!("token {}", hub.admin_token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], "admin");
    assert_eq!(body["kind"], "user");
    assert!(body["token_id"].as_str().unwrap().starts_with('a'));
    // Unknown API paths are JSON 404s.
    let response = client.get(hub.api("/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], 404);
    // Outside /hub/: prefix redirect.
    let response = client.get(format!("{}/user/alice/lab?x=1", hub.url)).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "/hub/user/alice/lab?x=1");
    let response = client.get(format!("{}/hub/health", hub.url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn info_needs_read_hub() {
    let hub = common::start().await;
    let client = hub.client();
    let user_token = {
        hub.hub.create_user("alice", false).await.unwrap();
        hub.hub.create_token("alice", Default::default()).await.unwrap().secret
    };
    let response =
        client.get(hub.api("/info")).header("Authorization", format!("bearer {user_token}")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], "Action is not authorized with current scopes; requires any of [read:hub]");
    let response = client
        .get(hub.api("/info"))
        .header("Authorization", format!("token {}", hub.admin_token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
