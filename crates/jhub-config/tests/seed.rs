//! The seed user's files: the broken one fails with an indentation diagnosis,
//! the fixed one loads with one warning per mistake, at the right line.

use expect_test::expect;
use jhub_config::{Environment, Format, Source, load};

fn fixture(name: &str) -> Source {
    Source::File(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR")).into())
}

#[test]
fn broken_seed_points_at_line_49() {
    let err = load(&[fixture("config.yaml")], &Environment::empty()).unwrap_err();
    let text = err.render(Format::Human).replace(env!("CARGO_MANIFEST_DIR"), "$DIR");
    expect![[r#"
        error: `extraPodConfig` is indented 3 spaces while its siblings under `singleuser` (line 48) use 2 spaces
          --> $DIR/tests/fixtures/config.yaml:49:4
           |
        49 |    extraPodConfig:
           |    ^^^^^^^^^^^^^^
           = note: the YAML parser stopped at line 53, column 3: while parsing a block mapping, did not find expected key
           = note: Helm fails on this file too ("did not find expected key"), so nothing would be deployed
           = note: siblings at 2 spaces: lines 53, 55, 59, 60
           = help: indent `extraPodConfig` with 2 spaces like its siblings: move lines 49-52 (the key and its block) 1 space left

    "#]].assert_eq(&text);
}

#[test]
fn fixed_seed_loads_with_warnings() {
    let loaded = load(&[fixture("config-fixed.yaml")], &Environment::empty()).unwrap();
    let text = loaded.render_diagnostics(Format::Human).replace(env!("CARGO_MANIFEST_DIR"), "$DIR");
    expect![[r#"
        warning: `proxy.service.nodePorts.http: 34567` is outside Kubernetes' default NodePort range 30000-32767
         --> $DIR/tests/fixtures/config-fixed.yaml:7:13
          |
        7 |       http: 34567
          |             ^^^^^
          = note: the API server rejects the proxy-public Service unless the cluster's --service-node-port-range was widened
          = note: a reverse proxy in front must forward to the same port (the nginx of the setup guide this file comes from proxies to 30000)
          = help: pick a port in 30000-32767, e.g. 30000, and use it in the reverse proxy too

        warning: `proxy.secretToken` is `<GENERATE SECRET TOKEN BY YOURSELF>`, a placeholder left from an example
         --> $DIR/tests/fixtures/config-fixed.yaml:8:16
          |
        8 |   secretToken: "<GENERATE SECRET TOKEN BY YOURSELF>"
          |                ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
          = note: it would be used literally as the secret or id
          = help: set a real value (for secrets: `openssl rand -hex 32`, for OAuth: copy it from your GitLab application); `jhub serve` refuses to start with a placeholder

        info: hub.extraVolumes declares `hub-db-dir` again without a mount; it has no effect
          --> $DIR/tests/fixtures/config-fixed.yaml:14:7
           |
        14 |     - name: hub-db-dir
           |       ^^^^
           = note: the chart already mounts the hub-db-dir PVC at /srv/jupyterhub when hub.db.type is sqlite-pvc
           = help: remove this entry

        warning: `hub.config.GitLabOAuthenticator.client_id` is `<COPY IT FROM YOUR OAUTH2 SERVER>`, a placeholder left from an example
          --> $DIR/tests/fixtures/config-fixed.yaml:21:18
           |
        21 |       client_id: "<COPY IT FROM YOUR OAUTH2 SERVER>"
           |                  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
           = note: it would be used literally as the secret or id
           = help: set a real value (for secrets: `openssl rand -hex 32`, for OAuth: copy it from your GitLab application); `jhub serve` refuses to start with a placeholder

        warning: `hub.config.GitLabOAuthenticator.client_secret` is `<COPY IT FROM YOUR OAUTH2 SERVER>`, a placeholder left from an example
          --> $DIR/tests/fixtures/config-fixed.yaml:22:22
           |
        22 |       client_secret: "<COPY IT FROM YOUR OAUTH2 SERVER>"
           |                      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
           = note: it would be used literally as the secret or id
           = help: set a real value (for secrets: `openssl rand -hex 32`, for OAuth: copy it from your GitLab application); `jhub serve` refuses to start with a placeholder

        warning: `hub.config.GitLabOAuthenticator.admin_users[0]` is `<adminer_username>`, a placeholder left from an example
          --> $DIR/tests/fixtures/config-fixed.yaml:34:11
           |
        34 |         - <adminer_username>
           |           ^^^^^^^^^^^^^^^^^^
           = note: it is used literally, which is almost certainly not intended
           = help: replace it with the real value

        warning: `hub.config.GitLabOAuthenticator.allowed_gitlab_groups[0]` is `<group_name>`, a placeholder left from an example
          --> $DIR/tests/fixtures/config-fixed.yaml:36:11
           |
        36 |         - <group_name>
           |           ^^^^^^^^^^^^
           = note: it is used literally, which is almost certainly not intended
           = help: replace it with the real value

        warning: `cpu_gurantee` is not a KubeSpawner setting
          --> $DIR/tests/fixtures/config-fixed.yaml:87:9
           |
        87 |         cpu_gurantee: 1
           |         ^^^^^^^^^^^^
           = note: KubeSpawner silently ignores it (it only becomes a stray attribute of the spawner), so no CPU request is set and Kubernetes sets the CPU request equal to the limit: every server reserves 8 CPUs
           = help: did you mean `cpu_guarantee`?

        warning: `memo_gurantee` is not a KubeSpawner setting
          --> $DIR/tests/fixtures/config-fixed.yaml:88:9
           |
        88 |         memo_gurantee: "1G"
           |         ^^^^^^^^^^^^^
           = note: KubeSpawner silently ignores it (it only becomes a stray attribute of the spawner), so the memory request comes from singleuser.memory.guarantee (1G) instead
           = help: did you mean `mem_guarantee`?

        warning: `cpu_gurantee` is not a KubeSpawner setting
           --> $DIR/tests/fixtures/config-fixed.yaml:108:9
            |
        108 |         cpu_gurantee: 1
            |         ^^^^^^^^^^^^
            = note: KubeSpawner silently ignores it (it only becomes a stray attribute of the spawner), so no CPU request is set and Kubernetes sets the CPU request equal to the limit: every server reserves 8 CPUs
            = help: did you mean `cpu_guarantee`?

        warning: `mem_gurantee` is not a KubeSpawner setting
           --> $DIR/tests/fixtures/config-fixed.yaml:109:9
            |
        109 |         mem_gurantee: "1G"
            |         ^^^^^^^^^^^^
            = note: KubeSpawner silently ignores it (it only becomes a stray attribute of the spawner), so the memory request comes from singleuser.memory.guarantee (1G) instead
            = help: did you mean `mem_guarantee`?

    "#]].assert_eq(&text);
}

#[test]
fn check_config_exit_status_and_summary() {
    let bad = jhub_config::check_config(&[fixture("config.yaml")], &Environment::empty(), Format::Human, false);
    assert!(!bad.ok);
    assert!(
        bad.output.ends_with("check-config: configuration has errors (1 error, 0 warnings, 0 info)\n"),
        "{}",
        bad.output
    );
    let good = jhub_config::check_config(&[fixture("config-fixed.yaml")], &Environment::empty(), Format::Human, true);
    assert!(good.ok);
    assert!(good.output.contains("cpu_gurantee: 1  # "), "--print output is included");
    assert!(
        good.output.ends_with("check-config: configuration is usable (0 errors, 10 warnings, 1 info)\n"),
        "{}",
        good.output
    );
    let json = jhub_config::check_config(&[fixture("config.yaml")], &Environment::empty(), Format::Json, false);
    let parsed: serde_json::Value = serde_json::from_str(&json.output).unwrap();
    assert_eq!(parsed[0]["location"]["line"], 49);
    assert_eq!(parsed[0]["code"], "yaml-indent");
}

/// Lines (1-based) of the fixture that contain `needle`, computed from the file.
fn lines_with(name: &str, needle: &str) -> Vec<usize> {
    let text = std::fs::read_to_string(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    text.lines().enumerate().filter(|(_, l)| l.contains(needle)).map(|(i, _)| i + 1).collect()
}

#[test]
fn each_seed_mistake_is_reported_at_its_own_line() {
    let loaded = load(&[fixture("config-fixed.yaml")], &Environment::empty()).unwrap();
    let lines_of = |code: &str, key_part: &str| -> Vec<usize> {
        loaded
            .diagnostics
            .iter()
            .filter(|d| d.code == code && d.key.as_deref().is_some_and(|k| k.contains(key_part)))
            .map(|d| d.location.as_ref().unwrap().line)
            .collect()
    };
    for typo in ["cpu_gurantee", "memo_gurantee", "mem_gurantee"] {
        assert_eq!(
            lines_of("unknown-trait", &format!(".{typo}")),
            lines_with("config-fixed.yaml", &format!("{typo}:")),
            "{typo}"
        );
    }
    for placeholder in [
        "<GENERATE SECRET TOKEN BY YOURSELF>",
        "<COPY IT FROM YOUR OAUTH2 SERVER>",
        "<adminer_username>",
        "<group_name>",
    ] {
        let reported: Vec<usize> = loaded
            .diagnostics
            .iter()
            .filter(|d| d.code == "placeholder" && d.message.contains(placeholder))
            .map(|d| d.location.as_ref().unwrap().line)
            .collect();
        assert_eq!(reported, lines_with("config-fixed.yaml", placeholder), "{placeholder}");
    }
    assert_eq!(lines_of("node-port-range", "nodePorts.http"), lines_with("config-fixed.yaml", "http: 34567"));
    let cpu = loaded.diagnostics.iter().find(|d| d.message.contains("cpu_gurantee")).unwrap();
    assert_eq!(cpu.help.as_deref(), Some("did you mean `cpu_guarantee`?"));
    assert!(cpu.notes[0].contains("Kubernetes sets the CPU request equal to the limit: every server reserves 8 CPUs"));
    let broken = load(&[fixture("config.yaml")], &Environment::empty()).unwrap_err();
    let loc = broken.diagnostics[0].location.as_ref().unwrap();
    assert_eq!((loc.line, loc.col), (lines_with("config.yaml", "   extraPodConfig:")[0], 4));
}
