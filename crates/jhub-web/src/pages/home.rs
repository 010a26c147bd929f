//! `/hub/` (RootHandler), `/hub/home` (the user's servers, with start/stop
//! buttons that call the REST API like JupyterHub's JS) and `/hub/token`
//! (API tokens and authorized applications; creation and revocation go
//! through `POST/DELETE /hub/api/users/{name}/tokens`).

use super::session::Browser;
use super::{
    PageUser, base_context, default_next, error_page, extend_jhdata, found, query_param, redirect_to_login, render,
    safe_next, sv, url_concat,
};
use crate::app::App;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use jhub_core::Timestamp;
use jhub_core::model::ApiToken;
use jhub_core::names::escape_path;
use jhub_core::spawn::Phase;
use minijinja::Value;
use serde::Serialize;

/// `GET /hub/`: `default_url`, else the logged-in user's next URL, else login.
pub async fn root(State(app): State<App>, browser: Browser, parts: Parts) -> Response {
    let Some(user) = browser.user().map(str::to_string) else {
        if let Some(url) = app.settings.default_url.as_ref().filter(|u| !u.is_empty()) {
            return browser.respond(found(url));
        }
        let hub = super::hub_prefix(&app);
        return browser.respond(found(&url_concat(&format!("{hub}login"), &[("next", &hub)])));
    };
    let next = safe_next(&app, &parts.headers, query_param(&parts.uri, "next").as_deref());
    let target = next.unwrap_or_else(|| default_next(&app, &user, &parts.uri));
    browser.respond(found(&target))
}

/// A server as the home page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ServerView {
    /// `""` for the default server.
    pub name: String,
    pub display_name: String,
    /// `running`, `starting`, `stopping` or `stopped`.
    pub status: &'static str,
    pub ready: bool,
    pub active: bool,
    /// The server's URL prefix (`/user/alice/gpu/`).
    pub url: String,
    pub spawn_url: String,
    pub pending_url: String,
    /// REST API path of the server (start = POST, stop = DELETE).
    pub api_url: String,
    pub last_activity: Option<String>,
    pub last_failure: Option<String>,
}

fn iso(ts: Option<Timestamp>) -> Option<String> {
    ts.map(jhub_core::time::isoformat)
}

/// The servers of `user` (default first, then named by name).
pub(crate) fn server_views(app: &App, user: &str) -> Vec<ServerView> {
    let hub = super::hub_prefix(app);
    let api = app.settings.layout.api_prefix();
    let escaped = escape_path(user);
    let state = app.hub.read();
    let Some(entry) = state.user(user) else { return Vec::new() };
    let mut views = Vec::new();
    let default_missing = !entry.servers.contains_key("");
    let mut names: Vec<&String> = entry.servers.keys().collect();
    names.sort();
    let view = |name: &str| {
        let slot = entry.servers.get(name);
        let phase = slot.map(|s| s.phase.clone()).unwrap_or(Phase::Stopped);
        let status = match phase {
            Phase::Running => "running",
            Phase::Spawning(_) => "starting",
            Phase::Stopping => "stopping",
            Phase::Stopped => "stopped",
        };
        let suffix = if name.is_empty() { String::new() } else { format!("/{}", escape_path(name)) };
        ServerView {
            name: name.to_string(),
            display_name: slot
                .map(|s| s.server.display_name.clone())
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| name.to_string()),
            status,
            ready: phase == Phase::Running,
            active: phase != Phase::Stopped,
            url: app.settings.layout.server_url(user, name),
            spawn_url: format!("{hub}spawn/{escaped}{suffix}"),
            pending_url: format!("{hub}spawn-pending/{escaped}{suffix}"),
            api_url: if name.is_empty() {
                format!("{api}/users/{escaped}/server")
            } else {
                format!("{api}/users/{escaped}/servers/{}", escape_path(name))
            },
            last_activity: iso(slot.and_then(|s| s.server.last_activity)),
            last_failure: slot.and_then(|s| s.last_failure.as_ref()).map(|f| f.message.clone()),
        }
    };
    if default_missing {
        views.push(view(""));
    }
    for name in names {
        views.push(view(name));
    }
    views
}

/// `GET /hub/home`.
pub async fn home(State(app): State<App>, browser: Browser, parts: Parts) -> Response {
    let Some(name) = browser.user().map(str::to_string) else {
        return browser.respond(redirect_to_login(&app, &parts.uri));
    };
    let Some(user) = PageUser::load(&app, &name) else {
        return browser.respond(redirect_to_login(&app, &parts.uri));
    };
    let views = server_views(&app, &name);
    let default_server = views.iter().find(|v| v.name.is_empty()).cloned();
    let named: Vec<ServerView> = views.into_iter().filter(|v| !v.name.is_empty()).collect();
    let settings = app.hub.settings();
    let mut ctx = base_context(&app, Some(&user), Some(&browser.xsrf));
    ctx.insert("page".into(), Value::from("home"));
    ctx.insert("default_server".into(), sv(&default_server));
    ctx.insert("named_servers".into(), sv(&named));
    ctx.insert("allow_named_servers".into(), Value::from(settings.allow_named_servers));
    ctx.insert("named_server_limit_per_user".into(), Value::from(settings.named_server_limit_per_user));
    ctx.insert("url".into(), Value::from(user.url.clone()));
    ctx.insert("spawner_url".into(), Value::from(format!("{}spawn/{}", super::hub_prefix(&app), user.escaped_name)));
    // The user's own month of usage (issue 15).
    let month = super::usage::month_of(&app, &name).map(|r| super::usage::TableRow::from(&r));
    ctx.insert("usage_month".into(), sv(&month));
    extend_jhdata(
        &mut ctx,
        serde_json::json!({
            "api_url": app.settings.layout.api_prefix(),
            "spawn_url": format!("{}spawn/{}/", super::hub_prefix(&app), user.escaped_name),
        }),
    );
    let response = render(&app, StatusCode::OK, "home.html", ctx);
    browser.respond(response)
}

