//! Users, groups, roles and services: every change persisted first, then
//! applied in memory; permission-affecting changes bump the permissions
//! generation so cached scope sets are recomputed.

use crate::error::{HubError, HubResult};
use crate::hub::Hub;
use crate::lifecycle::StopReason;
use crate::state::{GroupEntry, ServiceEntry};
use jhub_core::model::{Group, RoleHolder, User};
use jhub_core::names::validate_username;
use jhub_core::token;
use jhub_store::{NewService, NewToken, NewUser};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

fn new_cookie_id() -> HubResult<String> {
    token::new_token().map_err(|e| HubError::Backend(e.to_string()))
}

impl Hub {
    /// Creates one user. `Conflict` if the name exists.
    pub async fn create_user(&self, name: &str, admin: bool) -> HubResult<User> {
        validate_username(name).map_err(|e| HubError::Invalid(e.to_string()))?;
        let _gate = self.user_gate(name).await;
        if self.read().user(name).is_some() {
            return Err(HubError::Conflict(format!("User {name} already exists")));
        }
        let user = self.inner.store.create_user(name, admin, &new_cookie_id()?, self.now()).await?;
        let mut state = self.write();
        state.insert_user(user.clone());
        state.permissions_generation += 1;
        self.inner.metrics.total_users.gauge(&[]).set(state.users.len() as f64);
        Ok(user)
    }

    /// Creates the users that do not exist yet, in one transaction; returns
    /// the created ones (JupyterHub `POST /users`: existing names are skipped).
    pub async fn create_users(&self, names: &[String], admin: bool) -> HubResult<Vec<User>> {
        for name in names {
            validate_username(name).map_err(|e| HubError::Invalid(e.to_string()))?;
        }
        let _gate = self.structure_gate().await;
        let mut seen = BTreeSet::new();
        let fresh: Vec<NewUser> = {
            let state = self.read();
            let mut fresh = Vec::new();
            for name in names {
                if state.user(name).is_none() && seen.insert(name.clone()) {
                    fresh.push(NewUser { name: name.clone(), admin, cookie_id: new_cookie_id()? });
                }
            }
            fresh
        };
        if fresh.is_empty() {
            return Ok(Vec::new());
        }
        let created = self.inner.store.create_users(&fresh, self.now()).await?;
        let mut state = self.write();
        for user in &created {
            state.insert_user(user.clone());
        }
        state.permissions_generation += 1;
        self.inner.metrics.total_users.gauge(&[]).set(state.users.len() as f64);
        Ok(created)
    }

    /// Returns the user, creating it (not admin) if missing — for logins.
    pub async fn ensure_user(&self, name: &str) -> HubResult<User> {
        if let Some(entry) = self.read().user(name) {
            return Ok(entry.user.clone());
        }
        match self.create_user(name, false).await {
            Ok(user) => Ok(user),
            Err(HubError::Conflict(_)) => {
                self.read().user(name).map(|e| e.user.clone()).ok_or_else(|| Hub::not_found_user(name))
            }
            Err(err) => Err(err),
        }
    }

    pub async fn set_admin(&self, name: &str, admin: bool) -> HubResult<()> {
        let _gate = self.user_gate(name).await;
        let id = self.read().user(name).map(|e| e.user.id).ok_or_else(|| Hub::not_found_user(name))?;
        self.inner.store.set_admin(id, admin).await?;
        let mut state = self.write();
        if let Some(entry) = state.users.get_mut(&id) {
            entry.user.admin = admin;
        }
        state.permissions_generation += 1;
        Ok(())
    }

    pub async fn rename_user(&self, name: &str, new_name: &str) -> HubResult<()> {
        validate_username(new_name).map_err(|e| HubError::Invalid(e.to_string()))?;
        let _gate = self.structure_gate().await;
        let (id, busy) = {
            let state = self.read();
            if state.user(new_name).is_some() {
                return Err(HubError::Invalid(format!("User {new_name} already exists, username must be unique")));
            }
            let entry = state.user(name).ok_or_else(|| Hub::not_found_user(name))?;
            (entry.user.id, entry.any_active())
        };
        if busy {
            return Err(HubError::Invalid(format!("User {name}'s servers must be stopped before renaming")));
        }
        self.inner.store.rename_user(id, new_name).await?;
        let mut state = self.write();
        state.user_ids.remove(name);
        state.user_ids.insert(new_name.to_string(), id);
        if let Some(entry) = state.users.get_mut(&id) {
            entry.user.name = new_name.to_string();
        }
        state.permissions_generation += 1;
        drop(state);
        self.inner.identities.invalidate_user(id);
        Ok(())
    }

