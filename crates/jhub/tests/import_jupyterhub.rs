//! `jhub import-jupyterhub` against databases made by the real JupyterHub 6.1.1, 5.x and 4.x
//! (SQLite, and PostgreSQL where the driver is installed): the source file stays byte-identical,
//! the summary counts every kind, and a jhub served on the imported database answers the old
//! tokens with their scopes, notes and expiry, shows the groups, roles, auth state and servers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/support/free_port.rs"]
mod free_port;
mod real_jupyterhub;

use free_port::free_port;
use real_jupyterhub::{HttpStub, Issued, RealHub, Secrets, jupyterhub_exe, stub_spawner};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

fn jhub() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jhub"));
    for (key, _) in std::env::vars() {
        if key.starts_with("JHUB_VALUES__")
            || key == "CONFIGPROXY_AUTH_TOKEN"
            || key == "POD_NAMESPACE"
            || key == "JUPYTERHUB_CRYPT_KEY"
            || key == "JHUB_DB_URL"
        {
            command.env_remove(key);
        }
    }
    command.env("NO_COLOR", "1");
    command
}

/// The roles JupyterHub ran with, as the shared values file declares them (`hub.loadRoles`):
/// both hubs take role definitions from the configuration.
const LOAD_ROLES: &str = "  loadRoles:\n    ops-role:\n      description: the ops scripts\n      scopes: [admin:users, \
     admin:servers, admin:groups, tokens, read:roles, admin:auth_state]\n      services: [ops]\n    readers:\n      \
     description: may read everyone\n      scopes: [read:users, list:users]\n      users: [bob]\n      \
     groups: [physics]\n";

fn values(dir: &Path, secrets: &Secrets) -> PathBuf {
    let path = dir.join("values.yaml");
    std::fs::write(
        &path,
        format!(
            "hub:\n  cookieSecret: {}\n  config:\n    DummyAuthenticator:\n      password: jupyter-pw-123\n    \
             Authenticator:\n      enable_auth_state: true\n      admin_users: [root]\n    JupyterHub:\n      \
             allow_named_servers: true\n  services:\n    ops:\n      apiToken: {}\n{{ROLES}}proxy:\n  secretToken: {}\n",
            secrets.cookie_secret_hex, secrets.service_token, secrets.proxy_token
        )
        .replace("{ROLES}", LOAD_ROLES),
    )
    .unwrap();
    path
}

/// Runs `jhub import-jupyterhub` and returns the JSON summary.
async fn import(dir: &Path, secrets: &Secrets, from: &str, target: &str) -> Value {
    let out = jhub()
        .args(["import-jupyterhub", "-f"])
        .arg(values(dir, secrets))
        .args(["--db-url", target, "--from", from, "--format", "json"])
        .env("JUPYTERHUB_CRYPT_KEY", &secrets.crypt_key_hex)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "import failed:\n{stdout}\n{stderr}");
    assert!(stderr.contains("imported the JupyterHub database"), "the summary is logged too:\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("summary is not JSON ({e}):\n{stdout}"))
}

