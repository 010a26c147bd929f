//! The cull decision, equal to jupyterhub-idle-culler 2.0's for the same
//! state (auth-culler-proxy §2.3), as pure functions of `now`.
//!
//! Servers: pending or not-ready ones are skipped; idle means
//! `now - last_activity >= timeout` (falling back to the start time); the
//! idle path honours the default/named switches; max age applies regardless
//! of activity and of those switches. Users: only when user culling is on and
//! no server is left; idle against `last_activity` (falling back to
//! `created`), admins spared on the idle path unless `cull_admin_users`, max
//! age regardless of the admin flag.

use crate::model::Pending;
use crate::time::Timestamp;
use std::time::Duration;

/// z2jh's `cull:` block, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CullPolicy {
    pub timeout: Duration,
    /// Sweep interval (z2jh `cull.every`, default `timeout / 2`).
    pub every: Duration,
    /// Zero disables the max-age rule.
    pub max_age: Duration,
    pub cull_users: bool,
    pub cull_admin_users: bool,
    pub remove_named_servers: bool,
    pub cull_default_servers: bool,
    pub cull_named_servers: bool,
    /// Concurrent stops per sweep.
    pub concurrency: usize,
}

impl Default for CullPolicy {
    /// z2jh's defaults: timeout 3600 s, every 600 s, no max age.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(3600),
            every: Duration::from_secs(600),
            max_age: Duration::ZERO,
            cull_users: false,
            cull_admin_users: true,
            remove_named_servers: false,
            cull_default_servers: true,
            cull_named_servers: true,
            concurrency: 10,
        }
    }
}

/// What the decision needs to know about a server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerFacts<'a> {
    pub name: &'a str,
    pub ready: bool,
    pub pending: Option<Pending>,
    pub started: Option<Timestamp>,
    pub last_activity: Option<Timestamp>,
}

/// What the decision needs to know about a user.
#[derive(Debug, Clone, PartialEq)]
pub struct UserFacts {
    pub admin: bool,
    pub created: Timestamp,
    pub last_activity: Option<Timestamp>,
}

/// Why something is culled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CullReason {
    /// Inactive for this many seconds.
    Idle { inactive_secs: u64 },
    /// Older than the max age, this many seconds.
    MaxAge { age_secs: u64 },
}

impl CullReason {
    pub fn label(&self) -> &'static str {
        match self {
            CullReason::Idle { .. } => "idle",
            CullReason::MaxAge { .. } => "max_age",
        }
    }
}

impl std::fmt::Display for CullReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CullReason::Idle { inactive_secs } => write!(f, "inactive for {}", hms(*inactive_secs)),
            CullReason::MaxAge { age_secs } => write!(f, "age {} exceeds the maximum", hms(*age_secs)),
        }
    }
}

/// `HH:MM:SS` like the culler's log lines.
pub fn hms(secs: u64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60)
}

/// Whole seconds from `from` to `now`; negative spans (clock skew) count as 0.
fn elapsed_secs(now: Timestamp, from: Timestamp) -> u64 {
    let span = now.as_microsecond().saturating_sub(from.as_microsecond());
    u64::try_from(span.max(0)).unwrap_or(0) / 1_000_000
}

/// Whether to stop this server now, and why.
pub fn server_decision(now: Timestamp, server: &ServerFacts<'_>, policy: &CullPolicy) -> Option<CullReason> {
    if server.pending.is_some() || !server.ready {
        return None;
    }
    let age = server.started.map(|started| elapsed_secs(now, started));
    let inactive = server.last_activity.map(|at| elapsed_secs(now, at)).or(age);
    let kind_enabled = if server.name.is_empty() { policy.cull_default_servers } else { policy.cull_named_servers };
    if let Some(inactive_secs) = inactive
        && kind_enabled
        && at_least_exact(now, server.last_activity.or(server.started), policy.timeout)
    {
        return Some(CullReason::Idle { inactive_secs });
    }
    if !policy.max_age.is_zero()
        && let (Some(age_secs), Some(started)) = (age, server.started)
        && at_least_exact(now, Some(started), policy.max_age)
    {
        return Some(CullReason::MaxAge { age_secs });
    }
    None
}

/// `now - since >= limit`, with microsecond precision like the culler's
/// `timedelta.total_seconds() >= limit`.
fn at_least_exact(now: Timestamp, since: Option<Timestamp>, limit: Duration) -> bool {
    let Some(since) = since else { return false };
    let span = i128::from(now.as_microsecond()) - i128::from(since.as_microsecond());
    span >= i128::try_from(limit.as_micros()).unwrap_or(i128::MAX)
}

