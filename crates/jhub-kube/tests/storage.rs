//! Users' volumes end to end (issue 16): `jhub_hub::Hub` with the
//! Kubernetes spawner and `KubeStorage` against the simulator, whose
//! StorageClasses, expansion, VolumeSnapshots and kubelet stats follow the
//! real API (see `jhub-kube-sim`'s `storage` module).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use jhub_core::Timestamp;
use jhub_core::model::ServerEventKind;
use jhub_core::ports::{ManualClock, SnapshotKind, Storage, StorageInfo};
use jhub_hub::fakes::MemoryProxy;
use jhub_hub::{Hub, HubError, HubSettings, SpawnCommand, SpawnOutcome, StopReason, StorageSettings};
use jhub_kube::{KubeStorage, KubeStorageSettings, RBAC_RULES, STORAGE_CLUSTER_RBAC_RULES, STORAGE_RBAC_RULES};
use jhub_kube_sim::{Fault, Resource, SimConfig, Verb};
use jhub_store::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn hub_settings() -> HubSettings {
    let mut settings = HubSettings::new("/", "http://hub:8081/hub/api", "http://127.0.0.1:8081");
    settings.hub_env = hub_env();
    settings.start_timeout = Duration::from_secs(20);
    settings.http_timeout = Duration::from_secs(10);
    settings.poll_interval = Duration::from_millis(100);
    settings.proxy_probe_interval = Duration::from_millis(100);
    settings
}

struct World {
    env: Env,
    hub: Hub,
    clock: Arc<ManualClock>,
    storage: Arc<KubeStorage>,
}

const T0: i64 = 1_800_000_000;

/// The seed cluster (class `nfs-csi`), mock HTTP responder on, plus `tweak`.
async fn world(tweak: impl FnOnce(&mut SimConfig), settings: StorageSettings) -> World {
    let mut cfg = SimConfig::seed_cluster().with_mock_http_responder(true);
    tweak(&mut cfg);
    let env = Env::start(cfg).await;
    let spawner = Arc::new(env.spawner(seed_config()).await);
    let clock = Arc::new(ManualClock::new(Timestamp::from_second(T0).unwrap()));
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let hub =
        Hub::start(hub_settings(), store, spawner, Arc::new(MemoryProxy::default()), clock.clone()).await.unwrap();
    let storage_settings = KubeStorageSettings {
        snapshot_class: None,
        restore_wait: Duration::from_secs(20),
        request_timeout: Duration::from_secs(5),
    };
    let storage = Arc::new(KubeStorage::new(env.client.clone(), seed_config(), storage_settings));
    hub.attach_storage(storage.clone(), settings).unwrap();
    hub.create_user("alice", false).await.unwrap();
    World { env, hub, clock, storage }
}

fn manual() -> StorageSettings {
    StorageSettings {
        snapshot_every: None,
        snapshot_keep: 2,
        schedule_check: Duration::from_secs(3600),
        usage_every: None,
    }
}

impl World {
    async fn start(&self) {
        let mut ticket = self
            .hub
            .spawn(SpawnCommand {
                user: "alice".into(),
                server: String::new(),
                user_options: Some(cpu()),
                display_name: None,
            })
            .await
            .unwrap();
        match ticket.wait(Duration::from_secs(30)).await {
            Some(SpawnOutcome::Ready { .. }) => {}
            other => panic!("not ready: {other:?}"),
        }
    }

    async fn stop(&self) {
        let mut stop = self.hub.stop("alice", "", false, StopReason::Requested).await.unwrap();
        assert_eq!(stop.wait(Duration::from_secs(20)).await, Some(Ok(())));
    }

