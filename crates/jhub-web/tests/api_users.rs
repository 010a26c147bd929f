//! `/users`, `/users/{name}`, `/users/{name}/activity` over HTTP: listing
//! filters, sorting, pagination (both forms), batch and single create,
//! patch, delete, activity reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use reqwest::Method;
use serde_json::{Value, json};

fn names(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn batch_create_normalises_validates_and_conflicts() {
    let hub = common::start().await;
    let (status, body) = hub.admin(Method::POST, "/users", Some(json!({"usernames": ["Alice", "bob", "bob"]}))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(names(&body), ["alice", "bob"]);
    assert_eq!(body[0]["kind"], "user");
    assert_eq!(body[0]["admin"], false);
    assert_eq!(body[0]["roles"], json!(["user"]));
    assert_eq!(body[0]["servers"], json!({}));
    // Existing ones are skipped; all existing is 409.
    let (status, body) = hub.admin(Method::POST, "/users", Some(json!({"usernames": ["alice", "carol"]}))).await;
    assert_eq!((status, names(&body)), (201, vec!["carol".to_string()]));
    let (status, body) = hub.admin(Method::POST, "/users", Some(json!({"usernames": ["alice"]}))).await;
    assert_eq!(status, 409);
    assert_eq!(body, json!({"status": 409, "message": "All 1 users already exist"}));
    for (request, message) in [
        (json!({"usernames": []}), "Must specify at least one user to create"),
        (json!({}), "Must specify at least one user to create"),
        (json!({"usernames": ["a/b"]}), "Invalid username: a/b"),
        (json!({"usernames": ["..", " x"]}), "Invalid usernames: ..,  x"),
        (json!({"usernames": 1090}), "usernames must be a list of strings"),
        (json!({"usernames": ["x"], "bogus": 1}), "Invalid JSON keys: unknown key 'bogus'"),
        (json!({"usernames": ["x"], "admin": "yes"}), "user.admin must be a boolean, not string"),
    ] {
        let (status, body) = hub.admin(Method::POST, "/users", Some(request.clone())).await;
        assert_eq!((status, body["message"].as_str().unwrap()), (400, message), "{request}");
    }
    let response = hub
        .req(Method::POST, "/users", &hub.admin_token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["message"], "Invalid JSON in body of request");
    // Nothing invalid reached the state.
    assert!(hub.hub.read().user("x").is_none());
}

#[tokio::test]
async fn granting_admin_needs_an_admin_caller() {
    let hub = common::start_with(|s, _| {
        s.roles.push(jhub_hub::RoleSpec {
            name: "user-admins".into(),
            description: None,
            scopes: vec!["admin:users".into()],
            users: vec!["manager".into()],
            groups: vec![],
            services: vec![],
        })
    })
    .await;
    let manager = hub.token_for("manager", None).await;
    let (status, _, body) =
        hub.call(Method::POST, "/users", &manager, Some(json!({"usernames": ["x"], "admin": true}))).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (403, "Only admins can grant admin permissions"));
    let (status, _, _) = hub.call(Method::POST, "/users", &manager, Some(json!({"usernames": ["x"]}))).await;
    assert_eq!(status, 201);
    // A non-admin caller cannot modify an admin.
    let (status, _, body) = hub.call(Method::PATCH, "/users/admin", &manager, Some(json!({"admin": false}))).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (403, "Only admins can modify other admins"));
}

