//! End-to-end harness: the whole seed deployment on one machine, on random loopback ports.
//!
//! A [`Stack`] is the stock configurable-http-proxy (a child process), jhub itself (the real
//! binary as a child process, so tests can kill and restart it; `demo/seed-config.yaml` +
//! `demo/local.yaml` + an overlay with this stack's ports and generated secrets), the GitLab
//! simulator and the Kubernetes simulator in process mode (in-process; every user "pod" is a
//! real `jupyterhub-singleuser` on its own loopback IP, with the seed cluster's nodes).
//!
//! Logs of every process are kept in the stack's temporary directory; when a test fails the
//! directory is kept and the tail of every log is printed. Tools come from
//! `scripts/install-tools` (`JHUB_CHP`, `JHUB_SINGLEUSER*`, `JHUB_CHROMIUM`,
//! `JHUB_NODE_MODULES`); a missing one fails the test unless `JHUB_SKIP_EXTERNAL=1`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use jhub_gitlab_sim::{RunningSim, WallClock};
use jhub_kube_sim::{Delays, LocalServer, Resource, SimConfig, Simulator};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// The Helm release and namespace of the seed deployment (`jupyterhub-user-scheduler` is the
/// user scheduler the simulator's seed preset runs; pods are named `jupyter-<user>`).
pub const RELEASE: &str = "jupyterhub";
pub const NAMESPACE: &str = "jupyterhub";
/// Seed profile slugs and the option key of both profiles (`image`).
pub const GPU_PROFILE: &str = "gpu-fen-qu";
pub const CPU_PROFILE: &str = "cpu-fen-qu";

/// The checkout's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

/// A tool from `scripts/install-tools`, or `None` (the test returns early) when it is missing
/// and `JHUB_SKIP_EXTERNAL=1`. Missing otherwise is a failure, not a silent skip.
pub fn tool(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(path) if !path.is_empty() && Path::new(&path).exists() => Some(path),
        found => {
            if std::env::var("JHUB_SKIP_EXTERNAL").is_ok_and(|v| v == "1") {
                eprintln!("skipping: {var} is not available and JHUB_SKIP_EXTERNAL=1");
                return None;
            }
            panic!(
                "{var} is {}: run `eval \"$(scripts/install-tools chp singleuser browser)\"` first \
                 (scripts/test does), or set JHUB_SKIP_EXTERNAL=1 to skip the end-to-end tests",
                match found {
                    Ok(p) if !p.is_empty() => format!("{p:?}, which does not exist"),
                    _ => "not set".to_string(),
                }
            )
        }
    }
}

pub fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("randomness");
    hex::encode(buf)
}

#[path = "../../../../tests/support/free_port.rs"]
mod free_port;
pub use free_port::free_port;

/// A random /24 in 127.64.0.0–127.250.255.0 for one stack's pod IPs.
fn random_pod_network() -> String {
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).expect("randomness");
    format!("127.{}.{}.0/24", 64 + u16::from(b[0]) % 187, b[1])
}

/// Delays of the simulated cluster where a person should see progress: seconds, not minutes.
pub fn visible_delays() -> Delays {
    let ms = Duration::from_millis;
    Delays {
        schedule: ms(300),
        provision: ms(600),
        sandbox: ms(300),
        pull: ms(1_200),
        start: ms(300),
        ..Delays::default()
    }
}

/// How a stack is started.
pub struct StackConfig {
    /// Used in the temp dir name and log messages.
    pub name: String,
    /// The `jupyterhub-singleuser` executable the simulated pods run.
    pub singleuser: String,
    /// Simulated cluster timings (fast by default).
    pub delays: Delays,
    /// More values (YAML), merged after the seed config, `demo/local.yaml` and the ports overlay.
    pub extra_values: Option<String>,
    /// Changes to the simulated cluster's configuration (storage classes, snapshot classes...).
    pub kube_tweak: Option<fn(&mut SimConfig)>,
}

impl StackConfig {
    pub fn new(name: &str, singleuser: &str) -> Self {
        Self {
            name: name.into(),
            singleuser: singleuser.into(),
            delays: Delays::default(),
            extra_values: None,
            kube_tweak: None,
        }
    }
    pub fn delays(mut self, delays: Delays) -> Self {
        self.delays = delays;
        self
    }
    pub fn kube(mut self, tweak: fn(&mut SimConfig)) -> Self {
        self.kube_tweak = Some(tweak);
        self
    }
    pub fn values(mut self, yaml: &str) -> Self {
        self.extra_values = Some(yaml.into());
        self
    }
}

