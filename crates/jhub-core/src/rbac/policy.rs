//! [`Rbac`]: the scope registry and the role table together, and the
//! effective-scope computations the hub runs (JupyterHub `get_scopes_for`,
//! `_check_token_scopes`, `_resolve_requested_scopes`, the server token
//! scopes of `User.spawn`).

use super::expand::{Client, ExpandContext, Owner, identify_scopes};
use super::expanded::{Directory, ExpandedScopes};
use super::registry::{
    CustomScopeDef, CustomScopeError, FilterKind, RawFilter, RawScope, RawScopes, ScopeError, ScopeRegistry,
};
use super::roles::{ROLE_ADMIN, ROLE_SERVER, ROLE_USER, RoleError, RoleSpec, RoleTable, RoleWarning};
use super::scope::Scope;

/// RBAC configuration (`JupyterHub.custom_scopes`, `extra_user_scopes`,
/// `load_roles` without their member lists).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RbacConfig {
    pub custom_scopes: Vec<CustomScopeDef>,
    pub extra_user_scopes: Vec<String>,
    pub roles: Vec<RoleSpec>,
}

/// Why the RBAC configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RbacError {
    #[error("custom scopes: {0}")]
    CustomScopes(#[from] CustomScopeError),
    #[error("roles: {0}")]
    Roles(#[from] RoleError),
}

/// A token request asked for scopes its owner does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Not assigning requested scopes {} not held by {owner_kind} {owner}", excess.join(","))]
pub struct TokenScopeError {
    /// The expanded scopes that were refused, sorted.
    pub excess: Vec<String>,
    /// `User` or `Service`.
    pub owner_kind: &'static str,
    pub owner: String,
}

/// Requested raw scopes split into what is granted and what is not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedScopes {
    /// Raw scopes to store; a partly held request contributes the expanded
    /// scopes that are held.
    pub granted: RawScopes,
    /// Requested scopes not (fully) granted, for logging.
    pub refused: RawScopes,
}

/// Scopes and roles of one hub. Immutable in use; rebuild it (or
/// [`Rbac::roles_mut`]) when an authenticator changes roles.
#[derive(Debug, Clone, Default)]
pub struct Rbac {
    registry: ScopeRegistry,
    roles: RoleTable,
}

impl Rbac {
    /// Built-in scopes and the default roles.
    pub fn builtin() -> Self {
        Self::default()
    }

    /// Validates the configuration and builds the registry and role table.
    pub fn new(config: &RbacConfig) -> Result<(Self, Vec<RoleWarning>), RbacError> {
        let registry = ScopeRegistry::with_custom_scopes(config.custom_scopes.iter().cloned())?;
        let (roles, warnings) = RoleTable::from_config(&registry, &config.extra_user_scopes, &config.roles)?;
        Ok((Self { registry, roles }, warnings))
    }

    pub fn registry(&self) -> &ScopeRegistry {
        &self.registry
    }

    pub fn roles(&self) -> &RoleTable {
        &self.roles
    }

    /// For authenticator-managed roles: use [`RoleTable::upsert`] with
    /// [`Rbac::registry`].
    pub fn roles_mut(&mut self) -> (&ScopeRegistry, &mut RoleTable) {
        (&self.registry, &mut self.roles)
    }