#[tokio::test]
async fn single_user_crud() {
    let hub = common::start().await;
    let (status, body) = hub.admin(Method::POST, "/users/dora", Some(json!({"admin": true}))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["name"].as_str(), body["admin"].as_bool()), (Some("dora"), Some(true)));
    assert_eq!(body["roles"], json!(["admin", "user"]));
    assert!(body["created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["last_activity"], Value::Null);
    assert_eq!(body["auth_state"], Value::Null);
    let (status, body) = hub.admin(Method::POST, "/users/dora", None).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (409, "User dora already exists"));
    let (status, body) = hub.admin(Method::POST, "/users/a%0Ab", None).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (400, "Invalid username: a\nb"));
    // GET, 404 for unknown users (bare JupyterHub 404).
    let (status, body) = hub.admin(Method::GET, "/users/dora", None).await;
    assert_eq!((status, body["name"].as_str()), (200, Some("dora")));
    let (status, body) = hub.admin(Method::GET, "/users/nobody", None).await;
    assert_eq!((status, body), (404, json!({"status": 404, "message": null})));
    // PATCH: rename (normalised), admin flag, unknown keys, taken names.
    hub.admin(Method::POST, "/users/eve", None).await;
    let (status, body) =
        hub.admin(Method::PATCH, "/users/dora", Some(json!({"name": "Dorothy", "admin": false}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["name"].as_str(), body["admin"].as_bool()), (Some("dorothy"), Some(false)));
    assert!(body.as_object().unwrap().contains_key("auth_state"));
    assert!(hub.hub.read().user("dora").is_none());
    let (status, body) = hub.admin(Method::PATCH, "/users/dorothy", Some(json!({"name": "eve"}))).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (400, "User eve already exists, username must be unique"));
    let (status, body) = hub.admin(Method::PATCH, "/users/dorothy", Some(json!({"shoe_size": 9}))).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (400, "Invalid JSON keys: unknown key 'shoe_size'"));
    let (status, _) = hub.admin(Method::PATCH, "/users/dorothy", None).await;
    assert_eq!(status, 400);
    let (status, _) = hub.admin(Method::PATCH, "/users/nobody", Some(json!({"admin": true}))).await;
    assert_eq!(status, 404);
    // Group membership through PATCH.
    hub.hub.create_group("staff", &[]).await.unwrap();
    let (status, body) = hub.admin(Method::PATCH, "/users/eve", Some(json!({"groups": ["staff"]}))).await;
    assert_eq!((status, &body["groups"]), (200, &json!(["staff"])));
    let (status, body) = hub.admin(Method::PATCH, "/users/eve", Some(json!({"groups": ["nope"]}))).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (400, "No such group: nope"));
    // DELETE: 204, not yourself, 404 after.
    let (status, body) = hub.admin(Method::DELETE, "/users/admin", None).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (400, "Cannot delete yourself!"));
    let (status, headers, body) = hub.call(Method::DELETE, "/users/eve", &hub.admin_token, None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert!(headers.get("x-jupyterhub-version").is_some());
    let (status, _) = hub.admin(Method::DELETE, "/users/eve", None).await;
    assert_eq!(status, 404);
    assert!(hub.hub.store().load_snapshot().await.unwrap().users.iter().all(|u| u.name != "eve"));
}

