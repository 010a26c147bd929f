//! The hub application: the whole user/server/group/role model in memory
//! with write-through persistence, and the work JupyterHub's hub does —
//! spawning and stopping servers, issuing tokens and OAuth codes, keeping
//! the proxy's routes right, batching activity, culling idle servers.
//!
//! Owns: [`Hub`] and its state ([`state`]), spawn/stop orchestration
//! ([`lifecycle`]), identities and scope caches ([`identity`]), tokens,
//! sessions and the OAuth provider's data ([`tokens`]), proxy
//! reconciliation ([`routes`]), the internal culler ([`culler`]), metrics.
//!
//! Must not touch: HTTP status codes, cookies or templates (that is
//! `jhub-web`); Kubernetes or CHP directly (only through the ports in
//! `jhub_core::ports`); SQL (only through `jhub-store`).

pub mod access;
pub mod activity;
pub mod api_support;
pub mod culler;
pub mod error;
pub mod fakes;
pub mod hub;
pub mod identity;
mod instrument;
pub mod lifecycle;
mod locks;
pub mod metrics;
pub mod progress;
mod queue;
pub mod routes;
pub mod settings;
pub mod state;
pub mod storage;
pub mod tokens;
mod usage;
pub mod users;

pub use access::AccessRevoked;
pub use api_support::{RuntimeService, ServerEdit};
pub use error::{HubError, HubResult};
pub use hub::Hub;
pub use identity::{Identity, Principal, TokenInfo};
pub use lifecycle::{SpawnCommand, SpawnTicket, StopReason, StopTicket};
pub use progress::{ProgressSnapshot, SpawnOutcome};
pub use settings::{GroupSpec, HubSettings, RoleSpec, ServiceSpec};
pub use storage::StorageSettings;
