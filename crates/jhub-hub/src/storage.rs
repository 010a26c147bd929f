//! Users' volumes as operator actions (issue 16): resize, snapshots on
//! demand and on a schedule with retention, restore while the server is
//! stopped, export of the PV+PVC objects, used bytes as a metric.
//!
//! The Kubernetes work is the [`Storage`] port's (`jhub-kube::storage`);
//! this module decides when: a restore only while every server of the user
//! is stopped (and spawns of that user wait it out), scheduled snapshots
//! when the newest scheduled one is older than the period, retention of
//! the newest `keep` scheduled ones. Every action is appended to the server
//! event log of the user's default server.

use crate::error::{HubError, HubResult};
use crate::hub::Hub;
use jhub_core::model::ServerEventKind;
use jhub_core::ports::{Restored, SnapshotKind, Storage, StorageError, StorageInfo, StorageOwner, VolumeSnapshot};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// When and how much the hub does on its own (`hub.config.JhubStorage`).
#[derive(Debug, Clone, PartialEq)]
pub struct StorageSettings {
    /// Take a scheduled snapshot of each user's volume this often (`None`: never).
    pub snapshot_every: Option<Duration>,
    /// Scheduled snapshots kept per volume (older ones are deleted).
    pub snapshot_keep: usize,
    /// How often the schedule is checked.
    pub schedule_check: Duration,
    /// How often used bytes are read from the kubelets (`None`: never).
    pub usage_every: Option<Duration>,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            snapshot_every: None,
            snapshot_keep: 7,
            schedule_check: Duration::from_secs(300),
            usage_every: Some(Duration::from_secs(120)),
        }
    }
}

/// The storage port and what the hub keeps about it.
pub(crate) struct StorageService {
    port: Arc<dyn Storage>,
    settings: StorageSettings,
    /// Users whose volume is being restored: their spawns are refused.
    restoring: Mutex<BTreeSet<String>>,
    /// Used bytes per user from the last sweep.
    used: Mutex<BTreeMap<String, u64>>,
}

fn storage_error(err: StorageError) -> HubError {
    match err {
        StorageError::NotFound(m) => HubError::NotFound(m),
        StorageError::Invalid(m) => HubError::Invalid(m),
        StorageError::Refused(m) => HubError::Conflict(m),
        e @ StorageError::Backend(_) => HubError::Backend(e.to_string()),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Releases a user's restore mark however the restore ends.
struct RestoreMark<'a> {
    service: &'a StorageService,
    user: String,
}

impl Drop for RestoreMark<'_> {
    fn drop(&mut self) {
        lock(&self.service.restoring).remove(&self.user);
    }
}

impl Hub {
    /// Turns the storage features on (the binary does, with the Kubernetes
    /// spawner) and starts the snapshot schedule and the used-bytes sweep.
    /// A second call is refused.
    pub fn attach_storage(&self, port: Arc<dyn Storage>, settings: StorageSettings) -> HubResult<()> {
        let service = StorageService {
            port,
            settings: settings.clone(),
            restoring: Mutex::new(BTreeSet::new()),
            used: Mutex::new(BTreeMap::new()),
        };
        if self.inner.storage.set(service).is_err() {
            return Err(HubError::Conflict("storage is already attached".into()));
        }
        if let Some(every) = settings.snapshot_every {
            tracing::info!(
                every_secs = every.as_secs(),
                keep = settings.snapshot_keep,
                "scheduled volume snapshots on"
            );
            self.every("storage-snapshots", settings.schedule_check, |hub| async move { hub.snapshot_sweep().await });
        }
        if let Some(every) = settings.usage_every {
            let hub = self.clone();
            self.spawn_task(async move { hub.refresh_storage_usage().await });
            self.every("storage-usage", every, |hub| async move { hub.refresh_storage_usage().await });
        }
        Ok(())
    }

    /// Whether storage features are on.
    pub fn storage_enabled(&self) -> bool {
        self.inner.storage.get().is_some()
    }

