//! Scope names, `custom:` scope definitions and the parser for raw scopes
//! (`scope`, `scope!kind=value`, bare `scope!user`, metascopes).
//!
//! Parsing is stricter than JupyterHub in three places, each of which
//! JupyterHub accepts but then silently ignores: an empty filter
//! (`read:users!`), a filter on a metascope (`self!user=x`) and a server
//! filter without `/` (`server=alice`, which can never match). They are
//! errors here so a typo in configuration is reported instead of granting
//! nothing.

use super::scope::{INHERIT_DESCRIPTION, SELF_DESCRIPTION, Scope};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// The name of a concrete scope: built-in or `custom:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScopeName {
    Builtin(Scope),
    /// A `custom:` scope defined in the registry this name came from.
    Custom(Arc<str>),
}

impl ScopeName {
    pub fn as_str(&self) -> &str {
        match self {
            ScopeName::Builtin(scope) => scope.name(),
            ScopeName::Custom(name) => name,
        }
    }

    pub fn builtin(&self) -> Option<Scope> {
        match self {
            ScopeName::Builtin(scope) => Some(*scope),
            ScopeName::Custom(_) => None,
        }
    }
}

impl From<Scope> for ScopeName {
    fn from(scope: Scope) -> Self {
        ScopeName::Builtin(scope)
    }
}

impl fmt::Display for ScopeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a filter names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FilterKind {
    User,
    /// A server, written `<user>/<server>` (`alice/` is the default server).
    Server,
    Group,
    Service,
}

impl FilterKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FilterKind::User => "user",
            FilterKind::Server => "server",
            FilterKind::Group => "group",
            FilterKind::Service => "service",
        }
    }
}

/// A resolved filter: the one resource a filtered scope applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Filter {
    User(String),
    Server { user: String, server: String },
    Group(String),
    Service(String),
}

impl Filter {
    pub fn kind(&self) -> FilterKind {
        match self {
            Filter::User(_) => FilterKind::User,
            Filter::Server { .. } => FilterKind::Server,
            Filter::Group(_) => FilterKind::Group,
            Filter::Service(_) => FilterKind::Service,
        }
    }
}

impl fmt::Display for Filter {
    /// `user=alice`, `server=alice/gpu`, `group=g`, `service=s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::User(name) => write!(f, "user={name}"),
            Filter::Server { user, server } => write!(f, "server={user}/{server}"),
            Filter::Group(name) => write!(f, "group={name}"),
            Filter::Service(name) => write!(f, "service={name}"),
        }
    }
}

/// A filter as written in a role or token request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RawFilter {
    /// `!user=alice` and friends.
    Bound(Filter),
    /// Bare `!user`, `!server` or `!service`: the token owner, or the server
    /// or service of the OAuth client, resolved at expansion.
    Unbound(FilterKind),
}

impl fmt::Display for RawFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawFilter::Bound(filter) => filter.fmt(f),
            RawFilter::Unbound(kind) => f.write_str(kind.as_str()),
        }
    }
}

/// One scope as written in configuration, a token or an OAuth request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RawScope {
    Scope {
        name: ScopeName,
        filter: Option<RawFilter>,
    },
    /// `self`: a user's own resources (nothing for services).
    MetaSelf,
    /// `inherit`: a token with all of its owner's permissions.
    MetaInherit,
}

impl RawScope {
    /// An unfiltered built-in scope.
    pub fn plain(scope: Scope) -> Self {
        RawScope::Scope { name: scope.into(), filter: None }
    }

    /// A built-in scope with a resolved filter.
    pub fn filtered(scope: Scope, filter: Filter) -> Self {
        RawScope::Scope { name: scope.into(), filter: Some(RawFilter::Bound(filter)) }
    }

    /// A built-in scope with a bare owner/client filter (`users:activity!user`).
    pub fn unbound(scope: Scope, kind: FilterKind) -> Self {
        RawScope::Scope { name: scope.into(), filter: Some(RawFilter::Unbound(kind)) }
    }
}

