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
    let cli = cli::Cli::parse_from(drop_in_args(std::env::args_os()));
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

/// Invoked as `jupyterhub` (the image links that name to jhub, for charts and
/// scripts that run `jupyterhub --config ...` as the command), jhub is its
/// drop-in: the same as `jhub jupyterhub ...`.
fn drop_in_args(args: impl Iterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = args.collect();
    let invoked_as = args.first().and_then(|a| std::path::Path::new(a).file_name()).map(|n| n.to_os_string());
    if invoked_as.as_deref() == Some(std::ffi::OsStr::new("jupyterhub")) {
        args.insert(1, "jupyterhub".into());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::drop_in_args;

    #[test]
    fn invoked_as_jupyterhub_runs_the_drop_in() {
        let args = |v: &[&str]| {
            drop_in_args(v.iter().map(|s| s.into())).iter().map(|s| s.to_string_lossy().to_string()).collect::<Vec<_>>()
        };
        assert_eq!(
            args(&["/usr/local/bin/jupyterhub", "--config", "x.py"]),
            ["/usr/local/bin/jupyterhub", "jupyterhub", "--config", "x.py"]
        );
        assert_eq!(args(&["jhub", "serve"]), ["jhub", "serve"]);
    }
}
