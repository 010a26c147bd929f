//! Roles: JupyterHub's four default roles, role-name validation, and the
//! role table built from configuration (`load_roles`, `extra_user_scopes`)
//! or from an authenticator that manages roles.
//!
//! Who holds which role (users, groups, services) is data the hub keeps;
//! this module only knows role definitions.

use super::registry::{RawScope, RawScopes, ScopeError, ScopeRegistry};
use super::scope::Scope;
use std::collections::BTreeMap;
use std::fmt;

/// Every user holds this role.
pub const ROLE_USER: &str = "user";
/// Users and services with `admin: true` hold this role.
pub const ROLE_ADMIN: &str = "admin";
/// Default scopes of a server's `JUPYTERHUB_API_TOKEN`.
pub const ROLE_SERVER: &str = "server";
/// Default scopes of a new API token.
pub const ROLE_TOKEN: &str = "token";

/// The scopes of the `admin` role (compat §4.4), which cannot be changed.
pub const ADMIN_SCOPES: [Scope; 17] = [
    Scope::AdminUi,
    Scope::AdminUsers,
    Scope::AdminServers,
    Scope::AdminServices,
    Scope::Tokens,
    Scope::AdminGroups,
    Scope::ListServices,
    Scope::ReadServices,
    Scope::ReadHub,
    Scope::Proxy,
    Scope::Shutdown,
    Scope::AccessServices,
    Scope::AccessServers,
    Scope::ReadRoles,
    Scope::ReadMetrics,
    Scope::Shares,
    // jhub's usage reports, for admins like everything else of the console.
    Scope::ReadUsage,
];

const USER_DESCRIPTION: &str = "What every user may do with her own account";
const ADMIN_DESCRIPTION: &str = "Full control of the hub";
const SERVER_DESCRIPTION: &str = "What a user's server needs: report activity and accept its owner";
const TOKEN_DESCRIPTION: &str = "Everything the token's owner may do";

/// `^[a-z][a-z0-9\-_~\.]{1,253}[a-z0-9]$` (JupyterHub `_validate_role_name`).
pub fn is_valid_role_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else { return false };
    (3..=255).contains(&bytes.len())
        && first.is_ascii_lowercase()
        && matches!(last, b'a'..=b'z' | b'0'..=b'9')
        && bytes[1..bytes.len() - 1].iter().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'~' | b'.'))
}

/// A role definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub description: Option<String>,
    pub scopes: RawScopes,
}

/// A role as configured (`load_roles` entry) or sent by an authenticator.
/// Members (`users`, `groups`, `services`) are not part of it: the hub
/// assigns them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleSpec {
    pub name: String,
    pub description: Option<String>,
    /// `None` keeps a default role's scopes when overriding it.
    pub scopes: Option<Vec<String>>,
}

/// Why a role was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    #[error(
        "Invalid role name: '{0}'. Role names must be 3-255 characters of lowercase ascii letters, numbers and \
         '-', '.', '~', '_', start with a letter and end with a letter or number"
    )]
    InvalidName(String),
    #[error("Role '{role}': {source}")]
    Scope { role: String, source: ScopeError },
    #[error("Extra user scope: {0}")]
    ExtraUserScope(ScopeError),
    #[error("Cannot override the admin role's {0}")]
    AdminOverride(&'static str),
    #[error("Role '{0}' is defined more than once")]
    Duplicate(String),
    #[error("Role '{0}' does not exist")]
    Unknown(String),
    #[error("Default role '{0}' cannot be removed")]
    DefaultRole(String),
}

/// Something worth logging about the configured roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleWarning {
    NoScopes(String),
    /// The `user` role was overridden with scopes, so `extra_user_scopes` is unused.
    ExtraUserScopesIgnored,
    /// The `user` role was overridden without `self`.
    UserRoleWithoutSelf,
}

