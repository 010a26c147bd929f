//! The browser session as pages see it: the login cookie resolved to a user
//! ([`Browser`]), the XSRF token pages embed, and the periodic auth refresh.
//!
//! Refresh (JupyterHub `refresh_auth`, auth-culler-proxy §1.12): a page
//! request by a logged-in user asks the authenticator again at most every
//! `auth_refresh_age` (300 s) per user, and before every spawn when
//! `refresh_pre_spawn()`. The last refresh time is kept in memory (hub
//! clock). `MustReLogin`/`Revoked` end the browser session (its OAuth
//! tokens go with it, so the browser is logged out of its servers too),
//! clear the cookies and send the browser to the login page; `Revoked` also
//! rotates the user's cookie id, logging every other browser out. The GitLab
//! authenticator re-checks membership when its own `recheck_interval`
//! (300 s) has passed, so a user removed from the allowed GitLab group is
//! logged out at the first page request made more than ~5 minutes after
//! the last check (login or refresh), and cannot start a server at all
//! after removal (the pre-spawn refresh always re-checks). Their servers'
//! browser sessions go with the hub session (single-user servers cache an
//! identity for up to 5 more minutes).
//!
//! auth_state: persisted encrypted (`CryptKeeper`) when the authenticator's
//! `enable_auth_state()` and a crypt key are set; otherwise kept only in
//! this process's memory so refreshes still have the provider token (lost
//! on restart: the next refresh then asks for a new login).

use crate::app::App;
use crate::auth::{BrowserLogin, browser_login, xsrf_token_for};
use crate::cookies::{self, LOGIN_COOKIE, SESSION_COOKIE, STATE_COOKIE, XSRF_COOKIE};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use jhub_auth::{RefreshOutcome, RefreshReason};
use jhub_core::Timestamp;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Per-user memory of the web layer.
#[derive(Default)]
struct UserMemo {
    last_refresh: Option<Timestamp>,
    /// auth_state when it is not persisted.
    auth_state: Option<Value>,
}

/// In-memory page state shared by all requests (one per [`App`]).
#[derive(Default)]
pub struct PageState {
    users: Mutex<HashMap<String, UserMemo>>,
}

impl std::fmt::Debug for PageState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.users.lock().map(|u| u.len()).unwrap_or(0);
        f.debug_struct("PageState").field("users", &count).finish_non_exhaustive()
    }
}

impl PageState {
    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<String, UserMemo>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a refresh is due; if so it is recorded as started now, so
    /// concurrent requests of the same user do not refresh twice.
    fn claim_refresh(&self, user: &str, now: Timestamp, every: Duration) -> bool {
        let mut users = self.users();
        let memo = users.entry(user.to_string()).or_default();
        let every = i64::try_from(every.as_secs()).unwrap_or(i64::MAX);
        let due = memo.last_refresh.is_none_or(|at| now.as_second().saturating_sub(at.as_second()) >= every);
        if due {
            memo.last_refresh = Some(now);
        }
        due
    }

    /// A login just validated the user: the next refresh is one interval away.
    pub(crate) fn mark_refreshed(&self, user: &str, now: Timestamp) {
        self.users().entry(user.to_string()).or_default().last_refresh = Some(now);
    }

    fn memory_auth_state(&self, user: &str) -> Option<Value> {
        self.users().get(user).and_then(|m| m.auth_state.clone())
    }

    fn set_memory_auth_state(&self, user: &str, state: Option<Value>) {
        self.users().entry(user.to_string()).or_default().auth_state = state;
    }
}

/// Whether auth_state goes to the database (encrypted).
pub(crate) fn persists_auth_state(app: &App) -> bool {
    app.auth.enable_auth_state() && app.crypt.as_ref().is_some_and(|c| c.is_enabled())
}

