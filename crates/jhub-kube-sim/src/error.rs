//! Errors: `ApiError` is a Kubernetes `Status` failure as the API server returns it (code,
//! reason, message, details); `SimError` is what the crate's own entry points report.

use serde_json::{Value, json};

use crate::resource::Resource;

/// A field-level validation failure (`details.causes[]` of a 422).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueForbidden`, `FieldValueNotSupported`...
    pub cause: &'static str,
    /// The JSON path, e.g. `spec.containers[0].image`.
    pub field: String,
    /// The message after the field path, e.g. `Required value`.
    pub detail: String,
}

impl FieldError {
    /// `field: Required value`
    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        let detail = if detail.is_empty() { "Required value".to_string() } else { format!("Required value: {detail}") };
        Self { cause: "FieldValueRequired", field: field.into(), detail }
    }

    /// `field: Invalid value: "x": why`
    pub fn invalid(field: impl Into<String>, value: &str, why: &str) -> Self {
        Self { cause: "FieldValueInvalid", field: field.into(), detail: format!("Invalid value: {value:?}: {why}") }
    }

    /// `field: Forbidden: why`
    pub fn forbidden(field: impl Into<String>, why: &str) -> Self {
        Self { cause: "FieldValueForbidden", field: field.into(), detail: format!("Forbidden: {why}") }
    }

    /// `field: Unsupported value: "x": supported values: ...`
    pub fn not_supported(field: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        Self {
            cause: "FieldValueNotSupported",
            field: field.into(),
            detail: format!("Unsupported value: {value:?}: supported values: {}", list.join(", ")),
        }
    }

    fn full(&self) -> String {
        format!("{}: {}", self.field, self.detail)
    }
}

/// A failed API call, rendered as a `Status` body with its HTTP code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `Expired`, `Gone`, `Forbidden`, ...
    pub reason: String,
    /// Human-readable message in the API server's wording.
    pub message: String,
    /// `details` object, if any.
    pub details: Option<Box<Value>>,
}

impl ApiError {
    fn new(code: u16, reason: &str, message: String, details: Option<Value>) -> Self {
        Self { code, reason: reason.to_string(), message, details: details.map(Box::new) }
    }

    /// 404 `pods "x" not found`
    pub fn not_found(resource: Resource, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} {name:?} not found", resource.plural()),
            Some(json!({"name": name, "kind": resource.plural()})),
        )
    }

    /// 404 for an unknown URL.
    pub fn no_route(path: &str) -> Self {
        Self::new(404, "NotFound", format!("the server could not find the requested resource ({path})"), None)
    }

    /// 409 `pods "x" already exists`
    pub fn already_exists(resource: Resource, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} {name:?} already exists", resource.plural()),
            Some(json!({"name": name, "kind": resource.plural()})),
        )
    }

    /// 409 Conflict for a stale resourceVersion or failed precondition.
    pub fn conflict(resource: Resource, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {} {name:?}: {why}", resource.plural()),
            Some(json!({"name": name, "kind": resource.plural()})),
        )
    }

    /// 409 Conflict with the API server's stale-object wording.
    pub fn stale(resource: Resource, name: &str) -> Self {
        Self::conflict(
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422 Invalid with field causes.
    pub fn invalid(resource: Resource, name: &str, errors: &[FieldError]) -> Self {
        let joined = if errors.len() == 1 {
            errors.iter().map(FieldError::full).collect::<Vec<_>>().join(", ")
        } else {
            format!("[{}]", errors.iter().map(FieldError::full).collect::<Vec<_>>().join(", "))
        };
        let causes: Vec<Value> =
            errors.iter().map(|e| json!({"reason": e.cause, "message": e.detail, "field": e.field})).collect();
        Self::new(
            422,
            "Invalid",
            format!("{} {name:?} is invalid: {joined}", resource.kind()),
            Some(json!({"name": name, "kind": resource.kind(), "causes": causes})),
        )
    }

    /// 410 Expired (`too old resource version`).
    pub fn expired(message: String) -> Self {
        Self::new(410, "Expired", message, None)
    }

    /// 400 BadRequest.
    pub fn bad_request(message: String) -> Self {
        Self::new(400, "BadRequest", message, None)
    }

    /// 403 Forbidden.
    pub fn forbidden(resource: Resource, name: &str, why: &str) -> Self {
        let target =
            if name.is_empty() { resource.plural().to_string() } else { format!("{} {name:?}", resource.plural()) };
        Self::new(
            403,
            "Forbidden",
            format!("{target} is forbidden: {why}"),
            Some(json!({"name": name, "kind": resource.plural()})),
        )
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource".into(),
            None,
        )
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/merge-patch+json, application/strategic-merge-patch+json (got {content_type:?})"
            ),
            None,
        )
    }

    /// 500 InternalError.
    pub fn internal(message: String) -> Self {
        Self::new(500, "InternalError", format!("Internal error occurred: {message}"), None)
    }

    /// 504 Timeout for a resourceVersion from the future.
    pub fn too_large_rv(rv: u64, current: u64) -> Self {
        Self::new(
            504,
            "Timeout",
            format!("Too large resource version: {rv}, current: {current}"),
            Some(
                json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}),
            ),
        )
    }

    /// An injected failure with any code and reason.
    pub fn injected(code: u16, reason: &str, message: &str) -> Self {
        Self::new(code, reason, message.to_string(), None)
    }

    /// The `Status` body.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let (Some(details), Some(map)) = (&self.details, status.as_object_mut()) {
            map.insert("details".into(), (**details).clone());
        }
        status
    }
}

/// Errors from the simulator's own entry points (configuration, serving).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration file could not be read.
    #[error("reading config {path}: {source}")]
    ReadConfig {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration could not be parsed.
    #[error("parsing config {path}: {message}")]
    ParseConfig {
        /// The file.
        path: String,
        /// Parser message.
        message: String,
    },
    /// The configuration is inconsistent (e.g. a node capacity that is not a quantity).
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// Seeding the initial objects failed.
    #[error("seeding {what}: {source}")]
    Seed {
        /// What was being created.
        what: String,
        /// The API error.
        source: ApiError,
    },
    /// The HTTP server failed.
    #[error("serving: {0}")]
    Serve(std::io::Error),
    /// Writing the kubeconfig failed.
    #[error("writing kubeconfig {path}: {source}")]
    WriteKubeconfig {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}
