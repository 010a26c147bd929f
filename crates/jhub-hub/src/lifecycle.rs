//! Spawning and stopping servers, polling them, and re-adopting them after a
//! hub restart — JupyterHub's sequence (jupyterhub-compat §7) driven through
//! the state machine in `jhub_core::spawn`.
//!
//! Spawn: limits → options validated (a bad choice is refused before anything
//! starts) → server row, OAuth client and API token persisted → spawner
//! `start` (bounded by `start_timeout`) → wait for HTTP (bounded by
//! `http_timeout`) → proxy route → ready. Any failure undoes what was done.
//! Stop: route removed first, then the spawner stops the server; only when
//! it is gone does the database say "stopped" — a failed stop leaves the
//! server running and routed, to be retried.
//!
//! The server's API token belongs to the server's OAuth client (JupyterHub
//! files it under the hub's client): deleting the client at stop then removes
//! the server token and every browser token issued for the server in one
//! cascade.

use crate::error::{HubError, HubResult};
use crate::hub::Hub;
use crate::progress::{ProgressSnapshot, SpawnOutcome};
use crate::queue::{Admitted, QueuePlace, Refusal, SlotPermit};
use crate::state::{ServerEntry, SpawnFailure};
use jhub_core::model::{ApiToken, OAuthClient, Pending, Server, ServerEventKind, TokenOwner};
use jhub_core::names::{server_full_name, server_oauth_client_id, validate_server_name};
use jhub_core::ports::{PollStatus, ProgressEvent, ProgressSink, SpawnError, SpawnRequest, SpawnUser, Started};
use jhub_core::spawn::{Phase, SpawnStep};
use jhub_core::spawn_queue::waiting_message;
use jhub_core::token;
use jhub_store::{NewServerEvent, NewToken, SpawnWrite, StopWrite};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A spawn request as the API and the spawn page make it.
#[derive(Debug, Clone, Default)]
pub struct SpawnCommand {
    pub user: String,
    pub server: String,
    /// `None` reuses the options of the server's last spawn.
    pub user_options: Option<Value>,
    pub display_name: Option<String>,
}

/// Follows a spawn; `already_pending` says the request found one in flight,
/// `queued` that this one waits in the spawn queue.
#[derive(Debug)]
pub struct SpawnTicket {
    pub already_pending: bool,
    pub queued: bool,
    rx: watch::Receiver<ProgressSnapshot>,
}

impl SpawnTicket {
    /// Waits up to `timeout` for the spawn to end; `None` if still pending.
    pub async fn wait(&mut self, timeout: Duration) -> Option<SpawnOutcome> {
        let wait = self.rx.wait_for(|snapshot| snapshot.outcome.is_some());
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(snapshot)) => snapshot.outcome.clone(),
            _ => None,
        }
    }
}

/// Follows a stop.
#[derive(Debug)]
pub struct StopTicket {
    rx: watch::Receiver<Option<Result<(), String>>>,
}

impl StopTicket {
    fn done() -> Self {
        let (_tx, rx) = watch::channel(Some(Ok(())));
        Self { rx }
    }

    /// Waits up to `timeout`; `None` if the server is still stopping.
    pub async fn wait(&mut self, timeout: Duration) -> Option<Result<(), String>> {
        let wait = self.rx.wait_for(Option::is_some);
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(value)) => value.clone(),
            _ => None,
        }
    }
}

/// Why a server is being stopped (recorded in the event log).
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    Requested,
    Culled {
        reason: String,
    },
    Logout,
    UserDeleted,
    /// The authenticator found the user no longer allowed.
    AccessRevoked,
}

/// How often a queued spawn refreshes its position in the progress stream.
const QUEUE_REFRESH: Duration = Duration::from_secs(1);

/// A spawn that failed: at which step, why, and when it began (for the
/// spawn-duration metric, which records failures with their real duration).
struct SpawnFailed {
    step: SpawnStep,
    message: String,
    began: Instant,
}

/// Identity of one server inside the hub.
#[derive(Debug, Clone)]
pub(crate) struct ServerKey {
    pub(crate) user_id: i64,
    pub(crate) user: String,
    pub(crate) server: String,
    pub(crate) server_id: i64,
}

fn throttle_message(retry_after: u64) -> String {
    // JupyterHub rounds up to the next 10 s, and talks in minutes above 90 s.
    if retry_after > 90 {
        format!("Too many users trying to log in right now. Try again in {} minutes.", retry_after.div_ceil(60))
    } else {
        format!("Too many users trying to log in right now. Try again in {} seconds.", retry_after.div_ceil(10) * 10)
    }
}

fn retry_after_secs() -> u64 {
    // JupyterHub draws from spawn_throttle_retry_range (30-60 s) so that
    // throttled clients do not come back in lockstep.
    let mut byte = [0u8; 1];
    let jitter = if getrandom_byte(&mut byte) { u64::from(byte[0]) % 31 } else { 15 };
    30 + jitter
}

