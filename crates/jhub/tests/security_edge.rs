//! Security regressions at the edge of the real `jhub serve` binary
//! (issue 11): slow-header connections, connection and header limits
//! (item 5); secrets in `check-config` output and the SQLite file mode
//! (item 7).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../../tests/support/free_port.rs"]
mod free_port;
use free_port::free_port;

fn jhub() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jhub"));
    for (key, _) in std::env::vars() {
        if key.starts_with("JHUB_VALUES__") || key == "CONFIGPROXY_AUTH_TOKEN" || key == "POD_NAMESPACE" {
            command.env_remove(key);
        }
    }
    command
}

const COOKIE_SECRET: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// Values for a local hub (dummy password, real secrets) plus `extra` YAML
/// under `hub.config`.
fn values(dir: &Path, hub_config_extra: &str) -> PathBuf {
    let path = dir.join("values.yaml");
    std::fs::write(
        &path,
        format!(
            "hub:\n  cookieSecret: {COOKIE_SECRET}\n  config:\n    DummyAuthenticator:\n      password: test-password-123\n{hub_config_extra}proxy:\n  secretToken: 5a4b3c2d1e0f5a4b3c2d1e0f5a4b3c2d\n"
        ),
    )
    .unwrap();
    path
}

/// A running `jhub serve`, killed on drop.
struct Hub {
    child: Child,
    addr: String,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_hub(dir: &Path, hub_config_extra: &str, db_url: &str) -> Hub {
    let values = values(dir, hub_config_extra);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = jhub()
        .args(["serve", "-f"])
        .arg(&values)
        .args(["--db-url", db_url, "--spawner", "fake", "--proxy", "memory", "--listen", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut hub = Hub { child, addr };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if get_health(&hub.addr).is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
            return hub;
        }
        if Instant::now() > deadline || hub.child.try_wait().unwrap().is_some() {
            let _ = hub.child.kill();
            let mut log = String::new();
            hub.child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
            panic!("hub did not become healthy:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One complete request on a fresh connection; the raw response.
fn raw_request(addr: &str, request: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out).ok()?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn get_health(addr: &str) -> Option<String> {
    raw_request(addr, "GET /hub/health HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
}

/// Sends half a request header and returns how long until the hub closes
/// the connection (`None`: still open after `give_up`).
fn half_header_lifetime(addr: &str, give_up: Duration) -> std::thread::JoinHandle<Option<Duration>> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(b"GET /hub/api HTTP/1.1\r\nHost: hub\r\nX-Slow: ").unwrap();
    let started = Instant::now();
    std::thread::spawn(move || {
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut buf = [0u8; 1024];
        while started.elapsed() < give_up {
            match stream.read(&mut buf) {
                Ok(_) => return Some(started.elapsed()),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return Some(started.elapsed()),
            }
        }
        None
    })
}

/// Issue 11 item 5 (slowloris): half a request header used to keep its
/// connection open indefinitely (still open after 45 s). The default header
/// read timeout (10 s) closes it, and normal requests are served meanwhile.
#[test]
fn slow_header_connection_is_closed_within_the_default_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub(dir.path(), "", "sqlite::memory:");
    let slow = half_header_lifetime(&hub.addr, Duration::from_secs(20));
    for _ in 0..5 {
        let answer = get_health(&hub.addr).expect("normal request while a slow one hangs");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let lifetime = slow.join().unwrap();
    eprintln!("half-header connection closed after {lifetime:?} (default header read timeout 10 s)");
    let lifetime = lifetime.expect("the half-header connection was still open after 20 s");
    assert!(lifetime >= Duration::from_secs(9), "closed too early: {lifetime:?}");
    assert!(lifetime <= Duration::from_secs(12), "closed too late: {lifetime:?}");
}

/// Item 5: the header timeout is a setting (`hub.config.JhubSecurity`),
/// and many slow connections at once do not stop normal requests.
#[test]
fn slow_header_timeout_is_configurable_and_many_slow_clients_do_not_block_others() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub(dir.path(), "    JhubSecurity:\n      header_read_timeout_seconds: 2\n", "sqlite::memory:");
    let slow: Vec<_> = (0..50).map(|_| half_header_lifetime(&hub.addr, Duration::from_secs(10))).collect();
    let answer = get_health(&hub.addr).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    for handle in slow {
        let lifetime = handle.join().unwrap().expect("a slow connection was still open after 10 s");
        assert!(lifetime >= Duration::from_millis(1500) && lifetime <= Duration::from_secs(4), "{lifetime:?}");
    }
}

/// Item 5: request heads beyond `max_header_bytes` get 431 (not unbounded
/// buffering); normal ones still pass.
#[test]
fn oversized_request_header_is_refused_with_431() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub(dir.path(), "    JhubSecurity:\n      max_header_bytes: 16384\n", "sqlite::memory:");
    let big = "a".repeat(20_000);
    let answer = raw_request(
        &hub.addr,
        &format!("GET /hub/health HTTP/1.1\r\nHost: hub\r\nX-Big: {big}\r\nConnection: close\r\n\r\n"),
    )
    .unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.200}");
    let fine = "a".repeat(4_000);
    let answer = raw_request(
        &hub.addr,
        &format!("GET /hub/health HTTP/1.1\r\nHost: hub\r\nX-Fine: {fine}\r\nConnection: close\r\n\r\n"),
    )
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.200}");
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let answer =
        raw_request(&hub.addr, &format!("GET /hub/health HTTP/1.1\r\nHost: hub\r\n{many}Connection: close\r\n\r\n"))
            .unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 431"), "150 header fields: {answer:.200}");
}

/// `JhubSecurity.max_headers`: more header fields than configured get 431;
/// as many as configured pass.
#[test]
fn header_count_limit_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub(dir.path(), "    JhubSecurity:\n      max_headers: 20\n", "sqlite::memory:");
    let request = |fields: usize| {
        let extra: String = (0..fields).map(|i| format!("X-H{i}: v\r\n")).collect();
        raw_request(&hub.addr, &format!("GET /hub/health HTTP/1.1\r\nHost: hub\r\n{extra}Connection: close\r\n\r\n"))
            .unwrap_or_default()
    };
    // Host and Connection count too: 16 + 2 fit, 30 + 2 do not.
    let answer = request(16);
    assert!(answer.starts_with("HTTP/1.1 200"), "18 fields under a limit of 20: {answer:.200}");
    let answer = request(30);
    assert!(answer.starts_with("HTTP/1.1 431"), "32 fields over a limit of 20: {answer:.200}");
}

