//! The secret checks `jhub serve` runs before starting: no placeholder or
//! empty proxy token, OAuth client secret or cookie secret (unless a dev flag
//! allows it), and a usable encryption key when auth state is enabled.

use crate::check::is_placeholder;
use crate::diag::Diagnostic;
use crate::hubconfig::{Authenticator, HubConfig, Secret};

const GENERATE: &str = "generate one with `openssl rand -hex 32`";

fn problem(secret: Option<&Secret>) -> Option<&'static str> {
    match secret {
        None => Some("is not set"),
        Some(s) if s.expose().trim().is_empty() => Some("is empty"),
        Some(s) if is_placeholder(s.expose()) => Some("is a placeholder from an example"),
        Some(_) => None,
    }
}

fn refuse(what: &str, why: &str, secret: Option<&Secret>, keys: &str, how: &str) -> Diagnostic {
    let key = secret.map_or(keys.to_string(), |s| format!("`{}`", s.key));
    let mut d =
        Diagnostic::error("insecure-secret", format!("{what} {why}; refusing to start"))
            .key(secret.map_or_else(
                || keys.split(" or ").next().unwrap_or(keys).trim_matches('`').to_string(),
                |s| s.key.clone(),
            ))
            .at(secret.and_then(|s| s.origin.location()))
            .help(format!("set {key} — {how}"));
    if let Some(s) = secret {
        d = d.note(format!("it comes from {}", s.origin));
    }
    d.note("for a local trial only, `jhub serve --dev` starts anyway")
}

/// The cookie secret's key material, as `serve` uses it: z2jh writes 32
/// random bytes as hex; text that is not hex is used as its bytes.
pub fn cookie_secret_bytes(text: &str) -> Vec<u8> {
    match hex::decode(text.trim()) {
        Ok(bytes) if bytes.len() >= 16 => bytes,
        _ => text.as_bytes().to_vec(),
    }
}

/// Fewer bytes of cookie secret or crypt key than this are refused outside `--dev`.
pub const MIN_SECRET_BYTES: usize = 32;

