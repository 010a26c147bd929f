//! The real JupyterHub (4.x, 5.x or 6.x from `scripts/install-tools`) run on loopback to make a
//! database the way a production hub does: users created through the REST API, tokens with
//! scopes, expiry and notes, groups with properties, roles bound to users, groups and a service,
//! auth state encrypted with `JUPYTERHUB_CRYPT_KEY`, a default and a named server. Stopped with
//! SIGTERM and `cleanup_servers = False`, as z2jh runs it, so the servers stay recorded as running.
//!
//! The spawner here is a few lines of Python in the config (the import tests do not need pods):
//! it "starts" a server at a loopback HTTP stub the test runs and records a KubeSpawner-shaped
//! state (`pod_name`, `namespace`).

#![allow(dead_code)]

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use super::free_port::free_port;

/// A JupyterHub venv: `hub4`, `hub5` or `hub6` under `$JHUB_TOOLS_DIR`.
pub fn jupyterhub_exe(venv: &str) -> Option<PathBuf> {
    let dir = std::env::var("JHUB_TOOLS_DIR").ok().filter(|d| !d.is_empty());
    let exe = dir.map(|d| PathBuf::from(d).join(venv).join("bin/jupyterhub"));
    match exe {
        Some(exe) if exe.exists() => Some(exe),
        _ => {
            if std::env::var("JHUB_SKIP_EXTERNAL").is_ok_and(|v| v == "1") {
                eprintln!("skipping: $JHUB_TOOLS_DIR/{venv}/bin/jupyterhub is missing and JHUB_SKIP_EXTERNAL=1");
                return None;
            }
            panic!(
                "$JHUB_TOOLS_DIR/{venv}/bin/jupyterhub is missing: run `eval \"$(scripts/install-tools singleuser chp)\"` \
                 first (scripts/test does), or set JHUB_SKIP_EXTERNAL=1 to skip"
            )
        }
    }
}

pub fn chp_exe() -> Option<String> {
    match std::env::var("JHUB_CHP") {
        Ok(p) if Path::new(&p).exists() => Some(p),
        _ if std::env::var("JHUB_SKIP_EXTERNAL").is_ok_and(|v| v == "1") => None,
        _ => panic!("JHUB_CHP is not set: run `eval \"$(scripts/install-tools chp)\"`"),
    }
}

/// Secrets shared by the JupyterHub run and the jhub that takes over.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub cookie_secret_hex: String,
    pub crypt_key_hex: String,
    pub proxy_token: String,
    pub service_token: String,
}

impl Secrets {
    pub fn generate() -> Secrets {
        let hex = |n: usize| {
            let mut b = vec![0u8; n];
            getrandom::fill(&mut b).expect("randomness");
            hex::encode(b)
        };
        Secrets {
            cookie_secret_hex: hex(32),
            crypt_key_hex: hex(32),
            proxy_token: hex(16),
            service_token: format!("ops-{}", hex(12)),
        }
    }
}

/// Plain-text tokens JupyterHub issued, to replay against jhub.
#[derive(Debug, Clone)]
pub struct Issued {
    /// alice's token limited to `read:users!user=alice`, note "alice self-read".
    pub alice_scoped: String,
    /// alice's token with default (`inherit`) scopes.
    pub alice_inherit: String,
    /// bob's `read:users`/`list:users` token (through the `readers` role), expiring in a day.
    pub bob_reader: String,
    /// The `ops` service's token from the config.
    pub service: String,
    /// The server's own API token (`JUPYTERHUB_API_TOKEN` of alice's default server).
    pub alice_server_token: Option<String>,
    /// carol's browser cookies from JupyterHub's login form (`jupyterhub-hub-login`, ...).
    pub carol_cookies: Vec<(String, String)>,
}

/// What the spawner stub needs: an HTTP server that answers anything with 200.
pub struct HttpStub {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl HttpStub {
    pub async fn start() -> HttpStub {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind stub");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    let _ = sock
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                        .await;
                });
            }
        });
        HttpStub { port, task }
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct RealHub {
    child: Option<Child>,
    pub hub_port: u16,
    pub log: PathBuf,
    client: reqwest::Client,
    service_token: String,
}

