//! `/hub/api/jhub/users/{name}/storage...` over HTTP with an in-memory
//! `Storage` port: the JSON contract the admin page reads, status codes of
//! refusals, restore refused while the server runs, YAML export, scopes.
//! (The Kubernetes behaviour behind the port: `jhub-kube/tests/storage.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use async_trait::async_trait;
use jhub_core::Timestamp;
use jhub_core::ports::{Restored, SnapshotKind, Storage, StorageError, StorageInfo, StorageOwner, VolumeSnapshot};
use jhub_hub::StorageSettings;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One volume, `claim-alice`, in memory.
#[derive(Default)]
struct FakeStorage {
    requested: Mutex<String>,
    snapshots: Mutex<Vec<VolumeSnapshot>>,
    /// When set, a restore says it started, then waits to be released.
    hold: Option<(Arc<tokio::sync::Notify>, Arc<tokio::sync::Notify>)>,
}

impl FakeStorage {
    fn info(&self) -> StorageInfo {
        let requested = self.requested.lock().unwrap().clone();
        StorageInfo {
            pvc: "claim-alice".into(),
            capacity: Some("10Gi".into()),
            resize_pending: requested != "10Gi",
            requested: Some(requested),
            used_bytes: Some(2048),
            storage_class: Some("fast".into()),
            expandable: true,
            snapshots: self.snapshots.lock().unwrap().clone(),
            snapshots_supported: true,
        }
    }

    fn check(owner: &StorageOwner) -> Result<(), StorageError> {
        if owner.user == "alice" {
            Ok(())
        } else {
            Err(StorageError::NotFound(format!("{} has no volume", owner.user)))
        }
    }
}

#[async_trait]
impl Storage for FakeStorage {
    fn pvc_name(&self, owner: &StorageOwner) -> Result<String, StorageError> {
        Ok(format!("claim-{}", owner.user))
    }
    async fn describe(&self, owner: &StorageOwner) -> Result<StorageInfo, StorageError> {
        Self::check(owner)?;
        Ok(self.info())
    }
    async fn resize(&self, owner: &StorageOwner, capacity: &str) -> Result<StorageInfo, StorageError> {
        Self::check(owner)?;
        let current = self.requested.lock().unwrap().clone();
        jhub_core::storage::check_resize(&current, capacity, Some("fast"), true)?;
        *self.requested.lock().unwrap() = capacity.to_string();
        Ok(self.info())
    }
    async fn snapshot(
        &self,
        owner: &StorageOwner,
        kind: SnapshotKind,
        at: Timestamp,
    ) -> Result<VolumeSnapshot, StorageError> {
        Self::check(owner)?;
        let snap = VolumeSnapshot {
            name: jhub_core::storage::snapshot_name("claim-alice", kind, at),
            created: Some(jhub_core::time::isoformat(at)),
            ready_to_use: true,
            size: Some("10Gi".into()),
            kind: Some(kind),
            error: None,
        };
        self.snapshots.lock().unwrap().insert(0, snap.clone());
        Ok(snap)
    }
    async fn delete_snapshot(&self, _owner: &StorageOwner, name: &str) -> Result<(), StorageError> {
        self.snapshots.lock().unwrap().retain(|s| s.name != name);
        Ok(())
    }
    async fn restore(&self, owner: &StorageOwner, snapshot: &str, _at: Timestamp) -> Result<Restored, StorageError> {
        Self::check(owner)?;
        if !self.snapshots.lock().unwrap().iter().any(|s| s.name == snapshot) {
            return Err(StorageError::NotFound(format!("no snapshot named {snapshot}")));
        }
        if let Some((started, release)) = &self.hold {
            started.notify_one();
            release.notified().await;
        }
        Ok(Restored {
            pvc: "claim-alice".into(),
            snapshot: snapshot.into(),
            safety_snapshot: "claim-alice-pre-restore-x".into(),
        })
    }
    async fn export(&self, owner: &StorageOwner) -> Result<Value, StorageError> {
        Self::check(owner)?;
        Ok(
            json!({"apiVersion": "v1", "kind": "List", "items": [{"kind": "PersistentVolumeClaim", "metadata": {"name": "claim-alice"}}]}),
        )
    }
    async fn used_bytes(&self) -> Result<BTreeMap<String, u64>, StorageError> {
        Ok(BTreeMap::from([("claim-alice".to_string(), 2048)]))
    }
}

const BASE: &str = "/jhub/users/alice/storage";

