//! API tokens: prefix lookup, expiry, deletion by id, session, client and owner.

use crate::{assert_conflict, assert_not_found, at, token, user};
use jhub_core::model::{OAuthClient, TokenOwner};
use jhub_core::token::{prefix, verify_token};
use jhub_store::{NewService, NewToken, Store};
use serde_json::json;

pub async fn lookup_and_expiry(s: Store) {
    let a = user(&s, "a").await;
    let owner = TokenOwner::User(a.id);
    let forever = s.insert_token(&token(owner, "abcd-forever")).await.unwrap();
    let expiring = s
        .insert_token(&NewToken {
            expires_at: Some(at(100)),
            note: Some("for CI".into()),
            session_id: Some("sess".into()),
            scopes: vec!["read:users".into(), "!user".into()],
            ..token(owner, "abcd-expiring")
        })
        .await
        .unwrap();
    let other_prefix = s.insert_token(&token(owner, "wxyz-other")).await.unwrap();

    assert_eq!(expiring.owner, owner);
    assert_eq!(expiring.prefix, "abcd");
    assert_eq!(expiring.client_id, "jupyterhub");
    assert_eq!(expiring.session_id.as_deref(), Some("sess"));
    assert_eq!(expiring.created, at(0));
    assert_eq!(expiring.expires_at, Some(at(100)));
    assert_eq!(expiring.last_activity, None);
    assert_eq!(expiring.note.as_deref(), Some("for CI"));
    assert_eq!(expiring.scopes, vec!["read:users".to_string(), "!user".to_string()]);

    assert_eq!(s.tokens_by_prefix("abcd", at(50)).await.unwrap(), vec![forever.clone(), expiring.clone()]);
    // Valid up to and including its expiry instant, like ApiToken::expired.
    assert_eq!(s.tokens_by_prefix("abcd", at(100)).await.unwrap().len(), 2);
    assert_eq!(s.tokens_by_prefix("abcd", at(101)).await.unwrap(), vec![forever.clone()]);
    assert!(s.tokens_by_prefix("nope", at(0)).await.unwrap().is_empty());

    assert_eq!(s.token_by_id(expiring.id).await.unwrap(), Some(expiring.clone()), "by id sees expired tokens");
    assert_eq!(s.token_by_id(other_prefix.id + 1000).await.unwrap(), None);
    assert_eq!(s.tokens_for_owner(owner).await.unwrap(), vec![forever.clone(), expiring.clone(), other_prefix.clone()]);

    assert_conflict(s.insert_token(&token(owner, "abcd-forever")).await);
    assert_not_found(s.insert_token(&token(TokenOwner::User(a.id + 1000), "dangling-user")).await);
    assert_not_found(s.insert_token(&token(TokenOwner::Service(1000), "dangling-service")).await);
    assert_not_found(
        s.insert_token(&NewToken { client_id: "no-such-client".into(), ..token(owner, "no-client") }).await,
    );

    assert_eq!(s.purge_expired_tokens(at(100)).await.unwrap(), 0);
    assert_eq!(s.purge_expired_tokens(at(101)).await.unwrap(), 1);
    assert_eq!(s.token_by_id(expiring.id).await.unwrap(), None);

    assert!(s.delete_token(forever.id).await.unwrap());
    assert!(!s.delete_token(forever.id).await.unwrap());
    assert_eq!(s.tokens_for_owner(owner).await.unwrap(), vec![other_prefix]);
}

/// A service token from configuration, hashed by JupyterHub 6.1.1 itself
/// (16384 rounds), found by prefix and verified with jhub-core.
pub async fn jupyterhub_hash_verifies(s: Store) {
    const PLAINTEXT: &str = "svc-secret-token-from-config";
    const HASHED: &str = "sha512:16384:a1b2c3d4e5f60718:a1f00d21b7d6c4f1e68cfc944c042abb373090a8ea352148ab7594c87b3b303dadd416560c5e7e363ccffbd8f84551721b7ef64fe5235fc8e43dfb2e63747fdc";
    let svc = s
        .upsert_service(&NewService {
            name: "cull-idle".into(),
            admin: true,
            url: None,
            display: false,
            info: json!({}),
            oauth_client_id: None,
            oauth_no_confirm: false,
            from_config: true,
        })
        .await
        .unwrap();
    let mut row = token(TokenOwner::Service(svc.id), PLAINTEXT);
    row.hashed = HASHED.to_string();
    s.insert_token(&row).await.unwrap();
    // A decoy with the same prefix must not verify.
    s.insert_token(&token(TokenOwner::Service(svc.id), "svc-another-token")).await.unwrap();

    let candidates = s.tokens_by_prefix(prefix(PLAINTEXT), at(0)).await.unwrap();
    assert_eq!(candidates.len(), 2);
    let matching: Vec<_> = candidates.iter().filter(|t| verify_token(&t.hashed, PLAINTEXT)).collect();
    assert_eq!(matching.len(), 1);
    assert_eq!(matching[0].hashed, HASHED);
    assert_eq!(matching[0].owner, TokenOwner::Service(svc.id));
    assert!(!candidates.iter().any(|t| verify_token(&t.hashed, "svc-secret-token-from-confiG")));
}

pub async fn delete_by_session_client_owner(s: Store) {
    let a = user(&s, "a").await;
    let b = user(&s, "b").await;
    s.upsert_client(&OAuthClient {
        identifier: "jupyterhub-user-a".into(),
        description: "Server at /user/a/".into(),
        secret_hashed: None,
        redirect_uri: "/user/a/oauth_callback".into(),
        allowed_scopes: vec![],
    })
    .await
    .unwrap();
    let server_client = |owner, secret, session: &str| NewToken {
        client_id: "jupyterhub-user-a".into(),
        session_id: Some(session.to_string()),
        ..token(owner, secret)
    };
    let hub_s1 = s
        .insert_token(&NewToken { session_id: Some("s1".into()), ..token(TokenOwner::User(a.id), "hub-s1") })
        .await
        .unwrap();
    let srv_s1 = s.insert_token(&server_client(TokenOwner::User(a.id), "srv-s1", "s1")).await.unwrap();
    let srv_s2 = s.insert_token(&server_client(TokenOwner::User(a.id), "srv-s2", "s2")).await.unwrap();
    let srv_b = s.insert_token(&server_client(TokenOwner::User(b.id), "srv-b", "s3")).await.unwrap();
    let plain = s.insert_token(&token(TokenOwner::User(a.id), "no-session")).await.unwrap();

    // Only (session, user): b presenting a's session id revokes nothing.
    assert_eq!(s.delete_tokens_for_session("s1", b.id).await.unwrap(), 0);
    assert_eq!(s.delete_tokens_for_session("s1", a.id).await.unwrap(), 2);
    assert_eq!(s.delete_tokens_for_session("s1", a.id).await.unwrap(), 0);
    assert_eq!(s.token_by_id(hub_s1.id).await.unwrap(), None);
    assert_eq!(s.token_by_id(srv_s1.id).await.unwrap(), None);

    assert_eq!(s.delete_tokens_for_client_and_owner("jupyterhub-user-a", TokenOwner::User(a.id)).await.unwrap(), 1);
    assert_eq!(s.token_by_id(srv_s2.id).await.unwrap(), None);
    assert_eq!(s.delete_tokens_for_client_and_owner("jupyterhub-user-a", TokenOwner::Service(a.id)).await.unwrap(), 0);
    assert_eq!(s.token_by_id(srv_b.id).await.unwrap(), Some(srv_b));
    assert_eq!(s.token_by_id(plain.id).await.unwrap(), Some(plain));
}