fn getrandom_byte(buf: &mut [u8; 1]) -> bool {
    jhub_core::token::new_salt().map(|s| buf[0] = s.as_bytes()[0]).is_ok()
}

impl Hub {
    /// Starts a server. Errors are refusals before anything started.
    pub async fn spawn(&self, command: SpawnCommand) -> HubResult<SpawnTicket> {
        let settings = &self.inner.settings;
        let SpawnCommand { user, server, user_options, display_name } = command;
        if !server.is_empty() && !settings.allow_named_servers {
            return Err(HubError::Invalid("Named servers are not enabled.".into()));
        }
        // Read what we need, refusing early without touching the store.
        let (spawn_user, stored_options) = {
            let state = self.read();
            let entry = state.user(&user).ok_or_else(|| Hub::not_found_user(&user))?;
            let existing = entry.servers.get(&server);
            if let Some(existing) = existing {
                match existing.phase {
                    Phase::Running => {
                        return Err(HubError::Invalid(format!("{} is already running", display(&user, &server))));
                    }
                    Phase::Stopping => {
                        return Err(HubError::Invalid(format!("{} is pending stop", display(&user, &server))));
                    }
                    Phase::Spawning(_) => {
                        return Ok(SpawnTicket {
                            already_pending: true,
                            queued: existing.phase == Phase::Spawning(SpawnStep::Queued),
                            rx: existing.progress.subscribe(),
                        });
                    }
                    Phase::Stopped => {}
                }
            } else if !server.is_empty() {
                validate_server_name(&server).map_err(|e| HubError::Invalid(e.to_string()))?;
                let limit = settings.named_server_limit_per_user;
                let named = entry.servers.keys().filter(|name| !name.is_empty()).count();
                if limit > 0 && named >= limit as usize {
                    return Err(HubError::Invalid(format!(
                        "User {user} already has the maximum of {limit} named servers.  One must be deleted before a new server can be created"
                    )));
                }
            }
            if settings.active_server_limit > 0 && state.active_servers() >= settings.active_server_limit as usize {
                self.inner.metrics.spawn_throttled();
                return Err(HubError::Throttled {
                    message: "Active user limit exceeded. Try again in a few minutes.".into(),
                    retry_after: None,
                });
            }
            let spawn_user = SpawnUser {
                id: entry.user.id,
                name: entry.user.name.clone(),
                admin: entry.user.admin,
                groups: state.group_names_of(entry),
            };
            (spawn_user, existing.map(|e| e.server.user_options.clone()))
        };
        let options = match user_options {
            Some(options) => options,
            None => stored_options.unwrap_or_else(|| json!({})),
        };
        let options = self.inner.spawner.validate_options(&spawn_user, &server, &options).map_err(|e| match e {
            SpawnError::NotPermitted(message) => HubError::Denied(message),
            other => HubError::Invalid(other.to_string()),
        })?;
        // A slot (or a place in line) before anything is written: a refusal
        // leaves nothing behind, and any later error drops the admission,
        // which gives the slot back.
        let admission = match self.inner.slots.admit(spawn_user.id) {
            Ok(admission) => admission,
            Err(Refusal::Full) => {
                let retry = retry_after_secs();
                self.inner.metrics.spawn_throttled();
                return Err(HubError::Throttled { message: throttle_message(retry), retry_after: Some(retry) });
            }
            Err(Refusal::AlreadyQueued { position }) => {
                self.inner.metrics.spawn_throttled();
                return Err(HubError::Throttled {
                    message: format!(
                        "{user} already has a server waiting in the spawn queue (position {position}); \
                         one place per user"
                    ),
                    retry_after: Some(retry_after_secs()),
                });
            }
        };
        // Credentials are made outside the user's lock (hashing is CPU work).
        let prefix = self.inner.settings.layout.server_url(&user, &server);
        let client_id = server_oauth_client_id(&user, &server);
        let api_token = token::new_token().map_err(|e| HubError::Backend(e.to_string()))?;
        let hashed =
            token::hash_new(&api_token, token::GENERATED_ROUNDS).map_err(|e| HubError::Backend(e.to_string()))?;
        let client = OAuthClient {
            identifier: client_id.clone(),
            description: format!("Server at {prefix}"),
            secret_hashed: Some(hashed.clone()),
            redirect_uri: self.inner.settings.layout.oauth_callback_url(&user, &server),
            allowed_scopes: vec![format!("access:servers!server={}", server_full_name(&user, &server))],
        };

        let gate = self.user_gate(&user).await;
        // Checked under the user's lock, where a restore checks that no server runs.
        if self.storage_restoring(&user) {
            return Err(HubError::Conflict(format!(
                "{user}'s volume is being restored from a snapshot; start the server when that is done"
            )));
        }
        let now = self.now();
        // Re-check under the user's lock: another request may have started it.
        let existing_row = {
            let state = self.read();
            let entry = state.user(&user).ok_or_else(|| Hub::not_found_user(&user))?;
            match entry.servers.get(&server) {
                Some(existing) if matches!(existing.phase, Phase::Spawning(_)) => {
                    return Ok(SpawnTicket {
                        already_pending: true,
                        queued: existing.phase == Phase::Spawning(SpawnStep::Queued),
                        rx: existing.progress.subscribe(),
                    });
                }
                Some(existing) if existing.phase != Phase::Stopped => {
                    return Err(HubError::Invalid(format!("{} is already running", display(&user, &server))));
                }
                Some(existing) => Some(existing.server.clone()),
                None => None,
            }
        };
        let create = existing_row.is_none();
        let mut row = existing_row.unwrap_or_else(|| Server {
            id: 0,
            user_id: spawn_user.id,
            name: server.clone(),
            display_name: display_name.clone().unwrap_or_else(|| server.clone()),
            started: None,
            last_activity: None,
            state: json!({}),
            user_options: json!({}),
            url: None,
            pending: None,
        });
        row.started = Some(now);
        row.last_activity = Some(now);
        row.user_options = options.clone();
        row.url = None;
        row.pending = Some(Pending::Spawn);
        if let Some(name) = display_name.filter(|n| !n.is_empty()) {
            row.display_name = name;
        }
        let write = SpawnWrite {
            server: row,
            create,
            client: client.clone(),
            token: NewToken {
                owner: TokenOwner::User(spawn_user.id),
                hashed,
                prefix: token::prefix(&api_token).to_string(),
                client_id: client_id.clone(),
                session_id: None,
                created: now,
                expires_at: None,
                note: Some(format!("Server at {prefix}")),
                scopes: vec![
                    format!("access:servers!server={}", server_full_name(&user, &server)),
                    "users:activity!user".to_string(),
                ],
            },
        };
        // Server row, fresh OAuth client (the last run's goes, with its
        // tokens) and API token: one transaction, all or nothing.
        let (row, _server_token) = self.inner.store.write_spawn(&write).await?;
        let cancel = CancellationToken::new();
        let queued = matches!(admission, Admitted::Waiting(_));
        let (progress, previous_state) = {
            let mut state = self.write();
            state.oauth_clients.insert(client_id.clone(), client);
            let Some(entry) = state.user_mut(&user) else {
                return Err(Hub::not_found_user(&user));
            };
            // JupyterHub marks the user active when a spawn starts.
            if entry.user.last_activity.is_none_or(|at| at < now) {
                entry.user.last_activity = Some(now);
            }
            let slot = entry.servers.entry(server.clone()).or_insert_with(|| ServerEntry::new(row.clone()));
            let previous_state = slot.server.state.clone();
            slot.server = row.clone();
            slot.phase = Phase::Spawning(if queued { SpawnStep::Queued } else { SpawnStep::Starting });
            slot.last_failure = None;
            slot.progress.reset();
            let progress = slot.progress.clone();
            state.reindex_user(spawn_user.id);
            (progress, previous_state)
        };
        if let Ok(mut cancels) = self.inner.spawn_cancels.lock() {
            cancels.insert(row.id, cancel.clone());
        }
        drop(gate);
        self.record_event(
            Some(spawn_user.id),
            &user,
            &server,
            ServerEventKind::SpawnRequested,
            now,
            json!({"user_options": options}),
        )
        .await;
        self.inner.activity.user(spawn_user.id, now);
        self.inner.identities.invalidate_user(spawn_user.id);
        let key = ServerKey { user_id: spawn_user.id, user: user.clone(), server: server.clone(), server_id: row.id };
        let request = SpawnRequest {
            user: spawn_user,
            server_name: server.clone(),
            user_options: options,
            api_token,
            hub_env: self.inner.settings.hub_env.clone(),
            previous_state,
            start_timeout: self.inner.settings.start_timeout,
        };
        let ticket = SpawnTicket { already_pending: false, queued, rx: progress.subscribe() };
        let hub = self.clone();
        self.spawn_task(async move { hub.run_spawn(key, request, progress, cancel, admission).await });
        Ok(ticket)
    }

