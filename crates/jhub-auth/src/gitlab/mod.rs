//! GitLab OAuth login as oauthenticator 17.4's `GitLabOAuthenticator` does it
//! (auth-culler-proxy §1.1–§1.12), with three deliberate differences:
//!
//! 1. Group paths are URL-encoded once, so subgroups such as
//!    `my-group/sub group` work (upstream encodes twice and never matches a
//!    subgroup: oauthenticator#423, §1.8).
//! 2. Refresh re-checks membership. Upstream runs the group/project checks
//!    only at login (§1.12), so a user removed from the allowed group keeps
//!    access until their cookie expires. Here [`Authenticator::refresh_user`]
//!    asks GitLab again at most every `recheck_interval` (default 5 min) per
//!    user and before every spawn, and answers
//!    [`RefreshOutcome::Revoked`] once the user is in no allowed group or
//!    project. With the hub calling refresh every `auth_refresh_age`
//!    (300 s) on requests, a removed user loses access at their first
//!    request after `recheck_interval` has passed since the last check, and
//!    can never start a server after removal.
//! 3. The access token is renewed with the refresh token shortly before it
//!    expires (`token_refresh_margin`, default 10 min, GitLab tokens last
//!    2 h) and before every spawn, not only after a 4xx. GitLab failures
//!    (5xx, timeouts) during membership checks are errors, never silent
//!    denials, and never revoke a session.
//!
//! The flow: PKCE S256 (43-character verifier), `state` =
//! base64url(JSON `{"state_id"}`), token exchange with form fields `code`,
//! `grant_type`, `redirect_uri`, `code_verifier`, `client_id`,
//! `client_secret` (or HTTP Basic with `basic_auth`) and `token_params`,
//! `Accept: application/json`, `User-Agent: JupyterHub`; `GET /user` with
//! `Bearer`; name = lower-cased `username_claim`; then the allow order of
//! [`crate::policy::static_decision`], then `allowed_gitlab_groups` (one
//! `/version` call per process, memoised; `members/all/` from 12.4; groups in
//! order, stop at the first 200) and `allowed_project_ids` (access_level ≥
//! 30). Not implemented: `allowed_scopes`, callables for `username_claim`
//! and `auth_state_groups_key`, `userdata_params`, hooks.
//!
//! Hub groups (`manage_groups`, OAuthenticator 17 semantics, §1.10): GitLab's
//! `/user` has no groups, so upstream needs a `modify_auth_state_hook` to
//! fetch them. jhub fetches them itself — `GET /groups?min_access_level=10`
//! with every page, i.e. every group the user belongs to directly or through
//! an ancestor, by full path (`lab/gpu`) — at login and at every membership
//! re-check, and stores them in auth_state as `gitlab_groups`, the default of
//! `auth_state_groups_key` (a dotted path into auth_state, as upstream).
//! `allowed_groups` then allows, `admin_groups` decides admin, and
//! [`Authenticator::managed_groups`] tells the hub which groups to sync.

mod client;

pub use client::encode_group_path;

