//! Typed failures of logins and refreshes ([`AuthError`]), of authenticator
//! construction ([`ConfigError`]), and the class the web layer maps to an
//! HTTP status ([`ErrorClass`]).

use std::fmt;

/// How the web layer should answer a failed login. Only `jhub-web` turns
/// this into status codes (ARCHITECTURE.md); the intended mapping is noted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request itself is wrong or stale (400), e.g. OAuth state checks.
    BadRequest,
    /// The user may not log in (403).
    Forbidden,
    /// GitLab failed or answered unexpectedly. JupyterHub answers 500; a
    /// 502/503 is more accurate. The login may be retried.
    Upstream,
    /// The hub is misconfigured or the call does not apply (500).
    Internal,
}

/// What went wrong talking to GitLab, without response bodies or secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitLabFailure {
    /// No answer: connection refused, DNS, TLS, timeout.
    Unreachable { detail: String },
    /// An unexpected HTTP status (5xx, or a 4xx the step does not expect).
    Status { status: u16 },
    /// The OAuth token endpoint refused the grant (`error` per RFC 6749 §5.2).
    Rejected { error: String, description: Option<String> },
    /// 401: the token is unknown, expired or revoked, or the user is blocked.
    Unauthorized,
    /// 403 `insufficient_scope`: the token lacks `read_api`/`api`.
    InsufficientScope,
    /// A 2xx answer that is not what GitLab sends.
    BadResponse { detail: String },
}

impl fmt::Display for GitLabFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitLabFailure::Unreachable { detail } => write!(f, "GitLab unreachable: {detail}"),
            GitLabFailure::Status { status } => write!(f, "GitLab answered HTTP {status}"),
            GitLabFailure::Rejected { error, description: Some(d) } => write!(f, "GitLab refused ({error}): {d}"),
            GitLabFailure::Rejected { error, description: None } => write!(f, "GitLab refused ({error})"),
            GitLabFailure::Unauthorized => f.write_str("GitLab rejected the access token (401)"),
            GitLabFailure::InsufficientScope => {
                f.write_str("the GitLab token lacks the read_api scope (403 insufficient_scope)")
            }
            GitLabFailure::BadResponse { detail } => write!(f, "unexpected answer from GitLab: {detail}"),
        }
    }
}

/// Why the user was refused; the page shows `custom_403_message` only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    /// In `blocked_users`.
    Blocked,
    /// Not admin, not in `allowed_users`, not an existing user (when
    /// `allow_existing_users`), and in none of the allowed groups/projects.
    NotAllowed,
}

/// A failed login, callback or refresh. `Display` is for logs (no secrets,
/// no response bodies); [`AuthError::public_message`] is for the page.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The provider sent `?error=` (e.g. the user clicked Deny).
    #[error("OAuth error: {message}")]
    OAuthErrorParam { message: String },
    #[error("OAuth callback made without a code")]
    MissingCode,
    #[error("OAuth state missing from cookies")]
    StateMissingFromCookie,
    #[error("OAuth state missing from URL")]
    StateMissingFromUrl,
    #[error("OAuth state mismatch")]
    StateMismatch,
    /// Authenticated but not allowed; `message` is `custom_403_message`.
    #[error("{message}")]
    Denied { message: String, reason: DenyReason },
    /// Form login failed (wrong password, unknown or blocked user).
    #[error("Invalid username or password")]
    InvalidCredentials,
    /// The name GitLab (or the form) gave is not a valid hub username.
    #[error("invalid username: {detail}")]
    InvalidUsername { detail: String },
    #[error("token exchange failed: {0}")]
    TokenExchangeFailed(GitLabFailure),
    #[error("token refresh failed: {0}")]
    TokenRefreshFailed(GitLabFailure),
    #[error("fetching the GitLab user failed: {0}")]
    UserInfoFailed(GitLabFailure),
    /// The `/user` answer has no usable `username_claim` field.
    #[error("GitLab user has no usable {claim:?} field")]
    UsernameClaimMissing { claim: String },
    /// The normalised name does not match `username_pattern`.
    #[error("username {name:?} does not match username_pattern")]
    UsernameRefused { name: String },
    /// Listing the user's GitLab groups (`manage_groups`) failed.
    #[error("listing the user's GitLab groups failed: {0}")]
    GroupListFailed(GitLabFailure),
    #[error("GitLab version check failed: {0}")]
    VersionCheckFailed(GitLabFailure),
    #[error("membership check of GitLab group {group:?} failed: {failure}")]
    GroupCheckFailed { group: String, failure: GitLabFailure },
    #[error("membership check of GitLab project {project_id} failed: {failure}")]
    ProjectCheckFailed { project_id: u64, failure: GitLabFailure },
    /// The web layer called a method this authenticator does not offer.
    #[error("{operation} is not supported by this authenticator")]
    NotSupported { operation: &'static str },
    /// No `oauth_callback_url` configured and none derived from the request.
    #[error("no OAuth callback URL: set oauth_callback_url")]
    NoCallbackUrl,
    #[error("internal error: {0}")]
    Internal(String),
}

