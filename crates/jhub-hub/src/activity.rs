//! Coalesced activity: every authenticated request, every activity report
//! from a single-user server and every proxy activity pull lands here, and a
//! background task writes the newest value per row in one transaction every
//! few seconds. No request ever waits for an activity write.

use jhub_core::Timestamp;
use jhub_store::ActivityBatch;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct Pending {
    users: HashMap<i64, Timestamp>,
    servers: HashMap<i64, Timestamp>,
    tokens: HashMap<i64, Timestamp>,
}

/// Activity waiting to be written.
#[derive(Debug, Default)]
pub struct ActivityBuffer {
    pending: Mutex<Pending>,
}

fn bump(map: &mut HashMap<i64, Timestamp>, id: i64, at: Timestamp) {
    map.entry(id).and_modify(|old| *old = (*old).max(at)).or_insert(at);
}

impl ActivityBuffer {
    pub fn user(&self, id: i64, at: Timestamp) {
        if let Ok(mut p) = self.pending.lock() {
            bump(&mut p.users, id, at);
        }
    }

    pub fn server(&self, id: i64, at: Timestamp) {
        if let Ok(mut p) = self.pending.lock() {
            bump(&mut p.servers, id, at);
        }
    }

    pub fn token(&self, id: i64, at: Timestamp) {
        if let Ok(mut p) = self.pending.lock() {
            bump(&mut p.tokens, id, at);
        }
    }

    /// Takes everything recorded so far.
    pub fn take(&self) -> ActivityBatch {
        let Ok(mut p) = self.pending.lock() else { return ActivityBatch::default() };
        let taken = std::mem::take(&mut *p);
        ActivityBatch {
            users: taken.users.into_iter().collect(),
            servers: taken.servers.into_iter().collect(),
            tokens: taken.tokens.into_iter().collect(),
        }
    }

    /// Puts a batch back after a failed write so nothing is lost; newer
    /// values recorded meanwhile win.
    pub fn restore(&self, batch: ActivityBatch) {
        if let Ok(mut p) = self.pending.lock() {
            for (id, at) in batch.users {
                bump(&mut p.users, id, at);
            }
            for (id, at) in batch.servers {
                bump(&mut p.servers, id, at);
            }
            for (id, at) in batch.tokens {
                bump(&mut p.tokens, id, at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_value_per_row() {
        let buffer = ActivityBuffer::default();
        let t1 = Timestamp::from_second(100).unwrap();
        let t2 = Timestamp::from_second(200).unwrap();
        buffer.user(1, t2);
        buffer.user(1, t1);
        buffer.server(7, t1);
        buffer.token(3, t1);
        let batch = buffer.take();
        assert_eq!(batch.users, vec![(1, t2)]);
        assert_eq!(batch.len(), 3);
        assert!(buffer.take().is_empty());
        buffer.user(1, t1);
        buffer.restore(ActivityBatch { users: vec![(1, t2)], servers: vec![], tokens: vec![] });
        assert_eq!(buffer.take().users, vec![(1, t2)]);
    }
}