    /// Waits in the spawn queue, telling the progress stream where it
    /// stands; `None` when a stop cancelled the spawn meanwhile (the place
    /// is given back by the drop).
    async fn wait_in_queue(
        &self,
        mut place: QueuePlace,
        progress: &crate::progress::ProgressLog,
        cancel: &CancellationToken,
    ) -> Option<SlotPermit> {
        let mut shown = None;
        loop {
            if let Some(status) = place.status()
                && shown != Some(status.0)
            {
                shown = Some(status.0);
                let (position, length, eta) = status;
                progress.push(ProgressEvent {
                    progress: Some(0),
                    message: waiting_message(position, length, eta),
                    ..Default::default()
                });
            }
            tokio::select! {
                _ = cancel.cancelled() => return None,
                permit = place.admitted() => return permit,
                _ = tokio::time::sleep(QUEUE_REFRESH) => {}
            }
        }
    }

    async fn run_spawn(
        &self,
        key: ServerKey,
        request: SpawnRequest,
        progress: Arc<crate::progress::ProgressLog>,
        cancel: CancellationToken,
        admission: Admitted,
    ) {
        // Held until this task ends, whichever way: the drop frees the slot.
        let permit = match admission {
            Admitted::Now(permit) => permit,
            Admitted::Waiting(place) => {
                let Some(permit) = self.wait_in_queue(place, &progress, &cancel).await else { return };
                self.set_phase(&key, Phase::Spawning(SpawnStep::Starting));
                permit
            }
        };
        let began = Instant::now();
        let sink: ProgressSink = {
            let progress = progress.clone();
            Arc::new(move |event: ProgressEvent| progress.push(event))
        };
        let timeout = request.start_timeout;
        let spawner = self.inner.spawner.clone();
        let started = tokio::select! {
            _ = cancel.cancelled() => return,
            result = tokio::time::timeout(timeout, spawner.start(request, sink)) => match result {
                Ok(result) => result,
                Err(_) => Err(SpawnError::Timeout { seconds: timeout.as_secs(), detail: None }),
            },
        };
        let fail = |step: SpawnStep, message: String| SpawnFailed { step, message, began };
        let started = match started {
            Ok(started) => started,
            Err(err) => {
                return self
                    .fail_spawn(&key, fail(SpawnStep::Starting, err.to_string()), &progress, &cancel, permit)
                    .await;
            }
        };
        if cancel.is_cancelled() {
            return;
        }
        if let Err(err) = self.record_started(&key, &started).await {
            return self
                .fail_spawn(&key, fail(SpawnStep::RecordingStart, err.to_string()), &progress, &cancel, permit)
                .await;
        }
        let prefix = self.inner.settings.layout.server_url(&key.user, &key.server);
        let http_timeout = self.inner.settings.http_timeout;
        let up = tokio::select! {
            _ = cancel.cancelled() => return,
            result = wait_for_http(&started.url, &prefix, http_timeout) => result,
        };
        if let Err(message) = up {
            return self.fail_spawn(&key, fail(SpawnStep::WaitingHttp, message), &progress, &cancel, permit).await;
        }
        self.set_phase(&key, Phase::Spawning(SpawnStep::AddingRoute));
        let mut data = serde_json::Map::new();
        data.insert("user".into(), Value::String(key.user.clone()));
        data.insert("server_name".into(), Value::String(key.server.clone()));
        let routed = tokio::select! {
            _ = cancel.cancelled() => return,
            result = self.proxy_add_route(&prefix, &started.url, data) => result,
        };
        if let Err(err) = routed {
            let message = format!("could not add the proxy route: {err}");
            return self.fail_spawn(&key, fail(SpawnStep::AddingRoute, message), &progress, &cancel, permit).await;
        }
        // Ready: persist, then show.
        let now = self.now();
        {
            let _gate = self.user_gate(&key.user).await;
            if cancel.is_cancelled() {
                return;
            }
            let row = self.read().user(&key.user).and_then(|e| e.servers.get(&key.server)).map(|e| e.server.clone());
            let Some(mut row) = row else { return };
            row.pending = None;
            if let Err(err) = self.inner.store.save_server(&row).await {
                drop(_gate);
                return self
                    .fail_spawn(&key, fail(SpawnStep::MarkingReady, err.to_string()), &progress, &cancel, permit)
                    .await;
            }
            let mut state = self.write();
            if let Some(slot) = state.user_mut(&key.user).and_then(|e| e.servers.get_mut(&key.server)) {
                slot.server = row;
                slot.phase = Phase::Running;
            }
            state.reindex_user(key.user_id);
        }
        if let Ok(mut cancels) = self.inner.spawn_cancels.lock() {
            cancels.remove(&key.server_id);
        }
        self.record_event(
            Some(key.user_id),
            &key.user,
            &key.server,
            ServerEventKind::Ready,
            now,
            started.resources.clone(),
        )
        .await;
        self.inner.consecutive_failures.store(0, std::sync::atomic::Ordering::Relaxed);
        self.inner.metrics.spawn_finished("success", "", began.elapsed());
        self.inner.slots.record_duration(began.elapsed());
        tracing::info!(user = %key.user, server = %key.server, seconds = began.elapsed().as_secs_f64(), "server ready");
        progress.finish(SpawnOutcome::Ready { url: prefix });
    }

