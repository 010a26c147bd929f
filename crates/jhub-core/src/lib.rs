//! Pure domain model of the hub: users, servers, groups, roles, tokens, spawn
//! lifecycle, cull policy, names and timestamps — everything JupyterHub
//! semantics decide, with no I/O.
//!
//! Owns: the data types every other crate exchanges ([`model`]), the ports
//! (traits) behind which adapters do I/O ([`ports`]), JupyterHub's token hash
//! format ([`token`]), URL-safe names ([`names`]), timestamp format ([`time`]),
//! the single-user environment contract ([`env`]), the spawn state machine
//! ([`spawn`]), the cull decision ([`cull`]), RBAC ([`rbac`]) and next-URL
//! validation ([`redirect`]).
//!
//! Must not touch: tokio, sqlx, kube, reqwest, axum, the file system, the
//! network or the wall clock (time is passed in, see [`ports::Clock`]).

pub mod capacity;
pub mod cull;
pub mod env;
pub mod model;
pub mod names;
pub mod ports;
pub mod rbac;
pub mod redirect;
pub mod spawn;
pub mod spawn_queue;
pub mod storage;
pub mod time;
pub mod token;
pub mod usage;

pub use time::Timestamp;
