//! The OAuth flow itself (auth-culler-proxy §1.3–§1.6, §1.11): the authorize
//! redirect, the token and user requests as GitLab sees them, every callback
//! failure path, GitLab failures, and the auth_state it produces.

use crate::{CALLBACK, CLIENT, Env, T0, browser, login, query_param};
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use jhub_auth::{
    AuthError, Authenticator, CallbackParams, CryptKeeper, ErrorClass, GitLabFailure, LoginKind, StatePayload,
};
use jhub_core::Timestamp;
use jhub_gitlab_sim::Endpoint;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::time::Duration;

fn allow_alice(env: &Env) -> jhub_auth::GitLabSettings {
    let mut settings = env.settings();
    settings.allowed_gitlab_groups = vec![String::from("jupyter-users")];
    settings
}

#[tokio::test]
async fn authorize_redirect_carries_pkce_and_state() {
    let env = Env::start().await;
    let auth = env.authenticator(env.settings());
    assert_eq!(auth.login_kind(), LoginKind::OAuth);
    assert_eq!(auth.login_service(), "GitLab");
    let start = auth.begin_login(Some("https://evil.example/x"), None).unwrap();
    let url = &start.redirect_url;
    assert!(url.starts_with(&format!("{}/oauth/authorize?", env.sim.url())), "gitlab_url's trailing slash trimmed");
    assert_eq!(query_param(url, "response_type").as_deref(), Some("code"));
    assert_eq!(query_param(url, "client_id").as_deref(), Some(CLIENT));
    assert_eq!(query_param(url, "redirect_uri").as_deref(), Some(CALLBACK));
    assert_eq!(query_param(url, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(query_param(url, "scope"), None, "empty scope list → no scope parameter");

    let verifier = start.state_payload.code_verifier.expose_secret();
    assert_eq!(verifier.len(), 43);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    assert_eq!(query_param(url, "code_challenge"), Some(challenge));
    assert!(!url.contains(verifier), "the verifier never leaves the hub");

    let state = query_param(url, "state").unwrap();
    let decoded = String::from_utf8(URL_SAFE.decode(state).unwrap()).unwrap();
    assert_eq!(decoded, format!("{{\"state_id\": \"{}\"}}", start.state_payload.state_id));
    assert_eq!(start.state_payload.next_url, None, "an off-site next is dropped");
    let start = auth.begin_login(Some("/user/alice/lab?x=1"), None).unwrap();
    assert_eq!(start.state_payload.next_url.as_deref(), Some("/user/alice/lab?x=1"));
    let cookie = start.state_payload.encode();
    assert_eq!(StatePayload::decode(&cookie).unwrap().state_id, start.state_payload.state_id);
}

#[tokio::test]
async fn scopes_and_extra_params_are_sent() {
    let env = Env::start().await;
    let mut settings = env.settings();
    settings.scope = vec![String::from("read_user"), String::from("read_api")];
    settings.extra_authorize_params = vec![(String::from("prompt"), String::from("consent"))];
    settings.enable_pkce = false;
    settings.login_service = String::from("Gitlab");
    let auth = env.authenticator(settings);
    assert_eq!(auth.login_service(), "Gitlab");
    let start = auth.begin_login(None, None).unwrap();
    assert_eq!(query_param(&start.redirect_url, "scope").as_deref(), Some("read_user read_api"));
    assert_eq!(query_param(&start.redirect_url, "prompt").as_deref(), Some("consent"));
    assert_eq!(query_param(&start.redirect_url, "code_challenge"), None);
    assert!(start.state_payload.code_verifier.expose_secret().is_empty());
}

#[tokio::test]
async fn token_and_user_requests_look_like_oauthenticator() {
    let env = Env::start().await;
    let mut settings = allow_alice(&env);
    settings.token_params = vec![(String::from("audience"), String::from("hub"))];
    let auth = env.authenticator(settings);
    login(&auth, "alice").await.unwrap();

    let token = env.sim.requests_to(Endpoint::Token).pop().unwrap();
    let mut fields: Vec<&str> = token.form.iter().map(|(k, _)| k.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["audience", "client_id", "client_secret", "code", "code_verifier", "grant_type", "redirect_uri"]
    );
    assert_eq!(token.form_value("grant_type"), Some("authorization_code"));
    assert_eq!(token.form_value("redirect_uri"), Some(CALLBACK));
    assert_eq!(token.authorization, None, "client auth in the form by default");
    assert_eq!(token.accept.as_deref(), Some("application/json"));
    assert_eq!(token.user_agent.as_deref(), Some("JupyterHub"));

    let user = env.sim.requests_to(Endpoint::User).pop().unwrap();
    assert_eq!(user.authorization.as_deref(), Some("Bearer [redacted]"));
    assert_eq!(user.user_agent.as_deref(), Some("JupyterHub"));
    assert_eq!(user.accept.as_deref(), Some("application/json"));
}

#[tokio::test]
async fn basic_auth_moves_the_client_credentials_to_a_header() {
    let env = Env::start().await;
    let mut settings = allow_alice(&env);
    settings.basic_auth = true;
    login(&env.authenticator(settings), "alice").await.unwrap();
    let token = env.sim.requests_to(Endpoint::Token).pop().unwrap();
    assert_eq!(token.authorization.as_deref(), Some("Basic [redacted]"));
    assert_eq!(token.form_value("client_secret"), None);
}

#[tokio::test]
async fn auth_state_has_upstream_shape_and_encrypts() {
    let env = Env::start().await;
    let outcome = login(&env.authenticator(allow_alice(&env)), "alice").await.unwrap();
    let state = outcome.auth_state.clone().unwrap();
    let keys: Vec<&str> = state.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["access_token", "refresh_token", "id_token", "scope", "token_response", "gitlab_user"]);
    assert_eq!(state["id_token"], serde_json::Value::Null);
    assert_eq!(state["scope"], serde_json::json!(["api", "read_api", "read_user", "openid", "profile", "email"]));
    assert_eq!(state["token_response"]["token_type"], "Bearer");
    assert_eq!(state["token_response"]["created_at"], T0);
    assert_eq!(state["token_response"]["access_token"], state["access_token"]);
    assert_eq!(state["gitlab_user"]["id"], 101);
    assert_eq!(state["gitlab_user"]["username"], "alice");
    assert_eq!(outcome.user_info.as_ref().unwrap()["display_name"], "alice");
    let access = state["access_token"].as_str().unwrap().to_string();
    assert!(!format!("{outcome:?}").contains(&access), "Debug of the outcome hides tokens");

    let keeper =
        CryptKeeper::from_env_value("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef").unwrap();
    let sealed = keeper.encrypt(&state, Timestamp::from_second(T0).unwrap()).unwrap();
    let text = String::from_utf8(sealed.clone()).unwrap();
    assert!(!text.contains(&access) && !text.contains("alice"), "ciphertext hides the plaintext");
    assert_eq!(keeper.decrypt(&sealed).unwrap(), state);
}

#[tokio::test]
async fn wrong_verifier_is_refused_by_gitlab() {
    let env = Env::start().await;
    let auth = env.authenticator(allow_alice(&env));
    let start = auth.begin_login(None, None).unwrap();
    let params = browser(&start, "alice", false).await;
    let forged = StatePayload { code_verifier: SecretString::from("A".repeat(43)), ..start.state_payload.clone() };
    let err = auth.complete_login(&params, Some(&forged), None).await.unwrap_err();
    let AuthError::TokenExchangeFailed(GitLabFailure::Rejected { error, .. }) = &err else { panic!("{err:?}") };
    assert_eq!(error, "invalid_grant");
    assert_eq!(err.class(), ErrorClass::BadRequest);
    assert!(err.clears_state_cookie());
}

#[tokio::test]
async fn state_failures_are_caught_before_any_gitlab_call() {
    let env = Env::start().await;
    let auth = env.authenticator(allow_alice(&env));
    let start = auth.begin_login(None, None).unwrap();
    let params = browser(&start, "alice", false).await;
    env.sim.clear_requests();

    let other = auth.begin_login(None, None).unwrap();
    let err = auth.complete_login(&params, Some(&other.state_payload), None).await.unwrap_err();
    assert!(matches!(err, AuthError::StateMismatch), "{err:?}");
    assert_eq!(err.to_string(), "OAuth state mismatch");

    let err = auth.complete_login(&params, None, None).await.unwrap_err();
    assert_eq!(err.to_string(), "OAuth state missing from cookies");
    assert_eq!(err.class(), ErrorClass::BadRequest);

    let no_state = CallbackParams { state: None, ..params.clone() };
    let err = auth.complete_login(&no_state, Some(&start.state_payload), None).await.unwrap_err();
    assert_eq!(err.to_string(), "OAuth state missing from URL");

    let garbage = CallbackParams { state: Some(String::from("%%%")), ..params.clone() };
    let err = auth.complete_login(&garbage, Some(&start.state_payload), None).await.unwrap_err();
    assert!(matches!(err, AuthError::StateMismatch));

    let no_code = CallbackParams { code: None, ..params.clone() };
    let err = auth.complete_login(&no_code, Some(&start.state_payload), None).await.unwrap_err();
    assert_eq!(err.to_string(), "OAuth callback made without a code");
    assert!(!err.clears_state_cookie(), "checked before the cookie is read");

    assert!(env.sim.requests().is_empty(), "no request reached GitLab");
    // The untouched code still works with the right cookie.
    let outcome = auth.complete_login(&params, Some(&start.state_payload), None).await.unwrap();
    assert_eq!(outcome.name, "alice");
}

#[tokio::test]
async fn deny_at_gitlab_is_an_oauth_error() {
    let env = Env::start().await;
    let auth = env.authenticator(allow_alice(&env));
    let start = auth.begin_login(None, None).unwrap();
    let params = browser(&start, "alice", true).await;
    let err = auth.complete_login(&params, Some(&start.state_payload), None).await.unwrap_err();
    assert_eq!(err.to_string(), "OAuth error: The resource owner or authorization server denied the request.");
    assert_eq!(err.class(), ErrorClass::BadRequest);
    assert!(!err.clears_state_cookie());
}

#[tokio::test]
async fn gitlab_5xx_are_typed_upstream_errors() {
    let env = Env::start().await;
    let auth = env.authenticator(allow_alice(&env));

    env.sim.fail_next(Endpoint::Token, 1, 503);
    let err = login(&auth, "alice").await.unwrap_err();
    assert!(matches!(err, AuthError::TokenExchangeFailed(GitLabFailure::Status { status: 503 })), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Upstream);
    assert!(!err.public_message().contains("503"));

    env.sim.fail_next(Endpoint::User, 1, 500);
    let err = login(&auth, "alice").await.unwrap_err();
    assert!(matches!(err, AuthError::UserInfoFailed(GitLabFailure::Status { status: 500 })), "{err:?}");

    env.sim.fail_next(Endpoint::Version, 1, 502);
    let err = login(&auth, "alice").await.unwrap_err();
    assert!(matches!(err, AuthError::VersionCheckFailed(GitLabFailure::Status { status: 502 })), "{err:?}");

    env.sim.fail_next(Endpoint::GroupMembers, 1, 500);
    let err = login(&auth, "alice").await.unwrap_err();
    assert!(matches!(&err, AuthError::GroupCheckFailed { group, .. } if group == "jupyter-users"), "{err:?}");

    assert_eq!(login(&auth, "alice").await.unwrap().name, "alice", "recovers once GitLab does");
}

#[tokio::test]
async fn a_failing_group_does_not_hide_a_later_match() {
    let env = Env::start().await;
    let mut settings = env.settings();
    settings.allowed_gitlab_groups = vec![String::from("jupyter-users"), String::from("jupyter-users/gpu team")];
    let auth = env.authenticator(settings);
    env.sim.fail_next(Endpoint::GroupMembers, 1, 503);
    assert_eq!(login(&auth, "dave").await.unwrap().name, "dave");
}

#[tokio::test]
async fn slow_gitlab_times_out() {
    let env = Env::start().await;
    let mut settings = allow_alice(&env);
    settings.http_timeout = Duration::from_secs(1);
    let auth = env.authenticator(settings);
    env.sim.set_delay(Endpoint::User, Some(Duration::from_millis(1500)));
    let err = login(&auth, "alice").await.unwrap_err();
    let AuthError::UserInfoFailed(GitLabFailure::Unreachable { detail }) = &err else { panic!("{err:?}") };
    assert!(detail.contains("timed out"), "{detail}");
}

#[tokio::test]
async fn unreachable_gitlab_is_an_upstream_error() {
    crate::install_tls();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let clock = std::sync::Arc::new(jhub_core::ports::ManualClock::new(Timestamp::from_second(T0).unwrap()));
    let mut settings = jhub_auth::GitLabSettings::new(&url, CLIENT, SecretString::from("s"));
    settings.oauth_callback_url = Some(CALLBACK.to_string());
    let auth = jhub_auth::GitLabOAuthenticator::new(settings, clock).unwrap();
    let start = auth.begin_login(None, None).unwrap();
    let state = query_param(&start.redirect_url, "state");
    let params = CallbackParams { code: Some(String::from("c")), state, ..CallbackParams::default() };
    let err = auth.complete_login(&params, Some(&start.state_payload), None).await.unwrap_err();
    assert!(matches!(err, AuthError::TokenExchangeFailed(GitLabFailure::Unreachable { .. })), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Upstream);
}

#[tokio::test]
async fn settings_are_validated() {
    let env = Env::start().await;
    let mut bad = env.settings();
    bad.gitlab_url = String::from("gitlab.example.org");
    assert!(jhub_auth::GitLabOAuthenticator::new(bad, env.clock.clone()).is_err());
    let mut bad = env.settings();
    bad.scope = vec![String::from("read_user api")];
    let err = jhub_auth::GitLabOAuthenticator::new(bad, env.clock.clone()).unwrap_err();
    assert!(err.to_string().contains("scope"), "{err}");
    let mut bad = env.settings();
    bad.ca_file = Some(std::path::PathBuf::from("/nonexistent/ca.pem"));
    let err = jhub_auth::GitLabOAuthenticator::new(bad, env.clock.clone()).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "this is not a certificate").unwrap();
    let mut bad = env.settings();
    bad.ca_file = Some(not_pem);
    let err = jhub_auth::GitLabOAuthenticator::new(bad, env.clock.clone()).unwrap_err();
    assert!(matches!(err, jhub_auth::ConfigError::InvalidCaFile { .. }), "{err:?}");
    let mut no_callback = env.settings();
    no_callback.oauth_callback_url = None;
    let auth = env.authenticator(no_callback);
    assert!(matches!(auth.begin_login(None, None), Err(AuthError::NoCallbackUrl)));
    let start = auth.begin_login(None, Some("http://hub.example/hub/oauth_callback")).unwrap();
    assert_eq!(
        query_param(&start.redirect_url, "redirect_uri").as_deref(),
        Some("http://hub.example/hub/oauth_callback")
    );
    assert!(!format!("{:?}", env.settings()).contains(crate::SECRET), "Debug redacts the client secret");
}

/// `gitlab_api_version` picks the REST path: the simulator, like GitLab today,
/// serves only `/api/v4`, so a hub set to version 3 fails the login at the
/// first REST call with GitLab's 404.
#[tokio::test]
async fn gitlab_api_version_picks_the_rest_path() {
    let env = Env::start().await;
    let mut settings = allow_alice(&env);
    assert!(login(&env.authenticator(settings.clone()), "alice").await.is_ok(), "version 4 (the default)");
    settings.gitlab_api_version = String::from("3");
    let err = login(&env.authenticator(settings), "alice").await.unwrap_err();
    assert!(err.to_string().contains("404"), "version 3: {err}");
}
