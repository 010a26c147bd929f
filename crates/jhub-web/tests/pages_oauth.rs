//! The hub as OAuth provider (jupyterhub-compat §5), over HTTP: the flow a
//! single-user server runs (with PKCE as 6.x servers do, without as 4.x/5.x
//! do), the token endpoint's errors, consent pages, access refusals, and
//! logout revoking the tokens issued to the browser session.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pages_support;

use base64::Engine;
use jhub_hub::SpawnCommand;
use jhub_hub::settings::ServiceSpec;
use pages_support::*;
use serde_json::Value;
use sha2::Digest;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

async fn spawn(hub: &TestHub, user: &str) {
    hub.hub.ensure_user(user).await.unwrap();
    let command = SpawnCommand { user: user.into(), server: String::new(), user_options: None, display_name: None };
    let mut ticket = hub.hub.spawn(command).await.unwrap();
    let outcome = ticket.wait(std::time::Duration::from_secs(10)).await;
    assert!(matches!(outcome, Some(jhub_hub::SpawnOutcome::Ready { .. })), "{outcome:?}");
}

fn authorize_path(client: &str, redirect: &str, extra: &str) -> String {
    format!(
        "/hub/api/oauth2/authorize?client_id={}&redirect_uri={}&response_type=code&state=st%2F1{extra}",
        enc(client),
        enc(redirect)
    )
}

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

async fn exchange(hub: &TestHub, form: &[(&str, &str)]) -> reqwest::Response {
    browser().post(hub.at("/hub/api/oauth2/token")).form(form).send().await.unwrap()
}

async fn whoami(hub: &TestHub, token: &str) -> reqwest::StatusCode {
    browser()
        .get(hub.at("/hub/api/user"))
        .header("Authorization", format!("token {token}"))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn server_login_with_pkce_like_a_6x_singleuser() {
    let hub = start(Opts::default()).await;
    spawn(&hub, "alice").await;
    let secret = hub.spawner.api_token("alice", "").unwrap();
    let browser = hub.logged_in("alice").await;
    let path = authorize_path(
        "jupyterhub-user-alice",
        "/user/alice/oauth_callback",
        &format!("&code_challenge={}&code_challenge_method=S256", challenge(VERIFIER)),
    );
    let response = browser.get(hub.at(&path)).send().await.unwrap();
    assert_eq!(response.status(), 302, "own server: no consent");
    let target = location(&response);
    assert!(target.starts_with("/user/alice/oauth_callback?code="), "{target}");
    assert_eq!(query_param(&target, "state").as_deref(), Some("st/1"));
    let code = query_param(&target, "code").unwrap();
    assert_eq!(code.len(), 30);
    let base = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", "jupyterhub-user-alice"),
        ("client_secret", secret.as_str()),
        ("redirect_uri", "/user/alice/oauth_callback"),
    ];
    // The code carries a challenge: no verifier → 400 invalid_request.
    let missing = exchange(&hub, &base).await;
    assert_eq!(missing.status(), 400);
    assert_eq!(missing.headers()["cache-control"], "no-store");
    assert_eq!(missing.headers()["pragma"], "no-cache");
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"error": "invalid_request", "error_description": "Code verifier required."}));
}

