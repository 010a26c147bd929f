"""Shared helpers of the Helm chart tests: rendering the chart with the real
Helm SDK (helm_python), reading the rendered objects, running the jhub binary.

Everything works offline. Paths:
  CHART        deploy/helm/jhub
  SEED_FIXED   the seed user's config.yaml with its indentation fixed
  SEED_BROKEN  the seed user's config.yaml as published (does not parse)
The seed files are the config crate's fixtures (copies of the user's files),
so the tests need nothing outside the repository.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import helm_python
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "jhub"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED_FIXED = ROOT / "crates" / "jhub-config" / "tests" / "fixtures" / "config-fixed.yaml"
SEED_BROKEN = ROOT / "crates" / "jhub-config" / "tests" / "fixtures" / "config.yaml"

RELEASE = "jhub"
NAMESPACE = "jhub"

# The KubeSpawner misspellings in the seed's profiles, and what the user meant.
SEED_TYPOS = {"cpu_gurantee": "cpu_guarantee", "memo_gurantee": "mem_guarantee", "mem_gurantee": "mem_guarantee"}


def load_yaml(path: Path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def seed_values() -> dict:
    """The seed config as its author meant it: indentation fixed (the file
    SEED_FIXED) and the three misspelt KubeSpawner keys in profileList
    spelled right, which is what the chart's schema makes them do."""
    text = SEED_FIXED.read_text(encoding="utf-8")
    for wrong, right in SEED_TYPOS.items():
        text = text.replace(f"{wrong}:", f"{right}:")
    return yaml.safe_load(text)


