//! What a server requested, read from the resources a spawner reports with
//! its start (`Started::resources`, recorded in the server event log):
//! GPUs by extended resource, CPU cores, memory, the profile and the node.
//! Pure: the metrics gauge `jhub_gpus_allocated` and usage reports use it.

use serde_json::Value;

/// The requested resources of one server session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Requested {
    /// Profile slug (KubeSpawner `user_options.profile`), `""` when none.
    pub profile: String,
    /// Node the server ran on, `""` when the spawner did not say.
    pub node: String,
    /// GPUs per extended resource name (e.g. `nvidia.com/gpu`), > 0 only.
    pub gpus: Vec<(String, f64)>,
    /// CPU cores requested (the guarantee, else the limit), 0 when unset.
    pub cpu: f64,
    /// Memory requested in bytes (the guarantee, else the limit), 0 when unset.
    pub mem_bytes: f64,
}

impl Requested {
    pub fn gpu_total(&self) -> f64 {
        self.gpus.iter().map(|(_, n)| n).sum()
    }
}

/// A Kubernetes quantity as a number (`"2"`, `2`, `"500m"`, `"4Gi"`).
pub fn quantity(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_quantity(s.trim()),
        _ => None,
    }
}

fn parse_quantity(text: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<f64>().ok().filter(|n| n.is_finite()).map(|n| n * factor);
        }
    }
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Whether an extended resource name counts as a GPU (`nvidia.com/gpu`,
/// `amd.com/gpu`, `gpu.intel.com/i915`, MIG slices `nvidia.com/mig-1g.5gb`).
pub fn is_gpu_resource(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("gpu") || lower.starts_with("nvidia.com/mig-") || lower.starts_with("gpu.intel.com/")
}

/// Reads what was requested from a spawn's resources and user options.
pub fn requested(resources: &Value, user_options: &Value) -> Requested {
    let profile = user_options
        .get("profile")
        .and_then(Value::as_str)
        .or_else(|| resources.get("profile").and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    let node = resources.get("node").and_then(Value::as_str).unwrap_or("").to_string();
    // Limits first: for extended resources Kubernetes requires requests == limits.
    let mut gpus: Vec<(String, f64)> = Vec::new();
    for key in ["extra_resource_limits", "extra_resource_guarantees"] {
        if let Some(map) = resources.get(key).and_then(Value::as_object) {
            for (name, value) in map {
                if is_gpu_resource(name)
                    && !gpus.iter().any(|(n, _)| n == name)
                    && let Some(count) = quantity(value).filter(|c| *c > 0.0)
                {
                    gpus.push((name.clone(), count));
                }
            }
        }
    }
    gpus.sort_by(|a, b| a.0.cmp(&b.0));
    let pick = |guarantee: &str, limit: &str| {
        resources
            .get(guarantee)
            .and_then(quantity)
            .filter(|v| *v > 0.0)
            .or_else(|| resources.get(limit).and_then(quantity).filter(|v| *v > 0.0))
            .unwrap_or(0.0)
    };
    Requested {
        profile,
        node,
        gpus,
        cpu: pick("cpu_guarantee", "cpu_limit"),
        mem_bytes: pick("mem_guarantee", "mem_limit"),
    }
}

// ------------------------------------------------------------------ sessions

/// One run of one server: from its start until its stop (`end: None` while
/// it runs), with what it requested. Built from the server event log by
/// [`SessionBook`], kept in memory by the hub so reports never read the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub user: String,
    pub server: String,
    /// Microseconds since the epoch.
    pub start: i64,
    pub end: Option<i64>,
    pub requested: Requested,
}

/// What an event means for usage (the log's kinds, reduced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The pod runs (`started`, or `ready` when no start was seen).
    Start,
    /// A restarted hub re-adopted a running server; `pod_started` (µs) is
    /// the truth about when it began.
    Adopted { pod_started: Option<i64> },
    /// Gone (`stopped`, `failed`).
    Stop,
    /// No effect on usage (`spawn_requested`, `stop_requested`, `culled`).
    None,
}

