"""dualstack.py's pure parts: URLs of either family, netexec's /clientip answer, podIPs by family."""

import ipaddress
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dualstack  # noqa: E402


class DualStackHelperTests(unittest.TestCase):
    def test_url_brackets_ipv6_only(self):
        self.assertEqual(dualstack.url("10.244.0.5", "hostname"), "http://10.244.0.5:8080/hostname")
        self.assertEqual(dualstack.url("fd00:10:244:1::5", "clientip"), "http://[fd00:10:244:1::5]:8080/clientip")

    def test_client_address_of_either_family(self):
        self.assertEqual(dualstack.client_address("10.244.0.5:41234"), ipaddress.ip_address("10.244.0.5"))
        self.assertEqual(dualstack.client_address("[fd00:10:244::5]:41234"), ipaddress.ip_address("fd00:10:244::5"))
        with self.assertRaises(ValueError):
            dualstack.client_address("curl: (7) Failed to connect")

    def test_pod_addresses_one_of_each_family(self):
        pod = {"metadata": {"name": "p"}, "status": {"podIPs": [{"ip": "10.244.0.5"}, {"ip": "fd00:10:244::5"}]}}
        self.assertEqual(dualstack.pod_addresses(pod),
                         (ipaddress.ip_address("10.244.0.5"), ipaddress.ip_address("fd00:10:244::5")))
        with self.assertRaises(AssertionError):
            dualstack.pod_addresses({"metadata": {"name": "p"}, "status": {"podIPs": [{"ip": "10.244.0.5"}]}})


if __name__ == "__main__":
    unittest.main()
