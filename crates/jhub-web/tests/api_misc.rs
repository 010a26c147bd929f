//! Tokens, groups, services, proxy and hub-level endpoints over HTTP
//! (`/users/{name}/tokens`, `/groups`, `/services`, `/proxy`, `/info`,
//! `/shutdown`, `/health`, `/metrics`, `/authorizations/...`, sharing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use jhub_hub::ServiceSpec;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn token_lifecycle() {
    let hub = common::start_with(|s, _| s.token_expires_in_max = Some(Duration::from_secs(86_400))).await;
    let alice = hub.token_for("alice", None).await;
    // Own token, default note, inherit scopes resolved for the owner.
    let (status, _, token) =
        hub.call(Method::POST, "/users/alice/tokens", &alice, Some(json!({"expires_in": 3600}))).await;
    assert_eq!(status, 201, "{token}");
    assert_eq!(token["note"], "Requested via api");
    assert_eq!(token["user"], "alice");
    assert_eq!(token["kind"], "api_token");
    assert_eq!(token["roles"], json!([]));
    assert_eq!(token["oauth_client"], "JupyterHub");
    assert!(token["scopes"].as_array().unwrap().iter().any(|s| s == "read:users!user=alice"), "{token}");
    assert!(token["expires_at"].is_string());
    let secret = token["token"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 32);
    assert_eq!(token["last_activity"], Value::Null);
    let (status, me) = hub.get("/user", &secret).await;
    assert_eq!((status, me["name"].as_str(), me["token_id"].as_str()), (200, Some("alice"), token["id"].as_str()));
    // Token activity is recorded in batches: in the store after the next flush.
    hub.hub.flush_activity().await;
    let (_, used) = hub.get(&format!("/users/alice/tokens/{}", token["id"].as_str().unwrap()), &alice).await;
    assert!(used["last_activity"].is_string(), "{used}");
    // An admin creating one for alice: the note says who; scopes must be held by alice.
    let (status, _, other) = hub
        .call(
            Method::POST,
            "/users/alice/tokens",
            &hub.admin_token,
            Some(json!({"scopes": ["read:users:name!user=alice"]})),
        )
        .await;
    assert_eq!(status, 201, "{other}");
    assert_eq!(other["note"], "Requested via api by user admin");
    let (status, _, err) =
        hub.call(Method::POST, "/users/alice/tokens", &hub.admin_token, Some(json!({"scopes": ["admin:users"]}))).await;
    assert_eq!(status, 400);
    assert!(err["message"].as_str().unwrap().starts_with("Not assigning requested scopes"), "{err}");
    for (body, message) in [
        (json!({"expires_in": 0}), "expires_in must be a positive integer or null, not 0"),
        (json!({"expires_in": 1.5}), "token expires_in must be null or integer, not 1.5"),
        (json!({"expires_in": 999_999}), "token expires_in: 999999 must not exceed 86400"),
        (json!({"scopes": ["nope"]}), "Scope 'nope' does not exist"),
        (json!({"roles": ["nope"]}), "No such role: nope"),
        (json!({"roles": ["user"], "scopes": []}), "Can only assign one of scopes or roles when creating tokens."),
        (json!({"scopes": "read:users"}), "token scopes must be null or a list of strings, not \"read:users\""),
        (json!({"bogus": 1}), "Unexpected field 'bogus'; supported fields: auth, expires_in, note, roles, scopes"),
        (json!([1]), "Body must be a JSON dict or empty"),
    ] {
        let (status, _, err) = hub.call(Method::POST, "/users/alice/tokens", &alice, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}");
        assert!(err["message"].as_str().unwrap().starts_with(message), "{body}: {err}");
    }
    // Roles resolve to their scopes at once.
    let (status, _, by_role) =
        hub.call(Method::POST, "/users/alice/tokens", &alice, Some(json!({"roles": ["user"]}))).await;
    assert_eq!(status, 201, "{by_role}");
    // Another user cannot make alice's tokens: 403 that hides existence.
    let bob = hub.token_for("bob", None).await;
    let (status, _, err) = hub.call(Method::POST, "/users/alice/tokens", &bob, None).await;
    assert_eq!(
        (status, err["message"].as_str().unwrap()),
        (403, "User alice not found or no permissions to generate tokens")
    );
    let (status, _, _) = hub.call(Method::POST, "/users/nobody/tokens", &hub.admin_token, None).await;
    assert_eq!(status, 403);
    // Anonymous with credentials in the body (the shared-password authenticator).
    let response = hub
        .client()
        .post(hub.api("/users/alice/tokens"))
        .json(&json!({"auth": {"username": "alice", "password": common::PASSWORD}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let response = hub.client().post(hub.api("/users/alice/tokens")).json(&json!({"note": "x"})).send().await.unwrap();
    assert_eq!(response.status(), 403);
    // List, get, delete.
    let (status, list) = hub.get("/users/alice/tokens", &alice).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["api_tokens"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&token["id"].as_str().unwrap()), "{list}");
    assert!(list["api_tokens"].as_array().unwrap().iter().all(|t| t.get("token").is_none()), "secrets never listed");
    let id = token["id"].as_str().unwrap();
    let (status, one) = hub.get(&format!("/users/alice/tokens/{id}"), &alice).await;
    assert_eq!((status, one["id"].as_str()), (200, Some(id)));
    for bad in ["b1", "a", "axyz", "a999999"] {
        let (status, body) = hub.get(&format!("/users/alice/tokens/{bad}"), &alice).await;
        assert_eq!((status, body["message"].as_str().unwrap()), (404, &*format!("No such token {bad} for user alice")));
    }
    let (status, _) = hub.get(&format!("/users/bob/tokens/{id}"), &hub.admin_token).await;
    assert_eq!(status, 404, "another owner's token");
    let response = hub.req(Method::DELETE, &format!("/users/alice/tokens/{id}"), &alice).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(response.headers()["content-type"], "text/plain");
    let (status, _) = hub.get("/user", &secret).await;
    assert_eq!(status, 403, "revoked at once");
}

#[tokio::test]
async fn expired_tokens_are_refused_and_dropped_from_lists() {
    let clock = std::sync::Arc::new(jhub_core::ports::ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
    let hub = common::start_opts(common::Options { clock: Some(clock.clone()), ..Default::default() }, |_, _| {}).await;
    let alice = hub.token_for("alice", None).await;
    let (_, _, short) = hub.call(Method::POST, "/users/alice/tokens", &alice, Some(json!({"expires_in": 60}))).await;
    let secret = short["token"].as_str().unwrap().to_string();
    assert_eq!(hub.get("/user", &secret).await.0, 200);
    clock.advance(Duration::from_secs(61));
    assert_eq!(hub.get("/user", &secret).await.0, 403);
    let (_, list) = hub.get("/users/alice/tokens", &alice).await;
    assert!(list["api_tokens"].as_array().unwrap().iter().all(|t| t["id"] != short["id"]));
}

#[tokio::test]
async fn groups() {
    let hub = common::start().await;
    hub.hub.create_users(&["ann".into(), "ben".into()], false).await.unwrap();
    let (status, created) =
        hub.admin(Method::POST, "/groups", Some(json!({"groups": ["g1", "g2"], "users": ["Ann"]}))).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created[0], json!({"kind": "group", "name": "g1", "roles": [], "users": ["ann"], "properties": {}}));
    let (status, _) = hub.admin(Method::POST, "/groups", Some(json!({"groups": ["g1"]}))).await;
    assert_eq!(status, 409);
    let (status, body) = hub.admin(Method::POST, "/groups", Some(json!({"groups": ["g3"], "users": ["zed"]}))).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (400, "No such user: zed"));
    let (status, _) = hub.admin(Method::POST, "/groups", Some(json!({}))).await;
    assert_eq!(status, 400);
    let (status, group) = hub.admin(Method::POST, "/groups/g3", None).await;
    assert_eq!((status, group["users"].clone()), (201, json!([])));
    let (status, _) = hub.admin(Method::POST, "/groups/g3", None).await;
    assert_eq!(status, 409);
    let (status, group) = hub.admin(Method::POST, "/groups/g3/users", Some(json!({"users": ["ben", "ann"]}))).await;
    assert_eq!((status, group["users"].clone()), (200, json!(["ann", "ben"])));
    let (status, group) = hub.admin(Method::DELETE, "/groups/g3/users", Some(json!({"users": ["ann"]}))).await;
    assert_eq!((status, group["users"].clone()), (200, json!(["ben"])));
    let (status, body) = hub.admin(Method::POST, "/groups/g3/users", Some(json!({}))).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (400, "Must specify users to add"));
    let (status, group) = hub.admin(Method::PUT, "/groups/g3/properties", Some(json!({"course": "cs101"}))).await;
    assert_eq!((status, group["properties"].clone()), (200, json!({"course": "cs101"})));
    let (status, _) = hub.admin(Method::PUT, "/groups/g3/properties", Some(json!([1]))).await;
    assert_eq!(status, 400);
    let (status, body) = hub.admin(Method::GET, "/groups/nope", None).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (404, "No such group: nope"));
    // Listing, paginated.
    let response = hub
        .req(Method::GET, "/groups?limit=2", &hub.admin_token)
        .header("Accept", "application/jupyterhub-pagination+json")
        .send()
        .await
        .unwrap();
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["_pagination"]["total"], 3);
    assert_eq!(page["_pagination"]["next"]["offset"], 2);
    let (_, all) = hub.admin(Method::GET, "/groups", None).await;
    let names: Vec<&str> = all.as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["g1", "g2", "g3"]);
    // A member reads her groups through her own model, not the group API.
    let ann = hub.token_for("ann", None).await;
    let (_, me) = hub.get("/users/ann", &ann).await;
    assert_eq!(me["groups"], json!(["g1", "g2"]));
    assert_eq!(hub.get("/groups/g1", &ann).await.0, 403);
    let response = hub.req(Method::DELETE, "/groups/g1", &hub.admin_token).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(hub.admin(Method::DELETE, "/groups/g1", None).await.0, 404);
}

