//! Benchmark: a month's usage report over N server events (issue bar:
//! 1,000,000 events in < 200 ms). Run:
//!
//!   cargo run --release -p jhub-hub --example usage_report -- [N]
//!
//! The events (spawn requested, started, ready, stopped: N/4 sessions of
//! 2,000 users over March 2026, three profiles, five nodes, 0-4 GPUs) are
//! written to the store's event log, the hub is started over them (the log
//! is replayed once into memory, as at every start), then each grouping of
//! the month's report is timed ten times.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jhub_core::Timestamp;
use jhub_core::model::ServerEventKind;
use jhub_core::ports::ManualClock;
use jhub_core::usage::GroupBy;
use jhub_hub::fakes::{FakeSpawner, MemoryProxy};
use jhub_hub::{Hub, HubSettings};
use jhub_store::{NewServerEvent, Store};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn at(micros: i64) -> Timestamp {
    jhub_core::time::from_micros(micros)
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let month_start = jhub_core::time::to_micros(jhub_core::time::parse("2026-03-01T00:00:00Z").unwrap());
    let month_end = jhub_core::time::to_micros(jhub_core::time::parse("2026-04-01T00:00:00Z").unwrap());
    let span = month_end - month_start;
    let profiles = ["cpu", "p100", "a100"];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let began = Instant::now();
    let sessions = n / 4;
    for i in 0..sessions {
        let user = format!("user-{:04}", next() % 2000);
        let server = if i % 5 == 0 { "gpu".to_string() } else { String::new() };
        let start = month_start - 86_400_000_000 + (next() % (span as u64)) as i64;
        let length = 600_000_000 + (next() % 28_800_000_000) as i64;
        let gpus = next() % 5;
        let profile = profiles[(gpus as usize).min(2)];
        let detail = json!({
            "profile": profile, "user_options": {"profile": profile},
            "cpu_guarantee": 2.0, "mem_guarantee": 8_589_934_592u64,
            "extra_resource_limits": {"nvidia.com/gpu": gpus.to_string()},
            "node": format!("node-{}", next() % 5),
        });
        for (kind, when, detail) in [
            (ServerEventKind::SpawnRequested, start - 5_000_000, json!({})),
            (ServerEventKind::Started, start, detail.clone()),
            (ServerEventKind::Ready, start + 2_000_000, detail),
            (ServerEventKind::Stopped, start + length, json!({})),
        ] {
            store
                .append_event(&NewServerEvent {
                    user_id: None,
                    user_name: user.clone(),
                    server_name: server.clone(),
                    kind,
                    at: at(when),
                    detail,
                })
                .await
                .unwrap();
        }
    }
    println!("wrote {} events in {:.1} s", sessions * 4, began.elapsed().as_secs_f64());

    let mut settings = HubSettings::new("/", "http://127.0.0.1:8081/hub/api", "http://127.0.0.1:8081");
    settings.proxy_probe_interval = Duration::ZERO;
    let clock = Arc::new(ManualClock::new(at(month_end + 3_600_000_000)));
    let began = Instant::now();
    let hub = Hub::start(settings, store, Arc::new(FakeSpawner::default()), Arc::new(MemoryProxy::default()), clock)
        .await
        .unwrap();
    println!("hub start (replaying the log into memory): {:.2} s", began.elapsed().as_secs_f64());

    println!("| group_by | rows | median | max of 10 |");
    println!("|---|---|---|---|");
    let mut worst = Duration::ZERO;
    for by in [GroupBy::User, GroupBy::Group, GroupBy::Profile, GroupBy::Node, GroupBy::Day] {
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..10 {
            let began = Instant::now();
            let report = hub.usage_report(at(month_start), at(month_end), by);
            times.push(began.elapsed());
            rows = report.len();
            std::hint::black_box(report);
        }
        times.sort();
        worst = worst.max(times[9]);
        println!(
            "| {} | {rows} | {:.2} ms | {:.2} ms |",
            by.as_str(),
            times[5].as_secs_f64() * 1e3,
            times[9].as_secs_f64() * 1e3
        );
    }
    let bar = Duration::from_millis(200);
    println!(
        "worst {:.2} ms; bar {} ms: {}",
        worst.as_secs_f64() * 1e3,
        bar.as_millis(),
        if worst < bar { "PASS" } else { "FAIL" }
    );
    hub.shutdown(Duration::from_secs(1)).await;
    if worst >= bar {
        std::process::exit(1);
    }
}
