//! `/hub/admin`: the admin page, for holders of `admin-ui` (admins have it).
//!
//! The page is a shell, as JupyterHub 5's React admin: `admin.js` reads and
//! changes everything through `/hub/api` with the browser's own cookie and
//! the `_xsrf` token, so the API's scope checks decide each action. What
//! the page itself decides is only which buttons to show (`jhdata.may`),
//! from the same scopes; hiding a button is a courtesy, never the check.

use super::{PageUser, base_context, error_page_for, extend_jhdata, redirect_to_login, render};
use crate::app::App;
use crate::pages::Browser;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use jhub_core::rbac::{ExpandedScopes, Grant, Resource, Scope};
use minijinja::Value;

/// Whether the logged-in user may open the admin page.
pub fn may_use_admin(app: &App, user: &str) -> bool {
    let Some(id) = app.hub.read().user(user).map(|e| e.user.id) else { return false };
    let Some(scopes) = app.hub.user_scopes(id) else { return false };
    let state = app.hub.read();
    scopes.allows(Scope::AdminUi, Resource::None, &*state)
}

/// Whether a grant reaches beyond the viewer's own account (every user has
/// `self`, so "holds the scope at all" would offer every button to everyone).
fn beyond_self(grant: Option<&Grant>, me: &str) -> bool {
    match grant {
        None => false,
        Some(Grant::All) => true,
        Some(Grant::Only(filters)) => {
            filters.users().any(|u| u != me)
                || filters.servers().any(|(u, _)| u != me)
                || filters.groups().next().is_some()
        }
    }
}

/// What the page offers the viewer: a scope granted beyond the viewer's own
/// account counts. This only hides buttons; the API checks each action.
fn capabilities(scopes: &ExpandedScopes, me: &str) -> serde_json::Value {
    let may = |scope: Scope| beyond_self(scopes.grant(scope), me);
    serde_json::json!({
        "list_users": may(Scope::ListUsers),
        "admin_users": may(Scope::AdminUsers),
        "delete_users": may(Scope::DeleteUsers),
        "start_servers": may(Scope::StartServers),
        "stop_servers": may(Scope::DeleteServers),
        "access_servers": may(Scope::AccessServers),
        "read_servers": may(Scope::ReadServers),
        "list_groups": may(Scope::ListGroups),
        "admin_groups": may(Scope::AdminGroups),
        "groups": may(Scope::Groups),
        "delete_groups": may(Scope::DeleteGroups),
    })
}

/// `GET /hub/admin`.
pub async fn admin_page(State(app): State<App>, browser: Browser, parts: Parts) -> Response {
    let Some(name) = browser.user().map(str::to_string) else {
        return browser.respond(redirect_to_login(&app, &parts.uri));
    };
    let Some(user) = PageUser::load(&app, &name) else {
        return browser.respond(redirect_to_login(&app, &parts.uri));
    };
    let Some(scopes) = browser.login.as_ref().map(|l| l.identity.scopes.clone()) else {
        return browser.respond(redirect_to_login(&app, &parts.uri));
    };
    let allowed = {
        let state = app.hub.read();
        scopes.allows(Scope::AdminUi, Resource::None, &*state)
    };
    if !allowed {
        let message = "The admin page needs the admin-ui permission.".to_string();
        return browser.respond(error_page_for(&app, Some(&user), StatusCode::FORBIDDEN, Some(message)));
    }
    let mut ctx = base_context(&app, Some(&user), Some(&browser.xsrf));
    ctx.insert("page".into(), Value::from("admin"));
    ctx.insert("allow_named_servers".into(), Value::from(app.hub.settings().allow_named_servers));
    let may = capabilities(&scopes, &name);
    extend_jhdata(
        &mut ctx,
        serde_json::json!({
            "api_url": app.settings.layout.api_prefix(),
            "allow_named_servers": app.hub.settings().allow_named_servers,
            "page_limit": app.settings.api_page_default_limit,
            "may": may,
        }),
    );
    let response = render(&app, StatusCode::OK, "admin.html", ctx);
    browser.respond(response)
}