/// The whole deployment. Stop it with [`Stack::shutdown`]; dropped during a panic it prints the
/// logs and keeps its directory.
pub struct Stack {
    pub name: String,
    dir: Option<tempfile::TempDir>,
    pub public_port: u16,
    pub proxy_api_port: u16,
    pub hub_port: u16,
    pub proxy_token: String,
    pub admin_token: String,
    cookie_secret: String,
    pub kube: Simulator,
    kube_server: Option<LocalServer>,
    pub gitlab: Option<RunningSim>,
    chp: Option<Child>,
    chp_runs: u32,
    jhub: Option<Child>,
    jhub_runs: u32,
    values_files: Vec<PathBuf>,
    chp_exe: String,
}

impl Stack {
    /// Starts GitLab and Kubernetes simulators, CHP and jhub, and waits until jhub is healthy.
    pub async fn start(cfg: StackConfig) -> Stack {
        install_crypto();
        let chp_exe = tool("JHUB_CHP").expect("JHUB_CHP (checked by the caller)");
        let dir = tempfile::Builder::new().prefix(&format!("jhub-e2e-{}-", cfg.name)).tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("logs")).unwrap();
        std::fs::create_dir_all(root.join("data")).unwrap();
        let mut ports = Vec::new();
        while ports.len() < 3 {
            let p = free_port();
            if !ports.contains(&p) {
                ports.push(p);
            }
        }
        let (public_port, proxy_api_port, hub_port) = (ports[0], ports[1], ports[2]);
        let public = format!("http://127.0.0.1:{public_port}");

        let mut gitlab_cfg = jhub_gitlab_sim::SimConfig::demo();
        for app in &mut gitlab_cfg.applications {
            app.redirect_uris = vec![format!("{public}/hub/oauth_callback")];
        }
        let gitlab = jhub_gitlab_sim::GitLabSim::start(gitlab_cfg, Arc::new(WallClock)).await.expect("gitlab sim");

        let mut kube_cfg = SimConfig::seed_cluster().with_namespace(NAMESPACE).process_mode(root.join("kube"));
        kube_cfg.delays = cfg.delays.clone();
        // Every simulated pod listens on its own loopback IP, port 8888: stacks running at the
        // same time must not share addresses, so each test stack takes a random /24 above
        // 127.64.0.0, clear of the simulator's default range (127.16-63.0.0/16) the demo uses.
        kube_cfg.pod_network = random_pod_network();
        for pattern in ["quay.io/zhonger/*", "quay.io/jupyterhub/k8s-singleuser-sample*"] {
            kube_cfg = kube_cfg.with_singleuser(pattern, &cfg.singleuser, &["--ServerApp.allow_root=True"]);
        }
        if let Some(tweak) = cfg.kube_tweak {
            tweak(&mut kube_cfg);
        }
        let kube = Simulator::start(kube_cfg).expect("kube sim");
        let kube_server = kube.serve_local().await.expect("kube sim server");

        let proxy_token = random_hex(32);
        let cookie_secret = random_hex(32);
        let admin_token = random_hex(24);
        let overlay = format!(
            "# Written by the end-to-end harness: this stack's ports and tokens.\n\
             hub:\n  config:\n    JupyterHub:\n      hub_connect_url: http://127.0.0.1:{hub_port}\n\
             \x20   ConfigurableHTTPProxy:\n      api_url: http://127.0.0.1:{proxy_api_port}\n\
             \x20   GitLabOAuthenticator:\n      gitlab_url: {gitlab_url}\n      oauth_callback_url: {public}/hub/oauth_callback\n\
             \x20 services:\n    e2e-admin:\n      admin: true\n      apiToken: \"{admin_token}\"\n",
            gitlab_url = gitlab.url(),
        );
        let repo = repo_root();
        let mut values_files = vec![repo.join("demo/seed-config.yaml"), repo.join("demo/local.yaml")];
        let overlay_path = root.join("e2e-overlay.yaml");
        std::fs::write(&overlay_path, overlay).unwrap();
        values_files.push(overlay_path);
        if let Some(extra) = &cfg.extra_values {
            let extra_path = root.join("e2e-test-values.yaml");
            std::fs::write(&extra_path, extra).unwrap();
            values_files.push(extra_path);
        }

