//! Errors of setting the spawner up (connecting, configuration it cannot
//! serve). Errors of a spawn are `jhub_core::ports::SpawnError`.

/// Why the Kubernetes spawner could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum KubeSpawnerError {
    /// No kubeconfig or in-cluster configuration could be loaded.
    #[error("loading the Kubernetes configuration ({source_kind}): {message}")]
    LoadConfig { source_kind: &'static str, message: String },
    /// The API server URL given is not a URL.
    #[error("the Kubernetes API URL '{url}' is not valid: {message}")]
    InvalidUrl { url: String, message: String },
    /// Building the HTTP client failed.
    #[error("creating the Kubernetes client: {0}")]
    Client(String),
    /// The spawner must be created inside a Tokio runtime (it starts its watches).
    #[error("the Kubernetes spawner must be created inside a Tokio runtime")]
    NoRuntime,
    /// A KubeSpawner setting jhub does not implement.
    #[error("{setting} is not supported by jhub's Kubernetes spawner: {why}")]
    Unsupported { setting: &'static str, why: &'static str },
    /// The shared views did not finish their first list in time.
    #[error("the {what} view did not load within {seconds} seconds (is the API server reachable and the Role bound?)")]
    ViewNotReady { what: &'static str, seconds: u64 },
}
