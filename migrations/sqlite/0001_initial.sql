-- jhub schema, SQLite flavour. Keep in step with migrations/postgres (same versions,
-- same tables and columns); only the DDL dialect differs.
-- Timestamps are BIGINT microseconds since the Unix epoch (UTC).
-- JSON values are stored as text so both backends hold exactly what the hub wrote.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    admin BOOLEAN NOT NULL DEFAULT FALSE,
    created BIGINT NOT NULL,
    last_activity BIGINT,
    cookie_id TEXT NOT NULL UNIQUE,
    encrypted_auth_state BLOB,
    user_info TEXT
);

CREATE TABLE groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    properties TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE user_group_map (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX user_group_map_group ON user_group_map (group_id);

CREATE TABLE roles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    scopes TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE services (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    admin BOOLEAN NOT NULL DEFAULT FALSE,
    url TEXT,
    display BOOLEAN NOT NULL DEFAULT TRUE,
    info TEXT NOT NULL DEFAULT '{}',
    oauth_client_id TEXT,
    oauth_no_confirm BOOLEAN NOT NULL DEFAULT FALSE,
    from_config BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE user_role_map (
    role_id BIGINT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, user_id)
);
CREATE INDEX user_role_map_user ON user_role_map (user_id);

CREATE TABLE group_role_map (
    role_id BIGINT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, group_id)
);
CREATE INDEX group_role_map_group ON group_role_map (group_id);

CREATE TABLE service_role_map (
    role_id BIGINT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    service_id BIGINT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, service_id)
);
CREATE INDEX service_role_map_service ON service_role_map (service_id);

CREATE TABLE servers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT '',
    started BIGINT,
    last_activity BIGINT,
    state TEXT NOT NULL DEFAULT '{}',
    user_options TEXT NOT NULL DEFAULT '{}',
    url TEXT,
    pending TEXT CHECK (pending IN ('spawn', 'stop', 'check', 'rename')),
    UNIQUE (user_id, name)
);

CREATE TABLE oauth_clients (
    identifier TEXT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    secret_hashed TEXT,
    redirect_uri TEXT NOT NULL DEFAULT '',
    allowed_scopes TEXT NOT NULL DEFAULT '[]'
);
-- The hub's own client owns every token the hub issues directly; it must always exist.
INSERT INTO oauth_clients (identifier, description) VALUES ('jupyterhub', 'JupyterHub');

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    service_id BIGINT REFERENCES services (id) ON DELETE CASCADE,
    hashed TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    client_id TEXT NOT NULL DEFAULT 'jupyterhub' REFERENCES oauth_clients (identifier) ON DELETE CASCADE,
    session_id TEXT,
    created BIGINT NOT NULL,
    expires_at BIGINT,
    last_activity BIGINT,
    note TEXT,
    scopes TEXT NOT NULL DEFAULT '[]',
    CHECK ((user_id IS NULL) <> (service_id IS NULL))
);
CREATE INDEX api_tokens_prefix ON api_tokens (prefix);
CREATE INDEX api_tokens_session ON api_tokens (session_id);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
CREATE INDEX api_tokens_service ON api_tokens (service_id);
CREATE INDEX api_tokens_client ON api_tokens (client_id);
CREATE INDEX api_tokens_expires ON api_tokens (expires_at);

CREATE TABLE oauth_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL REFERENCES oauth_clients (identifier) ON DELETE CASCADE,
    code_hashed TEXT NOT NULL,
    prefix TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes TEXT NOT NULL DEFAULT '[]',
    redirect_uri TEXT NOT NULL,
    session_id TEXT,
    expires_at BIGINT NOT NULL,
    code_challenge TEXT,
    code_challenge_method TEXT
);
CREATE INDEX oauth_codes_prefix ON oauth_codes (prefix);
CREATE INDEX oauth_codes_client ON oauth_codes (client_id);
CREATE INDEX oauth_codes_user ON oauth_codes (user_id);
CREATE INDEX oauth_codes_expires ON oauth_codes (expires_at);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_last_seen ON sessions (last_seen);

-- Append-only history for usage accounting; it outlives the users it names.
CREATE TABLE server_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    user_name TEXT NOT NULL,
    server_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX server_events_at ON server_events (at, id);
CREATE INDEX server_events_user_name_at ON server_events (user_name, at, id);
CREATE INDEX server_events_user ON server_events (user_id);
