//! The HTTP face of the simulator: GitLab's OAuth endpoints and the REST
//! calls a hub makes, the request-log/fault middleware, the `/_sim/` control
//! API, and the [`GitLabSim`] handle tests drive.

use crate::config::{ConfigError, SimConfig, UserState};
use crate::pages::{AuthorizePage, authorize_page, error_page};
use crate::state::{
    CODE_LIFETIME_SECONDS, CodeGrant, Endpoint, Fault, IssuedTokens, LoggedRequest, Membership, UserRec, World,
    random_token, redact_pairs,
};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jhub_core::ports::Clock;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;

const INVALID_CLIENT: &str = "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.";
const INVALID_GRANT: &str = "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.";
const INVALID_REQUEST: &str =
    "The request is missing a required parameter, includes an unsupported parameter value, or is otherwise malformed.";
const INVALID_REDIRECT: &str = "The redirect URI included is not valid.";
const ACCESS_DENIED: &str = "The resource owner or authorization server denied the request.";
const INVALID_SCOPE: &str = "The requested scope is invalid, unknown, or malformed.";
const UNSUPPORTED_RESPONSE_TYPE: &str = "The authorization server does not support this response type.";
const UNSUPPORTED_GRANT: &str = "The authorization grant type is not supported by the authorization server.";
const INSUFFICIENT_SCOPE: &str = "The request requires higher privileges than provided by the access token.";
/// An early answer; boxed because a `Response` is large.
type Rejection = Box<Response>;

const MAX_BODY: usize = 64 * 1024;
const MAX_LOG: usize = 10_000;

/// A running-or-not simulator; cheap to clone, all clones share one world.
#[derive(Clone)]
pub struct GitLabSim {
    inner: Arc<Inner>,
}

struct Inner {
    world: Mutex<World>,
    log: Mutex<VecDeque<LoggedRequest>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for GitLabSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitLabSim").finish_non_exhaustive()
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

impl GitLabSim {
    /// Validates the configuration and builds the world; time comes from `clock`
    /// (token expiry, `created_at`).
    pub fn new(config: SimConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        config.validate()?;
        let world = World::new(&config);
        Ok(Self { inner: Arc::new(Inner { world: Mutex::new(world), log: Mutex::new(VecDeque::new()), clock }) })
    }

