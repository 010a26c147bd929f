//! The [`Authenticator`] trait the web layer drives, and the data crossing
//! it: login kinds, the OAuth start ([`LoginStart`], [`StatePayload`] for the
//! signed `oauthenticator-state` cookie), callback parameters, the outcome of
//! a login ([`AuthOutcome`]) and of a refresh ([`RefreshOutcome`]).

use crate::error::AuthError;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::sync::Arc;

/// The name of the cookie the web layer stores [`StatePayload`] in
/// (`STATE_COOKIE_NAME` of oauthenticator; signed, HttpOnly, 1 day).
pub const STATE_COOKIE_NAME: &str = "oauthenticator-state";

/// How users log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginKind {
    /// `POST /hub/login` with username and password.
    Form,
    /// A "Sign in with {login_service}" button to `/hub/oauth_login`, then
    /// the provider, then `/hub/oauth_callback`.
    OAuth,
}

/// The result of a successful authentication (JupyterHub's auth model).
#[derive(Clone, PartialEq)]
pub struct AuthOutcome {
    /// Normalised hub username (lower-cased).
    pub name: String,
    /// `Some(true)` for `admin_users`; `Some(false)` when the login
    /// explicitly grants no admin (shared password); `None` leaves the
    /// hub's current value.
    pub admin: Option<bool>,
    /// Tokens and provider user data (persist encrypted only with
    /// `enable_auth_state`; see [`Authenticator::refresh_user`]).
    pub auth_state: Option<Value>,
    /// Display data for JupyterHub 6's `user_info` (`display_name`, `avatar_url`).
    pub user_info: Option<Value>,
}

impl fmt::Debug for AuthOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthOutcome")
            .field("name", &self.name)
            .field("admin", &self.admin)
            .field("auth_state", &self.auth_state.as_ref().map(|_| "[redacted]"))
            .field("user_info", &self.user_info)
            .finish()
    }
}

/// What the web layer keeps in the signed `oauthenticator-state` cookie
/// between `/hub/oauth_login` and `/hub/oauth_callback` (auth-culler-proxy
/// §1.3). Signed, not encrypted: the browser may read the verifier, which is
/// fine, it only must not be able to change it.
#[derive(Clone)]
pub struct StatePayload {
    /// Random id; also sent (alone) as the `state` URL parameter.
    pub state_id: String,
    /// Where to go after login (already validated to a same-origin path).
    pub next_url: Option<String>,
    /// PKCE verifier (43 characters); empty when PKCE is off.
    pub code_verifier: SecretString,
}

impl fmt::Debug for StatePayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatePayload")
            .field("state_id", &self.state_id)
            .field("next_url", &self.next_url)
            .field("code_verifier", &"[redacted]")
            .finish()
    }
}

#[derive(serde::Serialize, Deserialize)]
struct PayloadWire {
    state_id: String,
    #[serde(default)]
    next_url: Option<String>,
    #[serde(default)]
    code_verifier: Option<String>,
}

impl StatePayload {
    /// The cookie value: base64url(JSON `{"state_id","next_url","code_verifier"}`),
    /// the same shape oauthenticator stores.
    pub fn encode(&self) -> String {
        let wire = PayloadWire {
            state_id: self.state_id.clone(),
            next_url: self.next_url.clone(),
            code_verifier: Some(self.code_verifier.expose_secret().to_string()),
        };
        URL_SAFE.encode(serde_json::to_vec(&wire).unwrap_or_default())
    }

    /// Reads a cookie value written by [`StatePayload::encode`] (or by
    /// oauthenticator); `None` when it is not one, which the callback treats
    /// as a missing cookie.
    pub fn decode(value: &str) -> Option<StatePayload> {
        let bytes = decode_b64url(value)?;
        let wire: PayloadWire = serde_json::from_slice(&bytes).ok()?;
        if wire.state_id.is_empty() {
            return None;
        }
        Some(StatePayload {
            state_id: wire.state_id,
            next_url: wire.next_url.filter(|n| !n.is_empty()),
            code_verifier: SecretString::from(wire.code_verifier.unwrap_or_default()),
        })
    }
}

/// Decodes base64url with or without padding (Python's `urlsafe_b64encode`
/// pads).
pub(crate) fn decode_b64url(value: &str) -> Option<Vec<u8>> {
    let trimmed = value.trim().trim_end_matches('=');
    URL_SAFE_NO_PAD.decode(trimmed).ok()
}

/// The `state` URL parameter: base64url(JSON `{"state_id": …}`), formatted
/// like Python's `json.dumps` (auth-culler-proxy §1.3).
pub(crate) fn encode_state_param(state_id: &str) -> String {
    let json = format!("{{\"state_id\": {}}}", Value::String(state_id.to_string()));
    URL_SAFE.encode(json.as_bytes())
}

