//! `GET /hub/api/usage?start=&end=&group_by=user|group|profile|node|day`
//! (scope `read:usage`, jhub's own): server-hours, GPU-hours, CPU-core-hours,
//! GiB-hours requested and sessions in `[start, end)`, as JSON or, with
//! `Accept: text/csv` (or `format=csv`), as CSV. `start` defaults to the first of the current
//! month (UTC), `end` to now.

use super::query::QueryArgs;
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use jhub_core::Timestamp;
use jhub_core::time::isoformat;
use jhub_core::usage::{GroupBy, UsageRow};
use serde_json::{Value, json};

/// The handler label in `jupyterhub_request_duration_seconds`.
pub const HANDLER: &str = "jhub.apihandlers.usage.UsageAPIHandler";

/// The first instant of `now`'s month (UTC).
pub fn month_start(now: Timestamp) -> Timestamp {
    let date = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    jiff::civil::date(date.year(), date.month(), 1)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(now)
}

/// A range from query arguments (`start`, `end`), checked.
pub fn range(args: &QueryArgs, now: Timestamp) -> Result<(Timestamp, Timestamp), String> {
    let parse = |name: &str| -> Result<Option<Timestamp>, String> {
        match args.get(name).map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(text) => jhub_core::time::parse(text).map(Some).map_err(|_| {
                format!("{name}={text:?} is not an ISO 8601 date or time (e.g. 2026-03-01 or 2026-03-01T00:00:00Z)")
            }),
        }
    };
    let start = parse("start")?.unwrap_or_else(|| month_start(now));
    let end = parse("end")?.unwrap_or(now);
    if end <= start {
        return Err(format!("end ({}) must be after start ({})", isoformat(end), isoformat(start)));
    }
    Ok((start, end))
}

fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|part| part.trim().to_ascii_lowercase().starts_with("text/csv")))
}

/// Rows as JSON objects keyed by the grouping's name (`{"user": "alice", ...}`).
pub fn rows_json(by: GroupBy, rows: &[UsageRow]) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            json!({
                by.as_str(): r.key,
                "server_hours": r.server_hours,
                "gpu_hours": r.gpu_hours,
                "cpu_core_hours": r.cpu_core_hours,
                "gib_hours": r.gib_hours,
                "sessions": r.sessions,
            })
        })
        .collect()
}

pub async fn usage(State(app): State<App>, uri: Uri, headers: HeaderMap) -> ApiResult<Response> {
    let args = QueryArgs::from_uri(&uri);
    let now = app.hub.now();
    let (start, end) = range(&args, now).map_err(ApiError::bad_request)?;
    let by = match args.get("group_by").map(str::trim).filter(|v| !v.is_empty()) {
        None => GroupBy::User,
        Some(text) => GroupBy::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!("group_by={text:?}: use one of user, group, profile, node, day"))
        })?,
    };
    let rows = app.hub.usage_report(start, end, by);
    // `format=csv` for links (a browser cannot set Accept on a download).
    if wants_csv(&headers) || args.get("format") == Some("csv") {
        let body = jhub_core::usage::to_csv(by, &rows);
        let disposition = format!(
            "attachment; filename=\"usage-{}-{}-by-{}.csv\"",
            isoformat(start).get(..10).unwrap_or(""),
            isoformat(end).get(..10).unwrap_or(""),
            by.as_str()
        );
        let mut response = (StatusCode::OK, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
        }
        return Ok(response);
    }
    let body = json!({
        "start": isoformat(start),
        "end": isoformat(end),
        "now": isoformat(now),
        "group_by": by.as_str(),
        "rows": rows_json(by, &rows),
    });
    Ok(super::common::json_response(StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default()))
}
