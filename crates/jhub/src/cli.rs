//! Command-line definitions and dispatch. Every flag also reads a `JHUB_*`
//! environment variable (see `--help`).

use crate::logging::LogArgs;
use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// The flags `jhub` itself reads from the environment (the config crate
/// warns about any other `JHUB_*` variable).
pub const KNOWN_ENV: &[&str] = &[
    "JHUB_LOG_LEVEL",
    "JHUB_LOG_FORMAT",
    "JHUB_VALUES_FILES",
    "JHUB_DEV",
    "JHUB_LISTEN",
    "JHUB_DB_URL",
    "JHUB_SPAWNER",
    "JHUB_PROXY",
    "JHUB_KUBE_URL",
    "JHUB_KUBECONFIG",
    "JHUB_Z2JH_MOUNT",
    "JHUB_TEMPLATES",
    // Read by the config crate itself.
    "JHUB_DATA_DIR",
    // Set by scripts/install-tools and scripts/test for the test suites and the demo.
    "JHUB_TOOLS_DIR",
    "JHUB_CHP",
    "JHUB_SINGLEUSER",
    "JHUB_SINGLEUSER5",
    "JHUB_SINGLEUSER4",
    "JHUB_REAL_JUPYTERHUB",
    "JHUB_IDLE_CULLER",
    "JHUB_PG_DRIVER",
    "JHUB_KUBESPAWNER_HUB",
    "JHUB_SCHEMATHESIS",
    "JHUB_K8S_PYTHON",
    "JHUB_NODE_MODULES",
    "JHUB_CHROMIUM",
    "JHUB_BIN",
    "JHUB_SKIP_EXTERNAL",
    "JHUB_TEST_POSTGRES_URL",
    "JHUB_TEST_SKIP_POSTGRES",
    "JHUB_DEMO_PORT",
];

