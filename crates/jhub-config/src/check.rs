//! Checks of the user's values (each file on its own, so every finding points
//! at the line that caused it): unknown keys with suggestions, schema types,
//! z2jh keys jhub ignores (reported once), `hub.config` sections and traits,
//! `profileList` overrides under KubeSpawner's rules, placeholders and other
//! likely mistakes.

use crate::diag::Diagnostic;
use crate::keys::{self, Class, Shape};
use crate::sections::{self, Support};
use crate::values::{VNode, VValue, dotted};
use crate::yaml::Scalar;
use jhub_podspec::traits as ks;
use std::collections::BTreeMap;

/// Keys whose values are secrets (masked in output; placeholders refused by `serve`).
pub fn is_secret_path(path: &str) -> bool {
    matches!(
        path,
        "proxy.secretToken"
            | "hub.cookieSecret"
            | "hub.db.password"
            | "hub.config.JupyterHub.cookie_secret"
            | "hub.config.JupyterHub.proxy_auth_token"
            | "hub.config.ConfigurableHTTPProxy.auth_token"
            | "hub.config.Proxy.auth_token"
            | "hub.config.CryptKeeper.keys"
            | "imagePullSecret.password"
    ) || path.starts_with("hub.config.CryptKeeper.keys[")
        || (path.starts_with("hub.config.")
            && (path.ends_with(".client_secret") || path.ends_with("_password") || path.ends_with(".password")))
        || (path.starts_with("hub.services.") && (path.ends_with(".apiToken") || path.ends_with(".api_token")))
}

/// Text that is obviously a placeholder copied from an example.
pub fn is_placeholder(s: &str) -> bool {
    let t = s.trim();
    let wrapped = t.len() > 2 && t.starts_with('<') && t.ends_with('>') && !t[1..t.len() - 1].contains(['<', '>']);
    let lower = t.to_ascii_lowercase();
    wrapped
        || matches!(lower.as_str(), "changeme" | "change-me" | "change_me" | "replaceme" | "replace-me" | "replace_me")
}

/// State shared by the checks of all files.
pub(crate) struct Checker<'a> {
    pub diags: &'a mut Vec<Diagnostic>,
    /// Ignored keys by path, reported once at the end (the last file's location wins).
    pub ignored: &'a mut BTreeMap<String, Diagnostic>,
    /// The fully merged values (for consequences that depend on other keys).
    pub merged: &'a VNode,
    /// Accept the top-level `Chart` and `Release` blocks of the z2jh Secret.
    pub allow_chart_release: bool,
}

fn schema_kind(node: &VNode) -> &'static str {
    match &node.value {
        VValue::Scalar(Scalar::Null) => "null",
        VValue::Scalar(Scalar::Bool(_)) => "boolean",
        VValue::Scalar(Scalar::Int(_)) => "integer",
        VValue::Scalar(Scalar::Float(_)) => "number",
        VValue::Scalar(Scalar::Str(_)) => "string",
        VValue::Seq(_) => "array",
        VValue::Map(_) => "object",
    }
}

fn scalar_text(node: &VNode) -> String {
    match &node.value {
        VValue::Scalar(Scalar::Str(s)) => format!("{s:?}"),
        VValue::Scalar(s) => crate::yaml::scalar_to_json(s).to_string(),
        VValue::Seq(_) => "a list".into(),
        VValue::Map(_) => "a mapping".into(),
    }
}

/// The value as a message may quote it: secrets only by their kind.
fn shown_value(path: &[String], node: &VNode) -> String {
    if crate::mask::is_masked_path(path) {
        format!("{} (the value is a secret, not shown)", schema_kind(node))
    } else {
        scalar_text(node)
    }
}

/// Does `node` satisfy the schema type string?
fn type_ok(types: &str, node: &VNode) -> bool {
    if let Some(values) = types.strip_prefix("enum:") {
        let text = match &node.value {
            VValue::Scalar(Scalar::Null) => "null".to_string(),
            VValue::Scalar(Scalar::Str(s)) => s.clone(),
            _ => return false,
        };
        return values.split(',').any(|v| v == text);
    }
    if types == "any" {
        return true;
    }
    let kind = schema_kind(node);
    types.split('|').any(|t| t == kind || (t == "number" && kind == "integer"))
}

