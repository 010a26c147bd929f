//! The HTTP face of the simulator: `/api/v1` paths parsed into (resource, namespace, name,
//! subresource), query parameters with the API server's meaning, JSON (or YAML) bodies,
//! `Status` error bodies, paginated lists without per-item kind/apiVersion, and watch streams
//! (chunked line-delimited JSON with BOOKMARK, ERROR 410, timeouts, cuts and stalls).
//! Discovery documents and `/version` are served for clients that ask.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use serde::ser::{SerializeMap, SerializeSeq};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::ApiError;
use crate::resource::{Resource, Verb};
use crate::selector::{FieldSelector, LabelSelector};
use crate::sim::{Core, DeleteOpts, Simulator};
use crate::store::{EventType, Key, WatchFrom, WatchRecord, WatchStart, watch_line};

const MAX_BODY: usize = 16 * 1024 * 1024;

/// The router serving the simulated API.
pub(crate) fn router(sim: Simulator) -> Router {
    Router::new().fallback(handle).with_state(sim)
}

fn json_response(code: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.code, &self.to_status())
    }
}

/// A parsed `/api/v1/...` path.
struct Target {
    res: Resource,
    ns: Option<String>,
    name: Option<String>,
    sub: Option<String>,
    legacy_watch: bool,
}

fn parse_path(path: &str) -> Option<Target> {
    let (group, rest) = match path.strip_prefix("/api/v1/") {
        Some(rest) => ("", rest),
        None => {
            let rest = path.strip_prefix("/apis/")?;
            let (group, rest) = rest.split_once('/')?;
            let rest = rest.strip_prefix("v1/")?;
            let group = crate::storage::GROUPS.iter().copied().find(|g| *g == group)?;
            (group, rest)
        }
    };
    let mut segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let legacy_watch = segs.first() == Some(&"watch");
    if legacy_watch {
        segs.remove(0);
    }
    let owned = |s: Option<&&str>| s.map(|s| s.to_string());
    if segs.len() >= 3
        && segs[0] == "namespaces"
        && let Some(res) = Resource::from_group_plural(group, segs[2]).filter(|r| r.namespaced())
    {
        if segs.len() > 5 {
            return None;
        }
        return Some(Target {
            res,
            ns: owned(segs.get(1)),
            name: owned(segs.get(3)),
            sub: owned(segs.get(4)),
            legacy_watch,
        });
    }
    let res = Resource::from_group_plural(group, segs.first()?)?;
    if segs.len() > 3 {
        return None;
    }
    Some(Target { res, ns: None, name: owned(segs.get(1)), sub: owned(segs.get(2)), legacy_watch })
}

type Params = Vec<(String, String)>;

fn param<'a>(q: &'a Params, k: &str) -> Option<&'a str> {
    q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
}

/// A boolean query parameter the way kube-apiserver decodes one into its
/// options structs (apimachinery `runtime.Convert_Slice_string_To_bool`):
/// absent, `0` or `false` in any case is false; every other value, the empty
/// one (`?watch`) included, is true. KubeSpawner's reflectors send
/// `watch=True` (Python's `str(True)`), which must open a watch.
fn flag(q: &Params, k: &str) -> bool {
    match param(q, k) {
        None => false,
        Some(v) => !(v == "0" || v.eq_ignore_ascii_case("false")),
    }
}