    /// [`ScopeRegistry::parse_all`].
    pub fn parse<I, S>(&self, scopes: I) -> Result<RawScopes, ScopeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.registry.parse_all(scopes)
    }

    /// [`ScopeRegistry::expand`].
    pub fn expand(&self, raw: &RawScopes, ctx: &ExpandContext<'_>) -> ExpandedScopes {
        self.registry.expand(raw, ctx)
    }

    /// The raw scopes of a user: the `user` role, `admin` when the flag is
    /// set, and `roles` (hers and her groups'; unknown names are skipped).
    pub fn user_raw_scopes<'r>(&self, admin: bool, roles: impl IntoIterator<Item = &'r str>) -> RawScopes {
        let defaults = std::iter::once(ROLE_USER).chain(admin.then_some(ROLE_ADMIN));
        self.roles.raw_scopes_lenient(defaults.chain(roles))
    }

    /// A user's expanded scopes from her roles (add share scopes with
    /// [`ExpandedScopes::union_with`]). Cache per (user, roles, groups).
    pub fn user_scopes<'r>(&self, user: &str, admin: bool, roles: impl IntoIterator<Item = &'r str>) -> ExpandedScopes {
        self.registry.expand(&self.user_raw_scopes(admin, roles), &ExpandContext::owner(Owner::User(user)))
    }

    /// The raw scopes of a service: `admin` when the flag is set, and `roles`.
    pub fn service_raw_scopes<'r>(&self, admin: bool, roles: impl IntoIterator<Item = &'r str>) -> RawScopes {
        self.roles.raw_scopes_lenient(admin.then_some(ROLE_ADMIN).into_iter().chain(roles))
    }

    /// A service's expanded scopes from its roles.
    pub fn service_scopes<'r>(
        &self,
        service: &str,
        admin: bool,
        roles: impl IntoIterator<Item = &'r str>,
    ) -> ExpandedScopes {
        self.registry.expand(&self.service_raw_scopes(admin, roles), &ExpandContext::owner(Owner::Service(service)))
    }

    /// The effective scopes of a token request (compat §4.5): `inherit` →
    /// exactly the owner's; otherwise the token's scopes expanded for its
    /// owner and client, plus the identify scopes and (OAuth tokens) the
    /// client's access scope, intersected with what the owner holds now, so
    /// a permission the owner loses leaves her tokens at once.
    ///
    /// `owner_scopes` is the owner's full expanded set (roles and shares).
    /// Also what the token model shows as `scopes` (via `to_strings`).
    pub fn token_scopes(
        &self,
        token: &RawScopes,
        owner: Owner<'_>,
        client: Client<'_>,
        owner_scopes: &ExpandedScopes,
        dir: &(impl Directory + ?Sized),
    ) -> ExpandedScopes {
        if token.has_inherit() {
            return owner_scopes.clone();
        }
        let ctx = ExpandContext::token(owner, client);
        let mut scopes = self.registry.expand(token, &ctx);
        if let Some(access) = client.access_scope() {
            self.registry.expand_into(&access, &ctx, &mut scopes);
        }
        scopes.union_with(&identify_scopes(owner));
        scopes.intersect(owner_scopes, dir)
    }

    /// Checks a token request before the token is made: every requested
    /// scope must be held by the owner (`inherit` always passes).
    pub fn check_token_request(
        &self,
        requested: &RawScopes,
        owner: Owner<'_>,
        client: Client<'_>,
        owner_scopes: &ExpandedScopes,
        dir: &(impl Directory + ?Sized),
    ) -> Result<(), TokenScopeError> {
        let mut requested = requested.clone();
        requested.remove(&RawScope::MetaInherit);
        let wanted = self.registry.expand(&requested, &ExpandContext::token(owner, client));
        if wanted.is_empty() {
            return Ok(());
        }
        let held = wanted.intersect(owner_scopes, dir);
        let excess = wanted.minus_exact(&held);
        if excess.is_empty() {
            return Ok(());
        }
        Err(TokenScopeError {
            excess: excess.to_strings(),
            owner_kind: owner.kind_title(),
            owner: owner.name().to_string(),
        })
    }

    /// Grants what can be granted of `requested` to `user` holding the raw
    /// scopes `have` (JupyterHub `_resolve_requested_scopes`): first by
    /// text, then, for the rest, by comparing expanded scopes, so that
    /// `access:servers!server=alice/` is granted to a holder of `self`.
    pub fn resolve_requested(
        &self,
        requested: &RawScopes,
        have: &RawScopes,
        user: &str,
        client: Client<'_>,
        dir: &(impl Directory + ?Sized),
    ) -> ResolvedScopes {
        let ctx = ExpandContext::token(Owner::User(user), client);
        let mut granted: RawScopes = requested.iter().filter(|s| have.contains(s)).cloned().collect();
        let mut refused: RawScopes = requested.iter().filter(|s| !have.contains(s)).cloned().collect();
        if refused.is_empty() {
            return ResolvedScopes { granted, refused };
        }
        let mut expanded_granted = self.registry.expand(&granted, &ctx);
        let expanded_have = self.registry.expand(have, &ctx);
        for scope in refused.clone().iter() {
            // `inherit` has no expanded form; it is granted only verbatim.
            if *scope == RawScope::MetaInherit {
                continue;
            }
            let mut wanted = ExpandedScopes::new();
            self.registry.expand_into(scope, &ctx, &mut wanted);
            let wanted = wanted.minus_exact(&expanded_granted);
            let held = if wanted.is_empty() { ExpandedScopes::new() } else { wanted.intersect(&expanded_have, dir) };
            if held == wanted {
                granted.insert(scope.clone());
                refused.remove(scope);
            } else if !held.is_empty() {
                granted.extend_from(&held.to_raw());
            } else {
                continue;
            }
            expanded_granted = self.registry.expand(&granted, &ctx);
        }
        ResolvedScopes { granted, refused }
    }

    /// Raw scopes for a server's `JUPYTERHUB_API_TOKEN` (`User.spawn`):
    /// `configured` (`Spawner.server_token_scopes`) or else the `server`
    /// role's, bare `!server` bound to this server, `users:activity!user`
    /// added if missing, then limited to what the user's roles (`user_raw`,
    /// see [`Rbac::user_raw_scopes`]) allow.
    pub fn server_token_scopes(
        &self,
        configured: Option<&RawScopes>,
        user: &str,
        server: &str,
        user_raw: &RawScopes,
        dir: &(impl Directory + ?Sized),
    ) -> ResolvedScopes {
        let requested = match configured {
            Some(scopes) if !scopes.is_empty() => scopes.clone(),
            _ => self.roles.get(ROLE_SERVER).map(|role| role.scopes.clone()).unwrap_or_default(),
        };
        let bound = super::registry::Filter::Server { user: user.to_string(), server: server.to_string() };
        let mut requested: RawScopes = requested
            .iter()
            .map(|scope| match scope {
                RawScope::Scope { name, filter: Some(RawFilter::Unbound(FilterKind::Server)) } => {
                    RawScope::Scope { name: name.clone(), filter: Some(RawFilter::Bound(bound.clone())) }
                }
                other => other.clone(),
            })
            .collect();
        let activity = RawScope::unbound(Scope::UsersActivity, FilterKind::User);
        if ![activity.clone(), RawScope::plain(Scope::UsersActivity), RawScope::MetaInherit]
            .iter()
            .any(|s| requested.contains(s))
        {
            requested.insert(activity);
        }
        let mut have = user_raw.clone();
        have.insert(RawScope::MetaInherit);
        self.resolve_requested(&requested, &have, user, Client::Hub, dir)
    }
}

