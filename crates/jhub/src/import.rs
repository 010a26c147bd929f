//! `jhub import-jupyterhub`: carry a JupyterHub database over into jhub's,
//! and the drop-in mode's automatic import on first start.
//!
//! The source is read read-only by `jhub_store::read_jupyterhub`; auth state
//! is re-encrypted here (the store does no cryptography) and everything is
//! written in one transaction by `Store::import_jupyterhub`.

use anyhow::{Context, bail};
use jhub_store::{ImportSummary, JupyterhubDump, Store};
use std::path::{Path, PathBuf};

/// Re-encrypts every auth state with jhub's first key (JupyterHub and jhub
/// share the Fernet/MultiFernet format, so any configured key that can
/// decrypt it is accepted). Without keys the bytes are kept as they are and
/// a note says so: nothing can read them, nothing is lost either.
pub fn convert_auth_state(
    dump: &mut JupyterhubDump,
    crypt: Option<&jhub_auth::CryptKeeper>,
    now: jhub_core::Timestamp,
    summary: &mut ImportSummary,
) {
    let mut kept_opaque = 0;
    for user in &mut dump.users {
        let Some(bytes) = user.encrypted_auth_state.take() else { continue };
        match crypt {
            None => {
                kept_opaque += 1;
                user.encrypted_auth_state = Some(bytes);
            }
            Some(keeper) => match keeper.decrypt(&bytes).and_then(|value| keeper.encrypt(&value, now)) {
                Ok(fresh) => user.encrypted_auth_state = Some(fresh),
                Err(err) => summary.skip(
                    "auth state",
                    format!("of user {:?}", user.name),
                    format!("{err}; it is refreshed at the user's next login"),
                ),
            },
        }
    }
    if kept_opaque > 0 {
        summary.notes.push(format!(
            "{kept_opaque} auth states were copied still encrypted: no {} is configured, so they were not checked \
             (configure the same key JupyterHub used to read them)",
            jhub_auth::CRYPT_KEY_ENV
        ));
    }
}

/// Reads the source, converts auth state and writes the target. The target
/// store must be open (migrated) and empty.
pub async fn run_import(
    from: &str,
    store: &Store,
    config: &jhub_config::HubConfig,
    crypt: Option<&jhub_auth::CryptKeeper>,
) -> anyhow::Result<ImportSummary> {
    let mut dump = jhub_store::read_jupyterhub(from).await.context("reading the JupyterHub database")?;
    let now = crate::wiring::jiff_now();
    let mut summary = ImportSummary::default();
    convert_auth_state(&mut dump, crypt, now, &mut summary);
    note_undeclared_roles(&dump, config, &mut summary);
    store.import_jupyterhub(&dump, now, &mut summary).await.context("writing the jhub database")?;
    log_summary(&summary);
    Ok(summary)
}

/// Both hubs take role definitions from the configuration (JupyterHub deletes
/// roles missing from `load_roles` at its next start, unless its authenticator
/// manages them). A role in the database that the values do not declare is
/// carried over but grants nothing in jhub: say so, by name.
fn note_undeclared_roles(dump: &JupyterhubDump, config: &jhub_config::HubConfig, summary: &mut ImportSummary) {
    let declared: std::collections::HashSet<&str> =
        config.hub.load_roles.iter().filter_map(|r| r.get("name").and_then(|n| n.as_str())).collect();
    for role in &dump.roles {
        if ["user", "admin", "server", "token"].contains(&role.name.as_str()) || declared.contains(role.name.as_str()) {
            continue;
        }
        let holders = dump.role_bindings.iter().filter(|(id, _)| *id == role.id).count();
        summary.notes.push(format!(
            "role {:?} ({holders} holders) is not declared in hub.loadRoles: it is imported but grants no scopes \
             until it is declared there (JupyterHub, too, drops roles missing from its config unless its \
             authenticator manages them)",
            role.name
        ));
    }
}

fn log_summary(summary: &ImportSummary) {
    tracing::info!(revision = %summary.revision, release = %summary.release, imported = ?summary.imported,
        skipped = summary.skipped.len(), "imported the JupyterHub database");
    for s in &summary.skipped {
        tracing::warn!(kind = %s.kind, what = %s.what, reason = %s.reason, "not imported");
    }
    for note in &summary.notes {
        tracing::warn!("{note}");
    }
}

