"""One source of truth: the configuration the hub builds from what the chart
mounts into its pod equals the configuration `jhub check-config -f` builds
from the same values file directly.

For each values file: render the chart (real Helm), lay out the hub Secret
and ConfigMap as the pod sees them, and run
`jhub check-config --z2jh-mount DIR --print --format json` with the pod's
environment (POD_NAMESPACE, HELM_RELEASE_NAME, CONFIGPROXY_AUTH_TOKEN from
the Secret). Then run `jhub check-config -f FILE --print --format json` on
the values file itself, with the same release facts and the secrets the
chart generated given the way a local run gets them (environment). The
typed configs must be equal, apart from where each value was read from.
"""

from __future__ import annotations

import json
import re
import tempfile
import unittest
from pathlib import Path

import yaml

from helmlib import NAMESPACE, RELEASE, check_config_json, get, render_objects, require_jhub, secret_files, seed_values, \
    write_mount

SECRET = re.compile(r"^<secret from .*>$")


def normalise(node):
    """Drop provenance (file:line, which differs by construction) and keep
    only the presence of secrets (their values are never printed)."""
    if isinstance(node, dict):
        return {k: normalise(v) for k, v in node.items() if k != "origin"}
    if isinstance(node, list):
        return [normalise(v) for v in node]
    if isinstance(node, str) and SECRET.match(node):
        return "<secret>"
    return node


# The chart copies these values into keys of the hub Secret; a finding about
# the copy repeats the finding about the values key it was copied from.
SECRET_COPIES = {
    "hub.config.ConfigurableHTTPProxy.auth_token": "proxy.secretToken",
    "hub.config.JupyterHub.cookie_secret": "hub.cookieSecret",
}


def diagnostics_summary(diags) -> list[tuple]:
    return sorted((d.get("severity"), d.get("code"), d.get("key") or "") for d in diags or [])


def without_copies(mounted: list[tuple], direct: list[tuple]) -> list[tuple]:
    """The mount's findings minus repeats about a Secret copy whose source
    key has the same finding in the direct run."""
    return [
        (sev, code, key) for sev, code, key in mounted
        if not (key in SECRET_COPIES and (sev, code, SECRET_COPIES[key]) in direct)
    ]


# Values files whose effective configuration must not depend on the route
# the values took. Each exercises different parts of the mapping.
CASES = {
    "defaults": {},
    "seed": None,  # filled in from the seed config
    "postgres-and-options": {
        "hub": {
            "baseUrl": "/jupyter/",
            "db": {"type": "postgres", "url": "postgresql://jhub@db.example.org:5432/jhub", "password": "dbpass"},
            "allowNamedServers": True,
            "concurrentSpawnLimit": 10,
            "config": {"JupyterHub": {"authenticator_class": "dummy", "admin_access": False},
                       "Authenticator": {"admin_users": ["alice"], "allowed_users": ["bob"]}},
            "services": {"monitor": {"admin": True, "apiToken": "monitor-token-0123456789"}},
            "loadRoles": {"readers": {"scopes": ["read:users"], "users": ["bob"]}},
        },
        "singleuser": {
            "cpu": {"limit": 2, "guarantee": 0.5},
            "memory": {"limit": "4G", "guarantee": "1G"},
            "storage": {"type": "none"},
            "defaultUrl": "/lab",
            "profileList": [{"display_name": "Small", "default": True},
                            {"display_name": "Big", "kubespawner_override": {"cpu_limit": 8, "mem_limit": "16G"}}],
        },
        "scheduling": {"userScheduler": {"enabled": False}, "podPriority": {"enabled": True}},
        "cull": {"enabled": True, "timeout": 1800, "every": 300, "users": True},
        "debug": {"enabled": True},
    },
    "fullname-and-static-storage": {
        "fullnameOverride": "lab",
        "singleuser": {"storage": {"type": "static", "static": {"pvcName": "home", "subPath": "{username}"}},
                       "extraEnv": {"A": "1"}, "nodeSelector": {"pool": "users"}},
        "scheduling": {"userPods": {"nodeAffinity": {"matchNodePurpose": "require"}}},
        "proxy": {"service": {"type": "NodePort", "nodePorts": {"http": 30080}}},
    },
    "fullname-null": {
        # Names from the release: jhub-jupyterhub-hub, jhub-jupyterhub-proxy-api...
        "fullnameOverride": None,
    },
    "null-deletes-a-default": {
        # Helm drops a key set to null; jhub's own merge must do the same.
        "singleuser": {"cmd": None, "memory": {"guarantee": None}},
        "hub": {"concurrentSpawnLimit": None},
    },
}