/// The user's current auth_state, decrypted (or from memory).
pub(crate) fn load_auth_state(app: &App, user: &str) -> Option<Value> {
    if !persists_auth_state(app) {
        return app.pages.memory_auth_state(user);
    }
    let encrypted = app.hub.read().user(user)?.user.encrypted_auth_state.clone()?;
    let crypt = app.crypt.as_ref()?;
    match crypt.decrypt(&encrypted) {
        Ok(value) => Some(value),
        Err(err) => {
            tracing::warn!(user, error = %err, "stored auth_state cannot be decrypted (crypt key changed?)");
            None
        }
    }
}

/// Stores auth_state: encrypted in the database, or in memory. Never plaintext on disk.
pub(crate) async fn store_auth_state(app: &App, user: &str, state: Value) -> Result<(), String> {
    if !persists_auth_state(app) {
        app.pages.set_memory_auth_state(user, Some(state));
        return Ok(());
    }
    let crypt = app.crypt.as_ref().ok_or_else(|| "no crypt key".to_string())?;
    let encrypted = crypt.encrypt(&state, app.hub.now()).map_err(|e| e.to_string())?;
    app.hub.set_auth_state(user, Some(encrypted)).await.map_err(|e| e.to_string())
}

/// `manage_groups`: makes the user's hub groups (and, with `admin_groups`,
/// the admin flag) what the authenticator derives from `auth_state`. Runs
/// after every login and every refresh that produced a new auth_state; a
/// no-op when the authenticator does not manage groups.
pub(crate) async fn sync_managed_groups(app: &App, user: &str, auth_state: &Value) -> Result<(), String> {
    let Some(managed) = app.auth.managed_groups(user, auth_state) else {
        return Ok(());
    };
    app.hub.sync_user_groups(user, &managed.groups).await.map_err(|e| e.to_string())?;
    if let Some(admin) = managed.admin {
        let current = app.hub.read().user(user).map(|e| e.user.admin);
        if current.is_some_and(|c| c != admin) {
            app.hub.set_admin(user, admin).await.map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// What a refresh decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshVerdict {
    /// Keep the session.
    Keep,
    /// Log this browser out; `revoked` also logs out every other browser.
    Logout { revoked: bool, reason: String },
    /// The provider could not be asked (only reported for pre-spawn checks).
    Unavailable { message: String },
}

async fn run_refresh(app: &App, user: &str, reason: RefreshReason) -> RefreshVerdict {
    let state = load_auth_state(app, user);
    match app.auth.refresh_user(user, state.as_ref(), reason).await {
        Ok(RefreshOutcome::Unchanged) => RefreshVerdict::Keep,
        Ok(RefreshOutcome::Updated { auth_state }) => {
            if let Err(err) = sync_managed_groups(app, user, &auth_state).await {
                tracing::warn!(user, error = %err, "could not sync the user's groups after a refresh");
            }
            if let Err(err) = store_auth_state(app, user, auth_state).await {
                tracing::warn!(user, error = %err, "could not store refreshed auth_state");
            }
            RefreshVerdict::Keep
        }
        Ok(RefreshOutcome::MustReLogin { reason }) => {
            tracing::info!(user, %reason, "auth refresh needs a new login");
            RefreshVerdict::Logout { revoked: false, reason }
        }
        Ok(RefreshOutcome::Revoked { reason }) => {
            tracing::warn!(user, %reason, "access revoked at auth refresh");
            access_lost(app, user).await;
            RefreshVerdict::Logout { revoked: true, reason }
        }
        Err(err) => {
            tracing::warn!(user, error = %err, "auth refresh failed; keeping the session");
            RefreshVerdict::Unavailable { message: err.public_message() }
        }
    }
}

/// The one place that handles "no longer allowed" (whichever refresh found
/// it: cookie, token or pre-spawn): every token and session of the user is
/// revoked and, unless `stop_servers_on_access_loss` is off, her servers
/// are stopped (`Hub::revoke_user_access`).
async fn access_lost(app: &App, user: &str) {
    if let Err(err) = app.hub.revoke_user_access(user, app.settings.stop_servers_on_access_loss).await {
        tracing::error!(user, error = %err, "could not revoke the access of a user who is no longer allowed");
    }
}

/// The refresh of a token-authenticated request, when due (at most once
/// per `auth_refresh_age` per user, like cookie requests; no lock is held
/// while the provider is asked). It runs as its own task: the request waits
/// for the verdict at most `token_refresh_wait`, then goes on with its
/// current access while the refresh finishes (and revokes, if it must) in
/// the background. Returns true when the user's access was just revoked.
/// A refresh that only wants a new login changes nothing for API tokens.
pub async fn token_refresh_if_due(app: &App, user: &str) -> bool {
    if !app.pages.claim_refresh(user, app.hub.now(), app.settings.auth_refresh_age) {
        return false;
    }
    let task_app = app.clone();
    let task_user = user.to_string();
    let refresh = tokio::spawn(async move { run_refresh(&task_app, &task_user, RefreshReason::Request).await });
    match tokio::time::timeout(app.settings.token_refresh_wait, refresh).await {
        Ok(Ok(RefreshVerdict::Logout { revoked, .. })) => revoked,
        Ok(Ok(_)) => false,
        Ok(Err(err)) => {
            tracing::warn!(user, error = %err, "auth refresh task failed");
            false
        }
        Err(_) => {
            tracing::info!(user, "auth refresh is slow; the request goes on while it finishes");
            false
        }
    }
}

/// The request-time refresh: asks the authenticator when the user's last
/// refresh is older than `auth_refresh_age`. Provider failures keep the
/// session ([`RefreshVerdict::Keep`]). The API layer may call this too.
pub async fn refresh_if_due(app: &App, user: &str) -> RefreshVerdict {
    if !app.pages.claim_refresh(user, app.hub.now(), app.settings.auth_refresh_age) {
        return RefreshVerdict::Keep;
    }
    match run_refresh(app, user, RefreshReason::Request).await {
        RefreshVerdict::Unavailable { .. } => RefreshVerdict::Keep,
        verdict => verdict,
    }
}

/// Why a spawn was refused by the pre-spawn refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreSpawnRefusal {
    /// The user's credentials are gone or access was revoked (403; the
    /// user's own browser is sent to log in again).
    MustLogin { revoked: bool, reason: String },
    /// The provider could not be asked; try again later (503).
    Unavailable { message: String },
}

/// The refresh before a spawn (`refresh_pre_spawn`): always asks the
/// provider. A user removed from the allowed group cannot start anything.
pub async fn pre_spawn_refresh(app: &App, user: &str) -> Result<(), PreSpawnRefusal> {
    if !app.auth.refresh_pre_spawn() {
        return Ok(());
    }
    app.pages.mark_refreshed(user, app.hub.now());
    match run_refresh(app, user, RefreshReason::PreSpawn).await {
        RefreshVerdict::Keep => Ok(()),
        RefreshVerdict::Logout { revoked, reason } => Err(PreSpawnRefusal::MustLogin { revoked, reason }),
        RefreshVerdict::Unavailable { message } => Err(PreSpawnRefusal::Unavailable { message }),
    }
}

/// Ends a browser's hub session: its tokens (OAuth tokens of its servers)
/// are deleted; `everywhere` rotates the cookie id (every browser out).
pub(crate) async fn end_browser(app: &App, user: &str, session_id: Option<&str>, everywhere: bool) {
    if let Some(session) = session_id
        && let Err(err) = app.hub.end_session(user, session).await
    {
        tracing::warn!(user, error = %err, "could not end the browser session");
    }
    if everywhere && let Err(err) = app.hub.rotate_cookie_id(user).await {
        tracing::warn!(user, error = %err, "could not rotate the cookie id");
    }
}

/// Set-Cookie removals for every cookie the hub sets (logout).
pub(crate) fn clear_cookies(app: &App) -> Vec<Cookie<'static>> {
    let base = app.settings.layout.base_url().to_string();
    let hub = app.settings.layout.hub_prefix();
    vec![
        cookies::removal(app, SESSION_COOKIE, base.clone()),
        cookies::removal(app, LOGIN_COOKIE, hub.clone()),
        cookies::removal(app, "jupyterhub-services", format!("{base}services")),
        cookies::removal(app, XSRF_COOKIE, hub),
        cookies::removal(app, STATE_COOKIE, base),
    ]
}

