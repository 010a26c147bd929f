//! Authenticators: GitLab OAuth (oauthenticator-compatible), shared password; auth_state encryption.
