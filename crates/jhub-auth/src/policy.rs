//! Pure decisions: username normalisation, the static part of the allow/deny
//! order (auth-culler-proxy §1.7), GitLab version gating (§1.8) and when a
//! refresh must renew the token or re-check membership. No I/O, time passed in.

use crate::authenticator::RefreshReason;
use jhub_core::Timestamp;
use std::collections::BTreeSet;
use std::time::Duration;

/// JupyterHub's `normalize_username` without `username_map`: lower-cased.
pub fn normalize_username(raw: &str) -> String {
    raw.to_lowercase()
}

/// `Authenticator.username_map` and `username_pattern`, which JupyterHub's
/// base `Authenticator` applies for every authenticator: the name the
/// login produced is lower-cased, then mapped; a mapped name that does not
/// match the pattern (Python `re.match`: anchored at the start only) is
/// refused.
#[derive(Debug, Clone, Default)]
pub struct UsernameRules {
    map: std::collections::BTreeMap<String, String>,
    pattern: Option<regex::Regex>,
}

impl UsernameRules {
    /// `Err` names what is wrong with the pattern.
    pub fn new(map: std::collections::BTreeMap<String, String>, pattern: Option<&str>) -> Result<Self, String> {
        let pattern = match pattern.filter(|p| !p.is_empty()) {
            Some(p) => Some(
                regex::Regex::new(&format!("^(?:{p})"))
                    .map_err(|e| format!("{p:?} is not a regular expression: {e}"))?,
            ),
            None => None,
        };
        Ok(Self { map, pattern })
    }

    /// JupyterHub's `normalize_username`: lower-cased, then `username_map`.
    pub fn normalize(&self, raw: &str) -> String {
        let lowered = normalize_username(raw);
        self.map.get(&lowered).cloned().unwrap_or(lowered)
    }

    /// `validate_username`'s pattern part.
    pub fn matches_pattern(&self, name: &str) -> bool {
        self.pattern.as_ref().is_none_or(|p| p.is_match(name))
    }
}

/// The name lists and switches shared by every authenticator
/// (`Authenticator.admin_users`, `allowed_users`, `blocked_users`,
/// `allow_all`, `allow_existing_users`). Names are normalised on construction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessRules {
    pub admin_users: BTreeSet<String>,
    pub allowed_users: BTreeSet<String>,
    pub blocked_users: BTreeSet<String>,
    pub allow_all: bool,
    pub allow_existing_users: bool,
}

impl AccessRules {
    /// Normalises every configured name, as JupyterHub does at startup.
    pub fn normalized(mut self) -> Self {
        let norm = |set: BTreeSet<String>| set.iter().map(|n| normalize_username(n.trim())).collect();
        self.admin_users = norm(std::mem::take(&mut self.admin_users));
        self.allowed_users = norm(std::mem::take(&mut self.allowed_users));
        self.blocked_users = norm(std::mem::take(&mut self.blocked_users));
        self
    }
}

/// `Authenticator.manage_groups` and OAuthenticator 17's `allowed_groups`
/// and `admin_groups` (auth-culler-proxy §1.10). These are hub groups,
/// independent of GitLab's `allowed_gitlab_groups`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupRules {
    pub manage_groups: bool,
    pub allowed_groups: BTreeSet<String>,
    pub admin_groups: BTreeSet<String>,
}

impl GroupRules {
    /// `admin_groups` decides admin: `Some(in admin_users or in an admin
    /// group)` when configured (so leaving the group revokes admin, as
    /// upstream), `None` otherwise (the hub keeps its current flag).
    pub fn admin(&self, access: &AccessRules, name: &str, groups: &BTreeSet<String>) -> Option<bool> {
        if !self.manage_groups || self.admin_groups.is_empty() {
            return access.admin_users.contains(name).then_some(true);
        }
        Some(access.admin_users.contains(name) || groups.iter().any(|g| self.admin_groups.contains(g)))
    }
}

/// The groups at a dotted path of auth_state (`auth_state_groups_key`, e.g.
/// `gitlab_user.groups`), as `reduce(dict.get, key.split("."), auth_state)`:
/// a missing key or a non-list gives no groups; non-string items are skipped.
pub fn groups_at(auth_state: &serde_json::Value, key: &str) -> BTreeSet<String> {
    let mut node = Some(auth_state);
    for part in key.split('.') {
        node = node.and_then(|n| n.get(part));
    }
    match node {
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => BTreeSet::new(),
    }
}

/// Why a user was let in (for logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowReason {
    AllowAll,
    Admin,
    AllowedUser,
    ExistingUser,
    /// A hub group (`allowed_groups`, `manage_groups`).
    AllowedGroup(String),
    /// A hub group in `admin_groups`.
    AdminGroup(String),
    GitLabGroup(String),
    GitLabProject(u64),
}

/// The outcome of the name-only rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaticDecision {
    /// `blocked_users` wins over everything, admins included.
    Blocked,
    Allowed(AllowReason),
    /// Only provider membership (groups, projects) can still allow the user.
    CheckMembership,
}