        let mut stack = Stack {
            name: cfg.name,
            dir: Some(dir),
            public_port,
            proxy_api_port,
            hub_port,
            proxy_token,
            admin_token,
            cookie_secret,
            kube,
            kube_server: Some(kube_server),
            gitlab: Some(gitlab),
            chp: None,
            chp_runs: 0,
            jhub: None,
            jhub_runs: 0,
            values_files,
            chp_exe,
        };
        stack.start_chp().await;
        stack.start_jhub().await;
        stack
    }

    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("dir").path()
    }
    pub fn public_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.public_port)
    }
    pub fn hub_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.hub_port)
    }
    pub fn gitlab(&self) -> &RunningSim {
        self.gitlab.as_ref().expect("gitlab")
    }

    /// Starts CHP on this stack's ports (again, after [`Stack::kill_chp`]) and waits for its API.
    pub async fn start_chp(&mut self) {
        assert!(self.chp.is_none(), "CHP is already running");
        self.chp_runs += 1;
        let log = self.log_file(&format!("chp-{}.log", self.chp_runs));
        let hub = self.hub_url();
        let child = Command::new(&self.chp_exe)
            .args(["--ip", "127.0.0.1", "--port", &self.public_port.to_string()])
            .args(["--api-ip", "127.0.0.1", "--api-port", &self.proxy_api_port.to_string()])
            .args(["--default-target", &hub, "--error-target", &format!("{hub}/hub/error")])
            .args(["--log-level", "info"])
            .env("CONFIGPROXY_AUTH_TOKEN", &self.proxy_token)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("starting configurable-http-proxy");
        self.chp = Some(child);
        let url = format!("http://127.0.0.1:{}/api/routes", self.proxy_api_port);
        let token = self.proxy_token.clone();
        let client = plain_client();
        let started = wait_until("CHP's API", Duration::from_secs(30), || {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            async move {
                matches!(
                    client.get(&url).header("Authorization", format!("token {token}")).send().await,
                    Ok(r) if r.status() == StatusCode::OK
                )
            }
        })
        .await;
        if !started {
            self.fail("configurable-http-proxy did not come up");
        }
    }

    /// Kills CHP abruptly (SIGKILL, like a crashed or evicted proxy pod) and waits for it to exit.
    pub async fn kill_chp(&mut self) {
        let mut child = self.chp.take().expect("CHP is not running");
        child.kill().await.expect("killing CHP");
    }

    /// Starts jhub (again) with the same values and database and waits for `/hub/health`.
    pub async fn start_jhub(&mut self) {
        assert!(self.jhub.is_none(), "jhub is already running");
        self.jhub_runs += 1;
        let log = self.log_file(&format!("jhub-{}.log", self.jhub_runs));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_jhub"));
        cmd.arg("serve");
        for f in &self.values_files {
            cmd.arg("-f").arg(f);
        }
        cmd.args(["--listen", &format!("127.0.0.1:{}", self.hub_port)])
            .args(["--kube-url", &self.kube_server.as_ref().expect("kube server").url])
            .env_remove("RUST_LOG")
            .env("JHUB_LOG_LEVEL", "info")
            .env("NO_COLOR", "1")
            .env("HELM_RELEASE_NAME", RELEASE)
            .env("POD_NAMESPACE", NAMESPACE)
            .env("JHUB_DATA_DIR", self.dir().join("data"))
            .env("JHUB_VALUES__proxy__secretToken", &self.proxy_token)
            .env("JHUB_VALUES__hub__cookieSecret", &self.cookie_secret)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true);
        self.jhub = Some(cmd.spawn().expect("starting jhub"));
        let health = format!("{}/hub/health", self.hub_url());
        let client = plain_client();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(&health).send().await
                && r.status() == StatusCode::OK
            {
                break;
            }
            if let Some(status) = self.jhub.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                self.fail(&format!("jhub exited during startup with {status}"));
            }
            if Instant::now() > deadline {
                self.fail("jhub did not answer /hub/health within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops jhub with SIGTERM (as Kubernetes does) and waits for a clean exit.
    pub async fn stop_jhub(&mut self) {
        let mut child = self.jhub.take().expect("jhub is not running");
        terminate(&child);
        match tokio::time::timeout(Duration::from_secs(30), child.wait()).await {
            Ok(Ok(status)) => {
                if !status.success() {
                    self.fail(&format!("jhub exited with {status} after SIGTERM"));
                }
            }
            Ok(Err(e)) => self.fail(&format!("waiting for jhub: {e}")),
            Err(_) => self.fail("jhub did not exit within 30 s of SIGTERM"),
        }
    }

    /// The admin API client (a service token with `admin: true`), talking to the hub directly.
    pub fn api(&self) -> Api {
        Api { client: plain_client(), base: format!("{}/hub/api", self.hub_url()), token: self.admin_token.clone() }
    }

    /// A cookie-keeping HTTP client that acts like one browser, through CHP.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.public_url(), &self.gitlab().url())
    }

    /// CHP's routing table.
    pub async fn chp_routes(&self) -> Option<Value> {
        let r = plain_client()
            .get(format!("http://127.0.0.1:{}/api/routes", self.proxy_api_port))
            .header("Authorization", format!("token {}", self.proxy_token))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        if r.status() != StatusCode::OK {
            return None;
        }
        r.json().await.ok()
    }

    /// The user's pod as the simulated cluster has it.
    pub fn pod(&self, user: &str) -> Option<Value> {
        self.kube.get(Resource::Pods, NAMESPACE, &format!("jupyter-{user}"))
    }

    /// The local directory behind the user's PVC (`claim-<user>`).
    pub fn home_dir(&self, user: &str) -> Option<PathBuf> {
        self.kube.volume_dir(NAMESPACE, &format!("claim-{user}"))
    }

    fn log_file(&self, name: &str) -> std::fs::File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir().join("logs").join(name))
            .expect("log file")
    }

    /// Fails the test with the logs printed.
    pub fn fail(&self, message: &str) -> ! {
        panic!("[{}] {message}", self.name)
    }

    /// Prints the last lines of every log (jhub, CHP and the single-user servers).
    pub fn dump_logs(&self) {
        let mut files = Vec::new();
        collect_logs(self.dir(), &mut files);
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(120);
            eprintln!("===== {} (last {} of {} lines) =====", f.display(), lines.len() - from, lines.len());
            for l in &lines[from..] {
                eprintln!("{l}");
            }
        }
    }

    /// Stops everything: jhub (SIGTERM), CHP, the simulators (which stop the servers they run).
    pub async fn shutdown(mut self) {
        if self.jhub.is_some() {
            self.stop_jhub().await;
        }
        if let Some(mut chp) = self.chp.take() {
            let _ = chp.kill().await;
        }
        self.kube.shutdown().await;
        if let Some(server) = self.kube_server.take() {
            server.stop().await;
        }
        if let Some(gitlab) = self.gitlab.take() {
            gitlab.shutdown().await;
        }
        if std::env::var("JHUB_E2E_KEEP").is_ok_and(|v| v == "1")
            && let Some(dir) = self.dir.take()
        {
            eprintln!("[{}] kept {}", self.name, dir.keep().display());
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() && self.dir.is_some() {
            self.dump_logs();
            if let Some(dir) = self.dir.take() {
                eprintln!("[{}] test failed; logs and data kept in {}", self.name, dir.keep().display());
            }
        }
        // Child processes are killed on drop; the simulator kills its container processes when
        // the runtime drops it.
    }
}

