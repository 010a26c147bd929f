//! The configurable-http-proxy (CHP) adapter: [`ChpProxy`] implements
//! `jhub_core::ports::Proxy` over CHP's REST API (auth-culler-proxy §3,
//! jupyterhub-compat §8.1).
//!
//! Wire format, as JupyterHub speaks it: `POST /api/routes<path>` with the
//! route data plus `"target"` and `"jupyterhub": true`; `DELETE
//! /api/routes<path>` (404 is fine); `GET /api/routes` lists everything and
//! only entries carrying the `jupyterhub` marker are the hub's (others are
//! never touched). `<path>` is the route spec without its trailing slash;
//! CHP decodes it, so keys read back are re-quoted (`@/~` safe) and get the
//! slash back. Auth: `Authorization: token <CONFIGPROXY_AUTH_TOKEN>`.
//! At most 10 requests in flight; connection errors and 5xx are retried with
//! backoff for a bounded time (30 s for writes, none for the restart probe).
//!
//! Must not: decide which routes should exist (the hub does).

use async_trait::async_trait;
use jhub_core::names::quote_route;
use jhub_core::ports::{Proxy, ProxyError, Route};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Client of one CHP's REST API.
pub struct ChpProxy {
    /// API base and token; replaced as a pair by `PATCH /hub/api/proxy`.
    target: std::sync::RwLock<(String, SecretString)>,
    http: reqwest::Client,
    limit: Semaphore,
    retry_for: Duration,
}

impl std::fmt::Debug for ChpProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChpProxy").field("api_url", &self.api_url()).finish_non_exhaustive()
    }
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ChpConfigError {
    #[error("invalid proxy API URL {url:?}: expected http(s)://host:port")]
    InvalidUrl { url: String },
    #[error("could not build the HTTP client for the proxy: {0}")]
    HttpClient(String),
}

impl ChpProxy {
    /// `api_url` is CHP's API base, e.g. `http://proxy-api:8001`.
    pub fn new(api_url: &str, token: SecretString) -> Result<Self, ChpConfigError> {
        let api_url = checked_url(api_url)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ChpConfigError::HttpClient(e.to_string()))?;
        Ok(Self {
            target: std::sync::RwLock::new((api_url, token)),
            http,
            limit: Semaphore::new(10),
            retry_for: Duration::from_secs(30),
        })
    }

    /// How long failed writes and listings are retried (default 30 s).
    pub fn with_retry_for(mut self, retry_for: Duration) -> Self {
        self.retry_for = retry_for;
        self
    }

    pub fn api_url(&self) -> String {
        self.target.read().map(|t| t.0.clone()).unwrap_or_default()
    }

    fn token(&self) -> String {
        self.target.read().map(|t| t.1.expose_secret().to_string()).unwrap_or_default()
    }

    fn path_of(routespec: &str) -> String {
        let trimmed = routespec.trim_end_matches('/');
        if trimmed.is_empty() { String::new() } else { trimmed.to_string() }
    }

    fn url(&self, routespec: &str) -> String {
        format!("{}/api/routes{}", self.api_url(), Self::path_of(routespec))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
        retry_for: Duration,
    ) -> Result<(StatusCode, String), ProxyError> {
        let _permit = self
            .limit
            .acquire()
            .await
            .map_err(|e| ProxyError::Unreachable { url: self.api_url(), message: e.to_string() })?;
        let deadline = Instant::now() + retry_for;
        let mut delay = Duration::from_millis(100);
        loop {
            let mut request =
                self.http.request(method.clone(), url).header("Authorization", format!("token {}", self.token()));
            if let Some(body) = body {
                request = request.json(body);
            }
            let failure = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    if !status.is_server_error() {
                        return Ok((status, text));
                    }
                    ProxyError::Refused {
                        method: method.to_string(),
                        path: url.to_string(),
                        status: status.as_u16(),
                        body: text,
                    }
                }
                Err(err) => ProxyError::Unreachable { url: self.api_url(), message: err.to_string() },
            };
            if Instant::now() + delay > deadline {
                return Err(failure);
            }
            tracing::debug!(url, "proxy request failed, retrying in {delay:?}");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    fn refused(method: &str, url: &str, status: StatusCode, body: String) -> ProxyError {
        ProxyError::Refused { method: method.to_string(), path: url.to_string(), status: status.as_u16(), body }
    }
}

fn checked_url(api_url: &str) -> Result<String, ChpConfigError> {
    let api_url = api_url.trim_end_matches('/').to_string();
    if !(api_url.starts_with("http://") || api_url.starts_with("https://")) {
        return Err(ChpConfigError::InvalidUrl { url: api_url });
    }
    Ok(api_url)
}

/// Turns one CHP table entry into the hub's view, or `None` when it is not
/// the hub's (no `jupyterhub` marker).
fn route_of(path: &str, mut data: Map<String, Value>) -> Option<Route> {
    if !data.contains_key("jupyterhub") {
        return None;
    }
    data.remove("jupyterhub");
    let target = match data.remove("target") {
        Some(Value::String(target)) => target,
        _ => return None,
    };
    let quoted = quote_route(path);
    let routespec = if quoted.ends_with('/') { quoted } else { format!("{quoted}/") };
    Some(Route { routespec, target, data })
}

