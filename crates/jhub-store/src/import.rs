//! Writing a [`JupyterhubDump`] into a fresh jhub database, all or nothing.
//!
//! Ids are kept (a token's API id is `a<id>`, and pod or PVC name templates
//! may use `{userid}`), which is why the target must be empty: the import
//! runs in one transaction and refuses a database that already holds users,
//! groups, services or tokens. Token hashes are copied as they are: jhub
//! stores tokens in JupyterHub's `sha512:<rounds>:<salt>:<hex>` format, so
//! existing tokens keep authenticating. Auth state arrives already converted
//! by the caller (the store does no cryptography).

use crate::jupyterhub::{JhHolder, JupyterhubDump};
use crate::rows::{json_text, micros, micros_opt};
use crate::{Backend, Store, StoreError, with_tx};
use jhub_core::time::Timestamp;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// What an import carried over and what it left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportSummary {
    /// The source's alembic revision and release.
    pub revision: String,
    pub release: String,
    /// Rows written, by kind (`users`, `groups`, `group memberships`, ...).
    pub imported: BTreeMap<String, u64>,
    /// Rows not written, each with the reason.
    pub skipped: Vec<Skipped>,
    /// Things carried over with a caveat.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    pub kind: String,
    /// Which row (a name or `id N`), never a secret.
    pub what: String,
    pub reason: String,
}

impl ImportSummary {
    pub fn skip(&mut self, kind: &str, what: impl Into<String>, reason: impl Into<String>) {
        self.skipped.push(Skipped { kind: kind.to_string(), what: what.into(), reason: reason.into() });
    }

    fn count(&mut self, kind: &str) {
        *self.imported.entry(kind.to_string()).or_default() += 1;
    }

    /// One line per kind, then one per skipped row.
    pub fn render(&self) -> String {
        let mut out =
            format!("imported JupyterHub database at alembic revision {} ({})\n", self.revision, self.release);
        for (kind, n) in &self.imported {
            out.push_str(&format!("  {kind}: {n}\n"));
        }
        if self.skipped.is_empty() {
            out.push_str("  skipped: nothing\n");
        } else {
            out.push_str(&format!("  skipped: {}\n", self.skipped.len()));
            for s in &self.skipped {
                out.push_str(&format!("    {} {}: {}\n", s.kind, s.what, s.reason));
            }
        }
        for note in &self.notes {
            out.push_str(&format!("  note: {note}\n"));
        }
        out
    }
}

const COUNT_EXISTING: &str = "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM groups) \
     + (SELECT COUNT(*) FROM services) + (SELECT COUNT(*) FROM api_tokens) + (SELECT COUNT(*) FROM servers)";
const INSERT_USER: &str = "INSERT INTO users (id, name, admin, created, last_activity, cookie_id, \
     encrypted_auth_state, user_info) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const INSERT_GROUP: &str = "INSERT INTO groups (id, name, properties) VALUES ($1, $2, $3)";
