//! Golden tests: for every scenario produced by the real KubeSpawner 7.1
//! (tests/golden/*.meta.json), jhub-podspec must build the same pod and PVC
//! from the same inputs, the same names and state, the same user_options,
//! and a spawn form with the same fields and pre-selections.
//!
//! Compared as data: volumes and volumeMounts as sets (their order depends on
//! the chart version), env as a map (KubeSpawner sorts it), the two version
//! annotations left out.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use jhub_core::env::{HubEnvSettings, single_user_env};
use jhub_core::names::UrlLayout;
use jhub_podspec::manifest::{PodContext, build_pod, build_pvc, names_for, spawner_env_settings};
use jhub_podspec::profiles::{self, ProfileList, UserOptions};
use jhub_podspec::z2jh::{ReleaseInfo, spawner_config_with_warnings};
use jhub_podspec::{SpawnerConfig, names};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(golden_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn json_file(name: &str) -> Value {
    serde_json::from_str(&read(name)).unwrap()
}

fn yaml_file(name: &str) -> Value {
    let value: Value = serde_saphyr::from_str(&read(name)).unwrap();
    if value.is_null() { json!({}) } else { value }
}

/// Helm's merge of a values file over the defaults: maps merge, anything
/// else replaces, a user `null` deletes the key.
fn helm_merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                if value.is_null() {
                    base.shift_remove(key);
                } else if let (Some(existing @ Value::Object(_)), Value::Object(_)) = (base.get_mut(key), value) {
                    helm_merge(existing, value);
                } else {
                    base.insert(key.clone(), value.clone());
                }
            }
        }
        (base, over) => *base = over.clone(),
    }
}

/// Chart defaults + the given values files, top-level nulls dropped (the
/// chart renders its values through `merge`, which skips them).
fn merged_values(files: &[&str]) -> Value {
    let mut values = yaml_file("inputs/z2jh-values.yaml");
    for file in files {
        helm_merge(&mut values, &yaml_file(file));
    }
    if let Value::Object(map) = &mut values {
        map.retain(|_, v| !v.is_null());
    }
    values
}

fn release() -> ReleaseInfo {
    ReleaseInfo {
        name: "jupyterhub".into(),
        namespace: "jupyterhub".into(),
        chart_name: "jupyterhub".into(),
        chart_version: "4.2.0".into(),
    }
}

fn hub_env_settings(api_url: &str, admin_access: bool) -> HubEnvSettings {
    HubEnvSettings {
        layout: UrlLayout::default(),
        api_url: api_url.into(),
        public_host: String::new(),
        public_url: String::new(),
        admin_access,
        cookie_host_prefix_enabled: false,
        cookie_options_json: None,
    }
}

/// The user_options the golden scenario used, re-derived the way jhub gets them.
fn user_options_of(meta: &Value) -> UserOptions {
    let source = meta["user_options_source"].as_str().unwrap();
    if let Some(fields) = source.strip_prefix("form fields ") {
        let fields: Map<String, Value> = serde_json::from_str(fields).unwrap();
        let pairs: Vec<(String, String)> = fields
            .iter()
            .flat_map(|(k, vs)| {
                vs.as_array().unwrap().iter().map(move |v| (k.clone(), v.as_str().unwrap().to_string()))
            })
            .collect();
        profiles::options_from_form(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).user_options
    } else if source == "REST API body" {
        let body: Value = serde_json::from_str(meta["inputs"]["user_options"].as_str().unwrap()).unwrap();
        profiles::options_from_json(&body).unwrap()
    } else {
        UserOptions::new()
    }
}

/// Normalises a manifest for comparison (see the module doc).
fn normalise(mut manifest: Value) -> Value {
    if let Some(Value::Object(annotations)) = manifest.pointer_mut("/metadata/annotations") {
        annotations.shift_remove("hub.jupyter.org/kubespawner-version");
        annotations.shift_remove("hub.jupyter.org/jupyterhub-version");
    }
    let sort = |value: Option<&mut Value>| {
        if let Some(Value::Array(items)) = value {
            // Name and mount path identify an entry (map key order must not matter).
            items.sort_by_key(|item| (item["name"].to_string(), item["mountPath"].to_string()));
        }
    };
    sort(manifest.pointer_mut("/spec/volumes"));
    if let Some(Value::Array(containers)) = manifest.pointer_mut("/spec/containers") {
        for container in containers {
            sort(container.get_mut("volumeMounts"));
            if let Some(Value::Array(env)) = container.get_mut("env") {
                let map: Map<String, Value> =
                    env.iter().map(|e| (e["name"].as_str().unwrap().to_string(), e.clone())).collect();
                container["env"] = Value::Object(map);
            }
        }
    }
    manifest
}

