//! HTTP to GitLab: the reqwest client (timeouts, no redirects, custom CA),
//! the `oauth2` client and its transport closure over reqwest, the token
//! response type that keeps GitLab's full JSON, and the REST calls
//! (`/user`, `/version`, group and project membership).

use super::GitLabSettings;
use crate::error::{ConfigError, GitLabFailure};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AccessToken, AuthType, AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, TokenResponse, TokenUrl,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;
use std::time::Duration;

/// Responses larger than this are not GitLab's and are refused.
const MAX_BODY: usize = 1024 * 1024;

/// Python's `quote(s, safe='')`: everything but `A-Za-z0-9_.-~` is escaped.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes a group path (or id) ONCE for use as one URL segment:
/// `my-group/sub group` → `my-group%2Fsub%20group`. oauthenticator 17.4
/// encodes twice (`my-group%252Fsub%2Bgroup`), which GitLab cannot find, so
/// subgroups never match there (oauthenticator#423, auth-culler-proxy §1.8).
/// This difference from upstream is intentional.
pub fn encode_group_path(group: &str) -> String {
    utf8_percent_encode(group, PATH_SEGMENT).to_string()
}

pub(crate) type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    GitLabTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The reqwest client for every GitLab call. Redirects are never followed
/// (the oauth2 crate's SSRF advice); `User-Agent: JupyterHub` as upstream.
pub(crate) fn build_http(settings: &GitLabSettings) -> Result<reqwest::Client, ConfigError> {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        return Err(ConfigError::TlsProviderMissing);
    }
    let timeout = settings.http_timeout.max(Duration::from_secs(1));
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("JupyterHub")
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)));
    if let Some(path) = &settings.ca_file {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| ConfigError::ReadCaFile { path: shown.clone(), source })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| ConfigError::InvalidCaFile { path: shown.clone(), reason: e.to_string() })?;
        if certs.is_empty() {
            return Err(ConfigError::InvalidCaFile { path: shown, reason: String::from("no certificate found") });
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if !settings.validate_server_cert {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder.build().map_err(|e| ConfigError::HttpClient(e.to_string()))
}

pub(crate) fn build_oauth(settings: &GitLabSettings) -> Result<OAuthClient, ConfigError> {
    let auth_url = AuthUrl::new(format!("{}/oauth/authorize", settings.gitlab_url))
        .map_err(|e| ConfigError::InvalidSetting { setting: "gitlab_url", reason: e.to_string() })?;
    let token_url = TokenUrl::new(format!("{}/oauth/token", settings.gitlab_url))
        .map_err(|e| ConfigError::InvalidSetting { setting: "gitlab_url", reason: e.to_string() })?;
    let client = oauth2::Client::new(ClientId::new(settings.client_id.clone()))
        .set_auth_uri(auth_url)
        .set_token_uri(token_url)
        .set_auth_type(if settings.basic_auth { AuthType::BasicAuth } else { AuthType::RequestBody });
    // A public (non-confidential) GitLab application has no secret; PKCE then
    // carries the proof.
    let secret = settings.client_secret.expose_secret();
    Ok(if secret.is_empty() { client } else { client.set_client_secret(ClientSecret::new(secret.to_string())) })
}

/// Transport errors of the oauth2 closure. A 5xx is turned into an error
/// here so it is not mistaken for an OAuth error response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransportError {
    #[error("{0}")]
    Unreachable(String),
    #[error("HTTP {0}")]
    Status(u16),
}

