//! Servers over HTTP: start/stop status codes (201/202/204 with empty
//! `text/plain` bodies), named servers (create, edit, remove), the
//! back-compat body, the progress event stream, and the idle culler's exact
//! request sequence replayed by hand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use futures::StreamExt;
use jhub_hub::fakes::FakeSpawner;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

async fn raw(hub: &common::TestHub, method: Method, path: &str, body: Option<&str>) -> (u16, String, String) {
    let mut request = hub.req(method, path, &hub.admin_token);
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn start_and_stop_the_default_server() {
    let hub = common::start().await;
    hub.hub.create_user("ann", false).await.unwrap();
    let (status, content_type, body) = raw(&hub, Method::POST, "/users/ann/server", None).await;
    assert_eq!((status, content_type.as_str(), body.as_str()), (201, "text/plain", ""));
    assert!(hub.spawner.is_running("ann", ""));
    assert!(hub.proxy.targets().contains_key("/user/ann/"), "routed before 201");
    let (status, body) = hub.admin(Method::POST, "/users/ann/server", None).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (400, "ann is already running"));
    let (status, server) = hub.admin(Method::GET, "/users/ann/server", None).await;
    assert_eq!(status, 200);
    assert_eq!((server["ready"].as_bool(), server["url"].as_str()), (Some(true), Some("/user/ann/")));
    assert_eq!(server["state"], json!({"fake": true}), "admin:server_state shows spawner state");
    assert_eq!(server["progress_url"], "/hub/api/users/ann/server/progress");
    let (_, user) = hub.admin(Method::GET, "/users/ann", None).await;
    assert_eq!(user["server"], "/user/ann/");
    assert_eq!(user["servers"][""]["full_name"], "ann/");
    // Stop: 204 text/plain, empty; stopping again is still 204.
    let (status, content_type, body) = raw(&hub, Method::DELETE, "/users/ann/server", None).await;
    assert_eq!((status, content_type.as_str(), body.as_str()), (204, "text/plain", ""));
    assert!(!hub.spawner.is_running("ann", ""));
    assert!(!hub.proxy.targets().contains_key("/user/ann/"));
    let (status, _, _) = raw(&hub, Method::DELETE, "/users/ann/server", None).await;
    assert_eq!(status, 204);
    // The admin UI's form of the default server.
    let (status, _, _) = raw(&hub, Method::POST, "/users/ann/servers/", None).await;
    assert_eq!(status, 201);
    let (status, server) = hub.admin(Method::GET, "/users/ann/servers/", None).await;
    assert_eq!((status, server["name"].as_str()), (200, Some("")));
    let (status, _, _) = raw(&hub, Method::DELETE, "/users/ann/servers/", None).await;
    assert_eq!(status, 204);
    let (status, _) = hub.admin(Method::POST, "/users/nobody/server", None).await;
    assert_eq!(status, 404);
    let (status, body) = hub.admin(Method::DELETE, "/users/ann/server", Some(json!({"remove": true}))).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (400, "Cannot delete the default server"));
}

