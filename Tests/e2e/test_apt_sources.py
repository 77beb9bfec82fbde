"""scripts/k8s/apt_sources.py: the private deb/deb-src lines come from the host's own apt sources, in
either format (`python3 -m unittest discover -s Tests/e2e -p 'test_*.py'`; no root, no network)."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "scripts", "k8s")
sys.path.insert(0, SCRIPTS)

import apt_sources  # noqa: E402

DEB822 = """Types: deb
# a comment inside the stanza
URIs: http://mirror.example.internal/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.internal/debian-security
Suites: bookworm-security
Components: main

Types: deb deb-src
URIs: http://disabled.example.internal/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb
URIs: https://vendor.example.internal/apt
Suites: nodistro
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 xsBNBGT...
 -----END PGP PUBLIC KEY BLOCK-----
"""

ONE_LINE = """# the company mirror
deb [arch=amd64 signed-by=/etc/apt/keyrings/corp.gpg] http://apt.corp.example/debian/ bookworm main non-free-firmware
deb-src http://apt.corp.example/debian/ bookworm main
deb http://apt.corp.example/debian-security bookworm-security main # security
deb http://apt.corp.example/debian bookworm-backports main
deb http://apt.corp.example/debian bookworm contrib
deb https://packages.vendor.example/apt cloud-sdk-bookworm main
"""


ROOTS = []


def tearDownModule():
    for root in ROOTS:
        shutil.rmtree(root, ignore_errors=True)


def tree(files):
    root = tempfile.mkdtemp(prefix="weft-apt-test-")
    ROOTS.append(root)
    for path, text in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
    return root


class AptSourcesTests(unittest.TestCase):
    def test_deb822(self):
        root = tree({"etc/apt/sources.list.d/debian.sources": DEB822,
                     "etc/os-release": 'NAME="Debian"\nVERSION_CODENAME=bookworm\n'})
        lines = apt_sources.private_lines(apt_sources.host_entries(root), "bookworm")
        key = "[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        self.assertEqual(lines, [
            f"deb {key}http://mirror.example.internal/debian bookworm main",
            f"deb-src {key}http://mirror.example.internal/debian bookworm main",
            f"deb {key}http://mirror.example.internal/debian bookworm-updates main",
            f"deb-src {key}http://mirror.example.internal/debian bookworm-updates main",
            "deb http://mirror.example.internal/debian-security bookworm-security main",
            "deb-src http://mirror.example.internal/debian-security bookworm-security main",
        ])

    def test_one_line(self):
        root = tree({"etc/apt/sources.list": ONE_LINE,
                     "etc/apt/sources.list.d/old.list.disabled": "deb http://ignored.example/debian bookworm main\n"})
        lines = apt_sources.private_lines(apt_sources.host_entries(root), "bookworm")
        key = "[signed-by=/etc/apt/keyrings/corp.gpg] "
        self.assertEqual(lines, [
            f"deb {key}http://apt.corp.example/debian/ bookworm main",
            f"deb-src {key}http://apt.corp.example/debian/ bookworm main",
            "deb http://apt.corp.example/debian-security bookworm-security main",
            "deb-src http://apt.corp.example/debian-security bookworm-security main",
        ])

    def test_both_formats_together_and_the_command(self):
        root = tree({"etc/apt/sources.list": "deb http://a.example/debian bookworm main\n",
                     "etc/apt/sources.list.d/b.sources": "Types: deb\nURIs: http://b.example/debian\n"
                                                         "Suites: bookworm-updates\nComponents: main\n",
                     "etc/os-release": "VERSION_CODENAME=bookworm\n"})
        out = subprocess.run([sys.executable, os.path.join(SCRIPTS, "apt_sources.py"), "--root", root],
                             capture_output=True, text=True, check=True).stdout
        self.assertEqual(out.splitlines(), [
            "deb http://a.example/debian bookworm main", "deb-src http://a.example/debian bookworm main",
            "deb http://b.example/debian bookworm-updates main", "deb-src http://b.example/debian bookworm-updates main"])

    def test_nothing_usable_is_an_error(self):
        root = tree({"etc/apt/sources.list.d/vendor.list": "deb https://vendor.example/apt nodistro main\n",
                     "etc/os-release": "VERSION_CODENAME=bookworm\n"})
        result = subprocess.run([sys.executable, os.path.join(SCRIPTS, "apt_sources.py"), "--root", root],
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, 1)
        self.assertIn("WEFT_E2E_APT_SOURCES", result.stderr)

    @unittest.skipUnless(os.path.isdir("/etc/apt"), "not a Debian host")
    def test_this_host(self):
        """On this machine: the lines name only archives the host's own sources name."""
        entries = apt_sources.host_entries("/")
        lines = apt_sources.private_lines(entries, apt_sources._codename("/"))
        self.assertTrue(lines, "no deb lines derived from this host's apt sources")
        host_uris = {uri for _, uri, _, _, _ in entries}
        for line in lines:
            self.assertIn(line.split()[-3], host_uris)


if __name__ == "__main__":
    unittest.main()
