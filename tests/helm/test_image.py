"""deploy/Dockerfile cannot be built here (no Docker engine); these checks
keep it right by construction:

* the build stage builds with deploy/build-release (the release build CI
  runs) and copies in every file the crates embed at compile time;
* the final stage holds the jhub binary only, runs as a numeric non-root
  user (uid 1000, z2jh's hub uid), with jhub as the entrypoint, so the z2jh
  chart's arguments reach it;
* the chart's hub pod fits the image (uid, no command override).
"""

from __future__ import annotations

import re
import unittest
from pathlib import Path

from helmlib import ROOT, container, get, render_objects

DOCKERFILE = ROOT / "deploy" / "Dockerfile"
BUILD = ROOT / "deploy" / "build-release"


def stages(text: str) -> list[list[str]]:
    """Instructions (continuation lines joined) grouped by FROM."""
    lines, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            lines.append(current)
            current = ""
    out: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            out.append([line])
        elif out:
            out[-1].append(line)
    return out


class Dockerfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stages = stages(DOCKERFILE.read_text(encoding="utf-8"))
        cls.build, cls.final = cls.stages[0], cls.stages[-1]

    def test_multi_stage(self):
        self.assertEqual(len(self.stages), 2)
        self.assertRegex(self.build[0], r"^FROM rust:\$\{RUST_VERSION\}-slim-bookworm AS build$")
        self.assertRegex(self.final[0], r"^FROM gcr\.io/distroless/cc-debian12:nonroot$")
        # The toolchain is the workspace's minimum Rust.
        msrv = re.search(r'rust-version = "([^"]+)"', (ROOT / "Cargo.toml").read_text())[1]
        self.assertIn(f"ARG RUST_VERSION={msrv}", DOCKERFILE.read_text())

    def test_builds_with_the_release_script(self):
        runs = [i for i in self.build if i.startswith("RUN ")]
        self.assertEqual(len(runs), 1)
        self.assertTrue(runs[0].endswith("deploy/build-release /out/jhub"), runs[0])
        script = BUILD.read_text(encoding="utf-8")
        self.assertIn("cargo build --release --locked -p jhub", script)

    def test_final_stage_is_the_binary_only(self):
        copies = [i for i in self.final if i.startswith("COPY ")]
        self.assertEqual(copies, ["COPY --from=build /out/jhub /usr/local/bin/jhub"])
        self.assertFalse([i for i in self.final if i.startswith(("RUN ", "ADD "))])
        self.assertIn("USER 1000:1000", self.final)
        self.assertIn('ENTRYPOINT ["/usr/local/bin/jhub"]', self.final)

    def test_every_embedded_file_is_copied_in(self):
        copied = []
        for i in self.build:
            if i.startswith("COPY ") and "--from" not in i:
                *sources, _dest = i.split()[1:]
                copied += [s.rstrip("/") for s in sources]

        def inside(path: Path) -> bool:
            rel = path.resolve().relative_to(ROOT)
            return any(rel == Path(c) or Path(c) in rel.parents for c in copied)

        embedded = []
        for source in (ROOT / "crates").glob("*/src/**/*.rs"):
            text = source.read_text(encoding="utf-8")
            for m in re.finditer(r'include_(?:str|bytes)!\((?:concat!\()?"([^"]+)"', text):
                embedded.append(source.parent / m[1])
            for m in re.finditer(r'migrate!\("([^"]+)"\)', text):
                crate = source.parents[len(source.relative_to(ROOT / "crates").parts) - 2]
                embedded.append(crate / m[1])
        self.assertTrue(embedded)
        for path in embedded:
            with self.subTest(path=str(path)):
                self.assertTrue(path.exists() or path.parent.exists(), path)
                self.assertTrue(inside(path), f"{path} is embedded but not copied into the build stage")

    def test_dockerignore_keeps_what_is_copied(self):
        ignore = (ROOT / "deploy" / "Dockerfile.dockerignore").read_text().splitlines()
        kept = {l[1:].rstrip("/") for l in ignore if l.startswith("!")}
        for i in self.build:
            if i.startswith("COPY ") and "--from" not in i:
                *sources, _dest = i.split()[1:]
                for s in sources:
                    self.assertIn(s.rstrip("/"), kept)


class ChartFitsTheImage(unittest.TestCase):
    def test_hub_pod_runs_the_entrypoint_as_1000(self):
        dep = get(render_objects({}), "Deployment", "hub")
        hub = container(dep, "hub")
        self.assertNotIn("command", hub)
        self.assertEqual(hub["securityContext"]["runAsUser"], 1000)
        self.assertTrue(dep["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"])


if __name__ == "__main__":
    unittest.main()