const INSERT_MEMBER: &str = "INSERT INTO user_group_map (user_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const INSERT_ROLE: &str = "INSERT INTO roles (id, name, description, scopes) VALUES ($1, $2, $3, $4)";
const GRANT_USER: &str = "INSERT INTO user_role_map (role_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const GRANT_GROUP: &str = "INSERT INTO group_role_map (role_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const GRANT_SERVICE: &str = "INSERT INTO service_role_map (role_id, service_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const INSERT_SERVICE: &str = "INSERT INTO services (id, name, admin, url, display, info, oauth_client_id, \
     oauth_no_confirm, from_config) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const INSERT_CLIENT: &str = "INSERT INTO oauth_clients (identifier, description, secret_hashed, redirect_uri, \
     allowed_scopes) VALUES ($1, $2, $3, $4, $5)";
const INSERT_SERVER: &str = "INSERT INTO servers (id, user_id, name, display_name, started, last_activity, state, \
     user_options, url, pending) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)";
const INSERT_TOKEN: &str = "INSERT INTO api_tokens (id, user_id, service_id, hashed, prefix, client_id, session_id, \
     created, expires_at, last_activity, note, scopes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
/// Explicit ids leave PostgreSQL's identity sequences behind; move them past the imported rows.
const PG_RESYNC: &[&str] = &["users", "groups", "roles", "services", "servers", "api_tokens"];

/// The rows the writer will insert, decided before the transaction opens.
struct Plan {
    users: HashSet<i64>,
    groups: HashSet<i64>,
    services: HashSet<i64>,
    roles: HashSet<i64>,
    clients: HashSet<String>,
}

fn valid_name(name: &str) -> bool {
    jhub_core::names::validate_username(name).is_ok()
}

impl Store {
    /// Imports a JupyterHub database read by [`crate::read_jupyterhub`] into
    /// this (empty) store in one transaction. `summary` may already hold rows
    /// the caller skipped (auth state it could not convert); counts and
    /// further skips are added to it.
    pub async fn import_jupyterhub(
        &self,
        dump: &JupyterhubDump,
        now: Timestamp,
        summary: &mut ImportSummary,
    ) -> Result<(), StoreError> {
        summary.revision = dump.revision.clone();
        summary.release = dump.release.clone();
        let plan = plan(dump, now, summary);
        let op = "import JupyterHub database";
        let mut counts = ImportSummary::default();
        with_tx!(self, op, |tx| {
            let existing: i64 =
                sqlx::query_scalar(COUNT_EXISTING).fetch_one(&mut *tx).await.map_err(StoreError::query(op))?;
            if existing > 0 {
                return Err(StoreError::Refused(
                    "the jhub database already holds users, groups, services, servers or tokens; import only into a \
                     fresh jhub database (nothing was written)"
                        .to_string(),
                ));
            }
            for user in &dump.users {
                if !plan.users.contains(&user.id) {
                    continue;
                }
                let info = match &user.user_info {
                    Some(v) => Some(json_text("user_info", v)?),
                    None => None,
                };
                sqlx::query(INSERT_USER)
                    .bind(user.id)
                    .bind(&user.name)
                    .bind(user.admin)
                    .bind(micros(user.created.unwrap_or(now)))
                    .bind(micros_opt(user.last_activity))
                    .bind(&user.cookie_id)
                    .bind(user.encrypted_auth_state.as_deref())
                    .bind(info)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::write(op, format!("user {:?}", user.name), String::new()))?;
                counts.count("users");
                if user.encrypted_auth_state.is_some() {
                    counts.count("auth states");
                }
            }
            for group in &dump.groups {
                if !plan.groups.contains(&group.id) {
                    continue;
                }
                sqlx::query(INSERT_GROUP)
                    .bind(group.id)
                    .bind(&group.name)
                    .bind(json_text("group properties", &group.properties)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::write(op, format!("group {:?}", group.name), String::new()))?;
                counts.count("groups");
            }
            for (user, group) in &dump.memberships {
                if plan.users.contains(user) && plan.groups.contains(group) {
                    sqlx::query(INSERT_MEMBER)
                        .bind(user)
                        .bind(group)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::query(op))?;
                    counts.count("group memberships");
                }
            }
            for service in &dump.services {
                if !plan.services.contains(&service.id) {
                    continue;
                }
                let info = service.info.clone().unwrap_or_else(|| Value::Object(Default::default()));
                sqlx::query(INSERT_SERVICE)
                    .bind(service.id)
                    .bind(&service.name)
                    .bind(service.admin)
                    .bind(service.url.as_deref())
                    .bind(service.display.unwrap_or(true))
                    .bind(json_text("service info", &info)?)
                    .bind(service.oauth_client_id.as_deref())
                    .bind(service.oauth_no_confirm.unwrap_or(false))
                    .bind(service.from_config.unwrap_or(true))
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::write(op, format!("service {:?}", service.name), String::new()))?;
                counts.count("services");
            }
            for role in &dump.roles {
                if !plan.roles.contains(&role.id) {
                    continue;
                }
                sqlx::query(INSERT_ROLE)
                    .bind(role.id)
                    .bind(&role.name)
                    .bind(role.description.as_deref())
                    .bind(json_text("role scopes", &role.scopes)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::write(op, format!("role {:?}", role.name), String::new()))?;
                counts.count("roles");
            }
            for (role, holder) in &dump.role_bindings {
                if !plan.roles.contains(role) {
                    continue;
                }
                let (sql, id, ok) = match holder {
                    JhHolder::User(id) => (GRANT_USER, *id, plan.users.contains(id)),
                    JhHolder::Group(id) => (GRANT_GROUP, *id, plan.groups.contains(id)),
                    JhHolder::Service(id) => (GRANT_SERVICE, *id, plan.services.contains(id)),
                };
                if ok {
                    sqlx::query(sql).bind(role).bind(id).execute(&mut *tx).await.map_err(StoreError::query(op))?;
                    counts.count("role bindings");
                }
            }
            for client in &dump.clients {
                if !plan.clients.contains(&client.identifier) || client.identifier == "jupyterhub" {
                    continue;
                }
                sqlx::query(INSERT_CLIENT)
                    .bind(&client.identifier)
                    .bind(client.description.as_deref().unwrap_or(""))
                    .bind(client.secret.as_deref().filter(|s| !s.is_empty()))
                    .bind(client.redirect_uri.as_deref().unwrap_or(""))
                    .bind(json_text("client scopes", &client.allowed_scopes)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::write(op, format!("OAuth client {:?}", client.identifier), String::new()))?;
                counts.count("oauth clients");
            }
            for spawner in &dump.spawners {
                let Some(user_id) = spawner.user_id.filter(|id| plan.users.contains(id)) else { continue };
                sqlx::query(INSERT_SERVER)
                    .bind(spawner.id)
                    .bind(user_id)
                    .bind(&spawner.name)
                    .bind(spawner.display_name.as_deref().unwrap_or(""))
                    .bind(micros_opt(spawner.started))
                    .bind(micros_opt(spawner.last_activity))
                    .bind(json_text("server state", &spawner.state)?)
                    .bind(json_text("server user_options", &spawner.user_options)?)
                    .bind(spawner.url.as_deref())
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::write(
                        op,
                        format!("server {:?} of user {user_id}", spawner.name),
                        String::new(),
                    ))?;
                counts.count(if spawner.name.is_empty() { "default servers" } else { "named servers" });
                if spawner.url.is_some() {
                    counts.count("running servers");
                }
            }
            for token in &dump.tokens {
                if !token_planned(&plan, token, now) {
                    continue;
                }
                let client = token.client_id.as_deref().unwrap_or("jupyterhub");
                sqlx::query(INSERT_TOKEN)
                    .bind(token.id)
                    .bind(token.user_id)
                    .bind(token.service_id)
                    .bind(token.hashed.as_deref())
                    .bind(token.prefix.as_deref())
                    .bind(client)
                    .bind(token.session_id.as_deref())
                    .bind(micros(token.created.unwrap_or(now)))
                    .bind(micros_opt(token.expires_at))
                    .bind(micros_opt(token.last_activity))
                    .bind(token.note.as_deref())
                    .bind(json_text("token scopes", &token.scopes)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::write(op, format!("token a{}", token.id), String::new()))?;
                counts.count("api tokens");
            }
            if let Backend::Postgres(_) = &self.backend {
                for table in PG_RESYNC {
                    let sql = format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST(COALESCE(MAX(id), 0), 1), \
                         MAX(id) IS NOT NULL) FROM {table}"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await.map_err(StoreError::query(op))?;
                }
            }
            Ok::<(), StoreError>(())
        })?;
        summary.imported = counts.imported;
        Ok(())
    }
}