    /// Binds `127.0.0.1:0` and serves in a background task until the
    /// returned [`RunningSim`] is dropped.
    pub async fn start(config: SimConfig, clock: Arc<dyn Clock>) -> Result<RunningSim, SimError> {
        let sim = Self::new(config, clock)?;
        let addr = "127.0.0.1:0";
        let listener =
            TcpListener::bind(addr).await.map_err(|source| SimError::Bind { addr: addr.to_string(), source })?;
        let local = listener.local_addr().map_err(|source| SimError::Bind { addr: addr.to_string(), source })?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = sim.clone();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(err) = serving.serve(listener, shutdown).await {
                tracing::warn!(error = %err, "gitlab simulator stopped with an error");
            }
        });
        Ok(RunningSim { sim, addr: local, stop: Some(stop), task })
    }

    /// Serves on an already bound listener until `shutdown` completes.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router()).with_graceful_shutdown(shutdown).await
    }

    /// The axum router (GitLab endpoints, control API, middleware).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/oauth/authorize", get(authorize_get).post(authorize_post))
            .route("/oauth/token", post(token))
            .route("/api/v4/user", get(current_user))
            .route("/api/v4/version", get(version))
            .route("/api/v4/groups", get(list_groups))
            .route("/api/v4/groups/{id}/members/all/{user_id}", get(group_member_all))
            .route("/api/v4/groups/{id}/members/{user_id}", get(group_member_direct))
            .route("/api/v4/projects/{id}/members/all/{user_id}", get(project_member_all))
            .route("/api/v4/projects/{id}/members/{user_id}", get(project_member_direct))
            .route("/_sim/requests", get(control_requests).delete(control_clear_requests))
            .route("/_sim/faults", post(control_fault))
            .route("/_sim/delays", post(control_delay))
            .route("/_sim/version", put(control_version))
            .route("/_sim/users/{username}/{action}", post(control_user))
            .route("/_sim/groups/{path}/members/{username}", put(control_add_member).delete(control_remove_member))
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(self.clone(), observe))
            .with_state(self.clone())
    }

    fn world(&self) -> MutexGuard<'_, World> {
        // A panic while holding the lock leaves the world usable for a simulator.
        self.inner.world.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn log(&self) -> MutexGuard<'_, VecDeque<LoggedRequest>> {
        self.inner.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn now(&self) -> i64 {
        self.inner.clock.now().as_second()
    }

    /// Makes the next `count` requests to `endpoint` fail with `status`
    /// (500 gets GitLab's JSON body, other codes an nginx-like HTML page).
    pub fn fail_next(&self, endpoint: Endpoint, count: u32, status: u16) {
        let mut world = self.world();
        if count == 0 {
            world.faults.remove(&endpoint);
        } else {
            world.faults.insert(endpoint, Fault { remaining: count, status });
        }
    }

    /// Delays every response of `endpoint` (`None` removes the delay).
    pub fn set_delay(&self, endpoint: Endpoint, delay: Option<Duration>) {
        let mut world = self.world();
        match delay {
            Some(d) if !d.is_zero() => {
                world.delays.insert(endpoint, d);
            }
            _ => {
                world.delays.remove(&endpoint);
            }
        }
    }

    /// Revokes all access and refresh tokens of a user (as when the user
    /// revokes the application); returns how many tokens were revoked.
    pub fn revoke_tokens(&self, username: &str) -> usize {
        let mut world = self.world();
        match world.user_by_name(username).map(|u| u.id) {
            Some(id) => world.revoke_user_tokens(id),
            None => 0,
        }
    }

    /// Blocks a user: existing tokens stop working, sign-in and refresh fail.
    pub fn block_user(&self, username: &str) -> bool {
        self.set_user_state(username, UserState::Blocked)
    }

    pub fn unblock_user(&self, username: &str) -> bool {
        self.set_user_state(username, UserState::Active)
    }

    /// Changes a user's email (GitLab lets users set addresses it has not
    /// verified); what `/api/v4/user` reports from then on.
    pub fn set_email(&self, username: &str, email: &str) -> bool {
        match self.world().user_by_name_mut(username) {
            Some(user) => {
                user.email = email.to_string();
                true
            }
            None => false,
        }
    }

    fn set_user_state(&self, username: &str, state: UserState) -> bool {
        match self.world().user_by_name_mut(username) {
            Some(user) => {
                user.state = state;
                true
            }
            None => false,
        }
    }

    /// Adds (or changes) a direct group membership; false if the group or
    /// user is unknown.
    pub fn add_group_member(&self, group: &str, username: &str, access_level: u32) -> bool {
        let mut world = self.world();
        let Some(user_id) = world.user_by_name(username).map(|u| u.id) else { return false };
        let Some(index) = world.group_index(group) else { return false };
        match world.group_mut(index) {
            Some(g) => {
                g.members.insert(user_id, access_level);
                true
            }
            None => false,
        }
    }

    /// Removes a direct group membership; true if there was one.
    pub fn remove_group_member(&self, group: &str, username: &str) -> bool {
        let mut world = self.world();
        let Some(user_id) = world.user_by_name(username).map(|u| u.id) else { return false };
        let Some(index) = world.group_index(group) else { return false };
        world.group_mut(index).is_some_and(|g| g.members.remove(&user_id).is_some())
    }

    /// Sets (`Some`) or removes (`None`) a direct project membership.
    pub fn set_project_member(&self, project_id: u64, username: &str, access_level: Option<u32>) -> bool {
        let mut world = self.world();
        let Some(user_id) = world.user_by_name(username).map(|u| u.id) else { return false };
        let Some(project) = world.project_mut(project_id) else { return false };
        match access_level {
            Some(level) => {
                project.members.insert(user_id, level);
                true
            }
            None => project.members.remove(&user_id).is_some(),
        }
    }

    /// Changes what `/api/v4/version` reports.
    pub fn set_version(&self, version: &str) {
        self.world().version = version.to_string();
    }

    /// Lifetime of tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.world().token_lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX).max(1);
    }

    /// Every request seen so far (control API calls excluded), oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.log().iter().cloned().collect()
    }

    /// Requests to one endpoint.
    pub fn requests_to(&self, endpoint: Endpoint) -> Vec<LoggedRequest> {
        self.log().iter().filter(|r| r.endpoint == Some(endpoint)).cloned().collect()
    }

    pub fn clear_requests(&self) {
        self.log().clear();
    }

    /// Issues a token pair directly, as if `username` had completed a login
    /// with `client_id` (tests that need a token without a browser flow).
    pub fn issue_tokens_for(&self, username: &str, client_id: &str, scopes: &[&str]) -> Option<(String, String)> {
        let now = self.now();
        let mut world = self.world();
        let user_id = world.user_by_name(username)?.id;
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let issued = world.issue_tokens(user_id, client_id, &scopes, now);
        Some((issued.access_token, issued.refresh_token))
    }
}

