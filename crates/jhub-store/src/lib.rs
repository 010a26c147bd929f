//! Persistence for the hub: SQLite (default; a WAL file or in memory) and
//! PostgreSQL through sqlx, the versioned migrations in `/migrations`, and the
//! append-only server event log.
//!
//! The hub keeps its whole model in memory and writes every change through a
//! [`Store`]: one [`Store::load_snapshot`] at startup, targeted writes after
//! that, and the lookups that are not cached (tokens, OAuth codes, sessions).
//! Activity is written in batches ([`Store::apply_activity`]), never per request.
//!
//! Design: each backend keeps its native pool behind one private enum; SQL
//! text is shared where the dialects agree (`$n` placeholders, `RETURNING`,
//! `ON CONFLICT`) and split per backend only where they do not (bulk writes:
//! `json_each` on SQLite, `UNNEST` arrays on PostgreSQL). Timestamps are
//! BIGINT microseconds since the epoch; JSON values are stored as text.
//!
//! Must not touch: in-memory caches or business rules (who may do what, what a
//! token's scopes mean, when to cull) — callers decide, the store records.

mod error;
mod rows;

mod activity;
mod events;
mod groups;
mod import;
mod jupyterhub;
mod oauth;
mod roles;
mod servers;
mod services;
mod sessions;
mod side_schema;
mod snapshot;
mod tokens;
mod users;

pub use activity::ActivityBatch;
pub use error::StoreError;
pub use events::{EventCursor, NewServerEvent};
pub use import::{ImportSummary, Skipped};
pub use jupyterhub::{
    JhClient, JhGroup, JhHolder, JhRole, JhService, JhSpawner, JhToken, JhUser, JupyterhubDump, SUPPORTED_REVISIONS,
    SourceError, check_revision, jupyterhub_sqlite_path, read_jupyterhub,
};
pub use oauth::NewOAuthCode;
pub use servers::{SpawnWrite, StopWrite};
pub use services::NewService;
pub use side_schema::{
    SchemaContents, SideSchema, drop_side_schema, ensure_side_schema, existing_side_schema, postgres_schema_contents,
    side_schema_name, with_search_path,
};
pub use snapshot::Snapshot;
pub use tokens::NewToken;
pub use users::NewUser;

use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");

/// How long a SQLite connection waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// WAL allows concurrent readers next to the single writer.
const SQLITE_FILE_CONNECTIONS: u32 = 4;
const POSTGRES_CONNECTIONS: u32 = 10;
/// How long connecting waits for a PostgreSQL server that refuses connections
/// (still starting, e.g. a sidecar) before giving up.
const POSTGRES_STARTUP_WAIT: Duration = Duration::from_secs(30);

