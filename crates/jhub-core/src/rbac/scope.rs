//! The built-in scopes of JupyterHub 6.1: names, descriptions and the
//! subscope graph, with the transitive closure computed at compile time.
//!
//! Names and the graph are JupyterHub's (`scopes.py` `scope_definitions`);
//! the descriptions are ours. There are fewer than 64 built-in scopes, so a
//! set of them is a `u64` and closures cost nothing at run time.

use std::fmt;

macro_rules! builtin_scopes {
    ($( $(#[$meta:meta])* $variant:ident = $name:literal => [$($sub:ident),*], $desc:literal; )*) => {
        /// A built-in (non-meta) scope. Metascopes (`self`, `inherit`) are
        /// [`RawScope`](super::RawScope) variants, `custom:` scopes are
        /// [`ScopeName::Custom`](super::ScopeName::Custom).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Scope {
            $( $(#[$meta])* $variant, )*
        }

        impl Scope {
            /// Every built-in scope, in declaration order.
            pub const ALL: [Scope; SCOPE_COUNT] = [$(Scope::$variant),*];

            /// The scope as JupyterHub spells it (`read:users:name`).
            pub const fn name(self) -> &'static str {
                match self { $(Scope::$variant => $name,)* }
            }

            /// Human description, shown on the OAuth consent and token pages.
            pub const fn description(self) -> &'static str {
                match self { $(Scope::$variant => $desc,)* }
            }

            /// Direct subscopes (holding this scope implies them).
            pub const fn subscopes(self) -> &'static [Scope] {
                match self { $(Scope::$variant => &[$(Scope::$sub),*],)* }
            }

            /// The built-in scope with this exact name.
            pub fn from_name(name: &str) -> Option<Scope> {
                match name {
                    $($name => Some(Scope::$variant),)*
                    _ => None,
                }
            }
        }

        /// Number of built-in scopes.
        pub const SCOPE_COUNT: usize = [$($name),*].len();
    };
}

builtin_scopes! {
    /// `(no_scope)`: identify the token owner and nothing else.
    NoScope = "(no_scope)" => [], "Know who you are, and nothing else.";
    AdminUi = "admin-ui" => [], "Open the admin page (each action there needs its own permission).";
    AdminUsers = "admin:users" => [AdminAuthState, Users, ReadRolesUsers, DeleteUsers],
        "Create, read, change and delete users, including their authentication state but not their servers or \
         tokens. This amounts to full control of the hub.";
    AdminAuthState = "admin:auth_state" => [], "Read users' authentication state.";
    Users = "users" => [ReadUsers, ListUsers, UsersActivity],
        "Read and change user models and activity (not servers, tokens or authentication state).";
    DeleteUsers = "delete:users" => [], "Delete users.";
    ListUsers = "list:users" => [ReadUsersName], "List users, with at least their names.";
    ReadUsers = "read:users" => [ReadUsersName, ReadUsersGroups, ReadUsersActivity],
        "Read user models, including the address of a running default server.";
    ReadUsersName = "read:users:name" => [], "Read user names.";
    ReadUsersGroups = "read:users:groups" => [], "See which groups users belong to.";
    ReadUsersActivity = "read:users:activity" => [], "See when users were last active.";
    ReadRoles = "read:roles" => [ReadRolesUsers, ReadRolesServices, ReadRolesGroups],
        "See which roles are given to users, groups and services.";
    ReadRolesUsers = "read:roles:users" => [], "See which roles users have.";
    ReadRolesServices = "read:roles:services" => [], "See which roles services have.";
    ReadRolesGroups = "read:roles:groups" => [], "See which roles groups have.";
    UsersActivity = "users:activity" => [ReadUsersActivity], "Report user activity.";
    AdminServers = "admin:servers" => [AdminServerState, Servers],
        "Read, start, stop, create and delete user servers, including their spawner state.";
    AdminServerState = "admin:server_state" => [], "Read and change the spawner state of user servers.";
    Servers = "servers" => [ReadServers, StartServers, DeleteServers], "Start, stop and inspect user servers.";
    ReadServers = "read:servers" => [ReadUsersName], "Read user names and server models (without spawner state).";
    StartServers = "start:servers" => [], "Create, start and edit user servers.";
    DeleteServers = "delete:servers" => [], "Stop and delete user servers.";
    Tokens = "tokens" => [ReadTokens], "Create, read and revoke users' API tokens.";
    ReadTokens = "read:tokens" => [], "Read users' API tokens (never their secret values).";
    AdminGroups = "admin:groups" => [Groups, ReadRolesGroups, DeleteGroups], "Create, read, change and delete groups.";
    Groups = "groups" => [ReadGroups, ListGroups],
        "Read and change groups and their members (membership can change what people may do).";
    ListGroups = "list:groups" => [ReadGroupsName], "List groups, with at least their names.";
    ReadGroups = "read:groups" => [ReadGroupsName], "Read group models.";
    ReadGroupsName = "read:groups:name" => [], "Read group names.";
    DeleteGroups = "delete:groups" => [], "Delete groups.";
    AdminServices = "admin:services" => [ListServices, ReadServices, ReadRolesServices],
        "Create, read, change and delete services added at run time (not those from the configuration).";
    ListServices = "list:services" => [ReadServicesName], "List services, with at least their names.";
    ReadServices = "read:services" => [ReadServicesName], "Read service models.";
    ReadServicesName = "read:services:name" => [], "Read service names.";
    ReadHub = "read:hub" => [], "Read details about the hub (versions, spawner, authenticator).";
    AccessServers = "access:servers" => [], "Use user servers, in the browser or through their API.";
    AccessServices = "access:services" => [], "Use services, in the browser or through their API.";
    UsersShares = "users:shares" => [ReadUsersShares], "See and revoke the servers shared with users.";
    ReadUsersShares = "read:users:shares" => [], "See which servers are shared with users.";
    GroupsShares = "groups:shares" => [ReadGroupsShares], "See and revoke the servers shared with groups.";
    ReadGroupsShares = "read:groups:shares" => [], "See which servers are shared with groups.";
    ReadShares = "read:shares" => [], "See who has shared access to servers.";
    Shares = "shares" => [AccessServers, ReadShares, UsersShares, GroupsShares],
        "Share servers and decide who may use them.";
    Proxy = "proxy" => [],
        "Read the proxy's routing table, resynchronise the hub with the proxy and point the hub at a new proxy.";
    Shutdown = "shutdown" => [], "Shut the hub down.";
    ReadMetrics = "read:metrics" => [], "Read Prometheus metrics.";
    /// jhub's own (not in JupyterHub): usage reports, `/hub/api/usage`.
    ReadUsage = "read:usage" => [], "Read usage reports (server, GPU, CPU and memory hours of everyone).";
}

