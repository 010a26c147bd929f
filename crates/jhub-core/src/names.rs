//! Names in URLs, OAuth client ids and routes, quoted exactly as JupyterHub
//! quotes them (Python `urllib.parse.quote`).
//!
//! Python never quotes letters, digits and `_.-~`; JupyterHub adds `@` to the
//! safe set for URL paths (`url_escape_path`) and uses an empty safe set for
//! OAuth client ids (which double as cookie names, so `@` becomes `%40`).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Python `quote(s, safe='')`: only letters, digits and `_.-~` stay.
const QUOTE_NOTHING_SAFE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'_').remove(b'.').remove(b'-').remove(b'~');
/// Python `quote(s, safe='@~')`, JupyterHub's `url_escape_path`.
const QUOTE_PATH: &AsciiSet = &QUOTE_NOTHING_SAFE.remove(b'@');
/// Python `quote(s, safe='@/~')`, used when re-reading CHP route keys.
const QUOTE_ROUTE: &AsciiSet = &QUOTE_PATH.remove(b'/');

/// JupyterHub's `url_escape_path`: a user or server name as a URL path segment.
pub fn escape_path(segment: &str) -> String {
    utf8_percent_encode(segment, QUOTE_PATH).to_string()
}

/// Python `quote(s, safe='')`.
pub fn quote_all(text: &str) -> String {
    utf8_percent_encode(text, QUOTE_NOTHING_SAFE).to_string()
}

/// Quotes a whole route path the way JupyterHub re-quotes CHP keys.
pub fn quote_route(path: &str) -> String {
    utf8_percent_encode(path, QUOTE_ROUTE).to_string()
}

/// A hub URL layout: everything hangs below `base_url` (`/` by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlLayout {
    base_url: String,
}

impl UrlLayout {
    /// `base_url` is normalised to start and end with `/`.
    pub fn new(base_url: &str) -> Self {
        let trimmed = base_url.trim_matches('/');
        let base_url = if trimmed.is_empty() { "/".to_string() } else { format!("/{trimmed}/") };
        Self { base_url }
    }

    /// `/` or `/prefix/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `{base_url}hub/`.
    pub fn hub_prefix(&self) -> String {
        format!("{}hub/", self.base_url)
    }

    /// `{base_url}hub/api`.
    pub fn api_prefix(&self) -> String {
        format!("{}hub/api", self.base_url)
    }

    /// `{base_url}user/{name}/`.
    pub fn user_url(&self, user: &str) -> String {
        format!("{}user/{}/", self.base_url, escape_path(user))
    }

    /// The server's URL prefix, `JUPYTERHUB_SERVICE_PREFIX` and its route.
    pub fn server_url(&self, user: &str, server: &str) -> String {
        if server.is_empty() { self.user_url(user) } else { format!("{}{}/", self.user_url(user), escape_path(server)) }
    }

    /// `{server_url}oauth_callback`, the redirect URI of the server's OAuth client.
    pub fn oauth_callback_url(&self, user: &str, server: &str) -> String {
        format!("{}oauth_callback", self.server_url(user, server))
    }

    /// `{api}/users/{name}/server/progress` or `…/servers/{server}/progress`.
    pub fn progress_url(&self, user: &str, server: &str) -> String {
        if server.is_empty() {
            format!("{}/users/{}/server/progress", self.api_prefix(), escape_path(user))
        } else {
            format!("{}/users/{}/servers/{}/progress", self.api_prefix(), escape_path(user), escape_path(server))
        }
    }
}

impl Default for UrlLayout {
    fn default() -> Self {
        Self::new("/")
    }
}

/// The OAuth client id of a user's server: `jupyterhub-user-<name>[-<server>]`.
pub fn server_oauth_client_id(user: &str, server: &str) -> String {
    if server.is_empty() {
        format!("jupyterhub-user-{}", quote_all(user))
    } else {
        format!("jupyterhub-user-{}-{}", quote_all(user), quote_all(server))
    }
}

/// `<user>/<server>`, the value of a `server=` scope filter and of `full_name`.
pub fn server_full_name(user: &str, server: &str) -> String {
    format!("{user}/{server}")
}

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("invalid username {0:?}: must be 1-255 characters, without '/' or control characters")]
    InvalidUsername(String),
    #[error(
        "invalid server name {0:?}: must be 1-30 characters of a-z, 0-9 and '-', start with a letter, end with a letter or digit, and contain no '--'"
    )]
    InvalidServerName(String),
}