#[tokio::test]
async fn auth_state_is_encrypted_and_shown_only_to_admin_auth_state() {
    let hub = common::start_opts(common::Options { crypt: true, ..Default::default() }, |_, _| {}).await;
    hub.admin(Method::POST, "/users/fay", None).await;
    let (status, body) =
        hub.admin(Method::PATCH, "/users/fay", Some(json!({"auth_state": {"access_token": "secret"}}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["auth_state"], json!({"access_token": "secret"}));
    let stored = hub.hub.read().user("fay").unwrap().user.encrypted_auth_state.clone().unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains("secret"), "stored encrypted");
    let (_, body) = hub.admin(Method::GET, "/users/fay", None).await;
    assert_eq!(body["auth_state"], json!({"access_token": "secret"}));
    // Listings show the key as null; a user reading herself does not see it.
    let (_, list) = hub.admin(Method::GET, "/users?name_filter=fay", None).await;
    assert_eq!(list[0]["auth_state"], Value::Null);
    let fay = hub.token_for("fay", None).await;
    let (_, body) = hub.get("/users/fay", &fay).await;
    assert!(!body.as_object().unwrap().contains_key("auth_state"), "{body}");
    // Without a crypt key, auth_state cannot be stored: 400, not 500.
    let plain = common::start().await;
    plain.admin(Method::POST, "/users/fay", None).await;
    let (status, _) = plain.admin(Method::PATCH, "/users/fay", Some(json!({"auth_state": {"a": 1}}))).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn listing_filters_sorting_and_pagination() {
    let hub = common::start().await;
    let names_in: Vec<String> = (0..7).map(|i| format!("user-{i}")).collect();
    hub.hub.create_users(&names_in, false).await.unwrap();
    hub.hub.create_user("Zed", false).await.unwrap();
    // user-1 has a running default server; user-2 a stopped named one.
    let (status, _) = hub.admin(Method::POST, "/users/user-1/server", None).await;
    assert_eq!(status, 201);
    let (status, _) = hub.admin(Method::PUT, "/users/user-2/servers/gpu", None).await;
    assert_eq!(status, 201);
    let t_old: jhub_core::Timestamp = "2020-01-01T00:00:00Z".parse().unwrap();
    hub.hub.record_activity("user-3", Some(t_old), &[]).unwrap();

    let (status, all) = hub.admin(Method::GET, "/users", None).await;
    assert_eq!(status, 200);
    assert_eq!(names(&all), ["admin", "user-0", "user-1", "user-2", "user-3", "user-4", "user-5", "user-6", "Zed"]);
    assert_eq!(all[2]["server"], "/user/user-1/");
    assert_eq!(all[2]["servers"][""]["ready"], true);
    assert_eq!(all[3]["servers"], json!({}), "stopped servers are left out by default");
    let (_, with_stopped) = hub.admin(Method::GET, "/users?include_stopped_servers", None).await;
    assert_eq!(with_stopped[3]["servers"]["gpu"]["stopped"], true);
    let (_, with_stopped) = hub.admin(Method::GET, "/users?include_stopped_servers=false", None).await;
    assert_eq!(with_stopped[3]["servers"], json!({}));

    let (_, ready) = hub.admin(Method::GET, "/users?state=ready", None).await;
    assert_eq!(names(&ready), ["user-1"]);
    let (_, active) = hub.admin(Method::GET, "/users?state=active", None).await;
    assert_eq!(names(&active), ["user-1"]);
    let (_, inactive) = hub.admin(Method::GET, "/users?state=inactive&limit=3&offset=1", None).await;
    assert_eq!(names(&inactive), ["user-0", "user-2", "user-3"]);
    let (status, body) = hub.admin(Method::GET, "/users?state=running", None).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (400, "Unrecognized state filter: \"running\""));

    let (_, filtered) = hub.admin(Method::GET, "/users?name_filter=ZE", None).await;
    assert_eq!(names(&filtered), ["Zed"]);
    let (_, filtered) = hub.admin(Method::GET, "/users?name_filter=user-_&sort=-name&limit=2", None).await;
    assert_eq!(names(&filtered), ["user-6", "user-5"]);
    let (_, by_name) = hub.admin(Method::GET, "/users?sort=name", None).await;
    assert_eq!(names(&by_name)[0], "Zed", "byte order like the database: upper case first");
    let (_, desc) = hub.admin(Method::GET, "/users?sort=-id&limit=1", None).await;
    assert_eq!(names(&desc), ["Zed"]);
    // NULL activity first ascending, last descending.
    let (_, asc) = hub.admin(Method::GET, "/users?sort=last_activity", None).await;
    let asc = names(&asc);
    // Only user-3 (2020), admin (whose token is in use) and user-1 (a spawn
    // marks its user active, like JupyterHub) have activity.
    let recent = |pair: &[String]| {
        let mut pair = pair.to_vec();
        pair.sort();
        pair
    };
    assert_eq!(asc[asc.len() - 3], "user-3", "{asc:?}");
    assert_eq!(recent(&asc[asc.len() - 2..]), ["admin", "user-1"], "{asc:?}");
    let (_, desc) = hub.admin(Method::GET, "/users?sort=-last_activity", None).await;
    let desc = names(&desc);
    assert_eq!(recent(&desc[..2]), ["admin", "user-1"], "{desc:?}");
    assert_eq!(desc[2..4], ["user-3", "user-0"], "{desc:?}");
    let (status, body) = hub.admin(Method::GET, "/users?sort=created", None).await;
    assert_eq!(
        (status, body["message"].as_str().unwrap()),
        (400, "sort must be 'id', 'name', or 'last_activity', not 'created'")
    );

    // Pagination: bare list limited to 200 without the Accept header; the
    // envelope with it (default limit 50), next.url as the hub saw the request.
    let (status, body) = hub.admin(Method::GET, "/users?limit=abc", None).await;
    assert_eq!(
        (status, body["message"].as_str().unwrap()),
        (400, "Invalid argument type, offset and limit must be integers")
    );
    let (_, page) = hub.admin(Method::GET, "/users?limit=-2&offset=-1", None).await;
    assert_eq!(names(&page), ["user-0", "user-1"], "abs(int(...))");
    let response = hub
        .req(Method::GET, "/users?limit=3&state=inactive", &hub.admin_token)
        .header("Accept", "application/json, application/jupyterhub-pagination+json")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "hub.example.org")
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(names(&body["items"]), ["admin", "user-0", "user-2"]);
    assert_eq!(
        body["_pagination"],
        json!({"offset": 0, "limit": 3, "total": 8, "next": {"offset": 3, "limit": 3,
            "url": "https://hub.example.org/hub/api/users?limit=3&state=inactive&offset=3"}})
    );
    let next = body["_pagination"]["next"]["url"].as_str().unwrap().replace("https://hub.example.org", &hub.url);
    let body: Value = hub
        .client()
        .get(next)
        .header("Authorization", format!("token {}", hub.admin_token))
        .header("Accept", "application/jupyterhub-pagination+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(names(&body["items"]), ["user-3", "user-4", "user-5"]);
    let response = hub
        .req(Method::GET, "/users?offset=8", &hub.admin_token)
        .header("Accept", "application/jupyterhub-pagination+json")
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["_pagination"], json!({"offset": 8, "limit": 50, "total": 9, "next": null}));
}

