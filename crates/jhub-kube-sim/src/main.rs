//! The `jhub-kube-sim` binary: starts the simulator from flags and an optional config file,
//! serves the API, prints the URL, optionally writes a kubeconfig, and on SIGTERM/SIGINT stops,
//! killing every container process it started.

use std::path::PathBuf;

use clap::Parser;
use jhub_kube_sim::{Delays, KubeletMode, SimConfig, SimError, Simulator};

/// A Kubernetes API server simulator for jhub's tests and demo.
#[derive(Debug, Parser)]
#[command(name = "jhub-kube-sim", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// YAML or JSON SimConfig file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Start from a preset: `seed` (l1 with 2 A100, l2 with 2 P100) or `default`.
    #[arg(long)]
    preset: Option<String>,
    /// Directory for volumes, per-pod directories and logs.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Run containers whose image rule has a process spec as local processes.
    #[arg(long)]
    process_mode: bool,
    /// Process mode: run notebook images with this jupyterhub-singleuser executable.
    #[arg(long)]
    singleuser: Option<String>,
    /// Process mode: extra argument for jupyterhub-singleuser (repeatable), e.g.
    /// `--singleuser-arg=--ServerApp.allow_root=True`.
    #[arg(long, allow_hyphen_values = true)]
    singleuser_arg: Vec<String>,
    /// Process mode: rewrite FROM to TO in container env values (repeatable), standing in for
    /// cluster DNS, e.g. `http://hub:8081=http://127.0.0.1:8081`.
    #[arg(long, value_name = "FROM=TO")]
    env_rewrite: Vec<String>,
    /// Mock mode: answer HTTP 200 on the pods' container ports.
    #[arg(long)]
    mock_http: bool,
    /// Use realistic (seconds-long) delays instead of the fast test defaults.
    #[arg(long)]
    realistic: bool,
    /// Write a kubeconfig pointing at the simulator here.
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Namespace for the kubeconfig context.
    #[arg(long, default_value = "jhub")]
    namespace: String,
}

fn build_config(args: &Args) -> Result<SimConfig, SimError> {
    let mut cfg = match (&args.config, args.preset.as_deref()) {
        (Some(path), _) => SimConfig::from_file(path)?,
        (None, Some("seed")) => SimConfig::seed_cluster(),
        (None, Some("default") | None) => SimConfig::default(),
        (None, Some(other)) => {
            return Err(SimError::InvalidConfig(format!("unknown preset {other:?} (seed, default)")));
        }
    };
    if let Some(d) = &args.data_dir {
        cfg.data_dir = Some(d.clone());
    }
    if args.process_mode {
        cfg.kubelet = KubeletMode::Process;
    }
    if args.mock_http {
        cfg.mock_http_responder = true;
    }
    if args.realistic {
        cfg.delays = Delays::realistic();
    }
    if let Some(exe) = &args.singleuser {
        let extra: Vec<&str> = args.singleuser_arg.iter().map(String::as_str).collect();
        for pattern in [
            "quay.io/zhonger/*",
            "quay.io/jupyterhub/k8s-singleuser-sample*",
            "quay.io/jupyterhub/singleuser*",
            "quay.io/jupyter/*",
            "jupyter/*",
        ] {
            cfg = cfg.with_singleuser(pattern, exe, &extra);
        }
    }
    for rw in &args.env_rewrite {
        let (from, to) = rw
            .split_once('=')
            .filter(|(f, _)| !f.is_empty())
            .ok_or_else(|| SimError::InvalidConfig(format!("--env-rewrite {rw:?}: expected FROM=TO")))?;
        cfg.env_rewrites.push(jhub_kube_sim::EnvRewrite { from: from.into(), to: to.into() });
    }
    cfg = cfg.with_namespace(&args.namespace);
    Ok(cfg)
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

async fn run(args: Args) -> Result<(), SimError> {
    let cfg = build_config(&args)?;
    let sim = Simulator::start(cfg)?;
    let listener = tokio::net::TcpListener::bind(&args.listen).await.map_err(SimError::Serve)?;
    let addr = listener.local_addr().map_err(SimError::Serve)?;
    let url = format!("http://{addr}");
    if let Some(path) = &args.kubeconfig_out {
        std::fs::write(path, jhub_kube_sim::kubeconfig(&url, &args.namespace))
            .map_err(|source| SimError::WriteKubeconfig { path: path.display().to_string(), source })?;
    }
    println!("{url}");
    tracing::info!(%url, data_dir = %sim.data_dir().display(), "jhub-kube-sim listening");
    let result = jhub_kube_sim::serve(listener, sim.clone(), shutdown_signal()).await;
    sim.shutdown().await;
    result
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jhub-kube-sim: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
