//! Scopes in the hub's OAuth provider (compat §5.2 step 4–5): a client's
//! default scopes, validation of a requested `scope` against what the
//! client may ask for, the grant limited by the user's own roles, and what
//! the consent page describes.

use super::expand::{Client, Owner, identify_raw};
use super::expanded::Directory;
use super::policy::{Rbac, ResolvedScopes};
use super::registry::{Filter, FilterKind, RawFilter, RawScope, RawScopes};
use super::scope::{INHERIT_DESCRIPTION, Scope};

/// An OAuth `scope` request the client may not make (answer with
/// `error=invalid_scope` on the redirect URI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthScopeError {
    #[error("No such scopes or roles: {}", .0.join(", "))]
    Unknown(Vec<String>),
    #[error("Scope(s) not allowed for this client: {}", .0.join(", "))]
    NotAllowed(Vec<String>),
}

/// Scopes every token of this client carries: identify and access.
pub fn oauth_required_scopes(client: Client<'_>) -> RawScopes {
    let mut out = identify_raw();
    out.extend(client.access_scope());
    out
}

/// Scopes of an authorization request without `scope`: the client's
/// allowed scopes plus identify and access (unless they include `inherit`).
pub fn oauth_default_scopes(client_allowed: &RawScopes, client: Client<'_>) -> RawScopes {
    let mut out = client_allowed.clone();
    if !out.has_inherit() {
        out.extend_from(&oauth_required_scopes(client));
    }
    out
}

/// Whether the consent page must be shown: not for the user's own server,
/// a client on the no-confirm list, or scopes the user already granted the
/// client (the raw scopes of her existing tokens from it).
pub fn oauth_needs_consent(
    own_server: bool,
    no_confirm: bool,
    already_granted: &RawScopes,
    requested: &RawScopes,
) -> bool {
    !(own_server || no_confirm || (!already_granted.is_empty() && requested.is_subset(already_granted)))
}

/// One line of the consent (or token) page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeDescription {
    /// The scope without filter; `None` for the plain "identify" line.
    pub scope: Option<String>,
    pub description: String,
    /// Whom it applies to, e.g. `only you`, `users in group staff`; empty when unfiltered.
    pub filter: String,
}

/// What the consent page shows and posts back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// One hidden `scopes` input each.
    pub scopes: RawScopes,
    pub descriptions: Vec<ScopeDescription>,
}

