//! Runs one test body against each backend: SQLite in memory (or a temporary
//! file when the test needs a URL) and PostgreSQL in a schema of its own,
//! dropped afterwards even when the body panics.

use jhub_store::Store;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Schemas left behind by killed test processes are dropped after this long.
const STALE_SCHEMA_SECS: i64 = 3600;

static SCHEMA_SEQ: AtomicU32 = AtomicU32::new(0);

pub async fn run_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let store = Store::connect("sqlite::memory:").await.expect("in-memory SQLite opens");
    test(store.clone()).await;
    store.close().await;
}

pub async fn run_sqlite_url<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("jhub.sqlite").display());
    test(url).await;
}

pub async fn run_postgres<F, Fut>(test: F)
where
    F: FnOnce(Store) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    run_postgres_url(|url| async move {
        let store = Store::connect(&url).await.expect("PostgreSQL test schema migrates");
        test(store.clone()).await;
        store.close().await;
    })
    .await;
}

fn skip_postgres() -> bool {
    std::env::var("JHUB_TEST_SKIP_POSTGRES").is_ok_and(|v| v == "1")
}

fn base_url() -> String {
    std::env::var("JHUB_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string())
}

/// A direct connection (not a pool, which would retry a refused connection
/// for 30 seconds and then report only a timeout).
async fn admin_connection(url: &str) -> PgConnection {
    PgConnection::connect(url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is unreachable at {url} ({e}); start it, point JHUB_TEST_POSTGRES_URL at one, \
             or set JHUB_TEST_SKIP_POSTGRES=1 to skip the PostgreSQL half"
        )
    })
}

async fn drop_stale_schemas(admin: &mut PgConnection) {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT nspname::TEXT, floor(extract(epoch FROM now()))::BIGINT FROM pg_namespace \
         WHERE nspname LIKE 'jhub\\_test\\_%'",
    )
    .fetch_all(&mut *admin)
    .await
    .expect("list test schemas");
    for (schema, now) in rows {
        let created = schema.split('_').nth(2).and_then(|s| s.parse::<i64>().ok());
        if created.is_some_and(|created| now - created > STALE_SCHEMA_SECS) {
            // Another test process may be dropping it at the same moment.
            let _ = sqlx::query(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
                .execute(&mut *admin)
                .await;
        }
    }
}

/// Gives the body a URL whose connections use a fresh schema.
pub async fn run_postgres_url<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    if skip_postgres() {
        eprintln!("JHUB_TEST_SKIP_POSTGRES=1: PostgreSQL half skipped");
        return;
    }
    let base = base_url();
    let mut admin = admin_connection(&base).await;
    drop_stale_schemas(&mut admin).await;
    let now: i64 = sqlx::query_scalar("SELECT floor(extract(epoch FROM now()))::BIGINT")
        .fetch_one(&mut admin)
        .await
        .expect("read server clock");
    let schema = format!("jhub_test_{now}_{}_{}", std::process::id(), SCHEMA_SEQ.fetch_add(1, Ordering::Relaxed));
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .expect("create test schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");

    // The body runs as its own task so that a panic comes back here as a
    // JoinError and the schema is dropped before the panic is re-raised.
    let outcome = tokio::spawn(test(url)).await;
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
        .execute(&mut admin)
        .await
        .expect("drop test schema");
    let _ = admin.close().await;
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("test task failed: {error}"),
        }
    }
}

/// Declares each listed `async fn(Store)` as a test on both backends.
macro_rules! conformance {
    ($($path:path => $name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { crate::harness::run_sqlite($path).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { crate::harness::run_postgres($path).await })*
        }
    };
}

/// Declares each listed `async fn(String)` (a database URL) as a test on both backends.
macro_rules! conformance_url {
    ($($path:path => $name:ident),* $(,)?) => {
        mod sqlite_file {
            $(#[tokio::test] async fn $name() { crate::harness::run_sqlite_url($path).await })*
        }
        mod postgres_url {
            $(#[tokio::test] async fn $name() { crate::harness::run_postgres_url($path).await })*
        }
    };
}

pub(crate) use {conformance, conformance_url};
