//! `jhub serve`: load and check the configuration, open the store, build the
//! authenticator, spawner and proxy client, start the hub and its HTTP
//! server, and shut everything down cleanly on SIGTERM/SIGINT or
//! `POST /hub/api/shutdown`.

use crate::cli::{ProxyKind, ServeArgs, SpawnerKind};
use crate::wiring;
use anyhow::{Context, bail};
use jhub_core::ports::{Clock, Proxy, Spawner};
use jhub_hub::Hub;
use jhub_web::{App, Templates};
use secrecy::SecretString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Random hex for secrets generated in `--dev` runs.
fn ephemeral_secret() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    Ok(hex::encode(bytes))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("interrupted; shutting down"),
        _ = terminate => tracing::info!("terminated; shutting down"),
    }
}

/// Lets the authenticator ask whether a user exists (`allow_existing_users`).
struct HubDirectory(Hub);

impl jhub_auth::UserDirectory for HubDirectory {
    fn user_exists(&self, name: &str) -> bool {
        self.0.read().user(name).is_some()
    }
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let loaded = wiring::load_values(&args.values)?;
    let config = loaded.config.clone();
    crate::logging::apply_config_level(config.log_level.as_deref());
    if let Err(problems) = jhub_config::check_secrets(&config, args.dev) {
        bail!(
            "refusing to start with these secrets (use --dev only for local experiments):\n{}",
            jhub_config::render_diagnostics(&problems, &loaded.sources, jhub_config::Format::Human)
        );
    }
    let cookie_secret = match &config.hub.cookie_secret {
        Some(secret) => jhub_config::cookie_secret_bytes(secret.expose()),
        None if args.dev => {
            tracing::warn!("no cookie secret configured; generated one for this run (logins end at restart)");
            ephemeral_secret()?.into_bytes()
        }
        None => bail!("hub.cookieSecret is not set; generate one with `openssl rand -hex 32`"),
    };

    let mut db_url = wiring::database_url(&config, args.db_url.as_deref())?;
    let crypt = wiring::crypt_keeper(&config)?;
    if args.values.z2jh_mount.is_some() {
        // The drop-in mode replaces a running JupyterHub: its data comes along on first start.
        crate::import::auto_import(&config, &db_url, crypt.as_ref()).await?;
        // On PostgreSQL both hubs share hub.db.url: jhub lives in a schema of its own there.
        db_url = crate::import::postgres_drop_in(&config, &db_url, crypt.as_ref()).await?;
    }
    let store = jhub_store::Store::connect(&db_url).await.context("opening the database")?;
    tracing::info!(backend = store.backend_name(), "database ready");

    let authenticator = wiring::authenticator(&config, args.dev)?;
    for warning in authenticator.startup_warnings() {
        tracing::warn!("authenticator: {warning}");
    }

    let (spawner, capacity): (Arc<dyn Spawner>, _) = match args.spawner {
        SpawnerKind::Fake => {
            tracing::warn!("using the fake spawner: servers are in-process stand-ins");
            (Arc::new(jhub_hub::fakes::FakeSpawner::serving()), None)
        }
        SpawnerKind::Kubernetes => crate::wiring::kube_spawner(&config, &args).await?,
    };
    let proxy: Arc<dyn Proxy> = match args.proxy {
        ProxyKind::Memory => Arc::new(jhub_hub::fakes::MemoryProxy::default()),
        ProxyKind::Chp => {
            let token = match &config.proxy.auth_token {
                Some(token) => token.expose().to_string(),
                None if args.dev => {
                    bail!("no proxy token: set proxy.secretToken or CONFIGPROXY_AUTH_TOKEN to the token CHP runs with")
                }
                None => bail!("proxy.secretToken is not set; generate one with `openssl rand -hex 32`"),
            };
            Arc::new(jhub_proxy::ChpProxy::new(&config.proxy.api_url, SecretString::from(token))?)
        }
    };

    let clock: Arc<dyn Clock> = Arc::new(wiring::SystemClock);
    let mut hub_settings = wiring::hub_settings(&config)?;
    for admin in authenticator.admin_users() {
        if !hub_settings.admin_users.contains(&admin) {
            hub_settings.admin_users.push(admin);
        }
    }
    let hub = Hub::start(hub_settings, store, spawner, proxy, clock).await.context("starting the hub")?;
    if matches!(args.spawner, SpawnerKind::Kubernetes) {
        let storage = wiring::kube_storage(&config, &args).await?;
        hub.attach_storage(storage, wiring::storage_settings(&config)).context("turning storage management on")?;
    }
    authenticator.set_user_directory(Arc::new(HubDirectory(hub.clone())));
    {
        let auth = authenticator.clone();
        hub.check_invalid_users(&move |name| auth.validate_username(name), authenticator.delete_invalid_users()).await;
    }

    let mut template_paths: Vec<PathBuf> = config.hub.template_paths.iter().map(PathBuf::from).collect();
    template_paths.extend(args.templates.iter().cloned());
    let shutdown = CancellationToken::new();
    let mut web = wiring::web_settings(&config);
    web.profile_list = wiring::profile_list(&config)?;
    let app = App::new(
        hub.clone(),
        authenticator,
        crypt,
        web,
        &cookie_secret,
        Templates::new(template_paths),
        shutdown.clone(),
    );
    if let Some(capacity) = capacity {
        app.set_capacity(capacity);
    }

    let listen = args.listen.clone().unwrap_or_else(|| format!("{}:{}", config.hub.bind_address, config.hub.port));
    let listener = tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("listening on {listen}"))?;
    tracing::info!("jhub {} listening on http://{}", env!("CARGO_PKG_VERSION"), listener.local_addr()?);

    let stop = shutdown.clone();
    let hub_stop = hub.shutdown_token();
    let signal = async move {
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = stop.cancelled() => tracing::info!("shutdown requested through the API"),
            _ = hub_stop.cancelled() => tracing::error!("the hub stopped itself (see above)"),
        }
    };
    let served = jhub_web::serve_with_limits(listener, app, wiring::edge_limits(&config), signal).await;
    hub.shutdown(Duration::from_secs(10)).await;
    served.context("serving HTTP")?;
    tracing::info!("bye");
    Ok(ExitCode::SUCCESS)
}