use crate::authenticator::{
    AuthOutcome, Authenticator, CallbackParams, LoginKind, LoginStart, ManagedGroups, RefreshOutcome, RefreshReason,
    StatePayload, UserDirectory, decode_state_param, encode_state_param,
};
use crate::error::{AuthError, ConfigError, DenyReason, GitLabFailure};
use crate::policy::{
    AccessRules, AllowReason, GroupRules, RefreshTiming, StaticDecision, decision_with_groups, gitlab_has_members_all,
    groups_at, normalize_username, plan_refresh,
};
use crate::shared_password::loggable;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use client::{GitLabTokenResponse, OAuthClient, Rest, TransportError, send_oauth, split_scopes, token_failure};
use jhub_core::Timestamp;
use jhub_core::ports::Clock;
use oauth2::{
    AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, TokenResponse,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use subtle::ConstantTimeEq;

/// `OAuthenticator.custom_403_message` default (oauth2.py L614).
pub const DEFAULT_403_MESSAGE: &str =
    "Sorry, you are not currently authorized to use this hub. Please contact the hub administrator.";

/// GitLab's Developer level: `allowed_project_ids` needs at least this.
pub const MIN_PROJECT_ACCESS_LEVEL: u64 = 30;

/// How long a rotated refresh token's successor is remembered, so a second
/// concurrent refresh presenting the spent token gets the new state instead
/// of GitLab's `invalid_grant`.
const ROTATION_MEMORY: Duration = Duration::from_secs(600);

/// `hub.config.GitLabOAuthenticator.*` and `hub.config.Authenticator.*`,
/// already resolved (env fallbacks such as `GITLAB_URL` are the config
/// crate's job). `Debug` redacts the secret.
#[derive(Debug, Clone)]
pub struct GitLabSettings {
    /// `https://gitlab.example.org`; a trailing slash is trimmed.
    pub gitlab_url: String,
    /// `"4"` → `{gitlab_url}/api/v4`.
    pub gitlab_api_version: String,
    pub client_id: String,
    /// Empty for a public GitLab application (then PKCE is the proof).
    pub client_secret: SecretString,
    /// Overrides the URL guessed from the request.
    pub oauth_callback_url: Option<String>,
    /// Button label, "GitLab" by default.
    pub login_service: String,
    /// Requested scopes; empty → no `scope` parameter (the application's
    /// scopes apply). Group/project checks need `read_api` or `api`.
    pub scope: Vec<String>,
    /// Group full paths or numeric ids.
    pub allowed_gitlab_groups: Vec<String>,
    pub allowed_project_ids: Vec<u64>,
    /// `admin_users`, `allowed_users`, `blocked_users`, `allow_all`,
    /// `allow_existing_users`.
    pub access: AccessRules,
    pub enable_auth_state: bool,
    /// `None`: refresh before spawns when auth_state is enabled or
    /// membership decides access.
    pub refresh_pre_spawn: Option<bool>,
    /// Field of `/user` that becomes the hub name (`username`).
    pub username_claim: String,
    pub custom_403_message: String,
    /// `manage_groups`, `allowed_groups`, `admin_groups` (hub groups).
    pub groups: GroupRules,
    /// Dotted path into auth_state holding the user's groups; `None` →
    /// `gitlab_groups` (filled by jhub from GitLab).
    pub auth_state_groups_key: Option<String>,
    /// `username_map`: applied after lower-casing (JupyterHub `normalize_username`).
    pub username_map: std::collections::BTreeMap<String, String>,
    /// `username_pattern`: a normalised name must match it (Python
    /// `re.match`: anchored at the start only); empty → any name.
    pub username_pattern: Option<String>,
    /// `delete_invalid_users`: at startup, delete users that fail the pattern.
    pub delete_invalid_users: bool,
    pub enable_pkce: bool,
    /// Client authentication by HTTP Basic instead of form fields.
    pub basic_auth: bool,
    pub extra_authorize_params: Vec<(String, String)>,
    pub token_params: Vec<(String, String)>,
    /// `false` accepts any certificate (`OAUTH_TLS_VERIFY=0`); avoid.
    pub validate_server_cert: bool,
    /// Extra PEM CA bundle for a self-hosted GitLab.
    pub ca_file: Option<PathBuf>,
    /// Re-check membership at most this often per user on requests.
    pub recheck_interval: Duration,
    /// Renew the access token when it expires within this margin.
    pub token_refresh_margin: Duration,
    /// Timeout of each GitLab request.
    pub http_timeout: Duration,
}

impl GitLabSettings {
    /// Upstream defaults for everything else.
    pub fn new(gitlab_url: &str, client_id: &str, client_secret: SecretString) -> Self {
        Self {
            gitlab_url: gitlab_url.to_string(),
            gitlab_api_version: String::from("4"),
            client_id: client_id.to_string(),
            client_secret,
            oauth_callback_url: None,
            login_service: String::from("GitLab"),
            scope: Vec::new(),
            allowed_gitlab_groups: Vec::new(),
            allowed_project_ids: Vec::new(),
            access: AccessRules::default(),
            enable_auth_state: false,
            refresh_pre_spawn: None,
            username_claim: String::from("username"),
            custom_403_message: DEFAULT_403_MESSAGE.to_string(),
            groups: GroupRules::default(),
            auth_state_groups_key: None,
            username_map: std::collections::BTreeMap::new(),
            username_pattern: None,
            delete_invalid_users: false,
            enable_pkce: true,
            basic_auth: false,
            extra_authorize_params: Vec::new(),
            token_params: Vec::new(),
            validate_server_cert: true,
            ca_file: None,
            recheck_interval: Duration::from_secs(300),
            token_refresh_margin: Duration::from_secs(600),
            http_timeout: Duration::from_secs(20),
        }
    }

    fn has_membership_rules(&self) -> bool {
        !self.allowed_gitlab_groups.is_empty() || !self.allowed_project_ids.is_empty()
    }

    /// Whether membership (GitLab's or hub groups') decides access, so it
    /// must be re-checked.
    fn membership_decides(&self) -> bool {
        self.has_membership_rules() || (self.groups.manage_groups && !self.groups.allowed_groups.is_empty())
    }

    fn groups_key(&self) -> &str {
        self.auth_state_groups_key.as_deref().unwrap_or(GROUPS_KEY)
    }
}

/// Where jhub stores the user's GitLab groups (full paths) in auth_state.
pub const GROUPS_KEY: &str = "gitlab_groups";

#[derive(Default)]
struct UserMemo {
    last_check: Option<Timestamp>,
    rotation: Option<Rotation>,
}

struct Rotation {
    spent_digest: [u8; 32],
    successor: Value,
    at: Timestamp,
}

/// The GitLab OAuth authenticator. Build once at startup and share.
pub struct GitLabOAuthenticator {
    settings: GitLabSettings,
    username_pattern: Option<regex::Regex>,
    oauth: OAuthClient,
    rest: Rest,
    clock: Arc<dyn Clock>,
    members_all: tokio::sync::OnceCell<bool>,
    directory: RwLock<Option<Arc<dyn UserDirectory>>>,
    memo: Mutex<HashMap<String, UserMemo>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for GitLabOAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitLabOAuthenticator").field("settings", &self.settings).finish_non_exhaustive()
    }
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidSetting { setting, reason: reason.into() }
}

