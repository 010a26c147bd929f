//! The object store, playing etcd plus the API server's watch cache: one global monotonic
//! resourceVersion, per-resource object tables, a bounded history of watch events per resource
//! (older versions answer 410 Expired), and a broadcast channel per resource feeding watches.
//!
//! Every mutation happens under one short mutex and is published to the resource's broadcast
//! channel and to the controller channel before the lock is released, so a watch that replays
//! history and then subscribes (both under the lock) sees every event exactly once.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast, mpsc};

use crate::error::ApiError;
use crate::resource::Resource;

/// `(namespace, name)`; the namespace is empty for cluster-scoped objects.
pub(crate) type Key = (String, String);

/// The type of a watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change of one object, as watches and controllers see it.
#[derive(Debug)]
pub(crate) struct WatchRecord {
    pub resource: Resource,
    pub etype: EventType,
    pub rv: u64,
    pub object: Arc<Value>,
    /// The object before a modification, so selector watches can turn a change of labels into
    /// ADDED/DELETED like the API server does.
    pub prev: Option<Arc<Value>>,
    line: OnceLock<Bytes>,
}

impl WatchRecord {
    fn new(resource: Resource, etype: EventType, rv: u64, object: Arc<Value>, prev: Option<Arc<Value>>) -> Self {
        Self { resource, etype, rv, object, prev, line: OnceLock::new() }
    }

    /// A synthetic ADDED for the initial state of a watch.
    pub(crate) fn synthetic(resource: Resource, object: Arc<Value>) -> Arc<Self> {
        let rv = object_rv(&object);
        Arc::new(Self::new(resource, EventType::Added, rv, object, None))
    }

    /// The serialized watch line (shared by every watcher that receives it unchanged).
    pub(crate) fn line(&self) -> Bytes {
        self.line.get_or_init(|| watch_line(self.etype.as_str(), &self.object)).clone()
    }
}

/// Serializes one watch event line.
pub(crate) fn watch_line(etype: &str, object: &Value) -> Bytes {
    let mut buf = serde_json::to_vec(&json!({"type": etype, "object": object})).unwrap_or_default();
    buf.push(b'\n');
    Bytes::from(buf)
}