/// `jhub import-jupyterhub --from <db_url> [--db-url <target>]`.
pub async fn command(
    values: &crate::cli::ValuesArgs,
    db_url: Option<&str>,
    from: &str,
    json: bool,
) -> anyhow::Result<std::process::ExitCode> {
    let loaded = crate::wiring::load_values(values)?;
    let target = crate::wiring::database_url(&loaded.config, db_url)?;
    if target.starts_with("sqlite::memory:") || target.contains("mode=memory") {
        bail!("the target database is in memory (hub.db.type sqlite-memory); importing into it would be lost at exit");
    }
    let crypt = crate::wiring::crypt_keeper(&loaded.config)?;
    // Fail on the source before creating anything at the target.
    jhub_store::read_jupyterhub(from).await.context("reading the JupyterHub database")?;
    let store = Store::connect(&target).await.context("opening the jhub database")?;
    let result = run_import(from, &store, &loaded.config, crypt.as_ref()).await;
    store.close().await;
    let summary = result?;
    if json {
        crate::output::emit(&serde_json::to_string_pretty(&summary)?);
    } else {
        crate::output::emit_raw(&summary.render());
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The drop-in mode's first start: when jhub's own SQLite file does not
/// exist yet and JupyterHub's database does, import it before the store is
/// opened for serving. Returns whether an import ran.
///
/// JupyterHub's database is `jupyterhub.sqlite` next to `jhub.sqlite`
/// (z2jh's sqlite-pvc layout). For a PostgreSQL `hub.db.url`, which both
/// hubs' configurations share, see [`postgres_drop_in`].
pub async fn auto_import(
    config: &jhub_config::HubConfig,
    target_url: &str,
    crypt: Option<&jhub_auth::CryptKeeper>,
) -> anyhow::Result<bool> {
    let Some(target_path) = sqlite_target_path(target_url) else { return Ok(false) };
    if target_path.exists() {
        return Ok(false);
    }
    let Some(source) = jupyterhub_source(config, &target_path) else { return Ok(false) };
    tracing::info!(source = %source.display(), target = %target_path.display(),
        "first start: jhub has no database yet and JupyterHub's exists; importing it (the JupyterHub file is opened read-only)");
    let from = source.to_string_lossy().to_string();
    let store = Store::connect(target_url).await.context("creating the jhub database")?;
    let result = run_import(&from, &store, config, crypt).await;
    store.close().await;
    match result {
        Ok(summary) => {
            crate::output::emit_raw(&summary.render());
            Ok(true)
        }
        Err(err) => {
            // Leave no half-made database behind: the next start tries again.
            for suffix in ["", "-wal", "-shm"] {
                let mut path = target_path.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(path));
            }
            Err(err.context("automatic import of the JupyterHub database failed; jhub did not start"))
        }
    }
}

/// The drop-in mode on PostgreSQL (`hub.db.type: postgres`): both charts
/// read the same `hub.db.url`. When its schema holds JupyterHub's tables,
/// jhub keeps its own in a schema beside them (`jhub_store::side_schema_name`)
/// and returns the URL reaching that schema; the first start (no jhub data
/// there yet) imports JupyterHub's tables into it, reading them read-only.
/// A URL without JupyterHub's tables is jhub's own and is returned as it is.
pub async fn postgres_drop_in(
    config: &jhub_config::HubConfig,
    url: &str,
    crypt: Option<&jhub_auth::CryptKeeper>,
) -> anyhow::Result<String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Ok(url.to_string());
    }
    let contents = jhub_store::postgres_schema_contents(url).await.context("looking at hub.db.url")?;
    let jhub_store::SchemaContents::Jupyterhub { schema } = contents else { return Ok(url.to_string()) };
    let side = jhub_store::ensure_side_schema(url, &schema).await.context("preparing jhub's schema")?;
    if !side.fresh {
        tracing::info!(jupyterhub_schema = %schema, jhub_schema = %side.schema,
            "hub.db.url holds JupyterHub's tables; jhub uses its own schema beside them");
        return Ok(side.url);
    }
    tracing::info!(jupyterhub_schema = %schema, jhub_schema = %side.schema,
        "first start: hub.db.url holds JupyterHub's tables and jhub has no data yet; importing them into jhub's own \
         schema (JupyterHub's tables are read read-only)");
    let result = async {
        let store = Store::connect(&side.url).await.context("creating jhub's tables")?;
        let result = run_import(url, &store, config, crypt).await;
        store.close().await;
        result
    }
    .await;
    match result {
        Ok(summary) => {
            crate::output::emit_raw(&summary.render());
            Ok(side.url)
        }
        Err(err) => {
            // Leave nothing half-made: the next start tries again.
            if let Err(drop) = jhub_store::drop_side_schema(url, &side.schema).await {
                tracing::error!(error = %drop, schema = %side.schema, "could not remove the half-made jhub schema");
            }
            Err(err.context("automatic import of the JupyterHub database failed; jhub did not start"))
        }
    }
}

/// For the commands that open jhub's database besides `serve` (`migrate`,
/// `token`): a PostgreSQL URL holding JupyterHub's tables leads to jhub's
/// schema beside them once the drop-in mode has made it; else the URL as is.
pub async fn jhub_url_beside_jupyterhub(url: &str) -> anyhow::Result<String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Ok(url.to_string());
    }
    let contents = jhub_store::postgres_schema_contents(url).await.context("looking at the database URL")?;
    let jhub_store::SchemaContents::Jupyterhub { schema } = contents else { return Ok(url.to_string()) };
    let side = jhub_store::existing_side_schema(url, &schema).await.context("looking for jhub's schema")?;
    Ok(side.unwrap_or_else(|| url.to_string()))
}

fn sqlite_target_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://")?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

fn jupyterhub_source(config: &jhub_config::HubConfig, target: &Path) -> Option<PathBuf> {
    let _ = config;
    let beside = target.parent().map(|dir| dir.join("jupyterhub.sqlite"))?;
    (beside.as_path() != target && beside.is_file()).then_some(beside)
}
