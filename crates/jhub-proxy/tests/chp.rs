//! ChpProxy against the real configurable-http-proxy 5.3.0 (installed by
//! `scripts/install-tools chp`, path in `JHUB_CHP`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jhub_core::ports::Proxy;
use jhub_proxy::ChpProxy;
use serde_json::{Map, Value, json};
use std::process::Stdio;
use std::time::Duration;

#[path = "../../../tests/support/free_port.rs"]
mod free_port;
use free_port::free_port;

struct Chp {
    child: tokio::process::Child,
    api: String,
    public: String,
}

impl Drop for Chp {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn start_chp(api_port: u16, token: &str) -> Option<Chp> {
    let Ok(binary) = std::env::var("JHUB_CHP") else {
        if std::env::var("JHUB_SKIP_EXTERNAL").as_deref() == Ok("1") {
            eprintln!("skipped: JHUB_CHP not set and JHUB_SKIP_EXTERNAL=1");
            return None;
        }
        panic!("JHUB_CHP is not set: run `eval \"$(scripts/install-tools chp)\"` (or scripts/test)");
    };
    let port = free_port();
    let child = tokio::process::Command::new(binary)
        .args([
            "--ip",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--api-ip",
            "127.0.0.1",
            "--api-port",
            &api_port.to_string(),
        ])
        .env("CONFIGPROXY_AUTH_TOKEN", token)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let api = format!("http://127.0.0.1:{api_port}");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("{api}/api/routes"))
            .header("Authorization", format!("token {token}"))
            .send()
            .await
            .is_ok()
        {
            return Some(Chp { child, api, public: format!("http://127.0.0.1:{port}") });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("CHP did not start");
}

fn data(pairs: Value) -> Map<String, Value> {
    match pairs {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[tokio::test]
async fn routes_round_trip_through_real_chp() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let token = "test-secret-token";
    let Some(chp) = start_chp(free_port(), token).await else { return };
    let proxy = ChpProxy::new(&chp.api, token.to_string().into()).unwrap();
    proxy.add_route("/", "http://127.0.0.1:9", data(json!({"hub": true}))).await.unwrap();
    proxy
        .add_route(
            "/user/Zhong.Ger@Lab/GPU%20test/",
            "http://127.0.0.1:10",
            data(json!({"user": "Zhong.Ger@Lab", "server_name": "GPU test"})),
        )
        .await
        .unwrap();
    // A route someone else added, without the marker: never reported or touched.
    let raw = reqwest::Client::new();
    let response = raw
        .post(format!("{}/api/routes/other", chp.api))
        .header("Authorization", format!("token {token}"))
        .json(&json!({"target": "http://127.0.0.1:11"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let routes = proxy.get_all_routes().await.unwrap();
    assert_eq!(routes.keys().cloned().collect::<Vec<_>>(), vec!["/", "/user/Zhong.Ger@Lab/GPU%20test/"]);
    let user = &routes["/user/Zhong.Ger@Lab/GPU%20test/"];
    assert_eq!(user.target, "http://127.0.0.1:10");
    assert_eq!(user.data["server_name"], "GPU test");
    assert!(user.data.contains_key("last_activity"), "CHP's activity is passed through");
    let single = proxy.get_route("/user/Zhong.Ger@Lab/GPU%20test/").await.unwrap().unwrap();
    assert_eq!(single.target, "http://127.0.0.1:10");
    assert!(proxy.get_route("/user/nobody/").await.unwrap().is_none());

    proxy.delete_route("/user/Zhong.Ger@Lab/GPU%20test/").await.unwrap();
    proxy.delete_route("/user/Zhong.Ger@Lab/GPU%20test/").await.unwrap(); // 404 is fine
    assert!(proxy.get_route("/user/Zhong.Ger@Lab/GPU%20test/").await.unwrap().is_none());
    let all: Value = raw
        .get(format!("{}/api/routes", chp.api))
        .header("Authorization", format!("token {token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(all.get("/other").is_some(), "unmarked route left alone");

    // Wrong token: CHP answers 403, surfaced as a refusal.
    let bad = ChpProxy::new(&chp.api, "wrong".to_string().into()).unwrap().with_retry_for(Duration::ZERO);
    assert!(bad.get_all_routes().await.is_err());
    let _ = chp.public;
}

#[tokio::test]
async fn unreachable_proxy_is_an_error_not_a_hang() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let proxy = ChpProxy::new(&format!("http://127.0.0.1:{}", free_port()), "t".to_string().into())
        .unwrap()
        .with_retry_for(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let err = proxy.get_all_routes().await.unwrap_err();
    assert!(matches!(err, jhub_core::ports::ProxyError::Unreachable { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(proxy.get_route("/hub/").await.is_err(), "the probe does not retry");
}

/// `PATCH /hub/api/proxy` re-points the client: later calls reach the new CHP
/// with the new token.
#[tokio::test]
async fn reconfigure_points_at_another_chp() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(first) = start_chp(free_port(), "first-token").await else { return };
    let Some(second) = start_chp(free_port(), "second-token").await else { return };
    let proxy = ChpProxy::new(&first.api, "first-token".to_string().into()).unwrap();
    proxy.add_route("/user/a/", "http://127.0.0.1:12", Map::new()).await.unwrap();
    proxy.reconfigure(Some(&second.api), Some("second-token")).unwrap();
    assert_eq!(proxy.api_url(), second.api);
    assert!(proxy.get_all_routes().await.unwrap().is_empty(), "the second CHP starts empty");
    proxy.add_route("/user/b/", "http://127.0.0.1:13", Map::new()).await.unwrap();
    assert!(proxy.get_route("/user/b/").await.unwrap().is_some());
    assert!(proxy.reconfigure(Some("not a url"), None).is_err());
    assert_eq!(proxy.api_url(), second.api, "a bad URL changes nothing");
}