#[async_trait]
impl Proxy for ChpProxy {
    async fn add_route(&self, routespec: &str, target: &str, mut data: Map<String, Value>) -> Result<(), ProxyError> {
        data.insert("target".into(), Value::String(target.to_string()));
        data.insert("jupyterhub".into(), Value::Bool(true));
        let url = self.url(routespec);
        let (status, body) = self.send(reqwest::Method::POST, &url, Some(&Value::Object(data)), self.retry_for).await?;
        if status.is_success() { Ok(()) } else { Err(Self::refused("POST", &url, status, body)) }
    }

    async fn delete_route(&self, routespec: &str) -> Result<(), ProxyError> {
        let url = self.url(routespec);
        let (status, body) = self.send(reqwest::Method::DELETE, &url, None, self.retry_for).await?;
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => {
                tracing::warn!(route = routespec, "route to delete was already gone");
                Ok(())
            }
            s => Err(Self::refused("DELETE", &url, s, body)),
        }
    }

    async fn get_all_routes(&self) -> Result<BTreeMap<String, Route>, ProxyError> {
        let url = format!("{}/api/routes", self.api_url());
        let (status, body) = self.send(reqwest::Method::GET, &url, None, self.retry_for).await?;
        if !status.is_success() {
            return Err(Self::refused("GET", &url, status, body));
        }
        let table: Map<String, Value> =
            serde_json::from_str(&body).map_err(|e| ProxyError::BadResponse(format!("GET /api/routes: {e}")))?;
        let mut routes = BTreeMap::new();
        for (path, entry) in table {
            if let Value::Object(data) = entry
                && let Some(route) = route_of(&path, data)
            {
                routes.insert(route.routespec.clone(), route);
            }
        }
        Ok(routes)
    }

    fn reconfigure(&self, api_url: Option<&str>, auth_token: Option<&str>) -> Result<(), ProxyError> {
        let url = match api_url {
            Some(url) => Some(checked_url(url).map_err(|e| ProxyError::BadResponse(e.to_string()))?),
            None => None,
        };
        let mut target =
            self.target.write().map_err(|_| ProxyError::BadResponse("proxy client lock poisoned".into()))?;
        if let Some(url) = url {
            target.0 = url;
        }
        if let Some(token) = auth_token {
            target.1 = SecretString::from(token.to_string());
        }
        tracing::info!(api_url = %target.0, "proxy client re-pointed");
        Ok(())
    }

    async fn get_route(&self, routespec: &str) -> Result<Option<Route>, ProxyError> {
        if ChpProxy::path_of(routespec).is_empty() {
            // `GET /api/routes/` lists everything in CHP; ask for the table.
            return Ok(self.get_all_routes().await?.remove("/"));
        }
        let url = self.url(routespec);
        let (status, body) = self.send(reqwest::Method::GET, &url, None, Duration::ZERO).await?;
        match status {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let data: Map<String, Value> =
                    serde_json::from_str(&body).map_err(|e| ProxyError::BadResponse(format!("GET {url}: {e}")))?;
                let path = ChpProxy::path_of(routespec);
                let decoded = percent_encoding::percent_decode_str(&path).decode_utf8_lossy().to_string();
                Ok(route_of(&decoded, data))
            }
            s => Err(Self::refused("GET", &url, s, body)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_back_routes_like_jupyterhub() {
        let data = json!({"target": "http://10.0.0.5:8888", "jupyterhub": true, "user": "Zhong.Ger@Lab",
                          "server_name": "GPU test", "last_activity": "2026-11-27T01:37:54.638Z"});
        let Value::Object(data) = data else { unreachable!() };
        let route = route_of("/user/Zhong.Ger@Lab/GPU test", data).unwrap();
        assert_eq!(route.routespec, "/user/Zhong.Ger@Lab/GPU%20test/");
        assert_eq!(route.target, "http://10.0.0.5:8888");
        assert!(!route.data.contains_key("jupyterhub") && !route.data.contains_key("target"));
        assert_eq!(route.data["last_activity"], "2026-11-27T01:37:54.638Z");
        let Value::Object(unmarked) = json!({"target": "http://x"}) else { unreachable!() };
        assert!(route_of("/other", unmarked).is_none());
        let Value::Object(hub) = json!({"target": "http://hub:8081", "jupyterhub": true, "hub": true}) else {
            unreachable!()
        };
        assert_eq!(route_of("/", hub).unwrap().routespec, "/");
    }

    #[test]
    fn paths_drop_the_trailing_slash() {
        assert_eq!(ChpProxy::path_of("/user/alice/"), "/user/alice");
        assert_eq!(ChpProxy::path_of("/"), "");
        assert!(ChpProxy::new("proxy-api:8001", SecretString::from("t")).is_err());
    }
}