/// A share asked for a scope that cannot be bound to the shared server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{scope} not allowed on sharing, only !server={owner}/{server}")]
pub struct ShareScopeError {
    pub scope: String,
    pub owner: String,
    pub server: String,
}

/// The scopes of a share of `owner/server` (JupyterHub `Share._apply_filter`):
/// `access:servers!server=<owner>/<server>` by default; every requested
/// scope is bound to that server, and a scope filtered to anything else (or
/// a metascope) is refused.
pub fn share_scopes_for_server(
    requested: Option<&RawScopes>,
    owner: &str,
    server: &str,
) -> Result<RawScopes, ShareScopeError> {
    let bound = super::registry::Filter::Server { user: owner.to_string(), server: server.to_string() };
    let Some(requested) = requested.filter(|r| !r.is_empty()) else {
        return Ok([RawScope::filtered(Scope::AccessServers, bound)].into_iter().collect());
    };
    requested
        .iter()
        .map(|scope| match scope {
            RawScope::Scope { name, filter: None } => {
                Ok(RawScope::Scope { name: name.clone(), filter: Some(RawFilter::Bound(bound.clone())) })
            }
            RawScope::Scope { filter: Some(RawFilter::Bound(filter)), .. } if *filter == bound => Ok(scope.clone()),
            other => {
                Err(ShareScopeError { scope: other.to_string(), owner: owner.to_string(), server: server.to_string() })
            }
        })
        .collect()
}

impl Rbac {
    /// What a share adds to its recipient's permissions (JupyterHub
    /// `expand_share_scopes`): its scopes expanded for the recipient user
    /// (`None` for a group) with `!server` meaning the shared server.
    pub fn share_scopes(
        &self,
        scopes: &RawScopes,
        recipient: Option<&str>,
        owner: &str,
        server: &str,
    ) -> ExpandedScopes {
        let ctx = ExpandContext { owner: recipient.map(Owner::User), client: Client::Server { user: owner, server } };
        self.registry.expand(scopes, &ctx)
    }
}

impl ExpandedScopes {
    /// The expanded scopes as raw scopes with bound filters.
    pub fn to_raw(&self) -> RawScopes {
        let mut out = RawScopes::new();
        for (name, grant) in self.iter() {
            match grant.filters() {
                None => {
                    out.insert(RawScope::Scope { name, filter: None });
                }
                Some(filters) => {
                    use super::registry::Filter;
                    let users = filters.users().map(|u| Filter::User(u.to_string()));
                    let servers = filters
                        .servers()
                        .map(|(user, server)| Filter::Server { user: user.to_string(), server: server.to_string() });
                    let groups = filters.groups().map(|g| Filter::Group(g.to_string()));
                    let services = filters.services().map(|s| Filter::Service(s.to_string()));
                    for filter in users.chain(servers).chain(groups).chain(services) {
                        out.insert(RawScope::Scope { name: name.clone(), filter: Some(RawFilter::Bound(filter)) });
                    }
                }
            }
        }
        out
    }
}
