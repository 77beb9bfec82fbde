"""The underlay: the outside namespace `wt-<id>-k8sout` and its bridge, the L2 segment every node's eth0 is
plugged into (and where the host's view of the nodes comes from)."""

from layout import OUTSIDE_IP, OUTSIDE_IP6, UNDERLAY_BRIDGE
from lib import netns
from lib.commands import run


class Underlay:
    """Cluster's outside namespace."""

    @property
    def outside_net(self):
        holder = self.daemons.pid("outside-holder")
        return f"/proc/{holder}/ns/net" if holder else netns.path(self.out_ns)

    def in_outside(self, *args, check=False, timeout=60):
        return run(netns.enter(self.outside_net) + list(args), check=check, timeout=timeout)

    def _underlay(self):
        """The outside namespace and its bridge, the L2 segment every node's eth0 is plugged into. A
        `sleep` lives in it, as a holder lives in each node's: a sweep that deletes the `ip netns` name
        while the cluster runs must not take the underlay (and every node's eth0) with it."""
        netns.add(self.out_ns)
        self.save()
        self.daemons.start("outside-holder", ["sleep", "infinity"], prefix=netns.enter(netns.path(self.out_ns)))
        run(["ip", "-n", self.out_ns, "link", "add", UNDERLAY_BRIDGE, "type", "bridge"])
        run(["ip", "-n", self.out_ns, "addr", "add", f"{OUTSIDE_IP}/24", "dev", UNDERLAY_BRIDGE])
        if self.dual_stack:
            run(["ip", "-n", self.out_ns, "addr", "add", f"{OUTSIDE_IP6}/64", "dev", UNDERLAY_BRIDGE, "nodad"])
        run(["ip", "-n", self.out_ns, "link", "set", UNDERLAY_BRIDGE, "up"])
