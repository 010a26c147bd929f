//! The append-only server event log that usage accounting reads. Rows are
//! never updated; the only deletion is the retention purge by age. Entries
//! keep the user's name so they outlive the user (`user_id` becomes NULL).

use crate::rows::{EventRow, all, event_cols, json_text, micros};
use crate::{Store, StoreError, with_pool};
use jhub_core::model::{ServerEvent, ServerEventKind};
use jhub_core::time::Timestamp;
use serde_json::Value;

/// An event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewServerEvent {
    pub user_id: Option<i64>,
    pub user_name: String,
    pub server_name: String,
    pub kind: ServerEventKind,
    pub at: Timestamp,
    pub detail: Value,
}

/// Where a page of events ended: pass the last event of a page to get the next one.
/// Events are ordered by `(at, id)`, so the cursor needs both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCursor {
    pub at: Timestamp,
    pub id: i64,
}

impl From<&ServerEvent> for EventCursor {
    fn from(event: &ServerEvent) -> Self {
        EventCursor { at: event.at, id: event.id }
    }
}

const INSERT: &str = concat!(
    "INSERT INTO server_events (user_id, user_name, server_name, kind, at, detail) VALUES ($1, $2, $3, $4, $5, $6) ",
    "RETURNING ",
    event_cols!()
);
// $1 is the lower bound, already raised to the cursor's `at`; rows at exactly
// the cursor's `at` are kept only past its id ($3).
const BETWEEN: &str = concat!(
    "SELECT ",
    event_cols!(),
    " FROM server_events WHERE at >= $1 AND at < $2 AND (at > $4 OR id > $3) ORDER BY at, id LIMIT $5"
);
const FOR_USER: &str = concat!(
    "SELECT ",
    event_cols!(),
    " FROM server_events WHERE user_name = $6 AND at >= $1 AND at < $2 AND (at > $4 OR id > $3) ",
    "ORDER BY at, id LIMIT $5"
);
const PURGE_BEFORE: &str = "DELETE FROM server_events WHERE at < $1";

/// Bind values for a page: (lower bound, cursor id, cursor at).
fn page_bounds(from: Timestamp, after: Option<EventCursor>) -> (i64, i64, i64) {
    match after {
        None => (micros(from), i64::MIN, i64::MIN),
        Some(cursor) => (micros(from).max(micros(cursor.at)), cursor.id, micros(cursor.at)),
    }
}

impl Store {
    pub async fn append_event(&self, event: &NewServerEvent) -> Result<ServerEvent, StoreError> {
        self.fault("append event")?;
        let detail = json_text("event detail", &event.detail)?;
        let row: EventRow = with_pool!(self, |pool| sqlx::query_as(INSERT)
            .bind(event.user_id)
            .bind(&event.user_name)
            .bind(&event.server_name)
            .bind(event.kind.as_str())
            .bind(micros(event.at))
            .bind(&detail)
            .fetch_one(pool)
            .await)
        .map_err(StoreError::query("append server event"))?;
        row.into_model()
    }

    /// Events with `from <= at < to`, ordered by `(at, id)`, at most `limit`,
    /// starting after `after` (keyset pagination).
    pub async fn events_between(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
        after: Option<EventCursor>,
    ) -> Result<Vec<ServerEvent>, StoreError> {
        let (lower, after_id, after_at) = page_bounds(from, after);
        let rows: Vec<EventRow> = with_pool!(self, |pool| sqlx::query_as(BETWEEN)
            .bind(lower)
            .bind(micros(to))
            .bind(after_id)
            .bind(after_at)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)
        .map_err(StoreError::query("list server events"))?;
        all(rows, EventRow::into_model)
    }

    /// Like [`Store::events_between`], for one user name (deleted users included).
    pub async fn events_for_user(
        &self,
        user_name: &str,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
        after: Option<EventCursor>,
    ) -> Result<Vec<ServerEvent>, StoreError> {
        let (lower, after_id, after_at) = page_bounds(from, after);
        let rows: Vec<EventRow> = with_pool!(self, |pool| sqlx::query_as(FOR_USER)
            .bind(lower)
            .bind(micros(to))
            .bind(after_id)
            .bind(after_at)
            .bind(i64::from(limit))
            .bind(user_name)
            .fetch_all(pool)
            .await)
        .map_err(StoreError::query("list server events of user"))?;
        all(rows, EventRow::into_model)
    }

    /// Retention: deletes events before `before`. Returns how many.
    pub async fn purge_events_before(&self, before: Timestamp) -> Result<u64, StoreError> {
        with_pool!(self, |pool| sqlx::query(PURGE_BEFORE)
            .bind(micros(before))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::query("purge server events"))
    }
}