    /// Stores (already encrypted) auth state; `None` clears it.
    pub async fn set_auth_state(&self, name: &str, encrypted: Option<Vec<u8>>) -> HubResult<()> {
        let _gate = self.user_gate(name).await;
        let id = self.read().user(name).map(|e| e.user.id).ok_or_else(|| Hub::not_found_user(name))?;
        self.inner.store.set_auth_state(id, encrypted.as_deref()).await?;
        if let Some(entry) = self.write().users.get_mut(&id) {
            entry.user.encrypted_auth_state = encrypted;
        }
        Ok(())
    }

    pub async fn set_user_info(&self, name: &str, info: Option<Value>) -> HubResult<()> {
        let _gate = self.user_gate(name).await;
        let id = self.read().user(name).map(|e| e.user.id).ok_or_else(|| Hub::not_found_user(name))?;
        self.inner.store.set_user_info(id, info.as_ref()).await?;
        if let Some(entry) = self.write().users.get_mut(&id) {
            entry.user.user_info = info;
        }
        Ok(())
    }

    /// New login cookie id: every browser of the user is logged out.
    pub async fn rotate_cookie_id(&self, name: &str) -> HubResult<()> {
        let _gate = self.user_gate(name).await;
        let (id, old) = self
            .read()
            .user(name)
            .map(|e| (e.user.id, e.user.cookie_id.clone()))
            .ok_or_else(|| Hub::not_found_user(name))?;
        let fresh = new_cookie_id()?;
        self.inner.store.set_cookie_id(id, &fresh).await?;
        let mut state = self.write();
        state.cookie_users.remove(&old);
        state.cookie_users.insert(fresh.clone(), id);
        if let Some(entry) = state.users.get_mut(&id) {
            entry.user.cookie_id = fresh;
        }
        Ok(())
    }

    /// Deletes a user after stopping her servers; her server resources that
    /// outlive a stop (PVCs) are deleted through the spawner.
    pub async fn delete_user(&self, name: &str) -> HubResult<()> {
        let (id, servers) = {
            let state = self.read();
            let entry = state.user(name).ok_or_else(|| Hub::not_found_user(name))?;
            if entry.servers.values().any(|s| s.pending() == Some(jhub_core::model::Pending::Stop)) {
                return Err(HubError::Invalid(format!(
                    "User {name}'s server is in the process of stopping, please wait."
                )));
            }
            let servers: Vec<(String, Value, bool)> =
                entry.servers.values().map(|s| (s.server.name.clone(), s.server.state.clone(), s.active())).collect();
            (entry.user.id, servers)
        };
        for (server, _, active) in &servers {
            if *active {
                let mut ticket = self.stop(name, server, false, StopReason::UserDeleted).await?;
                match ticket.wait(Duration::from_secs(120)).await {
                    Some(Ok(())) => {}
                    Some(Err(message)) => return Err(HubError::Backend(message)),
                    None => return Err(HubError::Backend(format!("{name}'s server {server:?} is still stopping"))),
                }
            }
        }
        for (server, state_json, _) in &servers {
            if let Err(err) = self.inner.spawner.delete_forever(name, server, state_json).await {
                tracing::warn!(user = name, server = %server, error = %err, "could not delete server resources");
            }
        }
        let _gate = self.structure_gate().await;
        self.inner.store.delete_user(id).await?;
        let mut state = self.write();
        state.remove_user(id);
        self.inner.metrics.total_users.gauge(&[]).set(state.users.len() as f64);
        drop(state);
        self.inner.identities.invalidate_user(id);
        Ok(())
    }

    // ----- groups -----