fn assert_same(kind: &str, scenario: &str, ours: Value, golden: Value) {
    // For investigating a difference: JHUB_GOLDEN_DUMP=<dir> writes jhub's output there.
    if let Ok(dir) = std::env::var("JHUB_GOLDEN_DUMP") {
        let path = PathBuf::from(dir).join(format!("{scenario}.{kind}.json"));
        std::fs::write(path, serde_json::to_string_pretty(&ours).unwrap()).unwrap();
    }
    let (ours, golden) = (normalise(ours), normalise(golden));
    assert!(
        ours == golden,
        "{scenario} {kind} differs\n--- jhub\n{}\n--- kubespawner\n{}",
        serde_json::to_string_pretty(&ours).unwrap(),
        serde_json::to_string_pretty(&golden).unwrap()
    );
}

struct Outcome {
    pod: Value,
    pvc: Value,
    config: SpawnerConfig,
}

fn run_scenario(scenario: &str, base: &SpawnerConfig, api_url: &str, admin_access: bool) -> Outcome {
    let meta = json_file(&format!("{scenario}.meta.json"));
    let user = meta["user"].as_str().unwrap();
    let server = meta["server_name"].as_str().unwrap();
    let options = user_options_of(&meta);
    assert_eq!(Value::Object(options.clone()), meta["user_options"], "{scenario}: user_options");

    let resolved = profiles::resolve(base, &options).unwrap();
    let strays: Map<String, Value> =
        resolved.stray_attributes.iter().map(|s| (s.name.clone(), s.value.clone())).collect();
    assert_eq!(Value::Object(strays), meta["non_trait_attributes_set_by_overrides"], "{scenario}: stray attributes");
    let cfg = resolved.config;
    assert_eq!(json!(cfg.start_timeout), meta["start_timeout"], "{scenario}");
    assert_eq!(json!(cfg.http_timeout), meta["http_timeout"], "{scenario}");
    assert_eq!(json!(cfg.storage_pvc_ensure), meta["pvc_created_on_start"], "{scenario}");

    // Names are computed from the configuration before profiles apply.
    let names = names_for(base, user, 1, server).unwrap();
    assert_eq!(json!(names.pod_name), meta["pod_name"], "{scenario}");
    assert_eq!(json!(names.pvc_name), meta["pvc_name"], "{scenario}");
    assert_eq!(json!(names.dns_name), meta["dns_name"], "{scenario}");
    assert_eq!(json!(names.namespace), meta["namespace"], "{scenario}");
    assert_eq!(names.state(cfg.storage_pvc_ensure), meta["state_after_start_would_be"], "{scenario}: state");

    let layout = UrlLayout::default();
    let spawner_env = spawner_env_settings(&cfg, user, &layout.server_url(user, server)).unwrap();
    let hub_env: BTreeMap<String, String> =
        single_user_env(&hub_env_settings(api_url, admin_access), &spawner_env, user, server, "golden-api-token");
    let ctx = PodContext {
        user_name: user.into(),
        user_id: 1,
        server_name: server.into(),
        names,
        hub_env,
        jupyterhub_version: "5.5.0".into(),
    };
    let pod = build_pod(&cfg, &ctx).unwrap();
    let pvc = build_pvc(&cfg, &ctx).unwrap();
    assert_same("pod", scenario, pod.clone(), json_file(&format!("{scenario}.pod.json")));
    assert_same("pvc", scenario, pvc.clone(), json_file(&format!("{scenario}.pvc.json")));
    Outcome { pod, pvc, config: cfg }
}

