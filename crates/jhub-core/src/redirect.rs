//! `next` URL validation: the hub redirects only to its own origin.
//!
//! Follows JupyterHub's `_validate_next_url` (backslashes escaped, absolute
//! URLs on the hub's own origin reduced to their path, anything else with a
//! host dropped) and is stricter where browsers would otherwise be fooled:
//! control characters and whitespace (browsers strip tabs and newlines, so
//! `/\t/evil.example` would become `//evil.example`) reject the value.
//!
//! The rule that matters is checked last, on the value actually returned:
//! whatever reduction happened before (own origin stripped, slashes
//! collapsed), the result must be a path with exactly one leading slash, so
//! no browser can read it as a scheme or an authority (CVE-2026-33709:
//! `http://HUB//evil.example` reduced to `//evil.example`).

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
    let reduced = if let Some((scheme, rest)) = split_scheme(&candidate) {
        let (authority, tail) = split_authority(rest);
        let same = own.is_some_and(|o| o.scheme.eq_ignore_ascii_case(scheme) && o.host.eq_ignore_ascii_case(authority));
        if !same {
            return None;
        }
        own_path(tail)
    } else if let Some(rest) = candidate.strip_prefix("//") {
        let (authority, tail) = split_authority(rest);
        if !own.is_some_and(|o| o.host.eq_ignore_ascii_case(authority)) {
            return None;
        }
        own_path(tail)
    } else {
        candidate
    };
    // Validate again after the reduction: only a single-slash path stays on
    // this origin whatever the browser does with it.
    is_same_origin_path(&reduced).then_some(reduced)
}

/// Whether a browser resolving `location` as a redirect target stays on the
/// current origin: it starts with one `/` and the next character is neither
/// `/` nor `\` (either would make it protocol-relative), and nothing the
/// browser strips (control characters, whitespace) is left to play tricks.
pub fn is_same_origin_path(location: &str) -> bool {
    let mut chars = location.chars();
    chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && !location.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\')
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

/// The path part of an own-origin URL, with leading slashes collapsed to
/// one (JupyterHub 6.1.1 answers `/evil.example` for `http://HUB//evil.example`).
fn own_path(tail: &str) -> String {
    format!("/{}", tail.trim_start_matches('/'))
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

    /// CVE-2026-33709 / GHSA-3vff-hjqv-m7h8: an own-origin URL whose path
    /// starts with `//` was reduced to a protocol-relative `//evil.example`.
    #[test]
    fn own_origin_reduction_is_validated_again() {
        let own = own();
        for (next, expected) in [
            ("http://hub.example.org:8000//evil.example", Some("/evil.example")),
            ("//hub.example.org:8000//evil.example", Some("/evil.example")),
            ("///hub.example.org:8000///evil.example", Some("/evil.example")),
            ("http://hub.example.org:8000//evil.example/x?y=1#z", Some("/evil.example/x?y=1#z")),
            ("http://hub.example.org:8000/%5C/evil.example", Some("/%5C/evil.example")),
            ("http://hub.example.org:8000\\\\evil.example", None),
            // The advisory's own table.
            ("//x", None),
            ("///x/triple", None),
            ("\\\\x", None),
            ("https://x/", None),
            ("/hub/home?a=1#f", Some("/hub/home?a=1#f")),
        ] {
            assert_eq!(validate_next(next, Some(&own)).as_deref(), expected, "{next:?}");
        }
        let https = Origin { scheme: "https".into(), host: "ownhost".into() };
        assert_eq!(validate_next("https://OWNHOST//x/", Some(&https)).as_deref(), Some("/x/"));
        assert_eq!(validate_next("https://OWNHOST///x/", Some(&https)).as_deref(), Some("/x/"));
    }

    mod browser {
        //! The property the rule exists for, checked against the WHATWG URL
        //! parser (the `url` crate): whatever `next` is, the accepted value,
        //! resolved by a browser against a hub page, stays on the hub's
        //! origin. The parser does what browsers do before resolving a
        //! `Location`: strips leading/trailing C0 controls and spaces, drops
        //! tabs and newlines, reads `\` as `/` in http(s) URLs, and
        //! percent-decodes hosts.
        use super::super::*;
        use proptest::prelude::*;

        const HOST: &str = "hub.example.org:8000";

        fn origin_of(url: &url::Url) -> String {
            url.origin().ascii_serialization()
        }

        fn check(next: &str) -> Result<(), TestCaseError> {
            let own = Origin { scheme: "http".into(), host: HOST.into() };
            let base = url::Url::parse(&format!("http://{HOST}/hub/login?next=x")).unwrap();
            if let Some(location) = validate_next(next, Some(&own)) {
                let resolved = base.join(&location);
                prop_assert!(resolved.is_ok(), "{next:?} -> {location:?} does not resolve");
                let resolved = resolved.unwrap();
                prop_assert_eq!(origin_of(&resolved), origin_of(&base), "{:?} -> {:?}", next, location);
                // The rule is a fixed point: the answer, fed back, is kept as is.
                prop_assert_eq!(validate_next(&location, Some(&own)), Some(location.clone()));
            }
            Ok(())
        }

        fn piece() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::sample::select(vec![
                    "/",
                    "//",
                    "\\",
                    "\t",
                    "\n",
                    "\r",
                    " ",
                    "\u{0}",
                    "\u{1f}",
                    "\u{7f}",
                    "\u{a0}",
                    "%2F",
                    "%2f",
                    "%5C",
                    "%09",
                    "%0A",
                    "%00",
                    "%2E",
                    "%40",
                    "@",
                    ":",
                    ".",
                    "..",
                    "?",
                    "#",
                    "http:",
                    "https:",
                    "HTTP://",
                    "javascript:",
                    "evil.example",
                    "hub.example.org",
                    ":8000",
                    HOST,
                ])
                .prop_map(str::to_string),
                "[a-z0-9./%:@?#\\\\]{0,4}",
            ]
        }

        fn prefix() -> impl Strategy<Value = String> {
            prop::sample::select(vec![
                String::new(),
                format!("http://{HOST}"),
                format!("HTTP://{HOST}"),
                format!("https://{HOST}"),
                format!("//{HOST}"),
                format!("///{HOST}"),
                format!("\\\\{HOST}"),
                format!("http:{HOST}"),
                "http://evil.example".to_string(),
                "/".to_string(),
            ])
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4000))]

            #[test]
            fn accepted_next_resolves_to_the_hub_origin(
                prefix in prefix(),
                pieces in prop::collection::vec(piece(), 0..10),
            ) {
                check(&format!("{prefix}{}", pieces.concat()))?;
            }

            #[test]
            fn arbitrary_strings_never_leave_the_origin(next in any::<String>()) {
                check(&next)?;
            }
        }
    }
}
