//! Expanded scopes: the resolved permission set of a request, in JupyterHub's
//! parsed form `{scope: All | {user, server, group, service}}`, with
//! group-aware containment and intersection.
//!
//! Built-in scopes live in a fixed array indexed by [`Scope`], so checking a
//! scope against a resource is an array index plus a set lookup with
//! borrowed keys: no allocation. Group membership comes in through
//! [`Directory`], which keeps this module free of any store.

use super::registry::{Filter, ScopeName};
use super::scope::{SCOPE_COUNT, Scope};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Group membership, as the hub knows it right now.
pub trait Directory {
    /// Whether `user` is a member of `group`.
    fn is_member(&self, user: &str, group: &str) -> bool;
}

/// A directory without groups (services, tests, or when no filter names a group).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGroups;

impl Directory for NoGroups {
    fn is_member(&self, _user: &str, _group: &str) -> bool {
        false
    }
}

impl<F: Fn(&str, &str) -> bool> Directory for F {
    fn is_member(&self, user: &str, group: &str) -> bool {
        self(user, group)
    }
}

/// The resource a request path names, against which filters are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// No resource (`/info`, `/proxy`, `POST /users`): only an unfiltered
    /// grant will do.
    None,
    /// A listing the handler narrows itself (`GET /users`, `/groups`,
    /// `/services`; JupyterHub's `post_filter`): any grant will do.
    Listing,
    User(&'a str),
    /// `user/server`; the default server is `server == ""`.
    Server {
        user: &'a str,
        server: &'a str,
    },
    Group(&'a str),
    Service(&'a str),
}

impl Resource<'_> {
    /// Whether the path names a resource (then lacking access to it answers
    /// "not found" rather than "forbidden").
    pub fn names_something(&self) -> bool {
        !matches!(self, Resource::None | Resource::Listing)
    }
}

/// The resources a filtered scope applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    users: BTreeSet<String>,
    /// user → server names; never holds an empty set.
    servers: BTreeMap<String, BTreeSet<String>>,
    groups: BTreeSet<String>,
    services: BTreeSet<String>,
}