class Equivalence(unittest.TestCase):
    def compare(self, name: str, values: dict):
        require_jhub(self)
        objs = render_objects(values)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            hub_name = next(o["metadata"]["name"] for o in objs
                            if o["kind"] == "Deployment" and o["metadata"]["labels"]["component"] == "hub")
            secret_dir = write_mount(objs, tmp / "mount", hub_name)
            files = secret_files(get(objs, "Secret", hub_name))
            pod_env = {
                "POD_NAMESPACE": NAMESPACE,
                "HELM_RELEASE_NAME": RELEASE,
                "CONFIGPROXY_AUTH_TOKEN": files["hub.config.ConfigurableHTTPProxy.auth_token"],
                # Kubernetes' service links, as in the pod.
                "HUB_SERVICE_PORT": "8081",
            }
            mounted = check_config_json(self, ["--z2jh-mount", str(secret_dir)], pod_env)

            values_file = tmp / "values.yaml"
            values_file.write_text(yaml.safe_dump(values, allow_unicode=True), encoding="utf-8")
            local_env = {
                "POD_NAMESPACE": NAMESPACE,
                "HELM_RELEASE_NAME": RELEASE,
                "HUB_SERVICE_PORT": "8081",
                # Secrets the chart generated, given the way a local run
                # would get them; JSON-quoted so YAML keeps them strings.
                "CONFIGPROXY_AUTH_TOKEN": files["hub.config.ConfigurableHTTPProxy.auth_token"],
                "JHUB_VALUES__hub__cookieSecret": json.dumps(files["hub.config.JupyterHub.cookie_secret"]),
                "JHUB_VALUES__hub__config__CryptKeeper__keys": json.dumps(files["hub.config.CryptKeeper.keys"].split(";")),
            }
            direct = check_config_json(self, ["-f", str(values_file)], local_env)

        self.assertEqual(normalise(mounted["config"]), normalise(direct["config"]),
                         f"{name}: the chart's mount and the values file give different configurations")
        direct_findings = diagnostics_summary(direct["diagnostics"])
        self.assertEqual(without_copies(diagnostics_summary(mounted["diagnostics"]), direct_findings), direct_findings,
                         f"{name}: different findings")
        return mounted["config"]

    def test_defaults(self):
        config = self.compare("defaults", CASES["defaults"])
        # Sanity: the pod's view is the chart's (proxy-api service, release namespace, PVC path).
        self.assertEqual(config["proxy"]["api_url"], "http://proxy-api:8001")
        self.assertEqual(config["hub"]["db"]["target"], {"kind": "sqlite", "path": "/srv/jupyterhub/jhub.sqlite"})
        self.assertEqual(config["spawner"]["namespace"], NAMESPACE)
        self.assertEqual(config["release"]["chart_name"], "jhub")

    def test_seed(self):
        config = self.compare("seed", seed_values())
        self.assertEqual(config["auth"]["authenticator"]["class"], "gitlab")
        self.assertEqual(config["proxy"]["node_port_http"], 34567)

    def test_postgres_and_options(self):
        config = self.compare("postgres-and-options", CASES["postgres-and-options"])
        self.assertEqual(config["hub"]["db"]["target"]["kind"], "postgres")
        self.assertEqual(config["hub"]["base_url"], "/jupyter/")

    def test_fullname_and_static_storage(self):
        config = self.compare("fullname-and-static-storage", CASES["fullname-and-static-storage"])
        self.assertEqual(config["proxy"]["api_url"], "http://lab-proxy-api:8001")

    def test_fullname_null(self):
        config = self.compare("fullname-null", CASES["fullname-null"])
        self.assertEqual(config["proxy"]["api_url"], "http://jhub-jupyterhub-proxy-api:8001")
        self.assertEqual(config["spawner"]["pod"]["scheduler_name"], "jhub-jupyterhub-user-scheduler")

    # Helm deletes a key the user sets to null before it writes values.yaml,
    # and z2jh's hub then uses the code default (JupyterHub's
    # concurrent_spawn_limit 100, the image's CMD, no memory request); jhub
    # must give the same answer from the mount as from `-f`.
    def test_null_deletes_a_default(self):
        self.compare("null-deletes-a-default", CASES["null-deletes-a-default"])


if __name__ == "__main__":
    unittest.main()