/// Adds cookies to a response.
pub(crate) fn with_cookies(response: Response, cookies: Vec<Cookie<'static>>) -> Response {
    if cookies.is_empty() {
        return response;
    }
    let mut jar = CookieJar::new();
    for cookie in cookies {
        jar = jar.add(cookie);
    }
    (jar, response).into_response()
}

/// A page request's browser: the logged-in user (after the refresh check),
/// and the XSRF token to embed in forms and `window.jhdata`.
#[derive(Debug)]
pub struct Browser {
    pub login: Option<BrowserLogin>,
    pub xsrf: String,
    cookies: Vec<Cookie<'static>>,
}

impl Browser {
    /// The logged-in user's name.
    pub fn user(&self) -> Option<&str> {
        self.login.as_ref().map(|l| l.identity.principal.name())
    }

    /// Finishes a response: sets the cookies this request needs (a fresh
    /// `_xsrf`, a session id).
    pub fn respond(self, response: Response) -> Response {
        with_cookies(response, self.cookies)
    }

    /// Adds a cookie to the response.
    pub fn push_cookie(&mut self, cookie: Cookie<'static>) {
        self.cookies.push(cookie);
    }
}

impl FromRequestParts<App> for Browser {
    /// A browser whose auth was revoked is answered with a redirect to login.
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let mut login = browser_login(app, parts);
        let mut set = Vec::new();
        if let Some(current) = &mut login {
            let name = current.identity.principal.name().to_string();
            if let RefreshVerdict::Logout { revoked, .. } = refresh_if_due(app, &name).await {
                end_browser(app, &name, current.session_id.as_deref(), revoked).await;
                let response = super::redirect_to_login(app, &parts.uri);
                return Err(with_cookies(response, clear_cookies(app)));
            }
            // JupyterHub gives a logged-in browser without a session id one,
            // so tokens issued to it can be revoked at logout.
            if current.session_id.is_none() {
                match app.hub.create_session(&name).await {
                    Ok(session) => {
                        set.push(cookies::session_cookie(app, &session));
                        current.identity.session_id = Some(session.clone());
                        current.session_id = Some(session);
                    }
                    Err(err) => tracing::warn!(user = %name, error = %err, "could not create a browser session"),
                }
            }
        }
        let (xsrf, fresh) = xsrf_token_for(app, parts, login.as_ref());
        if fresh {
            set.push(cookies::xsrf_cookie(app, &xsrf, login.is_none()));
        }
        Ok(Browser { login, xsrf, cookies: set })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_is_claimed_once_per_interval() {
        let state = PageState::default();
        let t0 = Timestamp::from_second(1_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let every = Duration::from_secs(300);
        assert!(state.claim_refresh("alice", t0, every), "first request refreshes");
        assert!(!state.claim_refresh("alice", t0, every), "second one within the interval does not");
        let later = Timestamp::from_second(1_000_299).unwrap_or(Timestamp::UNIX_EPOCH);
        assert!(!state.claim_refresh("alice", later, every));
        let due = Timestamp::from_second(1_000_300).unwrap_or(Timestamp::UNIX_EPOCH);
        assert!(state.claim_refresh("alice", due, every));
        assert!(state.claim_refresh("bob", t0, every), "per user");
        state.mark_refreshed("carol", due);
        assert!(!state.claim_refresh("carol", due, every), "a fresh login counts as a refresh");
    }

    #[test]
    fn memory_auth_state_is_per_user() {
        let state = PageState::default();
        state.set_memory_auth_state("alice", Some(serde_json::json!({"access_token": "x"})));
        assert_eq!(state.memory_auth_state("alice"), Some(serde_json::json!({"access_token": "x"})));
        assert_eq!(state.memory_auth_state("bob"), None);
        assert!(!format!("{state:?}").contains("access_token"));
    }
}