impl AuthError {
    pub fn class(&self) -> ErrorClass {
        match self {
            AuthError::OAuthErrorParam { .. }
            | AuthError::MissingCode
            | AuthError::StateMissingFromCookie
            | AuthError::StateMissingFromUrl
            | AuthError::StateMismatch => ErrorClass::BadRequest,
            AuthError::TokenExchangeFailed(GitLabFailure::Rejected { error, .. }) if error == "invalid_grant" => {
                ErrorClass::BadRequest
            }
            AuthError::Denied { .. }
            | AuthError::InvalidCredentials
            | AuthError::InvalidUsername { .. }
            | AuthError::UsernameRefused { .. } => ErrorClass::Forbidden,
            AuthError::TokenExchangeFailed(_)
            | AuthError::TokenRefreshFailed(_)
            | AuthError::UserInfoFailed(_)
            | AuthError::VersionCheckFailed(_)
            | AuthError::GroupListFailed(_)
            | AuthError::GroupCheckFailed { .. }
            | AuthError::ProjectCheckFailed { .. } => ErrorClass::Upstream,
            AuthError::UsernameClaimMissing { .. }
            | AuthError::NotSupported { .. }
            | AuthError::NoCallbackUrl
            | AuthError::Internal(_) => ErrorClass::Internal,
        }
    }

    /// Text safe to show the user (HTML-escape it: `OAuth error:` echoes a
    /// query parameter).
    pub fn public_message(&self) -> String {
        match self {
            AuthError::OAuthErrorParam { .. }
            | AuthError::MissingCode
            | AuthError::StateMissingFromCookie
            | AuthError::StateMissingFromUrl
            | AuthError::StateMismatch
            | AuthError::Denied { .. }
            | AuthError::InvalidCredentials => self.to_string(),
            AuthError::InvalidUsername { .. } => String::from("Your GitLab username is not a valid hub username."),
            AuthError::UsernameRefused { name } => format!(
                "The username {name} is not allowed on this hub: it does not match the hub's username pattern. \
                 Please contact the hub administrator."
            ),
            AuthError::TokenExchangeFailed(GitLabFailure::Rejected { error, .. }) if error == "invalid_grant" => {
                String::from("The GitLab login expired or was already used. Please log in again.")
            }
            AuthError::GroupCheckFailed { failure: GitLabFailure::InsufficientScope, .. }
            | AuthError::GroupListFailed(GitLabFailure::InsufficientScope)
            | AuthError::ProjectCheckFailed { failure: GitLabFailure::InsufficientScope, .. } => String::from(
                "The hub cannot check GitLab group membership (its OAuth scope lacks read_api). Please contact the hub administrator.",
            ),
            AuthError::TokenExchangeFailed(_)
            | AuthError::TokenRefreshFailed(_)
            | AuthError::UserInfoFailed(_)
            | AuthError::VersionCheckFailed(_)
            | AuthError::GroupListFailed(_)
            | AuthError::GroupCheckFailed { .. }
            | AuthError::ProjectCheckFailed { .. } => {
                String::from("GitLab could not complete the login right now. Please try again in a moment.")
            }
            AuthError::UsernameClaimMissing { .. }
            | AuthError::NotSupported { .. }
            | AuthError::NoCallbackUrl
            | AuthError::Internal(_) => String::from("Login failed because of a hub configuration problem."),
        }
    }

    /// Whether the `oauthenticator-state` cookie was consumed by this
    /// callback (clear it) or not (keep it). Upstream reads (and clears) the
    /// cookie only after the `error` and `code` checks pass
    /// (auth-culler-proxy §1.4), so a later good callback still works.
    pub fn clears_state_cookie(&self) -> bool {
        !matches!(self, AuthError::OAuthErrorParam { .. } | AuthError::MissingCode)
    }
}

/// Why an authenticator could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid {setting}: {reason}")]
    InvalidSetting { setting: &'static str, reason: String },
    #[error("cannot read the GitLab CA bundle {path}: {source}")]
    ReadCaFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the GitLab CA bundle {path} holds no usable PEM certificate: {reason}")]
    InvalidCaFile { path: String, reason: String },
    #[error(
        "no rustls crypto provider is installed; call rustls::crypto::ring::default_provider().install_default() at startup"
    )]
    TlsProviderMissing,
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
    #[error("{setting} must not be empty")]
    EmptyPassword { setting: &'static str },
    #[error("{setting} must be at least {min} characters")]
    PasswordTooShort { setting: &'static str, min: usize },
    #[error("cannot hash {setting}: {reason}")]
    HashPassword { setting: &'static str, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_upstream_wording() {
        assert_eq!(
            AuthError::OAuthErrorParam { message: String::from("The resource owner denied") }.to_string(),
            "OAuth error: The resource owner denied"
        );
        assert_eq!(AuthError::MissingCode.to_string(), "OAuth callback made without a code");
        assert_eq!(AuthError::StateMissingFromCookie.to_string(), "OAuth state missing from cookies");
        assert_eq!(AuthError::StateMismatch.to_string(), "OAuth state mismatch");
        assert_eq!(AuthError::StateMismatch.class(), ErrorClass::BadRequest);
        assert!(!AuthError::MissingCode.clears_state_cookie());
        assert!(AuthError::StateMismatch.clears_state_cookie());
    }

    #[test]
    fn upstream_failures_get_a_generic_public_message() {
        let err = AuthError::UserInfoFailed(GitLabFailure::Unreachable { detail: String::from("10.0.0.1 refused") });
        assert_eq!(err.class(), ErrorClass::Upstream);
        assert!(!err.public_message().contains("10.0.0.1"));
        let stale = AuthError::TokenExchangeFailed(GitLabFailure::Rejected {
            error: String::from("invalid_grant"),
            description: None,
        });
        assert_eq!(stale.class(), ErrorClass::BadRequest);
    }
}
