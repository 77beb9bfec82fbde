"""A private mount namespace held by a `sleep`: the mounts a node makes (its /run, its CNI directories,
containerd's pod netns files) live only there, so the host's mount table is never touched, and they
vanish with the holder and the last process that joined it (`nsenter --mount=/proc/<holder>/ns/mnt`)."""

import select
import subprocess

from . import netns
from .commands import PATH_ENV
from .processes import stop_process


def start_holder(script, what, net=None, timeout=60):
    """Runs `script` (shell lines, under `set -e`) in a new mount namespace with private propagation (its
    mounts never reach the host's), in the network namespace at path `net` if given, then `sleep`s there.
    Returns the holder (Popen) once the script is through; RuntimeError with its stderr otherwise."""
    text = "\n".join(["set -e", *script, "echo ready", "exec sleep infinity"])
    holder = subprocess.Popen((netns.enter(net) if net else [])
                              + ["unshare", "--mount", "--propagation", "private", "sh", "-c", text],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=PATH_ENV,
                              start_new_session=True)
    ready, _, _ = select.select([holder.stdout], [], [], timeout)
    line = holder.stdout.readline() if ready else f"<no answer in {timeout} s>"
    if line.strip() != "ready":
        stop_process(holder, grace=2)
        error = holder.stderr.read()
        holder.stdout.close()
        holder.stderr.close()
        raise RuntimeError(f"mount namespace setup of {what} failed: {line} {error}")
    holder.stdout.close()
    holder.stderr.close()
    return holder
