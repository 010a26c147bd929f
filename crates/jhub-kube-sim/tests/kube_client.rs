//! The simulator driven by the real kube-rs client (typed `Api<K>`, `watcher`, `reflector`) over
//! HTTP: CRUD and Status errors, watches with cuts and 410 relists, scheduling, the kubelet's
//! pod lifecycle and events, process mode with real local processes, PVC persistence, selectors,
//! quantities, request counting and fault injection.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use jhub_kube_sim::{ImageRule, LocalServer, NodeConfig, ProcessSpec, Resource, SimConfig, Simulator, Verb};
use k8s_openapi::api::core::v1::{Event, Node, PersistentVolumeClaim, Pod, Secret, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{reflector, watcher};
use serde_json::{Value, json};

const NS: &str = "jhub";

async fn start(cfg: SimConfig) -> Result<(Simulator, LocalServer, kube::Client)> {
    let sim = Simulator::start(cfg)?;
    let server = sim.serve_local().await?;
    let config = kube::Config::new(server.url.parse()?);
    let client = kube::Client::try_from(config)?;
    Ok((sim, server, client))
}

fn pod_json(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"component": "singleuser-server", "hub.jupyter.org/username": name}},
        "spec": {"restartPolicy": "OnFailure", "containers": [{"name": "notebook", "image": image,
                 "ports": [{"name": "notebook-port", "containerPort": 8888}]}]}
    })
}

fn pod(name: &str, image: &str) -> Result<Pod> {
    Ok(serde_json::from_value(pod_json(name, image))?)
}

fn phase(sim: &Simulator, name: &str) -> String {
    sim.get(Resource::Pods, NS, name)
        .and_then(|p| p.pointer("/status/phase").and_then(Value::as_str).map(String::from))
        .unwrap_or_default()
}

async fn wait(sim: &Simulator, secs: u64, what: &str, check: impl Fn(&Simulator) -> bool) -> Result<()> {
    if sim.wait_until(Duration::from_secs(secs), check).await { Ok(()) } else { bail!("timed out waiting for {what}") }
}

fn event_messages(sim: &Simulator, pod: &str) -> Vec<(String, String)> {
    sim.events_for(NS, pod)
        .iter()
        .map(|e| {
            let s = |p: &str| e.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
            (s("/reason"), s("/message"))
        })
        .collect()
}

fn api_code(err: &kube::Error) -> Option<(u16, String)> {
    match err {
        kube::Error::Api(status) => Some((status.code, status.reason.clone())),
        _ => None,
    }
}

