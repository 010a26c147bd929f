//! Login form, cookies, XSRF, next-URL validation at every place that
//! takes `next`, HTML escaping, the home and token pages, static files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pages_support;

use pages_support::*;

/// Open-redirect vectors: none of them may leave the hub's origin.
const EVIL: &[&str] = &[
    "//evil.example",
    "//evil.example/x",
    "///evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "https://evil.example",
    "https://evil.example/hub/home",
    "http://evil.example@127.0.0.1/x",
    "%2F%2Fevil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/\t/evil.example",
    "evil.example",
];

/// A redirect target is safe when it resolves onto the hub's own host.
fn assert_same_origin(hub: &TestHub, target: &str, what: &str) {
    assert!(target.starts_with('/') && !target.starts_with("//") && !target.starts_with("/\\"), "{what}: {target}");
    let resolved = url::Url::parse(&hub.url).unwrap().join(target).unwrap();
    assert_eq!(resolved.host_str(), Some("127.0.0.1"), "{what}: {target}");
}

#[tokio::test]
async fn anonymous_root_and_login_page() {
    let hub = start(Opts::default()).await;
    let browser = browser();
    let root = browser.get(hub.at("/hub/")).send().await.unwrap();
    assert_eq!(root.status(), 302);
    assert_eq!(location(&root), "/hub/login?next=%2Fhub%2F");
    // `/` and `/hub` redirect into the hub.
    let top = browser.get(hub.at("/")).send().await.unwrap();
    assert_eq!(location(&top), "/hub/");
    let no_slash = browser.get(hub.at("/hub")).send().await.unwrap();
    assert_eq!(no_slash.status(), 301);
    assert_eq!(location(&no_slash), "/hub/");
    let user_no_slash = browser.get(hub.at("/user/alice")).send().await.unwrap();
    assert_eq!(user_no_slash.status(), 301);
    assert_eq!(location(&user_no_slash), "/user/alice/");
    let page = pages_support::browser().get(hub.at("/hub/login?next=%2Fhub%2Ftoken")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html; charset=utf-8"));
    let xsrf = set_cookie(&set_cookies(&page), "_xsrf").unwrap().clone();
    assert!(xsrf.contains("Path=/hub/") && xsrf.contains("Max-Age=3600") && !xsrf.contains("HttpOnly"), "{xsrf}");
    let html = page.text().await.unwrap();
    assert!(html.contains("action=\"/hub/login?next=%2Fhub%2Ftoken\""), "{html}");
    assert!(html.contains("id=\"login_submit\""));
    assert!(html.contains("name=\"username\"") && html.contains("name=\"password\""));
    assert!(html.contains("<label for=\"username_input\">Username</label>"));
    assert!(html.contains("<main id=\"main\""), "landmark");
    assert!(!html.contains("http://") && !html.contains("https://"), "no external resources");
    // Unknown page below /hub/: 404 page, not a redirect loop.
    let missing = browser.get(hub.at("/hub/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("404 : Not Found"));
}

#[tokio::test]
async fn form_login_xsrf_and_failures() {
    let hub = start(Opts::default()).await;
    let browser = browser();
    let page = browser.get(hub.at("/hub/login")).send().await.unwrap();
    let xsrf = xsrf_of(&page.text().await.unwrap());
    // No token: 403 with JupyterHub's login message, and no login.
    let missing =
        browser.post(hub.at("/hub/login")).form(&[("username", "alice"), ("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(missing.status(), 403);
    assert!(set_cookie(&set_cookies(&missing), "jupyterhub-hub-login").is_none());
    assert!(missing.text().await.unwrap().contains("Login form invalid or expired. Try again."));
    // Wrong token.
    let wrong = browser
        .post(hub.at("/hub/login"))
        .form(&[("username", "alice"), ("password", PASSWORD), ("_xsrf", "1:deadbeef")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    // A token from another browser (other User-Agent → other anonymous id) does not verify.
    let other = reqwest::Client::builder()
        .cookie_store(true)
        .user_agent("another-agent")
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let stolen = other
        .post(hub.at("/hub/login"))
        .header("cookie", format!("_xsrf={xsrf}"))
        .form(&[("username", "alice"), ("password", PASSWORD), ("_xsrf", xsrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(stolen.status(), 403);
    // Bad password: 403, form again with the message and the username kept.
    let bad = browser
        .post(hub.at("/hub/login"))
        .form(&[("username", "alice"), ("password", "nope-nope"), ("_xsrf", xsrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 403);
    let html = bad.text().await.unwrap();
    assert!(html.contains("Invalid username or password"));
    assert!(html.contains("value=\"alice\""));
    // Good password.
    let ok = browser
        .post(hub.at("/hub/login?next=%2Fhub%2Ftoken"))
        .form(&[("username", "alice"), ("password", PASSWORD), ("_xsrf", xsrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 302);
    assert_eq!(location(&ok), "/hub/token");
    let cookies = set_cookies(&ok);
    let login = set_cookie(&cookies, "jupyterhub-hub-login").unwrap();
    assert!(login.contains("HttpOnly") && login.contains("SameSite=Lax") && login.contains("Path=/hub/"));
    // Logged in: GET /hub/login refreshes the cookie and follows next.
    let again = browser.get(hub.at("/hub/login?next=%2Fhub%2Fhome")).send().await.unwrap();
    assert_eq!(again.status(), 302);
    assert_eq!(location(&again), "/hub/home");
    assert!(set_cookie(&set_cookies(&again), "jupyterhub-hub-login").is_some());
    // Logged in, no next: redirect_to_server → spawn page.
    let root = browser.get(hub.at("/hub/")).send().await.unwrap();
    assert_eq!(location(&root), "/hub/spawn");
}

#[tokio::test]
async fn secure_cookies_when_the_public_url_is_https() {
    let hub = start(Opts::default().configure(|_, web| web.secure_cookies = true)).await;
    let browser = browser();
    let page = browser.get(hub.at("/hub/login")).send().await.unwrap();
    assert!(set_cookie(&set_cookies(&page), "_xsrf").unwrap().contains("Secure"));
    let xsrf = xsrf_of(&page.text().await.unwrap());
    let ok = browser
        .post(hub.at("/hub/login"))
        .header("cookie", format!("_xsrf={xsrf}"))
        .form(&[("username", "alice"), ("password", PASSWORD), ("_xsrf", xsrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 302);
    for cookie in set_cookies(&ok) {
        assert!(cookie.contains("Secure"), "{cookie}");
    }
}

#[tokio::test]
async fn next_is_validated_everywhere() {
    let hub = start(Opts::default()).await;
    hub.hub.ensure_user("alice").await.unwrap();
    let alice = hub.logged_in("alice").await;
    for evil in EVIL {
        let q = enc(evil);
        // GET /hub/login while logged in.
        let r = alice.get(hub.at(&format!("/hub/login?next={q}"))).send().await.unwrap();
        assert_eq!(r.status(), 302, "{evil}");
        assert_same_origin(&hub, &location(&r), &format!("GET /hub/login next={evil}"));
        // GET /hub/?next=
        let r = alice.get(hub.at(&format!("/hub/?next={q}"))).send().await.unwrap();
        assert_same_origin(&hub, &location(&r), &format!("/hub/ next={evil}"));
        // POST /hub/login with next.
        let fresh = browser();
        let r = hub.password_login(&fresh, "bob", Some(evil)).await;
        assert_eq!(r.status(), 302, "{evil}");
        assert_same_origin(&hub, &location(&r), &format!("POST /hub/login next={evil}"));
        // The login form and its OAuth button carry only a validated next.
        let page = browser().get(hub.at(&format!("/hub/login?next={q}"))).send().await.unwrap();
        let html = page.text().await.unwrap();
        let start = html.find("action=\"").unwrap() + 8;
        let action = html[start..start + html[start..].find('"').unwrap()].replace("&amp;", "&");
        let next = query_param(&action, "next").unwrap_or_default();
        if !next.is_empty() {
            assert_same_origin(&hub, &next, &format!("login form next={evil}"));
        }
    }
    // The backslash form is escaped into a same-origin path, as upstream.
    let r = alice.get(hub.at("/hub/login?next=%2F%5Cevil.example")).send().await.unwrap();
    assert_eq!(location(&r), "/%5Cevil.example");
    // A same-origin absolute URL is reduced to its path.
    let own = format!("{}/user/alice/tree?a=1#f", hub.url);
    let r = alice.get(hub.at(&format!("/hub/login?next={}", enc(&own)))).send().await.unwrap();
    assert_eq!(location(&r), "/user/alice/tree?a=1#f");
}

#[tokio::test]
async fn spawn_and_pending_pages_validate_next() {
    let hub = start(Opts::default()).await;
    let alice = hub.logged_in("alice").await;
    // Start the server (no profile list: immediate spawn).
    let r = alice.get(hub.at("/hub/spawn")).send().await.unwrap();
    assert_eq!(r.status(), 302);
    for _ in 0..50 {
        if hub.hub.read().user("alice").unwrap().servers.get("").is_some_and(|s| s.ready()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for evil in EVIL {
        let q = enc(evil);
        for path in [format!("/hub/spawn?next={q}"), format!("/hub/spawn-pending/alice?next={q}")] {
            let r = alice.get(hub.at(&path)).send().await.unwrap();
            assert_eq!(r.status(), 302, "{path}");
            assert_same_origin(&hub, &location(&r), &path);
            if !evil.starts_with("/\\") {
                assert_eq!(location(&r), "/user/alice/", "{path}: unsafe next falls back to the server");
            }
        }
    }
    let r = alice.get(hub.at("/hub/spawn-pending/alice?next=%2Fuser%2Falice%2Flab")).send().await.unwrap();
    assert_eq!(location(&r), "/user/alice/lab");
}

#[tokio::test]
async fn names_and_texts_are_html_escaped() {
    let evil_user = "<img src=x onerror=alert(1)>";
    let hub = start(Opts::default()).await;
    let browser = hub.logged_in(evil_user).await;
    for path in ["/hub/home", "/hub/token"] {
        let page = browser.get(hub.at(path)).send().await.unwrap();
        assert_eq!(page.status(), 200, "{path}");
        let html = page.text().await.unwrap();
        assert!(!html.contains(evil_user), "{path} has the raw name");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "{path}");
        // window.jhdata holds the name JSON-escaped for a script context.
        assert!(html.contains("\\u003cimg src=x onerror=alert(1)\\u003e"), "{path}");
    }
    // A token note with markup.
    let note = "<script>alert('t')</script>";
    hub.hub
        .create_token(
            &evil_user.to_lowercase(),
            jhub_hub::tokens::TokenRequest { note: Some(note.into()), ..Default::default() },
        )
        .await
        .unwrap();
    let html = browser.get(hub.at("/hub/token")).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains(note));
    assert!(html.contains("&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;"));
    // The 404 JSON/page path echo is escaped too.
    let r = browser.get(hub.at("/hub/spawn/%3Cb%3Enobody")).send().await.unwrap();
    let html = r.text().await.unwrap();
    assert!(!html.contains("<b>nobody"));
}

#[tokio::test]
async fn home_page_lists_servers_with_api_buttons() {
    let hub = start(Opts::default()).await;
    let browser = hub.logged_in("alice").await;
    let html = browser.get(hub.at("/hub/home")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("id=\"start\" href=\"/hub/spawn/alice\""), "{html}");
    assert!(html.contains("id=\"new-server-form\""), "named servers allowed");
    let jhdata = jhdata_of(&html);
    assert!(!jhdata["xsrf_token"].as_str().unwrap().is_empty(), "jhdata carries the token for X-XSRFToken");
    assert_eq!(jhdata["user"], "alice");
    // Start the default and a named server, then the page offers stop buttons on the API URLs.
    for server in ["", "gpu-1"] {
        let command = jhub_hub::SpawnCommand {
            user: "alice".into(),
            server: server.into(),
            user_options: None,
            display_name: None,
        };
        let mut ticket = hub.hub.spawn(command).await.unwrap();
        ticket.wait(std::time::Duration::from_secs(10)).await.unwrap();
    }
    let html = browser.get(hub.at("/hub/home")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("data-action=\"stop\" data-api-url=\"/hub/api/users/alice/server\""), "{html}");
    assert!(html.contains("data-api-url=\"/hub/api/users/alice/servers/gpu-1\""));
    assert!(html.contains("href=\"/user/alice/\""));
    assert!(html.contains("href=\"/user/alice/gpu-1/\""));
    // Without named servers, no creation form.
    let plain = start(Opts::default().configure(|s, _| s.allow_named_servers = false)).await;
    let b = plain.logged_in("alice").await;
    let html = b.get(plain.at("/hub/home")).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("new-server-form"));
}

#[tokio::test]
async fn token_page_lists_tokens_and_applications() {
    let hub = start(
        Opts::default().configure(|s, _| s.token_expires_in_max = Some(std::time::Duration::from_secs(7 * 86_400))),
    )
    .await;
    let browser = hub.logged_in("alice").await;
    hub.hub
        .create_token(
            "alice",
            jhub_hub::tokens::TokenRequest {
                note: Some("for CI".into()),
                expires_in: Some(3600),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let page = browser.get(hub.at("/hub/token")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("for CI"));
    assert!(html.contains("data-action=\"revoke-token\""));
    assert!(html.contains("data-tokens-url=\"/hub/api/users/alice/tokens\""));
    assert!(html.contains("<option value=\"3600\">1 Hour</option>"));
    assert!(!html.contains(">Never<"), "capped by token_expires_in_max_seconds");
    // Anonymous → login.
    let anon = pages_support::browser().get(hub.at("/hub/token")).send().await.unwrap();
    assert_eq!(location(&anon), "/hub/login?next=%2Fhub%2Ftoken");
}

#[tokio::test]
async fn static_files_are_embedded() {
    let hub = start(Opts::default()).await;
    let browser = browser();
    let css = browser.get(hub.at("/hub/static/jhub.css")).send().await.unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(css.headers()["cache-control"], "no-cache");
    let html = browser.get(hub.at("/hub/login")).send().await.unwrap().text().await.unwrap();
    let start = html.find("/hub/static/jhub.css?v=").unwrap();
    let versioned = &html[start..html[start..].find('"').unwrap() + start];
    let cached = browser.get(hub.at(versioned)).send().await.unwrap();
    assert!(cached.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    let js = browser.get(hub.at("/hub/static/jhub.js")).send().await.unwrap();
    assert_eq!(js.headers()["content-type"], "text/javascript; charset=utf-8");
    let logo = browser.get(hub.at("/hub/logo")).send().await.unwrap();
    assert_eq!(logo.headers()["content-type"], "image/svg+xml");
    assert_eq!(browser.get(hub.at("/hub/static/../Cargo.toml")).send().await.unwrap().status(), 404);
    assert_eq!(browser.get(hub.at("/hub/static/nope.js")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn proxy_error_page_and_custom_templates() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("error.html"),
        "{% extends \"page.html\" %}{% block main %}<h1>custom {{ status_code }}</h1>{% endblock %}",
    )
    .unwrap();
    let plain = start(Opts::default()).await;
    let r = browser().get(plain.at("/hub/error/503?url=%2Fuser%2Fa")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("Your server appears to be down. Try restarting it from the hub"));
    // An admin's template directory (hub.templatePaths) wins over the built-in one.
    let hub = start(Opts { templates: vec![dir.path().to_path_buf()], ..Default::default() }).await;
    let r = browser().get(hub.at("/hub/error/418")).send().await.unwrap();
    assert_eq!(r.status(), 418);
    let html = r.text().await.unwrap();
    assert!(html.contains("<h1>custom 418</h1>"), "{html}");
    assert!(html.contains("<main id=\"main\""), "still extends the built-in page.html");
}

/// `template_vars` reach every page (z2jh's `announcement` banner in the
/// built-in page and any variable in an admin's template), `default_url`
/// is where `/hub/` and a login without `next` lead, and a login cookie is
/// honoured for `cookie_max_age_days` only.
#[tokio::test]
async fn template_vars_default_url_and_cookie_max_age() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("error.html"),
        "{% extends \"page.html\" %}{% block main %}<h1>{{ org }} {{ status_code }}</h1>{% endblock %}",
    )
    .unwrap();
    let hub = start(Opts { templates: vec![dir.path().to_path_buf()], ..Default::default() }.configure(|_, web| {
        web.template_vars.insert("announcement".into(), serde_json::json!("Maintenance <b>Friday</b>"));
        web.template_vars.insert("org".into(), serde_json::json!("Lab & Co"));
        web.default_url = Some("/hub/token".into());
        web.cookie_max_age = std::time::Duration::from_secs(86_400);
    }))
    .await;
    let page = browser().get(hub.at("/hub/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<div class=\"announcement\" role=\"status\">Maintenance <b>Friday</b></div>"), "{page}");
    let error = browser().get(hub.at("/hub/error/418")).send().await.unwrap().text().await.unwrap();
    assert!(error.contains("<h1>Lab &amp; Co 418</h1>"), "escaped like any variable: {error}");
    // default_url: after a login without next, and on /hub/.
    let browser = browser();
    let login = hub.password_login(&browser, "alice", None).await;
    assert_eq!(login.status(), 302);
    assert_eq!(location(&login), "/hub/token");
    let root = browser.get(hub.at("/hub/")).send().await.unwrap();
    assert_eq!(location(&root), "/hub/token");
    // cookie_max_age_days: one day here (the default is 14).
    hub.advance(23 * 3600);
    assert_eq!(browser.get(hub.at("/hub/home")).send().await.unwrap().status(), 200, "within a day");
    hub.advance(2 * 3600);
    let expired = browser.get(hub.at("/hub/home")).send().await.unwrap();
    assert_eq!(expired.status(), 302, "past a day the login cookie is no longer honoured");
    assert!(location(&expired).starts_with("/hub/login"), "{}", location(&expired));
}
