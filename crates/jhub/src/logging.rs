//! Structured logs: human-readable by default, JSON with `--log-format json`;
//! level from `RUST_LOG`, else `--log-level`/`JHUB_LOG_LEVEL`, else the
//! configuration (`debug.enabled`, `hub.config.JupyterHub.log_level`), else
//! `info`. The configuration is read after logging starts, so the filter is
//! reloadable and [`apply_config_level`] sets it once the values are loaded.

use clap::{Args, ValueEnum};
use std::sync::OnceLock;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log level or filter (e.g. `info`, `debug`, `jhub_hub=debug,info`);
    /// when absent, the configuration's `debug.enabled` /
    /// `hub.config.JupyterHub.log_level` decide, else `info`.
    #[arg(long, global = true, env = "JHUB_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Log line format.
    #[arg(long, global = true, env = "JHUB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Set when neither `RUST_LOG` nor `--log-level` chose the level: the
/// configuration may then change it.
static CONFIG_MAY_SET: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

pub fn init(args: &LogArgs) {
    let from_env = EnvFilter::try_from_env("RUST_LOG").ok();
    let from_args = args.log_level.as_deref().and_then(|level| EnvFilter::try_new(level).ok());
    let explicit = from_env.is_some() || from_args.is_some();
    let filter = from_env.or(from_args).unwrap_or_else(|| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let started = match args.log_format {
        LogFormat::Json => registry.with(fmt::layer().json().with_writer(std::io::stderr)).try_init(),
        LogFormat::Text => registry.with(fmt::layer().with_writer(std::io::stderr)).try_init(),
    };
    if started.is_ok() && !explicit {
        let _ = CONFIG_MAY_SET.set(handle);
    }
}

/// Applies the configured level (a tracing level name, see
/// `jhub_config::HubConfig::log_level`) unless `RUST_LOG` or `--log-level`
/// chose one.
pub fn apply_config_level(level: Option<&str>) {
    let Some(level) = level else { return };
    let Some(handle) = CONFIG_MAY_SET.get() else {
        tracing::debug!(level, "log level from the configuration not applied: RUST_LOG or --log-level set");
        return;
    };
    match EnvFilter::try_new(level) {
        Ok(filter) => match handle.reload(filter) {
            Ok(()) => tracing::info!(level, "log level from the configuration (debug.enabled / log_level)"),
            Err(err) => tracing::warn!(error = %err, "could not apply the configured log level"),
        },
        Err(err) => tracing::warn!(level, error = %err, "configured log level is not a level"),
    }
}