/// Sends one oauth2 request through reqwest.
pub(crate) async fn send_oauth(
    http: reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, TransportError> {
    let request = reqwest::Request::try_from(request).map_err(|e| TransportError::Unreachable(describe(&e)))?;
    let response = http.execute(request).await.map_err(|e| TransportError::Unreachable(describe(&e)))?;
    let status = response.status();
    if status.is_server_error() {
        return Err(TransportError::Status(status.as_u16()));
    }
    let headers = response.headers().clone();
    let body = read_capped(response).await.map_err(TransportError::Unreachable)?;
    let mut builder = http::Response::builder().status(status);
    for (name, value) in &headers {
        builder = builder.header(name, value);
    }
    builder.body(body).map_err(|e| TransportError::Unreachable(e.to_string()))
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("response larger than {MAX_BODY} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error with its causes, for logs (no secrets: tokens travel in
/// headers and bodies, never in URLs).
pub(crate) fn describe(err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() { format!("timed out: {err}") } else { err.to_string() };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Maps an oauth2 token-request failure.
pub(crate) fn token_failure(err: RequestTokenError<TransportError, BasicErrorResponse>) -> GitLabFailure {
    match err {
        RequestTokenError::ServerResponse(response) => GitLabFailure::Rejected {
            error: response.error().as_ref().to_string(),
            description: response.error_description().cloned(),
        },
        RequestTokenError::Request(TransportError::Status(status)) => GitLabFailure::Status { status },
        RequestTokenError::Request(TransportError::Unreachable(detail)) => GitLabFailure::Unreachable { detail },
        RequestTokenError::Parse(err, _) => GitLabFailure::BadResponse { detail: err.to_string() },
        RequestTokenError::Other(detail) => GitLabFailure::BadResponse { detail },
    }
}

/// GitLab's token response, keeping every field for `auth_state.token_response`.
pub(crate) struct GitLabTokenResponse {
    pub raw: Map<String, Value>,
    access_token: AccessToken,
    token_type: BasicTokenType,
    expires_in: Option<u64>,
    refresh_token: Option<RefreshToken>,
    scopes: Option<Vec<Scope>>,
}

impl fmt::Debug for GitLabTokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitLabTokenResponse")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl<'de> Deserialize<'de> for GitLabTokenResponse {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = Map::<String, Value>::deserialize(deserializer)?;
        let access_token = raw
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| D::Error::custom("no access_token in the token response"))?;
        let token_type = match raw.get("token_type").and_then(Value::as_str) {
            Some(t) if t.eq_ignore_ascii_case("bearer") => BasicTokenType::Bearer,
            Some(t) => BasicTokenType::Extension(t.to_string()),
            None => BasicTokenType::Bearer,
        };
        let expires_in = raw.get("expires_in").and_then(|v| match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        });
        let refresh_token = raw
            .get("refresh_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(|t| RefreshToken::new(t.to_string()));
        let scopes =
            raw.get("scope").and_then(Value::as_str).map(|s| split_scopes(s).into_iter().map(Scope::new).collect());
        Ok(Self {
            access_token: AccessToken::new(access_token.to_string()),
            token_type,
            expires_in,
            refresh_token,
            scopes,
            raw,
        })
    }
}

impl Serialize for GitLabTokenResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

impl TokenResponse for GitLabTokenResponse {
    type TokenType = BasicTokenType;
    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }
    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }
    fn expires_in(&self) -> Option<Duration> {
        self.expires_in.map(Duration::from_secs)
    }
    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }
    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.scopes.as_ref()
    }
}

/// oauthenticator splits `scope` on spaces or commas (auth-culler-proxy §1.11).
pub(crate) fn split_scopes(scope: &str) -> Vec<String> {
    scope.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// The REST side: `{gitlab_url}/api/v{version}`.
#[derive(Clone)]
pub(crate) struct Rest {
    pub http: reqwest::Client,
    pub api: String,
}

/// Outcome of a REST GET: status and body.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
    /// GitLab's `X-Next-Page` pagination header.
    next_page: Option<u32>,
}

/// At most this many pages of 100 groups are read (10,000 groups).
const MAX_GROUP_PAGES: u32 = 100;

