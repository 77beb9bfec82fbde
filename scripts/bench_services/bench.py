"""The Services bench: the node, the client and servers, then at each number of Services (ascending, the
Services added between sizes while no proxy runs) each proxy in turn: started, measured, stopped, its rules
removed; then the report and the plot."""

import json
import os
import platform
import subprocess
import time

from .measurements import Measurements
from .node import ServicesNode
from .plot import draw
from .proxies import make_proxies
from .report import Report
from .settings import REPO, WEFT_KERNEL_MESSAGES_METRIC, env_levels, env_proxies, log
from .workload import create_background


class Bench(ServicesNode, Measurements, Report):
    """The whole run (scripts/bench-services.py describes it)."""

    def host_kube_rules(self):
        """KUBE- lines in the host's own namespace (read only), through both iptables backends (legacy's
        tables are invisible to iptables-nft and the other way round): kube-proxy must write none there."""
        fd = self.host_fd
        count = 0
        for save in ("iptables-legacy-save", "iptables-nft-save"):
            listed = subprocess.run(["nsenter", f"--net=/proc/self/fd/{fd}", save], pass_fds=[fd],
                                    capture_output=True, text=True, timeout=120)
            if listed.returncode != 0:
                raise RuntimeError(f"{save} in the host's namespace: {listed.returncode} {listed.stderr[-300:]}")
            count += sum(1 for line in listed.stdout.splitlines() if "KUBE-" in line)
        return count

    def save(self, rows, note):
        """Every number so far to SERVICES_RESULTS (after each proxy at each size: a run that fails later
        keeps what it measured)."""
        results = os.environ.get("SERVICES_RESULTS")
        if results:
            with open(results, "w") as out:
                json.dump({"note": note, "rows": rows}, out, indent=1)

    def run(self):
        started = time.monotonic()
        levels, update_sizes = env_levels()
        proxies = make_proxies(self, env_proxies(), os.environ.get("WEFT_KERNEL_MESSAGES_METRIC", WEFT_KERNEL_MESSAGES_METRIC))
        host_before = self.host_kube_rules()
        self.start_cluster()
        self.wire()
        self.create_change_service()
        rows = []
        present = 0
        for count in levels:
            begun = time.monotonic()
            create_background(self.servers, present, count)
            present = count
            log(f"{count} Services in the API ({time.monotonic() - begun:.1f} s to add them)")
            for proxy in proxies:
                rows.append(self.measure(proxy, count, with_updates=count in update_sizes))
                self.save(rows, "partial")
        host_after = self.host_kube_rules()
        if host_after != host_before:
            raise RuntimeError(f"the host's namespace has {host_after} KUBE- rules, {host_before} before the bench")
        self.report(rows, time.monotonic() - started)
        print("(" + "; ".join(p.label for p in proxies) + ")")
        note = (f"{'; '.join(p.label for p in proxies)}. {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, kernel "
                f"{platform.release()}, load average {os.getloadavg()[0]:.1f} at the end; scripts/bench-services.py")
        self.save(rows, note)
        path = os.environ.get("SERVICES_PLOT", os.path.join(REPO, "benchmarks", "services.png"))
        if draw(rows, path, note):
            print(f"\nplot: {os.path.relpath(path, REPO) if path.startswith(REPO) else path}")
        else:
            print("\n(no plot: python3-matplotlib is missing; make bench-deps)")
        print(f"(the host's namespace: {host_after} KUBE- rules before and after; kube-proxy wrote only in the node's)")
