//! Load at hub scale: the startup snapshot with 50,000 users and servers, and
//! writers racing each other (SQLite's single-writer lock must be waited
//! out, not reported).

use crate::at;
use jhub_core::model::TokenOwner;
use jhub_store::{ActivityBatch, Store};
use std::time::Instant;

const USERS: i64 = 50_000;

const SEED_USERS_SQLITE: &str = "WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < $1) \
     INSERT INTO users (name, admin, created, last_activity, cookie_id, user_info) \
     SELECT 'user' || n, n % 1000 = 0, 1795000000000000 + n, 1795000000000000 + 2 * n, 'cookie-' || n, \
     '{\"email\": \"user' || n || '@example.org\"}' FROM seq";
const SEED_USERS_POSTGRES: &str = "INSERT INTO users (name, admin, created, last_activity, cookie_id, user_info) \
     SELECT 'user' || n, n % 1000 = 0, 1795000000000000 + n, 1795000000000000 + 2 * n, 'cookie-' || n, \
     '{\"email\": \"user' || n || '@example.org\"}' FROM generate_series(1, $1::BIGINT) AS n";
const SEED_SERVERS: &str = "INSERT INTO servers (user_id, name, display_name, started, last_activity, state, \
     user_options, url) SELECT id, '', '', created, last_activity, \
     '{\"pod_name\": \"jupyter-' || name || '\", \"namespace\": \"jhub\", \"pvc_name\": \"claim-' || name || '\"}', \
     '{\"profile\": \"small\"}', 'http://10.0.0.1:8888' FROM users";

async fn seed(url: &str) {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(SEED_USERS_SQLITE).bind(USERS).execute(&pool).await.unwrap();
        sqlx::query(SEED_SERVERS).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(SEED_USERS_POSTGRES).bind(USERS).execute(&pool).await.unwrap();
        sqlx::query(SEED_SERVERS).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

pub async fn snapshot_at_scale(url: String) {
    let store = Store::connect(&url).await.unwrap();
    seed(&url).await;
    let started = Instant::now();
    let snap = store.load_snapshot().await.unwrap();
    let elapsed = started.elapsed();
    eprintln!("{}: load_snapshot of {USERS} users + {USERS} servers took {elapsed:?}", store.backend_name());
    assert_eq!(snap.users.len() as i64, USERS);
    assert_eq!(snap.servers.len() as i64, USERS);
    let last = snap.users.last().unwrap();
    assert_eq!(last.name, format!("user{USERS}"));
    assert_eq!(last.user_info.as_ref().unwrap()["email"], format!("user{USERS}@example.org"));
    assert_eq!(snap.users.iter().filter(|u| u.admin).count() as i64, USERS / 1000);
    let server = snap.servers.iter().find(|x| x.user_id == last.id).unwrap();
    assert_eq!(server.state["pod_name"], format!("jupyter-user{USERS}"));
    assert_eq!(server.last_activity, last.last_activity);
    // Generous: debug builds on a shared machine. Release numbers are in the crate's report.
    assert!(elapsed.as_secs_f64() < 10.0, "snapshot took {elapsed:?}");
    store.close().await;
}

pub async fn concurrent_writers(url: String) {
    const TASKS: usize = 8;
    const ROUNDS: usize = 20;
    let store = Store::connect(&url).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            for r in 0..ROUNDS {
                let name = format!("w{t}-{r}");
                let u = s.create_user(&name, false, &format!("c-{name}"), at(0)).await.unwrap();
                let server = s.create_server(u.id, "", "").await.unwrap();
                s.create_session(&format!("sid-{name}"), u.id, at(1)).await.unwrap();
                let g = s.create_group(&format!("g-{name}"), &serde_json::json!({}), &[u.id]).await.unwrap();
                s.add_group_members(g.id, &[u.id]).await.unwrap();
                s.insert_token(&crate::token(TokenOwner::User(u.id), &format!("tok-{name}"))).await.unwrap();
                s.apply_activity(&ActivityBatch {
                    users: vec![(u.id, at(r as i64))],
                    servers: vec![(server.id, at(r as i64))],
                    tokens: vec![],
                })
                .await
                .unwrap();
                if r % 5 == 0 {
                    s.load_snapshot().await.unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let snap = store.load_snapshot().await.unwrap();
    assert_eq!(snap.users.len(), TASKS * ROUNDS);
    assert_eq!(snap.servers.len(), TASKS * ROUNDS);
    assert_eq!(snap.user_groups.len(), TASKS * ROUNDS);
    assert!(snap.users.iter().all(|u| u.last_activity.is_some()));
    store.close().await;
}