impl Rest {
    async fn get(&self, path: &str, token: &SecretString) -> Result<Answer, GitLabFailure> {
        let response = self
            .http
            .get(format!("{}{path}", self.api))
            .bearer_auth(token.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| GitLabFailure::Unreachable { detail: describe(&e) })?;
        let status = response.status();
        let next_page = response
            .headers()
            .get("x-next-page")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok());
        let body = read_capped(response).await.map_err(|detail| GitLabFailure::Unreachable { detail })?;
        Ok(Answer { status, body, next_page })
    }

    /// Fails on anything but 2xx, naming 401 and `insufficient_scope` apart.
    fn classify(answer: &Answer) -> Result<(), GitLabFailure> {
        match answer.status {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => Err(GitLabFailure::Unauthorized),
            StatusCode::FORBIDDEN if is_insufficient_scope(&answer.body) => Err(GitLabFailure::InsufficientScope),
            s => Err(GitLabFailure::Status { status: s.as_u16() }),
        }
    }

    fn json_object(answer: &Answer) -> Result<Map<String, Value>, GitLabFailure> {
        match serde_json::from_slice::<Value>(&answer.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(GitLabFailure::BadResponse { detail: String::from("expected a JSON object") }),
            Err(e) => Err(GitLabFailure::BadResponse { detail: e.to_string() }),
        }
    }

    /// `GET /user`: the current-user object.
    pub async fn user(&self, token: &SecretString) -> Result<Map<String, Value>, GitLabFailure> {
        let answer = self.get("/user", token).await?;
        Self::classify(&answer)?;
        Self::json_object(&answer)
    }

    /// `GET /version`: the `version` string.
    pub async fn version(&self, token: &SecretString) -> Result<String, GitLabFailure> {
        let answer = self.get("/version", token).await?;
        Self::classify(&answer)?;
        let map = Self::json_object(&answer)?;
        map.get("version")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| GitLabFailure::BadResponse { detail: String::from("no version field") })
    }

    /// `GET /groups?min_access_level=10`, every page: the full paths of the
    /// groups the token's user belongs to (directly or through an ancestor).
    pub async fn user_groups(&self, token: &SecretString) -> Result<Vec<String>, GitLabFailure> {
        let mut groups = Vec::new();
        let mut page = 1;
        for _ in 0..MAX_GROUP_PAGES {
            let answer = self.get(&format!("/groups?min_access_level=10&per_page=100&page={page}"), token).await?;
            Self::classify(&answer)?;
            let items = match serde_json::from_slice::<Value>(&answer.body) {
                Ok(Value::Array(items)) => items,
                Ok(_) => return Err(GitLabFailure::BadResponse { detail: String::from("expected a JSON list") }),
                Err(e) => return Err(GitLabFailure::BadResponse { detail: e.to_string() }),
            };
            groups.extend(items.iter().filter_map(|g| g.get("full_path").and_then(Value::as_str)).map(str::to_string));
            match answer.next_page {
                Some(next) if next > page => page = next,
                _ => break,
            }
        }
        groups.sort();
        groups.dedup();
        Ok(groups)
    }

    /// `GET /groups/:group/members/[all/]:user_id`; membership is decided by
    /// status alone (200 member, 404 not), no access level (§1.8). Other
    /// client errors count as "not a member" as upstream; 401, 403
    /// `insufficient_scope` and 5xx are failures, not denials.
    pub async fn is_group_member(
        &self,
        group: &str,
        user_id: u64,
        members_all: bool,
        token: &SecretString,
    ) -> Result<bool, GitLabFailure> {
        let variant = if members_all { "all/" } else { "" };
        let answer =
            self.get(&format!("/groups/{}/members/{variant}{user_id}", encode_group_path(group)), token).await?;
        Self::member_status(&answer)
    }

    /// `GET /projects/:id/members/[all/]:user_id` → the access level (0 when
    /// not a member).
    pub async fn project_access_level(
        &self,
        project_id: u64,
        user_id: u64,
        members_all: bool,
        token: &SecretString,
    ) -> Result<u64, GitLabFailure> {
        let variant = if members_all { "all/" } else { "" };
        let answer = self.get(&format!("/projects/{project_id}/members/{variant}{user_id}"), token).await?;
        if !Self::member_status(&answer)? {
            return Ok(0);
        }
        let map = Self::json_object(&answer)?;
        Ok(map.get("access_level").and_then(Value::as_u64).unwrap_or(0))
    }

    fn member_status(answer: &Answer) -> Result<bool, GitLabFailure> {
        match answer.status {
            StatusCode::OK => Ok(true),
            StatusCode::UNAUTHORIZED => Err(GitLabFailure::Unauthorized),
            StatusCode::FORBIDDEN if is_insufficient_scope(&answer.body) => Err(GitLabFailure::InsufficientScope),
            s if s.is_server_error() => Err(GitLabFailure::Status { status: s.as_u16() }),
            _ => Ok(false),
        }
    }
}

fn is_insufficient_scope(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(|e| e == "insufficient_scope"))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_paths_are_encoded_once() {
        assert_eq!(encode_group_path("my-group/sub group"), "my-group%2Fsub%20group");
        assert_eq!(encode_group_path("plaingroup"), "plaingroup");
        assert_eq!(encode_group_path("42"), "42");
        assert_eq!(encode_group_path("a.b_c~d+e"), "a.b_c~d%2Be");
    }

    #[test]
    fn token_response_keeps_the_raw_json() {
        let json = r#"{"access_token":"glat-1","token_type":"bearer","expires_in":7200,"refresh_token":"glrt-1","scope":"read_user read_api","created_at":1700000000}"#;
        let parsed: GitLabTokenResponse = serde_json::from_str(json).unwrap();
        assert_eq!(parsed.access_token().secret(), "glat-1");
        assert_eq!(parsed.token_type(), &BasicTokenType::Bearer);
        assert_eq!(parsed.expires_in(), Some(Duration::from_secs(7200)));
        assert_eq!(parsed.scopes().unwrap().len(), 2);
        assert_eq!(serde_json::to_string(&parsed).unwrap(), json);
        assert!(!format!("{parsed:?}").contains("glat-1"));
        assert!(serde_json::from_str::<GitLabTokenResponse>(r#"{"error_description":"x"}"#).is_err());
    }

    #[test]
    fn scopes_split_on_spaces_and_commas() {
        assert_eq!(split_scopes("read_user, api openid"), ["read_user", "api", "openid"]);
    }
}
