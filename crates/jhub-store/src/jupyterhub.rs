//! Reading a JupyterHub database (SQLAlchemy ORM, alembic-versioned) so that
//! `jhub import-jupyterhub` can carry it over.
//!
//! The source is opened read-only and read in one read-only transaction:
//! SQLite with `SQLITE_OPEN_READONLY` (no journal-mode or other pragma that
//! writes), PostgreSQL with `default_transaction_read_only=on` and a
//! `REPEATABLE READ READ ONLY` transaction. Nothing here can write to it, so
//! switching the image back to JupyterHub is the rollback.
//!
//! Which columns exist depends on the schema revision (JupyterHub 4.x, 5.x
//! and 6.x differ by a few columns), so every table's columns are looked up
//! first and optional ones are read only when present. Column types are
//! normalised in SQL (`CAST`) so the same statements decode on both backends:
//! SQLite keeps SQLAlchemy `DateTime` as naive UTC text and booleans as
//! integers, PostgreSQL as `timestamp without time zone` and `boolean`.

use jhub_core::time::Timestamp;
use serde_json::Value;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use std::collections::HashSet;
use std::path::PathBuf;
use std::str::FromStr;

/// The JupyterHub schema revisions the importer reads, with the releases
/// whose head (or intermediate) revision they are. Anything else is refused
/// by name.
pub const SUPPORTED_REVISIONS: &[(&str, &str)] = &[
    ("0eee8c825d24", "JupyterHub 3.1-4.x"),
    ("3c2384c5aae1", "JupyterHub 5.x (pre-release)"),
    ("4621fec11365", "JupyterHub 5.x"),
    ("be8ecf03ddac", "JupyterHub 6.x (pre-release)"),
    ("afd65840b69e", "JupyterHub 6.x (pre-release)"),
    ("ff1860e38070", "JupyterHub 6.x (pre-release)"),
    ("f460b0348206", "JupyterHub 6.x"),
];

/// Revisions of JupyterHub releases older than 4.x (alembic history before
/// `0eee8c825d24`): known, but too old to import directly.
const OLDER_REVISIONS: &[&str] = &[
    "19c0846f6344",
    "eeb276e51423",
    "af4cbdb2d13c",
    "3ec6993fe20c",
    "1cebaf56856c",
    "56cc5a70207e",
    "99a28a4418e1",
    "d68c98b66cd4",
    "896818069c98",
    "4dc2d5a8c53c",
    "833da8570507",
    "651f5419b74d",
];

