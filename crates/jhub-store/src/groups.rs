//! The `groups` table and user membership (`user_group_map`).

use crate::rows::{GroupRow, group_cols, json_text};
use crate::users::found;
use crate::{Store, StoreError, with_pool, with_tx};
use jhub_core::model::Group;
use serde_json::Value;

const INSERT: &str = concat!("INSERT INTO groups (name, properties) VALUES ($1, $2) RETURNING ", group_cols!());
const ADD_MEMBER: &str = "INSERT INTO user_group_map (user_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const REMOVE_MEMBER: &str = "DELETE FROM user_group_map WHERE group_id = $1 AND user_id = $2";
const GROUP_EXISTS: &str = "SELECT COUNT(*) FROM groups WHERE id = $1";
const SET_PROPERTIES: &str = "UPDATE groups SET properties = $2 WHERE id = $1";
const DELETE: &str = "DELETE FROM groups WHERE id = $1";

fn missing(id: i64) -> String {
    format!("group {id}")
}

impl Store {
    /// Creates a group with its initial members, atomically.
    /// [`StoreError::Conflict`] if the name is taken, [`StoreError::NotFound`]
    /// if a member does not exist.
    pub async fn create_group(&self, name: &str, properties: &Value, members: &[i64]) -> Result<Group, StoreError> {
        let op = "create group";
        let properties = json_text("group properties", properties)?;
        let row: GroupRow = with_tx!(self, op, |tx| {
            let row: GroupRow = sqlx::query_as(INSERT)
                .bind(name)
                .bind(&properties)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::write(op, format!("group {name:?}"), String::new()))?;
            for &user_id in members {
                sqlx::query(ADD_MEMBER)
                    .bind(user_id)
                    .bind(row.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::write(op, String::new(), format!("user {user_id}")))?;
            }
            row
        });
        row.into_model()
    }

    /// Deletes a group (memberships and role grants go with it). Returns whether it existed.
    pub async fn delete_group(&self, id: i64) -> Result<bool, StoreError> {
        let done = with_pool!(self, |pool| sqlx::query(DELETE).bind(id).execute(pool).await.map(|r| r.rows_affected()))
            .map_err(StoreError::query("delete group"))?;
        Ok(done > 0)
    }

    pub async fn set_group_properties(&self, id: i64, properties: &Value) -> Result<(), StoreError> {
        let text = json_text("group properties", properties)?;
        let done = with_pool!(self, |pool| sqlx::query(SET_PROPERTIES)
            .bind(id)
            .bind(&text)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::query("set group properties"))?;
        found(done, || missing(id))
    }

    /// Adds members, atomically; existing members are left alone.
    /// [`StoreError::NotFound`] if the group or a user does not exist.
    pub async fn add_group_members(&self, group_id: i64, user_ids: &[i64]) -> Result<(), StoreError> {
        let op = "add group members";
        with_tx!(self, op, |tx| {
            let exists: i64 = sqlx::query_scalar(GROUP_EXISTS)
                .bind(group_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::query(op))?;
            if exists == 0 {
                return Err(StoreError::not_found(missing(group_id)));
            }
            for &user_id in user_ids {
                sqlx::query(ADD_MEMBER)
                    .bind(user_id)
                    .bind(group_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::write(op, String::new(), format!("user {user_id}")))?;
            }
        });
        Ok(())
    }

    /// Removes members, atomically. Returns how many memberships were removed.
    pub async fn remove_group_members(&self, group_id: i64, user_ids: &[i64]) -> Result<u64, StoreError> {
        let op = "remove group members";
        let removed = with_tx!(self, op, |tx| {
            let mut removed = 0;
            for &user_id in user_ids {
                removed += sqlx::query(REMOVE_MEMBER)
                    .bind(group_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query(op))?
                    .rows_affected();
            }
            removed
        });
        Ok(removed)
    }
}
