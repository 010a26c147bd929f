//! The `services` table. Services are upserted by name from configuration (or
//! the API); deleting one deletes its tokens and role grants.

use crate::rows::{ServiceRow, json_text, service_cols};
use crate::{Store, StoreError, with_pool};
use jhub_core::model::Service;
use serde_json::Value;

/// A service's fields, minus the id the database assigns.
#[derive(Debug, Clone, PartialEq)]
pub struct NewService {
    pub name: String,
    pub admin: bool,
    pub url: Option<String>,
    pub display: bool,
    pub info: Value,
    pub oauth_client_id: Option<String>,
    pub oauth_no_confirm: bool,
    pub from_config: bool,
}

const UPSERT: &str = concat!(
    "INSERT INTO services (name, admin, url, display, info, oauth_client_id, oauth_no_confirm, from_config) ",
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ",
    "ON CONFLICT (name) DO UPDATE SET admin = excluded.admin, url = excluded.url, display = excluded.display, ",
    "info = excluded.info, oauth_client_id = excluded.oauth_client_id, ",
    "oauth_no_confirm = excluded.oauth_no_confirm, from_config = excluded.from_config RETURNING ",
    service_cols!()
);
const DELETE: &str = "DELETE FROM services WHERE id = $1";

impl Store {
    /// Creates the service, or updates every field if the name exists (the id is kept).
    pub async fn upsert_service(&self, service: &NewService) -> Result<Service, StoreError> {
        let info = json_text("service info", &service.info)?;
        let row: ServiceRow = with_pool!(self, |pool| sqlx::query_as(UPSERT)
            .bind(&service.name)
            .bind(service.admin)
            .bind(service.url.as_deref())
            .bind(service.display)
            .bind(&info)
            .bind(service.oauth_client_id.as_deref())
            .bind(service.oauth_no_confirm)
            .bind(service.from_config)
            .fetch_one(pool)
            .await)
        .map_err(StoreError::query("upsert service"))?;
        row.into_model()
    }

    /// Deletes a service with its tokens and role grants. Returns whether it existed.
    pub async fn delete_service(&self, id: i64) -> Result<bool, StoreError> {
        let done = with_pool!(self, |pool| sqlx::query(DELETE).bind(id).execute(pool).await.map(|r| r.rows_affected()))
            .map_err(StoreError::query("delete service"))?;
        Ok(done > 0)
    }
}
