//! Stand-ins for the spawner and the proxy, for tests, benchmarks and the
//! `fake` spawner mode: they behave like the real adapters at the port (a
//! started server answers HTTP; routes are a table) without Kubernetes or CHP.

use async_trait::async_trait;
use jhub_core::ports::{
    PollStatus, ProgressEvent, ProgressSink, Proxy, ProxyError, Route, SpawnError, SpawnRequest, SpawnUser, Spawner,
    Started,
};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A spawner whose "servers" are tiny HTTP responders on 127.0.0.1 (or a
/// fixed URL), starting instantly or after `delay`.
#[derive(Debug, Default)]
pub struct FakeSpawner {
    pub delay: Duration,
    /// Make every start fail with this message.
    pub fail_with: Mutex<Option<String>>,
    /// Make every stop fail with this message (the server stays running).
    pub stop_error: Mutex<Option<String>>,
    /// Make every poll fail with this message (the cluster cannot be asked).
    pub poll_error: Mutex<Option<String>>,
    /// Report every server as running (a hub restarted over servers this
    /// process never started, e.g. benchmarks that preload the database).
    pub assume_running: bool,
    pub polls: AtomicUsize,
    /// Serve HTTP at the returned URL (the hub checks it before routing).
    pub serve_http: bool,
    /// Return this URL instead of serving (e.g. a shared dummy server).
    pub fixed_url: Option<String>,
    running: Mutex<HashMap<(String, String), Option<CancellationToken>>>,
    api_tokens: Mutex<HashMap<(String, String), String>>,
    pub starts: AtomicUsize,
    pub stops: AtomicUsize,
    /// Replaces the built-in options check (tests plug the real profile
    /// rules of `jhub-podspec` in here).
    pub options_check: Option<OptionsCheck>,
    /// What starts report as resolved resources (`{}` while null), e.g. the
    /// GPUs a profile asks for.
    pub resources: Mutex<Value>,
    /// How long each stop takes.
    pub stop_delay: Duration,
    /// Stops running now, and the most ever running at once.
    pub stops_in_flight: AtomicUsize,
    pub most_stops_in_flight: AtomicUsize,
}

/// A `validate_options` implementation for [`FakeSpawner`].
#[derive(Clone)]
pub struct OptionsCheck(pub Arc<CheckFn>);

/// The signature of an [`OptionsCheck`].
pub type CheckFn = dyn Fn(&SpawnUser, &Value) -> Result<Value, SpawnError> + Send + Sync;

impl std::fmt::Debug for OptionsCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OptionsCheck")
    }
}

impl FakeSpawner {
    /// Serves HTTP for each server it starts.
    pub fn serving() -> Self {
        Self { serve_http: true, ..Default::default() }
    }

    /// Serving, each start taking `delay`.
    pub fn serving_after(delay: Duration) -> Self {
        Self { serve_http: true, delay, ..Default::default() }
    }

    /// The API token the hub gave the last start of this server.
    pub fn api_token(&self, user: &str, server: &str) -> Option<String> {
        self.api_tokens.lock().ok()?.get(&(user.to_string(), server.to_string())).cloned()
    }

    /// Each stop takes `delay`.
    pub fn with_stop_delay(mut self, delay: Duration) -> Self {
        self.stop_delay = delay;
        self
    }

    /// Reports every server as running (see [`FakeSpawner::assume_running`]).
    pub fn assuming_running() -> Self {
        Self { assume_running: true, ..Default::default() }
    }

    /// Points every server at `url` (which must answer HTTP).
    pub fn at(url: &str) -> Self {
        Self { fixed_url: Some(url.to_string()), ..Default::default() }
    }

    /// Makes a running server disappear (as if its pod died).
    pub fn kill(&self, user: &str, server: &str) {
        if let Ok(mut running) = self.running.lock()
            && let Some(Some(cancel)) = running.remove(&(user.to_string(), server.to_string()))
        {
            cancel.cancel();
        }
    }

    pub fn is_running(&self, user: &str, server: &str) -> bool {
        self.running.lock().map(|r| r.contains_key(&(user.to_string(), server.to_string()))).unwrap_or(false)
    }
}

/// Answers every HTTP request with 200 until cancelled.
pub async fn serve_ok(cancel: CancellationToken) -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                accepted = listener.accept() => {
                    let Ok((mut socket, _)) = accepted else { continue };
                    tokio::spawn(async move {
                        let mut buf = [0u8; 4096];
                        let _ = socket.read(&mut buf).await;
                        let _ = socket
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nok")
                            .await;
                    });
                }
            }
        }
    });
    Ok(format!("http://{addr}"))
}

#[async_trait]
impl Spawner for FakeSpawner {
    fn validate_options(&self, user: &SpawnUser, _server: &str, options: &Value) -> Result<Value, SpawnError> {
        if let Some(check) = &self.options_check {
            return (check.0)(user, options);
        }
        if options.as_object().is_some_and(|o| o.get("invalid").is_some()) {
            return Err(SpawnError::InvalidOptions("option 'invalid' is not accepted".into()));
        }
        Ok(options.clone())
    }

