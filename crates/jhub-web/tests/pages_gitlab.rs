//! GitLab login end to end over HTTP: the real `GitLabOAuthenticator`
//! against the real `jhub-gitlab-sim`, through `/hub/oauth_login` → the
//! simulator's authorize page → `/hub/oauth_callback`: every allow/deny
//! rule, the state and PKCE failure paths, the refresh that re-checks
//! membership, and auth_state encryption at rest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pages_support;

use pages_support::*;

fn assert_login_cookies(cookies: &[String]) {
    let login = set_cookie(cookies, "jupyterhub-hub-login").expect("login cookie");
    assert!(login.contains("HttpOnly") && login.contains("Path=/hub/") && login.contains("SameSite=Lax"), "{login}");
    assert!(!login.contains("Secure"), "plain http: no Secure flag: {login}");
    let session = set_cookie(cookies, "jupyterhub-session-id").expect("session cookie");
    assert!(session.contains("HttpOnly") && session.contains("Path=/") && !session.contains("Path=/hub"), "{session}");
    let xsrf = set_cookie(cookies, "_xsrf").expect("fresh _xsrf at login");
    assert!(!xsrf.contains("HttpOnly") && xsrf.contains("Path=/hub/"), "{xsrf}");
    let state = set_cookie(cookies, "oauthenticator-state").expect("state cookie cleared");
    assert!(state.contains("Max-Age=0") || state.contains("1970"), "{state}");
}

#[tokio::test]
async fn every_allow_and_deny_rule_end_to_end() {
    let hub = start(Opts::gitlab()).await;
    let cases = [
        ("alice", true, "member of the allowed group"),
        ("bob", true, "admin_users"),
        ("carol", true, "allowed_users"),
        ("dave", true, "Guest in the subgroup 'research/ml team' (path with a space)"),
        ("erin", true, "Developer on allowed project 42"),
        ("frank", false, "only Reporter (20) on project 42"),
        ("mallory", false, "blocked_users beats group membership"),
        ("oscar", false, "outsider"),
    ];
    for (user, allowed, why) in cases {
        let browser = browser();
        let response = hub.gitlab_login(&browser, user, "/hub/home").await;
        if allowed {
            assert_eq!(response.status(), 302, "{user}: {why}");
            assert_eq!(location(&response), "/hub/home", "{user}");
            assert_login_cookies(&set_cookies(&response));
            let home = browser.get(hub.at("/hub/home")).send().await.unwrap();
            assert_eq!(home.status(), 200, "{user}");
            let html = home.text().await.unwrap();
            assert!(html.contains(&format!("<span class=\"username\" id=\"home-user\">{user}</span>")), "{user}");
        } else {
            assert_eq!(response.status(), 403, "{user}: {why}");
            assert!(set_cookie(&set_cookies(&response), "jupyterhub-hub-login").is_none(), "{user} got a login cookie");
            let html = response.text().await.unwrap();
            assert!(html.contains(&format!("<h1 id=\"error-title\">403 : {DENIED}</h1>")), "{user}: {html}");
            assert!(html.contains(&format!("<p>{DENIED}</p>")));
            let home = browser.get(hub.at("/hub/home")).send().await.unwrap();
            assert_eq!(home.status(), 302, "{user} is not logged in");
        }
    }
    // Admin comes from the authenticator; users are created at first login.
    let state = hub.hub.read();
    assert!(state.user("bob").unwrap().user.admin);
    assert!(!state.user("alice").unwrap().user.admin);
    assert!(state.user("oscar").is_none(), "refused users are not created");
    // user_info from GitLab is stored (JupyterHub 6).
    assert!(state.user("alice").unwrap().user.user_info.is_some());
}

#[tokio::test]
async fn custom_403_message_is_shown_escaped() {
    let hub = start(Opts::gitlab().gitlab_settings(|gl| {
        gl.custom_403_message = "Ask <b>ops</b> for access".into();
    }))
    .await;
    let response = hub.gitlab_login(&browser(), "oscar", "/hub/home").await;
    assert_eq!(response.status(), 403);
    let html = response.text().await.unwrap();
    assert!(html.contains("403 : Ask &lt;b&gt;ops&lt;/b&gt; for access"), "{html}");
    assert!(!html.contains("<b>ops</b>"));
}