/// JupyterHub's username check: non-empty, no `/` (it would change URL
/// structure), no control characters, at most 255 characters.
pub fn validate_username(name: &str) -> Result<(), NameError> {
    let ok = !name.is_empty()
        && name.chars().count() <= 255
        && !name.contains('/')
        && !name.chars().any(|c| c.is_control())
        && name.trim() == name;
    if ok { Ok(()) } else { Err(NameError::InvalidUsername(name.to_string())) }
}

/// JupyterHub 6's rule for new named servers (`slugs.is_valid_safe_slug`
/// with a 30-character limit).
pub fn validate_server_name(name: &str) -> Result<(), NameError> {
    let bytes = name.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 30
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && !name.contains("--");
    if ok { Ok(()) } else { Err(NameError::InvalidServerName(name.to_string())) }
}

/// Python `json.dumps` of a list of strings (`", "` separators), as the
/// single-user environment expects byte for byte.
pub fn python_json_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| python_json_string(item)).collect();
    format!("[{}]", quoted.join(", "))
}

/// Python `json.dumps` of one string with its default `ensure_ascii=True`:
/// `"` and `\` escaped, `\n \r \t \b \f` short, every other character
/// outside printable ASCII (space to `~`) as lower-case `\uXXXX`, characters
/// beyond the BMP as a UTF-16 surrogate pair (`😀` → `\ud83d\ude00`).
pub fn python_json_string(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_matches_python() {
        assert_eq!(escape_path("Zhong.Ger@Lab"), "Zhong.Ger@Lab");
        assert_eq!(escape_path("GPU test"), "GPU%20test");
        assert_eq!(escape_path("a/b"), "a%2Fb");
        assert_eq!(escape_path("é~_.-x+y"), "%C3%A9~_.-x%2By");
        assert_eq!(quote_all("Zhong.Ger@Lab"), "Zhong.Ger%40Lab");
        assert_eq!(quote_all("日本"), "%E6%97%A5%E6%9C%AC");
    }

    #[test]
    fn json_strings_are_byte_equal_to_python_json_dumps() {
        // Expected values printed by CPython 3.11: json.dumps([...]).
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            python_json_list(&names(&["access:servers!server=jörg/", "access:servers!user=jörg"])),
            r#"["access:servers!server=j\u00f6rg/", "access:servers!user=j\u00f6rg"]"#
        );
        assert_eq!(python_json_string("日本"), r#""\u65e5\u672c""#);
        assert_eq!(python_json_string("a😀b"), r#""a\ud83d\ude00b""#);
        assert_eq!(python_json_string("q\"b\\s/\n\t\u{1}\u{7f}"), r#""q\"b\\s/\n\t\u0001\u007f""#);
        assert_eq!(python_json_list(&[]), "[]");
    }

    #[test]
    fn urls_and_client_ids() {
        let layout = UrlLayout::default();
        assert_eq!(layout.server_url("alice", ""), "/user/alice/");
        assert_eq!(layout.server_url("Zhong.Ger@Lab", "GPU test"), "/user/Zhong.Ger@Lab/GPU%20test/");
        assert_eq!(layout.oauth_callback_url("bob", "gpu1"), "/user/bob/gpu1/oauth_callback");
        assert_eq!(layout.progress_url("alice", ""), "/hub/api/users/alice/server/progress");
        assert_eq!(layout.progress_url("bob", "gpu1"), "/hub/api/users/bob/servers/gpu1/progress");
        assert_eq!(server_oauth_client_id("alice", ""), "jupyterhub-user-alice");
        assert_eq!(server_oauth_client_id("Zhong.Ger@Lab", "GPU test"), "jupyterhub-user-Zhong.Ger%40Lab-GPU%20test");
        let prefixed = UrlLayout::new("jhub");
        assert_eq!(prefixed.hub_prefix(), "/jhub/hub/");
        assert_eq!(prefixed.user_url("a"), "/jhub/user/a/");
    }

    #[test]
    fn server_name_rules() {
        for good in ["gpu1", "a", "my-server", "x0"] {
            assert!(validate_server_name(good).is_ok(), "{good}");
        }
        for bad in ["", "1abc", "GPU", "a--b", "ends-", "with space", "a_b", &"a".repeat(31)] {
            assert!(validate_server_name(bad).is_err(), "{bad}");
        }
        assert!(validate_username("alice").is_ok());
        assert!(validate_username("a/b").is_err());
        assert!(validate_username("").is_err());
        assert!(validate_username(" padded").is_err());
    }

    #[test]
    fn python_json() {
        let items = vec!["access:servers!server=alice/".to_string(), "access:servers!user=alice".to_string()];
        assert_eq!(python_json_list(&items), r#"["access:servers!server=alice/", "access:servers!user=alice"]"#);
        assert_eq!(python_json_list(&[]), "[]");
    }
}
