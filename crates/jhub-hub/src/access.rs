//! Ending a user's access when the authenticator finds her no longer
//! allowed (issue 11 item 3: removed from the allowed GitLab group).
//!
//! Everything that lets her act is revoked in one place: every browser is
//! logged out (cookie id rotated, all sessions ended), every API and OAuth
//! token she holds is deleted, and her servers are stopped unless the
//! operator chose to keep them (`stop_servers`); a server kept running keeps
//! only its own API token, so it can still report activity, while nobody can
//! reach it (its OAuth tokens are gone and she cannot log in again).

use crate::error::{HubError, HubResult};
use crate::hub::Hub;
use crate::lifecycle::{StopReason, is_server_token};
use jhub_core::model::TokenOwner;

/// What [`Hub::revoke_user_access`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessRevoked {
    pub tokens: usize,
    pub sessions: usize,
    pub servers_stopped: Vec<String>,
}

impl Hub {
    /// Revokes all of `name`'s access. Idempotent; a user that does not exist
    /// is [`HubError::NotFound`].
    pub async fn revoke_user_access(&self, name: &str, stop_servers: bool) -> HubResult<AccessRevoked> {
        let (user_id, active) = {
            let state = self.read();
            let entry = state.user(name).ok_or_else(|| Hub::not_found_user(name))?;
            let active: Vec<String> =
                entry.servers.values().filter(|s| s.server.active()).map(|s| s.server.name.clone()).collect();
            (entry.user.id, active)
        };
        // Browsers first: a cookie seen after this line no longer resolves.
        self.rotate_cookie_id(name).await?;
        let mut done = AccessRevoked::default();
        if stop_servers {
            for server in &active {
                match self.stop(name, server, false, StopReason::AccessRevoked).await {
                    Ok(_ticket) => done.servers_stopped.push(server.clone()),
                    // Already stopping: the stop in progress ends it.
                    Err(HubError::Invalid(_)) => {}
                    Err(err) => {
                        tracing::warn!(user = name, server = %server, error = %err, "could not stop a server of a user whose access was revoked")
                    }
                }
            }
        }
        let store = self.store();
        for token in store.tokens_for_owner(TokenOwner::User(user_id)).await? {
            if !stop_servers && is_server_token(&token) {
                continue;
            }
            if store.delete_token(token.id).await? {
                done.tokens += 1;
            }
            self.inner.identities.invalidate_token(token.id);
        }
        let sessions = store.delete_sessions_for_user(user_id).await?;
        for session in &sessions {
            self.inner.identities.invalidate_session(user_id, session);
        }
        done.sessions = sessions.len();
        tracing::warn!(
            user = name,
            tokens = done.tokens,
            sessions = done.sessions,
            servers_stopped = ?done.servers_stopped,
            "access revoked: tokens deleted, sessions ended"
        );
        Ok(done)
    }
}
