//! The OAuth flow, the REST calls, faults and the request log.

use crate::{CALLBACK, CLIENT, SECRET, client, start};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jhub_gitlab_sim::Endpoint;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;

const VERIFIER: &str = "bN79IM-o1CCq8KYyevSN2SdbFGk10rmb4eBUMJuojKo";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn location(response: &reqwest::Response) -> url::Url {
    let text = response.headers().get("location").unwrap().to_str().unwrap();
    url::Url::parse(text).unwrap()
}

fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

async fn authorize(base: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", CALLBACK),
        ("state", "st-1"),
        ("scope", "read_user read_api"),
    ];
    query.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    query.extend_from_slice(extra);
    client().get(format!("{base}/oauth/authorize")).query(&query).send().await.unwrap()
}

async fn code_for(base: &str, user: &str) -> String {
    let challenge = challenge(VERIFIER);
    let response = authorize(
        base,
        &[("code_challenge", challenge.as_str()), ("code_challenge_method", "S256"), ("login_as", user)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let target = location(&response);
    assert_eq!(param(&target, "state").as_deref(), Some("st-1"));
    param(&target, "code").unwrap()
}

async fn exchange(base: &str, code: &str, verifier: &str) -> reqwest::Response {
    client()
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("code", code),
            ("grant_type", "authorization_code"),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap()
}

async fn login(base: &str, user: &str) -> Value {
    let code = code_for(base, user).await;
    let response = exchange(base, &code, VERIFIER).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn get(base: &str, path: &str, token: &str) -> (StatusCode, Value) {
    let response = client().get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn authorize_page_lists_users_and_refuses_bad_clients() {
    let (sim, _) = start().await;
    let base = sim.url();
    let page = authorize(&base, &[]).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    for user in ["alice", "Bob", "carol"] {
        assert!(html.contains(&format!("data-user=\"{user}\"")), "{html}");
    }
    assert!(html.contains("data-action=\"deny\"") && html.contains("id=\"username\""));
    assert!(html.contains("value=\"st-1\""), "state is carried in the form");

    let unknown = client()
        .get(format!("{base}/oauth/authorize"))
        .query(&[("response_type", "code"), ("client_id", "nope"), ("redirect_uri", CALLBACK)])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert!(unknown.text().await.unwrap().contains("unknown client"));

    let mismatch = client()
        .get(format!("{base}/oauth/authorize"))
        .query(&[("response_type", "code"), ("client_id", CLIENT), ("redirect_uri", "http://evil.example/cb")])
        .send()
        .await
        .unwrap();
    assert_eq!(mismatch.status(), StatusCode::BAD_REQUEST);
    assert!(mismatch.text().await.unwrap().contains("redirect URI included is not valid"));

    let bad_scope = authorize(&base, &[("scope", "sudo")]).await;
    assert_eq!(param(&location(&bad_scope), "error").as_deref(), Some("invalid_scope"));
}

#[tokio::test]
async fn form_post_and_deny_redirect_back_with_state() {
    let (sim, _) = start().await;
    let base = sim.url();
    let common = [("response_type", "code"), ("client_id", CLIENT), ("redirect_uri", CALLBACK), ("state", "xyz")];
    let mut deny = common.to_vec();
    deny.push(("decision", "deny"));
    let response = client().post(format!("{base}/oauth/authorize")).form(&deny).send().await.unwrap();
    let target = location(&response);
    assert!(target.as_str().starts_with(CALLBACK));
    assert_eq!(param(&target, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&target, "state").as_deref(), Some("xyz"));

    let mut typed = common.to_vec();
    typed.push(("username", "ALICE"));
    let response = client().post(format!("{base}/oauth/authorize")).form(&typed).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(param(&location(&response), "code").is_some());

    let mut unknown = common.to_vec();
    unknown.push(("username", "mallory"));
    let response = client().post(format!("{base}/oauth/authorize")).form(&unknown).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.text().await.unwrap().contains("Invalid login or password."));
}

#[tokio::test]
async fn token_exchange_checks_pkce_and_is_single_use() {
    let (sim, _) = start().await;
    let base = sim.url();

    let code = code_for(&base, "alice").await;
    let wrong = exchange(&base, &code, &"x".repeat(43)).await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].as_str().unwrap().starts_with("The provided authorization grant is invalid"));
    // The failed attempt spent the code.
    assert_eq!(exchange(&base, &code, VERIFIER).await.status(), StatusCode::BAD_REQUEST);

    let code = code_for(&base, "alice").await;
    let ok = exchange(&base, &code, VERIFIER).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let tokens: Value = ok.json().await.unwrap();
    let keys: Vec<&str> = tokens.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["access_token", "token_type", "expires_in", "refresh_token", "scope", "created_at"]);
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 7200);
    assert_eq!(tokens["scope"], "read_user read_api");
    assert_eq!(tokens["created_at"], 1_700_000_000);
    assert_eq!(exchange(&base, &code, VERIFIER).await.status(), StatusCode::BAD_REQUEST, "code reuse");
}

