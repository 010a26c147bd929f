//! KubeSpawner-equivalent manifest builder: the trait table, profiles and
//! `user_options`, pod and PVC JSON, names and slugs — KubeSpawner 7.1 and
//! zero-to-jupyterhub semantics, re-implemented.
//!
//! Must not touch: the file system, the network, the clock, the hub's HTTP
//! layer or database, or kube/k8s-openapi types (manifests are
//! `serde_json::Value`, exactly the JSON KubeSpawner would send).

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
