"""The hub's Role and storage ClusterRole grant exactly the Kubernetes verbs the code calls.

The code's lists are `jhub_kube::RBAC_RULES` (spawner) and
`STORAGE_RBAC_RULES` / `STORAGE_CLUSTER_RBAC_RULES` (storage management),
printed by `jhub rbac-rules --format json` with their scope; the chart must
grant the same (apiGroup, resource, verb) sets: nothing missing (a call
would fail with 403) and nothing more (least privilege). The one exception
is opt-in: `get nodes/proxy` (used bytes) only with
`custom.storage.rbac.nodeProxy`, because it opens the kubelet API."""

from __future__ import annotations

import json
import unittest

from helmlib import get, render_objects, run_jhub


def triples_from_policy_rules(rules) -> set[tuple[str, str, str]]:
    out = set()
    for rule in rules:
        if rule.get("resourceNames") or rule.get("nonResourceURLs"):
            raise AssertionError(f"unexpected rule shape {rule}")
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    out.add((group, resource, verb))
    return out


NODE_PROXY = ("", "nodes/proxy", "get")


def triples_from_jhub(printed, scope: str = "namespace", feature: str | None = None) -> set[tuple[str, str, str]]:
    """`jhub rbac-rules --format json`: a list of rules, each either
    [apiGroup, resource, [verbs]] or an object with apiGroup(s)/resource(s)/verbs
    (and `scope`: namespace or cluster; `feature`: spawner or storage)."""
    out = set()
    for rule in printed:
        if isinstance(rule, dict) and rule.get("scope", "namespace") != scope:
            continue
        if feature and isinstance(rule, dict) and rule.get("feature") != feature:
            continue
        if isinstance(rule, list):
            group, resource, verbs = rule
            groups, resources = [group], [resource]
        else:
            groups = rule.get("apiGroups", [rule.get("apiGroup", rule.get("api_group"))])
            resources = rule.get("resources", [rule.get("resource")])
            verbs = rule["verbs"]
        for g in groups:
            for r in resources:
                for v in verbs:
                    out.add((g, r, v))
    return out


