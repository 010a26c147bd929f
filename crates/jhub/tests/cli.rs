//! The `jhub` command line as operators use it: help, check-config on the
//! seed user's files, refusing placeholder secrets, migrate, token, and a
//! served hub that answers its API and shuts down cleanly on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn jhub() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jhub"));
    // The tests decide the environment: nothing from the caller's shell.
    for (key, _) in std::env::vars() {
        if key.starts_with("JHUB_VALUES__") || key == "CONFIGPROXY_AUTH_TOKEN" || key == "POD_NAMESPACE" {
            command.env_remove(key);
        }
    }
    command
}

fn demo(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../demo").join(file)
}

#[path = "../../../tests/support/free_port.rs"]
mod free_port;
use free_port::free_port;

#[test]
fn help_lists_the_subcommands() {
    let output = jhub().arg("--help").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for command in ["serve", "check-config", "migrate", "token", "render-pod", "healthcheck"] {
        assert!(text.contains(command), "{command} missing from --help:\n{text}");
    }
}

#[test]
fn check_config_explains_the_broken_seed_file() {
    let output = jhub().args(["check-config", "-f"]).arg(demo("seed-config-broken.yaml")).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("seed-config-broken.yaml:49:4"), "{text}");
    assert!(text.contains("`extraPodConfig` is indented 3 spaces while its siblings under `singleuser`"), "{text}");
}