/// A fresh uuid4 in hex, as `uuid4().hex`.
fn new_state_id() -> Result<String, AuthError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| AuthError::Internal(String::from("no randomness from the OS")))?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Ok(hex::encode(bytes))
}

/// `token_urlsafe(32)`: 43 characters.
fn new_code_verifier() -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| AuthError::Internal(String::from("no randomness from the OS")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The parts of a stored auth_state a refresh needs.
struct Stored {
    access_token: SecretString,
    refresh_token: Option<SecretString>,
    expires_at: Option<Timestamp>,
}

fn parse_stored(state: &Value) -> Option<Stored> {
    let response = state.get("token_response");
    let access = state
        .get("access_token")
        .and_then(Value::as_str)
        .or_else(|| response.and_then(|r| r.get("access_token")).and_then(Value::as_str))
        .filter(|t| !t.is_empty())?;
    let refresh = state
        .get("refresh_token")
        .and_then(Value::as_str)
        .or_else(|| response.and_then(|r| r.get("refresh_token")).and_then(Value::as_str))
        .filter(|t| !t.is_empty());
    let created = response.and_then(|r| r.get("created_at")).and_then(Value::as_i64);
    let lifetime = response.and_then(|r| r.get("expires_in")).and_then(Value::as_i64);
    let expires_at = match (created, lifetime) {
        (Some(c), Some(l)) => Timestamp::from_second(c.saturating_add(l)).ok(),
        _ => None,
    };
    Some(Stored {
        access_token: SecretString::from(access.to_string()),
        refresh_token: refresh.map(|r| SecretString::from(r.to_string())),
        expires_at,
    })
}

/// auth_state as oauthenticator builds it (§1.11).
fn build_auth_state(token: &GitLabTokenResponse, kept_refresh: Option<&str>, gitlab_user: Value) -> Value {
    let mut raw = token.raw.clone();
    // A refresh answer without a refresh_token keeps the old one (upstream).
    if raw.get("refresh_token").and_then(Value::as_str).is_none_or(str::is_empty)
        && let Some(old) = kept_refresh
    {
        raw.insert(String::from("refresh_token"), Value::String(old.to_string()));
    }
    let scope: Vec<String> = raw.get("scope").and_then(Value::as_str).map(split_scopes).unwrap_or_default();
    json!({
        "access_token": token.access_token().secret(),
        "refresh_token": raw.get("refresh_token").cloned().unwrap_or(Value::Null),
        "id_token": raw.get("id_token").cloned().unwrap_or(Value::Null),
        "scope": scope,
        "token_response": Value::Object(raw),
        "gitlab_user": gitlab_user,
    })
}

enum Renewal {
    Renewed(Value),
    Impossible(String),
}

impl GitLabOAuthenticator {
    /// Validates the settings and builds the HTTP and OAuth clients. The
    /// process must have installed a rustls crypto provider first
    /// (`rustls::crypto::ring::default_provider().install_default()`),
    /// otherwise this returns [`ConfigError::TlsProviderMissing`].
    pub fn new(mut settings: GitLabSettings, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        settings.gitlab_url = settings.gitlab_url.trim().trim_end_matches('/').to_string();
        let parsed = url::Url::parse(&settings.gitlab_url).map_err(|e| invalid("gitlab_url", e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(invalid("gitlab_url", format!("{:?} is not an http(s) URL", settings.gitlab_url)));
        }
        let version = settings.gitlab_api_version.trim().to_string();
        if version.is_empty() || !version.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid("gitlab_api_version", format!("{version:?} is not a version like \"4\"")));
        }
        settings.gitlab_api_version = version;
        if settings.client_id.trim().is_empty() {
            return Err(invalid("client_id", "must not be empty"));
        }
        if let Some(callback) = &settings.oauth_callback_url {
            url::Url::parse(callback).map_err(|e| invalid("oauth_callback_url", format!("{callback:?}: {e}")))?;
        }
        if settings.username_claim.trim().is_empty() {
            return Err(invalid("username_claim", "must not be empty"));
        }
        if let Some(bad) = settings.scope.iter().find(|s| s.is_empty() || s.contains(char::is_whitespace)) {
            return Err(invalid("scope", format!("{bad:?} is not a single scope")));
        }
        if let Some(bad) = settings.allowed_gitlab_groups.iter().find(|g| g.trim().is_empty()) {
            return Err(invalid("allowed_gitlab_groups", format!("{bad:?} is empty")));
        }
        if settings.login_service.is_empty() {
            settings.login_service = String::from("GitLab");
        }
        if settings.custom_403_message.is_empty() {
            settings.custom_403_message = DEFAULT_403_MESSAGE.to_string();
        }
        settings.access = std::mem::take(&mut settings.access).normalized();
        let managed = !settings.groups.allowed_groups.is_empty()
            || !settings.groups.admin_groups.is_empty()
            || settings.auth_state_groups_key.is_some();
        if managed && !settings.groups.manage_groups {
            // oauthenticator raises ValueError at startup for the same.
            return Err(invalid(
                "allowed_groups",
                "allowed_groups, admin_groups and auth_state_groups_key need manage_groups: true",
            ));
        }
        let username_pattern =
            match settings.username_pattern.as_deref().filter(|p| !p.is_empty()) {
                Some(pattern) => Some(regex::Regex::new(&format!("^(?:{pattern})")).map_err(|e| {
                    invalid("username_pattern", format!("{pattern:?} is not a regular expression: {e}"))
                })?),
                None => None,
            };
        let http = client::build_http(&settings)?;
        let oauth = client::build_oauth(&settings)?;
        let rest = Rest { http, api: format!("{}/api/v{}", settings.gitlab_url, settings.gitlab_api_version) };
        Ok(Self {
            settings,
            username_pattern,
            oauth,
            rest,
            clock,
            members_all: tokio::sync::OnceCell::new(),
            directory: RwLock::new(None),
            memo: Mutex::new(HashMap::new()),
            locks: Mutex::new(HashMap::new()),
        })
    }

    pub fn settings(&self) -> &GitLabSettings {
        &self.settings
    }

    fn user_exists(&self, name: &str) -> bool {
        let directory = self.directory.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        directory.as_ref().is_some_and(|d| d.user_exists(name))
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, HashMap<String, UserMemo>> {
        self.memo.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn last_check(&self, name: &str) -> Option<Timestamp> {
        self.memo().get(name).and_then(|m| m.last_check)
    }

    fn record_check(&self, name: &str, at: Timestamp) {
        self.memo().entry(name.to_string()).or_default().last_check = Some(at);
    }

    fn user_lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        locks.entry(name.to_string()).or_default().clone()
    }

    fn redirect_url(&self, guessed: Option<&str>) -> Result<RedirectUrl, AuthError> {
        let url = self.settings.oauth_callback_url.as_deref().or(guessed).ok_or(AuthError::NoCallbackUrl)?;
        RedirectUrl::new(url.to_string()).map_err(|e| AuthError::Internal(format!("bad callback URL {url:?}: {e}")))
    }

    fn transport(
        &self,
    ) -> impl Fn(
        oauth2::HttpRequest,
    ) -> std::pin::Pin<
        Box<dyn Future<Output = Result<oauth2::HttpResponse, TransportError>> + Send + 'static>,
    > + use<> {
        let http = self.rest.http.clone();
        move |request| Box::pin(send_oauth(http.clone(), request))
    }

    async fn exchange_code(
        &self,
        code: &str,
        verifier: &SecretString,
        redirect: RedirectUrl,
    ) -> Result<GitLabTokenResponse, AuthError> {
        let mut request =
            self.oauth.exchange_code(AuthorizationCode::new(code.to_string())).set_redirect_uri(Cow::Owned(redirect));
        if self.settings.enable_pkce && !verifier.expose_secret().is_empty() {
            request = request.set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_string()));
        }
        for (name, value) in &self.settings.token_params {
            request = request.add_extra_param(name.as_str(), value.as_str());
        }
        let transport = self.transport();
        request.request_async(&transport).await.map_err(|e| AuthError::TokenExchangeFailed(token_failure(e)))
    }

    fn username_from(&self, user: &Map<String, Value>) -> Result<String, AuthError> {
        let claim = &self.settings.username_claim;
        let raw = match user.get(claim) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(AuthError::UsernameClaimMissing { claim: claim.clone() }),
        };
        let lowered = normalize_username(&raw);
        let name = self.settings.username_map.get(&lowered).cloned().unwrap_or(lowered);
        jhub_core::names::validate_username(&name)
            .map_err(|e| AuthError::InvalidUsername { detail: loggable(&e.to_string()) })?;
        if let Some(pattern) = &self.username_pattern
            && !pattern.is_match(&name)
        {
            return Err(AuthError::UsernameRefused { name: loggable(&name) });
        }
        Ok(name)
    }

    /// With `manage_groups`, fetches the user's groups and stores them in
    /// `auth_state[gitlab_groups]`.
    async fn fetch_groups_into(&self, state: &mut Value, token: &SecretString) -> Result<(), AuthError> {
        if !self.settings.groups.manage_groups {
            return Ok(());
        }
        let groups = self.rest.user_groups(token).await.map_err(AuthError::GroupListFailed)?;
        if let Some(object) = state.as_object_mut() {
            object.insert(String::from(GROUPS_KEY), Value::from(groups));
        }
        Ok(())
    }

    fn groups_in(&self, state: Option<&Value>) -> std::collections::BTreeSet<String> {
        state.map(|s| groups_at(s, self.settings.groups_key())).unwrap_or_default()
    }

    fn decide(&self, name: &str, state: Option<&Value>) -> StaticDecision {
        let groups = self.groups_in(state);
        decision_with_groups(&self.settings.access, &self.settings.groups, name, self.user_exists(name), &groups)
    }

    async fn members_all(&self, token: &SecretString) -> Result<bool, AuthError> {
        self.members_all
            .get_or_try_init(|| async {
                let version = self.rest.version(token).await.map_err(AuthError::VersionCheckFailed)?;
                let all = gitlab_has_members_all(&version);
                tracing::info!(%version, members_all = all, "GitLab version checked");
                Ok::<bool, AuthError>(all)
            })
            .await
            .copied()
    }

    /// `allowed_gitlab_groups` then `allowed_project_ids`, stopping at the
    /// first hit. A failed call does not deny: if nothing else allows the
    /// user, the first failure is returned instead of a denial.
    async fn membership_allows(&self, user_id: u64, token: &SecretString) -> Result<Option<AllowReason>, AuthError> {
        if !self.settings.has_membership_rules() {
            return Ok(None);
        }
        let all = self.members_all(token).await?;
        let mut failure = None;
        for group in &self.settings.allowed_gitlab_groups {
            match self.rest.is_group_member(group, user_id, all, token).await {
                Ok(true) => return Ok(Some(AllowReason::GitLabGroup(group.clone()))),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(group = %group, error = %e, "GitLab group membership check failed");
                    failure.get_or_insert(AuthError::GroupCheckFailed { group: group.clone(), failure: e });
                }
            }
        }
        for project in &self.settings.allowed_project_ids {
            match self.rest.project_access_level(*project, user_id, all, token).await {
                Ok(level) if level >= MIN_PROJECT_ACCESS_LEVEL => {
                    return Ok(Some(AllowReason::GitLabProject(*project)));
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(project = *project, error = %e, "GitLab project membership check failed");
                    failure.get_or_insert(AuthError::ProjectCheckFailed { project_id: *project, failure: e });
                }
            }
        }
        match failure {
            Some(err) => Err(err),
            None => Ok(None),
        }
    }

    fn user_id(user: &Map<String, Value>) -> Result<u64, AuthError> {
        user.get("id").and_then(Value::as_u64).ok_or_else(|| {
            AuthError::UserInfoFailed(GitLabFailure::BadResponse { detail: String::from("user has no numeric id") })
        })
    }

    /// Renews the access token, or finds the successor of a token another
    /// refresh just spent.
    async fn renew(&self, name: &str, current: &Value, refresh: Option<&SecretString>) -> Result<Renewal, AuthError> {
        let Some(refresh) = refresh else {
            return Ok(Renewal::Impossible(String::from("no GitLab refresh token is stored")));
        };
        let spent = digest(refresh.expose_secret());
        let now = self.clock.now();
        if let Some(rotation) = self.memo().get(name).and_then(|m| m.rotation.as_ref())
            && bool::from(rotation.spent_digest.ct_eq(&spent))
            && now.duration_since(rotation.at).unsigned_abs() < ROTATION_MEMORY
        {
            return Ok(Renewal::Renewed(rotation.successor.clone()));
        }
        let token = RefreshToken::new(refresh.expose_secret().to_string());
        let transport = self.transport();
        let answer = self.oauth.exchange_refresh_token(&token).request_async(&transport).await;
        let response = match answer.map_err(token_failure) {
            Ok(response) => response,
            Err(failure @ (GitLabFailure::Rejected { .. } | GitLabFailure::Unauthorized)) => {
                return Ok(Renewal::Impossible(format!("GitLab refused the refresh token: {failure}")));
            }
            Err(failure) => return Err(AuthError::TokenRefreshFailed(failure)),
        };
        let gitlab_user = current.get("gitlab_user").cloned().unwrap_or(Value::Null);
        let renewed = build_auth_state(&response, Some(refresh.expose_secret()), gitlab_user);
        self.memo().entry(name.to_string()).or_default().rotation =
            Some(Rotation { spent_digest: spent, successor: renewed.clone(), at: now });
        Ok(Renewal::Renewed(renewed))
    }
}