/// The static part of the order JupyterHub + OAuthenticator execute:
/// blocked_users, allow_all, admin_users, allowed_users (with existing users
/// added when `allow_existing_users`), then membership.
pub fn static_decision(rules: &AccessRules, name: &str, exists: bool) -> StaticDecision {
    decision_with_groups(rules, &GroupRules::default(), name, exists, &BTreeSet::new())
}

/// [`static_decision`] with the user's hub groups (OAuthenticator 17
/// `check_allowed`): admins — from `admin_users` or, with `manage_groups`,
/// `admin_groups` — are allowed before `allowed_users`; `allowed_groups`
/// come after the name rules and before the provider's own checks.
pub fn decision_with_groups(
    rules: &AccessRules,
    group_rules: &GroupRules,
    name: &str,
    exists: bool,
    groups: &BTreeSet<String>,
) -> StaticDecision {
    let managed = |set: &BTreeSet<String>| {
        if group_rules.manage_groups { groups.iter().find(|g| set.contains(*g)).cloned() } else { None }
    };
    if rules.blocked_users.contains(name) {
        StaticDecision::Blocked
    } else if rules.allow_all {
        StaticDecision::Allowed(AllowReason::AllowAll)
    } else if rules.admin_users.contains(name) {
        StaticDecision::Allowed(AllowReason::Admin)
    } else if let Some(group) = managed(&group_rules.admin_groups) {
        StaticDecision::Allowed(AllowReason::AdminGroup(group))
    } else if rules.allowed_users.contains(name) {
        StaticDecision::Allowed(AllowReason::AllowedUser)
    } else if rules.allow_existing_users && exists {
        StaticDecision::Allowed(AllowReason::ExistingUser)
    } else if let Some(group) = managed(&group_rules.allowed_groups) {
        StaticDecision::Allowed(AllowReason::AllowedGroup(group))
    } else {
        StaticDecision::CheckMembership
    }
}

/// Whether a GitLab version string (`"17.5.1-ee"`) has `members/all` (12.4+).
/// Unreadable versions are assumed current: every supported GitLab has it.
pub fn gitlab_has_members_all(version: &str) -> bool {
    let numbers: Vec<u64> =
        version.split(['-', '+']).next().unwrap_or_default().split('.').map_while(|p| p.parse().ok()).collect();
    match numbers.as_slice() {
        [major, minor, ..] => (*major, *minor) >= (12, 4),
        [major] => *major > 12,
        [] => true,
    }
}

/// What a refresh has to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPlan {
    /// Use the refresh token to get a new access token.
    pub renew_token: bool,
    /// Ask GitLab who the token belongs to and, when membership decides
    /// access, whether they are still a member.
    pub recheck: bool,
}

/// Timing knobs of [`plan_refresh`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshTiming {
    /// Renew the access token when it expires within this margin.
    pub token_margin: Duration,
    /// Re-check at most this often per user on ordinary requests.
    pub recheck_interval: Duration,
}

