"""The bench's node: one throwaway network namespace with the control plane (scripts/lib/apiserver.py's
bring-up through scripts/kube_lab.py), routed to a client namespace and to server namespaces over veths
(no bridge: every packet between client and servers is forwarded by the node, so a proxy's DNAT and its
reversal on the replies happen in the node namespace, with no br_netfilter). This process joins it with
setns(2); the prober runs in the client namespace."""

import os
import subprocess
import sys

import kube_lab
from kube_lab import Api
from lib import netns
from lib.commands import run

from .settings import CLIENT_ADDRESS, ENTRY, NAMESPACE, NODE, OPEN_SERVERS, TARGET_PORT, TOKEN, env_int, log

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ServicesNode(kube_lab.BenchNode):
    def __init__(self):
        super().__init__("bench-services", log)
        self.client_ns = f"{self.prefix}client"
        self.rounds = env_int("SERVICE_ROUNDS", 10)
        self.budget_s = float(os.environ.get("SERVICE_BUDGET_S", "60"))
        self.give_up_s = float(os.environ.get("SERVICE_GIVE_UP_S", "900"))  # one change never served in that time fails the run
        self.first_packets = env_int("FIRST_PACKETS", 200)
        self.rate_seconds = float(os.environ.get("RATE_SECONDS", "2"))
        self.interval_ms = float(os.environ.get("PROBE_INTERVAL_MS", "1"))
        self.api = Api("127.0.0.1", TOKEN)
        self.servers = []  # the open servers' addresses
        self.closed_server = None  # a server namespace with no listener: connections to it are refused
        self.prober = None

    def start_cluster(self):
        took = self.start_node()  # from here on, this process and its children live in the node namespace
        log(f"kube-apiserver ready in {took:.1f} s")
        self.api.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
        # kube-proxy reads its node's addresses from it, weftd refuses to start for a node the API lacks.
        self.api.create("/api/v1/nodes", {"metadata": {"name": NODE}})

    def link(self, ns, index, address):
        """A veth from the node (`v<index>`, 10.64/65.x.1/24 on its side) into `ns` (eth0, `address`/24,
        default route via the node)."""
        gateway = address.rsplit(".", 1)[0] + ".1"
        netns.add_veth(self.node_ns, f"v{index}", ns, "eth0")
        run(["ip", "-n", self.node_ns, "addr", "add", f"{gateway}/24", "dev", f"v{index}"])
        run(["ip", "-n", self.node_ns, "link", "set", f"v{index}", "up"])
        run(["ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        run(["ip", "-n", ns, "route", "add", "default", "via", gateway])

    def wire(self):
        """The client, OPEN_SERVERS servers with a listener on TARGET_PORT, one server without."""
        # Forwarding in the node namespace only (a per-namespace sysctl; the host's is not touched).
        run(["ip", "netns", "exec", self.node_ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
        self.add_netns(self.client_ns)
        self.link(self.client_ns, 0, CLIENT_ADDRESS)
        for i in range(1, OPEN_SERVERS + 2):
            ns, address = f"{self.prefix}s{i}", f"10.64.{i}.2"
            self.add_netns(ns)
            self.link(ns, i, address)
            if i <= OPEN_SERVERS:
                self.listener(ns, TARGET_PORT)
                self.servers.append(address)
            else:
                self.closed_server = address
        self.prober = self.spawn("prober", netns.enter(netns.path(self.client_ns)) + [sys.executable, "-B", ENTRY, "--probe",
                                                                                      str(self.interval_ms)],
                                 stdout=subprocess.PIPE, stdin=subprocess.PIPE)

    # -- the prober --

    def ask(self, command):
        self.prober.stdin.write((command + "\n").encode())
        self.prober.stdin.flush()
        return self.answer(command)

    def answer(self, what):
        line = self.prober.stdout.readline().decode().strip()
        if not line:
            raise RuntimeError(f"the prober exited ({what}): {self.tail('prober')}")
        return line

    # -- a process's cost, from /proc --

    @staticmethod
    def cpu_seconds(pid):
        """User and system time of the process and of the children it waited for (kube-proxy's
        iptables-restore runs), in seconds."""
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLOCK_TICKS

    @staticmethod
    def rss_kib(pid):
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0