#[test]
fn check_config_says_a_new_storage_capacity_reaches_new_pvcs_only() {
    let dir = std::env::temp_dir().join(format!("jhub-cli-capacity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let old = dir.join("old.yaml");
    let new = dir.join("new.yaml");
    std::fs::write(&old, "singleuser:\n  storage:\n    capacity: 10Gi\n").unwrap();
    std::fs::write(&new, "singleuser:\n  storage:\n    capacity: 20Gi\n").unwrap();
    let output = jhub().args(["check-config", "-f"]).arg(&new).arg("--previous").arg(&old).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("from \"10Gi\" to \"20Gi\": this applies to new PVCs only"), "{text}");
    assert!(text.contains("storage/resize"), "{text}");
    // Unchanged: no such note.
    let output = jhub().args(["check-config", "-f"]).arg(&new).arg("--previous").arg(&new).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains("new PVCs only"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_config_warns_about_the_fixed_seed_file() {
    let output = jhub().args(["check-config", "-f"]).arg(demo("seed-config.yaml")).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    let text = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "seed-config.yaml:87:9",
        "did you mean `cpu_guarantee`?",
        "seed-config.yaml:88:9",
        "seed-config.yaml:109:9",
        "did you mean `mem_guarantee`?",
        "8 CPUs",
        "<GENERATE SECRET TOKEN BY YOURSELF>",
        "<COPY IT FROM YOUR OAUTH2 SERVER>",
        "<adminer_username>",
        "<group_name>",
        "34567",
        "30000",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn serve_refuses_placeholder_secrets() {
    let output = jhub()
        .args(["serve", "-f"])
        .arg(demo("seed-config.yaml"))
        .args(["--spawner", "fake", "--proxy", "memory", "--listen", "127.0.0.1:0", "--db-url", "sqlite::memory:"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("proxy.secretToken"), "{text}");
    assert!(text.contains("openssl rand -hex 32"), "{text}");
}

/// A values file for a local hub with a dummy password and real secrets.
fn local_values(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("values.yaml");
    std::fs::write(
        &path,
        "hub:\n  cookieSecret: 0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0\n  config:\n    \
         DummyAuthenticator:\n      password: test-password-123\nproxy:\n  secretToken: 5a4b3c2d1e0f5a4b3c2d1e0f5a4b3c2d\n",
    )
    .unwrap();
    path
}

#[test]
fn migrate_token_serve_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let values = local_values(dir.path());
    let db = format!("sqlite://{}/jhub.sqlite", dir.path().display());
    let migrated = jhub().args(["migrate", "-f"]).arg(&values).args(["--db-url", &db]).output().unwrap();
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    assert!(String::from_utf8_lossy(&migrated.stdout).contains("database schema at version"));

    let token = jhub().args(["token", "-f"]).arg(&values).args(["--db-url", &db, "--admin", "root"]).output().unwrap();
    assert!(token.status.success(), "{}", String::from_utf8_lossy(&token.stderr));
    let token = String::from_utf8_lossy(&token.stdout).trim().to_string();
    assert_eq!(token.len(), 32, "{token}");

    let port = free_port();
    let mut child = jhub()
        .args(["--log-format", "json", "serve", "-f"])
        .arg(&values)
        .args(["--db-url", &db, "--spawner", "fake", "--proxy", "memory", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let healthy = loop {
        if Command::new(env!("CARGO_BIN_EXE_jhub"))
            .args(["healthcheck", &format!("{base}/hub/health")])
            .status()
            .unwrap()
            .success()
        {
            break true;
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if !healthy {
        let _ = child.kill();
        let mut log = String::new();
        child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
        panic!("hub did not become healthy:\n{log}");
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (status, body) = runtime.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let response = reqwest::Client::new()
            .get(format!("{base}/hub/api/user"))
            .header("Authorization", format!("token {token}"))
            .send()
            .await
            .unwrap();
        (response.status(), response.json::<serde_json::Value>().await.unwrap())
    });
    assert_eq!(status, 200);
    assert_eq!(body["name"], "root");
    assert_eq!(body["admin"], true);

    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "jhub did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(exit.success(), "exit {exit:?}\n{log}");
    let lines: Vec<serde_json::Value> = log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(!lines.is_empty(), "--log-format json gives JSON lines:\n{log}");
    assert!(log.contains("terminated; shutting down") && log.contains("bye"), "{log}");
}

/// Starts `jhub serve` (fake spawner, in-memory proxy) with these values and
/// no `--listen`, waits for `/hub/health` on `port`, then stops it with
/// SIGTERM and returns its log (or panics with it).
fn serve_from_values_and_stop(values: &std::path::Path, db: &str, port: u16) -> String {
    let mut child = jhub()
        .env_remove("RUST_LOG")
        .env_remove("JHUB_LOG_LEVEL")
        .args(["serve", "-f"])
        .arg(values)
        .args(["--db-url", db, "--spawner", "fake", "--proxy", "memory"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let health = format!("http://127.0.0.1:{port}/hub/health");
    let deadline = Instant::now() + Duration::from_secs(30);
    let healthy = loop {
        if Command::new(env!("CARGO_BIN_EXE_jhub")).args(["healthcheck", &health]).status().unwrap().success() {
            break true;
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(healthy, "hub did not answer on {health}:\n{log}");
    log
}

/// Where the hub listens comes from `hub_ip`/`hub_port` or `hub_bind_url`,
/// and how much it logs from `debug.enabled` or `log_level` (JupyterHub's
/// names and numbers), unless `--log-level`/`RUST_LOG` say otherwise.
#[test]
fn serve_listens_and_logs_as_the_values_say() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/jhub.sqlite", dir.path().display());
    let base = std::fs::read_to_string(local_values(dir.path())).unwrap();
    let with = |name: &str, jupyterhub: &str, top: &str| {
        let path = dir.path().join(name);
        let text = base.replace("  config:\n", &format!("  config:\n    JupyterHub:\n{jupyterhub}")) + top;
        std::fs::write(&path, text).unwrap();
        path
    };
    // hub_ip + hub_port, debug.enabled: debug lines appear.
    let port = free_port();
    let values =
        with("debug.yaml", &format!("      hub_ip: 127.0.0.1\n      hub_port: {port}\n"), "debug:\n  enabled: true\n");
    let log = serve_from_values_and_stop(&values, &db, port);
    assert!(log.contains(&format!("listening on http://127.0.0.1:{port}")), "{log}");
    assert!(log.lines().any(|l| l.contains("DEBUG")), "debug.enabled gives debug lines:\n{log}");
    // hub_bind_url, log_level WARN (as a name): info lines stop once the values are read.
    let port = free_port();
    let values =
        with("warn.yaml", &format!("      hub_bind_url: http://127.0.0.1:{port}\n      log_level: WARN\n"), "");
    let log = serve_from_values_and_stop(&values, &db, port);
    assert!(!log.contains("listening on"), "log_level WARN hides info lines:\n{log}");
    assert!(!log.lines().any(|l| l.contains("DEBUG")), "{log}");
    // log_level 10 (Python's number for DEBUG).
    let port = free_port();
    let values = with("ten.yaml", &format!("      hub_bind_url: http://127.0.0.1:{port}\n      log_level: 10\n"), "");
    let log = serve_from_values_and_stop(&values, &db, port);
    assert!(log.lines().any(|l| l.contains("DEBUG")), "log_level 10 is debug:\n{log}");
    // A level that is none is refused before anything starts.
    let bad = with("bad.yaml", "      log_level: LOUD\n", "");
    let out = jhub().args(["check-config", "-f"]).arg(&bad).output().unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("log_level `LOUD` is not a level"), "{text}");
}
