//! Spawn slots: `jhub_core::spawn_queue` behind a mutex, with the waking of
//! admitted spawns and the metrics. A running spawn holds a [`SlotPermit`];
//! a waiting one a [`QueuePlace`]. Both give their slot or place back when
//! dropped — on success, failure, cancellation or a panic alike — so a slot
//! is never leaked by an early return.

use crate::metrics::Metrics;
use jhub_core::spawn_queue::{Admission, QueueConfig, SpawnQueue};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

pub(crate) struct SpawnSlots {
    inner: Mutex<Inner>,
    metrics: Arc<Metrics>,
}

struct Inner {
    queue: SpawnQueue<i64>,
    wakers: HashMap<u64, oneshot::Sender<()>>,
}

/// Why a spawn was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// At the limit with the queue full or disabled.
    Full,
    /// The user already waits in line (one place per user).
    AlreadyQueued { position: usize },
}

pub(crate) enum Admitted {
    Now(SlotPermit),
    Waiting(QueuePlace),
}

/// A running spawn's slot.
pub(crate) struct SlotPermit {
    slots: Arc<SpawnSlots>,
}

/// A place in line.
pub(crate) struct QueuePlace {
    slots: Arc<SpawnSlots>,
    ticket: u64,
    rx: Option<oneshot::Receiver<()>>,
    since: Instant,
}

impl SpawnSlots {
    pub(crate) fn new(config: QueueConfig, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self { inner: Mutex::new(Inner { queue: SpawnQueue::new(config), wakers: HashMap::new() }), metrics })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, inner: &Inner) {
        self.metrics.spawn_queue_length.gauge(&[]).set(inner.queue.len() as f64);
    }

    pub(crate) fn admit(self: &Arc<Self>, user_id: i64) -> Result<Admitted, Refusal> {
        let mut inner = self.lock();
        let admitted = match inner.queue.admit(user_id) {
            Admission::Start => Ok(Admitted::Now(SlotPermit { slots: self.clone() })),
            Admission::Queued { ticket, .. } => {
                let (tx, rx) = oneshot::channel();
                inner.wakers.insert(ticket, tx);
                Ok(Admitted::Waiting(QueuePlace { slots: self.clone(), ticket, rx: Some(rx), since: Instant::now() }))
            }
            Admission::AlreadyQueued { position } => Err(Refusal::AlreadyQueued { position }),
            Admission::Refused => Err(Refusal::Full),
        };
        self.publish(&inner);
        admitted
    }

    /// Hands a finished spawn's slot to the head of the line (or frees it).
    fn release(&self) {
        let mut inner = self.lock();
        while let Some((ticket, _)) = inner.queue.finish() {
            // A place whose receiver is gone was dropped mid-handover; its
            // drop finds the ticket admitted and releases again, so skipping
            // it here is safe either way: pass the slot on.
            if let Some(waker) = inner.wakers.remove(&ticket)
                && waker.send(()).is_ok()
            {
                break;
            }
        }
        self.publish(&inner);
    }

    /// Records a successful spawn's duration for the wait estimate.
    pub(crate) fn record_duration(&self, took: Duration) {
        self.lock().queue.record_duration(took);
    }

    /// Places in line.
    pub(crate) fn len(&self) -> usize {
        self.lock().queue.len()
    }
}

impl Drop for SlotPermit {
    fn drop(&mut self) {
        self.slots.release();
    }
}

impl QueuePlace {
    /// `(position, length, estimate)`, `None` once admitted.
    pub(crate) fn status(&self) -> Option<(usize, usize, Option<Duration>)> {
        let inner = self.slots.lock();
        let position = inner.queue.position(self.ticket)?;
        Some((position, inner.queue.len(), inner.queue.eta(position)))
    }

    /// Waits until admitted. Cancel-safe: dropping the future leaves the
    /// place as it was; dropping the place leaves the line.
    pub(crate) async fn admitted(&mut self) -> Option<SlotPermit> {
        let rx = self.rx.as_mut()?;
        match rx.await {
            Ok(()) => {
                self.rx = None;
                self.slots.metrics.spawn_queue_wait.histogram(&[]).observe_duration(self.since.elapsed());
                Some(SlotPermit { slots: self.slots.clone() })
            }
            Err(_) => None,
        }
    }
}

impl Drop for QueuePlace {
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else { return };
        let cancelled = {
            let mut inner = self.slots.lock();
            let cancelled = inner.queue.cancel(self.ticket);
            if cancelled {
                inner.wakers.remove(&self.ticket);
            }
            self.slots.publish(&inner);
            cancelled
        };
        // Admitted but never picked up: the slot is ours to give back.
        if !cancelled && rx.try_recv().is_ok() {
            self.slots.release();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use jhub_core::ports::ManualClock;

    fn slots(limit: usize, max_length: usize) -> Arc<SpawnSlots> {
        SpawnSlots::new(
            QueueConfig { limit, max_length, enabled: true },
            Arc::new(Metrics::new(Arc::new(ManualClock::new(jhub_core::Timestamp::from_second(0).unwrap())))),
        )
    }

    #[tokio::test]
    async fn a_dropped_permit_admits_the_next_in_line() {
        let s = slots(1, 10);
        let Ok(Admitted::Now(first)) = s.admit(1) else { panic!("first did not start") };
        let Ok(Admitted::Waiting(mut second)) = s.admit(2) else { panic!("second did not queue") };
        assert_eq!(second.status().map(|(p, l, _)| (p, l)), Some((1, 1)));
        drop(first);
        let permit = tokio::time::timeout(Duration::from_secs(1), second.admitted()).await.unwrap();
        assert!(permit.is_some());
        assert_eq!(s.len(), 0);
    }

    #[tokio::test]
    async fn a_place_dropped_after_admission_releases_its_slot() {
        let s = slots(1, 10);
        let Ok(Admitted::Now(first)) = s.admit(1) else { panic!() };
        let Ok(Admitted::Waiting(second)) = s.admit(2) else { panic!() };
        drop(first); // hands the slot to `second`, which never picks it up
        drop(second);
        assert!(matches!(s.admit(3), Ok(Admitted::Now(_))), "the slot leaked");
    }

    #[tokio::test]
    async fn a_cancelled_place_leaves_the_line() {
        let s = slots(1, 10);
        let Ok(Admitted::Now(_first)) = s.admit(1) else { panic!() };
        let Ok(Admitted::Waiting(second)) = s.admit(2) else { panic!() };
        let Ok(Admitted::Waiting(third)) = s.admit(3) else { panic!() };
        drop(second);
        assert_eq!(third.status().map(|(p, _, _)| p), Some(1));
        assert_eq!(s.len(), 1);
    }
}
