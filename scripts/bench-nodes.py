"""scripts/bench-nodes.py: nodes in network namespaces with Weft as a Kubernetes node runs it, for
`make demo` (scripts/demo) and the bench's cross-node scenario (scripts/bench-crossnode.py). Imported, not run.

Layout (every namespace named `wt-<8 hex>-<role>-…`):
- `<prefix>u`, the underlay: a bridge `br0` (10.78.0.1/24) joining the nodes, and the control plane on it:
  etcd (127.0.0.1:2379) and Kubernetes' own kube-apiserver (https://10.78.0.1:6443; token auth,
  AlwaysAllow; no scheduler, controller-manager or kubelet). The driver process lives here (setns), so it
  talks to the API directly; the host's network namespace is never changed.
- `<prefix>n1`, `<prefix>n2`, …: a node each, `eth0` = 10.78.0.1N/24 on the bridge, default route via
  the underlay. weftd runs there as the DaemonSet runs it (`--backend kube --net-conf … --network-policy`),
  for the Node object the driver created with `spec.podCIDR` set (what controller-manager's
  `--allocate-node-cidrs` would do), with its own subnet.env, state file, policy socket and /metrics on
  `eth0`'s address; no `--iface`: weftd takes the default route's link, as in the DaemonSet.
- `<prefix>n1-<pod>`: a pod: its Pod object first (spec.nodeName, labels), then the plugin's ADD in the
  node's namespace with the DaemonSet's conflist entry (subnet.env from weftd, `networkPolicy`; the ADD
  asks weftd over the policy socket), then `status.podIPs` patched as kubelet would.

Cleanup (`Nodes.cleanup`, also on failure, SIGTERM and Ctrl-C): every process stopped by its PID in reverse
order, every namespace of the prefix deleted, the work directory removed.

The control plane, the API client, the processes and the cleanup are scripts/kube_lab.py's, which the policy
bench (scripts/bench-policy.py) uses too.
"""

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no scripts/__pycache__ left in the clone
sys.path.insert(0, HERE)
import kube_lab  # noqa: E402  scripts/kube_lab.py: the control plane, the API client, processes and cleanup
from kube_lab import PATH, Api, run, setns  # noqa: E402,F401  (setns: scripts/demo and bench-crossnode.py use it from here)
from lib import netns  # noqa: E402  scripts/lib (kube_lab put scripts/ on sys.path)

TOKEN = "weft-nodes-token"
UNDERLAY = "10.78.0"
API = f"{UNDERLAY}.1"
NETWORK = "10.244.0.0/16"


def route_key(cidr):
    """10.244.3.0/24 → ('0003F40A', 'FFFFFF00'): /proc/net/route's little-endian hex."""
    address, length = cidr.split("/")
    value = int.from_bytes(socket.inet_aton(address), "little")
    mask = int.from_bytes(((0xFFFFFFFF << (32 - int(length))) & 0xFFFFFFFF).to_bytes(4, "big"), "little")
    return f"{value:08X}", f"{mask:08X}"


def has_route(pid, cidr, key=None):
    """Whether the network namespace of process `pid` routes `cidr` (read from /proc/PID/net/route:
    no fork, so it can be polled every fraction of a millisecond)."""
    destination, mask = key or route_key(cidr)
    try:
        with open(f"/proc/{pid}/net/route") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 7 and fields[1] == destination and fields[7] == mask:
                    return True
    except OSError:
        return False
    return False


