//! The `roles` table and who holds each role (`user_role_map`,
//! `group_role_map`, `service_role_map`).

use crate::rows::{RoleRow, json_text, role_cols};
use crate::{Store, StoreError, with_pool, with_tx};
use jhub_core::model::{Role, RoleHolder};

const UPSERT: &str = concat!(
    "INSERT INTO roles (name, description, scopes) VALUES ($1, $2, $3) ",
    "ON CONFLICT (name) DO UPDATE SET description = excluded.description, scopes = excluded.scopes RETURNING ",
    role_cols!()
);
const DELETE: &str = "DELETE FROM roles WHERE id = $1";
const ROLE_EXISTS: &str = "SELECT COUNT(*) FROM roles WHERE id = $1";
const CLEAR_USERS: &str = "DELETE FROM user_role_map WHERE role_id = $1";
const CLEAR_GROUPS: &str = "DELETE FROM group_role_map WHERE role_id = $1";
const CLEAR_SERVICES: &str = "DELETE FROM service_role_map WHERE role_id = $1";
const GRANT_USER: &str = "INSERT INTO user_role_map (role_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const GRANT_GROUP: &str = "INSERT INTO group_role_map (role_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const GRANT_SERVICE: &str = "INSERT INTO service_role_map (role_id, service_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const REVOKE_USER: &str = "DELETE FROM user_role_map WHERE role_id = $1 AND user_id = $2";
const REVOKE_GROUP: &str = "DELETE FROM group_role_map WHERE role_id = $1 AND group_id = $2";
const REVOKE_SERVICE: &str = "DELETE FROM service_role_map WHERE role_id = $1 AND service_id = $2";

fn grant_sql(holder: RoleHolder) -> (&'static str, i64) {
    match holder {
        RoleHolder::User(id) => (GRANT_USER, id),
        RoleHolder::Group(id) => (GRANT_GROUP, id),
        RoleHolder::Service(id) => (GRANT_SERVICE, id),
    }
}

fn revoke_sql(holder: RoleHolder) -> (&'static str, i64) {
    match holder {
        RoleHolder::User(id) => (REVOKE_USER, id),
        RoleHolder::Group(id) => (REVOKE_GROUP, id),
        RoleHolder::Service(id) => (REVOKE_SERVICE, id),
    }
}

fn describe(holder: RoleHolder) -> String {
    match holder {
        RoleHolder::User(id) => format!("user {id}"),
        RoleHolder::Group(id) => format!("group {id}"),
        RoleHolder::Service(id) => format!("service {id}"),
    }
}

fn missing(id: i64) -> String {
    format!("role {id}")
}

impl Store {
    /// Creates the role, or updates its description and scopes if the name exists.
    pub async fn upsert_role(
        &self,
        name: &str,
        description: Option<&str>,
        scopes: &[String],
    ) -> Result<Role, StoreError> {
        let scopes = json_text("role scopes", scopes)?;
        let row: RoleRow = with_pool!(self, |pool| sqlx::query_as(UPSERT)
            .bind(name)
            .bind(description)
            .bind(&scopes)
            .fetch_one(pool)
            .await)
        .map_err(StoreError::query("upsert role"))?;
        row.into_model()
    }

    /// Deletes a role and every grant of it. Returns whether it existed.
    pub async fn delete_role(&self, id: i64) -> Result<bool, StoreError> {
        let done = with_pool!(self, |pool| sqlx::query(DELETE).bind(id).execute(pool).await.map(|r| r.rows_affected()))
            .map_err(StoreError::query("delete role"))?;
        Ok(done > 0)
    }

    /// Replaces the complete holder list of a role, atomically.
    /// [`StoreError::NotFound`] if the role or a holder does not exist.
    pub async fn set_role_holders(&self, role_id: i64, holders: &[RoleHolder]) -> Result<(), StoreError> {
        let op = "set role holders";
        with_tx!(self, op, |tx| {
            let exists: i64 = sqlx::query_scalar(ROLE_EXISTS)
                .bind(role_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::query(op))?;
            if exists == 0 {
                return Err(StoreError::not_found(missing(role_id)));
            }
            for clear in [CLEAR_USERS, CLEAR_GROUPS, CLEAR_SERVICES] {
                sqlx::query(clear).bind(role_id).execute(&mut *tx).await.map_err(StoreError::query(op))?;
            }
            for &holder in holders {
                let (sql, id) = grant_sql(holder);
                sqlx::query(sql).bind(role_id).bind(id).execute(&mut *tx).await.map_err(StoreError::write(
                    op,
                    String::new(),
                    describe(holder),
                ))?;
            }
        });
        Ok(())
    }

    /// Grants a role; granting it again is a no-op.
    /// [`StoreError::NotFound`] if the role or the holder does not exist.
    pub async fn grant_role(&self, role_id: i64, holder: RoleHolder) -> Result<(), StoreError> {
        let (sql, id) = grant_sql(holder);
        let on_err =
            StoreError::write("grant role", String::new(), format!("{} or {}", missing(role_id), describe(holder)));
        with_pool!(self, |pool| sqlx::query(sql).bind(role_id).bind(id).execute(pool).await.map(|_| ())).map_err(on_err)
    }

    /// Revokes a role. Returns whether the holder had it.
    pub async fn revoke_role(&self, role_id: i64, holder: RoleHolder) -> Result<bool, StoreError> {
        let (sql, id) = revoke_sql(holder);
        let done = with_pool!(self, |pool| sqlx::query(sql)
            .bind(role_id)
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::query("revoke role"))?;
        Ok(done > 0)
    }
}