    /// Polls the hub's view of alice's volume until `done` holds.
    async fn info_until(&self, what: &str, done: impl Fn(&StorageInfo) -> bool) -> StorageInfo {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let info = self.hub.storage_info("alice").await.unwrap();
            if done(&info) {
                return info;
            }
            assert!(Instant::now() < deadline, "{what}: {info:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn events(&self, kind: ServerEventKind) -> Vec<serde_json::Value> {
        let from = Timestamp::from_second(0).unwrap();
        let to = Timestamp::from_second(T0 + 10 * 86_400).unwrap();
        let all = self.hub.store().events_for_user("alice", from, to, 1000, None).await.unwrap();
        all.into_iter().filter(|e| e.kind == kind).map(|e| e.detail).collect()
    }

    async fn end(self) {
        self.hub.shutdown(Duration::from_secs(5)).await;
        drop(self.hub);
        self.env.stop().await;
    }
}

#[tokio::test]
async fn resize_grows_offline_and_online_and_refuses_shrink() {
    let w = world(|c| c.expandable_storage_classes = vec!["nfs-csi".into()], manual()).await;
    // No PVC before the first start: a clear 404.
    let none = w.hub.storage_info("alice").await.unwrap_err();
    assert!(matches!(&none, HubError::NotFound(m) if m.contains("claim-alice")), "{none:?}");
    w.start().await;
    let info = w.info_until("bound", |i| i.capacity.is_some()).await;
    assert_eq!(
        (info.pvc.as_str(), info.requested.as_deref(), info.capacity.as_deref()),
        ("claim-alice", Some("100Gi"), Some("100Gi"))
    );
    assert!(info.expandable);
    assert_eq!(info.storage_class.as_deref(), Some("nfs-csi"));

    // Mounted and the driver expands online: done without a restart.
    let after = w.hub.storage_resize("alice", "150Gi", "admin").await.unwrap();
    assert_eq!(after.requested.as_deref(), Some("150Gi"));
    let info = w.info_until("online expansion", |i| i.capacity.as_deref() == Some("150Gi")).await;
    assert!(!info.resize_pending);

    // Shrinking is refused before the cluster is asked.
    let shrink = w.hub.storage_resize("alice", "50Gi", "admin").await.unwrap_err();
    assert!(matches!(&shrink, HubError::Invalid(m) if m.contains("cannot shrink")), "{shrink:?}");
    let bad = w.hub.storage_resize("alice", "lots", "admin").await.unwrap_err();
    assert!(matches!(bad, HubError::Invalid(_)));

    // Not mounted: the file system grows at the next start (FileSystemResizePending).
    w.stop().await;
    w.hub.storage_resize("alice", "200Gi", "admin").await.unwrap();
    let info = w.info_until("pending", |i| i.resize_pending).await;
    assert_eq!(info.capacity.as_deref(), Some("150Gi"));
    assert_eq!(info.requested.as_deref(), Some("200Gi"));
    w.start().await;
    let info = w.info_until("finished at start", |i| i.capacity.as_deref() == Some("200Gi")).await;
    assert!(!info.resize_pending);

    let resized = w.events(ServerEventKind::StorageResized).await;
    assert_eq!(resized.len(), 2, "{resized:?}");
    assert_eq!(resized[0]["from"], "100Gi");
    assert_eq!(resized[0]["to"], "150Gi");
    assert_eq!(resized[1]["to"], "200Gi");
    assert_eq!(resized[1]["by"], "admin");
    w.end().await;
}

#[tokio::test]
async fn offline_expansion_asks_for_a_restart_and_fixed_classes_are_refused() {
    let w = world(
        |c| {
            c.expandable_storage_classes = vec!["nfs-csi".into()];
            c.online_expansion = false;
        },
        manual(),
    )
    .await;
    w.start().await;
    w.info_until("bound", |i| i.capacity.is_some()).await;
    w.hub.storage_resize("alice", "120Gi", "admin").await.unwrap();
    // Running, but the driver cannot grow a mounted file system: restart needed.
    let info = w.info_until("pending while running", |i| i.resize_pending).await;
    assert_eq!(info.capacity.as_deref(), Some("100Gi"));
    w.stop().await;
    w.start().await;
    let info = w.info_until("restart finished it", |i| i.capacity.as_deref() == Some("120Gi")).await;
    assert!(!info.resize_pending);
    w.end().await;

    // A class without allowVolumeExpansion: refused with the reason, nothing changed.
    let w = world(|_| {}, manual()).await;
    w.start().await;
    let info = w.info_until("bound", |i| i.capacity.is_some()).await;
    assert!(!info.expandable);
    let refused = w.hub.storage_resize("alice", "200Gi", "admin").await.unwrap_err();
    assert!(matches!(&refused, HubError::Conflict(m) if m.contains("allowVolumeExpansion")), "{refused:?}");
    assert_eq!(s(&w.env.pvc("claim-alice").unwrap(), "/spec/resources/requests/storage"), "100Gi");
    assert!(w.events(ServerEventKind::StorageResized).await.is_empty());
    w.end().await;
}

#[tokio::test]
async fn snapshot_then_restore_into_the_volume_the_next_start_mounts() {
    let w = world(|c| c.snapshot_classes = vec!["csi-snapclass".into()], manual()).await;
    w.start().await;
    w.info_until("bound", |i| i.capacity.is_some()).await;
    assert!(w.env.sim.set_volume_used_bytes(NS, "claim-alice", 1_111));
    let snap = w.hub.storage_snapshot("alice", "admin").await.unwrap();
    assert_eq!(snap.kind, Some(SnapshotKind::Manual));
    let info = w.info_until("ready", |i| i.snapshots.iter().any(|s| s.name == snap.name && s.ready_to_use)).await;
    assert!(info.snapshots_supported);
    assert_eq!(info.snapshots[0].size.as_deref(), Some("100Gi"));

    // Not while the server runs.
    let running = w.hub.storage_restore("alice", &snap.name, "admin").await.unwrap_err();
    assert!(matches!(&running, HubError::Conflict(m) if m.contains("stop it")), "{running:?}");
    w.stop().await;
    let old_uid = s(&w.env.pvc("claim-alice").unwrap(), "/metadata/uid").to_string();
    assert!(w.env.sim.set_volume_used_bytes(NS, "claim-alice", 9_999));
    let restored = w.hub.storage_restore("alice", &snap.name, "admin").await.unwrap();
    assert_eq!(restored.pvc, "claim-alice");
    let pvc = w.env.pvc("claim-alice").unwrap();
    assert_ne!(s(&pvc, "/metadata/uid"), old_uid, "a fresh claim");
    assert_eq!(s(&pvc, "/spec/dataSource/name"), snap.name);
    assert_eq!(s(&pvc, "/spec/dataSource/kind"), "VolumeSnapshot");
    // The replaced data was kept as a snapshot first.
    let safety = w.env.sim.get(Resource::VolumeSnapshots, NS, &restored.safety_snapshot).expect("safety snapshot");
    assert_eq!(s(&safety, "/metadata/labels/jhub~1snapshot-kind"), "pre-restore");

    // The next start mounts the restored claim and sees the snapshot's content.
    w.start().await;
    let pod = w.env.pod("jupyter-alice").unwrap();
    let claims: Vec<&str> = pod["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.pointer("/persistentVolumeClaim/claimName").and_then(|c| c.as_str()))
        .collect();
    assert_eq!(claims, vec!["claim-alice"]);
    assert_eq!(s(&w.env.pvc("claim-alice").unwrap(), "/status/phase"), "Bound");
    w.hub.refresh_storage_usage().await;
    assert_eq!(
        w.hub.storage_used_bytes().get("alice"),
        Some(&1_111),
        "restored content, not the 9999 of the old volume"
    );
    let metrics = w.hub.metrics().encode();
    assert!(metrics.contains("jhub_user_storage_used_bytes{user=\"alice\"} 1111"), "{metrics}");
    assert_eq!(w.hub.storage_info("alice").await.unwrap().used_bytes, Some(1_111));

    let restores = w.events(ServerEventKind::StorageRestored).await;
    assert_eq!(restores.len(), 1);
    assert_eq!(restores[0]["snapshot"], snap.name.as_str());
    assert_eq!(restores[0]["safety_snapshot"], restored.safety_snapshot.as_str());
    let taken = w.events(ServerEventKind::SnapshotTaken).await;
    assert_eq!(taken.len(), 1, "the manual one (the safety snapshot is part of the restore event)");
    w.end().await;
}

#[tokio::test]
async fn scheduled_snapshots_follow_the_period_and_retention() {
    let settings = StorageSettings {
        snapshot_every: Some(Duration::from_secs(3600)),
        snapshot_keep: 2,
        schedule_check: Duration::from_secs(3600),
        usage_every: None,
    };
    let w = world(|c| c.snapshot_classes = vec!["csi-snapclass".into()], settings).await;
    w.start().await;
    w.info_until("bound", |i| i.capacity.is_some()).await;
    let manual = w.hub.storage_snapshot("alice", "admin").await.unwrap();
    let scheduled = |info: &StorageInfo| -> Vec<String> {
        info.snapshots.iter().filter(|s| s.kind == Some(SnapshotKind::Scheduled)).map(|s| s.name.clone()).collect()
    };
    w.hub.snapshot_sweep().await;
    let first = scheduled(&w.hub.storage_info("alice").await.unwrap());
    assert_eq!(first.len(), 1);
    // Not due yet ten minutes later.
    w.clock.advance(Duration::from_secs(600));
    w.hub.snapshot_sweep().await;
    assert_eq!(scheduled(&w.hub.storage_info("alice").await.unwrap()), first);
    for _ in 0..2 {
        w.clock.advance(Duration::from_secs(3600));
        w.hub.snapshot_sweep().await;
    }
    let info = w.hub.storage_info("alice").await.unwrap();
    let kept = scheduled(&info);
    assert_eq!(kept.len(), 2, "keep 2: {kept:?}");
    assert!(!kept.contains(&first[0]), "the oldest scheduled one is deleted: {kept:?}");
    assert!(info.snapshots.iter().any(|s| s.name == manual.name), "manual snapshots are never deleted by retention");
    let taken = w.events(ServerEventKind::SnapshotTaken).await;
    assert_eq!(taken.iter().filter(|d| d["kind"] == "scheduled").count(), 3);
    w.end().await;
}

#[tokio::test]
async fn without_csi_snapshots_the_objects_are_exported() {
    let w = world(|c| c.snapshot_crds = false, manual()).await;
    w.start().await;
    let info = w.info_until("bound", |i| i.capacity.is_some()).await;
    assert!(!info.snapshots_supported);
    let refused = w.hub.storage_snapshot("alice", "admin").await.unwrap_err();
    assert!(matches!(&refused, HubError::Conflict(m) if m.contains("export")), "{refused:?}");
    let exported = w.hub.storage_export("alice").await.unwrap();
    let items = exported["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["kind"], "PersistentVolume");
    assert_eq!(items[0]["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    assert_eq!(items[0]["spec"]["claimRef"]["name"], "claim-alice");
    assert!(items[0]["spec"]["claimRef"].get("uid").is_none());
    assert_eq!(items[1]["kind"], "PersistentVolumeClaim");
    assert!(items[1].get("status").is_none() && items[1]["metadata"].get("uid").is_none());
    w.end().await;
}

#[tokio::test]
async fn used_bytes_degrade_quietly_without_node_proxy_rbac() {
    let w = world(|_| {}, manual()).await;
    w.start().await;
    w.info_until("bound", |i| i.capacity.is_some()).await;
    assert!(w.env.sim.set_volume_used_bytes(NS, "claim-alice", 4_096));
    // RBAC without nodes/proxy: 403 from the API server.
    w.env.sim.inject_fault(Fault::error(Some(Verb::Get), Some(Resource::Nodes), 403, None));
    w.hub.refresh_storage_usage().await;
    assert!(w.hub.storage_used_bytes().is_empty());
    assert_eq!(w.hub.storage_info("alice").await.unwrap().used_bytes, None);
    assert!(!w.hub.metrics().encode().contains("jhub_user_storage_used_bytes{"));
    w.env.sim.clear_faults();
    w.hub.refresh_storage_usage().await;
    assert_eq!(w.hub.storage_used_bytes().get("alice"), Some(&4_096));
    assert_eq!(w.storage.used_bytes().await.unwrap().get("claim-alice"), Some(&4_096));
    w.end().await;
}

/// Every call the storage code made is in the RBAC tables the chart renders.
#[tokio::test]
async fn storage_calls_stay_within_the_rbac_rules() {
    let w = world(
        |c| {
            c.expandable_storage_classes = vec!["nfs-csi".into()];
            c.snapshot_classes = vec!["csi-snapclass".into()];
        },
        manual(),
    )
    .await;
    w.start().await;
    w.info_until("bound", |i| i.capacity.is_some()).await;
    w.env.sim.reset_request_counts();
    w.hub.storage_resize("alice", "101Gi", "admin").await.unwrap();
    let snap = w.hub.storage_snapshot("alice", "admin").await.unwrap();
    w.info_until("ready", |i| i.snapshots.iter().any(|s| s.name == snap.name && s.ready_to_use)).await;
    w.hub.refresh_storage_usage().await;
    w.hub.storage_export("alice").await.unwrap();
    w.stop().await;
    w.hub.storage_restore("alice", &snap.name, "admin").await.unwrap();
    let allowed = |verb: &str, resource: &str| {
        RBAC_RULES
            .iter()
            .chain(STORAGE_RBAC_RULES)
            .chain(STORAGE_CLUSTER_RBAC_RULES)
            .any(|(_, r, verbs)| *r == resource && verbs.contains(&verb))
    };
    let counts = w.env.sim.request_counts();
    for ((verb, resource), n) in &counts.0 {
        // The spawner's own calls during stop are covered by its own test.
        assert!(allowed(verb.as_str(), resource), "{verb} {resource} ({n} calls) is not in the RBAC rules");
    }
    for needed in [("patch", "persistentvolumeclaims"), ("create", "volumesnapshots"), ("get", "nodes/proxy")] {
        assert!(
            counts.0.contains_key(&(verb_of(needed.0), needed.1.to_string())),
            "{needed:?} never called: {counts:?}"
        );
    }
    w.end().await;
}

fn verb_of(text: &str) -> Verb {
    match text {
        "patch" => Verb::Patch,
        "create" => Verb::Create,
        _ => Verb::Get,
    }
}

#[tokio::test]
async fn a_named_snapshot_class_is_used_and_a_missing_one_refused() {
    let mut cfg = SimConfig::seed_cluster();
    cfg.snapshot_classes = vec!["default-snap".into(), "other-snap".into()];
    let env = Env::start(cfg).await;
    env.sim
        .create(
            Resource::PersistentVolumeClaims,
            NS,
            serde_json::json!({"metadata": {"name": "claim-alice"},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "nfs-csi",
                         "resources": {"requests": {"storage": "1Gi"}}}}),
        )
        .unwrap();
    assert!(
        env.sim
            .wait_until(Duration::from_secs(5), |sim| {
                sim.get(Resource::PersistentVolumeClaims, NS, "claim-alice")
                    .is_some_and(|p| s(&p, "/status/phase") == "Bound")
            })
            .await
    );
    let owner = jhub_core::ports::StorageOwner { user: "alice".into(), user_id: 1, state: serde_json::Value::Null };
    let at = Timestamp::from_second(T0).unwrap();
    let named =
        |class: &str| KubeStorageSettings { snapshot_class: Some(class.into()), ..KubeStorageSettings::default() };
    let storage = KubeStorage::new(env.client.clone(), seed_config(), named("other-snap"));
    let snap = storage.snapshot(&owner, SnapshotKind::Manual, at).await.unwrap();
    let object = env.sim.get(Resource::VolumeSnapshots, NS, &snap.name).unwrap();
    assert_eq!(s(&object, "/spec/volumeSnapshotClassName"), "other-snap");
    let default = KubeStorage::new(env.client.clone(), seed_config(), KubeStorageSettings::default());
    let snap = default.snapshot(&owner, SnapshotKind::Manual, Timestamp::from_second(T0 + 1).unwrap()).await.unwrap();
    let object = env.sim.get(Resource::VolumeSnapshots, NS, &snap.name).unwrap();
    assert_eq!(s(&object, "/spec/volumeSnapshotClassName"), "default-snap", "the annotated default class");
    let missing = KubeStorage::new(env.client.clone(), seed_config(), named("missing-snap"));
    let refused = missing.snapshot(&owner, SnapshotKind::Manual, at).await.unwrap_err();
    assert!(
        matches!(&refused, jhub_core::ports::StorageError::Refused(m) if m.contains("missing-snap")),
        "{refused:?}"
    );
    env.stop().await;
}