/// The numeric resourceVersion of a stored object (0 if absent).
pub(crate) fn object_rv(obj: &Value) -> u64 {
    obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// The storage key of an object.
pub(crate) fn key_of(obj: &Value) -> Key {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
    (s("/metadata/namespace"), s("/metadata/name"))
}

struct Table {
    objects: BTreeMap<Key, Arc<Value>>,
    history: VecDeque<Arc<WatchRecord>>,
    /// The newest evicted resourceVersion: a watch from an older version missed events.
    compacted: u64,
    tx: broadcast::Sender<Arc<WatchRecord>>,
}

struct State {
    rv: u64,
    tables: Vec<Table>,
}

/// Where a watch starts.
pub(crate) enum WatchFrom {
    /// Synthetic ADDED events for the current state, then changes.
    Now,
    /// Changes after this resourceVersion.
    After(u64),
}

/// A started watch: events to send first, then the live receiver.
pub(crate) struct WatchStart {
    pub initial: Vec<Arc<WatchRecord>>,
    pub rx: broadcast::Receiver<Arc<WatchRecord>>,
    pub start_rv: u64,
}

/// One page of a list.
pub(crate) struct ListPage {
    pub items: Vec<Arc<Value>>,
    pub rv: u64,
    /// The last key returned when more items remain.
    pub next: Option<Key>,
    pub remaining: usize,
}

pub(crate) struct Store {
    state: Mutex<State>,
    history_cap: usize,
    /// Fires on every change; lets in-process waiters block instead of polling.
    pub changed: Notify,
    controller: mpsc::UnboundedSender<Arc<WatchRecord>>,
}

impl Store {
    pub(crate) fn new(history_cap: usize, buffer: usize, controller: mpsc::UnboundedSender<Arc<WatchRecord>>) -> Self {
        let tables = Resource::ALL
            .iter()
            .map(|_| Table {
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                compacted: 0,
                tx: broadcast::channel(buffer.max(16)).0,
            })
            .collect();
        Self {
            state: Mutex::new(State { rv: 1, tables }),
            history_cap: history_cap.max(1),
            changed: Notify::new(),
            controller,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a table half-written (every mutation is a
        // single insert/remove), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub(crate) fn get(&self, res: Resource, ns: &str, name: &str) -> Option<Arc<Value>> {
        let st = self.lock();
        st.tables[res.index()].objects.get(&(ns.to_string(), name.to_string())).cloned()
    }

    /// All objects of a resource (in one namespace, or everywhere), in key order.
    pub(crate) fn all(&self, res: Resource, ns: Option<&str>) -> Vec<Arc<Value>> {
        let st = self.lock();
        let table = &st.tables[res.index()];
        match ns {
            Some(ns) => range_ns(&table.objects, ns).map(|(_, v)| v.clone()).collect(),
            None => table.objects.values().cloned().collect(),
        }
    }

    /// A page of matching objects after `after` (exclusive), at most `limit`.
    pub(crate) fn list(
        &self,
        res: Resource,
        ns: Option<&str>,
        after: Option<&Key>,
        limit: Option<usize>,
        filter: &dyn Fn(&Value) -> bool,
    ) -> ListPage {
        let st = self.lock();
        let table = &st.tables[res.index()];
        let iter: Box<dyn Iterator<Item = (&Key, &Arc<Value>)>> = match ns {
            Some(ns) => Box::new(range_ns(&table.objects, ns)),
            None => Box::new(table.objects.iter()),
        };
        let mut items = Vec::new();
        let mut next = None;
        let mut remaining = 0;
        for (k, v) in iter {
            if let Some(a) = after
                && k <= a
            {
                continue;
            }
            if !filter(v) {
                continue;
            }
            if let Some(l) = limit
                && items.len() >= l
            {
                remaining += 1;
                continue;
            }
            next = Some(k.clone());
            items.push(v.clone());
        }
        if remaining == 0 {
            next = None;
        }
        ListPage { items, rv: st.rv, next, remaining }
    }

    /// Inserts a new object (metadata prepared by the caller); 409 if the key exists.
    pub(crate) fn create(&self, res: Resource, mut obj: Value) -> Result<Arc<Value>, ApiError> {
        let key = key_of(&obj);
        let mut st = self.lock();
        if st.tables[res.index()].objects.contains_key(&key) {
            return Err(ApiError::already_exists(res, &key.1));
        }
        st.rv += 1;
        let rv = st.rv;
        set_rv(&mut obj, rv);
        let obj = Arc::new(obj);
        st.tables[res.index()].objects.insert(key, obj.clone());
        self.publish(&mut st, WatchRecord::new(res, EventType::Added, rv, obj.clone(), None));
        Ok(obj)
    }

    /// Applies `f` to a copy of the object and stores it with a new resourceVersion. `f` returns
    /// `Ok(false)` when nothing changed; the API server then keeps the old resourceVersion.
    pub(crate) fn modify(
        &self,
        res: Resource,
        key: &Key,
        f: impl FnOnce(&mut Value) -> Result<bool, ApiError>,
    ) -> Result<Arc<Value>, ApiError> {
        let mut st = self.lock();
        let Some(current) = st.tables[res.index()].objects.get(key).cloned() else {
            return Err(ApiError::not_found(res, &key.1));
        };
        let mut next = (*current).clone();
        if !f(&mut next)? {
            return Ok(current);
        }
        st.rv += 1;
        let rv = st.rv;
        set_rv(&mut next, rv);
        let next = Arc::new(next);
        st.tables[res.index()].objects.insert(key.clone(), next.clone());
        self.publish(&mut st, WatchRecord::new(res, EventType::Modified, rv, next.clone(), Some(current)));
        Ok(next)
    }

    /// Removes an object; the DELETED event carries the deletion's resourceVersion.
    pub(crate) fn remove(&self, res: Resource, key: &Key) -> Option<Arc<Value>> {
        let mut st = self.lock();
        let current = st.tables[res.index()].objects.remove(key)?;
        st.rv += 1;
        let rv = st.rv;
        let mut last = (*current).clone();
        set_rv(&mut last, rv);
        let last = Arc::new(last);
        self.publish(&mut st, WatchRecord::new(res, EventType::Deleted, rv, last.clone(), Some(current)));
        Some(last)
    }

    fn publish(&self, st: &mut State, rec: WatchRecord) {
        let rec = Arc::new(rec);
        let table = &mut st.tables[rec.resource.index()];
        table.history.push_back(rec.clone());
        while table.history.len() > self.history_cap {
            if let Some(old) = table.history.pop_front() {
                table.compacted = old.rv;
            }
        }
        // No receivers is normal (nobody watching).
        let _ = table.tx.send(rec.clone());
        let _ = self.controller.send(rec);
        self.changed.notify_waiters();
    }

    /// Starts a watch: replay or initial state, then a live receiver, with no gap in between.
    pub(crate) fn watch(&self, res: Resource, from: WatchFrom, ns: Option<&str>) -> Result<WatchStart, ApiError> {
        let st = self.lock();
        let table = &st.tables[res.index()];
        let rx = table.tx.subscribe();
        let initial = match from {
            WatchFrom::Now => {
                let objs: Box<dyn Iterator<Item = (&Key, &Arc<Value>)>> = match ns {
                    Some(ns) => Box::new(range_ns(&table.objects, ns)),
                    None => Box::new(table.objects.iter()),
                };
                objs.map(|(_, o)| WatchRecord::synthetic(res, o.clone())).collect()
            }
            WatchFrom::After(rv) => {
                if rv < table.compacted {
                    return Err(ApiError::expired(format!("too old resource version: {rv} ({})", table.compacted)));
                }
                if rv > st.rv {
                    return Err(ApiError::too_large_rv(rv, st.rv));
                }
                table.history.iter().filter(|r| r.rv > rv).cloned().collect()
            }
        };
        Ok(WatchStart { initial, rx, start_rv: st.rv })
    }

    /// Whether a list at an exact old resourceVersion can no longer be served.
    pub(crate) fn compacted(&self, res: Resource) -> u64 {
        self.lock().tables[res.index()].compacted
    }

    /// Forgets all retained history, like an etcd compaction at the current revision: watches
    /// resuming from any older resourceVersion get 410 Expired.
    pub(crate) fn compact(&self) {
        let mut st = self.lock();
        let rv = st.rv;
        for t in &mut st.tables {
            t.history.clear();
            t.compacted = rv;
        }
    }
}

fn range_ns<'a>(
    objects: &'a BTreeMap<Key, Arc<Value>>,
    ns: &str,
) -> impl Iterator<Item = (&'a Key, &'a Arc<Value>)> + 'a {
    let ns = ns.to_string();
    objects.range((ns.clone(), String::new())..).take_while(move |(k, _)| k.0 == ns)
}

fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ns: &str, name: &str) -> Value {
        json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"namespace": ns, "name": name}})
    }

    #[test]
    fn versions_history_and_expiry() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let store = Store::new(2, 16, tx);
        let a = store.create(Resource::Pods, pod("ns", "a"));
        assert!(a.is_ok());
        assert!(matches!(store.create(Resource::Pods, pod("ns", "a")), Err(e) if e.code == 409));
        let rv_after_a = store.current_rv();
        let _ = store.create(Resource::Pods, pod("ns", "b"));
        let _ = store.create(Resource::Pods, pod("other", "c"));
        // History holds 2 records: b and c; a was evicted.
        let w = store.watch(Resource::Pods, WatchFrom::After(rv_after_a), None);
        assert_eq!(w.map(|w| w.initial.len()).ok(), Some(2));
        assert!(matches!(store.watch(Resource::Pods, WatchFrom::After(1), None), Err(e) if e.code == 410));
        let page = store.list(Resource::Pods, Some("ns"), None, Some(1), &|_| true);
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.remaining, 1);
        let next = page.next.clone();
        let page2 = store.list(Resource::Pods, Some("ns"), next.as_ref(), Some(1), &|_| true);
        assert_eq!(page2.items.len(), 1);
        assert!(page2.next.is_none());
        let removed = store.remove(Resource::Pods, &("ns".into(), "a".into()));
        assert_eq!(removed.map(|o| object_rv(&o)), Some(store.current_rv()));
        store.compact();
        assert!(matches!(store.watch(Resource::Pods, WatchFrom::After(rv_after_a), None), Err(e) if e.code == 410));
    }
}
