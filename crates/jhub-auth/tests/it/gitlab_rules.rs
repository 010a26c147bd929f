//! Every allow/deny rule of auth-culler-proxy §1.7–§1.9, through a real login.

use crate::{Env, denied, login};
use jhub_auth::{AuthError, DenyReason, ErrorClass, UserDirectory};
use jhub_gitlab_sim::Endpoint;
use std::sync::Arc;

#[tokio::test]
async fn nobody_configured_means_denied_with_the_default_403_message() {
    let env = Env::start().await;
    let auth = env.authenticator(env.settings());
    let result = login(&auth, "alice").await;
    let Err(err @ AuthError::Denied { reason: DenyReason::NotAllowed, .. }) = &result else { panic!("{result:?}") };
    assert_eq!(err.class(), ErrorClass::Forbidden);
    assert_eq!(
        err.public_message(),
        "Sorry, you are not currently authorized to use this hub. Please contact the hub administrator."
    );
    assert!(env.sim.requests_to(Endpoint::GroupMembers).is_empty(), "no membership rules, no membership calls");
}

#[tokio::test]
async fn custom_403_message_is_used() {
    let env = Env::start().await;
    let mut settings = env.settings();
    settings.custom_403_message = String::from("Ask the lab admin for access.");
    let result = login(&env.authenticator(settings), "carol").await;
    assert_eq!(result.unwrap_err().public_message(), "Ask the lab admin for access.");
}

#[tokio::test]
async fn blocked_beats_admin_and_group_membership() {
    let env = Env::start().await;
    let mut settings = env.settings();
    settings.access.admin_users.insert(String::from("mallory"));
    settings.access.blocked_users.insert(String::from("Mallory"));
    settings.allowed_gitlab_groups = vec![String::from("jupyter-users")];
    let result = login(&env.authenticator(settings), "mallory").await;
    assert!(matches!(result, Err(AuthError::Denied { reason: DenyReason::Blocked, .. })), "{result:?}");
}

#[tokio::test]
async fn admins_are_always_allowed_and_marked_admin() {
    let env = Env::start().await;
    let mut settings = env.settings();
    settings.access.admin_users.insert(String::from("bob"));
    settings.allowed_gitlab_groups = vec![String::from("jupyter-users")];
    let outcome = login(&env.authenticator(settings), "bob").await.unwrap();
    assert_eq!(outcome.name, "bob");
    assert_eq!(outcome.admin, Some(true));
    assert!(env.sim.requests_to(Endpoint::GroupMembers).is_empty(), "admins skip membership calls");
}

#[tokio::test]
async fn allowed_users_and_allow_all() {
    let env = Env::start().await;
    let mut settings = env.settings();
    settings.access.allowed_users.insert(String::from("carol"));
    let auth = env.authenticator(settings.clone());
    let outcome = login(&auth, "carol").await.unwrap();
    assert_eq!((outcome.name.as_str(), outcome.admin), ("carol", None));
    assert!(denied(&login(&auth, "erin").await));

    settings.access.allowed_users.clear();
    settings.access.allow_all = true;
    assert!(login(&env.authenticator(settings), "erin").await.is_ok());
}

struct Existing(&'static [&'static str]);

impl UserDirectory for Existing {
    fn user_exists(&self, name: &str) -> bool {
        self.0.contains(&name)
    }
}

#[tokio::test]
async fn allow_existing_users_asks_the_hub() {
    let env = Env::start().await;
    let mut settings = env.settings();
    settings.access.allow_existing_users = true;
    let auth = env.authenticator(settings);
    assert!(denied(&login(&auth, "carol").await), "no directory attached: nobody exists");
    jhub_auth::Authenticator::set_user_directory(&auth, Arc::new(Existing(&["carol"])));
    assert!(login(&auth, "carol").await.is_ok());
    assert!(denied(&login(&auth, "erin").await));
}

#[tokio::test]
async fn group_member_passes_and_non_member_is_denied() {
    let env = Env::start().await;
    let mut settings = env.settings();
    settings.allowed_gitlab_groups = vec![String::from("jupyter-users")];
    let auth = env.authenticator(settings);
    assert_eq!(login(&auth, "alice").await.unwrap().name, "alice");
    assert!(denied(&login(&auth, "carol").await));
    // `/version` once per process, then one membership call per login.
    assert_eq!(env.sim.requests_to(Endpoint::Version).len(), 1);
    let calls: Vec<String> = env.sim.requests_to(Endpoint::GroupMembers).into_iter().map(|r| r.path).collect();
    assert_eq!(calls, ["/api/v4/groups/jupyter-users/members/all/101", "/api/v4/groups/jupyter-users/members/all/103"]);
}