fn expected_text(types: &str) -> String {
    match types.strip_prefix("enum:") {
        Some(values) => {
            let list: Vec<String> =
                values.split(',').map(|v| if v.is_empty() { "\"\"".to_string() } else { v.to_string() }).collect();
            format!("one of {}", list.join(", "))
        }
        None => types.replace('|', " or "),
    }
}

fn env_note(node: &VNode) -> Option<String> {
    match &node.origin {
        crate::values::Origin::Env { var } => Some(format!("set by the environment variable {var}")),
        _ => None,
    }
}

fn with_env_note(mut d: Diagnostic, node: &VNode) -> Diagnostic {
    if let Some(n) = env_note(node) {
        d = d.note(n);
    }
    d
}

impl Checker<'_> {
    /// Whether this file's `node` at `path` is what the merged values hold
    /// (a later file or override may have replaced it; then only the later
    /// one is checked, so each finding is reported once, where it applies).
    /// Maps merge, so a map is always looked into.
    fn effective(&self, path: &[String], node: &VNode) -> bool {
        match self.merged.get_segments(path) {
            None => false,
            Some(m) => matches!((&m.value, &node.value), (VValue::Map(_), VValue::Map(_))) || m.origin == node.origin,
        }
    }

    fn push(&mut self, d: Diagnostic, node: &VNode) {
        self.diags.push(with_env_note(d, node));
    }

    fn ignore(&mut self, path: &str, d: Diagnostic, node: &VNode) {
        self.ignored.insert(path.to_string(), with_env_note(d, node));
    }

    /// Check one user tree (a file or an env override).
    pub fn check_tree(&mut self, tree: &VNode) {
        let Some(entries) = tree.as_map() else {
            if !tree.is_null() {
                self.push(
                    Diagnostic::error("type", "a values file must be a mapping of keys at the top level")
                        .at(tree.value_location()),
                    tree,
                );
            }
            return;
        };
        let mut path = Vec::new();
        for (key, child) in entries {
            path.push(key.clone());
            self.entry(child, &mut path);
            path.pop();
        }
        self.placeholders(tree);
    }

    fn entry(&mut self, node: &VNode, path: &mut Vec<String>) {
        if !self.effective(path, node) {
            return;
        }
        let here = dotted(path);
        let Some(schema) = keys::lookup(path) else {
            self.unknown_key(node, path);
            return;
        };
        if node.is_null() {
            return; // a null deletes the key (Helm), nothing to check
        }
        if !type_ok(schema.types, node) {
            self.push(
                Diagnostic::error(
                    "type",
                    format!("`{here}` must be {}, not {}", expected_text(schema.types), shown_value(path, node)),
                )
                .key(&here)
                .at(node.value_location())
                .note("the chart's values.schema.json rejects this, so helm would refuse the install"),
                node,
            );
            return;
        }
        match keys::classify(schema.path) {
            Some(Class::Ignored { reason }) if keys::deciding_rule(schema.path) == Some(schema.path) => {
                self.ignored_key(&here, reason, node);
                return;
            }
            _ => {}
        }
        match schema.path {
            "hub.config" => return self.hub_config(node, path),
            "singleuser.profileList" => return self.profiles(node, path),
            "singleuser.memory.limit" | "singleuser.memory.guarantee" => self.byte_spec(node, &here),
            "proxy.service.nodePorts.http" | "proxy.service.nodePorts.https" => self.node_port(node, &here),
            "hub.extraVolumes" => self.hub_extra_volumes(node),
            "hub.services" => self.hub_services(node, &here),
            _ => {}
        }
        if matches!(schema.shape, Shape::Closed | Shape::Pattern(_))
            && let Some(entries) = node.as_map()
        {
            for (key, child) in entries {
                path.push(key.clone());
                self.entry(child, path);
                path.pop();
            }
        }
    }

    fn unknown_key(&mut self, node: &VNode, path: &[String]) {
        let key = path.last().map(String::as_str).unwrap_or_default();
        let here = dotted(path);
        if path.len() == 1 && self.allow_chart_release && matches!(key, "Chart" | "Release") {
            return;
        }
        let parent = &path[..path.len() - 1];
        let parent_schema = if parent.is_empty() { None } else { keys::lookup(parent) };
        if let Some(p) = parent_schema
            && p.shape == Shape::Pattern("^[A-Z].*$")
        {
            let mut d = Diagnostic::error(
                "hub-config-section",
                format!("`{here}`: hub.config sections are class names and must start with an upper-case letter"),
            )
            .key(&here)
            .at(node.origin.location())
            .note("z2jh 4.3 and later refuse to start the hub with a lower-case section");
            let lower = key.to_ascii_lowercase();
            let exact = sections::KNOWN_SECTIONS.iter().find(|s| s.to_ascii_lowercase() == lower);
            if let Some(s) =
                exact.copied().or_else(|| keys::did_you_mean(key, sections::KNOWN_SECTIONS.iter().copied()))
            {
                d = d.help(format!("did you mean `{s}`?"));
            }
            return self.push(d, node);
        }
        let parent_path = parent_schema.map_or("", |p| p.path);
        let siblings = keys::children(parent_path);
        let where_ =
            if parent.is_empty() { "at the top level".to_string() } else { format!("under `{}`", dotted(parent)) };
        let mut d = Diagnostic::error("unknown-key", format!("unknown key `{key}` {where_}"))
            .key(&here)
            .at(node.origin.location())
            .note("z2jh's schema does not allow it, so helm would refuse the install");
        if let Some(s) = keys::did_you_mean(key, siblings.iter().copied()) {
            d = d.help(format!("did you mean `{s}`?"));
        } else if let Some(elsewhere) = keys::all().iter().find(|k| k.path.rsplit('.').next() == Some(key)) {
            // Say where it lives: `imagePullSecret` exists at the top level,
            // not under `singleuser`.
            let place = match elsewhere.path.rsplit_once('.') {
                None => "at the top level".to_string(),
                Some((parent, _)) => format!("under `{parent}`"),
            };
            d = d.help(format!("`{key}` exists {place}, as `{}`; move it there", elsewhere.path));
        }
        self.push(d, node);
    }

    fn ignored_key(&mut self, here: &str, reason: &str, node: &VNode) {
        if here == "hub.extraConfig" {
            let names: Vec<&str> =
                node.as_map().map(|m| m.iter().map(|(k, _)| k.as_str()).collect()).unwrap_or_default();
            if names.is_empty() {
                return;
            }
            let d = Diagnostic::warning(
                "python-config",
                format!(
                    "hub.extraConfig holds Python code ({}); jhub cannot run Python configuration, so it is ignored",
                    names.join(", ")
                ),
            )
            .key(here)
            .at(node.origin.location())
            .help("express the same settings as hub.config.<Section> values, or ask for the feature you need");
            return self.ignore(here, d, node);
        }
        let d = Diagnostic::warning("ignored-key", format!("`{here}` is valid z2jh, not supported by jhub, ignored"))
            .key(here)
            .at(node.origin.location())
            .note(reason.to_string());
        self.ignore(here, d, node);
    }

    fn byte_spec(&mut self, node: &VNode, here: &str) {
        if let Err(msg) = ks::parse_byte_spec(&node.to_json()) {
            let mut d = Diagnostic::error("byte-spec", format!("`{here}`: {msg}"))
                .key(here)
                .at(node.value_location())
                .note("KubeSpawner (JupyterHub's ByteSpecification) rejects it, so every spawn would fail");
            if let Some(s) = node.as_str()
                && let Some(num) = s.strip_suffix('i')
            {
                d = d.help(format!("write `{num}`: JupyterHub's K/M/G/T are already powers of 1024 (\"{num}\" = {s})"));
            }
            self.push(d, node);
        }
    }

    fn node_port(&mut self, node: &VNode, here: &str) {
        let VValue::Scalar(Scalar::Int(port)) = node.value else { return };
        if !(30000..=32767).contains(&port) {
            let d = Diagnostic::warning(
                "node-port-range",
                format!("`{here}: {port}` is outside Kubernetes' default NodePort range 30000-32767"),
            )
            .key(here)
            .at(node.value_location())
            .note("the API server rejects the proxy-public Service unless the cluster's --service-node-port-range was widened")
            .note("a reverse proxy in front must forward to the same port (the nginx of the setup guide this file comes from proxies to 30000)")
            .help("pick a port in 30000-32767, e.g. 30000, and use it in the reverse proxy too");
            self.push(d, node);
        }
    }

    fn hub_extra_volumes(&mut self, node: &VNode) {
        let Some(items) = node.as_seq() else { return };
        let mounts = self.merged.get("hub.extraVolumeMounts").and_then(VNode::as_seq).unwrap_or_default();
        for item in items {
            let name = item.child("name").and_then(VNode::as_str);
            if name == Some("hub-db-dir")
                && !mounts.iter().any(|m| m.child("name").and_then(VNode::as_str) == Some("hub-db-dir"))
            {
                self.push(
                    Diagnostic::info(
                        "redundant-volume",
                        "hub.extraVolumes declares `hub-db-dir` again without a mount; it has no effect",
                    )
                    .key("hub.extraVolumes")
                    .at(item.value_location())
                    .note(
                        "the chart already mounts the hub-db-dir PVC at /srv/jupyterhub when hub.db.type is sqlite-pvc",
                    )
                    .help("remove this entry"),
                    item,
                );
            }
        }
    }

    /// z2jh services with a `command` are processes the Python hub starts.
    fn hub_services(&mut self, node: &VNode, here: &str) {
        for (name, service) in node.as_map().unwrap_or_default() {
            if let Some(command) = service.child("command").filter(|c| !c.is_null()) {
                let path = format!("{here}.{name}.command");
                let d = Diagnostic::warning("ignored-key", format!("`{path}` is valid z2jh, not supported by jhub, ignored"))
                    .key(&path)
                    .at(command.origin.location())
                    .note("the Python hub starts such services as its own subprocesses; jhub does not run subprocesses")
                    .help(format!(
                        "run the service yourself (e.g. as a sidecar or Deployment) and set `{here}.{name}.url` and an apiToken"
                    ));
                self.ignore(&path, d, command);
            }
        }
    }

    fn placeholders(&mut self, tree: &VNode) {
        let mut found: Vec<(String, VNode)> = Vec::new();
        let merged = self.merged;
        tree.walk(&mut Vec::new(), &mut |path, node| {
            if let Some(s) = node.as_str()
                && is_placeholder(s)
                && merged.get_segments(path).is_some_and(|m| m.origin == node.origin)
                && path.first().is_none_or(|p| p != "custom")
                && !(path.len() >= 2 && path[0] == "hub" && path[1] == "extraConfig")
            {
                found.push((dotted(path), node.clone()));
            }
        });
        for (path, node) in found {
            let s = node.as_str().unwrap_or_default();
            let mut d =
                Diagnostic::warning("placeholder", format!("`{path}` is `{s}`, a placeholder left from an example"))
                    .key(&path)
                    .at(node.value_location());
            d = if is_secret_path(&path) || path.ends_with(".client_id") {
                d.note("it would be used literally as the secret or id").help(
                    "set a real value (for secrets: `openssl rand -hex 32`, for OAuth: copy it from your GitLab application); `jhub serve` refuses to start with a placeholder",
                )
            } else {
                d.note("it is used literally, which is almost certainly not intended")
                    .help("replace it with the real value")
            };
            self.push(d, &node);
        }
    }

    // ---- hub.config ------------------------------------------------------

    fn hub_config(&mut self, node: &VNode, path: &mut Vec<String>) {
        let Some(sections) = node.as_map() else { return };
        for (name, section) in sections {
            path.push(name.clone());
            let here = dotted(path);
            if !self.effective(path, section) {
            } else if !keys::pattern_matches("^[A-Z].*$", name) {
                self.unknown_key(section, path);
            } else if section.is_null() {
            } else if section.as_map().is_none() {
                self.push(
                    Diagnostic::error(
                        "type",
                        format!("`{here}` must be a mapping of traits, not {}", scalar_text(section)),
                    )
                    .key(&here)
                    .at(section.value_location()),
                    section,
                );
            } else if sections::is_spawner_section(name) {
                self.kubespawner_section(section, path);
            } else if sections::section(name).is_some() {
                self.known_section(name, section, path);
            } else {
                let mut d = Diagnostic::warning(
                    "ignored-key",
                    format!("`{here}` is valid z2jh, not supported by jhub, ignored"),
                )
                .key(&here)
                .at(section.origin.location())
                .note(format!("jhub reads these hub.config sections: {}", sections::KNOWN_SECTIONS.join(", ")));
                if let Some(s) = keys::did_you_mean(name, sections::KNOWN_SECTIONS.iter().copied()) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                self.ignore(&here, d, section);
            }
            path.pop();
        }
    }

    fn known_section(&mut self, name: &str, section: &VNode, path: &mut Vec<String>) {
        for (trait_name, value) in section.as_map().unwrap_or_default() {
            path.push(trait_name.clone());
            let here = dotted(path);
            if !self.effective(path, value) {
                path.pop();
                continue;
            }
            match sections::find_trait(name, trait_name) {
                None => {
                    let mut d = Diagnostic::warning(
                        "unknown-trait",
                        format!("`{trait_name}` is not a {name} setting jhub knows"),
                    )
                    .key(&here)
                    .at(value.origin.location())
                    .note("JupyterHub would only log \"Config option not recognized\" and ignore it; so does jhub");
                    if let Some(s) = keys::did_you_mean(trait_name, sections::trait_names(name)) {
                        d = d.help(format!("did you mean `{s}`?"));
                    }
                    self.push(d, value);
                }
                Some(info) => {
                    self.trait_type(info.kind, trait_name, value, &here);
                    match info.support {
                        Support::Supported => {}
                        Support::Fixed(reason) => self.push(
                            Diagnostic::warning("fixed-trait", format!("`{here}` cannot be changed in jhub, ignored"))
                                .key(&here)
                                .at(value.origin.location())
                                .note(reason),
                            value,
                        ),
                        Support::Ignored(reason) => {
                            let d = Diagnostic::warning(
                                "ignored-key",
                                format!("`{here}` is valid z2jh, not supported by jhub, ignored"),
                            )
                            .key(&here)
                            .at(value.origin.location())
                            .note(reason);
                            self.ignore(&here, d, value);
                        }
                        Support::Deprecated { use_instead } => self.push(
                            Diagnostic::warning(
                                "deprecated-trait",
                                format!("`{here}` is deprecated; it still works as `{use_instead}`"),
                            )
                            .key(&here)
                            .at(value.origin.location())
                            .help(format!("rename it to `{use_instead}`")),
                            value,
                        ),
                    }
                }
            }
            path.pop();
        }
    }

    fn trait_type(&mut self, kind: ks::TraitKind, name: &str, value: &VNode, here: &str) {
        if value.is_null() {
            return; // a null deletes the key (Helm)
        }
        let def = ks::TraitDef { name: leak_name(name), kind, doc: "" };
        if let Err(msg) = ks::check_value(&def, &value.to_json()) {
            let segments: Vec<String> = here.split('.').map(str::to_string).collect();
            // The trait check's message quotes the value: not for a secret.
            let msg = if crate::mask::is_masked_path(&segments) {
                format!("a value of the wrong type (a {}; the value is a secret, not shown)", schema_kind(value))
            } else {
                msg.to_string()
            };
            self.push(
                Diagnostic::error("trait-type", format!("`{here}`: {msg}"))
                    .key(here)
                    .at(value.value_location())
                    .note("traitlets would refuse it when the hub starts"),
                value,
            );
        }
    }

    fn kubespawner_section(&mut self, section: &VNode, path: &mut Vec<String>) {
        for (trait_name, value) in section.as_map().unwrap_or_default() {
            path.push(trait_name.clone());
            let here = dotted(path);
            if !self.effective(path, value) {
                path.pop();
                continue;
            }
            if let Some(dep) = ks::deprecated(trait_name) {
                self.deprecated_trait(
                    dep,
                    section.as_map().is_some_and(|m| m.iter().any(|(k, _)| k == dep.use_instead)),
                    value,
                    &here,
                );
                path.pop();
                continue;
            }
            match ks::lookup(trait_name) {
                None => {
                    let mut d =
                        Diagnostic::warning("unknown-trait", format!("`{trait_name}` is not a KubeSpawner setting"))
                            .key(&here)
                            .at(value.origin.location())
                            .note("KubeSpawner would log \"Config option not recognized\" and ignore it");
                    if let Some(s) = ks::suggest(trait_name) {
                        d = d.help(format!("did you mean `{s}`?"));
                    }
                    self.push(d, value);
                }
                Some(def) if def.kind == ks::TraitKind::Any => self.python_trait(&here, value),
                Some(def) if def.name == "group_overrides" && value.as_map().is_some() => {
                    self.group_overrides(value, path);
                }
                Some(def) => {
                    self.override_value(def, value, &here, "the hub refuses the setting when it creates a spawner")
                }
            }
            path.pop();
        }
    }

    /// JupyterHub 5 `Spawner.group_overrides`: each entry needs `groups`
    /// (a list of group names) and `spawner_override` (checked like a
    /// profile's `kubespawner_override`).
    fn group_overrides(&mut self, node: &VNode, path: &mut Vec<String>) {
        for (key, entry) in node.as_map().unwrap_or_default() {
            path.push(key.clone());
            let here = dotted(path);
            match (entry.child("groups"), entry.child("spawner_override")) {
                (Some(groups), Some(overrides)) if entry.as_map().is_some() => {
                    path.push("groups".into());
                    self.string_list(groups, path, "a list of hub group names");
                    path.pop();
                    path.push("spawner_override".into());
                    let limits = Limits::from_profile(self.merged, Some(overrides));
                    self.overrides(overrides, path, &limits);
                    path.pop();
                }
                _ => self.push(
                    Diagnostic::error(
                        "group-overrides",
                        format!("`{here}` must be a mapping with `groups` (a list) and `spawner_override` (a mapping)"),
                    )
                    .key(&here)
                    .at(entry.value_location())
                    .note("JupyterHub fails every spawn of a member with KeyError"),
                    entry,
                ),
            }
            path.pop();
        }
    }

    /// A deprecated KubeSpawner name (`image_spec`): honoured under its new
    /// name with a warning, its value checked as the new trait's.
    fn deprecated_trait(&mut self, dep: &'static ks::DeprecatedTrait, shadowed: bool, value: &VNode, here: &str) {
        let message = if shadowed {
            format!(
                "`{}` is deprecated and `{}` is also set here: it is ignored in favour of `{}` (as KubeSpawner does)",
                dep.name, dep.use_instead, dep.use_instead
            )
        } else {
            dep.to_string()
        };
        self.push(
            Diagnostic::warning("deprecated-trait", message)
                .key(here)
                .at(value.origin.location())
                .help(format!("rename it to `{}`", dep.use_instead)),
            value,
        );
        if !shadowed && let Some(def) = ks::lookup(dep.use_instead) {
            self.override_value(def, value, here, "the setting is refused");
        }
    }

    /// Traits that hold Python callables or objects in KubeSpawner.
    fn python_trait(&mut self, here: &str, value: &VNode) {
        if value.is_null() {
            return;
        }
        let d = Diagnostic::warning("ignored-key", format!("`{here}` is valid z2jh, not supported by jhub, ignored"))
            .key(here)
            .at(value.origin.location())
            .note("in KubeSpawner it takes Python code (a callable), which jhub cannot run");
        self.ignore(here, d, value);
    }

    fn override_value(&mut self, def: &ks::TraitDef, value: &VNode, here: &str, consequence: &str) {
        let json = value.to_json();
        if json.as_str().is_some_and(|s| s.contains("{value}")) {
            return; // unlisted_choice template, checked when the user's text is known
        }
        if let Err(msg) = ks::check_value(def, &json) {
            let mut d = Diagnostic::error("trait-type", format!("`{here}`: {msg}"))
                .key(here)
                .at(value.value_location())
                .note(consequence.to_string());
            if def.kind == ks::TraitKind::ByteSpec
                && let Some(s) = json.as_str()
                && let Some(num) = s.strip_suffix('i')
            {
                d = d.help(format!("write `{num}`: JupyterHub's K/M/G/T are already powers of 1024 (\"{num}\" = {s})"));
            } else if def.kind == ks::TraitKind::Float
                && let Some(s) = json.as_str()
            {
                d = d.help(format!("write a number without quotes, e.g. `{}: {}`", def.name, s.trim()));
            }
            self.push(d, value);
        }
    }

    // ---- singleuser.profileList -----------------------------------------

    fn profiles(&mut self, node: &VNode, path: &mut Vec<String>) {
        let Some(profiles) = node.as_seq() else { return };
        for (i, profile) in profiles.iter().enumerate() {
            path.push(format!("[{i}]"));
            let here = dotted(path);
            let Some(entries) = profile.as_map() else {
                self.push(
                    Diagnostic::error(
                        "profile",
                        format!("`{here}` must be a mapping (display_name, kubespawner_override, ...)"),
                    )
                    .key(&here)
                    .at(profile.value_location()),
                    profile,
                );
                path.pop();
                continue;
            };
            if profile.child("display_name").is_none() {
                self.push(
                    Diagnostic::error("profile", format!("`{here}` has no display_name"))
                        .key(&here)
                        .at(profile.value_location())
                        .note("KubeSpawner needs it for the form and the profile's slug; the spawn page would fail"),
                    profile,
                );
            }
            let limits = Limits::from_profile(self.merged, profile.child("kubespawner_override"));
            for (key, value) in entries {
                path.push(key.clone());
                match key.as_str() {
                    "display_name" | "description" | "slug" | "default" => {}
                    "allowed_groups" => self.string_list(value, path, "a list of hub group names"),
                    "kubespawner_override" => self.overrides(value, path, &limits),
                    "profile_options" => self.profile_options(value, path, &limits),
                    _ => self.unknown_profile_key(
                        key,
                        value,
                        path,
                        &[
                            "display_name",
                            "description",
                            "slug",
                            "default",
                            "kubespawner_override",
                            "profile_options",
                            "allowed_groups",
                        ],
                    ),
                }
                path.pop();
            }
            path.pop();
        }
    }

    /// A list of strings (a profile's `allowed_groups`, jhub's own key).
    fn string_list(&mut self, value: &VNode, path: &[String], what: &str) {
        let json = value.to_json();
        let ok = json.as_array().is_some_and(|items| items.iter().all(serde_json::Value::is_string));
        if !ok {
            let here = dotted(path);
            self.push(
                Diagnostic::error("profile", format!("`{here}` must be {what}")).key(&here).at(value.value_location()),
                value,
            );
        }
    }

    fn unknown_profile_key(&mut self, key: &str, value: &VNode, path: &[String], known: &[&str]) {
        let here = dotted(path);
        let mut d = Diagnostic::warning(
            "unknown-profile-key",
            format!("`{key}` is not a profileList key; KubeSpawner ignores it silently"),
        )
        .key(&here)
        .at(value.origin.location());
        if let Some(s) = keys::did_you_mean(key, known.iter().copied()) {
            d = d.help(format!("did you mean `{s}`?"));
        }
        self.push(d, value);
    }

    fn profile_options(&mut self, node: &VNode, path: &mut Vec<String>, limits: &Limits) {
        for (option, spec) in node.as_map().unwrap_or_default() {
            path.push(option.clone());
            for (key, value) in spec.as_map().unwrap_or_default() {
                path.push(key.clone());
                match key.as_str() {
                    "display_name" => {}
                    "choices" => {
                        for (choice, cspec) in value.as_map().unwrap_or_default() {
                            path.push(choice.clone());
                            let choice_limits = limits.with_override(cspec.child("kubespawner_override"));
                            for (ckey, cvalue) in cspec.as_map().unwrap_or_default() {
                                path.push(ckey.clone());
                                match ckey.as_str() {
                                    "display_name" | "default" => {}
                                    "kubespawner_override" => self.overrides(cvalue, path, &choice_limits),
                                    _ => self.unknown_profile_key(
                                        ckey,
                                        cvalue,
                                        path,
                                        &["display_name", "default", "kubespawner_override"],
                                    ),
                                }
                                path.pop();
                            }
                            path.pop();
                        }
                    }
                    "unlisted_choice" => {
                        let known = [
                            "enabled",
                            "display_name",
                            "display_name_in_choices",
                            "validation_regex",
                            "validation_message",
                            "kubespawner_override",
                        ];
                        for (ukey, uvalue) in value.as_map().unwrap_or_default() {
                            path.push(ukey.clone());
                            if ukey == "kubespawner_override" {
                                self.overrides(uvalue, path, limits);
                            } else if !known.contains(&ukey.as_str()) {
                                self.unknown_profile_key(ukey, uvalue, path, &known);
                            }
                            path.pop();
                        }
                    }
                    _ => self.unknown_profile_key(key, value, path, &["display_name", "choices", "unlisted_choice"]),
                }
                path.pop();
            }
            path.pop();
        }
    }

    fn overrides(&mut self, node: &VNode, path: &mut Vec<String>, limits: &Limits) {
        let Some(entries) = node.as_map() else {
            let here = dotted(path);
            if !node.is_null() {
                self.push(
                    Diagnostic::error("profile", format!("`{here}` must be a mapping of KubeSpawner traits"))
                        .key(&here)
                        .at(node.value_location()),
                    node,
                );
            }
            return;
        };
        for (name, value) in entries {
            path.push(name.clone());
            let here = dotted(path);
            if let Some(dep) = ks::deprecated(name) {
                // In an override KubeSpawner sets keys in order through its
                // deprecation properties: the later of the two names wins.
                self.deprecated_trait(dep, false, value, &here);
                path.pop();
                continue;
            }
            match ks::lookup(name) {
                Some(def) if def.kind == ks::TraitKind::Any => self.python_trait(&here, value),
                Some(def) => {
                    self.override_value(def, value, &here, "KubeSpawner raises TraitError and the spawn fails")
                }
                None if value.as_map().is_some() => {
                    let mut d = Diagnostic::error("unknown-trait", format!("`{name}` is not a KubeSpawner setting"))
                        .key(&here)
                        .at(value.origin.location())
                        .note("with a mapping value KubeSpawner fails every spawn of this profile with AttributeError");
                    if let Some(s) = ks::suggest(name) {
                        d = d.help(format!("did you mean `{s}`?"));
                    }
                    self.push(d, value);
                }
                None => {
                    let suggestion = ks::suggest(name);
                    let mut d = Diagnostic::warning("unknown-trait", format!("`{name}` is not a KubeSpawner setting"))
                        .key(&here)
                        .at(value.origin.location())
                        .note(limits.consequence(suggestion));
                    if let Some(s) = suggestion {
                        d = d.help(format!("did you mean `{s}`?"));
                    }
                    self.push(d, value);
                }
            }
            path.pop();
        }
    }
}

