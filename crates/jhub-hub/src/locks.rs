//! Write serialisation: per user, not hub-wide.
//!
//! Every change is "persist, then apply in memory"; two changes to the same
//! thing must not interleave between those two steps, or memory and database
//! disagree. Changes to one user (her row, her servers, her credentials, her
//! auth state) take that user's lock; changes that cut across users (groups,
//! roles, services, renames, deletions, bulk creation) take the structure
//! lock exclusively. A user lock holds the structure lock shared, so the two
//! kinds exclude each other while users do not wait for one another.
//!
//! Rules (see ARCHITECTURE.md): no lock here is held across a spawner or
//! proxy call — only across the store write it protects; no code path takes
//! a second lock while holding one (these locks are not re-entrant).
//!
//! Memory stays bounded: a user's lock lives in the map only while someone
//! holds or waits for it; the last guard to go removes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedMutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

type Slot = Arc<tokio::sync::Mutex<()>>;

#[derive(Default)]
pub(crate) struct WriteLocks {
    structure: RwLock<()>,
    users: Mutex<HashMap<String, Slot>>,
}

/// Held while one user's change is persisted and applied.
pub(crate) struct UserGuard<'a> {
    // Field order is drop order: the user's mutex goes before the map entry
    // is considered for removal, then the shared structure lock.
    user: Option<OwnedMutexGuard<()>>,
    key: String,
    locks: &'a WriteLocks,
    _structure: RwLockReadGuard<'a, ()>,
}

impl Drop for UserGuard<'_> {
    fn drop(&mut self) {
        drop(self.user.take());
        self.locks.forget_if_idle(&self.key);
    }
}

/// Held while a change that spans users is persisted and applied.
pub(crate) type StructureGuard<'a> = RwLockWriteGuard<'a, ()>;

impl WriteLocks {
    /// Serialises with other changes to user `name` (and with structure changes).
    pub(crate) async fn user(&self, name: &str) -> UserGuard<'_> {
        let structure = self.structure.read().await;
        let slot = {
            let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
            users.entry(name.to_string()).or_default().clone()
        };
        let guard = slot.lock_owned().await;
        UserGuard { user: Some(guard), key: name.to_string(), locks: self, _structure: structure }
    }

    /// Excludes every other writer.
    pub(crate) async fn structure(&self) -> StructureGuard<'_> {
        self.structure.write().await
    }

    /// Drops the user's entry when nobody holds or waits for it. Clones are
    /// only made under the map lock, so a count of one here is final.
    fn forget_if_idle(&self, name: &str) {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if users.get(name).is_some_and(|slot| Arc::strong_count(slot) == 1) {
            users.remove(name);
        }
    }

    /// Users with a lock entry right now (held or awaited).
    #[cfg(test)]
    pub(crate) fn live_entries(&self) -> usize {
        self.users.lock().map(|u| u.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn users_do_not_wait_for_each_other() {
        let locks = WriteLocks::default();
        let _alice = locks.user("alice").await;
        let bob = tokio::time::timeout(Duration::from_millis(100), locks.user("bob")).await;
        assert!(bob.is_ok(), "bob waited for alice's lock");
    }

    #[tokio::test]
    async fn one_user_is_serialised() {
        let locks = WriteLocks::default();
        let first = locks.user("alice").await;
        let second = tokio::time::timeout(Duration::from_millis(50), locks.user("alice")).await;
        assert!(second.is_err(), "a second change to alice ran concurrently");
        drop(first);
        let third = tokio::time::timeout(Duration::from_millis(100), locks.user("alice")).await;
        assert!(third.is_ok());
    }

    #[tokio::test]
    async fn structure_excludes_users_and_users_exclude_structure() {
        let locks = WriteLocks::default();
        let alice = locks.user("alice").await;
        assert!(tokio::time::timeout(Duration::from_millis(50), locks.structure()).await.is_err());
        drop(alice);
        let structure = locks.structure().await;
        assert!(tokio::time::timeout(Duration::from_millis(50), locks.user("bob")).await.is_err());
        drop(structure);
    }

    #[tokio::test]
    async fn entries_go_when_unused() {
        let locks = Arc::new(WriteLocks::default());
        for i in 0..1000 {
            let _guard = locks.user(&format!("user{i}")).await;
        }
        assert_eq!(locks.live_entries(), 0);
        // A waiter keeps the entry alive until it is done too.
        let first = locks.user("alice").await;
        let waiter = {
            let locks = locks.clone();
            tokio::spawn(async move {
                let _g = locks.user("alice").await;
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(first);
        waiter.await.unwrap();
        assert_eq!(locks.live_entries(), 0);
    }
}
