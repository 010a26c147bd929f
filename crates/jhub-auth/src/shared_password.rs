//! A shared-password form authenticator for the demo and tests, after
//! JupyterHub 5's `SharedPasswordAuthenticator`: any valid username logs in
//! with `user_password` (never as admin); users in `admin_users` log in as
//! admin with `admin_password`. Passwords are kept only as argon2 hashes.

use crate::authenticator::{AuthOutcome, Authenticator, LoginKind};
use crate::error::{AuthError, ConfigError};
use crate::policy::{AccessRules, UsernameRules, normalize_username};
use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// JupyterHub's minimum lengths (`SharedPasswordAuthenticator`).
pub const MIN_USER_PASSWORD: usize = 8;
pub const MIN_ADMIN_PASSWORD: usize = 32;
/// Longer inputs are refused before hashing (cheap DoS guard).
const MAX_PASSWORD_BYTES: usize = 1024;

/// Settings of [`SharedPasswordAuthenticator`].
#[derive(Debug, Clone)]
pub struct SharedPasswordSettings {
    /// Password for every (non-admin) login; at least 8 characters.
    pub user_password: SecretString,
    /// Password that makes `admin_users` admins; at least 32 characters.
    pub admin_password: Option<SecretString>,
    /// `allowed_users` empty means everyone (JupyterHub's `allow_all`
    /// default for this authenticator); `blocked_users` always apply.
    pub access: AccessRules,
    pub login_service: String,
    /// `Authenticator.username_map`: applied to the lower-cased name after
    /// the password check (JupyterHub's `normalize_username`).
    pub username_map: std::collections::BTreeMap<String, String>,
    /// `Authenticator.username_pattern`: a mapped name must match it.
    pub username_pattern: Option<String>,
    /// `Authenticator.delete_invalid_users`.
    pub delete_invalid_users: bool,
}

impl SharedPasswordSettings {
    pub fn new(user_password: SecretString) -> Self {
        Self {
            user_password,
            admin_password: None,
            access: AccessRules::default(),
            login_service: String::new(),
            username_map: std::collections::BTreeMap::new(),
            username_pattern: None,
            delete_invalid_users: false,
        }
    }
}

/// The shared-password authenticator. `Debug` shows no hashes.
pub struct SharedPasswordAuthenticator {
    user_hash: Arc<String>,
    admin_hash: Option<Arc<String>>,
    access: AccessRules,
    login_service: String,
    names: UsernameRules,
    delete_invalid_users: bool,
}

impl std::fmt::Debug for SharedPasswordAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedPasswordAuthenticator")
            .field("admin_password", &self.admin_hash.is_some())
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

fn hash(setting: &'static str, password: &SecretString) -> Result<String, ConfigError> {
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ConfigError::HashPassword { setting, reason: e.to_string() })
}

