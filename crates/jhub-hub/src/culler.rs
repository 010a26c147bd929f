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

/// A server one sweep stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct CulledServer {
    pub user: String,
    pub server: String,
    pub reason: CullReason,
    /// The profile it ran, as the spawner resolved it (`None`: no profile list).
    pub profile: Option<String>,
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CullReport {
    /// Servers stopped.
    pub stopped: Vec<CulledServer>,
    /// Servers whose stop failed or is still running after the wait.
    pub not_stopped: Vec<(String, String)>,
    /// Users deleted.
    pub deleted_users: Vec<(String, CullReason)>,
    pub took: Duration,
}

/// A user's servers when the sweep began.
#[derive(Debug, Clone, Copy)]
enum UserStart {
    NoActiveServer,
    /// At least one ready server; `active` servers in all.
    Ready {
        active: usize,
    },
    OnlyPending,
}

/// How long a sweep waits for each stop before counting it as "still stopping".
const STOP_WAIT: Duration = Duration::from_secs(10);

impl Hub {
    /// One culler sweep now (the background task calls this every `cull.every`).
    pub async fn cull_once(&self) -> CullReport {
        let Some(policy) = self.inner.settings.cull.clone() else { return CullReport::default() };
        let began = Instant::now();
        match self.proxy_get_all_routes().await {
            Ok(routes) => self.pull_proxy_activity(&routes),
            Err(err) => tracing::warn!(error = %err, "culler could not read proxy activity; using what the hub has"),
        }
        let now = self.now();
        let mut to_stop = Vec::new();
        // What the culler knows of each user before it stops anything: the
        // real culler lists users once and decides on those listings, so a
        // stop's fresh `last_activity` does not save the user in the same pass.
        let mut user_facts: Vec<(String, UserFacts, UserStart)> = Vec::new();
        {
            let state = self.read();
            for entry in state.users.values() {
                let facts = UserFacts {
                    admin: entry.user.admin,
                    created: entry.user.created,
                    last_activity: entry.user.last_activity,
                };
                let active: Vec<&crate::state::ServerEntry> = entry.servers.values().filter(|s| s.active()).collect();
                let start = if active.is_empty() {
                    UserStart::NoActiveServer
                } else if active.iter().any(|s| s.ready()) {
                    UserStart::Ready { active: active.len() }
                } else {
                    // Only pending servers: in neither of the culler's lists.
                    UserStart::OnlyPending
                };
                user_facts.push((entry.user.name.clone(), facts, start));
                if !entry.any_active() {
                    continue;
                }
                for slot in entry.servers.values() {
                    let facts = ServerFacts {
                        name: &slot.server.name,
                        ready: slot.ready(),
                        pending: slot.pending(),
                        started: slot.server.started,
                        last_activity: slot.server.last_activity,
                    };
                    if let Some(reason) = server_decision(now, &facts, &policy) {
                        let profile = crate::usage::resolved_profile(slot);
                        to_stop.push((entry.user.name.clone(), slot.server.name.clone(), reason, profile));
                    }
                }
            }
        }
        let mut report = CullReport::default();
        let remove_named = policy.remove_named_servers;
        let results: Vec<_> = futures::stream::iter(to_stop)
            .map(|(user, server, reason, profile)| {
                let hub = self.clone();
                async move {
                    tracing::info!(
                        user = %user,
                        server = %server,
                        profile = profile.as_deref().unwrap_or("-"),
                        "culling server ({reason})"
                    );
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
                    (user, server, reason, profile, outcome)
                }
            })
            .buffer_unordered(policy.concurrency.max(1))
            .collect()
            .await;
        let mut stopped_per_user: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for (user, server, reason, profile, stopped) in results {
            if stopped {
                self.inner.metrics.culled_servers.counter(&[reason.label()]).inc();
                *stopped_per_user.entry(user.clone()).or_default() += 1;
                report.stopped.push(CulledServer { user, server, reason, profile });
            } else {
                report.not_stopped.push((user, server));
            }
        }
        if policy.cull_users {
            for (user, facts, start) in user_facts {
                // Culled only with no server left: none active at the start,
                // or every active one stopped in this pass.
                let no_server_left = match start {
                    UserStart::NoActiveServer => true,
                    UserStart::Ready { active } => stopped_per_user.get(&user).copied().unwrap_or(0) == active,
                    UserStart::OnlyPending => false,
                };
                if !no_server_left {
                    if matches!(start, UserStart::Ready { .. }) {
                        tracing::debug!(user = %user, "not culling user with servers still alive");
                    }
                    continue;
                }
                let Some(reason) = user_decision(now, &facts, &policy) else { continue };
                tracing::info!(user = %user, "culling user ({reason})");
                match self.delete_user(&user).await {
                    Ok(()) => {
                        self.inner.metrics.culled_users.counter(&[reason.label()]).inc();
                        report.deleted_users.push((user, reason));
                    }
                    Err(err) => tracing::warn!(user = %user, error = %err, "could not cull user"),
                }
            }
        }
        report.took = began.elapsed();
        self.inner.metrics.cull_sweep_seconds.gauge(&[]).set(report.took.as_secs_f64());
        report
    }
}
