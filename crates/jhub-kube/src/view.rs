//! The shared, watch-based views of one namespace: user pods (label
//! selector) and pod events (field selector), each kept by one
//! list-then-watch loop started once per spawner.
//!
//! Why not `kube::runtime::reflector`: its watcher swallows BOOKMARK events,
//! so a stream that has gone silent cannot be told from a quiet namespace
//! until the server-side timeout plus kube's fixed 5 s margin; spawns also
//! need per-pod change notifications rather than one global stream, and the
//! events view must keep only events of pods a spawn is waiting on (a busy
//! namespace has tens of thousands; KubeSpawner's all-events cache is known
//! to exhaust the hub's memory). The loop here is the same protocol: list
//! (paged), watch from the list's `resourceVersion` with bookmarks and
//! `timeoutSeconds`, resume from the last seen version when a stream ends
//! or breaks, relist on `410 Gone`, and re-open a stream that delivers
//! nothing at all for `stall_timeout`.
//!
//! Readers get `Arc` snapshots and never block the loop for long (plain
//! mutexes, never held across an await). Waiters register interest in a pod
//! name and are woken by changes to that name only.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams, WatchEvent, WatchParams};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// Timing of the list/watch loops.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchSettings {
    /// `timeoutSeconds` of each watch request: the server ends the stream
    /// after this and the loop resumes from the last version.
    pub watch_timeout: Duration,
    /// A stream that delivers nothing, not even a bookmark, for this long is
    /// taken for dead (e.g. a half-open connection) and re-opened from the
    /// last version. Keep it above `watch_timeout` unless the server sends
    /// bookmarks more often than that.
    pub stall_timeout: Duration,
    /// Objects per page when (re)listing.
    pub page_size: u32,
    /// Upper bound of the retry delay after API errors (starts at 100 ms, doubles).
    pub max_backoff: Duration,
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            watch_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(45),
            page_size: 500,
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// How a view's loop has fared, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ViewCounters {
    /// List requests (pages count one each).
    pub lists: u64,
    /// Watch requests opened.
    pub watches: u64,
    /// Relists forced by `410 Gone` (history compacted past our version).
    pub expired: u64,
    /// Streams re-opened because nothing arrived for `stall_timeout`.
    pub stalls: u64,
    /// Failed requests and broken streams.
    pub errors: u64,
    /// Objects added, modified or deleted through watches.
    pub changes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    lists: AtomicU64,
    watches: AtomicU64,
    expired: AtomicU64,
    stalls: AtomicU64,
    errors: AtomicU64,
    changes: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ViewCounters {
        ViewCounters {
            lists: self.lists.load(Ordering::Relaxed),
            watches: self.watches.load(Ordering::Relaxed),
            expired: self.expired.load(Ordering::Relaxed),
            stalls: self.stalls.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            changes: self.changes.load(Ordering::Relaxed),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Per-pod-name wake-ups: a spawn or stop waiting on a pod registers its
/// name; both views wake exactly those waiters when something about that
/// name changes.
#[derive(Debug, Default)]
pub(crate) struct Interest {
    names: Mutex<HashMap<String, Weak<Notify>>>,
}

/// A registration in [`Interest`]; dropping the last one for a name removes it.
#[derive(Debug)]
pub(crate) struct Waiter {
    pub(crate) notify: Arc<Notify>,
    name: String,
    interest: Arc<Interest>,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut names = lock(&self.interest.names);
        // Only this waiter still holds the Notify: nobody else waits on the name.
        if Arc::strong_count(&self.notify) == 1
            && names.get(&self.name).is_some_and(|weak| weak.as_ptr() == Arc::as_ptr(&self.notify))
        {
            names.remove(&self.name);
        }
    }
}

impl Interest {
    pub(crate) fn register(self: &Arc<Self>, name: &str) -> Waiter {
        let mut names = lock(&self.names);
        let notify = match names.get(name).and_then(Weak::upgrade) {
            Some(existing) => existing,
            None => {
                let fresh = Arc::new(Notify::new());
                names.insert(name.to_string(), Arc::downgrade(&fresh));
                fresh
            }
        };
        Waiter { notify, name: name.to_string(), interest: self.clone() }
    }

    fn notify(&self, name: &str) {
        let notify = lock(&self.names).get(name).and_then(Weak::upgrade);
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
    }

    fn notify_all(&self) {
        let all: Vec<Arc<Notify>> = {
            let mut names = lock(&self.names);
            names.retain(|_, weak| weak.strong_count() > 0);
            names.values().filter_map(Weak::upgrade).collect()
        };
        for notify in all {
            notify.notify_waiters();
        }
    }
}

/// What a list/watch loop feeds.
pub(crate) trait Sink<K>: Send + Sync + 'static {
    /// A (re)list: the complete current set.
    fn replace(&self, items: Vec<K>);
    /// Added or modified.
    fn apply(&self, item: K);
    /// Deleted.
    fn remove(&self, item: K);
    /// The list was refused with 403 (`message` is the API's). `true` ends
    /// the loop for good (a view that is optional without RBAC); `false`
    /// (the default) retries with back-off like any other error.
    fn forbidden(&self, _message: &str) -> bool {
        false
    }
}

