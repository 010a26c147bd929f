//! RBAC over HTTP: no route of `api::table()` is reachable without its
//! scope, and a (caller, method, path) matrix answers allowed / 403 / 404
//! exactly as JupyterHub's `needs_scope` does (jupyterhub-compat §3.5, §4):
//! 403 when the caller holds none of the route's scopes, 404 when she holds
//! them only for other resources (filters), self-access through the
//! `user` role, read-only roles from `hub.loadRoles`, group filters, server
//! tokens, and tokens with no scopes at all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use jhub_hub::{RoleSpec, ServiceSpec};
use reqwest::Method;
use serde_json::json;

fn role(name: &str, scopes: &[&str], users: &[&str], services: &[&str]) -> RoleSpec {
    RoleSpec {
        name: name.into(),
        description: None,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        users: users.iter().map(|s| s.to_string()).collect(),
        groups: vec![],
        services: services.iter().map(|s| s.to_string()).collect(),
    }
}

const BARE_SERVICE_TOKEN: &str = "bare-service-token-0123456789";

async fn scoped_hub() -> common::TestHub {
    let hub = common::start_with(|s, _| {
        s.roles.push(role("reader", &["read:users", "list:users"], &["reader"], &[]));
        s.roles.push(role("team-lead", &["servers!group=team", "read:users!group=team"], &["lead"], &[]));
        s.roles.push(role("watcher", &["read:users!user=bob"], &["watcher"], &[]));
        s.roles.push(role("svc-reader", &["read:services!service=victim"], &["svcreader"], &[]));
        s.services.push(ServiceSpec {
            name: "bare".into(),
            admin: false,
            url: None,
            api_token: Some(BARE_SERVICE_TOKEN.into()),
            display: false,
            oauth_no_confirm: false,
            oauth_redirect_uri: None,
            info: json!({}),
        });
    })
    .await;
    hub.hub.create_users(&["alice", "bob", "ann", "victim", "nobody"].map(String::from), false).await.unwrap();
    hub.hub.create_group("team", &["ann".into()]).await.unwrap();
    hub.hub.create_group("victim", &[]).await.unwrap();
    hub.hub.create_service("victim", false, None, None).await.unwrap();
    hub.hub.create_server("victim", "srv", "srv", None).await.unwrap();
    hub
}

fn concrete(path: &str) -> String {
    path.replace("{name}", "victim")
        .replace("{server_name}", "srv")
        .replace("{owner}", "victim")
        .replace("{token_id}", "a1")
        .replace("{token}", "not-a-real-token")
        .replace("{cookie_name}", "jupyterhub-hub-login")
        .replace("{cookie_value}", "x")
}

/// Routes anyone may call: the version, health, and `GET /user` (any credential).
fn open_route(method: &Method, path: &str) -> bool {
    // `/jhub/capacity`: any signed-in caller (like `/user`), answered for the caller's own groups.
    *method == Method::GET && matches!(path, "/" | "/health" | "/user" | "/jhub/capacity")
}

