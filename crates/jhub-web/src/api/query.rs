//! Query arguments and pagination as JupyterHub's API handlers read them
//! (jupyterhub-compat §1.5): the last value of a repeated argument wins,
//! `offset`/`limit` are `abs(int(...))`, and the paginated form is opt-in
//! through `Accept: application/jupyterhub-pagination+json`, whose `next.url`
//! is the request URL as the hub saw it with `offset`/`limit` replaced.

use crate::app::App;
use crate::error::ApiError;
use axum::http::{HeaderMap, Uri, header};
use std::borrow::Cow;

pub const PAGINATION_MEDIA_TYPE: &str = "application/jupyterhub-pagination+json";

/// The decoded query arguments of a request, in order.
#[derive(Debug, Clone, Default)]
pub struct QueryArgs {
    pairs: Vec<(String, String)>,
}

impl QueryArgs {
    pub fn parse(query: Option<&str>) -> Self {
        let pairs = match query {
            Some(q) => {
                url::form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
            }
            None => Vec::new(),
        };
        Self { pairs }
    }

    pub fn from_uri(uri: &Uri) -> Self {
        Self::parse(uri.query())
    }

    /// The last value of `key` (tornado's `get_argument`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// JupyterHub's boolean flags: present and not `0`/`false` (any case).
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "0" | "false"))
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

/// Whether the client asked for the paginated form (an exact element of a
/// comma-separated `Accept`, case-insensitive).
pub fn accepts_pagination(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|accept| accept.split(',').any(|part| part.trim().eq_ignore_ascii_case(PAGINATION_MEDIA_TYPE)))
}

/// Python's `abs(int(text))`: surrounding whitespace, a sign, digits with
/// single underscores between them. Saturates instead of growing.
pub fn python_abs_int(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let mut value: u64 = 0;
    for c in digits.chars() {
        if c == '_' {
            continue;
        }
        let d = c.to_digit(10)?;
        value = value.saturating_mul(10).saturating_add(u64::from(d));
    }
    Some(value)
}

/// A page of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: usize,
    pub limit: usize,
    /// Answer `{"items", "_pagination"}` instead of the bare collection.
    pub paginated: bool,
}

impl Page {
    /// `get_api_pagination`: default limit 50 with the Accept header, the
    /// maximum (200) without; clamped to `[1, max]`; 400 for non-integers.
    pub fn from_request(app: &App, headers: &HeaderMap, args: &QueryArgs) -> Result<Page, ApiError> {
        let paginated = accepts_pagination(headers);
        let max = app.settings.api_page_max_limit.max(1);
        let default = if paginated { app.settings.api_page_default_limit } else { max };
        let invalid = || ApiError::bad_request("Invalid argument type, offset and limit must be integers");
        let offset = match args.get("offset") {
            Some(text) => python_abs_int(text).ok_or_else(invalid)?,
            None => 0,
        };
        let limit = match args.get("limit") {
            Some(text) => python_abs_int(text).ok_or_else(invalid)?,
            None => default as u64,
        };
        let limit = limit.clamp(1, max as u64) as usize;
        Ok(Page { offset: usize::try_from(offset).unwrap_or(usize::MAX), limit, paginated })
    }

    /// `next` of `_pagination` when there is a next page: `(offset, limit, url)`.
    pub fn next(&self, total: usize, headers: &HeaderMap, uri: &Uri) -> Option<(usize, usize, String)> {
        let next_offset = self.offset.saturating_add(self.limit);
        if next_offset >= total {
            return None;
        }
        Some((next_offset, self.limit, next_url(headers, uri, next_offset, self.limit)))
    }
}

fn first_forwarded(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Python's `quote_plus` with no extra safe characters.
fn quote_plus(text: &str, out: &mut String) {
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push_str(&format!("{b:02X}"));
            }
        }
    }
}

/// The full request URL (scheme and host as CHP forwarded them) with
/// `offset` and `limit` set; other arguments keep their order, grouped by
/// key like Python's `parse_qs` + `urlencode(doseq=True)`.
pub fn next_url(headers: &HeaderMap, uri: &Uri, offset: usize, limit: usize) -> String {
    let scheme = first_forwarded(headers, "x-forwarded-proto")
        .or_else(|| first_forwarded(headers, "x-scheme"))
        .unwrap_or_else(|| "http".to_string());
    let host = first_forwarded(headers, "x-forwarded-host")
        .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()).map(str::to_string))
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_string());
    let mut keys: Vec<Cow<'_, str>> = Vec::new();
    let mut values: Vec<Vec<Cow<'_, str>>> = Vec::new();
    if let Some(query) = uri.query() {
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match keys.iter().position(|k| *k == key) {
                Some(i) => values[i].push(value),
                None => {
                    keys.push(key);
                    values.push(vec![value]);
                }
            }
        }
    }
    let (offset, limit) = (offset.to_string(), limit.to_string());
    for (key, value) in [("offset", offset), ("limit", limit)] {
        match keys.iter().position(|k| k == key) {
            Some(i) => values[i] = vec![Cow::Owned(value)],
            None => {
                keys.push(Cow::Borrowed(key));
                values.push(vec![Cow::Owned(value)]);
            }
        }
    }
    let mut query = String::new();
    for (key, vals) in keys.iter().zip(&values) {
        for value in vals {
            if !query.is_empty() {
                query.push('&');
            }
            quote_plus(key, &mut query);
            query.push('=');
            quote_plus(value, &mut query);
        }
    }
    format!("{scheme}://{host}{}?{query}", uri.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_int_rules() {
        assert_eq!(python_abs_int("12"), Some(12));
        assert_eq!(python_abs_int(" -7 "), Some(7));
        assert_eq!(python_abs_int("+3"), Some(3));
        assert_eq!(python_abs_int("1_000"), Some(1000));
        assert_eq!(python_abs_int("99999999999999999999999"), Some(u64::MAX));
        for bad in ["", "1.5", "abc", "1__0", "_1", "1_", "--1", "0x10", "1e3"] {
            assert_eq!(python_abs_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn last_argument_wins_and_flags() {
        let args = QueryArgs::parse(Some("a=1&a=2&include_stopped_servers&x=FALSE&y=0&z=no"));
        assert_eq!(args.get("a"), Some("2"));
        assert!(args.flag("include_stopped_servers"));
        assert!(!args.flag("x"));
        assert!(!args.flag("y"));
        assert!(args.flag("z"));
        assert!(!args.flag("missing"));
    }

    #[test]
    fn accept_header_is_matched_as_a_list_element() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, "application/json, Application/JupyterHub-Pagination+JSON".parse().unwrap());
        assert!(accepts_pagination(&headers));
        headers.insert(header::ACCEPT, "application/jupyterhub-pagination+json;q=0.9".parse().unwrap());
        assert!(!accepts_pagination(&headers));
    }

    #[test]
    fn next_url_matches_the_observed_jupyterhub_form() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:38000".parse().unwrap());
        let uri: Uri = "/hub/api/users?limit=2".parse().unwrap();
        assert_eq!(next_url(&headers, &uri, 2, 2), "http://127.0.0.1:38000/hub/api/users?limit=2&offset=2");
        headers.insert("x-forwarded-proto", "https".parse().unwrap());
        headers.insert("x-forwarded-host", "hub.example.org".parse().unwrap());
        let uri: Uri = "/hub/api/users?state=ready&offset=0&name_filter=a%20b&state=active".parse().unwrap();
        assert_eq!(
            next_url(&headers, &uri, 200, 200),
            "https://hub.example.org/hub/api/users?state=ready&state=active&offset=200&name_filter=a+b&limit=200"
        );
    }
}
