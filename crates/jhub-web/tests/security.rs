//! The security regression suite: one test per advisory class of JupyterHub
//! and OAuthenticator (pain-points §4) and per finding of issue 11 that this
//! crate owns. Each test is named after what it defends and cites the
//! advisory it comes from; each fails when that defence is removed.
//!
//! Everything runs against a real hub on 127.0.0.1 (SQLite in memory, the
//! fake spawner, the in-memory proxy) and, for GitLab logins, the REAL
//! `GitLabOAuthenticator` against `jhub-gitlab-sim`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod pages_support;

use jhub_hub::fakes::{FakeSpawner, MemoryProxy};
use jhub_hub::{Hub, HubSettings, RoleSpec};
use jhub_web::{App, Templates, WebSettings};
use pages_support::{Opts, browser, enc, location, set_cookie, set_cookies, xsrf_of};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// `name=value` of a Set-Cookie line.
fn cookie_pair(line: &str) -> String {
    line.split(';').next().unwrap_or("").trim().to_string()
}

/// The value of cookie `name` among Set-Cookie lines.
fn cookie_value(lines: &[String], name: &str) -> String {
    let line = set_cookie(lines, name).unwrap_or_else(|| panic!("no Set-Cookie for {name}: {lines:?}"));
    cookie_pair(line).split_once('=').map(|(_, v)| v.to_string()).unwrap()
}

/// A client without a cookie store: cookies are sent by hand (a replay).
fn bare_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A redirect target stays on the hub when a browser resolves it against a
/// hub page (the WHATWG parser: `\` is `/`, tabs/newlines dropped).
fn assert_stays_on_hub(hub_url: &str, location: &str, what: &str) {
    let base = url::Url::parse(&format!("{hub_url}/hub/login")).unwrap();
    let resolved = base.join(location).unwrap_or_else(|e| panic!("{what}: {location:?}: {e}"));
    assert_eq!(resolved.origin(), base.origin(), "{what}: Location {location:?} leaves the hub");
}

