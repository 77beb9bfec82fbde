#!/usr/bin/env python3
"""A throwaway Kubernetes 1.20 cluster of one or more nodes inside network namespaces, for Weft's e2e
tier (GUIDE §11: several nodes on one machine).

- The underlay: `wt-<id>-k8sout`, the "outside", holds a bridge with OUTSIDE_IP (it reaches hostPorts
  the way another machine would); every node's `eth0` is a veth whose peer is a port of that bridge, so
  the nodes reach each other (and vxlan's UDP 8472 crosses) as machines on one L2 segment do.
- Node 1 (`wt-<id>-k8snode`, NODE_IP, NODE_NAME) runs the control plane too: etcd, kube-apiserver,
  controller-manager (it gives every Node a podCIDR), scheduler and the DNS stand-in. Every node runs its
  own containerd, kubelet and kube-proxy (its iptables rules land in the node's namespace).
- Each node has a private mount namespace held by a `sleep` (like Tests/cri's CriNode): a tmpfs /run
  (containerd's state and pod netns mounts, Weft's store /run/weft/ipam and flannel's /run/flannel: a
  node's tmpfs, emptied by the simulated reboot), its own /etc/cni/net.d, /opt/cni/bin, /var/lib/cni,
  /var/log and /var/lib/kubelet/device-plugins (kubelet's hard-coded socket) bound from its run
  directory, so a DaemonSet's hostPaths land on that node; and, so kubelet leaves the host's sysctls
  alone, files holding the values kubelet wants bound over /proc/sys/vm/overcommit_memory, kernel/panic,
  kernel/panic_on_oops (kubelet only writes a tunable that differs). The host's /run/netns mounts copied
  into it are unmounted there first: a copy would keep other namespaces alive.
- Dual-stack (`Cluster(dual_stack=True)`, `up --dual-stack`): every eth0 also has an IPv6 address on
  the underlay's 2001:db8::/64 and an IPv6 default route via the bridge's; the IPv6DualStack feature
  gate on apiserver, controller-manager, kubelet (`--node-ip` of both families) and kube-proxy; cluster
  and service CIDRs of both families, each Node an IPv4 /MASK and an IPv6 /MASK6 podCIDR.
- Each node a cgroup subtree (`/weft-e2e-<id>`, `/weft-e2e-<id>-n2`, ...) in every v1 hierarchy
  (kubelet's --cgroup-root).

`down()` stops every process by PID (pods found through the cgroup subtrees, shims through their mount
namespace), removes the cgroups, the namespaces and the run directory; nothing is mounted in the host's
mount namespace and nothing is added to its network namespace.

CLI: cluster.py up [--mask 24] [--nodes 3] [--dual-stack] (prints the run dir, leaves it running) | cluster.py down RUN_DIR
"""

import argparse
import json
import os
import secrets
import signal
import sys
import threading
import time

from layout import (CLUSTER_CIDR, CLUSTER_CIDR6, DUAL_STACK_GATE, HERE, NODE_IP, NODE_NAME, NODE_NAMES, REPO,
                    SERVICE_CIDR, SERVICE_CIDR6, UPLINK, log)
from cgroups import CGROUP_ROOT
from control_plane import ControlPlane
from lib import netns
from lib.commands import run, wait_until
from lib.processes import Daemons, start_time
from node import NodeHost
from pki import Certificates
from teardown import Teardown
from underlay import Underlay

# What the e2e tier (Tests/e2e) and scripts/kube_lab.py import from here.
__all__ = ["CGROUP_ROOT", "CLUSTER_CIDR", "CLUSTER_CIDR6", "Cluster", "NODE_IP", "NODE_NAME", "UPLINK", "default_paths",
           "run", "wait_until"]