#[tokio::test]
async fn token_endpoint_answers_and_errors() {
    let hub = start(Opts::default()).await;
    spawn(&hub, "alice").await;
    let secret = hub.spawner.api_token("alice", "").unwrap();
    let browser = hub.logged_in("alice").await;
    let get_code = |extra: String| {
        let browser = browser.clone();
        let url = hub.at(&authorize_path("jupyterhub-user-alice", "/user/alice/oauth_callback", &extra));
        async move {
            let response = browser.get(url).send().await.unwrap();
            assert_eq!(response.status(), 302);
            query_param(&location(&response), "code").unwrap()
        }
    };
    // PKCE (6.x server): right verifier → token.
    let code = get_code(format!("&code_challenge={}&code_challenge_method=S256", challenge(VERIFIER))).await;
    let wrong = exchange(
        &hub,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "jupyterhub-user-alice"),
            ("client_secret", &secret),
            ("redirect_uri", "/user/alice/oauth_callback"),
            ("code_verifier", "not-the-verifier-not-the-verifier-not-the-ver"),
        ],
    )
    .await;
    assert_eq!(wrong.status(), 400);
    assert_eq!(wrong.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let code = get_code(format!("&code_challenge={}&code_challenge_method=S256", challenge(VERIFIER))).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", "jupyterhub-user-alice"),
        ("client_secret", secret.as_str()),
        ("redirect_uri", "/user/alice/oauth_callback"),
        ("code_verifier", VERIFIER),
    ];
    let ok = exchange(&hub, &form).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["cache-control"], "no-store");
    assert_eq!(ok.headers()["pragma"], "no-cache");
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 1_209_600);
    let access = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(access.len(), 30);
    assert!(body["scope"].as_str().unwrap().split(' ').any(|s| s == "access:servers!server=alice/"), "{body}");
    assert_eq!(whoami(&hub, &access).await, 200);
    // Single use.
    let reused = exchange(&hub, &form).await;
    assert_eq!(reused.status(), 400);
    assert_eq!(reused.json::<Value>().await.unwrap(), serde_json::json!({"error": "invalid_grant"}));

    // 5.x server: no PKCE at all → still fine.
    let code = get_code(String::new()).await;
    let legacy = exchange(
        &hub,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "jupyterhub-user-alice"),
            ("client_secret", &secret),
            ("redirect_uri", "/user/alice/oauth_callback"),
        ],
    )
    .await;
    assert_eq!(legacy.status(), 200);

    // Bad secret → 401 invalid_client; the secret in a Basic header is not read.
    let code = get_code(String::new()).await;
    let bad = exchange(
        &hub,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "jupyterhub-user-alice"),
            ("client_secret", "wrong"),
            ("redirect_uri", "/user/alice/oauth_callback"),
        ],
    )
    .await;
    assert_eq!(bad.status(), 401);
    assert_eq!(bad.json::<Value>().await.unwrap(), serde_json::json!({"error": "invalid_client"}));
    let basic = browser
        .post(hub.at("/hub/api/oauth2/token"))
        .basic_auth("jupyterhub-user-alice", Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "/user/alice/oauth_callback"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    // Other grant types.
    let refresh = exchange(&hub, &[("grant_type", "refresh_token"), ("refresh_token", "x")]).await;
    assert_eq!(refresh.status(), 400);
    assert_eq!(refresh.json::<Value>().await.unwrap()["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn require_pkce_refuses_codes_without_a_challenge() {
    let hub = start(Opts::default().configure(|_, web| web.oauth_require_pkce = true)).await;
    spawn(&hub, "alice").await;
    let browser = hub.logged_in("alice").await;
    let response = browser
        .get(hub.at(&authorize_path("jupyterhub-user-alice", "/user/alice/oauth_callback", "")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let target = location(&response);
    assert!(target.starts_with("/user/alice/oauth_callback?error=invalid_request"), "{target}");
    assert_eq!(query_param(&target, "state").as_deref(), Some("st/1"));
    let token = exchange(
        &hub,
        &[
            ("grant_type", "authorization_code"),
            ("code", "abcdefghijabcdefghijabcdefghij"),
            ("client_id", "jupyterhub-user-alice"),
            ("client_secret", "x"),
            ("redirect_uri", "/user/alice/oauth_callback"),
        ],
    )
    .await;
    assert_eq!(token.status(), 400);
    assert_eq!(token.json::<Value>().await.unwrap()["error_description"], "Code verifier required.");
}

#[tokio::test]
async fn authorize_requires_login_and_a_known_client() {
    let hub = start(Opts::default()).await;
    spawn(&hub, "alice").await;
    let path = authorize_path("jupyterhub-user-alice", "/user/alice/oauth_callback", "");
    let anonymous = browser().get(hub.at(&path)).send().await.unwrap();
    assert_eq!(anonymous.status(), 302);
    assert_eq!(location(&anonymous), format!("/hub/login?next={}", enc(&path)));
    // Consent pages need a page CSP (stylesheets load), not the API's default-src 'none'.
    assert!(!anonymous.headers()["content-security-policy"].to_str().unwrap().contains("default-src"));

    let browser = hub.logged_in("alice").await;
    let unknown = browser.get(hub.at(&authorize_path("nope", "/user/alice/oauth_callback", ""))).send().await.unwrap();
    assert_eq!(unknown.status(), 400);
    assert!(unknown.text().await.unwrap().contains("400 : Invalid client_id parameter value."));
    let mismatch =
        browser.get(hub.at(&authorize_path("jupyterhub-user-alice", "https://evil.example/cb", ""))).send().await;
    let mismatch = mismatch.unwrap();
    assert_eq!(mismatch.status(), 400, "never redirected to an unregistered URI");
    assert!(mismatch.text().await.unwrap().contains("400 : Mismatching redirect URI."));
    // The hub's own client has no secret: refused.
    let own = browser.get(hub.at(&authorize_path("jupyterhub", "/hub/oauth_callback", ""))).send().await.unwrap();
    assert_eq!(own.status(), 400);
    // Wrong response_type goes back to the client.
    let token_type = browser
        .get(
            hub.at(&authorize_path("jupyterhub-user-alice", "/user/alice/oauth_callback", "")
                .replace("response_type=code", "response_type=token")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(token_type.status(), 302);
    assert!(location(&token_type).contains("error=unsupported_response_type"));
    // Unknown scope → invalid_scope back to the client.
    let scope = browser
        .get(hub.at(&authorize_path("jupyterhub-user-alice", "/user/alice/oauth_callback", "&scope=admin%3Ausers")))
        .send()
        .await
        .unwrap();
    assert_eq!(scope.status(), 302);
    assert!(location(&scope).contains("error=invalid_scope"), "{}", location(&scope));
}

#[tokio::test]
async fn another_users_server_is_403_and_admins_get_the_consent_page() {
    let hub = start(Opts::default()).await;
    spawn(&hub, "alice").await;
    let path = authorize_path("jupyterhub-user-alice", "/user/alice/oauth_callback", "");
    let bob = hub.logged_in("bob").await;
    let refused = bob.get(hub.at(&path)).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(
        refused.text().await.unwrap().contains("403 : You do not have permission to access Server at /user/alice/")
    );

    let admin = hub.logged_in("admin").await;
    let consent = admin.get(hub.at(&path)).send().await.unwrap();
    assert_eq!(consent.status(), 200, "not the admin's own server: consent");
    let html = consent.text().await.unwrap();
    assert!(html.contains("Server at /user/alice/"), "{html}");
    assert!(html.contains("name=\"scopes\""));
    let xsrf = xsrf_of(&html);
    let scopes: Vec<String> = html
        .match_indices("name=\"scopes\" value=\"")
        .map(|(i, m)| {
            let rest = &html[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect();
    assert!(scopes.iter().any(|s| s.starts_with("access:servers!server=alice/")), "{scopes:?}");
    // Without the XSRF token the consent POST is refused.
    let mut form: Vec<(&str, &str)> = scopes.iter().map(|s| ("scopes", s.as_str())).collect();
    let refused = admin.post(hub.at(&path)).form(&form).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("&#39;_xsrf&#39; argument missing from POST"));
    form.push(("_xsrf", xsrf.as_str()));
    let granted = admin.post(hub.at(&path)).form(&form).send().await.unwrap();
    assert_eq!(granted.status(), 302);
    let code = query_param(&location(&granted), "code").unwrap();
    let secret = hub.spawner.api_token("alice", "").unwrap();
    let token = exchange(
        &hub,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "jupyterhub-user-alice"),
            ("client_secret", &secret),
            ("redirect_uri", "/user/alice/oauth_callback"),
        ],
    )
    .await;
    assert_eq!(token.status(), 200);
    // Already granted: no consent the second time.
    let again = admin.get(hub.at(&path)).send().await.unwrap();
    assert_eq!(again.status(), 302, "consent remembered through the existing token");
}

#[tokio::test]
async fn service_clients_ask_for_consent_unless_no_confirm() {
    let hub = start(Opts::default().configure(|settings, _| {
        for (name, no_confirm) in [("notebook-viewer", false), ("trusted", true)] {
            settings.services.push(ServiceSpec {
                name: name.into(),
                admin: false,
                url: Some("http://127.0.0.1:9".into()),
                api_token: Some(format!("{name}-token-0123456789")),
                display: true,
                oauth_no_confirm: no_confirm,
                oauth_redirect_uri: Some(format!("/services/{name}/oauth_callback")),
                info: serde_json::json!({}),
            });
        }
        settings.roles.push(jhub_hub::RoleSpec {
            name: "viewers".into(),
            description: None,
            scopes: vec!["access:services".into()],
            users: vec!["alice".into()],
            groups: vec![],
            services: vec![],
        });
    }))
    .await;
    let browser = hub.logged_in("alice").await;
    let path = authorize_path("service-notebook-viewer", "/services/notebook-viewer/oauth_callback", "");
    let consent = browser.get(hub.at(&path)).send().await.unwrap();
    assert_eq!(consent.status(), 200);
    let html = consent.text().await.unwrap();
    assert!(html.contains("Service notebook-viewer</strong> is requesting access"), "{html}");
    let xsrf = xsrf_of(&html);
    let granted = browser.post(hub.at(&path)).form(&[("_xsrf", xsrf.as_str())]).send().await.unwrap();
    assert_eq!(granted.status(), 302, "empty scopes list means identify");
    let code = query_param(&location(&granted), "code").unwrap();
    let token = exchange(
        &hub,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "service-notebook-viewer"),
            ("client_secret", "notebook-viewer-token-0123456789"),
            ("redirect_uri", "/services/notebook-viewer/oauth_callback"),
        ],
    )
    .await;
    assert_eq!(token.status(), 200);
    let scope = token.json::<Value>().await.unwrap()["scope"].as_str().unwrap().to_string();
    assert!(scope.contains("access:services!service=notebook-viewer"), "{scope}");

    let trusted = browser
        .get(hub.at(&authorize_path("service-trusted", "/services/trusted/oauth_callback", "")))
        .send()
        .await
        .unwrap();
    assert_eq!(trusted.status(), 302, "oauth_no_confirm skips the consent page");

    // Without access:services the user is refused.
    let bob = hub.logged_in("bob").await;
    let refused = bob.get(hub.at(&path)).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("You do not have permission to access Service notebook-viewer"));
}

#[tokio::test]
async fn logout_revokes_the_browser_sessions_tokens() {
    let hub = start(Opts::default()).await;
    spawn(&hub, "alice").await;
    let secret = hub.spawner.api_token("alice", "").unwrap();
    let browser = hub.logged_in("alice").await;
    let response = browser
        .get(hub.at(&authorize_path("jupyterhub-user-alice", "/user/alice/oauth_callback", "")))
        .send()
        .await
        .unwrap();
    let code = query_param(&location(&response), "code").unwrap();
    let token = exchange(
        &hub,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "jupyterhub-user-alice"),
            ("client_secret", &secret),
            ("redirect_uri", "/user/alice/oauth_callback"),
        ],
    )
    .await;
    let access = token.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    assert_eq!(whoami(&hub, &access).await, 200);
    // A token of another browser session of alice survives this logout.
    let other_browser = hub.logged_in("alice").await;
    let other = other_browser
        .get(hub.at(&authorize_path("jupyterhub-user-alice", "/user/alice/oauth_callback", "")))
        .send()
        .await
        .unwrap();
    let other_code = query_param(&location(&other), "code").unwrap();
    let other_token = exchange(
        &hub,
        &[
            ("grant_type", "authorization_code"),
            ("code", &other_code),
            ("client_id", "jupyterhub-user-alice"),
            ("client_secret", &secret),
            ("redirect_uri", "/user/alice/oauth_callback"),
        ],
    )
    .await;
    let other_access = other_token.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();

    let logout = browser.get(hub.at("/hub/logout")).send().await.unwrap();
    assert_eq!(logout.status(), 302);
    assert_eq!(location(&logout), "/hub/login");
    let cleared = set_cookies(&logout);
    for name in
        ["jupyterhub-session-id", "jupyterhub-hub-login", "jupyterhub-services", "_xsrf", "oauthenticator-state"]
    {
        let cookie = set_cookie(&cleared, name).unwrap_or_else(|| panic!("{name} not cleared"));
        assert!(cookie.contains("Max-Age=0"), "{cookie}");
    }
    assert_eq!(whoami(&hub, &access).await, 403, "the session's OAuth token is revoked");
    assert_eq!(whoami(&hub, &other_access).await, 200, "other sessions keep theirs");
    let home = browser.get(hub.at("/hub/home")).send().await.unwrap();
    assert_eq!(home.status(), 302, "logged out");
}

#[tokio::test]
async fn shutdown_on_logout_stops_the_servers() {
    let hub = start(Opts::default().configure(|_, web| web.shutdown_on_logout = true)).await;
    spawn(&hub, "alice").await;
    let browser = hub.logged_in("alice").await;
    assert!(hub.spawner.is_running("alice", ""));
    assert_eq!(browser.get(hub.at("/hub/logout")).send().await.unwrap().status(), 302);
    for _ in 0..50 {
        if !hub.spawner.is_running("alice", "") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!hub.spawner.is_running("alice", ""));
}
