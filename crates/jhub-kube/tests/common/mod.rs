//! Shared fixtures: the simulator served on 127.0.0.1 with the real
//! `kube::Client`, the seed z2jh config (chart defaults + the user's fixed
//! config.yaml, Helm-merged) mapped through jhub-podspec, spawn requests and
//! a progress recorder.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use jhub_core::env::HubEnvSettings;
use jhub_core::names::UrlLayout;
use jhub_core::ports::{ProgressEvent, ProgressSink, SpawnRequest, SpawnUser};
use jhub_kube::{KubeSpawner, KubeSpawnerSettings, WatchSettings};
use jhub_kube_sim::{Delays, LocalServer, Resource, SimConfig, Simulator};
use jhub_podspec::SpawnerConfig;
use jhub_podspec::z2jh::{ReleaseInfo, spawner_config_from_values};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const NS: &str = "jhub";

fn yaml(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: Value = serde_saphyr::from_str(&text).unwrap();
    if value.is_null() { json!({}) } else { value }
}

/// Helm's merge of a values file over the chart defaults: maps merge,
/// anything else replaces, `null` deletes.
fn helm_merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                if value.is_null() {
                    base.shift_remove(key);
                } else if let (Some(existing @ Value::Object(_)), Value::Object(_)) = (base.get_mut(key), value) {
                    helm_merge(existing, value);
                } else {
                    base.insert(key.clone(), value.clone());
                }
            }
        }
        (base, over) => *base = over.clone(),
    }
}

/// The seed user's z2jh config as jhub's binary would build it, release
/// `jupyterhub` in namespace `jhub`.
pub fn seed_config() -> SpawnerConfig {
    let mut values = yaml("z2jh-values.yaml");
    helm_merge(&mut values, &yaml("seed-config-fixed.yaml"));
    if let Value::Object(map) = &mut values {
        map.retain(|_, v| !v.is_null());
    }
    let release = ReleaseInfo {
        name: "jupyterhub".into(),
        namespace: NS.into(),
        chart_name: "jupyterhub".into(),
        chart_version: "4.2.0".into(),
    };
    spawner_config_from_values(&values, &release).expect("the seed config maps without errors")
}

pub fn settings() -> KubeSpawnerSettings {
    KubeSpawnerSettings {
        jupyterhub_version: "6.1.1".into(),
        watch: WatchSettings {
            watch_timeout: Duration::from_secs(60),
            stall_timeout: Duration::from_secs(5),
            page_size: 100,
            max_backoff: Duration::from_millis(500),
        },
        events_per_pod: 64,
        ready_timeout: Duration::from_secs(10),
        fail_fast_unschedulable: true,
    }
}

pub struct Env {
    pub sim: Simulator,
    pub server: LocalServer,
    pub client: kube::Client,
}

impl Env {
    pub async fn start(mut cfg: SimConfig) -> Env {
        let _ = rustls::crypto::ring::default_provider().install_default();
        cfg.delays.bookmark_interval = Duration::from_millis(200);
        let sim = Simulator::start(cfg).unwrap();
        let server = sim.serve_local().await.unwrap();
        let client = kube::Client::try_from(kube::Config::new(server.url.parse().unwrap())).unwrap();
        Env { sim, server, client }
    }

    pub async fn seed() -> Env {
        Env::start(SimConfig::seed_cluster()).await
    }

    pub async fn spawner(&self, cfg: SpawnerConfig) -> KubeSpawner {
        self.spawner_with(cfg, settings()).await
    }

    pub async fn spawner_with(&self, cfg: SpawnerConfig, settings: KubeSpawnerSettings) -> KubeSpawner {
        let spawner = KubeSpawner::new(self.client.clone(), cfg, settings).unwrap();
        spawner.wait_ready().await.unwrap();
        spawner
    }

    pub fn pod(&self, name: &str) -> Option<Value> {
        self.sim.get(Resource::Pods, NS, name)
    }

    pub fn pvc(&self, name: &str) -> Option<Value> {
        self.sim.get(Resource::PersistentVolumeClaims, NS, name)
    }

    pub async fn stop(self) {
        self.server.stop().await;
        self.sim.shutdown().await;
    }
}

pub fn hub_env() -> HubEnvSettings {
    HubEnvSettings {
        layout: UrlLayout::default(),
        api_url: "http://hub:8081/hub/api".into(),
        public_host: String::new(),
        public_url: String::new(),
        admin_access: true,
        cookie_host_prefix_enabled: false,
        cookie_options_json: None,
    }
}

pub fn user(name: &str, id: i64) -> SpawnUser {
    SpawnUser { id, name: name.into(), admin: false, groups: Vec::new() }
}

pub fn request(name: &str, id: i64, options: Value, start_timeout: Duration) -> SpawnRequest {
    SpawnRequest {
        user: user(name, id),
        server_name: String::new(),
        user_options: options,
        api_token: format!("token-of-{name}"),
        hub_env: hub_env(),
        previous_state: json!({}),
        start_timeout,
    }
}

pub fn gpu(choice: &str) -> Value {
    json!({"profile": "gpu-fen-qu", "image": choice})
}

pub fn cpu() -> Value {
    json!({"profile": "cpu-fen-qu", "image": "lab6"})
}

/// Collects progress events.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<ProgressEvent>>>);

impl Recorder {
    pub fn sink(&self) -> ProgressSink {
        let events = self.0.clone();
        Arc::new(move |event| events.lock().unwrap().push(event))
    }

    pub fn events(&self) -> Vec<ProgressEvent> {
        self.0.lock().unwrap().clone()
    }

    pub fn messages(&self) -> Vec<String> {
        self.events().into_iter().map(|e| e.message).collect()
    }
}

pub fn s<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

pub fn fast_delays() -> Delays {
    Delays { bookmark_interval: Duration::from_millis(200), ..Delays::default() }
}
