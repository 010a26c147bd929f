//! Keeping the proxy's table equal to what the hub knows (jupyterhub-compat
//! §8.3), and noticing a restarted proxy within seconds.
//!
//! Desired routes: the hub route at `base_url` (`/`), a probe route at the hub
//! prefix (`/hub/`, same target, so routing is unchanged), every ready
//! server, and services with URLs. Reconciliation adds what is missing or
//! points elsewhere, and deletes the hub's routes nobody owns — never routes
//! without the `jupyterhub` marker and never the route of a server that is
//! still spawning. It also pulls CHP's `last_activity` into activity.
//!
//! Restart detection: CHP keeps routes only in memory. The probe reads the
//! single `/hub/` route every `proxy_probe_interval` (one cheap request); if
//! it is gone, the proxy lost its table and a full reconciliation runs at
//! once (JupyterHub waits up to 5 minutes for its periodic check).

use crate::error::HubResult;
use crate::hub::Hub;
use jhub_core::ports::Route;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What a reconciliation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteReport {
    pub added: Vec<String>,
    pub deleted: Vec<String>,
}

#[derive(Debug, Clone)]
struct Desired {
    target: String,
    data: Map<String, Value>,
}

impl Hub {
    fn desired_routes(&self) -> (BTreeMap<String, Desired>, Vec<String>) {
        let layout = &self.inner.settings.layout;
        let hub_target = self.inner.settings.hub_route_target.clone();
        let mut desired = BTreeMap::new();
        let mut hub_data = Map::new();
        hub_data.insert("hub".into(), Value::Bool(true));
        desired.insert(layout.base_url().to_string(), Desired { target: hub_target.clone(), data: hub_data.clone() });
        desired.insert(layout.hub_prefix(), Desired { target: hub_target, data: hub_data });
        let mut pending = Vec::new();
        let state = self.read();
        for id in state.active_users.iter() {
            let Some(entry) = state.users.get(id) else { continue };
            for slot in entry.servers.values() {
                let routespec = layout.server_url(&entry.user.name, &slot.server.name);
                match (&slot.server.url, slot.ready()) {
                    (Some(url), true) => {
                        let mut data = Map::new();
                        data.insert("user".into(), Value::String(entry.user.name.clone()));
                        data.insert("server_name".into(), Value::String(slot.server.name.clone()));
                        desired.insert(routespec, Desired { target: url.clone(), data });
                    }
                    _ if slot.active() => pending.push(routespec),
                    _ => {}
                }
            }
        }
        for service in state.services.values() {
            if let Some(url) = &service.service.url {
                let mut data = Map::new();
                data.insert("service".into(), Value::String(service.service.name.clone()));
                desired.insert(
                    format!("{}services/{}/", layout.base_url(), service.service.name),
                    Desired { target: url.clone(), data },
                );
            }
        }
        (desired, pending)
    }

    /// One full reconciliation (JupyterHub `check_routes` plus the activity pull).
    pub async fn check_routes(&self) -> HubResult<RouteReport> {
        let began = Instant::now();
        let existing = self.proxy_get_all_routes().await.map_err(|e| crate::error::HubError::Backend(e.to_string()))?;
        self.pull_proxy_activity(&existing);
        let (desired, pending) = self.desired_routes();
        let mut report = RouteReport::default();
        for (routespec, want) in &desired {
            let ok = existing.get(routespec).is_some_and(|have| have.target == want.target);
            if !ok {
                match self.proxy_add_route(routespec, &want.target, want.data.clone()).await {
                    Ok(()) => report.added.push(routespec.clone()),
                    Err(err) => tracing::warn!(route = %routespec, error = %err, "could not add route"),
                }
            }
        }
        for routespec in existing.keys() {
            if desired.contains_key(routespec) || pending.contains(routespec) {
                continue;
            }
            match self.proxy_delete_route(routespec).await {
                Ok(()) => {
                    tracing::info!(route = %routespec, "deleted stale route");
                    report.deleted.push(routespec.clone());
                }
                Err(err) => tracing::warn!(route = %routespec, error = %err, "could not delete stale route"),
            }
        }
        self.inner.metrics.check_routes_duration.histogram(&[]).observe_duration(began.elapsed());
        if !report.added.is_empty() || !report.deleted.is_empty() {
            tracing::info!(added = report.added.len(), deleted = report.deleted.len(), "proxy routes reconciled");
        }
        Ok(report)
    }