fn seed_config() -> SpawnerConfig {
    let values = merged_values(&["inputs/seed-config-fixed.yaml"]);
    let (cfg, warnings) = spawner_config_with_warnings(&values, &release()).unwrap();
    // The seed's override typos are reported, with suggestions, but accepted like KubeSpawner does.
    let texts: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    for expected in [
        "warning: singleuser.profileList[0].kubespawner_override.cpu_gurantee: 'cpu_gurantee' is not a KubeSpawner setting and is ignored (KubeSpawner stores it as an unused attribute); did you mean 'cpu_guarantee'?",
        "warning: singleuser.profileList[0].kubespawner_override.memo_gurantee: 'memo_gurantee' is not a KubeSpawner setting and is ignored (KubeSpawner stores it as an unused attribute); did you mean 'mem_guarantee'?",
        "warning: singleuser.profileList[1].kubespawner_override.mem_gurantee: 'mem_gurantee' is not a KubeSpawner setting and is ignored (KubeSpawner stores it as an unused attribute); did you mean 'mem_guarantee'?",
    ] {
        assert!(texts.iter().any(|t| t == expected), "missing {expected}\nin {texts:#?}");
    }
    assert_eq!(texts.len(), 4, "{texts:#?}");
    cfg
}

const Z2JH_API: &str = "http://hub:8081/hub/api";

#[test]
fn seed_cpu_l1() {
    let out = run_scenario("seed-cpu-l1", &seed_config(), Z2JH_API, true);
    assert_eq!(out.pod["spec"]["containers"][0]["resources"]["limits"]["cpu"], json!(8.0));
    assert_eq!(out.pvc["spec"]["storageClassName"], "nfs-csi");
}

#[test]
fn seed_gpu_a100x1() {
    let out = run_scenario("seed-gpu-a100x1", &seed_config(), Z2JH_API, true);
    assert_eq!(out.config.extra_resource_limits["nvidia.com/gpu"], "1");
}

#[test]
fn seed_default_no_options() {
    let out = run_scenario("seed-default-no-options", &seed_config(), Z2JH_API, true);
    // Same pod as choosing the defaults explicitly.
    let explicit = run_scenario("seed-cpu-l1", &seed_config(), Z2JH_API, true);
    assert_eq!(out.pod, explicit.pod);
}

#[test]
fn seed_gpu_p100x1_api() {
    run_scenario("seed-gpu-p100x1-api", &seed_config(), Z2JH_API, true);
}

#[test]
fn seed_named_server_escaping() {
    let out = run_scenario("seed-named-server-escaping", &seed_config(), Z2JH_API, true);
    assert_eq!(out.pod["metadata"]["annotations"]["hub.jupyter.org/servername"], "GPU test");
}

#[test]
fn kubespawner_defaults() {
    let traits = yaml_file("inputs/kubespawner-defaults.yaml");
    let cfg = SpawnerConfig::from_kubespawner_traits(&traits).unwrap();
    assert_eq!(cfg, SpawnerConfig::default());
    // No hub_connect_url without z2jh: the golden hub advertised its host name.
    run_scenario("kubespawner-defaults", &cfg, "http://vm:8081/hub/api", false);
}

/// The form attributes that matter for round-tripping: radio values and
/// which is checked, select names, option values and which is selected.
#[derive(Debug, PartialEq)]
struct FormFacts {
    radios: Vec<(String, bool)>,
    selects: Vec<(String, Vec<(String, bool)>)>,
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_string())
}

fn facts_from_html(html: &str) -> FormFacts {
    let mut facts = FormFacts { radios: Vec::new(), selects: Vec::new() };
    // Only the markup: the script below it mentions tags in comments.
    let mut rest = html.split("<script>").next().unwrap_or_default();
    while let Some(open) = rest.find('<') {
        let close = rest[open..].find('>').map_or(rest.len(), |c| open + c);
        let tag = &rest[open..close];
        if tag.starts_with("<input") && tag.contains("type=\"radio\"") {
            facts.radios.push((attr(tag, "value").unwrap(), tag.contains("checked")));
        } else if tag.starts_with("<select") {
            facts.selects.push((attr(tag, "name").unwrap(), Vec::new()));
        } else if tag.starts_with("<option") {
            let selected = tag.contains(" selected");
            facts.selects.last_mut().unwrap().1.push((attr(tag, "value").unwrap(), selected));
        }
        rest = &rest[(close + 1).min(rest.len())..];
    }
    // What a browser shows: without a `selected` option, the first one.
    for (_, options) in &mut facts.selects {
        if !options.iter().any(|(_, selected)| *selected)
            && let Some(first) = options.first_mut()
        {
            first.1 = true;
        }
    }
    facts
}

