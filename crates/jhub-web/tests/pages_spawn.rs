//! The spawn pages over HTTP (jupyterhub-compat §7.5; kubespawner-compat
//! §2.3–§2.5): the profile form with KubeSpawner's field names (the seed
//! config's Chinese profiles), form and query spawns, refusals, throttling,
//! the pending page, and `/hub/user/...` / `/hub/user-redirect/...`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pages_support;

use jhub_hub::SpawnCommand;
use jhub_hub::fakes::FakeSpawner;
use jhub_podspec::profiles::ProfileList;
use pages_support::*;
use serde_json::{Value, json};
use std::time::Duration;

/// `singleuser.profileList` of the seed config (shared/seed/config-fixed.yaml).
fn seed_profiles() -> ProfileList {
    ProfileList::from_config(&json!([
        {
            "display_name": "CPU 分区",
            "description": "包含 Conda、Python 环境（8核16G）",
            "default": true,
            "kubespawner_override": {"cpu_gurantee": 1, "memo_gurantee": "1G", "cpu_limit": 8, "mem_limit": "16G"},
            "profile_options": {"image": {"display_name": "主机", "choices": {
                "lab6": {"display_name": "l1", "kubespawner_override": {"node_selector": {"kubernetes.io/hostname": "l1"}}},
                "lab9": {"display_name": "l2", "kubespawner_override": {"node_selector": {"kubernetes.io/hostname": "l2"}}}
            }}}
        },
        {
            "display_name": "GPU 分区",
            "description": "包含 Conda、Python、CUDA 环境（8核16G）",
            "kubespawner_override": {"image": "quay.io/zhonger/gpu-notebook:v3", "cpu_limit": 8, "mem_limit": "16G"},
            "profile_options": {"image": {"display_name": "资源配置", "choices": {
                "A100x1": {"display_name": "A100 (Python 3.11, CUDA 12) GPU x1",
                           "kubespawner_override": {"node_selector": {"gputype": "A100"}}},
                "P100x1": {"display_name": "P100 (Python 3.11, CUDA 12) GPU x1",
                           "kubespawner_override": {"node_selector": {"gputype": "P100"}}}
            }}}
        }
    ]))
    .unwrap()
}

fn with_seed_profiles() -> Opts {
    Opts::default().configure(|_, web| web.profile_list = Some(seed_profiles()))
}

