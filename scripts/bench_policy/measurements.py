"""What the bench measures: (1) NetworkPolicy create → enforced and delete → lifted, seen by a prober;
(2) ADD start → first answered connection; (3) ADD with and without `networkPolicy`."""

import select
import subprocess
import time

from kube_lab import setns
from lib.prober import answered, connect_nonblocking

from .settings import NODE, PORT, PROBE_NS, log, now_ns
from .stats import histogram_mean
from .workload import pod_object, policy_path


class Measurements:
    """PolicyNode's measurements."""

    def enforcement(self, prober, label):
        deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "deny-web", "namespace": PROBE_NS},
                "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                         "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "monitor"}}}], "ports": [{"port": "http"}]}]}}
        rows = {"create": [], "delete": []}
        for _ in range(self.rounds):
            for action in ("create", "delete"):
                before_metrics = self.metrics()
                applies = before_metrics.get("weftd_policy_applies_total", 0)
                prober.stdin.write(b"drop\n" if action == "create" else b"ok\n")
                prober.stdin.flush()
                line = prober.stdout.readline().decode().strip()
                if line != "ready":
                    raise RuntimeError(f"prober: {line or 'exited'} (before {action}, {label})")
                before = now_ns()
                if action == "create":
                    self.api.create(policy_path(PROBE_NS), deny)
                else:
                    self.api.delete(f"{policy_path(PROBE_NS)}/deny-web")
                returned = now_ns()
                done = prober.stdout.readline().decode().split()
                if len(done) != 4 or done[1] == "-":
                    raise RuntimeError(f"prober: no stable {'drop' if action == 'create' else 'answer'} after {action} ({label}): {done}")
                first, previous, attempts = int(done[1]), (int(done[2]) if done[2] != "-" else None), int(done[3])
                time.sleep(0.05)
                m = self.metrics()
                rows[action].append({"api": (returned - before) / 1e6, "from_return": (first - returned) / 1e6,
                                     "from_call": (first - before) / 1e6,
                                     "resolution": (first - previous) / 1e6 if previous else float("nan"),
                                     "weftd": histogram_mean(m, "weftd_policy_event_to_kernel_seconds", before_metrics) * 1000,
                                     "compile": histogram_mean(m, "weftd_policy_compile_duration_seconds", before_metrics) * 1000,
                                     "applies": m.get("weftd_policy_applies_total", 0) - applies, "attempts": attempts})
        return rows

    def first_answer(self, prober_fd, address, deadline_s=5, on_stall=None):
        """From now: a new connection from the prober pod every PROBE_INTERVAL_MS until one is answered;
        returns the time the answer arrived (ns), or None. `on_stall` is called once after 300 ms without."""
        interval = int(self.interval_ms * 1e6)
        pending = {}
        poller = select.poll()
        next_send = now_ns()
        end = next_send + deadline_s * 10**9
        begun = next_send
        try:
            while now_ns() < end:
                if on_stall and now_ns() - begun > 300 * 10**6:
                    on_stall()
                    on_stall = None
                if now_ns() >= next_send:
                    setns(prober_fd)
                    try:
                        s, _, error = connect_nonblocking(address, PORT)
                    finally:
                        setns(self.node_fd)
                    if error in (0, 111):
                        s.close()
                        return now_ns()
                    if error == 115:
                        pending[s.fileno()] = s
                        poller.register(s.fileno(), select.POLLOUT)
                    else:
                        s.close()
                    next_send += interval
                for fd, _ in poller.poll(max(0, (next_send - now_ns()) / 1e6)):
                    s = pending.pop(fd)
                    poller.unregister(fd)
                    ok, _ = answered(s)
                    s.close()
                    if ok:
                        return now_ns()
            return None
        finally:
            for s in pending.values():
                s.close()

    def adds(self, prober_fd):
        rows = {True: [], False: []}
        for i in range(self.add_rounds):
            for policy in (True, False):
                name = f"target-{'a' if policy else 'b'}{i}"
                self.api.create(f"/api/v1/namespaces/{PROBE_NS}/pods", pod_object(PROBE_NS, name, {"app": "target"}, NODE))
                # As under kubelet, whose sandbox comes long after the Pod (scheduling, image, sync):
                # weftd has the Pod from its watch when the ADD asks.
                self.wait_until(lambda: self.weftd_knows(PROBE_NS, name), 10, f"weftd's watch delivering {name}", interval=0.001)
                pod_ns = self.new_pod_ns()
                listener = self.listener(pod_ns, PORT)
                before_metrics = self.metrics()
                applies = before_metrics.get("weftd_policy_applies_total", 0)
                start = now_ns()
                took, addresses = self.cni_add(pod_ns, PROBE_NS, name, policy)
                stall = []

                def stalled():
                    # Why no answer yet: the prober's neighbour entry for the pod, the pod's for anyone.
                    prober_neigh = subprocess.run(["ip", "-n", self.prober_ns, "neigh", "show", addresses[0]],
                                                  capture_output=True, text=True).stdout.split()
                    pod_neigh = subprocess.run(["ip", "-n", pod_ns, "neigh"], capture_output=True, text=True).stdout.strip()
                    stall.append(f"{prober_neigh[-1] if prober_neigh else 'none'}/{'empty' if not pod_neigh else 'known'}")
                answer = self.first_answer(prober_fd, addresses[0], on_stall=stalled)
                if answer is None:
                    raise RuntimeError(f"no answer from {name} ({addresses[0]}, networkPolicy {policy}) within 5 s")
                if i == 0 and policy:
                    # The verdicts are in before the first packet: the client pod (not the prober) is dropped.
                    if self.first_answer(self.pod_fds[self.client_ns], addresses[0], deadline_s=1.5) is not None:
                        raise RuntimeError(f"{name} ({addresses[0]}) answered the client pod: its policy is not enforced")
                    neigh = subprocess.run(["ip", "-n", self.client_ns, "neigh", "show", addresses[0]], capture_output=True, text=True).stdout
                    if "lladdr" not in neigh:
                        raise RuntimeError(f"the client pod never resolved {addresses[0]}: the isolation check proves nothing ({neigh!r})")
                m = self.metrics()
                rows[policy].append({"add": took * 1000, "first": (answer - start) / 1e6, "after_add": (answer - start) / 1e6 - took * 1000,
                                     "attach": histogram_mean(m, "weftd_policy_attach_duration_seconds", before_metrics) * 1000 if policy else None,
                                     "applies": m.get("weftd_policy_applies_total", 0) - applies, "stall": stall[0] if stall else None})
                self.api.pod_ips(PROBE_NS, name, addresses)  # as kubelet reports it, after the sandbox
                self.stop(listener)
            if (i + 1) % 10 == 0:
                log(f"ADD rounds: {i + 1}/{self.add_rounds}")
        return rows