/// The `state_id` inside a `state` URL parameter.
pub(crate) fn decode_state_param(value: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Wire {
        state_id: String,
    }
    let bytes = decode_b64url(value)?;
    serde_json::from_slice::<Wire>(&bytes).ok().map(|w| w.state_id)
}

/// Where the web layer sends the browser to start an OAuth login.
#[derive(Debug, Clone)]
pub struct LoginStart {
    /// The provider's authorize URL with all query parameters (302 target).
    pub redirect_url: String,
    /// To store (encoded with [`StatePayload::encode`]) in the signed
    /// `oauthenticator-state` cookie.
    pub state_payload: StatePayload,
}

/// The query parameters of `/hub/oauth_callback`.
#[derive(Clone, Default, Deserialize)]
pub struct CallbackParams {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

impl fmt::Debug for CallbackParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackParams")
            .field("code", &self.code.as_ref().map(|_| "[redacted]"))
            .field("state", &self.state)
            .field("error", &self.error)
            .field("error_description", &self.error_description)
            .finish()
    }
}

impl CallbackParams {
    /// From decoded query pairs (first value of each name wins).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let mut params = CallbackParams::default();
        for (key, value) in pairs {
            let slot = match key.as_ref() {
                "code" => &mut params.code,
                "state" => &mut params.state,
                "error" => &mut params.error,
                "error_description" => &mut params.error_description,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.into());
            }
        }
        params
    }
}

/// Why the hub asks for a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshReason {
    /// A request by a user whose last refresh is older than the hub's
    /// `auth_refresh_age` (300 s): re-check only when due.
    Request,
    /// Before spawning a server: always get a fresh token and re-check
    /// membership, so the server starts with a token valid for its full
    /// lifetime and a removed user cannot start anything.
    PreSpawn,
    /// Explicit (admin action, tests): re-check now, refresh the token only
    /// when it is near expiry.
    Forced,
}

/// The answer to [`Authenticator::refresh_user`].
#[derive(Clone, PartialEq)]
pub enum RefreshOutcome {
    /// Nothing to store; the user stays logged in.
    Unchanged,
    /// Store this auth state (tokens were refreshed or user data changed).
    Updated { auth_state: Value },
    /// Credentials can no longer be refreshed: send browsers through the
    /// login again (JupyterHub: `refresh_user` returned False).
    MustReLogin { reason: String },
    /// The user is no longer allowed (blocked, or left every allowed group
    /// and project): end the sessions; a new login will be refused too.
    Revoked { reason: String },
}

impl fmt::Debug for RefreshOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefreshOutcome::Unchanged => f.write_str("Unchanged"),
            RefreshOutcome::Updated { .. } => f.write_str("Updated { auth_state: [redacted] }"),
            RefreshOutcome::MustReLogin { reason } => f.debug_struct("MustReLogin").field("reason", reason).finish(),
            RefreshOutcome::Revoked { reason } => f.debug_struct("Revoked").field("reason", reason).finish(),
        }
    }
}

/// With `Authenticator.manage_groups`: the hub groups a user must be in
/// (exactly these; JupyterHub `sync_groups`) and, with `admin_groups`, the
/// admin flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedGroups {
    pub groups: Vec<String>,
    /// `None`: leave the hub's admin flag alone.
    pub admin: Option<bool>,
}

/// Lets the hub answer "does this user exist?" for `allow_existing_users`
/// (JupyterHub adds every user in its database, and users created through
/// the API, to `allowed_users`). Must answer from memory, without blocking.
pub trait UserDirectory: Send + Sync + 'static {
    fn user_exists(&self, name: &str) -> bool;
}

