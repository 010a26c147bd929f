//! `/hub/api`: JupyterHub's REST API.
//!
//! Every route is declared once in [`table`] together with the scopes that
//! allow it and the resource its path names. The router is built from that
//! table, and each route is wrapped in the check ([`authorize`]) before its
//! handler runs, so no route can be reached without its scope (a test walks
//! the table to prove it). Handlers receive the caller as [`Authorized`].

pub mod body;
pub mod capacity;
pub mod common;
pub mod details;
pub mod groups;
pub mod hub;
pub mod proxy;
pub mod query;
pub mod servers;
pub mod services;
pub mod shares;
pub mod storage;
pub mod tokens;
pub mod usage;
pub mod users;

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
    use Scope as S;
    use Target as T;
    use axum::routing::{delete, patch, post, put};
    const READ_USER: &[Scope] =
        &[S::ReadUsers, S::ReadUsersName, S::ReadServers, S::ReadUsersGroups, S::ReadUsersActivity, S::ReadRolesUsers];
    const READ_GROUP: &[Scope] = &[S::ReadGroups, S::ReadGroupsName, S::ReadRolesGroups];
    const READ_SERVICE: &[Scope] = &[S::ReadServices, S::ReadServicesName, S::ReadRolesServices];
    let server_routes = |path: &'static str| {
        const H: &str = "jupyterhub.apihandlers.users.UserServerAPIHandler";
        vec![
            entry(M::GET, path, &[S::ReadServers], T::Server, H, get(servers::get)),
            entry(M::PUT, path, &[S::StartServers], T::Server, H, put(servers::put)),
            entry(M::POST, path, &[S::StartServers], T::Server, H, post(servers::post)),
            entry(M::PATCH, path, &[S::StartServers], T::Server, H, patch(servers::patch)),
            entry(M::DELETE, path, &[S::DeleteServers], T::Server, H, delete(servers::delete)),
        ]
    };
    const SHARES_SERVER: &str = "jupyterhub.apihandlers.shares.ServerShareAPIHandler";
    const SHARE_CODES: &str = "jupyterhub.apihandlers.shares.ServerShareCodeAPIHandler";
    const USER_SHARES: &str = "jupyterhub.apihandlers.shares.UserShareAPIHandler";
    const GROUP_SHARES: &str = "jupyterhub.apihandlers.shares.GroupShareAPIHandler";
    let mut table = vec![
        entry(M::GET, "/", &[], T::Public, "jupyterhub.apihandlers.hub.RootAPIHandler", get(hub::root)),
        entry(M::GET, "/info", &[S::ReadHub], T::Hub, "jupyterhub.apihandlers.hub.InfoAPIHandler", get(hub::info)),
        entry(
            M::POST,
            "/shutdown",
            &[S::Shutdown],
            T::Hub,
            "jupyterhub.apihandlers.hub.ShutdownAPIHandler",
            post(hub::shutdown),
        ),
        entry(M::GET, "/health", &[], T::Public, "jupyterhub.handlers.pages.HealthCheckHandler", get(hub::health)),
        // `read:metrics` unless `authenticate_prometheus` is off: checked by the handler.
        entry(
            M::GET,
            "/metrics",
            &[S::ReadMetrics],
            T::Public,
            "jupyterhub.handlers.metrics.MetricsHandler",
            get(hub::metrics),
        ),
        entry(M::GET, "/user", &[], T::Authenticated, "jupyterhub.apihandlers.users.SelfAPIHandler", get(hub::whoami)),
        // users
        entry(
            M::GET,
            "/users",
            &[S::ListUsers],
            T::Listing,
            "jupyterhub.apihandlers.users.UserListAPIHandler",
            get(users::list),
        ),
        entry(
            M::POST,
            "/users",
            &[S::AdminUsers],
            T::Hub,
            "jupyterhub.apihandlers.users.UserListAPIHandler",
            post(users::create_many),
        ),
        entry(
            M::GET,
            "/users/{name}",
            READ_USER,
            T::User,
            "jupyterhub.apihandlers.users.UserAPIHandler",
            get(users::get),
        ),
        entry(
            M::POST,
            "/users/{name}",
            &[S::AdminUsers],
            T::User,
            "jupyterhub.apihandlers.users.UserAPIHandler",
            post(users::create_one),
        ),
        entry(
            M::PATCH,
            "/users/{name}",
            &[S::AdminUsers],
            T::User,
            "jupyterhub.apihandlers.users.UserAPIHandler",
            patch(users::patch),
        ),
        entry(
            M::DELETE,
            "/users/{name}",
            &[S::DeleteUsers],
            T::User,
            "jupyterhub.apihandlers.users.UserAPIHandler",
            delete(users::delete),
        ),
        entry(
            M::POST,
            "/users/{name}/activity",
            &[S::UsersActivity],
            T::User,
            "jupyterhub.apihandlers.users.ActivityAPIHandler",
            post(users::activity),
        ),
        entry(
            M::POST,
            "/users/{name}/admin-access",
            &[S::Servers],
            T::User,
            "jupyterhub.apihandlers.users.UserAdminAccessAPIHandler",
            post(users::admin_access),
        ),
        entry(
            M::GET,
            "/users/{name}/server/progress",
            &[S::ReadServers],
            T::Server,
            "jupyterhub.apihandlers.users.SpawnProgressAPIHandler",
            get(servers::progress),
        ),
        entry(
            M::GET,
            "/users/{name}/servers/{server_name}/progress",
            &[S::ReadServers],
            T::Server,
            "jupyterhub.apihandlers.users.SpawnProgressAPIHandler",
            get(servers::progress),
        ),
        // tokens
        entry(
            M::GET,
            "/users/{name}/tokens",
            &[S::ReadTokens],
            T::User,
            "jupyterhub.apihandlers.users.UserTokenListAPIHandler",
            get(tokens::list),
        ),
        // `tokens` on the target is checked by the handler: an anonymous
        // request may authenticate with `auth` in the body.
        entry(
            M::POST,
            "/users/{name}/tokens",
            &[S::Tokens],
            T::Public,
            "jupyterhub.apihandlers.users.UserTokenListAPIHandler",
            post(tokens::create),
        ),
        entry(
            M::GET,
            "/users/{name}/tokens/{token_id}",
            &[S::ReadTokens],
            T::User,
            "jupyterhub.apihandlers.users.UserTokenAPIHandler",
            get(tokens::get),
        ),
        entry(
            M::DELETE,
            "/users/{name}/tokens/{token_id}",
            &[S::Tokens],
            T::User,
            "jupyterhub.apihandlers.users.UserTokenAPIHandler",
            delete(tokens::delete),
        ),
        // groups
        entry(
            M::GET,
            "/groups",
            &[S::ListGroups],
            T::Listing,
            "jupyterhub.apihandlers.groups.GroupListAPIHandler",
            get(groups::list),
        ),
        entry(
            M::POST,
            "/groups",
            &[S::AdminGroups],
            T::Hub,
            "jupyterhub.apihandlers.groups.GroupListAPIHandler",
            post(groups::create_many),
        ),
        entry(
            M::GET,
            "/groups/{name}",
            READ_GROUP,
            T::Group,
            "jupyterhub.apihandlers.groups.GroupAPIHandler",
            get(groups::get),
        ),
        entry(
            M::POST,
            "/groups/{name}",
            &[S::AdminGroups],
            T::Group,
            "jupyterhub.apihandlers.groups.GroupAPIHandler",
            post(groups::create_one),
        ),
        entry(
            M::DELETE,
            "/groups/{name}",
            &[S::DeleteGroups],
            T::Group,
            "jupyterhub.apihandlers.groups.GroupAPIHandler",
            delete(groups::delete),
        ),
        entry(
            M::POST,
            "/groups/{name}/users",
            &[S::Groups],
            T::Group,
            "jupyterhub.apihandlers.groups.GroupUsersAPIHandler",
            post(groups::add_users),
        ),
        entry(
            M::DELETE,
            "/groups/{name}/users",
            &[S::Groups],
            T::Group,
            "jupyterhub.apihandlers.groups.GroupUsersAPIHandler",
            delete(groups::remove_users),
        ),
        entry(
            M::PUT,
            "/groups/{name}/properties",
            &[S::Groups],
            T::Group,
            "jupyterhub.apihandlers.groups.GroupPropertiesAPIHandler",
            put(groups::set_properties),
        ),
        // services
        entry(
            M::GET,
            "/services",
            &[S::ListServices],
            T::Listing,
            "jupyterhub.apihandlers.services.ServiceListAPIHandler",
            get(services::list),
        ),
        entry(
            M::GET,
            "/services/{name}",
            READ_SERVICE,
            T::Service,
            "jupyterhub.apihandlers.services.ServiceAPIHandler",
            get(services::get),
        ),
        entry(
            M::POST,
            "/services/{name}",
            &[S::AdminServices],
            T::Service,
            "jupyterhub.apihandlers.services.ServiceAPIHandler",
            post(services::create),
        ),
        entry(
            M::DELETE,
            "/services/{name}",
            &[S::AdminServices],
            T::Service,
            "jupyterhub.apihandlers.services.ServiceAPIHandler",
            delete(services::delete),
        ),
        // proxy
        entry(M::GET, "/proxy", &[S::Proxy], T::Hub, "jupyterhub.apihandlers.proxy.ProxyAPIHandler", get(proxy::get)),
        entry(
            M::POST,
            "/proxy",
            &[S::Proxy],
            T::Hub,
            "jupyterhub.apihandlers.proxy.ProxyAPIHandler",
            post(proxy::post),
        ),
        entry(
            M::PATCH,
            "/proxy",
            &[S::Proxy],
            T::Hub,
            "jupyterhub.apihandlers.proxy.ProxyAPIHandler",
            patch(proxy::patch),
        ),
        // deprecated identity lookups (token-authenticated callers; checked by the handlers)
        entry(
            M::GET,
            "/authorizations/token/{token}",
            &[],
            T::Authenticated,
            "jupyterhub.apihandlers.auth.TokenAPIHandler",
            get(hub::token_owner),
        ),
        entry(
            M::POST,
            "/authorizations/token",
            &[],
            T::Public,
            "jupyterhub.apihandlers.auth.TokenAPIHandler",
            post(hub::token_post_removed),
        ),
        entry(
            M::GET,
            "/authorizations/cookie/{cookie_name}/{cookie_value}",
            &[],
            T::Authenticated,
            "jupyterhub.apihandlers.auth.CookieAPIHandler",
            get(hub::cookie_owner),
        ),
        // sharing: scope-checked, then 404 (not supported yet)
        entry(
            M::GET,
            "/shares/{name}",
            &[S::ReadShares],
            T::User,
            "jupyterhub.apihandlers.shares.UserShareListAPIHandler",
            get(shares::not_supported),
        ),
        entry(
            M::GET,
            "/shares/{name}/{server_name}",
            &[S::ReadShares],
            T::Server,
            SHARES_SERVER,
            get(shares::not_supported),
        ),
        entry(
            M::POST,
            "/shares/{name}/{server_name}",
            &[S::Shares],
            T::Server,
            SHARES_SERVER,
            post(shares::not_supported),
        ),
        entry(
            M::PATCH,
            "/shares/{name}/{server_name}",
            &[S::Shares],
            T::Server,
            SHARES_SERVER,
            patch(shares::not_supported),
        ),
        entry(
            M::DELETE,
            "/shares/{name}/{server_name}",
            &[S::Shares],
            T::Server,
            SHARES_SERVER,
            delete(shares::not_supported),
        ),
        entry(M::GET, "/share-codes/{name}", &[S::ReadShares], T::User, SHARE_CODES, get(shares::not_supported)),
        entry(
            M::GET,
            "/share-codes/{name}/{server_name}",
            &[S::ReadShares],
            T::Server,
            SHARE_CODES,
            get(shares::not_supported),
        ),
        entry(
            M::POST,
            "/share-codes/{name}/{server_name}",
            &[S::Shares],
            T::Server,
            SHARE_CODES,
            post(shares::not_supported),
        ),
        entry(
            M::DELETE,
            "/share-codes/{name}/{server_name}",
            &[S::Shares],
            T::Server,
            SHARE_CODES,
            delete(shares::not_supported),
        ),
        entry(
            M::GET,
            "/users/{name}/shared",
            &[S::ReadUsersShares],
            T::User,
            "jupyterhub.apihandlers.shares.UserShareListAPIHandler",
            get(shares::not_supported),
        ),
        entry(
            M::GET,
            "/users/{name}/shared/{owner}/{server_name}",
            &[S::ReadUsersShares],
            T::User,
            USER_SHARES,
            get(shares::not_supported),
        ),
        entry(
            M::DELETE,
            "/users/{name}/shared/{owner}/{server_name}",
            &[S::UsersShares],
            T::User,
            USER_SHARES,
            delete(shares::not_supported),
        ),
        entry(
            M::GET,
            "/groups/{name}/shared",
            &[S::ReadGroupsShares],
            T::Group,
            "jupyterhub.apihandlers.shares.GroupShareListAPIHandler",
            get(shares::not_supported),
        ),
        entry(
            M::GET,
            "/groups/{name}/shared/{owner}/{server_name}",
            &[S::ReadGroupsShares],
            T::Group,
            GROUP_SHARES,
            get(shares::not_supported),
        ),
        entry(
            M::DELETE,
            "/groups/{name}/shared/{owner}/{server_name}",
            &[S::GroupsShares],
            T::Group,
            GROUP_SHARES,
            delete(shares::not_supported),
        ),
    ];
    // The default server is the empty name: `/server`, and `/servers/` as the admin UI writes it.
    table.extend(server_routes("/users/{name}/server"));
    table.extend(server_routes("/users/{name}/servers/"));
    table.extend(server_routes("/users/{name}/servers/{server_name}"));
    // Operator console (issue 15): jhub's own endpoints.
    table.push(entry(M::GET, "/usage", &[S::ReadUsage], T::Hub, usage::HANDLER, get(usage::usage)));
    // Live GPU capacity (issue 16): any signed-in caller, for the profiles it may use.
    table.push(entry(M::GET, "/jhub/capacity", &[], T::Authenticated, capacity::HANDLER, get(capacity::capacity)));
    // Storage (issue 16): jhub's own, admin-level on the user.
    const STORAGE: &[Scope] = &[S::AdminServers];
    const SH: &str = storage::HANDLER;
    table.extend([
        entry(M::GET, "/jhub/users/{name}/storage", STORAGE, T::User, SH, get(storage::get)),
        entry(M::POST, "/jhub/users/{name}/storage/resize", STORAGE, T::User, SH, post(storage::resize)),
        entry(M::POST, "/jhub/users/{name}/storage/snapshots", STORAGE, T::User, SH, post(storage::snapshot)),
        entry(M::POST, "/jhub/users/{name}/storage/restore", STORAGE, T::User, SH, post(storage::restore)),
        entry(M::GET, "/jhub/users/{name}/storage/export", STORAGE, T::User, SH, get(storage::export)),
    ]);
    // The admin page's server details (profile, GPUs, node, spawn events).
    for path in ["/jhub/users/{name}/server/details", "/jhub/users/{name}/servers/{server_name}/details"] {
        table.push(entry(M::GET, path, &[S::ReadServers], T::Server, details::HANDLER, get(details::details)));
    }
    table
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

/// The scope check every API route passes through; the response carries
/// the route's handler label for the request metrics.
pub async fn authorize(app: &App, route: &'static ApiRoute, request: Request, next: Next) -> Response {
    let mut response = check_then_run(app, route, request, next).await;
    response.extensions_mut().insert(crate::middleware::HandlerLabel(route.handler));
    response
}

async fn check_then_run(app: &App, route: &'static ApiRoute, request: Request, next: Next) -> Response {
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
    router
        .fallback(|| async {
            let mut response = ApiError::bare(axum::http::StatusCode::NOT_FOUND).into_response();
            response.extensions_mut().insert(crate::middleware::HandlerLabel("jupyterhub.apihandlers.base.API404"));
            response
        })
        .layer(axum::middleware::from_fn(options_ok))
        // A bug must cost one request a JSON 500, not the connection.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| {
            tracing::error!("API handler panicked");
            ApiError::internal("Internal Server Error").into_response()
        }))
}

/// JupyterHub answers `OPTIONS` on any API path with 200 and no body
/// (`APIHandler.options`), without credentials.
async fn options_ok(request: Request, next: Next) -> Response {
    if request.method() == Method::OPTIONS {
        return axum::http::StatusCode::OK.into_response();
    }
    next.run(request).await
}