    fn storage(&self) -> HubResult<&StorageService> {
        self.inner.storage.get().ok_or_else(|| {
            HubError::Conflict("storage management needs the Kubernetes spawner; it is not enabled on this hub".into())
        })
    }

    fn storage_owner(&self, user: &str) -> HubResult<(StorageOwner, bool)> {
        let state = self.read();
        let entry = state.user(user).ok_or_else(|| Hub::not_found_user(user))?;
        let server_state = entry.servers.get("").map(|s| s.server.state.clone()).unwrap_or(Value::Null);
        let active = entry.any_active();
        Ok((StorageOwner { user: entry.user.name.clone(), user_id: entry.user.id, state: server_state }, active))
    }

    /// Whether `user`'s volume is being restored (a spawn must wait).
    pub fn storage_restoring(&self, user: &str) -> bool {
        self.inner.storage.get().is_some_and(|s| lock(&s.restoring).contains(user))
    }

    /// The user's volume: sizes, class, resize state, snapshots.
    pub async fn storage_info(&self, user: &str) -> HubResult<StorageInfo> {
        let service = self.storage()?;
        let (owner, _) = self.storage_owner(user)?;
        service.port.describe(&owner).await.map_err(storage_error)
    }

    /// Grows the user's volume to `capacity`; `by` is who asked (for the log).
    pub async fn storage_resize(&self, user: &str, capacity: &str, by: &str) -> HubResult<StorageInfo> {
        let service = self.storage()?;
        let (owner, _) = self.storage_owner(user)?;
        let before = service.port.describe(&owner).await.map_err(storage_error)?;
        let after = service.port.resize(&owner, capacity).await.map_err(storage_error)?;
        if before.requested != after.requested {
            let detail = json!({
                "pvc": after.pvc, "from": before.requested, "to": after.requested, "by": by,
                "resize_pending": after.resize_pending,
            });
            self.record_event(Some(owner.user_id), user, "", ServerEventKind::StorageResized, self.now(), detail).await;
        }
        Ok(after)
    }

    /// Takes a snapshot of the user's volume now.
    pub async fn storage_snapshot(&self, user: &str, by: &str) -> HubResult<VolumeSnapshot> {
        self.take_snapshot(user, SnapshotKind::Manual, by).await
    }

    async fn take_snapshot(&self, user: &str, kind: SnapshotKind, by: &str) -> HubResult<VolumeSnapshot> {
        let service = self.storage()?;
        let (owner, _) = self.storage_owner(user)?;
        let snap = service.port.snapshot(&owner, kind, self.now()).await.map_err(storage_error)?;
        let detail = json!({"snapshot": snap.name, "kind": kind.as_str(), "by": by});
        self.record_event(Some(owner.user_id), user, "", ServerEventKind::SnapshotTaken, self.now(), detail).await;
        Ok(snap)
    }

    /// Replaces the user's volume with one made from `snapshot`. Refused
    /// while any server of the user runs or is pending; spawns of the user
    /// are refused until it ends.
    pub async fn storage_restore(&self, user: &str, snapshot: &str, by: &str) -> HubResult<Restored> {
        let service = self.storage()?;
        if snapshot.trim().is_empty() {
            return Err(HubError::Invalid("name the snapshot to restore: {\"snapshot\": \"<name>\"}".into()));
        }
        if !lock(&service.restoring).insert(user.to_string()) {
            return Err(HubError::Conflict(format!("{user}'s volume is already being restored")));
        }
        let _mark = RestoreMark { service, user: user.to_string() };
        let owner = {
            // Under the user's write lock: no spawn can be between its check and its write.
            let _gate = self.user_gate(user).await;
            let (owner, active) = self.storage_owner(user)?;
            if active {
                return Err(HubError::Conflict(format!(
                    "{user}'s server is running or pending: stop it before restoring the volume"
                )));
            }
            owner
        };
        let restored = service.port.restore(&owner, snapshot, self.now()).await.map_err(storage_error)?;
        let detail = json!({
            "pvc": restored.pvc, "snapshot": restored.snapshot, "safety_snapshot": restored.safety_snapshot, "by": by,
        });
        self.record_event(Some(owner.user_id), user, "", ServerEventKind::StorageRestored, self.now(), detail).await;
        Ok(restored)
    }