#[tokio::test]
async fn listing_honours_filtered_list_scopes() {
    let hub = common::start_with(|s, _| {
        s.roles.push(jhub_hub::RoleSpec {
            name: "team-lister".into(),
            description: None,
            scopes: vec!["list:users!group=team".into(), "list:users!user=solo".into()],
            users: vec!["lead".into()],
            groups: vec![],
            services: vec![],
        });
        s.roles.push(jhub_hub::RoleSpec {
            name: "bad-lister".into(),
            description: None,
            scopes: vec!["list:users!server=solo/".into()],
            users: vec!["odd".into()],
            groups: vec![],
            services: vec![],
        });
    })
    .await;
    hub.hub.create_users(&["a".into(), "b".into(), "c".into(), "solo".into()], false).await.unwrap();
    hub.hub.create_group("team", &["a".into(), "b".into()]).await.unwrap();
    let lead = hub.token_for("lead", None).await;
    let (status, body) = hub.get("/users", &lead).await;
    assert_eq!(status, 200);
    assert_eq!(names(&body), ["a", "b", "solo"]);
    // list:users only implies read:users:name.
    assert_eq!(body[0].as_object().unwrap().keys().collect::<Vec<_>>(), ["kind", "name", "admin", "user_info"]);
    let odd = hub.token_for("odd", None).await;
    let (status, _) = hub.get("/users", &odd).await;
    assert_eq!(status, 403, "server filters cannot narrow a user listing");
}

