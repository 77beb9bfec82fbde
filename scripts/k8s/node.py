"""One node of the e2e cluster: its names and paths, and commands and daemons run inside it. Its machine
(namespaces, cgroups, mounts), its daemons and its lifecycle are the mixins'."""

import os
import signal

from layout import NODE_IPS, NODE_IPS6, NODE_NAMES
from lib import netns
from lib.commands import run
from node_daemons import NodeDaemons
from node_lifecycle import NodeLifecycle
from node_machine import NodeMachine


class NodeHost(NodeMachine, NodeDaemons, NodeLifecycle):
    """One node's side: its network and mount namespaces, cgroup subtree, containerd, kubelet and
    kube-proxy. Node 1's paths are the cluster's run dir itself (the layout the single-node tier had);
    the others' are `nodes/<name>/` below it, their daemons named `<name>/<component>`."""

    def __init__(self, cluster, index):
        self.cluster = cluster
        self.index = index
        self.name, self.ip = NODE_NAMES[index], NODE_IPS[index]
        self.ip6 = NODE_IPS6[index] if cluster.dual_stack else None   # its IPv6 underlay address
        suffix = "" if index == 0 else str(index + 1)
        self.ns = f"wt-{cluster.id}-k8snode{suffix}"
        self.cgroup = f"weft-e2e-{cluster.id}" + ("" if index == 0 else f"-n{index + 1}")
        self.dir = cluster.dir if index == 0 else os.path.join(cluster.dir, "nodes", self.name)
        self.prefix = "" if index == 0 else f"{self.name}/"
        self.holder = None
        self._holder_process = None

    def __repr__(self):
        return f"<node {self.name} {self.ip}>"

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def node_net(self):
        """The node's network namespace through the holder (which lives in it): robust against a sweep
        that deletes the `ip netns` name while the cluster runs."""
        if self.holder:
            return f"/proc/{self.holder}/ns/net"
        return netns.path(self.ns)

    def node_view(self, path):
        """A path inside the node's mount namespace, as the host sees it."""
        return f"/proc/{self.holder}/root{path}"

    def in_node(self, *args, check=False, timeout=60, input=None, mount=True):
        """Runs a command in the node: its network namespace and (mount=True) its mount namespace."""
        prefix = netns.enter(self.node_net, mount=f"/proc/{self.holder}/ns/mnt" if mount else None)
        return run(prefix + list(args), check=check, timeout=timeout, input=input)

    def start(self, component, args, env=None):
        return self.cluster.start(self.prefix + component, args, env=env, node=self)

    def stop(self, component, sig=signal.SIGTERM, grace=10.0):
        self.cluster.stop(self.prefix + component, sig=sig, grace=grace)

    def alive(self, component):
        return self.cluster.alive(self.prefix + component)

    def log_tail(self, component, lines=30):
        return self.cluster.log_tail(self.prefix + component, lines)
