//! A GitLab simulator for the OAuth login flow, the user API and group/project membership, for tests and the demo.
