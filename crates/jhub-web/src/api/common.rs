//! Small pieces every API module uses: JSON and empty responses, the
//! caller's admin flag, username rules, paginated envelopes.

use super::query::Page;
use crate::app::App;
use crate::error::ApiError;
use crate::models::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use jhub_hub::{Identity, Principal};

/// A JSON body already written.
pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// JupyterHub's bodiless answers (server start/stop, token delete):
/// empty with `Content-Type: text/plain`.
pub fn empty_text(status: StatusCode) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))]).into_response()
}

/// An empty body with the API's JSON content type (JupyterHub's default
/// for handlers that write nothing, e.g. `POST .../activity`).
pub fn empty_json(status: StatusCode) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))]).into_response()
}

/// Whether the caller is an admin user or admin service (JupyterHub's
/// `current_user.admin`, which guards granting admin).
pub fn caller_is_admin(app: &App, identity: &Identity) -> bool {
    let state = app.hub.read();
    match &identity.principal {
        Principal::User { id, .. } => state.users.get(id).is_some_and(|u| u.user.admin),
        Principal::Service { id, .. } => state.services.get(id).is_some_and(|s| s.service.admin),
    }
}

/// `Authenticator.normalize_username`: lower-case.
pub fn normalize_username(name: &str) -> String {
    name.to_lowercase()
}

/// `Authenticator.validate_username` plus what jhub needs to keep URLs and
/// listings working: non-empty, no `/`, not only dots (also after
/// unquoting), no surrounding whitespace, no control characters, at most
/// 255 characters. Names that fail never reach the state, so a fuzzer's odd
/// names cannot break later listings.
pub fn valid_username(name: &str) -> bool {
    if jhub_core::names::validate_username(name).is_err() {
        return false;
    }
    let unquoted = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
    let only_dots = |s: &str| !s.is_empty() && s.chars().all(|c| c == '.');
    !(only_dots(name) || only_dots(&unquoted))
}

/// Writes `items` (already written into `items_json` as a JSON array or
/// object) either bare or as JupyterHub's paginated envelope.
pub fn paginated(
    page: &Page,
    total: usize,
    items_json: Vec<u8>,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Response, ApiError> {
    if !page.paginated {
        return Ok(json_response(StatusCode::OK, items_json));
    }
    let mut out = Json::with_capacity(items_json.len() + 256);
    out.begin_object();
    out.key("items").raw(&items_json);
    out.key("_pagination").begin_object();
    out.key("offset").int(page.offset as i64);
    out.key("limit").int(page.limit as i64);
    out.key("total").int(total as i64);
    out.key("next");
    match page.next(total, headers, uri) {
        Some((offset, limit, url)) => {
            out.begin_object();
            out.key("offset").int(offset as i64);
            out.key("limit").int(limit as i64);
            out.key("url").str(&url);
            out.end_object();
        }
        None => out.null(),
    }
    out.end_object();
    out.end_object();
    Ok(json_response(StatusCode::OK, out.into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_rules() {
        for good in ["alice", "Zhong.Ger@Lab", "a b", "日本", "x.y"] {
            assert!(valid_username(good), "{good:?}");
        }
        for bad in ["", "a/b", ".", "..", "%2E%2E", " alice", "alice\n", "\u{7}"] {
            assert!(!valid_username(bad), "{bad:?}");
        }
        assert_eq!(normalize_username("Alice"), "alice");
    }
}
