//! `/hub/admin` (issue 15): who may open it (admins, holders of `admin-ui`;
//! others 403, anonymous to login), the navigation link, the buttons the
//! page offers per scope, the XSRF rule its REST calls live under, escaping
//! of names, and the jhub-only server details endpoint it reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pages_support;

use jhub_hub::{RoleSpec, SpawnCommand};
use pages_support::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

fn role(name: &str, scopes: &[&str], users: &[&str]) -> RoleSpec {
    RoleSpec {
        name: name.into(),
        description: None,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        users: users.iter().map(|s| s.to_string()).collect(),
        groups: vec![],
        services: vec![],
    }
}

/// A hub with `olga` holding only `admin-ui` and `list:users` (a read-only operator).
async fn hub_with_operator() -> TestHub {
    let hub = start(Opts::default().configure(|settings, _| {
        settings.roles.push(role("operator", &["admin-ui", "list:users", "read:users"], &["olga"]));
    }))
    .await;
    // olga exists through her role; paul is a plain user.
    hub.hub.create_user("paul", false).await.unwrap();
    hub
}

#[tokio::test]
async fn admin_page_access_and_nav_link() {
    let hub = hub_with_operator().await;

    // Anonymous: to the login page, coming back here.
    let anonymous = browser().get(hub.at("/hub/admin")).send().await.unwrap();
    assert_eq!(anonymous.status(), 302);
    assert_eq!(location(&anonymous), "/hub/login?next=%2Fhub%2Fadmin");

    // An admin: the page, the nav link marked current, every action offered.
    let admin = hub.logged_in("admin").await;
    let page = admin.get(hub.at("/hub/admin")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("href=\"/hub/admin\" aria-current=\"page\">Admin</a>"), "nav link: {html}");
    assert!(html.contains("/hub/static/admin.js?v="), "the page script, versioned");
    assert!(!html.contains("<script src=\"http"), "no CDN");
    let jhdata = jhdata_of(&html);
    assert_eq!(jhdata["api_url"], "/hub/api");
    assert!(!jhdata["xsrf_token"].as_str().unwrap().is_empty());
    for capability in ["admin_users", "delete_users", "start_servers", "stop_servers", "access_servers", "admin_groups"]
    {
        assert_eq!(jhdata["may"][capability], true, "admin may {capability}: {jhdata:#}");
    }
    let home = admin.get(hub.at("/hub/home")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("href=\"/hub/admin\">Admin</a>"), "nav link on other pages");

    // admin-ui + list:users only: the page, without the buttons its scopes do not allow.
    let olga = hub.logged_in("olga").await;
    let page = olga.get(hub.at("/hub/admin")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let jhdata = jhdata_of(&page.text().await.unwrap());
    assert_eq!(jhdata["may"]["list_users"], true);
    for capability in ["admin_users", "delete_users", "start_servers", "stop_servers", "access_servers", "admin_groups"]
    {
        assert_eq!(jhdata["may"][capability], false, "olga may not {capability}: {jhdata:#}");
    }
    let home = olga.get(hub.at("/hub/home")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains(">Admin</a>"), "admin-ui holders get the link");
    // The API is still the check: olga lists users but cannot create one.
    let xsrf = hub.xsrf(&olga, "/hub/admin").await;
    let listed = olga
        .get(hub.at("/hub/api/users?limit=10&sort=name"))
        .header("X-XSRFToken", &xsrf)
        .header("Sec-Fetch-Mode", "cors")
        .header("Accept", "application/jupyterhub-pagination+json")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let body: Value = listed.json().await.unwrap();
    assert_eq!(body["_pagination"]["total"], 3, "{body:#}");
    let refused = olga
        .post(hub.at("/hub/api/users"))
        .header("X-XSRFToken", &xsrf)
        .json(&json!({"usernames": ["mallory"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    // A plain user: 403 page, no link.
    let paul = hub.logged_in("paul").await;
    let page = paul.get(hub.at("/hub/admin")).send().await.unwrap();
    assert_eq!(page.status(), 403);
    assert!(page.text().await.unwrap().contains("admin-ui"), "the 403 names the permission");
    let home = paul.get(hub.at("/hub/home")).send().await.unwrap().text().await.unwrap();
    assert!(!home.contains(">Admin</a>"), "no link for plain users");
}

#[tokio::test]
async fn admin_page_api_calls_need_the_xsrf_token() {
    let hub = hub_with_operator().await;
    let admin = hub.logged_in("admin").await;
    let xsrf = hub.xsrf(&admin, "/hub/admin").await;

    // A change with the cookie but without the token: refused, nothing created.
    let forged = admin.post(hub.at("/hub/api/users")).json(&json!({"usernames": ["eve"]})).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    let wrong = admin
        .post(hub.at("/hub/api/users"))
        .header("X-XSRFToken", "1|not-the-token")
        .json(&json!({"usernames": ["eve"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    assert!(hub.hub.read().user("eve").is_none());
    // A script's read (fetch sends Sec-Fetch-Mode: cors) without the token: refused too.
    let read = admin.get(hub.at("/hub/api/users")).header("Sec-Fetch-Mode", "cors").send().await.unwrap();
    assert_eq!(read.status(), 403);

    // With the page's token: what the page does — add two users, rename, make admin, delete.
    let send = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request =
            admin.request(method, hub.at(path)).header("X-XSRFToken", &xsrf).header("Sec-Fetch-Mode", "cors");
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let created =
        send(reqwest::Method::POST, "/hub/api/users", Some(json!({"usernames": ["eve", "frank"], "admin": false})))
            .await
            .unwrap();
    assert_eq!(created.status(), 201);
    let renamed =
        send(reqwest::Method::PATCH, "/hub/api/users/eve", Some(json!({"name": "eve2", "admin": true}))).await.unwrap();
    assert_eq!(renamed.status(), 200);
    {
        let state = hub.hub.read();
        assert!(state.user("eve").is_none());
        assert!(state.user("eve2").unwrap().user.admin);
    }
    assert_eq!(send(reqwest::Method::DELETE, "/hub/api/users/frank", None).await.unwrap().status(), 204);
    assert!(hub.hub.read().user("frank").is_none());
}

#[tokio::test]
async fn admin_page_escapes_names() {
    let nasty = "<img src=x onerror=alert(1)>\"'&";
    let hub = start(Opts::default().configure(move |settings, _| {
        settings.roles.push(role("operator", &["admin-ui"], &[nasty]));
    }))
    .await;
    let browser = hub.logged_in(nasty).await;
    let page = browser.get(hub.at("/hub/admin")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(!html.contains(nasty), "the raw name never reaches the page");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;&#34;&#39;&amp;"), "escaped in the nav bar");
    // jhdata is JSON inside <script>: no `<` that could close it.
    let script = html.split("window.jhdata = ").nth(1).unwrap().split(";</script>").next().unwrap();
    assert!(!script.contains('<'), "{script}");
    assert_eq!(jhdata_of(&html)["user"], nasty);
}

#[tokio::test]
async fn server_details_show_profile_gpus_node_and_events() {
    let spawner = Arc::new(jhub_hub::fakes::FakeSpawner::serving());
    *spawner.resources.lock().unwrap() = json!({
        "extra_resource_limits": {"nvidia.com/gpu": "2"},
        "node": "gpu-node-7",
        "node_selector": {"nvidia.com/gpu.product": "A100-SXM4"},
        "cpu_guarantee": 4,
        "mem_guarantee": "16Gi",
    });
    let hub = start(Opts { spawner: Some(spawner), ..Opts::default() }).await;
    hub.hub.create_user("gina", false).await.unwrap();
    hub.hub.create_user("paul", false).await.unwrap();
    let mut ticket = hub
        .hub
        .spawn(SpawnCommand {
            user: "gina".into(),
            server: "gpu".into(),
            user_options: Some(json!({"profile": "a100"})),
            display_name: None,
        })
        .await
        .unwrap();
    assert!(ticket.wait(Duration::from_secs(10)).await.is_some());

    let admin = hub.logged_in("admin").await;
    let xsrf = hub.xsrf(&admin, "/hub/admin").await;
    let get = |path: &str| admin.get(hub.at(path)).header("X-XSRFToken", &xsrf).send();
    let details: Value = {
        let response = get("/hub/api/jhub/users/gina/servers/gpu/details").await.unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    };
    assert_eq!(details["status"], "ready", "{details:#}");
    assert_eq!(details["profile"], "a100");
    assert_eq!(details["node"], "gpu-node-7");
    assert_eq!(details["gpus"], json!([{"resource": "nvidia.com/gpu", "count": 2.0}]));
    assert_eq!(details["gpu_total"], 2.0);
    assert_eq!(details["gpu_model"], "A100-SXM4");
    assert_eq!(details["cpu"], 4.0);
    assert_eq!(details["mem_bytes"], 16.0 * 1024.0 * 1024.0 * 1024.0);
    assert_eq!(details["progress"]["outcome"], "ready");
    let messages: Vec<&str> =
        details["progress"]["events"].as_array().unwrap().iter().filter_map(|e| e["message"].as_str()).collect();
    assert_eq!(messages.first(), Some(&"Server requested"), "{messages:?}");
    let kinds: Vec<&str> = details["events"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["spawn_requested", "started", "ready"], "{details:#}");
    assert_eq!(details["events"][2]["node"], "gpu-node-7");

    // The default server (never started) and unknown names.
    assert_eq!(get("/hub/api/jhub/users/gina/server/details").await.unwrap().status(), 404);
    assert_eq!(get("/hub/api/jhub/users/nobody/servers/gpu/details").await.unwrap().status(), 404);
    // Another plain user may not read gina's server (read:servers is checked by the table).
    let paul = hub.logged_in("paul").await;
    let paul_xsrf = hub.xsrf(&paul, "/hub/home").await;
    let refused = paul
        .get(hub.at("/hub/api/jhub/users/gina/servers/gpu/details"))
        .header("X-XSRFToken", &paul_xsrf)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404, "JupyterHub hides others' servers as 404");
    // gina reads her own.
    let gina = hub.logged_in("gina").await;
    let gina_xsrf = hub.xsrf(&gina, "/hub/home").await;
    let own = gina
        .get(hub.at("/hub/api/jhub/users/gina/servers/gpu/details"))
        .header("X-XSRFToken", &gina_xsrf)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
}

/// The admin page's pages of a sorted list: every (sort, offset, limit) page
/// is exactly the slice of the whole sorted list (only the page is ordered).
#[tokio::test]
async fn sorted_pages_are_slices_of_the_full_order() {
    let hub = start(Opts::default()).await;
    // Names out of id order, some activity (with ties) and some without.
    for i in 0..37 {
        let name = format!("u{:02}", (i * 17) % 37);
        hub.hub.create_user(&name, false).await.unwrap();
    }
    let admin = hub.logged_in("admin").await;
    let xsrf = hub.xsrf(&admin, "/hub/admin").await;
    for i in 0..37 {
        if i % 3 != 0 {
            let body = json!({"last_activity": format!("2026-01-{:02}T00:00:00Z", 1 + (i % 5)), "servers": {}});
            let done = admin
                .post(hub.at(&format!("/hub/api/users/u{i:02}/activity")))
                .header("X-XSRFToken", &xsrf)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(done.status(), 200, "{:?}", done.text().await);
        }
    }
    let names = |query: String| {
        let admin = admin.clone();
        let url = hub.at(&format!("/hub/api/users?{query}"));
        let xsrf = xsrf.clone();
        async move {
            let body: Value = admin.get(url).header("X-XSRFToken", xsrf).send().await.unwrap().json().await.unwrap();
            body.as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap().to_string()).collect::<Vec<_>>()
        }
    };
    for sort in ["name", "-name", "last_activity", "-last_activity", "-id"] {
        let full = names(format!("sort={sort}&limit=500")).await;
        assert_eq!(full.len(), 38, "{full:?}");
        for (offset, limit) in [(0, 5), (3, 7), (30, 5), (36, 10), (37, 1), (40, 5)] {
            let page = names(format!("sort={sort}&offset={offset}&limit={limit}")).await;
            let want: Vec<String> = full.iter().skip(offset).take(limit).cloned().collect();
            assert_eq!(page, want, "sort={sort} offset={offset} limit={limit}");
        }
    }
}