    /// The PV and PVC objects of the user's volume (for a backup by hand).
    pub async fn storage_export(&self, user: &str) -> HubResult<Value> {
        let service = self.storage()?;
        let (owner, _) = self.storage_owner(user)?;
        service.port.export(&owner).await.map_err(storage_error)
    }

    /// One pass of the schedule: a snapshot of every user's volume whose
    /// newest scheduled snapshot is older than the period, then retention.
    pub async fn snapshot_sweep(&self) {
        let Some(service) = self.inner.storage.get() else { return };
        let Some(every) = service.settings.snapshot_every else { return };
        let users: Vec<String> = self.read().users.values().map(|u| u.user.name.clone()).collect();
        for user in users {
            let Ok((owner, _)) = self.storage_owner(&user) else { continue };
            let info = match service.port.describe(&owner).await {
                Ok(info) => info,
                Err(StorageError::NotFound(_)) => continue,
                Err(err) => {
                    tracing::warn!(%user, error = %err, "scheduled snapshot: cannot read the volume");
                    continue;
                }
            };
            if !info.snapshots_supported {
                tracing::debug!(%user, "scheduled snapshot skipped: no snapshot support");
                continue;
            }
            let mut snapshots = info.snapshots;
            let newest = jhub_core::storage::newest_scheduled(&snapshots);
            if jhub_core::storage::snapshot_due(newest, self.now(), every) {
                match self.take_snapshot(&user, SnapshotKind::Scheduled, "schedule").await {
                    Ok(snap) => snapshots.insert(0, snap),
                    Err(err) => {
                        tracing::warn!(%user, error = %err, "scheduled snapshot failed");
                        continue;
                    }
                }
            }
            for name in jhub_core::storage::expired_snapshots(&snapshots, service.settings.snapshot_keep) {
                match service.port.delete_snapshot(&owner, &name).await {
                    Ok(()) => tracing::info!(%user, snapshot = %name, "deleted a scheduled snapshot (retention)"),
                    Err(err) => tracing::warn!(%user, snapshot = %name, error = %err, "retention: delete failed"),
                }
            }
        }
    }

    /// Reads used bytes from the kubelets and maps them to users.
    pub async fn refresh_storage_usage(&self) {
        let Some(service) = self.inner.storage.get() else { return };
        let by_pvc = match service.port.used_bytes().await {
            Ok(found) => found,
            Err(err) => {
                tracing::debug!(error = %err, "volume usage not refreshed");
                return;
            }
        };
        let owners: Vec<StorageOwner> = {
            let state = self.read();
            state
                .users
                .values()
                .map(|u| StorageOwner {
                    user: u.user.name.clone(),
                    user_id: u.user.id,
                    state: u.servers.get("").map(|s| s.server.state.clone()).unwrap_or(Value::Null),
                })
                .collect()
        };
        let mut by_user = BTreeMap::new();
        for owner in owners {
            if let Ok(pvc) = service.port.pvc_name(&owner)
                && let Some(bytes) = by_pvc.get(&pvc)
            {
                by_user.insert(owner.user, *bytes);
            }
        }
        let series = by_user.iter().map(|(user, bytes)| (vec![user.clone()], *bytes as f64)).collect();
        self.inner.metrics.user_storage_used_bytes.replace_gauges(series);
        *lock(&service.used) = by_user;
    }

    /// Used bytes per user from the last sweep (empty when unknown).
    pub fn storage_used_bytes(&self) -> BTreeMap<String, u64> {
        self.inner.storage.get().map(|s| lock(&s.used).clone()).unwrap_or_default()
    }
}
