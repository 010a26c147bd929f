//! Hub groups from GitLab (`manage_groups` with OAuthenticator 17's
//! `allowed_groups`, `admin_groups`, `auth_state_groups_key`), and the name
//! rules `username_map` / `username_pattern`, through real logins and
//! refreshes against the simulator.

use crate::{Env, denied, login};
use jhub_auth::{AuthError, Authenticator, ErrorClass, GitLabSettings, ManagedGroups, RefreshOutcome, RefreshReason};
use jhub_gitlab_sim::{Endpoint, access};
use std::time::Duration;

fn managed(env: &Env, allowed: &[&str], admin: &[&str]) -> GitLabSettings {
    let mut settings = env.settings();
    settings.groups.manage_groups = true;
    settings.groups.allowed_groups = allowed.iter().map(|g| g.to_string()).collect();
    settings.groups.admin_groups = admin.iter().map(|g| g.to_string()).collect();
    settings
}

fn groups_of(auth: &dyn Authenticator, name: &str, state: &serde_json::Value) -> Vec<String> {
    auth.managed_groups(name, state).expect("groups are managed").groups
}

#[tokio::test]
async fn allowed_groups_alone_lets_members_in_including_subgroups_by_full_path() {
    let env = Env::start().await;
    let auth = env.authenticator(managed(&env, &["jupyter-users/gpu team"], &[]));
    // dave is a direct member of the subgroup; alice is a member of the
    // parent, so she inherits the subgroup (GitLab lists both for her).
    let dave = login(&auth, "dave").await.unwrap();
    let state = dave.auth_state.unwrap();
    assert_eq!(state["gitlab_groups"], serde_json::json!(["jupyter-users/gpu team"]));
    assert_eq!(groups_of(&auth, "dave", &state), ["jupyter-users/gpu team"]);
    assert_eq!(dave.admin, None, "no admin_groups: the hub keeps its flag");
    let alice = login(&auth, "alice").await.unwrap().auth_state.unwrap();
    assert_eq!(groups_of(&auth, "alice", &alice), ["jupyter-users", "jupyter-users/gpu team"]);
    // carol is in no group: refused with the 403 message.
    let refused = login(&auth, "carol").await;
    assert!(denied(&refused), "{refused:?}");
    assert!(!env.sim.requests_to(Endpoint::Groups).is_empty());
    assert!(auth.startup_warnings().is_empty(), "allowed_groups is an allow rule: {:?}", auth.startup_warnings());
}

#[tokio::test]
async fn admin_groups_make_admins_and_let_them_in() {
    let env = Env::start().await;
    let auth = env.authenticator(managed(&env, &[], &["jupyter-users"]));
    let alice = login(&auth, "alice").await.unwrap();
    assert_eq!(alice.admin, Some(true));
    let state = alice.auth_state.unwrap();
    assert_eq!(auth.managed_groups("alice", &state).unwrap().admin, Some(true));
    // dave is only in the subgroup, not in the admin group itself: not allowed.
    assert!(denied(&login(&auth, "dave").await));
}

#[tokio::test]
async fn leaving_the_group_revokes_access_and_admin_at_the_next_check() {
    let env = Env::start().await;
    let mut settings = managed(&env, &["jupyter-users"], &["jupyter-users/gpu team"]);
    settings.enable_auth_state = true;
    let auth = env.authenticator(settings);
    assert!(auth.refresh_pre_spawn(), "allowed_groups decides access: refresh before spawns");
    let mut off = managed(&env, &["jupyter-users"], &[]);
    off.refresh_pre_spawn = Some(false);
    assert!(!env.authenticator(off).refresh_pre_spawn(), "refresh_pre_spawn: false is honoured");
    env.sim.add_group_member("other", "alice", access::DEVELOPER);
    let state = login(&auth, "alice").await.unwrap().auth_state.unwrap();
    assert_eq!(
        auth.managed_groups("alice", &state),
        Some(ManagedGroups {
            groups: vec!["jupyter-users".into(), "jupyter-users/gpu team".into(), "other".into()],
            admin: Some(true),
        })
    );

    // Removed from `other`: the pre-spawn refresh brings the new group list.
    assert!(env.sim.remove_group_member("other", "alice"));
    let RefreshOutcome::Updated { auth_state: state } =
        auth.refresh_user("alice", Some(&state), RefreshReason::PreSpawn).await.unwrap()
    else {
        panic!("the group list changed")
    };
    assert_eq!(groups_of(&auth, "alice", &state), ["jupyter-users", "jupyter-users/gpu team"]);

    // Removed from the allowed group (and so from the admin subgroup she
    // inherited): the next re-check revokes her.
    assert!(env.sim.remove_group_member("jupyter-users", "alice"));
    env.clock.advance(Duration::from_secs(301));
    let outcome = auth.refresh_user("alice", Some(&state), RefreshReason::Request).await.unwrap();
    assert!(matches!(outcome, RefreshOutcome::Revoked { .. }), "{outcome:?}");
    assert!(denied(&login(&auth, "alice").await));
}

