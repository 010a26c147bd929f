//! Hub operations only the REST API needs: activity reports from
//! single-user servers (`POST /users/{name}/activity`), creating and editing
//! named servers without starting them (`PUT`/`PATCH .../servers/{name}`),
//! the proxy's routing table as the hub sees it (`GET /proxy`), services
//! created at run time with their full spec, and stopping every server
//! (`POST /shutdown` with `servers: true`).
//!
//! Same rules as the rest of the hub: store first, then memory (activity is
//! the exception the whole hub makes: it is coalesced and written in
//! batches), and no status codes — errors are [`HubError`] kinds.

use crate::error::{HubError, HubResult};
use crate::hub::Hub;
use crate::lifecycle::StopReason;
use crate::state::ServerEntry;
use jhub_core::Timestamp;
use jhub_core::model::Server;
use jhub_core::names::validate_server_name;
use jhub_core::ports::Route;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Changes to a stopped server (`PATCH /users/{name}/servers/{server}`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerEdit {
    /// Rename to this (already validated by the caller as a server name).
    pub new_name: Option<String>,
    pub display_name: Option<String>,
    /// Replaces the stored options used by the next spawn.
    pub user_options: Option<Value>,
}

/// A service created through `POST /services/{name}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeService {
    pub name: String,
    pub admin: bool,
    pub url: Option<String>,
    pub api_token: Option<String>,
    pub display: bool,
    pub oauth_no_confirm: bool,
    pub info: Value,
    pub oauth_redirect_uri: Option<String>,
}

fn log_name(user: &str, server: &str) -> String {
    if server.is_empty() { user.to_string() } else { format!("{user}:{server}") }
}

impl Hub {
    /// Records activity reported for a user and (some of) her servers. Every
    /// named server must exist (in any state) or nothing is recorded; values
    /// only move forward. Written to the store with the next activity batch.
    pub fn record_activity(
        &self,
        user: &str,
        user_at: Option<Timestamp>,
        servers: &[(String, Timestamp)],
    ) -> HubResult<()> {
        let mut state = self.write();
        let entry = state.user_mut(user).ok_or_else(|| Hub::not_found_user(user))?;
        if let Some((missing, _)) = servers.iter().find(|(name, _)| !entry.servers.contains_key(name)) {
            return Err(HubError::Invalid(format!("No such server '{missing}' for user {user}")));
        }
        let user_id = entry.user.id;
        if let Some(at) = user_at
            && entry.user.last_activity.is_none_or(|old| old < at)
        {
            entry.user.last_activity = Some(at);
            self.inner.activity.user(user_id, at);
        }
        for (name, at) in servers {
            if let Some(slot) = entry.servers.get_mut(name)
                && slot.server.last_activity.is_none_or(|old| old < *at)
            {
                slot.server.last_activity = Some(*at);
                self.inner.activity.server(slot.server.id, *at);
            }
        }
        Ok(())
    }

    /// Creates a named server without starting it (JupyterHub 6 `PUT`).
    /// `Conflict` if it exists; `Invalid` when named servers are off, the
    /// name is not a valid server name, or the per-user limit is reached.
    pub async fn create_server(
        &self,
        user: &str,
        server: &str,
        display_name: &str,
        user_options: Option<Value>,
    ) -> HubResult<Server> {
        let settings = &self.inner.settings;
        if !settings.allow_named_servers {
            return Err(HubError::Invalid("Named servers are not enabled.".into()));
        }
        let _gate = self.user_gate(user).await;
        let user_id = {
            let state = self.read();
            let entry = state.user(user).ok_or_else(|| Hub::not_found_user(user))?;
            if server.is_empty() {
                return Err(HubError::Conflict(format!("User {user} already has a default server")));
            }
            if entry.servers.contains_key(server) {
                return Err(HubError::Conflict(format!("User {user} already has server {server}")));
            }
            let limit = settings.named_server_limit_per_user;
            let named = entry.servers.keys().filter(|name| !name.is_empty()).count();
            if limit > 0 && named >= limit as usize {
                return Err(HubError::Invalid(format!(
                    "User {user} already has the maximum of {limit} named servers.  One must be deleted before a new server can be created"
                )));
            }
            entry.user.id
        };
        validate_server_name(server).map_err(|_| HubError::Invalid(format!("Invalid server_name: {server}")))?;
        let mut row = self.inner.store.create_server(user_id, server, display_name).await?;
        if let Some(options) = user_options {
            row.user_options = options;
            self.inner.store.save_server(&row).await?;
        }
        let mut state = self.write();
        if let Some(entry) = state.user_mut(user) {
            entry.servers.insert(server.to_string(), ServerEntry::new(row.clone()));
        }
        Ok(row)
    }

