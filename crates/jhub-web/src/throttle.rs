//! Brute-force protection for password checks (issue 11 item 6): the login
//! form (`POST /hub/login`) and the anonymous token endpoint
//! (`POST /hub/api/users/{name}/tokens` with an `auth` body).
//!
//! - Backoff per user name and per client: after a few free failures each
//!   further failure doubles the wait before the next attempt is even
//!   checked (answered 429 with `Retry-After`, no password hashed). A
//!   success clears the user's record; failures are forgotten after a
//!   quiet period.
//! - Bounded hashing: at most one password check per CPU runs at a time,
//!   and when too many wait the request is answered 429 at once, so a flood
//!   cannot occupy every blocking thread and core of the hub.
//!
//! The client is the rightmost `X-Forwarded-For` address when present (the
//! one configurable-http-proxy saw), else the TCP peer. A client that can
//! reach the hub directly can forge that header; the per-user backoff and
//! the hashing bound hold regardless.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Failures allowed per user name before backoff starts.
pub const FREE_USER_FAILURES: u32 = 5;
/// Failures allowed per client before backoff starts (shared NATs, typos).
pub const FREE_CLIENT_FAILURES: u32 = 20;
/// Longest wait imposed, in seconds.
pub const MAX_BACKOFF_SECS: i64 = 300;
/// A record without failures for this long is forgotten, in seconds.
pub const FORGET_AFTER_SECS: i64 = 900;
/// Password checks allowed to wait for a hashing slot before 429.
pub const MAX_WAITING_CHECKS: usize = 64;
/// Records kept before expired ones are pruned.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy, Default)]
struct Failures {
    count: u32,
    last: i64,
    blocked_until: i64,
}

impl Failures {
    fn fail(&mut self, now: i64, free: u32) {
        if now - self.last >= FORGET_AFTER_SECS {
            *self = Failures::default();
        }
        self.count = self.count.saturating_add(1);
        self.last = now;
        if self.count >= free {
            let exponent = (self.count - free).min(16);
            let wait = (1i64 << exponent).min(MAX_BACKOFF_SECS);
            self.blocked_until = now + wait;
        }
    }
}

/// Why a password check was not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many recent failures: try again after this many seconds.
    Backoff { retry_after: u64 },
    /// Too many password checks in flight: try again shortly.
    Busy,
}

impl Refusal {
    pub fn retry_after(self) -> u64 {
        match self {
            Refusal::Backoff { retry_after } => retry_after,
            Refusal::Busy => 1,
        }
    }

    pub fn message(self) -> String {
        match self {
            Refusal::Backoff { retry_after } => {
                format!("Too many failed login attempts. Try again in {retry_after} seconds.")
            }
            Refusal::Busy => "Too many logins in progress. Try again in a moment.".to_string(),
        }
    }
}

/// Shared by all requests of one [`crate::App`].
pub struct LoginThrottle {
    users: Mutex<HashMap<String, Failures>>,
    clients: Mutex<HashMap<String, Failures>>,
    slots: Semaphore,
    waiting: AtomicUsize,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle").field("slots", &self.slots.available_permits()).finish_non_exhaustive()
    }
}

impl Default for LoginThrottle {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
        Self::new(cpus)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn remaining(map: &Mutex<HashMap<String, Failures>>, key: &str, now: i64) -> i64 {
    lock(map).get(key).map_or(0, |f| f.blocked_until - now)
}

fn record(map: &Mutex<HashMap<String, Failures>>, key: &str, now: i64, free: u32) {
    let mut map = lock(map);
    if map.len() > PRUNE_ABOVE {
        map.retain(|_, f| now - f.last < FORGET_AFTER_SECS);
    }
    map.entry(key.to_string()).or_default().fail(now, free);
}

/// The right to run one password check; dropping it frees the slot.
#[derive(Debug)]
pub struct CheckSlot<'a>(#[allow(dead_code)] SemaphorePermit<'a>);