/// What an event of the log means for usage. `adopted` events carry the
/// pod's start as `pod_started` (ISO 8601).
pub fn mark(kind: crate::model::ServerEventKind, detail: &Value) -> Mark {
    use crate::model::ServerEventKind as K;
    match kind {
        K::Started | K::Ready => Mark::Start,
        K::Adopted => Mark::Adopted {
            pod_started: detail
                .get("pod_started")
                .and_then(Value::as_str)
                .and_then(|t| crate::time::parse(t).ok())
                .map(crate::time::to_micros),
        },
        K::Stopped | K::Failed => Mark::Stop,
        K::SpawnRequested | K::StopRequested | K::Culled => Mark::None,
        K::StorageResized | K::SnapshotTaken | K::StorageRestored => Mark::None,
    }
}

/// Sessions per server, fed with events in log order. Restarts neither lose
/// nor double-count time: a second start of an open session is ignored, an
/// adoption only corrects the start to the pod's own start time.
#[derive(Debug, Default, Clone)]
pub struct SessionBook {
    pub sessions: Vec<Session>,
    /// Index in `sessions` of the open session per (user, server).
    open: std::collections::HashMap<(String, String), usize>,
}

impl SessionBook {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one event at `at` (µs). `detail` is the event's detail
    /// (resources for starts); `user_options` the server's options when known.
    pub fn apply(&mut self, user: &str, server: &str, mark: Mark, at: i64, detail: &Value, user_options: &Value) {
        let key = (user.to_string(), server.to_string());
        match mark {
            Mark::None => {}
            Mark::Start => {
                if let Some(&i) = self.open.get(&key) {
                    // A repeated start (e.g. `ready` after `started`): fill in
                    // what the first one lacked, keep its time.
                    if let Some(session) = self.sessions.get_mut(i)
                        && session.requested == Requested::default()
                    {
                        session.requested = requested(detail, user_options);
                    }
                    return;
                }
                self.open.insert(key, self.sessions.len());
                self.sessions.push(Session {
                    user: user.to_string(),
                    server: server.to_string(),
                    start: at,
                    end: None,
                    requested: requested(detail, user_options),
                });
            }
            Mark::Adopted { pod_started } => match self.open.get(&key) {
                Some(&i) => {
                    if let (Some(session), Some(pod)) = (self.sessions.get_mut(i), pod_started) {
                        session.start = pod;
                    }
                }
                None => {
                    // The start fell out of the log (retention) or was never
                    // written: the pod's start, else the adoption, begins it.
                    self.open.insert(key, self.sessions.len());
                    self.sessions.push(Session {
                        user: user.to_string(),
                        server: server.to_string(),
                        start: pod_started.unwrap_or(at),
                        end: None,
                        requested: requested(detail, user_options),
                    });
                }
            },
            Mark::Stop => {
                if let Some(i) = self.open.remove(&key)
                    && let Some(session) = self.sessions.get_mut(i)
                {
                    session.end = Some(at.max(session.start));
                }
            }
        }
    }

    /// Drops sessions that ended before `before` (µs), after a log purge.
    pub fn forget_before(&mut self, before: i64) {
        self.sessions.retain(|s| s.end.is_none_or(|end| end >= before));
        self.open.clear();
        for (i, s) in self.sessions.iter().enumerate() {
            if s.end.is_none() {
                self.open.insert((s.user.clone(), s.server.clone()), i);
            }
        }
    }
}

// ------------------------------------------------------------------ reports

/// How report rows are keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    User,
    Group,
    Profile,
    Node,
    /// UTC calendar day (`YYYY-MM-DD`); sessions are split at midnight.
    Day,
}