#[tokio::test]
async fn typed_crud_status_errors_and_quantities() -> Result<()> {
    let (sim, server, client) = start(SimConfig::default()).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let mut p = pod_json("jupyter-alice", "quay.io/jupyterhub/k8s-singleuser-sample:4.2.0");
    p["spec"]["containers"][0]["resources"] =
        json!({"limits": {"cpu": 8.0, "memory": 17179869184u64}, "requests": {"memory": 1073741824}});
    let created = pods.create(&PostParams::default(), &serde_json::from_value(p)?).await?;
    let uid = created.metadata.uid.clone().context("uid")?;
    assert!(created.metadata.resource_version.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(created.metadata.generation, Some(1));
    let as_json = serde_json::to_value(&created)?;
    let res = &as_json["spec"]["containers"][0]["resources"];
    assert_eq!(res["limits"]["cpu"], json!("8"), "8.0 is canonicalised");
    assert_eq!(res["limits"]["memory"], json!("17179869184"));
    assert_eq!(res["requests"]["cpu"], json!("8"), "the missing cpu request defaults to the limit");
    assert_eq!(as_json["status"]["phase"], json!("Pending"));

    // 409 AlreadyExists
    let again = pods.create(&PostParams::default(), &pod("jupyter-alice", "busybox")?).await;
    let err = again.err().context("second create must fail")?;
    assert_eq!(api_code(&err), Some((409, "AlreadyExists".into())));

    // 404 and get_opt
    let missing = pods.get("nobody").await.err().context("get of a missing pod must fail")?;
    assert_eq!(api_code(&missing), Some((404, "NotFound".into())));
    assert!(pods.get_opt("nobody").await?.is_none());

    // 422 Invalid
    let invalid: Pod =
        serde_json::from_value(json!({"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "c"}]}}))?;
    let err = pods.create(&PostParams::default(), &invalid).await.err().context("invalid pod accepted")?;
    match &err {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
            assert!(s.message.contains("spec.containers[0].image: Required value"), "{}", s.message);
        }
        other => bail!("unexpected error {other:?}"),
    }

    // merge patch, stale resourceVersion on replace → 409 Conflict
    let patched = pods
        .patch(
            "jupyter-alice",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"extra": "yes"}}})),
        )
        .await?;
    assert_eq!(patched.metadata.labels.as_ref().and_then(|l| l.get("extra")).map(String::as_str), Some("yes"));
    let mut stale = created.clone();
    stale.metadata.labels = Some(BTreeMap::from([("x".to_string(), "y".to_string())]));
    let err = pods.replace("jupyter-alice", &PostParams::default(), &stale).await.err().context("stale replace")?;
    assert_eq!(api_code(&err), Some((409, "Conflict".into())));

    // list with selectors, across namespaces
    pods.create(&PostParams::default(), &pod("other", "busybox")?).await?;
    let selected = pods.list(&ListParams::default().labels("hub.jupyter.org/username=jupyter-alice,extra")).await?;
    assert_eq!(selected.items.len(), 1);
    assert!(selected.metadata.resource_version.is_some());
    let by_field = pods.list(&ListParams::default().fields("metadata.name!=jupyter-alice")).await?;
    assert_eq!(by_field.items.iter().filter_map(|p| p.metadata.name.clone()).collect::<Vec<_>>(), vec!["other"]);
    let all: Api<Pod> = Api::all(client.clone());
    assert_eq!(all.list(&ListParams::default().labels("component in (singleuser-server)")).await?.items.len(), 2);
    let bad = pods.list(&ListParams::default().fields("spec.bogus=1")).await.err().context("bad field")?;
    assert_eq!(api_code(&bad), Some((400, "BadRequest".into())));
    // pagination with continue tokens
    let page = pods.list(&ListParams::default().limit(1)).await?;
    assert_eq!(page.items.len(), 1);
    let token = page.metadata.continue_.clone().context("continue token")?;
    let page2 = pods.list(&ListParams::default().limit(1).continue_token(&token)).await?;
    assert_eq!(page2.items.len(), 1);
    assert_ne!(page.items[0].metadata.name, page2.items[0].metadata.name);

    // events: field selector on involvedObject
    wait(&sim, 5, "alice running", |s| phase(s, "jupyter-alice") == "Running").await?;
    let events: Api<Event> = Api::namespaced(client.clone(), NS);
    let evs =
        events.list(&ListParams::default().fields("involvedObject.kind=Pod,involvedObject.name=jupyter-alice")).await?;
    let reasons: Vec<String> = evs.items.iter().filter_map(|e| e.reason.clone()).collect();
    for r in ["Scheduled", "Pulling", "Pulled", "Created", "Started"] {
        assert!(reasons.iter().any(|x| x == r), "missing {r} in {reasons:?}");
    }
    assert!(evs.items.iter().all(|e| e.involved_object.name.as_deref() == Some("jupyter-alice")));

    // delete: preconditions, then grace 0 removes at once
    let wrong_uid = DeleteParams {
        preconditions: Some(kube::api::Preconditions { uid: Some("nope".into()), resource_version: None }),
        ..DeleteParams::default()
    };
    let err = pods.delete("jupyter-alice", &wrong_uid).await.err().context("precondition")?;
    assert_eq!(api_code(&err).map(|c| c.0), Some(409));
    pods.delete("jupyter-alice", &DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() }).await?;
    assert!(pods.get_opt("jupyter-alice").await?.is_none());
    assert_ne!(uid, "");

    // other kinds
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let s: Secret = serde_json::from_value(json!({"metadata": {"name": "tls"}, "stringData": {"k": "v"}}))?;
    let s = secrets.create(&PostParams::default(), &s).await?;
    assert_eq!(s.data.as_ref().and_then(|d| d.get("k")).map(|b| b.0.clone()), Some(b"v".to_vec()));
    let services: Api<Service> = Api::namespaced(client.clone(), NS);
    let svc: Service =
        serde_json::from_value(json!({"metadata": {"name": "jupyter-alice"}, "spec": {"ports": [{"port": 8888}]}}))?;
    let svc = services.create(&PostParams::default(), &svc).await?;
    assert!(svc.spec.and_then(|s| s.cluster_ip).is_some_and(|ip| ip.starts_with("10.96.")));
    let nodes: Api<Node> = Api::all(client.clone());
    assert_eq!(nodes.list(&ListParams::default()).await?.items.len(), 1);
    let ns_missing: Api<Pod> = Api::namespaced(client.clone(), "no-such-ns");
    let err = ns_missing.create(&PostParams::default(), &pod("x", "busybox")?).await.err().context("missing ns")?;
    assert_eq!(api_code(&err), Some((404, "NotFound".into())));

    // counts: per verb and resource
    let counts = sim.request_counts();
    assert_eq!(counts.get(Verb::Create, Resource::Pods), 5);
    assert!(counts.get(Verb::List, Resource::Pods) >= 6);
    assert_eq!(counts.get(Verb::Patch, Resource::Pods), 1);
    assert_eq!(counts.get(Verb::Delete, Resource::Pods), 2);
    server.stop().await;
    sim.shutdown().await;
    Ok(())
}

