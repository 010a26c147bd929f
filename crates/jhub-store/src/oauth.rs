//! OAuth provider state: `oauth_clients` (deleting a client deletes every
//! token and code it issued) and single-use authorization codes
//! (`oauth_codes`), stored hashed and looked up by prefix.

use crate::rows::{ClientRow, CodeRow, client_cols, code_cols, json_text, micros};
use crate::{Store, StoreError, with_pool};
use jhub_core::model::{ApiToken, OAuthClient, OAuthCode};
use jhub_core::time::Timestamp;

/// An authorization code to store; the caller generated and hashed it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOAuthCode {
    pub client_id: String,
    /// The code hashed in the token format ([`jhub_core::token::hash_token`]).
    pub code_hashed: String,
    /// [`jhub_core::token::prefix`] of the plaintext code.
    pub prefix: String,
    pub user_id: i64,
    pub scopes: Vec<String>,
    pub redirect_uri: String,
    pub session_id: Option<String>,
    pub expires_at: Timestamp,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

pub(crate) const UPSERT_CLIENT: &str = concat!(
    "INSERT INTO oauth_clients (",
    client_cols!(),
    ") VALUES ($1, $2, $3, $4, $5) ",
    "ON CONFLICT (identifier) DO UPDATE SET description = excluded.description, ",
    "secret_hashed = excluded.secret_hashed, redirect_uri = excluded.redirect_uri, ",
    "allowed_scopes = excluded.allowed_scopes"
);
pub(crate) const DELETE_CLIENT: &str = "DELETE FROM oauth_clients WHERE identifier = $1";
const CLIENT: &str = concat!("SELECT ", client_cols!(), " FROM oauth_clients WHERE identifier = $1");
const INSERT_CODE: &str = concat!(
    "INSERT INTO oauth_codes (client_id, code_hashed, prefix, user_id, scopes, redirect_uri, session_id, expires_at, ",
    "code_challenge, code_challenge_method) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ",
    code_cols!()
);
const CODES_BY_PREFIX: &str =
    concat!("SELECT ", code_cols!(), " FROM oauth_codes WHERE prefix = $1 AND expires_at >= $2 ORDER BY id");
const DELETE_CODE: &str = "DELETE FROM oauth_codes WHERE id = $1";
const PURGE_CODES: &str = "DELETE FROM oauth_codes WHERE expires_at < $1";

impl Store {
    /// Creates or replaces a client (matched by identifier).
    pub async fn upsert_client(&self, client: &OAuthClient) -> Result<(), StoreError> {
        let scopes = json_text("client allowed_scopes", &client.allowed_scopes)?;
        with_pool!(self, |pool| sqlx::query(UPSERT_CLIENT)
            .bind(&client.identifier)
            .bind(&client.description)
            .bind(client.secret_hashed.as_deref())
            .bind(&client.redirect_uri)
            .bind(&scopes)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(StoreError::query("upsert OAuth client"))
    }

    /// Deletes a client and, by cascade, every token and code it issued.
    /// Returns whether it existed. The hub's own client
    /// ([`ApiToken::HUB_CLIENT`]) is refused: it owns every hub-issued token.
    pub async fn delete_client(&self, identifier: &str) -> Result<bool, StoreError> {
        if identifier == ApiToken::HUB_CLIENT {
            return Err(StoreError::Refused(format!("the built-in OAuth client {identifier:?} cannot be deleted")));
        }
        let done = with_pool!(self, |pool| sqlx::query(DELETE_CLIENT)
            .bind(identifier)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::query("delete OAuth client"))?;
        Ok(done > 0)
    }

    pub async fn client(&self, identifier: &str) -> Result<Option<OAuthClient>, StoreError> {
        let row: Option<ClientRow> =
            with_pool!(self, |pool| sqlx::query_as(CLIENT).bind(identifier).fetch_optional(pool).await)
                .map_err(StoreError::query("look up OAuth client"))?;
        row.map(ClientRow::into_model).transpose()
    }

    /// Stores a code. [`StoreError::NotFound`] if the client or user does not exist.
    pub async fn insert_code(&self, code: &NewOAuthCode) -> Result<OAuthCode, StoreError> {
        let scopes = json_text("code scopes", &code.scopes)?;
        let on_err = StoreError::write(
            "insert OAuth code",
            "an OAuth code with this hash".to_string(),
            format!("OAuth client {:?} or user {}", code.client_id, code.user_id),
        );
        let row: CodeRow = with_pool!(self, |pool| sqlx::query_as(INSERT_CODE)
            .bind(&code.client_id)
            .bind(&code.code_hashed)
            .bind(&code.prefix)
            .bind(code.user_id)
            .bind(&scopes)
            .bind(&code.redirect_uri)
            .bind(code.session_id.as_deref())
            .bind(micros(code.expires_at))
            .bind(code.code_challenge.as_deref())
            .bind(code.code_challenge_method.as_deref())
            .fetch_one(pool)
            .await)
        .map_err(on_err)?;
        row.into_model()
    }

    /// Redeems a code: among the unexpired codes with this prefix, the first
    /// one `verify` accepts is deleted and returned. Single use is enforced by
    /// the delete itself: of two concurrent redemptions only the one whose
    /// delete removed the row gets the code.
    pub async fn take_code<F>(&self, prefix: &str, now: Timestamp, verify: F) -> Result<Option<OAuthCode>, StoreError>
    where
        F: Fn(&OAuthCode) -> bool + Send,
    {
        let op = "take OAuth code";
        let rows: Vec<CodeRow> = with_pool!(self, |pool| sqlx::query_as(CODES_BY_PREFIX)
            .bind(prefix)
            .bind(micros(now))
            .fetch_all(pool)
            .await)
        .map_err(StoreError::query(op))?;
        for row in rows {
            let code = row.into_model()?;
            if !verify(&code) {
                continue;
            }
            let deleted = with_pool!(self, |pool| sqlx::query(DELETE_CODE)
                .bind(code.id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))
            .map_err(StoreError::query(op))?;
            return Ok((deleted == 1).then_some(code));
        }
        Ok(None)
    }

    /// Deletes codes that expired before `now`. Returns how many.
    pub async fn purge_expired_codes(&self, now: Timestamp) -> Result<u64, StoreError> {
        with_pool!(self, |pool| sqlx::query(PURGE_CODES)
            .bind(micros(now))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::query("purge expired OAuth codes"))
    }
}
