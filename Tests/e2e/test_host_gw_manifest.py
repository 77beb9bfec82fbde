"""run.host_gw_manifest: deploy/weft.yaml with host-gw in its net-conf, the one edit an operator makes
(the comments naming the backends stay as they are)."""

import json
import os
import re
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run  # noqa: E402


class HostGwManifestTests(unittest.TestCase):
    def test_net_conf_backend_is_host_gw_and_nothing_else_changes(self):
        with open(os.path.join(run.REPO, "deploy", "weft.yaml")) as f:
            original = f.read()
        with tempfile.TemporaryDirectory() as out:
            with open(run.host_gw_manifest(out)) as f:
                edited = f.read()
        block = re.search(r"net-conf\.json: \|\n((?:    .*\n)+)", edited).group(1)
        self.assertEqual(json.loads(block)["Backend"]["Type"], "host-gw")
        changed = [(a, b) for a, b in zip(original.splitlines(), edited.splitlines()) if a != b]
        self.assertEqual(len(changed), 1, changed)

    def test_dual_stack_adds_ipv6_to_the_net_conf_only(self):
        with open(os.path.join(run.REPO, "deploy", "weft.yaml")) as f:
            original = f.read()
        with tempfile.TemporaryDirectory() as out:
            with open(run.host_gw_manifest(out, ipv6_network="fd00:10:244::/56")) as f:
                edited = f.read()
        block = re.search(r"net-conf\.json: \|\n((?:    .*\n)+)", edited).group(1)
        conf = json.loads(block)
        self.assertEqual(conf["Backend"]["Type"], "host-gw")
        self.assertIs(conf["EnableIPv6"], True)
        self.assertEqual(conf["IPv6Network"], "fd00:10:244::/56")
        self.assertEqual(conf["Network"], json.loads(re.search(r"net-conf\.json: \|\n((?:    .*\n)+)",
                                                               original).group(1))["Network"])
        # The type line changed, two lines added after "Network"; every other line as it was.
        self.assertEqual(len(edited.splitlines()), len(original.splitlines()) + 2)
        kept = [line for line in edited.splitlines() if "EnableIPv6" not in line and "IPv6Network" not in line
                or line.lstrip().startswith("#")]
        changed = [(a, b) for a, b in zip(original.splitlines(), kept) if a != b]
        self.assertEqual(len(changed), 1, changed)

    def test_services_turns_on_weftd_services_with_the_real_api_address(self):
        with open(os.path.join(run.REPO, "deploy", "weft.yaml")) as f:
            original = f.read()
        with tempfile.TemporaryDirectory() as out:
            with open(run.host_gw_manifest(out, api_server="https://192.0.2.1:6443")) as f:
                edited = f.read()
        self.assertRegex(edited, r'(?m)^  services: "true"$')
        self.assertRegex(edited, r'(?m)^  api-server: "https://192\.0\.2\.1:6443"$')
        # The backend line and the two ConfigMap keys; every other line (the comments too) as it was.
        changed = [(a, b) for a, b in zip(original.splitlines(), edited.splitlines()) if a != b]
        self.assertEqual(len(changed), 3, changed)


if __name__ == "__main__":
    unittest.main()
