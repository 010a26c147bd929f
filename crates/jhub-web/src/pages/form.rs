//! Form bodies of page POSTs: `application/x-www-form-urlencoded` (our
//! templates) and `multipart/form-data` (JupyterHub's `spawn.html`, which
//! admins may have customised, posts that). Only text fields are kept; file
//! uploads are dropped (no spawner option reads them).

use axum::http::{HeaderMap, header};

/// Why a form body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("unsupported form content type {0:?}")]
    UnsupportedType(String),
    #[error("malformed multipart form: {0}")]
    Multipart(&'static str),
}

/// The fields of a form post, in order (a name may repeat).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Parses a page form body by its `Content-Type` (none = urlencoded).
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Fields, FormError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "" | "application/x-www-form-urlencoded" => {
            Ok(Fields(url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()))
        }
        "multipart/form-data" => {
            let boundary = content_type
                .split(';')
                .skip(1)
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
                .map(|(_, v)| v.trim().trim_matches('"').to_string())
                .filter(|b| !b.is_empty() && b.len() <= 200)
                .ok_or(FormError::Multipart("no boundary"))?;
            parse_multipart(body, &boundary)
        }
        other => Err(FormError::UnsupportedType(other.to_string())),
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > haystack.len() {
        return None;
    }
    haystack[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// RFC 7578 multipart/form-data, text parts only.
fn parse_multipart(body: &[u8], boundary: &str) -> Result<Fields, FormError> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut fields = Vec::new();
    let mut pos = find(body, delimiter, 0).ok_or(FormError::Multipart("no opening boundary"))? + delimiter.len();
    loop {
        if body[pos..].starts_with(b"--") {
            return Ok(Fields(fields));
        }
        if !body[pos..].starts_with(b"\r\n") {
            return Err(FormError::Multipart("boundary not followed by CRLF"));
        }
        pos += 2;
        let headers_end = find(body, b"\r\n\r\n", pos).ok_or(FormError::Multipart("part without headers end"))?;
        let head = String::from_utf8_lossy(&body[pos..headers_end]);
        let content_start = headers_end + 4;
        let mut closing = Vec::with_capacity(delimiter.len() + 2);
        closing.extend_from_slice(b"\r\n");
        closing.extend_from_slice(delimiter);
        let content_end = find(body, &closing, content_start).ok_or(FormError::Multipart("part not terminated"))?;
        let (name, is_file) = disposition(&head).ok_or(FormError::Multipart("part without a form-data name"))?;
        if !is_file {
            fields.push((name, String::from_utf8_lossy(&body[content_start..content_end]).into_owned()));
        }
        pos = content_end + closing.len();
    }
}

/// `Content-Disposition: form-data; name="x"[; filename="y"]` → (name, has filename).
fn disposition(head: &str) -> Option<(String, bool)> {
    let line = head.split("\r\n").find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
    let (_, value) = line.split_once(':')?;
    let mut parts = value.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case("form-data") {
        return None;
    }
    let mut name = None;
    let mut file = false;
    for part in parts {
        let Some((key, raw)) = part.split_once('=') else { continue };
        let unquoted = raw.trim().strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(raw.trim());
        match key.trim().to_ascii_lowercase().as_str() {
            "name" => name = Some(unquoted.replace("\\\"", "\"")),
            "filename" | "filename*" => file = true,
            _ => {}
        }
    }
    name.map(|n| (n, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, content_type.parse().unwrap_or(axum::http::HeaderValue::from_static("")));
        h
    }

    #[test]
    fn urlencoded_keeps_order_and_repeats() {
        let fields = parse(&headers("application/x-www-form-urlencoded"), b"a=1&b=%E4%B8%AD&a=2&c").unwrap_or_default();
        assert_eq!(fields.get("a"), Some("1"));
        assert_eq!(fields.all("a"), vec!["1", "2"]);
        assert_eq!(fields.get("b"), Some("中"));
        assert_eq!(fields.get("c"), Some(""));
    }

    #[test]
    fn multipart_text_fields_and_files() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"_xsrf\"\r\n\r\ntok:1\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"profile\"\r\n\r\ngpu-fen-qu\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"profile-option-gpu-fen-qu--image\"\r\n\r\n多行\r\nvalue\r\n\
--XyZ--\r\n";
        let fields = parse(&headers("multipart/form-data; boundary=XyZ"), body.as_bytes()).unwrap_or_default();
        assert_eq!(
            fields.0,
            vec![
                ("_xsrf".to_string(), "tok:1".to_string()),
                ("profile".to_string(), "gpu-fen-qu".to_string()),
                ("profile-option-gpu-fen-qu--image".to_string(), "多行\r\nvalue".to_string()),
            ]
        );
    }

    #[test]
    fn broken_bodies_are_errors_not_panics() {
        let mp = headers("multipart/form-data; boundary=B");
        for body in [&b""[..], b"--B", b"--B\r\n", b"--B\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B--", b"--Bx"]
        {
            assert!(parse(&mp, body).is_err(), "{body:?}");
        }
        assert!(matches!(parse(&headers("multipart/form-data"), b"x"), Err(FormError::Multipart(_))));
        assert!(matches!(parse(&headers("text/plain"), b"x"), Err(FormError::UnsupportedType(_))));
    }
}
