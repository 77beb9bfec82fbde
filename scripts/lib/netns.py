"""Network namespaces: named ones (`ip netns`, a bind mount under /var/run/netns), setns(2) for this
process, and commands entered into one. Nothing here touches the host's root network namespace: a
veth is created with both ends already inside their namespaces."""

import ctypes
import os

from .commands import run

CLONE_NEWNET = 0x40000000
_LIBC = ctypes.CDLL(None, use_errno=True)


def path(name):
    """The bind mount `ip netns add` makes for a named namespace."""
    return f"/var/run/netns/{name}"


def add(name, lo_up=True):
    """A named namespace (with lo up: nothing answers on 127.0.0.1 otherwise)."""
    run(["ip", "netns", "add", name])
    if lo_up:
        run(["ip", "-n", name, "link", "set", "lo", "up"])


def delete(name):
    """Deletes the name; the kernel frees the namespace once no process or mount holds it."""
    run(["ip", "netns", "delete", name], check=False)


def names():
    return [line.split(" ")[0] for line in run(["ip", "netns", "list"], check=False).stdout.splitlines() if line]


def delete_with_prefix(prefix):
    """Every named namespace starting with `prefix`, the longest names (the pods of a node) first."""
    for name in sorted((n for n in names() if n.startswith(prefix)), reverse=True):
        delete(name)


def add_veth(ns, name, peer_ns, peer_name):
    """A veth pair, `name` in `ns` and `peer_name` in `peer_ns`, both born there."""
    run(["ip", "-n", ns, "link", "add", name, "type", "veth", "peer", "name", peer_name, "netns", peer_ns])


def setns(fd):
    """Moves the calling thread (the whole process when it runs one thread, as the benches do) into the
    network namespace open at `fd`: the sockets it opens and the children it starts from then on are there."""
    if _LIBC.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


def enter(net, mount=None):
    """The nsenter prefix that runs a command in the network namespace at path `net` (and the mount
    namespace at path `mount`). nsenter execs the command, so its PID is the command's."""
    return ["nsenter"] + ([f"--mount={mount}"] if mount else []) + [f"--net={net}"]
