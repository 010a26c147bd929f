//! Live GPU capacity against the simulator's seed cluster (l1: 2 A100,
//! l2: 2 P100): the numbers follow servers starting and stopping, pods of
//! other namespaces count, a server of a full option waits with the
//! scheduler's reason and starts when a GPU frees, and without permission to
//! list nodes there are no numbers and no errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use jhub_core::capacity::CapacityReport;
use jhub_core::ports::{Capacity, Spawner};
use jhub_kube::NodeCapacity;
use jhub_kube_sim::{Fault, Resource, Verb};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn free(report: &CapacityReport, choice: &str) -> u64 {
    report.find("gpu-fen-qu", Some("image"), Some(choice)).map(|o| o.free).unwrap_or_else(|| panic!("{report:?}"))
}

/// Waits until the view reports `want` as (A100 free, P100 free).
async fn wait_for(capacity: &NodeCapacity, want: (u64, u64)) -> Arc<CapacityReport> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(report) = capacity.for_groups(&[]) {
            if (free(&report, "A100x1"), free(&report, "P100x1")) == want {
                return report;
            }
            last = Some(report);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("capacity never became {want:?}; last {last:?}");
}

#[tokio::test]
async fn numbers_follow_servers_starting_and_stopping() {
    let env = Env::seed().await;
    let cfg = seed_config();
    assert!(jhub_kube::capacity::has_targets(&cfg));
    let spawner = env.spawner(cfg.clone()).await;
    let capacity = NodeCapacity::start(&env.client, cfg, &settings().watch);

    let report = wait_for(&capacity, (2, 2)).await;
    // Only the GPU choices are reported; the CPU profile's hosts are not.
    assert_eq!(report.options.len(), 2, "{report:?}");
    let a100 = report.find("gpu-fen-qu", Some("image"), Some("A100x1")).unwrap();
    assert_eq!(a100.nodes.iter().map(|n| (n.name.as_str(), n.free)).collect::<Vec<_>>(), [("l1", 2)]);
    assert_eq!(a100.requests.get("nvidia.com/gpu").map(String::as_str), Some("1"));

    let g1 = spawner.start(request("g1", 1, gpu("A100x1"), Duration::from_secs(20)), Recorder::default().sink()).await;
    let g1 = g1.unwrap();
    wait_for(&capacity, (1, 2)).await;
    spawner.start(request("g2", 2, gpu("A100x1"), Duration::from_secs(20)), Recorder::default().sink()).await.unwrap();
    spawner.start(request("p1", 3, gpu("P100x1"), Duration::from_secs(20)), Recorder::default().sink()).await.unwrap();
    wait_for(&capacity, (0, 1)).await;

    // A pod of another namespace holding a P100 counts too.
    env.sim
        .create(
            Resource::Pods,
            "default",
            json!({"metadata": {"name": "training"}, "spec": {
                "nodeSelector": {"gputype": "P100"},
                "containers": [{"name": "t", "image": "busybox", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}),
        )
        .unwrap();
    wait_for(&capacity, (0, 0)).await;

    // A100 is full: the server waits, with the scheduler's reason in progress,
    // and starts once g1 stops.
    let progress = Recorder::default();
    let waiting = {
        let spawner = Arc::new(spawner);
        let s = spawner.clone();
        let sink = progress.sink();
        (
            spawner,
            tokio::spawn(async move { s.start(request("g3", 4, gpu("A100x1"), Duration::from_secs(30)), sink).await }),
        )
    };
    let (spawner, handle) = waiting;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !progress.messages().iter().any(|m| m.contains("Insufficient nvidia.com/gpu")) {
        assert!(Instant::now() < deadline, "no scheduling reason in progress: {:?}", progress.messages());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(free(&capacity.for_groups(&[]).unwrap(), "A100x1"), 0, "a pending pod holds nothing yet");
    spawner.stop("g1", "", &g1.state, false).await.unwrap();
    let g3 = handle.await.unwrap().expect("g3 starts once a GPU is free");
    assert_eq!(g3.resources["node"], "l1");
    wait_for(&capacity, (0, 0)).await;

    // The deleted training pod frees its P100.
    env.sim.delete(Resource::Pods, "default", "training", Some(0)).unwrap();
    wait_for(&capacity, (0, 1)).await;
    drop(capacity);
    drop(spawner);
    env.stop().await;
}

/// Log lines written while the guard lives (this thread's tasks: `#[tokio::test]` runs on one).
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines_with(&self, needle: &str) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        text.lines().filter(|l| l.contains(needle)).map(str::to_string).collect()
    }
}

#[tokio::test]
async fn without_permission_to_list_nodes_there_are_no_numbers() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let env = Env::seed().await;
    env.sim.inject_fault(Fault::rbac_denied(Verb::List, Resource::Nodes, "system:serviceaccount:jhub:hub"));
    let cfg = seed_config();
    let spawner = env.spawner(cfg.clone()).await;
    let capacity = NodeCapacity::start(&env.client, cfg, &settings().watch);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !capacity.is_forbidden() {
        assert!(Instant::now() < deadline, "the 403 was not noticed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(capacity.for_groups(&[]), None);
    // It gave up: no retry loop hammering the API server.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.sim.request_counts().get(Verb::List, Resource::Nodes), 1);
    assert_eq!(env.sim.request_counts().get(Verb::Watch, Resource::Nodes), 0);
    // Spawning is unaffected.
    spawner.start(request("g1", 1, gpu("A100x1"), Duration::from_secs(20)), Recorder::default().sink()).await.unwrap();
    assert_eq!(capacity.for_groups(&[]), None);
    // One line says why, naming the switch; nothing else about capacity is logged.
    let said = logs.lines_with("GPU capacity is not shown");
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("WARN") && said[0].contains("custom.jhub.nodeCapacity.enabled"), "{said:?}");
    assert!(said[0].contains("cannot list resource"), "the API's reason is kept: {said:?}");
    assert!(logs.lines_with("view=\"nodes\"").len() <= 1, "no retry warnings");
    drop(capacity);
    drop(spawner);
    env.stop().await;
}

#[tokio::test]
async fn the_cluster_calls_made_are_exactly_the_cluster_rbac_rules() {
    let env = Env::seed().await;
    let cfg = seed_config();
    let capacity = NodeCapacity::start(&env.client, cfg, &settings().watch);
    wait_for(&capacity, (2, 2)).await;
    env.sim
        .create(
            Resource::Pods,
            "default",
            json!({"metadata": {"name": "x"}, "spec": {
        "containers": [{"name": "t", "image": "busybox"}]}}),
        )
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let used: std::collections::BTreeSet<(String, String)> = env
        .sim
        .request_counts()
        .0
        .keys()
        .map(|(verb, resource)| (resource.clone(), verb.as_str().to_string()))
        .collect();
    let allowed: std::collections::BTreeSet<(String, String)> = jhub_kube::CLUSTER_RBAC_RULES
        .iter()
        .flat_map(|(_, resource, verbs)| verbs.iter().map(move |verb| (resource.to_string(), verb.to_string())))
        .collect();
    // `create pods` is this test's own call.
    let used: std::collections::BTreeSet<_> =
        used.into_iter().filter(|(r, v)| !(r == "pods" && v == "create")).collect();
    assert_eq!(used, allowed);
    drop(capacity);
    env.stop().await;
}