    pub async fn create_group(&self, name: &str, members: &[String]) -> HubResult<Group> {
        if name.contains('/') {
            return Err(HubError::Invalid(format!("Invalid group name: {name:?}")));
        }
        self.create_group_named(name, members).await
    }

    /// Creates a group whose name may contain `/`: GitLab subgroups arrive
    /// by full path (`lab/gpu`) through `manage_groups`, `load_groups` and
    /// `load_roles`, as in JupyterHub, whose database accepts any name; only
    /// the REST API (one path segment) cannot create them.
    async fn create_group_named(&self, name: &str, members: &[String]) -> HubResult<Group> {
        if name.is_empty() || name.chars().any(char::is_control) || name.len() > 255 {
            return Err(HubError::Invalid(format!("Invalid group name: {name:?}")));
        }
        let _gate = self.structure_gate().await;
        let member_ids = {
            let state = self.read();
            if state.group(name).is_some() {
                return Err(HubError::Conflict(format!("Group {name} already exists")));
            }
            self.user_ids_for(&state, members)?
        };
        let group = self.inner.store.create_group(name, &Value::Object(Default::default()), &member_ids).await?;
        let mut state = self.write();
        state.group_ids.insert(group.name.clone(), group.id);
        state.groups.insert(
            group.id,
            GroupEntry { group: group.clone(), members: member_ids.iter().copied().collect(), roles: BTreeSet::new() },
        );
        for id in &member_ids {
            if let Some(entry) = state.users.get_mut(id) {
                entry.groups.insert(group.id);
            }
        }
        state.permissions_generation += 1;
        Ok(group)
    }

    fn user_ids_for(&self, state: &crate::state::State, names: &[String]) -> HubResult<Vec<i64>> {
        names
            .iter()
            .map(|n| state.user_ids.get(n).copied().ok_or_else(|| HubError::Invalid(format!("No such user: {n}"))))
            .collect()
    }

    pub async fn delete_group(&self, name: &str) -> HubResult<()> {
        let _gate = self.structure_gate().await;
        let id = self
            .read()
            .group(name)
            .map(|g| g.group.id)
            .ok_or_else(|| HubError::NotFound(format!("No such group: {name}")))?;
        self.inner.store.delete_group(id).await?;
        let mut state = self.write();
        if let Some(group) = state.groups.remove(&id) {
            state.group_ids.remove(&group.group.name);
            for member in group.members {
                if let Some(entry) = state.users.get_mut(&member) {
                    entry.groups.remove(&id);
                }
            }
        }
        for role in state.roles.values_mut() {
            role.holders.remove(&RoleHolder::Group(id));
        }
        state.permissions_generation += 1;
        Ok(())
    }

    pub async fn add_group_members(&self, name: &str, members: &[String]) -> HubResult<()> {
        let _gate = self.structure_gate().await;
        let (group_id, ids) = {
            let state = self.read();
            let group = state.group(name).ok_or_else(|| HubError::NotFound(format!("No such group: {name}")))?;
            (group.group.id, self.user_ids_for(&state, members)?)
        };
        self.inner.store.add_group_members(group_id, &ids).await?;
        let mut state = self.write();
        if let Some(group) = state.groups.get_mut(&group_id) {
            group.members.extend(ids.iter().copied());
        }
        for id in ids {
            if let Some(entry) = state.users.get_mut(&id) {
                entry.groups.insert(group_id);
            }
        }
        state.permissions_generation += 1;
        Ok(())
    }

    pub async fn remove_group_members(&self, name: &str, members: &[String]) -> HubResult<()> {
        let _gate = self.structure_gate().await;
        let (group_id, ids) = {
            let state = self.read();
            let group = state.group(name).ok_or_else(|| HubError::NotFound(format!("No such group: {name}")))?;
            (group.group.id, self.user_ids_for(&state, members)?)
        };
        self.inner.store.remove_group_members(group_id, &ids).await?;
        let mut state = self.write();
        if let Some(group) = state.groups.get_mut(&group_id) {
            for id in &ids {
                group.members.remove(id);
            }
        }
        for id in ids {
            if let Some(entry) = state.users.get_mut(&id) {
                entry.groups.remove(&group_id);
            }
        }
        state.permissions_generation += 1;
        Ok(())
    }

