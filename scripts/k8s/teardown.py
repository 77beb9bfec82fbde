"""The cluster's teardown: every process stopped by PID, the cgroups, namespaces, stray mounts, the host
mount points no other cluster uses and the run dir removed; and what is left of it afterwards."""

import os
import shutil
import time

from cgroups import CGROUP_ROOT, cgroup_hierarchies
from host_mounts import mount_points_lock, mount_points_of_other_clusters
from layout import log
from lib import netns
from lib.commands import run
from lib.processes import process_table


class Teardown:
    """Cluster's down() and leftovers()."""

    def down(self):
        t = time.monotonic()
        for node in self.nodes:
            for component in ("kubelet", "kube-proxy"):
                node.stop(component, grace=5)
        for name in ("kube-scheduler", "kube-controller-manager", "dns"):
            self.stop(name, grace=5)
        self.kill_pods_and_shims()
        for node in self.nodes:
            node.stop("containerd", grace=10)
        for name in ("kube-apiserver", "etcd"):
            self.stop(name, grace=10)
        for name in list(self.daemons.entries):
            self.stop(name, grace=5)
        self.kill_pods_and_shims()
        for node in self.nodes:
            node.stop_holder()
        self.remove_cgroups()
        for ns in [node.ns for node in self.nodes] + [self.out_ns]:
            netns.delete(ns)
        with open("/proc/self/mounts") as mounts:
            stray = [line.split()[1] for line in mounts if line.split()[1].startswith(self.dir)]
        for mount in sorted(stray, reverse=True):
            run(["umount", "-l", mount], check=False)
        lock = mount_points_lock()
        try:
            in_use = mount_points_of_other_clusters(self.dir)
            for path in sorted(set(self.made_dirs) - in_use, key=len, reverse=True):
                try:
                    os.rmdir(path)
                except OSError:
                    pass
        finally:
            os.close(lock)
        shutil.rmtree(self.dir, ignore_errors=True)
        log(f"cluster {self.id} down in {time.monotonic() - t:.1f} s")

    def leftovers(self):
        """Anything of this cluster still on the host after down(); empty when clean."""
        found = {}
        named = netns.names()
        found["netns"] = [ns for ns in [n.ns for n in self.nodes] + [self.out_ns] if ns in named]
        found["cgroups"] = [f"{h}/{n.cgroup}" for h in cgroup_hierarchies() for n in self.nodes
                            if os.path.exists(os.path.join(CGROUP_ROOT, h, n.cgroup))]
        with open("/proc/self/mounts") as mounts:
            found["mounts"] = [line.split()[1] for line in mounts if self.id in line]
        mine = {os.getpid(), os.getppid()}
        found["processes"] = [pid for pid, (_, argv) in process_table().items()
                              if pid not in mine and any(self.dir in a for a in argv)]
        found["run dir"] = [self.dir] if os.path.exists(self.dir) else []
        return {k: v for k, v in found.items() if v}
