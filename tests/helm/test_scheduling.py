"""The chart and the hub agree on what user pods need from the cluster:

* user pods name `<release>-user-scheduler` as schedulerName exactly when the
  chart deploys a kube-scheduler registered under that name (never a pod
  that names a scheduler that is not there);
* the priority class user pods name exists;
* the image pullers pull every image a user pod of any profile runs, on the
  nodes user pods may use;
* the placeholders look like user pods to the scheduler.

The user pods are the ones `jhub render-pod` builds from the chart's mounted
values, i.e. what the hub in that release would create."""

from __future__ import annotations

import json
import tempfile
import unittest
from pathlib import Path

import yaml

from helmlib import NAMESPACE, RELEASE, ChartCopy, get, objects, render, render_objects, run_jhub, seed_values, \
    write_mount

SEED_CHOICES = [  # (profile slug, option choices) of every seed profile
    ("cpu-fen-qu", ["image=lab6"]), ("cpu-fen-qu", ["image=lab9"]),
    ("gpu-fen-qu", ["image=A100x1"]), ("gpu-fen-qu", ["image=P100x1"]),
]


def user_pod(test, objs, *, release=RELEASE, profile=None, options=()) -> dict:
    """The pod the hub of this render would create for alice."""
    hub_name = next(o["metadata"]["name"] for o in objs
                    if o["kind"] == "Deployment" and o["metadata"]["labels"]["component"] == "hub")
    with tempfile.TemporaryDirectory() as tmp:
        secret_dir = write_mount(objs, Path(tmp), hub_name)
        args = ["render-pod", "--z2jh-mount", str(secret_dir)]
        if profile:
            args += ["--profile", profile]
            for o in options:
                args += ["--option", o]
        proc = run_jhub(test, args, {"POD_NAMESPACE": NAMESPACE, "HELM_RELEASE_NAME": release})
    return json.loads(proc.stdout)["pod"]


def scheduler_profile_names(objs) -> list[str]:
    names = []
    for o in objs:
        if o["kind"] == "ConfigMap" and o["metadata"]["labels"].get("component") == "user-scheduler":
            config = yaml.safe_load(o["data"]["config.yaml"])
            names += [p["schedulerName"] for p in config["profiles"]]
    return names


