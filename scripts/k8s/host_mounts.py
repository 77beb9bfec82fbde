"""The mount points a cluster makes on the host (empty directories its nodes bind their own over, in
their private mount namespaces), shared between the clusters on this machine and removed by the last
one down."""

import fcntl
import glob
import json
import os

from lib.processes import start_time


def mount_points_lock():
    """An exclusive flock held while a cluster makes or removes host mount points. Every e2e cluster on
    this machine takes it, whichever tree it runs from (the lock is on /tmp itself)."""
    fd = os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def mount_points_of_other_clusters(own_dir):
    """The host mount points (made_dirs) of every other live e2e cluster. Removing a directory that is
    a mount point in another mount namespace detaches that mount there (Linux >= 3.18): a cluster
    tearing down must leave alone the empty /opt/cni/bin another cluster's nodes have their own bin
    directory bound on, or their kubelets lose the loopback plugin mid-run."""
    dirs = set()
    for state_file in glob.glob("/tmp/weft-e2e-*/state.json"):
        if os.path.dirname(state_file) == own_dir:
            continue
        try:
            with open(state_file) as f:
                state = json.load(f)
        except (OSError, ValueError):
            continue
        if any(n.get("holder") and start_time(n["holder"]) == n.get("holder_start") for n in state.get("nodes", [])):
            dirs.update(state.get("made_dirs", []))
    return dirs
