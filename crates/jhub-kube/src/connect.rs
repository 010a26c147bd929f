//! Building the `kube::Client` the binary hands to [`crate::KubeSpawner`]:
//! in-cluster service account, a kubeconfig file, a plain URL (the
//! simulator), or kube's own inference. The spawner itself never infers a
//! client, so tests and the simulator supply their own.

use crate::error::KubeSpawnerError;
use std::path::PathBuf;

/// Where the Kubernetes API and its credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeConnect {
    /// The pod's service account (`KUBERNETES_SERVICE_HOST`/`_PORT`, token and CA under
    /// `/var/run/secrets/kubernetes.io/serviceaccount`): the z2jh deployment.
    InCluster,
    /// A kubeconfig file (its current context).
    Kubeconfig(PathBuf),
    /// A bare API URL without credentials, e.g. `http://127.0.0.1:PORT` of `jhub-kube-sim`.
    Url(String),
    /// kube's inference: `KUBECONFIG` / `~/.kube/config`, then in-cluster.
    Infer,
}

/// Loads the configuration and builds a client. Must run inside a Tokio
/// runtime (kube's client spawns a buffer task and would panic otherwise).
pub async fn connect(how: &KubeConnect) -> Result<kube::Client, KubeSpawnerError> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(KubeSpawnerError::NoRuntime);
    }
    let config = match how {
        KubeConnect::InCluster => kube::Config::incluster()
            .map_err(|e| KubeSpawnerError::LoadConfig { source_kind: "in-cluster", message: e.to_string() })?,
        KubeConnect::Kubeconfig(path) => {
            let file = kube::config::Kubeconfig::read_from(path).map_err(|e| KubeSpawnerError::LoadConfig {
                source_kind: "kubeconfig",
                message: format!("{}: {e}", path.display()),
            })?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default()).await.map_err(
                |e| KubeSpawnerError::LoadConfig {
                    source_kind: "kubeconfig",
                    message: format!("{}: {e}", path.display()),
                },
            )?
        }
        KubeConnect::Url(url) => {
            let uri = url.parse().map_err(|e: http::uri::InvalidUri| KubeSpawnerError::InvalidUrl {
                url: url.clone(),
                message: e.to_string(),
            })?;
            kube::Config::new(uri)
        }
        KubeConnect::Infer => kube::Config::infer()
            .await
            .map_err(|e| KubeSpawnerError::LoadConfig { source_kind: "inferred", message: e.to_string() })?,
    };
    kube::Client::try_from(config).map_err(|e| KubeSpawnerError::Client(e.to_string()))
}

/// The namespace a hub running in a pod should spawn into when the
/// configuration does not say: `POD_NAMESPACE` (z2jh sets it from the
/// downward API), else the service account's namespace file. Reads a small
/// file: call it at startup, not on the async hot path.
pub fn detect_namespace() -> Option<String> {
    if let Ok(ns) = std::env::var("POD_NAMESPACE")
        && !ns.trim().is_empty()
    {
        return Some(ns.trim().to_string());
    }
    std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
