//! API tokens users manage (`/hub/api/users/{name}/tokens`, the token page),
//! browser sessions (login/logout), and the hub's OAuth provider: codes for
//! single-user servers and services, exchanged for scoped access tokens.

use crate::error::{HubError, HubResult};
use crate::hub::Hub;
use crate::identity::Principal;
use jhub_core::Timestamp;
use jhub_core::model::{ApiToken, OAuthClient, OAuthCode, TokenOwner};
use jhub_core::rbac::{Client, Owner};
use jhub_core::token;
use jhub_store::{NewOAuthCode, NewToken};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// A token request (`POST /users/{name}/tokens`).
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub note: Option<String>,
    pub expires_in: Option<u64>,
    /// `None` → the `token` role (`inherit`).
    pub scopes: Option<Vec<String>>,
    /// Browser session the token belongs to (tokens made on the token page).
    pub session_id: Option<String>,
}

/// A new token with its secret, shown once.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: ApiToken,
    pub secret: String,
}

/// An OAuth access-token response.
#[derive(Debug, Clone)]
pub struct OAuthAccess {
    pub access_token: String,
    pub expires_in: u64,
    /// Space-separated raw scopes, as JupyterHub answers.
    pub scope: String,
}

/// OAuth token-endpoint errors (`error` values of RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    #[error("invalid_client")]
    InvalidClient,
    #[error("invalid_grant")]
    InvalidGrant,
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error("server_error: {0}")]
    ServerError(String),
}

fn to_duration_secs(ts_from: Timestamp, ts_to: Timestamp) -> u64 {
    u64::try_from((ts_to.as_second() - ts_from.as_second()).max(0)).unwrap_or(0)
}

fn add(ts: Timestamp, by: Duration) -> Timestamp {
    let by = jiff::SignedDuration::try_from(by).unwrap_or(jiff::SignedDuration::MAX);
    ts.checked_add(by).unwrap_or(Timestamp::MAX)
}

fn random(err: token::RandomnessError) -> HubError {
    HubError::Backend(err.to_string())
}

impl Hub {
    /// Tokens of a user, expired ones deleted on the way (JupyterHub does the same).
    pub async fn list_tokens(&self, user: &str) -> HubResult<Vec<ApiToken>> {
        let id = self.read().user(user).map(|e| e.user.id).ok_or_else(|| Hub::not_found_user(user))?;
        let now = self.now();
        let mut tokens = self.inner.store.tokens_for_owner(TokenOwner::User(id)).await?;
        let expired: Vec<i64> = tokens.iter().filter(|t| t.expired(now)).map(|t| t.id).collect();
        for token_id in &expired {
            self.inner.store.delete_token(*token_id).await?;
            self.inner.identities.invalidate_token(*token_id);
        }
        tokens.retain(|t| !t.expired(now));
        Ok(tokens)
    }

    pub async fn get_token(&self, user: &str, id: i64) -> HubResult<ApiToken> {
        let user_id = self.read().user(user).map(|e| e.user.id).ok_or_else(|| Hub::not_found_user(user))?;
        match self.inner.store.token_by_id(id).await? {
            Some(t) if t.owner == TokenOwner::User(user_id) && !t.expired(self.now()) => Ok(t),
            _ => Err(HubError::NotFound(format!("No such token: a{id}"))),
        }
    }

