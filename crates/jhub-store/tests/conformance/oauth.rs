//! OAuth clients (with the token cascade) and single-use codes.

use crate::{at, token, user};
use jhub_core::model::{ApiToken, OAuthClient, OAuthCode, TokenOwner};
use jhub_core::token::{hash_token, prefix, verify_token};
use jhub_store::{NewOAuthCode, NewToken, Store, StoreError};

fn server_client(user: &str) -> OAuthClient {
    OAuthClient {
        identifier: format!("jupyterhub-user-{user}"),
        description: format!("Server at /user/{user}/"),
        secret_hashed: Some(hash_token("client-secret", "0011223344556677", 1)),
        redirect_uri: format!("/user/{user}/oauth_callback"),
        allowed_scopes: vec![format!("access:servers!server={user}/")],
    }
}

fn code(client_id: &str, user_id: i64, secret: &str, expires_at: jhub_core::Timestamp) -> NewOAuthCode {
    NewOAuthCode {
        client_id: client_id.to_string(),
        code_hashed: hash_token(secret, "8899aabbccddeeff", 1),
        prefix: prefix(secret).to_string(),
        user_id,
        scopes: vec!["read:users!user=a".into()],
        redirect_uri: "/user/a/oauth_callback".into(),
        session_id: Some("sess-1".into()),
        expires_at,
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        code_challenge_method: Some("S256".into()),
    }
}

pub async fn clients_and_cascade(s: Store) {
    let builtin = s.client(ApiToken::HUB_CLIENT).await.unwrap().expect("migration creates the hub's client");
    assert_eq!(
        (builtin.description.as_str(), builtin.secret_hashed.as_deref(), builtin.allowed_scopes.len()),
        ("JupyterHub", None, 0)
    );
    assert_eq!(s.load_snapshot().await.unwrap().oauth_clients, vec![builtin.clone()]);
    assert!(matches!(s.delete_client(ApiToken::HUB_CLIENT).await, Err(StoreError::Refused(_))));

    let a = user(&s, "a").await;
    let client = server_client("a");
    s.upsert_client(&client).await.unwrap();
    assert_eq!(s.client(&client.identifier).await.unwrap(), Some(client.clone()));
    let replaced = OAuthClient { secret_hashed: None, redirect_uri: "/user/a/new_callback".into(), ..client.clone() };
    s.upsert_client(&replaced).await.unwrap();
    assert_eq!(s.client(&client.identifier).await.unwrap(), Some(replaced.clone()));
    assert_eq!(s.client("nope").await.unwrap(), None);

    let issued = s
        .insert_token(&NewToken {
            client_id: client.identifier.clone(),
            ..token(TokenOwner::User(a.id), "issued-by-server")
        })
        .await
        .unwrap();
    let hub = s.insert_token(&token(TokenOwner::User(a.id), "issued-by-hub")).await.unwrap();
    s.insert_code(&code(&client.identifier, a.id, "server-code", at(100))).await.unwrap();

    assert!(s.delete_client(&client.identifier).await.unwrap());
    assert!(!s.delete_client(&client.identifier).await.unwrap());
    assert_eq!(s.client(&client.identifier).await.unwrap(), None);
    assert_eq!(s.token_by_id(issued.id).await.unwrap(), None, "client deletion revokes its tokens");
    assert_eq!(s.token_by_id(hub.id).await.unwrap(), Some(hub));
    assert_eq!(s.take_code("serv", at(0), |_| true).await.unwrap(), None, "and its codes");
    assert_eq!(s.load_snapshot().await.unwrap().oauth_clients, vec![builtin]);
}

pub async fn codes_are_single_use(s: Store) {
    let a = user(&s, "a").await;
    let client = server_client("a");
    s.upsert_client(&client).await.unwrap();
    let secret = "Zq8codeAAAAAAAAAAAAAAAAAAAAAAA";
    let stored = s.insert_code(&code(&client.identifier, a.id, secret, at(60))).await.unwrap();
    assert_eq!(stored.prefix, "Zq8c");
    assert_eq!(stored.expires_at, at(60));
    assert_eq!(stored.code_challenge_method.as_deref(), Some("S256"));
    // Same prefix, different code.
    let decoy = s.insert_code(&code(&client.identifier, a.id, "Zq8cOTHERAAAAAAAAAAAAAAAAAAAAA", at(60))).await.unwrap();

    let verify = |c: &OAuthCode| verify_token(&c.code_hashed, secret);
    assert_eq!(s.take_code("Zq8c", at(0), |_| false).await.unwrap(), None);
    let taken = s.take_code("Zq8c", at(0), verify).await.unwrap();
    assert_eq!(taken, Some(stored));
    assert_eq!(s.take_code("Zq8c", at(0), verify).await.unwrap(), None, "a code works once");

    // Expired codes cannot be redeemed, and the purge removes them.
    assert_eq!(s.take_code("Zq8c", at(61), |_| true).await.unwrap(), None);
    assert_eq!(s.purge_expired_codes(at(60)).await.unwrap(), 0);
    assert_eq!(s.purge_expired_codes(at(61)).await.unwrap(), 1);
    assert_eq!(s.take_code("Zq8c", at(0), |c: &OAuthCode| c.id == decoy.id).await.unwrap(), None);

    // Two concurrent redemptions of one code: exactly one wins.
    let race = "RaCecodeAAAAAAAAAAAAAAAAAAAAAA";
    s.insert_code(&code(&client.identifier, a.id, race, at(60))).await.unwrap();
    let check = |c: &OAuthCode| verify_token(&c.code_hashed, race);
    let (one, two) = tokio::join!(s.take_code("RaCe", at(0), check), s.take_code("RaCe", at(0), check));
    let winners = [one.unwrap(), two.unwrap()].into_iter().flatten().count();
    assert_eq!(winners, 1);

    let mut missing_user = code(&client.identifier, a.id + 1000, "x-code", at(60));
    assert!(s.insert_code(&missing_user).await.unwrap_err().is_not_found());
    missing_user.user_id = a.id;
    missing_user.client_id = "no-such-client".into();
    assert!(s.insert_code(&missing_user).await.unwrap_err().is_not_found());
}