impl GroupBy {
    pub fn parse(text: &str) -> Option<GroupBy> {
        Some(match text {
            "user" => GroupBy::User,
            "group" => GroupBy::Group,
            "profile" => GroupBy::Profile,
            "node" => GroupBy::Node,
            "day" => GroupBy::Day,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::User => "user",
            GroupBy::Group => "group",
            GroupBy::Profile => "profile",
            GroupBy::Node => "node",
            GroupBy::Day => "day",
        }
    }
}

/// One row of a report. Hours are exact for whole-second intervals.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct UsageRow {
    pub key: String,
    pub server_hours: f64,
    pub gpu_hours: f64,
    pub cpu_core_hours: f64,
    pub gib_hours: f64,
    /// Sessions that overlap the range (per key; a session split across
    /// days counts once per day it touches).
    pub sessions: u64,
}

#[derive(Default)]
struct Acc {
    micros: i128,
    gpu: f64,
    cpu: f64,
    gib: f64,
    sessions: u64,
}

const MICROS_PER_HOUR: f64 = 3_600_000_000.0;
const MICROS_PER_DAY: i64 = 86_400_000_000;
const GIB: f64 = 1_073_741_824.0;

/// Usage in `[start, end)` (µs) as of `now` (µs): intervals are clipped at
/// the range edges, running sessions count up to `now`. `groups_of` gives a
/// user's groups for [`GroupBy::Group`] (a user in no group is keyed `""`).
pub fn report<'a, I, G>(sessions: I, start: i64, end: i64, now: i64, by: GroupBy, groups_of: G) -> Vec<UsageRow>
where
    I: IntoIterator<Item = &'a Session>,
    G: Fn(&str) -> Vec<String>,
{
    let mut acc: std::collections::BTreeMap<String, Acc> = std::collections::BTreeMap::new();
    let mut add = |key: &str, from: i64, to: i64, r: &Requested| {
        let micros = i128::from(to - from);
        let slot = match acc.get_mut(key) {
            Some(slot) => slot,
            None => acc.entry(key.to_string()).or_default(),
        };
        slot.micros += micros;
        let span = (to - from) as f64;
        slot.gpu += span * r.gpu_total();
        slot.cpu += span * r.cpu;
        slot.gib += span * (r.mem_bytes / GIB);
        slot.sessions += 1;
    };
    for session in sessions {
        let stop = session.end.unwrap_or(now).min(now.max(session.start));
        let from = session.start.max(start);
        let to = stop.min(end);
        if to <= from {
            continue;
        }
        let r = &session.requested;
        match by {
            GroupBy::User => add(&session.user, from, to, r),
            GroupBy::Profile => add(&r.profile, from, to, r),
            GroupBy::Node => add(&r.node, from, to, r),
            GroupBy::Group => {
                let groups = groups_of(&session.user);
                if groups.is_empty() {
                    add("", from, to, r);
                }
                for group in groups {
                    add(&group, from, to, r);
                }
            }
            GroupBy::Day => {
                let mut day = from.div_euclid(MICROS_PER_DAY);
                loop {
                    let day_start = day * MICROS_PER_DAY;
                    let day_end = day_start + MICROS_PER_DAY;
                    let (a, b) = (from.max(day_start), to.min(day_end));
                    if b > a {
                        add(&day_label(day_start), a, b, r);
                    }
                    if day_end >= to {
                        break;
                    }
                    day += 1;
                }
            }
        }
    }
    acc.into_iter()
        .map(|(key, a)| UsageRow {
            key,
            server_hours: a.micros as f64 / MICROS_PER_HOUR,
            gpu_hours: a.gpu / MICROS_PER_HOUR,
            cpu_core_hours: a.cpu / MICROS_PER_HOUR,
            gib_hours: a.gib / MICROS_PER_HOUR,
            sessions: a.sessions,
        })
        .collect()
}

fn day_label(day_start_micros: i64) -> String {
    let ts = crate::time::from_micros(day_start_micros);
    let civil = ts.to_zoned(jiff::tz::TimeZone::UTC).date();
    format!("{:04}-{:02}-{:02}", civil.year(), civil.month(), civil.day())
}

