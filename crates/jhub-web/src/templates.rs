//! Page templates: Jinja2 semantics (minijinja), HTML-escaped everywhere.
//! Admins override any template by putting a file of the same name in one
//! of `hub.templatePaths` (searched first), as with JupyterHub; the
//! defaults from `/web/templates` are compiled into the binary.

use minijinja::{AutoEscape, Environment, Value};
use std::path::PathBuf;
use std::sync::Arc;

macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../web/templates/", $name)))),*]
    };
}

/// The built-in templates (JupyterHub's names, so an admin's customised
/// copy of e.g. `login.html` replaces ours).
pub const DEFAULT_TEMPLATES: &[(&str, &str)] = embedded![
    "page.html",
    "error.html",
    "login.html",
    "logout.html",
    "home.html",
    "token.html",
    "spawn.html",
    "profiles_form.html",
    "spawn_pending.html",
    "stop_pending.html",
    "not_running.html",
    "oauth.html",
    "usage.html",
    "admin.html",
];

macro_rules! static_files {
    ($(($name:literal, $mime:literal)),* $(,)?) => {
        &[$(($name, $mime, include_bytes!(concat!("../../../web/static/", $name)))),*]
    };
}

/// Static files served at `/hub/static/`: (name, content type, bytes).
/// Everything the pages load comes from here; no external CDNs.
pub const STATIC_FILES: &[(&str, &str, &[u8])] = static_files![
    ("jhub.css", "text/css; charset=utf-8"),
    ("jhub.js", "text/javascript; charset=utf-8"),
    ("admin.js", "text/javascript; charset=utf-8"),
    ("logo.svg", "image/svg+xml"),
    ("favicon.svg", "image/svg+xml"),
];

/// A short content hash of a static file, for cache-busting `?v=` URLs.
pub fn static_version(name: &str) -> Option<&'static str> {
    static VERSIONS: std::sync::OnceLock<Vec<(&'static str, String)>> = std::sync::OnceLock::new();
    let versions = VERSIONS.get_or_init(|| {
        STATIC_FILES
            .iter()
            .map(|(name, _, bytes)| {
                let digest = <sha2::Sha256 as sha2::Digest>::digest(bytes);
                (*name, hex::encode(&digest[..6]))
            })
            .collect()
    });
    versions.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
}

/// The template environment.
#[derive(Clone)]
pub struct Templates {
    env: Arc<Environment<'static>>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

/// Why a page could not be rendered.
#[derive(Debug, thiserror::Error)]
#[error("template {name}: {source:#}")]
pub struct RenderError {
    pub name: String,
    #[source]
    pub source: minijinja::Error,
}

/// Escapes like Jinja2's markupsafe (`& < > " '`), so pages read the same
/// as JupyterHub's (minijinja's default also escapes `/`, which mangles URLs
/// in the source without adding safety inside quoted attributes).
fn markupsafe_formatter(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    if !matches!(state.auto_escape(), AutoEscape::Html) || value.is_safe() {
        return minijinja::escape_formatter(out, state, value);
    }
    if value.is_undefined() || value.is_none() {
        return Ok(());
    }
    let text = value.to_string();
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&#34;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    out.write_str(&escaped).map_err(minijinja::Error::from)
}

impl Templates {
    /// Defaults plus overrides from `paths` (first match wins).
    pub fn new(paths: Vec<PathBuf>) -> Self {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_formatter(markupsafe_formatter);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        env.set_loader(move |name: &str| {
            if name.contains("..") || name.starts_with('/') {
                return Ok(None);
            }
            for dir in &paths {
                let candidate = dir.join(name);
                if candidate.is_file() {
                    return std::fs::read_to_string(&candidate).map(Some).map_err(|err| {
                        minijinja::Error::new(
                            minijinja::ErrorKind::InvalidOperation,
                            format!("cannot read {}: {err}", candidate.display()),
                        )
                    });
                }
            }
            Ok(DEFAULT_TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, body)| (*body).to_string()))
        });
        Self { env: Arc::new(env) }
    }

    pub fn render(&self, name: &str, context: Value) -> Result<String, RenderError> {
        let template = self.env.get_template(name).map_err(|source| RenderError { name: name.into(), source })?;
        template.render(context).map_err(|source| RenderError { name: name.into(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_jinja2() {
        let templates = Templates::new(vec![]);
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_formatter(markupsafe_formatter);
        let out = env
            .render_str(
                "{{ a }}|{{ b | safe }}|{{ none }}|{{ missing }}|{{ n }}",
                minijinja::context! { a => "<a href='/x'>\"&\"</a>", b => "<b>", n => 3 },
            )
            .unwrap_or_default();
        assert_eq!(out, "&lt;a href=&#39;/x&#39;&gt;&#34;&amp;&#34;&lt;/a&gt;|<b>|||3");
        assert!(templates.render("nope.html", Value::from(())).is_err());
    }

    #[test]
    fn every_default_template_parses_and_static_files_are_versioned() {
        let mut env = Environment::new();
        for (name, body) in DEFAULT_TEMPLATES {
            env.add_template(name, body).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for (name, _, bytes) in STATIC_FILES {
            assert!(!bytes.is_empty(), "{name}");
            assert_eq!(static_version(name).map(str::len), Some(12), "{name}");
        }
        assert_eq!(static_version("missing.css"), None);
    }
}