#[tokio::test]
async fn slow_spawns_answer_202_and_stream_progress() {
    let spawner = Arc::new(FakeSpawner::serving_after(Duration::from_millis(1500)));
    let hub = common::start_opts(common::Options { spawner: Some(spawner), ..Default::default() }, |_, web| {
        web.slow_spawn_timeout = Duration::from_millis(200);
    })
    .await;
    hub.hub.create_user("bea", false).await.unwrap();
    let (status, content_type, body) = raw(&hub, Method::POST, "/users/bea/server", None).await;
    assert_eq!((status, content_type.as_str(), body.as_str()), (202, "text/plain", ""));
    let (_, user) = hub.admin(Method::GET, "/users/bea", None).await;
    assert_eq!(user["pending"], "spawn");
    assert_eq!(user["servers"][""]["ready"], false);
    // A second request while pending is also 202.
    let (status, _, _) = raw(&hub, Method::POST, "/users/bea/server", None).await;
    assert_eq!(status, 202);
    // The event stream: blank keepalive first, data events, then ready, then closed.
    let response = hub.req(Method::GET, "/users/bea/server/progress", &hub.admin_token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let mut text = String::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert!(text.starts_with("\n\n"), "{text:?}");
    let events: Vec<Value> = text
        .split("\n\n")
        .filter_map(|block| block.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    assert_eq!(events[0], json!({"progress": 0, "message": "Server requested"}));
    assert_eq!(events[1], json!({"progress": 50, "message": "Spawning server..."}));
    assert_eq!(
        events.last().unwrap(),
        &json!({"progress": 100, "ready": true, "message": "Server ready at /user/bea/",
                "html_message": "Server ready at <a href=\"/user/bea/\">/user/bea/</a>", "url": "/user/bea/"})
    );
    // Ready: one ready event.
    let text = hub
        .req(Method::GET, "/users/bea/server/progress", &hub.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text.matches("data: ").count(), 1);
    assert!(text.contains("\"ready\":true"));
    // Not starting: 400 JSON.
    raw(&hub, Method::DELETE, "/users/bea/server", None).await;
    let (status, body) = hub.admin(Method::GET, "/users/bea/server/progress", None).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (400, "bea is not starting..."));
    let (status, _) = hub.admin(Method::GET, "/users/bea/servers/nope/progress", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn failed_spawns_show_in_the_progress_stream() {
    let spawner = Arc::new(FakeSpawner::serving());
    *spawner.fail_with.lock().unwrap() = Some("image pull failed".into());
    let hub =
        common::start_opts(common::Options { spawner: Some(spawner.clone()), ..Default::default() }, |_, _| {}).await;
    hub.hub.create_user("cal", false).await.unwrap();
    let (status, body) = hub.admin(Method::POST, "/users/cal/server", None).await;
    assert_eq!(status, 500);
    assert!(body["message"].as_str().unwrap().contains("image pull failed"), "{body}");
    let text = hub
        .req(Method::GET, "/users/cal/server/progress", &hub.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let event: Value = serde_json::from_str(text.trim().strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(event["failed"], true);
    assert_eq!(event["progress"], 100);
    assert!(event["message"].as_str().unwrap().starts_with("Spawn failed: "), "{event}");
    // Options the spawner refuses are a 400 before anything starts.
    *spawner.fail_with.lock().unwrap() = None;
    let (status, _) = hub.admin(Method::POST, "/users/cal/server", Some(json!({"invalid": 1}))).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn named_servers_lifecycle() {
    let hub = common::start_with(|s, _| s.named_server_limit_per_user = 2).await;
    hub.hub.create_user("dan", false).await.unwrap();
    // PUT creates without starting, 409 for existing or default.
    let (status, server) = hub
        .admin(
            Method::PUT,
            "/users/dan/servers/gpu",
            Some(json!({"display_name": "My GPU", "user_options": {"image": "x"}})),
        )
        .await;
    assert_eq!(status, 201, "{server}");
    assert_eq!((server["display_name"].as_str(), server["stopped"].as_bool()), (Some("My GPU"), Some(true)));
    assert_eq!(server["user_options"], json!({"image": "x"}));
    let (status, _) = hub.admin(Method::PUT, "/users/dan/servers/gpu", None).await;
    assert_eq!(status, 409);
    let (status, body) = hub.admin(Method::PUT, "/users/dan/server", None).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (409, "User dan already has a default server"));
    for (path, message) in [
        ("/users/dan/servers/Bad_Name", "Invalid server_name: Bad_Name"),
        ("/users/dan/servers/a--b", "Invalid server_name: a--b"),
    ] {
        let (status, body) = hub.admin(Method::PUT, path, None).await;
        assert_eq!((status, body["message"].as_str().unwrap()), (400, message));
    }
    let (status, body) = hub.admin(Method::PUT, "/users/dan/servers/x1", Some(json!({"display_name": " lead"}))).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (400, "Invalid display_name:  lead"));
    // Starting reuses stored options when none are given (back-compat body form too).
    let (status, _) = hub.admin(Method::POST, "/users/dan/servers/gpu", None).await;
    assert_eq!(status, 201);
    assert_eq!(hub.hub.read().user("dan").unwrap().servers["gpu"].server.user_options, json!({"image": "x"}));
    let (status, body) = hub.admin(Method::PATCH, "/users/dan/servers/gpu", Some(json!({"display_name": "New"}))).await;
    assert_eq!(
        (status, body["message"].as_str().unwrap()),
        (400, "dan:gpu is active. Please stop it before modifying it.")
    );
    let (status, _, _) = raw(&hub, Method::DELETE, "/users/dan/servers/gpu", None).await;
    assert_eq!(status, 204);
    let (status, _) = hub.admin(Method::POST, "/users/dan/servers/gpu", Some(json!({"image": "y"}))).await;
    assert_eq!(status, 201);
    assert_eq!(hub.hub.read().user("dan").unwrap().servers["gpu"].server.user_options, json!({"image": "y"}));
    raw(&hub, Method::DELETE, "/users/dan/servers/gpu", None).await;
    // The limit counts named servers.
    let (status, _) = hub.admin(Method::PUT, "/users/dan/servers/two", None).await;
    assert_eq!(status, 201);
    let (status, body) = hub.admin(Method::POST, "/users/dan/servers/three", None).await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("already has the maximum of 2 named servers"));
    // PATCH: rename, options, unknown fields (400, where JupyterHub 6.1.1 answers 500).
    let (status, body) = hub.admin(Method::PATCH, "/users/dan/servers/gpu", Some(json!({"bogus": 1}))).await;
    assert_eq!(
        (status, body["message"].as_str().unwrap()),
        (400, "Unexpected fields: bogus, supported fields: display_name,name,user_options")
    );
    let (status, _) = hub.admin(Method::PATCH, "/users/dan/servers/gpu", Some(json!({}))).await;
    assert_eq!(status, 400);
    let (status, _) = hub.admin(Method::PATCH, "/users/dan/servers/gpu", Some(json!({"name": "two"}))).await;
    assert_eq!(status, 409);
    let (status, server) = hub
        .admin(Method::PATCH, "/users/dan/servers/gpu", Some(json!({"name": "big", "user_options": {"z": 1}})))
        .await;
    assert_eq!(status, 200, "{server}");
    assert_eq!((server["name"].as_str(), server["display_name"].as_str()), (Some("big"), Some("big")));
    assert_eq!(server["user_options"], json!({"z": 1}));
    let (status, _) = hub.admin(Method::GET, "/users/dan/servers/gpu", None).await;
    assert_eq!(status, 404);
    let (status, _) = hub.admin(Method::PATCH, "/users/dan/servers/nope", Some(json!({"display_name": "x"}))).await;
    assert_eq!(status, 404);
    // DELETE with remove deletes the row; unknown named servers are 404.
    let (status, _, _) = raw(&hub, Method::DELETE, "/users/dan/servers/big", Some(r#"{"remove": true}"#)).await;
    assert_eq!(status, 204);
    assert!(!hub.hub.read().user("dan").unwrap().servers.contains_key("big"));
    let (status, body) = hub.admin(Method::DELETE, "/users/dan/servers/big", None).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (404, "dan has no server named 'big'"));
    let (status, _) = hub.admin(Method::DELETE, "/users/dan/servers/two", Some(json!({"remove": "yes"}))).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn named_servers_can_be_disabled() {
    let hub = common::start_with(|s, _| s.allow_named_servers = false).await;
    hub.hub.create_user("eli", false).await.unwrap();
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let (status, body) = hub.admin(method.clone(), "/users/eli/servers/gpu", None).await;
        assert_eq!((status, body["message"].as_str().unwrap()), (400, "Named servers are not enabled."), "{method}");
    }
}

/// The fake spawner with stops that take a while.
struct SlowStops(Arc<FakeSpawner>);

#[async_trait::async_trait]
impl jhub_core::ports::Spawner for SlowStops {
    fn validate_options(
        &self,
        user: &jhub_core::ports::SpawnUser,
        server: &str,
        options: &Value,
    ) -> Result<Value, jhub_core::ports::SpawnError> {
        self.0.validate_options(user, server, options)
    }
    async fn start(
        &self,
        request: jhub_core::ports::SpawnRequest,
        progress: jhub_core::ports::ProgressSink,
    ) -> Result<jhub_core::ports::Started, jhub_core::ports::SpawnError> {
        self.0.start(request, progress).await
    }
    async fn stop(
        &self,
        user: &str,
        server: &str,
        state: &Value,
        now: bool,
    ) -> Result<(), jhub_core::ports::SpawnError> {
        tokio::time::sleep(Duration::from_millis(800)).await;
        self.0.stop(user, server, state, now).await
    }
    async fn poll(
        &self,
        user: &str,
        server: &str,
        state: &Value,
    ) -> Result<jhub_core::ports::PollStatus, jhub_core::ports::SpawnError> {
        self.0.poll(user, server, state).await
    }
}

#[tokio::test]
async fn slow_stops_answer_202() {
    let options =
        common::Options { wrap_spawner: Some(Box::new(|fake| Arc::new(SlowStops(fake)))), ..Default::default() };
    let hub = common::start_opts(options, |_, web| web.slow_stop_timeout = Duration::from_millis(100)).await;
    hub.hub.create_user("fin", false).await.unwrap();
    hub.admin(Method::POST, "/users/fin/server", None).await;
    let (status, _, body) = raw(&hub, Method::DELETE, "/users/fin/server", None).await;
    assert_eq!((status, body.as_str()), (202, ""));
    // Still stopping: another DELETE is 202 too, and the user model says so.
    let (_, user) = hub.admin(Method::GET, "/users/fin", None).await;
    assert_eq!(user["pending"], "stop");
    let (status, _, _) = raw(&hub, Method::DELETE, "/users/fin/server", None).await;
    assert_eq!(status, 202);
    let (status, body) = hub.admin(Method::POST, "/users/fin/server", None).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (400, "fin is pending stop"));
    hub.wait_for("the stop", |h| h.read().active_users.is_empty()).await;
}

/// The culler's requests (auth-culler-proxy §2.3), byte for byte where it
/// matters: the pagination Accept header on every request (DELETEs too), and
/// a JSON body without Content-Type.
#[tokio::test]
async fn idle_culler_request_sequence() {
    let hub = common::start().await;
    hub.hub.create_users(&["alice".into(), "bob".into(), "dave".into()], false).await.unwrap();
    hub.admin(Method::POST, "/users/alice/server", None).await;
    hub.admin(Method::POST, "/users/bob/servers/gpu", None).await;
    let client = hub.client();
    let auth = format!("token {}", hub.admin_token);
    let accept = "application/jupyterhub-pagination+json";
    let version: Value =
        client.get(hub.api("/")).header("Authorization", &auth).send().await.unwrap().json().await.unwrap();
    assert_eq!(version["version"], "6.1.1");
    let inactive: Value = client
        .get(hub.api("/users?state=inactive&limit=2"))
        .header("Authorization", &auth)
        .header("Accept", accept)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inactive["items"].as_array().unwrap().len(), 2);
    assert_eq!(inactive["_pagination"]["total"], 2, "admin and dave");
    assert_eq!(inactive["_pagination"]["next"], Value::Null);
    let mut ready = Vec::new();
    let mut url = hub.api("/users?limit=1&state=ready");
    for _ in 0..5 {
        let page: Value = client
            .get(&url)
            .header("Authorization", &auth)
            .header("Accept", accept)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ready.extend(page["items"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap().to_string()));
        match page["_pagination"]["next"]["url"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(ready, ["alice", "bob"]);
    // DELETE with Accept set and a JSON body without Content-Type.
    let response = client
        .delete(hub.api("/users/bob/servers/gpu"))
        .header("Authorization", &auth)
        .header("Accept", accept)
        .body(r#"{"remove": true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(!hub.hub.read().user("bob").unwrap().servers.contains_key("gpu"));
    let response = client
        .delete(hub.api("/users/alice/server"))
        .header("Authorization", &auth)
        .header("Accept", accept)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    // User deletion: the name is not URL-quoted by the culler.
    let response = client
        .delete(hub.api("/users/dave"))
        .header("Authorization", &auth)
        .header("Accept", accept)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(hub.hub.read().user("dave").is_none());
}

#[tokio::test]
async fn progress_stream_keeps_the_connection_alive_every_8_seconds() {
    let spawner = Arc::new(FakeSpawner::serving_after(Duration::from_secs(12)));
    let hub = common::start_opts(common::Options { spawner: Some(spawner), ..Default::default() }, |_, web| {
        web.slow_spawn_timeout = Duration::from_millis(50);
    })
    .await;
    hub.hub.create_user("kim", false).await.unwrap();
    assert_eq!(raw(&hub, Method::POST, "/users/kim/server", None).await.0, 202);
    let response = hub.req(Method::GET, "/users/kim/server/progress", &hub.admin_token).send().await.unwrap();
    let mut stream = response.bytes_stream();
    let started = std::time::Instant::now();
    let mut keepalives = Vec::new();
    while started.elapsed() < Duration::from_millis(8700) {
        match tokio::time::timeout(Duration::from_millis(200), stream.next()).await {
            Ok(Some(chunk)) => {
                if &chunk.unwrap()[..] == b"\n\n" {
                    keepalives.push(started.elapsed());
                }
            }
            Ok(None) => panic!("stream ended while the spawn is pending"),
            Err(_) => {}
        }
    }
    assert_eq!(keepalives.len(), 2, "one at once, one after 8 s: {keepalives:?}");
    assert!(keepalives[0] < Duration::from_secs(1));
    assert!(keepalives[1] >= Duration::from_millis(7900), "{keepalives:?}");
}

/// Past `concurrent_spawn_limit` a spawn waits in the spawn queue: the API
/// answers 202 at once (not after `slow_spawn_timeout`), the progress stream
/// shows the position, and the spawn starts when the slot frees.
#[tokio::test]
async fn queued_spawns_answer_202_and_stream_their_position() {
    let spawner = Arc::new(FakeSpawner::serving_after(Duration::from_millis(1500)));
    let hub = common::start_opts(common::Options { spawner: Some(spawner), ..Default::default() }, |hub, web| {
        hub.concurrent_spawn_limit = 1;
        web.slow_spawn_timeout = Duration::from_secs(5);
    })
    .await;
    hub.hub.create_users(&["ada".into(), "bo".into()], false).await.unwrap();
    let began = std::time::Instant::now();
    let command = jhub_hub::SpawnCommand { user: "ada".into(), ..Default::default() };
    let first = hub.hub.spawn(command).await.unwrap();
    assert!(!first.queued);
    let queued_at = std::time::Instant::now();
    let (status, _, body) = raw(&hub, Method::POST, "/users/bo/server", None).await;
    assert_eq!((status, body.as_str()), (202, ""));
    assert!(queued_at.elapsed() < Duration::from_secs(1), "a queued spawn answers at once");
    let (_, user) = hub.admin(Method::GET, "/users/bo", None).await;
    assert_eq!(user["pending"], "spawn");
    let response = hub.req(Method::GET, "/users/bo/server/progress", &hub.admin_token).send().await.unwrap();
    let mut text = String::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(20), stream.next()).await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert!(text.contains("Waiting in the spawn queue: position 1 of 1"), "{text}");
    assert!(text.contains("\"ready\":true"), "{text}");
    assert!(began.elapsed() >= Duration::from_millis(2900), "bo started only after ada's slot freed");
}