#[tokio::test]
async fn client_authentication_by_basic_header_and_bad_secret() {
    let (sim, _) = start().await;
    let base = sim.url();
    let code = code_for(&base, "carol").await;
    let response = client()
        .post(format!("{base}/oauth/token"))
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[
            ("code", code.as_str()),
            ("grant_type", "authorization_code"),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let response = client()
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", CLIENT),
            ("client_secret", "no"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn tokens_expire_refresh_rotates_and_revocation_bites() {
    let (sim, clock) = start().await;
    let base = sim.url();
    let tokens = login(&base, "alice").await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();

    let (status, user) = get(&base, "/api/v4/user", &access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["username"], "alice");
    assert_eq!(user["id"], 101);

    clock.advance(Duration::from_secs(7200));
    let (status, body) = get(&base, "/api/v4/user", &access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, serde_json::json!({"message": "401 Unauthorized"}));

    let refresh_form = |token: String| {
        vec![
            ("grant_type", String::from("refresh_token")),
            ("refresh_token", token),
            ("client_id", CLIENT.to_string()),
            ("client_secret", SECRET.to_string()),
        ]
    };
    let response =
        client().post(format!("{base}/oauth/token")).form(&refresh_form(refresh.clone())).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let renewed: Value = response.json().await.unwrap();
    assert_ne!(renewed["refresh_token"].as_str().unwrap(), refresh, "refresh tokens rotate");
    let (status, _) = get(&base, "/api/v4/user", renewed["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);

    let reused = client().post(format!("{base}/oauth/token")).form(&refresh_form(refresh)).send().await.unwrap();
    assert_eq!(reused.status(), StatusCode::BAD_REQUEST, "a spent refresh token is invalid_grant");

    // The expired first access token plus the renewed pair.
    assert_eq!(sim.revoke_tokens("alice"), 3);
    let (status, _) = get(&base, "/api/v4/user", renewed["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let after = client()
        .post(format!("{base}/oauth/token"))
        .form(&refresh_form(renewed["refresh_token"].as_str().unwrap().to_string()))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn group_paths_are_decoded_once_and_membership_is_inherited() {
    let (sim, _) = start().await;
    let base = sim.url();
    let bob = login(&base, "bob").await;
    let bob_token = bob["access_token"].as_str().unwrap();
    let alice = login(&base, "alice").await;
    let alice_token = alice["access_token"].as_str().unwrap();

    let (status, member) = get(&base, "/api/v4/groups/my-group%2Fsub%20group/members/all/102", bob_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(member["access_level"], 10);
    assert_eq!(member["username"], "Bob");

    // oauthenticator 17.4's double encoding (auth-culler-proxy §1.8) is not found.
    let (status, body) = get(&base, "/api/v4/groups/my-group%252Fsub%2Bgroup/members/all/102", bob_token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "404 Group Not Found");

    // alice owns the parent group, so she is an (inherited) member of the subgroup.
    let (status, member) = get(&base, "/api/v4/groups/11/members/all/101", alice_token).await;
    assert_eq!((status, member["access_level"].as_u64()), (StatusCode::OK, Some(50)));
    let (status, _) = get(&base, "/api/v4/groups/11/members/101", alice_token).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "direct-only endpoint ignores inheritance");
    let (status, body) = get(&base, "/api/v4/groups/my-group/members/all/102", alice_token).await;
    assert_eq!((status, body["message"].as_str()), (StatusCode::NOT_FOUND, Some("404 Not found")));

    assert!(sim.remove_group_member("my-group/sub group", "bob"));
    let (status, _) = get(&base, "/api/v4/groups/11/members/all/102", bob_token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, member) = get(&base, "/api/v4/projects/42/members/all/103", alice_token).await;
    assert_eq!((status, member["access_level"].as_u64()), (StatusCode::OK, Some(20)));
    let (status, member) = get(&base, "/api/v4/projects/42/members/all/101", alice_token).await;
    assert_eq!((status, member["access_level"].as_u64()), (StatusCode::OK, Some(50)));
}

#[tokio::test]
async fn membership_calls_need_read_api() {
    let (sim, _) = start().await;
    let base = sim.url();
    let (token, _) = sim.issue_tokens_for("alice", CLIENT, &["read_user"]).unwrap();
    let (status, _) = get(&base, "/api/v4/user", &token).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = get(&base, "/api/v4/groups/10/members/all/101", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "insufficient_scope");
    let (openid, _) = sim.issue_tokens_for("alice", CLIENT, &["openid"]).unwrap();
    assert_eq!(get(&base, "/api/v4/user", &openid).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn version_is_configurable_and_needs_a_token() {
    let (sim, _) = start().await;
    let base = sim.url();
    let (token, _) = sim.issue_tokens_for("alice", CLIENT, &["read_user"]).unwrap();
    let (status, body) = get(&base, "/api/v4/version", &token).await;
    assert_eq!((status, body["version"].as_str()), (StatusCode::OK, Some("17.5.1-ee")));
    sim.set_version("12.3.0");
    assert_eq!(get(&base, "/api/v4/version", &token).await.1["version"], "12.3.0");
    assert_eq!(get(&base, "/api/v4/version", "bogus").await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn blocked_users_cannot_sign_in_or_use_tokens() {
    let (sim, _) = start().await;
    let base = sim.url();
    let tokens = login(&base, "carol").await;
    assert!(sim.block_user("carol"));
    assert_eq!(get(&base, "/api/v4/user", tokens["access_token"].as_str().unwrap()).await.0, StatusCode::UNAUTHORIZED);
    let response = authorize(&base, &[("login_as", "carol")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().contains("blocked"));
}

#[tokio::test]
async fn faults_and_delays_apply_per_endpoint() {
    let (sim, _) = start().await;
    let base = sim.url();
    let (token, _) = sim.issue_tokens_for("alice", CLIENT, &["api"]).unwrap();
    sim.fail_next(Endpoint::User, 2, 503);
    let first = client().get(format!("{base}/api/v4/user")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(first.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(get(&base, "/api/v4/user", &token).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get(&base, "/api/v4/user", &token).await.0, StatusCode::OK);
    sim.fail_next(Endpoint::Version, 1, 500);
    let (status, body) = get(&base, "/api/v4/version", &token).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("500 Internal Server Error"))
    );
    assert_eq!(get(&base, "/api/v4/user", &token).await.0, StatusCode::OK, "faults are per endpoint");

    sim.set_delay(Endpoint::User, Some(Duration::from_millis(300)));
    let started = std::time::Instant::now();
    assert_eq!(get(&base, "/api/v4/user", &token).await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn request_log_redacts_secrets_and_keeps_raw_paths() {
    let (sim, _) = start().await;
    let base = sim.url();
    let tokens = login(&base, "bob").await;
    let token = tokens["access_token"].as_str().unwrap();
    get(&base, "/api/v4/groups/my-group%2Fsub%20group/members/all/102", token).await;

    let exchange = sim.requests_to(Endpoint::Token).pop().unwrap();
    assert_eq!(exchange.method, "POST");
    assert_eq!(exchange.form_value("client_secret"), Some("[redacted]"));
    assert_eq!(exchange.form_value("code"), Some("[redacted]"));
    assert_eq!(exchange.form_value("code_verifier"), Some("[redacted]"));
    assert_eq!(exchange.form_value("client_id"), Some(CLIENT));
    assert_eq!(exchange.status, 200);
    let logged = format!("{:?}", sim.requests());
    assert!(!logged.contains(SECRET) && !logged.contains(token) && !logged.contains(VERIFIER));

    let group = sim.requests_to(Endpoint::GroupMembers).pop().unwrap();
    assert_eq!(group.path, "/api/v4/groups/my-group%2Fsub%20group/members/all/102");
    assert_eq!(group.authorization.as_deref(), Some("Bearer [redacted]"));
    sim.clear_requests();
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn control_api_drives_the_same_world() {
    let (sim, _) = start().await;
    let base = sim.url();
    let http = client();
    let (token, _) = sim.issue_tokens_for("bob", CLIENT, &["api"]).unwrap();
    let removed = http.delete(format!("{base}/_sim/groups/my-group%2Fsub%20group/members/bob")).send().await.unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert_eq!(get(&base, "/api/v4/groups/11/members/all/102", &token).await.0, StatusCode::NOT_FOUND);
    let added = http
        .put(format!("{base}/_sim/groups/11/members/bob"))
        .json(&serde_json::json!({"access_level": 40}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::NO_CONTENT);
    assert_eq!(get(&base, "/api/v4/groups/11/members/all/102", &token).await.1["access_level"], 40);

    let fault = http
        .post(format!("{base}/_sim/faults"))
        .json(&serde_json::json!({"endpoint": "user", "status": 502}))
        .send()
        .await
        .unwrap();
    assert_eq!(fault.status(), StatusCode::NO_CONTENT);
    assert_eq!(get(&base, "/api/v4/user", &token).await.0, StatusCode::BAD_GATEWAY);

    let revoked: Value =
        http.post(format!("{base}/_sim/users/bob/revoke_tokens")).send().await.unwrap().json().await.unwrap();
    assert_eq!(revoked["revoked"], 2);
    let log: Value = http.get(format!("{base}/_sim/requests")).send().await.unwrap().json().await.unwrap();
    assert!(log.as_array().unwrap().iter().all(|r| !r["path"].as_str().unwrap().starts_with("/_sim")));
    assert_eq!(log.as_array().unwrap().len(), 3);
}
