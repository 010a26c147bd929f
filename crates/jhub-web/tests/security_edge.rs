//! Security regressions of issue 11 at the hub and web level: losing GitLab
//! access ends all access (item 3), brute-force backoff on password checks
//! (item 6). The real `GitLabOAuthenticator` runs against `jhub-gitlab-sim`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pages_support;

use jhub_core::model::TokenOwner;
use jhub_gitlab_sim::Endpoint;
use jhub_hub::SpawnCommand;
use pages_support::*;
use serde_json::Value;
use std::time::{Duration, Instant};

async fn spawn(hub: &TestHub, user: &str) {
    let command = SpawnCommand { user: user.into(), server: String::new(), user_options: None, display_name: None };
    let mut ticket = hub.hub.spawn(command).await.unwrap();
    let outcome = ticket.wait(Duration::from_secs(10)).await;
    assert!(matches!(outcome, Some(jhub_hub::SpawnOutcome::Ready { .. })), "{outcome:?}");
}

async fn whoami(hub: &TestHub, token: &str) -> u16 {
    browser()
        .get(hub.at("/hub/api/user"))
        .header("Authorization", format!("token {token}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn mint(hub: &TestHub, user: &str, token: &str) -> u16 {
    browser()
        .post(hub.at(&format!("/hub/api/users/{user}/tokens")))
        .header("Authorization", format!("token {token}"))
        .json(&serde_json::json!({"note": "more"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// An OAuth token of the hub's provider for `browser`'s session, issued to
/// alice's server (what her single-user server holds for that browser).
async fn server_oauth_token(hub: &TestHub, browser: &reqwest::Client, user: &str) -> String {
    let client = format!("jupyterhub-user-{user}");
    let redirect = format!("/user/{user}/oauth_callback");
    let path = format!(
        "/hub/api/oauth2/authorize?client_id={}&redirect_uri={}&response_type=code&state=s",
        enc(&client),
        enc(&redirect)
    );
    let response = browser.get(hub.at(&path)).send().await.unwrap();
    assert_eq!(response.status(), 302, "authorize");
    let code = query_param(&location(&response), "code").unwrap();
    let secret = hub.spawner.api_token(user, "").unwrap();
    let token = browser
        .post(hub.at("/hub/api/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_id", client.as_str()),
            ("client_secret", secret.as_str()),
            ("redirect_uri", redirect.as_str()),
        ])
        .send()
        .await
        .unwrap();
    token.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string()
}

fn server_active(hub: &TestHub, user: &str) -> bool {
    hub.hub.read().user(user).and_then(|e| e.servers.get("")).is_some_and(|s| s.server.active())
}

/// Issue 11 item 3: only cookie requests re-checked membership, so a user
/// removed from the allowed GitLab group kept her personal API token (which
/// never expires by default), the OAuth tokens of her other browser
/// sessions, could mint more tokens, and kept her server. Now the first
/// token request after the refresh interval re-checks, and losing access
/// revokes every token and session and stops her servers.
#[tokio::test]
async fn removed_gitlab_member_loses_tokens_sessions_and_servers() {
    let hub = start(Opts::gitlab().auth_state()).await;
    let first = browser();
    assert_eq!(hub.gitlab_login(&first, "alice", "/hub/home").await.status(), 302);
    let second = browser();
    assert_eq!(hub.gitlab_login(&second, "alice", "/hub/home").await.status(), 302);
    spawn(&hub, "alice").await;
    let personal = hub.hub.create_token("alice", Default::default()).await.unwrap().secret;
    let oauth_of_second_session = server_oauth_token(&hub, &second, "alice").await;
    assert_eq!(whoami(&hub, &personal).await, 200);
    assert_eq!(whoami(&hub, &oauth_of_second_session).await, 200);
    assert_eq!(mint(&hub, "alice", &personal).await, 201, "minting works while allowed");

    assert!(hub.sim().remove_group_member("jupyter-users", "alice"));
    hub.advance(301);
    assert_eq!(whoami(&hub, &personal).await, 403, "the personal API token stops working");
    assert_eq!(whoami(&hub, &oauth_of_second_session).await, 403, "the other session's OAuth token too");
    assert_eq!(mint(&hub, "alice", &personal).await, 403, "no more tokens with the old one");
    let xsrf_page = first.get(hub.at("/hub/token")).send().await.unwrap();
    assert_eq!(xsrf_page.status(), 302, "the browser sessions are logged out");
    assert_eq!(second.get(hub.at("/hub/token")).send().await.unwrap().status(), 302, "the other session too");
    let deadline = Instant::now() + Duration::from_secs(10);
    while server_active(&hub, "alice") {
        assert!(Instant::now() < deadline, "alice's server is still running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let user_id = hub.hub.read().user("alice").unwrap().user.id;
    let left = hub.hub.store().tokens_for_owner(TokenOwner::User(user_id)).await.unwrap();
    assert!(left.is_empty(), "tokens left after revocation: {left:?}");
    assert_eq!(hub.gitlab_login(&browser(), "alice", "/hub/home").await.status(), 403, "no new login");
}

/// Item 3: `hub.config.JhubSecurity.stop_servers_on_access_loss: false`
/// keeps the servers running (they keep only their own API token); the
/// user's tokens and sessions still go.
#[tokio::test]
async fn access_loss_can_leave_servers_running() {
    let hub = start(Opts::gitlab().auth_state().configure(|_, web| web.stop_servers_on_access_loss = false)).await;
    let first = browser();
    assert_eq!(hub.gitlab_login(&first, "alice", "/hub/home").await.status(), 302);
    spawn(&hub, "alice").await;
    let personal = hub.hub.create_token("alice", Default::default()).await.unwrap().secret;
    assert!(hub.sim().remove_group_member("jupyter-users", "alice"));
    hub.advance(301);
    assert_eq!(whoami(&hub, &personal).await, 403);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(server_active(&hub, "alice"), "the server is kept");
    let server_token = hub.spawner.api_token("alice", "").unwrap();
    assert!(hub.hub.authenticate_token(&server_token).await.is_some(), "the server keeps its own token");
    assert_eq!(hub.spawner.stops.load(std::sync::atomic::Ordering::Relaxed), 0);
}

/// Item 3: token requests refresh at most once per `auth_refresh_age` per
/// user (not on every request), and a slow GitLab holds a request at most
/// `token_refresh_wait` before it goes on.
#[tokio::test]
async fn token_refresh_is_rate_limited_and_bounded_in_time() {
    let hub =
        start(Opts::gitlab().auth_state().configure(|_, web| web.token_refresh_wait = Duration::from_millis(500)))
            .await;
    let first = browser();
    assert_eq!(hub.gitlab_login(&first, "alice", "/hub/home").await.status(), 302);
    let personal = hub.hub.create_token("alice", Default::default()).await.unwrap().secret;
    hub.advance(301);
    hub.sim().clear_requests();
    for _ in 0..10 {
        assert_eq!(whoami(&hub, &personal).await, 200);
    }
    assert_eq!(hub.sim().requests_to(Endpoint::User).len(), 1, "one refresh for ten requests");
    hub.advance(301);
    hub.sim().set_delay(Endpoint::User, Some(Duration::from_secs(5)));
    let started = Instant::now();
    assert_eq!(whoami(&hub, &personal).await, 200, "a slow GitLab does not fail the request");
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(2), "the request waited {waited:?} on GitLab");
}

async fn form_login(hub: &TestHub, user: &str, password: &str) -> reqwest::Response {
    let b = browser();
    let page = b.get(hub.at("/hub/login")).send().await.unwrap();
    let xsrf = xsrf_of(&page.text().await.unwrap());
    b.post(hub.at("/hub/login"))
        .form(&[("username", user), ("password", password), ("_xsrf", xsrf.as_str())])
        .send()
        .await
        .unwrap()
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers().get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap()
}

/// Issue 11 item 6: password login ran argon2 without limit. After five
/// failures for a user name the next attempt is answered 429 with
/// `Retry-After`, without checking the password (the right one included),
/// and the wait doubles with every further failure.
#[tokio::test]
async fn password_login_backs_off_per_user_with_429() {
    let hub = start(Opts::default()).await;
    for _ in 0..5 {
        assert_eq!(form_login(&hub, "alice", "wrong-password").await.status(), 403);
    }
    let refused = form_login(&hub, "alice", PASSWORD).await;
    assert_eq!(refused.status(), 429, "even the right password waits");
    assert_eq!(retry_after(&refused), 1);
    assert!(refused.text().await.unwrap().contains("Too many failed login attempts"));
    assert_eq!(form_login(&hub, "bob", PASSWORD).await.status(), 302, "other users are not affected");
    hub.advance(1);
    assert_eq!(form_login(&hub, "Alice", "wrong-again").await.status(), 403, "case does not evade the count");
    let refused = form_login(&hub, "alice", PASSWORD).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(retry_after(&refused), 2, "the wait doubles");
    hub.advance(2);
    assert_eq!(form_login(&hub, "alice", PASSWORD).await.status(), 302, "after the wait the right password works");
}

/// Item 6: the anonymous token endpoint (`POST /users/{name}/tokens` with
/// an `auth` body) backs off the same way.
#[tokio::test]
async fn anonymous_token_endpoint_backs_off_with_429() {
    let hub = start(Opts::default()).await;
    hub.hub.ensure_user("alice").await.unwrap();
    let request = |password: &str| {
        browser()
            .post(hub.at("/hub/api/users/alice/tokens"))
            .json(&serde_json::json!({"auth": {"username": "alice", "password": password}}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(request("wrong-password").await.unwrap().status(), 403);
    }
    let refused = request(PASSWORD).await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(retry_after(&refused), 1);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["status"], 429);
    hub.advance(1);
    assert_eq!(request(PASSWORD).await.unwrap().status(), 201);
}
