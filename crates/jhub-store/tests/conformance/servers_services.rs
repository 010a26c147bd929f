//! Servers (spawner rows) and services.

use crate::{assert_conflict, assert_not_found, at, token, user};
use jhub_core::model::{Pending, RoleHolder, TokenOwner};
use jhub_store::{NewService, Store};
use serde_json::json;

pub async fn servers_lifecycle(s: Store) {
    let a = user(&s, "a").await;
    let default = s.create_server(a.id, "", "").await.unwrap();
    assert_eq!((default.user_id, default.name.as_str(), default.display_name.as_str()), (a.id, "", ""));
    assert_eq!((default.started, default.last_activity, &default.url, default.pending), (None, None, &None, None));
    assert_eq!((&default.state, &default.user_options), (&json!({}), &json!({})));
    let gpu = s.create_server(a.id, "gpu", "GPU box").await.unwrap();
    assert_conflict(s.create_server(a.id, "gpu", "again").await);
    assert_not_found(s.create_server(a.id + 1000, "", "").await);
    let b = user(&s, "b").await;
    s.create_server(b.id, "gpu", "").await.unwrap();

    let mut running = default.clone();
    running.display_name = "Default".into();
    running.started = Some(at(10));
    running.last_activity = Some(at(11));
    running.state = json!({"pod_name": "jupyter-a", "namespace": "jhub", "dns_name": "jupyter-a.jhub.svc"});
    running.user_options = json!({"profile": "gpu", "image": "jupyter/scipy"});
    running.url = Some("http://10.0.0.7:8888".into());
    running.pending = Some(Pending::Spawn);
    s.save_server(&running).await.unwrap();

    let mut ghost = running.clone();
    ghost.id = gpu.id + 1000;
    assert_not_found(s.save_server(&ghost).await);
    let mut clash = gpu.clone();
    clash.name = "".into();
    assert_conflict(s.save_server(&clash).await);

    s.rename_server(gpu.id, "cuda").await.unwrap();
    assert_conflict(s.rename_server(gpu.id, "").await);
    assert_not_found(s.rename_server(gpu.id + 1000, "x").await);

    let snap = s.load_snapshot().await.unwrap();
    let stored = snap.servers.iter().find(|x| x.id == default.id).unwrap();
    assert_eq!(stored, &running);
    assert!(!stored.ready(), "pending spawn");
    assert_eq!(snap.servers.iter().find(|x| x.id == gpu.id).unwrap().name, "cuda");

    // Stopping clears the runtime columns again.
    let mut stopped = running.clone();
    stopped.url = None;
    stopped.pending = None;
    stopped.started = None;
    s.save_server(&stopped).await.unwrap();
    let snap = s.load_snapshot().await.unwrap();
    assert_eq!(snap.servers.iter().find(|x| x.id == default.id).unwrap(), &stopped);

    assert!(s.delete_server(gpu.id).await.unwrap());
    assert!(!s.delete_server(gpu.id).await.unwrap());
    assert_eq!(s.load_snapshot().await.unwrap().servers.len(), 2);
}

pub async fn services_upsert_and_delete(s: Store) {
    let spec = NewService {
        name: "announcement".into(),
        admin: false,
        url: Some("http://announcement:8888".into()),
        display: true,
        info: json!({"team": "ops"}),
        oauth_client_id: Some("service-announcement".into()),
        oauth_no_confirm: true,
        from_config: true,
    };
    let svc = s.upsert_service(&spec).await.unwrap();
    assert_eq!(
        (svc.name.as_str(), svc.admin, svc.url.as_deref(), svc.display, &svc.info),
        ("announcement", false, Some("http://announcement:8888"), true, &json!({"team": "ops"}))
    );
    assert_eq!(
        (svc.oauth_client_id.as_deref(), svc.oauth_no_confirm, svc.from_config),
        (Some("service-announcement"), true, true)
    );

    let changed = NewService {
        admin: true,
        url: None,
        display: false,
        info: json!({}),
        oauth_client_id: None,
        oauth_no_confirm: false,
        from_config: false,
        ..spec
    };
    let again = s.upsert_service(&changed).await.unwrap();
    assert_eq!(again.id, svc.id, "upsert keeps the id");
    assert_eq!(
        (
            again.admin,
            again.url.clone(),
            again.display,
            again.info.clone(),
            again.oauth_client_id.clone(),
            again.oauth_no_confirm,
            again.from_config
        ),
        (true, None, false, json!({}), None, false, false)
    );
    assert_eq!(s.load_snapshot().await.unwrap().services, vec![again]);

    let tok = s.insert_token(&token(TokenOwner::Service(svc.id), "service-token-01")).await.unwrap();
    let role = s.upsert_role("svc-role", None, &[]).await.unwrap();
    s.grant_role(role.id, RoleHolder::Service(svc.id)).await.unwrap();
    assert_eq!(s.tokens_for_owner(TokenOwner::Service(svc.id)).await.unwrap(), vec![tok.clone()]);

    assert!(s.delete_service(svc.id).await.unwrap());
    assert!(!s.delete_service(svc.id).await.unwrap());
    assert_eq!(s.token_by_id(tok.id).await.unwrap(), None);
    let snap = s.load_snapshot().await.unwrap();
    assert!(snap.services.is_empty());
    assert!(snap.role_holders.is_empty());
}