    /// Makes `user`'s groups exactly `groups` (JupyterHub `User.sync_groups`,
    /// used with `Authenticator.manage_groups`): missing groups are created,
    /// the user joins the listed ones and leaves every other group. Returns
    /// whether anything changed.
    pub async fn sync_user_groups(&self, user: &str, groups: &[String]) -> HubResult<bool> {
        let wanted: BTreeSet<&str> = groups.iter().map(String::as_str).filter(|g| !g.is_empty()).collect();
        let current: BTreeSet<String> = {
            let state = self.read();
            let entry = state.user(user).ok_or_else(|| HubError::NotFound(format!("No such user: {user}")))?;
            state.group_names_of(entry).into_iter().collect()
        };
        let member = [user.to_string()];
        let mut changed = false;
        for group in &wanted {
            if current.contains(*group) {
                continue;
            }
            if self.read().group(group).is_none() {
                match self.create_group_named(group, &[]).await {
                    Ok(_) | Err(HubError::Conflict(_)) => {}
                    Err(err) => return Err(err),
                }
            }
            self.add_group_members(group, &member).await?;
            changed = true;
        }
        for group in current.iter().filter(|g| !wanted.contains(g.as_str())) {
            self.remove_group_members(group, &member).await?;
            changed = true;
        }
        if changed {
            tracing::info!(user, groups = ?wanted, "user groups synced from the authenticator");
        }
        Ok(changed)
    }

    /// `JupyterHub.load_groups` at startup: each group is created if
    /// missing and gets the listed members (created if missing) and, when
    /// given, its properties. Like JupyterHub 5 it only adds members.
    pub(crate) async fn apply_load_groups(&self) -> HubResult<()> {
        let specs = self.inner.settings.load_groups.clone();
        for spec in &specs {
            self.create_users(&spec.users, false).await?;
            if self.read().group(&spec.name).is_none() {
                match self.create_group_named(&spec.name, &[]).await {
                    Ok(_) | Err(HubError::Conflict(_)) => {}
                    Err(err) => return Err(err),
                }
            }
            let missing: Vec<String> = {
                let state = self.read();
                let members = state.group(&spec.name).map(|g| g.members.clone()).unwrap_or_default();
                spec.users
                    .iter()
                    .filter(|u| state.user_ids.get(*u).is_none_or(|id| !members.contains(id)))
                    .cloned()
                    .collect()
            };
            if !missing.is_empty() {
                self.add_group_members(&spec.name, &missing).await?;
            }
            if let Some(properties) = &spec.properties {
                self.set_group_properties(&spec.name, properties.clone()).await?;
            }
        }
        Ok(())
    }

    pub async fn set_group_properties(&self, name: &str, properties: Value) -> HubResult<()> {
        let _gate = self.structure_gate().await;
        let id = self
            .read()
            .group(name)
            .map(|g| g.group.id)
            .ok_or_else(|| HubError::NotFound(format!("No such group: {name}")))?;
        self.inner.store.set_group_properties(id, &properties).await?;
        if let Some(group) = self.write().groups.get_mut(&id) {
            group.group.properties = properties;
        }
        Ok(())
    }

    // ----- services -----