impl fmt::Display for RoleWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoleWarning::NoScopes(role) => write!(f, "role '{role}' has no scopes"),
            RoleWarning::ExtraUserScopesIgnored => {
                f.write_str("the user role is overridden with its own scopes; extra_user_scopes is ignored")
            }
            RoleWarning::UserRoleWithoutSelf => f.write_str(
                "the user role is overridden without 'self'; users may lack permissions on their own servers \
                 (add scopes with extra_user_scopes instead)",
            ),
        }
    }
}

/// All roles by name: the defaults, possibly overridden, and configured ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleTable {
    roles: BTreeMap<String, Role>,
}

impl Default for RoleTable {
    fn default() -> Self {
        Self::defaults()
    }
}

fn role(name: &str, description: &str, scopes: impl IntoIterator<Item = RawScope>) -> Role {
    Role { name: name.to_string(), description: Some(description.to_string()), scopes: scopes.into_iter().collect() }
}

fn admin_role() -> Role {
    role(ROLE_ADMIN, ADMIN_DESCRIPTION, ADMIN_SCOPES.map(RawScope::plain))
}

impl RoleTable {
    /// The four default roles without extra user scopes.
    pub fn defaults() -> Self {
        use super::registry::FilterKind;
        let roles = [
            role(ROLE_USER, USER_DESCRIPTION, [RawScope::MetaSelf]),
            admin_role(),
            role(
                ROLE_SERVER,
                SERVER_DESCRIPTION,
                [
                    RawScope::unbound(Scope::UsersActivity, FilterKind::User),
                    RawScope::unbound(Scope::AccessServers, FilterKind::Server),
                ],
            ),
            role(ROLE_TOKEN, TOKEN_DESCRIPTION, [RawScope::MetaInherit]),
        ];
        Self { roles: roles.into_iter().map(|r| (r.name.clone(), r)).collect() }
    }

    /// Defaults (the `user` role extended by `extra_user_scopes`) with the
    /// configured roles applied on top. A spec for a default role merges
    /// into it; the `admin` role cannot be changed.
    pub fn from_config(
        registry: &ScopeRegistry,
        extra_user_scopes: &[String],
        specs: &[RoleSpec],
    ) -> Result<(Self, Vec<RoleWarning>), RoleError> {
        let mut table = Self::defaults();
        let extra = registry.parse_all(extra_user_scopes).map_err(RoleError::ExtraUserScope)?;
        if let Some(user) = table.roles.get_mut(ROLE_USER) {
            user.scopes.extend_from(&extra);
        }
        let mut warnings = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for spec in specs {
            if !seen.insert(spec.name.as_str()) {
                return Err(RoleError::Duplicate(spec.name.clone()));
            }
            if spec.name == ROLE_USER && spec.scopes.is_some() {
                if !extra.is_empty() {
                    warnings.push(RoleWarning::ExtraUserScopesIgnored);
                }
                if !spec.scopes.iter().flatten().any(|s| s == "self") {
                    warnings.push(RoleWarning::UserRoleWithoutSelf);
                }
            }
            warnings.extend(table.upsert(registry, spec)?);
        }
        Ok((table, warnings))
    }

    /// Adds or replaces a role (config or authenticator-managed). Omitted
    /// fields of a spec for an existing role keep their current value.
    pub fn upsert(&mut self, registry: &ScopeRegistry, spec: &RoleSpec) -> Result<Option<RoleWarning>, RoleError> {
        if !is_valid_role_name(&spec.name) {
            return Err(RoleError::InvalidName(spec.name.clone()));
        }
        let scopes = match &spec.scopes {
            Some(scopes) => Some(
                registry.parse_all(scopes).map_err(|source| RoleError::Scope { role: spec.name.clone(), source })?,
            ),
            None => None,
        };
        if spec.name == ROLE_ADMIN {
            let admin = admin_role();
            if spec.description.as_ref().is_some_and(|d| Some(d) != admin.description.as_ref()) {
                return Err(RoleError::AdminOverride("description"));
            }
            if scopes.as_ref().is_some_and(|s| *s != admin.scopes) {
                return Err(RoleError::AdminOverride("scopes"));
            }
            return Ok(None);
        }
        let entry = self.roles.entry(spec.name.clone()).or_insert_with(|| Role {
            name: spec.name.clone(),
            description: None,
            scopes: RawScopes::new(),
        });
        if spec.description.is_some() {
            entry.description = spec.description.clone();
        }
        if let Some(scopes) = scopes {
            entry.scopes = scopes;
        }
        Ok(entry.scopes.is_empty().then(|| RoleWarning::NoScopes(spec.name.clone())))
    }

