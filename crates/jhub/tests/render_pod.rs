//! `jhub render-pod` against every golden scenario of the real KubeSpawner
//! 7.1 that goes through the z2jh mapping (the goldens live with
//! jhub-podspec, which tests the same pipeline without the CLI; the
//! `kubespawner-defaults` scenario uses no z2jh values and is covered there).
//! Compared as data: volumes and mounts as sets, env as a map, version
//! annotations excluded; the API token is passed in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../jhub-podspec/tests/golden")
}

fn read_json(path: PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// Key-order-independent text of a value, for sorting list items.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, String)> = map.iter().map(|(k, v)| (k, canonical(v))).collect();
            entries.sort();
            format!("{entries:?}")
        }
        Value::Array(items) => format!("{:?}", items.iter().map(canonical).collect::<Vec<_>>()),
        other => other.to_string(),
    }
}

fn normalise(mut v: Value) -> Value {
    if let Some(annotations) = v.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        annotations.remove("hub.jupyter.org/jupyterhub-version");
        annotations.remove("hub.jupyter.org/kubespawner-version");
    }
    let sort_by_name = |list: &mut Value| {
        if let Some(items) = list.as_array_mut() {
            items.sort_by_key(canonical);
        }
    };
    if let Some(spec) = v.get_mut("spec") {
        if let Some(volumes) = spec.get_mut("volumes") {
            sort_by_name(volumes);
        }
        for key in ["containers", "initContainers"] {
            if let Some(containers) = spec.get_mut(key).and_then(Value::as_array_mut) {
                for container in containers {
                    for list in ["env", "volumeMounts"] {
                        if let Some(items) = container.get_mut(list) {
                            sort_by_name(items);
                        }
                    }
                }
            }
        }
    }
    v
}

/// Where a scenario's values file lives in the repo.
fn values_file(meta_path: &str) -> PathBuf {
    if meta_path.ends_with("seed/config-fixed.yaml") {
        return golden_dir().join("inputs/seed-config-fixed.yaml");
    }
    let name = meta_path.rsplit('/').next().unwrap();
    golden_dir().join("inputs").join(name)
}

fn render(scenario: &str) -> (Value, Value) {
    let meta = read_json(golden_dir().join(format!("{scenario}.meta.json")));
    let inputs = &meta["inputs"];
    let mut command = Command::new(env!("CARGO_BIN_EXE_jhub"));
    command.arg("render-pod");
    for file in inputs["values"].as_array().unwrap() {
        command.arg("-f").arg(values_file(file.as_str().unwrap()));
    }
    let text = |key: &str| inputs.get(key).and_then(Value::as_str).map(str::to_string);
    command.args(["--user", &text("user").unwrap()]);
    command.args(["--user-id", &inputs["user_id"].to_string()]);
    if let Some(server) = text("server") {
        command.args(["--server", &server]);
    }
    if let Some(profile) = text("profile") {
        command.args(["--profile", &profile]);
    }
    for option in inputs.get("option").and_then(Value::as_array).into_iter().flatten() {
        command.args(["--option", option.as_str().unwrap()]);
    }
    if let Some(options) = text("user_options") {
        command.args(["--user-options", &options]);
    }
    command.args(["--namespace", &text("namespace").unwrap()]);
    command.args(["--release", &text("release").unwrap()]);
    command.args(["--chart-name", &text("chart_name").unwrap()]);
    command.args(["--chart-version", &text("chart_version").unwrap()]);
    command.args(["--api-token", "golden-api-token"]);
    // The environment must not leak into the rendering.
    command.env_remove("POD_NAMESPACE").env_remove("HELM_RELEASE_NAME");
    let output = command.output().unwrap();
    assert!(output.status.success(), "{scenario}: {}", String::from_utf8_lossy(&output.stderr));
    let rendered: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rendered["meta"]["pod_name"], meta["pod_name"], "{scenario}");
    assert_eq!(rendered["meta"]["pvc_name"], meta["pvc_name"], "{scenario}");
    assert_eq!(rendered["meta"]["state_after_start_would_be"], meta["state_after_start_would_be"], "{scenario}");
    assert_eq!(rendered["meta"]["user_options"], meta["user_options"], "{scenario}");
    assert_eq!(rendered["meta"]["pvc_created_on_start"], meta["pvc_created_on_start"], "{scenario}");
    (rendered["pod"].clone(), rendered["pvc"].clone())
}