async fn wait_ready(hub: &Hub, user: &str, server: &str) {
    for _ in 0..250 {
        if hub.read().user(user).and_then(|e| e.servers.get(server)).is_some_and(|s| s.ready()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{user}/{server} never became ready");
}

// ---------------------------------------------------------------------------
// Open redirect — CVE-2026-33709 / GHSA-3vff-hjqv-m7h8, issue 11 item 1
// ---------------------------------------------------------------------------

/// The three inputs of issue 11 item 1 (HUB = the hub's own host:port).
fn own_host_vectors(host: &str) -> Vec<String> {
    vec![format!("http://{host}//evil.example"), format!("//{host}//evil.example"), format!("///{host}///evil.example")]
}

/// CVE-2026-33709 / GHSA-3vff-hjqv-m7h8: a `next` naming the hub's own host
/// with a `//` path was reduced to `//evil.example`, a protocol-relative URL.
/// Every page that consumes `next` must answer a same-origin path
/// (`/evil.example`, as JupyterHub 6.1.1 does).
#[tokio::test]
async fn open_redirect_through_own_host_with_double_slash_path_is_closed() {
    let hub = pages_support::start(Opts::default()).await;
    let host = hub.url.trim_start_matches("http://").to_string();
    let alice = hub.logged_in("alice").await;
    for next in own_host_vectors(&host) {
        let q = enc(&next);
        // /hub/login (logged in), /hub/ — straight to next.
        for path in [format!("/hub/login?next={q}"), format!("/hub/?next={q}")] {
            let r = alice.get(hub.at(&path)).send().await.unwrap();
            assert_eq!(r.status(), 302, "{path}");
            assert_eq!(location(&r), "/evil.example", "{path}");
        }
        // POST /hub/login.
        let fresh = browser();
        let r = hub.password_login(&fresh, "bob", Some(&next)).await;
        assert_eq!((r.status().as_u16(), location(&r).as_str()), (302, "/evil.example"), "POST login {next}");
    }
    // /hub/spawn and /hub/spawn-pending/... once the server runs.
    let r = alice.get(hub.at("/hub/spawn")).send().await.unwrap();
    assert_eq!(r.status(), 302);
    wait_ready(&hub.hub, "alice", "").await;
    for next in own_host_vectors(&host) {
        let q = enc(&next);
        for path in [format!("/hub/spawn?next={q}"), format!("/hub/spawn-pending/alice?next={q}")] {
            let r = alice.get(hub.at(&path)).send().await.unwrap();
            assert_eq!(r.status(), 302, "{path}");
            assert_eq!(location(&r), "/evil.example", "{path}");
        }
    }
    // user-redirect: its path goes into spawn's next.
    for tail in ["//evil.example", "///evil.example", "/%2F%2Fevil.example", "/%5C%5Cevil.example"] {
        let path = format!("/hub/user-redirect{tail}");
        let r = alice.get(hub.at(&path)).send().await.unwrap();
        assert_eq!(r.status(), 302, "{path}");
        let spawn = location(&r);
        assert_stays_on_hub(&hub.url, &spawn, &path);
        let r = alice.get(hub.at(&spawn)).send().await.unwrap();
        assert_stays_on_hub(&hub.url, &location(&r), &format!("{path} then {spawn}"));
    }
    // Logout takes no next: it always ends on the hub.
    let r = alice.get(hub.at(&format!("/hub/logout?next={}", enc("//evil.example")))).send().await.unwrap();
    assert_eq!(location(&r), "/hub/login");
}

/// Same class, through the GitLab login: the `next` carried in the OAuth
/// state comes back through `/hub/oauth_callback` (GHSA-3vff-hjqv-m7h8).
#[tokio::test]
async fn open_redirect_through_the_oauth_callback_is_closed() {
    let hub = pages_support::start(Opts::gitlab()).await;
    let host = hub.url.trim_start_matches("http://").to_string();
    for next in own_host_vectors(&host) {
        let r = hub.gitlab_login(&browser(), "alice", &next).await;
        assert_eq!((r.status().as_u16(), location(&r).as_str()), (302, "/evil.example"), "oauth_callback next={next}");
    }
    for next in ["//evil.example", "\\\\evil.example", "https://evil.example/"] {
        let r = hub.gitlab_login(&browser(), "alice", next).await;
        assert_eq!(r.status(), 302, "{next}");
        assert_stays_on_hub(&hub.url, &location(&r), &format!("oauth_callback next={next}"));
    }
}

/// Differential: jhub's `next` rule against JupyterHub 6.1.1's own
/// `_validate_next_url` (run in its Python) on the advisory's table and a
/// few thousand generated values. Where both accept, the answers are equal;
/// where they differ, it is only because jhub is stricter (it refuses
/// control characters and whitespace, which browsers strip or mangle) or
/// compares scheme and host case-insensitively (still the hub's origin).
#[tokio::test]
async fn next_rule_matches_jupyterhub_6_except_where_stricter() {
    let Some(jupyterhub) = common::external_tool("JHUB_REAL_JUPYTERHUB", "singleuser") else { return };
    let python = std::path::Path::new(&jupyterhub).with_file_name("python");
    let script = common::repo_root().join("crates/jhub-web/tests/data/jupyterhub_validate_next.py");
    const HOST: &str = "hub.example.org:8000";
    let own = jhub_core::redirect::Origin { scheme: "http".into(), host: HOST.into() };
    let prefixes = [
        "",
        "http://hub.example.org:8000",
        "HTTP://hub.example.org:8000",
        "https://hub.example.org:8000",
        "//hub.example.org:8000",
        "///hub.example.org:8000",
        "\\\\hub.example.org:8000",
        "http://evil.example",
        "/",
    ];
    let pieces = [
        "/",
        "//",
        "\\",
        "\t",
        "\n",
        " ",
        "\u{0}",
        "%2F",
        "%5C",
        "@",
        ":",
        ".",
        "?",
        "#",
        "evil.example",
        "x",
        "hub.example.org:8000",
    ];
    let mut corpus: Vec<String> = vec![
        "//x".into(),
        "///x/triple".into(),
        "\\\\x".into(),
        format!("http://{HOST}//x/"),
        format!("http://{HOST}///x/"),
        "https://x/".into(),
        "/hub/home?a=1#f".into(),
        format!("http://{HOST}//evil.example"),
        format!("//{HOST}//evil.example"),
        format!("///{HOST}///evil.example"),
    ];
    // A fixed pseudo-random walk, so failures reproduce.
    let mut seed: u64 = 0x5eed;
    let mut next = |n: usize| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % n
    };
    for _ in 0..3000 {
        let mut value = prefixes[next(prefixes.len())].to_string();
        for _ in 0..next(6) {
            value.push_str(pieces[next(pieces.len())]);
        }
        corpus.push(value);
    }
    let mut child = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(format!("http://{HOST}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let input = serde_json::to_vec(&corpus).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, &input).await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await.unwrap().unwrap();
    assert!(output.status.success());
    let upstream: Vec<String> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(upstream.len(), corpus.len());
    let mut compared = 0;
    let mut upstream_unsafe = Vec::new();
    for (value, theirs) in corpus.iter().zip(&upstream) {
        let ours = jhub_core::redirect::validate_next(value, Some(&own));
        match (&ours, theirs.is_empty()) {
            (Some(ours), false) => {
                // JupyterHub drops an empty `?` or `#`; jhub keeps it.
                let norm = |s: &str| {
                    let mut s = s.replacen("?#", "#", 1);
                    while s.ends_with(['?', '#']) {
                        s.pop();
                    }
                    s
                };
                assert_eq!(norm(ours), norm(theirs), "{value:?}");
                compared += 1;
            }
            (None, true) => compared += 1,
            (None, false) => {
                // jhub refuses control characters and whitespace; and it
                // refuses what JupyterHub answers with a protocol-relative
                // `//…` (e.g. `///?` → `//?`), which is no same-origin path.
                let stricter = value.chars().any(|c| c.is_control() || c.is_whitespace())
                    || !jhub_core::redirect::is_same_origin_path(theirs);
                assert!(stricter, "jhub refuses {value:?}, JupyterHub gives {theirs:?}");
                if theirs.starts_with("//") {
                    upstream_unsafe.push((value.clone(), theirs.clone()));
                }
            }
            (Some(ours), true) => {
                // JupyterHub matches `scheme://host/` case-sensitively and
                // only with a `/` after the host; jhub also takes other
                // cases and `?`/`#` right after the host (same origin).
                let lowered = value.to_ascii_lowercase();
                let after_host = lowered.split_once(HOST).map(|(_, rest)| rest).unwrap_or("");
                let explained = lowered.contains(HOST)
                    && (lowered != *value || after_host.starts_with(['?', '#']) || after_host.is_empty());
                assert!(explained, "jhub gives {ours:?} for {value:?}, JupyterHub refuses");
            }
        }
    }
    assert!(compared > corpus.len() / 2, "only {compared} of {} compared", corpus.len());
    eprintln!(
        "JupyterHub 6.1.1 answers {} of these with a protocol-relative Location: {:?}",
        upstream_unsafe.len(),
        upstream_unsafe.iter().take(5).collect::<Vec<_>>()
    );
}

/// The advisory's own table of `next` values and the Location each must
/// give (pain-points §4.1; CVE-2026-33709): only same-origin single-slash
/// paths survive.
#[tokio::test]
async fn open_redirect_table_of_the_advisory() {
    let hub = pages_support::start(Opts::default()).await;
    let host = hub.url.trim_start_matches("http://").to_string();
    let alice = hub.logged_in("alice").await;
    let cases: Vec<(String, Option<&str>)> = vec![
        ("//x".into(), None),
        ("///x/triple".into(), None),
        ("\\\\x".into(), None),
        (format!("http://{host}//x/"), Some("/x/")),
        (format!("http://{host}///x/"), Some("/x/")),
        ("https://x/".into(), None),
        ("/hub/home?a=1#f".into(), Some("/hub/home?a=1#f")),
    ];
    for (next, expected) in cases {
        let r = alice.get(hub.at(&format!("/hub/login?next={}", enc(&next)))).send().await.unwrap();
        let got = location(&r);
        match expected {
            Some(path) => assert_eq!(got, path, "{next}"),
            // Refused: the default target, which is the spawn page.
            None => assert_eq!(got, "/hub/spawn", "{next}"),
        }
        assert_stays_on_hub(&hub.url, &got, &next);
    }
}

// ---------------------------------------------------------------------------
// Privilege escalation through scope edges — CVE-2024-41942 /
// GHSA-9x4q-3gxw-849f, issue 11 item 2
// ---------------------------------------------------------------------------

fn role(name: &str, scopes: &[&str], users: &[&str], groups: &[&str]) -> RoleSpec {
    RoleSpec {
        name: name.into(),
        description: None,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        users: users.iter().map(|s| s.to_string()).collect(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
        services: vec![],
    }
}

/// A hub whose configuration gives group `ops` a role with
/// `admin:servers`, `mallory` only `admin:users`, `lead` `admin:users` plus
/// `groups!group=ops`; bob's server runs. Groups must exist before the hub
/// applies `hub.loadRoles`, so they are seeded into the store first.
async fn escalation_hub() -> (common::TestHub, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = jhub_store::Store::connect("sqlite::memory:").await.unwrap();
    store.create_group("ops", &json!({}), &[]).await.unwrap();
    store.create_group("staff", &json!({}), &[]).await.unwrap();
    let mut settings = HubSettings::new("/", "http://127.0.0.1:8081/hub/api", "http://127.0.0.1:8081");
    settings.admin_users = vec!["admin".into()];
    settings.roles.push(role("ops-admin", &["admin:servers"], &[], &["ops"]));
    settings.roles.push(role("user-admin", &["admin:users"], &["mallory"], &[]));
    settings.roles.push(role("ops-lead", &["admin:users", "groups!group=ops"], &["lead"], &[]));
    let web = WebSettings::new(settings.layout.clone());
    let spawner = Arc::new(FakeSpawner::serving());
    let proxy = Arc::new(MemoryProxy::default());
    let clock = Arc::new(common::SystemClockForTests);
    let hub = Hub::start(settings, store, spawner.clone(), proxy.clone(), clock).await.unwrap();
    let auth = jhub_auth::SharedPasswordAuthenticator::new(jhub_auth::SharedPasswordSettings::new(
        common::PASSWORD.to_string().into(),
    ))
    .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let app = App::new(
        hub.clone(),
        Arc::new(auth),
        None,
        web,
        b"0123456789abcdef0123456789abcdef",
        Templates::new(vec![]),
        shutdown.clone(),
    );
    let admin_token = hub.create_token("admin", Default::default()).await.unwrap().secret;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = shutdown.clone();
    tokio::spawn(jhub_web::serve(listener, app.clone(), async move { stop.cancelled().await }));
    let test = common::TestHub { url, hub, app, spawner, proxy, admin_token, shutdown };
    test.hub.create_users(&["bob".to_string()], false).await.unwrap();
    let (status, _) = test.admin(Method::POST, "/users/bob/server", None).await;
    assert!(status == 201 || status == 202, "bob's server: {status}");
    wait_ready(&test.hub, "bob", "").await;
    let mallory = test.token_for("mallory", None).await;
    (test, mallory)
}

/// Issue 11 item 2: `admin:users` alone must not let a caller put itself
/// (or anyone) into a group whose role grants more (`admin:servers`); the
/// `groups` scope on every group added or removed is required, for PATCH
/// and for user creation. Before the fix mallory's next token stopped
/// bob's server (204). Same class as CVE-2024-41942 / GHSA-9x4q-3gxw-849f
/// (escalation through `admin:users`).
#[tokio::test]
async fn admin_users_scope_cannot_escalate_through_group_membership() {
    let (hub, mallory) = escalation_hub().await;
    let (status, _, body) = hub.call(Method::PATCH, "/users/mallory", &mallory, Some(json!({"groups": ["ops"]}))).await;
    assert_eq!(status, 403, "PATCH groups with admin:users only: {body}");
    assert!(hub.hub.read().group("ops").unwrap().members.is_empty(), "membership unchanged");
    // The escalation it would have enabled: a new token stopping bob's server.
    let fresh = hub.token_for("mallory", None).await;
    let (status, _, _) = hub.call(Method::DELETE, "/users/bob/server", &fresh, None).await;
    // 404: mallory holds `servers` only for her own (JupyterHub's rule).
    assert_eq!(status, 404, "mallory stops bob's server (before the fix: 204)");
    assert!(hub.hub.read().user("bob").unwrap().servers.get("").is_some_and(|s| s.active()));
    // Creating users into a group needs the same scope (POST /users, POST /users/{name}).
    let (status, _, body) =
        hub.call(Method::POST, "/users", &mallory, Some(json!({"usernames": ["sock1"], "groups": ["ops"]}))).await;
    assert_eq!(status, 403, "POST /users with groups: {body}");
    let (status, _, body) = hub.call(Method::POST, "/users/sock2", &mallory, Some(json!({"groups": ["ops"]}))).await;
    assert_eq!(status, 403, "POST /users/{{name}} with groups: {body}");
    assert!(hub.hub.read().user("sock1").is_none() && hub.hub.read().user("sock2").is_none(), "nothing created");
    // Removing someone from a group needs it too.
    hub.hub.add_group_members("staff", &["bob".to_string()]).await.unwrap();
    let (status, _, _) = hub.call(Method::PATCH, "/users/bob", &mallory, Some(json!({"groups": []}))).await;
    assert_eq!(status, 403, "removal from staff without groups!group=staff");
    // With `groups!group=ops` the same requests work, for ops only.
    let lead = hub.token_for("lead", None).await;
    let (status, _, body) = hub.call(Method::PATCH, "/users/sock0", &lead, None).await;
    assert_eq!(status, 404, "{body}");
    let (status, _, body) =
        hub.call(Method::POST, "/users", &lead, Some(json!({"usernames": ["sock3"], "groups": ["ops"]}))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(hub.hub.read().group("ops").unwrap().members.len(), 1, "sock3 is in ops");
    let (status, _, body) = hub.call(Method::PATCH, "/users/sock3", &lead, Some(json!({"groups": []}))).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) =
        hub.call(Method::PATCH, "/users/sock3", &lead, Some(json!({"groups": ["ops", "staff"]}))).await;
    assert_eq!(status, 403, "staff is outside lead's groups filter: {body}");
    // The admin may do anything.
    let (status, body) = hub.admin(Method::PATCH, "/users/mallory", Some(json!({"groups": ["staff"]}))).await;
    assert_eq!(status, 200, "{body}");
}

/// CVE-2024-41942 / GHSA-9x4q-3gxw-849f: holders of `admin:users` could make
/// themselves or others admin, or modify admins.
#[tokio::test]
async fn admin_users_scope_cannot_grant_or_touch_admin() {
    let (hub, mallory) = escalation_hub().await;
    let (status, _, body) = hub.call(Method::PATCH, "/users/mallory", &mallory, Some(json!({"admin": true}))).await;
    assert_eq!((status, body["message"].as_str()), (403, Some("Only admins can grant admin permissions")));
    let (status, _, body) = hub.call(Method::PATCH, "/users/admin", &mallory, Some(json!({"name": "x"}))).await;
    assert_eq!((status, body["message"].as_str()), (403, Some("Only admins can modify other admins")));
    let (status, _, _) =
        hub.call(Method::POST, "/users", &mallory, Some(json!({"usernames": ["root2"], "admin": true}))).await;
    assert_eq!(status, 403);
    let (status, _, body) =
        hub.call(Method::PATCH, "/users/mallory", &mallory, Some(json!({"roles": ["admin"]}))).await;
    assert_eq!(status, 400, "roles are never set through the API: {body}");
    let (status, _, body) =
        hub.call(Method::POST, "/users", &mallory, Some(json!({"usernames": ["r3"], "roles": ["admin"]}))).await;
    assert_eq!(status, 400, "roles are never set through the API: {body}");
    assert!(!hub.hub.read().user("mallory").unwrap().user.admin);
    assert!(hub.hub.read().user("root2").is_none() && hub.hub.read().user("r3").is_none());
}

/// GHSA-69wv-m5fw-2fhp: a filtered admin role (`admin:users!group=x`) could
/// create users and groups outside its filter; listings must be filtered.
#[tokio::test]
async fn filtered_admin_scopes_cannot_create_outside_their_filter() {
    let hub = common::start_with(|s, _| {
        let scopes = ["admin:users!group=team", "admin:groups!group=team", "list:users!group=team"];
        s.roles.push(role("team-admin", &scopes, &["lead"], &[]));
    })
    .await;
    hub.hub.create_users(&["ann".to_string(), "zed".to_string()], false).await.unwrap();
    hub.hub.create_group("team", &["ann".to_string()]).await.unwrap();
    let token = hub.token_for("lead", None).await;
    let (status, _, _) = hub.call(Method::POST, "/users", &token, Some(json!({"usernames": ["new1"]}))).await;
    assert!(status == 403 || status == 404, "create users: {status}");
    let (status, _, _) = hub.call(Method::POST, "/users/new2", &token, None).await;
    assert!(status == 403 || status == 404, "create one user: {status}");
    let (status, _, _) = hub.call(Method::POST, "/groups/newgroup", &token, None).await;
    assert!(status == 403 || status == 404, "create a group: {status}");
    let (status, _, _) = hub.call(Method::POST, "/groups", &token, Some(json!({"groups": ["g2"]}))).await;
    assert!(status == 403 || status == 404, "create groups: {status}");
    let (status, _, _) = hub.call(Method::DELETE, "/users/zed", &token, None).await;
    assert!(status == 403 || status == 404, "delete outside the filter: {status}");
    assert!(hub.hub.read().user("new1").is_none() && hub.hub.read().user("new2").is_none());
    assert!(hub.hub.read().group("newgroup").is_none() && hub.hub.read().group("g2").is_none());
    let (status, list) = hub.get("/users", &token).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ann"], "listing filtered to the group");
}

// ---------------------------------------------------------------------------
// Session management — CVE-2021-41247 / GHSA-cw7p-q79f-m2v7, issue 11 item 4
// ---------------------------------------------------------------------------

/// Logs `user` in with a fresh cookie-store browser; returns it with the
/// raw login and session cookie values it was given.
async fn login_capture(hub: &pages_support::TestHub, user: &str) -> (reqwest::Client, String, String) {
    let browser = browser();
    let r = hub.password_login(&browser, user, Some("/hub/home")).await;
    assert_eq!(r.status(), 302, "login {user}");
    let lines = set_cookies(&r);
    (browser, cookie_value(&lines, "jupyterhub-hub-login"), cookie_value(&lines, "jupyterhub-session-id"))
}

/// Issue 11 item 4 (JupyterHub 6.1.1 keeps accepting it): a login cookie
/// copied before logout is dead after logout. Class of CVE-2021-41247 /
/// GHSA-cw7p-q79f-m2v7 (incomplete logout).
#[tokio::test]
async fn logout_kills_a_replayed_login_cookie() {
    let hub = pages_support::start(Opts::default()).await;
    let (alice, login, session) = login_capture(&hub, "alice").await;
    let replay = format!("jupyterhub-hub-login={login}; jupyterhub-session-id={session}");
    let before = bare_client().get(hub.at("/hub/home")).header("cookie", &replay).send().await.unwrap();
    assert_eq!(before.status(), 200, "the copied cookie works while logged in");
    let out = alice.get(hub.at("/hub/logout")).send().await.unwrap();
    assert_eq!(out.status(), 302);
    let page = bare_client().get(hub.at("/hub/home")).header("cookie", &replay).send().await.unwrap();
    assert_eq!(page.status(), 302, "replayed login cookie after logout");
    assert!(location(&page).starts_with("/hub/login"), "{}", location(&page));
    let api = bare_client().get(hub.at("/hub/api/user")).header("cookie", &replay).send().await.unwrap();
    assert_eq!(api.status(), 403, "replayed cookie on the API after logout");
    // Logging in again works and gives a new cookie.
    let (_, login2, _) = login_capture(&hub, "alice").await;
    assert_ne!(login2, login);
}

/// Issue 11 item 4: `jupyterhub-session-id` is unsigned and reaches every
/// single-user server (path `/`). Its value seen by another user must not
/// let that user end the victim's session or revoke the victim's tokens.
#[tokio::test]
async fn a_foreign_session_id_cannot_log_the_victim_out() {
    let hub = pages_support::start(Opts::default()).await;
    let (alice, _, alice_session) = login_capture(&hub, "alice").await;
    let request = jhub_hub::tokens::TokenRequest { session_id: Some(alice_session.clone()), ..Default::default() };
    let alice_token = hub.hub.create_token("alice", request).await.unwrap().secret;
    let (_, mallory_login, _) = login_capture(&hub, "mallory").await;
    // Mallory logs out presenting alice's session id.
    let forged = format!("jupyterhub-hub-login={mallory_login}; jupyterhub-session-id={alice_session}");
    let out = bare_client().get(hub.at("/hub/logout")).header("cookie", &forged).send().await.unwrap();
    assert_eq!(out.status(), 302);
    let me = bare_client()
        .get(hub.at("/hub/api/user"))
        .header("authorization", format!("token {alice_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "alice's session token survives mallory's logout");
    assert!(hub.hub.store().session(&alice_session).await.unwrap().is_some(), "alice's session row survives");
    let home = alice.get(hub.at("/hub/home")).send().await.unwrap();
    assert_eq!(home.status(), 200, "alice is still logged in");
    // Alice's own logout does end her session and its tokens.
    alice.get(hub.at("/hub/logout")).send().await.unwrap();
    let me = bare_client()
        .get(hub.at("/hub/api/user"))
        .header("authorization", format!("token {alice_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 403, "tokens of the ended session are revoked");
}

/// CVE-2021-41247 / GHSA-cw7p-q79f-m2v7: after logout, what the browser
/// session was issued (the OAuth tokens single-user servers hold) is revoked
/// server-side, so another tab cannot keep using or revive it.
#[tokio::test]
async fn logout_revokes_what_the_browser_session_was_issued() {
    let hub = pages_support::start(Opts::default()).await;
    let (alice, _, session) = login_capture(&hub, "alice").await;
    let issued: Vec<String> = {
        let mut out = Vec::new();
        for _ in 0..2 {
            let request = jhub_hub::tokens::TokenRequest { session_id: Some(session.clone()), ..Default::default() };
            out.push(hub.hub.create_token("alice", request).await.unwrap().secret);
        }
        out
    };
    alice.get(hub.at("/hub/logout")).send().await.unwrap();
    for token in issued {
        let r = bare_client().get(hub.at("/hub/api/user")).header("authorization", format!("token {token}")).send();
        assert_eq!(r.await.unwrap().status(), 403);
    }
    // The browser holds no usable cookie either.
    let home = alice.get(hub.at("/hub/home")).send().await.unwrap();
    assert_eq!(home.status(), 302);
}

// ---------------------------------------------------------------------------
// Cookies over TLS — issue 11 item 8
// ---------------------------------------------------------------------------

/// Issue 11 item 8: behind a TLS-terminating proxy with `public_url` unset,
/// every cookie is `Secure` when `X-Forwarded-Proto: https`; over plain
/// http it is not (JupyterHub: tornado's `xheaders`).
#[tokio::test]
async fn cookies_are_secure_when_the_request_came_over_https() {
    let hub = pages_support::start(Opts::default()).await;
    assert!(hub.app.settings.public_origin.is_none() && !hub.app.settings.secure_cookies);
    for (https, what) in [(true, "X-Forwarded-Proto: https"), (false, "plain http")] {
        let client = bare_client();
        let mut page = client.get(hub.at("/hub/login"));
        if https {
            page = page.header("x-forwarded-proto", "https");
        }
        let page = page.send().await.unwrap();
        let lines = set_cookies(&page);
        let xsrf_line = set_cookie(&lines, "_xsrf").unwrap().clone();
        let xsrf = xsrf_of(&page.text().await.unwrap());
        let mut post = client
            .post(hub.at("/hub/login?next=%2Fhub%2Fhome"))
            .header("cookie", cookie_pair(&xsrf_line))
            .form(&[("username", "alice"), ("password", pages_support::PASSWORD), ("_xsrf", xsrf.as_str())]);
        if https {
            post = post.header("x-forwarded-proto", "https");
        }
        let done = post.send().await.unwrap();
        assert_eq!(done.status(), 302, "{what}");
        let mut all = lines.clone();
        all.extend(set_cookies(&done));
        assert!(all.len() >= 4, "{what}: {all:?}");
        for line in &all {
            let secure = line.split(';').any(|a| a.trim().eq_ignore_ascii_case("secure"));
            assert_eq!(secure, https, "{what}: {line}");
        }
        // Logout's removals too.
        let cookie: Vec<String> = set_cookies(&done).iter().map(|l| cookie_pair(l)).collect();
        let mut out = client.get(hub.at("/hub/logout")).header("cookie", cookie.join("; "));
        if https {
            out = out.header("x-forwarded-proto", "https");
        }
        for line in set_cookies(&out.send().await.unwrap()) {
            let secure = line.split(';').any(|a| a.trim().eq_ignore_ascii_case("secure"));
            assert_eq!(secure, https, "{what} logout: {line}");
        }
    }
}

// ---------------------------------------------------------------------------
// CSRF — CVE-2026-40864 / GHSA-m68r-v472-jgq9 and CVE-2020-36191 /
// GHSA-7xx3-qp5w-fw96
// ---------------------------------------------------------------------------

/// CVE-2020-36191 / GHSA-7xx3-qp5w-fw96: cookie-authenticated API calls that
/// change state (the admin panel's add/remove users) need the XSRF token.
/// CVE-2026-40864 / GHSA-m68r-v472-jgq9: `Sec-Fetch-Mode: no-cors` must not
/// skip the check. GET navigations stay allowed.
#[tokio::test]
async fn cookie_authenticated_state_changes_need_the_xsrf_token() {
    let hub = pages_support::start(Opts::default()).await;
    let admin = hub.logged_in("admin").await;
    let xsrf = hub.xsrf(&admin, "/hub/home").await;
    for mode in [None, Some("no-cors"), Some("cors"), Some("navigate"), Some("same-origin")] {
        for site in [None, Some("cross-site"), Some("same-origin")] {
            let what = format!("mode={mode:?} site={site:?}");
            let mut post = admin.post(hub.at("/hub/api/users")).json(&json!({"usernames": ["victim1"]}));
            let mut delete = admin.delete(hub.at("/hub/api/users/alice"));
            for (name, value) in [("sec-fetch-mode", mode), ("sec-fetch-site", site)] {
                if let Some(value) = value {
                    post = post.header(name, value);
                    delete = delete.header(name, value);
                }
            }
            hub.hub.ensure_user("alice").await.unwrap();
            assert_eq!(post.send().await.unwrap().status(), 403, "POST without _xsrf, {what}");
            assert_eq!(delete.send().await.unwrap().status(), 403, "DELETE without _xsrf, {what}");
        }
    }
    assert!(hub.hub.read().user("victim1").is_none());
    assert!(hub.hub.read().user("alice").is_some());
    // A GET navigation is fine without a token; the token makes the POST work.
    let nav = admin.get(hub.at("/hub/api/users")).header("sec-fetch-mode", "navigate").send().await.unwrap();
    assert_eq!(nav.status(), 200);
    let ok = admin
        .post(hub.at("/hub/api/users"))
        .header("x-xsrftoken", &xsrf)
        .json(&json!({"usernames": ["victim1"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 201);
    // Pages too: the login-less spawn POST without a token is refused.
    let alice = hub.logged_in("alice").await;
    let spawn = alice.post(hub.at("/hub/spawn")).header("sec-fetch-mode", "no-cors").form(&[("x", "1")]);
    assert_eq!(spawn.send().await.unwrap().status(), 403);
}

// ---------------------------------------------------------------------------
// Cookie tossing / same-site trust — CVE-2024-28233 / GHSA-7r3h-4ph8-w38g
// ---------------------------------------------------------------------------

/// CVE-2024-28233 / GHSA-7r3h-4ph8-w38g: content on a sibling origin (or
/// another user's server) can plant cookies. An `_xsrf` token is bound to
/// the session and the user's cookie id, so a tossed token of the
/// attacker's own session does not work for the victim; a tossed session
/// id does not make the victim's token valid either; `?token=` in a URL is
/// never accepted.
#[tokio::test]
async fn tossed_cookies_and_url_tokens_are_not_trusted() {
    let hub = pages_support::start(Opts::default()).await;
    let (alice, alice_login, alice_session) = login_capture(&hub, "alice").await;
    let (mallory, _, mallory_session) = login_capture(&hub, "mallory").await;
    let mallory_xsrf = hub.xsrf(&mallory, "/hub/home").await;
    let alice_xsrf = hub.xsrf(&alice, "/hub/home").await;
    // Mallory's (valid for her) token and cookie tossed into alice's browser.
    let tossed =
        format!("jupyterhub-hub-login={alice_login}; jupyterhub-session-id={alice_session}; _xsrf={mallory_xsrf}");
    let r = bare_client()
        .post(hub.at("/hub/api/users/alice/tokens"))
        .header("cookie", &tossed)
        .header("x-xsrftoken", &mallory_xsrf)
        .json(&json!({"note": "tossed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a token bound to mallory's session");
    // Tossing mallory's session id next to alice's own token does not help.
    let tossed =
        format!("jupyterhub-hub-login={alice_login}; jupyterhub-session-id={mallory_session}; _xsrf={alice_xsrf}");
    let r = bare_client()
        .post(hub.at("/hub/api/users/alice/tokens"))
        .header("cookie", &tossed)
        .header("x-xsrftoken", &alice_xsrf)
        .json(&json!({"note": "tossed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "alice's token is bound to her own session id");
    // The real thing works (the check is not just refusing everything).
    let r = alice
        .post(hub.at("/hub/api/users/alice/tokens"))
        .header("x-xsrftoken", &alice_xsrf)
        .json(&json!({"note": "mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let token: Value = r.json().await.unwrap();
    let secret = token["token"].as_str().unwrap();
    // `?token=` is never a credential.
    let r = bare_client().get(hub.at(&format!("/hub/api/user?token={secret}"))).send().await.unwrap();
    assert_eq!(r.status(), 403, "?token= in the URL");
    let r = bare_client().get(hub.at("/hub/api/user")).header("authorization", format!("token {secret}")).send();
    assert_eq!(r.await.unwrap().status(), 200);
}

// ---------------------------------------------------------------------------
// XSS / HTML injection — GHSA-c4gm-pwx9-9w8j
// ---------------------------------------------------------------------------

/// GHSA-c4gm-pwx9-9w8j: `next_url` was marked safe in templates. Every page
/// that renders `next` (login form, OAuth button, spawn form, spawn-pending
/// relaunch link) escapes it; unsafe values fall back to the default.
#[tokio::test]
async fn next_is_html_escaped_in_every_template() {
    let hub = pages_support::start(Opts::default().configure(|_, web| {
        web.profile_list = Some(
            jhub_podspec::profiles::ProfileList::from_config(&json!([
                {"display_name": "Small", "slug": "small", "default": true},
                {"display_name": "Large", "slug": "large"}
            ]))
            .unwrap(),
        );
    }))
    .await;
    // No whitespace: a `next` with spaces is refused before any template
    // sees it, and this one must reach the templates.
    let payload = "/hub/home\"><img/src=x/onerror=alert(1)>'";
    let q = enc(payload);
    let anon = browser().get(hub.at(&format!("/hub/login?next={q}"))).send().await.unwrap();
    let html = anon.text().await.unwrap();
    assert!(html.contains("onerror"), "the login page carries next: {html}");
    assert!(!html.contains("<img/src=x"), "login page: {html}");
    assert!(!html.contains("\"><img"), "login page: {html}");
    let alice = hub.logged_in("alice").await;
    for path in [format!("/hub/spawn?next={q}"), format!("/hub/spawn/alice/named1?next={q}")] {
        let page = alice.get(hub.at(&path)).send().await.unwrap();
        let html = page.text().await.unwrap();
        assert!(html.contains("profile") || html.contains("Small"), "{path} renders the form: {html}");
        assert!(!html.contains("<img/src=x"), "{path}: {html}");
        assert!(!html.contains("\"><img"), "{path}: {html}");
    }
}

// ---------------------------------------------------------------------------
// Unauthenticated DoS / log injection — CVE-2026-54338 / GHSA-p43p-whwx-q52h
// ---------------------------------------------------------------------------

/// CVE-2026-54338 / GHSA-p43p-whwx-q52h: failed-login usernames were logged
/// in full, so huge or control-character usernames flooded or forged log
/// lines. A 1 MB username and one with a newline and ANSI escapes get a 4xx,
/// and the log line is short and escaped.
#[test]
fn failed_login_usernames_are_truncated_and_escaped_in_logs() {
    let captured = Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || CaptureWriter(sink.clone()))
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let hub = pages_support::start(Opts::default()).await;
        let forged = "eve\n2026-01-01T00:00:00Z  INFO user logged in user=admin\u{1b}[31m";
        let huge = "a".repeat(1 << 20);
        for (name, username) in [("forged", forged.to_string()), ("huge", huge)] {
            let client = browser();
            let page = client.get(hub.at("/hub/login")).send().await.unwrap();
            let xsrf = xsrf_of(&page.text().await.unwrap());
            let r = client
                .post(hub.at("/hub/login"))
                .form(&[("username", username.as_str()), ("password", "wrong"), ("_xsrf", xsrf.as_str())])
                .send()
                .await
                .unwrap();
            assert!(r.status().is_client_error(), "{name}: {}", r.status());
        }
    });
    let log = String::from_utf8_lossy(&captured.lock().unwrap()).to_string();
    assert!(log.contains("eve"), "the refusal is logged: {log}");
    for line in log.lines() {
        assert!(line.len() < 2048, "a log line of {} bytes", line.len());
        assert!(!line.contains('\u{1b}'), "raw escape in {line:?}");
        assert!(!line.starts_with("2026-01-01T00:00:00Z"), "forged line: {line:?}");
    }
}

#[derive(Clone)]
struct CaptureWriter(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// OAuthenticator classes (GitLab)
// ---------------------------------------------------------------------------

/// GHSA-gprj-3p75-f996 (restrictions skipped on some allow paths) and
/// CVE-2018-7206 (GitLab group membership checked wrongly): `blocked_users`
/// beats every allow path (group, project, `allowed_users`, `admin_users`),
/// and only real members of the allowed groups/projects get in — not
/// outsiders, not Reporters where Developer is required.
#[tokio::test]
async fn every_gitlab_allow_path_applies_every_restriction() {
    let hub = pages_support::start(Opts::gitlab().gitlab_settings(|gl| {
        // mallory is in the allowed group AND allowed_users AND admin_users,
        // and blocked: blocked wins on every path.
        gl.access.allowed_users.insert("mallory".into());
        gl.access.admin_users.insert("mallory".into());
    }))
    .await;
    for (user, allowed) in
        [("alice", true), ("dave", true), ("erin", true), ("mallory", false), ("frank", false), ("oscar", false)]
    {
        let r = hub.gitlab_login(&browser(), user, "/hub/home").await;
        assert_eq!(r.status() == 302, allowed, "{user}: {}", r.status());
    }
    assert!(hub.hub.read().user("mallory").is_none(), "blocked user never created");
    // allow_all does not bypass blocked_users either.
    let hub = pages_support::start(Opts::gitlab().gitlab_settings(|gl| gl.access.allow_all = true)).await;
    assert_eq!(hub.gitlab_login(&browser(), "oscar", "/hub/home").await.status(), 302, "allow_all admits");
    assert_eq!(hub.gitlab_login(&browser(), "mallory", "/hub/home").await.status(), 403, "still blocked");
}

/// CVE-2024-29033 / GHSA-55m3-44xf-hg4h and CVE-2022-31027 /
/// GHSA-r7v4-jwx9-wx43 (authorisation by a user-controlled key such as the
/// email domain) and CVE-2026-33175 / GHSA-rrvg-cxh4-qhrv (identity from an
/// unverified email): the hub user is GitLab's `username`, and membership is
/// asked of GitLab's membership API — a user whose email looks like a
/// member's gets nothing from it.
#[tokio::test]
async fn gitlab_identity_and_membership_never_come_from_email() {
    let hub = pages_support::start(Opts::gitlab()).await;
    // oscar, an outsider, claims alice's address (GitLab lets users add
    // unverified secondary emails).
    assert!(hub.sim().set_email("oscar", "alice@example.org"));
    let r = hub.gitlab_login(&browser(), "oscar", "/hub/home").await;
    assert_eq!(r.status(), 403, "an email address is not membership");
    let r = hub.gitlab_login(&browser(), "alice", "/hub/home").await;
    assert_eq!(r.status(), 302);
    let state = hub.hub.read();
    assert!(state.user("alice").is_some() && state.user("oscar").is_none());
    assert!(state.users.values().all(|u| !u.user.name.contains('@')), "no user named after an email");
    drop(state);
    let members = hub.sim().requests_to(jhub_gitlab_sim::Endpoint::GroupMembers);
    assert!(!members.is_empty(), "membership asked of GitLab's membership API");
}

// ---------------------------------------------------------------------------
// Fail-open configuration — CVE-2020-26250 / GHSA-384w-5v3f-q499
// ---------------------------------------------------------------------------

/// CVE-2020-26250 / GHSA-384w-5v3f-q499: the deprecated `whitelist` was
/// silently ignored, so every authenticated user got in. jhub accepts the
/// deprecated `whitelist`/`blacklist` (with a warning) and they must still
/// restrict: a `blacklist` that is dropped admits a blocked group member.
#[test]
fn deprecated_allow_and_block_aliases_still_restrict() {
    let values = r#"
hub:
  config:
    JupyterHub:
      authenticator_class: gitlab
    GitLabOAuthenticator:
      client_id: jhub-test
      client_secret: jhub-test-secret
      oauth_callback_url: https://hub.example.org/hub/oauth_callback
      allowed_gitlab_groups: [jupyter-users]
    Authenticator:
      whitelist: [carol]
      blacklist: [mallory]
"#;
    let source = jhub_config::Source::Text { name: "values.yaml".into(), text: values.into() };
    let loaded = jhub_config::load(&[source], &jhub_config::Environment::default()).unwrap();
    let auth = &loaded.config.auth;
    assert!(auth.allowed_users.contains("carol"), "whitelist → allowed_users: {:?}", auth.allowed_users);
    assert!(auth.blocked_users.contains("mallory"), "blacklist → blocked_users: {:?}", auth.blocked_users);
    let warned: Vec<&str> = loaded.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(warned.iter().any(|m| m.contains("whitelist") && m.contains("deprecated")), "{warned:?}");
    assert!(warned.iter().any(|m| m.contains("blacklist") && m.contains("deprecated")), "{warned:?}");
}

// ---------------------------------------------------------------------------
// KubeSpawner classes — CVE-2020-15110 / GHSA-v7m9-9497-p9gr and unvalidated
// user_options (KubeSpawner commit 1b0e0de)
// ---------------------------------------------------------------------------

/// CVE-2020-15110 / GHSA-v7m9-9497-p9gr: crafted server names escaped to the
/// pod name of another user's server. Exhaustively over short names made
/// of the characters that matter (`-` joins user and server, `.` and
/// uppercase force hashing), distinct (user, server) pairs never share a
/// `{user_server}` (the pod/PVC name part) in either slug scheme.
#[test]
fn pod_names_of_distinct_user_server_pairs_never_collide() {
    use jhub_podspec::names::{SlugScheme, UserProperties};
    let alphabet = ['a', '-', '.', 'A'];
    let mut names = vec![String::new()];
    for len in 1..=3 {
        let mut next = Vec::new();
        for prefix in names.iter().filter(|n| n.chars().count() == len - 1) {
            for c in alphabet {
                next.push(format!("{prefix}{c}"));
            }
        }
        names.extend(next);
    }
    let users: Vec<&String> = names.iter().filter(|n| !n.is_empty()).collect();
    for scheme in [SlugScheme::Safe, SlugScheme::Escape] {
        let mut seen: std::collections::HashMap<String, (String, String)> = std::collections::HashMap::new();
        for user in &users {
            for server in &names {
                let props = UserProperties::new(user, 1, server, scheme, "jhub", "jhub");
                let key = props.user_server.to_ascii_lowercase();
                if let Some(other) = seen.insert(key.clone(), (user.to_string(), server.clone())) {
                    // Users differing only in case are one user (usernames are lower-cased).
                    let same_user = other.0.to_lowercase() == user.to_lowercase();
                    let same_server = other.1.to_lowercase() == server.to_lowercase();
                    assert!(
                        same_user && same_server,
                        "{scheme:?}: {other:?} and ({user:?}, {server:?}) both give {key}"
                    );
                }
            }
        }
    }
}

/// The fake spawner behind KubeSpawner's profile validation (the pure
/// `jhub_podspec::profiles` code the Kubernetes spawner runs).
struct ProfileChecking(Arc<FakeSpawner>, jhub_podspec::profiles::ProfileList);

#[async_trait::async_trait]
impl jhub_core::ports::Spawner for ProfileChecking {
    fn validate_options(
        &self,
        user: &jhub_core::ports::SpawnUser,
        server: &str,
        options: &Value,
    ) -> Result<Value, jhub_core::ports::SpawnError> {
        let map = options.as_object().cloned().unwrap_or_default();
        self.1.validate(&map).map_err(|e| jhub_core::ports::SpawnError::InvalidOptions(e.to_string()))?;
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

/// KubeSpawner commit 1b0e0de ("validate user_options before rendering
/// options form"): `user_options` sent through the REST API were used
/// unvalidated. A profile or choice outside the configured list is a 400
/// and nothing starts; a listed one starts.
#[tokio::test]
async fn spawn_options_outside_the_profile_list_are_refused() {
    let profiles = jhub_podspec::profiles::ProfileList::from_config(&json!([
        {"display_name": "Small", "slug": "small", "default": true,
         "profile_options": {"image": {"display_name": "Image", "choices": {
             "base": {"display_name": "Base", "default": true, "kubespawner_override": {"image": "base:1"}}
         }}}},
        {"display_name": "Large", "slug": "large"}
    ]))
    .unwrap();
    let options = common::Options {
        wrap_spawner: Some(Box::new(move |fake| Arc::new(ProfileChecking(fake, profiles)))),
        ..Default::default()
    };
    let hub = common::start_opts(options, |_, _| {}).await;
    hub.hub.create_user("ivy", false).await.unwrap();
    for bad in [
        json!({"profile": "gpu-a100"}),
        json!({"profile": 1}),
        json!({"profile": "small", "image": "attacker/image:latest"}),
        json!({"profile": "small", "image": ["base"]}),
    ] {
        let (status, body) = hub.admin(Method::POST, "/users/ivy/server", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(!hub.spawner.is_running("ivy", ""), "{bad} started a server");
        assert!(hub.hub.read().user("ivy").unwrap().servers.get("").is_none_or(|s| !s.active()), "{bad}");
    }
    let (status, body) = hub.admin(Method::POST, "/users/ivy/server", Some(json!({"profile": "large"}))).await;
    assert!(status == 201 || status == 202, "{body}");
}
