//! Batched activity updates.

use crate::{at, token, user};
use jhub_core::model::TokenOwner;
use jhub_store::{ActivityBatch, NewUser, Store};
use std::time::Instant;

pub async fn moves_only_forward(s: Store) {
    let a = user(&s, "a").await;
    let b = user(&s, "b").await;
    let server = s.create_server(a.id, "", "").await.unwrap();
    let tok = s.insert_token(&token(TokenOwner::User(a.id), "activity-token")).await.unwrap();

    s.apply_activity(&ActivityBatch::default()).await.unwrap();
    // NULL counts as older than anything; repeated ids keep their latest value;
    // ids that do not exist are ignored.
    s.apply_activity(&ActivityBatch {
        users: vec![(a.id, at(10)), (a.id, at(30)), (a.id, at(20)), (b.id + 1000, at(5))],
        servers: vec![(server.id, at(10))],
        tokens: vec![(tok.id, at(10)), (tok.id + 1000, at(10))],
    })
    .await
    .unwrap();
    let snap = s.load_snapshot().await.unwrap();
    let last = |id| snap.users.iter().find(|u| u.id == id).unwrap().last_activity;
    assert_eq!(last(a.id), Some(at(30)));
    assert_eq!(last(b.id), None);
    assert_eq!(snap.servers[0].last_activity, Some(at(10)));
    assert_eq!(s.token_by_id(tok.id).await.unwrap().unwrap().last_activity, Some(at(10)));

    // Older values are ignored, newer ones win, per row.
    s.apply_activity(&ActivityBatch {
        users: vec![(a.id, at(25)), (b.id, at(40))],
        servers: vec![(server.id, at(9))],
        tokens: vec![(tok.id, at(11))],
    })
    .await
    .unwrap();
    let snap = s.load_snapshot().await.unwrap();
    let last = |id| snap.users.iter().find(|u| u.id == id).unwrap().last_activity;
    assert_eq!(last(a.id), Some(at(30)));
    assert_eq!(last(b.id), Some(at(40)));
    assert_eq!(snap.servers[0].last_activity, Some(at(10)));
    assert_eq!(s.token_by_id(tok.id).await.unwrap().unwrap().last_activity, Some(at(11)));
}

/// One flush of 10,000 entries (5,000 users, 4,000 servers, 1,000 tokens).
pub async fn large_batch(s: Store) {
    let new: Vec<NewUser> =
        (0..5000).map(|i| NewUser { name: format!("user{i}"), admin: false, cookie_id: format!("c{i}") }).collect();
    let users = s.create_users(&new, at(0)).await.unwrap();
    let mut servers = Vec::new();
    for u in &users[..4000] {
        servers.push(s.create_server(u.id, "", "").await.unwrap());
    }
    let mut tokens = Vec::new();
    for (i, u) in users[..1000].iter().enumerate() {
        tokens.push(s.insert_token(&token(TokenOwner::User(u.id), &format!("tok-{i}"))).await.unwrap());
    }
    // Half the users already have a later activity that must survive.
    s.apply_activity(&ActivityBatch {
        users: users.iter().step_by(2).map(|u| (u.id, at(1000))).collect(),
        ..Default::default()
    })
    .await
    .unwrap();

    let batch = ActivityBatch {
        users: users.iter().enumerate().map(|(i, u)| (u.id, at(500 + i as i64))).collect(),
        servers: servers.iter().map(|x| (x.id, at(600))).collect(),
        tokens: tokens.iter().map(|t| (t.id, at(700))).collect(),
    };
    assert_eq!(batch.len(), 10_000);
    let started = Instant::now();
    s.apply_activity(&batch).await.unwrap();
    let elapsed = started.elapsed();
    eprintln!("{}: apply_activity with 10,000 entries took {elapsed:?}", s.backend_name());
    assert!(elapsed.as_secs_f64() < 5.0, "a 10,000-entry flush took {elapsed:?}");

    let snap = s.load_snapshot().await.unwrap();
    for (i, u) in snap.users.iter().enumerate() {
        let sent = at(500 + i as i64);
        let expected = if i % 2 == 0 { sent.max(at(1000)) } else { sent };
        assert_eq!(u.last_activity, Some(expected), "user {i}");
    }
    assert!(snap.servers.iter().all(|x| x.last_activity == Some(at(600))));
    assert_eq!(s.token_by_id(tokens[999].id).await.unwrap().unwrap().last_activity, Some(at(700)));
}