#[tokio::test]
async fn oauth_login_sets_a_signed_state_cookie_and_uses_pkce() {
    let hub = start(Opts::gitlab()).await;
    let browser = browser();
    let response = browser.get(hub.at("/hub/oauth_login?next=%2Fhub%2Ftoken")).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let cookies = set_cookies(&response);
    let state = set_cookie(&cookies, "oauthenticator-state").expect("state cookie");
    assert!(state.contains("HttpOnly") && state.contains("Max-Age=86400") && state.contains("Path=/"), "{state}");
    let authorize = location(&response);
    assert_eq!(query_param(&authorize, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(query_param(&authorize, "client_id").as_deref(), Some(CLIENT_ID));
    // The callback URL is derived from the request (no oauth_callback_url configured).
    assert_eq!(query_param(&authorize, "redirect_uri"), Some(hub.at("/hub/oauth_callback")));
    // A forged (unsigned) state cookie counts as missing.
    let approved = browser.get(format!("{authorize}&login_as=alice")).send().await.unwrap();
    let callback = location(&approved);
    let forged = pages_support::browser()
        .get(&callback)
        .header("cookie", "oauthenticator-state=eyJzdGF0ZV9pZCI6ICJ4In0=")
        .send();
    let forged = forged.await.unwrap();
    assert_eq!(forged.status(), 400);
    assert!(forged.text().await.unwrap().contains("400 : OAuth state missing from cookies"));
    // The real browser completes, landing on `next` from the state cookie.
    let done = browser.get(&callback).send().await.unwrap();
    assert_eq!(done.status(), 302);
    assert_eq!(location(&done), "/hub/token");
}

#[tokio::test]
async fn state_and_pkce_failures_give_oauthenticators_400s() {
    let hub = start(Opts::gitlab()).await;
    // No state cookie at the callback.
    let first = browser();
    let start_1 = first.get(hub.at("/hub/oauth_login")).send().await.unwrap();
    let approved = first.get(format!("{}&login_as=alice", location(&start_1))).send().await.unwrap();
    let callback_1 = location(&approved);
    let no_cookie = browser().get(&callback_1).send().await.unwrap();
    assert_eq!(no_cookie.status(), 400);
    assert!(
        no_cookie.text().await.unwrap().contains("<h1 id=\"error-title\">400 : OAuth state missing from cookies</h1>")
    );

    // `error=` from GitLab (the user clicked Deny): 400, and the state cookie survives.
    let denied = first
        .get(hub.at("/hub/oauth_callback?error=access_denied&error_description=The+resource+owner+denied"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 400);
    assert!(set_cookie(&set_cookies(&denied), "oauthenticator-state").is_none(), "cookie kept after error=");
    assert!(denied.text().await.unwrap().contains("400 : OAuth error: The resource owner denied"));
    // No code.
    let no_code = first.get(hub.at("/hub/oauth_callback?state=abc")).send().await.unwrap();
    assert_eq!(no_code.status(), 400);
    assert!(no_code.text().await.unwrap().contains("400 : OAuth callback made without a code"));
    // No state parameter.
    let code = query_param(&callback_1, "code").unwrap();
    let no_state = first.get(hub.at(&format!("/hub/oauth_callback?code={code}"))).send().await.unwrap();
    assert_eq!(no_state.status(), 400);
    assert!(no_state.text().await.unwrap().contains("400 : OAuth state missing from URL"));

    // State mismatch: a second login replaced the cookie; the first URL's state no longer matches.
    let second = browser();
    let s1 = second.get(hub.at("/hub/oauth_login")).send().await.unwrap();
    let a1 = second.get(format!("{}&login_as=alice", location(&s1))).send().await.unwrap();
    let cb1 = location(&a1);
    let s2 = second.get(hub.at("/hub/oauth_login")).send().await.unwrap();
    let mismatch = second.get(&cb1).send().await.unwrap();
    assert_eq!(mismatch.status(), 400);
    assert!(mismatch.text().await.unwrap().contains("400 : OAuth state mismatch"));

    // PKCE: the code of login 1 presented with login 2's state (and so its
    // verifier) is refused by GitLab; the hub says to log in again.
    let third = browser();
    let t1 = third.get(hub.at("/hub/oauth_login")).send().await.unwrap();
    let ta1 = third.get(format!("{}&login_as=alice", location(&t1))).send().await.unwrap();
    let code_1 = query_param(&location(&ta1), "code").unwrap();
    let t2 = third.get(hub.at("/hub/oauth_login")).send().await.unwrap();
    let state_2 = query_param(&location(&t2), "state").unwrap();
    let swapped = third
        .get(hub.at(&format!("/hub/oauth_callback?code={}&state={}", enc(&code_1), enc(&state_2))))
        .send()
        .await
        .unwrap();
    assert_eq!(swapped.status(), 400);
    assert!(swapped.text().await.unwrap().contains("The GitLab login expired or was already used"));
    let token_calls = hub.sim().requests_to(jhub_gitlab_sim::Endpoint::Token);
    let last = token_calls.last().unwrap();
    assert!(last.form.iter().any(|(k, _)| k == "code_verifier"), "the hub sent its verifier");
    drop(s2);
}

#[tokio::test]
async fn auth_state_is_encrypted_at_rest_and_refreshed() {
    let hub = start(Opts::gitlab().auth_state()).await;
    // Short GitLab tokens so the next refresh renews them.
    hub.sim().set_token_lifetime(std::time::Duration::from_secs(700));
    let browser = browser();
    assert_eq!(hub.gitlab_login(&browser, "alice", "/hub/home").await.status(), 302);
    let raw = hub.raw_auth_state("alice").await.expect("auth_state stored");
    assert!(raw.starts_with(b"gAAAAA"), "Fernet token");
    let crypt = hub.app.crypt.as_ref().unwrap();
    let state = crypt.decrypt(&raw).unwrap();
    let first_token = state["access_token"].as_str().unwrap().to_string();
    assert!(!first_token.is_empty());
    let raw_text = String::from_utf8_lossy(&raw);
    assert!(!raw_text.contains(&first_token), "the raw row must not hold the GitLab token in clear");
    assert!(!raw_text.contains("gitlab_user") && !raw_text.contains("alice"));

    // Within auth_refresh_age nothing is asked.
    let user_calls = hub.sim().requests_to(jhub_gitlab_sim::Endpoint::User).len();
    hub.advance(200);
    assert_eq!(browser.get(hub.at("/hub/home")).send().await.unwrap().status(), 200);
    assert_eq!(hub.sim().requests_to(jhub_gitlab_sim::Endpoint::User).len(), user_calls, "no refresh before 300 s");

    // Past it: the token (expiring within the margin) is renewed and stored encrypted.
    hub.advance(101);
    assert_eq!(browser.get(hub.at("/hub/home")).send().await.unwrap().status(), 200);
    let raw2 = hub.raw_auth_state("alice").await.unwrap();
    assert_ne!(raw, raw2);
    let renewed = crypt.decrypt(&raw2).unwrap();
    let second_token = renewed["access_token"].as_str().unwrap().to_string();
    assert_ne!(first_token, second_token, "refresh stored a new GitLab token");
    assert!(!String::from_utf8_lossy(&raw2).contains(&second_token));
}

#[tokio::test]
async fn removed_group_member_is_logged_out_at_the_next_refresh() {
    let hub = start(Opts::gitlab().auth_state()).await;
    let browser = browser();
    let login = hub.gitlab_login(&browser, "alice", "/hub/home").await;
    assert_eq!(login.status(), 302);
    let cookie_header: String = set_cookies(&login)
        .iter()
        .filter(|c| c.starts_with("jupyterhub-hub-login=") || c.starts_with("jupyterhub-session-id="))
        .map(|c| c.split(';').next().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("; ");
    assert!(hub.sim().remove_group_member("jupyter-users", "alice"));
    // Not yet due: still in.
    hub.advance(120);
    assert_eq!(browser.get(hub.at("/hub/home")).send().await.unwrap().status(), 200);
    // Past auth_refresh_age (and the authenticator's recheck interval): out.
    hub.advance(200);
    let response = browser.get(hub.at("/hub/home")).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "/hub/login?next=%2Fhub%2Fhome");
    let cleared = set_cookies(&response);
    for name in ["jupyterhub-hub-login", "jupyterhub-session-id", "_xsrf"] {
        let cookie = set_cookie(&cleared, name).unwrap_or_else(|| panic!("{name} cleared"));
        assert!(cookie.contains("Max-Age=0"), "{cookie}");
    }
    // Revoked: the cookie id was rotated, so the old cookie is dead everywhere.
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(hub.at("/hub/home"))
        .header("cookie", cookie_header)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 302, "old login cookie must not work after revocation");
    // And a new login is refused.
    let again = hub.gitlab_login(&browser, "alice", "/hub/home").await;
    assert_eq!(again.status(), 403);
}

#[tokio::test]
async fn membership_is_rechecked_without_persisted_auth_state() {
    // enable_auth_state off (the seed config): the GitLab token lives in memory only.
    let hub = start(Opts::gitlab()).await;
    let browser = browser();
    assert_eq!(hub.gitlab_login(&browser, "dave", "/hub/home").await.status(), 302);
    assert!(hub.raw_auth_state("dave").await.is_none(), "nothing persisted without enable_auth_state");
    hub.advance(301);
    assert_eq!(browser.get(hub.at("/hub/home")).send().await.unwrap().status(), 200, "still a member: kept");
    assert!(hub.sim().remove_group_member("research/ml team", "dave"));
    hub.advance(301);
    let response = browser.get(hub.at("/hub/token")).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "/hub/login?next=%2Fhub%2Ftoken");
}

#[tokio::test]
async fn removed_member_cannot_spawn_even_before_the_refresh_interval() {
    let hub = start(Opts::gitlab().auth_state()).await;
    let browser = browser();
    assert_eq!(hub.gitlab_login(&browser, "alice", "/hub/home").await.status(), 302);
    assert!(hub.sim().remove_group_member("jupyter-users", "alice"));
    // refresh_pre_spawn re-checks at once (the authenticator re-checks
    // membership before every spawn).
    let response = browser.get(hub.at("/hub/spawn")).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert!(location(&response).starts_with("/hub/login?next="), "{}", location(&response));
    assert_eq!(hub.spawner.starts.load(std::sync::atomic::Ordering::Relaxed), 0, "nothing started");
}

#[tokio::test]
async fn next_from_the_oauth_state_is_validated() {
    let hub = start(Opts::gitlab()).await;
    for evil in ["//evil.example", "https://evil.example/x", "javascript:alert(1)", "/\\evil.example"] {
        let browser = browser();
        let response = hub.gitlab_login(&browser, "alice", evil).await;
        assert_eq!(response.status(), 302, "{evil}");
        let target = location(&response);
        let resolved = url::Url::parse(&hub.url).unwrap().join(&target).unwrap();
        assert_eq!(resolved.host_str(), Some("127.0.0.1"), "{evil} → {target}");
        assert!(target.starts_with('/') && !target.starts_with("//"), "{evil} → {target}");
    }
}

#[tokio::test]
async fn auto_login_and_logout_redirect() {
    let hub = start(Opts::gitlab().configure(|_, web| web.auto_login = true)).await;
    let browser = browser();
    let login = browser.get(hub.at("/hub/login?next=%2Fhub%2Ftoken")).send().await.unwrap();
    assert_eq!(login.status(), 302);
    assert_eq!(location(&login), "/hub/oauth_login?next=%2Fhub%2Ftoken");
    assert_eq!(hub.gitlab_login(&browser, "alice", "/hub/token").await.status(), 302);
    // With auto_login, logout renders logout.html (a redirect to login would log straight back in).
    let logout = browser.get(hub.at("/hub/logout")).send().await.unwrap();
    assert_eq!(logout.status(), 200);
    assert!(set_cookie(&set_cookies(&logout), "jupyterhub-hub-login").unwrap().contains("Max-Age=0"));
    assert!(logout.text().await.unwrap().contains("Successfully logged out."));

    let redirecting = start(Opts::gitlab().configure(|_, web| {
        web.logout_redirect_url = Some("https://gitlab.example.org/users/sign_out".into());
    }))
    .await;
    let browser = pages_support::browser();
    assert_eq!(redirecting.gitlab_login(&browser, "alice", "/hub/home").await.status(), 302);
    let logout = browser.get(redirecting.at("/hub/logout")).send().await.unwrap();
    assert_eq!(logout.status(), 302);
    assert_eq!(location(&logout), "https://gitlab.example.org/users/sign_out");
    assert_eq!(browser.get(redirecting.at("/hub/home")).send().await.unwrap().status(), 302, "logged out");
}

/// The REST API applies the same checks: a spawn through `POST
/// /hub/api/users/{name}/server` re-asks GitLab first, and a cookie API
/// request from a user whose access was revoked is no longer authenticated.
#[tokio::test]
async fn rest_spawns_and_cookie_api_calls_recheck_membership() {
    let hub = start(Opts::gitlab().auth_state()).await;
    let browser = browser();
    assert_eq!(hub.gitlab_login(&browser, "alice", "/hub/home").await.status(), 302);
    let token = hub.hub.create_token("alice", Default::default()).await.unwrap().secret;
    let xsrf = hub.xsrf(&browser, "/hub/home").await;
    let me = browser.get(hub.at("/hub/api/user")).header("X-XSRFToken", &xsrf).send().await.unwrap();
    assert_eq!(me.status(), 200);
    assert!(hub.sim().remove_group_member("jupyter-users", "alice"));
    let spawn = reqwest::Client::new()
        .post(hub.at("/hub/api/users/alice/server"))
        .header("Authorization", format!("token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(spawn.status(), 403, "refresh_pre_spawn refuses a revoked member");
    assert_eq!(hub.spawner.starts.load(std::sync::atomic::Ordering::Relaxed), 0, "nothing started");
    hub.advance(301);
    let me = browser.get(hub.at("/hub/api/user")).header("X-XSRFToken", &xsrf).send().await.unwrap();
    assert_eq!(me.status(), 403, "the revoked browser session no longer authenticates API calls");
}

/// `manage_groups` end to end: GitLab groups (subgroups by full path) become
/// hub groups at login, a `load_roles` role for a group reaches its members,
/// `admin_groups` makes admins, `allowed_groups` is an allow rule on its own,
/// and a user removed from a GitLab group between two spawns leaves the hub
/// group at the second spawn's refresh.
#[tokio::test]
async fn gitlab_groups_become_hub_groups_and_drive_roles() {
    let hub = start(
        Opts::gitlab()
            .auth_state()
            .gitlab_settings(|gl| {
                gl.allowed_gitlab_groups.clear();
                gl.allowed_project_ids.clear();
                gl.groups.manage_groups = true;
                gl.groups.allowed_groups = ["research/ml team".to_string()].into();
                gl.groups.admin_groups = ["jupyter-users".to_string()].into();
            })
            .configure(|settings, _| {
                settings.roles.push(jhub_hub::RoleSpec {
                    name: "ml-readers".into(),
                    description: None,
                    scopes: vec!["read:users:name".into()],
                    users: vec![],
                    groups: vec!["research/ml team".into()],
                    services: vec![],
                });
            }),
    )
    .await;
    // The role's group exists from startup (JupyterHub creates it too).
    assert!(hub.hub.read().group("research/ml team").is_some());
    hub.sim().add_group_member("other", "dave", 30);
    let browser = browser();
    assert_eq!(
        hub.gitlab_login(&browser, "dave", "/hub/home").await.status(),
        302,
        "allowed_groups alone lets dave in"
    );
    {
        let state = hub.hub.read();
        let dave = state.user("dave").unwrap();
        assert_eq!(state.group_names_of(dave), ["other", "research/ml team"]);
        assert_eq!(state.effective_role_names(dave), ["ml-readers"]);
        assert!(!dave.user.admin);
    }
    // Admin through admin_groups; allowed without being in allowed_groups.
    assert_eq!(hub.gitlab_login(&pages_support::browser(), "alice", "/hub/home").await.status(), 302);
    assert!(hub.hub.read().user("alice").unwrap().user.admin);
    // erin is only on a project: no allow rule matches any more.
    assert_eq!(hub.gitlab_login(&pages_support::browser(), "erin", "/hub/home").await.status(), 403);

    // First spawn, then removal from `other` at GitLab, then the second spawn:
    // its pre-spawn refresh re-reads the groups and the hub follows.
    let xsrf = hub.xsrf(&browser, "/hub/home").await;
    let spawn = |name: &'static str| {
        let browser = browser.clone();
        let url = hub.at(&format!("/hub/api/users/dave/servers/{name}"));
        let xsrf = xsrf.clone();
        async move { browser.post(url).header("X-XSRFToken", xsrf).send().await.unwrap().status() }
    };
    assert!(spawn("one").await.is_success());
    assert!(hub.sim().remove_group_member("other", "dave"));
    assert!(spawn("two").await.is_success(), "still in the allowed group");
    {
        let state = hub.hub.read();
        assert_eq!(state.group_names_of(state.user("dave").unwrap()), ["research/ml team"]);
    }
    // Removed from the allowed group: the third spawn is refused and the
    // browser session ends.
    assert!(hub.sim().remove_group_member("research/ml team", "dave"));
    assert_eq!(spawn("three").await, 403);
}

/// `username_pattern` (with `username_map` applied first): a GitLab user
/// whose hub name does not match is refused at login with a clear 403 page
/// naming the name, and no user is created.
#[tokio::test]
async fn username_pattern_refuses_with_a_clear_page() {
    let hub = start(Opts::gitlab().gitlab_settings(|gl| {
        gl.username_map.insert("carol".into(), "Carol.Ext".to_lowercase());
        gl.username_pattern = Some("[a-b]".into());
    }))
    .await;
    let response = hub.gitlab_login(&browser(), "carol", "/hub/home").await;
    assert_eq!(response.status(), 403);
    let html = response.text().await.unwrap();
    assert!(html.contains("The username &#34;carol.ext&#34; is not allowed on this hub"), "{html}");
    assert!(hub.hub.read().user("carol.ext").is_none() && hub.hub.read().user("carol").is_none());
    assert_eq!(hub.gitlab_login(&browser(), "alice", "/hub/home").await.status(), 302, "alice matches");
}

fn manage_groups_only(gl: &mut jhub_auth::GitLabSettings) {
    gl.allowed_gitlab_groups.clear();
    gl.allowed_project_ids.clear();
    gl.groups.manage_groups = true;
    gl.groups.allowed_groups = ["research/ml team".to_string(), "jupyter-users".to_string()].into();
}

/// With `manage_groups`, group edits through the API are still allowed, as
/// in JupyterHub 5.3 and later (`admin:groups`/`groups` scopes; JupyterHub
/// 5.0–5.2 answered 400 "Group management via API is disabled"), and the
/// user's next login makes her groups what GitLab says again.
#[tokio::test]
async fn group_api_edits_are_allowed_with_manage_groups_and_reset_at_the_next_login() {
    let hub = start(Opts::gitlab().gitlab_settings(manage_groups_only)).await;
    assert_eq!(hub.gitlab_login(&browser(), "dave", "/hub/home").await.status(), 302);
    hub.hub.create_user("ops", true).await.unwrap();
    let token = hub.hub.create_token("ops", Default::default()).await.unwrap().secret;
    let api = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        reqwest::Client::new()
            .request(method, hub.at(&format!("/hub/api{path}")))
            .header("Authorization", format!("token {token}"))
            .json(&body)
            .send()
    };
    let groups_of = |user: &str| {
        let state = hub.hub.read();
        state.group_names_of(state.user(user).unwrap())
    };
    assert_eq!(groups_of("dave"), ["research/ml team"]);
    let created = api(reqwest::Method::POST, "/groups/extra", serde_json::json!({"users": ["dave"]})).await.unwrap();
    assert_eq!(created.status(), 201);
    let added = api(reqwest::Method::POST, "/groups/other/users", serde_json::json!({"users": ["dave"]}));
    assert_eq!(added.await.unwrap().status(), 404, "no such group yet: the API does not create it");
    let removed =
        api(reqwest::Method::DELETE, "/groups/research%2Fml%20team/users", serde_json::json!({"users": ["dave"]}));
    assert_eq!(removed.await.unwrap().status(), 200);
    let props = api(reqwest::Method::PUT, "/groups/extra/properties", serde_json::json!({"k": "v"}));
    assert_eq!(props.await.unwrap().status(), 200);
    assert_eq!(groups_of("dave"), ["extra"]);
    // The next login resets membership to GitLab's groups.
    assert_eq!(hub.gitlab_login(&browser(), "dave", "/hub/home").await.status(), 302);
    assert_eq!(groups_of("dave"), ["research/ml team"]);
    let deleted = api(reqwest::Method::DELETE, "/groups/extra", serde_json::Value::Null).await.unwrap();
    assert_eq!(deleted.status(), 204);
}

/// Without `enable_auth_state` the hub keeps no GitLab token across a
/// restart, so it cannot re-read a user's groups until she logs in again;
/// the groups of her last login are in the database and stay in force
/// (roles through groups included) — a refresh with nothing to re-check
/// with changes nothing.
#[tokio::test]
async fn managed_groups_survive_a_restart_without_auth_state() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/hub.sqlite", dir.path().display());
    let role = |settings: &mut jhub_hub::HubSettings, _: &mut jhub_web::WebSettings| {
        settings.roles.push(jhub_hub::RoleSpec {
            name: "ml-readers".into(),
            description: None,
            scopes: vec!["read:users:name".into()],
            users: vec![],
            groups: vec!["research/ml team".into()],
            services: vec![],
        });
    };
    let browser = browser();
    {
        let first = start(Opts::gitlab().gitlab_settings(manage_groups_only).configure(role).db_url(&db)).await;
        first.sim().add_group_member("other", "dave", 30);
        assert_eq!(first.gitlab_login(&browser, "dave", "/hub/home").await.status(), 302);
        let state = first.hub.read();
        assert_eq!(state.group_names_of(state.user("dave").unwrap()), ["other", "research/ml team"]);
    }
    let second = start(Opts::gitlab().gitlab_settings(manage_groups_only).configure(role).db_url(&db)).await;
    let check = |when: &str| {
        let state = second.hub.read();
        let dave = state.user("dave").unwrap();
        assert_eq!(state.group_names_of(dave), ["other", "research/ml team"], "{when}");
        assert_eq!(state.effective_role_names(dave), ["ml-readers"], "{when}");
    };
    check("after the restart");
    // The browser session from before the restart is still valid (same
    // cookie secret, sessions in the database); past auth_refresh_age the
    // refresh finds no auth_state and leaves the groups alone.
    second.advance(3600);
    let xsrf = second.xsrf(&browser, "/hub/home").await;
    let me = browser.get(second.at("/hub/api/user")).header("X-XSRFToken", &xsrf).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let groups: Vec<String> = me.json::<serde_json::Value>().await.unwrap()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap().to_string())
        .collect();
    assert_eq!(groups, ["other", "research/ml team"]);
    check("after a refresh without auth_state");
}

/// `login_service` labels the login page's button (default "GitLab").
#[tokio::test]
async fn login_service_labels_the_login_button() {
    let plain = start(Opts::gitlab()).await;
    let page = browser().get(plain.at("/hub/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(">Sign in with GitLab</a>"), "{page}");
    let named = start(Opts::gitlab().gitlab_settings(|gl| gl.login_service = "Lab <GitLab>".into())).await;
    let page = browser().get(named.at("/hub/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(">Sign in with Lab &lt;GitLab&gt;</a>"), "{page}");
}