#[tokio::test]
async fn subgroup_with_a_space_passes_with_single_encoding() {
    let env = Env::start().await;
    let mut settings = env.settings();
    settings.allowed_gitlab_groups = vec![String::from("jupyter-users"), String::from("jupyter-users/gpu team")];
    let auth = env.authenticator(settings);
    let outcome = login(&auth, "dave").await.unwrap();
    assert_eq!(outcome.name, "dave");
    let calls: Vec<String> = env.sim.requests_to(Endpoint::GroupMembers).into_iter().map(|r| r.path).collect();
    assert_eq!(
        calls,
        ["/api/v4/groups/jupyter-users/members/all/104", "/api/v4/groups/jupyter-users%2Fgpu%20team/members/all/104"],
        "groups in order, the subgroup path encoded once"
    );
    // alice matches the first group: no further calls for her.
    env.sim.clear_requests();
    login(&auth, "alice").await.unwrap();
    assert_eq!(env.sim.requests_to(Endpoint::GroupMembers).len(), 1);
}

#[tokio::test]
async fn subgroup_membership_is_inherited_from_the_parent() {
    let env = Env::start().await;
    let mut settings = env.settings();
    settings.allowed_gitlab_groups = vec![String::from("jupyter-users/gpu team")];
    let auth = env.authenticator(settings);
    assert!(login(&auth, "alice").await.is_ok(), "members/all includes parent-group members");
    assert!(denied(&login(&auth, "carol").await));
}

#[tokio::test]
async fn project_developer_passes_and_reporter_fails() {
    let env = Env::start().await;
    let mut settings = env.settings();
    settings.allowed_project_ids = vec![42];
    let auth = env.authenticator(settings);
    assert!(login(&auth, "erin").await.is_ok(), "access_level 30");
    assert!(denied(&login(&auth, "carol").await), "access_level 20");
    assert!(denied(&login(&auth, "bob").await), "404");
    let paths: Vec<String> = env.sim.requests_to(Endpoint::ProjectMembers).into_iter().map(|r| r.path).collect();
    assert_eq!(paths[0], "/api/v4/projects/42/members/all/105");
}

#[tokio::test]
async fn groups_are_checked_before_projects() {
    let env = Env::start().await;
    let mut settings = env.settings();
    settings.allowed_gitlab_groups = vec![String::from("jupyter-users")];
    settings.allowed_project_ids = vec![42];
    let auth = env.authenticator(settings);
    assert!(login(&auth, "erin").await.is_ok());
    let endpoints: Vec<Endpoint> = env
        .sim
        .requests()
        .into_iter()
        .filter_map(|r| r.endpoint)
        .filter(|e| matches!(e, Endpoint::GroupMembers | Endpoint::ProjectMembers))
        .collect();
    assert_eq!(endpoints, [Endpoint::GroupMembers, Endpoint::ProjectMembers]);
}

#[tokio::test]
async fn old_gitlab_uses_direct_membership() {
    let env = Env::start().await;
    env.sim.set_version("12.3.0-ee");
    let mut settings = env.settings();
    settings.allowed_gitlab_groups = vec![String::from("jupyter-users/gpu team")];
    let auth = env.authenticator(settings);
    // Before 12.4 there is no members/all: inherited membership does not count.
    assert!(denied(&login(&auth, "alice").await));
    assert_eq!(
        env.sim.requests_to(Endpoint::GroupMembers)[0].path,
        "/api/v4/groups/jupyter-users%2Fgpu%20team/members/101"
    );
}

#[tokio::test]
async fn usernames_are_lower_cased_and_lists_normalised() {
    let env = Env::start().await;
    let mut settings = env.settings();
    settings.access.admin_users.insert(String::from("FRANK"));
    let outcome = login(&env.authenticator(settings), "Frank").await.unwrap();
    assert_eq!((outcome.name.as_str(), outcome.admin), ("frank", Some(true)));
}

#[tokio::test]
async fn username_claim_selects_another_field() {
    let env = Env::start().await;
    let mut settings = env.settings();
    settings.username_claim = String::from("email");
    settings.access.allow_all = true;
    let outcome = login(&env.authenticator(settings.clone()), "alice").await.unwrap();
    assert_eq!(outcome.name, "alice@example.org");
    settings.username_claim = String::from("no_such_field");
    let err = login(&env.authenticator(settings), "alice").await.unwrap_err();
    assert!(matches!(err, AuthError::UsernameClaimMissing { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Internal);
}

#[tokio::test]
async fn membership_checks_without_read_api_fail_loudly() {
    let env = Env::start().await;
    let mut settings = env.settings();
    settings.scope = vec![String::from("read_user")];
    settings.allowed_gitlab_groups = vec![String::from("jupyter-users")];
    let auth = env.authenticator(settings);
    assert!(jhub_auth::Authenticator::startup_warnings(&auth).iter().any(|w| w.contains("read_api")));
    let err = login(&auth, "alice").await.unwrap_err();
    assert!(
        matches!(&err, AuthError::GroupCheckFailed { failure: jhub_auth::GitLabFailure::InsufficientScope, .. }),
        "{err:?}"
    );
    assert!(err.public_message().contains("read_api"));
}