impl Rbac {
    /// Validates an authorization request's scopes (space-separated `scope`
    /// parameter, split): empty → the client's defaults; `identify` is
    /// ignored; a role name stands for the role's scopes (pre-3.0 clients);
    /// everything must lie within the client's allowed scopes plus
    /// identify and access. Returns the requested raw scopes (with identify
    /// and access added), to be limited by [`Rbac::oauth_grant`].
    pub fn oauth_requested_scopes<'s>(
        &self,
        requested: impl IntoIterator<Item = &'s str>,
        client_allowed: &RawScopes,
        client: Client<'_>,
        user: &str,
        dir: &(impl Directory + ?Sized),
    ) -> Result<RawScopes, OAuthScopeError> {
        let texts: Vec<&str> = requested.into_iter().collect();
        let mut wanted = if texts.is_empty() {
            oauth_default_scopes(client_allowed, client)
        } else {
            // Before 3.0 the parameter held role names; a role's scopes stand in for it.
            let mut scopes = RawScopes::new();
            let mut unknown = Vec::new();
            for text in texts.into_iter().filter(|s| *s != "identify") {
                match (self.registry().parse(text), self.roles().get(text)) {
                    (Ok(scope), _) => {
                        scopes.insert(scope);
                    }
                    (Err(_), Some(role)) => scopes.extend_from(&role.scopes),
                    (Err(_), None) => unknown.push(text.to_string()),
                }
            }
            if !unknown.is_empty() {
                return Err(OAuthScopeError::Unknown(unknown));
            }
            scopes
        };
        let required = oauth_required_scopes(client);
        wanted.extend_from(&required);
        let mut allowed = client_allowed.clone();
        allowed.extend_from(&required);
        let resolved = self.resolve_requested(&wanted, &allowed, user, client, dir);
        if !resolved.refused.is_empty() {
            return Err(OAuthScopeError::NotAllowed(resolved.refused.to_strings()));
        }
        Ok(wanted)
    }

    /// Limits validated request scopes to what the user's roles allow
    /// (`user_raw`, see [`Rbac::user_raw_scopes`]); identify, access and
    /// `inherit` always pass at this step. `granted` goes into the code and
    /// the token; `refused` is for the log.
    pub fn oauth_grant(
        &self,
        requested: &RawScopes,
        user_raw: &RawScopes,
        client: Client<'_>,
        user: &str,
        dir: &(impl Directory + ?Sized),
    ) -> ResolvedScopes {
        let mut have = user_raw.clone();
        have.insert(RawScope::MetaInherit);
        have.extend_from(&oauth_required_scopes(client));
        self.resolve_requested(requested, &have, user, client, dir)
    }

    /// The consent page for `granted`: the identify/access scopes are not
    /// described; nothing left → one "identify" line; `inherit` → that alone.
    pub fn oauth_consent(&self, granted: &RawScopes, client: Client<'_>, user: &str) -> Consent {
        let required = oauth_required_scopes(client);
        let described: RawScopes = granted.iter().filter(|s| !required.contains(s)).cloned().collect();
        if described.is_empty() {
            let line = ScopeDescription {
                scope: None,
                description: Scope::NoScope.description().to_string(),
                filter: String::new(),
            };
            return Consent { scopes: granted.clone(), descriptions: vec![line] };
        }
        if described.has_inherit() {
            let line = ScopeDescription {
                scope: Some("inherit".to_string()),
                description: INHERIT_DESCRIPTION.to_string(),
                filter: String::new(),
            };
            return Consent { scopes: [RawScope::MetaInherit].into_iter().collect(), descriptions: vec![line] };
        }
        Consent { scopes: granted.clone(), descriptions: self.describe(&described, Some(Owner::User(user))) }
    }

    /// One description per raw scope, with the filter in words relative to
    /// `viewer` (`only you` for her own name).
    pub fn describe(&self, scopes: &RawScopes, viewer: Option<Owner<'_>>) -> Vec<ScopeDescription> {
        let me = match viewer {
            Some(Owner::User(name)) => Some(name),
            _ => None,
        };
        scopes
            .iter()
            .map(|scope| {
                let (name, filter) = match scope {
                    RawScope::Scope { name, filter } => (name.to_string(), filter_words(filter.as_ref(), me)),
                    other => (other.to_string(), String::new()),
                };
                ScopeDescription {
                    scope: Some(name),
                    description: self.registry().raw_description(scope).to_string(),
                    filter,
                }
            })
            .collect()
    }
}

fn filter_words(filter: Option<&RawFilter>, me: Option<&str>) -> String {
    match filter {
        None => String::new(),
        Some(RawFilter::Unbound(FilterKind::User)) => "only you".to_string(),
        Some(RawFilter::Unbound(FilterKind::Server)) => "this server".to_string(),
        Some(RawFilter::Unbound(FilterKind::Service)) => "this service".to_string(),
        Some(RawFilter::Unbound(FilterKind::Group)) => String::new(),
        Some(RawFilter::Bound(Filter::User(name))) if Some(name.as_str()) == me => "only you".to_string(),
        Some(RawFilter::Bound(Filter::User(name))) => format!("user {name}"),
        Some(RawFilter::Bound(Filter::Server { user, server })) => format!("server {user}/{server}"),
        Some(RawFilter::Bound(Filter::Group(name))) => format!("users in group {name}"),
        Some(RawFilter::Bound(Filter::Service(name))) => format!("service {name}"),
    }
}