async fn handle(State(sim): State<Simulator>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query: Params = Query::<Params>::try_from_uri(&parts.uri).map(|q| q.0).unwrap_or_default();
    match path.as_str() {
        "/version" => return json_response(200, &version()),
        "/healthz" | "/livez" | "/readyz" => return (StatusCode::OK, "ok").into_response(),
        "/api" | "/api/" => {
            return json_response(
                200,
                &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
            );
        }
        "/api/v1" | "/api/v1/" => return json_response(200, &api_resources()),
        "/apis" | "/apis/" => return json_response(200, &crate::storage::api_groups(&sim.core)),
        _ => {}
    }
    if let Some(found) = crate::storage::discovery(&sim.core, &path) {
        return match found {
            Ok(body) => json_response(200, &body),
            Err(e) => e.into_response(),
        };
    }
    if let Some(node) = crate::storage::stats_summary_node(&path) {
        return match crate::storage::stats_summary(&sim.core, node, parts.method == Method::GET).await {
            Ok(body) => json_response(200, &body),
            Err(e) => e.into_response(),
        };
    }
    let Some(target) = parse_path(&path) else {
        return ApiError::no_route(&path).into_response();
    };
    if !crate::storage::served(&sim.core, target.res) {
        // A cluster without the snapshot CRDs has no such paths.
        return ApiError::no_route(&path).into_response();
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return ApiError::bad_request("request body too large or unreadable".into()).into_response(),
    };
    match serve(&sim.core, &parts.method, &parts.headers, target, &query, body).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

fn verb_of(method: &Method, t: &Target, q: &Params) -> Result<Verb, ApiError> {
    Ok(match (method.as_str(), t.name.is_some()) {
        ("GET", true) => Verb::Get,
        ("GET", false) if t.legacy_watch || flag(q, "watch") => Verb::Watch,
        ("GET", false) => Verb::List,
        ("POST", false) => Verb::Create,
        ("PUT", true) => Verb::Update,
        ("PATCH", true) => Verb::Patch,
        ("DELETE", true) => Verb::Delete,
        ("DELETE", false) => Verb::DeleteCollection,
        _ => return Err(ApiError::method_not_allowed()),
    })
}

fn decode_body(headers: &HeaderMap, body: &Bytes, res: Resource) -> Result<Value, ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("body is not UTF-8".into()))?;
    let cannot = |why: String| {
        ApiError::bad_request(format!("{} in version \"v1\" cannot be handled as a {}: {why}", res.kind(), res.kind()))
    };
    if ct.contains("yaml") {
        serde_saphyr::from_str::<Value>(text).map_err(|e| cannot(e.to_string()))
    } else if ct.contains("json") || ct.is_empty() {
        serde_json::from_str::<Value>(text).map_err(|e| cannot(e.to_string()))
    } else {
        Err(ApiError::unsupported_media_type(ct))
    }
}

