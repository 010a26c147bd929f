//! HTTP front end of the hub: `/hub/api` (JupyterHub's REST API), the OAuth
//! provider single-user servers log in through, the hub's pages, cookies and
//! XSRF.
//!
//! Owns: routing, authentication of requests ([`auth`]), the API route/scope
//! table ([`api::table`]), JSON models ([`models`]), templates, HTTP status
//! codes (only this crate knows them).
//!
//! Must not touch: Kubernetes, CHP or SQL directly — everything goes through
//! [`jhub_hub::Hub`] and the [`jhub_auth::Authenticator`].

pub mod api;
pub mod app;
pub mod auth;
pub mod cookies;
pub mod edge;
pub mod error;
pub mod jupyterhub_cookie;
pub mod middleware;
pub mod models;
pub mod pages;
pub mod templates;
pub mod throttle;

pub use app::{App, WebSettings};
pub use edge::EdgeLimits;
pub use templates::Templates;

use axum::Router;
use std::future::Future;

/// The whole hub router.
pub fn router(app: App) -> Router {
    let base = app.settings.layout.base_url().to_string();
    let api_prefix = format!("{base}hub/api");
    let api = api::router(&app);
    Router::new()
        .route(
            &format!("{api_prefix}/"),
            pages::labelled("jupyterhub.apihandlers.hub.RootAPIHandler", axum::routing::get(api::hub::root)),
        )
        .merge(pages::oauth_provider_router(&app))
        .nest(&api_prefix, api)
        .merge(pages::router(&app))
        .fallback(pages::outside_hub)
        .layer(axum::middleware::from_fn_with_state(app.clone(), middleware::hub_headers))
        .with_state(app)
}

/// Serves until `shutdown` resolves, then finishes in-flight requests,
/// with the default [`EdgeLimits`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_limits(listener, app, EdgeLimits::default(), shutdown).await
}

/// Serves until `shutdown` resolves, within the given edge limits.
pub async fn serve_with_limits(
    listener: tokio::net::TcpListener,
    app: App,
    limits: EdgeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    edge::serve(listener, router(app), limits, shutdown).await
}
