//! Integration tests of jhub-auth: the GitLab authenticator against the real
//! jhub-gitlab-sim over HTTP on 127.0.0.1, wiremock for malformed answers
//! the simulator never gives, and auth_state encryption against vectors made
//! by Python's `cryptography`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic: a panic is a failed test

mod crypt_vectors;
mod gitlab_flow;
mod gitlab_groups;
mod gitlab_malformed;
mod gitlab_refresh;
mod gitlab_rules;

use jhub_auth::{
    AuthError, AuthOutcome, Authenticator, CallbackParams, GitLabOAuthenticator, GitLabSettings, LoginStart,
};
use jhub_core::Timestamp;
use jhub_core::ports::ManualClock;
use jhub_gitlab_sim::{GitLabSim, RunningSim, SimConfig, access};
use secrecy::SecretString;
use std::sync::Arc;

pub const CLIENT: &str = "jhub-client";
pub const SECRET: &str = "jhub-client-secret";
pub const CALLBACK: &str = "http://127.0.0.1:18140/hub/oauth_callback";
pub const T0: i64 = 1_700_000_000;

pub fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// alice: in `jupyter-users`; bob: nowhere (admin in most settings);
/// carol: Reporter on project 42; dave: only in `jupyter-users/gpu team`;
/// erin: Developer on project 42 (whose namespace group `other` has no
/// members); mallory: in `jupyter-users` (and blocked
/// in settings); Frank: mixed-case username, nowhere.
pub fn world() -> SimConfig {
    SimConfig::new()
        .user(101, "alice")
        .user(102, "bob")
        .user(103, "carol")
        .user(104, "dave")
        .user(105, "erin")
        .user(106, "mallory")
        .user(107, "Frank")
        .group(10, "jupyter-users", &[("alice", access::DEVELOPER), ("mallory", access::DEVELOPER)])
        .group(11, "jupyter-users/gpu team", &[("dave", access::GUEST)])
        .group(12, "other", &[])
        .project(42, "other/notebooks", &[("carol", access::REPORTER), ("erin", access::DEVELOPER)])
        .application(CLIENT, SECRET, &[CALLBACK])
}

pub struct Env {
    pub sim: RunningSim,
    pub clock: Arc<ManualClock>,
}

impl Env {
    pub async fn start() -> Env {
        Env::start_with(world()).await
    }

    pub async fn start_with(world: SimConfig) -> Env {
        install_tls();
        let clock = Arc::new(ManualClock::new(Timestamp::from_second(T0).unwrap()));
        let sim = GitLabSim::start(world, clock.clone()).await.unwrap();
        Env { sim, clock }
    }

    /// Settings pointing at the simulator; no allow rules.
    pub fn settings(&self) -> GitLabSettings {
        let mut settings = GitLabSettings::new(&format!("{}/", self.sim.url()), CLIENT, SecretString::from(SECRET));
        settings.oauth_callback_url = Some(CALLBACK.to_string());
        settings
    }

    pub fn authenticator(&self, settings: GitLabSettings) -> GitLabOAuthenticator {
        GitLabOAuthenticator::new(settings, self.clock.clone()).unwrap()
    }
}

pub fn http() -> reqwest::Client {
    install_tls();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Plays the browser at the simulator's authorize page: approves as `user`
/// (or clicks Deny) and returns the callback parameters.
pub async fn browser(start: &LoginStart, user: &str, deny: bool) -> CallbackParams {
    let mut url = url::Url::parse(&start.redirect_url).unwrap();
    if deny {
        url.query_pairs_mut().append_pair("decision", "deny");
    } else {
        url.query_pairs_mut().append_pair("login_as", user);
    }
    let response = http().get(url).send().await.unwrap();
    assert_eq!(response.status(), 302, "authorize did not redirect");
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(CALLBACK), "{location}");
    let parsed = url::Url::parse(&location).unwrap();
    CallbackParams::from_pairs(parsed.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())))
}

/// The whole login: start, approve at GitLab, callback.
pub async fn login(auth: &GitLabOAuthenticator, user: &str) -> Result<AuthOutcome, AuthError> {
    let start = auth.begin_login(Some("/hub/spawn"), None).unwrap();
    let params = browser(&start, user, false).await;
    auth.complete_login(&params, Some(&start.state_payload), None).await
}

pub fn denied(result: &Result<AuthOutcome, AuthError>) -> bool {
    matches!(result, Err(AuthError::Denied { .. }))
}
