"""Checks the OCI archive deploy/build-image makes (stdlib only):

    python3 tests/image/check_image.py target/jhub-image.oci.tar

* config: user 1000:1000, entrypoint /usr/local/bin/jhub, port 8081, labels;
* file system: /usr/local/bin/jupyterhub is a link to jhub (the drop-in name the
  z2jh chart runs), no shell (/bin/sh, /usr/bin/sh, busybox), no package manager;
* the binary's runtime libraries are in the image (the dynamic loader and libc).
Prints the archive size, the uncompressed file system size and the layer sizes.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
import unittest

ARCHIVE = sys.argv.pop(1) if len(sys.argv) > 1 else "target/jhub-image.oci.tar"


def blob(tar: tarfile.TarFile, digest: str) -> bytes:
    algo, value = digest.split(":", 1)
    member = tar.extractfile(f"blobs/{algo}/{value}")
    assert member is not None, digest
    return member.read()


class Image(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tar = tarfile.open(ARCHIVE)
        index = json.loads(cls.tar.extractfile("index.json").read())  # type: ignore[union-attr]
        manifest = json.loads(blob(cls.tar, index["manifests"][0]["digest"]))
        cls.config = json.loads(blob(cls.tar, manifest["config"]["digest"]))
        cls.files: dict[str, tarfile.TarInfo] = {}
        cls.layer_sizes = []
        for layer in manifest["layers"]:
            data = blob(cls.tar, layer["digest"])
            cls.layer_sizes.append(len(data))
            with tarfile.open(fileobj=io.BytesIO(data)) as lt:
                for m in lt.getmembers():
                    cls.files["/" + m.name.lstrip("./")] = m

    def test_runs_as_1000_with_jhub_as_entrypoint(self) -> None:
        c = self.config["config"]
        self.assertEqual(c["User"], "1000:1000")
        self.assertEqual(c["Entrypoint"], ["/usr/local/bin/jhub"])
        self.assertIn("8081/tcp", c.get("ExposedPorts", {}))
        self.assertEqual(self.config["architecture"], "amd64")
        self.assertEqual(self.config["os"], "linux")

    def test_labels(self) -> None:
        labels = self.config["config"]["Labels"]
        self.assertEqual(labels["org.opencontainers.image.title"], "jhub")
        self.assertTrue(labels["org.opencontainers.image.version"])
        self.assertEqual(labels["org.opencontainers.image.licenses"], "BSD-3-Clause")
        self.assertEqual(labels["io.jhub.drop-in"], "jupyterhub")

    def test_jupyterhub_is_jhubs_drop_in(self) -> None:
        jhub = self.files["/usr/local/bin/jhub"]
        self.assertTrue(jhub.isfile() and jhub.mode & 0o111, "jhub is an executable")
        link = self.files["/usr/local/bin/jupyterhub"]
        self.assertTrue(link.issym(), "jupyterhub is a link")
        self.assertEqual(link.linkname, "jhub")

    def test_no_shell_no_package_manager(self) -> None:
        for path in ["/bin/sh", "/usr/bin/sh", "/bin/bash", "/usr/bin/bash", "/bin/busybox", "/usr/bin/dpkg",
                     "/usr/bin/apt", "/usr/bin/apt-get"]:
            self.assertNotIn(path, self.files, path)

    def test_runtime_libraries_and_certificates(self) -> None:
        names = set(self.files)
        self.assertTrue(any(n.endswith("/ld-linux-x86-64.so.2") for n in names), "dynamic loader")
        self.assertTrue(any(n.endswith("/libc.so.6") for n in names), "libc")
        self.assertTrue(any(n.endswith("/libgcc_s.so.1") for n in names), "libgcc_s")
        self.assertIn("/etc/ssl/certs/ca-certificates.crt", names)
        self.assertEqual(self.files["/srv/jupyterhub"].uid, 1000, "the hub's data dir belongs to uid 1000")

    @classmethod
    def tearDownClass(cls) -> None:
        import os
        fs = sum(m.size for m in cls.files.values() if m.isfile())
        print(f"\narchive {os.path.getsize(ARCHIVE)} bytes; file system {fs} bytes; "
              f"layers (compressed) {cls.layer_sizes}", file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