/// The native pool of the configured backend.
#[derive(Clone)]
pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever native pool the store holds.
/// The body is compiled once per backend, so the same SQL text and row types
/// serve both.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite($pool) => $body,
            $crate::Backend::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` inside a write transaction bound to `$tx`, committing when the
/// body finishes and rolling back when it returns early with `?`. SQLite
/// transactions start with `BEGIN IMMEDIATE` so that they take the write lock
/// up front and wait out other writers with the busy timeout instead of
/// failing when a read lock cannot be upgraded.
macro_rules! with_tx {
    ($store:expr, $op:expr, |$tx:ident| $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite(pool) => {
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err($crate::StoreError::query($op))?;
                let out = $body;
                $tx.commit().await.map_err($crate::StoreError::query($op))?;
                out
            }
            $crate::Backend::Postgres(pool) => {
                let mut $tx = pool.begin().await.map_err($crate::StoreError::query($op))?;
                let out = $body;
                $tx.commit().await.map_err($crate::StoreError::query($op))?;
                out
            }
        }
    };
}
pub(crate) use {with_pool, with_tx};

/// Whether a database's tables say it belongs to JupyterHub (alembic) and
/// not to jhub.
fn is_foreign<'a>(tables: impl Iterator<Item = &'a str>) -> bool {
    let tables: Vec<&str> = tables.collect();
    tables.contains(&"alembic_version") && !tables.contains(&"_sqlx_migrations")
}

/// Refuses an existing SQLite file that holds a JupyterHub database, looking
/// at it read-only so that nothing (not even the journal mode) changes.
async fn refuse_foreign_sqlite(url: &str) -> Result<(), StoreError> {
    if !url.starts_with("sqlite:") || is_sqlite_memory(url) {
        return Ok(());
    }
    let backend = "sqlite";
    let options = SqliteConnectOptions::from_str(url).map_err(|source| StoreError::ParseUrl { backend, source })?;
    if !options.get_filename().exists() {
        return Ok(());
    }
    let mut conn = SqliteConnection::connect_with(&options.read_only(true).create_if_missing(false))
        .await
        .map_err(|source| StoreError::Connect { backend, source })?;
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('alembic_version', '_sqlx_migrations')",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(StoreError::query("inspect database"))?;
    let _ = conn.close().await;
    if is_foreign(names.iter().map(|(n,)| n.as_str())) {
        return Err(StoreError::NotJhubDatabase { backend });
    }
    Ok(())
}

/// The hub's database. Cheap to clone (the pools are shared).
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    faults: std::sync::Arc<Faults>,
}

/// Decides whether a write operation (named as in [`StoreError::Injected`])
/// fails on purpose; see [`Store::set_fault_hook`].
pub type FaultHook = std::sync::Arc<dyn Fn(&'static str) -> bool + Send + Sync>;

/// Write failures injected by tests (shared by every clone of a store).
#[derive(Default)]
struct Faults {
    armed: std::sync::atomic::AtomicBool,
    hook: std::sync::RwLock<Option<FaultHook>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend_name()).finish()
    }
}

impl Store {
    /// Opens the database and applies any pending migrations.
    ///
    /// Accepts `sqlite://path/to/file.sqlite` (created if missing; WAL,
    /// foreign keys on, busy timeout), `sqlite::memory:` (one connection kept
    /// open for the pool's life, so the data lives as long as the store) and
    /// `postgres://` / `postgresql://` URLs (libpq-style parameters such as
    /// `sslmode` and `options=-c search_path=...` are honoured).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        refuse_foreign_sqlite(url).await?;
        let store = Store::open(url).await?;
        store.refuse_foreign_postgres().await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations and closes the connection (`jhub migrate`).
    /// Returns the migration versions recorded afterwards.
    pub async fn migrate_only(url: &str) -> Result<Vec<i64>, StoreError> {
        refuse_foreign_sqlite(url).await?;
        let store = Store::open(url).await?;
        store.refuse_foreign_postgres().await?;
        let result = match store.migrate().await {
            Ok(()) => store.applied_migrations().await,
            Err(e) => Err(e),
        };
        store.close().await;
        result
    }

    async fn open(url: &str) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            let backend = "sqlite";
            let options =
                SqliteConnectOptions::from_str(url).map_err(|source| StoreError::ParseUrl { backend, source })?;
            let options = options.foreign_keys(true).busy_timeout(SQLITE_BUSY_TIMEOUT);
            let pool = if is_sqlite_memory(url) {
                // Every connection to an in-memory database is a separate
                // database unless it shares the cache, and the shared one is
                // freed when its last connection closes: keep exactly one,
                // forever.
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(options)
                    .await
            } else {
                create_private_file(options.get_filename())
                    .map_err(|source| StoreError::Connect { backend, source: sqlx::Error::Io(source) })?;
                let options = options
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal);
                SqlitePoolOptions::new().max_connections(SQLITE_FILE_CONNECTIONS).connect_with(options).await
            }
            .map_err(|source| StoreError::Connect { backend, source })?;
            Ok(Store { backend: Backend::Sqlite(pool), faults: Default::default() })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let backend = "postgres";
            let options = PgConnectOptions::from_str(url).map_err(|source| StoreError::ParseUrl { backend, source })?;
            let pool = match PgPoolOptions::new()
                .max_connections(POSTGRES_CONNECTIONS)
                .acquire_timeout(POSTGRES_STARTUP_WAIT)
                .connect_with(options.clone())
                .await
            {
                Ok(pool) => pool,
                // The pool retries refused connections (the server may be
                // starting) and then reports only a timeout; one direct
                // attempt recovers the reason for the operator.
                Err(sqlx::Error::PoolTimedOut) => {
                    let source = match PgConnection::connect_with(&options).await {
                        Err(cause) => cause,
                        Ok(conn) => {
                            let _ = conn.close().await;
                            sqlx::Error::PoolTimedOut
                        }
                    };
                    return Err(StoreError::Connect { backend, source });
                }
                Err(source) => return Err(StoreError::Connect { backend, source }),
            };
            Ok(Store { backend: Backend::Postgres(pool), faults: Default::default() })
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    /// Refuses a PostgreSQL schema that holds a JupyterHub database (alembic
    /// tables, no jhub migrations), before anything is written to it.
    async fn refuse_foreign_postgres(&self) -> Result<(), StoreError> {
        const TABLES: &str = "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name IN ('alembic_version', '_sqlx_migrations')";
        if let Backend::Postgres(pool) = &self.backend {
            let names: Vec<(String,)> =
                sqlx::query_as(TABLES).fetch_all(pool).await.map_err(StoreError::query("inspect database"))?;
            if is_foreign(names.iter().map(|(n,)| n.as_str())) {
                return Err(StoreError::NotJhubDatabase { backend: "postgres" });
            }
        }
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let backend = self.backend_name();
        let before = self.applied_migrations().await.unwrap_or_default();
        match &self.backend {
            Backend::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
            Backend::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
        }
        .map_err(|source| StoreError::Migrate { backend, source })?;
        let after = self.applied_migrations().await?;
        let new: Vec<i64> = after.iter().copied().filter(|v| !before.contains(v)).collect();
        if new.is_empty() {
            tracing::debug!(backend, versions = ?after, "database schema up to date");
        } else {
            tracing::info!(backend, applied = ?new, "applied database migrations");
        }
        Ok(())
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Versions of the migrations built into this binary for the store's backend, ascending.
    pub fn bundled_migrations(&self) -> Vec<i64> {
        let migrator = match self.backend {
            Backend::Sqlite(_) => &SQLITE_MIGRATIONS,
            Backend::Postgres(_) => &POSTGRES_MIGRATIONS,
        };
        migrator.iter().filter(|m| m.migration_type.is_up_migration()).map(|m| m.version).collect()
    }

    /// Versions recorded as successfully applied in the database, ascending
    /// (empty if the database was never migrated).
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        const EXISTS_SQLITE: &str =
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'";
        const EXISTS_POSTGRES: &str = "SELECT COUNT(*) FROM pg_catalog.pg_tables \
             WHERE tablename = '_sqlx_migrations' AND schemaname = ANY (current_schemas(false))";
        const VERSIONS: &str = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        let op = "reading applied migrations";
        let exists: i64 = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query_scalar(EXISTS_SQLITE).fetch_one(pool).await,
            Backend::Postgres(pool) => sqlx::query_scalar(EXISTS_POSTGRES).fetch_one(pool).await,
        }
        .map_err(StoreError::query(op))?;
        if exists == 0 {
            return Ok(Vec::new());
        }
        with_pool!(self, |pool| sqlx::query_scalar(VERSIONS).fetch_all(pool).await).map_err(StoreError::query(op))
    }

    /// Makes write operations fail with [`StoreError::Injected`] whenever
    /// `hook(op)` says so (`op`: `"write spawn"`, `"save server"`,
    /// `"write stop"`, `"append event"`); `None` lets every write through.
    /// For tests of what callers do when the database refuses a write.
    pub fn set_fault_hook(&self, hook: Option<FaultHook>) {
        let armed = hook.is_some();
        *self.faults.hook.write().unwrap_or_else(|p| p.into_inner()) = hook;
        self.faults.armed.store(armed, std::sync::atomic::Ordering::SeqCst);
    }

    /// Makes the named write operations fail until [`Store::clear_faults`].
    pub fn fail_writes(&self, ops: &'static [&'static str]) {
        self.set_fault_hook(Some(std::sync::Arc::new(move |op| ops.contains(&op))));
    }

    /// Lets every write through again.
    pub fn clear_faults(&self) {
        self.set_fault_hook(None);
    }

    /// Fails `op` when a test armed it; one atomic load otherwise.
    pub(crate) fn fault(&self, op: &'static str) -> Result<(), StoreError> {
        if !self.faults.armed.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        let hook = self.faults.hook.read().unwrap_or_else(|p| p.into_inner()).clone();
        match hook {
            Some(hook) if hook(op) => Err(StoreError::Injected { op }),
            _ => Ok(()),
        }
    }

    /// Closes every connection; later calls fail. An in-memory database is gone afterwards.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await)
    }
}

/// Creates a missing SQLite file readable by its owner only (0600): it holds
/// hashed tokens, encrypted auth state and users' names. SQLite gives its
/// `-wal` and `-shm` files the database file's mode. An existing file is
/// left as the operator made it.
fn create_private_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    match open.open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

fn is_sqlite_memory(url: &str) -> bool {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    path.is_empty() || path == ":memory:" || query.split('&').any(|pair| pair == "mode=memory")
}

#[cfg(test)]
mod tests {
    use super::{Store, is_sqlite_memory};

    #[test]
    fn store_can_be_shared_across_tasks() {
        fn shareable<T: Clone + Send + Sync + 'static>() {}
        shareable::<Store>();
    }

    #[test]
    fn recognises_in_memory_sqlite_urls() {
        assert!(is_sqlite_memory("sqlite::memory:"));
        assert!(is_sqlite_memory("sqlite://:memory:"));
        assert!(is_sqlite_memory("sqlite://shared?mode=memory&cache=shared"));
        assert!(!is_sqlite_memory("sqlite://jupyterhub.sqlite"));
        assert!(!is_sqlite_memory("sqlite:///srv/jupyterhub/jupyterhub.sqlite?mode=rwc"));
    }
}
