//! refresh_user: token renewal before expiry and before spawns, rotation,
//! revoked refresh tokens, and the membership re-check that upstream lacks.

use crate::{Env, denied, login};
use jhub_auth::{AuthError, Authenticator, GitLabFailure, GitLabSettings, RefreshOutcome, RefreshReason};
use jhub_gitlab_sim::Endpoint;
use serde_json::Value;
use std::time::Duration;

fn group_settings(env: &Env) -> GitLabSettings {
    let mut settings = env.settings();
    settings.allowed_gitlab_groups = vec![String::from("jupyter-users")];
    settings.enable_auth_state = true;
    settings
}

fn token_of(state: &Value, key: &str) -> String {
    state[key].as_str().unwrap().to_string()
}

fn refresh_grants(env: &Env) -> usize {
    env.sim.requests_to(Endpoint::Token).iter().filter(|r| r.form_value("grant_type") == Some("refresh_token")).count()
}

#[tokio::test]
async fn nothing_happens_while_the_token_is_fresh_and_the_check_recent() {
    let env = Env::start().await;
    let auth = env.authenticator(group_settings(&env));
    assert!(auth.enable_auth_state() && auth.refresh_pre_spawn());
    let state = login(&auth, "alice").await.unwrap().auth_state.unwrap();
    env.sim.clear_requests();
    let outcome = auth.refresh_user("alice", Some(&state), RefreshReason::Request).await.unwrap();
    assert_eq!(outcome, RefreshOutcome::Unchanged);
    assert!(env.sim.requests().is_empty(), "no GitLab call needed");
}

#[tokio::test]
async fn token_is_renewed_before_expiry_and_refresh_tokens_rotate() {
    let env = Env::start().await;
    let auth = env.authenticator(group_settings(&env));
    let first = login(&auth, "alice").await.unwrap().auth_state.unwrap();

    // 2 h tokens, 10 min margin: at +1h55 the token is renewed.
    env.clock.advance(Duration::from_secs(7200 - 300));
    let RefreshOutcome::Updated { auth_state: second } =
        auth.refresh_user("alice", Some(&first), RefreshReason::Request).await.unwrap()
    else {
        panic!("expected a renewal")
    };
    assert_ne!(token_of(&second, "access_token"), token_of(&first, "access_token"));
    assert_ne!(token_of(&second, "refresh_token"), token_of(&first, "refresh_token"));
    assert_eq!(second["token_response"]["access_token"], second["access_token"]);
    assert_eq!(second["gitlab_user"]["username"], "alice");
    assert_eq!(refresh_grants(&env), 1);
    let grant = env.sim.requests_to(Endpoint::Token).pop().unwrap();
    let mut fields: Vec<&str> = grant.form.iter().map(|(k, _)| k.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["client_id", "client_secret", "grant_type", "refresh_token"]);

    // The renewed token works at GitLab once the old one has expired.
    env.clock.advance(Duration::from_secs(300));
    let outcome = auth.refresh_user("alice", Some(&second), RefreshReason::Forced).await.unwrap();
    assert_eq!(outcome, RefreshOutcome::Unchanged);

    // A stale caller presenting the spent refresh token gets the successor,
    // not a forced re-login from GitLab's invalid_grant.
    let again = auth.refresh_user("alice", Some(&first), RefreshReason::Request).await.unwrap();
    assert_eq!(again, RefreshOutcome::Updated { auth_state: second.clone() });
    assert_eq!(refresh_grants(&env), 1);
}

#[tokio::test]
async fn pre_spawn_always_renews_and_rechecks() {
    let env = Env::start().await;
    let auth = env.authenticator(group_settings(&env));
    let first = login(&auth, "alice").await.unwrap().auth_state.unwrap();
    env.sim.clear_requests();
    let outcome = auth.refresh_user("alice", Some(&first), RefreshReason::PreSpawn).await.unwrap();
    assert!(matches!(outcome, RefreshOutcome::Updated { .. }), "{outcome:?}");
    assert_eq!(refresh_grants(&env), 1);
    assert_eq!(env.sim.requests_to(Endpoint::GroupMembers).len(), 1);
}

#[tokio::test]
async fn revoked_refresh_token_means_login_again() {
    let env = Env::start().await;
    let auth = env.authenticator(group_settings(&env));
    let state = login(&auth, "alice").await.unwrap().auth_state.unwrap();
    env.sim.revoke_tokens("alice");
    env.clock.advance(Duration::from_secs(7000));
    let outcome = auth.refresh_user("alice", Some(&state), RefreshReason::Request).await.unwrap();
    let RefreshOutcome::MustReLogin { reason } = outcome else { panic!("{outcome:?}") };
    assert!(reason.contains("invalid_grant"), "{reason}");
}

#[tokio::test]
async fn revoked_access_token_is_detected_on_recheck_and_renewed() {
    let env = Env::start().await;
    let auth = env.authenticator(group_settings(&env));
    let state = login(&auth, "alice").await.unwrap().auth_state.unwrap();
    // The access token dies early (401) but the refresh token is good: the
    // recheck renews once and carries on.
    let mut broken = state.clone();
    broken["access_token"] = Value::String(String::from("not-a-token"));
    broken["token_response"]["access_token"] = Value::String(String::from("not-a-token"));
    let outcome = auth.refresh_user("alice", Some(&broken), RefreshReason::Forced).await.unwrap();
    let RefreshOutcome::Updated { auth_state } = outcome else { panic!("{outcome:?}") };
    assert_ne!(token_of(&auth_state, "access_token"), "not-a-token");
    assert_eq!(refresh_grants(&env), 1);
}

