//! Spawn progress, fanned out to any number of event-stream readers.
//!
//! Each server keeps the log of its current (or last) spawn: the hub's
//! "Server requested" event, the spawner's messages (Kubernetes events for
//! the Kubernetes spawner) and the final ready/failed event. Readers get the
//! whole log so far, then every addition, through a `watch` channel — a
//! reader that connects late misses nothing and a slow reader never blocks
//! the spawn.

use jhub_core::ports::ProgressEvent;
use std::sync::Arc;
use tokio::sync::watch;

/// How a spawn ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SpawnOutcome {
    Ready { url: String },
    Failed { message: String },
}

/// The log as readers see it.
#[derive(Debug, Clone, Default)]
pub struct ProgressSnapshot {
    pub events: Arc<Vec<ProgressEvent>>,
    pub outcome: Option<SpawnOutcome>,
}

/// One server's progress log.
#[derive(Debug)]
pub struct ProgressLog {
    tx: watch::Sender<ProgressSnapshot>,
}

impl Default for ProgressLog {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgressLog {
    pub fn new() -> Self {
        Self { tx: watch::Sender::new(ProgressSnapshot::default()) }
    }

    /// Starts a new spawn's log with the hub's first event.
    pub fn reset(&self) {
        self.tx.send_replace(ProgressSnapshot {
            events: Arc::new(vec![ProgressEvent {
                progress: Some(0),
                message: "Server requested".to_string(),
                ..Default::default()
            }]),
            outcome: None,
        });
    }

    /// Appends a spawner event; `ready` flags from spawners are not trusted
    /// (JupyterHub strips them), only [`ProgressLog::finish`] ends a spawn.
    pub fn push(&self, event: ProgressEvent) {
        self.tx.send_modify(|snapshot| {
            if snapshot.outcome.is_none() {
                Arc::make_mut(&mut snapshot.events).push(event);
            }
        });
    }

    /// Ends the log.
    pub fn finish(&self, outcome: SpawnOutcome) {
        self.tx.send_modify(|snapshot| snapshot.outcome = Some(outcome));
    }

    pub fn snapshot(&self) -> ProgressSnapshot {
        self.tx.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<ProgressSnapshot> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn late_readers_see_everything_and_wake_on_changes() {
        let log = ProgressLog::new();
        log.reset();
        log.push(ProgressEvent { progress: Some(30), message: "Pulling".into(), ..Default::default() });
        let mut rx = log.subscribe();
        assert_eq!(rx.borrow_and_update().events.len(), 2);
        let waiter = tokio::spawn(async move {
            rx.changed().await.unwrap();
            rx.borrow().outcome.clone()
        });
        log.finish(SpawnOutcome::Ready { url: "/user/a/".into() });
        assert_eq!(waiter.await.unwrap(), Some(SpawnOutcome::Ready { url: "/user/a/".into() }));
        // Nothing is appended after the end.
        log.push(ProgressEvent::default());
        assert_eq!(log.snapshot().events.len(), 2);
        log.reset();
        assert_eq!(log.snapshot().events[0].message, "Server requested");
        assert!(log.snapshot().outcome.is_none());
    }
}
