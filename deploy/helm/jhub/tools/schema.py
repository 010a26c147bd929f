#!/usr/bin/env python3
"""Build the chart's values.schema.json, which helm checks values against
before rendering (install, upgrade, template, lint).

Sources, both in this repository:

* deploy/helm/jhub/schema/chart.json: the structure of the chart's values:
  key names, types, enums, required keys, which objects are closed
  (additionalProperties: false). It was derived once from the z2jh chart's
  values.schema.yaml, keeping facts only (descriptions dropped), with

      python3 deploy/helm/jhub/tools/schema.py derive Z2JH/values.schema.yaml \
          > deploy/helm/jhub/schema/chart.json

  and is maintained here since (tests/helm/test_schema.py checks that it
  declares exactly the keys of values.yaml).
* crates/jhub-podspec/src/traits.rs: the KubeSpawner trait table jhub
  uses. Every kubespawner_override (in a profile, a profile option choice or
  an unlisted choice) may name only these traits, with values of the trait's
  type; z2jh's own schema does not look inside singleuser.profileList.

Added on top of the structure:

* singleuser.profileList items: profiles, profile_options, choices and
  unlisted_choice are closed objects with KubeSpawner 7.1's keys;
* memory sizes (singleuser.memory.*, mem_limit, mem_guarantee) must use
  JupyterHub's syntax (bytes, or a number with K/M/G/T), which jhub and
  KubeSpawner both require: "16Gi" fails at helm time instead of at spawn time.

Usage (from the repository root):

    python3 deploy/helm/jhub/tools/schema.py build     # rewrite values.schema.json
    python3 deploy/helm/jhub/tools/schema.py check     # exit 1 if it is stale

Only the Python standard library is needed for build/check; derive needs
PyYAML (the z2jh schema is YAML with anchors).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

CHART = Path(__file__).resolve().parent.parent
ROOT = CHART.parent.parent.parent
STRUCTURE = CHART / "schema" / "chart.json"
TRAITS = ROOT / "crates" / "jhub-podspec" / "src" / "traits.rs"
OUTPUT = CHART / "values.schema.json"

# Prose and annotations that carry no validation meaning.
DROP = {"description", "title", "examples", "$comment", "default"}

# JupyterHub's ByteSpecification as a string: a number directly followed by
# K, M, G or T. Deliberately a little looser than
# jhub_podspec::traits::parse_byte_spec (which applies Python's float syntax
# and refuses negative sizes) so helm never refuses what jhub accepts, and
# short enough to read in helm's error message. It catches the common
# mistake, Kubernetes' "16Gi".
BYTE_SPEC_PATTERN = r"^\s*\+?[0-9._eE+-]*[0-9][0-9._eE+-]*\s*[KMGT]$"


def strip(node, names: bool = False):
    """The schema without descriptions (facts only). `names` is true for the
    maps whose keys are value names (properties), where nothing is dropped."""
    if isinstance(node, dict):
        if names:
            return {k: strip(v) for k, v in node.items()}
        return {
            k: strip(v, k in ("properties", "patternProperties", "definitions"))
            for k, v in node.items()
            if k not in DROP
        }
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def derive(z2jh_schema: str) -> None:
    import yaml  # only needed here

    with open(z2jh_schema, encoding="utf-8") as f:
        schema = yaml.safe_load(f)
    json.dump(strip(schema), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def parse_traits(source: str) -> dict[str, dict]:
    """Trait name -> JSON schema of its value, from traits.rs."""
    nullable = set(re.findall(r'"(\w+)"', re.search(r"const NULLABLE: &\[&str\] = &\[(.*?)\];", source, re.S)[1]))
    enums = {
        name: re.findall(r'"([^"]*)"', body)
        for name, body in re.findall(r"const (\w+): &\[&str\] = &\[(.*?)\];", source, re.S)
    }
    table = re.search(r"static TRAITS: &\[TraitDef\] = traits! \{(.*?)\n\};", source, re.S)[1]
    entries = re.findall(r'^\s*"(\w+)": (\w+)(?:\((\w+)\))?, "', table, re.M)
    if len(entries) < 50:
        raise SystemExit(f"schema.py: found only {len(entries)} traits in {TRAITS}; has its format changed?")
    out = {}
    for name, kind, arg in entries:
        if kind == "Any":
            out[name] = {}
            continue
        if kind == "Float":
            schema = {"type": ["number"]}
        elif kind == "Int":
            schema = {"type": ["integer"]}
        elif kind == "Bool":
            schema = {"type": ["boolean"]}
        elif kind == "Str":
            schema = {"type": ["string"]}
        elif kind == "OptStr":
            schema = {"type": ["string", "null"]}
        elif kind == "ByteSpec":
            schema = {"$ref": "#/definitions/byteSpecification"}
        elif kind == "Dict":
            schema = {"type": ["object"]}
        elif kind == "List":
            schema = {"type": ["array", "string"]}
            if name in ("cmd", "args"):
                schema["items"] = {"type": "string"}
        elif kind == "ListOrDict":
            schema = {"type": ["array", "object"]}
        elif kind == "Enum":
            schema = {"enum": enums[arg]}
        else:
            raise SystemExit(f"schema.py: unknown trait kind {kind} for {name}")
        if name in nullable and "$ref" not in schema:
            if "type" in schema:
                schema["type"] = schema["type"] + ["null"]
            else:
                schema["enum"] = schema["enum"] + [None]
        if isinstance(schema.get("type"), list) and len(schema["type"]) == 1:
            schema["type"] = schema["type"][0]
        out[name] = schema
    return dict(sorted(out.items()))


def definitions(traits: dict[str, dict]) -> dict:
    override = {"$ref": "#/definitions/kubespawnerOverride"}
    return {
        # Every memory size jhub reads may also be null (no limit/request).
        "byteSpecification": {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": BYTE_SPEC_PATTERN},
                {"type": "null"},
            ]
        },
        "kubespawnerOverride": {
            "type": "object",
            "additionalProperties": False,
            "properties": traits,
        },
        "profile": {
            "type": "object",
            "additionalProperties": False,
            "required": ["display_name"],
            "properties": {
                "display_name": {"type": "string"},
                "description": {"type": ["string", "null"]},
                "slug": {"type": "string"},
                "default": {"type": ["boolean", "null"]},
                "kubespawner_override": override,
                "profile_options": {
                    "type": "object",
                    "additionalProperties": {"$ref": "#/definitions/profileOption"},
                },
            },
        },
        "profileOption": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "display_name": {"type": "string"},
                "choices": {
                    "type": "object",
                    "additionalProperties": {"$ref": "#/definitions/profileChoice"},
                },
                "unlisted_choice": {"$ref": "#/definitions/unlistedChoice"},
            },
        },
        "profileChoice": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "display_name": {"type": "string"},
                "default": {"type": ["boolean", "null"]},
                "kubespawner_override": override,
            },
        },
        "unlistedChoice": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enabled": {"type": "boolean"},
                "display_name": {"type": "string"},
                "display_name_in_choices": {"type": "string"},
                "validation_regex": {"type": "string"},
                "validation_message": {"type": "string"},
                "kubespawner_override": override,
            },
        },
    }


def build() -> str:
    schema = json.loads(STRUCTURE.read_text(encoding="utf-8"))
    traits = parse_traits(TRAITS.read_text(encoding="utf-8"))
    singleuser = schema["properties"]["singleuser"]["properties"]
    singleuser["profileList"] = {"type": "array", "items": {"$ref": "#/definitions/profile"}}
    for key in ("limit", "guarantee"):
        singleuser["memory"]["properties"][key] = {"$ref": "#/definitions/byteSpecification"}
    schema["definitions"] = definitions(traits)
    header = {
        "$comment": "Generated by deploy/helm/jhub/tools/schema.py from schema/chart.json and "
        "crates/jhub-podspec/src/traits.rs; do not edit.",
    }
    return json.dumps({**header, **schema}, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "derive":
        derive(argv[2])
        return 0
    if len(argv) == 2 and argv[1] == "build":
        OUTPUT.write_text(build(), encoding="utf-8")
        return 0
    if len(argv) == 2 and argv[1] == "check":
        if OUTPUT.read_text(encoding="utf-8") != build():
            print(
                f"{OUTPUT} is stale: run `python3 deploy/helm/jhub/tools/schema.py build`",
                file=sys.stderr,
            )
            return 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