class HubRole(unittest.TestCase):
    def test_role_grants_exactly_what_the_spawner_calls(self):
        printed = json.loads(run_jhub(self, ["rbac-rules", "--format", "json"]).stdout)
        code = triples_from_jhub(printed)
        self.assertTrue(code, "jhub rbac-rules printed no rules: the spawner's RBAC_RULES are not wired to the CLI")
        objs = render_objects({})
        role = triples_from_policy_rules(get(objs, "Role", "hub")["rules"])
        self.assertEqual(role - code, set(), "the Role grants verbs the spawner never uses")
        self.assertEqual(code - role, set(), "the spawner uses verbs the Role does not grant")

    def test_binding_targets_the_hub_service_account(self):
        objs = render_objects({"hub": {"serviceAccount": {"name": "custom-sa"}}})
        binding = get(objs, "RoleBinding", "hub")
        self.assertEqual(binding["roleRef"], {"kind": "Role", "name": "hub", "apiGroup": "rbac.authorization.k8s.io"})
        self.assertEqual(binding["subjects"], [{"kind": "ServiceAccount", "name": "custom-sa", "namespace": "jhub"}])
        pod = get(objs, "Deployment", "hub")["spec"]["template"]["spec"]
        self.assertEqual(pod["serviceAccountName"], "custom-sa")
        self.assertEqual(get(objs, "ServiceAccount", "custom-sa")["kind"], "ServiceAccount")

    def test_storage_cluster_role_grants_exactly_what_the_storage_code_calls(self):
        printed = json.loads(run_jhub(self, ["rbac-rules", "--format", "json"]).stdout)
        code = triples_from_jhub(printed, scope="cluster")
        self.assertIn(NODE_PROXY, code, "the storage code's cluster rules are not printed")
        objs = render_objects({"scheduling": {"userScheduler": {"enabled": False}}})
        role = triples_from_policy_rules(get(objs, "ClusterRole", "jhub-hub-storage")["rules"])
        self.assertEqual(code - role, {NODE_PROXY}, "by default only nodes/proxy is withheld (used bytes degrade)")
        self.assertEqual(role - code, set())
        binding = get(objs, "ClusterRoleBinding", "jhub-hub-storage")
        self.assertEqual(binding["subjects"], [{"kind": "ServiceAccount", "name": "hub", "namespace": "jhub"}])
        self.assertEqual(binding["roleRef"]["name"], "jhub-hub-storage")
        opted_in = render_objects({"custom": {"storage": {"rbac": {"nodeProxy": True}}}})
        role = triples_from_policy_rules(get(opted_in, "ClusterRole", "jhub-hub-storage")["rules"])
        self.assertEqual(role, code)

    def test_storage_rbac_can_be_turned_off(self):
        printed = json.loads(run_jhub(self, ["rbac-rules", "--format", "json"]).stdout)
        spawner = triples_from_jhub(printed, feature="spawner")
        objs = render_objects(
            {"custom": {"storage": {"rbac": {"enabled": False}}}, "scheduling": {"userScheduler": {"enabled": False}}}
        )
        self.assertEqual(triples_from_policy_rules(get(objs, "Role", "hub")["rules"]), spawner)
        self.assertFalse([o for o in objs if o["kind"] in ("ClusterRole", "ClusterRoleBinding")])

    def test_no_cluster_scope_for_the_hub_when_storage_stays_namespaced(self):
        objs = render_objects(
            {"scheduling": {"userScheduler": {"enabled": False}}, "custom": {"storage": {"rbac": {"clusterScope": False}}}}
        )
        self.assertFalse([o for o in objs if o["kind"] in ("ClusterRole", "ClusterRoleBinding")])

    def test_rbac_create_false_creates_no_rbac(self):
        objs = render_objects({"rbac": {"create": False}})
        self.assertFalse([o for o in objs if o["kind"] in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")])


CAPACITY_ON = {"custom": {"jhub": {"nodeCapacity": {"enabled": True}}}}


def capacity_objects(objs, kind):
    return [o for o in objs if o["kind"] == kind and o["metadata"]["name"].endswith("hub-node-capacity")]


class NodeCapacityRole(unittest.TestCase):
    """`custom.jhub.nodeCapacity.enabled`: a ClusterRole with exactly the
    cluster-scoped reads live GPU capacity makes (`jhub_kube::CLUSTER_RBAC_RULES`,
    printed by `jhub rbac-rules --cluster`), bound to the hub's service account."""

    def test_cluster_role_grants_exactly_what_capacity_calls(self):
        printed = json.loads(run_jhub(self, ["rbac-rules", "--cluster", "--format", "json"]).stdout)
        code = triples_from_jhub(printed)
        self.assertIn(("", "nodes", "watch"), code, "CLUSTER_RBAC_RULES are not wired to the CLI")
        objs = render_objects(CAPACITY_ON)
        [role] = capacity_objects(objs, "ClusterRole")
        granted = triples_from_policy_rules(role["rules"])
        self.assertEqual(granted - code, set(), "the ClusterRole grants reads capacity never makes")
        self.assertEqual(code - granted, set(), "capacity makes calls the ClusterRole does not grant")
        [binding] = capacity_objects(objs, "ClusterRoleBinding")
        self.assertEqual(binding["roleRef"]["name"], role["metadata"]["name"])
        self.assertEqual(binding["subjects"], [{"kind": "ServiceAccount", "name": "hub", "namespace": "jhub"}])

    def test_off_by_default_and_with_rbac_create_false(self):
        self.assertFalse(capacity_objects(render_objects({}), "ClusterRole"))
        off = dict(CAPACITY_ON, rbac={"create": False})
        self.assertFalse(capacity_objects(render_objects(off), "ClusterRole"))


if __name__ == "__main__":
    unittest.main()