fn spawn_write(user_id: i64, secret: &str, existing: Option<jhub_core::model::Server>) -> jhub_store::SpawnWrite {
    let create = existing.is_none();
    let mut server = existing.unwrap_or(jhub_core::model::Server {
        id: 0,
        user_id,
        name: String::new(),
        display_name: String::new(),
        started: None,
        last_activity: None,
        state: json!({}),
        user_options: json!({}),
        url: None,
        pending: None,
    });
    server.started = Some(at(20));
    server.last_activity = Some(at(20));
    server.user_options = json!({"profile": "cpu"});
    server.pending = Some(Pending::Spawn);
    let client = jhub_core::model::OAuthClient {
        identifier: "jupyterhub-user-a".into(),
        description: "Server at /user/a/".into(),
        secret_hashed: Some("h".into()),
        redirect_uri: "/user/a/oauth_callback".into(),
        allowed_scopes: vec!["access:servers!server=a/".into()],
    };
    let mut token = token(TokenOwner::User(user_id), secret);
    token.client_id = client.identifier.clone();
    jhub_store::SpawnWrite { server, create, client, token }
}

/// A spawn's rows (server, OAuth client, token) and a stop's are written
/// all or nothing.
pub async fn spawn_and_stop_writes_are_atomic(s: Store) {
    let a = user(&s, "a").await;
    let (server, stored_token) = s.write_spawn(&spawn_write(a.id, "first-secret-0001", None)).await.unwrap();
    assert!(server.id > 0);
    assert_eq!(stored_token.client_id, "jupyterhub-user-a");
    let snap = s.load_snapshot().await.unwrap();
    assert_eq!(snap.servers, vec![server.clone()]);
    assert!(s.client("jupyterhub-user-a").await.unwrap().is_some());

    // A second spawn whose token collides (with a hub token) fails as a
    // whole: the deletion of the last run's client is rolled back too.
    s.insert_token(&token(TokenOwner::User(a.id), "hub-secret-000001")).await.unwrap();
    let mut clash = spawn_write(a.id, "hub-secret-000001", Some(server.clone()));
    clash.server.user_options = json!({"profile": "gpu"});
    assert_conflict(s.write_spawn(&clash).await);
    assert_eq!(s.load_snapshot().await.unwrap().servers, vec![server.clone()], "row untouched");
    assert!(s.client("jupyterhub-user-a").await.unwrap().is_some(), "old client kept");
    assert_eq!(s.tokens_for_owner(TokenOwner::User(a.id)).await.unwrap().len(), 2, "old server token kept");

    // A fresh spawn of an existing row replaces the client and its tokens.
    let (again, _) = s.write_spawn(&spawn_write(a.id, "second-secret-002", Some(server.clone()))).await.unwrap();
    assert_eq!(again.id, server.id);
    let tokens = s.tokens_for_owner(TokenOwner::User(a.id)).await.unwrap();
    let server_tokens: Vec<_> = tokens.iter().filter(|t| t.client_id == "jupyterhub-user-a").collect();
    assert_eq!(server_tokens.len(), 1, "the last run's token went with its client");
    assert_eq!(server_tokens[0].prefix, jhub_core::token::prefix("second-secret-002"));

    // A new row whose token fails leaves no row behind.
    let b = user(&s, "b").await;
    let mut orphan = spawn_write(b.id, "hub-secret-000001", None);
    orphan.client.identifier = "jupyterhub-user-b".into();
    orphan.token.client_id = "jupyterhub-user-b".into();
    assert_conflict(s.write_spawn(&orphan).await);
    assert!(s.load_snapshot().await.unwrap().servers.iter().all(|x| x.user_id != b.id), "no half-made row");
    assert!(s.client("jupyterhub-user-b").await.unwrap().is_none(), "no half-made client");

    // Stop: client and tokens go, the row is saved stopped.
    let mut stopped = again.clone();
    stopped.pending = None;
    stopped.started = None;
    let write = jhub_store::StopWrite { client_id: "jupyterhub-user-a".into(), server: stopped.clone(), remove: false };
    s.write_stop(&write).await.unwrap();
    assert!(s.client("jupyterhub-user-a").await.unwrap().is_none());
    let left = s.tokens_for_owner(TokenOwner::User(a.id)).await.unwrap();
    assert!(left.iter().all(|t| t.client_id != "jupyterhub-user-a"), "server tokens revoked");
    assert_eq!(s.load_snapshot().await.unwrap().servers, vec![stopped.clone()]);
    // A stop of a row that is gone fails as a whole: nothing else changes.
    let mut ghost = stopped.clone();
    ghost.id += 1000;
    s.write_spawn(&spawn_write(a.id, "third-secret-0003", Some(stopped.clone()))).await.unwrap();
    let bad = jhub_store::StopWrite { client_id: "jupyterhub-user-a".into(), server: ghost, remove: false };
    assert_not_found(s.write_stop(&bad).await);
    assert!(s.client("jupyterhub-user-a").await.unwrap().is_some(), "client kept: the stop was rolled back");
    // Remove deletes the row.
    let remove = jhub_store::StopWrite { client_id: "jupyterhub-user-a".into(), server: stopped, remove: true };
    s.write_stop(&remove).await.unwrap();
    assert!(s.load_snapshot().await.unwrap().servers.is_empty());

    // Injected faults fail the named write only, until cleared.
    s.fail_writes(&["write spawn"]);
    let err = s.write_spawn(&spawn_write(a.id, "fourth-secret-004", None)).await.unwrap_err();
    assert!(matches!(err, jhub_store::StoreError::Injected { op: "write spawn" }), "{err:?}");
    assert!(s.load_snapshot().await.unwrap().servers.is_empty());
    s.clear_faults();
    s.write_spawn(&spawn_write(a.id, "fourth-secret-004", None)).await.unwrap();
}
