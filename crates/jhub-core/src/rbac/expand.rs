//! Expansion of raw scopes into [`ExpandedScopes`]: subscopes, filter
//! resolution against the owner and the OAuth client, the `self`
//! metascope, and the implicit "identify" and "access" scopes
//! (JupyterHub `expand_scopes`, `identify_scopes`, `access_scopes`).

use super::expanded::ExpandedScopes;
use super::registry::{Filter, FilterKind, RawFilter, RawScope, RawScopes, ScopeName, ScopeRegistry};
use super::scope::{SELF_MASK, Scope, skips_server_filter};
use std::fmt;

/// Who holds a set of scopes (a role bearer or a token owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner<'a> {
    User(&'a str),
    Service(&'a str),
}

impl Owner<'_> {
    /// `User` or `Service`, as JupyterHub names the class in messages.
    pub fn kind_title(&self) -> &'static str {
        match self {
            Owner::User(_) => "User",
            Owner::Service(_) => "Service",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Owner::User(name) | Owner::Service(name) => name,
        }
    }
}

impl fmt::Display for Owner<'_> {
    /// `User alice`, `Service grader`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind_title(), self.name())
    }
}

/// What an OAuth client stands for: a user's server, a service, or the hub
/// itself (the `jupyterhub` client that owns hub-issued tokens; also use it
/// for a client whose server or service is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Client<'a> {
    Hub,
    Server { user: &'a str, server: &'a str },
    Service(&'a str),
}

impl Client<'_> {
    /// The scope needed to use the client's target, which OAuth tokens of
    /// the client always request: `access:servers!server=<u>/<s>` or
    /// `access:services!service=<name>`; none for the hub.
    pub fn access_scope(&self) -> Option<RawScope> {
        match *self {
            Client::Hub => None,
            Client::Server { user, server } => Some(RawScope::filtered(
                Scope::AccessServers,
                Filter::Server { user: user.to_string(), server: server.to_string() },
            )),
            Client::Service(name) => Some(RawScope::filtered(Scope::AccessServices, Filter::Service(name.to_string()))),
        }
    }
}

/// What bare filters and `self` resolve against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExpandContext<'a> {
    /// `!user` → a user owner; `!service` → a service owner; `self` needs a user.
    pub owner: Option<Owner<'a>>,
    /// `!server` → the client's server; `!service` → the client's service
    /// (which wins over a service owner).
    pub client: Client<'a>,
}

impl<'a> ExpandContext<'a> {
    /// Roles of a user or service.
    pub fn owner(owner: Owner<'a>) -> Self {
        Self { owner: Some(owner), client: Client::Hub }
    }

    /// A token of `owner` issued through `client`.
    pub fn token(owner: Owner<'a>, client: Client<'a>) -> Self {
        Self { owner: Some(owner), client }
    }

    fn resolve(&self, kind: FilterKind) -> Option<Filter> {
        match kind {
            FilterKind::User => match self.owner {
                Some(Owner::User(name)) => Some(Filter::User(name.to_string())),
                _ => None,
            },
            FilterKind::Service => match (self.client, self.owner) {
                (Client::Service(name), _) | (_, Some(Owner::Service(name))) => Some(Filter::Service(name.to_string())),
                _ => None,
            },
            FilterKind::Server => match self.client {
                Client::Server { user, server } => {
                    Some(Filter::Server { user: user.to_string(), server: server.to_string() })
                }
                _ => None,
            },
            // The parser never produces a bare group filter.
            FilterKind::Group => None,
        }
    }
}

/// The raw identify scopes (`read:users:name!user`, `read:users:groups!user`)
/// that every OAuth client gets (JupyterHub `identify_scopes()`).
pub fn identify_raw() -> RawScopes {
    [
        RawScope::unbound(Scope::ReadUsersName, FilterKind::User),
        RawScope::unbound(Scope::ReadUsersGroups, FilterKind::User),
    ]
    .into_iter()
    .collect()
}