async fn wait_ready(hub: &TestHub, user: &str, server: &str) {
    for _ in 0..200 {
        if hub.hub.read().user(user).and_then(|e| e.servers.get(server).map(|s| s.ready())) == Some(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{user}/{server} never became ready");
}

fn stored_options(hub: &TestHub, user: &str, server: &str) -> Value {
    hub.hub.read().user(user).unwrap().servers.get(server).unwrap().server.user_options.clone()
}

#[tokio::test]
async fn seed_profile_form_renders_kubespawner_fields() {
    let hub = start(with_seed_profiles()).await;
    let browser = hub.logged_in("alice").await;
    let page = browser.get(hub.at("/hub/spawn")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().await.unwrap();
    for expected in [
        "CPU 分区",
        "包含 Conda、Python 环境（8核16G）",
        "GPU 分区",
        "资源配置",
        "A100 (Python 3.11, CUDA 12) GPU x1",
        "<input type=\"radio\" name=\"profile\" id=\"profile-item-cpu-fen-qu\" value=\"cpu-fen-qu\" checked",
        "<input type=\"radio\" name=\"profile\" id=\"profile-item-gpu-fen-qu\" value=\"gpu-fen-qu\" aria-describedby",
        "<label for=\"profile-option-cpu-fen-qu--image\">主机</label>",
        "<select id=\"profile-option-cpu-fen-qu--image\" name=\"profile-option-cpu-fen-qu--image\"",
        "<option value=\"lab6\" selected>l1</option>",
        "<option value=\"lab9\">l2</option>",
        "<option value=\"A100x1\" selected>",
        "id=\"spawn_form\"",
        "method=\"post\"",
        "action=\"/hub/spawn/alice?_xsrf=",
    ] {
        assert!(html.contains(expected), "missing {expected:?} in\n{html}");
    }
    assert_eq!(html.matches("name=\"_xsrf\"").count(), 1);
    assert_eq!(hub.spawner.starts.load(std::sync::atomic::Ordering::Relaxed), 0, "the form does not spawn");
}

#[tokio::test]
async fn posting_the_form_spawns_with_user_options() {
    let hub = start(with_seed_profiles()).await;
    let browser = hub.logged_in("alice").await;
    let xsrf = hub.xsrf(&browser, "/hub/spawn").await;
    let response = browser
        .post(hub.at("/hub/spawn/alice?next=%2Fuser%2Falice%2Flab"))
        .form(&[
            ("_xsrf", xsrf.as_str()),
            ("profile", "gpu-fen-qu"),
            ("profile-option-cpu-fen-qu--image", "lab6"),
            ("profile-option-gpu-fen-qu--image", "P100x1"),
            ("stray", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "/hub/spawn-pending/alice?next=%2Fuser%2Falice%2Flab");
    assert_eq!(stored_options(&hub, "alice", ""), json!({"profile": "gpu-fen-qu", "image": "P100x1"}));
    wait_ready(&hub, "alice", "").await;
    let pending = browser.get(hub.at(&location(&response))).send().await.unwrap();
    assert_eq!(pending.status(), 302);
    assert_eq!(location(&pending), "/user/alice/lab");
    // Stopped again, the form pre-selects the saved choice.
    hub.hub
        .stop("alice", "", false, jhub_hub::StopReason::Requested)
        .await
        .unwrap()
        .wait(Duration::from_secs(10))
        .await;
    let html = browser.get(hub.at("/hub/spawn")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("value=\"gpu-fen-qu\" checked"), "{html}");
    assert!(html.contains("<option value=\"P100x1\" selected>"));
}

#[tokio::test]
async fn multipart_form_posts_work_too() {
    // JupyterHub's own spawn.html posts multipart/form-data; customised copies still must work.
    let hub = start(with_seed_profiles()).await;
    let browser = hub.logged_in("alice").await;
    let xsrf = hub.xsrf(&browser, "/hub/spawn").await;
    let boundary = "----jhubBoundary42";
    let mut body = String::new();
    for (name, value) in
        [("_xsrf", xsrf.as_str()), ("profile", "cpu-fen-qu"), ("profile-option-cpu-fen-qu--image", "lab9")]
    {
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let response = browser
        .post(hub.at("/hub/spawn"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(stored_options(&hub, "alice", ""), json!({"profile": "cpu-fen-qu", "image": "lab9"}));
}

#[tokio::test]
async fn refusals_rerender_the_form_with_the_message() {
    let hub = start(with_seed_profiles().configure(|s, web| {
        s.named_server_limit_per_user = 1;
        web.profile_list = Some(seed_profiles());
    }))
    .await;
    let browser = hub.logged_in("alice").await;
    let xsrf = hub.xsrf(&browser, "/hub/spawn").await;
    // XSRF.
    let no_token = browser.post(hub.at("/hub/spawn")).form(&[("profile", "cpu-fen-qu")]).send().await.unwrap();
    assert_eq!(no_token.status(), 403);
    assert!(no_token.text().await.unwrap().contains("403 : &#39;_xsrf&#39; argument missing from POST"));
    let bad_token = browser
        .post(hub.at("/hub/spawn"))
        .form(&[("profile", "cpu-fen-qu"), ("_xsrf", "123:abc")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_token.status(), 403);
    assert!(bad_token.text().await.unwrap().contains("XSRF cookie does not match POST argument"));
    // An option the spawner refuses: 400, the form again with the reason.
    let invalid = browser
        .post(hub.at("/hub/spawn"))
        .form(&[("_xsrf", xsrf.as_str()), ("profile", "cpu-fen-qu"), ("profile-option-cpu-fen-qu--invalid", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 400);
    let html = invalid.text().await.unwrap();
    assert!(html.contains("id=\"spawn-error\">option &#39;invalid&#39; is not accepted"), "{html}");
    assert!(html.contains("id=\"spawn_form\""));
    // The named-server limit.
    let first = browser.post(hub.at("/hub/spawn/alice/one")).form(&[("_xsrf", xsrf.as_str())]).send().await.unwrap();
    assert_eq!(first.status(), 302);
    let second = browser.post(hub.at("/hub/spawn/alice/two")).form(&[("_xsrf", xsrf.as_str())]).send().await.unwrap();
    assert_eq!(second.status(), 400);
    assert!(second.text().await.unwrap().contains("already has the maximum of 1 named servers"));
    // Invalid named-server name.
    let bad_name = browser.post(hub.at("/hub/spawn/alice/Bad_Name")).form(&[("_xsrf", xsrf.as_str())]).send().await;
    assert_eq!(bad_name.unwrap().status(), 400);
    // Another user's server: not even its existence is revealed.
    let bob = hub.logged_in("bob").await;
    let other = bob.get(hub.at("/hub/spawn/alice")).send().await.unwrap();
    assert_eq!(other.status(), 404);
    // An admin may open the form for alice.
    let admin = hub.logged_in("admin").await;
    let for_alice = admin.get(hub.at("/hub/spawn/alice")).send().await.unwrap();
    assert_eq!(for_alice.status(), 200);
    assert!(for_alice.text().await.unwrap().contains("Starting a server for <strong>alice</strong>"));
    let nobody = admin.get(hub.at("/hub/spawn/nobody")).send().await.unwrap();
    assert_eq!(nobody.status(), 404);
}

#[tokio::test]
async fn throttled_spawns_show_429_with_retry_after() {
    let hub = start(
        Opts::default()
            .configure(|s, _| {
                s.concurrent_spawn_limit = 1;
                s.spawn_queue_enabled = false;
            })
            .spawner(FakeSpawner::serving_after(Duration::from_secs(3))),
    )
    .await;
    hub.hub.ensure_user("bob").await.unwrap();
    let command = SpawnCommand { user: "bob".into(), server: String::new(), user_options: None, display_name: None };
    let _pending = hub.hub.spawn(command).await.unwrap();
    let browser = hub.logged_in("alice").await;
    let response = browser.get(hub.at("/hub/spawn")).send().await.unwrap();
    assert_eq!(response.status(), 429);
    let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((30..=60).contains(&retry), "{retry}");
    let html = response.text().await.unwrap();
    assert!(html.contains("429 : Too many users trying to log in right now. Try again in"), "{html}");
}

#[tokio::test]
async fn query_options_spawn_without_the_form() {
    let hub = start(with_seed_profiles()).await;
    let browser = hub.logged_in("alice").await;
    let response = browser
        .get(hub.at(
            "/hub/spawn?opt-profile=gpu-fen-qu&opt-profile-option-gpu-fen-qu--image=P100x1&next=%2Fuser%2Falice%2Ftree",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "/hub/spawn-pending/alice?next=%2Fuser%2Falice%2Ftree");
    assert_eq!(stored_options(&hub, "alice", ""), json!({"profile": "gpu-fen-qu", "image": "P100x1"}));
}

#[tokio::test]
async fn pending_page_streams_progress_and_moves_on() {
    let hub = start(Opts::default().spawner(FakeSpawner::serving_after(Duration::from_secs(2)))).await;
    let browser = hub.logged_in("alice").await;
    let response = browser.get(hub.at("/hub/spawn")).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "/hub/spawn-pending/alice");
    let page = browser.get(hub.at("/hub/spawn-pending/alice")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-progress-url=\"/hub/api/users/alice/server/progress\""), "{html}");
    let jhdata = jhdata_of(&html);
    assert_eq!(jhdata["progress_url"], "/hub/api/users/alice/server/progress", "jhdata for the script");
    assert!(!jhdata["xsrf_token"].as_str().unwrap().is_empty());
    assert!(html.contains("<li>Server requested</li>"), "the log so far is on the page");
    assert!(html.contains("role=\"progressbar\""));
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"5\">"), "no-JS fallback");
    // A second request while pending goes to the pending page.
    let again = browser.get(hub.at("/hub/spawn")).send().await.unwrap();
    assert_eq!(location(&again), "/hub/spawn-pending/alice");
    wait_ready(&hub, "alice", "").await;
    let done = browser.get(hub.at("/hub/spawn-pending/alice")).send().await.unwrap();
    assert_eq!(done.status(), 302);
    assert_eq!(location(&done), "/user/alice/");
}

#[tokio::test]
async fn failed_spawn_shows_not_running_with_the_error() {
    let spawner = FakeSpawner::serving();
    *spawner.fail_with.lock().unwrap() = Some("image <pull> failed".into());
    let hub = start(Opts::default().spawner(spawner)).await;
    let browser = hub.logged_in("alice").await;
    let response = browser.get(hub.at("/hub/spawn")).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let mut page = None;
    for _ in 0..100 {
        let r = browser.get(hub.at("/hub/spawn-pending/alice")).send().await.unwrap();
        if r.status() == 500 {
            page = Some(r.text().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let html = page.expect("failure page");
    assert!(html.contains("Spawn failed"));
    assert!(html.contains("image &lt;pull&gt; failed"), "{html}");
    assert!(html.contains("href=\"/hub/spawn/alice\""), "relaunch link");
    // /hub/user/alice/... for a failed server goes to the pending page (which shows the failure).
    let user_url = browser.get(hub.at("/hub/user/alice/lab")).send().await.unwrap();
    assert_eq!(user_url.status(), 303);
    assert_eq!(location(&user_url), "/hub/spawn-pending/alice?next=%2Fhub%2Fuser%2Falice%2Flab");
}

#[tokio::test]
async fn user_url_handler_like_jupyterhub() {
    let hub = start(Opts::default()).await;
    let browser = hub.logged_in("alice").await;
    // Not logged in → login.
    let anon = pages_support::browser().get(hub.at("/hub/user/alice/lab?x=1")).send().await.unwrap();
    assert_eq!(anon.status(), 302);
    assert_eq!(location(&anon), "/hub/login?next=%2Fhub%2Fuser%2Falice%2Flab%3Fx%3D1");
    // Stopped: 424 page with a launch link coming back here.
    let stopped = browser.get(hub.at("/hub/user/alice/lab?x=1")).send().await.unwrap();
    assert_eq!(stopped.status(), 424);
    let html = stopped.text().await.unwrap();
    assert!(html.contains("href=\"/hub/spawn/alice?next=%2Fhub%2Fuser%2Falice%2Flab%3Fx%3D1\""), "{html}");
    // JSON clients (Accept or an api path) get the 424 JSON message.
    let json_req =
        browser.get(hub.at("/hub/user/alice/api/contents")).header("accept", "application/json").send().await.unwrap();
    assert_eq!(json_req.status(), 424);
    let body: Value = json_req.json().await.unwrap();
    assert_eq!(
        body["message"],
        format!(
            "JupyterHub server no longer running at /user/alice/api/contents. Restart the server at {}/hub/spawn/alice",
            hub.url
        )
    );
    let api_path = browser.get(hub.at("/hub/user/alice/api/kernels")).send().await.unwrap();
    assert_eq!(api_path.status(), 424);
    assert!(api_path.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    // Cookie POSTs need XSRF; with it, 424 JSON.
    let post = browser.post(hub.at("/hub/user/alice/api/contents")).send().await.unwrap();
    assert_eq!(post.status(), 403);
    let xsrf = hub.xsrf(&browser, "/hub/home").await;
    let post = browser.post(hub.at("/hub/user/alice/api/contents")).header("X-XSRFToken", xsrf).send().await.unwrap();
    assert_eq!(post.status(), 424);
    // Someone else's server: 404.
    let bob = hub.logged_in("bob").await;
    assert_eq!(bob.get(hub.at("/hub/user/alice/lab")).send().await.unwrap().status(), 404);
    // Running: back to /user/... with redirects=N, until the limit.
    for server in ["", "gpu-1"] {
        let command =
            SpawnCommand { user: "alice".into(), server: server.into(), user_options: None, display_name: None };
        hub.hub.spawn(command).await.unwrap().wait(Duration::from_secs(10)).await.unwrap();
    }
    let running = browser.get(hub.at("/hub/user/alice/lab?x=1")).send().await.unwrap();
    assert_eq!(running.status(), 302);
    assert_eq!(location(&running), "/user/alice/lab?x=1&redirects=1");
    let named = browser.get(hub.at("/hub/user/alice/gpu-1/tree")).send().await.unwrap();
    assert_eq!(location(&named), "/user/alice/gpu-1/tree?redirects=1");
    let looping = browser.get(hub.at("/hub/user/alice/lab?redirects=4")).send().await.unwrap();
    assert_eq!(looping.status(), 500);
    assert!(looping.text().await.unwrap().contains("Redirect loop detected."));
    // Token authentication is accepted here.
    let token = hub.hub.create_token("alice", Default::default()).await.unwrap().secret;
    let with_token = pages_support::browser()
        .get(hub.at("/hub/user/alice/lab"))
        .header("Authorization", format!("token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&with_token), "/user/alice/lab?redirects=1");
}

#[tokio::test]
async fn user_redirect_goes_through_the_spawn_page() {
    let hub = start(Opts::default()).await;
    let browser = hub.logged_in("alice").await;
    let r = browser.get(hub.at("/hub/user-redirect/tree/x.ipynb?a=1")).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r), "/hub/spawn/alice?next=%2Fuser%2Falice%2Ftree%2Fx.ipynb%3Fa%3D1");
    let anon = pages_support::browser().get(hub.at("/hub/user-redirect/lab")).send().await.unwrap();
    assert_eq!(location(&anon), "/hub/login?next=%2Fhub%2Fuser-redirect%2Flab");
}

#[tokio::test]
async fn profile_texts_are_escaped_and_unlisted_choices_render() {
    let list = ProfileList::from_config(&json!([{
        "display_name": "<b>Big</b> box",
        "description": "<script>alert(1)</script> & more",
        "profile_options": {"image": {
            "display_name": "Image",
            "choices": {"base": {"display_name": "Base \"quoted\"", "default": true}},
            "unlisted_choice": {
                "enabled": true,
                "display_name": "Custom image",
                "validation_regex": "^quay\\.io/.+:.+$",
                "validation_message": "Must be a quay.io image with a tag",
                "kubespawner_override": {"image": "{value}"}
            }
        }}
    }]))
    .unwrap();
    let hub = start(Opts::default().configure(move |_, web| web.profile_list = Some(list))).await;
    let browser = hub.logged_in("alice").await;
    let html = browser.get(hub.at("/hub/spawn")).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("<b>Big</b>") && !html.contains("<script>alert(1)</script>"), "{html}");
    assert!(html.contains("&lt;b&gt;Big&lt;/b&gt; box"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"));
    assert!(html.contains("Base &#34;quoted&#34;"));
    assert!(html.contains("<option value=\"unlisted-choice\">Other...</option>"), "{html}");
    // The free-text field has no name until "Other" is chosen (data-name holds it).
    let input = html.find("id=\"profile-option-b-big-b-box--image--unlisted-choice\"").expect("unlisted input");
    let tag = &html[html[..input].rfind('<').unwrap()..input + html[input..].find('>').unwrap()];
    assert!(tag.contains("data-name=\"profile-option-b-big-b-box--image--unlisted-choice\""), "{tag}");
    assert!(!tag.contains(" name="), "{tag}");
    assert!(html.contains("<div class=\"field js-other-input-container\" hidden>"));
    assert!(html.contains("pattern=\"^quay\\.io/.+:.+$\""));
    assert!(html.contains("title=\"Must be a quay.io image with a tag\""));
}

/// Group-scoped profiles (`allowed_groups`): the spawn page lists only the
/// profiles the user's groups may use, and the REST API refuses another with
/// 403 naming it. The spawner check is the real one (`jhub-podspec`'s
/// `resolve_for`, as the Kubernetes spawner runs it).
#[tokio::test]
async fn group_scoped_profiles_are_shown_and_allowed_only_to_members() {
    let profiles = json!([
        {"display_name": "CPU", "slug": "cpu", "default": true},
        {"display_name": "GPU", "slug": "gpu", "allowed_groups": ["gpu-users"]}
    ]);
    let base = jhub_podspec::SpawnerConfig { profile_list: profiles.clone(), ..Default::default() };
    let check = jhub_hub::fakes::OptionsCheck(std::sync::Arc::new(move |user, options| {
        let map = options.as_object().cloned().unwrap_or_default();
        match jhub_podspec::profiles::resolve_for(&base, &map, &user.groups) {
            Ok(_) => Ok(options.clone()),
            Err(e @ jhub_podspec::profiles::UserOptionsError::ProfileNotAllowed { .. }) => {
                Err(jhub_core::ports::SpawnError::NotPermitted(e.to_string()))
            }
            Err(e) => Err(jhub_core::ports::SpawnError::InvalidOptions(e.to_string())),
        }
    }));
    let list = ProfileList::from_config(&profiles).unwrap();
    let mut spawner = FakeSpawner::serving();
    spawner.options_check = Some(check);
    let hub = start(Opts::default().spawner(spawner).configure(move |_, web| web.profile_list = Some(list))).await;
    let alice = hub.logged_in("alice").await;
    let bob = hub.logged_in("bob").await;
    hub.hub.create_group("gpu-users", &["alice".to_string()]).await.unwrap();

    let page = |browser: &reqwest::Client| {
        let url = hub.at("/hub/spawn");
        let browser = browser.clone();
        async move { browser.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let alice_page = page(&alice).await;
    assert!(alice_page.contains("id=\"profile-item-gpu\"") && alice_page.contains("id=\"profile-item-cpu\""));
    let bob_page = page(&bob).await;
    assert!(bob_page.contains("id=\"profile-item-cpu\""), "{bob_page}");
    assert!(!bob_page.contains("profile-item-gpu") && !bob_page.contains(">GPU<"), "{bob_page}");

    let xsrf = hub.xsrf(&bob, "/hub/home").await;
    let refused = bob
        .post(hub.at("/hub/api/users/bob/server"))
        .header("X-XSRFToken", &xsrf)
        .json(&json!({"profile": "gpu"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("profile 'gpu'"), "{body}");
    assert_eq!(hub.spawner.starts.load(std::sync::atomic::Ordering::Relaxed), 0);

    let xsrf = hub.xsrf(&alice, "/hub/home").await;
    let allowed = alice
        .post(hub.at("/hub/api/users/alice/server"))
        .header("X-XSRFToken", &xsrf)
        .json(&json!({"profile": "gpu"}))
        .send()
        .await
        .unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
}
