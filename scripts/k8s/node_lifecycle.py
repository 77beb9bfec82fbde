"""What happens to a node during the tests: its pods' processes found and killed, a reboot simulated, the
machine replaced by a new one of the same name."""

import os
import shutil
import time

from cgroups import CGROUP_ROOT
from layout import CLUSTER_CIDR, CLUSTER_CIDR6, UPLINK
from lib import netns
from lib.processes import kill_pid, process_table


class NodeLifecycle:
    """NodeHost's crashes, reboots and replacement."""

    def pod_pids(self):
        """Every process in the node's cgroup subtree (pods' containers and pause processes)."""
        pids = set()
        for hierarchy in ("pids", "memory", "cpu", "freezer", "devices"):
            base = os.path.join(CGROUP_ROOT, hierarchy, self.cgroup)
            if not os.path.isdir(base):
                continue
            for root, _dirs, files in os.walk(base):
                if "cgroup.procs" in files:
                    try:
                        with open(os.path.join(root, "cgroup.procs")) as procs:
                            pids.update(int(p) for p in procs.read().split())
                    except OSError:
                        pass
        return pids

    def shim_pids(self):
        table = process_table()
        return [pid for pid, (_, argv) in table.items()
                if argv and os.path.basename(argv[0]).startswith("containerd-shim")
                and self._in_holder_mount_ns(pid)]

    def _in_holder_mount_ns(self, pid):
        try:
            return self.holder and os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink(f"/proc/{self.holder}/ns/mnt")
        except OSError:
            return False

    def kill_pods_and_shims(self):
        for _ in range(50):
            pids = self.pod_pids() | set(self.shim_pids())
            if not pids:
                return
            for pid in pids:
                kill_pid(pid)
            time.sleep(0.2)

    def simulate_reboot(self):
        """What a node reboot does to the node's side (the control plane, on node 1 here, stays):
        kubelet, kube-proxy, containerd and every pod process die; /run (a tmpfs: containerd's state, the
        pods' netns mounts, Weft's store, flannel's subnet.env) is emptied; the pods' network namespaces
        vanish with their veths, and so do the bridge, the vxlan device, every route and neighbour of
        another node, Weft's nft tables and kube-proxy's iptables rules."""
        self.stop_node_side()
        # A lazy unmount detaches the tmpfs with everything mounted below it (the pods' netns files).
        script = "set -e; umount -l /run; mount -t tmpfs -o mode=0755 tmpfs /run; mkdir -p /run/weft /run/containerd"
        self.in_node("sh", "-c", script, check=True)
        # A fresh boot has no cgroups below the root either (kubelet's cadvisor would otherwise spend
        # seconds on each dead container's cgroup before kubelet syncs a pod).
        self.remove_cgroups(keep_root=True)
        for args in (["nft", "flush", "ruleset"], ["conntrack", "-F"], ["ip", "neigh", "flush", "all"]):
            self.in_node(*args, mount=False)
        links = self.in_node("ip", "-o", "link", "show", mount=False).stdout
        for line in links.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name not in (UPLINK, "lo"):
                self.in_node("ip", "link", "delete", name, mount=False)
        # Routes of the pod network (host-gw's via other nodes) went with the links or are flushed here.
        self.in_node("ip", "route", "flush", "root", CLUSTER_CIDR, mount=False)
        if self.ip6:
            self.in_node("ip", "-6", "route", "flush", "root", CLUSTER_CIDR6, mount=False)

    def replace(self):
        """This node's machine replaced by a new one of the same name and address: the old one's
        processes, mounts, namespaces, cgroups and disks gone; a fresh one provisioned (the images
        imported, the loopback plugin in place) and its containerd, kubelet and kube-proxy started."""
        if self.index == 0:
            raise ValueError("node 1 runs the control plane: it cannot be replaced")
        self.stop_node_side()
        self.stop_holder()
        self.remove_cgroups()
        netns.delete(self.ns)
        shutil.rmtree(self.dir)
        self.make_dirs()
        self.network()
        self.cgroups()
        self.mount_namespace()
        self.write_containerd_config()
        self.start_node_side(self.cluster.images + ([self.cluster.weft_image] if self.cluster.weft_image else []))
