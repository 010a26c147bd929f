//! A GitLab simulator for the OAuth login flow, the user API and group/project
//! membership, for tests and the demo.
//!
//! Owns: an axum server ([`GitLabSim`]) that behaves like the parts of GitLab
//! a JupyterHub-style hub talks to, its world model ([`SimConfig`]), fault
//! injection, and a request log with secrets redacted.
//! Must not: be used by production code paths (ARCHITECTURE.md), or read the
//! wall clock anywhere but [`WallClock`] (token expiry follows the injected
//! [`jhub_core::ports::Clock`], so tests can expire tokens without sleeping).
//!
//! # What it reproduces
//!
//! Sources: `shared/reference/auth-culler-proxy.md` (§1.3–§1.9, §1.12, §1.14,
//! observed against oauthenticator 17.4 and a logging stand-in), GitLab's
//! OAuth and REST API documentation (`doc/api/oauth2.md`, `doc/api/members.md`,
//! `doc/api/version.md`), and RFC 6749 / RFC 7636.
//!
//! * `GET /oauth/authorize` checks `client_id` (unknown → 401 error page,
//!   "Client authentication failed due to unknown client…") and that
//!   `redirect_uri` is one of the application's URIs exactly (else 400 error
//!   page "The redirect URI included is not valid."). Other problems go back
//!   to the client as `?error=…&error_description=…&state=…`:
//!   `unsupported_response_type`, `invalid_scope` (a scope the application
//!   lacks), `invalid_request` (PKCE method other than `S256`/`plain`) and
//!   `access_denied` (the Deny button). Without `scope` the application's
//!   scopes are granted (§1.1). The page lists every user as
//!   `button[data-user="<name>"]` plus a `#username` text field and
//!   `button[data-action="authorize"|"deny"]`; success is a 302 to
//!   `redirect_uri?code=…&state=…`. Codes are single-use and live 10 minutes.
//! * `POST /oauth/token`: client authentication by form fields or HTTP Basic
//!   (percent-decoded, RFC 6749 §2.3.1) → 401 `invalid_client`;
//!   `authorization_code` checks the code, client, `redirect_uri` and the PKCE
//!   verifier (S256 or plain, 43–128 unreserved characters); `refresh_token`
//!   rotates (the presented refresh token is spent, GitLab refresh tokens do
//!   not expire). Success is exactly §1.14's
//!   `{"access_token","token_type":"Bearer","expires_in","refresh_token","scope","created_at"}`;
//!   failures are 400 `{"error":"invalid_grant","error_description":…}`
//!   (`invalid_request`, `unsupported_grant_type` likewise).
//! * `GET /api/v4/user` with `Authorization: Bearer` (or `?access_token=`):
//!   the current-user object of §1.14; 401 `{"message":"401 Unauthorized"}`
//!   for unknown, expired or revoked tokens and for blocked users; 403
//!   `insufficient_scope` when the token has none of `api`, `read_api`,
//!   `read_user` (openid/profile/email alone do not open the REST API).
//! * `GET /api/v4/version` → `{"version":"17.5.1-ee","revision":…}` (any
//!   valid token), configurable at run time.
//! * `GET /api/v4/groups/:id/members/all/:user_id` (and `/members/:user_id`,
//!   direct only): `:id` is a numeric id or the full path, percent-decoded
//!   exactly once by the router, matched case-insensitively. So
//!   `my-group%2Fsub%20group` finds the subgroup and upstream's double-encoded
//!   `my-group%252Fsub%2Bgroup` does not (oauthenticator#423, §1.8). `all`
//!   includes memberships inherited from ancestor groups and reports the
//!   highest access level (GitLab members API). Unknown group → 404
//!   `{"message":"404 Group Not Found"}`, non-member → 404
//!   `{"message":"404 Not found"}`. Needs `api` or `read_api` (403
//!   `insufficient_scope` otherwise, the oauthenticator#372 symptom).
//! * `GET /api/v4/groups?min_access_level=N&per_page=P&page=K`: the token's
//!   user's groups (direct or inherited from an ancestor, at least level N,
//!   default 10), as `{id, name, path, full_path, full_name}` in full-path
//!   order, paged with `X-Page`, `X-Per-Page`, `X-Next-Page` (empty on the
//!   last page) and `X-Total-Pages` like GitLab. Needs `api` or `read_api`.
//! * `GET /api/v4/projects/:id/members/all/:user_id`: direct members plus
//!   members of the namespace group chain, with `access_level` (§1.9).
//!
//! # What it does not do
//!
//! No sessions or cookies (every authorize request asks again, or takes the
//! simulator-only `login_as=<user>` parameter to approve at once), no
//! passwords, no `id_token`/OIDC discovery, no personal access tokens, no
//! pagination except for the group list, no visibility rules (a private group answers members' queries
//! for anyone with a valid token), no rate limits. Expired/revoked tokens
//! get the plain `401 Unauthorized` body, whereas real GitLab may answer
//! `{"error":"invalid_token",…}`; clients should treat any 401 alike. Blocked
//! users' tokens get 401 as well (real GitLab's exact answer for blocked
//! users was not observed). Previous access tokens stay valid after a
//! refresh until they expire.
//!
//! # Test and demo controls
//!
//! Rust: [`GitLabSim::fail_next`], [`GitLabSim::set_delay`],
//! [`GitLabSim::revoke_tokens`], [`GitLabSim::remove_group_member`],
//! [`GitLabSim::block_user`], [`GitLabSim::requests`] … HTTP (binary, demo,
//! browser tests): `GET|DELETE /_sim/requests`, `POST /_sim/faults`
//! `{"endpoint":"token","count":2,"status":503}`, `POST /_sim/delays`
//! `{"endpoint":"user","millis":1500}`, `PUT /_sim/version`
//! `{"version":"12.3.0"}`, `POST /_sim/users/<name>/block|unblock|revoke_tokens`,
//! `PUT|DELETE /_sim/groups/<url-encoded path>/members/<name>`
//! (`{"access_level":30}`). Control calls are not logged.

pub mod config;
mod pages;
pub mod server;
pub mod state;

pub use config::{ConfigError, SimApplication, SimConfig, SimGroup, SimMember, SimProject, SimUser, UserState, access};
pub use server::{GitLabSim, RunningSim, SimError};
pub use state::{Endpoint, LoggedRequest};

use jhub_core::Timestamp;
use jhub_core::ports::Clock;

/// The system clock, for the binary and for tests that do not control time.
#[derive(Debug, Default, Clone, Copy)]
pub struct WallClock;

impl Clock for WallClock {
    // The one place in this crate that reads the wall clock; everything else
    // takes time from a `Clock` so tests can move it.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}
