//! The access decision for a route (JupyterHub `needs_scope`), listing
//! filters (`GET /users`, `/groups`, `/services`) and which model keys a
//! caller may see (`apihandlers/base.py` `user_model`, `group_model`,
//! `service_model`, `server_model`).
//!
//! Nothing here allocates on the allowed path: the checks borrow the
//! expanded set and the caller's names.

use super::expanded::{Directory, ExpandedScopes, Filters, Grant, Resource};
use super::scope::Scope;
use std::fmt;
use std::marker::PhantomData;

/// JupyterHub's message when a request carries no valid credentials.
pub const MISSING_CREDENTIALS_MESSAGE: &str = "Missing or invalid credentials.";
/// JupyterHub's message when scopes are held, but not for this resource.
pub const NOT_FOUND_MESSAGE: &str = "No access to resources or resources not found";

/// The outcome of checking a request against a route's scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access<'a> {
    /// `scope` (the first accepted one that matched) covers the resource.
    /// For [`Resource::Listing`] the grant may be filtered and the handler
    /// narrows what it returns (see [`ExpandedScopes::user_listing`]).
    Allowed { scope: Scope, grant: &'a Grant },
    /// None of the accepted scopes is held in any form, or the route names
    /// no resource and only filtered forms are held. JupyterHub: 403.
    Forbidden { required: &'a [Scope] },
    /// An accepted scope is held, but only for other resources; the caller
    /// must not learn whether this one exists. JupyterHub: 404.
    NotFound,
}

impl Access<'_> {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Access::Allowed { .. })
    }

    /// JupyterHub's error message for a denial; `None` when allowed.
    pub fn denial_message(&self) -> Option<String> {
        match self {
            Access::Allowed { .. } => None,
            Access::Forbidden { required } => Some(forbidden_message(required)),
            Access::NotFound => Some(NOT_FOUND_MESSAGE.to_string()),
        }
    }
}

/// `Action is not authorized with current scopes; requires any of [a, b]`.
pub fn forbidden_message(required: &[Scope]) -> String {
    let names: Vec<&str> = required.iter().map(|s| s.name()).collect();
    format!("Action is not authorized with current scopes; requires any of [{}]", names.join(", "))
}

impl ExpandedScopes {
    /// Decides a request to a route that accepts any one of `required`, on
    /// the resource its path names.
    pub fn authorize<'a>(
        &'a self,
        required: &'a [Scope],
        resource: Resource<'_>,
        dir: &(impl Directory + ?Sized),
    ) -> Access<'a> {
        for &scope in required {
            if let Some(grant) = self.grant(scope)
                && grant.covers(resource, dir)
            {
                return Access::Allowed { scope, grant };
            }
        }
        if resource.names_something() && required.iter().any(|scope| self.grant(*scope).is_some()) {
            Access::NotFound
        } else {
            Access::Forbidden { required }
        }
    }

    /// What `GET /users` may return, from `list:users`: only `!user=` and
    /// `!group=` filters can narrow a user listing.
    pub fn user_listing(&self) -> Listing<'_> {
        self.listing(Scope::ListUsers, |f| !f.has_servers() && !f.has_services())
    }

    /// What `GET /groups` may return, from `list:groups`: only `!group=`.
    pub fn group_listing(&self) -> Listing<'_> {
        self.listing(Scope::ListGroups, |f| !f.has_users() && !f.has_servers() && !f.has_services())
    }

    /// What `GET /services` may return, from `list:services`. Like
    /// JupyterHub, other filter kinds are not refused; they match nothing.
    pub fn service_listing(&self) -> Listing<'_> {
        self.listing(Scope::ListServices, |_| true)
    }

    fn listing(&self, scope: Scope, valid: impl Fn(&Filters) -> bool) -> Listing<'_> {
        match self.grant(scope) {
            None => Listing::Nothing,
            Some(Grant::All) => Listing::All,
            Some(Grant::Only(filters)) if valid(filters) => Listing::Only(filters),
            Some(Grant::Only(_)) => Listing::Refused,
        }
    }

    /// The user-model keys the caller may see for `user` (§2.11). An empty
    /// set means the user is left out of listings entirely.
    pub fn user_fields(&self, user: &str, dir: &(impl Directory + ?Sized)) -> FieldSet<UserField> {
        use UserField as U;
        const ACCESS: [(Scope, &[UserField]); 7] = [
            (
                Scope::ReadUsers,
                &[
                    U::Kind,
                    U::Name,
                    U::UserInfo,
                    U::Admin,
                    U::Roles,
                    U::Groups,
                    U::Server,
                    U::Pending,
                    U::Created,
                    U::LastActivity,
                ],
            ),
            (Scope::ReadUsersName, &[U::Kind, U::Name, U::UserInfo, U::Admin]),
            (Scope::ReadUsersGroups, &[U::Kind, U::Name, U::Groups]),
            (Scope::ReadUsersActivity, &[U::Kind, U::Name, U::LastActivity]),
            (Scope::ReadServers, &[U::Kind, U::Name, U::Servers]),
            (Scope::ReadRolesUsers, &[U::Kind, U::Name, U::Roles, U::Admin]),
            (Scope::AdminAuthState, &[U::Kind, U::Name, U::AuthState]),
        ];
        self.fields(&ACCESS, Resource::User(user), dir)
    }

    /// Whether a server appears in its owner's `servers` map (`read:servers`
    /// on it). JupyterHub includes the `servers` key when
    /// [`UserField::Servers`] is visible or at least one server is.
    pub fn server_visible(&self, user: &str, server: &str, dir: &(impl Directory + ?Sized)) -> bool {
        self.allows(Scope::ReadServers, Resource::Server { user, server }, dir)
    }

    /// Whether the server model includes `state` (`admin:server_state`).
    pub fn server_state_visible(&self, user: &str, server: &str, dir: &(impl Directory + ?Sized)) -> bool {
        self.allows(Scope::AdminServerState, Resource::Server { user, server }, dir)
    }

    /// The group-model keys the caller may see for `group`.
    pub fn group_fields(&self, group: &str) -> FieldSet<GroupField> {
        use GroupField as G;
        const ACCESS: [(Scope, &[GroupField]); 3] = [
            (Scope::ReadGroups, &[G::Kind, G::Name, G::Properties, G::Users]),
            (Scope::ReadGroupsName, &[G::Kind, G::Name]),
            (Scope::ReadRolesGroups, &[G::Kind, G::Name, G::Roles]),
        ];
        self.fields(&ACCESS, Resource::Group(group), &super::NoGroups)
    }

    /// The service-model keys the caller may see for `service`.
    pub fn service_fields(&self, service: &str) -> FieldSet<ServiceField> {
        use ServiceField as S;
        const ACCESS: [(Scope, &[ServiceField]); 3] = [
            (
                Scope::ReadServices,
                &[S::Kind, S::Name, S::Admin, S::Url, S::Prefix, S::Command, S::Pid, S::Info, S::Display],
            ),
            (Scope::ReadServicesName, &[S::Kind, S::Name, S::Admin]),
            (Scope::ReadRolesServices, &[S::Kind, S::Name, S::Roles, S::Admin]),
        ];
        self.fields(&ACCESS, Resource::Service(service), &super::NoGroups)
    }

    fn fields<F: ModelField>(
        &self,
        access: &[(Scope, &[F])],
        resource: Resource<'_>,
        dir: &(impl Directory + ?Sized),
    ) -> FieldSet<F> {
        let mut out = FieldSet::empty();
        for (scope, fields) in access {
            if self.allows(*scope, resource, dir) {
                fields.iter().for_each(|field| out.insert(*field));
            }
        }
        out
    }
}