fn config_py(
    db_url: &str,
    secrets: &Secrets,
    chp: &str,
    ports: (u16, u16, u16),
    stub_port: u16,
    spawner: &str,
) -> String {
    let (public, hub, api) = ports;
    format!(
        r#"
c = get_config()  # noqa
c.JupyterHub.ip = '127.0.0.1'
c.JupyterHub.port = {public}
c.JupyterHub.hub_ip = '127.0.0.1'
c.JupyterHub.hub_port = {hub}
c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{api}'
c.ConfigurableHTTPProxy.command = ['{chp}']
c.ConfigurableHTTPProxy.auth_token = '{proxy_token}'
c.JupyterHub.db_url = '{db_url}'
c.JupyterHub.cookie_secret = bytes.fromhex('{cookie}')
c.JupyterHub.authenticator_class = 'dummy'
c.DummyAuthenticator.password = 'jupyter-pw-123'
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {{'root'}}
c.Authenticator.enable_auth_state = True
c.JupyterHub.allow_named_servers = True
c.JupyterHub.cleanup_servers = False
c.JupyterHub.cleanup_proxy = {cleanup_proxy}
c.JupyterHub.load_groups = {{'physics': ['alice']}}
c.JupyterHub.services = [{{'name': 'ops', 'api_token': '{service_token}'}}]
c.JupyterHub.load_roles = [
    {{'name': 'ops-role', 'description': 'the ops scripts',
      'scopes': ['admin:users', 'admin:servers', 'admin:groups', 'tokens', 'read:roles', 'admin:auth_state'],
      'services': ['ops']}},
    {{'name': 'readers', 'description': 'may read everyone', 'scopes': ['read:users', 'list:users'],
      'users': ['bob'], 'groups': ['physics']}},
]
{spawner}
"#,
        proxy_token = secrets.proxy_token,
        cookie = secrets.cookie_secret_hex,
        service_token = secrets.service_token,
        cleanup_proxy = if spawner.contains("KubeSpawner") { "False" } else { "True" },
    )
    .replace("{stub_port}", &stub_port.to_string())
}

/// A spawner that starts nothing: the server "runs" at the test's HTTP stub, with a
/// KubeSpawner-shaped state.
pub const STUB_SPAWNER: &str = r#"
from jupyterhub.spawner import Spawner

class StubSpawner(Spawner):
    async def start(self):
        return 'http://127.0.0.1:{stub_port}'

    async def poll(self):
        return None if self.server else 0

    async def stop(self, now=False):
        pass

    def get_state(self):
        state = super().get_state()
        suffix = ('--' + self.name) if self.name else ''
        state['pod_name'] = 'jupyter-' + self.user.name + suffix
        state['namespace'] = 'jhub'
        return state

c.JupyterHub.spawner_class = StubSpawner
"#;

impl RealHub {
    /// Starts JupyterHub from `venv` on `db_url` and waits for its API.
    pub async fn start(
        venv_exe: &Path,
        dir: &Path,
        db_url: &str,
        secrets: &Secrets,
        stub_port: u16,
        spawner: &str,
        extra_env: &[(&str, String)],
    ) -> RealHub {
        let mut ports = Vec::new();
        while ports.len() < 3 {
            let p = free_port();
            if !ports.contains(&p) {
                ports.push(p);
            }
        }
        let spawner = spawner.replace("{stub_port}", &stub_port.to_string());
        Self::start_on(venv_exe, dir, db_url, secrets, &spawner, extra_env, (ports[0], ports[1], ports[2])).await
    }

    /// [`RealHub::start`] on given (public, hub, proxy API) ports.
    pub async fn start_on(
        venv_exe: &Path,
        dir: &Path,
        db_url: &str,
        secrets: &Secrets,
        spawner: &str,
        extra_env: &[(&str, String)],
        ports: (u16, u16, u16),
    ) -> RealHub {
        let chp = chp_exe().expect("CHP");
        let ports = [ports.0, ports.1, ports.2];
        let config = dir.join("jupyterhub_config.py");
        std::fs::write(&config, config_py(db_url, secrets, &chp, (ports[0], ports[1], ports[2]), 0, spawner))
            .expect("write config");
        let log = dir.join(format!("jupyterhub-{}.log", ports[1]));
        let file = std::fs::File::create(&log).expect("log");
        let mut cmd = Command::new(venv_exe);
        cmd.arg("-f")
            .arg(&config)
            .current_dir(dir)
            .env("JUPYTERHUB_CRYPT_KEY", &secrets.crypt_key_hex)
            .env_remove("CONFIGPROXY_AUTH_TOKEN")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .kill_on_drop(true);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start jupyterhub");
        let mut hub = RealHub {
            child: Some(child),
            hub_port: ports[1],
            log,
            client: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client"),
            service_token: secrets.service_token.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let up = hub.client.get(hub.api("/")).send().await.is_ok_and(|r| r.status().is_success());
            if up {
                break;
            }
            if let Some(child) = hub.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("JupyterHub exited with {status}:\n{}", hub.log_text());
            }
            assert!(Instant::now() < deadline, "JupyterHub did not answer:\n{}", hub.log_text());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        hub
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn api(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/hub/api{path}", self.hub_port)
    }

    /// A call with the `ops` service token; panics unless it answers 2xx.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.call_as(&self.service_token.clone(), method, path, body).await
    }