impl Filters {
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.iter().map(String::as_str)
    }

    /// `(user, server)` pairs.
    pub fn servers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.servers.iter().flat_map(|(user, servers)| servers.iter().map(move |s| (user.as_str(), s.as_str())))
    }

    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().map(String::as_str)
    }

    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.services.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.servers.is_empty() && self.groups.is_empty() && self.services.is_empty()
    }

    /// Which filter kinds occur.
    pub fn has_users(&self) -> bool {
        !self.users.is_empty()
    }
    pub fn has_servers(&self) -> bool {
        !self.servers.is_empty()
    }
    pub fn has_groups(&self) -> bool {
        !self.groups.is_empty()
    }
    pub fn has_services(&self) -> bool {
        !self.services.is_empty()
    }

    pub fn insert(&mut self, filter: Filter) {
        match filter {
            Filter::User(name) => {
                self.users.insert(name);
            }
            Filter::Server { user, server } => {
                self.servers.entry(user).or_default().insert(server);
            }
            Filter::Group(name) => {
                self.groups.insert(name);
            }
            Filter::Service(name) => {
                self.services.insert(name);
            }
        }
    }

    fn union_with(&mut self, other: &Filters) {
        self.users.extend(other.users.iter().cloned());
        for (user, servers) in &other.servers {
            self.servers.entry(user.clone()).or_default().extend(servers.iter().cloned());
        }
        self.groups.extend(other.groups.iter().cloned());
        self.services.extend(other.services.iter().cloned());
    }

    /// A user is covered by `user=` or by any `group=` she belongs to.
    pub fn covers_user(&self, user: &str, dir: &(impl Directory + ?Sized)) -> bool {
        self.users.contains(user) || self.groups.iter().any(|group| dir.is_member(user, group))
    }

    /// A server is covered by `server=`, by its owner's `user=`, or by a
    /// `group=` its owner belongs to.
    pub fn covers_server(&self, user: &str, server: &str, dir: &(impl Directory + ?Sized)) -> bool {
        self.servers.get(user).is_some_and(|names| names.contains(server)) || self.covers_user(user, dir)
    }

    /// Groups are only covered by the same `group=` filter.
    pub fn covers_group(&self, group: &str) -> bool {
        self.groups.contains(group)
    }

    pub fn covers_service(&self, service: &str) -> bool {
        self.services.contains(service)
    }

    /// Whether these filters let the holder act on `resource`.
    pub fn covers(&self, resource: Resource<'_>, dir: &(impl Directory + ?Sized)) -> bool {
        match resource {
            Resource::None => false,
            Resource::Listing => true,
            Resource::User(user) => self.covers_user(user, dir),
            Resource::Server { user, server } => self.covers_server(user, server, dir),
            Resource::Group(group) => self.covers_group(group),
            Resource::Service(service) => self.covers_service(service),
        }
    }

    /// Every entry of `other` is covered by `self`.
    fn contains_all(&self, other: &Filters, dir: &(impl Directory + ?Sized)) -> bool {
        other.users.iter().all(|u| self.covers_user(u, dir))
            && other.servers().all(|(u, s)| self.covers_server(u, s, dir))
            && other.groups.is_subset(&self.groups)
            && other.services.is_subset(&self.services)
    }

    /// Entries of either side that the other side covers (JupyterHub
    /// `_intersect_expanded_scopes`, with group membership resolved).
    fn intersect(&self, other: &Filters, dir: &(impl Directory + ?Sized)) -> Filters {
        let mut out = Filters::default();
        for (a, b) in [(self, other), (other, self)] {
            for user in &a.users {
                if b.covers_user(user, dir) {
                    out.users.insert(user.clone());
                }
            }
            for (user, server) in a.servers() {
                if b.covers_server(user, server, dir) {
                    out.servers.entry(user.to_string()).or_default().insert(server.to_string());
                }
            }
        }
        out.groups = self.groups.intersection(&other.groups).cloned().collect();
        out.services = self.services.intersection(&other.services).cloned().collect();
        out
    }

    /// Removes entries present verbatim in `other` (string-level set
    /// difference, as JupyterHub does when resolving requested scopes).
    fn remove_exact(&mut self, other: &Filters) {
        self.users.retain(|u| !other.users.contains(u));
        for (user, servers) in &mut self.servers {
            if let Some(theirs) = other.servers.get(user) {
                servers.retain(|s| !theirs.contains(s));
            }
        }
        self.servers.retain(|_, servers| !servers.is_empty());
        self.groups.retain(|g| !other.groups.contains(g));
        self.services.retain(|s| !other.services.contains(s));
    }

    fn for_each_string(&self, base: &str, mut f: impl FnMut(String)) {
        for user in &self.users {
            f(format!("{base}!user={user}"));
        }
        for (user, server) in self.servers() {
            f(format!("{base}!server={user}/{server}"));
        }
        for group in &self.groups {
            f(format!("{base}!group={group}"));
        }
        for service in &self.services {
            f(format!("{base}!service={service}"));
        }
    }
}

/// How much of one scope is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Unfiltered: every resource.
    All,
    /// Only these resources; never empty.
    Only(Box<Filters>),
}

impl Grant {
    /// The filters, or `None` for an unfiltered grant.
    pub fn filters(&self) -> Option<&Filters> {
        match self {
            Grant::All => None,
            Grant::Only(filters) => Some(filters),
        }
    }

    pub fn covers(&self, resource: Resource<'_>, dir: &(impl Directory + ?Sized)) -> bool {
        match self {
            Grant::All => true,
            Grant::Only(filters) => filters.covers(resource, dir),
        }
    }

    fn add(&mut self, filter: Option<Filter>) {
        match (self, filter) {
            (Grant::All, _) => {}
            (grant @ Grant::Only(_), None) => *grant = Grant::All,
            (Grant::Only(filters), Some(filter)) => filters.insert(filter),
        }
    }

    fn from_filter(filter: Option<Filter>) -> Grant {
        match filter {
            None => Grant::All,
            Some(filter) => {
                let mut filters = Filters::default();
                filters.insert(filter);
                Grant::Only(Box::new(filters))
            }
        }
    }

    fn union_with(&mut self, other: &Grant) {
        match (&mut *self, other) {
            (Grant::All, _) => {}
            (_, Grant::All) => *self = Grant::All,
            (Grant::Only(mine), Grant::Only(theirs)) => mine.union_with(theirs),
        }
    }

    fn intersect(&self, other: &Grant, dir: &(impl Directory + ?Sized)) -> Option<Grant> {
        match (self, other) {
            (Grant::All, other) => Some(other.clone()),
            (mine, Grant::All) => Some(mine.clone()),
            (Grant::Only(a), Grant::Only(b)) => {
                let common = a.intersect(b, dir);
                (!common.is_empty()).then(|| Grant::Only(Box::new(common)))
            }
        }
    }

