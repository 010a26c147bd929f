//! The `servers` table (JupyterHub's spawner rows): one per named server and
//! for the default server once used, running or not.

use crate::oauth::{DELETE_CLIENT, UPSERT_CLIENT};
use crate::rows::{ServerRow, TokenRow, json_text, micros, micros_opt, server_cols};
use crate::tokens::{INSERT as INSERT_TOKEN, NewToken, describe, owner_ids};
use crate::users::found;
use crate::{Store, StoreError, with_pool, with_tx};
use jhub_core::model::{ApiToken, OAuthClient, Server};

const INSERT: &str = concat!(
    "INSERT INTO servers (user_id, name, display_name, state, user_options) VALUES ($1, $2, $3, '{}', '{}') RETURNING ",
    server_cols!()
);
const SAVE: &str = "UPDATE servers SET name = $2, display_name = $3, started = $4, last_activity = $5, state = $6, \
                    user_options = $7, url = $8, pending = $9 WHERE id = $1";

/// `SAVE` with its nine columns bound from a server row (a macro because the
/// query's type differs per backend inside `with_pool!`/`with_tx!`).
macro_rules! save_query {
    ($id:expr, $server:expr, $state:expr, $user_options:expr) => {
        sqlx::query(SAVE)
            .bind($id)
            .bind(&$server.name)
            .bind(&$server.display_name)
            .bind(micros_opt($server.started))
            .bind(micros_opt($server.last_activity))
            .bind(&$state)
            .bind(&$user_options)
            .bind($server.url.as_deref())
            .bind($server.pending.map(|p| p.as_str()))
    };
}
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
        self.fault("save server")?;
        let state = json_text("server state", &server.state)?;
        let user_options = json_text("server user_options", &server.user_options)?;
        let on_err = StoreError::write(
            "save server",
            format!("server {:?} of user {}", server.name, server.user_id),
            missing(server.id),
        );
        let done = with_pool!(self, |pool| save_query!(server.id, server, state, user_options)
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

/// What a spawn persists before its server starts, written in one
/// transaction by [`Store::write_spawn`]: either every row or none.
#[derive(Debug, Clone)]
pub struct SpawnWrite {
    /// The server row as it must be saved (started, options, pending...).
    /// With `create`, `id` is ignored: the row is inserted first.
    pub server: Server,
    pub create: bool,
    /// The server's OAuth client; the last run's client (and by cascade its
    /// tokens) is deleted first.
    pub client: OAuthClient,
    /// The server's API token, issued by `client`.
    pub token: NewToken,
}

/// What a stop (or a failed spawn's cleanup) persists, in one transaction
/// by [`Store::write_stop`].
#[derive(Debug, Clone)]
pub struct StopWrite {
    /// The server's OAuth client: deleted with every token it issued.
    pub client_id: String,
    /// The server row as it must be saved (stopped), or deleted with `remove`.
    pub server: Server,
    pub remove: bool,
}

impl Store {
    /// Persists a spawn's rows atomically: the server row (inserted when
    /// new), a fresh OAuth client replacing the last run's, its API token.
    /// Returns the saved server (with its id) and the stored token.
    pub async fn write_spawn(&self, write: &SpawnWrite) -> Result<(Server, ApiToken), StoreError> {
        let op = "write spawn";
        self.fault(op)?;
        if write.client.identifier == ApiToken::HUB_CLIENT {
            return Err(StoreError::Refused("a server cannot use the hub's own OAuth client".into()));
        }
        let server = &write.server;
        let state = json_text("server state", &server.state)?;
        let user_options = json_text("server user_options", &server.user_options)?;
        let client_scopes = json_text("client allowed_scopes", &write.client.allowed_scopes)?;
        let token_scopes = json_text("token scopes", &write.token.scopes)?;
        let (token_user, token_service) = owner_ids(write.token.owner);
        let (id, token_row) = with_tx!(self, op, |tx| {
            let id = if write.create {
                let row: ServerRow = sqlx::query_as(INSERT)
                    .bind(server.user_id)
                    .bind(&server.name)
                    .bind(&server.display_name)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StoreError::write(
                        op,
                        format!("server {:?} of user {}", server.name, server.user_id),
                        format!("user {}", server.user_id),
                    ))?;
                row.id
            } else {
                server.id
            };
            sqlx::query(DELETE_CLIENT)
                .bind(&write.client.identifier)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query(op))?;
            sqlx::query(UPSERT_CLIENT)
                .bind(&write.client.identifier)
                .bind(&write.client.description)
                .bind(write.client.secret_hashed.as_deref())
                .bind(&write.client.redirect_uri)
                .bind(&client_scopes)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query(op))?;
            let token: TokenRow = sqlx::query_as(INSERT_TOKEN)
                .bind(token_user)
                .bind(token_service)
                .bind(&write.token.hashed)
                .bind(&write.token.prefix)
                .bind(&write.token.client_id)
                .bind(write.token.session_id.as_deref())
                .bind(micros(write.token.created))
                .bind(micros_opt(write.token.expires_at))
                .bind(write.token.note.as_deref())
                .bind(&token_scopes)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::write(
                    op,
                    "a token with this hash".to_string(),
                    format!("{} or OAuth client {:?}", describe(write.token.owner), write.token.client_id),
                ))?;
            let done = save_query!(id, server, state, user_options)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query(op))?
                .rows_affected();
            found(done, || missing(id))?;
            (id, token)
        });
        let mut saved = server.clone();
        saved.id = id;
        Ok((saved, token_row.into_model()?))
    }

    /// Persists a stop atomically: the server's OAuth client goes (and its
    /// tokens with it), the row is saved stopped or deleted.
    pub async fn write_stop(&self, write: &StopWrite) -> Result<(), StoreError> {
        let op = "write stop";
        self.fault(op)?;
        if write.client_id == ApiToken::HUB_CLIENT {
            return Err(StoreError::Refused(format!(
                "the built-in OAuth client {:?} cannot be deleted",
                write.client_id
            )));
        }
        let server = &write.server;
        let state = json_text("server state", &server.state)?;
        let user_options = json_text("server user_options", &server.user_options)?;
        with_tx!(self, op, |tx| {
            sqlx::query(DELETE_CLIENT).bind(&write.client_id).execute(&mut *tx).await.map_err(StoreError::query(op))?;
            if write.remove {
                sqlx::query(DELETE).bind(server.id).execute(&mut *tx).await.map_err(StoreError::query(op))?;
            } else {
                let done = save_query!(server.id, server, state, user_options)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query(op))?
                    .rows_affected();
                found(done, || missing(server.id))?;
            }
        });
        Ok(())
    }
}
