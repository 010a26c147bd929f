//! Prometheus metrics with JupyterHub 6.1.1's names, types, labels, buckets
//! and pre-created series (jupyterhub-compat §10), so existing dashboards
//! and alerts keep working, plus jhub's own under the `jhub_` prefix.
//!
//! The exposition is the classic Prometheus text format that JupyterHub's
//! `prometheus_client` writes (`_total` counters, `_created` gauges, label
//! names sorted), not OpenMetrics: the chart annotates the hub for scrapers
//! that ask for `text/plain`, and a differential test
//! (`jhub-web/tests/metrics_parity.rs`) compares this output with the real
//! hub's by family, type, help, label names, bucket bounds and the series
//! that exist from start-up.
//!
//! The registry is owned (no globals), so tests can read it. Recording is a
//! read-locked map lookup plus atomics; nothing here blocks or does I/O.

use jhub_core::ports::Clock;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// `prometheus_client`'s default histogram buckets (without `+Inf`).
pub const DEFAULT_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];
/// JupyterHub's spawn-duration buckets.
pub const SPAWN_BUCKETS: &[f64] = &[0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0];
/// JupyterHub's event-loop probe buckets.
pub const EVENT_LOOP_BUCKETS: &[f64] =
    &[0.05, 0.055, 0.06, 0.065, 0.07, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];

/// A float held in an atomic (bit pattern), updated lock-free.
#[derive(Debug, Default)]
struct AtomicF64(AtomicU64);

impl AtomicF64 {
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
    fn add(&self, delta: f64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + delta).to_bits()));
    }
}

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicF64);

impl Counter {
    pub fn inc(&self) {
        self.0.add(1.0);
    }
    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicF64);

