//! The store conformance suite: every test body runs against SQLite and
//! PostgreSQL (`JHUB_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`; unreachable PostgreSQL fails
//! the PostgreSQL half unless `JHUB_TEST_SKIP_POSTGRES=1`).

// Test bodies are plain async fns run by the harness, not `#[test]` items, so
// clippy's allow-unwrap-in-tests does not see them as tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod activity;
mod events;
mod groups_roles;
mod migrations;
mod oauth;
mod scale;
mod servers_services;
mod sessions;
mod tokens;
mod users;

use harness::{conformance, conformance_url};
use jhub_core::time::Timestamp;
use jhub_store::{NewToken, Store, StoreError};

conformance! {
    crate::users::create_roundtrip_and_conflicts => user_create_roundtrip_and_conflicts,
    crate::users::bulk_create_is_atomic_and_ordered => user_bulk_create_is_atomic_and_ordered,
    crate::users::column_updates => user_column_updates,
    crate::users::delete_cascades => user_delete_cascades,
    crate::groups_roles::groups_lifecycle => groups_lifecycle,
    crate::groups_roles::roles_lifecycle => roles_lifecycle,
    crate::servers_services::servers_lifecycle => servers_lifecycle,
    crate::servers_services::services_upsert_and_delete => services_upsert_and_delete,
    crate::servers_services::spawn_and_stop_writes_are_atomic => spawn_and_stop_writes_are_atomic,
    crate::tokens::lookup_and_expiry => tokens_lookup_and_expiry,
    crate::tokens::jupyterhub_hash_verifies => token_hashed_by_jupyterhub_verifies,
    crate::tokens::delete_by_session_client_owner => tokens_delete_by_session_client_owner,
    crate::oauth::clients_and_cascade => oauth_client_delete_cascades,
    crate::oauth::codes_are_single_use => oauth_codes_are_single_use,
    crate::sessions::lifecycle => sessions_lifecycle,
    crate::activity::moves_only_forward => activity_moves_only_forward,
    crate::activity::large_batch => activity_large_batch,
    crate::events::append_page_purge => events_append_page_purge,
    crate::migrations::fresh_database => migrations_fresh_database,
}

conformance_url! {
    crate::migrations::reconnect_is_noop_and_data_survives => reconnect_is_noop_and_data_survives,
    crate::scale::snapshot_at_scale => snapshot_at_scale,
    crate::scale::concurrent_writers => concurrent_writers,
}

/// A timestamp `secs` seconds and some microseconds after a fixed instant, so
/// that microsecond precision is exercised.
pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_microsecond(1_795_000_000_000_000 + secs * 1_000_000 + 369_791).unwrap()
}

pub fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::Conflict { .. }) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
}

pub fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// A hub-issued token row with a fresh-looking hash.
pub fn token(owner: jhub_core::model::TokenOwner, secret: &str) -> NewToken {
    NewToken {
        owner,
        hashed: jhub_core::token::hash_token(secret, "7f7040d9437e87fa", 1),
        prefix: jhub_core::token::prefix(secret).to_string(),
        client_id: jhub_core::model::ApiToken::HUB_CLIENT.to_string(),
        session_id: None,
        created: at(0),
        expires_at: None,
        note: None,
        scopes: vec!["inherit".to_string()],
    }
}

pub async fn user(store: &Store, name: &str) -> jhub_core::model::User {
    store.create_user(name, false, &format!("cookie-{name}"), at(0)).await.unwrap()
}
