//! `jhub render-pod`: the pod and PVC a spawn would create, like `helm
//! template` for one user — same flags as `kubespawner_golden.py` where they
//! overlap, same JSON shape on stdout (`{"pod", "pvc", "meta"}`).

use crate::cli::ValuesArgs;
use anyhow::{Context, bail};
use clap::Args;
use jhub_core::env::single_user_env;
use jhub_core::names::UrlLayout;
use jhub_podspec::manifest::{PodContext, build_pod, build_pvc, names_for, resolved_resources, spawner_env_settings};
use jhub_podspec::profiles::{UserOptions, options_from_form, options_from_json, resolve_for};
use serde_json::{Value, json};
use std::process::ExitCode;

#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    /// User name.
    #[arg(long, default_value = "alice")]
    pub user: String,
    /// The hub's numeric user id (`{userid}` in templates).
    #[arg(long, default_value_t = 1)]
    pub user_id: i64,
    /// Named server ("" = the default server).
    #[arg(long, default_value = "")]
    pub server: String,
    /// Profile slug, as chosen on the spawn form.
    #[arg(long)]
    pub profile: Option<String>,
    /// `KEY=CHOICE` or `KEY=unlisted:VALUE` for the chosen profile's options.
    #[arg(long = "option")]
    pub options: Vec<String>,
    /// Raw spawn-form field `FIELD=VALUE` (repeatable).
    #[arg(long = "form")]
    pub form: Vec<String>,
    /// `user_options` as a REST spawn body (JSON object).
    #[arg(long)]
    pub user_options: Option<String>,
    /// Kubernetes namespace (default: from config / `POD_NAMESPACE`).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Helm release name (labels and object names).
    #[arg(long)]
    pub release: Option<String>,
    /// Chart name for labels (`app`, `chart`).
    #[arg(long)]
    pub chart_name: Option<String>,
    /// Chart version for labels.
    #[arg(long)]
    pub chart_version: Option<String>,
    /// The server's API token to put in the pod (default: a fresh random one).
    #[arg(long)]
    pub api_token: Option<String>,
    /// A hub group the user is in (repeatable): applies
    /// `Spawner.group_overrides` and profiles' `allowed_groups` as a spawn
    /// by a member would.
    #[arg(long = "group")]
    pub groups: Vec<String>,
}

fn split_pair(text: &str) -> anyhow::Result<(&str, &str)> {
    text.split_once('=').with_context(|| format!("expected KEY=VALUE, got {text:?}"))
}

/// The user_options the flags describe, the way the spawn form or REST API would.
fn user_options(args: &RenderArgs) -> anyhow::Result<UserOptions> {
    if let Some(body) = &args.user_options {
        let value: Value = serde_json::from_str(body).context("--user-options is not valid JSON")?;
        return options_from_json(&value).map_err(|e| anyhow::anyhow!("--user-options: {e}"));
    }
    let mut fields: Vec<(String, String)> = Vec::new();
    if let Some(profile) = &args.profile {
        fields.push(("profile".into(), profile.clone()));
        for option in &args.options {
            let (key, choice) = split_pair(option)?;
            match choice.strip_prefix("unlisted:") {
                Some(text) => {
                    fields.push((format!("profile-option-{profile}--{key}"), "unlisted-choice".into()));
                    fields.push((format!("profile-option-{profile}--{key}--unlisted-choice"), text.into()));
                }
                None => fields.push((format!("profile-option-{profile}--{key}"), choice.into())),
            }
        }
    } else if !args.options.is_empty() {
        bail!("--option needs --profile");
    }
    for field in &args.form {
        let (name, value) = split_pair(field)?;
        fields.push((name.into(), value.into()));
    }
    let form = options_from_form(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for ignored in &form.ignored_fields {
        eprintln!("jhub render-pod: ignoring unrecognized form field {ignored:?} (like KubeSpawner)");
    }
    Ok(form.user_options)
}

pub fn render(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let loaded = crate::wiring::load_values(&args.values)?;
    let config = &loaded.config;
    let mut release = config.release.to_podspec();
    if let Some(name) = &args.release {
        release.name = name.clone();
    }
    if let Some(namespace) = &args.namespace {
        release.namespace = namespace.clone();
    }
    if let Some(chart) = &args.chart_name {
        release.chart_name = chart.clone();
    }
    if let Some(version) = &args.chart_version {
        release.chart_version = version.clone();
    }
    let base = jhub_podspec::z2jh::spawner_config_from_values(&loaded.merged_values, &release).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the singleuser settings have errors:\n{}", lines.join("\n"))
    })?;
    let options = user_options(&args)?;
    let resolved = resolve_for(&base, &options, &args.groups).map_err(|e| anyhow::anyhow!("{e}"))?;
    for stray in &resolved.stray_attributes {
        eprintln!("jhub render-pod: warning: {stray}");
    }
    for dep in &resolved.deprecated_names {
        eprintln!("jhub render-pod: warning: {dep}");
    }
    let names = names_for(&base, &args.user, args.user_id, &args.server)?;
    let cfg = resolved.config;
    let layout = UrlLayout::new(&config.hub.base_url);
    let spawner_env = spawner_env_settings(&cfg, &args.user, &layout.server_url(&args.user, &args.server))?;
    let mut hub_env = crate::wiring::hub_settings(config)?.hub_env;
    hub_env.layout = layout;
    let token = match &args.api_token {
        Some(token) => token.clone(),
        None => jhub_core::token::new_token()?,
    };
    let env = single_user_env(&hub_env, &spawner_env, &args.user, &args.server, &token);
    let ctx = PodContext {
        user_name: args.user.clone(),
        user_id: args.user_id,
        server_name: args.server.clone(),
        names: names.clone(),
        hub_env: env,
        jupyterhub_version: "6.1.1".into(),
    };
    let pod = build_pod(&cfg, &ctx)?;
    let pvc = if cfg.storage_pvc_ensure { build_pvc(&cfg, &ctx)? } else { Value::Null };
    let output = json!({
        "pod": pod,
        "pvc": pvc,
        "meta": {
            "user": args.user,
            "server_name": args.server,
            "namespace": names.namespace,
            "pod_name": names.pod_name,
            "pvc_name": names.pvc_name,
            "dns_name": names.dns_name,
            "user_options": Value::Object(options),
            "groups": args.groups,
            "profile": resolved.selection.as_ref().map(|s| s.slug.clone()),
            "pvc_created_on_start": cfg.storage_pvc_ensure,
            "start_timeout": cfg.start_timeout,
            "http_timeout": cfg.http_timeout,
            "state_after_start_would_be": names.state(cfg.storage_pvc_ensure),
            "resources": resolved_resources(&cfg),
        }
    });
    crate::output::emit(&serde_json::to_string_pretty(&output)?);
    Ok(ExitCode::SUCCESS)
}
