//! `/proxy` (JupyterHub `ProxyAPIHandler`; jupyterhub-compat §2.8): the
//! proxy's routing table, a reconciliation on demand, and the notice that a
//! new proxy is in charge.

use super::Authorized;
use super::body::{self, JsonBody};
use super::common::{empty_json, paginated};
use super::query::{Page, QueryArgs};
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::models::Json;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use jhub_hub::HubError;
use serde_json::Value;

fn unavailable(err: HubError) -> ApiError {
    match err {
        HubError::Backend(message) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message),
        other => other.into(),
    }
}

/// `GET /proxy`: `{routespec: {"routespec", "target", "data"}}`, sorted by
/// routespec, paginated like the other listings.
pub async fn get(
    State(app): State<App>,
    _auth: Authorized,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let args = QueryArgs::from_uri(&uri);
    let page = Page::from_request(&app, &headers, &args)?;
    let routes = app.hub.proxy_routes().await.map_err(unavailable)?;
    let total = routes.len();
    let mut out = Json::with_capacity(total.min(page.limit) * 200 + 2);
    out.begin_object();
    for (routespec, route) in routes.iter().skip(page.offset).take(page.limit) {
        out.key(routespec).begin_object();
        out.key("routespec").str(&route.routespec);
        out.key("target").str(&route.target);
        let data: serde_json::Map<String, Value> = route
            .data
            .iter()
            .filter(|(k, _)| k.as_str() != "jupyterhub")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.key("data").value(&Value::Object(data));
        out.end_object();
    }
    out.end_object();
    paginated(&page, total, out.into_bytes(), &headers, &uri)
}

/// `POST /proxy`: reconcile the routes now.
pub async fn post(State(app): State<App>, _auth: Authorized) -> ApiResult<Response> {
    app.hub.check_routes().await.map_err(unavailable)?;
    Ok(empty_json(StatusCode::OK))
}

/// `PATCH /proxy`: `{"api_url"?, "auth_token"?}`.
///
/// The body is validated, but the hub's proxy client is fixed at start-up
/// (the CHP adapter has no way to be re-pointed yet): the request is logged
/// and answered after a reconciliation against the configured proxy.
pub async fn patch(State(app): State<App>, _auth: Authorized, body: JsonBody<Value>) -> ApiResult<Response> {
    let Some(body) = body.0 else {
        return Err(ApiError::bad_request("need JSON body"));
    };
    let Value::Object(model) = body else {
        return Err(ApiError::bad_request("Request body must be JSON dict"));
    };
    for (key, value) in &model {
        match key.as_str() {
            "api_url" => {
                let url = value.as_str().ok_or_else(|| ApiError::bad_request("api_url must be a string"))?;
                match url::Url::parse(url) {
                    Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
                    _ => return Err(ApiError::bad_request(format!("api_url must be an http(s) URL, not {url:?}"))),
                }
            }
            "auth_token" => {
                if !value.is_string() {
                    return Err(ApiError::bad_request(format!(
                        "auth_token must be a string, not {}",
                        body::type_name(value)
                    )));
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "Unexpected field '{other}'; supported fields: api_url, auth_token"
                )));
            }
        }
    }
    let api_url = model.get("api_url").and_then(|v| v.as_str());
    let auth_token = model.get("auth_token").and_then(|v| v.as_str());
    app.hub.repoint_proxy(api_url, auth_token).await.map_err(|err| match err {
        jhub_hub::HubError::Invalid(message) => ApiError::bad_request(message),
        other => unavailable(other),
    })?;
    Ok(empty_json(StatusCode::OK))
}
