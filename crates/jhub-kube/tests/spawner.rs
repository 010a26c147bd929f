//! The Kubernetes spawner against the real simulator over HTTP with the real
//! `kube::Client`, configured from the seed z2jh config: scheduling of the
//! GPU profile, capacity and image failures, progress messages, stop and
//! PVC handling, 409s, re-adoption, watch cuts, stalls and 410 relists, API
//! faults, the per-spawn API budget and the RBAC rule set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use jhub_core::ports::{PollStatus, SpawnError, Spawner};
use jhub_kube::{PVC_CREATED_BY_ANNOTATION, RBAC_RULES};
use jhub_kube_sim::{Resource, SimConfig, Verb};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn starts_with_timestamp(message: &str) -> bool {
    // "<RFC 3339 timestamp> [<type>] <message>"
    let Some((at, rest)) = message.split_once(' ') else { return false };
    at.len() >= 20
        && at.as_bytes()[4] == b'-'
        && at.contains('T')
        && at.ends_with('Z')
        && (rest.starts_with("[Normal] ") || rest.starts_with("[Warning] "))
}

#[tokio::test]
async fn gpu_profile_runs_on_the_a100_node_with_one_gpu_and_reports_progress() {
    let env = Env::seed().await;
    let spawner = env.spawner(seed_config()).await;
    let progress = Recorder::default();
    let started =
        spawner.start(request("alice", 1, gpu("A100x1"), Duration::from_secs(20)), progress.sink()).await.unwrap();

    let pod = env.pod("jupyter-alice").expect("pod exists");
    assert_eq!(s(&pod, "/spec/nodeName"), "l1", "A100 node");
    assert_eq!(s(&pod, "/spec/nodeSelector/gputype"), "A100");
    assert_eq!(s(&pod, "/spec/containers/0/resources/limits/nvidia.com~1gpu"), "1");
    assert_eq!(s(&pod, "/spec/containers/0/image"), "quay.io/zhonger/gpu-notebook:v3");
    assert_eq!(s(&pod, "/spec/schedulerName"), "jupyterhub-user-scheduler");
    let ip = s(&pod, "/status/podIP");
    assert!(ip.starts_with("127.") && !ip.starts_with("127.0."), "a simulated pod address: {ip}");
    assert_eq!(started.url, format!("http://{ip}:8888"));
    assert_eq!(
        started.state,
        json!({"kubespawner_version": "7.1.0", "pod_name": "jupyter-alice", "namespace": "jhub",
               "dns_name": "jupyter-alice.jhub.svc.cluster.local", "pvc_name": "claim-alice"})
    );
    assert_eq!(started.resources["extra_resource_limits"], json!({"nvidia.com/gpu": "1"}));
    // The resolved profile is recorded with the resources (server event log).
    assert_eq!(started.resources["profile"], "gpu-fen-qu");
    assert_eq!(started.resources["node"], "l1", "the node goes into the usage record");
    // The token travels in the pod spec, as with KubeSpawner.
    let env_vars = pod.pointer("/spec/containers/0/env").and_then(Value::as_array).unwrap();
    assert!(env_vars.iter().any(|e| e["name"] == "JUPYTERHUB_API_TOKEN" && e["value"] == "token-of-alice"));
    assert!(env_vars.iter().any(|e| e["name"] == "JUPYTERHUB_SERVICE_PREFIX" && e["value"] == "/user/alice/"));

    // Progress: one message per event, KubeSpawner's format and steps, in order.
    let events = progress.events();
    let steps: Vec<u8> = events.iter().filter_map(|e| e.progress).collect();
    let expected_steps = [30u8, 50, 63, 72, 78, 82, 84, 86, 87, 88, 88, 89];
    assert!(steps.len() >= 5, "{events:?}");
    assert_eq!(steps, expected_steps[..steps.len().min(12)].to_vec());
    for event in &events {
        assert!(starts_with_timestamp(&event.message), "{}", event.message);
        let raw = event.raw_event.as_ref().expect("raw_event");
        assert_eq!(raw["involvedObject"]["name"], "jupyter-alice");
        assert!(event.message.ends_with(raw["message"].as_str().unwrap()));
    }
    let reasons: Vec<&str> =
        events.iter().map(|e| e.raw_event.as_ref().unwrap()["reason"].as_str().unwrap_or("")).collect();
    let position = |r: &str| reasons.iter().position(|x| *x == r).unwrap_or_else(|| panic!("{r} in {reasons:?}"));
    assert!(position("Scheduled") < position("Pulling"));
    assert!(position("Pulling") < position("Pulled"));
    assert!(position("Pulled") < position("Created") && position("Created") < position("Started"));
    assert!(progress.messages().iter().any(|m| m.ends_with("[Normal] Successfully assigned jhub/jupyter-alice to l1")));
    assert_eq!(spawner.events_held(), 0, "events are only kept while a spawn waits");
    drop(spawner);
    env.stop().await;
}

