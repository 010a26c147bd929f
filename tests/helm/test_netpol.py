"""The NetworkPolicies let through exactly the traffic a hub needs, for the
pods as they are really labelled: the chart's hub and proxy pods, and the user
pod jhub builds from the chart's mounted values (`jhub render-pod`).

A small evaluator applies Kubernetes' rules: a connection is allowed when the
source's egress policies (if any select it) and the destination's ingress
policies (if any select it) both allow it; peers match by podSelector (same
namespace) or ipBlock; named ports resolve through the destination's
container ports. Pod IPs are taken from 10.0.0.0/8, as in most clusters."""

from __future__ import annotations

import ipaddress
import unittest

from helmlib import get, render_objects
from test_scheduling import user_pod

POD_IP = ipaddress.ip_address("10.1.2.3")


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def peer_matches(peer: dict, pod: dict) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        inside = POD_IP in ipaddress.ip_network(block["cidr"])
        return inside and not any(POD_IP in ipaddress.ip_network(e) for e in block.get("except", []))
    if "namespaceSelector" in peer and "podSelector" not in peer:
        return False  # other namespaces
    return matches(peer.get("podSelector") or {}, pod["labels"])


def port_matches(rule_ports, dst: dict, port: int) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        value = p.get("port")
        if value is None or value == port or dst["ports"].get(value) == port:
            return True
    return False


def allowed(policies: list[dict], src: dict, dst: dict, port: int) -> bool:
    def direction(pod, kind, peer_pod, key):
        selecting = [p for p in policies if kind in p["spec"]["policyTypes"] and matches(p["spec"]["podSelector"], pod["labels"])]
        if not selecting:
            return True
        for p in selecting:
            for rule in p["spec"].get(kind.lower()) or []:
                peers = rule.get(key)
                if (not peers or any(peer_matches(peer, peer_pod) for peer in peers)) and port_matches(rule.get("ports"), dst, port):
                    return True
        return False
    return direction(src, "Egress", dst, "to") and direction(dst, "Ingress", src, "from")


def pod_of(workload: dict) -> dict:
    template = workload["spec"]["template"]
    ports = {p["name"]: p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", []) if "name" in p}
    return {"labels": template["metadata"]["labels"], "ports": ports}


class NetworkPolicies(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.objs = render_objects({})
        cls.policies = [o for o in cls.objs if o["kind"] == "NetworkPolicy"]

    def setUp(self):
        self.hub = pod_of(get(self.objs, "Deployment", "hub"))
        self.proxy = pod_of(get(self.objs, "Deployment", "proxy"))
        user = user_pod(self, self.objs)
        self.user = {"labels": user["metadata"]["labels"],
                     "ports": {p["name"]: p["containerPort"] for c in user["spec"]["containers"] for p in c.get("ports", [])}}
        self.outsider = {"labels": {"app": "something-else"}, "ports": {}}

    def test_all_three_policies_apply(self):
        self.assertEqual(sorted(p["metadata"]["name"] for p in self.policies), ["hub", "proxy", "singleuser"])
        for pod, name in ((self.hub, "hub"), (self.proxy, "proxy"), (self.user, "singleuser")):
            selecting = [p["metadata"]["name"] for p in self.policies if matches(p["spec"]["podSelector"], pod["labels"])]
            self.assertEqual(selecting, [name])

    def test_needed_traffic_is_allowed(self):
        needed = [
            ("proxy", "hub", 8081),      # default target
            ("user", "hub", 8081),       # API, OAuth, activity
            ("hub", "proxy", 8001),      # CHP REST API
            ("hub", "user", 8888),       # readiness check of a spawn
            ("proxy", "user", 8888),     # user traffic
            ("outsider", "proxy", 8000),  # public entry
        ]
        for src, dst, port in needed:
            with self.subTest(f"{src} -> {dst}:{port}"):
                self.assertTrue(allowed(self.policies, getattr(self, src), getattr(self, dst), port))

    def test_other_traffic_is_refused(self):
        refused = [
            ("user", "proxy", 8001),     # users must not rewrite routes
            ("outsider", "hub", 8081),
            ("outsider", "user", 8888),
            ("outsider", "proxy", 8001),
        ]
        for src, dst, port in refused:
            with self.subTest(f"{src} -> {dst}:{port}"):
                self.assertFalse(allowed(self.policies, getattr(self, src), getattr(self, dst), port))


if __name__ == "__main__":
    unittest.main()