/// One API token on the token page.
#[derive(Debug, Clone, Serialize)]
struct TokenView {
    id: String,
    note: Option<String>,
    scopes: Vec<String>,
    created: String,
    last_activity: Option<String>,
    expires_at: Option<String>,
    session_bound: bool,
}

/// One authorized application (OAuth client) on the token page.
#[derive(Debug, Clone, Serialize)]
struct ClientView {
    client_id: String,
    description: String,
    /// The newest token of the client (revoking it revokes them all).
    token_id: String,
    scopes: Vec<String>,
    created: String,
    last_activity: Option<String>,
    count: usize,
}

/// Token lifetimes the page offers (JupyterHub's list), capped by
/// `token_expires_in_max_seconds`.
fn expiry_choices(max: Option<u64>) -> Vec<(String, &'static str)> {
    let all: [(u64, &str); 6] = [
        (3600, "1 Hour"),
        (86_400, "1 Day"),
        (7 * 86_400, "1 Week"),
        (30 * 86_400, "30 Days"),
        (365 * 86_400, "1 Year"),
        (0, "Never"),
    ];
    all.iter()
        .filter(|(secs, _)| match max {
            Some(max) => *secs != 0 && *secs <= max,
            None => true,
        })
        .map(|(secs, label)| (if *secs == 0 { String::new() } else { secs.to_string() }, *label))
        .collect()
}

/// `GET /hub/token`.
pub async fn token_page(State(app): State<App>, browser: Browser, parts: Parts) -> Response {
    let Some(name) = browser.user().map(str::to_string) else {
        return browser.respond(redirect_to_login(&app, &parts.uri));
    };
    let Some(user) = PageUser::load(&app, &name) else {
        return browser.respond(redirect_to_login(&app, &parts.uri));
    };
    let tokens = match app.hub.list_tokens(&name).await {
        Ok(tokens) => tokens,
        Err(err) => {
            tracing::error!(user = %name, error = %err, "cannot list tokens");
            return browser.respond(error_page(&app, StatusCode::INTERNAL_SERVER_ERROR, None));
        }
    };
    let (api, oauth): (Vec<ApiToken>, Vec<ApiToken>) =
        tokens.into_iter().partition(|t| t.client_id == ApiToken::HUB_CLIENT);
    let mut api_tokens: Vec<TokenView> = api
        .iter()
        // The server's own token is not the user's to manage here.
        .filter(|t| !t.note.as_deref().is_some_and(|n| n.starts_with("Server at ")))
        .map(|t| TokenView {
            id: format!("a{}", t.id),
            note: t.note.clone(),
            scopes: t.scopes.clone(),
            created: jhub_core::time::isoformat(t.created),
            last_activity: iso(t.last_activity),
            expires_at: iso(t.expires_at),
            session_bound: t.session_id.is_some(),
        })
        .collect();
    api_tokens.sort_by(|a, b| b.created.cmp(&a.created));
    let mut clients: Vec<ClientView> = Vec::new();
    for token in &oauth {
        // A server's own API token belongs to its client too; it is not an
        // authorization the user gave.
        if token.note.as_deref().is_some_and(|n| n.starts_with("Server at ")) {
            continue;
        }
        let created = jhub_core::time::isoformat(token.created);
        match clients.iter_mut().find(|c| c.client_id == token.client_id) {
            Some(view) => {
                view.count += 1;
                if created > view.created {
                    view.created = created;
                    view.token_id = format!("a{}", token.id);
                }
                let last = iso(token.last_activity);
                if last > view.last_activity {
                    view.last_activity = last;
                }
                for scope in &token.scopes {
                    if !view.scopes.contains(scope) {
                        view.scopes.push(scope.clone());
                    }
                }
            }
            None => clients.push(ClientView {
                client_id: token.client_id.clone(),
                description: app
                    .hub
                    .oauth_client(&token.client_id)
                    .map(|c| c.description)
                    .unwrap_or_else(|| token.client_id.clone()),
                token_id: format!("a{}", token.id),
                scopes: token.scopes.clone(),
                created,
                last_activity: iso(token.last_activity),
                count: 1,
            }),
        }
    }
    let max = app.hub.settings().token_expires_in_max.map(|d| d.as_secs());
    let mut ctx = base_context(&app, Some(&user), Some(&browser.xsrf));
    ctx.insert("page".into(), Value::from("token"));
    ctx.insert("api_tokens".into(), sv(&api_tokens));
    ctx.insert("oauth_clients".into(), sv(&clients));
    ctx.insert("token_expires_in_options".into(), sv(expiry_choices(max)));
    ctx.insert("token_expires_in_max_seconds".into(), Value::from(max));
    extend_jhdata(
        &mut ctx,
        serde_json::json!({
            "api_url": app.settings.layout.api_prefix(),
            "tokens_url": format!("{}/users/{}/tokens", app.settings.layout.api_prefix(), user.escaped_name),
        }),
    );
    let response = render(&app, StatusCode::OK, "token.html", ctx);
    browser.respond(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_choices_respect_the_maximum() {
        let all = expiry_choices(None);
        assert_eq!(all.len(), 6);
        assert_eq!(all.last().map(|c| c.0.as_str()), Some(""), "never is offered without a max");
        let capped = expiry_choices(Some(7 * 86_400));
        assert_eq!(capped.iter().map(|c| c.1).collect::<Vec<_>>(), vec!["1 Hour", "1 Day", "1 Week"]);
    }
}