fn facts_from_form(form: &profiles::SpawnForm) -> FormFacts {
    let mut facts = FormFacts { radios: Vec::new(), selects: Vec::new() };
    for profile in &form.profiles {
        facts.radios.push((profile.slug.clone(), profile.checked));
        for option in &profile.options {
            let mut choices: Vec<(String, bool)> = option.choices.iter().map(|c| (c.key.clone(), c.selected)).collect();
            if let Some(unlisted) = &option.unlisted {
                choices.push((profiles::UNLISTED_CHOICE_VALUE.into(), unlisted.selected));
            }
            facts.selects.push((option.field_name.clone(), choices));
        }
    }
    facts
}

#[test]
fn form_descriptions_match_kubespawner_forms() {
    let cfg = seed_config();
    let list = ProfileList::from_config(&cfg.profile_list).unwrap();
    for scenario in [
        "seed-cpu-l1",
        "seed-gpu-a100x1",
        "seed-default-no-options",
        "seed-gpu-p100x1-api",
        "seed-named-server-escaping",
    ] {
        // KubeSpawner rendered these before any options were saved.
        let expected = facts_from_html(&read(&format!("{scenario}.form.html")));
        assert_eq!(expected.radios.len(), 2, "{scenario}: parsed the golden form");
        assert_eq!(facts_from_form(&list.form(&UserOptions::new())), expected, "{scenario}");
    }
    let form = list.form(&UserOptions::new());
    assert_eq!(form.profiles[0].display_name, "CPU 分区");
    assert_eq!(form.profiles[0].description.as_deref(), Some("包含 Conda、Python 环境（8核16G）"));
    assert_eq!(form.profiles[1].options[0].choices[1].display_name, "P100 (Python 3.11, CUDA 12) GPU x1");
    // Submitting the described fields gives back the same user_options.
    let fields: Vec<(String, String)> = std::iter::once(("profile".to_string(), "gpu-fen-qu".to_string()))
        .chain(form.profiles.iter().flat_map(|p| p.options.iter().map(|o| (o.field_name.clone(), o.selected.clone()))))
        .collect();
    let parsed = profiles::options_from_form(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert_eq!(Value::Object(parsed.user_options), json!({"profile": "gpu-fen-qu", "image": "A100x1"}));
    assert_eq!(names::profile_slug("GPU 分区"), "gpu-fen-qu");
}

#[test]
fn seed_typos_and_bad_values_are_reported_with_paths() {
    let mut values = merged_values(&["inputs/seed-config-fixed.yaml"]);
    values["singleuser"]["profileList"][1]["kubespawner_override"]["mem_limit"] = json!("16Gi");
    values["singleuser"]["memory"]["limit"] = json!("500Mi");
    values["hub"]["config"]["KubeSpawner"] = json!({"cpu_gurantee": 1, "start_timeout": "x"});
    let problems = spawner_config_with_warnings(&values, &release()).unwrap_err();
    let texts: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let has = |prefix: &str| texts.iter().any(|t| t.starts_with(prefix));
    assert!(
        has(
            "error: singleuser.profileList[1].kubespawner_override.mem_limit: mem_limit: 16Gi is not a valid memory specification"
        ),
        "{texts:#?}"
    );
    assert!(has("error: singleuser.memory.limit: 500Mi is not a valid memory specification"), "{texts:#?}");
    assert!(has("error: hub.config.KubeSpawner.start_timeout:"), "{texts:#?}");
    assert!(
        has(
            "warning: hub.config.KubeSpawner.cpu_gurantee: not recognized by KubeSpawner and ignored; did you mean 'cpu_guarantee'?"
        ),
        "{texts:#?}"
    );
    // Errors come first.
    assert!(texts[0].starts_with("error:"));

    let mut values = merged_values(&["inputs/seed-config-fixed.yaml"]);
    values["singleuser"]["extraEnv"] = json!([{"name": "EDITOR", "value": "vim"}]);
    let problems = spawner_config_with_warnings(&values, &release()).unwrap_err();
    assert_eq!(problems[0].path, "singleuser.extraEnv");
    assert!(problems[0].message.contains("must be a mapping"));
}

#[test]
fn hub_config_overrides_singleuser() {
    let mut values = merged_values(&["inputs/seed-config-fixed.yaml"]);
    values["hub"]["config"]["KubeSpawner"] = json!({"start_timeout": 600, "image": "other:1"});
    values["hub"]["config"]["Spawner"] = json!({"start_timeout": 10, "http_timeout": 90});
    let (cfg, _) = spawner_config_with_warnings(&values, &release()).unwrap();
    assert_eq!(cfg.start_timeout, 600);
    assert_eq!(cfg.http_timeout, 90);
    assert_eq!(cfg.image, "other:1");
    // Spawner loses against singleuser.* (KubeSpawner section) like in traitlets.
    values["hub"]["config"] = json!({"Spawner": {"start_timeout": 10}});
    let (cfg, _) = spawner_config_with_warnings(&values, &release()).unwrap();
    assert_eq!(cfg.start_timeout, 300);
}

/// The configuration and the hub API URL (`http://<hub service>:8081/hub/api`).
fn own_config(file: &str) -> (SpawnerConfig, String) {
    let values = merged_values(&[file]);
    let hub = jhub_podspec::z2jh::chart_names(&values, &release()).hub;
    (spawner_config_with_warnings(&values, &release()).unwrap().0, format!("http://{hub}:8081/hub/api"))
}

#[test]
fn own_unlisted_image() {
    let (cfg, api) = own_config("inputs/own-unlisted-image.yaml");
    assert_eq!(api, Z2JH_API);
    let out = run_scenario("own-unlisted-image", &cfg, &api, true);
    assert_eq!(out.config.image, "quay.io/jupyter/scipy-notebook:2024-05-27");
    // The regex is re.match-anchored at the start; a value it rejects names the option.
    let list = ProfileList::from_config(&cfg.profile_list).unwrap();
    let bad = json!({"profile": "byoi", "image--unlisted-choice": "docker.io/x:1"});
    let err = list.validate(bad.as_object().unwrap()).unwrap_err().to_string();
    assert_eq!(
        err,
        "'docker.io/x:1' is not accepted for option 'image' of profile 'byoi': Must be a quay.io image with a tag"
    );
    // The form: the unlisted-only option pre-selects "Other...".
    let expected = facts_from_html(&read("own-unlisted-image.form.html"));
    assert_eq!(facts_from_form(&list.form(&UserOptions::new())), expected);
    assert_eq!(expected.radios, [("byoi".to_string(), false), ("cafe-creme".to_string(), true)]);
}

#[test]
fn own_static_named() {
    let (cfg, api) = own_config("inputs/own-static-named.yaml");
    let out = run_scenario("own-static-named", &cfg, &api, true);
    assert!(out.pod["spec"]["containers"][0].get("args").is_none());
    assert!(!out.config.storage_pvc_ensure);
}

/// KubeSpawner's documented `unlisted_choice` example sets the image with
/// the deprecated `image_spec` name; the real KubeSpawner 7.1 forwards it to
/// `image` (and `singleuser_extra_labels` to `extra_labels`), so the pod runs
/// the tag the user typed. The user name is not ASCII, so the JSON scope
/// variables must match Python's `json.dumps` byte for byte (`\u00f6`).
#[test]
fn own_unlisted_image_spec() {
    let (cfg, api) = own_config("inputs/own-unlisted-image-spec.yaml");
    let out = run_scenario("own-unlisted-image-spec", &cfg, &api, true);
    assert_eq!(out.config.image, "quay.io/jupyter/scipy-notebook:2024-06-03");
    assert_eq!(out.pod["metadata"]["labels"]["picked-by"], "profile");
    let env = out.pod["spec"]["containers"][0]["env"].as_array().unwrap();
    let scopes = env.iter().find(|e| e["name"] == "JUPYTERHUB_OAUTH_ACCESS_SCOPES").unwrap();
    assert_eq!(scopes["value"], r#"["access:servers!server=j\u00f6rg/", "access:servers!user=j\u00f6rg"]"#);
    // The deprecated names are reported (KubeSpawner logs the same warnings).
    let meta = json_file("own-unlisted-image-spec.meta.json");
    let options = user_options_of(&meta);
    let resolved = profiles::resolve(&cfg, &options).unwrap();
    let used: Vec<&str> = resolved.deprecated_names.iter().map(|d| d.name).collect();
    assert_eq!(used, ["singleuser_extra_labels", "image_spec"]);
    let logged: Vec<&str> = meta["log"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(logged.iter().any(|l| l.contains("KubeSpawner.image_spec is deprecated in 0.10. Use KubeSpawner.image")));
}
