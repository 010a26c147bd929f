//! The simulator's mutable world: users, group tree, projects, applications,
//! issued codes and tokens, injected faults and the request log. All methods
//! take the current time as a parameter; the HTTP layer reads the clock.

use crate::config::{SimConfig, SimMember, UserState};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// How long an authorization code stays valid (Doorkeeper's default, 10 min).
pub(crate) const CODE_LIFETIME_SECONDS: i64 = 600;

/// The endpoints faults and delays can be attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `GET|POST /oauth/authorize`
    Authorize,
    /// `POST /oauth/token`
    Token,
    /// `GET /api/v4/user`
    User,
    /// `GET /api/v4/version`
    Version,
    /// `GET /api/v4/groups/:id/members[/all]/:user_id`
    GroupMembers,
    /// `GET /api/v4/projects/:id/members[/all]/:user_id`
    ProjectMembers,
    /// `GET /api/v4/groups` (the current user's groups)
    Groups,
}

impl Endpoint {
    /// Classifies a request path (the raw, still-encoded path).
    pub(crate) fn classify(path: &str) -> Option<Endpoint> {
        if path == "/oauth/authorize" {
            Some(Endpoint::Authorize)
        } else if path == "/oauth/token" {
            Some(Endpoint::Token)
        } else if path == "/api/v4/user" {
            Some(Endpoint::User)
        } else if path == "/api/v4/version" {
            Some(Endpoint::Version)
        } else if path == "/api/v4/groups" {
            Some(Endpoint::Groups)
        } else if path.starts_with("/api/v4/groups/") && path.contains("/members/") {
            Some(Endpoint::GroupMembers)
        } else if path.starts_with("/api/v4/projects/") && path.contains("/members/") {
            Some(Endpoint::ProjectMembers)
        } else {
            None
        }
    }
}

/// One request as the simulator saw it, with secrets replaced by `[redacted]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggedRequest {
    pub method: String,
    /// The path exactly as received (still percent-encoded).
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Form fields of `application/x-www-form-urlencoded` bodies.
    pub form: Vec<(String, String)>,
    /// `Authorization` reduced to its scheme plus `[redacted]`.
    pub authorization: Option<String>,
    pub user_agent: Option<String>,
    pub accept: Option<String>,
    pub endpoint: Option<Endpoint>,
    /// Status of the response, 0 if none was produced.
    pub status: u16,
}

