"""The chart lints clean, renders with the chart defaults and with the seed
user's config, and every rendered object is a valid Kubernetes object
(kubernetes-validate --strict, every Kubernetes version from 1.30 on)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import helm_python
import kubernetes_validate
import yaml

from helmlib import CHART, NAMESPACE, RELEASE, SEED_FIXED, check_config_json, container, get, load_yaml, objects, render, \
    render_objects, require_jhub, secret_files, seed_values, write_mount

# Every Kubernetes minor version kubernetes-validate ships schemas for, from
# the chart's minimum (Chart.yaml kubeVersion) up.
K8S_VERSIONS = [f"1.{minor}.0" for minor in range(30, 38)]

# Kinds that are not part of Kubernetes itself (Gateway API), so no schema.
NOT_BUILT_IN = {("gateway.networking.k8s.io/v1", "HTTPRoute")}

# Values that turn on every optional object the chart has.
EVERYTHING = {
    "hub": {
        "pdb": {"enabled": True},
        "extraFiles": {"motd": {"mountPath": "/etc/jhub/motd.txt", "stringData": "hello"}},
        "services": {"monitor": {"url": "http://monitor:9000"}},
        "existingSecret": "my-hub-secret",
        "db": {"password": "pw"},
    },
    "proxy": {
        "chp": {"pdb": {"enabled": True}},
        "https": {"enabled": True, "type": "manual", "manual": {"key": "KEY", "cert": "CERT"}},
        "service": {"type": "NodePort", "nodePorts": {"http": 30080, "https": 30443}},
    },
    "singleuser": {
        "extraFiles": {"cfg": {"mountPath": "/etc/jupyter/cfg.json", "data": {"a": 1}}},
        "cloudMetadata": {"blockWithIptables": False},
        "networkPolicy": {"interNamespaceAccessLabels": "accept", "allowedIngressPorts": [8888]},
    },
    "scheduling": {"podPriority": {"enabled": True}, "userPlaceholder": {"replicas": 2}},
    "prePuller": {"extraImages": {"extra": {"name": "quay.io/x/y", "tag": "1"}}},
    "imagePullSecret": {"create": True, "registry": "quay.io", "username": "u", "password": "p", "email": "e@x"},
    "imagePullSecrets": ["other-secret"],
    "ingress": {"enabled": True, "hosts": ["jupyter.example.org"], "tls": [{"hosts": ["jupyter.example.org"], "secretName": "tls"}]},
    "httpRoute": {"enabled": True, "hostnames": ["jupyter.example.org"], "parentRefs": [{"name": "gw"}]},
    "debug": {"enabled": True},
}


def validate_all(test: unittest.TestCase, objs: list[dict]) -> None:
    test.assertTrue(objs)
    for obj in objs:
        kind = (obj["apiVersion"], obj["kind"])
        if kind in NOT_BUILT_IN:
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                test.fail(f"{obj['kind']}/{obj['metadata']['name']} is invalid for Kubernetes {version}: "
                          f"{e.message} at {list(e.path)}")


class PublishedSeedAsIs(unittest.TestCase):
    """The seed's config-fixed.yaml exactly as published, profile typos included.

    The chart's schema refuses it (the typos are what made every CPU server
    reserve 8 cores), so a plain `helm upgrade` stops before touching the
    cluster. An operator who must deploy the file unchanged first passes
    `--skip-schema-validation` (Helm 3.16+): the templates still render valid
    objects from it and jhub reports each typo with its line when it starts,
    as KubeSpawner never did. Rendering a copy of the chart without
    values.schema.json is what that flag does."""

    def test_schema_refuses_it(self):
        with self.assertRaises(helm_python.HelmError) as ctx:
            render(load_yaml(SEED_FIXED))
        self.assertIn("cpu_gurantee", str(ctx.exception))

    def test_without_the_schema_it_renders_valid_objects_and_jhub_reports_the_typos(self):
        require_jhub(self)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            unchecked = tmp / "jhub"
            shutil.copytree(CHART, unchecked)
            (unchecked / "values.schema.json").unlink()
            objs = objects(render(load_yaml(SEED_FIXED), chart_dir=unchecked))
            validate_all(self, objs)
            secret_dir = write_mount(objs, tmp / "mount")
            token = secret_files(get(objs, "Secret", "hub"))["hub.config.ConfigurableHTTPProxy.auth_token"]
            out = check_config_json(self, ["--z2jh-mount", str(secret_dir)], {
                "POD_NAMESPACE": NAMESPACE, "HELM_RELEASE_NAME": RELEASE, "CONFIGPROXY_AUTH_TOKEN": token,
                "HUB_SERVICE_PORT": "8081"})
        self.assertEqual([d for d in out["diagnostics"] if d["severity"] == "error"], [])
        typos = sorted(d["key"] for d in out["diagnostics"] if "gurantee" in (d.get("key") or ""))
        self.assertEqual(len(typos), 4, out["diagnostics"])
        self.assertEqual({k.rsplit(".", 1)[-1] for k in typos}, {"cpu_gurantee", "memo_gurantee", "mem_gurantee"})


class Lint(unittest.TestCase):
    def lint(self, values, **kw):
        report = helm_python.lint(str(CHART), values, **kw)
        self.assertEqual(report["errors"], [], report)
        # Severity 2 = warning, 3 = error; 1 (info) is only "icon is recommended".
        serious = [m for m in report["messages"] if m["severity"] >= 2]
        self.assertEqual(serious, [], report)

    def test_lint_defaults(self):
        self.lint({})
        self.lint({}, strict=True, kube_version="v1.30.0")

    def test_lint_seed(self):
        self.lint(seed_values(), strict=True)
        self.lint(seed_values(), strict=True, kube_version="v1.30.0", namespace=NAMESPACE)

    def test_lint_everything(self):
        self.lint(EVERYTHING, strict=True)


class Validate(unittest.TestCase):
    def test_defaults_are_valid_kubernetes(self):
        validate_all(self, render_objects({}))

    def test_seed_is_valid_kubernetes(self):
        validate_all(self, render_objects(seed_values()))

    def test_everything_is_valid_kubernetes(self):
        objs = render_objects(EVERYTHING)
        kinds = {o["kind"] for o in objs}
        for kind in ("Ingress", "HTTPRoute", "PriorityClass", "NetworkPolicy", "PodDisruptionBudget", "Job"):
            self.assertIn(kind, kinds)
        validate_all(self, objs)

    def test_postgres_and_no_optional_parts_are_valid(self):
        values = {
            "hub": {"db": {"type": "postgres", "url": "postgresql://jhub@db:5432/jhub"}, "networkPolicy": {"enabled": False}},
            "scheduling": {"userScheduler": {"enabled": False}, "userPlaceholder": {"enabled": False}},
            "prePuller": {"hook": {"enabled": False}, "continuous": {"enabled": False}},
            "rbac": {"create": False},
            "fullnameOverride": None,
        }
        validate_all(self, render_objects(values))

    def test_the_kubernetes_validate_command_agrees(self):
        """The acceptance command itself, on the seed render, for 1.30."""
        rendered = render(seed_values())
        with tempfile.TemporaryDirectory() as tmp:
            files = []
            for i, obj in enumerate(o for o in yaml.safe_load_all("\n---\n".join(
                    t for p, t in sorted(rendered.items()) if not p.endswith("NOTES.txt"))) if o):
                path = Path(tmp) / f"{i:02d}-{obj['kind']}.yaml"
                path.write_text(yaml.safe_dump(obj), encoding="utf-8")
                files.append(str(path))
            cli = Path(sys.executable).with_name("kubernetes-validate")
            proc = subprocess.run([str(cli), "-k", "1.30.0", "--strict", *files], capture_output=True, text=True)
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)


class SeedObjects(unittest.TestCase):
    """What the seed user gets: the pods of the article's `kubectl get pod`
    listing (hub, proxy, continuous-image-puller, user-scheduler) and the
    objects around them."""

    @classmethod
    def setUpClass(cls):
        cls.objs = render_objects(seed_values())
        cls.names = {(o["kind"], o["metadata"]["name"]) for o in cls.objs}

    def test_object_inventory(self):
        expected = {
            ("ConfigMap", "hub"), ("Secret", "hub"), ("Deployment", "hub"), ("Service", "hub"),
            ("ServiceAccount", "hub"), ("Role", "hub"), ("RoleBinding", "hub"), ("PersistentVolumeClaim", "hub-db-dir"),
            ("Deployment", "proxy"), ("Service", "proxy-api"), ("Service", "proxy-public"),
            ("DaemonSet", "continuous-image-puller"), ("ServiceAccount", "continuous-image-puller"),
            ("ConfigMap", "user-scheduler"), ("Deployment", "user-scheduler"), ("ServiceAccount", "user-scheduler"),
            ("ClusterRole", "jhub-user-scheduler"), ("ClusterRoleBinding", "jhub-user-scheduler"),
            # jhub only: storage management's cluster reads (deploy/README.md, RBAC).
            ("ClusterRole", "jhub-hub-storage"), ("ClusterRoleBinding", "jhub-hub-storage"),
            ("PodDisruptionBudget", "user-scheduler"),
            ("StatefulSet", "user-placeholder"), ("PodDisruptionBudget", "user-placeholder"),
        }
        self.assertEqual(self.names, expected)

    def test_no_network_policies_when_disabled(self):
        # The seed disables all three; nothing else may appear either.
        self.assertFalse([n for n in self.names if n[0] == "NetworkPolicy"])

    def test_proxy_public_type_and_node_port(self):
        svc = get(self.objs, "Service", "proxy-public")
        self.assertEqual(svc["spec"]["type"], "LoadBalancer")
        http = [p for p in svc["spec"]["ports"] if p["name"] == "http"]
        self.assertEqual(http, [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 34567}])

    def test_proxy_token_is_the_configured_one(self):
        import base64
        secret = get(self.objs, "Secret", "hub")
        token = base64.b64decode(secret["data"]["hub.config.ConfigurableHTTPProxy.auth_token"]).decode()
        self.assertEqual(token, "<GENERATE SECRET TOKEN BY YOURSELF>")
        chp = container(get(self.objs, "Deployment", "proxy"), "chp")
        env = {e["name"]: e for e in chp["env"]}
        self.assertEqual(env["CONFIGPROXY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"],
                         {"name": "hub", "key": "hub.config.ConfigurableHTTPProxy.auth_token"})
        self.assertEqual(chp["image"], "quay.io/jupyterhub/configurable-http-proxy:5.3.0")
        self.assertIn("--default-target=http://hub:$(HUB_SERVICE_PORT)", chp["args"])
        self.assertIn("--api-port=8001", chp["args"])

    def test_hub_pod(self):
        dep = get(self.objs, "Deployment", "hub")
        pod = dep["spec"]["template"]["spec"]
        hub = container(dep, "hub")
        self.assertEqual(dep["spec"]["replicas"], 1)
        self.assertEqual(hub["image"], "quay.io/jhub/jhub:0.1.0")
        self.assertNotIn("command", hub)  # the image's entrypoint is jhub
        self.assertEqual(hub["args"], ["jupyterhub", "--config", "/usr/local/etc/jupyterhub/jupyterhub_config.py", "--upgrade-db"])
        mounts = {m["mountPath"]: m for m in hub["volumeMounts"]}
        self.assertEqual(mounts["/usr/local/etc/jupyterhub/secret/"]["name"], "secret")
        self.assertEqual(mounts["/usr/local/etc/jupyterhub/config/"]["name"], "config")
        self.assertEqual(mounts["/srv/jupyterhub"]["name"], "pvc")
        self.assertEqual(mounts["/tmp"]["name"], "tmp")
        volumes = {v["name"]: v for v in pod["volumes"]}
        self.assertEqual(volumes["pvc"]["persistentVolumeClaim"]["claimName"], "hub-db-dir")
        self.assertEqual(volumes["secret"]["secret"]["secretName"], "hub")
        # The seed's own extra reference to hub-db-dir is kept, unmounted (as in z2jh).
        self.assertIn("hub-db-dir", volumes)
        env = {e["name"]: e for e in hub["env"]}
        self.assertEqual(env["HELM_RELEASE_NAME"]["value"], RELEASE)
        self.assertEqual(env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.namespace")
        self.assertIn("CONFIGPROXY_AUTH_TOKEN", env)
        self.assertEqual(hub["ports"], [{"name": "http", "containerPort": 8081}])
        for probe in ("livenessProbe", "readinessProbe"):
            self.assertEqual(hub[probe]["httpGet"], {"path": "/hub/health", "port": "http"})
        # Non-root, read-only root file system, resource requests.
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertEqual(hub["securityContext"]["runAsUser"], 1000)
        self.assertTrue(hub["securityContext"]["readOnlyRootFilesystem"])
        self.assertFalse(hub["securityContext"]["allowPrivilegeEscalation"])
        self.assertIn("cpu", hub["resources"]["requests"])
        self.assertIn("memory", hub["resources"]["requests"])
        self.assertEqual(pod["serviceAccountName"], "hub")

    def test_pvc_survives_values_changes(self):
        pvc = get(self.objs, "PersistentVolumeClaim", "hub-db-dir")
        self.assertEqual(pvc["metadata"]["annotations"]["helm.sh/resource-policy"], "keep")
        self.assertEqual(pvc["spec"]["resources"]["requests"]["storage"], "1Gi")

    def test_continuous_puller_pulls_singleuser_and_profile_images(self):
        ds = get(self.objs, "DaemonSet", "continuous-image-puller")
        images = [c["image"] for c in ds["spec"]["template"]["spec"]["initContainers"]]
        self.assertIn("quay.io/zhonger/base-notebook:v3", images)
        self.assertIn("quay.io/zhonger/gpu-notebook:v3", images)
        self.assertIn("quay.io/jupyterhub/k8s-network-tools:4.2.0", images)
        pod = ds["spec"]["template"]["spec"]
        self.assertEqual([c["name"] for c in pod["containers"]], ["pause"])
        self.assertFalse(pod["automountServiceAccountToken"])
        # On user nodes: the user pods' tolerations.
        self.assertIn("user", [t.get("value") for t in pod["tolerations"]])

    def test_hook_puller_disabled(self):
        self.assertNotIn(("DaemonSet", "hook-image-puller"), self.names)
        self.assertNotIn(("Job", "hook-image-awaiter"), self.names)


class Toggles(unittest.TestCase):
    def names(self, values):
        return {(o["kind"], o["metadata"]["name"]) for o in render_objects(values)}

    def test_network_policies_follow_their_flags(self):
        both = {("NetworkPolicy", n) for n in ("hub", "proxy", "singleuser")}
        self.assertTrue(both <= self.names({}))
        for key, name in (("hub", "hub"), ("proxy", "proxy"), ("singleuser", "singleuser")):
            values = {"proxy": {"chp": {"networkPolicy": {"enabled": False}}}} if key == "proxy" else \
                {key: {"networkPolicy": {"enabled": False}}}
            got = {n for n in self.names(values) if n[0] == "NetworkPolicy"}
            self.assertEqual(got, both - {("NetworkPolicy", name)})

    def test_postgres_has_no_pvc_and_no_upgrade_flag(self):
        objs = render_objects({"hub": {"db": {"type": "postgres", "url": "postgresql://jhub@db/jhub", "password": "s3cret"}}})
        names = {(o["kind"], o["metadata"]["name"]) for o in objs}
        self.assertNotIn(("PersistentVolumeClaim", "hub-db-dir"), names)
        hub = container(get(objs, "Deployment", "hub"), "hub")
        self.assertNotIn("--upgrade-db", hub["args"])
        self.assertNotIn("/srv/jupyterhub", [m["mountPath"] for m in hub["volumeMounts"]])
        import base64
        self.assertEqual(base64.b64decode(get(objs, "Secret", "hub")["data"]["hub.db.password"]).decode(), "s3cret")

    def test_ingress_is_optional(self):
        self.assertNotIn("Ingress", {k for k, _ in self.names({})})
        objs = render_objects({"ingress": {"enabled": True, "hosts": ["a.example.org"], "ingressClassName": "nginx"}})
        ing = get(objs, "Ingress", "jupyterhub")
        rule = ing["spec"]["rules"][0]
        self.assertEqual(rule["host"], "a.example.org")
        backend = rule["http"]["paths"][0]["backend"]["service"]
        self.assertEqual(backend, {"name": "proxy-public", "port": {"name": "http"}})

    def test_node_port_service(self):
        objs = render_objects({"proxy": {"service": {"type": "NodePort", "nodePorts": {"http": 30080}}}})
        svc = get(objs, "Service", "proxy-public")
        self.assertEqual(svc["spec"]["type"], "NodePort")
        self.assertEqual(svc["spec"]["ports"][0]["nodePort"], 30080)

    def test_https_offload_and_manual(self):
        objs = render_objects({"proxy": {"https": {"enabled": True, "type": "offload"}}})
        ports = get(objs, "Service", "proxy-public")["spec"]["ports"]
        self.assertEqual([(p["name"], p["targetPort"]) for p in ports], [("https", "http"), ("http", "http")])
        objs = render_objects({"proxy": {"https": {"enabled": True, "type": "manual", "manual": {"key": "K", "cert": "C"}}}})
        chp = container(get(objs, "Deployment", "proxy"), "chp")
        self.assertIn("--port=8443", chp["args"])
        self.assertIn("--ssl-key=/etc/chp/tls/tls.key", chp["args"])
        self.assertEqual(get(objs, "Secret", "proxy-public-manual-tls")["type"], "kubernetes.io/tls")

    def test_refused_values_fail_with_a_reason(self):
        cases = [
            ({"proxy": {"https": {"enabled": True, "type": "letsencrypt", "hosts": ["a.org"],
                                  "letsencrypt": {"contactEmail": "a@a.org"}}}}, "letsencrypt"),
            ({"hub": {"db": {"type": "mysql", "url": "mysql://x"}}}, "mysql"),
            ({"hub": {"db": {"type": "postgres"}}}, "hub.db.url"),
            ({"rbac": {"enabled": True}}, "rbac.create"),
            ({"hub": {"fsGid": 100}}, "fsGroup"),
            ({"httpRoute": {"gateway": {"name": "gw"}}}, "parentRefs"),
            ({"singleuser": {"networkPolicy": {"egressAllowRules": {"cloudMetadataServer": True}}}}, "blockWithIptables"),
        ]
        for values, needle in cases:
            with self.subTest(needle=needle):
                with self.assertRaises(helm_python.HelmError) as ctx:
                    render(values)
                self.assertIn(needle, str(ctx.exception))

    def test_extra_env_map_and_list(self):
        objs = render_objects({"hub": {"extraEnv": {"A": "1", "B": {"valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}}},
                               "proxy": {"chp": {"extraEnv": [{"name": "C", "value": "3"}]}}})
        env = {e["name"]: e for e in container(get(objs, "Deployment", "hub"), "hub")["env"]}
        self.assertEqual(env["A"], {"name": "A", "value": "1"})
        self.assertEqual(env["B"], {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}})
        chp = {e["name"]: e for e in container(get(objs, "Deployment", "proxy"), "chp")["env"]}
        self.assertEqual(chp["C"], {"name": "C", "value": "3"})

    def test_hub_extra_files_and_existing_secret(self):
        objs = render_objects({"hub": {"existingSecret": "mine", "extraFiles": {
            "motd": {"mountPath": "/etc/jhub/motd.txt", "stringData": "hi", "mode": 0o444}}}})
        dep = get(objs, "Deployment", "hub")
        mounts = {m["mountPath"]: m for m in container(dep, "hub")["volumeMounts"]}
        self.assertEqual(mounts["/etc/jhub/motd.txt"], {"name": "files", "mountPath": "/etc/jhub/motd.txt", "subPath": "motd"})
        self.assertEqual(mounts["/usr/local/etc/jupyterhub/existing-secret/"]["name"], "existing-secret")
        volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
        self.assertEqual(volumes["existing-secret"]["secret"]["secretName"], "mine")
        self.assertEqual(volumes["files"]["secret"]["items"], [{"key": "motd", "path": "motd", "mode": 0o444}])
        self.assertEqual(get(objs, "Secret", "hub")["stringData"], {"motd": "hi"})
        with self.assertRaises(helm_python.HelmError) as ctx:
            render({"hub": {"extraFiles": {"bad": {"mountPath": "/x/y.txt", "data": {"a": 1}}}}})
        self.assertIn("extraFiles.bad", str(ctx.exception))

    def test_no_host_routing(self):
        # jhub routes by path; CHP must not route by host even with subdomain_host.
        objs = render_objects({"hub": {"config": {"JupyterHub": {"subdomain_host": "example.org"}}}})
        self.assertNotIn("--host-routing", container(get(objs, "Deployment", "proxy"), "chp")["args"])

    def test_fullname_override_prefixes_every_name(self):
        objs = render_objects({"fullnameOverride": "dev"})
        namespaced = [o for o in objs if o["kind"] not in ("ClusterRole", "ClusterRoleBinding", "PriorityClass")]
        for o in namespaced:
            self.assertTrue(o["metadata"]["name"].startswith("dev-"), o["metadata"]["name"])
        objs = render_objects({"fullnameOverride": None}, release="lab")
        self.assertIn(("Deployment", "lab-jupyterhub-hub"), {(o["kind"], o["metadata"]["name"]) for o in objs})


if __name__ == "__main__":
    unittest.main()