fn check(scenario: &str) {
    let (pod, pvc) = render(scenario);
    let golden_pod = read_json(golden_dir().join(format!("{scenario}.pod.json")));
    assert_eq!(normalise(pod), normalise(golden_pod), "{scenario}: pod differs from KubeSpawner's");
    let meta = read_json(golden_dir().join(format!("{scenario}.meta.json")));
    if meta["pvc_created_on_start"] == Value::Bool(true) {
        let golden_pvc = read_json(golden_dir().join(format!("{scenario}.pvc.json")));
        assert_eq!(normalise(pvc), normalise(golden_pvc), "{scenario}: PVC differs from KubeSpawner's");
    } else {
        // KubeSpawner builds a PVC body it never sends; jhub shows none.
        assert_eq!(pvc, Value::Null, "{scenario}: no PVC is created with this storage type");
    }
}

#[test]
fn seed_cpu_l1() {
    check("seed-cpu-l1");
}

#[test]
fn seed_gpu_a100x1() {
    check("seed-gpu-a100x1");
}

#[test]
fn seed_default_no_options() {
    check("seed-default-no-options");
}

#[test]
fn seed_gpu_p100x1_api() {
    check("seed-gpu-p100x1-api");
}

#[test]
fn seed_named_server_escaping() {
    check("seed-named-server-escaping");
}

#[test]
fn own_unlisted_image() {
    check("own-unlisted-image");
}

#[test]
fn own_static_named() {
    check("own-static-named");
}

#[test]
fn invalid_choice_names_the_option() {
    let output = Command::new(env!("CARGO_BIN_EXE_jhub"))
        .args(["render-pod", "-f"])
        .arg(golden_dir().join("inputs/seed-config-fixed.yaml"))
        .args(["--profile", "gpu-fen-qu", "--option", "image=nope"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("'nope'") && stderr.contains("A100x1, P100x1"), "{stderr}");
}

#[test]
fn own_unlisted_image_spec() {
    // The deprecated `image_spec` in an unlisted choice: the real KubeSpawner's pod.
    check("own-unlisted-image-spec");
}

/// `render-pod --group` shows what a member of the group gets: the
/// group-scoped profile is refused (naming it) without the group, and with it
/// the group override and the profile apply.
#[test]
fn group_flag_applies_group_overrides_and_allowed_groups() {
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join("values.yaml");
    std::fs::write(
        &values,
        "hub:\n  config:\n    KubeSpawner:\n      group_overrides:\n        gpu:\n          groups: [lab/gpu]\n          spawner_override:\n            environment: {GROUP: gpu}\nsingleuser:\n  profileList:\n    - display_name: CPU\n      slug: cpu\n    - display_name: GPU\n      slug: gpu\n      allowed_groups: [lab/gpu]\n      kubespawner_override:\n        image: example/gpu:1\n",
    )
    .unwrap();
    let render = |groups: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_jhub"));
        command.args(["render-pod", "-f"]).arg(&values).args(["--profile", "gpu"]);
        for group in groups {
            command.args(["--group", group]);
        }
        command.output().unwrap()
    };
    let refused = render(&["lab"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("not allowed to use profile 'gpu'"), "{stderr}");
    let member = render(&["lab", "lab/gpu"]);
    assert!(member.status.success(), "{}", String::from_utf8_lossy(&member.stderr));
    let rendered: Value = serde_json::from_slice(&member.stdout).unwrap();
    let container = &rendered["pod"]["spec"]["containers"][0];
    assert_eq!(container["image"], "example/gpu:1");
    assert!(container["env"].as_array().unwrap().iter().any(|e| e["name"] == "GROUP" && e["value"] == "gpu"));
    assert_eq!(rendered["meta"]["profile"], "gpu");
    assert_eq!(rendered["meta"]["groups"], serde_json::json!(["lab", "lab/gpu"]));
}