/// A simulator serving on loopback; stops when dropped.
pub struct RunningSim {
    sim: GitLabSim,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningSim {
    /// `http://127.0.0.1:PORT` (no trailing slash), the `gitlab_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn sim(&self) -> &GitLabSim {
        &self.sim
    }

    /// Stops serving and waits for in-flight requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl std::ops::Deref for RunningSim {
    type Target = GitLabSim;
    fn deref(&self) -> &GitLabSim {
        &self.sim
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

// ---------------------------------------------------------------- middleware

fn parse_pairs(raw: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Logs the request (secrets redacted), then applies delays and faults.
async fn observe(State(sim): State<GitLabSim>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if path.starts_with("/_sim/") {
        return next.run(request).await;
    }
    let endpoint = Endpoint::classify(&path);
    let method = request.method().to_string();
    let query = request.uri().query().map(|q| parse_pairs(q.as_bytes())).unwrap_or_default();
    let headers = request.headers();
    let authorization = header_text(headers, header::AUTHORIZATION)
        .map(|value| format!("{} [redacted]", value.split_whitespace().next().unwrap_or_default()));
    let user_agent = header_text(headers, header::USER_AGENT);
    let accept = header_text(headers, header::ACCEPT);
    let is_form = header_text(headers, header::CONTENT_TYPE)
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
    };
    let form = if is_form { parse_pairs(&bytes) } else { Vec::new() };
    let request = Request::from_parts(parts, Body::from(bytes));

    let (delay, fault) = match endpoint {
        Some(endpoint) => {
            let mut world = sim.world();
            (world.delays.get(&endpoint).copied(), world.take_fault(endpoint))
        }
        None => (None, None),
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let response = match fault {
        Some(status) => fault_response(status),
        None => next.run(request).await,
    };
    let entry = LoggedRequest {
        method,
        path,
        query: redact_pairs(query),
        form: redact_pairs(form),
        authorization,
        user_agent,
        accept,
        endpoint,
        status: response.status().as_u16(),
    };
    let mut log = sim.log();
    if log.len() >= MAX_LOG {
        log.pop_front();
    }
    log.push_back(entry);
    response
}

fn fault_response(status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if code == StatusCode::INTERNAL_SERVER_ERROR {
        json_response(code, json!({"message": "500 Internal Server Error"}))
    } else {
        // GitLab's nginx/workhorse answer gateway errors with an HTML page.
        let body = format!(
            "<!DOCTYPE html><html><head><title>GitLab is not responding ({status})</title></head><body><h1>{status}</h1></body></html>"
        );
        (code, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn message(status: StatusCode, text: &str) -> Response {
    json_response(status, json!({ "message": text }))
}

async fn not_found() -> Response {
    json_response(StatusCode::NOT_FOUND, json!({"error": "404 Not Found"}))
}

// ------------------------------------------------------------------- OAuth

async fn authorize_get(State(sim): State<GitLabSim>, RawQuery(query): RawQuery) -> Response {
    let params = query.map(|q| parse_pairs(q.as_bytes())).unwrap_or_default();
    sim.authorize(&params)
}

async fn authorize_post(State(sim): State<GitLabSim>, body: Bytes) -> Response {
    sim.authorize(&parse_pairs(&body))
}

/// The OAuth parameters echoed back by the authorize form.
const CARRIED: &[&str] =
    &["response_type", "client_id", "redirect_uri", "state", "scope", "code_challenge", "code_challenge_method"];

impl GitLabSim {
    fn authorize(&self, params: &[(String, String)]) -> Response {
        let client_id = first(params, "client_id").unwrap_or_default();
        let redirect_uri = first(params, "redirect_uri").unwrap_or_default();
        let state = first(params, "state");
        let (app_scopes, redirect_ok) = {
            let world = self.world();
            match world.apps.get(client_id) {
                Some(app) => (app.scopes.clone(), app.redirect_uris.iter().any(|uri| uri == redirect_uri)),
                None => return (StatusCode::UNAUTHORIZED, Html(error_page(INVALID_CLIENT))).into_response(),
            }
        };
        if !redirect_ok {
            return (StatusCode::BAD_REQUEST, Html(error_page(INVALID_REDIRECT))).into_response();
        }
        let Ok(target) = url::Url::parse(redirect_uri) else {
            return (StatusCode::BAD_REQUEST, Html(error_page(INVALID_REDIRECT))).into_response();
        };
        if first(params, "response_type") != Some("code") {
            return redirect_error(target, "unsupported_response_type", UNSUPPORTED_RESPONSE_TYPE, state);
        }
        let requested: Vec<String> =
            first(params, "scope").unwrap_or_default().split_whitespace().map(str::to_string).collect();
        let scopes = if requested.is_empty() { app_scopes.clone() } else { requested };
        if scopes.iter().any(|s| !app_scopes.contains(s)) {
            return redirect_error(target, "invalid_scope", INVALID_SCOPE, state);
        }
        let challenge = match first(params, "code_challenge") {
            Some(challenge) if !challenge.is_empty() => {
                let method = first(params, "code_challenge_method").unwrap_or("plain");
                if method != "S256" && method != "plain" {
                    return redirect_error(target, "invalid_request", INVALID_REQUEST, state);
                }
                Some((challenge.to_string(), method.to_string()))
            }
            _ => None,
        };
        if first(params, "decision") == Some("deny") {
            return redirect_error(target, "access_denied", ACCESS_DENIED, state);
        }
        let chosen = ["login_as", "user", "username"]
            .iter()
            .find_map(|k| first(params, k).map(str::trim).filter(|v| !v.is_empty()));
        let Some(chosen) = chosen else {
            return self.render_authorize(client_id, params, &scopes, None, StatusCode::OK);
        };
        let user = self.world().user_by_name(chosen).cloned();
        let user = match user {
            None => {
                return self.render_authorize(
                    client_id,
                    params,
                    &scopes,
                    Some("Invalid login or password."),
                    StatusCode::UNAUTHORIZED,
                );
            }
            Some(user) if user.state == UserState::Blocked => {
                return self.render_authorize(
                    client_id,
                    params,
                    &scopes,
                    Some("Your account has been blocked. Please contact your GitLab administrator if you think this is an error."),
                    StatusCode::FORBIDDEN,
                );
            }
            Some(user) => user,
        };
        let code = random_token();
        let now = self.now();
        self.world().codes.insert(
            code.clone(),
            CodeGrant {
                client_id: client_id.to_string(),
                redirect_uri: redirect_uri.to_string(),
                user_id: user.id,
                scopes,
                challenge,
                expires_at: now.saturating_add(CODE_LIFETIME_SECONDS),
            },
        );
        let mut target = target;
        target.query_pairs_mut().append_pair("code", &code);
        if let Some(state) = state {
            target.query_pairs_mut().append_pair("state", state);
        }
        redirect(target.as_str())
    }

    fn render_authorize(
        &self,
        client_id: &str,
        params: &[(String, String)],
        scopes: &[String],
        error: Option<&str>,
        status: StatusCode,
    ) -> Response {
        let carried: Vec<(String, String)> =
            params.iter().filter(|(k, _)| CARRIED.contains(&k.as_str())).cloned().collect();
        let users: Vec<(String, String)> =
            self.world().users.values().map(|u| (u.username.clone(), u.name.clone())).collect();
        let html =
            authorize_page(&AuthorizePage { app_name: client_id, params: &carried, users: &users, scopes, error });
        (status, Html(html)).into_response()
    }
}

fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, Html(error_page(INVALID_REDIRECT))).into_response(),
    }
}

fn redirect_error(mut target: url::Url, error: &str, description: &str, state: Option<&str>) -> Response {
    target.query_pairs_mut().append_pair("error", error).append_pair("error_description", description);
    if let Some(state) = state {
        target.query_pairs_mut().append_pair("state", state);
    }
    redirect(target.as_str())
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = json_response(status, json!({"error": error, "error_description": description}));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Client credentials from HTTP Basic (RFC 6749 §2.3.1, percent-decoded) or
/// from the form.
fn client_credentials(headers: &HeaderMap, form: &[(String, String)]) -> Option<(String, String)> {
    if let Some(value) = header_text(headers, header::AUTHORIZATION)
        && let Some((scheme, encoded)) = value.split_once(' ')
        && scheme.eq_ignore_ascii_case("basic")
    {
        let decoded = STANDARD.decode(encoded.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':')?;
        let unescape = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        return Some((unescape(id), unescape(secret)));
    }
    Some((first(form, "client_id")?.to_string(), first(form, "client_secret")?.to_string()))
}

/// RFC 7636 §4.1: 43–128 characters of the unreserved set.
fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

async fn token(State(sim): State<GitLabSim>, headers: HeaderMap, body: Bytes) -> Response {
    let form = parse_pairs(&body);
    let Some((client_id, client_secret)) = client_credentials(&headers, &form) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", INVALID_CLIENT);
    };
    let authenticated =
        sim.world().apps.get(&client_id).is_some_and(|app| app.client_secret.as_bytes() == client_secret.as_bytes());
    if !authenticated {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", INVALID_CLIENT);
    }
    let now = sim.now();
    let issued = match first(&form, "grant_type") {
        Some("authorization_code") => sim.grant_code(&client_id, &form, now),
        Some("refresh_token") => sim.grant_refresh(&client_id, &form, now),
        Some(_) => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", UNSUPPORTED_GRANT),
        None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", INVALID_REQUEST),
    };
    match issued {
        Ok(tokens) => {
            let body = json!({
                "access_token": tokens.access_token,
                "token_type": "Bearer",
                "expires_in": tokens.expires_in,
                "refresh_token": tokens.refresh_token,
                "scope": tokens.scope,
                "created_at": tokens.created_at,
            });
            let mut response = json_response(StatusCode::OK, body);
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(response) => *response,
    }
}

impl GitLabSim {
    fn grant_code(&self, client_id: &str, form: &[(String, String)], now: i64) -> Result<IssuedTokens, Rejection> {
        let invalid_grant = || Box::new(oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", INVALID_GRANT));
        let Some(code) = first(form, "code").filter(|c| !c.is_empty()) else {
            return Err(Box::new(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", INVALID_REQUEST)));
        };
        let mut world = self.world();
        // Single use: the code is gone whatever happens next.
        let grant = world.codes.remove(code).ok_or_else(invalid_grant)?;
        if grant.client_id != client_id
            || now >= grant.expires_at
            || first(form, "redirect_uri") != Some(grant.redirect_uri.as_str())
        {
            return Err(invalid_grant());
        }
        if let Some((challenge, method)) = &grant.challenge {
            let verifier = first(form, "code_verifier").unwrap_or_default();
            let derived = if method == "S256" {
                URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
            } else {
                verifier.to_string()
            };
            if !valid_verifier(verifier) || derived != *challenge {
                return Err(invalid_grant());
            }
        }
        if world.users.get(&grant.user_id).is_none_or(|u| u.state != UserState::Active) {
            return Err(invalid_grant());
        }
        Ok(world.issue_tokens(grant.user_id, client_id, &grant.scopes, now))
    }

    fn grant_refresh(&self, client_id: &str, form: &[(String, String)], now: i64) -> Result<IssuedTokens, Rejection> {
        let invalid_grant = || Box::new(oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", INVALID_GRANT));
        let Some(presented) = first(form, "refresh_token").filter(|t| !t.is_empty()) else {
            return Err(Box::new(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", INVALID_REQUEST)));
        };
        let mut world = self.world();
        let rec = world.refresh_tokens.get(presented).cloned().ok_or_else(invalid_grant)?;
        if rec.client_id != client_id {
            return Err(invalid_grant());
        }
        if world.users.get(&rec.user_id).is_none_or(|u| u.state != UserState::Active) {
            return Err(invalid_grant());
        }
        // Rotation: the presented refresh token is spent.
        world.refresh_tokens.remove(presented);
        Ok(world.issue_tokens(rec.user_id, client_id, &rec.scopes, now))
    }

    /// The token's user and scopes, or the 401 GitLab sends.
    fn authenticate(&self, headers: &HeaderMap, query: Option<&str>) -> Result<(UserRec, Vec<String>), Rejection> {
        let from_header = header_text(headers, header::AUTHORIZATION).and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
        });
        let from_query = || {
            query.and_then(|q| parse_pairs(q.as_bytes()).into_iter().find(|(k, _)| k == "access_token").map(|(_, v)| v))
        };
        let unauthorized = || Box::new(message(StatusCode::UNAUTHORIZED, "401 Unauthorized"));
        let token = from_header.or_else(from_query).ok_or_else(unauthorized)?;
        let now = self.now();
        self.world().token_user(&token, now).ok_or_else(unauthorized)
    }

    fn user_json(&self, user: &UserRec) -> Value {
        let base = self.world().public_url.clone();
        json!({
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "state": user.state.as_str(),
            "locked": false,
            "avatar_url": format!("{base}/uploads/-/system/user/avatar/{}/avatar.png", user.id),
            "web_url": format!("{base}/{}", user.username),
            "created_at": "2024-01-15T09:30:00.000Z",
            "bio": "",
            "public_email": null,
            "email": user.email,
            "two_factor_enabled": false,
            "external": false,
            "bot": false,
        })
    }

    fn member_json(&self, membership: &Membership) -> Value {
        let mut value = self.user_json(&membership.user);
        let mut out = serde_json::Map::new();
        for key in ["id", "username", "name", "state", "avatar_url", "web_url"] {
            if let Some(v) = value.get_mut(key) {
                out.insert(key.to_string(), v.take());
            }
        }
        out.insert(String::from("access_level"), json!(membership.access_level));
        out.insert(String::from("created_at"), json!("2024-02-01T10:00:00.000Z"));
        out.insert(String::from("expires_at"), Value::Null);
        out.insert(String::from("membership_state"), json!("active"));
        Value::Object(out)
    }
}

fn has_any_scope(scopes: &[String], wanted: &[&str]) -> bool {
    scopes.iter().any(|s| wanted.contains(&s.as_str()))
}

fn insufficient_scope(needed: &str) -> Response {
    json_response(
        StatusCode::FORBIDDEN,
        json!({"error": "insufficient_scope", "error_description": INSUFFICIENT_SCOPE, "scope": needed}),
    )
}

// -------------------------------------------------------------------- REST

async fn current_user(State(sim): State<GitLabSim>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let (user, scopes) = match sim.authenticate(&headers, q.as_deref()) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    if !has_any_scope(&scopes, &["api", "read_api", "read_user"]) {
        return insufficient_scope("api read_api read_user");
    }
    json_response(StatusCode::OK, sim.user_json(&user))
}

async fn version(State(sim): State<GitLabSim>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    if let Err(response) = sim.authenticate(&headers, q.as_deref()) {
        return *response;
    }
    let world = sim.world();
    json_response(StatusCode::OK, json!({"version": world.version, "revision": world.revision}))
}

#[derive(Clone, Copy)]
enum Kind {
    Group,
    Project,
}

async fn membership(
    sim: GitLabSim,
    headers: HeaderMap,
    q: Option<String>,
    kind: Kind,
    id: String,
    user_id: String,
    inherited: bool,
) -> Response {
    let scopes = match sim.authenticate(&headers, q.as_deref()) {
        Ok((_, scopes)) => scopes,
        Err(response) => return *response,
    };
    if !has_any_scope(&scopes, &["api", "read_api"]) {
        return insufficient_scope("api read_api");
    }
    let Ok(user_id) = user_id.parse::<u64>() else {
        return message(StatusCode::NOT_FOUND, "404 Not found");
    };
    let found = {
        let world = sim.world();
        match kind {
            Kind::Group => {
                if world.group_index(&id).is_none() {
                    return message(StatusCode::NOT_FOUND, "404 Group Not Found");
                }
                world.group_membership(&id, user_id, inherited)
            }
            Kind::Project => world.project_membership(&id, user_id, inherited),
        }
    };
    match found {
        Some(membership) => json_response(StatusCode::OK, sim.member_json(&membership)),
        None => message(StatusCode::NOT_FOUND, "404 Not found"),
    }
}

/// `GET /api/v4/groups?min_access_level=N&per_page=P&page=K` for the token's
/// user: GitLab's group objects (id, name, path, full_path, parent_id), paged
/// with `X-Page`, `X-Per-Page`, `X-Next-Page` (empty on the last page) and
/// `X-Total-Pages`. Without `min_access_level` real GitLab lists every group
/// visible to the user; the simulator lists the user's groups either way.
async fn list_groups(State(sim): State<GitLabSim>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let (user, scopes) = match sim.authenticate(&headers, q.as_deref()) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    if !has_any_scope(&scopes, &["api", "read_api"]) {
        return insufficient_scope("api read_api");
    }
    let pairs: Vec<(String, String)> = q
        .as_deref()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default();
    let number = |name: &str, default: u32| {
        pairs.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.parse::<u32>().ok()).unwrap_or(default)
    };
    let min_level = number("min_access_level", 10);
    let per_page = number("per_page", 20).clamp(1, 100);
    let page = number("page", 1).max(1);
    let all = sim.world().groups_of(user.id, min_level);
    let total_pages = u32::try_from(all.len().div_ceil(per_page as usize)).unwrap_or(u32::MAX).max(1);
    let start = (page as usize - 1).saturating_mul(per_page as usize);
    let items: Vec<Value> = all
        .iter()
        .skip(start)
        .take(per_page as usize)
        .map(|(id, full_path)| {
            let path = full_path.rsplit('/').next().unwrap_or(full_path);
            json!({"id": id, "name": path, "path": path, "full_path": full_path, "full_name": full_path.replace('/', " / ")})
        })
        .collect();
    let mut response = json_response(StatusCode::OK, Value::Array(items));
    let next = if page < total_pages { (page + 1).to_string() } else { String::new() };
    for (name, value) in [
        ("x-page", page.to_string()),
        ("x-per-page", per_page.to_string()),
        ("x-next-page", next),
        ("x-total-pages", total_pages.to_string()),
    ] {
        if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

async fn group_member_all(
    State(sim): State<GitLabSim>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    Path((id, user_id)): Path<(String, String)>,
) -> Response {
    membership(sim, headers, q, Kind::Group, id, user_id, true).await
}

async fn group_member_direct(
    State(sim): State<GitLabSim>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    Path((id, user_id)): Path<(String, String)>,
) -> Response {
    membership(sim, headers, q, Kind::Group, id, user_id, false).await
}

async fn project_member_all(
    State(sim): State<GitLabSim>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    Path((id, user_id)): Path<(String, String)>,
) -> Response {
    membership(sim, headers, q, Kind::Project, id, user_id, true).await
}

async fn project_member_direct(
    State(sim): State<GitLabSim>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    Path((id, user_id)): Path<(String, String)>,
) -> Response {
    membership(sim, headers, q, Kind::Project, id, user_id, false).await
}

// ------------------------------------------------------------ control API

async fn control_requests(State(sim): State<GitLabSim>) -> Response {
    json_response(StatusCode::OK, serde_json::to_value(sim.requests()).unwrap_or(Value::Null))
}

async fn control_clear_requests(State(sim): State<GitLabSim>) -> StatusCode {
    sim.clear_requests();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct FaultBody {
    endpoint: Endpoint,
    #[serde(default = "one")]
    count: u32,
    #[serde(default = "five_hundred")]
    status: u16,
}

fn one() -> u32 {
    1
}
fn five_hundred() -> u16 {
    500
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Rejection> {
    serde_json::from_slice(body)
        .map_err(|err| Box::new(message(StatusCode::BAD_REQUEST, &format!("invalid body: {err}"))))
}

async fn control_fault(State(sim): State<GitLabSim>, body: Bytes) -> Response {
    match parse_json::<FaultBody>(&body) {
        Ok(f) if (400..=599).contains(&f.status) => {
            sim.fail_next(f.endpoint, f.count, f.status);
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(_) => message(StatusCode::BAD_REQUEST, "status must be 400..=599"),
        Err(response) => *response,
    }
}

#[derive(Deserialize)]
struct DelayBody {
    endpoint: Endpoint,
    millis: u64,
}

async fn control_delay(State(sim): State<GitLabSim>, body: Bytes) -> Response {
    match parse_json::<DelayBody>(&body) {
        Ok(d) => {
            sim.set_delay(d.endpoint, Some(Duration::from_millis(d.millis)));
            StatusCode::NO_CONTENT.into_response()
        }
        Err(response) => *response,
    }
}

#[derive(Deserialize)]
struct VersionBody {
    version: String,
}

async fn control_version(State(sim): State<GitLabSim>, body: Bytes) -> Response {
    match parse_json::<VersionBody>(&body) {
        Ok(v) => {
            sim.set_version(&v.version);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(response) => *response,
    }
}

async fn control_user(State(sim): State<GitLabSim>, Path((username, action)): Path<(String, String)>) -> Response {
    let done = match action.as_str() {
        "block" => sim.block_user(&username),
        "unblock" => sim.unblock_user(&username),
        "revoke_tokens" => {
            let revoked = sim.revoke_tokens(&username);
            return json_response(StatusCode::OK, json!({"revoked": revoked}));
        }
        _ => return message(StatusCode::NOT_FOUND, "unknown action (block, unblock, revoke_tokens)"),
    };
    if done { StatusCode::NO_CONTENT.into_response() } else { message(StatusCode::NOT_FOUND, "404 User Not Found") }
}

#[derive(Deserialize)]
struct MemberBody {
    #[serde(default = "developer")]
    access_level: u32,
}

fn developer() -> u32 {
    crate::config::access::DEVELOPER
}

async fn control_add_member(
    State(sim): State<GitLabSim>,
    Path((path, username)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let level = if body.is_empty() {
        developer()
    } else {
        match parse_json::<MemberBody>(&body) {
            Ok(m) => m.access_level,
            Err(response) => return *response,
        }
    };
    if sim.add_group_member(&path, &username, level) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        message(StatusCode::NOT_FOUND, "unknown group or user")
    }
}

async fn control_remove_member(
    State(sim): State<GitLabSim>,
    Path((path, username)): Path<(String, String)>,
) -> Response {
    if sim.remove_group_member(&path, &username) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        message(StatusCode::NOT_FOUND, "not a direct member")
    }
}