    /// Issues a token for `user`. Requested scopes must be held by the user.
    pub async fn create_token(&self, user: &str, request: TokenRequest) -> HubResult<IssuedToken> {
        let (user_id, name) = self
            .read()
            .user(user)
            .map(|e| (e.user.id, e.user.name.clone()))
            .ok_or_else(|| Hub::not_found_user(user))?;
        if let Some(expires_in) = request.expires_in {
            if expires_in < 1 {
                return Err(HubError::Invalid("expires_in must be a positive integer (seconds)".into()));
            }
            if let Some(max) = self.inner.settings.token_expires_in_max
                && expires_in > max.as_secs()
            {
                return Err(HubError::Invalid(format!(
                    "expires_in must not exceed {} seconds (token_expires_in_max_seconds)",
                    max.as_secs()
                )));
            }
        }
        let scopes = request.scopes.clone().unwrap_or_else(|| vec!["inherit".to_string()]);
        let raw = self.inner.rbac.parse(scopes.iter()).map_err(|e| HubError::Invalid(e.to_string()))?;
        let owner_scopes = self.user_scopes(user_id).ok_or_else(|| Hub::not_found_user(user))?;
        {
            let state = self.read();
            self.inner
                .rbac
                .check_token_request(&raw, Owner::User(&name), Client::Hub, &owner_scopes, &*state)
                .map_err(|e| HubError::Invalid(e.to_string()))?;
        }
        let now = self.now();
        let expires_in = request.expires_in.map(Duration::from_secs).or(self.inner.settings.token_expires_in_max);
        let secret = token::new_token().map_err(random)?;
        let hashed = token::hash_new(&secret, token::GENERATED_ROUNDS).map_err(random)?;
        let row = self
            .inner
            .store
            .insert_token(&NewToken {
                owner: TokenOwner::User(user_id),
                hashed,
                prefix: token::prefix(&secret).to_string(),
                client_id: ApiToken::HUB_CLIENT.to_string(),
                session_id: request.session_id,
                created: now,
                expires_at: expires_in.map(|d| add(now, d)),
                note: request.note,
                scopes: raw.to_strings(),
            })
            .await?;
        Ok(IssuedToken { token: row, secret })
    }

    /// Deletes a token; an OAuth-issued token takes all of the user's tokens
    /// from the same client with it (JupyterHub semantics).
    pub async fn delete_token(&self, user: &str, id: i64) -> HubResult<()> {
        let row = self.get_token(user, id).await?;
        if row.client_id != ApiToken::HUB_CLIENT {
            self.inner.store.delete_tokens_for_client_and_owner(&row.client_id, row.owner).await?;
            self.inner.identities.invalidate_client(&row.client_id);
        } else {
            self.inner.store.delete_token(id).await?;
            self.inner.identities.invalidate_token(id);
        }
        Ok(())
    }

    /// The effective scopes of a token, for the token model (`scopes`).
    pub fn token_model_scopes(&self, token: &ApiToken) -> Vec<String> {
        self.token_scopes(token).map(|s| s.to_strings()).unwrap_or_default()
    }

    // ----- browser sessions -----

    /// Starts a browser session for a user who just logged in.
    pub async fn create_session(&self, user: &str) -> HubResult<String> {
        let id = self.read().user(user).map(|e| e.user.id).ok_or_else(|| Hub::not_found_user(user))?;
        let session_id = token::new_token().map_err(random)?;
        self.inner.store.create_session(&session_id, id, self.now()).await?;
        Ok(session_id)
    }

    /// Ends `user`'s browser session: every token issued to it is deleted,
    /// which logs that browser out of the user's servers too. Only tokens
    /// and the session of `user` are touched: the session id is an unsigned
    /// cookie every single-user server sees, so its value alone must not
    /// let anyone end another user's session.
    pub async fn end_session(&self, user: &str, session_id: &str) -> HubResult<u64> {
        let Some(user_id) = self.read().user(user).map(|e| e.user.id) else { return Ok(0) };
        let deleted = self.inner.store.delete_tokens_for_session(session_id, user_id).await?;
        self.inner.store.delete_session(session_id, user_id).await?;
        self.inner.identities.invalidate_session(user_id, session_id);
        Ok(deleted)
    }

    // ----- OAuth provider -----

    pub fn oauth_client(&self, identifier: &str) -> Option<OAuthClient> {
        self.read().oauth_clients.get(identifier).cloned()
    }

