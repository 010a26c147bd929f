//! Who is calling: API tokens and login cookies resolved to an [`Identity`]
//! with its effective scopes (jupyterhub-compat §3, §4.5).
//!
//! Token lookups go through the indexed 4-character prefix and a
//! constant-time hash comparison, then land in a cache keyed by SHA-256 of
//! the token (the token itself is never kept). Revocation through the hub
//! (delete token, stop server, logout, delete user) evicts cache entries at
//! once; anything changed behind the hub's back (a manual DB edit) is picked
//! up within `token_cache_ttl` (60 s by default). Scope sets are recomputed
//! whenever roles, groups or admin flags change (a generation counter).

use crate::hub::Hub;
use crate::lifecycle::is_server_token;
use jhub_core::Timestamp;
use jhub_core::model::{ApiToken, TokenOwner};
use jhub_core::rbac::{Client, ExpandedScopes, Owner, RawScopes};
use jhub_core::token;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The principal behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User { id: i64, name: String },
    Service { id: i64, name: String },
}

impl Principal {
    pub fn name(&self) -> &str {
        match self {
            Principal::User { name, .. } | Principal::Service { name, .. } => name,
        }
    }

    pub fn owner(&self) -> Owner<'_> {
        match self {
            Principal::User { name, .. } => Owner::User(name),
            Principal::Service { name, .. } => Owner::Service(name),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Identity {
    pub principal: Principal,
    /// The API token used, if any (`None` for cookie requests).
    pub token: Option<TokenInfo>,
    /// The browser session (cookie requests) or the session a token was issued to.
    pub session_id: Option<String>,
    /// Effective scopes of this request.
    pub scopes: Arc<ExpandedScopes>,
}

/// The token behind a token-authenticated request.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub id: i64,
    pub client_id: String,
    pub note: Option<String>,
    pub expires_at: Option<Timestamp>,
    /// A server's own `JUPYTERHUB_API_TOKEN` (its use is not user activity).
    pub is_server_token: bool,
}

#[derive(Debug, Clone)]
struct CachedToken {
    row: ApiToken,
    cached_at: Instant,
    /// Permission generation and scopes computed at it.
    scopes: Option<(u64, Arc<ExpandedScopes>)>,
}

/// Caches of token rows and scope sets.
#[derive(Debug)]
pub struct IdentityCache {
    ttl: Duration,
    tokens: Mutex<HashMap<[u8; 32], CachedToken>>,
    /// Recently refused tokens, so a flood of bad tokens cannot hammer the store.
    refused: Mutex<HashMap<[u8; 32], Instant>>,
    users: Mutex<HashMap<i64, (u64, Arc<ExpandedScopes>)>>,
}

const REFUSED_TTL: Duration = Duration::from_secs(5);
const MAX_ENTRIES: usize = 200_000;

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl IdentityCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            tokens: Mutex::new(HashMap::new()),
            refused: Mutex::new(HashMap::new()),
            users: Mutex::new(HashMap::new()),
        }
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], CachedToken>> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Evicts a deleted token.
    pub fn invalidate_token(&self, id: i64) {
        self.tokens().retain(|_, cached| cached.row.id != id);
    }

    /// Evicts every token issued by an OAuth client (deleted with the client).
    pub fn invalidate_client(&self, client_id: &str) {
        self.tokens().retain(|_, cached| cached.row.client_id != client_id);
    }

    /// Evicts a user's tokens and scopes.
    pub fn invalidate_user(&self, user_id: i64) {
        self.tokens().retain(|_, cached| cached.row.owner != TokenOwner::User(user_id));
        if let Ok(mut users) = self.users.lock() {
            users.remove(&user_id);
        }
    }

    /// Evicts the tokens of a user's browser session (logout).
    pub fn invalidate_session(&self, user_id: i64, session_id: &str) {
        self.tokens().retain(|_, cached| {
            cached.row.owner != TokenOwner::User(user_id) || cached.row.session_id.as_deref() != Some(session_id)
        });
    }

    pub fn clear(&self) {
        self.tokens().clear();
        if let Ok(mut users) = self.users.lock() {
            users.clear();
        }
    }
}

