//! Python formatting that KubeSpawner's output depends on: `str.format`
//! with named fields (name templates, `{value}` in unlisted choices) and
//! `repr(float)` (the `CPU_LIMIT` environment variable).
//!
//! Only the parts of `str.format` that can appear in configuration are
//! supported: `{name}`, `{name!s}`, and the `{{` / `}}` escapes. Attribute or
//! index lookups, format specs and `!r`/`!a` are refused with a clear error
//! instead of being half-emulated.

/// Why a Python format string could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs)] // variant fields are named in the #[error] messages
pub enum FormatError {
    #[error("single '}}' in template {template:?} (write '}}}}' for a literal brace)")]
    SingleCloseBrace { template: String },
    #[error("unclosed '{{' in template {template:?} (write '{{{{' for a literal brace)")]
    Unclosed { template: String },
    #[error("unknown field {{{field}}} in template {template:?}; available: {available}")]
    UnknownField { field: String, template: String, available: String },
    #[error("unsupported field {{{field}}} in template {template:?}: only plain {{name}} fields are supported")]
    Unsupported { field: String, template: String },
}

/// What to do with a field whose name is not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// `str.format`: an error.
    Error,
    /// `str.format_map` with a dict returning `"{name}"` for missing keys
    /// (KubeSpawner's `recursive_format`): the field is kept as written.
    Keep,
}

/// Renders `template` like Python's `str.format(**fields)`.
pub fn format(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    available: &dyn Fn() -> String,
    missing: Missing,
) -> Result<String, FormatError> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            '}' => {
                if chars.peek().is_some_and(|&(_, next)| next == '}') {
                    chars.next();
                    out.push('}');
                } else {
                    return Err(FormatError::SingleCloseBrace { template: template.into() });
                }
            }
            '{' => {
                if chars.peek().is_some_and(|&(_, next)| next == '{') {
                    chars.next();
                    out.push('{');
                    continue;
                }
                // Find the matching '}' (format specs may nest braces).
                let mut depth = 1usize;
                let mut end = None;
                for (idx, inner) in chars.by_ref() {
                    match inner {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(idx);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let Some(end) = end else {
                    return Err(FormatError::Unclosed { template: template.into() });
                };
                let field = &template[start + 1..end];
                let (name, conversion_ok) = match field.split_once('!') {
                    Some((name, "s")) => (name, true),
                    Some((name, _)) => (name, false),
                    None => (field, true),
                };
                let plain = conversion_ok
                    && !name.is_empty()
                    && !name.contains([':', '.', '[', '{', '}'])
                    && !name.chars().all(|ch| ch.is_ascii_digit());
                match (plain, lookup(name)) {
                    (true, Some(value)) => out.push_str(&value),
                    (_, None) if missing == Missing::Keep && !name.is_empty() => {
                        out.push_str(&template[start..=end]);
                    }
                    (true, None) => {
                        return Err(FormatError::UnknownField {
                            field: field.into(),
                            template: template.into(),
                            available: available(),
                        });
                    }
                    (false, _) => {
                        return Err(FormatError::Unsupported { field: field.into(), template: template.into() });
                    }
                }
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Python's `repr(float)` / `str(float)`: shortest round-trip digits, fixed
/// notation for decimal exponents -4..16 (always with a fractional part,
/// `8.0`), otherwise `1e+16` / `1e-05` style.
pub fn float_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    // Rust's `{:e}` gives the same shortest round-trip digits as Python's repr.
    let sci = format!("{value:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exponent) {
        let point = exponent + 1;
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else {
            let point = point as usize;
            if digits.len() <= point {
                format!("{digits}{}.0", "0".repeat(point - digits.len()))
            } else {
                format!("{}.{}", &digits[..point], &digits[point..])
            }
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let fraction = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{first}{fraction}e{exp_sign}{:02}", exponent.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(name: &str) -> Option<String> {
        match name {
            "username" => Some("alice".into()),
            "userid" => Some("7".into()),
            _ => None,
        }
    }

    fn render(template: &str, missing: Missing) -> Result<String, FormatError> {
        format(template, &fields, &|| "username, userid".into(), missing)
    }

    #[test]
    fn formats_like_python() {
        assert_eq!(render("jupyter-{username}", Missing::Error).unwrap(), "jupyter-alice");
        assert_eq!(render("{userid}{username!s}", Missing::Error).unwrap(), "7alice");
        assert_eq!(render("{{literal}} }}", Missing::Error).unwrap(), "{literal} }");
        assert_eq!(render("no fields", Missing::Error).unwrap(), "no fields");
        assert!(matches!(render("{nope}", Missing::Error), Err(FormatError::UnknownField { .. })));
        assert!(matches!(render("a}b", Missing::Error), Err(FormatError::SingleCloseBrace { .. })));
        assert!(matches!(render("a{b", Missing::Error), Err(FormatError::Unclosed { .. })));
        assert!(matches!(render("{}", Missing::Error), Err(FormatError::Unsupported { .. })));
        assert!(matches!(render("{0}", Missing::Error), Err(FormatError::Unsupported { .. })));
        assert!(matches!(render("{username:>9}", Missing::Error), Err(FormatError::Unsupported { .. })));
        assert!(matches!(render("{username.x}", Missing::Error), Err(FormatError::Unsupported { .. })));
        let err = render("{nope}", Missing::Error).unwrap_err().to_string();
        assert!(err.contains("{nope}") && err.contains("available: username, userid"), "{err}");
    }

    #[test]
    fn keep_mode_leaves_unknown_fields() {
        assert_eq!(render("{username}/{other}/{{x}}", Missing::Keep).unwrap(), "alice/{other}/{x}");
        assert_eq!(render("{other:>3}", Missing::Keep).unwrap(), "{other:>3}");
        assert!(render("{", Missing::Keep).is_err());
    }

    #[test]
    fn float_repr_matches_python() {
        for (value, text) in [
            (8.0, "8.0"),
            (0.5, "0.5"),
            (1.0, "1.0"),
            (12.25, "12.25"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (1.5e-7, "1.5e-07"),
            (-2.5, "-2.5"),
            (1e100, "1e+100"),
            (0.0, "0.0"),
            (100.0, "100.0"),
        ] {
            assert_eq!(float_repr(value), text, "{value}");
        }
    }
}