    fn contains(&self, other: &Grant, dir: &(impl Directory + ?Sized)) -> bool {
        match (self, other) {
            (Grant::All, _) => true,
            (Grant::Only(_), Grant::All) => false,
            (Grant::Only(a), Grant::Only(b)) => a.contains_all(b, dir),
        }
    }

    /// What is left after removing the scope strings `other` holds verbatim.
    fn minus_exact(&self, other: &Grant) -> Option<Grant> {
        match (self, other) {
            (Grant::All, Grant::All) => None,
            (Grant::All, Grant::Only(_)) => Some(Grant::All),
            (Grant::Only(mine), Grant::All) => Some(Grant::Only(mine.clone())),
            (Grant::Only(mine), Grant::Only(theirs)) => {
                let mut left = (**mine).clone();
                left.remove_exact(theirs);
                (!left.is_empty()).then(|| Grant::Only(Box::new(left)))
            }
        }
    }

    fn for_each_string(&self, base: &str, mut f: impl FnMut(String)) {
        match self {
            Grant::All => f(base.to_string()),
            Grant::Only(filters) => filters.for_each_string(base, f),
        }
    }
}

/// A fully expanded, reduced permission set: no metascopes, no bare
/// filters, subscopes included, and an unfiltered scope absorbing filtered
/// forms of itself. Pure data; cache it per user/token and share it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandedScopes {
    builtin: [Option<Grant>; SCOPE_COUNT],
    custom: BTreeMap<Arc<str>, Grant>,
}

impl Default for ExpandedScopes {
    fn default() -> Self {
        Self { builtin: [const { None }; SCOPE_COUNT], custom: BTreeMap::new() }
    }
}