class Node:
    def __init__(self, nodes, number, backend):
        self.number = number
        self.name = f"node-{number}"
        self.ns = f"{nodes.prefix}n{number}"
        self.address = f"{UNDERLAY}.{10 + number}"
        self.pod_cidr = f"10.244.{number}.0/24"
        self.dir = os.path.join(nodes.work, self.name)
        self.subnet_file = os.path.join(self.dir, "subnet.env")
        self.socket = os.path.join(self.dir, "run", "policy.sock")
        self.backend = backend
        self.weftd = None
        self.pods = {}

    def exec(self, *args, check=True):
        return run(["ip", "netns", "exec", self.ns] + list(args), check=check)

    def conf(self):
        """The DaemonSet's conflist entry (no subnet: the plugin reads weftd's subnet.env), pointed at this
        node's files: subnet.env, the IPAM store and the policy socket."""
        return {"cniVersion": "1.0.0", "name": "weft", "type": "weft", "bridge": "cni0", "ipMasq": True,
                "isDefaultGateway": True, "hairpinMode": True, "subnetFile": self.subnet_file,
                "dataDir": os.path.join(self.dir, "ipam"), "networkPolicy": {"socket": self.socket, "failClosed": False}}


class Nodes(kube_lab.Lab):
    """The underlay, the control plane and the nodes. `start()`, then `add_node()` per node, `pod()` per pod;
    `cleanup()` in a finally."""

    def __init__(self, role, log=None):
        self.id = secrets.token_hex(4)
        super().__init__(f"wt-{self.id}-{role}-", f"weft-{role}.", weftctl=True)
        self.underlay = f"{self.prefix}u"
        self.log = log or (lambda message: None)
        self.underlay_fd = None
        self.nodes = []
        self.api = Api(API, TOKEN)
        self.cleaned = False

    def cleanup(self):
        if self.cleaned:
            return
        self.cleaned = True
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop the cleanup
        try:
            super().cleanup()
        finally:
            signal.signal(signal.SIGINT, previous)

    # -- the underlay and the control plane --

    def start(self):
        self.underlay_fd = self.add_netns(self.underlay)
        u = ["ip", "-n", self.underlay]
        run(u + ["link", "add", "br0", "type", "bridge"])
        run(u + ["addr", "add", f"{API}/24", "dev", "br0"])
        run(u + ["link", "set", "br0", "up"])
        setns(self.underlay_fd)  # from here on this process and its children live in the underlay
        return self.start_control_plane("weft-nodes", interval=0.2)

    # -- nodes --

    def net_conf(self, backend):
        path = os.path.join(self.work, f"net-conf-{backend}.json")
        backend_conf = {"Type": "vxlan", "VNI": 1} if backend == "vxlan" else {"Type": backend}
        with open(path, "w") as f:
            json.dump({"Network": NETWORK, "Backend": backend_conf}, f)
        return path

    def add_node(self, number, backend="vxlan"):
        """The node's namespace on the underlay and its Node object (podCIDR set); weftd not yet."""
        node = Node(self, number, backend)
        os.makedirs(os.path.join(node.dir, "run"), mode=0o700)
        netns.add(node.ns)
        netns.add_veth(self.underlay, f"n{number}", node.ns, "eth0")
        run(["ip", "-n", self.underlay, "link", "set", f"n{number}", "master", "br0", "up"])
        run(["ip", "-n", node.ns, "addr", "add", f"{node.address}/24", "dev", "eth0"])
        run(["ip", "-n", node.ns, "link", "set", "eth0", "up"])
        run(["ip", "-n", node.ns, "route", "add", "default", "via", API])
        self.api.call("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node.name},
                                                "spec": {"podCIDR": node.pod_cidr, "podCIDRs": [node.pod_cidr]}})
        self.nodes.append(node)
        return node

    def start_weftd(self, node):
        """weftd as the DaemonSet runs it, in the node's namespace."""
        node.weftd = self.spawn(f"weftd-{node.name}", [
            self.weftd, "run", "--backend", "kube", "--net-conf", self.net_conf(node.backend), "--network-policy",
            "--kubeconfig", self.kubeconfig, "--node-name", node.name,
            "--subnet-file", node.subnet_file, "--state-file", os.path.join(node.dir, "agent.json"),
            "--policy-socket", node.socket, "--metrics-address", f"{node.address}:9410"], ns=node.ns)
        return node.weftd

    def metrics(self, node):
        return kube_lab.metrics(node.address, 9410)

    def healthy(self, node):
        try:
            connection = http.client.HTTPConnection(node.address, 9410, timeout=2)
            connection.request("GET", "/healthz")
            ok = connection.getresponse().status == 200
            connection.close()
            return ok
        except (OSError, http.client.HTTPException):
            return False

    def wait_ready(self, nodes, timeout=60):
        """Every node's weftd healthy, its subnet.env written, its policy table in, and a route to every
        other node's podCIDR."""
        def ready():
            for node in nodes:
                if not (os.path.exists(node.subnet_file) and os.path.exists(node.socket) and self.healthy(node)):
                    return False
                if self.metrics(node).get("weftd_policy_applies_total", 0) < 1:
                    return False
                if not all(has_route(node.weftd.pid, other.pod_cidr) for other in nodes if other is not node):
                    return False
            return True
        self.wait_until(ready, timeout, "weftd ready on every node (subnet.env, policy table, routes to the peers)")

    def stop_node(self, node):
        """weftd stopped, the Node object deleted, the node's namespaces (its pods') and its files deleted."""
        for name, process in list(self.processes):
            if name.startswith(f"weftd-{node.name}") or name.startswith(f"{node.name}-"):
                self.stop(process)
        self.api.call("DELETE", f"/api/v1/nodes/{node.name}")
        # The veth first: a deleted namespace's devices go when the kernel gets to it, not at once.
        run(["ip", "-n", self.underlay, "link", "delete", f"n{node.number}"], check=False)
        for pod in node.pods.values():
            netns.delete(pod["ns"])
        netns.delete(node.ns)
        shutil.rmtree(node.dir, ignore_errors=True)
        self.nodes.remove(node)

    # -- pods --

    def namespace(self, name, labels=None):
        self.api.call("POST", "/api/v1/namespaces", {"metadata": {"name": name, "labels": labels or {}}})

    def pod(self, node, namespace, name, labels):
        """A pod on `node`: Pod object, ADD through the plugin (which asks weftd), status.podIPs.
        Returns its record (ns, address, add_ms, result)."""
        self.api.call("POST", f"/api/v1/namespaces/{namespace}/pods", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"nodeName": node.name, "automountServiceAccountToken": False,
                     "containers": [{"name": "c", "image": "busybox", "ports": [{"name": "http", "containerPort": 8080}]}]}})
        pod_ns = f"{node.ns}-{name}"
        netns.add(pod_ns, lo_up=False)
        env = {"PATH": PATH, "CNI_COMMAND": "ADD", "CNI_CONTAINERID": f"{self.id}-{node.name}-{name}",
               "CNI_NETNS": netns.path(pod_ns), "CNI_IFNAME": "eth0", "CNI_PATH": os.path.dirname(self.weft),
               "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE={namespace};K8S_POD_NAME={name}"}
        start = time.monotonic()
        result = subprocess.run(netns.enter(netns.path(node.ns)) + [self.weft], input=json.dumps(node.conf()).encode(),
                                env=env, capture_output=True)
        took = (time.monotonic() - start) * 1000
        if result.returncode != 0:
            raise RuntimeError(f"ADD {namespace}/{name} on {node.name} failed ({result.returncode}): "
                               f"{result.stdout[:600]!r} {result.stderr[:600]!r}")
        answer = json.loads(result.stdout)
        addresses = [ip["address"].split("/")[0] for ip in answer.get("ips", [])]
        self.api.pod_ips(namespace, name, addresses)
        record = {"ns": pod_ns, "address": addresses[0], "add_ms": took, "result": answer, "name": name, "namespace": namespace}
        node.pods[name] = record
        return record

    def in_pod(self, pod, args):
        return netns.enter(netns.path(pod["ns"])) + list(args)