#[async_trait]
impl Authenticator for GitLabOAuthenticator {
    fn login_kind(&self) -> LoginKind {
        LoginKind::OAuth
    }

    fn login_service(&self) -> &str {
        &self.settings.login_service
    }

    fn enable_auth_state(&self) -> bool {
        self.settings.enable_auth_state
    }

    fn refresh_pre_spawn(&self) -> bool {
        self.settings.refresh_pre_spawn.unwrap_or(self.settings.enable_auth_state || self.settings.membership_decides())
    }

    fn admin_users(&self) -> Vec<String> {
        self.settings.access.admin_users.iter().cloned().collect()
    }

    fn startup_warnings(&self) -> Vec<String> {
        let s = &self.settings;
        let mut warnings = Vec::new();
        let a = &s.access;
        if !a.allow_all
            && a.allowed_users.is_empty()
            && !a.allow_existing_users
            && !s.membership_decides()
            && s.groups.admin_groups.is_empty()
        {
            warnings.push(String::from(
                "no allow configuration (allow_all, allowed_users, allowed_groups, allowed_gitlab_groups, allowed_project_ids, allow_existing_users): only admin_users can log in",
            ));
        }
        let api_scope = s.scope.iter().any(|x| x == "read_api" || x == "api");
        if s.groups.manage_groups && !s.scope.is_empty() && !api_scope {
            warnings.push(String::from(
                "manage_groups reads the user's GitLab groups, which needs the read_api scope; the requested scopes lack it, so logins will fail",
            ));
        }
        let api_scope = s.scope.iter().any(|x| x == "read_api" || x == "api");
        if s.has_membership_rules() && !s.scope.is_empty() && !api_scope {
            warnings.push(String::from(
                "allowed_gitlab_groups/allowed_project_ids need the read_api scope; the requested scopes lack it, so membership checks will fail (oauthenticator#372)",
            ));
        }
        if s.scope.iter().any(|x| x == "api") {
            warnings.push(String::from(
                "the api scope gives the hub full read/write access to users' GitLab accounts; read_api is enough for membership checks",
            ));
        }
        if !s.validate_server_cert {
            warnings.push(String::from("validate_server_cert is off: GitLab's TLS certificate is not checked"));
        }
        warnings
    }

