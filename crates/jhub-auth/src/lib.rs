//! Authenticators: GitLab OAuth (oauthenticator-compatible), shared password;
//! auth_state encryption.
//!
//! Owns: the [`Authenticator`] trait the web layer drives (login kinds, OAuth
//! start and callback, form login, refresh), [`GitLabOAuthenticator`]
//! (oauthenticator 17.4 behaviour with the differences listed in
//! [`gitlab`]), [`SharedPasswordAuthenticator`] for the demo and tests,
//! the allow/deny rules ([`policy`]) and [`CryptKeeper`]
//! (`JUPYTERHUB_CRYPT_KEY` / Fernet).
//! Must not: set cookies, render pages or choose HTTP status codes (that is
//! `jhub-web`; errors carry an [`ErrorClass`]); read the wall clock (time
//! comes from a [`jhub_core::ports::Clock`] or a parameter); read environment
//! variables; log secrets (client secret, tokens, codes, verifiers,
//! passwords: secrecy types and hand-written `Debug`).
//!
//! Process requirement: reqwest is built with `rustls-no-provider`, so the
//! binary must call `rustls::crypto::ring::default_provider().install_default()`
//! before building a [`GitLabOAuthenticator`] (which otherwise returns
//! [`ConfigError::TlsProviderMissing`] instead of panicking).

pub mod authenticator;
pub mod crypt;
pub mod error;
pub mod gitlab;
pub mod policy;
pub mod shared_password;

pub use authenticator::{
    AuthOutcome, Authenticator, CallbackParams, LoginKind, LoginStart, ManagedGroups, RefreshOutcome, RefreshReason,
    STATE_COOKIE_NAME, StatePayload, UserDirectory,
};
pub use crypt::{CRYPT_KEY_ENV, CryptError, CryptKeeper};
pub use error::{AuthError, ConfigError, DenyReason, ErrorClass, GitLabFailure};
pub use gitlab::{DEFAULT_403_MESSAGE, GROUPS_KEY, GitLabOAuthenticator, GitLabSettings};
pub use policy::{AccessRules, AllowReason, GroupRules};
pub use shared_password::{SharedPasswordAuthenticator, SharedPasswordSettings};