impl fmt::Display for RawScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawScope::Scope { name, filter: None } => name.fmt(f),
            RawScope::Scope { name, filter: Some(filter) } => write!(f, "{name}!{filter}"),
            RawScope::MetaSelf => f.write_str("self"),
            RawScope::MetaInherit => f.write_str("inherit"),
        }
    }
}

/// A set of raw scopes (a role's, a token's, an OAuth request's).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RawScopes(BTreeSet<RawScope>);

impl RawScopes {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, scope: RawScope) -> bool {
        self.0.insert(scope)
    }

    pub fn remove(&mut self, scope: &RawScope) -> bool {
        self.0.remove(scope)
    }

    pub fn contains(&self, scope: &RawScope) -> bool {
        self.0.contains(scope)
    }

    pub fn has_inherit(&self) -> bool {
        self.0.contains(&RawScope::MetaInherit)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &RawScope> {
        self.0.iter()
    }

    /// Adds every scope of `other`.
    pub fn extend_from(&mut self, other: &RawScopes) {
        self.0.extend(other.0.iter().cloned());
    }

    /// Set inclusion as JupyterHub compares raw scopes: by their text.
    pub fn is_subset(&self, other: &RawScopes) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scopes as strings, sorted (what a token's `scopes` column stores,
    /// and the OAuth `scope` response joined with spaces).
    pub fn to_strings(&self) -> Vec<String> {
        let mut out: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        out.sort_unstable();
        out
    }
}

impl FromIterator<RawScope> for RawScopes {
    fn from_iter<T: IntoIterator<Item = RawScope>>(iter: T) -> Self {
        RawScopes(iter.into_iter().collect())
    }
}

impl Extend<RawScope> for RawScopes {
    fn extend<T: IntoIterator<Item = RawScope>>(&mut self, iter: T) {
        self.0.extend(iter);
    }
}

impl<'a> IntoIterator for &'a RawScopes {
    type Item = &'a RawScope;
    type IntoIter = std::collections::btree_set::Iter<'a, RawScope>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Why a scope string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("Scope '{scope}' does not exist{}", did_you_mean(.suggestion))]
    UnknownScope { scope: String, suggestion: Option<String> },
    #[error("Draft scope 'all' is now called 'inherit'")]
    AllIsNowInherit,
    #[error(
        "Scope filter '!{filter}' in scope '{scope}' does not exist \
         (use !user=<name>, !server=<user>/<server>, !group=<name>, !service=<name>, or bare !user, !server, !service)"
    )]
    UnknownFilter { scope: String, filter: String },
    #[error("Empty value in filter of scope '{scope}'")]
    EmptyFilterValue { scope: String },
    #[error("Server filter in scope '{scope}' must be '<user>/<server>' ('<user>/' for the default server)")]
    ServerFilterWithoutSlash { scope: String },
    #[error("Metascope '{scope}' takes no filter")]
    FilteredMetascope { scope: String },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(name) => format!("; did you mean '{name}'?"),
        None => String::new(),
    }
}

/// A `custom:` scope from configuration (`JupyterHub.custom_scopes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomScopeDef {
    pub name: String,
    /// Required; `None` is reported as an error.
    pub description: Option<String>,
    /// Other custom scopes this one implies.
    pub subscopes: Vec<String>,
}

/// Why the custom scopes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomScopeError {
    #[error(
        "Invalid scope name: '{0}'. Custom scopes must start with 'custom:', contain only lowercase ascii letters, \
         numbers, '-', '_', ':' and '*', have a letter or number right after 'custom:', and not end with '-' or ':'"
    )]
    InvalidName(String),
    #[error("Custom scope '{0}' is defined twice")]
    Duplicate(String),
    #[error("Custom scope '{0}' has no description")]
    MissingDescription(String),
    #[error(
        "Custom scope '{scope}' lists non-custom subscope '{subscope}'; custom scopes may only imply custom scopes (use a role to group scopes)"
    )]
    NonCustomSubscope { scope: String, subscope: String },
    #[error("Subscope '{subscope}' of custom scope '{scope}' is not defined")]
    UndefinedSubscope { scope: String, subscope: String },
}