    /// Renames a stopped server and/or changes its display name and stored
    /// options. `Invalid` while it is active, `Conflict` if the new name is
    /// taken, `NotFound` for an unknown server.
    pub async fn edit_server(&self, user: &str, server: &str, edit: ServerEdit) -> HubResult<Server> {
        let _gate = self.user_gate(user).await;
        let mut row = {
            let state = self.read();
            let entry = state.user(user).ok_or_else(|| Hub::not_found_user(user))?;
            let slot = entry
                .servers
                .get(server)
                .ok_or_else(|| HubError::NotFound(format!("User {user} has no such server {server}")))?;
            if slot.active() {
                return Err(HubError::Invalid(format!(
                    "{} is active. Please stop it before modifying it.",
                    log_name(user, server)
                )));
            }
            if let Some(new_name) = &edit.new_name
                && new_name != server
                && entry.servers.contains_key(new_name)
            {
                return Err(HubError::Conflict(format!("User {user} already has server '{new_name}'")));
            }
            slot.server.clone()
        };
        let mut name = server.to_string();
        if let Some(new_name) = edit.new_name.filter(|n| n != server) {
            self.inner.store.rename_server(row.id, &new_name).await?;
            row.name = new_name.clone();
            let mut state = self.write();
            if let Some(entry) = state.user_mut(user)
                && let Some(mut slot) = entry.servers.remove(server)
            {
                slot.server.name = new_name.clone();
                entry.servers.insert(new_name.clone(), slot);
            }
            name = new_name;
        }
        let mut changed = false;
        if let Some(options) = edit.user_options {
            row.user_options = options;
            changed = true;
        }
        if let Some(display_name) = edit.display_name.filter(|d| *d != row.display_name) {
            row.display_name = display_name;
            changed = true;
        }
        if changed {
            self.inner.store.save_server(&row).await?;
            let mut state = self.write();
            if let Some(slot) = state.user_mut(user).and_then(|e| e.servers.get_mut(&name)) {
                slot.server.user_options = row.user_options.clone();
                slot.server.display_name = row.display_name.clone();
            }
        }
        Ok(row)
    }

    /// The proxy's routing table (the hub's routes only, as the adapter reports them).
    pub async fn proxy_routes(&self) -> HubResult<BTreeMap<String, Route>> {
        self.proxy_get_all_routes().await.map_err(|e| HubError::Backend(format!("proxy unavailable: {e}")))
    }

    /// Creates an external service at run time (`POST /services/{name}`).
    pub async fn create_runtime_service(&self, spec: RuntimeService) -> HubResult<()> {
        let name = spec.name.as_str();
        if name.is_empty() || name.contains('/') || name.chars().any(char::is_control) {
            return Err(HubError::Invalid(format!("Invalid service name: {name:?}")));
        }
        if self.read().service(name).is_some() {
            return Err(HubError::Conflict(format!("Service {name} already exists")));
        }
        self.upsert_service(
            name,
            spec.admin,
            spec.url,
            spec.api_token,
            false,
            spec.display,
            spec.oauth_no_confirm,
            spec.info,
            spec.oauth_redirect_uri,
        )
        .await
    }

    /// Whether a service was defined in configuration (those cannot be
    /// deleted at run time); `None` for an unknown service.
    pub fn service_from_config(&self, name: &str) -> Option<bool> {
        self.read().service(name).map(|s| s.service.from_config)
    }