async fn serve(
    core: &Arc<Core>,
    method: &Method,
    headers: &HeaderMap,
    t: Target,
    q: &Params,
    body: Bytes,
) -> Result<Response, ApiError> {
    let verb = verb_of(method, &t, q)?;
    let counted = match &t.sub {
        Some(s) => format!("{}/{s}", t.res.plural()),
        None => t.res.plural().to_string(),
    };
    core.count_and_fault(verb, &counted, Some(t.res)).await?;
    let res = t.res;
    let ns = if res.namespaced() { t.ns.as_deref() } else { None };
    if !res.namespaced() && t.ns.is_some() {
        return Err(ApiError::no_route(res.plural()));
    }
    let name = t.name.as_deref().unwrap_or("");
    let sub = t.sub.as_deref();
    match (sub, res) {
        (None, _) | (Some("status"), _) => {}
        (Some("log"), Resource::Pods) if verb == Verb::Get => return pod_log(core, ns.unwrap_or(""), name, q).await,
        (Some(s), _) => return Err(ApiError::no_route(&format!("{}/{s}", res.plural()))),
    }
    let status_only = sub == Some("status");
    match verb {
        Verb::Get => Ok(object_response(200, &core.api_get(res, ns, name)?)),
        Verb::List => list(core, res, ns, q),
        Verb::Watch => watch(core, res, ns, q),
        Verb::Create => {
            if res.namespaced() && ns.is_none() {
                return Err(ApiError::method_not_allowed());
            }
            let obj = decode_body(headers, &body, res)?;
            if flag_dry_run(q) {
                return Ok(object_response(201, &Arc::new(obj)));
            }
            Ok(object_response(201, &core.api_create(res, ns, obj)?))
        }
        Verb::Update => {
            let obj = decode_body(headers, &body, res)?;
            Ok(object_response(200, &core.api_replace(res, ns, name, obj, status_only)?))
        }
        Verb::Patch => {
            let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !(ct.starts_with("application/merge-patch+json")
                || ct.starts_with("application/strategic-merge-patch+json"))
            {
                return Err(ApiError::unsupported_media_type(ct));
            }
            let patch = decode_body(headers, &body, res)?;
            Ok(object_response(200, &core.api_patch(res, ns, name, &patch, status_only)?))
        }
        Verb::Delete => {
            let opts = delete_opts(headers, &body, q)?;
            Ok(object_response(200, &core.api_delete(res, ns, name, &opts)?))
        }
        Verb::DeleteCollection => {
            let opts = delete_opts(headers, &body, q)?;
            let filter = Filter::new(res, ns, q)?;
            let page = core.store.list(res, ns, None, None, &|o| filter.matches(o));
            for o in &page.items {
                let n = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
                match core.api_delete(res, ns, n, &opts) {
                    Ok(_) | Err(ApiError { code: 404, .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(json_response(200, &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})))
        }
    }
}

fn flag_dry_run(q: &Params) -> bool {
    param(q, "dryRun") == Some("All")
}

fn object_response(code: u16, obj: &Arc<Value>) -> Response {
    json_response(code, obj)
}

fn delete_opts(headers: &HeaderMap, body: &Bytes, q: &Params) -> Result<DeleteOpts, ApiError> {
    let mut opts = DeleteOpts::default();
    if let Some(g) = param(q, "gracePeriodSeconds") {
        opts.grace = Some(g.parse().map_err(|_| ApiError::bad_request(format!("invalid gracePeriodSeconds {g:?}")))?);
    }
    opts.dry_run = flag_dry_run(q);
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v = decode_body(headers, body, Resource::Pods)
            .map_err(|_| ApiError::bad_request("DeleteOptions in the body could not be decoded".into()))?;
        if let Some(g) = v.get("gracePeriodSeconds").and_then(Value::as_i64) {
            opts.grace = Some(g);
        }
        opts.uid = v.pointer("/preconditions/uid").and_then(Value::as_str).map(String::from);
        opts.rv = v.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(String::from);
        if v.get("dryRun").and_then(Value::as_array).is_some_and(|a| a.iter().any(|x| x == "All")) {
            opts.dry_run = true;
        }
    }
    Ok(opts)
}

/// Label, field and namespace filter for lists and watches.
struct Filter {
    res: Resource,
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn new(res: Resource, ns: Option<&str>, q: &Params) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(param(q, "labelSelector").unwrap_or("")).map_err(ApiError::bad_request)?;
        let fields =
            FieldSelector::parse(param(q, "fieldSelector").unwrap_or(""), res).map_err(ApiError::bad_request)?;
        Ok(Self { res, ns: ns.map(String::from), labels, fields })
    }

    fn matches(&self, obj: &Value) -> bool {
        if let Some(ns) = &self.ns
            && obj.pointer("/metadata/namespace").and_then(Value::as_str) != Some(ns.as_str())
        {
            return false;
        }
        self.labels.matches(obj.pointer("/metadata/labels")) && self.fields.matches(self.res, obj)
    }

    /// The watch line for a record, turning label/field changes into ADDED/DELETED.
    fn render(&self, rec: &WatchRecord) -> Option<Bytes> {
        match rec.etype {
            EventType::Added | EventType::Deleted => self.matches(&rec.object).then(|| rec.line()),
            EventType::Modified => {
                let now = self.matches(&rec.object);
                let before = rec.prev.as_ref().is_some_and(|p| self.matches(p));
                match (before, now) {
                    (true, true) => Some(rec.line()),
                    (false, true) => Some(watch_line("ADDED", &rec.object)),
                    (true, false) => Some(watch_line("DELETED", &rec.object)),
                    (false, false) => None,
                }
            }
        }
    }
}

/// Serializes an object without `kind`/`apiVersion`, as list items are.
struct Item<'a>(&'a Value);

impl serde::Serialize for Item<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_object() {
            Some(m) => {
                let mut map = s.serialize_map(None)?;
                for (k, v) in m {
                    if k != "kind" && k != "apiVersion" {
                        map.serialize_entry(k, v)?;
                    }
                }
                map.end()
            }
            None => self.0.serialize(s),
        }
    }
}

struct Items<'a>(&'a [Arc<Value>]);

impl serde::Serialize for Items<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for o in self.0 {
            seq.serialize_element(&Item(o))?;
        }
        seq.end()
    }
}

fn encode_continue(rv: u64, key: &Key) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{rv}\n{}\n{}", key.0, key.1))
}

fn decode_continue(token: &str) -> Option<(u64, Key)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.splitn(3, '\n');
    let rv = parts.next()?.parse().ok()?;
    Some((rv, (parts.next()?.to_string(), parts.next()?.to_string())))
}

fn parse_rv(s: &str) -> Result<u64, ApiError> {
    s.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version {s:?}")))
}

