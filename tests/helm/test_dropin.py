"""Drop-in inside the official z2jh chart: with only `hub.image` changed, the
hub container z2jh starts is one jhub runs correctly, and this chart starts
jhub the same way.

Fixtures: tests/helm/fixtures/z2jh-mount/<version>/ (generated from the
official chart; see its README for the command)."""

from __future__ import annotations

import json
import unittest
from pathlib import Path

from helmlib import FIXTURES, container, get, render_objects, seed_values, check_config_json

VERSIONS = sorted(p.name for p in (FIXTURES / "z2jh-mount").iterdir() if p.is_dir())
PY_FILES = {"/usr/local/etc/jupyterhub/jupyterhub_config.py", "/usr/local/etc/jupyterhub/z2jh.py"}


def fixture(version: str) -> Path:
    return FIXTURES / "z2jh-mount" / version


class OfficialChartLayout(unittest.TestCase):
    def test_fixtures_present(self):
        self.assertIn("4.2.0", VERSIONS)
        self.assertGreaterEqual(len(VERSIONS), 2)

    def test_jhub_reads_the_official_mount(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                root = fixture(version)
                token = (root / "secret" / "hub.config.ConfigurableHTTPProxy.auth_token").read_text()
                # A namespace and release that differ from the values' Release
                # block prove the environment is what counts, as in z2jh.
                env = {"POD_NAMESPACE": "lab-ns", "HELM_RELEASE_NAME": "jhub", "CONFIGPROXY_AUTH_TOKEN": token,
                       "HUB_SERVICE_PORT": "8081", "PROXY_API_SERVICE_PORT": "8001"}
                out = check_config_json(self, ["--z2jh-mount", str(root / "secret")], env)
                config = out["config"]
                errors = [d for d in out["diagnostics"] if d["severity"] == "error"]
                self.assertEqual(errors, [])
                self.assertEqual(config["proxy"]["api_url"], "http://proxy-api:8001")
                self.assertEqual(config["hub"]["hub_connect_url"], "http://hub:8081")
                self.assertEqual(config["hub"]["port"], 8081)
                self.assertEqual(config["spawner"]["namespace"], "lab-ns")
                self.assertEqual(config["release"]["name"], "jhub")
                self.assertEqual(config["release"]["chart_name"], "jupyterhub")
                self.assertEqual(config["release"]["chart_version"], version)
                self.assertEqual(config["hub"]["db"]["target"],
                                 {"kind": "sqlite", "path": "/srv/jupyterhub/jhub.sqlite"})
                for secret in (config["hub"]["cookie_secret"], config["hub"]["crypt_keys"], config["proxy"]["auth_token"]):
                    self.assertRegex(secret, r"^<secret from .*/secret/hub\.config\.")
                # User pods name the scheduler the official chart deployed.
                scheduler = (root / "config" / "user-scheduler").read_text()
                self.assertEqual(config["spawner"]["pod"]["scheduler_name"], scheduler)
                # The seed's profile typos are reported, not fatal (z2jh accepts them).
                typos = {d["key"] for d in out["diagnostics"] if "gurantee" in (d.get("key") or "")}
                self.assertEqual(len(typos), 4, out["diagnostics"])

    # With `fullnameOverride: null` the official chart names everything
    # `<release>-jupyterhub-...` and Helm drops the key from the mounted
    # values.yaml; jhub must not bring the chart default "" back, or it would
    # compute unprefixed names (no CHP, a scheduler that does not exist).
    def test_official_mount_with_fullname_null(self):
        import shutil
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            secret = Path(tmp) / "secret"
            shutil.copytree(fixture(VERSIONS[-1]) / "secret", secret)
            values = (secret / "values.yaml").read_text()
            self.assertIn('\nfullnameOverride: ""\n', values)
            (secret / "values.yaml").write_text(values.replace('\nfullnameOverride: ""\n', "\n"))
            out = check_config_json(self, ["--z2jh-mount", str(secret)],
                                    {"POD_NAMESPACE": "jhub", "HELM_RELEASE_NAME": "jhub"})
        self.assertEqual(out["config"]["proxy"]["api_url"], "http://jhub-jupyterhub-proxy-api:8001")
        self.assertEqual(out["config"]["spawner"]["pod"]["scheduler_name"], "jhub-jupyterhub-user-scheduler")

    def test_official_hub_container_is_runnable_by_jhub(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                pod = json.loads((fixture(version) / "hub-pod.json").read_text())
                c = pod["container"]
                self.assertEqual(c["image"], "quay.io/jhub/jhub:0.1.0")
                # No command: the image's ENTRYPOINT (jhub) receives the args.
                self.assertNotIn("command", c)
                self.assertEqual(c["args"][:3], ["jupyterhub", "--config", "/usr/local/etc/jupyterhub/jupyterhub_config.py"])
                self.assertEqual(c["securityContext"]["runAsUser"], 1000)
                mounts = {m["mountPath"] for m in c["volumeMounts"]}
                self.assertTrue({"/usr/local/etc/jupyterhub/secret/", "/usr/local/etc/jupyterhub/config/",
                                 "/srv/jupyterhub"} <= mounts)
                self.assertEqual({e["name"] for e in c["env"]} >= {"HELM_RELEASE_NAME", "POD_NAMESPACE",
                                                                   "CONFIGPROXY_AUTH_TOKEN"}, True)


class SameStartAsOfficial(unittest.TestCase):
    """This chart starts jhub exactly as the official chart does, so both
    charts go through one start-up path."""

    @classmethod
    def setUpClass(cls):
        cls.objs = render_objects(seed_values())
        cls.ours = container(get(cls.objs, "Deployment", "hub"), "hub")
        cls.official = {v: json.loads((fixture(v) / "hub-pod.json").read_text()) for v in VERSIONS}

    def test_args_env_ports_probes(self):
        for version, pod in self.official.items():
            with self.subTest(version=version):
                theirs = pod["container"]
                self.assertEqual(self.ours["args"], theirs["args"])
                self.assertNotIn("command", self.ours)
                env = {e["name"]: e for e in self.ours["env"]}
                for e in theirs["env"]:
                    if e["name"] == "PYTHONUNBUFFERED":
                        continue  # for the Python hub only
                    self.assertEqual(env.get(e["name"]), e)
                self.assertEqual(self.ours["ports"], theirs["ports"])
                for probe in ("livenessProbe", "readinessProbe"):
                    self.assertEqual(self.ours[probe], theirs[probe])
                self.assertEqual(self.ours["securityContext"]["runAsUser"], theirs["securityContext"]["runAsUser"])

    def test_mount_paths(self):
        ours = {m["mountPath"]: m for m in self.ours["volumeMounts"]}
        for version, pod in self.official.items():
            with self.subTest(version=version):
                theirs = {m["mountPath"] for m in pod["container"]["volumeMounts"]} - PY_FILES
                self.assertEqual(theirs - set(ours), set())

    def test_config_names_match(self):
        """The resource names in /usr/local/etc/jupyterhub/config/ are the
        same files with the same content (seed values, release jhub)."""
        ours = dict(get(self.objs, "ConfigMap", "hub")["data"])
        ours.pop("checksum_hook-image-puller")
        for version in VERSIONS:
            with self.subTest(version=version):
                config = fixture(version) / "config"
                theirs = {p.name: p.read_text() for p in config.iterdir() if p.name != "checksum_hook-image-puller"}
                self.assertEqual(ours, theirs)

    def test_secret_keys_match(self):
        from helmlib import secret_files
        ours = set(secret_files(get(self.objs, "Secret", "hub")))
        for version in VERSIONS:
            with self.subTest(version=version):
                theirs = {p.name for p in (fixture(version) / "secret").iterdir()}
                self.assertEqual(ours, theirs)


if __name__ == "__main__":
    unittest.main()
