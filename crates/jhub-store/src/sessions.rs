//! Browser login sessions (`jupyterhub-session-id`); tokens issued to a
//! session carry its id so logout can revoke them.

use crate::rows::{SessionRow, micros, session_cols};
use crate::{Store, StoreError, with_pool};
use jhub_core::model::BrowserSession;
use jhub_core::time::Timestamp;

const INSERT: &str = concat!(
    "INSERT INTO sessions (id, user_id, created, last_seen) VALUES ($1, $2, $3, $3) RETURNING ",
    session_cols!()
);
const GET: &str = concat!("SELECT ", session_cols!(), " FROM sessions WHERE id = $1");
const TOUCH: &str = "UPDATE sessions SET last_seen = CASE WHEN last_seen < $2 THEN $2 ELSE last_seen END WHERE id = $1";
const DELETE: &str = "DELETE FROM sessions WHERE id = $1 AND user_id = $2";
const PURGE_IDLE: &str = "DELETE FROM sessions WHERE last_seen < $1";
const DELETE_FOR_USER: &str = "DELETE FROM sessions WHERE user_id = $1 RETURNING id";

impl Store {
    /// [`StoreError::Conflict`] if the id is taken, [`StoreError::NotFound`] if the user does not exist.
    pub async fn create_session(&self, id: &str, user_id: i64, now: Timestamp) -> Result<BrowserSession, StoreError> {
        let on_err = StoreError::write("create session", "session".to_string(), format!("user {user_id}"));
        let row: SessionRow = with_pool!(self, |pool| sqlx::query_as(INSERT)
            .bind(id)
            .bind(user_id)
            .bind(micros(now))
            .fetch_one(pool)
            .await)
        .map_err(on_err)?;
        Ok(row.into_model())
    }

    pub async fn session(&self, id: &str) -> Result<Option<BrowserSession>, StoreError> {
        let row: Option<SessionRow> = with_pool!(self, |pool| sqlx::query_as(GET).bind(id).fetch_optional(pool).await)
            .map_err(StoreError::query("look up session"))?;
        Ok(row.map(SessionRow::into_model))
    }

    /// Moves `last_seen` forward (never back). Returns whether the session exists.
    pub async fn touch_session(&self, id: &str, now: Timestamp) -> Result<bool, StoreError> {
        let done = with_pool!(self, |pool| sqlx::query(TOUCH)
            .bind(id)
            .bind(micros(now))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::query("touch session"))?;
        Ok(done > 0)
    }

    /// Returns whether the session existed. Its tokens are revoked separately
    /// ([`Store::delete_tokens_for_session`]).
    pub async fn delete_session(&self, id: &str, user_id: i64) -> Result<bool, StoreError> {
        let done = with_pool!(self, |pool| sqlx::query(DELETE)
            .bind(id)
            .bind(user_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::query("delete session"))?;
        Ok(done > 0)
    }

    /// Ends every session of a user (access revoked). Returns their ids; their
    /// tokens are revoked separately.
    pub async fn delete_sessions_for_user(&self, user_id: i64) -> Result<Vec<String>, StoreError> {
        with_pool!(self, |pool| sqlx::query_scalar::<_, String>(DELETE_FOR_USER).bind(user_id).fetch_all(pool).await)
            .map_err(StoreError::query("delete sessions of user"))
    }

    /// Deletes sessions not seen since `before`. Returns how many.
    pub async fn purge_idle_sessions(&self, before: Timestamp) -> Result<u64, StoreError> {
        with_pool!(self, |pool| sqlx::query(PURGE_IDLE)
            .bind(micros(before))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::query("purge idle sessions"))
    }
}