#[derive(Debug, Parser)]
#[command(name = "jhub", version, about = "A JupyterHub-compatible hub for Kubernetes, in Rust.")]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct ValuesArgs {
    /// z2jh values files, merged like Helm (later files win).
    #[arg(short = 'f', long = "values", env = "JHUB_VALUES_FILES", value_delimiter = ',')]
    pub files: Vec<PathBuf>,
    /// Read the layout the official z2jh chart mounts (`.../secret/values.yaml`) instead of files.
    #[arg(long, env = "JHUB_Z2JH_MOUNT", conflicts_with = "files")]
    pub z2jh_mount: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SpawnerKind {
    /// KubeSpawner-equivalent pods through the Kubernetes API.
    Kubernetes,
    /// Instant in-process servers that answer HTTP (development, benchmarks).
    Fake,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProxyKind {
    /// configurable-http-proxy's REST API (z2jh's `proxy-api` service).
    Chp,
    /// An in-memory route table (benchmarks without a proxy).
    Memory,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    /// Allow placeholder, empty or generated secrets (never in production).
    #[arg(long, env = "JHUB_DEV")]
    pub dev: bool,
    /// Listen address, overriding `hub.config.JupyterHub.hub_bind_url` / port 8081.
    #[arg(long, env = "JHUB_LISTEN")]
    pub listen: Option<String>,
    /// Database URL, overriding `hub.db` (`sqlite:///abs/path.sqlite`, `sqlite::memory:`, `postgres://...`).
    #[arg(long, env = "JHUB_DB_URL")]
    pub db_url: Option<String>,
    #[arg(long, env = "JHUB_SPAWNER", value_enum, default_value_t = SpawnerKind::Kubernetes)]
    pub spawner: SpawnerKind,
    #[arg(long, env = "JHUB_PROXY", value_enum, default_value_t = ProxyKind::Chp)]
    pub proxy: ProxyKind,
    /// Kubernetes API URL (e.g. the simulator); default: kubeconfig, then in-cluster.
    #[arg(long, env = "JHUB_KUBE_URL")]
    pub kube_url: Option<String>,
    /// kubeconfig file to use.
    #[arg(long, env = "JHUB_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Extra template directory searched before the built-in templates.
    #[arg(long, env = "JHUB_TEMPLATES")]
    pub templates: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hub.
    Serve(ServeArgs),
    /// Validate values files; exit non-zero on errors.
    CheckConfig {
        #[command(flatten)]
        values: ValuesArgs,
        /// Also print the effective configuration with the source of every value.
        #[arg(long)]
        print: bool,
        #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
        format: OutputFormat,
        /// The values file(s) deployed now: changes that do not reach existing
        /// objects (a new `singleuser.storage.capacity`) are reported.
        #[arg(long, value_name = "FILE")]
        previous: Vec<PathBuf>,
    },
    /// Print the pod and PVC a spawn would create, as JSON.
    RenderPod(crate::render::RenderArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate {
        #[command(flatten)]
        values: ValuesArgs,
        #[arg(long, env = "JHUB_DB_URL")]
        db_url: Option<String>,
    },
    /// Create an API token for a user (created if missing) and print it once.
    Token {
        #[command(flatten)]
        values: ValuesArgs,
        #[arg(long, env = "JHUB_DB_URL")]
        db_url: Option<String>,
        /// The user the token belongs to.
        user: String,
        /// Make the user an admin.
        #[arg(long)]
        admin: bool,
        /// Note shown in token listings.
        #[arg(long, default_value = "Requested via jhub token")]
        note: String,
    },
    /// Carry a JupyterHub database (4.x, 5.x, 6.x) over into a fresh jhub database:
    /// users, groups, roles, tokens, OAuth clients, auth state, servers. The source is
    /// only read; switching back to JupyterHub is the rollback.
    #[command(name = "import-jupyterhub")]
    ImportJupyterhub {
        #[command(flatten)]
        values: ValuesArgs,
        /// The target: jhub's database (default: from the values, like `serve`).
        #[arg(long, env = "JHUB_DB_URL")]
        db_url: Option<String>,
        /// JupyterHub's `db_url` (`sqlite:////srv/jupyterhub/jupyterhub.sqlite`,
        /// `postgresql://user@host/db`) or the path of its SQLite file.
        #[arg(long)]
        from: String,
        #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
        format: OutputFormat,
    },
    /// Exit 0 if the hub at URL answers `/hub/health` with 200.
    Healthcheck {
        #[arg(default_value = "http://127.0.0.1:8081/hub/health")]
        url: String,
    },
    /// Print the Kubernetes RBAC rules the hub needs (spawner and storage, with their scope).
    RbacRules {
        #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
        format: OutputFormat,
        /// The cluster-scoped rules of live GPU capacity instead (the chart's
        /// `custom.jhub.nodeCapacity.enabled` ClusterRole).
        #[arg(long)]
        cluster: bool,
    },
    /// Run as the official z2jh chart starts JupyterHub
    /// (`jupyterhub --config /usr/local/etc/jupyterhub/jupyterhub_config.py [--upgrade-db]`).
    #[command(name = "jupyterhub", disable_help_flag = true)]
    Jupyterhub {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Where z2jh mounts its values.
pub const Z2JH_SECRET_DIR: &str = "/usr/local/etc/jupyterhub/secret";

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => crate::serve::serve(args).await,
        Command::CheckConfig { values, print, format, previous } => Ok(check_config(&values, print, format, &previous)),
        Command::RenderPod(args) => crate::render::render(args),
        Command::Migrate { values, db_url } => {
            let loaded = crate::wiring::load_values(&values)?;
            let url = crate::wiring::database_url(&loaded.config, db_url.as_deref())?;
            let url = crate::import::jhub_url_beside_jupyterhub(&url).await?;
            let versions = jhub_store::Store::migrate_only(&url).await.context("migrating the database")?;
            crate::output::emit(&format!("database schema at version {}", versions.last().copied().unwrap_or(0)));
            Ok(ExitCode::SUCCESS)
        }
        Command::Token { values, db_url, user, admin, note } => {
            let loaded = crate::wiring::load_values(&values)?;
            let url = crate::wiring::database_url(&loaded.config, db_url.as_deref())?;
            let url = crate::import::jhub_url_beside_jupyterhub(&url).await?;
            let secret = crate::wiring::issue_token(&url, &user, admin, &note).await?;
            crate::output::emit(&secret);
            Ok(ExitCode::SUCCESS)
        }
        Command::ImportJupyterhub { values, db_url, from, format } => {
            crate::import::command(&values, db_url.as_deref(), &from, format == OutputFormat::Json).await
        }
        Command::Healthcheck { url } => {
            let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build()?;
            match client.get(&url).send().await {
                Ok(response) if response.status().is_success() => Ok(ExitCode::SUCCESS),
                Ok(response) => {
                    eprintln!("jhub healthcheck: {url} answered {}", response.status());
                    Ok(ExitCode::FAILURE)
                }
                Err(err) => {
                    eprintln!("jhub healthcheck: {url}: {err}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::RbacRules { format, cluster } => {
            let rules = if cluster {
                crate::wiring::rules_json(jhub_kube::CLUSTER_RBAC_RULES)
            } else {
                crate::wiring::rbac_rules()
            };
            match format {
                OutputFormat::Json => crate::output::emit(&serde_json::to_string_pretty(&rules)?),
                OutputFormat::Human => {
                    for rule in rules.as_array().into_iter().flatten() {
                        crate::output::emit(&rule.to_string());
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Jupyterhub { args: _ } => {
            // z2jh passes `--config <file.py>`, `--upgrade-db`, `--debug`; the Python
            // config is not read (jhub reads the values it would have read).
            // `--debug` is what the chart passes for `debug.enabled`, which
            // the mounted values carry too: the level follows from those.
            let serve = ServeArgs {
                values: ValuesArgs { files: Vec::new(), z2jh_mount: Some(PathBuf::from(Z2JH_SECRET_DIR)) },
                dev: false,
                listen: None,
                db_url: None,
                spawner: SpawnerKind::Kubernetes,
                proxy: ProxyKind::Chp,
                kube_url: None,
                kubeconfig: None,
                templates: Vec::new(),
            };
            crate::serve::serve(serve).await
        }
    }
}

fn check_config(values: &ValuesArgs, print: bool, format: OutputFormat, previous: &[PathBuf]) -> ExitCode {
    let env = crate::wiring::environment();
    let result = match &values.z2jh_mount {
        Some(dir) => jhub_config::load_z2jh_mount(dir, &env),
        None => jhub_config::load(&crate::wiring::sources(&values.files), &env),
    };
    let fmt = match format {
        OutputFormat::Human => jhub_config::Format::Human,
        OutputFormat::Json => jhub_config::Format::Json,
    };
    match result {
        Ok(mut loaded) => {
            if !previous.is_empty() {
                match jhub_config::load(&crate::wiring::sources(previous), &env) {
                    Ok(before) => loaded.diagnostics.extend(jhub_config::change_notes(&before.config, &loaded.config)),
                    Err(failure) => {
                        crate::output::emit_raw(&failure.render(fmt));
                        crate::output::emit("check-config: the --previous configuration has errors");
                        return ExitCode::FAILURE;
                    }
                }
            }
            if format == OutputFormat::Json && print {
                let doc = serde_json::json!({
                    "config": serde_json::to_value(&loaded.config).unwrap_or_default(),
                    "diagnostics": serde_json::from_str::<serde_json::Value>(&loaded.render_diagnostics(fmt)).unwrap_or_default(),
                });
                crate::output::emit(&serde_json::to_string_pretty(&doc).unwrap_or_default());
            } else {
                crate::output::emit_raw(&loaded.render_diagnostics(fmt));
                if print {
                    crate::output::emit_raw(&jhub_config::print_effective(&loaded));
                }
                if format == OutputFormat::Human {
                    crate::output::emit(&format!(
                        "check-config: configuration is usable ({})",
                        jhub_config::summary(&loaded.diagnostics)
                    ));
                }
            }
            ExitCode::SUCCESS
        }
        Err(failure) => {
            crate::output::emit_raw(&failure.render(fmt));
            if format == OutputFormat::Human {
                crate::output::emit(&format!(
                    "check-config: configuration has errors ({})",
                    jhub_config::summary(&failure.diagnostics)
                ));
            }
            ExitCode::FAILURE
        }
    }
}