    fn validate_username(&self, name: &str) -> bool {
        jhub_core::names::validate_username(name).is_ok()
            && self.username_pattern.as_ref().is_none_or(|pattern| pattern.is_match(name))
    }

    fn delete_invalid_users(&self) -> bool {
        self.settings.delete_invalid_users
    }

    fn managed_groups(&self, name: &str, auth_state: &Value) -> Option<ManagedGroups> {
        if !self.settings.groups.manage_groups {
            return None;
        }
        let groups = self.groups_in(Some(auth_state));
        let admin = self.settings.groups.admin(&self.settings.access, name, &groups);
        Some(ManagedGroups { groups: groups.into_iter().collect(), admin })
    }

    fn set_user_directory(&self, directory: Arc<dyn UserDirectory>) {
        *self.directory.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(directory);
    }

    fn begin_login(&self, next: Option<&str>, callback_url: Option<&str>) -> Result<LoginStart, AuthError> {
        let redirect = self.redirect_url(callback_url)?;
        let state_id = new_state_id()?;
        let state_param = encode_state_param(&state_id);
        let next_url = next.and_then(|n| jhub_core::redirect::validate_next(n, None));
        let mut request =
            self.oauth.authorize_url(|| CsrfToken::new(state_param)).set_redirect_uri(Cow::Owned(redirect));
        for scope in &self.settings.scope {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let verifier = if self.settings.enable_pkce {
            let verifier = new_code_verifier()?;
            let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.clone()));
            request = request.set_pkce_challenge(challenge);
            verifier
        } else {
            String::new()
        };
        for (name, value) in &self.settings.extra_authorize_params {
            request = request.add_extra_param(name.as_str(), value.as_str());
        }
        let (url, _) = request.url();
        Ok(LoginStart {
            redirect_url: url.to_string(),
            state_payload: StatePayload { state_id, next_url, code_verifier: SecretString::from(verifier) },
        })
    }

    async fn complete_login(
        &self,
        params: &CallbackParams,
        state: Option<&StatePayload>,
        callback_url: Option<&str>,
    ) -> Result<AuthOutcome, AuthError> {
        if let Some(error) = params.error.as_deref().filter(|e| !e.is_empty()) {
            let message = params.error_description.as_deref().filter(|d| !d.is_empty()).unwrap_or(error);
            return Err(AuthError::OAuthErrorParam { message: message.chars().take(500).collect() });
        }
        let code = params.code.as_deref().filter(|c| !c.is_empty()).ok_or(AuthError::MissingCode)?;
        let payload = state.ok_or(AuthError::StateMissingFromCookie)?;
        let url_state = params.state.as_deref().filter(|s| !s.is_empty()).ok_or(AuthError::StateMissingFromUrl)?;
        let url_state_id = decode_state_param(url_state).unwrap_or_default();
        if !bool::from(url_state_id.as_bytes().ct_eq(payload.state_id.as_bytes())) {
            tracing::warn!(
                cookie_state = %loggable(&payload.state_id),
                url_state = %loggable(&url_state_id),
                "OAuth state mismatch"
            );
            return Err(AuthError::StateMismatch);
        }
        let redirect = self.redirect_url(callback_url)?;
        let token = self.exchange_code(code, &payload.code_verifier, redirect).await?;
        let access = SecretString::from(token.access_token().secret().clone());
        let user = self.rest.user(&access).await.map_err(AuthError::UserInfoFailed)?;
        let name = self.username_from(&user)?;
        let user_id = user.get("id").cloned();
        let mut auth_state = build_auth_state(&token, None, Value::Object(user));
        self.fetch_groups_into(&mut auth_state, &access).await?;
        let user = match auth_state.get("gitlab_user") {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        debug_assert_eq!(user.get("id").cloned(), user_id);
        let reason = match self.decide(&name, Some(&auth_state)) {
            StaticDecision::Blocked => {
                tracing::info!(user = %loggable(&name), "GitLab login refused: blocked user");
                return Err(AuthError::Denied {
                    message: self.settings.custom_403_message.clone(),
                    reason: DenyReason::Blocked,
                });
            }
            StaticDecision::Allowed(reason) => reason,
            StaticDecision::CheckMembership => match self.membership_allows(Self::user_id(&user)?, &access).await? {
                Some(reason) => reason,
                None => {
                    tracing::info!(user = %loggable(&name), "GitLab login refused: not in any allowed group or project");
                    return Err(AuthError::Denied {
                        message: self.settings.custom_403_message.clone(),
                        reason: DenyReason::NotAllowed,
                    });
                }
            },
        };
        tracing::info!(user = %loggable(&name), reason = ?reason, "GitLab login allowed");
        self.record_check(&name, self.clock.now());
        let mut user_info = Map::new();
        if let Some(display) = user.get("name").filter(|v| v.is_string()) {
            user_info.insert(String::from("display_name"), display.clone());
        }
        if let Some(avatar) = user.get("avatar_url").filter(|v| v.is_string()) {
            user_info.insert(String::from("avatar_url"), avatar.clone());
        }
        let admin = self.settings.groups.admin(&self.settings.access, &name, &self.groups_in(Some(&auth_state)));
        Ok(AuthOutcome { name, admin, auth_state: Some(auth_state), user_info: Some(Value::Object(user_info)) })
    }

    async fn refresh_user(
        &self,
        name: &str,
        auth_state: Option<&Value>,
        reason: RefreshReason,
    ) -> Result<RefreshOutcome, AuthError> {
        let name = normalize_username(name);
        let decision = self.decide(&name, auth_state);
        if decision == StaticDecision::Blocked {
            return Ok(RefreshOutcome::Revoked { reason: String::from("the user is in blocked_users") });
        }
        let needs_membership = decision == StaticDecision::CheckMembership || self.settings.groups.manage_groups;
        let Some(state) = auth_state else {
            // Nothing to re-check with: auth state off and the hub restarted
            // (its in-memory copy is gone), or a user who never logged in
            // and whose server an admin starts. Like oauthenticator, keep
            // going — logging every browser out at each hub restart, or
            // refusing admins, would be worse — and re-check at the next
            // login. Only a forced refresh insists on a new login.
            return Ok(if needs_membership && reason == RefreshReason::Forced {
                RefreshOutcome::MustReLogin {
                    reason: String::from("no stored GitLab token to re-check group membership with"),
                }
            } else {
                RefreshOutcome::Unchanged
            });
        };
        let Some(stored) = parse_stored(state) else {
            return Ok(RefreshOutcome::MustReLogin {
                reason: String::from("the stored auth state has no GitLab token"),
            });
        };
        // One refresh per user at a time: GitLab spends a refresh token on use.
        let lock = self.user_lock(&name);
        let _guard = lock.lock().await;
        let now = self.clock.now();
        let timing = RefreshTiming {
            token_margin: self.settings.token_refresh_margin,
            recheck_interval: self.settings.recheck_interval,
        };
        let plan = plan_refresh(now, stored.expires_at, self.last_check(&name), reason, timing);
        let mut current = state.clone();
        let mut access = stored.access_token;
        let mut renewed = false;
        if plan.renew_token {
            match self.renew(&name, &current, stored.refresh_token.as_ref()).await? {
                Renewal::Renewed(next) => {
                    current = next;
                    renewed = true;
                }
                Renewal::Impossible(reason) => return Ok(RefreshOutcome::MustReLogin { reason }),
            }
            if let Some(next) = parse_stored(&current) {
                access = next.access_token;
            }
        }
        if !plan.recheck {
            return Ok(if renewed {
                RefreshOutcome::Updated { auth_state: current }
            } else {
                RefreshOutcome::Unchanged
            });
        }
        let user = match self.rest.user(&access).await {
            Ok(user) => user,
            Err(GitLabFailure::Unauthorized) if !renewed => {
                // Expired or revoked earlier than the stored expiry says: one
                // renewal attempt, as upstream does after a 4xx.
                let refresh = parse_stored(&current).and_then(|s| s.refresh_token);
                match self.renew(&name, &current, refresh.as_ref()).await? {
                    Renewal::Renewed(next) => {
                        current = next;
                        renewed = true;
                    }
                    Renewal::Impossible(reason) => return Ok(RefreshOutcome::MustReLogin { reason }),
                }
                let Some(next) = parse_stored(&current) else {
                    return Ok(RefreshOutcome::MustReLogin { reason: String::from("renewed auth state unreadable") });
                };
                match self.rest.user(&next.access_token).await {
                    Ok(user) => {
                        access = next.access_token;
                        user
                    }
                    Err(GitLabFailure::Unauthorized) => {
                        return Ok(RefreshOutcome::MustReLogin {
                            reason: String::from("GitLab rejects the renewed token"),
                        });
                    }
                    Err(failure) => return Err(AuthError::UserInfoFailed(failure)),
                }
            }
            Err(GitLabFailure::Unauthorized) => {
                return Ok(RefreshOutcome::MustReLogin { reason: String::from("GitLab rejects the access token") });
            }
            Err(failure) => return Err(AuthError::UserInfoFailed(failure)),
        };
        let gitlab_name = self.username_from(&user)?;
        if gitlab_name != name {
            return Ok(RefreshOutcome::MustReLogin {
                reason: format!("the GitLab account is now named {}", loggable(&gitlab_name)),
            });
        }
        // Hub groups are re-read with every check (manage_groups), then the
        // decision is taken again with them: leaving an `allowed_groups`
        // group revokes access like leaving an `allowed_gitlab_groups` one.
        let groups_before = self.groups_in(Some(&current));
        self.fetch_groups_into(&mut current, &access).await?;
        let groups_changed = self.groups_in(Some(&current)) != groups_before;
        let fresh = self.decide(&name, Some(&current));
        if fresh == StaticDecision::Blocked {
            return Ok(RefreshOutcome::Revoked { reason: String::from("the user is in blocked_users") });
        }
        if needs_membership
            && fresh == StaticDecision::CheckMembership
            && self.membership_allows(Self::user_id(&user)?, &access).await?.is_none()
        {
            tracing::info!(user = %loggable(&name), "GitLab access revoked: no longer in an allowed group or project");
            self.memo().remove(&name);
            return Ok(RefreshOutcome::Revoked {
                reason: String::from("no longer a member of an allowed GitLab group or project"),
            });
        }
        self.record_check(&name, now);
        let user = Value::Object(user);
        let user_changed = current.get("gitlab_user") != Some(&user);
        if user_changed && let Some(object) = current.as_object_mut() {
            object.insert(String::from("gitlab_user"), user);
        }
        Ok(if renewed || user_changed || groups_changed {
            RefreshOutcome::Updated { auth_state: current }
        } else {
            RefreshOutcome::Unchanged
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_ids_look_like_uuid4_hex() {
        let id = new_state_id().unwrap();
        assert_eq!(id.len(), 32);
        assert_eq!(&id[12..13], "4");
        assert_ne!(new_state_id().unwrap(), id);
        assert_eq!(new_code_verifier().unwrap().len(), 43);
    }

    #[test]
    fn stored_state_gives_the_expiry() {
        let state = json!({
            "access_token": "a", "refresh_token": "r",
            "token_response": {"created_at": 1_700_000_000, "expires_in": 7200}
        });
        let stored = parse_stored(&state).unwrap();
        assert_eq!(stored.expires_at, Some(Timestamp::from_second(1_700_007_200).unwrap()));
        assert_eq!(stored.refresh_token.unwrap().expose_secret(), "r");
        assert!(parse_stored(&json!({"refresh_token": "r"})).is_none());
    }
}
