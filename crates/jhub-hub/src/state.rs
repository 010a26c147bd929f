//! The in-memory model: every user, server, group, role, service and OAuth
//! client, indexed for the API's lookups. The hub reads only this; the store
//! is written first and this is updated after (write-through), so what is
//! visible has always been persisted.
//!
//! Lock discipline: one `std::sync::RwLock` around [`State`]; never held
//! across an `.await` (the guard is not `Send`, so handlers cannot by accident).

use crate::progress::ProgressLog;
use jhub_core::model::{Group, OAuthClient, Pending, Role, RoleHolder, Server, Service, User};
use jhub_core::rbac::Directory;
use jhub_core::spawn::Phase;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Why the last spawn of a server failed (kept to show on pages and in the
/// progress stream; cleared by the next spawn).
#[derive(Debug, Clone, PartialEq)]
pub struct SpawnFailure {
    pub message: String,
    pub at: jhub_core::Timestamp,
}

/// A server and its runtime status.
#[derive(Debug, Clone)]
pub struct ServerEntry {
    pub server: Server,
    pub phase: Phase,
    pub last_failure: Option<SpawnFailure>,
    /// Progress of the current or last spawn.
    pub progress: Arc<ProgressLog>,
    /// What the spawner reported running (`Started::resources`), for the
    /// GPU gauge and the admin page; reloaded from the event log on adoption.
    pub resources: Option<serde_json::Value>,
}

impl ServerEntry {
    pub fn new(server: Server) -> Self {
        let phase = match (server.url.is_some(), server.pending) {
            (true, None) => Phase::Running,
            _ => Phase::Stopped,
        };
        Self { server, phase, last_failure: None, progress: Arc::new(ProgressLog::new()), resources: None }
    }

    pub fn pending(&self) -> Option<Pending> {
        self.phase.pending()
    }

    pub fn ready(&self) -> bool {
        self.phase == Phase::Running
    }

    pub fn active(&self) -> bool {
        self.phase != Phase::Stopped
    }
}

/// A user and everything hanging off them.
#[derive(Debug, Clone)]
pub struct UserEntry {
    pub user: User,
    pub groups: BTreeSet<i64>,
    pub roles: BTreeSet<i64>,
    pub servers: BTreeMap<String, ServerEntry>,
}

impl UserEntry {
    pub fn any_active(&self) -> bool {
        self.servers.values().any(ServerEntry::active)
    }

    pub fn any_ready(&self) -> bool {
        self.servers.values().any(ServerEntry::ready)
    }
}

/// A group with its members.
#[derive(Debug, Clone)]
pub struct GroupEntry {
    pub group: Group,
    pub members: BTreeSet<i64>,
    pub roles: BTreeSet<i64>,
}

/// A role with its holders.
#[derive(Debug, Clone)]
pub struct RoleEntry {
    pub role: Role,
    pub holders: BTreeSet<RoleHolder>,
}

/// A service and its roles.
#[derive(Debug, Clone)]
pub struct ServiceEntry {
    pub service: Service,
    pub roles: BTreeSet<i64>,
}

/// Everything the hub knows, indexed.
#[derive(Debug, Default)]
pub struct State {
    /// Users by id; id order is the API's default sort and pagination order.
    pub users: BTreeMap<i64, UserEntry>,
    pub user_ids: HashMap<String, i64>,
    /// Login cookie ids (`users.cookie_id`) to user ids.
    pub cookie_users: HashMap<String, i64>,
    /// Users with at least one active (pending or ready) server.
    pub active_users: BTreeSet<i64>,
    /// Users with at least one ready server.
    pub ready_users: BTreeSet<i64>,
    pub groups: BTreeMap<i64, GroupEntry>,
    pub group_ids: HashMap<String, i64>,
    pub roles: BTreeMap<i64, RoleEntry>,
    pub role_ids: HashMap<String, i64>,
    pub services: BTreeMap<i64, ServiceEntry>,
    pub service_ids: HashMap<String, i64>,
    pub oauth_clients: HashMap<String, OAuthClient>,
    /// Bumped on every change that can alter someone's permissions
    /// (roles, groups, admin flags); cached scope sets carry the generation
    /// they were computed at.
    pub permissions_generation: u64,
}

impl State {
    pub fn user(&self, name: &str) -> Option<&UserEntry> {
        self.user_ids.get(name).and_then(|id| self.users.get(id))
    }

    pub fn user_mut(&mut self, name: &str) -> Option<&mut UserEntry> {
        let id = *self.user_ids.get(name)?;
        self.users.get_mut(&id)
    }

    pub fn group(&self, name: &str) -> Option<&GroupEntry> {
        self.group_ids.get(name).and_then(|id| self.groups.get(id))
    }

    pub fn role(&self, name: &str) -> Option<&RoleEntry> {
        self.role_ids.get(name).and_then(|id| self.roles.get(id))
    }

    pub fn service(&self, name: &str) -> Option<&ServiceEntry> {
        self.service_ids.get(name).and_then(|id| self.services.get(id))
    }

    /// The role ids a holder has, if the holder exists; the one place that maps a
    /// [`RoleHolder`] to the entry carrying its side of the role link.
    pub fn holder_roles_mut(&mut self, holder: RoleHolder) -> Option<&mut BTreeSet<i64>> {
        match holder {
            RoleHolder::User(id) => self.users.get_mut(&id).map(|u| &mut u.roles),
            RoleHolder::Group(id) => self.groups.get_mut(&id).map(|g| &mut g.roles),
            RoleHolder::Service(id) => self.services.get_mut(&id).map(|s| &mut s.roles),
        }
    }

    pub fn insert_user(&mut self, user: User) {
        self.user_ids.insert(user.name.clone(), user.id);
        self.cookie_users.insert(user.cookie_id.clone(), user.id);
        self.users.insert(
            user.id,
            UserEntry { user, groups: BTreeSet::new(), roles: BTreeSet::new(), servers: BTreeMap::new() },
        );
    }

    pub fn remove_user(&mut self, id: i64) -> Option<UserEntry> {
        let entry = self.users.remove(&id)?;
        self.user_ids.remove(&entry.user.name);
        self.cookie_users.remove(&entry.user.cookie_id);
        self.active_users.remove(&id);
        self.ready_users.remove(&id);
        for group in self.groups.values_mut() {
            group.members.remove(&id);
        }
        for role in self.roles.values_mut() {
            role.holders.remove(&RoleHolder::User(id));
        }
        self.permissions_generation += 1;
        Some(entry)
    }

    /// Recomputes the active/ready indexes for one user after a server change.
    pub fn reindex_user(&mut self, id: i64) {
        let (active, ready) = match self.users.get(&id) {
            Some(entry) => (entry.any_active(), entry.any_ready()),
            None => (false, false),
        };
        if active {
            self.active_users.insert(id);
        } else {
            self.active_users.remove(&id);
        }
        if ready {
            self.ready_users.insert(id);
        } else {
            self.ready_users.remove(&id);
        }
    }

    /// Group names of a user, sorted.
    pub fn group_names_of(&self, entry: &UserEntry) -> Vec<String> {
        let mut names: Vec<String> =
            entry.groups.iter().filter_map(|id| self.groups.get(id)).map(|g| g.group.name.clone()).collect();
        names.sort();
        names
    }

    /// Names of the roles a user holds directly or through her groups
    /// (default roles excluded: [`jhub_core::rbac::Rbac`] adds them).
    pub fn effective_role_names(&self, entry: &UserEntry) -> Vec<String> {
        let mut ids: BTreeSet<i64> = entry.roles.clone();
        for group_id in &entry.groups {
            if let Some(group) = self.groups.get(group_id) {
                ids.extend(group.roles.iter().copied());
            }
        }
        ids.iter().filter_map(|id| self.roles.get(id)).map(|r| r.role.name.clone()).collect()
    }

    /// Role names held directly by a user (plus `admin` for admins, `user` for everyone).
    pub fn role_names_of(&self, entry: &UserEntry) -> Vec<String> {
        let mut names: BTreeSet<String> =
            entry.roles.iter().filter_map(|id| self.roles.get(id)).map(|r| r.role.name.clone()).collect();
        names.insert("user".to_string());
        if entry.user.admin {
            names.insert("admin".to_string());
        }
        names.into_iter().collect()
    }

    /// Number of servers currently pending a spawn, hub-wide.
    pub fn pending_spawns(&self) -> usize {
        self.active_users
            .iter()
            .filter_map(|id| self.users.get(id))
            .flat_map(|u| u.servers.values())
            .filter(|s| s.pending() == Some(Pending::Spawn))
            .count()
    }

    /// Number of active servers, hub-wide.
    pub fn active_servers(&self) -> usize {
        self.active_users
            .iter()
            .filter_map(|id| self.users.get(id))
            .flat_map(|u| u.servers.values())
            .filter(|s| s.active())
            .count()
    }
}

/// Group membership for scope checks, answered from memory.
impl Directory for State {
    fn is_member(&self, user: &str, group: &str) -> bool {
        match (self.user_ids.get(user), self.group(group)) {
            (Some(user_id), Some(group)) => group.members.contains(user_id),
            _ => false,
        }
    }
}
