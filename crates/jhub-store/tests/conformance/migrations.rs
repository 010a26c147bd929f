//! Migrations: what a fresh database records, reconnecting, refusing a
//! database from a newer jhub, and the tidy check that both backends ship
//! the same versions.

use crate::harness::run_postgres_url;
use crate::{at, user};
use jhub_store::{Store, StoreError};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn migrations_dir(backend: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../migrations").join(backend)
}

/// Versions of the `NNNN_description.sql` files in a backend folder.
fn versions_on_disk(backend: &str) -> BTreeSet<i64> {
    let mut versions = BTreeSet::new();
    for entry in std::fs::read_dir(migrations_dir(backend)).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let (version, rest) =
            name.split_once('_').unwrap_or_else(|| panic!("{backend}/{name}: expected NNNN_name.sql"));
        assert!(rest.ends_with(".sql") && rest.len() > 4, "{backend}/{name}: expected NNNN_name.sql");
        assert!(version.len() == 4 && version.bytes().all(|b| b.is_ascii_digit()), "{backend}/{name}: 4-digit version");
        assert!(versions.insert(version.parse().unwrap()), "{backend}/{name}: duplicate version");
    }
    versions
}

#[test]
fn backends_ship_the_same_migration_versions() {
    let sqlite = versions_on_disk("sqlite");
    let postgres = versions_on_disk("postgres");
    assert!(sqlite.contains(&1), "0001_initial.sql exists");
    assert_eq!(sqlite, postgres, "migrations/sqlite and migrations/postgres must list the same versions");
}

pub async fn fresh_database(s: Store) {
    let on_disk: Vec<i64> = versions_on_disk(s.backend_name()).into_iter().collect();
    assert_eq!(s.bundled_migrations(), on_disk, "the binary embeds every migration file");
    assert_eq!(s.applied_migrations().await.unwrap(), on_disk, "connect applies them all");
    let snap = s.load_snapshot().await.unwrap();
    assert!(snap.users.is_empty() && snap.servers.is_empty() && snap.groups.is_empty() && snap.roles.is_empty());
    assert_eq!(snap.oauth_clients.len(), 1);
}

async fn pretend_newer_jhub_migrated(url: &str) {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', TRUE, X'00', 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', TRUE, '\\x00'::BYTEA, 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
}

pub async fn reconnect_is_noop_and_data_survives(url: String) {
    let first = Store::connect(&url).await.unwrap();
    let versions = first.applied_migrations().await.unwrap();
    assert_eq!(versions, first.bundled_migrations());
    let alice = user(&first, "alice").await;
    first.create_server(alice.id, "", "").await.unwrap();
    first.create_session("sid", alice.id, at(1)).await.unwrap();
    first.close().await;

    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&pool).await.unwrap();
        assert_eq!(mode, "wal", "file databases run in WAL mode");
        pool.close().await;
    }

    // `jhub migrate` on an up-to-date database changes nothing.
    assert_eq!(Store::migrate_only(&url).await.unwrap(), versions);

    let second = Store::connect(&url).await.unwrap();
    assert_eq!(second.applied_migrations().await.unwrap(), versions);
    let snap = second.load_snapshot().await.unwrap();
    assert_eq!(snap.users, vec![alice.clone()]);
    assert_eq!(snap.servers.len(), 1);
    assert_eq!(second.session("sid").await.unwrap().unwrap().user_id, alice.id);
    // Ids keep counting up after a reopen.
    let bob = user(&second, "bob").await;
    assert!(bob.id > alice.id);
    second.close().await;

    // A database migrated by a newer jhub is refused, not silently used.
    pretend_newer_jhub_migrated(&url).await;
    match Store::connect(&url).await {
        Err(StoreError::Migrate { .. }) => {}
        other => panic!("expected a migration error, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_urls_fail_clearly_without_echoing_secrets() {
    let err = Store::connect("mysql://admin:hunter2@db/jhub").await.unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedUrl), "{err:?}");
    assert!(!err.to_string().contains("hunter2"));

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/missing-dir/jhub.sqlite", dir.path().display());
    let err = Store::connect(&url).await.unwrap_err();
    assert!(matches!(err, StoreError::Connect { backend: "sqlite", .. }), "{err:?}");
}

/// A real JupyterHub database (alembic's version table, no jhub migrations):
/// refused, and left exactly as it was — no migration table, journal mode unchanged.
#[tokio::test]
async fn refuses_a_jupyterhub_sqlite_database_without_touching_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jupyterhub.sqlite");
    let url = format!("sqlite://{}", path.display());
    {
        use sqlx::Connection;
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
        sqlx::query("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)").execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    for attempt in [Store::connect(&url).await.map(|_| ()), Store::migrate_only(&url).await.map(|_| ())] {
        let err = attempt.unwrap_err();
        assert!(matches!(err, StoreError::NotJhubDatabase { backend: "sqlite" }), "{err:?}");
        assert!(err.to_string().contains("JupyterHub database"), "{err}");
    }
    assert_eq!(std::fs::read(&path).unwrap(), before, "the JupyterHub file is byte for byte unchanged");
    assert!(!dir.path().join("jupyterhub.sqlite-wal").exists(), "no switch to WAL");
}

#[tokio::test]
async fn refuses_a_jupyterhub_postgres_schema() {
    run_postgres_url(|url| async move {
        {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        }
        let err = Store::connect(&url).await.unwrap_err();
        assert!(matches!(err, StoreError::NotJhubDatabase { backend: "postgres" }), "{err:?}");
    })
    .await;
}
