//! The simulated GitLab's world: users, groups (with subgroups), projects and
//! OAuth applications, how it is read from a YAML/JSON file or built in Rust,
//! and the `demo` preset.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};
use std::path::Path;

/// GitLab's access levels (GitLab members API: 10 Guest, 20 Reporter,
/// 30 Developer, 40 Maintainer, 50 Owner).
pub mod access {
    pub const GUEST: u32 = 10;
    pub const REPORTER: u32 = 20;
    pub const DEVELOPER: u32 = 30;
    pub const MAINTAINER: u32 = 40;
    pub const OWNER: u32 = 50;
}

/// Everything the simulator knows at start-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    #[serde(default)]
    pub users: Vec<SimUser>,
    #[serde(default)]
    pub groups: Vec<SimGroup>,
    #[serde(default)]
    pub projects: Vec<SimProject>,
    #[serde(default)]
    pub applications: Vec<SimApplication>,
    /// What `GET /api/v4/version` reports.
    #[serde(default = "default_version")]
    pub version: String,
    #[serde(default = "default_revision")]
    pub revision: String,
    /// `expires_in` of issued access tokens (GitLab: 7200).
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_seconds: u64,
    /// Base of the `web_url`/`avatar_url` fields in user objects.
    #[serde(default = "default_public_url")]
    pub public_url: String,
}

fn default_version() -> String {
    String::from("17.5.1-ee")
}
fn default_revision() -> String {
    String::from("5a3c3b1e2f4")
}
fn default_token_lifetime() -> u64 {
    7200
}
fn default_public_url() -> String {
    String::from("https://gitlab.example.org")
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            users: Vec::new(),
            groups: Vec::new(),
            projects: Vec::new(),
            applications: Vec::new(),
            version: default_version(),
            revision: default_revision(),
            token_lifetime_seconds: default_token_lifetime(),
            public_url: default_public_url(),
        }
    }
}

/// A GitLab user account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimUser {
    pub id: u64,
    pub username: String,
    /// Display name; defaults to the username.
    #[serde(default)]
    pub name: Option<String>,
    /// Defaults to `<username>@example.org`.
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub state: UserState,
}

/// GitLab's `state` of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserState {
    #[default]
    Active,
    Blocked,
}

impl UserState {
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Active => "active",
            UserState::Blocked => "blocked",
        }
    }
}

/// A group or subgroup; the parent of `a/b/c` is `a/b`, which must exist too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimGroup {
    pub id: u64,
    pub full_path: String,
    #[serde(default)]
    pub members: Vec<SimMember>,
}

/// A project; members of its namespace group (and that group's ancestors)
/// are inherited members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimProject {
    pub id: u64,
    /// `namespace/path`; the namespace part names a group when it exists.
    pub path_with_namespace: String,
    #[serde(default)]
    pub members: Vec<SimMember>,
}

/// A direct membership.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimMember {
    pub username: String,
    #[serde(default = "default_access_level")]
    pub access_level: u32,
}

fn default_access_level() -> u32 {
    access::DEVELOPER
}

/// An OAuth application registered in GitLab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimApplication {
    pub client_id: String,
    pub client_secret: String,
    /// Exact redirect URIs (GitLab compares them exactly).
    pub redirect_uris: Vec<String>,
    /// Scopes the application may grant; used when the request names none.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
}

/// The scopes an application has unless configured otherwise.
pub fn default_scopes() -> Vec<String> {
    ["api", "read_api", "read_user", "openid", "profile", "email"].into_iter().map(String::from).collect()
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read simulator config {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("simulator config {path} is not valid YAML/JSON: {message}")]
    Syntax { path: String, message: String },
    #[error("simulator config {path}: {message}")]
    Shape { path: String, message: String },
    #[error("simulator config is inconsistent: {0}")]
    Invalid(String),
    #[error("unknown preset {0:?} (known: demo)")]
    UnknownPreset(String),
}

impl SimConfig {
    /// An empty world with GitLab's defaults (version 17.5.1-ee, 2 h tokens).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an active user whose display name is the username.
    pub fn user(mut self, id: u64, username: &str) -> Self {
        self.users.push(SimUser {
            id,
            username: username.to_string(),
            name: None,
            email: None,
            state: UserState::Active,
        });
        self
    }

    /// Adds a group (or subgroup, by full path) with direct members.
    pub fn group(mut self, id: u64, full_path: &str, members: &[(&str, u32)]) -> Self {
        self.groups.push(SimGroup { id, full_path: full_path.to_string(), members: to_members(members) });
        self
    }

    /// Adds a project with direct members.
    pub fn project(mut self, id: u64, path_with_namespace: &str, members: &[(&str, u32)]) -> Self {
        self.projects.push(SimProject {
            id,
            path_with_namespace: path_with_namespace.to_string(),
            members: to_members(members),
        });
        self
    }

