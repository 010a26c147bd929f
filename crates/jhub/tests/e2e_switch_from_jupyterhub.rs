//! The switch-over, differential: the real JupyterHub 6.1.1 with the real KubeSpawner 7.1.0
//! runs against the Kubernetes simulator (its kubeconfig) behind the real CHP, spawns real
//! JupyterLab servers as pods (a default and a named one), issues tokens; it is stopped the way
//! Kubernetes stops the hub pod (SIGTERM, `cleanup_servers = False`); jhub imports its database
//! and starts on the same hub address, CHP and namespace. The old tokens work, the pods are
//! adopted without a restart (same uid), JupyterLab keeps answering through CHP (checking the
//! token against jhub now), and JupyterHub's database file is byte-identical afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/support/free_port.rs"]
mod free_port;
mod real_jupyterhub;

use free_port::free_port;
use jhub_kube_sim::{Resource, SimConfig, Simulator};
use real_jupyterhub::{RealHub, Secrets, jupyterhub_exe};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Command;

const NS: &str = "jhub";
const IMAGE: &str = "quay.io/jupyterhub/k8s-singleuser-sample";

fn tool(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(p) if !p.is_empty() && Path::new(&p).exists() => Some(p),
        _ if std::env::var("JHUB_SKIP_EXTERNAL").is_ok_and(|v| v == "1") => None,
        _ => panic!("{var} is not set: run `eval \"$(scripts/install-tools all)\"` or set JHUB_SKIP_EXTERNAL=1"),
    }
}

fn kubespawner_config(hub_port: u16) -> String {
    format!(
        r#"
c.JupyterHub.spawner_class = 'kubespawner.KubeSpawner'
c.JupyterHub.hub_connect_url = 'http://127.0.0.1:{hub_port}'
c.ConfigurableHTTPProxy.should_start = False
c.KubeSpawner.namespace = '{NS}'
c.KubeSpawner.image = '{IMAGE}:4.2.0'
c.KubeSpawner.cmd = ['jupyterhub-singleuser']
c.KubeSpawner.start_timeout = 120
c.KubeSpawner.http_timeout = 120
"#
    )
}

async fn wait_http(url: &str, what: &str, secs: u64) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if client.get(url).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what} did not answer at {url}");
}

