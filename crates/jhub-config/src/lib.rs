//! Reads the zero-to-jupyterhub (z2jh) `values.yaml` files users already have
//! into the hub's typed configuration ([`HubConfig`]), with diagnostics that
//! point at file, line and column and suggest a fix.
//!
//! Owns: YAML reading the way Helm does ([`yaml`]), the Helm-style merge of
//! defaults ⊕ `-f` files ⊕ `JHUB_VALUES__*` overrides with per-value
//! provenance ([`values`], [`env`]), the z2jh key table and jhub's verdict on
//! every key ([`keys`]), `hub.config` sections ([`sections`]), checks
//! ([`check`]), the typed config ([`hubconfig`]), the secret checks for
//! `serve` ([`secrets`]), `--print` output ([`print`]) and the generated
//! reference ([`reference`]). jhub's defaults are the Helm chart's own
//! `deploy/helm/jhub/values.yaml`, embedded.
//!
//! Must not: start anything (servers, processes, clients), read the process
//! environment (callers pass an [`Environment`]), or decide what a pod looks
//! like (that is `jhub-podspec`). The only I/O is reading the files it is
//! given ([`Source::File`], [`load_z2jh_mount`]).

pub mod changes;
pub mod check;
pub mod diag;
pub mod env;
pub mod evidence;
pub mod hubconfig;
pub mod indent;
pub mod keys;
pub mod mask;
pub mod print;
pub mod reference;
pub mod secrets;
pub mod sections;
pub mod values;
pub mod yaml;

pub use changes::change_notes;
pub use diag::{Diagnostic, Format, Location, Severity, SourceMap, render_diagnostics, summary};
pub use env::Environment;
pub use hubconfig::{
    AuthConfig, Authenticator, CullSettings, DbKind, DbSettings, DbTarget, GitLabSettings, HubConfig, HubSettings,
    ProxySettings, ReleaseInfo, Secret, SecuritySettings, ServiceSettings, Sourced, SpawnerSettings, StorageSettings,
};
pub use print::print_effective;
pub use reference::reference_markdown;
pub use secrets::{MIN_SECRET_BYTES, check_secrets, cookie_secret_bytes};
pub use values::{Origin, VNode};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// jhub's defaults: the Helm chart's values.yaml.
pub const DEFAULT_VALUES: &str = include_str!("../../../deploy/helm/jhub/values.yaml");

/// Name under which the defaults appear in source maps.
pub const DEFAULTS_NAME: &str = "deploy/helm/jhub/values.yaml";

/// One values file, in `-f` order (later files win).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Read from disk; diagnostics use the path as given.
    File(PathBuf),
    /// In-memory text with the name to show in diagnostics.
    Text { name: String, text: String },
}

/// A successfully loaded configuration (possibly with warnings).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: HubConfig,
    /// Warnings and infos, in the order found.
    pub diagnostics: Vec<Diagnostic>,
    /// defaults ⊕ files ⊕ overrides, as JSON (what z2jh mounts as values.yaml).
    pub merged_values: serde_json::Value,
    /// The same tree with the origin of every value.
    pub values: VNode,
    /// Texts of all files, for rendering diagnostics.
    pub sources: SourceMap,
}

impl Loaded {
    /// Where the value at a dotted path came from.
    pub fn provenance(&self, dotted: &str) -> Option<&Origin> {
        self.values.get(dotted).map(|n| &n.origin)
    }

    /// Diagnostics rendered for people or tools.
    pub fn render_diagnostics(&self, format: Format) -> String {
        render_diagnostics(&self.diagnostics, &self.sources, format)
    }
}

/// Loading failed: at least one error (all findings are kept, warnings too).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", render_diagnostics(&self.diagnostics, &self.sources, Format::Human))]
pub struct LoadFailure {
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceMap,
}

impl LoadFailure {
    pub fn render(&self, format: Format) -> String {
        render_diagnostics(&self.diagnostics, &self.sources, format)
    }
}