#[tokio::test]
async fn no_route_is_reachable_without_its_scope() {
    let hub = scoped_hub().await;
    // A user token with no scopes (it keeps only the identify scopes of its
    // owner) and a service without roles.
    let no_scopes = hub.token_for("nobody", Some(&[])).await;
    let table = jhub_web::api::table();
    assert!(table.len() > 60, "the table lists the API");
    for entry in &table {
        let route = &entry.route;
        if open_route(&route.method, route.path) {
            continue;
        }
        let path = concrete(route.path);
        for (who, token) in [
            ("token without scopes", Some(no_scopes.as_str())),
            ("service without roles", Some(BARE_SERVICE_TOKEN)),
            ("anonymous", None),
        ] {
            let mut request = hub.client().request(route.method.clone(), hub.api(&path)).json(&json!({}));
            if let Some(token) = token {
                request = request.header("Authorization", format!("token {token}"));
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            assert!(
                status == 403 || status == 404,
                "{who}: {} {path} answered {status}: {}",
                route.method,
                response.text().await.unwrap()
            );
            if token.is_none() && route.path != "/authorizations/token" {
                assert_eq!(status, 403, "anonymous {} {path} must be 403 (never 401)", route.method);
            }
        }
    }
    // Nothing changed.
    assert!(hub.hub.read().user("victim").is_some());
    assert!(hub.hub.read().group("victim").is_some());
    assert!(hub.hub.read().user("victim").unwrap().servers.contains_key("srv"));
}

#[tokio::test]
async fn every_route_declares_scopes_unless_open() {
    for entry in jhub_web::api::table() {
        let route = &entry.route;
        let open = open_route(&route.method, route.path)
            || route.path.starts_with("/authorizations/")
            || route.path == "/health";
        assert!(open || !route.scopes.is_empty(), "{} {} declares no scope", route.method, route.path);
        // JupyterHub's class path, or `jhub.` for jhub's own endpoints (usage).
        assert!(
            route.handler.starts_with("jupyterhub.") || route.handler.starts_with("jhub.apihandlers."),
            "{} {}: handler label",
            route.method,
            route.path
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Passed the scope check (the handler answered, not with 403/404).
    Allowed,
    Forbidden,
    NotFound,
}

use Expect::{Allowed, Forbidden, NotFound};

#[tokio::test]
async fn scope_matrix_matches_jupyterhub() {
    let hub = scoped_hub().await;
    let mut tokens = std::collections::BTreeMap::new();
    for user in ["alice", "reader", "lead", "watcher", "svcreader"] {
        tokens.insert(user, hub.token_for(user, None).await);
    }
    tokens.insert("admin", hub.admin_token.clone());
    tokens.insert("no-scopes", hub.token_for("nobody", Some(&[])).await);
    tokens.insert("read-only-token", hub.token_for("alice", Some(&["read:users!user=alice"])).await);
    // alice's server token (what her single-user server holds).
    assert_eq!(hub.admin(Method::POST, "/users/alice/servers/lab", None).await.0, 201);
    tokens.insert("server", hub.spawner.api_token("alice", "lab").unwrap());

    let activity = json!({"last_activity": "2026-01-01T00:00:00Z"});
    let rows: Vec<(&str, Method, &str, Option<serde_json::Value>, Expect)> = vec![
        // admin: everything.
        ("admin", Method::GET, "/users", None, Allowed),
        ("admin", Method::GET, "/info", None, Allowed),
        ("admin", Method::GET, "/proxy", None, Allowed),
        ("admin", Method::GET, "/users/bob/tokens", None, Allowed),
        // a normal user (role `user` = `self`): herself only; others are hidden (404).
        ("alice", Method::GET, "/users/alice", None, Allowed),
        ("alice", Method::GET, "/users/bob", None, NotFound),
        ("alice", Method::GET, "/users", None, Forbidden),
        ("alice", Method::GET, "/info", None, Forbidden),
        ("alice", Method::GET, "/groups", None, Forbidden),
        ("alice", Method::GET, "/groups/team", None, Forbidden),
        ("alice", Method::GET, "/services", None, Forbidden),
        ("alice", Method::GET, "/proxy", None, Forbidden),
        ("alice", Method::POST, "/users", Some(json!({"usernames": ["x"]})), Forbidden),
        ("alice", Method::DELETE, "/users/bob", None, Forbidden),
        ("alice", Method::PATCH, "/users/alice", Some(json!({"admin": true})), Forbidden),
        ("alice", Method::GET, "/users/alice/servers/lab", None, Allowed),
        ("alice", Method::GET, "/users/bob/server", None, NotFound),
        ("alice", Method::POST, "/users/bob/server", None, NotFound),
        ("alice", Method::DELETE, "/users/bob/server", None, NotFound),
        ("alice", Method::GET, "/users/alice/tokens", None, Allowed),
        ("alice", Method::GET, "/users/bob/tokens", None, NotFound),
        ("alice", Method::POST, "/users/bob/tokens", None, Forbidden),
        ("alice", Method::POST, "/users/alice/activity", Some(activity.clone()), Allowed),
        ("alice", Method::POST, "/users/bob/activity", Some(activity.clone()), NotFound),
        ("alice", Method::GET, "/shares/bob", None, NotFound),
        ("alice", Method::POST, "/shutdown", None, Forbidden),
        // a read-only role from hub.loadRoles.
        ("reader", Method::GET, "/users", None, Allowed),
        ("reader", Method::GET, "/users/bob", None, Allowed),
        ("reader", Method::PATCH, "/users/bob", Some(json!({"admin": true})), Forbidden),
        // ... whose `self` scopes cover only her own servers and tokens: others' are hidden.
        ("reader", Method::POST, "/users/bob/server", None, NotFound),
        ("reader", Method::GET, "/users/bob/server", None, NotFound),
        ("reader", Method::GET, "/users/bob/tokens", None, NotFound),
        ("reader", Method::DELETE, "/users/bob", None, Forbidden),
        // group filters: servers of members of `team` only.
        ("lead", Method::POST, "/users/ann/server", None, Allowed),
        ("lead", Method::GET, "/users/ann", None, Allowed),
        ("lead", Method::DELETE, "/users/ann/server", None, Allowed),
        ("lead", Method::POST, "/users/bob/server", None, NotFound),
        ("lead", Method::GET, "/users/bob", None, NotFound),
        ("lead", Method::GET, "/users", None, Forbidden),
        // a user filter.
        ("watcher", Method::GET, "/users/bob", None, Allowed),
        ("watcher", Method::GET, "/users/ann", None, NotFound),
        ("watcher", Method::GET, "/users", None, Forbidden),
        // service filters.
        ("svcreader", Method::GET, "/services", None, Forbidden),
        ("svcreader", Method::GET, "/services/victim", None, Allowed),
        ("svcreader", Method::GET, "/services/bare", None, NotFound),
        ("svcreader", Method::DELETE, "/services/victim", None, Forbidden),
        // a server's own token: identify itself, report activity, nothing else.
        ("server", Method::GET, "/user", None, Allowed),
        ("server", Method::GET, "/users/alice", None, Allowed),
        ("server", Method::GET, "/users/bob", None, NotFound),
        ("server", Method::POST, "/users/alice/activity", Some(activity.clone()), Allowed),
        ("server", Method::POST, "/users/bob/activity", Some(activity.clone()), NotFound),
        ("server", Method::POST, "/users/alice/server", None, Forbidden),
        ("server", Method::GET, "/users/alice/tokens", None, Forbidden),
        // a token limited by its scopes, although its owner holds more.
        ("read-only-token", Method::GET, "/users/alice", None, Allowed),
        ("read-only-token", Method::GET, "/users/alice/tokens", None, Forbidden),
        ("read-only-token", Method::POST, "/users/alice/server", None, Forbidden),
        ("read-only-token", Method::POST, "/users/alice/tokens", None, Forbidden),
        // no scopes: only its identity.
        ("no-scopes", Method::GET, "/user", None, Allowed),
        ("no-scopes", Method::GET, "/users/nobody", None, Allowed),
        ("no-scopes", Method::GET, "/users/alice", None, NotFound),
        ("no-scopes", Method::POST, "/users/nobody/server", None, Forbidden),
        ("no-scopes", Method::GET, "/users/nobody/tokens", None, Forbidden),
    ];
    let mut failures = Vec::new();
    for (who, method, path, body, expect) in rows {
        let (status, _, reply) = hub.call(method.clone(), path, &tokens[who], body).await;
        assert!(status < 500, "{who} {method} {path}: {status} {reply}");
        let got = match status {
            403 => Forbidden,
            404 => NotFound,
            _ => Allowed,
        };
        if got != expect {
            failures.push(format!("{who} {method} {path}: expected {expect:?}, got {status} {reply}"));
        }
        // JupyterHub's messages for the two denials.
        if got == Forbidden && path != "/users/bob/tokens" && !path.ends_with("/tokens") {
            let message = reply["message"].as_str().unwrap_or_default();
            assert!(
                message.starts_with("Action is not authorized with current scopes; requires any of ["),
                "{who} {path}: {message}"
            );
        }
        if got == NotFound && expect == NotFound && !path.starts_with("/shares") {
            assert_eq!(reply["message"], "No access to resources or resources not found", "{who} {path}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Token-page semantics: what a token reports as its scopes is what it may do.
    let (_, me) = hub.get("/user", &tokens["read-only-token"]).await;
    let scopes: Vec<&str> = me["scopes"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert!(scopes.contains(&"read:users!user=alice"), "{scopes:?}");
    assert!(!scopes.iter().any(|s| s.starts_with("servers")), "{scopes:?}");
}

#[tokio::test]
async fn permissions_follow_role_and_group_changes_at_once() {
    let hub = scoped_hub().await;
    let lead = hub.token_for("lead", None).await;
    assert_eq!(hub.get("/users/bob", &lead).await.0, 404);
    // bob joins the team: the lead's group-filtered scopes cover him now.
    assert_eq!(hub.admin(Method::POST, "/groups/team/users", Some(json!({"users": ["bob"]}))).await.0, 200);
    assert_eq!(hub.get("/users/bob", &lead).await.0, 200);
    // alice made admin: her existing token (inherit) gains admin scopes; revoked again, loses them.
    let alice = hub.token_for("alice", None).await;
    assert_eq!(hub.get("/users", &alice).await.0, 403);
    assert_eq!(hub.admin(Method::PATCH, "/users/alice", Some(json!({"admin": true}))).await.0, 200);
    assert_eq!(hub.get("/users", &alice).await.0, 200);
    assert_eq!(hub.admin(Method::PATCH, "/users/alice", Some(json!({"admin": false}))).await.0, 200);
    assert_eq!(hub.get("/users", &alice).await.0, 403);
}
