"""The bench's node: one throwaway network namespace with the control plane (scripts/lib/apiserver.py's
bring-up through scripts/kube_lab.py), weftd (`--backend none --network-policy`) and pods wired by the
`weft` plugin onto one bridge; this process joins it with setns(2)."""

import json
import os
import random
import socket
import subprocess
import time

import kube_lab
from kube_lab import PATH, Api
from lib import netns

from .settings import NODE, PROBE_NS, SUBNET, TOKEN, env_int, log, now_ns
from .stats import histogram_mean
from .workload import namespaces, pod_object, policy_path, random_labels, random_policies


class PolicyNode(kube_lab.BenchNode):
    def __init__(self):
        super().__init__("bench-policy", log)
        self.pod_fds = {}
        self.pod_count = 0
        self.rounds = env_int("POLICY_ROUNDS", 20)
        self.add_rounds = env_int("ADD_ROUNDS", 40)
        self.policy_count = env_int("POLICIES", 100)
        self.pod_total = env_int("PODS", 200)
        self.real_pods = env_int("REAL_PODS", 20)
        self.interval_ms = float(os.environ.get("PROBE_INTERVAL_MS", "1"))
        self.sock = os.path.join(self.work, "run", "policy.sock")
        self.metrics_address = "127.0.0.1:9410"
        self.api = Api("127.0.0.1", TOKEN)
        self.rng = random.Random(17)

    def start_cluster(self):
        took = self.start_node()  # from here on, this process and its children live in the node namespace
        log(f"kube-apiserver ready in {took:.1f} s")
        # The namespace the probe pods live in: no generated policy selects its pods.
        self.api.create("/api/v1/namespaces", {"metadata": {"name": PROBE_NS, "labels": {"purpose": "probe"}}})

    def start_weftd(self):
        # weftd refuses to start for a node the API does not have.
        if not getattr(self, "node_created", False):
            self.api.create("/api/v1/nodes", {"metadata": {"name": NODE}})
            self.node_created = True
        self.spawn("weftd", [self.weftd, "run", "--backend", "none", "--network-policy", "--kubeconfig", self.kubeconfig,
                             "--node-name", NODE, "--policy-socket", self.sock, "--metrics-address", self.metrics_address,
                             "--state-file", f"{self.work}/state.json"])
        self.wait_until(lambda: os.path.exists(self.sock) and self.metrics().get("weftd_policy_applies_total", 0) >= 1,
                        60, "weftd's first policy table", interval=0.1)

    def weftd_knows(self, namespace, name):
        """Whether weftd has the Pod (`weftctl policy ls --pod`'s request on the policy socket)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(self.sock)
            s.sendall(json.dumps({"op": "explain", "namespace": namespace, "name": name}).encode() + b"\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
        return "no such pod" not in json.loads(reply or b"{}").get("text", "no such pod")

    def metrics(self):
        return kube_lab.metrics(*self.metrics_address.split(":"))

    def settle(self, quiet=1.0, timeout=120):
        """Waits until weftd has committed nothing new for `quiet` seconds."""
        last = self.metrics().get("weftd_policy_applies_total")
        since = time.monotonic()
        deadline = since + timeout
        while time.monotonic() < deadline:
            time.sleep(0.2)
            value = self.metrics().get("weftd_policy_applies_total")
            if value != last:
                last, since = value, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
        raise TimeoutError("weftd did not settle")

    def conf(self, policy):
        conf = {"cniVersion": "1.0.0", "name": "pol", "type": "weft", "subnet": SUBNET, "dataDir": f"{self.work}/ipam"}
        if policy:
            conf["networkPolicy"] = {"socket": self.sock, "failClosed": True}
        return json.dumps(conf).encode()

    def new_pod_ns(self):
        self.pod_count += 1
        name = f"{self.prefix}p{self.pod_count}"
        self.pod_fds[name] = self.add_netns(name)
        return name

    def cni_add(self, pod_ns, namespace, name, policy=True):
        """Runs ADD; returns (seconds, [addresses]). Timed around the plugin process as a runtime sees it."""
        env = {"PATH": PATH, "CNI_COMMAND": "ADD", "CNI_CONTAINERID": f"bench-{pod_ns}",
               "CNI_NETNS": netns.path(pod_ns), "CNI_IFNAME": "eth0", "CNI_PATH": os.path.dirname(self.weft),
               "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE={namespace};K8S_POD_NAME={name}"}
        conf = self.conf(policy)
        start = now_ns()
        result = subprocess.run([self.weft], input=conf, env=env, capture_output=True)
        took = (now_ns() - start) / 1e9
        if result.returncode != 0:
            raise RuntimeError(f"ADD {namespace}/{name} failed ({result.returncode}): {result.stdout[:600]!r} {result.stderr[:600]!r}")
        answer = json.loads(result.stdout)
        return took, [ip["address"].split("/")[0] for ip in answer.get("ips", [])]

    def real_pod(self, namespace, name, labels, policy=True):
        """A Pod object on this node, its namespace wired by ADD, its address reported as kubelet would."""
        self.api.create(f"/api/v1/namespaces/{namespace}/pods", pod_object(namespace, name, labels, NODE))
        pod_ns = self.new_pod_ns()
        _, addresses = self.cni_add(pod_ns, namespace, name, policy)
        self.api.pod_ips(namespace, name, addresses)
        return pod_ns, addresses[0]

    def populate(self):
        """POLICIES policies and PODS pods (REAL_PODS of them on this node, the probe pods included)."""
        started = time.monotonic()
        spaces = namespaces()
        for name, labels in spaces:
            self.api.create("/api/v1/namespaces", {"metadata": {"name": name, "labels": labels}})
        for namespace, policy in random_policies(self.rng, self.policy_count, spaces):
            self.api.create(policy_path(namespace), policy)
        real = max(0, self.real_pods - 3)  # client, web and prober are real pods already
        for i in range(real):
            namespace = spaces[i % len(spaces)][0]
            self.real_pod(namespace, f"real{i}", random_labels(self.rng))
        for i in range(self.pod_total - real - 3):
            namespace = spaces[i % len(spaces)][0]
            node = 2 + i % 3
            name = f"remote{i}"
            self.api.create(f"/api/v1/namespaces/{namespace}/pods", pod_object(namespace, name, random_labels(self.rng), f"n{node}"))
            self.api.pod_ips(namespace, name, [f"10.62.{node * 10 + i // 250}.{1 + i % 250}"])
        self.settle()
        m = self.metrics()
        log(f"populated in {time.monotonic() - started:.1f} s: weftd_policies {m.get('weftd_policies')}, "
            f"weftd_policy_pods {m.get('weftd_policy_pods')}, mean compile {histogram_mean(m, 'weftd_policy_compile_duration_seconds') * 1000:.1f} ms")
        return m