struct Jhub {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Jhub {
    async fn start(dir: &Path, secrets: &Secrets, target: &str) -> Jhub {
        let port = free_port();
        let log = dir.join(format!("jhub-{port}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = jhub()
            .args(["serve", "-f"])
            .arg(values(dir, secrets))
            .args(["--db-url", target, "--spawner", "fake", "--proxy", "memory"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("JUPYTERHUB_CRYPT_KEY", &secrets.crypt_key_hex)
            .env("JHUB_DATA_DIR", dir)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut hub = Jhub { child, base: format!("http://127.0.0.1:{port}"), log };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if client.get(format!("{}/hub/health", hub.base)).send().await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if let Ok(Some(status)) = hub.child.try_wait() {
                panic!("jhub exited with {status}:\n{}", hub.log_text());
            }
            assert!(Instant::now() < deadline, "jhub did not become healthy:\n{}", hub.log_text());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        hub
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let resp = reqwest::Client::new()
            .get(format!("{}/hub/api{path}", self.base))
            .header("Authorization", format!("token {token}"))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.get("name").and_then(Value::as_str).map(String::from)).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// The checks every version shares: what the served jhub answers to the old credentials.
async fn check_served(hub: &Jhub, issued: &Issued, spawned: bool) {
    let log = || hub.log_text();
    // A token limited to alice herself: her model, 404 for others (filtered scope, like JupyterHub).
    let (status, me) = hub.get(&issued.alice_scoped, "/users/alice").await;
    assert_eq!(status, StatusCode::OK, "alice's scoped token: {me}\n{}", log());
    assert_eq!(me["name"], "alice");
    assert_eq!(me["groups"], json!(["physics"]), "{me:#}");
    let (status, _) = hub.get(&issued.alice_scoped, "/users/bob").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the scoped token must not read bob");
    let (status, _) = hub.get(&issued.alice_scoped, "/users").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the scoped token has no list:users");

    // bob's reader token (scopes from the readers role), with its note and expiry.
    let (status, users) = hub.get(&issued.bob_reader, "/users").await;
    assert_eq!(status, StatusCode::OK, "bob's reader token: {users}\n{}", log());
    assert_eq!(names(&users), ["alice", "bob", "carol", "root"], "{users:#}");
    let (status, _) = hub.get(&issued.bob_reader, "/users/alice/tokens").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "read:users does not grant read:tokens");

    // alice's inherit token acts as alice, and sees her tokens with their notes.
    let (status, who) = hub.get(&issued.alice_inherit, "/user").await;
    assert_eq!(status, StatusCode::OK, "{who}\n{}", log());
    assert_eq!(who["name"], "alice");
    let (status, tokens) = hub.get(&issued.alice_inherit, "/users/alice/tokens").await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let notes: Vec<&str> = tokens["api_tokens"].as_array().unwrap().iter().filter_map(|t| t["note"].as_str()).collect();
    assert!(notes.contains(&"alice self-read") && notes.contains(&"alice laptop script"), "{tokens:#}");
    let scoped = tokens["api_tokens"].as_array().unwrap().iter().find(|t| t["note"] == "alice self-read").unwrap();
    let scopes: Vec<&str> = scoped["scopes"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(scopes.contains(&"read:users!user=alice") && !scopes.contains(&"read:users"), "{scoped:#}");

    // The service's config token (16384 rounds) acts as the ops service with its role.
    let (status, svc) = hub.get(&issued.service, "/users/alice").await;
    assert_eq!(status, StatusCode::OK, "service token: {svc}\n{}", log());
    assert_eq!(
        svc["auth_state"],
        json!({"access_token": "gitlab-access-alice", "gitlab_user": {"id": 7}}),
        "auth state decrypted and readable: {svc:#}"
    );
    let (status, bob_tokens) = hub.get(&issued.service, "/users/bob/tokens").await;
    assert_eq!(status, StatusCode::OK);
    let report = bob_tokens["api_tokens"].as_array().unwrap().iter().find(|t| t["note"] == "bob report job").unwrap();
    assert!(report["expires_at"].is_string(), "the expiry survives: {report:#}");
    let (status, group) = hub.get(&issued.service, "/groups/physics").await;
    assert_eq!(status, StatusCode::OK, "{group}");
    assert_eq!(group["users"], json!(["alice"]));
    assert_eq!(group["properties"], json!({"lab": "B2", "gpu_quota": 4}));
    let (status, chem) = hub.get(&issued.service, "/groups/chem").await;
    assert_eq!((status, &chem["users"]), (StatusCode::OK, &json!(["carol"])), "{chem}");
    let (status, bob) = hub.get(&issued.service, "/users/bob").await;
    assert_eq!(status, StatusCode::OK);
    let roles: Vec<&str> = bob["roles"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(roles.contains(&"readers") && roles.contains(&"user"), "bob's roles: {bob:#}");
    let (_, root) = hub.get(&issued.service, "/users/root").await;
    assert_eq!(root["admin"], true, "{root:#}");
    // carol's browser, logged in to JupyterHub before the switch, is still logged in.
    let cookie = issued
        .carol_cookies
        .iter()
        .filter(|(k, _)| k.starts_with("jupyterhub-"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let resp = reqwest::Client::new()
        .get(format!("{}/hub/api/user", hub.base))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!((status, &body["name"]), (StatusCode::OK, &json!("carol")), "JupyterHub's login cookie: {body}");
    let forged = cookie.replacen("jupyterhub-hub-login=", "jupyterhub-hub-login=x", 1);
    let resp =
        reqwest::Client::new().get(format!("{}/hub/api/user", hub.base)).header("Cookie", forged).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "a tampered cookie is refused");
    if spawned {
        let (status, alice) = hub.get(&issued.service, "/users/alice?include_stopped_servers=1").await;
        assert_eq!(status, StatusCode::OK);
        assert!(alice.pointer("/servers/gpu").is_some(), "the named server is carried over: {alice:#}");
    }
}

/// The rows behind the API: ids kept, running servers with their state and address.
async fn check_rows(target: &str, spawned: bool) {
    let store = jhub_store::Store::connect(target).await.unwrap();
    let snapshot = store.load_snapshot().await.unwrap();
    store.close().await;
    let alice = snapshot.users.iter().find(|u| u.name == "alice").unwrap();
    assert!(alice.encrypted_auth_state.is_some());
    if spawned {
        let gpu = snapshot.servers.iter().find(|s| s.user_id == alice.id && s.name == "gpu").expect("gpu server row");
        assert_eq!(gpu.state["pod_name"], "jupyter-alice--gpu", "{gpu:?}");
        assert!(gpu.url.as_deref().is_some_and(|u| u.starts_with("http://127.0.0.1:")), "{gpu:?}");
        assert_eq!(gpu.user_options, json!({"profile": "gpu"}));
    }
}

/// The counts every populated hub gives.
fn check_summary(summary: &Value) {
    let n = |kind: &str| summary["imported"][kind].as_u64().unwrap_or(0);
    assert_eq!(n("users"), 4, "{summary:#}");
    assert_eq!(n("groups"), 2, "{summary:#}");
    assert_eq!(n("group memberships"), 2, "{summary:#}");
    assert!(n("roles") >= 6, "user, admin, server, token, ops-role, readers: {summary:#}");
    assert!(n("role bindings") >= 3, "{summary:#}");
    assert_eq!(n("services"), 1, "{summary:#}");
    assert_eq!(n("auth states"), 1, "{summary:#}");
    assert_eq!(n("named servers"), 1, "{summary:#}");
    // JupyterHub keeps a (stopped) default server row for users it has loaded, too.
    assert!(n("default servers") >= 1, "{summary:#}");
    assert_eq!(n("running servers"), 2, "{summary:#}");
    assert!(n("api tokens") >= 6, "3 issued + service + 2 server tokens: {summary:#}");
    assert!(n("oauth clients") >= 2, "the two servers' clients: {summary:#}");
    assert!(summary["skipped"].as_array().unwrap().is_empty(), "nothing skipped: {summary:#}");
}

async fn round_trip(venv: &str, name: &str) {
    let Some(exe) = jupyterhub_exe(venv) else { return };
    if real_jupyterhub::chp_exe().is_none() {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::Builder::new().prefix(&format!("jhub-import-{name}-")).tempdir().unwrap();
    let secrets = Secrets::generate();
    let stub = HttpStub::start().await;
    let db_path = dir.path().join("jupyterhub.sqlite");
    let db_url = format!("sqlite:///{}", db_path.display());
    let mut real = RealHub::start(&exe, dir.path(), &db_url, &secrets, stub.port, stub_spawner(), &[]).await;
    let issued = real.populate(&secrets, true).await;
    real.stop().await;

    let before = std::fs::read(&db_path).unwrap();
    let target = format!("sqlite://{}/jhub.sqlite", dir.path().display());
    let summary = import(dir.path(), &secrets, &db_url, &target).await;
    check_summary(&summary);
    check_rows(&target, true).await;

    let hub = Jhub::start(dir.path(), &secrets, &target).await;
    check_served(&hub, &issued, true).await;
    hub.stop().await;
    let after = std::fs::read(&db_path).unwrap();
    assert!(before == after, "the JupyterHub database file changed");

    // Importing again into the now-populated target is refused, and writes nothing.
    let out = jhub()
        .args(["import-jupyterhub", "-f"])
        .arg(values(dir.path(), &secrets))
        .args(["--db-url", &target, "--from", &db_url])
        .env("JUPYTERHUB_CRYPT_KEY", &secrets.crypt_key_hex)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fresh jhub database"), "{err}");
    assert!(std::fs::read(&db_path).unwrap() == before, "the JupyterHub database file changed");

    // A copy at a revision older or newer than supported: refused by name, nothing created.
    for (revision, expect) in [("651f5419b74d", "older than this importer supports"), ("0123456789ab", "does not know")]
    {
        use sqlx::Connection;
        let copy = dir.path().join(format!("jupyterhub-{revision}.sqlite"));
        std::fs::copy(&db_path, &copy).unwrap();
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", copy.display())).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE alembic_version SET version_num = '{revision}'")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let fresh = dir.path().join(format!("jhub-{revision}.sqlite"));
        let out = jhub()
            .args(["import-jupyterhub", "-f"])
            .arg(values(dir.path(), &secrets))
            .args(["--db-url", &format!("sqlite://{}", fresh.display())])
            .args(["--from", &format!("sqlite:///{}", copy.display())])
            .env("JUPYTERHUB_CRYPT_KEY", &secrets.crypt_key_hex)
            .output()
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(revision) && err.contains(expect), "{revision}: {err}");
        assert!(!fresh.exists(), "a refused import creates no jhub database");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_a_jupyterhub_6_sqlite_database() {
    round_trip("hub6", "hub6").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_a_jupyterhub_5_sqlite_database() {
    round_trip("hub5", "hub5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_a_jupyterhub_4_sqlite_database() {
    round_trip("hub4", "hub4").await;
}

fn postgres_base() -> Option<String> {
    if std::env::var("JHUB_TEST_SKIP_POSTGRES").is_ok_and(|v| v == "1") {
        eprintln!("JHUB_TEST_SKIP_POSTGRES=1: PostgreSQL import skipped");
        return None;
    }
    Some(std::env::var("JHUB_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()))
}

fn with_schema(base: &str, scheme: &str, schema: &str) -> String {
    let rest = base.split_once("://").map(|(_, r)| r).unwrap_or(base);
    let separator = if rest.contains('?') { '&' } else { '?' };
    format!("{scheme}://{rest}{separator}options=-csearch_path%3D{schema}")
}

/// JupyterHub on PostgreSQL (SQLAlchemy with psycopg2, as z2jh's `hub.db.url` usually is):
/// the same import, and the source reads the same before and after.
async fn postgres_round_trip(venv: &str, name: &str) {
    use sqlx::Connection;
    let Some(exe) = jupyterhub_exe(venv) else { return };
    let Some(base) = postgres_base() else { return };
    let driver = match std::env::var("JHUB_PG_DRIVER") {
        Ok(d) if Path::new(&d).exists() => d,
        _ if std::env::var("JHUB_SKIP_EXTERNAL").is_ok_and(|v| v == "1") => return,
        _ => panic!("JHUB_PG_DRIVER is not set: run `eval \"$(scripts/install-tools pgdriver)\"`"),
    };
    if real_jupyterhub::chp_exe().is_none() {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut admin =
        sqlx::PgConnection::connect(&base).await.expect("PostgreSQL reachable (or set JHUB_TEST_SKIP_POSTGRES=1)");
    let tag = format!("{}_{}_{}", name, std::process::id(), free_port());
    let (src, dst) = (format!("jhimport_src_{tag}"), format!("jhimport_dst_{tag}"));
    for schema in [&src, &dst] {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut admin).await.unwrap();
    }
    let outcome = tokio::spawn({
        let (base, src, dst, name) = (base.clone(), src.clone(), dst.clone(), name.to_string());
        async move {
            let dir = tempfile::Builder::new().prefix(&format!("jhub-import-pg-{name}-")).tempdir().unwrap();
            let secrets = Secrets::generate();
            let stub = HttpStub::start().await;
            let from = with_schema(&base, "postgresql+psycopg2", &src);
            let env = [("PYTHONPATH", driver)];
            let mut real = RealHub::start(&exe, dir.path(), &from, &secrets, stub.port, stub_spawner(), &env).await;
            let issued = real.populate(&secrets, true).await;
            real.stop().await;
            let before = jhub_store::read_jupyterhub(&from).await.expect("read source");
            let target = with_schema(&base, "postgres", &dst);
            let summary = import(dir.path(), &secrets, &from, &target).await;
            check_summary(&summary);
            check_rows(&target, true).await;
            let hub = Jhub::start(dir.path(), &secrets, &target).await;
            check_served(&hub, &issued, true).await;
            hub.stop().await;
            let after = jhub_store::read_jupyterhub(&from).await.expect("read source");
            assert!(before == after, "the JupyterHub database changed");
        }
    })
    .await;
    for schema in [&src, &dst] {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
            .execute(&mut admin)
            .await;
    }
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_a_jupyterhub_6_postgres_database() {
    postgres_round_trip("hub6", "hub6").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_a_jupyterhub_5_postgres_database() {
    postgres_round_trip("hub5", "hub5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_a_jupyterhub_4_postgres_database() {
    postgres_round_trip("hub4", "hub4").await;
}

/// The drop-in mode (the official chart with only `hub.image` changed): on the first start, with
/// `jupyterhub.sqlite` on the hub's PVC and no `jhub.sqlite` yet, jhub imports it by itself;
/// the next start does not import again; the JupyterHub file is never changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_in_first_start_imports_the_sqlite_pvc_database() {
    let Some(exe) = jupyterhub_exe("hub6") else { return };
    if real_jupyterhub::chp_exe().is_none() {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::Builder::new().prefix("jhub-import-dropin-").tempdir().unwrap();
    let data = dir.path().join("srv");
    std::fs::create_dir_all(&data).unwrap();
    let secrets = Secrets::generate();
    let stub = HttpStub::start().await;
    let db_path = data.join("jupyterhub.sqlite");
    let db_url = format!("sqlite:///{}", db_path.display());
    let mut real = RealHub::start(&exe, dir.path(), &db_url, &secrets, stub.port, stub_spawner(), &[]).await;
    let issued = real.populate(&secrets, true).await;
    real.stop().await;
    let before = std::fs::read(&db_path).unwrap();

    let mount = drop_in_mount(dir.path(), &secrets, "    type: sqlite-pvc\n");

    for run in 1..=2 {
        let hub = start_drop_in(dir.path(), &mount, &data, run).await;
        let text = hub.log_text();
        let imported = text.contains("first start: jhub has no database yet");
        assert_eq!(imported, run == 1, "run {run}: import on the first start only:\n{text}");
        if run == 1 {
            assert!(text.contains("imported JupyterHub database at alembic revision f460b0348206"), "{text}");
        }
        check_served(&hub, &issued, true).await;
        hub.stop().await;
        assert!(data.join("jhub.sqlite").exists());
        assert!(std::fs::read(&db_path).unwrap() == before, "the JupyterHub database file changed");
    }
}

/// What the official chart mounts for the drop-in mode: the complete merged values (chart
/// defaults included) plus the generated keys; the operator's own settings (with `db`, the
/// lines under `hub.db`) come in through `hub.existingSecret`. Returns the mount directory.
fn drop_in_mount(dir: &Path, secrets: &Secrets, db: &str) -> PathBuf {
    let mount = dir.join("secret");
    std::fs::create_dir_all(&mount).unwrap();
    let defaults =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/helm/jhub/values.yaml"))
            .unwrap();
    std::fs::write(
        mount.join("values.yaml"),
        format!(
            "{defaults}\nChart:\n  Name: jupyterhub\n  Version: 4.2.0\nRelease:\n  Name: jhub\n  Namespace: jhub\n"
        ),
    )
    .unwrap();
    let existing = dir.join("existing-secret");
    std::fs::create_dir_all(&existing).unwrap();
    std::fs::write(
        existing.join("values.yaml"),
        format!(
            "hub:\n  db:\n{db}  config:\n    DummyAuthenticator:\n      password: jupyter-pw-123\n    \
             Authenticator:\n      enable_auth_state: true\n      admin_users: [root]\n    JupyterHub:\n      \
             allow_named_servers: true\n  services:\n    ops:\n      apiToken: {}\n{{ROLES}}",
            secrets.service_token
        )
        .replace("{ROLES}", LOAD_ROLES),
    )
    .unwrap();
    std::fs::write(mount.join("hub.config.JupyterHub.cookie_secret"), &secrets.cookie_secret_hex).unwrap();
    std::fs::write(mount.join("hub.config.ConfigurableHTTPProxy.auth_token"), &secrets.proxy_token).unwrap();
    std::fs::write(mount.join("hub.config.CryptKeeper.keys"), &secrets.crypt_key_hex).unwrap();
    mount
}

/// `jhub serve --z2jh-mount` (the drop-in mode), healthy.
async fn start_drop_in(dir: &Path, mount: &Path, data: &Path, run: u32) -> Jhub {
    let port = free_port();
    let log = dir.join(format!("jhub-dropin-{run}.log"));
    let file = std::fs::File::create(&log).unwrap();
    let mut child = jhub()
        .args(["serve", "--z2jh-mount"])
        .arg(mount)
        .args(["--spawner", "fake", "--proxy", "memory", "--listen", &format!("127.0.0.1:{port}")])
        .env("JHUB_DATA_DIR", data)
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if client.get(format!("{base}/hub/health")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("jhub exited with {status}:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        assert!(Instant::now() < deadline, "jhub not healthy:\n{}", std::fs::read_to_string(&log).unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Jhub { child, base, log }
}

/// The drop-in mode on PostgreSQL (`hub.db.type: postgres`, `hub.db.url` shared by both charts):
/// the first start finds JupyterHub's tables at the URL, creates jhub's schema beside them and
/// imports into it; the next start uses that schema without importing again; JupyterHub's tables
/// read the same before and after, and JupyterHub itself starts again on them (the rollback).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_in_first_start_imports_the_postgres_database() {
    use sqlx::Connection;
    let Some(exe) = jupyterhub_exe("hub6") else { return };
    let Some(base) = postgres_base() else { return };
    let driver = match std::env::var("JHUB_PG_DRIVER") {
        Ok(d) if Path::new(&d).exists() => d,
        _ if std::env::var("JHUB_SKIP_EXTERNAL").is_ok_and(|v| v == "1") => return,
        _ => panic!("JHUB_PG_DRIVER is not set: run `eval \"$(scripts/install-tools pgdriver)\"`"),
    };
    if real_jupyterhub::chp_exe().is_none() {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut admin =
        sqlx::PgConnection::connect(&base).await.expect("PostgreSQL reachable (or set JHUB_TEST_SKIP_POSTGRES=1)");
    let src = format!("jhdropin_{}_{}", std::process::id(), free_port());
    let side = format!("{src}_jhub");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {src}"))).execute(&mut admin).await.unwrap();
    let outcome = tokio::spawn({
        let (base, src, side) = (base.clone(), src.clone(), side.clone());
        async move {
            let dir = tempfile::Builder::new().prefix("jhub-import-dropin-pg-").tempdir().unwrap();
            let data = dir.path().join("srv");
            std::fs::create_dir_all(&data).unwrap();
            let secrets = Secrets::generate();
            let stub = HttpStub::start().await;
            let from = with_schema(&base, "postgresql+psycopg2", &src);
            let env = [("PYTHONPATH", driver.clone())];
            let mut real = RealHub::start(&exe, dir.path(), &from, &secrets, stub.port, stub_spawner(), &env).await;
            let issued = real.populate(&secrets, true).await;
            real.stop().await;
            let before = jhub_store::read_jupyterhub(&from).await.expect("read source");
            // The values both charts read: hub.db.url is JupyterHub's (SQLAlchemy's driver form).
            let mount = drop_in_mount(dir.path(), &secrets, &format!("    type: postgres\n    url: {from}\n"));
            for run in 1..=2 {
                let hub = start_drop_in(dir.path(), &mount, &data, run).await;
                let text = hub.log_text();
                let imported = text.contains("first start: hub.db.url holds JupyterHub's tables");
                assert_eq!(imported, run == 1, "run {run}: import on the first start only:\n{text}");
                if run == 1 {
                    assert!(text.contains("imported JupyterHub database at alembic revision f460b0348206"), "{text}");
                }
                check_served(&hub, &issued, true).await;
                hub.stop().await;
            }
            // The other commands find jhub's schema too (`token`, `migrate` on the same values).
            for command in [vec!["token", "alice"], vec!["migrate"]] {
                let out = jhub().args(&command).arg("--z2jh-mount").arg(&mount).output().await.unwrap();
                let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
                assert!(out.status.success(), "jhub {command:?} on the shared URL:\n{stdout}\n{stderr}");
            }
            // jhub's rows are in its own schema (the fake spawner found the imported servers gone,
            // so only the users' rows are checked); JupyterHub's tables are as they were.
            check_rows(&jhub_store::with_search_path(&with_schema(&base, "postgres", &src), &side), false).await;
            let after = jhub_store::read_jupyterhub(&from).await.expect("read source");
            assert!(before == after, "JupyterHub's tables changed");
            // Rollback: JupyterHub starts again on its own tables, and jhub's schema is no bother.
            let mut again = RealHub::start(&exe, dir.path(), &from, &secrets, stub.port, stub_spawner(), &env).await;
            again.stop().await;
        }
    })
    .await;
    for schema in [&side, &src] {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
            .execute(&mut admin)
            .await;
    }
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}
