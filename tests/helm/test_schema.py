"""values.schema.json: helm refuses malformed and misspelt values before
anything is deployed, including inside singleuser.profileList and every
kubespawner_override, which z2jh's schema leaves unchecked."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import subprocess
import sys
import unittest

import helm_python
import yaml

from helmlib import CHART, ROOT, SEED_BROKEN, SEED_FIXED, load_yaml, render, seed_values

SCHEMA = CHART / "values.schema.json"
KEYS_TSV = ROOT / "crates" / "jhub-config" / "data" / "z2jh-keys.tsv"

# Keys the schema declares that values.yaml has no default for, and why.
SCHEMA_ONLY = {
    # Removed from z2jh; declared so the chart can refuse them with a message.
    "hub.fsGid", "rbac.enabled", "httpRoute.gateway", "httpRoute.gateway.name", "httpRoute.gateway.namespace",
    "httpRoute.gateway.sectionName",
    # Optional settings without a default.
    "hub.config.JupyterHub.subdomain_host", "hub.deploymentStrategy.rollingUpdate", "hub.lifecycle.postStart",
    "hub.lifecycle.preStop", "proxy.traefik.args", "proxy.traefik.command", "singleuser.lifecycleHooks.postStart",
    "singleuser.lifecycleHooks.preStop",
    # Fields of one hub.services entry (the map itself is open).
    "hub.services.admin", "hub.services.apiToken", "hub.services.api_token", "hub.services.command",
    "hub.services.name", "hub.services.url",
}


def schema_error(values: dict) -> str:
    """helm's schema message for values the chart must refuse."""
    chart = helm_python.Chart.load(str(CHART))
    try:
        chart.validate_schema(chart.merge_values(copy.deepcopy(values)))
    except helm_python.HelmValuesError as e:
        return str(e)
    finally:
        chart.close()
    raise AssertionError(f"helm accepted {values}")


def schema_accepts(values: dict) -> None:
    chart = helm_python.Chart.load(str(CHART))
    try:
        chart.validate_schema(chart.merge_values(copy.deepcopy(values)))
    finally:
        chart.close()


def profile(**override) -> dict:
    return {"singleuser": {"profileList": [{"display_name": "CPU", "kubespawner_override": override}]}}


