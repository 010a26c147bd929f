//! The `users` table: creation (single and bulk), the few columns that change,
//! and deletion, which cascades to servers, tokens, sessions, codes and
//! memberships.

use crate::rows::{UserRow, json_text, micros, user_cols};
use crate::{Backend, Store, StoreError, with_pool};
use jhub_core::model::User;
use jhub_core::time::Timestamp;
use serde_json::Value;
use std::collections::HashMap;

/// A user to create in bulk with [`Store::create_users`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub name: String,
    pub admin: bool,
    pub cookie_id: String,
}

const INSERT: &str =
    concat!("INSERT INTO users (name, admin, created, cookie_id) VALUES ($1, $2, $3, $4) RETURNING ", user_cols!());
// One statement per batch: the rows travel as a JSON array of [name, admin, cookie_id].
const INSERT_MANY_SQLITE: &str = concat!(
    "INSERT INTO users (name, admin, created, cookie_id) ",
    "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), $2, json_extract(value, '$[2]') ",
    "FROM json_each($1) ORDER BY key RETURNING ",
    user_cols!()
);
const INSERT_MANY_POSTGRES: &str = concat!(
    "INSERT INTO users (name, admin, created, cookie_id) ",
    "SELECT v.name, v.admin, $4, v.cookie_id ",
    "FROM UNNEST($1::TEXT[], $2::BOOLEAN[], $3::TEXT[]) WITH ORDINALITY AS v (name, admin, cookie_id, ord) ",
    "ORDER BY v.ord RETURNING ",
    user_cols!()
);
const RENAME: &str = "UPDATE users SET name = $2 WHERE id = $1";
const SET_ADMIN: &str = "UPDATE users SET admin = $2 WHERE id = $1";
const SET_AUTH_STATE: &str = "UPDATE users SET encrypted_auth_state = $2 WHERE id = $1";
const SET_USER_INFO: &str = "UPDATE users SET user_info = $2 WHERE id = $1";
const SET_COOKIE_ID: &str = "UPDATE users SET cookie_id = $2 WHERE id = $1";
const DELETE: &str = "DELETE FROM users WHERE id = $1";

fn missing(id: i64) -> String {
    format!("user {id}")
}

impl Store {
    /// Creates a user. [`StoreError::Conflict`] if the name (or cookie id) is taken.
    pub async fn create_user(
        &self,
        name: &str,
        admin: bool,
        cookie_id: &str,
        now: Timestamp,
    ) -> Result<User, StoreError> {
        let on_err = StoreError::write("create user", format!("user {name:?}"), String::new());
        let row: UserRow = with_pool!(self, |pool| sqlx::query_as(INSERT)
            .bind(name)
            .bind(admin)
            .bind(micros(now))
            .bind(cookie_id)
            .fetch_one(pool)
            .await)
        .map_err(on_err)?;
        row.into_model()
    }

    /// Creates many users in one statement (so in one transaction): all or
    /// none. Returned in input order. [`StoreError::Conflict`] if any name or
    /// cookie id is taken or repeated.
    pub async fn create_users(&self, users: &[NewUser], now: Timestamp) -> Result<Vec<User>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let op = "create users";
        let on_err = || StoreError::write(op, "one of the users".to_string(), String::new());
        let rows: Vec<UserRow> = match &self.backend {
            Backend::Sqlite(pool) => {
                let batch: Vec<(&str, bool, &str)> =
                    users.iter().map(|u| (u.name.as_str(), u.admin, u.cookie_id.as_str())).collect();
                sqlx::query_as(INSERT_MANY_SQLITE)
                    .bind(json_text("new users", &batch)?)
                    .bind(micros(now))
                    .fetch_all(pool)
                    .await
                    .map_err(on_err())?
            }
            Backend::Postgres(pool) => {
                let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
                let admins: Vec<bool> = users.iter().map(|u| u.admin).collect();
                let cookies: Vec<&str> = users.iter().map(|u| u.cookie_id.as_str()).collect();
                sqlx::query_as(INSERT_MANY_POSTGRES)
                    .bind(names)
                    .bind(admins)
                    .bind(cookies)
                    .bind(micros(now))
                    .fetch_all(pool)
                    .await
                    .map_err(on_err())?
            }
        };
        // RETURNING order is not promised by either database; names are unique.
        let mut created: HashMap<String, User> = HashMap::with_capacity(rows.len());
        for row in rows {
            let user = row.into_model()?;
            created.insert(user.name.clone(), user);
        }
        users
            .iter()
            .map(|u| {
                created.remove(&u.name).ok_or_else(|| StoreError::Decode {
                    table: "users",
                    id: u.name.clone(),
                    reason: "bulk insert did not return this user".to_string(),
                })
            })
            .collect()
    }

    /// Renames a user. [`StoreError::Conflict`] if the new name is taken.
    pub async fn rename_user(&self, id: i64, new_name: &str) -> Result<(), StoreError> {
        let on_err = StoreError::write("rename user", format!("user {new_name:?}"), missing(id));
        let done = with_pool!(self, |pool| sqlx::query(RENAME)
            .bind(id)
            .bind(new_name)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(on_err)?;
        found(done, || missing(id))
    }

    pub async fn set_admin(&self, id: i64, admin: bool) -> Result<(), StoreError> {
        let done = with_pool!(self, |pool| sqlx::query(SET_ADMIN)
            .bind(id)
            .bind(admin)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::query("set admin"))?;
        found(done, || missing(id))
    }

    /// Stores (or clears) the already-encrypted auth state.
    pub async fn set_auth_state(&self, id: i64, encrypted: Option<&[u8]>) -> Result<(), StoreError> {
        let done = with_pool!(self, |pool| sqlx::query(SET_AUTH_STATE)
            .bind(id)
            .bind(encrypted)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::query("set auth state"))?;
        found(done, || missing(id))
    }

    pub async fn set_user_info(&self, id: i64, info: Option<&Value>) -> Result<(), StoreError> {
        let text = match info {
            Some(value) => Some(json_text("user_info", value)?),
            None => None,
        };
        let done = with_pool!(self, |pool| sqlx::query(SET_USER_INFO)
            .bind(id)
            .bind(text.as_deref())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::query("set user info"))?;
        found(done, || missing(id))
    }

    /// Replaces the cookie id, which logs the user out of every browser.
    pub async fn set_cookie_id(&self, id: i64, cookie_id: &str) -> Result<(), StoreError> {
        let on_err = StoreError::write("set cookie id", "cookie id".to_string(), missing(id));
        let done = with_pool!(self, |pool| sqlx::query(SET_COOKIE_ID)
            .bind(id)
            .bind(cookie_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(on_err)?;
        found(done, || missing(id))
    }

    /// Deletes a user with their servers, tokens, sessions, OAuth codes,
    /// group memberships and role grants. Their server events stay, with
    /// `user_id` cleared. Returns whether the user existed.
    pub async fn delete_user(&self, id: i64) -> Result<bool, StoreError> {
        let done = with_pool!(self, |pool| sqlx::query(DELETE).bind(id).execute(pool).await.map(|r| r.rows_affected()))
            .map_err(StoreError::query("delete user"))?;
        Ok(done > 0)
    }
}

/// `Ok` if an update touched a row, [`StoreError::NotFound`] otherwise.
pub(crate) fn found(rows_affected: u64, what: impl FnOnce() -> String) -> Result<(), StoreError> {
    if rows_affected == 0 { Err(StoreError::not_found(what())) } else { Ok(()) }
}