/// Description of the `self` metascope.
pub const SELF_DESCRIPTION: &str = "Everything about your own account: your servers, tokens and activity.";
/// Description of the `inherit` metascope.
pub const INHERIT_DESCRIPTION: &str = "Everything you yourself are allowed to do.";

const _: () = assert!(SCOPE_COUNT <= 64, "ScopeMask is a u64");

impl Scope {
    /// Position in [`Scope::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// This scope and all scopes it implies, recursively.
    pub fn closure(self) -> impl Iterator<Item = Scope> {
        ScopeMask(CLOSURES[self.index()]).iter()
    }

    /// Whether holding `self` implies holding `other` (a scope implies itself).
    pub fn implies(self, other: Scope) -> bool {
        ScopeMask(CLOSURES[self.index()]).contains(other)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of built-in scopes as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ScopeMask(pub(crate) u64);

impl ScopeMask {
    pub(crate) const fn contains(self, scope: Scope) -> bool {
        self.0 & (1 << scope as u8) != 0
    }

    pub(crate) fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |scope| self.contains(*scope))
    }
}

const fn closure_mask(scope: Scope) -> u64 {
    let mut mask: u64 = 1 << scope as u8;
    // Fixed point over the graph; it is tiny, and this runs at compile time.
    let mut changed = true;
    while changed {
        changed = false;
        let mut i = 0;
        while i < SCOPE_COUNT {
            if mask & (1 << i) != 0 {
                let subs = Scope::ALL[i].subscopes();
                let mut j = 0;
                while j < subs.len() {
                    let bit: u64 = 1 << subs[j] as u8;
                    if mask & bit == 0 {
                        mask |= bit;
                        changed = true;
                    }
                    j += 1;
                }
            }
            i += 1;
        }
    }
    mask
}

const CLOSURES: [u64; SCOPE_COUNT] = {
    let mut out = [0; SCOPE_COUNT];
    let mut i = 0;
    while i < SCOPE_COUNT {
        out[i] = closure_mask(Scope::ALL[i]);
        i += 1;
    }
    out
};

/// The scopes `self` stands for (JupyterHub `_expand_self_scope`), before
/// the owner filter is applied: the closure of `read:users`, `users:shares`,
/// `read:shares`, `users:activity`, `servers`, `tokens` and `access:servers`.
pub(crate) const SELF_MASK: ScopeMask = ScopeMask(
    CLOSURES[Scope::ReadUsers as usize]
        | CLOSURES[Scope::UsersShares as usize]
        | CLOSURES[Scope::ReadShares as usize]
        | CLOSURES[Scope::UsersActivity as usize]
        | CLOSURES[Scope::Servers as usize]
        | CLOSURES[Scope::Tokens as usize]
        | CLOSURES[Scope::AccessServers as usize],
);