#[derive(Debug, Clone)]
struct CustomScope {
    description: String,
    /// The scope and every custom scope it implies, recursively.
    closure: Vec<Arc<str>>,
}

/// Every scope the hub knows: the built-in ones and the configured
/// `custom:` ones. Immutable once built; share it behind an `Arc`.
#[derive(Debug, Clone, Default)]
pub struct ScopeRegistry {
    custom: BTreeMap<Arc<str>, CustomScope>,
}

/// `^custom:[a-z0-9][a-z0-9_\-\*:]+[a-z0-9_\*]$` (JupyterHub `_custom_scope_pattern`).
pub fn is_valid_custom_scope_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("custom:") else { return false };
    let bytes = rest.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else { return false };
    let middle_ok = |b: &u8| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b':');
    bytes.len() >= 3
        && matches!(first, b'a'..=b'z' | b'0'..=b'9')
        && matches!(last, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'*')
        && bytes[1..bytes.len() - 1].iter().all(middle_ok)
}

impl ScopeRegistry {
    /// Only the built-in scopes.
    pub fn builtin() -> Self {
        Self::default()
    }

    /// Built-in scopes plus these `custom:` ones.
    pub fn with_custom_scopes<I>(defs: I) -> Result<Self, CustomScopeError>
    where
        I: IntoIterator<Item = CustomScopeDef>,
    {
        let mut declared: BTreeMap<Arc<str>, (String, Vec<String>)> = BTreeMap::new();
        for def in defs {
            if !is_valid_custom_scope_name(&def.name) {
                return Err(CustomScopeError::InvalidName(def.name));
            }
            let Some(description) = def.description else {
                return Err(CustomScopeError::MissingDescription(def.name));
            };
            let key: Arc<str> = Arc::from(def.name.as_str());
            if declared.contains_key(&key) {
                return Err(CustomScopeError::Duplicate(def.name));
            }
            declared.insert(key, (description, def.subscopes));
        }
        for (name, (_, subscopes)) in &declared {
            for sub in subscopes {
                if declared.contains_key(sub.as_str()) {
                    continue;
                }
                let known = Scope::from_name(sub).is_some() || matches!(sub.as_str(), "self" | "inherit");
                return Err(if known {
                    CustomScopeError::NonCustomSubscope { scope: name.to_string(), subscope: sub.clone() }
                } else {
                    CustomScopeError::UndefinedSubscope { scope: name.to_string(), subscope: sub.clone() }
                });
            }
        }
        let mut custom = BTreeMap::new();
        for (name, (description, _)) in &declared {
            // Depth-first with a visited set: cycles between custom scopes
            // simply make them imply each other.
            let mut seen: BTreeSet<Arc<str>> = BTreeSet::new();
            let mut stack = vec![name.clone()];
            while let Some(next) = stack.pop() {
                if !seen.insert(next.clone()) {
                    continue;
                }
                if let Some((_, subs)) = declared.get(&next) {
                    for sub in subs {
                        if let Some((key, _)) = declared.get_key_value(sub.as_str()) {
                            stack.push(key.clone());
                        }
                    }
                }
            }
            custom.insert(
                name.clone(),
                CustomScope { description: description.clone(), closure: seen.into_iter().collect() },
            );
        }
        Ok(Self { custom })
    }

    /// The scope with this exact name (built-in or custom). Metascopes are not
    /// scope names; see [`ScopeRegistry::parse`].
    pub fn lookup(&self, name: &str) -> Option<ScopeName> {
        if let Some(scope) = Scope::from_name(name) {
            return Some(ScopeName::Builtin(scope));
        }
        self.custom.get_key_value(name).map(|(key, _)| ScopeName::Custom(key.clone()))
    }