/// Trait names come from user input; `TraitDef` wants `&'static str` (only
/// used in messages), so take the name from the static tables instead of leaking.
fn leak_name(name: &str) -> &'static str {
    sections::KNOWN_SECTIONS
        .iter()
        .filter_map(|s| sections::section(s))
        .flat_map(|t| t.iter().flat_map(|t| t.iter()))
        .find(|t| t.name == name)
        .map_or("setting", |t| t.name)
}

/// The resource values in force for a profile (or choice), to explain what a
/// misspelt guarantee does.
#[derive(Debug, Clone, Default)]
struct Limits {
    cpu_limit: Option<String>,
    mem_limit: Option<String>,
    cpu_guarantee: Option<String>,
    mem_guarantee: Option<String>,
}

fn text_of(node: Option<&VNode>) -> Option<String> {
    let node = node?;
    match &node.value {
        VValue::Scalar(Scalar::Null) => None,
        VValue::Scalar(Scalar::Str(s)) => Some(s.clone()),
        VValue::Scalar(s) => Some(crate::yaml::scalar_to_json(s).to_string()),
        _ => None,
    }
}

impl Limits {
    fn from_profile(merged: &VNode, overrides: Option<&VNode>) -> Limits {
        let ks = merged.get("hub.config.KubeSpawner");
        let pick = |trait_name: &str, values_path: &str| {
            text_of(ks.and_then(|k| k.child(trait_name))).or_else(|| text_of(merged.get(values_path)))
        };
        let base = Limits {
            cpu_limit: pick("cpu_limit", "singleuser.cpu.limit"),
            mem_limit: pick("mem_limit", "singleuser.memory.limit"),
            cpu_guarantee: pick("cpu_guarantee", "singleuser.cpu.guarantee"),
            mem_guarantee: pick("mem_guarantee", "singleuser.memory.guarantee"),
        };
        base.with_override(overrides)
    }

