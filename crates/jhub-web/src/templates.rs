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

/// The built-in templates.
pub const DEFAULT_TEMPLATES: &[(&str, &str)] = embedded!["page.html", "error.html"];

/// Static files served at `/hub/static/`.
pub const STATIC_FILES: &[(&str, &str, &[u8])] = &[];

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
#[error("template {name}: {source}")]
pub struct RenderError {
    pub name: String,
    #[source]
    pub source: minijinja::Error,
}

impl Templates {
    /// Defaults plus overrides from `paths` (first match wins).
    pub fn new(paths: Vec<PathBuf>) -> Self {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
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
