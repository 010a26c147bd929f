//! Usage accounting: the sessions of the server event log kept in memory
//! (built once at start-up, then fed by every event the hub appends), so a
//! report is a pass over sessions, never a read of the log. The arithmetic
//! is `jhub_core::usage`; here are the feeding, the event details, the
//! retention purge and the report entry point.

use crate::hub::Hub;
use jhub_core::Timestamp;
use jhub_core::model::ServerEventKind;
use jhub_core::time::to_micros;
use jhub_core::usage::{GroupBy, UsageRow, mark};
use serde_json::{Value, json};

const LOAD_PAGE: u32 = 10_000;

/// The profile a server runs (or last ran): the one the spawner resolved —
/// the default profile when the user chose none, among the profiles her
/// groups may use (`allowed_groups`, `group_overrides`) — else, before the
/// spawner reported, the slug the user chose.
pub(crate) fn resolved_profile(slot: &crate::state::ServerEntry) -> Option<String> {
    let from_spawner = slot.resources.as_ref().and_then(|r| r.get("profile")).and_then(Value::as_str);
    let chosen = slot.server.user_options.get("profile").and_then(Value::as_str);
    from_spawner.or(chosen).filter(|p| !p.is_empty()).map(str::to_string)
}

impl Hub {
    /// Replays the whole event log into the session book (start-up).
    pub(crate) async fn load_usage(&self) -> crate::HubResult<()> {
        let mut book = jhub_core::usage::SessionBook::new();
        let mut after = None;
        loop {
            let page = self.inner.store.events_between(Timestamp::MIN, Timestamp::MAX, LOAD_PAGE, after).await?;
            for event in &page {
                book.apply(
                    &event.user_name,
                    &event.server_name,
                    mark(event.kind, &event.detail),
                    to_micros(event.at),
                    &event.detail,
                    event.detail.get("user_options").unwrap_or(&Value::Null),
                );
            }
            match page.last() {
                Some(last) if page.len() == LOAD_PAGE as usize => after = Some(last.into()),
                _ => break,
            }
        }
        *self.inner.usage.lock().unwrap_or_else(|p| p.into_inner()) = book;
        Ok(())
    }

    /// What was run, for the event's detail: the resources the spawner
    /// reported (CPU, memory, GPUs, node), the resolved profile
    /// ([`resolved_profile`]) and the options. Cull events carry the
    /// profile and options too, so the log says which profile was culled.
    pub(crate) fn usage_detail(&self, user: &str, server: &str, kind: ServerEventKind, mut detail: Value) -> Value {
        if !matches!(
            kind,
            ServerEventKind::Started
                | ServerEventKind::Ready
                | ServerEventKind::Adopted
                | ServerEventKind::Stopped
                | ServerEventKind::Failed
                | ServerEventKind::Culled
        ) {
            return detail;
        }
        let (options, resources, profile) = {
            let state = self.read();
            match state.user(user).and_then(|e| e.servers.get(server)) {
                Some(slot) => (slot.server.user_options.clone(), slot.resources.clone(), resolved_profile(slot)),
                None => return detail,
            }
        };
        if !detail.is_object() {
            detail = json!({});
        }
        if let Some(map) = detail.as_object_mut() {
            if matches!(kind, ServerEventKind::Ready | ServerEventKind::Adopted)
                && let Some(Value::Object(resources)) = resources
            {
                for (k, v) in resources {
                    map.entry(k).or_insert(v);
                }
            }
            map.entry("profile").or_insert(profile.map_or(Value::Null, Value::String));
            map.entry("user_options").or_insert(options);
        }
        detail
    }

    /// Feeds one appended event to the session book.
    pub(crate) fn apply_usage_event(
        &self,
        user: &str,
        server: &str,
        kind: ServerEventKind,
        at: Timestamp,
        detail: &Value,
    ) {
        let mut book = self.inner.usage.lock().unwrap_or_else(|p| p.into_inner());
        book.apply(
            user,
            server,
            mark(kind, detail),
            to_micros(at),
            detail,
            detail.get("user_options").unwrap_or(&Value::Null),
        );
    }