/// Load defaults ⊕ `sources` ⊕ `JHUB_VALUES__*` overrides from `env`, check
/// everything, and build the typed config.
pub fn load(sources: &[Source], env: &Environment) -> Result<Loaded, LoadFailure> {
    let mut texts = Vec::new();
    let mut diags = Vec::new();
    for source in sources {
        match source {
            Source::Text { name, text } => texts.push((name.clone(), text.clone())),
            Source::File(path) => match std::fs::read_to_string(path) {
                Ok(text) => texts.push((path.display().to_string(), text)),
                Err(e) => diags.push(
                    Diagnostic::error("read", format!("cannot read `{}`: {e}", path.display()))
                        .help("check the path given with -f"),
                ),
            },
        }
    }
    load_texts(texts, Vec::new(), false, env, diags)
}

/// Load the layout the z2jh chart mounts into the hub pod: `dir/values.yaml`
/// (the full merged values, with `Chart` and `Release` blocks) and one file
/// per generated secret (`hub.config.ConfigurableHTTPProxy.auth_token`,
/// `hub.config.JupyterHub.cookie_secret`, `hub.config.CryptKeeper.keys`,
/// `hub.db.password`, `hub.services.<name>.apiToken`). A sibling
/// `existing-secret/` directory (`hub.existingSecret`) is read too and wins,
/// as in z2jh.
pub fn load_z2jh_mount(dir: &Path, env: &Environment) -> Result<Loaded, LoadFailure> {
    let mut diags = Vec::new();
    let mut layers = Vec::new();
    let existing = dir.parent().map(|p| p.join("existing-secret")).filter(|p| p.is_dir());
    for d in std::iter::once(dir.to_path_buf()).chain(existing) {
        let mut files = BTreeMap::new();
        match std::fs::read_dir(&d) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().to_string();
                    if name.starts_with('.') || !entry.path().is_file() {
                        continue;
                    }
                    match std::fs::read_to_string(entry.path()) {
                        Ok(text) => {
                            files.insert(name, text);
                        }
                        Err(e) => diags
                            .push(Diagnostic::error("read", format!("cannot read `{}`: {e}", entry.path().display()))),
                    }
                }
            }
            Err(e) => diags.push(Diagnostic::error("read", format!("cannot read directory `{}`: {e}", d.display()))),
        }
        layers.push((d.display().to_string(), files));
    }
    load_mount_files(&layers, env, diags)
}

/// Secret keys of the z2jh hub Secret that hold values (besides values.yaml).
fn is_mounted_secret_key(name: &str) -> bool {
    matches!(
        name,
        "hub.config.ConfigurableHTTPProxy.auth_token"
            | "hub.config.JupyterHub.cookie_secret"
            | "hub.config.CryptKeeper.keys"
            | "hub.db.password"
    ) || (name.starts_with("hub.services.") && name.ends_with(".apiToken"))
}

/// [`load_z2jh_mount`] without the file system: `layers` are (directory name,
/// file name → content), the chart Secret first, then `existing-secret`.
pub fn load_mount_files(
    layers: &[(String, BTreeMap<String, String>)],
    env: &Environment,
    diags: Vec<Diagnostic>,
) -> Result<Loaded, LoadFailure> {
    let mut texts = Vec::new();
    let mut secret_layers = Vec::new();
    for (dir, files) in layers {
        if let Some(text) = files.get("values.yaml") {
            texts.push((format!("{dir}/values.yaml"), text.clone()));
        }
        let mut tree = VNode::empty_map(Origin::Default { line: 0 });
        for (name, value) in files {
            if !is_mounted_secret_key(name) {
                continue;
            }
            let origin = Origin::File { file: format!("{dir}/{name}"), line: 1, col: 1 };
            let path: Vec<String> = if let Some(rest) = name.strip_prefix("hub.services.") {
                let service = rest.trim_end_matches(".apiToken");
                vec!["hub".into(), "services".into(), service.into(), "apiToken".into()]
            } else {
                name.split('.').map(str::to_string).collect()
            };
            let node = VNode {
                value: values::VValue::Scalar(yaml::Scalar::Str(value.trim_end_matches('\n').to_string())),
                origin,
                at: None,
            };
            tree.set_path(&path, node);
        }
        secret_layers.push(tree);
    }
    if texts.is_empty() {
        let mut diags = diags;
        diags.push(
            Diagnostic::error("read", "no values.yaml in the mounted hub Secret")
                .help("mount the z2jh hub Secret at /usr/local/etc/jupyterhub/secret"),
        );
        return Err(LoadFailure { diagnostics: diags, sources: SourceMap::default() });
    }
    load_texts(texts, secret_layers, true, env, diags)
}

