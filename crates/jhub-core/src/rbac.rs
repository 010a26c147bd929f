//! RBAC: JupyterHub 6.1's scopes, subscopes, filters, metascopes and default
//! roles, the effective scopes of users, services and tokens, and the
//! access decision (403 vs 404) for a request. Pure: group membership comes
//! in through [`Directory`].
//!
//! Vocabulary (as in JupyterHub `scopes.py`):
//! * raw scopes ([`RawScopes`]) are what roles, tokens and OAuth requests
//!   hold: may contain `self`, `inherit` and bare `!user`/`!server`/`!service`;
//! * expanded scopes ([`ExpandedScopes`]) are resolved: subscopes added,
//!   filters bound, metascopes gone, unfiltered forms absorbing filtered ones.
//!
//! Typical use:
//! * start-up: [`Rbac::new`] from config (custom scopes, extra user scopes, roles);
//! * per user/service (cache it): [`Rbac::user_scopes`] / [`Rbac::service_scopes`],
//!   plus share scopes via [`ScopeRegistry::expand`] and [`ExpandedScopes::union_with`];
//! * per token (cache it): [`Rbac::token_scopes`];
//! * per request: [`ExpandedScopes::authorize`], then model/listing helpers
//!   ([`ExpandedScopes::user_fields`], [`ExpandedScopes::user_listing`], …);
//! * token creation: [`Rbac::check_token_request`]; spawn:
//!   [`Rbac::server_token_scopes`]; OAuth: [`Rbac::oauth_requested_scopes`],
//!   [`Rbac::oauth_grant`], [`Rbac::oauth_consent`].

mod access;
mod expand;
mod expanded;
mod oauth;
mod policy;
mod registry;
mod roles;
mod scope;

#[cfg(test)]
mod tests;

pub use access::{
    Access, FieldSet, GroupField, Listing, MISSING_CREDENTIALS_MESSAGE, ModelField, NOT_FOUND_MESSAGE, ServiceField,
    UserField, forbidden_message,
};
pub use expand::{Client, ExpandContext, Owner, identify_raw, identify_scopes};
pub use expanded::{Directory, ExpandedScopes, Filters, Grant, NoGroups, Resource};
pub use oauth::{
    Consent, OAuthScopeError, ScopeDescription, oauth_default_scopes, oauth_needs_consent, oauth_required_scopes,
};
pub use policy::{
    Rbac, RbacConfig, RbacError, ResolvedScopes, ShareScopeError, TokenScopeError, share_scopes_for_server,
};
pub use registry::{
    CustomScopeDef, CustomScopeError, Filter, FilterKind, RawFilter, RawScope, RawScopes, ScopeError, ScopeName,
    ScopeRegistry, is_valid_custom_scope_name,
};
pub use roles::{
    ADMIN_SCOPES, ROLE_ADMIN, ROLE_SERVER, ROLE_TOKEN, ROLE_USER, Role, RoleError, RoleSpec, RoleTable, RoleWarning,
    is_valid_role_name,
};
pub use scope::{INHERIT_DESCRIPTION, SCOPE_COUNT, SELF_DESCRIPTION, Scope};
