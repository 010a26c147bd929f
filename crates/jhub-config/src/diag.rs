//! Diagnostics: what went wrong or looks wrong, where (file:line:col), and
//! what to do; rendered like rustc for people or as JSON for tools.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How bad a finding is. Any `Error` makes loading fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// A place in a source file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub col: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// One finding about the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable identifier of the kind of finding (for tools and tests), e.g. `unknown-key`.
    pub code: &'static str,
    /// Dotted values path the finding is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic { severity, code, key: None, message: message.into(), location: None, notes: Vec::new(), help: None }
    }
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }
    pub fn info(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Info, code, message)
    }
    pub fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// The text of every file diagnostics may point into, by display name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMap {
    files: BTreeMap<String, String>,
    /// Lines holding secret values (`true`: the key is secret too); shown masked.
    secret_lines: BTreeMap<(String, usize), bool>,
}

impl SourceMap {
    pub fn insert(&mut self, name: impl Into<String>, text: impl Into<String>) {
        self.files.insert(name.into(), text.into());
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.files.get(name).map(String::as_str)
    }
    /// Records which lines of a file hold secrets, from its parsed values.
    pub(crate) fn note_secrets(&mut self, tree: &crate::values::VNode) {
        crate::mask::secret_lines(tree, &mut self.secret_lines);
    }

    /// The source line at `loc`, secrets masked (never quoted in clear).
    fn line(&self, loc: &Location) -> Option<String> {
        let text = self.get(&loc.file)?.lines().nth(loc.line.checked_sub(1)?)?;
        let known = self.secret_lines.get(&(loc.file.clone(), loc.line));
        Some(crate::mask::mask_source_line(text, known.is_some(), known.copied().unwrap_or(false)))
    }
}

/// Output format of [`render_diagnostics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// rustc-style text with the source line and a caret.
    Human,
    /// A JSON array of [`Diagnostic`] objects.
    Json,
}

/// Render diagnostics in order.
pub fn render_diagnostics(diagnostics: &[Diagnostic], sources: &SourceMap, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(diagnostics).unwrap_or_else(|_| "[]".into()),
        Format::Human => {
            let mut out = String::new();
            for d in diagnostics {
                render_one(&mut out, d, sources);
                out.push('\n');
            }
            out
        }
    }
}

/// `1 error, 3 warnings, 1 info` style summary.
pub fn summary(diagnostics: &[Diagnostic]) -> String {
    let count = |s| diagnostics.iter().filter(|d| d.severity == s).count();
    let (e, w, i) = (count(Severity::Error), count(Severity::Warning), count(Severity::Info));
    let plural = |n: usize, word: &str| if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") };
    format!("{}, {}, {i} info", plural(e, "error"), plural(w, "warning"))
}

/// How many characters to underline starting at `col` (1-based) of `line`.
fn span_len(line: &str, col: usize) -> usize {
    let rest: String = line.chars().skip(col.saturating_sub(1)).collect();
    let mut chars = rest.chars();
    match chars.next() {
        None => 1,
        Some(q @ ('"' | '\'')) => chars.position(|c| c == q).map_or(rest.chars().count(), |p| p + 2),
        Some(_) => {
            let cut = rest.find(": ").or_else(|| rest.strip_suffix(':').map(str::len)).or_else(|| rest.find(" #"));
            let token = cut.map_or(rest.as_str(), |i| &rest[..i]).trim_end();
            token.chars().count().max(1)
        }
    }
}

fn render_one(out: &mut String, d: &Diagnostic, sources: &SourceMap) {
    let _ = writeln!(out, "{}: {}", d.severity.label(), d.message);
    let mut gutter = 1;
    if let Some(loc) = &d.location {
        let source_line = sources.line(loc);
        gutter = loc.line.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(out, "{pad}--> {loc}");
        if let Some(text) = source_line.as_deref() {
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{} | {}", loc.line, text);
            let indent: String =
                text.chars().take(loc.col.saturating_sub(1)).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
            let _ = writeln!(out, "{pad} | {indent}{}", "^".repeat(span_len(text, loc.col)));
        }
    }
    let pad = " ".repeat(gutter);
    for note in &d.notes {
        let _ = writeln!(out, "{pad} = note: {note}");
    }
    if let Some(help) = &d.help {
        let _ = writeln!(out, "{pad} = help: {help}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let mut sources = SourceMap::default();
        sources.insert("v.yaml", "a:\n  cpu_gurantee: 1\n");
        let d = Diagnostic::warning("x", "bad key")
            .at(Some(Location { file: "v.yaml".into(), line: 2, col: 3 }))
            .note("n")
            .help("h");
        expect_test::expect![[r#"
            warning: bad key
             --> v.yaml:2:3
              |
            2 |   cpu_gurantee: 1
              |   ^^^^^^^^^^^^
              = note: n
              = help: h

        "#]]
        .assert_eq(&render_diagnostics(std::slice::from_ref(&d), &sources, Format::Human));
        let json: serde_json::Value = serde_json::from_str(&render_diagnostics(&[d], &sources, Format::Json)).unwrap();
        assert_eq!(json[0]["location"]["line"], 2);
        assert_eq!(json[0]["severity"], "warning");
    }

    #[test]
    fn underlines_quoted_values_whole() {
        assert_eq!(span_len(r#"  secretToken: "<A B>" # c"#, 16), 7);
        assert_eq!(span_len("      http: 34567", 13), 5);
    }
}
