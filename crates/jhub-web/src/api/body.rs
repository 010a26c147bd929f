//! The one JSON body extractor of the API.
//!
//! JupyterHub reads bodies as JSON whatever the `Content-Type` says (the
//! idle culler sends `DELETE` bodies without one), treats an empty body (or
//! JSON `null`) as "no body", and answers 400 `Invalid JSON in body of
//! request` for anything that does not parse. Bodies that parse but do not
//! fit the handler's type — a wrong type, a missing key, an unknown key on a
//! `#[serde(deny_unknown_fields)]` struct — are 400s naming the offending
//! key. Nothing here can answer 5xx.

use crate::app::App;
use crate::error::ApiError;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Bodies larger than this are refused (JupyterHub's API bodies are tiny).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub const INVALID_JSON: &str = "Invalid JSON in body of request";

/// The request body as `T`; `None` when the body is empty or JSON `null`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub Option<T>);

impl<T> JsonBody<T> {
    /// The body, or 400 with `message` when there is none.
    pub fn required(self, message: &str) -> Result<T, ApiError> {
        self.0.ok_or_else(|| ApiError::bad_request(message))
    }
}

/// Parses raw bytes as a JSON value: `None` for empty or `null`.
pub fn parse_value(bytes: &[u8]) -> Result<Option<Value>, ApiError> {
    let trimmed = bytes.trim_ascii();
    if trimmed.is_empty() {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(trimmed) {
        Ok(Value::Null) => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(_) => Err(ApiError::bad_request(INVALID_JSON)),
    }
}

/// Turns a parsed value into `T`, with the path of the key that did not fit.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = strip_position(&err.inner().to_string());
        if path.is_empty() || path == "." {
            ApiError::bad_request(format!("Invalid request body: {inner}"))
        } else {
            ApiError::bad_request(format!("Invalid request body: {path}: {inner}"))
        }
    })
}

/// serde_json appends " at line L column C", meaningless for a value.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) if message[at..].contains(" column ") => message[..at].to_string(),
        _ => message.to_string(),
    }
}

/// Reads the whole body (bounded).
pub async fn read_bytes(request: Request) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::new(axum::http::StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"))
}

impl<T: DeserializeOwned + Send> FromRequest<App> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _app: &App) -> Result<Self, Self::Rejection> {
        let bytes = read_bytes(request).await?;
        match parse_value(&bytes)? {
            None => Ok(JsonBody(None)),
            Some(value) => from_value(value).map(|v| JsonBody(Some(v))),
        }
    }
}

/// Deserializes a JSON value that must be a list of strings (usernames,
/// group names, scopes), naming `what` in the error.
pub fn string_list(value: &Value, what: &str) -> Result<Vec<String>, ApiError> {
    let Value::Array(items) = value else {
        return Err(ApiError::bad_request(format!("{what} must be a list of strings")));
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.clone()),
            _ => Err(ApiError::bad_request(format!("{what} must be a list of strings"))),
        })
        .collect()
}

/// JSON type names as JupyterHub's checks report them.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Example {
        admin: Option<bool>,
        names: Option<Vec<String>>,
    }

    fn parse(text: &str) -> Result<Option<Example>, String> {
        match parse_value(text.as_bytes()).map_err(|e| e.message.unwrap_or_default())? {
            None => Ok(None),
            Some(v) => from_value(v).map(Some).map_err(|e| e.message.unwrap_or_default()),
        }
    }

    #[test]
    fn empty_and_null_bodies_are_no_body() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("  \n"), Ok(None));
        assert_eq!(parse("null"), Ok(None));
    }

    #[test]
    fn malformed_json_is_the_jupyterhub_message() {
        for text in ["{", "{'a': 1}", "nope", "\u{0}", "[1,]"] {
            assert_eq!(parse(text), Err(INVALID_JSON.to_string()), "{text:?}");
        }
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_key() {
        let err = parse(r#"{"admin": true, "bogus": 1}"#).unwrap_err();
        assert!(err.contains("bogus"), "{err}");
        let err = parse(r#"{"admin": "yes"}"#).unwrap_err();
        assert!(err.starts_with("Invalid request body: admin: invalid type: string"), "{err}");
        assert!(!err.contains("line 1"), "{err}");
        let err = parse(r#"{"names": [1]}"#).unwrap_err();
        assert!(err.contains("names[0]"), "{err}");
        let err = parse("\"text\"").unwrap_err();
        assert!(err.starts_with("Invalid request body: invalid type: string"), "{err}");
        assert_eq!(parse(r#"{"admin": false}"#), Ok(Some(Example { admin: Some(false), names: None })));
    }

    #[test]
    fn string_lists() {
        assert_eq!(string_list(&serde_json::json!(["a", "b"]), "users").unwrap(), vec!["a", "b"]);
        assert!(string_list(&serde_json::json!([true]), "users").is_err());
        assert!(string_list(&serde_json::json!(1090), "users").is_err());
    }
}
