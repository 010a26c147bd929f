//! The lifecycle of one server as an explicit state machine.
//!
//! JupyterHub's order (jupyterhub-compat §7.2, §7.4): a spawn creates the
//! server's token and OAuth client, calls the spawner, waits for the server
//! to answer HTTP, then adds the proxy route; any failure stops what was
//! started. A stop removes the route first, then stops the server, then
//! revokes the server's credentials. The hub drives I/O; this module only
//! says what is allowed next and which effects to run.

use crate::model::{Pending, ServerEventKind};

/// Where a server is in its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Stopped,
    /// `pending = "spawn"` until the route is added.
    Spawning(SpawnStep),
    /// Ready: running and routed.
    Running,
    /// `pending = "stop"`.
    Stopping,
}

/// Steps inside a spawn; a failed spawn names the step it failed at (in
/// logs, the event log, the progress stream and metric labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnStep {
    /// Waiting in the spawn queue for a slot (`concurrent_spawn_limit`).
    Queued,
    /// Waiting for the spawner's `start` to return.
    Starting,
    /// The spawner returned; persisting where the server runs.
    RecordingStart,
    /// The spawner returned a URL; waiting for the server to answer HTTP.
    WaitingHttp,
    /// The server answers; adding the proxy route.
    AddingRoute,
    /// Routed; persisting "ready".
    MarkingReady,
}

impl SpawnStep {
    /// A stable label (metric label values, event details).
    pub fn as_str(self) -> &'static str {
        match self {
            SpawnStep::Queued => "queued",
            SpawnStep::Starting => "starting",
            SpawnStep::RecordingStart => "recording_start",
            SpawnStep::WaitingHttp => "waiting_http",
            SpawnStep::AddingRoute => "adding_route",
            SpawnStep::MarkingReady => "marking_ready",
        }
    }
}

impl std::fmt::Display for SpawnStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    SpawnRequested,
    SpawnerStarted {
        url: String,
    },
    HttpReady,
    RouteAdded,
    SpawnFailed {
        reason: String,
    },
    StopRequested,
    StopFinished,
    /// The spawner reports the server gone without a stop request.
    Vanished,
    /// A restarted hub found the server running (re-adoption).
    Adopted,
}

/// I/O the hub must perform after a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    IssueCredentials,
    CallSpawnerStart,
    WaitForHttp { url: String },
    AddRoute,
    RemoveRoute,
    CallSpawnerStop,
    RevokeCredentials,
    ClearRunningState,
    Record(ServerEventKind),
}

/// A transition the lifecycle does not allow, phrased for API errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("server is already running")]
    AlreadyRunning,
    #[error("server is already starting")]
    AlreadyPending,
    #[error("server is pending stop")]
    PendingStop,
    #[error("event {event} is not expected while {phase}")]
    Unexpected { phase: &'static str, event: &'static str },
}

impl Phase {
    /// The `pending` value JupyterHub would report.
    pub fn pending(&self) -> Option<Pending> {
        match self {
            Phase::Spawning(_) => Some(Pending::Spawn),
            Phase::Stopping => Some(Pending::Stop),
            Phase::Stopped | Phase::Running => None,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Phase::Stopped => "stopped",
            Phase::Spawning(_) => "spawning",
            Phase::Running => "running",
            Phase::Stopping => "stopping",
        }
    }
}

fn event_name(event: &Event) -> &'static str {
    match event {
        Event::SpawnRequested => "spawn-requested",
        Event::SpawnerStarted { .. } => "spawner-started",
        Event::HttpReady => "http-ready",
        Event::RouteAdded => "route-added",
        Event::SpawnFailed { .. } => "spawn-failed",
        Event::StopRequested => "stop-requested",
        Event::StopFinished => "stop-finished",
        Event::Vanished => "vanished",
        Event::Adopted => "adopted",
    }
}

