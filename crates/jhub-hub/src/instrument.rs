//! Where the hub feeds its metrics: timed proxy and spawner calls (labels
//! as JupyterHub's), gauges derived from the in-memory state when scraped
//! (running servers, users, GPUs — indexes, not scans of all users), the
//! hourly active-users count, and the event-loop lag probe.

use crate::hub::Hub;
use crate::lifecycle::ServerKey;
use crate::metrics::{ACTIVE_PERIODS, POLL_RUNNING, POLL_STOPPED};
use jhub_core::model::{Server, ServerEventKind};
use jhub_core::ports::{PollStatus, ProxyError, Route, SpawnError};
use jhub_core::time::to_micros;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How often `jupyterhub_active_users` is recomputed (JupyterHub's
/// `PeriodicMetricsCollector.active_users_update_interval` default).
pub const ACTIVE_USERS_EVERY: Duration = Duration::from_secs(3600);
/// The event-loop probe's sleep (JupyterHub's `event_loop_interval_resolution`).
const EVENT_LOOP_RESOLUTION: Duration = Duration::from_millis(50);

fn status(ok: bool) -> &'static str {
    if ok { "success" } else { "failure" }
}

impl Hub {
    pub(crate) async fn proxy_add_route(
        &self,
        routespec: &str,
        target: &str,
        data: serde_json::Map<String, Value>,
    ) -> Result<(), ProxyError> {
        let began = Instant::now();
        let result = self.inner.proxy.add_route(routespec, target, data).await;
        self.inner.metrics.proxy_add_duration.histogram(&[status(result.is_ok())]).observe_duration(began.elapsed());
        result
    }

    pub(crate) async fn proxy_delete_route(&self, routespec: &str) -> Result<(), ProxyError> {
        let began = Instant::now();
        let result = self.inner.proxy.delete_route(routespec).await;
        self.inner.metrics.proxy_delete_duration.histogram(&[status(result.is_ok())]).observe_duration(began.elapsed());
        result
    }

    /// `GET /api/routes` (JupyterHub times it as `proxy_poll`, successes only).
    pub(crate) async fn proxy_get_all_routes(&self) -> Result<BTreeMap<String, Route>, ProxyError> {
        let began = Instant::now();
        let result = self.inner.proxy.get_all_routes().await;
        if result.is_ok() {
            self.inner.metrics.proxy_poll_duration.histogram(&[]).observe_duration(began.elapsed());
        }
        result
    }

    pub(crate) async fn timed_poll(&self, user: &str, server: &str, state: &Value) -> Result<PollStatus, SpawnError> {
        let began = Instant::now();
        let result = self.inner.spawner.poll(user, server, state).await;
        if let Ok(status) = &result {
            let label = if *status == PollStatus::Running { POLL_RUNNING } else { POLL_STOPPED };
            self.inner.metrics.server_poll_duration.histogram(&[label]).observe_duration(began.elapsed());
        }
        result
    }

    /// After a restart the in-memory resources are gone: take them from the
    /// server's last `started` event.
    pub(crate) async fn reload_resources(&self, key: &ServerKey, row: &Server) {
        let from = row.started.unwrap_or(jhub_core::Timestamp::MIN);
        let events = match self
            .inner
            .store
            .events_for_user(&key.user, from, jhub_core::Timestamp::MAX, 1000, None)
            .await
        {
            Ok(events) => events,
            Err(err) => {
                tracing::warn!(user = %key.user, error = %err, "could not read the event log for an adopted server");
                return;
            }
        };
        let last = events
            .into_iter()
            .rev()
            .find(|e| e.server_name == key.server && e.kind == ServerEventKind::Started)
            .map(|e| e.detail);
        if let Some(resources) = last {
            let mut state = self.write();
            if let Some(slot) = state.user_mut(&key.user).and_then(|e| e.servers.get_mut(&key.server)) {
                slot.resources = Some(resources);
            }
        }
    }

    /// Sets the state-derived gauges. Walks only users with a ready server.
    pub fn refresh_metrics(&self) {
        let mut running = 0usize;
        let mut gpus: BTreeMap<(String, String, String), f64> = BTreeMap::new();
        let total = {
            let state = self.read();
            for entry in state.ready_users.iter().filter_map(|id| state.users.get(id)) {
                for slot in entry.servers.values().filter(|s| s.ready()) {
                    running += 1;
                    let Some(resources) = &slot.resources else { continue };
                    let requested = jhub_core::usage::requested(resources, &slot.server.user_options);
                    for (resource, count) in requested.gpus {
                        *gpus.entry((resource, requested.profile.clone(), requested.node.clone())).or_default() +=
                            count;
                    }
                }
            }
            state.users.len()
        };
        let m = &self.inner.metrics;
        m.running_servers.gauge(&[]).set(running as f64);
        m.total_users.gauge(&[]).set(total as f64);
        m.gpus_allocated.replace_gauges(gpus.into_iter().map(|((r, p, n), v)| (vec![r, p, n], v)).collect());
    }

    /// The metrics text with fresh state-derived gauges.
    pub fn metrics_text(&self) -> String {
        self.refresh_metrics();
        self.inner.metrics.encode()
    }

    /// Recomputes `jupyterhub_active_users` (one pass over users; hourly).
    pub fn update_active_users(&self) {
        let now = self.now();
        let mut counts = [0usize; ACTIVE_PERIODS.len()];
        {
            let state = self.read();
            for entry in state.users.values() {
                let Some(at) = entry.user.last_activity else { continue };
                let age_us = to_micros(now).saturating_sub(to_micros(at));
                for (i, (_, window)) in ACTIVE_PERIODS.iter().enumerate() {
                    if age_us <= window.as_micros() as i64 {
                        counts[i] += 1;
                    }
                }
            }
        }
        for ((period, _), count) in ACTIVE_PERIODS.iter().zip(counts) {
            self.inner.metrics.active_users.gauge(&[period]).set(count as f64);
        }
    }

    pub(crate) fn start_metric_tasks(&self) {
        self.update_active_users();
        self.every("active-users", ACTIVE_USERS_EVERY, |hub| async move { hub.update_active_users() });
        let hub = self.clone();
        let cancel = self.inner.shutdown.clone();
        self.spawn_task(async move {
            loop {
                let began = Instant::now();
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(EVENT_LOOP_RESOLUTION) => {
                        hub.inner.metrics.event_loop_interval.histogram(&[]).observe_duration(began.elapsed());
                    }
                }
            }
        });
    }
}