fn name_of(meta: &kube::api::ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or("")
}

/// User pods of the namespace, by name.
#[derive(Debug)]
pub(crate) struct PodStore {
    pods: RwLock<HashMap<String, Arc<Pod>>>,
    interest: Arc<Interest>,
}

impl PodStore {
    fn new(interest: Arc<Interest>) -> Self {
        Self { pods: RwLock::new(HashMap::new()), interest }
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<Pod>> {
        self.pods.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(name).cloned()
    }

    pub(crate) fn len(&self) -> usize {
        self.pods.read().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Pod>>> {
        self.pods.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Sink<Pod> for PodStore {
    fn replace(&self, items: Vec<Pod>) {
        let fresh: HashMap<String, Arc<Pod>> =
            items.into_iter().map(|pod| (name_of(&pod.metadata).to_string(), Arc::new(pod))).collect();
        *self.write() = fresh;
        self.interest.notify_all();
    }

    fn apply(&self, pod: Pod) {
        let name = name_of(&pod.metadata).to_string();
        self.write().insert(name.clone(), Arc::new(pod));
        self.interest.notify(&name);
    }

    fn remove(&self, pod: Pod) {
        let name = name_of(&pod.metadata).to_string();
        {
            let mut pods = self.write();
            // A late DELETED for an older pod of the same name must not hide the current one.
            let same = pods.get(&name).is_some_and(|current| current.metadata.uid == pod.metadata.uid);
            if same || pod.metadata.uid.is_none() {
                pods.remove(&name);
            }
        }
        self.interest.notify(&name);
    }
}

/// Events of the pods someone is waiting on, at most `cap` per pod (oldest
/// dropped first). Events of other pods are not kept at all.
#[derive(Debug)]
pub(crate) struct EventStore {
    tracked: Mutex<HashMap<String, Tracked>>,
    cap: usize,
    interest: Arc<Interest>,
}

#[derive(Debug, Default)]
struct Tracked {
    holders: usize,
    events: VecDeque<Arc<DynamicObject>>,
}

/// Keeps a pod's events collected while held.
#[derive(Debug)]
pub(crate) struct EventTrack {
    store: Arc<EventStore>,
    pod: String,
}

impl EventTrack {
    /// The pod's events in arrival order.
    pub(crate) fn snapshot(&self) -> Vec<Arc<DynamicObject>> {
        lock(&self.store.tracked).get(&self.pod).map(|t| t.events.iter().cloned().collect()).unwrap_or_default()
    }
}

impl Drop for EventTrack {
    fn drop(&mut self) {
        let mut tracked = lock(&self.store.tracked);
        if let Some(entry) = tracked.get_mut(&self.pod) {
            entry.holders = entry.holders.saturating_sub(1);
            if entry.holders == 0 {
                tracked.remove(&self.pod);
            }
        }
    }
}

/// The pod an event is about.
pub(crate) fn involved_pod(event: &DynamicObject) -> Option<&str> {
    event.data.get("involvedObject").and_then(|o| o.get("name")).and_then(Value::as_str)
}

fn resource_version_number(event: &DynamicObject) -> u64 {
    event.metadata.resource_version.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0)
}

impl EventStore {
    fn new(cap: usize, interest: Arc<Interest>) -> Self {
        Self { tracked: Mutex::new(HashMap::new()), cap: cap.max(1), interest }
    }

    /// Starts keeping events of `pod` (before the pod is created, so none is missed).
    pub(crate) fn track(self: &Arc<Self>, pod: &str) -> EventTrack {
        lock(&self.tracked).entry(pod.to_string()).or_default().holders += 1;
        EventTrack { store: self.clone(), pod: pod.to_string() }
    }

    /// How many events are held in total (memory bound checks).
    pub(crate) fn held(&self) -> usize {
        lock(&self.tracked).values().map(|t| t.events.len()).sum()
    }

    fn insert(&self, tracked: &mut Tracked, event: Arc<DynamicObject>) {
        let name = event.metadata.name.clone();
        if let Some(slot) = tracked.events.iter_mut().find(|e| e.metadata.name == name) {
            *slot = event;
            return;
        }
        tracked.events.push_back(event);
        while tracked.events.len() > self.cap {
            tracked.events.pop_front();
        }
    }
}

impl Sink<DynamicObject> for EventStore {
    fn replace(&self, mut items: Vec<DynamicObject>) {
        // A list comes in name order; arrival order is what progress shows,
        // and the version is the closest stand-in for it.
        items.sort_by_key(resource_version_number);
        {
            let mut tracked = lock(&self.tracked);
            for entry in tracked.values_mut() {
                entry.events.clear();
            }
            for event in items {
                let Some(pod) = involved_pod(&event).map(str::to_string) else { continue };
                if let Some(mut entry) = tracked.remove(&pod) {
                    self.insert(&mut entry, Arc::new(event));
                    tracked.insert(pod, entry);
                }
            }
        }
        self.interest.notify_all();
    }

    fn apply(&self, event: DynamicObject) {
        let Some(pod) = involved_pod(&event).map(str::to_string) else { return };
        {
            let mut tracked = lock(&self.tracked);
            let Some(mut entry) = tracked.remove(&pod) else { return };
            self.insert(&mut entry, Arc::new(event));
            tracked.insert(pod.clone(), entry);
        }
        self.interest.notify(&pod);
    }

    fn remove(&self, event: DynamicObject) {
        let Some(pod) = involved_pod(&event).map(str::to_string) else { return };
        let mut tracked = lock(&self.tracked);
        if let Some(entry) = tracked.get_mut(&pod) {
            entry.events.retain(|e| e.metadata.name != event.metadata.name);
        }
    }
}

/// Label and field selectors of a view.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selector {
    pub(crate) labels: Option<String>,
    pub(crate) fields: Option<String>,
}

/// Both views of one namespace and the tasks that keep them.
#[derive(Debug)]
pub(crate) struct Views {
    pub(crate) pods: Arc<PodStore>,
    pub(crate) events: Option<Arc<EventStore>>,
    pub(crate) interest: Arc<Interest>,
    pods_ready: watch::Receiver<bool>,
    events_ready: Option<watch::Receiver<bool>>,
    pub(crate) pod_counters: Arc<Counters>,
    pub(crate) event_counters: Arc<Counters>,
    cancel: CancellationToken,
}

impl Drop for Views {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Views {
    /// Starts the loops (inside a Tokio runtime).
    pub(crate) fn start(
        client: &kube::Client,
        namespace: &str,
        component_label: &str,
        events_enabled: bool,
        events_per_pod: usize,
        settings: &WatchSettings,
    ) -> Self {
        let interest = Arc::new(Interest::default());
        let cancel = CancellationToken::new();
        let pods = Arc::new(PodStore::new(interest.clone()));
        let pod_counters = Arc::new(Counters::default());
        let event_counters = Arc::new(Counters::default());
        let (pods_tx, pods_ready) = watch::channel(false);
        let pod_api: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let selector = Selector { labels: Some(format!("component={component_label}")), fields: None };
        tokio::spawn(list_watch(
            pod_api,
            selector,
            settings.clone(),
            pods.clone(),
            pod_counters.clone(),
            pods_tx,
            cancel.clone(),
            "pods",
        ));
        let (events, events_ready) = if events_enabled {
            let store = Arc::new(EventStore::new(events_per_pod, interest.clone()));
            let (tx, rx) = watch::channel(false);
            let resource = kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::Event>(&());
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
            let selector = Selector { labels: None, fields: Some("involvedObject.kind=Pod".into()) };
            tokio::spawn(list_watch(
                api,
                selector,
                settings.clone(),
                store.clone(),
                event_counters.clone(),
                tx,
                cancel.clone(),
                "events",
            ));
            (Some(store), Some(rx))
        } else {
            (None, None)
        };
        Self { pods, events, interest, pods_ready, events_ready, pod_counters, event_counters, cancel }
    }

    /// Waits until the pod view (and the event view when `with_events`) has
    /// completed its first list; names the view still loading after `timeout`.
    pub(crate) async fn wait_ready(&self, timeout: Duration, with_events: bool) -> Result<(), &'static str> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pods = self.pods_ready.clone();
        if tokio::time::timeout_at(deadline, pods.wait_for(|ready| *ready)).await.map(|r| r.is_ok()) != Ok(true) {
            return Err("pod");
        }
        if with_events && let Some(events) = &self.events_ready {
            let mut events = events.clone();
            if tokio::time::timeout_at(deadline, events.wait_for(|ready| *ready)).await.map(|r| r.is_ok()) != Ok(true) {
                return Err("event");
            }
        }
        Ok(())
    }

    pub(crate) fn is_ready(&self) -> bool {
        *self.pods_ready.borrow() && self.events_ready.as_ref().is_none_or(|r| *r.borrow())
    }
}

struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);

