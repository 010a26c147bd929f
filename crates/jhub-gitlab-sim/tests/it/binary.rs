//! The `jhub-gitlab-sim` binary: prints its URL, serves the preset, stops on SIGTERM.

use crate::client;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn binary_serves_the_demo_preset_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jhub-gitlab-sim"))
        .args(["--listen", "127.0.0.1:0", "--preset", "demo", "--token-lifetime", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .unwrap()
    .unwrap();
    let url = line.trim().strip_prefix("jhub-gitlab-sim listening on ").unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");

    let page = client()
        .get(format!("{url}/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", "jhub-demo"),
            ("redirect_uri", "http://127.0.0.1:8000/hub/oauth_callback"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for user in ["alice", "bob", "carol", "dave"] {
        assert!(html.contains(&format!("data-user=\"{user}\"")));
    }

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "simulator did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn binary_rejects_a_bad_config_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "groups: [{id: 1, full_path: a/b}]\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_jhub-gitlab-sim")).arg("--config").arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("parent group \"a\" is not configured"), "{stderr}");
}