fn list(core: &Core, res: Resource, ns: Option<&str>, q: &Params) -> Result<Response, ApiError> {
    let filter = Filter::new(res, ns, q)?;
    let current = core.store.current_rv();
    let rv_param = param(q, "resourceVersion").unwrap_or("");
    let exact = param(q, "resourceVersionMatch") == Some("Exact");
    if !rv_param.is_empty() && rv_param != "0" {
        let rv = parse_rv(rv_param)?;
        if rv > current {
            return Err(ApiError::too_large_rv(rv, current));
        }
        // Only the latest state is kept: an exact read of an older version cannot be served.
        if exact && rv != current {
            return Err(ApiError::expired(format!("too old resource version: {rv} ({current})")));
        }
    }
    let limit = match param(q, "limit") {
        Some(l) => Some(l.parse::<usize>().map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?)
            .filter(|l| *l > 0),
        None => None,
    };
    let (token_rv, after) = match param(q, "continue").filter(|c| !c.is_empty()) {
        Some(token) => {
            let (rv, key) =
                decode_continue(token).ok_or_else(|| ApiError::bad_request("continue key is not valid".into()))?;
            if rv < core.store.compacted(res) {
                return Err(ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.".into(),
                ));
            }
            (Some(rv), Some(key))
        }
        None => (None, None),
    };
    let page = core.store.list(res, ns, after.as_ref(), limit, &|o| filter.matches(o));
    let list_rv = token_rv.unwrap_or(page.rv);
    let mut meta = json!({"resourceVersion": list_rv.to_string()});
    if let Some(next) = &page.next {
        meta["continue"] = json!(encode_continue(list_rv, next));
        meta["remainingItemCount"] = json!(page.remaining);
    }
    let body = json!({
        "kind": format!("{}List", res.kind()),
        "apiVersion": res.api_version(),
        "metadata": meta,
    });
    // Items are appended without copying each object into a new Value.
    let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
    if bytes.last() == Some(&b'}') {
        bytes.pop();
        bytes.extend_from_slice(b",\"items\":");
        bytes.extend(serde_json::to_vec(&Items(&page.items)).unwrap_or_else(|_| b"[]".to_vec()));
        bytes.push(b'}');
    }
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

fn bookmark(res: Resource, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    watch_line("BOOKMARK", &json!({"kind": res.kind(), "apiVersion": res.api_version(), "metadata": meta}))
}

fn watch(core: &Arc<Core>, res: Resource, ns: Option<&str>, q: &Params) -> Result<Response, ApiError> {
    let filter = Filter::new(res, ns, q)?;
    let rv_param = param(q, "resourceVersion").unwrap_or("");
    let initial_events = flag(q, "sendInitialEvents");
    let from = if rv_param.is_empty() || rv_param == "0" || initial_events {
        WatchFrom::Now
    } else {
        WatchFrom::After(parse_rv(rv_param)?)
    };
    let timeout = match param(q, "timeoutSeconds") {
        Some(t) => {
            Duration::from_secs(t.parse().map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {t:?}")))?)
        }
        None => Duration::from_secs(1800),
    };
    let bookmarks = flag(q, "allowWatchBookmarks");
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    match core.store.watch(res, from, ns) {
        Ok(start) => {
            let task = WatchTask { core: core.clone(), res, filter, timeout, bookmarks, initial_events, tx };
            core.tasks.spawn(task.run(start));
        }
        Err(e) if e.code == 410 => {
            // Like the watch cache: the stream opens, carries one ERROR event, and ends.
            let line = watch_line("ERROR", &e.to_status());
            let _ = tx.try_send(Ok(line));
            drop(tx);
        }
        Err(e) => return Err(e),
    }
    let body = Body::from_stream(ReceiverStream::new(rx));
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response())
}

struct WatchTask {
    core: Arc<Core>,
    res: Resource,
    filter: Filter,
    timeout: Duration,
    bookmarks: bool,
    initial_events: bool,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
}