    /// Stops every active server and waits up to `wait` for them
    /// (`POST /shutdown` with `servers: true`). Returns how many were asked to stop.
    pub async fn stop_all_servers(&self, wait: Duration) -> usize {
        let active: Vec<(String, String)> = {
            let state = self.read();
            state
                .active_users
                .iter()
                .filter_map(|id| state.users.get(id))
                .flat_map(|entry| {
                    entry
                        .servers
                        .values()
                        .filter(|slot| slot.active())
                        .map(move |slot| (entry.user.name.clone(), slot.server.name.clone()))
                })
                .collect()
        };
        let mut tickets = Vec::new();
        for (user, server) in &active {
            match self.stop(user, server, false, StopReason::Requested).await {
                Ok(ticket) => tickets.push(ticket),
                Err(err) => tracing::warn!(%user, %server, error = %err, "could not stop server at shutdown"),
            }
        }
        let deadline = tokio::time::Instant::now() + wait;
        for mut ticket in tickets {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if ticket.wait(left).await.is_none() {
                tracing::warn!("a server is still stopping at shutdown");
            }
        }
        active.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{FakeSpawner, MemoryProxy};
    use crate::settings::HubSettings;
    use jhub_core::ports::ManualClock;
    use std::sync::Arc;

    async fn hub(named: bool) -> (Hub, Arc<ManualClock>) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = jhub_store::Store::connect("sqlite::memory:").await.unwrap();
        let mut settings = HubSettings::new("/", "http://127.0.0.1:8081/hub/api", "http://127.0.0.1:8081");
        settings.allow_named_servers = named;
        settings.named_server_limit_per_user = 2;
        let clock = Arc::new(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
        let hub = Hub::start(
            settings,
            store,
            Arc::new(FakeSpawner::serving()),
            Arc::new(MemoryProxy::default()),
            clock.clone(),
        )
        .await
        .unwrap();
        hub.create_user("alice", false).await.unwrap();
        (hub, clock)
    }

    #[tokio::test]
    async fn activity_moves_forward_only_and_needs_known_servers() {
        let (hub, _) = hub(true).await;
        hub.create_server("alice", "gpu", "GPU", None).await.unwrap();
        let t1: Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
        let t0: Timestamp = "2026-01-01T00:30:00Z".parse().unwrap();
        hub.record_activity("alice", Some(t1), &[("gpu".into(), t1)]).unwrap();
        hub.record_activity("alice", Some(t0), &[("gpu".into(), t0)]).unwrap();
        let err = hub.record_activity("alice", Some(t1), &[("nope".into(), t1)]).unwrap_err();
        assert!(matches!(err, HubError::Invalid(m) if m == "No such server 'nope' for user alice"));
        assert!(matches!(hub.record_activity("bob", None, &[]), Err(HubError::NotFound(_))));
        let state = hub.read();
        let alice = state.user("alice").unwrap();
        assert_eq!(alice.user.last_activity, Some(t1));
        assert_eq!(alice.servers["gpu"].server.last_activity, Some(t1));
    }

    #[tokio::test]
    async fn create_and_edit_named_servers() {
        let (hub, _) = hub(true).await;
        let row = hub.create_server("alice", "gpu", "My GPU", Some(serde_json::json!({"a": 1}))).await.unwrap();
        assert_eq!(row.display_name, "My GPU");
        assert!(matches!(hub.create_server("alice", "gpu", "x", None).await, Err(HubError::Conflict(_))));
        assert!(matches!(hub.create_server("alice", "", "x", None).await, Err(HubError::Conflict(_))));
        assert!(matches!(hub.create_server("alice", "Bad_Name", "x", None).await, Err(HubError::Invalid(_))));
        hub.create_server("alice", "cpu", "cpu", None).await.unwrap();
        // Limit of two named servers.
        assert!(matches!(hub.create_server("alice", "third", "x", None).await, Err(HubError::Invalid(_))));
        let edited = hub
            .edit_server(
                "alice",
                "gpu",
                ServerEdit {
                    new_name: Some("gpu2".into()),
                    display_name: Some("Renamed".into()),
                    user_options: Some(serde_json::json!({"b": 2})),
                },
            )
            .await
            .unwrap();
        assert_eq!((edited.name.as_str(), edited.display_name.as_str()), ("gpu2", "Renamed"));
        assert!(matches!(
            hub.edit_server("alice", "gpu2", ServerEdit { new_name: Some("cpu".into()), ..Default::default() }).await,
            Err(HubError::Conflict(_))
        ));
        // Persisted: a fresh snapshot has the renamed server with its options.
        let snapshot = hub.store().load_snapshot().await.unwrap();
        let stored = snapshot.servers.iter().find(|s| s.name == "gpu2").unwrap();
        assert_eq!(stored.user_options, serde_json::json!({"b": 2}));
        assert_eq!(stored.display_name, "Renamed");
        let state = hub.read();
        assert!(state.user("alice").unwrap().servers.contains_key("gpu2"));
        assert!(!state.user("alice").unwrap().servers.contains_key("gpu"));
    }

    #[tokio::test]
    async fn named_servers_must_be_enabled() {
        let (hub, _) = hub(false).await;
        assert!(matches!(hub.create_server("alice", "gpu", "gpu", None).await, Err(HubError::Invalid(_))));
    }

    #[tokio::test]
    async fn running_servers_cannot_be_edited_and_stop_all_stops_them() {
        let (hub, _) = hub(true).await;
        let mut ticket = hub
            .spawn(crate::SpawnCommand { user: "alice".into(), server: String::new(), ..Default::default() })
            .await
            .unwrap();
        assert!(matches!(ticket.wait(Duration::from_secs(10)).await, Some(crate::SpawnOutcome::Ready { .. })));
        let err = hub.edit_server("alice", "", ServerEdit::default()).await.unwrap_err();
        assert!(matches!(err, HubError::Invalid(m) if m.contains("is active")));
        assert_eq!(hub.stop_all_servers(Duration::from_secs(10)).await, 1);
        assert!(hub.read().active_users.is_empty());
    }
}