/// The scopes needed to identify `owner` (`GET /hub/api/user`): a user's
/// name and groups, or a service's name.
pub fn identify_scopes(owner: Owner<'_>) -> ExpandedScopes {
    let mut out = ExpandedScopes::new();
    match owner {
        Owner::User(name) => {
            out.insert(Scope::ReadUsersName.into(), Some(Filter::User(name.to_string())));
            out.insert(Scope::ReadUsersGroups.into(), Some(Filter::User(name.to_string())));
        }
        Owner::Service(name) => out.insert(Scope::ReadServicesName.into(), Some(Filter::Service(name.to_string()))),
    }
    out
}

impl ExpandedScopes {
    /// These scopes plus what is needed to identify `owner`; `GET /user`
    /// filters its model with this, but lists only the original scopes.
    pub fn with_identify(&self, owner: Owner<'_>) -> ExpandedScopes {
        let mut out = self.clone();
        out.union_with(&identify_scopes(owner));
        out
    }
}

impl ScopeRegistry {
    /// Expands raw scopes: subscopes added, bare filters resolved (a scope
    /// whose bare filter has no target is dropped, as JupyterHub does),
    /// `self` replaced by the user's own scopes (nothing for services),
    /// `inherit` dropped (it only means something on a token; see
    /// [`Rbac::token_scopes`](super::Rbac::token_scopes)). Deterministic; the
    /// result can be cached on (scopes, context).
    pub fn expand(&self, raw: &RawScopes, ctx: &ExpandContext<'_>) -> ExpandedScopes {
        let mut out = ExpandedScopes::new();
        for scope in raw {
            self.expand_into(scope, ctx, &mut out);
        }
        out
    }