/// Decides what a refresh must do. `expires_at` is the access token's
/// expiry when known (GitLab: `created_at + expires_in`), `last_check` the
/// last successful check of this user in this process.
pub fn plan_refresh(
    now: Timestamp,
    expires_at: Option<Timestamp>,
    last_check: Option<Timestamp>,
    reason: RefreshReason,
    timing: RefreshTiming,
) -> RefreshPlan {
    let within = |deadline: Timestamp, margin: Duration| {
        let margin = jiff::SignedDuration::try_from(margin).unwrap_or(jiff::SignedDuration::MAX);
        now.checked_add(margin).map_or(true, |shifted| shifted >= deadline)
    };
    let near_expiry = expires_at.is_some_and(|deadline| within(deadline, timing.token_margin));
    let check_due = match last_check {
        None => true,
        Some(at) => {
            let next = at.checked_add(
                jiff::SignedDuration::try_from(timing.recheck_interval).unwrap_or(jiff::SignedDuration::MAX),
            );
            next.is_ok_and(|next| now >= next)
        }
    };
    match reason {
        RefreshReason::PreSpawn => RefreshPlan { renew_token: true, recheck: true },
        RefreshReason::Forced => RefreshPlan { renew_token: near_expiry, recheck: true },
        RefreshReason::Request => RefreshPlan { renew_token: near_expiry, recheck: check_due },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> AccessRules {
        AccessRules {
            admin_users: ["Root".to_string(), "both".to_string()].into(),
            allowed_users: ["friend".to_string()].into(),
            blocked_users: ["both".to_string(), "Evil".to_string()].into(),
            allow_all: false,
            allow_existing_users: false,
        }
        .normalized()
    }

    #[test]
    fn blocked_beats_admin_and_admins_are_always_allowed() {
        let r = rules();
        assert_eq!(static_decision(&r, "both", false), StaticDecision::Blocked);
        assert_eq!(static_decision(&r, "evil", false), StaticDecision::Blocked);
        assert_eq!(static_decision(&r, "root", false), StaticDecision::Allowed(AllowReason::Admin));
        assert_eq!(static_decision(&r, "friend", false), StaticDecision::Allowed(AllowReason::AllowedUser));
        assert_eq!(static_decision(&r, "stranger", true), StaticDecision::CheckMembership);
    }

    #[test]
    fn allow_all_and_existing_users() {
        let mut r = rules();
        r.allow_existing_users = true;
        assert_eq!(static_decision(&r, "old", true), StaticDecision::Allowed(AllowReason::ExistingUser));
        assert_eq!(static_decision(&r, "new", false), StaticDecision::CheckMembership);
        r.allow_all = true;
        assert_eq!(static_decision(&r, "anyone", false), StaticDecision::Allowed(AllowReason::AllowAll));
        assert_eq!(static_decision(&r, "both", false), StaticDecision::Blocked, "blocked still wins");
    }

    #[test]
    fn hub_groups_allow_and_make_admins_only_with_manage_groups() {
        let r = rules();
        let g = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<String>>();
        let mut gr =
            GroupRules { manage_groups: true, allowed_groups: g(&["lab/gpu"]), admin_groups: g(&["lab/admins"]) };
        assert_eq!(
            decision_with_groups(&r, &gr, "ann", false, &g(&["lab", "lab/gpu"])),
            StaticDecision::Allowed(AllowReason::AllowedGroup("lab/gpu".into()))
        );
        assert_eq!(decision_with_groups(&r, &gr, "ann", false, &g(&["lab"])), StaticDecision::CheckMembership);
        assert_eq!(
            decision_with_groups(&r, &gr, "bob", false, &g(&["lab/admins"])),
            StaticDecision::Allowed(AllowReason::AdminGroup("lab/admins".into()))
        );
        assert_eq!(decision_with_groups(&r, &gr, "both", false, &g(&["lab/admins"])), StaticDecision::Blocked);
        assert_eq!(gr.admin(&r, "bob", &g(&["lab/admins"])), Some(true));
        assert_eq!(gr.admin(&r, "bob", &g(&["lab"])), Some(false), "leaving the group revokes admin");
        assert_eq!(gr.admin(&r, "root", &BTreeSet::new()), Some(true), "admin_users stay admins");
        gr.manage_groups = false;
        assert_eq!(decision_with_groups(&r, &gr, "ann", false, &g(&["lab/gpu"])), StaticDecision::CheckMembership);
        assert_eq!(gr.admin(&r, "bob", &g(&["lab/admins"])), None);
    }

    #[test]
    fn groups_key_is_a_dotted_path() {
        let state = serde_json::json!({"gitlab_user": {"groups": ["a", 3, "b"]}, "gitlab_groups": ["x"], "s": "y"});
        let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<String>>();
        assert_eq!(groups_at(&state, "gitlab_user.groups"), set(&["a", "b"]));
        assert_eq!(groups_at(&state, "gitlab_groups"), set(&["x"]));
        assert!(groups_at(&state, "s").is_empty());
        assert!(groups_at(&state, "nope.deeper").is_empty());
    }

    #[test]
    fn version_gate_is_12_4() {
        assert!(gitlab_has_members_all("17.5.1-ee"));
        assert!(gitlab_has_members_all("12.4.0-ee"));
        assert!(!gitlab_has_members_all("12.3.9"));
        assert!(!gitlab_has_members_all("11.11.0"));
        assert!(gitlab_has_members_all("13"));
        assert!(gitlab_has_members_all("garbage"));
    }

    #[test]
    fn refresh_plan_follows_expiry_and_interval() {
        let t0 = Timestamp::from_second(1_000_000).unwrap();
        let at = |s: i64| Timestamp::from_second(1_000_000 + s).unwrap();
        let timing =
            RefreshTiming { token_margin: Duration::from_secs(600), recheck_interval: Duration::from_secs(300) };
        let plan = plan_refresh(t0, Some(at(7200)), Some(t0), RefreshReason::Request, timing);
        assert_eq!(plan, RefreshPlan { renew_token: false, recheck: false });
        let plan = plan_refresh(at(6600), Some(at(7200)), Some(at(6500)), RefreshReason::Request, timing);
        assert_eq!(plan, RefreshPlan { renew_token: true, recheck: false });
        let plan = plan_refresh(at(300), Some(at(7200)), Some(t0), RefreshReason::Request, timing);
        assert_eq!(plan, RefreshPlan { renew_token: false, recheck: true });
        let plan = plan_refresh(t0, None, None, RefreshReason::Request, timing);
        assert_eq!(plan, RefreshPlan { renew_token: false, recheck: true });
        let plan = plan_refresh(t0, Some(at(7200)), Some(t0), RefreshReason::PreSpawn, timing);
        assert_eq!(plan, RefreshPlan { renew_token: true, recheck: true });
        let plan = plan_refresh(t0, Some(at(7200)), Some(t0), RefreshReason::Forced, timing);
        assert_eq!(plan, RefreshPlan { renew_token: false, recheck: true });
    }
}
