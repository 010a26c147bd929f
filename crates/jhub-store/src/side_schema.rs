//! jhub's own schema next to JupyterHub's in one PostgreSQL database.
//!
//! In z2jh's drop-in mode both charts read the same `hub.db.url`. When that
//! URL's schema holds JupyterHub's tables, jhub keeps its own tables in a
//! schema of its own in the same database (`jhub` beside `public`, else
//! `<schema>_jhub`) and reaches it through the URL's `search_path`. JupyterHub
//! only ever looks at its own schema, so its tables stay as they were and
//! switching the image back is the rollback. The only statement jhub runs in
//! the database outside its schema is `CREATE SCHEMA`.

use crate::error::StoreError;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::str::FromStr;

const BACKEND: &str = "postgres";

/// What the default schema of a PostgreSQL URL holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaContents {
    /// No JupyterHub tables: jhub's own database (or an empty one).
    NotJupyterhub,
    /// JupyterHub's tables (alembic's version table, no jhub migrations) in `schema`.
    Jupyterhub { schema: String },
}

/// Where jhub keeps its data next to JupyterHub's, and whether it is new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideSchema {
    pub schema: String,
    /// The URL reaching it (`search_path` set to the schema).
    pub url: String,
    /// No jhub migrations there yet: nothing of jhub's is stored.
    pub fresh: bool,
}

async fn connect(url: &str) -> Result<PgConnection, StoreError> {
    let options =
        PgConnectOptions::from_str(url).map_err(|source| StoreError::ParseUrl { backend: BACKEND, source })?;
    PgConnection::connect_with(&options).await.map_err(|source| StoreError::Connect { backend: BACKEND, source })
}

async fn tables_in(conn: &mut PgConnection, schema: &str) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 \
         AND table_name IN ('alembic_version', '_sqlx_migrations')",
    )
    .bind(schema)
    .fetch_all(conn)
    .await
    .map_err(StoreError::query("inspect schema"))?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}

/// Looks (read-only) at what the URL's default schema holds.
pub async fn postgres_schema_contents(url: &str) -> Result<SchemaContents, StoreError> {
    let mut conn = connect(url).await?;
    let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(&mut conn)
        .await
        .map_err(StoreError::query("current schema"))?;
    let contents = match schema {
        Some(schema) => {
            let tables = tables_in(&mut conn, &schema).await?;
            if crate::is_foreign(tables.iter().map(String::as_str)) {
                SchemaContents::Jupyterhub { schema }
            } else {
                SchemaContents::NotJupyterhub
            }
        }
        None => SchemaContents::NotJupyterhub,
    };
    let _ = conn.close().await;
    Ok(contents)
}

/// The name of jhub's schema beside JupyterHub's `schema`.
pub fn side_schema_name(schema: &str) -> String {
    if schema == "public" { "jhub".to_string() } else { format!("{schema}_jhub") }
}

/// `url` with its `search_path` set to `schema` (appended to the startup
/// `options`, where a later `-c` wins over an earlier one).
pub fn with_search_path(url: &str, schema: &str) -> String {
    let setting = format!("-csearch_path%3D{schema}");
    match url.split_once('?') {
        None => format!("{url}?options={setting}"),
        Some((base, query)) => {
            let mut found = false;
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.strip_prefix("options=") {
                    Some(value) => {
                        found = true;
                        format!("options={value}%20{setting}")
                    }
                    None => param.to_string(),
                })
                .collect();
            let mut query = params.join("&");
            if !found {
                query.push_str(&format!("&options={setting}"));
            }
            format!("{base}?{query}")
        }
    }
}

/// Creates (if missing) jhub's schema beside JupyterHub's `schema` in the
/// database of `url`, and tells whether it holds jhub data yet.
pub async fn ensure_side_schema(url: &str, schema: &str) -> Result<SideSchema, StoreError> {
    let side = side_schema_name(schema);
    if side.len() > 63 || !side.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::Refused(format!(
            "JupyterHub's schema {schema:?} gives jhub's schema the name {side:?}, which is not a plain identifier \
             of at most 63 characters; import into a database of jhub's own with `jhub import-jupyterhub`"
        )));
    }
    let mut conn = connect(url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS \"{side}\"")))
        .execute(&mut conn)
        .await
        .map_err(StoreError::query("create jhub's schema"))?;
    let tables = tables_in(&mut conn, &side).await?;
    let _ = conn.close().await;
    let fresh = !tables.iter().any(|t| t == "_sqlx_migrations");
    Ok(SideSchema { url: with_search_path(url, &side), schema: side, fresh })
}

/// The URL of jhub's schema beside JupyterHub's `schema` when it already
/// holds jhub's tables (looked at read-only; nothing is created).
pub async fn existing_side_schema(url: &str, schema: &str) -> Result<Option<String>, StoreError> {
    let side = side_schema_name(schema);
    let mut conn = connect(url).await?;
    let tables = tables_in(&mut conn, &side).await?;
    let _ = conn.close().await;
    Ok(tables.iter().any(|t| t == "_sqlx_migrations").then(|| with_search_path(url, &side)))
}

/// Drops jhub's schema (after a failed first import, so the next start tries
/// again). Refuses any schema that is not a side schema.
pub async fn drop_side_schema(url: &str, side: &str) -> Result<(), StoreError> {
    if !(side == "jhub" || side.ends_with("_jhub")) {
        return Err(StoreError::Refused(format!("{side:?} is not jhub's schema")));
    }
    let mut conn = connect(url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{side}\" CASCADE")))
        .execute(&mut conn)
        .await
        .map_err(StoreError::query("drop jhub's schema"))?;
    let _ = conn.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_path_goes_into_the_startup_options() {
        assert_eq!(with_search_path("postgres://h@db/hub", "jhub"), "postgres://h@db/hub?options=-csearch_path%3Djhub");
        assert_eq!(
            with_search_path("postgres://h@db/hub?sslmode=require", "jhub"),
            "postgres://h@db/hub?sslmode=require&options=-csearch_path%3Djhub"
        );
        assert_eq!(
            with_search_path("postgres://h@db/hub?options=-csearch_path%3Dsrc", "src_jhub"),
            "postgres://h@db/hub?options=-csearch_path%3Dsrc%20-csearch_path%3Dsrc_jhub"
        );
        assert_eq!(side_schema_name("public"), "jhub");
        assert_eq!(side_schema_name("hubdata"), "hubdata_jhub");
    }
}