/// Collects what the reflector's store holds and the watcher's event kinds.
fn spawn_reflector(client: kube::Client, cfg: watcher::Config) -> (reflector::Store<Pod>, Arc<Mutex<Vec<String>>>) {
    let (reader, writer) = reflector::store::<Pod>();
    let api: Api<Pod> = Api::namespaced(client, NS);
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    let stream = reflector(writer, watcher(api, cfg));
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            let entry = match ev {
                Ok(watcher::Event::Apply(p)) => format!(
                    "apply {} {}",
                    p.metadata.name.unwrap_or_default(),
                    p.status.and_then(|s| s.phase).unwrap_or_default()
                ),
                Ok(watcher::Event::Delete(p)) => format!("delete {}", p.metadata.name.unwrap_or_default()),
                Ok(watcher::Event::Init) => "init".into(),
                Ok(watcher::Event::InitApply(p)) => format!("initapply {}", p.metadata.name.unwrap_or_default()),
                Ok(watcher::Event::InitDone) => "initdone".into(),
                Err(e) => format!("error {e}"),
            };
            if let Ok(mut l) = log2.lock() {
                l.push(entry);
            }
        }
    });
    (reader, log)
}

fn log_has(log: &Arc<Mutex<Vec<String>>>, needle: &str) -> bool {
    log.lock().map(|l| l.iter().any(|e| e == needle)).unwrap_or(false)
}

async fn eventually(secs: u64, what: &str, check: impl Fn() -> bool) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("timed out waiting for {what}")
}

#[tokio::test]
async fn watcher_and_reflector_follow_the_pod_lifecycle_through_cuts_and_expiry() -> Result<()> {
    let (sim, server, client) = start(SimConfig::default()).await?;
    let (store, log) =
        spawn_reflector(client.clone(), watcher::Config::default().labels("component=singleuser-server"));
    store.wait_until_ready().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);

    pods.create(&PostParams::default(), &pod("alice", "busybox")?).await?;
    eventually(5, "ADDED Pending then MODIFIED Running", || {
        log_has(&log, "apply alice Pending") && log_has(&log, "apply alice Running")
    })
    .await?;
    pods.delete("alice", &DeleteParams { grace_period_seconds: Some(1), ..DeleteParams::default() }).await?;
    eventually(5, "DELETED", || log_has(&log, "delete alice")).await?;
    assert!(store.get(&reflector::ObjectRef::new("alice").within(NS)).is_none());

    // A cut watch resumes from its resourceVersion: no relist, no missed transition.
    let lists_before = sim.request_counts().get(Verb::List, Resource::Pods);
    let watches_before = sim.request_counts().get(Verb::Watch, Resource::Pods);
    sim.cut_watches();
    pods.create(&PostParams::default(), &pod("bob", "busybox")?).await?;
    eventually(5, "bob Running after the cut", || log_has(&log, "apply bob Running")).await?;
    let running = |s: &reflector::Store<Pod>, n: &str| {
        s.get(&reflector::ObjectRef::new(n).within(NS)).and_then(|p| p.status.clone()).and_then(|s| s.phase).as_deref()
            == Some("Running")
    };
    assert!(running(&store, "bob"));
    assert_eq!(sim.request_counts().get(Verb::List, Resource::Pods), lists_before, "resumed without a relist");
    assert!(sim.request_counts().get(Verb::Watch, Resource::Pods) > watches_before);

    // Changes missed while the watch was stalled and then expired: 410 → relist → converged.
    sim.stall_watches(true);
    pods.create(&PostParams::default(), &pod("carol", "busybox")?).await?;
    wait(&sim, 5, "carol running", |s| phase(s, "carol") == "Running").await?;
    pods.delete("bob", &DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() }).await?;
    sim.compact_history();
    sim.stall_watches(false);
    sim.cut_watches();
    eventually(5, "relist after 410", || {
        running(&store, "carol") && store.get(&reflector::ObjectRef::new("bob").within(NS)).is_none()
    })
    .await?;
    assert!(sim.request_counts().get(Verb::List, Resource::Pods) > lists_before, "the 410 forced a relist");
    assert!(
        log.lock()
            .map(|l| l.iter().any(|e| e.contains("410") || e.contains("Expired") || e.contains("too old")))
            .unwrap_or(false)
    );

    // Selector changes: a label removal turns into DELETED for the selector watch.
    pods.patch("carol", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"component": null}}})))
        .await?;
    eventually(5, "carol leaves the selector", || log_has(&log, "delete carol")).await?;
    server.stop().await;
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn raw_watch_protocol_bookmarks_and_410() -> Result<()> {
    let mut cfg = SimConfig::default();
    cfg.delays.bookmark_interval = Duration::from_millis(100);
    let (sim, server, client) = start(cfg).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    pods.create(&PostParams::default(), &pod("dave", "busybox")?).await?;
    let rv = pods.list(&ListParams::default()).await?.metadata.resource_version.context("rv")?;
    // Watch from the list's version with bookmarks, over raw HTTP to see the wire format.
    let url = format!(
        "{}/api/v1/namespaces/{NS}/pods?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=1",
        server.url
    );
    let body = http_get(&url).await?;
    let lines: Vec<Value> = body.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(lines.iter().any(|l| l["type"] == "MODIFIED"), "the pod's status changes after {rv}: {body}");
    assert!(lines.iter().any(|l| l["type"] == "BOOKMARK" && l["object"]["kind"] == "Pod"), "{body}");
    sim.compact_history();
    let url = format!("{}/api/v1/namespaces/{NS}/pods?watch=1&resourceVersion=2", server.url);
    let body = http_get(&url).await?;
    let first: Value = serde_json::from_str(body.lines().next().unwrap_or("{}"))?;
    assert_eq!(first["type"], "ERROR");
    assert_eq!(first["object"]["code"], 410);
    assert_eq!(first["object"]["reason"], "Expired");
    // KubeSpawner's reflectors (kubernetes_asyncio) send Python's `str(True)`: `watch=True`.
    // The API server decodes every value but `0`/`false` (any case) as true, so these are
    // watches (a stream of events that ends at timeoutSeconds), and `watch=False` is a list.
    for value in ["True", "TRUE", "t", "1", "yes", ""] {
        let url = format!("{}/api/v1/namespaces/{NS}/pods?watch={value}&timeoutSeconds=1", server.url);
        let body = http_get(&url).await?;
        let first: Value = serde_json::from_str(body.lines().next().unwrap_or("{}"))?;
        assert_eq!(first["type"], "ADDED", "watch={value:?} must stream events, got {body}");
    }
    for value in ["False", "FALSE", "false", "0"] {
        let url = format!("{}/api/v1/namespaces/{NS}/pods?watch={value}", server.url);
        let list: Value = serde_json::from_str(&http_get(&url).await?)?;
        assert_eq!(list["kind"], "PodList", "watch={value:?} is a plain list: {list}");
    }
    // Discovery and version documents.
    let version: Value = serde_json::from_str(&http_get(&format!("{}/version", server.url)).await?)?;
    assert_eq!(version["major"], "1");
    assert_eq!(client.apiserver_version().await?.minor, "33");
    server.stop().await;
    sim.shutdown().await;
    Ok(())
}

