//! `next` URL validation: the hub redirects only to its own origin.
//!
//! Follows JupyterHub's `_validate_next_url` (backslashes escaped, absolute
//! URLs on the hub's own origin reduced to their path, anything else with a
//! host dropped) and is stricter where browsers would otherwise be fooled:
//! control characters and whitespace (browsers strip tabs and newlines, so
//! `/\t/evil.example` would become `//evil.example`) reject the value.

/// The hub's public origin, used to accept absolute URLs that point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `http` or `https`.
    pub scheme: String,
    /// Host with optional port, lower-cased.
    pub host: String,
}

/// Returns a same-origin path (with query and fragment) for `next`, or
/// `None` when it must not be used.
pub fn validate_next(next: &str, own: Option<&Origin>) -> Option<String> {
    if next.is_empty() || next.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return None;
    }
    let mut candidate = next.replace('\\', "%5C");
    // Three or more leading slashes: browsers treat them like two.
    while candidate.starts_with("///") {
        candidate.remove(0);
    }
    if let Some((scheme, rest)) = split_scheme(&candidate) {
        let (authority, tail) = split_authority(rest);
        let same = own.is_some_and(|o| o.scheme.eq_ignore_ascii_case(scheme) && o.host.eq_ignore_ascii_case(authority));
        return if same { Some(path_or_root(tail)) } else { None };
    }
    if let Some(rest) = candidate.strip_prefix("//") {
        let (authority, tail) = split_authority(rest);
        let same = own.is_some_and(|o| o.host.eq_ignore_ascii_case(authority));
        return if same { Some(path_or_root(tail)) } else { None };
    }
    if candidate.starts_with('/') { Some(candidate) } else { None }
}

fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let valid = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some((scheme, rest))
}

fn split_authority(rest: &str) -> (&str, &str) {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    rest.split_at(end)
}

fn path_or_root(tail: &str) -> String {
    if tail.starts_with('/') { tail.to_string() } else { format!("/{tail}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Origin {
        Origin { scheme: "http".into(), host: "hub.example.org:8000".into() }
    }

    #[test]
    fn keeps_local_paths() {
        assert_eq!(validate_next("/user/bob/lab?x=1#f", Some(&own())).as_deref(), Some("/user/bob/lab?x=1#f"));
        assert_eq!(validate_next("/hub/spawn", None).as_deref(), Some("/hub/spawn"));
        assert_eq!(validate_next("/%2F%2Fevil.example", None).as_deref(), Some("/%2F%2Fevil.example"));
    }

    #[test]
    fn reduces_own_absolute_urls() {
        assert_eq!(
            validate_next("http://hub.example.org:8000/user/bob/gpu1/tree?a=1#f", Some(&own())).as_deref(),
            Some("/user/bob/gpu1/tree?a=1#f")
        );
        assert_eq!(validate_next("//hub.example.org:8000/x", Some(&own())).as_deref(), Some("/x"));
        assert_eq!(validate_next("http://hub.example.org:8000", Some(&own())).as_deref(), Some("/"));
    }

    #[test]
    fn refuses_other_origins_and_tricks() {
        for evil in [
            "//evil.example",
            "///evil.example/x",
            "https://evil.example",
            "https://evil.example/hub/",
            "http://hub.example.org:8000@evil.example/",
            "%2F%2Fevil.example",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,hi",
            "evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            " //evil.example",
            "",
        ] {
            assert_eq!(validate_next(evil, Some(&own())), None, "{evil:?}");
        }
        // Backslashes are escaped so the browser cannot read them as slashes.
        assert_eq!(validate_next("/\\evil.example", Some(&own())).as_deref(), Some("/%5Cevil.example"));
        assert_eq!(validate_next("\\\\evil.example", Some(&own())), None);
    }
}
