"""Cgroup hierarchies (cgroup v1, cgroupfs driver): each node's kubelet --cgroup-root is a subtree of
its own in every hierarchy."""

import os

CGROUP_ROOT = "/sys/fs/cgroup"


def cgroup_hierarchies(v2=True):
    """Cgroup hierarchies mounted under /sys/fs/cgroup (directory names): the v1 controllers and, on a
    hybrid host, the v2 `unified` tree (runc creates the containers' cgroups there too)."""
    names = []
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            if (fields[2] == "cgroup" or (v2 and fields[2] == "cgroup2")) and fields[1].startswith(CGROUP_ROOT + "/"):
                names.append(os.path.relpath(fields[1], CGROUP_ROOT))
    return sorted(set(names))
