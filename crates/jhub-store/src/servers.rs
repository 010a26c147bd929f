//! The `servers` table (JupyterHub's spawner rows): one per named server and
//! for the default server once used, running or not.

use crate::rows::{ServerRow, json_text, micros_opt, server_cols};
use crate::users::found;
use crate::{Store, StoreError, with_pool};
use jhub_core::model::Server;

const INSERT: &str = concat!(
    "INSERT INTO servers (user_id, name, display_name, state, user_options) VALUES ($1, $2, $3, '{}', '{}') RETURNING ",
    server_cols!()
);
const SAVE: &str = "UPDATE servers SET name = $2, display_name = $3, started = $4, last_activity = $5, state = $6, \
                    user_options = $7, url = $8, pending = $9 WHERE id = $1";
const RENAME: &str = "UPDATE servers SET name = $2 WHERE id = $1";
const DELETE: &str = "DELETE FROM servers WHERE id = $1";

fn missing(id: i64) -> String {
    format!("server {id}")
}

impl Store {
    /// Creates a stopped server (empty state and options).
    /// [`StoreError::Conflict`] if the user already has a server of that name,
    /// [`StoreError::NotFound`] if the user does not exist.
    pub async fn create_server(&self, user_id: i64, name: &str, display_name: &str) -> Result<Server, StoreError> {
        let on_err =
            StoreError::write("create server", format!("server {name:?} of user {user_id}"), format!("user {user_id}"));
        let row: ServerRow = with_pool!(self, |pool| sqlx::query_as(INSERT)
            .bind(user_id)
            .bind(name)
            .bind(display_name)
            .fetch_one(pool)
            .await)
        .map_err(on_err)?;
        row.into_model()
    }

    /// Writes every column of the server as given (`user_id` excepted: a
    /// server never changes owner). The hub's in-memory copy is the authority,
    /// including `last_activity`.
    pub async fn save_server(&self, server: &Server) -> Result<(), StoreError> {
        let state = json_text("server state", &server.state)?;
        let user_options = json_text("server user_options", &server.user_options)?;
        let on_err = StoreError::write(
            "save server",
            format!("server {:?} of user {}", server.name, server.user_id),
            missing(server.id),
        );
        let done = with_pool!(self, |pool| sqlx::query(SAVE)
            .bind(server.id)
            .bind(&server.name)
            .bind(&server.display_name)
            .bind(micros_opt(server.started))
            .bind(micros_opt(server.last_activity))
            .bind(&state)
            .bind(&user_options)
            .bind(server.url.as_deref())
            .bind(server.pending.map(|p| p.as_str()))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(on_err)?;
        found(done, || missing(server.id))
    }

    /// [`StoreError::Conflict`] if the user already has a server named `new_name`.
    pub async fn rename_server(&self, id: i64, new_name: &str) -> Result<(), StoreError> {
        let on_err = StoreError::write("rename server", format!("server {new_name:?}"), missing(id));
        let done = with_pool!(self, |pool| sqlx::query(RENAME)
            .bind(id)
            .bind(new_name)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(on_err)?;
        found(done, || missing(id))
    }

    /// Returns whether the server existed.
    pub async fn delete_server(&self, id: i64) -> Result<bool, StoreError> {
        let done = with_pool!(self, |pool| sqlx::query(DELETE).bind(id).execute(pool).await.map(|r| r.rows_affected()))
            .map_err(StoreError::query("delete server"))?;
        Ok(done > 0)
    }
}