    /// Usage in `[start, end)`, running servers counted up to now.
    pub fn usage_report(&self, start: Timestamp, end: Timestamp, by: GroupBy) -> Vec<UsageRow> {
        let now = to_micros(self.now());
        let groups = (by == GroupBy::Group).then(|| {
            let state = self.read();
            state
                .users
                .values()
                .map(|entry| {
                    let names: Vec<String> = entry
                        .groups
                        .iter()
                        .filter_map(|id| state.groups.get(id))
                        .map(|g| g.group.name.clone())
                        .collect();
                    (entry.user.name.clone(), names)
                })
                .collect::<std::collections::HashMap<String, Vec<String>>>()
        });
        let book = self.inner.usage.lock().unwrap_or_else(|p| p.into_inner());
        jhub_core::usage::report(&book.sessions, to_micros(start), to_micros(end), now, by, |user| {
            groups.as_ref().and_then(|g| g.get(user).cloned()).unwrap_or_default()
        })
    }

    /// Usage of one user in `[start, end)` (the home page's month).
    pub fn usage_of_user(&self, user: &str, start: Timestamp, end: Timestamp) -> Option<UsageRow> {
        let now = to_micros(self.now());
        let book = self.inner.usage.lock().unwrap_or_else(|p| p.into_inner());
        let mine = book.sessions.iter().filter(|s| s.user == user);
        jhub_core::usage::report(mine, to_micros(start), to_micros(end), now, GroupBy::User, |_| vec![]).pop()
    }

    /// Retention: deletes events older than `event_retention` from the log
    /// and the sessions that ended before that from memory.
    pub async fn purge_event_log(&self) -> crate::HubResult<u64> {
        let Some(keep) = self.inner.settings.event_retention else { return Ok(0) };
        let span = jiff::SignedDuration::try_from(keep).unwrap_or(jiff::SignedDuration::MAX);
        let before = self.now().checked_sub(span).unwrap_or(Timestamp::MIN);
        let purged = self.inner.store.purge_events_before(before).await?;
        self.inner.usage.lock().unwrap_or_else(|p| p.into_inner()).forget_before(to_micros(before));
        if purged > 0 {
            tracing::info!(count = purged, "purged server events past retention");
        }
        Ok(purged)
    }
}

impl Hub {
    /// Daily usage per profile in `[start, end)` (the usage page's chart).
    pub fn usage_daily_by_profile(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> std::collections::BTreeMap<String, Vec<UsageRow>> {
        let now = to_micros(self.now());
        let book = self.inner.usage.lock().unwrap_or_else(|p| p.into_inner());
        let profiles: std::collections::BTreeSet<&str> =
            book.sessions.iter().map(|s| s.requested.profile.as_str()).collect();
        profiles
            .into_iter()
            .map(|profile| {
                let mine = book.sessions.iter().filter(|s| s.requested.profile == profile);
                let rows =
                    jhub_core::usage::report(mine, to_micros(start), to_micros(end), now, GroupBy::Day, |_| vec![]);
                (profile.to_string(), rows)
            })
            .filter(|(_, rows)| !rows.is_empty())
            .collect()
    }
}

impl Hub {
    /// The last `keep` events of one server since `since`, oldest first, for
    /// the admin page (a read of the log, one user's rows, paged by keyset so
    /// a busy server cannot make it unbounded: at most `scan` rows are read).
    pub async fn recent_server_events(
        &self,
        user: &str,
        server: &str,
        since: Timestamp,
        keep: usize,
        scan: usize,
    ) -> crate::HubResult<Vec<jhub_core::model::ServerEvent>> {
        const PAGE: u32 = 1_000;
        if keep == 0 {
            return Ok(Vec::new());
        }
        let mut kept = std::collections::VecDeque::with_capacity(keep);
        let mut after = None;
        let mut read = 0usize;
        loop {
            let page = self.inner.store.events_for_user(user, since, Timestamp::MAX, PAGE, after).await?;
            read += page.len();
            let full = page.len() == PAGE as usize;
            after = page.last().map(Into::into);
            for event in page.into_iter().filter(|e| e.server_name == server) {
                if kept.len() == keep {
                    kept.pop_front();
                }
                kept.push_back(event);
            }
            if !full || read >= scan {
                break;
            }
        }
        Ok(kept.into())
    }
}