class Cluster(Underlay, Certificates, ControlPlane, Teardown):
    def __init__(self, kube_bin, images, weft_image=None, mask=24, run_dir=None, nodes=1, cluster_id=None,
                 dual_stack=False, mask6=64, kube_proxy=True):
        """kube_bin: the cache's bin dir (build.sh); images: OCI archives to import (pause, agnhost,
        busybox); weft_image: .build/weft-image.tar (imported, then installed by deploy/weft.yaml);
        nodes: how many nodes (node 1 runs the control plane too); mask: the IPv4 podCIDRs' length;
        dual_stack: IPv6 too (underlay, pod network with podCIDRs of length mask6, services);
        kube_proxy: False leaves Services to weftd --services (no kube-proxy on any node)."""
        if not 1 <= nodes <= len(NODE_NAMES):
            raise ValueError(f"nodes must be 1..{len(NODE_NAMES)}")
        self.kube_bin = kube_bin
        self.images = list(images)
        self.weft_image = weft_image
        self.mask = mask
        self.dual_stack = dual_stack
        self.mask6 = mask6
        self.kube_proxy = kube_proxy
        self.id = cluster_id or secrets.token_hex(4)
        self.dir = run_dir or f"/tmp/weft-e2e-{self.id}"
        self.out_ns = f"wt-{self.id}-k8sout"
        # Every daemon and holder, name -> [pid, starttime, argv0], saved in state.json after each change.
        self.daemons = Daemons(self.path("logs"), on_change=self.save)
        self.made_dirs = []          # host mount points created for the private mounts
        self.timings = {}
        self.started_at = None
        self._state_lock = threading.Lock()   # nodes start side by side, each saving the state
        self.nodes = [NodeHost(self, index) for index in range(nodes)]

    # ---- node 1, as the single-node tier knew the cluster ----------------------------------------

    @property
    def first(self):
        return self.nodes[0]

    @property
    def node_ns(self):
        return self.first.ns

    @property
    def cgroup(self):
        return self.first.cgroup

    @property
    def holder(self):
        return self.first.holder

    @property
    def node_net(self):
        return self.first.node_net

    def node_view(self, path):
        return self.first.node_view(path)

    def in_node(self, *args, **kwargs):
        return self.first.in_node(*args, **kwargs)

    @property
    def cluster_cidrs(self):
        """The pod network(s), as --cluster-cidr takes them."""
        return CLUSTER_CIDR + (f",{CLUSTER_CIDR6}" if self.dual_stack else "")

    @property
    def service_cidrs(self):
        """The service range(s), as --service-cluster-ip-range takes them."""
        return SERVICE_CIDR + (f",{SERVICE_CIDR6}" if self.dual_stack else "")

    @property
    def gates(self):
        """The feature gates every Kubernetes component of this cluster gets."""
        return [DUAL_STACK_GATE] if self.dual_stack else []

    def node(self, name):
        """The NodeHost of a Node name."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node {name} in this cluster")

    # ---- paths --------------------------------------------------------------------------------

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def kubeconfig(self):
        return self.path("pki", "admin.kubeconfig")

    @property
    def state_file(self):
        return self.path("state.json")

    # ---- running things -------------------------------------------------------------------------

    def kubectl(self, *args, check=True, timeout=120, input=None):
        return run(netns.enter(self.node_net) + [os.path.join(self.kube_bin, "kubectl"), "--kubeconfig", self.kubeconfig]
                   + list(args), check=check, timeout=timeout, input=input)

    def kubectl_json(self, *args, timeout=60):
        return json.loads(self.kubectl(*args, "-o", "json", timeout=timeout).stdout)

    def start(self, name, args, env=None, node=None):
        """Starts a daemon in a node (both namespaces; node 1 by default), output to logs/<name>.log, in
        its own session."""
        node = node or self.first
        return self.daemons.start(name, args, prefix=netns.enter(node.node_net, mount=f"/proc/{node.holder}/ns/mnt"),
                                  env=env)

    def alive(self, name):
        return self.daemons.alive(name)

    def stop(self, name, sig=signal.SIGTERM, grace=10.0):
        """Stops one daemon by PID (checked against its start time), SIGKILL after `grace`."""
        self.daemons.stop(name, sig, grace)

    def log_tail(self, name, lines=30):
        return self.daemons.log_tail(name, lines)

    def save(self):
        with self._state_lock:
            state = {"id": self.id, "dir": self.dir, "out_ns": self.out_ns, "nodes": [n.state() for n in self.nodes],
                     "procs": dict(self.daemons.entries), "made_dirs": list(self.made_dirs), "kube_bin": self.kube_bin,
                     "dual_stack": self.dual_stack}
            if os.path.isdir(self.dir):
                with open(self.state_file + ".tmp", "w") as out:
                    json.dump(state, out)
                os.replace(self.state_file + ".tmp", self.state_file)

    @classmethod
    def load(cls, run_dir):
        with open(os.path.join(run_dir, "state.json")) as f:
            state = json.load(f)
        cluster = cls(state["kube_bin"], [], run_dir=state["dir"], nodes=len(state["nodes"]), cluster_id=state["id"],
                      dual_stack=state.get("dual_stack", False))
        cluster.daemons.entries, cluster.made_dirs = state["procs"], state["made_dirs"]
        for node, saved in zip(cluster.nodes, state["nodes"]):
            if saved["holder"] and start_time(saved["holder"]) == saved["holder_start"]:
                node.holder = saved["holder"]
        return cluster

    # ---- bring-up -------------------------------------------------------------------------------

    def up(self, install_weft=True):
        t0 = self.started_at = time.monotonic()
        for sub in ("pki", "logs", "etcd", "manifests"):
            os.makedirs(self.path(sub), exist_ok=True)
        for node in self.nodes:
            node.make_dirs()
        self.save()
        self._certificates()
        self._underlay()
        for node in self.nodes:
            node.network()
            node.cgroups()
        # etcd's data on a tmpfs in node 1's mount namespace.
        self.first.mount_namespace([f"mount -t tmpfs -o size=1g,mode=0700 tmpfs {self.path('etcd')}"])
        for node in self.nodes[1:]:
            node.mount_namespace()
        self._configs()
        self._control_plane()
        self.timings["control plane"] = time.monotonic() - t0
        self._start_nodes(self.nodes)
        self._dns()
        self.timings["node components"] = time.monotonic() - t0
        if install_weft:
            self.install_weft()
            log(f"cluster of {len(self.nodes)} up, nodes Ready in {self.timings['node Ready']:.1f} s (control plane "
                f"{self.timings['control plane']:.1f} s); run dir {self.dir}")
        else:
            log(f"cluster of {len(self.nodes)} up in {time.monotonic() - t0:.1f} s, nodes waiting for a network; "
                f"run dir {self.dir}")
        return self

    def _configs(self):
        for node in self.nodes:
            node.write_containerd_config()
        with open(self.path("resolv.conf"), "w") as f:
            f.write(f"nameserver {NODE_IP}\n")

    def _start_nodes(self, nodes):
        """Each node's containerd, the images imported, kubelet and kube-proxy; waits for the Node objects."""
        t = time.monotonic()
        archives = self.images + ([self.weft_image] if self.weft_image else [])
        errors = []

        def bring_up(node):
            try:
                node.start_node_side(archives)
            except Exception as error:  # reported below, with the node's name
                errors.append(f"{node.name}: {error}")
        threads = [threading.Thread(target=bring_up, args=(node,)) for node in nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise RuntimeError("; ".join(errors))
        self.timings["image import and node start"] = time.monotonic() - t
        for node in nodes:
            wait_until(lambda: self.kubectl("get", "node", node.name, check=False).returncode == 0, 90, interval=0.5,
                       what=f"the Node object {node.name}")

    # ---- node 1's side, as the single-node tests call it --------------------------------------

    def start_containerd(self, timeout=60):
        self.first.start_containerd(timeout)

    def start_kubelet(self):
        self.first.start_kubelet()

    def start_kube_proxy(self):
        self.first.start_kube_proxy()

    def ctr(self, *args, **kwargs):
        return self.first.ctr(*args, **kwargs)

    def import_image(self, archive):
        self.first.import_image(archive)

    def pod_pids(self):
        return set().union(*(node.pod_pids() for node in self.nodes))

    def kill_pods_and_shims(self):
        for node in self.nodes:
            node.kill_pods_and_shims()

    def simulate_reboot(self):
        self.first.simulate_reboot()

    def start_node_side(self):
        self.first.start_containerd()
        self.first.start_kubelet()
        if self.kube_proxy:
            self.first.start_kube_proxy()

    def remove_cgroups(self, keep_root=False):
        for node in self.nodes:
            node.remove_cgroups(keep_root)

    # ---- teardown -------------------------------------------------------------------------------



def default_paths():
    """(kube bin dir, [image archives]) of the cache for the current source package version."""
    out = run(["bash", "-c", f". {HERE}/common.sh && apt_private_update >/dev/null && k8s_cache_dir"], timeout=300)
    cache = out.stdout.strip()
    images = [os.path.join(cache, "images", name) for name in ("pause.tar", "agnhost.tar", "busybox.tar")]
    return os.path.join(cache, "bin"), images


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up")
    up.add_argument("--mask", type=int, default=24)
    up.add_argument("--nodes", type=int, default=1)
    up.add_argument("--dual-stack", action="store_true", help="IPv6 too (IPv6DualStack feature gate)")
    up.add_argument("--weft-image", default=os.path.join(REPO, ".build", "weft-image.tar"))
    up.add_argument("--no-weft", action="store_true")
    down = sub.add_parser("down")
    down.add_argument("run_dir")
    args = parser.parse_args()
    if args.command == "up":
        kube_bin, images = default_paths()
        cluster = Cluster(kube_bin, images, None if args.no_weft else args.weft_image, mask=args.mask,
                          nodes=args.nodes, dual_stack=args.dual_stack)
        try:
            cluster.up(install_weft=not args.no_weft)
        except BaseException:
            cluster.down()
            raise
        print(cluster.dir)
    else:
        cluster = Cluster.load(args.run_dir)
        cluster.down()
        left = cluster.leftovers()
        if left:
            print(f"left behind: {left}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
