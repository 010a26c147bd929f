//! RBAC: JupyterHub's scopes, subscopes, filters, metascopes and default
//! roles, and the access decision (403 vs 404) for a request.
