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
