//! Users: creation, bulk creation, column updates, deletion cascades.

use crate::{assert_conflict, assert_not_found, at, token, user};
use jhub_core::model::{RoleHolder, ServerEventKind, TokenOwner};
use jhub_store::{NewOAuthCode, NewServerEvent, NewUser, Store};
use serde_json::json;

pub async fn create_roundtrip_and_conflicts(s: Store) {
    let alice = s.create_user("alice", true, "cookie-a", at(5)).await.unwrap();
    assert!(alice.id > 0);
    assert_eq!(alice.name, "alice");
    assert!(alice.admin);
    assert_eq!(alice.created, at(5));
    assert_eq!(alice.last_activity, None);
    assert_eq!(alice.cookie_id, "cookie-a");
    assert_eq!(alice.user_info, None);
    assert_eq!(alice.encrypted_auth_state, None);

    assert_conflict(s.create_user("alice", false, "cookie-other", at(6)).await);
    assert_conflict(s.create_user("bob", false, "cookie-a", at(6)).await);
    let bob = s.create_user("bob", false, "cookie-b", at(6)).await.unwrap();
    assert_ne!(bob.id, alice.id);

    let snapshot = s.load_snapshot().await.unwrap();
    assert_eq!(snapshot.users, vec![alice, bob]);
}

pub async fn bulk_create_is_atomic_and_ordered(s: Store) {
    assert!(s.create_users(&[], at(0)).await.unwrap().is_empty());
    let wanted: Vec<NewUser> = ["zed", "amy", "1234", "émile"]
        .iter()
        .enumerate()
        .map(|(i, name)| NewUser { name: name.to_string(), admin: i == 1, cookie_id: format!("c{i}") })
        .collect();
    let created = s.create_users(&wanted, at(1)).await.unwrap();
    assert_eq!(created.len(), 4);
    for (new, made) in wanted.iter().zip(&created) {
        assert_eq!(
            (&made.name, made.admin, &made.cookie_id, made.created),
            (&new.name, new.admin, &new.cookie_id, at(1))
        );
    }
    assert_eq!(s.load_snapshot().await.unwrap().users, created);

    // One existing name fails the whole batch.
    let clash = vec![
        NewUser { name: "fresh".into(), admin: false, cookie_id: "c-fresh".into() },
        NewUser { name: "amy".into(), admin: false, cookie_id: "c-amy2".into() },
    ];
    assert_conflict(s.create_users(&clash, at(2)).await);
    // So does a name repeated inside the batch.
    let repeated = vec![
        NewUser { name: "twin".into(), admin: false, cookie_id: "c-t1".into() },
        NewUser { name: "twin".into(), admin: false, cookie_id: "c-t2".into() },
    ];
    assert_conflict(s.create_users(&repeated, at(2)).await);
    let names: Vec<String> = s.load_snapshot().await.unwrap().users.into_iter().map(|u| u.name).collect();
    assert_eq!(names, vec!["zed", "amy", "1234", "émile"]);
}

pub async fn column_updates(s: Store) {
    let alice = user(&s, "alice").await;
    let bob = user(&s, "bob").await;
    let missing = bob.id + 1000;

    s.rename_user(alice.id, "alicia").await.unwrap();
    assert_conflict(s.rename_user(alice.id, "bob").await);
    assert_not_found(s.rename_user(missing, "nobody").await);

    s.set_admin(alice.id, true).await.unwrap();
    assert_not_found(s.set_admin(missing, true).await);

    // Fernet tokens are ASCII, but the column must hold any bytes.
    let secret = vec![0u8, 159, 146, 150, 255, b'x'];
    s.set_auth_state(alice.id, Some(&secret)).await.unwrap();
    s.set_auth_state(bob.id, Some(b"to be cleared")).await.unwrap();
    s.set_auth_state(bob.id, None).await.unwrap();
    assert_not_found(s.set_auth_state(missing, None).await);

    let info = json!({"name": "Alice Liddell", "email": "alice@example.org", "groups": ["a", "b"]});
    s.set_user_info(alice.id, Some(&info)).await.unwrap();
    s.set_user_info(bob.id, Some(&json!({"x": 1}))).await.unwrap();
    s.set_user_info(bob.id, None).await.unwrap();
    assert_not_found(s.set_user_info(missing, None).await);

    s.set_cookie_id(alice.id, "rotated").await.unwrap();
    assert_conflict(s.set_cookie_id(bob.id, "rotated").await);
    assert_not_found(s.set_cookie_id(missing, "other").await);

    let users = s.load_snapshot().await.unwrap().users;
    let a = users.iter().find(|u| u.id == alice.id).unwrap();
    assert_eq!(a.name, "alicia");
    assert!(a.admin);
    assert_eq!(a.encrypted_auth_state.as_deref(), Some(&secret[..]));
    assert_eq!(a.user_info.as_ref(), Some(&info));
    assert_eq!(a.cookie_id, "rotated");
    let b = users.iter().find(|u| u.id == bob.id).unwrap();
    assert_eq!((b.name.as_str(), b.admin, &b.encrypted_auth_state, &b.user_info), ("bob", false, &None, &None));
    assert_eq!(b.cookie_id, "cookie-bob");
}