/// Whether to delete this user now (only called when user culling is on and
/// the user has no servers left).
pub fn user_decision(now: Timestamp, user: &UserFacts, policy: &CullPolicy) -> Option<CullReason> {
    if !policy.cull_users {
        return None;
    }
    let since = user.last_activity.unwrap_or(user.created);
    let inactive_secs = elapsed_secs(now, since);
    if at_least_exact(now, Some(since), policy.timeout) && (policy.cull_admin_users || !user.admin) {
        return Some(CullReason::Idle { inactive_secs });
    }
    if !policy.max_age.is_zero() && at_least_exact(now, Some(user.created), policy.max_age) {
        return Some(CullReason::MaxAge { age_secs: elapsed_secs(now, user.created) });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn policy() -> CullPolicy {
        CullPolicy { timeout: Duration::from_secs(600), max_age: Duration::from_secs(172_800), ..Default::default() }
    }

    fn server(last_activity: Option<i64>, started: i64) -> ServerFacts<'static> {
        ServerFacts {
            name: "",
            ready: true,
            pending: None,
            started: Some(t(started)),
            last_activity: last_activity.map(t),
        }
    }

    #[test]
    fn idle_boundary_is_inclusive() {
        let now = t(10_000);
        assert_eq!(
            server_decision(now, &server(Some(10_000 - 600), 0), &policy()),
            Some(CullReason::Idle { inactive_secs: 600 })
        );
        assert_eq!(server_decision(now, &server(Some(10_000 - 599), 0), &policy()), None);
        let just_short = ServerFacts {
            last_activity: Some(Timestamp::from_microsecond(t(10_000 - 600).as_microsecond() + 1).unwrap()),
            ..server(None, 0)
        };
        assert_eq!(server_decision(now, &just_short, &policy()), None);
    }

    #[test]
    fn missing_activity_falls_back_to_started() {
        let now = t(10_000);
        assert_eq!(
            server_decision(now, &server(None, 10_000 - 700), &policy()),
            Some(CullReason::Idle { inactive_secs: 700 })
        );
        assert_eq!(server_decision(now, &server(None, 10_000 - 100), &policy()), None);
    }

    #[test]
    fn pending_and_not_ready_are_skipped() {
        let now = t(100_000);
        let pending = ServerFacts { pending: Some(Pending::Stop), ..server(Some(0), 0) };
        assert_eq!(server_decision(now, &pending, &policy()), None);
        let not_ready = ServerFacts { ready: false, ..server(Some(0), 0) };
        assert_eq!(server_decision(now, &not_ready, &policy()), None);
    }

    #[test]
    fn max_age_wins_over_activity_and_switches() {
        let now = t(200_000);
        let active_old = server(Some(200_000 - 5), 200_000 - 172_800);
        assert_eq!(server_decision(now, &active_old, &policy()), Some(CullReason::MaxAge { age_secs: 172_800 }));
        let young = server(Some(200_000 - 5), 200_000 - 172_799);
        assert_eq!(server_decision(now, &young, &policy()), None);
        let no_default = CullPolicy { cull_default_servers: false, ..policy() };
        let idle_default = server(Some(0), 200_000 - 1000);
        assert_eq!(server_decision(now, &idle_default, &no_default), None);
        assert_eq!(server_decision(now, &active_old, &no_default), Some(CullReason::MaxAge { age_secs: 172_800 }));
        let off = CullPolicy { max_age: Duration::ZERO, ..policy() };
        assert_eq!(server_decision(now, &active_old, &off), None);
    }

    #[test]
    fn named_servers_follow_their_switch() {
        let now = t(10_000);
        let named = ServerFacts { name: "gpu", ..server(Some(0), 0) };
        assert!(server_decision(now, &named, &policy()).is_some());
        let off = CullPolicy { cull_named_servers: false, ..policy() };
        assert_eq!(server_decision(now, &named, &off), None);
    }

    #[test]
    fn users() {
        let now = t(10_000);
        let on = CullPolicy { cull_users: true, ..policy() };
        let idle = UserFacts { admin: false, created: t(0), last_activity: Some(t(10_000 - 600)) };
        assert_eq!(user_decision(now, &idle, &on), Some(CullReason::Idle { inactive_secs: 600 }));
        assert_eq!(user_decision(now, &idle, &policy()), None, "user culling off");
        let admin = UserFacts { admin: true, ..idle.clone() };
        assert!(user_decision(now, &admin, &on).is_some(), "admins culled by default");
        let spare = CullPolicy { cull_admin_users: false, ..on.clone() };
        assert_eq!(user_decision(now, &admin, &spare), None);
        let never_active = UserFacts { admin: false, created: t(10_000 - 601), last_activity: None };
        assert!(user_decision(now, &never_active, &on).is_some());
        let old_admin = UserFacts { admin: true, created: t(10_000 - 172_800), last_activity: Some(t(9_999)) };
        assert_eq!(user_decision(now, &old_admin, &spare), Some(CullReason::MaxAge { age_secs: 172_800 }));
    }

    #[test]
    fn formats_durations() {
        assert_eq!(hms(9000), "02:30:00");
        assert_eq!(CullReason::Idle { inactive_secs: 34 }.to_string(), "inactive for 00:00:34");
    }
}