fn syntax_diagnostic(name: &str, text: &str, e: &yaml::SyntaxError) -> Diagnostic {
    let parser_note = format!("the YAML parser stopped at line {}, column {}: {}", e.pos.line, e.pos.col, e.message);
    if let Some(tab) = indent::find_tabs(text).into_iter().find(|t| t.line <= e.pos.line) {
        return Diagnostic::error("yaml-tab", "a tab character is used for indentation; YAML allows only spaces")
            .at(Some(Location { file: name.into(), line: tab.line, col: tab.col }))
            .note(parser_note)
            .help("replace the tab with spaces matching the lines around it");
    }
    if let Some(f) = indent::diagnose(text, e.pos.line) {
        let spaces = |n: usize| if n == 1 { "1 space".to_string() } else { format!("{n} spaces") };
        let under = match &f.parent {
            Some((key, line)) => format!("under `{key}` (line {line})"),
            None => "at the top level".to_string(),
        };
        let mut d = Diagnostic::error(
            "yaml-indent",
            format!(
                "`{}` is indented {} while its siblings {under} use {}",
                f.key,
                spaces(f.indent),
                spaces(f.expected)
            ),
        )
        .at(Some(Location { file: name.into(), line: f.line, col: f.indent + 1 }))
        .note(parser_note)
        .note("Helm fails on this file too (\"did not find expected key\"), so nothing would be deployed");
        if !f.sibling_lines.is_empty() {
            let lines: Vec<String> = f.sibling_lines.iter().map(usize::to_string).collect();
            let word = if lines.len() == 1 { "line" } else { "lines" };
            d = d.note(format!("siblings at {} spaces: {word} {}", f.expected, lines.join(", ")));
        }
        let (amount, dir) =
            if f.indent > f.expected { (f.indent - f.expected, "left") } else { (f.expected - f.indent, "right") };
        let block = if f.block_end > f.line {
            format!("lines {}-{} (the key and its block)", f.line, f.block_end)
        } else {
            format!("line {}", f.line)
        };
        return d.help(format!(
            "indent `{}` with {} like its siblings: move {block} {} {dir}",
            f.key,
            spaces(f.expected),
            spaces(amount)
        ));
    }
    Diagnostic::error("yaml-syntax", format!("invalid YAML: {}", e.message)).at(Some(Location {
        file: name.into(),
        line: e.pos.line,
        col: e.pos.col,
    }))
}

fn notice_diagnostic(name: &str, n: &yaml::Notice) -> Diagnostic {
    let at = |p: yaml::Pos| Some(Location { file: name.into(), line: p.line, col: p.col });
    match n {
        yaml::Notice::Yaml11Bool { pos, text, value } => Diagnostic::warning(
            "yaml11-bool",
            format!("`{text}` is read as the boolean {value} (YAML 1.1, as Helm reads it)"),
        )
        .at(at(*pos))
        .help(format!("write `{value}` if you mean a boolean, or quote it (\"{text}\") if you mean the text")),
        yaml::Notice::DuplicateKey { pos, key, first } => Diagnostic::warning(
            "duplicate-key",
            format!("`{key}` appears twice in the same mapping; the later value wins"),
        )
        .at(at(*pos))
        .note(format!("the first one, at line {}, is ignored (Helm does the same)", first.line))
        .help("delete one of them"),
        yaml::Notice::ExtraDocument { pos } => {
            Diagnostic::warning("extra-document", "the file has more than one YAML document; only the first is read")
                .at(at(*pos))
                .note("Helm reads only the first document of a values file too")
                .help("move the settings into the first document or into a separate -f file")
        }
    }
}

/// Parse the embedded defaults.
fn defaults_tree() -> Result<VNode, Box<Diagnostic>> {
    let parsed = yaml::parse(DEFAULT_VALUES).map_err(|e| {
        Box::new(Diagnostic::error("defaults", format!("jhub's built-in defaults do not parse: {}", e.message)))
    })?;
    Ok(parsed
        .root
        .map(|r| VNode::from_yaml(&r, &values::SourceKind::Default, None))
        .unwrap_or_else(|| VNode::empty_map(Origin::Default { line: 0 })))
}