impl Gauge {
    pub fn set(&self, value: f64) {
        self.0.set(value);
    }
    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

/// Observations counted into fixed buckets.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound plus `+Inf`; not cumulative (summed when encoded).
    counts: Box<[AtomicU64]>,
    sum: AtomicF64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self { bounds, counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(), sum: AtomicF64::default() }
    }

    pub fn observe(&self, value: f64) {
        let slot = self.bounds.iter().position(|b| value <= *b).unwrap_or(self.bounds.len());
        if let Some(count) = self.counts.get(slot) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        self.sum.add(value);
    }

    pub fn observe_duration(&self, took: Duration) {
        self.observe(took.as_secs_f64());
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// How a family's series are made and written.
enum Kind {
    Counter,
    Gauge,
    Histogram(&'static [f64]),
}

enum Series {
    Counter(Arc<Counter>),
    Gauge(Arc<Gauge>),
    Histogram(Arc<Histogram>),
}

struct Entry {
    values: Vec<String>,
    series: Series,
    /// Unix seconds when the series appeared (the `_created` sample).
    created: f64,
}

#[derive(Default)]
struct Table {
    index: HashMap<Vec<String>, usize>,
    /// In creation order, as `prometheus_client` writes them.
    entries: Vec<Entry>,
}

/// A metric with a fixed set of label names; one series per label values.
pub struct Family {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    kind: Kind,
    table: RwLock<Table>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Family").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Family {
    fn new(
        clock: &Arc<dyn Clock>,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        kind: Kind,
    ) -> Self {
        Self { name, help, labels, kind, table: RwLock::new(Table::default()), clock: clock.clone() }
    }

    fn entry<T>(&self, values: &[&str], pick: impl Fn(&Series) -> Option<Arc<T>>) -> Option<Arc<T>> {
        debug_assert_eq!(values.len(), self.labels.len(), "{}: wrong label count", self.name);
        let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        {
            let table = self.table.read().unwrap_or_else(|p| p.into_inner());
            if let Some(&at) = table.index.get(&key) {
                return table.entries.get(at).and_then(|e| pick(&e.series));
            }
        }
        let mut table = self.table.write().unwrap_or_else(|p| p.into_inner());
        if let Some(&at) = table.index.get(&key) {
            return table.entries.get(at).and_then(|e| pick(&e.series));
        }
        let series = match self.kind {
            Kind::Counter => Series::Counter(Arc::default()),
            Kind::Gauge => Series::Gauge(Arc::default()),
            Kind::Histogram(bounds) => Series::Histogram(Arc::new(Histogram::new(bounds))),
        };
        let found = pick(&series);
        let created = jhub_core::time::to_micros(self.clock.now()) as f64 / 1e6;
        let at = table.entries.len();
        table.index.insert(key.clone(), at);
        table.entries.push(Entry { values: key, series, created });
        found
    }

    /// The histogram for these label values (created on first use).
    pub fn histogram(&self, values: &[&str]) -> Arc<Histogram> {
        self.entry(values, |s| match s {
            Series::Histogram(h) => Some(h.clone()),
            _ => None,
        })
        .unwrap_or_else(|| Arc::new(Histogram::new(DEFAULT_BUCKETS)))
    }

    pub fn counter(&self, values: &[&str]) -> Arc<Counter> {
        self.entry(values, |s| match s {
            Series::Counter(c) => Some(c.clone()),
            _ => None,
        })
        .unwrap_or_default()
    }

    pub fn gauge(&self, values: &[&str]) -> Arc<Gauge> {
        self.entry(values, |s| match s {
            Series::Gauge(g) => Some(g.clone()),
            _ => None,
        })
        .unwrap_or_default()
    }

    /// Replaces every series of a gauge family at once (values computed
    /// from the hub's state, where a vanished label set must disappear).
    pub fn replace_gauges(&self, series: Vec<(Vec<String>, f64)>) {
        let created = jhub_core::time::to_micros(self.clock.now()) as f64 / 1e6;
        let mut table = Table::default();
        for (values, value) in series {
            let gauge = Gauge::default();
            gauge.set(value);
            let at = table.entries.len();
            table.index.insert(values.clone(), at);
            table.entries.push(Entry { values, series: Series::Gauge(Arc::new(gauge)), created });
        }
        *self.table.write().unwrap_or_else(|p| p.into_inner()) = table;
    }

    fn encode(&self, out: &mut String) {
        let table = self.table.read().unwrap_or_else(|p| p.into_inner());
        let (type_name, family_name) = match self.kind {
            Kind::Counter => ("counter", format!("{}_total", self.name)),
            Kind::Gauge => ("gauge", self.name.to_string()),
            Kind::Histogram(_) => ("histogram", self.name.to_string()),
        };
        header(out, &family_name, self.help, type_name);
        for entry in &table.entries {
            let labels: Vec<(&str, &str)> =
                self.labels.iter().copied().zip(entry.values.iter().map(String::as_str)).collect();
            match &entry.series {
                Series::Counter(c) => sample(out, &family_name, &labels, None, c.get()),
                Series::Gauge(g) => sample(out, &family_name, &labels, None, g.get()),
                Series::Histogram(h) => {
                    let mut cumulative = 0u64;
                    for (i, count) in h.counts.iter().enumerate() {
                        cumulative += count.load(Ordering::Relaxed);
                        let le = h.bounds.get(i).map(|b| number(*b)).unwrap_or_else(|| "+Inf".into());
                        sample(out, &format!("{}_bucket", self.name), &labels, Some(&le), cumulative as f64);
                    }
                    sample(out, &format!("{}_count", self.name), &labels, None, cumulative as f64);
                    sample(out, &format!("{}_sum", self.name), &labels, None, h.sum.get());
                }
            }
        }
        // Counters and histograms carry a `_created` gauge family once they have series.
        if !matches!(self.kind, Kind::Gauge) && !table.entries.is_empty() {
            let created = format!("{}_created", self.name);
            header(out, &created, self.help, "gauge");
            for entry in &table.entries {
                let labels: Vec<(&str, &str)> =
                    self.labels.iter().copied().zip(entry.values.iter().map(String::as_str)).collect();
                sample(out, &created, &labels, None, entry.created);
            }
        }
    }
}

fn header(out: &mut String, name: &str, help: &str, type_name: &str) {
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {type_name}");
}

/// Python's float repr for the values that occur here (`1.0`, `0.005`, `+Inf`).
fn number(value: f64) -> String {
    if value.is_infinite() {
        if value > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else if value.is_nan() {
        "NaN".into()
    } else {
        format!("{value:?}")
    }
}

fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n").replace('"', "\\\"")
}

/// One sample line; label names sorted like `prometheus_client` (with `le`).
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], le: Option<&str>, value: f64) {
    let mut all: Vec<(&str, &str)> = labels.to_vec();
    if let Some(le) = le {
        all.push(("le", le));
    }
    all.sort_by(|a, b| a.0.cmp(b.0));
    out.push_str(name);
    if !all.is_empty() {
        out.push('{');
        for (i, (k, v)) in all.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", number(value));
}

/// All metrics of one hub.
pub struct Metrics {
    // JupyterHub's, in its registration order.
    pub request_duration: Family,
    pub spawn_duration: Family,
    pub running_servers: Family,
    pub total_users: Family,
    pub active_users: Family,
    pub check_routes_duration: Family,
    pub hub_startup_duration: Family,
    pub init_spawners_duration: Family,
    pub proxy_poll_duration: Family,
    pub login_duration: Family,
    pub logout_duration: Family,
    pub csp_reports: Family,
    pub proxy_add_duration: Family,
    pub server_poll_duration: Family,
    pub stop_duration: Family,
    pub proxy_delete_duration: Family,
    pub event_loop_interval: Family,
    // jhub's own.
    pub gpus_allocated: Family,
    pub culled_servers: Family,
    pub culled_users: Family,
    pub cull_sweep_seconds: Family,
    pub proxy_restarts_detected: Family,
    pub user_storage_used_bytes: Family,
    pub spawn_queue_length: Family,
    pub spawn_queue_wait: Family,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The `period` label values of `jupyterhub_active_users` and their windows.
pub const ACTIVE_PERIODS: [(&str, Duration); 3] = [
    ("24h", Duration::from_secs(86_400)),
    ("7d", Duration::from_secs(7 * 86_400)),
    ("30d", Duration::from_secs(30 * 86_400)),
];

/// JupyterHub's `ServerPollStatus` label values. 6.1.1 writes the enum's
/// `str()` (`ServerPollStatus.running`), and dashboards built on it match
/// that text, so it is kept.
pub const POLL_RUNNING: &str = "ServerPollStatus.running";
pub const POLL_STOPPED: &str = "ServerPollStatus.stopped";

impl Metrics {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let c = &clock;
        let h = Kind::Histogram;
        let m = Self {
            request_duration: Family::new(
                c,
                "jupyterhub_request_duration_seconds",
                "Request duration for all HTTP requests",
                &["method", "handler", "code"],
                h(DEFAULT_BUCKETS),
            ),
            spawn_duration: Family::new(
                c,
                "jupyterhub_server_spawn_duration_seconds",
                "Time taken for server spawning operation",
                &["status", "reason"],
                h(SPAWN_BUCKETS),
            ),
            running_servers: Family::new(
                c,
                "jupyterhub_running_servers",
                "The number of user servers currently running",
                &[],
                Kind::Gauge,
            ),
            total_users: Family::new(c, "jupyterhub_total_users", "Total number of users", &[], Kind::Gauge),
            active_users: Family::new(
                c,
                "jupyterhub_active_users",
                "Number of users who were active in the given time period",
                &["period"],
                Kind::Gauge,
            ),
            check_routes_duration: Family::new(
                c,
                "jupyterhub_check_routes_duration_seconds",
                "Time taken to validate all routes in proxy",
                &[],
                h(DEFAULT_BUCKETS),
            ),
            hub_startup_duration: Family::new(
                c,
                "jupyterhub_hub_startup_duration_seconds",
                "Time taken for Hub to start",
                &[],
                h(DEFAULT_BUCKETS),
            ),
            init_spawners_duration: Family::new(
                c,
                "jupyterhub_init_spawners_duration_seconds",
                "Time taken for spawners to initialize",
                &[],
                h(DEFAULT_BUCKETS),
            ),
            proxy_poll_duration: Family::new(
                c,
                "jupyterhub_proxy_poll_duration_seconds",
                "Duration for polling all routes from proxy",
                &[],
                h(DEFAULT_BUCKETS),
            ),
            login_duration: Family::new(
                c,
                "jupyterhub_login_duration_seconds",
                "duration for all authentication attempts",
                &["status"],
                h(DEFAULT_BUCKETS),
            ),
            logout_duration: Family::new(
                c,
                "jupyterhub_logout_duration_seconds",
                "duration for all logout requests",
                &[],
                h(DEFAULT_BUCKETS),
            ),
            csp_reports: Family::new(
                c,
                "jupyterhub_csp_reports",
                "content security policy violation reports",
                &[],
                Kind::Counter,
            ),
            proxy_add_duration: Family::new(
                c,
                "jupyterhub_proxy_add_duration_seconds",
                "Duration for adding user routes to proxy",
                &["status"],
                h(DEFAULT_BUCKETS),
            ),
            server_poll_duration: Family::new(
                c,
                "jupyterhub_server_poll_duration_seconds",
                "Time taken to poll if server is running",
                &["status"],
                h(DEFAULT_BUCKETS),
            ),
            stop_duration: Family::new(
                c,
                "jupyterhub_server_stop_seconds",
                "Time taken for server stopping operation",
                &["status"],
                h(DEFAULT_BUCKETS),
            ),
            proxy_delete_duration: Family::new(
                c,
                "jupyterhub_proxy_delete_duration_seconds",
                "Duration for deleting user routes from proxy",
                &["status"],
                h(DEFAULT_BUCKETS),
            ),
            event_loop_interval: Family::new(
                c,
                "jupyterhub_event_loop_interval_seconds",
                "Distribution of measured event loop intervals",
                &[],
                h(EVENT_LOOP_BUCKETS),
            ),
            gpus_allocated: Family::new(
                c,
                "jhub_gpus_allocated",
                "GPUs requested by running servers, by extended resource, profile and node",
                &["resource", "profile", "node"],
                Kind::Gauge,
            ),
            culled_servers: Family::new(
                c,
                "jhub_culled_servers",
                "Servers stopped by the internal culler, by reason",
                &["reason"],
                Kind::Counter,
            ),
            culled_users: Family::new(
                c,
                "jhub_culled_users",
                "Users deleted by the internal culler, by reason",
                &["reason"],
                Kind::Counter,
            ),
            cull_sweep_seconds: Family::new(
                c,
                "jhub_cull_sweep_duration_seconds",
                "Duration of the last cull sweep",
                &[],
                Kind::Gauge,
            ),
            proxy_restarts_detected: Family::new(
                c,
                "jhub_proxy_restarts_detected",
                "Times the proxy was found without the hub's routes",
                &[],
                Kind::Counter,
            ),
            user_storage_used_bytes: Family::new(
                c,
                "jhub_user_storage_used_bytes",
                "Bytes used on each user's volume, from the kubelet's volume stats (absent when not readable)",
                &["user"],
                Kind::Gauge,
            ),
            spawn_queue_length: Family::new(
                c,
                "jhub_spawn_queue_length",
                "Spawns waiting in the spawn queue for a concurrent_spawn_limit slot",
                &[],
                Kind::Gauge,
            ),
            spawn_queue_wait: Family::new(
                c,
                "jhub_spawn_queue_wait_seconds",
                "Time spawns waited in the spawn queue before starting",
                &[],
                h(SPAWN_BUCKETS),
            ),
        };
        // The series JupyterHub creates at import time, so dashboards and
        // `rate()` see zeros from the start rather than nothing.
        for (status, reason) in [
            ("success", ""),
            ("failure", ""),
            ("error", ""),
            ("failure", "throttled"),
            ("failure", "too-many-users"),
            ("failure", "already-pending"),
        ] {
            m.spawn_duration.histogram(&[status, reason]);
        }
        m.running_servers.gauge(&[]);
        m.total_users.gauge(&[]);
        for (period, _) in ACTIVE_PERIODS {
            m.active_users.gauge(&[period]);
        }
        m.check_routes_duration.histogram(&[]);
        m.hub_startup_duration.histogram(&[]);
        m.init_spawners_duration.histogram(&[]);
        m.proxy_poll_duration.histogram(&[]);
        m.logout_duration.histogram(&[]);
        m.csp_reports.counter(&[]);
        for status in ["success", "failure"] {
            m.proxy_add_duration.histogram(&[status]);
        }
        for status in [POLL_RUNNING, POLL_STOPPED] {
            m.server_poll_duration.histogram(&[status]);
        }
        for status in ["success", "failure"] {
            m.stop_duration.histogram(&[status]);
        }
        for status in ["success", "failure"] {
            m.proxy_delete_duration.histogram(&[status]);
        }
        m.event_loop_interval.histogram(&[]);
        m.cull_sweep_seconds.gauge(&[]);
        m.proxy_restarts_detected.counter(&[]);
        m.spawn_queue_length.gauge(&[]);
        m.spawn_queue_wait.histogram(&[]);
        m
    }

    fn families(&self) -> [&Family; 25] {
        [
            &self.request_duration,
            &self.spawn_duration,
            &self.running_servers,
            &self.total_users,
            &self.active_users,
            &self.check_routes_duration,
            &self.hub_startup_duration,
            &self.init_spawners_duration,
            &self.proxy_poll_duration,
            &self.login_duration,
            &self.logout_duration,
            &self.csp_reports,
            &self.proxy_add_duration,
            &self.server_poll_duration,
            &self.stop_duration,
            &self.proxy_delete_duration,
            &self.event_loop_interval,
            &self.gpus_allocated,
            &self.culled_servers,
            &self.culled_users,
            &self.cull_sweep_seconds,
            &self.proxy_restarts_detected,
            &self.user_storage_used_bytes,
            &self.spawn_queue_length,
            &self.spawn_queue_wait,
        ]
    }

    pub(crate) fn spawn_throttled(&self) {
        self.spawn_duration.histogram(&["failure", "throttled"]).observe(0.0);
    }

    /// `reason` is "" on success (as in JupyterHub) and the failed step's
    /// label (`jhub_core::spawn::SpawnStep::as_str`) on failure.
    pub(crate) fn spawn_finished(&self, status: &str, reason: &str, took: Duration) {
        self.spawn_duration.histogram(&[status, reason]).observe_duration(took);
    }

    pub(crate) fn stop_finished(&self, status: &str, took: Duration) {
        self.stop_duration.histogram(&[status]).observe_duration(took);
    }

    /// Records one HTTP request (called by the web layer).
    pub fn observe_request(&self, method: &str, handler: &str, code: u16, took: Duration) {
        self.request_duration.histogram(&[method, handler, &code.to_string()]).observe_duration(took);
    }

    /// One login attempt (`success`/`failure`), as JupyterHub's login handlers.
    pub fn observe_login(&self, success: bool, took: Duration) {
        self.login_duration.histogram(&[if success { "success" } else { "failure" }]).observe_duration(took);
    }

    pub fn observe_logout(&self, took: Duration) {
        self.logout_duration.histogram(&[]).observe_duration(took);
    }

    pub fn csp_report(&self) {
        self.csp_reports.counter(&[]).inc();
    }

    /// Prometheus text (what `prometheus_client.generate_latest` writes).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        for family in self.families() {
            family.encode(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl Clock for Fixed {
        fn now(&self) -> jhub_core::Timestamp {
            jhub_core::time::from_micros(1_700_000_000_500_000)
        }
    }

    #[test]
    fn histogram_text_is_cumulative_with_sorted_labels() {
        let m = Metrics::new(Arc::new(Fixed));
        m.observe_request("GET", "h\"x", 200, Duration::from_millis(30));
        m.observe_request("GET", "h\"x", 200, Duration::from_secs(20));
        let text = m.encode();
        assert!(text.contains("# TYPE jupyterhub_request_duration_seconds histogram\n"), "{text}");
        assert!(
            text.contains("jupyterhub_request_duration_seconds_bucket{code=\"200\",handler=\"h\\\"x\",le=\"0.025\",method=\"GET\"} 0.0\n"),
            "{text}"
        );
        assert!(
            text.contains("jupyterhub_request_duration_seconds_bucket{code=\"200\",handler=\"h\\\"x\",le=\"0.05\",method=\"GET\"} 1.0\n"),
            "{text}"
        );
        assert!(
            text.contains("jupyterhub_request_duration_seconds_bucket{code=\"200\",handler=\"h\\\"x\",le=\"+Inf\",method=\"GET\"} 2.0\n"),
            "{text}"
        );
        assert!(text.contains(
            "jupyterhub_request_duration_seconds_count{code=\"200\",handler=\"h\\\"x\",method=\"GET\"} 2.0\n"
        ));
        assert!(text.contains(
            "jupyterhub_request_duration_seconds_created{code=\"200\",handler=\"h\\\"x\",method=\"GET\"} 1700000000.5\n"
        ));
        assert!(
            text.contains("# TYPE jupyterhub_csp_reports_total counter\njupyterhub_csp_reports_total 0.0\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE jupyterhub_csp_reports_created gauge\n"), "{text}");
        assert!(!text.contains("# TYPE jupyterhub_login_duration_seconds_created"), "no _created without series");
    }

    #[test]
    fn replaced_gauges_drop_vanished_series() {
        let m = Metrics::new(Arc::new(Fixed));
        m.gpus_allocated.replace_gauges(vec![(vec!["nvidia.com/gpu".into(), "a100".into(), "n1".into()], 2.0)]);
        assert!(
            m.encode().contains("jhub_gpus_allocated{node=\"n1\",profile=\"a100\",resource=\"nvidia.com/gpu\"} 2.0\n")
        );
        m.gpus_allocated.replace_gauges(vec![]);
        assert!(!m.encode().contains("jhub_gpus_allocated{"));
    }
}
