"""The policy bench: the node, the probe pods, the three measurements in order, the report."""

import subprocess
import sys
import time

from .measurements import Measurements
from .node import PolicyNode
from .report import Report
from .settings import ENTRY, PORT, PROBE_NS, log
from .workload import policy_path


class Bench(PolicyNode, Measurements, Report):
    """The whole run (scripts/bench-policy.py describes it)."""

    def run(self):
        started = time.monotonic()
        self.start_cluster()
        self.start_weftd()
        # The probe pods: client and web for (1), prober for (2), and an allow policy for the targets of (2).
        self.api.create(policy_path(PROBE_NS), {
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "allow-prober", "namespace": PROBE_NS},
            "spec": {"podSelector": {"matchLabels": {"app": "target"}}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "prober"}}}], "ports": [{"port": "http"}]}]}})
        client_ns, _ = self.real_pod(PROBE_NS, "client", {"role": "client"})
        self.client_ns = client_ns
        web_ns, web_ip = self.real_pod(PROBE_NS, "web", {"app": "web"})
        prober_ns, _ = self.real_pod(PROBE_NS, "prober", {"role": "prober"})
        self.prober_ns = prober_ns
        self.listener(web_ns, PORT)
        prober = self.spawn("prober", [sys.executable, "-B", ENTRY, "--probe", web_ip, str(PORT), str(self.interval_ms)], ns=client_ns,
                            stdout=subprocess.PIPE, stdin=subprocess.PIPE)
        self.settle(0.5)
        log(f"(1) on a node with only the probe pods: {self.rounds} rounds")
        quiet = self.enforcement(prober, "quiet")
        loaded_metrics = self.populate()
        log(f"(1) with {self.policy_count} policies and {self.pod_total} pods: {self.rounds} rounds")
        loaded = self.enforcement(prober, "loaded")
        log(f"(2, 3) {self.add_rounds} pairs of ADDs")
        adds = self.adds(self.pod_fds[prober_ns])
        self.report(quiet, loaded, adds, loaded_metrics, time.monotonic() - started)
