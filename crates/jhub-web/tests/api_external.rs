//! The hub API against the real tools that talk to JupyterHub:
//! schemathesis with JupyterHub 6.1.1's own OpenAPI file, the real
//! `jupyterhub-idle-culler` 2.0.0 as an external process, and a token minted
//! by the real `jupyterhub token` command.
//!
//! Tools come from `eval "$(scripts/install-tools culler schemathesis singleuser)"`
//! (`JHUB_SCHEMATHESIS`, `JHUB_IDLE_CULLER`, `JHUB_REAL_JUPYTERHUB`). A
//! missing tool fails the test with that instruction, unless
//! `JHUB_SKIP_EXTERNAL=1` (never set in CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use jhub_hub::{RoleSpec, ServiceSpec};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

fn service(name: &str, token: &str, admin: bool) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        admin,
        url: None,
        api_token: Some(token.into()),
        display: false,
        oauth_no_confirm: false,
        oauth_redirect_uri: None,
        info: json!({}),
    }
}

// ---------------------------------------------------------------- schemathesis

/// One line of `schemathesis-known-spec-errors.md`.
struct KnownError {
    check: String,
    operation: String,
    pattern: regex::Regex,
    line: String,
}

fn known_errors() -> Vec<KnownError> {
    let path = common::repo_root().join("crates/jhub-web/tests/data/schemathesis-known-spec-errors.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut rules = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("- `")) {
        let fields: Vec<&str> = line.split('`').collect();
        assert!(fields.len() >= 7, "malformed rule line: {line}");
        let (check, operation, pattern) = (fields[1], fields[3], fields[5]);
        let evidence = fields[6..].join("`");
        assert!(evidence.trim_start().starts_with('—') && evidence.len() > 20, "rule without evidence: {line}");
        let pattern = regex::Regex::new(&format!("(?s){pattern}")).unwrap_or_else(|e| panic!("{line}: {e}"));
        rules.push(KnownError { check: check.into(), operation: operation.into(), pattern, line: line.into() });
    }
    assert!(!rules.is_empty());
    rules
}

#[derive(Debug)]
struct Failure {
    check: String,
    operation: String,
    haystack: String,
}

