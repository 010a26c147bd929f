//! The store's error type: one variant per step that can fail, plus
//! [`StoreError::Conflict`] and [`StoreError::NotFound`], which callers map to
//! 409 and 404.

use sqlx::error::ErrorKind;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no backend we support. The URL itself is not repeated: it may hold a password.
    #[error("unsupported database URL: expected sqlite://<path>, sqlite::memory: or postgres://...")]
    UnsupportedUrl,
    /// The URL names a backend but its options could not be parsed.
    #[error("invalid {backend} database URL: {source}")]
    ParseUrl { backend: &'static str, source: sqlx::Error },
    /// Opening the connection pool failed.
    #[error("could not connect to the {backend} database: {source}")]
    Connect { backend: &'static str, source: sqlx::Error },
    /// Applying or checking the embedded migrations failed (including a database
    /// migrated by a newer jhub than this one).
    #[error("could not migrate the {backend} database: {source}")]
    Migrate { backend: &'static str, source: sqlx::migrate::MigrateError },
    /// A row with the same unique key already exists.
    #[error("{what} already exists")]
    Conflict { what: String },
    /// The row to change, or a row it refers to, does not exist.
    #[error("{what} not found")]
    NotFound { what: String },
    /// The database rejected or failed a statement; `op` names the store operation.
    #[error("database error during {op}: {source}")]
    Query { op: &'static str, source: sqlx::Error },
    /// A stored row could not be turned into a model value (corrupt or from a newer jhub).
    #[error("unreadable {table} row {id}: {reason}")]
    Decode { table: &'static str, id: String, reason: String },
    /// A value could not be serialized for storage.
    #[error("could not encode {what} for storage: {source}")]
    Encode { what: &'static str, source: serde_json::Error },
    /// The database belongs to JupyterHub (it has alembic's version table and
    /// no jhub migrations); jhub leaves it untouched.
    #[error(
        "the {backend} database is a JupyterHub database, not a jhub one; jhub does not modify it. Point jhub at \
         its own database (the default sqlite-pvc file is jhub.sqlite next to JupyterHub's jupyterhub.sqlite), \
         or carry its data over with `jhub import-jupyterhub --from <JupyterHub's db_url>`"
    )]
    NotJhubDatabase { backend: &'static str },
    /// A test made this write fail on purpose ([`crate::Store::fail_writes`]).
    #[error("database error during {op}: injected failure")]
    Injected { op: &'static str },
    /// The request is refused before touching the database.
    #[error("refused: {0}")]
    Refused(String),
}

impl StoreError {
    /// Whether this is a uniqueness conflict (HTTP 409).
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }

    /// Whether the row (or one it refers to) does not exist (HTTP 404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    /// Plain database failure during `op`.
    pub(crate) fn query(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Query { op, source }
    }

    /// Database failure during a write, where a unique violation means
    /// `conflict` exists and a foreign-key violation means `missing` does not.
    pub(crate) fn write(op: &'static str, conflict: String, missing: String) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| match &source {
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => StoreError::Conflict { what: conflict },
                ErrorKind::ForeignKeyViolation => StoreError::NotFound { what: missing },
                _ => StoreError::Query { op, source },
            },
            _ => StoreError::Query { op, source },
        }
    }

    pub(crate) fn not_found(what: String) -> StoreError {
        StoreError::NotFound { what }
    }
}
