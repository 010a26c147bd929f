//! Browser (cookie) calls to `/hub/api` follow JupyterHub's XSRF rules
//! (jupyterhub-compat §3.1–§3.2): plain GETs pass, `fetch`-style GETs and
//! every POST need the `_xsrf` token (query, `X-XSRFToken` or
//! `X-CSRFToken`), a cookie POST with a non-JSON content type counts as
//! anonymous, and token requests never need XSRF.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use reqwest::Method;
use serde_json::Value;

fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn xsrf_field(html: &str) -> String {
    let marker = "name=\"_xsrf\" value=\"";
    let start = html.find(marker).map(|i| i + marker.len()).expect("login form has an _xsrf field");
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_string()
}

/// Logs `user` in through the login form; returns the browser and the
/// session's XSRF token (the `_xsrf` cookie the hub set).
async fn login(hub: &common::TestHub, user: &str) -> (reqwest::Client, String) {
    let browser = browser();
    let page = browser.get(format!("{}/hub/login", hub.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let xsrf = xsrf_field(&page.text().await.unwrap());
    let response = browser
        .post(format!("{}/hub/login", hub.url))
        .form(&[("username", user), ("password", common::PASSWORD), ("_xsrf", xsrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302, "login");
    let cookie_xsrf = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("_xsrf="))
        .map(|c| c.split(';').next().unwrap().to_string())
        .unwrap_or(xsrf);
    let token = percent_encoding::percent_decode_str(&cookie_xsrf).decode_utf8_lossy().into_owned();
    (browser, token)
}

#[tokio::test]
async fn cookie_requests_follow_the_xsrf_rules() {
    let hub = common::start().await;
    let (browser, xsrf) = login(&hub, "alice").await;
    let api = |path: &str| hub.api(path);
    // A navigation-style GET (no Sec-Fetch headers, like curl) passes.
    let response = browser.get(api("/user")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let me: Value = response.json().await.unwrap();
    assert_eq!((me["name"].as_str(), me["token_id"].clone()), (Some("alice"), Value::Null));
    // fetch() GETs need the token.
    let response = browser.get(api("/user")).header("Sec-Fetch-Mode", "cors").send().await.unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], "'_xsrf' argument missing from GET");
    for request in [
        browser.get(api("/user")).header("Sec-Fetch-Mode", "cors").header("X-XSRFToken", &xsrf),
        browser.get(api("/user")).header("Sec-Fetch-Mode", "cors").header("X-CSRFToken", &xsrf),
        browser.get(api("/user")).header("Sec-Fetch-Mode", "cors").query(&[("_xsrf", xsrf.as_str())]),
    ] {
        assert_eq!(request.send().await.unwrap().status(), 200);
    }
    let response = browser
        .get(api("/user"))
        .header("Sec-Fetch-Mode", "cors")
        .header("X-XSRFToken", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    // POSTs always need it.
    let response = browser.post(api("/users/alice/server")).json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(!hub.spawner.is_running("alice", ""));
    let response = browser
        .post(api("/users/alice/server"))
        .header("X-XSRFToken", &xsrf)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    // A cookie POST that a cross-site form could send counts as anonymous.
    let response = browser
        .post(api("/users/alice/tokens"))
        .header("X-XSRFToken", &xsrf)
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    // Cookie scopes are the user's: someone else's server is hidden.
    hub.hub.create_user("bob", false).await.unwrap();
    let response = browser.get(api("/users/bob")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    // Token requests never need XSRF, even with Sec-Fetch-Mode.
    let token = hub.token_for("alice", None).await;
    let response = hub
        .client()
        .request(Method::DELETE, api("/users/alice/server"))
        .header("Authorization", format!("bearer {token}"))
        .header("Sec-Fetch-Mode", "cors")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    // An invalid token header falls back to the cookie (JupyterHub order).
    let response = browser.get(api("/user")).header("Authorization", "token not-valid").send().await.unwrap();
    assert_eq!(response.status(), 200);
}
