//! Answers the simulator never gives (wiremock): malformed token and user
//! responses must become typed errors, never panics or logins.

use crate::{CALLBACK, CLIENT, T0, install_tls, query_param};
use jhub_auth::{
    AuthError, Authenticator, CallbackParams, ErrorClass, GitLabFailure, GitLabOAuthenticator, GitLabSettings,
};
use jhub_core::Timestamp;
use jhub_core::ports::ManualClock;
use secrecy::SecretString;
use std::sync::Arc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn callback_against(server: &MockServer) -> Result<jhub_auth::AuthOutcome, AuthError> {
    install_tls();
    let clock = Arc::new(ManualClock::new(Timestamp::from_second(T0).unwrap()));
    let mut settings = GitLabSettings::new(&server.uri(), CLIENT, SecretString::from("s"));
    settings.oauth_callback_url = Some(CALLBACK.to_string());
    settings.access.allow_all = true;
    let auth = GitLabOAuthenticator::new(settings, clock).unwrap();
    let start = auth.begin_login(None, None).unwrap();
    let params = CallbackParams {
        code: Some(String::from("code")),
        state: query_param(&start.redirect_url, "state"),
        ..CallbackParams::default()
    };
    auth.complete_login(&params, Some(&start.state_payload), None).await
}

fn json(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.as_bytes().to_vec(), "application/json")
}

#[tokio::test]
async fn token_response_without_access_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(json(r#"{"error_description":"nope"}"#))
        .mount(&server)
        .await;
    let err = callback_against(&server).await.unwrap_err();
    assert!(matches!(err, AuthError::TokenExchangeFailed(GitLabFailure::BadResponse { .. })), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Upstream);
}

#[tokio::test]
async fn token_response_that_is_html() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(b"<html>sign in</html>".to_vec(), "text/html"))
        .mount(&server)
        .await;
    let err = callback_against(&server).await.unwrap_err();
    assert!(matches!(err, AuthError::TokenExchangeFailed(GitLabFailure::BadResponse { .. })), "{err:?}");
}

#[tokio::test]
async fn token_error_that_is_not_json() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(400).set_body_string("bad request"))
        .mount(&server)
        .await;
    let err = callback_against(&server).await.unwrap_err();
    assert!(matches!(err, AuthError::TokenExchangeFailed(GitLabFailure::BadResponse { .. })), "{err:?}");
}

#[tokio::test]
async fn user_response_that_is_not_json_or_has_no_username() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(json(r#"{"access_token":"a","token_type":"bearer","expires_in":7200}"#))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/user"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(b"[1,2]".to_vec(), "application/json"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let err = callback_against(&server).await.unwrap_err();
    assert!(matches!(err, AuthError::UserInfoFailed(GitLabFailure::BadResponse { .. })), "{err:?}");

    Mock::given(method("GET"))
        .and(path("/api/v4/user"))
        .respond_with(json(r#"{"id": 1, "username": "bad/name"}"#))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let err = callback_against(&server).await.unwrap_err();
    assert!(matches!(err, AuthError::InvalidUsername { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Forbidden);

    Mock::given(method("GET"))
        .and(path("/api/v4/user"))
        .respond_with(json(r#"{"id": 1, "username": "Zoë"}"#))
        .mount(&server)
        .await;
    let outcome = callback_against(&server).await.unwrap();
    assert_eq!(outcome.name, "zoë");
    let state = outcome.auth_state.unwrap();
    assert_eq!(state["refresh_token"], serde_json::Value::Null, "no refresh token offered");
    assert_eq!(state["scope"], serde_json::json!([]));
}
