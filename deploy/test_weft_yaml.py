"""deploy/weft.yaml, read as Kubernetes will: the conflist is one static file for every node (no subnet:
the plugin reads weftd's subnet.env), weftd runs the kube backend and writes that conflist itself, and
the ClusterRole allows what the kube backend does. Run by `make e2e-unit`."""

import json
import os
import re
import unittest

import yaml

MANIFEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weft.yaml")
# Keys that would tie the conflist to one node (or one cluster) and so need templating.
PER_NODE_KEYS = ("subnet", "ipam", "ranges", "clusterNetworks", "subnetFile")


def load(path=MANIFEST):
    with open(path) as f:
        return {doc["kind"]: doc for doc in yaml.safe_load_all(f) if doc}


def conflist_problems(text):
    """What makes a conflist unfit to be the same file on every node; [] when none."""
    try:
        conf = json.loads(text)
    except ValueError as error:
        return [f"not JSON: {error}"]
    problems = []
    if re.search(r"@[A-Z_]+@", text):
        problems.append("a template placeholder")
    plugins = conf.get("plugins") if isinstance(conf, dict) else None
    if not plugins:
        return problems + ["no plugins list"]
    for plugin in plugins:
        problems += [f"per-node key {key!r} in {plugin.get('type')}" for key in PER_NODE_KEYS if key in plugin]
    return problems


def effective_command(daemonset, configmap, container="weftd"):
    """The container's command with $(VAR) expanded as the kubelet does (fieldRef left as its name)."""
    spec = daemonset["spec"]["template"]["spec"]
    c = next(c for c in spec["containers"] if c["name"] == container)
    values = {}
    for env in c.get("env", []):
        ref = env.get("valueFrom", {}).get("configMapKeyRef")
        if ref and ref["name"] == configmap["metadata"]["name"]:
            values[env["name"]] = configmap["data"].get(ref["key"], "")
        elif "value" in env:
            values[env["name"]] = env["value"]
    return [re.sub(r"\$\(([A-Z_]+)\)", lambda m: values.get(m.group(1), m.group(0)), arg) for arg in c["command"]]


def flag(command, name):
    return command[command.index(name) + 1] if name in command else None


class ManifestTest(unittest.TestCase):
    def setUp(self):
        self.docs = load()
        self.configmap = self.docs["ConfigMap"]
        self.daemonset = self.docs["DaemonSet"]

    def test_conflist_is_static_json_with_no_subnet(self):
        self.assertEqual(conflist_problems(self.configmap["data"]["cni-conf.json"]), [])

    def test_the_check_catches_a_per_node_conflist(self):
        # Positive control: the check above would have failed on the old, templated conflist.
        templated = json.loads(self.configmap["data"]["cni-conf.json"])
        templated["plugins"][0]["subnet"] = "10.244.3.0/24"
        self.assertIn("per-node key 'subnet' in weft", conflist_problems(json.dumps(templated)))
        self.assertTrue(conflist_problems('{"plugins": [{"type": "weft", "@SUBNET@": ""}]}'))
        self.assertTrue(conflist_problems("{not json"))

    def test_net_conf_is_flannels_vxlan(self):
        net_conf = json.loads(self.configmap["data"]["net-conf.json"])
        self.assertEqual(net_conf, {"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}})

    def test_weftd_runs_the_kube_backend_and_writes_the_conflist(self):
        command = effective_command(self.daemonset, self.configmap)
        self.assertEqual(command[:2], ["/opt/weft/bin/weftd", "run"])
        self.assertEqual(flag(command, "--backend"), "kube")
        self.assertIn("--network-policy", command)
        self.assertEqual(flag(command, "--net-conf"), "/etc/weft/net-conf.json")
        self.assertEqual(flag(command, "--subnet-file"), "/run/flannel/subnet.env")
        self.assertEqual(flag(command, "--cni-conf-source"), "/etc/weft/cni-conf.json")
        self.assertEqual(flag(command, "--cni-conf-dest"), "/etc/cni/net.d/10-weft.conflist")
        # The link's target is on the host's /run (a tmpfs a reboot empties), mounted at the same path
        # (test_mounts_match_the_paths_weftd_writes), so it resolves alike for weftd and the runtime.
        self.assertEqual(flag(command, "--cni-conf-volatile"), "/run/weft/10-weft.conflist")
        # Negative control: the expansion is real, another backend in the ConfigMap shows through.
        edited = json.loads(json.dumps(self.configmap))
        edited["data"]["backend"] = "none"
        self.assertEqual(flag(effective_command(self.daemonset, edited), "--backend"), "none")

    def test_mounts_match_the_paths_weftd_writes(self):
        spec = self.daemonset["spec"]["template"]["spec"]
        weftd = next(c for c in spec["containers"] if c["name"] == "weftd")
        volumes = {v["name"]: v for v in spec["volumes"]}
        host = {m["mountPath"]: volumes[m["name"]].get("hostPath", {}).get("path") for m in weftd["volumeMounts"]}
        self.assertEqual(host.get("/run/flannel"), "/run/flannel")
        self.assertEqual(host.get("/etc/cni/net.d"), "/etc/cni/net.d")
        self.assertEqual(host.get("/run/weft"), "/run/weft")
        self.assertEqual(weftd["securityContext"]["capabilities"], {"drop": ["ALL"], "add": ["NET_ADMIN"]})
        self.assertTrue(weftd["securityContext"]["readOnlyRootFilesystem"])

    def test_init_container_only_copies_binaries(self):
        install = self.configmap["data"]["install.sh"]
        self.assertNotIn("net.d", install)
        self.assertNotIn("sed", install)
        init = self.daemonset["spec"]["template"]["spec"]["initContainers"][0]
        self.assertNotIn("/host/etc/cni/net.d", [m["mountPath"] for m in init["volumeMounts"]])

    def test_cluster_role_allows_the_kube_backend(self):
        rules = self.docs["ClusterRole"]["rules"]

        def allowed(resource, verb):
            return any(resource in r["resources"] and verb in r["verbs"] for r in rules)

        for verb in ("get", "list", "watch", "patch"):
            self.assertTrue(allowed("nodes", verb), verb)
        self.assertTrue(allowed("nodes/status", "patch"))
        self.assertFalse(allowed("nodes", "delete"))
        self.assertFalse(allowed("secrets", "get"))


if __name__ == "__main__":
    unittest.main()
