//! KubeSpawner-equivalent manifest builder: the trait table, profiles and
//! `user_options`, pod and PVC JSON, names and slugs — KubeSpawner 7.1 and
//! zero-to-jupyterhub semantics, re-implemented.
//!
//! Must not touch: the file system, the network, the clock, the hub's HTTP
//! layer or database, or kube/k8s-openapi types (manifests are
//! `serde_json::Value`, exactly the JSON KubeSpawner would send).
//!
//! A spawn, end to end:
//! 1. at startup, [`z2jh::spawner_config_from_values`] (or
//!    [`SpawnerConfig::from_kubespawner_traits`]) gives the base [`SpawnerConfig`];
//! 2. a request's `user_options` come from [`profiles::options_from_form`] or
//!    [`profiles::options_from_json`] and are checked with
//!    [`profiles::ProfileList::validate`] before the spawn is accepted;
//! 3. [`manifest::names_for_spawn`] names the objects (from the base config
//!    and the stored state), [`profiles::resolve`] applies the chosen profile,
//!    [`manifest::spawner_env_settings`] + `jhub_core::env::single_user_env`
//!    give the hub environment, and [`manifest::build_pvc`] /
//!    [`manifest::build_pod`] the bodies; [`manifest::ServerNames::state`] is
//!    what to persist.

#![warn(missing_docs)]

pub mod capacity;
pub mod config;
mod k8s;
pub mod manifest;
pub mod names;
pub mod profiles;
mod pyfmt;
mod slugify;
mod slugify_tables;
pub mod traits;
pub mod z2jh;

pub use config::SpawnerConfig;
pub use pyfmt::FormatError;