#[tokio::test]
async fn services() {
    let hub = common::start_with(|s, _| {
        s.services.push(ServiceSpec {
            name: "from-config".into(),
            admin: false,
            url: Some("http://127.0.0.1:9999".into()),
            api_token: Some("from-config-token-0123456789".into()),
            display: true,
            oauth_no_confirm: false,
            oauth_redirect_uri: None,
            info: json!({"purpose": "test"}),
        })
    })
    .await;
    let (status, list) = hub.admin(Method::GET, "/services", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        list["from-config"],
        json!({"kind": "service", "name": "from-config", "roles": [], "admin": false, "url": "http://127.0.0.1:9999",
               "prefix": "/services/from-config/", "command": [], "pid": 0, "info": {"purpose": "test"}, "display": true})
    );
    let (status, _) = hub
        .admin(
            Method::POST,
            "/services/runtime",
            Some(json!({"url": "http://127.0.0.1:9998", "api_token": "runtime-token-0123456789"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, me) = hub.get("/user", "runtime-token-0123456789").await;
    assert_eq!((status, me["kind"].as_str(), me["name"].as_str()), (200, Some("service"), Some("runtime")));
    assert_eq!(hub.admin(Method::POST, "/services/runtime", Some(json!({"url": "x"}))).await.0, 409);
    let (status, body) = hub.admin(Method::POST, "/services/managed", Some(json!({"command": ["sleep"]}))).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (400, "Can not create managed service managed at runtime"));
    assert_eq!(hub.admin(Method::POST, "/services/empty", None).await.0, 400);
    assert_eq!(hub.admin(Method::POST, "/services/odd", Some(json!({"colour": "red"}))).await.0, 400);
    // A caller that is not an admin cannot create an admin service.
    let lead = hub.token_for("lead", None).await;
    let _ = lead;
    let (status, body) = hub.admin(Method::DELETE, "/services/from-config", None).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (405, "Service from-config is not modifiable at runtime"));
    let (status, _, body) = hub.call(Method::DELETE, "/services/runtime", &hub.admin_token, None).await;
    assert_eq!((status, body), (200, Value::Null));
    assert_eq!(hub.get("/user", "runtime-token-0123456789").await.0, 403, "its token went with it");
    assert_eq!(hub.admin(Method::DELETE, "/services/runtime", None).await.0, 404);
    assert_eq!(hub.admin(Method::GET, "/services/runtime", None).await.0, 404);
}

#[tokio::test]
async fn proxy_routes_and_reconciliation() {
    let hub = common::start().await;
    hub.hub.create_user("ann", false).await.unwrap();
    hub.admin(Method::POST, "/users/ann/server", None).await;
    hub.hub.check_routes().await.unwrap();
    let (status, routes) = hub.admin(Method::GET, "/proxy", None).await;
    assert_eq!(status, 200);
    assert_eq!(routes["/user/ann/"]["data"], json!({"user": "ann", "server_name": ""}));
    assert_eq!(routes["/user/ann/"]["routespec"], "/user/ann/");
    assert!(routes["/"]["target"].is_string());
    // A route lost by the proxy comes back on POST /proxy.
    hub.proxy.restart();
    let (status, _, body) = hub.call(Method::POST, "/proxy", &hub.admin_token, None).await;
    assert_eq!((status, body), (200, Value::Null));
    assert!(hub.proxy.targets().contains_key("/user/ann/"));
    let response = hub
        .req(Method::GET, "/proxy?limit=1", &hub.admin_token)
        .header("Accept", "application/jupyterhub-pagination+json")
        .send()
        .await
        .unwrap();
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["items"].as_object().unwrap().len(), 1);
    assert_eq!(page["_pagination"]["total"], 3, "/, /hub/ and /user/ann/");
    // PATCH validates its body.
    for (body, status) in [
        (None, 400),
        (Some(json!([1])), 400),
        (Some(json!({"api_url": "not a url"})), 400),
        (Some(json!({"ip": "1.2.3.4"})), 400),
        (Some(json!({"auth_token": 5})), 400),
        (Some(json!({"api_url": "http://proxy-api:8001", "auth_token": "t"})), 200),
    ] {
        assert_eq!(hub.admin(Method::PATCH, "/proxy", body.clone()).await.0, status, "{body:?}");
    }
    // The valid PATCH re-pointed the client and the new (empty) proxy got every route.
    assert_eq!(
        *hub.proxy.repointed.lock().unwrap(),
        Some((Some("http://proxy-api:8001".to_string()), Some("t".to_string())))
    );
    assert!(hub.proxy.targets().contains_key("/user/ann/"), "routes restored on the new proxy");
}

