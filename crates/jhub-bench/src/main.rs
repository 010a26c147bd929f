//! `jhub-bench`: serves a real hub in-process for benchmarks and API tools
//! (schemathesis, the idle culler) — the fake spawner (servers are tiny
//! HTTP responders on 127.0.0.1), the in-memory proxy, a SQLite store, an
//! admin service token, and optionally N pre-created users
//! `<prefix>00000…`. Also serves the benchmark's ceiling: a bare axum
//! handler returning a user-model-sized JSON body.
//!
//! Not a production entry point (that is the `jhub` binary); must not grow
//! hub logic of its own.

use anyhow::Context;
use clap::Parser;
use jhub_core::ports::Clock;
use jhub_hub::fakes::{FakeSpawner, MemoryProxy};
use jhub_hub::{Hub, HubSettings, ServiceSpec};
use jhub_web::{App, Templates, WebSettings};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(about = "In-process hub for benchmarks (fake spawner, memory proxy)")]
struct Args {
    /// Port of the hub (127.0.0.1); 0 picks one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// SQLite database file (created if missing).
    #[arg(long)]
    db: String,
    /// Token of the admin service `bench-admin`.
    #[arg(long, default_value = "bench-admin-token-0123456789")]
    token: String,
    /// Create this many users (if missing) before serving.
    #[arg(long, default_value_t = 0)]
    users: usize,
    #[arg(long, default_value = "bench-user-")]
    prefix: String,
    /// Also serve the bare-axum ceiling on this port (0 = off).
    #[arg(long, default_value_t = 0)]
    ceiling_port: u16,
    /// Tokio worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Log filter (RUST_LOG syntax).
    #[arg(long, default_value = "warn")]
    log: String,
}

struct WallClock;

impl Clock for WallClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> jhub_core::Timestamp {
        jhub_core::Timestamp::now()
    }
}

/// A body the size of a typical user model, for the ceiling server.
const CEILING_BODY: &str = r#"{"kind":"user","name":"bench-user-00042","admin":false,"user_info":null,"roles":["user"],"groups":[],"server":null,"pending":null,"created":"2026-11-27T02:00:22.369791Z","last_activity":null,"servers":{},"auth_state":null}"#;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(workers) = args.workers {
        builder.worker_threads(workers);
    }
    builder.build()?.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(args.log.as_str()).with_writer(std::io::stderr).init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = jhub_store::Store::connect(&format!("sqlite://{}", args.db)).await.context("opening the database")?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    let addr = listener.local_addr()?;
    let mut settings = HubSettings::new("/", &format!("http://{addr}/hub/api"), &format!("http://{addr}"));
    settings.allow_named_servers = true;
    settings.admin_users = vec!["admin".into()];
    settings.services = vec![ServiceSpec {
        name: "bench-admin".into(),
        admin: true,
        url: None,
        api_token: Some(args.token.clone()),
        display: false,
        oauth_no_confirm: false,
        oauth_redirect_uri: None,
        info: serde_json::json!({}),
    }];
    let web = WebSettings::new(settings.layout.clone());
    let hub = Hub::start(
        settings,
        store,
        Arc::new(FakeSpawner::serving()),
        Arc::new(MemoryProxy::default()),
        Arc::new(WallClock),
    )
    .await
    .context("starting the hub")?;
    if args.users > 0 {
        let names: Vec<String> = (0..args.users).map(|i| format!("{}{i:05}", args.prefix)).collect();
        for chunk in names.chunks(1000) {
            hub.create_users(chunk, false).await.context("creating users")?;
        }
        hub.flush_activity().await;
    }
    let auth = jhub_auth::SharedPasswordAuthenticator::new(jhub_auth::SharedPasswordSettings::new(
        "bench-password-not-for-login".to_string().into(),
    ))?;
    let shutdown = CancellationToken::new();
    let app = App::new(
        hub.clone(),
        Arc::new(auth),
        None,
        web,
        b"bench-cookie-secret-0123456789abcdef",
        Templates::new(vec![]),
        shutdown.clone(),
    );
    if args.ceiling_port != 0 {
        let ceiling = tokio::net::TcpListener::bind(("127.0.0.1", args.ceiling_port)).await?;
        let router = axum::Router::new()
            .fallback(|| async { ([(axum::http::header::CONTENT_TYPE, "application/json")], CEILING_BODY) });
        tokio::spawn(async move { axum::serve(ceiling, router).await });
    }
    // The address and pid for scripts, on one line.
    println!("{{\"url\": \"http://{addr}\", \"pid\": {}}}", std::process::id());
    let stop = shutdown.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.cancel();
        }
    });
    #[cfg(unix)]
    {
        let stop = shutdown.clone();
        tokio::spawn(async move {
            if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                term.recv().await;
                stop.cancel();
            }
        });
    }
    let serving = shutdown.clone();
    jhub_web::serve(listener, app, async move { serving.cancelled().await }).await?;
    hub.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