/// Item 5: at `max_connections` the hub stops accepting; a newcomer is
/// served once a held connection goes (here: closed by the header timeout).
#[test]
fn connection_limit_holds_newcomers_until_a_connection_closes() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub(
        dir.path(),
        "    JhubSecurity:\n      max_connections: 3\n      header_read_timeout_seconds: 3\n",
        "sqlite::memory:",
    );
    // Let the health-check connections of start_hub finish.
    std::thread::sleep(Duration::from_millis(300));
    let held: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(&hub.addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let answer = get_health(&hub.addr).expect("the newcomer is served eventually");
    let waited = started.elapsed();
    eprintln!("fourth connection answered after {waited:?}");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(waited >= Duration::from_secs(2), "served at once despite the limit: {waited:?}");
    assert!(waited <= Duration::from_secs(6), "{waited:?}");
    drop(held);
}

/// Item 5: the header timeout does not cut kept-alive connections between
/// requests (configurable-http-proxy keeps its sockets to the hub without a
/// timeout of its own; closing them early makes it answer 503 now and then).
#[test]
fn kept_alive_connection_outlives_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub(dir.path(), "    JhubSecurity:\n      header_read_timeout_seconds: 1\n", "sqlite::memory:");
    let mut stream = TcpStream::connect(&hub.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    for round in 0..2 {
        stream.write_all(b"GET /hub/health HTTP/1.1\r\nHost: hub\r\n\r\n").unwrap();
        let n = stream.read(&mut buf).unwrap();
        let answer = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(answer.starts_with("HTTP/1.1 200"), "round {round}: {answer:?}");
        std::thread::sleep(Duration::from_millis(2500));
    }
}