/// A report as CSV (RFC 4180 quoting; keys are user, group, profile or node
/// names, which may contain commas or quotes). Cells that a spreadsheet
/// would run as a formula are prefixed with `'`.
pub fn to_csv(by: GroupBy, rows: &[UsageRow]) -> String {
    let mut out = format!("{},server_hours,gpu_hours,cpu_core_hours,gib_hours,sessions\r\n", by.as_str());
    for row in rows {
        let mut key = row.key.clone();
        if key.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            key.insert(0, '\'');
        }
        let key = if key.contains([',', '"', '\n', '\r']) { format!("\"{}\"", key.replace('"', "\"\"")) } else { key };
        out.push_str(&format!(
            "{key},{},{},{},{},{}\r\n",
            row.server_hours, row.gpu_hours, row.cpu_core_hours, row.gib_hours, row.sessions
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_gpus_cpu_memory_profile_node() {
        let resources = json!({
            "cpu_guarantee": 2.0, "cpu_limit": 8.0, "mem_guarantee": null, "mem_limit": 8_589_934_592u64,
            "extra_resource_limits": {"nvidia.com/gpu": "2", "example.com/fpga": 1},
            "extra_resource_guarantees": {"nvidia.com/gpu": "2"},
            "node": "gpu-node-1"
        });
        let r = requested(&resources, &json!({"profile": "a100"}));
        assert_eq!(r.profile, "a100");
        assert_eq!(r.node, "gpu-node-1");
        assert_eq!(r.gpus, vec![("nvidia.com/gpu".to_string(), 2.0)]);
        assert_eq!(r.cpu, 2.0);
        assert_eq!(r.mem_bytes, 8_589_934_592.0);
        assert_eq!(requested(&json!({}), &json!({})), Requested::default());
    }

    #[test]
    fn quantities() {
        assert_eq!(quantity(&json!("500m")), Some(0.5));
        assert_eq!(quantity(&json!("4Gi")), Some(4.0 * 1_073_741_824.0));
        assert_eq!(quantity(&json!("1G")), Some(1e9));
        assert_eq!(quantity(&json!(3)), Some(3.0));
        assert_eq!(quantity(&json!("x")), None);
        assert_eq!(quantity(&json!("NaN")), None);
    }

    const H: i64 = 3_600_000_000;

    fn at(text: &str) -> i64 {
        crate::time::to_micros(crate::time::parse(text).unwrap())
    }

    fn gpu(n: u32, profile: &str) -> Value {
        json!({"extra_resource_limits": {"nvidia.com/gpu": n.to_string()}, "cpu_guarantee": 2, "mem_guarantee": "4Gi", "profile": profile, "node": "n1"})
    }

    #[test]
    fn known_intervals_give_exact_hours_clipped_at_the_edges() {
        let mut book = SessionBook::new();
        let none = json!({});
        // alice: 09:00-12:00 with 2 GPUs; bob: 23:00 (day before) - 01:30 with 1 GPU.
        book.apply("alice", "", Mark::Start, at("2026-03-02T09:00:00Z"), &gpu(2, "a100"), &none);
        book.apply("alice", "", Mark::Stop, at("2026-03-02T12:00:00Z"), &none, &none);
        book.apply("bob", "", Mark::Start, at("2026-03-01T23:00:00Z"), &gpu(1, "p100"), &none);
        book.apply("bob", "", Mark::Stop, at("2026-03-02T01:30:00Z"), &none, &none);
        let (start, end, now) = (at("2026-03-02T00:00:00Z"), at("2026-03-03T00:00:00Z"), at("2026-03-05T00:00:00Z"));
        let rows = report(&book.sessions, start, end, now, GroupBy::User, |_| vec![]);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].key.as_str(), rows[0].server_hours, rows[0].gpu_hours), ("alice", 3.0, 6.0));
        assert_eq!((rows[0].cpu_core_hours, rows[0].gib_hours, rows[0].sessions), (6.0, 12.0, 1));
        // bob's 2.5 h are clipped at midnight to 1.5 h.
        assert_eq!((rows[1].key.as_str(), rows[1].server_hours, rows[1].gpu_hours), ("bob", 1.5, 1.5));
        let by_day = report(&book.sessions, at("2026-03-01T00:00:00Z"), end, now, GroupBy::Day, |_| vec![]);
        assert_eq!(by_day[0].key, "2026-03-01");
        assert_eq!(by_day[0].server_hours, 1.0);
        assert_eq!(by_day[1].key, "2026-03-02");
        assert_eq!(by_day[1].server_hours, 4.5);
        assert_eq!(by_day[1].sessions, 2);
        let by_profile = report(&book.sessions, start, end, now, GroupBy::Profile, |_| vec![]);
        assert_eq!(
            by_profile.iter().map(|r| (r.key.as_str(), r.gpu_hours)).collect::<Vec<_>>(),
            [("a100", 6.0), ("p100", 1.5)]
        );
    }

    #[test]
    fn running_servers_count_up_to_now_and_restarts_do_not_double_count() {
        let mut book = SessionBook::new();
        let none = json!({});
        let t0 = at("2026-03-02T10:00:00Z");
        book.apply("carl", "", Mark::Start, t0, &gpu(1, "a100"), &none);
        // The hub restarts twice and re-adopts the pod; a duplicate start too.
        book.apply("carl", "", Mark::Adopted { pod_started: Some(t0) }, t0 + 2 * H, &none, &none);
        book.apply("carl", "", Mark::Start, t0 + 3 * H, &gpu(1, "a100"), &none);
        book.apply("carl", "", Mark::Adopted { pod_started: Some(t0) }, t0 + 4 * H, &none, &none);
        let rows = report(&book.sessions, t0 - 10 * H, t0 + 10 * H, t0 + 5 * H, GroupBy::User, |_| vec![]);
        assert_eq!(rows[0].server_hours, 5.0, "up to now, once");
        assert_eq!(rows[0].sessions, 1);
        // A pod adopted whose start fell out of the log begins at the pod's start.
        let mut book = SessionBook::new();
        book.apply("dora", "gpu", Mark::Adopted { pod_started: Some(t0) }, t0 + H, &gpu(4, "a100"), &none);
        book.apply("dora", "gpu", Mark::Stop, t0 + 2 * H, &none, &none);
        let rows = report(&book.sessions, t0 - H, t0 + 3 * H, t0 + 3 * H, GroupBy::User, |_| vec![]);
        assert_eq!((rows[0].server_hours, rows[0].gpu_hours), (2.0, 8.0));
        // Stops of servers that never started, and the future, count nothing.
        let rows = report(&book.sessions, t0 + 5 * H, t0 + 9 * H, t0 + 9 * H, GroupBy::User, |_| vec![]);
        assert!(rows.is_empty());
    }

    #[test]
    fn groups_and_csv() {
        let mut book = SessionBook::new();
        let none = json!({});
        let t0 = at("2026-03-02T10:00:00Z");
        book.apply("eve", "", Mark::Start, t0, &gpu(1, "a100"), &none);
        book.apply("eve", "", Mark::Stop, t0 + H, &none, &none);
        book.apply("=cmd", "", Mark::Start, t0, &none, &none);
        book.apply("=cmd", "", Mark::Stop, t0 + H, &none, &none);
        let groups = |u: &str| if u == "eve" { vec!["lab,a".to_string(), "ml".to_string()] } else { vec![] };
        let rows = report(&book.sessions, t0, t0 + H, t0 + H, GroupBy::Group, groups);
        assert_eq!(rows.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), ["", "lab,a", "ml"]);
        let csv = to_csv(GroupBy::Group, &rows);
        assert_eq!(
            csv,
            "group,server_hours,gpu_hours,cpu_core_hours,gib_hours,sessions\r\n,1,0,0,0,1\r\n\"lab,a\",1,1,2,4,1\r\nml,1,1,2,4,1\r\n"
        );
        let users = to_csv(GroupBy::User, &report(&book.sessions, t0, t0 + H, t0 + H, GroupBy::User, |_| vec![]));
        assert!(users.contains("\r\n'=cmd,1,"), "{users}");
    }
}
