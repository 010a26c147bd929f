//! The [`Hub`]: construction from a store snapshot, the write locks, and the
//! background tasks (activity flush, proxy sync, server polling, culling,
//! expiry purges), all cancelled together at shutdown.

use crate::activity::ActivityBuffer;
use crate::error::{HubError, HubResult};
use crate::identity::IdentityCache;
use crate::locks::{StructureGuard, UserGuard, WriteLocks};
use crate::metrics::Metrics;
use crate::queue::SpawnSlots;
use crate::settings::HubSettings;
use crate::state::{GroupEntry, RoleEntry, ServerEntry, ServiceEntry, State};
use jhub_core::ports::{Clock, Proxy, Spawner};
use jhub_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The hub application. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Hub {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub settings: HubSettings,
    pub state: RwLock<State>,
    /// Serialises writers per user (store first, then memory); see `locks`.
    pub locks: WriteLocks,
    pub store: Store,
    pub spawner: Arc<dyn Spawner>,
    pub proxy: Arc<dyn Proxy>,
    pub clock: Arc<dyn Clock>,
    pub activity: ActivityBuffer,
    pub identities: IdentityCache,
    pub metrics: Arc<Metrics>,
    /// `concurrent_spawn_limit` slots and the spawn queue.
    pub slots: Arc<SpawnSlots>,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
    /// Cancels an in-flight spawn when a stop arrives, keyed by server id.
    pub spawn_cancels: Mutex<HashMap<i64, CancellationToken>>,
    /// Woken to run a proxy reconciliation now.
    pub proxy_kick: tokio::sync::Notify,
    pub consecutive_failures: std::sync::atomic::AtomicU32,
    pub rbac: jhub_core::rbac::Rbac,
    /// Usage sessions from the server event log (see `usage`).
    pub usage: Mutex<jhub_core::usage::SessionBook>,
    /// Users' volumes (see `storage`); set once by `Hub::attach_storage`.
    pub storage: std::sync::OnceLock<crate::storage::StorageService>,
}

impl Hub {
    /// Loads the state from the store, applies the configured users, roles
    /// and services, re-adopts running servers, and starts the background
    /// tasks. Proxy routes are reconciled right away in the background.
    pub async fn start(
        settings: HubSettings,
        store: Store,
        spawner: Arc<dyn Spawner>,
        proxy: Arc<dyn Proxy>,
        clock: Arc<dyn Clock>,
    ) -> HubResult<Hub> {
        let began = std::time::Instant::now();
        let snapshot = store.load_snapshot().await?;
        let mut state = State::default();
        for user in snapshot.users {
            state.insert_user(user);
        }
        for server in snapshot.servers {
            if let Some(entry) = state.users.get_mut(&server.user_id) {
                entry.servers.insert(server.name.clone(), ServerEntry::new(server));
            }
        }
        for group in snapshot.groups {
            state.group_ids.insert(group.name.clone(), group.id);
            state.groups.insert(group.id, GroupEntry { group, members: Default::default(), roles: Default::default() });
        }
        for (user_id, group_id) in snapshot.user_groups {
            if let Some(group) = state.groups.get_mut(&group_id) {
                group.members.insert(user_id);
            }
            if let Some(user) = state.users.get_mut(&user_id) {
                user.groups.insert(group_id);
            }
        }
        for role in snapshot.roles {
            state.role_ids.insert(role.name.clone(), role.id);
            state.roles.insert(role.id, RoleEntry { role, holders: Default::default() });
        }
        for service in snapshot.services {
            state.service_ids.insert(service.name.clone(), service.id);
            state.services.insert(service.id, ServiceEntry { service, roles: Default::default() });
        }
        for (role_id, holder) in snapshot.role_holders {
            if let Some(role) = state.roles.get_mut(&role_id) {
                role.holders.insert(holder);
            }
            if let Some(roles) = state.holder_roles_mut(holder) {
                roles.insert(role_id);
            }
        }
        for client in snapshot.oauth_clients {
            state.oauth_clients.insert(client.identifier.clone(), client);
        }
        let user_ids: Vec<i64> = state.users.keys().copied().collect();
        for id in user_ids {
            state.reindex_user(id);
        }
        let rbac_config = jhub_core::rbac::RbacConfig {
            custom_scopes: settings.custom_scopes.clone(),
            extra_user_scopes: settings.extra_user_scopes.clone(),
            roles: settings
                .roles
                .iter()
                .map(|r| jhub_core::rbac::RoleSpec {
                    name: r.name.clone(),
                    description: r.description.clone(),
                    scopes: Some(r.scopes.clone()),
                })
                .collect(),
        };
        let (rbac, warnings) =
            jhub_core::rbac::Rbac::new(&rbac_config).map_err(|e| HubError::Invalid(e.to_string()))?;
        for warning in warnings {
            tracing::warn!("roles: {warning}");
        }
        let metrics = Arc::new(Metrics::new(clock.clone()));
        let slots = SpawnSlots::new(
            jhub_core::spawn_queue::QueueConfig {
                limit: settings.concurrent_spawn_limit as usize,
                max_length: settings.spawn_queue_max_length,
                enabled: settings.spawn_queue_enabled,
            },
            metrics.clone(),
        );
        let hub = Hub {
            inner: Arc::new(Inner {
                rbac,
                identities: IdentityCache::new(settings.token_cache_ttl),
                settings,
                state: RwLock::new(state),
                locks: WriteLocks::default(),
                store,
                spawner,
                proxy,
                clock: clock.clone(),
                activity: ActivityBuffer::default(),
                metrics,
                slots,
                shutdown: CancellationToken::new(),
                tasks: TaskTracker::new(),
                spawn_cancels: Mutex::new(HashMap::new()),
                proxy_kick: tokio::sync::Notify::new(),
                consecutive_failures: std::sync::atomic::AtomicU32::new(0),
                usage: Mutex::new(jhub_core::usage::SessionBook::new()),
                storage: std::sync::OnceLock::new(),
            }),
        };
        hub.apply_configured_entities().await?;
        hub.load_usage().await?;
        let adopting = std::time::Instant::now();
        hub.adopt_servers().await;
        hub.inner.metrics.init_spawners_duration.histogram(&[]).observe_duration(adopting.elapsed());
        hub.start_background_tasks();
        hub.start_metric_tasks();
        hub.refresh_metrics();
        hub.inner.metrics.hub_startup_duration.histogram(&[]).observe_duration(began.elapsed());
        Ok(hub)
    }