pub async fn delete_cascades(s: Store) {
    let alice = user(&s, "alice").await;
    let bob = user(&s, "bob").await;
    let server = s.create_server(alice.id, "", "").await.unwrap();
    let bob_server = s.create_server(bob.id, "", "").await.unwrap();
    let tok = s.insert_token(&token(TokenOwner::User(alice.id), "alice-token-0001")).await.unwrap();
    let bob_tok = s.insert_token(&token(TokenOwner::User(bob.id), "bob-token-0001")).await.unwrap();
    s.create_session("sess-a", alice.id, at(1)).await.unwrap();
    s.create_session("sess-b", bob.id, at(1)).await.unwrap();
    let group = s.create_group("g", &json!({}), &[alice.id, bob.id]).await.unwrap();
    let role = s.upsert_role("r", None, &["read:users".to_string()]).await.unwrap();
    s.grant_role(role.id, RoleHolder::User(alice.id)).await.unwrap();
    s.grant_role(role.id, RoleHolder::User(bob.id)).await.unwrap();
    let code_secret = "code-of-alice";
    s.insert_code(&NewOAuthCode {
        client_id: "jupyterhub".into(),
        code_hashed: jhub_core::token::hash_token(code_secret, "00ff00ff00ff00ff", 1),
        prefix: jhub_core::token::prefix(code_secret).into(),
        user_id: alice.id,
        scopes: vec![],
        redirect_uri: "/hub/oauth_callback".into(),
        session_id: Some("sess-a".into()),
        expires_at: at(100),
        code_challenge: None,
        code_challenge_method: None,
    })
    .await
    .unwrap();
    let event = s
        .append_event(&NewServerEvent {
            user_id: Some(alice.id),
            user_name: "alice".into(),
            server_name: "".into(),
            kind: ServerEventKind::Started,
            at: at(2),
            detail: json!({"profile": "small"}),
        })
        .await
        .unwrap();

    assert!(s.delete_user(alice.id).await.unwrap());
    assert!(!s.delete_user(alice.id).await.unwrap());

    let snapshot = s.load_snapshot().await.unwrap();
    assert_eq!(snapshot.users.iter().map(|u| u.id).collect::<Vec<_>>(), vec![bob.id]);
    assert_eq!(snapshot.servers.iter().map(|x| x.id).collect::<Vec<_>>(), vec![bob_server.id]);
    assert!(!snapshot.servers.iter().any(|x| x.id == server.id));
    assert_eq!(snapshot.user_groups, vec![(bob.id, group.id)]);
    assert_eq!(snapshot.role_holders, vec![(role.id, RoleHolder::User(bob.id))]);
    assert_eq!(s.token_by_id(tok.id).await.unwrap(), None);
    assert!(s.tokens_for_owner(TokenOwner::User(alice.id)).await.unwrap().is_empty());
    assert_eq!(s.token_by_id(bob_tok.id).await.unwrap(), Some(bob_tok));
    assert_eq!(s.session("sess-a").await.unwrap(), None);
    assert!(s.session("sess-b").await.unwrap().is_some());
    assert_eq!(s.take_code(jhub_core::token::prefix(code_secret), at(0), |_| true).await.unwrap(), None);

    let events = s.events_between(at(0), at(10), 10, None).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, event.id);
    assert_eq!(events[0].user_id, None);
    assert_eq!(events[0].user_name, "alice");
    assert_eq!(events[0].detail, json!({"profile": "small"}));
}