#[tokio::test]
async fn storage_api_contract_refusals_and_scopes() {
    let hub = common::start().await;
    hub.hub.create_user("alice", false).await.unwrap();
    hub.hub.create_user("bob", false).await.unwrap();
    // Without the Kubernetes spawner there is no storage management: said so.
    let (status, body) = hub.admin(Method::GET, BASE, None).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["message"].as_str().unwrap().contains("Kubernetes spawner"), "{body}");

    let fake = Arc::new(FakeStorage::default());
    *fake.requested.lock().unwrap() = "10Gi".into();
    let settings = StorageSettings { usage_every: None, ..StorageSettings::default() };
    hub.hub.attach_storage(fake.clone(), settings).unwrap();

    let (status, body) = hub.admin(Method::GET, BASE, None).await;
    assert_eq!(status, 200, "{body}");
    for key in [
        "pvc",
        "capacity",
        "requested",
        "used_bytes",
        "storage_class",
        "expandable",
        "resize_pending",
        "snapshots",
        "snapshots_supported",
    ] {
        assert!(body.get(key).is_some(), "{key} missing: {body}");
    }
    assert_eq!(body["pvc"], "claim-alice");
    assert_eq!(body["used_bytes"], 2048);
    let (status, body) = hub.admin(Method::GET, "/jhub/users/bob/storage", None).await;
    assert_eq!((status, body["message"].as_str()), (404, Some("bob has no volume")));
    let (status, _) = hub.admin(Method::GET, "/jhub/users/nobody/storage", None).await;
    assert_eq!(status, 404);

    // Resize: grow, then refusals with messages.
    let (status, body) = hub.admin(Method::POST, &format!("{BASE}/resize"), Some(json!({"capacity": "20Gi"}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["requested"], "20Gi");
    assert_eq!(body["resize_pending"], true);
    assert_eq!(body["resize_message"], "restart the server to finish the resize");
    let (status, body) = hub.admin(Method::POST, &format!("{BASE}/resize"), Some(json!({"capacity": "5Gi"}))).await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("cannot shrink"), "{body}");
    let (status, _) = hub.admin(Method::POST, &format!("{BASE}/resize"), None).await;
    assert_eq!(status, 400);
    let (status, body) = hub.admin(Method::POST, &format!("{BASE}/resize"), Some(json!({"size": "30Gi"}))).await;
    assert_eq!(status, 400, "{body}");

    // Snapshot now: 201 with the snapshot.
    let (status, snap) = hub.admin(Method::POST, &format!("{BASE}/snapshots"), None).await;
    assert_eq!(status, 201, "{snap}");
    assert_eq!(snap["kind"], "manual");
    let name = snap["name"].as_str().unwrap().to_string();

    // Restore: refused while the server runs, then done.
    let (status, _) = hub.admin(Method::POST, "/users/alice/server", None).await;
    assert!(status == 201 || status == 202);
    hub.wait_for("ready", |h| h.read().user("alice").is_some_and(|e| e.any_ready())).await;
    let (status, body) = hub.admin(Method::POST, &format!("{BASE}/restore"), Some(json!({"snapshot": name}))).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["message"].as_str().unwrap().contains("stop it"), "{body}");
    let (status, _) = hub.admin(Method::DELETE, "/users/alice/server", None).await;
    assert!(status == 204 || status == 202);
    hub.wait_for("stopped", |h| h.read().user("alice").is_some_and(|e| !e.any_active())).await;
    let (status, body) = hub.admin(Method::POST, &format!("{BASE}/restore"), Some(json!({"snapshot": name}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["safety_snapshot"], "claim-alice-pre-restore-x");
    let (status, _) = hub.admin(Method::POST, &format!("{BASE}/restore"), Some(json!({"snapshot": "nope"}))).await;
    assert_eq!(status, 404);

    // Export: JSON by default, YAML when asked.
    let (status, body) = hub.admin(Method::GET, &format!("{BASE}/export"), None).await;
    assert_eq!((status, body["kind"].as_str()), (200, Some("List")));
    let response = hub.req(Method::GET, &format!("{BASE}/export?format=yaml"), &hub.admin_token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/yaml; charset=utf-8");
    assert!(response.text().await.unwrap().contains("kind: PersistentVolumeClaim"));

    // Scopes: admin:servers on the user. A user may not manage even their own volume.
    let alice = hub.token_for("alice", None).await;
    assert_eq!(hub.get(BASE, &alice).await.0, 403);
    let (status, _, _) = hub.call(Method::POST, &format!("{BASE}/snapshots"), &alice, None).await;
    assert_eq!(status, 403);
    let reader = hub.token_for("admin", Some(&["read:servers"])).await;
    assert_eq!(hub.get(BASE, &reader).await.0, 403);
}

/// While a restore runs, the user's server cannot start (checked under the
/// hub's write gate, where the restore checked that nothing runs).
#[tokio::test]
async fn spawns_wait_for_a_running_restore() {
    let hub = common::start().await;
    hub.hub.create_user("alice", false).await.unwrap();
    let started = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let fake = Arc::new(FakeStorage { hold: Some((started.clone(), release.clone())), ..FakeStorage::default() });
    *fake.requested.lock().unwrap() = "10Gi".into();
    hub.hub.attach_storage(fake.clone(), StorageSettings { usage_every: None, ..StorageSettings::default() }).unwrap();
    let (status, snap) = hub.admin(Method::POST, &format!("{BASE}/snapshots"), None).await;
    assert_eq!(status, 201);
    let name = snap["name"].as_str().unwrap().to_string();
    let restoring = {
        let (url, token) = (hub.api(&format!("{BASE}/restore")), hub.admin_token.clone());
        let client = hub.client();
        tokio::spawn(async move {
            client
                .post(url)
                .header("Authorization", format!("token {token}"))
                .json(&json!({"snapshot": name}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), started.notified()).await.expect("restore started");
    assert!(hub.hub.storage_restoring("alice"));
    let (status, body) = hub.admin(Method::POST, "/users/alice/server", None).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["message"].as_str().unwrap().contains("being restored"), "{body}");
    // A second restore of the same volume is refused too.
    let (status, _) = hub.admin(Method::POST, &format!("{BASE}/restore"), Some(json!({"snapshot": "x"}))).await;
    assert_eq!(status, 409);
    release.notify_one();
    assert_eq!(restoring.await.unwrap(), 200);
    assert!(!hub.hub.storage_restoring("alice"));
    let (status, _) = hub.admin(Method::POST, "/users/alice/server", None).await;
    assert!(status == 201 || status == 202, "{status}");
}