/// Applies `event` to `phase`.
pub fn step(phase: &Phase, event: Event) -> Result<(Phase, Vec<Effect>), TransitionError> {
    use Effect::*;
    use Phase::*;
    let unexpected =
        |phase: &Phase, event: &Event| TransitionError::Unexpected { phase: phase.name(), event: event_name(event) };
    Ok(match (phase, &event) {
        (Stopped, Event::SpawnRequested) => (
            Spawning(SpawnStep::Starting),
            vec![Record(ServerEventKind::SpawnRequested), IssueCredentials, CallSpawnerStart],
        ),
        (Running, Event::SpawnRequested) => return Err(TransitionError::AlreadyRunning),
        (Spawning(_), Event::SpawnRequested) => return Err(TransitionError::AlreadyPending),
        (Stopping, Event::SpawnRequested) => return Err(TransitionError::PendingStop),

        (Spawning(SpawnStep::Starting), Event::SpawnerStarted { url }) => {
            (Spawning(SpawnStep::WaitingHttp), vec![Record(ServerEventKind::Started), WaitForHttp { url: url.clone() }])
        }
        (Spawning(SpawnStep::WaitingHttp), Event::HttpReady) => (Spawning(SpawnStep::AddingRoute), vec![AddRoute]),
        (Spawning(SpawnStep::AddingRoute), Event::RouteAdded) => (Running, vec![Record(ServerEventKind::Ready)]),
        (Spawning(step), Event::SpawnFailed { .. }) => {
            let mut effects = vec![Record(ServerEventKind::Failed)];
            if *step != SpawnStep::Starting {
                effects.push(RemoveRoute);
            }
            effects.extend([CallSpawnerStop, RevokeCredentials, ClearRunningState]);
            (Stopped, effects)
        }
        // Stopping a spawn in flight cancels it, then stops like a running server.
        (Spawning(_) | Running, Event::StopRequested) => {
            (Stopping, vec![Record(ServerEventKind::StopRequested), RemoveRoute, CallSpawnerStop])
        }
        (Stopping, Event::StopRequested) => (Stopping, vec![]),
        (Stopped, Event::StopRequested) => (Stopped, vec![]),
        (Stopping, Event::StopFinished) => {
            (Stopped, vec![RevokeCredentials, ClearRunningState, Record(ServerEventKind::Stopped)])
        }
        (Running, Event::Vanished) => {
            (Stopped, vec![RemoveRoute, RevokeCredentials, ClearRunningState, Record(ServerEventKind::Stopped)])
        }
        (Stopped, Event::Adopted) => (Running, vec![AddRoute]),
        (Running, Event::Adopted) => (Running, vec![]),
        _ => return Err(unexpected(phase, &event)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn happy_path_orders_effects_like_jupyterhub() {
        let (phase, effects) = step(&Phase::Stopped, Event::SpawnRequested).unwrap();
        assert_eq!(phase.pending(), Some(Pending::Spawn));
        assert_eq!(
            effects,
            vec![Effect::Record(ServerEventKind::SpawnRequested), Effect::IssueCredentials, Effect::CallSpawnerStart]
        );
        let (phase, effects) = step(&phase, Event::SpawnerStarted { url: "http://10.0.0.5:8888".into() }).unwrap();
        assert!(effects.contains(&Effect::WaitForHttp { url: "http://10.0.0.5:8888".into() }));
        let (phase, effects) = step(&phase, Event::HttpReady).unwrap();
        assert_eq!(effects, vec![Effect::AddRoute]);
        let (phase, _) = step(&phase, Event::RouteAdded).unwrap();
        assert_eq!(phase, Phase::Running);
        assert_eq!(phase.pending(), None);
        let (phase, effects) = step(&phase, Event::StopRequested).unwrap();
        // The route goes first so no request reaches a dying server.
        assert_eq!(effects[1..], [Effect::RemoveRoute, Effect::CallSpawnerStop]);
        let (phase, effects) = step(&phase, Event::StopFinished).unwrap();
        assert_eq!(phase, Phase::Stopped);
        assert_eq!(effects[0], Effect::RevokeCredentials);
    }

    #[test]
    fn failures_clean_up() {
        let (_, effects) =
            step(&Phase::Spawning(SpawnStep::Starting), Event::SpawnFailed { reason: "x".into() }).unwrap();
        assert!(!effects.contains(&Effect::RemoveRoute));
        assert!(effects.contains(&Effect::CallSpawnerStop) && effects.contains(&Effect::RevokeCredentials));
        let (_, effects) =
            step(&Phase::Spawning(SpawnStep::AddingRoute), Event::SpawnFailed { reason: "x".into() }).unwrap();
        assert!(effects.contains(&Effect::RemoveRoute));
    }

    #[test]
    fn refuses_double_spawn_and_out_of_order_events() {
        assert_eq!(step(&Phase::Running, Event::SpawnRequested), Err(TransitionError::AlreadyRunning));
        assert_eq!(
            step(&Phase::Spawning(SpawnStep::Starting), Event::SpawnRequested),
            Err(TransitionError::AlreadyPending)
        );
        assert_eq!(step(&Phase::Stopping, Event::SpawnRequested), Err(TransitionError::PendingStop));
        assert!(step(&Phase::Stopped, Event::HttpReady).is_err());
        assert!(step(&Phase::Spawning(SpawnStep::Starting), Event::RouteAdded).is_err());
    }

    #[test]
    fn stop_is_idempotent_and_vanish_cleans_up() {
        assert_eq!(step(&Phase::Stopped, Event::StopRequested).unwrap(), (Phase::Stopped, vec![]));
        assert_eq!(step(&Phase::Stopping, Event::StopRequested).unwrap(), (Phase::Stopping, vec![]));
        let (phase, effects) = step(&Phase::Running, Event::Vanished).unwrap();
        assert_eq!(phase, Phase::Stopped);
        assert_eq!(effects[0], Effect::RemoveRoute);
    }
}