/// Why a JupyterHub database could not be read. Never contains the URL (it
/// may carry a password).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "unsupported source database URL: expected JupyterHub's db_url, sqlite:///relative/path, sqlite:////absolute/path or postgresql://..."
    )]
    UnsupportedUrl,
    #[error("the JupyterHub database file {0} does not exist")]
    Missing(PathBuf),
    #[error("could not open the JupyterHub {backend} database read-only: {source}")]
    Connect { backend: &'static str, source: sqlx::Error },
    #[error("the {backend} database is not a JupyterHub database: it has no alembic_version table")]
    NotJupyterhub { backend: &'static str },
    #[error(
        "the JupyterHub database is at alembic revision {revision}, which is older than this importer supports \
         (JupyterHub 4.x, 5.x, 6.x); upgrade it first with JupyterHub 4 or newer (`jupyterhub upgrade-db`), then import"
    )]
    TooOld { revision: String },
    #[error(
        "the JupyterHub database is at alembic revision {revision}, which this importer does not know (it reads \
         JupyterHub 4.x, 5.x and 6.x schemas: {known}); a newer JupyterHub? Nothing was imported"
    )]
    Unknown { revision: String, known: String },
    #[error("reading the JupyterHub database ({what}) failed: {source}")]
    Query { what: &'static str, source: sqlx::Error },
    #[error("the JupyterHub database has an unreadable {table} row {id}: {reason}")]
    Decode { table: &'static str, id: String, reason: String },
}

/// A `users` row.
#[derive(Debug, Clone, PartialEq)]
pub struct JhUser {
    pub id: i64,
    pub name: String,
    pub admin: bool,
    pub created: Option<Timestamp>,
    pub last_activity: Option<Timestamp>,
    pub cookie_id: String,
    /// Fernet token bytes as JupyterHub stored them (`JUPYTERHUB_CRYPT_KEY`).
    pub encrypted_auth_state: Option<Vec<u8>>,
    pub user_info: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JhGroup {
    pub id: i64,
    pub name: String,
    pub properties: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JhRole {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub scopes: Vec<String>,
}

/// Who holds a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JhHolder {
    User(i64),
    Group(i64),
    Service(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct JhService {
    pub id: i64,
    pub name: String,
    pub admin: bool,
    pub url: Option<String>,
    pub display: Option<bool>,
    pub info: Option<Value>,
    pub oauth_client_id: Option<String>,
    pub oauth_no_confirm: Option<bool>,
    /// Absent before JupyterHub 5 (every service came from config then).
    pub from_config: Option<bool>,
}

/// A `spawners` row joined with its `servers` row (present while running).
#[derive(Debug, Clone, PartialEq)]
pub struct JhSpawner {
    pub id: i64,
    pub user_id: Option<i64>,
    pub name: String,
    pub display_name: Option<String>,
    pub started: Option<Timestamp>,
    pub last_activity: Option<Timestamp>,
    pub state: Value,
    pub user_options: Value,
    /// `proto://ip:port` of the running server.
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JhToken {
    pub id: i64,
    pub user_id: Option<i64>,
    pub service_id: Option<i64>,
    pub hashed: Option<String>,
    pub prefix: Option<String>,
    pub client_id: Option<String>,
    pub session_id: Option<String>,
    pub created: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub last_activity: Option<Timestamp>,
    pub note: Option<String>,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JhClient {
    pub identifier: String,
    pub description: Option<String>,
    /// `hash_token` of the client secret (for a server: its API token).
    pub secret: Option<String>,
    pub redirect_uri: Option<String>,
    pub allowed_scopes: Vec<String>,
}

/// Everything read from a JupyterHub database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JupyterhubDump {
    /// The alembic revision the database is at.
    pub revision: String,
    /// The release the revision belongs to ([`SUPPORTED_REVISIONS`]).
    pub release: String,
    pub users: Vec<JhUser>,
    pub groups: Vec<JhGroup>,
    /// `(user_id, group_id)`.
    pub memberships: Vec<(i64, i64)>,
    pub roles: Vec<JhRole>,
    /// `(role_id, holder)`.
    pub role_bindings: Vec<(i64, JhHolder)>,
    pub services: Vec<JhService>,
    pub spawners: Vec<JhSpawner>,
    pub tokens: Vec<JhToken>,
    pub clients: Vec<JhClient>,
    /// Rows of tables jhub does not carry over, by table (OAuth codes: a
    /// login in flight; shares: jhub has no sharing yet).
    pub not_carried: Vec<(&'static str, i64)>,
}

enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// Fetches all rows of `$sql` as `$ty` on whichever connection is open.
macro_rules! fetch {
    ($conn:expr, $what:expr, $sql:expr, $ty:ty) => {
        match $conn {
            // The statements are built here from fixed column and table names, never from input.
            Conn::Sqlite(c) => sqlx::query_as::<_, $ty>(sqlx::AssertSqlSafe($sql)).fetch_all(&mut *c).await,
            Conn::Postgres(c) => sqlx::query_as::<_, $ty>(sqlx::AssertSqlSafe($sql)).fetch_all(&mut *c).await,
        }
        .map_err(|source| SourceError::Query { what: $what, source })
    };
}

/// Turns JupyterHub's `db_url` (SQLAlchemy) into what the reader opens:
/// `sqlite:///rel` → relative path `rel`, `sqlite:////abs` → `/abs`,
/// `postgresql+driver://` → `postgres://`. A plain path names a SQLite file.
fn parse_source(url: &str) -> Result<Source, SourceError> {
    if let Some(rest) = url.strip_prefix("sqlite:///") {
        let path = rest.split('?').next().unwrap_or(rest);
        if path.is_empty() || path == ":memory:" {
            return Err(SourceError::UnsupportedUrl);
        }
        return Ok(Source::Sqlite(PathBuf::from(path)));
    }
    if url.starts_with("sqlite:") {
        return Err(SourceError::UnsupportedUrl);
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        let base = scheme.split('+').next().unwrap_or(scheme);
        return match base {
            "postgresql" | "postgres" => Ok(Source::Postgres(format!("postgres://{rest}"))),
            _ => Err(SourceError::UnsupportedUrl),
        };
    }
    if url.is_empty() {
        return Err(SourceError::UnsupportedUrl);
    }
    Ok(Source::Sqlite(PathBuf::from(url)))
}

enum Source {
    Sqlite(PathBuf),
    Postgres(String),
}

/// The SQLite file a JupyterHub `db_url` names, if it names one.
pub fn jupyterhub_sqlite_path(url: &str) -> Option<PathBuf> {
    match parse_source(url) {
        Ok(Source::Sqlite(path)) => Some(path),
        _ => None,
    }
}

/// Opens JupyterHub's database read-only and reads everything the importer
/// carries over, after checking its alembic revision.
pub async fn read_jupyterhub(url: &str) -> Result<JupyterhubDump, SourceError> {
    let mut conn = match parse_source(url)? {
        Source::Sqlite(path) => {
            if !path.exists() {
                return Err(SourceError::Missing(path));
            }
            let backend = "sqlite";
            // No create, no journal_mode, no foreign_keys pragma (the latter
            // is harmless but needs nothing written either way).
            let options = SqliteConnectOptions::new()
                .filename(&path)
                .read_only(true)
                .create_if_missing(false)
                .foreign_keys(false);
            Conn::Sqlite(
                SqliteConnection::connect_with(&options)
                    .await
                    .map_err(|source| SourceError::Connect { backend, source })?,
            )
        }
        Source::Postgres(url) => {
            let backend = "postgres";
            let options = PgConnectOptions::from_str(&url)
                .map_err(|source| SourceError::Connect { backend, source })?
                .options([("default_transaction_read_only", "on")]);
            Conn::Postgres(
                PgConnection::connect_with(&options)
                    .await
                    .map_err(|source| SourceError::Connect { backend, source })?,
            )
        }
    };
    let begin = match &conn {
        Conn::Sqlite(_) => "BEGIN DEFERRED",
        Conn::Postgres(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    };
    exec(&mut conn, begin).await?;
    let result = read_all(&mut conn).await;
    // Read-only either way; ROLLBACK just ends the snapshot.
    let _ = exec(&mut conn, "ROLLBACK").await;
    match conn {
        Conn::Sqlite(c) => {
            let _ = c.close().await;
        }
        Conn::Postgres(c) => {
            let _ = c.close().await;
        }
    }
    result
}

async fn exec(conn: &mut Conn, sql: &'static str) -> Result<(), SourceError> {
    match conn {
        Conn::Sqlite(c) => sqlx::query(sql).execute(&mut *c).await.map(|_| ()),
        Conn::Postgres(c) => sqlx::query(sql).execute(&mut *c).await.map(|_| ()),
    }
    .map_err(|source| SourceError::Query { what: "transaction", source })
}

fn backend(conn: &Conn) -> &'static str {
    match conn {
        Conn::Sqlite(_) => "sqlite",
        Conn::Postgres(_) => "postgres",
    }
}

async fn tables(conn: &mut Conn) -> Result<HashSet<String>, SourceError> {
    let sql = match conn {
        Conn::Sqlite(_) => "SELECT name FROM sqlite_master WHERE type = 'table'",
        Conn::Postgres(_) => {
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()"
        }
    };
    let rows = fetch!(conn, "list tables", sql, (String,))?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}

async fn columns(conn: &mut Conn, table: &str) -> Result<HashSet<String>, SourceError> {
    // Table names come from the fixed list below, never from input.
    let sql = match conn {
        Conn::Sqlite(_) => format!("SELECT name FROM pragma_table_info('{table}')"),
        Conn::Postgres(_) => format!(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}'"
        ),
    };
    let rows = fetch!(conn, "list columns", sql.as_str(), (String,))?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}

/// SQL for an integer column as BIGINT (PostgreSQL's `integer` is int4).
fn int(col: &str) -> String {
    format!("CAST({col} AS BIGINT)")
}

/// SQL for a boolean column as BIGINT: 1, 0, or -1 for NULL.
fn boolean(col: &str) -> String {
    format!("CAST(CASE WHEN {col} IS NULL THEN -1 WHEN {col} THEN 1 ELSE 0 END AS BIGINT)")
}

/// SQL for a text, JSON-text or timestamp column as text.
fn text(col: &str) -> String {
    format!("CAST({col} AS TEXT)")
}

/// `expr` if the column exists, else NULL of the same shape.
fn opt(cols: &HashSet<String>, col: &str, expr: impl Fn(&str) -> String) -> String {
    if cols.contains(col) { expr(col) } else { expr("NULL") }
}

fn timestamp(table: &'static str, id: &dyn ToString, value: Option<String>) -> Result<Option<Timestamp>, SourceError> {
    match value {
        None => Ok(None),
        Some(text) => jhub_core::time::parse(&text).map(Some).map_err(|e| SourceError::Decode {
            table,
            id: id.to_string(),
            reason: e.to_string(),
        }),
    }
}

fn json(table: &'static str, id: &dyn ToString, value: Option<String>) -> Result<Option<Value>, SourceError> {
    match value {
        None => Ok(None),
        Some(text) if text.trim().is_empty() || text.trim() == "null" => Ok(None),
        Some(text) => serde_json::from_str(&text).map(Some).map_err(|e| SourceError::Decode {
            table,
            id: id.to_string(),
            reason: format!("not JSON: {e}"),
        }),
    }
}

fn string_list(table: &'static str, id: &dyn ToString, value: Option<String>) -> Result<Vec<String>, SourceError> {
    match json(table, id, value)? {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(SourceError::Decode {
                    table,
                    id: id.to_string(),
                    reason: format!("scope list holds a non-string {other}"),
                }),
            })
            .collect(),
        Some(other) => {
            Err(SourceError::Decode { table, id: id.to_string(), reason: format!("expected a list, got {other}") })
        }
    }
}

fn flag(value: i64) -> Option<bool> {
    match value {
        -1 => None,
        0 => Some(false),
        _ => Some(true),
    }
}

/// Checks the alembic revision against [`SUPPORTED_REVISIONS`].
pub fn check_revision(revision: &str) -> Result<&'static str, SourceError> {
    if let Some((_, release)) = SUPPORTED_REVISIONS.iter().find(|(r, _)| *r == revision) {
        return Ok(release);
    }
    if OLDER_REVISIONS.contains(&revision) {
        return Err(SourceError::TooOld { revision: revision.to_string() });
    }
    let known = SUPPORTED_REVISIONS.iter().map(|(r, n)| format!("{r} ({n})")).collect::<Vec<_>>().join(", ");
    Err(SourceError::Unknown { revision: revision.to_string(), known })
}

async fn read_all(conn: &mut Conn) -> Result<JupyterhubDump, SourceError> {
    let backend = backend(conn);
    let tables = tables(conn).await?;
    if !tables.contains("alembic_version") {
        return Err(SourceError::NotJupyterhub { backend });
    }
    let revisions =
        fetch!(conn, "alembic revision", "SELECT CAST(version_num AS TEXT) FROM alembic_version", (String,))?;
    let revision = match revisions.as_slice() {
        [(one,)] => one.clone(),
        [] => return Err(SourceError::Unknown { revision: "(none)".into(), known: String::new() }),
        many => {
            let all = many.iter().map(|(r,)| r.as_str()).collect::<Vec<_>>().join("+");
            return Err(SourceError::Unknown { revision: all, known: String::new() });
        }
    };
    let release = check_revision(&revision)?.to_string();
    let mut dump = JupyterhubDump { revision, release, ..Default::default() };

    // users
    let cols = columns(conn, "users").await?;
    let sql = format!(
        "SELECT {}, {}, {}, {}, {}, {}, encrypted_auth_state, {} FROM users ORDER BY id",
        int("id"),
        text("name"),
        boolean("admin"),
        text("created"),
        text("last_activity"),
        text("cookie_id"),
        opt(&cols, "user_info", text),
    );
    type UserTuple =
        (i64, Option<String>, i64, Option<String>, Option<String>, Option<String>, Option<Vec<u8>>, Option<String>);
    for (id, name, admin, created, last_activity, cookie_id, auth_state, user_info) in
        fetch!(conn, "users", sql.as_str(), UserTuple)?
    {
        let name =
            name.ok_or_else(|| SourceError::Decode { table: "users", id: id.to_string(), reason: "no name".into() })?;
        let cookie_id = cookie_id.ok_or_else(|| SourceError::Decode {
            table: "users",
            id: id.to_string(),
            reason: "no cookie_id".into(),
        })?;
        dump.users.push(JhUser {
            id,
            name,
            admin: admin == 1,
            created: timestamp("users", &id, created)?,
            last_activity: timestamp("users", &id, last_activity)?,
            cookie_id,
            encrypted_auth_state: auth_state,
            user_info: json("users", &id, user_info)?,
        });
    }

    // groups and membership
    let cols = columns(conn, "groups").await?;
    let sql =
        format!("SELECT {}, {}, {} FROM groups ORDER BY id", int("id"), text("name"), opt(&cols, "properties", text));
    for (id, name, properties) in fetch!(conn, "groups", sql.as_str(), (i64, Option<String>, Option<String>))? {
        let name =
            name.ok_or_else(|| SourceError::Decode { table: "groups", id: id.to_string(), reason: "no name".into() })?;
        let properties = json("groups", &id, properties)?.unwrap_or_else(|| Value::Object(Default::default()));
        dump.groups.push(JhGroup { id, name, properties });
    }
    let sql = format!("SELECT {}, {} FROM user_group_map ORDER BY group_id, user_id", int("user_id"), int("group_id"));
    dump.memberships = fetch!(conn, "user_group_map", sql.as_str(), (i64, i64))?;

    // roles and bindings
    let sql = format!(
        "SELECT {}, {}, {}, {} FROM roles ORDER BY id",
        int("id"),
        text("name"),
        text("description"),
        text("scopes")
    );
    for (id, name, description, scopes) in
        fetch!(conn, "roles", sql.as_str(), (i64, Option<String>, Option<String>, Option<String>))?
    {
        let name =
            name.ok_or_else(|| SourceError::Decode { table: "roles", id: id.to_string(), reason: "no name".into() })?;
        dump.roles.push(JhRole { id, name, description, scopes: string_list("roles", &id, scopes)? });
    }
    for (table, holder_col) in
        [("user_role_map", "user_id"), ("group_role_map", "group_id"), ("service_role_map", "service_id")]
    {
        if !tables.contains(table) {
            continue;
        }
        let sql = format!("SELECT {}, {} FROM {table} ORDER BY role_id, {holder_col}", int("role_id"), int(holder_col));
        for (role, holder) in fetch!(conn, "role bindings", sql.as_str(), (i64, i64))? {
            let holder = match table {
                "user_role_map" => JhHolder::User(holder),
                "group_role_map" => JhHolder::Group(holder),
                _ => JhHolder::Service(holder),
            };
            dump.role_bindings.push((role, holder));
        }
    }

    // services
    let cols = columns(conn, "services").await?;
    let sql = format!(
        "SELECT {}, {}, {}, {}, {}, {}, {}, {}, {} FROM services ORDER BY id",
        int("id"),
        text("name"),
        boolean("admin"),
        opt(&cols, "url", text),
        opt(&cols, "display", boolean),
        opt(&cols, "info", text),
        opt(&cols, "oauth_client_id", text),
        opt(&cols, "oauth_no_confirm", boolean),
        opt(&cols, "from_config", boolean),
    );
    type ServiceTuple = (i64, Option<String>, i64, Option<String>, i64, Option<String>, Option<String>, i64, i64);
    for (id, name, admin, url, display, info, client, no_confirm, from_config) in
        fetch!(conn, "services", sql.as_str(), ServiceTuple)?
    {
        let name = name.ok_or_else(|| SourceError::Decode {
            table: "services",
            id: id.to_string(),
            reason: "no name".into(),
        })?;
        dump.services.push(JhService {
            id,
            name,
            admin: admin == 1,
            url,
            display: flag(display),
            info: json("services", &id, info)?,
            oauth_client_id: client,
            oauth_no_confirm: flag(no_confirm),
            from_config: flag(from_config),
        });
    }

    // spawners (servers) with the address of the running ones
    let cols = columns(conn, "spawners").await?;
    let sql = format!(
        "SELECT {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {} FROM spawners s LEFT JOIN servers v ON v.id = s.server_id \
         ORDER BY s.id",
        int("s.id"),
        int("s.user_id"),
        text("s.name"),
        if cols.contains("display_name") { text("s.display_name") } else { text("NULL") },
        text("s.started"),
        text("s.last_activity"),
        text("s.state"),
        text("s.user_options"),
        text("v.proto"),
        text("v.ip"),
        int("v.port"),
    );
    type SpawnerTuple = (
        i64,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
    );
    for (id, user_id, name, display_name, started, last_activity, state, user_options, proto, ip, port) in
        fetch!(conn, "spawners", sql.as_str(), SpawnerTuple)?
    {
        let url = match (ip, port) {
            (Some(ip), Some(port)) => {
                let proto = proto.filter(|p| !p.is_empty()).unwrap_or_else(|| "http".into());
                // An empty ip means "all interfaces" to JupyterHub, i.e. localhost.
                let host = if ip.is_empty() { "127.0.0.1".to_string() } else { ip };
                let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host };
                Some(format!("{proto}://{host}:{port}"))
            }
            _ => None,
        };
        dump.spawners.push(JhSpawner {
            id,
            user_id,
            name: name.unwrap_or_default(),
            display_name,
            started: timestamp("spawners", &id, started)?,
            last_activity: timestamp("spawners", &id, last_activity)?,
            state: json("spawners", &id, state)?.unwrap_or_else(|| Value::Object(Default::default())),
            user_options: json("spawners", &id, user_options)?.unwrap_or_else(|| Value::Object(Default::default())),
            url,
        });
    }

    // OAuth clients
    let cols = columns(conn, "oauth_clients").await?;
    let sql = format!(
        "SELECT {}, {}, {}, {}, {} FROM oauth_clients ORDER BY identifier",
        text("identifier"),
        opt(&cols, "description", text),
        text("secret"),
        text("redirect_uri"),
        opt(&cols, "allowed_scopes", text),
    );
    type ClientTuple = (Option<String>, Option<String>, Option<String>, Option<String>, Option<String>);
    for (identifier, description, secret, redirect_uri, allowed) in
        fetch!(conn, "oauth_clients", sql.as_str(), ClientTuple)?
    {
        let Some(identifier) = identifier else { continue };
        let allowed_scopes = string_list("oauth_clients", &identifier, allowed)?;
        dump.clients.push(JhClient { identifier, description, secret, redirect_uri, allowed_scopes });
    }

    // API tokens
    let sql = format!(
        "SELECT {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {} FROM api_tokens ORDER BY id",
        int("id"),
        int("user_id"),
        int("service_id"),
        text("hashed"),
        text("prefix"),
        text("client_id"),
        text("session_id"),
        text("created"),
        text("expires_at"),
        text("last_activity"),
        text("note"),
        text("scopes"),
    );
    type TokenTuple = (
        i64,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    for (
        id,
        user_id,
        service_id,
        hashed,
        prefix,
        client_id,
        session_id,
        created,
        expires_at,
        last_activity,
        note,
        scopes,
    ) in fetch!(conn, "api_tokens", sql.as_str(), TokenTuple)?
    {
        dump.tokens.push(JhToken {
            id,
            user_id,
            service_id,
            hashed,
            prefix,
            client_id,
            session_id,
            created: timestamp("api_tokens", &id, created)?,
            expires_at: timestamp("api_tokens", &id, expires_at)?,
            last_activity: timestamp("api_tokens", &id, last_activity)?,
            note,
            scopes: string_list("api_tokens", &id, scopes)?,
        });
    }

    // What is counted but not carried over.
    for table in ["oauth_codes", "shares", "share_codes"] {
        if tables.contains(table) {
            let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}");
            let rows = fetch!(conn, "count", sql.as_str(), (i64,))?;
            let count = rows.first().map(|(n,)| *n).unwrap_or(0);
            if count > 0 {
                dump.not_carried.push((table, count));
            }
        }
    }
    Ok(dump)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn source_urls_follow_sqlalchemy() {
        assert!(
            matches!(parse_source("sqlite:///jupyterhub.sqlite"), Ok(Source::Sqlite(p)) if p == Path::new("jupyterhub.sqlite"))
        );
        assert!(
            matches!(parse_source("sqlite:////srv/jupyterhub/jupyterhub.sqlite"), Ok(Source::Sqlite(p)) if p == Path::new("/srv/jupyterhub/jupyterhub.sqlite"))
        );
        assert!(matches!(parse_source("/srv/x.sqlite"), Ok(Source::Sqlite(_))));
        assert!(
            matches!(parse_source("postgresql+psycopg2://u:p@h/db"), Ok(Source::Postgres(u)) if u == "postgres://u:p@h/db")
        );
        assert!(matches!(parse_source("sqlite:///:memory:"), Err(SourceError::UnsupportedUrl)));
        assert!(matches!(parse_source("mysql://h/db"), Err(SourceError::UnsupportedUrl)));
    }

    #[test]
    fn revisions_are_checked_by_name() {
        assert_eq!(check_revision("f460b0348206").ok(), Some("JupyterHub 6.x"));
        assert_eq!(check_revision("4621fec11365").ok(), Some("JupyterHub 5.x"));
        assert_eq!(check_revision("0eee8c825d24").ok(), Some("JupyterHub 3.1-4.x"));
        let old = check_revision("833da8570507").unwrap_err().to_string();
        assert!(old.contains("833da8570507") && old.contains("older"), "{old}");
        let new = check_revision("abcdef123456").unwrap_err().to_string();
        assert!(new.contains("abcdef123456") && new.contains("does not know"), "{new}");
    }
}
