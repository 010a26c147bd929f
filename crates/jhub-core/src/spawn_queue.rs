//! Admission of spawns past `concurrent_spawn_limit`: a fair FIFO instead of
//! JupyterHub's "429, try again in 30-60 s".
//!
//! At most `limit` spawns run at once. Past that a spawn waits in line —
//! one place per key (the hub keys by user, so one user cannot fill the
//! line with named servers) — up to `max_length` places; past that, or with
//! the queue disabled, it is refused as JupyterHub refuses it. When a running
//! spawn ends, the head of the line starts in its slot. Positions are
//! 1-based; the wait estimate is the mean of recent spawn durations times
//! the number of "rounds" of `limit` spawns ahead of the position.
//!
//! Plain data: no clock, no I/O; the hub wraps it in a mutex and wakes the
//! admitted spawn.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hash;
use std::time::Duration;

/// How many recent spawn durations the estimate averages.
const RECENT: usize = 32;

/// The queue's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// Spawns running at once; 0 means no limit (nothing ever waits).
    pub limit: usize,
    /// Places in line; a spawn past it is refused.
    pub max_length: usize,
    /// `false`: never queue, refuse at the limit (JupyterHub's behaviour).
    pub enabled: bool,
}

/// The answer to a spawn asking to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Start now; a running slot is taken (give it back with [`SpawnQueue::finish`]).
    Start,
    /// Wait: `ticket` identifies the place, `position` is 1-based.
    Queued { ticket: u64, position: usize },
    /// The key already has a place in line.
    AlreadyQueued { position: usize },
    /// At the limit and the line is full (or queueing is disabled).
    Refused,
}

/// The line and the running count.
#[derive(Debug)]
pub struct SpawnQueue<K> {
    config: QueueConfig,
    running: usize,
    next_ticket: u64,
    /// Waiting places in arrival order (tickets only grow).
    waiting: BTreeMap<u64, K>,
    ticket_of: HashMap<K, u64>,
    recent: VecDeque<Duration>,
}

impl<K: Eq + Hash + Clone> SpawnQueue<K> {
    pub fn new(config: QueueConfig) -> Self {
        Self {
            config,
            running: 0,
            next_ticket: 1,
            waiting: BTreeMap::new(),
            ticket_of: HashMap::new(),
            recent: VecDeque::with_capacity(RECENT),
        }
    }

    pub fn config(&self) -> QueueConfig {
        self.config
    }