/// Whether a token is written; the reasons for those that are not are
/// recorded by [`plan`].
fn token_planned(plan: &Plan, token: &crate::jupyterhub::JhToken, now: Timestamp) -> bool {
    token_skip_reason(plan, token, now).is_none()
}

fn token_skip_reason(plan: &Plan, token: &crate::jupyterhub::JhToken, now: Timestamp) -> Option<String> {
    let owner_ok = match (token.user_id, token.service_id) {
        (Some(user), None) => plan.users.contains(&user),
        (None, Some(service)) => plan.services.contains(&service),
        _ => return Some("it belongs to neither exactly one user nor one service".into()),
    };
    if !owner_ok {
        return Some("its owner was not imported".into());
    }
    match (&token.hashed, &token.prefix) {
        (Some(h), Some(p)) if h.starts_with("sha512:") && !p.is_empty() => {}
        _ => return Some("its hash is not in the sha512:<rounds>:<salt>:<digest> format".into()),
    }
    if token.expires_at.is_some_and(|at| at < now) {
        return Some("it has expired".into());
    }
    let client = token.client_id.as_deref().unwrap_or("jupyterhub");
    if client != "jupyterhub" && !plan.clients.contains(client) {
        return Some(format!("its OAuth client {client:?} was not imported"));
    }
    None
}

/// Decides which rows go in, recording every row left out and why.
fn plan(dump: &JupyterhubDump, now: Timestamp, summary: &mut ImportSummary) -> Plan {
    let mut plan = Plan {
        users: HashSet::new(),
        groups: HashSet::new(),
        services: HashSet::new(),
        roles: HashSet::new(),
        clients: HashSet::new(),
    };
    for user in &dump.users {
        if valid_name(&user.name) {
            plan.users.insert(user.id);
        } else {
            summary.skip("user", format!("{:?}", user.name), "the name is not a valid jhub user name");
        }
    }
    plan.groups = dump.groups.iter().map(|g| g.id).collect();
    plan.services = dump.services.iter().map(|s| s.id).collect();
    plan.roles = dump.roles.iter().map(|r| r.id).collect();
    for client in &dump.clients {
        plan.clients.insert(client.identifier.clone());
    }
    for spawner in &dump.spawners {
        match spawner.user_id {
            Some(id) if plan.users.contains(&id) => {}
            Some(_) => summary.skip("server", format!("id {}", spawner.id), "its user was not imported"),
            None => summary.skip("server", format!("id {}", spawner.id), "it belongs to no user"),
        }
    }
    for token in &dump.tokens {
        if let Some(reason) = token_skip_reason(&plan, token, now) {
            summary.skip("api token", format!("a{}", token.id), reason);
        }
    }
    for (table, count) in &dump.not_carried {
        let reason = match *table {
            "oauth_codes" => "OAuth codes live for seconds; a login in flight starts again",
            _ => "jhub does not support sharing yet; the shares stay in the JupyterHub database",
        };
        summary.skip(table, format!("{count} rows"), reason);
    }
    plan
}
