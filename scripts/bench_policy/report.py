"""The bench's Markdown tables."""

import statistics

from .stats import histogram_mean, summary


class Report:
    """PolicyNode's report of the measurements."""

    def report(self, quiet, loaded, adds, loaded_metrics, elapsed):
        def col(rows, key):
            return [r[key] for r in rows if r[key] is not None and r[key] == r[key]]

        print()
        print(f"| NetworkPolicy → kernel, {self.rounds} rounds (ms: median / p90 / max) | API call | "
              f"enforced, from the call's return | from the call's start | probe resolution | weftd event → kernel | weftd compile |")
        print("|---|---|---|---|---|---|---|")
        for label, rows in (("quiet node (3 pods, 1 policy)", quiet),
                            (f"{self.policy_count} policies, {self.pod_total} pods", loaded)):
            for action, words in (("create", "create → drop"), ("delete", "delete → allow")):
                r = rows[action]
                print(f"| {label}: {words} | {summary(col(r, 'api'))} | {summary(col(r, 'from_return'))} | "
                      f"{summary(col(r, 'from_call'))} | {summary(col(r, 'resolution'))} | {summary(col(r, 'weftd'))} | "
                      f"{summary(col(r, 'compile'))} |")
        extra = [r["applies"] for rows in (quiet, loaded) for action in rows for r in rows[action]]
        print(f"(probe: a new TCP connection from a client pod to the server pod every {self.interval_ms:g} ms, dropped = no SYN-ACK "
              f"within 100 ms; weftd commits per change: {min(extra):g}–{max(extra):g})")

        a, b = adds[True], adds[False]
        print()
        print(f"| {self.policy_count} policies, {self.pod_total} pods: {self.add_rounds} ADDs each, alternating (ms: median / p90 / max) | "
              f"with networkPolicy | without | with ÷ without (median) |")
        print("|---|---|---|---|")
        ratio = statistics.median(col(a, "add")) / statistics.median(col(b, "add"))
        print(f"| ADD duration | {summary(col(a, 'add'))} | {summary(col(b, 'add'))} | {ratio:.2f}× |")
        first_ratio = statistics.median(col(a, "first")) / statistics.median(col(b, "first"))
        print(f"| ADD start → first answered connection from the prober pod | {summary(col(a, 'first'))} | {summary(col(b, 'first'))} | "
              f"{first_ratio:.2f}× |")
        print(f"| of which after ADD returned | {summary(col(a, 'after_add'))} | {summary(col(b, 'after_add'))} | |")
        print(f"| weftd's attach (socket request → verdicts in the kernel) | {summary(col(a, 'attach'))} | – | |")
        stalls = [r["stall"] for r in a + b if r["stall"]]
        if stalls:
            kinds = {k: stalls.count(k) for k in sorted(set(stalls))}
            print(f"({len(stalls)} of {len(a) + len(b)} first answers took over 300 ms (with networkPolicy {sum(1 for r in a if r['stall'])}, "
                  f"without {sum(1 for r in b if r['stall'])}); at 300 ms the prober's neighbour entry for the pod / the pod's neighbour table: "
                  + ", ".join(f"{k} ×{v}" for k, v in kinds.items()) + ")")
        print(f"(the new pod is selected by a policy allowing the prober on the named port http; without networkPolicy weftd "
              f"does not know the address at ADD, so the pod is open until the API reports it; connections fired every "
              f"{self.interval_ms:g} ms from ADD's return)")
        print()
        print(f"weftd with {loaded_metrics.get('weftd_policies', 0):.0f} policies, {loaded_metrics.get('weftd_policy_pods', 0):.0f} of "
              f"this node's pods selected; mean compile while populating {histogram_mean(loaded_metrics, 'weftd_policy_compile_duration_seconds') * 1000:.1f} ms; "
              f"{self.real_pods} pods wired by ADD, {self.pod_total - self.real_pods} on other nodes; run took {elapsed:.0f} s")