    /// Expands one raw scope into `out`.
    pub fn expand_into(&self, scope: &RawScope, ctx: &ExpandContext<'_>, out: &mut ExpandedScopes) {
        match scope {
            RawScope::MetaInherit => {}
            RawScope::MetaSelf => {
                if let Some(Owner::User(name)) = ctx.owner {
                    for scope in SELF_MASK.iter() {
                        out.insert(scope.into(), Some(Filter::User(name.to_string())));
                    }
                }
            }
            RawScope::Scope { name, filter } => {
                let filter = match filter {
                    None => None,
                    Some(RawFilter::Bound(filter)) => Some(filter.clone()),
                    Some(RawFilter::Unbound(kind)) => match ctx.resolve(*kind) {
                        Some(filter) => Some(filter),
                        None => return,
                    },
                };
                let server_filter = matches!(filter, Some(Filter::Server { .. }));
                self.for_each_implied(name, |implied| {
                    if server_filter
                        && let ScopeName::Builtin(scope) = &implied
                        && skips_server_filter(*scope)
                    {
                        return;
                    }
                    out.insert(implied, filter.clone());
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::registry::CustomScopeDef;

    fn expand(reg: &ScopeRegistry, scopes: &[&str], ctx: ExpandContext<'_>) -> Vec<String> {
        reg.expand(&reg.parse_all(scopes).unwrap(), &ctx).to_strings()
    }

    const ALICE: ExpandContext<'static> = ExpandContext { owner: Some(Owner::User("alice")), client: Client::Hub };

    #[test]
    fn self_for_alice() {
        let reg = ScopeRegistry::builtin();
        assert_eq!(
            expand(&reg, &["self"], ALICE),
            [
                "access:servers!user=alice",
                "delete:servers!user=alice",
                "read:servers!user=alice",
                "read:shares!user=alice",
                "read:tokens!user=alice",
                "read:users!user=alice",
                "read:users:activity!user=alice",
                "read:users:groups!user=alice",
                "read:users:name!user=alice",
                "read:users:shares!user=alice",
                "servers!user=alice",
                "start:servers!user=alice",
                "tokens!user=alice",
                "users:activity!user=alice",
                "users:shares!user=alice",
            ]
        );
        // A service has no `self`.
        assert!(expand(&reg, &["self"], ExpandContext::owner(Owner::Service("svc"))).is_empty());
        assert!(expand(&reg, &["self"], ExpandContext { owner: None, client: Client::Hub }).is_empty());
    }

    #[test]
    fn filters_are_carried_to_subscopes() {
        let reg = ScopeRegistry::builtin();
        assert_eq!(
            expand(&reg, &["users!group=staff"], ALICE),
            [
                "list:users!group=staff",
                "read:users!group=staff",
                "read:users:activity!group=staff",
                "read:users:groups!group=staff",
                "read:users:name!group=staff",
                "users!group=staff",
                "users:activity!group=staff",
            ]
        );
        assert_eq!(expand(&reg, &["tokens!user"], ALICE), ["read:tokens!user=alice", "tokens!user=alice"]);
    }

    #[test]
    fn server_filters_do_not_reach_user_reads() {
        let reg = ScopeRegistry::builtin();
        assert_eq!(
            expand(&reg, &["servers!server=alice/gpu"], ALICE),
            [
                "delete:servers!server=alice/gpu",
                "read:servers!server=alice/gpu",
                "servers!server=alice/gpu",
                "start:servers!server=alice/gpu",
            ]
        );
        // Not even the named scope itself survives if it is a user read.
        assert!(expand(&reg, &["read:users!server=alice/"], ALICE).is_empty());
        // A user filter does reach them.
        assert!(expand(&reg, &["servers!user=alice"], ALICE).contains(&"read:users:name!user=alice".to_string()));
    }

    #[test]
    fn bare_filters_resolve_against_owner_and_client() {
        let reg = ScopeRegistry::builtin();
        let server = Client::Server { user: "alice", server: "gpu" };
        let table: &[(&str, ExpandContext<'_>, &[&str])] = &[
            (
                "access:servers!server",
                ExpandContext::token(Owner::User("alice"), server),
                &["access:servers!server=alice/gpu"],
            ),
            ("access:servers!server", ALICE, &[]),
            ("read:users:name!user", ExpandContext::owner(Owner::Service("svc")), &[]),
            ("access:services!service", ExpandContext::owner(Owner::Service("svc")), &["access:services!service=svc"]),
            (
                "access:services!service",
                ExpandContext::token(Owner::Service("svc"), Client::Service("other")),
                &["access:services!service=other"],
            ),
            (
                "access:services!service",
                ExpandContext::token(Owner::User("alice"), Client::Service("grader")),
                &["access:services!service=grader"],
            ),
            ("access:services!service", ALICE, &[]),
        ];
        for (scope, ctx, expected) in table {
            assert_eq!(expand(&reg, &[scope], *ctx), *expected, "{scope} in {ctx:?}");
        }
    }

    #[test]
    fn inherit_expands_to_nothing_outside_tokens() {
        let reg = ScopeRegistry::builtin();
        assert!(expand(&reg, &["inherit"], ALICE).is_empty());
    }

    #[test]
    fn custom_scopes_expand_with_their_subscopes() {
        let reg = ScopeRegistry::with_custom_scopes([
            CustomScopeDef {
                name: "custom:nb:read".into(),
                description: Some("r".into()),
                subscopes: vec!["custom:nb:read:contents".into()],
            },
            CustomScopeDef { name: "custom:nb:read:contents".into(), description: Some("c".into()), subscopes: vec![] },
        ])
        .unwrap();
        let got = reg.expand(&reg.parse_all(["custom:nb:read!server=alice/"]).unwrap(), &ALICE);
        assert_eq!(got.to_strings(), ["custom:nb:read!server=alice/", "custom:nb:read:contents!server=alice/"]);
        assert!(got.allows_custom(
            "custom:nb:read:contents",
            crate::rbac::Resource::Server { user: "alice", server: "" },
            &crate::rbac::NoGroups
        ));
    }

    #[test]
    fn identify_and_access_scopes() {
        assert_eq!(
            identify_scopes(Owner::User("alice")).to_strings(),
            ["read:users:groups!user=alice", "read:users:name!user=alice"]
        );
        assert_eq!(identify_scopes(Owner::Service("svc")).to_strings(), ["read:services:name!service=svc"]);
        assert_eq!(identify_raw().to_strings(), ["read:users:groups!user", "read:users:name!user"]);
        assert_eq!(
            Client::Server { user: "alice", server: "" }.access_scope().unwrap().to_string(),
            "access:servers!server=alice/"
        );
        assert_eq!(Client::Service("grader").access_scope().unwrap().to_string(), "access:services!service=grader");
        assert_eq!(Client::Hub.access_scope(), None);
    }
}