    /// Description of a scope (empty for a custom name from another registry).
    pub fn description<'a>(&'a self, name: &'a ScopeName) -> &'a str {
        match name {
            ScopeName::Builtin(scope) => scope.description(),
            ScopeName::Custom(custom) => self.custom.get(custom).map(|c| c.description.as_str()).unwrap_or(""),
        }
    }

    /// Description of any raw scope, metascopes included.
    pub fn raw_description<'a>(&'a self, scope: &'a RawScope) -> &'a str {
        match scope {
            RawScope::Scope { name, .. } => self.description(name),
            RawScope::MetaSelf => SELF_DESCRIPTION,
            RawScope::MetaInherit => INHERIT_DESCRIPTION,
        }
    }

    /// The `custom:` scopes, by name.
    pub fn custom_scopes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.custom.iter().map(|(name, def)| (&**name, def.description.as_str()))
    }

    /// Calls `f` for the scope and every scope it implies.
    pub(crate) fn for_each_implied(&self, name: &ScopeName, mut f: impl FnMut(ScopeName)) {
        match name {
            ScopeName::Builtin(scope) => scope.closure().for_each(|s| f(ScopeName::Builtin(s))),
            ScopeName::Custom(custom) => match self.custom.get(custom) {
                Some(def) => def.closure.iter().for_each(|s| f(ScopeName::Custom(s.clone()))),
                // A name from another registry implies only itself.
                None => f(name.clone()),
            },
        }
    }

    /// Parses one raw scope: `name`, `name!kind=value`, `name!user`,
    /// `name!server`, `name!service`, `self` or `inherit`.
    pub fn parse(&self, text: &str) -> Result<RawScope, ScopeError> {
        let (base, filter) = match text.split_once('!') {
            Some((base, filter)) => (base, Some(filter)),
            None => (text, None),
        };
        match base {
            "all" => return Err(ScopeError::AllIsNowInherit),
            "self" | "inherit" => {
                if filter.is_some() {
                    return Err(ScopeError::FilteredMetascope { scope: text.to_string() });
                }
                return Ok(if base == "self" { RawScope::MetaSelf } else { RawScope::MetaInherit });
            }
            _ => {}
        }
        let Some(name) = self.lookup(base) else {
            return Err(ScopeError::UnknownScope { scope: text.to_string(), suggestion: self.suggest(base) });
        };
        let filter = match filter {
            None => None,
            Some(filter) => Some(parse_filter(text, filter)?),
        };
        Ok(RawScope::Scope { name, filter })
    }

    /// Parses a list; the first bad entry fails the whole list.
    pub fn parse_all<I, S>(&self, scopes: I) -> Result<RawScopes, ScopeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        scopes.into_iter().map(|s| self.parse(s.as_ref())).collect::<Result<BTreeSet<_>, _>>().map(RawScopes)
    }

    /// Parses a stored list, keeping what parses and returning the rest as
    /// errors (for data written by an older hub or a removed custom scope).
    pub fn parse_lossy<I, S>(&self, scopes: I) -> (RawScopes, Vec<ScopeError>)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut ok = RawScopes::new();
        let mut errors = Vec::new();
        for scope in scopes {
            match self.parse(scope.as_ref()) {
                Ok(raw) => {
                    ok.insert(raw);
                }
                Err(e) => errors.push(e),
            }
        }
        (ok, errors)
    }

    /// The closest known name, if one is close enough to be a likely typo.
    fn suggest(&self, base: &str) -> Option<String> {
        // Edit distance is quadratic; nothing that long is a typo of a scope.
        if base.is_empty() || base.len() > 80 {
            return None;
        }
        let builtin = Scope::ALL.iter().map(|s| s.name());
        let meta = ["self", "inherit"].into_iter();
        let custom = self.custom.keys().map(|k| &**k);
        builtin
            .chain(meta)
            .chain(custom)
            .map(|candidate| (strsim::normalized_damerau_levenshtein(base, candidate), candidate))
            .filter(|(score, _)| *score >= 0.7)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, name)| name.to_string())
    }
}