fn collect_logs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if !p.ends_with("volumes") {
                collect_logs(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "log") {
            out.push(p);
        }
    }
}

/// SIGTERM to a child.
pub fn terminate(child: &Child) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()).and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
}

pub fn plain_client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// Polls `check` every 50 ms until it holds or `timeout` passes.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            eprintln!("timed out after {timeout:?} waiting for {what}");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The hub's REST API with the admin service token.
#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", format!("token {}", self.token));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }
    pub async fn user(&self, name: &str) -> Value {
        let (status, body) = self.get(&format!("/users/{name}")).await;
        assert_eq!(status, StatusCode::OK, "GET /users/{name}: {body}");
        body
    }
    /// The server model (`""` = default server), if the user has one.
    pub async fn server(&self, user: &str, server: &str) -> Option<Value> {
        self.user(user).await.get("servers").and_then(|s| s.get(server)).cloned()
    }
    /// Starts a server with `user_options`; returns the status (201 ready, 202 pending).
    pub async fn spawn(&self, user: &str, server: &str, options: Value) -> (StatusCode, Value) {
        let path =
            if server.is_empty() { format!("/users/{user}/server") } else { format!("/users/{user}/servers/{server}") };
        self.call(Method::POST, &path, Some(options)).await
    }
    /// Stops a server and waits until the hub reports it gone.
    pub async fn stop(&self, user: &str, server: &str) {
        let path =
            if server.is_empty() { format!("/users/{user}/server") } else { format!("/users/{user}/servers/{server}") };
        let (status, body) = self.call(Method::DELETE, &path, None).await;
        assert!(status == StatusCode::NO_CONTENT || status == StatusCode::ACCEPTED, "DELETE {path}: {status} {body}");
        let gone = wait_until(&format!("{user}/{server} to stop"), Duration::from_secs(60), || async {
            self.server(user, server).await.is_none()
        })
        .await;
        assert!(gone, "{user}/{server} did not stop");
    }
    /// Reads the progress event stream until its final event; returns every event.
    pub async fn progress(&self, user: &str, server: &str) -> Vec<Value> {
        use futures::StreamExt;
        let path = if server.is_empty() {
            format!("{}/users/{user}/server/progress", self.base)
        } else {
            format!("{}/users/{user}/servers/{server}/progress", self.base)
        };
        let r = self
            .client
            .get(&path)
            .header("Authorization", format!("token {}", self.token))
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .expect("progress stream");
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        let ctype = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        assert!(ctype.starts_with("text/event-stream"), "progress content type {ctype:?}");
        let mut stream = r.bytes_stream();
        let mut buf = String::new();
        let mut events = Vec::new();
        while let Some(chunk) = stream.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk.expect("stream chunk")));
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                for line in block.lines() {
                    if let Some(data) = line.strip_prefix("data:") {
                        let event: Value = serde_json::from_str(data.trim()).expect("progress event JSON");
                        let last = event.get("ready").is_some_and(|v| v == true)
                            || event.get("failed").is_some_and(|v| v == true);
                        events.push(event);
                        if last {
                            return events;
                        }
                    }
                }
            }
        }
        events
    }
    /// Waits until the server is ready (through the progress stream) and returns its model.
    pub async fn wait_ready(&self, user: &str, server: &str) -> Value {
        let events = self.progress(user, server).await;
        let last = events.last().cloned().unwrap_or(Value::Null);
        assert_eq!(last.get("ready"), Some(&Value::Bool(true)), "{user}/{server} did not become ready: {events:#?}");
        self.server(user, server).await.expect("server model")
    }
}