    async fn start(&self, request: SpawnRequest, progress: ProgressSink) -> Result<Started, SpawnError> {
        self.starts.fetch_add(1, Ordering::Relaxed);
        progress(ProgressEvent { progress: Some(50), message: "Spawning server...".into(), ..Default::default() });
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if let Ok(fail) = self.fail_with.lock()
            && let Some(message) = fail.clone()
        {
            return Err(SpawnError::Failed { message });
        }
        let key = (request.user.name.clone(), request.server_name.clone());
        if let Ok(mut tokens) = self.api_tokens.lock() {
            tokens.insert(key.clone(), request.api_token.clone());
        }
        let (url, cancel) = match &self.fixed_url {
            Some(url) => (url.clone(), None),
            None if self.serve_http => {
                let cancel = CancellationToken::new();
                let url = serve_ok(cancel.clone()).await.map_err(|e| SpawnError::Failed { message: e.to_string() })?;
                (url, Some(cancel))
            }
            None => ("http://127.0.0.1:9".to_string(), None),
        };
        if let Ok(mut running) = self.running.lock() {
            running.insert(key, cancel);
        }
        let resources =
            self.resources.lock().ok().map(|r| r.clone()).filter(|r| !r.is_null()).unwrap_or_else(|| json!({}));
        Ok(Started { url, state: json!({"fake": true}), resources })
    }

    async fn stop(&self, user: &str, server: &str, _state: &Value, _now: bool) -> Result<(), SpawnError> {
        self.stops.fetch_add(1, Ordering::Relaxed);
        if let Ok(error) = self.stop_error.lock()
            && let Some(message) = error.clone()
        {
            return Err(SpawnError::Backend { message });
        }
        let now = self.stops_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_stops_in_flight.fetch_max(now, Ordering::SeqCst);
        if !self.stop_delay.is_zero() {
            tokio::time::sleep(self.stop_delay).await;
        }
        self.stops_in_flight.fetch_sub(1, Ordering::SeqCst);
        self.kill(user, server);
        Ok(())
    }

    async fn poll(&self, user: &str, server: &str, _state: &Value) -> Result<PollStatus, SpawnError> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        if let Ok(error) = self.poll_error.lock()
            && let Some(message) = error.clone()
        {
            return Err(SpawnError::Backend { message });
        }
        if self.assume_running {
            return Ok(PollStatus::Running);
        }
        Ok(if self.is_running(user, server) { PollStatus::Running } else { PollStatus::Stopped { exit_code: None } })
    }
}

type RouteTable = BTreeMap<String, (String, Map<String, Value>)>;

/// An in-memory proxy route table with CHP's semantics (adding resets
/// `last_activity`), plus a "restart" that forgets everything.
#[derive(Debug, Default)]
pub struct MemoryProxy {
    routes: Mutex<RouteTable>,
    pub calls: AtomicUsize,
    /// `(api_url, auth_token)` of the last re-pointing, if any.
    pub repointed: Mutex<Option<(Option<String>, Option<String>)>>,
}

impl MemoryProxy {
    /// Forgets every route, like a restarted CHP.
    pub fn restart(&self) {
        if let Ok(mut routes) = self.routes.lock() {
            routes.clear();
        }
    }

    /// Sets CHP's `last_activity` for a route.
    pub fn touch(&self, routespec: &str, at: &str) {
        if let Ok(mut routes) = self.routes.lock()
            && let Some((_, data)) = routes.get_mut(routespec)
        {
            data.insert("last_activity".into(), Value::String(at.to_string()));
        }
    }

    pub fn targets(&self) -> BTreeMap<String, String> {
        self.routes.lock().map(|r| r.iter().map(|(k, (t, _))| (k.clone(), t.clone())).collect()).unwrap_or_default()
    }
}

#[async_trait]
impl Proxy for MemoryProxy {
    async fn add_route(&self, routespec: &str, target: &str, data: Map<String, Value>) -> Result<(), ProxyError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut routes) = self.routes.lock() {
            routes.insert(routespec.to_string(), (target.to_string(), data));
        }
        Ok(())
    }

    async fn delete_route(&self, routespec: &str) -> Result<(), ProxyError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut routes) = self.routes.lock() {
            routes.remove(routespec);
        }
        Ok(())
    }

    async fn get_all_routes(&self) -> Result<BTreeMap<String, Route>, ProxyError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let routes = self.routes.lock().map(|r| r.clone()).unwrap_or_default();
        Ok(routes
            .into_iter()
            .map(|(routespec, (target, data))| (routespec.clone(), Route { routespec, target, data }))
            .collect())
    }

    /// Re-pointing reaches "another" proxy: an empty table, like a fresh CHP.
    fn reconfigure(&self, api_url: Option<&str>, auth_token: Option<&str>) -> Result<(), ProxyError> {
        if let Ok(mut last) = self.repointed.lock() {
            *last = Some((api_url.map(str::to_string), auth_token.map(str::to_string)));
        }
        self.restart();
        Ok(())
    }

    async fn get_route(&self, routespec: &str) -> Result<Option<Route>, ProxyError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let routes = self.routes.lock().map(|r| r.clone()).unwrap_or_default();
        Ok(routes.get(routespec).map(|(target, data)| Route {
            routespec: routespec.to_string(),
            target: target.clone(),
            data: data.clone(),
        }))
    }
}

/// Shared handles for tests.
pub type SharedFakeSpawner = Arc<FakeSpawner>;

/// A capacity view with a report set by the test (`None`: unknown, as
/// without permission to watch nodes). Records the groups it was asked for.
#[derive(Debug, Default)]
pub struct FakeCapacity {
    pub report: Mutex<Option<Arc<jhub_core::capacity::CapacityReport>>>,
    pub asked: Mutex<Vec<Vec<String>>>,
}

impl FakeCapacity {
    pub fn set(&self, report: Option<jhub_core::capacity::CapacityReport>) {
        *self.report.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = report.map(Arc::new);
    }
}

impl jhub_core::ports::Capacity for FakeCapacity {
    fn for_groups(&self, groups: &[String]) -> Option<Arc<jhub_core::capacity::CapacityReport>> {
        self.asked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(groups.to_vec());
        self.report.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}