#[tokio::test]
async fn all_gpus_taken_shows_failed_scheduling_and_fails_at_start_timeout() {
    let env = Env::seed().await;
    let mut cfg = seed_config();
    cfg.slow_spawn_message_threshold = 1;
    cfg.slow_spawn_message_frequency = 1;
    let spawner = env.spawner(cfg).await;
    for (name, id) in [("g1", 1), ("g2", 2)] {
        spawner
            .start(request(name, id, gpu("A100x1"), Duration::from_secs(20)), Recorder::default().sink())
            .await
            .unwrap();
    }
    let progress = Recorder::default();
    let began = Instant::now();
    let timeout = Duration::from_secs(4);
    let err = spawner.start(request("g3", 3, gpu("A100x1"), timeout), progress.sink()).await.unwrap_err();
    let elapsed = began.elapsed();
    assert!(elapsed >= Duration::from_secs(3) && elapsed < timeout, "fails just before start_timeout: {elapsed:?}");
    match &err {
        SpawnError::Timeout { seconds: 4, detail: Some(detail) } => {
            assert!(detail.contains("could not be scheduled"), "{detail}");
            assert!(detail.contains("Insufficient nvidia.com/gpu"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().starts_with("server did not start within 4 seconds: pod jupyter-g3 could not be scheduled")
    );
    assert!(
        progress
            .messages()
            .iter()
            .any(|m| m.contains("[Warning] 0/2 nodes are available: 1 Insufficient nvidia.com/gpu")),
        "{:?}",
        progress.messages()
    );
    let slow: Vec<_> = progress.events().into_iter().filter(|e| e.raw_event.is_none()).collect();
    assert!(slow.len() >= 2, "{slow:?}");
    assert!(slow.iter().all(|e| e.progress.is_none()));
    assert_eq!(
        slow[0].message,
        "Server launch is taking longer than expected. Please be patient! Current time spent waiting: 1 seconds."
    );
    assert!(env.pod("jupyter-g3").is_none(), "the pod of the failed spawn is deleted");
    // P100s are still free.
    spawner.start(request("p1", 4, gpu("P100x1"), Duration::from_secs(20)), Recorder::default().sink()).await.unwrap();
    assert_eq!(s(&env.pod("jupyter-p1").unwrap(), "/spec/nodeName"), "l2");
    drop(spawner);
    env.stop().await;
}

#[tokio::test]
async fn a_node_selector_nothing_matches_fails_at_once() {
    let env = Env::seed().await;
    let mut cfg = seed_config();
    cfg.node_selector.insert("gputype".into(), json!("H100"));
    let spawner = env.spawner(cfg).await;
    let began = Instant::now();
    let err = spawner.start(request("h", 1, json!({}), Duration::from_secs(30)), Recorder::default().sink()).await;
    match err {
        Err(SpawnError::Failed { message }) => {
            assert!(message.starts_with("no node can ever run this server: 0/2 nodes are available"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(began.elapsed() < Duration::from_secs(5));
    assert!(env.pod("jupyter-h").is_none());
    drop(spawner);
    env.stop().await;
}

#[tokio::test]
async fn unknown_image_fails_fast_naming_the_image_and_leaves_no_pod() {
    let env = Env::seed().await;
    let mut cfg = seed_config();
    cfg.image = "registry.example.org/nobody/missing:1".into();
    let spawner = env.spawner(cfg).await;
    let began = Instant::now();
    let err = spawner.start(request("ivy", 1, cpu(), Duration::from_secs(60)), Recorder::default().sink()).await;
    assert!(began.elapsed() < Duration::from_secs(5), "{:?}", began.elapsed());
    match err {
        Err(SpawnError::Failed { message }) => {
            assert!(message.contains("\"registry.example.org/nobody/missing:1\""), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(env.pod("jupyter-ivy").is_none(), "no pod left");
    drop(spawner);
    env.stop().await;
}

#[tokio::test]
async fn stop_removes_the_pod_keeps_the_pvc_and_the_next_spawn_reuses_it() {
    let env = Env::seed().await;
    let spawner = env.spawner(seed_config()).await;
    let started =
        spawner.start(request("bob", 2, cpu(), Duration::from_secs(20)), Recorder::default().sink()).await.unwrap();
    let pvc = env.pvc("claim-bob").expect("PVC created");
    assert_eq!(s(&pvc, "/spec/storageClassName"), "nfs-csi");
    assert_eq!(
        pvc.pointer(&format!("/metadata/annotations/{}", PVC_CREATED_BY_ANNOTATION.replace('/', "~1"))),
        Some(&json!("jhub"))
    );
    assert_eq!(spawner.poll("bob", "", &started.state).await.unwrap(), PollStatus::Running);

    spawner.stop("bob", "", &started.state, false).await.unwrap();
    assert!(env.pod("jupyter-bob").is_none(), "stop returns once the pod is gone");
    assert_eq!(spawner.poll("bob", "", &started.state).await.unwrap(), PollStatus::Stopped { exit_code: None });
    let kept = env.pvc("claim-bob").expect("PVC kept");
    assert_eq!(s(&kept, "/metadata/uid"), s(&pvc, "/metadata/uid"));

    let mut again = request("bob", 2, cpu(), Duration::from_secs(20));
    again.previous_state = started.state.clone();
    let restarted = spawner.start(again, Recorder::default().sink()).await.unwrap();
    assert_eq!(s(&env.pvc("claim-bob").unwrap(), "/metadata/uid"), s(&pvc, "/metadata/uid"), "same claim reused");
    assert_eq!(restarted.state["pvc_name"], "claim-bob");
    let volumes = env.pod("jupyter-bob").unwrap()["spec"]["volumes"].clone();
    assert!(volumes.as_array().unwrap().iter().any(|v| v["persistentVolumeClaim"]["claimName"] == "claim-bob"));
    spawner.stop("bob", "", &restarted.state, true).await.unwrap();
    drop(spawner);
    env.stop().await;
}

#[tokio::test]
async fn delete_forever_removes_only_pvcs_jhub_created() {
    let env = Env::seed().await;
    let spawner = env.spawner(seed_config()).await;
    // A claim made before jhub (by KubeSpawner or by hand) is used but never deleted.
    env.sim
        .create(
            Resource::PersistentVolumeClaims,
            NS,
            json!({"metadata": {"name": "claim-carol"}, "spec": {"accessModes": ["ReadWriteOnce"],
                   "resources": {"requests": {"storage": "1Gi"}}}}),
        )
        .unwrap();
    for (name, id) in [("carol", 3), ("dan", 4)] {
        let started =
            spawner.start(request(name, id, cpu(), Duration::from_secs(20)), Recorder::default().sink()).await.unwrap();
        spawner.stop(name, "", &started.state, true).await.unwrap();
        spawner.delete_forever(name, "", &started.state).await.unwrap();
    }
    assert!(env.pvc("claim-carol").is_some(), "not created by jhub: kept");
    assert!(
        env.sim
            .wait_until(Duration::from_secs(5), |sim| sim
                .get(Resource::PersistentVolumeClaims, NS, "claim-dan")
                .is_none())
            .await
    );
    // A named server whose PVC template is shared by the user's servers keeps it.
    let mut shared = seed_config();
    shared.pvc_name_template = "claim-{username}".into();
    let spawner = env.spawner(shared).await;
    let mut named = request("erin", 5, cpu(), Duration::from_secs(20));
    named.server_name = "gpu".into();
    let started = spawner.start(named, Recorder::default().sink()).await.unwrap();
    spawner.stop("erin", "gpu", &started.state, true).await.unwrap();
    spawner.delete_forever("erin", "gpu", &started.state).await.unwrap();
    assert!(env.pvc("claim-erin").is_some(), "shared PVC of a named server survives");
    drop(spawner);
    env.stop().await;
}

fn stale_pod(name: &str, user: &str, token: &str, labelled: bool) -> Value {
    let mut pod = json!({
        "metadata": {"name": name, "annotations": {"hub.jupyter.org/username": user}},
        "spec": {"restartPolicy": "OnFailure", "containers": [{"name": "notebook", "image": "busybox",
            "env": [{"name": "JUPYTERHUB_API_TOKEN", "value": token}],
            "ports": [{"name": "notebook-port", "containerPort": 8888}]}]}
    });
    if labelled {
        pod["metadata"]["labels"] = json!({"component": "singleuser-server"});
    }
    pod
}

#[tokio::test]
async fn a_stale_pod_is_replaced_a_strangers_is_refused_and_a_retried_create_is_adopted() {
    let env = Env::seed().await;
    let spawner = env.spawner(seed_config()).await;
    // An earlier run's pod (old token): deleted and replaced.
    let old = env.sim.create(Resource::Pods, NS, stale_pod("jupyter-fay", "fay", "old-token", true)).unwrap();
    env.sim
        .wait_until(Duration::from_secs(5), |sim| {
            s(&sim.get(Resource::Pods, NS, "jupyter-fay").unwrap_or_default(), "/status/phase") == "Running"
        })
        .await;
    spawner.start(request("fay", 6, cpu(), Duration::from_secs(20)), Recorder::default().sink()).await.unwrap();
    let new = env.pod("jupyter-fay").unwrap();
    assert_ne!(s(&new, "/metadata/uid"), s(&old, "/metadata/uid"));
    assert_eq!(s(&new, "/spec/containers/0/image"), "quay.io/zhonger/base-notebook:v3");

    // The same spawn's pod (its token), e.g. after a create that timed out: adopted, not recreated.
    let same = env.sim.create(Resource::Pods, NS, stale_pod("jupyter-gus", "gus", "token-of-gus", true)).unwrap();
    spawner.start(request("gus", 7, cpu(), Duration::from_secs(20)), Recorder::default().sink()).await.unwrap();
    assert_eq!(s(&env.pod("jupyter-gus").unwrap(), "/metadata/uid"), s(&same, "/metadata/uid"));

    // Somebody else's pod with that name (no annotations, not in the view): left alone.
    let mut foreign = stale_pod("jupyter-hal", "someone-else", "x", false);
    foreign["metadata"]["annotations"] = json!({});
    env.sim.create(Resource::Pods, NS, foreign).unwrap();
    let err =
        spawner.start(request("hal", 8, cpu(), Duration::from_secs(20)), Recorder::default().sink()).await.unwrap_err();
    assert!(err.to_string().contains("a pod named jupyter-hal already exists"), "{err}");
    assert!(env.pod("jupyter-hal").is_some());
    drop(spawner);
    env.stop().await;
}

#[tokio::test]
async fn a_new_spawner_instance_readopts_running_pods_from_its_view() {
    let env = Env::seed().await;
    let first = env.spawner(seed_config()).await;
    let started =
        first.start(request("ida", 9, cpu(), Duration::from_secs(20)), Recorder::default().sink()).await.unwrap();
    drop(first);
    // The hub restarted: a fresh spawner with only the stored state.
    let second = env.spawner(seed_config()).await;
    env.sim.reset_request_counts();
    assert_eq!(second.poll("ida", "", &started.state).await.unwrap(), PollStatus::Running);
    assert_eq!(second.poll("nobody", "", &json!({})).await.unwrap(), PollStatus::Stopped { exit_code: None });
    assert_eq!(env.sim.request_counts().total(), 0, "poll is answered from the view");
    second.stop("ida", "", &started.state, false).await.unwrap();
    assert!(env.pod("jupyter-ida").is_none());
    drop(second);
    env.stop().await;
}

#[tokio::test]
async fn poll_notices_a_pod_deleted_behind_the_hubs_back() {
    let env = Env::seed().await;
    let spawner = env.spawner(seed_config()).await;
    let started =
        spawner.start(request("jo", 10, cpu(), Duration::from_secs(20)), Recorder::default().sink()).await.unwrap();
    env.sim.delete(Resource::Pods, NS, "jupyter-jo", Some(0)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        let status = spawner.poll("jo", "", &started.state).await.unwrap();
        if status != PollStatus::Running || Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(status, PollStatus::Stopped { exit_code: None });
    drop(spawner);
    env.stop().await;
}

#[tokio::test]
async fn a_cut_watch_resumes_without_missing_a_transition() {
    let mut cfg = SimConfig::seed_cluster();
    cfg.delays = fast_delays();
    cfg.delays.pull = Duration::from_millis(600);
    let env = Env::start(cfg).await;
    let spawner = std::sync::Arc::new(env.spawner(seed_config()).await);
    let before = spawner.pod_view_counters();
    let progress = Recorder::default();
    let task = {
        let spawner = spawner.clone();
        let sink = progress.sink();
        tokio::spawn(async move { spawner.start(request("kim", 11, cpu(), Duration::from_secs(20)), sink).await })
    };
    tokio::time::sleep(Duration::from_millis(250)).await;
    env.sim.cut_watches();
    let started = task.await.unwrap().unwrap();
    assert!(started.url.starts_with("http://127.") && !started.url.starts_with("http://127.0."), "{}", started.url);
    let after = spawner.pod_view_counters();
    assert_eq!(after.lists, before.lists, "resumed from the last resourceVersion, no relist");
    assert!(after.watches > before.watches, "the watch was re-opened");
    let reasons: Vec<String> = progress
        .events()
        .iter()
        .map(|e| e.raw_event.as_ref().unwrap()["reason"].as_str().unwrap().to_string())
        .collect();
    for reason in ["Scheduled", "Pulling", "Pulled", "Created", "Started"] {
        assert!(reasons.iter().any(|r| r == reason), "{reason} missing from {reasons:?}");
    }
    drop(spawner);
    env.stop().await;
}

#[tokio::test]
async fn a_stalled_watch_is_reopened_and_expired_history_forces_a_relist() {
    let env = Env::seed().await;
    let mut settings = settings();
    settings.watch.stall_timeout = Duration::from_millis(1500);
    let spawner = std::sync::Arc::new(env.spawner_with(seed_config(), settings).await);
    let before = spawner.pod_view_counters();
    // Bookmarks every 200 ms keep a healthy watch from looking stalled.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(spawner.pod_view_counters().stalls, 0);

    env.sim.stall_watches(true);
    let task = {
        let spawner = spawner.clone();
        tokio::spawn(async move {
            spawner.start(request("lou", 12, cpu(), Duration::from_secs(20)), Recorder::default().sink()).await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(6);
    while spawner.pod_view_counters().stalls == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stalled = spawner.pod_view_counters();
    assert!(stalled.stalls >= 1, "the silent watch was detected: {stalled:?}");
    assert!(stalled.watches > before.watches);
    assert!(
        env.sim
            .wait_until(Duration::from_secs(5), |sim| s(
                &sim.get(Resource::Pods, NS, "jupyter-lou").unwrap_or_default(),
                "/status/phase"
            ) == "Running")
            .await
    );
    // While the view was deaf the history was compacted: resuming gets 410 and relists.
    env.sim.compact_history();
    env.sim.stall_watches(false);
    env.sim.cut_watches();
    let started = task.await.unwrap().unwrap();
    let after = spawner.pod_view_counters();
    assert!(after.expired >= 1, "{after:?}");
    assert!(after.lists > before.lists, "{after:?}");
    assert_eq!(spawner.poll("lou", "", &started.state).await.unwrap(), PollStatus::Running);
    drop(spawner);
    env.stop().await;
}

#[tokio::test]
async fn api_errors_on_create_are_retried_then_reported_clearly() {
    let env = Env::seed().await;
    let mut cfg = seed_config();
    cfg.k8s_api_request_retry_timeout = 2;
    let spawner = env.spawner(cfg).await;
    env.sim.reset_request_counts();
    env.sim.fail_requests(Some(Verb::Create), Some(Resource::Pods), 500, 2);
    spawner.start(request("max", 13, cpu(), Duration::from_secs(20)), Recorder::default().sink()).await.unwrap();
    assert_eq!(env.sim.request_counts().get(Verb::Create, Resource::Pods), 3, "two failures, then success");

    env.sim.fail_requests(Some(Verb::Create), Some(Resource::Pods), 500, 1000);
    let began = Instant::now();
    let err = spawner
        .start(request("ned", 14, cpu(), Duration::from_secs(20)), Recorder::default().sink())
        .await
        .unwrap_err();
    let elapsed = began.elapsed();
    env.sim.clear_faults();
    match &err {
        SpawnError::Backend { message } => {
            assert!(message.starts_with("creating pod jupyter-ned: HTTP 500 InternalError"), "{message}");
            assert!(message.contains("gave up after"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(elapsed < Duration::from_secs(3), "bounded by k8s_api_request_retry_timeout: {elapsed:?}");
    assert!(env.pod("jupyter-ned").is_none());
    drop(spawner);
    env.stop().await;
}

#[tokio::test]
async fn a_spawn_costs_a_constant_number_of_api_calls_and_no_polling() {
    let env = Env::seed().await;
    let spawner = std::sync::Arc::new(env.spawner(seed_config()).await);
    env.sim.reset_request_counts();
    let users: Vec<(String, i64)> = (0..6).map(|i| (format!("u{i}"), 100 + i)).collect();
    let mut tasks = Vec::new();
    for (name, id) in users.clone() {
        let spawner = spawner.clone();
        tasks.push(tokio::spawn(async move {
            let started = spawner
                .start(request(&name, id, cpu(), Duration::from_secs(20)), Recorder::default().sink())
                .await
                .unwrap();
            for _ in 0..20 {
                assert_eq!(spawner.poll(&name, "", &started.state).await.unwrap(), PollStatus::Running);
            }
            spawner.stop(&name, "", &started.state, false).await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let counts = env.sim.request_counts();
    let n = users.len() as u64;
    assert_eq!(counts.get(Verb::Create, Resource::PersistentVolumeClaims), n);
    assert_eq!(counts.get(Verb::Create, Resource::Pods), n);
    assert_eq!(counts.get(Verb::Delete, Resource::Pods), n);
    assert_eq!(counts.verb(Verb::Get), 0, "no GET polling");
    assert_eq!(counts.verb(Verb::List), 0, "no relists");
    let per_spawn = (counts.total() - counts.verb(Verb::Watch)) as f64 / n as f64;
    assert_eq!(per_spawn, 3.0, "{counts:?}");
    drop(spawner);
    env.stop().await;
}

#[tokio::test]
async fn the_calls_made_are_exactly_the_rbac_rules() {
    let env = Env::seed().await;
    let spawner = env.spawner(seed_config()).await;
    // A normal life: spawn, stop, delete for good.
    let started =
        spawner.start(request("ola", 15, cpu(), Duration::from_secs(20)), Recorder::default().sink()).await.unwrap();
    spawner.stop("ola", "", &started.state, false).await.unwrap();
    spawner.delete_forever("ola", "", &started.state).await.unwrap();
    // The rare paths: a pod in the way that is not in the view (GET).
    let mut foreign = stale_pod("jupyter-pat", "pat", "x", false);
    foreign["metadata"]["annotations"] = json!({"hub.jupyter.org/username": "pat"});
    env.sim.create(Resource::Pods, NS, foreign).unwrap();
    spawner.start(request("pat", 16, cpu(), Duration::from_secs(20)), Recorder::default().sink()).await.unwrap();

    let used: BTreeSet<(String, String)> = env
        .sim
        .request_counts()
        .0
        .keys()
        .map(|(verb, resource)| (resource.clone(), verb.as_str().to_string()))
        .collect();
    let allowed: BTreeSet<(String, String)> = RBAC_RULES
        .iter()
        .flat_map(|(group, resource, verbs)| {
            assert_eq!(*group, "", "core group only");
            verbs.iter().map(move |verb| (resource.to_string(), verb.to_string()))
        })
        .collect();
    assert_eq!(used, allowed, "RBAC_RULES must be exactly what the code calls");
    drop(spawner);
    env.stop().await;
}

#[tokio::test]
async fn options_are_validated_naming_the_option() {
    let env = Env::seed().await;
    let spawner = env.spawner(seed_config()).await;
    let alice = user("alice", 1);
    let ok = spawner.validate_options(&alice, "", &gpu("P100x1")).unwrap();
    assert_eq!(ok, gpu("P100x1"));
    match spawner.validate_options(&alice, "", &json!({"profile": "tpu"})) {
        Err(SpawnError::InvalidOptions(message)) => assert!(message.contains("Unknown profile 'tpu'"), "{message}"),
        other => panic!("{other:?}"),
    }
    match spawner.validate_options(&alice, "", &gpu("H100x8")) {
        Err(SpawnError::InvalidOptions(message)) => {
            assert!(message.contains("'H100x8'") && message.contains("option 'image'"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(spawner.validate_options(&alice, "", &json!([1])), Err(SpawnError::InvalidOptions(_))));
    drop(spawner);
    env.stop().await;
}

#[tokio::test]
async fn pre_7_state_adopts_the_legacy_pvc_name() {
    let env = Env::seed().await;
    let spawner = env.spawner(seed_config()).await;
    env.sim
        .create(
            Resource::PersistentVolumeClaims,
            NS,
            json!({"metadata": {"name": "claim--41lice"}, "spec": {"accessModes": ["ReadWriteOnce"],
                   "resources": {"requests": {"storage": "1Gi"}}}}),
        )
        .unwrap();
    let mut legacy = request("Alice", 21, cpu(), Duration::from_secs(20));
    legacy.previous_state = json!({"pod_name": "jupyter--41lice"});
    let started = spawner.start(legacy, Recorder::default().sink()).await.unwrap();
    assert_eq!(started.state["pvc_name"], "claim--41lice");
    assert_eq!(started.state["pod_name"], "jupyter-alice---3bc51062");
    let pod = env.pod("jupyter-alice---3bc51062").unwrap();
    let volumes = pod["spec"]["volumes"].as_array().unwrap();
    assert!(volumes.iter().any(|v| v["persistentVolumeClaim"]["claimName"] == "claim--41lice"), "{volumes:?}");
    assert!(env.pvc("claim-alice---3bc51062").is_none(), "no second claim");
    drop(spawner);
    env.stop().await;
}

#[tokio::test]
async fn a_pvc_create_refused_by_quota_is_fine_when_the_claim_exists() {
    let env = Env::seed().await;
    let spawner = env.spawner(seed_config()).await;
    let first =
        spawner.start(request("quinn", 22, cpu(), Duration::from_secs(20)), Recorder::default().sink()).await.unwrap();
    spawner.stop("quinn", "", &first.state, true).await.unwrap();
    env.sim.fail_requests(Some(Verb::Create), Some(Resource::PersistentVolumeClaims), 403, 2);
    let mut again = request("quinn", 22, cpu(), Duration::from_secs(20));
    again.previous_state = first.state.clone();
    spawner.start(again, Recorder::default().sink()).await.unwrap();
    // No claim and 403: a clear error, nothing started.
    let err = spawner
        .start(request("rae", 23, cpu(), Duration::from_secs(20)), Recorder::default().sink())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("creating PVC claim-rae: HTTP 403 Forbidden"), "{err}");
    assert!(env.pod("jupyter-rae").is_none());
    drop(spawner);
    env.stop().await;
}

#[tokio::test]
async fn without_events_the_spawn_works_from_pod_status_alone() {
    let env = Env::seed().await;
    let mut cfg = seed_config();
    cfg.events_enabled = false;
    let spawner = env.spawner(cfg.clone()).await;
    let progress = Recorder::default();
    let started = spawner.start(request("sam", 24, cpu(), Duration::from_secs(20)), progress.sink()).await.unwrap();
    assert!(progress.events().is_empty());
    spawner.stop("sam", "", &started.state, false).await.unwrap();
    cfg.image = "registry.example.org/nobody/missing:1".into();
    drop(spawner);
    let spawner = env.spawner(cfg).await;
    let err = spawner.start(request("tia", 25, cpu(), Duration::from_secs(20)), progress.sink()).await.unwrap_err();
    assert!(err.to_string().contains("registry.example.org/nobody/missing:1"), "{err}");
    let events_used = env.sim.request_counts().0.keys().any(|(_, resource)| resource == "events");
    assert!(!events_used, "no event watch when events are disabled");
    // Stopping a server that never started is a quick no-op.
    spawner.stop("nobody", "", &json!({}), false).await.unwrap();
    drop(spawner);
    env.stop().await;
}

#[tokio::test]
async fn connect_by_url_and_by_kubeconfig() {
    use jhub_kube::{KubeConnect, KubeSpawnerError, connect};
    let env = Env::seed().await;
    let by_url = connect(&KubeConnect::Url(env.server.url.clone())).await.unwrap();
    let path = std::env::temp_dir().join(format!("jhub-kube-test-kubeconfig-{}", std::process::id()));
    std::fs::write(&path, jhub_kube_sim::kubeconfig(&env.server.url, NS)).unwrap();
    let by_file = connect(&KubeConnect::Kubeconfig(path.clone())).await.unwrap();
    let _ = std::fs::remove_file(&path);
    for client in [by_url, by_file] {
        let spawner = jhub_kube::KubeSpawner::new(client, seed_config(), settings()).unwrap();
        spawner.wait_ready().await.unwrap();
        assert_eq!(spawner.pods_in_view(), 0);
    }
    assert!(matches!(
        connect(&KubeConnect::Url("not a url at all".into())).await,
        Err(KubeSpawnerError::InvalidUrl { .. })
    ));
    let Err(missing) = connect(&KubeConnect::Kubeconfig("/nonexistent/kubeconfig".into())).await else {
        panic!("a missing kubeconfig must fail")
    };
    assert!(missing.to_string().contains("/nonexistent/kubeconfig"), "{missing}");
    env.stop().await;
}

/// A profile limited with `allowed_groups` is refused, naming it, as
/// `NotPermitted` (the API's 403); a member of the group may use it.
#[tokio::test]
async fn group_scoped_profiles_are_refused_to_outsiders() {
    let env = Env::seed().await;
    let mut cfg = seed_config();
    if let Some(profiles) = cfg.profile_list.as_array_mut() {
        profiles[1]["allowed_groups"] = json!(["lab/gpu"]);
    }
    let spawner = env.spawner(cfg).await;
    let outsider = user("alice", 1);
    match spawner.validate_options(&outsider, "", &gpu("P100x1")) {
        Err(SpawnError::NotPermitted(message)) => assert!(message.contains("'gpu-fen-qu'"), "{message}"),
        other => panic!("{other:?}"),
    }
    let mut member = user("bob", 2);
    member.groups = vec!["lab/gpu".into()];
    assert!(spawner.validate_options(&member, "", &gpu("P100x1")).is_ok());
    drop(spawner);
    env.stop().await;
}