    async fn record_started(&self, key: &ServerKey, started: &Started) -> HubResult<()> {
        {
            let _gate = self.user_gate(&key.user).await;
            let row = self.read().user(&key.user).and_then(|e| e.servers.get(&key.server)).map(|e| e.server.clone());
            let Some(mut row) = row else { return Err(HubError::NotFound("server vanished during spawn".into())) };
            row.url = Some(started.url.clone());
            row.state = started.state.clone();
            self.inner.store.save_server(&row).await?;
            let mut state = self.write();
            if let Some(slot) = state.user_mut(&key.user).and_then(|e| e.servers.get_mut(&key.server)) {
                slot.server = row;
                slot.phase = Phase::Spawning(SpawnStep::WaitingHttp);
                slot.resources = Some(started.resources.clone());
            }
        }
        let now = self.now();
        self.record_event(
            Some(key.user_id),
            &key.user,
            &key.server,
            ServerEventKind::Started,
            now,
            started.resources.clone(),
        )
        .await;
        Ok(())
    }

    fn set_phase(&self, key: &ServerKey, phase: Phase) {
        let mut state = self.write();
        if let Some(slot) = state.user_mut(&key.user).and_then(|e| e.servers.get_mut(&key.server)) {
            slot.phase = phase;
        }
    }

