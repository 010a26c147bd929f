//! HTTP front end: /hub/api, the hub's OAuth provider, pages and templates, cookies and XSRF.