class Generated(unittest.TestCase):
    def test_schema_is_up_to_date(self):
        """values.schema.json is exactly what tools/schema.py builds from
        schema/chart.json and the KubeSpawner trait table."""
        proc = subprocess.run([sys.executable, str(CHART / "tools" / "schema.py"), "check"],
                              capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_every_trait_is_allowed_in_overrides(self):
        spec = importlib.util.spec_from_file_location("schema_tool", CHART / "tools" / "schema.py")
        tool = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(tool)
        traits = tool.parse_traits(tool.TRAITS.read_text(encoding="utf-8"))
        schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
        allowed = set(schema["definitions"]["kubespawnerOverride"]["properties"])
        self.assertEqual(allowed, set(traits))
        # Spot checks against the table's own words.
        for name in ("cpu_guarantee", "mem_guarantee", "node_selector", "extra_resource_limits", "image",
                     "image_pull_policy", "cmd", "volumes", "start_timeout"):
            self.assertIn(name, allowed)
        self.assertNotIn("cpu_gurantee", allowed)


class Keys(unittest.TestCase):
    """The schema, values.yaml and jhub's key table describe the same keys."""

    @classmethod
    def setUpClass(cls):
        cls.schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
        cls.values = load_yaml(CHART / "values.yaml")

    def node(self, dotted: str):
        node = self.schema
        for part in dotted.split("."):
            if part == "*":
                (node,) = node["patternProperties"].values()
            else:
                node = node["properties"][part]
        return node

    def test_every_default_is_declared(self):
        def walk(value, schema, path):
            if not isinstance(value, dict):
                return
            props = schema.get("properties") or {}
            for key, child in value.items():
                here = f"{path}.{key}" if path else key
                if key in props:
                    walk(child, props[key], here)
                else:
                    self.assertFalse(schema.get("additionalProperties") is False and not schema.get("patternProperties"),
                                     f"values.yaml has {here}, which the schema refuses")
        walk(self.values, self.schema, "")

    def test_every_declared_key_has_a_default(self):
        def paths(node, prefix=""):
            for key, child in (node.get("properties") or {}).items():
                here = f"{prefix}.{key}" if prefix else key
                yield here
                yield from paths(child, here)

        def has(dotted):
            node = self.values
            for part in dotted.split("."):
                if not isinstance(node, dict) or part not in node:
                    return False
                node = node[part]
            return True

        schema_top = {k: v for k, v in self.schema["properties"].items()}
        missing = {p for p in paths({"properties": schema_top}) if not has(p)} - SCHEMA_ONLY
        self.assertEqual(missing, set(), "keys the schema declares without a default in values.yaml")

    def test_closed_objects_match_jhubs_key_table(self):
        """Where jhub-config reports an unknown key as an error (closed
        objects), helm refuses it too, and the other way round."""
        checked = 0
        for line in KEYS_TSV.read_text(encoding="utf-8").splitlines():
            if line.startswith("#") or not line.strip():
                continue
            path, _types, shape = line.split("\t")
            if path == "singleuser.profileList":
                continue  # jhub checks profiles itself; the schema closes them (Profiles below)
            node = self.node(path)
            closed = node.get("additionalProperties") is False
            with self.subTest(path=path):
                if shape == "closed":
                    self.assertTrue(closed)
                elif shape == "open":
                    self.assertFalse(closed)
                elif shape.startswith("pattern="):
                    self.assertEqual(list(node["patternProperties"]), [shape.removeprefix("pattern=")])
            checked += 1
        self.assertGreater(checked, 400)


class Parsing(unittest.TestCase):
    def test_broken_seed_fails_with_the_parsers_message(self):
        """The published config.yaml (line 49 indented by 3) is not YAML; helm
        stops with the YAML parser's own message before anything happens."""
        with self.assertRaises(helm_python.HelmValuesError) as ctx:
            helm_python.values_from_yaml(SEED_BROKEN.read_text(encoding="utf-8"))
        self.assertIn("yaml: line 52: did not find expected key", str(ctx.exception))


class Profiles(unittest.TestCase):
    def test_seed_typo_fails_naming_the_path(self):
        message = schema_error(profile(cpu_gurantee=1, cpu_limit=8))
        self.assertIn("at '/singleuser/profileList/0/kubespawner_override'", message)
        self.assertIn("'cpu_gurantee' not allowed", message)

    def test_published_seed_fails_on_exactly_its_typos(self):
        message = schema_error(load_yaml(SEED_FIXED))
        found = {}
        for line in message.splitlines():
            m = re.match(r"\s*- at '([^']*)': additional properties (.*) not allowed$", line)
            if m:
                found[m[1]] = set(re.findall(r"'([^']*)'", m[2]))
            elif line.strip().startswith("- at "):
                self.fail(f"unexpected schema error: {line}")
        self.assertEqual(found, {
            "/singleuser/profileList/0/kubespawner_override": {"cpu_gurantee", "memo_gurantee"},
            "/singleuser/profileList/1/kubespawner_override": {"cpu_gurantee", "mem_gurantee"},
        })

    def test_seed_with_the_typos_corrected_is_accepted(self):
        schema_accepts(seed_values())
        render(seed_values())

    def test_typos_at_every_level(self):
        cases = {
            "/singleuser/profileList/0": {"display_name": "A", "kubespawner_overide": {"image": "x"}},
            "/singleuser/profileList/0/profile_options/img": {
                "display_name": "A", "profile_options": {"img": {"display_name": "Image", "choice": {}}}},
            "/singleuser/profileList/0/profile_options/img/choices/one": {
                "display_name": "A", "profile_options": {"img": {"choices": {"one": {"display_nam": "One"}}}}},
            "/singleuser/profileList/0/profile_options/img/choices/one/kubespawner_override": {
                "display_name": "A", "profile_options": {"img": {"choices": {"one": {"kubespawner_override": {"imagee": "x"}}}}}},
            "/singleuser/profileList/0/profile_options/img/unlisted_choice": {
                "display_name": "A", "profile_options": {"img": {"unlisted_choice": {"enabled": True, "validation_regexp": "x"}}}},
            "/singleuser/profileList/0/profile_options/img/unlisted_choice/kubespawner_override": {
                "display_name": "A", "profile_options": {"img": {"unlisted_choice": {"enabled": True,
                                                                                      "kubespawner_override": {"imag": "{value}"}}}}},
        }
        for path, p in cases.items():
            with self.subTest(path=path):
                self.assertIn(f"at '{path}'", schema_error({"singleuser": {"profileList": [p]}}))

    def test_display_name_is_required(self):
        self.assertIn("display_name", schema_error({"singleuser": {"profileList": [{"slug": "x"}]}}))

    def test_wrong_types(self):
        cases = [
            (profile(cpu_limit="8"), "kubespawner_override/cpu_limit"),
            (profile(mem_limit="16Gi"), "kubespawner_override/mem_limit"),
            (profile(node_selector="gpu"), "kubespawner_override/node_selector"),
            (profile(start_timeout="300"), "kubespawner_override/start_timeout"),
            (profile(cmd=["jupyterhub-singleuser", 1]), "kubespawner_override/cmd/1"),
            ({"singleuser": {"memory": {"guarantee": "1Gi"}}}, "/singleuser/memory/guarantee"),
            ({"singleuser": {"cpu": {"limit": "8"}}}, "/singleuser/cpu/limit"),
        ]
        for values, path in cases:
            with self.subTest(path=path):
                self.assertIn(path, schema_error(values))

    def test_valid_profiles_are_accepted(self):
        schema_accepts({"singleuser": {
            "memory": {"guarantee": "1.5G", "limit": 17179869184},
            "profileList": [
                {"display_name": "Default", "default": True, "description": "plain"},
                {"display_name": "GPU", "slug": "gpu", "kubespawner_override": {
                    "image": "quay.io/x/gpu:1", "image_pull_policy": "Always", "cpu_guarantee": 0.5, "cpu_limit": 8,
                    "mem_guarantee": "1G", "mem_limit": None, "extra_resource_limits": {"nvidia.com/gpu": "1"},
                    "node_selector": {"gputype": "A100"}, "cmd": "start.sh", "uid": None, "tolerations": [],
                    "volumes": {"a": {"name": "a", "emptyDir": {}}}, "modify_pod_hook": "ignored.python.hook",
                    "slug_scheme": "safe"},
                 "profile_options": {"image": {"display_name": "Image",
                     "choices": {"a": {"display_name": "A", "default": True, "kubespawner_override": {"image": "a:1"}}},
                     "unlisted_choice": {"enabled": True, "display_name": "Other image",
                                         "display_name_in_choices": "Other...", "validation_regex": "^quay\\.io/",
                                         "validation_message": "quay.io only",
                                         "kubespawner_override": {"image": "{value}"}}}}},
            ]}})

    def test_top_level_and_chart_typos(self):
        self.assertIn("'singelUser' not allowed", schema_error({"singelUser": {}}))
        self.assertIn("at '/hub'", schema_error({"hub": {"baseURL": "/x/"}}))
        self.assertIn("at '/proxy/service/nodePorts'", schema_error({"proxy": {"service": {"nodePorts": {"htp": 30000}}}}))


if __name__ == "__main__":
    unittest.main()