/// Refuse insecure secrets unless `allow_insecure_dev_secrets`; an auth-state
/// setup without an encryption key is refused either way (JupyterHub exits too).
pub fn check_secrets(config: &HubConfig, allow_insecure_dev_secrets: bool) -> Result<(), Vec<Diagnostic>> {
    let mut out = Vec::new();
    let dev = allow_insecure_dev_secrets;

    let token = config.proxy.auth_token.as_ref();
    if let Some(why) = problem(token)
        && !dev
    {
        out.push(refuse(
            "the proxy auth token",
            why,
            token,
            "`proxy.secretToken` or `hub.config.ConfigurableHTTPProxy.auth_token` (or the CONFIGPROXY_AUTH_TOKEN environment variable)",
            &format!("{GENERATE}; the proxy must be started with the same token"),
        ));
    }

    let cookie = config.hub.cookie_secret.as_ref();
    let short = cookie.and_then(|c| {
        let n = cookie_secret_bytes(c.expose()).len();
        (n < MIN_SECRET_BYTES).then(|| format!("has {n} bytes, fewer than {MIN_SECRET_BYTES}"))
    });
    if let Some(why) = problem(cookie).map(str::to_string).or(short)
        && !dev
    {
        let mut d = refuse(
            "the cookie secret",
            &why,
            cookie,
            "`hub.cookieSecret` or `hub.config.JupyterHub.cookie_secret`",
            GENERATE,
        );
        if cookie.is_none() {
            d = d.note(
                "in a Helm install the chart generates it into the hub Secret; outside Helm it must be configured",
            );
        }
        out.push(d);
    }

    match &config.auth.authenticator {
        Authenticator::Gitlab(g) => {
            let secret = g.client_secret.as_ref();
            if let Some(why) = problem(secret)
                && !dev
            {
                out.push(refuse(
                    "the GitLab OAuth client secret",
                    why,
                    secret,
                    "`hub.config.GitLabOAuthenticator.client_secret` (or GITLAB_CLIENT_SECRET)",
                    "copy the Secret of your GitLab application (Admin Area or User Settings → Applications)",
                ));
            }
            let id_problem = match &g.client_id {
                None => Some("is not set"),
                Some(id) if id.value.trim().is_empty() => Some("is empty"),
                Some(id) if is_placeholder(&id.value) => Some("is a placeholder from an example"),
                Some(_) => None,
            };
            if let Some(why) = id_problem
                && !dev
            {
                let mut d = Diagnostic::error("insecure-secret", format!("the GitLab OAuth client id {why}; refusing to start"))
                    .key(g.client_id.as_ref().map_or("hub.config.GitLabOAuthenticator.client_id".into(), |c| c.key.clone()))
                    .at(g.client_id.as_ref().and_then(|c| c.origin.location()))
                    .help("set `hub.config.GitLabOAuthenticator.client_id` (or GITLAB_CLIENT_ID) to the Application ID of your GitLab application");
                if let Some(c) = &g.client_id {
                    d = d.note(format!("it comes from {}", c.origin));
                }
                out.push(d);
            }
        }
        Authenticator::SharedPassword { user_password, .. } => {
            let secret = user_password.as_ref();
            if let Some(why) = problem(secret)
                && !dev
            {
                out.push(refuse(
                    "the shared password",
                    why,
                    secret,
                    "`hub.config.SharedPasswordAuthenticator.user_password`",
                    "choose a password of at least 8 characters",
                ));
            }
        }
        Authenticator::Dummy { .. } => {}
    }

    // A configured crypt key must be a real 32-byte key even when auth
    // state is off (it may be turned on later, with the weak key in place).
    if !config.auth.enable_auth_state
        && !dev
        && let Some(keys) = &config.hub.crypt_keys
        && keys.expose().split(';').filter(|k| !k.trim().is_empty()).any(|k| !valid_crypt_key(k.trim()))
    {
        out.push(
            Diagnostic::error(
                "crypt-key",
                "an encryption key is not 32 bytes of hex (64 characters) or base64; refusing to start",
            )
            .key(keys.key.clone())
            .at(keys.origin.location())
            .note(format!("it comes from {}", keys.origin))
            .help(format!("{GENERATE}; several keys are separated by `;`, the first encrypts"))
            .note("for a local trial only, `jhub serve --dev` starts anyway"),
        );
    }

    if config.auth.enable_auth_state {
        match &config.hub.crypt_keys {
            None => out.push(
                Diagnostic::error(
                    "crypt-key",
                    "enable_auth_state is on but no encryption key is configured; refusing to start",
                )
                .key("hub.config.Authenticator.enable_auth_state")
                .note("auth state holds users' OAuth tokens and is stored encrypted; JupyterHub exits in this case too")
                .help(format!("set JUPYTERHUB_CRYPT_KEY or `hub.config.CryptKeeper.keys` — {GENERATE}")),
            ),
            Some(keys) => {
                for key in keys.expose().split(';').filter(|k| !k.trim().is_empty()) {
                    if !valid_crypt_key(key.trim()) {
                        out.push(
                            Diagnostic::error(
                                "crypt-key",
                                "an encryption key is not 32 bytes of hex (64 characters) or base64",
                            )
                            .key(keys.key.clone())
                            .at(keys.origin.location())
                            .note(format!("it comes from {}", keys.origin))
                            .help(format!("{GENERATE}; several keys are separated by `;`, the first encrypts")),
                        );
                        break;
                    }
                }
            }
        }
    }

    if out.is_empty() { Ok(()) } else { Err(out) }
}

/// 32 bytes as 64 hex characters or as (url-safe) base64.
fn valid_crypt_key(key: &str) -> bool {
    if key.len() == 64 && key.chars().all(|c| c.is_ascii_hexdigit()) {
        return true;
    }
    let body = key.trim_end_matches('=');
    body.len() == 43 && body.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_'))
}
