//! `/hub/api`: JupyterHub's REST API.
//!
//! Every route is declared once in [`table`] together with the scopes that
//! allow it and the resource its path names. The router is built from that
//! table, and each route is wrapped in the check ([`authorize`]) before its
//! handler runs, so no route can be reached without its scope (a test walks
//! the table to prove it). Handlers receive the caller as [`Authorized`].

pub mod hub;

use crate::app::App;
use crate::auth::Caller;
use crate::error::ApiError;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, get};
use jhub_core::rbac::{Access, Resource, Scope};
use jhub_hub::Identity;
use std::collections::HashMap;

/// What a route's path names, for the scope check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// No credentials needed.
    Public,
    /// Any valid credentials (e.g. `GET /user`).
    Authenticated,
    /// Needs an unfiltered grant (`/info`, `/proxy`, `POST /users`).
    Hub,
    /// A listing the handler narrows (`GET /users`).
    Listing,
    /// `{name}` is a user.
    User,
    /// `{name}` and `{server_name}`; the default server when `{server_name}` is absent.
    Server,
    /// `{name}` is a group.
    Group,
    /// `{name}` is a service.
    Service,
}

/// One API route: method, path below `/hub/api`, accepted scopes (any one
/// suffices), the resource checked, and the handler label for metrics
/// (JupyterHub's Python class path, so dashboards keep working).
#[derive(Debug, Clone)]
pub struct ApiRoute {
    pub method: Method,
    pub path: &'static str,
    pub scopes: &'static [Scope],
    pub target: Target,
    pub handler: &'static str,
}

/// A route and its handler.
pub struct Entry {
    pub route: ApiRoute,
    pub handler: MethodRouter<App>,
}

fn entry(
    method: Method,
    path: &'static str,
    scopes: &'static [Scope],
    target: Target,
    handler: &'static str,
    h: MethodRouter<App>,
) -> Entry {
    Entry { route: ApiRoute { method, path, scopes, target, handler }, handler: h }
}

/// The API, in one place.
pub fn table() -> Vec<Entry> {
    use Method as M;
    use Target as T;
    const HUB: &str = "jupyterhub.apihandlers.hub";
    let _ = HUB;
    vec![
        entry(M::GET, "/", &[], T::Public, "jupyterhub.apihandlers.hub.RootAPIHandler", get(hub::root)),
        entry(M::GET, "/info", &[Scope::ReadHub], T::Hub, "jupyterhub.apihandlers.hub.InfoAPIHandler", get(hub::info)),
        entry(M::GET, "/user", &[], T::Authenticated, "jupyterhub.apihandlers.users.SelfAPIHandler", get(hub::whoami)),
    ]
}

/// The caller of a route that passed its scope check.
#[derive(Debug, Clone)]
pub struct Authorized {
    /// `None` only on public routes.
    pub identity: Option<Identity>,
}

impl Authorized {
    /// The identity; public routes never call this.
    pub fn identity(&self) -> Result<&Identity, ApiError> {
        self.identity.as_ref().ok_or_else(ApiError::missing_credentials)
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Authorized>().cloned().ok_or_else(|| ApiError::internal("route has no scope check"))
    }
}

fn resource<'a>(target: Target, params: &'a HashMap<String, String>) -> Resource<'a> {
    let name = params.get("name").map(String::as_str).unwrap_or("");
    match target {
        Target::Public | Target::Authenticated | Target::Hub => Resource::None,
        Target::Listing => Resource::Listing,
        Target::User => Resource::User(name),
        Target::Server => {
            Resource::Server { user: name, server: params.get("server_name").map(String::as_str).unwrap_or("") }
        }
        Target::Group => Resource::Group(name),
        Target::Service => Resource::Service(name),
    }
}

/// The scope check every API route passes through.
pub async fn authorize(app: &App, route: &'static ApiRoute, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let caller = match <Caller as axum::extract::FromRequestParts<App>>::from_request_parts(&mut parts, app).await {
        Ok(caller) => caller,
        Err(err) => return err.into_response(),
    };
    if route.target == Target::Public {
        parts.extensions.insert(Authorized { identity: caller.identity });
        return next.run(Request::from_parts(parts, body)).await;
    }
    let Some(identity) = caller.identity else {
        return ApiError::missing_credentials().into_response();
    };
    if route.target != Target::Authenticated {
        let params: HashMap<String, String> =
            match axum::extract::Path::<HashMap<String, String>>::from_request_parts(&mut parts, app).await {
                Ok(axum::extract::Path(params)) => params,
                Err(_) => HashMap::new(),
            };
        let decision = {
            let state = app.hub.read();
            match identity.scopes.authorize(route.scopes, resource(route.target, &params), &*state) {
                Access::Allowed { .. } => None,
                denied => Some(denied.denial_message().unwrap_or_default()),
            }
        };
        if let Some(message) = decision {
            let not_found = message == jhub_core::rbac::NOT_FOUND_MESSAGE;
            let status = if not_found { axum::http::StatusCode::NOT_FOUND } else { axum::http::StatusCode::FORBIDDEN };
            return ApiError::new(status, message).into_response();
        }
    }
    parts.extensions.insert(Authorized { identity: Some(identity) });
    next.run(Request::from_parts(parts, body)).await
}

use axum::extract::FromRequestParts as _;

/// Builds the API router (paths relative to `/hub/api`).
pub fn router(app: &App) -> Router<App> {
    let mut router = Router::new();
    for Entry { route, handler } in table() {
        let route: &'static ApiRoute = Box::leak(Box::new(route));
        let filter = match MethodFilter::try_from(route.method.clone()) {
            Ok(filter) => filter,
            Err(_) => continue,
        };
        let _ = filter;
        let checked = handler.route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            move |State(app): State<App>, request: Request, next: Next| async move {
                authorize(&app, route, request, next).await
            },
        ));
        router = router.route(route.path, checked);
    }
    router.fallback(|| async { ApiError::bare(axum::http::StatusCode::NOT_FOUND) })
}