    /// Asks to start a spawn for `key`.
    pub fn admit(&mut self, key: K) -> Admission {
        if self.config.limit == 0 || (self.running < self.config.limit && self.waiting.is_empty()) {
            self.running += 1;
            return Admission::Start;
        }
        if let Some(ticket) = self.ticket_of.get(&key) {
            let position = self.position(*ticket).unwrap_or(1);
            return Admission::AlreadyQueued { position };
        }
        if !self.config.enabled || self.waiting.len() >= self.config.max_length {
            return Admission::Refused;
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.waiting.insert(ticket, key.clone());
        self.ticket_of.insert(key, ticket);
        Admission::Queued { ticket, position: self.waiting.len() }
    }

    /// A running spawn ended (ready, failed or cancelled). Returns the place
    /// that starts in its slot, if anyone waits; the caller must wake it.
    pub fn finish(&mut self) -> Option<(u64, K)> {
        match self.waiting.pop_first() {
            Some((ticket, key)) => {
                self.ticket_of.remove(&key);
                Some((ticket, key))
            }
            None => {
                self.running = self.running.saturating_sub(1);
                None
            }
        }
    }

    /// Leaves the line (the spawn was stopped while waiting). `false` when
    /// the ticket is not waiting — it was admitted already and holds a slot.
    pub fn cancel(&mut self, ticket: u64) -> bool {
        match self.waiting.remove(&ticket) {
            Some(key) => {
                self.ticket_of.remove(&key);
                true
            }
            None => false,
        }
    }

    /// 1-based place in line, `None` once admitted or cancelled.
    pub fn position(&self, ticket: u64) -> Option<usize> {
        if !self.waiting.contains_key(&ticket) {
            return None;
        }
        Some(self.waiting.range(..ticket).count() + 1)
    }

    /// Records how long a successful spawn took, for the estimate.
    pub fn record_duration(&mut self, took: Duration) {
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(took);
    }

    /// Expected wait at `position`, `None` before any spawn finished.
    pub fn eta(&self, position: usize) -> Option<Duration> {
        if self.recent.is_empty() || self.config.limit == 0 {
            return None;
        }
        let total: Duration = self.recent.iter().sum();
        let mean = total / self.recent.len() as u32;
        let rounds = position.div_ceil(self.config.limit).max(1);
        Some(mean * rounds as u32)
    }

    /// Places in line.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Spawns holding a running slot.
    pub fn running(&self) -> usize {
        self.running
    }
}

/// The progress line shown while waiting (spawn-pending page, event stream).
pub fn waiting_message(position: usize, length: usize, eta: Option<Duration>) -> String {
    let estimate = match eta {
        Some(eta) if eta.as_secs() >= 90 => format!(", about {} minutes", eta.as_secs().div_ceil(60)),
        Some(eta) => format!(", about {} seconds", eta.as_secs().max(1)),
        None => String::new(),
    };
    format!("Waiting in the spawn queue: position {position} of {length}{estimate}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(limit: usize, max_length: usize) -> SpawnQueue<&'static str> {
        SpawnQueue::new(QueueConfig { limit, max_length, enabled: true })
    }

    #[test]
    fn starts_up_to_the_limit_then_queues_in_order() {
        let mut q = queue(2, 10);
        assert_eq!(q.admit("a"), Admission::Start);
        assert_eq!(q.admit("b"), Admission::Start);
        let Admission::Queued { ticket: c, position: 1 } = q.admit("c") else { panic!("c not queued first") };
        let Admission::Queued { ticket: d, position: 2 } = q.admit("d") else { panic!("d not queued second") };
        assert_eq!(q.running(), 2);
        assert_eq!(q.finish(), Some((c, "c")));
        assert_eq!(q.position(d), Some(1));
        assert_eq!(q.finish(), Some((d, "d")));
        assert_eq!(q.running(), 2, "a finished slot is handed on, not freed");
        assert_eq!(q.finish(), None);
        assert_eq!(q.finish(), None);
        assert_eq!(q.running(), 0);
        assert_eq!(q.admit("e"), Admission::Start);
    }

    #[test]
    fn one_place_per_key() {
        let mut q = queue(1, 10);
        assert_eq!(q.admit("a"), Admission::Start);
        assert!(matches!(q.admit("b"), Admission::Queued { position: 1, .. }));
        assert_eq!(q.admit("b"), Admission::AlreadyQueued { position: 1 });
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn newcomers_do_not_overtake_the_line() {
        let mut q = queue(1, 10);
        assert_eq!(q.admit("a"), Admission::Start);
        let Admission::Queued { ticket: b, .. } = q.admit("b") else { panic!() };
        // The slot frees and is handed to b before anyone else can take it.
        assert_eq!(q.finish(), Some((b, "b")));
        assert!(matches!(q.admit("c"), Admission::Queued { position: 1, .. }));
    }

    #[test]
    fn bounded_and_switchable() {
        let mut q = queue(1, 1);
        assert_eq!(q.admit("a"), Admission::Start);
        assert!(matches!(q.admit("b"), Admission::Queued { .. }));
        assert_eq!(q.admit("c"), Admission::Refused);
        let mut off = SpawnQueue::new(QueueConfig { limit: 1, max_length: 10, enabled: false });
        assert_eq!(off.admit("a"), Admission::Start);
        assert_eq!(off.admit("b"), Admission::Refused);
    }

    #[test]
    fn no_limit_never_queues() {
        let mut q = queue(0, 0);
        for _ in 0..100 {
            assert_eq!(q.admit("a"), Admission::Start);
        }
    }

    #[test]
    fn cancel_leaves_the_line_and_positions_move_up() {
        let mut q = queue(1, 10);
        assert_eq!(q.admit("a"), Admission::Start);
        let Admission::Queued { ticket: b, .. } = q.admit("b") else { panic!() };
        let Admission::Queued { ticket: c, .. } = q.admit("c") else { panic!() };
        assert_eq!(q.position(c), Some(2));
        assert!(q.cancel(b));
        assert!(!q.cancel(b));
        assert_eq!(q.position(c), Some(1));
        assert!(matches!(q.admit("b"), Admission::Queued { position: 2, .. }), "b may queue again after leaving");
        assert_eq!(q.finish(), Some((c, "c")));
        assert!(!q.cancel(c), "an admitted ticket is not waiting");
    }

    #[test]
    fn eta_from_recent_durations() {
        let mut q = queue(2, 10);
        assert_eq!(q.eta(1), None);
        q.record_duration(Duration::from_secs(10));
        q.record_duration(Duration::from_secs(20));
        assert_eq!(q.eta(1), Some(Duration::from_secs(15)));
        assert_eq!(q.eta(2), Some(Duration::from_secs(15)));
        assert_eq!(q.eta(3), Some(Duration::from_secs(30)));
        for _ in 0..RECENT {
            q.record_duration(Duration::from_secs(4));
        }
        assert_eq!(q.eta(1), Some(Duration::from_secs(4)), "only recent spawns count");
    }

    #[test]
    fn message() {
        assert_eq!(waiting_message(3, 7, None), "Waiting in the spawn queue: position 3 of 7");
        assert_eq!(
            waiting_message(1, 2, Some(Duration::from_secs(12))),
            "Waiting in the spawn queue: position 1 of 2, about 12 seconds"
        );
        assert_eq!(
            waiting_message(1, 2, Some(Duration::from_secs(200))),
            "Waiting in the spawn queue: position 1 of 2, about 4 minutes"
        );
    }
}