    /// Copies CHP's per-route `last_activity` into user and server activity
    /// (newest wins), so proxy-only traffic counts as activity.
    pub(crate) fn pull_proxy_activity(&self, routes: &BTreeMap<String, Route>) {
        let resolution = self.inner.settings.activity_resolution;
        let mut updates = Vec::new();
        {
            let state = self.read();
            for route in routes.values() {
                let (Some(Value::String(user)), Some(Value::String(server)), Some(Value::String(at))) =
                    (route.data.get("user"), route.data.get("server_name"), route.data.get("last_activity"))
                else {
                    continue;
                };
                let Ok(at) = jhub_core::time::parse(at) else { continue };
                let Some(entry) = state.user(user) else { continue };
                let Some(slot) = entry.servers.get(server) else { continue };
                let newer = |old: Option<jhub_core::Timestamp>| {
                    old.is_none_or(|old| at.as_microsecond() - old.as_microsecond() > resolution.as_micros() as i64)
                };
                if newer(slot.server.last_activity) || newer(entry.user.last_activity) {
                    updates.push((entry.user.id, user.clone(), server.clone(), slot.server.id, at));
                }
            }
        }
        if updates.is_empty() {
            return;
        }
        let mut state = self.write();
        for (user_id, user, server, server_id, at) in updates {
            if let Some(entry) = state.user_mut(&user) {
                if entry.user.last_activity.is_none_or(|old| old < at) {
                    entry.user.last_activity = Some(at);
                }
                if let Some(slot) = entry.servers.get_mut(&server)
                    && slot.server.last_activity.is_none_or(|old| old < at)
                {
                    slot.server.last_activity = Some(at);
                }
            }
            self.inner.activity.user(user_id, at);
            self.inner.activity.server(server_id, at);
        }
    }

    /// Re-points the proxy client (`PATCH /hub/api/proxy`), then reconciles
    /// so the new proxy gets every route.
    pub async fn repoint_proxy(&self, api_url: Option<&str>, auth_token: Option<&str>) -> HubResult<RouteReport> {
        self.inner
            .proxy
            .reconfigure(api_url, auth_token)
            .map_err(|e| crate::error::HubError::Invalid(e.to_string()))?;
        self.check_routes().await
    }

    /// Asks the sync task to reconcile now (e.g. `POST /hub/api/proxy`).
    pub fn kick_proxy_sync(&self) {
        self.inner.proxy_kick.notify_one();
    }

    /// Whether the proxy still has the hub's probe route.
    async fn probe_proxy(&self) -> bool {
        let probe = self.inner.settings.layout.hub_prefix();
        match self.inner.proxy.get_route(&probe).await {
            Ok(Some(route)) => route.target == self.inner.settings.hub_route_target,
            Ok(None) => false,
            // Unreachable: nothing to restore until it answers again.
            Err(_) => true,
        }
    }

    pub(crate) fn start_proxy_sync(&self) {
        let hub = self.clone();
        let cancel = self.inner.shutdown.clone();
        let full_every = self.inner.settings.proxy_check_interval;
        let probe_every = self.inner.settings.proxy_probe_interval;
        self.spawn_task(async move {
            let mut next_full = Instant::now();
            let mut healthy = false;
            loop {
                if Instant::now() >= next_full || !healthy {
                    match hub.check_routes().await {
                        Ok(_) => {
                            healthy = true;
                            next_full = Instant::now() + full_every;
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "proxy reconciliation failed; retrying");
                            healthy = false;
                        }
                    }
                }
                let wait = if probe_every.is_zero() { full_every } else { probe_every };
                let wait = if healthy { wait } else { wait.min(Duration::from_secs(1)) };
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = hub.inner.proxy_kick.notified() => { next_full = Instant::now(); }
                    _ = tokio::time::sleep(wait) => {
                        if healthy && !probe_every.is_zero() && !hub.probe_proxy().await {
                            tracing::warn!("proxy lost the hub's routes (restarted?); restoring them now");
                            hub.inner.metrics.proxy_restarts_detected.counter(&[]).inc();
                            next_full = Instant::now();
                        }
                    }
                }
            }
        });
    }
}