/// A minimal HTTP/1.0 GET returning the body (no client crate needed).
async fn http_get(url: &str) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").context("http url")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut stream = tokio::net::TcpStream::connect(host).await?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes()).await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await??;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").context("http response")?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        bail!("GET {url}: {head}");
    }
    Ok(body.to_string())
}

fn gpu_pod(name: &str, gputype: &str) -> Result<Pod> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"schedulerName": "jupyterhub-user-scheduler", "nodeSelector": {"gputype": gputype},
                 "containers": [{"name": "notebook", "image": "quay.io/zhonger/gpu-notebook:v3",
                     "resources": {"limits": {"cpu": 8.0, "memory": 17179869184u64, "nvidia.com/gpu": "1"},
                                   "requests": {"memory": 1073741824}}}]}
    }))?)
}

fn node_of(sim: &Simulator, name: &str) -> String {
    sim.get(Resource::Pods, NS, name)
        .and_then(|p| p.pointer("/spec/nodeName").and_then(Value::as_str).map(String::from))
        .unwrap_or_default()
}

#[tokio::test]
async fn seed_cluster_scheduling_gpu_capacity_and_failed_scheduling() -> Result<()> {
    let (sim, server, client) = start(SimConfig::seed_cluster()).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    for n in ["gpu-a", "gpu-b", "gpu-c"] {
        pods.create(&PostParams::default(), &gpu_pod(n, "A100")?).await?;
    }
    wait(&sim, 5, "two A100 pods bound", |s| node_of(s, "gpu-a") == "l1" && node_of(s, "gpu-b") == "l1").await?;
    let gpu_request = sim
        .get(Resource::Pods, NS, "gpu-a")
        .and_then(|p| p.pointer("/spec/containers/0/resources/requests/nvidia.com~1gpu").cloned());
    assert_eq!(gpu_request, Some(json!("1")));
    let expected = "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) didn't match Pod's node affinity/selector. \
        preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.";
    wait(&sim, 5, "FailedScheduling", |s| {
        event_messages(s, "gpu-c").iter().any(|(r, m)| r == "FailedScheduling" && m == expected)
    })
    .await?;
    assert_eq!(node_of(&sim, "gpu-c"), "");
    let ev = sim.events_for(NS, "gpu-c").into_iter().find(|e| e["reason"] == "FailedScheduling").context("event")?;
    assert_eq!(ev["type"], "Warning");
    assert_eq!(ev["reportingComponent"], "jupyterhub-user-scheduler");
    assert!(ev["eventTime"].is_string());
    let cond = sim
        .get(Resource::Pods, NS, "gpu-c")
        .and_then(|p| p.pointer("/status/conditions/0").cloned())
        .context("condition")?;
    assert_eq!(
        (cond["type"].as_str(), cond["status"].as_str(), cond["reason"].as_str()),
        (Some("PodScheduled"), Some("False"), Some("Unschedulable"))
    );

    // P100 goes to l2; freeing an A100 lets gpu-c in.
    pods.create(&PostParams::default(), &gpu_pod("gpu-p", "P100")?).await?;
    wait(&sim, 5, "P100 on l2", |s| node_of(s, "gpu-p") == "l2").await?;
    pods.delete("gpu-a", &DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() }).await?;
    wait(&sim, 5, "gpu-c scheduled after capacity frees", |s| node_of(s, "gpu-c") == "l1").await?;
    assert!(
        event_messages(&sim, "gpu-c")
            .iter()
            .any(|(r, m)| r == "Scheduled" && m == &format!("Successfully assigned {NS}/gpu-c to l1"))
    );

    // An unknown scheduler: Pending forever, no events.
    let mut lonely = pod_json("lonely", "busybox");
    lonely["spec"]["schedulerName"] = json!("not-running-scheduler");
    pods.create(&PostParams::default(), &serde_json::from_value(lonely)?).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(node_of(&sim, "lonely"), "");
    assert!(sim.events_for(NS, "lonely").is_empty());

    // Taints and hostname selectors.
    sim.add_node(NodeConfig::new("gpu-tainted").gpus(8).label("gputype", "H100").taint(
        "nvidia.com/gpu",
        Some("present"),
        "NoSchedule",
    ))
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    pods.create(&PostParams::default(), &gpu_pod("gpu-h", "H100")?).await?;
    wait(&sim, 5, "untolerated taint", |s| {
        event_messages(s, "gpu-h")
            .iter()
            .any(|(_, m)| m.contains("1 node(s) had untolerated taint {nvidia.com/gpu: present}"))
    })
    .await?;
    let mut cpu = pod_json("cpu-l2", "quay.io/zhonger/base-notebook:v3");
    cpu["spec"]["nodeSelector"] = json!({"kubernetes.io/hostname": "l2"});
    pods.create(&PostParams::default(), &serde_json::from_value(cpu)?).await?;
    wait(&sim, 5, "hostname selector", |s| node_of(s, "cpu-l2") == "l2").await?;
    server.stop().await;
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn unknown_image_fails_fast_with_pull_events() -> Result<()> {
    let (sim, server, client) = start(SimConfig::default()).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let image = "quay.io/nobody/does-not-exist:v1";
    let started = std::time::Instant::now();
    pods.create(&PostParams::default(), &pod("ghost", image)?).await?;
    wait(&sim, 5, "ImagePullBackOff", |s| {
        let evs = event_messages(s, "ghost");
        evs.iter().any(|(r, m)| r == "Failed" && m.starts_with(&format!("Failed to pull image \"{image}\"")))
            && evs.iter().any(|(r, m)| r == "Failed" && m == "Error: ErrImagePull")
            && evs.iter().any(|(r, m)| r == "BackOff" && m == &format!("Back-off pulling image \"{image}\""))
    })
    .await?;
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    let waiting = sim
        .get(Resource::Pods, NS, "ghost")
        .and_then(|p| p.pointer("/status/containerStatuses/0/state/waiting").cloned())
        .context("waiting")?;
    assert_eq!(waiting["reason"], "ImagePullBackOff");
    assert!(waiting["message"].as_str().unwrap_or("").contains(image));
    assert_eq!(phase(&sim, "ghost"), "Pending");

    // An image known but made to fail, and back.
    sim.fail_image_pulls("busybox*");
    pods.create(&PostParams::default(), &pod("flaky", "busybox:1.36")?).await?;
    wait(&sim, 5, "ErrImagePull", |s| event_messages(s, "flaky").iter().any(|(_, m)| m == "Error: ErrImagePull"))
        .await?;
    sim.clear_image_failures();
    sim.skip_delays();
    wait(&sim, 5, "flaky recovers", |s| phase(s, "flaky") == "Running").await?;
    server.stop().await;
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn faults_oom_and_termination() -> Result<()> {
    let (sim, server, client) = start(SimConfig::default()).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    sim.fail_requests(Some(Verb::Create), Some(Resource::Pods), 500, 1);
    let err = pods.create(&PostParams::default(), &pod("eve", "busybox")?).await.err().context("injected 500")?;
    assert_eq!(api_code(&err), Some((500, "InternalError".into())));
    // kube-rs retries a 503 by itself; both attempts are counted.
    sim.fail_requests(Some(Verb::Create), Some(Resource::Pods), 503, 1);
    pods.create(&PostParams::default(), &pod("retried", "busybox")?).await?;
    assert_eq!(sim.request_counts().get(Verb::Create, Resource::Pods), 3);
    sim.fail_requests(None, Some(Resource::PersistentVolumeClaims), 403, 1);
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), NS);
    let err = pvcs.get("claim-eve").await.err().context("injected 403")?;
    assert_eq!(api_code(&err), Some((403, "Forbidden".into())));
    sim.slow_requests(Some(Verb::Get), Some(Resource::Pods), Duration::from_millis(300), 1);
    let t = std::time::Instant::now();
    let _ = pods.get_opt("eve").await?;
    assert!(t.elapsed() >= Duration::from_millis(300));

    let mut never = pod_json("eve", "busybox");
    never["spec"]["restartPolicy"] = json!("Never");
    pods.create(&PostParams::default(), &serde_json::from_value(never)?).await?;
    wait(&sim, 5, "eve running", |s| phase(s, "eve") == "Running").await?;
    assert!(sim.oom_kill(NS, "eve"));
    wait(&sim, 5, "eve OOMKilled", |s| phase(s, "eve") == "Failed").await?;
    let term = sim
        .get(Resource::Pods, NS, "eve")
        .and_then(|p| p.pointer("/status/containerStatuses/0/state/terminated").cloned())
        .context("terminated")?;
    assert_eq!((term["reason"].as_str(), term["exitCode"].as_i64()), (Some("OOMKilled"), Some(137)));

    // OnFailure: an OOM kill restarts through CrashLoopBackOff.
    pods.create(&PostParams::default(), &pod("frank", "busybox")?).await?;
    wait(&sim, 5, "frank running", |s| phase(s, "frank") == "Running").await?;
    sim.oom_kill(NS, "frank");
    wait(&sim, 5, "frank restarted", |s| {
        s.get(Resource::Pods, NS, "frank").is_some_and(|p| {
            p.pointer("/status/containerStatuses/0/restartCount").and_then(Value::as_i64) == Some(1)
                && p.pointer("/status/containerStatuses/0/lastState/terminated/reason").and_then(Value::as_str)
                    == Some("OOMKilled")
                && p.pointer("/status/containerStatuses/0/state/running").is_some()
        })
    })
    .await?;

    // Graceful delete: deletionTimestamp first, Killing event, then gone.
    let deleted =
        pods.delete("frank", &DeleteParams { grace_period_seconds: Some(5), ..DeleteParams::default() }).await?;
    let left = deleted.left().context("graceful delete returns the pod")?;
    assert!(left.metadata.deletion_timestamp.is_some());
    assert_eq!(left.metadata.deletion_grace_period_seconds, Some(5));
    wait(&sim, 5, "frank gone", |s| s.get(Resource::Pods, NS, "frank").is_none()).await?;
    assert!(event_messages(&sim, "frank").iter().any(|(r, m)| r == "Killing" && m == "Stopping container notebook"));
    server.stop().await;
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn mock_responder_answers_on_the_pod_ip_and_stop_keeps_the_pvc() -> Result<()> {
    let (sim, server, client) = start(SimConfig::seed_cluster().with_mock_http_responder(true)).await?;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), NS);
    let pvc: PersistentVolumeClaim = serde_json::from_value(json!({"metadata": {"name": "claim-gina"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "100Gi"}}, "storageClassName": "nfs-csi"}}))?;
    pvcs.create(&PostParams::default(), &pvc).await?;
    let err = pvcs.create(&PostParams::default(), &pvc).await.err().context("second pvc")?;
    assert_eq!(api_code(&err).map(|c| c.0), Some(409));
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let mut p = pod_json("gina", "quay.io/zhonger/base-notebook:v3");
    p["spec"]["volumes"] = json!([{"name": "home", "persistentVolumeClaim": {"claimName": "claim-gina"}}]);
    p["spec"]["containers"][0]["volumeMounts"] = json!([{"name": "home", "mountPath": "/home/jovyan"}]);
    pods.create(&PostParams::default(), &serde_json::from_value(p)?).await?;
    wait(&sim, 5, "gina running", |s| phase(s, "gina") == "Running").await?;
    let bound = sim.get(Resource::PersistentVolumeClaims, NS, "claim-gina").context("pvc")?;
    assert_eq!(bound["status"]["phase"], "Bound");
    let ip = sim
        .get(Resource::Pods, NS, "gina")
        .and_then(|p| p["status"]["podIP"].as_str().map(String::from))
        .context("ip")?;
    assert!(ip.starts_with("127.") && ip != "127.0.0.1", "{ip}");
    assert_eq!(http_get(&format!("http://{ip}:8888/user/gina/api")).await?, "ok\n");
    pods.delete("gina", &DeleteParams { grace_period_seconds: Some(1), ..DeleteParams::default() }).await?;
    wait(&sim, 5, "gina gone", |s| s.get(Resource::Pods, NS, "gina").is_none()).await?;
    assert!(pvcs.get_opt("claim-gina").await?.is_some(), "stop keeps the PVC");
    assert!(tokio::net::TcpStream::connect((ip.as_str(), 8888)).await.is_err(), "nothing listens after stop");

    // A pod with a missing claim cannot be scheduled.
    let mut p = pod_json("hank", "busybox");
    p["spec"]["volumes"] = json!([{"name": "home", "persistentVolumeClaim": {"claimName": "claim-hank"}}]);
    pods.create(&PostParams::default(), &serde_json::from_value(p)?).await?;
    wait(&sim, 5, "missing pvc", |s| {
        event_messages(s, "hank")
            .iter()
            .any(|(_, m)| m.starts_with("0/2 nodes are available: persistentvolumeclaim \"claim-hank\" not found."))
    })
    .await?;
    server.stop().await;
    sim.shutdown().await;
    Ok(())
}

