//! Batched activity: the hub coalesces `last_activity` updates in memory and
//! flushes them every few seconds; each flush is one transaction with one
//! statement per table (per 512 entries on PostgreSQL), whatever the batch size.

use crate::rows::{json_text, micros};
use crate::{Backend, Store, StoreError};
use jhub_core::time::Timestamp;
use std::collections::BTreeMap;

/// `last_activity` values to record, by row id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivityBatch {
    pub users: Vec<(i64, Timestamp)>,
    pub servers: Vec<(i64, Timestamp)>,
    pub tokens: Vec<(i64, Timestamp)>,
}

impl ActivityBatch {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.servers.is_empty() && self.tokens.is_empty()
    }

    pub fn len(&self) -> usize {
        self.users.len() + self.servers.len() + self.tokens.len()
    }
}

// The new value wins only if it is later; NULL counts as older than anything.
// Ids that no longer exist match nothing and are dropped silently.
macro_rules! forward_sqlite {
    ($table:literal) => {
        concat!(
            "UPDATE ",
            $table,
            " SET last_activity = v.ts FROM (SELECT json_extract(value, '$[0]') AS id, ",
            "json_extract(value, '$[1]') AS ts FROM json_each($1)) AS v ",
            "WHERE ",
            $table,
            ".id = v.id AND (",
            $table,
            ".last_activity IS NULL OR ",
            $table,
            ".last_activity < v.ts)"
        )
    };
}
macro_rules! forward_postgres {
    ($table:literal) => {
        concat!(
            "UPDATE ",
            $table,
            " AS t SET last_activity = v.ts FROM UNNEST($1::BIGINT[], $2::BIGINT[]) AS v (id, ts) ",
            "WHERE t.id = v.id AND (t.last_activity IS NULL OR t.last_activity < v.ts)"
        )
    };
}
const SQLITE: [&str; 3] = [forward_sqlite!("users"), forward_sqlite!("servers"), forward_sqlite!("api_tokens")];
const POSTGRES: [&str; 3] = [forward_postgres!("users"), forward_postgres!("servers"), forward_postgres!("api_tokens")];

/// Entries per PostgreSQL statement (two BIGINT arrays, ~24 bytes per entry).
const POSTGRES_CHUNK: usize = 512;

/// Latest timestamp per id, in id order (a stable lock order for concurrent flushes).
fn coalesce(entries: &[(i64, Timestamp)]) -> Vec<(i64, i64)> {
    let mut latest: BTreeMap<i64, i64> = BTreeMap::new();
    for &(id, ts) in entries {
        let ts = micros(ts);
        latest.entry(id).and_modify(|t| *t = (*t).max(ts)).or_insert(ts);
    }
    latest.into_iter().collect()
}

impl Store {
    /// Records activity in one transaction, only ever moving timestamps forward.
    pub async fn apply_activity(&self, batch: &ActivityBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let op = "apply activity";
        let tables = [coalesce(&batch.users), coalesce(&batch.servers), coalesce(&batch.tokens)];
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(StoreError::query(op))?;
                for (sql, entries) in SQLITE.into_iter().zip(&tables) {
                    if entries.is_empty() {
                        continue;
                    }
                    let json = json_text("activity batch", entries)?;
                    sqlx::query(sql).bind(json).execute(&mut *tx).await.map_err(StoreError::query(op))?;
                }
                tx.commit().await.map_err(StoreError::query(op))?;
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(StoreError::query(op))?;
                for (sql, entries) in POSTGRES.into_iter().zip(&tables) {
                    if entries.is_empty() {
                        continue;
                    }
                    // sqlx 0.9.0 leaves Nagle's algorithm on (transact-rs/sqlx#4335,
                    // fixed upstream but unreleased): a message larger than the socket
                    // buffer is written in parts and its tail waits ~40 ms for a delayed
                    // ACK. Chunks of ~12 KiB avoid that; the transaction keeps them atomic.
                    for chunk in entries.chunks(POSTGRES_CHUNK) {
                        let (ids, stamps): (Vec<i64>, Vec<i64>) = chunk.iter().copied().unzip();
                        sqlx::query(sql)
                            .bind(ids)
                            .bind(stamps)
                            .execute(&mut *tx)
                            .await
                            .map_err(StoreError::query(op))?;
                    }
                }
                tx.commit().await.map_err(StoreError::query(op))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesce_keeps_the_latest_per_id() {
        let t = |s| Timestamp::from_second(s).unwrap();
        let merged = coalesce(&[(2, t(5)), (1, t(3)), (2, t(9)), (2, t(7))]);
        assert_eq!(merged, vec![(1, micros(t(3))), (2, micros(t(9)))]);
    }
}
