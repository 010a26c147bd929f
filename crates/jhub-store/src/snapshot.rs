//! The startup snapshot: every table the hub mirrors in memory, one query per
//! table, read in one transaction so the parts agree with each other.

use crate::rows::{
    ClientRow, GroupRow, RoleRow, ServerRow, ServiceRow, UserRow, all, client_cols, group_cols, role_cols, server_cols,
    service_cols, user_cols,
};
use crate::{Backend, Store, StoreError};
use jhub_core::model::{Group, OAuthClient, Role, RoleHolder, Server, Service, User};

/// Everything the hub keeps in memory, each list ordered by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub users: Vec<User>,
    pub servers: Vec<Server>,
    pub groups: Vec<Group>,
    /// `(user_id, group_id)`.
    pub user_groups: Vec<(i64, i64)>,
    pub roles: Vec<Role>,
    /// `(role_id, holder)`.
    pub role_holders: Vec<(i64, RoleHolder)>,
    pub services: Vec<Service>,
    pub oauth_clients: Vec<OAuthClient>,
}

const USERS: &str = concat!("SELECT ", user_cols!(), " FROM users ORDER BY id");
const SERVERS: &str = concat!("SELECT ", server_cols!(), " FROM servers ORDER BY id");
const GROUPS: &str = concat!("SELECT ", group_cols!(), " FROM groups ORDER BY id");
const USER_GROUPS: &str = "SELECT user_id, group_id FROM user_group_map ORDER BY group_id, user_id";
const ROLES: &str = concat!("SELECT ", role_cols!(), " FROM roles ORDER BY id");
const ROLE_HOLDERS: &str = "SELECT role_id, 'user' AS kind, user_id AS holder FROM user_role_map \
     UNION ALL SELECT role_id, 'group' AS kind, group_id AS holder FROM group_role_map \
     UNION ALL SELECT role_id, 'service' AS kind, service_id AS holder FROM service_role_map \
     ORDER BY 1, 2, 3";
const SERVICES: &str = concat!("SELECT ", service_cols!(), " FROM services ORDER BY id");
const CLIENTS: &str = concat!("SELECT ", client_cols!(), " FROM oauth_clients ORDER BY identifier");

fn holder(role_id: i64, kind: &str, id: i64) -> Result<(i64, RoleHolder), StoreError> {
    let holder = match kind {
        "user" => RoleHolder::User(id),
        "group" => RoleHolder::Group(id),
        "service" => RoleHolder::Service(id),
        other => {
            return Err(StoreError::Decode {
                table: "role maps",
                id: role_id.to_string(),
                reason: format!("unknown holder kind {other:?}"),
            });
        }
    };
    Ok((role_id, holder))
}

/// Runs the snapshot queries on `$tx`; the body is the same for both backends.
macro_rules! load_all {
    ($tx:ident) => {{
        let op = "load snapshot";
        let users: Vec<UserRow> = sqlx::query_as(USERS).fetch_all(&mut *$tx).await.map_err(StoreError::query(op))?;
        let servers: Vec<ServerRow> =
            sqlx::query_as(SERVERS).fetch_all(&mut *$tx).await.map_err(StoreError::query(op))?;
        let groups: Vec<GroupRow> = sqlx::query_as(GROUPS).fetch_all(&mut *$tx).await.map_err(StoreError::query(op))?;
        let user_groups: Vec<(i64, i64)> =
            sqlx::query_as(USER_GROUPS).fetch_all(&mut *$tx).await.map_err(StoreError::query(op))?;
        let roles: Vec<RoleRow> = sqlx::query_as(ROLES).fetch_all(&mut *$tx).await.map_err(StoreError::query(op))?;
        let holders: Vec<(i64, String, i64)> =
            sqlx::query_as(ROLE_HOLDERS).fetch_all(&mut *$tx).await.map_err(StoreError::query(op))?;
        let services: Vec<ServiceRow> =
            sqlx::query_as(SERVICES).fetch_all(&mut *$tx).await.map_err(StoreError::query(op))?;
        let clients: Vec<ClientRow> =
            sqlx::query_as(CLIENTS).fetch_all(&mut *$tx).await.map_err(StoreError::query(op))?;
        // Read-only: ending it either way releases the snapshot.
        $tx.commit().await.map_err(StoreError::query(op))?;
        Snapshot {
            users: all(users, UserRow::into_model)?,
            servers: all(servers, ServerRow::into_model)?,
            groups: all(groups, GroupRow::into_model)?,
            user_groups,
            roles: all(roles, RoleRow::into_model)?,
            role_holders: holders
                .into_iter()
                .map(|(role, kind, id)| holder(role, &kind, id))
                .collect::<Result<_, _>>()?,
            services: all(services, ServiceRow::into_model)?,
            oauth_clients: all(clients, ClientRow::into_model)?,
        }
    }};
}

impl Store {
    /// Loads everything the hub mirrors in memory (hub startup).
    pub async fn load_snapshot(&self) -> Result<Snapshot, StoreError> {
        let op = "load snapshot";
        let snapshot = match &self.backend {
            Backend::Sqlite(pool) => {
                // A deferred transaction is a consistent read snapshot in WAL mode.
                let mut tx = pool.begin().await.map_err(StoreError::query(op))?;
                load_all!(tx)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await
                    .map_err(StoreError::query(op))?;
                load_all!(tx)
            }
        };
        Ok(snapshot)
    }
}