#[tokio::test]
async fn activity_reports() {
    let hub = common::start().await;
    hub.hub.create_user("gus", false).await.unwrap();
    hub.admin(Method::PUT, "/users/gus/servers/lab", None).await;
    let t1 = "2026-01-02T03:04:05.123456Z";
    let (status, headers, body) = hub
        .call(
            Method::POST,
            "/users/gus/activity",
            &hub.admin_token,
            Some(json!({"last_activity": t1, "servers": {"lab": {"last_activity": "2026-01-02T03:04:05+00:00"}}})),
        )
        .await;
    assert_eq!((status, body), (200, Value::Null));
    assert_eq!(headers["content-type"], "application/json");
    {
        let state = hub.hub.read();
        let gus = state.user("gus").unwrap();
        assert_eq!(jhub_core::time::isoformat(gus.user.last_activity.unwrap()), t1);
        assert_eq!(
            jhub_core::time::isoformat(gus.servers["lab"].server.last_activity.unwrap()),
            "2026-01-02T03:04:05Z"
        );
    }
    // Older values do not move activity back.
    let (status, _) =
        hub.admin(Method::POST, "/users/gus/activity", Some(json!({"last_activity": "2025-01-01T00:00:00Z"}))).await;
    assert_eq!(status, 200);
    assert_eq!(jhub_core::time::isoformat(hub.hub.read().user("gus").unwrap().user.last_activity.unwrap()), t1);
    let future =
        jhub_core::time::isoformat(hub.hub.now().checked_add(jiff::SignedDuration::from_secs(2 * 3600)).unwrap());
    let near_future =
        jhub_core::time::isoformat(hub.hub.now().checked_add(jiff::SignedDuration::from_secs(30 * 60)).unwrap());
    let shape = "servers must be a dict of the form {server_name: {last_activity: timestamp}}";
    for (request, message) in [
        (json!({}), "body must contain at least one of `last_activity` or `servers`"),
        (json!([1]), "body must be a json dict"),
        (json!({"servers": {"nope": {"last_activity": t1}}}), "No such server 'nope' for user gus"),
        (json!({"servers": {"lab": {}}}), shape),
        (json!({"servers": ["lab"]}), shape),
        (json!({"last_activity": "yesterday"}), "Not a valid timestamp: \"yesterday\""),
        // Non-ASCII input once panicked the core parser (a 5-byte suffix split inside a character).
        (json!({"last_activity": "ËËËË"}), "Not a valid timestamp: \"ËËËË\""),
        (json!({"last_activity": 5}), "Not a valid timestamp: 5"),
        (
            json!({"last_activity": future}),
            &*format!("Rejecting activity from more than an hour in the future: {future}"),
        ),
    ] {
        let (status, body) = hub.admin(Method::POST, "/users/gus/activity", Some(request.clone())).await;
        assert_eq!((status, body["message"].as_str().unwrap_or_default()), (400, message), "{request}");
    }
    let (status, _) = hub.admin(Method::POST, "/users/gus/activity", Some(json!({"last_activity": near_future}))).await;
    assert_eq!(status, 200, "less than 59 minutes ahead is accepted");
    let (status, _) = hub.admin(Method::POST, "/users/nobody/activity", Some(json!({"last_activity": t1}))).await;
    assert_eq!(status, 404);
    // The server's own token may report for its user, and only for her.
    let (status, _) = hub.admin(Method::POST, "/users/gus/server", None).await;
    assert_eq!(status, 201);
    let server_token = hub.spawner.api_token("gus", "").unwrap();
    let (status, _, _) = hub
        .call(
            Method::POST,
            "/users/gus/activity",
            &server_token,
            Some(json!({"servers": {"": {"last_activity": near_future}}})),
        )
        .await;
    assert_eq!(status, 200);
    hub.hub.create_user("hal", false).await.unwrap();
    let (status, _, _) =
        hub.call(Method::POST, "/users/hal/activity", &server_token, Some(json!({"last_activity": t1}))).await;
    assert_eq!(status, 404);
    // Activity lands in the store with the next batch.
    hub.hub.flush_activity().await;
    let snapshot = hub.hub.store().load_snapshot().await.unwrap();
    let stored = snapshot.users.iter().find(|u| u.name == "gus").unwrap();
    assert!(stored.last_activity.is_some());
}
