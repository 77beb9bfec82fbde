"""A node's machine: its directories, network namespace on the underlay, cgroup subtree and private mount
namespace (held by a `sleep`), made and removed."""

import os
import time

from cgroups import CGROUP_ROOT, cgroup_hierarchies
from host_mounts import mount_points_lock, mount_points_of_other_clusters
from layout import OUTSIDE_IP, OUTSIDE_IP6, UNDERLAY_BRIDGE, UPLINK
from lib import netns
from lib.commands import run, wait_until
from lib.mount_namespace import start_holder
from lib.processes import kill_pid, start_time

# What kubelet's setupKernelTunables wants: bound read-only in the private mount namespace where the
# host's value differs, so kubelet finds them set and writes nothing.
KUBELET_TUNABLES = {"vm/overcommit_memory": 1, "vm/panic_on_oom": 0, "kernel/panic": 10,
                    "kernel/panic_on_oops": 1, "kernel/keys/root_maxkeys": 1000000,
                    "kernel/keys/root_maxbytes": 25000000}


class NodeMachine:
    """NodeHost's machine: made by make_dirs, network, cgroups and mount_namespace (in that order)."""

    def make_dirs(self):
        for sub in ("logs", "kubelet", "kubelet-plugins", "device-plugins", "containerd-root", "cni-bin",
                    "cni-net.d", "cni-cache", "var-log", "tunables"):
            os.makedirs(self.path(sub), exist_ok=True)

    def network(self):
        """The node's namespace, its eth0 a port of the underlay bridge, a default route through the
        outside; both veth ends are born inside their namespaces (nothing appears in the host's)."""
        out_ns = self.cluster.out_ns
        netns.add(self.ns)
        self.cluster.save()
        port = f"n{self.index + 1}"
        netns.add_veth(self.ns, UPLINK, out_ns, port)
        run(["ip", "-n", out_ns, "link", "set", port, "master", UNDERLAY_BRIDGE])
        run(["ip", "-n", self.ns, "addr", "add", f"{self.ip}/24", "dev", UPLINK])
        if self.ip6:
            # nodad: usable at once (no other machine on this segment can hold it).
            run(["ip", "-n", self.ns, "addr", "add", f"{self.ip6}/64", "dev", UPLINK, "nodad"])
        run(["ip", "-n", out_ns, "link", "set", port, "up"])
        run(["ip", "-n", self.ns, "link", "set", UPLINK, "up"])
        # A default route (kube-apiserver, kubelet, kube-proxy and weftd pick the node's address from it).
        run(["ip", "-n", self.ns, "route", "add", "default", "via", OUTSIDE_IP])
        if self.ip6:
            # And one for IPv6: the node's own connections to IPv6 ClusterIPs are routed before
            # kube-proxy's DNAT (OUTPUT), as a dual-stack machine's are.
            run(["ip", "-n", self.ns, "-6", "route", "add", "default", "via", OUTSIDE_IP6, "dev", UPLINK])
        # As a node's OS is set up for Kubernetes (kubeadm's preflight checks these): forwarding, and
        # bridged pod-to-pod traffic through iptables so a Service's DNAT is undone on the reply.
        sysctls = {"net/ipv4/ip_forward": "1", "net/bridge/bridge-nf-call-iptables": "1",
                   "net/bridge/bridge-nf-call-ip6tables": "1"}
        if self.ip6:
            sysctls["net/ipv6/conf/all/forwarding"] = "1"
        for key, value in sysctls.items():
            run(netns.enter(netns.path(self.ns)) + ["sh", "-c", f"echo {value} > /proc/sys/{key}"])

    def cgroups(self):
        for hierarchy in cgroup_hierarchies(v2=False):
            path = os.path.join(CGROUP_ROOT, hierarchy, self.cgroup)
            os.makedirs(path, exist_ok=True)
            if hierarchy == "cpuset":
                for knob in ("cpuset.cpus", "cpuset.mems"):
                    with open(os.path.join(CGROUP_ROOT, hierarchy, knob)) as parent:
                        value = parent.read().strip()
                    with open(os.path.join(path, knob), "w") as child:
                        child.write(value)
        self.cluster.save()

    def mount_namespace(self, extra_script=()):
        # Held until the holder is saved: before that, this cluster is not live to the others'
        # down() (mount_points_of_other_clusters), which could remove a mount point it is binding.
        lock = mount_points_lock()
        try:
            self._mount_namespace(extra_script)
        finally:
            os.close(lock)

    def _mount_namespace(self, extra_script):
        mounts = {"/etc/cni/net.d": self.path("cni-net.d"), "/opt/cni/bin": self.path("cni-bin"),
                  "/var/lib/cni": self.path("cni-cache"), "/var/log": self.path("var-log"),
                  "/var/lib/kubelet/device-plugins": self.path("device-plugins")}
        shared = mount_points_of_other_clusters(self.cluster.dir)
        for target in mounts:
            if not os.path.isdir(target):
                # An empty mount point (removed again by down()); the bind lives only in the private namespace.
                missing = []
                probe = target
                while not os.path.exists(probe):
                    missing.append(probe)
                    probe = os.path.dirname(probe)
                os.makedirs(target)
                self.cluster.made_dirs.extend(missing)
            # One another live cluster made: this one uses it too, and the last one down removes it.
            self.cluster.made_dirs.extend(d for d in shared if (target + "/").startswith(d + "/")
                                          and d not in self.cluster.made_dirs)
        self.cluster.save()
        # The copies of the host's `ip netns` mounts would pin those namespaces (other nodes', other
        # tests') for as long as this node lives: unmounted here first (private propagation: the host
        # keeps its own).
        script = ["if mountpoint -q /run/netns; then umount -l /run/netns; fi", *extra_script,
                  "mount -t tmpfs -o mode=0755 tmpfs /run", "mkdir -p /run/weft /run/containerd"]
        for target, source in mounts.items():
            script.append(f"mount --bind {source} {target}")
        for key, wanted in KUBELET_TUNABLES.items():
            with open(f"/proc/sys/{key}") as current:
                if int(current.read().split()[0]) == wanted:
                    continue
            fake = self.path("tunables", key.replace("/", "_"))
            with open(fake, "w") as f:
                f.write(f"{wanted}\n")
            script.append(f"mount --bind -o ro {fake} /proc/sys/{key}")
        holder = start_holder(script, self.name, net=netns.path(self.ns))
        self.holder = holder.pid
        self._holder_process = holder
        self.cluster.save()

    def remove_cgroups(self, keep_root=False):
        """rmdir the node's cgroup subtree, deepest first, in every hierarchy (processes must be gone)."""
        for hierarchy in cgroup_hierarchies():
            base = os.path.join(CGROUP_ROOT, hierarchy, self.cgroup)
            if not os.path.isdir(base):
                continue
            for root, _dirs, _files in sorted(os.walk(base), key=lambda item: -item[0].count("/")):
                if keep_root and root == base:
                    continue
                for _ in range(50):
                    try:
                        os.rmdir(root)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.1)

    def stop_holder(self):
        if self.holder and start_time(self.holder):
            kill_pid(self.holder)
            if self._holder_process is not None:
                self._holder_process.wait(timeout=10)
            else:
                wait_until(lambda: start_time(self.holder) is None, 10, what=f"the mount holder of {self.name} to exit")
        self.holder = None

    def state(self):
        return {"holder": self.holder, "holder_start": start_time(self.holder) if self.holder else None}
