//! The rule behind "supported": a key is listed as supported in the
//! configuration reference only if a test exercises its behaviour. This table
//! names, per supported key, the test functions that do (searched for in the
//! workspace by `tests/evidence.rs`, which fails when a name is missing, when
//! a supported key has no entry, or when an entry names no supported key).
//!
//! Keys are z2jh paths (`cull.timeout`) or `trait:<name>` for the traits of
//! the `hub.config` sections (trait names are unique across jhub's tables).
//! A key the hub reads but no test covers yet has no entry here: the
//! reference lists it apart, as "read, no behaviour test yet".

/// `(key, tests)`.
pub const EVIDENCE: &[(&str, &[&str])] = &[
    ("cull.enabled", &["idle_pods_are_culled_active_ones_kept_until_max_age"]),
    ("cull.every", &["culler_stops_idle_and_old_servers_only"]),
    (
        "cull.maxAge",
        &["max_age_wins_over_activity_and_switches", "idle_pods_are_culled_active_ones_kept_until_max_age"],
    ),
    (
        "cull.timeout",
        &["culler_stops_idle_and_old_servers_only", "idle_pods_are_culled_active_ones_kept_until_max_age"],
    ),
    ("cull.users", &["culler_stops_idle_and_old_servers_only"]),
    ("cull.adminUsers", &["users", "internal_culler_decides_like_jupyterhub_idle_culler"]),
    (
        "cull.removeNamedServers",
        &["named_servers_follow_their_switch", "internal_culler_decides_like_jupyterhub_idle_culler"],
    ),
    ("cull.concurrency", &["cull_concurrency_bounds_the_stops_in_flight"]),
    ("debug.enabled", &["serve_listens_and_logs_as_the_values_say"]),
    ("hub.db.password", &["db_password_reaches_the_postgres_url"]),
    ("hub.authenticatePrometheus", &["metrics_need_read_metrics_unless_configured_off"]),
    ("hub.consecutiveFailureLimit", &["consecutive_spawn_failures_stop_the_hub_at_the_limit"]),
    ("hub.templateVars", &["template_vars_default_url_and_cookie_max_age"]),
    ("hub.activeServerLimit", &["spawn_limits_answer_429_with_the_reason_on_the_spawn_page"]),
    ("hub.allowNamedServers", &["named_servers_can_be_disabled"]),
    ("hub.baseUrl", &["urls_and_client_ids", "z2jh_defaults_reach_the_typed_config"]),
    (
        "hub.concurrentSpawnLimit",
        &[
            "concurrent_spawn_limit_throttles_like_jupyterhub",
            "spawns_past_the_limit_wait_in_a_fifo_and_start_in_order",
        ],
    ),
    ("hub.config", &["hub_config_sections"]),
    ("hub.cookieSecret", &["serve_refuses_placeholder_secrets_unless_dev", "loads_the_z2jh_secret_layout"]),
    ("hub.db.type", &["databases", "database_urls_from_z2jh_forms"]),
    ("hub.db.url", &["databases", "database_urls_from_z2jh_forms"]),
    ("hub.existingSecret", &["loads_the_z2jh_secret_layout"]),
    ("hub.loadRoles", &["gitlab_groups_become_hub_groups_and_drive_roles", "no_route_is_reachable_without_its_scope"]),
    ("hub.namedServerLimitPerUser", &["named_servers_lifecycle"]),
    ("hub.redirectToServer", &["form_login_xsrf_and_failures"]),
    ("hub.services", &["no_route_is_reachable_without_its_scope"]),
    ("hub.shutdownOnLogout", &["shutdown_on_logout_stops_the_servers"]),
    ("hub.templatePaths", &["proxy_error_page_and_custom_templates"]),
    ("proxy.secretToken", &["env_overrides_and_z2jh_variables", "proxy_routes_and_reconciliation"]),
    ("trait:authenticate_prometheus", &["metrics_need_read_metrics_unless_configured_off"]),
    ("trait:snapshot_class", &["jhub_storage_section", "a_named_snapshot_class_is_used_and_a_missing_one_refused"]),
    (
        "trait:snapshot_every_hours",
        &[
            "jhub_storage_section",
            "storage_settings_from_jhub_storage",
            "scheduled_snapshots_follow_the_period_and_retention",
        ],
    ),
    (
        "trait:snapshot_keep",
        &[
            "jhub_storage_section",
            "storage_settings_from_jhub_storage",
            "scheduled_snapshots_follow_the_period_and_retention",
        ],
    ),
    (
        "trait:usage_interval_seconds",
        &[
            "jhub_storage_section",
            "storage_settings_from_jhub_storage",
            "used_bytes_degrade_quietly_without_node_proxy_rbac",
        ],
    ),
    ("trait:event_retention_days", &["retention_purge_runs_and_deletes_old_events", "jhub_usage_event_retention"]),
    (
        "trait:header_read_timeout_seconds",
        &["slow_header_timeout_is_configurable_and_many_slow_clients_do_not_block_others"],
    ),
    ("trait:idle_timeout_seconds", &["stalled_request_body_is_ended_after_the_idle_timeout"]),
    ("trait:max_connections", &["connection_limit_holds_newcomers_until_a_connection_closes"]),
    ("trait:max_header_bytes", &["oversized_request_header_is_refused_with_431"]),
    ("trait:max_headers", &["header_count_limit_is_configurable", "oversized_request_header_is_refused_with_431"]),
    ("trait:cookie_max_age_days", &["template_vars_default_url_and_cookie_max_age"]),
    ("trait:default_url", &["template_vars_default_url_and_cookie_max_age"]),
    ("trait:template_vars", &["template_vars_default_url_and_cookie_max_age"]),
    ("trait:hub_bind_url", &["serve_listens_and_logs_as_the_values_say"]),
    ("trait:hub_ip", &["serve_listens_and_logs_as_the_values_say"]),
    ("trait:hub_port", &["serve_listens_and_logs_as_the_values_say"]),
    ("trait:log_level", &["serve_listens_and_logs_as_the_values_say"]),
    ("trait:last_activity_interval", &["chp_restart_restores_every_route_within_5s"]),
    ("trait:gitlab_api_version", &["gitlab_api_version_picks_the_rest_path"]),
    ("trait:login_service", &["login_service_labels_the_login_button", "scopes_and_extra_params_are_sent"]),
    (
        "trait:stop_servers_on_access_loss",
        &["access_loss_can_leave_servers_running", "removed_gitlab_member_loses_tokens_sessions_and_servers"],
    ),
    ("trait:token_refresh_wait_seconds", &["token_refresh_is_rate_limited_and_bounded_in_time"]),
    (
        "trait:enabled",
        &[
            "jhub_spawn_queue_settings",
            "concurrent_spawn_limit_throttles_like_jupyterhub",
            "spawn_limits_answer_429_with_the_reason_on_the_spawn_page",
        ],
    ),
    ("trait:max_length", &["jhub_spawn_queue_settings", "a_full_queue_refuses_like_jupyterhub"]),
    ("trait:active_server_limit", &["spawn_limits_answer_429_with_the_reason_on_the_spawn_page"]),
    ("trait:activity_resolution", &["named_servers_user_redirect_and_activity"]),
    ("trait:admin_access", &["another_users_server_is_403_and_admins_get_the_consent_page"]),
    (
        "trait:admin_groups",
        &["admin_groups_make_admins_and_let_them_in", "gitlab_groups_become_hub_groups_and_drive_roles"],
    ),
    ("trait:admin_users", &["admins_are_always_allowed_and_marked_admin", "every_allow_and_deny_rule_end_to_end"]),
    ("trait:allow_all", &["allowed_users_and_allow_all"]),
    ("trait:allow_existing_users", &["allow_existing_users_asks_the_hub"]),
    ("trait:allow_named_servers", &["named_servers_can_be_disabled"]),
    ("trait:allowed_gitlab_groups", &["group_member_passes_and_non_member_is_denied"]),
    (
        "trait:allowed_groups",
        &[
            "allowed_groups_alone_lets_members_in_including_subgroups_by_full_path",
            "gitlab_groups_become_hub_groups_and_drive_roles",
            "leaving_the_group_revokes_access_and_admin_at_the_next_check",
        ],
    ),
    ("trait:allowed_project_ids", &["project_developer_passes_and_reporter_fails"]),
    ("trait:allowed_users", &["allowed_users_and_allow_all"]),
    ("trait:api_url", &["reconfigure_points_at_another_chp"]),
    ("trait:auth_refresh_age", &["removed_group_member_is_logged_out_at_the_next_refresh"]),
    ("trait:auth_state_groups_key", &["auth_state_groups_key_is_a_dotted_path"]),
    ("trait:auth_token", &["proxy_routes_and_reconciliation"]),
    ("trait:authenticator_class", &["gitlab_settings_and_aliases"]),
    ("trait:auto_login", &["auto_login_and_logout_redirect"]),
    ("trait:base_url", &["urls_and_client_ids"]),
    ("trait:blocked_users", &["blocked_beats_admin_and_group_membership"]),
    ("trait:client_id", &["authorize_redirect_carries_pkce_and_state"]),
    ("trait:client_secret", &["authorize_redirect_carries_pkce_and_state"]),
    (
        "trait:concurrent_spawn_limit",
        &[
            "concurrent_spawn_limit_throttles_like_jupyterhub",
            "spawns_past_the_limit_wait_in_a_fifo_and_start_in_order",
        ],
    ),
    ("trait:cookie_secret", &["serve_refuses_placeholder_secrets_unless_dev"]),
    ("trait:custom_403_message", &["custom_403_message_is_shown_escaped", "custom_403_message_is_used"]),
    ("trait:custom_scopes", &["custom_scopes_from_config"]),
    ("trait:db_url", &["database_urls_from_z2jh_forms"]),
    (
        "trait:delete_invalid_users",
        &["invalid_users_are_deleted_only_when_configured", "password_login_applies_username_map_and_pattern"],
    ),
    ("trait:enable_auth_state", &["auth_state_is_encrypted_at_rest_and_refreshed"]),
    ("trait:gitlab_url", &["gitlab_environment_fallbacks", "settings_are_validated"]),
    ("trait:hub_connect_url", &["kubespawner_defaults"]),
    ("trait:keys", &["auth_state_is_encrypted_at_rest_and_refreshed"]),
    ("trait:load_groups", &["load_groups_and_role_groups_exist_from_the_start"]),
    (
        "trait:load_roles",
        &["gitlab_groups_become_hub_groups_and_drive_roles", "load_groups_and_role_groups_exist_from_the_start"],
    ),
    ("trait:logout_redirect_url", &["auto_login_and_logout_redirect"]),
    (
        "trait:manage_groups",
        &[
            "gitlab_groups_become_hub_groups_and_drive_roles",
            "group_settings_without_manage_groups_are_refused",
            "group_api_edits_are_allowed_with_manage_groups_and_reset_at_the_next_login",
            "managed_groups_survive_a_restart_without_auth_state",
        ],
    ),
    ("trait:named_server_limit_per_user", &["named_servers_lifecycle"]),
    ("trait:oauth_callback_url", &["oauth_login_sets_a_signed_state_cookie_and_uses_pkce"]),
    ("trait:password", &["form_login_xsrf_and_failures"]),
    ("trait:public_url", &["optional_variables", "secure_cookies_when_the_public_url_is_https"]),
    ("trait:redirect_to_server", &["form_login_xsrf_and_failures"]),
    (
        "trait:refresh_pre_spawn",
        &[
            "removed_member_cannot_spawn_even_before_the_refresh_interval",
            "leaving_the_group_revokes_access_and_admin_at_the_next_check",
        ],
    ),
    ("trait:scope", &["scopes_and_extra_params_are_sent"]),
    ("trait:services", &["no_route_is_reachable_without_its_scope"]),
    ("trait:shutdown_on_logout", &["shutdown_on_logout_stops_the_servers"]),
    ("trait:template_paths", &["proxy_error_page_and_custom_templates"]),
    ("trait:token_expires_in_max_seconds", &["token_page_lists_tokens_and_applications"]),
    ("trait:user_password", &["construction_checks_passwords_and_hides_them"]),
    ("trait:admin_password", &["construction_checks_passwords_and_hides_them"]),
    (
        "trait:username_map",
        &["username_map_renames_and_username_pattern_refuses", "password_login_applies_username_map_and_pattern"],
    ),
    (
        "trait:username_pattern",
        &[
            "username_map_renames_and_username_pattern_refuses",
            "username_pattern_refuses_with_a_clear_page",
            "password_login_applies_username_map_and_pattern",
        ],
    ),
];

/// The tests that exercise `key` (empty: read by the hub, but untested).
pub fn tests_for(key: &str) -> &'static [&'static str] {
    EVIDENCE.iter().find(|(k, _)| *k == key).map_or(&[], |(_, tests)| *tests)
}