fn pod_uid(sim: &Simulator, name: &str) -> Option<String> {
    sim.get(Resource::Pods, NS, name).and_then(|p| p.pointer("/metadata/uid").and_then(Value::as_str).map(String::from))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jupyterhub_with_kubespawner_hands_over_to_jhub() {
    let Some(hub_exe) = tool("JHUB_KUBESPAWNER_HUB") else { return };
    let Some(chp) = tool("JHUB_CHP") else { return };
    let Some(singleuser) = tool("JHUB_SINGLEUSER") else { return };
    let _ = jupyterhub_exe("hub6");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::Builder::new().prefix("jhub-switch-").tempdir().unwrap();
    let root = dir.path();

    // The cluster: process-mode pods run the real jupyterhub-singleuser (JupyterLab).
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).unwrap();
    let mut kube_cfg = SimConfig::seed_cluster().with_namespace(NS).process_mode(root.join("kube"));
    kube_cfg.pod_network = format!("127.{}.{}.0/24", 64 + u16::from(b[0]) % 187, b[1]);
    kube_cfg = kube_cfg.with_singleuser(&format!("{IMAGE}*"), &singleuser, &["--ServerApp.allow_root=True"]);
    let sim = Simulator::start(kube_cfg).expect("kube sim");
    let server = sim.serve_local().await.expect("kube sim server");
    let kubeconfig = root.join("kubeconfig");
    std::fs::write(&kubeconfig, jhub_kube_sim::kubeconfig(&server.url, NS)).unwrap();

    // CHP, started separately as z2jh runs it (the proxy pod outlives hub restarts).
    let secrets = Secrets::generate();
    let (public, api) = (free_port(), free_port());
    // The hub address is fixed across the switch: the pods' JUPYTERHUB_API_URL points there.
    let hub_port = free_port();
    let chp_log = std::fs::File::create(root.join("chp.log")).unwrap();
    let mut chp = Command::new(&chp)
        .args(["--ip", "127.0.0.1", "--port", &public.to_string(), "--api-ip", "127.0.0.1"])
        .args(["--api-port", &api.to_string(), "--default-target", &format!("http://127.0.0.1:{hub_port}")])
        .env("CONFIGPROXY_AUTH_TOKEN", &secrets.proxy_token)
        .stdin(Stdio::null())
        .stdout(chp_log.try_clone().unwrap())
        .stderr(chp_log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_http(&format!("http://127.0.0.1:{api}/api/routes"), "CHP", 30).await;

    // The real JupyterHub + KubeSpawner.
    let db_path = root.join("jupyterhub.sqlite");
    let db_url = format!("sqlite:///{}", db_path.display());
    let env = [("KUBECONFIG", kubeconfig.display().to_string())];
    let spawner = kubespawner_config(hub_port);
    let mut real =
        RealHub::start_on(Path::new(&hub_exe), root, &db_url, &secrets, &spawner, &env, (public, hub_port, api)).await;
    let issued = real.populate_kube().await;
    let uid_default = pod_uid(&sim, "jupyter-alice").expect("pod jupyter-alice");
    let uid_named = pod_uid(&sim, "jupyter-alice--gpu").expect("pod jupyter-alice--gpu");
    let lab = format!("http://127.0.0.1:{public}/user/alice/api/status");
    let client = reqwest::Client::new();
    let before =
        client.get(&lab).header("Authorization", format!("token {}", issued.alice_inherit)).send().await.unwrap();
    assert_eq!(before.status(), StatusCode::OK, "JupyterLab through CHP under JupyterHub");
    let log = real.log_text();
    assert!(!log.contains("Traceback"), "KubeSpawner logged an exception against the simulator:\n{log}");
    real.stop().await;
    let hash_before = std::fs::read(&db_path).unwrap();

    // jhub: import, then serve on the same address, CHP and namespace.
    let values = root.join("values.yaml");
    std::fs::write(
        &values,
        format!(
            "hub:\n  cookieSecret: {cookie}\n  config:\n    JupyterHub:\n      hub_connect_url: http://127.0.0.1:{hub_port}\n      \
             allow_named_servers: true\n    ConfigurableHTTPProxy:\n      api_url: http://127.0.0.1:{api}\n    \
             DummyAuthenticator:\n      password: jupyter-pw-123\n    Authenticator:\n      admin_users: [root]\n      \
             enable_auth_state: true\n  services:\n    ops:\n      apiToken: {svc}\n  loadRoles:\n    ops-role:\n      \
             scopes: [admin:users, admin:servers, admin:groups, tokens, read:roles, admin:auth_state]\n      services: [ops]\n\
             proxy:\n  secretToken: {proxy}\nsingleuser:\n  image:\n    name: {IMAGE}\n    tag: \"4.2.0\"\n  storage:\n    type: none\n",
            cookie = secrets.cookie_secret_hex,
            svc = secrets.service_token,
            proxy = secrets.proxy_token,
        ),
    )
    .unwrap();
    let target = format!("sqlite://{}/jhub.sqlite", root.display());
    let out = Command::new(env!("CARGO_BIN_EXE_jhub"))
        .args(["import-jupyterhub", "-f"])
        .arg(&values)
        .args(["--db-url", &target, "--from", &db_url])
        .env("JUPYTERHUB_CRYPT_KEY", &secrets.crypt_key_hex)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
    let jhub_log = root.join("jhub.log");
    let file = std::fs::File::create(&jhub_log).unwrap();
    let mut jhub = Command::new(env!("CARGO_BIN_EXE_jhub"))
        .args(["serve", "-f"])
        .arg(&values)
        .args(["--db-url", &target, "--kube-url", &server.url, "--listen", &format!("127.0.0.1:{hub_port}")])
        .env("JUPYTERHUB_CRYPT_KEY", &secrets.crypt_key_hex)
        .env("POD_NAMESPACE", NS)
        .env("HELM_RELEASE_NAME", "jupyterhub")
        .env("JHUB_DATA_DIR", root)
        .env_remove("CONFIGPROXY_AUTH_TOKEN")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let jlog = || std::fs::read_to_string(&jhub_log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if client
            .get(format!("http://127.0.0.1:{hub_port}/hub/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        if let Ok(Some(status)) = jhub.try_wait() {
            panic!("jhub exited with {status}:\n{}", jlog());
        }
        assert!(Instant::now() < deadline, "jhub not healthy:\n{}", jlog());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Old tokens, adopted pods (same uid: not restarted), JupyterLab through CHP.
    let me = client
        .get(format!("http://127.0.0.1:{hub_port}/hub/api/user"))
        .header("Authorization", format!("token {}", issued.alice_inherit))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK, "{}", jlog());
    assert_eq!(me.json::<Value>().await.unwrap()["name"], "alice");
    let alice = client
        .get(format!("http://127.0.0.1:{hub_port}/hub/api/users/alice"))
        .header("Authorization", format!("token {}", secrets.service_token))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(alice.pointer("/servers//ready"), Some(&json!(true)), "default server adopted: {alice:#}\n{}", jlog());
    assert_eq!(alice.pointer("/servers/gpu/ready"), Some(&json!(true)), "named server adopted: {alice:#}");
    assert_eq!(pod_uid(&sim, "jupyter-alice").as_deref(), Some(uid_default.as_str()), "the pod was not replaced");
    assert_eq!(pod_uid(&sim, "jupyter-alice--gpu").as_deref(), Some(uid_named.as_str()), "the pod was not replaced");
    let after =
        client.get(&lab).header("Authorization", format!("token {}", issued.alice_inherit)).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::OK, "JupyterLab through CHP under jhub:\n{}", jlog());
    let gpu = format!("http://127.0.0.1:{public}/user/alice/gpu/api/status");
    let after =
        client.get(&gpu).header("Authorization", format!("token {}", issued.alice_inherit)).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::OK, "the named server through CHP under jhub");

    let _ = jhub.kill().await;
    let _ = chp.kill().await;
    assert!(std::fs::read(&db_path).unwrap() == hash_before, "the JupyterHub database file changed");
    server.stop().await;
    sim.shutdown().await;
}