impl Hub {
    /// The effective scopes of a user from her roles and groups.
    pub fn user_scopes(&self, user_id: i64) -> Option<Arc<ExpandedScopes>> {
        let state = self.read();
        let generation = state.permissions_generation;
        if let Ok(users) = self.inner.identities.users.lock()
            && let Some((cached_gen, scopes)) = users.get(&user_id)
            && *cached_gen == generation
        {
            return Some(scopes.clone());
        }
        let entry = state.users.get(&user_id)?;
        let roles = state.effective_role_names(entry);
        let scopes =
            Arc::new(self.inner.rbac.user_scopes(&entry.user.name, entry.user.admin, roles.iter().map(String::as_str)));
        if let Ok(mut users) = self.inner.identities.users.lock() {
            users.insert(user_id, (generation, scopes.clone()));
        }
        Some(scopes)
    }

    /// The effective scopes of a service from its roles.
    pub fn service_scopes(&self, service_id: i64) -> Option<Arc<ExpandedScopes>> {
        let state = self.read();
        let entry = state.services.get(&service_id)?;
        let roles: Vec<String> =
            entry.roles.iter().filter_map(|id| state.roles.get(id)).map(|r| r.role.name.clone()).collect();
        Some(Arc::new(self.inner.rbac.service_scopes(
            &entry.service.name,
            entry.service.admin,
            roles.iter().map(String::as_str),
        )))
    }

    /// The user or service a token belongs to.
    fn principal_of(&self, owner: TokenOwner) -> Option<Principal> {
        let state = self.read();
        match owner {
            TokenOwner::User(id) => state.users.get(&id).map(|e| Principal::User { id, name: e.user.name.clone() }),
            TokenOwner::Service(id) => {
                state.services.get(&id).map(|e| Principal::Service { id, name: e.service.name.clone() })
            }
        }
    }