    /// Undoes a spawn that failed at `failure.step`: route (if one may have
    /// been added), the spawner's resources, credentials and the row's
    /// running state; records why, with the step, in the log, the event
    /// log, the progress stream and the spawn-duration metric.
    async fn fail_spawn(
        &self,
        key: &ServerKey,
        failure: SpawnFailed,
        progress: &crate::progress::ProgressLog,
        cancel: &CancellationToken,
        permit: SlotPermit,
    ) {
        if cancel.is_cancelled() {
            // A stop took over; it cleans up.
            return;
        }
        let SpawnFailed { step, message, began } = failure;
        tracing::warn!(user = %key.user, server = %key.server, step = step.as_str(), error = %message, "spawn failed");
        let prefix = self.inner.settings.layout.server_url(&key.user, &key.server);
        if matches!(step, SpawnStep::AddingRoute | SpawnStep::MarkingReady)
            && let Err(err) = self.proxy_delete_route(&prefix).await
        {
            tracing::warn!(error = %err, "could not remove route after failed spawn");
        }
        let state_json =
            self.read().user(&key.user).and_then(|e| e.servers.get(&key.server)).map(|e| e.server.state.clone());
        if let Err(err) =
            self.inner.spawner.stop(&key.user, &key.server, &state_json.unwrap_or(Value::Null), true).await
        {
            tracing::warn!(error = %err, "cleanup stop after failed spawn failed");
        }
        let now = self.now();
        let cleared = self.clear_server(key, now, None).await;
        if let Some(slot) = self.write().user_mut(&key.user).and_then(|e| e.servers.get_mut(&key.server)) {
            slot.last_failure = Some(SpawnFailure { message: message.clone(), at: now });
        }
        if let Ok(mut cancels) = self.inner.spawn_cancels.lock() {
            cancels.remove(&key.server_id);
        }
        self.record_event(
            Some(key.user_id),
            &key.user,
            &key.server,
            ServerEventKind::Failed,
            now,
            json!({"reason": message, "step": step.as_str()}),
        )
        .await;
        self.inner.metrics.spawn_finished("failure", step.as_str(), began.elapsed());
        // JupyterHub's wording first (clients match on it), then the step.
        progress.finish(SpawnOutcome::Failed { message: format!("Spawn failed: {message} (step: {step})") });
        // The spawn is over: its slot goes to the next in line now, even if
        // the database still has to catch up below.
        drop(permit);
        let failures = self.inner.consecutive_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let limit = self.inner.settings.consecutive_failure_limit;
        if limit > 0 && failures >= limit {
            tracing::error!(failures, "consecutive spawn failure limit reached; shutting down like JupyterHub");
            self.inner.shutdown.cancel();
        }
        if let Err(err) = cleared {
            // The database still says "spawning", so memory does too (nothing
            // is shown that is not persisted); retried until it takes.
            tracing::error!(user = %key.user, server = %key.server, error = %err,
                "could not record the failed spawn; retrying");
            if let Err(err) = self.clear_until_done(key, now, None).await {
                tracing::error!(user = %key.user, server = %key.server, error = %err, "gave up clearing the failed spawn");
            }
        }
    }