    /// Removes a role that is not a default one.
    pub fn remove(&mut self, name: &str) -> Result<Role, RoleError> {
        if matches!(name, ROLE_USER | ROLE_ADMIN | ROLE_SERVER | ROLE_TOKEN) {
            return Err(RoleError::DefaultRole(name.to_string()));
        }
        self.roles.remove(name).ok_or_else(|| RoleError::Unknown(name.to_string()))
    }

    pub fn get(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Role> {
        self.roles.values()
    }

    /// The union of the named roles' raw scopes (JupyterHub
    /// `roles_to_scopes`); an unknown name is an error.
    pub fn raw_scopes<'r>(&self, names: impl IntoIterator<Item = &'r str>) -> Result<RawScopes, RoleError> {
        let mut out = RawScopes::new();
        for name in names {
            let role = self.roles.get(name).ok_or_else(|| RoleError::Unknown(name.to_string()))?;
            out.extend_from(&role.scopes);
        }
        Ok(out)
    }

    /// Like [`RoleTable::raw_scopes`], skipping names that are not roles
    /// (an assignment to a role deleted since is no permission at all).
    pub fn raw_scopes_lenient<'r>(&self, names: impl IntoIterator<Item = &'r str>) -> RawScopes {
        let mut out = RawScopes::new();
        for role in names.into_iter().filter_map(|name| self.roles.get(name)) {
            out.extend_from(&role.scopes);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::expand::{ExpandContext, Owner};

    #[test]
    fn role_names() {
        for good in ["user", "abc", "my-role.v2", "a_b~c", "r00"] {
            assert!(is_valid_role_name(good), "{good}");
        }
        let long_ok = format!("a{}z", "b".repeat(253));
        assert!(is_valid_role_name(&long_ok));
        for bad in ["ab", "1ab", "Abc", "abc-", "ab c", "abé", "", &format!("a{}z", "b".repeat(254))] {
            assert!(!is_valid_role_name(bad), "{bad}");
        }
    }

    #[test]
    fn default_roles() {
        let table = RoleTable::defaults();
        let scopes = |name: &str| table.get(name).unwrap().scopes.to_strings();
        assert_eq!(scopes("user"), ["self"]);
        assert_eq!(scopes("server"), ["access:servers!server", "users:activity!user"]);
        assert_eq!(scopes("token"), ["inherit"]);
        assert_eq!(
            scopes("admin"),
            [
                "access:servers",
                "access:services",
                "admin-ui",
                "admin:groups",
                "admin:servers",
                "admin:services",
                "admin:users",
                "list:services",
                "proxy",
                "read:hub",
                "read:metrics",
                "read:roles",
                "read:services",
                "read:usage",
                "shares",
                "shutdown",
                "tokens",
            ]
        );
    }

    #[test]
    fn admin_role_expands_to_everything_but_custom() {
        let reg = ScopeRegistry::builtin();
        let table = RoleTable::defaults();
        let raw = table.raw_scopes(["admin"]).unwrap();
        let expanded = reg.expand(&raw, &ExpandContext::owner(Owner::User("root")));
        let held: Vec<_> = expanded.to_strings();
        // Every built-in scope except `(no_scope)` is held unfiltered.
        let mut all: Vec<String> =
            Scope::ALL.iter().filter(|s| **s != Scope::NoScope).map(|s| s.name().to_string()).collect();
        all.sort();
        assert_eq!(held, all);
    }

    #[test]
    fn config_roles_merge_validate_and_warn() {
        let reg = ScopeRegistry::builtin();
        let specs = vec![
            RoleSpec { name: "user".into(), description: None, scopes: Some(vec!["read:hub".into()]) },
            RoleSpec { name: "graders".into(), description: Some("d".into()), scopes: Some(vec!["read:users".into()]) },
            RoleSpec { name: "server".into(), description: Some("custom".into()), scopes: None },
            RoleSpec { name: "empty-role".into(), description: None, scopes: Some(vec![]) },
        ];
        let (table, warnings) = RoleTable::from_config(&reg, &["read:metrics".into()], &specs).unwrap();
        assert_eq!(table.get("user").unwrap().scopes.to_strings(), ["read:hub"]);
        assert_eq!(table.get("graders").unwrap().scopes.to_strings(), ["read:users"]);
        // Overriding only the description keeps the default scopes.
        let server = table.get("server").unwrap();
        assert_eq!(server.description.as_deref(), Some("custom"));
        assert_eq!(server.scopes.to_strings(), ["access:servers!server", "users:activity!user"]);
        assert_eq!(
            warnings,
            [
                RoleWarning::ExtraUserScopesIgnored,
                RoleWarning::UserRoleWithoutSelf,
                RoleWarning::NoScopes("empty-role".into())
            ]
        );

        let (table, warnings) = RoleTable::from_config(&reg, &["read:metrics".into()], &[]).unwrap();
        assert_eq!(table.get("user").unwrap().scopes.to_strings(), ["read:metrics", "self"]);
        assert!(warnings.is_empty());
    }

    #[test]
    fn config_errors() {
        let reg = ScopeRegistry::builtin();
        let spec = |name: &str, scopes: &[&str]| RoleSpec {
            name: name.into(),
            description: None,
            scopes: Some(scopes.iter().map(|s| s.to_string()).collect()),
        };
        let err = |specs: &[RoleSpec]| RoleTable::from_config(&reg, &[], specs).unwrap_err();
        assert_eq!(err(&[spec("admin", &["read:hub"])]), RoleError::AdminOverride("scopes"));
        assert!(matches!(err(&[spec("Bad", &[])]), RoleError::InvalidName(_)));
        assert!(matches!(err(&[spec("abc", &[]), spec("abc", &[])]), RoleError::Duplicate(_)));
        let e = err(&[spec("abc", &["read:userz"])]);
        assert_eq!(e.to_string(), "Role 'abc': Scope 'read:userz' does not exist; did you mean 'read:users'?");
        assert!(matches!(
            RoleTable::from_config(&reg, &["all".into()], &[]).unwrap_err(),
            RoleError::ExtraUserScope(ScopeError::AllIsNowInherit)
        ));
        // Restating the admin role unchanged is fine.
        let admin: Vec<&str> = ADMIN_SCOPES.iter().map(|s| s.name()).collect();
        assert!(RoleTable::from_config(&reg, &[], &[spec("admin", &admin)]).is_ok());
    }

    #[test]
    fn lookup_and_removal() {
        let mut table = RoleTable::defaults();
        assert!(matches!(table.raw_scopes(["user", "nope"]), Err(RoleError::Unknown(_))));
        assert_eq!(table.raw_scopes_lenient(["user", "nope"]).to_strings(), ["self"]);
        assert!(matches!(table.remove("user"), Err(RoleError::DefaultRole(_))));
        table
            .upsert(&ScopeRegistry::builtin(), &RoleSpec { name: "extra".into(), description: None, scopes: None })
            .unwrap();
        assert!(table.remove("extra").is_ok());
        assert!(matches!(table.remove("extra"), Err(RoleError::Unknown(_))));
    }
}