#[tokio::test]
async fn hub_endpoints() {
    let hub = common::start().await;
    let (status, info) = hub.admin(Method::GET, "/info", None).await;
    assert_eq!(status, 200);
    assert_eq!(info["version"], "6.1.1");
    assert!(info["python"].is_string() && info["sys_executable"].is_string());
    assert!(info["spawner"]["class"].is_string() && info["authenticator"]["class"].is_string());
    // OPTIONS: 200, empty, no credentials needed.
    let response = hub.client().request(Method::OPTIONS, hub.api("/users")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "");
    let response = hub.client().get(hub.api("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // Metrics need read:metrics and carry JupyterHub's handler labels.
    hub.admin(Method::GET, "/users", None).await;
    let alice = hub.token_for("alice", None).await;
    assert_eq!(hub.get("/metrics", &alice).await.0, 403);
    let text = hub.req(Method::GET, "/metrics", &hub.admin_token).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("handler=\"jupyterhub.apihandlers.users.UserListAPIHandler\""), "{text}");
    // Unknown API paths are JSON 404s; methods not served are 405 with Allow.
    let response = hub.req(Method::GET, "/nope/nope", &hub.admin_token).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let response = hub.req(Method::PUT, "/users", &hub.admin_token).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert!(response.headers().get("allow").is_some());
    // Deprecated lookups.
    let (status, owner) = hub.get(&format!("/authorizations/token/{alice}"), &hub.admin_token).await;
    assert_eq!((status, owner["name"].as_str()), (200, Some("alice")));
    let (status, _) = hub.get("/authorizations/token/not-a-token", &hub.admin_token).await;
    assert_eq!(status, 404);
    let (status, _, body) = hub.call(Method::POST, "/authorizations/token", &hub.admin_token, None).await;
    assert_eq!(status, 404);
    assert!(body["message"].as_str().unwrap().contains("removed in JupyterHub 2.0"));
    let (status, _) = hub.get("/authorizations/cookie/jupyterhub-hub-login/garbage", &hub.admin_token).await;
    assert_eq!(status, 404);
    // Sharing is not supported: scope-checked, then 404.
    let (status, body) = hub.get("/shares/alice", &hub.admin_token).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (404, "Sharing is not supported by this hub"));
    assert_eq!(hub.get("/shares/admin", &alice).await.0, 404, "filtered: other users' shares are not found");
}

#[tokio::test]
async fn shutdown() {
    let hub = common::start().await;
    hub.hub.create_user("ann", false).await.unwrap();
    hub.admin(Method::POST, "/users/ann/server", None).await;
    let (status, body) = hub.admin(Method::POST, "/shutdown", Some(json!({"servers": "yes"}))).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (400, "servers must be true or false, got \"yes\""));
    assert!(!hub.shutdown.is_cancelled());
    let alice = hub.token_for("alice", None).await;
    assert_eq!(hub.call(Method::POST, "/shutdown", &alice, None).await.0, 403);
    let (status, body) = hub.admin(Method::POST, "/shutdown", Some(json!({"servers": true, "proxy": false}))).await;
    assert_eq!((status, body), (202, json!({"message": "Shutting down Hub"})));
    tokio::time::timeout(Duration::from_secs(10), hub.shutdown.cancelled()).await.unwrap();
    assert!(!hub.spawner.is_running("ann", ""), "servers stopped first");
}