    /// [`Hub::clear_server`], retried with backoff while the database fails
    /// (a restarting PostgreSQL), until it takes or the hub shuts down.
    async fn clear_until_done(
        &self,
        key: &ServerKey,
        now: jhub_core::Timestamp,
        remove: Option<bool>,
    ) -> HubResult<()> {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.clear_server(key, now, remove).await {
                Err(HubError::Store(err)) if !err.is_conflict() && !err.is_not_found() => {
                    tracing::warn!(user = %key.user, server = %key.server, error = %err, retry_in = ?delay,
                        "could not record the stopped server; will retry");
                    tokio::select! {
                        _ = self.inner.shutdown.cancelled() => return Err(HubError::Store(err)),
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    }

    /// Marks a server stopped in the store and in memory, revoking its
    /// credentials. `remove` deletes the row too (named servers).
    async fn clear_server(&self, key: &ServerKey, now: jhub_core::Timestamp, remove: Option<bool>) -> HubResult<()> {
        let client_id = server_oauth_client_id(&key.user, &key.server);
        {
            let _gate = self.user_gate(&key.user).await;
            let row = self.read().user(&key.user).and_then(|e| e.servers.get(&key.server)).map(|e| e.server.clone());
            let remove = remove.unwrap_or(false);
            let Some(mut row) = row else { return Ok(()) };
            if !remove {
                row.started = None;
                row.url = None;
                row.pending = None;
                row.last_activity = Some(now);
            }
            // Client (and by cascade every token it issued) and the row: one
            // transaction.
            self.inner
                .store
                .write_stop(&StopWrite { client_id: client_id.clone(), server: row.clone(), remove })
                .await?;
            let mut state = self.write();
            state.oauth_clients.remove(&client_id);
            if let Some(entry) = state.user_mut(&key.user) {
                if remove {
                    entry.servers.remove(&key.server);
                } else if let Some(slot) = entry.servers.get_mut(&key.server) {
                    slot.server = row;
                    slot.phase = Phase::Stopped;
                }
                if entry.user.last_activity.is_none_or(|at| at < now) {
                    entry.user.last_activity = Some(now);
                }
            }
            state.reindex_user(key.user_id);
        }
        self.inner.identities.invalidate_client(&client_id);
        self.inner.activity.user(key.user_id, now);
        Ok(())
    }

    /// Stops a server. `remove` also deletes a named server.
    pub async fn stop(&self, user: &str, server: &str, remove: bool, reason: StopReason) -> HubResult<StopTicket> {
        if remove && server.is_empty() {
            return Err(HubError::Invalid("Cannot remove the default server".into()));
        }
        let (key, phase) = {
            let state = self.read();
            let entry = state.user(user).ok_or_else(|| Hub::not_found_user(user))?;
            match entry.servers.get(server) {
                Some(slot) => (
                    ServerKey {
                        user_id: entry.user.id,
                        user: user.to_string(),
                        server: server.to_string(),
                        server_id: slot.server.id,
                    },
                    slot.phase.clone(),
                ),
                None if server.is_empty() => return Ok(StopTicket::done()),
                None => return Err(HubError::NotFound(format!("{user} has no server named '{server}'"))),
            }
        };
        match phase {
            Phase::Stopped => {
                if remove {
                    let state_json = self
                        .read()
                        .user(user)
                        .and_then(|e| e.servers.get(server))
                        .map(|e| e.server.state.clone())
                        .unwrap_or(Value::Null);
                    let now = self.now();
                    self.clear_server(&key, now, Some(true)).await?;
                    if let Err(err) = self.inner.spawner.delete_forever(user, server, &state_json).await {
                        tracing::warn!(error = %err, "could not delete the server's resources");
                    }
                }
                return Ok(StopTicket::done());
            }
            Phase::Stopping => {
                // Already on its way; report "still stopping".
                let (_tx, rx) = watch::channel(None);
                return Ok(StopTicket { rx });
            }
            Phase::Spawning(_) | Phase::Running => {}
        }
        let now = self.now();
        {
            let _gate = self.user_gate(user).await;
            let row = self.read().user(user).and_then(|e| e.servers.get(server)).map(|e| e.server.clone());
            if let Some(mut row) = row {
                row.pending = Some(Pending::Stop);
                self.inner.store.save_server(&row).await?;
                let mut state = self.write();
                if let Some(slot) = state.user_mut(user).and_then(|e| e.servers.get_mut(server)) {
                    slot.server = row;
                    slot.phase = Phase::Stopping;
                }
            }
        }
        if let Some(cancel) = self.inner.spawn_cancels.lock().ok().and_then(|mut c| c.remove(&key.server_id)) {
            cancel.cancel();
            if let Some(slot) = self.read().user(user).and_then(|e| e.servers.get(server)) {
                slot.progress.finish(SpawnOutcome::Failed { message: "Spawn cancelled".into() });
            }
        }
        let detail = match &reason {
            StopReason::Culled { reason } => json!({"reason": reason}),
            other => json!({"reason": format!("{other:?}").to_lowercase()}),
        };
        let kind = if matches!(reason, StopReason::Culled { .. }) {
            ServerEventKind::Culled
        } else {
            ServerEventKind::StopRequested
        };
        self.record_event(Some(key.user_id), user, server, kind, now, detail).await;
        let (tx, rx) = watch::channel(None);
        let hub = self.clone();
        self.spawn_task(async move {
            let result = hub.run_stop(&key, remove).await;
            let _ = tx.send(Some(result));
        });
        Ok(StopTicket { rx })
    }

    async fn run_stop(&self, key: &ServerKey, remove: bool) -> Result<(), String> {
        let began = Instant::now();
        let prefix = self.inner.settings.layout.server_url(&key.user, &key.server);
        if let Err(err) = self.proxy_delete_route(&prefix).await {
            tracing::warn!(error = %err, route = %prefix, "could not remove route; the reconciler will retry");
        }
        let state_json = self
            .read()
            .user(&key.user)
            .and_then(|e| e.servers.get(&key.server))
            .map(|e| e.server.state.clone())
            .unwrap_or(Value::Null);
        let stopped = tokio::time::timeout(
            self.inner.settings.stop_timeout,
            self.inner.spawner.stop(&key.user, &key.server, &state_json, false),
        )
        .await;
        let outcome = match stopped {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("server did not stop within {} seconds", self.inner.settings.stop_timeout.as_secs())),
        };
        if let Err(message) = outcome {
            // Not gone: keep it running and routed so nothing is half-stopped.
            tracing::error!(user = %key.user, server = %key.server, error = %message, "stop failed; will retry");
            self.inner.metrics.stop_finished("failure", began.elapsed());
            // Persist and show "running again" under the user's lock, then
            // restore the route with no lock held: a hanging proxy must not
            // hold up anyone else's writes.
            let target = {
                let _gate = self.user_gate(&key.user).await;
                let row =
                    self.read().user(&key.user).and_then(|e| e.servers.get(&key.server)).map(|e| e.server.clone());
                match row {
                    Some(mut row) => {
                        row.pending = None;
                        if let Err(err) = self.inner.store.save_server(&row).await {
                            tracing::error!(error = %err, "could not record failed stop");
                        }
                        let running = row.url.is_some();
                        let target = row.url.clone();
                        let mut state = self.write();
                        if let Some(slot) = state.user_mut(&key.user).and_then(|e| e.servers.get_mut(&key.server)) {
                            slot.server = row;
                            slot.phase = if running { Phase::Running } else { Phase::Stopped };
                        }
                        state.reindex_user(key.user_id);
                        target
                    }
                    None => None,
                }
            };
            if let Some(target) = target {
                let mut data = serde_json::Map::new();
                data.insert("user".into(), Value::String(key.user.clone()));
                data.insert("server_name".into(), Value::String(key.server.clone()));
                if let Err(err) = self.proxy_add_route(&prefix, &target, data).await {
                    tracing::warn!(error = %err, "could not restore route after failed stop");
                }
            }
            return Err(message);
        }
        let now = self.now();
        if let Err(err) = self.clear_until_done(key, now, Some(remove)).await {
            return Err(err.to_string());
        }
        if remove && let Err(err) = self.inner.spawner.delete_forever(&key.user, &key.server, &state_json).await {
            tracing::warn!(error = %err, "could not delete the server's resources");
        }
        self.record_event(Some(key.user_id), &key.user, &key.server, ServerEventKind::Stopped, now, json!({})).await;
        self.inner.metrics.stop_finished("success", began.elapsed());
        tracing::info!(user = %key.user, server = %key.server, seconds = began.elapsed().as_secs_f64(), "server stopped");
        Ok(())
    }

    /// Checks every running server through the spawner (a local view, no API
    /// round trips) and cleans up the ones that went away.
    pub async fn poll_servers(&self) {
        let running: Vec<(ServerKey, Value)> = {
            let state = self.read();
            state
                .ready_users
                .iter()
                .filter_map(|id| state.users.get(id))
                .flat_map(|entry| {
                    entry.servers.values().filter(|s| s.ready()).map(move |s| {
                        (
                            ServerKey {
                                user_id: entry.user.id,
                                user: entry.user.name.clone(),
                                server: s.server.name.clone(),
                                server_id: s.server.id,
                            },
                            s.server.state.clone(),
                        )
                    })
                })
                .collect()
        };
        for (key, state_json) in running {
            match self.timed_poll(&key.user, &key.server, &state_json).await {
                Ok(PollStatus::Running) => {}
                Ok(PollStatus::Stopped { exit_code }) => {
                    tracing::warn!(user = %key.user, server = %key.server, ?exit_code, "server went away; cleaning up");
                    self.vanished(&key, exit_code).await;
                }
                Err(err) => tracing::warn!(user = %key.user, error = %err, "poll failed"),
            }
        }
    }

    async fn vanished(&self, key: &ServerKey, exit_code: Option<i32>) {
        let still_ready =
            self.read().user(&key.user).and_then(|e| e.servers.get(&key.server)).is_some_and(|s| s.ready());
        if !still_ready {
            return;
        }
        let prefix = self.inner.settings.layout.server_url(&key.user, &key.server);
        if let Err(err) = self.proxy_delete_route(&prefix).await {
            tracing::warn!(error = %err, "could not remove route of vanished server");
        }
        let now = self.now();
        if let Err(err) = self.clear_server(key, now, None).await {
            tracing::error!(error = %err, "could not record vanished server");
            return;
        }
        self.record_event(
            Some(key.user_id),
            &key.user,
            &key.server,
            ServerEventKind::Stopped,
            now,
            json!({"reason": "exited", "exit_code": exit_code}),
        )
        .await;
    }

    /// After a restart: keep servers the spawner still runs, clear the rest.
    pub(crate) async fn adopt_servers(&self) {
        let candidates: Vec<(ServerKey, Server)> = {
            let state = self.read();
            state
                .users
                .values()
                .flat_map(|entry| {
                    entry.servers.values().filter(|s| s.server.url.is_some() || s.server.pending.is_some()).map(
                        move |s| {
                            (
                                ServerKey {
                                    user_id: entry.user.id,
                                    user: entry.user.name.clone(),
                                    server: s.server.name.clone(),
                                    server_id: s.server.id,
                                },
                                s.server.clone(),
                            )
                        },
                    )
                })
                .collect()
        };
        for (key, row) in candidates {
            let status = match self.timed_poll(&key.user, &key.server, &row.state).await {
                Ok(status) => status,
                Err(err) => {
                    // The cluster could not be asked (API server down, RBAC):
                    // keep the record so the pod is not orphaned; the poll
                    // loop decides later.
                    tracing::warn!(user = %key.user, server = %key.server, error = %err,
                        "could not check server at startup; keeping it as it was");
                    continue;
                }
            };
            let keep = status == PollStatus::Running && row.url.is_some();
            if keep {
                if row.pending.is_some() {
                    let mut fixed = row.clone();
                    fixed.pending = None;
                    if let Err(err) = self.inner.store.save_server(&fixed).await {
                        tracing::error!(error = %err, "could not re-adopt server");
                        continue;
                    }
                    let mut state = self.write();
                    if let Some(slot) = state.user_mut(&key.user).and_then(|e| e.servers.get_mut(&key.server)) {
                        slot.server = fixed;
                        slot.phase = Phase::Running;
                    }
                    state.reindex_user(key.user_id);
                }
                self.reload_resources(&key, &row).await;
                let pod_started = self.inner.spawner.started_at(&key.user, &key.server, &row.state).await;
                let detail = json!({"pod_started": pod_started.map(jhub_core::time::isoformat)});
                let now = self.now();
                self.record_event(Some(key.user_id), &key.user, &key.server, ServerEventKind::Adopted, now, detail)
                    .await;
                tracing::info!(user = %key.user, server = %key.server, "re-adopted running server");
            } else {
                if status == PollStatus::Running {
                    // Running but we never learnt where: stop it rather than leak it.
                    if let Err(err) = self.inner.spawner.stop(&key.user, &key.server, &row.state, true).await {
                        tracing::warn!(error = %err, "could not stop unadoptable server");
                    }
                }
                let now = self.now();
                if let Err(err) = self.clear_server(&key, now, None).await {
                    tracing::error!(error = %err, "could not clear stale server");
                }
                if row.url.is_some() {
                    // It ran when the hub went down: close its usage session.
                    let detail = json!({"reason": "gone at hub start"});
                    self.record_event(Some(key.user_id), &key.user, &key.server, ServerEventKind::Stopped, now, detail)
                        .await;
                }
                tracing::info!(user = %key.user, server = %key.server, "server no longer running; cleared");
            }
        }
    }

    pub(crate) async fn record_event(
        &self,
        user_id: Option<i64>,
        user: &str,
        server: &str,
        kind: ServerEventKind,
        at: jhub_core::Timestamp,
        detail: Value,
    ) {
        let detail = self.usage_detail(user, server, kind, detail);
        let event =
            NewServerEvent { user_id, user_name: user.to_string(), server_name: server.to_string(), kind, at, detail };
        if let Err(err) = self.inner.store.append_event(&event).await {
            tracing::warn!(error = %err, ?kind, "could not append to the server event log");
        }
        // Counted even when the write failed: memory is what reports read,
        // and the hub did run the server.
        self.apply_usage_event(user, server, kind, at, &event.detail);
    }
}

fn display(user: &str, server: &str) -> String {
    if server.is_empty() { user.to_string() } else { format!("{user}:{server}") }
}

/// Polls `GET <url><prefix>api` until any status below 500 (JupyterHub's
/// `wait_for_http_server`: 404 counts as up; redirects are not followed).
pub(crate) async fn wait_for_http(url: &str, prefix: &str, timeout: Duration) -> Result<(), String> {
    let target = format!("{}{}api", url.trim_end_matches('/'), prefix);
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(client) => client,
        Err(err) => return Err(format!("could not build HTTP client: {err}")),
    };
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(20);
    loop {
        let last_error = match client.get(&target).send().await {
            Ok(response) if response.status().as_u16() < 500 => return Ok(()),
            Ok(response) => format!("HTTP {}", response.status()),
            Err(err) => err.to_string(),
        };
        if Instant::now() + delay > deadline {
            return Err(format!(
                "server at {target} did not respond within {} seconds ({last_error})",
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

/// Tokens owned by a server row are identified by their client.
pub(crate) fn is_server_token(token: &ApiToken) -> bool {
    token.client_id.starts_with("jupyterhub-user-")
        && token.note.as_deref().is_some_and(|n| n.starts_with("Server at "))
}