    /// Read access to the in-memory state. Do not hold across `.await`.
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn settings(&self) -> &HubSettings {
        &self.inner.settings
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    pub fn now(&self) -> jhub_core::Timestamp {
        self.inner.clock.now()
    }

    pub fn spawner(&self) -> &Arc<dyn Spawner> {
        &self.inner.spawner
    }

    pub fn rbac(&self) -> &jhub_core::rbac::Rbac {
        &self.inner.rbac
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// A token cancelled when the hub shuts down.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// Stops background tasks, writes pending activity, and waits for
    /// in-flight work to finish (bounded by `grace`). Running servers are
    /// left running: a restarted hub adopts them.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        if tokio::time::timeout(grace, self.inner.tasks.wait()).await.is_err() {
            tracing::warn!("background tasks did not finish within {grace:?}");
        }
        self.flush_activity().await;
    }

    /// Spawns a task tracked for shutdown.
    pub(crate) fn spawn_task<F>(&self, future: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.inner.tasks.spawn(future);
    }

    /// Runs `body` every `period` until shutdown (first run after one period).
    pub(crate) fn every<F, Fut>(&self, name: &'static str, period: Duration, body: F)
    where
        F: Fn(Hub) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        if period.is_zero() {
            return;
        }
        let hub = self.clone();
        let cancel = self.inner.shutdown.clone();
        self.spawn_task(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = ticker.tick() => {
                        let span = tracing::info_span!("task", name);
                        let _entered = span.enter();
                        drop(_entered);
                        body(hub.clone()).await;
                    }
                }
            }
            tracing::debug!(task = name, "stopped");
        });
    }

    fn start_background_tasks(&self) {
        let s = &self.inner.settings;
        self.every("activity-flush", s.activity_flush_interval, |hub| async move { hub.flush_activity().await });
        self.every("server-poll", s.poll_interval, |hub| async move { hub.poll_servers().await });
        self.every("expiry-purge", s.purge_interval, |hub| async move { hub.purge_expired().await });
        self.start_proxy_sync();
        if let Some(policy) = s.cull.clone() {
            let every = policy.every;
            self.every("culler", every, |hub| async move {
                hub.cull_once().await;
            });
        }
    }

    /// Writes coalesced activity now.
    pub async fn flush_activity(&self) {
        let batch = self.inner.activity.take();
        if batch.is_empty() {
            return;
        }
        if let Err(err) = self.inner.store.apply_activity(&batch).await {
            tracing::warn!(error = %err, entries = batch.len(), "could not write activity; will retry");
            self.inner.activity.restore(batch);
        }
    }

    async fn purge_expired(&self) {
        let now = self.now();
        match self.inner.store.purge_expired_tokens(now).await {
            Ok(n) if n > 0 => tracing::info!(count = n, "purged expired tokens"),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "could not purge expired tokens"),
        }
        if let Err(err) = self.inner.store.purge_expired_codes(now).await {
            tracing::warn!(error = %err, "could not purge expired OAuth codes");
        }
        if let Err(err) = self.purge_event_log().await {
            tracing::warn!(error = %err, "could not purge the server event log");
        }
    }

    /// Persist-then-apply for one user's data: serialises with other changes
    /// to that user only. Never hold it across a spawner or proxy call.
    pub(crate) async fn user_gate(&self, name: &str) -> UserGuard<'_> {
        self.inner.locks.user(name).await
    }

    /// Persist-then-apply for changes spanning users (groups, roles,
    /// services, renames, deletions, bulk creation): excludes all writers.
    pub(crate) async fn structure_gate(&self) -> StructureGuard<'_> {
        self.inner.locks.structure().await
    }

    pub(crate) fn not_found_user(name: &str) -> HubError {
        HubError::NotFound(format!("No such user: {name}"))
    }
}

impl Hub {
    /// Spawns waiting in the spawn queue.
    pub fn spawn_queue_length(&self) -> usize {
        self.inner.slots.len()
    }

    /// Progress of a server's current or last spawn (events so far and the
    /// outcome), as the progress stream and the spawn-pending page show it.
    pub fn spawn_progress(&self, user: &str, server: &str) -> Option<crate::progress::ProgressSnapshot> {
        self.read().user(user)?.servers.get(server).map(|s| s.progress.snapshot())
    }
}