fn verify(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

impl SharedPasswordAuthenticator {
    /// Checks the passwords and hashes them (argon2id, default parameters;
    /// takes some tens of milliseconds, call it at startup).
    pub fn new(settings: SharedPasswordSettings) -> Result<Self, ConfigError> {
        let user = settings.user_password.expose_secret();
        if user.is_empty() {
            return Err(ConfigError::EmptyPassword { setting: "user_password" });
        }
        if user.chars().count() < MIN_USER_PASSWORD {
            return Err(ConfigError::PasswordTooShort { setting: "user_password", min: MIN_USER_PASSWORD });
        }
        let access = settings.access.normalized();
        let admin_hash = match &settings.admin_password {
            None => None,
            Some(admin) if admin.expose_secret().is_empty() => None,
            Some(admin) => {
                if admin.expose_secret().chars().count() < MIN_ADMIN_PASSWORD {
                    return Err(ConfigError::PasswordTooShort { setting: "admin_password", min: MIN_ADMIN_PASSWORD });
                }
                if access.admin_users.is_empty() {
                    return Err(ConfigError::InvalidSetting {
                        setting: "admin_password",
                        reason: String::from("it only works for admin_users, and admin_users is empty"),
                    });
                }
                Some(Arc::new(hash("admin_password", admin)?))
            }
        };
        let names = UsernameRules::new(settings.username_map.clone(), settings.username_pattern.as_deref())
            .map_err(|reason| ConfigError::InvalidSetting { setting: "username_pattern", reason })?;
        Ok(Self {
            user_hash: Arc::new(hash("user_password", &settings.user_password)?),
            admin_hash,
            access,
            login_service: settings.login_service,
            names,
            delete_invalid_users: settings.delete_invalid_users,
        })
    }
}

/// Shortened, escaped form of untrusted text for logs (huge or control-
/// character usernames must not flood or forge log lines).
pub(crate) fn loggable(text: &str) -> String {
    let short: String = text.chars().take(64).collect();
    format!("{short:?}")
}

#[async_trait]
impl Authenticator for SharedPasswordAuthenticator {
    fn login_kind(&self) -> LoginKind {
        LoginKind::Form
    }

    fn login_service(&self) -> &str {
        &self.login_service
    }

    fn admin_users(&self) -> Vec<String> {
        if self.admin_hash.is_some() { self.access.admin_users.iter().cloned().collect() } else { Vec::new() }
    }

    fn validate_username(&self, name: &str) -> bool {
        jhub_core::names::validate_username(name).is_ok() && self.names.matches_pattern(name)
    }

    fn delete_invalid_users(&self) -> bool {
        self.delete_invalid_users
    }

    async fn authenticate_form(&self, username: &str, password: &SecretString) -> Result<AuthOutcome, AuthError> {
        let name = normalize_username(username.trim());
        if jhub_core::names::validate_username(&name).is_err() {
            tracing::info!(username = %loggable(username), "form login refused: invalid username");
            return Err(AuthError::InvalidCredentials);
        }
        let given = password.expose_secret();
        if given.is_empty() || given.len() > MAX_PASSWORD_BYTES {
            return Err(AuthError::InvalidCredentials);
        }
        let try_admin = self.access.admin_users.contains(&name);
        let user_hash = self.user_hash.clone();
        let admin_hash = if try_admin { self.admin_hash.clone() } else { None };
        let given = SecretString::from(given.to_string());
        // argon2 costs tens of milliseconds of CPU: keep it off the async workers.
        let verdict = tokio::task::spawn_blocking(move || {
            let secret = given.expose_secret();
            if admin_hash.as_deref().is_some_and(|phc| verify(phc, secret)) {
                Some(true)
            } else if verify(&user_hash, secret) {
                Some(false)
            } else {
                None
            }
        })
        .await
        .map_err(|e| AuthError::Internal(format!("password check task failed: {e}")))?;
        let Some(admin) = verdict else {
            tracing::info!(username = %loggable(&name), "form login refused: wrong password");
            return Err(AuthError::InvalidCredentials);
        };
        // Like JupyterHub's `get_authenticated_user`: the password decides
        // on the name as typed (lower-cased); the hub name is the mapped
        // one, which must match `username_pattern` and is the one the
        // blocked/allowed lists are checked against.
        let name = self.names.normalize(&name);
        if jhub_core::names::validate_username(&name).is_err() {
            tracing::info!(username = %loggable(&name), "form login refused: username_map gives an invalid name");
            return Err(AuthError::InvalidUsername { detail: loggable(&name) });
        }
        if !self.names.matches_pattern(&name) {
            tracing::info!(username = %loggable(&name), "form login refused: does not match username_pattern");
            return Err(AuthError::UsernameRefused { name: loggable(&name) });
        }
        if self.access.blocked_users.contains(&name) {
            tracing::info!(username = %loggable(&name), "form login refused: blocked user");
            return Err(AuthError::InvalidCredentials);
        }
        let allowed = self.access.allowed_users.is_empty() || self.access.allowed_users.contains(&name) || admin;
        if !allowed {
            tracing::info!(username = %loggable(&name), "form login refused: not in allowed_users");
            return Err(AuthError::InvalidCredentials);
        }
        Ok(AuthOutcome { name, admin: Some(admin), auth_state: None, user_info: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SharedPasswordSettings {
        let mut s = SharedPasswordSettings::new(SecretString::from("user-pass-1"));
        s.admin_password = Some(SecretString::from("a".repeat(32)));
        s.access.admin_users.insert(String::from("Boss"));
        s.access.blocked_users.insert(String::from("mallory"));
        s
    }

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_string())
    }

    #[tokio::test]
    async fn shared_password_accepts_and_rejects() {
        let auth = SharedPasswordAuthenticator::new(settings()).unwrap();
        let ok = auth.authenticate_form("Alice", &secret("user-pass-1")).await.unwrap();
        assert_eq!((ok.name.as_str(), ok.admin), ("alice", Some(false)));
        assert!(matches!(
            auth.authenticate_form("alice", &secret("user-pass-2")).await,
            Err(AuthError::InvalidCredentials)
        ));
        assert!(matches!(
            auth.authenticate_form("a/b", &secret("user-pass-1")).await,
            Err(AuthError::InvalidCredentials)
        ));
        assert!(matches!(
            auth.authenticate_form("mallory", &secret("user-pass-1")).await,
            Err(AuthError::InvalidCredentials)
        ));
        let huge = "x".repeat(2000);
        assert!(matches!(auth.authenticate_form("alice", &secret(&huge)).await, Err(AuthError::InvalidCredentials)));
    }

    #[tokio::test]
    async fn admin_password_only_for_admin_users() {
        let auth = SharedPasswordAuthenticator::new(settings()).unwrap();
        let boss = auth.authenticate_form("boss", &secret(&"a".repeat(32))).await.unwrap();
        assert_eq!(boss.admin, Some(true));
        let boss_as_user = auth.authenticate_form("boss", &secret("user-pass-1")).await.unwrap();
        assert_eq!(boss_as_user.admin, Some(false), "the shared user password never grants admin");
        assert!(auth.authenticate_form("alice", &secret(&"a".repeat(32))).await.is_err());
        assert_eq!(auth.admin_users(), vec![String::from("boss")]);
    }

    #[tokio::test]
    async fn allowed_users_restrict_when_set() {
        let mut s = settings();
        s.access.allowed_users.insert(String::from("alice"));
        let auth = SharedPasswordAuthenticator::new(s).unwrap();
        assert!(auth.authenticate_form("alice", &secret("user-pass-1")).await.is_ok());
        assert!(auth.authenticate_form("bob", &secret("user-pass-1")).await.is_err());
    }

    /// `username_map` and `username_pattern` apply to password logins as
    /// JupyterHub's base `Authenticator` applies them: the password is
    /// checked for the typed name, the mapped name is the hub user, must
    /// match the pattern, and is what blocked/allowed lists see.
    #[tokio::test]
    async fn password_login_applies_username_map_and_pattern() {
        let mut s = settings();
        s.username_map.insert(String::from("al"), String::from("alice"));
        s.username_map.insert(String::from("eve"), String::from("mallory"));
        s.username_map.insert(String::from("zed"), String::from("z/z"));
        s.username_pattern = Some(String::from("[a-m]"));
        s.delete_invalid_users = true;
        let auth = SharedPasswordAuthenticator::new(s).unwrap();
        let mapped = auth.authenticate_form("AL", &secret("user-pass-1")).await.unwrap();
        assert_eq!(mapped.name, "alice", "lower-cased, then mapped");
        assert!(matches!(
            auth.authenticate_form("al", &secret("wrong-pass")).await,
            Err(AuthError::InvalidCredentials)
        ));
        // Blocked by the mapped name.
        assert!(matches!(
            auth.authenticate_form("eve", &secret("user-pass-1")).await,
            Err(AuthError::InvalidCredentials)
        ));
        // The pattern is anchored at the start only (Python re.match).
        assert!(auth.authenticate_form("kate-z", &secret("user-pass-1")).await.is_ok());
        match auth.authenticate_form("nina", &secret("user-pass-1")).await {
            Err(err @ AuthError::UsernameRefused { .. }) => {
                assert!(err.public_message().contains("\"nina\""), "{}", err.public_message())
            }
            other => panic!("expected UsernameRefused, got {other:?}"),
        }
        assert!(matches!(
            auth.authenticate_form("zed", &secret("user-pass-1")).await,
            Err(AuthError::InvalidUsername { .. })
        ));
        // The same rules decide which stored users are invalid at startup.
        assert!(auth.validate_username("alice") && !auth.validate_username("nina"));
        assert!(auth.delete_invalid_users());
        let mut bad = settings();
        bad.username_pattern = Some(String::from("(unclosed"));
        let err = SharedPasswordAuthenticator::new(bad).unwrap_err();
        assert!(err.to_string().contains("username_pattern"), "{err}");
    }

    #[test]
    fn construction_checks_passwords_and_hides_them() {
        let empty = SharedPasswordAuthenticator::new(SharedPasswordSettings::new(secret("")));
        assert!(matches!(empty, Err(ConfigError::EmptyPassword { setting: "user_password" })));
        let short = SharedPasswordAuthenticator::new(SharedPasswordSettings::new(secret("short")));
        assert_eq!(short.unwrap_err().to_string(), "user_password must be at least 8 characters");
        let mut no_admins = SharedPasswordSettings::new(secret("user-pass-1"));
        no_admins.admin_password = Some(secret(&"a".repeat(32)));
        assert!(SharedPasswordAuthenticator::new(no_admins).is_err());
        let mut weak_admin = settings();
        weak_admin.admin_password = Some(secret("too-short-admin"));
        assert!(matches!(
            SharedPasswordAuthenticator::new(weak_admin),
            Err(ConfigError::PasswordTooShort { setting: "admin_password", .. })
        ));
        let auth = SharedPasswordAuthenticator::new(settings()).unwrap();
        assert!(!format!("{auth:?}").contains("argon2"));
        assert!(!auth.user_hash.contains("user-pass-1"));
    }
}
