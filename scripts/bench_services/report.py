"""The bench's Markdown tables, from the rows the measurements returned."""

from .stats import median, p90, summary
from .settings import ENDPOINTS_PER_SERVICE


def _col(updates, what, key):
    return [u[key] for u in updates if u["what"] == what and u[key] is not None and u[key] == u[key]]


def _fmt(value, digits=1):
    return "–" if value is None or value != value else f"{value:.{digits}f}"


class Report:
    """ServicesNode's report."""

    def report(self, rows, elapsed):
        updated = [r for r in rows if "updates" in r]
        print()
        print(f"| Services ({ENDPOINTS_PER_SERVICE} endpoints each; ms: median / p90 / max) | proxy | rounds | "
              "create Service + slice → served | delete → not served | change one endpoint → served | API calls (create) | "
              "probe resolution | proxy's own programming latency (median) |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in updated:
            u = r["updates"]
            print(f"| {r['services']} | {r['proxy']} | {len(_col(u, 'create', 'api'))} | {summary(_col(u, 'create', 'from_call'))} | "
                  f"{summary(_col(u, 'delete', 'from_call'))} | "
                  f"{summary(_col(u, 'change', 'from_call'))} | {summary(_col(u, 'create', 'api'))} | "
                  f"{summary([x['resolution'] for x in u])} | {_fmt(median([x['programming'] for x in u]))} |")
        print("(each from the first API call's start to the first of ten consecutive new connections with the new outcome, "
              f"one every {self.interval_ms:g} ms from the client namespace; a round: one create, one delete, two endpoint changes "
              f"(there and back); at most SERVICE_ROUNDS={self.rounds}, fewer once SERVICE_BUDGET_S={self.budget_s:g} is spent)")

        print()
        print("| Services | proxy | start → all served (s) | first packet through a ClusterIP (µs: median / p90 / max) | "
              "straight to an endpoint (µs) | new connections/s through one ClusterIP | straight to an endpoint | failed |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            failed = r["first_packet_failed"] + r["direct_failed"] + r["rate_failed"]
            print(f"| {r['services']} | {r['proxy']} | {r['start_to_served_s']:.2f} | {summary(r['first_packet_us'])} | "
                  f"{summary(r['direct_us'])} | {r['rate']:.0f} | {r['direct_rate']:.0f} | {failed} |")
        print(f"({self.first_packets} sequential connects over up to 20 ClusterIPs spread across the Services, and over the "
              f"{len(self.servers)} endpoints; connections/s: one client, one connection at a time, {self.rate_seconds:g} s)")

        print()
        print("| Services | proxy | RSS after start (MiB) | CPU time to start and sync (s) | CPU per update (ms) | "
              "iptables rules | kernel messages of one endpoint change |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            messages = [u["kernel_messages"] for u in r.get("updates", []) if u["what"] == "change" and u["kernel_messages"] is not None]
            kernel = "–" if r["proxy"] == "kube-proxy" else (_fmt(median(messages), 0) if messages else "not published")
            print(f"| {r['services']} | {r['proxy']} | {r['rss_kib'] / 1024:.1f} | {r['cpu_start_s']:.2f} | "
                  f"{_fmt(r.get('cpu_per_update_ms'))} | {r['rules'] if r['rules'] is not None else '–'} | {kernel} |")
        for proxy in sorted({r["proxy"] for r in rows}):
            mine = sorted((r for r in rows if r["proxy"] == proxy), key=lambda r: r["services"])
            if len(mine) >= 2 and mine[-1]["services"] > mine[0]["services"]:
                span = (mine[-1]["services"] - mine[0]["services"]) / 1000
                print(f"({proxy}, per 1,000 Services between {mine[0]['services']} and {mine[-1]['services']}: "
                      f"RSS {(mine[-1]['rss_kib'] - mine[0]['rss_kib']) / 1024 / span:+.1f} MiB, "
                      f"CPU to start {(mine[-1]['cpu_start_s'] - mine[0]['cpu_start_s']) / span:+.2f} s)")
        self.ratios(rows)
        print()
        print(f"run took {elapsed:.0f} s")

    def ratios(self, rows):
        largest = max(r["services"] for r in rows)
        at = {r["proxy"]: r for r in rows if r["services"] == largest}
        if "kube-proxy" not in at or "weft" not in at:
            return
        k, w = at["kube-proxy"], at["weft"]
        if "updates" in k and "updates" in w:
            change = median(_col(k["updates"], "change", "from_call")) / median(_col(w["updates"], "change", "from_call"))
            print(f"(at {largest} Services, kube-proxy ÷ weft: change one endpoint {change:.1f}×, "
                  f"first packet {median(k['first_packet_us']) / median(w['first_packet_us']):.2f}×)")
        smallest = min(r["services"] for r in rows)
        w1 = [r for r in rows if r["proxy"] == "weft" and r["services"] == smallest]
        if w1:
            print(f"(weft first packet at {largest} ÷ at {smallest} Services: "
                  f"{median(w['first_packet_us']) / median(w1[0]['first_packet_us']):.2f}×, p90 "
                  f"{p90(w['first_packet_us']) / p90(w1[0]['first_packet_us']):.2f}×)")
