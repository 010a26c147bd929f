//! Sharing (`/shares`, `/share-codes`, `/users/{name}/shared`,
//! `/groups/{name}/shared`; JupyterHub 5.0+, jupyterhub-compat §2.9) is not
//! supported yet. Every sharing route still passes its scope check (so a
//! caller without the scope gets JupyterHub's 403/404), then answers 404
//! consistently: nothing is ever shared, so no share exists.

use super::Authorized;
use crate::error::ApiError;

pub const NOT_SUPPORTED: &str = "Sharing is not supported by this hub";

/// Any sharing route.
pub async fn not_supported(_auth: Authorized) -> ApiError {
    ApiError::not_found(NOT_SUPPORTED)
}
