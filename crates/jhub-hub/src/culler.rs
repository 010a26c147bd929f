//! The internal idle culler: jupyterhub-idle-culler 2.0's decisions
//! (`jhub_core::cull`) applied to the in-memory state every `cull.every`
//! seconds — no extra service, no token, no user listing over HTTP.
//!
//! A sweep reads the proxy's routes once (CHP `last_activity` is part of
//! activity), decides on every server in memory, stops the chosen ones with
//! bounded concurrency, and then deletes users (only with `cull.users`, and
//! only users left with no server). A stop that fails leaves the server
//! running; the next sweep tries again.

use crate::hub::Hub;
use crate::lifecycle::StopReason;
use futures::StreamExt;
use jhub_core::cull::{CullReason, ServerFacts, UserFacts, server_decision, user_decision};
use std::time::{Duration, Instant};

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CullReport {
    /// `(user, server, reason)` of servers stopped.
    pub stopped: Vec<(String, String, CullReason)>,
    /// Servers whose stop failed or is still running after the wait.
    pub not_stopped: Vec<(String, String)>,
    /// Users deleted.
    pub deleted_users: Vec<(String, CullReason)>,
    pub took: Duration,
}

/// How long a sweep waits for each stop before counting it as "still stopping".
const STOP_WAIT: Duration = Duration::from_secs(10);

impl Hub {
    /// One culler sweep now (the background task calls this every `cull.every`).
    pub async fn cull_once(&self) -> CullReport {
        let Some(policy) = self.inner.settings.cull.clone() else { return CullReport::default() };
        let began = Instant::now();
        match self.inner.proxy.get_all_routes().await {
            Ok(routes) => self.pull_proxy_activity(&routes),
            Err(err) => tracing::warn!(error = %err, "culler could not read proxy activity; using what the hub has"),
        }
        let now = self.now();
        let mut to_stop = Vec::new();
        {
            let state = self.read();
            for id in state.active_users.iter() {
                let Some(entry) = state.users.get(id) else { continue };
                for slot in entry.servers.values() {
                    let facts = ServerFacts {
                        name: &slot.server.name,
                        ready: slot.ready(),
                        pending: slot.pending(),
                        started: slot.server.started,
                        last_activity: slot.server.last_activity,
                    };
                    if let Some(reason) = server_decision(now, &facts, &policy) {
                        to_stop.push((entry.user.name.clone(), slot.server.name.clone(), reason));
                    }
                }
            }
        }
        let mut report = CullReport::default();
        let remove_named = policy.remove_named_servers;
        let results: Vec<_> = futures::stream::iter(to_stop)
            .map(|(user, server, reason)| {
                let hub = self.clone();
                async move {
                    tracing::info!(user = %user, server = %server, "culling server ({reason})");
                    let remove = remove_named && !server.is_empty();
                    let outcome =
                        match hub.stop(&user, &server, remove, StopReason::Culled { reason: reason.to_string() }).await
                        {
                            Ok(mut ticket) => matches!(ticket.wait(STOP_WAIT).await, Some(Ok(()))),
                            Err(err) => {
                                tracing::warn!(user = %user, server = %server, error = %err, "cull stop refused");
                                false
                            }
                        };
                    (user, server, reason, outcome)
                }
            })
            .buffer_unordered(policy.concurrency.max(1))
            .collect()
            .await;
        for (user, server, reason, stopped) in results {
            if stopped {
                self.inner
                    .metrics
                    .culled_servers
                    .get_or_create(&crate::metrics::Reason { reason: reason.label().into() })
                    .inc();
                report.stopped.push((user, server, reason));
            } else {
                report.not_stopped.push((user, server));
            }
        }
        if policy.cull_users {
            let now = self.now();
            let candidates: Vec<(String, CullReason)> = {
                let state = self.read();
                state
                    .users
                    .values()
                    .filter(|entry| !state.active_users.contains(&entry.user.id))
                    .filter_map(|entry| {
                        let facts = UserFacts {
                            admin: entry.user.admin,
                            created: entry.user.created,
                            last_activity: entry.user.last_activity,
                        };
                        user_decision(now, &facts, &policy).map(|reason| (entry.user.name.clone(), reason))
                    })
                    .collect()
            };
            for (user, reason) in candidates {
                tracing::info!(user = %user, "culling user ({reason})");
                match self.delete_user(&user).await {
                    Ok(()) => {
                        self.inner
                            .metrics
                            .culled_users
                            .get_or_create(&crate::metrics::Reason { reason: reason.label().into() })
                            .inc();
                        report.deleted_users.push((user, reason));
                    }
                    Err(err) => tracing::warn!(user = %user, error = %err, "could not cull user"),
                }
            }
        }
        report.took = began.elapsed();
        self.inner.metrics.cull_sweep_seconds.set(report.took.as_secs_f64());
        report
    }
}