    /// Creates a service at runtime (`POST /services/{name}`), optionally
    /// with an API token supplied by the caller (hashed like config tokens).
    pub async fn create_service(
        &self,
        name: &str,
        admin: bool,
        url: Option<String>,
        api_token: Option<String>,
    ) -> HubResult<()> {
        if name.is_empty() || name.contains('/') {
            return Err(HubError::Invalid(format!("Invalid service name: {name:?}")));
        }
        if self.read().service(name).is_some() {
            return Err(HubError::Conflict(format!("Service {name} already exists")));
        }
        self.upsert_service(name, admin, url, api_token, false, true, false, Value::Object(Default::default()), None)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn upsert_service(
        &self,
        name: &str,
        admin: bool,
        url: Option<String>,
        api_token: Option<String>,
        from_config: bool,
        display: bool,
        oauth_no_confirm: bool,
        info: Value,
        oauth_redirect_uri: Option<String>,
    ) -> HubResult<()> {
        let _gate = self.structure_gate().await;
        let client_id = oauth_redirect_uri.as_ref().map(|_| format!("service-{name}"));
        // A service's OAuth client secret is its API token (JupyterHub
        // `Service.oauth_client_secret`); without one it cannot log users in.
        let client_secret = match (&client_id, api_token.as_deref()) {
            (Some(_), Some(secret)) => {
                Some(token::hash_new(secret, token::SUPPLIED_ROUNDS).map_err(|e| HubError::Backend(e.to_string()))?)
            }
            _ => None,
        };
        let service = self
            .inner
            .store
            .upsert_service(&NewService {
                name: name.to_string(),
                admin,
                url,
                display,
                info,
                oauth_client_id: client_id.clone(),
                oauth_no_confirm,
                from_config,
            })
            .await?;
        if let Some(secret) = api_token {
            if secret.len() < token::MIN_SUPPLIED_LEN || secret.len() > token::MAX_TOKEN_LEN {
                return Err(HubError::Invalid(format!(
                    "API token of service {name} must be {}-{} characters",
                    token::MIN_SUPPLIED_LEN,
                    token::MAX_TOKEN_LEN
                )));
            }
            let existing = self.inner.store.tokens_for_owner(jhub_core::model::TokenOwner::Service(service.id)).await?;
            let known = existing.iter().any(|t| token::verify_token(&t.hashed, &secret));
            if !known {
                let hashed =
                    token::hash_new(&secret, token::SUPPLIED_ROUNDS).map_err(|e| HubError::Backend(e.to_string()))?;
                self.inner
                    .store
                    .insert_token(&NewToken {
                        owner: jhub_core::model::TokenOwner::Service(service.id),
                        hashed,
                        prefix: token::prefix(&secret).to_string(),
                        client_id: jhub_core::model::ApiToken::HUB_CLIENT.to_string(),
                        session_id: None,
                        created: self.now(),
                        expires_at: None,
                        note: Some("from config".to_string()),
                        scopes: vec!["inherit".to_string()],
                    })
                    .await?;
            }
        }
        if let (Some(client_id), Some(redirect)) = (client_id, oauth_redirect_uri) {
            let client = jhub_core::model::OAuthClient {
                identifier: client_id.clone(),
                description: format!("Service {name}"),
                secret_hashed: client_secret,
                redirect_uri: redirect,
                allowed_scopes: vec![format!("access:services!service={name}")],
            };
            self.inner.store.upsert_client(&client).await?;
            self.write().oauth_clients.insert(client_id, client);
        }
        let mut state = self.write();
        let roles = state.services.get(&service.id).map(|s| s.roles.clone()).unwrap_or_default();
        state.service_ids.insert(service.name.clone(), service.id);
        state.services.insert(service.id, ServiceEntry { service, roles });
        state.permissions_generation += 1;
        Ok(())
    }

    /// Deletes a runtime-created service; config services cannot be deleted.
    pub async fn delete_service(&self, name: &str) -> HubResult<()> {
        let _gate = self.structure_gate().await;
        let (id, from_config) = self
            .read()
            .service(name)
            .map(|s| (s.service.id, s.service.from_config))
            .ok_or_else(|| HubError::NotFound(format!("No such service: {name}")))?;
        if from_config {
            return Err(HubError::Denied(format!("Service {name} is defined in configuration and cannot be deleted")));
        }
        self.inner.store.delete_service(id).await?;
        let mut state = self.write();
        state.services.remove(&id);
        state.service_ids.remove(name);
        for role in state.roles.values_mut() {
            role.holders.remove(&RoleHolder::Service(id));
        }
        state.permissions_generation += 1;
        drop(state);
        self.inner.identities.clear();
        Ok(())
    }

    /// JupyterHub's `init_users` check of existing users: names failing
    /// `is_valid` (the authenticator's `validate_username`) are deleted when
    /// `delete` (`Authenticator.delete_invalid_users`), otherwise only
    /// reported. Returns the invalid names.
    pub async fn check_invalid_users(&self, is_valid: &(dyn Fn(&str) -> bool + Sync), delete: bool) -> Vec<String> {
        let invalid: Vec<String> =
            self.read().users.values().map(|e| e.user.name.clone()).filter(|n| !is_valid(n)).collect();
        for name in &invalid {
            if delete {
                tracing::warn!(user = %name, "deleting invalid user from the hub database (delete_invalid_users)");
                if let Err(err) = self.delete_user(name).await {
                    tracing::error!(user = %name, error = %err, "could not delete the invalid user");
                }
            } else {
                tracing::warn!(
                    user = %name,
                    "user in the database does not pass the authenticator's username validation; set \
                     Authenticator.delete_invalid_users: true to delete such users at startup"
                );
            }
        }
        invalid
    }

    /// Applies configured admins, users, services and roles at startup.
    pub(crate) async fn apply_configured_entities(&self) -> HubResult<()> {
        let settings = self.inner.settings.clone();
        let wanted: Vec<String> = settings.admin_users.iter().chain(settings.initial_users.iter()).cloned().collect();
        self.create_users(&wanted, false).await?;
        for admin in &settings.admin_users {
            let is_admin = self.read().user(admin).is_some_and(|e| e.user.admin);
            if !is_admin {
                self.set_admin(admin, true).await?;
            }
        }
        for service in &settings.services {
            self.upsert_service(
                &service.name,
                service.admin,
                service.url.clone(),
                service.api_token.clone(),
                true,
                service.display,
                service.oauth_no_confirm,
                service.info.clone(),
                service.oauth_redirect_uri.clone(),
            )
            .await?;
        }
        self.apply_load_groups().await?;
        for role in &settings.roles {
            self.create_users(&role.users, false).await?;
            // JupyterHub creates the groups a configured role names, so a
            // role for a GitLab group (`manage_groups`) applies to its
            // members as soon as they log in.
            for group in &role.groups {
                if self.read().group(group).is_none() {
                    match self.create_group_named(group, &[]).await {
                        Ok(_) | Err(HubError::Conflict(_)) => {}
                        Err(err) => return Err(err),
                    }
                }
            }
            let _gate = self.structure_gate().await;
            let scopes = self
                .inner
                .rbac
                .roles()
                .get(&role.name)
                .map(|r| r.scopes.to_strings())
                .unwrap_or_else(|| role.scopes.clone());
            let stored = self.inner.store.upsert_role(&role.name, role.description.as_deref(), &scopes).await?;
            let holders: Vec<RoleHolder> = {
                let state = self.read();
                let mut holders = Vec::new();
                for user in &role.users {
                    if let Some(id) = state.user_ids.get(user) {
                        holders.push(RoleHolder::User(*id));
                    }
                }
                for group in &role.groups {
                    match state.group_ids.get(group) {
                        Some(id) => holders.push(RoleHolder::Group(*id)),
                        None => {
                            tracing::warn!(role = %role.name, group = %group, "role names a group that does not exist")
                        }
                    }
                }
                for service in &role.services {
                    match state.service_ids.get(service) {
                        Some(id) => holders.push(RoleHolder::Service(*id)),
                        None => {
                            tracing::warn!(role = %role.name, service = %service, "role names a service that does not exist")
                        }
                    }
                }
                holders
            };
            self.inner.store.set_role_holders(stored.id, &holders).await?;
            let mut state = self.write();
            let role_id = stored.id;
            if let Some(old) = state.roles.get(&role_id).map(|r| r.holders.clone()) {
                for holder in old {
                    if let Some(roles) = state.holder_roles_mut(holder) {
                        roles.remove(&role_id);
                    }
                }
            }
            state.role_ids.insert(stored.name.clone(), role_id);
            state
                .roles
                .insert(role_id, crate::state::RoleEntry { role: stored, holders: holders.iter().copied().collect() });
            for holder in holders {
                if let Some(roles) = state.holder_roles_mut(holder) {
                    roles.insert(role_id);
                }
            }
            state.permissions_generation += 1;
        }
        let total = self.read().users.len();
        self.inner.metrics.total_users.gauge(&[]).set(total as f64);
        Ok(())
    }
}