/// Scopes a `!server=` filter does not reach: JupyterHub drops the filter
/// for every scope whose name starts with `read:user` because a server
/// filter means nothing on user-level reads (`_expand_scope`).
pub(crate) fn skips_server_filter(scope: Scope) -> bool {
    scope.name().starts_with("read:user")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for scope in Scope::ALL {
            assert_eq!(Scope::from_name(scope.name()), Some(scope));
            assert!(seen.insert(scope.name()), "duplicate {scope}");
            assert_eq!(Scope::ALL[scope.index()], scope);
            assert!(!scope.description().is_empty());
        }
        // JupyterHub 6.1's 46 and jhub's `read:usage`.
        assert_eq!(SCOPE_COUNT, 47);
        assert_eq!(Scope::from_name("self"), None);
        assert_eq!(Scope::from_name("inherit"), None);
    }

    fn closure_names(scope: Scope) -> Vec<&'static str> {
        let mut names: Vec<_> = scope.closure().map(Scope::name).collect();
        names.sort_unstable();
        names
    }

    /// The subscope closure of every scope that has subscopes (compat §4.1).
    #[test]
    fn closure_of_each_builtin_scope() {
        let table: &[(Scope, &[&str])] = &[
            (
                Scope::AdminUsers,
                &[
                    "admin:auth_state",
                    "admin:users",
                    "delete:users",
                    "list:users",
                    "read:roles:users",
                    "read:users",
                    "read:users:activity",
                    "read:users:groups",
                    "read:users:name",
                    "users",
                    "users:activity",
                ],
            ),
            (
                Scope::Users,
                &[
                    "list:users",
                    "read:users",
                    "read:users:activity",
                    "read:users:groups",
                    "read:users:name",
                    "users",
                    "users:activity",
                ],
            ),
            (Scope::ListUsers, &["list:users", "read:users:name"]),
            (Scope::ReadUsers, &["read:users", "read:users:activity", "read:users:groups", "read:users:name"]),
            (Scope::UsersActivity, &["read:users:activity", "users:activity"]),
            (Scope::ReadRoles, &["read:roles", "read:roles:groups", "read:roles:services", "read:roles:users"]),
            (
                Scope::AdminServers,
                &[
                    "admin:server_state",
                    "admin:servers",
                    "delete:servers",
                    "read:servers",
                    "read:users:name",
                    "servers",
                    "start:servers",
                ],
            ),
            (Scope::Servers, &["delete:servers", "read:servers", "read:users:name", "servers", "start:servers"]),
            (Scope::ReadServers, &["read:servers", "read:users:name"]),
            (Scope::Tokens, &["read:tokens", "tokens"]),
            (
                Scope::AdminGroups,
                &[
                    "admin:groups",
                    "delete:groups",
                    "groups",
                    "list:groups",
                    "read:groups",
                    "read:groups:name",
                    "read:roles:groups",
                ],
            ),
            (Scope::Groups, &["groups", "list:groups", "read:groups", "read:groups:name"]),
            (Scope::ListGroups, &["list:groups", "read:groups:name"]),
            (Scope::ReadGroups, &["read:groups", "read:groups:name"]),
            (
                Scope::AdminServices,
                &["admin:services", "list:services", "read:roles:services", "read:services", "read:services:name"],
            ),
            (Scope::ListServices, &["list:services", "read:services:name"]),
            (Scope::ReadServices, &["read:services", "read:services:name"]),
            (Scope::UsersShares, &["read:users:shares", "users:shares"]),
            (Scope::GroupsShares, &["groups:shares", "read:groups:shares"]),
            (
                Scope::Shares,
                &[
                    "access:servers",
                    "groups:shares",
                    "read:groups:shares",
                    "read:shares",
                    "read:users:shares",
                    "shares",
                    "users:shares",
                ],
            ),
        ];
        for (scope, expected) in table {
            assert_eq!(closure_names(*scope), *expected, "closure of {scope}");
        }
        // Every scope not in the table is a leaf.
        for scope in Scope::ALL {
            if !table.iter().any(|(s, _)| *s == scope) {
                assert_eq!(closure_names(scope), vec![scope.name()], "{scope} should be a leaf");
                assert!(scope.subscopes().is_empty());
            }
        }
    }

    #[test]
    fn implication_follows_the_graph() {
        assert!(Scope::AdminUsers.implies(Scope::ReadUsersName));
        assert!(Scope::ReadServers.implies(Scope::ReadUsersName));
        assert!(!Scope::ReadUsersName.implies(Scope::ReadUsers));
        assert!(!Scope::Servers.implies(Scope::AdminServerState));
        assert!(Scope::Shares.implies(Scope::AccessServers));
    }

    #[test]
    fn self_mask_is_the_users_own_scopes() {
        let mut names: Vec<_> = SELF_MASK.iter().map(Scope::name).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "access:servers",
                "delete:servers",
                "read:servers",
                "read:shares",
                "read:tokens",
                "read:users",
                "read:users:activity",
                "read:users:groups",
                "read:users:name",
                "read:users:shares",
                "servers",
                "start:servers",
                "tokens",
                "users:activity",
                "users:shares",
            ]
        );
    }
}