#[tokio::test]
async fn groups_are_read_from_every_page() {
    let mut world = crate::world();
    for i in 0..130u64 {
        world = world.group(1000 + i, &format!("team-{i:03}"), &[("carol", access::GUEST)]);
    }
    let env = Env::start_with(world).await;
    let auth = env.authenticator(managed(&env, &["team-129"], &[]));
    let state = login(&auth, "carol").await.unwrap().auth_state.unwrap();
    assert_eq!(groups_of(&auth, "carol", &state).len(), 130);
    assert_eq!(env.sim.requests_to(Endpoint::Groups).len(), 2, "100 per page");
}

#[tokio::test]
async fn auth_state_groups_key_is_a_dotted_path() {
    let env = Env::start().await;
    let mut settings = managed(&env, &["jupyter-users"], &[]);
    settings.auth_state_groups_key = Some(String::from("gitlab_user.groups"));
    let auth = env.authenticator(settings);
    // `/user` has no groups field (as on GitLab), so the key finds none.
    assert!(denied(&login(&auth, "alice").await));
    let state = serde_json::json!({"gitlab_user": {"groups": ["x", "y"]}});
    assert_eq!(groups_of(&auth, "alice", &state), ["x", "y"]);
}

#[tokio::test]
async fn group_settings_without_manage_groups_are_refused() {
    let env = Env::start().await;
    let mut settings = managed(&env, &["jupyter-users"], &[]);
    settings.groups.manage_groups = false;
    let err = jhub_auth::GitLabOAuthenticator::new(settings, env.clock.clone()).unwrap_err();
    assert!(err.to_string().contains("manage_groups"), "{err}");
    let plain = env.authenticator(env.settings());
    assert_eq!(plain.managed_groups("alice", &serde_json::json!({"gitlab_groups": ["a"]})), None);
}

#[tokio::test]
async fn username_map_renames_and_username_pattern_refuses() {
    let env = Env::start().await;
    let mut settings = env.settings();
    settings.access.allow_all = true;
    settings.username_map.insert(String::from("frank"), String::from("franz"));
    settings.username_pattern = Some(String::from("[a-e]"));
    let auth = env.authenticator(settings.clone());
    let result = login(&auth, "alice").await.unwrap();
    assert_eq!(result.name, "alice");
    // Frank → frank (lower-cased) → franz (mapped) → refused by the pattern.
    let refused = login(&auth, "Frank").await;
    let Err(err @ AuthError::UsernameRefused { .. }) = &refused else { panic!("{refused:?}") };
    assert_eq!(err.class(), ErrorClass::Forbidden);
    assert!(err.public_message().contains("\"franz\""), "{}", err.public_message());
    assert!(auth.validate_username("bob") && !auth.validate_username("franz"));
    settings.username_pattern = None;
    let mapped = login(&env.authenticator(settings.clone()), "Frank").await.unwrap();
    assert_eq!(mapped.name, "franz");
    settings.username_pattern = Some(String::from("(unclosed"));
    assert!(jhub_auth::GitLabOAuthenticator::new(settings, env.clock.clone()).is_err());
}