fn process_config(dir: &std::path::Path) -> SimConfig {
    SimConfig::default()
        .process_mode(dir)
        .with_image_rule(ImageRule::process(
            "local/shell:*",
            ProcessSpec { entrypoint: vec!["/bin/sh".into(), "-c".into()], ..ProcessSpec::default() },
        ))
        .with_image_rule(ImageRule::process(
            "local/python:*",
            ProcessSpec {
                programs: BTreeMap::from([("python3".to_string(), real_python())]),
                ..ProcessSpec::default()
            },
        ))
}

fn real_python() -> String {
    std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/usr/bin/python3".into())
}

#[tokio::test]
async fn process_mode_runs_a_real_server_on_the_pod_ip() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (sim, server, client) = start(process_config(dir.path())).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "notebook", "image": "local/python:1",
            "args": ["python3", "-m", "http.server", "8888", "--bind", "$(POD_IP)"],
            "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "JUPYTERHUB_SERVICE_URL", "value": "http://0.0.0.0:8888/user/web/"}],
            "ports": [{"containerPort": 8888}]}]}
    }))?;
    pods.create(&PostParams::default(), &p).await?;
    wait(&sim, 5, "web running", |s| phase(s, "web") == "Running").await?;
    let ip = sim
        .get(Resource::Pods, NS, "web")
        .and_then(|p| p["status"]["podIP"].as_str().map(String::from))
        .context("ip")?;
    let mut answered = false;
    for _ in 0..100 {
        if http_get(&format!("http://{ip}:8888/")).await.is_ok() {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered, "python http.server did not answer on {ip}:8888");
    pods.delete("web", &DeleteParams { grace_period_seconds: Some(2), ..DeleteParams::default() }).await?;
    wait(&sim, 5, "web gone", |s| s.get(Resource::Pods, NS, "web").is_none()).await?;
    assert!(tokio::net::TcpStream::connect((ip.as_str(), 8888)).await.is_err(), "the process group was stopped");
    server.stop().await;
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn process_mode_home_on_a_pvc_survives_pod_recreation() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (sim, server, client) = start(process_config(dir.path())).await?;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), NS);
    let pvc: PersistentVolumeClaim = serde_json::from_value(json!({"metadata": {"name": "claim-ivy"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}))?;
    pvcs.create(&PostParams::default(), &pvc).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let shell_pod = |script: &str| -> Result<Pod> {
        Ok(serde_json::from_value(json!({
            "metadata": {"name": "ivy"},
            "spec": {"restartPolicy": "Never",
                "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": "claim-ivy"}}],
                "containers": [{"name": "notebook", "image": "local/shell:1", "args": [script],
                    "env": [{"name": "GREETING", "value": "hello $(JUPYTERHUB_USER)"}, {"name": "JUPYTERHUB_USER", "value": "ivy"}],
                    "volumeMounts": [{"name": "home", "mountPath": "/home/jovyan"}]}]}
        }))?)
    };
    pods.create(
        &PostParams::default(),
        &shell_pod("echo \"$GREETING\" > \"$HOME/note.txt\"; pwd > \"$HOME/cwd.txt\"")?,
    )
    .await?;
    wait(&sim, 10, "first pod done", |s| phase(s, "ivy") == "Succeeded").await?;
    let vol = sim.volume_dir(NS, "claim-ivy").context("volume dir")?;
    assert_eq!(
        tokio::fs::read_to_string(vol.join("note.txt")).await?.trim(),
        "hello $(JUPYTERHUB_USER)",
        "only earlier variables expand"
    );
    assert_eq!(tokio::fs::read_to_string(vol.join("cwd.txt")).await?.trim(), vol.display().to_string());
    pods.delete("ivy", &DeleteParams::default()).await?;
    wait(&sim, 5, "first pod gone", |s| s.get(Resource::Pods, NS, "ivy").is_none()).await?;
    pods.create(&PostParams::default(), &shell_pod("cat \"$HOME/note.txt\" > \"$HOME/again.txt\"; exit 3")?).await?;
    wait(&sim, 10, "second pod failed", |s| phase(s, "ivy") == "Failed").await?;
    assert_eq!(tokio::fs::read_to_string(vol.join("again.txt")).await?.trim(), "hello $(JUPYTERHUB_USER)");
    let term = sim
        .get(Resource::Pods, NS, "ivy")
        .and_then(|p| p.pointer("/status/containerStatuses/0/state/terminated").cloned())
        .context("terminated")?;
    assert_eq!((term["exitCode"].as_i64(), term["reason"].as_str()), (Some(3), Some("Error")));
    assert!(sim.log_path(NS, "ivy", "notebook").exists());
    server.stop().await;
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn generate_name_status_subresource_namespaces_and_streaming_lists() -> Result<()> {
    let (sim, server, client) = start(SimConfig::default()).await?;
    // A kubeconfig written for the simulator is accepted by kube's own loader.
    let kc = kube::config::Kubeconfig::from_yaml(&jhub_kube_sim::kubeconfig(&server.url, NS))?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default()).await?;
    assert_eq!(cfg.default_namespace, NS);
    let client2 = kube::Client::try_from(cfg)?;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client2);
    namespaces
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "user-ns"}}))?)
        .await?;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "user-ns");
    let generated: Pod = serde_json::from_value(json!({"metadata": {"generateName": "jupyter-"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))?;
    let a = pods.create(&PostParams::default(), &generated).await?;
    let b = pods.create(&PostParams::default(), &generated).await?;
    let (na, nb) = (a.metadata.name.clone().unwrap_or_default(), b.metadata.name.clone().unwrap_or_default());
    assert!(na.starts_with("jupyter-") && na.len() == "jupyter-".len() + 5 && na != nb, "{na} {nb}");

    // The status subresource changes status only; the main resource ignores status.
    let patched = pods
        .patch_status(
            &na,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"message": "hello"}, "spec": {"nodeName": "x"}})),
        )
        .await?;
    assert_eq!(patched.status.and_then(|s| s.message).as_deref(), Some("hello"));
    assert_ne!(patched.spec.and_then(|s| s.node_name).as_deref(), Some("x"));
    // Pod spec updates beyond images are forbidden.
    let err = pods
        .patch(&na, &PatchParams::default(), &Patch::Merge(json!({"spec": {"restartPolicy": "Never"}})))
        .await
        .err()
        .context("spec change")?;
    assert_eq!(api_code(&err), Some((422, "Invalid".into())));
    let err = pods
        .patch(&na, &PatchParams::default(), &Patch::Json::<()>(serde_json::from_value(json!([]))?))
        .await
        .err()
        .context("json patch")?;
    assert_eq!(api_code(&err).map(|c| c.0), Some(415));

    // Streaming lists (sendInitialEvents) reach InitDone.
    let (reader, writer) = reflector::store::<Pod>();
    let stream = reflector(writer, watcher(pods.clone(), watcher::Config::default().streaming_lists()));
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while stream.next().await.is_some() {}
    });
    tokio::time::timeout(Duration::from_secs(5), reader.wait_until_ready()).await??;
    assert_eq!(reader.len(), 2);

    // Deleting a namespace deletes what it holds.
    namespaces.delete("user-ns", &DeleteParams::default()).await?;
    wait(&sim, 5, "namespace contents gone", |s| s.list(Resource::Pods, Some("user-ns")).is_empty()).await?;
    let err = pods.create(&PostParams::default(), &generated).await.err().context("namespace gone")?;
    assert_eq!(api_code(&err), Some((404, "NotFound".into())));
    server.stop().await;
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn hundreds_of_concurrent_spawns_converge_with_counted_calls() -> Result<()> {
    let n = 300;
    let nodes: Vec<NodeConfig> =
        (0..4).map(|i| NodeConfig::new(&format!("n{i}")).cpu("128").memory("512Gi").max_pods(100)).collect();
    let (sim, server, client) = start(SimConfig::default().with_nodes(nodes)).await?;
    let (store, _log) = spawn_reflector(client.clone(), watcher::Config::default());
    store.wait_until_ready().await?;
    sim.reset_request_counts();
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let creates = (0..n).map(|i| {
        let pods = pods.clone();
        async move {
            pods.create(&PostParams::default(), &pod(&format!("p{i}"), "busybox")?)
                .await
                .map(|_| ())
                .map_err(anyhow::Error::from)
        }
    });
    for r in futures::future::join_all(creates).await {
        r?;
    }
    let running = |s: &reflector::Store<Pod>| {
        s.state().iter().filter(|p| p.status.as_ref().and_then(|st| st.phase.as_deref()) == Some("Running")).count()
    };
    eventually(20, "all pods Running in the reflector", || running(&store) == n).await?;
    let counts = sim.request_counts();
    assert_eq!(counts.get(Verb::Create, Resource::Pods), n as u64);
    // Only the watch that follows the reflector's initial list may show up besides the creates.
    assert_eq!(counts.get(Verb::List, Resource::Pods), 0, "{counts:?}");
    assert!(counts.total() <= n as u64 + 1, "the watch served everything else: {counts:?}");
    // 110 pods per node is the default; here 4 × 100 hold them all, spread by LeastAllocated.
    let per_node: BTreeMap<String, usize> =
        sim.list(Resource::Pods, Some(NS)).iter().fold(BTreeMap::new(), |mut m, p| {
            *m.entry(p["spec"]["nodeName"].as_str().unwrap_or("").to_string()).or_insert(0) += 1;
            m
        });
    assert_eq!(per_node.len(), 4, "{per_node:?}");
    assert!(per_node.values().all(|c| *c <= 100 && *c >= 50), "{per_node:?}");
    server.stop().await;
    sim.shutdown().await;
    Ok(())
}
