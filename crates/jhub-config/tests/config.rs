//! Data-driven checks of the loader: each case is a values file and the
//! rendered diagnostics it must produce (snapshots refreshed with
//! `UPDATE_EXPECT=1`), plus the typed results that matter.

use expect_test::{Expect, expect, expect_file};
use jhub_config::keys::{self, Class};
use jhub_config::{
    Authenticator, DbTarget, Environment, Format, HubConfig, Loaded, Severity, Source, check_secrets, load,
    load_z2jh_mount, print_effective, reference_markdown,
};

fn text(name: &str, yaml: &str) -> Source {
    Source::Text { name: name.into(), text: yaml.into() }
}

fn env(vars: &[(&str, &str)]) -> Environment {
    Environment::new(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

fn run(sources: &[Source], env: &Environment) -> String {
    match load(sources, env) {
        Ok(l) => format!("ok\n{}", l.render_diagnostics(Format::Human)),
        Err(e) => format!("failed\n{}", e.render(Format::Human)),
    }
}

fn check(yaml: &str, expect: Expect) {
    expect.assert_eq(&run(&[text("values.yaml", yaml)], &Environment::empty()));
}

fn check_env(yaml: &str, vars: &[(&str, &str)], expect: Expect) {
    expect.assert_eq(&run(&[text("values.yaml", yaml)], &env(vars)));
}

fn loaded(yaml: &str) -> Loaded {
    load(&[text("values.yaml", yaml)], &Environment::empty()).unwrap_or_else(|e| panic!("{e}"))
}

fn seed_fixed() -> Source {
    Source::File(format!("{}/tests/fixtures/config-fixed.yaml", env!("CARGO_MANIFEST_DIR")).into())
}

// ---- syntax ---------------------------------------------------------------

#[test]
fn empty_file_is_fine() {
    check(
        "",
        expect![[r#"
        ok
    "#]],
    );
    check(
        "# nothing\n",
        expect![[r#"
        ok
    "#]],
    );
}

#[test]
fn syntax_errors() {
    check(
        "hub:\n  baseUrl: \"/x\n",
        expect![[r#"
            failed
            error: invalid YAML: while scanning a quoted scalar, found unexpected end of stream
             --> values.yaml:2:12
              |
            2 |   baseUrl: "/x
              |            ^^^

        "#]],
    );
    check(
        "hub:\n\tbaseUrl: /x\n",
        expect![[r#"
        failed
        error: a tab character is used for indentation; YAML allows only spaces
         --> values.yaml:2:1
          |
        2 | 	baseUrl: /x
          | ^^^^^^^^
          = note: the YAML parser stopped at line 2, column 2: tabs disallowed within this context (block indentation)
          = help: replace the tab with spaces matching the lines around it

    "#]],
    );
    check(
        "- a\n- b\n",
        expect![[r#"
        failed
        error: a values file must be a mapping of keys at the top level
         --> values.yaml:1:1
          |
        1 | - a
          | ^^^

    "#]],
    );
    check(
        "cull:\n  timeout: 600\n   every: 60\n",
        expect![[r#"
            failed
            error: `every` is indented 3 spaces while its siblings under `cull` (line 1) use 2 spaces
             --> values.yaml:3:4
              |
            3 |    every: 60
              |    ^^^^^
              = note: the YAML parser stopped at line 3, column 9: mapping values are not allowed in this context
              = note: Helm fails on this file too ("did not find expected key"), so nothing would be deployed
              = note: siblings at 2 spaces: line 2
              = help: indent `every` with 2 spaces like its siblings: move line 3 1 space left

        "#]],
    );
}

#[test]
fn yaml_notices() {
    check(
        "debug:\n  enabled: yes\ncull:\n  users: false\n  users: true\n",
        expect![[r#"
        ok
        warning: `yes` is read as the boolean true (YAML 1.1, as Helm reads it)
         --> values.yaml:2:12
          |
        2 |   enabled: yes
          |            ^^^
          = help: write `true` if you mean a boolean, or quote it ("yes") if you mean the text

        warning: `users` appears twice in the same mapping; the later value wins
         --> values.yaml:5:3
          |
        5 |   users: true
          |   ^^^^^
          = note: the first one, at line 4, is ignored (Helm does the same)
          = help: delete one of them

    "#]],
    );
    assert!(loaded("debug:\n  enabled: on\n").config.debug);
}

// ---- keys -----------------------------------------------------------------

#[test]
fn unknown_keys_get_suggestions() {
    check(
        "singleusr:\n  startTimeout: 10\n",
        expect![[r#"
        failed
        error: unknown key `singleusr` at the top level
         --> values.yaml:1:1
          |
        1 | singleusr:
          | ^^^^^^^^^
          = note: z2jh's schema does not allow it, so helm would refuse the install
          = help: did you mean `singleuser`?

    "#]],
    );
    check(
        "hub:\n  baseURL: /x/\n",
        expect![[r#"
        failed
        error: unknown key `baseURL` under `hub`
         --> values.yaml:2:3
          |
        2 |   baseURL: /x/
          |   ^^^^^^^
          = note: z2jh's schema does not allow it, so helm would refuse the install
          = help: did you mean `baseUrl`?

    "#]],
    );
    check(
        "hub:\n  startTimeout: 10\n",
        expect![[r#"
            failed
            error: unknown key `startTimeout` under `hub`
             --> values.yaml:2:3
              |
            2 |   startTimeout: 10
              |   ^^^^^^^^^^^^
              = note: z2jh's schema does not allow it, so helm would refuse the install
              = help: `startTimeout` exists under `singleuser`, as `singleuser.startTimeout`; move it there

        "#]],
    );
    check(
        "proxy:\n  service:\n    nodePort:\n      http: 30000\n",
        expect![[r#"
        failed
        error: unknown key `nodePort` under `proxy.service`
         --> values.yaml:3:5
          |
        3 |     nodePort:
          |     ^^^^^^^^
          = note: z2jh's schema does not allow it, so helm would refuse the install
          = help: did you mean `nodePorts`?

    "#]],
    );
}

#[test]
fn schema_types_are_checked() {
    check(
        "cull:\n  timeout: \"600\"\nhub:\n  db:\n    type: sqlite\n",
        expect![[r#"
            failed
            error: `cull.timeout` must be integer or null, not "600"
             --> values.yaml:2:12
              |
            2 |   timeout: "600"
              |            ^^^^^
              = note: the chart's values.schema.json rejects this, so helm would refuse the install

            error: `hub.db.type` must be one of sqlite-pvc, sqlite-memory, mysql, postgres, other, not "sqlite"
             --> values.yaml:5:11
              |
            5 |     type: sqlite
              |           ^^^^^^
              = note: the chart's values.schema.json rejects this, so helm would refuse the install

        "#]],
    );
}

#[test]
fn ignored_keys_are_reported_once_at_the_last_file() {
    let a = text("a.yaml", "hub:\n  db:\n    upgrade: true\n");
    let b = text("b.yaml", "hub:\n  db:\n    upgrade: false\n");
    expect![[r#"
        ok
        warning: `hub.db.upgrade` is valid z2jh, not supported by jhub, ignored
         --> b.yaml:3:5
          |
        3 |     upgrade: false
          |     ^^^^^^^
          = note: jhub applies its schema migrations on every start

    "#]]
    .assert_eq(&run(&[a, b], &Environment::empty()));
    check(
        "hub:\n  extraConfig:\n    00-first: |\n      c.JupyterHub.x = 1\n    10-second: print(1)\n",
        expect![[r#"
        ok
        warning: hub.extraConfig holds Python code (00-first, 10-second); jhub cannot run Python configuration, so it is ignored
         --> values.yaml:2:3
          |
        2 |   extraConfig:
          |   ^^^^^^^^^^^
          = help: express the same settings as hub.config.<Section> values, or ask for the feature you need

    "#]],
    );
    check(
        "hub:\n  services:\n    monitor:\n      command: [python3, -m, monitor]\n      apiToken: 0123456789abcdef\n",
        expect![[r#"
            ok
            warning: `hub.services.monitor.command` is valid z2jh, not supported by jhub, ignored
             --> values.yaml:4:7
              |
            4 |       command: [python3, -m, monitor]
              |       ^^^^^^^
              = note: the Python hub starts such services as its own subprocesses; jhub does not run subprocesses
              = help: run the service yourself (e.g. as a sidecar or Deployment) and set `hub.services.monitor.url` and an apiToken

        "#]],
    );
    check(
        "rbac:\n  enabled: true\n",
        expect![[r#"
        ok
        warning: `rbac.enabled` is valid z2jh, not supported by jhub, ignored
         --> values.yaml:2:3
          |
        2 |   enabled: true
          |   ^^^^^^^
          = note: removed from z2jh (use rbac.create); the chart refuses to install with it

    "#]],
    );
}

#[test]
fn chart_only_keys_are_silent() {
    check(
        "hub:\n  resources:\n    requests:\n      cpu: 1\nproxy:\n  chp:\n    image:\n      tag: \"5.2.0\"\nprePuller:\n  hook:\n    enabled: false\n",
        expect![[r#"
            ok
        "#]],
    );
}

#[test]
fn hub_config_sections() {
    check(
        "hub:\n  config:\n    gitlaboauthenticator:\n      client_id: x\n    NativeAuthenticator:\n      open_signup: true\n    JupyterHub:\n      concurent_spawn_limit: 5\n      subdomain_host: https://x.org\n      spawner_class: kubespawner.KubeSpawner\n      admin_access: \"yes\"\n",
        expect![[r#"
            failed
            error: `hub.config.gitlaboauthenticator`: hub.config sections are class names and must start with an upper-case letter
             --> values.yaml:3:5
              |
            3 |     gitlaboauthenticator:
              |     ^^^^^^^^^^^^^^^^^^^^
              = note: z2jh 4.3 and later refuse to start the hub with a lower-case section
              = help: did you mean `GitLabOAuthenticator`?

            warning: `hub.config.NativeAuthenticator` is valid z2jh, not supported by jhub, ignored
             --> values.yaml:5:5
              |
            5 |     NativeAuthenticator:
              |     ^^^^^^^^^^^^^^^^^^^
              = note: jhub reads these hub.config sections: JupyterHub, Authenticator, OAuthenticator, GitLabOAuthenticator, DummyAuthenticator, SharedPasswordAuthenticator, ConfigurableHTTPProxy, Proxy, CryptKeeper, JhubSecurity, KubeSpawner, Spawner, JhubUsage, JhubStorage, JhubSpawnQueue

            warning: `concurent_spawn_limit` is not a JupyterHub setting jhub knows
             --> values.yaml:8:7
              |
            8 |       concurent_spawn_limit: 5
              |       ^^^^^^^^^^^^^^^^^^^^^
              = note: JupyterHub would only log "Config option not recognized" and ignore it; so does jhub
              = help: did you mean `concurrent_spawn_limit`?

            warning: `hub.config.JupyterHub.subdomain_host` is valid z2jh, not supported by jhub, ignored
             --> values.yaml:9:7
              |
            9 |       subdomain_host: https://x.org
              |       ^^^^^^^^^^^^^^
              = note: jhub serves user servers on paths of one host; subdomain hosting is not supported

            warning: `hub.config.JupyterHub.spawner_class` cannot be changed in jhub, ignored
              --> values.yaml:10:7
               |
            10 |       spawner_class: kubespawner.KubeSpawner
               |       ^^^^^^^^^^^^^
               = note: jhub always uses its KubeSpawner-compatible spawner

            error: `hub.config.JupyterHub.admin_access`: admin_access: expected a boolean, not a string; got "yes". Accepted: true or false. Example: admin_access: true
              --> values.yaml:11:21
               |
            11 |       admin_access: "yes"
               |                     ^^^^^
               = note: traitlets would refuse it when the hub starts

        "#]],
    );
    check(
        "hub:\n  config:\n    JupyterHub:\n      authenticator_class: github\n",
        expect![[r#"
            failed
            error: authenticator_class `github` is not supported by jhub
             --> values.yaml:4:28
              |
            4 |       authenticator_class: github
              |                            ^^^^^^
              = note: jhub implements GitLab OAuth (`gitlab`), `dummy` and `shared-password`
              = help: set hub.config.JupyterHub.authenticator_class to `gitlab` (oauthenticator.gitlab.GitLabOAuthenticator)

        "#]],
    );
}

#[test]
fn gitlab_settings_and_aliases() {
    let l = loaded(
        "hub:\n  config:\n    JupyterHub:\n      authenticator_class: gitlab\n    Authenticator:\n      admin_users: [root]\n      allowed_users: [bob]\n    GitLabOAuthenticator:\n      gitlab_url: git.example.org/\n      gitlab_group_whitelist: [team]\n      allowed_project_ids: [7, \"8\"]\n      admin_users: [alice]\n",
    );
    let Authenticator::Gitlab(g) = &l.config.auth.authenticator else { panic!("not gitlab") };
    assert_eq!(g.gitlab_url, "https://git.example.org");
    assert!(g.allowed_gitlab_groups.contains("team"));
    assert_eq!(g.allowed_project_ids.iter().copied().collect::<Vec<_>>(), vec![7, 8]);
    // The more specific section wins, like traitlets.
    assert_eq!(l.config.auth.admin_users.iter().collect::<Vec<_>>(), vec!["alice"]);
    assert_eq!(l.config.auth.allowed_users.iter().collect::<Vec<_>>(), vec!["bob"]);
    expect![[r#"
        warning: `hub.config.GitLabOAuthenticator.gitlab_group_whitelist` is deprecated; it still works as `allowed_gitlab_groups`
          --> values.yaml:10:7
           |
        10 |       gitlab_group_whitelist: [team]
           |       ^^^^^^^^^^^^^^^^^^^^^^
           = help: rename it to `allowed_gitlab_groups`

    "#]].assert_eq(&l.render_diagnostics(Format::Human));
    check(
        "hub:\n  config:\n    JupyterHub:\n      authenticator_class: oauthenticator.gitlab.GitLabOAuthenticator\n    GitLabOAuthenticator:\n      allowed_groups: [x]\n",
        expect![[r#"
            failed
            warning: GitLab login is configured without any allow rule: only admin_users can log in
             --> values.yaml:5:5
              |
            5 |     GitLabOAuthenticator:
              |     ^^^^^^^^^^^^^^^^^^^^
              = help: set allowed_gitlab_groups, allowed_project_ids, allowed_users, manage_groups with allowed_groups, or allow_all: true

            error: allowed_groups/admin_groups/auth_state_groups_key need manage_groups: true
             --> values.yaml:6:7
              |
            6 |       allowed_groups: [x]
              |       ^^^^^^^^^^^^^^
              = note: these name hub groups; with manage_groups jhub makes each user's GitLab groups (full paths, e.g. `lab/gpu`) their hub groups at every login and refresh (OAuthenticator refuses to start without manage_groups too)
              = help: set Authenticator.manage_groups: true, or use allowed_gitlab_groups

        "#]],
    );
}

// ---- KubeSpawner rules ------------------------------------------------------

#[test]
fn memory_sizes_follow_kubespawner() {
    check(
        "singleuser:\n  memory:\n    limit: 16G\n    guarantee: 512M\n",
        expect![[r#"
        ok
    "#]],
    );
    check(
        "singleuser:\n  memory:\n    limit: 16Gi\n",
        expect![[r#"
        failed
        error: `singleuser.memory.limit`: byte specification: 16Gi is not a valid memory specification; got "16Gi". Accepted: a number of bytes, or a number followed by K, M, G or T (1024-based, upper case, no 'i'). Example: 16G (= 17179869184 bytes), 512M, 1.5G
         --> values.yaml:3:12
          |
        3 |     limit: 16Gi
          |            ^^^^
          = note: KubeSpawner (JupyterHub's ByteSpecification) rejects it, so every spawn would fail
          = help: write `16G`: JupyterHub's K/M/G/T are already powers of 1024 ("16G" = 16Gi)

    "#]],
    );
    let profile = |v: &str| {
        format!(
            "singleuser:\n  profileList:\n    - display_name: big\n      kubespawner_override:\n        mem_limit: {v}\n"
        )
    };
    check(
        &profile("\"16G\""),
        expect![[r#"
        ok
    "#]],
    );
    check(
        &profile("\"16Gi\""),
        expect![[r#"
        failed
        error: `singleuser.profileList[0].kubespawner_override.mem_limit`: mem_limit: 16Gi is not a valid memory specification; got "16Gi". Accepted: a number of bytes, or a number followed by K, M, G or T (1024-based, upper case, no 'i'), or null. Example: mem_limit: 16G  (= 17179869184 bytes)
         --> values.yaml:5:20
          |
        5 |         mem_limit: "16Gi"
          |                    ^^^^^^
          = note: KubeSpawner raises TraitError and the spawn fails
          = help: write `16G`: JupyterHub's K/M/G/T are already powers of 1024 ("16G" = 16Gi)

    "#]],
    );
}

#[test]
fn profile_overrides_are_checked() {
    check(
        "singleuser:\n  profileList:\n    - display_name: a\n      kubespawner_overide:\n        image: x\n    - display_name: b\n      kubespawner_override:\n        cpu_limit: \"8\"\n        node_selectr: {gpu: a100}\n        cpu_gurantee: 1\n      profile_options:\n        img:\n          display_name: Image\n          choices:\n            one:\n              display_name: One\n              kubespawner_override:\n                imagee: foo\n          unlisted_choice:\n            enabled: true\n            kubespawner_override:\n              image: \"{value}\"\n",
        expect![[r#"
            failed
            warning: `kubespawner_overide` is not a profileList key; KubeSpawner ignores it silently
             --> values.yaml:4:7
              |
            4 |       kubespawner_overide:
              |       ^^^^^^^^^^^^^^^^^^^
              = help: did you mean `kubespawner_override`?

            error: `singleuser.profileList[1].kubespawner_override.cpu_limit`: cpu_limit: expected a number, not a string; got "8". Accepted: a number, not a string, or null. Example: cpu_limit: 8  (or 0.5)
             --> values.yaml:8:20
              |
            8 |         cpu_limit: "8"
              |                    ^^^
              = note: KubeSpawner raises TraitError and the spawn fails
              = help: write a number without quotes, e.g. `cpu_limit: 8`

            error: `node_selectr` is not a KubeSpawner setting
             --> values.yaml:9:9
              |
            9 |         node_selectr: {gpu: a100}
              |         ^^^^^^^^^^^^
              = note: with a mapping value KubeSpawner fails every spawn of this profile with AttributeError
              = help: did you mean `node_selector`?

            warning: `cpu_gurantee` is not a KubeSpawner setting
              --> values.yaml:10:9
               |
            10 |         cpu_gurantee: 1
               |         ^^^^^^^^^^^^
               = note: KubeSpawner silently ignores it (it only becomes a stray attribute of the spawner), so no CPU request is set and Kubernetes sets the CPU request equal to the limit: every server reserves 8 CPUs
               = help: did you mean `cpu_guarantee`?

            warning: `imagee` is not a KubeSpawner setting
              --> values.yaml:18:17
               |
            18 |                 imagee: foo
               |                 ^^^^^^
               = note: KubeSpawner silently ignores it (it only becomes a stray attribute of the spawner); it has no effect on the pod
               = help: did you mean `image`?

        "#]],
    );
    check(
        "hub:\n  config:\n    KubeSpawner:\n      cpu_gurantee: 1\n      mem_limit: 2Gi\n      modify_pod_hook: my.module.hook\n",
        expect![[r#"
            failed
            warning: `cpu_gurantee` is not a KubeSpawner setting
             --> values.yaml:4:7
              |
            4 |       cpu_gurantee: 1
              |       ^^^^^^^^^^^^
              = note: KubeSpawner would log "Config option not recognized" and ignore it
              = help: did you mean `cpu_guarantee`?

            error: `hub.config.KubeSpawner.mem_limit`: mem_limit: 2Gi is not a valid memory specification; got "2Gi". Accepted: a number of bytes, or a number followed by K, M, G or T (1024-based, upper case, no 'i'), or null. Example: mem_limit: 16G  (= 17179869184 bytes)
             --> values.yaml:5:18
              |
            5 |       mem_limit: 2Gi
              |                  ^^^
              = note: the hub refuses the setting when it creates a spawner
              = help: write `2G`: JupyterHub's K/M/G/T are already powers of 1024 ("2G" = 2Gi)

            warning: `hub.config.KubeSpawner.modify_pod_hook` is valid z2jh, not supported by jhub, ignored
             --> values.yaml:6:7
              |
            6 |       modify_pod_hook: my.module.hook
              |       ^^^^^^^^^^^^^^^
              = note: in KubeSpawner it takes Python code (a callable), which jhub cannot run

        "#]],
    );
}

// ---- other checks -------------------------------------------------------------

#[test]
fn cull_sanity() {
    check(
        "cull:\n  timeout: 120\n  every: 600\n",
        expect![[r#"
        ok
        warning: cull.timeout is 120s, shorter than 5 minutes
         --> values.yaml:2:12
          |
        2 |   timeout: 120
          |            ^^^
          = note: user servers report activity every 5 minutes and the proxy every 60 s, so busy servers may be culled
          = help: use at least 300 (600 or more is usual)

        warning: cull.every (600s) is longer than cull.timeout (120s)
         --> values.yaml:3:10
          |
        3 |   every: 600
          |          ^^^
          = note: idle servers can run up to timeout + every before they are stopped
          = help: use an interval of at most half the timeout

    "#]],
    );
    let l = loaded("cull:\n  timeout: 3600\n  every: 0\n  maxAge: 7200\n  users: true\n");
    let p = &l.config.cull.policy;
    assert_eq!(
        (p.timeout.as_secs(), p.every.as_secs(), p.max_age.as_secs()),
        (3600, 1800, 7200),
        "every 0 → timeout/2"
    );
    assert!(p.cull_users);
    let d = loaded("").config.cull.policy;
    assert_eq!((d.timeout.as_secs(), d.every.as_secs(), d.concurrency), (3600, 600, 10), "z2jh defaults");
}

#[test]
fn databases() {
    check(
        "hub:\n  db:\n    type: mysql\n    url: mysql://x\n",
        expect![[r#"
        failed
        error: hub.db.type `mysql` is not supported by jhub
         --> values.yaml:3:11
          |
        3 |     type: mysql
          |           ^^^^^
          = help: use postgres (or sqlite-pvc for small hubs); the data can be moved with JupyterHub's own tools before switching

    "#]],
    );
    check(
        "hub:\n  db:\n    type: postgres\n",
        expect![[r#"
        failed
        error: hub.db.type is `postgres` but hub.db.url is not set
         --> values.yaml:3:11
          |
        3 |     type: postgres
          |           ^^^^^^^^
          = help: set hub.db.url, e.g. postgresql://jhub@db.example.org:5432/jhub

    "#]],
    );
    let l = loaded("hub:\n  db:\n    type: postgres\n    url: postgresql+psycopg2://jhub@db:5432/jhub\n");
    assert_eq!(l.config.hub.db.target, DbTarget::Postgres { url: "postgresql://jhub@db:5432/jhub".into() });
    let local = load(&[text("v.yaml", "")], &env(&[("JHUB_DATA_DIR", "/tmp/jhub")])).unwrap();
    assert_eq!(local.config.hub.db.target, DbTarget::Sqlite { path: "/tmp/jhub/jhub.sqlite".into() });
}

#[test]
fn z2jh_defaults_reach_the_typed_config() {
    let c: HubConfig = loaded("").config;
    assert_eq!(c.hub.base_url, "/");
    assert_eq!((c.hub.bind_address.as_str(), c.hub.port), ("0.0.0.0", 8081));
    assert_eq!(c.hub.hub_connect_url, "http://hub:8081");
    assert_eq!(c.hub.api_url, "http://hub:8081/hub/api");
    assert_eq!(c.proxy.api_url, "http://proxy-api:8001");
    assert_eq!(c.hub.concurrent_spawn_limit, 64);
    assert_eq!(c.hub.consecutive_failure_limit, 5);
    assert_eq!(c.hub.last_activity_interval, 60);
    assert!(c.hub.admin_access, "z2jh's hub.config.JupyterHub.admin_access default");
    assert_eq!(c.spawner.start_timeout, 300);
    assert!(matches!(c.auth.authenticator, Authenticator::Dummy { .. }));
    assert!(c.cull.enabled);
    let c = loaded("hub:\n  baseUrl: jhub\n  config:\n    JupyterHub:\n      hub_connect_url: http://jhub.ns:9000\n")
        .config;
    assert_eq!(c.hub.base_url, "/jhub/");
    assert_eq!(c.hub.api_url, "http://jhub.ns:9000/jhub/hub/api");
}

// ---- merge, env, provenance ---------------------------------------------------

#[test]
fn helm_merge_across_files() {
    let a = text(
        "a.yaml",
        "hub:\n  templatePaths: [/a, /b]\n  concurrentSpawnLimit: 10\n  loadRoles:\n    r1: {scopes: [read:users]}\ncull:\n  timeout: 1200\n",
    );
    let b = text(
        "b.yaml",
        "hub:\n  templatePaths: [/c]\n  loadRoles:\n    r2: {scopes: [list:users]}\ncull:\n  timeout: null\n",
    );
    let l = load(&[a, b], &Environment::empty()).unwrap();
    assert_eq!(l.config.hub.template_paths, vec!["/c"], "lists replace");
    assert_eq!(l.config.hub.concurrent_spawn_limit, 10, "maps merge");
    assert_eq!(l.config.hub.load_roles.len(), 2, "maps merge");
    assert_eq!(l.config.cull.policy.timeout.as_secs(), 600, "null deletes the key; the culler default applies");
    assert_eq!(l.provenance("hub.templatePaths").unwrap().to_string(), "b.yaml:2");
    assert_eq!(l.provenance("hub.concurrentSpawnLimit").unwrap().to_string(), "a.yaml:3");
    assert_eq!(l.provenance("hub.baseUrl").unwrap().to_string(), "default");
    assert!(l.provenance("cull.timeout").is_none());
    assert_eq!(l.merged_values["hub"]["templatePaths"], serde_json::json!(["/c"]));
}

#[test]
fn env_overrides_and_z2jh_variables() {
    let vars = [
        ("JHUB_VALUES__cull__timeout", "1200"),
        ("JHUB_VALUES__hub__templatePaths", "[/t]"),
        ("CONFIGPROXY_AUTH_TOKEN", "from-env"),
        ("JUPYTERHUB_CRYPT_KEY", "k"),
        ("POD_NAMESPACE", "jhub"),
        ("HELM_RELEASE_NAME", "rel"),
    ];
    let l = load(&[text("v.yaml", "cull:\n  timeout: 600\n")], &env(&vars)).unwrap();
    assert_eq!(l.config.cull.policy.timeout.as_secs(), 1200);
    assert_eq!(l.provenance("cull.timeout").unwrap().to_string(), "env JHUB_VALUES__cull__timeout");
    assert_eq!(l.config.hub.template_paths, vec!["/t"]);
    assert_eq!(l.config.proxy.auth_token.as_ref().unwrap().expose(), "from-env");
    assert_eq!(l.config.hub.crypt_keys.as_ref().unwrap().expose(), "k");
    assert_eq!(l.config.spawner.namespace, "jhub");
    assert_eq!(l.config.spawner.release_name, "rel");
    // Configured values win over the z2jh environment fallbacks.
    let l = load(&[text("v.yaml", "proxy:\n  secretToken: from-file\n")], &env(&vars)).unwrap();
    assert_eq!(l.config.proxy.auth_token.as_ref().unwrap().expose(), "from-file");
    check_env(
        "",
        &[("JHUB_VALUE__hub__baseUrl", "/x"), ("JHUB_DATA_DIRR", "/x"), ("JHUB_VALUES__hub__baseUrll", "/x")],
        expect![[r#"
            failed
            error: unknown key `baseUrll` under `hub`
              = note: z2jh's schema does not allow it, so helm would refuse the install
              = note: set by the environment variable JHUB_VALUES__hub__baseUrll
              = help: did you mean `baseUrl`?

            warning: environment variable `JHUB_DATA_DIRR` is not used by jhub
              = help: did you mean `JHUB_DATA_DIR`?

            warning: environment variable `JHUB_VALUE__hub__baseUrl` is not used by jhub
              = help: values overrides are written JHUB_VALUES__<key>__<key> (e.g. JHUB_VALUES__hub__baseUrl)

        "#]],
    );
    check_env(
        "",
        &[("JHUB_VALUES__hub__baseUrl", "[unclosed")],
        expect![[r#"
        failed
        error: `JHUB_VALUES__hub__baseUrl` is not valid YAML: while parsing a flow sequence, expected ',' or ']'
          = help: quote the value, e.g. JHUB_VALUES__hub__baseUrl='"/jhub/"'

    "#]],
    );
    let quiet = Environment::new([("JHUB_LOG", "debug")]).with_known_vars(&["JHUB_LOG"]);
    assert!(load(&[], &quiet).unwrap().diagnostics.is_empty());
}

#[test]
fn gitlab_environment_fallbacks() {
    let vars = [
        ("GITLAB_URL", "https://gl.example.org/"),
        ("GITLAB_CLIENT_ID", "id-from-env"),
        ("OAUTH_CLIENT_SECRET", "secret-from-env"),
        ("OAUTH_CALLBACK_URL", "https://hub.example.org/hub/oauth_callback"),
    ];
    let l = load(
        &[text("v.yaml", "hub:\n  config:\n    JupyterHub:\n      authenticator_class: gitlab\n    GitLabOAuthenticator:\n      allow_all: true\n")],
        &env(&vars),
    )
    .unwrap();
    let Authenticator::Gitlab(g) = &l.config.auth.authenticator else { panic!() };
    assert_eq!(g.gitlab_url, "https://gl.example.org");
    assert_eq!(g.client_id.as_ref().unwrap().value, "id-from-env");
    assert_eq!(g.client_secret.as_ref().unwrap().expose(), "secret-from-env");
    assert_eq!(g.oauth_callback_url.as_deref(), Some("https://hub.example.org/hub/oauth_callback"));
    assert!(l.config.auth.allow_all);
}

// ---- secrets ------------------------------------------------------------------

fn secret_errors(l: &Loaded, dev: bool) -> String {
    match check_secrets(&l.config, dev) {
        Ok(()) => "ok".into(),
        Err(diags) => jhub_config::render_diagnostics(&diags, &l.sources, Format::Human),
    }
}

#[test]
fn serve_refuses_placeholder_secrets_unless_dev() {
    let seed = load(&[seed_fixed()], &Environment::empty()).unwrap();
    let text = secret_errors(&seed, false).replace(env!("CARGO_MANIFEST_DIR"), "$DIR");
    expect![[r#"
        error: the proxy auth token is a placeholder from an example; refusing to start
         --> $DIR/tests/fixtures/config-fixed.yaml:8:3
          |
        8 |   secretToken: "<GENERATE SECRET TOKEN BY YOURSELF>"
          |   ^^^^^^^^^^^
          = note: it comes from $DIR/tests/fixtures/config-fixed.yaml:8
          = note: for a local trial only, `jhub serve --dev` starts anyway
          = help: set `proxy.secretToken` — generate one with `openssl rand -hex 32`; the proxy must be started with the same token

        error: the cookie secret is not set; refusing to start
          = note: for a local trial only, `jhub serve --dev` starts anyway
          = note: in a Helm install the chart generates it into the hub Secret; outside Helm it must be configured
          = help: set `hub.cookieSecret` or `hub.config.JupyterHub.cookie_secret` — generate one with `openssl rand -hex 32`

        error: the GitLab OAuth client secret is a placeholder from an example; refusing to start
          --> $DIR/tests/fixtures/config-fixed.yaml:22:7
           |
        22 |       client_secret: "<COPY IT FROM YOUR OAUTH2 SERVER>"
           |       ^^^^^^^^^^^^^
           = note: it comes from $DIR/tests/fixtures/config-fixed.yaml:22
           = note: for a local trial only, `jhub serve --dev` starts anyway
           = help: set `hub.config.GitLabOAuthenticator.client_secret` — copy the Secret of your GitLab application (Admin Area or User Settings → Applications)

        error: the GitLab OAuth client id is a placeholder from an example; refusing to start
          --> $DIR/tests/fixtures/config-fixed.yaml:21:7
           |
        21 |       client_id: "<COPY IT FROM YOUR OAUTH2 SERVER>"
           |       ^^^^^^^^^
           = note: it comes from $DIR/tests/fixtures/config-fixed.yaml:21
           = help: set `hub.config.GitLabOAuthenticator.client_id` (or GITLAB_CLIENT_ID) to the Application ID of your GitLab application

    "#]].assert_eq(&text);
    assert_eq!(secret_errors(&seed, true), "ok");

    let good = loaded(
        "proxy:\n  secretToken: 3f1c0e8a9b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e\nhub:\n  cookieSecret: 0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9\n",
    );
    assert_eq!(secret_errors(&good, false), "ok");
    let empty = loaded("proxy:\n  secretToken: \"\"\n");
    expect![[r#"
        error: the proxy auth token is empty; refusing to start
         --> values.yaml:2:3
          |
        2 |   secretToken: ""
          |   ^^^^^^^^^^^
          = note: it comes from values.yaml:2
          = note: for a local trial only, `jhub serve --dev` starts anyway
          = help: set `proxy.secretToken` — generate one with `openssl rand -hex 32`; the proxy must be started with the same token

        error: the cookie secret is not set; refusing to start
          = note: for a local trial only, `jhub serve --dev` starts anyway
          = note: in a Helm install the chart generates it into the hub Secret; outside Helm it must be configured
          = help: set `hub.cookieSecret` or `hub.config.JupyterHub.cookie_secret` — generate one with `openssl rand -hex 32`

    "#]].assert_eq(&secret_errors(&empty, false));
}

#[test]
fn auth_state_needs_a_key_even_in_dev() {
    let c = loaded("hub:\n  config:\n    Authenticator:\n      enable_auth_state: true\n");
    expect![[r#"
        error: enable_auth_state is on but no encryption key is configured; refusing to start
          = note: auth state holds users' OAuth tokens and is stored encrypted; JupyterHub exits in this case too
          = help: set JUPYTERHUB_CRYPT_KEY or `hub.config.CryptKeeper.keys` — generate one with `openssl rand -hex 32`

    "#]]
    .assert_eq(&secret_errors(&c, true));
    let with_key = load(
        &[text("v.yaml", "hub:\n  config:\n    Authenticator:\n      enable_auth_state: true\n")],
        &env(&[("JUPYTERHUB_CRYPT_KEY", "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9")]),
    )
    .unwrap();
    assert_eq!(secret_errors(&with_key, true), "ok");
    let bad_key = loaded(
        "hub:\n  config:\n    Authenticator:\n      enable_auth_state: true\n    CryptKeeper:\n      keys: [short]\n",
    );
    assert!(secret_errors(&bad_key, true).contains("not 32 bytes"));
}

// ---- output -------------------------------------------------------------------

#[test]
fn print_shows_sources_and_masks_secrets() {
    let a = text("a.yaml", "cull:\n  timeout: 1200\n  every: 60\nproxy:\n  secretToken: hunter2\n");
    let b = text("b.yaml", "cull:\n  every: 120\n");
    let l = load(&[a, b], &env(&[("JHUB_VALUES__cull__maxAge", "7200")])).unwrap();
    let out = print_effective(&l);
    assert!(!out.contains("hunter2"), "secret leaked");
    // The top-level block `name:` and its indented lines.
    let section = |name: &str| -> String {
        let start = out.find(&format!("\n{name}:\n")).unwrap() + 1;
        out[start..].lines().take_while(|l| l.starts_with(' ') || l.starts_with(name)).collect::<Vec<_>>().join("\n")
    };
    expect![[r#"
        cull:
          enabled: true  # default
          users: false  # default
          adminUsers: true  # default
          removeNamedServers: false  # default
          timeout: 1200  # a.yaml:2
          every: 120  # b.yaml:2
          concurrency: 10  # default
          maxAge: 7200  # env JHUB_VALUES__cull__maxAge"#]]
    .assert_eq(&section("cull"));
    assert!(out.contains("secretToken: \"********\"  # a.yaml:5"));
}

#[test]
fn json_diagnostics_for_tools() {
    let l = load(&[seed_fixed()], &Environment::empty()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&l.render_diagnostics(Format::Json)).unwrap();
    let typos: Vec<(String, u64)> = json
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "unknown-trait")
        .map(|d| (d["key"].as_str().unwrap().to_string(), d["location"]["line"].as_u64().unwrap()))
        .collect();
    expect![[r#"
        [
            (
                "singleuser.profileList[0].kubespawner_override.cpu_gurantee",
                87,
            ),
            (
                "singleuser.profileList[0].kubespawner_override.memo_gurantee",
                88,
            ),
            (
                "singleuser.profileList[1].kubespawner_override.cpu_gurantee",
                108,
            ),
            (
                "singleuser.profileList[1].kubespawner_override.mem_gurantee",
                109,
            ),
        ]
    "#]]
    .assert_debug_eq(&typos);
    assert!(l.diagnostics.iter().all(|d| d.severity != Severity::Error));
}

// ---- key table ------------------------------------------------------------------

#[test]
fn every_z2jh_key_is_classified() {
    let config = serde_json::to_value(&loaded("").config).unwrap();
    let mut supported = 0;
    for key in keys::all() {
        let class = keys::classify(key.path).unwrap_or_else(|| panic!("{} is not classified", key.path));
        match class {
            Class::Supported { field, meaning } => {
                supported += 1;
                assert!(!meaning.is_empty());
                if !field.starts_with('(') {
                    let pointer = format!("/{}", field.replace('.', "/"));
                    assert!(config.pointer(&pointer).is_some(), "{} feeds {field}, which HubConfig lacks", key.path);
                }
            }
            Class::Ignored { reason } => assert!(!reason.is_empty()),
            Class::Spawner | Class::Chart => {}
        }
    }
    assert!(supported >= 25, "only {supported} supported keys");
    // Every rule names a real schema key, so no rule is dead.
    for (path, _) in keys::RULES {
        assert!(keys::all().iter().any(|k| k.path == *path), "rule for unknown key {path}");
    }
    let top: Vec<&str> = keys::all().iter().filter(|k| !k.path.contains('.')).map(|k| k.path).collect();
    assert_eq!(top.len(), 17, "{top:?}");
}

#[test]
fn defaults_document_covers_the_schema() {
    // Every key of jhub's values.yaml is a valid z2jh key, and loading it alone is clean.
    let defaults = text("defaults.yaml", jhub_config::DEFAULT_VALUES);
    let l = load(&[defaults], &Environment::empty()).unwrap();
    assert!(l.diagnostics.is_empty(), "{}", l.render_diagnostics(Format::Human));
}

#[test]
fn reference_doc_is_up_to_date() {
    expect_file!["../../../docs/config-reference.md"].assert_eq(&reference_markdown());
}

// ---- the z2jh Secret mount -----------------------------------------------------

#[test]
fn loads_the_z2jh_secret_layout() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    let existing = dir.path().join("existing-secret");
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::create_dir_all(&existing).unwrap();
    // What Helm mounts is the complete merged values (chart defaults included).
    std::fs::write(
        secret.join("values.yaml"),
        format!(
            "{}\nChart:\n  Name: jupyterhub\n  Version: 4.2.0\nRelease:\n  Name: prod\n  Namespace: hubs\n  Service: Helm\n",
            jhub_config::DEFAULT_VALUES
        ),
    )
    .unwrap();
    std::fs::write(secret.join("hub.config.ConfigurableHTTPProxy.auth_token"), "chart-token\n").unwrap();
    std::fs::write(secret.join("hub.config.JupyterHub.cookie_secret"), "chart-cookie").unwrap();
    std::fs::write(secret.join("hub.config.CryptKeeper.keys"), "k1;k2").unwrap();
    std::fs::write(secret.join("hub.services.grafana.apiToken"), "svc-token").unwrap();
    std::fs::write(existing.join("hub.config.JupyterHub.cookie_secret"), "mine-cookie").unwrap();
    std::fs::write(existing.join("values.yaml"), "hub:\n  baseUrl: /prod/\n  concurrentSpawnLimit: 7\n").unwrap();
    let l = load_z2jh_mount(&secret, &Environment::empty()).unwrap();
    let c = &l.config;
    assert_eq!(c.hub.base_url, "/prod/");
    assert_eq!(c.hub.concurrent_spawn_limit, 7, "existing-secret values merged on top");
    assert_eq!(c.proxy.auth_token.as_ref().unwrap().expose(), "chart-token");
    assert_eq!(c.hub.cookie_secret.as_ref().unwrap().expose(), "mine-cookie", "existing-secret wins");
    assert_eq!(c.hub.crypt_keys.as_ref().unwrap().expose(), "k1;k2");
    assert_eq!(c.hub.services[0].name, "grafana");
    assert_eq!(c.hub.services[0].api_token.as_ref().unwrap().expose(), "svc-token");
    assert_eq!(c.release.name, "prod");
    assert_eq!(c.release.chart_version, "4.2.0");
    assert_eq!(c.spawner.namespace, "hubs");
    assert!(l.diagnostics.is_empty(), "{}", l.render_diagnostics(Format::Human));
    // A key the user set to null is absent from the mount: z2jh's fallback
    // applies, not the chart default (singleuser.cmd → the image's CMD).
    assert_eq!(c.spawner.pod.cmd, Some(vec!["jupyterhub-singleuser".to_string()]));
    std::fs::write(
        secret.join("values.yaml"),
        format!(
            "{}\nChart:\n  Name: jupyterhub\n  Version: 4.2.0\nRelease:\n  Name: prod\n  Namespace: hubs\n",
            jhub_config::DEFAULT_VALUES.replace("  cmd: jupyterhub-singleuser\n", "")
        ),
    )
    .unwrap();
    let nulled = load_z2jh_mount(&secret, &Environment::empty()).unwrap();
    assert_eq!(nulled.config.spawner.pod.cmd, None, "no default brought back under the mount");
    // Chart/Release blocks are only legal in the mounted Secret.
    check(
        "Release:\n  Name: x\n",
        expect![[r#"
        failed
        error: unknown key `Release` at the top level
         --> values.yaml:1:1
          |
        1 | Release:
          | ^^^^^^^
          = note: z2jh's schema does not allow it, so helm would refuse the install

    "#]],
    );
}

#[test]
fn spawner_problems_from_podspec_point_at_lines() {
    check(
        "singleuser:\n  extraEnv:\n    - name: A\n      value: b\n  profileList:\n    - display_name: x\n      profile_options:\n        img:\n          display_name: Image\n",
        expect![[r#"
            failed
            error: `singleuser.extraEnv`: must be a mapping of NAME: value (or NAME: {valueFrom: ...}); the list form works for hub.extraEnv and proxy extraEnv, but for user pods it reaches KubeSpawner's `environment` dict and every spawn fails (TraitError: expected a dict). Example: `extraEnv: {EDITOR: vim}`
             --> values.yaml:2:3
              |
            2 |   extraEnv:
              |   ^^^^^^^^

            error: `singleuser.profileList[0].profile_options.img`: has neither choices nor an enabled unlisted_choice, so no value can ever be chosen
             --> values.yaml:8:9
              |
            8 |         img:
              |         ^^^

        "#]],
    );
    let l = loaded("singleuser:\n  cpu:\n    limit: 2\n  memory:\n    limit: 4G\n  startTimeout: 120\n");
    assert_eq!(l.config.spawner.pod.cpu_limit, Some(2.0));
    assert_eq!(l.config.spawner.pod.mem_limit, Some(4 << 30), "16G-style sizes are 1024-based");
    assert_eq!(l.config.spawner.start_timeout, 120);
}

#[test]
fn findings_follow_the_effective_value() {
    // Helm validates the merged values: what a later file replaced is not reported.
    let a = text(
        "a.yaml",
        "proxy:\n  service:\n    nodePorts:\n      http: 34567\n  secretToken: \"<TOKEN>\"\ncull:\n  timeout: \"600\"\nhub:\n  baseURL: /x/\n",
    );
    let b = text(
        "b.yaml",
        "proxy:\n  service:\n    nodePorts:\n      http: 30080\n  secretToken: real-token\ncull:\n  timeout: 900\nhub:\n  baseURL: /y/\n",
    );
    expect![[r#"
        failed
        error: unknown key `baseURL` under `hub`
         --> b.yaml:9:3
          |
        9 |   baseURL: /y/
          |   ^^^^^^^
          = note: z2jh's schema does not allow it, so helm would refuse the install
          = help: did you mean `baseUrl`?

    "#]]
    .assert_eq(&run(&[a, b], &Environment::empty()));
}

// ---- issue 13: nothing a user configured is silently ignored ---------------

#[test]
fn gitlab_hub_groups_reach_the_typed_config() {
    let l = loaded(
        "hub:\n  config:\n    JupyterHub:\n      authenticator_class: gitlab\n      load_groups:\n        lab: [ann]\n        lab/gpu:\n          users: [bob]\n          properties: {gpu: true}\n    Authenticator:\n      manage_groups: true\n      username_map: {Frank: franz}\n      username_pattern: '[a-z]+'\n      delete_invalid_users: true\n      refresh_pre_spawn: false\n    GitLabOAuthenticator:\n      allowed_groups: [lab/gpu]\n      admin_groups: [lab/admins]\n      auth_state_groups_key: gitlab_groups\n      custom_403_message: Ask the lab\n",
    );
    let Authenticator::Gitlab(g) = &l.config.auth.authenticator else { panic!("not gitlab") };
    assert!(g.allowed_groups.contains("lab/gpu") && g.admin_groups.contains("lab/admins"));
    assert_eq!(g.auth_state_groups_key.as_deref(), Some("gitlab_groups"));
    assert_eq!(g.custom_403_message.as_deref(), Some("Ask the lab"));
    let auth = &l.config.auth;
    assert!(auth.manage_groups && auth.delete_invalid_users);
    assert_eq!(auth.refresh_pre_spawn, Some(false));
    assert_eq!(auth.username_map.get("Frank").map(String::as_str), Some("franz"));
    assert_eq!(auth.username_pattern.as_deref(), Some("[a-z]+"));
    assert_eq!(
        l.config.hub.load_groups,
        vec![
            ("lab".to_string(), vec!["ann".to_string()], None),
            ("lab/gpu".to_string(), vec!["bob".to_string()], Some(serde_json::json!({"gpu": true}))),
        ]
    );
    // Nothing above is reported as unknown or ignored; allowed_groups is an allow rule.
    expect![[r#""#]].assert_eq(&l.render_diagnostics(Format::Human));
    assert_eq!(
        loaded("hub:\n  config:\n    Authenticator:\n      admin_users: [a]\n").config.auth.refresh_pre_spawn,
        None
    );
}

#[test]
fn deprecated_kubespawner_names_are_honoured_with_a_warning() {
    let l = loaded(
        "hub:\n  config:\n    KubeSpawner:\n      image_spec: repo/img:1\n      user_storage_capacity: 5G\nsingleuser:\n  profileList:\n    - display_name: Tagged\n      kubespawner_override:\n        singleuser_uid: 1001\n      profile_options:\n        image:\n          display_name: Image\n          choices: {}\n          unlisted_choice:\n            enabled: true\n            kubespawner_override:\n              image_spec: \"repo:{value}\"\n",
    );
    assert_eq!(l.config.spawner.pod.image, "repo/img:1");
    assert_eq!(l.config.spawner.pod.storage_capacity.as_deref(), Some("5G"));
    expect![[r#"
        warning: `image_spec` is deprecated since KubeSpawner 0.10; jhub applies it as `image` (use that name)
         --> values.yaml:4:7
          |
        4 |       image_spec: repo/img:1
          |       ^^^^^^^^^^
          = help: rename it to `image`

        warning: `user_storage_capacity` is deprecated since KubeSpawner 0.9; jhub applies it as `storage_capacity` (use that name)
         --> values.yaml:5:7
          |
        5 |       user_storage_capacity: 5G
          |       ^^^^^^^^^^^^^^^^^^^^^
          = help: rename it to `storage_capacity`

        warning: `singleuser_uid` is deprecated since KubeSpawner 0.9; jhub applies it as `uid` (use that name)
          --> values.yaml:10:9
           |
        10 |         singleuser_uid: 1001
           |         ^^^^^^^^^^^^^^
           = help: rename it to `uid`

        warning: `image_spec` is deprecated since KubeSpawner 0.10; jhub applies it as `image` (use that name)
          --> values.yaml:18:15
           |
        18 |               image_spec: "repo:{value}"
           |               ^^^^^^^^^^
           = help: rename it to `image`

    "#]].assert_eq(&l.render_diagnostics(Format::Human));
    // Both names set: the new one wins, as in KubeSpawner.
    let both = loaded("hub:\n  config:\n    KubeSpawner:\n      image: new/img:2\n      image_spec: old/img:1\n");
    assert_eq!(both.config.spawner.pod.image, "new/img:2");
    expect![[r#"
        warning: `image_spec` is deprecated and `image` is also set here: it is ignored in favour of `image` (as KubeSpawner does)
         --> values.yaml:5:7
          |
        5 |       image_spec: old/img:1
          |       ^^^^^^^^^^
          = help: rename it to `image`

    "#]].assert_eq(&both.render_diagnostics(Format::Human));
}

#[test]
fn group_scoped_profiles_and_group_overrides_are_checked() {
    check(
        "hub:\n  config:\n    KubeSpawner:\n      group_overrides:\n        01-gpu:\n          groups: [lab/gpu]\n          spawner_override:\n            cpu_limit: 8\n            memo_limit: 3\n        02-bad:\n          groups: x\nsingleuser:\n  profileList:\n    - display_name: GPU\n      allowed_groups: [lab/gpu]\n    - display_name: Bad\n      allowed_groups: lab\n",
        expect![[r#"
            failed
            warning: `memo_limit` is not a KubeSpawner setting
             --> values.yaml:9:13
              |
            9 |             memo_limit: 3
              |             ^^^^^^^^^^
              = note: KubeSpawner silently ignores it (it only becomes a stray attribute of the spawner); it has no effect on the pod
              = help: did you mean `mem_limit`?

            error: `hub.config.KubeSpawner.group_overrides.02-bad` must be a mapping with `groups` (a list) and `spawner_override` (a mapping)
              --> values.yaml:11:11
               |
            11 |           groups: x
               |           ^^^^^^
               = note: JupyterHub fails every spawn of a member with KeyError

            error: `singleuser.profileList[1].allowed_groups` must be a list of hub group names
              --> values.yaml:17:23
               |
            17 |       allowed_groups: lab
               |                       ^^^

        "#]],
    );
    let l = loaded(
        "hub:\n  config:\n    KubeSpawner:\n      group_overrides:\n        gpu:\n          groups: [lab/gpu]\n          spawner_override: {cpu_limit: 8}\n",
    );
    assert_eq!(l.config.spawner.pod.group_overrides["gpu"]["spawner_override"]["cpu_limit"], 8);
}

#[test]
fn a_key_in_the_wrong_place_says_where_it_lives() {
    check(
        "singleuser:\n  imagePullSecret:\n    create: true\n",
        expect![[r#"
            failed
            error: unknown key `imagePullSecret` under `singleuser`
             --> values.yaml:2:3
              |
            2 |   imagePullSecret:
              |   ^^^^^^^^^^^^^^^
              = note: z2jh's schema does not allow it, so helm would refuse the install
              = help: `imagePullSecret` exists at the top level, as `imagePullSecret`; move it there

        "#]],
    );
}

#[test]
fn only_unsupported_but_valid_keys_are_reported_key_by_key() {
    check(
        "hub:\n  db:\n    upgrade: true\n  config:\n    JupyterHub:\n      statsd_host: stats.example\n      implicit_spawn_seconds: 5\n    Authenticator:\n      manage_roles: true\n    ConfigurableHTTPProxy:\n      debug: true\nrbac:\n  enabled: true\n",
        expect![[r#"
            ok
            warning: `hub.db.upgrade` is valid z2jh, not supported by jhub, ignored
             --> values.yaml:3:5
              |
            3 |     upgrade: true
              |     ^^^^^^^
              = note: jhub applies its schema migrations on every start

            warning: `hub.config.JupyterHub.statsd_host` is valid z2jh, not supported by jhub, ignored
             --> values.yaml:6:7
              |
            6 |       statsd_host: stats.example
              |       ^^^^^^^^^^^
              = note: statsd is not supported; scrape /hub/metrics

            warning: `hub.config.JupyterHub.implicit_spawn_seconds` is valid z2jh, not supported by jhub, ignored
             --> values.yaml:7:7
              |
            7 |       implicit_spawn_seconds: 5
              |       ^^^^^^^^^^^^^^^^^^^^^^
              = note: not implemented

            warning: `hub.config.Authenticator.manage_roles` is valid z2jh, not supported by jhub, ignored
             --> values.yaml:9:7
              |
            9 |       manage_roles: true
              |       ^^^^^^^^^^^^
              = note: roles are managed by load_roles only

            warning: `hub.config.ConfigurableHTTPProxy.debug` is valid z2jh, not supported by jhub, ignored
              --> values.yaml:11:7
               |
            11 |       debug: true
               |       ^^^^^
               = note: set debug.enabled instead

            warning: `rbac.enabled` is valid z2jh, not supported by jhub, ignored
              --> values.yaml:13:3
               |
            13 |   enabled: true
               |   ^^^^^^^
               = note: removed from z2jh (use rbac.create); the chart refuses to install with it

        "#]],
    );
}

#[test]
fn jhub_storage_section() {
    let l = loaded(
        "hub:\n  config:\n    JhubStorage:\n      snapshot_class: csi-snap\n      snapshot_every_hours: 24\n      snapshot_keep: 3\n      usage_interval_seconds: 0\n",
    );
    let s = &l.config.storage;
    assert_eq!(s.snapshot_class.as_deref(), Some("csi-snap"));
    assert_eq!((s.snapshot_every_hours, s.snapshot_keep, s.usage_interval_seconds), (24.0, 3, 0.0));
    let d = loaded("hub: {}\n").config.storage;
    assert_eq!(
        (d.snapshot_class, d.snapshot_every_hours, d.snapshot_keep, d.usage_interval_seconds),
        (None, 0.0, 7, 120.0)
    );
    let bad = run(
        &[text("values.yaml", "hub:\n  config:\n    JhubStorage:\n      snapshot_every_hours: -1\n")],
        &Environment::empty(),
    );
    assert!(bad.contains("a number of hours, 0 (no scheduled snapshots) up to a year"), "{bad}");
    let typo = run(
        &[text("values.yaml", "hub:\n  config:\n    JhubStorage:\n      snapshot_kept: 3\n")],
        &Environment::empty(),
    );
    assert!(typo.contains("did you mean `snapshot_keep`"), "{typo}");
}

#[test]
fn storage_capacity_change_applies_to_new_pvcs_only() {
    let before = loaded("singleuser:\n  storage:\n    capacity: 10Gi\n");
    let after = loaded("singleuser:\n  storage:\n    capacity: 20Gi\n");
    let notes = jhub_config::change_notes(&before.config, &after.config);
    assert_eq!(notes.len(), 1);
    assert!(notes[0].message.contains("applies to new PVCs only"), "{:?}", notes[0]);
    assert_eq!(notes[0].key.as_deref(), Some("singleuser.storage.capacity"));
    assert!(jhub_config::change_notes(&after.config, &after.config).is_empty());
}

#[test]
fn jhub_usage_event_retention() {
    let l = loaded("hub:\n  config:\n    JhubUsage:\n      event_retention_days: 90\n");
    assert_eq!(l.config.hub.event_retention_days, 90.0);
    assert_eq!(loaded("hub: {}\n").config.hub.event_retention_days, 0.0, "kept forever by default");
    check(
        "hub:\n  config:\n    JhubUsage:\n      event_retention_days: -3\n",
        expect![[r#"
            failed
            error: `hub.config.JhubUsage.event_retention_days` must be a number of days, 0 or more (0 keeps the event log forever)
             --> values.yaml:4:29
              |
            4 |       event_retention_days: -3
              |                             ^^

        "#]],
    );
    check(
        "hub:\n  config:\n    JhubUsage:\n      event_retention_days: \"90\"\n      retention: 3\n",
        expect![[r#"
            failed
            error: `hub.config.JhubUsage.event_retention_days`: event_retention_days: expected a number, not a string; got "90". Accepted: a number, not a string. Example: event_retention_days: 8  (or 0.5)
             --> values.yaml:4:29
              |
            4 |       event_retention_days: "90"
              |                             ^^^^
              = note: traitlets would refuse it when the hub starts

            warning: `retention` is not a JhubUsage setting jhub knows
             --> values.yaml:5:7
              |
            5 |       retention: 3
              |       ^^^^^^^^^
              = note: JupyterHub would only log "Config option not recognized" and ignore it; so does jhub

        "#]],
    );
}

#[test]
fn jhub_spawn_queue_settings() {
    let defaults = loaded("hub: {}\n");
    assert!(defaults.config.hub.spawn_queue_enabled, "the queue is on by default");
    assert_eq!(defaults.config.hub.spawn_queue_max_length, 1000);
    let l = loaded("hub:\n  config:\n    JhubSpawnQueue:\n      enabled: false\n      max_length: 20\n");
    assert!(!l.config.hub.spawn_queue_enabled);
    assert_eq!(l.config.hub.spawn_queue_max_length, 20);
    check(
        "hub:\n  config:\n    JhubSpawnQueue:\n      max_length: -1\n",
        expect![[r#"
        failed
        error: `hub.config.JhubSpawnQueue.max_length` must be a whole number >= 0
         --> values.yaml:4:19
          |
        4 |       max_length: -1
          |                   ^^

    "#]],
    );
}