fn load_texts(
    texts: Vec<(String, String)>,
    extra_layers: Vec<VNode>,
    allow_chart_release: bool,
    env: &Environment,
    mut diags: Vec<Diagnostic>,
) -> Result<Loaded, LoadFailure> {
    let mut sources = SourceMap::default();
    sources.insert(DEFAULTS_NAME, DEFAULT_VALUES);
    // A chart-mounted values.yaml is already Helm's merge of the chart
    // defaults and the user's files, with every key the user set to null
    // deleted: adding jhub's defaults underneath would bring those keys back
    // (z2jh's code then uses its own fallbacks for missing keys, as we do).
    let mounted = allow_chart_release;
    let mut merged = if mounted {
        VNode::empty_map(Origin::Default { line: 0 })
    } else {
        match defaults_tree() {
            Ok(t) => t,
            Err(d) => {
                diags.push(*d);
                return Err(LoadFailure { diagnostics: diags, sources });
            }
        }
    };

    let mut user_trees = Vec::new();
    let mut syntax_failed = false;
    let order: Vec<String> = texts.iter().map(|(n, _)| n.clone()).collect();
    for (name, text) in texts {
        match yaml::parse(&text) {
            Err(e) => {
                diags.push(syntax_diagnostic(&name, &text, &e));
                syntax_failed = true;
            }
            Ok(parsed) => {
                diags.extend(parsed.notices.iter().map(|n| notice_diagnostic(&name, n)));
                let source = values::SourceKind::File(name.clone());
                let tree = parsed
                    .root
                    .map(|r| VNode::from_yaml(&r, &source, None))
                    .unwrap_or_else(|| VNode::empty_map(Origin::File { file: name.clone(), line: 1, col: 1 }));
                sources.note_secrets(&tree);
                user_trees.push(tree);
            }
        }
        sources.insert(name, text);
    }
    if syntax_failed {
        sort_by_position(&mut diags, &sources, &order);
        return Err(LoadFailure { diagnostics: diags, sources });
    }
    user_trees.extend(extra_layers);
    user_trees.extend(env.overrides(&mut diags));

    for tree in &user_trees {
        if tree.as_map().is_some() {
            merged.merge(tree.clone());
        }
    }

    let mut ignored = BTreeMap::new();
    {
        let mut checker =
            check::Checker { diags: &mut diags, ignored: &mut ignored, merged: &merged, allow_chart_release };
        for tree in &user_trees {
            checker.check_tree(tree);
        }
    }
    diags.extend(ignored.into_values());

    let config = hubconfig::build(&merged, env, &mut diags);
    hubconfig::semantic_checks(&merged, &config, &mut diags);
    diags.extend(env.unknown_jhub_vars());

    sort_by_position(&mut diags, &sources, &order);
    let merged_values = merged.to_json();
    if diags.iter().any(|d| d.severity == Severity::Error) {
        return Err(LoadFailure { diagnostics: diags, sources });
    }
    Ok(Loaded { config, diagnostics: diags, merged_values, values: merged, sources })
}

/// Order findings by file (in `-f` order), line and column; findings without
/// a location keep their relative order after them.
fn sort_by_position(diags: &mut [Diagnostic], _sources: &SourceMap, order: &[String]) {
    diags.sort_by_key(|d| match &d.location {
        Some(l) => (order.iter().position(|n| *n == l.file).unwrap_or(order.len()), l.line, l.col),
        None => (usize::MAX, 0, 0),
    });
}

/// What `jhub check-config` prints and whether it succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Diagnostics (human or JSON), then with `print` the effective values
    /// (human format only), then a one-line summary (human format only).
    pub output: String,
    /// False when there is at least one error (exit non-zero).
    pub ok: bool,
}

/// `jhub check-config [--print] [--format json] FILE...` in one call.
pub fn check_config(sources: &[Source], env: &Environment, format: Format, print: bool) -> CheckReport {
    let (mut output, diagnostics, ok) = match load(sources, env) {
        Ok(loaded) => {
            let mut out = loaded.render_diagnostics(format);
            if print && format == Format::Human {
                out.push_str(&print_effective(&loaded));
            }
            (out, loaded.diagnostics, true)
        }
        Err(failure) => (failure.render(format), failure.diagnostics, false),
    };
    if format == Format::Human {
        let verdict = if ok { "configuration is usable" } else { "configuration has errors" };
        output.push_str(&format!("check-config: {verdict} ({})\n", summary(&diagnostics)));
    }
    CheckReport { output, ok }
}