#[tokio::test]
async fn user_removed_from_the_group_is_revoked_after_the_interval() {
    let env = Env::start().await;
    let auth = env.authenticator(group_settings(&env));
    let state = login(&auth, "alice").await.unwrap().auth_state.unwrap();
    assert!(env.sim.remove_group_member("jupyter-users", "alice"));

    // Within recheck_interval (5 min) nothing is asked.
    env.clock.advance(Duration::from_secs(120));
    assert_eq!(
        auth.refresh_user("alice", Some(&state), RefreshReason::Request).await.unwrap(),
        RefreshOutcome::Unchanged
    );

    env.clock.advance(Duration::from_secs(200));
    let outcome = auth.refresh_user("alice", Some(&state), RefreshReason::Request).await.unwrap();
    let RefreshOutcome::Revoked { reason } = outcome else { panic!("{outcome:?}") };
    assert!(reason.contains("no longer a member"), "{reason}");
    assert!(denied(&login(&auth, "alice").await), "and a new login is refused");
}

#[tokio::test]
async fn removal_revokes_at_once_before_a_spawn() {
    let env = Env::start().await;
    let auth = env.authenticator(group_settings(&env));
    let state = login(&auth, "alice").await.unwrap().auth_state.unwrap();
    env.sim.remove_group_member("jupyter-users", "alice");
    let outcome = auth.refresh_user("alice", Some(&state), RefreshReason::PreSpawn).await.unwrap();
    assert!(matches!(outcome, RefreshOutcome::Revoked { .. }), "{outcome:?}");
}

#[tokio::test]
async fn gitlab_outage_during_refresh_is_an_error_not_a_revocation() {
    let env = Env::start().await;
    let auth = env.authenticator(group_settings(&env));
    let state = login(&auth, "alice").await.unwrap().auth_state.unwrap();

    env.sim.fail_next(Endpoint::User, 1, 503);
    let err = auth.refresh_user("alice", Some(&state), RefreshReason::Forced).await.unwrap_err();
    assert!(matches!(err, AuthError::UserInfoFailed(GitLabFailure::Status { status: 503 })), "{err:?}");

    env.sim.fail_next(Endpoint::GroupMembers, 1, 500);
    let err = auth.refresh_user("alice", Some(&state), RefreshReason::Forced).await.unwrap_err();
    assert!(matches!(err, AuthError::GroupCheckFailed { .. }), "{err:?}");

    env.clock.advance(Duration::from_secs(7000));
    env.sim.fail_next(Endpoint::Token, 1, 502);
    let err = auth.refresh_user("alice", Some(&state), RefreshReason::Request).await.unwrap_err();
    assert!(matches!(err, AuthError::TokenRefreshFailed(GitLabFailure::Status { status: 502 })), "{err:?}");

    let outcome = auth.refresh_user("alice", Some(&state), RefreshReason::Request).await.unwrap();
    assert!(matches!(outcome, RefreshOutcome::Updated { .. }), "works again: {outcome:?}");
}

#[tokio::test]
async fn static_rules_and_missing_state() {
    let env = Env::start().await;
    let mut settings = group_settings(&env);
    settings.access.admin_users.insert(String::from("bob"));
    settings.access.blocked_users.insert(String::from("mallory"));
    let auth = env.authenticator(settings);
    assert_eq!(auth.refresh_user("bob", None, RefreshReason::Request).await.unwrap(), RefreshOutcome::Unchanged);
    // No token to check membership with (auth state off and the hub
    // restarted, or never logged in): requests and spawns go on, a forced
    // refresh asks for a new login.
    let outcome = auth.refresh_user("alice", None, RefreshReason::Request).await.unwrap();
    assert_eq!(outcome, RefreshOutcome::Unchanged, "kept on requests");
    let outcome = auth.refresh_user("alice", None, RefreshReason::PreSpawn).await.unwrap();
    assert_eq!(outcome, RefreshOutcome::Unchanged, "an admin may start a server for a user who never logged in");
    let outcome = auth.refresh_user("alice", None, RefreshReason::Forced).await.unwrap();
    assert!(matches!(outcome, RefreshOutcome::MustReLogin { .. }), "membership cannot be checked: {outcome:?}");
    let outcome = auth.refresh_user("Mallory", None, RefreshReason::Request).await.unwrap();
    assert!(matches!(outcome, RefreshOutcome::Revoked { .. }), "{outcome:?}");
    let outcome = auth.refresh_user("alice", Some(&serde_json::json!({})), RefreshReason::Request).await.unwrap();
    assert!(matches!(outcome, RefreshOutcome::MustReLogin { .. }), "{outcome:?}");
}

#[tokio::test]
async fn blocked_at_gitlab_means_login_again() {
    let env = Env::start().await;
    let mut settings = group_settings(&env);
    settings.access.admin_users.insert(String::from("bob"));
    let auth = env.authenticator(settings);
    let state = login(&auth, "bob").await.unwrap().auth_state.unwrap();
    env.sim.block_user("bob");
    let outcome = auth.refresh_user("bob", Some(&state), RefreshReason::Forced).await.unwrap();
    assert!(matches!(outcome, RefreshOutcome::MustReLogin { .. }), "{outcome:?}");
}