    fn new(max: Duration) -> Self {
        Self { next: Self::FIRST, max }
    }

    fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    fn step(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(self.max);
        now
    }
}

/// Sleeps unless cancelled first; false when cancelled.
async fn pause(cancel: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

async fn list_all<K>(
    api: &Api<K>,
    selector: &Selector,
    page_size: u32,
    counters: &Counters,
) -> kube::Result<(Vec<K>, String)>
where
    K: Clone + DeserializeOwned + Debug,
{
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    let mut version: Option<String> = None;
    loop {
        let mut params = ListParams::default().limit(page_size);
        if let Some(labels) = &selector.labels {
            params = params.labels(labels);
        }
        if let Some(fields) = &selector.fields {
            params = params.fields(fields);
        }
        if let Some(token) = &token {
            params = params.continue_token(token);
        }
        Counters::bump(&counters.lists);
        let page = api.list(&params).await?;
        // The first page's version is the snapshot; watching from it replays
        // anything later pages already showed, which applies idempotently.
        if version.is_none() {
            version = page.metadata.resource_version.clone();
        }
        items.extend(page.items);
        match page.metadata.continue_ {
            Some(next) if !next.is_empty() => token = Some(next),
            _ => return Ok((items, version.unwrap_or_default())),
        }
    }
}

/// What ended one watch stream.
enum StreamEnd {
    /// Ended or broke: resume from the last version.
    Resume,
    /// `410 Gone`: the version is too old; list again.
    Relist,
    /// The view is shutting down.
    Cancelled,
}

#[allow(clippy::too_many_arguments)] // a task entry point; the pieces are unrelated
pub(crate) async fn list_watch<K, S>(
    api: Api<K>,
    selector: Selector,
    settings: WatchSettings,
    sink: Arc<S>,
    counters: Arc<Counters>,
    ready: watch::Sender<bool>,
    cancel: CancellationToken,
    what: &'static str,
) where
    K: Clone + DeserializeOwned + Debug + kube::Resource + Send + 'static,
    S: Sink<K>,
{
    let mut backoff = Backoff::new(settings.max_backoff);
    'relist: loop {
        let listed = tokio::select! {
            _ = cancel.cancelled() => return,
            listed = list_all(&api, &selector, settings.page_size, &counters) => listed,
        };
        let mut version = match listed {
            Ok((items, version)) => {
                tracing::debug!(view = what, objects = items.len(), %version, "listed");
                sink.replace(items);
                ready.send_replace(true);
                backoff.reset();
                version
            }
            Err(kube::Error::Api(status)) if status.code == 403 && sink.forbidden(&status.message) => return,
            Err(err) => {
                Counters::bump(&counters.errors);
                tracing::warn!(view = what, error = %err, "listing failed; retrying");
                if !pause(&cancel, backoff.step()).await {
                    return;
                }
                continue 'relist;
            }
        };
        loop {
            let mut params = WatchParams::default().timeout(settings.watch_timeout.as_secs().clamp(1, 3600) as u32);
            if let Some(labels) = &selector.labels {
                params = params.labels(labels);
            }
            if let Some(fields) = &selector.fields {
                params = params.fields(fields);
            }
            Counters::bump(&counters.watches);
            let opened = tokio::select! {
                _ = cancel.cancelled() => return,
                opened = api.watch(&params, &version) => opened,
            };
            let stream = match opened {
                Ok(stream) => stream,
                Err(kube::Error::Api(status)) if status.code == 410 => {
                    Counters::bump(&counters.expired);
                    continue 'relist;
                }
                Err(err) => {
                    Counters::bump(&counters.errors);
                    tracing::warn!(view = what, error = %err, "opening the watch failed; retrying");
                    if !pause(&cancel, backoff.step()).await {
                        return;
                    }
                    continue;
                }
            };
            let opened_at = tokio::time::Instant::now();
            let mut delivered = 0u64;
            let mut stream = std::pin::pin!(stream);
            let end = loop {
                let next = tokio::select! {
                    _ = cancel.cancelled() => break StreamEnd::Cancelled,
                    next = tokio::time::timeout(settings.stall_timeout, stream.next()) => next,
                };
                let event = match next {
                    Err(_silent) => {
                        Counters::bump(&counters.stalls);
                        tracing::warn!(
                            view = what,
                            seconds = settings.stall_timeout.as_secs_f64(),
                            "watch delivered nothing, not even a bookmark; re-opening it"
                        );
                        break StreamEnd::Resume;
                    }
                    Ok(None) => break StreamEnd::Resume,
                    Ok(Some(Err(err))) => {
                        Counters::bump(&counters.errors);
                        tracing::debug!(view = what, error = %err, "watch stream broke; resuming");
                        break StreamEnd::Resume;
                    }
                    Ok(Some(Ok(event))) => event,
                };
                delivered += 1;
                match event {
                    WatchEvent::Added(object) | WatchEvent::Modified(object) => {
                        if let Some(v) = object.meta().resource_version.clone() {
                            version = v;
                        }
                        Counters::bump(&counters.changes);
                        sink.apply(object);
                    }
                    WatchEvent::Deleted(object) => {
                        if let Some(v) = object.meta().resource_version.clone() {
                            version = v;
                        }
                        Counters::bump(&counters.changes);
                        sink.remove(object);
                    }
                    WatchEvent::Bookmark(bookmark) => version = bookmark.metadata.resource_version,
                    WatchEvent::Error(status) if status.code == 410 => {
                        Counters::bump(&counters.expired);
                        tracing::info!(view = what, "watch history expired (410); relisting");
                        break StreamEnd::Relist;
                    }
                    WatchEvent::Error(status) => {
                        Counters::bump(&counters.errors);
                        tracing::warn!(view = what, code = status.code, message = %status.message, "watch error");
                        break StreamEnd::Resume;
                    }
                }
            };
            match end {
                StreamEnd::Cancelled => return,
                StreamEnd::Relist => continue 'relist,
                StreamEnd::Resume => {
                    // A stream that closes at once, over and over, must not spin.
                    if delivered == 0 && opened_at.elapsed() < Duration::from_secs(1) {
                        if !pause(&cancel, backoff.step()).await {
                            return;
                        }
                    } else {
                        backoff.reset();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    fn pod(name: &str, uid: &str) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "uid": uid}})).unwrap()
    }

    fn event(name: &str, pod: &str, rv: &str) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "resourceVersion": rv},
            "involvedObject": {"kind": "Pod", "name": pod}, "reason": "Scheduled", "message": name
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn waiters_are_woken_only_for_their_pod() {
        let interest = Arc::new(Interest::default());
        let store = PodStore::new(interest.clone());
        let alice = interest.register("alice");
        let bob = interest.register("bob");
        {
            let alice_woken = alice.notify.notified();
            let bob_woken = bob.notify.notified();
            let mut alice_woken = std::pin::pin!(alice_woken);
            let mut bob_woken = std::pin::pin!(bob_woken);
            alice_woken.as_mut().enable();
            bob_woken.as_mut().enable();
            store.apply(pod("alice", "1"));
            assert!(futures::poll!(alice_woken.as_mut()).is_ready());
            assert!(futures::poll!(bob_woken.as_mut()).is_pending());
        }
        assert_eq!(store.get("alice").unwrap().metadata.uid.as_deref(), Some("1"));
        // A stale DELETED (older uid) keeps the current pod.
        store.remove(pod("alice", "0"));
        assert!(store.get("alice").is_some());
        store.remove(pod("alice", "1"));
        assert!(store.get("alice").is_none());
        drop(alice);
        assert!(!lock(&interest.names).contains_key("alice"), "the last waiter's drop unregisters");
        assert!(lock(&interest.names).contains_key("bob"));
    }

    #[test]
    fn events_are_kept_only_for_tracked_pods_and_bounded() {
        let interest = Arc::new(Interest::default());
        let store = Arc::new(EventStore::new(3, interest));
        store.apply(event("e0", "alice", "1"));
        assert_eq!(store.held(), 0, "nobody tracks alice yet");
        let track = store.track("alice");
        for i in 1..=5 {
            store.apply(event(&format!("e{i}"), "alice", &i.to_string()));
        }
        store.apply(event("x", "bob", "9"));
        let names: Vec<String> = track.snapshot().iter().map(|e| e.metadata.name.clone().unwrap()).collect();
        assert_eq!(names, ["e3", "e4", "e5"], "oldest dropped past the cap");
        // A modified event replaces itself in place.
        store.apply(event("e4", "alice", "7"));
        assert_eq!(track.snapshot().len(), 3);
        // Relist: only tracked pods' events, in version order.
        store.replace(vec![event("b", "alice", "20"), event("a", "alice", "10"), event("c", "carol", "5")]);
        let names: Vec<String> = track.snapshot().iter().map(|e| e.metadata.name.clone().unwrap()).collect();
        assert_eq!(names, ["a", "b"]);
        drop(track);
        assert_eq!(store.held(), 0, "untracking frees the pod's events");
    }
}
