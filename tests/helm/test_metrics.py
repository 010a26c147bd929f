"""Prometheus scraping as the chart sets it up: the hub Service's
`prometheus.io/*` annotations name a path and port, and a hub started from
the same render (the mounted Secret, as in the pod) serves metrics exactly
there — with `hub.authenticatePrometheus: false` to anonymous scrapers, and
otherwise only with a token."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

from helmlib import get, render_objects, require_jhub, seed_values, write_mount


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(url: str, token: str | None = None) -> tuple[int, str, str]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode(errors="replace")


class RunningHub:
    """`jhub serve` over the render's mounted Secret, with the fake spawner
    and the in-memory proxy (no cluster, no CHP), on a loopback port."""

    def __init__(self, test: unittest.TestCase, values: dict):
        self.test = test
        self.values = values

    def __enter__(self) -> "RunningHub":
        binary = require_jhub(self.test)
        self.tmp = tempfile.TemporaryDirectory(prefix="jhub-metrics-")
        root = Path(self.tmp.name)
        objs = render_objects(self.values)
        self.annotations = get(objs, "Service", "hub")["metadata"].get("annotations") or {}
        secret = write_mount(objs, root)
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        env.update({"POD_NAMESPACE": "lab", "HELM_RELEASE_NAME": "jhub", "JHUB_DATA_DIR": str(root)})
        self.log = open(root / "hub.log", "w+")
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--z2jh-mount", str(secret), "--spawner", "fake", "--proxy", "memory",
             "--db-url", "sqlite::memory:", "--listen", f"127.0.0.1:{self.port}"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        base = (self.values.get("hub", {}).get("baseUrl") or "/").rstrip("/")
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                self.test.fail(f"jhub serve exited {self.proc.returncode}:\n{self.logs()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{base}/hub/health", timeout=2):
                    return self
            except OSError:
                time.sleep(0.2)
        logs = self.logs()
        self.stop()
        self.test.fail(f"jhub serve did not answer {base}/hub/health:\n{logs}")

    def logs(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def __exit__(self, *exc):
        self.stop()
        self.log.close()
        self.tmp.cleanup()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def with_hub(values: dict, **hub) -> dict:
    values = json.loads(json.dumps(values))
    values["hub"] = {**values.get("hub", {}), **hub}
    # The seed's placeholders make `jhub serve` refuse to start (as it should).
    values.setdefault("proxy", {})["secretToken"] = "ab" * 32
    gitlab = values["hub"].setdefault("config", {}).setdefault("GitLabOAuthenticator", {})
    gitlab["client_id"] = "0123456789abcdef"
    gitlab["client_secret"] = "gloas-0123456789abcdef0123456789abcdef"
    return values


class PrometheusAnnotations(unittest.TestCase):
    def test_annotated_path_serves_metrics(self):
        for base_url in ("/", "/lab/"):
            with self.subTest(base_url=base_url):
                values = with_hub(seed_values(), baseUrl=base_url, authenticatePrometheus=False)
                with RunningHub(self, values) as hub:
                    a = hub.annotations
                    self.assertEqual(a.get("prometheus.io/scrape"), "true")
                    self.assertEqual(a.get("prometheus.io/port"), "8081", "the hub's container port")
                    path = a["prometheus.io/path"]
                    self.assertEqual(path, base_url.rstrip("/") + "/hub/metrics")
                    status, content_type, text = scrape(f"http://127.0.0.1:{hub.port}{path}")
                    self.assertEqual(status, 200, text[:500])
                    self.assertEqual(content_type, "text/plain; version=1.0.0; charset=utf-8")
                    for family in ("jupyterhub_total_users gauge", "jupyterhub_active_users gauge",
                                   "jupyterhub_running_servers gauge", "jupyterhub_request_duration_seconds histogram",
                                   "jhub_gpus_allocated gauge"):
                        self.assertIn(f"# TYPE {family}\n", text)

    def test_authenticated_by_default(self):
        with RunningHub(self, with_hub(seed_values())) as hub:
            path = hub.annotations["prometheus.io/path"]
            status, content_type, _ = scrape(f"http://127.0.0.1:{hub.port}{path}")
            self.assertEqual(status, 403)
            self.assertTrue(content_type.startswith("text/html"), content_type)


if __name__ == "__main__":
    unittest.main()
