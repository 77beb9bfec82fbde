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


if __name__ == "__main__":
    unittest.main()