/// One hop of a navigation.
#[derive(Debug, Clone)]
pub struct Hop {
    pub url: String,
    pub status: StatusCode,
    pub location: Option<String>,
}

/// A navigation followed hop by hop (redirects are recorded, not hidden).
#[derive(Debug)]
pub struct Visit {
    pub hops: Vec<Hop>,
    pub status: StatusCode,
    pub url: String,
    pub body: String,
}

impl Visit {
    /// Paths (with query) of every hop, for messages and assertions.
    pub fn trail(&self) -> Vec<String> {
        self.hops.iter().map(|h| format!("{} {}", h.status.as_u16(), h.url)).collect()
    }
    pub fn passed(&self, fragment: &str) -> Option<&Hop> {
        self.hops.iter().find(|h| h.url.contains(fragment))
    }
}

/// A browser stand-in: one cookie jar, redirects followed by hand.
#[derive(Clone)]
pub struct Browser {
    pub client: reqwest::Client,
    pub jar: Arc<Jar>,
    pub base: String,
    gitlab: String,
}

impl Browser {
    pub fn new(base: &str, gitlab: &str) -> Self {
        install_crypto();
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .user_agent("jhub-e2e/1.0 (like a browser)")
            .build()
            .expect("browser client");
        Self { client, jar, base: base.trim_end_matches('/').into(), gitlab: gitlab.trim_end_matches('/').into() }
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.into()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// GET `path` and follow redirects like a browser. At the GitLab simulator's authorize page
    /// the person `login_as` clicks their name (the simulator's `login_as=` shortcut).
    pub async fn visit_as(&self, path: &str, login_as: Option<&str>) -> Visit {
        let mut url = self.url(path);
        let mut hops = Vec::new();
        for _ in 0..20 {
            if let Some(who) = login_as
                && url.starts_with(&format!("{}/oauth/authorize", self.gitlab))
                && !url.contains("login_as=")
            {
                url = format!("{url}&login_as={who}");
            }
            let r = self
                .client
                .get(&url)
                .header("Accept", "text/html,application/xhtml+xml")
                .header("Sec-Fetch-Mode", "navigate")
                .send()
                .await
                .unwrap_or_else(|e| panic!("GET {url}: {e}"));
            let status = r.status();
            let location = r.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
            hops.push(Hop { url: url.clone(), status, location: location.clone() });
            match (status.is_redirection(), location) {
                (true, Some(loc)) => {
                    url = reqwest::Url::parse(&url).expect("url").join(&loc).expect("location").to_string();
                }
                _ => {
                    let body = r.text().await.unwrap_or_default();
                    return Visit { hops, status, url, body };
                }
            }
        }
        panic!("too many redirects: {hops:#?}");
    }

    pub async fn visit(&self, path: &str) -> Visit {
        self.visit_as(path, None).await
    }

    /// Logs in through GitLab (the simulator) as `user`; ends on `next`.
    pub async fn login(&self, user: &str, next: &str) -> Visit {
        let v = self.visit_as(&format!("/hub/oauth_login?next={}", urlencode(next)), Some(user)).await;
        assert!(
            self.cookie("/hub/", "jupyterhub-hub-login").is_some(),
            "no login cookie after login: {:#?}",
            v.trail()
        );
        v
    }

    /// A cookie this browser would send to `path`.
    pub fn cookie(&self, path: &str, name: &str) -> Option<String> {
        let url = reqwest::Url::parse(&self.url(path)).ok()?;
        let header = self.jar.cookies(&url)?;
        header.to_str().ok()?.split("; ").find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| v.to_string())
        })
    }

    /// The hub's `_xsrf` cookie (what the pages put in forms and `X-XSRFToken`).
    pub fn hub_xsrf(&self) -> String {
        self.cookie("/hub/", "_xsrf").expect("hub _xsrf cookie")
    }

    /// Submits the spawn form (`/hub/spawn[/user[/server]]`) with a seed profile and option.
    pub async fn spawn_form(&self, path: &str, profile: &str, option: Option<(&str, &str)>) -> reqwest::Response {
        let page = self.visit(path).await;
        assert_eq!(page.status, StatusCode::OK, "spawn page {path}: {:#?}", page.trail());
        let xsrf = hidden_input(&page.body, "_xsrf").expect("spawn form has _xsrf");
        let mut form = vec![("_xsrf".to_string(), xsrf), ("profile".to_string(), profile.to_string())];
        if let Some((key, value)) = option {
            form.push((format!("profile-option-{profile}--{key}"), value.to_string()));
        }
        self.client.post(&page.url).header("Origin", &self.base).form(&form).send().await.expect("POST spawn form")
    }

    /// A request to a single-user server's REST API with this browser's cookies and the
    /// server's own `_xsrf` cookie (Jupyter server's XSRF rules).
    pub async fn server_api(
        &self,
        method: Method,
        user_prefix: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = self.url(&format!("{user_prefix}api/{path}"));
        let mut req = self.client.request(method, &url).header("Accept", "application/json");
        if let Some(x) = self.cookie(user_prefix, "_xsrf") {
            req = req.header("X-XSRFToken", percent_encoding::percent_decode_str(&x).decode_utf8_lossy().to_string());
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// The single-user server's OAuth login, as a browser does it on a page: the server sends
    /// the browser to the hub's authorize endpoint, which answers with a code for the server's
    /// callback, which sets the server's cookie. Returns the navigation.
    pub async fn server_login(&self, user_prefix: &str) -> Visit {
        // `files/` pages need authentication in every jupyter_server version; the file may not exist.
        let v = self.visit(&format!("{user_prefix}files/.e2e-oauth-probe")).await;
        assert!(
            v.passed("/hub/api/oauth2/authorize").is_some()
                || self.cookie(user_prefix, &server_cookie_name(user_prefix)).is_some(),
            "the single-user server did not send the browser through the hub's OAuth: {:#?}",
            v.trail()
        );
        v
    }
}

/// `jupyterhub-user-<name>[-<server>]`, the single-user server's cookie for `/user/<name>[/<server>]/`.
pub fn server_cookie_name(user_prefix: &str) -> String {
    let rest = user_prefix.trim_start_matches("/user/").trim_end_matches('/');
    format!("jupyterhub-user-{}", rest.replace('/', "-"))
}

pub fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The value of `<input ... name="NAME" ... value="...">` in a page.
pub fn hidden_input(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"");
    let at = html.find(&marker)?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let v = tag.split("value=\"").nth(1)?;
    Some(v[..v.find('"')?].replace("&#x2f;", "/").replace("&#43;", "+").replace("&amp;", "&"))
}

/// The query parameters of a URL.
pub fn query_params(url: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(url)
        .map(|u| u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default()
}

/// The seed's GPU A100 user options, as the spawn form and the API send them.
pub fn gpu_a100() -> Value {
    json!({"profile": GPU_PROFILE, "image": "A100x1"})
}