    /// Registers an OAuth application with all scopes.
    pub fn application(mut self, client_id: &str, client_secret: &str, redirect_uris: &[&str]) -> Self {
        self.applications.push(SimApplication {
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            redirect_uris: redirect_uris.iter().map(|uri| uri.to_string()).collect(),
            scopes: default_scopes(),
        });
        self
    }

    pub fn token_lifetime_seconds(mut self, seconds: u64) -> Self {
        self.token_lifetime_seconds = seconds;
        self
    }

    pub fn version(mut self, version: &str) -> Self {
        self.version = version.to_string();
        self
    }

    /// The named preset (`demo`).
    pub fn preset(name: &str) -> Result<Self, ConfigError> {
        match name {
            "demo" => Ok(Self::demo()),
            other => Err(ConfigError::UnknownPreset(other.to_string())),
        }
    }

    /// The demo world. alice and bob are in `jupyter-users`; dave only in the
    /// subgroup `jupyter-users/gpu team` (so he gets in only when that path
    /// is allowed, which needs single URL-encoding); carol is in neither,
    /// only in `other-team` and a Reporter (too low) on project 42.
    /// Application `jhub-demo` / `jhub-demo-secret`, redirecting to the hub
    /// on 127.0.0.1:8000 or localhost:8000.
    pub fn demo() -> Self {
        let mut config = Self::new();
        for (id, username, name) in [
            (101, "alice", "Alice Example"),
            (102, "bob", "Bob Example"),
            (103, "carol", "Carol Example"),
            (104, "dave", "Dave Example"),
        ] {
            config.users.push(SimUser {
                id,
                username: username.to_string(),
                name: Some(name.to_string()),
                email: Some(format!("{username}@example.org")),
                state: UserState::Active,
            });
        }
        config
            .group(10, "jupyter-users", &[("alice", access::DEVELOPER), ("bob", access::OWNER)])
            .group(11, "jupyter-users/gpu team", &[("dave", access::DEVELOPER)])
            .group(12, "other-team", &[("carol", access::OWNER)])
            .project(42, "jupyter-users/notebooks", &[("carol", access::REPORTER)])
            .application(
                "jhub-demo",
                "jhub-demo-secret",
                &["http://127.0.0.1:8000/hub/oauth_callback", "http://localhost:8000/hub/oauth_callback"],
            )
    }

    /// Parses YAML (or JSON, which YAML contains).
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let json = yaml_to_json(text).map_err(|message| ConfigError::Syntax { path: origin.to_string(), message })?;
        let config: SimConfig = serde_json::from_value(json)
            .map_err(|err| ConfigError::Shape { path: origin.to_string(), message: err.to_string() })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a YAML or JSON file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
        Self::from_yaml_str(&text, &shown)
    }

    /// Checks references and uniqueness so the simulator never has to guess.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for user in &self.users {
            if user.username.is_empty() || user.username.contains('/') {
                return Err(ConfigError::Invalid(format!("user {}: invalid username {:?}", user.id, user.username)));
            }
            if !ids.insert(user.id) {
                return Err(ConfigError::Invalid(format!("duplicate user id {}", user.id)));
            }
            if !names.insert(user.username.to_lowercase()) {
                return Err(ConfigError::Invalid(format!("duplicate username {:?}", user.username)));
            }
        }
        let mut group_ids = HashSet::new();
        let paths: BTreeSet<String> = self.groups.iter().map(|g| g.full_path.to_lowercase()).collect();
        if paths.len() != self.groups.len() {
            return Err(ConfigError::Invalid(String::from("duplicate group full_path")));
        }
        for group in &self.groups {
            if !group_ids.insert(group.id) {
                return Err(ConfigError::Invalid(format!("duplicate group id {}", group.id)));
            }
            if group.full_path.is_empty() || group.full_path.split('/').any(str::is_empty) {
                return Err(ConfigError::Invalid(format!(
                    "group {}: invalid full_path {:?}",
                    group.id, group.full_path
                )));
            }
            if let Some((parent, _)) = group.full_path.rsplit_once('/')
                && !paths.contains(&parent.to_lowercase())
            {
                return Err(ConfigError::Invalid(format!(
                    "group {:?}: parent group {parent:?} is not configured",
                    group.full_path
                )));
            }
            check_members(&group.members, &names, &format!("group {:?}", group.full_path))?;
        }
        let mut project_ids = HashSet::new();
        for project in &self.projects {
            if !project_ids.insert(project.id) {
                return Err(ConfigError::Invalid(format!("duplicate project id {}", project.id)));
            }
            check_members(&project.members, &names, &format!("project {}", project.id))?;
        }
        let mut clients = HashSet::new();
        for app in &self.applications {
            if app.client_id.is_empty() || app.client_secret.is_empty() {
                return Err(ConfigError::Invalid(String::from("application with empty client_id or client_secret")));
            }
            if !clients.insert(app.client_id.clone()) {
                return Err(ConfigError::Invalid(format!("duplicate application {:?}", app.client_id)));
            }
        }
        if self.token_lifetime_seconds == 0 {
            return Err(ConfigError::Invalid(String::from("token_lifetime_seconds must be at least 1")));
        }
        Ok(())
    }
}

