//! The `api_tokens` table. Tokens arrive already hashed
//! (`jhub_core::token`); lookup goes through the indexed four-character
//! prefix and the caller verifies the hash.

use crate::rows::{TokenRow, all, json_text, micros, micros_opt, token_cols};
use crate::{Store, StoreError, with_pool};
use jhub_core::model::{ApiToken, TokenOwner};
use jhub_core::time::Timestamp;

/// A token to store; the caller generated and hashed it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewToken {
    pub owner: TokenOwner,
    /// `sha512:<rounds>:<salt>:<hex>` ([`jhub_core::token::hash_token`]).
    pub hashed: String,
    /// [`jhub_core::token::prefix`] of the plaintext token.
    pub prefix: String,
    /// Issuing OAuth client; [`ApiToken::HUB_CLIENT`] for hub-issued tokens.
    pub client_id: String,
    pub session_id: Option<String>,
    pub created: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub note: Option<String>,
    pub scopes: Vec<String>,
}

pub(crate) const INSERT: &str = concat!(
    "INSERT INTO api_tokens (user_id, service_id, hashed, prefix, client_id, session_id, created, expires_at, note, ",
    "scopes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ",
    token_cols!()
);
const BY_PREFIX: &str = concat!(
    "SELECT ",
    token_cols!(),
    " FROM api_tokens WHERE prefix = $1 AND (expires_at IS NULL OR expires_at >= $2) ORDER BY id"
);
const BY_ID: &str = concat!("SELECT ", token_cols!(), " FROM api_tokens WHERE id = $1");
const FOR_USER: &str = concat!("SELECT ", token_cols!(), " FROM api_tokens WHERE user_id = $1 ORDER BY id");
const FOR_SERVICE: &str = concat!("SELECT ", token_cols!(), " FROM api_tokens WHERE service_id = $1 ORDER BY id");
const DELETE: &str = "DELETE FROM api_tokens WHERE id = $1";
// By (user, session): a session id is an unsigned cookie other servers see,
// so it alone must never be enough to revoke someone's tokens.
const DELETE_FOR_SESSION: &str = "DELETE FROM api_tokens WHERE session_id = $1 AND user_id = $2";
const DELETE_FOR_CLIENT_USER: &str = "DELETE FROM api_tokens WHERE client_id = $1 AND user_id = $2";
const DELETE_FOR_CLIENT_SERVICE: &str = "DELETE FROM api_tokens WHERE client_id = $1 AND service_id = $2";
const PURGE_EXPIRED: &str = "DELETE FROM api_tokens WHERE expires_at < $1";

pub(crate) fn owner_ids(owner: TokenOwner) -> (Option<i64>, Option<i64>) {
    match owner {
        TokenOwner::User(id) => (Some(id), None),
        TokenOwner::Service(id) => (None, Some(id)),
    }
}

pub(crate) fn describe(owner: TokenOwner) -> String {
    match owner {
        TokenOwner::User(id) => format!("user {id}"),
        TokenOwner::Service(id) => format!("service {id}"),
    }
}

impl Store {
    /// Stores a token. [`StoreError::NotFound`] if the owner or the OAuth
    /// client does not exist, [`StoreError::Conflict`] if the hash is already stored.
    pub async fn insert_token(&self, token: &NewToken) -> Result<ApiToken, StoreError> {
        let (user_id, service_id) = owner_ids(token.owner);
        let scopes = json_text("token scopes", &token.scopes)?;
        let on_err = StoreError::write(
            "insert token",
            "a token with this hash".to_string(),
            format!("{} or OAuth client {:?}", describe(token.owner), token.client_id),
        );
        let row: TokenRow = with_pool!(self, |pool| sqlx::query_as(INSERT)
            .bind(user_id)
            .bind(service_id)
            .bind(&token.hashed)
            .bind(&token.prefix)
            .bind(&token.client_id)
            .bind(token.session_id.as_deref())
            .bind(micros(token.created))
            .bind(micros_opt(token.expires_at))
            .bind(token.note.as_deref())
            .bind(&scopes)
            .fetch_one(pool)
            .await)
        .map_err(on_err)?;
        row.into_model()
    }

    /// Unexpired tokens whose prefix matches (an indexed lookup); the caller
    /// verifies the presented token against each hash.
    pub async fn tokens_by_prefix(&self, prefix: &str, now: Timestamp) -> Result<Vec<ApiToken>, StoreError> {
        let rows: Vec<TokenRow> =
            with_pool!(self, |pool| sqlx::query_as(BY_PREFIX).bind(prefix).bind(micros(now)).fetch_all(pool).await)
                .map_err(StoreError::query("look up tokens by prefix"))?;
        all(rows, TokenRow::into_model)
    }

    /// A token by id, expired or not.
    pub async fn token_by_id(&self, id: i64) -> Result<Option<ApiToken>, StoreError> {
        let row: Option<TokenRow> = with_pool!(self, |pool| sqlx::query_as(BY_ID).bind(id).fetch_optional(pool).await)
            .map_err(StoreError::query("look up token by id"))?;
        row.map(TokenRow::into_model).transpose()
    }

    /// Every token of a user or service, expired ones included, by id.
    pub async fn tokens_for_owner(&self, owner: TokenOwner) -> Result<Vec<ApiToken>, StoreError> {
        let (sql, id) = match owner {
            TokenOwner::User(id) => (FOR_USER, id),
            TokenOwner::Service(id) => (FOR_SERVICE, id),
        };
        let rows: Vec<TokenRow> = with_pool!(self, |pool| sqlx::query_as(sql).bind(id).fetch_all(pool).await)
            .map_err(StoreError::query("list tokens of owner"))?;
        all(rows, TokenRow::into_model)
    }

    /// Returns whether the token existed.
    pub async fn delete_token(&self, id: i64) -> Result<bool, StoreError> {
        let done = with_pool!(self, |pool| sqlx::query(DELETE).bind(id).execute(pool).await.map(|r| r.rows_affected()))
            .map_err(StoreError::query("delete token"))?;
        Ok(done > 0)
    }

    /// Logout: deletes every token issued to a browser session. Returns how many.
    pub async fn delete_tokens_for_session(&self, session_id: &str, user_id: i64) -> Result<u64, StoreError> {
        with_pool!(self, |pool| sqlx::query(DELETE_FOR_SESSION)
            .bind(session_id)
            .bind(user_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::query("delete tokens of session"))
    }

    /// Revokes what one OAuth client was granted by one owner. Returns how many.
    pub async fn delete_tokens_for_client_and_owner(
        &self,
        client_id: &str,
        owner: TokenOwner,
    ) -> Result<u64, StoreError> {
        let (sql, id) = match owner {
            TokenOwner::User(id) => (DELETE_FOR_CLIENT_USER, id),
            TokenOwner::Service(id) => (DELETE_FOR_CLIENT_SERVICE, id),
        };
        with_pool!(self, |pool| sqlx::query(sql)
            .bind(client_id)
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::query("delete tokens of client and owner"))
    }

    /// Deletes tokens that expired before `now`. Returns how many.
    pub async fn purge_expired_tokens(&self, now: Timestamp) -> Result<u64, StoreError> {
        with_pool!(self, |pool| sqlx::query(PURGE_EXPIRED)
            .bind(micros(now))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::query("purge expired tokens"))
    }
}