impl LoginThrottle {
    /// `concurrent_checks`: password checks that may run at once.
    pub fn new(concurrent_checks: usize) -> Self {
        LoginThrottle {
            users: Mutex::default(),
            clients: Mutex::default(),
            slots: Semaphore::new(concurrent_checks.max(1)),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Before checking a password of `user` from `client` at `now` (unix
    /// seconds): refused while either is backing off or when too many
    /// checks wait; else waits for a hashing slot.
    pub async fn admit(&self, user: &str, client: &str, now: i64) -> Result<CheckSlot<'_>, Refusal> {
        let wait = remaining(&self.users, user, now).max(remaining(&self.clients, client, now));
        if wait > 0 {
            return Err(Refusal::Backoff { retry_after: u64::try_from(wait).unwrap_or(1) });
        }
        if let Ok(permit) = self.slots.try_acquire() {
            return Ok(CheckSlot(permit));
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING_CHECKS {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Busy);
        }
        let permit = self.slots.acquire().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        permit.map(CheckSlot).map_err(|_| Refusal::Busy)
    }

    /// A wrong password (or unknown user).
    pub fn failed(&self, user: &str, client: &str, now: i64) {
        record(&self.users, user, now, FREE_USER_FAILURES);
        record(&self.clients, client, now, FREE_CLIENT_FAILURES);
        tracing::info!(user = %loggable(user), client = %loggable(client), "password check failed");
    }

    /// A correct password: the user's record is cleared (the client's decays).
    pub fn succeeded(&self, user: &str) {
        lock(&self.users).remove(user);
    }
}

/// The user name a password attempt is counted against (authenticators
/// normalise case, so must the count).
pub fn user_key(username: &str) -> String {
    username.trim().to_lowercase()
}

/// The client address a request's password attempt is counted against.
pub fn client_key(parts: &axum::http::request::Parts) -> String {
    // A direct client can forge this header; see the module docs.
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .rfind(|v| !v.is_empty())
        .map(str::to_string);
    forwarded.or_else(|| crate::auth::peer_ip(parts)).unwrap_or_else(|| "unknown".to_string())
}

/// A caller-chosen name as it may appear in a log line: at most 64
/// characters, quoted and escaped, so a huge or newline-laden username (or a
/// forged client address) can neither flood nor forge log lines
/// (CVE-2026-54338).
pub(crate) fn loggable(text: &str) -> String {
    let short: String = text.chars().take(64).collect();
    format!("{short:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn backoff_starts_after_free_failures_and_doubles() {
        let t = LoginThrottle::new(2);
        for _ in 0..FREE_USER_FAILURES - 1 {
            assert!(t.admit("alice", "c1", 100).await.is_ok());
            t.failed("alice", "c1", 100);
        }
        assert!(t.admit("alice", "c1", 100).await.is_ok());
        t.failed("alice", "c1", 100);
        assert_eq!(t.admit("alice", "c2", 100).await.unwrap_err(), Refusal::Backoff { retry_after: 1 });
        assert!(t.admit("bob", "c1", 100).await.is_ok(), "other users are not affected");
        assert!(t.admit("alice", "c1", 101).await.is_ok());
        t.failed("alice", "c1", 101);
        assert_eq!(t.admit("alice", "c1", 101).await.unwrap_err(), Refusal::Backoff { retry_after: 2 });
        t.succeeded("alice");
        assert!(t.admit("alice", "c1", 101).await.is_ok());
    }

    #[tokio::test]
    async fn a_client_guessing_many_users_backs_off() {
        let t = LoginThrottle::new(2);
        for i in 0..FREE_CLIENT_FAILURES {
            assert!(t.admit(&format!("u{i}"), "c1", 100).await.is_ok());
            t.failed(&format!("u{i}"), "c1", 100);
        }
        assert!(matches!(t.admit("fresh", "c1", 100).await, Err(Refusal::Backoff { .. })));
        assert!(t.admit("fresh", "c2", 100).await.is_ok());
        assert!(t.admit("fresh", "c1", 100 + FORGET_AFTER_SECS).await.is_ok(), "forgotten");
    }

    #[test]
    fn backoff_is_capped() {
        let mut f = Failures::default();
        for _ in 0..100 {
            f.fail(1000, 5);
        }
        assert_eq!(f.blocked_until, 1000 + MAX_BACKOFF_SECS);
    }

    #[tokio::test]
    async fn hashing_slots_are_bounded() {
        let t = LoginThrottle::new(1);
        let held = t.admit("a", "c", 0).await.unwrap();
        let mut waiters = Vec::new();
        for _ in 0..MAX_WAITING_CHECKS {
            waiters.push(Box::pin(t.admit("a", "c", 0)));
        }
        for w in &mut waiters {
            assert!(futures::poll!(w.as_mut()).is_pending());
        }
        assert_eq!(t.admit("a", "c", 0).await.unwrap_err(), Refusal::Busy);
        drop(held);
        assert!(waiters.remove(0).await.is_ok());
    }
}