    /// What RBAC calls the client: the server or service its access scope names.
    pub fn rbac_client(client: &OAuthClient) -> Client<'_> {
        for scope in &client.allowed_scopes {
            if let Some(full) = scope.strip_prefix("access:servers!server=")
                && let Some((user, server)) = full.split_once('/')
            {
                return Client::Server { user, server };
            }
            if let Some(service) = scope.strip_prefix("access:services!service=") {
                return Client::Service(service);
            }
        }
        Client::Hub
    }

    /// Issues a single-use authorization code.
    #[allow(clippy::too_many_arguments)]
    pub async fn issue_oauth_code(
        &self,
        client_id: &str,
        user: &str,
        scopes: Vec<String>,
        redirect_uri: &str,
        session_id: Option<String>,
        code_challenge: Option<String>,
        code_challenge_method: Option<String>,
    ) -> HubResult<String> {
        let user_id = self.read().user(user).map(|e| e.user.id).ok_or_else(|| Hub::not_found_user(user))?;
        let code = token::random_alnum(30).map_err(random)?;
        let hashed = token::hash_new(&code, token::GENERATED_ROUNDS).map_err(random)?;
        self.inner
            .store
            .insert_code(&NewOAuthCode {
                client_id: client_id.to_string(),
                code_hashed: hashed,
                prefix: token::prefix(&code).to_string(),
                user_id,
                scopes,
                redirect_uri: redirect_uri.to_string(),
                session_id,
                expires_at: add(self.now(), self.inner.settings.oauth_code_lifetime),
                code_challenge,
                code_challenge_method,
            })
            .await?;
        Ok(code)
    }

    /// Exchanges a code for an access token (`POST /hub/api/oauth2/token`).
    pub async fn exchange_oauth_code(
        &self,
        code: &str,
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
    ) -> Result<OAuthAccess, OAuthError> {
        let client = self.oauth_client(client_id).ok_or(OAuthError::InvalidClient)?;
        let secret_ok =
            client.secret_hashed.as_deref().is_some_and(|hashed| token::verify_token(hashed, client_secret));
        if !secret_ok {
            return Err(OAuthError::InvalidClient);
        }
        if !token::plausible(code) {
            return Err(OAuthError::InvalidGrant);
        }
        let now = self.now();
        let presented = code.to_string();
        let taken = self
            .inner
            .store
            .take_code(token::prefix(code), now, move |row: &OAuthCode| {
                token::verify_token(&row.code_hashed, &presented)
            })
            .await
            .map_err(|e| OAuthError::ServerError(e.to_string()))?;
        let row = taken.ok_or(OAuthError::InvalidGrant)?;
        if row.client_id != client_id || row.redirect_uri != redirect_uri {
            return Err(OAuthError::InvalidGrant);
        }
        if let Some(challenge) = &row.code_challenge {
            let Some(verifier) = code_verifier else {
                return Err(OAuthError::InvalidRequest("Code verifier required.".into()));
            };
            let method = row.code_challenge_method.as_deref().unwrap_or("plain");
            let computed = match method {
                "S256" => {
                    use base64_url::encode;
                    encode(&Sha256::digest(verifier.as_bytes()))
                }
                "plain" => verifier.to_string(),
                _ => return Err(OAuthError::InvalidRequest("unsupported code_challenge_method".into())),
            };
            if !bool::from(subtle_eq(computed.as_bytes(), challenge.as_bytes())) {
                return Err(OAuthError::InvalidGrant);
            }
        }
        let secret = token::random_alnum(30).map_err(|e| OAuthError::ServerError(e.to_string()))?;
        let hashed =
            token::hash_new(&secret, token::GENERATED_ROUNDS).map_err(|e| OAuthError::ServerError(e.to_string()))?;
        let lifetime = self.inner.settings.oauth_token_lifetime;
        let expires_at = add(now, lifetime);
        self.inner
            .store
            .insert_token(&NewToken {
                owner: TokenOwner::User(row.user_id),
                hashed,
                prefix: token::prefix(&secret).to_string(),
                client_id: client_id.to_string(),
                session_id: row.session_id.clone(),
                created: now,
                expires_at: Some(expires_at),
                note: None,
                scopes: row.scopes.clone(),
            })
            .await
            .map_err(|e| OAuthError::ServerError(e.to_string()))?;
        Ok(OAuthAccess {
            access_token: secret,
            expires_in: to_duration_secs(now, expires_at),
            scope: row.scopes.join(" "),
        })
    }

    /// Whether `user` already holds a token from `client_id` (skips consent).
    pub async fn has_client_token(&self, user: &str, client_id: &str) -> bool {
        let Some(id) = self.read().user(user).map(|e| e.user.id) else { return false };
        match self.inner.store.tokens_for_owner(TokenOwner::User(id)).await {
            Ok(tokens) => tokens.iter().any(|t| t.client_id == client_id && !t.expired(self.now())),
            Err(_) => false,
        }
    }

    /// The principal of a user by name (for page handlers).
    pub fn principal_for(&self, user: &str) -> Option<Principal> {
        self.read().user(user).map(|e| Principal::User { id: e.user.id, name: e.user.name.clone() })
    }
}

fn subtle_eq(a: &[u8], b: &[u8]) -> subtle::Choice {
    use subtle::ConstantTimeEq;
    if a.len() != b.len() {
        return subtle::Choice::from(0);
    }
    a.ct_eq(b)
}

mod base64_url {
    use base64::Engine;
    pub fn encode(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }
}