fn to_members(members: &[(&str, u32)]) -> Vec<SimMember> {
    members.iter().map(|(username, level)| SimMember { username: username.to_string(), access_level: *level }).collect()
}

fn check_members(members: &[SimMember], users: &HashSet<String>, what: &str) -> Result<(), ConfigError> {
    for member in members {
        if !users.contains(&member.username.to_lowercase()) {
            return Err(ConfigError::Invalid(format!("{what}: member {:?} is not a configured user", member.username)));
        }
        if !(1..=50).contains(&member.access_level) {
            return Err(ConfigError::Invalid(format!(
                "{what}: access_level {} of {:?} is outside 1..=50",
                member.access_level, member.username
            )));
        }
    }
    Ok(())
}

/// Converts the first YAML document to JSON (scalars keep their YAML 1.2
/// core-schema types; mapping keys must be scalars).
fn yaml_to_json(text: &str) -> Result<serde_json::Value, String> {
    use saphyr::LoadableYamlNode;
    let docs = saphyr::Yaml::load_from_str(text).map_err(|err| err.to_string())?;
    match docs.first() {
        Some(doc) => convert(doc),
        None => Ok(serde_json::Value::Object(serde_json::Map::new())),
    }
}

fn convert(node: &saphyr::Yaml<'_>) -> Result<serde_json::Value, String> {
    use saphyr::{Scalar, Yaml};
    use serde_json::Value;
    Ok(match node {
        Yaml::Value(scalar) => match scalar {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(*b),
            Scalar::Integer(i) => Value::from(*i),
            Scalar::FloatingPoint(f) => {
                serde_json::Number::from_f64(f.into_inner()).map(Value::Number).unwrap_or(Value::Null)
            }
            Scalar::String(s) => Value::String(s.to_string()),
        },
        Yaml::Sequence(items) => Value::Array(items.iter().map(convert).collect::<Result<_, _>>()?),
        Yaml::Mapping(map) => {
            let mut out = serde_json::Map::new();
            for (key, value) in map {
                let key = match convert(key)? {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => return Err(format!("unsupported mapping key {other}")),
                };
                out.insert(key, convert(value)?);
            }
            Value::Object(out)
        }
        Yaml::Tagged(_, inner) => convert(inner)?,
        Yaml::Representation(raw, _, _) => Value::String(raw.to_string()),
        Yaml::Alias(_) => return Err(String::from("YAML aliases are not supported")),
        Yaml::BadValue => return Err(String::from("invalid YAML value")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_preset_is_consistent() {
        let demo = SimConfig::demo();
        demo.validate().unwrap();
        assert!(demo.groups.iter().any(|g| g.full_path == "jupyter-users/gpu team"));
    }

    #[test]
    fn yaml_file_round_trip() {
        let yaml = r#"
users:
  - {id: 1, username: Alice, name: "Alice A"}
  - {id: 2, username: bob, state: blocked}
groups:
  - id: 5
    full_path: top
    members: [{username: alice, access_level: 50}]
  - {id: 6, full_path: "top/sub group", members: [{username: bob}]}
projects:
  - {id: 42, path_with_namespace: top/proj, members: [{username: bob, access_level: 20}]}
applications:
  - {client_id: c, client_secret: s, redirect_uris: ["http://x/cb"]}
token_lifetime_seconds: 60
"#;
        let config = SimConfig::from_yaml_str(yaml, "test.yaml").unwrap();
        assert_eq!(config.users[1].state, UserState::Blocked);
        assert_eq!(config.groups[1].members[0].access_level, access::DEVELOPER);
        assert_eq!(config.token_lifetime_seconds, 60);
        assert_eq!(config.applications[0].scopes, default_scopes());
        assert_eq!(config.version, "17.5.1-ee");
    }

    #[test]
    fn json_is_accepted_too() {
        let config = SimConfig::from_yaml_str(r#"{"users": [{"id": 7, "username": "x"}]}"#, "c.json").unwrap();
        assert_eq!(config.users[0].id, 7);
    }

    #[test]
    fn inconsistent_configs_are_refused_with_the_reason() {
        let missing_parent = SimConfig::new().user(1, "a").group(2, "p/child", &[("a", 30)]);
        let err = missing_parent.validate().unwrap_err().to_string();
        assert!(err.contains("parent group \"p\""), "{err}");

        let unknown_member = SimConfig::new().group(2, "p", &[("ghost", 30)]);
        assert!(unknown_member.validate().unwrap_err().to_string().contains("\"ghost\""));

        let bad_key = SimConfig::from_yaml_str("userz: []", "x.yaml").unwrap_err().to_string();
        assert!(bad_key.contains("unknown field `userz`"), "{bad_key}");

        let syntax = SimConfig::from_yaml_str("users: [", "x.yaml").unwrap_err();
        assert!(matches!(syntax, ConfigError::Syntax { .. }));

        assert!(matches!(SimConfig::preset("prod"), Err(ConfigError::UnknownPreset(_))));
    }
}