/// Item 5: a request whose body stalls is ended after the idle timeout
/// (it used to wait for the rest of the body forever).
#[test]
fn stalled_request_body_is_ended_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub(dir.path(), "    JhubSecurity:\n      idle_timeout_seconds: 2\n", "sqlite::memory:");
    let mut stream = TcpStream::connect(&hub.addr).unwrap();
    stream
        .write_all(b"POST /hub/login HTTP/1.1\r\nHost: hub\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nusername=a")
        .unwrap();
    let started = Instant::now();
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let waited = started.elapsed();
    eprintln!("stalled body ended after {waited:?}: {:.60}", String::from_utf8_lossy(&out));
    assert!(waited >= Duration::from_millis(1500), "{waited:?}");
    assert!(waited < Duration::from_secs(6), "the stalled request was still open after {waited:?}");
}

/// `hub.config.JhubSecurity` is read into the typed config, and a typo in it
/// is reported, not silently ignored.
#[test]
fn jhub_security_settings_are_read_and_typos_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = values(
        dir.path(),
        "    JhubSecurity:\n      stop_servers_on_access_loss: false\n      max_connections: 7\n      header_read_timeout: 3\n",
    );
    let output = jhub().args(["check-config", "--print", "--format", "json", "-f"]).arg(&file).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let security = &doc["config"]["security"];
    assert_eq!(security["stop_servers_on_access_loss"], false);
    assert_eq!(security["max_connections"], 7);
    assert_eq!(security["header_read_timeout_seconds"], 10.0, "the typo leaves the default");
    let absurd = values(dir.path(), "    JhubSecurity:\n      idle_timeout_seconds: 1.0e300\n");
    let output = jhub().args(["check-config", "-f"]).arg(&absurd).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "an out-of-range timeout is an error, not a panic later: {text}");
    assert!(text.contains("at most 86400"), "{text}");
    let text = doc["diagnostics"].to_string();
    assert!(
        text.contains("unknown-trait") && text.contains("JhubSecurity.header_read_timeout"),
        "the typo is reported: {text}"
    );
}

/// Values with a secret of every kind the issue lists; each secret text
/// contains `HUSH` and must never be printed.
const SECRETS_VALUES: &str = r#"
hub:
  cookieSecret: 0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0
  db:
    type: postgres
    url: postgresql://jhub:db-pass-HUSH1@db.example.org:5432/jhub
  extraEnv:
    GITLAB_CLIENT_SECRET: env-HUSH2
    SOME_SETTING: env-HUSH3
  config:
    DummyAuthenticator:
      password: dummy-HUSH9
    JupyterHub:
      services:
        - name: monitor
          api_token: svc-HUSH4
proxy:
  secretToken: 5a4b3c2d1e0f5a4b3c2d1e0f5a4b3c2d
  https:
    enabled: true
    type: manual
    manual:
      key: |
        -----BEGIN PRIVATE KEY-----
        key-HUSH5
        -----END PRIVATE KEY-----
      cert: cert-public
"#;

fn assert_no_secret(text: &str) {
    for line in text.lines() {
        assert!(!line.contains("HUSH"), "a secret is printed: {line:?}\nin:\n{text}");
    }
}

/// Issue 11 item 7: `check-config --print` printed service tokens, the TLS
/// key, `hub.extraEnv` values and the password inside `hub.db.url` in clear.
#[test]
fn check_config_print_masks_every_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.yaml");
    std::fs::write(&file, SECRETS_VALUES).unwrap();
    for format in ["human", "json"] {
        let output = jhub().args(["check-config", "--print", "--format", format, "-f"]).arg(&file).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{format}: {stdout}\n{stderr}");
        assert!(stdout.contains("db.example.org"), "{format}: the db url is still shown: {stdout}");
        assert_no_secret(&stdout);
        assert_no_secret(&stderr);
    }
}