impl LoggedRequest {
    /// The first value of a form field.
    pub fn form_value(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first value of a query parameter.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Field names whose values never reach the request log.
pub(crate) const SECRET_FIELDS: &[&str] =
    &["client_secret", "code", "code_verifier", "refresh_token", "access_token", "password", "private_token"];

pub(crate) fn redact_pairs(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs
        .into_iter()
        .map(|(k, v)| if SECRET_FIELDS.contains(&k.as_str()) { (k, String::from("[redacted]")) } else { (k, v) })
        .collect()
}

#[derive(Debug, Clone)]
pub(crate) struct UserRec {
    pub id: u64,
    pub username: String,
    pub name: String,
    pub email: String,
    pub state: UserState,
}

#[derive(Debug, Clone)]
pub(crate) struct GroupRec {
    pub id: u64,
    pub full_path: String,
    pub parent: Option<usize>,
    /// user id → access level (direct memberships).
    pub members: HashMap<u64, u32>,
}

#[derive(Debug, Clone)]
pub(crate) struct ProjectRec {
    pub path_with_namespace: String,
    pub namespace_group: Option<usize>,
    pub members: HashMap<u64, u32>,
}

#[derive(Debug, Clone)]
pub(crate) struct AppRec {
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: u64,
    pub scopes: Vec<String>,
    pub challenge: Option<(String, String)>,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessRec {
    pub user_id: u64,
    pub scopes: Vec<String>,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshRec {
    pub user_id: u64,
    pub client_id: String,
    pub scopes: Vec<String>,
}

/// A member found by a membership query, with the effective level.
#[derive(Debug, Clone)]
pub(crate) struct Membership {
    pub user: UserRec,
    pub access_level: u32,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Fault {
    pub remaining: u32,
    pub status: u16,
}

/// Everything behind the simulator's lock.
#[derive(Debug)]
pub(crate) struct World {
    pub users: BTreeMap<u64, UserRec>,
    by_name: HashMap<String, u64>,
    groups: Vec<GroupRec>,
    group_by_path: HashMap<String, usize>,
    group_by_id: HashMap<u64, usize>,
    projects: HashMap<u64, ProjectRec>,
    pub apps: HashMap<String, AppRec>,
    pub codes: HashMap<String, CodeGrant>,
    pub access_tokens: HashMap<String, AccessRec>,
    pub refresh_tokens: HashMap<String, RefreshRec>,
    pub token_lifetime: i64,
    pub version: String,
    pub revision: String,
    pub public_url: String,
    pub faults: HashMap<Endpoint, Fault>,
    pub delays: HashMap<Endpoint, Duration>,
}

impl World {
    /// Builds the world from a validated configuration.
    pub fn new(config: &SimConfig) -> Self {
        let mut users = BTreeMap::new();
        let mut by_name = HashMap::new();
        for user in &config.users {
            by_name.insert(user.username.to_lowercase(), user.id);
            users.insert(
                user.id,
                UserRec {
                    id: user.id,
                    username: user.username.clone(),
                    name: user.name.clone().unwrap_or_else(|| user.username.clone()),
                    email: user.email.clone().unwrap_or_else(|| format!("{}@example.org", user.username)),
                    state: user.state,
                },
            );
        }
        let member_map = |members: &[SimMember]| -> HashMap<u64, u32> {
            members
                .iter()
                .filter_map(|m| by_name.get(&m.username.to_lowercase()).map(|id| (*id, m.access_level)))
                .collect()
        };
        // Parents first, so a child's parent index is known when it is added.
        let mut sorted: Vec<_> = config.groups.iter().collect();
        sorted.sort_by_key(|g| g.full_path.matches('/').count());
        let mut groups = Vec::new();
        let mut group_by_path = HashMap::new();
        let mut group_by_id = HashMap::new();
        for group in sorted {
            let parent = group
                .full_path
                .rsplit_once('/')
                .and_then(|(parent, _)| group_by_path.get(&parent.to_lowercase()).copied());
            let index = groups.len();
            groups.push(GroupRec {
                id: group.id,
                full_path: group.full_path.clone(),
                parent,
                members: member_map(&group.members),
            });
            group_by_path.insert(group.full_path.to_lowercase(), index);
            group_by_id.insert(group.id, index);
        }
        let projects = config
            .projects
            .iter()
            .map(|p| {
                let namespace_group = p
                    .path_with_namespace
                    .rsplit_once('/')
                    .and_then(|(namespace, _)| group_by_path.get(&namespace.to_lowercase()).copied());
                (
                    p.id,
                    ProjectRec {
                        path_with_namespace: p.path_with_namespace.clone(),
                        namespace_group,
                        members: member_map(&p.members),
                    },
                )
            })
            .collect();
        let apps = config
            .applications
            .iter()
            .map(|a| {
                (
                    a.client_id.clone(),
                    AppRec {
                        client_secret: a.client_secret.clone(),
                        redirect_uris: a.redirect_uris.clone(),
                        scopes: a.scopes.clone(),
                    },
                )
            })
            .collect();
        Self {
            users,
            by_name,
            groups,
            group_by_path,
            group_by_id,
            projects,
            apps,
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            token_lifetime: i64::try_from(config.token_lifetime_seconds).unwrap_or(i64::MAX),
            version: config.version.clone(),
            revision: config.revision.clone(),
            public_url: config.public_url.trim_end_matches('/').to_string(),
            faults: HashMap::new(),
            delays: HashMap::new(),
        }
    }

    pub fn user_by_name(&self, username: &str) -> Option<&UserRec> {
        self.by_name.get(&username.to_lowercase()).and_then(|id| self.users.get(id))
    }

    pub fn user_by_name_mut(&mut self, username: &str) -> Option<&mut UserRec> {
        let id = *self.by_name.get(&username.to_lowercase())?;
        self.users.get_mut(&id)
    }

    /// A group by numeric id or by full path (case-insensitive, like GitLab).
    pub fn group_index(&self, id_or_path: &str) -> Option<usize> {
        if let Ok(id) = id_or_path.parse::<u64>()
            && let Some(index) = self.group_by_id.get(&id)
        {
            return Some(*index);
        }
        self.group_by_path.get(&id_or_path.to_lowercase()).copied()
    }

    pub fn group_mut(&mut self, index: usize) -> Option<&mut GroupRec> {
        self.groups.get_mut(index)
    }

    pub fn project_mut(&mut self, id: u64) -> Option<&mut ProjectRec> {
        self.projects.get_mut(&id)
    }

    /// The highest access level along the group chain starting at `index`
    /// (only the group itself unless `inherited`).
    fn level_in_group_chain(&self, index: usize, user_id: u64, inherited: bool) -> Option<u32> {
        let mut best: Option<u32> = None;
        let mut current = Some(index);
        while let Some(i) = current {
            let group = self.groups.get(i)?;
            if let Some(level) = group.members.get(&user_id) {
                best = Some(best.map_or(*level, |b| b.max(*level)));
            }
            if !inherited {
                break;
            }
            current = group.parent;
        }
        best
    }

    /// `GET /groups?min_access_level=N`: the groups where the user's access
    /// (direct or inherited from an ancestor) is at least `min_level`, in
    /// full-path order, as `(id, full_path)`.
    pub fn groups_of(&self, user_id: u64, min_level: u32) -> Vec<(u64, String)> {
        let mut out: Vec<(u64, String)> = (0..self.groups.len())
            .filter(|i| self.level_in_group_chain(*i, user_id, true).is_some_and(|l| l >= min_level))
            .filter_map(|i| self.groups.get(i).map(|g| (g.id, g.full_path.clone())))
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1));
        out
    }

    /// `GET /groups/:id/members[/all]/:user_id`: the membership with the
    /// highest access level (GitLab members API), `None` when not a member.
    pub fn group_membership(&self, id_or_path: &str, user_id: u64, inherited: bool) -> Option<Membership> {
        let index = self.group_index(id_or_path)?;
        let user = self.users.get(&user_id)?;
        let access_level = self.level_in_group_chain(index, user_id, inherited)?;
        Some(Membership { user: user.clone(), access_level })
    }

    /// `GET /projects/:id/members[/all]/:user_id`; `all` includes members of
    /// the namespace group and its ancestors.
    pub fn project_membership(&self, id_or_path: &str, user_id: u64, inherited: bool) -> Option<Membership> {
        let project = match id_or_path.parse::<u64>() {
            Ok(id) => self.projects.get(&id)?,
            Err(_) => self.projects.values().find(|p| p.path_with_namespace.eq_ignore_ascii_case(id_or_path))?,
        };
        let user = self.users.get(&user_id)?;
        let direct = project.members.get(&user_id).copied();
        let from_group = if inherited {
            project.namespace_group.and_then(|index| self.level_in_group_chain(index, user_id, true))
        } else {
            None
        };
        let access_level = match (direct, from_group) {
            (Some(a), Some(b)) => a.max(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return None,
        };
        Some(Membership { user: user.clone(), access_level })
    }

    /// The user behind a valid, unexpired access token of an active user.
    pub fn token_user(&self, token: &str, now: i64) -> Option<(UserRec, Vec<String>)> {
        let rec = self.access_tokens.get(token)?;
        if now >= rec.expires_at {
            return None;
        }
        let user = self.users.get(&rec.user_id)?;
        if user.state != UserState::Active {
            return None;
        }
        Some((user.clone(), rec.scopes.clone()))
    }

    /// Issues an access/refresh token pair; returns them with `created_at`.
    pub fn issue_tokens(&mut self, user_id: u64, client_id: &str, scopes: &[String], now: i64) -> IssuedTokens {
        let access_token = random_token();
        let refresh_token = random_token();
        let expires_at = now.saturating_add(self.token_lifetime);
        self.access_tokens.insert(access_token.clone(), AccessRec { user_id, scopes: scopes.to_vec(), expires_at });
        self.refresh_tokens.insert(
            refresh_token.clone(),
            RefreshRec { user_id, client_id: client_id.to_string(), scopes: scopes.to_vec() },
        );
        IssuedTokens {
            access_token,
            refresh_token,
            expires_in: self.token_lifetime,
            scope: scopes.join(" "),
            created_at: now,
        }
    }

    /// Revokes every token of a user; returns how many were revoked.
    pub fn revoke_user_tokens(&mut self, user_id: u64) -> usize {
        let before = self.access_tokens.len() + self.refresh_tokens.len();
        self.access_tokens.retain(|_, rec| rec.user_id != user_id);
        self.refresh_tokens.retain(|_, rec| rec.user_id != user_id);
        before - self.access_tokens.len() - self.refresh_tokens.len()
    }

    /// Consumes one injected fault for `endpoint`, if any remains.
    pub fn take_fault(&mut self, endpoint: Endpoint) -> Option<u16> {
        let fault = self.faults.get_mut(&endpoint)?;
        if fault.remaining == 0 {
            return None;
        }
        fault.remaining -= 1;
        let status = fault.status;
        if fault.remaining == 0 {
            self.faults.remove(&endpoint);
        }
        Some(status)
    }
}

/// The token pair of a successful grant.
#[derive(Debug, Clone)]
pub(crate) struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub scope: String,
    pub created_at: i64,
}

/// 32 random bytes as 64 hex characters (the shape of GitLab OAuth tokens).
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // getrandom only fails when the OS has no entropy source; a simulator
    // can then fall back to a weaker but unique value rather than abort.
    if getrandom::fill(&mut bytes).is_err() {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bytes[..8].copy_from_slice(&n.to_be_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::access;

    fn world() -> World {
        let config = SimConfig::new()
            .user(1, "alice")
            .user(2, "bob")
            .user(3, "carol")
            .group(10, "top", &[("alice", access::OWNER)])
            .group(11, "top/sub group", &[("bob", access::GUEST), ("alice", access::DEVELOPER)])
            .project(42, "top/proj", &[("carol", access::REPORTER)]);
        World::new(&config)
    }

    #[test]
    fn inherited_membership_takes_the_highest_level() {
        let w = world();
        assert_eq!(w.group_membership("top/sub group", 1, true).unwrap().access_level, access::OWNER);
        assert_eq!(w.group_membership("top/sub group", 1, false).unwrap().access_level, access::DEVELOPER);
        assert_eq!(w.group_membership("11", 2, true).unwrap().access_level, access::GUEST);
        // Membership of a subgroup does not make a member of the parent.
        assert!(w.group_membership("top", 2, true).is_none());
        assert!(w.group_membership("TOP/SUB GROUP", 2, true).is_some());
        assert!(w.group_membership("top%2Fsub+group", 2, true).is_none());
    }

    #[test]
    fn project_membership_inherits_from_the_namespace_group() {
        let w = world();
        assert_eq!(w.project_membership("42", 1, true).unwrap().access_level, access::OWNER);
        assert!(w.project_membership("42", 1, false).is_none());
        assert_eq!(w.project_membership("42", 3, true).unwrap().access_level, access::REPORTER);
        assert!(w.project_membership("43", 3, true).is_none());
    }

    #[test]
    fn tokens_expire_and_revoke() {
        let mut w = world();
        let issued = w.issue_tokens(1, "c", &[String::from("api")], 1000);
        assert!(w.token_user(&issued.access_token, 1000 + 7199).is_some());
        assert!(w.token_user(&issued.access_token, 1000 + 7200).is_none());
        assert_eq!(w.revoke_user_tokens(1), 2);
        assert!(w.token_user(&issued.access_token, 1001).is_none());
    }

    #[test]
    fn faults_are_consumed() {
        let mut w = world();
        w.faults.insert(Endpoint::Token, Fault { remaining: 2, status: 503 });
        assert_eq!(w.take_fault(Endpoint::Token), Some(503));
        assert_eq!(w.take_fault(Endpoint::Token), Some(503));
        assert_eq!(w.take_fault(Endpoint::Token), None);
    }

    #[test]
    fn endpoints_are_classified_from_raw_paths() {
        assert_eq!(Endpoint::classify("/api/v4/groups/a%2Fb/members/all/3"), Some(Endpoint::GroupMembers));
        assert_eq!(Endpoint::classify("/api/v4/projects/42/members/all/3"), Some(Endpoint::ProjectMembers));
        assert_eq!(Endpoint::classify("/api/v4/users"), None);
    }
}
