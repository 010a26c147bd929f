//! The `jhub` binary: the command line, logging, and wiring the crates into a
//! running hub. No domain logic lives here.
//!
//! Subcommands: `serve` (the hub), `check-config` (validate z2jh values),
//! `render-pod` (the pod and PVC a spawn would create), `migrate`,
//! `import-jupyterhub` (carry a JupyterHub database over), `token`
//! (an API token for a user, printed once), `healthcheck`, `rbac-rules`, and
//! `jupyterhub` (what the official z2jh chart runs: `jupyterhub --config …`,
//! served from the chart's mounted values).

mod cli;
mod import;
mod logging;
mod output;
mod render;
mod serve;
mod wiring;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // reqwest, kube and sqlx share one rustls with the ring provider; it must
    // be installed before any client is built.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = cli::Cli::parse();
    logging::init(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("jhub: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("jhub: {err:#}");
            ExitCode::FAILURE
        }
    }
}