class Scheduler(unittest.TestCase):
    def test_pods_name_the_deployed_scheduler(self):
        cases = [
            ({}, RELEASE, "jhub-user-scheduler"),
            ({"fullnameOverride": "lab"}, RELEASE, "lab-user-scheduler"),
            ({"fullnameOverride": None}, "prod", "prod-jupyterhub-user-scheduler"),
        ]
        for values, release, expected in cases:
            with self.subTest(values=values):
                objs = render_objects(values, release=release)
                self.assertEqual(scheduler_profile_names(objs), [expected])
                deploy = [o for o in objs if o["kind"] == "Deployment"
                          and o["metadata"]["labels"]["component"] == "user-scheduler"]
                self.assertEqual(len(deploy), 1)
                self.assertEqual(deploy[0]["spec"]["replicas"], 2)
                pod = user_pod(self, objs, release=release)
                self.assertEqual(pod["spec"]["schedulerName"], expected)
                # The scheduler may bind pods and elect a leader.
                role = next(o for o in objs if o["kind"] == "ClusterRole"
                            and o["metadata"]["labels"]["component"] == "user-scheduler")
                self.assertEqual(role["metadata"]["name"], expected)
                granted = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"]
                           for r in rule["resources"] for v in rule["verbs"]}
                for need in (("", "pods/binding", "create"), ("", "pods", "watch"), ("", "nodes", "list"),
                             ("coordination.k8s.io", "leases", "create"), ("", "persistentvolumeclaims", "get")):
                    self.assertIn(need, granted)

    def test_disabled_scheduler_is_never_named(self):
        objs = render_objects({"scheduling": {"userScheduler": {"enabled": False}}})
        self.assertEqual(scheduler_profile_names(objs), [])
        self.assertFalse([o for o in objs if o["metadata"]["name"].endswith("user-scheduler")])
        pod = user_pod(self, objs)
        self.assertNotIn("schedulerName", pod["spec"])
        placeholder = get(objs, "StatefulSet", "user-placeholder")
        self.assertNotIn("schedulerName", placeholder["spec"]["template"]["spec"])

    def test_scheduler_config_is_valid_for_kube_scheduler(self):
        objs = render_objects({})
        config = yaml.safe_load(get(objs, "ConfigMap", "user-scheduler")["data"]["config.yaml"])
        self.assertEqual(config["apiVersion"], "kubescheduler.config.k8s.io/v1")
        self.assertEqual(config["kind"], "KubeSchedulerConfiguration")
        self.assertEqual(config["leaderElection"],
                         {"resourceLock": "leases", "resourceName": "user-scheduler-lock", "resourceNamespace": NAMESPACE})
        fit = next(p for p in config["profiles"][0]["pluginConfig"] if p["name"] == "NodeResourcesFit")
        self.assertEqual(fit["args"]["scoringStrategy"]["type"], "MostAllocated")
        c = get(objs, "Deployment", "user-scheduler")["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(c["image"], "registry.k8s.io/kube-scheduler:v1.35.7")
        self.assertIn("--config=/etc/user-scheduler/config.yaml", c["command"])

    def test_scheduler_is_never_newer_than_the_cluster(self):
        cases = {  # (configured tag, cluster version) -> tag used
            ("v1.35.7", "v1.36.0"): "v1.35.7",
            ("v1.35.7", "v1.35.2"): "v1.35.7",
            ("v1.35.7", "v1.34.3"): "v1.34.3",
            ("v1.35.7", "v1.30.14-eks-2f7b8c1"): "v1.30.14",
            ("v1.35.7", "v1.31.4+k3s1"): "v1.31.4",
            ("custom-build", "v1.30.0"): "custom-build",
        }
        probe = "kind: ConfigMap\napiVersion: v1\nmetadata: {name: probe}\ndata:\n" + "".join(
            f'  c{i}: {{{{ include "jhub.userSchedulerTag" (list "{tag}" "{cluster}") | quote }}}}\n'
            for i, (tag, cluster) in enumerate(cases))
        with ChartCopy(extra_templates={"zz-probe.yaml": probe}) as chart_dir:
            data = get(objects(render({}, chart_dir=chart_dir)), "ConfigMap", "probe")["data"]
        for i, (key, expected) in enumerate(cases.items()):
            self.assertEqual(data[f"c{i}"], expected, key)

    def test_priority_class_exists_for_user_pods(self):
        objs = render_objects({"scheduling": {"podPriority": {"enabled": True}}})
        pod = user_pod(self, objs)
        name = pod["spec"]["priorityClassName"]
        classes = {o["metadata"]["name"]: o for o in objs if o["kind"] == "PriorityClass"}
        self.assertIn(name, classes)
        placeholder_class = get(objs, "StatefulSet", "user-placeholder")["spec"]["template"]["spec"]["priorityClassName"]
        self.assertLess(classes[placeholder_class]["value"], classes[name]["value"])
        for core in ("hub", "proxy", "user-scheduler"):
            spec = get(objs, "Deployment", core)["spec"]["template"]["spec"]
            self.assertEqual(spec["priorityClassName"], name)


class Pullers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.values = seed_values()
        cls.values["prePuller"]["hook"]["enabled"] = True  # both pullers, same content
        cls.objs = render_objects(cls.values)

    def images_of(self, kind_name):
        ds = get(self.objs, "DaemonSet", kind_name)
        return {c["image"] for c in ds["spec"]["template"]["spec"]["initContainers"]}, ds["spec"]["template"]["spec"]

    def test_every_user_image_is_pulled(self):
        needed = set()
        for profile, options in SEED_CHOICES:
            pod = user_pod(self, self.objs, profile=profile, options=options)
            needed |= {c["image"] for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]}
        self.assertIn("quay.io/zhonger/gpu-notebook:v3", needed)
        self.assertIn("quay.io/zhonger/base-notebook:v3", needed)
        for name in ("continuous-image-puller", "hook-image-puller"):
            with self.subTest(daemonset=name):
                images, _ = self.images_of(name)
                self.assertEqual(needed - images, set())

    def test_pullers_run_where_user_pods_run(self):
        pod = user_pod(self, self.objs, profile="cpu-fen-qu", options=["image=lab6"])
        for name in ("continuous-image-puller", "hook-image-puller"):
            with self.subTest(daemonset=name):
                _, spec = self.images_of(name)
                for toleration in pod["spec"]["tolerations"]:
                    self.assertIn(toleration, spec["tolerations"])

    def test_hook_waits_for_the_pullers(self):
        job = get(self.objs, "Job", "hook-image-awaiter")
        self.assertEqual(job["metadata"]["annotations"]["helm.sh/hook"], "pre-install,pre-upgrade")
        cmd = job["spec"]["template"]["spec"]["containers"][0]["command"]
        self.assertIn("-daemonset=hook-image-puller", cmd)
        self.assertIn(f"-namespace={NAMESPACE}", cmd)
        ds = get(self.objs, "DaemonSet", "hook-image-puller")
        self.assertLess(int(ds["metadata"]["annotations"]["helm.sh/hook-weight"]),
                        int(job["metadata"]["annotations"]["helm.sh/hook-weight"]))


class Placeholders(unittest.TestCase):
    def test_placeholders_look_like_user_pods(self):
        values = {"singleuser": {"nodeSelector": {"pool": "users"}, "cpu": {"guarantee": 0.5, "limit": 2},
                                 "memory": {"guarantee": "1G", "limit": "2G"},
                                 "extraNodeAffinity": {"required": [{"matchExpressions": [
                                     {"key": "zone", "operator": "In", "values": ["a"]}]}]}},
                  "scheduling": {"userPlaceholder": {"replicas": 3}}}
        objs = render_objects(values)
        pod = user_pod(self, objs)["spec"]
        sts = get(objs, "StatefulSet", "user-placeholder")
        self.assertEqual(sts["spec"]["replicas"], 3)
        spec = sts["spec"]["template"]["spec"]
        self.assertEqual(spec["schedulerName"], pod["schedulerName"])
        self.assertEqual(spec["nodeSelector"], pod["nodeSelector"])
        self.assertEqual(spec["tolerations"], pod["tolerations"])
        self.assertEqual(spec["affinity"], pod["affinity"])
        mine = spec["containers"][0]["resources"]
        theirs = pod["containers"][0]["resources"]
        self.assertEqual(quantity(mine["requests"]["memory"]), quantity(theirs["requests"]["memory"]))
        self.assertEqual(quantity(mine["limits"]["memory"]), quantity(theirs["limits"]["memory"]))
        self.assertEqual(quantity(mine["requests"]["cpu"]), quantity(theirs["requests"]["cpu"]))


def quantity(value) -> float:
    """A Kubernetes quantity as a number (the suffixes these tests meet)."""
    text = str(value)
    for suffix, factor in (("Ki", 2**10), ("Mi", 2**20), ("Gi", 2**30), ("Ti", 2**40), ("m", 1e-3)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


if __name__ == "__main__":
    unittest.main()