    pub async fn call_as(&self, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req =
            self.client.request(method.clone(), self.api(path)).header("Authorization", format!("token {token}"));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "JupyterHub {method} {path} answered {status}: {text}\n{}", self.log_text());
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Waits until the server is ready.
    pub async fn wait_ready(&self, user: &str, server: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let model = self.call(reqwest::Method::GET, &format!("/users/{user}"), None).await;
            if model.pointer(&format!("/servers/{server}/ready")) == Some(&json!(true)) {
                return;
            }
            assert!(Instant::now() < deadline, "{user}/{server} never became ready: {model:#}\n{}", self.log_text());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Fills the hub the way an operator's hub looks after some use. Returns the tokens.
    pub async fn populate(&self, secrets: &Secrets, spawn: bool) -> Issued {
        use reqwest::Method;
        self.call(Method::POST, "/users", Some(json!({"usernames": ["alice", "bob", "carol"]}))).await;
        self.call(Method::POST, "/groups/chem", Some(json!({"users": ["carol"]}))).await;
        self.call(Method::PUT, "/groups/physics/properties", Some(json!({"lab": "B2", "gpu_quota": 4}))).await;
        self.call(
            Method::PATCH,
            "/users/alice",
            Some(json!({"auth_state": {"access_token": "gitlab-access-alice", "gitlab_user": {"id": 7}}})),
        )
        .await;
        let scoped = self
            .call(
                Method::POST,
                "/users/alice/tokens",
                Some(json!({"note": "alice self-read", "scopes": ["read:users!user=alice"]})),
            )
            .await;
        let inherit =
            self.call(Method::POST, "/users/alice/tokens", Some(json!({"note": "alice laptop script"}))).await;
        let reader = self
            .call(
                Method::POST,
                "/users/bob/tokens",
                Some(json!({"note": "bob report job", "scopes": ["read:users", "list:users"], "expires_in": 86400})),
            )
            .await;
        let text = |v: &Value| v.get("token").and_then(Value::as_str).expect("token in response").to_string();
        let mut issued = Issued {
            alice_scoped: text(&scoped),
            alice_inherit: text(&inherit),
            bob_reader: text(&reader),
            service: secrets.service_token.clone(),
            alice_server_token: None,
            carol_cookies: self.browser_login("carol").await,
        };
        if spawn {
            self.call(Method::POST, "/users/alice/server", None).await;
            self.call(Method::POST, "/users/alice/servers/gpu", Some(json!({"profile": "gpu"}))).await;
            self.wait_ready("alice", "").await;
            self.wait_ready("alice", "gpu").await;
            issued.alice_server_token = None;
        }
        issued
    }

    /// Logs `user` in through JupyterHub's login form, as a browser does (the `_xsrf` cookie
    /// and form field first). Returns the cookies JupyterHub set, as `name=value` pairs.
    pub async fn browser_login(&self, user: &str) -> Vec<(String, String)> {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let login = format!("http://127.0.0.1:{}/hub/login", self.hub_port);
        let page = client.get(&login).send().await.expect("login page");
        let mut jar = set_cookies(&page);
        let html = page.text().await.unwrap_or_default();
        let xsrf = html
            .split("name=\"_xsrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no _xsrf in the login form:\n{html}"))
            .to_string();
        let cookie_header = jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let resp = client
            .post(&login)
            .header("Cookie", cookie_header)
            .form(&[("username", user), ("password", "jupyter-pw-123"), ("_xsrf", xsrf.as_str())])
            .send()
            .await
            .expect("login POST");
        assert!(resp.status().is_redirection(), "login answered {}:\n{}", resp.status(), self.log_text());
        jar.extend(set_cookies(&resp));
        assert!(jar.iter().any(|(k, _)| k == "jupyterhub-hub-login"), "no login cookie: {jar:?}");
        jar
    }

    /// For the KubeSpawner run: users, an inherit token for alice, and alice's default and
    /// `gpu` servers as pods (real JupyterLab), waited for until ready.
    pub async fn populate_kube(&self) -> Issued {
        use reqwest::Method;
        // alice and bob exist already (from the config's group and role).
        let inherit = self.call(Method::POST, "/users/alice/tokens", Some(json!({"note": "alice script"}))).await;
        let token = inherit.get("token").and_then(Value::as_str).expect("token").to_string();
        self.call(Method::POST, "/users/alice/server", None).await;
        self.wait_ready("alice", "").await;
        self.call(Method::POST, "/users/alice/servers/gpu", None).await;
        self.wait_ready("alice", "gpu").await;
        Issued {
            alice_scoped: String::new(),
            alice_inherit: token,
            bob_reader: String::new(),
            service: self.service_token.clone(),
            alice_server_token: None,
            carol_cookies: Vec::new(),
        }
    }

    /// SIGTERM, as Kubernetes stops the hub pod; waits for the exit.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        if let Some(pid) = child.id() {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid as i32).expect("pid"),
                rustix::process::Signal::TERM,
            );
        }
        match tokio::time::timeout(Duration::from_secs(30), child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill().await;
                panic!("JupyterHub did not stop after SIGTERM:\n{}", self.log_text());
            }
        }
    }
}

/// A JupyterHub config for [`RealHub::start`] with the stub spawner.
pub fn stub_spawner() -> &'static str {
    STUB_SPAWNER
}

fn set_cookies(resp: &reqwest::Response) -> Vec<(String, String)> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
        .collect()
}