/// An authenticator, as the web layer (which owns cookies, pages and status
/// codes) and the hub see it.
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    fn login_kind(&self) -> LoginKind;

    /// The button label: "Sign in with {login_service}".
    fn login_service(&self) -> &str;

    /// Whether auth_state is to be persisted (encrypted). The hub must refuse
    /// to start when this is true and no `JUPYTERHUB_CRYPT_KEY` is usable.
    fn enable_auth_state(&self) -> bool {
        false
    }

    /// Whether the hub should call [`Authenticator::refresh_user`] with
    /// [`RefreshReason::PreSpawn`] before every spawn.
    fn refresh_pre_spawn(&self) -> bool {
        false
    }

    /// Normalised `admin_users`; the hub creates them with the admin role at startup.
    fn admin_users(&self) -> Vec<String> {
        Vec::new()
    }

    /// Configuration smells to log at startup (e.g. nobody can log in).
    fn startup_warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// JupyterHub `validate_username`: whether a (normalised) name may be a
    /// hub user (`username_pattern`). Used at login and, with
    /// `delete_invalid_users`, for the users already in the database.
    fn validate_username(&self, _name: &str) -> bool {
        true
    }

    /// `Authenticator.delete_invalid_users`: remove users that fail
    /// [`Authenticator::validate_username`] at startup (else warn about them).
    fn delete_invalid_users(&self) -> bool {
        false
    }

    /// With `manage_groups`, the groups (and admin flag) the hub must apply
    /// for this auth_state — after a login and after every refresh that
    /// returned a new auth_state. `None` when groups are not managed.
    fn managed_groups(&self, _name: &str, _auth_state: &Value) -> Option<ManagedGroups> {
        None
    }

    /// Attaches the hub's user directory (for `allow_existing_users`).
    fn set_user_directory(&self, _directory: Arc<dyn UserDirectory>) {}

    /// `POST /hub/login`.
    async fn authenticate_form(&self, _username: &str, _password: &SecretString) -> Result<AuthOutcome, AuthError> {
        Err(AuthError::NotSupported { operation: "form login" })
    }

    /// `GET /hub/oauth_login?next=`: where to redirect and what to put in
    /// the state cookie. `next` is re-validated to a same-origin path.
    /// `callback_url` is the URL derived from the request; a configured
    /// `oauth_callback_url` wins over it.
    fn begin_login(&self, _next: Option<&str>, _callback_url: Option<&str>) -> Result<LoginStart, AuthError> {
        Err(AuthError::NotSupported { operation: "OAuth login" })
    }

    /// `GET /hub/oauth_callback`. `state` is the decoded cookie payload
    /// (`None` when the cookie is absent or unreadable). On success redirect
    /// to `state.next_url` (or the hub default). See
    /// [`AuthError::clears_state_cookie`] for when to clear the cookie.
    async fn complete_login(
        &self,
        _params: &CallbackParams,
        _state: Option<&StatePayload>,
        _callback_url: Option<&str>,
    ) -> Result<AuthOutcome, AuthError> {
        Err(AuthError::NotSupported { operation: "OAuth callback" })
    }

    /// Re-validates a logged-in user. `auth_state` is what the hub holds for
    /// the user (decrypted), or `None`. `Err` means the provider could not
    /// be asked (keep the session, try later); it never means "log out".
    async fn refresh_user(
        &self,
        _name: &str,
        _auth_state: Option<&Value>,
        _reason: RefreshReason,
    ) -> Result<RefreshOutcome, AuthError> {
        Ok(RefreshOutcome::Unchanged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_param_matches_the_observed_upstream_bytes() {
        // auth-culler-proxy §1.3: state=eyJzdGF0ZV9pZCI6ICJiNjk2OWM5NDZjZGY0YTg4ODY0ZjQ0MmRkMDkzOGMxYyJ9
        let encoded = encode_state_param("b6969c946cdf4a88864f442dd0938c1c");
        assert_eq!(encoded, "eyJzdGF0ZV9pZCI6ICJiNjk2OWM5NDZjZGY0YTg4ODY0ZjQ0MmRkMDkzOGMxYyJ9");
        assert_eq!(decode_state_param(&encoded).as_deref(), Some("b6969c946cdf4a88864f442dd0938c1c"));
        assert_eq!(decode_state_param("not base64 !"), None);
    }

    #[test]
    fn payload_round_trips_and_debug_hides_the_verifier() {
        let payload = StatePayload {
            state_id: String::from("abc"),
            next_url: Some(String::from("/hub/spawn")),
            code_verifier: SecretString::from("verifier-secret"),
        };
        let decoded = StatePayload::decode(&payload.encode()).unwrap();
        assert_eq!(decoded.state_id, "abc");
        assert_eq!(decoded.next_url.as_deref(), Some("/hub/spawn"));
        assert_eq!(decoded.code_verifier.expose_secret(), "verifier-secret");
        assert!(!format!("{payload:?}").contains("verifier-secret"));
        assert!(StatePayload::decode("e30").is_none(), "{{}} has no state_id");
    }

    #[test]
    fn payload_written_by_oauthenticator_is_read() {
        // Python: base64.urlsafe_b64encode(json.dumps({...}).encode())
        let python = URL_SAFE.encode(
            br#"{"state_id": "b6969c94", "next_url": "/hub/spawn", "code_verifier": "bN79IM-o1CCq8KYyevSN2SdbFGk10rmb4eBUMJuojKo"}"#,
        );
        let decoded = StatePayload::decode(&python).unwrap();
        assert_eq!(decoded.code_verifier.expose_secret(), "bN79IM-o1CCq8KYyevSN2SdbFGk10rmb4eBUMJuojKo");
    }

    #[test]
    fn callback_params_take_the_first_value_and_hide_the_code() {
        let params = CallbackParams::from_pairs([("code", "c1"), ("code", "c2"), ("state", "s"), ("x", "y")]);
        assert_eq!(params.code.as_deref(), Some("c1"));
        assert_eq!(params.state.as_deref(), Some("s"));
        assert!(!format!("{params:?}").contains("c1"));
    }
}