/// What a listing route may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing<'a> {
    /// The listing scope is not held (the route check refuses first).
    Nothing,
    /// Everything.
    All,
    /// Only what these filters cover. To avoid scanning, look up the named
    /// users/groups/services (and the members of named groups) directly.
    Only(&'a Filters),
    /// Held only with filter kinds this listing cannot honour (e.g.
    /// `list:users!server=…`); JupyterHub answers 403 rather than widen it.
    Refused,
}

impl Listing<'_> {
    pub fn includes_user(&self, user: &str, dir: &(impl Directory + ?Sized)) -> bool {
        match self {
            Listing::All => true,
            Listing::Only(filters) => filters.covers_user(user, dir),
            Listing::Nothing | Listing::Refused => false,
        }
    }

    pub fn includes_group(&self, group: &str) -> bool {
        match self {
            Listing::All => true,
            Listing::Only(filters) => filters.covers_group(group),
            Listing::Nothing | Listing::Refused => false,
        }
    }

    pub fn includes_service(&self, service: &str) -> bool {
        match self {
            Listing::All => true,
            Listing::Only(filters) => filters.covers_service(service),
            Listing::Nothing | Listing::Refused => false,
        }
    }
}

/// A key of a JSON model whose visibility depends on scopes.
pub trait ModelField: Copy + Eq + fmt::Debug + 'static {
    /// Every field, in the model's key order.
    const ALL: &'static [Self];
    /// The JSON key.
    fn key(self) -> &'static str;
    #[doc(hidden)]
    fn bit(self) -> u32;
}

/// A set of model fields (a bit set; `Copy`, no allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FieldSet<F> {
    bits: u32,
    _field: PhantomData<F>,
}

impl<F: ModelField> FieldSet<F> {
    pub const fn empty() -> Self {
        Self { bits: 0, _field: PhantomData }
    }

    pub fn insert(&mut self, field: F) {
        self.bits |= 1 << field.bit();
    }

    pub fn contains(&self, field: F) -> bool {
        self.bits & (1 << field.bit()) != 0
    }

    pub fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// The fields in model key order.
    pub fn iter(self) -> impl Iterator<Item = F> {
        F::ALL.iter().copied().filter(move |f| self.contains(*f))
    }

    /// The JSON keys in model key order.
    pub fn keys(self) -> impl Iterator<Item = &'static str> {
        self.iter().map(F::key)
    }
}

impl<F: ModelField> fmt::Debug for FieldSet<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.keys()).finish()
    }
}

macro_rules! model_fields {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $key:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }

        impl ModelField for $name {
            const ALL: &'static [Self] = &[$($name::$variant),*];
            fn key(self) -> &'static str {
                match self { $($name::$variant => $key),* }
            }
            fn bit(self) -> u32 {
                self as u32
            }
        }
    };
}

model_fields! {
    /// Keys of the user model that depend on scopes.
    UserField {
        Kind = "kind", Name = "name", Admin = "admin", UserInfo = "user_info", Roles = "roles", Groups = "groups",
        Server = "server", Pending = "pending", Created = "created", LastActivity = "last_activity",
        Servers = "servers", AuthState = "auth_state",
    }
}

model_fields! {
    /// Keys of the group model.
    GroupField { Kind = "kind", Name = "name", Roles = "roles", Users = "users", Properties = "properties" }
}

model_fields! {
    /// Keys of the service model.
    ServiceField {
        Kind = "kind", Name = "name", Roles = "roles", Admin = "admin", Url = "url", Prefix = "prefix",
        Command = "command", Pid = "pid", Info = "info", Display = "display",
    }
}