fn parse_filter(scope: &str, filter: &str) -> Result<RawFilter, ScopeError> {
    let unknown = || ScopeError::UnknownFilter { scope: scope.to_string(), filter: filter.to_string() };
    let Some((kind, value)) = filter.split_once('=') else {
        return match filter {
            "user" => Ok(RawFilter::Unbound(FilterKind::User)),
            "server" => Ok(RawFilter::Unbound(FilterKind::Server)),
            "service" => Ok(RawFilter::Unbound(FilterKind::Service)),
            _ => Err(unknown()),
        };
    };
    if !matches!(kind, "user" | "server" | "group" | "service") {
        return Err(unknown());
    }
    if value.is_empty() {
        return Err(ScopeError::EmptyFilterValue { scope: scope.to_string() });
    }
    let filter = match kind {
        "user" => Filter::User(value.to_string()),
        "group" => Filter::Group(value.to_string()),
        "service" => Filter::Service(value.to_string()),
        _ => {
            let Some((user, server)) = value.split_once('/') else {
                return Err(ScopeError::ServerFilterWithoutSlash { scope: scope.to_string() });
            };
            if user.is_empty() {
                return Err(ScopeError::EmptyFilterValue { scope: scope.to_string() });
            }
            Filter::Server { user: user.to_string(), server: server.to_string() }
        }
    };
    Ok(RawFilter::Bound(filter))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom_registry() -> ScopeRegistry {
        ScopeRegistry::with_custom_scopes([
            CustomScopeDef {
                name: "custom:jupyter_server:read".into(),
                description: Some("read a server".into()),
                subscopes: vec!["custom:jupyter_server:read:contents".into()],
            },
            CustomScopeDef {
                name: "custom:jupyter_server:read:contents".into(),
                description: Some("read files".into()),
                subscopes: vec![],
            },
        ])
        .unwrap()
    }

    #[test]
    fn parses_every_form_and_prints_it_back() {
        let reg = custom_registry();
        for text in [
            "read:users",
            "read:users!user=alice",
            "read:users!user",
            "access:servers!server=alice/",
            "access:servers!server=bob/gpu1",
            "access:servers!server",
            "read:groups!group=staff",
            "access:services!service=grader",
            "access:services!service",
            "self",
            "inherit",
            "(no_scope)",
            "custom:jupyter_server:read!user=alice",
            "read:users!user=a=b!c",
        ] {
            let parsed = reg.parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(parsed.to_string(), text);
        }
        assert_eq!(
            reg.parse("access:servers!server=bob/gpu1").unwrap(),
            RawScope::filtered(Scope::AccessServers, Filter::Server { user: "bob".into(), server: "gpu1".into() })
        );
        assert_eq!(
            reg.parse("users:activity!user").unwrap(),
            RawScope::unbound(Scope::UsersActivity, FilterKind::User)
        );
    }

    #[test]
    fn refuses_bad_scopes_with_clear_errors() {
        let reg = ScopeRegistry::builtin();
        assert_eq!(reg.parse("all").unwrap_err().to_string(), "Draft scope 'all' is now called 'inherit'");
        assert_eq!(
            reg.parse("read:user").unwrap_err().to_string(),
            "Scope 'read:user' does not exist; did you mean 'read:users'?"
        );
        assert_eq!(
            reg.parse("acces:servers!user=x").unwrap_err(),
            ScopeError::UnknownScope {
                scope: "acces:servers!user=x".into(),
                suggestion: Some("access:servers".into())
            }
        );
        assert_eq!(
            reg.parse("zzzzzzzz").unwrap_err(),
            ScopeError::UnknownScope { scope: "zzzzzzzz".into(), suggestion: None }
        );
        assert!(matches!(reg.parse("read:users!group").unwrap_err(), ScopeError::UnknownFilter { .. }));
        assert!(matches!(reg.parse("read:users!").unwrap_err(), ScopeError::UnknownFilter { .. }));
        assert!(matches!(reg.parse("read:users!name=x").unwrap_err(), ScopeError::UnknownFilter { .. }));
        assert!(matches!(reg.parse("read:users!user=").unwrap_err(), ScopeError::EmptyFilterValue { .. }));
        assert!(matches!(reg.parse("servers!server=/x").unwrap_err(), ScopeError::EmptyFilterValue { .. }));
        assert!(matches!(reg.parse("servers!server=alice").unwrap_err(), ScopeError::ServerFilterWithoutSlash { .. }));
        assert!(matches!(reg.parse("self!user=alice").unwrap_err(), ScopeError::FilteredMetascope { .. }));
        assert!(matches!(reg.parse("").unwrap_err(), ScopeError::UnknownScope { .. }));
        // Custom scopes exist only when configured.
        assert!(reg.parse("custom:jupyter_server:read").is_err());
        assert!(custom_registry().parse("custom:jupyter_server:read").is_ok());
    }

    #[test]
    fn parse_lossy_keeps_the_good_ones() {
        let reg = ScopeRegistry::builtin();
        let (ok, errors) = reg.parse_lossy(["read:users", "nope", "self"]);
        assert_eq!(ok.to_strings(), ["read:users", "self"]);
        assert_eq!(errors.len(), 1);
        assert!(reg.parse_all(["read:users", "nope"]).is_err());
    }

    #[test]
    fn custom_scope_names_follow_jupyterhubs_pattern() {
        for good in ["custom:abc", "custom:a-b", "custom:jupyter_server:read:*", "custom:0a_", "custom:a:b*"] {
            assert!(is_valid_custom_scope_name(good), "{good}");
        }
        for bad in
            ["custom:ab", "custom:-ab", "custom:ab-", "custom:ab:", "custom:Abc", "foo:abc", "custom:a b", "custom:"]
        {
            assert!(!is_valid_custom_scope_name(bad), "{bad}");
        }
    }

    #[test]
    fn custom_scope_definitions_are_validated() {
        let def = |name: &str, subs: &[&str]| CustomScopeDef {
            name: name.into(),
            description: Some("d".into()),
            subscopes: subs.iter().map(|s| s.to_string()).collect(),
        };
        assert!(matches!(
            ScopeRegistry::with_custom_scopes([def("read:users", &[])]),
            Err(CustomScopeError::InvalidName(_))
        ));
        assert!(matches!(
            ScopeRegistry::with_custom_scopes([def("custom:abc", &["read:users"])]),
            Err(CustomScopeError::NonCustomSubscope { .. })
        ));
        assert!(matches!(
            ScopeRegistry::with_custom_scopes([def("custom:abc", &["custom:xyz"])]),
            Err(CustomScopeError::UndefinedSubscope { .. })
        ));
        assert!(matches!(
            ScopeRegistry::with_custom_scopes([def("custom:abc", &[]), def("custom:abc", &[])]),
            Err(CustomScopeError::Duplicate(_))
        ));
        assert!(matches!(
            ScopeRegistry::with_custom_scopes([CustomScopeDef {
                name: "custom:abc".into(),
                description: None,
                subscopes: vec![]
            }]),
            Err(CustomScopeError::MissingDescription(_))
        ));
        // Cycles are allowed: the scopes imply each other.
        let reg =
            ScopeRegistry::with_custom_scopes([def("custom:aaa", &["custom:bbb"]), def("custom:bbb", &["custom:aaa"])])
                .unwrap();
        let mut implied = Vec::new();
        reg.for_each_implied(&reg.lookup("custom:aaa").unwrap(), |n| implied.push(n.to_string()));
        assert_eq!(implied, ["custom:aaa", "custom:bbb"]);
    }

    #[test]
    fn descriptions_cover_builtin_custom_and_meta() {
        let reg = custom_registry();
        let name = reg.lookup("custom:jupyter_server:read:contents").unwrap();
        assert_eq!(reg.description(&name), "read files");
        assert_eq!(reg.raw_description(&RawScope::MetaInherit), INHERIT_DESCRIPTION);
        assert_eq!(reg.raw_description(&RawScope::plain(Scope::Shutdown)), Scope::Shutdown.description());
    }
}