def seed_values_file(tmp: Path) -> Path:
    path = tmp / "seed-corrected.yaml"
    path.write_text(yaml.safe_dump(seed_values(), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


_chart = None


def chart() -> helm_python.Chart:
    global _chart
    if _chart is None:
        _chart = helm_python.Chart.load(str(CHART))
    return _chart


def render(values: dict | None = None, *, release: str = RELEASE, namespace: str = NAMESPACE, chart_dir: Path | None = None,
           is_upgrade: bool | None = None) -> dict[str, str]:
    """Template path -> rendered text (helm's own schema check included)."""
    c = helm_python.Chart.load(str(chart_dir)) if chart_dir else chart()
    try:
        return c.render(copy.deepcopy(values or {}), name=release, namespace=namespace, is_upgrade=is_upgrade)
    finally:
        if chart_dir:
            c.close()


def objects(rendered: dict[str, str]) -> list[dict]:
    """Every Kubernetes object of a render (NOTES.txt left out)."""
    out = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                doc.setdefault("metadata", {}).setdefault("annotations", None)
                if doc["metadata"]["annotations"] is None:
                    del doc["metadata"]["annotations"]
                out.append(doc)
    return out


def render_objects(values: dict | None = None, **kw) -> list[dict]:
    return objects(render(values, **kw))


def by_kind_name(objs: list[dict]) -> dict[tuple[str, str], dict]:
    out = {}
    for o in objs:
        key = (o["kind"], o["metadata"]["name"])
        if key in out:
            raise AssertionError(f"two objects {key}")
        out[key] = o
    return out


def get(objs: list[dict], kind: str, name: str) -> dict:
    for o in objs:
        if o["kind"] == kind and o["metadata"]["name"] == name:
            return o
    raise AssertionError(f"no {kind}/{name} among {sorted((o['kind'], o['metadata']['name']) for o in objs)}")


def container(pod_owner: dict, name: str) -> dict:
    for c in pod_owner["spec"]["template"]["spec"]["containers"]:
        if c["name"] == name:
            return c
    raise AssertionError(f"no container {name}")


def secret_files(secret: dict) -> dict[str, str]:
    """A Secret's content as the files a pod sees when it is mounted."""
    files = {k: base64.b64decode(v).decode("utf-8") for k, v in (secret.get("data") or {}).items()}
    files.update(secret.get("stringData") or {})
    return files


def write_mount(objs: list[dict], root: Path, hub_name: str = "hub") -> Path:
    """Lay out what the hub pod of a render sees under /usr/local/etc/jupyterhub
    (secret/ and config/) in `root`; returns root/secret."""
    hub = get(objs, "Secret", hub_name)
    cm = get(objs, "ConfigMap", hub_name)
    secret_dir = root / "secret"
    config_dir = root / "config"
    secret_dir.mkdir(parents=True, exist_ok=True)
    config_dir.mkdir(parents=True, exist_ok=True)
    for name, text in secret_files(hub).items():
        (secret_dir / name).write_text(text, encoding="utf-8")
    for name, text in (cm.get("data") or {}).items():
        (config_dir / name).write_text(text, encoding="utf-8")
    return secret_dir


# ---------------------------------------------------------------- jhub binary

def jhub_bin() -> Path:
    explicit = os.environ.get("JHUB_BIN")
    if explicit:
        return Path(explicit)
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache" / "jhub" / "target")
    return Path(target) / "debug" / "jhub"


def require_jhub(test: unittest.TestCase) -> Path:
    path = jhub_bin()
    if not path.is_file() or not os.access(path, os.X_OK):
        if os.environ.get("JHUB_SKIP_EXTERNAL") == "1":
            test.skipTest(f"jhub binary {path} not built (JHUB_SKIP_EXTERNAL=1)")
        test.fail(f"jhub binary {path} not found: build it (cargo build -p jhub) or set JHUB_BIN")
    return path


def run_jhub(test: unittest.TestCase, args: list[str], env: dict[str, str] | None = None,
             check: bool = True) -> subprocess.CompletedProcess:
    binary = require_jhub(test)
    # A clean environment: only what a hub pod would have plus PATH/HOME, so
    # no stray JHUB_* or POD_NAMESPACE of the developer's shell leaks in.
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    base.update(env or {})
    proc = subprocess.run([str(binary), *args], capture_output=True, text=True, env=base, timeout=120)
    if check and proc.returncode != 0:
        test.fail(f"jhub {' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def check_config_json(test: unittest.TestCase, args: list[str], env: dict[str, str] | None = None) -> dict:
    proc = run_jhub(test, ["check-config", *args, "--print", "--format", "json"], env)
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        test.fail(f"jhub check-config did not print JSON ({e}):\n{proc.stdout}\n{proc.stderr}")


# ----------------------------------------------------------- chart copies

class ChartCopy:
    """A temporary copy of the chart whose live-cluster lookups return the
    objects given (helm's offline render has no cluster), optionally with
    extra templates that call the chart's helpers. Only the body of the
    chart's single lookup helper is replaced; everything else renders as
    shipped."""

    def __init__(self, live: dict[tuple[str, str], dict] | None = None, extra_templates: dict[str, str] | None = None):
        self.live = live or {}
        self.extra_templates = extra_templates or {}

    def __enter__(self) -> Path:
        self.tmp = Path(tempfile.mkdtemp(prefix="jhub-chart-"))
        dest = self.tmp / "jhub"
        shutil.copytree(CHART, dest, ignore=shutil.ignore_patterns("tools", "schema"))
        helpers = dest / "templates" / "_helpers.tpl"
        text = helpers.read_text(encoding="utf-8")
        start = text.index('{{- define "jhub.lookup" -}}')
        end = text.index("{{- end -}}", start) + len("{{- end -}}")
        stub = (
            '{{- define "jhub.lookup" -}}\n'
            '{{- $live := (index . 0).Files.Get "live-objects.json" | fromJson -}}\n'
            '{{- toJson (get $live (printf "%s/%s/%s/%s" (index . 1) (index . 2) (index . 3) (index . 4)) | default dict) -}}\n'
            "{{- end -}}"
        )
        helpers.write_text(text[:start] + stub + text[end:], encoding="utf-8")
        table = {}
        for (kind, name), obj in self.live.items():
            table[f"{obj.get('apiVersion', 'v1')}/{kind}/{NAMESPACE}/{name}"] = obj
        (dest / "live-objects.json").write_text(json.dumps(table), encoding="utf-8")
        for name, text in self.extra_templates.items():
            (dest / "templates" / name).write_text(text, encoding="utf-8")
        return dest

    def __exit__(self, *exc):
        shutil.rmtree(self.tmp, ignore_errors=True)