    /// The OAuth client a token was issued through, as RBAC sees it.
    fn client_of<'a>(&self, client_id: &'a str, user: &'a str, servers: &'a [(String, String)]) -> Client<'a> {
        if client_id == ApiToken::HUB_CLIENT {
            return Client::Hub;
        }
        for (id, server) in servers {
            if id == client_id {
                return Client::Server { user, server };
            }
        }
        if let Some(service) = client_id.strip_prefix("service-") {
            return Client::Service(service);
        }
        Client::Hub
    }

    /// The effective scopes of a token row.
    pub fn token_scopes(&self, row: &ApiToken) -> Option<Arc<ExpandedScopes>> {
        let principal = self.principal_of(row.owner)?;
        let owner_scopes = match &principal {
            Principal::User { id, .. } => self.user_scopes(*id)?,
            Principal::Service { id, .. } => self.service_scopes(*id)?,
        };
        let (raw, errors) = self.inner.rbac.registry().parse_lossy(row.scopes.iter());
        if !errors.is_empty() {
            tracing::warn!(token = row.id, "token has scopes this hub does not know; ignoring them");
        }
        let raw: RawScopes = raw;
        let servers: Vec<(String, String)> = match &principal {
            Principal::User { name, .. } => self
                .read()
                .user(name)
                .map(|e| {
                    e.servers.keys().map(|s| (jhub_core::names::server_oauth_client_id(name, s), s.clone())).collect()
                })
                .unwrap_or_default(),
            Principal::Service { .. } => Vec::new(),
        };
        let client = self.client_of(&row.client_id, principal.name(), &servers);
        let state = self.read();
        Some(Arc::new(self.inner.rbac.token_scopes(&raw, principal.owner(), client, &owner_scopes, &*state)))
    }

    /// Resolves an API token; records its activity. `None` for unknown,
    /// expired or malformed tokens.
    pub async fn authenticate_token(&self, presented: &str) -> Option<Identity> {
        if !token::plausible(presented) {
            return None;
        }
        let now = self.now();
        let key = key(presented);
        let generation = self.read().permissions_generation;
        let cached = self.inner.identities.tokens().get(&key).cloned();
        let cached = match cached {
            Some(c) if c.cached_at.elapsed() < self.inner.identities.ttl && !c.row.expired(now) => c,
            _ => {
                if let Ok(refused) = self.inner.identities.refused.lock()
                    && refused.get(&key).is_some_and(|at| at.elapsed() < REFUSED_TTL)
                {
                    return None;
                }
                let row = self.lookup_token(presented, now).await;
                let Some(row) = row else {
                    if let Ok(mut refused) = self.inner.identities.refused.lock() {
                        if refused.len() > 10_000 {
                            refused.retain(|_, at| at.elapsed() < REFUSED_TTL);
                        }
                        refused.insert(key, Instant::now());
                    }
                    return None;
                };
                CachedToken { row, cached_at: Instant::now(), scopes: None }
            }
        };
        let scopes = match &cached.scopes {
            Some((g, scopes)) if *g == generation => scopes.clone(),
            _ => {
                let scopes = self.token_scopes(&cached.row)?;
                let mut updated = cached.clone();
                updated.scopes = Some((generation, scopes.clone()));
                let mut tokens = self.inner.identities.tokens();
                if tokens.len() >= MAX_ENTRIES {
                    tokens.clear();
                }
                tokens.insert(key, updated);
                scopes
            }
        };
        let principal = self.principal_of(cached.row.owner)?;
        let server_token = is_server_token(&cached.row);
        self.note_token_activity(&cached.row, &principal, server_token, now);
        Some(Identity {
            principal,
            session_id: cached.row.session_id.clone(),
            token: Some(TokenInfo {
                id: cached.row.id,
                client_id: cached.row.client_id.clone(),
                note: cached.row.note.clone(),
                expires_at: cached.row.expires_at,
                is_server_token: server_token,
            }),
            scopes,
        })
    }

    async fn lookup_token(&self, presented: &str, now: Timestamp) -> Option<ApiToken> {
        let rows = match self.inner.store.tokens_by_prefix(token::prefix(presented), now).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::error!(error = %err, "token lookup failed");
                return None;
            }
        };
        let presented = presented.to_string();
        // Hashes with many rounds cost ~1 ms each: keep them off the async threads.
        tokio::task::spawn_blocking(move || rows.into_iter().find(|row| token::verify_token(&row.hashed, &presented)))
            .await
            .ok()
            .flatten()
    }

    fn note_token_activity(&self, row: &ApiToken, principal: &Principal, server_token: bool, now: Timestamp) {
        let resolution = self.inner.settings.activity_resolution;
        let stale = |old: Option<Timestamp>| {
            old.is_none_or(|old| now.as_microsecond() - old.as_microsecond() > resolution.as_micros() as i64)
        };
        if stale(row.last_activity) {
            self.inner.activity.token(row.id, now);
            let mut tokens = self.inner.identities.tokens();
            for cached in tokens.values_mut() {
                if cached.row.id == row.id {
                    cached.row.last_activity = Some(now);
                }
            }
        }
        if let Principal::User { id, .. } = principal
            && !server_token
        {
            self.note_user_activity(*id, now);
        }
    }

    /// Records that a user was active now (throttled by `activity_resolution`).
    pub fn note_user_activity(&self, user_id: i64, now: Timestamp) {
        let resolution = self.inner.settings.activity_resolution.as_micros() as i64;
        let stale = self.read().users.get(&user_id).is_some_and(|e| {
            e.user.last_activity.is_none_or(|old| now.as_microsecond() - old.as_microsecond() > resolution)
        });
        if stale {
            if let Some(entry) = self.write().users.get_mut(&user_id) {
                entry.user.last_activity = Some(now);
            }
            self.inner.activity.user(user_id, now);
        }
    }

    /// Resolves a login cookie's user id (`cookie_id`) and browser session.
    pub fn authenticate_cookie(&self, cookie_id: &str, session_id: Option<&str>) -> Option<Identity> {
        let user_id = *self.read().cookie_users.get(cookie_id)?;
        let name = self.read().users.get(&user_id)?.user.name.clone();
        let scopes = self.user_scopes(user_id)?;
        self.note_user_activity(user_id, self.now());
        Some(Identity {
            principal: Principal::User { id: user_id, name },
            token: None,
            session_id: session_id.map(str::to_string),
            scopes,
        })
    }
}
