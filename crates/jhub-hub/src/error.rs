//! Errors of hub operations, by kind; the web layer maps kinds to HTTP
//! statuses (the hub itself knows no status codes).

use jhub_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The named thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// It exists already, or the change collides with existing state.
    #[error("{0}")]
    Conflict(String),
    /// The request itself is wrong (bad name, bad option, wrong state).
    #[error("{0}")]
    Invalid(String),
    /// The caller may not do this.
    #[error("{0}")]
    Denied(String),
    /// Throttled; retry later (`retry_after` seconds when known).
    #[error("{message}")]
    Throttled { message: String, retry_after: Option<u64> },
    /// Persisting the change failed; nothing was changed in memory.
    #[error("database error: {0}")]
    Store(#[from] StoreError),
    /// Something the hub depends on failed (spawner, proxy).
    #[error("{0}")]
    Backend(String),
}

pub type HubResult<T> = Result<T, HubError>;
