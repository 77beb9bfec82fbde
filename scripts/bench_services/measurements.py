"""What the bench measures at one number of Services, for one proxy: start → every Service served, the
proxy's CPU time and RSS, first-packet latency and new connections per second through a ClusterIP (and
straight to an endpoint, the floor), then SERVICE_ROUNDS rounds of updates, each seen by the prober."""

import time

from .settings import SERVICE_PORT, TARGET_PORT, log, now_ns
from .stats import histogram_mean
from .workload import (background_ip, delete_service, endpoint_slice, endpoints, probe_ip, service, set_endpoints,
                       SERVICES, SLICES)

CHANGE_SERVICE = "probe-change"
CREATE_SERVICE = "probe-new"


class Measurements:
    """ServicesNode's measurements (with self.api, self.ask, self.answer, the servers)."""

    def change_endpoints(self, open_):
        """The change Service's slice: its first endpoint on an open server (accepted) or on the closed
        one (refused); nine more endpoints listed not ready (in the API object, not in the datapath), so
        every connection shows which way the one changed endpoint points."""
        first = self.servers[0] if open_ else self.closed_server
        return endpoints([first] + self.servers[1:10], ready=[True] + [False] * 9)

    def create_change_service(self):
        self.api.create(SERVICES, service(CHANGE_SERVICE, probe_ip(0)))
        self.api.create(SLICES, endpoint_slice(CHANGE_SERVICE, self.change_endpoints(False)))
        self.change_open = False

    def waited(self, what):
        done = self.answer(what).split()
        if len(done) != 4 or done[1] == "-":
            raise RuntimeError(f"prober: no stable outcome for {what}: {done}")
        return int(done[1]), int(done[2]), int(done[3])

    def ready(self, address, port, state, what):
        # Generous: kube-proxy's first sync of 5,000 Services through iptables-nft took over two minutes
        # on this busy machine.
        line = self.ask(f"wait {address} {port} {state} {self.give_up_s:g}")
        if line != "ready":
            raise RuntimeError(f"prober before {what}: {line}")

    def update(self, proxy, what, address, state, change):
        """One measured change: the prober waits until `address` is not yet in `state`, `change()` makes
        the API calls, the prober reports the first of ten consecutive connections in `state`."""
        proxy.quiet_gap()
        self.ready(address, SERVICE_PORT, state, what)
        before_metrics = proxy.metrics()
        before = now_ns()
        change()
        returned = now_ns()
        first, previous, attempts = self.waited(what)
        time.sleep(0.05)
        m = proxy.metrics()
        return {"what": what, "api": (returned - before) / 1e6, "from_return": (first - returned) / 1e6,
                "from_call": (first - before) / 1e6, "resolution": (first - previous) / 1e6, "attempts": attempts,
                "programming": histogram_mean(m, proxy.programming_metric, before_metrics) * 1000,
                "kernel_messages": proxy.kernel_messages(before_metrics, m)}

    def updates(self, proxy, count):
        """SERVICE_ROUNDS rounds, fewer once SERVICE_BUDGET_S is spent (at least one): a kube-proxy sync at
        5,000 Services takes tens of seconds on a busy machine, and a round is six of them."""
        rows = []
        begun = time.monotonic()
        for r in range(self.rounds):
            if r > 0 and time.monotonic() - begun > self.budget_s:
                log(f"{proxy.name} at {count}: {r} rounds in the budget of {self.budget_s:g} s")
                break
            address = probe_ip(1 + r)
            name = f"{CREATE_SERVICE}-{r}"

            def create():
                self.api.create(SERVICES, service(name, address))
                self.api.create(SLICES, endpoint_slice(name, endpoints(self.servers)))
            rows.append(self.update(proxy, "create", address, "accepted", create))
            rows.append(self.update(proxy, "delete", address, "unserved", lambda: delete_service(self.api, name)))
            for open_ in (not self.change_open, self.change_open):
                rows.append(self.update(proxy, "change", probe_ip(0), "accepted" if open_ else "refused",
                                        lambda: set_endpoints(self.api, CHANGE_SERVICE, self.change_endpoints(open_))))
                self.change_open = open_
        return rows

    def connects(self, addresses, port):
        times = [float(t) for t in self.ask(f"connect {port} {self.first_packets} {','.join(addresses)}").split()[1:]]
        return [t for t in times if t >= 0], sum(1 for t in times if t < 0)

    def rate(self, address, port):
        _, accepted, failed = self.ask(f"rate {address} {port} {self.rate_seconds}").split()
        return int(accepted) / self.rate_seconds, int(failed)

    def settle(self, proxy, quiet=1.0, timeout=120):
        """Until the proxy has used no CPU for `quiet` seconds (its first syncs are through)."""
        pid = proxy.process.pid
        last, since = self.cpu_seconds(pid), time.monotonic()
        deadline = since + timeout
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if proxy.process.poll() is not None:
                raise RuntimeError(f"{proxy.name} exited ({proxy.process.returncode}):\n{self.tail('weftd' if proxy.name == 'weft' else proxy.name)}")
            value = self.cpu_seconds(pid)
            if value - last > 0.011:
                last, since = value, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
        raise TimeoutError(f"{proxy.name} did not settle")

    def measure(self, proxy, count, with_updates):
        """Everything at `count` Services for one proxy; returns the row of numbers."""
        last = background_ip(count - 1)
        row = {"proxy": proxy.name, "services": count}
        # Start: from the spawn to the last Service created answering (served: its whole table is in).
        self.ready(last, SERVICE_PORT, "accepted", f"{proxy.name} start")
        started = now_ns()
        proxy.start()
        first, _, _ = self.waited(f"{proxy.name} serving {count} Services")
        row["start_to_served_s"] = (first - started) / 1e9
        self.settle(proxy)
        pid = proxy.process.pid
        row["cpu_start_s"], row["rss_kib"] = self.cpu_seconds(pid), self.rss_kib(pid)
        row["rules"] = proxy.rule_count()
        spread = [background_ip(i) for i in range(0, count, max(1, count // 20))][:20]
        row["first_packet_us"], row["first_packet_failed"] = self.connects(spread, SERVICE_PORT)
        row["direct_us"], row["direct_failed"] = self.connects(self.servers, TARGET_PORT)
        row["rate"], row["rate_failed"] = self.rate(background_ip(0), SERVICE_PORT)
        row["direct_rate"], _ = self.rate(self.servers[0], TARGET_PORT)
        log(f"{proxy.name} at {count}: served {row['start_to_served_s']:.2f} s after start, RSS {row['rss_kib'] / 1024:.1f} MiB, "
            f"{row['rate']:.0f} connections/s through a ClusterIP")
        if with_updates:
            cpu = self.cpu_seconds(pid)
            row["updates"] = self.updates(proxy, count)
            row["cpu_per_update_ms"] = (self.cpu_seconds(pid) - cpu) * 1000 / len(row["updates"])
        row["rss_after_kib"] = self.rss_kib(pid)
        # Stopped and its rules removed: the ClusterIP that was served is not any more (the negative
        # control of the start above, from the same client).
        self.ready(last, SERVICE_PORT, "unserved", f"{proxy.name} stop")
        proxy.stop()
        self.waited(f"{proxy.name}'s rules gone")
        return row