impl WatchTask {
    async fn run(self, start: WatchStart) {
        let WatchStart { initial, mut rx, start_rv } = start;
        let mut cut = self.core.watches.cut.subscribe();
        let mut stall = self.core.watches.stall.subscribe();
        let mut stalled = *stall.borrow_and_update();
        let deadline = tokio::time::sleep(self.timeout);
        tokio::pin!(deadline);
        let interval = self.core.delays().bookmark_interval.max(Duration::from_millis(10));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        let mut pending: std::collections::VecDeque<Bytes> =
            initial.iter().filter_map(|r| self.filter.render(r)).collect();
        if self.initial_events {
            pending.push_back(bookmark(self.res, start_rv, true));
        }
        let mut last_rv = start_rv;
        loop {
            if !stalled && let Some(line) = pending.pop_front() {
                tokio::select! {
                    biased;
                    r = cut.changed() => { self.abort(r.is_ok()).await; return; }
                    sent = self.tx.send(Ok(line)) => if sent.is_err() { return },
                }
                continue;
            }
            tokio::select! {
                biased;
                _ = self.core.shutdown.cancelled() => return,
                r = cut.changed() => { self.abort(r.is_ok()).await; return; }
                _ = &mut deadline => return,
                _ = self.tx.closed() => return,
                r = stall.changed() => {
                    if r.is_err() { return; }
                    stalled = *stall.borrow_and_update();
                }
                rec = rx.recv(), if !stalled => match rec {
                    Ok(rec) => {
                        last_rv = last_rv.max(rec.rv);
                        if let Some(line) = self.filter.render(&rec) {
                            pending.push_back(line);
                        }
                    }
                    // A watcher too slow for the buffer is closed; it resumes from its last version.
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                },
                _ = ticker.tick(), if self.bookmarks && !stalled => {
                    pending.push_back(bookmark(self.res, last_rv, false));
                }
            }
        }
    }

    async fn abort(&self, cut: bool) {
        if cut {
            // An error item makes the server drop the connection mid-stream, like a crash.
            let _ = self
                .tx
                .send(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "watch cut by the simulator")))
                .await;
        }
    }
}

async fn pod_log(core: &Core, ns: &str, name: &str, q: &Params) -> Result<Response, ApiError> {
    let pod = core.api_get(Resource::Pods, Some(ns), name)?;
    let container = match param(q, "container") {
        Some(c) => c.to_string(),
        None => pod.pointer("/spec/containers/0/name").and_then(Value::as_str).unwrap_or("").to_string(),
    };
    let path = crate::kubelet::log_path(&core.data_dir, ns, name, &container);
    let text = tokio::fs::read(&path).await.unwrap_or_default();
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], text).into_response())
}

fn version() -> Value {
    json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.0-jhub-sim", "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean", "buildDate": "2025-04-23T00:00:00Z", "goVersion": "go1.24.2", "compiler": "gc", "platform": "linux/amd64"
    })
}

fn api_resources() -> Value {
    let mut resources = Vec::new();
    for r in Resource::ALL.into_iter().filter(|r| r.group().is_empty()) {
        let mut verbs = vec!["create", "delete", "get", "list", "patch", "update", "watch"];
        if r.namespaced() || r == Resource::Nodes {
            verbs.insert(1, "deletecollection");
        }
        resources.push(json!({"name": r.plural(), "singularName": r.singular(), "namespaced": r.namespaced(), "kind": r.kind(), "verbs": verbs}));
        if matches!(
            r,
            Resource::Pods
                | Resource::PersistentVolumeClaims
                | Resource::Nodes
                | Resource::Namespaces
                | Resource::Services
        ) {
            resources.push(json!({"name": format!("{}/status", r.plural()), "singularName": "", "namespaced": r.namespaced(), "kind": r.kind(), "verbs": ["get", "patch", "update"]}));
        }
    }
    resources
        .push(json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}));
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": resources})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let t = parse_path("/api/v1/namespaces/jhub/pods/jupyter-alice/status");
        assert!(
            matches!(t, Some(Target { res: Resource::Pods, ns: Some(ref n), name: Some(ref p), sub: Some(ref s), .. }) if n == "jhub" && p == "jupyter-alice" && s == "status")
        );
        assert!(matches!(
            parse_path("/api/v1/namespaces/jhub"),
            Some(Target { res: Resource::Namespaces, name: Some(_), .. })
        ));
        assert!(matches!(parse_path("/api/v1/pods"), Some(Target { res: Resource::Pods, ns: None, name: None, .. })));
        assert!(matches!(
            parse_path("/api/v1/watch/namespaces/x/events"),
            Some(Target { res: Resource::Events, legacy_watch: true, .. })
        ));
        assert!(matches!(parse_path("/api/v1/nodes/l1"), Some(Target { res: Resource::Nodes, name: Some(_), .. })));
        assert!(parse_path("/api/v1/configmaps").is_none());
        assert!(parse_path("/apis/apps/v1/deployments").is_none());
    }

    #[test]
    fn continue_tokens_round_trip() {
        let key = ("jhub".to_string(), "jupyter-alice".to_string());
        assert_eq!(decode_continue(&encode_continue(42, &key)), Some((42, key)));
        assert_eq!(decode_continue("garbage!"), None);
    }
}
