//! Black-box tests of the GitLab simulator over real HTTP on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic: a panic is a failed test

mod binary;
mod flow;

use jhub_core::Timestamp;
use jhub_core::ports::ManualClock;
use jhub_gitlab_sim::{GitLabSim, RunningSim, SimConfig, access};
use std::sync::Arc;

pub const CLIENT: &str = "hub-client";
pub const SECRET: &str = "hub-secret";
pub const CALLBACK: &str = "http://127.0.0.1:18140/hub/oauth_callback";

pub fn world() -> SimConfig {
    SimConfig::new()
        .user(101, "alice")
        .user(102, "Bob")
        .user(103, "carol")
        .group(10, "my-group", &[("alice", access::OWNER)])
        .group(11, "my-group/sub group", &[("Bob", access::GUEST)])
        .project(42, "my-group/proj", &[("carol", access::REPORTER)])
        .application(CLIENT, SECRET, &[CALLBACK])
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

pub async fn start() -> (RunningSim, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp::from_second(1_700_000_000).unwrap()));
    let sim = GitLabSim::start(world(), clock.clone()).await.unwrap();
    (sim, clock)
}