    fn with_override(&self, overrides: Option<&VNode>) -> Limits {
        let get =
            |name: &str, current: &Option<String>| text_of(overrides.and_then(|o| o.child(name))).or(current.clone());
        Limits {
            cpu_limit: get("cpu_limit", &self.cpu_limit),
            mem_limit: get("mem_limit", &self.mem_limit),
            cpu_guarantee: get("cpu_guarantee", &self.cpu_guarantee),
            mem_guarantee: get("mem_guarantee", &self.mem_guarantee),
        }
    }

    fn consequence(&self, meant: Option<&str>) -> String {
        let stray = "KubeSpawner silently ignores it (it only becomes a stray attribute of the spawner)";
        match meant {
            Some("cpu_guarantee") => match (&self.cpu_guarantee, &self.cpu_limit) {
                (Some(g), _) => format!("{stray}, so the CPU request stays at {g} from the chart-wide setting"),
                (None, Some(l)) => format!(
                    "{stray}, so no CPU request is set and Kubernetes sets the CPU request equal to the limit: every server reserves {l} CPUs"
                ),
                (None, None) => format!("{stray}, so no CPU request is set"),
            },
            Some("mem_guarantee") => match (&self.mem_guarantee, &self.mem_limit) {
                (Some(g), _) => {
                    format!("{stray}, so the memory request comes from singleuser.memory.guarantee ({g}) instead")
                }
                (None, Some(l)) => {
                    format!("{stray}, so no memory request is set and Kubernetes sets it equal to the limit ({l})")
                }
                (None, None) => format!("{stray}, so no memory request is set"),
            },
            _ => format!("{stray}; it has no effect on the pod"),
        }
    }
}
