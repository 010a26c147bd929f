//! The `jhub-gitlab-sim` binary: serves the GitLab simulator on a loopback
//! address for the demo and for browser tests, prints its URL on stdout, and
//! stops on SIGTERM or SIGINT.

use clap::Parser;
use jhub_gitlab_sim::{GitLabSim, SimApplication, SimConfig, WallClock, config::default_scopes};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(name = "jhub-gitlab-sim", about = "A GitLab simulator for jhub tests and demos (never for production)")]
struct Args {
    /// Address to listen on, e.g. 127.0.0.1:18130 (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// World description (YAML or JSON): users, groups, projects, applications.
    #[arg(long, conflicts_with = "preset")]
    config: Option<PathBuf>,
    /// A built-in world: `demo`.
    #[arg(long)]
    preset: Option<String>,
    /// Register (or replace) an OAuth application with this client id.
    #[arg(long, requires_all = ["client_secret", "redirect_uri"])]
    client_id: Option<String>,
    #[arg(long)]
    client_secret: Option<String>,
    /// Redirect URI of that application (repeatable).
    #[arg(long)]
    redirect_uri: Vec<String>,
    /// Lifetime of issued access tokens in seconds (default from the config, 7200).
    #[arg(long)]
    token_lifetime: Option<u64>,
}

fn build_config(args: &Args) -> Result<SimConfig, String> {
    let mut config = match (&args.config, &args.preset) {
        (Some(path), _) => SimConfig::from_file(path).map_err(|e| e.to_string())?,
        (None, Some(name)) => SimConfig::preset(name).map_err(|e| e.to_string())?,
        (None, None) => SimConfig::new(),
    };
    if let (Some(id), Some(secret)) = (&args.client_id, &args.client_secret) {
        config.applications.retain(|app| &app.client_id != id);
        config.applications.push(SimApplication {
            client_id: id.clone(),
            client_secret: secret.clone(),
            redirect_uris: args.redirect_uri.clone(),
            scopes: default_scopes(),
        });
    }
    if let Some(seconds) = args.token_lifetime {
        config.token_lifetime_seconds = seconds;
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    let config = match build_config(&args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("jhub-gitlab-sim: {message}");
            return ExitCode::from(2);
        }
    };
    let sim = match GitLabSim::new(config, Arc::new(WallClock)) {
        Ok(sim) => sim,
        Err(err) => {
            eprintln!("jhub-gitlab-sim: {err}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("jhub-gitlab-sim: cannot listen on {}: {err}", args.listen);
            return ExitCode::from(1);
        }
    };
    match listener.local_addr() {
        Ok(addr) => {
            let mut out = std::io::stdout();
            let _ = writeln!(out, "jhub-gitlab-sim listening on http://{addr}");
            let _ = out.flush();
        }
        Err(err) => {
            eprintln!("jhub-gitlab-sim: {err}");
            return ExitCode::from(1);
        }
    }
    match sim.serve(listener, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("jhub-gitlab-sim: {err}");
            ExitCode::from(1)
        }
    }
}