impl ExpandedScopes {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.builtin.iter().all(Option::is_none) && self.custom.is_empty()
    }

    /// The grant of a built-in scope, if held in any form.
    pub fn grant(&self, scope: Scope) -> Option<&Grant> {
        self.builtin[scope.index()].as_ref()
    }

    /// The grant of a `custom:` scope by name.
    pub fn custom_grant(&self, name: &str) -> Option<&Grant> {
        self.custom.get(name)
    }

    pub fn get(&self, name: &ScopeName) -> Option<&Grant> {
        match name {
            ScopeName::Builtin(scope) => self.grant(*scope),
            ScopeName::Custom(custom) => self.custom.get(&**custom),
        }
    }

    /// Whether `scope` is held for `resource` (JupyterHub `has_scope`;
    /// `Resource::Listing` is its `post_filter`). Does not allocate.
    pub fn allows(&self, scope: Scope, resource: Resource<'_>, dir: &(impl Directory + ?Sized)) -> bool {
        self.grant(scope).is_some_and(|grant| grant.covers(resource, dir))
    }

    /// [`ExpandedScopes::allows`] for a `custom:` scope.
    pub fn allows_custom(&self, name: &str, resource: Resource<'_>, dir: &(impl Directory + ?Sized)) -> bool {
        self.custom_grant(name).is_some_and(|grant| grant.covers(resource, dir))
    }

    /// [`ExpandedScopes::allows`] for any scope name.
    pub fn allows_name(&self, name: &ScopeName, resource: Resource<'_>, dir: &(impl Directory + ?Sized)) -> bool {
        self.get(name).is_some_and(|grant| grant.covers(resource, dir))
    }

    /// Adds one scope (already expanded: no subscopes are added here).
    pub fn insert(&mut self, name: ScopeName, filter: Option<Filter>) {
        let slot = match name {
            ScopeName::Builtin(scope) => &mut self.builtin[scope.index()],
            ScopeName::Custom(custom) => {
                match self.custom.get_mut(&custom) {
                    Some(grant) => grant.add(filter),
                    None => {
                        self.custom.insert(custom, Grant::from_filter(filter));
                    }
                }
                return;
            }
        };
        match slot {
            Some(grant) => grant.add(filter),
            None => *slot = Some(Grant::from_filter(filter)),
        }
    }

    /// Adds everything `other` holds.
    pub fn union_with(&mut self, other: &ExpandedScopes) {
        for (mine, theirs) in self.builtin.iter_mut().zip(&other.builtin) {
            if let Some(theirs) = theirs {
                match mine {
                    Some(mine) => mine.union_with(theirs),
                    None => *mine = Some(theirs.clone()),
                }
            }
        }
        for (name, theirs) in &other.custom {
            match self.custom.get_mut(name) {
                Some(mine) => mine.union_with(theirs),
                None => {
                    self.custom.insert(name.clone(), theirs.clone());
                }
            }
        }
    }

    /// What both sets allow, with group membership resolved through `dir`
    /// (`server=alice/x` ⊂ `user=alice` ⊂ `group=g` when alice ∈ g).
    pub fn intersect(&self, other: &ExpandedScopes, dir: &(impl Directory + ?Sized)) -> ExpandedScopes {
        let mut out = ExpandedScopes::default();
        for (i, (mine, theirs)) in self.builtin.iter().zip(&other.builtin).enumerate() {
            if let (Some(mine), Some(theirs)) = (mine, theirs) {
                out.builtin[i] = mine.intersect(theirs, dir);
            }
        }
        for (name, mine) in &self.custom {
            if let Some(theirs) = other.custom.get(name)
                && let Some(common) = mine.intersect(theirs, dir)
            {
                out.custom.insert(name.clone(), common);
            }
        }
        out
    }

    /// Whether everything `other` allows is allowed by `self`.
    pub fn contains_all(&self, other: &ExpandedScopes, dir: &(impl Directory + ?Sized)) -> bool {
        let builtin = self.builtin.iter().zip(&other.builtin).all(|(mine, theirs)| match (mine, theirs) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(mine), Some(theirs)) => mine.contains(theirs, dir),
        });
        builtin
            && other
                .custom
                .iter()
                .all(|(name, theirs)| self.custom.get(name).is_some_and(|mine| mine.contains(theirs, dir)))
    }

    /// The scope strings of `self` that `other` does not hold verbatim.
    pub(crate) fn minus_exact(&self, other: &ExpandedScopes) -> ExpandedScopes {
        let mut out = ExpandedScopes::default();
        for (i, mine) in self.builtin.iter().enumerate() {
            if let Some(mine) = mine {
                out.builtin[i] = match &other.builtin[i] {
                    Some(theirs) => mine.minus_exact(theirs),
                    None => Some(mine.clone()),
                };
            }
        }
        for (name, mine) in &self.custom {
            let left = match other.custom.get(name) {
                Some(theirs) => mine.minus_exact(theirs),
                None => Some(mine.clone()),
            };
            if let Some(left) = left {
                out.custom.insert(name.clone(), left);
            }
        }
        out
    }

    /// Every held scope with its grant.
    pub fn iter(&self) -> impl Iterator<Item = (ScopeName, &Grant)> {
        let builtin = Scope::ALL
            .iter()
            .zip(&self.builtin)
            .filter_map(|(scope, grant)| grant.as_ref().map(|g| (ScopeName::Builtin(*scope), g)));
        let custom = self.custom.iter().map(|(name, grant)| (ScopeName::Custom(name.clone()), grant));
        builtin.chain(custom)
    }

    /// The scopes as JupyterHub writes them, sorted: `read:users`,
    /// `access:servers!server=alice/`, `read:users:name!user=alice`, … This
    /// is `GET /hub/api/user`'s `scopes` and the token model's `scopes`.
    pub fn to_strings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (scope, grant) in Scope::ALL.iter().zip(&self.builtin) {
            if let Some(grant) = grant {
                grant.for_each_string(scope.name(), |s| out.push(s));
            }
        }
        for (name, grant) in &self.custom {
            grant.for_each_string(name, |s| out.push(s));
        }
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> Option<Filter> {
        Some(Filter::User(name.into()))
    }
    fn server(user: &str, server: &str) -> Option<Filter> {
        Some(Filter::Server { user: user.into(), server: server.into() })
    }
    fn group(name: &str) -> Option<Filter> {
        Some(Filter::Group(name.into()))
    }

    fn set(entries: &[(Scope, Option<Filter>)]) -> ExpandedScopes {
        let mut out = ExpandedScopes::new();
        for (scope, filter) in entries {
            out.insert((*scope).into(), filter.clone());
        }
        out
    }

    /// alice and carol are in `staff`; bob is in no group.
    fn staff(user: &str, group: &str) -> bool {
        group == "staff" && matches!(user, "alice" | "carol")
    }

    #[test]
    fn unfiltered_absorbs_filtered_in_any_order() {
        let a = set(&[(Scope::ReadUsers, user("alice")), (Scope::ReadUsers, None)]);
        let b = set(&[(Scope::ReadUsers, None), (Scope::ReadUsers, user("alice"))]);
        assert_eq!(a, b);
        assert_eq!(a.to_strings(), ["read:users"]);
    }

    #[test]
    fn containment_server_user_group() {
        use Resource as R;
        let cases: &[(Option<Filter>, Resource<'_>, bool)] = &[
            (user("alice"), R::User("alice"), true),
            (user("alice"), R::User("bob"), false),
            (user("alice"), R::Server { user: "alice", server: "x" }, true),
            (user("alice"), R::Server { user: "bob", server: "" }, false),
            (server("alice", "x"), R::Server { user: "alice", server: "x" }, true),
            (server("alice", "x"), R::Server { user: "alice", server: "" }, false),
            (server("alice", "x"), R::User("alice"), false),
            (group("staff"), R::User("alice"), true),
            (group("staff"), R::User("bob"), false),
            (group("staff"), R::Server { user: "carol", server: "gpu" }, true),
            (group("staff"), R::Group("staff"), true),
            (group("staff"), R::Group("other"), false),
            (user("alice"), R::Group("staff"), false),
            (Some(Filter::Service("grader".into())), R::Service("grader"), true),
            (Some(Filter::Service("grader".into())), R::Service("other"), false),
            (user("alice"), R::None, false),
            (user("alice"), R::Listing, true),
            (None, R::None, true),
            (None, R::User("anyone"), true),
        ];
        for (filter, resource, expected) in cases {
            let held = set(&[(Scope::ReadServers, filter.clone())]);
            assert_eq!(held.allows(Scope::ReadServers, *resource, &staff), *expected, "{filter:?} on {resource:?}");
            assert!(!held.allows(Scope::Servers, *resource, &staff), "other scope never allowed");
        }
    }

    #[test]
    fn intersection_is_group_aware_in_both_directions() {
        let by_group = set(&[(Scope::ReadUsers, group("staff")), (Scope::Servers, group("staff"))]);
        let by_user = set(&[
            (Scope::ReadUsers, user("alice")),
            (Scope::ReadUsers, user("bob")),
            (Scope::Servers, server("carol", "gpu")),
            (Scope::Servers, server("bob", "")),
        ]);
        let expected = ["read:users!user=alice", "servers!server=carol/gpu"];
        assert_eq!(by_group.intersect(&by_user, &staff).to_strings(), expected);
        assert_eq!(by_user.intersect(&by_group, &staff).to_strings(), expected);
        // Without membership data the group side covers nobody.
        assert!(by_group.intersect(&by_user, &NoGroups).is_empty());
    }

    #[test]
    fn intersection_server_inside_user_and_all() {
        let owner = set(&[(Scope::AccessServers, user("alice")), (Scope::ReadHub, None)]);
        let token = set(&[
            (Scope::AccessServers, server("alice", "")),
            (Scope::AccessServers, server("bob", "")),
            (Scope::ReadHub, user("alice")),
            (Scope::Proxy, None),
        ]);
        assert_eq!(
            token.intersect(&owner, &NoGroups).to_strings(),
            ["access:servers!server=alice/", "read:hub!user=alice"]
        );
    }

    #[test]
    fn contains_all_matches_intersection() {
        let owner = set(&[(Scope::ReadUsers, group("staff")), (Scope::Tokens, None)]);
        let ok = set(&[(Scope::ReadUsers, user("alice")), (Scope::Tokens, user("bob"))]);
        let too_much = set(&[(Scope::ReadUsers, user("bob"))]);
        let other_group = set(&[(Scope::ReadUsers, group("other"))]);
        assert!(owner.contains_all(&ok, &staff));
        assert!(!owner.contains_all(&too_much, &staff));
        assert!(!owner.contains_all(&other_group, &staff));
        assert!(!ok.contains_all(&owner, &staff));
        assert!(owner.contains_all(&ExpandedScopes::new(), &staff));
    }

    #[test]
    fn minus_exact_is_string_difference() {
        let a = set(&[(Scope::ReadUsers, user("alice")), (Scope::ReadUsers, user("bob")), (Scope::Proxy, None)]);
        let b = set(&[(Scope::ReadUsers, user("alice")), (Scope::Proxy, None)]);
        assert_eq!(a.minus_exact(&b).to_strings(), ["read:users!user=bob"]);
        let all = set(&[(Scope::ReadUsers, None)]);
        // `read:users` does not equal `read:users!user=bob` as a string.
        assert_eq!(a.minus_exact(&all).to_strings(), ["proxy", "read:users!user=alice", "read:users!user=bob"]);
    }

    #[test]
    fn union_merges_filters() {
        let mut a = set(&[(Scope::ReadUsers, user("alice"))]);
        a.union_with(&set(&[(Scope::ReadUsers, user("bob")), (Scope::Proxy, None)]));
        assert_eq!(a.to_strings(), ["proxy", "read:users!user=alice", "read:users!user=bob"]);
        a.union_with(&set(&[(Scope::ReadUsers, None)]));
        assert_eq!(a.to_strings(), ["proxy", "read:users"]);
    }
}
