//! Prometheus metrics with JupyterHub's names (jupyterhub-compat §10) so
//! existing dashboards keep working, plus jhub's culler metrics. The registry
//! is owned (no globals), so tests can read it.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusReason {
    pub status: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Status {
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub handler: String,
    pub code: String,
}

fn spawn_buckets() -> impl Iterator<Item = f64> {
    [0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0].into_iter()
}

/// All metrics of one hub.
pub struct Metrics {
    registry: Mutex<Registry>,
    pub request_duration: Family<RequestLabels, Histogram>,
    pub spawn_duration: Family<StatusReason, Histogram>,
    pub stop_duration: Family<Status, Histogram>,
    pub running_servers: Gauge,
    pub total_users: Gauge,
    pub check_routes_duration: Histogram,
    pub culled_servers: Family<Reason, Counter>,
    pub culled_users: Family<Reason, Counter>,
    pub cull_sweep_seconds: Gauge<f64, AtomicU64>,
    pub proxy_restarts_detected: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("jupyterhub");
        let request_duration = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
        });
        let spawn_duration =
            Family::<StatusReason, Histogram>::new_with_constructor(|| Histogram::new(spawn_buckets()));
        let stop_duration = Family::<Status, Histogram>::new_with_constructor(|| {
            Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
        });
        let check_routes_duration = Histogram::new([0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0]);
        let culled_servers = Family::<Reason, Counter>::default();
        let culled_users = Family::<Reason, Counter>::default();
        let cull_sweep_seconds = Gauge::<f64, AtomicU64>::default();
        let running_servers = Gauge::default();
        let total_users = Gauge::default();
        let proxy_restarts_detected = Counter::default();
        registry.register(
            "request_duration_seconds",
            "Request duration for all HTTP requests",
            request_duration.clone(),
        );
        registry.register(
            "server_spawn_duration_seconds",
            "Time taken for server spawning operation",
            spawn_duration.clone(),
        );
        registry.register("server_stop_seconds", "Time taken for server stopping operation", stop_duration.clone());
        registry.register("running_servers", "The number of user servers currently running", running_servers.clone());
        registry.register("total_users", "Total number of users", total_users.clone());
        registry.register(
            "check_routes_duration_seconds",
            "Time taken to validate all routes in proxy",
            check_routes_duration.clone(),
        );
        registry.register(
            "culled_servers",
            "Servers stopped by the internal culler, by reason",
            culled_servers.clone(),
        );
        registry.register("culled_users", "Users deleted by the internal culler, by reason", culled_users.clone());
        registry.register("cull_sweep_duration_seconds", "Duration of the last cull sweep", cull_sweep_seconds.clone());
        registry.register(
            "proxy_restarts_detected",
            "Times the proxy was found without the hub's routes",
            proxy_restarts_detected.clone(),
        );
        // Pre-create the label series dashboards expect to exist from startup.
        for status in ["success", "failure"] {
            let _ = stop_duration.get_or_create(&Status { status: status.into() });
        }
        for (status, reason) in
            [("success", ""), ("failure", "throttled"), ("failure", "error"), ("failure", "timeout")]
        {
            let _ = spawn_duration.get_or_create(&StatusReason { status: status.into(), reason: reason.into() });
        }
        Self {
            registry: Mutex::new(registry),
            request_duration,
            spawn_duration,
            stop_duration,
            running_servers,
            total_users,
            check_routes_duration,
            culled_servers,
            culled_users,
            cull_sweep_seconds,
            proxy_restarts_detected,
        }
    }

    pub(crate) fn spawn_started(&self) {}

    pub(crate) fn spawn_throttled(&self) {
        self.spawn_duration
            .get_or_create(&StatusReason { status: "failure".into(), reason: "throttled".into() })
            .observe(0.0);
    }

    pub(crate) fn spawn_finished(&self, status: &str, took: Duration) {
        let reason = if status == "success" { "" } else { "error" };
        self.spawn_duration
            .get_or_create(&StatusReason { status: status.into(), reason: reason.into() })
            .observe(took.as_secs_f64());
    }

    pub(crate) fn stop_finished(&self, status: &str, took: Duration) {
        self.stop_duration.get_or_create(&Status { status: status.into() }).observe(took.as_secs_f64());
    }

    /// Records one HTTP request (called by the web layer).
    pub fn observe_request(&self, method: &str, handler: &str, code: u16, took: Duration) {
        self.request_duration
            .get_or_create(&RequestLabels { method: method.into(), handler: handler.into(), code: code.to_string() })
            .observe(took.as_secs_f64());
    }

    /// OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock()
            && prometheus_client::encoding::text::encode(&mut out, &registry).is_err()
        {
            out.clear();
        }
        out
    }
}
