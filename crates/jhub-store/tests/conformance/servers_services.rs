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