/// Failures and server errors from a schemathesis ndjson report.
fn read_report(path: &std::path::Path) -> (Vec<Failure>, Vec<String>, usize) {
    let mut failures = Vec::new();
    let mut server_errors = Vec::new();
    let mut interactions = 0;
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        // Connection errors and timeouts: the hub dropped or hung a request.
        if let Some(error) = event.get("NonFatalError") {
            server_errors.push(format!("{} during {}", error["value"], error["label"]));
            continue;
        }
        let Some(scenario) = event.get("ScenarioFinished") else { continue };
        let recorder = &scenario["recorder"];
        let responses: BTreeMap<String, (u64, String, String)> = recorder["interactions"]
            .as_object()
            .map(|all| {
                all.iter()
                    .filter_map(|(id, interaction)| {
                        let response = interaction.get("response")?;
                        let status = response["status_code"].as_u64()?;
                        let body = response["content"]["$base64"]
                            .as_str()
                            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                            .unwrap_or_default();
                        let request = format!(
                            "{} {}",
                            interaction["request"]["method"].as_str().unwrap_or(""),
                            interaction["request"]["uri"].as_str().unwrap_or("")
                        );
                        Some((id.clone(), (status, body, request)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        interactions += responses.len();
        for (status, body, request) in responses.values() {
            if *status >= 500 {
                server_errors.push(format!("{status} for {request}: {body}"));
            }
        }
        let Some(checks) = recorder["checks"].as_object() else { continue };
        for (case, results) in checks {
            for result in results.as_array().into_iter().flatten() {
                if result["status"] != "failure" {
                    continue;
                }
                let failure = &result["failure_info"]["failure"];
                let (status, body) = responses.get(case).map(|(s, b, _)| (*s, b.clone())).unwrap_or_default();
                failures.push(Failure {
                    check: failure["code"].as_str().unwrap_or("").into(),
                    operation: failure["operation"].as_str().unwrap_or("").into(),
                    haystack: format!("{}\nResponse: {status} {body}", failure["message"].as_str().unwrap_or("")),
                });
            }
        }
    }
    (failures, server_errors, interactions)
}

fn matches(rule: &KnownError, failure: &Failure) -> bool {
    rule.check == failure.check
        && (rule.operation == "*" || rule.operation == failure.operation)
        && rule.pattern.is_match(&failure.haystack)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_errors_and_only_known_spec_errors() {
    let Some(schemathesis) = common::external_tool("JHUB_SCHEMATHESIS", "schemathesis") else { return };
    const TOKEN: &str = "schemathesis-admin-token-0123456789";
    // A service token: the fuzzer deletes users' tokens, never a service's.
    let hub = common::start_with(|s, _| s.services.push(service("fuzz-admin", TOKEN, true))).await;
    let rules = known_errors();
    let dir = tempfile::tempdir().unwrap();
    let spec = common::repo_root().join("crates/jhub-web/tests/data/jupyterhub-rest-api.yml");
    let mut command = tokio::process::Command::new(&schemathesis);
    command
        .arg("run")
        .arg(&spec)
        .arg("--url")
        .arg(hub.api(""))
        .args(["-H", &format!("Authorization: token {TOKEN}")])
        .args(["--exclude-operation-id", "post-shutdown", "--exclude-operation-id", "patch-proxy"])
        .args(["--max-time", "60", "--seed", "42", "--workers", "2", "--no-color", "--request-timeout", "30"])
        .args(["--report", "ndjson", "--report-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(300), command.output()).await.unwrap().unwrap();
    let log = String::from_utf8_lossy(&output.stdout);
    let report = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "ndjson"))
        .unwrap_or_else(|| {
            panic!("no ndjson report; schemathesis said:\n{log}\n{}", String::from_utf8_lossy(&output.stderr))
        });
    let (failures, server_errors, interactions) = read_report(&report);
    assert!(interactions > 500, "schemathesis barely ran ({interactions} requests):\n{log}");
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut unknown = Vec::new();
    for failure in &failures {
        match rules.iter().find(|rule| matches(rule, failure)) {
            Some(rule) => *counts.entry(rule.line.as_str()).or_default() += 1,
            None => unknown.push(failure),
        }
    }
    for (line, count) in &counts {
        eprintln!("{count:5} × {}", &line[..line.len().min(140)]);
    }
    eprintln!(
        "{interactions} requests, {} failures, all but {} explained by the spec's known errors",
        failures.len(),
        unknown.len()
    );
    assert!(server_errors.is_empty(), "server errors:\n{}", server_errors.join("\n"));
    assert!(
        unknown.is_empty(),
        "failures not explained by tests/data/schemathesis-known-spec-errors.md:\n{}",
        unknown
            .iter()
            .map(|f| format!("{} {}: {}", f.check, f.operation, &f.haystack[..f.haystack.len().min(1500)]))
            .collect::<Vec<_>>()
            .join("\n---\n")
    );
    // The fuzzer's odd names must not have broken later listings.
    let (status, _) = hub.get("/users", TOKEN).await;
    assert_eq!(status, 200);
    let (status, _) = hub.get("/groups", TOKEN).await;
    assert_eq!(status, 200);
}

#[test]
fn known_error_rules_match_what_they_claim() {
    let rules = known_errors();
    let explain = |check: &str, operation: &str, haystack: &str| {
        let failure = Failure { check: check.into(), operation: operation.into(), haystack: haystack.into() };
        rules.iter().any(|rule| matches(rule, &failure))
    };
    assert!(explain("ST103", "GET /users/{name}", "Received: 404\nDocumented: 200\nResponse: 404 {}"));
    assert!(!explain("ST103", "GET /users/{name}", "Received: 500\nDocumented: 200\nResponse: 500 {}"));
    assert!(!explain("ST103", "GET /users/{name}", "Received: 201\nDocumented: 200\nResponse: 201 {}"));
    assert!(explain(
        "ST108",
        "GET /users",
        "null is not of type \"string\"\n\nSchema at /components/schemas/User/properties/server:\n\nResponse: 200 []"
    ));
    assert!(!explain(
        "ST108",
        "GET /users",
        "123 is not of type \"string\"\n\nSchema at /components/schemas/User/properties/name:\n\nResponse: 200 []"
    ));
    assert!(!explain("ST101", "GET /users", "Server error\nResponse: 500 {}"));
    assert!(!explain(
        "ST202",
        "GET /users",
        "Valid data should have been accepted\nResponse: 400 {\"message\":\"other\"}"
    ));
}

// ---------------------------------------------------------------- idle culler

/// What `jupyterhub-singleuser` reports for an active server.
async fn report_activity(hub: &common::TestHub) -> u16 {
    let now = jhub_core::time::isoformat(hub.hub.now());
    let body = json!({"last_activity": now, "servers": {"": {"last_activity": now}}});
    hub.call(Method::POST, "/users/busy/activity", &hub.admin_token, Some(body)).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_idle_culler_culls_idle_servers_and_users_only() {
    let Some(python) = common::external_tool("JHUB_IDLE_CULLER", "culler") else { return };
    const CULLER_TOKEN: &str = "culler-service-token-0123456789";
    let clock = Arc::new(common::OffsetClock::default());
    // What happens first looks two hours old to the culler.
    clock.set_behind(Duration::from_secs(2 * 3600));
    let options = common::Options { clock: Some(clock.clone()), ..Default::default() };
    let hub = common::start_opts(options, |s, _| {
        s.services.push(service("jupyterhub-idle-culler", CULLER_TOKEN, false));
        // Exactly the scopes the culler's README lists (auth-culler-proxy §2.4).
        s.roles.push(RoleSpec {
            name: "jupyterhub-idle-culler".into(),
            description: None,
            scopes: ["list:users", "read:users:activity", "read:servers", "delete:servers", "admin:users"]
                .map(String::from)
                .to_vec(),
            users: vec![],
            groups: vec![],
            services: vec!["jupyterhub-idle-culler".into()],
        });
    })
    .await;
    // idle: an admin with an old server (admins are spared as users: --cull-admin-users=false).
    let (status, _) = hub.admin(Method::POST, "/users/idle", Some(json!({"admin": true}))).await;
    assert_eq!(status, 201);
    let (status, _) = hub.admin(Method::POST, "/users/idle/server", None).await;
    assert_eq!(status, 201);
    // gone: an inactive user without servers.
    let (status, _) = hub.admin(Method::POST, "/users/gone", None).await;
    assert_eq!(status, 201);
    clock.set_behind(Duration::ZERO);
    // busy: a fresh server that keeps reporting activity.
    let (status, _) = hub.admin(Method::POST, "/users/busy", None).await;
    assert_eq!(status, 201);
    let (status, _) = hub.admin(Method::POST, "/users/busy/server", None).await;
    assert_eq!(status, 201);

    let mut child = tokio::process::Command::new(&python)
        .args(["-m", "jupyterhub_idle_culler"])
        .arg(format!("--url={}", hub.api("")))
        .args(["--timeout=60", "--cull-every=2", "--cull-users=true", "--cull-admin-users=false"])
        .env("JUPYTERHUB_API_TOKEN", CULLER_TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    for stream in [
        child.stderr.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child.stdout.take().map(|s| Box::new(s) as _),
    ]
    .into_iter()
    .flatten()
    {
        let log = log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                log.lock().unwrap().push_str(&line);
                log.lock().unwrap().push('\n');
            }
        });
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        assert_eq!(report_activity(&hub).await, 200);
        let text = log.lock().unwrap().clone();
        let culled = text.contains("Culling server idle ") && text.contains("Culling user gone ");
        let done = culled && !hub.spawner.is_running("idle", "") && hub.hub.read().user("gone").is_none();
        if done {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the culler exited:\n{text}");
        assert!(tokio::time::Instant::now() < deadline, "the culler did not cull in time:\n{text}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Two more runs: the active server and the spared admin stay.
    for _ in 0..10 {
        assert_eq!(report_activity(&hub).await, 200);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let text = log.lock().unwrap().clone();
    child.kill().await.unwrap();
    assert!(hub.spawner.is_running("busy", ""), "active server was culled:\n{text}");
    assert!(!text.contains("Culling server busy"), "{text}");
    let (status, idle) = hub.admin(Method::GET, "/users/idle", None).await;
    assert_eq!(status, 200, "the admin user is spared with --cull-admin-users=false:\n{text}");
    assert_eq!(idle["servers"], json!({}), "idle server stopped");
    assert!(!text.contains("Error processing"), "{text}");
}

// ---------------------------------------------------------------- real JupyterHub token

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_minted_by_real_jupyterhub_authenticates() {
    let Some(jupyterhub) = common::external_tool("JHUB_REAL_JUPYTERHUB", "singleuser") else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("jh.sqlite");
    let config = dir.path().join("jupyterhub_config.py");
    std::fs::write(
        &config,
        format!(
            "c = get_config()\nc.Authenticator.allowed_users = {{'alice'}}\nc.JupyterHub.cookie_secret_file = {:?}\n",
            dir.path().join("cookie_secret").display().to_string()
        ),
    )
    .unwrap();
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(&jupyterhub)
            .args(["token", "alice"])
            .arg(format!("--db=sqlite:///{}", db.display()))
            .arg("-f")
            .arg(&config)
            .current_dir(dir.path())
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(output.status.success(), "jupyterhub token failed: {}", String::from_utf8_lossy(&output.stderr));
    let secret = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert_eq!(secret.len(), 32, "{secret:?}");
    // The row JupyterHub stored, read with its venv's python (sqlite3 module).
    let python = std::path::Path::new(&jupyterhub).with_file_name("python");
    let script = "import json, sqlite3, sys\n\
        c = sqlite3.connect(sys.argv[1])\n\
        row = c.execute(\"select t.hashed, t.prefix, t.scopes, t.note from api_tokens t join users u on u.id = t.user_id where u.name = 'alice'\").fetchone()\n\
        print(json.dumps(row))\n";
    let output = tokio::process::Command::new(&python).arg("-c").arg(script).arg(&db).output().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let row: Value = serde_json::from_slice(&output.stdout).unwrap();
    let hashed = row[0].as_str().unwrap().to_string();
    let prefix = row[1].as_str().unwrap().to_string();
    assert!(hashed.starts_with("sha512:1:"), "{hashed}");
    assert_eq!(prefix, &secret[..4]);

    let hub = common::start().await;
    let alice = hub.hub.create_user("alice", false).await.unwrap();
    let scopes: Vec<String> = serde_json::from_str(row[2].as_str().unwrap()).unwrap();
    hub.hub
        .store()
        .insert_token(&jhub_store::NewToken {
            owner: jhub_core::model::TokenOwner::User(alice.id),
            hashed,
            prefix,
            client_id: "jupyterhub".into(),
            session_id: None,
            created: hub.hub.now(),
            expires_at: None,
            note: row[3].as_str().map(str::to_string),
            scopes,
        })
        .await
        .unwrap();
    let (status, body) = hub.get("/user", &secret).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "alice");
    assert_eq!(body["kind"], "user");
    assert!(body["scopes"].as_array().unwrap().iter().any(|s| s == "read:users!user=alice"), "{body}");
    // A different secret with the same prefix is refused.
    let forged = format!("{}{}", &secret[..4], "0".repeat(28));
    let (status, _) = hub.get("/user", &forged).await;
    assert_eq!(status, 403);
}
