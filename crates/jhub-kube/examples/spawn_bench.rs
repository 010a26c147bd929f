//! Spawn benchmark (bench/spawn/README.md): N concurrent spawns against the
//! simulator in mock mode, through the Kubernetes spawner directly and
//! through the hub (SQLite in memory, in-memory proxy, the simulator's mock
//! HTTP responder for the readiness check). Reports wall time, spawns per
//! second, start latency percentiles, and the API requests the simulator
//! counted, per verb and resource and per spawn.
//!
//! `cargo run --release -p jhub-kube --example spawn_bench -- [--spawns N] [--mode spawner|hub|both]`
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark binary: a panic is a failed run

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Recorder, cpu, hub_env, request, seed_config, settings};
use jhub_core::Timestamp;
use jhub_core::ports::{ManualClock, Spawner};
use jhub_hub::fakes::MemoryProxy;
use jhub_hub::{Hub, HubSettings, SpawnCommand, SpawnOutcome, StopReason};
use jhub_kube::KubeSpawner;
use jhub_kube_sim::{NodeConfig, RequestCounts, SimConfig, Simulator, Verb};
use jhub_store::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    spawns: usize,
    modes: Vec<&'static str>,
}

fn args() -> Args {
    let mut spawns = 1000;
    let mut modes = vec!["spawner", "hub"];
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        match argv[i].as_str() {
            "--spawns" => {
                spawns = argv.get(i + 1).and_then(|v| v.parse().ok()).expect("--spawns N");
                i += 1;
            }
            "--mode" => {
                modes = match argv.get(i + 1).map(String::as_str) {
                    Some("spawner") => vec!["spawner"],
                    Some("hub") => vec!["hub"],
                    _ => vec!["spawner", "hub"],
                };
                i += 1;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 1;
    }
    Args { spawns, modes }
}

/// The seed cluster, scaled so capacity never limits: the seed CPU profile
/// pins pods to node l1 (8 CPUs each).
fn cluster() -> SimConfig {
    let big = |name: &str, gpu: &str| {
        NodeConfig::new(name).cpu("100000").memory("10000Ti").gpus(2).label("gputype", gpu).max_pods(20_000)
    };
    let mut cfg = SimConfig::seed_cluster().with_nodes(vec![big("l1", "A100"), big("l2", "P100")]);
    cfg.mock_http_responder = true;
    cfg.watch_history = 200_000;
    cfg.watch_buffer = 200_000;
    cfg
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report_counts(label: &str, counts: &RequestCounts, n: usize) {
    println!("  API requests during {label} (verb resource: total, per spawn):");
    for ((verb, resource), count) in &counts.0 {
        println!("    {:<7} {:<24} {:>7}  {:>6.2}", verb.as_str(), resource, count, *count as f64 / n as f64);
    }
    let non_watch = counts.total() - counts.verb(Verb::Watch);
    println!(
        "    total without watches: {non_watch} ({:.2} per spawn); GETs: {}; LISTs: {}",
        non_watch as f64 / n as f64,
        counts.verb(Verb::Get),
        counts.verb(Verb::List)
    );
}

async fn through_spawner(sim: &Simulator, client: kube::Client, n: usize) {
    let spawner = Arc::new(KubeSpawner::new(client, seed_config(), settings()).unwrap());
    spawner.wait_ready().await.unwrap();
    sim.reset_request_counts();
    let began = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let spawner = spawner.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("bench-{i}");
            let t = Instant::now();
            let started = spawner
                .start(request(&name, i as i64 + 1, cpu(), Duration::from_secs(300)), Recorder::default().sink())
                .await;
            (name, started, t.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(n);
    let mut states = Vec::with_capacity(n);
    let mut failures = 0;
    for task in tasks {
        let (name, started, latency) = task.await.unwrap();
        match started {
            Ok(started) => {
                latencies.push(latency);
                states.push((name, started.state));
            }
            Err(err) => {
                failures += 1;
                eprintln!("{name}: {err}");
            }
        }
    }
    let spawn_time = began.elapsed();
    let spawn_counts = sim.request_counts();
    sim.reset_request_counts();
    // Every server polled once, as the hub's poll loop would.
    let polled = Instant::now();
    for (name, state) in &states {
        spawner.poll(name, "", state).await.unwrap();
    }
    let poll_time = polled.elapsed();
    let poll_counts = sim.request_counts();
    let stopping = Instant::now();
    let mut tasks = Vec::new();
    for (name, state) in states {
        let spawner = spawner.clone();
        tasks.push(tokio::spawn(async move { spawner.stop(&name, "", &state, false).await }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let stop_time = stopping.elapsed();
    let stop_counts = sim.request_counts();
    latencies.sort();
    println!("\n== {n} concurrent spawns through KubeSpawner ==");
    println!(
        "  spawned {} ({} failed) in {:.2} s: {:.0} spawns/s; start latency p50 {:.2} s, p95 {:.2} s, max {:.2} s",
        latencies.len(),
        failures,
        spawn_time.as_secs_f64(),
        latencies.len() as f64 / spawn_time.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64(),
        percentile(&latencies, 0.95).as_secs_f64(),
        percentile(&latencies, 1.0).as_secs_f64(),
    );
    report_counts("the spawns", &spawn_counts, n);
    println!(
        "  polled {n} servers in {:.1} ms with {} API requests",
        poll_time.as_secs_f64() * 1e3,
        poll_counts.total()
    );
    println!("  stopped {n} servers in {:.2} s", stop_time.as_secs_f64());
    report_counts("the stops", &stop_counts, n);
    println!("  pod view: {:?}", spawner.pod_view_counters());
    println!("  event view: {:?}; events held now: {}", spawner.event_view_counters(), spawner.events_held());
}

async fn through_hub(sim: &Simulator, client: kube::Client, n: usize) {
    let spawner = Arc::new(KubeSpawner::new(client, seed_config(), settings()).unwrap());
    spawner.wait_ready().await.unwrap();
    let mut hub_settings = HubSettings::new("/", "http://hub:8081/hub/api", "http://127.0.0.1:8081");
    hub_settings.hub_env = hub_env();
    hub_settings.concurrent_spawn_limit = 0;
    hub_settings.start_timeout = Duration::from_secs(300);
    hub_settings.http_timeout = Duration::from_secs(60);
    hub_settings.stop_timeout = Duration::from_secs(300);
    let proxy = Arc::new(MemoryProxy::default());
    let clock = Arc::new(ManualClock::new(Timestamp::from_second(1_800_000_000).unwrap()));
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let hub = Hub::start(hub_settings, store, spawner.clone(), proxy.clone(), clock).await.unwrap();
    let names: Vec<String> = (0..n).map(|i| format!("hub-{i}")).collect();
    hub.create_users(&names, false).await.unwrap();
    sim.reset_request_counts();
    let began = Instant::now();
    // Requests arrive concurrently, as from many browsers.
    let mut requests = Vec::with_capacity(n);
    for name in &names {
        let hub = hub.clone();
        let command =
            SpawnCommand { user: name.clone(), server: String::new(), user_options: Some(cpu()), display_name: None };
        requests.push(tokio::spawn(async move { hub.spawn(command).await }));
    }
    let mut tickets = Vec::with_capacity(n);
    for request in requests {
        tickets.push(request.await.unwrap().unwrap());
    }
    let requested = began.elapsed();
    let mut ready = 0;
    for ticket in &mut tickets {
        match ticket.wait(Duration::from_secs(300)).await {
            Some(SpawnOutcome::Ready { .. }) => ready += 1,
            other => eprintln!("spawn did not become ready: {other:?}"),
        }
    }
    let spawn_time = began.elapsed();
    let counts = sim.request_counts();
    let routes = proxy.targets().keys().filter(|k| k.starts_with("/user/")).count();
    sim.reset_request_counts();
    let stopping = Instant::now();
    let mut stops = Vec::with_capacity(n);
    for name in &names {
        stops.push(hub.stop(name, "", false, StopReason::Requested).await.unwrap());
    }
    for stop in &mut stops {
        let _ = stop.wait(Duration::from_secs(300)).await;
    }
    let stop_time = stopping.elapsed();
    let stop_counts = sim.request_counts();
    println!("\n== {n} concurrent spawns through the hub (SQLite, in-memory proxy, HTTP readiness check) ==");
    println!(
        "  {ready} ready in {:.2} s ({:.2} s to accept all requests): {:.0} spawns/s; user routes: {routes}",
        spawn_time.as_secs_f64(),
        requested.as_secs_f64(),
        ready as f64 / spawn_time.as_secs_f64(),
    );
    report_counts("the spawns", &counts, n);
    println!("  stopped {n} servers in {:.2} s", stop_time.as_secs_f64());
    report_counts("the stops", &stop_counts, n);
    hub.shutdown(Duration::from_secs(10)).await;
}

#[tokio::main]
async fn main() {
    let args = args();
    for mode in &args.modes {
        let sim = Simulator::start(cluster()).unwrap();
        let server = sim.serve_local().await.unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = kube::Client::try_from(kube::Config::new(server.url.parse().unwrap())).unwrap();
        match *mode {
            "spawner" => through_spawner(&sim, client, args.spawns).await,
            _ => through_hub(&sim, client, args.spawns).await,
        }
        server.stop().await;
        sim.shutdown().await;
    }
}