/// Item 7: diagnostics quote the source line; a line with a secret on it
/// is quoted with the secret masked (an error on the image pull secret's
/// password line, a warning on `api_tokens`, a syntax error next to a
/// password).
#[test]
fn diagnostics_never_quote_secret_values() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // A mis-indented line: the YAML error quotes the password line.
        "imagePullSecret:\n  create: true\n  registry: r.example.org\n  username: robot\n   password: pull-HUSH6\n",
        // A schema type error on a secret: neither the line nor the message shows it.
        "hub:\n  cookieSecret: 12345678901234567890123456789012345\n",
        "hub:\n  config:\n    JupyterHub:\n      api_tokens: {tok-HUSH7: alice}\n",
        "hub:\n  config:\n    JupyterHub:\n      api_tokens:\n        tok-HUSH8: bob\n",
        // A password inside a URL, on a mis-indented line.
        "hub:\n  db:\n    type: postgres\n     url: postgresql://u:url-HUSH10@h/db\n",
        "hub:\n  config:\n    GitLabOAuthenticator:\n      client_secret: [gl-HUSH11]\n",
    ];
    for (i, case) in cases.iter().enumerate() {
        let file = dir.path().join(format!("case{i}.yaml"));
        std::fs::write(&file, case).unwrap();
        let output = jhub().args(["check-config", "-f"]).arg(&file).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains(" | "), "case {i} quotes a source line: {stdout}");
        assert_no_secret(&stdout.replace("12345678901234567890123456789012345", "HUSH"));
        assert_no_secret(&String::from_utf8_lossy(&output.stderr));
    }
}

/// Item 7: a cookie secret shorter than 32 bytes is refused outside
/// `--dev`, and the refusal names the real flag (it named a
/// nonexistent `--allow-insecure-dev-secrets`).
#[test]
fn serve_refuses_short_secrets_and_names_the_dev_flag() {
    let dir = tempfile::tempdir().unwrap();
    for (name, yaml) in [
        ("short-cookie", "hub:\n  cookieSecret: \"0011223344556677\"\n"),
        (
            "short-crypt-key",
            &*format!("hub:\n  cookieSecret: {COOKIE_SECRET}\n  config:\n    CryptKeeper:\n      keys: [abcdef]\n"),
        ),
    ] {
        let file = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, format!("{yaml}proxy:\n  secretToken: 5a4b3c2d1e0f5a4b3c2d1e0f5a4b3c2d\n")).unwrap();
        let output = jhub()
            .args(["serve", "-f"])
            .arg(&file)
            .args(["--spawner", "fake", "--proxy", "memory", "--listen", "127.0.0.1:0", "--db-url", "sqlite::memory:"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name}: started with a short secret\n{stderr}");
        assert!(stderr.contains("refusing to start"), "{name}: {stderr}");
        assert!(stderr.contains("--dev"), "{name}: the refusal names the flag: {stderr}");
        assert!(!stderr.contains("--allow-insecure-dev-secrets"), "{name}: {stderr}");
        assert!(!stderr.contains("0011223344556677") && !stderr.contains("abcdef"), "{name}: {stderr}");
    }
}

/// Item 7: the SQLite database (hashed tokens, encrypted auth state) is
/// created readable by its owner only, and so are its WAL files.
#[cfg(unix)]
#[test]
fn sqlite_database_is_created_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("jhub.sqlite");
    let hub = start_hub(dir.path(), "", &format!("sqlite://{}", db.display()));
    for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.starts_with("jhub.sqlite") {
            continue;
        }
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name} has mode {mode:o}");
    }
    drop(hub);
    assert!(db.exists());
}
